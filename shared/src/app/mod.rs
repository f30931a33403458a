//! Use cases and Lambda handlers. Handlers are plain library functions that tests call
//! directly with sample events; each function's `main.rs` only builds clients once.

pub mod api;
pub mod auth;
pub mod config;
pub mod events;
pub mod expiry;
pub mod fifo;
pub mod functions;
pub mod handoff;
pub mod http;
pub mod inbound;
pub mod outbound;
pub mod templates;
pub mod timers;
pub mod webhook;
pub mod workspace;

pub use api::AgentApi;
pub use config::Settings;
pub use inbound::Inbound;
pub use webhook::Webhook;
