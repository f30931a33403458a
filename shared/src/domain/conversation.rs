//! Conversations: at most one open per (channel, contact).

use super::{ChannelId, Millis};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Origin {
    Customer,
    Agent,
    Campaign,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ConversationState {
    AwaitingReply,
    Menu,
    Bot,
    Queued,
    Assigned,
    OnHold,
    Closed,
}

impl ConversationState {
    pub fn is_open(self) -> bool {
        self != ConversationState::Closed
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CloseReason {
    AgentClosed,
    UserClosed,
    Timeout,
    UserInactivityTimeout,
    Expired,
    TransferredExternal,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Conversation {
    pub id: String,
    pub channel: ChannelId,
    /// The contact's `wa_id` (digits).
    pub contact: String,
    pub origin: Origin,
    pub state: ConversationState,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub close_reason: Option<CloseReason>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub queue: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agent: Option<String>,
    #[serde(default)]
    pub archived: bool,
    pub opened_at: Millis,
    pub updated_at: Millis,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_inbound_at: Option<Millis>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub closed_at: Option<Millis>,
    /// When the conversation closes if nothing happens (auto-close, 1..=72 h).
    pub expires_at: Millis,
    #[serde(default)]
    pub message_count: u64,
    /// Contact messages its owner has not read yet (the new-message marker, CITSmart).
    #[serde(default)]
    pub unread_count: u32,
    /// The contact's newest message (`wamid`): what a read receipt marks read.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_inbound_id: Option<String>,
    /// When it entered its current queue (wait time is measured from here).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub queued_at: Option<Millis>,
    /// When its current agent took it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub assigned_at: Option<Millis>,
    /// The state a held conversation returns to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub held_from: Option<ConversationState>,
    /// The AI assistant that has (or had) the conversation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub assistant: Option<String>,
    /// Answers to the triage menu that were not an option.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub menu_attempts: u32,
    /// The handoff from the assistant to humans, while it lasts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub handoff: Option<Handoff>,
    /// When the grouped messages go to the assistant as one turn.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub turn_deadline: Option<Millis>,
    /// Messages after this went to no assistant turn yet.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_turn_at: Option<Millis>,
    /// The campaign that started it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub campaign: Option<String>,
    /// Automatic assignment's bookkeeping (reply deadline, notices, the agent counted).
    #[serde(flatten, default)]
    pub assignment: super::assignment_state::AssignmentState,
    /// Optimistic-concurrency counter: every update is conditional on it.
    pub version: u64,
}

fn is_zero(n: &u32) -> bool {
    *n == 0
}

/// A handoff ("transbordo") from the assistant to a queue of humans.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Handoff {
    pub queue: String,
    #[serde(default)]
    pub extra_info: serde_json::Value,
    #[serde(default)]
    pub contact_info: serde_json::Value,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub integration_id: Option<String>,
    pub requested_at: Millis,
    /// Closes with `timeout` if no agent took it by then.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub wait_deadline: Option<Millis>,
    /// Closes with `user_inactivity_timeout` after this long without a contact message.
    #[serde(default)]
    pub inactivity_seconds: u32,
}

impl Conversation {
    /// Auto-close: an open conversation is expired once its `expires_at` has passed.
    pub fn is_expired(&self, now: Millis) -> bool {
        self.state.is_open() && self.expires_at <= now
    }

    /// When the contact's silence closes it, if a handoff set an inactivity timeout.
    pub fn inactivity_deadline(&self) -> Option<Millis> {
        let h = self.handoff.as_ref().filter(|h| h.inactivity_seconds > 0)?;
        let since = self
            .last_inbound_at
            .unwrap_or(h.requested_at)
            .max(h.requested_at);
        Some(since + i64::from(h.inactivity_seconds) * 1000)
    }
}

/// What an inbound customer message does to the (channel, contact) pair.
#[derive(Debug, Clone, PartialEq)]
pub enum InboundDecision {
    /// No open conversation: open one.
    Open(Conversation),
    /// Append to the open conversation, which becomes this.
    Append(Conversation),
}

const HOUR_MILLIS: Millis = 3_600_000;

/// The inbound rule: one open conversation per (channel, contact). A new one enters the
/// channel's default queue; an open one takes the message and pushes its expiry forward.
pub fn decide_inbound(
    open: Option<&Conversation>,
    channel: &super::Channel,
    contact: &str,
    new_id: impl FnOnce() -> String,
    at: Millis,
    now: Millis,
) -> InboundDecision {
    let expires_at = now + i64::from(channel.auto_close_hours) * HOUR_MILLIS;
    match open {
        Some(c) if c.state.is_open() => {
            let mut next = c.clone();
            next.last_inbound_at = Some(next.last_inbound_at.map_or(at, |t| t.max(at)));
            next.updated_at = now;
            next.expires_at = expires_at;
            next.message_count += 1;
            next.unread_count = next.unread_count.saturating_add(1);
            next.version += 1;
            // The contact replied to a business-started conversation: it goes on with
            // the agent who started it (Dígitro); without an agent it waits in the queue.
            // Held while waiting: the reply is what resume goes back to.
            let held_awaiting = next.state == ConversationState::OnHold
                && next.held_from == Some(ConversationState::AwaitingReply);
            if next.state == ConversationState::AwaitingReply || held_awaiting {
                let replied = if next.agent.is_some() {
                    ConversationState::Assigned
                } else {
                    ConversationState::Queued
                };
                if held_awaiting {
                    next.held_from = Some(replied);
                } else {
                    next.state = replied;
                }
                if next.queue.is_none() && next.agent.is_none() {
                    next.queue = Some(channel.default_queue.clone());
                    next.queued_at = Some(now);
                }
            }
            InboundDecision::Append(next)
        }
        _ => InboundDecision::Open(Conversation {
            id: new_id(),
            channel: channel.id.clone(),
            contact: contact.to_owned(),
            origin: Origin::Customer,
            state: ConversationState::Queued,
            close_reason: None,
            queue: Some(channel.default_queue.clone()),
            agent: None,
            archived: false,
            opened_at: now,
            updated_at: now,
            last_inbound_at: Some(at),
            closed_at: None,
            expires_at,
            message_count: 1,
            unread_count: 1,
            last_inbound_id: None,
            queued_at: Some(now),
            assigned_at: None,
            held_from: None,
            assistant: None,
            menu_attempts: 0,
            handoff: None,
            turn_deadline: None,
            last_turn_at: None,
            campaign: None,
            assignment: Default::default(),
            version: 1,
        }),
    }
}

/// Why an agent cannot start a conversation (Dígitro: "Envio de HSM a partir da PA").
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StartError {
    #[error("a conversation with this contact is already in progress on this channel")]
    InProgress { conversation_id: String },
    #[error("the contact has not written in the last 24 hours: start with an approved template")]
    TemplateRequired,
}

/// An agent starts a conversation: refused while one is open; inside the window it starts
/// assigned to the agent with free-form allowed; outside it a template is required and the
/// conversation waits for the contact's reply.
#[allow(clippy::too_many_arguments)]
pub fn decide_start(
    open: Option<&Conversation>,
    window: &super::Window,
    with_template: bool,
    channel: &super::Channel,
    contact: &str,
    agent: &str,
    id: String,
    now: Millis,
) -> Result<Conversation, StartError> {
    if let Some(c) = open.filter(|c| c.state.is_open()) {
        return Err(StartError::InProgress {
            conversation_id: c.id.clone(),
        });
    }
    let state = if window.open {
        ConversationState::Assigned
    } else if with_template {
        ConversationState::AwaitingReply
    } else {
        return Err(StartError::TemplateRequired);
    };
    Ok(Conversation {
        id,
        channel: channel.id.clone(),
        contact: contact.to_owned(),
        origin: Origin::Agent,
        state,
        close_reason: None,
        queue: None,
        agent: Some(agent.to_owned()),
        archived: false,
        opened_at: now,
        updated_at: now,
        last_inbound_at: window.last_inbound_at,
        closed_at: None,
        expires_at: now + i64::from(channel.auto_close_hours) * HOUR_MILLIS,
        message_count: u64::from(with_template),
        unread_count: 0,
        last_inbound_id: None,
        queued_at: None,
        assigned_at: Some(now),
        held_from: None,
        assistant: None,
        menu_attempts: 0,
        handoff: None,
        turn_deadline: None,
        last_turn_at: None,
        campaign: None,
        assignment: Default::default(),
        version: 1,
    })
}

/// Why a message cannot be sent in a conversation.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SendError {
    #[error("the conversation is closed; no more messages can be sent in it")]
    Closed,
    #[error("the contact has not replied yet: only templates can be sent, or the conversation held or closed")]
    AwaitingReply,
    #[error("the 24-hour window is closed: send an approved template instead")]
    WindowClosed { closes_at: Option<Millis> },
}

/// The send rule: templates at any time in an open conversation; free-form only inside
/// the window and never while waiting for the contact's first reply.
pub fn decide_send(
    conversation: &Conversation,
    window: &super::Window,
    free_form: bool,
) -> Result<(), SendError> {
    if !conversation.state.is_open() {
        return Err(SendError::Closed);
    }
    if free_form && conversation.state == ConversationState::AwaitingReply {
        return Err(SendError::AwaitingReply);
    }
    if free_form && !window.open {
        return Err(SendError::WindowClosed {
            closes_at: window.closes_at,
        });
    }
    Ok(())
}

/// An outbound message was accepted in the conversation: activity pushes expiry forward.
pub fn after_outbound(c: &Conversation, channel: &super::Channel, now: Millis) -> Conversation {
    let mut next = c.clone();
    next.updated_at = now;
    next.expires_at = now + i64::from(channel.auto_close_hours) * HOUR_MILLIS;
    next.message_count += 1;
    next.archived = false;
    // Answering the contact is reading what it wrote, and meets the reply deadline.
    next.unread_count = 0;
    next.assignment.reply_due_at = None;
    next.version += 1;
    next
}

#[cfg(test)]
mod tests;
