//! What the store ports read and write: write sets committed at once, their outcomes,
//! keys, and list selectors.

use super::{DomainEvent, QueuedItem};
use crate::domain::{
    conversation::InboundDecision, inbound::Timer, Conversation, DeliveryStatus, Message, Millis,
};
use serde::{Deserialize, Serialize};

/// Per (channel, contact): the customer-service window and the open conversation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ContactRecord {
    pub channel: String,
    pub contact: String,
    /// The WhatsApp profile name, from the webhooks.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// The name an agent gave the contact ("adicionar aos contatos").
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub display_name: Option<String>,
    /// Free attributes an agent set (customer id, plan...).
    #[serde(default, skip_serializing_if = "serde_json::Map::is_empty")]
    pub attributes: serde_json::Map<String, serde_json::Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_inbound_at: Option<Millis>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub open_conversation_id: Option<String>,
    /// Opted out of campaigns (an opt-out keyword, provider error 131050, or an agent).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub opted_out: bool,
    /// When the provider said the window is closed (error 131047).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub window_closed_at: Option<Millis>,
}

impl ContactRecord {
    /// The contact's window on its channel (SMS has none: always open).
    pub fn window(&self, now: Millis) -> crate::domain::Window {
        crate::domain::ChannelKind::of(&self.channel).window(
            self.last_inbound_at,
            self.window_closed_at,
            now,
        )
    }
}

/// The window of a contact on a channel, whether or not the contact has a record yet.
pub fn window_of(
    channel: &str,
    record: Option<&ContactRecord>,
    now: Millis,
) -> crate::domain::Window {
    match record {
        Some(r) => r.window(now),
        None => crate::domain::ChannelKind::of(channel).window(None, None, now),
    }
}

/// An agent starts a conversation, optionally with its first (template) message.
#[derive(Debug, Clone)]
pub struct StartWrite {
    pub conversation: Conversation,
    /// The open-conversation pointer as read (a closed conversation's id, or none).
    pub expected_open: Option<String>,
    pub message: Option<Message>,
    /// A campaign's recipient this start sends to, as it becomes (`sent`): it moves from
    /// `pending` in the same transaction, so a recipient is never sent twice.
    pub recipient: Option<crate::domain::campaign::Recipient>,
    /// The channel's messaging limit: this start counts in the hour's reach, if the hour
    /// holds fewer than `cap` (the limit less the day's earlier hours), else it fails.
    pub reach: Option<Reach>,
    /// Committed with it: `conversation.opened` and the first message's send.
    pub effects: Effects,
}

/// A business-started conversation counted against the channel's messaging limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Reach {
    /// Hours since the epoch.
    pub hour: i64,
    pub cap: u64,
}

/// An outbound message appended to a conversation.
#[derive(Debug, Clone)]
pub struct OutboundWrite {
    /// The conversation after the send.
    pub conversation: Conversation,
    pub expected_version: u64,
    pub message: Message,
    /// The caller's `Idempotency-Key`: a retry returns the first message.
    pub idempotency_key: Option<String>,
    /// Committed with it: the message's send, and the capture it made if any.
    pub effects: Effects,
}

#[derive(Debug, Clone, PartialEq)]
pub enum WriteOutcome {
    Committed,
    /// Someone else changed the conversation or the contact meanwhile.
    Conflict,
    /// The same idempotency key was used before: this is the message it created.
    Duplicate(Box<Message>),
}

/// Where an outbound message is: enough to find it again.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MessageKey {
    pub conversation_id: String,
    pub message_key: String,
}

impl MessageKey {
    /// A message's key: its conversation and its place in it (time, then id), which is
    /// also the order the message log reads in.
    pub fn of(m: &Message) -> Self {
        Self {
            conversation_id: m.conversation_id.clone(),
            message_key: format!("MSG#{:016}#{}", m.at.max(0), m.id),
        }
    }
}

/// Everything one inbound message writes, committed atomically.
#[derive(Debug, Clone)]
pub struct InboundWrite {
    pub decision: InboundDecision,
    pub message: Message,
    /// An open conversation found expired, closed in the same write (its version as read).
    pub expired: Option<(Conversation, u64)>,
    /// Messages conversa answers by itself (welcome, menu), stored with the inbound one.
    pub auto_messages: Vec<Message>,
    /// What the message sets in motion (events, automatic sends, timers), committed with
    /// it: a redelivery finds it all done.
    pub effects: Effects,
    pub contact_name: Option<String>,
    /// The open-conversation pointer as it was read; the write is conditional on it.
    pub expected_open: Option<String>,
    /// The version of the open conversation as it was read (for an append).
    pub expected_version: Option<u64>,
}

/// Where a provider message id (`wamid`) lives.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProviderMessageRef {
    pub conversation_id: String,
    pub message_key: String,
    #[serde(default)]
    pub opened_conversation: bool,
}

impl ProviderMessageRef {
    /// The message this provider id names.
    pub fn key(&self) -> MessageKey {
        MessageKey {
            conversation_id: self.conversation_id.clone(),
            message_key: self.message_key.clone(),
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum InboundOutcome {
    Committed,
    /// The message was stored before: a redelivery.
    Duplicate(ProviderMessageRef),
    /// Someone else changed the conversation or the contact meanwhile: read again.
    Conflict,
}

#[derive(Debug, Clone, PartialEq)]
pub struct StatusUpdate {
    pub message_id: String,
    pub status: DeliveryStatus,
    pub at: Millis,
    pub error_code: Option<i64>,
    pub error_title: Option<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum StatusOutcome {
    /// The message moved forward to this status.
    Applied(Box<Message>),
    /// The message already had this status or a later one.
    Stale,
    /// No message with this id yet; the status is kept until it is recorded.
    Pending,
}

/// Which list of a queue a conversation is in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QueueList {
    Waiting,
    InProgress,
    /// Closed conversations, newest first (a supervisor's view).
    Closed,
}

impl QueueList {
    pub fn suffix(self) -> &'static str {
        match self {
            QueueList::Waiting => "waiting",
            QueueList::InProgress => "in_progress",
            QueueList::Closed => "closed",
        }
    }

    /// Listed newest first.
    pub fn newest_first(self) -> bool {
        self == QueueList::Closed
    }
}

/// Which list of an agent a conversation is in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AgentList {
    Active,
    Archived,
}

impl AgentList {
    pub fn suffix(self) -> &'static str {
        match self {
            AgentList::Active => "active",
            AgentList::Archived => "archived",
        }
    }
}

/// Filters a listing by channel and contact.
#[derive(Debug, Clone, Default)]
pub struct ListFilter {
    pub channel: Option<String>,
    pub contact: Option<String>,
    /// Conversations of this origin only.
    pub origin: Option<crate::domain::Origin>,
    /// Conversations in this state only.
    pub state: Option<crate::domain::ConversationState>,
}

/// The expiry index is split in a few shards so no single partition is hot; the sweeper
/// reads each.
pub const EXPIRY_SHARDS: u8 = 4;

/// What a committed change sets in motion, written in the same transaction as the change
/// (the outbox) and carried out by `event-relay` from the table's stream: nothing is
/// published before its commit, nothing committed goes unpublished.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Effects {
    /// Events for the bus, each with its stable `detail.event_id`.
    pub events: Vec<DomainEvent>,
    /// Items for `outbound.fifo` (deduplicated on the message id).
    pub sends: Vec<QueuedItem>,
    /// Timers to arm.
    pub timers: Vec<Timer>,
}

impl Effects {
    pub fn events(events: impl IntoIterator<Item = DomainEvent>) -> Self {
        Self {
            events: events.into_iter().collect(),
            ..Self::default()
        }
    }

    pub fn is_empty(&self) -> bool {
        self.events.is_empty() && self.sends.is_empty() && self.timers.is_empty()
    }

    /// Every effect on its own, as the outbox stores them.
    pub fn entries(&self) -> Vec<OutboxEntry> {
        let events = self.events.iter().map(|e| OutboxEntry::Event {
            detail_type: e.detail_type.clone(),
            detail: e.detail.to_string(),
        });
        let sends = self.sends.iter().map(|s| OutboxEntry::Send(s.clone()));
        let timers = self.timers.iter().map(|t| OutboxEntry::Timer(t.clone()));
        events.chain(sends).chain(timers).collect()
    }
}

/// What a change to a message sets in motion, given the message as the change leaves it
/// (the store knows the resulting status; the use case says what it tells the world).
pub type EffectsOf<'a> = &'a (dyn Fn(&Message) -> Effects + Send + Sync);

/// The `kind` of outbox items; the relay's stream filter in `template.yaml` selects it.
pub const OUTBOX_KIND: &str = "outbox";

/// One effect as an outbox item holds it (one item per effect keeps each far below
/// DynamoDB's 400 KB item limit).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "effect", rename_all = "snake_case")]
pub enum OutboxEntry {
    /// `detail` as JSON text, exactly as it will be published.
    Event {
        detail_type: String,
        detail: String,
    },
    Send(QueuedItem),
    Timer(Timer),
}
