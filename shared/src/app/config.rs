//! Settings from the environment, and AWS clients built once per cold start.

use crate::aws::{read_secure_parameter, DynamoStore, EventBridgePublisher, SqsWorkQueue};
use crate::ports::PortError;

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
    pub retention_days: i64,
}

fn var(name: &'static str) -> Result<String, ConfigError> {
    std::env::var(name).map_err(|_| ConfigError::Missing(name))
}

impl Settings {
    pub fn from_env() -> Result<Self, ConfigError> {
        let retention_days = match std::env::var("RETENTION_DAYS") {
            Ok(v) => v
                .parse::<i64>()
                .ok()
                .filter(|d| *d > 0)
                .ok_or_else(|| ConfigError::Invalid("RETENTION_DAYS", format!("{v:?} is not a positive number of days")))?,
            Err(_) => 90,
        };
        Ok(Self {
            table_name: var("TABLE_NAME")?,
            event_bus_name: var("EVENT_BUS_NAME")?,
            inbound_queue_url: std::env::var("INBOUND_QUEUE_URL").unwrap_or_default(),
            inbound_dlq_url: std::env::var("INBOUND_DLQ_URL").unwrap_or_default(),
            retention_days,
        })
    }
}

/// The AWS clients, built once from one `SdkConfig`.
#[derive(Clone, Debug)]
pub struct Clients {
    pub dynamodb: aws_sdk_dynamodb::Client,
    pub sqs: aws_sdk_sqs::Client,
    pub eventbridge: aws_sdk_eventbridge::Client,
    pub ssm: aws_sdk_ssm::Client,
}

impl Clients {
    pub fn new(config: &aws_config::SdkConfig) -> Self {
        Self {
            dynamodb: aws_sdk_dynamodb::Client::new(config),
            sqs: aws_sdk_sqs::Client::new(config),
            eventbridge: aws_sdk_eventbridge::Client::new(config),
            ssm: aws_sdk_ssm::Client::new(config),
        }
    }

    pub async fn from_env() -> Self {
        Self::new(&aws_config::load_from_env().await)
    }

    pub fn store(&self, settings: &Settings) -> DynamoStore {
        DynamoStore::new(self.dynamodb.clone(), &settings.table_name, settings.retention_days)
    }

    pub fn events(&self, settings: &Settings) -> EventBridgePublisher {
        EventBridgePublisher::new(self.eventbridge.clone(), &settings.event_bus_name)
    }

    pub fn queue(&self, url: &str) -> SqsWorkQueue {
        SqsWorkQueue::new(self.sqs.clone(), url)
    }

    /// Reads a secret named by `{env_var}` (an SSM SecureString parameter name).
    pub async fn secret_from_env(&self, env_var: &'static str) -> Result<String, ConfigError> {
        let name = var(env_var)?;
        Ok(read_secure_parameter(&self.ssm, &name).await?)
    }
}
