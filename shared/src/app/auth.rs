//! The caller's identity. In AWS the API Gateway JWT authorizer has already checked the
//! token; its claims arrive in the request context. The body is never trusted for it.

use super::http::ApiError;
use lambda_http::{request::RequestContext, Request, RequestExt};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    Agent,
    Assistant,
    Supervisor,
    /// An integration (campaign tool, CRM) acting without a human agent.
    System,
}

impl Role {
    pub fn parse(raw: &str) -> Option<Self> {
        match raw {
            "agent" => Some(Self::Agent),
            "assistant" => Some(Self::Assistant),
            "supervisor" => Some(Self::Supervisor),
            "system" => Some(Self::System),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Caller {
    pub sub: String,
    pub role: Role,
    pub queues: Vec<String>,
}

/// An agent id is a token subject: 1 to 128 letters, digits and `-_.@:+` (Cognito's
/// UUIDs, emails, `agent-1`), starting with a letter or digit. Until agents are records
/// of their own, a transfer names an agent of this shape.
pub fn valid_subject(sub: &str) -> bool {
    (1..=128).contains(&sub.len())
        && sub
            .bytes()
            .next()
            .is_some_and(|b| b.is_ascii_alphanumeric())
        && sub
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_.@:+".contains(&b))
}

/// Claims as API Gateway HTTP APIs pass them: every value a string, arrays flattened
/// to `[a b]` (or JSON when the issuer sent a JSON string).
pub fn parse_list_claim(raw: &str) -> Vec<String> {
    if let Ok(list) = serde_json::from_str::<Vec<String>>(raw) {
        return list;
    }
    raw.trim()
        .trim_start_matches('[')
        .trim_end_matches(']')
        .split(|c: char| c == ',' || c.is_whitespace())
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect()
}

pub fn caller(req: &Request) -> Result<Caller, ApiError> {
    let claims = match req.request_context_ref() {
        Some(RequestContext::ApiGatewayV2(ctx)) => ctx
            .authorizer
            .as_ref()
            .and_then(|a| a.jwt.as_ref())
            .map(|j| &j.claims),
        _ => None,
    }
    .ok_or_else(|| ApiError::unauthorized("a valid bearer token is required"))?;
    caller_of_claims(claims)
}

/// The caller a token's claims name (`sub`, `role`, `queues`).
pub fn caller_of_claims(
    claims: &std::collections::HashMap<String, String>,
) -> Result<Caller, ApiError> {
    let sub = claims
        .get("sub")
        .filter(|s| !s.is_empty())
        .ok_or_else(|| ApiError::unauthorized("the token has no subject (sub)"))?;
    let role = claims
        .get("role")
        .and_then(|r| Role::parse(r))
        .ok_or_else(|| {
            ApiError::forbidden("the token's role must be agent, assistant or supervisor")
        })?;
    Ok(Caller {
        sub: sub.clone(),
        role,
        queues: claims
            .get("queues")
            .map(|q| parse_list_claim(q))
            .unwrap_or_default(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn list_claims_are_read_in_both_shapes() {
        assert_eq!(
            parse_list_claim("[support sales]"),
            vec!["support", "sales"]
        );
        assert_eq!(
            parse_list_claim(r#"["support","sales"]"#),
            vec!["support", "sales"]
        );
        assert!(parse_list_claim("[]").is_empty());
    }
}
