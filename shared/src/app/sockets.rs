//! The WebSocket API's `$connect` and `$disconnect` (function `ws-connect`): a browser
//! cannot set headers on a WebSocket, so the token comes as `?token=`, checked like the
//! HTTP API's JWT authorizer; the connection is stored by who may hear what, and an
//! agent's connections make it online ([`super::presence`]).

use super::auth::{caller_of_claims, Role};
use super::presence::{Move, Presence};
use crate::ports::{Clock, Connection, ConnectionStore, TokenVerifier};
use std::sync::Arc;

/// API Gateway closes a WebSocket connection after two hours; its items go with it.
const CONNECTION_TTL_SECS: i64 = 2 * 3600 + 300;

pub struct Sockets {
    pub connections: Arc<dyn ConnectionStore>,
    pub presence: Presence,
    pub verifier: Arc<dyn TokenVerifier>,
    pub clock: Arc<dyn Clock>,
}

/// Why a connection is refused (the handshake's status).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refused {
    #[error("a valid token is required (?token=)")]
    Unauthorized,
    #[error("the token's role may not connect")]
    Forbidden,
    #[error("the connection could not be stored: {0}")]
    Unavailable(String),
}

impl Refused {
    pub fn status(&self) -> u16 {
        match self {
            Self::Unauthorized => 401,
            Self::Forbidden => 403,
            Self::Unavailable(_) => 500,
        }
    }
}

impl Sockets {
    pub async fn connect(
        &self,
        connection_id: &str,
        token: Option<&str>,
    ) -> Result<Connection, Refused> {
        let token = token
            .filter(|t| !t.is_empty())
            .ok_or(Refused::Unauthorized)?;
        let claims = self
            .verifier
            .verify(token)
            .await
            .ok_or(Refused::Unauthorized)?;
        let who = caller_of_claims(&claims).map_err(|_| Refused::Unauthorized)?;
        if who.role == Role::Assistant {
            return Err(Refused::Forbidden);
        }
        let now = self.clock.now();
        let connection = Connection {
            id: connection_id.to_owned(),
            sub: who.sub.clone(),
            role: match who.role {
                Role::Supervisor => "supervisor",
                Role::Agent => "agent",
                _ => "system",
            }
            .to_owned(),
            queues: who.queues.clone(),
            connected_at: now,
        };
        self.connections
            .add_connection(&connection, now / 1000 + CONNECTION_TTL_SECS)
            .await
            .map_err(|e| Refused::Unavailable(e.to_string()))?;
        if matches!(who.role, Role::Agent | Role::Supervisor) {
            self.presence
                .apply(
                    &who.sub,
                    Move::Connected {
                        queues: &who.queues,
                    },
                )
                .await
                .map_err(|e| Refused::Unavailable(e.to_string()))?;
        }
        tracing::info!(connection = %connection_id, agent = %who.sub, "websocket connected");
        Ok(connection)
    }

    /// `$disconnect` (or a push that found the connection gone).
    pub async fn disconnect(&self, connection_id: &str) -> Result<(), crate::ports::PortError> {
        if let Some(c) = self.connections.remove_connection(connection_id).await? {
            if c.role == "agent" || c.role == "supervisor" {
                self.presence.apply(&c.sub, Move::Disconnected).await?;
            }
            tracing::info!(connection = %connection_id, agent = %c.sub, "websocket disconnected");
        }
        Ok(())
    }
}
