//! The whole plan for one inbound message: which conversation it joins or opens, where a
//! new one is routed, what is sent back automatically, whether the assistant gets a turn,
//! and which timers start. Pure: the use case carries the plan out.

use super::conversation::{
    decide_inbound, CloseReason, Conversation, ConversationState, InboundDecision,
};
use super::message::MessageContent;
use super::routing::{
    menu_choice, menu_payload, route_new, route_target, ActiveRouting, RouteDecision, Routing,
};
use super::{workspace, Channel, Millis};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TimerKind {
    /// Nobody took the handed-off conversation in time.
    HandoffWait,
    /// The contact went silent while with a human.
    Inactivity,
    /// The grouping window of rapid messages closed.
    Grouping,
    /// A campaign's next page of recipients is due (or its scheduled start).
    CampaignDispatch,
    /// The agent conversa gave the conversation must have answered the contact by now.
    NoReply,
}

/// A deadline to look at again. The record holds the truth; the timer only wakes a handler.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Timer {
    pub subject: String,
    pub kind: TimerKind,
    pub due_at: Millis,
}

/// A message conversa sends by itself (welcome, menu, closing).
#[derive(Debug, Clone, PartialEq)]
pub struct AutoSend {
    pub content: MessageContent,
    /// The Graph API message object.
    pub payload: serde_json::Value,
}

impl AutoSend {
    pub fn text(body: &str) -> Self {
        Self {
            content: MessageContent::Text {
                body: body.to_owned(),
            },
            payload: serde_json::json!({"type": "text", "text": {"body": body, "preview_url": false}}),
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Plan {
    pub conversation: Conversation,
    pub opened: bool,
    /// An open conversation found past its `expires_at`: closed first (lazy expiry).
    pub expired: Option<Conversation>,
    pub sends: Vec<AutoSend>,
    /// Publish an `assistant.turn` now.
    pub assistant_turn: bool,
    pub timers: Vec<Timer>,
}

/// Menu answers that are not an option: the menu is sent again this many times, then the
/// conversation goes to the menu's default queue.
const MENU_RETRIES: u32 = 1;

fn route(
    c: &mut Conversation,
    decision: RouteDecision,
    channel: &Channel,
    routing: &Routing,
    plan: &mut Plan,
    now: Millis,
) {
    match decision {
        RouteDecision::Queue { queue, welcome } => {
            c.state = ConversationState::Queued;
            c.queue = Some(queue);
            c.queued_at = Some(now);
            c.agent = None;
            if let Some(w) = welcome {
                plan.sends.push(AutoSend::text(&w));
            }
        }
        RouteDecision::Assistant { assistant } => {
            c.state = ConversationState::Bot;
            c.assistant = Some(assistant);
            turn(c, channel, plan, now);
        }
        RouteDecision::Menu => {
            c.state = ConversationState::Menu;
            c.menu_attempts = 0;
            if let Routing::Menu { menu } = routing {
                plan.sends.push(AutoSend {
                    content: MessageContent::Text {
                        body: menu.text.clone(),
                    },
                    payload: menu_payload(menu),
                });
            }
        }
    }
}

/// The assistant hears the message: now, or with the next ones inside the grouping window.
fn turn(c: &mut Conversation, channel: &Channel, plan: &mut Plan, now: Millis) {
    if channel.grouping_seconds == 0 {
        plan.assistant_turn = true;
        c.last_turn_at = Some(now);
        return;
    }
    let deadline = now + i64::from(channel.grouping_seconds) * 1000;
    // One timer per burst: a timer that fires early re-arms itself for the new deadline.
    if c.turn_deadline.is_none() {
        plan.timers.push(Timer {
            subject: c.id.clone(),
            kind: TimerKind::Grouping,
            due_at: deadline,
        });
    }
    c.turn_deadline = Some(deadline);
}

pub fn plan_inbound(
    open: Option<&Conversation>,
    channel: &Channel,
    contact: &str,
    content: &MessageContent,
    new_id: impl FnOnce() -> String,
    at: Millis,
    now: Millis,
) -> Plan {
    let mut expired = None;
    let live = match open {
        Some(c) if c.state.is_open() && c.expires_at <= now => {
            expired = workspace::close(c, CloseReason::Expired, c.expires_at).ok();
            None
        }
        Some(c) if c.state.is_open() => Some(c),
        _ => None,
    };
    let routing = channel.effective_routing();
    let decision = decide_inbound(live, channel, contact, new_id, at, now);
    let (conversation, opened) = match decision {
        InboundDecision::Open(c) => (c, true),
        InboundDecision::Append(c) => (c, false),
    };
    let mut plan = Plan {
        conversation,
        opened,
        expired,
        sends: Vec::new(),
        assistant_turn: false,
        timers: Vec::new(),
    };
    let mut c = plan.conversation.clone();
    // A contact message in a conversation conversa assigned starts the agent's reply
    // deadline; only when no check is live does it arm one (no timer per message).
    if !opened && super::assignment::contact_wrote(&mut c, now) {
        if let Some(due_at) = c.assignment.reply_check_at {
            plan.timers.push(Timer {
                subject: c.id.clone(),
                kind: TimerKind::NoReply,
                due_at,
            });
        }
    }
    match live {
        None => route(
            &mut c,
            route_new(&routing, now),
            channel,
            &routing,
            &mut plan,
            now,
        ),
        Some(before) => match before.state {
            // A reply to a conversation the business started without an agent.
            ConversationState::AwaitingReply if before.agent.is_none() => {
                // The service chosen when it was started wins over the channel's.
                let chosen = before.queue.clone().map(|queue| ActiveRouting {
                    enabled: true,
                    queue,
                });
                match chosen
                    .as_ref()
                    .or(channel.active_routing.as_ref().filter(|a| a.enabled))
                {
                    Some(active) => route(
                        &mut c,
                        RouteDecision::Queue {
                            queue: active.queue.clone(),
                            welcome: None,
                        },
                        channel,
                        &routing,
                        &mut plan,
                        now,
                    ),
                    None => route(
                        &mut c,
                        route_new(&routing, now),
                        channel,
                        &routing,
                        &mut plan,
                        now,
                    ),
                }
            }
            ConversationState::Menu => {
                let chosen = match &routing {
                    Routing::Menu { menu } => menu_choice(menu, content).map(|o| o.target.clone()),
                    _ => None,
                };
                match (chosen, &routing) {
                    (Some(target), _) => route(
                        &mut c,
                        route_target(&target, now),
                        channel,
                        &routing,
                        &mut plan,
                        now,
                    ),
                    (None, Routing::Menu { menu }) if c.menu_attempts < MENU_RETRIES => {
                        c.menu_attempts += 1;
                        plan.sends.push(AutoSend {
                            content: MessageContent::Text {
                                body: menu.text.clone(),
                            },
                            payload: menu_payload(menu),
                        });
                    }
                    (None, Routing::Menu { menu }) => route(
                        &mut c,
                        RouteDecision::Queue {
                            queue: menu.default_queue.clone(),
                            welcome: None,
                        },
                        channel,
                        &routing,
                        &mut plan,
                        now,
                    ),
                    // The menu was switched off meanwhile: the channel's routing decides.
                    (None, _) => route(
                        &mut c,
                        route_new(&routing, now),
                        channel,
                        &routing,
                        &mut plan,
                        now,
                    ),
                }
            }
            ConversationState::Bot => turn(&mut c, channel, &mut plan, now),
            _ => {}
        },
    }
    plan.conversation = c;
    plan
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::routing::{ActiveRouting, Menu, MenuKind, MenuOption, Target};

    const HOUR: Millis = 3_600_000;

    fn text(b: &str) -> MessageContent {
        MessageContent::Text { body: b.into() }
    }

    fn plan(
        open: Option<&Conversation>,
        channel: &Channel,
        content: &MessageContent,
        now: Millis,
    ) -> Plan {
        plan_inbound(
            open,
            channel,
            "5548999990000",
            content,
            || format!("c{now}"),
            now,
            now,
        )
    }

    fn menu_channel() -> Channel {
        let mut ch = Channel::new("1", "55");
        ch.routing = Some(Routing::Menu {
            menu: Menu {
                kind: MenuKind::Buttons,
                text: "Escolha".into(),
                button: None,
                options: vec![
                    MenuOption {
                        id: "v".into(),
                        title: "Vendas".into(),
                        target: Target::Queue {
                            queue: "sales".into(),
                            automatic_message: None,
                        },
                    },
                    MenuOption {
                        id: "b".into(),
                        title: "Assistente".into(),
                        target: Target::Assistant {
                            assistant: "bot".into(),
                            working_hours: None,
                            backup_queue: "support".into(),
                            backup_message: None,
                        },
                    },
                ],
                default_queue: "support".into(),
            },
        });
        ch
    }

    #[test]
    fn queue_routing_with_an_automatic_message() {
        let mut ch = Channel::new("1", "55");
        ch.routing = Some(Routing::Queue {
            queue: "sales".into(),
            welcome_message: Some("Olá! Já vamos atender.".into()),
        });
        let p = plan(None, &ch, &text("oi"), 0);
        assert_eq!(
            (p.conversation.state, p.conversation.queue.as_deref()),
            (ConversationState::Queued, Some("sales"))
        );
        assert_eq!(p.sends.len(), 1);
    }

    #[test]
    fn assistant_routing_gives_the_assistant_a_turn() {
        let mut ch = Channel::new("1", "55");
        ch.routing = Some(Routing::Assistant {
            target: Target::Assistant {
                assistant: "bot".into(),
                working_hours: None,
                backup_queue: "support".into(),
                backup_message: None,
            },
        });
        let p = plan(None, &ch, &text("oi"), 0);
        assert_eq!(
            (p.conversation.state, p.conversation.assistant.as_deref()),
            (ConversationState::Bot, Some("bot"))
        );
        assert!(p.assistant_turn);
    }

    #[test]
    fn menu_routing_sends_the_menu_then_routes_a_valid_choice() {
        let ch = menu_channel();
        let p = plan(None, &ch, &text("oi"), 0);
        assert_eq!(p.conversation.state, ConversationState::Menu);
        assert_eq!(p.sends.len(), 1);
        let chosen = plan(Some(&p.conversation), &ch, &text("1"), 10);
        assert_eq!(
            (
                chosen.conversation.state,
                chosen.conversation.queue.as_deref()
            ),
            (ConversationState::Queued, Some("sales"))
        );
        let bot = plan(
            Some(&p.conversation),
            &ch,
            &MessageContent::Interactive {
                reply_id: "b".into(),
                title: "Assistente".into(),
                description: None,
            },
            10,
        );
        assert_eq!(bot.conversation.state, ConversationState::Bot);
    }

    #[test]
    fn menu_option_to_a_queue_sends_its_automatic_message() {
        let mut ch = menu_channel();
        if let Some(Routing::Menu { menu }) = ch.routing.as_mut() {
            menu.options[0].target = Target::Queue {
                queue: "sales".into(),
                automatic_message: Some("Já vamos te atender".into()),
            };
        }
        let p = plan(None, &ch, &text("oi"), 0);
        let chosen = plan(Some(&p.conversation), &ch, &text("1"), 10);
        assert_eq!(chosen.conversation.queue.as_deref(), Some("sales"));
        assert_eq!(chosen.sends, vec![AutoSend::text("Já vamos te atender")]);
        let silent = plan(Some(&p.conversation), &menu_channel(), &text("1"), 10);
        assert!(silent.sends.is_empty(), "no message unless one is set");
    }

    #[test]
    fn menu_option_to_an_assistant_off_hours_sends_the_backup_message() {
        let mut ch = menu_channel();
        if let Some(Routing::Menu { menu }) = ch.routing.as_mut() {
            menu.options[1].target = Target::Assistant {
                assistant: "bot".into(),
                // Closed every day: the backup queue takes it.
                working_hours: Some(crate::domain::routing::WorkingHours {
                    time_zone: "America/Sao_Paulo".into(),
                    days: Vec::new(),
                }),
                backup_queue: "support".into(),
                backup_message: Some("Fora do horário; um atendente responde".into()),
            };
        }
        let p = plan(None, &ch, &text("oi"), 0);
        let chosen = plan(Some(&p.conversation), &ch, &text("2"), 10);
        assert_eq!(
            (
                chosen.conversation.state,
                chosen.conversation.queue.as_deref()
            ),
            (ConversationState::Queued, Some("support"))
        );
        assert_eq!(
            chosen.sends,
            vec![AutoSend::text("Fora do horário; um atendente responde")]
        );
    }

    #[test]
    fn an_invalid_menu_answer_gets_the_menu_once_more_then_the_default_queue() {
        let ch = menu_channel();
        let first = plan(None, &ch, &text("oi"), 0).conversation;
        let again = plan(Some(&first), &ch, &text("hã?"), 10);
        assert_eq!(
            (again.conversation.state, again.sends.len()),
            (ConversationState::Menu, 1)
        );
        let gave_up = plan(Some(&again.conversation), &ch, &text("não sei"), 20);
        assert_eq!(
            (
                gave_up.conversation.state,
                gave_up.conversation.queue.as_deref()
            ),
            (ConversationState::Queued, Some("support"))
        );
        assert!(gave_up.sends.is_empty());
    }

    fn business_started(agent: Option<&str>) -> Conversation {
        let mut c = plan(None, &Channel::new("1", "55"), &text("x"), 0).conversation;
        c.state = ConversationState::AwaitingReply;
        c.origin = crate::domain::Origin::Campaign;
        c.agent = agent.map(str::to_owned);
        c.queue = None;
        c
    }

    #[test]
    fn a_reply_to_an_agent_started_conversation_stays_with_the_agent() {
        let p = plan(
            Some(&business_started(Some("ana"))),
            &Channel::new("1", "55"),
            &text("oi"),
            HOUR,
        );
        assert_eq!(
            (p.conversation.state, p.conversation.agent.as_deref()),
            (ConversationState::Assigned, Some("ana"))
        );
    }

    #[test]
    fn active_routing_sends_replies_to_business_started_conversations_to_its_queue() {
        let mut ch = menu_channel();
        ch.active_routing = Some(ActiveRouting {
            enabled: true,
            queue: "sales".into(),
        });
        let p = plan(Some(&business_started(None)), &ch, &text("oi"), HOUR);
        assert_eq!(
            (p.conversation.state, p.conversation.queue.as_deref()),
            (ConversationState::Queued, Some("sales"))
        );
        ch.active_routing = Some(ActiveRouting {
            enabled: false,
            queue: "sales".into(),
        });
        let p = plan(Some(&business_started(None)), &ch, &text("oi"), HOUR);
        assert_eq!(
            p.conversation.state,
            ConversationState::Menu,
            "off: default routing"
        );
    }

    #[test]
    fn a_reply_after_expiry_closes_the_old_conversation_and_routes_by_default() {
        let mut ch = menu_channel();
        ch.active_routing = Some(ActiveRouting {
            enabled: true,
            queue: "sales".into(),
        });
        let old = business_started(None);
        let p = plan(Some(&old), &ch, &text("oi"), old.expires_at);
        let expired = p.expired.expect("closed first");
        assert_eq!(expired.close_reason, Some(CloseReason::Expired));
        assert!(p.opened);
        assert_eq!(p.conversation.state, ConversationState::Menu);
    }

    #[test]
    fn grouping_schedules_one_timer_per_burst() {
        let mut ch = Channel::new("1", "55");
        ch.grouping_seconds = 5;
        ch.routing = Some(Routing::Assistant {
            target: Target::Assistant {
                assistant: "bot".into(),
                working_hours: None,
                backup_queue: "support".into(),
                backup_message: None,
            },
        });
        let first = plan(None, &ch, &text("oi"), 0);
        assert!(!first.assistant_turn);
        assert_eq!(first.timers.len(), 1);
        assert_eq!(first.conversation.turn_deadline, Some(5_000));
        let second = plan(Some(&first.conversation), &ch, &text("tudo bem?"), 2_000);
        assert!(
            second.timers.is_empty(),
            "no scheduling call for the next message"
        );
        assert_eq!(second.conversation.turn_deadline, Some(7_000));
    }
}
