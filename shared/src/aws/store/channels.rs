//! Channels and their settings (`CHANNEL#{id}` / `CHANNEL`), and per-channel counters.

use super::items::{channel_pk, from_item, n, s, to_item, Item, KindItem, BY_KIND_INDEX};
use super::{is_conditional_failure, DynamoStore};
use crate::domain::Channel;
use crate::ports::{ChannelStore, PortResult};
use async_trait::async_trait;

/// The hour's reach count of a channel (`REACH#{hour:010}`, sorts by time).
pub(super) fn reach_sk(hour: i64) -> String {
    format!("REACH#{:010}", hour.max(0))
}

fn channel_item(channel: &Channel) -> PortResult<Item> {
    to_item(&KindItem {
        pk: channel_pk(&channel.id),
        sk: "CHANNEL".into(),
        kind: "channel".into(),
        kind_sort: channel.id.clone(),
        value: channel,
    })
}

impl DynamoStore {
    /// Every item of a kind (channels, queues), through the `by_kind` index.
    pub(super) async fn all_of_kind<T: serde::de::DeserializeOwned>(
        &self,
        kind: &str,
    ) -> PortResult<Vec<T>> {
        let mut out = Vec::new();
        let mut start: Option<Item> = None;
        loop {
            let page = self
                .client
                .query()
                .table_name(&self.table)
                .index_name(BY_KIND_INDEX)
                .key_condition_expression("kind = :k")
                .expression_attribute_values(":k", s(kind))
                .set_exclusive_start_key(start.take())
                .send()
                .await
                .map_err(|e| crate::aws::sdk_error("dynamodb", e))?;
            for item in page.items.unwrap_or_default() {
                out.push(from_item::<T>(item)?);
            }
            match page.last_evaluated_key {
                Some(k) if !k.is_empty() => start = Some(k),
                _ => break,
            }
        }
        Ok(out)
    }

    /// A channel without its own auto-close setting follows the stack's default.
    fn with_defaults(&self, mut c: Channel) -> Channel {
        if c.auto_close_hours == 0 {
            c.auto_close_hours = self.default_auto_close_hours;
        }
        c
    }
}

#[async_trait]
impl ChannelStore for DynamoStore {
    async fn channel(&self, id: &str) -> PortResult<Option<Channel>> {
        let keyed: Option<KindItem<Channel>> = self.get(channel_pk(id), "CHANNEL").await?;
        Ok(keyed.map(|k| self.with_defaults(k.value)))
    }

    async fn channels(&self) -> PortResult<Vec<Channel>> {
        let items: Vec<KindItem<Channel>> = self.all_of_kind("channel").await?;
        Ok(items
            .into_iter()
            .map(|i| self.with_defaults(i.value))
            .collect())
    }

    async fn put_channel(&self, channel: &Channel) -> PortResult<()> {
        self.client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(channel_item(channel)?))
            .send()
            .await
            .map_err(|e| crate::aws::sdk_error("dynamodb", e))?;
        Ok(())
    }

    async fn update_channel(&self, channel: &Channel, expected: u64) -> PortResult<bool> {
        // Records seeded before versions existed have none: version 0.
        let result = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(channel_item(channel)?))
            .condition_expression(
                "attribute_exists(pk) AND (#version = :expected OR (attribute_not_exists(#version) AND :expected = :zero))",
            )
            .expression_attribute_names("#version", "version")
            .expression_attribute_values(":expected", n(expected))
            .expression_attribute_values(":zero", n(0))
            .send()
            .await;
        match result {
            Ok(_) => Ok(true),
            Err(e) if is_conditional_failure(&e) => Ok(false),
            Err(e) => Err(crate::aws::sdk_error("dynamodb", e)),
        }
    }

    async fn reached(&self, channel: &str, from_hour: i64, to_hour: i64) -> PortResult<u64> {
        let out = self
            .client
            .query()
            .table_name(&self.table)
            .key_condition_expression("pk = :pk AND sk BETWEEN :from AND :to")
            .expression_attribute_values(":pk", s(channel_pk(channel)))
            .expression_attribute_values(":from", s(reach_sk(from_hour)))
            .expression_attribute_values(":to", s(reach_sk(to_hour)))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| crate::aws::sdk_error("dynamodb", e))?;
        Ok(out
            .items
            .unwrap_or_default()
            .iter()
            .filter_map(|i| {
                i.get("reached")
                    .and_then(|v| v.as_n().ok())
                    .and_then(|v| v.parse::<u64>().ok())
            })
            .sum())
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
            .map_err(|e| crate::aws::sdk_error("dynamodb", e))?;
        Ok(())
    }
}

impl DynamoStore {
    /// The channel's next free slot in microseconds, as stored (0: never used).
    async fn pace_us(&self, channel: &str) -> PortResult<i64> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .key("pk", s(channel_pk(channel)))
            .key("sk", s("PACE"))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| crate::aws::sdk_error("dynamodb", e))?;
        Ok(out
            .item
            .and_then(|i| i.get("next_us").and_then(|v| v.as_n().ok()?.parse().ok()))
            .unwrap_or(0))
    }
}

/// Slots 10 % wider than 1/rate. Sends reach the provider a little after their slot, each
/// late by its own amount; sends `rate` slots apart are 1.1 s apart, so a one-second
/// window at the provider holds more than the rate only if one send is 100 ms later than
/// the other, far beyond what the network varies.
const SLOT_MARGIN_PERCENT: u64 = 10;

#[async_trait]
impl crate::ports::SendPacer for DynamoStore {
    /// Two atomic updates, no read: a channel already booked gives the slot after its
    /// last (`next_us + spacing`, the old value returned); an idle one the slot `now`.
    /// Only a flip between the two (rare) goes round again.
    async fn take_slot(
        &self,
        channel: &str,
        per_second: u32,
        now: crate::domain::Millis,
        until: crate::domain::Millis,
    ) -> PortResult<crate::ports::Slot> {
        use crate::ports::Slot;
        let spacing_us =
            (1_000_000 * (100 + SLOT_MARGIN_PERCENT) / 100 / u64::from(per_second.max(1))) as i64;
        let (now_us, until_us) = (now * 1000, until * 1000);
        let booked = self
            .client
            .update_item()
            .table_name(&self.table)
            .key("pk", s(channel_pk(channel)))
            .key("sk", s("PACE"))
            .update_expression("SET next_us = next_us + :spacing")
            .condition_expression("next_us > :now AND next_us <= :until")
            .expression_attribute_values(":spacing", n(spacing_us))
            .expression_attribute_values(":now", n(now_us))
            .expression_attribute_values(":until", n(until_us))
            .return_values(aws_sdk_dynamodb::types::ReturnValue::UpdatedOld)
            .send()
            .await;
        match booked {
            Ok(out) => {
                let slot = out
                    .attributes
                    .and_then(|a| {
                        a.get("next_us")
                            .and_then(|v| v.as_n().ok()?.parse::<i64>().ok())
                    })
                    .unwrap_or(now_us);
                return Ok(Slot::Taken((slot + 999) / 1000));
            }
            Err(e) if !is_conditional_failure(&e) => {
                return Err(crate::aws::sdk_error("dynamodb", e))
            }
            Err(_) => {}
        }
        let idle = self
            .client
            .update_item()
            .table_name(&self.table)
            .key("pk", s(channel_pk(channel)))
            .key("sk", s("PACE"))
            .update_expression("SET next_us = :next")
            .condition_expression("attribute_not_exists(next_us) OR next_us <= :now")
            .expression_attribute_values(":next", n(now_us + spacing_us))
            .expression_attribute_values(":now", n(now_us))
            .send()
            .await;
        match idle {
            Ok(_) => Ok(Slot::Taken(now)),
            Err(e) if !is_conditional_failure(&e) => Err(crate::aws::sdk_error("dynamodb", e)),
            // Booked further out (or taken meanwhile): when the next one is.
            Err(_) => Ok(Slot::Wait((self.pace_us(channel).await? + 999) / 1000)),
        }
    }

    async fn hold(&self, channel: &str, until: crate::domain::Millis) -> PortResult<()> {
        let until_us = until * 1000;
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .key("pk", s(channel_pk(channel)))
            .key("sk", s("PACE"))
            .update_expression("SET next_us = :until")
            .condition_expression("attribute_not_exists(next_us) OR next_us < :until")
            .expression_attribute_values(":until", n(until_us))
            .send()
            .await;
        match result {
            Err(e) if !is_conditional_failure(&e) => Err(crate::aws::sdk_error("dynamodb", e)),
            _ => Ok(()),
        }
    }
}
