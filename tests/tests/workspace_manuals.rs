//! Issue 13: the workspace rules of the manuals (Voitel Lynk 004, Dígitro 000, ALTU 001,
//! CITSmart 003), each test named after its rule.

use conversa::ports::store::*;
use conversa_tests::*;
use serde_json::{json, Value};

const CONTACT: &str = "5548999990000";

async fn send(
    t: &TestStack,
    method: reqwest::Method,
    path: &str,
    token: &str,
    body: Value,
) -> (u16, Value) {
    let r = t
        .http
        .request(method, t.url(path))
        .bearer_auth(token)
        .json(&body)
        .send()
        .await
        .unwrap();
    (r.status().as_u16(), r.json().await.unwrap_or(Value::Null))
}

fn welcome() -> Value {
    json!({"name": "welcome", "language": "pt_BR", "parameters": ["Ana"]})
}

/// An agent starts a conversation with a template outside the window.
async fn started(t: &TestStack, token: &str, contact: &str) -> String {
    let (status, body) = t
        .post_json(
            "/v1/conversations",
            token,
            json!({"channel": SAMPLE_CHANNEL_ID, "phone": contact, "template": welcome()}),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(body["conversation"]["state"], "awaiting_reply");
    body["conversation"]["id"].as_str().unwrap().to_owned()
}

fn ids(list: &Value) -> Vec<String> {
    list["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["id"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn closed_sessions_go_to_the_agents_archive_newest_first() {
    let t = stack().await;
    let agent = t.agent_token().await;
    let first = t.waiting("5548999990001").await;
    let second = t.waiting("5548999990002").await;
    for id in [&first, &second] {
        assert_eq!(t.op(&agent, id, "capture", json!({})).await.0, 200);
    }
    assert_eq!(t.op(&agent, &first, "close", json!({})).await.0, 200);
    t.advance_clock(5).await;
    assert_eq!(t.op(&agent, &second, "close", json!({})).await.0, 200);
    let (_, archived) = t
        .get_json("/v1/conversations?assigned=me&archived=true", &agent)
        .await;
    assert_eq!(
        ids(&archived),
        vec![second.clone(), first.clone()],
        "newest first"
    );
    let (_, active) = t.get_json("/v1/conversations?assigned=me", &agent).await;
    assert!(ids(&active).is_empty(), "closed ones leave the active list");
    let supervisor = t.token("boss", "supervisor", &[]).await;
    let (status, closed) = t
        .get_json("/v1/queues/support/conversations?state=closed", &supervisor)
        .await;
    assert_eq!(status, 200);
    assert_eq!(ids(&closed), vec![second, first]);
    let (status, _) = t
        .get_json("/v1/queues/support/conversations?state=closed", &agent)
        .await;
    assert_eq!(status, 403, "a queue's closed list is a supervisor's");
}

#[tokio::test]
async fn awaiting_reply_allows_only_templates_hold_and_close() {
    let t = stack().await;
    let agent = t.agent_token().await;
    let id = started(&t, &agent, "554832817000").await;
    t.register_agent("agent-2", &["support"], None).await;
    let before = t.store_conversation(&id).await;
    for (what, body) in [
        ("transfer", json!({"queue": "sales"})),
        ("transfer", json!({"agent": "agent-2"})),
        ("archive", json!({})),
    ] {
        let (status, err) = t.op(&agent, &id, what, body).await;
        assert_eq!(
            (status, err["code"].as_str()),
            (409, Some("awaiting_reply")),
            "{what}"
        );
    }
    let supervisor = t.token("boss", "supervisor", &[]).await;
    let (status, err) = send(
        &t,
        reqwest::Method::DELETE,
        &format!("/v1/conversations/{id}"),
        &supervisor,
        json!({}),
    )
    .await;
    assert_eq!(
        (status, err["code"].as_str()),
        (409, Some("awaiting_reply"))
    );
    assert_eq!(t.store_conversation(&id).await, before, "nothing changed");
    let (status, err) = t.op(&agent, &id, "messages", json!({"text": "oi"})).await;
    assert_eq!(
        (status, err["code"].as_str()),
        (409, Some("awaiting_reply"))
    );
    assert_eq!(
        t.op(&agent, &id, "messages", json!({"template": welcome()}))
            .await
            .0,
        202
    );
    assert_eq!(t.op(&agent, &id, "hold", json!({})).await.0, 200);
    assert_eq!(t.op(&agent, &id, "close", json!({})).await.0, 200);
}

#[tokio::test]
async fn a_reply_while_on_hold_makes_resume_land_in_assigned() {
    let t = stack().await;
    let agent = t.agent_token().await;
    let id = started(&t, &agent, "554832817000").await;
    assert_eq!(t.op(&agent, &id, "hold", json!({})).await.0, 200);
    t.contact_writes("554832817000", "wamid.reply.1", t.now_secs())
        .await;
    let (status, c) = t.op(&agent, &id, "resume", json!({})).await;
    assert_eq!(
        (status, c["state"].as_str()),
        (200, Some("assigned")),
        "{c}"
    );
    let (status, _) = t.op(&agent, &id, "messages", json!({"text": "Olá!"})).await;
    assert_eq!(status, 202, "free-form after the reply");
}

#[tokio::test]
async fn only_the_owner_sees_a_captured_session() {
    let t = stack().await;
    let id = t.waiting(CONTACT).await;
    let owner = t.agent_token().await;
    let colleague = t.token("agent-2", "agent", &["support"]).await;
    let supervisor = t.token("boss", "supervisor", &[]).await;
    let details = format!("/v1/conversations/{id}");
    let messages = format!("/v1/conversations/{id}/messages");
    assert_eq!(
        t.get_json(&details, &colleague).await.0,
        200,
        "queued: the queue sees it"
    );
    assert_eq!(t.op(&owner, &id, "capture", json!({})).await.0, 200);
    for path in [&details, &messages] {
        assert_eq!(t.get_json(path, &colleague).await.0, 403, "{path}");
        assert_eq!(t.get_json(path, &owner).await.0, 200);
        assert_eq!(t.get_json(path, &supervisor).await.0, 200);
    }
    let (_, list) = t
        .get_json(
            &format!("/v1/conversations?channel={SAMPLE_CHANNEL_ID}&contact={CONTACT}"),
            &colleague,
        )
        .await;
    assert!(ids(&list).is_empty(), "nor in a contact's list");
    let (_, progress) = t
        .get_json(
            "/v1/queues/support/conversations?state=in_progress",
            &colleague,
        )
        .await;
    assert!(
        ids(&progress).is_empty(),
        "nor in the queue's in-progress list"
    );
    assert_eq!(t.op(&colleague, &id, "hold", json!({})).await.0, 403);
}

#[tokio::test]
async fn choosing_the_service_when_starting() {
    let t = stack().await;
    let agent = t.token("agent-1", "agent", &["support", "sales"]).await;
    let (status, picker) = t.get_json("/v1/channels?can_start=true", &agent).await;
    assert_eq!(status, 200);
    assert_eq!(picker["items"][0]["id"], SAMPLE_CHANNEL_ID);
    assert_eq!(picker["items"][0]["can_start"], true);
    assert!(
        picker["items"][0]["allowlist"].is_null(),
        "no settings for agents"
    );
    let (status, body) = t
        .post_json(
            "/v1/conversations",
            &agent,
            json!({"channel": SAMPLE_CHANNEL_ID, "phone": "554832817000", "template": welcome(), "queue": "sales"}),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    let id = body["conversation"]["id"].as_str().unwrap().to_owned();
    let supervisor = t.token("boss", "supervisor", &[]).await;
    let (_, sales) = t
        .get_json(
            "/v1/queues/sales/conversations?state=in_progress&origin=agent",
            &supervisor,
        )
        .await;
    assert_eq!(ids(&sales), vec![id]);
    let (_, none) = t
        .get_json(
            "/v1/queues/sales/conversations?state=in_progress&origin=campaign",
            &supervisor,
        )
        .await;
    assert!(ids(&none).is_empty(), "filtered by origin");
    let (status, err) = t
        .post_json(
            "/v1/conversations",
            &agent,
            json!({"channel": SAMPLE_CHANNEL_ID, "phone": "554832817001", "template": welcome(), "queue": "nope"}),
        )
        .await;
    assert_eq!(
        (
            status,
            err["code"].as_str(),
            err["details"]["field"].as_str()
        ),
        (422, Some("unknown_queue"), Some("queue"))
    );
    assert!(
        t.store()
            .contact(SAMPLE_CHANNEL_ID, "554832817001")
            .await
            .unwrap()
            .is_none(),
        "nothing written"
    );
}

#[tokio::test]
async fn templates_are_searched_by_name() {
    let t = stack().await;
    let agent = t.agent_token().await;
    let path = format!("/v1/channels/{SAMPLE_CHANNEL_ID}/templates");
    let (_, all) = t.get_json(&path, &agent).await;
    let (status, found) = t.get_json(&format!("{path}?q=WELC"), &agent).await;
    assert_eq!(status, 200);
    let names: Vec<&str> = found["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap())
        .collect();
    assert!(
        !names.is_empty() && names.iter().all(|n| n.contains("welc")),
        "{names:?}"
    );
    assert!(found["items"].as_array().unwrap().len() < all["items"].as_array().unwrap().len());
}

async fn with_the_assistant(t: &TestStack) -> (String, String) {
    let (status, _) = t
        .set_settings(json!({"routing": {"mode": "assistant", "to": "assistant", "assistant": "ana-bot", "backup_queue": "support"}}))
        .await;
    assert_eq!(status, 200);
    t.contact_writes(CONTACT, "wamid.bot.1", t.now_secs()).await;
    let id = t
        .store()
        .contact(SAMPLE_CHANNEL_ID, CONTACT)
        .await
        .unwrap()
        .unwrap()
        .open_conversation_id
        .unwrap();
    (id, t.token("ana-bot", "assistant", &[]).await)
}

#[tokio::test]
async fn altus_start_live_chat_body_is_taken_as_written() {
    let t = stack().await;
    let (id, bot) = with_the_assistant(&t).await;
    let action = json!({
        "name": "start_live_chat",
        "parameters": {
            "skillId": "support",
            "extra_info": {"matricula": "123", "data_nascimento": "1990-01-01"},
            "contact_info": {"matricula": "123"},
            "integration_id": 2
        },
        "result_variable": "transfer_response"
    });
    let (status, c) = t.op(&bot, &id, "handoff", action).await;
    assert_eq!(status, 200, "{c}");
    assert_eq!(
        (c["state"].as_str(), c["queue"].as_str()),
        (Some("queued"), Some("support"))
    );
    assert_eq!(c["handoff"]["integration_id"], "2");
    assert_eq!(c["handoff"]["extra_info"]["matricula"], "123");
}

#[tokio::test]
async fn the_human_part_ends_back_with_the_assistant_when_the_channel_says_so() {
    let t = stack().await;
    let (id, bot) = with_the_assistant(&t).await;
    let (status, _) = t
        .set_settings(json!({"handoff": {"return_to_assistant": true}}))
        .await;
    assert_eq!(status, 200);
    assert_eq!(
        t.op(
            &bot,
            &id,
            "handoff",
            json!({"skillId": "support", "integration_id": "x"})
        )
        .await
        .0,
        200
    );
    let agent = t.agent_token().await;
    assert_eq!(t.op(&agent, &id, "capture", json!({})).await.0, 200);
    let (status, c) = t.op(&agent, &id, "close", json!({})).await;
    assert_eq!(status, 200);
    assert_eq!(
        (c["state"].as_str(), c["agent"].as_str()),
        (Some("bot"), None),
        "{c}"
    );
    t.relay().await;
    let ended = t.events_of("handoff.ended").await;
    assert_eq!(ended.len(), 1);
    assert_eq!(ended[0]["detail"]["status"], "agent_closed");
    assert!(
        t.events_of("conversation.closed").await.is_empty(),
        "not closed"
    );
    assert_eq!(
        t.get_json(&format!("/v1/conversations/{id}"), &bot).await.0,
        200,
        "the assistant has it again"
    );
}

#[tokio::test]
async fn contacts_keep_the_profile_name_a_display_name_and_attributes() {
    let t = stack().await;
    let id = t.waiting(CONTACT).await;
    let agent = t.agent_token().await;
    let path = format!("/v1/contacts/{CONTACT}?channel={SAMPLE_CHANNEL_ID}");
    let (status, c) = t.get_json(&path, &agent).await;
    assert_eq!(status, 200, "{c}");
    assert_eq!(c["profile_name"], "Ana", "from the webhook");
    assert_eq!(c["open_conversation"]["id"], id.as_str());
    let (status, c) = send(
        &t,
        reqwest::Method::PUT,
        &path,
        &agent,
        json!({"display_name": "Ana Souza", "attributes": {"cpf": "123", "vip": true}}),
    )
    .await;
    assert_eq!(
        (status, c["display_name"].as_str()),
        (200, Some("Ana Souza")),
        "{c}"
    );
    let (status, err) = send(
        &t,
        reqwest::Method::PUT,
        &path,
        &agent,
        json!({"attributes": {"deep": {"x": 1}}}),
    )
    .await;
    assert_eq!(
        (status, err["details"]["field"].as_str()),
        (422, Some("attributes.deep"))
    );
    let (_, d) = t.get_json(&format!("/v1/conversations/{id}"), &agent).await;
    assert_eq!(
        d["contact_names"]["display_name"], "Ana Souza",
        "details show the names"
    );
    assert_eq!(d["contact_names"]["profile_name"], "Ana");
    let (_, c) = t.get_json(&path, &agent).await;
    assert_eq!(
        c["attributes"]["vip"], true,
        "the refused change changed nothing"
    );
    let (status, _) = t.get_json(&format!("/v1/contacts/{CONTACT}"), &agent).await;
    assert_eq!(status, 422, "contacts are per channel");
}

#[tokio::test]
async fn queues_are_data_supervisors_create_and_change() {
    let t = stack().await;
    let supervisor = t.token("boss", "supervisor", &[]).await;
    let body =
        json!({"name": "VIP", "assignment": "first_reply", "offline_message": "Voltamos às 8h"});
    let (status, q) = send(
        &t,
        reqwest::Method::PUT,
        "/v1/queues/vip",
        &supervisor,
        body.clone(),
    )
    .await;
    assert_eq!(
        (status, q["assignment"].as_str()),
        (201, Some("first_reply")),
        "{q}"
    );
    let (status, _) = send(
        &t,
        reqwest::Method::PUT,
        "/v1/queues/vip",
        &supervisor,
        json!({"name": "VIP", "assignment": "manual"}),
    )
    .await;
    assert_eq!(status, 200);
    let (_, all) = t.get_json("/v1/queues", &supervisor).await;
    let listed: Vec<&str> = all["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|q| q["id"].as_str().unwrap())
        .collect();
    assert_eq!(listed, vec!["sales", "support", "vip"]);
    let agent = t.agent_token().await;
    let (status, _) = send(&t, reqwest::Method::PUT, "/v1/queues/vip", &agent, body).await;
    assert_eq!(status, 403);
    let (status, err) = send(
        &t,
        reqwest::Method::PUT,
        "/v1/queues/x",
        &supervisor,
        json!({"name": "X", "assignment": "random"}),
    )
    .await;
    assert_eq!(status, 422, "{err}");
    let (_, mine) = t.get_json("/v1/queues", &agent).await;
    assert_eq!(
        mine["items"].as_array().unwrap().len(),
        1,
        "an agent lists its own"
    );
    // A new queue takes transfers at once.
    let id = t.waiting(CONTACT).await;
    assert_eq!(
        t.op(&supervisor, &id, "transfer", json!({"queue": "vip"}))
            .await
            .0,
        200
    );
}

#[tokio::test]
async fn counters_a_supervisor_staffs_by() {
    let t = stack().await;
    let a = t.waiting("5548999990001").await;
    t.waiting("5548999990002").await;
    t.advance_clock(60).await;
    let agent = t.agent_token().await;
    assert_eq!(t.op(&agent, &a, "capture", json!({})).await.0, 200);
    let supervisor = t.token("boss", "supervisor", &[]).await;
    let (status, s) = t.get_json("/v1/queues/support/stats", &supervisor).await;
    assert_eq!(status, 200, "{s}");
    assert_eq!(
        (s["waiting"].as_u64(), s["in_progress"].as_u64()),
        (Some(1), Some(1))
    );
    assert!(s["oldest_wait_seconds"].as_i64().unwrap() >= 60);
    assert_eq!(s["captured_last_hour"], 1);
    assert!(s["average_wait_seconds_last_hour"].as_i64().unwrap() >= 60);
    assert_eq!(s["in_progress_by_agent"]["agent-1"], 1);
    let outsider = t.token("agent-9", "agent", &["sales"]).await;
    assert_eq!(
        t.get_json("/v1/queues/support/stats", &outsider).await.0,
        403
    );
    let (_, waiting_list) = t
        .get_json(
            "/v1/queues/support/conversations?state=queued&origin=customer",
            &supervisor,
        )
        .await;
    assert_eq!(waiting_list["items"].as_array().unwrap().len(), 1);
    let (status, _) = t
        .get_json("/v1/queues/support/conversations?origin=robot", &supervisor)
        .await;
    assert_eq!(status, 422);
}

#[tokio::test]
async fn unread_markers_and_the_read_receipt() {
    let t = stack().await;
    let id = t.waiting(CONTACT).await;
    t.contact_writes(CONTACT, "wamid.second", t.now_secs())
        .await;
    let agent = t.agent_token().await;
    assert_eq!(t.op(&agent, &id, "capture", json!({})).await.0, 200);
    let (_, d) = t.get_json(&format!("/v1/conversations/{id}"), &agent).await;
    assert_eq!(d["unread_count"], 2, "{d}");
    assert!(d["last_inbound_at"].is_number());
    let supervisor = t.token("boss", "supervisor", &[]).await;
    let (status, c) = t.op(&supervisor, &id, "read", json!({})).await;
    assert_eq!(
        (status, c["unread_count"].as_u64()),
        (200, Some(2)),
        "the owner's marker"
    );
    let (status, c) = t.op(&agent, &id, "read", json!({})).await;
    assert_eq!((status, c["unread_count"].as_u64()), (200, Some(0)));
    assert_eq!(
        t.op(&agent, &id, "read", json!({})).await.0,
        200,
        "idempotent"
    );
    t.drain_outbound().await;
    let outbox: Value = t
        .http
        .get(t.url("/_dev/outbox"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let receipts: Vec<&Value> = outbox["messages"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|p| p["request"]["status"] == "read")
        .collect();
    assert_eq!(receipts.len(), 1, "one read receipt: {outbox}");
    assert_eq!(
        receipts[0]["request"]["message_id"], "wamid.second",
        "the contact's last message"
    );
    let colleague = t.token("agent-2", "agent", &["support"]).await;
    assert_eq!(t.op(&colleague, &id, "read", json!({})).await.0, 403);
}

#[tokio::test]
async fn preview_as_soon_as_a_template_is_chosen_but_sending_requires_every_parameter() {
    let t = stack().await;
    let agent = t.agent_token().await;
    let preview = format!("/v1/channels/{SAMPLE_CHANNEL_ID}/templates/welcome/preview");
    let (status, draft) = t
        .post_json(&preview, &agent, json!({"language": "pt_BR"}))
        .await;
    assert_eq!((status, draft["complete"].as_bool()), (200, Some(false)));
    assert!(draft["body"].as_str().unwrap().contains("{{1}}"));
    for parameters in [json!([]), json!([""])] {
        let (status, err) = t
            .post_json(
                "/v1/conversations",
                &agent,
                json!({"channel": SAMPLE_CHANNEL_ID, "phone": "554832817000",
                       "template": {"name": "welcome", "language": "pt_BR", "parameters": parameters}}),
            )
            .await;
        assert_eq!(status, 422, "{err}");
        assert!(err["code"]
            .as_str()
            .unwrap()
            .starts_with("template_parameter_"));
    }
    assert!(t
        .store()
        .contact(SAMPLE_CHANNEL_ID, "554832817000")
        .await
        .unwrap()
        .is_none());
}
