//! The WhatsApp Cloud API (Graph API) client: sends and the template catalogue.

use crate::domain::template::Template;
use crate::ports::{OutboundRequest, Provider, ProviderError};
use async_trait::async_trait;
use serde::Deserialize;
use serde_json::{json, Value};
use std::time::Duration;

/// Error codes Meta documents as temporary: throttling and transient failures.
/// 130429 throughput reached, 131056 pair rate limit, 131000 something went wrong,
/// 133004 server temporarily unavailable, 4 / 80007 application or account rate limit,
/// 2 service temporarily unavailable.
const RETRYABLE_CODES: [i64; 7] = [130429, 131056, 131000, 133004, 4, 80007, 2];

/// Re-engagement required: the 24-hour window is closed.
pub const REENGAGEMENT_REQUIRED: i64 = 131047;

#[derive(Clone, Debug)]
pub struct GraphApi {
    http: reqwest::Client,
    base_url: String,
    version: String,
}

impl GraphApi {
    /// One client per cold start; `timeout` bounds every call so a hung provider becomes
    /// a retry, not a stuck Lambda.
    pub fn new(
        base_url: impl Into<String>,
        version: impl Into<String>,
        timeout: Duration,
    ) -> Result<Self, ProviderError> {
        let http = reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(Duration::from_secs(3))
            .build()
            .map_err(|e| ProviderError::Permanent {
                code: None,
                message: format!("http client: {e}"),
            })?;
        Ok(Self {
            http,
            base_url: base_url.into().trim_end_matches('/').to_owned(),
            version: version.into(),
        })
    }
}

#[derive(Deserialize)]
struct GraphErrorBody {
    error: GraphError,
}

#[derive(Deserialize)]
struct GraphError {
    #[serde(default)]
    message: String,
    #[serde(default)]
    code: Option<i64>,
}

/// Classifies a Graph API failure as retryable or permanent.
pub fn classify(status: u16, code: Option<i64>, message: String) -> ProviderError {
    let retryable =
        status == 429 || status >= 500 || code.is_some_and(|c| RETRYABLE_CODES.contains(&c));
    if retryable {
        ProviderError::Retryable { code, message }
    } else {
        ProviderError::Permanent { code, message }
    }
}

fn transport(e: reqwest::Error) -> ProviderError {
    // Timeouts and connection failures are worth another try.
    ProviderError::Retryable {
        code: None,
        message: format!("transport: {e}"),
    }
}

async fn error_of(resp: reqwest::Response) -> ProviderError {
    let status = resp.status().as_u16();
    let text = resp.text().await.unwrap_or_default();
    match serde_json::from_str::<GraphErrorBody>(&text) {
        Ok(b) => classify(status, b.error.code, b.error.message),
        Err(_) => classify(status, None, format!("HTTP {status}")),
    }
}

#[async_trait]
impl Provider for GraphApi {
    async fn send(&self, token: &str, request: &OutboundRequest) -> Result<String, ProviderError> {
        let url = format!(
            "{}/{}/{}/messages",
            self.base_url, self.version, request.phone_number_id
        );
        let mut body = json!({
            "messaging_product": "whatsapp",
            "recipient_type": "individual",
            "to": request.to,
        });
        if let (Value::Object(b), Value::Object(p)) = (&mut body, &request.payload) {
            b.extend(p.clone());
        }
        let resp = self
            .http
            .post(url)
            .bearer_auth(token)
            .json(&body)
            .send()
            .await
            .map_err(transport)?;
        if !resp.status().is_success() {
            return Err(error_of(resp).await);
        }
        let answer: Value = resp.json().await.map_err(transport)?;
        answer["messages"][0]["id"]
            .as_str()
            .map(str::to_owned)
            .ok_or_else(|| ProviderError::Retryable {
                code: None,
                message: "the provider's answer has no message id".into(),
            })
    }

    async fn templates(&self, token: &str, waba_id: &str) -> Result<Vec<Template>, ProviderError> {
        let mut out = Vec::new();
        let mut url = Some(format!(
            "{}/{}/{}/message_templates?limit=100",
            self.base_url, self.version, waba_id
        ));
        while let Some(next) = url.take() {
            let resp = self
                .http
                .get(&next)
                .bearer_auth(token)
                .send()
                .await
                .map_err(transport)?;
            if !resp.status().is_success() {
                return Err(error_of(resp).await);
            }
            let page: Value = resp.json().await.map_err(transport)?;
            for t in page["data"].as_array().into_iter().flatten() {
                match serde_json::from_value::<Template>(t.clone()) {
                    Ok(t) => out.push(t),
                    Err(e) => tracing::warn!(error = %e, "template skipped: unreadable"),
                }
            }
            url = page["paging"]["next"].as_str().map(str::to_owned);
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rate_limits_and_server_errors_are_retried() {
        assert!(matches!(
            classify(400, Some(130429), String::new()),
            ProviderError::Retryable { .. }
        ));
        assert!(matches!(
            classify(400, Some(131056), String::new()),
            ProviderError::Retryable { .. }
        ));
        assert!(matches!(
            classify(429, None, String::new()),
            ProviderError::Retryable { .. }
        ));
        assert!(matches!(
            classify(503, None, String::new()),
            ProviderError::Retryable { .. }
        ));
    }

    #[test]
    fn permanent_errors_are_not_retried() {
        assert!(matches!(
            classify(400, Some(REENGAGEMENT_REQUIRED), String::new()),
            ProviderError::Permanent {
                code: Some(131047),
                ..
            }
        ));
        assert!(matches!(
            classify(400, Some(100), String::new()),
            ProviderError::Permanent { .. }
        ));
    }
}
