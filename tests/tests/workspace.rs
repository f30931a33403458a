//! Issue 6: the agent workspace (Voitel Lynk, CITSmart): queues, capture, transfer, hold,
//! archive, close, remove, and who may act on what.

use conversa::domain::MessageContent;
use conversa::ports::store::*;
use conversa::provider::{webhook::InboundMessage, WorkItem};
use conversa_tests::*;
use serde_json::{json, Value};
use std::collections::HashSet;

const CONTACT: &str = "5548999990000";

#[tokio::test]
async fn a_new_inbound_conversation_waits_in_the_channel_default_queue() {
    let t = stack().await;
    let id = t.waiting(CONTACT).await;
    let token = t.agent_token().await;
    let (status, d) = t.get_json(&format!("/v1/conversations/{id}"), &token).await;
    assert_eq!(status, 200);
    assert_eq!(
        (d["state"].as_str(), d["queue"].as_str()),
        (Some("queued"), Some("support"))
    );
    for field in [
        "channel",
        "contact",
        "origin",
        "opened_at",
        "updated_at",
        "expires_at",
        "window",
    ] {
        assert!(!d[field].is_null(), "details has {field}: {d}");
    }
}

#[tokio::test]
async fn twenty_agents_capture_one_conversation_concurrently_and_exactly_one_wins() {
    let t = stack().await;
    let id = t.waiting(CONTACT).await;
    let mut tokens = Vec::new();
    for i in 0..20 {
        tokens.push(t.token(&format!("agent-{i}"), "agent", &["support"]).await);
    }
    let attempts = tokens.iter().map(|token| {
        let http = t.http.clone();
        let url = t.url(&format!("/v1/conversations/{id}/capture"));
        let token = token.clone();
        tokio::spawn(async move {
            let r = http
                .post(url)
                .bearer_auth(token)
                .json(&json!({}))
                .send()
                .await
                .unwrap();
            (r.status().as_u16(), r.json::<Value>().await.unwrap())
        })
    });
    let results: Vec<(u16, Value)> = futures::future::join_all(attempts)
        .await
        .into_iter()
        .map(|r| r.unwrap())
        .collect();
    let winners: Vec<&Value> = results
        .iter()
        .filter(|(s, _)| *s == 200)
        .map(|(_, b)| b)
        .collect();
    assert_eq!(winners.len(), 1, "exactly one capture wins: {results:?}");
    let winner = winners[0]["agent"].as_str().unwrap();
    for (status, body) in results.iter().filter(|(s, _)| *s != 200) {
        assert_eq!(*status, 409);
        assert_eq!(body["code"], "already_captured");
        assert_eq!(
            body["details"]["agent"], winner,
            "the loser is told who won"
        );
    }
    assert_eq!(t.events_of("conversation.assigned").await.len(), 1);
}

#[tokio::test]
async fn manual_capture_is_required_before_answering_in_a_manual_queue() {
    let t = stack().await;
    let id = t.waiting(CONTACT).await;
    let token = t.agent_token().await;
    let (status, err) = t.op(&token, &id, "messages", json!({"text": "oi"})).await;
    assert_eq!(
        (status, err["code"].as_str()),
        (409, Some("capture_required"))
    );
    let (status, c) = t.op(&token, &id, "capture", json!({})).await;
    assert_eq!(
        (status, c["state"].as_str(), c["agent"].as_str()),
        (200, Some("assigned"), Some("agent-1"))
    );
    let (status, _) = t.op(&token, &id, "messages", json!({"text": "oi"})).await;
    assert_eq!(status, 202);
    let colleague = t.token("agent-2", "agent", &["support"]).await;
    let (status, err) = t
        .op(&colleague, &id, "messages", json!({"text": "eu também"}))
        .await;
    assert_eq!(
        (
            status,
            err["code"].as_str(),
            err["details"]["agent"].as_str()
        ),
        (409, Some("already_captured"), Some("agent-1"))
    );
}

#[tokio::test]
async fn automatic_capture_by_the_first_reply() {
    let t = stack().await;
    let id = t.waiting(CONTACT).await;
    let supervisor = t.token("boss", "supervisor", &[]).await;
    let (status, _) = t
        .op(&supervisor, &id, "transfer", json!({"queue": "sales"}))
        .await;
    assert_eq!(status, 200);
    let first = t.token("agent-2", "agent", &["sales"]).await;
    let second = t.token("agent-3", "agent", &["sales"]).await;
    let (status, _) = t
        .op(
            &first,
            &id,
            "messages",
            json!({"text": "Olá, posso ajudar?"}),
        )
        .await;
    assert_eq!(status, 202);
    let (_, d) = t.get_json(&format!("/v1/conversations/{id}"), &first).await;
    assert_eq!(
        (d["state"].as_str(), d["agent"].as_str()),
        (Some("assigned"), Some("agent-2"))
    );
    let (status, err) = t.op(&second, &id, "messages", json!({"text": "eu!"})).await;
    assert_eq!(
        (status, err["code"].as_str()),
        (409, Some("already_captured"))
    );
    let assigned = t.events_of("conversation.assigned").await;
    assert_eq!(assigned.len(), 1);
    assert_eq!(assigned[0]["detail"]["how"], "automatic_capture");
}

#[tokio::test]
async fn transfer_to_another_agent() {
    let t = stack().await;
    let id = t.waiting(CONTACT).await;
    let token = t.agent_token().await;
    t.op(&token, &id, "capture", json!({})).await;
    t.register_agent("agent-7", &["support"], None).await;
    let (status, c) = t
        .op(&token, &id, "transfer", json!({"agent": "agent-7"}))
        .await;
    assert_eq!(
        (status, c["agent"].as_str(), c["state"].as_str()),
        (200, Some("agent-7"), Some("assigned"))
    );
    let moved = t.events_of("conversation.transferred").await;
    assert_eq!(moved[0]["detail"]["from"]["agent"], "agent-1");
    assert_eq!(moved[0]["detail"]["to"]["agent"], "agent-7");
    let other = t.token("agent-7", "agent", &[]).await;
    let (status, _) = t
        .op(&other, &id, "messages", json!({"text": "assumi"}))
        .await;
    assert_eq!(
        status, 202,
        "the new agent answers; the history is the same conversation"
    );
}

#[tokio::test]
async fn transfer_to_a_queue_puts_it_back_to_waiting_there() {
    let t = stack().await;
    let id = t.waiting(CONTACT).await;
    let token = t.agent_token().await;
    t.op(&token, &id, "capture", json!({})).await;
    let (status, c) = t
        .op(&token, &id, "transfer", json!({"queue": "sales"}))
        .await;
    assert_eq!(
        (status, c["state"].as_str(), c["queue"].as_str()),
        (200, Some("queued"), Some("sales"))
    );
    assert!(c["agent"].is_null());
    let sales = t.token("agent-2", "agent", &["sales"]).await;
    let (_, list) = t
        .get_json("/v1/queues/sales/conversations?state=queued", &sales)
        .await;
    assert_eq!(list["items"][0]["id"], id.as_str());
    let (_, msgs) = t
        .get_json(&format!("/v1/conversations/{id}/messages"), &sales)
        .await;
    assert_eq!(
        msgs["items"].as_array().unwrap().len(),
        1,
        "the history moved with it"
    );
    let (status, err) = t
        .op(&sales, &id, "transfer", json!({"queue": "nowhere"}))
        .await;
    assert_eq!((status, err["code"].as_str()), (422, Some("unknown_queue")));
}

#[tokio::test]
async fn transfer_to_an_external_platform_closes_it_and_carries_the_history() {
    let t = stack().await;
    let id = t.waiting(CONTACT).await;
    let token = t.agent_token().await;
    t.op(&token, &id, "capture", json!({})).await;
    t.op(&token, &id, "messages", json!({"text": "vou transferir"}))
        .await;
    let (status, c) = t
        .op(
            &token,
            &id,
            "transfer",
            json!({"external": "crm-analytics"}),
        )
        .await;
    assert_eq!(
        (status, c["state"].as_str(), c["close_reason"].as_str()),
        (200, Some("closed"), Some("transferred_external"))
    );
    let moved = t.events_of("conversation.transferred").await;
    let detail = &moved[0]["detail"];
    assert_eq!(detail["to"]["external"], "crm-analytics");
    assert_eq!(detail["history_truncated"], false);
    let history: Vec<&str> = detail["history"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["direction"].as_str().unwrap())
        .collect();
    assert_eq!(history, ["inbound", "outbound"]);
    let closed = t.events_of("conversation.closed").await;
    assert_eq!(closed[0]["detail"]["reason"], "transferred_external");
    for body in [
        json!({}),
        json!({"agent": "a", "queue": "sales"}),
        json!({"agent": "  "}),
    ] {
        let (status, err) = t.op(&token, &id, "transfer", body).await;
        assert_eq!((status, err["code"].as_str()), (422, Some("invalid_body")));
    }
}

#[tokio::test]
async fn hold_and_resume() {
    let t = stack().await;
    let id = t.waiting(CONTACT).await;
    let token = t.agent_token().await;
    let (status, err) = t.op(&token, &id, "hold", json!({})).await;
    assert_eq!((status, err["code"].as_str()), (409, Some("not_assigned")));
    t.op(&token, &id, "capture", json!({})).await;
    let (status, c) = t.op(&token, &id, "hold", json!({})).await;
    assert_eq!((status, c["state"].as_str()), (200, Some("on_hold")));
    let (status, c) = t.op(&token, &id, "resume", json!({})).await;
    assert_eq!((status, c["state"].as_str()), (200, Some("assigned")));
    let (status, err) = t.op(&token, &id, "resume", json!({})).await;
    assert_eq!((status, err["code"].as_str()), (409, Some("not_on_hold")));
    let ops: Vec<String> = t
        .events_of("conversation.updated")
        .await
        .iter()
        .map(|e| e["detail"]["operation"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(ops, ["hold", "resume"]);
}

#[tokio::test]
async fn close_then_a_send_gets_409_and_the_next_inbound_message_opens_a_new_conversation() {
    let t = stack().await;
    let id = t.waiting(CONTACT).await;
    let token = t.agent_token().await;
    t.op(&token, &id, "capture", json!({})).await;
    let (status, c) = t.op(&token, &id, "close", json!({})).await;
    assert_eq!(
        (status, c["state"].as_str(), c["close_reason"].as_str()),
        (200, Some("closed"), Some("agent_closed"))
    );
    let (status, err) = t
        .op(&token, &id, "messages", json!({"text": "ainda aí?"}))
        .await;
    assert_eq!(
        (status, err["code"].as_str()),
        (409, Some("conversation_closed"))
    );
    let closed = t.events_of("conversation.closed").await;
    assert_eq!(closed[0]["detail"]["reason"], "agent_closed");

    let next = t.waiting(CONTACT).await;
    assert_ne!(next, id, "a new conversation");
    let (_, d) = t
        .get_json(&format!("/v1/conversations/{next}"), &token)
        .await;
    assert_eq!(d["state"], "queued");
}

#[tokio::test]
async fn archive_then_a_send_unarchives() {
    let t = stack().await;
    let id = t.waiting(CONTACT).await;
    let token = t.agent_token().await;
    t.op(&token, &id, "capture", json!({})).await;
    let (status, c) = t.op(&token, &id, "archive", json!({})).await;
    assert_eq!((status, c["archived"].as_bool()), (200, Some(true)));
    let (_, archived) = t
        .get_json("/v1/conversations?assigned=me&archived=true", &token)
        .await;
    assert_eq!(archived["items"][0]["id"], id.as_str());
    let (status, _) = t
        .op(&token, &id, "messages", json!({"text": "voltei"}))
        .await;
    assert_eq!(status, 202);
    let (_, d) = t.get_json(&format!("/v1/conversations/{id}"), &token).await;
    assert_eq!(
        d["archived"], false,
        "writing in an archived conversation unarchives it"
    );
    let (_, archived) = t
        .get_json("/v1/conversations?assigned=me&archived=true", &token)
        .await;
    assert!(archived["items"].as_array().unwrap().is_empty());
    let (_, active) = t.get_json("/v1/conversations?assigned=me", &token).await;
    assert_eq!(active["items"][0]["id"], id.as_str());
    t.op(&token, &id, "archive", json!({})).await;
    let (status, c) = t.op(&token, &id, "unarchive", json!({})).await;
    assert_eq!((status, c["archived"].as_bool()), (200, Some(false)));
}

#[tokio::test]
async fn remove_deletes_the_conversation_and_its_messages_then_404() {
    let t = stack().await;
    let id = t.waiting(CONTACT).await;
    let agent = t.agent_token().await;
    t.op(&agent, &id, "capture", json!({})).await;
    t.op(&agent, &id, "messages", json!({"text": "oi"})).await;
    let token = t.token("boss", "supervisor", &[]).await;
    let r = t
        .http
        .delete(t.url(&format!("/v1/conversations/{id}")))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let (status, err) = t.get_json(&format!("/v1/conversations/{id}"), &token).await;
    assert_eq!((status, err["code"].as_str()), (404, Some("not_found")));
    let (status, _) = t
        .get_json(&format!("/v1/conversations/{id}/messages"), &token)
        .await;
    assert_eq!(status, 404);
    assert!(
        t.store()
            .messages(&id, None, 10)
            .await
            .unwrap()
            .items
            .is_empty(),
        "messages deleted"
    );
    let r = t
        .http
        .delete(t.url(&format!("/v1/conversations/{id}")))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    assert_ne!(t.waiting(CONTACT).await, id, "the contact starts afresh");
    assert_eq!(t.events_of("conversation.removed").await.len(), 1);
}

#[tokio::test]
async fn an_agent_outside_the_queue_gets_403_and_nothing_changes() {
    let t = stack().await;
    let id = t.waiting(CONTACT).await;
    let outsider = t.token("agent-9", "agent", &["sales"]).await;
    for what in ["capture", "hold", "close", "archive"] {
        let (status, err) = t.op(&outsider, &id, what, json!({})).await;
        assert_eq!(
            (status, err["code"].as_str()),
            (403, Some("forbidden")),
            "{what}"
        );
    }
    let (status, _) = t
        .op(&outsider, &id, "messages", json!({"text": "oi"}))
        .await;
    assert_eq!(status, 403);
    let (status, _) = t
        .get_json(&format!("/v1/conversations/{id}"), &outsider)
        .await;
    assert_eq!(status, 403);
    let (status, _) = t
        .get_json("/v1/queues/support/conversations", &outsider)
        .await;
    assert_eq!(status, 403);
    let r = t
        .http
        .delete(t.url(&format!("/v1/conversations/{id}")))
        .bearer_auth(&outsider)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    let c = t.store().conversation(&id).await.unwrap().unwrap();
    assert_eq!((c.version, c.state.is_open()), (1, true), "nothing changed");
}

#[tokio::test]
async fn pagination_across_120_waiting_conversations_returns_each_once_oldest_first() {
    let t = stack().await;
    let mut expected = Vec::new();
    for batch in 0..12 {
        let items: Vec<WorkItem> = (0..10)
            .map(|i| {
                let n = batch * 10 + i;
                WorkItem::Message {
                    channel: SAMPLE_CHANNEL_ID.into(),
                    contact: format!("55489{:08}", n),
                    contact_name: None,
                    opt_out: false,
                    message: InboundMessage {
                        id: format!("wamid.P{n}"),
                        at: chrono::Utc::now().timestamp_millis(),
                        content: MessageContent::Text { body: "oi".into() },
                        context_id: None,
                    },
                }
            })
            .collect();
        assert!(t
            .invoke_inbound(&items)
            .await
            .batch_item_failures
            .is_empty());
        for i in 0..10 {
            expected.push(format!("55489{:08}", batch * 10 + i));
        }
    }
    let token = t.agent_token().await;
    let mut seen = Vec::new();
    let mut waits = Vec::new();
    let mut cursor: Option<String> = None;
    let mut pages = 0;
    loop {
        let path = match &cursor {
            Some(c) => format!("/v1/queues/support/conversations?state=queued&limit=25&cursor={c}"),
            None => "/v1/queues/support/conversations?state=queued&limit=25".to_owned(),
        };
        let (status, page) = t.get_json(&path, &token).await;
        assert_eq!(status, 200, "{page}");
        for c in page["items"].as_array().unwrap() {
            seen.push((
                c["queued_at"].as_i64().unwrap(),
                c["contact"].as_str().unwrap().to_owned(),
            ));
            waits.push(c["wait_seconds"].as_i64().unwrap());
        }
        pages += 1;
        match page["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_owned()),
            None => break,
        }
        assert!(pages < 10, "pagination ends");
    }
    assert_eq!(seen.len(), 120, "each conversation once");
    let contacts: HashSet<&String> = seen.iter().map(|(_, c)| c).collect();
    assert_eq!(contacts.len(), 120);
    assert!(seen.windows(2).all(|w| w[0].0 <= w[1].0), "oldest first");
    // Batches arrive one after another; the contacts of one batch are applied
    // concurrently (one message group each), so only the batches' order is fixed.
    let batch_of = |contact: &String| expected.iter().position(|e| e == contact).unwrap() / 10;
    assert!(
        seen.windows(2)
            .all(|w| batch_of(&w[0].1) <= batch_of(&w[1].1)),
        "earlier arrivals first"
    );
    assert!(waits.iter().all(|w| *w >= 0));

    let (_, filtered) = t
        .get_json(
            &format!(
                "/v1/queues/support/conversations?state=queued&contact={}",
                expected[7]
            ),
            &token,
        )
        .await;
    let items: Vec<&Value> = filtered["items"].as_array().unwrap().iter().collect();
    assert_eq!(items.len(), 1);
    assert_eq!(items[0]["contact"], expected[7].as_str());
    let (status, err) = t
        .get_json("/v1/queues/support/conversations?cursor=zz", &token)
        .await;
    assert_eq!(
        (status, err["code"].as_str()),
        (422, Some("invalid_cursor"))
    );
}

#[tokio::test]
async fn a_closed_conversation_can_be_archived_after_the_contact_opened_a_new_one() {
    let t = stack().await;
    let id = t.waiting(CONTACT).await;
    let token = t.agent_token().await;
    t.op(&token, &id, "capture", json!({})).await;
    t.op(&token, &id, "close", json!({})).await;
    let newer = t.waiting(CONTACT).await;
    let (status, c) = t.op(&token, &id, "archive", json!({})).await;
    assert_eq!((status, c["archived"].as_bool()), (200, Some(true)), "{c}");
    let pointer = t
        .store()
        .contact(SAMPLE_CHANNEL_ID, CONTACT)
        .await
        .unwrap()
        .unwrap()
        .open_conversation_id;
    assert_eq!(
        pointer.as_deref(),
        Some(newer.as_str()),
        "the newer conversation keeps the contact"
    );
}

#[tokio::test]
async fn a_forged_cursor_is_422_not_a_backend_error() {
    let t = stack().await;
    t.waiting(CONTACT).await;
    let token = t.agent_token().await;
    let forged = hex::encode(
        br#"{"pk":"CHANNEL#x","sk":"CHANNEL","queue_key":"sales#waiting","queue_sort":"1"}"#,
    );
    let (status, err) = t
        .get_json(
            &format!("/v1/queues/support/conversations?cursor={forged}"),
            &token,
        )
        .await;
    assert_eq!(
        (status, err["code"].as_str()),
        (422, Some("invalid_cursor"))
    );
    let (status, err) = t
        .get_json(
            &format!("/v1/conversations?assigned=me&cursor={forged}"),
            &token,
        )
        .await;
    assert_eq!(
        (status, err["code"].as_str()),
        (422, Some("invalid_cursor"))
    );
    let long = "x".repeat(3000);
    let (status, _) = t
        .get_json(&format!("/v1/conversations/{long}"), &token)
        .await;
    assert_eq!(status, 404, "an id no record can have");
}
