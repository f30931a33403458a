//! SQS FIFO queues: work items in, dead letters with their reason.

use crate::ports::{PortError, PortResult, QueuedItem, WorkQueue};
use async_trait::async_trait;
use aws_sdk_sqs::types::{MessageAttributeValue, SendMessageBatchRequestEntry};

/// SendMessageBatch limits: 10 entries and 256 KiB of payload per call.
const MAX_ENTRIES: usize = 10;
const MAX_BATCH_BYTES: usize = 256 * 1024;

#[derive(Clone, Debug)]
pub struct SqsWorkQueue {
    client: aws_sdk_sqs::Client,
    url: String,
}

impl SqsWorkQueue {
    pub fn new(client: aws_sdk_sqs::Client, url: impl Into<String>) -> Self {
        Self {
            client,
            url: url.into(),
        }
    }

    pub fn url(&self) -> &str {
        &self.url
    }

    async fn send_batch(&self, batch: &[&QueuedItem]) -> PortResult<()> {
        let mut entries = Vec::with_capacity(batch.len());
        for (i, item) in batch.iter().enumerate() {
            let mut entry = SendMessageBatchRequestEntry::builder()
                .id(i.to_string())
                .message_body(&item.body)
                .message_group_id(&item.group_id)
                .message_deduplication_id(&item.dedup_id);
            if let Some(reason) = &item.reason {
                let attr = MessageAttributeValue::builder()
                    .data_type("String")
                    .string_value(reason)
                    .build()
                    .map_err(|e| PortError::new("sqs", e))?;
                entry = entry.message_attributes("reason", attr);
            }
            entries.push(entry.build().map_err(|e| PortError::new("sqs", e))?);
        }
        let out = self
            .client
            .send_message_batch()
            .queue_url(&self.url)
            .set_entries(Some(entries))
            .send()
            .await
            .map_err(|e| super::sdk_error("sqs", e))?;
        if let Some(failed) = out.failed().first() {
            return Err(PortError::new(
                "sqs",
                format!(
                    "{} of {} items rejected, first: {} {}",
                    out.failed().len(),
                    batch.len(),
                    failed.code(),
                    failed.message().unwrap_or_default()
                ),
            ));
        }
        Ok(())
    }
}

#[async_trait]
impl WorkQueue for SqsWorkQueue {
    async fn enqueue(&self, items: &[QueuedItem]) -> PortResult<()> {
        let mut batch: Vec<&QueuedItem> = Vec::with_capacity(MAX_ENTRIES);
        let mut bytes = 0;
        for item in items {
            let size = item.body.len() + item.reason.as_ref().map_or(0, |r| r.len() + 16);
            if !batch.is_empty() && (batch.len() == MAX_ENTRIES || bytes + size > MAX_BATCH_BYTES) {
                self.send_batch(&batch).await?;
                batch.clear();
                bytes = 0;
            }
            batch.push(item);
            bytes += size;
        }
        if !batch.is_empty() {
            self.send_batch(&batch).await?;
        }
        Ok(())
    }

    async fn retry_later(&self, receipt_handle: &str, seconds: i32) -> PortResult<()> {
        self.client
            .change_message_visibility()
            .queue_url(&self.url)
            .receipt_handle(receipt_handle)
            .visibility_timeout(seconds.clamp(0, 43_200))
            .send()
            .await
            .map_err(|e| super::sdk_error("sqs", e))?;
        Ok(())
    }
}
