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
    #[serde(default)]
    value: Option<ChangeValue>,
}

#[derive(Deserialize)]
struct ChangeValue {
    metadata: Option<Metadata>,
    #[serde(default)]
    contacts: Vec<ContactRef>,
    #[serde(default)]
    messages: Vec<RawMessage>,
    #[serde(default)]
    statuses: Vec<RawStatus>,
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

/// Parses a webhook body and splits it into work items, in payload order.
/// `received_at` stands in for a missing or unreadable provider timestamp.
pub fn split_payload(body: &[u8], received_at: Millis) -> Result<Vec<WorkItem>, PayloadError> {
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
    let mut items = Vec::new();
    for change in payload.entry.into_iter().flat_map(|e| e.changes) {
        if change.field != "messages" {
            continue;
        }
        let Some(value) = change.value else { continue };
        let Some(metadata) = value.metadata else {
            return Err(PayloadError::NotWhatsApp(
                "a messages change has no metadata.phone_number_id".into(),
            ));
        };
        let channel = metadata.phone_number_id;
        for m in value.messages {
            let contact_name = value
                .contacts
                .iter()
                .find(|c| c.wa_id == m.from)
                .and_then(|c| c.profile.as_ref()?.name.clone());
            items.push(WorkItem::Message {
                channel: channel.clone(),
                contact: m.from.clone(),
                contact_name,
                message: InboundMessage {
                    at: timestamp_millis(m.timestamp.as_deref(), received_at),
                    context_id: m.context.as_ref().and_then(|c| c.id.clone()),
                    content: content_of(&m.kind, &m.rest),
                    id: m.id,
                },
            });
        }
        for s in value.statuses {
            let first_error = s.errors.into_iter().next();
            items.push(WorkItem::Status {
                channel: channel.clone(),
                recipient: s.recipient_id,
                message_id: s.id,
                status: s.status,
                at: timestamp_millis(s.timestamp.as_deref(), received_at),
                error_code: first_error.as_ref().and_then(|e| e.code),
                error_title: first_error.and_then(|e| e.title),
            });
        }
        if !value.errors.is_empty() {
            items.push(WorkItem::Error {
                channel: channel.clone(),
                errors: value.errors,
            });
        }
    }
    Ok(items)
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
mod tests {
    use super::*;
    use serde_json::json;

    fn payload(messages: Value) -> Vec<u8> {
        json!({
            "object": "whatsapp_business_account",
            "entry": [{"id": "WABA", "changes": [{"field": "messages", "value": {
                "messaging_product": "whatsapp",
                "metadata": {"display_phone_number": "554830000001", "phone_number_id": "100000000000001"},
                "contacts": [{"profile": {"name": "Ana"}, "wa_id": "5548999990000"}],
                "messages": messages
            }}]}]
        })
        .to_string()
        .into_bytes()
    }

    fn only_content(messages: Value) -> MessageContent {
        let items = split_payload(&payload(messages), 0).unwrap();
        match items.into_iter().next() {
            Some(WorkItem::Message { message, .. }) => message.content,
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn malformed_json_is_rejected() {
        assert!(matches!(
            split_payload(b"{not json", 0),
            Err(PayloadError::Malformed(_))
        ));
    }

    #[test]
    fn json_that_is_not_a_whatsapp_payload_is_rejected() {
        assert!(matches!(
            split_payload(br#"{"object":"page","entry":[]}"#, 0),
            Err(PayloadError::NotWhatsApp(_))
        ));
        assert!(matches!(
            split_payload(br#"[1,2,3]"#, 0),
            Err(PayloadError::NotWhatsApp(_))
        ));
    }

    #[test]
    fn text_message_keeps_contact_name_and_timestamp() {
        let items = split_payload(
            &payload(
                json!([{"from": "5548999990000", "id": "wamid.A", "timestamp": "1700000000",
                "type": "text", "text": {"body": "oi"}}]),
            ),
            0,
        )
        .unwrap();
        assert_eq!(
            items,
            vec![WorkItem::Message {
                channel: "100000000000001".into(),
                contact: "5548999990000".into(),
                contact_name: Some("Ana".into()),
                message: InboundMessage {
                    id: "wamid.A".into(),
                    at: 1_700_000_000_000,
                    content: MessageContent::Text { body: "oi".into() },
                    context_id: None,
                },
            }]
        );
        assert_eq!(items[0].group_id(), "100000000000001#5548999990000");
    }

    #[test]
    fn media_is_kept_by_reference() {
        let c = only_content(
            json!([{"from": "5548999990000", "id": "wamid.I", "timestamp": "1",
            "type": "image", "image": {"id": "MEDIA1", "mime_type": "image/jpeg", "caption": "nota"}}]),
        );
        assert_eq!(
            c,
            MessageContent::Image(Media {
                media_id: "MEDIA1".into(),
                mime_type: Some("image/jpeg".into()),
                caption: Some("nota".into()),
                ..Media::default()
            })
        );
    }

    #[test]
    fn every_supported_type_is_read() {
        let cases = [
            (
                json!({"type": "audio", "audio": {"id": "A", "mime_type": "audio/ogg"}}),
                "audio",
            ),
            (json!({"type": "video", "video": {"id": "V"}}), "video"),
            (
                json!({"type": "document", "document": {"id": "D", "filename": "a.pdf"}}),
                "document",
            ),
            (
                json!({"type": "sticker", "sticker": {"id": "S"}}),
                "sticker",
            ),
            (
                json!({"type": "location", "location": {"latitude": -27.5, "longitude": -48.5}}),
                "location",
            ),
            (
                json!({"type": "contacts", "contacts": [{"name": {"formatted_name": "Bia"}}]}),
                "contacts",
            ),
            (
                json!({"type": "interactive", "interactive": {"type": "button_reply", "button_reply": {"id": "b1", "title": "Sim"}}}),
                "interactive",
            ),
            (
                json!({"type": "interactive", "interactive": {"type": "list_reply", "list_reply": {"id": "l1", "title": "Vendas", "description": "d"}}}),
                "interactive",
            ),
            (
                json!({"type": "button", "button": {"payload": "P", "text": "Quero"}}),
                "button",
            ),
            (
                json!({"type": "reaction", "reaction": {"message_id": "wamid.X", "emoji": "👍"}}),
                "reaction",
            ),
        ];
        for (mut m, expected) in cases {
            m["from"] = json!("5548999990000");
            m["id"] = json!("wamid.T");
            let c = only_content(json!([m]));
            assert_eq!(c.type_name(), expected, "{c:?}");
        }
    }

    #[test]
    fn unknown_message_type_is_kept_as_unsupported() {
        let c = only_content(
            json!([{"from": "5548999990000", "id": "wamid.U", "type": "order", "order": {}}]),
        );
        assert_eq!(
            c,
            MessageContent::Unsupported {
                original_type: "order".into()
            }
        );
        let c = only_content(
            json!([{"from": "5548999990000", "id": "wamid.U2", "type": "unsupported",
            "errors": [{"code": 131051}]}]),
        );
        assert_eq!(c.type_name(), "unsupported");
        let c = only_content(
            json!([{"from": "5548999990000", "id": "wamid.U3", "type": "text", "text": {}}]),
        );
        assert_eq!(c.type_name(), "unsupported");
    }

    #[test]
    fn payload_with_several_entries_messages_statuses_and_errors_is_split() {
        let body = json!({
            "object": "whatsapp_business_account",
            "entry": [
                {"id": "W1", "changes": [{"field": "messages", "value": {
                    "metadata": {"phone_number_id": "100000000000001"},
                    "messages": [
                        {"from": "5548999990001", "id": "wamid.1", "type": "text", "text": {"body": "a"}},
                        {"from": "5548999990002", "id": "wamid.2", "type": "text", "text": {"body": "b"}}
                    ],
                    "statuses": [{"id": "wamid.out", "status": "failed", "recipient_id": "5548999990003",
                        "errors": [{"code": 131047, "title": "Re-engagement message"}]}]
                }}]},
                {"id": "W2", "changes": [
                    {"field": "message_template_status_update", "value": {"event": "APPROVED"}},
                    {"field": "messages", "value": {
                        "metadata": {"phone_number_id": "100000000000002"},
                        "messages": [{"from": "5548999990004", "id": "wamid.3", "type": "text", "text": {"body": "c"}}],
                        "errors": [{"code": 130429, "title": "Rate limit hit"}]
                    }}
                ]}
            ]
        });
        let items = split_payload(body.to_string().as_bytes(), 7).unwrap();
        assert_eq!(items.len(), 5);
        assert!(
            matches!(&items[2], WorkItem::Status { error_code: Some(131047), status, at: 7, .. } if status == "failed")
        );
        assert_eq!(items[3].channel(), "100000000000002");
        assert!(matches!(&items[4], WorkItem::Error { .. }));
        let ids: std::collections::HashSet<_> = items.iter().map(WorkItem::dedup_id).collect();
        assert_eq!(ids.len(), 5, "dedup ids are distinct");
        assert!(items.iter().all(|i| i.dedup_id().len() == 64));
    }

    #[test]
    fn work_item_round_trips_through_json() {
        let items = split_payload(
            &payload(
                json!([{"from": "5548999990000", "id": "wamid.A", "type": "location",
                "location": {"latitude": 1.5, "longitude": 2.5, "name": "x"}}]),
            ),
            0,
        )
        .unwrap();
        let json = serde_json::to_string(&items[0]).unwrap();
        let back: WorkItem = serde_json::from_str(&json).unwrap();
        assert_eq!(back, items[0]);
    }
}
