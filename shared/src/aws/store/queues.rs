//! Queues, and the work lists read from the `by_queue` and `by_agent` indexes.

use super::cursor::{key_cursor, key_of_cursor};
use super::items::{
    expired, from_item, s, to_attribute, to_item, ConversationItem, KindItem, BY_AGENT_INDEX,
    BY_QUEUE_INDEX,
};
use super::DynamoStore;
use crate::domain::{workspace::Queue, Conversation};
use crate::ports::{AgentList, ListFilter, Page, PortResult, QueueList, QueueStore, WorkLists};
use async_trait::async_trait;

impl DynamoStore {
    /// One page of a work list: `queue_key` on `by_queue`, or `agent_key` on `by_agent`.
    pub(super) async fn list_index(
        &self,
        key_attr: &str,
        key_value: String,
        filter: &ListFilter,
        newest_first: bool,
        cursor: Option<&str>,
        limit: u32,
    ) -> PortResult<Page<Conversation>> {
        let (index, sort_attr) = if key_attr == "queue_key" {
            (BY_QUEUE_INDEX, "queue_sort")
        } else {
            (BY_AGENT_INDEX, "agent_sort")
        };
        let mut q = self
            .client
            .query()
            .table_name(&self.table)
            .index_name(index)
            .key_condition_expression(format!("{key_attr} = :k"))
            .expression_attribute_values(":k", s(&key_value))
            .scan_index_forward(!newest_first)
            .limit(limit as i32);
        let mut filters = Vec::new();
        if let Some(ch) = &filter.channel {
            filters.push("channel = :ch");
            q = q.expression_attribute_values(":ch", s(ch));
        }
        if let Some(ct) = &filter.contact {
            filters.push("contact = :ct");
            q = q.expression_attribute_values(":ct", s(ct));
        }
        if let Some(origin) = filter.origin {
            filters.push("origin = :origin");
            q = q.expression_attribute_values(":origin", to_attribute(&origin)?);
        }
        if let Some(state) = filter.state {
            filters.push("#state = :state");
            q = q
                .expression_attribute_names("#state", "state")
                .expression_attribute_values(":state", to_attribute(&state)?);
        }
        if !filters.is_empty() {
            q = q.filter_expression(filters.join(" AND "));
        }
        if let Some(c) = cursor {
            q = q.set_exclusive_start_key(Some(key_of_cursor(c, key_attr, &key_value, sort_attr)?));
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
            .filter(|k| !k.is_empty())
            .and_then(key_cursor);
        Ok(Page { items, next_cursor })
    }
}

#[async_trait]
impl QueueStore for DynamoStore {
    async fn queue(&self, id: &str) -> PortResult<Option<Queue>> {
        let item: Option<KindItem<Queue>> = self.get(format!("QUEUE#{id}"), "QUEUE").await?;
        Ok(item.map(|i| i.value))
    }

    async fn queues(&self) -> PortResult<Vec<Queue>> {
        let items: Vec<KindItem<Queue>> = self.all_of_kind("queue").await?;
        Ok(items.into_iter().map(|i| i.value).collect())
    }

    async fn put_queue(&self, queue: &Queue) -> PortResult<()> {
        let item = to_item(&KindItem {
            pk: format!("QUEUE#{}", queue.id),
            sk: "QUEUE".into(),
            kind: "queue".into(),
            kind_sort: queue.id.clone(),
            value: queue,
        })?;
        self.client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .send()
            .await
            .map_err(|e| crate::aws::sdk_error("dynamodb", e))?;
        Ok(())
    }
}

#[async_trait]
impl WorkLists for DynamoStore {
    async fn queue_conversations(
        &self,
        queue: &str,
        list: QueueList,
        filter: &ListFilter,
        cursor: Option<&str>,
        limit: u32,
    ) -> PortResult<Page<Conversation>> {
        self.list_index(
            "queue_key",
            format!("{queue}#{}", list.suffix()),
            filter,
            list.newest_first(),
            cursor,
            limit,
        )
        .await
    }

    async fn agent_conversations(
        &self,
        agent: &str,
        list: AgentList,
        filter: &ListFilter,
        cursor: Option<&str>,
        limit: u32,
    ) -> PortResult<Page<Conversation>> {
        self.list_index(
            "agent_key",
            format!("{agent}#{}", list.suffix()),
            filter,
            list == AgentList::Archived,
            cursor,
            limit,
        )
        .await
    }
}
