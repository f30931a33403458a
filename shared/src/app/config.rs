//! Settings from the environment, and AWS clients built once per cold start.

use crate::aws::{read_secure_parameters, DynamoStore, EventBridgePublisher, SqsWorkQueue};
use crate::ports::{MetricSink, PortError, StdoutMetrics};
use std::sync::{Arc, OnceLock};

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("environment variable {0} is not set")]
    Missing(&'static str),
    #[error("environment variable {0} is invalid: {1}")]
    Invalid(&'static str, String),
    #[error(transparent)]
    Port(#[from] PortError),
}

/// Everything the functions read from their environment (see README, "Configuration").
#[derive(Debug, Clone)]
pub struct Settings {
    pub table_name: String,
    pub event_bus_name: String,
    pub inbound_queue_url: String,
    pub inbound_dlq_url: String,
    pub outbound_queue_url: String,
    pub outbound_dlq_url: String,
    pub retention_days: i64,
    /// Auto-close hours of channels that set none (1..=72).
    pub default_auto_close_hours: u32,
    pub graph_api_base_url: String,
    pub graph_api_version: String,
    pub graph_api_timeout: std::time::Duration,
    /// SSM parameter with the Graph API access token (a channel may name its own).
    pub graph_token_parameter: String,
    pub timers_queue_url: String,
    pub timers_queue_arn: String,
    pub schedule_group: String,
    pub scheduler_role_arn: String,
    /// How long an ambiguous send waits for a status (60 s to 12 h).
    pub send_reconcile_seconds: i64,
    /// How long an agent stays online after its last WebSocket closed (0 to 600 s).
    pub presence_grace_seconds: i64,
    /// `ApiGatewayManagementApi` endpoint of the WebSocket API (`https://{api}.execute-api.{region}.amazonaws.com/{stage}`).
    pub websocket_endpoint: String,
    /// How stale the cached channel settings of `inbound`, `hsm-send` and the API's send may be (0 to 300 s; 0: read every time).
    pub channel_cache_seconds: i64,
    /// The CloudWatch namespace of the metrics (`METRICS_NAMESPACE`; `conversa` when unset).
    pub metrics_namespace: String,
}

/// Where settings come from: the process environment in Lambda, the template's
/// resolved variables in the local stack.
pub type Lookup<'a> = &'a (dyn Fn(&str) -> Option<String> + Sync);

/// The process environment as a [`Lookup`].
pub fn process_env(name: &str) -> Option<String> {
    std::env::var(name).ok()
}

fn var(env: Lookup<'_>, name: &'static str) -> Result<String, ConfigError> {
    env(name)
        .filter(|v| !v.is_empty())
        .ok_or(ConfigError::Missing(name))
}

/// A number of seconds within `range`, or `default` when the variable is not set.
fn seconds(
    env: Lookup<'_>,
    name: &'static str,
    range: std::ops::RangeInclusive<i64>,
    default: i64,
) -> Result<i64, ConfigError> {
    let Some(v) = env(name) else {
        return Ok(default);
    };
    v.parse::<i64>()
        .ok()
        .filter(|s| range.contains(s))
        .ok_or_else(|| {
            ConfigError::Invalid(
                name,
                format!("{v:?} is not {} to {} seconds", range.start(), range.end()),
            )
        })
}

impl Settings {
    pub fn from_lookup(env: Lookup<'_>) -> Result<Self, ConfigError> {
        let retention_days = match env("RETENTION_DAYS") {
            Some(v) => v.parse::<i64>().ok().filter(|d| *d > 0).ok_or_else(|| {
                ConfigError::Invalid(
                    "RETENTION_DAYS",
                    format!("{v:?} is not a positive number of days"),
                )
            })?,
            None => 90,
        };
        Ok(Self {
            table_name: var(env, "TABLE_NAME")?,
            event_bus_name: var(env, "EVENT_BUS_NAME")?,
            inbound_queue_url: env("INBOUND_QUEUE_URL").unwrap_or_default(),
            inbound_dlq_url: env("INBOUND_DLQ_URL").unwrap_or_default(),
            outbound_queue_url: env("OUTBOUND_QUEUE_URL").unwrap_or_default(),
            outbound_dlq_url: env("OUTBOUND_DLQ_URL").unwrap_or_default(),
            retention_days,
            default_auto_close_hours: match env("DEFAULT_AUTO_CLOSE_HOURS") {
                Some(v) => v
                    .parse::<u32>()
                    .ok()
                    .filter(|h| (1..=72).contains(h))
                    .ok_or_else(|| {
                        ConfigError::Invalid(
                            "DEFAULT_AUTO_CLOSE_HOURS",
                            format!("{v:?} is not 1 to 72 hours"),
                        )
                    })?,
                None => 24,
            },
            graph_api_base_url: env("GRAPH_API_BASE_URL")
                .unwrap_or_else(|| "https://graph.facebook.com".into()),
            graph_api_version: env("GRAPH_API_VERSION").unwrap_or_else(|| "v23.0".into()),
            graph_token_parameter: env("GRAPH_TOKEN_PARAMETER").unwrap_or_default(),
            timers_queue_url: env("TIMERS_QUEUE_URL").unwrap_or_default(),
            timers_queue_arn: env("TIMERS_QUEUE_ARN").unwrap_or_default(),
            schedule_group: env("SCHEDULE_GROUP").unwrap_or_default(),
            scheduler_role_arn: env("SCHEDULER_ROLE_ARN").unwrap_or_default(),
            send_reconcile_seconds: seconds(env, "SEND_RECONCILE_SECONDS", 60..=43_200, 600)?,
            presence_grace_seconds: seconds(env, "PRESENCE_GRACE_SECONDS", 0..=600, 30)?,
            channel_cache_seconds: seconds(env, "CHANNEL_CACHE_SECONDS", 0..=300, 0)?,
            websocket_endpoint: env("WEBSOCKET_ENDPOINT").unwrap_or_default(),
            metrics_namespace: env("METRICS_NAMESPACE")
                .filter(|n| !n.trim().is_empty())
                .unwrap_or_else(|| super::metrics::DEFAULT_NAMESPACE.into()),
            graph_api_timeout: std::time::Duration::from_secs(
                match env("GRAPH_API_TIMEOUT_SECONDS") {
                    Some(v) => v
                        .parse::<u64>()
                        .ok()
                        .filter(|s| (1..=60).contains(s))
                        .ok_or_else(|| {
                            ConfigError::Invalid(
                                "GRAPH_API_TIMEOUT_SECONDS",
                                format!("{v:?} is not 1..=60 seconds"),
                            )
                        })?,
                    None => 10,
                },
            ),
        })
    }
}

/// The SDK configuration of a Lambda function, from what Lambda puts in its environment:
/// `AWS_REGION` and the execution role's credentials as environment variables
/// (`AWS_ENDPOINT_URL` too, when set, as the harnesses do). Built directly rather than by
/// `aws_config::defaults(..).load()`, whose provider chains — profile files, SSO, STS web
/// identity, IMDS, ECS — a function never uses but would carry in its binary and walk at
/// every cold start.
pub fn lambda_sdk_config(env: Lookup<'_>) -> aws_config::SdkConfig {
    use aws_config::environment::EnvironmentVariableCredentialsProvider;
    use aws_sdk_dynamodb::config::SharedCredentialsProvider;
    let region = env("AWS_REGION")
        .or_else(|| env("AWS_DEFAULT_REGION"))
        .filter(|r| !r.is_empty())
        .map(aws_config::Region::new);
    let mut builder = aws_config::SdkConfig::builder()
        .behavior_version(aws_config::BehaviorVersion::latest())
        .region(region)
        .credentials_provider(SharedCredentialsProvider::new(
            EnvironmentVariableCredentialsProvider::new(),
        ))
        .http_client(crate::aws::http_client());
    if let Some(url) = env("AWS_ENDPOINT_URL").filter(|u| !u.is_empty()) {
        builder = builder.endpoint_url(url);
    }
    builder.build()
}

/// The AWS clients of a function, built once per cold start from one `SdkConfig`, each on
/// first use: a function's binary carries only the clients its builder asks for. With
/// them, where its metric lines go (standard output unless the local stack says).
#[derive(Clone, Debug)]
pub struct Clients {
    dynamodb: OnceLock<aws_sdk_dynamodb::Client>,
    sqs: OnceLock<aws_sdk_sqs::Client>,
    eventbridge: OnceLock<aws_sdk_eventbridge::Client>,
    ssm: OnceLock<aws_sdk_ssm::Client>,
    scheduler: OnceLock<aws_sdk_scheduler::Client>,
    /// For clients built per function (the WebSocket management endpoint).
    pub config: aws_config::SdkConfig,
    metric_sink: Arc<dyn MetricSink>,
}

impl Clients {
    pub fn new(config: &aws_config::SdkConfig) -> Self {
        Self {
            dynamodb: OnceLock::new(),
            sqs: OnceLock::new(),
            eventbridge: OnceLock::new(),
            ssm: OnceLock::new(),
            scheduler: OnceLock::new(),
            config: config.clone(),
            metric_sink: Arc::new(StdoutMetrics),
        }
    }

    /// The same clients, writing metric lines to `sink` (the local stack keeps them).
    pub fn with_metric_sink(mut self, sink: Arc<dyn MetricSink>) -> Self {
        self.metric_sink = sink;
        self
    }

    /// What a handler records its metrics on, flushed to this instance's sink.
    pub fn metrics(&self, settings: &Settings) -> Arc<super::metrics::Metrics> {
        Arc::new(super::metrics::Metrics::new(
            settings.metrics_namespace.clone(),
            self.metric_sink.clone(),
        ))
    }

    pub fn dynamodb(&self) -> &aws_sdk_dynamodb::Client {
        self.dynamodb
            .get_or_init(|| aws_sdk_dynamodb::Client::new(&self.config))
    }

    pub fn sqs(&self) -> &aws_sdk_sqs::Client {
        self.sqs
            .get_or_init(|| aws_sdk_sqs::Client::new(&self.config))
    }

    pub fn eventbridge(&self) -> &aws_sdk_eventbridge::Client {
        self.eventbridge
            .get_or_init(|| aws_sdk_eventbridge::Client::new(&self.config))
    }

    pub fn ssm(&self) -> &aws_sdk_ssm::Client {
        self.ssm
            .get_or_init(|| aws_sdk_ssm::Client::new(&self.config))
    }

    pub fn scheduler(&self) -> &aws_sdk_scheduler::Client {
        self.scheduler
            .get_or_init(|| aws_sdk_scheduler::Client::new(&self.config))
    }

    pub async fn from_env() -> Self {
        Self::new(&lambda_sdk_config(&process_env))
    }

    pub fn store(&self, settings: &Settings) -> DynamoStore {
        DynamoStore::new(
            self.dynamodb().clone(),
            &settings.table_name,
            settings.retention_days,
        )
        .with_default_auto_close_hours(settings.default_auto_close_hours)
    }

    pub fn events(&self, settings: &Settings) -> EventBridgePublisher {
        EventBridgePublisher::new(self.eventbridge().clone(), &settings.event_bus_name)
    }

    pub fn timers(&self, settings: &Settings) -> crate::aws::timers::AwsTimers {
        crate::aws::timers::AwsTimers {
            sqs: self.sqs().clone(),
            queue_url: settings.timers_queue_url.clone(),
            queue_arn: settings.timers_queue_arn.clone(),
            scheduler: self.scheduler().clone(),
            group: settings.schedule_group.clone(),
            role_arn: settings.scheduler_role_arn.clone(),
        }
    }

    pub fn push(&self, settings: &Settings) -> crate::aws::push::ApiGatewayPush {
        crate::aws::push::ApiGatewayPush::new(&self.config, &settings.websocket_endpoint)
    }

    pub fn queue(&self, url: &str) -> SqsWorkQueue {
        SqsWorkQueue::new(self.sqs().clone(), url)
    }

    /// Reads the secrets whose SSM parameter names are in these environment variables,
    /// in one call.
    pub async fn secrets(
        &self,
        env: Lookup<'_>,
        env_vars: &[&'static str],
    ) -> Result<Vec<String>, ConfigError> {
        let names = env_vars
            .iter()
            .map(|v| var(env, v))
            .collect::<Result<Vec<_>, _>>()?;
        let refs: Vec<&str> = names.iter().map(String::as_str).collect();
        Ok(read_secure_parameters(self.ssm(), &refs).await?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(extra: &[(&str, &str)]) -> Result<Settings, ConfigError> {
        let vars: std::collections::HashMap<String, String> =
            [("TABLE_NAME", "t"), ("EVENT_BUS_NAME", "b")]
                .iter()
                .chain(extra)
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect();
        Settings::from_lookup(&move |k: &str| vars.get(k).cloned())
    }

    #[test]
    fn the_metrics_namespace_is_conversa_unless_set() {
        assert_eq!(settings(&[]).unwrap().metrics_namespace, "conversa");
        let set = settings(&[("METRICS_NAMESPACE", "conversa/prod")]).unwrap();
        assert_eq!(set.metrics_namespace, "conversa/prod");
        let blank = settings(&[("METRICS_NAMESPACE", " ")]).unwrap();
        assert_eq!(blank.metrics_namespace, "conversa");
    }

    #[test]
    fn the_channel_cache_is_off_unless_set_and_refuses_values_outside_0_to_300() {
        assert_eq!(settings(&[]).unwrap().channel_cache_seconds, 0);
        let set = settings(&[("CHANNEL_CACHE_SECONDS", "30")]).unwrap();
        assert_eq!(set.channel_cache_seconds, 30);
        for bad in ["301", "-1", "soon"] {
            let err = settings(&[("CHANNEL_CACHE_SECONDS", bad)])
                .err()
                .map(|e| e.to_string());
            let err = err.unwrap_or_default();
            assert!(
                err.contains("CHANNEL_CACHE_SECONDS") && err.contains("0 to 300 seconds"),
                "{err}"
            );
        }
    }
}
