//! The lists agents work from: `GET /v1/queues/{queue}/conversations` (waiting, oldest
//! first, with wait time; or in progress) and `GET /v1/conversations?assigned=me`.
//! Ports: queues, work lists.

use super::request::{cursor_or_backend, list_filter, page_limit};
use super::AgentApi;
use crate::app::auth::{Caller, Role};
use crate::app::http::{json, ApiError, ApiResult};
use crate::ports::{AgentList, QueueList};
use lambda_http::{http::StatusCode, Request, RequestExt};
use serde_json::json;

impl AgentApi {
    pub(super) async fn queue_list(&self, req: &Request, who: &Caller, queue: &str) -> ApiResult {
        if who.role != Role::Supervisor && !who.queues.iter().any(|q| q == queue) {
            return Err(ApiError::forbidden(format!(
                "you are not in queue {queue:.64}"
            )));
        }
        if !crate::app::http::valid_id(queue) || self.queues.queue(queue).await?.is_none() {
            return Err(ApiError::not_found(format!("queue {queue} does not exist")));
        }
        let params = req.query_string_parameters();
        let list = match params.first("state").unwrap_or("queued") {
            "queued" => QueueList::Waiting,
            "in_progress" => QueueList::InProgress,
            other => {
                return Err(ApiError::unprocessable(
                    "invalid_state",
                    format!("state must be queued or in_progress, got {other:?}"),
                ))
            }
        };
        let limit = page_limit(params.first("limit"))?;
        let page = self
            .work_lists
            .queue_conversations(
                queue,
                list,
                &list_filter(req),
                params.first("cursor"),
                limit,
            )
            .await
            .map_err(cursor_or_backend)?;
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

    pub(super) async fn my_list(&self, req: &Request, who: &Caller) -> ApiResult {
        let params = req.query_string_parameters();
        let list = match params.first("archived") {
            None | Some("false") => AgentList::Active,
            Some("true") => AgentList::Archived,
            Some(other) => {
                return Err(ApiError::unprocessable(
                    "invalid_parameter",
                    format!("archived must be true or false, got {other:?}"),
                ))
            }
        };
        let limit = page_limit(params.first("limit"))?;
        let page = self
            .work_lists
            .agent_conversations(
                &who.sub,
                list,
                &list_filter(req),
                params.first("cursor"),
                limit,
            )
            .await
            .map_err(cursor_or_backend)?;
        Ok(json(StatusCode::OK, &page))
    }
}
