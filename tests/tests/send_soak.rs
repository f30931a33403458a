//! Issue 12: agent sends under provider faults. Agents send to many conversations while
//! the sandbox provider answers 10 % with a 500 (ambiguous: nothing was accepted), 5 %
//! with 130429 (refused: retried with backoff) and 2 % late, after accepting (ambiguous:
//! its status webhooks settle it), and 5 % of the stack's DynamoDB, SQS and EventBridge
//! calls fail. In the end every message was POSTed exactly once and
//! recorded with its provider id and a status; nothing waits in a dead-letter queue.
//! `make test` runs 100 sends; `make soak` 1,000 (`SOAK_SENDS`).

use conversa_tests::*;
use serde_json::json;
use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

#[tokio::test]
async fn agent_sends_under_provider_faults_are_each_posted_exactly_once() {
    let sends = env_setting("SOAK_SENDS", 100);
    let conversations = 20;
    let started = Instant::now();
    let t = stack_with(HashMap::from([(
        "GraphApiTimeoutSeconds".to_owned(),
        "1".to_owned(),
    )]))
    .await;
    t.local.status_webhooks.store(true, Ordering::Relaxed);
    t.local.status_delay_ms.store(5, Ordering::Relaxed);
    let token = t.agent_token().await;
    let mut ids = Vec::new();
    for c in 0..conversations {
        let contact = format!("5548966{c:06}");
        t.contact_writes(&contact, &format!("wamid.IN{c}"), t.now_secs())
            .await;
        let id = t.open_conversation_of(&contact).await.unwrap().id;
        let (status, _) = t
            .post_json(
                &format!("/v1/conversations/{id}/capture"),
                &token,
                json!({}),
            )
            .await;
        assert_eq!(status, 200);
        ids.push(id);
    }
    for (rule, p) in [
        (json!({"status": 500}), 0.10),
        (json!({"error_code": 130429}), 0.05),
        (json!({"delay_ms": 1500}), 0.02),
    ] {
        let mut rule = rule;
        rule["probability"] = json!(p);
        let r = t
            .http
            .post(t.url("/_dev/provider/faults"))
            .body(rule.to_string())
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 201);
    }
    // And 5 % of the stack's DynamoDB, SQS and EventBridge calls fail.
    for service in ["dynamodb", "sqs", "events"] {
        t.inject_fault(
            json!({"service": service, "probability": 0.05, "error": "InternalServerError"}),
        )
        .await;
    }
    for i in 0..sends {
        let id = &ids[i % conversations];
        // An agent whose send met an error sends again with the same Idempotency-Key.
        let mut tries = 0;
        loop {
            let r = t
                .http
                .post(t.url(&format!("/v1/conversations/{id}/messages")))
                .bearer_auth(&token)
                .header("idempotency-key", format!("soak-{i}"))
                .json(&json!({"text": format!("envio {i}")}))
                .send()
                .await
                .unwrap();
            if matches!(r.status().as_u16(), 200 | 202) {
                break;
            }
            tries += 1;
            assert!(tries < 20, "send {i} never accepted");
        }
    }
    // hsm-send, the relay and the status webhooks run until every send settled; the
    // clocks jump past backoffs and the reconcile delay when nothing is left to do now.
    let deadline = Instant::now() + Duration::from_secs(900);
    let mut rounds = 0;
    let sender = t.local.runtime.poller("HsmSendFunction").unwrap();
    loop {
        t.relay().await;
        // As the event source mapping does: successes deleted, failures left to come
        // back after the delay the function set.
        let busy = t.local.runtime.poll_once(sender, 0).await.unwrap_or(1) > 0;
        tokio::time::sleep(Duration::from_millis(20)).await;
        t.drain_inbound().await;
        if !busy {
            // The clocks jump only when nothing is under way in real time: a late accept's
            // status webhooks posted and applied. Deployed, they arrive in seconds and the
            // reconcile delay is minutes; jumping over them would resend by the channel's
            // `ambiguous_send: retry` policy what the provider accepted.
            t.status_webhooks_settled().await;
            t.drain_inbound().await;
            if t.queue_depth(&t.queue_url("InboundQueue")).await > 0 {
                // A status whose processing met a fault comes back after its visibility
                // timeout: the emulator's clock alone moves, so no reconcile falls due.
                t.advance_emulator_clock(901).await;
            } else if t.queue_depth(&t.queue_url("OutboundQueue")).await == 0 {
                break;
            } else {
                t.advance_clock(601).await;
                t.advance_emulator_clock(901).await;
            }
        }
        rounds += 1;
        assert!(
            Instant::now() < deadline,
            "the sends did not settle in time"
        );
    }
    // Late status webhooks of the last sends, with the faults gone.
    let aws_faults: u64 = t.local.faults().await.unwrap()["rules"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["fired"].as_u64().unwrap_or(0))
        .sum();
    t.local.clear_faults().await.unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    t.drain_inbound().await;
    t.relay().await;

    let outbox = t.local.outbox.lock().await.clone();
    let mut posts: BTreeMap<String, usize> = BTreeMap::new();
    for m in &outbox {
        if let Some(text) = m["request"]["text"]["body"].as_str() {
            *posts.entry(text.to_owned()).or_default() += 1;
        }
    }
    let twice: Vec<_> = posts.iter().filter(|(_, n)| **n > 1).collect();
    assert!(twice.is_empty(), "posted more than once: {twice:?}");
    assert_eq!(posts.len(), sends, "every send posted once");
    let mut unsettled = 0;
    for id in &ids {
        let (_, log) = t
            .get_json(
                &format!("/v1/conversations/{id}/messages?limit=100"),
                &token,
            )
            .await;
        for m in log["items"].as_array().unwrap() {
            if m["direction"] == "outbound"
                && (m["provider_id"].is_null() || m["status"] == "accepted")
            {
                unsettled += 1;
            }
        }
    }
    assert_eq!(
        unsettled, 0,
        "every send recorded with its provider id and a status"
    );
    assert!(t
        .peek(&t.queue_url("OutboundDeadLetterQueue"))
        .await
        .is_empty());
    let rules: serde_json::Value = t
        .http
        .get(t.url("/_dev/provider/faults"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let fired: Vec<u64> = rules["rules"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["fired"].as_u64().unwrap_or(0))
        .collect();
    eprintln!(
        "send soak figures: sends {sends}, conversations {conversations}, provider 500s {}, 130429s {}, late accepts {}, AWS faults {aws_faults}, POSTs {}, duplicated 0, lost 0, rounds {rounds}, seconds {}",
        fired[0],
        fired[1],
        fired[2],
        outbox.len(),
        started.elapsed().as_secs()
    );
}
