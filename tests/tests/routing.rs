//! Issue 7: routing (seed 002), the AI assistant, and the handoff to humans with its wait
//! and inactivity timeouts (seed 001).

use conversa::domain::inbound::{Timer, TimerKind};
use conversa::domain::{CloseReason, ConversationState};
use conversa_tests::*;
use serde_json::{json, Value};

const CONTACT: &str = "5548999990000";

fn text(body: &str) -> Value {
    json!({"type": "text", "text": {"body": body}})
}

fn assistant_routing() -> Value {
    json!({"routing": {"mode": "assistant", "to": "assistant", "assistant": "ana-bot", "backup_queue": "support"}})
}

fn menu_routing() -> Value {
    json!({"routing": {"mode": "menu", "menu": {
        "kind": "buttons", "text": "Olá! Com quem quer falar?",
        "options": [
            {"id": "sales", "title": "Vendas", "target": {"to": "queue", "queue": "sales"}},
            {"id": "bot", "title": "Assistente", "target": {"to": "assistant", "assistant": "ana-bot", "backup_queue": "support"}}
        ],
        "default_queue": "support"
    }}})
}

async fn settings_ok(t: &TestStack, patch: Value) {
    let (status, body) = t.set_settings(patch).await;
    assert_eq!(status, 200, "{body}");
}

// ---- Routing modes ---------------------------------------------------------------------

#[tokio::test]
async fn queue_routing_with_an_automatic_message() {
    let t = stack().await;
    settings_ok(&t, json!({"routing": {"mode": "queue", "queue": "sales", "welcome_message": "Olá! Um atendente já vai falar com você."}})).await;
    t.contact_sends(CONTACT, text("oi")).await;
    let c = t.open_conversation_of(CONTACT).await.unwrap();
    assert_eq!(
        (c.state, c.queue.as_deref()),
        (ConversationState::Queued, Some("sales"))
    );
    t.drain_outbound().await;
    let outbox = t.local.outbox.lock().await.clone();
    assert_eq!(outbox.len(), 1);
    assert_eq!(
        outbox[0]["request"]["text"]["body"],
        "Olá! Um atendente já vai falar com você."
    );
}

#[tokio::test]
async fn assistant_routing_publishes_turns_and_the_assistant_answers() {
    let t = stack().await;
    settings_ok(&t, assistant_routing()).await;
    t.contact_sends(CONTACT, text("qual o horário da loja?"))
        .await;
    let c = t.open_conversation_of(CONTACT).await.unwrap();
    assert_eq!(
        (c.state, c.assistant.as_deref()),
        (ConversationState::Bot, Some("ana-bot"))
    );
    let turns = t.events_of("assistant.turn").await;
    assert_eq!(turns.len(), 1);
    assert_eq!(turns[0]["detail"]["contact"], CONTACT);
    assert_eq!(
        turns[0]["detail"]["messages"][0]["body"],
        "qual o horário da loja?"
    );
    let bot = t.token("ana-bot", "assistant", &[]).await;
    let (status, _) = t
        .post_json(
            &format!("/v1/conversations/{}/messages", c.id),
            &bot,
            json!({"text": "Das 8h às 18h."}),
        )
        .await;
    assert_eq!(status, 202);
}

#[tokio::test]
async fn an_assistant_outside_its_working_hours_routes_to_the_backup_queue() {
    let t = stack().await;
    // Working hours only on a weekday that is not today.
    let today = chrono::Utc::now().format("%a").to_string().to_lowercase();
    let other = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
        .into_iter()
        .find(|d| *d != today)
        .unwrap();
    settings_ok(&t, json!({"routing": {"mode": "assistant", "to": "assistant", "assistant": "ana-bot", "backup_queue": "sales",
        "working_hours": {"time_zone": "UTC", "days": [{"weekday": other, "start": "00:00", "end": "23:59"}]}}}))
    .await;
    t.contact_sends(CONTACT, text("oi")).await;
    let c = t.open_conversation_of(CONTACT).await.unwrap();
    assert_eq!(
        (c.state, c.queue.as_deref()),
        (ConversationState::Queued, Some("sales"))
    );
    assert!(t.events_of("assistant.turn").await.is_empty());
}

#[tokio::test]
async fn menu_routing_sends_the_menu_and_a_valid_choice_routes() {
    let t = stack().await;
    settings_ok(&t, menu_routing()).await;
    t.contact_sends(CONTACT, text("oi")).await;
    assert_eq!(
        t.open_conversation_of(CONTACT).await.unwrap().state,
        ConversationState::Menu
    );
    t.drain_outbound().await;
    let outbox = t.local.outbox.lock().await.clone();
    assert_eq!(outbox[0]["request"]["type"], "interactive");
    assert_eq!(
        outbox[0]["request"]["interactive"]["action"]["buttons"][0]["reply"]["title"],
        "Vendas"
    );
    t.contact_sends(CONTACT, json!({"type": "interactive", "interactive": {"type": "button_reply", "button_reply": {"id": "sales", "title": "Vendas"}}})).await;
    let c = t.open_conversation_of(CONTACT).await.unwrap();
    assert_eq!(
        (c.state, c.queue.as_deref()),
        (ConversationState::Queued, Some("sales"))
    );
}

#[tokio::test]
async fn an_invalid_menu_choice_gets_the_menu_once_more_then_the_default_queue() {
    let t = stack().await;
    settings_ok(&t, menu_routing()).await;
    t.contact_sends(CONTACT, text("oi")).await;
    t.contact_sends(CONTACT, text("quero cancelar")).await;
    assert_eq!(
        t.open_conversation_of(CONTACT).await.unwrap().state,
        ConversationState::Menu
    );
    t.contact_sends(CONTACT, text("cancelar!!")).await;
    let c = t.open_conversation_of(CONTACT).await.unwrap();
    assert_eq!(
        (c.state, c.queue.as_deref()),
        (ConversationState::Queued, Some("support"))
    );
    t.drain_outbound().await;
    assert_eq!(
        t.local.outbox.lock().await.len(),
        2,
        "the menu, then once more"
    );
}

// ---- Replies to business-started conversations ----------------------------------------

async fn started_by(t: &TestStack, token: &str, campaign: bool) -> String {
    let mut body = json!({"phone": CONTACT, "template": {"name": "welcome", "language": "pt_BR", "parameters": ["Ana"]}});
    if campaign {
        body["campaign"] = json!("black-friday");
    }
    let (status, b) = t.post_json("/v1/conversations", token, body).await;
    assert_eq!(status, 201, "{b}");
    b["conversation"]["id"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn a_reply_to_an_agent_started_conversation_stays_with_the_agent() {
    let t = stack().await;
    settings_ok(
        &t,
        json!({"active_routing": {"enabled": true, "queue": "sales"}}),
    )
    .await;
    let id = started_by(&t, &t.agent_token().await, false).await;
    t.contact_sends(CONTACT, text("oi, pode falar")).await;
    let c = t.open_conversation_of(CONTACT).await.unwrap();
    assert_eq!(
        (c.id.as_str(), c.state, c.agent.as_deref()),
        (id.as_str(), ConversationState::Assigned, Some("agent-1"))
    );
}

#[tokio::test]
async fn active_routing_on_sends_a_campaign_reply_to_its_queue() {
    let t = stack().await;
    settings_ok(&t, json!({"active_routing": {"enabled": true, "queue": "sales"}, "routing": {"mode": "queue", "queue": "support"}})).await;
    let system = t.token("crm", "system", &[]).await;
    let id = started_by(&t, &system, true).await;
    t.contact_sends(CONTACT, text("quero a oferta")).await;
    let c = t.open_conversation_of(CONTACT).await.unwrap();
    assert_eq!(
        (c.id.as_str(), c.state, c.queue.as_deref()),
        (id.as_str(), ConversationState::Queued, Some("sales"))
    );
}

#[tokio::test]
async fn active_routing_off_routes_a_campaign_reply_by_default() {
    let t = stack().await;
    settings_ok(
        &t,
        json!({"active_routing": {"enabled": false, "queue": "sales"}}),
    )
    .await;
    settings_ok(&t, assistant_routing()).await;
    let system = t.token("crm", "system", &[]).await;
    started_by(&t, &system, true).await;
    t.contact_sends(CONTACT, text("oi")).await;
    assert_eq!(
        t.open_conversation_of(CONTACT).await.unwrap().state,
        ConversationState::Bot
    );
}

#[tokio::test]
async fn a_reply_after_the_conversation_expired_routes_by_default() {
    let t = stack().await;
    settings_ok(
        &t,
        json!({"active_routing": {"enabled": true, "queue": "sales"}, "auto_close_hours": 1}),
    )
    .await;
    let system = t.token("crm", "system", &[]).await;
    let id = started_by(&t, &system, true).await;
    t.advance_clock(3601).await;
    t.contact_sends(CONTACT, text("oi")).await;
    let c = t.open_conversation_of(CONTACT).await.unwrap();
    assert_ne!(c.id, id, "a new conversation");
    assert_eq!(
        (c.state, c.queue.as_deref()),
        (ConversationState::Queued, Some("support"))
    );
    let supervisor = t.token("boss", "supervisor", &[]).await;
    let (_, old) = t
        .get_json(&format!("/v1/conversations/{id}"), &supervisor)
        .await;
    assert_eq!(
        (old["state"].as_str(), old["close_reason"].as_str()),
        (Some("closed"), Some("expired"))
    );
}

// ---- Allowlist --------------------------------------------------------------------------

#[tokio::test]
async fn the_allowlist_serves_only_its_numbers() {
    let t = stack().await;
    settings_ok(&t, json!({"allowlist": ["5548999990001"]})).await;
    t.contact_sends(CONTACT, text("oi")).await;
    assert!(
        t.open_conversation_of(CONTACT).await.is_none(),
        "not routed"
    );
    t.contact_sends("5548999990001", text("oi")).await;
    assert!(t.open_conversation_of("5548999990001").await.is_some());
    let ddb = aws_sdk_dynamodb::Client::new(&t.config);
    let stats = ddb
        .get_item()
        .table_name(t.local.stack.reference("ConversationsTable").unwrap())
        .key(
            "pk",
            aws_sdk_dynamodb::types::AttributeValue::S(format!("CHANNEL#{SAMPLE_CHANNEL_ID}")),
        )
        .key(
            "sk",
            aws_sdk_dynamodb::types::AttributeValue::S("STATS".into()),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(
        stats.item.unwrap()["filtered_messages"].as_n().unwrap(),
        "1",
        "counted"
    );
    t.drain_outbound().await;
    assert!(t.local.outbox.lock().await.is_empty(), "not answered");
}

// ---- Grouping --------------------------------------------------------------------------

#[tokio::test]
async fn a_grouping_window_joins_3_rapid_messages_and_separates_a_late_4th() {
    let t = stack().await;
    settings_ok(&t, json!({"routing": {"mode": "assistant", "to": "assistant", "assistant": "ana-bot", "backup_queue": "support"}, "grouping_seconds": 10})).await;
    for body in ["oi", "tudo bem?", "preciso de ajuda"] {
        t.contact_sends(CONTACT, text(body)).await;
        t.advance_clock(2).await;
    }
    assert!(
        t.events_of("assistant.turn").await.is_empty(),
        "waiting for the window"
    );
    let c = t.open_conversation_of(CONTACT).await.unwrap();
    let due_at = c.turn_deadline.unwrap();
    let timer = Timer {
        subject: c.id.clone(),
        kind: TimerKind::Grouping,
        due_at,
    };
    t.advance_clock(11).await;
    assert!(t.fire_timer(&timer).await.batch_item_failures.is_empty());
    let turns = t.events_of("assistant.turn").await;
    assert_eq!(turns.len(), 1);
    let bodies: Vec<&str> = turns[0]["detail"]["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["body"].as_str().unwrap())
        .collect();
    assert_eq!(
        bodies,
        ["oi", "tudo bem?", "preciso de ajuda"],
        "one turn, in order"
    );

    t.advance_clock(30).await;
    t.contact_sends(CONTACT, text("ainda aí?")).await;
    let c = t.open_conversation_of(CONTACT).await.unwrap();
    t.advance_clock(11).await;
    t.fire_timer(&Timer {
        subject: c.id.clone(),
        kind: TimerKind::Grouping,
        due_at: c.turn_deadline.unwrap(),
    })
    .await;
    let turns = t.events_of("assistant.turn").await;
    assert_eq!(turns.len(), 2);
    assert_eq!(
        turns[1]["detail"]["messages"].as_array().unwrap().len(),
        1,
        "the late 4th is its own turn"
    );
}

// ---- Handoff and the four close reasons ---------------------------------------------------

async fn with_assistant(t: &TestStack, handoff: Value) -> (String, String) {
    let mut settings = assistant_routing();
    settings["handoff"] = handoff;
    settings_ok(t, settings).await;
    t.contact_sends(CONTACT, text("quero falar com uma pessoa"))
        .await;
    let c = t.open_conversation_of(CONTACT).await.unwrap();
    (c.id, t.token("ana-bot", "assistant", &[]).await)
}

async fn hand_off(t: &TestStack, bot: &str, id: &str, include_history: bool) -> Value {
    let (status, body) = t
        .post_json(
            &format!("/v1/conversations/{id}/handoff"),
            bot,
            json!({"queue": "support", "extra_info": {"motivo": "cancelamento"}, "contact_info": {"nome": "Ana"},
                   "integration_id": "altu-123", "include_history": include_history}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    body
}

#[tokio::test]
async fn handoff_with_history() {
    let t = stack().await;
    let (id, bot) = with_assistant(&t, json!({})).await;
    let c = hand_off(&t, &bot, &id, true).await;
    assert_eq!(
        (c["state"].as_str(), c["queue"].as_str()),
        (Some("queued"), Some("support"))
    );
    let events = t.events_of("handoff.requested").await;
    let d = &events[0]["detail"];
    assert_eq!(
        (d["queue"].as_str(), d["integration_id"].as_str()),
        (Some("support"), Some("altu-123"))
    );
    assert_eq!(d["extra_info"]["motivo"], "cancelamento");
    assert_eq!(d["contact_info"]["nome"], "Ana");
    assert_eq!(d["history"][0]["body"], "quero falar com uma pessoa");
}

#[tokio::test]
async fn handoff_without_history() {
    let t = stack().await;
    let (id, bot) = with_assistant(&t, json!({})).await;
    hand_off(&t, &bot, &id, false).await;
    let events = t.events_of("handoff.requested").await;
    assert!(events[0]["detail"].get("history").is_none());
    let agent = t.agent_token().await;
    let (status, err) = t
        .post_json(
            &format!("/v1/conversations/{id}/handoff"),
            &agent,
            json!({"queue": "support"}),
        )
        .await;
    assert_eq!((status, err["code"].as_str()), (403, Some("forbidden")));
}

async fn closed_reason(t: &TestStack, id: &str) -> Option<CloseReason> {
    use conversa::ports::store::*;
    t.store()
        .conversation(id)
        .await
        .unwrap()
        .unwrap()
        .close_reason
}

#[tokio::test]
async fn closed_by_the_agent_is_agent_closed() {
    let t = stack().await;
    let (id, bot) = with_assistant(&t, json!({"closing_message": "Obrigado pelo contato!"})).await;
    hand_off(&t, &bot, &id, false).await;
    let agent = t.agent_token().await;
    t.post_json(
        &format!("/v1/conversations/{id}/capture"),
        &agent,
        json!({}),
    )
    .await;
    let (status, _) = t
        .post_json(&format!("/v1/conversations/{id}/close"), &agent, json!({}))
        .await;
    assert_eq!(status, 200);
    assert_eq!(closed_reason(&t, &id).await, Some(CloseReason::AgentClosed));
    assert_eq!(
        t.events_of("conversation.closed").await[0]["detail"]["reason"],
        "agent_closed"
    );
    t.drain_outbound().await;
    let outbox = t.local.outbox.lock().await.clone();
    assert_eq!(
        outbox.last().unwrap()["request"]["text"]["body"],
        "Obrigado pelo contato!",
        "the closing message"
    );
}

#[tokio::test]
async fn closed_by_the_assistant_for_the_contact_is_user_closed() {
    let t = stack().await;
    let (id, bot) = with_assistant(&t, json!({})).await;
    hand_off(&t, &bot, &id, false).await;
    let (status, _) = t
        .post_json(&format!("/v1/conversations/{id}/close"), &bot, json!({}))
        .await;
    assert_eq!(status, 200);
    assert_eq!(closed_reason(&t, &id).await, Some(CloseReason::UserClosed));
    assert_eq!(
        t.events_of("conversation.closed").await[0]["detail"]["reason"],
        "user_closed"
    );
}

#[tokio::test]
async fn nobody_taking_it_in_the_wait_time_is_timeout() {
    let t = stack().await;
    let (id, bot) = with_assistant(&t, json!({"wait_timeout_seconds": 300})).await;
    let c = hand_off(&t, &bot, &id, false).await;
    let due_at = c["handoff"]["wait_deadline"].as_i64().unwrap();
    let timer = Timer {
        subject: id.clone(),
        kind: TimerKind::HandoffWait,
        due_at,
    };
    // Delivered early (before the deadline), it only re-arms.
    t.fire_timer(&timer).await;
    assert_eq!(closed_reason(&t, &id).await, None);
    t.advance_clock(301).await;
    t.fire_timer(&timer).await;
    assert_eq!(closed_reason(&t, &id).await, Some(CloseReason::Timeout));
    assert_eq!(
        t.events_of("conversation.closed").await[0]["detail"]["reason"],
        "timeout"
    );
}

#[tokio::test]
async fn the_contact_silent_for_the_inactivity_time_is_user_inactivity_timeout() {
    let t = stack().await;
    let (id, bot) = with_assistant(&t, json!({"inactivity_timeout_seconds": 600})).await;
    hand_off(&t, &bot, &id, false).await;
    let agent = t.agent_token().await;
    t.post_json(
        &format!("/v1/conversations/{id}/capture"),
        &agent,
        json!({}),
    )
    .await;
    let c = t.open_conversation_of(CONTACT).await.unwrap();
    let due_at = c.inactivity_deadline().unwrap();
    t.advance_clock(601).await;
    t.fire_timer(&Timer {
        subject: id.clone(),
        kind: TimerKind::Inactivity,
        due_at,
    })
    .await;
    assert_eq!(
        closed_reason(&t, &id).await,
        Some(CloseReason::UserInactivityTimeout)
    );
    assert_eq!(
        t.events_of("conversation.closed").await[0]["detail"]["reason"],
        "user_inactivity_timeout"
    );
}

// ---- Races and duplicates ----------------------------------------------------------------

#[tokio::test]
async fn a_capture_in_the_same_second_the_wait_timeout_fires_has_exactly_one_outcome() {
    for _ in 0..3 {
        let t = stack().await;
        let (id, bot) = with_assistant(&t, json!({"wait_timeout_seconds": 60})).await;
        let c = hand_off(&t, &bot, &id, false).await;
        let timer = Timer {
            subject: id.clone(),
            kind: TimerKind::HandoffWait,
            due_at: c["handoff"]["wait_deadline"].as_i64().unwrap(),
        };
        t.advance_clock(61).await;
        let agent = t.agent_token().await;
        let path = format!("/v1/conversations/{id}/capture");
        let capture = t.post_json(&path, &agent, json!({}));
        let (captured, _) = tokio::join!(capture, t.fire_timer(&timer));
        let now = t.store_conversation(&id).await;
        if captured.0 == 200 {
            assert_eq!(
                (now.state, now.agent.as_deref()),
                (ConversationState::Assigned, Some("agent-1"))
            );
            assert!(t.events_of("conversation.closed").await.is_empty());
        } else {
            assert_eq!(captured.1["code"], "conversation_closed");
            assert_eq!(now.close_reason, Some(CloseReason::Timeout));
            assert!(t.events_of("conversation.assigned").await.is_empty());
        }
    }
}

#[tokio::test]
async fn a_contact_message_arriving_as_the_inactivity_timer_fires_keeps_the_conversation_open() {
    let t = stack().await;
    let (id, bot) = with_assistant(&t, json!({"inactivity_timeout_seconds": 600})).await;
    hand_off(&t, &bot, &id, false).await;
    let first_deadline = t
        .open_conversation_of(CONTACT)
        .await
        .unwrap()
        .inactivity_deadline()
        .unwrap();
    t.advance_clock(599).await;
    t.contact_sends(CONTACT, text("ainda estou aqui")).await;
    t.advance_clock(2).await;
    // The timer armed for the old deadline fires just after the contact wrote.
    t.fire_timer(&Timer {
        subject: id.clone(),
        kind: TimerKind::Inactivity,
        due_at: first_deadline,
    })
    .await;
    let c = t.store_conversation(&id).await;
    assert!(c.state.is_open(), "not closed: the contact wrote");
    assert!(
        c.inactivity_deadline().unwrap() > first_deadline,
        "the deadline moved with the message"
    );
}

#[tokio::test]
async fn a_timer_delivered_twice_changes_nothing() {
    let t = stack().await;
    let (id, bot) = with_assistant(&t, json!({"wait_timeout_seconds": 60})).await;
    let c = hand_off(&t, &bot, &id, false).await;
    let timer = Timer {
        subject: id.clone(),
        kind: TimerKind::HandoffWait,
        due_at: c["handoff"]["wait_deadline"].as_i64().unwrap(),
    };
    t.advance_clock(61).await;
    t.fire_timer(&timer).await;
    let after_first = t.store_conversation(&id).await;
    t.fire_timer(&timer).await;
    let after_second = t.store_conversation(&id).await;
    assert_eq!(after_first, after_second);
    assert_eq!(t.events_of("conversation.closed").await.len(), 1);
}

// ---- Settings --------------------------------------------------------------------------

#[tokio::test]
async fn routing_settings_are_validated_and_bad_ones_change_nothing() {
    let t = stack().await;
    let before = t.set_settings(json!({})).await.1;
    let (status, err) = t
        .set_settings(json!({"routing": {"mode": "queue", "queue": "nowhere"}, "grouping_seconds": 999, "allowlist": ["12"]}))
        .await;
    assert_eq!(
        (status, err["code"].as_str()),
        (422, Some("invalid_settings"))
    );
    assert_eq!(
        err["details"]["errors"].as_array().unwrap().len(),
        3,
        "{err}"
    );
    let (status, err) = t.set_settings(json!({"colour": "red"})).await;
    assert_eq!(
        (status, err["code"].as_str()),
        (422, Some("invalid_settings"))
    );
    let agent = t.agent_token().await;
    let supervisor = t.token("boss", "supervisor", &[]).await;
    let (_, now) = t
        .get_json(
            &format!("/v1/channels/{SAMPLE_CHANNEL_ID}/settings"),
            &supervisor,
        )
        .await;
    assert_eq!(now, before, "nothing changed");
    let r = t
        .http
        .put(t.url(&format!("/v1/channels/{SAMPLE_CHANNEL_ID}/settings")))
        .bearer_auth(&agent)
        .json(&json!({"grouping_seconds": 5}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403, "only supervisors");
}

#[tokio::test]
async fn handoff_timers_use_sqs_delays_up_to_15_minutes_and_schedules_beyond() {
    let t = stack().await;
    let (id, bot) = with_assistant(
        &t,
        json!({"wait_timeout_seconds": 300, "inactivity_timeout_seconds": 3600}),
    )
    .await;
    hand_off(&t, &bot, &id, false).await;
    // The timers commit with the handoff (the outbox) and the relay arms them.
    t.relay().await;
    let sqs = aws_sdk_sqs::Client::new(&t.config);
    let attrs = sqs
        .get_queue_attributes()
        .queue_url(t.queue_url("TimersQueue"))
        .attribute_names(aws_sdk_sqs::types::QueueAttributeName::ApproximateNumberOfMessagesDelayed)
        .send()
        .await
        .unwrap();
    let delayed = attrs.attributes().unwrap()
        [&aws_sdk_sqs::types::QueueAttributeName::ApproximateNumberOfMessagesDelayed]
        .clone();
    assert_eq!(delayed, "1", "the 5-minute wait is an SQS delay");
    let scheduler = aws_sdk_scheduler::Client::new(&t.config);
    let group = t
        .local
        .stack
        .reference("TimersScheduleGroup")
        .unwrap()
        .to_owned();
    let schedules = scheduler
        .list_schedules()
        .group_name(&group)
        .send()
        .await
        .unwrap();
    assert_eq!(
        schedules.schedules().len(),
        1,
        "the 1-hour inactivity is a one-time schedule"
    );
    let name = schedules.schedules()[0].name().unwrap().to_owned();
    let s = scheduler
        .get_schedule()
        .group_name(&group)
        .name(&name)
        .send()
        .await
        .unwrap();
    assert!(s.schedule_expression().unwrap().starts_with("at("));
    assert_eq!(
        s.action_after_completion(),
        Some(&aws_sdk_scheduler::types::ActionAfterCompletion::Delete)
    );
    // When the development clock passes it, the local stack fires it into the timers queue.
    t.advance_clock(3601).await;
    assert!(
        scheduler
            .list_schedules()
            .group_name(&group)
            .send()
            .await
            .unwrap()
            .schedules()
            .is_empty(),
        "deleted after firing"
    );
    let fired = t.peek(&t.queue_url("TimersQueue")).await;
    assert!(
        fired
            .iter()
            .any(|m| m.body().unwrap().contains("inactivity")),
        "{fired:?}"
    );
}

#[tokio::test]
async fn the_largest_handoff_is_published_within_the_event_limit() {
    use conversa::domain::{DeliveryStatus, Direction, Message, MessageContent};
    let t = stack().await;
    let (id, bot) = with_assistant(&t, json!({})).await;
    // 40 messages of 16 KB: more history than one event can carry.
    for i in 0..40 {
        let m = Message {
            conversation_id: id.clone(),
            id: format!("big-{i:04}"),
            direction: Direction::Outbound,
            content: MessageContent::Text {
                body: "😀".repeat(4096),
            },
            at: t.now_secs() * 1000 + i,
            stored_at: t.now_secs() * 1000,
            status: Some(DeliveryStatus::Accepted),
            error_code: None,
            context_id: None,
            sender: Some("ana-bot".into()),
            provider_id: None,
            sent_at: None,
            failure: None,
            outcome_unknown_since: None,
        };
        t.store().import_outbound(&m).await.unwrap();
    }
    // extra_info and contact_info at their 32 KB limit together.
    let half = "ç".repeat(7 * 1024 + 768);
    let (status, body) = t
        .post_json(
            &format!("/v1/conversations/{id}/handoff"),
            &bot,
            json!({"queue": "support", "extra_info": {"x": half}, "contact_info": {"y": half},
                   "include_history": true}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let events = t.events_of("handoff.requested").await;
    assert_eq!(events.len(), 1, "published, not refused by the bus");
    let d = &events[0]["detail"];
    let size = "conversa".len() + "handoff.requested".len() + d.to_string().len();
    assert!(size <= 256 * 1024, "{size} bytes");
    assert_eq!(d["history_truncated"], true);
    assert_eq!(
        d["history_url"],
        format!("/v1/conversations/{id}/messages").as_str()
    );
    assert_eq!(
        d["history"].as_array().unwrap().last().unwrap()["id"],
        "big-0039",
        "the most recent messages are kept"
    );
}

#[tokio::test]
async fn the_closing_message_commits_with_the_close_and_survives_a_queue_outage() {
    let t = stack().await;
    let (id, bot) = with_assistant(&t, json!({"closing_message": "Obrigado pelo contato!"})).await;
    hand_off(&t, &bot, &id, false).await;
    let agent = t.agent_token().await;
    t.post_json(
        &format!("/v1/conversations/{id}/capture"),
        &agent,
        json!({}),
    )
    .await;
    t.relay().await;
    // The send queue refuses every attempt for a while.
    t.inject_fault(json!({"service": "sqs", "operation": "SendMessageBatch",
                          "error": "ServiceUnavailable", "nth": 1, "times": 3}))
        .await;
    let (status, _) = t
        .post_json(&format!("/v1/conversations/{id}/close"), &agent, json!({}))
        .await;
    assert_eq!(status, 200);
    let token = t.agent_token().await;
    let (_, log) = t
        .get_json(&format!("/v1/conversations/{id}/messages"), &token)
        .await;
    assert!(
        log["items"]
            .as_array()
            .unwrap()
            .iter()
            .any(|m| m["body"] == "Obrigado pelo contato!"),
        "stored with the close: {log}"
    );
    t.drain_outbound().await;
    let outbox = t.local.outbox.lock().await.clone();
    let sent = outbox
        .iter()
        .filter(|m| m["request"]["text"]["body"] == "Obrigado pelo contato!")
        .count();
    assert_eq!(sent, 1, "delivered once the queue is back");
}

#[tokio::test]
async fn a_grouped_turn_whose_commit_fails_is_not_published_and_goes_out_once_under_one_id() {
    let t = stack().await;
    settings_ok(&t, json!({"routing": {"mode": "assistant", "to": "assistant", "assistant": "ana-bot", "backup_queue": "support"}, "grouping_seconds": 10})).await;
    t.contact_sends(CONTACT, text("oi")).await;
    t.contact_sends(CONTACT, text("tudo bem?")).await;
    let c = t.open_conversation_of(CONTACT).await.unwrap();
    let timer = Timer {
        subject: c.id.clone(),
        kind: TimerKind::Grouping,
        due_at: c.turn_deadline.unwrap(),
    };
    t.advance_clock(11).await;
    // The turn's commit fails (every SDK attempt): before the outbox the turn was
    // published first, and its retry published it again under another id.
    t.inject_fault(
        json!({"service": "dynamodb", "operation": "TransactWriteItems",
                          "error": "InternalServerError", "nth": 1, "times": 3}),
    )
    .await;
    assert_eq!(t.fire_timer(&timer).await.batch_item_failures.len(), 1);
    assert!(
        t.events_of("assistant.turn").await.is_empty(),
        "nothing before its commit"
    );
    assert!(t.fire_timer(&timer).await.batch_item_failures.is_empty());
    let turns = t.events_of("assistant.turn").await;
    assert_eq!(turns.len(), 1, "one turn, one id");
}
