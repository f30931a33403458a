//! Where inbound conversations go (the AI-assistant platform manual, seed 002): a queue, an
//! AI assistant within its working hours (else its backup queue), or a triage menu.

use super::{message::MessageContent, Millis, Phone};
use serde::{Deserialize, Serialize};

pub use super::working_hours::{DayHours, WorkingHours};

/// Where a menu option (or the channel) sends a conversation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "to", rename_all = "snake_case")]
pub enum Target {
    Queue {
        queue: String,
        /// Sent to the contact when this target takes the conversation ("já vamos te
        /// atender", seed 002).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        automatic_message: Option<String>,
    },
    /// An AI assistant; outside its working hours the backup queue takes the conversation.
    Assistant {
        assistant: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        working_hours: Option<WorkingHours>,
        backup_queue: String,
        /// Sent to the contact when the backup queue takes the conversation.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        backup_message: Option<String>,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MenuKind {
    /// An interactive list (up to 10 options).
    List,
    /// Reply buttons (up to 3 options).
    Buttons,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MenuOption {
    pub id: String,
    pub title: String,
    pub target: Target,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Menu {
    pub kind: MenuKind,
    pub text: String,
    /// The list's button label.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub button: Option<String>,
    pub options: Vec<MenuOption>,
    /// After an answer that is not an option, the menu is sent once more; then here.
    pub default_queue: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "mode", rename_all = "snake_case")]
pub enum Routing {
    Queue {
        queue: String,
        /// Sent to the contact when the conversation arrives.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        welcome_message: Option<String>,
    },
    Assistant {
        #[serde(flatten)]
        target: Target,
    },
    Menu {
        menu: Menu,
    },
}

/// Replies to conversations the business started without an agent ("direcionamento ativo").
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ActiveRouting {
    pub enabled: bool,
    pub queue: String,
}

/// Bot → human handoff ("transbordo", seed 001). 0 disables a timeout.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct HandoffSettings {
    #[serde(default)]
    pub wait_timeout_seconds: u32,
    #[serde(default)]
    pub inactivity_timeout_seconds: u32,
    #[serde(default)]
    pub include_history: bool,
    /// Sent to the contact before a conversation is closed (`before_action_messages`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub closing_message: Option<String>,
    /// When the human part ends (agent_closed, user_closed, timeout,
    /// user_inactivity_timeout) the conversation goes back to the assistant with
    /// `handoff.ended` instead of closing, e.g. for a satisfaction survey (ALTU).
    #[serde(default)]
    pub return_to_assistant: bool,
}

/// What to do with a new conversation, or a reply that is routed again.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RouteDecision {
    Queue {
        queue: String,
        welcome: Option<String>,
    },
    Assistant {
        assistant: String,
    },
    Menu,
}

pub fn route_target(target: &Target, at: Millis) -> RouteDecision {
    match target {
        Target::Queue {
            queue,
            automatic_message,
        } => RouteDecision::Queue {
            queue: queue.clone(),
            welcome: automatic_message.clone(),
        },
        Target::Assistant {
            assistant,
            working_hours,
            backup_queue,
            backup_message,
        } => {
            if working_hours.as_ref().is_none_or(|h| h.contains(at)) {
                RouteDecision::Assistant {
                    assistant: assistant.clone(),
                }
            } else {
                RouteDecision::Queue {
                    queue: backup_queue.clone(),
                    welcome: backup_message.clone(),
                }
            }
        }
    }
}

/// The channel's default routing for a new conversation.
pub fn route_new(routing: &Routing, at: Millis) -> RouteDecision {
    match routing {
        Routing::Queue {
            queue,
            welcome_message,
        } => RouteDecision::Queue {
            queue: queue.clone(),
            welcome: welcome_message.clone(),
        },
        Routing::Assistant { target } => route_target(target, at),
        Routing::Menu { .. } => RouteDecision::Menu,
    }
}

/// The option a contact chose: an interactive reply's id, or a text with the option's
/// number, id or title.
pub fn menu_choice<'m>(menu: &'m Menu, reply: &MessageContent) -> Option<&'m MenuOption> {
    match reply {
        MessageContent::Interactive { reply_id, .. } => {
            menu.options.iter().find(|o| &o.id == reply_id)
        }
        MessageContent::Button { payload, text } => menu
            .options
            .iter()
            .find(|o| &o.id == payload || o.title.eq_ignore_ascii_case(text.trim())),
        MessageContent::Text { body } => {
            let answer = body.trim();
            answer
                .parse::<usize>()
                .ok()
                .and_then(|n| n.checked_sub(1))
                .and_then(|i| menu.options.get(i))
                .or_else(|| {
                    menu.options
                        .iter()
                        .find(|o| o.id == answer || o.title.eq_ignore_ascii_case(answer))
                })
        }
        _ => None,
    }
}

/// The WhatsApp interactive message of a menu.
pub fn menu_payload(menu: &Menu) -> serde_json::Value {
    use serde_json::json;
    match menu.kind {
        MenuKind::Buttons => json!({
            "type": "interactive",
            "interactive": {
                "type": "button",
                "body": {"text": menu.text},
                "action": {"buttons": menu.options.iter().map(|o| json!({"type": "reply", "reply": {"id": o.id, "title": o.title}})).collect::<Vec<_>>()}
            }
        }),
        MenuKind::List => json!({
            "type": "interactive",
            "interactive": {
                "type": "list",
                "body": {"text": menu.text},
                "action": {
                    "button": menu.button.clone().unwrap_or_else(|| "Opções".into()),
                    "sections": [{"title": "Opções", "rows": menu.options.iter().map(|o| json!({"id": o.id, "title": o.title})).collect::<Vec<_>>()}]
                }
            }
        }),
    }
}

/// A WhatsApp text body holds at most 4,096 characters.
pub const MAX_AUTOMATIC_MESSAGE: usize = 4096;

fn check_message(field: &str, message: &Option<String>, errors: &mut Vec<String>) {
    match message.as_deref().map(str::trim) {
        Some("") => errors.push(format!("{field} must not be empty (leave it out instead)")),
        Some(m) if m.chars().count() > MAX_AUTOMATIC_MESSAGE => errors.push(format!(
            "{field} must be at most {MAX_AUTOMATIC_MESSAGE} characters"
        )),
        _ => {}
    }
}

/// Checks a channel's routing settings against the known queues; every problem is named.
pub fn validate(
    routing: Option<&Routing>,
    active: Option<&ActiveRouting>,
    allowlist: &[String],
    grouping_seconds: u32,
    handoff: &HandoffSettings,
    queue_exists: &dyn Fn(&str) -> bool,
) -> Vec<String> {
    let mut errors = Vec::new();
    let check_queue = |field: &str, q: &str, errors: &mut Vec<String>| {
        if q.trim().is_empty() {
            errors.push(format!("{field} must name a queue"));
        } else if !queue_exists(q) {
            errors.push(format!("{field}: queue {q:?} does not exist"));
        }
    };
    let check_target = |field: &str, t: &Target, errors: &mut Vec<String>| match t {
        Target::Queue {
            queue,
            automatic_message,
        } => {
            check_queue(&format!("{field}.queue"), queue, errors);
            check_message(
                &format!("{field}.automatic_message"),
                automatic_message,
                errors,
            );
        }
        Target::Assistant {
            assistant,
            working_hours,
            backup_queue,
            backup_message,
        } => {
            check_message(&format!("{field}.backup_message"), backup_message, errors);
            if assistant.trim().is_empty() {
                errors.push(format!("{field}.assistant must name the assistant"));
            }
            check_queue(&format!("{field}.backup_queue"), backup_queue, errors);
            if let Some(h) = working_hours {
                h.validate(&format!("{field}.working_hours"), errors);
            }
        }
    };
    match routing {
        None => {}
        Some(Routing::Queue {
            queue,
            welcome_message,
        }) => {
            check_queue("routing.queue", queue, &mut errors);
            check_message("routing.welcome_message", welcome_message, &mut errors);
        }
        Some(Routing::Assistant { target }) => {
            if matches!(target, Target::Queue { .. }) {
                errors.push("routing.mode assistant needs an assistant target".into());
            }
            check_target("routing", target, &mut errors)
        }
        Some(Routing::Menu { menu }) => {
            let max = match menu.kind {
                MenuKind::List => 10,
                MenuKind::Buttons => 3,
            };
            let max_title = match menu.kind {
                MenuKind::List => 24,
                MenuKind::Buttons => 20,
            };
            if menu.options.is_empty() || menu.options.len() > max {
                errors.push(format!(
                    "routing.menu.options must have 1 to {max} options for a {:?} menu",
                    menu.kind
                ));
            }
            if menu.text.trim().is_empty() {
                errors.push("routing.menu.text must not be empty".into());
            }
            let mut ids = std::collections::HashSet::new();
            for (i, o) in menu.options.iter().enumerate() {
                if !ids.insert(o.id.as_str()) || o.id.trim().is_empty() {
                    errors.push(format!(
                        "routing.menu.options[{i}].id must be unique and not empty"
                    ));
                }
                if o.title.trim().is_empty() || o.title.chars().count() > max_title {
                    errors.push(format!(
                        "routing.menu.options[{i}].title must have 1 to {max_title} characters"
                    ));
                }
                check_target(
                    &format!("routing.menu.options[{i}].target"),
                    &o.target,
                    &mut errors,
                );
            }
            check_queue(
                "routing.menu.default_queue",
                &menu.default_queue,
                &mut errors,
            );
        }
    }
    if let Some(a) = active {
        if a.enabled {
            check_queue("active_routing.queue", &a.queue, &mut errors);
        }
    }
    for (i, p) in allowlist.iter().enumerate() {
        if let Err(e) = Phone::parse(p) {
            errors.push(format!("allowlist[{i}]: {e}"));
        }
    }
    if grouping_seconds > 300 {
        errors.push("grouping_seconds must be 0 (off) to 300".into());
    }
    const WEEK: u32 = 7 * 86_400;
    if handoff.wait_timeout_seconds > WEEK || handoff.inactivity_timeout_seconds > WEEK {
        errors.push("handoff timeouts must be 0 (off) to 604800 seconds".into());
    }
    errors
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hours() -> WorkingHours {
        WorkingHours {
            time_zone: "America/Sao_Paulo".into(),
            days: vec![DayHours {
                weekday: "wed".into(),
                start: "08:00".into(),
                end: "18:00".into(),
            }],
        }
    }

    // 2026-11-25 is a Wednesday; São Paulo is UTC-3.
    const WED_10_LOCAL: Millis = 1_795_611_600_000; // 13:00 UTC
    const WED_20_LOCAL: Millis = 1_795_647_600_000; // 23:00 UTC

    fn assistant() -> Target {
        Target::Assistant {
            assistant: "bot".into(),
            working_hours: Some(hours()),
            backup_queue: "support".into(),
            backup_message: None,
        }
    }

    #[test]
    fn assistant_inside_its_working_hours_takes_the_conversation() {
        assert_eq!(
            route_target(&assistant(), WED_10_LOCAL),
            RouteDecision::Assistant {
                assistant: "bot".into()
            }
        );
    }

    #[test]
    fn assistant_outside_its_working_hours_routes_to_the_backup_queue() {
        assert_eq!(
            route_target(&assistant(), WED_20_LOCAL),
            RouteDecision::Queue {
                queue: "support".into(),
                welcome: None
            }
        );
    }

    fn menu() -> Menu {
        Menu {
            kind: MenuKind::Buttons,
            text: "Como podemos ajudar?".into(),
            button: None,
            options: vec![
                MenuOption {
                    id: "sales".into(),
                    title: "Vendas".into(),
                    target: Target::Queue {
                        queue: "sales".into(),
                        automatic_message: None,
                    },
                },
                MenuOption {
                    id: "help".into(),
                    title: "Suporte".into(),
                    target: assistant(),
                },
            ],
            default_queue: "support".into(),
        }
    }

    #[test]
    fn a_menu_choice_is_read_from_a_button_reply_a_number_or_a_title() {
        let m = menu();
        let by_button = MessageContent::Interactive {
            reply_id: "help".into(),
            title: "Suporte".into(),
            description: None,
        };
        assert_eq!(menu_choice(&m, &by_button).unwrap().id, "help");
        assert_eq!(
            menu_choice(&m, &MessageContent::Text { body: " 1 ".into() })
                .unwrap()
                .id,
            "sales"
        );
        assert_eq!(
            menu_choice(
                &m,
                &MessageContent::Text {
                    body: "vendas".into()
                }
            )
            .unwrap()
            .id,
            "sales"
        );
    }

    #[test]
    fn an_answer_that_is_not_an_option_is_no_choice() {
        assert!(menu_choice(
            &menu(),
            &MessageContent::Text {
                body: "quero falar com alguém".into()
            }
        )
        .is_none());
        assert!(menu_choice(&menu(), &MessageContent::Text { body: "7".into() }).is_none());
    }

    #[test]
    fn routing_settings_are_validated_and_every_problem_named() {
        let mut bad = menu();
        bad.options[0].title = "x".repeat(30);
        bad.default_queue = "nowhere".into();
        let errors = validate(
            Some(&Routing::Menu { menu: bad }),
            Some(&ActiveRouting {
                enabled: true,
                queue: String::new(),
            }),
            &["+55 48".into()],
            301,
            &HandoffSettings::default(),
            &|q| q == "support" || q == "sales",
        );
        assert!(
            errors.iter().any(|e| e.contains("options[0].title")),
            "{errors:?}"
        );
        assert!(
            errors.iter().any(|e| e.contains("default_queue")),
            "{errors:?}"
        );
        assert!(
            errors.iter().any(|e| e.contains("active_routing.queue")),
            "{errors:?}"
        );
        assert!(
            errors.iter().any(|e| e.contains("allowlist[0]")),
            "{errors:?}"
        );
        assert!(
            errors.iter().any(|e| e.contains("grouping_seconds")),
            "{errors:?}"
        );
        let ok = validate(
            Some(&Routing::Menu { menu: menu() }),
            None,
            &[],
            0,
            &HandoffSettings::default(),
            &|_| true,
        );
        assert!(ok.is_empty(), "{ok:?}");
    }

    #[test]
    fn working_hours_with_a_bad_time_zone_are_rejected() {
        let mut h = hours();
        h.time_zone = "Mars/Olympus".into();
        h.days[0].start = "19:00".into();
        let mut errors = Vec::new();
        h.validate("wh", &mut errors);
        assert_eq!(errors.len(), 2, "{errors:?}");
    }
}
