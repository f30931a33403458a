//! An agent's outbound message and the item that hands it to `hsm-send`; shared by
//! starting a conversation with a template and by sending in one.

use super::AgentApi;
use crate::app::auth::Caller;
use crate::app::http::ApiError;
use crate::app::ids::new_id;
use crate::app::outbound_item::{payload_of, OutboundItem};
use crate::domain::{
    template::Template, Conversation, DeliveryStatus, Direction, Message, MessageContent, Millis,
};
use crate::ports::{MessageKey, QueuedItem};

impl AgentApi {
    pub(super) fn outbound_message(
        &self,
        c: &Conversation,
        content: MessageContent,
        who: &Caller,
        now: Millis,
    ) -> Message {
        Message {
            conversation_id: c.id.clone(),
            id: new_id(now),
            direction: Direction::Outbound,
            content,
            at: now,
            stored_at: now,
            status: Some(DeliveryStatus::Accepted),
            error_code: None,
            context_id: None,
            sender: Some(who.sub.clone()),
            provider_id: None,
            sent_at: None,
            failure: None,
            outcome_unknown_since: None,
        }
    }

    /// The item that hands a stored message to `hsm-send`; it goes in the outbox with the
    /// write that stores the message, so an accepted message always reaches the queue.
    pub(super) fn send_item(
        &self,
        c: &Conversation,
        m: &Message,
        template: Option<&Template>,
    ) -> Result<QueuedItem, ApiError> {
        OutboundItem {
            key: MessageKey::of(m),
            message_id: m.id.clone(),
            channel: c.channel.clone(),
            to: c.contact.clone(),
            free_form: m.is_free_form(),
            payload: payload_of(&m.content, template),
            pace: None,
        }
        .queued()
        .map_err(|e| ApiError::internal(e.to_string()))
    }
}
