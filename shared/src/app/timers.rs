//! `handoff-timeout`: wakes on timers (SQS delay or Scheduler) and closes what nobody
//! answered, closes what the contact abandoned, hands grouped messages to the
//! assistant, and runs the campaigns' dispatch ([`super::campaigns`]). The record holds the deadlines; a timer that no longer matches is stale.

use super::campaigns::{CampaignDispatcher, DispatchOutcome};
use super::closing::Closer;
use super::events;
use crate::domain::{
    conversation::CloseReason,
    inbound::{Timer, TimerKind},
    workspace, Conversation, ConversationState, Direction, Message,
};
use crate::ports::{
    Clock, ConversationStore, Effects, MessageLog, PortError, TimerService, WriteOutcome,
};
use aws_lambda_events::sqs::{SqsBatchResponse, SqsEvent};
use std::sync::Arc;

const MAX_ATTEMPTS: usize = 5;

pub struct TimerHandler {
    /// Campaign timers: the dispatcher's pages and scheduled starts.
    pub campaigns: CampaignDispatcher,
    /// `NoReply` timers: the assignment engine's reassignment.
    pub assigner: super::assignment::Assigner,
    pub conversations: Arc<dyn ConversationStore>,
    pub messages: Arc<dyn MessageLog>,
    pub closer: Closer,
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
    /// The human part ended and the assistant has the conversation again.
    HandedBack(CloseReason),
    Campaign(DispatchOutcome),
    /// A silent agent lost the conversation (how many moved: 0 or 1).
    Reassigned(usize),
    TurnPublished(usize),
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
        if timer.kind == TimerKind::CampaignDispatch {
            return Ok(Outcome::Campaign(self.campaigns.fire(timer).await?));
        }
        if timer.kind == TimerKind::NoReply {
            let report = self.assigner.no_reply(timer).await?;
            return Ok(Outcome::Reassigned(report.reassigned));
        }
        for _ in 0..MAX_ATTEMPTS {
            let now = self.clock.now();
            let Some(c) = self.conversations.conversation(&timer.subject).await? else {
                return Ok(Outcome::Stale);
            };
            // Past its auto-close: it expires, whatever timer woke us.
            if c.is_expired(now) {
                let (_, closed) = self.closer.close_if_expired(c, now).await?;
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
                TimerKind::CampaignDispatch | TimerKind::NoReply => None,
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
                TimerKind::CampaignDispatch | TimerKind::NoReply => Some(Outcome::Stale),
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
        match self.closer.hand_back(c, reason, "conversa", now).await? {
            Some((_, WriteOutcome::Committed)) => return Ok(Some(Outcome::HandedBack(reason))),
            Some(_) => return Ok(None),
            None => {}
        }
        let Ok(closed) = workspace::close(c, reason, now) else {
            return Ok(Some(Outcome::Stale));
        };
        let effects = Effects::events([events::conversation_closed(&closed, "conversa")]);
        match self.closer.close(c, &closed, effects, now).await? {
            WriteOutcome::Committed => {
                tracing::info!(conversation_id = %c.id, reason = ?reason, "conversation closed by its timer");
                Ok(Some(Outcome::Closed(reason)))
            }
            _ => Ok(None),
        }
    }

    async fn flush_turn(&self, c: &Conversation, now: i64) -> Result<Option<Outcome>, TimerError> {
        let since = c.last_turn_at.unwrap_or(i64::MIN);
        let messages: Vec<Message> = super::history::all_messages(self.messages.as_ref(), &c.id)
            .await?
            .into_iter()
            .filter(|m| m.direction == Direction::Inbound && m.stored_at > since)
            .collect();
        let mut next = c.clone();
        next.turn_deadline = None;
        next.last_turn_at = Some(now);
        next.version += 1;
        // The turn and the record saying it went commit together: a conflict publishes
        // nothing, and the turn is never sent twice under two ids.
        let cause = format!("{}/{}", c.id, c.turn_deadline.unwrap_or(now));
        let effects = Effects::events([events::assistant_turn(&next, &messages, &cause)]);
        match self
            .conversations
            .update_conversation(&next, c.version, &effects)
            .await?
        {
            WriteOutcome::Committed => {
                tracing::info!(conversation_id = %c.id, messages = messages.len(), "grouped messages handed to the assistant");
                Ok(Some(Outcome::TurnPublished(messages.len())))
            }
            _ => Ok(None),
        }
    }
}
