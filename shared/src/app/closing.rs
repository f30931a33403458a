//! What closing a conversation sets in motion, shared by the API, the timers and the
//! expiry sweeper: lazy expiry of a conversation past its `expires_at`, and the channel's
//! closing message. Callers reach it downward; it imports none of them.

use super::events;
use super::outbound_item::OutboundItem;
use crate::domain::{
    conversation::CloseReason, workspace, Channel, Conversation, DeliveryStatus, Direction,
    Message, MessageContent, Millis,
};
use crate::ports::{
    ChannelStore, ContactStore, ConversationStore, Effects, MessageKey, MessageLog, PortError,
    WorkQueue, WriteOutcome,
};
use std::sync::Arc;

/// The ports a close touches beyond the conversation record.
#[derive(Clone)]
pub struct Closer {
    pub conversations: Arc<dyn ConversationStore>,
    pub channels: Arc<dyn ChannelStore>,
    pub contacts: Arc<dyn ContactStore>,
    pub messages: Arc<dyn MessageLog>,
    pub outbound: Arc<dyn WorkQueue>,
}

impl Closer {
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
        match self
            .conversations
            .update_conversation(&closed, c.version, &effects)
            .await?
        {
            WriteOutcome::Committed => {
                tracing::info!(conversation_id = %c.id, "conversation expired");
                self.after_close(&closed, now).await?;
                Ok((closed, true))
            }
            _ => {
                let fresh = self.conversations.conversation(&c.id).await?.unwrap_or(c);
                Ok((fresh, false))
            }
        }
    }

    /// After a close committed: the channel's closing message, if it has one.
    pub async fn after_close(&self, closed: &Conversation, now: Millis) -> Result<(), PortError> {
        if let Some(channel) = self.channels.channel(&closed.channel).await? {
            self.send_closing_message(&channel, closed, now).await?;
        }
        Ok(())
    }

    /// The configured closing message (`before_action_messages`), sent before a handed-off
    /// conversation closes, when the window still allows free-form messages. The close
    /// stands whatever happens here: a failure is logged.
    pub async fn send_closing_message(
        &self,
        channel: &Channel,
        closed: &Conversation,
        now: Millis,
    ) -> Result<(), PortError> {
        if let Err(e) = self.try_closing_message(channel, closed, now).await {
            tracing::error!(conversation_id = %closed.id, error = %e, "closing message not sent");
        }
        Ok(())
    }

    async fn try_closing_message(
        &self,
        channel: &Channel,
        closed: &Conversation,
        now: Millis,
    ) -> Result<(), PortError> {
        let (Some(text), Some(_)) = (&channel.handoff.closing_message, &closed.handoff) else {
            return Ok(());
        };
        let window = self
            .contacts
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
            outcome_unknown_since: None,
        };
        self.messages.record_outbound(&message).await?;
        let item = OutboundItem {
            key: MessageKey::of(&message),
            message_id: message.id.clone(),
            channel: closed.channel.clone(),
            to: closed.contact.clone(),
            free_form: true,
            payload: serde_json::json!({"type": "text", "text": {"body": text, "preview_url": false}}),
        };
        let queued = item.queued().map_err(|e| PortError::new("timers", e))?;
        self.outbound.enqueue(&[queued]).await
    }
}
