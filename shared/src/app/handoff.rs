//! Handoff from the AI assistant to humans ("transbordo", ALTU manual), closing with a
//! reason, and the channel settings API.

use super::api::{parse_body, AgentApi};
use super::auth::{Caller, Role};
use super::events;
use super::http::{json, ApiError, ApiResult};
use super::timers::send_closing_message;
use super::workspace::{authorize, owner_only, workspace_error};
use crate::domain::{
    channel::{MAX_AUTO_CLOSE_HOURS, MIN_AUTO_CLOSE_HOURS},
    conversation::{CloseReason, Handoff},
    inbound::{Timer, TimerKind},
    routing, workspace, Channel, ConversationState,
};
use crate::ports::WriteOutcome;
use lambda_http::{http::StatusCode, Request};
use serde::Deserialize;
use serde_json::{json, Value};

const MAX_ATTEMPTS: usize = 5;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct HandoffRequest {
    queue: String,
    #[serde(default)]
    extra_info: Value,
    #[serde(default)]
    contact_info: Value,
    #[serde(default)]
    integration_id: Option<String>,
    #[serde(default)]
    include_history: Option<bool>,
}

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct CloseRequest {
    #[serde(default)]
    reason: Option<String>,
}

/// The settings a supervisor may change; any other key is refused.
const SETTINGS_KEYS: [&str; 11] = [
    "name",
    "color",
    "outbound_enabled",
    "default_queue",
    "routing",
    "active_routing",
    "allowlist",
    "grouping_seconds",
    "handoff",
    "auto_close_hours",
    "token_parameter",
];

impl AgentApi {
    /// `POST /v1/conversations/{id}/handoff`: the assistant hands the conversation to a queue.
    pub(crate) async fn handoff(&self, req: &Request, who: &Caller, id: &str) -> ApiResult {
        if who.role == Role::Agent {
            return Err(ApiError::forbidden(
                "the assistant hands conversations off; agents transfer them",
            ));
        }
        let body: HandoffRequest = parse_body(req)?;
        let size = |v: &Value| serde_json::to_string(v).map(|s| s.len()).unwrap_or(0);
        if size(&body.extra_info) + size(&body.contact_info) > 32 * 1024
            || body.integration_id.as_ref().is_some_and(|i| i.len() > 256)
        {
            return Err(ApiError::unprocessable(
                "payload_too_large",
                "extra_info and contact_info together must stay under 32 KB, integration_id under 256 characters",
            ));
        }
        if !super::http::valid_id(&body.queue) || self.store.queue(&body.queue).await?.is_none() {
            return Err(ApiError::unprocessable(
                "unknown_queue",
                format!("queue {} does not exist", body.queue),
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
                integration_id: body.integration_id.clone(),
                requested_at: now,
                wait_deadline: (settings.wait_timeout_seconds > 0)
                    .then(|| now + i64::from(settings.wait_timeout_seconds) * 1000),
                inactivity_seconds: settings.inactivity_timeout_seconds,
            });
            // Timers first: a timer for a handoff that did not commit finds nothing to do,
            // while a committed handoff without its timers would never time out.
            let mut timers = Vec::new();
            if let Some(due_at) = next.handoff.as_ref().and_then(|h| h.wait_deadline) {
                timers.push(Timer {
                    conversation_id: next.id.clone(),
                    kind: TimerKind::HandoffWait,
                    due_at,
                });
            }
            if let Some(due_at) = next.inactivity_deadline() {
                timers.push(Timer {
                    conversation_id: next.id.clone(),
                    kind: TimerKind::Inactivity,
                    due_at,
                });
            }
            for t in &timers {
                self.timers.schedule(t, now).await?;
            }
            match self.store.update_conversation(&next, c.version).await? {
                WriteOutcome::Committed => {
                    let history = if body.include_history.unwrap_or(settings.include_history) {
                        Some(self.history(&next.id).await?)
                    } else {
                        None
                    };
                    tracing::info!(conversation_id = %next.id, queue = %body.queue, "handoff to humans");
                    self.announce(&[events::handoff_requested(
                        &next,
                        &who.sub,
                        history
                            .as_ref()
                            .map(|(m, complete)| (m.as_slice(), *complete)),
                    )])
                    .await;
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

    /// `POST /v1/conversations/{id}/close`: `agent_closed`, or `user_closed` when the
    /// assistant closes on the contact's behalf.
    pub(crate) async fn close(&self, req: &Request, who: &Caller, id: &str) -> ApiResult {
        let body: CloseRequest = if req.body().as_ref().iter().all(u8::is_ascii_whitespace) {
            CloseRequest::default()
        } else {
            parse_body(req)?
        };
        let reason = match (body.reason.as_deref(), who.role) {
            (Some("agent_closed"), _) => CloseReason::AgentClosed,
            (Some("user_closed"), _) => CloseReason::UserClosed,
            (None, Role::Assistant) => CloseReason::UserClosed,
            (None, _) => CloseReason::AgentClosed,
            (Some(other), _) => {
                return Err(ApiError::unprocessable(
                    "invalid_reason",
                    format!("reason must be agent_closed or user_closed, got {other:?}"),
                ))
            }
        };
        for _ in 0..MAX_ATTEMPTS {
            let now = self.clock.now();
            let c = self.conversation(id).await?;
            authorize(who, &c)?;
            owner_only(who, &c)?;
            let closed = workspace::close(&c, reason, now).map_err(workspace_error)?;
            if let WriteOutcome::Committed =
                self.store.update_conversation(&closed, c.version).await?
            {
                let channel = self.channel(&c.channel).await?;
                send_closing_message(
                    self.store.as_ref(),
                    self.outbound.as_ref(),
                    &channel,
                    &closed,
                    now,
                )
                .await?;
                tracing::info!(conversation_id = %closed.id, reason = ?reason, by = %who.sub, "conversation closed");
                self.announce(&[events::conversation_closed(&closed, &who.sub)])
                    .await;
                return Ok(json(StatusCode::OK, &closed));
            }
        }
        Err(ApiError::conflict(
            "concurrent_update",
            "the conversation changed meanwhile; retry",
        ))
    }

    pub(crate) async fn settings(&self, who: &Caller, channel: &str) -> ApiResult {
        if who.role == Role::Assistant {
            return Err(ApiError::forbidden(
                "channel settings are for agents and supervisors",
            ));
        }
        let c = self.channel(channel).await?;
        Ok(json(StatusCode::OK, &c))
    }

    /// `PUT /v1/channels/{channel}/settings` (supervisors): the keys given replace the
    /// current ones; everything is validated before anything is written.
    pub(crate) async fn update_settings(
        &self,
        req: &Request,
        who: &Caller,
        channel: &str,
    ) -> ApiResult {
        if who.role != Role::Supervisor {
            return Err(ApiError::forbidden(
                "only supervisors change channel settings",
            ));
        }
        let patch: serde_json::Map<String, Value> = parse_body(req)?;
        if let Some(bad) = patch.keys().find(|k| !SETTINGS_KEYS.contains(&k.as_str())) {
            return Err(ApiError::unprocessable(
                "invalid_settings",
                format!(
                    "{bad:?} is not a setting; settings are {}",
                    SETTINGS_KEYS.join(", ")
                ),
            ));
        }
        let current = self.channel(channel).await?;
        let mut merged =
            serde_json::to_value(&current).map_err(|e| ApiError::internal(e.to_string()))?;
        for (k, v) in patch {
            merged[k] = v;
        }
        let next: Channel = serde_json::from_value(merged)
            .map_err(|e| ApiError::unprocessable("invalid_settings", e.to_string()))?;
        let mut errors = Vec::new();
        if !(MIN_AUTO_CLOSE_HOURS..=MAX_AUTO_CLOSE_HOURS).contains(&next.auto_close_hours) {
            errors.push(format!(
                "auto_close_hours must be {MIN_AUTO_CLOSE_HOURS} to {MAX_AUTO_CLOSE_HOURS}, got {}",
                next.auto_close_hours
            ));
        }
        // The queues the settings name must exist.
        let mut named = vec![next.default_queue.clone()];
        collect_queues(
            next.routing.as_ref(),
            next.active_routing.as_ref(),
            &mut named,
        );
        let mut known = std::collections::HashSet::new();
        for q in named {
            if self.store.queue(&q).await?.is_some() {
                known.insert(q);
            }
        }
        if !known.contains(&next.default_queue) {
            errors.push(format!(
                "default_queue: queue {:?} does not exist",
                next.default_queue
            ));
        }
        errors.extend(routing::validate(
            next.routing.as_ref(),
            next.active_routing.as_ref(),
            &next.allowlist,
            next.grouping_seconds,
            &next.handoff,
            &|q| known.contains(q),
        ));
        if !errors.is_empty() {
            return Err(
                ApiError::unprocessable("invalid_settings", errors.join("; "))
                    .with_details(json!({ "errors": errors })),
            );
        }
        self.store.put_channel(&next).await?;
        tracing::info!(channel = %next.id, by = %who.sub, "channel settings changed");
        Ok(json(StatusCode::OK, &next))
    }
}

fn collect_queues(
    r: Option<&routing::Routing>,
    a: Option<&routing::ActiveRouting>,
    out: &mut Vec<String>,
) {
    let target = |t: &routing::Target, out: &mut Vec<String>| match t {
        routing::Target::Queue { queue } => out.push(queue.clone()),
        routing::Target::Assistant { backup_queue, .. } => out.push(backup_queue.clone()),
    };
    match r {
        Some(routing::Routing::Queue { queue, .. }) => out.push(queue.clone()),
        Some(routing::Routing::Assistant { target: t }) => target(t, out),
        Some(routing::Routing::Menu { menu }) => {
            out.push(menu.default_queue.clone());
            for o in &menu.options {
                target(&o.target, out);
            }
        }
        None => {}
    }
    if let Some(a) = a {
        out.push(a.queue.clone());
    }
}
