//! The agent and assistant API under `/v1/` (contract: docs/openapi.yaml).

use super::auth::{caller, Caller, Role};
use super::events;
use super::http::{json, respond, ApiError, ApiResult};
use super::inbound::new_id;
use super::outbound::OutboundItem;
use super::workspace::{authorize, owner_only, workspace_error};
use crate::aws::store::message_key;
use crate::domain::{
    conversation::{after_outbound, decide_send, decide_start, SendError, StartError},
    message::Media,
    template::{Template, TemplateError},
    Channel, Conversation, DeliveryStatus, Direction, Message, MessageContent, Millis, Phone,
};
use crate::ports::{
    Clock, ConversationStore, EventPublisher, MessageKey, OutboundWrite, StartWrite, WorkQueue,
    WriteOutcome,
};
use lambda_http::{http::Method, http::StatusCode, Body, Request, RequestExt, Response};
use serde::Deserialize;
use serde_json::json;
use std::sync::Arc;

const DEFAULT_PAGE: u32 = 50;
const MAX_PAGE: u32 = 100;
const MAX_TEXT: usize = 4096;
const MAX_ATTEMPTS: usize = 5;

pub struct AgentApi {
    pub store: Arc<dyn ConversationStore>,
    pub events: Arc<dyn EventPublisher>,
    pub outbound: Arc<dyn WorkQueue>,
    pub timers: Arc<dyn crate::ports::TimerService>,
    pub clock: Arc<dyn Clock>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TemplateChoice {
    pub name: String,
    pub language: String,
    #[serde(default)]
    pub parameters: Vec<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct StartRequest {
    #[serde(default)]
    channel: Option<String>,
    /// A campaign's name: the conversation is business-started without an agent.
    #[serde(default)]
    campaign: Option<String>,
    phone: String,
    #[serde(default)]
    template: Option<TemplateChoice>,
}

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

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct PreviewRequest {
    language: String,
    #[serde(default)]
    parameters: Vec<String>,
}

pub(crate) fn parse_body<T: serde::de::DeserializeOwned>(req: &Request) -> Result<T, ApiError> {
    let body = req.body().as_ref();
    serde_json::from_slice(body).map_err(|e| {
        if e.is_data() {
            ApiError::unprocessable("invalid_body", e.to_string())
        } else {
            ApiError::bad_request("malformed_json", format!("body is not valid JSON: {e}"))
        }
    })
}

fn template_error(e: TemplateError) -> ApiError {
    let code = match e {
        TemplateError::NotApproved { .. } => "template_not_approved",
        TemplateError::Missing { .. } => "template_parameter_missing",
        TemplateError::Extra { .. } => "template_parameter_extra",
        TemplateError::Empty { .. } => "template_parameter_empty",
    };
    ApiError::unprocessable(code, e.to_string())
}

fn send_error(e: SendError) -> ApiError {
    match e {
        SendError::Closed => ApiError::conflict("conversation_closed", e.to_string()),
        SendError::AwaitingReply => ApiError::conflict("awaiting_reply", e.to_string()),
        SendError::WindowClosed { closes_at } => ApiError::conflict("window_closed", e.to_string())
            .with_details(json!({
                "closes_at": closes_at,
                "hint": "send an approved template: POST /v1/conversations/{id}/messages with {\"template\": {...}}"
            })),
    }
}

/// The Graph API message object of an outbound message.
fn payload_of(content: &MessageContent, template: Option<&Template>) -> serde_json::Value {
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

impl AgentApi {
    pub async fn handle(&self, req: Request) -> Response<Body> {
        respond(self.route(&req).await)
    }

    async fn route(&self, req: &Request) -> ApiResult {
        let path = req.raw_http_path();
        let segments: Vec<&str> = path.trim_matches('/').split('/').collect();
        let method = req.method().clone();
        let who = caller(req)?;
        match (method, segments.as_slice()) {
            (Method::GET, ["v1", "conversations"]) => self.list_conversations(req, &who).await,
            (Method::POST, ["v1", "conversations"]) => self.start(req, &who).await,
            (Method::GET, ["v1", "conversations", id]) => self.details(&who, id).await,
            (Method::DELETE, ["v1", "conversations", id]) => self.remove(&who, id).await,
            (Method::POST, ["v1", "conversations", id, "capture"]) => self.capture(&who, id).await,
            (Method::POST, ["v1", "conversations", id, "transfer"]) => {
                self.transfer(req, &who, id).await
            }
            (Method::POST, ["v1", "conversations", id, "handoff"]) => {
                self.handoff(req, &who, id).await
            }
            (Method::POST, ["v1", "conversations", id, "close"]) => self.close(req, &who, id).await,
            (Method::GET, ["v1", "channels", channel, "settings"]) => {
                self.settings(&who, channel).await
            }
            (Method::PUT, ["v1", "channels", channel, "settings"]) => {
                self.update_settings(req, &who, channel).await
            }
            (
                Method::POST,
                ["v1", "conversations", id, op @ ("hold" | "resume" | "archive" | "unarchive")],
            ) => {
                let op: &'static str = match *op {
                    "hold" => "hold",
                    "resume" => "resume",
                    "archive" => "archive",
                    _ => "unarchive",
                };
                self.simple(&who, id, op).await
            }
            (Method::GET, ["v1", "queues", queue, "conversations"]) => {
                self.queue_list(req, &who, queue).await
            }
            (Method::GET, ["v1", "conversations", id, "messages"]) => {
                self.list_messages(req, &who, id).await
            }
            (Method::POST, ["v1", "conversations", id, "messages"]) => {
                self.send(req, &who, id).await
            }
            (Method::GET, ["v1", "channels", channel, "templates"]) => {
                self.list_templates(channel).await
            }
            (Method::POST, ["v1", "channels", channel, "templates", name, "preview"]) => {
                self.preview(req, channel, name).await
            }
            _ => Err(ApiError::new(
                StatusCode::NOT_FOUND,
                "route_not_found",
                format!("no route for {} {path}", req.method()),
            )),
        }
    }

    async fn list_conversations(&self, req: &Request, who: &Caller) -> ApiResult {
        let params = req.query_string_parameters();
        match params.first("assigned") {
            Some("me") => return self.my_list(req, who).await,
            Some(other) => {
                return Err(ApiError::unprocessable(
                    "invalid_parameter",
                    format!("assigned only takes \"me\", got {other:?}"),
                ))
            }
            None => {}
        }
        let channel = params.first("channel").ok_or_else(|| {
            ApiError::unprocessable("missing_parameter", "query parameter channel is required")
        })?;
        let contact = params.first("contact").ok_or_else(|| {
            ApiError::unprocessable("missing_parameter", "query parameter contact is required")
        })?;
        let contact = Phone::parse(contact)
            .map_err(|e| ApiError::unprocessable("invalid_phone", e.to_string()))?;
        let limit = page_limit(params.first("limit"))?;
        let mut page = self
            .store
            .conversations_of_contact(channel, contact.as_str(), params.first("cursor"), limit)
            .await
            .map_err(cursor_or_backend)?;
        page.items.retain(|c| authorize(who, c).is_ok());
        Ok(json(StatusCode::OK, &page))
    }

    /// Loads a conversation; one past its expiry is closed first (lazy expiry).
    pub(crate) async fn conversation(&self, id: &str) -> Result<Conversation, ApiError> {
        if !super::http::valid_id(id) {
            return Err(ApiError::not_found(format!(
                "conversation {id:.64} not found"
            )));
        }
        let c = self
            .store
            .conversation(id)
            .await?
            .ok_or_else(|| ApiError::not_found(format!("conversation {id} not found")))?;
        let (c, _) = super::expiry::close_if_expired(
            self.store.as_ref(),
            self.events.as_ref(),
            self.outbound.as_ref(),
            c,
            self.clock.now(),
        )
        .await?;
        Ok(c)
    }

    async fn details(&self, who: &Caller, id: &str) -> ApiResult {
        let c = self.conversation(id).await?;
        authorize(who, &c)?;
        let now = self.clock.now();
        let window = self
            .store
            .contact(&c.channel, &c.contact)
            .await?
            .map(|r| r.window(now))
            .unwrap_or_else(|| crate::domain::Window::at(None, now));
        let mut body = serde_json::to_value(&c).map_err(|e| ApiError::internal(e.to_string()))?;
        body["window"] = json!(window);
        Ok(json(StatusCode::OK, &body))
    }

    async fn list_messages(&self, req: &Request, who: &Caller, id: &str) -> ApiResult {
        let params = req.query_string_parameters();
        authorize(who, &self.conversation(id).await?)?;
        let limit = page_limit(params.first("limit"))?;
        let page = self
            .store
            .messages(id, params.first("cursor"), limit)
            .await
            .map_err(cursor_or_backend)?;
        Ok(json(StatusCode::OK, &page))
    }

    pub(crate) async fn channel(&self, id: &str) -> Result<Channel, ApiError> {
        if !super::http::valid_id(id) {
            return Err(ApiError::not_found(format!(
                "channel {id:.64} is not configured"
            )));
        }
        self.store
            .channel(id)
            .await?
            .ok_or_else(|| ApiError::not_found(format!("channel {id} is not configured")))
    }

    async fn list_templates(&self, channel: &str) -> ApiResult {
        self.channel(channel).await?;
        let mut templates: Vec<Template> = self
            .store
            .templates(channel)
            .await?
            .into_iter()
            .filter(Template::is_approved)
            .collect();
        templates.sort_by(|a, b| (&a.name, &a.language).cmp(&(&b.name, &b.language)));
        Ok(json(StatusCode::OK, &json!({ "items": templates })))
    }

    async fn approved_template(
        &self,
        channel: &str,
        choice: &TemplateChoice,
    ) -> Result<Template, ApiError> {
        self.store
            .template(channel, &choice.name, &choice.language)
            .await?
            .ok_or_else(|| {
                ApiError::unprocessable(
                    "template_not_found",
                    format!(
                        "channel {channel} has no template {} in {}",
                        choice.name, choice.language
                    ),
                )
            })
    }

    async fn preview(&self, req: &Request, channel: &str, name: &str) -> ApiResult {
        let body: PreviewRequest = parse_body(req)?;
        self.channel(channel).await?;
        let choice = TemplateChoice {
            name: (*name).to_owned(),
            language: body.language,
            parameters: body.parameters,
        };
        let template = self.approved_template(channel, &choice).await?;
        let preview = template
            .render(&choice.parameters)
            .map_err(template_error)?;
        Ok(json(StatusCode::OK, &preview))
    }

    /// Picks the sender channel: the one named, or the only one allowed to start.
    async fn sender_channel(&self, named: Option<&str>) -> Result<Channel, ApiError> {
        if let Some(id) = named {
            if !super::http::valid_id(id) {
                return Err(ApiError::unprocessable(
                    "unknown_channel",
                    format!("channel {id:.64} is not configured"),
                ));
            }
            let channel = self.store.channel(id).await?.ok_or_else(|| {
                ApiError::unprocessable(
                    "unknown_channel",
                    format!("channel {id} is not configured"),
                )
            })?;
            if !channel.outbound_enabled {
                return Err(ApiError::unprocessable(
                    "channel_not_allowed",
                    format!("channel {id} does not allow starting conversations"),
                ));
            }
            return Ok(channel);
        }
        let mut allowed: Vec<Channel> = self
            .store
            .channels()
            .await?
            .into_iter()
            .filter(|c| c.outbound_enabled)
            .collect();
        match allowed.len() {
            0 => Err(ApiError::unprocessable(
                "no_outbound_channel",
                "no channel allows starting conversations",
            )),
            1 => Ok(allowed.remove(0)),
            _ => {
                let ids: Vec<serde_json::Value> = allowed
                    .iter()
                    .map(
                        |c| json!({"id": c.id, "name": c.name, "display_number": c.display_number}),
                    )
                    .collect();
                Err(ApiError::unprocessable(
                    "channel_required",
                    "several channels allow starting conversations: choose one with \"channel\"",
                )
                .with_details(json!({ "channels": ids })))
            }
        }
    }

    /// `POST /v1/conversations`: an agent starts a conversation (Dígitro manual).
    async fn start(&self, req: &Request, who: &Caller) -> ApiResult {
        if who.role == Role::Assistant {
            return Err(ApiError::forbidden(
                "assistants answer conversations; agents start them",
            ));
        }
        let body: StartRequest = parse_body(req)?;
        let phone = Phone::parse(&body.phone)
            .map_err(|e| ApiError::unprocessable("invalid_phone", e.to_string()))?;
        let channel = self.sender_channel(body.channel.as_deref()).await?;
        let template = match &body.template {
            Some(choice) => {
                let t = self.approved_template(&channel.id, choice).await?;
                t.render(&choice.parameters).map_err(template_error)?;
                Some(t)
            }
            None => None,
        };
        for _ in 0..MAX_ATTEMPTS {
            let now = self.clock.now();
            let record = self.store.contact(&channel.id, phone.as_str()).await?;
            let expected_open = record.as_ref().and_then(|r| r.open_conversation_id.clone());
            let open = match &expected_open {
                Some(id) => match self.store.conversation(id).await? {
                    Some(c) => Some(
                        super::expiry::close_if_expired(
                            self.store.as_ref(),
                            self.events.as_ref(),
                            self.outbound.as_ref(),
                            c,
                            now,
                        )
                        .await?
                        .0,
                    ),
                    None => None,
                },
                None => None,
            };
            let window = record
                .as_ref()
                .map(|r| r.window(now))
                .unwrap_or_else(|| crate::domain::Window::at(None, now));
            let mut conversation = decide_start(
                open.as_ref(),
                &window,
                template.is_some(),
                &channel,
                phone.as_str(),
                &who.sub,
                new_id(now),
                now,
            )
            .map_err(|e| match e {
                StartError::InProgress { conversation_id } => ApiError::conflict(
                    "conversation_in_progress",
                    format!("conversation {conversation_id} with this contact is already in progress on channel {}", channel.id),
                )
                .with_details(json!({ "conversation_id": conversation_id })),
                StartError::TemplateRequired => ApiError::unprocessable("template_required", e.to_string())
                    .with_details(json!({ "window": window })),
            })?;
            // Started by a system or for a campaign: no agent waits for the reply, which
            // is routed (active routing, else the channel's routing).
            if who.role == Role::System || body.campaign.is_some() {
                conversation.agent = None;
                conversation.assigned_at = None;
                if body.campaign.is_some() {
                    conversation.origin = crate::domain::Origin::Campaign;
                }
                if conversation.state == crate::domain::ConversationState::Assigned {
                    conversation.state = crate::domain::ConversationState::AwaitingReply;
                }
            }
            let message = match (&body.template, &template) {
                (Some(choice), Some(_)) => Some(self.outbound_message(
                    &conversation,
                    MessageContent::Template {
                        name: choice.name.clone(),
                        language: choice.language.clone(),
                        parameters: choice.parameters.clone(),
                    },
                    who,
                    now,
                )),
                _ => None,
            };
            let write = StartWrite {
                conversation: conversation.clone(),
                expected_open,
                message: message.clone(),
            };
            match self.store.start_conversation(&write, now).await? {
                WriteOutcome::Committed => {
                    tracing::info!(conversation_id = %conversation.id, channel = %channel.id, contact = %phone, state = ?conversation.state, "conversation started by an agent");
                    // The send is queued first: it must not wait on the event.
                    let message = match message {
                        Some(m) => Some(
                            self.queue_send(&conversation, m, template.as_ref(), now)
                                .await?,
                        ),
                        None => None,
                    };
                    self.announce(&[events::conversation_opened(&conversation, &conversation.id)])
                        .await;
                    return Ok(json(
                        StatusCode::CREATED,
                        &json!({"conversation": conversation, "message": message, "window": window}),
                    ));
                }
                WriteOutcome::Conflict | WriteOutcome::Duplicate(_) => continue,
            }
        }
        Err(ApiError::conflict(
            "concurrent_update",
            "the contact changed meanwhile; retry",
        ))
    }

    fn outbound_message(
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
    async fn queue_send(
        &self,
        c: &Conversation,
        m: Message,
        template: Option<&Template>,
        now: Millis,
    ) -> Result<Message, ApiError> {
        let key = MessageKey {
            conversation_id: c.id.clone(),
            message_key: message_key(&m),
        };
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
                .store
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

    /// `POST /v1/conversations/{id}/messages`: text, a template or a media link.
    async fn send(&self, req: &Request, who: &Caller, id: &str) -> ApiResult {
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
        authorize(who, &first)?;
        let (content, template) = match (body.text, body.template, body.media) {
            (Some(text), None, None) => {
                if text.trim().is_empty() || text.chars().count() > MAX_TEXT {
                    return Err(ApiError::unprocessable(
                        "invalid_text",
                        format!("text must have 1 to {MAX_TEXT} characters"),
                    ));
                }
                (MessageContent::Text { body: text }, None)
            }
            (None, Some(choice), None) => {
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
            (None, None, Some(media)) => (media_content(media)?, None),
            _ => {
                return Err(ApiError::unprocessable(
                    "invalid_body",
                    "give exactly one of \"text\", \"template\" or \"media\"",
                ))
            }
        };
        let channel = self.channel(&first.channel).await?;
        let mut read = Some(first);
        for _ in 0..MAX_ATTEMPTS {
            let now = self.clock.now();
            // The first attempt uses what was read above; a conflict reads again.
            let conversation = match read.take() {
                Some(c) => c,
                None => self.conversation(id).await?,
            };
            let window = self
                .store
                .contact(&conversation.channel, &conversation.contact)
                .await?
                .map(|r| r.window(now))
                .unwrap_or_else(|| crate::domain::Window::at(None, now));
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
                    Some(q) => self.store.queue(q).await?.map(|q| q.mode),
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
            let write = OutboundWrite {
                conversation: after_outbound(&base, &channel, now),
                expected_version: conversation.version,
                message: message.clone(),
                idempotency_key: idempotency_key.clone(),
            };
            match self.store.append_outbound(&write, now).await? {
                WriteOutcome::Committed => {
                    if captured {
                        let after = after_outbound(&base, &channel, now);
                        tracing::info!(conversation_id = %after.id, agent = %who.sub, "captured by the first reply");
                        self.announce(&[events::conversation_assigned(
                            &after,
                            &who.sub,
                            "automatic_capture",
                        )])
                        .await;
                    }
                    let m = self
                        .queue_send(&conversation, message, template.as_ref(), now)
                        .await?;
                    tracing::info!(conversation_id = %conversation.id, message_type = m.content.type_name(), "outbound message accepted");
                    return Ok(json(StatusCode::ACCEPTED, &json!({ "message": m })));
                }
                WriteOutcome::Duplicate(existing) => {
                    return Ok(json(
                        StatusCode::OK,
                        &json!({ "message": existing, "duplicate": true }),
                    ));
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
    if !m.link.starts_with("https://") {
        return Err(ApiError::unprocessable(
            "invalid_media",
            "media.link must be an https:// URL",
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

pub(crate) fn page_limit(raw: Option<&str>) -> Result<u32, ApiError> {
    match raw {
        None => Ok(DEFAULT_PAGE),
        Some(v) => v
            .parse::<u32>()
            .ok()
            .filter(|n| (1..=MAX_PAGE).contains(n))
            .ok_or_else(|| {
                ApiError::unprocessable("invalid_limit", format!("limit must be 1..={MAX_PAGE}"))
            }),
    }
}

pub(crate) fn cursor_or_backend(e: crate::ports::PortError) -> ApiError {
    if e.service == "cursor" {
        ApiError::unprocessable("invalid_cursor", "cursor is not one this API returned")
    } else {
        e.into()
    }
}

/// `window-check`: `GET /v1/channels/{channel}/contacts/{phone}/window`.
pub struct WindowCheck {
    pub store: Arc<dyn ConversationStore>,
    pub clock: Arc<dyn Clock>,
}

impl WindowCheck {
    pub async fn handle(&self, req: Request) -> Response<Body> {
        respond(self.check(&req).await)
    }

    async fn check(&self, req: &Request) -> ApiResult {
        caller(req)?;
        let path = req.raw_http_path();
        let segments: Vec<&str> = path.trim_matches('/').split('/').collect();
        let (channel, phone) = match (req.method().clone(), segments.as_slice()) {
            (Method::GET, ["v1", "channels", channel, "contacts", phone, "window"]) => {
                (*channel, *phone)
            }
            _ => {
                return Err(ApiError::new(
                    StatusCode::NOT_FOUND,
                    "route_not_found",
                    format!("no route for {path}"),
                ))
            }
        };
        let phone = Phone::parse(phone)
            .map_err(|e| ApiError::unprocessable("invalid_phone", e.to_string()))?;
        if self.store.channel(channel).await?.is_none() {
            return Err(ApiError::not_found(format!(
                "channel {channel} is not configured"
            )));
        }
        let now = self.clock.now();
        let window = self
            .store
            .contact(channel, phone.as_str())
            .await?
            .map(|r| r.window(now))
            .unwrap_or_else(|| crate::domain::Window::at(None, now));
        Ok(json(
            StatusCode::OK,
            &json!({
                "open": window.open,
                "last_inbound_at": window.last_inbound_at,
                "closes_at": window.closes_at,
                "requires_template": window.requires_template(),
            }),
        ))
    }
}
