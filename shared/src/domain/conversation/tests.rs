//! The conversation rules' tests: inbound, expiry, start and send.

mod inbound_tests {
    use super::super::*;
    use crate::domain::Channel;

    fn channel() -> Channel {
        Channel::new("100000000000001", "554830000001")
    }

    #[test]
    fn first_inbound_message_opens_a_queued_conversation_in_the_default_queue() {
        let d = decide_inbound(None, &channel(), "5548999990000", || "c1".into(), 10, 20);
        let InboundDecision::Open(c) = d else {
            panic!("expected open")
        };
        assert_eq!(c.state, ConversationState::Queued);
        assert_eq!(c.queue.as_deref(), Some("support"));
        assert_eq!(c.origin, Origin::Customer);
        assert_eq!(c.last_inbound_at, Some(10));
        assert_eq!(c.expires_at, 20 + 24 * HOUR_MILLIS);
        assert_eq!(c.version, 1);
    }

    #[test]
    fn inbound_message_appends_to_the_one_open_conversation() {
        let InboundDecision::Open(open) =
            decide_inbound(None, &channel(), "5548999990000", || "c1".into(), 10, 20)
        else {
            panic!("expected open")
        };
        let d = decide_inbound(
            Some(&open),
            &channel(),
            "5548999990000",
            || "c2".into(),
            30,
            40,
        );
        let InboundDecision::Append(c) = d else {
            panic!("expected append")
        };
        assert_eq!(c.id, "c1");
        assert_eq!(c.version, 2);
        assert_eq!(c.message_count, 2);
        assert_eq!(c.unread_count, 2, "the new-message marker counts it");
        assert_eq!(c.last_inbound_at, Some(30));
        assert_eq!(c.expires_at, 40 + 24 * HOUR_MILLIS);
    }

    #[test]
    fn inbound_message_after_close_opens_a_new_conversation() {
        let InboundDecision::Open(mut old) =
            decide_inbound(None, &channel(), "5548999990000", || "c1".into(), 10, 20)
        else {
            panic!("expected open")
        };
        old.state = ConversationState::Closed;
        let d = decide_inbound(
            Some(&old),
            &channel(),
            "5548999990000",
            || "c2".into(),
            30,
            40,
        );
        assert!(matches!(d, InboundDecision::Open(c) if c.id == "c2"));
    }

    #[test]
    fn last_inbound_never_moves_backwards() {
        let InboundDecision::Open(open) =
            decide_inbound(None, &channel(), "5548999990000", || "c1".into(), 100, 100)
        else {
            panic!("expected open")
        };
        let InboundDecision::Append(c) = decide_inbound(
            Some(&open),
            &channel(),
            "5548999990000",
            || "x".into(),
            50,
            200,
        ) else {
            panic!("expected append")
        };
        assert_eq!(c.last_inbound_at, Some(100));
    }
}

mod expiry_tests {
    use super::super::*;
    use crate::domain::Channel;

    const HOUR: Millis = 3_600_000;

    fn opened_with(hours: u32) -> Conversation {
        let mut ch = Channel::new("1", "55");
        ch.auto_close_hours = hours;
        match decide_inbound(None, &ch, "5548999990000", || "c".into(), 0, 0) {
            InboundDecision::Open(c) => c,
            _ => unreachable!(),
        }
    }

    #[test]
    fn auto_close_after_1_hour_boundary() {
        let c = opened_with(1);
        assert!(!c.is_expired(HOUR - 1));
        assert!(c.is_expired(HOUR));
    }

    #[test]
    fn auto_close_after_72_hours_boundary() {
        let c = opened_with(72);
        assert!(!c.is_expired(72 * HOUR - 1));
        assert!(c.is_expired(72 * HOUR));
    }

    #[test]
    fn activity_pushes_expiry_forward() {
        let c = opened_with(1);
        let InboundDecision::Append(later) = decide_inbound(
            Some(&c),
            &Channel {
                auto_close_hours: 1,
                ..Channel::new("1", "55")
            },
            "5548999990000",
            || "x".into(),
            HOUR / 2,
            HOUR / 2,
        ) else {
            panic!("append")
        };
        assert!(!later.is_expired(HOUR));
        assert!(later.is_expired(HOUR + HOUR / 2));
    }

    #[test]
    fn a_closed_conversation_is_not_expired() {
        let mut c = opened_with(1);
        c.state = ConversationState::Closed;
        assert!(!c.is_expired(10 * HOUR));
    }
}

mod start_tests {
    use super::super::*;
    use crate::domain::{Channel, Window};

    const HOUR: Millis = 3_600_000;

    fn channel() -> Channel {
        Channel::new("100000000000001", "554830000001")
    }

    fn start(
        open: Option<&Conversation>,
        window: Window,
        template: bool,
    ) -> Result<Conversation, StartError> {
        decide_start(
            open,
            &window,
            template,
            &channel(),
            "554832817000",
            "agent-1",
            "c9".into(),
            100 * HOUR,
        )
    }

    #[test]
    fn start_is_refused_while_a_conversation_is_in_progress() {
        let open = start(None, Window::at(Some(99 * HOUR), 100 * HOUR), false).unwrap();
        assert_eq!(
            start(Some(&open), Window::at(None, 0), true),
            Err(StartError::InProgress {
                conversation_id: "c9".into()
            })
        );
    }

    #[test]
    fn start_inside_the_window_is_assigned_to_the_agent_without_a_template() {
        let c = start(None, Window::at(Some(99 * HOUR), 100 * HOUR), false).unwrap();
        assert_eq!(c.state, ConversationState::Assigned);
        assert_eq!(c.agent.as_deref(), Some("agent-1"));
        assert_eq!(c.origin, Origin::Agent);
    }

    #[test]
    fn start_outside_the_window_requires_a_template() {
        assert_eq!(
            start(None, Window::at(Some(0), 100 * HOUR), false),
            Err(StartError::TemplateRequired)
        );
        assert_eq!(
            start(None, Window::at(None, 100 * HOUR), false),
            Err(StartError::TemplateRequired)
        );
    }

    #[test]
    fn start_with_a_template_outside_the_window_awaits_the_reply() {
        let c = start(None, Window::at(None, 100 * HOUR), true).unwrap();
        assert_eq!(c.state, ConversationState::AwaitingReply);
    }

    #[test]
    fn awaiting_reply_allows_only_templates() {
        let c = start(None, Window::at(None, 100 * HOUR), true).unwrap();
        let w = Window::at(None, 100 * HOUR);
        assert_eq!(decide_send(&c, &w, true), Err(SendError::AwaitingReply));
        assert_eq!(decide_send(&c, &w, false), Ok(()));
    }

    #[test]
    fn free_form_outside_the_window_is_refused_with_when_it_closed() {
        let mut c = start(None, Window::at(Some(99 * HOUR), 100 * HOUR), false).unwrap();
        c.state = ConversationState::Assigned;
        let w = Window::at(Some(0), 100 * HOUR);
        assert_eq!(
            decide_send(&c, &w, true),
            Err(SendError::WindowClosed {
                closes_at: Some(24 * HOUR)
            })
        );
        assert_eq!(decide_send(&c, &w, false), Ok(()), "templates at any time");
    }

    #[test]
    fn nothing_is_sent_in_a_closed_conversation() {
        let mut c = start(None, Window::at(Some(99 * HOUR), 100 * HOUR), false).unwrap();
        c.state = ConversationState::Closed;
        assert_eq!(
            decide_send(&c, &Window::at(Some(99 * HOUR), 100 * HOUR), false),
            Err(SendError::Closed)
        );
    }

    #[test]
    fn reply_to_an_awaiting_conversation_goes_on_with_the_agent() {
        let c = start(None, Window::at(None, 100 * HOUR), true).unwrap();
        let InboundDecision::Append(next) = decide_inbound(
            Some(&c),
            &channel(),
            "554832817000",
            || "x".into(),
            101 * HOUR,
            101 * HOUR,
        ) else {
            panic!("append")
        };
        assert_eq!(next.state, ConversationState::Assigned);
        assert_eq!(next.agent.as_deref(), Some("agent-1"));
    }
}
