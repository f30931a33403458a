//! The `inbound` consumer: applies work items from `inbound.fifo` to the table.
//!
//! Redelivery is normal. A message is deduplicated on its provider id inside the same
//! transaction that stores it, and everything it sets in motion (events, automatic sends,
//! timers) commits with it in the outbox: a redelivery finds it all done.

use super::events;
use super::ids::new_id;
use super::metrics::{Metric, Metrics};
use super::outbound_item::{key_of_callback, OutboundItem};
use crate::domain::{
    conversation::InboundDecision, inbound::plan_inbound, phone::mask_phone, Channel,
    DeliveryStatus, Direction, Message, MessageContent,
};
use crate::ports::{
    ChannelStore, Clock, ContactStore, ConversationStore, Effects, EventPublisher, InboundLog,
    InboundOutcome, InboundWrite, MessageKey, PortError, SendLedger, StatusOutcome, StatusUpdate,
    WorkQueue,
};
use crate::provider::{webhook::InboundMessage, WorkItem};
use aws_lambda_events::sqs::{SqsBatchResponse, SqsEvent, SqsMessage};
use std::sync::Arc;

/// Concurrent writers to one contact are resolved by re-reading; this bounds the loop.
const MAX_ATTEMPTS: usize = 5;

pub struct Inbound {
    pub channels: Arc<dyn ChannelStore>,
    pub contacts: Arc<dyn ContactStore>,
    pub conversations: Arc<dyn ConversationStore>,
    pub inbound_log: Arc<dyn InboundLog>,
    /// Statuses settle sends whose outcome was unknown.
    pub sends: Arc<dyn SendLedger>,
    /// Provider errors (no change of state) are published from here.
    pub events: Arc<dyn EventPublisher>,
    pub dead_letters: Arc<dyn WorkQueue>,
    /// Delivery latency and what status webhooks say of sends, flushed once per batch.
    pub metrics: Arc<Metrics>,
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
    /// FIFO-safe partial failure: contacts (message groups) are applied concurrently, each
    /// in order; at a failure, that record and the later records of its contact are
    /// reported failed, and the other contacts go on.
    pub async fn handle(&self, event: SqsEvent) -> SqsBatchResponse {
        let (response, _) =
            super::fifo::process_by_group(&event, "work item", |record| self.process(record)).await;
        self.metrics.flush(self.clock.now());
        response
    }

    pub async fn process(&self, record: &SqsMessage) -> Result<(), RetryableError> {
        let body = record.body.as_deref().unwrap_or_default();
        let item: WorkItem = match super::fifo::read_item(body, "work item") {
            Ok(item) => item,
            Err(reason) => return self.dead_letter(record, body, reason).await,
        };
        match item {
            WorkItem::Message {
                channel,
                contact,
                contact_name,
                opt_out,
                message,
            } => {
                let Some(settings) = self.channels.channel(&channel).await? else {
                    return self.unknown_channel(record, body, &channel).await;
                };
                self.on_message(&settings, &contact, contact_name, opt_out, message)
                    .await
            }
            WorkItem::Status {
                channel,
                message_id,
                status,
                at,
                error_code,
                error_title,
                callback_data,
                ..
            } => {
                let Some(status) = DeliveryStatus::parse(&status) else {
                    tracing::info!(%message_id, %status, "status not tracked; ignored");
                    return Ok(());
                };
                self.on_status(
                    &channel,
                    StatusUpdate {
                        message_id,
                        status,
                        at,
                        error_code,
                        error_title,
                    },
                    callback_data.as_deref(),
                )
                .await
            }
            WorkItem::Error { channel, errors } => {
                if self.channels.channel(&channel).await?.is_none() {
                    return self.unknown_channel(record, body, &channel).await;
                }
                // Codes only: the error texts and details may quote the contact's data.
                let codes: Vec<i64> = errors.iter().filter_map(|e| e["code"].as_i64()).collect();
                tracing::warn!(%channel, ?codes, count = errors.len(), "provider reported errors");
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
        provider_opt_out: bool,
        inbound: InboundMessage,
    ) -> Result<(), RetryableError> {
        if !channel.serves(contact) {
            // The allowlist is on and does not name this number: acknowledged, counted,
            // never routed or answered.
            self.channels.count_filtered(&channel.id).await?;
            tracing::info!(channel = %channel.id, contact = %mask_phone(contact), "message from a number outside the allowlist ignored");
            return Ok(());
        }
        // An opt-out keyword ("PARAR") takes the contact out of campaigns; the message is
        // still a message. Before the record: a redelivery repeats it harmlessly. The
        // provider's own opt-out (SMS: STOP and AWS's other keywords, which the service
        // honours on its side) counts whatever the channel's keywords are.
        let keyword = matches!(&inbound.content, MessageContent::Text { body }
            if crate::domain::campaign::is_opt_out(body, &channel.opt_out_keywords));
        if keyword || provider_opt_out {
            self.contacts.opt_out(&channel.id, contact).await?;
            tracing::info!(channel = %channel.id, contact = %mask_phone(contact), provider_opt_out, "contact opted out of campaigns");
        }
        // One read on the warm path: the contact with its copy of the open conversation.
        // After a conflict the copy may be what lost, so the conversation is read itself.
        let mut trust_copy = true;
        for _ in 0..MAX_ATTEMPTS {
            let now = self.clock.now();
            let channel_id = channel.id.as_str();
            let (record, copy) = self
                .contacts
                .contact_with_open_copy(channel_id, contact)
                .await?;
            let expected_open = record.as_ref().and_then(|r| r.open_conversation_id.clone());
            let open = match (&expected_open, copy.filter(|_| trust_copy)) {
                (Some(_), Some(copy)) => Some(copy),
                (Some(id), None) => self.conversations.conversation(id).await?,
                (None, _) => None,
            };
            let at = inbound.at.min(now);
            let mut plan = plan_inbound(
                open.as_ref(),
                channel,
                contact,
                &inbound.content,
                || new_id(now),
                at,
                now,
            );
            // The newest message of the contact is the one a read receipt marks.
            if plan.conversation.last_inbound_at == Some(at) {
                plan.conversation.last_inbound_id = Some(inbound.id.clone());
            }
            let conversation = plan.conversation.clone();
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
                sent_at: None,
                failure: None,
                outcome_unknown_since: None,
            };
            let auto_messages: Vec<Message> = plan
                .sends
                .iter()
                .enumerate()
                .map(|(i, send)| Message {
                    conversation_id: conversation.id.clone(),
                    id: format!("{}-auto{i}", new_id(now)),
                    direction: Direction::Outbound,
                    content: send.content.clone(),
                    at: now + 1 + i as i64,
                    stored_at: now,
                    status: Some(DeliveryStatus::Accepted),
                    error_code: None,
                    context_id: None,
                    sender: Some("conversa".into()),
                    provider_id: None,
                    sent_at: None,
                    failure: None,
                    outcome_unknown_since: None,
                })
                .collect();
            let sends = auto_messages
                .iter()
                .zip(&plan.sends)
                .map(|(m, send)| OutboundItem {
                    key: MessageKey::of(m),
                    message_id: m.id.clone(),
                    channel: channel.id.clone(),
                    to: contact.to_owned(),
                    free_form: true,
                    payload: send.payload.clone(),
                    pace: None,
                })
                .map(|item| item.queued())
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| PortError::new("inbound", e))?;
            let mut events = Vec::with_capacity(4);
            if let Some(old) = &plan.expired {
                events.push(events::conversation_closed(old, "conversa"));
            }
            if plan.opened {
                events.push(events::conversation_opened(&conversation, &message.id));
            }
            events.push(events::message_received(
                &conversation,
                &message,
                contact_name.as_deref(),
            ));
            if plan.assistant_turn {
                events.push(events::assistant_turn(
                    &conversation,
                    std::slice::from_ref(&message),
                    &message.id,
                ));
            }
            let decision = if plan.opened {
                InboundDecision::Open(conversation.clone())
            } else {
                InboundDecision::Append(conversation.clone())
            };
            let write = InboundWrite {
                expected_version: open.as_ref().filter(|_| !plan.opened).map(|c| c.version),
                decision,
                message: message.clone(),
                contact_name: contact_name.clone(),
                expected_open,
                expired: plan.expired.clone().zip(open.as_ref().map(|c| c.version)),
                auto_messages,
                // Everything the message sets in motion commits with it (the outbox).
                effects: Effects {
                    events,
                    sends,
                    timers: plan.timers.clone(),
                },
            };
            match self.inbound_log.record_inbound(&write, now).await? {
                InboundOutcome::Committed => {
                    tracing::info!(
                        conversation_id = %conversation.id,
                        channel = %channel_id,
                        contact = %mask_phone(contact),
                        message_type = message.content.type_name(),
                        opened = plan.opened,
                        state = ?conversation.state,
                        "inbound message stored"
                    );
                    return Ok(());
                }
                InboundOutcome::Duplicate(reference) => {
                    // Stored before with everything it set in motion: nothing left to do.
                    tracing::info!(conversation_id = %reference.conversation_id, "duplicate message ignored");
                    return Ok(());
                }
                InboundOutcome::Conflict => {
                    trust_copy = false;
                    tracing::debug!(contact = %mask_phone(contact), "concurrent write; reading again");
                }
            }
        }
        Err(RetryableError::Contention(MAX_ATTEMPTS))
    }

    async fn on_status(
        &self,
        channel: &str,
        update: StatusUpdate,
        callback_data: Option<&str>,
    ) -> Result<(), RetryableError> {
        match self
            .inbound_log
            .apply_status(&update, &events::status_effects)
            .await?
        {
            StatusOutcome::Applied(message) => {
                self.status_metrics(channel, &message);
                tracing::info!(
                    conversation_id = %message.conversation_id,
                    status = update.status.as_str(),
                    error_code = ?update.error_code,
                    "message status advanced"
                );
            }
            StatusOutcome::Stale => {
                tracing::info!(status = update.status.as_str(), "stale status ignored");
            }
            StatusOutcome::Pending => {
                // A send whose answer was lost (its outcome unknown) is found through the
                // id it carried: the provider did accept it, under this wamid.
                if let Some(key) = callback_data.and_then(key_of_callback) {
                    let m = self
                        .sends
                        .record_sent(
                            &key,
                            &update.message_id,
                            self.clock.now(),
                            &events::status_effects,
                        )
                        .await?;
                    self.metrics.count(Metric::MessagesSent, channel);
                    tracing::info!(
                        conversation_id = %m.conversation_id,
                        status = update.status.as_str(),
                        "send reconciled by its status"
                    );
                    return Ok(());
                }
                tracing::info!(
                    status = update.status.as_str(),
                    "status for a message not recorded yet; kept pending"
                );
            }
        }
        Ok(())
    }

    /// A status that moved a message: `delivered` ends the delivery latency (from the
    /// provider's acceptance to now, by this function's clock); `failed` is a send the
    /// provider failed after accepting it.
    fn status_metrics(&self, channel: &str, message: &Message) {
        match (message.status, message.sent_at) {
            (Some(DeliveryStatus::Delivered), Some(sent_at)) => {
                let latency = (self.clock.now() - sent_at).max(0);
                self.metrics
                    .record(Metric::DeliveryLatency, channel, latency);
            }
            (Some(DeliveryStatus::Failed), _) => {
                let code = message
                    .error_code
                    .map_or_else(|| "unknown".to_owned(), |c| c.to_string());
                self.metrics.count(Metric::SendsFailed, &code);
            }
            _ => {}
        }
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
        super::fifo::dead_letter(self.dead_letters.as_ref(), record, body, reason).await?;
        Ok(())
    }
}
