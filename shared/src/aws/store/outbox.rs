//! The outbox: one item per effect of a committed change (an event, a send, a timer),
//! written in the change's own transaction. `event-relay` carries them out from the
//! table's stream (`INSERT` of `kind = outbox`); a day later the TTL deletes them.

use super::items::to_item;
use super::DynamoStore;
use crate::ports::{Effects, OutboxEntry, PortError, PortResult, OUTBOX_KIND};
use aws_sdk_dynamodb::types::{Put, TransactWriteItem};
use serde::Serialize;

/// Long enough for the relay's retries; retention only, never a decision.
const OUTBOX_TTL_SECS: i64 = 86_400;

#[derive(Serialize)]
struct OutboxItem<'a> {
    pk: String,
    sk: &'static str,
    kind: &'static str,
    /// Nested, so no field of an effect can shadow the item's own (`kind`).
    entry: &'a OutboxEntry,
    ttl: i64,
}

impl DynamoStore {
    /// One `Put` per effect, to join the transaction of the change that causes them.
    pub(super) fn outbox_puts(&self, effects: &Effects) -> PortResult<Vec<TransactWriteItem>> {
        let ttl = chrono::Utc::now().timestamp() + OUTBOX_TTL_SECS;
        effects
            .entries()
            .iter()
            .map(|entry| {
                let item = OutboxItem {
                    pk: format!("OUTBOX#{}", ulid::Ulid::new()),
                    sk: "OUTBOX",
                    kind: OUTBOX_KIND,
                    entry,
                    ttl,
                };
                let put = Put::builder()
                    .table_name(&self.table)
                    .set_item(Some(to_item(&item)?))
                    .condition_expression("attribute_not_exists(pk)")
                    .build()
                    .map_err(|e| PortError::new("dynamodb", e))?;
                Ok(TransactWriteItem::builder().put(put).build())
            })
            .collect()
    }
}
