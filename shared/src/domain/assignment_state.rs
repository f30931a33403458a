//! What a conversation carries for automatic assignment (its reply deadline, the
//! notices it got, the agent it is counted for) and a queue's position notice: data
//! only, so `conversation` and `workspace` hold it without importing the engine's rules.

use super::Millis;
use serde::{Deserialize, Serialize};

/// A conversation's assignment bookkeeping.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct AssignmentState {
    /// The agent whose open-conversation count (`Agent::active`) includes this
    /// conversation. Kept by the store, in the same write as the conversation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub load_of: Option<String>,
    /// The queue's `reassign_after_seconds` when conversa assigned it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reply_within: Option<u32>,
    /// The contact wrote and no agent answered yet: by then the agent must answer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reply_due_at: Option<Millis>,
    /// When the one live no-reply check fires (a timer due then).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reply_check_at: Option<Millis>,
    /// The queue's offline notice was sent (once per conversation).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub offline_notified: bool,
    /// When the contact was last told its position.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub position_told_at: Option<Millis>,
}

/// A queue's position notice: `message` with `{position}` replaced, at most once every
/// `every_minutes` per conversation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PositionNotice {
    pub message: String,
    #[serde(default = "default_every")]
    pub every_minutes: u32,
}

fn default_every() -> u32 {
    5
}
