//! Who may act on a conversation: agents in its queue or its owner, supervisors,
//! the assistant while it has it.

use super::errors::workspace_error;
use crate::app::auth::{Caller, Role};
use crate::app::http::ApiError;
use crate::domain::{
    workspace::{self, WorkspaceError},
    Conversation,
};

/// Can this caller act on this conversation at all (403 otherwise)?
pub fn authorize(who: &Caller, c: &Conversation) -> Result<(), ApiError> {
    if workspace::may_act(
        who.role == Role::Supervisor,
        who.role == Role::Assistant,
        &who.sub,
        &who.queues,
        c,
    ) {
        Ok(())
    } else {
        Err(ApiError::forbidden(format!(
            "conversation {} is not in your queues nor assigned to you",
            c.id
        )))
    }
}

/// Once captured, only its agent (or a supervisor) works a conversation.
pub fn owner_only(who: &Caller, c: &Conversation) -> Result<(), ApiError> {
    if who.role == Role::Supervisor {
        return Ok(());
    }
    match workspace::owner_other_than(c, &who.sub) {
        Some(agent) => Err(workspace_error(WorkspaceError::AlreadyCaptured { agent })),
        None => Ok(()),
    }
}
