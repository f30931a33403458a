//! Campaigns (Voitel Lynk 004: bulk template sends whose sessions go to a queue or an
//! extension): the campaign, its lifecycle, its recipients and what happens to each.
//! Pure decisions; time is passed in.

use super::{Millis, Phone};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CampaignStatus {
    Draft,
    Scheduled,
    Sending,
    Paused,
    Completed,
    Cancelled,
    Failed,
}

/// Why a campaign waits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PauseReason {
    /// A supervisor paused it.
    Operator,
    /// The channel reached its messaging limit; it resumes by itself.
    MessagingLimit,
    /// The provider said the number is sending too much spam (131048).
    SpamRateLimit,
}

/// Where the contacts' replies go: a queue, or one agent (the manual's extension).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ReplyTarget {
    Queue(String),
    Agent(String),
}

/// The template every recipient gets, with its own parameters.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TemplateRef {
    pub name: String,
    pub language: String,
}

/// Exact counts of recipients by where they are.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Counters {
    #[serde(default)]
    pub pending: u64,
    /// Handed to the send path, the provider's answer not in yet.
    #[serde(default)]
    pub queued: u64,
    #[serde(default)]
    pub skipped: u64,
    #[serde(default)]
    pub sent: u64,
    #[serde(default)]
    pub delivered: u64,
    #[serde(default)]
    pub read: u64,
    #[serde(default)]
    pub replied: u64,
    #[serde(default)]
    pub failed: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Campaign {
    pub id: String,
    pub name: String,
    pub channel: String,
    pub template: TemplateRef,
    pub target: ReplyTarget,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub schedule_at: Option<Millis>,
    pub rate_per_second: u32,
    pub status: CampaignStatus,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub paused_reason: Option<PauseReason>,
    /// Why a `failed` campaign stopped (`template_not_approved`, `channel_removed`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failure_reason: Option<String>,
    #[serde(flatten)]
    pub counters: Counters,
    pub created_at: Millis,
    pub created_by: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub started_at: Option<Millis>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub completed_at: Option<Millis>,
    /// The last recipient the dispatcher looked at (recipients go in phone order).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dispatch_cursor: Option<String>,
    /// When the one live dispatch timer is due: any other timer is stale.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dispatch_due: Option<Millis>,
    /// The progress interval `campaign.progress` was last published in.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub progress_slot: Option<i64>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RecipientStatus {
    Pending,
    /// Its conversation started and its send is queued; the provider has not answered.
    Queued,
    Skipped,
    Sent,
    Delivered,
    Read,
    Replied,
    Failed,
}

impl RecipientStatus {
    /// Statuses only move forward; a late `delivered` after `read` changes nothing.
    pub fn rank(self) -> u8 {
        match self {
            RecipientStatus::Pending => 0,
            RecipientStatus::Queued => 1,
            RecipientStatus::Skipped | RecipientStatus::Failed => 9,
            RecipientStatus::Sent => 2,
            RecipientStatus::Delivered => 3,
            RecipientStatus::Read => 4,
            RecipientStatus::Replied => 5,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Recipient {
    pub campaign_id: String,
    pub phone: String,
    #[serde(default)]
    pub parameters: Vec<String>,
    pub status: RecipientStatus,
    /// Why skipped or failed (`conversation_in_progress`, `opted_out`, a provider code).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_code: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub conversation_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub wamid: Option<String>,
    pub updated_at: Millis,
}

/// Meta's default throughput per business number, and the most a channel may set.
pub const DEFAULT_RATE: u32 = 80;
pub const MAX_RATE: u32 = 1000;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CampaignError {
    #[error("the campaign is {status:?}; {action} needs it {expected}")]
    WrongStatus {
        status: CampaignStatus,
        action: &'static str,
        expected: &'static str,
    },
    #[error("the campaign has no recipients to send to")]
    NoRecipients,
}

/// Start now, or at `schedule_at` when that is still ahead.
pub fn start(c: &Campaign, now: Millis) -> Result<Campaign, CampaignError> {
    if c.status != CampaignStatus::Draft {
        return Err(CampaignError::WrongStatus {
            status: c.status,
            action: "start",
            expected: "draft",
        });
    }
    if c.counters.pending == 0 {
        return Err(CampaignError::NoRecipients);
    }
    let mut next = c.clone();
    if c.schedule_at.is_some_and(|at| at > now) {
        next.status = CampaignStatus::Scheduled;
    } else {
        next.status = CampaignStatus::Sending;
        next.started_at = Some(now);
    }
    Ok(next)
}

pub fn pause(c: &Campaign, reason: PauseReason) -> Result<Campaign, CampaignError> {
    if !matches!(
        c.status,
        CampaignStatus::Sending | CampaignStatus::Scheduled
    ) {
        return Err(CampaignError::WrongStatus {
            status: c.status,
            action: "pause",
            expected: "sending or scheduled",
        });
    }
    let mut next = c.clone();
    next.status = CampaignStatus::Paused;
    next.paused_reason = Some(reason);
    Ok(next)
}

pub fn resume(c: &Campaign, now: Millis) -> Result<Campaign, CampaignError> {
    if c.status != CampaignStatus::Paused {
        return Err(CampaignError::WrongStatus {
            status: c.status,
            action: "resume",
            expected: "paused",
        });
    }
    let mut next = c.clone();
    next.paused_reason = None;
    if c.schedule_at.is_some_and(|at| at > now) && c.started_at.is_none() {
        next.status = CampaignStatus::Scheduled;
    } else {
        next.status = CampaignStatus::Sending;
        next.started_at.get_or_insert(now);
    }
    Ok(next)
}

pub fn cancel(c: &Campaign) -> Result<Campaign, CampaignError> {
    if matches!(
        c.status,
        CampaignStatus::Completed | CampaignStatus::Cancelled | CampaignStatus::Failed
    ) {
        return Err(CampaignError::WrongStatus {
            status: c.status,
            action: "cancel",
            expected: "not ended",
        });
    }
    let mut next = c.clone();
    next.status = CampaignStatus::Cancelled;
    Ok(next)
}

/// What the dispatcher does with one pending recipient.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Dispatch {
    Send,
    Skip(&'static str),
}

/// Skip, don't spam: an opted-out contact or one already in a conversation on the
/// channel is skipped, never sent.
pub fn dispatch(opted_out: bool, open_conversation: bool) -> Dispatch {
    if opted_out {
        Dispatch::Skip("opted_out")
    } else if open_conversation {
        Dispatch::Skip("conversation_in_progress")
    } else {
        Dispatch::Send
    }
}

/// The conversation a sent recipient starts: business-started by the campaign, waiting
/// for the reply, assigned to the campaign's queue or agent (the manual's "grupo de
/// campanhas"), so the reply goes there.
pub fn recipient_conversation(
    campaign: &Campaign,
    channel: &super::Channel,
    phone: &str,
    id: String,
    now: Millis,
) -> super::Conversation {
    use super::conversation::{Conversation, ConversationState, Origin};
    let (queue, agent) = match &campaign.target {
        ReplyTarget::Queue(q) => (Some(q.clone()), None),
        ReplyTarget::Agent(a) => (None, Some(a.clone())),
    };
    Conversation {
        id,
        channel: channel.id.clone(),
        contact: phone.to_owned(),
        origin: Origin::Campaign,
        state: ConversationState::AwaitingReply,
        close_reason: None,
        assigned_at: agent.as_ref().map(|_| now),
        queue,
        agent,
        archived: false,
        opened_at: now,
        updated_at: now,
        last_inbound_at: None,
        closed_at: None,
        expires_at: now + i64::from(channel.auto_close_hours) * 3_600_000,
        message_count: 1,
        unread_count: 0,
        last_inbound_id: None,
        queued_at: None,
        held_from: None,
        assistant: None,
        menu_attempts: 0,
        handoff: None,
        turn_deadline: None,
        last_turn_at: None,
        assignment: Default::default(),
        campaign: Some(campaign.id.clone()),
        version: 1,
    }
}

/// Who sent a campaign's message (`Message::sender`): the campaign and the recipient.
pub fn sender(campaign_id: &str, phone: &str) -> String {
    format!("campaign:{campaign_id}:{phone}")
}

/// The campaign and phone a message was sent for, if a campaign sent it.
pub fn of_sender(sender: Option<&str>) -> Option<(&str, &str)> {
    sender?.strip_prefix("campaign:")?.split_once(':')
}

/// One recipient line, checked: the phone rule of the Dígitro manual and the template's
/// parameter count.
pub fn check_recipient(
    phone: &str,
    parameters: &[String],
    expected_parameters: usize,
) -> Result<Phone, String> {
    let phone = Phone::parse(phone).map_err(|e| e.to_string())?;
    if parameters.len() != expected_parameters {
        return Err(format!(
            "the template takes {expected_parameters} parameters, the line has {}",
            parameters.len()
        ));
    }
    if let Some(i) = parameters.iter().position(|p| p.trim().is_empty()) {
        return Err(format!("parameter {} is empty", i + 1));
    }
    if let Some(i) = parameters.iter().position(|p| p.chars().count() > 1024) {
        return Err(format!("parameter {} is over 1024 characters", i + 1));
    }
    Ok(phone)
}

/// The opt-out keywords of a channel (default PARAR, SAIR, STOP): the whole answer,
/// trimmed, any case.
pub fn is_opt_out(text: &str, keywords: &[String]) -> bool {
    let answer = text.trim();
    keywords.iter().any(|k| k.eq_ignore_ascii_case(answer))
}

pub fn default_opt_out_keywords() -> Vec<String> {
    ["PARAR", "SAIR", "STOP"].map(String::from).to_vec()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn draft(pending: u64) -> Campaign {
        Campaign {
            id: "c1".into(),
            name: "Black Friday".into(),
            channel: "100000000000001".into(),
            template: TemplateRef {
                name: "welcome".into(),
                language: "pt_BR".into(),
            },
            target: ReplyTarget::Queue("sales".into()),
            schedule_at: None,
            rate_per_second: DEFAULT_RATE,
            status: CampaignStatus::Draft,
            paused_reason: None,
            failure_reason: None,
            counters: Counters {
                pending,
                ..Counters::default()
            },
            created_at: 0,
            created_by: "boss".into(),
            started_at: None,
            completed_at: None,
            dispatch_cursor: None,
            dispatch_due: None,
            progress_slot: None,
        }
    }

    #[test]
    fn a_campaign_starts_now_or_at_its_schedule() {
        let now = start(&draft(1), 10).unwrap();
        assert_eq!(
            (now.status, now.started_at),
            (CampaignStatus::Sending, Some(10))
        );
        let mut later = draft(1);
        later.schedule_at = Some(100);
        assert_eq!(start(&later, 10).unwrap().status, CampaignStatus::Scheduled);
        assert_eq!(start(&draft(0), 10), Err(CampaignError::NoRecipients));
    }

    #[test]
    fn pause_resume_and_cancel_follow_the_lifecycle() {
        let sending = start(&draft(1), 10).unwrap();
        let paused = pause(&sending, PauseReason::Operator).unwrap();
        assert_eq!(paused.paused_reason, Some(PauseReason::Operator));
        let resumed = resume(&paused, 20).unwrap();
        assert_eq!(
            (resumed.status, resumed.started_at),
            (CampaignStatus::Sending, Some(10))
        );
        assert!(resume(&resumed, 20).is_err());
        let cancelled = cancel(&resumed).unwrap();
        assert!(cancel(&cancelled).is_err());
        assert!(pause(&draft(1), PauseReason::Operator).is_err());
    }

    #[test]
    fn skip_dont_spam() {
        assert_eq!(dispatch(true, false), Dispatch::Skip("opted_out"));
        assert_eq!(
            dispatch(false, true),
            Dispatch::Skip("conversation_in_progress")
        );
        assert_eq!(dispatch(false, false), Dispatch::Send);
    }

    #[test]
    fn recipients_are_checked_line_by_line() {
        assert!(check_recipient("554832817000", &["Ana".into()], 1).is_ok());
        assert!(check_recipient("4832817000x", &["Ana".into()], 1).is_err());
        assert!(check_recipient("554832817000", &[], 1)
            .unwrap_err()
            .contains("takes 1"));
        assert!(check_recipient("554832817000", &[" ".into()], 1).is_err());
    }

    #[test]
    fn opt_out_keywords_are_the_whole_answer_in_any_case() {
        let k = default_opt_out_keywords();
        assert!(is_opt_out(" parar ", &k));
        assert!(is_opt_out("Stop", &k));
        assert!(!is_opt_out("não quero parar agora", &k));
    }

    #[test]
    fn recipient_statuses_only_move_forward() {
        assert!(RecipientStatus::Read.rank() > RecipientStatus::Delivered.rank());
        assert!(RecipientStatus::Replied.rank() > RecipientStatus::Read.rank());
    }
}
