//! Issue 12: inbound soak under faults. Every webhook (ten messages each) is delivered
//! twice (the second pass in another order), 5 % of the stack's DynamoDB, SQS and EventBridge calls fail, and the stack
//! runs as in AWS (webhook route, FIFO queue with redelivery after the visibility
//! timeout, the relay). In the end: no message lost, none stored twice, every contact's
//! messages applied in order, one `message.received` per message, nothing innocent in a
//! dead-letter queue. `make test` runs 300 messages; `make soak` 10,000 over 200
//! contacts (`SOAK_MESSAGES`, `SOAK_CONTACTS`).

use conversa::ports::store::*;
use conversa_tests::*;
use serde_json::json;
use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

#[tokio::test]
async fn inbound_soak_under_faults_loses_nothing_and_duplicates_nothing() {
    let messages = env_setting("SOAK_MESSAGES", 300);
    let contacts = env_setting("SOAK_CONTACTS", 20).max(1);
    let started = Instant::now();
    let t = stack().await;
    let contact = |c: usize| format!("5548977{c:06}");
    // Webhooks of ten messages (Meta batches too), in per-contact order; each contact's
    // messages a second apart so their order is visible in the provider timestamps.
    let base = t.now_secs() - 3600;
    let bodies: Vec<Vec<u8>> = (0..messages)
        .collect::<Vec<_>>()
        .chunks(10)
        .map(|chunk| {
            let items: Vec<serde_json::Value> = chunk
                .iter()
                .map(|&i| {
                    let mut m = text_message(
                        &contact(i % contacts),
                        &format!("wamid.SOAK{i:06}"),
                        &format!("{i}"),
                    );
                    m["timestamp"] = json!((base + (i / contacts) as i64).to_string());
                    m
                })
                .collect();
            webhook_body(SAMPLE_CHANNEL_ID, json!(items), json!([]))
        })
        .collect();
    let webhooks = bodies.len();
    let mut second: Vec<usize> = (0..webhooks).collect();
    // A fixed shuffle (no randomness in tests): a stride walk over the webhooks.
    let stride = (webhooks / 7).max(1) | 1;
    second.sort_by_key(|i| (i * stride) % webhooks);
    for rule in ["dynamodb", "sqs", "events"] {
        t.inject_fault(
            json!({"service": rule, "probability": 0.05, "error": "InternalServerError"}),
        )
        .await;
    }
    let poller = t.local.runtime.poller("InboundFunction").unwrap();
    let mut refused = 0;
    for (n, i) in (0..webhooks).chain(second).enumerate() {
        // Read the published events as they come (a consumer would): the emulator's
        // capture queue stays short instead of holding every event of the run.
        if n % 50 == 49 {
            t.events().await;
        }
        // Meta retries a webhook that did not get its 200.
        let mut tries = 0;
        while t.post_webhook(&bodies[i]).await.status() != 200 {
            refused += 1;
            tries += 1;
            assert!(tries < 20, "webhook {i} never accepted");
        }
        let _ = t.local.runtime.poll_once(poller, 0).await;
    }
    // Drain: failed records come back after the visibility timeout.
    let deadline = Instant::now() + Duration::from_secs(600);
    loop {
        let n = t.local.runtime.poll_once(poller, 0).await.unwrap_or(1);
        if n == 0 {
            if t.queue_depth(&t.queue_url("InboundQueue")).await == 0 {
                break;
            }
            t.advance_emulator_clock(181).await;
        }
        assert!(Instant::now() < deadline, "the soak did not drain in time");
    }
    let rules = t.local.faults().await.unwrap();
    let injected: u64 = rules["rules"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["fired"].as_u64().unwrap_or(0))
        .sum();
    t.local.clear_faults().await.unwrap();
    t.relay().await;

    let store = t.store();
    let mut stored = 0;
    for c in 0..contacts {
        let page = store
            .conversations_of_contact(SAMPLE_CHANNEL_ID, &contact(c), None, 10)
            .await
            .unwrap();
        assert_eq!(page.items.len(), 1, "one conversation for contact {c}");
        let log = store.messages(&page.items[0].id, None, 100).await.unwrap();
        let mut all = log.items;
        let mut cursor = log.next_cursor;
        while let Some(next) = cursor {
            let page = store
                .messages(&page.items[0].id, Some(&next), 100)
                .await
                .unwrap();
            all.extend(page.items);
            cursor = page.next_cursor;
        }
        let expected: Vec<String> = (0..messages)
            .filter(|i| i % contacts == c)
            .map(|i| format!("wamid.SOAK{i:06}"))
            .collect();
        let ids: Vec<String> = all.iter().map(|m| m.id.clone()).collect();
        assert_eq!(ids, expected, "contact {c}: each message once, in order");
        assert!(
            all.windows(2).all(|w| w[0].stored_at <= w[1].stored_at),
            "contact {c}: applied in arrival order"
        );
        stored += all.len();
    }
    let received: BTreeSet<String> = t
        .events_of("message.received")
        .await
        .iter()
        .map(|e| e["detail"]["event_id"].to_string())
        .collect();
    assert_eq!(
        received.len(),
        messages,
        "one message.received fact per message"
    );
    let dead = t.peek(&t.queue_url("InboundDeadLetterQueue")).await;
    assert!(
        dead.is_empty(),
        "nothing innocent dead-lettered: {}",
        dead.len()
    );
    let figures = BTreeMap::from([
        ("messages", messages as u64),
        ("contacts", contacts as u64),
        (
            "webhooks posted (10 messages each)",
            (2 * webhooks + refused) as u64,
        ),
        ("webhooks refused (500, retried)", refused as u64),
        ("AWS faults injected", injected),
        ("stored", stored as u64),
        ("lost", (messages - stored.min(messages)) as u64),
        ("duplicated", stored.saturating_sub(messages) as u64),
        ("seconds", started.elapsed().as_secs()),
    ]);
    eprintln!("soak figures: {figures:?}");
}
