//! The AWS emulator (moto server, pinned in `infra/emulator/requirements.txt`).

use aws_config::{BehaviorVersion, Region, SdkConfig};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub const REGION: &str = "us-east-1";
pub const ACCOUNT_ID: &str = "123456789012";

#[derive(Debug, thiserror::Error)]
pub enum EmulatorError {
    #[error("the emulator is not installed at {0}: run `make venv` (or `make run` / `make test`)")]
    NotInstalled(String),
    #[error("could not start the emulator: {0}")]
    Spawn(#[from] std::io::Error),
    #[error("the emulator did not answer on {0} within 60 s")]
    Timeout(String),
}

/// A running emulator. Dropping it stops the process it started.
pub struct Emulator {
    pub endpoint: String,
    child: Option<Child>,
}

impl Emulator {
    /// Uses a running emulator (e.g. `CONVERSA_EMULATOR=http://127.0.0.1:5000`).
    pub fn existing(endpoint: impl Into<String>) -> Self {
        Self {
            endpoint: endpoint.into(),
            child: None,
        }
    }

    /// Starts the emulator from the repository's `.venv` on `port` (0: any free port).
    pub fn start(repo_root: &Path, port: u16) -> Result<Self, EmulatorError> {
        let python = repo_root.join(".venv/bin/python");
        if !python.exists() {
            return Err(EmulatorError::NotInstalled(python.display().to_string()));
        }
        let port = if port == 0 { free_port()? } else { port };
        let child = Command::new(python)
            .arg(repo_root.join("infra/emulator/moto_server.py"))
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .args(["--parent-pid", &std::process::id().to_string()])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()?;
        let emulator = Self {
            endpoint: format!("http://127.0.0.1:{port}"),
            child: Some(child),
        };
        let addr = SocketAddr::from(([127, 0, 0, 1], port));
        let started = Instant::now();
        while TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_err() {
            if started.elapsed() > Duration::from_secs(60) {
                return Err(EmulatorError::Timeout(emulator.endpoint.clone()));
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        Ok(emulator)
    }

    /// An SDK configuration that talks to this emulator.
    pub async fn sdk_config(&self) -> SdkConfig {
        sdk_config(&self.endpoint).await
    }
}

pub async fn sdk_config(endpoint: &str) -> SdkConfig {
    aws_config::defaults(BehaviorVersion::latest())
        .http_client(conversa::aws::http_client())
        .region(Region::new(REGION))
        .endpoint_url(endpoint)
        // The SDK's standard retries (3 attempts), with short waits: faults injected into
        // the emulator are retried as in AWS without making the tests slow.
        .retry_config(
            aws_config::retry::RetryConfig::standard()
                .with_max_attempts(3)
                .with_initial_backoff(Duration::from_millis(10))
                .with_max_backoff(Duration::from_millis(100)),
        )
        .credentials_provider(aws_sdk_dynamodb::config::Credentials::new(
            "conversa-local",
            "conversa-local",
            None,
            None,
            "emulator",
        ))
        .load()
        .await
}

fn free_port() -> std::io::Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

impl Drop for Emulator {
    fn drop(&mut self) {
        if let Some(child) = &mut self.child {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}
