//! `/v1/conversations/{id}/messages`: read the log and send text, a template or media,
//! under the window rules; automatic capture by the first reply. Ports: conversations,
//! contacts, message log, send ledger, queues, template catalogue.

use super::access::{authorize, authorize_reply, owner_only};
use super::errors::{send_error, template_error, workspace_error};
use super::request::{
    checked_text, cursor_or_backend, field_error, page_limit, parse_body, text_only,
    TemplateChoice, MAX_ATTEMPTS,
};
use super::AgentApi;
use crate::app::auth::{Caller, Role};
use crate::app::events;
use crate::app::http::{json, ApiError, ApiResult};
use crate::domain::{
    conversation::{after_outbound, decide_send},
    message::Media,
    MessageContent,
};
use crate::ports::{Effects, OutboundWrite, WriteOutcome};
use lambda_http::{http::StatusCode, Request, RequestExt};
use serde::Deserialize;
use serde_json::json;

/// WhatsApp's limits: a caption 1,024 characters, a file name 240, a link 2,048.
const MAX_CAPTION: usize = 1024;
const MAX_FILENAME: usize = 240;
const MAX_LINK: usize = 2048;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct MediaChoice {
    #[serde(rename = "type")]
    kind: String,
    link: String,
    #[serde(default)]
    caption: Option<String>,
    #[serde(default)]
    filename: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct SendRequest {
    #[serde(default)]
    text: Option<String>,
    #[serde(default)]
    template: Option<TemplateChoice>,
    #[serde(default)]
    media: Option<MediaChoice>,
}

impl AgentApi {
    pub(super) async fn list_messages(&self, req: &Request, who: &Caller, id: &str) -> ApiResult {
        let params = req.query_string_parameters();
        authorize(who, &self.conversation(id).await?)?;
        let limit = page_limit(params.first("limit"))?;
        let page = self
            .messages
            .messages(id, params.first("cursor"), limit)
            .await
            .map_err(cursor_or_backend)?;
        Ok(json(StatusCode::OK, &page))
    }

    /// `POST /v1/conversations/{id}/messages`: text, a template or a media link.
    pub(super) async fn send(&self, req: &Request, who: &Caller, id: &str) -> ApiResult {
        let body: SendRequest = parse_body(req)?;
        let idempotency_key = req
            .headers()
            .get("idempotency-key")
            .and_then(|v| v.to_str().ok())
            .map(str::trim)
            .filter(|k| !k.is_empty())
            .map(str::to_owned);
        if idempotency_key.as_ref().is_some_and(|k| k.len() > 128) {
            return Err(ApiError::unprocessable(
                "invalid_idempotency_key",
                "Idempotency-Key is at most 128 characters",
            ));
        }
        let first = self.conversation(id).await?;
        authorize_reply(who, &first)?;
        let mut segments = None;
        let (content, template) = match (body.text, body.template, body.media) {
            (Some(text), None, None) => {
                segments = checked_text(&first.channel, &text)?;
                (MessageContent::Text { body: text }, None)
            }
            (None, Some(choice), None) => {
                choice.check()?;
                let t = self.approved_template(&first.channel, &choice).await?;
                t.render(&choice.parameters).map_err(template_error)?;
                (
                    MessageContent::Template {
                        name: choice.name,
                        language: choice.language,
                        parameters: choice.parameters,
                    },
                    Some(t),
                )
            }
            (None, None, Some(media)) => {
                text_only(&first.channel, "media")?;
                (media_content(media)?, None)
            }
            _ => {
                return Err(ApiError::unprocessable(
                    "invalid_body",
                    "give exactly one of \"text\", \"template\" or \"media\"",
                ))
            }
        };
        // The channel (cached per instance) and the contact's window at once.
        let (channel, contact) = futures::try_join!(self.sending_channel(&first.channel), async {
            Ok(self
                .contacts
                .contact(&first.channel, &first.contact)
                .await?)
        })?;
        let mut read = Some((first, contact));
        for _ in 0..MAX_ATTEMPTS {
            let now = self.clock.now();
            // The first attempt uses what was read above; a conflict reads again.
            let (conversation, contact) = match read.take() {
                Some(both) => both,
                None => {
                    let c = self.conversation(id).await?;
                    let contact = self.contacts.contact(&c.channel, &c.contact).await?;
                    (c, contact)
                }
            };
            let window = crate::ports::window_of(&conversation.channel, contact.as_ref(), now);
            let free_form = !matches!(content, MessageContent::Template { .. });
            decide_send(&conversation, &window, free_form).map_err(send_error)?;
            owner_only(who, &conversation)?;
            // A reply in a waiting conversation: in automatic-capture queues the first agent
            // to answer takes it; in manual-capture queues it must be captured first.
            let mut captured = false;
            let mut base = conversation.clone();
            if conversation.state == crate::domain::ConversationState::Queued
                && who.role != Role::Assistant
            {
                let mode = match &conversation.queue {
                    Some(q) => self.queues.queue(q).await?.map(|q| q.mode),
                    None => None,
                };
                if mode != Some(crate::domain::workspace::AssignmentMode::AutomaticCapture) {
                    return Err(ApiError::conflict(
                        "capture_required",
                        "this queue assigns by manual capture: capture the conversation before answering",
                    ));
                }
                base = crate::domain::workspace::capture(&conversation, &who.sub, &channel, now)
                    .map_err(workspace_error)?;
                base.version = conversation.version;
                captured = true;
            }
            let message = self.outbound_message(&conversation, content.clone(), who, now);
            let after = after_outbound(&base, &channel, now);
            let mut effects = Effects {
                sends: vec![self.send_item(&conversation, &message, template.as_ref())?],
                ..Effects::default()
            };
            if captured {
                effects.events.push(events::conversation_assigned(
                    &after,
                    &who.sub,
                    "automatic_capture",
                ));
            }
            let write = OutboundWrite {
                conversation: after,
                expected_version: conversation.version,
                message: message.clone(),
                idempotency_key: idempotency_key.clone(),
                effects,
            };
            match self.messages.append_outbound(&write, now).await? {
                WriteOutcome::Committed => {
                    if captured {
                        tracing::info!(conversation_id = %conversation.id, agent = %who.sub, "captured by the first reply");
                    }
                    tracing::info!(conversation_id = %conversation.id, message_type = message.content.type_name(), "outbound message accepted");
                    let mut answer = json!({ "message": message });
                    if let Some(segments) = &segments {
                        answer["segments"] = json!(segments);
                    }
                    return Ok(json(StatusCode::ACCEPTED, &answer));
                }
                WriteOutcome::Duplicate(existing) => {
                    let mut answer = json!({ "message": existing, "duplicate": true });
                    if let Some(segments) = &segments {
                        answer["segments"] = json!(segments);
                    }
                    return Ok(json(StatusCode::OK, &answer));
                }
                WriteOutcome::Conflict => continue,
            }
        }
        Err(ApiError::conflict(
            "concurrent_update",
            "the conversation changed meanwhile; retry",
        ))
    }
}

fn media_content(m: MediaChoice) -> Result<MessageContent, ApiError> {
    if !m.link.starts_with("https://") || m.link.chars().count() > MAX_LINK {
        return Err(field_error(
            "invalid_media",
            "media.link",
            format!("media.link must be an https:// URL of at most {MAX_LINK} characters"),
        ));
    }
    if m.caption
        .as_ref()
        .is_some_and(|c| c.chars().count() > MAX_CAPTION)
    {
        return Err(field_error(
            "invalid_media",
            "media.caption",
            format!("media.caption must be at most {MAX_CAPTION} characters"),
        ));
    }
    if m.filename
        .as_ref()
        .is_some_and(|f| f.is_empty() || f.chars().count() > MAX_FILENAME)
    {
        return Err(field_error(
            "invalid_media",
            "media.filename",
            format!("media.filename must be 1 to {MAX_FILENAME} characters"),
        ));
    }
    let media = Media {
        link: Some(m.link),
        caption: m.caption,
        filename: m.filename,
        ..Media::default()
    };
    Ok(match m.kind.as_str() {
        "image" => MessageContent::Image(media),
        "video" => MessageContent::Video(media),
        "document" => MessageContent::Document(media),
        "audio" => MessageContent::Audio(media),
        "sticker" => MessageContent::Sticker(media),
        other => {
            return Err(ApiError::unprocessable(
                "invalid_media",
                format!(
                    "media.type {other:?} is not one of image, video, document, audio, sticker"
                ),
            ))
        }
    })
}
