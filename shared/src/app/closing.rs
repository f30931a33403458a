//! Closing a conversation, shared by the API, the timers and the expiry sweeper: the
//! close with the channel's closing message and the close's events in one transaction,
//! and lazy expiry of a conversation past its `expires_at`. Callers reach it downward;
//! it imports none of them.

use super::events;
use super::outbound_item::automatic_text;
use crate::domain::{conversation::CloseReason, workspace, Conversation, Message, Millis};
use crate::ports::{
    ChannelStore, ContactStore, ConversationStore, Effects, PortError, QueuedItem, WriteOutcome,
};
use std::sync::Arc;

/// The ports a close reads and writes.
#[derive(Clone)]
pub struct Closer {
    pub conversations: Arc<dyn ConversationStore>,
    pub channels: Arc<dyn ChannelStore>,
    pub contacts: Arc<dyn ContactStore>,
}

impl Closer {
    /// Closes a conversation, if nobody changed it since it was read, with the channel's
    /// closing message and the close's events in the same transaction: the close, its
    /// message and its send never part. `Conflict` means read again.
    pub async fn close(
        &self,
        before: &Conversation,
        closed: &Conversation,
        mut effects: Effects,
        now: Millis,
    ) -> Result<WriteOutcome, PortError> {
        let closing = self.closing_message(closed, now).await?;
        if let Some((_, send)) = &closing {
            effects.sends.push(send.clone());
        }
        self.conversations
            .close_conversation(
                closed,
                before.version,
                closing.as_ref().map(|(m, _)| m),
                &effects,
            )
            .await
    }

    /// Ends the human part of a handoff: back to the assistant with `handoff.ended` when
    /// the channel says so ([`workspace::return_to_assistant`]), committed conditionally
    /// on the version read. `None`: it does not apply, close instead.
    pub async fn hand_back(
        &self,
        before: &Conversation,
        status: CloseReason,
        by: &str,
        now: Millis,
    ) -> Result<Option<(Conversation, WriteOutcome)>, PortError> {
        if before.handoff.is_none() || before.assistant.is_none() {
            return Ok(None);
        }
        let Some(channel) = self.channels.channel(&before.channel).await? else {
            return Ok(None);
        };
        let Some(next) = workspace::return_to_assistant(before, status, &channel, now) else {
            return Ok(None);
        };
        let effects = Effects::events([events::handoff_ended(&next, status, by)]);
        let outcome = self
            .conversations
            .update_conversation(&next, before.version, &effects)
            .await?;
        if outcome == WriteOutcome::Committed {
            tracing::info!(conversation_id = %next.id, status = ?status, "handoff ended: back to the assistant");
        }
        Ok(Some((next, outcome)))
    }

    /// Closes an expired conversation (reason `expired`) and tells the world; returns the
    /// conversation as it now is and whether this call closed it. Losing a race means
    /// someone else changed or closed it: the caller gets the fresh record.
    pub async fn close_if_expired(
        &self,
        c: Conversation,
        now: Millis,
    ) -> Result<(Conversation, bool), PortError> {
        if !c.is_expired(now) {
            return Ok((c, false));
        }
        let Ok(closed) = workspace::close(&c, CloseReason::Expired, c.expires_at) else {
            return Ok((c, false));
        };
        let effects = Effects::events([events::conversation_closed(&closed, "conversa")]);
        match self.close(&c, &closed, effects, now).await? {
            WriteOutcome::Committed => {
                tracing::info!(conversation_id = %c.id, "conversation expired");
                Ok((closed, true))
            }
            _ => {
                let fresh = self.conversations.conversation(&c.id).await?.unwrap_or(c);
                Ok((fresh, false))
            }
        }
    }

    /// The configured closing message (`before_action_messages`), sent before a handed-off
    /// conversation closes, when the window still allows free-form messages: the message
    /// for the log and its send.
    async fn closing_message(
        &self,
        closed: &Conversation,
        now: Millis,
    ) -> Result<Option<(Message, QueuedItem)>, PortError> {
        if closed.handoff.is_none() {
            return Ok(None);
        }
        let Some(channel) = self.channels.channel(&closed.channel).await? else {
            return Ok(None);
        };
        let Some(text) = channel.handoff.closing_message.clone() else {
            return Ok(None);
        };
        let record = self
            .contacts
            .contact(&closed.channel, &closed.contact)
            .await?;
        let window = crate::ports::window_of(&closed.channel, record.as_ref(), now);
        if !window.open {
            return Ok(None);
        }
        // Just before the close in the log.
        let at = closed.closed_at.unwrap_or(now) - 1;
        let (message, queued) = automatic_text(closed, "closing", &text, at, now)
            .map_err(|e| PortError::new("closing", e))?;
        Ok(Some((message, queued)))
    }
}
