//! Who may see and act on a conversation: supervisors; its owner once captured, else
//! the agents of its queue; the assistant it was routed to.

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
            "conversation {} is not yours nor waiting in your queues",
            c.id
        )))
    }
}

/// Capture: supervisors, and the agents of the conversation's queue (the loser of a
/// race then hears 409 `already_captured`); never an assistant.
pub fn authorize_capture(who: &Caller, c: &Conversation) -> Result<(), ApiError> {
    if who.role == Role::Assistant {
        return Err(ApiError::forbidden(
            "assistants hand conversations off; agents capture them",
        ));
    }
    if workspace::may_capture(who.role == Role::Supervisor, &who.sub, &who.queues, c) {
        Ok(())
    } else {
        Err(ApiError::forbidden(format!(
            "conversation {} is not waiting in your queues",
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

/// Answering: the assistant in its conversations; an agent where it could capture (the
/// first reply captures in `first_reply` queues, and a colleague who lost the race
/// hears 409 `already_captured` from [`owner_only`]).
pub fn authorize_reply(who: &Caller, c: &Conversation) -> Result<(), ApiError> {
    if who.role == Role::Assistant {
        return authorize(who, c);
    }
    authorize_capture(who, c).or_else(|_| authorize(who, c))
}
