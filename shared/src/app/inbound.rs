//! The `inbound` consumer: applies work items from `inbound.fifo` to the table.
//!
//! Redelivery is normal. A message is deduplicated on its provider id inside the same
//! transaction that stores it; its events are published after the commit and marked
//! published, so a crash in between republishes (same `event_id`) instead of losing them.

use super::events;
use crate::domain::{
    conversation::{decide_inbound, InboundDecision},
    phone::mask_phone,
    Channel, DeliveryStatus, Direction, Message,
};
use crate::ports::{
    Clock, ConversationStore, EventPublisher, InboundOutcome, InboundWrite, PortError,
    ProviderMessageRef, QueuedItem, StatusOutcome, StatusUpdate, WorkQueue,
};
use crate::provider::{webhook::InboundMessage, WorkItem};
use aws_lambda_events::sqs::{SqsBatchResponse, SqsEvent, SqsMessage};
use std::sync::Arc;

/// Concurrent writers to one contact are resolved by re-reading; this bounds the loop.
const MAX_ATTEMPTS: usize = 5;

pub struct Inbound {
    pub store: Arc<dyn ConversationStore>,
    pub events: Arc<dyn EventPublisher>,
    pub dead_letters: Arc<dyn WorkQueue>,
    pub clock: Arc<dyn Clock>,
}

/// Why a record was not applied; it stays on the queue and is retried.
#[derive(Debug, thiserror::Error)]
pub enum RetryableError {
    #[error(transparent)]
    Port(#[from] PortError),
    #[error("the conversation kept changing under {0} attempts")]
    Contention(usize),
}

impl Inbound {
    /// FIFO-safe partial failure: at the first failure, that record and every one after
    /// it are reported failed, so nothing of a group is applied out of order.
    pub async fn handle(&self, event: SqsEvent) -> SqsBatchResponse {
        let mut response = SqsBatchResponse::default();
        let mut failed = false;
        for record in &event.records {
            let id = record.message_id.clone().unwrap_or_default();
            if !failed {
                if let Err(e) = self.process(record).await {
                    tracing::warn!(error = %e, message_id = %id, "work item failed; it and the rest of the batch will be retried");
                    failed = true;
                }
            }
            if failed {
                response.add_failure(id);
            }
        }
        response
    }

    pub async fn process(&self, record: &SqsMessage) -> Result<(), RetryableError> {
        let body = record.body.as_deref().unwrap_or_default();
        let item: WorkItem = match serde_json::from_str(body) {
            Ok(item) => item,
            Err(e) => {
                return self
                    .dead_letter(record, body, format!("unreadable work item: {e}"))
                    .await
            }
        };
        match item {
            WorkItem::Message {
                channel,
                contact,
                contact_name,
                message,
            } => {
                let Some(settings) = self.store.channel(&channel).await? else {
                    return self.unknown_channel(record, body, &channel).await;
                };
                self.on_message(&settings, &contact, contact_name, message)
                    .await
            }
            WorkItem::Status {
                message_id,
                status,
                at,
                error_code,
                error_title,
                ..
            } => {
                let Some(status) = DeliveryStatus::parse(&status) else {
                    tracing::info!(%message_id, %status, "status not tracked; ignored");
                    return Ok(());
                };
                self.on_status(StatusUpdate {
                    message_id,
                    status,
                    at,
                    error_code,
                    error_title,
                })
                .await
            }
            WorkItem::Error { channel, errors } => {
                if self.store.channel(&channel).await?.is_none() {
                    return self.unknown_channel(record, body, &channel).await;
                }
                tracing::warn!(%channel, errors = %serde_json::Value::Array(errors.clone()), "provider reported errors");
                let cause = record.message_id.as_deref().unwrap_or("error");
                self.events
                    .publish(&[events::provider_error(&channel, &errors, cause)])
                    .await?;
                Ok(())
            }
        }
    }

    async fn on_message(
        &self,
        channel: &Channel,
        contact: &str,
        contact_name: Option<String>,
        inbound: InboundMessage,
    ) -> Result<(), RetryableError> {
        for _ in 0..MAX_ATTEMPTS {
            let now = self.clock.now();
            let channel_id = channel.id.as_str();
            let record = self.store.contact(channel_id, contact).await?;
            let expected_open = record.as_ref().and_then(|r| r.open_conversation_id.clone());
            let open = match &expected_open {
                Some(id) => self.store.conversation(id).await?,
                None => None,
            };
            let at = inbound.at.min(now);
            let decision = decide_inbound(
                open.as_ref(),
                channel,
                contact,
                || {
                    ulid::Ulid::from_datetime(
                        std::time::UNIX_EPOCH + std::time::Duration::from_millis(now.max(0) as u64),
                    )
                    .to_string()
                },
                at,
                now,
            );
            let conversation = match &decision {
                InboundDecision::Open(c) | InboundDecision::Append(c) => c.clone(),
            };
            let message = Message {
                conversation_id: conversation.id.clone(),
                id: inbound.id.clone(),
                direction: Direction::Inbound,
                content: inbound.content.clone(),
                at,
                stored_at: now,
                status: None,
                error_code: None,
                context_id: inbound.context_id.clone(),
                sender: None,
                provider_id: None,
                failure: None,
            };
            let write = InboundWrite {
                expected_version: open.as_ref().map(|c| c.version),
                decision: decision.clone(),
                message: message.clone(),
                contact_name: contact_name.clone(),
                expected_open,
            };
            match self.store.record_inbound(&write, now).await? {
                InboundOutcome::Committed => {
                    let opened = matches!(decision, InboundDecision::Open(_));
                    tracing::info!(
                        conversation_id = %conversation.id,
                        channel = %channel_id,
                        contact = %mask_phone(contact),
                        message_type = message.content.type_name(),
                        opened,
                        "inbound message stored"
                    );
                    let mut out = Vec::with_capacity(2);
                    if opened {
                        out.push(events::conversation_opened(&conversation, &message.id));
                    }
                    out.push(events::message_received(
                        &conversation,
                        &message,
                        contact_name.as_deref(),
                    ));
                    self.events.publish(&out).await?;
                    self.store.mark_published(&message.id).await?;
                    return Ok(());
                }
                InboundOutcome::Duplicate(reference) => {
                    return self
                        .redelivered(&inbound.id, reference, contact_name.as_deref())
                        .await;
                }
                InboundOutcome::Conflict => {
                    tracing::debug!(contact = %mask_phone(contact), "concurrent write; reading again");
                }
            }
        }
        Err(RetryableError::Contention(MAX_ATTEMPTS))
    }

    /// A message seen before: publish its events only if the first attempt did not.
    async fn redelivered(
        &self,
        message_id: &str,
        reference: ProviderMessageRef,
        contact_name: Option<&str>,
    ) -> Result<(), RetryableError> {
        if reference.published {
            tracing::info!(conversation_id = %reference.conversation_id, "duplicate message ignored");
            return Ok(());
        }
        let conversation = self.store.conversation(&reference.conversation_id).await?;
        let message = self.store.message(&reference).await?;
        if let (Some(conversation), Some(message)) = (conversation, message) {
            let mut out = Vec::with_capacity(2);
            if reference.opened_conversation {
                out.push(events::conversation_opened(&conversation, message_id));
            }
            out.push(events::message_received(
                &conversation,
                &message,
                contact_name,
            ));
            self.events.publish(&out).await?;
        }
        self.store.mark_published(message_id).await?;
        tracing::info!(conversation_id = %reference.conversation_id, "events of a stored message published on redelivery");
        Ok(())
    }

    async fn on_status(&self, update: StatusUpdate) -> Result<(), RetryableError> {
        match self.store.apply_status(&update).await? {
            StatusOutcome::Applied(message) => {
                tracing::info!(
                    conversation_id = %message.conversation_id,
                    status = update.status.as_str(),
                    error_code = ?update.error_code,
                    "message status advanced"
                );
                self.events
                    .publish(&[events::message_status(&message)])
                    .await?;
            }
            StatusOutcome::Stale => {
                tracing::info!(status = update.status.as_str(), "stale status ignored");
            }
            StatusOutcome::Pending => {
                tracing::info!(
                    status = update.status.as_str(),
                    "status for a message not recorded yet; kept pending"
                );
            }
        }
        Ok(())
    }

    async fn unknown_channel(
        &self,
        record: &SqsMessage,
        body: &str,
        channel: &str,
    ) -> Result<(), RetryableError> {
        self.dead_letter(
            record,
            body,
            format!("unknown_channel: phone_number_id {channel} is not configured"),
        )
        .await
    }

    /// Moves an item that can never succeed to the dead-letter queue, with its reason.
    async fn dead_letter(
        &self,
        record: &SqsMessage,
        body: &str,
        reason: String,
    ) -> Result<(), RetryableError> {
        let group_id = record
            .attributes
            .get("MessageGroupId")
            .cloned()
            .unwrap_or_else(|| "dead-letter".into());
        let dedup_id = record
            .attributes
            .get("MessageDeduplicationId")
            .cloned()
            .or_else(|| record.message_id.clone())
            .unwrap_or_else(|| "dead-letter".into());
        tracing::error!(%reason, message_id = ?record.message_id, "work item moved to the dead-letter queue");
        self.dead_letters
            .enqueue(&[QueuedItem {
                body: body.to_owned(),
                group_id,
                dedup_id,
                reason: Some(reason),
            }])
            .await?;
        Ok(())
    }
}
