//! `GET /v1/channels` (what an agent needs: id, name, colour, kind, may-start; the
//! start picker with `?can_start=true`) and `GET|PUT /v1/channels/{channel}/settings`
//! (supervisors only: the allowlist holds phone numbers): routing, handoff, grouping,
//! allowlist and auto-close settings, validated whole before anything is written and
//! written with optimistic concurrency (`ETag` / `If-Match`, 412 on conflict). Ports:
//! channels, queues.

use super::request::{parse_body, truncate};
use super::AgentApi;
use crate::app::auth::{Caller, Role};
use crate::app::http::{json, ApiError, ApiResult};
use crate::domain::{
    campaign::MAX_RATE,
    channel::{MAX_AUTO_CLOSE_HOURS, MESSAGING_LIMITS, MIN_AUTO_CLOSE_HOURS},
    routing, Channel,
};
use lambda_http::{
    http::{HeaderValue, StatusCode},
    Body, Request, RequestExt, Response,
};
use serde_json::{json, Value};

/// The settings a supervisor may change; any other key is refused.
const SETTINGS_KEYS: [&str; 16] = [
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
    "throughput_per_second",
    "messaging_limit",
    "opt_out_keywords",
    "version",
];

impl AgentApi {
    /// `GET /v1/channels[?can_start=true]`: every channel (or those the caller may start
    /// conversations from), without their settings.
    pub(super) async fn list_channels(&self, req: &Request, who: &Caller) -> ApiResult {
        let can_start = match req.query_string_parameters().first("can_start") {
            None | Some("false") => false,
            Some("true") => true,
            Some(other) => {
                return Err(ApiError::unprocessable(
                    "invalid_parameter",
                    format!(
                        "can_start must be true or false, got {:?}",
                        truncate(other, 64)
                    ),
                ))
            }
        };
        let may_start = |c: &Channel| c.outbound_enabled && who.role != Role::Assistant;
        let mut channels = self.channels.channels().await?;
        channels.sort_by(|a, b| a.id.cmp(&b.id));
        let items: Vec<Value> = channels
            .iter()
            .filter(|c| !can_start || may_start(c))
            .map(|c| {
                json!({
                    "id": c.id,
                    "name": c.name,
                    "color": c.color,
                    "display_number": c.display_number,
                    "kind": c.kind(),
                    "can_start": may_start(c),
                })
            })
            .collect();
        Ok(json(StatusCode::OK, &json!({ "items": items })))
    }

    pub(super) async fn settings(&self, who: &Caller, channel: &str) -> ApiResult {
        if who.role != Role::Supervisor {
            return Err(ApiError::forbidden(
                "channel settings are read by supervisors; agents list channels with GET /v1/channels",
            ));
        }
        let c = self.channel(channel).await?;
        Ok(with_etag(json(StatusCode::OK, &c), c.version))
    }

    /// `PUT /v1/channels/{channel}/settings` (supervisors): the keys given replace the
    /// current ones; everything is validated before anything is written, and only if
    /// the settings are still the version named by `If-Match` (required).
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
        let expected = if_match(req)?;
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
        // The version may come as If-Match or inside the settings read before (a GET's
        // body sent back); either must still be the stored one.
        let in_body = match patch.get("version") {
            None => None,
            Some(v) => Some(v.as_u64().ok_or_else(|| {
                ApiError::unprocessable("invalid_settings", "version must be a whole number")
            })?),
        };
        let mut merged =
            serde_json::to_value(&current).map_err(|e| ApiError::internal(e.to_string()))?;
        for (k, v) in patch {
            merged[k] = v;
        }
        merged["id"] = json!(current.id);
        merged["version"] = json!(current.version + 1);
        let next: Channel = serde_json::from_value(merged)
            .map_err(|e| ApiError::unprocessable("invalid_settings", e.to_string()))?;
        let mut errors = Vec::new();
        if !(MIN_AUTO_CLOSE_HOURS..=MAX_AUTO_CLOSE_HOURS).contains(&next.auto_close_hours) {
            errors.push(format!(
                "auto_close_hours must be {MIN_AUTO_CLOSE_HOURS} to {MAX_AUTO_CLOSE_HOURS}, got {}",
                next.auto_close_hours
            ));
        }
        if !(1..=MAX_RATE).contains(&next.throughput_per_second) {
            errors.push(format!(
                "throughput_per_second must be 1 to {MAX_RATE}, got {}",
                next.throughput_per_second
            ));
        }
        if let Some(limit) = next
            .messaging_limit
            .filter(|l| !MESSAGING_LIMITS.contains(l))
        {
            errors.push(format!(
                "messaging_limit must be one of {MESSAGING_LIMITS:?} or null (unlimited), got {limit}"
            ));
        }
        if next.opt_out_keywords.len() > 20
            || next
                .opt_out_keywords
                .iter()
                .any(|k| k.trim().is_empty() || k.chars().count() > 32)
        {
            errors.push("opt_out_keywords: at most 20 words of 1 to 32 characters".into());
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
        // Valid settings, then whether they are still the version the caller read.
        for expected in [expected, in_body].into_iter().flatten() {
            if expected != current.version {
                return Err(stale(expected, current.version));
            }
        }
        // Nothing changed: nothing written, the version stays.
        let unchanged = Channel {
            version: current.version,
            ..next.clone()
        } == current;
        if unchanged {
            return Ok(with_etag(json(StatusCode::OK, &current), current.version));
        }
        if !self.channels.update_channel(&next, current.version).await? {
            let now = self.channel(channel).await?.version;
            return Err(stale(current.version, now));
        }
        tracing::info!(channel = %next.id, by = %who.sub, version = next.version, "channel settings changed");
        Ok(with_etag(json(StatusCode::OK, &next), next.version))
    }
}

/// The settings version a `PUT` is conditional on: `If-Match: "3"` (or `*`, or absent,
/// for "whatever is there" — kept for scripts; the API documents `If-Match` as expected).
fn if_match(req: &Request) -> Result<Option<u64>, ApiError> {
    let Some(raw) = req.headers().get("if-match") else {
        return Ok(None);
    };
    let raw = raw.to_str().unwrap_or("").trim();
    if raw == "*" {
        return Ok(None);
    }
    raw.trim_start_matches("W/")
        .trim_matches('"')
        .parse::<u64>()
        .map(Some)
        .map_err(|_| {
            ApiError::bad_request(
                "invalid_if_match",
                "If-Match takes the settings' ETag, e.g. \"3\"",
            )
        })
}

fn stale(expected: u64, current: u64) -> ApiError {
    ApiError::new(
        StatusCode::PRECONDITION_FAILED,
        "settings_changed",
        format!("the settings are at version {current}, not {expected}: read them again"),
    )
    .with_details(json!({ "version": current }))
    .with_header("etag", format!("\"{current}\""))
}

fn with_etag(mut resp: Response<Body>, version: u64) -> Response<Body> {
    if let Ok(v) = HeaderValue::from_str(&format!("\"{version}\"")) {
        resp.headers_mut().insert("etag", v);
    }
    resp
}

fn collect_queues(
    r: Option<&routing::Routing>,
    a: Option<&routing::ActiveRouting>,
    out: &mut Vec<String>,
) {
    let target = |t: &routing::Target, out: &mut Vec<String>| match t {
        routing::Target::Queue { queue, .. } => out.push(queue.clone()),
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
