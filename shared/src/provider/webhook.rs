//! Meta's webhook payload, split into one work item per message, status and error.

use crate::domain::{message::Media, MessageContent, Millis};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PayloadError {
    #[error("body is not valid JSON: {0}")]
    Malformed(String),
    #[error("body is not a WhatsApp Business Account webhook: {0}")]
    NotWhatsApp(String),
}

/// One unit of inbound work, as queued on `inbound.fifo`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum WorkItem {
    Message {
        channel: String,
        contact: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        contact_name: Option<String>,
        /// The provider took the message as an opt-out (an SMS opt-out keyword, which AWS
        /// End User Messaging SMS honours whatever the channel's own keywords say).
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        opt_out: bool,
        message: InboundMessage,
    },
    Status {
        channel: String,
        recipient: String,
        message_id: String,
        status: String,
        at: Millis,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        error_code: Option<i64>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        error_title: Option<String>,
        /// The send's `biz_opaque_callback_data`, which Meta hands back in its statuses.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        callback_data: Option<String>,
    },
    Error {
        channel: String,
        errors: Vec<Value>,
    },
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InboundMessage {
    /// The provider's id (`wamid`).
    pub id: String,
    /// When the contact sent it, by the provider's clock.
    pub at: Millis,
    #[serde(flatten)]
    pub content: MessageContent,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub context_id: Option<String>,
}

impl WorkItem {
    pub fn channel(&self) -> &str {
        match self {
            WorkItem::Message { channel, .. }
            | WorkItem::Status { channel, .. }
            | WorkItem::Error { channel, .. } => channel,
        }
    }

    /// FIFO group: one (channel, contact) is processed in order.
    pub fn group_id(&self) -> String {
        match self {
            WorkItem::Message {
                channel, contact, ..
            } => format!("{channel}#{contact}"),
            WorkItem::Status {
                channel, recipient, ..
            } => format!("{channel}#{recipient}"),
            WorkItem::Error { channel, .. } => format!("{channel}#errors"),
        }
    }

    /// FIFO deduplication id, from the provider's ids: a re-sent webhook is dropped by SQS.
    pub fn dedup_id(&self) -> String {
        let key = match self {
            WorkItem::Message { message, .. } => format!("m:{}", message.id),
            WorkItem::Status {
                message_id, status, ..
            } => format!("s:{message_id}:{status}"),
            WorkItem::Error { channel, errors } => {
                format!("e:{channel}:{}", Value::Array(errors.clone()))
            }
        };
        hex::encode(Sha256::digest(key.as_bytes()))
    }
}

#[derive(Deserialize)]
struct Payload {
    object: String,
    #[serde(default)]
    entry: Vec<Entry>,
}

#[derive(Deserialize)]
struct Entry {
    #[serde(default)]
    changes: Vec<Change>,
}

#[derive(Deserialize)]
struct Change {
    #[serde(default)]
    field: String,
    /// Read on its own, so one unreadable change does not reject the others.
    #[serde(default)]
    value: Option<Value>,
}

#[derive(Deserialize)]
struct ChangeValue {
    metadata: Option<Metadata>,
    #[serde(default)]
    contacts: Vec<ContactRef>,
    /// Each read on its own: one unreadable message or status is rejected alone.
    #[serde(default)]
    messages: Vec<Value>,
    #[serde(default)]
    statuses: Vec<Value>,
    #[serde(default)]
    errors: Vec<Value>,
}

#[derive(Deserialize)]
struct Metadata {
    phone_number_id: String,
}

#[derive(Deserialize)]
struct ContactRef {
    wa_id: String,
    #[serde(default)]
    profile: Option<Profile>,
}

#[derive(Deserialize)]
struct Profile {
    #[serde(default)]
    name: Option<String>,
}

#[derive(Deserialize)]
struct RawMessage {
    from: String,
    id: String,
    #[serde(default)]
    timestamp: Option<String>,
    #[serde(rename = "type", default)]
    kind: String,
    #[serde(default)]
    context: Option<RawContext>,
    #[serde(flatten)]
    rest: Map<String, Value>,
}

#[derive(Deserialize)]
struct RawContext {
    #[serde(default)]
    id: Option<String>,
}

#[derive(Deserialize)]
struct RawStatus {
    id: String,
    status: String,
    #[serde(default)]
    biz_opaque_callback_data: Option<String>,
    #[serde(default)]
    timestamp: Option<String>,
    #[serde(default)]
    recipient_id: String,
    #[serde(default)]
    errors: Vec<RawError>,
}

#[derive(Deserialize)]
struct RawError {
    #[serde(default)]
    code: Option<i64>,
    #[serde(default)]
    title: Option<String>,
}

/// A webhook split into work items, in payload order, and the parts that could not be
/// read, each with its reason.
#[derive(Debug, Default)]
pub struct Split {
    pub items: Vec<WorkItem>,
    pub rejected: Vec<Rejected>,
}

/// A part of a signed webhook that can never be applied (a message without `from` or
/// `id`, a change without `metadata`): kept whole for the dead-letter queue, with a reason
/// that names what was wrong without quoting the payload.
#[derive(Debug, Clone, PartialEq)]
pub struct Rejected {
    pub reason: String,
    /// The part as it arrived (JSON).
    pub body: String,
}

impl Rejected {
    fn of(reason: impl Into<String>, part: &Value) -> Self {
        Self {
            reason: reason.into(),
            body: part.to_string(),
        }
    }

    /// FIFO deduplication id: the same part in a re-sent webhook is dropped by SQS.
    pub fn dedup_id(&self) -> String {
        hex::encode(Sha256::digest(self.body.as_bytes()))
    }
}

/// Why a part was unreadable, without the values: serde's category and position.
fn unreadable(what: &str, e: &serde_json::Error) -> String {
    let detail = e.to_string();
    // "missing field `from`" names a field, not a value: keep it.
    let field = detail
        .split('`')
        .nth(1)
        .filter(|_| detail.starts_with("missing field"))
        .map(|f| format!(": missing field {f}"))
        .unwrap_or_default();
    format!(
        "invalid_payload: unreadable {what} ({:?}){field}",
        e.classify()
    )
}

/// Parses a webhook body and splits it into work items, in payload order.
/// `received_at` stands in for a missing or unreadable provider timestamp. A body that is
/// not JSON, or not a WhatsApp Business Account webhook, is an error; an unreadable part
/// of a good one is [`Rejected`] and the rest is still read.
pub fn split_payload(body: &[u8], received_at: Millis) -> Result<Split, PayloadError> {
    let payload: Payload = serde_json::from_slice(body).map_err(|e| {
        if e.is_data() {
            PayloadError::NotWhatsApp(e.to_string())
        } else {
            PayloadError::Malformed(e.to_string())
        }
    })?;
    if payload.object != "whatsapp_business_account" {
        return Err(PayloadError::NotWhatsApp(format!(
            "object is {:?}, expected \"whatsapp_business_account\"",
            payload.object
        )));
    }
    let mut split = Split::default();
    for change in payload.entry.into_iter().flat_map(|e| e.changes) {
        if change.field != "messages" {
            continue;
        }
        let Some(raw) = change.value else { continue };
        let value: ChangeValue = match serde_json::from_value(raw.clone()) {
            Ok(v) => v,
            Err(e) => {
                split
                    .rejected
                    .push(Rejected::of(unreadable("change", &e), &raw));
                continue;
            }
        };
        let Some(metadata) = value.metadata else {
            split.rejected.push(Rejected::of(
                "invalid_payload: a messages change has no metadata.phone_number_id",
                &raw,
            ));
            continue;
        };
        let channel = metadata.phone_number_id;
        for raw in value.messages {
            let m: RawMessage = match serde_json::from_value(raw.clone()) {
                Ok(m) => m,
                Err(e) => {
                    split
                        .rejected
                        .push(Rejected::of(unreadable("message", &e), &raw));
                    continue;
                }
            };
            let contact_name = value
                .contacts
                .iter()
                .find(|c| c.wa_id == m.from)
                .and_then(|c| c.profile.as_ref()?.name.clone());
            split.items.push(WorkItem::Message {
                channel: channel.clone(),
                contact: m.from.clone(),
                contact_name,
                opt_out: false,
                message: InboundMessage {
                    at: timestamp_millis(m.timestamp.as_deref(), received_at),
                    context_id: m.context.as_ref().and_then(|c| c.id.clone()),
                    content: content_of(&m.kind, &m.rest),
                    id: m.id,
                },
            });
        }
        for raw in value.statuses {
            let s: RawStatus = match serde_json::from_value(raw.clone()) {
                Ok(s) => s,
                Err(e) => {
                    split
                        .rejected
                        .push(Rejected::of(unreadable("status", &e), &raw));
                    continue;
                }
            };
            let first_error = s.errors.into_iter().next();
            split.items.push(WorkItem::Status {
                channel: channel.clone(),
                recipient: s.recipient_id,
                message_id: s.id,
                status: s.status,
                at: timestamp_millis(s.timestamp.as_deref(), received_at),
                error_code: first_error.as_ref().and_then(|e| e.code),
                error_title: first_error.and_then(|e| e.title),
                callback_data: s.biz_opaque_callback_data,
            });
        }
        if !value.errors.is_empty() {
            split.items.push(WorkItem::Error {
                channel: channel.clone(),
                errors: value.errors,
            });
        }
    }
    Ok(split)
}

fn timestamp_millis(raw: Option<&str>, fallback: Millis) -> Millis {
    raw.and_then(|t| t.parse::<i64>().ok())
        .map_or(fallback, |secs| secs.saturating_mul(1000))
}

/// Reads the type-specific part. A known type with an unreadable body is kept as
/// unsupported rather than failing the webhook.
fn content_of(kind: &str, rest: &Map<String, Value>) -> MessageContent {
    let part = rest.get(kind);
    let str_of = |v: &Value, k: &str| v.get(k).and_then(Value::as_str).map(str::to_owned);
    let unsupported = || MessageContent::Unsupported {
        original_type: if kind.is_empty() {
            "unknown".to_owned()
        } else {
            kind.to_owned()
        },
    };
    let Some(part) = part else {
        return unsupported();
    };
    let media = |p: &Value| -> Option<Media> {
        Some(Media {
            media_id: str_of(p, "id")?,
            link: None,
            mime_type: str_of(p, "mime_type"),
            caption: str_of(p, "caption"),
            filename: str_of(p, "filename"),
            sha256: str_of(p, "sha256"),
        })
    };
    let content = match kind {
        "text" => str_of(part, "body").map(|body| MessageContent::Text { body }),
        "image" => media(part).map(MessageContent::Image),
        "audio" => media(part).map(MessageContent::Audio),
        "video" => media(part).map(MessageContent::Video),
        "document" => media(part).map(MessageContent::Document),
        "sticker" => media(part).map(MessageContent::Sticker),
        "location" => (|| {
            Some(MessageContent::Location {
                latitude: part.get("latitude")?.as_f64()?,
                longitude: part.get("longitude")?.as_f64()?,
                name: str_of(part, "name"),
                address: str_of(part, "address"),
            })
        })(),
        "contacts" => Some(MessageContent::Contacts {
            contacts: part.clone(),
        }),
        "interactive" => {
            let reply = part.get("button_reply").or_else(|| part.get("list_reply"));
            reply.and_then(|r| {
                Some(MessageContent::Interactive {
                    reply_id: str_of(r, "id")?,
                    title: str_of(r, "title").unwrap_or_default(),
                    description: str_of(r, "description"),
                })
            })
        }
        "button" => Some(MessageContent::Button {
            payload: str_of(part, "payload").unwrap_or_default(),
            text: str_of(part, "text").unwrap_or_default(),
        }),
        "reaction" => str_of(part, "message_id").map(|message_id| MessageContent::Reaction {
            message_id,
            emoji: str_of(part, "emoji"),
        }),
        _ => None,
    };
    content.unwrap_or_else(unsupported)
}

#[cfg(test)]
mod tests;
