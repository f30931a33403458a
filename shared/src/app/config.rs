//! Settings from the environment, each read where it is used, and AWS clients built once
//! per cold start.

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

/// Where settings come from: the process environment in Lambda, the template's
/// resolved variables in the local stack.
///
/// A function reads a variable where its wiring (`functions.rs`) uses it, through the
/// readers below, never a set of variables "just in case": what a function reads is
/// what `template.yaml` must set for it, and all it must set
/// (`tests/tests/template_consistency.rs` builds each function with a lookup that notes
/// every name asked, and compares with the template).
pub type Lookup<'a> = &'a (dyn Fn(&str) -> Option<String> + Sync);

/// The process environment as a [`Lookup`].
pub fn process_env(name: &str) -> Option<String> {
    std::env::var(name).ok()
}

/// A variable that must be set, and not empty.
pub fn required(env: Lookup<'_>, name: &'static str) -> Result<String, ConfigError> {
    env(name)
        .filter(|v| !v.is_empty())
        .ok_or(ConfigError::Missing(name))
}

/// A variable whose absence is an empty value (a queue URL: the calls on it fail).
pub fn optional(env: Lookup<'_>, name: &'static str) -> String {
    env(name).unwrap_or_default()
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

/// How stale the cached channel settings of `inbound`, `hsm-send` and the API's send may
/// be: `CHANNEL_CACHE_SECONDS`, 0 to 300 s, 0 (read every time) when unset.
pub fn channel_cache_seconds(env: Lookup<'_>) -> Result<i64, ConfigError> {
    seconds(env, "CHANNEL_CACHE_SECONDS", 0..=300, 0)
}

/// How long an agent stays online after its last WebSocket closed:
/// `PRESENCE_GRACE_SECONDS`, 0 to 600 s, 30 when unset.
pub fn presence_grace_seconds(env: Lookup<'_>) -> Result<i64, ConfigError> {
    seconds(env, "PRESENCE_GRACE_SECONDS", 0..=600, 30)
}

/// How long an ambiguous send waits for a status: `SEND_RECONCILE_SECONDS`, 60 s to
/// 12 h, 600 when unset.
pub fn send_reconcile_seconds(env: Lookup<'_>) -> Result<i64, ConfigError> {
    seconds(env, "SEND_RECONCILE_SECONDS", 60..=43_200, 600)
}

/// The CloudWatch namespace of the metrics: `METRICS_NAMESPACE`, `conversa` when unset
/// or blank.
pub fn metrics_namespace(env: Lookup<'_>) -> String {
    env("METRICS_NAMESPACE")
        .filter(|n| !n.trim().is_empty())
        .unwrap_or_else(|| super::metrics::DEFAULT_NAMESPACE.into())
}

/// The Graph API's base URL, version and timeout (`GRAPH_API_BASE_URL`,
/// `GRAPH_API_VERSION`, `GRAPH_API_TIMEOUT_SECONDS` 1 to 60).
pub fn graph_api_settings(
    env: Lookup<'_>,
) -> Result<(String, String, std::time::Duration), ConfigError> {
    let timeout = match env("GRAPH_API_TIMEOUT_SECONDS") {
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
    };
    Ok((
        env("GRAPH_API_BASE_URL").unwrap_or_else(|| "https://graph.facebook.com".into()),
        env("GRAPH_API_VERSION").unwrap_or_else(|| "v23.0".into()),
        std::time::Duration::from_secs(timeout),
    ))
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

/// Where the functions send their AWS calls as X-Ray subsegments ([`crate::aws::xray`]):
/// Lambda's X-Ray daemon (`AWS_XRAY_DAEMON_ADDRESS`, set when the function is traced),
/// when `TRACING_MODE` (the template's `TracingMode`) is `Active`. None otherwise:
/// `PassThrough` leaves X-Ray to what Lambda records itself, and the local stack has no
/// daemon.
pub fn xray_daemon_address(env: Lookup<'_>) -> Option<String> {
    if env("TRACING_MODE").as_deref() != Some("Active") {
        return None;
    }
    env("AWS_XRAY_DAEMON_ADDRESS").filter(|a| !a.trim().is_empty())
}

/// A service's client configuration from a [`Clients`]' SDK configuration, with its X-Ray
/// interceptor when tracing is on.
macro_rules! client_config {
    ($clients:expr, $sdk:ident) => {{
        let mut builder = $sdk::config::Builder::from(&$clients.config);
        if let Some(xray) = &$clients.xray {
            builder.push_interceptor(xray.clone());
        }
        builder
    }};
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
    sms: OnceLock<aws_sdk_pinpointsmsvoicev2::Client>,
    /// For clients built per function (the WebSocket management endpoint).
    pub config: aws_config::SdkConfig,
    metric_sink: Arc<dyn MetricSink>,
    /// Each client's X-Ray interceptor, when tracing is on.
    xray: Option<aws_sdk_dynamodb::config::SharedInterceptor>,
}

impl Clients {
    pub fn new(config: &aws_config::SdkConfig) -> Self {
        Self {
            dynamodb: OnceLock::new(),
            sqs: OnceLock::new(),
            eventbridge: OnceLock::new(),
            ssm: OnceLock::new(),
            scheduler: OnceLock::new(),
            sms: OnceLock::new(),
            config: config.clone(),
            metric_sink: Arc::new(StdoutMetrics),
            xray: None,
        }
    }

    /// The same clients, writing metric lines to `sink` (the local stack keeps them).
    pub fn with_metric_sink(mut self, sink: Arc<dyn MetricSink>) -> Self {
        self.metric_sink = sink;
        self
    }

    /// The same clients, each sending its calls to X-Ray through `xray` (built before
    /// any client is).
    pub fn traced(mut self, xray: aws_sdk_dynamodb::config::SharedInterceptor) -> Self {
        self.xray = Some(xray);
        self
    }

    /// What a handler records its metrics on, flushed to this instance's sink, under
    /// `METRICS_NAMESPACE` (`conversa` when unset or blank).
    pub fn metrics(&self, env: Lookup<'_>) -> Arc<super::metrics::Metrics> {
        Arc::new(super::metrics::Metrics::new(
            metrics_namespace(env),
            self.metric_sink.clone(),
        ))
    }

    pub fn dynamodb(&self) -> &aws_sdk_dynamodb::Client {
        self.dynamodb.get_or_init(|| {
            aws_sdk_dynamodb::Client::from_conf(client_config!(self, aws_sdk_dynamodb).build())
        })
    }

    pub fn sqs(&self) -> &aws_sdk_sqs::Client {
        self.sqs.get_or_init(|| {
            aws_sdk_sqs::Client::from_conf(client_config!(self, aws_sdk_sqs).build())
        })
    }

    pub fn eventbridge(&self) -> &aws_sdk_eventbridge::Client {
        self.eventbridge.get_or_init(|| {
            aws_sdk_eventbridge::Client::from_conf(
                client_config!(self, aws_sdk_eventbridge).build(),
            )
        })
    }

    pub fn ssm(&self) -> &aws_sdk_ssm::Client {
        self.ssm.get_or_init(|| {
            aws_sdk_ssm::Client::from_conf(client_config!(self, aws_sdk_ssm).build())
        })
    }

    pub fn scheduler(&self) -> &aws_sdk_scheduler::Client {
        self.scheduler.get_or_init(|| {
            aws_sdk_scheduler::Client::from_conf(client_config!(self, aws_sdk_scheduler).build())
        })
    }

    /// The SMS client (AWS End User Messaging SMS), at `SMS_ENDPOINT_URL` when that is set
    /// and not empty (the local stack's sandbox; AWS's endpoint otherwise), each attempt
    /// abandoned after `timeout`. Without the SDK's retries: `SendTextMessage` takes no
    /// client token, so a retry after a 5xx or a timeout could deliver twice; `hsm-send`
    /// retries and reconciles by its own rules ([`crate::aws::sms`]).
    pub fn sms(
        &self,
        env: Lookup<'_>,
        timeout: std::time::Duration,
    ) -> &aws_sdk_pinpointsmsvoicev2::Client {
        use aws_sdk_pinpointsmsvoicev2::config::{retry::RetryConfig, timeout::TimeoutConfig};
        let endpoint = env("SMS_ENDPOINT_URL").filter(|u| !u.trim().is_empty());
        self.sms.get_or_init(|| {
            let mut builder = client_config!(self, aws_sdk_pinpointsmsvoicev2)
                .retry_config(RetryConfig::disabled())
                .timeout_config(
                    TimeoutConfig::builder()
                        .operation_attempt_timeout(timeout)
                        .build(),
                );
            if let Some(url) = endpoint {
                builder = builder.endpoint_url(url);
            }
            aws_sdk_pinpointsmsvoicev2::Client::from_conf(builder.build())
        })
    }

    /// The SMS provider: [`Self::sms`] sending with the configuration set
    /// `SMS_CONFIGURATION_SET` (none when empty: no delivery events).
    pub fn sms_provider(
        &self,
        env: Lookup<'_>,
        timeout: std::time::Duration,
    ) -> crate::aws::AwsSms {
        crate::aws::AwsSms::new(self.sms(env, timeout).clone(), env("SMS_CONFIGURATION_SET"))
    }

    pub async fn from_env() -> Self {
        Self::from_lookup(&process_env)
    }

    /// A function's clients from its environment ([`lambda_sdk_config`]), traced when
    /// [`xray_daemon_address`] says.
    pub fn from_lookup(env: Lookup<'_>) -> Self {
        let clients = Self::new(&lambda_sdk_config(env));
        match xray_daemon_address(env).and_then(|a| crate::aws::xray::interceptor(&a)) {
            Some(xray) => clients.traced(xray),
            None => clients,
        }
    }

    /// The table (`TABLE_NAME`), keeping closed data `RETENTION_DAYS` (90 when unset),
    /// channels without their own auto-close at `DEFAULT_AUTO_CLOSE_HOURS` (1 to 72, 24
    /// when unset).
    pub fn store(&self, env: Lookup<'_>) -> Result<DynamoStore, ConfigError> {
        let retention_days = match env("RETENTION_DAYS") {
            Some(v) => v.parse::<i64>().ok().filter(|d| *d > 0).ok_or_else(|| {
                ConfigError::Invalid(
                    "RETENTION_DAYS",
                    format!("{v:?} is not a positive number of days"),
                )
            })?,
            None => 90,
        };
        let default_auto_close_hours = match env("DEFAULT_AUTO_CLOSE_HOURS") {
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
        };
        Ok(DynamoStore::new(
            self.dynamodb().clone(),
            &required(env, "TABLE_NAME")?,
            retention_days,
        )
        .with_default_auto_close_hours(default_auto_close_hours))
    }

    /// The event bus (`EVENT_BUS_NAME`).
    pub fn events(&self, env: Lookup<'_>) -> Result<EventBridgePublisher, ConfigError> {
        Ok(EventBridgePublisher::new(
            self.eventbridge().clone(),
            &required(env, "EVENT_BUS_NAME")?,
        ))
    }

    /// Timers: the timers queue (`TIMERS_QUEUE_URL`, `TIMERS_QUEUE_ARN`) and the
    /// Scheduler's group and role (`SCHEDULE_GROUP`, `SCHEDULER_ROLE_ARN`).
    pub fn timers(&self, env: Lookup<'_>) -> crate::aws::timers::AwsTimers {
        crate::aws::timers::AwsTimers {
            sqs: self.sqs().clone(),
            queue_url: optional(env, "TIMERS_QUEUE_URL"),
            queue_arn: optional(env, "TIMERS_QUEUE_ARN"),
            scheduler: self.scheduler().clone(),
            group: optional(env, "SCHEDULE_GROUP"),
            role_arn: optional(env, "SCHEDULER_ROLE_ARN"),
        }
    }

    /// The WebSocket API's management endpoint (`WEBSOCKET_ENDPOINT`).
    pub fn push(&self, env: Lookup<'_>) -> Result<crate::aws::push::ApiGatewayPush, ConfigError> {
        Ok(crate::aws::push::ApiGatewayPush::new(
            client_config!(self, aws_sdk_apigatewaymanagement),
            &required(env, "WEBSOCKET_ENDPOINT")?,
        ))
    }

    pub fn queue(&self, url: &str) -> SqsWorkQueue {
        SqsWorkQueue::new(self.sqs().clone(), url)
    }

    /// The queue whose URL is in the variable `name`.
    pub fn queue_in(&self, env: Lookup<'_>, name: &'static str) -> SqsWorkQueue {
        self.queue(&optional(env, name))
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
            .map(|v| required(env, v))
            .collect::<Result<Vec<_>, _>>()?;
        let refs: Vec<&str> = names.iter().map(String::as_str).collect();
        Ok(read_secure_parameters(self.ssm(), &refs).await?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lookup(extra: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> + Sync {
        let vars: std::collections::HashMap<String, String> = extra
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        move |k: &str| vars.get(k).cloned()
    }

    #[test]
    fn the_metrics_namespace_is_conversa_unless_set() {
        let namespace = |extra: &[(&str, &str)]| metrics_namespace(&lookup(extra));
        assert_eq!(namespace(&[]), "conversa");
        assert_eq!(
            namespace(&[("METRICS_NAMESPACE", "conversa/prod")]),
            "conversa/prod"
        );
        assert_eq!(namespace(&[("METRICS_NAMESPACE", " ")]), "conversa");
    }

    #[test]
    fn aws_calls_go_to_x_ray_only_when_tracing_is_active_and_lambda_runs_a_daemon() {
        let address = |extra: &[(&str, &str)]| xray_daemon_address(&lookup(extra));
        let daemon = ("AWS_XRAY_DAEMON_ADDRESS", "169.254.79.129:2000");
        assert_eq!(
            address(&[("TRACING_MODE", "Active"), daemon]).as_deref(),
            Some("169.254.79.129:2000")
        );
        assert_eq!(address(&[("TRACING_MODE", "Active")]), None);
        assert_eq!(
            address(&[("TRACING_MODE", "Active"), ("AWS_XRAY_DAEMON_ADDRESS", " ")]),
            None
        );
        assert_eq!(address(&[("TRACING_MODE", "PassThrough"), daemon]), None);
        assert_eq!(address(&[("TRACING_MODE", "Disabled"), daemon]), None);
        assert_eq!(address(&[daemon]), None);
        assert_eq!(address(&[]), None);
    }

    #[test]
    fn traced_clients_carry_the_x_ray_interceptor_and_others_none() {
        use aws_sdk_dynamodb::config::Intercept;
        use std::time::Duration;
        let config = lambda_sdk_config(&lookup(&[("AWS_REGION", "sa-east-1")]));
        let xray = crate::aws::xray::interceptor("127.0.0.1:2000").expect("an interceptor");
        let traced = Clients::new(&config).traced(xray);
        let plain = Clients::new(&config);
        // Each client's interceptors, by name.
        macro_rules! names {
            ($config:expr) => {
                $config.interceptors().map(|i| i.name()).collect::<Vec<_>>()
            };
        }
        let names = |c: &Clients| {
            let push = client_config!(c, aws_sdk_apigatewaymanagement).build();
            [
                names!(c.dynamodb().config()),
                names!(c.sqs().config()),
                names!(c.eventbridge().config()),
                names!(c.ssm().config()),
                names!(c.scheduler().config()),
                names!(c.sms(&lookup(&[]), Duration::from_secs(5)).config()),
                names!(push),
            ]
        };
        for client in names(&traced) {
            assert_eq!(client, ["XRay"]);
        }
        for client in names(&plain) {
            assert!(client.is_empty(), "{client:?}");
        }
    }

    #[test]
    fn the_channel_cache_is_off_unless_set_and_refuses_values_outside_0_to_300() {
        assert_eq!(channel_cache_seconds(&lookup(&[])).unwrap(), 0);
        let set = channel_cache_seconds(&lookup(&[("CHANNEL_CACHE_SECONDS", "30")]));
        assert_eq!(set.unwrap(), 30);
        for bad in ["301", "-1", "soon"] {
            let err = channel_cache_seconds(&lookup(&[("CHANNEL_CACHE_SECONDS", bad)]))
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
