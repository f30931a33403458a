//! SMS notifications in the local stack, delivered as SNS delivers them to Lambda: an
//! `SnsEvent` with one record whose `Message` is the payload, handed to the functions
//! subscribed to the SMS topic (`sms-inbound`), which queue it on `inbound.fifo`; from
//! there it is the usual inbound processing.
//!
//! - `POST /_dev/sms` `{"from", "channel", "body", "message_id"?, "keyword"?}`: a contact's
//!   two-way SMS to one of the business's numbers (`channel`: an SMS channel id
//!   `sms-554830000099` or the number), as AWS End User Messaging SMS publishes it.
//! - [`LocalStack::publish_sms_event`]: a configuration set's delivery event
//!   (`TEXT_SUCCESSFUL`, `TEXT_DELIVERED`, a failure); [`LocalStack::post_sms_events`]
//!   publishes the two of each SMS the sandbox accepts (`crate::sandbox_sms`), as the
//!   sandbox posts WhatsApp's status webhooks.

use crate::emulator::{ACCOUNT_ID, REGION};
use crate::sandbox::STATUS_WEBHOOK_ATTEMPTS;
use crate::LocalStack;
use axum::{
    body::Bytes,
    extract::State,
    http::StatusCode,
    response::{IntoResponse, Response},
    Json,
};
use conversa::domain::Phone;
use conversa::ports::Clock;
use conversa::provider::sms::OPT_OUT_KEYWORDS;
use serde::Deserialize;
use serde_json::{json, Value};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

/// The template's SMS topic (logical id).
pub const SMS_TOPIC: &str = "SmsTopic";

/// `POST /_dev/sms`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InboundSms {
    /// The contact's number (digits, `+` allowed).
    pub from: String,
    /// The business's number it was sent to: an SMS channel id or the number.
    pub channel: String,
    pub body: String,
    /// The provider's id (`inboundMessageId`); a new one when absent. The same id twice
    /// is a redelivery.
    #[serde(default)]
    pub message_id: Option<String>,
    /// `messageKeyword`; when absent, the body's first word if it is one of AWS's
    /// opt-out keywords or HELP (the service matches messages that begin with a
    /// keyword), else empty.
    #[serde(default)]
    pub keyword: Option<String>,
}

/// A configuration set's SMS delivery event, as its SNS event destination publishes it.
#[derive(Debug, Clone)]
pub struct SmsDeliveryEvent {
    /// `TEXT_SUCCESSFUL`, `TEXT_DELIVERED`, `TEXT_BLOCKED`...
    pub event_type: String,
    /// The send's `MessageId` (as `SendTextMessage` answered it).
    pub message_id: String,
    /// The business's number the send went from (digits, `+` allowed).
    pub origination: String,
    /// The contact's number (digits, `+` allowed).
    pub destination: String,
    /// The send's `Context`, handed back (`{"conversa": callback data}`).
    pub context: Option<Value>,
}

fn e164(number: &str) -> String {
    format!("+{}", number.trim().trim_start_matches('+'))
}

/// The keyword AWS End User Messaging SMS would report for this body.
fn keyword_of(body: &str) -> String {
    let first = body.split_whitespace().next().unwrap_or_default();
    let known = OPT_OUT_KEYWORDS
        .iter()
        .chain(&["HELP"])
        .any(|k| k.eq_ignore_ascii_case(first));
    if known {
        first.to_uppercase()
    } else {
        String::new()
    }
}

impl LocalStack {
    /// Publishes a message on one of the template's SNS topics (logical id): every
    /// function subscribed to it is invoked with an SNS event of one record, in turn.
    /// Their answers, or the first error.
    pub async fn publish_sns(&self, topic: &str, message: &str) -> Result<Vec<Value>, String> {
        let reference = self.stack.reference(topic).unwrap_or(topic).to_owned();
        let arn = if reference.starts_with("arn:") {
            reference.clone()
        } else {
            format!(
                "arn:aws:sns:{REGION}:{ACCOUNT_ID}:{}-{topic}",
                self.stack.name
            )
        };
        let subscribers: Vec<_> = self.runtime.subscribers(&reference).collect();
        if subscribers.is_empty() {
            return Err(format!("no function is subscribed to {topic}"));
        }
        let timestamp = chrono::DateTime::from_timestamp_millis(self.clock.now())
            .unwrap_or_default()
            .to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
        let mut answers = Vec::with_capacity(subscribers.len());
        for s in subscribers {
            let event = json!({"Records": [{
                "EventSource": "aws:sns",
                "EventVersion": "1.0",
                "EventSubscriptionArn": format!("{arn}:{}", ulid::Ulid::new()),
                "Sns": {
                    "Type": "Notification",
                    "MessageId": ulid::Ulid::new().to_string(),
                    "TopicArn": arn,
                    "Subject": null,
                    "Message": message,
                    "Timestamp": timestamp,
                    "SignatureVersion": "1",
                    "Signature": "local",
                    "SigningCertUrl": "http://127.0.0.1/local.pem",
                    "UnsubscribeUrl": "http://127.0.0.1/unsubscribe",
                    "MessageAttributes": {}
                }
            }]});
            let event = serde_json::from_value(event).map_err(|e| format!("sns event: {e}"))?;
            let answer = s
                .handler
                .call(event)
                .await
                .map_err(|e| format!("{}: {e}", s.function))?;
            answers.push(answer);
        }
        Ok(answers)
    }

    /// A contact's two-way SMS, published on the SMS topic as AWS End User Messaging SMS
    /// does. The payload it published, and the functions' answers.
    pub async fn receive_sms(&self, sms: &InboundSms) -> Result<(Value, Vec<Value>), String> {
        let message_id = sms
            .message_id
            .clone()
            .unwrap_or_else(|| format!("sms-in-{}", ulid::Ulid::new().to_string().to_lowercase()));
        let number = sms.channel.trim().trim_start_matches("sms-");
        let payload = json!({
            "originationNumber": e164(&sms.from),
            "destinationNumber": e164(number),
            "messageKeyword": sms.keyword.clone().unwrap_or_else(|| keyword_of(&sms.body)),
            "messageBody": sms.body,
            "inboundMessageId": message_id,
            "previousPublishedMessageId": null,
        });
        let answers = self.publish_sns(SMS_TOPIC, &payload.to_string()).await?;
        Ok((payload, answers))
    }

    /// A delivery event of an SMS send, published on the SMS topic as the configuration
    /// set's SNS event destination does.
    pub async fn publish_sms_event(&self, event: &SmsDeliveryEvent) -> Result<Vec<Value>, String> {
        let now = self.clock.now();
        let (status, description) = match event.event_type.as_str() {
            "TEXT_SUCCESSFUL" => ("SUCCESSFUL", "Message has been accepted by phone carrier"),
            "TEXT_DELIVERED" => ("DELIVERED", "Message has been accepted by phone"),
            "TEXT_QUEUED" => ("QUEUED", "Message is queued for delivery"),
            "TEXT_PENDING" => ("PENDING", "Message is being delivered"),
            _ => ("FAILED", "Message was not delivered"),
        };
        let mut payload = json!({
            "eventType": event.event_type,
            "eventVersion": "1.0",
            "eventTimestamp": now,
            "isFinal": !matches!(status, "QUEUED" | "PENDING" | "SUCCESSFUL"),
            "originationPhoneNumber": e164(&event.origination),
            "destinationPhoneNumber": e164(&event.destination),
            "isInternationalSend": false,
            "messageId": event.message_id,
            "messageRequestTimestamp": now,
            "messageEncoding": "GSM",
            "messageType": "TRANSACTIONAL",
            "messageStatus": status,
            "messageStatusDescription": description,
            "totalMessageParts": 1,
        });
        if let Some(context) = &event.context {
            payload["context"] = context.clone();
        }
        self.publish_sns(SMS_TOPIC, &payload.to_string()).await
    }
}

impl LocalStack {
    /// The delivery events of an SMS the sandbox accepted (`crate::sandbox_sms`: its
    /// outbox entry), as the configuration set's SNS event destination publishes them:
    /// `TEXT_SUCCESSFUL`, then `TEXT_DELIVERED`, with the send's `Context`, each after
    /// `status_delay_ms` and retried as the WhatsApp status webhooks are. Only when
    /// `status_webhooks` is on, and only for a send that named a configuration set (AWS
    /// has nowhere to send the events of one that did not).
    pub fn post_sms_events(self: &Arc<Self>, sent: &Value) {
        if !self.status_webhooks.load(Ordering::Relaxed) || sent["configuration_set"].is_null() {
            return;
        }
        let text = |field: &str| sent[field].as_str().unwrap_or_default().to_owned();
        let channel = text("channel");
        let event = |event_type: &str| SmsDeliveryEvent {
            event_type: event_type.to_owned(),
            message_id: text("id"),
            origination: channel.trim_start_matches("sms-").to_owned(),
            destination: text("to"),
            context: sent.get("context").filter(|c| c.is_object()).cloned(),
        };
        let events = [event("TEXT_SUCCESSFUL"), event("TEXT_DELIVERED")];
        let delay = Duration::from_millis(self.status_delay_ms.load(Ordering::Relaxed));
        let stack = self.clone();
        self.status_webhooks_in_flight
            .fetch_add(1, Ordering::SeqCst);
        tokio::spawn(async move {
            let _done = crate::sandbox::InFlight(&stack.status_webhooks_in_flight);
            for event in events {
                tokio::time::sleep(delay).await;
                // SNS retries a failed Lambda invocation (and Lambda its async
                // invocations); here a few times, quickly.
                for attempt in 0..STATUS_WEBHOOK_ATTEMPTS {
                    match stack.publish_sms_event(&event).await {
                        Ok(_) => break,
                        Err(e) => {
                            tracing::warn!(error = %e, attempt, event_type = %event.event_type, "sandbox SMS event not taken; retrying")
                        }
                    }
                    tokio::time::sleep(Duration::from_millis(50 << attempt)).await;
                }
            }
        });
    }
}

fn error(status: StatusCode, code: &str, message: impl Into<String>) -> Response {
    (
        status,
        Json(json!({"code": code, "message": message.into()})),
    )
        .into_response()
}

/// `POST /_dev/sms` (any content type, like the other development routes).
pub async fn post_sms(State(s): State<Arc<LocalStack>>, body: Bytes) -> Response {
    let sms: InboundSms = match serde_json::from_slice(&body) {
        Ok(r) => r,
        Err(e) => {
            return error(
                StatusCode::BAD_REQUEST,
                "malformed_json",
                format!("expected {{\"from\", \"channel\", \"body\", \"message_id\"?}}: {e}"),
            )
        }
    };
    if Phone::parse(sms.from.trim().trim_start_matches('+')).is_err() {
        return error(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_from",
            "from must be a phone number: digits with country and area code",
        );
    }
    let number = sms
        .channel
        .trim()
        .trim_start_matches("sms-")
        .trim_start_matches('+');
    if number.is_empty() || !number.bytes().all(|b| b.is_ascii_digit()) {
        return error(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_channel",
            "channel must be an SMS channel id (sms-554830000099) or its number",
        );
    }
    if sms
        .message_id
        .as_deref()
        .is_some_and(|m| m.trim().is_empty())
    {
        return error(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_message_id",
            "message_id must not be empty",
        );
    }
    match s.receive_sms(&sms).await {
        Ok((payload, results)) => Json(json!({
            "message_id": payload["inboundMessageId"],
            "channel": conversa::domain::channel::ChannelKind::sms_channel_id(number),
            "results": results,
        }))
        .into_response(),
        Err(e) => error(StatusCode::BAD_GATEWAY, "function_failed", e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_keyword_is_an_opt_out_or_help_word_that_begins_the_body() {
        assert_eq!(keyword_of("stop"), "STOP");
        assert_eq!(keyword_of(" Cancel please"), "CANCEL");
        assert_eq!(keyword_of("help"), "HELP");
        assert_eq!(keyword_of("quero parar"), "");
        assert_eq!(keyword_of(""), "");
    }
}
