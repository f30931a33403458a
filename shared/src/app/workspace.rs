//! The agent workspace routes: queue lists, capture, transfer, hold, archive, close,
//! remove (Voitel Lynk and CITSmart manuals).

use super::api::{parse_body, AgentApi};
use super::auth::{Caller, Role};
use super::events;
use super::http::{json, ApiError, ApiResult};
use crate::domain::{
    workspace::{self, WorkspaceError},
    Channel, Conversation, Message,
};
use crate::ports::{AgentList, ListFilter, QueueList, WriteOutcome};
use lambda_http::{http::StatusCode, Request, RequestExt};
use serde::Deserialize;
use serde_json::json;

const MAX_ATTEMPTS: usize = 5;
/// EventBridge takes events up to 256 KB; the transferred history stays below this.
const MAX_HISTORY_BYTES: usize = 200 * 1024;

pub(crate) fn workspace_error(e: WorkspaceError) -> ApiError {
    let code = match &e {
        WorkspaceError::Closed => "conversation_closed",
        WorkspaceError::AlreadyCaptured { .. } => "already_captured",
        WorkspaceError::NotWaiting { .. } => "not_waiting",
        WorkspaceError::NotAssigned { .. } => "not_assigned",
        WorkspaceError::NotOnHold => "not_on_hold",
        WorkspaceError::AlreadyArchived => "already_archived",
        WorkspaceError::NotArchived => "not_archived",
        WorkspaceError::SameTarget { .. } => "same_target",
    };
    let err = ApiError::conflict(code, e.to_string());
    match e {
        WorkspaceError::AlreadyCaptured { agent } => err.with_details(json!({ "agent": agent })),
        _ => err,
    }
}

/// Can this caller act on this conversation at all (403 otherwise)?
pub(crate) fn authorize(who: &Caller, c: &Conversation) -> Result<(), ApiError> {
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
pub(crate) fn owner_only(who: &Caller, c: &Conversation) -> Result<(), ApiError> {
    if who.role == Role::Supervisor {
        return Ok(());
    }
    match workspace::owner_other_than(c, &who.sub) {
        Some(agent) => Err(workspace_error(WorkspaceError::AlreadyCaptured { agent })),
        None => Ok(()),
    }
}

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

enum Target {
    Agent(String),
    Queue(String),
    External(String),
}

fn list_filter(req: &Request) -> ListFilter {
    let params = req.query_string_parameters();
    ListFilter {
        channel: params.first("channel").map(str::to_owned),
        contact: params.first("contact").map(str::to_owned),
    }
}

impl AgentApi {
    /// Reads, decides and writes conditionally on the version read, again on conflict.
    async fn operate<F>(
        &self,
        who: &Caller,
        id: &str,
        owner_rule: bool,
        op: F,
    ) -> Result<(Conversation, Conversation), ApiError>
    where
        F: Fn(&Conversation, &Channel, i64) -> Result<Conversation, WorkspaceError>,
    {
        for _ in 0..MAX_ATTEMPTS {
            let now = self.clock.now();
            let before = self.conversation(id).await?;
            authorize(who, &before)?;
            if owner_rule {
                owner_only(who, &before)?;
            }
            let channel = self.channel(&before.channel).await?;
            let after = op(&before, &channel, now).map_err(workspace_error)?;
            match self
                .store
                .update_conversation(&after, before.version)
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

    /// Events go out after the commit; a failure after the SDK's retries is logged with
    /// the event so it can be replayed (the state change stands).
    pub(crate) async fn announce(&self, events: &[crate::ports::DomainEvent]) {
        if let Err(e) = self.events.publish(events).await {
            for ev in events {
                tracing::error!(error = %e, detail_type = ev.detail_type, event_id = %ev.detail["event_id"], "event not published");
            }
        }
    }

    pub(crate) async fn capture(&self, who: &Caller, id: &str) -> ApiResult {
        let agent = who.sub.clone();
        let result = self
            .operate(who, id, false, |c, ch, now| {
                workspace::capture(c, &agent, ch, now)
            })
            .await;
        match result {
            Ok((_, after)) => {
                tracing::info!(conversation_id = %after.id, agent = %who.sub, "conversation captured");
                self.announce(&[events::conversation_assigned(&after, &who.sub, "capture")])
                    .await;
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

    pub(crate) async fn transfer(&self, req: &Request, who: &Caller, id: &str) -> ApiResult {
        let body: TransferRequest = parse_body(req)?;
        let nonempty = |v: Option<String>| v.map(|s| s.trim().to_owned()).filter(|s| !s.is_empty());
        let target = match (
            nonempty(body.agent),
            nonempty(body.queue),
            nonempty(body.external),
        ) {
            (Some(a), None, None) if a.len() <= 256 => Target::Agent(a),
            (None, Some(q), None) => Target::Queue(q),
            (None, None, Some(x)) if x.len() <= 256 => Target::External(x),
            _ => {
                return Err(ApiError::unprocessable(
                    "invalid_body",
                    "give exactly one of \"agent\", \"queue\" or \"external\"",
                ))
            }
        };
        if let Target::Queue(q) = &target {
            if !super::http::valid_id(q) || self.store.queue(q).await?.is_none() {
                return Err(ApiError::unprocessable(
                    "unknown_queue",
                    format!("queue {q} does not exist"),
                ));
            }
        }
        let (before, after) = self
            .operate(who, id, true, |c, ch, now| match &target {
                Target::Agent(a) => workspace::transfer_to_agent(c, a, ch, now),
                Target::Queue(q) => workspace::transfer_to_queue(c, q, ch, now),
                Target::External(_) => workspace::transfer_external(c, now),
            })
            .await?;
        let (to, history) = match &target {
            Target::Agent(a) => (json!({ "agent": a }), None),
            Target::Queue(q) => (json!({ "queue": q }), None),
            Target::External(x) => (
                json!({ "external": x }),
                Some(self.history(&after.id).await?),
            ),
        };
        tracing::info!(conversation_id = %after.id, by = %who.sub, "conversation transferred");
        let mut out = vec![events::conversation_transferred(
            &before,
            &after,
            to,
            &who.sub,
            history
                .as_ref()
                .map(|(m, complete)| (m.as_slice(), *complete)),
        )];
        match &target {
            Target::Agent(_) => {
                out.push(events::conversation_assigned(&after, &who.sub, "transfer"))
            }
            Target::External(_) => out.push(events::conversation_closed(&after, &who.sub)),
            Target::Queue(_) => {}
        }
        self.announce(&out).await;
        Ok(json(StatusCode::OK, &after))
    }

    /// Every message since the conversation opened, as much as fits an event.
    pub(crate) async fn history(&self, id: &str) -> Result<(Vec<Message>, bool), ApiError> {
        let all = super::all_messages(self.store.as_ref(), id).await?;
        let mut size = 0;
        let mut kept = Vec::new();
        // Keep the most recent messages when the whole history does not fit.
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

    pub(crate) async fn simple(
        &self,
        who: &Caller,
        id: &str,
        operation: &'static str,
    ) -> ApiResult {
        let (_, after) = self
            .operate(who, id, true, |c, _, now| match operation {
                "hold" => workspace::hold(c, now),
                "resume" => workspace::resume(c, now),
                "archive" => workspace::archive(c, now),
                _ => workspace::unarchive(c, now),
            })
            .await?;
        tracing::info!(conversation_id = %after.id, operation, by = %who.sub, "conversation updated");
        self.announce(&[events::conversation_updated(&after, operation, &who.sub)])
            .await;
        Ok(json(StatusCode::OK, &after))
    }

    pub(crate) async fn remove(&self, who: &Caller, id: &str) -> ApiResult {
        let c = self.conversation(id).await?;
        authorize(who, &c)?;
        owner_only(who, &c)?;
        if self.store.remove_conversation(&c).await? != WriteOutcome::Committed {
            return Err(ApiError::conflict(
                "concurrent_update",
                "the conversation changed meanwhile; retry",
            ));
        }
        tracing::info!(conversation_id = %c.id, by = %who.sub, "conversation removed");
        self.announce(&[events::conversation_removed(&c, &who.sub)])
            .await;
        Ok(json(StatusCode::OK, &json!({"removed": c.id})))
    }

    pub(crate) async fn queue_list(&self, req: &Request, who: &Caller, queue: &str) -> ApiResult {
        if who.role != Role::Supervisor && !who.queues.iter().any(|q| q == queue) {
            return Err(ApiError::forbidden(format!(
                "you are not in queue {queue:.64}"
            )));
        }
        if !super::http::valid_id(queue) || self.store.queue(queue).await?.is_none() {
            return Err(ApiError::not_found(format!("queue {queue} does not exist")));
        }
        let params = req.query_string_parameters();
        let list = match params.first("state").unwrap_or("queued") {
            "queued" => QueueList::Waiting,
            "in_progress" => QueueList::InProgress,
            other => {
                return Err(ApiError::unprocessable(
                    "invalid_state",
                    format!("state must be queued or in_progress, got {other:?}"),
                ))
            }
        };
        let limit = super::api::page_limit(params.first("limit"))?;
        let page = self
            .store
            .queue_conversations(
                queue,
                list,
                &list_filter(req),
                params.first("cursor"),
                limit,
            )
            .await
            .map_err(super::api::cursor_or_backend)?;
        let now = self.clock.now();
        let items: Vec<serde_json::Value> = page
            .items
            .iter()
            .map(|c| {
                let mut v = json!(c);
                if list == QueueList::Waiting {
                    v["wait_seconds"] =
                        json!((now - c.queued_at.unwrap_or(c.opened_at)).max(0) / 1000);
                }
                v
            })
            .collect();
        Ok(json(
            StatusCode::OK,
            &json!({"items": items, "next_cursor": page.next_cursor}),
        ))
    }

    pub(crate) async fn my_list(&self, req: &Request, who: &Caller) -> ApiResult {
        let params = req.query_string_parameters();
        let list = match params.first("archived") {
            None | Some("false") => AgentList::Active,
            Some("true") => AgentList::Archived,
            Some(other) => {
                return Err(ApiError::unprocessable(
                    "invalid_parameter",
                    format!("archived must be true or false, got {other:?}"),
                ))
            }
        };
        let limit = super::api::page_limit(params.first("limit"))?;
        let page = self
            .store
            .agent_conversations(
                &who.sub,
                list,
                &list_filter(req),
                params.first("cursor"),
                limit,
            )
            .await
            .map_err(super::api::cursor_or_backend)?;
        Ok(json(StatusCode::OK, &page))
    }
}
