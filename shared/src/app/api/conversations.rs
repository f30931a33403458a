//! `/v1/conversations`: list a contact's conversations, read one with its window, and
//! start one (Dígitro manual: an agent starts with a template outside the window).
//! Ports: channels, contacts, conversations, template catalogue (and sends, through
//! [`super::messages`]).

use super::access::authorize;
use super::errors::template_error;
use super::request::{cursor_or_backend, page_limit, parse_body, TemplateChoice, MAX_ATTEMPTS};
use super::AgentApi;
use crate::app::auth::{Caller, Role};
use crate::app::events;
use crate::app::http::{json, ApiError, ApiResult};
use crate::app::ids::new_id;
use crate::domain::{
    conversation::{decide_start, StartError},
    Channel, MessageContent, Phone,
};
use crate::ports::{Effects, StartWrite, WriteOutcome};
use lambda_http::{http::StatusCode, Request, RequestExt};
use serde::Deserialize;
use serde_json::json;

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
    /// A first message of free text: inside the window on WhatsApp, at any time on SMS
    /// (Voitel Lynk: an SMS session starts with the agent's text).
    #[serde(default)]
    text: Option<String>,
    /// The service ("serviço", Dígitro) the conversation belongs to: it shows in that
    /// queue's in-progress list.
    #[serde(default)]
    queue: Option<String>,
}

impl AgentApi {
    pub(super) async fn list_conversations(&self, req: &Request, who: &Caller) -> ApiResult {
        let params = req.query_string_parameters();
        if let Some(campaign) = params.first("campaign") {
            return self.campaign_conversations(req, who, campaign).await;
        }
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
        if !crate::app::http::valid_id(channel) {
            return Err(ApiError::unprocessable(
                "invalid_parameter",
                "channel must be a channel id (1 to 64 letters, digits, '-', '_' or '.')",
            ));
        }
        let contact = params.first("contact").ok_or_else(|| {
            ApiError::unprocessable("missing_parameter", "query parameter contact is required")
        })?;
        let contact = Phone::parse(contact)
            .map_err(|e| ApiError::unprocessable("invalid_phone", e.to_string()))?;
        let limit = page_limit(params.first("limit"))?;
        let mut page = self
            .conversations
            .conversations_of_contact(channel, contact.as_str(), params.first("cursor"), limit)
            .await
            .map_err(cursor_or_backend)?;
        page.items.retain(|c| authorize(who, c).is_ok());
        Ok(json(StatusCode::OK, &page))
    }

    pub(super) async fn details(&self, who: &Caller, id: &str) -> ApiResult {
        let c = self.conversation(id).await?;
        authorize(who, &c)?;
        let now = self.clock.now();
        let record = self.contacts.contact(&c.channel, &c.contact).await?;
        let window = crate::ports::window_of(&c.channel, record.as_ref(), now);
        let mut body = serde_json::to_value(&c).map_err(|e| ApiError::internal(e.to_string()))?;
        body["window"] = json!(window);
        body["contact_names"] = json!({
            "profile_name": record.as_ref().and_then(|r| r.name.as_deref()),
            "display_name": record.as_ref().and_then(|r| r.display_name.as_deref()),
        });
        Ok(json(StatusCode::OK, &body))
    }

    /// Picks the sender channel: the one named, or the only one allowed to start.
    pub(super) async fn sender_channel(&self, named: Option<&str>) -> Result<Channel, ApiError> {
        if let Some(id) = named {
            if !crate::app::http::valid_id(id) {
                return Err(ApiError::unprocessable(
                    "unknown_channel",
                    format!("channel {id:.64} is not configured"),
                ));
            }
            let channel = self.channels.channel(id).await?.ok_or_else(|| {
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
            .channels
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
    pub(super) async fn start(&self, req: &Request, who: &Caller) -> ApiResult {
        if who.role == Role::Assistant {
            return Err(ApiError::forbidden(
                "assistants answer conversations; agents start them",
            ));
        }
        let body: StartRequest = parse_body(req)?;
        let phone = Phone::parse(&body.phone)
            .map_err(|e| ApiError::unprocessable("invalid_phone", e.to_string()))?;
        let channel = self.sender_channel(body.channel.as_deref()).await?;
        if let Some(q) = &body.queue {
            if !crate::app::http::valid_id(q) || self.queues.queue(q).await?.is_none() {
                return Err(super::request::field_error(
                    "unknown_queue",
                    "queue",
                    format!("queue {} does not exist", super::request::truncate(q, 64)),
                ));
            }
            if who.role == Role::Agent && !who.queues.contains(q) {
                return Err(ApiError::forbidden(format!(
                    "you are not in queue {q}: start in one of yours"
                )));
            }
        }
        let segments = match (&body.text, &body.template) {
            (Some(_), Some(_)) => {
                return Err(ApiError::unprocessable(
                    "invalid_body",
                    "give \"template\" or \"text\" for the first message, not both",
                ))
            }
            (Some(text), None) => super::request::checked_text(&channel.id, text)?,
            _ => None,
        };
        let template = match &body.template {
            Some(choice) => {
                choice.check()?;
                let t = self.approved_template(&channel.id, choice).await?;
                t.render(&choice.parameters).map_err(template_error)?;
                Some(t)
            }
            None => None,
        };
        for _ in 0..MAX_ATTEMPTS {
            let now = self.clock.now();
            let record = self.contacts.contact(&channel.id, phone.as_str()).await?;
            let expected_open = record.as_ref().and_then(|r| r.open_conversation_id.clone());
            let open = match &expected_open {
                Some(id) => match self.conversations.conversation(id).await? {
                    Some(c) => Some(self.closer.close_if_expired(c, now).await?.0),
                    None => None,
                },
                None => None,
            };
            let window = crate::ports::window_of(&channel.id, record.as_ref(), now);
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
                // Named only to a caller who may see it (Dígitro: the agent is told one
                // exists; its id is not every agent's business).
                StartError::InProgress { conversation_id } => {
                    let visible = open.as_ref().is_some_and(|c| authorize(who, c).is_ok());
                    let err = ApiError::conflict(
                        "conversation_in_progress",
                        format!(
                            "a conversation with this contact is already in progress on channel {}",
                            channel.id
                        ),
                    );
                    if visible {
                        err.with_details(json!({ "conversation_id": conversation_id }))
                    } else {
                        err
                    }
                }
                StartError::TemplateRequired => {
                    ApiError::unprocessable("template_required", e.to_string())
                        .with_details(json!({ "window": window }))
                }
            })?;
            if let Some(q) = &body.queue {
                conversation.queue = Some(q.clone());
            }
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
            let message = match (&body.template, &template, &body.text) {
                (Some(choice), Some(_), _) => Some(self.outbound_message(
                    &conversation,
                    MessageContent::Template {
                        name: choice.name.clone(),
                        language: choice.language.clone(),
                        parameters: choice.parameters.clone(),
                    },
                    who,
                    now,
                )),
                (None, _, Some(text)) => Some(self.outbound_message(
                    &conversation,
                    MessageContent::Text { body: text.clone() },
                    who,
                    now,
                )),
                _ => None,
            };
            conversation.message_count = u64::from(message.is_some());
            let sends = match &message {
                Some(m) => vec![self.send_item(&conversation, m, template.as_ref())?],
                None => Vec::new(),
            };
            let write = StartWrite {
                conversation: conversation.clone(),
                expected_open,
                message: message.clone(),
                recipient: None,
                // A business-started conversation counts toward the channel's messaging
                // limit (campaigns wait on it; an agent is never held back by it).
                reach: (message.is_some() && !window.open).then_some(crate::ports::Reach {
                    hour: now / 3_600_000,
                    cap: u64::MAX,
                }),
                effects: Effects {
                    events: vec![events::conversation_opened(&conversation, &conversation.id)],
                    sends,
                    ..Effects::default()
                },
            };
            match self.conversations.start_conversation(&write, now).await? {
                WriteOutcome::Committed => {
                    tracing::info!(conversation_id = %conversation.id, channel = %channel.id, contact = %phone, state = ?conversation.state, "conversation started by an agent");
                    let mut answer =
                        json!({"conversation": conversation, "message": message, "window": window});
                    if let Some(segments) = &segments {
                        answer["segments"] = json!(segments);
                    }
                    return Ok(json(StatusCode::CREATED, &answer));
                }
                WriteOutcome::Conflict | WriteOutcome::Duplicate(_) => continue,
            }
        }
        Err(ApiError::conflict(
            "concurrent_update",
            "the contact changed meanwhile; retry",
        ))
    }
}
