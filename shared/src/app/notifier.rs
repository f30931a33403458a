//! The `notifier` function (an EventBridge rule on the bus's conversation, message,
//! handoff, agent and campaign events): pushes each event, as the bus carries it, to the
//! WebSocket connections that may see it — a waiting conversation's queue members, an
//! assigned one's owner, always supervisors. Best effort per connection: a post that
//! fails is logged and skipped, one that finds the connection gone (410) forgets it.

use super::events;
use super::presence::{Move, Presence};
use crate::domain::Conversation;
use crate::ports::{ConnectionStore, ConversationStore, PortResult, PushChannel, PushOutcome};
use futures::StreamExt;
use serde_json::{json, Value};
use std::sync::Arc;

/// API Gateway's WebSocket frame limit is 128 KB; larger events go out reduced.
pub const MAX_FRAME_BYTES: usize = 120 * 1024;
/// Posts in flight at once per event.
const FAN_OUT: usize = 16;

pub struct Notifier {
    pub connections: Arc<dyn ConnectionStore>,
    /// Message events name only their conversation: its queue and owner are read.
    pub conversations: Arc<dyn ConversationStore>,
    pub push: Arc<dyn PushChannel>,
    pub presence: Presence,
}

/// What one event came to.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct NotifyReport {
    pub audience: usize,
    pub delivered: usize,
    pub gone: usize,
    pub failed: usize,
}

/// Who may hear about an event besides supervisors: (queues whose members may, agents).
pub fn audience(
    detail_type: &str,
    detail: &Value,
    record: Option<&Conversation>,
) -> (Vec<String>, Vec<String>) {
    let mut queues = Vec::new();
    let mut agents = Vec::new();
    let mut add = |v: &Value, members_too: bool, queues: &mut Vec<String>| {
        if let Some(a) = v["agent"].as_str() {
            agents.push(a.to_owned());
        }
        if members_too || v["agent"].is_null() {
            if let Some(q) = v["queue"].as_str() {
                queues.push(q.to_owned());
            }
        }
    };
    match detail_type {
        events::AGENT_STATUS => {
            if let Some(a) = detail["agent"].as_str() {
                agents.push(a.to_owned());
            }
        }
        events::MESSAGE_RECEIVED | events::MESSAGE_STATUS => {
            if let Some(c) = record {
                add(
                    &json!({"agent": c.agent, "queue": c.queue}),
                    false,
                    &mut queues,
                );
            }
        }
        events::CONVERSATION_ASSIGNED => {
            // The queue's members saw it waiting: they hear that it was taken.
            add(&detail["conversation"], true, &mut queues);
        }
        events::CONVERSATION_TRANSFERRED => {
            add(&detail["from"], false, &mut queues);
            add(&detail["to"], false, &mut queues);
            add(&detail["conversation"], false, &mut queues);
        }
        t if t.starts_with("conversation.") || t.starts_with("handoff.") => {
            add(&detail["conversation"], false, &mut queues);
        }
        _ => {}
    }
    queues.sort();
    queues.dedup();
    agents.sort();
    agents.dedup();
    (queues, agents)
}

/// The frame: the event as the bus carries it, or, over the frame limit, its kind, id
/// and conversation with `truncated: true` (read the rest from the API).
pub fn frame(event: &Value) -> Vec<u8> {
    let full = serde_json::to_vec(event).unwrap_or_default();
    if full.len() <= MAX_FRAME_BYTES {
        return full;
    }
    let detail = &event["detail"];
    let conversation = &detail["conversation"];
    let reduced = json!({
        "id": event["id"],
        "detail-type": event["detail-type"],
        "source": event["source"],
        "time": event["time"],
        "detail": {
            "event_id": detail["event_id"],
            "conversation_id": detail["conversation_id"].as_str().or(conversation["id"].as_str()),
            "conversation": if conversation.is_null() { Value::Null } else {
                json!({"id": conversation["id"], "state": conversation["state"], "queue": conversation["queue"], "agent": conversation["agent"]})
            },
            "truncated": true,
        },
    });
    serde_json::to_vec(&reduced).unwrap_or_default()
}

impl Notifier {
    /// One event from the bus (the whole EventBridge event).
    pub async fn on_event(&self, event: &Value) -> PortResult<NotifyReport> {
        let detail_type = event["detail-type"].as_str().unwrap_or_default();
        let detail = &event["detail"];
        let record = match detail_type {
            events::MESSAGE_RECEIVED | events::MESSAGE_STATUS => {
                match detail["conversation_id"].as_str() {
                    Some(id) => self.conversations.conversation(id).await?,
                    None => None,
                }
            }
            _ => None,
        };
        let (queues, agents) = audience(detail_type, detail, record.as_ref());
        let connections = self.connections.audience(&queues, &agents).await?;
        // Agents hear only about their own queues and conversations; supervisors all.
        let payload = frame(event);
        let mut report = NotifyReport {
            audience: connections.len(),
            ..NotifyReport::default()
        };
        let results: Vec<_> = futures::stream::iter(connections.into_iter().map(|c| {
            let payload = &payload;
            async move { (self.push.push(&c.id, payload).await, c) }
        }))
        .buffer_unordered(FAN_OUT)
        .collect()
        .await;
        for (result, c) in results {
            match result {
                Ok(PushOutcome::Delivered) => report.delivered += 1,
                Ok(PushOutcome::Gone) => {
                    report.gone += 1;
                    if let Some(gone) = self.connections.remove_connection(&c.id).await? {
                        if gone.role == "agent" || gone.role == "supervisor" {
                            self.presence.apply(&gone.sub, Move::Disconnected).await?;
                        }
                    }
                }
                Err(e) => {
                    report.failed += 1;
                    tracing::warn!(connection = %c.id, error = %e, "push failed");
                }
            }
        }
        tracing::info!(
            detail_type,
            audience = report.audience,
            delivered = report.delivered,
            gone = report.gone,
            failed = report.failed,
            "event pushed"
        );
        Ok(report)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_waiting_conversation_is_heard_by_its_queue_and_an_assigned_one_by_its_owner() {
        let waiting = json!({"conversation": {"id": "c1", "queue": "support", "agent": null}});
        assert_eq!(
            audience("conversation.opened", &waiting, None),
            (vec!["support".into()], vec![])
        );
        let owned = json!({"conversation": {"id": "c1", "queue": "support", "agent": "ana"}});
        assert_eq!(
            audience("conversation.closed", &owned, None),
            (vec![], vec!["ana".into()])
        );
        assert_eq!(
            audience("conversation.assigned", &owned, None),
            (vec!["support".into()], vec!["ana".into()]),
            "the queue hears it was taken"
        );
        assert_eq!(
            audience("campaign.started", &json!({}), None),
            (vec![], vec![])
        );
    }

    #[test]
    fn a_transfer_is_heard_by_who_had_it_and_who_has_it() {
        let detail = json!({
            "conversation": {"id": "c1", "queue": "sales", "agent": null},
            "from": {"queue": "support", "agent": "ana"},
            "to": {"queue": "sales"},
        });
        assert_eq!(
            audience("conversation.transferred", &detail, None),
            (vec!["sales".into()], vec!["ana".into()])
        );
    }

    #[test]
    fn an_event_over_the_frame_limit_goes_out_reduced() {
        let big = "x".repeat(200 * 1024);
        let event = json!({"id": "e", "detail-type": "conversation.transferred", "source": "conversa", "time": "t",
            "detail": {"event_id": "c1/v2/transferred", "conversation": {"id": "c1", "state": "queued"}, "history": [big]}});
        let f = frame(&event);
        assert!(f.len() < 1024);
        let v: Value = serde_json::from_slice(&f).expect("json");
        assert_eq!(v["detail"]["truncated"], true);
        assert_eq!(v["detail"]["conversation_id"], "c1");
    }
}
