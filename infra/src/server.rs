//! The local stack's HTTP front: API Gateway's job (routing, JWT authorizer, the
//! request event) plus the development-only routes under `/_dev/`.

use crate::devauth;
use crate::sandbox::{bearer_ok, graph_error};
use crate::LocalStack;
use axum::{
    body::Bytes,
    extract::{Path, Query, Request, State},
    http::{HeaderMap, StatusCode},
    response::{IntoResponse, Response},
    routing::{get, post},
    Json, Router,
};
use base64::Engine as _;
use conversa::ports::Clock;
use serde::Deserialize;
use serde_json::{json, Value};
use std::sync::Arc;

/// API Gateway's payload limit.
const MAX_BODY: usize = 10 * 1024 * 1024;

/// Where the sandbox provider answers Graph API calls in the local stack.
pub const SANDBOX_GRAPH: &str = "/_sandbox/graph";

/// Where the sandbox answers AWS End User Messaging SMS calls (`SmsEndpointUrl`).
pub const SANDBOX_SMS: &str = "/_sandbox/sms";

pub fn router(stack: Arc<LocalStack>) -> Router {
    Router::new()
        .route("/console", get(crate::console::redirect))
        .route("/console/", get(crate::console::index))
        .route("/console/{*path}", get(crate::console::file))
        .route("/ws", get(crate::websocket::upgrade))
        .route(
            "/_ws/{id}",
            post(crate::websocket::post_to_connection).delete(crate::websocket::delete_connection),
        )
        .route(
            "/_ws/@connections/{id}",
            post(crate::websocket::post_to_connection).delete(crate::websocket::delete_connection),
        )
        .route("/_dev/token", post(issue_token))
        .route("/_dev/clock", post(advance_clock).get(read_clock))
        .route("/_dev/events", get(list_events))
        .route("/_dev/metrics", get(list_metrics))
        .route("/_dev/outbox", get(list_outbox))
        .route("/_dev/sms", post(crate::sms_dev::post_sms))
        .route("/_dev/run/{function}", post(run_scheduled))
        .route(
            "/_dev/faults",
            post(add_fault).get(list_faults).delete(clear_faults),
        )
        .route(
            "/_dev/provider/faults",
            post(crate::sandbox::add_fault)
                .get(crate::sandbox::list_faults)
                .delete(crate::sandbox::clear_faults),
        )
        .route(
            "/_sandbox/graph/{version}/{id}/messages",
            post(crate::sandbox::send),
        )
        .route(
            "/_sandbox/graph/{version}/{id}/message_templates",
            get(sandbox_templates),
        )
        // The SDK posts to the endpoint's path with or without a trailing slash.
        .route(SANDBOX_SMS, post(crate::sandbox_sms::send))
        .route("/_sandbox/sms/", post(crate::sandbox_sms::send))
        .fallback(dispatch)
        .with_state(stack)
}

/// `POST /_dev/faults`: the emulator fails matching AWS calls (see `crate::faults`).
async fn add_fault(State(s): State<Arc<LocalStack>>, body: Bytes) -> Response {
    // Like the other development routes, any content type: `curl -d` works as is.
    let Ok(rule) = serde_json::from_slice::<Value>(&body) else {
        return error(
            StatusCode::BAD_REQUEST,
            "malformed_json",
            "the fault rule is not JSON",
        );
    };
    match s.inject_fault(rule).await {
        Ok(created) => (StatusCode::CREATED, Json(created)).into_response(),
        Err(crate::faults::FaultError::Refused(body)) => {
            (StatusCode::UNPROCESSABLE_ENTITY, Json(body)).into_response()
        }
        Err(e) => error(
            StatusCode::BAD_GATEWAY,
            "emulator_unreachable",
            e.to_string(),
        ),
    }
}

async fn list_faults(State(s): State<Arc<LocalStack>>) -> Response {
    match s.faults().await {
        Ok(rules) => Json(rules).into_response(),
        Err(e) => error(
            StatusCode::BAD_GATEWAY,
            "emulator_unreachable",
            e.to_string(),
        ),
    }
}

async fn clear_faults(State(s): State<Arc<LocalStack>>) -> Response {
    match s.clear_faults().await {
        Ok(()) => StatusCode::NO_CONTENT.into_response(),
        Err(e) => error(
            StatusCode::BAD_GATEWAY,
            "emulator_unreachable",
            e.to_string(),
        ),
    }
}

async fn list_outbox(State(s): State<Arc<LocalStack>>) -> Response {
    Json(json!({"messages": *s.outbox.lock().await})).into_response()
}

async fn run_scheduled(State(s): State<Arc<LocalStack>>, Path(function): Path<String>) -> Response {
    match s.runtime.run_scheduled(&function).await {
        Some(Ok(report)) => Json(json!({"function": function, "result": report})).into_response(),
        Some(Err(e)) => error(StatusCode::BAD_GATEWAY, "function_failed", e),
        None => error(
            StatusCode::NOT_FOUND,
            "not_found",
            format!("no scheduled function {function}"),
        ),
    }
}

#[derive(Deserialize)]
struct Paging {
    #[serde(default)]
    after: Option<usize>,
}

/// The sandbox's template catalogue, one template per page so paging is exercised.
async fn sandbox_templates(
    Path((version, waba)): Path<(String, String)>,
    Query(paging): Query<Paging>,
    headers: HeaderMap,
) -> Response {
    if !bearer_ok(&headers) {
        return graph_error(StatusCode::UNAUTHORIZED, 190, "Invalid OAuth access token.");
    }
    let all = crate::sandbox_templates();
    let at = paging.after.unwrap_or(0);
    let page: Vec<_> = all.iter().skip(at).take(1).collect();
    let host = headers
        .get("host")
        .and_then(|h| h.to_str().ok())
        .unwrap_or("127.0.0.1");
    let mut body = json!({"data": page, "paging": {"cursors": {"before": at.to_string(), "after": (at + 1).to_string()}}});
    if at + 1 < all.len() {
        body["paging"]["next"] = json!(format!(
            "http://{host}{SANDBOX_GRAPH}/{version}/{waba}/message_templates?limit=1&after={}",
            at + 1
        ));
    }
    Json(body).into_response()
}

fn error(status: StatusCode, code: &str, message: impl Into<String>) -> Response {
    (
        status,
        Json(json!({"code": code, "message": message.into()})),
    )
        .into_response()
}

async fn issue_token(State(s): State<Arc<LocalStack>>, body: Bytes) -> Response {
    let req: devauth::TokenRequest = match serde_json::from_slice(&body) {
        Ok(r) => r,
        Err(e) => {
            return error(
                StatusCode::BAD_REQUEST,
                "malformed_json",
                format!("expected {{\"sub\", \"role\", \"queues\"}}: {e}"),
            )
        }
    };
    if req.sub.trim().is_empty() {
        return error(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_sub",
            "sub must not be empty",
        );
    }
    if conversa::app::auth::Role::parse(&req.role).is_none() {
        return error(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_role",
            "role must be agent, assistant or supervisor",
        );
    }
    match devauth::issue(&req, &s.stack.jwt_audience, chrono::Utc::now().timestamp()) {
        Ok(token) => Json(json!({"token": token})).into_response(),
        Err(e) => error(StatusCode::INTERNAL_SERVER_ERROR, "internal", e.to_string()),
    }
}

#[derive(Deserialize)]
struct ClockRequest {
    advance_seconds: i64,
}

async fn advance_clock(State(s): State<Arc<LocalStack>>, body: Bytes) -> Response {
    let req: ClockRequest = match serde_json::from_slice(&body) {
        Ok(r) => r,
        Err(e) => {
            return error(
                StatusCode::BAD_REQUEST,
                "malformed_json",
                format!("expected {{\"advance_seconds\": N}}: {e}"),
            )
        }
    };
    if !(0..=10 * 365 * 86_400).contains(&req.advance_seconds) {
        return error(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_advance",
            "advance_seconds must be 0 (the clock only moves forward) to ten years",
        );
    }
    let now = s.advance_clock(req.advance_seconds).await;
    tracing::info!(
        advance_seconds = req.advance_seconds,
        "development clock moved"
    );
    clock_body(&s, now)
}

async fn read_clock(State(s): State<Arc<LocalStack>>) -> Response {
    clock_body(&s, s.clock.now())
}

fn clock_body(s: &LocalStack, now: i64) -> Response {
    let iso = chrono::DateTime::from_timestamp_millis(now).map(|t| t.to_rfc3339());
    Json(json!({"now": iso, "now_millis": now, "offset_seconds": s.clock.offset_seconds()}))
        .into_response()
}

async fn list_events(State(s): State<Arc<LocalStack>>) -> Response {
    Json(json!({"events": s.events_seen().await})).into_response()
}

/// `GET /_dev/metrics`: the functions' metric documents (CloudWatch EMF), oldest first.
async fn list_metrics(State(s): State<Arc<LocalStack>>) -> Response {
    s.runtime.drain_streams().await;
    Json(json!({"metrics": s.metric_documents()})).into_response()
}

/// Routes a request to the template's function, as API Gateway (HTTP API, payload 2.0).
async fn dispatch(State(s): State<Arc<LocalStack>>, req: Request) -> Response {
    let method = req.method().as_str().to_owned();
    let path = req.uri().path().to_owned();
    let query = req.uri().query().unwrap_or_default().to_owned();
    let headers = req.headers().clone();
    let Some(route) = s.runtime.route(&method, &path) else {
        return error(
            StatusCode::NOT_FOUND,
            "not_found",
            format!("no route for {method} {path}"),
        );
    };
    let claims = if route.authorized {
        let auth = headers.get("authorization").and_then(|v| v.to_str().ok());
        match devauth::verify(auth, &s.stack.jwt_audience) {
            Some(c) => Some(c),
            // API Gateway's own answer when the JWT authorizer rejects a request.
            None => {
                return (
                    StatusCode::UNAUTHORIZED,
                    Json(json!({"message": "Unauthorized"})),
                )
                    .into_response()
            }
        }
    } else {
        None
    };
    let body = match axum::body::to_bytes(req.into_body(), MAX_BODY).await {
        Ok(b) => b,
        Err(_) => {
            return error(
                StatusCode::PAYLOAD_TOO_LARGE,
                "payload_too_large",
                "request body over 10 MB",
            )
        }
    };
    let event = api_gateway_event(
        &route.method,
        &route.path,
        &method,
        &path,
        &query,
        &headers,
        &body,
        claims,
    );
    let request = match lambda_http::request::from_str(&event.to_string()) {
        Ok(r) => r,
        Err(e) => {
            return error(
                StatusCode::INTERNAL_SERVER_ERROR,
                "internal",
                format!("event: {e}"),
            )
        }
    };
    let response = route.handler.call(request).await;
    let (parts, body) = response.into_parts();
    let bytes: Vec<u8> = match body {
        lambda_http::Body::Empty => Vec::new(),
        lambda_http::Body::Text(t) => t.into_bytes(),
        lambda_http::Body::Binary(b) => b,
        _ => Vec::new(),
    };
    let mut out = Response::new(axum::body::Body::from(bytes));
    *out.status_mut() = parts.status;
    *out.headers_mut() = parts.headers;
    out
}

#[allow(clippy::too_many_arguments)]
fn api_gateway_event(
    route_method: &str,
    route_path: &str,
    method: &str,
    path: &str,
    query: &str,
    headers: &HeaderMap,
    body: &[u8],
    claims: Option<std::collections::HashMap<String, String>>,
) -> Value {
    let header_map: serde_json::Map<String, Value> = headers
        .iter()
        .filter_map(|(k, v)| Some((k.as_str().to_owned(), json!(v.to_str().ok()?))))
        .collect();
    let route_key = format!("{route_method} {route_path}");
    let now = chrono::Utc::now();
    let mut context = json!({
        "accountId": crate::emulator::ACCOUNT_ID,
        "apiId": "local",
        "domainName": "127.0.0.1",
        "domainPrefix": "local",
        "http": {"method": method, "path": path, "protocol": "HTTP/1.1", "sourceIp": "127.0.0.1", "userAgent": header_map.get("user-agent").cloned().unwrap_or(json!(""))},
        "requestId": ulid::Ulid::new().to_string(),
        "routeKey": route_key,
        "stage": "$default",
        "time": now.format("%d/%b/%Y:%H:%M:%S %z").to_string(),
        "timeEpoch": now.timestamp_millis(),
    });
    if let Some(claims) = claims {
        context["authorizer"] = json!({"jwt": {"claims": claims, "scopes": null}});
    }
    json!({
        "version": "2.0",
        "routeKey": route_key,
        "rawPath": path,
        "rawQueryString": query,
        "headers": header_map,
        "requestContext": context,
        "body": base64::engine::general_purpose::STANDARD.encode(body),
        "isBase64Encoded": true,
    })
}
