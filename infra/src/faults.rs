//! Faults on demand: rules that make the emulator fail chosen AWS calls (see
//! `infra/emulator/moto_server.py`). The local stack serves them as `/_dev/faults`; the
//! tests use the same calls. A rule without `resource` is kept to this stack's own
//! resources (its stack name), so tests sharing one emulator do not fail each other.

use crate::LocalStack;
use serde_json::{json, Value};

#[derive(Debug, thiserror::Error)]
pub enum FaultError {
    #[error("the emulator refused the rule: {0}")]
    Refused(Value),
    #[error("the emulator did not answer: {0}")]
    Unreachable(String),
}

impl LocalStack {
    fn faults_url(&self) -> String {
        let endpoint = self
            .config
            .endpoint_url()
            .unwrap_or("http://127.0.0.1:5055")
            .trim_end_matches('/');
        format!("{endpoint}/_test/faults")
    }

    /// Adds a fault rule (`service`, `operation`, `error`, `status`, `probability` or
    /// `nth`, `times`, `resource`); returns `{"id": n}`.
    pub async fn inject_fault(&self, mut rule: Value) -> Result<Value, FaultError> {
        if let Some(map) = rule.as_object_mut() {
            map.entry("resource")
                .or_insert_with(|| json!(self.stack.name));
        }
        let r = reqwest::Client::new()
            .post(self.faults_url())
            .json(&rule)
            .send()
            .await
            .map_err(|e| FaultError::Unreachable(e.to_string()))?;
        let ok = r.status().is_success();
        let body: Value = r
            .json()
            .await
            .map_err(|e| FaultError::Unreachable(e.to_string()))?;
        if ok {
            Ok(body)
        } else {
            Err(FaultError::Refused(body))
        }
    }

    /// This stack's rules, with how often each was seen and fired.
    pub async fn faults(&self) -> Result<Value, FaultError> {
        let all: Value = reqwest::Client::new()
            .get(self.faults_url())
            .send()
            .await
            .map_err(|e| FaultError::Unreachable(e.to_string()))?
            .json()
            .await
            .map_err(|e| FaultError::Unreachable(e.to_string()))?;
        let mine: Vec<Value> = all["rules"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|r| r["resource"] == self.stack.name.as_str())
            .cloned()
            .collect();
        Ok(json!({ "rules": mine }))
    }

    /// Removes this stack's rules.
    pub async fn clear_faults(&self) -> Result<(), FaultError> {
        reqwest::Client::new()
            // Stack names are letters and digits: nothing to escape.
            .delete(format!(
                "{}?resource={}",
                self.faults_url(),
                self.stack.name
            ))
            .send()
            .await
            .map_err(|e| FaultError::Unreachable(e.to_string()))?;
        Ok(())
    }
}
