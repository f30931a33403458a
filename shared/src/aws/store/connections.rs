//! WebSocket connections: `WSCONN#{id}` and one copy per audience it belongs to —
//! `WS#queue#{q}` for each queue of an agent, `WS#agent#{sub}`, `WS#supervisors` — so the
//! notifier finds who may hear about a conversation with one `Query` per audience. All
//! carry the connection's TTL (API Gateway closes a connection after two hours).

use super::items::{from_item, s, to_item, Item};
use super::DynamoStore;
use crate::ports::{Connection, ConnectionStore, PortError, PortResult};
use async_trait::async_trait;
use aws_sdk_dynamodb::types::{DeleteRequest, PutRequest, WriteRequest};
use serde::{Deserialize, Serialize};

#[derive(Serialize, Deserialize)]
struct ConnectionItem {
    pk: String,
    sk: String,
    #[serde(flatten)]
    connection: Connection,
    ttl: i64,
}

fn connection_pk(id: &str) -> String {
    format!("WSCONN#{id}")
}

/// The audience partitions a connection is copied into.
fn audiences(c: &Connection) -> Vec<String> {
    let mut out = vec![format!("WS#agent#{}", c.sub)];
    if c.role == "supervisor" {
        out.push("WS#supervisors".into());
    } else if c.role == "agent" {
        out.extend(c.queues.iter().map(|q| format!("WS#queue#{q}")));
    }
    out
}

#[async_trait]
impl ConnectionStore for DynamoStore {
    async fn add_connection(&self, connection: &Connection, expires_at: i64) -> PortResult<()> {
        let mut keys = vec![(connection_pk(&connection.id), "WSCONN".to_owned())];
        keys.extend(
            audiences(connection)
                .into_iter()
                .map(|pk| (pk, connection.id.clone())),
        );
        let requests = keys
            .into_iter()
            .map(|(pk, sk)| {
                let item = to_item(&ConnectionItem {
                    pk,
                    sk,
                    connection: connection.clone(),
                    ttl: expires_at,
                })?;
                PutRequest::builder()
                    .set_item(Some(item))
                    .build()
                    .map(|p| WriteRequest::builder().put_request(p).build())
                    .map_err(|e| PortError::new("dynamodb", e))
            })
            .collect::<PortResult<Vec<_>>>()?;
        self.batch_write(requests).await
    }

    async fn remove_connection(&self, id: &str) -> PortResult<Option<Connection>> {
        let item: Option<ConnectionItem> = self.get(connection_pk(id), "WSCONN").await?;
        let Some(item) = item else {
            return Ok(None);
        };
        let mut keys = vec![(connection_pk(id), "WSCONN".to_owned())];
        keys.extend(
            audiences(&item.connection)
                .into_iter()
                .map(|pk| (pk, id.to_owned())),
        );
        let requests = keys
            .into_iter()
            .map(|(pk, sk)| {
                DeleteRequest::builder()
                    .key("pk", s(pk))
                    .key("sk", s(sk))
                    .build()
                    .map(|d| WriteRequest::builder().delete_request(d).build())
                    .map_err(|e| PortError::new("dynamodb", e))
            })
            .collect::<PortResult<Vec<_>>>()?;
        self.batch_write(requests).await?;
        Ok(Some(item.connection))
    }

    async fn audience(&self, queues: &[String], agents: &[String]) -> PortResult<Vec<Connection>> {
        let mut partitions = vec!["WS#supervisors".to_owned()];
        partitions.extend(queues.iter().map(|q| format!("WS#queue#{q}")));
        partitions.extend(agents.iter().map(|a| format!("WS#agent#{a}")));
        let now = chrono::Utc::now().timestamp();
        let mut out: Vec<Connection> = Vec::new();
        for pk in partitions {
            let mut start: Option<Item> = None;
            loop {
                let page = self
                    .client
                    .query()
                    .table_name(&self.table)
                    .key_condition_expression("pk = :pk")
                    .expression_attribute_values(":pk", s(&pk))
                    .set_exclusive_start_key(start.take())
                    .send()
                    .await
                    .map_err(|e| crate::aws::sdk_error("dynamodb", e))?;
                for item in page.items.unwrap_or_default() {
                    let i: ConnectionItem = from_item(item)?;
                    if i.ttl > now && !out.iter().any(|c| c.id == i.connection.id) {
                        out.push(i.connection);
                    }
                }
                match page.last_evaluated_key {
                    Some(k) if !k.is_empty() => start = Some(k),
                    _ => break,
                }
            }
        }
        Ok(out)
    }
}
