//! The small traits use cases need. One AWS adapter each lives in [`crate::aws`].

use crate::domain::{
    conversation::InboundDecision, Channel, Conversation, DeliveryStatus, Message, Millis,
};
use async_trait::async_trait;
use serde::{Deserialize, Serialize};

/// A failure of the infrastructure behind a port. Use cases treat it as retryable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{service}: {message}")]
pub struct PortError {
    pub service: &'static str,
    pub message: String,
}

impl PortError {
    pub fn new(service: &'static str, message: impl std::fmt::Display) -> Self {
        Self {
            service,
            message: message.to_string(),
        }
    }
}

pub type PortResult<T> = Result<T, PortError>;

/// The only way the application reads time.
pub trait Clock: Send + Sync {
    fn now(&self) -> Millis;
}

pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> Millis {
        chrono::Utc::now().timestamp_millis()
    }
}

/// Per (channel, contact): the customer-service window and the open conversation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ContactRecord {
    pub channel: String,
    pub contact: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_inbound_at: Option<Millis>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub open_conversation_id: Option<String>,
}

/// Everything one inbound message writes, committed atomically.
#[derive(Debug, Clone)]
pub struct InboundWrite {
    pub decision: InboundDecision,
    pub message: Message,
    pub contact_name: Option<String>,
    /// The open-conversation pointer as it was read; the write is conditional on it.
    pub expected_open: Option<String>,
    /// The version of the open conversation as it was read (for an append).
    pub expected_version: Option<u64>,
}

/// Where a provider message id (`wamid`) lives, and whether its events went out.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProviderMessageRef {
    pub conversation_id: String,
    pub message_key: String,
    #[serde(default)]
    pub opened_conversation: bool,
    #[serde(default)]
    pub published: bool,
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

/// A page of results and the opaque cursor of the next one.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Page<T> {
    pub items: Vec<T>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_cursor: Option<String>,
}

#[async_trait]
pub trait ConversationStore: Send + Sync {
    async fn channel(&self, id: &str) -> PortResult<Option<Channel>>;
    async fn put_channel(&self, channel: &Channel) -> PortResult<()>;
    async fn contact(&self, channel: &str, contact: &str) -> PortResult<Option<ContactRecord>>;
    async fn conversation(&self, id: &str) -> PortResult<Option<Conversation>>;
    /// Conversations of one contact on one channel, newest first.
    async fn conversations_of_contact(
        &self,
        channel: &str,
        contact: &str,
        cursor: Option<&str>,
        limit: u32,
    ) -> PortResult<Page<Conversation>>;
    /// Messages of a conversation in order.
    async fn messages(
        &self,
        conversation_id: &str,
        cursor: Option<&str>,
        limit: u32,
    ) -> PortResult<Page<Message>>;
    async fn provider_message(&self, message_id: &str) -> PortResult<Option<ProviderMessageRef>>;
    async fn message(&self, reference: &ProviderMessageRef) -> PortResult<Option<Message>>;
    /// Commits an inbound message, its conversation and the contact's window at once,
    /// deduplicated on the provider's message id.
    async fn record_inbound(&self, write: &InboundWrite, now: Millis)
        -> PortResult<InboundOutcome>;
    /// Stores an outbound message of an existing conversation.
    async fn record_outbound(&self, message: &Message) -> PortResult<()>;
    async fn mark_published(&self, message_id: &str) -> PortResult<()>;
    /// Moves a message's status forward; never backwards.
    async fn apply_status(&self, update: &StatusUpdate) -> PortResult<StatusOutcome>;
}

/// An event for the outside world (`source = "conversa"`).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DomainEvent {
    pub detail_type: &'static str,
    pub detail: serde_json::Value,
}

#[async_trait]
pub trait EventPublisher: Send + Sync {
    async fn publish(&self, events: &[DomainEvent]) -> PortResult<()>;
}

/// A unit of work for a FIFO queue.
#[derive(Debug, Clone, PartialEq)]
pub struct QueuedItem {
    pub body: String,
    pub group_id: String,
    pub dedup_id: String,
    /// Why it is there, for dead-letter queues.
    pub reason: Option<String>,
}

#[async_trait]
pub trait WorkQueue: Send + Sync {
    /// Enqueues every item or fails; partial acceptance is an error.
    async fn enqueue(&self, items: &[QueuedItem]) -> PortResult<()>;
}
