//! Contact records: the customer-service window and the open-conversation pointer, with
//! a copy of the open conversation so that the contact's next message reads both in one
//! `GetItem`.
//!
//! Every transaction that writes an open conversation sets the copy in the same
//! transaction ([`DynamoStore::open_copy_update`], or the contact update it already has),
//! so the copy is the conversation as last written. It stays a hint: `inbound` conditions
//! its write on the copy's version and reads the conversation itself after a conflict
//! (a write that left the copy behind — a close until the pointer is freed, a bulk
//! import — costs that one extra read, never a wrong decision).

use super::items::{contact_pk, from_item, n, s, to_attribute, Keyed};
use super::{is_conditional_failure, DynamoStore};
use crate::domain::{Conversation, Millis};
use crate::ports::{ContactRecord, ContactStore, PortError, PortResult};
use async_trait::async_trait;
use aws_sdk_dynamodb::types::{AttributeValue, ReturnValue, TransactWriteItem, Update};

/// The contact item's attribute holding the copy of its open conversation.
pub(super) const OPEN_COPY: &str = "open_conversation";

impl DynamoStore {
    /// The copy of `c` as its contact item carries it: the conversation as stored.
    pub(super) fn open_copy(&self, c: &Conversation) -> PortResult<AttributeValue> {
        to_attribute(&self.conversation_item(c).conversation)
    }

    /// Sets the contact's copy of `c` in a transaction that writes `c`; nothing for a
    /// conversation that is no longer open (its pointer is being freed). Unconditioned, so
    /// it never cancels the write it rides with: a copy that does not match the pointer is
    /// ignored by readers.
    pub(super) fn open_copy_update(
        &self,
        c: &Conversation,
    ) -> PortResult<Option<TransactWriteItem>> {
        if !c.state.is_open() {
            return Ok(None);
        }
        let update = Update::builder()
            .table_name(&self.table)
            .key("pk", s(contact_pk(&c.channel, &c.contact)))
            .key("sk", s("CONTACT"))
            .update_expression("SET channel = :ch, contact = :ct, #copy = :copy")
            .expression_attribute_names("#copy", OPEN_COPY)
            .expression_attribute_values(":ch", s(&c.channel))
            .expression_attribute_values(":ct", s(&c.contact))
            .expression_attribute_values(":copy", self.open_copy(c)?)
            .build()
            .map_err(|e| PortError::new("dynamodb", e))?;
        Ok(Some(TransactWriteItem::builder().update(update).build()))
    }

    /// A closed conversation no longer holds its contact: the next message opens a new one.
    /// Only if the pointer still names it (a newer conversation keeps its pointer). Were
    /// this step lost, readers find the pointer naming a closed conversation, which they
    /// treat as no open conversation.
    pub(super) async fn free_contact(&self, closed: &Conversation) -> PortResult<()> {
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .key("pk", s(contact_pk(&closed.channel, &closed.contact)))
            .key("sk", s("CONTACT"))
            .update_expression("REMOVE open_conversation_id, #copy")
            .expression_attribute_names("#copy", OPEN_COPY)
            .condition_expression("attribute_exists(pk) AND open_conversation_id = :id")
            .expression_attribute_values(":id", s(&closed.id))
            .send()
            .await;
        match result {
            Err(e) if !is_conditional_failure(&e) => Err(crate::aws::sdk_error("dynamodb", e)),
            _ => Ok(()),
        }
    }
}

#[async_trait]
impl ContactStore for DynamoStore {
    async fn contact(&self, channel: &str, contact: &str) -> PortResult<Option<ContactRecord>> {
        let keyed: Option<Keyed<ContactRecord>> =
            self.get(contact_pk(channel, contact), "CONTACT").await?;
        Ok(keyed.map(|k| k.value))
    }

    async fn contact_with_open_copy(
        &self,
        channel: &str,
        contact: &str,
    ) -> PortResult<(Option<ContactRecord>, Option<Conversation>)> {
        let Some(mut item) = self
            .get_raw(contact_pk(channel, contact), "CONTACT")
            .await?
        else {
            return Ok((None, None));
        };
        let copy = item.remove(OPEN_COPY);
        let record = from_item::<Keyed<ContactRecord>>(item)?.value;
        // A hint only: a copy that no longer decodes (an older shape) is read past, so the
        // conversation itself is read instead of the message failing.
        let copy = copy.and_then(|value| {
            serde_dynamo::from_attribute_value::<_, Conversation>(value)
                .inspect_err(|e| tracing::warn!(error = %e, "open-conversation copy ignored"))
                .ok()
        });
        // Only a copy of the conversation the pointer names is one.
        let copy = copy.filter(|c| record.open_conversation_id.as_deref() == Some(c.id.as_str()));
        Ok((Some(record), copy))
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
            .map_err(|e| crate::aws::sdk_error("dynamodb", e))?;
        Ok(())
    }

    async fn save_profile(
        &self,
        channel: &str,
        contact: &str,
        display_name: Option<&str>,
        attributes: &serde_json::Map<String, serde_json::Value>,
        opted_out: Option<bool>,
    ) -> PortResult<ContactRecord> {
        let mut sets = vec!["channel = :ch", "contact = :ct"];
        let mut removes = Vec::new();
        let mut update = self
            .client
            .update_item()
            .table_name(&self.table)
            .key("pk", s(contact_pk(channel, contact)))
            .key("sk", s("CONTACT"))
            .expression_attribute_values(":ch", s(channel))
            .expression_attribute_values(":ct", s(contact))
            .return_values(ReturnValue::AllNew);
        match display_name {
            Some(name) => {
                sets.push("display_name = :name");
                update = update.expression_attribute_values(":name", s(name));
            }
            None => removes.push("display_name"),
        }
        match opted_out {
            Some(true) => {
                sets.push("opted_out = :out");
                update = update.expression_attribute_values(":out", AttributeValue::Bool(true));
            }
            Some(false) => removes.push("opted_out"),
            None => {}
        }
        if attributes.is_empty() {
            removes.push("attributes");
        } else {
            sets.push("attributes = :attrs");
            update = update.expression_attribute_values(":attrs", to_attribute(attributes)?);
        }
        let mut expression = format!("SET {}", sets.join(", "));
        if !removes.is_empty() {
            expression.push_str(&format!(" REMOVE {}", removes.join(", ")));
        }
        let out = update
            .update_expression(expression)
            .send()
            .await
            .map_err(|e| crate::aws::sdk_error("dynamodb", e))?;
        from_item(out.attributes.unwrap_or_default())
    }

    async fn opt_out(&self, channel: &str, contact: &str) -> PortResult<()> {
        self.client
            .update_item()
            .table_name(&self.table)
            .key("pk", s(contact_pk(channel, contact)))
            .key("sk", s("CONTACT"))
            .update_expression("SET opted_out = :out, channel = :ch, contact = :ct")
            .expression_attribute_values(":out", AttributeValue::Bool(true))
            .expression_attribute_values(":ch", s(channel))
            .expression_attribute_values(":ct", s(contact))
            .send()
            .await
            .map_err(|e| crate::aws::sdk_error("dynamodb", e))?;
        Ok(())
    }
}
