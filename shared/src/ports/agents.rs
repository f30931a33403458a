//! Agents, their presence and load, conversa's assignments, and the WebSocket
//! connections events are pushed to.

use super::records::{Effects, WriteOutcome};
use super::PortResult;
use crate::domain::{agent::Agent, Conversation, Message, Millis};
use async_trait::async_trait;
use serde::{Deserialize, Serialize};

/// Agent records (`AGENT#{sub}`): what supervisors set, presence, and the open
/// conversations each has (moved by the store with every conversation write).
#[async_trait]
pub trait AgentStore: Send + Sync {
    async fn agent(&self, sub: &str) -> PortResult<Option<Agent>>;
    /// Every agent known (registered or seen online), by id.
    async fn agents(&self) -> PortResult<Vec<Agent>>;
    /// A supervisor sets name, queues and limit; presence and load stay as they are.
    async fn register_agent(&self, agent: &Agent) -> PortResult<()>;
    /// Moves presence (status, connections, grace) if it is still at `expected`
    /// (`Agent::presence_version`), with the move's effects; `Conflict`: read again.
    async fn update_presence(
        &self,
        next: &Agent,
        expected: u64,
        effects: &Effects,
    ) -> PortResult<WriteOutcome>;
}

/// The new owner's count moves only if the agent is still available with room.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CapacityGuard {
    pub agent: String,
    pub max: u32,
}

/// A conversation conversa assigns, reassigns or tells something (an offline or
/// position notice), conditionally on the version read.
#[derive(Debug, Clone)]
pub struct AssignWrite {
    pub conversation: Conversation,
    pub expected_version: u64,
    pub guard: Option<CapacityGuard>,
    /// An automatic message stored with the change (its send is in `effects`).
    pub message: Option<Message>,
    pub effects: Effects,
    pub now: Millis,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AssignOutcome {
    Committed,
    /// The conversation changed since read.
    Conflict,
    /// The guarded agent is full, away or gone.
    AgentUnavailable,
}

#[async_trait]
pub trait Assignments: Send + Sync {
    async fn assign(&self, write: &AssignWrite) -> PortResult<AssignOutcome>;
}

/// One open WebSocket connection and who is behind it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Connection {
    pub id: String,
    pub sub: String,
    /// `agent`, `supervisor`, `assistant` or `system`.
    pub role: String,
    #[serde(default)]
    pub queues: Vec<String>,
    pub connected_at: Millis,
}

/// WebSocket connections, findable by who may hear about a conversation.
#[async_trait]
pub trait ConnectionStore: Send + Sync {
    /// Stores a connection until `expires_at` (seconds since the epoch, the TTL).
    async fn add_connection(&self, connection: &Connection, expires_at: i64) -> PortResult<()>;
    /// Forgets a connection; what it was, if known.
    async fn remove_connection(&self, id: &str) -> PortResult<Option<Connection>>;
    /// The connections of the members of `queues`, of `agents`, and of supervisors.
    async fn audience(&self, queues: &[String], agents: &[String]) -> PortResult<Vec<Connection>>;
}

/// What a push to one connection came to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PushOutcome {
    Delivered,
    /// The connection is gone (API Gateway's 410): forget it.
    Gone,
}

/// Posts a frame to one WebSocket connection (`ApiGatewayManagementApi.PostToConnection`).
#[async_trait]
pub trait PushChannel: Send + Sync {
    async fn push(&self, connection_id: &str, payload: &[u8]) -> PortResult<PushOutcome>;
}

/// Who a bearer token says the caller is, once its signature, issuer, audience and expiry
/// hold (the WebSocket's `$connect`; HTTP routes have API Gateway's JWT authorizer).
#[async_trait]
pub trait TokenVerifier: Send + Sync {
    /// The token's claims as API Gateway passes them (`sub`, `role`, `queues`), or
    /// `None` when it is not valid.
    async fn verify(&self, token: &str) -> Option<std::collections::HashMap<String, String>>;
}
