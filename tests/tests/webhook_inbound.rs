//! Issue 4: the inbound WhatsApp path end to end, through the real handlers, the local
//! stack's API Gateway emulation, SQS FIFO, DynamoDB and EventBridge (emulator).

use conversa::domain::{message::Media, DeliveryStatus, Direction, Message, MessageContent};
use conversa::ports::store::*;
use conversa::provider::{webhook::InboundMessage, WorkItem};
use conversa_tests::*;
use serde_json::{json, Value};

const CONTACT: &str = "5548999990000";

async fn handshake(t: &TestStack, query: &str) -> (u16, String) {
    let r = t
        .http
        .get(t.url(&format!("/webhooks/whatsapp{query}")))
        .send()
        .await
        .unwrap();
    (r.status().as_u16(), r.text().await.unwrap())
}

#[tokio::test]
async fn handshake_with_the_right_token_answers_the_challenge() {
    let t = stack().await;
    let r = t
        .http
        .get(t.url("/webhooks/whatsapp?hub.mode=subscribe&hub.verify_token=dev-verify-token&hub.challenge=1158201444"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert!(r.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/plain"));
    assert_eq!(r.text().await.unwrap(), "1158201444");
}

#[tokio::test]
async fn handshake_with_a_wrong_token_is_forbidden() {
    let t = stack().await;
    let (status, body) = handshake(
        &t,
        "?hub.mode=subscribe&hub.verify_token=nope&hub.challenge=1",
    )
    .await;
    assert_eq!(status, 403);
    assert!(body.contains("verify_token"));
}

#[tokio::test]
async fn handshake_without_parameters_is_a_bad_request() {
    let t = stack().await;
    let (status, body) = handshake(&t, "?hub.mode=subscribe&hub.challenge=1").await;
    assert_eq!(status, 400);
    assert!(body.contains("missing_parameters"), "{body}");
    let (status, _) = handshake(&t, "").await;
    assert_eq!(status, 400);
}

#[tokio::test]
async fn signature_missing_wrong_or_over_an_altered_body_is_401_and_queues_nothing() {
    let t = stack().await;
    let inbound = t.queue_url("InboundQueue");
    let body = webhook_body(
        SAMPLE_CHANNEL_ID,
        json!([text_message(CONTACT, "wamid.S1", "oi")]),
        json!([]),
    );

    let missing = t
        .http
        .post(t.url("/webhooks/whatsapp"))
        .body(body.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(missing.status(), 401);
    let err: serde_json::Value = missing.json().await.unwrap();
    assert_eq!(err["code"], "unauthorized");
    assert!(err["message"].as_str().unwrap().contains("missing"));

    let wrong = t
        .http
        .post(t.url("/webhooks/whatsapp"))
        .header(
            "x-hub-signature-256",
            conversa::provider::signature::sign(b"not-the-secret", &body),
        )
        .body(body.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(wrong.status(), 401);

    let mut altered = body.clone();
    let pos = altered.iter().position(|b| *b == b'o').unwrap();
    altered[pos] = b'p';
    let tampered = t
        .http
        .post(t.url("/webhooks/whatsapp"))
        .header(
            "x-hub-signature-256",
            conversa::provider::signature::sign(b"dev-app-secret", &body),
        )
        .body(altered)
        .send()
        .await
        .unwrap();
    assert_eq!(tampered.status(), 401);
    assert_eq!(
        t.queue_depth(&inbound).await,
        0,
        "nothing queued on a bad signature"
    );

    let right = t.post_webhook(&body).await;
    assert_eq!(right.status(), 200);
    assert_eq!(t.queue_depth(&inbound).await, 1);
}

#[tokio::test]
async fn malformed_json_is_400_and_queues_nothing() {
    let t = stack().await;
    let r = t
        .post_webhook(b"{\"object\": \"whatsapp_business_account\", ")
        .await;
    assert_eq!(r.status(), 400);
    let err: serde_json::Value = r.json().await.unwrap();
    assert_eq!(err["code"], "malformed_json");

    let r = t
        .post_webhook(br#"{"object": "instagram", "entry": []}"#)
        .await;
    assert_eq!(r.status(), 400);
    let err: serde_json::Value = r.json().await.unwrap();
    assert_eq!(err["code"], "invalid_payload");
    assert_eq!(t.queue_depth(&t.queue_url("InboundQueue")).await, 0);
}

#[tokio::test]
async fn payload_with_several_entries_and_messages_is_split_and_applied_in_order() {
    let t = stack().await;
    let body = json!({
        "object": "whatsapp_business_account",
        "entry": [
            {"id": "W", "changes": [{"field": "messages", "value": {
                "metadata": {"phone_number_id": SAMPLE_CHANNEL_ID},
                "contacts": [{"profile": {"name": "Ana"}, "wa_id": "5548999990001"}],
                "messages": [
                    text_message("5548999990001", "wamid.E1", "primeira"),
                    text_message("5548999990001", "wamid.E2", "segunda"),
                    text_message("5548999990002", "wamid.E3", "outra pessoa")
                ]
            }}]},
            {"id": "W", "changes": [{"field": "messages", "value": {
                "metadata": {"phone_number_id": SAMPLE_CHANNEL_ID},
                "messages": [{"from": "5548999990001", "id": "wamid.E4", "timestamp": "1764057601",
                    "type": "location", "location": {"latitude": -27.59, "longitude": -48.54}}]
            }}]}
        ]
    });
    let r = t.post_webhook(body.to_string().as_bytes()).await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.json::<serde_json::Value>().await.unwrap()["queued"], 4);
    t.drain_inbound().await;

    let store = t.store();
    let a = store
        .contact(SAMPLE_CHANNEL_ID, "5548999990001")
        .await
        .unwrap()
        .unwrap();
    let conv = store
        .conversation(a.open_conversation_id.as_deref().unwrap())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(conv.message_count, 3);
    assert_eq!(a.name.as_deref(), Some("Ana"));
    let msgs = store.messages(&conv.id, None, 10).await.unwrap().items;
    let ids: Vec<&str> = msgs.iter().map(|m| m.id.as_str()).collect();
    assert_eq!(ids, ["wamid.E1", "wamid.E2", "wamid.E4"]);
    let b = store
        .contact(SAMPLE_CHANNEL_ID, "5548999990002")
        .await
        .unwrap()
        .unwrap();
    assert_ne!(b.open_conversation_id, a.open_conversation_id);
    assert_eq!(t.events_of("conversation.opened").await.len(), 2);
    assert_eq!(t.events_of("message.received").await.len(), 4);
}

#[tokio::test]
async fn the_same_webhook_delivered_twice_is_processed_once() {
    let t = stack().await;
    let body = webhook_body(
        SAMPLE_CHANNEL_ID,
        json!([text_message(CONTACT, "wamid.D1", "oi")]),
        json!([]),
    );
    assert_eq!(t.post_webhook(&body).await.status(), 200);
    t.drain_inbound().await;
    // The provider retries after the first copy was processed and deleted from the queue.
    assert_eq!(t.post_webhook(&body).await.status(), 200);
    t.drain_inbound().await;

    let store = t.store();
    let contact = store
        .contact(SAMPLE_CHANNEL_ID, CONTACT)
        .await
        .unwrap()
        .unwrap();
    let conv = store
        .conversation(contact.open_conversation_id.as_deref().unwrap())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(conv.message_count, 1);
    assert_eq!(
        store
            .messages(&conv.id, None, 10)
            .await
            .unwrap()
            .items
            .len(),
        1
    );
    assert_eq!(t.events_of("message.received").await.len(), 1);
    assert_eq!(t.events_of("conversation.opened").await.len(), 1);
}

fn text_item(id: &str, body: &str) -> WorkItem {
    WorkItem::Message {
        channel: SAMPLE_CHANNEL_ID.into(),
        contact: CONTACT.into(),
        contact_name: None,
        opt_out: false,
        message: InboundMessage {
            id: id.into(),
            at: 1_764_057_600_000,
            content: MessageContent::Text { body: body.into() },
            context_id: None,
        },
    }
}

#[tokio::test]
async fn an_sqs_redelivery_of_a_processed_item_changes_nothing() {
    let t = stack().await;
    let items = [text_item("wamid.R1", "oi")];
    assert!(t
        .invoke_inbound(&items)
        .await
        .batch_item_failures
        .is_empty());
    assert!(t
        .invoke_inbound(&items)
        .await
        .batch_item_failures
        .is_empty());
    let store = t.store();
    let contact = store
        .contact(SAMPLE_CHANNEL_ID, CONTACT)
        .await
        .unwrap()
        .unwrap();
    let conv = store
        .conversation(contact.open_conversation_id.as_deref().unwrap())
        .await
        .unwrap()
        .unwrap();
    assert_eq!((conv.message_count, conv.version), (1, 1));
    assert_eq!(t.events_of("message.received").await.len(), 1);
}

#[tokio::test]
async fn two_concurrent_first_messages_from_one_contact_make_one_conversation() {
    let t = stack().await;
    let (first, second) = (
        [text_item("wamid.C1", "um")],
        [text_item("wamid.C2", "dois")],
    );
    let (a, b) = tokio::join!(t.invoke_inbound(&first), t.invoke_inbound(&second));
    assert!(a.batch_item_failures.is_empty() && b.batch_item_failures.is_empty());
    let store = t.store();
    let page = store
        .conversations_of_contact(SAMPLE_CHANNEL_ID, CONTACT, None, 10)
        .await
        .unwrap();
    assert_eq!(page.items.len(), 1, "exactly one conversation");
    assert_eq!(page.items[0].message_count, 2);
    assert_eq!(
        store
            .messages(&page.items[0].id, None, 10)
            .await
            .unwrap()
            .items
            .len(),
        2
    );
    assert_eq!(t.events_of("conversation.opened").await.len(), 1);
}

async fn seed_outbound(t: &TestStack, id: &str) -> String {
    t.invoke_inbound(&[text_item("wamid.first", "oi")]).await;
    let store = t.store();
    let conversation_id = store
        .contact(SAMPLE_CHANNEL_ID, CONTACT)
        .await
        .unwrap()
        .unwrap()
        .open_conversation_id
        .unwrap();
    store
        .import_outbound(&Message {
            conversation_id: conversation_id.clone(),
            id: id.into(),
            direction: Direction::Outbound,
            content: MessageContent::Text {
                body: "Olá!".into(),
            },
            at: chrono::Utc::now().timestamp_millis(),
            stored_at: chrono::Utc::now().timestamp_millis(),
            status: Some(DeliveryStatus::Sent),
            error_code: None,
            context_id: None,
            sender: Some("agent-1".into()),
            provider_id: None,
            sent_at: None,
            failure: None,
            outcome_unknown_since: None,
        })
        .await
        .unwrap();
    conversation_id
}

fn status(id: &str, status: &str, extra: serde_json::Value) -> serde_json::Value {
    let mut s =
        json!({"id": id, "status": status, "timestamp": "1764057800", "recipient_id": CONTACT});
    if let serde_json::Value::Object(m) = extra {
        for (k, v) in m {
            s[k] = v;
        }
    }
    s
}

async fn outbound_message(t: &TestStack, id: &str) -> Message {
    let store = t.store();
    let reference = store.provider_message(id).await.unwrap().unwrap();
    store.message(&reference.key()).await.unwrap().unwrap()
}

#[tokio::test]
async fn statuses_out_of_order_read_then_delivered_stays_read() {
    let t = stack().await;
    seed_outbound(&t, "wamid.OUT1").await;
    let read = webhook_body(
        SAMPLE_CHANNEL_ID,
        json!([]),
        json!([status("wamid.OUT1", "read", json!({}))]),
    );
    let delivered = webhook_body(
        SAMPLE_CHANNEL_ID,
        json!([]),
        json!([status("wamid.OUT1", "delivered", json!({}))]),
    );
    assert_eq!(t.post_webhook(&read).await.status(), 200);
    t.drain_inbound().await;
    assert_eq!(t.post_webhook(&delivered).await.status(), 200);
    t.drain_inbound().await;
    assert_eq!(
        outbound_message(&t, "wamid.OUT1").await.status,
        Some(DeliveryStatus::Read)
    );
    let statuses = t.events_of("message.status").await;
    assert_eq!(statuses.len(), 1, "only the forward move is published");
    assert_eq!(statuses[0]["detail"]["status"], "read");
}

#[tokio::test]
async fn a_failed_status_keeps_its_error_code() {
    let t = stack().await;
    seed_outbound(&t, "wamid.OUT2").await;
    let failed = webhook_body(
        SAMPLE_CHANNEL_ID,
        json!([]),
        json!([status(
            "wamid.OUT2",
            "failed",
            json!({"errors": [{"code": 131047, "title": "Re-engagement message"}]})
        )]),
    );
    assert_eq!(t.post_webhook(&failed).await.status(), 200);
    t.drain_inbound().await;
    let m = outbound_message(&t, "wamid.OUT2").await;
    assert_eq!(m.status, Some(DeliveryStatus::Failed));
    assert_eq!(m.error_code, Some(131047));
    let events = t.events_of("message.status").await;
    assert_eq!(events[0]["detail"]["error_code"], 131047);
}

#[tokio::test]
async fn a_status_before_its_message_is_kept_pending_and_not_lost() {
    let t = stack().await;
    let early = [WorkItem::Status {
        channel: SAMPLE_CHANNEL_ID.into(),
        recipient: CONTACT.into(),
        message_id: "wamid.EARLY".into(),
        status: "delivered".into(),
        at: 1,
        error_code: None,
        error_title: None,
        callback_data: None,
    }];
    assert!(t
        .invoke_inbound(&early)
        .await
        .batch_item_failures
        .is_empty());
    assert!(t
        .store()
        .provider_message("wamid.EARLY")
        .await
        .unwrap()
        .is_none());
}

#[tokio::test]
async fn an_unknown_message_type_is_kept_as_unsupported_and_does_not_fail_the_batch() {
    let t = stack().await;
    let body = webhook_body(
        SAMPLE_CHANNEL_ID,
        json!([
            {"from": CONTACT, "id": "wamid.U1", "timestamp": "1764057600", "type": "order", "order": {"catalog_id": "1"}},
            {"from": CONTACT, "id": "wamid.U2", "timestamp": "1764057601", "type": "image",
             "image": {"id": "MEDIA-9", "mime_type": "image/png", "caption": "nota"}}
        ]),
        json!([]),
    );
    assert_eq!(t.post_webhook(&body).await.status(), 200);
    t.drain_inbound().await;
    let store = t.store();
    let id = store
        .contact(SAMPLE_CHANNEL_ID, CONTACT)
        .await
        .unwrap()
        .unwrap()
        .open_conversation_id
        .unwrap();
    let msgs = store.messages(&id, None, 10).await.unwrap().items;
    assert_eq!(
        msgs[0].content,
        MessageContent::Unsupported {
            original_type: "order".into()
        }
    );
    assert_eq!(
        msgs[1].content,
        MessageContent::Image(Media {
            media_id: "MEDIA-9".into(),
            mime_type: Some("image/png".into()),
            caption: Some("nota".into()),
            ..Media::default()
        })
    );
    assert_eq!(
        t.queue_depth(&t.queue_url("InboundDeadLetterQueue")).await,
        0
    );
}

#[tokio::test]
async fn an_unknown_channel_is_acknowledged_and_goes_to_the_dead_letter_queue_with_its_reason() {
    let t = stack().await;
    let body = webhook_body(
        "999999999999999",
        json!([text_message(CONTACT, "wamid.X1", "oi")]),
        json!([]),
    );
    assert_eq!(t.post_webhook(&body).await.status(), 200);
    t.drain_inbound().await;
    let dead = t.peek(&t.queue_url("InboundDeadLetterQueue")).await;
    assert_eq!(dead.len(), 1);
    let reason = dead[0].message_attributes().unwrap()["reason"]
        .string_value()
        .unwrap()
        .to_owned();
    assert!(reason.starts_with("unknown_channel"), "{reason}");
    assert!(dead[0].body().unwrap().contains("wamid.X1"));
    let page = t
        .store()
        .conversations_of_contact("999999999999999", CONTACT, None, 10)
        .await
        .unwrap();
    assert!(
        page.items.is_empty(),
        "nothing stored for an unknown channel"
    );
}

#[tokio::test]
async fn a_poison_item_lands_in_the_dead_letter_queue_and_does_not_block_other_contacts() {
    let t = stack().await;
    let sqs = aws_sdk_sqs::Client::new(&t.config);
    let inbound = t.queue_url("InboundQueue");
    sqs.send_message()
        .queue_url(&inbound)
        .message_body("{this is not a work item")
        .message_group_id(format!("{SAMPLE_CHANNEL_ID}#5548999990009"))
        .message_deduplication_id("poison-1")
        .send()
        .await
        .unwrap();
    let body = webhook_body(
        SAMPLE_CHANNEL_ID,
        json!([text_message(CONTACT, "wamid.P1", "oi")]),
        json!([]),
    );
    assert_eq!(t.post_webhook(&body).await.status(), 200);
    t.drain_inbound().await;

    let dead = t.peek(&t.queue_url("InboundDeadLetterQueue")).await;
    assert_eq!(dead.len(), 1);
    assert_eq!(dead[0].body(), Some("{this is not a work item"));
    let reason = dead[0].message_attributes().unwrap()["reason"]
        .string_value()
        .unwrap()
        .to_owned();
    assert!(reason.starts_with("unreadable work item"), "{reason}");
    let contact = t.store().contact(SAMPLE_CHANNEL_ID, CONTACT).await.unwrap();
    assert!(
        contact.and_then(|c| c.open_conversation_id).is_some(),
        "the other contact was served"
    );
    assert_eq!(t.queue_depth(&inbound).await, 0);
}

#[tokio::test]
async fn a_failing_record_fails_only_the_later_records_of_its_own_contact() {
    let t = stack().await;
    // A channel whose record cannot be decoded makes the store fail: a retryable error.
    let ddb = aws_sdk_dynamodb::Client::new(&t.config);
    ddb.put_item()
        .table_name(t.local.stack.reference("ConversationsTable").unwrap())
        .item(
            "pk",
            aws_sdk_dynamodb::types::AttributeValue::S("CHANNEL#broken".into()),
        )
        .item(
            "sk",
            aws_sdk_dynamodb::types::AttributeValue::S("CHANNEL".into()),
        )
        .item("id", aws_sdk_dynamodb::types::AttributeValue::N("1".into()))
        .send()
        .await
        .unwrap();
    let broken = |id: &str| WorkItem::Message {
        channel: "broken".into(),
        contact: CONTACT.into(),
        contact_name: None,
        opt_out: false,
        message: InboundMessage {
            id: id.into(),
            at: 1,
            content: MessageContent::Text { body: "x".into() },
            context_id: None,
        },
    };
    // Two groups interleaved: the sample channel's contact, and the broken channel's.
    let event = sqs_event(&[
        text_item("wamid.ok", "1"),
        broken("wamid.B1"),
        text_item("wamid.after", "2"),
        broken("wamid.B2"),
    ]);
    let ids: Vec<String> = event
        .records
        .iter()
        .map(|r| r.message_id.clone().unwrap())
        .collect();
    let poller = t
        .local
        .runtime
        .pollers
        .iter()
        .find(|p| p.function == "InboundFunction")
        .unwrap();
    let response = poller.handler.call(event).await;
    let failed: Vec<String> = response
        .batch_item_failures
        .iter()
        .map(|f| f.item_identifier.clone())
        .collect();
    assert_eq!(
        failed,
        vec![ids[1].clone(), ids[3].clone()],
        "the failure and the later records of its own group, nothing else"
    );
    let store = t.store();
    for applied in ["wamid.ok", "wamid.after"] {
        assert!(
            store.provider_message(applied).await.unwrap().is_some(),
            "{applied} of the healthy contact is applied"
        );
    }
}

#[tokio::test]
async fn reading_conversations_requires_a_token() {
    let t = stack().await;
    let r = t
        .http
        .get(t.url(&format!(
            "/v1/conversations?channel={SAMPLE_CHANNEL_ID}&contact={CONTACT}"
        )))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);

    let body = webhook_body(
        SAMPLE_CHANNEL_ID,
        json!([text_message(CONTACT, "wamid.V1", "Olá")]),
        json!([]),
    );
    t.post_webhook(&body).await;
    t.drain_inbound().await;
    let token = t.token("agent-1", "agent", &["support"]).await;
    let (status, page) = t
        .get_json(
            &format!("/v1/conversations?channel={SAMPLE_CHANNEL_ID}&contact={CONTACT}"),
            &token,
        )
        .await;
    assert_eq!(status, 200);
    let conv = &page["items"][0];
    assert_eq!(conv["state"], "queued");
    assert_eq!(conv["queue"], "support");
    let (status, msgs) = t
        .get_json(
            &format!(
                "/v1/conversations/{}/messages",
                conv["id"].as_str().unwrap()
            ),
            &token,
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(msgs["items"][0]["body"], "Olá");

    let (status, err) = t
        .get_json("/v1/conversations?channel=1&contact=12ab", &token)
        .await;
    assert_eq!(status, 422);
    assert_eq!(err["code"], "invalid_phone");
    let (status, _) = t.get_json("/v1/conversations/nope/messages", &token).await;
    assert_eq!(status, 404);
}

#[tokio::test]
async fn the_webhook_answers_500_when_the_queue_does_not_accept_the_items() {
    use conversa::app::Webhook;
    use std::sync::Arc;
    let t = stack().await;
    let sqs = aws_sdk_sqs::Client::new(&t.config);
    let webhook = Webhook {
        verify_token: "dev-verify-token".into(),
        app_secret: b"dev-app-secret".to_vec(),
        queue: Arc::new(conversa::aws::SqsWorkQueue::new(
            sqs.clone(),
            "http://127.0.0.1:1/123456789012/no-such-queue.fifo",
        )),
        dead_letters: Arc::new(conversa::aws::SqsWorkQueue::new(
            sqs,
            "http://127.0.0.1:1/123456789012/no-such-dlq.fifo",
        )),
        clock: t.local.clock.clone(),
    };
    let body = webhook_body(
        SAMPLE_CHANNEL_ID,
        json!([text_message(CONTACT, "wamid.Q1", "oi")]),
        json!([]),
    );
    let event = json!({
        "version": "2.0",
        "routeKey": "POST /webhooks/whatsapp",
        "rawPath": "/webhooks/whatsapp",
        "rawQueryString": "",
        "headers": {"x-hub-signature-256": conversa::provider::signature::sign(b"dev-app-secret", &body)},
        "requestContext": {"http": {"method": "POST", "path": "/webhooks/whatsapp", "protocol": "HTTP/1.1", "sourceIp": "127.0.0.1", "userAgent": "test"},
            "requestId": "r", "routeKey": "POST /webhooks/whatsapp", "stage": "$default", "timeEpoch": 0, "accountId": "1", "apiId": "a", "domainName": "d", "domainPrefix": "d", "time": "t"},
        "body": String::from_utf8(body).unwrap(),
        "isBase64Encoded": false
    });
    let req = lambda_http::request::from_str(&event.to_string()).unwrap();
    let resp = webhook.handle(req).await;
    assert_eq!(resp.status(), 500, "the provider must retry");
}

#[tokio::test]
async fn one_unreadable_message_is_dead_lettered_and_the_rest_of_the_webhook_applied() {
    let t = stack().await;
    let body = webhook_body(
        SAMPLE_CHANNEL_ID,
        json!([
            text_message(CONTACT, "wamid.GOOD1", "oi"),
            {"id": "wamid.NOFROM", "type": "text", "text": {"body": "sem remetente"}},
            text_message(CONTACT, "wamid.GOOD2", "tudo bem?")
        ]),
        json!([]),
    );
    let r = t.post_webhook(&body).await;
    assert_eq!(r.status(), 200, "Meta must not retry the good messages");
    let answer: Value = r.json().await.unwrap();
    assert_eq!(
        (answer["queued"].as_u64(), answer["rejected"].as_u64()),
        (Some(2), Some(1))
    );
    t.drain_inbound().await;
    let store = t.store();
    for good in ["wamid.GOOD1", "wamid.GOOD2"] {
        assert!(
            store.provider_message(good).await.unwrap().is_some(),
            "{good} applied"
        );
    }
    let dead = t.peek(&t.queue_url("InboundDeadLetterQueue")).await;
    assert_eq!(dead.len(), 1);
    let reason = dead[0].message_attributes().unwrap()["reason"]
        .string_value()
        .unwrap()
        .to_owned();
    assert!(reason.contains("missing field from"), "{reason}");
    assert!(
        dead[0].body().unwrap().contains("wamid.NOFROM"),
        "kept whole"
    );
    // Meta re-sending the same webhook changes nothing.
    assert_eq!(t.post_webhook(&body).await.status(), 200);
    t.drain_inbound().await;
    assert_eq!(
        t.peek(&t.queue_url("InboundDeadLetterQueue")).await.len(),
        1
    );
}

/// What the handlers log while `f` runs on this thread, as text.
async fn logs_of<F: std::future::Future>(f: F) -> String {
    #[derive(Clone, Default)]
    struct Buffer(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);
    impl std::io::Write for Buffer {
        fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(b);
            Ok(b.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let buffer = Buffer::default();
    let writer = buffer.clone();
    let subscriber = tracing_subscriber::fmt()
        .json()
        .with_max_level(tracing::Level::DEBUG)
        .with_writer(move || writer.clone())
        .finish();
    let guard = tracing::subscriber::set_default(subscriber);
    f.await;
    drop(guard);
    let bytes = buffer.0.lock().unwrap().clone();
    String::from_utf8(bytes).unwrap()
}

#[tokio::test]
async fn provider_errors_are_logged_by_code_never_by_their_text() {
    let t = stack().await;
    let item = WorkItem::Error {
        channel: SAMPLE_CHANNEL_ID.into(),
        errors: vec![json!({
            "code": 131000,
            "title": "Something went wrong",
            "message": "could not reach 5548999990000",
            "error_data": {"details": "payload quoted: senha123"}
        })],
    };
    let logs = logs_of(async {
        assert!(t
            .invoke_inbound(&[item])
            .await
            .batch_item_failures
            .is_empty());
    })
    .await;
    assert!(logs.contains("131000"), "{logs}");
    for secret in ["5548999990000", "senha123", "Something went wrong"] {
        assert!(!logs.contains(secret), "{secret} in the logs: {logs}");
    }
}

/// The contact item carries a copy of its open conversation so the next message reads both
/// at once; a copy left behind by a write that did not set it (here a bulk import) costs a
/// read, never a decision taken on old data.
#[tokio::test]
async fn a_stale_copy_of_the_open_conversation_is_never_the_base_of_a_write() {
    let t = stack().await;
    t.contact_sends(CONTACT, json!({"type": "text", "text": {"body": "oi"}}))
        .await;
    let open = t.open_conversation_of(CONTACT).await.expect("open");
    assert_eq!(open.message_count, 1);

    // Changed behind the copy's back.
    let mut changed = open.clone();
    changed.message_count = 40;
    changed.version += 1;
    t.store().import_conversations(&[changed]).await.unwrap();
    let (_, copy) = t
        .store()
        .contact_with_open_copy(SAMPLE_CHANNEL_ID, CONTACT)
        .await
        .unwrap();
    assert_eq!(
        copy.map(|c| c.version),
        Some(open.version),
        "the copy is stale"
    );

    t.contact_sends(
        CONTACT,
        json!({"type": "text", "text": {"body": "de novo"}}),
    )
    .await;
    let after = t.store_conversation(&open.id).await;
    assert_eq!(
        after.message_count, 41,
        "built on the conversation, not the copy"
    );
    assert_eq!(after.version, open.version + 2);
    let (_, copy) = t
        .store()
        .contact_with_open_copy(SAMPLE_CHANNEL_ID, CONTACT)
        .await
        .unwrap();
    assert_eq!(copy, Some(after), "the write refreshed the copy");
    let stored = t.store().messages(&open.id, None, 10).await.unwrap().items;
    assert_eq!(stored.len(), 2);
}

/// A copy that no longer decodes (an older shape of the conversation) is read past: the
/// message is applied from the conversation itself, never failed over a hint.
#[tokio::test]
async fn an_unreadable_copy_of_the_open_conversation_does_not_fail_the_message() {
    use aws_sdk_dynamodb::types::AttributeValue;
    let t = stack().await;
    t.contact_sends(CONTACT, json!({"type": "text", "text": {"body": "oi"}}))
        .await;
    let open = t.open_conversation_of(CONTACT).await.expect("open");
    let table = t
        .local
        .stack
        .reference("ConversationsTable")
        .expect("table");
    aws_sdk_dynamodb::Client::new(&t.config)
        .update_item()
        .table_name(table)
        .key(
            "pk",
            AttributeValue::S(format!("CONTACT#{SAMPLE_CHANNEL_ID}#{CONTACT}")),
        )
        .key("sk", AttributeValue::S("CONTACT".into()))
        .update_expression("SET open_conversation = :garbage")
        .expression_attribute_values(":garbage", AttributeValue::S("not a conversation".into()))
        .send()
        .await
        .expect("spoil the copy");

    t.contact_sends(
        CONTACT,
        json!({"type": "text", "text": {"body": "de novo"}}),
    )
    .await;
    let after = t.store_conversation(&open.id).await;
    assert_eq!(after.message_count, 2);
    let stored = t.store().messages(&open.id, None, 10).await.unwrap().items;
    assert_eq!(stored.len(), 2);
}
