//! Issue 14: a campaign at scale on the local stack and the sandbox provider. Every
//! recipient is sent exactly once (counted in the sandbox's outbox), the counters are
//! exact, and no one-second window holds more sends than the rate. `make test` runs 100
//! recipients at 80/s; `make campaign-soak` 10,000 (`CAMPAIGN_RECIPIENTS`,
//! `CAMPAIGN_RATE`). Prints the figures: AWS calls per recipient, wall time.

use conversa_tests::*;
use serde_json::{json, Value};
use std::time::{Duration, Instant};

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_large_campaign_sends_everyone_once_within_the_rate() {
    let recipients = env_setting("CAMPAIGN_RECIPIENTS", 100);
    let rate = env_setting("CAMPAIGN_RATE", 80);
    let t = stack().await;
    let boss = t.token("boss", "supervisor", &["sales"]).await;
    let (status, c) = t
        .post_json(
            "/v1/campaigns",
            &boss,
            json!({"name": "soak", "channel": SAMPLE_CHANNEL_ID,
                   "template": {"name": "welcome", "language": "pt_BR"},
                   "target": {"queue": "sales"}, "rate_per_second": rate}),
        )
        .await;
    assert_eq!(status, 201, "{c}");
    let id = c["id"].as_str().unwrap().to_owned();
    // One CSV body, as an operator would upload it.
    let mut csv = String::from("phone,param1\n");
    for i in 0..recipients {
        csv.push_str(&format!("55489{i:08},Cliente {i}\n"));
    }
    let r = t
        .http
        .post(t.url(&format!("/v1/campaigns/{id}/recipients")))
        .bearer_auth(&boss)
        .header("content-type", "text/csv")
        .body(csv)
        .send()
        .await
        .unwrap();
    let added: Value = r.json().await.unwrap();
    assert_eq!(added["added"], recipients as u64, "{added}");

    reset_emulator_calls().await;
    let started = Instant::now();
    t.post_json(&format!("/v1/campaigns/{id}/start"), &boss, json!({}))
        .await;
    let timers = t.local.runtime.poller("HandoffTimeoutFunction").unwrap();
    let sender = t.local.runtime.poller("HsmSendFunction").unwrap();
    let deadline = Instant::now() + Duration::from_secs(3600);
    let done = loop {
        t.relay().await;
        let _ = t.local.runtime.poll_once(timers, 0).await;
        t.relay().await;
        while t.local.runtime.poll_once(sender, 0).await.unwrap_or(1) > 0 {}
        let (_, c) = t.get_json(&format!("/v1/campaigns/{id}"), &boss).await;
        if c["status"] != "sending" {
            break c;
        }
        assert!(Instant::now() < deadline, "the campaign did not end: {c}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let seconds = started.elapsed().as_secs_f64();
    let calls = emulator_calls().await;
    assert_eq!(done["status"], "completed", "{done}");
    assert_eq!(
        (
            done["pending"].as_u64(),
            done["queued"].as_u64(),
            done["sent"].as_u64()
        ),
        (Some(0), Some(0), Some(recipients as u64)),
        "counters exact: {done}"
    );
    let outbox: Value = t
        .http
        .get(t.url("/_dev/outbox"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let mut sends: Vec<(i64, String)> = outbox["messages"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| m["request"]["type"] == "template")
        .map(|m| {
            (
                m["at"].as_i64().unwrap(),
                m["request"]["to"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    let mut phones: Vec<&String> = sends.iter().map(|(_, p)| p).collect();
    phones.sort();
    phones.dedup();
    assert_eq!(
        (sends.len(), phones.len()),
        (recipients, recipients),
        "every recipient exactly once"
    );
    sends.sort();
    let mut busiest = 0;
    for (i, (at, _)) in sends.iter().enumerate() {
        let window = sends[i..]
            .iter()
            .take_while(|(t2, _)| t2 - at < 1000)
            .count();
        busiest = busiest.max(window);
    }
    assert!(busiest <= rate, "{busiest} sends in one second at {rate}/s");
    let total: u64 = calls.values().sum();
    eprintln!(
        "campaign soak figures: recipients={recipients} rate={rate} seconds={seconds:.0} \
         busiest_second={busiest} aws_calls={total} aws_calls_per_recipient={:.1} by_operation={calls:?}",
        total as f64 / recipients as f64
    );
}
