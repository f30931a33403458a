//! `window-check`, its own function: `GET /v1/channels/{channel}/contacts/{phone}/window`
//! tells whether free-form messages may be sent or a template is required. A contact
//! in a conversation the caller may not see (another queue, another agent's) is not the
//! caller's business: 403, nothing about the contact revealed. Ports: channels,
//! contacts, conversations.

use super::access::authorize;
use crate::app::auth::caller;
use crate::app::http::{json, respond, ApiError, ApiResult};
use crate::domain::Phone;
use crate::ports::{ChannelStore, Clock, ContactStore, ConversationStore};
use lambda_http::{http::Method, http::StatusCode, Body, Request, RequestExt, Response};
use serde_json::json;
use std::sync::Arc;

/// `window-check`: `GET /v1/channels/{channel}/contacts/{phone}/window`.
pub struct WindowCheck {
    pub channels: Arc<dyn ChannelStore>,
    pub contacts: Arc<dyn ContactStore>,
    pub conversations: Arc<dyn ConversationStore>,
    pub clock: Arc<dyn Clock>,
}

impl WindowCheck {
    pub async fn handle(&self, req: Request) -> Response<Body> {
        respond(self.check(&req).await)
    }

    async fn check(&self, req: &Request) -> ApiResult {
        let who = caller(req)?;
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
        if !crate::app::http::valid_id(channel) || self.channels.channel(channel).await?.is_none() {
            return Err(ApiError::not_found(format!(
                "channel {channel:.64} is not configured"
            )));
        }
        let now = self.clock.now();
        let record = self.contacts.contact(channel, phone.as_str()).await?;
        if let Some(id) = record
            .as_ref()
            .and_then(|r| r.open_conversation_id.as_deref())
        {
            if let Some(c) = self.conversations.conversation(id).await? {
                if c.state.is_open() && !c.is_expired(now) && authorize(&who, &c).is_err() {
                    return Err(ApiError::forbidden(
                        "this contact is in a conversation outside your queues",
                    ));
                }
            }
        }
        let window = crate::ports::window_of(channel, record.as_ref(), now);
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
