//! Campaigns (`CAMPAIGN#{id}` / `CAMPAIGN`, listed newest first through `by_kind`) and
//! their recipients (`CAMPAIGN#{id}` / `RCPT#{phone}`). The campaign's counters are
//! attributes moved with `ADD` in the same transaction as the recipient they count, never
//! rewritten by a `Put`, so they stay exact under concurrent dispatchers and statuses.

use super::cursor::{decode_cursor, encode_cursor, key_cursor, key_of_cursor};
use super::items::{from_item, n, s, to_attribute, to_item, Item, KindItem, BY_KIND_INDEX};
use super::DynamoStore;
use crate::domain::campaign::{self, Campaign, CampaignStatus, Recipient, RecipientStatus};
use crate::domain::Millis;
use crate::ports::{CampaignStore, Effects, Page, PortError, PortResult, WriteOutcome};
use async_trait::async_trait;
use aws_sdk_dynamodb::types::{AttributeValue, KeysAndAttributes, Put, TransactWriteItem, Update};
use serde::{Deserialize, Serialize};

const KIND: &str = "campaign";
/// TransactWriteItems takes 100 items: 99 recipients and the campaign's counter.
const RECIPIENTS_PER_WRITE: usize = 99;

pub(super) fn campaign_pk(id: &str) -> String {
    format!("CAMPAIGN#{id}")
}

fn recipient_sk(phone: &str) -> String {
    format!("RCPT#{phone}")
}

#[derive(Serialize, Deserialize)]
struct RecipientItem<'a> {
    pk: String,
    sk: String,
    #[serde(flatten)]
    recipient: std::borrow::Cow<'a, Recipient>,
    ttl: i64,
}

/// The counter attribute of a recipient status.
pub(super) fn counter(status: RecipientStatus) -> &'static str {
    match status {
        RecipientStatus::Pending => "pending",
        RecipientStatus::Queued => "queued",
        RecipientStatus::Skipped => "skipped",
        RecipientStatus::Sent => "sent",
        RecipientStatus::Delivered => "delivered",
        RecipientStatus::Read => "read",
        RecipientStatus::Replied => "replied",
        RecipientStatus::Failed => "failed",
    }
}

fn build<T, E: std::fmt::Display>(r: Result<T, E>) -> PortResult<T> {
    r.map_err(|e| PortError::new("dynamodb", e.to_string()))
}

impl DynamoStore {
    /// The campaign's counters move: one recipient leaves `from` for `to`.
    pub(super) fn counter_move(
        &self,
        campaign_id: &str,
        from: RecipientStatus,
        to: RecipientStatus,
    ) -> PortResult<TransactWriteItem> {
        let update = build(
            Update::builder()
                .table_name(&self.table)
                .key("pk", s(campaign_pk(campaign_id)))
                .key("sk", s("CAMPAIGN"))
                .update_expression("ADD #from :minus, #to :one")
                .expression_attribute_names("#from", counter(from))
                .expression_attribute_names("#to", counter(to))
                .expression_attribute_values(":minus", n(-1))
                .expression_attribute_values(":one", n(1))
                .build(),
        )?;
        Ok(TransactWriteItem::builder().update(update).build())
    }

    /// A recipient's new state, if it is still in `from` (the recipient never moves twice).
    pub(super) fn recipient_put(
        &self,
        r: &Recipient,
        from: RecipientStatus,
    ) -> PortResult<TransactWriteItem> {
        let item = RecipientItem {
            pk: campaign_pk(&r.campaign_id),
            sk: recipient_sk(&r.phone),
            recipient: std::borrow::Cow::Borrowed(r),
            ttl: self.retention_ttl(r.updated_at),
        };
        let put = build(
            Put::builder()
                .table_name(&self.table)
                .set_item(Some(to_item(&item)?))
                .condition_expression("#status = :from")
                .expression_attribute_names("#status", "status")
                .expression_attribute_values(":from", s(counter(from)))
                .build(),
        )?;
        Ok(TransactWriteItem::builder().put(put).build())
    }

    /// Which of these phones the campaign already has.
    async fn existing_recipients(
        &self,
        campaign_id: &str,
        phones: &[&str],
    ) -> PortResult<std::collections::HashSet<String>> {
        let mut found = std::collections::HashSet::new();
        for chunk in phones.chunks(100) {
            let mut keys: Vec<Item> = chunk
                .iter()
                .map(|p| {
                    Item::from([
                        ("pk".to_owned(), s(campaign_pk(campaign_id))),
                        ("sk".to_owned(), s(recipient_sk(p))),
                    ])
                })
                .collect();
            while !keys.is_empty() {
                let request = build(
                    KeysAndAttributes::builder()
                        .set_keys(Some(std::mem::take(&mut keys)))
                        .projection_expression("sk")
                        .consistent_read(true)
                        .build(),
                )?;
                let out = self
                    .client
                    .batch_get_item()
                    .request_items(&self.table, request)
                    .send()
                    .await
                    .map_err(|e| crate::aws::sdk_error("dynamodb", e))?;
                for item in out
                    .responses
                    .unwrap_or_default()
                    .remove(&self.table)
                    .unwrap_or_default()
                {
                    if let Some(Ok(sk)) = item.get("sk").map(AttributeValue::as_s) {
                        found.insert(sk.trim_start_matches("RCPT#").to_owned());
                    }
                }
                if let Some(rest) = out.unprocessed_keys.and_then(|mut u| u.remove(&self.table)) {
                    keys = rest.keys;
                }
            }
        }
        Ok(found)
    }

    /// New recipients and the campaign's pending count, together, while it is a draft.
    async fn insert_recipients(
        &self,
        campaign_id: &str,
        batch: &[&Recipient],
    ) -> PortResult<WriteOutcome> {
        let mut ops = Vec::with_capacity(batch.len() + 1);
        for r in batch {
            let item = RecipientItem {
                pk: campaign_pk(campaign_id),
                sk: recipient_sk(&r.phone),
                recipient: std::borrow::Cow::Borrowed(*r),
                ttl: self.retention_ttl(r.updated_at),
            };
            let put = build(
                Put::builder()
                    .table_name(&self.table)
                    .set_item(Some(to_item(&item)?))
                    .condition_expression("attribute_not_exists(pk)")
                    .build(),
            )?;
            ops.push(TransactWriteItem::builder().put(put).build());
        }
        let update = build(
            Update::builder()
                .table_name(&self.table)
                .key("pk", s(campaign_pk(campaign_id)))
                .key("sk", s("CAMPAIGN"))
                .update_expression("ADD pending :n")
                .condition_expression("#status = :draft")
                .expression_attribute_names("#status", "status")
                .expression_attribute_values(":n", n(batch.len()))
                .expression_attribute_values(":draft", s("draft"))
                .build(),
        )?;
        ops.push(TransactWriteItem::builder().update(update).build());
        self.transact(ops).await
    }
}

impl DynamoStore {
    /// A campaign recipient moves forward to `to` with its counters, in the transaction of
    /// the change that moves it (a status, a reply); nothing when it is already there or
    /// beyond, or skipped. The read makes the counter move exact: the write is
    /// conditional on the status read.
    pub(super) async fn recipient_advance(
        &self,
        campaign_id: &str,
        phone: &str,
        to: RecipientStatus,
        at: Millis,
    ) -> PortResult<Vec<TransactWriteItem>> {
        let current: Option<RecipientItem> = self
            .get(campaign_pk(campaign_id), &recipient_sk(phone))
            .await?;
        let Some(current) = current.map(|c| c.recipient.into_owned()) else {
            return Ok(Vec::new());
        };
        let from = current.status;
        if matches!(from, RecipientStatus::Pending | RecipientStatus::Skipped)
            || from.rank() >= to.rank()
        {
            return Ok(Vec::new());
        }
        let mut next = current;
        next.status = to;
        next.updated_at = at;
        Ok(vec![
            self.recipient_put(&next, from)?,
            self.counter_move(campaign_id, from, to)?,
        ])
    }

    /// A status of a campaign's message, for its recipient.
    pub(super) async fn recipient_status_moves(
        &self,
        m: &crate::domain::Message,
        at: Millis,
    ) -> PortResult<Vec<TransactWriteItem>> {
        use crate::domain::DeliveryStatus as D;
        let Some((campaign_id, phone)) = campaign::of_sender(m.sender.as_deref()) else {
            return Ok(Vec::new());
        };
        let to = match m.status {
            Some(D::Sent) => RecipientStatus::Sent,
            Some(D::Delivered) => RecipientStatus::Delivered,
            Some(D::Read) => RecipientStatus::Read,
            Some(D::Failed) => RecipientStatus::Failed,
            _ => return Ok(Vec::new()),
        };
        let mut ops = self.recipient_advance(campaign_id, phone, to, at).await?;
        // The provider's id, and a failure's code, stay with the recipient.
        if let Some(TransactWriteItem { put: Some(put), .. }) = ops.first_mut() {
            if let Some(provider_id) = &m.provider_id {
                put.item.insert("wamid".into(), s(provider_id));
            }
            if let (RecipientStatus::Failed, Some(code)) = (to, m.error_code) {
                put.item.insert("error_code".into(), n(code));
            }
        }
        Ok(ops)
    }
}

#[async_trait]
impl CampaignStore for DynamoStore {
    async fn create_campaign(&self, c: &Campaign) -> PortResult<()> {
        let item = to_item(&KindItem {
            pk: campaign_pk(&c.id),
            sk: "CAMPAIGN".into(),
            kind: KIND.into(),
            kind_sort: format!("{:016}#{}", c.created_at.max(0), c.id),
            value: c,
        })?;
        self.client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .condition_expression("attribute_not_exists(pk)")
            .send()
            .await
            .map_err(|e| crate::aws::sdk_error("dynamodb", e))?;
        Ok(())
    }

    async fn campaign(&self, id: &str) -> PortResult<Option<Campaign>> {
        let item: Option<KindItem<Campaign>> = self.get(campaign_pk(id), "CAMPAIGN").await?;
        Ok(item.map(|i| i.value))
    }

    async fn campaigns(&self, cursor: Option<&str>, limit: u32) -> PortResult<Page<Campaign>> {
        let mut q = self
            .client
            .query()
            .table_name(&self.table)
            .index_name(BY_KIND_INDEX)
            .key_condition_expression("kind = :k")
            .expression_attribute_values(":k", s(KIND))
            .scan_index_forward(false)
            .limit(limit as i32);
        if let Some(c) = cursor {
            q = q.set_exclusive_start_key(Some(key_of_cursor(c, "kind", KIND, "kind_sort")?));
        }
        let out = q
            .send()
            .await
            .map_err(|e| crate::aws::sdk_error("dynamodb", e))?;
        let items = out
            .items
            .unwrap_or_default()
            .into_iter()
            .map(|i| from_item::<KindItem<Campaign>>(i).map(|k| k.value))
            .collect::<PortResult<Vec<_>>>()?;
        let next_cursor = out
            .last_evaluated_key
            .as_ref()
            .filter(|k| !k.is_empty())
            .and_then(key_cursor);
        Ok(Page { items, next_cursor })
    }

    async fn move_campaign(
        &self,
        next: &Campaign,
        from: CampaignStatus,
        effects: &Effects,
    ) -> PortResult<WriteOutcome> {
        let mut sets = vec!["#status = :to"];
        let mut removes = Vec::new();
        let mut update = Update::builder()
            .table_name(&self.table)
            .key("pk", s(campaign_pk(&next.id)))
            .key("sk", s("CAMPAIGN"))
            .condition_expression("#status = :from")
            .expression_attribute_names("#status", "status")
            .expression_attribute_values(":to", to_attribute(&next.status)?)
            .expression_attribute_values(":from", to_attribute(&from)?);
        match next.paused_reason {
            Some(reason) => {
                sets.push("paused_reason = :reason");
                update = update.expression_attribute_values(":reason", to_attribute(&reason)?);
            }
            None => removes.push("paused_reason"),
        }
        if let Some(reason) = &next.failure_reason {
            sets.push("failure_reason = :failure");
            update = update.expression_attribute_values(":failure", s(reason));
        }
        if let Some(at) = next.started_at {
            sets.push("started_at = :started");
            update = update.expression_attribute_values(":started", n(at));
        }
        if let Some(at) = next.completed_at {
            sets.push("completed_at = :completed");
            update = update.expression_attribute_values(":completed", n(at));
        }
        // Starting or resuming names the timer that goes on.
        if let Some(due) = next.dispatch_due {
            sets.push("dispatch_due = :due");
            update = update.expression_attribute_values(":due", n(due));
        }
        let mut expression = format!("SET {}", sets.join(", "));
        if !removes.is_empty() {
            expression.push_str(&format!(" REMOVE {}", removes.join(", ")));
        }
        let update = build(update.update_expression(expression).build())?;
        let mut ops = vec![TransactWriteItem::builder().update(update).build()];
        ops.extend(self.outbox_puts(effects)?);
        self.transact(ops).await
    }

    async fn add_recipients(&self, campaign_id: &str, recipients: &[Recipient]) -> PortResult<u64> {
        let phones: Vec<&str> = recipients.iter().map(|r| r.phone.as_str()).collect();
        let existing = self.existing_recipients(campaign_id, &phones).await?;
        let fresh: Vec<&Recipient> = recipients
            .iter()
            .filter(|r| !existing.contains(&r.phone))
            .collect();
        let mut added = 0;
        for batch in fresh.chunks(RECIPIENTS_PER_WRITE) {
            match self.insert_recipients(campaign_id, batch).await? {
                WriteOutcome::Committed => added += batch.len() as u64,
                // One of them arrived meanwhile (or the campaign left draft): one by one.
                _ => {
                    for r in batch {
                        if self.insert_recipients(campaign_id, &[r]).await?
                            == WriteOutcome::Committed
                        {
                            added += 1;
                        }
                    }
                }
            }
        }
        Ok(added)
    }

    async fn recipients(
        &self,
        campaign_id: &str,
        status: Option<RecipientStatus>,
        cursor: Option<&str>,
        limit: u32,
    ) -> PortResult<Page<Recipient>> {
        let mut q = self
            .client
            .query()
            .table_name(&self.table)
            .key_condition_expression("pk = :pk AND begins_with(sk, :rcpt)")
            .expression_attribute_values(":pk", s(campaign_pk(campaign_id)))
            .expression_attribute_values(":rcpt", s("RCPT#"))
            .consistent_read(true)
            .limit(limit as i32);
        if let Some(st) = status {
            q = q
                .filter_expression("#status = :status")
                .expression_attribute_names("#status", "status")
                .expression_attribute_values(":status", s(counter(st)));
        }
        if let Some(c) = cursor {
            q = q
                .exclusive_start_key("pk", s(campaign_pk(campaign_id)))
                .exclusive_start_key("sk", s(decode_cursor(c, |k| k.starts_with("RCPT#"))?));
        }
        let out = q
            .send()
            .await
            .map_err(|e| crate::aws::sdk_error("dynamodb", e))?;
        let items = out
            .items
            .unwrap_or_default()
            .into_iter()
            .map(|i| from_item::<RecipientItem>(i).map(|r| r.recipient.into_owned()))
            .collect::<PortResult<Vec<_>>>()?;
        let next_cursor = out
            .last_evaluated_key
            .as_ref()
            .filter(|k| !k.is_empty())
            .and_then(|k| encode_cursor(k, "sk"));
        Ok(Page { items, next_cursor })
    }

    async fn settle_recipient(&self, next: &Recipient) -> PortResult<bool> {
        let ops = vec![
            self.recipient_put(next, RecipientStatus::Pending)?,
            self.counter_move(&next.campaign_id, RecipientStatus::Pending, next.status)?,
        ];
        Ok(self.transact(ops).await? == WriteOutcome::Committed)
    }

    async fn advance_dispatch(
        &self,
        campaign_id: &str,
        expected_due: Millis,
        cursor: Option<&str>,
        next_due: Millis,
        progress: Option<(i64, crate::ports::DomainEvent)>,
    ) -> PortResult<bool> {
        let mut sets = vec!["dispatch_due = :next"];
        let mut update = Update::builder()
            .table_name(&self.table)
            .key("pk", s(campaign_pk(campaign_id)))
            .key("sk", s("CAMPAIGN"))
            .condition_expression("dispatch_due = :expected")
            .expression_attribute_values(":expected", n(expected_due))
            .expression_attribute_values(":next", n(next_due));
        if let Some(c) = cursor {
            sets.push("dispatch_cursor = :c");
            update = update.expression_attribute_values(":c", s(c));
        }
        let mut effects = Effects::default();
        if let Some((slot, event)) = progress {
            sets.push("progress_slot = :slot");
            update = update.expression_attribute_values(":slot", n(slot));
            effects.events.push(event);
        }
        let mut expression = format!("SET {}", sets.join(", "));
        if cursor.is_none() {
            expression.push_str(" REMOVE dispatch_cursor");
        }
        let update = build(update.update_expression(expression).build())?;
        let mut ops = vec![TransactWriteItem::builder().update(update).build()];
        ops.extend(self.outbox_puts(&effects)?);
        Ok(self.transact(ops).await? == WriteOutcome::Committed)
    }
}
