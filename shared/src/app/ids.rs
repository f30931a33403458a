//! Ids conversa makes: ULIDs, sortable by the time passed in.

use crate::domain::Millis;

/// A new id, sortable by time.
pub fn new_id(now: Millis) -> String {
    ulid::Ulid::from_datetime(
        std::time::UNIX_EPOCH + std::time::Duration::from_millis(now.max(0) as u64),
    )
    .to_string()
}
