//! The events conversa publishes (`source = "conversa"`). Each detail carries an
//! `event_id` that is the same on every redelivery, so consumers can deduplicate.
//! Schemas: docs/events.md.
//!
//! Every event fits EventBridge's 256 KB entry limit by construction: lists of messages
//! (history, an assistant's turn) keep the most recent that fit and say so, with the
//! route that lists them all; nothing is carried twice.

use crate::domain::{campaign::Campaign, conversation::CloseReason, Conversation, Message};
use crate::ports::DomainEvent;
use serde_json::{json, Value};

/// EventBridge's limit for one entry: detail, detail-type and source together.
pub const MAX_EVENT_BYTES: usize = 256 * 1024;
/// What the entry adds around the detail (source, detail-type, bus, resources), with room.
const ENVELOPE_BYTES: usize = 1024;
const DETAIL_BUDGET: usize = MAX_EVENT_BYTES - ENVELOPE_BYTES;

fn json_len(v: &Value) -> usize {
    serde_json::to_vec(v).map_or(usize::MAX, |b| b.len())
}

/// The route that lists every message of a conversation.
fn messages_route(conversation_id: &str) -> String {
    format!("/v1/conversations/{conversation_id}/messages")
}

/// Puts the most recent `messages` that fit the event in `detail[field]`; when older ones
/// do not fit, `{field}_truncated` is true and `{field}_url` names the route with them all.
fn attach_messages(detail: &mut Value, field: &str, messages: &[Message], conversation_id: &str) {
    let truncated = format!("{field}_truncated");
    let url = format!("{field}_url");
    detail[field] = json!([]);
    detail[truncated.as_str()] = json!(true);
    detail[url.as_str()] = json!(messages_route(conversation_id));
    let mut used = json_len(detail);
    let mut kept = Vec::new();
    for m in messages.iter().rev() {
        let m = json!(m);
        let size = json_len(&m) + 1;
        if used + size > DETAIL_BUDGET {
            break;
        }
        used += size;
        kept.push(m);
    }
    kept.reverse();
    let all = kept.len() == messages.len();
    detail[field] = Value::Array(kept);
    detail[truncated.as_str()] = json!(!all);
    if all {
        if let Some(map) = detail.as_object_mut() {
            map.remove(&url);
        }
    }
}

/// The last guard for details whose parts come from outside (a message as WhatsApp sent
/// it): a part that would overflow the event is replaced by a reference to where it can
/// be read.
fn bound_part(detail: &mut Value, field: &str, reference: Value) {
    if json_len(detail) > DETAIL_BUDGET {
        detail[field] = reference;
        detail[format!("{field}_truncated").as_str()] = json!(true);
    }
}

pub const CONVERSATION_OPENED: &str = "conversation.opened";
pub const MESSAGE_RECEIVED: &str = "message.received";
pub const MESSAGE_STATUS: &str = "message.status";
pub const PROVIDER_ERROR: &str = "provider.error";

pub fn conversation_opened(c: &Conversation, cause_id: &str) -> DomainEvent {
    DomainEvent {
        detail_type: CONVERSATION_OPENED.into(),
        detail: json!({
            "event_id": format!("{cause_id}/opened"),
            "conversation": c,
        }),
    }
}

pub fn message_received(c: &Conversation, m: &Message, contact_name: Option<&str>) -> DomainEvent {
    let mut detail = json!({
        "event_id": format!("{}/received", m.id),
        "conversation_id": c.id,
        "channel": c.channel,
        "contact": c.contact,
        "contact_name": contact_name.map(|n| n.chars().take(256).collect::<String>()),
        "conversation_state": c.state,
        "message": m,
    });
    bound_part(
        &mut detail,
        "message",
        json!({"id": m.id, "type": m.content.type_name(), "url": messages_route(&c.id)}),
    );
    DomainEvent {
        detail_type: MESSAGE_RECEIVED.into(),
        detail,
    }
}

/// What a delivery-status move tells the world: `message.status`, committed with it.
pub fn status_effects(m: &Message) -> crate::ports::Effects {
    crate::ports::Effects::events([message_status(m)])
}

pub fn message_status(m: &Message) -> DomainEvent {
    let status = m.status.map(|s| s.as_str()).unwrap_or("unknown");
    DomainEvent {
        detail_type: MESSAGE_STATUS.into(),
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
    let mut detail = json!({
        "event_id": format!("{cause_id}/provider_error"),
        "channel": channel,
        "errors": errors,
    });
    // Their codes always fit; the texts only if they do.
    let codes: Vec<Value> = errors.iter().map(|e| json!({"code": e["code"]})).collect();
    bound_part(&mut detail, "errors", Value::Array(codes));
    bound_part(&mut detail, "errors", json!([]));
    DomainEvent {
        detail_type: PROVIDER_ERROR.into(),
        detail,
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
        detail_type: CONVERSATION_ASSIGNED.into(),
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
/// platform it carries the history (the most recent messages that fit the event;
/// `history_truncated` and `history_url` say where to read the rest).
pub fn conversation_transferred(
    before: &Conversation,
    after: &Conversation,
    to: Value,
    by: &str,
    history: Option<&[Message]>,
) -> DomainEvent {
    let mut detail = json!({
        "event_id": versioned_id(after, "transferred"),
        "conversation": after,
        "from": {"queue": before.queue, "agent": before.agent},
        "to": to,
        "by": by,
    });
    if let Some(messages) = history {
        attach_messages(&mut detail, "history", messages, &after.id);
    }
    DomainEvent {
        detail_type: CONVERSATION_TRANSFERRED.into(),
        detail,
    }
}

pub fn conversation_closed(c: &Conversation, by: &str) -> DomainEvent {
    DomainEvent {
        detail_type: CONVERSATION_CLOSED.into(),
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
        detail_type: CONVERSATION_UPDATED.into(),
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
        detail_type: CONVERSATION_REMOVED.into(),
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
pub const HANDOFF_ENDED: &str = "handoff.ended";
pub const CAMPAIGN_STARTED: &str = "campaign.started";
pub const CAMPAIGN_PROGRESS: &str = "campaign.progress";
pub const CAMPAIGN_COMPLETED: &str = "campaign.completed";

/// Messages for the AI assistant: it answers with `POST /v1/conversations/{id}/messages`.
/// A turn larger than an event keeps its most recent messages (`messages_truncated`).
pub fn assistant_turn(c: &Conversation, messages: &[Message], cause_id: &str) -> DomainEvent {
    let mut detail = json!({
        "event_id": format!("{cause_id}/turn"),
        "conversation": c,
        "assistant": c.assistant,
        "channel": c.channel,
        "contact": c.contact,
    });
    attach_messages(&mut detail, "messages", messages, &c.id);
    DomainEvent {
        detail_type: ASSISTANT_TURN.into(),
        detail,
    }
}

/// The assistant handed the conversation to humans (ALTU's OPEN_CONVERSATION). The
/// handoff's `extra_info` and `contact_info` are carried once, at the top.
pub fn handoff_requested(c: &Conversation, by: &str, history: Option<&[Message]>) -> DomainEvent {
    let handoff = c.handoff.as_ref();
    let mut conversation = json!(c);
    if let Some(h) = conversation
        .get_mut("handoff")
        .and_then(Value::as_object_mut)
    {
        h.remove("extra_info");
        h.remove("contact_info");
    }
    let mut detail = json!({
        "event_id": versioned_id(c, "handoff"),
        "conversation": conversation,
        "queue": handoff.map(|h| h.queue.clone()),
        "extra_info": handoff.map(|h| h.extra_info.clone()),
        "contact_info": handoff.map(|h| h.contact_info.clone()),
        "integration_id": handoff.and_then(|h| h.integration_id.clone()),
        "by": by,
    });
    if let Some(messages) = history {
        attach_messages(&mut detail, "history", messages, &c.id);
    }
    DomainEvent {
        detail_type: HANDOFF_REQUESTED.into(),
        detail,
    }
}

/// The human part of a handoff ended and the conversation is back with the assistant
/// (channel setting `handoff.return_to_assistant`): `status` is ALTU's
/// `input.live_chat.status` (agent_closed, user_closed, timeout, user_inactivity_timeout).
pub fn handoff_ended(c: &Conversation, status: CloseReason, by: &str) -> DomainEvent {
    DomainEvent {
        detail_type: HANDOFF_ENDED.into(),
        detail: json!({
            "event_id": versioned_id(c, "handoff_ended"),
            "conversation": c,
            "status": status,
            "assistant": c.assistant,
            "by": by,
        }),
    }
}

fn campaign_event(detail_type: &str, c: &Campaign, what: &str) -> DomainEvent {
    DomainEvent {
        detail_type: detail_type.into(),
        detail: json!({
            "event_id": format!("campaign/{}/{what}", c.id),
            "campaign": {
                "id": c.id, "name": c.name, "channel": c.channel, "status": c.status,
                "template": c.template, "target": c.target,
                "started_at": c.started_at, "completed_at": c.completed_at,
            },
            "counters": c.counters,
        }),
    }
}

/// A campaign began sending.
pub fn campaign_started(c: &Campaign) -> DomainEvent {
    campaign_event(CAMPAIGN_STARTED, c, "started")
}

/// A campaign ended: completed, cancelled or failed (`campaign.status`).
pub fn campaign_completed(c: &Campaign) -> DomainEvent {
    campaign_event(CAMPAIGN_COMPLETED, c, "ended")
}

/// Where a sending campaign is, at most once per progress interval (`at` names it).
pub fn campaign_progress(c: &Campaign, at: crate::domain::Millis) -> DomainEvent {
    campaign_event(CAMPAIGN_PROGRESS, c, &format!("progress/{at}"))
}

#[cfg(test)]
mod tests;

pub const AGENT_STATUS: &str = "agent.status";

/// An agent's presence moved: `status` as the agent set it, `online` now, and when an
/// agent whose last connection closed goes offline (`offline_at`, after the grace).
pub fn agent_status(a: &crate::domain::agent::Agent, now: crate::domain::Millis) -> DomainEvent {
    DomainEvent {
        detail_type: AGENT_STATUS.into(),
        detail: json!({
            "event_id": format!("agent/{}/p{}", a.sub, a.presence_version),
            "agent": a.sub,
            "status": a.status,
            "online": a.online(now),
            "connections": a.connections,
            "offline_at": a.offline_after,
        }),
    }
}
