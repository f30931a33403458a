//! Issue 18: the agent API on an SMS channel (Voitel Lynk, manual 004). An SMS session
//! starts with the agent's text, at any time (no 24-hour window); SMS carries text only,
//! counted in segments; everything else about a session is the WhatsApp one's.

use conversa::ports::store::*;
use conversa_tests::*;
use serde_json::{json, Value};

const SMS: &str = conversa_infra::dev::SAMPLE_SMS_CHANNEL_ID;
const PHONE: &str = "5548991110000";

async fn sms_stack() -> TestStack {
    let t = stack().await;
    t.local.seed_sms_channel().await.unwrap();
    t
}

async fn start(t: &TestStack, token: &str, body: Value) -> (u16, Value) {
    t.post_json("/v1/conversations", token, body).await
}

async fn conversations_on(t: &TestStack, channel: &str) -> usize {
    t.store()
        .conversations_of_contact(channel, PHONE, None, 10)
        .await
        .unwrap()
        .items
        .len()
}

/// The sends waiting for `hsm-send`, once the relay carried the outbox to the queue.
async fn queued_sends(t: &TestStack) -> usize {
    t.relay().await;
    t.queue_depth(&t.queue_url("OutboundQueue")).await
}

#[tokio::test]
async fn an_sms_session_starts_with_the_agents_text_assigned_to_the_agent() {
    let t = sms_stack().await;
    let token = t.agent_token().await;
    let (status, body) = start(
        &t,
        &token,
        json!({"channel": SMS, "phone": PHONE, "text": "Olá! Aqui é a Ana, da Conversa."}),
    )
    .await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(body["conversation"]["channel"], SMS);
    assert_eq!(body["conversation"]["state"], "assigned");
    assert_eq!(body["conversation"]["agent"], "agent-1");
    assert_eq!(body["conversation"]["message_count"], 1);
    assert_eq!(body["message"]["body"], "Olá! Aqui é a Ana, da Conversa.");
    // "Olá" and "é" are not all GSM-7 ("á" is not): UCS-2, one segment of at most 70.
    assert_eq!(body["segments"]["encoding"], "ucs2");
    assert_eq!(body["segments"]["segments"], 1);
    assert_eq!(body["window"]["open"], true, "SMS has no window");
    assert_eq!(queued_sends(&t).await, 1, "the text goes to hsm-send");
}

#[tokio::test]
async fn an_sms_session_needs_no_template_to_reach_a_contact_who_never_wrote() {
    let t = sms_stack().await;
    let token = t.agent_token().await;
    // The same start on WhatsApp needs a template: the contact never wrote.
    let (status, err) = start(
        &t,
        &token,
        json!({"channel": SAMPLE_CHANNEL_ID, "phone": PHONE, "text": "Oi"}),
    )
    .await;
    assert_eq!(
        (status, err["code"].as_str()),
        (422, Some("template_required"))
    );
    assert_eq!(conversations_on(&t, SAMPLE_CHANNEL_ID).await, 0);
    let (status, _) = start(
        &t,
        &token,
        json!({"channel": SMS, "phone": PHONE, "text": "Oi"}),
    )
    .await;
    assert_eq!(status, 201);
    assert_eq!(conversations_on(&t, SMS).await, 1);
}

#[tokio::test]
async fn a_whatsapp_start_with_text_inside_the_window_is_assigned_with_that_text() {
    let t = sms_stack().await;
    let token = t.agent_token().await;
    t.contact_writes(PHONE, "wamid.SMSAPI1", t.now_secs()).await;
    // The contact's message opened a conversation; closing it leaves the window open.
    let open = t.open_conversation_of(PHONE).await.unwrap();
    let boss = t.token("boss", "supervisor", &["support"]).await;
    let (status, _) = t
        .post_json(
            &format!("/v1/conversations/{}/close", open.id),
            &boss,
            json!({}),
        )
        .await;
    assert_eq!(status, 200);
    let (status, body) = start(
        &t,
        &token,
        json!({"channel": SAMPLE_CHANNEL_ID, "phone": PHONE, "text": "Posso ajudar?"}),
    )
    .await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(body["conversation"]["state"], "assigned");
    assert_eq!(body["message"]["body"], "Posso ajudar?");
    assert!(body.get("segments").is_none(), "segments are SMS's");
}

#[tokio::test]
async fn templates_are_refused_on_an_sms_channel_and_nothing_is_written() {
    let t = sms_stack().await;
    let token = t.agent_token().await;
    let template = json!({"name": "welcome", "language": "pt_BR", "parameters": ["Ana"]});
    let (status, err) = start(
        &t,
        &token,
        json!({"channel": SMS, "phone": PHONE, "template": template}),
    )
    .await;
    assert_eq!(status, 422, "{err}");
    assert_eq!(err["code"], "templates_not_supported");
    assert!(err["message"].as_str().unwrap().contains("text only"));
    assert_eq!(conversations_on(&t, SMS).await, 0);
    assert_eq!(queued_sends(&t).await, 0);

    // Nor inside a session.
    let (status, body) = start(
        &t,
        &token,
        json!({"channel": SMS, "phone": PHONE, "text": "Oi"}),
    )
    .await;
    assert_eq!(status, 201);
    let id = body["conversation"]["id"].as_str().unwrap().to_owned();
    let path = format!("/v1/conversations/{id}/messages");
    let (status, err) = t
        .post_json(&path, &token, json!({ "template": template }))
        .await;
    assert_eq!(
        (status, err["code"].as_str()),
        (422, Some("templates_not_supported"))
    );
    let (status, err) = t
        .post_json(
            &path,
            &token,
            json!({"media": {"type": "image", "link": "https://example.com/a.png"}}),
        )
        .await;
    assert_eq!(
        (status, err["code"].as_str()),
        (422, Some("content_not_supported"))
    );
    let (_, log) = t.get_json(&format!("{path}?limit=100"), &token).await;
    assert_eq!(
        log["items"].as_array().unwrap().len(),
        1,
        "only the first text"
    );
}

#[tokio::test]
async fn an_sms_reply_answers_with_its_segments_160_gsm7_characters_are_one() {
    let t = sms_stack().await;
    let token = t.agent_token().await;
    let (_, body) = start(
        &t,
        &token,
        json!({"channel": SMS, "phone": PHONE, "text": "Oi"}),
    )
    .await;
    let id = body["conversation"]["id"].as_str().unwrap().to_owned();
    let path = format!("/v1/conversations/{id}/messages");
    for (text, encoding, segments) in [
        ("a".repeat(160), "gsm7", 1),
        ("a".repeat(161), "gsm7", 2),
        ("ã".repeat(70), "ucs2", 1),
        ("ã".repeat(71), "ucs2", 2),
    ] {
        let (status, body) = t.post_json(&path, &token, json!({ "text": text })).await;
        assert_eq!(status, 202, "{body}");
        assert_eq!(body["segments"]["encoding"], encoding, "{}", text.len());
        assert_eq!(body["segments"]["segments"], segments, "{}", text.len());
    }
}

#[tokio::test]
async fn an_sms_text_above_ten_segments_is_refused_with_its_count_and_nothing_is_written() {
    let t = sms_stack().await;
    let token = t.agent_token().await;
    let (status, err) = start(
        &t,
        &token,
        json!({"channel": SMS, "phone": PHONE, "text": "a".repeat(1531)}),
    )
    .await;
    assert_eq!(status, 422, "{err}");
    assert_eq!(err["code"], "text_too_long");
    assert_eq!(err["details"]["segments"], 11);
    assert_eq!(err["details"]["max_segments"], 10);
    assert_eq!(conversations_on(&t, SMS).await, 0);
    // 1,530 GSM-7 characters are ten segments: accepted.
    let (status, body) = start(
        &t,
        &token,
        json!({"channel": SMS, "phone": PHONE, "text": "a".repeat(1530)}),
    )
    .await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(body["segments"]["segments"], 10);
}

#[tokio::test]
async fn a_start_gives_a_template_or_a_text_never_both_nor_an_empty_text() {
    let t = sms_stack().await;
    let token = t.agent_token().await;
    let template = json!({"name": "welcome", "language": "pt_BR", "parameters": ["Ana"]});
    let (status, err) = start(
        &t,
        &token,
        json!({"channel": SAMPLE_CHANNEL_ID, "phone": PHONE, "text": "Oi", "template": template}),
    )
    .await;
    assert_eq!((status, err["code"].as_str()), (422, Some("invalid_body")));
    let (status, err) = start(
        &t,
        &token,
        json!({"channel": SMS, "phone": PHONE, "text": "  \n"}),
    )
    .await;
    assert_eq!((status, err["code"].as_str()), (422, Some("invalid_text")));
    assert_eq!(conversations_on(&t, SMS).await, 0);
    assert_eq!(conversations_on(&t, SAMPLE_CHANNEL_ID).await, 0);
}

#[tokio::test]
async fn the_start_picker_lists_sms_channels_with_their_kind() {
    let t = sms_stack().await;
    let token = t.agent_token().await;
    let (status, body) = t.get_json("/v1/channels?can_start=true", &token).await;
    assert_eq!(status, 200);
    let kinds: Vec<(&str, &str)> = body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| (c["id"].as_str().unwrap(), c["kind"].as_str().unwrap()))
        .collect();
    assert_eq!(kinds, vec![(SAMPLE_CHANNEL_ID, "whatsapp"), (SMS, "sms")]);
    // Two channels may start: a start must name one.
    let (status, err) = start(&t, &token, json!({"phone": PHONE, "text": "Oi"})).await;
    assert_eq!(
        (status, err["code"].as_str()),
        (422, Some("channel_required"))
    );
}

#[tokio::test]
async fn template_sync_leaves_sms_channels_alone() {
    let t = sms_stack().await;
    // Even one given a WhatsApp account by mistake: SMS has no templates.
    let mut sms = conversa_infra::sample_sms_channel();
    sms.waba_id = conversa_infra::dev::SAMPLE_WABA_ID.into();
    t.store().put_channel(&sms).await.unwrap();
    let r = t
        .http
        .post(t.url("/_dev/run/TemplateSyncFunction"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let report: Value = r.json().await.unwrap();
    assert_eq!(
        report["result"]["channels"], 1,
        "only the WhatsApp channel: {report}"
    );
    let stored = t.store().templates(SMS).await.unwrap();
    assert!(stored.is_empty(), "no template stored for the SMS channel");
}

#[tokio::test]
async fn the_contacts_sms_reply_joins_the_session_the_agent_started() {
    let t = sms_stack().await;
    let token = t.agent_token().await;
    let (status, body) = start(
        &t,
        &token,
        json!({"channel": SMS, "phone": PHONE, "text": "Oi, aqui é da Conversa"}),
    )
    .await;
    assert_eq!(status, 201, "{body}");
    let id = body["conversation"]["id"].as_str().unwrap().to_owned();
    t.contact_texts_sms(PHONE, SMS, "Oi! Pode falar", "sms-reply-1")
        .await;
    assert_eq!(conversations_on(&t, SMS).await, 1, "no second conversation");
    let (_, d) = t.get_json(&format!("/v1/conversations/{id}"), &token).await;
    assert_eq!(d["state"], "assigned", "still the agent's: {d}");
    assert_eq!(d["agent"], "agent-1");
    let (_, log) = t
        .get_json(
            &format!("/v1/conversations/{id}/messages?limit=100"),
            &token,
        )
        .await;
    let lines: Vec<(String, String)> = log["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            (
                m["direction"].as_str().unwrap().to_owned(),
                m["body"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect();
    assert_eq!(
        lines,
        vec![
            ("outbound".to_owned(), "Oi, aqui é da Conversa".to_owned()),
            ("inbound".to_owned(), "Oi! Pode falar".to_owned()),
        ]
    );
}
