//! The sandbox provider: answers Graph API sends as the WhatsApp Cloud API does, records
//! them (`GET /_dev/outbox`), fails on demand (`/_dev/provider/faults`), and after
//! accepting a message posts signed status webhooks (`sent`, `delivered`, `read`, with the
//! send's `biz_opaque_callback_data`) back to the stack, as Meta does.

use crate::LocalStack;
use axum::{
    body::Bytes,
    extract::{Path, State},
    http::{HeaderMap, StatusCode},
    response::{IntoResponse, Response},
    Json,
};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

/// How many times the sandbox posts a status webhook that was not answered 200.
pub const STATUS_WEBHOOK_ATTEMPTS: u32 = 6;

/// A rule the sandbox applies to the sends that match it.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProviderFault {
    /// Only sends to this number (any, when absent).
    #[serde(default)]
    pub phone: Option<String>,
    /// Answer this HTTP status (500, 429, ...).
    #[serde(default)]
    pub status: Option<u16>,
    /// Answer this Graph error code (130429, 131056, 131048, 131026, 131047, ...).
    #[serde(default)]
    pub error_code: Option<i64>,
    /// Accept the message (record it, post its statuses), then answer this late, after
    /// the caller's timeout: the outcome the caller sees is ambiguous.
    #[serde(default)]
    pub delay_ms: Option<u64>,
    /// How many sends it applies to (every one, when absent).
    #[serde(default)]
    pub times: Option<u32>,
    /// The share of matching sends it applies to (all, when absent).
    #[serde(default)]
    pub probability: Option<f64>,
    /// How many it applied to so far.
    #[serde(default)]
    pub fired: u32,
}

/// What the sandbox does with a send (WhatsApp's, and SMS's: `crate::sandbox_sms`).
pub(crate) enum Outcome {
    Accept,
    AcceptLate(Duration),
    Fail(StatusCode, i64),
}

impl LocalStack {
    /// A uniform draw in [0, 1) from a fixed-seed generator: runs repeat exactly.
    fn next_draw(&self) -> f64 {
        // xorshift64*, advanced atomically.
        let mut x = self.fault_seed.load(Ordering::Relaxed);
        loop {
            let mut next = x;
            next ^= next >> 12;
            next ^= next << 25;
            next ^= next >> 27;
            match self
                .fault_seed
                .compare_exchange(x, next, Ordering::Relaxed, Ordering::Relaxed)
            {
                Ok(_) => {
                    let out = next.wrapping_mul(0x2545_F491_4F6C_DD1D);
                    return (out >> 11) as f64 / (1u64 << 53) as f64;
                }
                Err(current) => x = current,
            }
        }
    }

    /// The first rule that matches this send and still applies, counted.
    pub(crate) async fn provider_outcome(&self, to: &str) -> Outcome {
        let mut rules = self.provider_faults.lock().await;
        // One draw per send, shared by the rules in order: 10 % + 5 % rules split it.
        let draw = self.next_draw();
        let mut below = 0.0;
        let Some(rule) = rules.iter_mut().find(|r| {
            let matches =
                r.phone.as_deref().is_none_or(|p| p == to) && r.times.is_none_or(|t| r.fired < t);
            match r.probability {
                Some(p) if matches => {
                    below += p;
                    draw < below
                }
                _ => matches,
            }
        }) else {
            return Outcome::Accept;
        };
        rule.fired += 1;
        if let Some(ms) = rule.delay_ms {
            return Outcome::AcceptLate(Duration::from_millis(ms));
        }
        let code = rule.error_code.unwrap_or(match rule.status {
            Some(429) => 130429,
            _ => 1,
        });
        let status = rule
            .status
            .and_then(|s| StatusCode::from_u16(s).ok())
            .unwrap_or(match code {
                130429 | 131056 | 80007 => StatusCode::TOO_MANY_REQUESTS,
                1 | 2 | 131000 => StatusCode::INTERNAL_SERVER_ERROR,
                _ => StatusCode::BAD_REQUEST,
            });
        Outcome::Fail(status, code)
    }

    /// Posts `sent`, `delivered` and `read` for an accepted message, signed like Meta's,
    /// each retried until answered 200 (up to [`STATUS_WEBHOOK_ATTEMPTS`] times).
    fn post_statuses(self: &Arc<Self>, phone_number_id: String, wamid: String, request: Value) {
        if !self.status_webhooks.load(Ordering::Relaxed) {
            return;
        }
        let delay = Duration::from_millis(self.status_delay_ms.load(Ordering::Relaxed));
        let stack = self.clone();
        self.status_webhooks_in_flight
            .fetch_add(1, Ordering::SeqCst);
        tokio::spawn(async move {
            let _done = InFlight(&stack.status_webhooks_in_flight);
            let client = reqwest::Client::new();
            let url = format!("{}/webhooks/whatsapp", stack.base_url);
            for status in ["sent", "delivered", "read"] {
                tokio::time::sleep(delay).await;
                let mut entry = json!({
                    "id": wamid,
                    "status": status,
                    "timestamp": chrono::Utc::now().timestamp().to_string(),
                    "recipient_id": request["to"],
                });
                if let Some(data) = request.get("biz_opaque_callback_data") {
                    entry["biz_opaque_callback_data"] = data.clone();
                }
                let body = json!({
                    "object": "whatsapp_business_account",
                    "entry": [{"id": crate::dev::SAMPLE_WABA_ID, "changes": [{"field": "messages", "value": {
                        "messaging_product": "whatsapp",
                        "metadata": {"phone_number_id": phone_number_id},
                        "statuses": [entry]
                    }}]}]
                })
                .to_string();
                let signature = conversa::provider::signature::sign(
                    crate::dev::APP_SECRET.as_bytes(),
                    body.as_bytes(),
                );
                // Meta retries a webhook that was not answered 200 (for days, less and
                // less often); here a few times, quickly.
                for attempt in 0..STATUS_WEBHOOK_ATTEMPTS {
                    let sent = client
                        .post(&url)
                        .header("content-type", "application/json")
                        .header("x-hub-signature-256", &signature)
                        .body(body.clone())
                        .send()
                        .await;
                    match sent {
                        Ok(r) if r.status().is_success() => break,
                        Ok(r) => {
                            tracing::warn!(status = %r.status(), attempt, "sandbox status webhook refused; retrying")
                        }
                        Err(e) => {
                            tracing::warn!(error = %e, attempt, "sandbox status webhook not delivered; retrying")
                        }
                    }
                    tokio::time::sleep(Duration::from_millis(50 << attempt)).await;
                }
            }
        });
    }
}

/// Counts a status-webhook or SMS-events task down when it ends, however it ends.
pub(crate) struct InFlight<'a>(pub(crate) &'a std::sync::atomic::AtomicUsize);

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

pub fn graph_error(status: StatusCode, code: i64, message: &str) -> Response {
    (
        status,
        Json(json!({"error": {"message": message, "type": "OAuthException", "code": code, "fbtrace_id": "sandbox"}})),
    )
        .into_response()
}

pub fn bearer_ok(headers: &HeaderMap) -> bool {
    headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v == format!("Bearer {}", crate::dev::GRAPH_TOKEN))
}

/// `POST /_sandbox/graph/{version}/{phone_number_id}/messages`.
pub async fn send(
    State(s): State<Arc<LocalStack>>,
    Path((_version, phone_number_id)): Path<(String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if !bearer_ok(&headers) {
        return graph_error(StatusCode::UNAUTHORIZED, 190, "Invalid OAuth access token.");
    }
    let Ok(request) = serde_json::from_slice::<Value>(&body) else {
        return graph_error(StatusCode::BAD_REQUEST, 100, "Invalid parameter");
    };
    // A read receipt (`status: read`) marks an inbound message read; recorded like a send.
    if request["messaging_product"] == "whatsapp" && request["status"] == "read" {
        if request["message_id"].as_str().is_none_or(str::is_empty) {
            return graph_error(StatusCode::BAD_REQUEST, 100, "Invalid parameter");
        }
        s.outbox.lock().await.push(json!({
            "phone_number_id": phone_number_id,
            "at": chrono::Utc::now().timestamp_millis(),
            "request": request,
        }));
        return Json(json!({"success": true})).into_response();
    }
    let to = request["to"].as_str().unwrap_or_default().to_owned();
    if request["messaging_product"] != "whatsapp" || conversa::domain::Phone::parse(&to).is_err() {
        return graph_error(StatusCode::BAD_REQUEST, 100, "Invalid parameter");
    }
    if request["type"] == "template" {
        let name = request["template"]["name"].as_str().unwrap_or_default();
        let known = crate::sandbox_templates()
            .into_iter()
            .any(|t| t.name == name && t.is_approved());
        if !known {
            return graph_error(
                StatusCode::BAD_REQUEST,
                132001,
                "Template name does not exist in the translation",
            );
        }
    }
    let late = match s.provider_outcome(&to).await {
        Outcome::Fail(status, code) => {
            return graph_error(status, code, "sandbox fault");
        }
        Outcome::AcceptLate(delay) => Some(delay),
        Outcome::Accept => None,
    };
    let wamid = format!("wamid.sandbox.{}", ulid::Ulid::new());
    s.outbox.lock().await.push(json!({
        "phone_number_id": phone_number_id,
        "id": wamid,
        "at": chrono::Utc::now().timestamp_millis(),
        "request": request,
    }));
    s.post_statuses(phone_number_id, wamid.clone(), request);
    if let Some(delay) = late {
        tokio::time::sleep(delay).await;
    }
    Json(json!({
        "messaging_product": "whatsapp",
        "contacts": [{"input": to, "wa_id": to}],
        "messages": [{"id": wamid}]
    }))
    .into_response()
}

/// `POST /_dev/provider/faults`: a [`ProviderFault`] (any content type).
pub async fn add_fault(State(s): State<Arc<LocalStack>>, body: Bytes) -> Response {
    match serde_json::from_slice::<ProviderFault>(&body) {
        Ok(mut rule) => {
            rule.fired = 0;
            let mut rules = s.provider_faults.lock().await;
            rules.push(rule);
            (StatusCode::CREATED, Json(json!({"id": rules.len()}))).into_response()
        }
        Err(e) => (
            StatusCode::UNPROCESSABLE_ENTITY,
            Json(json!({"code": "invalid_fault", "message": e.to_string()})),
        )
            .into_response(),
    }
}

pub async fn list_faults(State(s): State<Arc<LocalStack>>) -> Response {
    Json(json!({"rules": *s.provider_faults.lock().await})).into_response()
}

pub async fn clear_faults(State(s): State<Arc<LocalStack>>) -> Response {
    s.provider_faults.lock().await.clear();
    StatusCode::NO_CONTENT.into_response()
}
