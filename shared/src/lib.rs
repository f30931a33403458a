//! conversa: the library every Lambda function links.
//!
//! - [`domain`]: pure rules (states, window, statuses). No I/O, no clock reads.
//! - [`ports`]: the small traits use cases need.
//! - [`aws`]: adapters on the AWS SDK.
//! - [`provider`]: the WhatsApp Cloud API (webhook payloads, signature).
//! - [`app`]: use cases and Lambda handlers, wiring domain decisions to ports.
//! - [`tls`]: the trusted roots of the TLS clients (a leaf both adapters use).

pub mod app;
pub mod aws;
pub mod domain;
pub mod ports;
pub mod provider;
pub mod tls;

#[cfg(test)]
mod architecture;
