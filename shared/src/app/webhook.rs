//! `GET|POST /webhooks/whatsapp`: Meta's handshake, then signed payloads to the queue.

use super::http::{json, respond, text, ApiError, ApiResult};
use crate::domain::Millis;
use crate::ports::{Clock, QueuedItem, WorkQueue};
use crate::provider::{split_payload, verify_signature, PayloadError};
use lambda_http::{http::Method, http::StatusCode, Body, Request, RequestExt, Response};
use std::sync::Arc;

pub const WEBHOOK_PATH: &str = "/webhooks/whatsapp";
pub const SIGNATURE_HEADER: &str = "x-hub-signature-256";

pub struct Webhook {
    pub verify_token: String,
    pub app_secret: Vec<u8>,
    pub queue: Arc<dyn WorkQueue>,
    /// Parts of a signed payload that can never be applied wait here with their reason.
    pub dead_letters: Arc<dyn WorkQueue>,
    pub clock: Arc<dyn Clock>,
}

impl Webhook {
    pub async fn handle(&self, req: Request) -> Response<Body> {
        let path = req.raw_http_path();
        if !path.ends_with(WEBHOOK_PATH) {
            return ApiError::not_found(format!("no route for {path}")).into();
        }
        respond(match *req.method() {
            Method::GET => self.handshake(&req),
            Method::POST => self.receive(&req).await,
            _ => Err(ApiError::new(
                StatusCode::METHOD_NOT_ALLOWED,
                "method_not_allowed",
                "use GET for the handshake and POST for events",
            )),
        })
    }

    /// Meta's subscription check: echo `hub.challenge` when the token matches.
    fn handshake(&self, req: &Request) -> ApiResult {
        let params = req.query_string_parameters();
        let (Some(mode), Some(token), Some(challenge)) = (
            params.first("hub.mode"),
            params.first("hub.verify_token"),
            params.first("hub.challenge"),
        ) else {
            return Err(ApiError::bad_request(
                "missing_parameters",
                "hub.mode, hub.verify_token and hub.challenge are required",
            ));
        };
        if mode != "subscribe" {
            return Err(ApiError::bad_request(
                "invalid_mode",
                format!("hub.mode must be subscribe, got {mode:?}"),
            ));
        }
        if !constant_time_eq(token.as_bytes(), self.verify_token.as_bytes()) {
            tracing::warn!("webhook handshake with a wrong verify token");
            return Err(ApiError::forbidden("hub.verify_token does not match"));
        }
        Ok(text(StatusCode::OK, challenge))
    }

    async fn receive(&self, req: &Request) -> ApiResult {
        let body = req.body().as_ref();
        let signature = req
            .headers()
            .get(SIGNATURE_HEADER)
            .and_then(|v| v.to_str().ok());
        verify_signature(&self.app_secret, signature, body).map_err(|e| {
            tracing::warn!(error = %e, "webhook rejected: signature");
            ApiError::unauthorized(e.to_string())
        })?;
        let received_at: Millis = self.clock.now();
        let split = split_payload(body, received_at).map_err(|e| {
            // The parser's message may quote payload values: logs get only the kind.
            let kind = match e {
                PayloadError::Malformed(_) => "malformed_json",
                PayloadError::NotWhatsApp(_) => "invalid_payload",
            };
            tracing::warn!(kind, bytes = body.len(), "webhook rejected: payload");
            match e {
                PayloadError::Malformed(_) => {
                    ApiError::bad_request("malformed_json", e.to_string())
                }
                PayloadError::NotWhatsApp(_) => {
                    ApiError::bad_request("invalid_payload", e.to_string())
                }
            }
        })?;
        let queued: Vec<QueuedItem> = split
            .items
            .iter()
            .map(|item| {
                Ok(QueuedItem {
                    body: serde_json::to_string(item)?,
                    group_id: item.group_id(),
                    dedup_id: item.dedup_id(),
                    reason: None,
                })
            })
            .collect::<Result<_, serde_json::Error>>()
            .map_err(|e| ApiError::internal(format!("encode work item: {e}")))?;
        // Acknowledge only what SQS has durably accepted; a 500 makes Meta retry,
        // and the FIFO deduplication ids make that retry harmless.
        if !queued.is_empty() {
            self.queue.enqueue(&queued).await.map_err(|e| {
                tracing::error!(error = %e, items = queued.len(), "webhook not queued");
                ApiError::internal("could not queue the webhook; retry")
            })?;
        }
        // One unreadable part must not make Meta retry, and finally drop, the good ones
        // with it: it waits in the dead-letter queue with its reason.
        let rejected: Vec<QueuedItem> = split
            .rejected
            .iter()
            .map(|r| QueuedItem {
                body: r.body.clone(),
                group_id: "rejected".into(),
                dedup_id: r.dedup_id(),
                reason: Some(r.reason.clone()),
            })
            .collect();
        if !rejected.is_empty() {
            for r in &split.rejected {
                tracing::warn!(reason = %r.reason, "part of a webhook moved to the dead-letter queue");
            }
            self.dead_letters.enqueue(&rejected).await.map_err(|e| {
                tracing::error!(error = %e, rejected = rejected.len(), "rejected parts not dead-lettered");
                ApiError::internal("could not queue the webhook; retry")
            })?;
        }
        tracing::info!(
            items = queued.len(),
            rejected = rejected.len(),
            bytes = body.len(),
            "webhook queued"
        );
        Ok(json(
            StatusCode::OK,
            &serde_json::json!({"queued": queued.len(), "rejected": rejected.len()}),
        ))
    }
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    use subtle::ConstantTimeEq;
    a.ct_eq(b).into()
}
