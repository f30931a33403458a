//! EventBridge: every step the outside world hears about.

use crate::ports::{DomainEvent, EventPublisher, PortError, PortResult};
use async_trait::async_trait;
use aws_sdk_eventbridge::types::PutEventsRequestEntry;

pub const EVENT_SOURCE: &str = "conversa";
/// PutEvents takes at most 10 entries per call.
const MAX_ENTRIES: usize = 10;

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
        for chunk in events.chunks(MAX_ENTRIES) {
            let entries = chunk
                .iter()
                .map(|e| {
                    PutEventsRequestEntry::builder()
                        .event_bus_name(&self.bus_name)
                        .source(EVENT_SOURCE)
                        .detail_type(e.detail_type)
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
