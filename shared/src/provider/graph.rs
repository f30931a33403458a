//! The WhatsApp Cloud API (Graph API) client: sends and the template catalogue.

use crate::domain::template::Template;
use crate::ports::{OutboundRequest, Provider, ProviderError};
use async_trait::async_trait;
use serde::Deserialize;
use serde_json::{json, Value};
use std::time::Duration;

/// Codes that say the message was refused, not accepted: throughput reached (130429),
/// pair rate limit (131056), application or account rate limit (4, 80007). A send that
/// met one may be made again.
const NOT_ACCEPTED_CODES: [i64; 4] = [130429, 131056, 4, 80007];

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
        crate::tls::install_ring_provider();
        let http = crate::tls::roots(reqwest::Client::builder())
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

/// Classifies a Graph API failure: refused for now (retry), possibly accepted (a 5xx
/// whose body does not say it was refused: ambiguous), or failed for good.
pub fn classify(status: u16, code: Option<i64>, message: String) -> ProviderError {
    if status == 429 || code.is_some_and(|c| NOT_ACCEPTED_CODES.contains(&c)) {
        ProviderError::Retryable { code, message }
    } else if status >= 500 {
        ProviderError::Ambiguous { code, message }
    } else {
        ProviderError::Permanent { code, message }
    }
}

/// A transport failure: certainly not accepted when the connection was never made,
/// ambiguous once the request may have been written (a read timeout, a reset).
fn transport(e: reqwest::Error) -> ProviderError {
    let message = format!("transport: {e}");
    if e.is_connect() {
        ProviderError::Retryable {
            code: None,
            message,
        }
    } else {
        ProviderError::Ambiguous {
            code: None,
            message,
        }
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
    async fn mark_read(
        &self,
        token: &str,
        phone_number_id: &str,
        message_id: &str,
    ) -> Result<(), ProviderError> {
        let url = format!(
            "{}/{}/{}/messages",
            self.base_url, self.version, phone_number_id
        );
        let body =
            json!({"messaging_product": "whatsapp", "status": "read", "message_id": message_id});
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
        Ok(())
    }

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
            .ok_or_else(|| ProviderError::Ambiguous {
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
    fn rate_limits_are_retried() {
        for (status, code) in [
            (400, Some(130429)),
            (400, Some(131056)),
            (429, None),
            (400, Some(80007)),
        ] {
            assert!(matches!(
                classify(status, code, String::new()),
                ProviderError::Retryable { .. }
            ));
        }
    }

    #[test]
    fn a_server_error_is_ambiguous_unless_its_code_says_refused() {
        assert!(matches!(
            classify(503, None, String::new()),
            ProviderError::Ambiguous { .. }
        ));
        assert!(matches!(
            classify(500, Some(131000), String::new()),
            ProviderError::Ambiguous { .. }
        ));
        assert!(matches!(
            classify(503, Some(130429), String::new()),
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
