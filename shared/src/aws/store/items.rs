//! Item shapes and keys of the single table: how each aggregate is stored.

use crate::domain::{template::Template, Conversation, DeliveryStatus, Message};
use crate::ports::{
    AgentList, MessageKey, PortError, PortResult, ProviderMessageRef, QueueList, EXPIRY_SHARDS,
};
use aws_sdk_dynamodb::types::AttributeValue;
use serde::{de::DeserializeOwned, Deserialize, Serialize};
use std::collections::HashMap;

pub(super) type Item = HashMap<String, AttributeValue>;

pub const BY_CONTACT_INDEX: &str = "by_contact";
pub const BY_KIND_INDEX: &str = "by_kind";
pub const BY_QUEUE_INDEX: &str = "by_queue";
pub const BY_AGENT_INDEX: &str = "by_agent";
pub const BY_EXPIRY_INDEX: &str = "by_expiry";

pub(super) fn channel_pk(id: &str) -> String {
    format!("CHANNEL#{id}")
}

pub(super) fn contact_pk(channel: &str, contact: &str) -> String {
    format!("CONTACT#{channel}#{contact}")
}

pub(super) fn conversation_pk(id: &str) -> String {
    format!("CONV#{id}")
}

pub(super) fn wamid_pk(id: &str) -> String {
    format!("WAMID#{id}")
}

/// Where a message is stored in its conversation's partition.
/// Where a message is stored in its conversation's partition ([`MessageKey::of`]).
pub fn message_key(m: &Message) -> String {
    MessageKey::of(m).message_key
}

pub(super) fn message_sk(m: &Message) -> String {
    message_key(m)
}

pub(super) fn template_sk(name: &str, language: &str) -> String {
    format!("TEMPLATE#{name}#{language}")
}

/// Reads skip items whose retention TTL has passed but that DynamoDB has not yet deleted.
pub(super) fn expired(item: &Item) -> bool {
    let now = chrono::Utc::now().timestamp();
    item.get("ttl")
        .and_then(|v| v.as_n().ok())
        .and_then(|n| n.parse::<i64>().ok())
        .is_some_and(|ttl| ttl <= now)
}

pub(super) fn to_item<T: Serialize>(value: &T) -> PortResult<Item> {
    serde_dynamo::to_item(value).map_err(|e| PortError::new("dynamodb", format!("encode: {e}")))
}

pub(super) fn from_item<T: DeserializeOwned>(item: Item) -> PortResult<T> {
    serde_dynamo::from_item(item).map_err(|e| PortError::new("dynamodb", format!("decode: {e}")))
}

pub(super) fn to_attribute<T: Serialize>(value: &T) -> PortResult<AttributeValue> {
    serde_dynamo::to_attribute_value(value)
        .map_err(|e| PortError::new("dynamodb", format!("encode: {e}")))
}

pub(super) fn s(v: impl Into<String>) -> AttributeValue {
    AttributeValue::S(v.into())
}

pub(super) fn n(v: impl ToString) -> AttributeValue {
    AttributeValue::N(v.to_string())
}

#[derive(Serialize, Deserialize)]
pub(super) struct Keyed<T> {
    pub(super) pk: String,
    pub(super) sk: String,
    #[serde(flatten)]
    pub(super) value: T,
}

/// Items listed by kind through the `by_kind` index (channels, queues).
#[derive(Serialize, Deserialize)]
pub(super) struct KindItem<T> {
    pub(super) pk: String,
    pub(super) sk: String,
    pub(super) kind: String,
    pub(super) kind_sort: String,
    #[serde(flatten)]
    pub(super) value: T,
}

#[derive(Serialize, Deserialize)]
pub(super) struct TemplateItem {
    pub(super) pk: String,
    pub(super) sk: String,
    #[serde(flatten)]
    pub(super) template: Template,
}

#[derive(Serialize, Deserialize)]
pub(super) struct IdempotencyItem {
    pub(super) pk: String,
    pub(super) sk: String,
    pub(super) conversation_id: String,
    pub(super) message_key: String,
    pub(super) ttl: i64,
}

#[derive(Serialize, Deserialize)]
pub(super) struct ConversationItem {
    pub(super) pk: String,
    pub(super) sk: String,
    #[serde(flatten)]
    pub(super) conversation: Conversation,
    pub(super) contact_key: String,
    pub(super) opened_key: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(super) queue_key: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(super) queue_sort: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(super) agent_key: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(super) agent_sort: Option<String>,
    /// Open conversations only: the sweeper's sparse index.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(super) expiry_shard: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(super) ttl: Option<i64>,
}

#[derive(Serialize, Deserialize)]
pub(super) struct MessageItem {
    pub(super) pk: String,
    pub(super) sk: String,
    #[serde(flatten)]
    pub(super) message: Message,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(super) status_rank: Option<u8>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(super) ttl: Option<i64>,
}

#[derive(Serialize, Deserialize)]
pub(super) struct ProviderMessageItem {
    pub(super) pk: String,
    pub(super) sk: String,
    #[serde(flatten)]
    pub(super) reference: ProviderMessageRef,
    pub(super) ttl: i64,
}

/// A status that arrived before its message was recorded.
#[derive(Serialize, Deserialize)]
pub(super) struct PendingStatus {
    pub(super) pending_status: DeliveryStatus,
    pub(super) pending_status_rank: u8,
    #[serde(default)]
    pub(super) pending_error_code: Option<i64>,
}

pub(super) fn expiry_shard(id: &str) -> String {
    let sum: u32 = id.bytes().map(u32::from).sum();
    (sum % u32::from(EXPIRY_SHARDS)).to_string()
}

impl ConversationItem {
    pub(super) fn new(c: &Conversation) -> Self {
        use crate::domain::ConversationState as S;
        let queue_list = match c.state {
            S::Queued => Some(QueueList::Waiting),
            S::Assigned | S::OnHold | S::AwaitingReply if c.queue.is_some() => {
                Some(QueueList::InProgress)
            }
            S::Closed => Some(QueueList::Closed),
            _ => None,
        };
        // Closing moves a session to its agent's archived list (Voitel Lynk).
        let agent_list = match (&c.agent, c.archived || !c.state.is_open()) {
            (Some(_), true) => Some(AgentList::Archived),
            (Some(_), false) => Some(AgentList::Active),
            _ => None,
        };
        // Waiting and active lists read oldest first; archived and closed ones newest
        // first, by when they were archived or closed.
        let filed_at = c.closed_at.unwrap_or(c.updated_at).max(0);
        Self {
            pk: conversation_pk(&c.id),
            sk: "CONV".into(),
            contact_key: format!("{}#{}", c.channel, c.contact),
            opened_key: format!("{:016}#{}", c.opened_at.max(0), c.id),
            queue_key: queue_list
                .zip(c.queue.as_ref())
                .map(|(l, q)| format!("{q}#{}", l.suffix())),
            queue_sort: queue_list.map(|l| {
                let at = match l {
                    QueueList::Closed => filed_at,
                    _ => c.queued_at.unwrap_or(c.opened_at).max(0),
                };
                format!("{at:016}#{}", c.id)
            }),
            agent_key: agent_list
                .zip(c.agent.as_ref())
                .map(|(l, a)| format!("{a}#{}", l.suffix())),
            agent_sort: agent_list.map(|l| {
                let at = match l {
                    AgentList::Archived => filed_at,
                    AgentList::Active => c.assigned_at.unwrap_or(c.opened_at).max(0),
                };
                format!("{at:016}#{}", c.id)
            }),
            expiry_shard: c.state.is_open().then(|| expiry_shard(&c.id)),
            ttl: None,
            conversation: c.clone(),
        }
    }
}

impl super::DynamoStore {
    pub(super) fn conversation_item(&self, c: &Conversation) -> ConversationItem {
        let mut item = ConversationItem::new(c);
        // Whom the agents' counts hold it for after this write (see `agents.rs`).
        item.conversation.assignment.load_of = c.load_owner().map(str::to_owned);
        // Retention starts when a conversation closes; the TTL never decides expiry.
        item.ttl = c
            .closed_at
            .filter(|_| !c.state.is_open())
            .map(|t| self.retention_ttl(t));
        item
    }

    pub(super) fn message_item(&self, m: &Message) -> MessageItem {
        MessageItem {
            pk: conversation_pk(&m.conversation_id),
            sk: message_sk(m),
            status_rank: m.status.map(DeliveryStatus::rank),
            message: m.clone(),
            ttl: Some(self.retention_ttl(m.stored_at)),
        }
    }
}
