//! Every function of the template in one process: HTTP routes and SQS event source
//! mappings, invoking the same handlers the Lambda binaries run.

use crate::provision::Stack;
use crate::streams::StreamPoller;
use crate::template::FunctionEvent;
use aws_config::SdkConfig;
use aws_lambda_events::sqs::SqsEvent;
use aws_sdk_sqs::types::{DeleteMessageBatchRequestEntry, MessageSystemAttributeName};
use conversa::app::config::{Clients, ConfigError};
use conversa::app::functions::{
    self, Function, HttpFunction, ScheduledFunction, SnsFunction, SqsFunction,
};
use conversa::ports::Clock;
use serde_json::json;
use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

pub struct Route {
    pub function: String,
    pub method: String,
    pub path: String,
    pub authorized: bool,
    pub handler: Arc<dyn HttpFunction>,
}

impl Route {
    /// API Gateway route matching: exact segments, `{name}` one segment, `{name+}` the rest.
    pub fn matches(&self, method: &str, path: &str) -> bool {
        if self.method != "ANY" && !self.method.eq_ignore_ascii_case(method) {
            return false;
        }
        let pattern: Vec<&str> = self.path.trim_matches('/').split('/').collect();
        let actual: Vec<&str> = path.trim_matches('/').split('/').collect();
        for (i, p) in pattern.iter().enumerate() {
            if p.starts_with('{') && p.ends_with("+}") {
                return actual.len() > i;
            }
            match actual.get(i) {
                Some(a) if p.starts_with('{') || p == a => {}
                _ => return false,
            }
        }
        pattern.len() == actual.len()
    }
}

pub struct Poller {
    pub function: String,
    pub queue_url: String,
    pub queue_arn: String,
    pub batch_size: usize,
    pub report_batch_item_failures: bool,
    /// How many receive-invoke-delete loops run at once (`spawn_pollers`).
    pub concurrency: usize,
    pub handler: Arc<dyn SqsFunction>,
}

/// Receive-invoke-delete loops per SQS event source when the template sets no
/// `MaximumConcurrency`. Lambda polls a queue with several pollers and invokes as many
/// functions as there are batches (for a FIFO queue, message groups); one loop would make
/// every batch wait for the previous one's AWS calls. The emulator hands a FIFO group to
/// one receive at a time, so the groups stay in order.
pub const POLLERS_PER_QUEUE: usize = 4;

/// A function subscribed to an SNS topic: the local stack hands it the topic's
/// notifications itself (`crate::sms_dev`), as SNS invokes Lambda.
pub struct SnsSubscription {
    pub function: String,
    /// The topic as the template's `Topic` resolves locally (its `Ref`).
    pub topic: String,
    pub handler: Arc<dyn SnsFunction>,
}

pub struct Scheduled {
    pub function: String,
    pub expression: String,
    pub handler: Arc<dyn ScheduledFunction>,
}

/// An EventBridge-rule function run from the SQS queue its rule targets locally.
struct RuleTarget(Arc<dyn conversa::app::functions::EventFunction>);

#[async_trait::async_trait]
impl SqsFunction for RuleTarget {
    async fn call(&self, event: SqsEvent) -> aws_lambda_events::sqs::SqsBatchResponse {
        let mut response = aws_lambda_events::sqs::SqsBatchResponse::default();
        for record in event.records {
            let body = record.body.as_deref().unwrap_or_default();
            let ok = match serde_json::from_str::<serde_json::Value>(body) {
                Ok(v) => self
                    .0
                    .call(v)
                    .await
                    .map_err(|e| {
                        tracing::warn!(error = %e, "rule target failed");
                    })
                    .is_ok(),
                Err(_) => true, // not an event: nothing to retry
            };
            if !ok {
                response.add_failure(record.message_id.unwrap_or_default());
            }
        }
        response
    }
}

pub struct Runtime {
    /// The WebSocket API's `$connect`/`$disconnect` function (`ws-connect`).
    pub websocket: Option<Arc<dyn conversa::app::functions::WebSocketFunction>>,
    pub routes: Vec<Route>,
    pub pollers: Vec<Poller>,
    pub streams: Vec<Arc<StreamPoller>>,
    pub scheduled: Vec<Scheduled>,
    pub sns: Vec<SnsSubscription>,
    pub sqs: aws_sdk_sqs::Client,
    pub streams_client: aws_sdk_dynamodbstreams::Client,
    /// Each function's AWS calls, when the stack was built to record them
    /// ([`crate::calls::record_aws_calls`]).
    pub calls: Option<Arc<crate::calls::CallLog>>,
}

#[derive(Debug, thiserror::Error)]
pub enum RuntimeError {
    #[error("function {0}: {1}")]
    Config(String, ConfigError),
    #[error("function {0}: its rule could not be created: {1}")]
    Rule(String, String),
    #[error("function {0}: queue {1} is not in the template")]
    UnknownQueue(String, String),
}

impl Runtime {
    pub async fn build(
        stack: &Stack,
        config: &SdkConfig,
        clock: Arc<dyn Clock>,
        base_url: &str,
        metrics: Arc<dyn conversa::ports::MetricSink>,
    ) -> Result<Self, RuntimeError> {
        let clients = Clients::new(config).with_metric_sink(metrics);
        let mut websocket = None;
        let mut routes = Vec::new();
        let mut pollers = Vec::new();
        let mut scheduled = Vec::new();
        let mut streams = Vec::new();
        let mut sns = Vec::new();
        let calls = crate::calls::recording().then(|| Arc::new(crate::calls::CallLog::default()));
        for f in &stack.functions {
            // Recording: the function's own clients, which note each request under its name.
            let recorded;
            let clients = match &calls {
                Some(log) => {
                    let mut own = clients.clone();
                    own.config = crate::calls::recorded_config(config, &f.logical_id, log);
                    recorded = own;
                    &recorded
                }
                None => &clients,
            };
            let mut env = f.environment.clone();
            // PostToConnection goes to the local stack's management endpoint.
            if env.contains_key("WEBSOCKET_ENDPOINT") {
                env.insert(
                    "WEBSOCKET_ENDPOINT".into(),
                    format!("{base_url}{}", crate::websocket::MANAGEMENT_PATH),
                );
            }
            let lookup = move |k: &str| env.get(k).cloned();
            let built = if f.binary == "ws-connect" {
                let verifier = Arc::new(crate::devauth::DevVerifier {
                    audience: stack.jwt_audience.clone(),
                });
                functions::ws_connect_with(clients, &lookup, clock.clone(), verifier)
                    .map(|s| Function::WebSocket(Arc::new(s)))
            } else {
                functions::build(&f.binary, clients, &lookup, clock.clone()).await
            }
            .map_err(|e| RuntimeError::Config(f.logical_id.clone(), e))?;
            if let Function::WebSocket(h) = &built {
                websocket = Some(h.clone());
            }
            for event in &f.events {
                match (event, &built) {
                    (
                        FunctionEvent::HttpApi {
                            path,
                            method,
                            authorized,
                        },
                        Function::Http(h),
                    ) => routes.push(Route {
                        function: f.logical_id.clone(),
                        method: method.clone(),
                        path: path.clone(),
                        authorized: *authorized,
                        handler: h.clone(),
                    }),
                    (
                        FunctionEvent::Sqs {
                            queue_arn,
                            batch_size,
                            report_batch_item_failures,
                            maximum_concurrency,
                        },
                        Function::Sqs(h),
                    ) => pollers.push(Poller {
                        function: f.logical_id.clone(),
                        queue_url: stack
                            .queue_url_of_arn(queue_arn)
                            .ok_or_else(|| {
                                RuntimeError::UnknownQueue(f.logical_id.clone(), queue_arn.clone())
                            })?
                            .to_owned(),
                        queue_arn: queue_arn.clone(),
                        batch_size: *batch_size,
                        report_batch_item_failures: *report_batch_item_failures,
                        concurrency: maximum_concurrency
                            .unwrap_or(POLLERS_PER_QUEUE)
                            .clamp(1, POLLERS_PER_QUEUE),
                        handler: h.clone(),
                    }),
                    (
                        FunctionEvent::DynamoDb {
                            stream_arn,
                            batch_size,
                            report_batch_item_failures,
                            filters,
                            maximum_retry_attempts,
                            on_failure,
                        },
                        Function::Stream(h),
                    ) => streams.push(Arc::new(StreamPoller::new(
                        f.logical_id.clone(),
                        stream_arn.clone(),
                        *batch_size,
                        *report_batch_item_failures,
                        filters.clone(),
                        *maximum_retry_attempts,
                        on_failure
                            .as_deref()
                            .and_then(|arn| stack.queue_url_of_arn(arn))
                            .map(str::to_owned),
                        h.clone(),
                    ))),
                    (FunctionEvent::EventBridgeRule { bus, pattern }, Function::Event(h)) => {
                        let (queue_url, queue_arn) = crate::provision::rule_queue(
                            stack,
                            config,
                            &f.logical_id,
                            bus,
                            pattern,
                        )
                        .await
                        .map_err(|e| RuntimeError::Rule(f.logical_id.clone(), e.to_string()))?;
                        pollers.push(Poller {
                            function: f.logical_id.clone(),
                            queue_url,
                            queue_arn,
                            batch_size: 10,
                            report_batch_item_failures: true,
                            concurrency: POLLERS_PER_QUEUE,
                            handler: Arc::new(RuleTarget(h.clone())),
                        })
                    }
                    (FunctionEvent::Sns { topic }, Function::Sns(h)) => sns.push(SnsSubscription {
                        function: f.logical_id.clone(),
                        topic: topic.clone(),
                        handler: h.clone(),
                    }),
                    (FunctionEvent::Schedule { expression }, Function::Scheduled(h)) => scheduled
                        .push(Scheduled {
                            function: f.logical_id.clone(),
                            expression: expression.clone(),
                            handler: h.clone(),
                        }),
                    _ => {}
                }
            }
        }
        // Specific routes before greedy ones, as API Gateway does.
        routes.sort_by_key(|r| r.path.contains('+'));
        Ok(Self {
            websocket,
            routes,
            pollers,
            streams,
            scheduled,
            sns,
            sqs: aws_sdk_sqs::Client::new(config),
            streams_client: aws_sdk_dynamodbstreams::Client::new(config),
            calls,
        })
    }

    /// Runs a scheduled function now (`POST /_dev/run/{function}`).
    pub async fn run_scheduled(&self, function: &str) -> Option<Result<serde_json::Value, String>> {
        let s = self.scheduled.iter().find(|s| s.function == function)?;
        Some(s.handler.call().await)
    }

    /// The functions subscribed to a topic (its `Ref`).
    pub fn subscribers<'a>(
        &'a self,
        topic: &'a str,
    ) -> impl Iterator<Item = &'a SnsSubscription> + 'a {
        self.sns.iter().filter(move |s| s.topic == topic)
    }

    pub fn poller(&self, function: &str) -> Option<&Poller> {
        self.pollers.iter().find(|p| p.function == function)
    }

    pub fn route(&self, method: &str, path: &str) -> Option<&Route> {
        self.routes.iter().find(|r| r.matches(method, path))
    }

    /// One receive-invoke-delete cycle of an event source mapping. Returns how many
    /// records were handed to the function.
    pub async fn poll_once(&self, poller: &Poller, wait_seconds: i32) -> Result<usize, String> {
        let out = self
            .sqs
            .receive_message()
            .queue_url(&poller.queue_url)
            .max_number_of_messages(poller.batch_size.clamp(1, 10) as i32)
            .wait_time_seconds(wait_seconds)
            .message_system_attribute_names(MessageSystemAttributeName::All)
            .message_attribute_names("All")
            .send()
            .await
            .map_err(|e| aws_sdk_sqs::error::DisplayErrorContext(e).to_string())?;
        let messages = out.messages.unwrap_or_default();
        if messages.is_empty() {
            return Ok(0);
        }
        let records: Vec<serde_json::Value> = messages
            .iter()
            .map(|m| {
                let attributes: serde_json::Map<String, serde_json::Value> = m
                    .attributes()
                    .map(|a| a.iter().map(|(k, v)| (k.as_str().to_owned(), json!(v))).collect())
                    .unwrap_or_default();
                let message_attributes: serde_json::Map<String, serde_json::Value> = m
                    .message_attributes()
                    .map(|a| {
                        a.iter()
                            .map(|(k, v)| (k.clone(), json!({"stringValue": v.string_value(), "dataType": v.data_type()})))
                            .collect()
                    })
                    .unwrap_or_default();
                json!({
                    "messageId": m.message_id(),
                    "receiptHandle": m.receipt_handle(),
                    "body": m.body(),
                    "md5OfBody": m.md5_of_body(),
                    "attributes": attributes,
                    "messageAttributes": message_attributes,
                    "eventSource": "aws:sqs",
                    "eventSourceARN": poller.queue_arn,
                    "awsRegion": crate::emulator::REGION,
                })
            })
            .collect();
        let event: SqsEvent = serde_json::from_value(json!({ "Records": records }))
            .map_err(|e| format!("sqs event: {e}"))?;
        let response = poller.handler.call(event).await;
        let failed: HashSet<String> = if poller.report_batch_item_failures {
            response
                .batch_item_failures
                .iter()
                .map(|f| f.item_identifier.clone())
                .collect()
        } else {
            HashSet::new()
        };
        let mut deletes = Vec::new();
        for (i, m) in messages.iter().enumerate() {
            let id = m.message_id().unwrap_or_default();
            if failed.contains(id) {
                // Left on the queue, as Lambda does: it comes back after its visibility
                // timeout (which the function may have set for a backoff).
                continue;
            } else if let Ok(entry) = DeleteMessageBatchRequestEntry::builder()
                .id(i.to_string())
                .receipt_handle(m.receipt_handle().unwrap_or_default())
                .build()
            {
                deletes.push(entry);
            }
        }
        if !deletes.is_empty() {
            self.sqs
                .delete_message_batch()
                .queue_url(&poller.queue_url)
                .set_entries(Some(deletes))
                .send()
                .await
                .map_err(|e| aws_sdk_sqs::error::DisplayErrorContext(e).to_string())?;
        }
        Ok(messages.len())
    }

    /// Runs the stream mappings until nothing is left to hand over (tests, and whoever
    /// wants the effects of what was committed now).
    pub async fn drain_streams(&self) {
        for _ in 0..1000 {
            let mut busy = 0;
            for s in &self.streams {
                match s.poll_once(&self.streams_client, &self.sqs).await {
                    Ok((read, handed)) => busy += read + handed,
                    Err(e) => {
                        tracing::warn!(function = %s.function, error = %e, "stream poll failed")
                    }
                }
            }
            if busy == 0 {
                return;
            }
        }
    }

    /// Runs every event source mapping until the process ends.
    pub fn spawn_pollers(self: &Arc<Self>) {
        for s in &self.streams {
            s.spawn(self.streams_client.clone(), self.sqs.clone());
        }
        for i in (0..self.pollers.len())
            .flat_map(|i| std::iter::repeat_n(i, self.pollers[i].concurrency.max(1)))
        {
            let rt = self.clone();
            tokio::spawn(async move {
                let poller = &rt.pollers[i];
                loop {
                    match rt.poll_once(poller, 1).await {
                        Ok(_) => {}
                        Err(e) => {
                            tracing::warn!(function = %poller.function, error = %e, "poll failed");
                            tokio::time::sleep(Duration::from_secs(1)).await;
                        }
                    }
                }
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use lambda_http::{Body, Request, Response};

    struct Nothing;
    #[async_trait::async_trait]
    impl HttpFunction for Nothing {
        async fn call(&self, _req: Request) -> Response<Body> {
            Response::new(Body::Empty)
        }
    }

    fn route(method: &str, path: &str) -> Route {
        Route {
            function: "f".into(),
            method: method.into(),
            path: path.into(),
            authorized: false,
            handler: Arc::new(Nothing),
        }
    }

    #[test]
    fn routes_match_like_api_gateway() {
        assert!(route("GET", "/webhooks/whatsapp").matches("GET", "/webhooks/whatsapp"));
        assert!(!route("GET", "/webhooks/whatsapp").matches("POST", "/webhooks/whatsapp"));
        assert!(route("ANY", "/v1/{proxy+}").matches("DELETE", "/v1/conversations/x"));
        assert!(!route("ANY", "/v1/{proxy+}").matches("GET", "/v1"));
        assert!(route("GET", "/v1/conversations/{id}").matches("GET", "/v1/conversations/abc"));
        assert!(!route("GET", "/v1/conversations/{id}")
            .matches("GET", "/v1/conversations/abc/messages"));
    }
}
