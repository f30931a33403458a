//! Auto-expiry (seed 002: conversations close after 1 to 72 hours without activity).
//!
//! `auto-expiry` sweeps a sparse index of open conversations by `expires_at`, so its cost
//! grows with what is due, not with the table. Every close is conditional on the version
//! read: a message that arrived after the sweep read the conversation wins, and two
//! sweepers close each conversation once. Any code that loads an expired conversation
//! closes it first ([`Closer::close_if_expired`]), so a late sweep never lets a reply join it.

use super::closing::Closer;
use crate::ports::{Clock, ExpiryIndex, PortError, EXPIRY_SHARDS};
use serde::Serialize;
use std::sync::Arc;

/// Due conversations read per query page.
pub const PAGE: u32 = 100;

pub struct Sweeper {
    pub expiry: Arc<dyn ExpiryIndex>,
    pub closer: Closer,
    pub clock: Arc<dyn Clock>,
    /// Items per query page ([`PAGE`] in production).
    pub page_size: u32,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct SweepReport {
    /// Index items the reads examined (what the sweep costs).
    pub scanned: u64,
    pub due: u64,
    pub closed: u64,
    /// Query pages read.
    pub pages: u64,
    /// Due when read, but changed meanwhile (a message arrived, or another sweep won).
    pub skipped: u64,
}

impl Sweeper {
    pub async fn run(&self) -> Result<SweepReport, PortError> {
        let now = self.clock.now();
        let mut report = SweepReport::default();
        for shard in 0..EXPIRY_SHARDS {
            let mut cursor: Option<String> = None;
            loop {
                let (page, scanned) = self
                    .expiry
                    .due_conversations(shard, now, cursor.as_deref(), self.page_size)
                    .await?;
                report.scanned += scanned;
                report.pages += 1;
                for c in page.items {
                    report.due += 1;
                    let (_, closed) = self.closer.close_if_expired(c, now).await?;
                    if closed {
                        report.closed += 1;
                    } else {
                        report.skipped += 1;
                    }
                }
                match page.next_cursor {
                    Some(next) => cursor = Some(next),
                    None => break,
                }
            }
        }
        tracing::info!(?report, "expiry sweep done");
        Ok(report)
    }
}
