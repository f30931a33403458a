//! Issue 18: SMS sends. `hsm-send` sends an SMS channel's messages by AWS End User
//! Messaging SMS (`SendTextMessage`, served by the local stack's sandbox) through the
//! WhatsApp sends' queue, claim, retry and reconcile rules: once each, from the channel's
//! origination number, to the contact in E.164; throttling retried, a 5xx or a late answer
//! held as unknown, a refusal failing the message with its reason.

use conversa::domain::channel::AmbiguousSend;
use conversa::domain::{DeliveryStatus, Message};
use conversa::ports::store::*;
use conversa::ports::{MessageKey, SMS_DESTINATION_OPTED_OUT};
use conversa_infra::{dev, sample_sms_channel};
use conversa_tests::*;
use serde_json::{json, Value};
use std::collections::HashMap;

const SMS: &str = dev::SAMPLE_SMS_CHANNEL_ID;
const PHONE: &str = "5548991110000";

async fn sms_stack() -> TestStack {
    let t = stack().await;
    t.local.seed_sms_channel().await.unwrap();
    t
}

/// The sample SMS channel with a setting changed.
async fn set_sms_channel(t: &TestStack, change: impl FnOnce(&mut conversa::domain::Channel)) {
    let mut c = sample_sms_channel();
    change(&mut c);
    t.store().put_channel(&c).await.unwrap();
}

/// An agent starts an SMS session with `text`: the answer's status and body.
async fn start(t: &TestStack, text: &str) -> (u16, Value) {
    let token = t.agent_token().await;
    t.post_json(
        "/v1/conversations",
        &token,
        json!({"channel": SMS, "phone": PHONE, "text": text}),
    )
    .await
}

/// Starts a session and returns its conversation id.
async fn started(t: &TestStack, text: &str) -> String {
    let (status, body) = start(t, text).await;
    assert_eq!(status, 201, "{body}");
    body["conversation"]["id"].as_str().unwrap().to_owned()
}

/// The SMS the sandbox accepted, oldest first.
async fn sms_outbox(t: &TestStack) -> Vec<Value> {
    t.local
        .outbox
        .lock()
        .await
        .iter()
        .filter(|m| m["kind"] == "sms")
        .cloned()
        .collect()
}

/// The conversation's outbound messages, as stored.
async fn outbound_messages(t: &TestStack, conversation: &str) -> Vec<Message> {
    t.store()
        .messages(conversation, None, 20)
        .await
        .unwrap()
        .items
        .into_iter()
        .filter(|m| m.direction == conversa::domain::Direction::Outbound)
        .collect()
}

async fn the_message(t: &TestStack, conversation: &str) -> Message {
    let mut sent = outbound_messages(t, conversation).await;
    assert_eq!(sent.len(), 1, "{sent:?}");
    sent.remove(0)
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

/// How many sends each fault rule applied to.
async fn faults_fired(t: &TestStack) -> Vec<u64> {
    let rules: Value = t
        .http
        .get(t.url("/_dev/provider/faults"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    rules["rules"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["fired"].as_u64().unwrap())
        .collect()
}

#[tokio::test]
async fn an_agents_sms_reaches_the_contact_once_from_the_channels_number_in_e164() {
    let t = sms_stack().await;
    let text = "Olá! Aqui é a Ana, da Conversa.";
    let (status, body) = start(&t, text).await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(body["conversation"]["state"], "assigned");
    assert_eq!(body["segments"]["segments"], 1, "{body}");
    let id = body["conversation"]["id"].as_str().unwrap().to_owned();
    // The queue's item, delivered twice (SQS redelivers): one SMS.
    let event = t.outbound_event().await;
    assert_eq!(event.records.len(), 1);
    assert!(t
        .invoke_sender(event.clone())
        .await
        .batch_item_failures
        .is_empty());
    assert!(t.invoke_sender(event).await.batch_item_failures.is_empty());
    t.drain_outbound().await;
    let sent = sms_outbox(&t).await;
    assert_eq!(sent.len(), 1, "{sent:?}");
    let sms = &sent[0];
    assert_eq!(sms["channel"], SMS);
    assert_eq!(sms["origination_identity"], "+554830000099");
    assert_eq!(sms["to"], format!("+{PHONE}"));
    assert_eq!(sms["request"]["text"]["body"], text);
    assert_eq!(sms["segments"]["encoding"], "ucs2");
    assert_eq!(sms["segments"]["segments"], 1);
    assert_eq!(sms["configuration_set"], dev::SMS_CONFIGURATION_SET);
    let m = the_message(&t, &id).await;
    // The send carries where its message is, for the delivery events.
    assert_eq!(
        sms["context"]["conversa"],
        conversa::app::outbound_item::callback_data(&MessageKey::of(&m))
    );
    assert_eq!(m.status, Some(DeliveryStatus::Sent));
    assert_eq!(m.provider_id.as_deref(), sms["id"].as_str());
    let statuses = t.events_of("message.status").await;
    assert_eq!(statuses.len(), 1);
    assert_eq!(statuses[0]["detail"]["status"], "sent");
    // No Graph API call: nothing else reached the sandbox.
    assert_eq!(t.local.outbox.lock().await.len(), 1);
}

#[tokio::test]
async fn free_text_is_sent_on_sms_25_hours_after_the_contacts_last_message() {
    let t = sms_stack().await;
    // Idle conversations of the channel close after 72 h, not the stack's 24.
    set_sms_channel(&t, |c| c.auto_close_hours = 72).await;
    t.contact_texts_sms(PHONE, SMS, "Oi, tudo bem?", "sms-in-1")
        .await;
    let id = t
        .store()
        .contact(SMS, PHONE)
        .await
        .unwrap()
        .and_then(|c| c.open_conversation_id)
        .expect("the contact's SMS opened a conversation");
    let token = t.agent_token().await;
    let (status, body) = t.op(&token, &id, "capture", json!({})).await;
    assert_eq!(status, 200, "{body}");
    t.advance_clock(25 * 3600).await;
    let (status, body) = t
        .op(&token, &id, "messages", json!({"text": "Ainda por aqui?"}))
        .await;
    assert_eq!(status, 202, "no window on SMS: {body}");
    t.drain_outbound().await;
    let sent = sms_outbox(&t).await;
    assert_eq!(sent.len(), 1, "{sent:?}");
    assert_eq!(sent[0]["request"]["text"]["body"], "Ainda por aqui?");
    assert_eq!(
        the_message(&t, &id).await.status,
        Some(DeliveryStatus::Sent)
    );
}

#[tokio::test]
async fn a_template_on_an_sms_channel_is_refused_and_nothing_is_written_or_queued() {
    let t = sms_stack().await;
    let token = t.agent_token().await;
    let template = json!({"name": "welcome", "language": "pt_BR", "parameters": ["Ana"]});
    let (status, err) = t
        .post_json(
            "/v1/conversations",
            &token,
            json!({"channel": SMS, "phone": PHONE, "template": template}),
        )
        .await;
    assert_eq!(
        (status, err["code"].as_str()),
        (422, Some("templates_not_supported")),
        "{err}"
    );
    let conversations = t
        .store()
        .conversations_of_contact(SMS, PHONE, None, 10)
        .await
        .unwrap()
        .items;
    assert!(conversations.is_empty());
    // Nor in a session that is going on.
    let id = started(&t, "Oi").await;
    t.drain_outbound().await;
    let (status, err) = t
        .op(&token, &id, "messages", json!({ "template": template }))
        .await;
    assert_eq!(
        (status, err["code"].as_str()),
        (422, Some("templates_not_supported")),
        "{err}"
    );
    t.relay().await;
    assert_eq!(t.queue_depth(&t.queue_url("OutboundQueue")).await, 0);
    assert_eq!(
        outbound_messages(&t, &id).await.len(),
        1,
        "the first text only"
    );
    assert_eq!(sms_outbox(&t).await.len(), 1);
}

#[tokio::test]
async fn a_161_character_text_is_two_segments_and_1531_are_too_long() {
    let t = sms_stack().await;
    let (status, body) = start(&t, &"a".repeat(161)).await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(body["segments"]["encoding"], "gsm7");
    assert_eq!(body["segments"]["segments"], 2);
    t.drain_outbound().await;
    let sent = sms_outbox(&t).await;
    assert_eq!(sent[0]["segments"]["segments"], 2);
    let id = body["conversation"]["id"].as_str().unwrap().to_owned();
    let token = t.agent_token().await;
    let (status, err) = t
        .op(&token, &id, "messages", json!({"text": "a".repeat(1531)}))
        .await;
    assert_eq!(
        (status, err["code"].as_str()),
        (422, Some("text_too_long")),
        "{err}"
    );
    t.drain_outbound().await;
    assert_eq!(sms_outbox(&t).await.len(), 1, "the long text went nowhere");
}

#[tokio::test]
async fn throttling_is_retried_and_the_sms_sent_once() {
    let t = sms_stack().await;
    provider_fault(&t, json!({"phone": PHONE, "status": 429, "times": 1})).await;
    let id = started(&t, "Oi").await;
    let event = t.outbound_event().await;
    let first = t.invoke_sender(event.clone()).await;
    assert_eq!(first.batch_item_failures.len(), 1, "left for a retry");
    let m = the_message(&t, &id).await;
    assert_eq!(
        (m.status, m.outcome_unknown_since),
        (Some(DeliveryStatus::Accepted), None),
        "throttled: certainly not sent"
    );
    assert!(sms_outbox(&t).await.is_empty());
    // The retry sends it; a later delivery of the item sends nothing more.
    assert!(t
        .invoke_sender(event.clone())
        .await
        .batch_item_failures
        .is_empty());
    assert!(t.invoke_sender(event).await.batch_item_failures.is_empty());
    assert_eq!(sms_outbox(&t).await.len(), 1);
    assert_eq!(
        the_message(&t, &id).await.status,
        Some(DeliveryStatus::Sent)
    );
    assert_eq!(faults_fired(&t).await, [1]);
}

#[tokio::test]
async fn a_server_error_is_held_as_unknown_and_with_ambiguous_send_fail_failed_after_the_reconcile_delay(
) {
    let t = sms_stack().await;
    set_sms_channel(&t, |c| c.ambiguous_send = AmbiguousSend::Fail).await;
    provider_fault(&t, json!({"phone": PHONE, "status": 500, "times": 1})).await;
    let id = started(&t, "Oi").await;
    let event = t.outbound_event().await;
    assert_eq!(
        t.invoke_sender(event.clone())
            .await
            .batch_item_failures
            .len(),
        1
    );
    let m = the_message(&t, &id).await;
    assert_eq!(m.status, Some(DeliveryStatus::Accepted));
    assert!(
        m.outcome_unknown_since.is_some(),
        "a 5xx may have been sent"
    );
    // Back early: nothing is sent while a status may still come.
    assert_eq!(
        t.invoke_sender(event.clone())
            .await
            .batch_item_failures
            .len(),
        1
    );
    assert_eq!(faults_fired(&t).await, [1], "one SendTextMessage so far");
    // No status within the reconcile delay: the channel's policy fails it.
    t.advance_clock(601).await;
    assert!(t.invoke_sender(event).await.batch_item_failures.is_empty());
    let m = the_message(&t, &id).await;
    assert_eq!(m.status, Some(DeliveryStatus::Failed));
    assert!(
        m.failure
            .as_deref()
            .unwrap_or_default()
            .starts_with("outcome_unknown"),
        "{:?}",
        m.failure
    );
    assert_eq!(faults_fired(&t).await, [1], "never sent twice");
    assert!(sms_outbox(&t).await.is_empty());
}

#[tokio::test]
async fn with_the_default_policy_an_unsettled_sms_is_sent_again_once_after_the_reconcile_delay() {
    let t = sms_stack().await;
    provider_fault(&t, json!({"phone": PHONE, "status": 503, "times": 1})).await;
    let id = started(&t, "Oi").await;
    let event = t.outbound_event().await;
    assert_eq!(
        t.invoke_sender(event.clone())
            .await
            .batch_item_failures
            .len(),
        1
    );
    assert!(sms_outbox(&t).await.is_empty());
    t.advance_clock(601).await;
    assert!(t
        .invoke_sender(event.clone())
        .await
        .batch_item_failures
        .is_empty());
    assert!(t.invoke_sender(event).await.batch_item_failures.is_empty());
    assert_eq!(sms_outbox(&t).await.len(), 1);
    let m = the_message(&t, &id).await;
    assert_eq!(
        (m.status, m.outcome_unknown_since),
        (Some(DeliveryStatus::Sent), None)
    );
}

#[tokio::test]
async fn a_late_answer_is_held_as_unknown_and_never_sent_twice_with_ambiguous_send_fail() {
    // A send slower than a second is abandoned (the sandbox accepts it, then answers late).
    let t = stack_with(HashMap::from([(
        "GraphApiTimeoutSeconds".to_owned(),
        "1".to_owned(),
    )]))
    .await;
    t.local.seed_sms_channel().await.unwrap();
    set_sms_channel(&t, |c| c.ambiguous_send = AmbiguousSend::Fail).await;
    provider_fault(&t, json!({"phone": PHONE, "delay_ms": 2500, "times": 1})).await;
    let id = started(&t, "Oi").await;
    let event = t.outbound_event().await;
    assert_eq!(
        t.invoke_sender(event.clone())
            .await
            .batch_item_failures
            .len(),
        1
    );
    assert_eq!(sms_outbox(&t).await.len(), 1, "AWS accepted it");
    assert!(the_message(&t, &id).await.outcome_unknown_since.is_some());
    t.advance_clock(601).await;
    assert!(t.invoke_sender(event).await.batch_item_failures.is_empty());
    assert_eq!(sms_outbox(&t).await.len(), 1, "never twice");
    assert_eq!(
        the_message(&t, &id).await.status,
        Some(DeliveryStatus::Failed)
    );
}

#[tokio::test]
async fn a_validation_error_fails_the_message_with_its_reason() {
    let t = sms_stack().await;
    provider_fault(&t, json!({"phone": PHONE, "error_code": 131026})).await;
    let id = started(&t, "Oi").await;
    t.drain_outbound().await;
    let m = the_message(&t, &id).await;
    assert_eq!(m.status, Some(DeliveryStatus::Failed));
    let failure = m.failure.unwrap_or_default();
    assert!(
        failure.starts_with("ValidationException") && failure.contains("sandbox fault"),
        "{failure}"
    );
    let statuses = t.events_of("message.status").await;
    assert_eq!(statuses.len(), 1);
    assert_eq!(statuses[0]["detail"]["status"], "failed");
    assert!(sms_outbox(&t).await.is_empty());
    assert_eq!(faults_fired(&t).await, [1], "not retried");
}

#[tokio::test]
async fn an_opted_out_destination_fails_the_message_and_marks_the_contact_opted_out() {
    let t = sms_stack().await;
    provider_fault(&t, json!({"phone": PHONE, "status": 409})).await;
    let id = started(&t, "Oi").await;
    t.drain_outbound().await;
    let m = the_message(&t, &id).await;
    assert_eq!(m.status, Some(DeliveryStatus::Failed));
    assert_eq!(m.error_code, Some(SMS_DESTINATION_OPTED_OUT));
    assert!(
        m.failure
            .as_deref()
            .unwrap_or_default()
            .contains("DESTINATION_PHONE_NUMBER_OPTED_OUT"),
        "{:?}",
        m.failure
    );
    let token = t.agent_token().await;
    let (status, contact) = t
        .get_json(&format!("/v1/contacts/{PHONE}?channel={SMS}"), &token)
        .await;
    assert_eq!(status, 200, "{contact}");
    assert_eq!(contact["opted_out"], true, "{contact}");
}

#[tokio::test]
async fn a_read_receipt_on_an_sms_channel_is_dropped() {
    let t = sms_stack().await;
    let receipt = conversa::app::outbound_item::ReadReceipt::new(SMS, "c-1", "sms-in-1");
    let event: aws_lambda_events::sqs::SqsEvent = serde_json::from_value(json!({"Records": [{
        "messageId": "read-1", "receiptHandle": "test",
        "body": serde_json::to_string(&receipt).unwrap(),
        "attributes": {"ApproximateReceiveCount": "1", "MessageGroupId": "c-1", "MessageDeduplicationId": "read.sms-in-1"},
        "messageAttributes": {}, "eventSource": "aws:sqs",
        "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:outbound.fifo", "awsRegion": "us-east-1"
    }]}))
    .unwrap();
    assert!(t.invoke_sender(event).await.batch_item_failures.is_empty());
    assert!(t.local.outbox.lock().await.is_empty(), "no call at all");
}
