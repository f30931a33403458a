//! AWS calls per inbound text message, counted by the emulator (one test per binary, so
//! nothing else runs against this emulator while it counts).

use conversa::ports::store::*;
use conversa_tests::*;
use serde_json::json;
use std::collections::BTreeMap;

fn calls(pairs: &[(&str, u64)]) -> BTreeMap<String, u64> {
    pairs.iter().map(|(k, v)| ((*k).to_owned(), *v)).collect()
}

#[tokio::test]
async fn aws_calls_per_inbound_text_message() {
    let t = stack().await;
    let contact = "5548999990000";

    // First message: opens the conversation.
    reset_emulator_calls().await;
    let body = webhook_body(
        SAMPLE_CHANNEL_ID,
        json!([text_message(contact, "wamid.N1", "oi")]),
        json!([]),
    );
    assert_eq!(t.post_webhook(&body).await.status(), 200);
    assert_eq!(
        function_calls(emulator_calls().await),
        calls(&[("AmazonSQS.SendMessageBatch", 1)]),
        "webhook"
    );
    reset_emulator_calls().await;
    t.drain_inbound().await;
    assert_eq!(
        function_calls(emulator_calls().await),
        calls(&[
            ("DynamoDB_20120810.GetItem", 2),
            ("DynamoDB_20120810.TransactWriteItems", 1),
        ]),
        "inbound, new conversation: the message, its conversation, window and events at once"
    );
    reset_emulator_calls().await;
    t.relay().await;
    assert_eq!(
        function_calls(emulator_calls().await),
        calls(&[("AWSEvents.PutEvents", 1)]),
        "event-relay: conversation.opened and message.received in one call"
    );

    // Next message: appends to the open conversation.
    let body = webhook_body(
        SAMPLE_CHANNEL_ID,
        json!([text_message(contact, "wamid.N2", "tudo bem?")]),
        json!([]),
    );
    t.post_webhook(&body).await;
    reset_emulator_calls().await;
    t.drain_inbound().await;
    assert_eq!(
        function_calls(emulator_calls().await),
        calls(&[
            ("DynamoDB_20120810.GetItem", 3),
            ("DynamoDB_20120810.TransactWriteItems", 1),
        ]),
        "inbound, open conversation"
    );

    // An agent's free-form reply: the API accepts it, hsm-send delivers it (sandbox).
    t.contact_writes(contact, "wamid.N3", t.now_secs()).await;
    let token = t.agent_token().await;
    let id = t
        .store()
        .contact(SAMPLE_CHANNEL_ID, contact)
        .await
        .unwrap()
        .unwrap()
        .open_conversation_id
        .unwrap();
    t.post_json(
        &format!("/v1/conversations/{id}/capture"),
        &token,
        json!({}),
    )
    .await;
    t.relay().await;
    reset_emulator_calls().await;
    let (status, _) = t
        .post_json(
            &format!("/v1/conversations/{id}/messages"),
            &token,
            json!({"text": "Olá!"}),
        )
        .await;
    assert_eq!(status, 202);
    assert_eq!(
        function_calls(emulator_calls().await),
        calls(&[
            ("DynamoDB_20120810.GetItem", 3),
            ("DynamoDB_20120810.TransactWriteItems", 1),
        ]),
        "agent-api, free-form send: the message and its send commit together"
    );
    reset_emulator_calls().await;
    t.relay().await;
    assert_eq!(
        function_calls(emulator_calls().await),
        calls(&[("AmazonSQS.SendMessageBatch", 1)]),
        "event-relay: the send to outbound.fifo"
    );
    reset_emulator_calls().await;
    t.drain_outbound().await;
    assert_eq!(
        function_calls(emulator_calls().await),
        calls(&[
            ("AmazonSSM.GetParameters", 1),
            ("DynamoDB_20120810.GetItem", 3),
            ("DynamoDB_20120810.TransactWriteItems", 1),
            ("DynamoDB_20120810.UpdateItem", 3),
        ]),
        "hsm-send, first send of a cold start (the token is then cached); \
         the sent status commits with its event"
    );

    // With the assistant and a handoff inactivity timeout: the contact's next message
    // costs no scheduling call (the armed timer re-arms itself when it fires early).
    let (status, _) = t
        .set_settings(json!({
            "routing": {"mode": "assistant", "to": "assistant", "assistant": "bot", "backup_queue": "support"},
            "handoff": {"inactivity_timeout_seconds": 600}
        }))
        .await;
    assert_eq!(status, 200);
    let other = "5548999990077";
    t.contact_sends(other, json!({"type": "text", "text": {"body": "oi"}}))
        .await;
    let bot = t.token("bot", "assistant", &[]).await;
    let id = t.open_conversation_of(other).await.unwrap().id;
    let (status, _) = t
        .post_json(
            &format!("/v1/conversations/{id}/handoff"),
            &bot,
            json!({"queue": "support"}),
        )
        .await;
    assert_eq!(status, 200);
    reset_emulator_calls().await;
    t.contact_sends(
        other,
        json!({"type": "text", "text": {"body": "ainda aqui"}}),
    )
    .await;
    let calls = function_calls(emulator_calls().await);
    assert!(
        calls
            .keys()
            .all(|op| !op.contains("Scheduler") && op != "AmazonSQS.SendMessage"),
        "no scheduling call for an ordinary message: {calls:?}"
    );
    assert_eq!(
        calls.get("AmazonSQS.SendMessageBatch"),
        Some(&1),
        "only the webhook's enqueue"
    );
}
