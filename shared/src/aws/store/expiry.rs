//! The expiry index: open conversations by `expires_at`, in shards, for the sweeper.

use super::cursor::{key_cursor, key_of_cursor};
use super::items::{from_item, n, s, ConversationItem, BY_EXPIRY_INDEX};
use super::DynamoStore;
use crate::domain::{Conversation, Millis};
use crate::ports::{ExpiryIndex, Page, PortResult, EXPIRY_SHARDS};
use async_trait::async_trait;
use aws_sdk_dynamodb::types::AttributeValue;

impl DynamoStore {
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
}

#[async_trait]
impl ExpiryIndex for DynamoStore {
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
            .map_err(|e| crate::aws::sdk_error("dynamodb", e))?;
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
