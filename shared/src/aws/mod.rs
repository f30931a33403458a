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

/// The SDK clients' HTTP client: hyper with rustls on ring, the same TLS and crypto stack
/// as the Graph API client (`reqwest`), so a binary carries one of each. Build it once
/// per cold start; the clients share its connection pool.
pub fn http_client() -> aws_sdk_dynamodb::config::SharedHttpClient {
    use aws_smithy_http_client::tls::{rustls_provider::CryptoMode, Provider};
    install_tls_provider();
    aws_smithy_http_client::Builder::new()
        .tls_provider(Provider::Rustls(CryptoMode::Ring))
        .build_https()
}

/// Makes ring the process's rustls provider, which `reqwest` (built without a provider of
/// its own) uses. Idempotent; every constructor of an HTTP client calls it first.
pub fn install_tls_provider() {
    // Err only means a provider is already installed.
    let _ = rustls::crypto::ring::default_provider().install_default();
}

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
