//! The campaign dispatcher's own cost at 10,000 and 100,000 recipients: every page it
//! dispatches, with the table and the timers in memory (no network), so what is measured
//! is the dispatcher (deciding, building each conversation, message and send). Prints wall
//! time, pages and peak memory. `make bench-campaign`; figures in docs/performance.md.

use async_trait::async_trait;
use conversa::app::campaigns::{dispatch_timer, CampaignDispatcher, DispatchOutcome};
use conversa::domain::campaign::{
    Campaign, CampaignStatus, Counters, Recipient, RecipientStatus, ReplyTarget, TemplateRef,
};
use conversa::domain::inbound::Timer;
use conversa::domain::{template::Template, Channel, Conversation, Message, Millis};
use conversa::ports::*;
use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex};

/// The slice of the table the dispatcher touches, in memory.
#[derive(Default)]
struct Memory {
    campaign: Mutex<Option<Campaign>>,
    recipients: Mutex<BTreeMap<String, Recipient>>,
    conversations: Mutex<HashMap<String, Conversation>>,
    timers: Mutex<Vec<Timer>>,
    channel: Mutex<Option<Channel>>,
    template: Mutex<Option<Template>>,
}

fn unused<T>() -> PortResult<T> {
    Err(PortError::new("bench", "not used by the dispatcher"))
}

#[async_trait]
impl CampaignStore for Memory {
    async fn create_campaign(&self, c: &Campaign) -> PortResult<()> {
        *self.campaign.lock().unwrap() = Some(c.clone());
        Ok(())
    }
    async fn campaign(&self, _id: &str) -> PortResult<Option<Campaign>> {
        Ok(self.campaign.lock().unwrap().clone())
    }
    async fn campaigns(&self, _: Option<&str>, _: u32) -> PortResult<Page<Campaign>> {
        unused()
    }
    async fn move_campaign(
        &self,
        next: &Campaign,
        from: CampaignStatus,
        _: &Effects,
    ) -> PortResult<WriteOutcome> {
        let mut c = self.campaign.lock().unwrap();
        match c.as_mut() {
            Some(current) if current.status == from => {
                let counters = current.counters;
                *current = next.clone();
                current.counters = counters;
                Ok(WriteOutcome::Committed)
            }
            _ => Ok(WriteOutcome::Conflict),
        }
    }
    async fn add_recipients(&self, _: &str, recipients: &[Recipient]) -> PortResult<u64> {
        let mut all = self.recipients.lock().unwrap();
        for r in recipients {
            all.insert(r.phone.clone(), r.clone());
        }
        if let Some(c) = self.campaign.lock().unwrap().as_mut() {
            c.counters.pending = all.len() as u64;
        }
        Ok(recipients.len() as u64)
    }
    async fn recipients(
        &self,
        _: &str,
        _: Option<RecipientStatus>,
        cursor: Option<&str>,
        limit: u32,
    ) -> PortResult<Page<Recipient>> {
        let all = self.recipients.lock().unwrap();
        let items: Vec<Recipient> = match cursor {
            Some(c) => all
                .range::<String, _>((
                    std::ops::Bound::Excluded(c.to_owned()),
                    std::ops::Bound::Unbounded,
                ))
                .take(limit as usize)
                .map(|(_, r)| r.clone())
                .collect(),
            None => all.values().take(limit as usize).cloned().collect(),
        };
        let next_cursor = (items.len() == limit as usize)
            .then(|| items.last().map(|r| r.phone.clone()))
            .flatten();
        Ok(Page { items, next_cursor })
    }
    async fn settle_recipient(&self, next: &Recipient) -> PortResult<bool> {
        self.recipients
            .lock()
            .unwrap()
            .insert(next.phone.clone(), next.clone());
        Ok(true)
    }
    async fn advance_dispatch(
        &self,
        _: &str,
        expected_due: Millis,
        cursor: Option<&str>,
        next_due: Millis,
        _: Option<(i64, DomainEvent)>,
    ) -> PortResult<bool> {
        let mut c = self.campaign.lock().unwrap();
        let Some(c) = c.as_mut().filter(|c| c.dispatch_due == Some(expected_due)) else {
            return Ok(false);
        };
        c.dispatch_due = Some(next_due);
        c.dispatch_cursor = cursor.map(str::to_owned);
        Ok(true)
    }
}

#[async_trait]
impl ChannelStore for Memory {
    async fn channel(&self, _: &str) -> PortResult<Option<Channel>> {
        Ok(self.channel.lock().unwrap().clone())
    }
    async fn channels(&self) -> PortResult<Vec<Channel>> {
        unused()
    }
    async fn put_channel(&self, _: &Channel) -> PortResult<()> {
        unused()
    }
    async fn update_channel(&self, _: &Channel, _: u64) -> PortResult<bool> {
        unused()
    }
    async fn reached(&self, _: &str, _: i64, _: i64) -> PortResult<u64> {
        Ok(0)
    }
    async fn count_filtered(&self, _: &str) -> PortResult<()> {
        unused()
    }
}

#[async_trait]
impl ContactStore for Memory {
    async fn contact(&self, _: &str, _: &str) -> PortResult<Option<ContactRecord>> {
        Ok(None)
    }
    async fn close_window(&self, _: &str, _: &str, _: Millis) -> PortResult<()> {
        unused()
    }
    async fn save_profile(
        &self,
        _: &str,
        _: &str,
        _: Option<&str>,
        _: &serde_json::Map<String, serde_json::Value>,
        _: Option<bool>,
    ) -> PortResult<ContactRecord> {
        unused()
    }
    async fn opt_out(&self, _: &str, _: &str) -> PortResult<()> {
        unused()
    }
}

#[async_trait]
impl ConversationStore for Memory {
    async fn conversation(&self, id: &str) -> PortResult<Option<Conversation>> {
        Ok(self.conversations.lock().unwrap().get(id).cloned())
    }
    async fn conversations_of_contact(
        &self,
        _: &str,
        _: &str,
        _: Option<&str>,
        _: u32,
    ) -> PortResult<Page<Conversation>> {
        unused()
    }
    async fn start_conversation(&self, write: &StartWrite, _: Millis) -> PortResult<WriteOutcome> {
        // What the dispatcher reads back: the recipient's move and its counters. The
        // conversation, the message and the outbox items are the transaction's payload:
        // built (that cost is measured), not kept (the table is not the dispatcher's).
        if let Some(r) = &write.recipient {
            self.recipients
                .lock()
                .unwrap()
                .insert(r.phone.clone(), r.clone());
            if let Some(c) = self.campaign.lock().unwrap().as_mut() {
                c.counters.pending -= 1;
                c.counters.queued += 1;
            }
        }
        std::hint::black_box((&write.conversation, &write.message, &write.effects));
        Ok(WriteOutcome::Committed)
    }
    async fn update_conversation(
        &self,
        _: &Conversation,
        _: u64,
        _: &Effects,
    ) -> PortResult<WriteOutcome> {
        unused()
    }
    async fn close_conversation(
        &self,
        _: &Conversation,
        _: u64,
        _: Option<&Message>,
        _: &Effects,
    ) -> PortResult<WriteOutcome> {
        unused()
    }
    async fn remove_conversation(&self, _: &Conversation, _: &Effects) -> PortResult<WriteOutcome> {
        unused()
    }
}

#[async_trait]
impl TemplateCatalogue for Memory {
    async fn template(&self, _: &str, _: &str, _: &str) -> PortResult<Option<Template>> {
        Ok(self.template.lock().unwrap().clone())
    }
    async fn templates(&self, _: &str) -> PortResult<Vec<Template>> {
        unused()
    }
    async fn put_template(&self, _: &str, _: &Template) -> PortResult<()> {
        unused()
    }
}

#[async_trait]
impl TimerService for Memory {
    async fn schedule(&self, timer: &Timer, _: Millis) -> PortResult<()> {
        self.timers.lock().unwrap().push(timer.clone());
        Ok(())
    }
}

/// Time moves a second per page, as the timers do.
struct PageClock(AtomicI64);

impl Clock for PageClock {
    fn now(&self) -> Millis {
        self.0.load(Ordering::SeqCst)
    }
}

/// `VmHWM` (peak) or `VmRSS` (now) of this process, in KiB.
fn memory_kib(field: &str) -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with(field))
                .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        })
        .unwrap_or(0)
}

async fn run(recipients: usize) {
    let memory = Arc::new(Memory::default());
    let mut channel = Channel::new("100000000000001", "554830000001");
    channel.outbound_enabled = true;
    *memory.channel.lock().unwrap() = Some(channel);
    *memory.template.lock().unwrap() = Some(
        serde_json::from_value(serde_json::json!({
            "name": "welcome", "language": "pt_BR", "status": "APPROVED",
            "components": [{"type": "BODY", "text": "Olá {{1}}, temos uma oferta para você"}]
        }))
        .unwrap(),
    );
    let start: Millis = 1_795_600_000_000;
    let clock = Arc::new(PageClock(AtomicI64::new(start)));
    let campaign = Campaign {
        id: "bench".into(),
        name: "bench".into(),
        channel: "100000000000001".into(),
        template: TemplateRef {
            name: "welcome".into(),
            language: "pt_BR".into(),
        },
        target: ReplyTarget::Queue("sales".into()),
        schedule_at: None,
        rate_per_second: 80,
        status: CampaignStatus::Sending,
        paused_reason: None,
        failure_reason: None,
        counters: Counters::default(),
        created_at: start,
        created_by: "bench".into(),
        started_at: Some(start),
        completed_at: None,
        dispatch_cursor: None,
        dispatch_due: Some(start),
        progress_slot: None,
    };
    memory.create_campaign(&campaign).await.unwrap();
    let list: Vec<Recipient> = (0..recipients)
        .map(|i| Recipient {
            campaign_id: "bench".into(),
            phone: format!("55489{i:08}"),
            parameters: vec![format!("Cliente {i}")],
            status: RecipientStatus::Pending,
            reason: None,
            error_code: None,
            conversation_id: None,
            message_id: None,
            wamid: None,
            updated_at: start,
        })
        .collect();
    memory.add_recipients("bench", &list).await.unwrap();
    drop(list);
    let dispatcher = CampaignDispatcher {
        campaigns: memory.clone(),
        channels: memory.clone(),
        contacts: memory.clone(),
        conversations: memory.clone(),
        templates: memory.clone(),
        timers: memory.clone(),
        clock: clock.clone(),
    };
    let loaded = memory_kib("VmRSS:");
    let began = std::time::Instant::now();
    let mut timer = dispatch_timer("bench", start);
    let mut pages = 0;
    loop {
        let outcome = dispatcher.fire(&timer).await.unwrap();
        pages += 1;
        if outcome == DispatchOutcome::Completed || pages > recipients {
            break;
        }
        // The next timer; the send path's answers settle the queued ones.
        let next = memory.timers.lock().unwrap().pop();
        let Some(next) = next else { break };
        if memory
            .campaign
            .lock()
            .unwrap()
            .as_ref()
            .is_some_and(|c| c.counters.pending == 0)
        {
            if let Some(c) = memory.campaign.lock().unwrap().as_mut() {
                c.counters.sent += c.counters.queued;
                c.counters.queued = 0;
            }
        }
        clock.0.store(next.due_at, Ordering::SeqCst);
        timer = next;
    }
    let elapsed = began.elapsed();
    let c = memory.campaign.lock().unwrap().clone().unwrap();
    assert_eq!(c.status, CampaignStatus::Completed, "{:?}", c.counters);
    assert_eq!(c.counters.sent as usize, recipients);
    println!(
        "campaign dispatch: {recipients} recipients, {pages} pages, {:.2} s dispatcher time ({:.1} µs per recipient); memory: {} MiB with the recipients loaded, peak {} MiB",
        elapsed.as_secs_f64(),
        elapsed.as_secs_f64() * 1e6 / recipients as f64,
        loaded / 1024,
        memory_kib("VmHWM:") / 1024
    );
}

fn main() {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let sizes: Vec<usize> = std::env::var("CAMPAIGN_BENCH_SIZES")
        .ok()
        .map(|s| s.split(',').filter_map(|n| n.trim().parse().ok()).collect())
        .unwrap_or_else(|| vec![10_000, 100_000]);
    for n in sizes {
        runtime.block_on(run(n));
    }
}
