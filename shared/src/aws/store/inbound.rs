//! The inbound log: messages and statuses from the provider, deduplicated on its ids.

use super::items::{
    contact_pk, conversation_pk, expired, from_item, message_sk, n, s, to_item, wamid_pk, Item,
    PendingStatus, ProviderMessageItem,
};
use super::{cancellation_codes, is_conditional_failure, DynamoStore};
use crate::domain::{conversation::InboundDecision, Message, Millis};
use crate::ports::{
    EffectsOf, InboundLog, InboundOutcome, InboundWrite, MessageKey, MessageLog, PortError,
    PortResult, ProviderMessageRef, StatusOutcome, StatusUpdate,
};
use async_trait::async_trait;
use aws_sdk_dynamodb::types::{Put, TransactWriteItem, Update};

impl DynamoStore {
    /// Moves a message's status forward, conditionally on its rank, with the effects of
    /// the move in the same transaction. `current` is the message as last read (read
    /// here when not given).
    pub(super) async fn update_status(
        &self,
        key: &MessageKey,
        update: &StatusUpdate,
        current: Option<Message>,
        effects_of: EffectsOf<'_>,
    ) -> PortResult<StatusOutcome> {
        let current = match current {
            Some(m) => m,
            None => match self.message(key).await? {
                Some(m) => m,
                None => return Ok(StatusOutcome::Stale),
            },
        };
        if current
            .status
            .is_some_and(|s| s.rank() >= update.status.replaces_ranks_below())
        {
            return Ok(StatusOutcome::Stale);
        }
        let mut after = current;
        after.status = Some(update.status);
        after.error_code = update.error_code;
        let mut builder = Update::builder()
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
            .expression_attribute_values(":at", n(update.at));
        if let Some(code) = update.error_code {
            builder = builder
                .update_expression(
                    "SET #status = :status, status_rank = :rank, status_at = :at, error_code = :code",
                )
                .expression_attribute_values(":code", n(code));
        }
        let mut ops = vec![TransactWriteItem::builder()
            .update(builder.build().map_err(|e| PortError::new("dynamodb", e))?)
            .build()];
        ops.extend(self.recipient_status_moves(&after, update.at).await?);
        ops.extend(self.outbox_puts(&effects_of(&after))?);
        match self
            .client
            .transact_write_items()
            .set_transact_items(Some(ops))
            .send()
            .await
        {
            Ok(_) => Ok(StatusOutcome::Applied(Box::new(after))),
            // Another status moved it meanwhile: this one is stale.
            Err(err) if cancellation_codes(&err).is_some() => Ok(StatusOutcome::Stale),
            Err(err) => Err(crate::aws::sdk_error("dynamodb", err)),
        }
    }
}

#[async_trait]
impl InboundLog for DynamoStore {
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
        ops.extend(self.load_moves(conversation, None)?);

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
            ops.extend(self.load_moves(expired, None)?);
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
                "SET channel = :ch, contact = :ct, open_conversation_id = :open, last_inbound_at = :at, #copy = :copy",
            )
            .expression_attribute_names("#copy", super::contacts::OPEN_COPY)
            .expression_attribute_values(":copy", self.open_copy(conversation)?)
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
                    "SET channel = :ch, contact = :ct, open_conversation_id = :open, last_inbound_at = :at, #copy = :copy, #name = :name",
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
        // A campaign's contact answered: its recipient has replied.
        if let Some(campaign_id) = &conversation.campaign {
            ops.extend(
                self.recipient_advance(
                    campaign_id,
                    &conversation.contact,
                    crate::domain::campaign::RecipientStatus::Replied,
                    write.message.at,
                )
                .await?,
            );
        }
        ops.extend(self.outbox_puts(&write.effects)?);

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
                None => Err(crate::aws::sdk_error("dynamodb", err)),
            },
        }
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
                .map_err(|e| crate::aws::sdk_error("dynamodb", e))?;
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

    async fn apply_status(
        &self,
        update: &StatusUpdate,
        effects_of: EffectsOf<'_>,
    ) -> PortResult<StatusOutcome> {
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
                Err(e) => Err(crate::aws::sdk_error("dynamodb", e)),
            };
        };
        self.update_status(&reference.key(), update, None, effects_of)
            .await
    }
}
