//! Issue 17, point 3: business and health metrics as CloudWatch Embedded Metric Format
//! lines. A real conversation runs through the local stack — a contact writes, an agent
//! captures and replies, the provider delivers, the agent closes — and the EMF documents
//! the functions wrote are parsed and checked against the dashboard's contract
//! (docs/metrics.md). Durations are only checked against what the development clock was
//! moved by.

use conversa::ports::store::*;
use conversa_tests::*;
use serde_json::{json, Value};

const CONTACT: &str = "5548999990017";

/// Each metric's unit and its one dimension: the contract with the dashboard.
const CONTRACT: [(&str, &str, Option<&str>); 8] = [
    ("MessagesReceived", "Count", Some("ChannelId")),
    ("MessagesSent", "Count", Some("ChannelId")),
    ("SendsFailed", "Count", Some("ErrorCode")),
    ("DeliveryLatency", "Milliseconds", Some("ChannelId")),
    ("QueueWaitAtCapture", "Milliseconds", Some("Queue")),
    ("Handoffs", "Count", Some("Outcome")),
    ("ConversationsClosed", "Count", Some("Reason")),
    ("CampaignRecipientsDispatched", "Count", None),
];

/// The namespace the stack's functions were given (`METRICS_NAMESPACE`, else `conversa`).
fn namespace(t: &TestStack) -> String {
    t.local
        .stack
        .functions
        .iter()
        .find(|f| f.binary == "event-relay")
        .and_then(|f| f.environment.get("METRICS_NAMESPACE").cloned())
        .unwrap_or_else(|| "conversa".into())
}

/// Every metric line written so far, each checked as an EMF document of the contract:
/// `(metric, dimension value, values)`.
async fn documents(t: &TestStack) -> Vec<(String, String, Vec<i64>)> {
    t.relay().await;
    let lines = t.local.metrics.lines();
    assert!(!lines.is_empty(), "no metric lines");
    let namespace = namespace(t);
    lines
        .iter()
        .map(|line| {
            let doc: Value = serde_json::from_str(line).expect("a line is one JSON object");
            let aws = &doc["_aws"];
            assert!(aws["Timestamp"].as_i64().is_some_and(|t| t > 0), "{doc}");
            let directives = aws["CloudWatchMetrics"].as_array().expect("directives");
            assert_eq!(directives.len(), 1, "{doc}");
            let d = &directives[0];
            assert_eq!(d["Namespace"], json!(namespace), "{doc}");
            let definitions = d["Metrics"].as_array().expect("definitions");
            assert_eq!(definitions.len(), 1, "{doc}");
            let name = definitions[0]["Name"].as_str().expect("name").to_owned();
            let (_, unit, dimension) = CONTRACT
                .iter()
                .find(|(n, ..)| *n == name)
                .unwrap_or_else(|| panic!("{name} is not in the contract"));
            assert_eq!(definitions[0]["Unit"], json!(unit), "{doc}");
            let keys: Vec<&str> = dimension.iter().copied().collect();
            assert_eq!(d["Dimensions"], json!([keys]), "{doc}");
            let dimension_value = dimension
                .map(|k| {
                    doc[k]
                        .as_str()
                        .expect("a dimension value is a string")
                        .to_owned()
                })
                .unwrap_or_default();
            let values: Vec<i64> = match &doc[&name] {
                Value::Array(vs) => vs.iter().filter_map(Value::as_i64).collect(),
                v => v.as_i64().into_iter().collect(),
            };
            assert!(!values.is_empty(), "{doc}");
            (name, dimension_value, values)
        })
        .collect()
}

fn values_of(docs: &[(String, String, Vec<i64>)], metric: &str, dimension: &str) -> Vec<i64> {
    docs.iter()
        .filter(|(m, d, _)| m == metric && d == dimension)
        .flat_map(|(_, _, v)| v.iter().copied())
        .collect()
}

fn total(docs: &[(String, String, Vec<i64>)], metric: &str, dimension: &str) -> i64 {
    values_of(docs, metric, dimension).iter().sum()
}

/// The contact writes and the agent captures its conversation `wait` seconds later.
async fn captured_after(t: &TestStack, wait: i64) -> (String, String) {
    t.contact_sends(CONTACT, json!({"type": "text", "text": {"body": "oi"}}))
        .await;
    let id = t
        .open_conversation_of(CONTACT)
        .await
        .expect("conversation")
        .id;
    t.advance_clock(wait).await;
    let token = t.agent_token().await;
    let (status, body) = t.op(&token, &id, "capture", json!({})).await;
    assert_eq!(status, 200, "{body}");
    (id, token)
}

async fn reply(t: &TestStack, token: &str, id: &str) {
    let (status, body) = t
        .post_json(
            &format!("/v1/conversations/{id}/messages"),
            token,
            json!({"text": "Olá, como posso ajudar?"}),
        )
        .await;
    assert!(
        status == 200 || status == 201 || status == 202,
        "{status} {body}"
    );
    t.drain_outbound().await;
}

#[tokio::test]
async fn a_conversation_from_first_message_to_close_is_measured_in_emf() {
    let t = stack().await;
    let (id, token) = captured_after(&t, 42).await;
    reply(&t, &token, &id).await;
    let sent = t
        .store()
        .messages(&id, None, 50)
        .await
        .expect("messages")
        .items
        .into_iter()
        .find(|m| m.provider_id.is_some())
        .expect("the reply was accepted");
    let wamid = sent.provider_id.clone().unwrap_or_default();
    // The provider says it was delivered 5 seconds (by the development clock) later.
    t.advance_clock(5).await;
    let body = webhook_body(
        SAMPLE_CHANNEL_ID,
        json!([]),
        json!([{"id": wamid, "status": "delivered", "timestamp": t.now_secs().to_string(),
                "recipient_id": CONTACT}]),
    );
    assert_eq!(t.post_webhook(&body).await.status(), 200);
    t.drain_inbound().await;
    let (status, body) = t.op(&token, &id, "close", json!({})).await;
    assert_eq!(status, 200, "{body}");

    let docs = documents(&t).await;
    assert_eq!(total(&docs, "MessagesReceived", SAMPLE_CHANNEL_ID), 1);
    let waits = values_of(&docs, "QueueWaitAtCapture", "support");
    assert_eq!(waits.len(), 1, "{docs:?}");
    assert!(
        waits[0] >= 42_000,
        "waited at least the 42 s the clock moved: {waits:?}"
    );
    assert_eq!(
        total(&docs, "MessagesSent", SAMPLE_CHANNEL_ID),
        1,
        "{docs:?}"
    );
    let latencies = values_of(&docs, "DeliveryLatency", SAMPLE_CHANNEL_ID);
    assert_eq!(latencies.len(), 1, "{docs:?}");
    assert!(latencies[0] >= 5_000, "{latencies:?}");
    assert_eq!(total(&docs, "ConversationsClosed", "agent_closed"), 1);
    for absent in ["SendsFailed", "Handoffs", "CampaignRecipientsDispatched"] {
        assert!(
            docs.iter().all(|(m, ..)| m != absent),
            "nothing made {absent}: {docs:?}"
        );
    }
    // One document per metric and dimension value per invocation, each fact once.
    assert_eq!(docs.len(), 5, "{docs:?}");
}

#[tokio::test]
async fn a_send_the_provider_refuses_counts_as_failed_by_its_error_code() {
    let t = stack().await;
    let r = t
        .http
        .post(t.url("/_dev/provider/faults"))
        .json(&json!({"phone": CONTACT, "status": 400, "error_code": 131026, "times": 1}))
        .send()
        .await
        .expect("fault");
    assert_eq!(r.status(), 201);
    let (id, token) = captured_after(&t, 1).await;
    reply(&t, &token, &id).await;

    let docs = documents(&t).await;
    assert_eq!(total(&docs, "SendsFailed", "131026"), 1, "{docs:?}");
    assert!(
        docs.iter().all(|(m, ..)| m != "MessagesSent"),
        "the refused send was not sent: {docs:?}"
    );
}
