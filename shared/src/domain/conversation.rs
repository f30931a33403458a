//! Conversations: at most one open per (channel, contact).

use super::{ChannelId, Millis};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Origin {
    Customer,
    Agent,
    Campaign,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ConversationState {
    AwaitingReply,
    Menu,
    Bot,
    Queued,
    Assigned,
    OnHold,
    Closed,
}

impl ConversationState {
    pub fn is_open(self) -> bool {
        self != ConversationState::Closed
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CloseReason {
    AgentClosed,
    UserClosed,
    Timeout,
    UserInactivityTimeout,
    Expired,
    TransferredExternal,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Conversation {
    pub id: String,
    pub channel: ChannelId,
    /// The contact's `wa_id` (digits).
    pub contact: String,
    pub origin: Origin,
    pub state: ConversationState,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub close_reason: Option<CloseReason>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub queue: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agent: Option<String>,
    #[serde(default)]
    pub archived: bool,
    pub opened_at: Millis,
    pub updated_at: Millis,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_inbound_at: Option<Millis>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub closed_at: Option<Millis>,
    /// When the conversation closes if nothing happens (auto-close, 1..=72 h).
    pub expires_at: Millis,
    #[serde(default)]
    pub message_count: u64,
    /// Optimistic-concurrency counter: every update is conditional on it.
    pub version: u64,
}

/// What an inbound customer message does to the (channel, contact) pair.
#[derive(Debug, Clone, PartialEq)]
pub enum InboundDecision {
    /// No open conversation: open one.
    Open(Conversation),
    /// Append to the open conversation, which becomes this.
    Append(Conversation),
}

const HOUR_MILLIS: Millis = 3_600_000;

/// The inbound rule: one open conversation per (channel, contact). A new one enters the
/// channel's default queue; an open one takes the message and pushes its expiry forward.
pub fn decide_inbound(
    open: Option<&Conversation>,
    channel: &super::Channel,
    contact: &str,
    new_id: impl FnOnce() -> String,
    at: Millis,
    now: Millis,
) -> InboundDecision {
    let expires_at = now + i64::from(channel.auto_close_hours) * HOUR_MILLIS;
    match open {
        Some(c) if c.state.is_open() => {
            let mut next = c.clone();
            next.last_inbound_at = Some(next.last_inbound_at.map_or(at, |t| t.max(at)));
            next.updated_at = now;
            next.expires_at = expires_at;
            next.message_count += 1;
            next.version += 1;
            InboundDecision::Append(next)
        }
        _ => InboundDecision::Open(Conversation {
            id: new_id(),
            channel: channel.id.clone(),
            contact: contact.to_owned(),
            origin: Origin::Customer,
            state: ConversationState::Queued,
            close_reason: None,
            queue: Some(channel.default_queue.clone()),
            agent: None,
            archived: false,
            opened_at: now,
            updated_at: now,
            last_inbound_at: Some(at),
            closed_at: None,
            expires_at,
            message_count: 1,
            version: 1,
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::Channel;

    fn channel() -> Channel {
        Channel::new("100000000000001", "554830000001")
    }

    #[test]
    fn first_inbound_message_opens_a_queued_conversation_in_the_default_queue() {
        let d = decide_inbound(None, &channel(), "5548999990000", || "c1".into(), 10, 20);
        let InboundDecision::Open(c) = d else {
            panic!("expected open")
        };
        assert_eq!(c.state, ConversationState::Queued);
        assert_eq!(c.queue.as_deref(), Some("support"));
        assert_eq!(c.origin, Origin::Customer);
        assert_eq!(c.last_inbound_at, Some(10));
        assert_eq!(c.expires_at, 20 + 24 * HOUR_MILLIS);
        assert_eq!(c.version, 1);
    }

    #[test]
    fn inbound_message_appends_to_the_one_open_conversation() {
        let InboundDecision::Open(open) =
            decide_inbound(None, &channel(), "5548999990000", || "c1".into(), 10, 20)
        else {
            panic!("expected open")
        };
        let d = decide_inbound(
            Some(&open),
            &channel(),
            "5548999990000",
            || "c2".into(),
            30,
            40,
        );
        let InboundDecision::Append(c) = d else {
            panic!("expected append")
        };
        assert_eq!(c.id, "c1");
        assert_eq!(c.version, 2);
        assert_eq!(c.message_count, 2);
        assert_eq!(c.last_inbound_at, Some(30));
        assert_eq!(c.expires_at, 40 + 24 * HOUR_MILLIS);
    }

    #[test]
    fn inbound_message_after_close_opens_a_new_conversation() {
        let InboundDecision::Open(mut old) =
            decide_inbound(None, &channel(), "5548999990000", || "c1".into(), 10, 20)
        else {
            panic!("expected open")
        };
        old.state = ConversationState::Closed;
        let d = decide_inbound(
            Some(&old),
            &channel(),
            "5548999990000",
            || "c2".into(),
            30,
            40,
        );
        assert!(matches!(d, InboundDecision::Open(c) if c.id == "c2"));
    }

    #[test]
    fn last_inbound_never_moves_backwards() {
        let InboundDecision::Open(open) =
            decide_inbound(None, &channel(), "5548999990000", || "c1".into(), 100, 100)
        else {
            panic!("expected open")
        };
        let InboundDecision::Append(c) = decide_inbound(
            Some(&open),
            &channel(),
            "5548999990000",
            || "x".into(),
            50,
            200,
        ) else {
            panic!("expected append")
        };
        assert_eq!(c.last_inbound_at, Some(100));
    }
}
