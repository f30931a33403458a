//! [`TokenVerifier`] for the deployed WebSocket `$connect`: the identity provider's JWKS
//! (from `{issuer}/.well-known/openid-configuration`, fetched once per cold start), and
//! the checks API Gateway's JWT authorizer makes on HTTP routes: signature, issuer,
//! audience, expiry.

use crate::ports::TokenVerifier;
use async_trait::async_trait;
use jsonwebtoken::{decode, decode_header, jwk::JwkSet, DecodingKey, Validation};
use serde_json::Value;
use std::collections::HashMap;
use tokio::sync::OnceCell;

pub struct JwksVerifier {
    issuer: String,
    audience: String,
    http: reqwest::Client,
    keys: OnceCell<JwkSet>,
}

impl JwksVerifier {
    pub fn new(issuer: &str, audience: &str) -> Self {
        crate::aws::install_tls_provider();
        Self {
            issuer: issuer.trim_end_matches('/').to_owned(),
            audience: audience.to_owned(),
            http: crate::tls::roots(reqwest::Client::builder())
                .timeout(std::time::Duration::from_secs(5))
                .build()
                .unwrap_or_default(),
            keys: OnceCell::new(),
        }
    }

    async fn fetch(&self) -> Result<JwkSet, String> {
        let discovery: Value = self
            .http
            .get(format!("{}/.well-known/openid-configuration", self.issuer))
            .send()
            .await
            .map_err(|e| e.to_string())?
            .json()
            .await
            .map_err(|e| e.to_string())?;
        let uri = discovery["jwks_uri"]
            .as_str()
            .ok_or("the issuer names no jwks_uri")?;
        self.http
            .get(uri)
            .send()
            .await
            .map_err(|e| e.to_string())?
            .json()
            .await
            .map_err(|e| e.to_string())
    }
}

/// Claims as API Gateway passes them to functions: strings, arrays as `[a b]`.
pub fn flatten_claims(claims: HashMap<String, Value>) -> HashMap<String, String> {
    claims
        .into_iter()
        .map(|(k, v)| {
            let s = match v {
                Value::String(s) => s,
                Value::Array(items) => format!(
                    "[{}]",
                    items
                        .iter()
                        .map(|i| i
                            .as_str()
                            .map(str::to_owned)
                            .unwrap_or_else(|| i.to_string()))
                        .collect::<Vec<_>>()
                        .join(" ")
                ),
                other => other.to_string(),
            };
            (k, s)
        })
        .collect()
}

#[async_trait]
impl TokenVerifier for JwksVerifier {
    async fn verify(&self, token: &str) -> Option<HashMap<String, String>> {
        let keys = match self.keys.get_or_try_init(|| self.fetch()).await {
            Ok(k) => k,
            Err(e) => {
                tracing::warn!(error = %e, "the identity provider's keys could not be read");
                return None;
            }
        };
        let header = decode_header(token).ok()?;
        let jwk = keys.find(header.kid.as_deref()?)?;
        let key = DecodingKey::from_jwk(jwk).ok()?;
        let mut validation = Validation::new(header.alg);
        validation.set_issuer(&[&self.issuer]);
        validation.set_audience(&[&self.audience]);
        let data = decode::<HashMap<String, Value>>(token, &key, &validation).ok()?;
        Some(flatten_claims(data.claims))
    }
}
