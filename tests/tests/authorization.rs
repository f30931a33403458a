//! Issue 13: who may do what. Every refusal shows its status and that nothing changed.

use conversa::ports::store::*;
use conversa_tests::*;
use serde_json::{json, Value};

const CONTACT: &str = "5548999990000";

async fn request(
    t: &TestStack,
    method: reqwest::Method,
    path: &str,
    token: &str,
    body: Option<Value>,
    if_match: Option<&str>,
) -> (u16, Value, Option<String>) {
    let mut r = t.http.request(method, t.url(path)).bearer_auth(token);
    if let Some(b) = body {
        r = r.json(&b);
    }
    if let Some(v) = if_match {
        r = r.header("if-match", v);
    }
    let r = r.send().await.unwrap();
    let etag = r
        .headers()
        .get("etag")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    (
        r.status().as_u16(),
        r.json().await.unwrap_or(Value::Null),
        etag,
    )
}

#[tokio::test]
async fn an_assistant_acts_only_on_the_conversations_routed_to_it() {
    let t = stack().await;
    t.set_settings(json!({"routing": {"mode": "assistant", "to": "assistant", "assistant": "ana-bot", "backup_queue": "support"}}))
        .await;
    let id = t.waiting(CONTACT).await;
    let before = t.store_conversation(&id).await;
    let other = t.token("other-bot", "assistant", &[]).await;
    assert_eq!(
        t.get_json(&format!("/v1/conversations/{id}"), &other)
            .await
            .0,
        403
    );
    assert_eq!(
        t.op(&other, &id, "handoff", json!({"queue": "support"}))
            .await
            .0,
        403
    );
    assert_eq!(
        t.op(&other, &id, "messages", json!({"text": "oi"})).await.0,
        403
    );
    let bot = t.token("ana-bot", "assistant", &[]).await;
    assert_eq!(
        t.op(&bot, &id, "capture", json!({})).await.0,
        403,
        "assistants do not capture"
    );
    let (status, _, _) = request(
        &t,
        reqwest::Method::DELETE,
        &format!("/v1/conversations/{id}"),
        &bot,
        None,
        None,
    )
    .await;
    assert_eq!(status, 403, "nor remove");
    assert_eq!(t.store_conversation(&id).await, before, "nothing changed");
    assert_eq!(
        t.get_json(&format!("/v1/conversations/{id}"), &bot).await.0,
        200
    );
}

#[tokio::test]
async fn removing_is_a_supervisors_act_or_the_owners_for_its_closed_conversation() {
    let t = stack().await;
    let id = t.waiting(CONTACT).await;
    let agent = t.agent_token().await;
    assert_eq!(t.op(&agent, &id, "capture", json!({})).await.0, 200);
    let path = format!("/v1/conversations/{id}");
    let (status, _, _) = request(&t, reqwest::Method::DELETE, &path, &agent, None, None).await;
    assert_eq!(status, 403, "not while open");
    assert!(
        t.store().conversation(&id).await.unwrap().is_some(),
        "nothing changed"
    );
    assert_eq!(t.op(&agent, &id, "close", json!({})).await.0, 200);
    let (status, _, _) = request(&t, reqwest::Method::DELETE, &path, &agent, None, None).await;
    assert_eq!(status, 200, "its own closed conversation");
    t.relay().await;
    let removed = t.events_of("conversation.removed").await;
    assert_eq!(removed.len(), 1);
    assert_eq!(removed[0]["detail"]["by"], "agent-1");
}

#[tokio::test]
async fn no_reading_across_queues() {
    let t = stack().await;
    let id = t.waiting(CONTACT).await;
    let outsider = t.token("agent-9", "agent", &["sales"]).await;
    let (status, _) = t
        .get_json(
            &format!("/v1/channels/{SAMPLE_CHANNEL_ID}/contacts/{CONTACT}/window"),
            &outsider,
        )
        .await;
    assert_eq!(status, 403, "the window of a contact in another queue");
    let insider = t.agent_token().await;
    let (status, w) = t
        .get_json(
            &format!("/v1/channels/{SAMPLE_CHANNEL_ID}/contacts/{CONTACT}/window"),
            &insider,
        )
        .await;
    assert_eq!((status, w["open"].as_bool()), (200, Some(true)));
    let (status, err) = t
        .post_json(
            "/v1/conversations",
            &outsider,
            json!({"channel": SAMPLE_CHANNEL_ID, "phone": CONTACT}),
        )
        .await;
    assert_eq!(
        (status, err["code"].as_str()),
        (409, Some("conversation_in_progress"))
    );
    assert!(
        err["details"].is_null() && !err.to_string().contains(&id),
        "no id: {err}"
    );
    let (status, err) = t
        .post_json(
            "/v1/conversations",
            &insider,
            json!({"channel": SAMPLE_CHANNEL_ID, "phone": CONTACT}),
        )
        .await;
    assert_eq!(
        (status, err["details"]["conversation_id"].as_str()),
        (409, Some(id.as_str()))
    );
    let settings = format!("/v1/channels/{SAMPLE_CHANNEL_ID}/settings");
    assert_eq!(
        t.get_json(&settings, &insider).await.0,
        403,
        "settings are a supervisor's"
    );
    let (status, channels) = t.get_json("/v1/channels", &insider).await;
    assert_eq!(status, 200);
    let keys: Vec<&String> = channels["items"][0].as_object().unwrap().keys().collect();
    assert_eq!(
        keys,
        vec!["can_start", "color", "display_number", "id", "kind", "name"]
    );
}

#[tokio::test]
async fn transfer_to_an_agent_names_an_agent_id() {
    let t = stack().await;
    let id = t.waiting(CONTACT).await;
    let agent = t.agent_token().await;
    assert_eq!(t.op(&agent, &id, "capture", json!({})).await.0, 200);
    let before = t.store_conversation(&id).await;
    for bad in ["has space", "-dash-first", &"x".repeat(129), "emoji😀"] {
        let (status, err) = t.op(&agent, &id, "transfer", json!({"agent": bad})).await;
        assert_eq!(
            (
                status,
                err["code"].as_str(),
                err["details"]["field"].as_str()
            ),
            (422, Some("invalid_agent"), Some("agent")),
            "{bad}"
        );
    }
    assert_eq!(t.store_conversation(&id).await, before, "nothing changed");
    t.register_agent("f47ac10b-58cc-4372-a567-0e02b2c3d479", &[], None)
        .await;
    assert_eq!(
        t.op(
            &agent,
            &id,
            "transfer",
            json!({"agent": "f47ac10b-58cc-4372-a567-0e02b2c3d479"})
        )
        .await
        .0,
        200
    );
}

#[tokio::test]
async fn input_limits_name_the_field_and_change_nothing() {
    let t = stack().await;
    let id = t.waiting(CONTACT).await;
    let agent = t.agent_token().await;
    assert_eq!(t.op(&agent, &id, "capture", json!({})).await.0, 200);
    let before = t.store_conversation(&id).await;
    let long = "x".repeat(2000);
    let cases = [
        (
            json!({"media": {"type": "image", "link": "https://x.test/a.png", "caption": long}}),
            "media.caption",
        ),
        (
            json!({"media": {"type": "document", "link": "https://x.test/a.pdf", "filename": long}}),
            "media.filename",
        ),
        (
            json!({"template": {"name": "welcome", "language": "pt_BR", "parameters": [long]}}),
            "template.parameters[0]",
        ),
    ];
    for (body, field) in cases {
        let (status, err) = t.op(&agent, &id, "messages", body).await;
        assert_eq!(
            (status, err["details"]["field"].as_str()),
            (422, Some(field)),
            "{err}"
        );
    }
    assert_eq!(t.store_conversation(&id).await, before, "nothing changed");
    // extra_info nested too deep.
    t.set_settings(json!({"routing": {"mode": "assistant", "to": "assistant", "assistant": "ana-bot", "backup_queue": "support"}}))
        .await;
    let bot_conversation = t.waiting("5548999990003").await;
    let bot = t.token("ana-bot", "assistant", &[]).await;
    let mut deep = json!(1);
    for _ in 0..20 {
        deep = json!({ "a": deep });
    }
    let (status, err) = t
        .op(
            &bot,
            &bot_conversation,
            "handoff",
            json!({"queue": "support", "extra_info": deep}),
        )
        .await;
    assert_eq!(
        (status, err["details"]["field"].as_str()),
        (422, Some("extra_info"))
    );
    assert_eq!(
        t.store_conversation(&bot_conversation).await.state,
        conversa::domain::ConversationState::Bot
    );
}

#[tokio::test]
async fn a_tampered_cursor_on_any_list_is_422() {
    let t = stack().await;
    let id = t.waiting(CONTACT).await;
    let supervisor = t.token("boss", "supervisor", &["support"]).await;
    for path in [
        "/v1/queues/support/conversations?cursor=Zm9v".to_owned(),
        "/v1/queues/support/conversations?state=closed&cursor=not-base64!".to_owned(),
        "/v1/conversations?assigned=me&cursor=eyJ4IjoxfQ".to_owned(),
        format!("/v1/conversations?channel={SAMPLE_CHANNEL_ID}&contact={CONTACT}&cursor=AAAA"),
        format!("/v1/conversations/{id}/messages?cursor=e30"),
        // Well-formed hex of keys that are not this list's ("foo", "MSG" without '#').
        format!("/v1/conversations/{id}/messages?cursor=666f6f"),
        format!("/v1/conversations/{id}/messages?cursor=4d5347"),
        format!("/v1/conversations?channel={SAMPLE_CHANNEL_ID}&contact={CONTACT}&cursor=666f6f"),
    ] {
        let (status, err) = t.get_json(&path, &supervisor).await;
        assert_eq!(
            (status, err["code"].as_str()),
            (422, Some("invalid_cursor")),
            "{path}"
        );
    }
}

#[tokio::test]
async fn channel_settings_are_written_with_if_match() {
    let t = stack().await;
    let supervisor = t.token("boss", "supervisor", &[]).await;
    let path = format!("/v1/channels/{SAMPLE_CHANNEL_ID}/settings");
    let (_, _, etag) = request(&t, reqwest::Method::GET, &path, &supervisor, None, None).await;
    let etag = etag.expect("an ETag");
    let (status, after, new_etag) = request(
        &t,
        reqwest::Method::PUT,
        &path,
        &supervisor,
        Some(json!({"grouping_seconds": 5})),
        Some(&etag),
    )
    .await;
    assert_eq!(status, 200, "{after}");
    assert_ne!(new_etag.as_deref(), Some(etag.as_str()), "a new version");
    // A second writer still holding the old version loses.
    let (status, err, _) = request(
        &t,
        reqwest::Method::PUT,
        &path,
        &supervisor,
        Some(json!({"grouping_seconds": 9})),
        Some(&etag),
    )
    .await;
    assert_eq!(
        (status, err["code"].as_str()),
        (412, Some("settings_changed"))
    );
    let (_, now, _) = request(&t, reqwest::Method::GET, &path, &supervisor, None, None).await;
    assert_eq!(now["grouping_seconds"], 5, "nothing changed");
    let (status, _, _) = request(
        &t,
        reqwest::Method::PUT,
        &path,
        &supervisor,
        Some(json!({"grouping_seconds": 9})),
        Some("garbage"),
    )
    .await;
    assert_eq!(status, 400);
}

#[tokio::test]
async fn an_undeclared_method_on_a_known_path_is_405() {
    let t = stack().await;
    let agent = t.agent_token().await;
    let r = t
        .http
        .patch(t.url("/v1/conversations"))
        .bearer_auth(&agent)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 405);
    assert_eq!(r.headers()["allow"], "GET, POST");
    let r = t
        .http
        .get(t.url("/v1/nothing"))
        .bearer_auth(&agent)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
}
