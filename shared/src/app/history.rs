//! A conversation's history: every message in order (handoff and external transfer carry
//! it in their events, which keep what fits).

use crate::domain::Message;
use crate::ports::{MessageLog, PortResult};

/// Every message of a conversation, in order, page after page.
pub async fn all_messages(
    messages: &dyn MessageLog,
    conversation_id: &str,
) -> PortResult<Vec<Message>> {
    let mut all = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let page = messages
            .messages(conversation_id, cursor.as_deref(), 100)
            .await?;
        all.extend(page.items);
        match page.next_cursor {
            Some(c) => cursor = Some(c),
            None => return Ok(all),
        }
    }
}
