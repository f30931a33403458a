//! Agents as data (Voitel Lynk's "atendentes"): who they are, which queues they serve,
//! how many conversations they take at once, and whether they are online now.

use super::Millis;
use serde::{Deserialize, Serialize};

/// What the agent says about itself (`PUT /v1/agents/me/status`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum AgentStatus {
    Available,
    Away,
    #[default]
    Offline,
}

impl AgentStatus {
    pub fn parse(raw: &str) -> Option<Self> {
        match raw {
            "available" => Some(Self::Available),
            "away" => Some(Self::Away),
            "offline" => Some(Self::Offline),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Available => "available",
            Self::Away => "away",
            Self::Offline => "offline",
        }
    }
}

/// An agent record. `connections`, `offline_after`, `active` and `last_assigned_at` are
/// kept by the store (WebSocket connects and disconnects, assignments); the rest is what a
/// supervisor and the agent set.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct Agent {
    /// The token subject. An agent item first written by a load move has no `sub`
    /// attribute yet: the store fills it from the key.
    #[serde(default)]
    pub sub: String,
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub queues: Vec<String>,
    /// Conversations at once; `None`: the queue's default.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_concurrent: Option<u32>,
    #[serde(default)]
    pub status: AgentStatus,
    /// Open WebSocket connections of the agent.
    #[serde(default)]
    pub connections: u32,
    /// When the last connection closed, plus the grace period: online until then.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub offline_after: Option<Millis>,
    /// Open conversations the agent has (counted by the store with each assignment).
    #[serde(default)]
    pub active: u32,
    /// When the agent was last given a conversation (round robin takes the longest idle).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_assigned_at: Option<Millis>,
    /// A supervisor registered it (`PUT /v1/agents/{sub}`): a transfer may name it.
    #[serde(default)]
    pub registered: bool,
    /// Optimistic-concurrency counter of the presence fields.
    #[serde(default)]
    pub presence_version: u64,
}

/// Conversations an agent takes at once when neither it nor the queue says.
pub const DEFAULT_MAX_CONCURRENT: u32 = 5;

impl Agent {
    pub fn new(sub: &str) -> Self {
        Self {
            sub: sub.to_owned(),
            ..Self::default()
        }
    }

    /// Connected (or within the grace period after the last connection closed) and not
    /// signed off.
    pub fn online(&self, now: Millis) -> bool {
        self.status != AgentStatus::Offline
            && (self.connections > 0 || self.offline_after.is_some_and(|t| now < t))
    }

    /// Online and taking work.
    pub fn available(&self, now: Millis) -> bool {
        self.status == AgentStatus::Available && self.online(now)
    }

    pub fn serves(&self, queue: &str) -> bool {
        self.queues.iter().any(|q| q == queue)
    }

    /// The agent's own limit, else the queue's, else [`DEFAULT_MAX_CONCURRENT`].
    pub fn capacity(&self, queue_default: Option<u32>) -> u32 {
        self.max_concurrent
            .or(queue_default)
            .unwrap_or(DEFAULT_MAX_CONCURRENT)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn agent(status: AgentStatus, connections: u32, offline_after: Option<Millis>) -> Agent {
        Agent {
            status,
            connections,
            offline_after,
            ..Agent::new("ana")
        }
    }

    #[test]
    fn an_agent_with_an_open_connection_and_available_is_online() {
        assert!(agent(AgentStatus::Available, 1, None).available(0));
        assert!(!agent(AgentStatus::Available, 0, None).online(0));
        assert!(agent(AgentStatus::Away, 2, None).online(0));
        assert!(!agent(AgentStatus::Away, 2, None).available(0));
        assert!(!agent(AgentStatus::Offline, 2, None).online(0));
    }

    #[test]
    fn the_last_connection_gone_makes_it_offline_after_the_grace_period() {
        let a = agent(AgentStatus::Available, 0, Some(30_000));
        assert!(a.available(29_999));
        assert!(!a.online(30_000));
    }

    #[test]
    fn the_agents_limit_wins_over_the_queues() {
        let mut a = Agent::new("ana");
        assert_eq!(a.capacity(None), DEFAULT_MAX_CONCURRENT);
        assert_eq!(a.capacity(Some(2)), 2);
        a.max_concurrent = Some(7);
        assert_eq!(a.capacity(Some(2)), 7);
    }
}
