//! `sms-inbound`: AWS End User Messaging SMS notifications from the SMS topic (SNS) —
//! two-way messages on the business's numbers and its configuration set's delivery
//! events — onto `inbound.fifo`, as the webhook queues Meta's: the same work items, with
//! the same group (channel and contact) and deduplication ids, so deduplication, one open
//! conversation per channel and contact, routing and events are `inbound`'s.
//!
//! Nothing is dropped: a notification that cannot be read, or that names a number which
//! is no SMS channel of this stack, goes to the inbound dead-letter queue with its reason;
//! a failure to queue fails the invocation, and Lambda retries it (SNS invokes
//! asynchronously: after its retries the event goes to the function's on-failure
//! destination).

use crate::domain::{phone::mask_phone, Millis};
use crate::ports::{ChannelStore, PortError, QueuedItem, WorkQueue};
use crate::provider::sms::parse_notification;
use crate::provider::WorkItem;
use aws_lambda_events::sns::{SnsEvent, SnsRecord};
use serde::Serialize;
use sha2::{Digest, Sha256};
use std::sync::Arc;

pub struct SmsInbound {
    /// Which SMS channels this stack has (cached, `CHANNEL_CACHE_SECONDS`).
    pub channels: Arc<dyn ChannelStore>,
    /// `inbound.fifo`.
    pub queue: Arc<dyn WorkQueue>,
    /// The inbound dead-letter queue: notifications that can never be applied.
    pub dead_letters: Arc<dyn WorkQueue>,
}

/// What an invocation did with its notifications.
#[derive(Debug, Default, Clone, PartialEq, Eq, Serialize)]
pub struct SmsReport {
    /// Work items queued on `inbound.fifo`.
    pub queued: usize,
    /// Events with nothing to record (queued, pending).
    pub ignored: usize,
    /// Notifications moved to the dead-letter queue, with their reasons.
    pub dead_lettered: usize,
}

/// Why an invocation failed: Lambda retries it, and the queues' deduplication ids make
/// the retry harmless.
#[derive(Debug, thiserror::Error)]
pub enum SmsInboundError {
    #[error("could not read the channel: {0}")]
    Channel(PortError),
    #[error("could not queue the SMS notification: {0}")]
    Queue(PortError),
    #[error("could not dead-letter the SMS notification: {0}")]
    DeadLetter(PortError),
    #[error("could not encode the work item: {0}")]
    Encode(String),
}

impl SmsInbound {
    pub async fn handle(&self, event: SnsEvent) -> Result<SmsReport, SmsInboundError> {
        let mut report = SmsReport::default();
        let mut queued = Vec::new();
        let mut rejected = Vec::new();
        for record in &event.records {
            let published_at: Millis = record.sns.timestamp.timestamp_millis();
            let item = match parse_notification(&record.sns.message, published_at) {
                Ok(Some(item)) => item,
                Ok(None) => {
                    report.ignored += 1;
                    tracing::info!(sns_message_id = %record.sns.message_id, "SMS event with nothing to record ignored");
                    continue;
                }
                Err(e) => {
                    rejected.push(unreadable(record, e.to_string()));
                    continue;
                }
            };
            let known = self
                .channels
                .channel(item.channel())
                .await
                .map_err(SmsInboundError::Channel)?
                .is_some();
            let encoded = encode(&item)?;
            if known {
                queued.push(encoded);
            } else {
                // Kept as the work item it would have been: once the channel is
                // configured, a redrive to inbound.fifo applies it.
                rejected.push(QueuedItem {
                    reason: Some(format!(
                        "unknown_channel: {} is not an SMS channel of this stack (no channel for that origination number)",
                        item.channel()
                    )),
                    ..encoded
                });
            }
            log_item(&item, known);
        }
        if !queued.is_empty() {
            self.queue.enqueue(&queued).await.map_err(|e| {
                tracing::error!(error = %e, items = queued.len(), "SMS notification not queued; Lambda retries it");
                SmsInboundError::Queue(e)
            })?;
            report.queued = queued.len();
        }
        if !rejected.is_empty() {
            for r in &rejected {
                tracing::warn!(
                    reason = r.reason.as_deref().unwrap_or_default(),
                    "SMS notification moved to the dead-letter queue"
                );
            }
            self.dead_letters.enqueue(&rejected).await.map_err(|e| {
                tracing::error!(error = %e, rejected = rejected.len(), "SMS notification not dead-lettered; Lambda retries it");
                SmsInboundError::DeadLetter(e)
            })?;
            report.dead_lettered = rejected.len();
        }
        Ok(report)
    }
}

fn encode(item: &WorkItem) -> Result<QueuedItem, SmsInboundError> {
    Ok(QueuedItem {
        body: serde_json::to_string(item).map_err(|e| SmsInboundError::Encode(e.to_string()))?,
        group_id: item.group_id(),
        dedup_id: item.dedup_id(),
        reason: None,
    })
}

/// A notification that can never be read, whole, with why: the same one redelivered
/// has the same deduplication id.
fn unreadable(record: &SnsRecord, reason: String) -> QueuedItem {
    let body = record.sns.message.clone();
    QueuedItem {
        dedup_id: hex::encode(Sha256::digest(body.as_bytes())),
        body,
        group_id: "rejected".into(),
        reason: Some(reason),
    }
}

/// One line per notification, numbers masked and no body.
fn log_item(item: &WorkItem, known: bool) {
    match item {
        WorkItem::Message {
            channel,
            contact,
            opt_out,
            ..
        } => {
            tracing::info!(%channel, contact = %mask_phone(contact), opt_out, known, "SMS message read")
        }
        WorkItem::Status {
            channel,
            recipient,
            status,
            ..
        } => {
            tracing::info!(%channel, recipient = %mask_phone(recipient), %status, known, "SMS delivery event read")
        }
        WorkItem::Error { channel, .. } => tracing::info!(%channel, known, "SMS error read"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::Channel;
    use crate::ports::PortResult;
    use async_trait::async_trait;
    use serde_json::json;
    use std::sync::Mutex;

    struct Channels(Vec<String>);

    #[async_trait]
    impl ChannelStore for Channels {
        async fn channel(&self, id: &str) -> PortResult<Option<Channel>> {
            Ok(self
                .0
                .iter()
                .find(|c| c.as_str() == id)
                .map(|c| Channel::new(c, "554830000099")))
        }
        async fn channels(&self) -> PortResult<Vec<Channel>> {
            Ok(vec![])
        }
        async fn put_channel(&self, _: &Channel) -> PortResult<()> {
            Ok(())
        }
        async fn update_channel(&self, _: &Channel, _: u64) -> PortResult<bool> {
            Ok(true)
        }
        async fn reached(&self, _: &str, _: i64, _: i64) -> PortResult<u64> {
            Ok(0)
        }
        async fn count_filtered(&self, _: &str) -> PortResult<()> {
            Ok(())
        }
    }

    #[derive(Default)]
    struct Queue {
        items: Mutex<Vec<QueuedItem>>,
        fail: bool,
    }

    #[async_trait]
    impl WorkQueue for Queue {
        async fn enqueue(&self, items: &[QueuedItem]) -> PortResult<()> {
            if self.fail {
                return Err(PortError::new("sqs", "unavailable"));
            }
            self.items.lock().unwrap().extend(items.iter().cloned());
            Ok(())
        }
        async fn retry_later(&self, _: &str, _: i32) -> PortResult<()> {
            Ok(())
        }
    }

    fn handler(queue: Arc<Queue>, dead: Arc<Queue>) -> SmsInbound {
        SmsInbound {
            channels: Arc::new(Channels(vec!["sms-554830000099".into()])),
            queue,
            dead_letters: dead,
        }
    }

    fn sns(messages: &[serde_json::Value]) -> SnsEvent {
        let records: Vec<_> = messages
            .iter()
            .map(|m| {
                json!({"EventSource": "aws:sns", "EventVersion": "1.0",
                "EventSubscriptionArn": "arn:aws:sns:us-east-1:123456789012:sms:1",
                "Sns": {"Type": "Notification", "MessageId": "1", "TopicArn": "arn:aws:sns:us-east-1:123456789012:sms",
                    "Subject": null, "Message": m.to_string(), "Timestamp": "2025-11-25T08:00:00.000Z",
                    "SignatureVersion": "1", "Signature": "x", "SigningCertUrl": "x", "UnsubscribeUrl": "x",
                    "MessageAttributes": {}}})
            })
            .collect();
        serde_json::from_value(json!({ "Records": records })).unwrap()
    }

    fn message(to: &str) -> serde_json::Value {
        json!({"originationNumber": "+5548999990000", "destinationNumber": to,
            "messageKeyword": "", "messageBody": "oi", "inboundMessageId": "in-1"})
    }

    #[tokio::test]
    async fn a_two_way_message_for_a_channel_of_the_stack_is_queued_in_its_contacts_group() {
        let (queue, dead) = (Arc::new(Queue::default()), Arc::new(Queue::default()));
        let report = handler(queue.clone(), dead.clone())
            .handle(sns(&[message("+554830000099")]))
            .await
            .unwrap();
        assert_eq!(report.queued, 1);
        let items = queue.items.lock().unwrap();
        assert_eq!(items[0].group_id, "sms-554830000099#5548999990000");
        let item: WorkItem = serde_json::from_str(&items[0].body).unwrap();
        assert_eq!(items[0].dedup_id, item.dedup_id());
        assert!(dead.items.lock().unwrap().is_empty());
    }

    #[tokio::test]
    async fn a_notification_for_a_number_that_is_no_channel_is_dead_lettered_with_its_reason() {
        let (queue, dead) = (Arc::new(Queue::default()), Arc::new(Queue::default()));
        let report = handler(queue.clone(), dead.clone())
            .handle(sns(&[message("+554830000777")]))
            .await
            .unwrap();
        assert_eq!((report.queued, report.dead_lettered), (0, 1));
        assert!(queue.items.lock().unwrap().is_empty());
        let dead = dead.items.lock().unwrap();
        let reason = dead[0].reason.clone().unwrap();
        assert!(
            reason.starts_with("unknown_channel: sms-554830000777 "),
            "{reason}"
        );
        // The work item itself, to redrive once the channel exists.
        let _: WorkItem = serde_json::from_str(&dead[0].body).unwrap();
    }

    #[tokio::test]
    async fn an_unreadable_notification_is_dead_lettered_whole_with_its_reason() {
        let (queue, dead) = (Arc::new(Queue::default()), Arc::new(Queue::default()));
        let report = handler(queue, dead.clone())
            .handle(sns(&[json!({"hello": "world"})]))
            .await
            .unwrap();
        assert_eq!(report.dead_lettered, 1);
        let dead = dead.items.lock().unwrap();
        assert_eq!(dead[0].body, r#"{"hello":"world"}"#);
        assert!(dead[0]
            .reason
            .as_deref()
            .unwrap()
            .starts_with("invalid_payload:"));
    }

    #[tokio::test]
    async fn a_pending_event_is_ignored() {
        let (queue, dead) = (Arc::new(Queue::default()), Arc::new(Queue::default()));
        let event = json!({"eventType": "TEXT_PENDING", "messageId": "m1",
            "originationPhoneNumber": "+554830000099", "destinationPhoneNumber": "+5548999990000"});
        let report = handler(queue.clone(), dead.clone())
            .handle(sns(&[event]))
            .await
            .unwrap();
        assert_eq!(report.ignored, 1);
        assert!(queue.items.lock().unwrap().is_empty() && dead.items.lock().unwrap().is_empty());
    }

    #[tokio::test]
    async fn a_failure_to_queue_fails_the_invocation_so_lambda_retries_it() {
        let queue = Arc::new(Queue {
            fail: true,
            ..Queue::default()
        });
        let result = handler(queue, Arc::new(Queue::default()))
            .handle(sns(&[message("+554830000099")]))
            .await;
        assert!(matches!(result, Err(SmsInboundError::Queue(_))));
    }
}
