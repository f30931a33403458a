//! Secrets come from SSM Parameter Store (SecureString), read once per cold start.

use crate::ports::{PortError, PortResult};

/// Reads several SecureString parameters in one call, in the order asked.
pub async fn read_secure_parameters(
    client: &aws_sdk_ssm::Client,
    names: &[&str],
) -> PortResult<Vec<String>> {
    let out = client
        .get_parameters()
        .set_names(Some(names.iter().map(|n| (*n).to_owned()).collect()))
        .with_decryption(true)
        .send()
        .await
        .map_err(|e| super::sdk_error("ssm", e))?;
    names
        .iter()
        .map(|name| {
            out.parameters()
                .iter()
                .find(|p| p.name() == Some(*name))
                .and_then(|p| p.value())
                .map(str::to_owned)
                .ok_or_else(|| {
                    PortError::new("ssm", format!("parameter {name} is missing or empty"))
                })
        })
        .collect()
}

/// SSM SecureString parameters, each read once per cold start.
#[derive(Debug)]
pub struct SsmSecrets {
    client: aws_sdk_ssm::Client,
    cache: tokio::sync::Mutex<std::collections::HashMap<String, String>>,
}

impl SsmSecrets {
    pub fn new(client: aws_sdk_ssm::Client) -> Self {
        Self {
            client,
            cache: Default::default(),
        }
    }
}

#[async_trait::async_trait]
impl crate::ports::Secrets for SsmSecrets {
    async fn secret(&self, name: &str) -> PortResult<String> {
        let mut cache = self.cache.lock().await;
        if let Some(v) = cache.get(name) {
            return Ok(v.clone());
        }
        let value = read_secure_parameters(&self.client, &[name])
            .await?
            .pop()
            .ok_or_else(|| PortError::new("ssm", format!("parameter {name} is missing")))?;
        cache.insert(name.to_owned(), value.clone());
        Ok(value)
    }
}
