//! Adapters on the AWS SDK, one per port.

pub mod events;
pub mod jwks;
pub mod push;
pub mod queue;
pub mod secrets;
pub mod sms;
pub mod store;
pub mod timers;
pub mod xray;

pub use events::EventBridgePublisher;
pub use queue::SqsWorkQueue;
pub use secrets::{read_secure_parameters, SsmSecrets};
pub use sms::AwsSms;
pub use store::DynamoStore;

use crate::ports::PortError;
use std::fmt::Debug;

/// The SDK clients' HTTP client: hyper with rustls on ring, the same TLS and crypto stack
/// as the Graph API client (`reqwest`), so a binary carries one of each. Build it once
/// per cold start; the clients share its connection pool.
/// Its roots are the system's CA bundle file ([`crate::tls`]).
pub fn http_client() -> aws_sdk_dynamodb::config::SharedHttpClient {
    use aws_smithy_http_client::tls::{
        rustls_provider::CryptoMode, Provider, TlsContext, TrustStore,
    };
    install_tls_provider();
    let builder =
        aws_smithy_http_client::Builder::new().tls_provider(Provider::Rustls(CryptoMode::Ring));
    let context = crate::tls::ca_bundle().and_then(|pem| {
        TlsContext::builder()
            .with_trust_store(TrustStore::empty().with_pem_certificate(pem))
            .build()
            .ok()
    });
    match context {
        Some(context) => builder.tls_context(context).build_https(),
        None => builder.build_https(),
    }
}

/// Makes ring the process's rustls provider ([`crate::tls::install_ring_provider`]).
pub fn install_tls_provider() {
    crate::tls::install_ring_provider();
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
