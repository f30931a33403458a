//! Agents (`AGENT#{sub}`): what supervisors set, presence, and `active`, the open
//! conversations each has. `active` moves only with `ADD`, in the transaction of the
//! conversation write that gives or takes the conversation (the conversation remembers
//! whom it is counted for in `load_of`), so it is exact under any concurrency; an
//! automatic assignment adds its +1 only if the agent is available with room.

use super::items::{n, s, to_attribute, to_item};
use super::DynamoStore;
use crate::domain::{agent::Agent, Conversation, Millis};
use crate::ports::{
    AgentStore, AssignOutcome, AssignWrite, Assignments, CapacityGuard, Effects, PortError,
    PortResult, WriteOutcome,
};
use async_trait::async_trait;
use aws_sdk_dynamodb::types::{Put, TransactWriteItem, Update};
use serde::{Deserialize, Serialize};

pub(super) fn agent_pk(sub: &str) -> String {
    format!("AGENT#{sub}")
}

#[derive(Serialize, Deserialize)]
struct AgentItem {
    pk: String,
    sk: String,
    #[serde(flatten)]
    agent: Agent,
}

impl DynamoStore {
    /// The `active` moves of writing `c`: −1 for whom it was counted, +1 for whom it now
    /// counts (guarded when conversa assigns it).
    pub(super) fn load_moves(
        &self,
        c: &Conversation,
        guard: Option<(&CapacityGuard, Millis)>,
    ) -> PortResult<Vec<TransactWriteItem>> {
        let before = c.assignment.load_of.as_deref();
        let after = c.load_owner();
        if before == after {
            return Ok(Vec::new());
        }
        let mut ops = Vec::new();
        if let Some(old) = before {
            ops.push(self.load_add(old, -1, None)?);
        }
        if let Some(new) = after {
            let guard = guard.filter(|(g, _)| g.agent == new);
            ops.push(self.load_add(new, 1, guard)?);
        }
        Ok(ops)
    }

    /// Removing a conversation un-counts it.
    pub(super) fn load_release(&self, c: &Conversation) -> PortResult<Vec<TransactWriteItem>> {
        match c.assignment.load_of.as_deref() {
            Some(old) => Ok(vec![self.load_add(old, -1, None)?]),
            None => Ok(Vec::new()),
        }
    }

    fn load_add(
        &self,
        sub: &str,
        delta: i64,
        guard: Option<(&CapacityGuard, Millis)>,
    ) -> PortResult<TransactWriteItem> {
        let mut update = Update::builder()
            .table_name(&self.table)
            .key("pk", s(agent_pk(sub)))
            .key("sk", s("AGENT"))
            .expression_attribute_names("#active", "active")
            .expression_attribute_values(":delta", n(delta));
        update = match guard {
            None => update.update_expression("ADD #active :delta"),
            Some((g, now)) => update
                .update_expression("ADD #active :delta SET last_assigned_at = :now")
                .condition_expression(
                    "#status = :available AND (connections > :zero OR offline_after > :now) \
                     AND (attribute_not_exists(#active) OR #active < :max)",
                )
                .expression_attribute_names("#status", "status")
                .expression_attribute_values(":available", s("available"))
                .expression_attribute_values(":zero", n(0))
                .expression_attribute_values(":now", n(now))
                .expression_attribute_values(":max", n(g.max)),
        };
        let update = update.build().map_err(|e| PortError::new("dynamodb", e))?;
        Ok(TransactWriteItem::builder().update(update).build())
    }
}

#[async_trait]
impl AgentStore for DynamoStore {
    async fn agent(&self, sub: &str) -> PortResult<Option<Agent>> {
        let item: Option<AgentItem> = self.get(agent_pk(sub), "AGENT").await?;
        Ok(item.map(|i| with_sub(i.agent, sub)))
    }

    async fn agents(&self) -> PortResult<Vec<Agent>> {
        let items: Vec<AgentItem> = self.all_of_kind("agent").await?;
        let mut out = Vec::new();
        for i in items {
            let sub = i.pk.trim_start_matches("AGENT#").to_owned();
            out.push(with_sub(i.agent, &sub));
        }
        out.sort_by(|a, b| a.sub.cmp(&b.sub));
        Ok(out)
    }

    async fn register_agent(&self, agent: &Agent) -> PortResult<()> {
        let mut update = self
            .client
            .update_item()
            .table_name(&self.table)
            .key("pk", s(agent_pk(&agent.sub)))
            .key("sk", s("AGENT"))
            .expression_attribute_values(":sub", s(&agent.sub))
            .expression_attribute_values(":name", s(&agent.name))
            .expression_attribute_values(":queues", to_attribute(&agent.queues)?)
            .expression_attribute_values(":kind", s("agent"))
            .expression_attribute_values(
                ":yes",
                aws_sdk_dynamodb::types::AttributeValue::Bool(true),
            );
        let mut set = "SET #sub = :sub, #name = :name, queues = :queues, kind = :kind, \
                       kind_sort = :sub, registered = :yes"
            .to_owned();
        update = update
            .expression_attribute_names("#sub", "sub")
            .expression_attribute_names("#name", "name");
        match agent.max_concurrent {
            Some(max) => {
                set.push_str(", max_concurrent = :max");
                update = update.expression_attribute_values(":max", n(max));
            }
            None => set.push_str(" REMOVE max_concurrent"),
        }
        update
            .update_expression(set)
            .send()
            .await
            .map_err(|e| crate::aws::sdk_error("dynamodb", e))?;
        Ok(())
    }

    async fn update_presence(
        &self,
        next: &Agent,
        expected: u64,
        effects: &Effects,
    ) -> PortResult<WriteOutcome> {
        let mut update = Update::builder()
            .table_name(&self.table)
            .key("pk", s(agent_pk(&next.sub)))
            .key("sk", s("AGENT"))
            .expression_attribute_names("#sub", "sub")
            .expression_attribute_names("#status", "status")
            .expression_attribute_names("#pv", "presence_version")
            .expression_attribute_values(":sub", s(&next.sub))
            .expression_attribute_values(":status", to_attribute(&next.status)?)
            .expression_attribute_values(":connections", n(next.connections))
            .expression_attribute_values(":queues", to_attribute(&next.queues)?)
            .expression_attribute_values(":kind", s("agent"))
            .expression_attribute_values(":next", n(next.presence_version))
            .expression_attribute_values(":expected", n(expected));
        // An agent first seen online is listed with the queues of its token; a
        // supervisor's record keeps its own.
        let mut set = "SET #sub = :sub, #status = :status, connections = :connections, \
                       queues = if_not_exists(queues, :queues), kind = :kind, kind_sort = :sub, \
                       #pv = :next"
            .to_owned();
        match next.offline_after {
            Some(t) => {
                set.push_str(", offline_after = :after");
                update = update.expression_attribute_values(":after", n(t));
            }
            None => set.push_str(" REMOVE offline_after"),
        }
        let condition = if expected == 0 {
            "attribute_not_exists(#pv) OR #pv = :expected"
        } else {
            "#pv = :expected"
        };
        let update = update
            .update_expression(set)
            .condition_expression(condition)
            .build()
            .map_err(|e| PortError::new("dynamodb", e))?;
        let mut ops = vec![TransactWriteItem::builder().update(update).build()];
        ops.extend(self.outbox_puts(effects)?);
        self.transact(ops).await
    }
}

fn with_sub(mut a: Agent, sub: &str) -> Agent {
    if a.sub.is_empty() {
        a.sub = sub.to_owned();
    }
    a
}

#[async_trait]
impl Assignments for DynamoStore {
    async fn assign(&self, w: &AssignWrite) -> PortResult<AssignOutcome> {
        let c = &w.conversation;
        let put = Put::builder()
            .table_name(&self.table)
            .set_item(Some(to_item(&self.conversation_item(c))?))
            .condition_expression("#version = :expected AND #state <> :closed")
            .expression_attribute_names("#version", "version")
            .expression_attribute_names("#state", "state")
            .expression_attribute_values(":expected", n(w.expected_version))
            .expression_attribute_values(":closed", s("closed"))
            .build()
            .map_err(|e| PortError::new("dynamodb", e))?;
        let mut ops = vec![TransactWriteItem::builder().put(put).build()];
        let moves = self.load_moves(c, w.guard.as_ref().map(|g| (g, w.now)))?;
        // Where the guarded +1 sits: its cancellation says "agent unavailable".
        let guarded_at = w
            .guard
            .as_ref()
            .filter(|g| c.load_owner() == Some(g.agent.as_str()))
            .map(|_| ops.len() + moves.len() - 1);
        ops.extend(moves);
        if let Some(m) = &w.message {
            ops.push(self.new_message_put(m)?);
        }
        ops.extend(self.outbox_puts(&w.effects)?);
        ops.extend(self.open_copy_update(c)?);
        match self
            .client
            .transact_write_items()
            .set_transact_items(Some(ops))
            .send()
            .await
        {
            Ok(_) => Ok(AssignOutcome::Committed),
            Err(err) => match super::cancellation_codes(&err) {
                Some(codes) => {
                    let agent_refused = guarded_at
                        .and_then(|i| codes.get(i))
                        .is_some_and(|code| code == "ConditionalCheckFailed");
                    let conversation_ok = codes.first().is_none_or(|c| c == "None");
                    Ok(if agent_refused && conversation_ok {
                        AssignOutcome::AgentUnavailable
                    } else {
                        AssignOutcome::Conflict
                    })
                }
                None => Err(crate::aws::sdk_error("dynamodb", err)),
            },
        }
    }
}
