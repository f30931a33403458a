//! Presence: an agent is online while it has an open WebSocket connection (or within
//! the grace period after its last one closed) and has not signed off; available when
//! its status also says so. Every move commits with its `agent.status` event, which the
//! notifier pushes to supervisors and the assigner answers with a catch-up.

use super::events;
use crate::domain::agent::{Agent, AgentStatus};
use crate::domain::Millis;
use crate::ports::{AgentStore, Clock, Effects, PortError, PortResult, WriteOutcome};
use std::sync::Arc;

const ATTEMPTS: usize = 8;

#[derive(Clone)]
pub struct Presence {
    pub agents: Arc<dyn AgentStore>,
    pub clock: Arc<dyn Clock>,
    /// How long an agent stays online after its last connection closed.
    pub grace_millis: Millis,
}

/// What moves.
#[derive(Debug, Clone)]
pub enum Move<'a> {
    Connected { queues: &'a [String] },
    Disconnected,
    Status(AgentStatus),
}

impl Presence {
    /// Applies a move to the agent's presence (read, change, conditional write, retry).
    pub async fn apply(&self, sub: &str, change: Move<'_>) -> PortResult<Agent> {
        for _ in 0..ATTEMPTS {
            let now = self.clock.now();
            let before = self
                .agents
                .agent(sub)
                .await?
                .unwrap_or_else(|| Agent::new(sub));
            let mut next = before.clone();
            match &change {
                Move::Connected { queues } => {
                    next.connections = next.connections.saturating_add(1);
                    next.offline_after = None;
                    if next.queues.is_empty() {
                        next.queues = queues.to_vec();
                    }
                }
                Move::Disconnected => {
                    next.connections = next.connections.saturating_sub(1);
                    if next.connections == 0 {
                        next.offline_after = Some(now + self.grace_millis);
                    }
                }
                Move::Status(status) => next.status = *status,
            }
            next.presence_version = before.presence_version + 1;
            let effects = Effects::events([events::agent_status(&next, now)]);
            match self
                .agents
                .update_presence(&next, before.presence_version, &effects)
                .await?
            {
                WriteOutcome::Committed => {
                    tracing::info!(agent = %sub, status = next.status.as_str(), online = next.online(now), connections = next.connections, "presence moved");
                    return Ok(next);
                }
                _ => continue,
            }
        }
        Err(PortError::new(
            "presence",
            "the agent's presence kept changing",
        ))
    }
}
