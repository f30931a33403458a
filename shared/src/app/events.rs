//! The events conversa publishes (`source = "conversa"`). Each detail carries an
//! `event_id` that is the same on every redelivery, so consumers can deduplicate.
//! Schemas: docs/events.md.

use crate::domain::{Conversation, Message};
use crate::ports::DomainEvent;
use serde_json::{json, Value};

pub const CONVERSATION_OPENED: &str = "conversation.opened";
pub const MESSAGE_RECEIVED: &str = "message.received";
pub const MESSAGE_STATUS: &str = "message.status";
pub const PROVIDER_ERROR: &str = "provider.error";

pub fn conversation_opened(c: &Conversation, cause_id: &str) -> DomainEvent {
    DomainEvent {
        detail_type: CONVERSATION_OPENED,
        detail: json!({
            "event_id": format!("{cause_id}/opened"),
            "conversation": c,
        }),
    }
}

pub fn message_received(c: &Conversation, m: &Message, contact_name: Option<&str>) -> DomainEvent {
    DomainEvent {
        detail_type: MESSAGE_RECEIVED,
        detail: json!({
            "event_id": format!("{}/received", m.id),
            "conversation_id": c.id,
            "channel": c.channel,
            "contact": c.contact,
            "contact_name": contact_name,
            "conversation_state": c.state,
            "message": m,
        }),
    }
}

pub fn message_status(m: &Message) -> DomainEvent {
    let status = m.status.map(|s| s.as_str()).unwrap_or("unknown");
    DomainEvent {
        detail_type: MESSAGE_STATUS,
        detail: json!({
            "event_id": format!("{}/status/{status}", m.id),
            "conversation_id": m.conversation_id,
            "message_id": m.id,
            "status": status,
            "error_code": m.error_code,
            "failure": m.failure,
            "provider_id": m.provider_id,
        }),
    }
}

pub fn provider_error(channel: &str, errors: &[Value], cause_id: &str) -> DomainEvent {
    DomainEvent {
        detail_type: PROVIDER_ERROR,
        detail: json!({
            "event_id": format!("{cause_id}/provider_error"),
            "channel": channel,
            "errors": errors,
        }),
    }
}
