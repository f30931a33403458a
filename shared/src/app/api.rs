//! The agent and assistant API under `/v1/` (contract: docs/openapi.yaml).

use super::auth::{caller, Caller};
use super::http::{json, respond, ApiError, ApiResult};
use crate::domain::Phone;
use crate::ports::{Clock, ConversationStore};
use lambda_http::{http::Method, http::StatusCode, Body, Request, RequestExt, Response};
use std::sync::Arc;

const DEFAULT_PAGE: u32 = 50;
const MAX_PAGE: u32 = 100;

pub struct AgentApi {
    pub store: Arc<dyn ConversationStore>,
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
            (Method::GET, ["v1", "conversations", id, "messages"]) => {
                self.list_messages(req, &who, id).await
            }
            _ => Err(ApiError::not_found(format!(
                "no route for {} {path}",
                req.method()
            ))),
        }
    }

    async fn list_conversations(&self, req: &Request, _who: &Caller) -> ApiResult {
        let params = req.query_string_parameters();
        let channel = params.first("channel").ok_or_else(|| {
            ApiError::unprocessable("missing_parameter", "query parameter channel is required")
        })?;
        let contact = params.first("contact").ok_or_else(|| {
            ApiError::unprocessable("missing_parameter", "query parameter contact is required")
        })?;
        let contact = Phone::parse(contact)
            .map_err(|e| ApiError::unprocessable("invalid_phone", e.to_string()))?;
        let limit = page_limit(params.first("limit"))?;
        let page = self
            .store
            .conversations_of_contact(channel, contact.as_str(), params.first("cursor"), limit)
            .await
            .map_err(cursor_or_backend)?;
        Ok(json(StatusCode::OK, &page))
    }

    async fn list_messages(&self, req: &Request, _who: &Caller, id: &str) -> ApiResult {
        let params = req.query_string_parameters();
        if self.store.conversation(id).await?.is_none() {
            return Err(ApiError::not_found(format!("conversation {id} not found")));
        }
        let limit = page_limit(params.first("limit"))?;
        let page = self
            .store
            .messages(id, params.first("cursor"), limit)
            .await
            .map_err(cursor_or_backend)?;
        Ok(json(StatusCode::OK, &page))
    }
}

fn page_limit(raw: Option<&str>) -> Result<u32, ApiError> {
    match raw {
        None => Ok(DEFAULT_PAGE),
        Some(v) => v
            .parse::<u32>()
            .ok()
            .filter(|n| (1..=MAX_PAGE).contains(n))
            .ok_or_else(|| {
                ApiError::unprocessable("invalid_limit", format!("limit must be 1..={MAX_PAGE}"))
            }),
    }
}

fn cursor_or_backend(e: crate::ports::PortError) -> ApiError {
    if e.service == "cursor" {
        ApiError::unprocessable("invalid_cursor", "cursor is not one this API returned")
    } else {
        e.into()
    }
}
