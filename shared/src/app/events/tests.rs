//! The largest event of each type fits EventBridge's entry limit, and what did not fit is
//! named, never silently lost.

use super::*;
use crate::domain::{Direction, MessageContent};

/// The size EventBridge counts for an entry: source, detail-type and detail.
fn entry_size(e: &DomainEvent) -> usize {
    "conversa".len() + e.detail_type.len() + json_len(&e.detail)
}

/// A conversation with everything a record can hold: a handoff at its 32 KB limit.
fn largest_conversation() -> Conversation {
    let half = "ç".repeat(8 * 1024); // 16 KB in UTF-8
    serde_json::from_value(json!({
        "id": "01JCONVERSATION0000000000", "channel": "100000000000001",
        "contact": "5548999990000", "origin": "customer", "state": "queued",
        "queue": "support", "agent": "a".repeat(256), "archived": false,
        "opened_at": 1, "updated_at": 2, "last_inbound_at": 2, "expires_at": 3,
        "message_count": 100000, "queued_at": 2, "assistant": "bot",
        "handoff": {"queue": "support", "extra_info": {"x": half}, "contact_info": {"y": half},
                    "integration_id": "i".repeat(256), "requested_at": 2,
                    "wait_deadline": 5, "inactivity_seconds": 60},
        "version": 7
    }))
    .unwrap()
}

/// A text message at WhatsApp's 4,096-character limit, in 4-byte characters.
fn largest_text(i: usize) -> Message {
    Message {
        conversation_id: "01JCONVERSATION0000000000".into(),
        id: format!("wamid.{i:060}"),
        direction: Direction::Inbound,
        content: MessageContent::Text {
            body: "😀".repeat(4096),
        },
        at: i as i64,
        stored_at: i as i64,
        status: None,
        error_code: None,
        context_id: None,
        sender: None,
        provider_id: None,
        sent_at: None,
        failure: None,
        outcome_unknown_since: None,
    }
}

fn history(n: usize) -> Vec<Message> {
    (0..n).map(largest_text).collect()
}

fn assert_fits(e: &DomainEvent) {
    assert!(
        entry_size(e) <= MAX_EVENT_BYTES,
        "{} is {} bytes",
        e.detail_type,
        entry_size(e)
    );
}

#[test]
fn the_largest_handoff_fits_and_carries_its_info_once() {
    let c = largest_conversation();
    let e = handoff_requested(&c, "bot", Some(&history(500)));
    assert_fits(&e);
    let half = "ç".repeat(8 * 1024);
    assert_eq!(
        e.detail.to_string().matches(&half).count(),
        2,
        "extra_info and contact_info, each once"
    );
    assert!(
        e.detail["conversation"]["handoff"]
            .get("extra_info")
            .is_none()
            && e.detail["conversation"]["handoff"]
                .get("contact_info")
                .is_none(),
        "extra_info and contact_info once, at the top"
    );
    assert_eq!(e.detail["history_truncated"], true);
    assert_eq!(
        e.detail["history_url"],
        "/v1/conversations/01JCONVERSATION0000000000/messages"
    );
    let kept = e.detail["history"].as_array().unwrap();
    assert!(!kept.is_empty());
    assert_eq!(
        kept.last().unwrap()["id"],
        format!("wamid.{:060}", 499),
        "the most recent messages are the ones kept"
    );
}

#[test]
fn a_short_history_is_carried_whole_without_a_url() {
    let c = largest_conversation();
    let e = handoff_requested(&c, "bot", Some(&history(3)));
    assert_eq!(e.detail["history"].as_array().unwrap().len(), 3);
    assert_eq!(e.detail["history_truncated"], false);
    assert!(e.detail.get("history_url").is_none());
}

#[test]
fn the_largest_external_transfer_fits() {
    let c = largest_conversation();
    let e = conversation_transferred(
        &c,
        &c,
        json!({"external": "x".repeat(256)}),
        &"a".repeat(256),
        Some(&history(1000)),
    );
    assert_fits(&e);
    assert_eq!(e.detail["history_truncated"], true);
}

#[test]
fn the_largest_assistant_turn_fits() {
    let c = largest_conversation();
    let e = assistant_turn(&c, &history(1000), "cause");
    assert_fits(&e);
    assert_eq!(e.detail["messages_truncated"], true);
    let e = assistant_turn(&c, &history(2), "cause");
    assert_eq!(e.detail["messages"].as_array().unwrap().len(), 2);
    assert_eq!(e.detail["messages_truncated"], false);
}

#[test]
fn the_largest_received_message_fits() {
    let c = largest_conversation();
    let mut m = largest_text(1);
    m.content = MessageContent::Contacts {
        contacts: json!(vec![
            json!({"name": {"formatted_name": "x".repeat(1000)}});
            1000
        ]),
    };
    let e = message_received(&c, &m, Some(&"n".repeat(10_000)));
    assert_fits(&e);
    assert_eq!(e.detail["message_truncated"], true);
    assert_eq!(e.detail["message"]["type"], "contacts");
    let e = message_received(&c, &largest_text(2), Some("Ana"));
    assert_fits(&e);
    assert!(e.detail.get("message_truncated").is_none());
}

#[test]
fn the_largest_provider_error_fits() {
    let errors: Vec<Value> = (0..10_000)
        .map(|i| json!({"code": 131000 + i, "title": "t".repeat(1000)}))
        .collect();
    let e = provider_error("100000000000001", &errors, "cause");
    assert_fits(&e);
    assert_eq!(e.detail["errors_truncated"], true);
}

#[test]
fn every_other_event_of_the_largest_conversation_fits() {
    let c = largest_conversation();
    let m = largest_text(1);
    for e in [
        conversation_opened(&c, "cause"),
        conversation_assigned(&c, &"a".repeat(256), "capture"),
        conversation_closed(&c, "conversa"),
        conversation_updated(&c, "hold", "agent"),
        conversation_removed(&c, "agent"),
        message_status(&m),
    ] {
        assert_fits(&e);
    }
}
