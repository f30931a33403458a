//! SMS in (issue 18): AWS End User Messaging SMS notifications reach `sms-inbound`
//! through SNS (`POST /_dev/sms` and the local stack's delivery events publish them as
//! SNS does), which queues them on `inbound.fifo`; from there they are inbound's, like a
//! WhatsApp webhook's: one open conversation per channel and contact, routing, events,
//! deduplication, statuses that only move forward.

use conversa::app::closing::Closer;
use conversa::app::expiry::Sweeper;
use conversa::domain::{
    CloseReason, Conversation, ConversationState, DeliveryStatus, Direction, Message,
};
use conversa::ports::store::*;
use conversa::ports::{Clock, MessageKey};
use conversa_infra::dev::{SAMPLE_SMS_CHANNEL_ID, SAMPLE_SMS_NUMBER};
use conversa_infra::sms_dev::SmsDeliveryEvent;
use conversa_tests::*;
use serde_json::{json, Value};
use std::sync::Arc;

const CONTACT: &str = "5548999990000";

/// A stack with the sample SMS channel.
async fn sms_stack() -> TestStack {
    let t = stack().await;
    t.local
        .seed_sms_channel()
        .await
        .expect("seed the SMS channel");
    t
}

/// `POST /_dev/sms`: the contact's SMS to a number; the answer.
async fn post_sms(t: &TestStack, body: Value) -> (u16, Value) {
    let r = t
        .http
        .post(t.url("/_dev/sms"))
        .json(&body)
        .send()
        .await
        .expect("post sms");
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Value::Null))
}

/// The contact writes to the sample SMS channel and the message is applied.
async fn contact_texts(t: &TestStack, contact: &str, body: &str, id: &str) -> Value {
    let (status, answer) = post_sms(
        t,
        json!({"from": format!("+{contact}"), "channel": SAMPLE_SMS_CHANNEL_ID, "body": body, "message_id": id}),
    )
    .await;
    assert_eq!(status, 200, "{answer}");
    t.drain_inbound().await;
    answer
}

/// The conversation open for a contact on the sample SMS channel.
async fn sms_conversation(t: &TestStack, contact: &str) -> Option<Conversation> {
    let id = t
        .store()
        .contact(SAMPLE_SMS_CHANNEL_ID, contact)
        .await
        .ok()??
        .open_conversation_id?;
    t.store().conversation(&id).await.ok()?
}

async fn messages_of(t: &TestStack, conversation: &str) -> Vec<Message> {
    t.store()
        .messages(conversation, None, 100)
        .await
        .expect("messages")
        .items
}

#[tokio::test]
async fn an_inbound_sms_opens_a_conversation_on_the_sms_channel_routed_to_its_queue() {
    let t = sms_stack().await;
    let answer = contact_texts(&t, CONTACT, "Olá, preciso de ajuda", "sms-in-1").await;
    assert_eq!(answer["channel"], SAMPLE_SMS_CHANNEL_ID);
    assert_eq!(answer["results"][0]["queued"], 1, "{answer}");

    let c = sms_conversation(&t, CONTACT).await.expect("a conversation");
    assert_eq!(c.channel, SAMPLE_SMS_CHANNEL_ID);
    assert_eq!(c.contact, CONTACT);
    assert_eq!(c.state, ConversationState::Queued);
    assert_eq!(c.queue.as_deref(), Some("support"), "the channel's queue");
    let messages = messages_of(&t, &c.id).await;
    assert_eq!(messages.len(), 1);
    assert_eq!(messages[0].id, "sms-in-1");
    assert_eq!(messages[0].direction, Direction::Inbound);
    assert_eq!(
        serde_json::to_value(&messages[0].content).unwrap(),
        json!({"type": "text", "body": "Olá, preciso de ajuda"})
    );
    // Nothing on the WhatsApp channel for the same number.
    assert!(t.open_conversation_of(CONTACT).await.is_none());

    let opened = t.events_of("conversation.opened").await;
    assert_eq!(opened.len(), 1);
    assert_eq!(
        opened[0]["detail"]["conversation"]["channel"],
        SAMPLE_SMS_CHANNEL_ID
    );
    let received = t.events_of("message.received").await;
    assert_eq!(received.len(), 1);
    assert_eq!(received[0]["detail"]["channel"], SAMPLE_SMS_CHANNEL_ID);
    assert_eq!(received[0]["detail"]["contact"], CONTACT);
}

#[tokio::test]
async fn a_second_sms_from_the_same_contact_joins_its_open_conversation() {
    let t = sms_stack().await;
    contact_texts(&t, CONTACT, "oi", "sms-in-1").await;
    let first = sms_conversation(&t, CONTACT).await.expect("opened");
    t.advance_clock(60).await;
    contact_texts(&t, CONTACT, "alguém aí?", "sms-in-2").await;
    let second = sms_conversation(&t, CONTACT).await.expect("still open");
    assert_eq!(
        first.id, second.id,
        "one open conversation per channel and contact"
    );
    let ids: Vec<String> = messages_of(&t, &first.id)
        .await
        .into_iter()
        .map(|m| m.id)
        .collect();
    assert_eq!(ids, ["sms-in-1", "sms-in-2"]);
    assert_eq!(t.events_of("conversation.opened").await.len(), 1);
    assert_eq!(t.events_of("message.received").await.len(), 2);
}

#[tokio::test]
async fn a_duplicate_sns_delivery_of_the_same_inbound_message_changes_nothing() {
    let t = sms_stack().await;
    contact_texts(&t, CONTACT, "oi", "sms-in-dup").await;
    let before = sms_conversation(&t, CONTACT).await.expect("opened");
    // SNS delivers at least once: the same notification again, and again later.
    contact_texts(&t, CONTACT, "oi", "sms-in-dup").await;
    t.advance_clock(600).await;
    contact_texts(&t, CONTACT, "oi", "sms-in-dup").await;
    let after = sms_conversation(&t, CONTACT).await.expect("open");
    assert_eq!(before.id, after.id);
    assert_eq!(
        before.version, after.version,
        "the conversation did not move"
    );
    assert_eq!(messages_of(&t, &after.id).await.len(), 1);
    assert_eq!(t.events_of("message.received").await.len(), 1);
}

#[tokio::test]
async fn an_sms_to_a_number_that_is_no_sms_channel_is_dead_lettered_with_its_reason() {
    let t = sms_stack().await;
    let (status, answer) = post_sms(
        &t,
        json!({"from": CONTACT, "channel": "554830000777", "body": "oi", "message_id": "sms-in-x"}),
    )
    .await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["results"][0]["dead_lettered"], 1, "{answer}");
    t.drain_inbound().await;

    let dead = t.peek(&t.queue_url("InboundDeadLetterQueue")).await;
    assert_eq!(dead.len(), 1);
    let reason = dead[0]
        .message_attributes()
        .and_then(|a| a.get("reason"))
        .and_then(|r| r.string_value())
        .unwrap_or_default()
        .to_owned();
    assert!(
        reason.starts_with("unknown_channel: sms-554830000777 is not an SMS channel"),
        "{reason}"
    );
    assert!(!reason.contains(CONTACT), "no contact number in the reason");
    // The work item it would have been: redriven once the channel exists, it applies.
    let item: conversa::provider::WorkItem =
        serde_json::from_str(dead[0].body().unwrap_or_default()).expect("a work item");
    assert_eq!(item.channel(), "sms-554830000777");
    assert!(t
        .store()
        .contact("sms-554830000777", CONTACT)
        .await
        .expect("read")
        .is_none());
    assert!(t.events_of("message.received").await.is_empty());
}

#[tokio::test]
async fn an_unreadable_sms_notification_is_dead_lettered_whole_with_its_reason() {
    let t = sms_stack().await;
    let results = t
        .local
        .publish_sns(conversa_infra::sms_dev::SMS_TOPIC, r#"{"hello": "world"}"#)
        .await
        .expect("sms-inbound answered");
    assert_eq!(results[0]["dead_lettered"], 1);
    let dead = t.peek(&t.queue_url("InboundDeadLetterQueue")).await;
    assert_eq!(dead.len(), 1);
    assert_eq!(dead[0].body(), Some(r#"{"hello": "world"}"#));
    let reason = dead[0].message_attributes().and_then(|a| a.get("reason"));
    assert!(reason
        .and_then(|r| r.string_value())
        .is_some_and(|r| r.starts_with("invalid_payload:")));
}

#[tokio::test]
async fn stop_marks_the_contact_opted_out_on_the_sms_channel() {
    let t = sms_stack().await;
    contact_texts(&t, CONTACT, "STOP", "sms-in-stop").await;
    let record = t
        .store()
        .contact(SAMPLE_SMS_CHANNEL_ID, CONTACT)
        .await
        .expect("read")
        .expect("contact");
    assert!(record.opted_out);
    // The message is still a message.
    let c = sms_conversation(&t, CONTACT).await.expect("opened");
    assert_eq!(messages_of(&t, &c.id).await.len(), 1);
}

#[tokio::test]
async fn an_aws_opt_out_keyword_the_channel_does_not_list_opts_the_contact_out_too() {
    let t = sms_stack().await;
    let other = "5548999990001";
    // The channel's keywords are PARAR, SAIR, STOP; CANCEL is one of AWS's.
    contact_texts(&t, other, "cancel", "sms-in-cancel").await;
    let record = t
        .store()
        .contact(SAMPLE_SMS_CHANNEL_ID, other)
        .await
        .expect("read")
        .expect("contact");
    assert!(record.opted_out);
    // A plain message does not.
    contact_texts(&t, CONTACT, "quero cancelar meu pedido", "sms-in-plain").await;
    let record = t
        .store()
        .contact(SAMPLE_SMS_CHANNEL_ID, CONTACT)
        .await
        .expect("read")
        .expect("contact");
    assert!(!record.opted_out);
}

#[tokio::test]
async fn an_agent_of_the_queue_captures_transfers_and_closes_an_sms_conversation() {
    let t = sms_stack().await;
    contact_texts(&t, CONTACT, "oi", "sms-in-1").await;
    let id = sms_conversation(&t, CONTACT).await.expect("opened").id;
    let (ana, _ana_socket) = t.online_agent("ana", &["support"], None).await;
    let (bia, _bia_socket) = t.online_agent("bia", &["support"], None).await;

    let (status, body) = t.op(&ana, &id, "capture", json!({})).await;
    assert_eq!(status, 200, "{body}");
    let c = t.store_conversation(&id).await;
    assert_eq!(
        (c.state, c.agent.as_deref()),
        (ConversationState::Assigned, Some("ana"))
    );

    let (status, body) = t.op(&ana, &id, "transfer", json!({"agent": "bia"})).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        t.store_conversation(&id).await.agent.as_deref(),
        Some("bia")
    );

    let (status, body) = t.op(&bia, &id, "close", json!({})).await;
    assert_eq!(status, 200, "{body}");
    let closed = t.store_conversation(&id).await;
    assert_eq!(
        (closed.state, closed.close_reason),
        (ConversationState::Closed, Some(CloseReason::AgentClosed))
    );
    assert!(sms_conversation(&t, CONTACT).await.is_none());
    let events = t.events().await;
    for kind in [
        "conversation.assigned",
        "conversation.transferred",
        "conversation.closed",
    ] {
        assert!(
            events.iter().any(|e| e["detail-type"] == kind
                && e["detail"]["conversation_id"]
                    .as_str()
                    .map_or(e["detail"]["conversation"]["id"] == json!(id), |c| c == id)),
            "{kind} of the SMS conversation"
        );
    }
}

#[tokio::test]
async fn auto_expiry_closes_an_idle_sms_conversation() {
    let t = sms_stack().await;
    contact_texts(&t, CONTACT, "oi", "sms-in-1").await;
    let c = sms_conversation(&t, CONTACT).await.expect("opened");
    let store = Arc::new(t.store());
    let sweeper = Sweeper {
        closer: Closer {
            conversations: store.clone(),
            channels: store.clone(),
            contacts: store.clone(),
        },
        expiry: store,
        clock: t.local.clock.clone(),
        page_size: conversa::app::expiry::PAGE,
    };
    let now = t.local.clock.now();
    t.advance_clock((c.expires_at - now) / 1000 - 2).await;
    assert_eq!(sweeper.run().await.unwrap().closed, 0);
    assert!(t.store_conversation(&c.id).await.state.is_open());
    t.advance_clock(4).await;
    assert_eq!(sweeper.run().await.unwrap().closed, 1);
    let closed = t.store_conversation(&c.id).await;
    assert_eq!(
        (closed.state, closed.close_reason),
        (ConversationState::Closed, Some(CloseReason::Expired))
    );
    assert!(sms_conversation(&t, CONTACT).await.is_none());
}

#[tokio::test]
async fn a_delivery_event_moves_an_outbound_sms_status_forward_only() {
    let t = sms_stack().await;
    contact_texts(&t, CONTACT, "oi", "sms-in-1").await;
    let id = sms_conversation(&t, CONTACT).await.expect("opened").id;
    let agent = t.agent_token().await;
    assert_eq!(t.op(&agent, &id, "capture", json!({})).await.0, 200);
    let (status, answer) = t
        .op(
            &agent,
            &id,
            "messages",
            json!({"text": "Olá! Como posso ajudar?"}),
        )
        .await;
    assert_eq!(status, 202, "{answer}");
    let message: Message = serde_json::from_value(answer["message"].clone()).expect("message");
    let key = MessageKey::of(&message);
    // What hsm-send records when SendTextMessage answers with the send's MessageId.
    let provider_id = "sms-out-0001";
    t.store()
        .record_sent(
            &key,
            provider_id,
            t.local.clock.now(),
            &conversa::app::events::status_effects,
        )
        .await
        .expect("sent");
    let context = json!({"conversa": conversa::app::outbound_item::callback_data(&key)});
    let event = |event_type: &str| SmsDeliveryEvent {
        event_type: event_type.into(),
        message_id: provider_id.into(),
        origination: SAMPLE_SMS_NUMBER.into(),
        destination: CONTACT.into(),
        context: Some(context.clone()),
    };
    let status_now = || async {
        t.store()
            .message(&key)
            .await
            .expect("read")
            .expect("message")
            .status
    };

    for (event_type, expected) in [
        ("TEXT_PENDING", DeliveryStatus::Sent),
        ("TEXT_SUCCESSFUL", DeliveryStatus::Sent),
        ("TEXT_DELIVERED", DeliveryStatus::Delivered),
        // A late `sent` after `delivered` does not take it back.
        ("TEXT_SUCCESSFUL", DeliveryStatus::Delivered),
    ] {
        let results = t
            .local
            .publish_sms_event(&event(event_type))
            .await
            .expect("sms-inbound answered");
        assert_eq!(results[0]["dead_lettered"], 0, "{event_type}: {results:?}");
        t.drain_inbound().await;
        assert_eq!(status_now().await, Some(expected), "after {event_type}");
    }
    let statuses: Vec<Value> = t
        .events_of("message.status")
        .await
        .into_iter()
        .filter(|e| e["detail"]["message_id"] == json!(message.id))
        .map(|e| e["detail"]["status"].clone())
        .collect();
    assert_eq!(statuses.last(), Some(&json!("delivered")));
    assert!(!statuses[statuses
        .iter()
        .position(|s| s == "delivered")
        .expect("delivered")..]
        .contains(&json!("sent")));
}

#[tokio::test]
async fn a_failure_event_fails_an_outbound_sms() {
    let t = sms_stack().await;
    contact_texts(&t, CONTACT, "oi", "sms-in-1").await;
    let id = sms_conversation(&t, CONTACT).await.expect("opened").id;
    let agent = t.agent_token().await;
    assert_eq!(t.op(&agent, &id, "capture", json!({})).await.0, 200);
    let (status, answer) = t.op(&agent, &id, "messages", json!({"text": "Olá!"})).await;
    assert_eq!(status, 202, "{answer}");
    let message: Message = serde_json::from_value(answer["message"].clone()).expect("message");
    let key = MessageKey::of(&message);
    t.store()
        .record_sent(
            &key,
            "sms-out-0002",
            t.local.clock.now(),
            &conversa::app::events::status_effects,
        )
        .await
        .expect("sent");
    t.local
        .publish_sms_event(&SmsDeliveryEvent {
            event_type: "TEXT_CARRIER_BLOCKED".into(),
            message_id: "sms-out-0002".into(),
            origination: SAMPLE_SMS_NUMBER.into(),
            destination: CONTACT.into(),
            context: None,
        })
        .await
        .expect("sms-inbound answered");
    t.drain_inbound().await;
    let m = t
        .store()
        .message(&key)
        .await
        .expect("read")
        .expect("message");
    assert_eq!(m.status, Some(DeliveryStatus::Failed));
}

#[tokio::test]
async fn the_sandbox_publishes_an_accepted_sms_s_delivery_events_which_move_it_to_delivered() {
    use std::sync::atomic::Ordering;
    let t = sms_stack().await;
    t.local.status_webhooks.store(true, Ordering::SeqCst);
    t.local.status_delay_ms.store(10, Ordering::SeqCst);
    contact_texts(&t, CONTACT, "oi", "sms-in-1").await;
    let id = sms_conversation(&t, CONTACT).await.expect("opened").id;
    let agent = t.agent_token().await;
    assert_eq!(t.op(&agent, &id, "capture", json!({})).await.0, 200);
    let (status, answer) = t.op(&agent, &id, "messages", json!({"text": "Olá!"})).await;
    assert_eq!(status, 202, "{answer}");
    let message: Message = serde_json::from_value(answer["message"].clone()).expect("message");
    t.drain_outbound().await;
    t.status_webhooks_settled().await;
    t.drain_inbound().await;

    let outbox = conversa_tests::campaign::outbox(&t).await;
    let sent = outbox
        .iter()
        .find(|m| m["kind"] == "sms")
        .expect("the SMS reached the sandbox");
    let stored = t
        .store()
        .message(&MessageKey::of(&message))
        .await
        .expect("read")
        .expect("message");
    assert_eq!(stored.provider_id.as_deref(), sent["id"].as_str());
    assert_eq!(stored.status, Some(DeliveryStatus::Delivered));
    let statuses: Vec<Value> = t
        .events_of("message.status")
        .await
        .into_iter()
        .filter(|e| e["detail"]["message_id"] == json!(message.id))
        .map(|e| e["detail"]["status"].clone())
        .collect();
    assert_eq!(statuses, [json!("sent"), json!("delivered")]);
}
