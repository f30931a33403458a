//! Business and health metrics as CloudWatch Embedded Metric Format (EMF) documents:
//! JSON lines written to a [`MetricSink`] (standard output in Lambda), from which
//! CloudWatch Logs extracts the metrics — no `PutMetricData`, no AWS call at all. A
//! function records what happened while it handles an invocation and flushes once at the
//! end: one document per metric and dimension value, counts summed, durations as a list
//! of values (at most 100 a document, as the format allows). Names, units and dimensions
//! are a contract with the dashboard in `template.yaml` (docs/metrics.md).
//!
//! Where each is recorded: `event-relay` from the committed events it publishes
//! ([`of_event`]: messages received, queue wait at capture, handoffs, closes, campaign
//! recipients); `hsm-send` at the provider's answer (messages sent, failed sends);
//! `inbound` at a status webhook (delivery latency, failures the provider reports later,
//! sends a status reconciled).

use super::events;
use crate::domain::Millis;
use crate::ports::{DomainEvent, MetricSink, ProviderError};
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard};

/// The namespace when `METRICS_NAMESPACE` is not set (the template sets
/// `conversa/<stack name>`).
pub const DEFAULT_NAMESPACE: &str = "conversa";
/// Values of one metric in one document (the format's limit).
const MAX_VALUES: usize = 100;
/// A dimension value's length limit in the format.
const MAX_DIMENSION_CHARS: usize = 1024;

/// The metrics conversa emits (docs/metrics.md).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Metric {
    /// An inbound message stored, per channel.
    MessagesReceived,
    /// An outbound message the provider accepted, per channel.
    MessagesSent,
    /// A send that failed, by the provider's error code or a word for what happened.
    SendsFailed,
    /// From the provider's acceptance to the `delivered` status, per channel.
    DeliveryLatency,
    /// How long a conversation waited in its queue until an agent took it, per queue.
    QueueWaitAtCapture,
    /// The human part of a handoff ended, by how.
    Handoffs,
    /// A conversation closed, by reason.
    ConversationsClosed,
    /// A campaign recipient sent (a conversation opened for it).
    CampaignRecipientsDispatched,
}

impl Metric {
    pub const ALL: [Metric; 8] = [
        Metric::MessagesReceived,
        Metric::MessagesSent,
        Metric::SendsFailed,
        Metric::DeliveryLatency,
        Metric::QueueWaitAtCapture,
        Metric::Handoffs,
        Metric::ConversationsClosed,
        Metric::CampaignRecipientsDispatched,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Metric::MessagesReceived => "MessagesReceived",
            Metric::MessagesSent => "MessagesSent",
            Metric::SendsFailed => "SendsFailed",
            Metric::DeliveryLatency => "DeliveryLatency",
            Metric::QueueWaitAtCapture => "QueueWaitAtCapture",
            Metric::Handoffs => "Handoffs",
            Metric::ConversationsClosed => "ConversationsClosed",
            Metric::CampaignRecipientsDispatched => "CampaignRecipientsDispatched",
        }
    }

    /// A CloudWatch unit.
    pub fn unit(self) -> &'static str {
        match self {
            Metric::DeliveryLatency | Metric::QueueWaitAtCapture => "Milliseconds",
            _ => "Count",
        }
    }

    /// Its one dimension, if any.
    pub fn dimension(self) -> Option<&'static str> {
        match self {
            Metric::MessagesReceived | Metric::MessagesSent | Metric::DeliveryLatency => {
                Some("ChannelId")
            }
            Metric::SendsFailed => Some("ErrorCode"),
            Metric::QueueWaitAtCapture => Some("Queue"),
            Metric::Handoffs => Some("Outcome"),
            Metric::ConversationsClosed => Some("Reason"),
            Metric::CampaignRecipientsDispatched => None,
        }
    }

    /// Counts add up within a flush; durations keep every value (for percentiles).
    fn sums(self) -> bool {
        self.unit() == "Count"
    }
}

/// One value of a metric, with its dimension's value ("" for a metric without one).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Observation {
    pub metric: Metric,
    pub dimension: String,
    pub value: i64,
}

fn observation(metric: Metric, dimension: impl Into<String>, value: i64) -> Observation {
    Observation {
        metric,
        dimension: dimension.into(),
        value,
    }
}

type Pending = BTreeMap<(Metric, String), Vec<i64>>;

/// What a function recorded since its last flush. Shared by the records of a batch that
/// run concurrently; a flush takes everything recorded so far.
#[derive(Debug)]
pub struct Metrics {
    namespace: String,
    sink: Arc<dyn MetricSink>,
    pending: Mutex<Pending>,
}

impl Metrics {
    pub fn new(namespace: impl Into<String>, sink: Arc<dyn MetricSink>) -> Self {
        Self {
            namespace: namespace.into(),
            sink,
            pending: Mutex::new(BTreeMap::new()),
        }
    }

    /// One more of a count.
    pub fn count(&self, metric: Metric, dimension: &str) {
        self.record(metric, dimension, 1);
    }

    pub fn record(&self, metric: Metric, dimension: &str, value: i64) {
        let key = (metric, dimension_value(metric, dimension));
        let mut pending = self.pending();
        let values = pending.entry(key).or_default();
        match values.first_mut() {
            Some(sum) if metric.sums() => *sum += value,
            _ => values.push(value),
        }
    }

    pub fn observe(&self, o: &Observation) {
        self.record(o.metric, &o.dimension, o.value);
    }

    /// Writes what was recorded as EMF documents stamped `now`, and starts afresh.
    pub fn flush(&self, now: Millis) {
        let pending = std::mem::take(&mut *self.pending());
        if !pending.is_empty() {
            self.sink
                .write_lines(&emf_lines(&self.namespace, now, &pending));
        }
    }

    /// A panic elsewhere while holding the lock leaves a map that is still whole.
    fn pending(&self) -> MutexGuard<'_, Pending> {
        self.pending
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// A dimension value the format takes: a string of 1 to 1024 characters.
fn dimension_value(metric: Metric, raw: &str) -> String {
    if metric.dimension().is_none() {
        return String::new();
    }
    match raw.trim() {
        "" => "none".to_owned(),
        v => v.chars().take(MAX_DIMENSION_CHARS).collect(),
    }
}

/// The documents of one flush: per metric and dimension value, at most 100 values each.
pub fn emf_lines(namespace: &str, at: Millis, pending: &Pending) -> Vec<String> {
    let mut lines = Vec::new();
    for ((metric, dimension), values) in pending {
        for chunk in values.chunks(MAX_VALUES) {
            lines.push(document(namespace, at, *metric, dimension, chunk));
        }
    }
    lines
}

fn document(
    namespace: &str,
    at: Millis,
    metric: Metric,
    dimension: &str,
    values: &[i64],
) -> String {
    let keys: Vec<&str> = metric.dimension().into_iter().collect();
    let mut doc = serde_json::Map::new();
    doc.insert(
        "_aws".into(),
        json!({
            "Timestamp": at,
            "CloudWatchMetrics": [{
                "Namespace": namespace,
                "Dimensions": [keys],
                "Metrics": [{"Name": metric.name(), "Unit": metric.unit()}],
            }],
        }),
    );
    if let Some(key) = metric.dimension() {
        doc.insert(key.into(), json!(dimension));
    }
    let value = match values {
        [one] => json!(one),
        many => json!(many),
    };
    doc.insert(metric.name().into(), value);
    Value::Object(doc).to_string()
}

/// How a conversation leaves its queue for an agent (`conversation.assigned`'s `how`):
/// captured, taken by the first reply, or given by conversa. A transfer is not one.
const TAKEN_FROM_QUEUE: [&str; 4] = ["capture", "automatic_capture", "round_robin", "least_busy"];

/// What a committed event counts for (`event-relay` records it once the event is
/// published).
pub fn of_event(event: &DomainEvent) -> Vec<Observation> {
    let d = &event.detail;
    let text = |v: &Value| v.as_str().unwrap_or_default().to_owned();
    match event.detail_type.as_str() {
        events::MESSAGE_RECEIVED => {
            vec![observation(
                Metric::MessagesReceived,
                text(&d["channel"]),
                1,
            )]
        }
        events::CONVERSATION_ASSIGNED => queue_wait(d).into_iter().collect(),
        events::CONVERSATION_CLOSED => {
            let reason = text(&d["reason"]);
            let mut out = vec![observation(Metric::ConversationsClosed, reason.clone(), 1)];
            // A handed-off conversation that closes ends its handoff that way.
            if d["conversation"]["handoff"].is_object() {
                out.push(observation(Metric::Handoffs, reason, 1));
            }
            out
        }
        events::HANDOFF_ENDED => vec![observation(Metric::Handoffs, text(&d["status"]), 1)],
        events::CONVERSATION_OPENED if d["conversation"]["origin"] == "campaign" => {
            vec![observation(Metric::CampaignRecipientsDispatched, "", 1)]
        }
        _ => Vec::new(),
    }
}

/// From entering its queue (`queued_at`, else when it opened) to the agent taking it.
fn queue_wait(d: &Value) -> Option<Observation> {
    let how = d["how"].as_str()?;
    if !TAKEN_FROM_QUEUE.contains(&how) {
        return None;
    }
    let c = &d["conversation"];
    let taken = c["assigned_at"].as_i64()?;
    let since = c["queued_at"]
        .as_i64()
        .or_else(|| c["opened_at"].as_i64())?;
    Some(observation(
        Metric::QueueWaitAtCapture,
        c["queue"].as_str().unwrap_or_default(),
        (taken - since).max(0),
    ))
}

/// The `ErrorCode` of a call the provider did not take: its error code, else the HTTP
/// status (`http_503`), else a word for what happened on the way — `network` (no
/// connection: certainly not sent), `timeout` (no answer once the request may have been
/// written), `unknown`.
pub fn provider_error_code(e: &ProviderError) -> String {
    let (code, message, transport_word) = match e {
        ProviderError::Retryable { code, message } => (code, message, "network"),
        ProviderError::Ambiguous { code, message } => (code, message, "timeout"),
        ProviderError::Permanent { code, message } => (code, message, "network"),
    };
    if let Some(code) = code {
        return code.to_string();
    }
    if let Some(status) = message
        .strip_prefix("HTTP ")
        .and_then(|s| s.split_whitespace().next())
        .filter(|s| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()))
    {
        return format!("http_{status}");
    }
    if message.starts_with("transport:") {
        return transport_word.to_owned();
    }
    // AWS's named errors (SMS): `ThrottlingException: ...`, `ConflictException (...): ...`.
    if let Some(name) = message
        .split([':', ' '])
        .next()
        .filter(|w| w.ends_with("Exception") && w.bytes().all(|b| b.is_ascii_alphanumeric()))
    {
        return name.to_owned();
    }
    "unknown".to_owned()
}

/// Lines kept in memory instead of written out: the local stack (`make run`, the tests)
/// keeps the most recent `limit`.
#[derive(Debug)]
pub struct CapturedLines {
    lines: Mutex<std::collections::VecDeque<String>>,
    limit: usize,
}

impl CapturedLines {
    pub fn new(limit: usize) -> Self {
        Self {
            lines: Mutex::new(std::collections::VecDeque::new()),
            limit,
        }
    }

    /// Every line kept, oldest first.
    pub fn lines(&self) -> Vec<String> {
        self.guard().iter().cloned().collect()
    }

    fn guard(&self) -> MutexGuard<'_, std::collections::VecDeque<String>> {
        self.lines.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl MetricSink for CapturedLines {
    fn write_lines(&self, lines: &[String]) {
        let mut kept = self.guard();
        kept.extend(lines.iter().cloned());
        while kept.len() > self.limit {
            kept.pop_front();
        }
    }
}

#[cfg(test)]
mod tests;
