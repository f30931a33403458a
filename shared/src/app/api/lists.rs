//! The lists agents work from: `GET /v1/queues/{queue}/conversations` (waiting, oldest
//! first, with wait time; in progress; closed, newest first) and
//! `GET /v1/conversations?assigned=me` (active, or archived and closed newest first).
//! Every list filters by `channel`, `contact`, `origin` and `state`. Ports: queues,
//! work lists.

use super::access::authorize;
use super::request::{cursor_or_backend, enum_parameter, list_filter, page_limit};
use super::AgentApi;
use crate::app::auth::{Caller, Role};
use crate::app::http::{json, ApiError, ApiResult};
use crate::domain::ConversationState;
use crate::ports::{AgentList, QueueList};
use lambda_http::{http::StatusCode, Request, RequestExt};
use serde_json::json;

const STATES: &str = "queued, in_progress, assigned, on_hold, awaiting_reply or closed";

impl AgentApi {
    pub(super) async fn queue_list(&self, req: &Request, who: &Caller, queue: &str) -> ApiResult {
        self.queue_visible(who, queue).await?;
        let params = req.query_string_parameters();
        let mut filter = list_filter(req)?;
        let list = match params.first("state").unwrap_or("queued") {
            "queued" => QueueList::Waiting,
            "in_progress" => QueueList::InProgress,
            "closed" if who.role == Role::Supervisor => QueueList::Closed,
            "closed" => {
                return Err(ApiError::forbidden(
                    "a queue's closed conversations are listed by supervisors; yours are in GET /v1/conversations?assigned=me&archived=true",
                ))
            }
            other => {
                let state: ConversationState = enum_parameter("state", other, STATES)?;
                if !matches!(
                    state,
                    ConversationState::Assigned
                        | ConversationState::OnHold
                        | ConversationState::AwaitingReply
                ) {
                    return Err(ApiError::unprocessable(
                        "invalid_parameter",
                        format!("state must be {STATES}, got {other:?}"),
                    ));
                }
                filter.state = Some(state);
                QueueList::InProgress
            }
        };
        let limit = page_limit(params.first("limit"))?;
        let mut page = self
            .work_lists
            .queue_conversations(queue, list, &filter, params.first("cursor"), limit)
            .await
            .map_err(cursor_or_backend)?;
        // An agent sees the in-progress conversations that are its own, no one else's.
        page.items.retain(|c| authorize(who, c).is_ok());
        let now = self.clock.now();
        let items: Vec<serde_json::Value> = page
            .items
            .iter()
            .map(|c| {
                let mut v = json!(c);
                if list == QueueList::Waiting {
                    v["wait_seconds"] =
                        json!((now - c.queued_at.unwrap_or(c.opened_at)).max(0) / 1000);
                }
                v
            })
            .collect();
        Ok(json(
            StatusCode::OK,
            &json!({"items": items, "next_cursor": page.next_cursor}),
        ))
    }

    /// A queue exists and the caller works in it (or supervises).
    pub(super) async fn queue_visible(&self, who: &Caller, queue: &str) -> Result<(), ApiError> {
        if who.role != Role::Supervisor && !who.queues.iter().any(|q| q == queue) {
            return Err(ApiError::forbidden(format!(
                "you are not in queue {queue:.64}"
            )));
        }
        if !crate::app::http::valid_id(queue) || self.queues.queue(queue).await?.is_none() {
            return Err(ApiError::not_found(format!(
                "queue {queue:.64} does not exist"
            )));
        }
        Ok(())
    }

    /// `?assigned=me`: the caller's active list, or (`archived=true`) the archived and
    /// closed ones, newest first.
    pub(super) async fn my_list(&self, req: &Request, who: &Caller) -> ApiResult {
        let params = req.query_string_parameters();
        let list = match params.first("archived") {
            None | Some("false") => AgentList::Active,
            Some("true") => AgentList::Archived,
            Some(other) => {
                return Err(ApiError::unprocessable(
                    "invalid_parameter",
                    format!(
                        "archived must be true or false, got {:?}",
                        super::request::truncate(other, 64)
                    ),
                ))
            }
        };
        let mut filter = list_filter(req)?;
        if let Some(raw) = params.first("state") {
            filter.state = Some(enum_parameter(
                "state",
                raw,
                "awaiting_reply, assigned, on_hold or closed",
            )?);
        }
        let limit = page_limit(params.first("limit"))?;
        let page = self
            .work_lists
            .agent_conversations(&who.sub, list, &filter, params.first("cursor"), limit)
            .await
            .map_err(cursor_or_backend)?;
        Ok(json(StatusCode::OK, &page))
    }
}
