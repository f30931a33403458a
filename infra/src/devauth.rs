//! Development tokens: `POST /_dev/token` issues an HS256 JWT, and the local stack checks
//! it the way API Gateway's JWT authorizer would (issuer, audience, expiry), then passes
//! the claims to the function in the request context, as strings.

use jsonwebtoken::{decode, encode, Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;

/// Not a secret: development tokens are only accepted by the local stack.
const DEV_SIGNING_KEY: &[u8] = b"conversa-local-development-only";
pub const DEV_ISSUER: &str = "conversa-local";

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct DevClaims {
    pub sub: String,
    pub role: String,
    #[serde(default)]
    pub queues: Vec<String>,
    pub iss: String,
    pub aud: String,
    pub exp: i64,
    pub iat: i64,
}

#[derive(Debug, Deserialize)]
pub struct TokenRequest {
    pub sub: String,
    pub role: String,
    #[serde(default)]
    pub queues: Vec<String>,
}

pub fn issue(
    req: &TokenRequest,
    audience: &str,
    now_secs: i64,
) -> Result<String, jsonwebtoken::errors::Error> {
    let claims = DevClaims {
        sub: req.sub.clone(),
        role: req.role.clone(),
        queues: req.queues.clone(),
        iss: DEV_ISSUER.into(),
        aud: audience.into(),
        iat: now_secs,
        exp: now_secs + 12 * 3600,
    };
    encode(
        &Header::new(Algorithm::HS256),
        &claims,
        &EncodingKey::from_secret(DEV_SIGNING_KEY),
    )
}

/// Verifies `Authorization: Bearer <jwt>` and returns the claims as API Gateway passes
/// them to a function (arrays flattened to `[a b]`).
pub fn verify(authorization: Option<&str>, audience: &str) -> Option<HashMap<String, String>> {
    let token = authorization?.strip_prefix("Bearer ")?.trim();
    let mut validation = Validation::new(Algorithm::HS256);
    validation.set_issuer(&[DEV_ISSUER]);
    validation.set_audience(&[audience]);
    let data = decode::<DevClaims>(
        token,
        &DecodingKey::from_secret(DEV_SIGNING_KEY),
        &validation,
    )
    .ok()?;
    let c = data.claims;
    Some(HashMap::from([
        ("sub".to_owned(), c.sub),
        ("role".to_owned(), c.role),
        ("queues".to_owned(), format!("[{}]", c.queues.join(" "))),
        ("iss".to_owned(), c.iss),
        ("aud".to_owned(), c.aud),
        ("exp".to_owned(), c.exp.to_string()),
        ("iat".to_owned(), c.iat.to_string()),
    ]))
}

/// The `$connect` token check of the local stack: development tokens, as [`verify`].
pub struct DevVerifier {
    pub audience: String,
}

#[async_trait::async_trait]
impl conversa::ports::TokenVerifier for DevVerifier {
    async fn verify(&self, token: &str) -> Option<HashMap<String, String>> {
        verify(Some(&format!("Bearer {token}")), &self.audience)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn issued_token_verifies_and_flattens_queues() {
        let now = chrono::Utc::now().timestamp();
        let t = issue(
            &TokenRequest {
                sub: "agent-1".into(),
                role: "agent".into(),
                queues: vec!["support".into(), "sales".into()],
            },
            "conversa-api",
            now,
        )
        .unwrap();
        let claims = verify(Some(&format!("Bearer {t}")), "conversa-api").unwrap();
        assert_eq!(claims["sub"], "agent-1");
        assert_eq!(claims["queues"], "[support sales]");
        assert!(verify(Some(&format!("Bearer {t}")), "other-audience").is_none());
        assert!(verify(Some("Bearer not-a-jwt"), "conversa-api").is_none());
        assert!(verify(None, "conversa-api").is_none());
    }
}
