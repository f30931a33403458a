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
