//! The small traits use cases need. One AWS adapter each lives in [`crate::aws`].

use crate::domain::{
    conversation::InboundDecision, template::Template, workspace::Queue, Channel, Conversation,
    DeliveryStatus, Message, Millis,
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
    /// When the provider said the window is closed (error 131047).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub window_closed_at: Option<Millis>,
}

impl ContactRecord {
    pub fn window(&self, now: Millis) -> crate::domain::Window {
        crate::domain::Window::of(self.last_inbound_at, self.window_closed_at, now)
    }
}

/// An agent starts a conversation, optionally with its first (template) message.
#[derive(Debug, Clone)]
pub struct StartWrite {
    pub conversation: Conversation,
    /// The open-conversation pointer as read (a closed conversation's id, or none).
    pub expected_open: Option<String>,
    pub message: Option<Message>,
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

/// Everything one inbound message writes, committed atomically.
#[derive(Debug, Clone)]
pub struct InboundWrite {
    pub decision: InboundDecision,
    pub message: Message,
    /// An open conversation found expired, closed in the same write (its version as read).
    pub expired: Option<(Conversation, u64)>,
    /// Messages conversa answers by itself (welcome, menu), stored with the inbound one.
    pub auto_messages: Vec<Message>,
    /// What to do after the commit (sends, timers), kept for a redelivery to finish.
    pub followups: Option<String>,
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
    /// The follow-ups of the inbound message (JSON), until published.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub followups: Option<String>,
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
    /// Stores an outbound message of an existing conversation, as it is.
    async fn record_outbound(&self, message: &Message) -> PortResult<()>;
    async fn channels(&self) -> PortResult<Vec<Channel>>;
    async fn put_template(&self, channel: &str, template: &Template) -> PortResult<()>;
    async fn template(
        &self,
        channel: &str,
        name: &str,
        language: &str,
    ) -> PortResult<Option<Template>>;
    async fn templates(&self, channel: &str) -> PortResult<Vec<Template>>;
    async fn start_conversation(&self, write: &StartWrite, now: Millis)
        -> PortResult<WriteOutcome>;
    async fn append_outbound(&self, write: &OutboundWrite, now: Millis)
        -> PortResult<WriteOutcome>;
    async fn outbound_message(&self, key: &MessageKey) -> PortResult<Option<Message>>;
    /// Claims the one send of an outbound message; false if it was claimed or sent before.
    async fn claim_send(&self, key: &MessageKey, now: Millis) -> PortResult<bool>;
    /// Gives the claim back after a retryable failure.
    async fn release_send(&self, key: &MessageKey) -> PortResult<()>;
    /// The provider accepted the message with this id.
    async fn record_sent(
        &self,
        key: &MessageKey,
        provider_id: &str,
        now: Millis,
    ) -> PortResult<Message>;
    /// The send failed for good.
    async fn record_send_failure(
        &self,
        key: &MessageKey,
        error_code: Option<i64>,
        failure: &str,
        now: Millis,
    ) -> PortResult<Message>;
    /// The provider said the window is closed (131047).
    async fn close_window(&self, channel: &str, contact: &str, at: Millis) -> PortResult<()>;
    async fn put_queue(&self, queue: &Queue) -> PortResult<()>;
    async fn queue(&self, id: &str) -> PortResult<Option<Queue>>;
    /// A queue's waiting (oldest first) or in-progress conversations.
    async fn queue_conversations(
        &self,
        queue: &str,
        list: QueueList,
        filter: &ListFilter,
        cursor: Option<&str>,
        limit: u32,
    ) -> PortResult<Page<Conversation>>;
    /// An agent's active or archived conversations.
    async fn agent_conversations(
        &self,
        agent: &str,
        list: AgentList,
        filter: &ListFilter,
        cursor: Option<&str>,
        limit: u32,
    ) -> PortResult<Page<Conversation>>;
    /// Writes a conversation if nobody changed it since `expected_version`; a closed one
    /// also frees its contact for a new conversation.
    async fn update_conversation(
        &self,
        next: &Conversation,
        expected_version: u64,
    ) -> PortResult<WriteOutcome>;
    /// Deletes a conversation, if unchanged since read, and every message of it.
    async fn remove_conversation(&self, conversation: &Conversation) -> PortResult<WriteOutcome>;
    /// Open conversations of one expiry shard whose `expires_at` has passed, oldest first,
    /// with how many items the read examined.
    async fn due_conversations(
        &self,
        shard: u8,
        now: Millis,
        cursor: Option<&str>,
        limit: u32,
    ) -> PortResult<(Page<Conversation>, u64)>;
    /// Counts a message from a number the channel's allowlist does not serve.
    async fn count_filtered(&self, channel: &str) -> PortResult<()>;
    async fn mark_published(&self, message_id: &str) -> PortResult<()>;
    /// Moves a message's status forward; never backwards.
    async fn apply_status(&self, update: &StatusUpdate) -> PortResult<StatusOutcome>;
}

/// Which list of a queue a conversation is in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QueueList {
    Waiting,
    InProgress,
}

impl QueueList {
    pub fn suffix(self) -> &'static str {
        match self {
            QueueList::Waiting => "waiting",
            QueueList::InProgress => "in_progress",
        }
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
    /// Makes a received item visible again only after `seconds` (retry with backoff).
    async fn retry_later(&self, receipt_handle: &str, seconds: i32) -> PortResult<()>;
}

/// An outbound send as the provider answers it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProviderError {
    /// 5xx, timeouts, rate limits: try again later.
    #[error("provider error {code:?} (retryable): {message}")]
    Retryable { code: Option<i64>, message: String },
    /// Anything else: the message failed.
    #[error("provider error {code:?}: {message}")]
    Permanent { code: Option<i64>, message: String },
}

/// What to send, in the provider's terms.
#[derive(Debug, Clone, PartialEq)]
pub struct OutboundRequest {
    pub phone_number_id: String,
    pub to: String,
    /// The Graph API message object without `messaging_product`, `to` (e.g. `{"type": "text", ...}`).
    pub payload: serde_json::Value,
}

#[async_trait]
pub trait Provider: Send + Sync {
    /// Sends a message; returns the provider's message id.
    async fn send(&self, token: &str, request: &OutboundRequest) -> Result<String, ProviderError>;
    /// The WhatsApp Business Account's templates, every page.
    async fn templates(&self, token: &str, waba_id: &str) -> Result<Vec<Template>, ProviderError>;
}

/// Wakes a handler at a deadline: SQS delays up to 15 minutes, EventBridge Scheduler
/// one-time schedules beyond.
#[async_trait]
pub trait TimerService: Send + Sync {
    async fn schedule(&self, timer: &crate::domain::inbound::Timer, now: Millis) -> PortResult<()>;
}

/// Secrets by name (SSM SecureString), cached per cold start by the adapter.
#[async_trait]
pub trait Secrets: Send + Sync {
    async fn secret(&self, name: &str) -> PortResult<String>;
}
