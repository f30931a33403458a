//! Domain refusals as API errors: one machine-readable `code` per refusal.

use crate::app::http::ApiError;
use crate::domain::{conversation::SendError, template::TemplateError, workspace::WorkspaceError};
use serde_json::json;

pub fn template_error(e: TemplateError) -> ApiError {
    let code = match e {
        TemplateError::NotApproved { .. } => "template_not_approved",
        TemplateError::Missing { .. } => "template_parameter_missing",
        TemplateError::Extra { .. } => "template_parameter_extra",
        TemplateError::Empty { .. } => "template_parameter_empty",
    };
    ApiError::unprocessable(code, e.to_string())
}

pub fn send_error(e: SendError) -> ApiError {
    match e {
        SendError::Closed => ApiError::conflict("conversation_closed", e.to_string()),
        SendError::AwaitingReply => ApiError::conflict("awaiting_reply", e.to_string()),
        SendError::WindowClosed { closes_at } => ApiError::conflict("window_closed", e.to_string())
            .with_details(json!({
                "closes_at": closes_at,
                "hint": "send an approved template: POST /v1/conversations/{id}/messages with {\"template\": {...}}"
            })),
    }
}

pub fn workspace_error(e: WorkspaceError) -> ApiError {
    let code = match &e {
        WorkspaceError::Closed => "conversation_closed",
        WorkspaceError::AlreadyCaptured { .. } => "already_captured",
        WorkspaceError::NotWaiting { .. } => "not_waiting",
        WorkspaceError::NotAssigned { .. } => "not_assigned",
        WorkspaceError::NotOnHold => "not_on_hold",
        WorkspaceError::AlreadyArchived => "already_archived",
        WorkspaceError::NotArchived => "not_archived",
        WorkspaceError::SameTarget { .. } => "same_target",
        WorkspaceError::AwaitingReply => "awaiting_reply",
    };
    let err = ApiError::conflict(code, e.to_string());
    match e {
        WorkspaceError::AlreadyCaptured { agent } => err.with_details(json!({ "agent": agent })),
        _ => err,
    }
}
