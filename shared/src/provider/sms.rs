//! AWS End User Messaging SMS notifications, as its SNS topics deliver them, read into the
//! same work items as Meta's webhooks: a two-way message on a number becomes
//! [`WorkItem::Message`], a configuration set's delivery event [`WorkItem::Status`].
//!
//! Sources (AWS End User Messaging SMS User Guide):
//! - two-way messages: "Example of a two-way SMS message payload for Amazon SNS topics"
//!   (`originationNumber`, `destinationNumber`, `messageKeyword`, `messageBody`,
//!   `inboundMessageId`, `previousPublishedMessageId`; no timestamp: the SNS
//!   notification's stands in);
//! - delivery events: "Example SMS event data" and "Event types for SMS, MMS, and voice"
//!   (`eventType`, `eventTimestamp` in milliseconds, `messageId`,
//!   `originationPhoneNumber`, `destinationPhoneNumber`, `messageStatus`,
//!   `messageStatusDescription`, `context`);
//! - opt-out keywords: "Required opt-out keywords".

use super::webhook::{InboundMessage, WorkItem};
use crate::domain::{channel::ChannelKind, phone::Phone, MessageContent, Millis};
use serde::Deserialize;
use serde_json::{Map, Value};

/// The opt-out keywords AWS End User Messaging SMS honours on every number (case
/// insensitive): a contact who answers one is on the account's opt-out list, whatever
/// the channel's own `opt_out_keywords` say.
pub const OPT_OUT_KEYWORDS: [&str; 10] = [
    "ARRET",
    "CANCEL",
    "END",
    "OPT-OUT",
    "OPTOUT",
    "QUIT",
    "REMOVE",
    "STOP",
    "TD",
    "UNSUBSCRIBE",
];

/// The key of a send's `Context` that carries its callback data (what WhatsApp calls
/// `biz_opaque_callback_data`); delivery events hand the context back.
pub const CALLBACK_CONTEXT_KEY: &str = "conversa";

/// Why a notification cannot be read. The texts name what was wrong, never the values
/// (numbers and bodies stay out of reasons and logs).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SmsNotificationError {
    #[error("invalid_payload: the SNS message is not JSON ({0})")]
    Malformed(String),
    #[error("invalid_payload: not an AWS End User Messaging SMS notification (neither a two-way message with inboundMessageId nor a delivery event with eventType)")]
    Unknown,
    #[error("invalid_payload: unreadable {what} ({detail})")]
    Unreadable { what: &'static str, detail: String },
    #[error("invalid_payload: {field} of the {what} is not a phone number")]
    NotANumber {
        what: &'static str,
        field: &'static str,
    },
    #[error("unsupported_event: SMS event type {0} is not one conversa reads")]
    UnknownEventType(String),
}

/// What an SMS event type means for the message's delivery status.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SmsEvent {
    /// Accepted by the recipient's carrier: `sent`.
    Sent,
    /// Delivered to the handset: `delivered`.
    Delivered,
    /// Not delivered, and it will not be: `failed`.
    Failed,
    /// On its way (queued, pending): nothing to record.
    InFlight,
}

impl SmsEvent {
    /// The event type's meaning; `None` for a type that is not an SMS delivery event.
    pub fn of(event_type: &str) -> Option<Self> {
        Some(match event_type {
            "TEXT_SUCCESSFUL" => Self::Sent,
            "TEXT_DELIVERED" => Self::Delivered,
            "TEXT_QUEUED" | "TEXT_PENDING" => Self::InFlight,
            "TEXT_BLOCKED"
            | "TEXT_TTL_EXPIRED"
            | "TEXT_CARRIER_UNREACHABLE"
            | "TEXT_INVALID"
            | "TEXT_INVALID_MESSAGE"
            | "TEXT_CARRIER_BLOCKED"
            | "TEXT_UNREACHABLE"
            | "TEXT_SPAM"
            | "TEXT_UNKNOWN"
            | "TEXT_PROTECT_BLOCKED" => Self::Failed,
            _ => return None,
        })
    }

    /// The delivery status it records (`WorkItem::Status.status`), if any.
    pub fn status(self) -> Option<&'static str> {
        match self {
            Self::Sent => Some("sent"),
            Self::Delivered => Some("delivered"),
            Self::Failed => Some("failed"),
            Self::InFlight => None,
        }
    }
}

/// Is this two-way message's keyword one of AWS's opt-out keywords?
pub fn is_opt_out_keyword(keyword: &str) -> bool {
    let keyword = keyword.trim();
    OPT_OUT_KEYWORDS
        .iter()
        .any(|k| k.eq_ignore_ascii_case(keyword))
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct TwoWayMessage {
    origination_number: String,
    destination_number: String,
    #[serde(default)]
    message_keyword: Option<String>,
    message_body: String,
    inbound_message_id: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct DeliveryEvent {
    event_type: String,
    #[serde(default)]
    event_timestamp: Option<i64>,
    message_id: String,
    origination_phone_number: String,
    destination_phone_number: String,
    #[serde(default)]
    message_status: Option<String>,
    #[serde(default)]
    message_status_description: Option<String>,
    #[serde(default)]
    context: Option<Map<String, Value>>,
}

/// Reads one SNS message of the SMS topic. `published_at` (the notification's SNS
/// timestamp) dates a two-way message, which carries no time of its own, and an event
/// without `eventTimestamp`. `Ok(None)`: an event with nothing to record (queued,
/// pending).
pub fn parse_notification(
    message: &str,
    published_at: Millis,
) -> Result<Option<WorkItem>, SmsNotificationError> {
    let value: Value = serde_json::from_str(message).map_err(|e| {
        SmsNotificationError::Malformed(format!(
            "{:?} at line {} column {}",
            e.classify(),
            e.line(),
            e.column()
        ))
    })?;
    let has = |key: &str| value.get(key).is_some();
    if has("eventType") {
        delivery_event(value, published_at)
    } else if has("inboundMessageId") {
        two_way_message(value, published_at).map(Some)
    } else {
        Err(SmsNotificationError::Unknown)
    }
}

fn two_way_message(value: Value, published_at: Millis) -> Result<WorkItem, SmsNotificationError> {
    const WHAT: &str = "two-way SMS message";
    let m: TwoWayMessage = serde_json::from_value(value).map_err(|e| unreadable(WHAT, &e))?;
    let contact =
        contact_number(&m.origination_number).ok_or(SmsNotificationError::NotANumber {
            what: WHAT,
            field: "originationNumber",
        })?;
    let channel = channel_of(&m.destination_number).ok_or(SmsNotificationError::NotANumber {
        what: WHAT,
        field: "destinationNumber",
    })?;
    if m.inbound_message_id.trim().is_empty() {
        return Err(SmsNotificationError::Unreadable {
            what: WHAT,
            detail: "inboundMessageId is empty".into(),
        });
    }
    Ok(WorkItem::Message {
        channel,
        contact,
        contact_name: None,
        opt_out: m.message_keyword.as_deref().is_some_and(is_opt_out_keyword),
        message: InboundMessage {
            id: m.inbound_message_id,
            at: published_at,
            content: MessageContent::Text {
                body: m.message_body,
            },
            context_id: None,
        },
    })
}

fn delivery_event(
    value: Value,
    published_at: Millis,
) -> Result<Option<WorkItem>, SmsNotificationError> {
    const WHAT: &str = "SMS delivery event";
    let e: DeliveryEvent = serde_json::from_value(value).map_err(|e| unreadable(WHAT, &e))?;
    let Some(event) = SmsEvent::of(&e.event_type) else {
        return Err(SmsNotificationError::UnknownEventType(event_type_label(
            &e.event_type,
        )));
    };
    let Some(status) = event.status() else {
        return Ok(None);
    };
    let channel =
        channel_of(&e.origination_phone_number).ok_or(SmsNotificationError::NotANumber {
            what: WHAT,
            field: "originationPhoneNumber",
        })?;
    let recipient =
        contact_number(&e.destination_phone_number).ok_or(SmsNotificationError::NotANumber {
            what: WHAT,
            field: "destinationPhoneNumber",
        })?;
    if e.message_id.trim().is_empty() {
        return Err(SmsNotificationError::Unreadable {
            what: WHAT,
            detail: "messageId is empty".into(),
        });
    }
    // A failure says which event and the service's words for it ("Message blocked by
    // carrier"); SMS has no numeric error code.
    let error_title = (event == SmsEvent::Failed).then(|| {
        let said = e
            .message_status_description
            .as_deref()
            .or(e.message_status.as_deref())
            .map(str::trim)
            .filter(|s| !s.is_empty());
        match said {
            Some(said) => format!("{}: {said}", e.event_type),
            None => e.event_type.clone(),
        }
    });
    let callback_data = e
        .context
        .as_ref()
        .and_then(|c| c.get(CALLBACK_CONTEXT_KEY))
        .and_then(Value::as_str)
        .map(str::to_owned);
    Ok(Some(WorkItem::Status {
        channel,
        recipient,
        message_id: e.message_id,
        status: status.to_owned(),
        at: e.event_timestamp.unwrap_or(published_at),
        error_code: None,
        error_title,
        callback_data,
    }))
}

/// A contact's number: E.164 (`+` and digits) as digits, with country and area code.
fn contact_number(raw: &str) -> Option<String> {
    let digits = raw.trim().strip_prefix('+').unwrap_or(raw.trim());
    Phone::parse(digits).ok().map(|p| p.as_str().to_owned())
}

/// The SMS channel of one of the business's numbers (a long code in E.164, or a short
/// code): `sms-{digits}`.
fn channel_of(raw: &str) -> Option<String> {
    let digits = raw.trim().strip_prefix('+').unwrap_or(raw.trim());
    (!digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()))
        .then(|| ChannelKind::sms_channel_id(digits))
}

/// An event type as a reason may quote it: the service's names are upper-case words.
fn event_type_label(raw: &str) -> String {
    let plain = !raw.is_empty()
        && raw.len() <= 40
        && raw
            .bytes()
            .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'_');
    if plain {
        raw.to_owned()
    } else {
        "(not an event type name)".to_owned()
    }
}

/// Why a part was unreadable, without the values: serde's category, and the field when
/// one is missing.
fn unreadable(what: &'static str, e: &serde_json::Error) -> SmsNotificationError {
    let text = e.to_string();
    let detail = match text.split('`').nth(1) {
        Some(field) if text.starts_with("missing field") => format!("missing field {field}"),
        _ => format!("{:?}: a field has the wrong type", e.classify()),
    };
    SmsNotificationError::Unreadable { what, detail }
}

#[cfg(test)]
mod tests;
