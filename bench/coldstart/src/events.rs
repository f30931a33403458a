//! A representative event for each function, as its trigger in AWS would deliver it, and
//! what a successful answer to it looks like. `n` numbers the invocation: ids, contacts
//! and message ids that must be new each time (an inbound message, a webhook) carry it,
//! so every invocation does the same work instead of finding a duplicate.

use conversa::domain::inbound::{Timer, TimerKind};
use conversa::ports::{OutboxEntry, OUTBOX_KIND};
use conversa_infra::dev;
use conversa_infra::emulator::{ACCOUNT_ID, REGION};
use conversa_infra::template::{FunctionDef, FunctionEvent};
use serde_json::{json, Value};

/// The binary name of the floor.
pub const FLOOR: &str = "echo-floor";

/// What the harness hands a function, and what it says about it in the report.
#[derive(Debug, Clone)]
pub struct Event {
    pub payload: Value,
    /// A few words: which event it is (docs/performance.md lists them).
    pub describe: String,
    pub expect: Expect,
}

/// What a successful answer is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Expect {
    /// An API Gateway answer with a 2xx `statusCode`.
    Http,
    /// A batch answer without `batchItemFailures`.
    Batch,
    /// Any answer that is not an error.
    Any,
}

/// Checks an answer; `Err` says what is wrong with it.
pub fn check(expect: Expect, answer: &Value) -> Result<(), String> {
    match expect {
        Expect::Http => match answer["statusCode"].as_i64() {
            Some(s) if (200..300).contains(&s) => Ok(()),
            Some(s) => Err(format!("status {s}: {}", answer["body"])),
            None => Err(format!("no statusCode in {answer}")),
        },
        Expect::Batch => match answer["batchItemFailures"].as_array() {
            Some(f) if !f.is_empty() => Err(format!("{} batch item failures", f.len())),
            _ => Ok(()),
        },
        Expect::Any => Ok(()),
    }
}

fn now_millis() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

/// An API Gateway HTTP API (payload 2.0) event, with the JWT authorizer's claims.
pub fn http_event(
    route_key: &str,
    method: &str,
    path: &str,
    query: &str,
    headers: Value,
    body: Option<&str>,
    claims: Option<Value>,
) -> Value {
    let now = chrono::Utc::now();
    let mut context = json!({
        "accountId": ACCOUNT_ID,
        "apiId": "coldstart",
        "domainName": "coldstart.execute-api.us-east-1.amazonaws.com",
        "domainPrefix": "coldstart",
        "http": {"method": method, "path": path, "protocol": "HTTP/1.1", "sourceIp": "127.0.0.1", "userAgent": "coldstart"},
        "requestId": ulid::Ulid::new().to_string(),
        "routeKey": route_key,
        "stage": "$default",
        "time": now.format("%d/%b/%Y:%H:%M:%S %z").to_string(),
        "timeEpoch": now.timestamp_millis(),
    });
    if let Some(claims) = claims {
        context["authorizer"] = json!({"jwt": {"claims": claims, "scopes": null}});
    }
    let query_parameters: serde_json::Map<String, Value> = query
        .split('&')
        .filter_map(|kv| kv.split_once('='))
        .map(|(k, v)| (k.to_owned(), json!(v)))
        .collect();
    let mut event = json!({
        "version": "2.0",
        "routeKey": route_key,
        "rawPath": path,
        "rawQueryString": query,
        "headers": headers,
        "requestContext": context,
        "isBase64Encoded": false,
    });
    if !query_parameters.is_empty() {
        event["queryStringParameters"] = Value::Object(query_parameters);
    }
    if let Some(body) = body {
        event["body"] = json!(body);
    }
    event
}

/// An SQS event of one message.
pub fn sqs_event(queue_arn: &str, body: &str, group: Option<&str>, n: u64) -> Value {
    let now = now_millis().to_string();
    let mut attributes = json!({
        "ApproximateReceiveCount": "1",
        "SentTimestamp": now,
        "SenderId": ACCOUNT_ID,
        "ApproximateFirstReceiveTimestamp": now,
    });
    if let Some(group) = group {
        attributes["MessageGroupId"] = json!(group);
        attributes["MessageDeduplicationId"] = json!(format!("coldstart-{n}"));
        attributes["SequenceNumber"] = json!(format!("{:020}", n));
    }
    json!({"Records": [{
        "messageId": ulid::Ulid::new().to_string(),
        "receiptHandle": format!("coldstart-receipt-{n}"),
        "body": body,
        "attributes": attributes,
        "messageAttributes": {},
        "md5OfBody": "",
        "eventSource": "aws:sqs",
        "eventSourceARN": queue_arn,
        "awsRegion": REGION,
    }]})
}

/// An SNS event of one notification, as SNS invokes a subscribed function.
pub fn sns_event(topic_arn: &str, message: &str) -> Value {
    json!({"Records": [{
        "EventSource": "aws:sns",
        "EventVersion": "1.0",
        "EventSubscriptionArn": format!("{topic_arn}:coldstart"),
        "Sns": {
            "Type": "Notification",
            "MessageId": ulid::Ulid::new().to_string(),
            "TopicArn": topic_arn,
            "Subject": null,
            "Message": message,
            "Timestamp": chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
            "SignatureVersion": "1",
            "Signature": "coldstart",
            "SigningCertUrl": "https://sns.us-east-1.amazonaws.com/coldstart.pem",
            "UnsubscribeUrl": "https://sns.us-east-1.amazonaws.com/?Action=Unsubscribe",
            "MessageAttributes": {}
        }
    }]})
}

/// An EventBridge event as a rule delivers it.
pub fn bus_event(source: &str, detail_type: &str, detail: Value, resources: Vec<String>) -> Value {
    json!({
        "version": "0",
        "id": ulid::Ulid::new().to_string(),
        "detail-type": detail_type,
        "source": source,
        "account": ACCOUNT_ID,
        "time": chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        "region": REGION,
        "resources": resources,
        "detail": detail,
    })
}

/// A DynamoDB stream event of one inserted outbox item (a domain event to publish).
pub fn outbox_stream_event(stream_arn: &str, n: u64) -> Value {
    let conversation = format!("01COLDSTART{n:015}");
    let entry = OutboxEntry::Event {
        detail_type: "conversation.updated".into(),
        detail: json!({
            "event_id": format!("{conversation}/v1/updated"),
            "conversation_id": conversation,
            "conversation": {"id": conversation, "state": "queued", "queue": "support"},
        })
        .to_string(),
    };
    let entry = serde_dynamo::to_attribute_value::<_, serde_dynamo::AttributeValue>(&entry)
        .ok()
        .and_then(|v| serde_json::to_value(v).ok())
        .unwrap_or(Value::Null);
    let pk = format!("OUTBOX#{conversation}");
    json!({"Records": [{
        "eventID": ulid::Ulid::new().to_string(),
        "eventName": "INSERT",
        "eventVersion": "1.1",
        "eventSource": "aws:dynamodb",
        "awsRegion": REGION,
        "eventSourceARN": stream_arn,
        "dynamodb": {
            "ApproximateCreationDateTime": now_millis() / 1000,
            "Keys": {"pk": {"S": pk}, "sk": {"S": "0"}},
            "NewImage": {"pk": {"S": pk}, "sk": {"S": "0"}, "kind": {"S": OUTBOX_KIND}, "entry": entry},
            "SequenceNumber": format!("{:021}", n + 1),
            "SizeBytes": 256,
            "StreamViewType": "NEW_AND_OLD_IMAGES",
        },
    }]})
}

fn claims() -> Value {
    json!({"sub": "agent-coldstart", "role": "agent", "queues": "[support sales]"})
}

fn first_of<'a, T>(
    def: &'a FunctionDef,
    pick: impl Fn(&'a FunctionEvent) -> Option<T>,
) -> Option<T> {
    def.events.iter().find_map(pick)
}

fn sqs_arn(def: &FunctionDef) -> String {
    first_of(def, |e| match e {
        FunctionEvent::Sqs { queue_arn, .. } => Some(queue_arn.clone()),
        _ => None,
    })
    .unwrap_or_else(|| format!("arn:aws:sqs:{REGION}:{ACCOUNT_ID}:coldstart"))
}

/// The event for invocation `n` of a function (`def` is `None` for the floor).
pub fn event_for(binary: &str, def: Option<&FunctionDef>, n: u64) -> Event {
    let contact = format!("55489{:08}", n % 100_000_000);
    let (payload, describe, expect) = match (binary, def) {
        (FLOOR, _) | (_, None) => (
            bus_event("aws.events", "Scheduled Event", json!({}), vec![]),
            "a scheduled event, echoed".into(),
            Expect::Any,
        ),
        ("webhook", Some(_)) => {
            let body = json!({"object": "whatsapp_business_account", "entry": [{
                "id": dev::SAMPLE_WABA_ID,
                "changes": [{"field": "messages", "value": {
                    "messaging_product": "whatsapp",
                    "metadata": {"display_phone_number": dev::SAMPLE_DISPLAY_NUMBER, "phone_number_id": dev::SAMPLE_CHANNEL_ID},
                    "contacts": [{"profile": {"name": "Cold Start"}, "wa_id": contact}],
                    "messages": [{"from": contact, "id": format!("wamid.coldstart-{n}"),
                        "timestamp": (now_millis() / 1000).to_string(), "type": "text",
                        "text": {"body": "Olá, preciso de ajuda com meu pedido"}}],
                }}],
            }]})
            .to_string();
            let signature =
                conversa::provider::signature::sign(dev::APP_SECRET.as_bytes(), body.as_bytes());
            (
                http_event(
                    "POST /webhooks/whatsapp",
                    "POST",
                    "/webhooks/whatsapp",
                    "",
                    json!({"content-type": "application/json", "x-hub-signature-256": signature}),
                    Some(&body),
                    None,
                ),
                "`POST /webhooks/whatsapp`: a signed text message (verify, queue on `inbound.fifo`)"
                    .into(),
                Expect::Http,
            )
        }
        ("inbound", Some(def)) => {
            let body = json!({"kind": "message", "channel": dev::SAMPLE_CHANNEL_ID,
                "contact": contact, "contact_name": "Cold Start",
                "message": {"id": format!("wamid.coldstart-in-{n}"), "at": now_millis(), "type": "text", "body": "Olá"}})
            .to_string();
            let group = format!("{}#{contact}", dev::SAMPLE_CHANNEL_ID);
            (
                sqs_event(&sqs_arn(def), &body, Some(&group), n),
                "SQS: a new contact's first text message (opens a conversation)".into(),
                Expect::Batch,
            )
        }
        ("sms-inbound", Some(_)) => {
            let message = json!({"originationNumber": format!("+{contact}"),
                "destinationNumber": format!("+{}", dev::SAMPLE_SMS_NUMBER), "messageKeyword": "",
                "messageBody": "Olá, preciso de ajuda com meu pedido",
                "inboundMessageId": format!("coldstart-sms-{n}"), "previousPublishedMessageId": null})
            .to_string();
            (
                sns_event(&format!("arn:aws:sns:{REGION}:{ACCOUNT_ID}:coldstart-sms"), &message),
                "SNS: a contact's two-way SMS to the sample SMS channel (read its channel, queue on `inbound.fifo`)".into(),
                Expect::Any,
            )
        }
        ("agent-api", Some(_)) => (
            http_event(
                "ANY /v1/{proxy+}",
                "GET",
                "/v1/queues",
                "",
                json!({"authorization": "Bearer (checked by API Gateway)"}),
                None,
                Some(claims()),
            ),
            "`GET /v1/queues` as an agent of `support` and `sales` (JWT claims)".into(),
            Expect::Http,
        ),
        ("window-check", Some(_)) => {
            let path = format!(
                "/v1/channels/{}/contacts/5548999990000/window",
                dev::SAMPLE_CHANNEL_ID
            );
            (
                http_event(
                    "GET /v1/channels/{channel}/contacts/{phone}/window",
                    "GET",
                    &path,
                    "",
                    json!({}),
                    None,
                    Some(claims()),
                ),
                "`GET /v1/channels/{channel}/contacts/{phone}/window` as an agent".into(),
                Expect::Http,
            )
        }
        ("event-relay", Some(def)) => {
            let stream = first_of(def, |e| match e {
                FunctionEvent::DynamoDb { stream_arn, .. } => Some(stream_arn.clone()),
                _ => None,
            })
            .unwrap_or_default();
            (
                outbox_stream_event(&stream, n),
                "DynamoDB stream: one outbox item, a `conversation.updated` to publish".into(),
                Expect::Batch,
            )
        }
        ("handoff-timeout", Some(def)) => {
            let timer = Timer {
                subject: format!("01COLDSTART{n:015}"),
                kind: TimerKind::HandoffWait,
                due_at: now_millis(),
            };
            let body = serde_json::to_string(&timer).unwrap_or_default();
            (
                sqs_event(&sqs_arn(def), &body, None, n),
                "SQS: a due handoff timer of a conversation the table does not have".into(),
                Expect::Batch,
            )
        }
        ("hsm-send", Some(def)) => {
            let conversation = format!("01COLDSTART{n:015}");
            let body = json!({"conversation_id": conversation, "message_key": format!("{}#01COLDSTARTMSG", now_millis()),
                "message_id": "01COLDSTARTMSG", "channel": dev::SAMPLE_CHANNEL_ID, "to": contact,
                "free_form": true, "payload": {"type": "text", "text": {"body": "Olá", "preview_url": false}}})
            .to_string();
            (
                sqs_event(&sqs_arn(def), &body, Some(&conversation), n),
                "SQS: a send whose message the table does not have (read, nothing sent)".into(),
                Expect::Batch,
            )
        }
        ("notifier" | "assigner", Some(_)) => (
            bus_event(
                "conversa",
                "message.received",
                json!({"event_id": format!("coldstart/{n}"), "conversation_id": format!("01COLDSTART{n:015}"),
                       "channel": dev::SAMPLE_CHANNEL_ID}),
                vec![],
            ),
            "EventBridge: `message.received` of a conversation the table does not have".into(),
            Expect::Any,
        ),
        ("ws-connect", Some(_)) => (
            json!({
                "requestContext": {
                    "routeKey": "$disconnect", "eventType": "DISCONNECT", "connectionId": format!("coldstart{n}="),
                    "requestId": ulid::Ulid::new().to_string(), "apiId": "coldstart", "stage": "live",
                    "domainName": "coldstart.execute-api.us-east-1.amazonaws.com",
                    "connectedAt": now_millis() - 60_000, "requestTimeEpoch": now_millis(),
                    "messageDirection": "IN", "extendedRequestId": "x",
                    "identity": {"sourceIp": "127.0.0.1"},
                    "disconnectStatusCode": 1000, "disconnectReason": "Client-side close frame status not set",
                },
                "isBase64Encoded": false,
            }),
            "WebSocket `$disconnect` of an unknown connection".into(),
            Expect::Http,
        ),
        (_, Some(def)) => generic(def, n),
    };
    Event {
        payload,
        describe,
        expect,
    }
}

/// `hsm-send`'s event when the harness could seed real sends: an item of `outbound.fifo`
/// as the relay queued it for a template message an agent sent.
pub fn seeded_send(def: &FunctionDef, body: &str, group: &str, n: u64) -> Event {
    Event {
        payload: sqs_event(&sqs_arn(def), body, Some(group), n),
        describe: "SQS: the template message of a conversation an agent started, as the relay \
                   queued it (claim, the sandbox Graph API, the `sent` status)"
            .into(),
        expect: Expect::Batch,
    }
}

/// A function this file does not know: the shape of its first trigger.
fn generic(def: &FunctionDef, n: u64) -> (Value, String, Expect) {
    match def.events.first() {
        Some(FunctionEvent::HttpApi { path, method, .. }) => {
            let method = if method == "ANY" { "GET" } else { method };
            (
                http_event(
                    &format!("{method} {path}"),
                    method,
                    path,
                    "",
                    json!({}),
                    None,
                    Some(claims()),
                ),
                format!("`{method} {path}`"),
                Expect::Any,
            )
        }
        Some(FunctionEvent::Sqs { queue_arn, .. }) => (
            sqs_event(queue_arn, "{}", None, n),
            "SQS: `{}`".into(),
            Expect::Any,
        ),
        Some(FunctionEvent::DynamoDb { stream_arn, .. }) => (
            outbox_stream_event(stream_arn, n),
            "DynamoDB stream: one outbox item".into(),
            Expect::Any,
        ),
        Some(FunctionEvent::EventBridgeRule { .. }) => (
            bus_event("conversa", "coldstart", json!({}), vec![]),
            "EventBridge: an event".into(),
            Expect::Any,
        ),
        Some(FunctionEvent::Sns { topic }) => {
            (sns_event(topic, "{}"), "SNS: `{}`".into(), Expect::Any)
        }
        Some(FunctionEvent::Schedule { .. }) | None => scheduled(def),
    }
}

fn scheduled(def: &FunctionDef) -> (Value, String, Expect) {
    (
        bus_event(
            "aws.events",
            "Scheduled Event",
            json!({}),
            vec![format!(
                "arn:aws:events:{REGION}:{ACCOUNT_ID}:rule/{}",
                def.logical_id
            )],
        ),
        "a scheduled event".into(),
        Expect::Any,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_outbox_stream_event_reads_as_a_stream_event_with_its_entry() {
        let v = outbox_stream_event("arn:stream", 7);
        let event: aws_lambda_events::dynamodb::Event = serde_json::from_value(v).unwrap();
        let image = &event.records[0].change.new_image;
        let entry: OutboxEntry =
            serde_dynamo::from_attribute_value(image.get("entry").unwrap().clone()).unwrap();
        assert!(
            matches!(entry, OutboxEntry::Event { ref detail_type, .. } if detail_type == "conversation.updated")
        );
    }

    #[test]
    fn sqs_and_http_events_read_as_the_functions_read_them() {
        let v = sqs_event("arn:q", "{}", Some("g"), 3);
        let e: aws_lambda_events::sqs::SqsEvent = serde_json::from_value(v).unwrap();
        assert_eq!(e.records[0].attributes["MessageGroupId"], "g");
        let v = http_event(
            "GET /x",
            "GET",
            "/x",
            "a=1&b=2",
            json!({}),
            None,
            Some(claims()),
        );
        let _: aws_lambda_events::apigw::ApiGatewayV2httpRequest =
            serde_json::from_value(v).unwrap();
    }

    #[test]
    fn the_sns_event_reads_as_an_sns_event() {
        let v = sns_event("arn:aws:sns:us-east-1:123456789012:t", "{}");
        let e: aws_lambda_events::sns::SnsEvent = serde_json::from_value(v).unwrap();
        assert_eq!(e.records[0].sns.message, "{}");
    }

    #[test]
    fn answers_are_checked_by_kind() {
        assert!(check(Expect::Http, &json!({"statusCode": 200})).is_ok());
        assert!(check(Expect::Http, &json!({"statusCode": 403})).is_err());
        assert!(check(Expect::Batch, &json!({"batchItemFailures": []})).is_ok());
        assert!(check(
            Expect::Batch,
            &json!({"batchItemFailures": [{"itemIdentifier": "1"}]})
        )
        .is_err());
        assert!(check(Expect::Any, &json!(null)).is_ok());
    }
}
