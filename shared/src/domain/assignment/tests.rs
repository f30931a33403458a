//! The assignment rules, each test named after the rule.

use super::*;
use crate::domain::agent::AgentStatus;
use crate::domain::conversation::{decide_inbound, InboundDecision};
use crate::domain::Channel;

fn queue(mode: AssignmentMode) -> Queue {
    Queue {
        id: "support".into(),
        name: "Suporte".into(),
        mode,
        offline_message: Some("Estamos offline".into()),
        max_concurrent: Some(2),
        reassign_after_seconds: Some(120),
        position_notice: None,
    }
}

fn agent(sub: &str, active: u32, last: Option<Millis>) -> Agent {
    Agent {
        queues: vec!["support".into()],
        status: AgentStatus::Available,
        connections: 1,
        active,
        last_assigned_at: last,
        ..Agent::new(sub)
    }
}

fn waiting() -> Conversation {
    let channel = Channel::new("100000000000001", "554830000001");
    match decide_inbound(None, &channel, "5548999990000", || "c1".into(), 0, 0) {
        InboundDecision::Open(c) => c,
        InboundDecision::Append(c) => c,
    }
}

fn subs(found: Vec<&Agent>) -> Vec<&str> {
    found.into_iter().map(|a| a.sub.as_str()).collect()
}

#[test]
fn least_busy_gives_the_conversation_to_the_agent_with_fewest_open_ones() {
    let agents = [agent("ana", 1, Some(1)), agent("bia", 0, Some(5))];
    let q = queue(AssignmentMode::LeastBusy);
    assert_eq!(subs(candidates(&q, &agents, 10, None)), ["bia", "ana"]);
}

#[test]
fn round_robin_gives_the_conversation_to_the_agent_idle_longest() {
    let agents = [
        agent("ana", 1, Some(1)),
        agent("bia", 0, Some(5)),
        agent("caio", 0, None),
    ];
    let q = queue(AssignmentMode::RoundRobin);
    assert_eq!(
        subs(candidates(&q, &agents, 10, None)),
        ["caio", "ana", "bia"]
    );
}

#[test]
fn only_online_available_agents_of_the_queue_below_their_limit_are_candidates() {
    let mut away = agent("away", 0, None);
    away.status = AgentStatus::Away;
    let mut gone = agent("gone", 0, None);
    gone.connections = 0;
    let full = agent("full", 2, None);
    let mut other = agent("other", 0, None);
    other.queues = vec!["sales".into()];
    let mut roomy = agent("roomy", 2, None);
    roomy.max_concurrent = Some(3);
    let agents = [away, gone, full, other, roomy, agent("ok", 0, None)];
    let q = queue(AssignmentMode::LeastBusy);
    assert_eq!(subs(candidates(&q, &agents, 10, None)), ["ok", "roomy"]);
    assert_eq!(subs(candidates(&q, &agents, 10, Some("ok"))), ["roomy"]);
}

#[test]
fn assignment_starts_the_no_reply_deadline() {
    let q = queue(AssignmentMode::RoundRobin);
    let c = assign(&waiting(), "ana", &q, 1_000).expect("waiting");
    assert_eq!(c.state, ConversationState::Assigned);
    assert_eq!(c.assignment.reply_due_at, Some(121_000));
    assert_eq!(c.assignment.reply_check_at, Some(121_000));
    assert!(assign(&c, "bia", &q, 2_000).is_none(), "only a waiting one");
}

#[test]
fn an_agent_reply_ends_the_check_and_the_next_message_arms_one() {
    let q = queue(AssignmentMode::RoundRobin);
    let mut c = assign(&waiting(), "ana", &q, 0).expect("waiting");
    c.assignment.reply_due_at = None; // the agent answered
    let NoReplyCheck::Answered(mut c) = no_reply_check(&c, 120_000, 120_000) else {
        panic!("answered")
    };
    assert_eq!(c.assignment.reply_check_at, None);
    assert!(contact_wrote(&mut c, 200_000), "a check is armed");
    assert_eq!(c.assignment.reply_due_at, Some(320_000));
    assert!(!contact_wrote(&mut c, 210_000), "one live check at a time");
    assert_eq!(
        c.assignment.reply_due_at,
        Some(320_000),
        "counted from the first"
    );
}

#[test]
fn no_reply_in_time_reassigns_and_a_stale_check_does_nothing() {
    let q = queue(AssignmentMode::RoundRobin);
    let c = assign(&waiting(), "ana", &q, 0).expect("waiting");
    assert_eq!(no_reply_check(&c, 5, 200_000), NoReplyCheck::Stale);
    assert_eq!(no_reply_check(&c, 120_000, 120_000), NoReplyCheck::Due);
    let moved = reassign(&c, Some("bia"), &q, 120_000);
    assert_eq!(moved.agent.as_deref(), Some("bia"));
    assert_eq!(moved.assignment.reply_due_at, Some(240_000));
    let back = reassign(&c, None, &q, 120_000);
    assert_eq!(back.state, ConversationState::Queued);
    assert_eq!(back.queued_at, c.queued_at, "keeps its place in the queue");
}

#[test]
fn the_offline_notice_goes_once_when_no_agent_of_the_queue_is_online() {
    let q = queue(AssignmentMode::RoundRobin);
    let mut c = waiting();
    let mut offline = agent("ana", 0, None);
    offline.connections = 0;
    assert_eq!(
        offline_notice(&c, &q, &[offline.clone()], 0).as_deref(),
        Some("Estamos offline")
    );
    assert_eq!(offline_notice(&c, &q, &[agent("bia", 0, None)], 0), None);
    c.assignment.offline_notified = true;
    assert_eq!(offline_notice(&c, &q, &[offline], 0), None);
}

#[test]
fn a_waiting_contact_is_told_its_position_at_most_once_per_interval() {
    let mut q = queue(AssignmentMode::RoundRobin);
    let mut c = waiting();
    assert_eq!(position_notice(&c, &q, 3, 0), None, "off by default");
    q.position_notice = Some(PositionNotice {
        message: "Você é o {position}º da fila".into(),
        every_minutes: 5,
    });
    assert_eq!(
        position_notice(&c, &q, 3, 0).as_deref(),
        Some("Você é o 3º da fila")
    );
    c.assignment.position_told_at = Some(0);
    assert_eq!(position_notice(&c, &q, 2, 299_999), None);
    assert!(position_notice(&c, &q, 2, 300_000).is_some());
}
