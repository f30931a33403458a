//! The AWS emulator (moto server, pinned in `infra/emulator/requirements.txt`).

use aws_config::{BehaviorVersion, Region, SdkConfig};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

pub const REGION: &str = "us-east-1";
pub const ACCOUNT_ID: &str = "123456789012";

#[derive(Debug, thiserror::Error)]
pub enum EmulatorError {
    #[error("the emulator is not installed at {0}: run `make venv` (or `make run` / `make test`)")]
    NotInstalled(String),
    #[error("could not start the emulator: {0}")]
    Spawn(#[from] std::io::Error),
    #[error("the emulator exited before listening ({0}): is the port taken? run `.venv/bin/python infra/emulator/moto_server.py -p <port>` to see why")]
    Exited(String),
    #[error("the emulator did not start listening within 60 s")]
    Timeout,
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
    ///
    /// The emulator binds the port itself and writes it to a file once it listens: a port
    /// picked here and bound there a second later could be taken meanwhile (by another
    /// emulator, which two owners would then share until one of them stopped it).
    pub fn start(repo_root: &Path, port: u16) -> Result<Self, EmulatorError> {
        let python = repo_root.join(".venv/bin/python");
        if !python.exists() {
            return Err(EmulatorError::NotInstalled(python.display().to_string()));
        }
        let port_file = std::env::temp_dir().join(format!(
            "conversa-emulator-{}-{}.port",
            std::process::id(),
            NEXT_PORT_FILE.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = std::fs::remove_file(&port_file);
        let child = Command::new(python)
            .arg(repo_root.join("infra/emulator/moto_server.py"))
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .arg("--port-file")
            .arg(&port_file)
            .args(["--parent-pid", &std::process::id().to_string()])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()?;
        let mut emulator = Self {
            endpoint: format!("http://127.0.0.1:{port}"),
            child: Some(child),
        };
        let started = Instant::now();
        let port = loop {
            if let Some(port) = std::fs::read_to_string(&port_file)
                .ok()
                .and_then(|p| p.trim().parse::<u16>().ok())
            {
                let _ = std::fs::remove_file(&port_file);
                break port;
            }
            if let Some(status) = emulator
                .child
                .as_mut()
                .and_then(|c| c.try_wait().ok().flatten())
            {
                return Err(EmulatorError::Exited(status.to_string()));
            }
            if started.elapsed() > Duration::from_secs(60) {
                return Err(EmulatorError::Timeout);
            }
            std::thread::sleep(Duration::from_millis(50));
        };
        emulator.endpoint = format!("http://127.0.0.1:{port}");
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

static NEXT_PORT_FILE: AtomicU64 = AtomicU64::new(0);

impl Drop for Emulator {
    fn drop(&mut self) {
        if let Some(child) = &mut self.child {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The old start picked a free port and waited for anything to answer there: an
    /// emulator that could not bind it went unnoticed while its owner talked to another
    /// process's emulator, until that one's owner stopped it mid-test.
    #[test]
    fn a_port_taken_by_someone_else_is_an_error_not_their_emulator() {
        let taken = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = taken.local_addr().expect("addr").port();
        match Emulator::start(&crate::repo_root(), port) {
            Err(EmulatorError::Exited(_)) => {}
            Err(e) => panic!("expected the emulator to exit on a taken port, got {e}"),
            Ok(e) => panic!(
                "an emulator that never listened was handed out at {}",
                e.endpoint
            ),
        }
    }

    #[test]
    fn emulators_started_at_once_each_listen_on_their_own_port() {
        let started: Vec<Emulator> = std::thread::scope(|s| {
            let starts: Vec<_> = (0..3)
                .map(|_| s.spawn(|| Emulator::start(&crate::repo_root(), 0)))
                .collect();
            starts
                .into_iter()
                .map(|h| h.join().expect("thread").expect("start"))
                .collect()
        });
        let mut endpoints: Vec<&str> = started.iter().map(|e| e.endpoint.as_str()).collect();
        endpoints.sort();
        endpoints.dedup();
        assert_eq!(endpoints.len(), 3, "{endpoints:?}");
        for e in &started {
            let addr = e.endpoint.trim_start_matches("http://");
            std::net::TcpStream::connect(addr).expect("the emulator listens on its endpoint");
        }
    }
}
