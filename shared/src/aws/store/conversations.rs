//! Conversation records: start, conditional updates, removal with every message.

use super::cursor::{decode_cursor, encode_cursor, is_opened_key};
use super::items::{
    contact_pk, conversation_pk, expired, from_item, n, s, to_item, ConversationItem, Item,
    BY_CONTACT_INDEX,
};
use super::DynamoStore;
use crate::domain::{Conversation, Message, Millis};
use crate::ports::{
    ConversationStore, Effects, Page, PortError, PortResult, StartWrite, WriteOutcome,
};
use async_trait::async_trait;
use aws_sdk_dynamodb::types::{Put, TransactWriteItem, Update};

impl DynamoStore {
    pub(super) fn conversation_put(
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

    /// Bulk import (migrations, load tests): writes conversations as they are.
    pub async fn import_conversations(&self, conversations: &[Conversation]) -> PortResult<()> {
        use aws_sdk_dynamodb::types::{PutRequest, WriteRequest};
        let requests = conversations
            .iter()
            .map(|c| {
                PutRequest::builder()
                    .set_item(Some(to_item(&self.conversation_item(c))?))
                    .build()
                    .map(|p| WriteRequest::builder().put_request(p).build())
                    .map_err(|e| PortError::new("dynamodb", e))
            })
            .collect::<PortResult<Vec<_>>>()?;
        self.batch_write(requests).await
    }
}

#[async_trait]
impl ConversationStore for DynamoStore {
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
            let opened_key = decode_cursor(cursor, is_opened_key)?;
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
            .map_err(|e| crate::aws::sdk_error("dynamodb", e))?;
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

    async fn start_conversation(
        &self,
        write: &StartWrite,
        _now: Millis,
    ) -> PortResult<WriteOutcome> {
        let c = &write.conversation;
        let mut ops = vec![self.conversation_put(c, None)?];
        ops.extend(self.load_moves(c, None)?);
        let mut contact_update = Update::builder()
            .table_name(&self.table)
            .key("pk", s(contact_pk(&c.channel, &c.contact)))
            .key("sk", s("CONTACT"))
            .update_expression(
                "SET channel = :ch, contact = :ct, open_conversation_id = :open, #copy = :copy",
            )
            .expression_attribute_names("#copy", super::contacts::OPEN_COPY)
            .expression_attribute_values(":copy", self.open_copy(c)?)
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
        if let Some(reach) = write.reach {
            let update = Update::builder()
                .table_name(&self.table)
                .key("pk", s(super::items::channel_pk(&c.channel)))
                .key("sk", s(super::channels::reach_sk(reach.hour)))
                .update_expression("ADD reached :one SET #ttl = if_not_exists(#ttl, :ttl)")
                .condition_expression("attribute_not_exists(reached) OR reached < :cap")
                .expression_attribute_names("#ttl", "ttl")
                .expression_attribute_values(":one", n(1))
                .expression_attribute_values(":cap", n(reach.cap))
                // Kept a little past the day it counts in.
                .expression_attribute_values(":ttl", n((reach.hour + 26) * 3600))
                .build()
                .map_err(|e| PortError::new("dynamodb", e))?;
            ops.push(TransactWriteItem::builder().update(update).build());
        }
        if let Some(r) = &write.recipient {
            use crate::domain::campaign::RecipientStatus::Pending;
            ops.push(self.recipient_put(r, Pending)?);
            ops.push(self.counter_move(&r.campaign_id, Pending, r.status)?);
        }
        ops.extend(self.outbox_puts(&write.effects)?);
        self.transact(ops).await
    }

    async fn update_conversation(
        &self,
        next: &Conversation,
        expected_version: u64,
        effects: &Effects,
    ) -> PortResult<WriteOutcome> {
        let item = to_item(&self.conversation_item(next))?;
        let moves = self.load_moves(next, None)?;
        let copy = self.open_copy_update(next)?;
        if effects.is_empty() && moves.is_empty() && copy.is_none() {
            let result = self
                .client
                .put_item()
                .table_name(&self.table)
                .set_item(Some(item))
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
                Err(e) => return Err(crate::aws::sdk_error("dynamodb", e)),
            }
        } else {
            // The change and what it sets in motion commit together (the outbox).
            let put = Put::builder()
                .table_name(&self.table)
                .set_item(Some(item))
                .condition_expression("#version = :expected")
                .expression_attribute_names("#version", "version")
                .expression_attribute_values(":expected", n(expected_version))
                .build()
                .map_err(|e| PortError::new("dynamodb", e))?;
            let mut ops = vec![TransactWriteItem::builder().put(put).build()];
            ops.extend(moves);
            ops.extend(self.outbox_puts(effects)?);
            ops.extend(copy);
            if self.transact(ops).await? == WriteOutcome::Conflict {
                return Ok(WriteOutcome::Conflict);
            }
        }
        if !next.state.is_open() {
            self.free_contact(next).await?;
        }
        Ok(WriteOutcome::Committed)
    }

    async fn close_conversation(
        &self,
        closed: &Conversation,
        expected_version: u64,
        closing_message: Option<&Message>,
        effects: &Effects,
    ) -> PortResult<WriteOutcome> {
        let put = Put::builder()
            .table_name(&self.table)
            .set_item(Some(to_item(&self.conversation_item(closed))?))
            .condition_expression("#version = :expected")
            .expression_attribute_names("#version", "version")
            .expression_attribute_values(":expected", n(expected_version))
            .build()
            .map_err(|e| PortError::new("dynamodb", e))?;
        let mut ops = vec![TransactWriteItem::builder().put(put).build()];
        ops.extend(self.load_moves(closed, None)?);
        if let Some(m) = closing_message {
            ops.push(self.new_message_put(m)?);
        }
        ops.extend(self.outbox_puts(effects)?);
        if self.transact(ops).await? == WriteOutcome::Conflict {
            return Ok(WriteOutcome::Conflict);
        }
        self.free_contact(closed).await?;
        Ok(WriteOutcome::Committed)
    }

    async fn remove_conversation(
        &self,
        conversation: &Conversation,
        effects: &Effects,
    ) -> PortResult<WriteOutcome> {
        use aws_sdk_dynamodb::types::{Delete, DeleteRequest, WriteRequest};
        let pk = conversation_pk(&conversation.id);
        // The conversation first, if nobody changed it since it was read, with the
        // removal's events: a message that arrives from now on opens a new conversation
        // instead of joining a removed one.
        let delete = Delete::builder()
            .table_name(&self.table)
            .key("pk", s(&pk))
            .key("sk", s("CONV"))
            .condition_expression("#version = :v")
            .expression_attribute_names("#version", "version")
            .expression_attribute_values(":v", n(conversation.version))
            .build()
            .map_err(|e| PortError::new("dynamodb", e))?;
        let mut ops = vec![TransactWriteItem::builder().delete(delete).build()];
        ops.extend(self.load_release(conversation)?);
        ops.extend(self.outbox_puts(effects)?);
        if self.transact(ops).await? == WriteOutcome::Conflict {
            return Ok(WriteOutcome::Conflict);
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
                .map_err(|e| crate::aws::sdk_error("dynamodb", e))?;
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
                        .map_err(|e| crate::aws::sdk_error("dynamodb", e))?;
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
}
