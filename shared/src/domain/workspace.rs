//! The agent workspace (Voitel Lynk, CITSmart): queues, capture, transfer, hold, archive,
//! close. Pure decisions on a conversation; every one bumps `version`.

use super::{
    conversation::{CloseReason, Conversation, ConversationState},
    Channel, Millis,
};
use serde::{Deserialize, Serialize};

/// How a queue's conversations reach agents.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AssignmentMode {
    /// An agent takes a waiting conversation with "capture".
    ManualCapture,
    /// The first agent to answer takes it (capture by hand also works).
    AutomaticCapture,
}

/// A queue (sector) of human agents.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Queue {
    pub id: String,
    #[serde(default)]
    pub name: String,
    pub mode: AssignmentMode,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WorkspaceError {
    #[error("the conversation is closed")]
    Closed,
    #[error("the conversation was already captured by {agent}")]
    AlreadyCaptured { agent: String },
    #[error("only a conversation waiting in a queue can be captured (it is {state:?})")]
    NotWaiting { state: ConversationState },
    #[error("only a conversation with an agent can be put on hold (it is {state:?})")]
    NotAssigned { state: ConversationState },
    #[error("the conversation is not on hold")]
    NotOnHold,
    #[error("the conversation is already archived")]
    AlreadyArchived,
    #[error("the conversation is not archived")]
    NotArchived,
    #[error("the conversation is already with {target}")]
    SameTarget { target: String },
}

const HOUR_MILLIS: Millis = 3_600_000;

fn touched(c: &Conversation, now: Millis) -> Conversation {
    let mut next = c.clone();
    next.updated_at = now;
    next.version += 1;
    next
}

/// Activity pushes the auto-close deadline forward.
fn active(c: &Conversation, channel: &Channel, now: Millis) -> Conversation {
    let mut next = touched(c, now);
    next.expires_at = now + i64::from(channel.auto_close_hours) * HOUR_MILLIS;
    next
}

fn open(c: &Conversation) -> Result<(), WorkspaceError> {
    if c.state.is_open() {
        Ok(())
    } else {
        Err(WorkspaceError::Closed)
    }
}

/// Capture: a waiting conversation becomes the agent's. Exactly one agent wins because
/// the write is conditional on the version this decision was made on.
pub fn capture(
    c: &Conversation,
    agent: &str,
    channel: &Channel,
    now: Millis,
) -> Result<Conversation, WorkspaceError> {
    open(c)?;
    match (c.state, &c.agent) {
        (ConversationState::Queued, _) => {}
        (ConversationState::Assigned | ConversationState::OnHold, Some(owner)) => {
            return Err(WorkspaceError::AlreadyCaptured {
                agent: owner.clone(),
            })
        }
        (state, _) => return Err(WorkspaceError::NotWaiting { state }),
    }
    let mut next = active(c, channel, now);
    next.state = ConversationState::Assigned;
    next.agent = Some(agent.to_owned());
    next.assigned_at = Some(now);
    Ok(next)
}

pub fn transfer_to_agent(
    c: &Conversation,
    agent: &str,
    channel: &Channel,
    now: Millis,
) -> Result<Conversation, WorkspaceError> {
    open(c)?;
    if c.agent.as_deref() == Some(agent) && c.state == ConversationState::Assigned {
        return Err(WorkspaceError::SameTarget {
            target: agent.to_owned(),
        });
    }
    let mut next = active(c, channel, now);
    next.state = ConversationState::Assigned;
    next.agent = Some(agent.to_owned());
    next.assigned_at = Some(now);
    Ok(next)
}

/// Back to waiting, in another (or the same) queue; the history stays with it.
pub fn transfer_to_queue(
    c: &Conversation,
    queue: &str,
    channel: &Channel,
    now: Millis,
) -> Result<Conversation, WorkspaceError> {
    open(c)?;
    if c.state == ConversationState::Queued && c.queue.as_deref() == Some(queue) {
        return Err(WorkspaceError::SameTarget {
            target: queue.to_owned(),
        });
    }
    let mut next = active(c, channel, now);
    next.state = ConversationState::Queued;
    next.queue = Some(queue.to_owned());
    next.agent = None;
    next.queued_at = Some(now);
    next.assigned_at = None;
    Ok(next)
}

/// Handed to a third-party platform, which continues through the API.
pub fn transfer_external(c: &Conversation, now: Millis) -> Result<Conversation, WorkspaceError> {
    close(c, CloseReason::TransferredExternal, now)
}

pub fn hold(c: &Conversation, now: Millis) -> Result<Conversation, WorkspaceError> {
    open(c)?;
    // A conversation an agent started and that waits for the reply may be held too (Dígitro).
    if !matches!(
        c.state,
        ConversationState::Assigned | ConversationState::AwaitingReply
    ) {
        return Err(WorkspaceError::NotAssigned { state: c.state });
    }
    let mut next = touched(c, now);
    next.held_from = Some(c.state);
    next.state = ConversationState::OnHold;
    Ok(next)
}

pub fn resume(c: &Conversation, now: Millis) -> Result<Conversation, WorkspaceError> {
    open(c)?;
    if c.state != ConversationState::OnHold {
        return Err(WorkspaceError::NotOnHold);
    }
    let mut next = touched(c, now);
    next.state = c.held_from.unwrap_or(ConversationState::Assigned);
    next.held_from = None;
    Ok(next)
}

pub fn archive(c: &Conversation, now: Millis) -> Result<Conversation, WorkspaceError> {
    if c.archived {
        return Err(WorkspaceError::AlreadyArchived);
    }
    let mut next = touched(c, now);
    next.archived = true;
    Ok(next)
}

pub fn unarchive(c: &Conversation, now: Millis) -> Result<Conversation, WorkspaceError> {
    if !c.archived {
        return Err(WorkspaceError::NotArchived);
    }
    let mut next = touched(c, now);
    next.archived = false;
    Ok(next)
}

/// Close: no more sends; the contact's next message opens a new conversation.
pub fn close(
    c: &Conversation,
    reason: CloseReason,
    now: Millis,
) -> Result<Conversation, WorkspaceError> {
    open(c)?;
    let mut next = touched(c, now);
    next.state = ConversationState::Closed;
    next.close_reason = Some(reason);
    next.closed_at = Some(now);
    next.held_from = None;
    Ok(next)
}

/// Who may act on a conversation: supervisors on all; agents on those of their queues or
/// assigned to them; assistants on those with the assistant.
pub fn may_act(
    role_is_supervisor: bool,
    role_is_assistant: bool,
    who: &str,
    queues: &[String],
    c: &Conversation,
) -> bool {
    if role_is_supervisor {
        return true;
    }
    if role_is_assistant {
        // The assistant works the conversations routed to it, also after a handoff (it
        // closes them on the contact's behalf and hears how they ended).
        return matches!(c.state, ConversationState::Bot | ConversationState::Menu)
            || c.assistant.is_some();
    }
    c.agent.as_deref() == Some(who) || c.queue.as_ref().is_some_and(|q| queues.contains(q))
}

/// Once an agent captured a conversation, only that agent answers it.
pub fn owner_other_than(c: &Conversation, who: &str) -> Option<String> {
    match (&c.state, &c.agent) {
        (ConversationState::Assigned | ConversationState::OnHold, Some(owner)) if owner != who => {
            Some(owner.clone())
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::conversation::{decide_inbound, InboundDecision};

    fn channel() -> Channel {
        Channel::new("100000000000001", "554830000001")
    }

    fn queued() -> Conversation {
        match decide_inbound(None, &channel(), "5548999990000", || "c1".into(), 0, 0) {
            InboundDecision::Open(c) => c,
            _ => unreachable!(),
        }
    }

    #[test]
    fn capture_assigns_a_waiting_conversation_to_the_agent() {
        let c = capture(&queued(), "ana", &channel(), 10).unwrap();
        assert_eq!(
            (c.state, c.agent.as_deref(), c.version),
            (ConversationState::Assigned, Some("ana"), 2)
        );
        assert_eq!(c.expires_at, 10 + 24 * HOUR_MILLIS, "a capture is activity");
    }

    #[test]
    fn a_captured_conversation_cannot_be_captured_again() {
        let c = capture(&queued(), "ana", &channel(), 10).unwrap();
        assert_eq!(
            capture(&c, "bia", &channel(), 11),
            Err(WorkspaceError::AlreadyCaptured {
                agent: "ana".into()
            })
        );
    }

    #[test]
    fn transfer_to_a_queue_puts_it_back_to_waiting_without_agent() {
        let c = capture(&queued(), "ana", &channel(), 10).unwrap();
        let t = transfer_to_queue(&c, "sales", &channel(), 20).unwrap();
        assert_eq!(
            (t.state, t.queue.as_deref(), t.agent.as_deref(), t.queued_at),
            (ConversationState::Queued, Some("sales"), None, Some(20))
        );
    }

    #[test]
    fn transfer_to_an_external_platform_closes_with_transferred_external() {
        let t = transfer_external(&queued(), 30).unwrap();
        assert_eq!(
            (t.state, t.close_reason),
            (
                ConversationState::Closed,
                Some(CloseReason::TransferredExternal)
            )
        );
    }

    #[test]
    fn hold_and_resume_return_to_the_state_before() {
        let c = capture(&queued(), "ana", &channel(), 10).unwrap();
        let h = hold(&c, 11).unwrap();
        assert_eq!(h.state, ConversationState::OnHold);
        assert_eq!(resume(&h, 12).unwrap().state, ConversationState::Assigned);
        assert_eq!(resume(&c, 12), Err(WorkspaceError::NotOnHold));
        assert!(matches!(
            hold(&queued(), 11),
            Err(WorkspaceError::NotAssigned { .. })
        ));
    }

    #[test]
    fn close_is_final() {
        let c = close(&queued(), CloseReason::AgentClosed, 5).unwrap();
        assert_eq!(
            (c.state, c.close_reason, c.closed_at),
            (
                ConversationState::Closed,
                Some(CloseReason::AgentClosed),
                Some(5)
            )
        );
        assert_eq!(
            close(&c, CloseReason::AgentClosed, 6),
            Err(WorkspaceError::Closed)
        );
        assert_eq!(
            capture(&c, "ana", &channel(), 6),
            Err(WorkspaceError::Closed)
        );
    }

    #[test]
    fn archive_is_a_flag_not_a_state() {
        let c = close(&queued(), CloseReason::AgentClosed, 5).unwrap();
        let a = archive(&c, 6).unwrap();
        assert!(a.archived);
        assert_eq!(a.state, ConversationState::Closed);
        assert_eq!(archive(&a, 7), Err(WorkspaceError::AlreadyArchived));
        assert!(!unarchive(&a, 7).unwrap().archived);
    }

    #[test]
    fn agents_act_only_on_their_queues_or_their_conversations() {
        let c = queued();
        assert!(may_act(false, false, "ana", &["support".into()], &c));
        assert!(!may_act(false, false, "ana", &["sales".into()], &c));
        assert!(may_act(true, false, "boss", &[], &c));
        let mine = capture(&c, "ana", &channel(), 1).unwrap();
        let mut moved = mine.clone();
        moved.queue = Some("sales".into());
        assert!(may_act(false, false, "ana", &[], &moved));
        assert_eq!(owner_other_than(&mine, "bia"), Some("ana".into()));
        assert_eq!(owner_other_than(&mine, "ana"), None);
    }
}
