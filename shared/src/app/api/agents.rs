//! Agents as data (`GET /v1/agents`, `PUT /v1/agents/{sub}` for supervisors) and an
//! agent's own presence (`GET /v1/agents/me`, `PUT /v1/agents/me/status`). Ports: agents
//! (through presence for status moves), queues.

use super::request::parse_body;
use super::AgentApi;
use crate::app::auth::{valid_subject, Caller, Role};
use crate::app::http::{json, ApiError, ApiResult};
use crate::app::presence::Move;
use crate::domain::agent::{Agent, AgentStatus};
use lambda_http::{http::StatusCode, Request};
use serde::Deserialize;
use serde_json::{json, Value};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct AgentRequest {
    name: String,
    queues: Vec<String>,
    #[serde(default)]
    max_concurrent: Option<u32>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct StatusRequest {
    status: String,
}

fn field(field: &str, message: &str) -> ApiError {
    ApiError::unprocessable("invalid_field", message).with_details(json!({ "field": field }))
}

impl AgentApi {
    /// What the API shows of an agent: its record and whether it is online now.
    fn agent_view(&self, a: &Agent) -> Value {
        let now = self.clock.now();
        let mut v = json!(a);
        v["online"] = json!(a.online(now));
        v["available"] = json!(a.available(now));
        v
    }

    /// `GET /v1/agents`: every agent, for transfers and a supervisor's board.
    pub(super) async fn list_agents(&self, who: &Caller) -> ApiResult {
        if who.role == Role::Assistant {
            return Err(ApiError::forbidden("assistants do not list agents"));
        }
        let agents = self.agents.agents().await?;
        let items: Vec<Value> = agents.iter().map(|a| self.agent_view(a)).collect();
        Ok(json(StatusCode::OK, &json!({ "items": items })))
    }

    /// `GET /v1/agents/me`.
    pub(super) async fn my_agent(&self, who: &Caller) -> ApiResult {
        let agent = self
            .agents
            .agent(&who.sub)
            .await?
            .unwrap_or_else(|| Agent::new(&who.sub));
        Ok(json(StatusCode::OK, &self.agent_view(&agent)))
    }

    /// `PUT /v1/agents/me/status`: available, away or offline.
    pub(super) async fn put_my_status(&self, req: &Request, who: &Caller) -> ApiResult {
        if !matches!(who.role, Role::Agent | Role::Supervisor) {
            return Err(ApiError::forbidden(
                "only agents and supervisors have a status",
            ));
        }
        let body: StatusRequest = parse_body(req)?;
        let Some(status) = AgentStatus::parse(&body.status) else {
            return Err(field("status", "status must be available, away or offline"));
        };
        let agent = self.presence.apply(&who.sub, Move::Status(status)).await?;
        Ok(json(StatusCode::OK, &self.agent_view(&agent)))
    }

    /// `PUT /v1/agents/{sub}` (supervisors): name, queues and limit.
    pub(super) async fn put_agent(&self, req: &Request, who: &Caller, sub: &str) -> ApiResult {
        if who.role != Role::Supervisor {
            return Err(ApiError::forbidden("only supervisors register agents"));
        }
        if !valid_subject(sub) {
            return Err(ApiError::unprocessable(
                "invalid_agent",
                "an agent id is its token subject: 1 to 128 letters, digits or -_.@:+",
            ));
        }
        let body: AgentRequest = parse_body(req)?;
        let name = body.name.trim();
        if name.is_empty() || name.chars().count() > 100 {
            return Err(field("name", "name must be 1 to 100 characters"));
        }
        if body.queues.len() > 50 {
            return Err(field("queues", "at most 50 queues"));
        }
        for q in &body.queues {
            if self.queues.queue(q).await?.is_none() {
                return Err(ApiError::unprocessable(
                    "unknown_queue",
                    format!("queue {q} does not exist"),
                )
                .with_details(json!({"field": "queues"})));
            }
        }
        if body.max_concurrent.is_some_and(|n| !(1..=100).contains(&n)) {
            return Err(field(
                "max_concurrent",
                "max_concurrent must be 1 to 100 conversations",
            ));
        }
        let before = self.agents.agent(sub).await?;
        let mut queues = body.queues;
        queues.sort();
        queues.dedup();
        let mut agent = before.clone().unwrap_or_else(|| Agent::new(sub));
        agent.name = name.to_owned();
        agent.queues = queues;
        agent.max_concurrent = body.max_concurrent;
        agent.registered = true;
        self.agents.register_agent(&agent).await?;
        tracing::info!(agent = %sub, by = %who.sub, "agent saved");
        let status = if before.is_some_and(|a| a.registered) {
            StatusCode::OK
        } else {
            StatusCode::CREATED
        };
        Ok(json(status, &self.agent_view(&agent)))
    }
}
