//! The agent workspace (Voitel Lynk, CITSmart): queues, capture, transfer, hold, archive,
//! close. Pure decisions on a conversation; every one bumps `version`.

use super::{
    conversation::{CloseReason, Conversation, ConversationState},
    Channel, Millis,
};
use serde::{Deserialize, Serialize};

/// How a queue's conversations reach agents (Voitel Lynk: "modo de atribuição").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum AssignmentMode {
    /// An agent takes a waiting conversation with "capture".
    #[serde(rename = "manual", alias = "manual_capture")]
    ManualCapture,
    /// The first agent to answer takes it (capture by hand also works).
    #[serde(rename = "first_reply", alias = "automatic_capture")]
    AutomaticCapture,
    /// Given on arrival to the online, available agent with room who waited longest.
    #[serde(rename = "round_robin")]
    RoundRobin,
    /// Given on arrival to the online, available agent with room and the fewest open
    /// conversations.
    #[serde(rename = "least_busy")]
    LeastBusy,
}

impl AssignmentMode {
    /// conversa gives the queue's conversations to agents (no capture needed).
    pub fn is_automatic(self) -> bool {
        matches!(self, Self::RoundRobin | Self::LeastBusy)
    }
}

/// A queue (sector, "serviço") of human agents. Supervisors create and change them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Queue {
    pub id: String,
    #[serde(default)]
    pub name: String,
    #[serde(rename = "assignment", alias = "mode")]
    pub mode: AssignmentMode,
    /// Told to a contact whose conversation waits while no agent of the queue is online.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub offline_message: Option<String>,
    /// Conversations an agent of this queue takes at once unless the agent says.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_concurrent: Option<u32>,
    /// Automatic modes: a contact message left this long without an agent reply moves the
    /// conversation to the next online agent, or back to the queue.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reassign_after_seconds: Option<u32>,
    /// Tell a waiting contact its position (off unless set).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub position_notice: Option<super::assignment_state::PositionNotice>,
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
    #[error("the contact has not replied yet: only templates, hold and close are allowed")]
    AwaitingReply,
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

/// Until the contact replies to a business-started conversation only templates, hold and
/// close are allowed (Dígitro); a held one that still waits for the reply counts too.
pub fn awaiting_reply(c: &Conversation) -> bool {
    c.state == ConversationState::AwaitingReply
        || (c.state == ConversationState::OnHold
            && c.held_from == Some(ConversationState::AwaitingReply))
}

fn not_awaiting(c: &Conversation) -> Result<(), WorkspaceError> {
    if awaiting_reply(c) {
        Err(WorkspaceError::AwaitingReply)
    } else {
        Ok(())
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
    not_awaiting(c)?;
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
    not_awaiting(c)?;
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
    open(c)?;
    not_awaiting(c)?;
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
    not_awaiting(c)?;
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

/// The human part of a handoff ended with `status` and the channel hands the
/// conversation back to its assistant (`handoff.return_to_assistant`): it leaves the
/// queue and the agent, and the assistant has it again. `None` when this does not apply
/// (no handoff, no assistant, setting off, or another reason): then it closes.
pub fn return_to_assistant(
    c: &Conversation,
    status: CloseReason,
    channel: &Channel,
    now: Millis,
) -> Option<Conversation> {
    let ends_human_part = matches!(
        status,
        CloseReason::AgentClosed
            | CloseReason::UserClosed
            | CloseReason::Timeout
            | CloseReason::UserInactivityTimeout
    );
    if !(ends_human_part
        && channel.handoff.return_to_assistant
        && c.state.is_open()
        && c.handoff.is_some()
        && c.assistant.is_some())
    {
        return None;
    }
    let mut next = active(c, channel, now);
    next.state = ConversationState::Bot;
    next.queue = None;
    next.queued_at = None;
    next.agent = None;
    next.assigned_at = None;
    next.held_from = None;
    next.handoff = None;
    Some(next)
}

/// Who may see and work a conversation (Voitel Lynk): supervisors all; an assistant the
/// ones routed to it; an agent its own, and those of its queues that no agent has taken.
/// Once captured only the owner (and supervisors) see it, closed or not.
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
        return c.assistant.as_deref() == Some(who);
    }
    match &c.agent {
        Some(owner) => owner == who,
        None => in_queues(queues, c),
    }
}

/// Capture asks less than [`may_act`]: the queue is enough, so the loser of a race
/// hears who won (409) instead of a 403.
pub fn may_capture(
    role_is_supervisor: bool,
    who: &str,
    queues: &[String],
    c: &Conversation,
) -> bool {
    role_is_supervisor || c.agent.as_deref() == Some(who) || in_queues(queues, c)
}

fn in_queues(queues: &[String], c: &Conversation) -> bool {
    c.queue.as_ref().is_some_and(|q| queues.contains(q))
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

    #[test]
    fn the_human_part_ends_back_with_the_assistant_when_the_channel_says_so() {
        let mut c = queued();
        c.assistant = Some("ana-bot".into());
        c.handoff = Some(crate::domain::conversation::Handoff {
            queue: "support".into(),
            extra_info: serde_json::Value::Null,
            contact_info: serde_json::Value::Null,
            integration_id: None,
            requested_at: 0,
            wait_deadline: None,
            inactivity_seconds: 0,
        });
        let mine = capture(&c, "ana", &channel(), 1).unwrap();
        assert_eq!(
            return_to_assistant(&mine, CloseReason::AgentClosed, &channel(), 2),
            None,
            "off by default: the conversation closes"
        );
        let mut ch = channel();
        ch.handoff.return_to_assistant = true;
        for status in [
            CloseReason::AgentClosed,
            CloseReason::UserClosed,
            CloseReason::Timeout,
            CloseReason::UserInactivityTimeout,
        ] {
            let back = return_to_assistant(&mine, status, &ch, 2).unwrap();
            assert_eq!(
                (
                    back.state,
                    back.agent.as_deref(),
                    back.queue.as_deref(),
                    back.handoff.is_none()
                ),
                (ConversationState::Bot, None, None, true)
            );
            assert_eq!(back.assistant.as_deref(), Some("ana-bot"));
        }
        assert_eq!(
            return_to_assistant(&mine, CloseReason::Expired, &ch, 2),
            None
        );
        assert_eq!(
            return_to_assistant(&queued(), CloseReason::AgentClosed, &ch, 2),
            None
        );
    }

    #[test]
    fn only_the_owner_sees_a_captured_session() {
        let support = ["support".to_owned()];
        let waiting = queued();
        assert!(
            may_act(false, false, "bia", &support, &waiting),
            "queued: the queue sees it"
        );
        let mine = capture(&waiting, "ana", &channel(), 1).unwrap();
        assert!(may_act(false, false, "ana", &support, &mine));
        assert!(
            !may_act(false, false, "bia", &support, &mine),
            "a colleague does not"
        );
        assert!(
            may_act(true, false, "boss", &[], &mine),
            "a supervisor does"
        );
        assert!(
            may_capture(false, "bia", &support, &mine),
            "capture answers who won"
        );
        let closed = close(&mine, CloseReason::AgentClosed, 2).unwrap();
        assert!(!may_act(false, false, "bia", &support, &closed));
        assert!(may_act(false, false, "ana", &support, &closed));
    }

    #[test]
    fn an_assistant_acts_only_on_the_conversations_routed_to_it() {
        let mut c = queued();
        c.state = ConversationState::Bot;
        c.assistant = Some("ana-bot".into());
        assert!(may_act(false, true, "ana-bot", &[], &c));
        assert!(!may_act(false, true, "other-bot", &[], &c));
        c.assistant = None;
        assert!(!may_act(false, true, "ana-bot", &[], &c));
    }

    #[test]
    fn awaiting_reply_allows_only_templates_hold_and_close() {
        let mut c = queued();
        c.state = ConversationState::AwaitingReply;
        c.agent = Some("ana".into());
        let ch = channel();
        assert_eq!(
            transfer_to_queue(&c, "sales", &ch, 1),
            Err(WorkspaceError::AwaitingReply)
        );
        assert_eq!(
            transfer_to_agent(&c, "bia", &ch, 1),
            Err(WorkspaceError::AwaitingReply)
        );
        assert_eq!(transfer_external(&c, 1), Err(WorkspaceError::AwaitingReply));
        assert_eq!(archive(&c, 1), Err(WorkspaceError::AwaitingReply));
        let held = hold(&c, 1).unwrap();
        assert_eq!(
            archive(&held, 2),
            Err(WorkspaceError::AwaitingReply),
            "held, still waiting"
        );
        assert!(close(&held, CloseReason::AgentClosed, 2).is_ok());
    }

    #[test]
    fn a_reply_while_on_hold_makes_resume_land_in_assigned() {
        use crate::domain::conversation::{decide_inbound, InboundDecision};
        let mut c = queued();
        c.state = ConversationState::AwaitingReply;
        c.agent = Some("ana".into());
        let held = hold(&c, 1).unwrap();
        let InboundDecision::Append(replied) = decide_inbound(
            Some(&held),
            &channel(),
            "5548999990000",
            || "x".into(),
            2,
            2,
        ) else {
            panic!("append")
        };
        assert_eq!(replied.state, ConversationState::OnHold, "still on hold");
        assert_eq!(
            resume(&replied, 3).unwrap().state,
            ConversationState::Assigned
        );
        assert_eq!(
            resume(&held, 3).unwrap().state,
            ConversationState::AwaitingReply,
            "no reply yet"
        );
    }
}
