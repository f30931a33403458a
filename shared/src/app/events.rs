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

pub const CONVERSATION_ASSIGNED: &str = "conversation.assigned";
pub const CONVERSATION_TRANSFERRED: &str = "conversation.transferred";
pub const CONVERSATION_CLOSED: &str = "conversation.closed";
pub const CONVERSATION_UPDATED: &str = "conversation.updated";
pub const CONVERSATION_REMOVED: &str = "conversation.removed";

fn versioned_id(c: &Conversation, what: &str) -> String {
    format!("{}/v{}/{what}", c.id, c.version)
}

/// An agent took the conversation (`how`: capture, automatic_capture, transfer).
pub fn conversation_assigned(c: &Conversation, by: &str, how: &str) -> DomainEvent {
    DomainEvent {
        detail_type: CONVERSATION_ASSIGNED,
        detail: json!({
            "event_id": versioned_id(c, "assigned"),
            "conversation": c,
            "agent": c.agent,
            "by": by,
            "how": how,
        }),
    }
}

/// The conversation moved to another agent, queue or external platform. For an external
/// platform it carries the history (as much as fits an event; `history_complete` says
/// whether the platform must read the rest through the API).
pub fn conversation_transferred(
    before: &Conversation,
    after: &Conversation,
    to: Value,
    by: &str,
    history: Option<(&[Message], bool)>,
) -> DomainEvent {
    let mut detail = json!({
        "event_id": versioned_id(after, "transferred"),
        "conversation": after,
        "from": {"queue": before.queue, "agent": before.agent},
        "to": to,
        "by": by,
    });
    if let Some((messages, complete)) = history {
        detail["history"] = json!(messages);
        detail["history_complete"] = json!(complete);
    }
    DomainEvent {
        detail_type: CONVERSATION_TRANSFERRED,
        detail,
    }
}

pub fn conversation_closed(c: &Conversation, by: &str) -> DomainEvent {
    DomainEvent {
        detail_type: CONVERSATION_CLOSED,
        detail: json!({
            "event_id": versioned_id(c, "closed"),
            "conversation": c,
            "reason": c.close_reason,
            "by": by,
        }),
    }
}

/// Hold, resume, archive, unarchive.
pub fn conversation_updated(c: &Conversation, operation: &str, by: &str) -> DomainEvent {
    DomainEvent {
        detail_type: CONVERSATION_UPDATED,
        detail: json!({
            "event_id": versioned_id(c, operation),
            "conversation": c,
            "operation": operation,
            "by": by,
        }),
    }
}

pub fn conversation_removed(c: &Conversation, by: &str) -> DomainEvent {
    DomainEvent {
        detail_type: CONVERSATION_REMOVED,
        detail: json!({
            "event_id": format!("{}/removed", c.id),
            "conversation_id": c.id,
            "channel": c.channel,
            "by": by,
        }),
    }
}

pub const ASSISTANT_TURN: &str = "assistant.turn";
pub const HANDOFF_REQUESTED: &str = "handoff.requested";

/// Messages for the AI assistant: it answers with `POST /v1/conversations/{id}/messages`.
pub fn assistant_turn(c: &Conversation, messages: &[Message], cause_id: &str) -> DomainEvent {
    DomainEvent {
        detail_type: ASSISTANT_TURN,
        detail: json!({
            "event_id": format!("{cause_id}/turn"),
            "conversation": c,
            "assistant": c.assistant,
            "channel": c.channel,
            "contact": c.contact,
            "messages": messages,
        }),
    }
}

/// The assistant handed the conversation to humans (ALTU's OPEN_CONVERSATION).
pub fn handoff_requested(
    c: &Conversation,
    by: &str,
    history: Option<(&[Message], bool)>,
) -> DomainEvent {
    let handoff = c.handoff.as_ref();
    let mut detail = json!({
        "event_id": versioned_id(c, "handoff"),
        "conversation": c,
        "queue": handoff.map(|h| h.queue.clone()),
        "extra_info": handoff.map(|h| h.extra_info.clone()),
        "contact_info": handoff.map(|h| h.contact_info.clone()),
        "integration_id": handoff.and_then(|h| h.integration_id.clone()),
        "by": by,
    });
    if let Some((messages, complete)) = history {
        detail["history"] = json!(messages);
        detail["history_complete"] = json!(complete);
    }
    DomainEvent {
        detail_type: HANDOFF_REQUESTED,
        detail,
    }
}
