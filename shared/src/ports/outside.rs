//! The ports beyond the table: events for the outside world, work queues, timers, the
//! WhatsApp provider, secrets and the metric sink.

use crate::domain::{template::Template, Millis};
use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use super::PortResult;

/// An event for the outside world (`source = "conversa"`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DomainEvent {
    pub detail_type: String,
    pub detail: serde_json::Value,
}

#[async_trait]
pub trait EventPublisher: Send + Sync {
    async fn publish(&self, events: &[DomainEvent]) -> PortResult<()>;
}

/// A unit of work for a FIFO queue.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
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
    /// Certainly not accepted (rate limits, a connection refused before the request was
    /// written): try again later.
    #[error("provider error {code:?} (retryable): {message}")]
    Retryable { code: Option<i64>, message: String },
    /// Anything else: the message failed.
    #[error("provider error {code:?}: {message}")]
    Permanent { code: Option<i64>, message: String },
    /// The provider may have accepted the message (a timeout after the request was
    /// written, a 5xx, a 2xx without a message id): sending again could deliver twice.
    #[error("provider outcome unknown {code:?}: {message}")]
    Ambiguous { code: Option<i64>, message: String },
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
    /// Marks a contact's message read (the blue ticks), `status: read`.
    async fn mark_read(
        &self,
        token: &str,
        phone_number_id: &str,
        message_id: &str,
    ) -> Result<(), ProviderError>;
}

/// One SMS, in AWS End User Messaging SMS's terms (`SendTextMessage`).
#[derive(Debug, Clone, PartialEq)]
pub struct SmsRequest {
    /// The channel's origination identity: a phone number in E.164, or a number's or a
    /// pool's ARN.
    pub origination_identity: String,
    /// The contact, in E.164 (`+5548...`).
    pub destination: String,
    pub body: String,
    /// Handed back in the send's delivery events ([`crate::app::outbound_item::callback_data`]),
    /// as WhatsApp's `biz_opaque_callback_data` is: a status finds a send whose answer
    /// was lost.
    pub callback_data: String,
}

/// Sends SMS. Its own port rather than a wider [`Provider`]: SMS has no token, no
/// templates and no read receipts.
#[async_trait]
pub trait SmsProvider: Send + Sync {
    /// Sends a text; returns the service's message id.
    async fn send_text(&self, request: &SmsRequest) -> Result<String, ProviderError>;
}

/// The code of an SMS refused because the contact opted out of messages from the number
/// (AWS's `ConflictException` with reason `DESTINATION_PHONE_NUMBER_OPTED_OUT`):
/// `hsm-send` marks the contact opted out on it. AWS names its errors rather than
/// numbering them, so this number is conversa's own (409, `ConflictException`'s HTTP
/// status, and 001), kept apart from the Graph API's codes.
pub const SMS_DESTINATION_OPTED_OUT: i64 = 409_001;

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

/// Where metric documents go: CloudWatch's Embedded Metric Format, one JSON object a
/// line, which CloudWatch Logs turns into metrics. Standard output in Lambda
/// ([`StdoutMetrics`]); a buffer in the local stack and the tests.
pub trait MetricSink: Send + Sync + std::fmt::Debug {
    /// Writes these lines together.
    fn write_lines(&self, lines: &[String]);
}

/// The function's standard output, which Lambda sends to its log stream: the lines of a
/// flush in one write, so that no log line lands inside a metric document.
#[derive(Debug, Default, Clone, Copy)]
pub struct StdoutMetrics;

impl MetricSink for StdoutMetrics {
    fn write_lines(&self, lines: &[String]) {
        use std::io::Write;
        if lines.is_empty() {
            return;
        }
        let mut text = String::with_capacity(lines.iter().map(|l| l.len() + 1).sum());
        for line in lines {
            text.push_str(line);
            text.push('\n');
        }
        let mut out = std::io::stdout().lock();
        // Metrics never fail a function: a closed stdout loses them, nothing else.
        let _ = out.write_all(text.as_bytes()).and_then(|()| out.flush());
    }
}
