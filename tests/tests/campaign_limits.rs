//! Issue 14: what bounds a campaign — the channel's pacing, its messaging limit, opt-outs
//! and the provider's answers (rate limits, spam, permanent errors, a template disapproved
//! mid-way).

use conversa_tests::campaign::*;
use conversa_tests::*;
use serde_json::{json, Value};
use std::time::{Duration, Instant};

#[tokio::test]
async fn the_spam_rate_limit_pauses_the_campaign_with_its_reason() {
    let t = stack().await;
    t.http
        .post(t.url("/_dev/provider/faults"))
        .json(&json!({"phone": "554832817001", "status": 400, "error_code": 131048}))
        .send()
        .await
        .unwrap();
    let boss = supervisor(&t).await;
    let id = create(&t, &boss, json!({})).await;
    add_recipients(
        &t,
        &boss,
        &id,
        json!({"recipients": [
            {"phone": "554832817001", "parameters": ["Ana"]},
            {"phone": "554832817002", "parameters": ["Bia"]}
        ]}),
    )
    .await;
    start(&t, &boss, &id).await;
    let c = run(&t, &boss, &id).await;
    assert_eq!(
        (c["status"].as_str(), c["paused_reason"].as_str()),
        (Some("paused"), Some("spam_rate_limit")),
        "{c}"
    );
}

#[tokio::test]
async fn rate_answers_retry_later_and_send_each_recipient_once() {
    let t = stack().await;
    // The pair rate limit for one recipient (no sooner than 6 s), the number's throughput
    // for another (the channel's sends hold), then both accept.
    for (phone, code) in [("554832817001", 131056), ("554832817002", 130429)] {
        let r = t
            .http
            .post(t.url("/_dev/provider/faults"))
            .json(&json!({"phone": phone, "status": 400, "error_code": code, "times": 1}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 201);
    }
    let boss = supervisor(&t).await;
    let id = create(&t, &boss, json!({})).await;
    add_recipients(
        &t,
        &boss,
        &id,
        json!({"recipients": [
            {"phone": "554832817001", "parameters": ["Ana"]},
            {"phone": "554832817002", "parameters": ["Bia"]},
            {"phone": "554832817003", "parameters": ["Caio"]}
        ]}),
    )
    .await;
    let started = Instant::now();
    start(&t, &boss, &id).await;
    let done = run(&t, &boss, &id).await;
    assert_eq!(
        (
            done["status"].as_str(),
            done["sent"].as_u64(),
            done["failed"].as_u64()
        ),
        (Some("completed"), Some(3), Some(0)),
        "{done}"
    );
    assert!(
        started.elapsed() >= Duration::from_secs(6),
        "131056 waits 6 s before the recipient is tried again"
    );
    let mut sent: Vec<String> = template_sends(&t)
        .await
        .into_iter()
        .map(|(_, p)| p)
        .collect();
    sent.sort();
    assert_eq!(
        sent,
        vec!["554832817001", "554832817002", "554832817003"],
        "each once"
    );
}

#[tokio::test]
async fn permanent_provider_errors_fail_the_recipient_with_the_code_and_no_retry() {
    let t = stack().await;
    for (phone, code) in [("554832817001", 131049), ("554832817002", 131026)] {
        t.http
            .post(t.url("/_dev/provider/faults"))
            .json(&json!({"phone": phone, "status": 400, "error_code": code}))
            .send()
            .await
            .unwrap();
    }
    let boss = supervisor(&t).await;
    let id = create(&t, &boss, json!({})).await;
    add_recipients(
        &t,
        &boss,
        &id,
        json!({"recipients": [
            {"phone": "554832817001", "parameters": ["Ana"]},
            {"phone": "554832817002", "parameters": ["Bia"]},
            {"phone": "554832817003", "parameters": ["Caio"]}
        ]}),
    )
    .await;
    start(&t, &boss, &id).await;
    let done = run(&t, &boss, &id).await;
    assert_eq!(
        (
            done["status"].as_str(),
            done["sent"].as_u64(),
            done["failed"].as_u64()
        ),
        (Some("completed"), Some(1), Some(2)),
        "{done}"
    );
    let (_, failed) = t
        .get_json(
            &format!("/v1/campaigns/{id}/recipients?status=failed"),
            &boss,
        )
        .await;
    let codes: Vec<i64> = failed["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["error_code"].as_i64().unwrap())
        .collect();
    assert_eq!(codes, vec![131049, 131026]);
    let faults: Value = t
        .http
        .get(t.url("/_dev/provider/faults"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let fired: Vec<u64> = faults["rules"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["fired"].as_u64().unwrap())
        .collect();
    assert_eq!(fired, vec![1, 1], "tried once each, never again: {faults}");
}

#[tokio::test]
async fn a_template_disapproved_mid_way_fails_the_campaign_with_its_reason() {
    use conversa::ports::TemplateCatalogue;
    let t = stack().await;
    let boss = supervisor(&t).await;
    let id = create(&t, &boss, json!({})).await;
    add_recipients(
        &t,
        &boss,
        &id,
        json!({"recipients": [{"phone": "554832817001", "parameters": ["Ana"]}]}),
    )
    .await;
    start(&t, &boss, &id).await;
    // Meta pauses the template before the first page goes out.
    let store = t.store();
    let mut template = store
        .template(SAMPLE_CHANNEL_ID, "welcome", "pt_BR")
        .await
        .unwrap()
        .unwrap();
    template.status = "PAUSED".into();
    store
        .put_template(SAMPLE_CHANNEL_ID, &template)
        .await
        .unwrap();
    let done = run(&t, &boss, &id).await;
    assert_eq!(
        (
            done["status"].as_str(),
            done["failure_reason"].as_str(),
            done["sent"].as_u64()
        ),
        (Some("failed"), Some("template_not_approved"), Some(0)),
        "{done}"
    );
}

#[tokio::test]
async fn opt_out_by_keyword_and_by_the_providers_131050() {
    let t = stack().await;
    t.contact_writes("554832817001", "wamid.x.1", t.now_secs())
        .await;
    let mut m = text_message("554832817009", "wamid.stop.1", " Parar ");
    m["timestamp"] = json!(t.now_secs().to_string());
    t.post_webhook(&webhook_body(SAMPLE_CHANNEL_ID, json!([m]), json!([])))
        .await;
    t.drain_inbound().await;
    let agent = t.agent_token().await;
    let (_, contact) = t
        .get_json(
            &format!("/v1/contacts/554832817009?channel={SAMPLE_CHANNEL_ID}"),
            &agent,
        )
        .await;
    assert_eq!(contact["opted_out"], true, "{contact}");
    // The provider says a recipient stopped marketing messages.
    let r = t
        .http
        .post(t.url("/_dev/provider/faults"))
        .json(&json!({"phone": "554832817003", "status": 400, "error_code": 131050}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let boss = supervisor(&t).await;
    let id = create(&t, &boss, json!({})).await;
    add_recipients(
        &t,
        &boss,
        &id,
        json!({"recipients": [{"phone": "554832817003", "parameters": ["Caio"]}]}),
    )
    .await;
    start(&t, &boss, &id).await;
    let done = run(&t, &boss, &id).await;
    assert_eq!(done["failed"], 1, "{done}");
    let (_, failed) = t
        .get_json(
            &format!("/v1/campaigns/{id}/recipients?status=failed"),
            &boss,
        )
        .await;
    assert_eq!(failed["items"][0]["error_code"], 131050);
    let (_, contact) = t
        .get_json(
            &format!("/v1/contacts/554832817003?channel={SAMPLE_CHANNEL_ID}"),
            &agent,
        )
        .await;
    assert_eq!(contact["opted_out"], true);
    // An agent clears it.
    let r = t
        .http
        .put(t.url(&format!(
            "/v1/contacts/554832817003?channel={SAMPLE_CHANNEL_ID}"
        )))
        .bearer_auth(&agent)
        .json(&json!({"opted_out": false}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let (_, contact) = t
        .get_json(
            &format!("/v1/contacts/554832817003?channel={SAMPLE_CHANNEL_ID}"),
            &agent,
        )
        .await;
    assert_eq!(contact["opted_out"], false);
}

#[tokio::test]
async fn the_messaging_limit_makes_a_campaign_wait_and_resume_by_itself() {
    use conversa::domain::inbound::{Timer, TimerKind};
    let t = stack().await;
    let (status, _) = t.set_settings(json!({"messaging_limit": 250})).await;
    assert_eq!(status, 200);
    // The channel already reached 248 contacts earlier today.
    let hour = t.now_secs() / 3600;
    let table = t.local.stack.reference("ConversationsTable").unwrap();
    aws_sdk_dynamodb::Client::new(&t.config)
        .put_item()
        .table_name(table)
        .item(
            "pk",
            aws_sdk_dynamodb::types::AttributeValue::S(format!("CHANNEL#{SAMPLE_CHANNEL_ID}")),
        )
        .item(
            "sk",
            aws_sdk_dynamodb::types::AttributeValue::S(format!("REACH#{:010}", hour - 3)),
        )
        .item(
            "reached",
            aws_sdk_dynamodb::types::AttributeValue::N("248".into()),
        )
        .send()
        .await
        .unwrap();
    let boss = supervisor(&t).await;
    let id = create(&t, &boss, json!({})).await;
    let recipients: Vec<Value> = (0..5)
        .map(|i| json!({"phone": format!("55483281700{i}"), "parameters": ["Ana"]}))
        .collect();
    add_recipients(&t, &boss, &id, json!({ "recipients": recipients })).await;
    start(&t, &boss, &id).await;
    let c = run(&t, &boss, &id).await;
    assert_eq!(
        (
            c["status"].as_str(),
            c["paused_reason"].as_str(),
            c["pending"].as_u64()
        ),
        (Some("paused"), Some("messaging_limit"), Some(3)),
        "two more contacts fit under the limit: {c}"
    );
    assert_eq!(template_sends(&t).await.len(), 2);
    // A day later the window moved: its timer resumes it.
    t.advance_clock(86_400).await;
    t.fire_timer(&Timer {
        subject: id.clone(),
        kind: TimerKind::CampaignDispatch,
        due_at: (hour + 1) * 3_600_000,
    })
    .await;
    let done = run(&t, &boss, &id).await;
    assert_eq!(
        (done["status"].as_str(), done["pending"].as_u64()),
        (Some("completed"), Some(0)),
        "{done}"
    );
    assert_eq!(template_sends(&t).await.len(), 5, "each recipient once");
}

// Several threads: like Lambda instances, one starved thread does not hold a send back.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn pacing_holds_two_concurrent_campaigns_of_one_channel_to_the_rate() {
    let t = stack().await;
    let (status, _) = t.set_settings(json!({"throughput_per_second": 4})).await;
    assert_eq!(status, 200);
    let boss = supervisor(&t).await;
    let mut ids = Vec::new();
    for (k, name) in ["A", "B"].iter().enumerate() {
        let id = create(&t, &boss, json!({"name": name})).await;
        let recipients: Vec<Value> = (0..8)
            .map(|i| json!({"phone": format!("55483281{k}{i:03}"), "parameters": ["Ana"]}))
            .collect();
        t.post_json(
            &format!("/v1/campaigns/{id}/recipients"),
            &boss,
            json!({ "recipients": recipients }),
        )
        .await;
        ids.push(id);
    }
    for id in &ids {
        t.post_json(&format!("/v1/campaigns/{id}/start"), &boss, json!({}))
            .await;
    }
    for id in &ids {
        assert_eq!(run(&t, &boss, id).await["status"], "completed");
    }
    let mut sends = template_sends(&t).await;
    assert_eq!(sends.len(), 16, "every recipient once");
    sends.sort();
    // No one-second window holds more than the rate.
    for (i, (at, _)) in sends.iter().enumerate() {
        let in_window = sends[i..]
            .iter()
            .take_while(|(t2, _)| t2 - at < 1000)
            .count();
        assert!(
            in_window <= 4,
            "{in_window} sends within a second from {at}: {sends:?}"
        );
    }
}
