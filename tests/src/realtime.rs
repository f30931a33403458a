//! Helpers of the real-time tests: WebSocket clients of the local stack, agents online,
//! and letting the bus's functions (assigner, notifier) catch up.

use crate::TestStack;
use futures::StreamExt;
use serde_json::{json, Value};
use std::time::Duration;
use tokio_tungstenite::{connect_async, tungstenite::Message, MaybeTlsStream, WebSocketStream};

pub struct Socket {
    stream: WebSocketStream<MaybeTlsStream<tokio::net::TcpStream>>,
}

impl Socket {
    /// The frames received within `wait`, as JSON.
    pub async fn frames(&mut self, wait: Duration) -> Vec<Value> {
        let mut out = Vec::new();
        let deadline = tokio::time::Instant::now() + wait;
        while let Ok(Some(Ok(m))) = tokio::time::timeout_at(deadline, self.stream.next()).await {
            if let Message::Text(t) = m {
                if let Ok(v) = serde_json::from_str(t.as_str()) {
                    out.push(v);
                }
            }
        }
        out
    }

    pub async fn close(mut self) {
        let _ = self.stream.close(None).await;
        // Let the server see the close and run `$disconnect`.
        while let Ok(Some(_)) =
            tokio::time::timeout(Duration::from_millis(500), self.stream.next()).await
        {}
    }
}

/// The kinds of a list of frames.
pub fn kinds(frames: &[Value]) -> Vec<String> {
    frames
        .iter()
        .filter_map(|f| f["detail-type"].as_str().map(str::to_owned))
        .collect()
}

impl TestStack {
    fn ws_url(&self, token: &str) -> String {
        format!(
            "{}/ws?token={token}",
            self.base_url.replacen("http://", "ws://", 1)
        )
    }

    /// Opens the push connection; the handshake's status when it is refused.
    pub async fn try_connect(&self, token: &str) -> Result<Socket, u16> {
        match connect_async(self.ws_url(token)).await {
            Ok((stream, _)) => Ok(Socket { stream }),
            Err(tokio_tungstenite::tungstenite::Error::Http(r)) => Err(r.status().as_u16()),
            Err(e) => panic!("websocket: {e}"),
        }
    }

    pub async fn connect(&self, token: &str) -> Socket {
        self.try_connect(token).await.expect("websocket accepted")
    }

    /// A supervisor registers an agent of these queues with this limit.
    pub async fn register_agent(&self, sub: &str, queues: &[&str], max: Option<u32>) {
        let boss = self.token("boss", "supervisor", &[]).await;
        let mut body = json!({"name": sub, "queues": queues});
        if let Some(m) = max {
            body["max_concurrent"] = json!(m);
        }
        let r = self
            .http
            .put(self.url(&format!("/v1/agents/{sub}")))
            .bearer_auth(boss)
            .json(&body)
            .send()
            .await
            .expect("put agent");
        assert!(r.status().is_success(), "register {sub}: {}", r.status());
    }

    /// The agent's status (`PUT /v1/agents/me/status`).
    pub async fn set_status(&self, token: &str, status: &str) -> (u16, Value) {
        let r = self
            .http
            .put(self.url("/v1/agents/me/status"))
            .bearer_auth(token)
            .json(&json!({ "status": status }))
            .send()
            .await
            .expect("status");
        let code = r.status().as_u16();
        (code, r.json().await.unwrap_or(Value::Null))
    }

    /// A registered agent, connected and available: its token and socket.
    pub async fn online_agent(
        &self,
        sub: &str,
        queues: &[&str],
        max: Option<u32>,
    ) -> (String, Socket) {
        self.register_agent(sub, queues, max).await;
        let token = self.token(sub, "agent", queues).await;
        let socket = self.connect(&token).await;
        assert_eq!(self.set_status(&token, "available").await.0, 200);
        (token, socket)
    }

    /// Sets a queue's settings as a supervisor.
    pub async fn put_queue(&self, id: &str, body: Value) -> (u16, Value) {
        let boss = self.token("boss", "supervisor", &[]).await;
        let r = self
            .http
            .put(self.url(&format!("/v1/queues/{id}")))
            .bearer_auth(boss)
            .json(&body)
            .send()
            .await
            .expect("put queue");
        let code = r.status().as_u16();
        (code, r.json().await.unwrap_or(Value::Null))
    }

    /// Lets everything committed reach the bus and the bus's functions (assigner,
    /// notifier) run, until nothing moves.
    pub async fn settle(&self) {
        let runtime = &self.local.runtime;
        let functions = ["AssignerFunction", "NotifierFunction"];
        let mut idle = 0;
        while idle < 2 {
            runtime.drain_streams().await;
            let mut moved = 0;
            for f in functions {
                if let Some(p) = runtime.poller(f) {
                    moved += runtime.poll_once(p, 0).await.unwrap_or(0);
                }
            }
            idle = if moved == 0 { idle + 1 } else { 0 };
        }
    }

    /// An agent's record as the API shows it.
    pub async fn agent_view(&self, sub: &str) -> Value {
        let boss = self.token("boss", "supervisor", &[]).await;
        let (_, list) = self.get_json("/v1/agents", &boss).await;
        list["items"]
            .as_array()
            .and_then(|a| a.iter().find(|x| x["sub"] == sub).cloned())
            .unwrap_or(Value::Null)
    }
}
