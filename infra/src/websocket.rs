//! The WebSocket API, locally: `GET /ws?token=...` upgrades after the template's
//! `ws-connect` function accepted `$connect` (the same handler as in Lambda, with the
//! development token check), and `POST /_ws/@connections/{id}` is API Gateway's
//! management endpoint (`PostToConnection`, 410 when the connection is gone), which the
//! `notifier` reaches through the real SDK client.

use crate::LocalStack;
use axum::{
    body::Bytes,
    extract::{
        ws::{Message, WebSocket, WebSocketUpgrade},
        Path, Query, State,
    },
    http::StatusCode,
    response::{IntoResponse, Response},
    Json,
};
use futures::{SinkExt, StreamExt};
use serde_json::json;
use std::collections::HashMap;
use std::sync::Arc;
use tokio::sync::{mpsc, Mutex};

/// Where the notifier's management calls go (`WEBSOCKET_ENDPOINT` locally).
pub const MANAGEMENT_PATH: &str = "/_ws";

/// The open connections of this process, by id.
#[derive(Default)]
pub struct Connections {
    senders: Mutex<HashMap<String, mpsc::UnboundedSender<String>>>,
}

impl Connections {
    pub async fn open(&self) -> usize {
        self.senders.lock().await.len()
    }
}

fn proxy_event(
    route: &str,
    id: &str,
    token: Option<&str>,
) -> Option<aws_lambda_events::apigw::ApiGatewayWebsocketProxyRequest> {
    let query = token.map(|t| json!({"token": t})).unwrap_or(json!({}));
    serde_json::from_value(json!({
        "path": "/",
        "headers": {},
        "multiValueHeaders": {},
        "queryStringParameters": query,
        "multiValueQueryStringParameters": {},
        "requestContext": {
            "routeKey": route,
            "eventType": if route == "$connect" { "CONNECT" } else { "DISCONNECT" },
            "connectionId": id,
            "connectedAt": chrono::Utc::now().timestamp_millis(),
            "requestTimeEpoch": chrono::Utc::now().timestamp_millis(),
            "messageDirection": "IN",
            "identity": {"sourceIp": "127.0.0.1"},
            "stage": "local",
            "apiId": "local",
            "requestId": ulid::Ulid::new().to_string(),
            "domainName": "127.0.0.1",
        },
        "isBase64Encoded": false,
    }))
    .map_err(|e| tracing::warn!(error = %e, "websocket event"))
    .ok()
}

/// `GET /ws?token=`: `$connect` decides, then the upgrade.
pub async fn upgrade(
    State(s): State<Arc<LocalStack>>,
    Query(query): Query<HashMap<String, String>>,
    ws: WebSocketUpgrade,
) -> Response {
    let Some(function) = s.runtime.websocket.clone() else {
        return (StatusCode::NOT_FOUND, "no WebSocket API in the template").into_response();
    };
    let id = ulid::Ulid::new().to_string();
    let Some(event) = proxy_event("$connect", &id, query.get("token").map(String::as_str)) else {
        return StatusCode::INTERNAL_SERVER_ERROR.into_response();
    };
    let status = function.call(event).await.status_code;
    if status != 200 {
        let code = StatusCode::from_u16(status as u16).unwrap_or(StatusCode::UNAUTHORIZED);
        return (
            code,
            Json(json!({"message": if status == 401 { "Unauthorized" } else { "Forbidden" }})),
        )
            .into_response();
    }
    ws.on_upgrade(move |socket| serve(socket, id, s))
}

async fn serve(socket: WebSocket, id: String, s: Arc<LocalStack>) {
    let (mut sink, mut stream) = socket.split();
    let (tx, mut rx) = mpsc::unbounded_channel::<String>();
    s.ws.senders.lock().await.insert(id.clone(), tx);
    let writer = tokio::spawn(async move {
        while let Some(frame) = rx.recv().await {
            if sink.send(Message::Text(frame.into())).await.is_err() {
                break;
            }
        }
    });
    // Clients send nothing that needs an answer; read until they close.
    while let Some(Ok(m)) = stream.next().await {
        if matches!(m, Message::Close(_)) {
            break;
        }
    }
    s.ws.senders.lock().await.remove(&id);
    writer.abort();
    if let (Some(function), Some(event)) = (
        s.runtime.websocket.clone(),
        proxy_event("$disconnect", &id, None),
    ) {
        function.call(event).await;
    }
}

fn gone() -> Response {
    (
        StatusCode::GONE,
        [("x-amzn-errortype", "GoneException")],
        Json(json!({"message": "the connection is gone"})),
    )
        .into_response()
}

/// `POST /_ws/@connections/{id}`: PostToConnection.
pub async fn post_to_connection(
    State(s): State<Arc<LocalStack>>,
    Path(id): Path<String>,
    body: Bytes,
) -> Response {
    let id = id.trim_start_matches('@').to_owned();
    let senders = s.ws.senders.lock().await;
    match senders.get(&id) {
        Some(tx) if tx.send(String::from_utf8_lossy(&body).into_owned()).is_ok() => {
            StatusCode::OK.into_response()
        }
        _ => gone(),
    }
}

/// `DELETE /_ws/@connections/{id}`: DeleteConnection.
pub async fn delete_connection(
    State(s): State<Arc<LocalStack>>,
    Path(id): Path<String>,
) -> Response {
    match s.ws.senders.lock().await.remove(&id) {
        Some(_) => StatusCode::NO_CONTENT.into_response(),
        None => gone(),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_connect_event_is_what_api_gateway_sends() {
        let e = super::proxy_event("$connect", "abc", Some("t")).expect("event");
        assert_eq!(e.request_context.connection_id.as_deref(), Some("abc"));
        assert_eq!(e.query_string_parameters.first("token"), Some("t"));
    }
}
