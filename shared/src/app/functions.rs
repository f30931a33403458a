//! Each Lambda function's handler, built from settings and clients. The binaries and the
//! local stack build them through these same functions.

use super::api::{AgentApi, WindowCheck};
use super::closing::Closer;
use super::config::{self, Clients, ConfigError, Lookup};
use super::expiry::Sweeper;
use super::inbound::Inbound;
use super::outbound::Sender;
use super::relay::EventRelay;
use super::templates::TemplateSync;
use super::timers::TimerHandler;
use super::webhook::Webhook;
use crate::aws::{DynamoStore, SsmSecrets};
use crate::ports::Clock;
use crate::provider::graph::GraphApi;
use async_trait::async_trait;
use aws_lambda_events::dynamodb::Event as DynamoDbEvent;
use aws_lambda_events::sqs::{SqsBatchResponse, SqsEvent};
use aws_lambda_events::streams::DynamoDbEventResponse;
use lambda_http::{Body, Request, Response};
use std::sync::Arc;

#[async_trait]
pub trait HttpFunction: Send + Sync {
    async fn call(&self, req: Request) -> Response<Body>;
}

#[async_trait]
pub trait SqsFunction: Send + Sync {
    async fn call(&self, event: SqsEvent) -> SqsBatchResponse;
}

/// A function on a DynamoDB stream, reporting where the stream must resume.
#[async_trait]
pub trait StreamFunction: Send + Sync {
    async fn call(&self, event: DynamoDbEvent) -> DynamoDbEventResponse;
}

#[async_trait]
impl StreamFunction for EventRelay {
    async fn call(&self, event: DynamoDbEvent) -> DynamoDbEventResponse {
        self.handle(event).await
    }
}

#[async_trait]
impl HttpFunction for Webhook {
    async fn call(&self, req: Request) -> Response<Body> {
        self.handle(req).await
    }
}

#[async_trait]
impl HttpFunction for AgentApi {
    async fn call(&self, req: Request) -> Response<Body> {
        self.handle(req).await
    }
}

#[async_trait]
impl HttpFunction for WindowCheck {
    async fn call(&self, req: Request) -> Response<Body> {
        self.handle(req).await
    }
}

#[async_trait]
impl SqsFunction for Inbound {
    async fn call(&self, event: SqsEvent) -> SqsBatchResponse {
        self.handle(event).await
    }
}

#[async_trait]
impl SqsFunction for TimerHandler {
    async fn call(&self, event: SqsEvent) -> SqsBatchResponse {
        self.handle(event).await
    }
}

#[async_trait]
impl SqsFunction for Sender {
    async fn call(&self, event: SqsEvent) -> SqsBatchResponse {
        self.handle(event).await
    }
}

/// A function run by a schedule: it takes the scheduled event and reports what it did.
#[async_trait]
pub trait ScheduledFunction: Send + Sync {
    async fn call(&self) -> Result<serde_json::Value, String>;
}

#[async_trait]
impl ScheduledFunction for Sweeper {
    async fn call(&self) -> Result<serde_json::Value, String> {
        let report = self.run().await.map_err(|e| e.to_string())?;
        serde_json::to_value(report).map_err(|e| e.to_string())
    }
}

#[async_trait]
impl ScheduledFunction for TemplateSync {
    async fn call(&self) -> Result<serde_json::Value, String> {
        let report = self.run().await.map_err(|e| e.to_string())?;
        serde_json::to_value(report).map_err(|e| e.to_string())
    }
}

/// A function on an EventBridge rule: it takes the whole event (`detail-type`, `detail`).
#[async_trait]
pub trait EventFunction: Send + Sync {
    async fn call(&self, event: serde_json::Value) -> Result<serde_json::Value, String>;
}

#[async_trait]
impl EventFunction for super::notifier::Notifier {
    async fn call(&self, event: serde_json::Value) -> Result<serde_json::Value, String> {
        let report = self.on_event(&event).await.map_err(|e| e.to_string())?;
        serde_json::to_value(report).map_err(|e| e.to_string())
    }
}

#[async_trait]
impl EventFunction for super::assignment::Assigner {
    async fn call(&self, event: serde_json::Value) -> Result<serde_json::Value, String> {
        let detail_type = event["detail-type"].as_str().unwrap_or_default();
        let report = self
            .on_event(detail_type, &event["detail"])
            .await
            .map_err(|e| e.to_string())?;
        serde_json::to_value(report).map_err(|e| e.to_string())
    }
}

/// A function subscribed to an SNS topic (SNS invokes it asynchronously: an error makes
/// Lambda retry, then send the event to the function's on-failure destination).
#[async_trait]
pub trait SnsFunction: Send + Sync {
    async fn call(
        &self,
        event: aws_lambda_events::sns::SnsEvent,
    ) -> Result<serde_json::Value, String>;
}

#[async_trait]
impl SnsFunction for super::sms_inbound::SmsInbound {
    async fn call(
        &self,
        event: aws_lambda_events::sns::SnsEvent,
    ) -> Result<serde_json::Value, String> {
        let report = self.handle(event).await.map_err(|e| e.to_string())?;
        serde_json::to_value(report).map_err(|e| e.to_string())
    }
}

/// The WebSocket API's `$connect` / `$disconnect` routes.
#[async_trait]
pub trait WebSocketFunction: Send + Sync {
    async fn call(
        &self,
        event: aws_lambda_events::apigw::ApiGatewayWebsocketProxyRequest,
    ) -> aws_lambda_events::apigw::ApiGatewayProxyResponse;
}

#[async_trait]
impl WebSocketFunction for super::sockets::Sockets {
    async fn call(
        &self,
        event: aws_lambda_events::apigw::ApiGatewayWebsocketProxyRequest,
    ) -> aws_lambda_events::apigw::ApiGatewayProxyResponse {
        let ctx = &event.request_context;
        let id = ctx.connection_id.clone().unwrap_or_default();
        let status = match ctx.route_key.as_deref() {
            Some("$connect") => {
                let token = event.query_string_parameters.first("token");
                match self.connect(&id, token).await {
                    Ok(_) => 200,
                    Err(e) => {
                        tracing::info!(connection = %id, reason = %e, "websocket refused");
                        e.status()
                    }
                }
            }
            Some("$disconnect") => match self.disconnect(&id).await {
                Ok(()) => 200,
                Err(e) => {
                    tracing::warn!(connection = %id, error = %e, "disconnect not recorded");
                    500
                }
            },
            // Clients send nothing that needs an answer (a keep-alive ping at most).
            _ => 200,
        };
        let mut response = aws_lambda_events::apigw::ApiGatewayProxyResponse::default();
        response.status_code = i64::from(status);
        response
    }
}

pub enum Function {
    Http(Arc<dyn HttpFunction>),
    Event(Arc<dyn EventFunction>),
    WebSocket(Arc<dyn WebSocketFunction>),
    Sqs(Arc<dyn SqsFunction>),
    Stream(Arc<dyn StreamFunction>),
    Scheduled(Arc<dyn ScheduledFunction>),
    Sns(Arc<dyn SnsFunction>),
}

// Each constructor reads the variables it uses, where it uses them (`config`'s readers):
// what a function reads is what `template.yaml` sets for it.

fn graph_api(env: Lookup<'_>) -> Result<GraphApi, ConfigError> {
    let (base_url, version, timeout) = config::graph_api_settings(env)?;
    GraphApi::new(&base_url, &version, timeout)
        .map_err(|e| ConfigError::Invalid("GRAPH_API_BASE_URL", e.to_string()))
}

/// The table's adapter: one value behind every store port a function names.
fn store(clients: &Clients, env: Lookup<'_>) -> Result<Arc<DynamoStore>, ConfigError> {
    Ok(Arc::new(clients.store(env)?))
}

/// The channel settings of a hot path, cached for `CHANNEL_CACHE_SECONDS`.
fn cached_channels(
    store: &Arc<DynamoStore>,
    env: Lookup<'_>,
    clock: Arc<dyn Clock>,
) -> Result<Arc<super::channel_cache::CachedChannels>, ConfigError> {
    Ok(Arc::new(super::channel_cache::CachedChannels::new(
        store.clone(),
        clock,
        config::channel_cache_seconds(env)?,
    )))
}

/// What closing a conversation touches, on the same clients.
fn closer(store: &Arc<DynamoStore>) -> Closer {
    Closer {
        conversations: store.clone(),
        channels: store.clone(),
        contacts: store.clone(),
    }
}

fn assigner_of(store: &Arc<DynamoStore>, clock: Arc<dyn Clock>) -> super::assignment::Assigner {
    super::assignment::Assigner {
        conversations: store.clone(),
        agents: store.clone(),
        queues: store.clone(),
        work_lists: store.clone(),
        assignments: store.clone(),
        clock,
    }
}

pub fn window_check(
    clients: &Clients,
    env: Lookup<'_>,
    clock: Arc<dyn Clock>,
) -> Result<WindowCheck, ConfigError> {
    let store = store(clients, env)?;
    Ok(WindowCheck {
        channels: store.clone(),
        contacts: store.clone(),
        conversations: store,
        clock,
    })
}

pub fn hsm_send(
    clients: &Clients,
    env: Lookup<'_>,
    clock: Arc<dyn Clock>,
) -> Result<Sender, ConfigError> {
    let store = store(clients, env)?;
    Ok(Sender {
        channels: cached_channels(&store, env, clock.clone())?,
        contacts: store.clone(),
        messages: store.clone(),
        pacer: store.clone(),
        campaigns: store.clone(),
        sends: store,
        provider: Arc::new(graph_api(env)?),
        // A send's timeout is the same for both providers (`GRAPH_API_TIMEOUT_SECONDS`).
        sms: Arc::new(clients.sms_provider(env, config::graph_api_settings(env)?.2)),
        secrets: Arc::new(SsmSecrets::new(clients.ssm().clone())),
        queue: Arc::new(clients.queue_in(env, "OUTBOUND_QUEUE_URL")),
        dead_letters: Arc::new(clients.queue_in(env, "OUTBOUND_DLQ_URL")),
        metrics: clients.metrics(env),
        clock,
        default_token_parameter: config::optional(env, "GRAPH_TOKEN_PARAMETER"),
        reconcile_after_seconds: config::send_reconcile_seconds(env)?,
    })
}

pub fn handoff_timeout(
    clients: &Clients,
    env: Lookup<'_>,
    clock: Arc<dyn Clock>,
) -> Result<TimerHandler, ConfigError> {
    let store = store(clients, env)?;
    let timers: Arc<dyn crate::ports::TimerService> = Arc::new(clients.timers(env));
    Ok(TimerHandler {
        campaigns: super::campaigns::CampaignDispatcher {
            campaigns: store.clone(),
            channels: store.clone(),
            contacts: store.clone(),
            conversations: store.clone(),
            templates: store.clone(),
            timers: timers.clone(),
            clock: clock.clone(),
        },
        assigner: assigner_of(&store, clock.clone()),
        closer: closer(&store),
        conversations: store.clone(),
        messages: store,
        timers,
        clock,
    })
}

pub fn auto_expiry(
    clients: &Clients,
    env: Lookup<'_>,
    clock: Arc<dyn Clock>,
) -> Result<Sweeper, ConfigError> {
    let store = store(clients, env)?;
    Ok(Sweeper {
        closer: closer(&store),
        expiry: store,
        clock,
        page_size: super::expiry::PAGE,
    })
}

pub fn template_sync(clients: &Clients, env: Lookup<'_>) -> Result<TemplateSync, ConfigError> {
    let store = store(clients, env)?;
    Ok(TemplateSync {
        channels: store.clone(),
        templates: store,
        provider: Arc::new(graph_api(env)?),
        secrets: Arc::new(SsmSecrets::new(clients.ssm().clone())),
        default_token_parameter: config::optional(env, "GRAPH_TOKEN_PARAMETER"),
    })
}

pub async fn webhook(
    clients: &Clients,
    env: Lookup<'_>,
    clock: Arc<dyn Clock>,
) -> Result<Webhook, ConfigError> {
    let secrets = clients
        .secrets(env, &["VERIFY_TOKEN_PARAMETER", "APP_SECRET_PARAMETER"])
        .await?;
    let [verify_token, app_secret]: [String; 2] = secrets
        .try_into()
        .map_err(|_| ConfigError::Invalid("secrets", "expected two values".into()))?;
    Ok(Webhook {
        verify_token,
        app_secret: app_secret.into_bytes(),
        queue: Arc::new(clients.queue_in(env, "INBOUND_QUEUE_URL")),
        dead_letters: Arc::new(clients.queue_in(env, "INBOUND_DLQ_URL")),
        clock,
    })
}

/// `sms-inbound`: the SMS topic's notifications onto `inbound.fifo`, as `webhook` does.
pub fn sms_inbound(
    clients: &Clients,
    env: Lookup<'_>,
    clock: Arc<dyn Clock>,
) -> Result<super::sms_inbound::SmsInbound, ConfigError> {
    let store = store(clients, env)?;
    Ok(super::sms_inbound::SmsInbound {
        channels: cached_channels(&store, env, clock)?,
        queue: Arc::new(clients.queue_in(env, "INBOUND_QUEUE_URL")),
        dead_letters: Arc::new(clients.queue_in(env, "INBOUND_DLQ_URL")),
    })
}

pub fn inbound(
    clients: &Clients,
    env: Lookup<'_>,
    clock: Arc<dyn Clock>,
) -> Result<Inbound, ConfigError> {
    let store = store(clients, env)?;
    Ok(Inbound {
        channels: cached_channels(&store, env, clock.clone())?,
        contacts: store.clone(),
        conversations: store.clone(),
        sends: store.clone(),
        inbound_log: store,
        events: Arc::new(clients.events(env)?),
        dead_letters: Arc::new(clients.queue_in(env, "INBOUND_DLQ_URL")),
        metrics: clients.metrics(env),
        clock,
    })
}

pub fn agent_api(
    clients: &Clients,
    env: Lookup<'_>,
    clock: Arc<dyn Clock>,
) -> Result<AgentApi, ConfigError> {
    let store = store(clients, env)?;
    Ok(AgentApi {
        closer: closer(&store),
        channels: store.clone(),
        sending_channels: cached_channels(&store, env, clock.clone())?,
        templates: store.clone(),
        contacts: store.clone(),
        conversations: store.clone(),
        messages: store.clone(),
        queues: store.clone(),
        work_lists: store.clone(),
        campaigns: store.clone(),
        agents: store.clone(),
        presence: presence_of(&store, env, clock.clone())?,
        clock,
    })
}

/// Presence, with the grace period of `PRESENCE_GRACE_SECONDS`.
fn presence_of(
    store: &Arc<DynamoStore>,
    env: Lookup<'_>,
    clock: Arc<dyn Clock>,
) -> Result<super::presence::Presence, ConfigError> {
    Ok(super::presence::Presence {
        agents: store.clone(),
        clock,
        grace_millis: config::presence_grace_seconds(env)? * 1000,
    })
}

pub fn notifier(
    clients: &Clients,
    env: Lookup<'_>,
    clock: Arc<dyn Clock>,
) -> Result<super::notifier::Notifier, ConfigError> {
    let push = Arc::new(clients.push(env)?);
    let store = store(clients, env)?;
    Ok(super::notifier::Notifier {
        connections: store.clone(),
        conversations: store.clone(),
        push,
        presence: presence_of(&store, env, clock)?,
    })
}

pub fn assigner(
    clients: &Clients,
    env: Lookup<'_>,
    clock: Arc<dyn Clock>,
) -> Result<super::assignment::Assigner, ConfigError> {
    Ok(assigner_of(&store(clients, env)?, clock))
}

/// `ws-connect` with the token verifier given (the local stack's development tokens).
pub fn ws_connect_with(
    clients: &Clients,
    env: Lookup<'_>,
    clock: Arc<dyn Clock>,
    verifier: Arc<dyn crate::ports::TokenVerifier>,
) -> Result<super::sockets::Sockets, ConfigError> {
    let store = store(clients, env)?;
    Ok(super::sockets::Sockets {
        connections: store.clone(),
        presence: presence_of(&store, env, clock.clone())?,
        verifier,
        clock,
    })
}

/// `ws-connect` checking tokens against the identity provider's keys (`JWT_ISSUER`,
/// `JWT_AUDIENCE`), as the HTTP API's authorizer does.
pub fn ws_connect(
    clients: &Clients,
    env: Lookup<'_>,
    clock: Arc<dyn Clock>,
) -> Result<super::sockets::Sockets, ConfigError> {
    let issuer = config::required(env, "JWT_ISSUER")?;
    let audience = config::required(env, "JWT_AUDIENCE")?;
    let verifier = Arc::new(crate::aws::jwks::JwksVerifier::new(&issuer, &audience));
    ws_connect_with(clients, env, clock, verifier)
}

pub fn event_relay(
    clients: &Clients,
    env: Lookup<'_>,
    clock: Arc<dyn Clock>,
) -> Result<EventRelay, ConfigError> {
    Ok(EventRelay {
        events: Arc::new(clients.events(env)?),
        outbound: Arc::new(clients.queue_in(env, "OUTBOUND_QUEUE_URL")),
        timers: Arc::new(clients.timers(env)),
        metrics: clients.metrics(env),
        clock,
    })
}

/// The handler of a function by its binary name (`Metadata.BuildProperties.Binary`).
/// Priming: one read of the table during init, of a key that never exists, so that the
/// first event finds the connection to DynamoDB open (DNS, TCP, the TLS handshake), the
/// credentials resolved and the request path warmed — work that would otherwise be in the
/// first customer's latency. Lambda runs it in the init phase, which for a custom runtime
/// (`provided.al2023`) is billed like an invocation: one round trip per cold start. Never
/// fails a cold start (2 s at most, errors only logged).
pub async fn prime_table(clients: &Clients, env: Lookup<'_>) {
    let Some(table) = env("TABLE_NAME").filter(|t| !t.is_empty()) else {
        return;
    };
    use aws_sdk_dynamodb::types::AttributeValue;
    let read = clients
        .dynamodb()
        .get_item()
        .table_name(table)
        .key("pk", AttributeValue::S("PRIME".into()))
        .key("sk", AttributeValue::S("PRIME".into()))
        .send();
    match tokio::time::timeout(std::time::Duration::from_secs(2), read).await {
        Ok(Ok(_)) => tracing::debug!("table connection primed"),
        Ok(Err(e)) => {
            tracing::warn!(error = %aws_sdk_dynamodb::error::DisplayErrorContext(e), "priming read failed")
        }
        Err(_) => tracing::warn!("priming read timed out"),
    }
}

pub async fn build(
    binary: &str,
    clients: &Clients,
    env: Lookup<'_>,
    clock: Arc<dyn Clock>,
) -> Result<Function, ConfigError> {
    Ok(match binary {
        "webhook" => Function::Http(Arc::new(webhook(clients, env, clock).await?)),
        "inbound" => Function::Sqs(Arc::new(inbound(clients, env, clock)?)),
        "sms-inbound" => Function::Sns(Arc::new(sms_inbound(clients, env, clock)?)),
        "agent-api" => Function::Http(Arc::new(agent_api(clients, env, clock)?)),
        "window-check" => Function::Http(Arc::new(window_check(clients, env, clock)?)),
        "hsm-send" => Function::Sqs(Arc::new(hsm_send(clients, env, clock)?)),
        "handoff-timeout" => Function::Sqs(Arc::new(handoff_timeout(clients, env, clock)?)),
        "template-sync" => Function::Scheduled(Arc::new(template_sync(clients, env)?)),
        "auto-expiry" => Function::Scheduled(Arc::new(auto_expiry(clients, env, clock)?)),
        "event-relay" => Function::Stream(Arc::new(event_relay(clients, env, clock)?)),
        "notifier" => Function::Event(Arc::new(notifier(clients, env, clock)?)),
        "assigner" => Function::Event(Arc::new(assigner(clients, env, clock)?)),
        "ws-connect" => Function::WebSocket(Arc::new(ws_connect(clients, env, clock)?)),
        other => {
            return Err(ConfigError::Invalid(
                "binary",
                format!("no function named {other}"),
            ))
        }
    })
}
