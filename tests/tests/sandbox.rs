//! Issue 12: the sandbox provider behaves like the Cloud API — signed status webhooks
//! after it accepts a message, and errors, rate limits or late answers on demand.

use conversa_tests::*;
use serde_json::{json, Value};
use std::sync::atomic::Ordering;

const PHONE: &str = "554832817000";

/// An agent starts a conversation with the welcome template; returns its id.
async fn start_with_template(t: &TestStack) -> String {
    let token = t.agent_token().await;
    let (status, body) = t
        .post_json(
            "/v1/conversations",
            &token,
            json!({"phone": PHONE, "template": {"name": "welcome", "language": "pt_BR", "parameters": ["Ana"]}}),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    body["conversation"]["id"].as_str().unwrap().to_owned()
}

async fn provider_fault(t: &TestStack, rule: Value) {
    let r = t
        .http
        .post(t.url("/_dev/provider/faults"))
        .body(rule.to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
}

async fn statuses_of(t: &TestStack) -> Vec<String> {
    t.events_of("message.status")
        .await
        .iter()
        .map(|e| {
            e["detail"]["status"]
                .as_str()
                .unwrap_or_default()
                .to_owned()
        })
        .collect()
}

#[tokio::test]
async fn after_a_send_the_sandbox_posts_signed_sent_delivered_and_read_webhooks() {
    let t = stack().await;
    t.local.status_webhooks.store(true, Ordering::Relaxed);
    t.local.status_delay_ms.store(20, Ordering::Relaxed);
    start_with_template(&t).await;
    t.drain_outbound().await;
    // The three webhooks arrive through the signed webhook route and the inbound queue.
    let mut seen = Vec::new();
    for _ in 0..50 {
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        t.drain_inbound().await;
        seen = statuses_of(&t).await;
        if seen.contains(&"read".to_owned()) {
            break;
        }
    }
    assert_eq!(seen, ["sent", "delivered", "read"], "each once, in order");
}

#[tokio::test]
async fn a_provider_error_code_fails_the_send_for_good() {
    let t = stack().await;
    provider_fault(&t, json!({"phone": PHONE, "error_code": 131026})).await;
    start_with_template(&t).await;
    t.drain_outbound().await;
    let events = t.events_of("message.status").await;
    assert_eq!(events.len(), 1);
    assert_eq!(events[0]["detail"]["status"], "failed");
    assert_eq!(events[0]["detail"]["error_code"], 131026);
    assert!(
        t.local.outbox.lock().await.is_empty(),
        "nothing was accepted"
    );
}

#[tokio::test]
async fn a_server_error_is_retried_later_not_failed() {
    let t = stack().await;
    provider_fault(&t, json!({"status": 500, "times": 1})).await;
    let id = start_with_template(&t).await;
    t.drain_outbound().await;
    assert!(
        t.local.outbox.lock().await.is_empty(),
        "the 500 accepted nothing"
    );
    let rules: Value = t
        .http
        .get(t.url("/_dev/provider/faults"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(rules["rules"][0]["fired"], 1);
    assert!(
        statuses_of(&t).await.is_empty(),
        "not failed: it waits for its retry"
    );
    let token = t.agent_token().await;
    let (_, page) = t
        .get_json(&format!("/v1/conversations/{id}/messages"), &token)
        .await;
    assert_eq!(page["items"][0]["status"], "accepted");
}
