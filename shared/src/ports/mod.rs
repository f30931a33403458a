//! The small traits use cases need, each as small as its callers. One AWS adapter each
//! lives in [`crate::aws`]; `docs/architecture.md` maps which function uses which port.
//!
//! - [`store`]: the table, cut by aggregate (channels, templates, contacts,
//!   conversations, message log, inbound log, send ledger, queues, work lists, expiry).
//! - [`records`]: what those ports read and write (write sets, outcomes, keys, pages).
//! - [`outside`]: everything beyond the table: events, queues, timers, the provider, secrets,
//!   metrics.

pub mod agents;
pub mod outside;
pub mod records;
pub mod store;

pub use agents::*;
pub use outside::*;
pub use records::*;
pub use store::*;

use crate::domain::Millis;
use serde::Serialize;

/// A failure of the infrastructure behind a port. Use cases treat it as retryable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{service}: {message}")]
pub struct PortError {
    pub service: &'static str,
    pub message: String,
}

impl PortError {
    pub fn new(service: &'static str, message: impl std::fmt::Display) -> Self {
        Self {
            service,
            message: message.to_string(),
        }
    }
}

pub type PortResult<T> = Result<T, PortError>;

/// The only way the application reads time.
pub trait Clock: Send + Sync {
    fn now(&self) -> Millis;
}

pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> Millis {
        chrono::Utc::now().timestamp_millis()
    }
}

/// A page of results and the opaque cursor of the next one.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Page<T> {
    pub items: Vec<T>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_cursor: Option<String>,
}
