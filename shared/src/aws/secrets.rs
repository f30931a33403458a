//! Secrets come from SSM Parameter Store (SecureString), read once per cold start.

use crate::ports::{PortError, PortResult};

pub async fn read_secure_parameter(client: &aws_sdk_ssm::Client, name: &str) -> PortResult<String> {
    let out = client
        .get_parameter()
        .name(name)
        .with_decryption(true)
        .send()
        .await
        .map_err(|e| super::sdk_error("ssm", e))?;
    out.parameter()
        .and_then(|p| p.value())
        .map(str::to_owned)
        .ok_or_else(|| PortError::new("ssm", format!("parameter {name} has no value")))
}
