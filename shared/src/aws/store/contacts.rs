//! Contact records: the customer-service window and the open-conversation pointer.

use super::items::{contact_pk, from_item, n, s, to_attribute, Keyed};
use super::{is_conditional_failure, DynamoStore};
use crate::domain::{Conversation, Millis};
use crate::ports::{ContactRecord, ContactStore, PortResult};
use async_trait::async_trait;
use aws_sdk_dynamodb::types::{AttributeValue, ReturnValue};

impl DynamoStore {
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
            .update_expression("REMOVE open_conversation_id")
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
