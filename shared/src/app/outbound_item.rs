//! One outbound send as `outbound.fifo` carries it to `hsm-send`, and the Graph API
//! message object of a stored message. Everyone who queues a send builds it here.

use crate::domain::{template::Template, MessageContent};
use crate::ports::{MessageKey, QueuedItem};
use serde::{Deserialize, Serialize};
use serde_json::json;

/// One outbound send, as queued by the API.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OutboundItem {
    #[serde(flatten)]
    pub key: MessageKey,
    pub message_id: String,
    pub channel: String,
    /// Who gets it: the contact's `wa_id`.
    pub to: String,
    /// Free-form messages need the window, checked again at send time.
    pub free_form: bool,
    /// The Graph API message object (`type` and its part).
    pub payload: serde_json::Value,
    /// A campaign send: at most this many per second on the channel (`hsm-send` paces).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pace: Option<u32>,
}

/// What a send carries in `biz_opaque_callback_data` (Meta returns it in the send's
/// status webhooks): where the message is, so a status can find a send whose answer was
/// lost.
pub fn callback_data(key: &MessageKey) -> String {
    format!("conversa:{}:{}", key.conversation_id, key.message_key)
}

/// The message a status webhook's `biz_opaque_callback_data` names, if it is ours.
pub fn key_of_callback(data: &str) -> Option<MessageKey> {
    let (conversation_id, message_key) = data.strip_prefix("conversa:")?.split_once(':')?;
    (!conversation_id.is_empty() && message_key.starts_with("MSG#")).then(|| MessageKey {
        conversation_id: conversation_id.to_owned(),
        message_key: message_key.to_owned(),
    })
}

/// Marks the contact's last message read on WhatsApp (`POST .../read`); queued on
/// `outbound.fifo` in the conversation's group like a send, but with no ledger: marking
/// read twice is harmless.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReadReceipt {
    /// Always `read_receipt`: tells it apart from a send on the queue.
    pub kind: String,
    pub channel: String,
    pub conversation_id: String,
    /// The contact's message (`wamid`).
    pub message_id: String,
}

pub const READ_RECEIPT: &str = "read_receipt";

impl ReadReceipt {
    pub fn new(channel: &str, conversation_id: &str, message_id: &str) -> Self {
        Self {
            kind: READ_RECEIPT.into(),
            channel: channel.into(),
            conversation_id: conversation_id.into(),
            message_id: message_id.into(),
        }
    }

    pub fn queued(&self) -> Result<QueuedItem, serde_json::Error> {
        Ok(QueuedItem {
            body: serde_json::to_string(self)?,
            group_id: self.conversation_id.clone(),
            dedup_id: format!("read.{}", self.message_id)
                .chars()
                .filter(|c| c.is_ascii_alphanumeric() || ".-_".contains(*c))
                .take(128)
                .collect(),
            reason: None,
        })
    }
}

impl OutboundItem {
    pub fn queued(&self) -> Result<QueuedItem, serde_json::Error> {
        Ok(QueuedItem {
            body: serde_json::to_string(self)?,
            group_id: self.key.conversation_id.clone(),
            dedup_id: self.message_id.clone(),
            reason: None,
        })
    }
}

/// A text conversa sends by itself in a conversation (offline and position notices):
/// the message for the log, with a stable id (`{conversation}-{what}`), placed at `at`,
/// and its send.
pub fn automatic_text(
    c: &crate::domain::Conversation,
    what: &str,
    text: &str,
    at: crate::domain::Millis,
    now: crate::domain::Millis,
) -> Result<(crate::domain::Message, QueuedItem), serde_json::Error> {
    use crate::domain::{DeliveryStatus, Direction, Message};
    let message = Message {
        conversation_id: c.id.clone(),
        id: format!("{}-{what}", c.id),
        direction: Direction::Outbound,
        content: MessageContent::Text {
            body: text.to_owned(),
        },
        at,
        stored_at: now,
        status: Some(DeliveryStatus::Accepted),
        error_code: None,
        context_id: None,
        sender: Some("conversa".into()),
        provider_id: None,
        sent_at: None,
        failure: None,
        outcome_unknown_since: None,
    };
    let item = OutboundItem {
        key: MessageKey::of(&message),
        message_id: message.id.clone(),
        channel: c.channel.clone(),
        to: c.contact.clone(),
        free_form: true,
        payload: payload_of(&message.content, None),
        pace: None,
    };
    let queued = item.queued()?;
    Ok((message, queued))
}

/// The Graph API message object of an outbound message.
pub fn payload_of(content: &MessageContent, template: Option<&Template>) -> serde_json::Value {
    match content {
        MessageContent::Text { body } => {
            json!({"type": "text", "text": {"body": body, "preview_url": false}})
        }
        MessageContent::Template {
            name,
            language,
            parameters,
        } => json!({
            "type": "template",
            "template": {
                "name": name,
                "language": {"code": language},
                "components": template.map(|t| t.send_components(parameters)).unwrap_or(json!([])),
            }
        }),
        MessageContent::Image(m)
        | MessageContent::Video(m)
        | MessageContent::Document(m)
        | MessageContent::Audio(m)
        | MessageContent::Sticker(m) => {
            let kind = content.type_name();
            let mut part = json!({"link": m.link});
            if let Some(c) = &m.caption {
                part["caption"] = json!(c);
            }
            if let Some(f) = &m.filename {
                part["filename"] = json!(f);
            }
            json!({"type": kind, kind: part})
        }
        other => json!({"type": other.type_name()}),
    }
}
