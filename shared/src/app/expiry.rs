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
    /// Closes that failed (the next sweep tries them again); they stop nobody else.
    pub failed: u64,
    /// Shards whose read failed part-way; the other shards were still swept.
    pub failed_shards: Vec<u8>,
}

impl Sweeper {
    /// Sweeps every shard. A failure closes nothing less for the others: a conversation
    /// that cannot be closed now is counted and left to the next sweep, and a shard that
    /// cannot be read does not stop the other shards.
    pub async fn run(&self) -> Result<SweepReport, PortError> {
        let now = self.clock.now();
        let mut report = SweepReport::default();
        for shard in 0..EXPIRY_SHARDS {
            if let Err(e) = self.sweep_shard(shard, now, &mut report).await {
                tracing::error!(shard, error = %e, "expiry shard not swept; the next sweep reads it again");
                report.failed_shards.push(shard);
            }
        }
        if report.failed > 0 || !report.failed_shards.is_empty() {
            tracing::error!(?report, "expiry sweep done with failures");
        } else {
            tracing::info!(?report, "expiry sweep done");
        }
        Ok(report)
    }

    async fn sweep_shard(
        &self,
        shard: u8,
        now: i64,
        report: &mut SweepReport,
    ) -> Result<(), PortError> {
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
                let id = c.id.clone();
                match self.closer.close_if_expired(c, now).await {
                    Ok((_, true)) => report.closed += 1,
                    Ok((_, false)) => report.skipped += 1,
                    Err(e) => {
                        tracing::error!(conversation_id = %id, error = %e, "expired conversation not closed; the next sweep tries again");
                        report.failed += 1;
                    }
                }
            }
            match page.next_cursor {
                Some(next) => cursor = Some(next),
                None => return Ok(()),
            }
        }
    }
}
