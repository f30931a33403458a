//! `POST /v1/conversations/{id}/handoff`: the AI assistant hands a conversation to a
//! queue of humans ("transbordo", ALTU manual), with the wait and inactivity timers.
//! Ports: conversations, queues, message log (history), timers.

use super::access::authorize;
use super::request::{field_error, parse_body, truncate, MAX_ATTEMPTS};
use super::AgentApi;
use crate::app::auth::{Caller, Role};
use crate::app::events;
use crate::app::history;
use crate::app::http::{json, ApiError, ApiResult};
use crate::domain::{
    conversation::Handoff,
    inbound::{Timer, TimerKind},
    ConversationState,
};
use crate::ports::{Effects, WriteOutcome};
use lambda_http::{http::StatusCode, Request};
use serde::Deserialize;
use serde_json::Value;

/// ALTU's `start_live_chat` parameters as the Builder writes them (`skillId` is the
/// queue, `integration_id` a number or a string), or conversa's own names.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct HandoffRequest {
    #[serde(alias = "skillId")]
    queue: String,
    #[serde(default)]
    extra_info: Value,
    #[serde(default)]
    contact_info: Value,
    #[serde(default)]
    integration_id: Option<IntegrationId>,
    #[serde(default)]
    include_history: Option<bool>,
}

#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum IntegrationId {
    Number(u64),
    Text(String),
}

impl IntegrationId {
    fn into_string(self) -> String {
        match self {
            IntegrationId::Number(n) => n.to_string(),
            IntegrationId::Text(s) => s,
        }
    }
}

/// `extra_info` and `contact_info` together, serialised.
const MAX_INFO_BYTES: usize = 32 * 1024;
/// Nesting of `extra_info` / `contact_info`.
const MAX_INFO_DEPTH: usize = 8;

fn depth(v: &Value) -> usize {
    match v {
        Value::Array(a) => 1 + a.iter().map(depth).max().unwrap_or(0),
        Value::Object(o) => 1 + o.values().map(depth).max().unwrap_or(0),
        _ => 0,
    }
}

/// The body: the parameters object, or the whole Builder action
/// (`{"name": "start_live_chat", "parameters": {...}, "result_variable": ...}`).
fn handoff_request(req: &Request) -> Result<HandoffRequest, ApiError> {
    let mut body: Value = parse_body(req)?;
    if body.get("name").and_then(Value::as_str) == Some("start_live_chat") {
        body = body
            .get_mut("parameters")
            .map(Value::take)
            .unwrap_or(Value::Null);
    }
    serde_json::from_value(body).map_err(|e| ApiError::unprocessable("invalid_body", e.to_string()))
}

impl AgentApi {
    /// `POST /v1/conversations/{id}/handoff`: the assistant hands the conversation to a queue.
    pub(super) async fn handoff(&self, req: &Request, who: &Caller, id: &str) -> ApiResult {
        if who.role == Role::Agent {
            return Err(ApiError::forbidden(
                "the assistant hands conversations off; agents transfer them",
            ));
        }
        let body = handoff_request(req)?;
        let integration_id = body.integration_id.map(IntegrationId::into_string);
        let size = |v: &Value| serde_json::to_string(v).map(|s| s.len()).unwrap_or(0);
        if size(&body.extra_info) + size(&body.contact_info) > MAX_INFO_BYTES {
            return Err(field_error(
                "payload_too_large",
                "extra_info",
                "extra_info and contact_info together must stay under 32 KB",
            ));
        }
        for (field, v) in [
            ("extra_info", &body.extra_info),
            ("contact_info", &body.contact_info),
        ] {
            if !(v.is_object() || v.is_null()) {
                return Err(field_error(
                    "invalid_field",
                    field,
                    format!("{field} must be an object"),
                ));
            }
            if depth(v) > MAX_INFO_DEPTH {
                return Err(field_error(
                    "invalid_field",
                    field,
                    format!("{field} nests at most {MAX_INFO_DEPTH} levels"),
                ));
            }
        }
        if integration_id
            .as_ref()
            .is_some_and(|i| i.is_empty() || i.chars().count() > 256)
        {
            return Err(field_error(
                "invalid_field",
                "integration_id",
                "integration_id must be 1 to 256 characters",
            ));
        }
        if !crate::app::http::valid_id(&body.queue)
            || self.queues.queue(&body.queue).await?.is_none()
        {
            return Err(field_error(
                "unknown_queue",
                "queue",
                format!("queue {} does not exist", truncate(&body.queue, 64)),
            ));
        }
        for _ in 0..MAX_ATTEMPTS {
            let now = self.clock.now();
            let c = self.conversation(id).await?;
            authorize(who, &c)?;
            if !matches!(c.state, ConversationState::Bot | ConversationState::Menu) {
                return Err(ApiError::conflict(
                    "not_with_assistant",
                    format!(
                        "only a conversation with the assistant can be handed off (it is {:?})",
                        c.state
                    ),
                ));
            }
            let channel = self.channel(&c.channel).await?;
            let settings = &channel.handoff;
            let mut next = c.clone();
            next.state = ConversationState::Queued;
            next.queue = Some(body.queue.clone());
            next.queued_at = Some(now);
            next.agent = None;
            next.turn_deadline = None;
            next.updated_at = now;
            next.expires_at = now + i64::from(channel.auto_close_hours) * 3_600_000;
            next.version += 1;
            next.handoff = Some(Handoff {
                queue: body.queue.clone(),
                extra_info: body.extra_info.clone(),
                contact_info: body.contact_info.clone(),
                integration_id: integration_id.clone(),
                requested_at: now,
                wait_deadline: (settings.wait_timeout_seconds > 0)
                    .then(|| now + i64::from(settings.wait_timeout_seconds) * 1000),
                inactivity_seconds: settings.inactivity_timeout_seconds,
            });
            // The timers and the event commit with the handoff (the outbox): a handoff
            // never stands without its timers, and a failed one arms none.
            let mut timers = Vec::new();
            if let Some(due_at) = next.handoff.as_ref().and_then(|h| h.wait_deadline) {
                timers.push(Timer {
                    subject: next.id.clone(),
                    kind: TimerKind::HandoffWait,
                    due_at,
                });
            }
            if let Some(due_at) = next.inactivity_deadline() {
                timers.push(Timer {
                    subject: next.id.clone(),
                    kind: TimerKind::Inactivity,
                    due_at,
                });
            }
            let history = if body.include_history.unwrap_or(settings.include_history) {
                Some(history::all_messages(self.messages.as_ref(), &next.id).await?)
            } else {
                None
            };
            let effects = Effects {
                events: vec![events::handoff_requested(
                    &next,
                    &who.sub,
                    history.as_deref(),
                )],
                timers,
                ..Effects::default()
            };
            match self
                .conversations
                .update_conversation(&next, c.version, &effects)
                .await?
            {
                WriteOutcome::Committed => {
                    tracing::info!(conversation_id = %next.id, queue = %body.queue, "handoff to humans");
                    return Ok(json(StatusCode::OK, &next));
                }
                _ => continue,
            }
        }
        Err(ApiError::conflict(
            "concurrent_update",
            "the conversation changed meanwhile; retry",
        ))
    }
}
