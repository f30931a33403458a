//! Issue 12: crash-point exploration. Each scenario runs once without faults and its AWS
//! calls are counted; then once per call index k with call k failing (every SDK attempt
//! of it), and once per k with call k taking effect but answered as failed (a crash right
//! after a successful call, as the caller sees it). After recovery — the redelivery or
//! retry a real caller makes — the end state must equal the fault-free run's: each
//! message stored once, each send POSTed at most once, every fact published under one
//! event id, at least once.
//!
//! `make crash-points` (and CI) explores every point: `CRASH_POINTS=all`. `make test`
//! explores half, each call in one of the two ways, alternating from call to call and
//! from scenario to scenario, so every call of every scenario is crashed once and both
//! ways are exercised across the scenarios.

use conversa::domain::{Message, MessageContent};
use conversa::ports::store::*;
use conversa::provider::webhook::InboundMessage;
use conversa::provider::WorkItem;
use conversa_tests::*;
use serde_json::{json, Value};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::Ordering;

const CONTACT: &str = "5548999990000";

/// What a run ends with, in terms that do not depend on generated ids.
#[derive(Debug, PartialEq)]
struct Outcome {
    /// Per event type: how many distinct facts (event ids) were published.
    facts: BTreeMap<String, usize>,
    /// Stored messages of the contact's conversations, by direction and text.
    messages: Vec<String>,
    /// Conversation states of the contact, oldest first.
    states: Vec<String>,
    /// POSTs the provider received.
    posts: usize,
}

async fn outcome(t: &TestStack) -> Outcome {
    let events = t.local.events_seen().await;
    let mut ids: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for e in &events {
        ids.entry(e["detail-type"].as_str().unwrap_or_default().to_owned())
            .or_default()
            .insert(e["detail"]["event_id"].to_string());
    }
    let store = t.store();
    let page = store
        .conversations_of_contact(SAMPLE_CHANNEL_ID, CONTACT, None, 10)
        .await
        .unwrap();
    let mut states = Vec::new();
    let mut messages = Vec::new();
    for c in page.items.iter().rev() {
        states.push(format!("{:?}/{:?}", c.state, c.close_reason));
        let log = store.messages(&c.id, None, 100).await.unwrap().items;
        messages.extend(log.iter().map(describe));
    }
    Outcome {
        facts: ids.into_iter().map(|(k, v)| (k, v.len())).collect(),
        messages,
        states,
        posts: t.local.outbox.lock().await.len(),
    }
}

fn describe(m: &Message) -> String {
    let text = match &m.content {
        MessageContent::Text { body } => body.clone(),
        other => other.type_name().to_owned(),
    };
    format!("{:?}:{text}:{:?}", m.direction, m.status)
}

/// How many AWS calls of this stack `act` makes (a rule that never fires counts them).
async fn calls_of(t: &TestStack) -> u64 {
    let rules: Value = t.local.faults().await.unwrap();
    rules["rules"][0]["seen"].as_u64().unwrap_or(0)
}

#[derive(Clone, Copy, Debug)]
enum Scenario {
    InboundFirstMessage,
    InboundReply,
    AgentSendThroughHsmSend,
    StatusWebhook,
    Capture,
    Transfer,
    Handoff,
    Close,
    ExpirySweep,
}

struct Ctx {
    conversation: Option<String>,
    token: String,
}

fn first_message() -> WorkItem {
    inbound("wamid.CRASH1", "oi")
}

fn inbound(id: &str, body: &str) -> WorkItem {
    WorkItem::Message {
        channel: SAMPLE_CHANNEL_ID.into(),
        contact: CONTACT.into(),
        contact_name: Some("Ana".into()),
        opt_out: false,
        message: InboundMessage {
            id: id.into(),
            at: chrono::Utc::now().timestamp_millis(),
            content: MessageContent::Text { body: body.into() },
            context_id: None,
        },
    }
}

fn delivered(wamid: &str) -> WorkItem {
    WorkItem::Status {
        channel: SAMPLE_CHANNEL_ID.into(),
        recipient: CONTACT.into(),
        message_id: wamid.into(),
        status: "delivered".into(),
        at: chrono::Utc::now().timestamp_millis(),
        error_code: None,
        error_title: None,
        callback_data: None,
    }
}

/// Redelivers an SQS batch until the handler takes it, as the queue would.
async fn redeliver(t: &TestStack, items: &[WorkItem]) {
    for _ in 0..5 {
        if t.invoke_inbound(items).await.batch_item_failures.is_empty() {
            return;
        }
    }
}

/// An agent's (or assistant's) request retried until it is done or refused for good.
async fn retry_post(t: &TestStack, path: &str, token: &str, body: Value, done: &[&str]) {
    for _ in 0..5 {
        let (status, answer) = t.post_json(path, token, body.clone()).await;
        if status == 200 || done.iter().any(|c| answer["code"] == *c) {
            return;
        }
    }
}

impl Scenario {
    async fn setup(self, t: &TestStack) -> Ctx {
        t.local.status_webhooks.store(true, Ordering::Relaxed);
        t.local.status_delay_ms.store(5, Ordering::Relaxed);
        // A transfer names a known agent.
        t.register_agent("agent-2", &["support"], None).await;
        let token = t.agent_token().await;
        let conversation = match self {
            Scenario::InboundFirstMessage => None,
            Scenario::Handoff => {
                let (status, _) = t
                    .set_settings(json!({
                        "routing": {"mode": "assistant", "to": "assistant", "assistant": "ana-bot", "backup_queue": "support"},
                        "handoff": {"wait_timeout_seconds": 300, "inactivity_timeout_seconds": 3600}
                    }))
                    .await;
                assert_eq!(status, 200);
                t.contact_writes(CONTACT, "wamid.SETUP", t.now_secs()).await;
                Some(t.open_conversation_of(CONTACT).await.unwrap().id)
            }
            Scenario::InboundReply | Scenario::Capture | Scenario::ExpirySweep => {
                t.contact_writes(CONTACT, "wamid.SETUP", t.now_secs()).await;
                Some(t.open_conversation_of(CONTACT).await.unwrap().id)
            }
            Scenario::AgentSendThroughHsmSend
            | Scenario::StatusWebhook
            | Scenario::Transfer
            | Scenario::Close => {
                t.contact_writes(CONTACT, "wamid.SETUP", t.now_secs()).await;
                let id = t.open_conversation_of(CONTACT).await.unwrap().id;
                let (status, _) = t
                    .post_json(
                        &format!("/v1/conversations/{id}/capture"),
                        &token,
                        json!({}),
                    )
                    .await;
                assert_eq!(status, 200);
                Some(id)
            }
        };
        if let Scenario::StatusWebhook = self {
            // A sent message, whose status webhooks the scenario applies itself.
            t.local.status_webhooks.store(false, Ordering::Relaxed);
            let ctx = Ctx {
                conversation: conversation.clone(),
                token: token.clone(),
            };
            Scenario::AgentSendThroughHsmSend.send(t, &ctx).await;
            t.drain_outbound().await;
        }
        if let Scenario::ExpirySweep = self {
            t.advance_clock(24 * 3600 + 1).await;
        }
        t.relay().await;
        Ctx {
            conversation,
            token,
        }
    }

    /// The provider id of the scenario's sent message.
    async fn wamid(t: &TestStack) -> String {
        t.local.outbox.lock().await[0]["id"]
            .as_str()
            .unwrap_or_default()
            .to_owned()
    }

    /// The operation under test; a failure is what the caller sees, nothing more.
    async fn act(self, t: &TestStack, ctx: &Ctx) {
        let id = ctx.conversation.as_deref().unwrap_or_default();
        match self {
            Scenario::InboundFirstMessage => {
                t.invoke_inbound(&[first_message()]).await;
            }
            Scenario::InboundReply => {
                t.invoke_inbound(&[inbound("wamid.CRASH2", "de novo")])
                    .await;
            }
            Scenario::AgentSendThroughHsmSend => {
                self.send(t, ctx).await;
                t.relay().await;
                if let Some(event) = t.try_outbound_event().await {
                    if !event.records.is_empty() {
                        t.invoke_sender(event).await;
                    }
                }
            }
            Scenario::StatusWebhook => {
                let wamid = Self::wamid(t).await;
                t.invoke_inbound(&[delivered(&wamid)]).await;
            }
            Scenario::Capture | Scenario::Transfer | Scenario::Handoff | Scenario::Close => {
                let (path, token, body) = self.request(t, ctx, id).await;
                t.post_json(&path, &token, body).await;
            }
            Scenario::ExpirySweep => {
                let _ = t.local.runtime.run_scheduled("AutoExpiryFunction").await;
            }
        }
    }

    /// The HTTP request of an API scenario: path, caller's token, body.
    async fn request(self, t: &TestStack, ctx: &Ctx, id: &str) -> (String, String, Value) {
        match self {
            Scenario::Capture => (
                format!("/v1/conversations/{id}/capture"),
                ctx.token.clone(),
                json!({}),
            ),
            Scenario::Transfer => (
                format!("/v1/conversations/{id}/transfer"),
                ctx.token.clone(),
                json!({"agent": "agent-2"}),
            ),
            Scenario::Handoff => (
                format!("/v1/conversations/{id}/handoff"),
                t.token("ana-bot", "assistant", &[]).await,
                json!({"queue": "support", "extra_info": {"motivo": "teste"}}),
            ),
            _ => (
                format!("/v1/conversations/{id}/close"),
                ctx.token.clone(),
                json!({}),
            ),
        }
    }

    async fn send(self, t: &TestStack, ctx: &Ctx) -> u16 {
        let id = ctx.conversation.as_deref().unwrap_or_default();
        t.http
            .post(t.url(&format!("/v1/conversations/{id}/messages")))
            .bearer_auth(&ctx.token)
            .header("idempotency-key", "crash-1")
            .json(&json!({"text": "olá"}))
            .send()
            .await
            .map(|r| r.status().as_u16())
            .unwrap_or(0)
    }

    /// What a real caller does next: SQS redelivers, an agent retries, the relay and
    /// hsm-send run until nothing is left, status webhooks arrive.
    async fn recover(self, t: &TestStack, ctx: &Ctx) {
        let id = ctx.conversation.as_deref().unwrap_or_default();
        match self {
            Scenario::InboundFirstMessage => redeliver(t, &[first_message()]).await,
            Scenario::InboundReply => redeliver(t, &[inbound("wamid.CRASH2", "de novo")]).await,
            Scenario::StatusWebhook => {
                let wamid = Self::wamid(t).await;
                redeliver(t, &[delivered(&wamid)]).await;
            }
            Scenario::AgentSendThroughHsmSend => {
                for _ in 0..5 {
                    if matches!(self.send(t, ctx).await, 200 | 202) {
                        break;
                    }
                }
            }
            Scenario::Capture | Scenario::Transfer | Scenario::Handoff | Scenario::Close => {
                let (path, token, body) = self.request(t, ctx, id).await;
                let done: &[&str] = match self {
                    Scenario::Capture => &["already_captured"],
                    Scenario::Transfer => &["already_captured"],
                    Scenario::Handoff => &["not_with_assistant"],
                    _ => &["conversation_closed"],
                };
                retry_post(t, &path, &token, body, done).await;
            }
            Scenario::ExpirySweep => {
                let _ = t.local.runtime.run_scheduled("AutoExpiryFunction").await;
            }
        }
        // The relay, hsm-send and the provider's status webhooks run to the end; a send
        // left with an unknown outcome is reconciled by its status before any retry.
        for round in 0..6 {
            t.relay().await;
            let event = t.outbound_event().await;
            if !event.records.is_empty() {
                t.invoke_sender(event).await;
            }
            tokio::time::sleep(std::time::Duration::from_millis(60)).await;
            t.drain_inbound().await;
            if round == 3 {
                // Past the reconcile delay, for conversa's clock and for the queues'.
                t.advance_clock(601).await;
                t.advance_emulator_clock(601).await;
            }
        }
        t.relay().await;
    }
}

async fn run(scenario: Scenario, fault: Option<Value>) -> (Outcome, u64) {
    let t = stack().await;
    let ctx = scenario.setup(&t).await;
    t.inject_fault(json!({"service": "any", "probability": 0.0}))
        .await;
    if let Some(rule) = fault {
        t.inject_fault(rule).await;
    }
    scenario.act(&t, &ctx).await;
    let calls = calls_of(&t).await;
    t.local.clear_faults().await.unwrap();
    scenario.recover(&t, &ctx).await;
    (outcome(&t).await, calls)
}

/// Runs of one scenario at once: each has its own stack, and they mostly wait on the
/// emulator. Their clock jumps reach each other, which only brings a redelivery their
/// recovery makes anyway sooner: conversa's clock, which decides what is due, is each
/// stack's own.
const CONCURRENT_RUNS: usize = 6;

/// Every point (`CRASH_POINTS=all`), or half ([`explore`]).
fn every_point() -> bool {
    std::env::var("CRASH_POINTS").is_ok_and(|v| v == "all")
}

async fn explore(scenario: Scenario, ordinal: u64) {
    use futures::stream::{self, StreamExt};
    let (expected, calls) = run(scenario, None).await;
    assert!(calls > 0, "{scenario:?} makes AWS calls");
    assert!(expected.facts.values().all(|n| *n >= 1));
    // Failing: every attempt the SDK makes of call k. After: call k takes effect, then
    // its caller is told it failed.
    let all = every_point();
    let points: Vec<(u64, bool)> = (1..=calls)
        .flat_map(|k| [(k, false), (k, true)])
        .filter(|(k, after)| all || (k + ordinal) % 2 == u64::from(*after))
        .collect();
    let explored = points.len();
    let outcomes: Vec<_> = stream::iter(points)
        .map(|(k, after)| async move {
            let rule = json!({"service": "any", "nth": k, "times": if after { 1 } else { 3 },
                              "after": after, "error": "InternalServerError"});
            (k, after, run(scenario, Some(rule)).await.0)
        })
        .buffer_unordered(CONCURRENT_RUNS)
        .collect()
        .await;
    for (k, after, got) in outcomes {
        assert_eq!(
            got,
            expected,
            "{scenario:?}: call {k} of {calls} {}",
            if after {
                "applied, then answered as failed"
            } else {
                "failing"
            }
        );
    }
    eprintln!("{scenario:?}: {calls} calls, {explored} crash points explored");
}

/// One test, scenarios in turn: the emulator's clock jumps must not reach other tests.
#[tokio::test]
async fn every_crash_point_of_every_scenario_recovers_to_the_fault_free_end_state() {
    for (ordinal, scenario) in [
        Scenario::InboundFirstMessage,
        Scenario::InboundReply,
        Scenario::StatusWebhook,
        Scenario::Capture,
        Scenario::Transfer,
        Scenario::Handoff,
        Scenario::Close,
        Scenario::ExpirySweep,
        Scenario::AgentSendThroughHsmSend,
    ]
    .into_iter()
    .enumerate()
    {
        explore(scenario, ordinal as u64).await;
    }
}
