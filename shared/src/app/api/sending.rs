//! An agent's outbound message, stored and handed to `hsm-send`; shared by starting a
//! conversation with a template and by sending in one.

use super::AgentApi;
use crate::app::auth::Caller;
use crate::app::events;
use crate::app::http::ApiError;
use crate::app::ids::new_id;
use crate::app::outbound_item::{payload_of, OutboundItem};
use crate::domain::{
    template::Template, Conversation, DeliveryStatus, Direction, Message, MessageContent, Millis,
};
use crate::ports::MessageKey;
use lambda_http::http::StatusCode;

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
            failure: None,
        }
    }

    /// Hands a stored message to `hsm-send`. A message that cannot be queued is marked
    /// failed so it is never silently lost.
    pub(super) async fn queue_send(
        &self,
        c: &Conversation,
        m: Message,
        template: Option<&Template>,
        now: Millis,
    ) -> Result<Message, ApiError> {
        let key = MessageKey::of(&m);
        let item = OutboundItem {
            key: key.clone(),
            message_id: m.id.clone(),
            channel: c.channel.clone(),
            to: c.contact.clone(),
            free_form: m.is_free_form(),
            payload: payload_of(&m.content, template),
        };
        let queued = item
            .queued()
            .map_err(|e| ApiError::internal(e.to_string()))?;
        if let Err(e) = self.outbound.enqueue(&[queued]).await {
            tracing::error!(error = %e, conversation_id = %c.id, "outbound message not queued");
            let failed = self
                .sends
                .record_send_failure(
                    &key,
                    None,
                    "not_queued: the send queue was unavailable",
                    now,
                )
                .await?;
            self.events
                .publish(&[events::message_status(&failed)])
                .await?;
            return Err(ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "send_not_queued",
                "the message was stored as failed because the send queue was unavailable; send it again",
            ));
        }
        Ok(m)
    }
}
