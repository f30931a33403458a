//! DynamoDB single-table store: one adapter implementing every store port
//! ([`crate::ports::store`]), one module per aggregate.
//!
//! | item            | pk                             | sk                         | module |
//! |-----------------|--------------------------------|----------------------------|--------|
//! | channel         | `CHANNEL#{id}`                 | `CHANNEL`                  | [`channels`] |
//! | channel counters| `CHANNEL#{id}`                 | `STATS`                    | [`channels`] |
//! | template        | `CHANNEL#{id}`                 | `TEMPLATE#{name}#{lang}`   | [`templates`] |
//! | contact window  | `CONTACT#{channel}#{contact}`  | `CONTACT`                  | [`contacts`] (with a copy of its open conversation) |
//! | conversation    | `CONV#{id}`                    | `CONV`                     | [`conversations`] |
//! | message         | `CONV#{id}`                    | `MSG#{at:016}#{wamid}`     | [`messages`] |
//! | idempotency key | `IDEMPOTENCY#{conv}#{key}`     | `IDEMPOTENCY`              | [`messages`] |
//! | provider id     | `WAMID#{wamid}`                | `WAMID`                    | [`inbound`], [`sends`] |
//! | queue           | `QUEUE#{id}`                   | `QUEUE`                    | [`queues`] |
//! | outbox effect   | `OUTBOX#{ulid}`                | `OUTBOX`                   | [`outbox`] |
//!
//! Sparse GSIs: `by_contact` (a contact's conversations), `by_queue` and `by_agent` (the
//! work lists), `by_expiry` (open conversations by `expires_at`), `by_kind` (channels,
//! queues). Item shapes and keys live in [`items`], cursors in [`cursor`]. `ttl` is the
//! retention attribute; it never decides anything.

mod agents;
mod campaigns;
mod channels;
mod connections;
mod contacts;
mod conversations;
mod cursor;
mod expiry;
mod inbound;
mod items;
mod messages;
mod outbox;
mod queues;
mod sends;
mod templates;

pub use crate::ports::EXPIRY_SHARDS;
pub use items::{
    message_key, BY_AGENT_INDEX, BY_CONTACT_INDEX, BY_EXPIRY_INDEX, BY_KIND_INDEX, BY_QUEUE_INDEX,
};

use crate::domain::Millis;
use crate::ports::PortResult;
use aws_sdk_dynamodb::types::AttributeValue;
use items::{expired, from_item};
use serde::de::DeserializeOwned;

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

    pub(super) fn retention_ttl(&self, now: Millis) -> i64 {
        now / 1000 + self.retention_days * DAY_SECS
    }

    pub(super) async fn get<T: DeserializeOwned>(
        &self,
        pk: String,
        sk: &str,
    ) -> PortResult<Option<T>> {
        self.get_raw(pk, sk).await?.map(from_item).transpose()
    }

    /// A strongly consistent `GetItem`, as stored (none once its retention TTL passed).
    pub(super) async fn get_raw(&self, pk: String, sk: &str) -> PortResult<Option<items::Item>> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .key("pk", AttributeValue::S(pk))
            .key("sk", AttributeValue::S(sk.to_owned()))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| crate::aws::sdk_error("dynamodb", e))?;
        Ok(out.item.filter(|item| !expired(item)))
    }
}

impl DynamoStore {
    /// Writes `ops` at once: `Conflict` when a condition (or a concurrent transaction)
    /// cancelled it, an error for anything else.
    pub(super) async fn transact(
        &self,
        ops: Vec<aws_sdk_dynamodb::types::TransactWriteItem>,
    ) -> PortResult<crate::ports::WriteOutcome> {
        match self
            .client
            .transact_write_items()
            .set_transact_items(Some(ops))
            .send()
            .await
        {
            Ok(_) => Ok(crate::ports::WriteOutcome::Committed),
            Err(err) => match cancellation_codes(&err) {
                Some(_) => Ok(crate::ports::WriteOutcome::Conflict),
                None => Err(crate::aws::sdk_error("dynamodb", err)),
            },
        }
    }
}

impl DynamoStore {
    /// Writes `requests` with `BatchWriteItem`, 25 at a time, sending back what DynamoDB
    /// left unprocessed (with a short backoff) until all is written: an error, never a
    /// silent loss, if it keeps refusing.
    pub(super) async fn batch_write(
        &self,
        requests: Vec<aws_sdk_dynamodb::types::WriteRequest>,
    ) -> PortResult<()> {
        for chunk in requests.chunks(25) {
            let mut pending = chunk.to_vec();
            for attempt in 0u64.. {
                if pending.is_empty() {
                    break;
                }
                if attempt == 8 {
                    return Err(crate::ports::PortError::new(
                        "dynamodb",
                        format!("{} writes left unprocessed after retries", pending.len()),
                    ));
                }
                if attempt > 0 {
                    tokio::time::sleep(std::time::Duration::from_millis(25 << attempt)).await;
                }
                pending = self
                    .client
                    .batch_write_item()
                    .request_items(&self.table, pending)
                    .send()
                    .await
                    .map_err(|e| crate::aws::sdk_error("dynamodb", e))?
                    .unprocessed_items
                    .and_then(|mut u| u.remove(&self.table))
                    .unwrap_or_default();
            }
        }
        Ok(())
    }
}

pub(super) fn cancellation_codes(
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

/// A conditional write (UpdateItem, PutItem) whose condition did not hold.
pub(super) fn is_conditional_failure<E: aws_sdk_dynamodb::error::ProvideErrorMetadata>(
    err: &aws_sdk_dynamodb::error::SdkError<E, aws_sdk_dynamodb::config::http::HttpResponse>,
) -> bool {
    err.as_service_error()
        .and_then(|e| e.code())
        .is_some_and(|c| c == "ConditionalCheckFailedException")
}
