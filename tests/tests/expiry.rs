//! Issue 8: auto-expiry after 1 to 72 hours, the sweeper, lazy expiry and retention.

use conversa::app::closing::Closer;
use conversa::app::expiry::Sweeper;
use conversa::domain::{CloseReason, Conversation, ConversationState, Origin};
use conversa::ports::store::*;
use conversa_tests::*;
use serde_json::json;
use std::sync::Arc;

const CONTACT: &str = "5548999990000";

fn sweeper(t: &TestStack) -> Sweeper {
    let store = Arc::new(t.store());
    Sweeper {
        closer: Closer {
            conversations: store.clone(),
            channels: store.clone(),
            contacts: store.clone(),
        },
        expiry: store,
        clock: t.local.clock.clone(),
        page_size: conversa::app::expiry::PAGE,
    }
}

async fn open_with_hours(t: &TestStack, hours: u32) -> Conversation {
    let (status, body) = t.set_settings(json!({"auto_close_hours": hours})).await;
    assert_eq!(status, 200, "{body}");
    t.contact_sends(CONTACT, json!({"type": "text", "text": {"body": "oi"}}))
        .await;
    t.open_conversation_of(CONTACT).await.unwrap()
}

async fn boundary(hours: u32) {
    let t = stack().await;
    let c = open_with_hours(&t, hours).await;
    let now = {
        use conversa::ports::Clock;
        t.local.clock.now()
    };
    // Just before: still open.
    t.advance_clock((c.expires_at - now) / 1000 - 2).await;
    let report = sweeper(&t).run().await.unwrap();
    assert_eq!(report.closed, 0);
    assert!(t.store_conversation(&c.id).await.state.is_open());
    // Just after: closed, reason expired.
    t.advance_clock(4).await;
    let report = sweeper(&t).run().await.unwrap();
    assert_eq!(report.closed, 1);
    let closed = t.store_conversation(&c.id).await;
    assert_eq!(
        (closed.state, closed.close_reason),
        (ConversationState::Closed, Some(CloseReason::Expired))
    );
    assert_eq!(
        t.events_of("conversation.closed").await[0]["detail"]["reason"],
        "expired"
    );
}

#[tokio::test]
async fn auto_close_at_the_1_hour_boundary() {
    boundary(1).await;
}

#[tokio::test]
async fn auto_close_at_the_72_hour_boundary() {
    boundary(72).await;
}

#[tokio::test]
async fn auto_close_hours_0_and_73_are_rejected_and_change_nothing() {
    let t = stack().await;
    let (_, before) = t.set_settings(json!({})).await;
    for bad in [0, 73] {
        let (status, err) = t.set_settings(json!({"auto_close_hours": bad})).await;
        assert_eq!(
            (status, err["code"].as_str()),
            (422, Some("invalid_settings"))
        );
        assert!(
            err["message"]
                .as_str()
                .unwrap()
                .contains("auto_close_hours must be 1 to 72"),
            "{err}"
        );
    }
    assert_eq!(t.set_settings(json!({})).await.1, before);
    assert_eq!(before["auto_close_hours"], 24, "the template's default");
}

#[tokio::test]
async fn every_state_expires_including_awaiting_reply() {
    let t = stack().await;
    let token = t.agent_token().await;
    let (status, body) = t
        .post_json(
            "/v1/conversations",
            &token,
            json!({"phone": CONTACT, "template": {"name": "welcome", "language": "pt_BR", "parameters": ["Ana"]}}),
        )
        .await;
    assert_eq!(status, 201);
    assert_eq!(body["conversation"]["state"], "awaiting_reply");
    t.advance_clock(24 * 3600 + 1).await;
    assert_eq!(sweeper(&t).run().await.unwrap().closed, 1);
    let id = body["conversation"]["id"].as_str().unwrap();
    assert_eq!(
        t.store_conversation(id).await.close_reason,
        Some(CloseReason::Expired)
    );
}

#[tokio::test]
async fn a_message_after_the_sweeper_read_the_conversation_keeps_it_open() {
    let t = stack().await;
    let c = open_with_hours(&t, 1).await;
    t.advance_clock(3601).await;
    // The sweeper reads the conversation as due...
    let (due, _) = t.store().due_conversations_all(t.now_secs() * 1000).await;
    let stale = due.into_iter().find(|d| d.id == c.id).expect("due");
    // ...the contact writes before it closes it (the lazy path would close an expired
    // conversation first, so the message is applied to the record directly here)...
    let mut fresh = t.store_conversation(&c.id).await;
    fresh.expires_at += 3_600_000;
    fresh.version += 1;
    let _ = t
        .store()
        .update_conversation(&fresh, stale.version, &Default::default())
        .await
        .unwrap();
    // ...so the sweeper's close, conditional on the version it read, does nothing.
    let s = sweeper(&t);
    let (now, closed) = s
        .closer
        .close_if_expired(stale, t.now_secs() * 1000)
        .await
        .unwrap();
    assert!(!closed);
    assert!(now.state.is_open());
    assert!(t.events_of("conversation.closed").await.is_empty());
}

#[tokio::test]
async fn lazy_expiry_closes_an_expired_conversation_before_a_reply_joins_it() {
    let t = stack().await;
    let c = open_with_hours(&t, 1).await;
    t.advance_clock(3601).await;
    // No sweep ran; the contact's reply opens a new conversation with default routing.
    t.contact_sends(CONTACT, json!({"type": "text", "text": {"body": "voltei"}}))
        .await;
    let now = t.open_conversation_of(CONTACT).await.unwrap();
    assert_ne!(now.id, c.id);
    assert_eq!(
        (now.state, now.queue.as_deref()),
        (ConversationState::Queued, Some("support"))
    );
    assert_eq!(
        t.store_conversation(&c.id).await.close_reason,
        Some(CloseReason::Expired)
    );
    // And an API read of an expired conversation closes it first too.
    let other = open_with_hours_for(&t, "5548999990001").await;
    t.advance_clock(3601).await;
    let supervisor = t.token("boss", "supervisor", &[]).await;
    let (_, d) = t
        .get_json(&format!("/v1/conversations/{}", other.id), &supervisor)
        .await;
    assert_eq!(
        (d["state"].as_str(), d["close_reason"].as_str()),
        (Some("closed"), Some("expired"))
    );
}

async fn open_with_hours_for(t: &TestStack, contact: &str) -> Conversation {
    t.contact_sends(contact, json!({"type": "text", "text": {"body": "oi"}}))
        .await;
    t.open_conversation_of(contact).await.unwrap()
}

#[tokio::test]
async fn two_sweepers_at_once_close_each_conversation_once_and_publish_one_event() {
    let t = stack().await;
    let (status, _) = t.set_settings(json!({"auto_close_hours": 1})).await;
    assert_eq!(status, 200);
    for i in 0..6 {
        open_with_hours_for(&t, &format!("55489999900{i:02}")).await;
    }
    t.advance_clock(3601).await;
    let (a, b) = (sweeper(&t), sweeper(&t));
    let (ra, rb) = tokio::join!(a.run(), b.run());
    let (ra, rb) = (ra.unwrap(), rb.unwrap());
    assert_eq!(ra.closed + rb.closed, 6, "{ra:?} {rb:?}");
    assert_eq!(t.events_of("conversation.closed").await.len(), 6);
    assert_eq!(
        sweeper(&t).run().await.unwrap().closed,
        0,
        "safe to run again"
    );
}

#[tokio::test]
async fn with_5000_open_conversations_and_50_due_the_sweeper_reads_about_50() {
    let t = stack().await;
    let now = {
        use conversa::ports::Clock;
        t.local.clock.now()
    };
    let conversations: Vec<Conversation> =
        (0..5000).map(|i| imported(i, now, i % 100 == 0)).collect();
    t.store()
        .import_conversations(&conversations)
        .await
        .unwrap();
    let report = sweeper(&t).run().await.unwrap();
    assert_eq!((report.due, report.closed), (50, 50), "{report:?}");
    assert!(
        report.scanned <= 50 + 4,
        "the sweep read {} items, not 5,000",
        report.scanned
    );
}

#[tokio::test]
async fn retention_ttl_is_on_closed_data_only_and_never_decides_expiry() {
    let t = stack().await;
    let c = open_with_hours(&t, 1).await;
    let ddb = aws_sdk_dynamodb::Client::new(&t.config);
    let table = t
        .local
        .stack
        .reference("ConversationsTable")
        .unwrap()
        .to_owned();
    let item = |pk: String, sk: String| {
        let ddb = ddb.clone();
        let table = table.clone();
        async move {
            ddb.get_item()
                .table_name(table)
                .key("pk", aws_sdk_dynamodb::types::AttributeValue::S(pk))
                .key("sk", aws_sdk_dynamodb::types::AttributeValue::S(sk))
                .send()
                .await
                .unwrap()
                .item
                .unwrap()
        }
    };
    let open = item(format!("CONV#{}", c.id), "CONV".into()).await;
    assert!(!open.contains_key("ttl"), "an open conversation has no TTL");
    assert!(
        open.contains_key("expiry_shard"),
        "it is in the expiry index"
    );
    t.advance_clock(3601).await;
    sweeper(&t).run().await.unwrap();
    let closed = item(format!("CONV#{}", c.id), "CONV".into()).await;
    let ttl: i64 = closed["ttl"].as_n().unwrap().parse().unwrap();
    let closed_at = t.store_conversation(&c.id).await.closed_at.unwrap();
    assert_eq!(
        ttl,
        closed_at / 1000 + 90 * 86_400,
        "retention days from the template"
    );
    assert!(
        !closed.contains_key("expiry_shard"),
        "left the expiry index"
    );
    let message = t
        .store()
        .messages(&c.id, None, 1)
        .await
        .unwrap()
        .items
        .remove(0);
    let m = item(
        format!("CONV#{}", c.id),
        conversa::aws::store::message_key(&message),
    )
    .await;
    assert!(m.contains_key("ttl"), "messages carry the TTL");
    let dedupe = item(format!("WAMID#{}", message.id), "WAMID".into()).await;
    assert!(dedupe.contains_key("ttl"), "dedupe records carry the TTL");

    // A message past its TTL that DynamoDB has not deleted yet is not read.
    ddb.update_item()
        .table_name(&table)
        .key(
            "pk",
            aws_sdk_dynamodb::types::AttributeValue::S(format!("CONV#{}", c.id)),
        )
        .key(
            "sk",
            aws_sdk_dynamodb::types::AttributeValue::S(conversa::aws::store::message_key(&message)),
        )
        .update_expression("SET #t = :past")
        .expression_attribute_names("#t", "ttl")
        .expression_attribute_values(
            ":past",
            aws_sdk_dynamodb::types::AttributeValue::N("1".into()),
        )
        .send()
        .await
        .unwrap();
    assert!(t
        .store()
        .messages(&c.id, None, 10)
        .await
        .unwrap()
        .items
        .is_empty());
}

#[tokio::test]
async fn the_local_stack_closes_at_the_next_sweep_after_the_clock_passes_auto_close() {
    let t = stack().await;
    let c = open_with_hours(&t, 1).await;
    t.local.tick().await;
    t.advance_clock(3601).await;
    t.local.tick().await;
    assert_eq!(
        t.store_conversation(&c.id).await.close_reason,
        Some(CloseReason::Expired)
    );
}

/// An open conversation of the sample channel, due for expiry or not.
fn imported(i: usize, now: i64, due: bool) -> Conversation {
    Conversation {
        id: format!("01SWEEP{i:019}"),
        channel: SAMPLE_CHANNEL_ID.into(),
        contact: format!("5548{i:09}"),
        origin: Origin::Customer,
        state: ConversationState::Queued,
        close_reason: None,
        queue: Some("support".into()),
        agent: None,
        archived: false,
        opened_at: now - 10_000,
        updated_at: now - 10_000,
        last_inbound_at: Some(now - 10_000),
        closed_at: None,
        expires_at: if due { now - 1_000 } else { now + 3_600_000 },
        message_count: 1,
        unread_count: 1,
        last_inbound_id: None,
        queued_at: Some(now - 10_000),
        assigned_at: None,
        held_from: None,
        assistant: None,
        menu_attempts: 0,
        handoff: None,
        turn_deadline: None,
        last_turn_at: None,
        assignment: Default::default(),
        campaign: None,
        version: 1,
    }
}

async fn import_due(t: &TestStack, n: usize) {
    let now = {
        use conversa::ports::Clock;
        t.local.clock.now()
    };
    let due: Vec<Conversation> = (0..n).map(|i| imported(i, now, true)).collect();
    t.store().import_conversations(&due).await.unwrap();
}

#[tokio::test]
async fn the_sweeper_reads_in_pages_of_its_configured_size() {
    let t = stack().await;
    import_due(&t, 20).await;
    let mut s = sweeper(&t);
    s.page_size = 2;
    let report = s.run().await.unwrap();
    assert_eq!(report.closed, 20, "{report:?}");
    assert!(report.pages >= 10, "20 due in pages of 2: {report:?}");
}

#[tokio::test]
async fn one_conversation_that_cannot_be_closed_does_not_stop_the_sweep() {
    let t = stack().await;
    import_due(&t, 5).await;
    // The three attempts the SDK makes (standard retry mode) of the sweep's first close
    // fail.
    t.inject_fault(json!({
        "service": "dynamodb", "operation": "TransactWriteItems",
        "error": "InternalServerError", "nth": 1, "times": 3
    }))
    .await;
    let report = sweeper(&t).run().await.unwrap();
    assert_eq!(
        (report.due, report.closed, report.failed),
        (5, 4, 1),
        "{report:?}"
    );
    // The next sweep, with the fault gone, closes the one left.
    t.local.clear_faults().await.unwrap();
    let report = sweeper(&t).run().await.unwrap();
    assert_eq!((report.due, report.closed), (1, 1), "{report:?}");
}

#[tokio::test]
async fn a_channel_without_its_own_setting_closes_after_the_stacks_default_hours() {
    let t = stack_with(std::collections::HashMap::from([(
        "DefaultAutoCloseHours".to_owned(),
        "2".to_owned(),
    )]))
    .await;
    let (_, settings) = t.set_settings(json!({})).await;
    assert_eq!(settings["auto_close_hours"], 2, "{settings}");
    t.contact_sends(CONTACT, json!({"type": "text", "text": {"body": "oi"}}))
        .await;
    let c = t.open_conversation_of(CONTACT).await.unwrap();
    assert_eq!(c.expires_at - c.updated_at, 2 * 3_600_000);
    t.advance_clock(2 * 3600 + 1).await;
    assert_eq!(sweeper(&t).run().await.unwrap().closed, 1);
    assert_eq!(
        t.store_conversation(&c.id).await.close_reason,
        Some(CloseReason::Expired)
    );
}
