//! The campaign dispatcher, run by the timers function (`handoff-timeout`) on
//! `CampaignDispatch` timers: a scheduled campaign starts at `schedule_at`; a sending one
//! goes through its recipients a page per second (a page is at most the campaign's rate),
//! each recipient skipped or sent in its own transaction (its conversation, the template
//! message, the send, the recipient's move and the counters together), so a redelivered
//! timer or two dispatchers never send a recipient twice. The campaign item names the one
//! live timer (`dispatch_due`); any other is stale. No process holds a campaign in memory.

use super::events;
use super::ids::new_id;
use super::outbound_item::{payload_of, OutboundItem};
use crate::domain::campaign::{
    self, Campaign, CampaignStatus, Dispatch, PauseReason, Recipient, RecipientStatus,
};
use crate::domain::inbound::{Timer, TimerKind};
use crate::domain::{
    template::Template, Channel, DeliveryStatus, Direction, Message, MessageContent, Millis,
};
use crate::ports::{
    CampaignStore, ChannelStore, Clock, ContactStore, ConversationStore, Effects, MessageKey,
    PortError, Reach, StartWrite, TemplateCatalogue, TimerService, WriteOutcome,
};
use futures::StreamExt;
use std::sync::Arc;

/// Recipients of one page worked at once.
const CONCURRENCY: usize = 16;
const HOUR_MS: Millis = 3_600_000;
/// How long the dispatcher waits for the provider's last answers before looking again.
const ANSWERS_WAIT_MS: Millis = 5000;
/// `campaign.progress` is published at most once per this many seconds.
pub const PROGRESS_SECONDS: i64 = 10;

pub struct CampaignDispatcher {
    pub campaigns: Arc<dyn CampaignStore>,
    pub channels: Arc<dyn ChannelStore>,
    pub contacts: Arc<dyn ContactStore>,
    pub conversations: Arc<dyn ConversationStore>,
    pub templates: Arc<dyn TemplateCatalogue>,
    pub timers: Arc<dyn TimerService>,
    pub clock: Arc<dyn Clock>,
}

/// What one dispatch timer did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DispatchOutcome {
    Stale,
    Started,
    Page {
        sent: u64,
        skipped: u64,
    },
    /// The channel's messaging limit: paused until the window moves.
    LimitReached,
    Completed,
}

/// The timer that wakes the dispatcher for a campaign at `due_at`.
pub fn dispatch_timer(campaign_id: &str, due_at: Millis) -> Timer {
    Timer {
        subject: campaign_id.to_owned(),
        kind: TimerKind::CampaignDispatch,
        due_at,
    }
}

impl CampaignDispatcher {
    pub async fn fire(&self, timer: &Timer) -> Result<DispatchOutcome, PortError> {
        let now = self.clock.now();
        let Some(c) = self.campaigns.campaign(&timer.subject).await? else {
            return Ok(DispatchOutcome::Stale);
        };
        if c.dispatch_due != Some(timer.due_at) {
            return Ok(DispatchOutcome::Stale);
        }
        match c.status {
            CampaignStatus::Scheduled => {
                let at = c.schedule_at.unwrap_or(now);
                if now < at {
                    // Early (SQS delays stop at 15 minutes): look again at the time.
                    self.timers.schedule(timer, now).await?;
                    return Ok(DispatchOutcome::Stale);
                }
                let mut next = c.clone();
                next.status = CampaignStatus::Sending;
                next.started_at = Some(now);
                let effects = Effects::events([events::campaign_started(&next)]);
                if self
                    .campaigns
                    .move_campaign(&next, CampaignStatus::Scheduled, &effects)
                    .await?
                    != WriteOutcome::Committed
                {
                    return Ok(DispatchOutcome::Stale);
                }
                self.page(&next, timer, now).await?;
                Ok(DispatchOutcome::Started)
            }
            CampaignStatus::Sending => self.page(&c, timer, now).await,
            // The messaging limit's window moved on: it resumes by itself.
            CampaignStatus::Paused if c.paused_reason == Some(PauseReason::MessagingLimit) => {
                let Ok(mut next) = campaign::resume(&c, now) else {
                    return Ok(DispatchOutcome::Stale);
                };
                next.dispatch_due = c.dispatch_due;
                if self
                    .campaigns
                    .move_campaign(&next, CampaignStatus::Paused, &Effects::default())
                    .await?
                    != WriteOutcome::Committed
                {
                    return Ok(DispatchOutcome::Stale);
                }
                self.page(&next, timer, now).await
            }
            _ => Ok(DispatchOutcome::Stale),
        }
    }

    /// One page of recipients, then the next timer (or the end).
    async fn page(
        &self,
        c: &Campaign,
        timer: &Timer,
        now: Millis,
    ) -> Result<DispatchOutcome, PortError> {
        let Some(channel) = self.channels.channel(&c.channel).await? else {
            return self.fail(c, "channel_removed").await;
        };
        let template = self
            .templates
            .template(&c.channel, &c.template.name, &c.template.language)
            .await?
            .filter(Template::is_approved);
        let Some(template) = template else {
            return self.fail(c, "template_not_approved").await;
        };
        let rate = c.rate_per_second.min(channel.throughput_per_second).max(1);
        let page = self
            .campaigns
            .recipients(&c.id, None, c.dispatch_cursor.as_deref(), rate)
            .await?;
        let pending: Vec<&Recipient> = page
            .items
            .iter()
            .filter(|r| r.status == RecipientStatus::Pending)
            .collect();
        // The messaging limit: earlier hours of the day are final, so the hour's count
        // may grow to the limit less them, checked by every start's own write.
        let hour = now / HOUR_MS;
        let reach = match channel.messaging_limit {
            Some(limit) if !pending.is_empty() => {
                let earlier = self
                    .channels
                    .reached(&c.channel, hour - 24, hour - 1)
                    .await?;
                Some(Reach {
                    hour,
                    cap: u64::from(limit).saturating_sub(earlier),
                })
            }
            _ => None,
        };
        let work: Vec<_> = pending
            .iter()
            .map(|r| self.one(c, &channel, &template, r, reach, now))
            .collect();
        let results: Vec<Result<Option<bool>, PortError>> = futures::stream::iter(work)
            .buffer_unordered(CONCURRENCY)
            .collect()
            .await;
        let (mut sent, mut skipped, mut missed) = (0, 0, 0);
        for r in results {
            match r? {
                Some(true) => sent += 1,
                Some(false) => skipped += 1,
                None => missed += 1,
            }
        }
        if let Some(reach) = reach.filter(|_| missed > 0) {
            if self.channels.reached(&c.channel, hour, hour).await? >= reach.cap {
                return self.wait_for_the_limit(c, hour).await;
            }
        }
        // The next page a second after this one began: at most `rate` a second.
        let mut next_due = now + 1000;
        let next_cursor = match &page.next_cursor {
            Some(cursor) => Some(cursor.clone()),
            None => {
                let fresh = self.campaigns.campaign(&c.id).await?;
                // Completed once every recipient left pending and the provider answered
                // every send (a late 131048 must still find it sending).
                let counters = fresh.as_ref().map(|f| f.counters).unwrap_or_default();
                if counters.pending == 0 && counters.queued == 0 {
                    return self.complete(c, timer).await;
                }
                if counters.pending == 0 {
                    // Only the provider's answers are missing: look at the last page
                    // again a little later, not the whole list.
                    next_due = now + ANSWERS_WAIT_MS;
                    c.dispatch_cursor.clone()
                } else {
                    // Someone still pending (a conflict): round again from the top.
                    None
                }
            }
        };
        self.timers
            .schedule(&dispatch_timer(&c.id, next_due), now)
            .await?;
        // `campaign.progress` at most once per interval.
        let slot = now / (PROGRESS_SECONDS * 1000);
        let progress = (c.progress_slot != Some(slot)).then(|| {
            let mut latest = c.clone();
            latest.counters.queued += sent;
            latest.counters.skipped += skipped;
            latest.counters.pending = latest.counters.pending.saturating_sub(sent + skipped);
            (slot, events::campaign_progress(&latest, slot))
        });
        if !self
            .campaigns
            .advance_dispatch(
                &c.id,
                timer.due_at,
                next_cursor.as_deref(),
                next_due,
                progress,
            )
            .await?
        {
            // Another dispatcher moved on meanwhile: the timer just armed is stale.
            return Ok(DispatchOutcome::Stale);
        }
        tracing::info!(campaign_id = %c.id, sent, skipped, "campaign page dispatched");
        Ok(DispatchOutcome::Page { sent, skipped })
    }

    /// Skips or sends one pending recipient; `None` when it was not pending any more.
    async fn one(
        &self,
        c: &Campaign,
        channel: &Channel,
        template: &Template,
        r: &Recipient,
        reach: Option<Reach>,
        now: Millis,
    ) -> Result<Option<bool>, PortError> {
        let record = self.contacts.contact(&c.channel, &r.phone).await?;
        let expected_open = record.as_ref().and_then(|r| r.open_conversation_id.clone());
        let open = match &expected_open {
            Some(id) => self
                .conversations
                .conversation(id)
                .await?
                .filter(|o| o.state.is_open() && !o.is_expired(now)),
            None => None,
        };
        let opted_out = record.as_ref().is_some_and(|r| r.opted_out);
        if let Dispatch::Skip(reason) = campaign::dispatch(opted_out, open.is_some()) {
            let mut next = r.clone();
            next.status = RecipientStatus::Skipped;
            next.reason = Some(reason.to_owned());
            next.updated_at = now;
            return Ok(self
                .campaigns
                .settle_recipient(&next)
                .await?
                .then_some(false));
        }
        let conversation = campaign::recipient_conversation(c, channel, &r.phone, new_id(now), now);
        let content = MessageContent::Template {
            name: c.template.name.clone(),
            language: c.template.language.clone(),
            parameters: r.parameters.clone(),
        };
        let message = Message {
            conversation_id: conversation.id.clone(),
            id: new_id(now),
            direction: Direction::Outbound,
            content,
            at: now,
            stored_at: now,
            status: Some(DeliveryStatus::Accepted),
            error_code: None,
            context_id: None,
            sender: Some(campaign::sender(&c.id, &r.phone)),
            provider_id: None,
            sent_at: None,
            failure: None,
            outcome_unknown_since: None,
        };
        let send = OutboundItem {
            key: MessageKey::of(&message),
            message_id: message.id.clone(),
            channel: c.channel.clone(),
            to: r.phone.clone(),
            free_form: false,
            payload: payload_of(&message.content, Some(template)),
            pace: Some(c.rate_per_second.min(channel.throughput_per_second)),
        }
        .queued()
        .map_err(|e| PortError::new("campaign", e))?;
        let mut recipient = r.clone();
        recipient.status = RecipientStatus::Queued;
        recipient.conversation_id = Some(conversation.id.clone());
        recipient.message_id = Some(message.id.clone());
        recipient.updated_at = now;
        let write = StartWrite {
            effects: Effects {
                events: vec![events::conversation_opened(&conversation, &conversation.id)],
                sends: vec![send],
                ..Effects::default()
            },
            conversation,
            // A closed conversation's pointer, or none: the start takes the contact.
            expected_open,
            message: Some(message),
            recipient: Some(recipient),
            reach,
        };
        match self.conversations.start_conversation(&write, now).await? {
            WriteOutcome::Committed => Ok(Some(true)),
            // The recipient moved, or the contact wrote meanwhile: the next round sees it.
            _ => Ok(None),
        }
    }

    /// The channel reached its messaging limit: the campaign waits, and its timer wakes it
    /// when the next hour leaves the 24-hour window.
    async fn wait_for_the_limit(
        &self,
        c: &Campaign,
        hour: i64,
    ) -> Result<DispatchOutcome, PortError> {
        let Ok(mut next) = campaign::pause(c, PauseReason::MessagingLimit) else {
            return Ok(DispatchOutcome::Stale);
        };
        let due = (hour + 1) * HOUR_MS;
        next.dispatch_due = Some(due);
        let effects = Effects {
            timers: vec![dispatch_timer(&c.id, due)],
            ..Effects::default()
        };
        self.campaigns
            .move_campaign(&next, CampaignStatus::Sending, &effects)
            .await?;
        tracing::info!(campaign_id = %c.id, resumes_at = due, "campaign waits for the channel's messaging limit");
        Ok(DispatchOutcome::LimitReached)
    }

    async fn complete(&self, c: &Campaign, timer: &Timer) -> Result<DispatchOutcome, PortError> {
        let Some(fresh) = self.campaigns.campaign(&c.id).await? else {
            return Ok(DispatchOutcome::Stale);
        };
        let mut next = fresh.clone();
        next.status = CampaignStatus::Completed;
        next.completed_at = Some(self.clock.now());
        let effects = Effects::events([events::campaign_completed(&next)]);
        let moved = self
            .campaigns
            .move_campaign(&next, CampaignStatus::Sending, &effects)
            .await?;
        if moved == WriteOutcome::Committed {
            tracing::info!(campaign_id = %c.id, due = timer.due_at, "campaign completed");
            return Ok(DispatchOutcome::Completed);
        }
        Ok(DispatchOutcome::Stale)
    }

    async fn fail(&self, c: &Campaign, reason: &str) -> Result<DispatchOutcome, PortError> {
        let mut next = c.clone();
        next.status = CampaignStatus::Failed;
        next.failure_reason = Some(reason.to_owned());
        next.completed_at = Some(self.clock.now());
        let effects = Effects::events([events::campaign_completed(&next)]);
        self.campaigns
            .move_campaign(&next, c.status, &effects)
            .await?;
        tracing::warn!(campaign_id = %c.id, reason, "campaign failed");
        Ok(DispatchOutcome::Stale)
    }
}
