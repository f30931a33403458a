//! The message log of each conversation, and the idempotency keys of agent sends.

use super::cursor::{decode_cursor, encode_cursor};
use super::items::{
    conversation_pk, expired, from_item, message_sk, n, s, to_item, wamid_pk, IdempotencyItem,
    MessageItem,
};
use super::{cancellation_codes, is_conditional_failure, DynamoStore};
use crate::domain::{Message, Millis};
use crate::ports::{
    MessageKey, MessageLog, OutboundWrite, Page, PortError, PortResult, ProviderMessageRef,
    WriteOutcome,
};
use async_trait::async_trait;
use aws_sdk_dynamodb::types::{AttributeValue, Put, TransactWriteItem, Update};

impl DynamoStore {
    /// Stores an outbound message as it is, with its provider-id index (imports, seeding
    /// and tests; conversa's own sends are written with their change).
    pub async fn import_outbound(&self, message: &Message) -> PortResult<()> {
        let item = self.message_item(message);
        let reference = ProviderMessageRef {
            conversation_id: message.conversation_id.clone(),
            message_key: item.sk.clone(),
            opened_conversation: false,
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
                "SET conversation_id = :c, message_key = :k, opened_conversation = :f, #ttl = :ttl",
            )
            .expression_attribute_names("#ttl", "ttl")
            .expression_attribute_values(":c", s(&reference.conversation_id))
            .expression_attribute_values(":k", s(&reference.message_key))
            .expression_attribute_values(":f", AttributeValue::Bool(false))
            .expression_attribute_values(":ttl", n(self.retention_ttl(message.stored_at)))
            .build()
            .map_err(|e| PortError::new("dynamodb", e))?;
        self.client
            .transact_write_items()
            .transact_items(TransactWriteItem::builder().put(put).build())
            .transact_items(TransactWriteItem::builder().update(index).build())
            .send()
            .await
            .map_err(|e| crate::aws::sdk_error("dynamodb", e))?;
        Ok(())
    }

    pub(super) fn new_message_put(&self, m: &Message) -> PortResult<TransactWriteItem> {
        let item = self.message_item(m);
        let put = Put::builder()
            .table_name(&self.table)
            .set_item(Some(to_item(&item)?))
            .condition_expression("attribute_not_exists(pk)")
            .build()
            .map_err(|e| PortError::new("dynamodb", e))?;
        Ok(TransactWriteItem::builder().put(put).build())
    }

    pub(super) async fn update_message(
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
            Err(e) => Err(crate::aws::sdk_error("dynamodb", e)),
        }
    }
}

#[async_trait]
impl MessageLog for DynamoStore {
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
                .exclusive_start_key("sk", s(decode_cursor(cursor, |k| k.starts_with("MSG#"))?));
        }
        let out = q
            .send()
            .await
            .map_err(|e| crate::aws::sdk_error("dynamodb", e))?;
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

    async fn message(&self, key: &MessageKey) -> PortResult<Option<Message>> {
        let item: Option<MessageItem> = self
            .get(conversation_pk(&key.conversation_id), &key.message_key)
            .await?;
        Ok(item.map(|i| i.message))
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
        ops.extend(self.load_moves(&write.conversation, None)?);
        ops.push(self.new_message_put(&write.message)?);
        ops.extend(self.outbox_puts(&write.effects)?);
        ops.extend(self.open_copy_update(&write.conversation)?);
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
                            if let Some(m) = self.message(&key).await? {
                                return Ok(WriteOutcome::Duplicate(Box::new(m)));
                            }
                        }
                    }
                    Ok(WriteOutcome::Conflict)
                }
                None => Err(crate::aws::sdk_error("dynamodb", err)),
            },
        }
    }
}
