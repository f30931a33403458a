//! The WhatsApp Cloud API (webhook payloads, their signature, and work items) and AWS End
//! User Messaging SMS's notifications, read into the same work items.

pub mod graph;
pub mod signature;
pub mod sms;
pub mod webhook;

pub use signature::{verify_signature, SignatureError};
pub use webhook::{split_payload, PayloadError, WorkItem};
