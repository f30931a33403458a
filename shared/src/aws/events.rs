//! EventBridge: every step the outside world hears about.

use crate::ports::{DomainEvent, EventPublisher, PortError, PortResult};
use async_trait::async_trait;
use aws_sdk_eventbridge::types::PutEventsRequestEntry;

pub const EVENT_SOURCE: &str = "conversa";
/// PutEvents takes at most 10 entries per call...
const MAX_ENTRIES: usize = 10;
/// ...and at most 256 KB in all (source, detail-type and detail of every entry).
const MAX_REQUEST_BYTES: usize = 256 * 1024;

/// The entries of one call each: at most ten, and at most 256 KB together.
fn calls(events: &[DomainEvent]) -> Vec<&[DomainEvent]> {
    let mut out = Vec::new();
    let (mut start, mut bytes) = (0, 0);
    for (i, e) in events.iter().enumerate() {
        let size = EVENT_SOURCE.len() + e.detail_type.len() + e.detail.to_string().len();
        if i > start && (i - start == MAX_ENTRIES || bytes + size > MAX_REQUEST_BYTES) {
            out.push(&events[start..i]);
            (start, bytes) = (i, 0);
        }
        bytes += size;
    }
    if start < events.len() {
        out.push(&events[start..]);
    }
    out
}

#[derive(Clone, Debug)]
pub struct EventBridgePublisher {
    client: aws_sdk_eventbridge::Client,
    bus_name: String,
}

impl EventBridgePublisher {
    pub fn new(client: aws_sdk_eventbridge::Client, bus_name: impl Into<String>) -> Self {
        Self {
            client,
            bus_name: bus_name.into(),
        }
    }
}

#[async_trait]
impl EventPublisher for EventBridgePublisher {
    async fn publish(&self, events: &[DomainEvent]) -> PortResult<()> {
        for chunk in calls(events) {
            let entries = chunk
                .iter()
                .map(|e| {
                    PutEventsRequestEntry::builder()
                        .event_bus_name(&self.bus_name)
                        .source(EVENT_SOURCE)
                        .detail_type(&e.detail_type)
                        .detail(e.detail.to_string())
                        .build()
                })
                .collect();
            let out = self
                .client
                .put_events()
                .set_entries(Some(entries))
                .send()
                .await
                .map_err(|e| super::sdk_error("eventbridge", e))?;
            if out.failed_entry_count() > 0 {
                let why: Vec<String> = out
                    .entries()
                    .iter()
                    .filter_map(|e| e.error_message().map(str::to_owned))
                    .collect();
                return Err(PortError::new(
                    "eventbridge",
                    format!(
                        "{} events rejected: {}",
                        out.failed_entry_count(),
                        why.join("; ")
                    ),
                ));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(bytes: usize) -> DomainEvent {
        DomainEvent {
            detail_type: "t".into(),
            detail: serde_json::json!({ "x": "a".repeat(bytes) }),
        }
    }

    #[test]
    fn a_call_takes_at_most_ten_entries_and_256_kb() {
        let small: Vec<DomainEvent> = (0..23).map(|_| event(10)).collect();
        let sizes: Vec<usize> = calls(&small).iter().map(|c| c.len()).collect();
        assert_eq!(sizes, [10, 10, 3]);
        let large: Vec<DomainEvent> = (0..3).map(|_| event(100 * 1024)).collect();
        let sizes: Vec<usize> = calls(&large).iter().map(|c| c.len()).collect();
        assert_eq!(sizes, [2, 1], "two 100 KB events fit a call, three do not");
        assert!(calls(&[]).is_empty());
    }
}
