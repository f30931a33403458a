//! What every FIFO queue consumer shares: partial batch failure that keeps a group in
//! order, and moving an item that can never succeed to its dead-letter queue.

use crate::ports::{PortResult, QueuedItem, WorkQueue};
use aws_lambda_events::sqs::{SqsBatchResponse, SqsEvent, SqsMessage};
use std::fmt::Display;
use std::future::Future;

/// At the first failure, that record and every one after it are reported failed, so
/// nothing of a message group is applied out of order.
pub async fn process_in_order<'a, F, Fut, E>(
    event: &'a SqsEvent,
    what: &str,
    mut process: F,
) -> SqsBatchResponse
where
    F: FnMut(&'a SqsMessage) -> Fut,
    Fut: Future<Output = Result<(), E>>,
    E: Display,
{
    let mut response = SqsBatchResponse::default();
    let mut failed = false;
    for record in &event.records {
        let id = record.message_id.clone().unwrap_or_default();
        if !failed {
            if let Err(e) = process(record).await {
                tracing::warn!(error = %e, message_id = %id, "{what} failed; it and the rest of the batch will be retried");
                failed = true;
            }
        }
        if failed {
            response.add_failure(id);
        }
    }
    response
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
