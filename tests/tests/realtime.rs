//! Issue 15: agents in real time — WebSocket push and who hears what, presence,
//! capacity, automatic assignment, catch-up, reassignment on no reply, offline notice.

use conversa_tests::realtime::kinds;
use conversa_tests::stack;
use serde_json::json;
use std::time::Duration;

const SHORT: Duration = Duration::from_millis(700);

#[tokio::test]
async fn push_reaches_the_queue_the_owner_and_supervisors_and_no_one_else() {
    let t = stack().await;
    let ana = t.token("ana", "agent", &["support"]).await;
    let caio = t.token("caio", "agent", &["sales"]).await;
    let boss = t.token("boss", "supervisor", &[]).await;
    let (mut ana_ws, mut caio_ws, mut boss_ws) = (
        t.connect(&ana).await,
        t.connect(&caio).await,
        t.connect(&boss).await,
    );
    t.settle().await;
    let _ = (
        ana_ws.frames(SHORT).await,
        caio_ws.frames(SHORT).await,
        boss_ws.frames(SHORT).await,
    );

    let id = t.waiting("5548999990001").await;
    t.settle().await;
    let heard = kinds(&ana_ws.frames(SHORT).await);
    assert!(
        heard.contains(&"conversation.opened".to_owned()),
        "{heard:?}"
    );
    assert!(heard.contains(&"message.received".to_owned()), "{heard:?}");
    assert!(kinds(&boss_ws.frames(SHORT).await).contains(&"message.received".to_owned()));
    assert!(
        caio_ws.frames(SHORT).await.is_empty(),
        "another queue's agent hears nothing"
    );

    // Once captured, only the owner (and supervisors) hear its messages.
    assert_eq!(t.op(&ana, &id, "capture", json!({})).await.0, 200);
    t.settle().await;
    let _ = ana_ws.frames(SHORT).await;
    let bia = t.token("bia", "agent", &["support"]).await;
    let mut bia_ws = t.connect(&bia).await;
    t.settle().await;
    let _ = bia_ws.frames(SHORT).await;
    t.contact_sends(
        "5548999990001",
        json!({"type": "text", "text": {"body": "still there?"}}),
    )
    .await;
    t.settle().await;
    let frames = ana_ws.frames(SHORT).await;
    let received = frames
        .iter()
        .find(|f| f["detail-type"] == "message.received")
        .expect("owner hears it");
    assert_eq!(
        received["source"], "conversa",
        "the event as the bus carries it"
    );
    assert_eq!(received["detail"]["conversation_id"], id.as_str());
    assert!(
        bia_ws.frames(SHORT).await.is_empty(),
        "a captured conversation is the owner's"
    );
}

#[tokio::test]
async fn a_connection_without_a_valid_token_is_refused() {
    let t = stack().await;
    assert_eq!(t.try_connect("not-a-jwt").await.err(), Some(401));
    assert_eq!(t.try_connect("").await.err(), Some(401));
    let assistant = t.token("bot", "assistant", &[]).await;
    assert_eq!(t.try_connect(&assistant).await.err(), Some(403));
}

#[tokio::test]
async fn an_agent_is_online_with_a_connection_and_available_and_offline_after_the_grace() {
    let t = stack().await;
    t.register_agent("ana", &["support"], None).await;
    let ana = t.token("ana", "agent", &["support"]).await;
    assert_eq!(t.agent_view("ana").await["online"], false);
    let ws = t.connect(&ana).await;
    let (status, me) = t.set_status(&ana, "available").await;
    assert_eq!(
        (status, &me["online"], &me["available"]),
        (200, &json!(true), &json!(true))
    );
    assert_eq!(t.set_status(&ana, "away").await.1["available"], false);
    assert_eq!(t.set_status(&ana, "available").await.1["available"], true);
    ws.close().await;
    assert_eq!(
        t.agent_view("ana").await["online"],
        true,
        "within the grace period"
    );
    t.advance_clock(31).await;
    assert_eq!(
        t.agent_view("ana").await["online"],
        false,
        "the grace period is over"
    );
    t.settle().await;
    let statuses = t.events_of("agent.status").await;
    assert!(
        statuses.iter().any(|e| e["detail"]["connections"] == 0),
        "{statuses:?}"
    );
    let (code, err) = t.set_status(&ana, "busy").await;
    assert_eq!((code, err["code"].as_str()), (422, Some("invalid_field")));
}

#[tokio::test]
async fn agents_are_data_and_a_transfer_names_a_known_agent() {
    let t = stack().await;
    let boss = t.token("boss", "supervisor", &[]).await;
    let ana = t.token("ana", "agent", &["support"]).await;
    let r = t
        .http
        .put(t.url("/v1/agents/bia"))
        .bearer_auth(&ana)
        .json(&json!({"name": "Bia", "queues": ["support"]}))
        .send()
        .await
        .expect("put");
    assert_eq!(r.status(), 403, "only supervisors register agents");
    let r = t
        .http
        .put(t.url("/v1/agents/bia"))
        .bearer_auth(&boss)
        .json(&json!({"name": "Bia", "queues": ["nope"]}))
        .send()
        .await
        .expect("put");
    assert_eq!(r.status(), 422);
    assert_eq!(
        t.agent_view("bia").await,
        serde_json::Value::Null,
        "nothing changed"
    );
    t.register_agent("bia", &["support"], Some(3)).await;
    let view = t.agent_view("bia").await;
    assert_eq!(
        (view["name"].as_str(), view["max_concurrent"].as_u64()),
        (Some("bia"), Some(3))
    );

    let id = t.waiting("5548999990002").await;
    assert_eq!(t.op(&ana, &id, "capture", json!({})).await.0, 200);
    let (code, err) = t.op(&ana, &id, "transfer", json!({"agent": "ghost"})).await;
    assert_eq!((code, err["code"].as_str()), (422, Some("unknown_agent")));
    assert_eq!(
        t.store_conversation(&id).await.agent.as_deref(),
        Some("ana"),
        "nothing changed"
    );
    assert_eq!(
        t.op(&ana, &id, "transfer", json!({"agent": "bia"})).await.0,
        200
    );
}

async fn automatic_queue(t: &conversa_tests::TestStack, mode: &str, max: u32) {
    let (code, body) = t
        .put_queue(
            "support",
            json!({"name": "Suporte", "assignment": mode, "max_concurrent": max,
            "offline_message": "Nossa equipe está offline; respondemos assim que voltarmos."}),
        )
        .await;
    assert!(code == 200 || code == 201, "{body}");
}

#[tokio::test]
async fn least_busy_assigns_on_arrival_within_capacity_and_an_agent_who_frees_capacity_gets_the_oldest(
) {
    let t = stack().await;
    automatic_queue(&t, "least_busy", 1).await;
    let (ana, _ana_ws) = t.online_agent("ana", &["support"], None).await;
    let (_bia, _bia_ws) = t.online_agent("bia", &["support"], None).await;
    t.settle().await;
    let first = t.waiting("5548999990010").await;
    let second = t.waiting("5548999990011").await;
    t.advance_clock(1).await;
    let third = t.waiting("5548999990012").await;
    t.settle().await;
    let owners: Vec<Option<String>> = futures::future::join_all(
        [&first, &second, &third].map(|id| async { t.store_conversation(id).await.agent }),
    )
    .await;
    let mut given: Vec<_> = owners[..2].iter().flatten().cloned().collect();
    given.sort();
    assert_eq!(given, ["ana", "bia"], "one each, at most one at once");
    assert_eq!(owners[2], None, "the third waits: nobody has room");
    assert_eq!(t.agent_view("ana").await["active"], 1);

    // The agent who closes gets the oldest waiting conversation (FIFO catch-up).
    let ana_has = if owners[0].as_deref() == Some("ana") {
        &first
    } else {
        &second
    };
    assert_eq!(t.op(&ana, ana_has, "close", json!({})).await.0, 200);
    t.settle().await;
    let c = t.store_conversation(&third).await;
    assert_eq!(c.agent.as_deref(), Some("ana"));
    assert_eq!(
        t.agent_view("ana").await["active"],
        1,
        "exact: one closed, one taken"
    );
    let assigned = t.events_of("conversation.assigned").await;
    assert!(assigned
        .iter()
        .any(|e| e["detail"]["how"] == "least_busy" && e["detail"]["by"] == "conversa"));
}

#[tokio::test]
async fn round_robin_under_concurrent_arrivals_gives_each_conversation_one_agent_within_limits() {
    let t = stack().await;
    automatic_queue(&t, "round_robin", 2).await;
    let (_ana, _a) = t.online_agent("ana", &["support"], None).await;
    let (_bia, _b) = t.online_agent("bia", &["support"], None).await;
    t.settle().await;
    let contacts: Vec<String> = (0..6).map(|i| format!("55489999901{i:02}")).collect();
    // Six contacts write at once; their messages are applied together.
    let bodies: Vec<Vec<u8>> = contacts
        .iter()
        .map(|c| {
            conversa_tests::webhook_body(
                conversa_infra::dev::SAMPLE_CHANNEL_ID,
                json!([conversa_tests::text_message(c, &format!("wamid.{c}"), "oi")]),
                json!([]),
            )
        })
        .collect();
    futures::future::join_all(bodies.iter().map(|b| t.post_webhook(b))).await;
    t.drain_inbound().await;
    let mut ids = Vec::new();
    for c in &contacts {
        ids.push(t.open_conversation_of(c).await.expect("opened").id);
    }
    // Two assigners at once, as two Lambda instances would be.
    futures::future::join(t.settle(), t.settle()).await;
    let mut per_agent = std::collections::BTreeMap::<String, u32>::new();
    let mut waiting = 0;
    for id in &ids {
        match t.store_conversation(id).await.agent {
            Some(a) => *per_agent.entry(a).or_default() += 1,
            None => waiting += 1,
        }
    }
    assert_eq!(
        per_agent.values().copied().collect::<Vec<_>>(),
        [2, 2],
        "{per_agent:?}"
    );
    assert_eq!(waiting, 2);
    let assigned = t.events_of("conversation.assigned").await;
    assert_eq!(assigned.len(), 4, "one assignment per conversation given");
    assert_eq!(t.agent_view("ana").await["active"], 2);
    assert_eq!(t.agent_view("bia").await["active"], 2);
}

#[tokio::test]
async fn a_silent_agent_loses_the_conversation_to_the_next_online_agent() {
    let t = stack().await;
    let (code, _) = t
        .put_queue(
            "support",
            json!({"name": "Suporte", "assignment": "round_robin", "reassign_after_seconds": 60}),
        )
        .await;
    assert!(code < 300);
    let (_ana, _a) = t.online_agent("ana", &["support"], None).await;
    t.settle().await;
    let id = t.waiting("5548999990020").await;
    t.settle().await;
    let c = t.store_conversation(&id).await;
    assert_eq!(c.agent.as_deref(), Some("ana"));
    let due = c
        .assignment
        .reply_check_at
        .expect("a no-reply check is armed");
    let (_bia, _b) = t.online_agent("bia", &["support"], None).await;
    t.advance_clock(61).await;
    let timer = conversa::domain::inbound::Timer {
        subject: id.clone(),
        kind: conversa::domain::inbound::TimerKind::NoReply,
        due_at: due,
    };
    assert!(t.fire_timer(&timer).await.batch_item_failures.is_empty());
    let c = t.store_conversation(&id).await;
    assert_eq!(
        c.agent.as_deref(),
        Some("bia"),
        "the next online agent, not the silent one"
    );
    t.settle().await;
    let moved = t.events_of("conversation.transferred").await;
    assert!(moved
        .iter()
        .any(|e| e["detail"]["reason"] == "no_reply" && e["detail"]["from"]["agent"] == "ana"));
    assert_eq!(t.agent_view("ana").await["active"], 0);
    assert_eq!(t.agent_view("bia").await["active"], 1);
    // The same timer again: stale, nothing moves.
    assert!(t.fire_timer(&timer).await.batch_item_failures.is_empty());
    assert_eq!(
        t.store_conversation(&id).await.agent.as_deref(),
        Some("bia")
    );
}

#[tokio::test]
async fn the_queues_offline_message_is_sent_once_when_no_agent_is_online() {
    let t = stack().await;
    automatic_queue(&t, "least_busy", 2).await;
    t.register_agent("ana", &["support"], None).await; // registered, not connected
    t.waiting("5548999990030").await;
    t.settle().await;
    t.contact_sends(
        "5548999990030",
        json!({"type": "text", "text": {"body": "alô?"}}),
    )
    .await;
    t.settle().await;
    t.drain_outbound().await;
    let outbox: serde_json::Value = t
        .http
        .get(t.url("/_dev/outbox"))
        .send()
        .await
        .expect("outbox")
        .json()
        .await
        .expect("json");
    let notices = outbox["messages"].as_array().map_or(0, |m| {
        m.iter()
            .filter(|x| x.to_string().contains("Nossa equipe está offline"))
            .count()
    });
    assert_eq!(notices, 1, "{outbox}");
}

#[tokio::test]
async fn concurrent_frees_give_each_waiting_conversation_to_one_agent() {
    let t = stack().await;
    automatic_queue(&t, "least_busy", 1).await;
    let (ana, _a) = t.online_agent("ana", &["support"], None).await;
    let (bia, _b) = t.online_agent("bia", &["support"], None).await;
    t.settle().await;
    let mut ids = Vec::new();
    for i in 0..4 {
        ids.push(t.waiting(&format!("55489999902{i:02}")).await);
        t.advance_clock(1).await;
    }
    t.settle().await;
    let held: Vec<(String, String)> = {
        let mut v = Vec::new();
        for id in &ids[..2] {
            v.push((
                id.clone(),
                t.store_conversation(id).await.agent.expect("assigned"),
            ));
        }
        v
    };
    // Both agents close at the same moment, and two assigners run at once.
    let token_of = |a: &str| if a == "ana" { ana.clone() } else { bia.clone() };
    let t = &t;
    let closes = held.iter().map(|(id, a)| {
        let token = token_of(a);
        async move { t.op(&token, id, "close", json!({})).await.0 }
    });
    assert!(futures::future::join_all(closes)
        .await
        .iter()
        .all(|s| *s == 200));
    futures::future::join(t.settle(), t.settle()).await;
    let mut owners = Vec::new();
    for id in &ids[2..] {
        owners.push(t.store_conversation(id).await.agent.expect("caught up"));
    }
    owners.sort();
    assert_eq!(owners, ["ana", "bia"], "the two oldest waiting, one each");
    assert_eq!(t.agent_view("ana").await["active"], 1);
    assert_eq!(t.agent_view("bia").await["active"], 1);
}

#[tokio::test]
async fn a_waiting_contact_is_told_its_position_at_most_once_per_interval() {
    let t = stack().await;
    let (code, body) = t
        .put_queue(
            "support",
            json!({"name": "Suporte", "assignment": "manual",
            "position_notice": {"message": "Você é o {position}º da fila.", "every_minutes": 5}}),
        )
        .await;
    assert!(code < 300, "{body}");
    t.waiting("5548999990300").await;
    t.advance_clock(1).await;
    t.waiting("5548999990301").await;
    t.settle().await;
    t.contact_sends(
        "5548999990301",
        json!({"type": "text", "text": {"body": "e aí?"}}),
    )
    .await;
    t.settle().await;
    t.advance_clock(301).await;
    t.contact_sends(
        "5548999990301",
        json!({"type": "text", "text": {"body": "??"}}),
    )
    .await;
    t.settle().await;
    t.drain_outbound().await;
    let outbox: serde_json::Value = t
        .http
        .get(t.url("/_dev/outbox"))
        .send()
        .await
        .expect("outbox")
        .json()
        .await
        .expect("json");
    let told: Vec<String> = outbox["messages"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|m| m["request"]["to"] == "5548999990301")
        .filter_map(|m| m["request"]["text"]["body"].as_str().map(str::to_owned))
        .filter(|b| b.contains("da fila"))
        .collect();
    assert_eq!(
        told,
        ["Você é o 2º da fila.", "Você é o 2º da fila."],
        "once on arrival, once 5 minutes later"
    );
}

#[tokio::test]
async fn an_agent_who_captured_before_ever_connecting_connects_and_reads_its_record() {
    let t = stack().await;
    let yan = t.token("yan", "agent", &["support"]).await;
    let id = t.waiting("5548999990400").await;
    assert_eq!(t.op(&yan, &id, "capture", json!({})).await.0, 200);
    let (code, me) = t.get_json("/v1/agents/me", &yan).await;
    assert_eq!(
        (code, me["sub"].as_str(), me["active"].as_u64()),
        (200, Some("yan"), Some(1))
    );
    let _ws = t.connect(&yan).await;
    assert_eq!(t.agent_view("yan").await["connections"], 1);
}

#[tokio::test]
async fn a_connection_that_is_gone_is_dropped_at_the_first_post() {
    use conversa::ports::{Connection, ConnectionStore};
    let t = stack().await;
    // A connection API Gateway no longer has (its $disconnect was lost).
    let ghost = Connection {
        id: "ghost-connection".into(),
        sub: "ana".into(),
        role: "agent".into(),
        queues: vec!["support".into()],
        connected_at: 0,
    };
    t.store()
        .add_connection(&ghost, t.now_secs() + 3600)
        .await
        .expect("stored");
    let bia = t.token("bia", "agent", &["support"]).await;
    let mut live = t.connect(&bia).await;
    t.settle().await;
    let _ = live.frames(SHORT).await;
    t.waiting("5548999990500").await;
    t.settle().await;
    assert!(
        !live.frames(SHORT).await.is_empty(),
        "the live connection still hears"
    );
    let left = t
        .store()
        .audience(&["support".to_owned()], &[])
        .await
        .expect("audience");
    assert!(
        left.iter().all(|c| c.id != "ghost-connection"),
        "dropped after its 410"
    );
    assert!(left.iter().any(|c| c.sub == "bia"));
}

#[tokio::test]
async fn with_no_other_agent_a_silent_agents_conversation_goes_back_to_the_queue_not_to_it() {
    let t = stack().await;
    let (code, _) = t
        .put_queue(
            "support",
            json!({"name": "Suporte", "assignment": "least_busy", "reassign_after_seconds": 60}),
        )
        .await;
    assert!(code < 300);
    let (_ana, _a) = t.online_agent("ana", &["support"], None).await;
    t.settle().await;
    let id = t.waiting("5548999990600").await;
    t.settle().await;
    let c = t.store_conversation(&id).await;
    assert_eq!(c.agent.as_deref(), Some("ana"));
    t.advance_clock(61).await;
    let timer = conversa::domain::inbound::Timer {
        subject: id.clone(),
        kind: conversa::domain::inbound::TimerKind::NoReply,
        due_at: c.assignment.reply_check_at.expect("armed"),
    };
    assert!(t.fire_timer(&timer).await.batch_item_failures.is_empty());
    t.settle().await;
    let c = t.store_conversation(&id).await;
    assert_eq!(
        (c.state, c.agent.as_deref()),
        (conversa::domain::ConversationState::Queued, None),
        "back in the queue, not straight back to the silent agent"
    );
    assert_eq!(t.agent_view("ana").await["active"], 0);
}
