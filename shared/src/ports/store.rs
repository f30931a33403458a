//! The table, cut by aggregate. A use case names only the ports it uses; the DynamoDB
//! adapter ([`crate::aws::DynamoStore`]) implements them all on one table, one module per
//! aggregate. Writes that must be atomic across aggregates (an inbound message with its
//! conversation and window; a start with the contact's pointer) are one method of the
//! port whose aggregate they are about, so the transaction stays in one place.

use super::records::{
    AgentList, ContactRecord, Effects, EffectsOf, InboundOutcome, InboundWrite, ListFilter,
    MessageKey, OutboundWrite, ProviderMessageRef, QueueList, StartWrite, StatusOutcome,
    StatusUpdate, WriteOutcome,
};
use super::{Page, PortResult};
use crate::domain::campaign::{Campaign, CampaignStatus, Recipient, RecipientStatus};
use crate::domain::{template::Template, workspace::Queue, Channel, Conversation, Message, Millis};
use async_trait::async_trait;

/// Channels and their settings.
#[async_trait]
pub trait ChannelStore: Send + Sync {
    async fn channel(&self, id: &str) -> PortResult<Option<Channel>>;
    async fn channels(&self) -> PortResult<Vec<Channel>>;
    async fn put_channel(&self, channel: &Channel) -> PortResult<()>;
    /// Writes changed settings if the stored version is still `expected` (false if not).
    async fn update_channel(&self, channel: &Channel, expected: u64) -> PortResult<bool>;
    /// Business-started conversations the channel opened in these hours (since the
    /// epoch), each hour's count as stored: `from..=to`.
    async fn reached(&self, channel: &str, from_hour: i64, to_hour: i64) -> PortResult<u64>;
    /// Counts a message from a number the channel's allowlist does not serve.
    async fn count_filtered(&self, channel: &str) -> PortResult<()>;
}

/// The template (HSM) catalogue of each channel.
#[async_trait]
pub trait TemplateCatalogue: Send + Sync {
    async fn template(
        &self,
        channel: &str,
        name: &str,
        language: &str,
    ) -> PortResult<Option<Template>>;
    async fn templates(&self, channel: &str) -> PortResult<Vec<Template>>;
    async fn put_template(&self, channel: &str, template: &Template) -> PortResult<()>;
}

/// Per (channel, contact): the customer-service window and the open-conversation pointer.
#[async_trait]
pub trait ContactStore: Send + Sync {
    async fn contact(&self, channel: &str, contact: &str) -> PortResult<Option<ContactRecord>>;
    /// The provider said the window is closed (131047).
    async fn close_window(&self, channel: &str, contact: &str, at: Millis) -> PortResult<()>;
    /// An agent names the contact and sets its attributes (both replaced); the window and
    /// the open-conversation pointer are left alone. Returns the record after.
    async fn save_profile(
        &self,
        channel: &str,
        contact: &str,
        display_name: Option<&str>,
        attributes: &serde_json::Map<String, serde_json::Value>,
        opted_out: Option<bool>,
    ) -> PortResult<ContactRecord>;
    /// The contact opted out of campaigns (a keyword, provider error 131050).
    async fn opt_out(&self, channel: &str, contact: &str) -> PortResult<()>;
    /// The record and, where the store keeps one with it, a copy of the open conversation
    /// it points to, in one read (`None`: read the conversation by id). The copy is a
    /// hint: a write based on it is conditioned on its version, and a conflict means
    /// reading the conversation itself.
    async fn contact_with_open_copy(
        &self,
        channel: &str,
        contact: &str,
    ) -> PortResult<(Option<ContactRecord>, Option<Conversation>)> {
        Ok((self.contact(channel, contact).await?, None))
    }
}

/// Conversation records: read, start, change conditionally, remove.
#[async_trait]
pub trait ConversationStore: Send + Sync {
    async fn conversation(&self, id: &str) -> PortResult<Option<Conversation>>;
    /// Conversations of one contact on one channel, newest first.
    async fn conversations_of_contact(
        &self,
        channel: &str,
        contact: &str,
        cursor: Option<&str>,
        limit: u32,
    ) -> PortResult<Page<Conversation>>;
    /// A business-started conversation, the contact's pointer to it and its first message,
    /// at once; `Conflict` when the contact changed since read.
    async fn start_conversation(&self, write: &StartWrite, now: Millis)
        -> PortResult<WriteOutcome>;
    /// Writes a conversation if nobody changed it since `expected_version`, with the
    /// effects of the change in the same transaction (the outbox); a closed one also
    /// frees its contact for a new conversation.
    async fn update_conversation(
        &self,
        next: &Conversation,
        expected_version: u64,
        effects: &Effects,
    ) -> PortResult<WriteOutcome>;
    /// Closes a conversation if nobody changed it since `expected_version`, with the
    /// closing message conversa sends (stored in its log) and the effects of the close,
    /// all in one transaction; frees its contact for a new conversation.
    async fn close_conversation(
        &self,
        closed: &Conversation,
        expected_version: u64,
        closing_message: Option<&Message>,
        effects: &Effects,
    ) -> PortResult<WriteOutcome>;
    /// Deletes a conversation, if unchanged since read, with the removal's effects, then
    /// every message of it.
    async fn remove_conversation(
        &self,
        conversation: &Conversation,
        effects: &Effects,
    ) -> PortResult<WriteOutcome>;
}

/// The messages of conversations, in order.
#[async_trait]
pub trait MessageLog: Send + Sync {
    async fn messages(
        &self,
        conversation_id: &str,
        cursor: Option<&str>,
        limit: u32,
    ) -> PortResult<Page<Message>>;
    async fn message(&self, key: &MessageKey) -> PortResult<Option<Message>>;
    /// An outbound message appended to a conversation with the conversation's new state,
    /// conditionally on its version, deduplicated on the caller's idempotency key.
    async fn append_outbound(&self, write: &OutboundWrite, now: Millis)
        -> PortResult<WriteOutcome>;
}

/// What arrived from the provider, deduplicated on the provider's ids: inbound messages
/// and delivery statuses.
#[async_trait]
pub trait InboundLog: Send + Sync {
    /// Commits an inbound message, its conversation, the contact's window and the
    /// message's effects at once, deduplicated on the provider's message id.
    async fn record_inbound(&self, write: &InboundWrite, now: Millis)
        -> PortResult<InboundOutcome>;
    async fn provider_message(&self, message_id: &str) -> PortResult<Option<ProviderMessageRef>>;
    /// Moves a message's status forward, never backwards, with the effects of the move
    /// in the same transaction.
    async fn apply_status(
        &self,
        update: &StatusUpdate,
        effects_of: EffectsOf<'_>,
    ) -> PortResult<StatusOutcome>;
}

/// The one send of each outbound message.
#[async_trait]
pub trait SendLedger: Send + Sync {
    /// Claims the one send of an outbound message; false if it was claimed or sent before.
    async fn claim_send(&self, key: &MessageKey, now: Millis) -> PortResult<bool>;
    /// Gives the claim back after a retryable failure.
    async fn release_send(&self, key: &MessageKey) -> PortResult<()>;
    /// The provider may have accepted the claimed send: keep the claim and note since when
    /// the outcome is unknown. False if the message got its provider id meanwhile.
    async fn mark_unknown(&self, key: &MessageKey, now: Millis) -> PortResult<bool>;
    /// Takes over a send whose outcome stayed unknown since `since`, to make it again;
    /// false if a status settled it or another attempt took it first.
    async fn reclaim_unknown(
        &self,
        key: &MessageKey,
        since: Millis,
        now: Millis,
    ) -> PortResult<bool>;
    /// The provider accepted the message with this id; the status it moves to (sent, or
    /// what a webhook that raced ahead said) commits with its effects.
    async fn record_sent(
        &self,
        key: &MessageKey,
        provider_id: &str,
        now: Millis,
        effects_of: EffectsOf<'_>,
    ) -> PortResult<Message>;
    /// The send failed for good; the failure commits with its effects.
    async fn record_send_failure(
        &self,
        key: &MessageKey,
        error_code: Option<i64>,
        failure: &str,
        now: Millis,
        effects_of: EffectsOf<'_>,
    ) -> PortResult<Message>;
}

/// Queues (sectors of human agents) and their settings.
#[async_trait]
pub trait QueueStore: Send + Sync {
    async fn queue(&self, id: &str) -> PortResult<Option<Queue>>;
    /// Every queue, by id.
    async fn queues(&self) -> PortResult<Vec<Queue>>;
    async fn put_queue(&self, queue: &Queue) -> PortResult<()>;
}

/// The lists agents work from: a queue's waiting and in-progress conversations, an
/// agent's active and archived ones.
#[async_trait]
pub trait WorkLists: Send + Sync {
    /// A queue's waiting (oldest first) or in-progress conversations.
    async fn queue_conversations(
        &self,
        queue: &str,
        list: QueueList,
        filter: &ListFilter,
        cursor: Option<&str>,
        limit: u32,
    ) -> PortResult<Page<Conversation>>;
    /// An agent's active or archived conversations.
    async fn agent_conversations(
        &self,
        agent: &str,
        list: AgentList,
        filter: &ListFilter,
        cursor: Option<&str>,
        limit: u32,
    ) -> PortResult<Page<Conversation>>;
}

/// Open conversations by `expires_at`, for the auto-expiry sweeper.
#[async_trait]
pub trait ExpiryIndex: Send + Sync {
    /// Open conversations of one shard (0..[`super::EXPIRY_SHARDS`]) whose `expires_at`
    /// has passed, oldest first, with how many items the read examined.
    async fn due_conversations(
        &self,
        shard: u8,
        now: Millis,
        cursor: Option<&str>,
        limit: u32,
    ) -> PortResult<(Page<Conversation>, u64)>;
}

/// Campaigns and their recipients (`CAMPAIGN#{id}`): the campaign's counters are exact,
/// moved in the same transaction as each recipient.
#[async_trait]
pub trait CampaignStore: Send + Sync {
    /// A new campaign (draft).
    async fn create_campaign(&self, c: &Campaign) -> PortResult<()>;
    async fn campaign(&self, id: &str) -> PortResult<Option<Campaign>>;
    /// Every campaign, newest first.
    async fn campaigns(&self, cursor: Option<&str>, limit: u32) -> PortResult<Page<Campaign>>;
    /// Moves the campaign's status (and its reason and times) if it is still `from`, with
    /// what that sets in motion. `Conflict`: it moved meanwhile.
    async fn move_campaign(
        &self,
        next: &Campaign,
        from: CampaignStatus,
        effects: &Effects,
    ) -> PortResult<WriteOutcome>;
    /// Adds the recipients the campaign does not have yet (by phone) while it is a draft;
    /// returns how many were new.
    async fn add_recipients(&self, campaign_id: &str, recipients: &[Recipient]) -> PortResult<u64>;
    /// A page of recipients by phone, of one status or all.
    async fn recipients(
        &self,
        campaign_id: &str,
        status: Option<RecipientStatus>,
        cursor: Option<&str>,
        limit: u32,
    ) -> PortResult<Page<Recipient>>;
    /// A pending recipient is skipped or failed (false: it was not pending any more).
    async fn settle_recipient(&self, next: &Recipient) -> PortResult<bool>;
    /// The dispatcher moves on: from the page after `cursor`, woken at `next_due`, if the
    /// live timer is still the one due at `expected_due` (false: another one moved it).
    /// With it, `campaign.progress` when `progress_slot` is a new interval.
    async fn advance_dispatch(
        &self,
        campaign_id: &str,
        expected_due: Millis,
        cursor: Option<&str>,
        next_due: Millis,
        progress: Option<(i64, crate::ports::DomainEvent)>,
    ) -> PortResult<bool>;
}

/// A channel's send pacing, shared by every `hsm-send` instance: each campaign send takes
/// the next slot, slots at least `1/rate` apart, so no one-second window ever holds more
/// than the rate (a GCRA, kept in the channel's `PACE` item).
#[async_trait]
pub trait SendPacer: Send + Sync {
    /// Takes the channel's next slot at `per_second` if it is due by `until`: `Taken`
    /// (send at that time), else `Wait` (the next slot's time; nothing was taken).
    async fn take_slot(
        &self,
        channel: &str,
        per_second: u32,
        now: Millis,
        until: Millis,
    ) -> PortResult<Slot>;
    /// The provider said the number is over its throughput: no slot before `until`.
    async fn hold(&self, channel: &str, until: Millis) -> PortResult<()>;
}

/// A pacing answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Slot {
    Taken(Millis),
    Wait(Millis),
}
