//! The assignment engine (function `assigner`, on the bus): a conversation waiting in a
//! `round_robin` or `least_busy` queue goes to an online, available agent with room; an
//! agent who frees capacity (closes, transfers away, comes online) gets the oldest
//! waiting conversation of its queues; a silent agent loses the conversation
//! (`NoReply` timers, run by `handoff-timeout`); a contact waiting with nobody online is
//! told the queue's offline message once, and its position when the queue says so.
//!
//! Every write is conditional on the conversation's version and, for the agent, on being
//! available with room, in one transaction (`Assignments::assign`): concurrent arrivals
//! and frees never give a conversation twice or an agent more than its limit, and a
//! redelivered event finds nothing left to do.

use super::events;
use super::outbound_item::automatic_text;
use crate::domain::{
    agent::Agent,
    assignment::{self, NoReplyCheck},
    inbound::{Timer, TimerKind},
    workspace::Queue,
    Conversation, ConversationState, Millis,
};
use crate::ports::{
    AgentStore, AssignOutcome, AssignWrite, Assignments, CapacityGuard, Clock, ConversationStore,
    Effects, ListFilter, PortError, PortResult, QueueList, QueueStore, WorkLists,
};
use serde_json::{json, Value};
use std::sync::Arc;

const ATTEMPTS: usize = 5;
/// A catch-up reads this many waiting conversations per queue to find the oldest.
const CATCH_UP_PAGE: u32 = 1;
/// Position notices count at most this many waiting conversations ahead.
const POSITION_SCAN: u32 = 200;

#[derive(Clone)]
pub struct Assigner {
    pub conversations: Arc<dyn ConversationStore>,
    pub agents: Arc<dyn AgentStore>,
    pub queues: Arc<dyn QueueStore>,
    pub work_lists: Arc<dyn WorkLists>,
    pub assignments: Arc<dyn Assignments>,
    pub clock: Arc<dyn Clock>,
}

/// What handling one event or timer did.
#[derive(Debug, Clone, PartialEq, Eq, Default, serde::Serialize)]
pub struct AssignReport {
    pub assigned: Vec<(String, String)>,
    pub notices: usize,
    pub reassigned: usize,
}

fn id_in(detail: &Value) -> Option<String> {
    detail["conversation"]["id"]
        .as_str()
        .or(detail["conversation_id"].as_str())
        .map(str::to_owned)
}

impl Assigner {
    /// One event from the bus.
    pub async fn on_event(&self, detail_type: &str, detail: &Value) -> PortResult<AssignReport> {
        let mut report = AssignReport::default();
        match detail_type {
            events::CONVERSATION_OPENED
            | events::MESSAGE_RECEIVED
            | events::HANDOFF_REQUESTED
            | events::CONVERSATION_UPDATED => {
                if let Some(id) = id_in(detail) {
                    self.place(&id, None, &mut report).await?;
                }
            }
            events::CONVERSATION_TRANSFERRED => {
                // Back in the queue for not answering: not straight back to that agent.
                let silent = (detail["reason"] == json!("no_reply"))
                    .then(|| detail["from"]["agent"].as_str())
                    .flatten();
                if let Some(id) = id_in(detail) {
                    self.place(&id, silent, &mut report).await?;
                }
                // The agent who did not answer is not given the oldest back at once.
                if detail["reason"] != json!("no_reply") {
                    if let Some(agent) = detail["from"]["agent"].as_str() {
                        self.catch_up(agent, &mut report).await?;
                    }
                }
            }
            events::CONVERSATION_CLOSED => {
                if let Some(agent) = detail["conversation"]["agent"].as_str() {
                    self.catch_up(agent, &mut report).await?;
                }
            }
            events::AGENT_STATUS
                if detail["online"] == json!(true) && detail["status"] == json!("available") =>
            {
                if let Some(agent) = detail["agent"].as_str() {
                    self.catch_up(agent, &mut report).await?;
                }
            }
            _ => {}
        }
        Ok(report)
    }

    /// A conversation that may be waiting: give it to an agent, or tell the contact.
    async fn place(
        &self,
        id: &str,
        except: Option<&str>,
        report: &mut AssignReport,
    ) -> PortResult<()> {
        for _ in 0..ATTEMPTS {
            let now = self.clock.now();
            let Some(c) = self.conversations.conversation(id).await? else {
                return Ok(());
            };
            if c.state != ConversationState::Queued || c.agent.is_some() {
                return Ok(());
            }
            let Some(queue) = self.queue_of(&c).await? else {
                return Ok(());
            };
            let needs_agents = queue.mode.is_automatic() || queue.offline_message.is_some();
            if !needs_agents && queue.position_notice.is_none() {
                return Ok(());
            }
            let agents = self.agents.agents().await?;
            if queue.mode.is_automatic() {
                match self.give(&c, &queue, &agents, except, now).await? {
                    Given::To(agent) => {
                        report.assigned.push((c.id.clone(), agent));
                        return Ok(());
                    }
                    Given::Changed => continue,
                    Given::NoOne => {}
                }
            }
            match self.notice(&c, &queue, &agents, now).await? {
                AssignOutcome::Conflict => continue,
                AssignOutcome::Committed => {
                    report.notices += 1;
                    return Ok(());
                }
                AssignOutcome::AgentUnavailable => return Ok(()),
            }
        }
        Err(PortError::new("assigner", "the conversation kept changing"))
    }

    /// Tries the candidates in order; each write is guarded on the agent's room.
    async fn give(
        &self,
        c: &Conversation,
        queue: &Queue,
        agents: &[Agent],
        except: Option<&str>,
        now: Millis,
    ) -> PortResult<Given> {
        for agent in assignment::candidates(queue, agents, now, except) {
            let Some(next) = assignment::assign(c, &agent.sub, queue, now) else {
                return Ok(Given::Changed);
            };
            let mut effects =
                Effects::events([events::conversation_assigned(&next, "conversa", how(queue))]);
            effects.timers.extend(no_reply_timer(&next));
            match self
                .write(c, next, Some(agent), queue, None, effects, now)
                .await?
            {
                AssignOutcome::Committed => {
                    tracing::info!(conversation_id = %c.id, agent = %agent.sub, queue = %queue.id, "assigned");
                    return Ok(Given::To(agent.sub.clone()));
                }
                AssignOutcome::AgentUnavailable => continue,
                AssignOutcome::Conflict => return Ok(Given::Changed),
            }
        }
        Ok(Given::NoOne)
    }

    /// The offline notice (nobody online) or the position notice, if due.
    async fn notice(
        &self,
        c: &Conversation,
        queue: &Queue,
        agents: &[Agent],
        now: Millis,
    ) -> PortResult<AssignOutcome> {
        let mut next = c.clone();
        next.version += 1;
        let (what, text) = if let Some(text) = assignment::offline_notice(c, queue, agents, now) {
            next.assignment.offline_notified = true;
            ("offline-notice".to_owned(), text)
        } else if queue.position_notice.is_some() {
            let position = self.position(c, queue).await?;
            match assignment::position_notice(c, queue, position, now) {
                Some(text) => {
                    next.assignment.position_told_at = Some(now);
                    (format!("position-{now}"), text)
                }
                None => return Ok(AssignOutcome::AgentUnavailable),
            }
        } else {
            return Ok(AssignOutcome::AgentUnavailable);
        };
        let (message, send) =
            automatic_text(c, &what, &text, now, now).map_err(|e| PortError::new("assigner", e))?;
        next.message_count += 1;
        let effects = Effects {
            sends: vec![send],
            ..Effects::default()
        };
        self.write(c, next, None, queue, Some(message), effects, now)
            .await
    }

    /// 1 = next: how many of the queue's waiting conversations came before this one.
    async fn position(&self, c: &Conversation, queue: &Queue) -> PortResult<usize> {
        let page = self
            .work_lists
            .queue_conversations(
                &queue.id,
                QueueList::Waiting,
                &ListFilter::default(),
                None,
                POSITION_SCAN,
            )
            .await?;
        Ok(page
            .items
            .iter()
            .position(|w| w.id == c.id)
            .map_or(page.items.len() + 1, |i| i + 1))
    }

    /// An agent freed capacity: the oldest waiting conversations of its automatic queues,
    /// while it has room.
    async fn catch_up(&self, sub: &str, report: &mut AssignReport) -> PortResult<()> {
        let queues = self.queues.queues().await?;
        for _ in 0..32 {
            let now = self.clock.now();
            let Some(agent) = self.agents.agent(sub).await? else {
                return Ok(());
            };
            let mut oldest: Option<(Conversation, &Queue)> = None;
            for q in queues
                .iter()
                .filter(|q| q.mode.is_automatic() && agent.serves(&q.id))
            {
                if agent.active >= agent.capacity(q.max_concurrent) || !agent.available(now) {
                    continue;
                }
                let page = self
                    .work_lists
                    .queue_conversations(
                        &q.id,
                        QueueList::Waiting,
                        &ListFilter::default(),
                        None,
                        CATCH_UP_PAGE,
                    )
                    .await?;
                if let Some(c) = page.items.into_iter().next() {
                    let at = c.queued_at.unwrap_or(c.opened_at);
                    if oldest
                        .as_ref()
                        .is_none_or(|(o, _)| at < o.queued_at.unwrap_or(o.opened_at))
                    {
                        oldest = Some((c, q));
                    }
                }
            }
            let Some((c, queue)) = oldest else {
                return Ok(());
            };
            // The list is an index: read the record itself before deciding.
            let Some(c) = self.conversations.conversation(&c.id).await? else {
                continue;
            };
            match self
                .give(&c, queue, std::slice::from_ref(&agent), None, now)
                .await?
            {
                Given::To(a) => report.assigned.push((c.id.clone(), a)),
                Given::Changed => continue,
                Given::NoOne => return Ok(()),
            }
        }
        Ok(())
    }

    /// A `NoReply` timer: the check due at `timer.due_at`.
    pub async fn no_reply(&self, timer: &Timer) -> PortResult<AssignReport> {
        let mut report = AssignReport::default();
        for _ in 0..ATTEMPTS {
            let now = self.clock.now();
            let Some(c) = self.conversations.conversation(&timer.subject).await? else {
                return Ok(report);
            };
            let Some(queue) = self.queue_of(&c).await? else {
                return Ok(report);
            };
            let outcome = match assignment::no_reply_check(&c, timer.due_at, now) {
                NoReplyCheck::Stale => return Ok(report),
                NoReplyCheck::Answered(next) => {
                    self.write(&c, next, None, &queue, None, Effects::default(), now)
                        .await?
                }
                NoReplyCheck::Later(next, _) => {
                    let effects = Effects {
                        timers: no_reply_timer(&next).into_iter().collect(),
                        ..Effects::default()
                    };
                    self.write(&c, next, None, &queue, None, effects, now)
                        .await?
                }
                NoReplyCheck::Due => {
                    let agents = self.agents.agents().await?;
                    let current = c.agent.clone();
                    let mut done = false;
                    for agent in assignment::candidates(&queue, &agents, now, current.as_deref()) {
                        let next = assignment::reassign(&c, Some(&agent.sub), &queue, now);
                        let effects = transferred(&c, &next, json!({"agent": agent.sub}));
                        match self
                            .write(&c, next, Some(agent), &queue, None, effects, now)
                            .await?
                        {
                            AssignOutcome::AgentUnavailable => continue,
                            other => {
                                done = other == AssignOutcome::Committed;
                                break;
                            }
                        }
                    }
                    if done {
                        report.reassigned += 1;
                        return Ok(report);
                    }
                    let next = assignment::reassign(&c, None, &queue, now);
                    let effects = transferred(&c, &next, json!({"queue": queue.id}));
                    let outcome = self
                        .write(&c, next, None, &queue, None, effects, now)
                        .await?;
                    if outcome == AssignOutcome::Committed {
                        report.reassigned += 1;
                    }
                    outcome
                }
            };
            if outcome != AssignOutcome::Conflict {
                return Ok(report);
            }
        }
        Err(PortError::new("assigner", "the conversation kept changing"))
    }

    async fn queue_of(&self, c: &Conversation) -> PortResult<Option<Queue>> {
        match &c.queue {
            Some(q) => self.queues.queue(q).await,
            None => Ok(None),
        }
    }

    #[allow(clippy::too_many_arguments)]
    async fn write(
        &self,
        before: &Conversation,
        next: Conversation,
        guarded: Option<&Agent>,
        queue: &Queue,
        message: Option<crate::domain::Message>,
        effects: Effects,
        now: Millis,
    ) -> PortResult<AssignOutcome> {
        let guard = guarded.map(|a| CapacityGuard {
            agent: a.sub.clone(),
            max: a.capacity(queue.max_concurrent),
        });
        self.assignments
            .assign(&AssignWrite {
                conversation: next,
                expected_version: before.version,
                guard,
                message,
                effects,
                now,
            })
            .await
    }
}

enum Given {
    To(String),
    NoOne,
    Changed,
}

fn how(queue: &Queue) -> &'static str {
    match queue.mode {
        crate::domain::workspace::AssignmentMode::LeastBusy => "least_busy",
        _ => "round_robin",
    }
}

fn no_reply_timer(c: &Conversation) -> Option<Timer> {
    c.assignment.reply_check_at.map(|due_at| Timer {
        subject: c.id.clone(),
        kind: TimerKind::NoReply,
        due_at,
    })
}

/// `conversation.transferred` with `reason: no_reply`, and the new owner's check.
fn transferred(before: &Conversation, after: &Conversation, to: Value) -> Effects {
    let mut event = events::conversation_transferred(before, after, to, "conversa", None);
    event.detail["reason"] = json!("no_reply");
    let mut effects = Effects::events([event]);
    effects.timers.extend(no_reply_timer(after));
    effects
}
