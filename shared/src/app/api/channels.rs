//! `GET|PUT /v1/channels/{channel}/settings`: routing, handoff, grouping, allowlist and
//! auto-close settings, validated whole before anything is written. Ports: channels,
//! queues.

use super::request::parse_body;
use super::AgentApi;
use crate::app::auth::{Caller, Role};
use crate::app::http::{json, ApiError, ApiResult};
use crate::domain::{
    channel::{MAX_AUTO_CLOSE_HOURS, MIN_AUTO_CLOSE_HOURS},
    routing, Channel,
};
use lambda_http::{http::StatusCode, Request};
use serde_json::{json, Value};

/// The settings a supervisor may change; any other key is refused.
const SETTINGS_KEYS: [&str; 12] = [
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
    "ambiguous_send",
];

impl AgentApi {
    pub(super) async fn settings(&self, who: &Caller, channel: &str) -> ApiResult {
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
    pub(super) async fn update_settings(
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
            if self.queues.queue(&q).await?.is_some() {
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
        self.channels.put_channel(&next).await?;
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
