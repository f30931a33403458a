//! DynamoDB stream event source mappings, the way Lambda runs them: read each shard in
//! order, drop the records the filter criteria do not select, hand batches to the
//! function, resume at the first failed record it reports, bisect nothing (one process),
//! and after `MaximumRetryAttempts` send the batch's place to the on-failure destination
//! and go on.

use aws_lambda_events::dynamodb::{Event, EventRecord, StreamRecord};
use aws_sdk_dynamodbstreams::types::{Record, ShardIteratorType};
use conversa::app::functions::StreamFunction;
use serde_json::{json, Value};
use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use tokio::sync::Mutex;

pub struct StreamPoller {
    pub function: String,
    pub stream_arn: String,
    pub batch_size: usize,
    pub report_batch_item_failures: bool,
    /// `FilterCriteria` patterns: a record is handed over when any one matches.
    pub filters: Vec<Value>,
    pub maximum_retry_attempts: u32,
    /// The on-failure destination's queue URL.
    pub on_failure_url: Option<String>,
    pub handler: Arc<dyn StreamFunction>,
    shards: Mutex<HashMap<String, Shard>>,
}

#[derive(Default)]
struct Shard {
    /// Where to read next; `None` once the shard is closed.
    iterator: Option<String>,
    /// Read and selected, not yet carried out.
    pending: VecDeque<EventRecord>,
    /// How often the batch at the head of `pending` failed.
    failures: u32,
}

impl StreamPoller {
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        function: String,
        stream_arn: String,
        batch_size: usize,
        report_batch_item_failures: bool,
        filters: Vec<Value>,
        maximum_retry_attempts: u32,
        on_failure_url: Option<String>,
        handler: Arc<dyn StreamFunction>,
    ) -> Self {
        Self {
            function,
            stream_arn,
            batch_size: batch_size.clamp(1, 10_000),
            report_batch_item_failures,
            filters,
            maximum_retry_attempts,
            on_failure_url,
            handler,
            shards: Mutex::new(HashMap::new()),
        }
    }

    /// Does any filter pattern select this record (no filters: all)?
    fn selects(&self, record: &Value) -> bool {
        self.filters.is_empty() || self.filters.iter().any(|p| matches(p, record))
    }

    /// One read-invoke cycle over every shard. Returns how many records were read from the
    /// stream and how many were handed to the function.
    pub async fn poll_once(
        &self,
        streams: &aws_sdk_dynamodbstreams::Client,
        sqs: &aws_sdk_sqs::Client,
    ) -> Result<(usize, usize), String> {
        let mut shards = self.shards.lock().await;
        let described = streams
            .describe_stream()
            .stream_arn(&self.stream_arn)
            .send()
            .await
            .map_err(sdk_error)?;
        for shard in described
            .stream_description()
            .map(|d| d.shards())
            .unwrap_or_default()
        {
            let Some(id) = shard.shard_id() else { continue };
            if shards.contains_key(id) {
                continue;
            }
            let iterator = streams
                .get_shard_iterator()
                .stream_arn(&self.stream_arn)
                .shard_id(id)
                .shard_iterator_type(ShardIteratorType::TrimHorizon)
                .send()
                .await
                .map_err(sdk_error)?
                .shard_iterator;
            shards.insert(
                id.to_owned(),
                Shard {
                    iterator,
                    ..Shard::default()
                },
            );
        }
        let (mut read, mut handed) = (0, 0);
        for shard in shards.values_mut() {
            if shard.pending.len() < self.batch_size {
                if let Some(iterator) = shard.iterator.take() {
                    let out = streams
                        .get_records()
                        .shard_iterator(&iterator)
                        .send()
                        .await
                        .map_err(sdk_error);
                    let out = match out {
                        Ok(out) => out,
                        Err(e) => {
                            shard.iterator = Some(iterator);
                            return Err(e);
                        }
                    };
                    shard.iterator = out.next_shard_iterator;
                    let records = out.records.unwrap_or_default();
                    read += records.len();
                    for r in records {
                        let record = self.event_record(&r);
                        let selected = serde_json::to_value(&record)
                            .map(|v| self.selects(&v))
                            .unwrap_or(false);
                        if selected {
                            shard.pending.push_back(record);
                        }
                    }
                }
            }
            if shard.pending.is_empty() {
                continue;
            }
            let n = shard.pending.len().min(self.batch_size);
            let batch: Vec<EventRecord> = shard.pending.iter().take(n).cloned().collect();
            handed += n;
            let mut event = Event::default();
            event.records = batch.clone();
            let response = self.handler.call(event).await;
            let failed_at = response
                .batch_item_failures
                .iter()
                .filter(|_| self.report_batch_item_failures)
                .filter_map(|f| f.item_identifier.as_deref())
                .filter_map(|s| {
                    batch
                        .iter()
                        .position(|r| r.change.sequence_number.as_deref() == Some(s))
                })
                .min();
            match failed_at {
                None => {
                    shard.pending.drain(..n);
                    shard.failures = 0;
                }
                Some(done) => {
                    shard.pending.drain(..done);
                    shard.failures = if done > 0 { 1 } else { shard.failures + 1 };
                    if shard.failures > self.maximum_retry_attempts {
                        let left = n - done;
                        self.give_up(sqs, &shard.pending, left).await;
                        shard.pending.drain(..left);
                        shard.failures = 0;
                    }
                }
            }
        }
        Ok((read, handed))
    }

    /// The batch's place in the stream goes to the on-failure destination, as Lambda
    /// sends it; the records themselves stay in the table.
    async fn give_up(&self, sqs: &aws_sdk_sqs::Client, pending: &VecDeque<EventRecord>, n: usize) {
        let first = pending
            .front()
            .and_then(|r| r.change.sequence_number.clone());
        let last = pending
            .get(n.saturating_sub(1))
            .and_then(|r| r.change.sequence_number.clone());
        tracing::error!(function = %self.function, ?first, ?last, "stream batch given up after its retries");
        let Some(url) = &self.on_failure_url else {
            return;
        };
        let body = json!({
            "requestContext": {"condition": "RetryAttemptsExhausted", "functionArn": self.function},
            "DDBStreamBatchInfo": {
                "batchSize": n, "startSequenceNumber": first, "endSequenceNumber": last,
                "streamArn": self.stream_arn,
            }
        });
        if let Err(e) = sqs
            .send_message()
            .queue_url(url)
            .message_body(body.to_string())
            .send()
            .await
        {
            tracing::error!(error = %aws_sdk_sqs::error::DisplayErrorContext(e), "on-failure destination refused the batch");
        }
    }

    /// A stream record as Lambda hands it to the function.
    fn event_record(&self, r: &Record) -> EventRecord {
        let mut change = StreamRecord::default();
        if let Some(d) = r.dynamodb() {
            change.keys = d.keys.clone().unwrap_or_default().into();
            change.new_image = d.new_image.clone().unwrap_or_default().into();
            change.old_image = d.old_image.clone().unwrap_or_default().into();
            change.sequence_number = d.sequence_number.clone();
            change.size_bytes = d.size_bytes.unwrap_or_default();
        }
        let mut record = EventRecord::default();
        record.event_id = r.event_id.clone().unwrap_or_default();
        record.event_name = r
            .event_name
            .as_ref()
            .map(|n| n.as_str().to_owned())
            .unwrap_or_default();
        record.event_source = Some("aws:dynamodb".into());
        record.event_version = r.event_version.clone();
        record.aws_region = crate::emulator::REGION.into();
        record.event_source_arn = Some(self.stream_arn.clone());
        record.change = change;
        record
    }

    /// Runs the mapping until the process ends.
    pub fn spawn(
        self: &Arc<Self>,
        streams: aws_sdk_dynamodbstreams::Client,
        sqs: aws_sdk_sqs::Client,
    ) {
        let poller = self.clone();
        tokio::spawn(async move {
            loop {
                match poller.poll_once(&streams, &sqs).await {
                    Ok((0, 0)) => tokio::time::sleep(std::time::Duration::from_millis(200)).await,
                    Ok(_) => {}
                    Err(e) => {
                        tracing::warn!(function = %poller.function, error = %e, "stream poll failed");
                        tokio::time::sleep(std::time::Duration::from_secs(1)).await;
                    }
                }
            }
        });
    }
}

fn sdk_error<E: std::error::Error>(e: E) -> String {
    aws_sdk_dynamodbstreams::error::DisplayErrorContext(e).to_string()
}

/// EventBridge-style content filtering, the subset Lambda filter criteria use here: an
/// object pattern matches when every key matches; an array lists the allowed values.
fn matches(pattern: &Value, value: &Value) -> bool {
    match pattern {
        Value::Object(fields) => fields
            .iter()
            .all(|(k, p)| value.get(k).is_some_and(|v| matches(p, v))),
        Value::Array(allowed) => allowed.iter().any(|a| a == value),
        other => other == value,
    }
}

#[cfg(test)]
mod tests {
    use super::matches;
    use serde_json::json;

    #[test]
    fn filter_patterns_select_like_lambda() {
        let p =
            json!({"eventName": ["INSERT"], "dynamodb": {"NewImage": {"kind": {"S": ["outbox"]}}}});
        let outbox = json!({"eventName": "INSERT", "dynamodb": {"NewImage": {"kind": {"S": "outbox"}, "x": {"N": "1"}}}});
        assert!(matches(&p, &outbox));
        let modify =
            json!({"eventName": "MODIFY", "dynamodb": {"NewImage": {"kind": {"S": "outbox"}}}});
        assert!(!matches(&p, &modify));
        let other =
            json!({"eventName": "INSERT", "dynamodb": {"NewImage": {"pk": {"S": "CONV#1"}}}});
        assert!(!matches(&p, &other));
    }
}
