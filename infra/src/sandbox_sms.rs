//! The sandbox's SMS side: answers `SendTextMessage` as AWS End User Messaging SMS does
//! (the emulator has no `pinpoint-sms-voice-v2`), so `hsm-send` talks to it through the
//! real SDK (`SmsEndpointUrl`). The awsJson1_0 protocol: `POST` with
//! `X-Amz-Target: PinpointSMSVoiceV2.SendTextMessage` and a JSON body, answered
//! `{"MessageId"}` or an error `{"__type", "message"}` with its HTTP status.
//!
//! Each accepted send is recorded in the outbox beside the WhatsApp ones
//! (`GET /_dev/outbox`): `{"kind": "sms", "channel", "origination_identity", "to", "id",
//! "at", "request": {"text": {"body"}}, "segments", "configuration_set", "context"}`.
//! The provider fault rules (`/_dev/provider/faults`, matched on the contact's digits)
//! apply as SMS errors: status 429 or code 130429 → `ThrottlingException`; status 409 or
//! code 131050 (WhatsApp's opt-out) → `ConflictException` with reason
//! `DESTINATION_PHONE_NUMBER_OPTED_OUT`; a 5xx status → `InternalServerException`;
//! `delay_ms` → accepted, answered late; anything else → `ValidationException`.

use crate::sandbox::Outcome;
use crate::LocalStack;
use axum::{
    body::Bytes,
    extract::State,
    http::{HeaderMap, StatusCode},
    response::{IntoResponse, Response},
    Json,
};
use conversa::domain::{phone::mask_phone, ChannelKind, Phone};
use conversa::ports::ChannelStore;
use serde_json::{json, Value};
use std::sync::Arc;

/// The operation the sandbox serves (`X-Amz-Target`).
pub const SEND_TEXT_MESSAGE: &str = "PinpointSMSVoiceV2.SendTextMessage";

/// `SendTextMessage`'s `MessageBody` limit, in characters (the service model's
/// `TextMessageBody`).
const MAX_BODY_CHARS: usize = 1600;

/// An awsJson1_0 error answer.
fn aws_error(status: StatusCode, kind: &str, message: &str, reason: Option<&str>) -> Response {
    let mut body = json!({"__type": kind, "message": message});
    if let Some(reason) = reason {
        body["Reason"] = json!(reason);
    }
    (
        status,
        [("content-type", "application/x-amz-json-1.0")],
        Json(body),
    )
        .into_response()
}

fn validation(message: &str) -> Response {
    aws_error(
        StatusCode::BAD_REQUEST,
        "ValidationException",
        message,
        Some("INVALID_PARAMETER"),
    )
}

/// The SMS error a fault rule's outcome stands for.
fn fault(status: StatusCode, code: i64) -> Response {
    if status == StatusCode::TOO_MANY_REQUESTS || code == 130429 {
        return aws_error(
            StatusCode::BAD_REQUEST,
            "ThrottlingException",
            "sandbox fault: rate exceeded",
            None,
        );
    }
    if status == StatusCode::CONFLICT || code == 131050 {
        return aws_error(
            StatusCode::BAD_REQUEST,
            "ConflictException",
            "sandbox fault: the destination phone number is opted out",
            Some("DESTINATION_PHONE_NUMBER_OPTED_OUT"),
        );
    }
    if status.is_server_error() {
        return aws_error(
            status,
            "InternalServerException",
            "sandbox fault: internal error",
            None,
        );
    }
    aws_error(
        StatusCode::BAD_REQUEST,
        "ValidationException",
        &format!("sandbox fault (code {code})"),
        Some("INVALID_PARAMETER"),
    )
}

/// `POST /_sandbox/sms`: `SendTextMessage`.
pub async fn send(State(s): State<Arc<LocalStack>>, headers: HeaderMap, body: Bytes) -> Response {
    let target = headers
        .get("x-amz-target")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    if target != SEND_TEXT_MESSAGE {
        return aws_error(
            StatusCode::BAD_REQUEST,
            "UnknownOperationException",
            &format!("the sandbox serves {SEND_TEXT_MESSAGE} only"),
            None,
        );
    }
    let Ok(request) = serde_json::from_slice::<Value>(&body) else {
        return aws_error(
            StatusCode::BAD_REQUEST,
            "SerializationException",
            "the body is not JSON",
            None,
        );
    };
    let text = |field: &str| request[field].as_str().unwrap_or_default().to_owned();
    let (origination, destination, message) = (
        text("OriginationIdentity"),
        text("DestinationPhoneNumber"),
        text("MessageBody"),
    );
    // `DestinationPhoneNumber`: E.164 (`\+?[1-9][0-9]{1,18}`); conversa's phone rule on
    // its digits.
    let to = destination.trim_start_matches('+');
    if Phone::parse(to).is_err() || to.starts_with('0') {
        return validation("DestinationPhoneNumber is not a phone number in E.164");
    }
    if message.trim().is_empty() || message.chars().count() > MAX_BODY_CHARS {
        return validation("MessageBody must be 1 to 1600 characters and not blank");
    }
    if request["MessageType"] != "TRANSACTIONAL" && request["MessageType"] != "PROMOTIONAL" {
        return validation("MessageType must be TRANSACTIONAL or PROMOTIONAL");
    }
    let Some(channel) = channel_of(&s, &origination).await else {
        return aws_error(
            StatusCode::BAD_REQUEST,
            "ResourceNotFoundException",
            "no phone number or pool of the account matches OriginationIdentity",
            None,
        );
    };
    let late = match s.provider_outcome(to).await {
        Outcome::Fail(status, code) => {
            tracing::info!(to = %mask_phone(to), code, "sandbox SMS fault");
            return fault(status, code);
        }
        Outcome::AcceptLate(delay) => Some(delay),
        Outcome::Accept => None,
    };
    let id = ulid::Ulid::new().to_string().to_lowercase();
    let sent = json!({
        "kind": "sms",
        "channel": channel,
        "origination_identity": origination,
        "to": destination,
        "id": id,
        "at": chrono::Utc::now().timestamp_millis(),
        "request": {"text": {"body": message}},
        "segments": conversa::domain::sms::segments(&message).ok(),
        "configuration_set": request.get("ConfigurationSetName"),
        "context": request.get("Context"),
    });
    s.outbox.lock().await.push(sent.clone());
    after_accept(&s, &sent);
    if let Some(delay) = late {
        tokio::time::sleep(delay).await;
    }
    (
        StatusCode::OK,
        [("content-type", "application/x-amz-json-1.0")],
        Json(json!({"MessageId": id})),
    )
        .into_response()
}

/// The SMS channel an origination identity sends for: a number in E.164 names its channel
/// (`sms-{digits}`), any other identity (an ARN, a pool) is the one a channel names; the
/// channel must exist, as the number must be the account's.
async fn channel_of(s: &LocalStack, origination: &str) -> Option<String> {
    let store = s.store();
    if let Some(digits) = origination.strip_prefix('+') {
        let id = ChannelKind::sms_channel_id(digits);
        return match store.channel(&id).await {
            Ok(Some(_)) => Some(id),
            _ => None,
        };
    }
    let channels = store.channels().await.ok()?;
    channels
        .into_iter()
        .find(|c| c.origination_identity.as_deref() == Some(origination))
        .map(|c| c.id)
}

/// What AWS does after accepting an SMS, beyond the answer: the configuration set's event
/// destination receives the send's delivery events (`TEXT_SUCCESSFUL`, `TEXT_DELIVERED`,
/// with the send's `context`), published on the SMS topic to `sms-inbound`
/// ([`LocalStack::post_sms_events`], when `status_webhooks` is on).
fn after_accept(stack: &Arc<LocalStack>, sent: &Value) {
    stack.post_sms_events(sent);
}
