//! Issue 14: campaigns — recipients checked line by line, each sent exactly once through
//! the send path, skipped rather than spammed, replies routed to the campaign's target.

use conversa_tests::campaign::*;
use conversa_tests::*;
use serde_json::{json, Value};
use std::time::Duration;

#[tokio::test]
async fn a_campaign_sends_each_recipient_once_and_the_reply_goes_to_its_target() {
    let t = stack().await;
    let boss = supervisor(&t).await;
    let id = create(&t, &boss, json!({})).await;
    let (status, added) = t
        .post_json(
            &format!("/v1/campaigns/{id}/recipients"),
            &boss,
            json!({"recipients": [
                {"phone": "554832817001", "parameters": ["Ana"]},
                {"phone": "554832817002", "parameters": ["Bia"]},
                {"phone": "554832817003", "parameters": ["Caio"]},
                {"phone": "4832", "parameters": ["Curto"]},
                {"phone": "554832817001", "parameters": ["Ana de novo"]},
                {"phone": "554832817004", "parameters": []}
            ]}),
        )
        .await;
    assert_eq!(status, 200, "{added}");
    assert_eq!(added["added"], 3);
    assert_eq!(
        added["already_in_campaign"], 1,
        "a phone given twice counts once"
    );
    assert_eq!(added["rejected_count"], 2);
    let lines: Vec<u64> = added["rejected"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["line"].as_u64().unwrap())
        .collect();
    assert_eq!(lines, vec![4, 6], "bad lines named, never dropped silently");
    let (status, c) = t
        .post_json(&format!("/v1/campaigns/{id}/start"), &boss, json!({}))
        .await;
    assert_eq!(
        (status, c["status"].as_str()),
        (200, Some("sending")),
        "{c}"
    );
    let done = run(&t, &boss, &id).await;
    assert_eq!(done["status"], "completed", "{done}");
    assert_eq!(
        (done["pending"].as_u64(), done["sent"].as_u64()),
        (Some(0), Some(3))
    );
    let sent: Vec<String> = outbox(&t)
        .await
        .iter()
        .filter(|m| m["request"]["type"] == "template")
        .map(|m| m["request"]["to"].as_str().unwrap().to_owned())
        .collect();
    let mut unique = sent.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(
        (sent.len(), unique.len()),
        (3, 3),
        "each recipient once: {sent:?}"
    );
    // Sessions grouped under the campaign's queue, and the reply goes there.
    let (_, list) = t
        .get_json(
            "/v1/queues/sales/conversations?state=in_progress&origin=campaign",
            &boss,
        )
        .await;
    assert_eq!(list["items"].as_array().unwrap().len(), 3, "{list}");
    assert_eq!(list["items"][0]["campaign"], id.as_str());
    t.contact_writes("554832817002", "wamid.reply.bia", t.now_secs())
        .await;
    let (_, waiting) = t
        .get_json("/v1/queues/sales/conversations?state=queued", &boss)
        .await;
    assert_eq!(waiting["items"][0]["contact"], "554832817002", "{waiting}");
    let (_, recipients) = t
        .get_json(&format!("/v1/campaigns/{id}/recipients?status=sent"), &boss)
        .await;
    assert!(recipients["items"][0]["conversation_id"].is_string());
    assert!(
        recipients["items"][0]["wamid"]
            .as_str()
            .is_some_and(|w| w.starts_with("wamid.")),
        "{recipients}"
    );
    t.relay().await;
    assert_eq!(t.events_of("campaign.started").await.len(), 1);
    assert_eq!(t.events_of("campaign.completed").await.len(), 1);
    let progress = t.events_of("campaign.progress").await;
    assert!(!progress.is_empty(), "progress while sending");
    let (status, group) = t
        .get_json(
            &format!("/v1/conversations?origin=campaign&campaign={id}"),
            &boss,
        )
        .await;
    assert_eq!(status, 200, "{group}");
    assert_eq!(
        group["items"].as_array().unwrap().len(),
        3,
        "the campaign's group"
    );
}

#[tokio::test]
async fn skip_dont_spam_an_open_conversation_or_an_opted_out_contact() {
    let t = stack().await;
    let boss = supervisor(&t).await;
    // One contact is talking to the support queue; another opted out.
    t.contact_writes("554832817001", "wamid.open.1", t.now_secs())
        .await;
    let agent = t.agent_token().await;
    let r = t
        .http
        .put(t.url(&format!(
            "/v1/contacts/554832817002?channel={SAMPLE_CHANNEL_ID}"
        )))
        .bearer_auth(&agent)
        .json(&json!({"opted_out": true}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
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
        (done["sent"].as_u64(), done["skipped"].as_u64()),
        (Some(1), Some(2)),
        "{done}"
    );
    let (_, skipped) = t
        .get_json(
            &format!("/v1/campaigns/{id}/recipients?status=skipped"),
            &boss,
        )
        .await;
    let reasons: Vec<(&str, &str)> = skipped["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| (r["phone"].as_str().unwrap(), r["reason"].as_str().unwrap()))
        .collect();
    assert_eq!(
        reasons,
        vec![
            ("554832817001", "conversation_in_progress"),
            ("554832817002", "opted_out")
        ]
    );
}

#[tokio::test]
async fn recipients_from_a_csv_with_bad_rows_reported_by_line() {
    let t = stack().await;
    let boss = supervisor(&t).await;
    let id = create(&t, &boss, json!({})).await;
    let csv = "phone,param1\n554832817001,Ana\n12,Curto\n554832817002,Bia\n554832817002,Bia\n554832817003,\n";
    let r = t
        .http
        .post(t.url(&format!("/v1/campaigns/{id}/recipients")))
        .bearer_auth(&boss)
        .header("content-type", "text/csv")
        .body(csv)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let added: Value = r.json().await.unwrap();
    assert_eq!(added["added"], 2, "{added}");
    assert_eq!(added["already_in_campaign"], 1);
    let lines: Vec<u64> = added["rejected"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["line"].as_u64().unwrap())
        .collect();
    assert_eq!(lines, vec![3, 6], "the header is line 1");
    let (_, c) = t.get_json(&format!("/v1/campaigns/{id}"), &boss).await;
    assert_eq!(c["pending"], 2);
}

#[tokio::test]
async fn pause_resume_and_cancel_and_only_supervisors_run_campaigns() {
    let t = stack().await;
    let boss = supervisor(&t).await;
    let agent = t.agent_token().await;
    let (status, _) = t
        .post_json(
            "/v1/campaigns",
            &agent,
            json!({"name": "x", "channel": SAMPLE_CHANNEL_ID, "template": {"name": "welcome", "language": "pt_BR"}, "target": {"queue": "sales"}}),
        )
        .await;
    assert_eq!(status, 403);
    let id = create(&t, &boss, json!({})).await;
    let (status, err) = t
        .post_json(&format!("/v1/campaigns/{id}/start"), &boss, json!({}))
        .await;
    assert_eq!((status, err["code"].as_str()), (409, Some("no_recipients")));
    add_recipients(
        &t,
        &boss,
        &id,
        json!({"recipients": [{"phone": "554832817001", "parameters": ["Ana"]}]}),
    )
    .await;
    start(&t, &boss, &id).await;
    let (status, c) = t
        .post_json(&format!("/v1/campaigns/{id}/pause"), &boss, json!({}))
        .await;
    assert_eq!(
        (status, c["status"].as_str(), c["paused_reason"].as_str()),
        (200, Some("paused"), Some("operator"))
    );
    // The armed timer finds it paused: nothing is sent.
    let timers = t.local.runtime.poller("HandoffTimeoutFunction").unwrap();
    t.relay().await;
    let _ = t.local.runtime.poll_once(timers, 0).await;
    t.drain_outbound().await;
    let (_, c) = t.get_json(&format!("/v1/campaigns/{id}"), &boss).await;
    assert_eq!(c["sent"], 0, "{c}");
    let (status, _) = t
        .post_json(&format!("/v1/campaigns/{id}/resume"), &boss, json!({}))
        .await;
    assert_eq!(status, 200);
    let done = run(&t, &boss, &id).await;
    assert_eq!(
        (done["status"].as_str(), done["sent"].as_u64()),
        (Some("completed"), Some(1))
    );
    let (status, err) = t
        .post_json(&format!("/v1/campaigns/{id}/cancel"), &boss, json!({}))
        .await;
    assert_eq!(
        (status, err["code"].as_str()),
        (409, Some("campaign_status"))
    );
    let other = create(&t, &boss, json!({})).await;
    let (status, c) = t
        .post_json(&format!("/v1/campaigns/{other}/cancel"), &boss, json!({}))
        .await;
    assert_eq!((status, c["status"].as_str()), (200, Some("cancelled")));
}

#[tokio::test]
async fn campaigns_are_validated_and_bad_ones_write_nothing() {
    let t = stack().await;
    let boss = supervisor(&t).await;
    for (body, field) in [
        (json!({"target": {"queue": "nope"}}), "target.queue"),
        (json!({"target": {"agent": "has space"}}), "target.agent"),
        (json!({"rate_per_second": 5000}), "rate_per_second"),
        (json!({"name": ""}), "name"),
    ] {
        let mut full = json!({
            "name": "x", "channel": SAMPLE_CHANNEL_ID,
            "template": {"name": "welcome", "language": "pt_BR"}, "target": {"queue": "sales"},
        });
        full.as_object_mut()
            .unwrap()
            .extend(body.as_object().unwrap().clone());
        let (status, err) = t.post_json("/v1/campaigns", &boss, full).await;
        assert_eq!(
            (status, err["details"]["field"].as_str()),
            (422, Some(field)),
            "{err}"
        );
    }
    let (status, err) = t
        .post_json(
            "/v1/campaigns",
            &boss,
            json!({"name": "x", "channel": SAMPLE_CHANNEL_ID, "template": {"name": "nope", "language": "pt_BR"}, "target": {"queue": "sales"}}),
        )
        .await;
    assert_eq!(
        (status, err["code"].as_str()),
        (422, Some("template_not_found"))
    );
    let (status, err) = t
        .post_json(
            "/v1/campaigns",
            &boss,
            json!({"name": "x", "channel": SAMPLE_CHANNEL_ID, "template": {"name": "promo_black_friday", "language": "pt_BR"}, "target": {"queue": "sales"}}),
        )
        .await;
    assert_eq!(
        (status, err["code"].as_str()),
        (422, Some("template_not_approved")),
        "{err}"
    );
    let (_, list) = t.get_json("/v1/campaigns", &boss).await;
    assert!(
        list["items"].as_array().unwrap().is_empty(),
        "nothing written"
    );
}

#[tokio::test]
async fn statuses_and_replies_move_the_recipients_counters() {
    let t = stack().await;
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
    run(&t, &boss, &id).await;
    // The sandbox's delivered/read webhooks (status_webhooks) are off in tests: send them.
    let sends = outbox(&t).await;
    for m in sends.iter().filter(|m| m["request"]["type"] == "template") {
        let wamid = m["id"].as_str().unwrap();
        let to = m["request"]["to"].as_str().unwrap();
        for status in ["sent", "delivered", "read"] {
            let body = webhook_body(
                SAMPLE_CHANNEL_ID,
                json!([]),
                json!([{"id": wamid, "status": status, "timestamp": t.now_secs().to_string(), "recipient_id": to}]),
            );
            assert_eq!(t.post_webhook(&body).await.status(), 200);
        }
    }
    t.drain_inbound().await;
    t.contact_writes("554832817002", "wamid.reply.2", t.now_secs())
        .await;
    let (_, c) = t.get_json(&format!("/v1/campaigns/{id}"), &boss).await;
    assert_eq!(
        (
            c["sent"].as_u64(),
            c["read"].as_u64(),
            c["replied"].as_u64()
        ),
        (Some(0), Some(1), Some(1)),
        "each recipient counted once, in its latest status: {c}"
    );
    let (_, replied) = t
        .get_json(
            &format!("/v1/campaigns/{id}/recipients?status=replied"),
            &boss,
        )
        .await;
    assert_eq!(replied["items"][0]["phone"], "554832817002");
}

#[tokio::test]
async fn a_scheduled_campaign_starts_by_itself_when_the_clock_reaches_it() {
    let t = stack().await;
    let boss = supervisor(&t).await;
    let at = chrono::DateTime::from_timestamp_millis(t.now_secs() * 1000 + 120_000)
        .unwrap()
        .to_rfc3339();
    let id = create(&t, &boss, json!({ "schedule_at": at })).await;
    add_recipients(
        &t,
        &boss,
        &id,
        json!({"recipients": [{"phone": "554832817001", "parameters": ["Ana"]}]}),
    )
    .await;
    let (_, c) = t
        .post_json(&format!("/v1/campaigns/{id}/start"), &boss, json!({}))
        .await;
    assert_eq!(c["status"], "scheduled");
    let timers = t.local.runtime.poller("HandoffTimeoutFunction").unwrap();
    t.relay().await;
    let _ = t.local.runtime.poll_once(timers, 0).await;
    let (_, c) = t.get_json(&format!("/v1/campaigns/{id}"), &boss).await;
    assert_eq!(c["status"], "scheduled", "not before its time");
    // Its timer, early: it looks again later and changes nothing.
    let due = c["schedule_at"].as_i64().unwrap();
    let timer = conversa::domain::inbound::Timer {
        subject: id.clone(),
        kind: conversa::domain::inbound::TimerKind::CampaignDispatch,
        due_at: due,
    };
    t.fire_timer(&timer).await;
    let (_, c) = t.get_json(&format!("/v1/campaigns/{id}"), &boss).await;
    assert_eq!(c["status"], "scheduled");
    // The development clock reaches it (in AWS, the Scheduler's one-time schedule).
    t.advance_clock(121).await;
    t.fire_timer(&timer).await;
    let done = run(&t, &boss, &id).await;
    assert_eq!(
        (done["status"].as_str(), done["sent"].as_u64()),
        (Some("completed"), Some(1))
    );
}

#[tokio::test]
async fn pause_mid_way_keeps_the_rest_and_resume_sends_them_once() {
    let t = stack().await;
    let boss = supervisor(&t).await;
    // One recipient a second: a page each.
    let id = create(&t, &boss, json!({"rate_per_second": 1})).await;
    let recipients: Vec<Value> = (1..=4)
        .map(|i| json!({"phone": format!("55483281700{i}"), "parameters": ["Ana"]}))
        .collect();
    add_recipients(&t, &boss, &id, json!({ "recipients": recipients })).await;
    start(&t, &boss, &id).await;
    let timers = t.local.runtime.poller("HandoffTimeoutFunction").unwrap();
    t.relay().await;
    let _ = t.local.runtime.poll_once(timers, 0).await;
    t.drain_outbound().await;
    let (_, c) = t
        .post_json(&format!("/v1/campaigns/{id}/pause"), &boss, json!({}))
        .await;
    assert_eq!(c["status"], "paused");
    // The next page's timer comes and finds it paused.
    tokio::time::sleep(Duration::from_millis(1200)).await;
    t.relay().await;
    let _ = t.local.runtime.poll_once(timers, 0).await;
    t.drain_outbound().await;
    let (_, c) = t.get_json(&format!("/v1/campaigns/{id}"), &boss).await;
    assert_eq!(
        (c["sent"].as_u64(), c["pending"].as_u64()),
        (Some(1), Some(3)),
        "{c}"
    );
    t.post_json(&format!("/v1/campaigns/{id}/resume"), &boss, json!({}))
        .await;
    let done = run(&t, &boss, &id).await;
    assert_eq!(
        (done["status"].as_str(), done["sent"].as_u64()),
        (Some("completed"), Some(4))
    );
    let mut sent: Vec<String> = template_sends(&t)
        .await
        .into_iter()
        .map(|(_, p)| p)
        .collect();
    sent.sort();
    sent.dedup();
    assert_eq!(sent.len(), 4, "each recipient once");
}
