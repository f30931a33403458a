//! Test harness: one emulator per test binary, one stack (its own table, queues and bus,
//! created from `template.yaml`) per test, the local stack's server on a free port.

pub mod campaign;
pub mod iam;
pub mod realtime;
pub mod template_yaml;

use aws_config::SdkConfig;
use aws_lambda_events::sqs::SqsEvent;
use conversa::aws::DynamoStore;
use conversa::provider::signature::sign;
use conversa::provider::WorkItem;
use conversa_infra::{
    dev, emulator::Emulator, emulator_from_env, repo_root, server, template::Template, LocalStack,
};
use serde_json::{json, Value};
use std::collections::HashMap;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

pub use conversa_infra::dev::{SAMPLE_CHANNEL_ID, SAMPLE_DISPLAY_NUMBER};

static EMULATOR: OnceLock<Emulator> = OnceLock::new();

fn emulator() -> &'static Emulator {
    conversa::aws::install_tls_provider();
    EMULATOR.get_or_init(|| emulator_from_env(0).expect("start the emulator (make venv)"))
}

pub struct TestStack {
    pub local: Arc<LocalStack>,
    pub config: SdkConfig,
    pub base_url: String,
    pub http: reqwest::Client,
}

/// A fresh stack, seeded like `make run`, served on 127.0.0.1 at a free port.
pub async fn stack() -> TestStack {
    stack_with(HashMap::new()).await
}

/// A fresh stack with template parameter overrides (e.g. `GraphApiBaseUrl` of a stub).
/// Channel settings are read fresh (`ChannelCacheSeconds` 0), since tests change them
/// and send at once; `aws_calls.rs` sets the template's default to count the warm path.
pub async fn stack_with(mut overrides: HashMap<String, String>) -> TestStack {
    overrides
        .entry("ChannelCacheSeconds".into())
        .or_insert_with(|| "0".into());
    let config = emulator().sdk_config().await;
    let template = Template::load(&repo_root().join("template.yaml")).expect("template.yaml");
    let name = format!("t{}", ulid::Ulid::new().to_string().to_lowercase());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let base_url = format!("http://{}", listener.local_addr().expect("addr"));
    let local = Arc::new(
        LocalStack::create(&template, &name, config.clone(), &base_url, overrides)
            .await
            .expect("provision the test stack"),
    );
    let app = server::router(local.clone());
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    TestStack {
        local,
        config,
        base_url,
        http: reqwest::Client::new(),
    }
}

/// A number from the environment (soak sizes), else the default.
pub fn env_setting(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

impl TestStack {
    /// Moves the emulator's own clock, so SQS visibility timeouts and delays elapse. It is
    /// the whole emulator's: only a test binary with a single test may use it.
    pub async fn advance_emulator_clock(&self, seconds: i64) {
        let endpoint = self.config.endpoint_url().unwrap_or_default().to_owned();
        let _ = self
            .http
            .post(format!("{endpoint}/_test/time/advance?seconds={seconds}"))
            .send()
            .await;
    }

    /// Lets `event-relay` carry out everything committed so far (events, sends, timers).
    pub async fn relay(&self) {
        self.local.runtime.drain_streams().await;
    }

    /// Makes the emulator fail matching AWS calls of this stack only (`/_dev/faults`).
    pub async fn inject_fault(&self, rule: Value) {
        self.local.inject_fault(rule).await.expect("fault rule");
    }

    pub fn store(&self) -> DynamoStore {
        self.local.store()
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base_url, path)
    }

    pub fn queue_url(&self, logical_id: &str) -> String {
        self.local
            .stack
            .reference(logical_id)
            .expect("queue in template")
            .to_owned()
    }

    /// Posts a webhook body signed with the development app secret.
    pub async fn post_webhook(&self, body: &[u8]) -> reqwest::Response {
        self.http
            .post(self.url("/webhooks/whatsapp"))
            .header("content-type", "application/json")
            .header(
                "x-hub-signature-256",
                sign(dev::APP_SECRET.as_bytes(), body),
            )
            .body(body.to_vec())
            .send()
            .await
            .expect("post webhook")
    }

    pub async fn token(&self, sub: &str, role: &str, queues: &[&str]) -> String {
        let r: Value = self
            .http
            .post(self.url("/_dev/token"))
            .json(&json!({"sub": sub, "role": role, "queues": queues}))
            .send()
            .await
            .expect("token")
            .json()
            .await
            .expect("token json");
        r["token"].as_str().expect("token field").to_owned()
    }

    pub async fn get_json(&self, path: &str, token: &str) -> (u16, Value) {
        let r = self
            .http
            .get(self.url(path))
            .bearer_auth(token)
            .send()
            .await
            .expect("get");
        let status = r.status().as_u16();
        (status, r.json().await.unwrap_or(Value::Null))
    }

    /// Runs the inbound event source mapping until the queue stays empty.
    pub async fn drain_inbound(&self) {
        let poller = self
            .local
            .runtime
            .pollers
            .iter()
            .find(|p| p.function == "InboundFunction")
            .expect("inbound poller");
        // A receive that fails (an injected fault) is polled again, as the mapping does.
        let (mut idle, mut errors) = (0, 0);
        while idle < 2 {
            match self.local.runtime.poll_once(poller, 0).await {
                Ok(n) => idle = if n == 0 { idle + 1 } else { 0 },
                Err(e) => {
                    errors += 1;
                    assert!(errors < 50, "the queue keeps failing: {e}");
                }
            }
        }
    }

    /// The contact texts an SMS channel (`POST /_dev/sms`, as SNS delivers it) and the
    /// message is applied.
    pub async fn contact_texts_sms(&self, contact: &str, channel: &str, body: &str, id: &str) {
        let r = self
            .http
            .post(self.url("/_dev/sms"))
            .json(&json!({"from": contact, "channel": channel, "body": body, "message_id": id}))
            .send()
            .await
            .expect("POST /_dev/sms");
        assert!(r.status().is_success(), "POST /_dev/sms: {}", r.status());
        self.drain_inbound().await;
    }

    /// Waits until the sandbox has posted every status webhook it owes.
    pub async fn status_webhooks_settled(&self) {
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        while self
            .local
            .status_webhooks_in_flight
            .load(std::sync::atomic::Ordering::SeqCst)
            > 0
        {
            assert!(
                std::time::Instant::now() < deadline,
                "the sandbox's status webhooks did not settle"
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    /// Invokes the inbound handler directly with these items, as one SQS batch.
    pub async fn invoke_inbound(
        &self,
        items: &[WorkItem],
    ) -> aws_lambda_events::sqs::SqsBatchResponse {
        let poller = self
            .local
            .runtime
            .pollers
            .iter()
            .find(|p| p.function == "InboundFunction")
            .expect("inbound poller");
        poller.handler.call(sqs_event(items)).await
    }

    /// Messages waiting in a queue (visible), received and left in place.
    pub async fn peek(&self, queue_url: &str) -> Vec<aws_sdk_sqs::types::Message> {
        let sqs = aws_sdk_sqs::Client::new(&self.config);
        let out = sqs
            .receive_message()
            .queue_url(queue_url)
            .max_number_of_messages(10)
            .visibility_timeout(0)
            .message_attribute_names("All")
            .send()
            .await
            .expect("receive");
        out.messages.unwrap_or_default()
    }

    pub async fn queue_depth(&self, queue_url: &str) -> usize {
        let sqs = aws_sdk_sqs::Client::new(&self.config);
        let out = sqs
            .get_queue_attributes()
            .queue_url(queue_url)
            .attribute_names(aws_sdk_sqs::types::QueueAttributeName::ApproximateNumberOfMessages)
            .attribute_names(
                aws_sdk_sqs::types::QueueAttributeName::ApproximateNumberOfMessagesNotVisible,
            )
            .send()
            .await
            .expect("attributes");
        out.attributes()
            .map(|a| a.values().filter_map(|v| v.parse::<usize>().ok()).sum())
            .unwrap_or(0)
    }

    /// Events published on the bus so far.
    pub async fn events(&self) -> Vec<Value> {
        // EventBridge delivers to the capture queue asynchronously in the emulator too.
        tokio::time::sleep(Duration::from_millis(50)).await;
        self.local.events_seen().await
    }

    pub async fn events_of(&self, detail_type: &str) -> Vec<Value> {
        self.events()
            .await
            .into_iter()
            .filter(|e| e["detail-type"] == detail_type)
            .collect()
    }
}

/// An SQS event as Lambda would deliver these work items from the FIFO queue.
pub fn sqs_event(items: &[WorkItem]) -> SqsEvent {
    let records: Vec<Value> = items
        .iter()
        .enumerate()
        .map(|(i, item)| {
            json!({
                "messageId": format!("m-{}-{i}", ulid::Ulid::new()),
                "receiptHandle": "test",
                "body": serde_json::to_string(item).expect("item"),
                "attributes": {
                    "MessageGroupId": item.group_id(),
                    "MessageDeduplicationId": item.dedup_id(),
                    "ApproximateReceiveCount": "1"
                },
                "messageAttributes": {},
                "eventSource": "aws:sqs",
                "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:test.fifo",
                "awsRegion": "us-east-1"
            })
        })
        .collect();
    serde_json::from_value(json!({ "Records": records })).expect("sqs event")
}

/// A WhatsApp webhook body with these `messages` (and optional `statuses`) on a channel.
pub fn webhook_body(channel: &str, messages: Value, statuses: Value) -> Vec<u8> {
    json!({
        "object": "whatsapp_business_account",
        "entry": [{"id": "WABA", "changes": [{"field": "messages", "value": {
            "messaging_product": "whatsapp",
            "metadata": {"display_phone_number": SAMPLE_DISPLAY_NUMBER, "phone_number_id": channel},
            "contacts": [{"profile": {"name": "Ana"}, "wa_id": "5548999990000"}],
            "messages": messages,
            "statuses": statuses
        }}]}]
    })
    .to_string()
    .into_bytes()
}

pub fn text_message(from: &str, id: &str, body: &str) -> Value {
    json!({"from": from, "id": id, "timestamp": "1764057600", "type": "text", "text": {"body": body}})
}

/// AWS API calls the emulator has served, by operation (`Service.Operation`).
pub async fn emulator_calls() -> std::collections::BTreeMap<String, u64> {
    reqwest::get(format!("{}/_test/calls", emulator().endpoint))
        .await
        .expect("calls")
        .json()
        .await
        .expect("calls json")
}

pub async fn reset_emulator_calls() {
    reqwest::Client::new()
        .post(format!("{}/_test/calls/reset", emulator().endpoint))
        .send()
        .await
        .expect("reset calls");
}

/// Calls made by the functions, without the event source mappings' own work (receiving
/// and deleting queue messages, reading the table's stream).
pub fn function_calls(
    all: std::collections::BTreeMap<String, u64>,
) -> std::collections::BTreeMap<String, u64> {
    all.into_iter()
        .filter(|(op, _)| {
            ![
                "ReceiveMessage",
                "DeleteMessage",
                "DeleteMessageBatch",
                "ChangeMessageVisibility",
                "GetQueueAttributes",
                "DescribeStream",
                "GetShardIterator",
                "GetRecords",
            ]
            .iter()
            .any(|esm| op.ends_with(&format!(".{esm}")))
        })
        .collect()
}

impl TestStack {
    pub async fn post_json(&self, path: &str, token: &str, body: Value) -> (u16, Value) {
        let r = self
            .http
            .post(self.url(path))
            .bearer_auth(token)
            .json(&body)
            .send()
            .await
            .expect("post");
        let status = r.status().as_u16();
        (status, r.json().await.unwrap_or(Value::Null))
    }

    pub async fn agent_token(&self) -> String {
        self.token("agent-1", "agent", &["support"]).await
    }

    /// The outbound queue's items as one SQS event, left on the queue (a redelivery can
    /// be simulated by invoking `hsm-send` with the same event again).
    pub async fn outbound_event(&self) -> SqsEvent {
        self.try_outbound_event().await.expect("receive outbound")
    }

    /// As [`Self::outbound_event`]; `None` when the receive itself fails (an injected
    /// fault), as an event source mapping would simply poll again.
    pub async fn try_outbound_event(&self) -> Option<SqsEvent> {
        // Sends are queued by the relay from the outbox.
        self.relay().await;
        let sqs = aws_sdk_sqs::Client::new(&self.config);
        let out = sqs
            .receive_message()
            .queue_url(self.queue_url("OutboundQueue"))
            .max_number_of_messages(10)
            .visibility_timeout(0)
            .message_system_attribute_names(aws_sdk_sqs::types::MessageSystemAttributeName::All)
            .send()
            .await
            .ok()?;
        let records: Vec<Value> = out
            .messages
            .unwrap_or_default()
            .iter()
            .map(|m| {
                let attributes: serde_json::Map<String, Value> = m
                    .attributes()
                    .map(|a| {
                        a.iter()
                            .map(|(k, v)| (k.as_str().to_owned(), json!(v)))
                            .collect()
                    })
                    .unwrap_or_default();
                json!({
                    "messageId": m.message_id(),
                    "receiptHandle": m.receipt_handle(),
                    "body": m.body(),
                    "attributes": attributes,
                    "messageAttributes": {},
                    "eventSource": "aws:sqs",
                    "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:outbound.fifo",
                    "awsRegion": "us-east-1"
                })
            })
            .collect();
        serde_json::from_value(json!({ "Records": records })).ok()
    }

    /// Invokes `hsm-send` with an event, as its event source mapping would.
    pub async fn invoke_sender(&self, event: SqsEvent) -> aws_lambda_events::sqs::SqsBatchResponse {
        self.local
            .runtime
            .poller("HsmSendFunction")
            .expect("hsm-send poller")
            .handler
            .call(event)
            .await
    }

    /// Runs the outbound event source mapping until the queue stays empty.
    pub async fn drain_outbound(&self) {
        self.relay().await;
        let poller = self
            .local
            .runtime
            .poller("HsmSendFunction")
            .expect("hsm-send poller");
        // A receive that fails (an injected fault) is polled again, as the mapping does.
        let (mut idle, mut errors) = (0, 0);
        while idle < 2 {
            match self.local.runtime.poll_once(poller, 0).await {
                Ok(n) => idle = if n == 0 { idle + 1 } else { 0 },
                Err(e) => {
                    errors += 1;
                    assert!(errors < 50, "the queue keeps failing: {e}");
                }
            }
        }
    }

    /// A contact writes in (opens its window) and the message is applied.
    pub async fn contact_writes(&self, contact: &str, wamid: &str, at_secs: i64) {
        let mut m = text_message(contact, wamid, "oi");
        m["timestamp"] = json!(at_secs.to_string());
        let body = webhook_body(SAMPLE_CHANNEL_ID, json!([m]), json!([]));
        assert_eq!(self.post_webhook(&body).await.status(), 200);
        self.drain_inbound().await;
    }

    pub async fn advance_clock(&self, seconds: i64) {
        let r = self
            .http
            .post(self.url("/_dev/clock"))
            .json(&json!({ "advance_seconds": seconds }))
            .send()
            .await
            .expect("clock");
        assert_eq!(r.status(), 200);
    }

    pub fn now_secs(&self) -> i64 {
        use conversa::ports::Clock;
        self.local.clock.now() / 1000
    }
}

impl TestStack {
    /// Changes the sample channel's settings as a supervisor (`PUT .../settings`).
    pub async fn set_settings(&self, patch: Value) -> (u16, Value) {
        let token = self.token("boss", "supervisor", &[]).await;
        let r = self
            .http
            .put(self.url(&format!("/v1/channels/{SAMPLE_CHANNEL_ID}/settings")))
            .bearer_auth(token)
            .json(&patch)
            .send()
            .await
            .expect("put settings");
        let status = r.status().as_u16();
        (status, r.json().await.unwrap_or(Value::Null))
    }

    /// Delivers a timer to `handoff-timeout`, as the timers queue would.
    pub async fn fire_timer(
        &self,
        timer: &conversa::domain::inbound::Timer,
    ) -> aws_lambda_events::sqs::SqsBatchResponse {
        let event: SqsEvent = serde_json::from_value(json!({"Records": [{
            "messageId": format!("timer-{}", ulid::Ulid::new()),
            "receiptHandle": "test",
            "body": serde_json::to_string(timer).expect("timer"),
            "attributes": {"ApproximateReceiveCount": "1"},
            "messageAttributes": {},
            "eventSource": "aws:sqs",
            "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:timers",
            "awsRegion": "us-east-1"
        }]}))
        .expect("timer event");
        self.local
            .runtime
            .poller("HandoffTimeoutFunction")
            .expect("handoff-timeout poller")
            .handler
            .call(event)
            .await
    }

    /// The conversation now open for a contact on the sample channel.
    pub async fn open_conversation_of(
        &self,
        contact: &str,
    ) -> Option<conversa::domain::Conversation> {
        use conversa::ports::store::*;
        let id = self
            .store()
            .contact(SAMPLE_CHANNEL_ID, contact)
            .await
            .ok()??
            .open_conversation_id?;
        self.store().conversation(&id).await.ok()?
    }

    /// A contact's message with this content applied through the real inbound path.
    pub async fn contact_sends(&self, contact: &str, message: Value) {
        let mut m = message;
        m["from"] = json!(contact);
        if m.get("id").is_none() {
            m["id"] = json!(format!("wamid.{}", ulid::Ulid::new()));
        }
        m["timestamp"] = json!(self.now_secs().to_string());
        let body = webhook_body(SAMPLE_CHANNEL_ID, json!([m]), json!([]));
        assert_eq!(self.post_webhook(&body).await.status(), 200);
        self.drain_inbound().await;
    }
}

impl TestStack {
    pub async fn store_conversation(&self, id: &str) -> conversa::domain::Conversation {
        use conversa::ports::store::*;
        self.store()
            .conversation(id)
            .await
            .expect("read")
            .expect("conversation")
    }
}

impl TestStack {
    /// A contact writes in: its conversation waits in `support` (manual capture); its id.
    pub async fn waiting(&self, contact: &str) -> String {
        use conversa::ports::ContactStore;
        self.contact_writes(
            contact,
            &format!("wamid.{contact}.{}", ulid::Ulid::new()),
            self.now_secs(),
        )
        .await;
        self.store()
            .contact(SAMPLE_CHANNEL_ID, contact)
            .await
            .expect("contact")
            .expect("contact record")
            .open_conversation_id
            .expect("an open conversation")
    }

    /// `POST /v1/conversations/{id}/{what}` (capture, transfer, hold, close...).
    pub async fn op(&self, token: &str, id: &str, what: &str, body: Value) -> (u16, Value) {
        self.post_json(&format!("/v1/conversations/{id}/{what}"), token, body)
            .await
    }
}
