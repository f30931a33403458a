//! AWS calls per inbound text message, agent send and provider send, counted by the
//! emulator (one test per binary, so nothing else runs against this emulator while it
//! counts). The stack runs with the template's channel cache (`ChannelCacheSeconds` 30),
//! as deployed: the warm path is what a busy instance does for every message.

use conversa::ports::store::*;
use conversa_tests::*;
use serde_json::json;
use std::collections::BTreeMap;

fn calls(pairs: &[(&str, u64)]) -> BTreeMap<String, u64> {
    pairs.iter().map(|(k, v)| ((*k).to_owned(), *v)).collect()
}

#[tokio::test]
async fn aws_calls_per_inbound_text_message() {
    let t = stack_with(std::collections::HashMap::from([(
        "ChannelCacheSeconds".to_owned(),
        "30".to_owned(),
    )]))
    .await;
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
        "inbound, new conversation (the instance's first read of the channel, the contact): \
         the message, its conversation, window and events at once"
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
            ("DynamoDB_20120810.GetItem", 1),
            ("DynamoDB_20120810.TransactWriteItems", 1),
        ]),
        "inbound, open conversation: one read (the contact with its copy of the open \
         conversation; the channel cached) and one transaction"
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
    // First send of the instance: the conversation, then the channel and the contact at
    // once; then warm, the channel cached.
    for (n, reads, hsm_reads, cold) in [(1, 3, 3, true), (2, 2, 2, false)] {
        reset_emulator_calls().await;
        let (status, _) = t
            .post_json(
                &format!("/v1/conversations/{id}/messages"),
                &token,
                json!({"text": format!("Olá {n}!")}),
            )
            .await;
        assert_eq!(status, 202);
        assert_eq!(
            function_calls(emulator_calls().await),
            calls(&[
                ("DynamoDB_20120810.GetItem", reads),
                ("DynamoDB_20120810.TransactWriteItems", 1),
            ]),
            "agent-api, free-form send {n}: the message and its send commit together"
        );
        reset_emulator_calls().await;
        t.relay().await;
        let mut relayed = vec![("AmazonSQS.SendMessageBatch", 1)];
        if !cold {
            // The previous send's `message.status` (sent) goes out in the same run.
            relayed.push(("AWSEvents.PutEvents", 1));
        }
        assert_eq!(
            function_calls(emulator_calls().await),
            calls(&relayed),
            "event-relay: the send to outbound.fifo"
        );
        reset_emulator_calls().await;
        t.drain_outbound().await;
        let mut expected = vec![
            ("DynamoDB_20120810.GetItem", hsm_reads),
            ("DynamoDB_20120810.TransactWriteItems", 1),
            ("DynamoDB_20120810.UpdateItem", 3),
        ];
        if cold {
            expected.push(("AmazonSSM.GetParameters", 1));
        }
        assert_eq!(
            function_calls(emulator_calls().await),
            calls(&expected),
            "hsm-send, send {n} (the first of a cold start also reads the token and the \
             channel); the message and the window read at once, the sent status commits \
             with its event"
        );
    }

    // The agent's capture and replies kept the contact's copy of the conversation
    // current: the contact's answer is still one read and one transaction.
    reset_emulator_calls().await;
    t.contact_writes(contact, "wamid.N4", t.now_secs()).await;
    assert_eq!(
        function_calls(emulator_calls().await)
            .into_iter()
            .filter(|(op, _)| op.starts_with("DynamoDB"))
            .collect::<BTreeMap<_, _>>(),
        calls(&[
            ("DynamoDB_20120810.GetItem", 1),
            ("DynamoDB_20120810.TransactWriteItems", 1),
        ]),
        "inbound after agent writes"
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
    // Past the cache's staleness bound: inbound reads the new routing.
    t.advance_clock(31).await;
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
