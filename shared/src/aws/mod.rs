//! Adapters on the AWS SDK, one per port.

pub mod events;
pub mod jwks;
pub mod push;
pub mod queue;
pub mod secrets;
pub mod store;
pub mod timers;

pub use events::EventBridgePublisher;
pub use queue::SqsWorkQueue;
pub use secrets::{read_secure_parameters, SsmSecrets};
pub use store::DynamoStore;

use crate::ports::PortError;
use std::fmt::Debug;

/// Folds an SDK error into a port error with the service's own message.
pub(crate) fn sdk_error<E, R>(
    service: &'static str,
    err: aws_sdk_dynamodb::error::SdkError<E, R>,
) -> PortError
where
    E: std::error::Error + Send + Sync + 'static,
    R: Debug,
{
    PortError::new(service, aws_sdk_dynamodb::error::DisplayErrorContext(err))
}
