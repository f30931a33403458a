//! Messages and their delivery statuses.

use super::Millis;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Direction {
    Inbound,
    Outbound,
}

/// What a message carries. Media is kept by reference (id, mime type), never downloaded.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum MessageContent {
    Text {
        body: String,
    },
    Image(Media),
    Audio(Media),
    Video(Media),
    Document(Media),
    Sticker(Media),
    Location {
        latitude: f64,
        longitude: f64,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        name: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        address: Option<String>,
    },
    Contacts {
        contacts: serde_json::Value,
    },
    /// A reply to an interactive button or list message.
    Interactive {
        reply_id: String,
        title: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        description: Option<String>,
    },
    /// A template quick-reply button.
    Button {
        payload: String,
        text: String,
    },
    Reaction {
        message_id: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        emoji: Option<String>,
    },
    /// A type the provider marks unsupported, or one this version does not know.
    Unsupported {
        original_type: String,
    },
    /// An outbound template (HSM).
    Template {
        name: String,
        language: String,
        #[serde(default)]
        parameters: Vec<String>,
    },
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct Media {
    /// The provider's media id (inbound), empty for outbound media sent by link.
    #[serde(default)]
    pub media_id: String,
    /// A public HTTPS link the provider fetches (outbound).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub link: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mime_type: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub caption: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub filename: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sha256: Option<String>,
}

impl MessageContent {
    pub fn type_name(&self) -> &'static str {
        match self {
            MessageContent::Text { .. } => "text",
            MessageContent::Image(_) => "image",
            MessageContent::Audio(_) => "audio",
            MessageContent::Video(_) => "video",
            MessageContent::Document(_) => "document",
            MessageContent::Sticker(_) => "sticker",
            MessageContent::Location { .. } => "location",
            MessageContent::Contacts { .. } => "contacts",
            MessageContent::Interactive { .. } => "interactive",
            MessageContent::Button { .. } => "button",
            MessageContent::Reaction { .. } => "reaction",
            MessageContent::Unsupported { .. } => "unsupported",
            MessageContent::Template { .. } => "template",
        }
    }
}

/// Delivery status of a message. Statuses only move forward, whatever order the
/// provider delivers them in: accepted → sent → delivered → read; `failed` may only
/// follow accepted or sent, and nothing follows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DeliveryStatus {
    Accepted,
    Sent,
    Delivered,
    Read,
    Failed,
}

impl DeliveryStatus {
    /// Position on the forward-only ladder, stored on the record for conditional writes.
    pub fn rank(self) -> u8 {
        match self {
            DeliveryStatus::Accepted => 0,
            DeliveryStatus::Sent => 1,
            DeliveryStatus::Delivered => 2,
            DeliveryStatus::Read => 3,
            DeliveryStatus::Failed => 9,
        }
    }

    /// A record may take this status only while its current rank is below this bound.
    pub fn replaces_ranks_below(self) -> u8 {
        match self {
            DeliveryStatus::Failed => DeliveryStatus::Delivered.rank(),
            other => other.rank(),
        }
    }

    pub fn may_replace(self, current: Option<DeliveryStatus>) -> bool {
        current.is_none_or(|c| c.rank() < self.replaces_ranks_below())
    }

    pub fn parse(raw: &str) -> Option<Self> {
        match raw {
            "accepted" => Some(Self::Accepted),
            "sent" => Some(Self::Sent),
            "delivered" => Some(Self::Delivered),
            "read" => Some(Self::Read),
            "failed" => Some(Self::Failed),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Accepted => "accepted",
            Self::Sent => "sent",
            Self::Delivered => "delivered",
            Self::Read => "read",
            Self::Failed => "failed",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Message {
    pub conversation_id: String,
    /// Provider id (`wamid`).
    pub id: String,
    pub direction: Direction,
    #[serde(flatten)]
    pub content: MessageContent,
    /// When the provider says it happened.
    pub at: Millis,
    /// When conversa stored it.
    pub stored_at: Millis,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<DeliveryStatus>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_code: Option<i64>,
    /// The message this one replies to, when the provider says so.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub context_id: Option<String>,
    /// Who sent an outbound message (agent or assistant id).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sender: Option<String>,
    /// The provider's id (`wamid`) of an outbound message, once the provider accepted it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provider_id: Option<String>,
    /// When the provider accepted an outbound message (delivery latency counts from here).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sent_at: Option<Millis>,
    /// Why an outbound message failed, in words.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failure: Option<String>,
    /// When a send's outcome became unknown (the provider may have accepted it); a status
    /// webhook or the reconcile delay settles it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub outcome_unknown_since: Option<Millis>,
}

impl Message {
    /// Free-form messages need the window; templates do not.
    pub fn is_free_form(&self) -> bool {
        !matches!(self.content, MessageContent::Template { .. })
    }
}

#[cfg(test)]
mod tests {
    use super::DeliveryStatus::*;

    #[test]
    fn statuses_only_move_forward() {
        assert!(Sent.may_replace(Some(Accepted)));
        assert!(Delivered.may_replace(Some(Sent)));
        assert!(Read.may_replace(Some(Delivered)));
        assert!(Read.may_replace(None));
    }

    #[test]
    fn read_then_delivered_stays_read() {
        assert!(!Delivered.may_replace(Some(Read)));
        assert!(!Sent.may_replace(Some(Read)));
        assert!(!Read.may_replace(Some(Read)));
    }

    #[test]
    fn failed_follows_only_accepted_or_sent_and_is_final() {
        assert!(Failed.may_replace(Some(Sent)));
        assert!(Failed.may_replace(Some(Accepted)));
        assert!(!Failed.may_replace(Some(Delivered)));
        assert!(!Failed.may_replace(Some(Read)));
        assert!(!Delivered.may_replace(Some(Failed)));
        assert!(!Read.may_replace(Some(Failed)));
    }
}
