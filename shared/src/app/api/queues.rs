//! Queues as data (`GET /v1/queues`, `PUT /v1/queues/{queue}`, supervisors change them)
//! and the counters a supervisor staffs by (`GET /v1/queues/{queue}/stats`, CITSmart and
//! Voitel Lynk). Ports: queues, work lists.

use super::request::{parse_body, MAX_TEXT};
use super::AgentApi;
use crate::app::auth::{Caller, Role};
use crate::app::http::{json, valid_id, ApiError, ApiResult};
use crate::domain::{
    assignment::PositionNotice,
    workspace::{AssignmentMode, Queue},
    Conversation, Millis,
};
use crate::ports::{ListFilter, QueueList};
use lambda_http::{http::StatusCode, Request};
use serde::Deserialize;
use serde_json::json;
use std::collections::BTreeMap;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct QueueRequest {
    name: String,
    assignment: AssignmentMode,
    #[serde(default)]
    offline_message: Option<String>,
    #[serde(default)]
    max_concurrent: Option<u32>,
    #[serde(default)]
    reassign_after_seconds: Option<u32>,
    #[serde(default)]
    position_notice: Option<PositionNotice>,
}

fn field(field: &str, message: String) -> ApiError {
    ApiError::unprocessable("invalid_field", message).with_details(json!({ "field": field }))
}

/// The counters read at most this many conversations per list (100 pages of 100).
const STATS_PAGES: usize = 100;
const HOUR: Millis = 3_600_000;

impl AgentApi {
    /// `GET /v1/queues`: every queue for a supervisor, the caller's own for others.
    pub(super) async fn list_queues(&self, who: &Caller) -> ApiResult {
        let mut queues = self.queues.queues().await?;
        if who.role != Role::Supervisor {
            queues.retain(|q| who.queues.contains(&q.id));
        }
        queues.sort_by(|a, b| a.id.cmp(&b.id));
        Ok(json(StatusCode::OK, &json!({ "items": queues })))
    }

    /// `PUT /v1/queues/{queue}` (supervisors): creates or replaces a queue.
    pub(super) async fn put_queue(&self, req: &Request, who: &Caller, id: &str) -> ApiResult {
        if who.role != Role::Supervisor {
            return Err(ApiError::forbidden(
                "only supervisors create and change queues",
            ));
        }
        if !valid_id(id) {
            return Err(ApiError::unprocessable(
                "invalid_queue_id",
                "a queue id is 1 to 64 letters, digits, '-', '_' or '.'",
            ));
        }
        let body: QueueRequest = parse_body(req)?;
        let name = body.name.trim();
        if name.is_empty() || name.chars().count() > 100 {
            return Err(ApiError::unprocessable(
                "invalid_field",
                "name must be 1 to 100 characters",
            )
            .with_details(json!({"field": "name"})));
        }
        if let Some(m) = &body.offline_message {
            if m.trim().is_empty() || m.chars().count() > MAX_TEXT {
                return Err(ApiError::unprocessable(
                    "invalid_field",
                    format!("offline_message must be 1 to {MAX_TEXT} characters"),
                )
                .with_details(json!({"field": "offline_message"})));
            }
        }
        if body.max_concurrent.is_some_and(|n| !(1..=100).contains(&n)) {
            return Err(field(
                "max_concurrent",
                "max_concurrent must be 1 to 100 conversations".into(),
            ));
        }
        if body
            .reassign_after_seconds
            .is_some_and(|s| !(30..=86_400).contains(&s))
        {
            return Err(field(
                "reassign_after_seconds",
                "reassign_after_seconds must be 30 to 86400 seconds".into(),
            ));
        }
        if body.reassign_after_seconds.is_some() && !body.assignment.is_automatic() {
            return Err(field(
                "reassign_after_seconds",
                "reassign_after_seconds needs assignment round_robin or least_busy".into(),
            ));
        }
        if let Some(p) = &body.position_notice {
            if p.message.trim().is_empty() || p.message.chars().count() > MAX_TEXT {
                return Err(field(
                    "position_notice",
                    format!("position_notice.message must be 1 to {MAX_TEXT} characters"),
                ));
            }
            if !(1..=1440).contains(&p.every_minutes) {
                return Err(field(
                    "position_notice",
                    "position_notice.every_minutes must be 1 to 1440".into(),
                ));
            }
        }
        let existed = self.queues.queue(id).await?.is_some();
        let queue = Queue {
            id: id.to_owned(),
            name: name.to_owned(),
            mode: body.assignment,
            offline_message: body.offline_message,
            max_concurrent: body.max_concurrent,
            reassign_after_seconds: body.reassign_after_seconds,
            position_notice: body.position_notice,
        };
        self.queues.put_queue(&queue).await?;
        tracing::info!(queue = %queue.id, by = %who.sub, existed, "queue saved");
        let status = if existed {
            StatusCode::OK
        } else {
            StatusCode::CREATED
        };
        Ok(json(status, &queue))
    }

    /// `GET /v1/queues/{queue}/stats`: waiting count and oldest wait, average wait of the
    /// conversations captured in the last hour, in progress in all and per agent.
    pub(super) async fn queue_stats(&self, who: &Caller, queue: &str) -> ApiResult {
        self.queue_visible(who, queue).await?;
        let now = self.clock.now();
        let waiting = self.whole_list(queue, QueueList::Waiting, None).await?;
        let in_progress = self.whole_list(queue, QueueList::InProgress, None).await?;
        // Captured in the last hour: still in progress, or closed since.
        let closed = self
            .whole_list(queue, QueueList::Closed, Some(now - HOUR))
            .await?;
        let oldest = waiting
            .iter()
            .map(|c| c.queued_at.unwrap_or(c.opened_at))
            .min();
        let waits: Vec<Millis> = in_progress
            .iter()
            .chain(closed.iter())
            .filter_map(|c| match (c.queued_at, c.assigned_at) {
                (Some(q), Some(a)) if a >= now - HOUR && a >= q => Some(a - q),
                _ => None,
            })
            .collect();
        let mut per_agent: BTreeMap<&str, u64> = BTreeMap::new();
        for c in &in_progress {
            if let Some(a) = &c.agent {
                *per_agent.entry(a.as_str()).or_default() += 1;
            }
        }
        let average = (!waits.is_empty())
            .then(|| waits.iter().sum::<Millis>() / waits.len() as Millis / 1000);
        Ok(json(
            StatusCode::OK,
            &json!({
                "queue": queue,
                "waiting": waiting.len(),
                "oldest_wait_seconds": oldest.map(|t| (now - t).max(0) / 1000),
                "average_wait_seconds_last_hour": average,
                "captured_last_hour": waits.len(),
                "in_progress": in_progress.len(),
                "in_progress_by_agent": per_agent,
                "at": now,
            }),
        ))
    }

    /// Every conversation of a queue's list (bounded); a closed list stops at `since`.
    async fn whole_list(
        &self,
        queue: &str,
        list: QueueList,
        since: Option<Millis>,
    ) -> Result<Vec<Conversation>, ApiError> {
        let mut out = Vec::new();
        let mut cursor: Option<String> = None;
        for _ in 0..STATS_PAGES {
            let page = self
                .work_lists
                .queue_conversations(queue, list, &ListFilter::default(), cursor.as_deref(), 100)
                .await?;
            let done = since.is_some_and(|t| {
                page.items
                    .last()
                    .is_some_and(|c| c.closed_at.unwrap_or(c.updated_at) < t)
            });
            out.extend(page.items);
            cursor = page.next_cursor;
            if cursor.is_none() || done {
                break;
            }
        }
        Ok(out)
    }
}
