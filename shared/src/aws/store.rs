//! DynamoDB single-table store.
//!
//! | item            | pk                             | sk                      |
//! |-----------------|--------------------------------|-------------------------|
//! | channel         | `CHANNEL#{id}`                 | `CHANNEL`               |
//! | contact window  | `CONTACT#{channel}#{contact}`  | `CONTACT`               |
//! | conversation    | `CONV#{id}`                    | `CONV`                  |
//! | message         | `CONV#{id}`                    | `MSG#{at:016}#{wamid}`  |
//! | provider id     | `WAMID#{wamid}`                | `WAMID`                 |
//!
//! GSI `by_contact` (`contact_key`, `opened_key`) lists a contact's conversations.
//! `ttl` is the retention attribute; it never decides anything.

use crate::domain::{
    conversation::InboundDecision, template::Template, workspace::Queue, Channel, Conversation,
    DeliveryStatus, Message, Millis,
};
use crate::ports::{
    AgentList, ContactRecord, ConversationStore, InboundOutcome, InboundWrite, ListFilter,
    MessageKey, OutboundWrite, Page, PortError, PortResult, ProviderMessageRef, QueueList,
    StartWrite, StatusOutcome, StatusUpdate, WriteOutcome,
};
use async_trait::async_trait;
use aws_sdk_dynamodb::types::{AttributeValue, Put, TransactWriteItem, Update};
use serde::{de::DeserializeOwned, Deserialize, Serialize};
use std::collections::HashMap;

type Item = HashMap<String, AttributeValue>;

pub const BY_CONTACT_INDEX: &str = "by_contact";
pub const BY_KIND_INDEX: &str = "by_kind";
pub const BY_QUEUE_INDEX: &str = "by_queue";
pub const BY_AGENT_INDEX: &str = "by_agent";
pub const BY_EXPIRY_INDEX: &str = "by_expiry";
const DAY_SECS: i64 = 86_400;

#[derive(Clone, Debug)]
pub struct DynamoStore {
    client: aws_sdk_dynamodb::Client,
    table: String,
    retention_days: i64,
    default_auto_close_hours: u32,
}

impl DynamoStore {
    pub fn new(
        client: aws_sdk_dynamodb::Client,
        table: impl Into<String>,
        retention_days: i64,
    ) -> Self {
        Self {
            client,
            table: table.into(),
            retention_days,
            default_auto_close_hours: 24,
        }
    }

    /// Channels that do not set `auto_close_hours` get this (template parameter).
    pub fn with_default_auto_close_hours(mut self, hours: u32) -> Self {
        self.default_auto_close_hours = hours;
        self
    }

    fn conversation_item(&self, c: &Conversation) -> ConversationItem {
        let mut item = ConversationItem::new(c);
        // Retention starts when a conversation closes; the TTL never decides expiry.
        item.ttl = c
            .closed_at
            .filter(|_| !c.state.is_open())
            .map(|t| self.retention_ttl(t));
        item
    }

    fn message_item(&self, m: &Message) -> MessageItem {
        MessageItem {
            pk: conversation_pk(&m.conversation_id),
            sk: message_sk(m),
            status_rank: m.status.map(DeliveryStatus::rank),
            message: m.clone(),
            ttl: Some(self.retention_ttl(m.stored_at)),
        }
    }

    /// Moves a message's status forward, conditionally on its rank.
    async fn update_status(
        &self,
        key: &MessageKey,
        update: &StatusUpdate,
    ) -> PortResult<StatusOutcome> {
        let mut req = self
            .client
            .update_item()
            .table_name(&self.table)
            .key("pk", s(conversation_pk(&key.conversation_id)))
            .key("sk", s(&key.message_key))
            .update_expression(
                "SET #status = :status, status_rank = :rank, status_at = :at REMOVE error_code",
            )
            .condition_expression(
                "attribute_exists(pk) AND (attribute_not_exists(status_rank) OR status_rank < :bound)",
            )
            .expression_attribute_names("#status", "status")
            .expression_attribute_values(":status", s(update.status.as_str()))
            .expression_attribute_values(":rank", n(update.status.rank()))
            .expression_attribute_values(":bound", n(update.status.replaces_ranks_below()))
            .expression_attribute_values(":at", n(update.at))
            .return_values(aws_sdk_dynamodb::types::ReturnValue::AllNew);
        if let Some(code) = update.error_code {
            req = req
                .update_expression(
                    "SET #status = :status, status_rank = :rank, status_at = :at, error_code = :code",
                )
                .expression_attribute_values(":code", n(code));
        }
        match req.send().await {
            Ok(out) => {
                let item: MessageItem = from_item(out.attributes.unwrap_or_default())?;
                Ok(StatusOutcome::Applied(Box::new(item.message)))
            }
            Err(e) if is_conditional_failure(&e) => Ok(StatusOutcome::Stale),
            Err(e) => Err(super::sdk_error("dynamodb", e)),
        }
    }

    /// Every due conversation of every shard (for tools and tests), with the items read.
    pub async fn due_conversations_all(&self, now: Millis) -> (Vec<Conversation>, u64) {
        let mut all = Vec::new();
        let mut scanned = 0;
        for shard in 0..EXPIRY_SHARDS {
            let mut cursor: Option<String> = None;
            loop {
                let Ok((page, n)) = self
                    .due_conversations(shard, now, cursor.as_deref(), 100)
                    .await
                else {
                    break;
                };
                scanned += n;
                all.extend(page.items);
                match page.next_cursor {
                    Some(c) => cursor = Some(c),
                    None => break,
                }
            }
        }
        (all, scanned)
    }

    /// A closed conversation no longer holds its contact: the next message opens a new one.
    /// Only if the pointer still names it (a newer conversation keeps its pointer). Were
    /// this step lost, readers find the pointer naming a closed conversation, which they
    /// treat as no open conversation.
    async fn free_contact(&self, closed: &Conversation) -> PortResult<()> {
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .key("pk", s(contact_pk(&closed.channel, &closed.contact)))
            .key("sk", s("CONTACT"))
            .update_expression("REMOVE open_conversation_id")
            .condition_expression("attribute_exists(pk) AND open_conversation_id = :id")
            .expression_attribute_values(":id", s(&closed.id))
            .send()
            .await;
        match result {
            Err(e) if !is_conditional_failure(&e) => Err(super::sdk_error("dynamodb", e)),
            _ => Ok(()),
        }
    }

    /// Bulk import (migrations, load tests): writes conversations as they are.
    pub async fn import_conversations(&self, conversations: &[Conversation]) -> PortResult<()> {
        use aws_sdk_dynamodb::types::{PutRequest, WriteRequest};
        for chunk in conversations.chunks(25) {
            let mut requests = chunk
                .iter()
                .map(|c| {
                    PutRequest::builder()
                        .set_item(Some(to_item(&self.conversation_item(c))?))
                        .build()
                        .map(|p| WriteRequest::builder().put_request(p).build())
                        .map_err(|e| PortError::new("dynamodb", e))
                })
                .collect::<PortResult<Vec<_>>>()?;
            while !requests.is_empty() {
                let out = self
                    .client
                    .batch_write_item()
                    .request_items(&self.table, requests)
                    .send()
                    .await
                    .map_err(|e| super::sdk_error("dynamodb", e))?;
                requests = out
                    .unprocessed_items
                    .and_then(|mut u| u.remove(&self.table))
                    .unwrap_or_default();
            }
        }
        Ok(())
    }

    fn retention_ttl(&self, now: Millis) -> i64 {
        now / 1000 + self.retention_days * DAY_SECS
    }

    fn conversation_put(
        &self,
        c: &Conversation,
        expected_version: Option<u64>,
    ) -> PortResult<TransactWriteItem> {
        let builder = match expected_version {
            None => Put::builder().condition_expression("attribute_not_exists(pk)"),
            Some(v) => Put::builder()
                .condition_expression("#version = :expected AND #state <> :closed")
                .expression_attribute_names("#version", "version")
                .expression_attribute_names("#state", "state")
                .expression_attribute_values(":expected", n(v))
                .expression_attribute_values(":closed", s("closed")),
        };
        let put = builder
            .table_name(&self.table)
            .set_item(Some(to_item(&self.conversation_item(c))?))
            .build()
            .map_err(|e| PortError::new("dynamodb", e))?;
        Ok(TransactWriteItem::builder().put(put).build())
    }

    fn new_message_put(&self, m: &Message) -> PortResult<TransactWriteItem> {
        let item = self.message_item(m);
        let put = Put::builder()
            .table_name(&self.table)
            .set_item(Some(to_item(&item)?))
            .condition_expression("attribute_not_exists(pk)")
            .build()
            .map_err(|e| PortError::new("dynamodb", e))?;
        Ok(TransactWriteItem::builder().put(put).build())
    }

    async fn update_message(
        &self,
        key: &MessageKey,
        update: aws_sdk_dynamodb::operation::update_item::builders::UpdateItemFluentBuilder,
    ) -> PortResult<Option<Message>> {
        let result = update
            .table_name(&self.table)
            .key("pk", s(conversation_pk(&key.conversation_id)))
            .key("sk", s(&key.message_key))
            .return_values(aws_sdk_dynamodb::types::ReturnValue::AllNew)
            .send()
            .await;
        match result {
            Ok(out) => Ok(Some(
                from_item::<MessageItem>(out.attributes.unwrap_or_default())?.message,
            )),
            Err(e) if is_conditional_failure(&e) => Ok(None),
            Err(e) => Err(super::sdk_error("dynamodb", e)),
        }
    }

    async fn list_index(
        &self,
        index: &str,
        key_attr: &str,
        key_value: String,
        filter: &ListFilter,
        cursor: Option<&str>,
        limit: u32,
    ) -> PortResult<Page<Conversation>> {
        let mut q = self
            .client
            .query()
            .table_name(&self.table)
            .index_name(index)
            .key_condition_expression(format!("{key_attr} = :k"))
            .expression_attribute_values(":k", s(&key_value))
            .limit(limit as i32);
        let mut filters = Vec::new();
        if let Some(ch) = &filter.channel {
            filters.push("channel = :ch");
            q = q.expression_attribute_values(":ch", s(ch));
        }
        if let Some(ct) = &filter.contact {
            filters.push("contact = :ct");
            q = q.expression_attribute_values(":ct", s(ct));
        }
        if !filters.is_empty() {
            q = q.filter_expression(filters.join(" AND "));
        }
        if let Some(c) = cursor {
            let sort_attr = if key_attr == "queue_key" {
                "queue_sort"
            } else {
                "agent_sort"
            };
            q = q.set_exclusive_start_key(Some(key_of_cursor(c, key_attr, &key_value, sort_attr)?));
        }
        let out = q
            .send()
            .await
            .map_err(|e| super::sdk_error("dynamodb", e))?;
        let mut items = Vec::new();
        for item in out.items.unwrap_or_default() {
            if !expired(&item) {
                items.push(from_item::<ConversationItem>(item)?.conversation);
            }
        }
        let next_cursor = out
            .last_evaluated_key
            .as_ref()
            .filter(|k| !k.is_empty())
            .and_then(key_cursor);
        Ok(Page { items, next_cursor })
    }

    async fn get<T: DeserializeOwned>(&self, pk: String, sk: &str) -> PortResult<Option<T>> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .key("pk", AttributeValue::S(pk))
            .key("sk", AttributeValue::S(sk.to_owned()))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| super::sdk_error("dynamodb", e))?;
        match out.item {
            Some(item) if !expired(&item) => from_item(item).map(Some),
            _ => Ok(None),
        }
    }
}

fn channel_pk(id: &str) -> String {
    format!("CHANNEL#{id}")
}
fn contact_pk(channel: &str, contact: &str) -> String {
    format!("CONTACT#{channel}#{contact}")
}
fn conversation_pk(id: &str) -> String {
    format!("CONV#{id}")
}
fn wamid_pk(id: &str) -> String {
    format!("WAMID#{id}")
}
/// Where a message is stored in its conversation's partition.
pub fn message_key(m: &Message) -> String {
    message_sk(m)
}
fn message_sk(m: &Message) -> String {
    format!("MSG#{:016}#{}", m.at.max(0), m.id)
}

/// Reads skip items whose retention TTL has passed but that DynamoDB has not yet deleted.
fn expired(item: &Item) -> bool {
    let now = chrono::Utc::now().timestamp();
    item.get("ttl")
        .and_then(|v| v.as_n().ok())
        .and_then(|n| n.parse::<i64>().ok())
        .is_some_and(|ttl| ttl <= now)
}

fn to_item<T: Serialize>(value: &T) -> PortResult<Item> {
    serde_dynamo::to_item(value).map_err(|e| PortError::new("dynamodb", format!("encode: {e}")))
}

fn from_item<T: DeserializeOwned>(item: Item) -> PortResult<T> {
    serde_dynamo::from_item(item).map_err(|e| PortError::new("dynamodb", format!("decode: {e}")))
}

fn s(v: impl Into<String>) -> AttributeValue {
    AttributeValue::S(v.into())
}
fn n(v: impl ToString) -> AttributeValue {
    AttributeValue::N(v.to_string())
}

#[derive(Serialize, Deserialize)]
struct Keyed<T> {
    pk: String,
    sk: String,
    #[serde(flatten)]
    value: T,
}

/// Items listed by kind through the `by_kind` index (channels, queues).
#[derive(Serialize, Deserialize)]
struct KindItem<T> {
    pk: String,
    sk: String,
    kind: String,
    kind_sort: String,
    #[serde(flatten)]
    value: T,
}

#[derive(Serialize, Deserialize)]
struct TemplateItem {
    pk: String,
    sk: String,
    #[serde(flatten)]
    template: Template,
}

fn template_sk(name: &str, language: &str) -> String {
    format!("TEMPLATE#{name}#{language}")
}

#[derive(Serialize, Deserialize)]
struct IdempotencyItem {
    pk: String,
    sk: String,
    conversation_id: String,
    message_key: String,
    ttl: i64,
}

#[derive(Serialize, Deserialize)]
struct ConversationItem {
    pk: String,
    sk: String,
    #[serde(flatten)]
    conversation: Conversation,
    contact_key: String,
    opened_key: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    queue_key: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    queue_sort: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    agent_key: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    agent_sort: Option<String>,
    /// Open conversations only: the sweeper's sparse index.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    expiry_shard: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    ttl: Option<i64>,
}

/// The sweeper's index is split in a few shards so no single partition is hot.
pub const EXPIRY_SHARDS: u8 = 4;

fn expiry_shard(id: &str) -> String {
    let sum: u32 = id.bytes().map(u32::from).sum();
    (sum % u32::from(EXPIRY_SHARDS)).to_string()
}

impl ConversationItem {
    fn new(c: &Conversation) -> Self {
        use crate::domain::ConversationState as S;
        let queue_list = match c.state {
            S::Queued => Some(QueueList::Waiting),
            S::Assigned | S::OnHold | S::AwaitingReply if c.queue.is_some() => {
                Some(QueueList::InProgress)
            }
            _ => None,
        };
        let agent_list = match (&c.agent, c.archived, c.state.is_open()) {
            (Some(_), true, _) => Some(AgentList::Archived),
            (Some(_), false, true) => Some(AgentList::Active),
            _ => None,
        };
        Self {
            pk: conversation_pk(&c.id),
            sk: "CONV".into(),
            contact_key: format!("{}#{}", c.channel, c.contact),
            opened_key: format!("{:016}#{}", c.opened_at.max(0), c.id),
            queue_key: queue_list
                .zip(c.queue.as_ref())
                .map(|(l, q)| format!("{q}#{}", l.suffix())),
            queue_sort: queue_list
                .map(|_| format!("{:016}#{}", c.queued_at.unwrap_or(c.opened_at).max(0), c.id)),
            agent_key: agent_list
                .zip(c.agent.as_ref())
                .map(|(l, a)| format!("{a}#{}", l.suffix())),
            agent_sort: agent_list.map(|_| {
                format!(
                    "{:016}#{}",
                    c.assigned_at.unwrap_or(c.opened_at).max(0),
                    c.id
                )
            }),
            expiry_shard: c.state.is_open().then(|| expiry_shard(&c.id)),
            ttl: None,
            conversation: c.clone(),
        }
    }
}

/// An opaque cursor: the page's last evaluated key (string attributes), hex-encoded JSON.
fn key_cursor(key: &Item) -> Option<String> {
    let map: std::collections::BTreeMap<&str, &str> = key
        .iter()
        .filter_map(|(k, v)| Some((k.as_str(), v.as_s().ok()?.as_str())))
        .collect();
    serde_json::to_vec(&map).ok().map(hex::encode)
}

/// Reads a cursor back, accepting only the keys of the index read (`pk`, `sk`, its own
/// key attributes) and only for the partition being read: anything else is not a cursor
/// this API returned.
fn key_of_cursor(
    cursor: &str,
    partition_attr: &str,
    partition: &str,
    sort_attr: &str,
) -> PortResult<Item> {
    let invalid = || PortError::new("cursor", "invalid cursor");
    let bytes = hex::decode(cursor).map_err(|_| invalid())?;
    let map: std::collections::BTreeMap<String, String> =
        serde_json::from_slice(&bytes).map_err(|_| invalid())?;
    let allowed = ["pk", "sk", partition_attr, sort_attr];
    if map.len() != 4 || map.keys().any(|k| !allowed.contains(&k.as_str())) {
        return Err(invalid());
    }
    if map.get(partition_attr).map(String::as_str) != Some(partition)
        || map.values().any(|v| v.is_empty() || v.len() > 1024)
    {
        return Err(invalid());
    }
    Ok(map
        .into_iter()
        .map(|(k, v)| (k, AttributeValue::S(v)))
        .collect())
}

#[derive(Serialize, Deserialize)]
struct MessageItem {
    pk: String,
    sk: String,
    #[serde(flatten)]
    message: Message,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    status_rank: Option<u8>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    ttl: Option<i64>,
}

#[derive(Serialize, Deserialize)]
struct ProviderMessageItem {
    pk: String,
    sk: String,
    #[serde(flatten)]
    reference: ProviderMessageRef,
    ttl: i64,
}

/// A status that arrived before its message was recorded.
#[derive(Serialize, Deserialize)]
struct PendingStatus {
    pending_status: DeliveryStatus,
    pending_status_rank: u8,
    #[serde(default)]
    pending_error_code: Option<i64>,
}

fn cancellation_codes(
    err: &aws_sdk_dynamodb::error::SdkError<
        aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError,
        aws_sdk_dynamodb::config::http::HttpResponse,
    >,
) -> Option<Vec<String>> {
    use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
    match err.as_service_error() {
        Some(TransactWriteItemsError::TransactionCanceledException(e)) => Some(
            e.cancellation_reasons()
                .iter()
                .map(|r| r.code().unwrap_or("None").to_owned())
                .collect(),
        ),
        _ => None,
    }
}

fn encode_cursor(key: &Item, field: &str) -> Option<String> {
    key.get(field)
        .and_then(|v| v.as_s().ok())
        .map(|v| hex::encode(v.as_bytes()))
}

fn decode_cursor(cursor: &str) -> PortResult<String> {
    hex::decode(cursor)
        .ok()
        .and_then(|b| String::from_utf8(b).ok())
        .ok_or_else(|| PortError::new("cursor", "invalid cursor"))
}

#[async_trait]
impl ConversationStore for DynamoStore {
    async fn channel(&self, id: &str) -> PortResult<Option<Channel>> {
        let keyed: Option<KindItem<Channel>> = self.get(channel_pk(id), "CHANNEL").await?;
        Ok(keyed.map(|k| {
            let mut c = k.value;
            if c.auto_close_hours == 0 {
                c.auto_close_hours = self.default_auto_close_hours;
            }
            c
        }))
    }

    async fn channels(&self) -> PortResult<Vec<Channel>> {
        let mut out = Vec::new();
        let mut start: Option<Item> = None;
        loop {
            let page = self
                .client
                .query()
                .table_name(&self.table)
                .index_name(BY_KIND_INDEX)
                .key_condition_expression("kind = :k")
                .expression_attribute_values(":k", s("channel"))
                .set_exclusive_start_key(start.take())
                .send()
                .await
                .map_err(|e| super::sdk_error("dynamodb", e))?;
            for item in page.items.unwrap_or_default() {
                out.push(from_item::<KindItem<Channel>>(item)?.value);
            }
            match page.last_evaluated_key {
                Some(k) if !k.is_empty() => start = Some(k),
                _ => break,
            }
        }
        Ok(out)
    }

    async fn put_template(&self, channel: &str, template: &Template) -> PortResult<()> {
        let item = to_item(&TemplateItem {
            pk: channel_pk(channel),
            sk: template_sk(&template.name, &template.language),
            template: template.clone(),
        })?;
        self.client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .send()
            .await
            .map_err(|e| super::sdk_error("dynamodb", e))?;
        Ok(())
    }

    async fn template(
        &self,
        channel: &str,
        name: &str,
        language: &str,
    ) -> PortResult<Option<Template>> {
        let item: Option<TemplateItem> = self
            .get(channel_pk(channel), &template_sk(name, language))
            .await?;
        Ok(item.map(|i| i.template))
    }

    async fn templates(&self, channel: &str) -> PortResult<Vec<Template>> {
        let mut out = Vec::new();
        let mut start: Option<Item> = None;
        loop {
            let page = self
                .client
                .query()
                .table_name(&self.table)
                .key_condition_expression("pk = :pk AND begins_with(sk, :t)")
                .expression_attribute_values(":pk", s(channel_pk(channel)))
                .expression_attribute_values(":t", s("TEMPLATE#"))
                .set_exclusive_start_key(start.take())
                .send()
                .await
                .map_err(|e| super::sdk_error("dynamodb", e))?;
            for item in page.items.unwrap_or_default() {
                out.push(from_item::<TemplateItem>(item)?.template);
            }
            match page.last_evaluated_key {
                Some(k) if !k.is_empty() => start = Some(k),
                _ => break,
            }
        }
        Ok(out)
    }

    async fn start_conversation(
        &self,
        write: &StartWrite,
        _now: Millis,
    ) -> PortResult<WriteOutcome> {
        let c = &write.conversation;
        let mut ops = vec![self.conversation_put(c, None)?];
        let mut contact_update = Update::builder()
            .table_name(&self.table)
            .key("pk", s(contact_pk(&c.channel, &c.contact)))
            .key("sk", s("CONTACT"))
            .update_expression("SET channel = :ch, contact = :ct, open_conversation_id = :open")
            .expression_attribute_values(":ch", s(&c.channel))
            .expression_attribute_values(":ct", s(&c.contact))
            .expression_attribute_values(":open", s(&c.id));
        contact_update = match &write.expected_open {
            None => {
                contact_update.condition_expression("attribute_not_exists(open_conversation_id)")
            }
            Some(expected) => contact_update
                .condition_expression("open_conversation_id = :expected_open")
                .expression_attribute_values(":expected_open", s(expected)),
        };
        ops.push(
            TransactWriteItem::builder()
                .update(
                    contact_update
                        .build()
                        .map_err(|e| PortError::new("dynamodb", e))?,
                )
                .build(),
        );
        if let Some(m) = &write.message {
            ops.push(self.new_message_put(m)?);
        }
        match self
            .client
            .transact_write_items()
            .set_transact_items(Some(ops))
            .send()
            .await
        {
            Ok(_) => Ok(WriteOutcome::Committed),
            Err(err) => match cancellation_codes(&err) {
                Some(_) => Ok(WriteOutcome::Conflict),
                None => Err(super::sdk_error("dynamodb", err)),
            },
        }
    }

    async fn append_outbound(
        &self,
        write: &OutboundWrite,
        now: Millis,
    ) -> PortResult<WriteOutcome> {
        let mut ops = Vec::with_capacity(3);
        let idempotency_pk = write
            .idempotency_key
            .as_ref()
            .map(|k| format!("IDEMPOTENCY#{}#{k}", write.conversation.id));
        if let Some(pk) = &idempotency_pk {
            let record = IdempotencyItem {
                pk: pk.clone(),
                sk: "IDEMPOTENCY".into(),
                conversation_id: write.conversation.id.clone(),
                message_key: message_sk(&write.message),
                ttl: self.retention_ttl(now),
            };
            let put = Put::builder()
                .table_name(&self.table)
                .set_item(Some(to_item(&record)?))
                .condition_expression("attribute_not_exists(pk)")
                .build()
                .map_err(|e| PortError::new("dynamodb", e))?;
            ops.push(TransactWriteItem::builder().put(put).build());
        }
        ops.push(self.conversation_put(&write.conversation, Some(write.expected_version))?);
        ops.push(self.new_message_put(&write.message)?);
        match self
            .client
            .transact_write_items()
            .set_transact_items(Some(ops))
            .send()
            .await
        {
            Ok(_) => Ok(WriteOutcome::Committed),
            Err(err) => match cancellation_codes(&err) {
                Some(codes) => {
                    if let (Some(pk), Some("ConditionalCheckFailed")) =
                        (&idempotency_pk, codes.first().map(String::as_str))
                    {
                        if let Some(record) = self
                            .get::<IdempotencyItem>(pk.clone(), "IDEMPOTENCY")
                            .await?
                        {
                            let key = MessageKey {
                                conversation_id: record.conversation_id,
                                message_key: record.message_key,
                            };
                            if let Some(m) = self.outbound_message(&key).await? {
                                return Ok(WriteOutcome::Duplicate(Box::new(m)));
                            }
                        }
                    }
                    Ok(WriteOutcome::Conflict)
                }
                None => Err(super::sdk_error("dynamodb", err)),
            },
        }
    }

    async fn outbound_message(&self, key: &MessageKey) -> PortResult<Option<Message>> {
        let item: Option<MessageItem> = self
            .get(conversation_pk(&key.conversation_id), &key.message_key)
            .await?;
        Ok(item.map(|i| i.message))
    }

    async fn claim_send(&self, key: &MessageKey, now: Millis) -> PortResult<bool> {
        let update = self
            .client
            .update_item()
            .update_expression("SET sending_since = :now")
            .condition_expression(
                "attribute_exists(pk) AND attribute_not_exists(sending_since) AND attribute_not_exists(provider_id) AND status_rank = :accepted",
            )
            .expression_attribute_values(":now", n(now))
            .expression_attribute_values(":accepted", n(DeliveryStatus::Accepted.rank()));
        Ok(self.update_message(key, update).await?.is_some())
    }

    async fn release_send(&self, key: &MessageKey) -> PortResult<()> {
        let update = self
            .client
            .update_item()
            .update_expression("REMOVE sending_since")
            .condition_expression("attribute_exists(pk) AND attribute_not_exists(provider_id)");
        self.update_message(key, update).await?;
        Ok(())
    }

    async fn record_sent(
        &self,
        key: &MessageKey,
        provider_id: &str,
        now: Millis,
    ) -> PortResult<Message> {
        // 1. The provider-id index, which hands back a status webhook that raced ahead.
        let old = self
            .client
            .update_item()
            .table_name(&self.table)
            .key("pk", s(wamid_pk(provider_id)))
            .key("sk", s("WAMID"))
            .update_expression(
                "SET conversation_id = :c, message_key = :k, opened_conversation = :f, published = :t, #ttl = :ttl",
            )
            .expression_attribute_names("#ttl", "ttl")
            .expression_attribute_values(":c", s(&key.conversation_id))
            .expression_attribute_values(":k", s(&key.message_key))
            .expression_attribute_values(":f", AttributeValue::Bool(false))
            .expression_attribute_values(":t", AttributeValue::Bool(true))
            .expression_attribute_values(":ttl", n(self.retention_ttl(now)))
            .return_values(aws_sdk_dynamodb::types::ReturnValue::AllOld)
            .send()
            .await
            .map_err(|e| super::sdk_error("dynamodb", e))?
            .attributes
            .and_then(|a| from_item::<PendingStatus>(a).ok());
        // 2. The message gets its provider id and gives back its claim, whatever its status.
        let recorded = self
            .update_message(
                key,
                self.client
                    .update_item()
                    .update_expression("SET provider_id = :pid REMOVE sending_since")
                    .condition_expression("attribute_exists(pk)")
                    .expression_attribute_values(":pid", s(provider_id)),
            )
            .await?
            .ok_or_else(|| {
                PortError::new(
                    "dynamodb",
                    "the sent message was not found in its conversation",
                )
            })?;
        // 3. The status moves forward to `sent`, or to what a raced webhook said; one
        //    applied meanwhile may already be further.
        let (status, error_code) = match old {
            Some(p) if p.pending_status.rank() > DeliveryStatus::Sent.rank() => {
                (p.pending_status, p.pending_error_code)
            }
            _ => (DeliveryStatus::Sent, None),
        };
        let update = StatusUpdate {
            message_id: provider_id.to_owned(),
            status,
            at: now,
            error_code,
            error_title: None,
        };
        match self.update_status(key, &update).await? {
            StatusOutcome::Applied(m) => Ok(*m),
            _ => Ok(recorded),
        }
    }

    async fn record_send_failure(
        &self,
        key: &MessageKey,
        error_code: Option<i64>,
        failure: &str,
        now: Millis,
    ) -> PortResult<Message> {
        let mut update = self
            .client
            .update_item()
            .update_expression(
                "SET #status = :failed, status_rank = :rank, status_at = :now, failure = :why REMOVE sending_since",
            )
            .condition_expression("attribute_exists(pk)")
            .expression_attribute_names("#status", "status")
            .expression_attribute_values(":failed", s(DeliveryStatus::Failed.as_str()))
            .expression_attribute_values(":rank", n(DeliveryStatus::Failed.rank()))
            .expression_attribute_values(":now", n(now))
            .expression_attribute_values(":why", s(failure));
        if let Some(code) = error_code {
            update = update
                .update_expression(
                    "SET #status = :failed, status_rank = :rank, status_at = :now, failure = :why, error_code = :code REMOVE sending_since",
                )
                .expression_attribute_values(":code", n(code));
        }
        self.update_message(key, update)
            .await?
            .ok_or_else(|| PortError::new("dynamodb", "failed message vanished"))
    }

    async fn close_window(&self, channel: &str, contact: &str, at: Millis) -> PortResult<()> {
        self.client
            .update_item()
            .table_name(&self.table)
            .key("pk", s(contact_pk(channel, contact)))
            .key("sk", s("CONTACT"))
            .update_expression("SET window_closed_at = :at, channel = :ch, contact = :ct")
            .expression_attribute_values(":at", n(at))
            .expression_attribute_values(":ch", s(channel))
            .expression_attribute_values(":ct", s(contact))
            .send()
            .await
            .map_err(|e| super::sdk_error("dynamodb", e))?;
        Ok(())
    }

    async fn put_channel(&self, channel: &Channel) -> PortResult<()> {
        let item = to_item(&KindItem {
            pk: channel_pk(&channel.id),
            sk: "CHANNEL".into(),
            kind: "channel".into(),
            kind_sort: channel.id.clone(),
            value: channel,
        })?;
        self.client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .send()
            .await
            .map_err(|e| super::sdk_error("dynamodb", e))?;
        Ok(())
    }

    async fn contact(&self, channel: &str, contact: &str) -> PortResult<Option<ContactRecord>> {
        let keyed: Option<Keyed<ContactRecord>> =
            self.get(contact_pk(channel, contact), "CONTACT").await?;
        Ok(keyed.map(|k| k.value))
    }

    async fn conversation(&self, id: &str) -> PortResult<Option<Conversation>> {
        let item: Option<ConversationItem> = self.get(conversation_pk(id), "CONV").await?;
        Ok(item.map(|i| i.conversation))
    }

    async fn conversations_of_contact(
        &self,
        channel: &str,
        contact: &str,
        cursor: Option<&str>,
        limit: u32,
    ) -> PortResult<Page<Conversation>> {
        let contact_key = format!("{channel}#{contact}");
        let mut q = self
            .client
            .query()
            .table_name(&self.table)
            .index_name(BY_CONTACT_INDEX)
            .key_condition_expression("contact_key = :k")
            .expression_attribute_values(":k", s(&contact_key))
            .scan_index_forward(false)
            .limit(limit as i32);
        if let Some(cursor) = cursor {
            let opened_key = decode_cursor(cursor)?;
            let id = opened_key.rsplit('#').next().unwrap_or_default();
            q = q
                .exclusive_start_key("contact_key", s(&contact_key))
                .exclusive_start_key("opened_key", s(&opened_key))
                .exclusive_start_key("pk", s(conversation_pk(id)))
                .exclusive_start_key("sk", s("CONV"));
        }
        let out = q
            .send()
            .await
            .map_err(|e| super::sdk_error("dynamodb", e))?;
        let mut items = Vec::new();
        for item in out.items.unwrap_or_default() {
            if !expired(&item) {
                items.push(from_item::<ConversationItem>(item)?.conversation);
            }
        }
        let next_cursor = out
            .last_evaluated_key
            .as_ref()
            .and_then(|k| encode_cursor(k, "opened_key"));
        Ok(Page { items, next_cursor })
    }

    async fn messages(
        &self,
        conversation_id: &str,
        cursor: Option<&str>,
        limit: u32,
    ) -> PortResult<Page<Message>> {
        let pk = conversation_pk(conversation_id);
        let mut q = self
            .client
            .query()
            .table_name(&self.table)
            .key_condition_expression("pk = :pk AND begins_with(sk, :msg)")
            .expression_attribute_values(":pk", s(&pk))
            .expression_attribute_values(":msg", s("MSG#"))
            .consistent_read(true)
            .limit(limit as i32);
        if let Some(cursor) = cursor {
            q = q
                .exclusive_start_key("pk", s(&pk))
                .exclusive_start_key("sk", s(decode_cursor(cursor)?));
        }
        let out = q
            .send()
            .await
            .map_err(|e| super::sdk_error("dynamodb", e))?;
        let mut items = Vec::new();
        for item in out.items.unwrap_or_default() {
            if !expired(&item) {
                items.push(from_item::<MessageItem>(item)?.message);
            }
        }
        let next_cursor = out
            .last_evaluated_key
            .as_ref()
            .and_then(|k| encode_cursor(k, "sk"));
        Ok(Page { items, next_cursor })
    }

    async fn provider_message(&self, message_id: &str) -> PortResult<Option<ProviderMessageRef>> {
        let item: Option<Item> = {
            let out = self
                .client
                .get_item()
                .table_name(&self.table)
                .key("pk", s(wamid_pk(message_id)))
                .key("sk", s("WAMID"))
                .consistent_read(true)
                .send()
                .await
                .map_err(|e| super::sdk_error("dynamodb", e))?;
            out.item.filter(|i| !expired(i))
        };
        // A record holding only a pending status has no message yet.
        match item {
            Some(i) if i.contains_key("message_key") => {
                Ok(Some(from_item::<ProviderMessageItem>(i)?.reference))
            }
            _ => Ok(None),
        }
    }

    async fn message(&self, reference: &ProviderMessageRef) -> PortResult<Option<Message>> {
        let item: Option<MessageItem> = self
            .get(
                conversation_pk(&reference.conversation_id),
                &reference.message_key,
            )
            .await?;
        Ok(item.map(|i| i.message))
    }

    async fn record_inbound(
        &self,
        write: &InboundWrite,
        now: Millis,
    ) -> PortResult<InboundOutcome> {
        let (conversation, opened) = match &write.decision {
            InboundDecision::Open(c) => (c, true),
            InboundDecision::Append(c) => (c, false),
        };
        let message_key = message_sk(&write.message);
        let ttl = self.retention_ttl(now);
        let reference = ProviderMessageItem {
            pk: wamid_pk(&write.message.id),
            sk: "WAMID".into(),
            reference: ProviderMessageRef {
                conversation_id: conversation.id.clone(),
                message_key: message_key.clone(),
                opened_conversation: opened,
                published: false,
                followups: write.followups.clone(),
            },
            ttl,
        };
        let message = self.message_item(&write.message);

        let put = |item: Item, condition: &str| -> PortResult<TransactWriteItem> {
            let put = Put::builder()
                .table_name(&self.table)
                .set_item(Some(item))
                .condition_expression(condition)
                .build()
                .map_err(|e| PortError::new("dynamodb", e))?;
            Ok(TransactWriteItem::builder().put(put).build())
        };

        // The dedupe record goes first: its cancellation reason tells a redelivery apart.
        let mut ops = vec![
            put(to_item(&reference)?, "attribute_not_exists(pk)")?,
            put(to_item(&message)?, "attribute_not_exists(pk)")?,
        ];
        let conversation_item = to_item(&self.conversation_item(conversation))?;
        let conversation_put = if opened {
            Put::builder().condition_expression("attribute_not_exists(pk)")
        } else {
            Put::builder()
                .condition_expression("#version = :expected AND #state <> :closed")
                .expression_attribute_names("#version", "version")
                .expression_attribute_names("#state", "state")
                .expression_attribute_values(":expected", n(write.expected_version.unwrap_or(0)))
                .expression_attribute_values(":closed", s("closed"))
        }
        .table_name(&self.table)
        .set_item(Some(conversation_item))
        .build()
        .map_err(|e| PortError::new("dynamodb", e))?;
        ops.push(TransactWriteItem::builder().put(conversation_put).build());

        if let Some((expired, expected)) = &write.expired {
            let put = Put::builder()
                .table_name(&self.table)
                .set_item(Some(to_item(&self.conversation_item(expired))?))
                .condition_expression("#version = :expected")
                .expression_attribute_names("#version", "version")
                .expression_attribute_values(":expected", n(*expected))
                .build()
                .map_err(|e| PortError::new("dynamodb", e))?;
            ops.push(TransactWriteItem::builder().put(put).build());
        }
        for m in &write.auto_messages {
            ops.push(self.new_message_put(m)?);
        }
        // The contact record carries the window and the one-open-conversation pointer.
        let mut contact_update = Update::builder()
            .table_name(&self.table)
            .key("pk", s(contact_pk(&conversation.channel, &conversation.contact)))
            .key("sk", s("CONTACT"))
            .update_expression(
                "SET channel = :ch, contact = :ct, open_conversation_id = :open, last_inbound_at = :at",
            )
            .expression_attribute_values(":ch", s(&conversation.channel))
            .expression_attribute_values(":ct", s(&conversation.contact))
            .expression_attribute_values(":open", s(&conversation.id))
            .expression_attribute_values(
                ":at",
                n(conversation.last_inbound_at.unwrap_or(write.message.at)),
            );
        contact_update = match &write.expected_open {
            None => {
                contact_update.condition_expression("attribute_not_exists(open_conversation_id)")
            }
            Some(expected) => contact_update
                .condition_expression("open_conversation_id = :expected_open")
                .expression_attribute_values(":expected_open", s(expected)),
        };
        if let Some(name) = &write.contact_name {
            contact_update = contact_update
                .update_expression(
                    "SET channel = :ch, contact = :ct, open_conversation_id = :open, last_inbound_at = :at, #name = :name",
                )
                .expression_attribute_names("#name", "name")
                .expression_attribute_values(":name", s(name));
        }
        ops.push(
            TransactWriteItem::builder()
                .update(
                    contact_update
                        .build()
                        .map_err(|e| PortError::new("dynamodb", e))?,
                )
                .build(),
        );

        match self
            .client
            .transact_write_items()
            .set_transact_items(Some(ops))
            .send()
            .await
        {
            Ok(_) => Ok(InboundOutcome::Committed),
            Err(err) => match cancellation_codes(&err) {
                Some(codes)
                    if codes.first().map(String::as_str) == Some("ConditionalCheckFailed") =>
                {
                    match self.provider_message(&write.message.id).await? {
                        Some(existing) => Ok(InboundOutcome::Duplicate(existing)),
                        None => Ok(InboundOutcome::Conflict),
                    }
                }
                Some(_) => Ok(InboundOutcome::Conflict),
                None => Err(super::sdk_error("dynamodb", err)),
            },
        }
    }

    async fn record_outbound(&self, message: &Message) -> PortResult<()> {
        let item = self.message_item(message);
        let reference = ProviderMessageRef {
            conversation_id: message.conversation_id.clone(),
            message_key: item.sk.clone(),
            opened_conversation: false,
            published: true,
            followups: None,
        };
        let provider_id = message.provider_id.as_deref().unwrap_or(&message.id);
        let put = Put::builder()
            .table_name(&self.table)
            .set_item(Some(to_item(&item)?))
            .build()
            .map_err(|e| PortError::new("dynamodb", e))?;
        // Keep a pending status that raced ahead of the message: merge, not overwrite.
        let index = Update::builder()
            .table_name(&self.table)
            .key("pk", s(wamid_pk(provider_id)))
            .key("sk", s("WAMID"))
            .update_expression(
                "SET conversation_id = :c, message_key = :k, opened_conversation = :f, published = :t, #ttl = :ttl",
            )
            .expression_attribute_names("#ttl", "ttl")
            .expression_attribute_values(":c", s(&reference.conversation_id))
            .expression_attribute_values(":k", s(&reference.message_key))
            .expression_attribute_values(":f", AttributeValue::Bool(false))
            .expression_attribute_values(":t", AttributeValue::Bool(true))
            .expression_attribute_values(":ttl", n(self.retention_ttl(message.stored_at)))
            .build()
            .map_err(|e| PortError::new("dynamodb", e))?;
        self.client
            .transact_write_items()
            .transact_items(TransactWriteItem::builder().put(put).build())
            .transact_items(TransactWriteItem::builder().update(index).build())
            .send()
            .await
            .map_err(|e| super::sdk_error("dynamodb", e))?;
        Ok(())
    }

    async fn mark_published(&self, message_id: &str) -> PortResult<()> {
        self.client
            .update_item()
            .table_name(&self.table)
            .key("pk", s(wamid_pk(message_id)))
            .key("sk", s("WAMID"))
            .update_expression("SET published = :t REMOVE followups")
            .condition_expression("attribute_exists(pk)")
            .expression_attribute_values(":t", AttributeValue::Bool(true))
            .send()
            .await
            .map_err(|e| super::sdk_error("dynamodb", e))?;
        Ok(())
    }

    async fn apply_status(&self, update: &StatusUpdate) -> PortResult<StatusOutcome> {
        let Some(reference) = self.provider_message(&update.message_id).await? else {
            // Keep the most advanced early status on the id record until the message exists.
            let pending = PendingStatus {
                pending_status: update.status,
                pending_status_rank: update.status.rank(),
                pending_error_code: update.error_code,
            };
            let mut values: Item = to_item(&pending)?
                .into_iter()
                .map(|(k, v)| (format!(":{k}"), v))
                .collect();
            values.insert(":bound".into(), n(update.status.replaces_ranks_below()));
            values.insert(":ttl".into(), n(self.retention_ttl(update.at)));
            let result = self
                .client
                .update_item()
                .table_name(&self.table)
                .key("pk", s(wamid_pk(&update.message_id)))
                .key("sk", s("WAMID"))
                .update_expression(
                    "SET pending_status = :pending_status, pending_status_rank = :pending_status_rank, pending_error_code = :pending_error_code, #ttl = if_not_exists(#ttl, :ttl)",
                )
                .condition_expression(
                    "attribute_not_exists(pending_status_rank) OR pending_status_rank < :bound",
                )
                .expression_attribute_names("#ttl", "ttl")
                .set_expression_attribute_values(Some(values))
                .send()
                .await;
            return match result {
                Ok(_) => Ok(StatusOutcome::Pending),
                Err(e) if is_conditional_failure(&e) => Ok(StatusOutcome::Stale),
                Err(e) => Err(super::sdk_error("dynamodb", e)),
            };
        };
        self.update_status(
            &MessageKey {
                conversation_id: reference.conversation_id,
                message_key: reference.message_key,
            },
            update,
        )
        .await
    }

    async fn put_queue(&self, queue: &Queue) -> PortResult<()> {
        let item = to_item(&KindItem {
            pk: format!("QUEUE#{}", queue.id),
            sk: "QUEUE".into(),
            kind: "queue".into(),
            kind_sort: queue.id.clone(),
            value: queue,
        })?;
        self.client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .send()
            .await
            .map_err(|e| super::sdk_error("dynamodb", e))?;
        Ok(())
    }

    async fn queue(&self, id: &str) -> PortResult<Option<Queue>> {
        let item: Option<KindItem<Queue>> = self.get(format!("QUEUE#{id}"), "QUEUE").await?;
        Ok(item.map(|i| i.value))
    }

    async fn queue_conversations(
        &self,
        queue: &str,
        list: QueueList,
        filter: &ListFilter,
        cursor: Option<&str>,
        limit: u32,
    ) -> PortResult<Page<Conversation>> {
        self.list_index(
            BY_QUEUE_INDEX,
            "queue_key",
            format!("{queue}#{}", list.suffix()),
            filter,
            cursor,
            limit,
        )
        .await
    }

    async fn agent_conversations(
        &self,
        agent: &str,
        list: AgentList,
        filter: &ListFilter,
        cursor: Option<&str>,
        limit: u32,
    ) -> PortResult<Page<Conversation>> {
        self.list_index(
            BY_AGENT_INDEX,
            "agent_key",
            format!("{agent}#{}", list.suffix()),
            filter,
            cursor,
            limit,
        )
        .await
    }

    async fn update_conversation(
        &self,
        next: &Conversation,
        expected_version: u64,
    ) -> PortResult<WriteOutcome> {
        let result = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(to_item(&self.conversation_item(next))?))
            .condition_expression("#version = :expected")
            .expression_attribute_names("#version", "version")
            .expression_attribute_values(":expected", n(expected_version))
            .send()
            .await;
        match result {
            Ok(_) => {}
            Err(e)
                if e.as_service_error()
                    .is_some_and(|s| s.is_conditional_check_failed_exception()) =>
            {
                return Ok(WriteOutcome::Conflict)
            }
            Err(e) => return Err(super::sdk_error("dynamodb", e)),
        }
        if !next.state.is_open() {
            self.free_contact(next).await?;
        }
        Ok(WriteOutcome::Committed)
    }

    async fn remove_conversation(&self, conversation: &Conversation) -> PortResult<WriteOutcome> {
        use aws_sdk_dynamodb::types::{DeleteRequest, WriteRequest};
        let pk = conversation_pk(&conversation.id);
        // The conversation first, if nobody changed it since it was read: a message that
        // arrives from now on opens a new conversation instead of joining a removed one.
        let deleted = self
            .client
            .delete_item()
            .table_name(&self.table)
            .key("pk", s(&pk))
            .key("sk", s("CONV"))
            .condition_expression("#version = :v")
            .expression_attribute_names("#version", "version")
            .expression_attribute_values(":v", n(conversation.version))
            .send()
            .await;
        match deleted {
            Ok(_) => {}
            Err(e)
                if e.as_service_error()
                    .is_some_and(|s| s.is_conditional_check_failed_exception()) =>
            {
                return Ok(WriteOutcome::Conflict)
            }
            Err(e) => return Err(super::sdk_error("dynamodb", e)),
        }
        self.free_contact(conversation).await?;
        let mut start: Option<Item> = None;
        loop {
            let page = self
                .client
                .query()
                .table_name(&self.table)
                .key_condition_expression("pk = :pk AND begins_with(sk, :msg)")
                .expression_attribute_values(":pk", s(&pk))
                .expression_attribute_values(":msg", s("MSG#"))
                .projection_expression("pk, sk")
                .set_exclusive_start_key(start.take())
                .send()
                .await
                .map_err(|e| super::sdk_error("dynamodb", e))?;
            for chunk in page.items.unwrap_or_default().chunks(25) {
                let mut requests = chunk
                    .iter()
                    .map(|k| {
                        DeleteRequest::builder()
                            .set_key(Some(k.clone()))
                            .build()
                            .map(|d| WriteRequest::builder().delete_request(d).build())
                            .map_err(|e| PortError::new("dynamodb", e))
                    })
                    .collect::<PortResult<Vec<_>>>()?;
                // BatchWriteItem may leave items unprocessed under throttling: retry them.
                for _ in 0..8 {
                    let out = self
                        .client
                        .batch_write_item()
                        .request_items(&self.table, requests)
                        .send()
                        .await
                        .map_err(|e| super::sdk_error("dynamodb", e))?;
                    requests = out
                        .unprocessed_items
                        .and_then(|mut u| u.remove(&self.table))
                        .unwrap_or_default();
                    if requests.is_empty() {
                        break;
                    }
                    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                }
                if !requests.is_empty() {
                    // The conversation is gone; its remaining messages expire with their TTL.
                    return Err(PortError::new(
                        "dynamodb",
                        "messages left undeleted after retries",
                    ));
                }
            }
            match page.last_evaluated_key {
                Some(k) if !k.is_empty() => start = Some(k),
                _ => break,
            }
        }
        Ok(WriteOutcome::Committed)
    }

    async fn count_filtered(&self, channel: &str) -> PortResult<()> {
        self.client
            .update_item()
            .table_name(&self.table)
            .key("pk", s(channel_pk(channel)))
            .key("sk", s("STATS"))
            .update_expression("ADD filtered_messages :one")
            .expression_attribute_values(":one", n(1))
            .send()
            .await
            .map_err(|e| super::sdk_error("dynamodb", e))?;
        Ok(())
    }

    async fn due_conversations(
        &self,
        shard: u8,
        now: Millis,
        cursor: Option<&str>,
        limit: u32,
    ) -> PortResult<(Page<Conversation>, u64)> {
        let mut q = self
            .client
            .query()
            .table_name(&self.table)
            .index_name(BY_EXPIRY_INDEX)
            .key_condition_expression("expiry_shard = :s AND expires_at <= :now")
            .expression_attribute_values(":s", s(shard.to_string()))
            .expression_attribute_values(":now", n(now))
            .limit(limit as i32);
        if let Some(c) = cursor {
            let mut key = key_of_cursor(c, "expiry_shard", &shard.to_string(), "expires_at")?;
            // The index's sort key is a number.
            if let Some(AttributeValue::S(v)) = key.remove("expires_at") {
                key.insert("expires_at".into(), AttributeValue::N(v));
            }
            q = q.set_exclusive_start_key(Some(key));
        }
        let out = q
            .send()
            .await
            .map_err(|e| super::sdk_error("dynamodb", e))?;
        let scanned = out.scanned_count().max(0) as u64;
        let mut items = Vec::new();
        for item in out.items.unwrap_or_default() {
            items.push(from_item::<ConversationItem>(item)?.conversation);
        }
        let next_cursor = out
            .last_evaluated_key
            .as_ref()
            .filter(|k| !k.is_empty())
            .and_then(|k| {
                let mut k = k.clone();
                if let Some(AttributeValue::N(v)) = k.remove("expires_at") {
                    k.insert("expires_at".into(), AttributeValue::S(v));
                }
                key_cursor(&k)
            });
        Ok((Page { items, next_cursor }, scanned))
    }
}

fn is_conditional_failure(
    err: &aws_sdk_dynamodb::error::SdkError<
        aws_sdk_dynamodb::operation::update_item::UpdateItemError,
        aws_sdk_dynamodb::config::http::HttpResponse,
    >,
) -> bool {
    err.as_service_error()
        .is_some_and(|e| e.is_conditional_check_failed_exception())
}
