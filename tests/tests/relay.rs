//! Issue 12: the transactional outbox. A change and its events commit together; the
//! relay carries them out from the table's stream, retries from the record that failed,
//! and hands what it cannot carry out to its dead-letter queue, never losing a fact.

use conversa_tests::*;
use serde_json::json;

const CONTACT: &str = "5548999990000";

async fn captured_conversation(t: &TestStack) -> (String, String) {
    t.contact_sends(CONTACT, json!({"type": "text", "text": {"body": "oi"}}))
        .await;
    let id = t.open_conversation_of(CONTACT).await.unwrap().id;
    let token = t.agent_token().await;
    let (status, body) = t
        .post_json(
            &format!("/v1/conversations/{id}/capture"),
            &token,
            json!({}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    (id, token)
}

#[tokio::test]
async fn an_event_is_published_only_when_its_change_commits() {
    let t = stack().await;
    let (id, token) = captured_conversation(&t).await;
    // Every attempt of the close's transaction fails: nothing changes, nothing is told.
    t.inject_fault(
        json!({"service": "dynamodb", "operation": "TransactWriteItems",
                          "error": "InternalServerError", "nth": 1, "times": 3}),
    )
    .await;
    let (status, _) = t
        .post_json(&format!("/v1/conversations/{id}/close"), &token, json!({}))
        .await;
    assert_eq!(status, 503);
    assert!(t.store_conversation(&id).await.state.is_open());
    assert!(t.events_of("conversation.closed").await.is_empty());
    // The retry commits, and the event goes out once.
    let (status, _) = t
        .post_json(&format!("/v1/conversations/{id}/close"), &token, json!({}))
        .await;
    assert_eq!(status, 200);
    let closed = t.events_of("conversation.closed").await;
    assert_eq!(closed.len(), 1);
}

#[tokio::test]
async fn a_bus_outage_delays_the_events_of_committed_changes_and_loses_none() {
    let t = stack().await;
    let (id, token) = captured_conversation(&t).await;
    t.events_of("conversation.assigned").await;
    // The bus refuses everything for a while.
    t.inject_fault(json!({"service": "events", "operation": "PutEvents",
                          "error": "ServiceUnavailable", "nth": 1, "times": 6}))
        .await;
    for op in ["hold", "resume"] {
        let (status, body) = t
            .post_json(&format!("/v1/conversations/{id}/{op}"), &token, json!({}))
            .await;
        assert_eq!(status, 200, "the change stands: {body}");
    }
    // Two relay attempts fail (three SDK attempts each); the third carries them out.
    let updates = t.events_of("conversation.updated").await;
    let ids: Vec<&str> = updates
        .iter()
        .map(|e| e["detail"]["event_id"].as_str().unwrap())
        .collect();
    assert_eq!(ids.len(), 2, "{ids:?}");
    assert!(
        ids[0].ends_with("/hold") && ids[1].ends_with("/resume"),
        "in order"
    );
}

#[tokio::test]
async fn what_the_relay_cannot_carry_out_after_its_retries_goes_to_its_dead_letter_queue() {
    let t = stack().await;
    let (id, token) = captured_conversation(&t).await;
    t.relay().await;
    t.inject_fault(json!({"service": "events", "operation": "PutEvents",
                          "error": "ServiceUnavailable"}))
        .await;
    let (status, _) = t
        .post_json(&format!("/v1/conversations/{id}/hold"), &token, json!({}))
        .await;
    assert_eq!(status, 200);
    t.relay().await;
    let dead = t.peek(&t.queue_url("RelayDeadLetterQueue")).await;
    assert_eq!(
        dead.len(),
        1,
        "the batch's place in the stream, for a replay"
    );
    let info: serde_json::Value = serde_json::from_str(dead[0].body().unwrap()).unwrap();
    assert_eq!(info["DDBStreamBatchInfo"]["batchSize"], 1);
    assert!(info["DDBStreamBatchInfo"]["startSequenceNumber"].is_string());
}

#[tokio::test]
async fn an_accepted_message_always_reaches_the_send_queue() {
    let t = stack().await;
    let (id, token) = captured_conversation(&t).await;
    t.relay().await;
    // The send queue is down when the agent sends: the message and its send are
    // committed together all the same.
    t.inject_fault(json!({"service": "sqs", "operation": "SendMessageBatch",
                          "error": "ServiceUnavailable", "nth": 1, "times": 3}))
        .await;
    let (status, body) = t
        .post_json(
            &format!("/v1/conversations/{id}/messages"),
            &token,
            json!({"text": "chega sempre"}),
        )
        .await;
    assert_eq!(status, 202, "{body}");
    // The relay's first attempt fails; its retry queues the send, which goes out once.
    t.drain_outbound().await;
    let outbox = t.local.outbox.lock().await.clone();
    let sent: Vec<_> = outbox
        .iter()
        .filter(|m| m["request"]["text"]["body"] == "chega sempre")
        .collect();
    assert_eq!(sent.len(), 1, "{outbox:?}");
}
