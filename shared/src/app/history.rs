//! A conversation's history: every message in order, and the part of it that fits an
//! event (handoff and external transfer carry it).

use crate::domain::Message;
use crate::ports::{MessageLog, PortResult};

/// EventBridge takes events up to 256 KB; a history carried in one stays below this.
const MAX_HISTORY_BYTES: usize = 200 * 1024;

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

/// Every message since the conversation opened, as much as fits an event, and whether
/// that is all of it. When the whole history does not fit, the most recent messages stay.
pub async fn for_event(
    messages: &dyn MessageLog,
    conversation_id: &str,
) -> PortResult<(Vec<Message>, bool)> {
    let all = all_messages(messages, conversation_id).await?;
    let mut size = 0;
    let mut kept = Vec::new();
    for m in all.iter().rev() {
        size += serde_json::to_string(m).map(|s| s.len()).unwrap_or(0);
        if size > MAX_HISTORY_BYTES {
            break;
        }
        kept.push(m.clone());
    }
    kept.reverse();
    let complete = kept.len() == all.len();
    Ok((kept, complete))
}
