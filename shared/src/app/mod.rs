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

/// Every message of a conversation, in order, page after page.
pub(crate) async fn all_messages(
    store: &dyn crate::ports::ConversationStore,
    conversation_id: &str,
) -> crate::ports::PortResult<Vec<crate::domain::Message>> {
    let mut all = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let page = store
            .messages(conversation_id, cursor.as_deref(), 100)
            .await?;
        all.extend(page.items);
        match page.next_cursor {
            Some(c) => cursor = Some(c),
            None => return Ok(all),
        }
    }
}
