//! A minimal Lambda Runtime API: the documented `/2018-06-01/runtime/...` endpoints a
//! custom runtime (`lambda_runtime`) talks to, serving one runtime process at a time.
//!
//! `GET  /2018-06-01/runtime/invocation/next`           waits for [`RuntimeApi::invoke`]
//! `POST /2018-06-01/runtime/invocation/{id}/response`  the invocation's answer
//! `POST /2018-06-01/runtime/invocation/{id}/error`     the invocation failed
//! `POST /2018-06-01/runtime/init/error`                 the runtime could not start
//!
//! Every instant is taken here, on the server side: when a `next` arrives, when an event
//! is handed over (the `next` answered), when the answer has been read. Accepted sockets
//! get `TCP_NODELAY`, so a small answer on a keep-alive connection is not held back by
//! Nagle's algorithm waiting for a delayed ACK (which would add ~40 ms to warm invokes).

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::serve::ListenerExt;
use axum::Router;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::{mpsc, oneshot, Mutex};

const NEXT: &str = "/2018-06-01/runtime/invocation/next";
const RESPONSE: &str = "/2018-06-01/runtime/invocation/{id}/response";
const ERROR: &str = "/2018-06-01/runtime/invocation/{id}/error";
const INIT_ERROR: &str = "/2018-06-01/runtime/init/error";

/// How an invocation (or the init) ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutcomeKind {
    Response,
    Error,
    InitError,
}

/// What came from the runtime while the harness waited for its `next`.
#[derive(Debug)]
pub enum Polled {
    Next(Instant),
    InitError(Outcome),
    Closed,
}

/// What the runtime posted, and when.
#[derive(Debug, Clone)]
pub struct Outcome {
    pub kind: OutcomeKind,
    pub body: Bytes,
    /// The `Lambda-Runtime-Function-Error-Type` header of an error.
    pub error_type: Option<String>,
    /// When the event was handed over (the runtime's `next` answered with it).
    pub handed_at: Option<Instant>,
    /// When the answer had been read.
    pub at: Instant,
}

impl Outcome {
    /// Event handed over → answer read.
    pub fn duration(&self) -> Option<Duration> {
        self.handed_at.map(|h| self.at.saturating_duration_since(h))
    }

    pub fn json(&self) -> Option<serde_json::Value> {
        serde_json::from_slice(&self.body).ok()
    }
}

struct Invocation {
    id: String,
    payload: Vec<u8>,
    reply: oneshot::Sender<Outcome>,
}

struct Shared {
    function_arn: String,
    polls: mpsc::UnboundedSender<Instant>,
    queue: Mutex<mpsc::UnboundedReceiver<Invocation>>,
    pending: std::sync::Mutex<HashMap<String, (Instant, oneshot::Sender<Outcome>)>>,
    init_errors: mpsc::UnboundedSender<Outcome>,
}

/// One Runtime API server on 127.0.0.1 (a free port). Dropping it stops the server.
pub struct RuntimeApi {
    pub addr: SocketAddr,
    polls: mpsc::UnboundedReceiver<Instant>,
    init_errors: mpsc::UnboundedReceiver<Outcome>,
    queue: mpsc::UnboundedSender<Invocation>,
    task: tokio::task::JoinHandle<()>,
    sequence: u64,
}

impl RuntimeApi {
    /// Starts a server; `function_arn` is what the runtime is told it runs as.
    pub async fn start(function_arn: &str) -> std::io::Result<Self> {
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0)).await?;
        let addr = listener.local_addr()?;
        let (polls_tx, polls) = mpsc::unbounded_channel();
        let (queue, queue_rx) = mpsc::unbounded_channel();
        let (init_tx, init_errors) = mpsc::unbounded_channel();
        let shared = Arc::new(Shared {
            function_arn: function_arn.to_owned(),
            polls: polls_tx,
            queue: Mutex::new(queue_rx),
            pending: std::sync::Mutex::new(HashMap::new()),
            init_errors: init_tx,
        });
        let app = Router::new()
            .route(NEXT, get(next))
            .route(RESPONSE, post(response))
            .route(ERROR, post(error))
            .route(INIT_ERROR, post(init_error))
            .with_state(shared);
        let listener = listener.tap_io(|tcp| {
            let _ = tcp.set_nodelay(true);
        });
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Ok(Self {
            addr,
            polls,
            init_errors,
            queue,
            task,
            sequence: 0,
        })
    }

    /// The value of `AWS_LAMBDA_RUNTIME_API`.
    pub fn host_port(&self) -> String {
        self.addr.to_string()
    }

    /// Waits for the runtime's next `GET .../invocation/next` (the instant it arrived),
    /// or for its `POST .../init/error`.
    pub async fn next_poll(&mut self) -> Polled {
        tokio::select! {
            polled = self.polls.recv() => polled.map_or(Polled::Closed, Polled::Next),
            init = self.init_errors.recv() => init.map_or(Polled::Closed, Polled::InitError),
        }
    }

    /// Queues an event for the runtime's `next`; the receiver gets its outcome.
    pub fn invoke(&mut self, payload: Vec<u8>) -> oneshot::Receiver<Outcome> {
        self.sequence += 1;
        let id = format!("coldstart-{:08}-{}", self.sequence, ulid::Ulid::new());
        let (reply, outcome) = oneshot::channel();
        let _ = self.queue.send(Invocation { id, payload, reply });
        outcome
    }
}

impl Drop for RuntimeApi {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn next(State(s): State<Arc<Shared>>) -> Response {
    let _ = s.polls.send(Instant::now());
    let Some(inv) = s.queue.lock().await.recv().await else {
        return StatusCode::GONE.into_response();
    };
    let deadline = chrono::Utc::now().timestamp_millis() + 30_000;
    let mut headers = HeaderMap::new();
    let mut set = |name: &'static str, value: &str| {
        if let Ok(v) = HeaderValue::from_str(value) {
            headers.insert(name, v);
        }
    };
    set("lambda-runtime-aws-request-id", &inv.id);
    set("lambda-runtime-deadline-ms", &deadline.to_string());
    set("lambda-runtime-invoked-function-arn", &s.function_arn);
    set(
        "lambda-runtime-trace-id",
        "Root=1-00000000-000000000000000000000000;Parent=0000000000000000;Sampled=0",
    );
    set("content-type", "application/json");
    let handed_at = Instant::now();
    if let Ok(mut pending) = s.pending.lock() {
        pending.insert(inv.id, (handed_at, inv.reply));
    }
    (StatusCode::OK, headers, inv.payload).into_response()
}

fn complete(s: &Shared, id: &str, kind: OutcomeKind, headers: &HeaderMap, body: Bytes) -> Response {
    let at = Instant::now();
    let entry = s.pending.lock().ok().and_then(|mut p| p.remove(id));
    let Some((handed_at, reply)) = entry else {
        return (StatusCode::BAD_REQUEST, "unknown request id").into_response();
    };
    let _ = reply.send(Outcome {
        kind,
        body,
        error_type: error_type(headers),
        handed_at: Some(handed_at),
        at,
    });
    StatusCode::ACCEPTED.into_response()
}

fn error_type(headers: &HeaderMap) -> Option<String> {
    headers
        .get("lambda-runtime-function-error-type")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
}

async fn response(
    State(s): State<Arc<Shared>>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    complete(&s, &id, OutcomeKind::Response, &headers, body)
}

async fn error(
    State(s): State<Arc<Shared>>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    complete(&s, &id, OutcomeKind::Error, &headers, body)
}

async fn init_error(State(s): State<Arc<Shared>>, headers: HeaderMap, body: Bytes) -> Response {
    let _ = s.init_errors.send(Outcome {
        kind: OutcomeKind::InitError,
        body,
        error_type: error_type(&headers),
        handed_at: None,
        at: Instant::now(),
    });
    StatusCode::ACCEPTED.into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A fake runtime: next → echo the payload back as the response, twice; then an
    /// invocation it reports as failed.
    #[tokio::test]
    async fn the_api_hands_events_to_a_runtime_and_receives_its_answers() {
        let mut api = RuntimeApi::start("arn:aws:lambda:us-east-1:123456789012:function:t")
            .await
            .unwrap();
        let base = format!("http://{}", api.host_port());
        conversa::aws::install_tls_provider();
        let client = reqwest::Client::new();
        let runtime = tokio::spawn(async move {
            for i in 0..3 {
                let next = client.get(format!("{base}{NEXT}")).send().await.unwrap();
                assert_eq!(next.status(), 200);
                let id = next.headers()["lambda-runtime-aws-request-id"]
                    .to_str()
                    .unwrap()
                    .to_owned();
                let deadline: i64 = next.headers()["lambda-runtime-deadline-ms"]
                    .to_str()
                    .unwrap()
                    .parse()
                    .unwrap();
                assert!(deadline > chrono::Utc::now().timestamp_millis());
                assert!(next
                    .headers()
                    .contains_key("lambda-runtime-invoked-function-arn"));
                let payload = next.bytes().await.unwrap();
                let (path, kind) = if i < 2 {
                    ("response", None)
                } else {
                    ("error", Some("Handled"))
                };
                let mut post = client
                    .post(format!("{base}/2018-06-01/runtime/invocation/{id}/{path}"))
                    .body(payload);
                if let Some(kind) = kind {
                    post = post.header("lambda-runtime-function-error-type", kind);
                }
                assert_eq!(post.send().await.unwrap().status(), 202);
            }
            let init = client
                .post(format!("{base}{INIT_ERROR}"))
                .header("lambda-runtime-function-error-type", "Runtime.InitError")
                .body(r#"{"errorType":"x","errorMessage":"y"}"#)
                .send()
                .await
                .unwrap();
            assert_eq!(init.status(), 202);
        });

        for i in 0..3 {
            let Polled::Next(polled) = api.next_poll().await else {
                panic!("no next");
            };
            let outcome = api
                .invoke(format!(r#"{{"n":{i}}}"#).into_bytes())
                .await
                .unwrap();
            assert!(outcome.handed_at.unwrap() >= polled);
            assert!(outcome.duration().is_some());
            assert_eq!(outcome.json().unwrap()["n"], i);
            if i < 2 {
                assert_eq!(outcome.kind, OutcomeKind::Response);
            } else {
                assert_eq!(outcome.kind, OutcomeKind::Error);
                assert_eq!(outcome.error_type.as_deref(), Some("Handled"));
            }
        }
        let Polled::InitError(init) = api.next_poll().await else {
            panic!("no init error");
        };
        assert_eq!(init.kind, OutcomeKind::InitError);
        assert_eq!(init.error_type.as_deref(), Some("Runtime.InitError"));
        runtime.await.unwrap();
    }

    #[tokio::test]
    async fn an_unknown_request_id_is_refused() {
        let api = RuntimeApi::start("arn").await.unwrap();
        conversa::aws::install_tls_provider();
        let status = reqwest::Client::new()
            .post(format!(
                "http://{}/2018-06-01/runtime/invocation/nope/response",
                api.host_port()
            ))
            .body("{}")
            .send()
            .await
            .unwrap()
            .status();
        assert_eq!(status, 400);
    }
}
