//! Campaign helpers shared by the campaign test binaries: create one, run the stack
//! until it ends, read what the sandbox provider received.

use crate::{TestStack, SAMPLE_CHANNEL_ID};
use serde_json::{json, Value};
use std::time::{Duration, Instant};

pub async fn supervisor(t: &TestStack) -> String {
    t.token("boss", "supervisor", &["support", "sales"]).await
}

pub async fn create(t: &TestStack, token: &str, extra: Value) -> String {
    let mut body = json!({
        "name": "Black Friday",
        "channel": SAMPLE_CHANNEL_ID,
        "template": {"name": "welcome", "language": "pt_BR"},
        "target": {"queue": "sales"},
    });
    if let (Some(b), Some(e)) = (body.as_object_mut(), extra.as_object()) {
        b.extend(e.clone());
    }
    let (status, c) = t.post_json("/v1/campaigns", token, body).await;
    assert_eq!(status, 201, "{c}");
    assert_eq!(c["status"], "draft");
    c["id"].as_str().unwrap().to_owned()
}

/// Adds recipients (`{"recipients": [...]}`) to a draft campaign.
pub async fn add_recipients(t: &TestStack, token: &str, id: &str, body: Value) -> Value {
    let (status, added) = t
        .post_json(&format!("/v1/campaigns/{id}/recipients"), token, body)
        .await;
    assert_eq!(status, 200, "{added}");
    added
}

/// Starts a campaign (now, or at its schedule).
pub async fn start(t: &TestStack, token: &str, id: &str) -> Value {
    let (status, c) = t
        .post_json(&format!("/v1/campaigns/{id}/start"), token, json!({}))
        .await;
    assert_eq!(status, 200, "{c}");
    c
}

/// Runs the stack until the campaign leaves `sending` (the timers function dispatches a
/// page a second; `hsm-send` sends), or the deadline.
pub async fn run(t: &TestStack, token: &str, id: &str) -> Value {
    let timers = t.local.runtime.poller("HandoffTimeoutFunction").unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        t.relay().await;
        let _ = t.local.runtime.poll_once(timers, 0).await;
        t.drain_outbound().await;
        let (_, c) = t.get_json(&format!("/v1/campaigns/{id}"), token).await;
        if !matches!(c["status"].as_str(), Some("sending" | "scheduled")) {
            t.relay().await;
            return c;
        }
        assert!(Instant::now() < deadline, "the campaign did not end: {c}");
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
}

pub async fn outbox(t: &TestStack) -> Vec<Value> {
    let v: Value = t
        .http
        .get(t.url("/_dev/outbox"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    v["messages"].as_array().cloned().unwrap_or_default()
}

/// Sends of the sandbox's outbox as (epoch ms, recipient), template sends only.
pub async fn template_sends(t: &TestStack) -> Vec<(i64, String)> {
    outbox(t)
        .await
        .iter()
        .filter(|m| m["request"]["type"] == "template")
        .map(|m| {
            (
                m["at"].as_i64().unwrap(),
                m["request"]["to"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}
