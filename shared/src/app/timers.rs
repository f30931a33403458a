//! `handoff-timeout`: wakes on timers (SQS delay or Scheduler) and closes what nobody
//! answered, closes what the contact abandoned, and hands grouped messages to the
//! assistant. The record holds the deadlines; a timer that no longer matches is stale.

use super::events;
use super::outbound::OutboundItem;
use crate::aws::store::message_key;
use crate::domain::{
    conversation::CloseReason,
    inbound::{Timer, TimerKind},
    workspace, Channel, Conversation, ConversationState, DeliveryStatus, Direction, Message,
    MessageContent,
};
use crate::ports::{
    Clock, ConversationStore, EventPublisher, MessageKey, PortError, TimerService, WorkQueue,
    WriteOutcome,
};
use aws_lambda_events::sqs::{SqsBatchResponse, SqsEvent};
use std::sync::Arc;

const MAX_ATTEMPTS: usize = 5;

pub struct TimerHandler {
    pub store: Arc<dyn ConversationStore>,
    pub events: Arc<dyn EventPublisher>,
    pub outbound: Arc<dyn WorkQueue>,
    pub timers: Arc<dyn TimerService>,
    pub clock: Arc<dyn Clock>,
}

#[derive(Debug, thiserror::Error)]
pub enum TimerError {
    #[error(transparent)]
    Port(#[from] PortError),
    #[error("unreadable timer: {0}")]
    Unreadable(String),
    #[error("the conversation kept changing")]
    Contention,
}

/// What a timer found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Stale,
    Rearmed,
    Closed(CloseReason),
    TurnPublished(usize),
}

/// The configured closing message (`before_action_messages`), sent before a handed-off
/// conversation closes, when the window still allows free-form messages. The close stands
/// whatever happens here: a failure is logged.
pub async fn send_closing_message(
    store: &dyn ConversationStore,
    outbound: &dyn WorkQueue,
    channel: &Channel,
    closed: &Conversation,
    now: i64,
) -> Result<(), PortError> {
    if let Err(e) = try_closing_message(store, outbound, channel, closed, now).await {
        tracing::error!(conversation_id = %closed.id, error = %e, "closing message not sent");
    }
    Ok(())
}

async fn try_closing_message(
    store: &dyn ConversationStore,
    outbound: &dyn WorkQueue,
    channel: &Channel,
    closed: &Conversation,
    now: i64,
) -> Result<(), PortError> {
    let (Some(text), Some(_)) = (&channel.handoff.closing_message, &closed.handoff) else {
        return Ok(());
    };
    let window = store
        .contact(&closed.channel, &closed.contact)
        .await?
        .map(|r| r.window(now))
        .unwrap_or_else(|| crate::domain::Window::at(None, now));
    if !window.open {
        return Ok(());
    }
    let message = Message {
        conversation_id: closed.id.clone(),
        id: format!("{}-closing", closed.id),
        direction: Direction::Outbound,
        content: MessageContent::Text { body: text.clone() },
        at: closed.closed_at.unwrap_or(now) - 1,
        stored_at: now,
        status: Some(DeliveryStatus::Accepted),
        error_code: None,
        context_id: None,
        sender: Some("conversa".into()),
        provider_id: None,
        failure: None,
    };
    store.record_outbound(&message).await?;
    let item = OutboundItem {
        key: MessageKey {
            conversation_id: closed.id.clone(),
            message_key: message_key(&message),
        },
        message_id: message.id.clone(),
        channel: closed.channel.clone(),
        to: closed.contact.clone(),
        free_form: true,
        payload: serde_json::json!({"type": "text", "text": {"body": text, "preview_url": false}}),
    };
    let queued = item.queued().map_err(|e| PortError::new("timers", e))?;
    outbound.enqueue(&[queued]).await
}

impl TimerHandler {
    pub async fn handle(&self, event: SqsEvent) -> SqsBatchResponse {
        let mut response = SqsBatchResponse::default();
        for record in &event.records {
            let body = record.body.as_deref().unwrap_or_default();
            let result = match serde_json::from_str::<Timer>(body) {
                Ok(timer) => self.fire(&timer).await.map(|_| ()),
                Err(e) => Err(TimerError::Unreadable(e.to_string())),
            };
            // Timers are independent (a standard queue): only the failed one is retried,
            // and after the redrive limit it waits in the dead-letter queue.
            if let Err(e) = result {
                tracing::warn!(error = %e, message_id = ?record.message_id, "timer failed");
                response.add_failure(record.message_id.clone().unwrap_or_default());
            }
        }
        response
    }

    pub async fn fire(&self, timer: &Timer) -> Result<Outcome, TimerError> {
        for _ in 0..MAX_ATTEMPTS {
            let now = self.clock.now();
            let Some(c) = self.store.conversation(&timer.conversation_id).await? else {
                return Ok(Outcome::Stale);
            };
            // Past its auto-close: it expires, whatever timer woke us.
            if c.is_expired(now) {
                let (_, closed) = super::expiry::close_if_expired(
                    self.store.as_ref(),
                    self.events.as_ref(),
                    self.outbound.as_ref(),
                    c,
                    now,
                )
                .await?;
                return Ok(if closed {
                    Outcome::Closed(CloseReason::Expired)
                } else {
                    Outcome::Stale
                });
            }
            let deadline = match timer.kind {
                TimerKind::HandoffWait => c
                    .handoff
                    .as_ref()
                    .and_then(|h| h.wait_deadline)
                    .filter(|_| c.state == ConversationState::Queued),
                TimerKind::Inactivity => c.inactivity_deadline().filter(|_| {
                    matches!(
                        c.state,
                        ConversationState::Queued
                            | ConversationState::Assigned
                            | ConversationState::OnHold
                    )
                }),
                TimerKind::Grouping => c
                    .turn_deadline
                    .filter(|_| c.state == ConversationState::Bot),
            };
            let Some(deadline) = deadline else {
                tracing::info!(conversation_id = %c.id, kind = ?timer.kind, "stale timer ignored");
                return Ok(Outcome::Stale);
            };
            if timer.kind == TimerKind::HandoffWait && deadline != timer.due_at {
                return Ok(Outcome::Stale);
            }
            if now < deadline {
                // Early (the contact wrote, or more messages came): one timer for the new deadline.
                self.timers
                    .schedule(
                        &Timer {
                            due_at: deadline,
                            ..timer.clone()
                        },
                        now,
                    )
                    .await?;
                return Ok(Outcome::Rearmed);
            }
            let outcome = match timer.kind {
                TimerKind::Grouping => self.flush_turn(&c, now).await?,
                TimerKind::HandoffWait => self.close(&c, CloseReason::Timeout, now).await?,
                TimerKind::Inactivity => {
                    self.close(&c, CloseReason::UserInactivityTimeout, now)
                        .await?
                }
            };
            if let Some(outcome) = outcome {
                return Ok(outcome);
            }
        }
        Err(TimerError::Contention)
    }

    /// None: the conversation changed meanwhile; look again.
    async fn close(
        &self,
        c: &Conversation,
        reason: CloseReason,
        now: i64,
    ) -> Result<Option<Outcome>, TimerError> {
        let Ok(closed) = workspace::close(c, reason, now) else {
            return Ok(Some(Outcome::Stale));
        };
        match self.store.update_conversation(&closed, c.version).await? {
            WriteOutcome::Committed => {
                tracing::info!(conversation_id = %c.id, reason = ?reason, "conversation closed by its timer");
                if let Some(channel) = self.store.channel(&c.channel).await? {
                    send_closing_message(
                        self.store.as_ref(),
                        self.outbound.as_ref(),
                        &channel,
                        &closed,
                        now,
                    )
                    .await?;
                }
                self.events
                    .publish(&[events::conversation_closed(&closed, "conversa")])
                    .await?;
                Ok(Some(Outcome::Closed(reason)))
            }
            _ => Ok(None),
        }
    }

    async fn flush_turn(&self, c: &Conversation, now: i64) -> Result<Option<Outcome>, TimerError> {
        let since = c.last_turn_at.unwrap_or(i64::MIN);
        let messages: Vec<Message> = super::all_messages(self.store.as_ref(), &c.id)
            .await?
            .into_iter()
            .filter(|m| m.direction == Direction::Inbound && m.stored_at > since)
            .collect();
        let mut next = c.clone();
        next.turn_deadline = None;
        next.last_turn_at = Some(now);
        next.version += 1;
        // The turn goes out before the record says it went: a failure in between repeats
        // the turn (same event_id) rather than losing it.
        let cause = format!("{}/{}", c.id, c.turn_deadline.unwrap_or(now));
        self.events
            .publish(&[events::assistant_turn(&next, &messages, &cause)])
            .await?;
        match self.store.update_conversation(&next, c.version).await? {
            WriteOutcome::Committed => {
                tracing::info!(conversation_id = %c.id, messages = messages.len(), "grouped messages handed to the assistant");
                Ok(Some(Outcome::TurnPublished(messages.len())))
            }
            _ => Ok(None),
        }
    }
}
