//! [`PushChannel`] on the WebSocket API's management endpoint (`PostToConnection`).

use crate::ports::{PortResult, PushChannel, PushOutcome};
use async_trait::async_trait;
use aws_sdk_apigatewaymanagement::{primitives::Blob, Client};

pub struct ApiGatewayPush {
    client: Client,
}

impl ApiGatewayPush {
    /// `config` (the function's SDK configuration) at `endpoint`:
    /// `https://{api-id}.execute-api.{region}.amazonaws.com/{stage}`. A post gives up after
    /// two seconds: a slow connection costs one failed post, never the bus.
    pub fn new(config: aws_sdk_apigatewaymanagement::config::Builder, endpoint: &str) -> Self {
        let conf = config
            .endpoint_url(endpoint)
            .timeout_config(
                aws_config::timeout::TimeoutConfig::builder()
                    .operation_timeout(std::time::Duration::from_secs(2))
                    .build(),
            )
            .retry_config(aws_config::retry::RetryConfig::disabled())
            .build();
        Self {
            client: Client::from_conf(conf),
        }
    }
}

#[async_trait]
impl PushChannel for ApiGatewayPush {
    async fn push(&self, connection_id: &str, payload: &[u8]) -> PortResult<PushOutcome> {
        match self
            .client
            .post_to_connection()
            .connection_id(connection_id)
            .data(Blob::new(payload))
            .send()
            .await
        {
            Ok(_) => Ok(PushOutcome::Delivered),
            Err(e) if e.as_service_error().is_some_and(|s| s.is_gone_exception()) => {
                Ok(PushOutcome::Gone)
            }
            Err(e) => Err(crate::aws::sdk_error("apigatewaymanagement", e)),
        }
    }
}
