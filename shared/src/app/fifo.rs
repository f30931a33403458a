//! What every FIFO queue consumer shares: groups of a batch handled concurrently, each in
//! order, with partial batch failure per group; and moving an item that can never succeed
//! to its dead-letter queue.

use crate::ports::{PortResult, QueuedItem, WorkQueue};
use aws_lambda_events::sqs::{SqsBatchResponse, SqsEvent, SqsMessage};
use std::fmt::Display;
use std::future::Future;

/// A group that stopped at a failure: the error, and the later records of the same group
/// that were not tried (reported failed with it, so the group stays in order).
pub struct GroupFailure<'a, E> {
    pub failed: &'a SqsMessage,
    pub error: E,
    pub skipped: Vec<&'a SqsMessage>,
}

/// Handles a FIFO batch group by group, the way Lambda's SQS FIFO semantics allow: the
/// groups of a batch run concurrently, records of one group run in order, and at a
/// failure only that record and the later records *of its own group* are reported
/// failed — one throttled conversation never holds back the others.
pub async fn process_by_group<'a, F, Fut, E>(
    event: &'a SqsEvent,
    what: &str,
    process: F,
) -> (SqsBatchResponse, Vec<GroupFailure<'a, E>>)
where
    F: Fn(&'a SqsMessage) -> Fut,
    Fut: Future<Output = Result<(), E>>,
    E: Display,
{
    let process = &process;
    let runs = groups(&event.records).into_iter().map(|group| async move {
        let mut records = group.into_iter();
        while let Some(record) = records.next() {
            if let Err(error) = process(record).await {
                let skipped: Vec<&SqsMessage> = records.collect();
                tracing::warn!(
                    error = %error,
                    message_id = ?record.message_id,
                    skipped = skipped.len(),
                    "{what} failed; it and the rest of its group will be retried"
                );
                return Some(GroupFailure {
                    failed: record,
                    error,
                    skipped,
                });
            }
        }
        None
    });
    let failures: Vec<GroupFailure<'a, E>> = futures::future::join_all(runs)
        .await
        .into_iter()
        .flatten()
        .collect();
    let mut response = SqsBatchResponse::default();
    // Reported in batch order, as Lambda expects.
    let failed: std::collections::HashSet<&str> = failures
        .iter()
        .flat_map(|f| std::iter::once(f.failed).chain(f.skipped.iter().copied()))
        .filter_map(|r| r.message_id.as_deref())
        .collect();
    for record in &event.records {
        let id = record.message_id.as_deref().unwrap_or_default();
        if failed.contains(id) {
            response.add_failure(id.to_owned());
        }
    }
    (response, failures)
}

/// The records of a batch by message group, each group in batch order, groups in the
/// order they first appear. A record without a group (a standard queue) is its own.
fn groups(records: &[SqsMessage]) -> Vec<Vec<&SqsMessage>> {
    let mut order: Vec<Vec<&SqsMessage>> = Vec::new();
    let mut index: std::collections::HashMap<&str, usize> = std::collections::HashMap::new();
    for record in records {
        match record.attributes.get("MessageGroupId") {
            Some(group) => match index.get(group.as_str()) {
                Some(&i) => order[i].push(record),
                None => {
                    index.insert(group.as_str(), order.len());
                    order.push(vec![record]);
                }
            },
            None => order.push(vec![record]),
        }
    }
    order
}

/// Moves a received item to a dead-letter queue with the reason, keeping its group and
/// deduplication id.
pub async fn dead_letter(
    queue: &dyn WorkQueue,
    record: &SqsMessage,
    body: &str,
    reason: String,
) -> PortResult<()> {
    let attribute = |name: &str| record.attributes.get(name).cloned();
    tracing::error!(%reason, message_id = ?record.message_id, "item moved to the dead-letter queue");
    queue
        .enqueue(&[QueuedItem {
            body: body.to_owned(),
            group_id: attribute("MessageGroupId").unwrap_or_else(|| "dead-letter".into()),
            dedup_id: attribute("MessageDeduplicationId")
                .or_else(|| record.message_id.clone())
                .unwrap_or_else(|| "dead-letter".into()),
            reason: Some(reason),
        }])
        .await
}

/// Reads a queued item; the error is a dead-letter reason that names what was wrong
/// without quoting the payload.
pub fn read_item<T: serde::de::DeserializeOwned>(body: &str, what: &str) -> Result<T, String> {
    serde_json::from_str(body).map_err(|e| {
        format!(
            "unreadable {what} ({:?} at line {} column {})",
            e.classify(),
            e.line(),
            e.column()
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;

    fn event(records: &[(&str, &str)]) -> SqsEvent {
        let records: Vec<serde_json::Value> = records
            .iter()
            .map(|(id, group)| {
                serde_json::json!({
                    "messageId": id,
                    "body": id,
                    "attributes": {"MessageGroupId": group},
                    "messageAttributes": {}
                })
            })
            .collect();
        serde_json::from_value(serde_json::json!({ "Records": records })).unwrap()
    }

    fn failed_ids(r: &SqsBatchResponse) -> Vec<String> {
        r.batch_item_failures
            .iter()
            .map(|f| f.item_identifier.clone())
            .collect()
    }

    #[tokio::test]
    async fn a_failure_fails_only_the_rest_of_its_own_group() {
        let e = event(&[
            ("a1", "A"),
            ("b1", "B"),
            ("a2", "A"),
            ("b2", "B"),
            ("a3", "A"),
            ("c1", "C"),
        ]);
        let seen = Mutex::new(Vec::new());
        let (response, failures) = process_by_group(&e, "item", |r: &SqsMessage| {
            let id = r.message_id.clone().unwrap_or_default();
            seen.lock().unwrap().push(id.clone());
            async move {
                if id == "a2" {
                    Err("throttled")
                } else {
                    Ok(())
                }
            }
        })
        .await;
        assert_eq!(failed_ids(&response), ["a2", "a3"]);
        assert_eq!(failures.len(), 1);
        assert_eq!(failures[0].failed.message_id.as_deref(), Some("a2"));
        let skipped: Vec<_> = failures[0]
            .skipped
            .iter()
            .filter_map(|r| r.message_id.as_deref())
            .collect();
        assert_eq!(skipped, ["a3"]);
        let seen = seen.into_inner().unwrap();
        assert!(!seen.contains(&"a3".to_owned()), "a3 waits for a2");
        for id in ["a1", "b1", "b2", "c1"] {
            assert!(seen.contains(&id.to_owned()), "{id} of a healthy group ran");
        }
        let position = |id: &str| seen.iter().position(|s| s == id).unwrap();
        assert!(position("a1") < position("a2") && position("b1") < position("b2"));
    }

    #[tokio::test]
    async fn a_batch_without_failures_reports_none() {
        let e = event(&[("a1", "A"), ("b1", "B")]);
        let (response, failures) =
            process_by_group(&e, "item", |_: &SqsMessage| async { Ok::<(), &str>(()) }).await;
        assert!(response.batch_item_failures.is_empty());
        assert!(failures.is_empty());
    }
}
