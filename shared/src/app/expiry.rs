//! Auto-expiry (seed 002: conversations close after 1 to 72 hours without activity).
//!
//! `auto-expiry` sweeps a sparse index of open conversations by `expires_at`, so its cost
//! grows with what is due, not with the table. Every close is conditional on the version
//! read: a message that arrived after the sweep read the conversation wins, and two
//! sweepers close each conversation once. Any code that loads an expired conversation
//! closes it first ([`close_if_expired`]), so a late sweep never lets a reply join it.

use super::events;
use super::timers::send_closing_message;
use crate::aws::store::EXPIRY_SHARDS;
use crate::domain::{conversation::CloseReason, workspace, Conversation};
use crate::ports::{Clock, ConversationStore, EventPublisher, PortError, WorkQueue, WriteOutcome};
use serde::Serialize;
use std::sync::Arc;

/// Due conversations read per query page.
pub const PAGE: u32 = 100;

/// Closes an expired conversation (reason `expired`) and tells the world; returns the
/// conversation as it now is. Losing a race means someone else changed or closed it:
/// the caller gets the fresh record.
pub async fn close_if_expired(
    store: &dyn ConversationStore,
    events: &dyn EventPublisher,
    outbound: &dyn WorkQueue,
    c: Conversation,
    now: i64,
) -> Result<(Conversation, bool), PortError> {
    if !c.is_expired(now) {
        return Ok((c, false));
    }
    let Ok(closed) = workspace::close(&c, CloseReason::Expired, c.expires_at) else {
        return Ok((c, false));
    };
    match store.update_conversation(&closed, c.version).await? {
        WriteOutcome::Committed => {
            tracing::info!(conversation_id = %c.id, "conversation expired");
            if let Some(channel) = store.channel(&c.channel).await? {
                send_closing_message(store, outbound, &channel, &closed, now).await?;
            }
            events
                .publish(&[events::conversation_closed(&closed, "conversa")])
                .await?;
            Ok((closed, true))
        }
        _ => {
            let fresh = store.conversation(&c.id).await?.unwrap_or(c);
            Ok((fresh, false))
        }
    }
}

pub struct Sweeper {
    pub store: Arc<dyn ConversationStore>,
    pub events: Arc<dyn EventPublisher>,
    pub outbound: Arc<dyn WorkQueue>,
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
                    .store
                    .due_conversations(shard, now, cursor.as_deref(), PAGE)
                    .await?;
                report.scanned += scanned;
                report.pages += 1;
                for c in page.items {
                    report.due += 1;
                    let (_, closed) = close_if_expired(
                        self.store.as_ref(),
                        self.events.as_ref(),
                        self.outbound.as_ref(),
                        c,
                        now,
                    )
                    .await?;
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
