//! The agent and assistant API under `/v1/` (contract: docs/openapi.yaml), run by the
//! `agent-api` function. One module per resource; this one holds the ports, the router
//! and what every resource shares (announcing events).
//!
//! | module | routes |
//! |---|---|
//! | [`conversations`] | `GET|POST /v1/conversations`, `GET /v1/conversations/{id}` |
//! | [`messages`] | `GET|POST /v1/conversations/{id}/messages` |
//! | [`workspace`] | `capture`, `transfer`, `hold`, `resume`, `archive`, `unarchive`, `close`, `read`, `DELETE` |
//! | [`handoff`] | `POST /v1/conversations/{id}/handoff` |
//! | [`lists`] | `GET /v1/queues/{queue}/conversations`, `?assigned=me` |
//! | [`agents`] | `GET /v1/agents`, `PUT /v1/agents/{sub}`, `GET /v1/agents/me`, `PUT /v1/agents/me/status` |
//! | [`queues`] | `GET /v1/queues`, `PUT /v1/queues/{queue}`, `GET .../{queue}/stats` |
//! | [`channels`] | `GET /v1/channels`, `GET|PUT /v1/channels/{channel}/settings` |
//! | [`templates`] | `GET /v1/channels/{channel}/templates`, `.../{name}/preview` |
//! | [`contacts`] | `GET|PUT /v1/contacts/{phone}?channel=` |
//! | [`campaigns`] | `GET|POST /v1/campaigns`, `.../{id}`, `.../{id}/recipients`, `.../{id}/start|pause|resume|cancel` |
//! | [`window`] | `GET /v1/channels/{channel}/contacts/{phone}/window` (`window-check`) |
//!
//! Shared below the resources, imported downward only: [`load`] (a conversation with lazy
//! expiry, a channel, an approved template), [`sending`] (an agent's outbound message to
//! `hsm-send`), [`request`] (bodies, pages, cursors), [`errors`] (refusal codes),
//! [`access`] (who may act).

mod access;
mod agents;
mod campaigns;
mod channels;
mod contacts;
mod conversations;
mod errors;
mod handoff;
mod lists;
mod load;
mod messages;
mod queues;
pub mod request;
mod sending;
mod templates;
mod window;
mod workspace;

pub use request::TemplateChoice;
pub use window::WindowCheck;

use super::auth::caller;
use super::closing::Closer;
use super::http::{respond, ApiError, ApiResult};
use crate::ports::{
    CampaignStore, ChannelStore, Clock, ContactStore, ConversationStore, MessageLog, QueueStore,
    TemplateCatalogue, WorkLists,
};
use lambda_http::{http::Method, http::StatusCode, Body, Request, RequestExt, Response};
use std::sync::Arc;

/// The `agent-api` function: every port its resources use. It only reads and writes the
/// table: the events, sends and timers of each change go in the change's own transaction
/// (the outbox) and `event-relay` carries them out.
pub struct AgentApi {
    /// Read fresh: settings are read and written here.
    pub channels: Arc<dyn ChannelStore>,
    /// What a send needs of its channel, cached for `CHANNEL_CACHE_SECONDS`.
    pub sending_channels: Arc<dyn ChannelStore>,
    pub templates: Arc<dyn TemplateCatalogue>,
    pub contacts: Arc<dyn ContactStore>,
    pub conversations: Arc<dyn ConversationStore>,
    pub messages: Arc<dyn MessageLog>,
    pub queues: Arc<dyn QueueStore>,
    pub work_lists: Arc<dyn WorkLists>,
    pub campaigns: Arc<dyn CampaignStore>,
    pub agents: Arc<dyn crate::ports::AgentStore>,
    /// The agent's own status moves.
    pub presence: crate::app::presence::Presence,
    /// Lazy expiry and closing messages.
    pub closer: Closer,
    pub clock: Arc<dyn Clock>,
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
            (Method::POST, ["v1", "conversations", id, "read"]) => self.mark_read(&who, id).await,
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
            (Method::GET, ["v1", "conversations", id, "messages"]) => {
                self.list_messages(req, &who, id).await
            }
            (Method::POST, ["v1", "conversations", id, "messages"]) => {
                self.send(req, &who, id).await
            }
            (Method::GET, ["v1", "agents"]) => self.list_agents(&who).await,
            (Method::GET, ["v1", "agents", "me"]) => self.my_agent(&who).await,
            (Method::PUT, ["v1", "agents", "me", "status"]) => self.put_my_status(req, &who).await,
            (Method::PUT, ["v1", "agents", sub]) if *sub != "me" => {
                self.put_agent(req, &who, sub).await
            }
            (Method::GET, ["v1", "queues"]) => self.list_queues(&who).await,
            (Method::PUT, ["v1", "queues", queue]) => self.put_queue(req, &who, queue).await,
            (Method::GET, ["v1", "queues", queue, "conversations"]) => {
                self.queue_list(req, &who, queue).await
            }
            (Method::GET, ["v1", "queues", queue, "stats"]) => self.queue_stats(&who, queue).await,
            (Method::GET, ["v1", "channels"]) => self.list_channels(req, &who).await,
            (Method::GET, ["v1", "channels", channel, "settings"]) => {
                self.settings(&who, channel).await
            }
            (Method::PUT, ["v1", "channels", channel, "settings"]) => {
                self.update_settings(req, &who, channel).await
            }
            (Method::GET, ["v1", "channels", channel, "templates"]) => {
                self.list_templates(req, &who, channel).await
            }
            (Method::POST, ["v1", "channels", channel, "templates", name, "preview"]) => {
                self.preview(req, &who, channel, name).await
            }
            (Method::POST, ["v1", "campaigns"]) => self.create_campaign(req, &who).await,
            (Method::GET, ["v1", "campaigns"]) => self.list_campaigns(req, &who).await,
            (Method::GET, ["v1", "campaigns", id]) => self.get_campaign(&who, id).await,
            (Method::POST, ["v1", "campaigns", id, "recipients"]) => {
                self.add_recipients(req, &who, id).await
            }
            (Method::GET, ["v1", "campaigns", id, "recipients"]) => {
                self.list_recipients(req, &who, id).await
            }
            (
                Method::POST,
                ["v1", "campaigns", id, action @ ("start" | "pause" | "resume" | "cancel")],
            ) => self.campaign_action(&who, id, action).await,
            (Method::GET, ["v1", "contacts", phone]) => self.contact(req, &who, phone).await,
            (Method::PUT, ["v1", "contacts", phone]) => self.put_contact(req, &who, phone).await,
            (method, segments) => Err(match allowed_methods(segments) {
                Some(allow) => ApiError::new(
                    StatusCode::METHOD_NOT_ALLOWED,
                    "method_not_allowed",
                    format!("{path:.200} takes {allow}, not {method}"),
                )
                .with_header("allow", allow),
                None => ApiError::new(
                    StatusCode::NOT_FOUND,
                    "route_not_found",
                    format!("no route for {method} {path:.200}"),
                ),
            }),
        }
    }
}

/// The methods a known path takes, for the 405 answer to any other.
fn allowed_methods(segments: &[&str]) -> Option<&'static str> {
    Some(match segments {
        ["v1", "conversations"] => "GET, POST",
        ["v1", "conversations", _] => "GET, DELETE",
        ["v1", "conversations", _, "messages"] => "GET, POST",
        ["v1", "conversations", _, "capture" | "transfer" | "handoff" | "close" | "read" | "hold" | "resume" | "archive"
        | "unarchive"] => "POST",
        ["v1", "queues"] | ["v1", "channels"] | ["v1", "agents"] => "GET",
        ["v1", "agents", "me"] => "GET",
        ["v1", "agents", "me", "status"] => "PUT",
        ["v1", "agents", _] => "PUT",
        ["v1", "campaigns"] | ["v1", "campaigns", _, "recipients"] => "GET, POST",
        ["v1", "campaigns", _] => "GET",
        ["v1", "campaigns", _, "start" | "pause" | "resume" | "cancel"] => "POST",
        ["v1", "queues", _] => "PUT",
        ["v1", "queues", _, "conversations" | "stats"] => "GET",
        ["v1", "channels", _, "settings"] | ["v1", "contacts", _] => "GET, PUT",
        ["v1", "channels", _, "templates"] => "GET",
        ["v1", "channels", _, "templates", _, "preview"] => "POST",
        _ => return None,
    })
}
