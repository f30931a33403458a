//! A channel is one WhatsApp business number (Meta `phone_number_id`) and its settings.

use serde::{Deserialize, Serialize};

pub type ChannelId = String;

pub const MIN_AUTO_CLOSE_HOURS: u32 = 1;
pub const MAX_AUTO_CLOSE_HOURS: u32 = 72;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Channel {
    /// Meta's `phone_number_id`.
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
            version: 0,
        }
    }
}
