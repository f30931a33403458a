//! Automatic assignment (Rocket.Chat's auto-assignment, Chatwoot's capacity): which
//! online agent gets a waiting conversation, when a silent agent loses it, and what a
//! waiting contact is told. Pure decisions; the store makes each one atomic.

use super::agent::Agent;
use super::workspace::{AssignmentMode, Queue};
use super::{Conversation, ConversationState, Millis};

pub use super::assignment_state::{AssignmentState, PositionNotice};

impl Conversation {
    /// The agent whose load this conversation is: its agent while it is open.
    pub fn load_owner(&self) -> Option<&str> {
        self.agent.as_deref().filter(|_| self.state.is_open())
    }
}

/// The agents that may get a waiting conversation of `queue`, best first: serving the
/// queue, available, below their limit, not `except`. Least busy: fewest open
/// conversations first; round robin (and ties): the one given a conversation longest
/// ago first, then by id so the order is total.
pub fn candidates<'a>(
    queue: &Queue,
    agents: &'a [Agent],
    now: Millis,
    except: Option<&str>,
) -> Vec<&'a Agent> {
    let mut found: Vec<&Agent> = agents
        .iter()
        .filter(|a| a.serves(&queue.id) && a.available(now))
        .filter(|a| a.active < a.capacity(queue.max_concurrent))
        .filter(|a| except != Some(a.sub.as_str()))
        .collect();
    let idle = |a: &Agent| (a.last_assigned_at.unwrap_or(i64::MIN), a.sub.clone());
    match queue.mode {
        AssignmentMode::LeastBusy => found.sort_by_key(|a| (a.active, idle(a))),
        _ => found.sort_by_key(|a| idle(a)),
    }
    found
}

/// Is any agent of the queue online (available or away)?
pub fn anyone_online(queue: &str, agents: &[Agent], now: Millis) -> bool {
    agents.iter().any(|a| a.serves(queue) && a.online(now))
}

/// conversa gives a waiting conversation to `agent`. The contact wrote last, so the
/// no-reply deadline (if the queue has one) starts now.
pub fn assign(c: &Conversation, agent: &str, queue: &Queue, now: Millis) -> Option<Conversation> {
    if c.state != ConversationState::Queued || c.agent.is_some() {
        return None;
    }
    let mut next = c.clone();
    next.state = ConversationState::Assigned;
    next.agent = Some(agent.to_owned());
    next.assigned_at = Some(now);
    next.updated_at = now;
    next.version += 1;
    next.assignment.reply_within = queue.reassign_after_seconds;
    next.assignment.reply_due_at = queue
        .reassign_after_seconds
        .map(|s| now + i64::from(s) * 1000);
    next.assignment.reply_check_at = next.assignment.reply_due_at;
    Some(next)
}

/// The contact wrote in a conversation conversa assigned: the agent's reply is due within
/// the queue's time, counted from the first unanswered message. `true` when no check is
/// live, so the caller arms one (at `reply_check_at`).
pub fn contact_wrote(next: &mut Conversation, now: Millis) -> bool {
    let Some(within) = next.assignment.reply_within else {
        return false;
    };
    if next.state != ConversationState::Assigned || next.agent.is_none() {
        return false;
    }
    if next.assignment.reply_due_at.is_none() {
        next.assignment.reply_due_at = Some(now + i64::from(within) * 1000);
    }
    if next.assignment.reply_check_at.is_none() {
        next.assignment.reply_check_at = next.assignment.reply_due_at;
        return true;
    }
    false
}

/// What the no-reply check due at `due` does now.
#[derive(Debug, Clone, PartialEq)]
pub enum NoReplyCheck {
    /// Not the live check, or nothing to watch any more: stop.
    Stale,
    /// The agent answered: no deadline now; the check ends (a later message arms another).
    Answered(Conversation),
    /// The deadline moved: check again then.
    Later(Conversation, Millis),
    /// The agent did not answer in time: reassign.
    Due,
}

pub fn no_reply_check(c: &Conversation, due: Millis, now: Millis) -> NoReplyCheck {
    if c.assignment.reply_check_at != Some(due)
        || c.state != ConversationState::Assigned
        || c.agent.is_none()
    {
        return NoReplyCheck::Stale;
    }
    let mut next = c.clone();
    next.version += 1;
    match c.assignment.reply_due_at {
        None => {
            next.assignment.reply_check_at = None;
            NoReplyCheck::Answered(next)
        }
        Some(at) if at > now => {
            next.assignment.reply_check_at = Some(at);
            NoReplyCheck::Later(next, at)
        }
        Some(_) => NoReplyCheck::Due,
    }
}

/// The silent agent loses the conversation: to `to` (the next online agent), or back to
/// its queue where it keeps its place.
pub fn reassign(c: &Conversation, to: Option<&str>, queue: &Queue, now: Millis) -> Conversation {
    let mut next = c.clone();
    next.updated_at = now;
    next.version += 1;
    match to {
        Some(agent) => {
            next.agent = Some(agent.to_owned());
            next.assigned_at = Some(now);
            next.assignment.reply_within = queue.reassign_after_seconds;
            next.assignment.reply_due_at = queue
                .reassign_after_seconds
                .map(|s| now + i64::from(s) * 1000);
            next.assignment.reply_check_at = next.assignment.reply_due_at;
        }
        None => {
            next.state = ConversationState::Queued;
            next.agent = None;
            next.assigned_at = None;
            next.queued_at = Some(c.queued_at.unwrap_or(now));
            next.assignment.reply_due_at = None;
            next.assignment.reply_check_at = None;
        }
    }
    next
}

/// The queue's offline notice, once per conversation, when no agent of it is online.
pub fn offline_notice(
    c: &Conversation,
    queue: &Queue,
    agents: &[Agent],
    now: Millis,
) -> Option<String> {
    let text = queue.offline_message.as_ref().filter(|t| !t.is_empty())?;
    let waiting = c.state == ConversationState::Queued && c.agent.is_none();
    (waiting && !c.assignment.offline_notified && !anyone_online(&queue.id, agents, now))
        .then(|| text.clone())
}

/// The waiting contact's position notice (1 = next), if the queue has one and the
/// contact was not told within `every_minutes`.
pub fn position_notice(
    c: &Conversation,
    queue: &Queue,
    position: usize,
    now: Millis,
) -> Option<String> {
    let notice = queue.position_notice.as_ref()?;
    let every = i64::from(notice.every_minutes.max(1)) * 60_000;
    let due = c
        .assignment
        .position_told_at
        .is_none_or(|t| now - t >= every);
    (c.state == ConversationState::Queued && c.agent.is_none() && due)
        .then(|| notice.message.replace("{position}", &position.to_string()))
}

#[cfg(test)]
mod tests;
