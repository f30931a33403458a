//! The agent workspace actions on one conversation (Voitel Lynk and CITSmart manuals):
//! capture, transfer, hold, resume, archive, unarchive, close and remove. Each reads,
//! decides in [`crate::domain::workspace`] and writes conditionally on the version read.
//! Ports: conversations, queues, message log (history), closer.

use super::access::{authorize, authorize_capture, owner_only};
use super::errors::workspace_error;
use super::request::{field_error, parse_body, MAX_ATTEMPTS};
use super::AgentApi;
use crate::app::auth::{valid_subject, Caller, Role};
use crate::app::events;
use crate::app::history;
use crate::app::http::{json, ApiError, ApiResult};
use crate::app::outbound_item::ReadReceipt;
use crate::domain::{
    conversation::CloseReason,
    workspace::{self, WorkspaceError},
    Channel, Conversation,
};
use crate::ports::{DomainEvent, Effects, WriteOutcome};
use lambda_http::{http::StatusCode, Request};
use serde::Deserialize;
use serde_json::json;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct TransferRequest {
    #[serde(default)]
    agent: Option<String>,
    #[serde(default)]
    queue: Option<String>,
    #[serde(default)]
    external: Option<String>,
}

/// What an operation asks of the caller.
#[derive(Clone, Copy)]
pub(super) enum Access {
    /// The queue is enough (capture).
    Capture,
    /// See the conversation, and own it once captured.
    Work,
}

enum Target {
    Agent(String),
    Queue(String),
    External(String),
}

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct CloseRequest {
    #[serde(default)]
    reason: Option<String>,
}

impl AgentApi {
    /// Reads, decides and writes conditionally on the version read, again on conflict;
    /// the events of the change commit with it.
    pub(super) async fn operate<F, E>(
        &self,
        who: &Caller,
        id: &str,
        access: Access,
        op: F,
        events_of: E,
    ) -> Result<(Conversation, Conversation), ApiError>
    where
        F: Fn(&Conversation, &Channel, i64) -> Result<Conversation, WorkspaceError>,
        E: Fn(&Conversation, &Conversation) -> Vec<DomainEvent>,
    {
        for _ in 0..MAX_ATTEMPTS {
            let now = self.clock.now();
            let before = self.conversation(id).await?;
            match access {
                Access::Capture => authorize_capture(who, &before)?,
                Access::Work => {
                    authorize(who, &before)?;
                    owner_only(who, &before)?;
                }
            }
            let channel = self.channel(&before.channel).await?;
            let after = op(&before, &channel, now).map_err(workspace_error)?;
            let effects = Effects::events(events_of(&before, &after));
            match self
                .conversations
                .update_conversation(&after, before.version, &effects)
                .await?
            {
                WriteOutcome::Committed => return Ok((before, after)),
                WriteOutcome::Conflict | WriteOutcome::Duplicate(_) => continue,
            }
        }
        Err(ApiError::conflict(
            "concurrent_update",
            "the conversation changed meanwhile; retry",
        ))
    }

    pub(super) async fn capture(&self, who: &Caller, id: &str) -> ApiResult {
        let agent = who.sub.clone();
        let result = self
            .operate(
                who,
                id,
                Access::Capture,
                |c, ch, now| workspace::capture(c, &agent, ch, now),
                |_, after| vec![events::conversation_assigned(after, &who.sub, "capture")],
            )
            .await;
        match result {
            Ok((_, after)) => {
                tracing::info!(conversation_id = %after.id, agent = %who.sub, "conversation captured");
                Ok(json(StatusCode::OK, &after))
            }
            // The same agent retrying its own capture gets the conversation again.
            Err(e)
                if e.code == "already_captured"
                    && e.details
                        .as_ref()
                        .is_some_and(|d| d["agent"] == who.sub.as_str()) =>
            {
                let c = self.conversation(id).await?;
                Ok(json(StatusCode::OK, &c))
            }
            Err(e) => Err(e),
        }
    }

    pub(super) async fn transfer(&self, req: &Request, who: &Caller, id: &str) -> ApiResult {
        let body: TransferRequest = parse_body(req)?;
        let nonempty = |v: Option<String>| v.map(|s| s.trim().to_owned()).filter(|s| !s.is_empty());
        let target = match (
            nonempty(body.agent),
            nonempty(body.queue),
            nonempty(body.external),
        ) {
            (Some(a), None, None) if valid_subject(&a) => Target::Agent(a),
            (Some(_), None, None) => {
                return Err(field_error(
                    "invalid_agent",
                    "agent",
                    "agent must be an agent's id (its token subject): 1 to 128 letters, digits or -_.@:+",
                ))
            }
            (None, Some(q), None) => Target::Queue(q),
            (None, None, Some(x)) if x.chars().count() <= 256 => Target::External(x),
            (None, None, Some(_)) => {
                return Err(field_error(
                    "invalid_field",
                    "external",
                    "external must be at most 256 characters",
                ))
            }
            _ => {
                return Err(ApiError::unprocessable(
                    "invalid_body",
                    "give exactly one of \"agent\", \"queue\" or \"external\"",
                ))
            }
        };
        if let Target::Agent(a) = &target {
            if self.agents.agent(a).await?.is_none() {
                return Err(ApiError::unprocessable(
                    "unknown_agent",
                    format!("agent {a} is not known: a supervisor registers it (PUT /v1/agents/{{sub}}), or it signs in once"),
                )
                .with_details(json!({"field": "agent"})));
            }
        }
        if let Target::Queue(q) = &target {
            if !crate::app::http::valid_id(q) || self.queues.queue(q).await?.is_none() {
                return Err(ApiError::unprocessable(
                    "unknown_queue",
                    format!("queue {q} does not exist"),
                ));
            }
        }
        // An external platform gets the history with the transfer.
        let history = match &target {
            Target::External(_) => Some(history::all_messages(self.messages.as_ref(), id).await?),
            _ => None,
        };
        let to = match &target {
            Target::Agent(a) => json!({ "agent": a }),
            Target::Queue(q) => json!({ "queue": q }),
            Target::External(x) => json!({ "external": x }),
        };
        let (_, after) = self
            .operate(
                who,
                id,
                Access::Work,
                |c, ch, now| match &target {
                    Target::Agent(a) => workspace::transfer_to_agent(c, a, ch, now),
                    Target::Queue(q) => workspace::transfer_to_queue(c, q, ch, now),
                    Target::External(_) => workspace::transfer_external(c, now),
                },
                |before, after| {
                    let mut out = vec![events::conversation_transferred(
                        before,
                        after,
                        to.clone(),
                        &who.sub,
                        history.as_deref(),
                    )];
                    match &target {
                        Target::Agent(_) => {
                            out.push(events::conversation_assigned(after, &who.sub, "transfer"))
                        }
                        Target::External(_) => {
                            out.push(events::conversation_closed(after, &who.sub))
                        }
                        Target::Queue(_) => {}
                    }
                    out
                },
            )
            .await?;
        tracing::info!(conversation_id = %after.id, by = %who.sub, "conversation transferred");
        Ok(json(StatusCode::OK, &after))
    }

    pub(super) async fn simple(
        &self,
        who: &Caller,
        id: &str,
        operation: &'static str,
    ) -> ApiResult {
        let (_, after) = self
            .operate(
                who,
                id,
                Access::Work,
                |c, _, now| match operation {
                    "hold" => workspace::hold(c, now),
                    "resume" => workspace::resume(c, now),
                    "archive" => workspace::archive(c, now),
                    _ => workspace::unarchive(c, now),
                },
                |_, after| vec![events::conversation_updated(after, operation, &who.sub)],
            )
            .await?;
        tracing::info!(conversation_id = %after.id, operation, by = %who.sub, "conversation updated");
        Ok(json(StatusCode::OK, &after))
    }

    /// `POST /v1/conversations/{id}/close`: `agent_closed`, or `user_closed` when the
    /// assistant closes on the contact's behalf.
    pub(super) async fn close(&self, req: &Request, who: &Caller, id: &str) -> ApiResult {
        let body: CloseRequest = if req.body().as_ref().iter().all(u8::is_ascii_whitespace) {
            CloseRequest::default()
        } else {
            parse_body(req)?
        };
        let reason = match (body.reason.as_deref(), who.role) {
            (Some("agent_closed"), _) => CloseReason::AgentClosed,
            (Some("user_closed"), _) => CloseReason::UserClosed,
            (None, Role::Assistant) => CloseReason::UserClosed,
            (None, _) => CloseReason::AgentClosed,
            (Some(other), _) => {
                return Err(ApiError::unprocessable(
                    "invalid_reason",
                    format!("reason must be agent_closed or user_closed, got {other:?}"),
                ))
            }
        };
        for _ in 0..MAX_ATTEMPTS {
            let now = self.clock.now();
            let c = self.conversation(id).await?;
            authorize(who, &c)?;
            owner_only(who, &c)?;
            match self.closer.hand_back(&c, reason, &who.sub, now).await? {
                Some((back, WriteOutcome::Committed)) => return Ok(json(StatusCode::OK, &back)),
                Some(_) => continue,
                None => {}
            }
            let closed = workspace::close(&c, reason, now).map_err(workspace_error)?;
            let effects = Effects::events([events::conversation_closed(&closed, &who.sub)]);
            if let WriteOutcome::Committed = self.closer.close(&c, &closed, effects, now).await? {
                tracing::info!(conversation_id = %closed.id, reason = ?reason, by = %who.sub, "conversation closed");
                return Ok(json(StatusCode::OK, &closed));
            }
        }
        Err(ApiError::conflict(
            "concurrent_update",
            "the conversation changed meanwhile; retry",
        ))
    }

    /// `POST /v1/conversations/{id}/read`: clears the unread marker and, inside the
    /// window, marks the contact's last message read on WhatsApp. Already read: nothing
    /// changes (idempotent).
    pub(super) async fn mark_read(&self, who: &Caller, id: &str) -> ApiResult {
        for _ in 0..MAX_ATTEMPTS {
            let now = self.clock.now();
            let c = self.conversation(id).await?;
            authorize(who, &c)?;
            owner_only(who, &c)?;
            // The marker is the owner's: someone else reading (a supervisor) keeps it.
            let owner_elsewhere = c.agent.as_deref().is_some_and(|a| a != who.sub);
            if c.unread_count == 0 || owner_elsewhere {
                return Ok(json(StatusCode::OK, &c));
            }
            let mut next = c.clone();
            next.unread_count = 0;
            next.updated_at = now;
            next.version += 1;
            let window_open = self
                .contacts
                .contact(&c.channel, &c.contact)
                .await?
                .is_some_and(|r| r.window(now).open);
            let mut effects =
                Effects::events([events::conversation_updated(&next, "read", &who.sub)]);
            if let (true, true, Some(wamid)) =
                (window_open, c.state.is_open(), c.last_inbound_id.as_deref())
            {
                let receipt = ReadReceipt::new(&c.channel, &c.id, wamid)
                    .queued()
                    .map_err(|e| ApiError::internal(e.to_string()))?;
                effects.sends.push(receipt);
            }
            match self
                .conversations
                .update_conversation(&next, c.version, &effects)
                .await?
            {
                WriteOutcome::Committed => {
                    tracing::info!(conversation_id = %next.id, by = %who.sub, receipt = !effects.sends.is_empty(), "conversation read");
                    return Ok(json(StatusCode::OK, &next));
                }
                WriteOutcome::Conflict | WriteOutcome::Duplicate(_) => continue,
            }
        }
        Err(ApiError::conflict(
            "concurrent_update",
            "the conversation changed meanwhile; retry",
        ))
    }

    /// `DELETE /v1/conversations/{id}`: a supervisor's act, or the owner's for their own
    /// closed conversation (Voitel Lynk "remover"); `conversation.removed` names who.
    pub(super) async fn remove(&self, who: &Caller, id: &str) -> ApiResult {
        let c = self.conversation(id).await?;
        authorize(who, &c)?;
        let owner_of_closed = !c.state.is_open() && c.agent.as_deref() == Some(who.sub.as_str());
        if who.role != Role::Supervisor && !(who.role == Role::Agent && owner_of_closed) {
            return Err(ApiError::forbidden(
                "removing is a supervisor's act; an agent removes only its own closed conversations",
            ));
        }
        if workspace::awaiting_reply(&c) {
            return Err(workspace_error(WorkspaceError::AwaitingReply));
        }
        let effects = Effects::events([events::conversation_removed(&c, &who.sub)]);
        if self.conversations.remove_conversation(&c, &effects).await? != WriteOutcome::Committed {
            return Err(ApiError::conflict(
                "concurrent_update",
                "the conversation changed meanwhile; retry",
            ));
        }
        tracing::info!(conversation_id = %c.id, by = %who.sub, "conversation removed");
        Ok(json(StatusCode::OK, &json!({"removed": c.id})))
    }
}
