//! The send ledger: one claimed send per outbound message, and its outcome.

use super::items::{conversation_pk, from_item, n, s, wamid_pk, PendingStatus};
use super::DynamoStore;
use crate::domain::{DeliveryStatus, Message, Millis};
use crate::ports::{
    EffectsOf, MessageKey, MessageLog, PortError, PortResult, SendLedger, StatusOutcome,
    StatusUpdate,
};
use async_trait::async_trait;
use aws_sdk_dynamodb::types::{AttributeValue, TransactWriteItem, Update};

#[async_trait]
impl SendLedger for DynamoStore {
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

    async fn mark_unknown(&self, key: &MessageKey, now: Millis) -> PortResult<bool> {
        let update = self
            .client
            .update_item()
            .update_expression("SET outcome_unknown_since = :now, sending_since = if_not_exists(sending_since, :now)")
            .condition_expression("attribute_exists(pk) AND attribute_not_exists(provider_id)")
            .expression_attribute_values(":now", n(now));
        Ok(self.update_message(key, update).await?.is_some())
    }

    async fn reclaim_unknown(
        &self,
        key: &MessageKey,
        since: Millis,
        now: Millis,
    ) -> PortResult<bool> {
        let update = self
            .client
            .update_item()
            .update_expression("SET sending_since = :now REMOVE outcome_unknown_since")
            .condition_expression(
                "attribute_exists(pk) AND attribute_not_exists(provider_id) AND outcome_unknown_since = :since",
            )
            .expression_attribute_values(":now", n(now))
            .expression_attribute_values(":since", n(since));
        Ok(self.update_message(key, update).await?.is_some())
    }

    async fn record_sent(
        &self,
        key: &MessageKey,
        provider_id: &str,
        now: Millis,
        effects_of: EffectsOf<'_>,
    ) -> PortResult<Message> {
        // 1. The provider-id index, which hands back a status webhook that raced ahead.
        let old = self
            .client
            .update_item()
            .table_name(&self.table)
            .key("pk", s(wamid_pk(provider_id)))
            .key("sk", s("WAMID"))
            .update_expression(
                "SET conversation_id = :c, message_key = :k, opened_conversation = :f, #ttl = :ttl",
            )
            .expression_attribute_names("#ttl", "ttl")
            .expression_attribute_values(":c", s(&key.conversation_id))
            .expression_attribute_values(":k", s(&key.message_key))
            .expression_attribute_values(":f", AttributeValue::Bool(false))
            .expression_attribute_values(":ttl", n(self.retention_ttl(now)))
            .return_values(aws_sdk_dynamodb::types::ReturnValue::AllOld)
            .send()
            .await
            .map_err(|e| crate::aws::sdk_error("dynamodb", e))?
            .attributes
            .and_then(|a| from_item::<PendingStatus>(a).ok());
        // 2. The message gets its provider id and when it was accepted (the first time)
        //    and gives back its claim, whatever its status — unless another send of it
        //    was recorded already (a late status for an earlier attempt whose outcome was
        //    unknown changes nothing).
        let recorded = self
            .update_message(
                key,
                self.client
                    .update_item()
                    .update_expression(
                        "SET provider_id = :pid, sent_at = if_not_exists(sent_at, :now) REMOVE sending_since, outcome_unknown_since",
                    )
                    .condition_expression(
                        "attribute_exists(pk) AND (attribute_not_exists(provider_id) OR provider_id = :pid)",
                    )
                    .expression_attribute_values(":pid", s(provider_id))
                    .expression_attribute_values(":now", n(now)),
            )
            .await?;
        let Some(recorded) = recorded else {
            return self.message(key).await?.ok_or_else(|| {
                PortError::new(
                    "dynamodb",
                    "the sent message was not found in its conversation",
                )
            });
        };
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
        match self
            .update_status(key, &update, Some(recorded.clone()), effects_of)
            .await?
        {
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
        effects_of: EffectsOf<'_>,
    ) -> PortResult<Message> {
        let Some(mut after) = self.message(key).await? else {
            return Err(PortError::new("dynamodb", "failed message vanished"));
        };
        after.status = Some(DeliveryStatus::Failed);
        after.error_code = error_code.or(after.error_code);
        after.failure = Some(failure.to_owned());
        after.outcome_unknown_since = None;
        let mut update = Update::builder()
            .table_name(&self.table)
            .key("pk", s(conversation_pk(&key.conversation_id)))
            .key("sk", s(&key.message_key))
            .update_expression(
                "SET #status = :failed, status_rank = :rank, status_at = :now, failure = :why REMOVE sending_since, outcome_unknown_since",
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
                    "SET #status = :failed, status_rank = :rank, status_at = :now, failure = :why, error_code = :code REMOVE sending_since, outcome_unknown_since",
                )
                .expression_attribute_values(":code", n(code));
        }
        let mut ops = vec![TransactWriteItem::builder()
            .update(update.build().map_err(|e| PortError::new("dynamodb", e))?)
            .build()];
        ops.extend(self.recipient_status_moves(&after, now).await?);
        ops.extend(self.outbox_puts(&effects_of(&after))?);
        self.client
            .transact_write_items()
            .set_transact_items(Some(ops))
            .send()
            .await
            .map_err(|e| crate::aws::sdk_error("dynamodb", e))?;
        Ok(after)
    }
}
