//! Each Lambda function's handler, built from settings and clients. The binaries and the
//! local stack build them through these same functions.

use super::config::{Clients, ConfigError, Lookup, Settings};
use super::{AgentApi, Inbound, Webhook};
use crate::ports::Clock;
use async_trait::async_trait;
use aws_lambda_events::sqs::{SqsBatchResponse, SqsEvent};
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
impl SqsFunction for Inbound {
    async fn call(&self, event: SqsEvent) -> SqsBatchResponse {
        self.handle(event).await
    }
}

pub enum Function {
    Http(Arc<dyn HttpFunction>),
    Sqs(Arc<dyn SqsFunction>),
}

pub async fn webhook(
    clients: &Clients,
    env: Lookup<'_>,
    clock: Arc<dyn Clock>,
) -> Result<Webhook, ConfigError> {
    let settings = Settings::from_lookup(env)?;
    let secrets = clients
        .secrets(env, &["VERIFY_TOKEN_PARAMETER", "APP_SECRET_PARAMETER"])
        .await?;
    let [verify_token, app_secret]: [String; 2] = secrets
        .try_into()
        .map_err(|_| ConfigError::Invalid("secrets", "expected two values".into()))?;
    Ok(Webhook {
        verify_token,
        app_secret: app_secret.into_bytes(),
        queue: Arc::new(clients.queue(&settings.inbound_queue_url)),
        clock,
    })
}

pub fn inbound(
    clients: &Clients,
    env: Lookup<'_>,
    clock: Arc<dyn Clock>,
) -> Result<Inbound, ConfigError> {
    let settings = Settings::from_lookup(env)?;
    Ok(Inbound {
        store: Arc::new(clients.store(&settings)),
        events: Arc::new(clients.events(&settings)),
        dead_letters: Arc::new(clients.queue(&settings.inbound_dlq_url)),
        clock,
    })
}

pub fn agent_api(
    clients: &Clients,
    env: Lookup<'_>,
    clock: Arc<dyn Clock>,
) -> Result<AgentApi, ConfigError> {
    let settings = Settings::from_lookup(env)?;
    Ok(AgentApi {
        store: Arc::new(clients.store(&settings)),
        clock,
    })
}

/// The handler of a function by its binary name (`Metadata.BuildProperties.Binary`).
pub async fn build(
    binary: &str,
    clients: &Clients,
    env: Lookup<'_>,
    clock: Arc<dyn Clock>,
) -> Result<Function, ConfigError> {
    Ok(match binary {
        "webhook" => Function::Http(Arc::new(webhook(clients, env, clock).await?)),
        "inbound" => Function::Sqs(Arc::new(inbound(clients, env, clock)?)),
        "agent-api" => Function::Http(Arc::new(agent_api(clients, env, clock)?)),
        other => {
            return Err(ConfigError::Invalid(
                "binary",
                format!("no function named {other}"),
            ))
        }
    })
}
