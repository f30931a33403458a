//! `event-relay`: carries out the outbox. Every change writes its effects (events, sends,
//! timers) as outbox items in its own transaction; this function reads them from the
//! table's DynamoDB stream, in order, and publishes the events to the bus, queues the
//! sends on `outbound.fifo` and arms the timers. Each effect is safe to repeat (stable
//! `event_id`s, FIFO deduplication on the message id, timers that re-read their record),
//! so a retried batch only repeats, never loses.
//!
//! It also turns the events it published into metrics (`super::metrics::of_event`), one
//! flush per batch: an event counts once it is published, so a batch retried from its
//! failed record counts nothing twice; only an invocation that dies after its flush but
//! before Lambda hears of its success repeats its counts (at least once, like the events).

use crate::ports::{
    Clock, DomainEvent, EventPublisher, OutboxEntry, PortError, QueuedItem, TimerService,
    WorkQueue, OUTBOX_KIND,
};
use aws_lambda_events::dynamodb::{Event, EventRecord};
use aws_lambda_events::streams::{DynamoDbBatchItemFailure, DynamoDbEventResponse};
use std::sync::Arc;

pub struct EventRelay {
    pub events: Arc<dyn EventPublisher>,
    pub outbound: Arc<dyn WorkQueue>,
    pub timers: Arc<dyn TimerService>,
    /// What the published events count for.
    pub metrics: Arc<super::metrics::Metrics>,
    pub clock: Arc<dyn Clock>,
}

/// Consecutive effects of one kind, carried out in one call where the service allows.
enum Run {
    Events(Vec<DomainEvent>),
    Sends(Vec<QueuedItem>),
    Timer(crate::domain::inbound::Timer),
}

/// The outbox entry a stream record carries: `None` for any other change of the table;
/// an error for an outbox item that cannot be read (a defect, never skipped silently).
fn entry_of(record: &EventRecord) -> Result<Option<OutboxEntry>, String> {
    let image = &record.change.new_image;
    let is_outbox = matches!(
        image.get("kind"),
        Some(serde_dynamo::AttributeValue::S(k)) if k == OUTBOX_KIND
    );
    if record.event_name != "INSERT" || !is_outbox {
        return Ok(None);
    }
    let entry = image
        .get("entry")
        .ok_or_else(|| "outbox item without an entry".to_owned())?;
    serde_dynamo::from_attribute_value(entry.clone())
        .map(Some)
        .map_err(|e| format!("unreadable outbox item: {e}"))
}

impl EventRelay {
    /// Carries out the batch in stream order. At the first failure, it reports that
    /// record: Lambda retries from there (what came before is done), bisects a batch that
    /// keeps failing, and after its retries sends the batch's place in the stream to the
    /// on-failure destination. The metrics of what it published go out at the end.
    pub async fn handle(&self, event: Event) -> DynamoDbEventResponse {
        let response = self.relay(event).await;
        self.metrics.flush(self.clock.now());
        response
    }

    async fn relay(&self, event: Event) -> DynamoDbEventResponse {
        let mut response = DynamoDbEventResponse::default();
        // Runs of effects, each with the sequence number of its first record.
        let mut runs: Vec<(Option<String>, Run)> = Vec::new();
        for record in &event.records {
            let sequence = record.change.sequence_number.clone();
            let entry = match entry_of(record) {
                Ok(Some(entry)) => entry,
                Ok(None) => continue,
                Err(e) => {
                    tracing::error!(error = %e, ?sequence, "outbox item not relayed");
                    let failure = match self.carry_out(runs).await {
                        Some(earlier) => earlier,
                        None => failure_at(sequence),
                    };
                    response.batch_item_failures.push(failure);
                    return response;
                }
            };
            match (entry, runs.last_mut()) {
                (
                    OutboxEntry::Event {
                        detail_type,
                        detail,
                    },
                    Some((_, Run::Events(batch))),
                ) => {
                    batch.push(domain_event(detail_type, &detail));
                }
                (
                    OutboxEntry::Event {
                        detail_type,
                        detail,
                    },
                    _,
                ) => {
                    runs.push((
                        sequence,
                        Run::Events(vec![domain_event(detail_type, &detail)]),
                    ));
                }
                (OutboxEntry::Send(item), Some((_, Run::Sends(batch)))) if batch.len() < 10 => {
                    batch.push(item);
                }
                (OutboxEntry::Send(item), _) => runs.push((sequence, Run::Sends(vec![item]))),
                (OutboxEntry::Timer(timer), _) => runs.push((sequence, Run::Timer(timer))),
            }
        }
        if let Some(failure) = self.carry_out(runs).await {
            response.batch_item_failures.push(failure);
        }
        response
    }

    /// Carries out the runs in order; the failure is where the stream must resume.
    async fn carry_out(
        &self,
        runs: Vec<(Option<String>, Run)>,
    ) -> Option<DynamoDbBatchItemFailure> {
        for (sequence, run) in runs {
            let result: Result<(), PortError> = match &run {
                Run::Events(events) if events.is_empty() => Ok(()),
                Run::Events(events) => self.events.publish(events).await,
                Run::Sends(items) => self.outbound.enqueue(items).await,
                Run::Timer(timer) => self.timers.schedule(timer, self.clock.now()).await,
            };
            if let Err(e) = result {
                tracing::warn!(error = %e, ?sequence, "outbox effect failed; the stream resumes here");
                return Some(failure_at(sequence));
            }
            if let Run::Events(events) = &run {
                for e in events {
                    tracing::debug!(detail_type = %e.detail_type, event_id = %e.detail["event_id"], "event relayed");
                    for o in super::metrics::of_event(e) {
                        self.metrics.observe(&o);
                    }
                }
            }
        }
        None
    }
}

fn failure_at(sequence: Option<String>) -> DynamoDbBatchItemFailure {
    let mut failure = DynamoDbBatchItemFailure::default();
    failure.item_identifier = sequence;
    failure
}

/// The event as it was committed; a detail that is not JSON (never written so) is kept
/// as text rather than dropped.
fn domain_event(detail_type: String, detail: &str) -> DomainEvent {
    DomainEvent {
        detail_type,
        detail: serde_json::from_str(detail)
            .unwrap_or_else(|_| serde_json::Value::String(detail.to_owned())),
    }
}
