//! The WhatsApp Cloud API: webhook payloads, their signature, and work items.

pub mod graph;
pub mod signature;
pub mod webhook;

pub use signature::{verify_signature, SignatureError};
pub use webhook::{split_payload, PayloadError, WorkItem};
