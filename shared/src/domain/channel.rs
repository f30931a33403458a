//! A channel is one business number and its settings: a WhatsApp number (Meta's
//! `phone_number_id`) or an SMS origination number (AWS End User Messaging SMS).
//!
//! The kind is read from the id, the one place both kinds name their channels: an SMS
//! channel is `sms-{its number's digits}`, so an inbound SMS finds its channel from the
//! number it was sent to without a lookup; Meta's ids are digits only. Everything that
//! differs between the kinds is a method of [`ChannelKind`], never a comparison at the
//! call site.

use super::sms::{SmsError, SmsSegments};
use super::{Millis, Window};
use serde::{Deserialize, Serialize};

/// What carries a channel's messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ChannelKind {
    Whatsapp,
    Sms,
}

/// The prefix of an SMS channel's id.
pub const SMS_CHANNEL_PREFIX: &str = "sms-";

/// WhatsApp's limit on a text message's body, in characters.
pub const WHATSAPP_MAX_TEXT: usize = 4096;

/// Why a text cannot be sent on a channel.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TextError {
    #[error("text is limited to {max} characters")]
    TooLong { max: usize },
    #[error(transparent)]
    Sms(#[from] SmsError),
}

impl ChannelKind {
    /// The kind of the channel with this id.
    pub fn of(channel_id: &str) -> Self {
        if channel_id.starts_with(SMS_CHANNEL_PREFIX) {
            Self::Sms
        } else {
            Self::Whatsapp
        }
    }

    /// The id of the SMS channel of this origination number (digits, `+` ignored).
    pub fn sms_channel_id(number: &str) -> String {
        let digits: String = number.chars().filter(char::is_ascii_digit).collect();
        format!("{SMS_CHANNEL_PREFIX}{digits}")
    }

    /// May a business message be free text now? WhatsApp: inside the 24-hour window
    /// (closed early when Meta said so); SMS has no window: always.
    pub fn window(
        self,
        last_inbound_at: Option<Millis>,
        closed_by_provider_at: Option<Millis>,
        now: Millis,
    ) -> Window {
        match self {
            Self::Whatsapp => Window::of(last_inbound_at, closed_by_provider_at, now),
            Self::Sms => Window::always_open(last_inbound_at),
        }
    }

    /// Does the channel send approved templates (HSM)? SMS sends text only.
    pub fn has_templates(self) -> bool {
        matches!(self, Self::Whatsapp)
    }

    /// Does the channel tell the contact their messages were read (WhatsApp's blue
    /// ticks)? SMS has no read receipts.
    pub fn has_read_receipts(self) -> bool {
        matches!(self, Self::Whatsapp)
    }

    /// Does the channel carry media, locations, reactions and interactive messages?
    pub fn has_rich_content(self) -> bool {
        matches!(self, Self::Whatsapp)
    }

    /// Can this text be sent, and as how many SMS segments (SMS only)?
    pub fn check_text(self, text: &str) -> Result<Option<SmsSegments>, TextError> {
        match self {
            Self::Whatsapp if text.chars().count() > WHATSAPP_MAX_TEXT => Err(TextError::TooLong {
                max: WHATSAPP_MAX_TEXT,
            }),
            Self::Whatsapp => Ok(None),
            Self::Sms => Ok(Some(super::sms::segments(text)?)),
        }
    }
}

pub type ChannelId = String;

pub const MIN_AUTO_CLOSE_HOURS: u32 = 1;
pub const MAX_AUTO_CLOSE_HOURS: u32 = 72;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Channel {
    /// Meta's `phone_number_id`, or `sms-{digits}` for an SMS number ([`ChannelKind`]).
    pub id: ChannelId,
    /// The business number as digits, e.g. `554830000001`.
    pub display_number: String,
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub color: String,
    /// WhatsApp Business Account id, for the template catalogue.
    #[serde(default)]
    pub waba_id: String,
    /// May agents start conversations from this channel.
    #[serde(default)]
    pub outbound_enabled: bool,
    /// The queue new inbound conversations enter.
    #[serde(default = "default_queue")]
    pub default_queue: String,
    /// Idle conversations close after this many hours (1..=72); 0 in a stored record
    /// means "the stack's default" and is filled in when the channel is read.
    #[serde(default)]
    pub auto_close_hours: u32,
    /// SSM parameter with this channel's Graph API token, when not the stack's default.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token_parameter: Option<String>,
    /// Where new inbound conversations go; none means the default queue.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub routing: Option<super::routing::Routing>,
    /// Replies to conversations the business started without an agent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub active_routing: Option<super::routing::ActiveRouting>,
    /// When not empty, only these numbers are served.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub allowlist: Vec<String>,
    /// Messages this close together reach the assistant as one turn (0 = off).
    #[serde(default)]
    pub grouping_seconds: u32,
    #[serde(default)]
    pub handoff: super::routing::HandoffSettings,
    /// What to do with a send whose outcome stayed unknown (no status arrived within the
    /// reconcile delay): send it again, or fail it.
    #[serde(default)]
    pub ambiguous_send: AmbiguousSend,
    /// Business-started sends per second this number may make (Meta's default 80, up to
    /// 1,000): campaigns of the channel share it.
    #[serde(default = "default_throughput")]
    pub throughput_per_second: u32,
    /// Unique contacts reached with business-started conversations in any rolling 24
    /// hours (Meta's messaging limit tier); none means unlimited.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub messaging_limit: Option<u32>,
    /// Answers that opt a contact out of campaigns.
    #[serde(default = "super::campaign::default_opt_out_keywords")]
    pub opt_out_keywords: Vec<String>,
    /// SMS: the origination identity sends go from (a phone number, its ARN or a pool's
    /// ARN); none means `+{display_number}`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub origination_identity: Option<String>,
    /// Settings version: every change is conditional on it (`If-Match`).
    #[serde(default)]
    pub version: u64,
}

/// A channel's policy for a send the provider may or may not have accepted.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AmbiguousSend {
    /// Send again once the reconcile delay passed without a status (the default).
    #[default]
    Retry,
    /// Fail the message with `outcome_unknown`: never risk a second delivery.
    Fail,
}

impl Channel {
    pub fn kind(&self) -> ChannelKind {
        ChannelKind::of(&self.id)
    }

    /// Where an SMS channel's sends go from.
    pub fn sms_origination(&self) -> String {
        self.origination_identity
            .clone()
            .unwrap_or_else(|| format!("+{}", self.display_number))
    }

    /// The routing in force: the configured one, or the default queue.
    pub fn effective_routing(&self) -> super::routing::Routing {
        self.routing
            .clone()
            .unwrap_or_else(|| super::routing::Routing::Queue {
                queue: self.default_queue.clone(),
                welcome_message: None,
            })
    }

    /// Is this contact served (the allowlist is empty or names it)?
    pub fn serves(&self, contact: &str) -> bool {
        self.allowlist.is_empty() || self.allowlist.iter().any(|p| p == contact)
    }
}

fn default_throughput() -> u32 {
    super::campaign::DEFAULT_RATE
}

/// The messaging-limit tiers Meta assigns a number (unique contacts per rolling 24 h).
pub const MESSAGING_LIMITS: [u32; 4] = [250, 2_000, 10_000, 100_000];

fn default_queue() -> String {
    "support".to_owned()
}

fn default_auto_close_hours() -> u32 {
    24
}

impl Channel {
    pub fn new(id: impl Into<String>, display_number: impl Into<String>) -> Self {
        Self {
            id: id.into(),
            display_number: display_number.into(),
            name: String::new(),
            color: String::new(),
            waba_id: String::new(),
            outbound_enabled: false,
            default_queue: default_queue(),
            auto_close_hours: default_auto_close_hours(),
            token_parameter: None,
            routing: None,
            active_routing: None,
            allowlist: Vec::new(),
            grouping_seconds: 0,
            handoff: Default::default(),
            ambiguous_send: AmbiguousSend::Retry,
            throughput_per_second: default_throughput(),
            messaging_limit: None,
            opt_out_keywords: super::campaign::default_opt_out_keywords(),
            origination_identity: None,
            version: 0,
        }
    }
}

#[cfg(test)]
mod kind_tests {
    use super::*;

    const HOUR: Millis = 3_600_000;

    #[test]
    fn a_channel_is_sms_when_its_id_is_sms_and_its_number_else_whatsapp() {
        assert_eq!(ChannelKind::of("100000000000001"), ChannelKind::Whatsapp);
        assert_eq!(ChannelKind::of("sms-554830000099"), ChannelKind::Sms);
        assert_eq!(
            ChannelKind::sms_channel_id("+55 48 3000-0099"),
            "sms-554830000099"
        );
        assert_eq!(
            Channel::new("sms-554830000099", "554830000099").kind(),
            ChannelKind::Sms
        );
    }

    #[test]
    fn sms_has_no_24_hour_window_free_text_at_any_time() {
        let sms = ChannelKind::Sms;
        assert!(
            sms.window(None, None, 100 * HOUR).open,
            "a contact who never wrote"
        );
        assert!(
            sms.window(Some(0), None, 25 * HOUR).open,
            "25 h after the last message"
        );
        assert!(!sms.window(Some(0), None, 25 * HOUR).requires_template());
        let wa = ChannelKind::Whatsapp;
        assert!(!wa.window(Some(0), None, 25 * HOUR).open);
        assert!(!wa.window(None, None, HOUR).open);
    }

    #[test]
    fn sms_has_no_templates_and_no_rich_content() {
        assert!(!ChannelKind::Sms.has_templates());
        assert!(!ChannelKind::Sms.has_rich_content());
        assert!(ChannelKind::Whatsapp.has_templates());
        assert!(ChannelKind::Whatsapp.has_rich_content());
    }

    #[test]
    fn a_text_is_checked_by_the_kinds_own_length_rule() {
        assert_eq!(
            ChannelKind::Whatsapp.check_text(&"a".repeat(4096)),
            Ok(None)
        );
        assert_eq!(
            ChannelKind::Whatsapp.check_text(&"a".repeat(4097)),
            Err(TextError::TooLong { max: 4096 })
        );
        let two = ChannelKind::Sms
            .check_text(&"a".repeat(161))
            .unwrap()
            .unwrap();
        assert_eq!(two.segments, 2);
        assert!(matches!(
            ChannelKind::Sms.check_text(&"a".repeat(1531)),
            Err(TextError::Sms(SmsError::TooLong { .. }))
        ));
    }

    #[test]
    fn an_sms_channel_sends_from_its_number_unless_an_identity_is_set() {
        let mut c = Channel::new("sms-554830000099", "554830000099");
        assert_eq!(c.sms_origination(), "+554830000099");
        c.origination_identity = Some("arn:aws:sms-voice:us-east-1:1:pool/pool-1".into());
        assert_eq!(
            c.sms_origination(),
            "arn:aws:sms-voice:us-east-1:1:pool/pool-1"
        );
    }
}
