//! `make bench-coldstart`: each function's release `bootstrap`, started N times against a
//! minimal Lambda Runtime API ([`runtime_api`]) with its environment from `template.yaml`
//! and the local emulator behind it, beside a bare `lambda_runtime` echo function (the
//! floor). Per run: init (spawn → first `next`), the first invocation, a warm one, and
//! the peak RSS. docs/performance.md ("Cold start") tells how to read the numbers.

pub mod aws_clock;
pub mod events;
pub mod report;
pub mod runtime_api;

use crate::events::Event;
use crate::report::Sample;
use crate::runtime_api::{Outcome, OutcomeKind, Polled, RuntimeApi};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A binary to start, with the environment Lambda would give it.
#[derive(Debug, Clone)]
pub struct Target {
    /// The name in the table (the binary's).
    pub name: String,
    pub binary: PathBuf,
    pub function_name: String,
    pub env: HashMap<String, String>,
}

/// What Lambda sets for every function (besides the template's variables).
pub fn lambda_env(
    function_name: &str,
    memory_mb: u32,
    emulator_endpoint: &str,
    task_root: &Path,
) -> HashMap<String, String> {
    let region = conversa_infra::emulator::REGION;
    [
        ("AWS_LAMBDA_FUNCTION_NAME", function_name.to_owned()),
        ("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", memory_mb.to_string()),
        ("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST".into()),
        (
            "AWS_LAMBDA_LOG_GROUP_NAME",
            format!("/aws/lambda/{function_name}"),
        ),
        ("AWS_LAMBDA_LOG_STREAM_NAME", "coldstart".into()),
        // The template's LoggingConfig: JSON, the LogLevel parameter's default.
        ("AWS_LAMBDA_LOG_FORMAT", "JSON".into()),
        ("AWS_LAMBDA_LOG_LEVEL", "INFO".into()),
        ("AWS_REGION", region.into()),
        ("AWS_DEFAULT_REGION", region.into()),
        ("AWS_ACCESS_KEY_ID", "conversa-local".into()),
        ("AWS_SECRET_ACCESS_KEY", "conversa-local".into()),
        ("AWS_SESSION_TOKEN", "coldstart".into()),
        // Every SDK client of the function talks to the emulator.
        ("AWS_ENDPOINT_URL", emulator_endpoint.to_owned()),
        ("TZ", ":UTC".into()),
        ("LANG", "en_US.UTF-8".into()),
        ("PATH", "/usr/local/bin:/usr/bin/:/bin".into()),
        ("LAMBDA_TASK_ROOT", task_root.display().to_string()),
        ("_HANDLER", "bootstrap".into()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect()
}

/// Kills the runtime process when the measurement ends, however it ends.
struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// `VmHWM` (peak resident set) of a process, in KiB.
pub fn peak_rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status_kib(&status, "VmHWM")
}

/// The resident set now, split into anonymous memory (heap, stacks, relocated data) and
/// file-backed pages (the binary's code and read-only data that were touched), in KiB.
pub fn rss_split_kib(pid: u32) -> Option<(u64, u64)> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    Some((
        status_kib(&status, "RssAnon")?,
        status_kib(&status, "RssFile")?,
    ))
}

fn status_kib(status: &str, field: &str) -> Option<u64> {
    status
        .lines()
        .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
}

const POLL_CHILD: Duration = Duration::from_millis(10);

/// Waits for the runtime's next `GET next`, or says why it will not come.
async fn wait_poll(
    api: &mut RuntimeApi,
    child: &mut Running,
    timeout: Duration,
) -> Result<Instant, String> {
    let until = Instant::now() + timeout;
    loop {
        tokio::select! {
            polled = api.next_poll() => return match polled {
                Polled::Next(at) => Ok(at),
                Polled::InitError(o) => Err(format!("init error: {}", String::from_utf8_lossy(&o.body))),
                Polled::Closed => Err("the Runtime API stopped".to_owned()),
            },
            _ = tokio::time::sleep(POLL_CHILD) => {
                if let Ok(Some(status)) = child.0.try_wait() {
                    return Err(format!("exited ({status}) before asking for an event"));
                }
                if Instant::now() > until {
                    return Err(format!("no `next` within {timeout:?}"));
                }
            }
        }
    }
}

/// Hands `event` to the runtime (which has asked for it) and waits for the answer.
async fn invoke(
    api: &mut RuntimeApi,
    child: &mut Running,
    event: &Event,
    timeout: Duration,
) -> Result<Duration, String> {
    let payload = serde_json::to_vec(&event.payload).map_err(|e| e.to_string())?;
    let mut answer = api.invoke(payload);
    let until = Instant::now() + timeout;
    let outcome: Outcome = loop {
        tokio::select! {
            outcome = &mut answer => break outcome.map_err(|_| "the invocation was dropped".to_owned())?,
            _ = tokio::time::sleep(POLL_CHILD) => {
                if let Ok(Some(status)) = child.0.try_wait() {
                    return Err(format!("exited ({status}) during an invocation"));
                }
                if Instant::now() > until {
                    return Err(format!("no answer within {timeout:?}"));
                }
            }
        }
    };
    let body = String::from_utf8_lossy(&outcome.body).into_owned();
    match outcome.kind {
        OutcomeKind::Response => {}
        OutcomeKind::Error | OutcomeKind::InitError => {
            return Err(format!("invocation error: {body}"));
        }
    }
    let json = outcome.json().unwrap_or(serde_json::Value::Null);
    events::check(event.expect, &json)?;
    outcome
        .duration()
        .ok_or_else(|| "the answer has no hand-over time".to_owned())
}

/// One cold start of `target`: spawn, init, the first invocation, a warm one, peak RSS.
/// `first` and `warm` are the two events (the same shape, ids of their own). The
/// process's output goes to `log`.
pub async fn measure(
    target: &Target,
    first: &Event,
    warm: &Event,
    log: &Path,
    timeout: Duration,
) -> Result<Sample, String> {
    let arn = format!(
        "arn:aws:lambda:{}:{}:function:{}",
        conversa_infra::emulator::REGION,
        conversa_infra::emulator::ACCOUNT_ID,
        target.function_name
    );
    let mut api = RuntimeApi::start(&arn)
        .await
        .map_err(|e| format!("runtime api: {e}"))?;
    let out = std::fs::File::create(log).map_err(|e| format!("{}: {e}", log.display()))?;
    let err = out.try_clone().map_err(|e| e.to_string())?;
    // Every AWS call goes through a proxy that notes how long the function waited.
    let upstream = target.env.get("AWS_ENDPOINT_URL").map(|u| {
        u.trim_start_matches("http://")
            .trim_end_matches('/')
            .to_owned()
    });
    let (endpoint, waits) = match upstream {
        Some(upstream) => {
            let (url, waits) = aws_clock::start(upstream)
                .await
                .map_err(|e| format!("aws proxy: {e}"))?;
            (Some(url), waits)
        }
        None => (None, aws_clock::Waits::default()),
    };
    let mut command = Command::new(&target.binary);
    command.env_clear().envs(&target.env);
    if let Some(endpoint) = endpoint {
        command.env("AWS_ENDPOINT_URL", endpoint);
    }
    command
        .env("AWS_LAMBDA_RUNTIME_API", api.host_port())
        .stdin(Stdio::null())
        .stdout(out)
        .stderr(err);
    let started = Instant::now();
    let mut child = Running(
        command
            .spawn()
            .map_err(|e| format!("{}: {e}", target.binary.display()))?,
    );
    let polled = wait_poll(&mut api, &mut child, timeout).await?;
    let init = polled.saturating_duration_since(started);
    let init_aws = waits.before(polled);
    let first = invoke(&mut api, &mut child, first, timeout).await?;
    wait_poll(&mut api, &mut child, timeout).await?;
    let warm = invoke(&mut api, &mut child, warm, timeout).await?;
    let peak_rss_kib = peak_rss_kib(child.0.id()).ok_or("no /proc/<pid>/status VmHWM")?;
    let (rss_anon_kib, rss_file_kib) = rss_split_kib(child.0.id()).unwrap_or((0, 0));
    drop(child);
    Ok(Sample {
        init,
        init_aws,
        first,
        warm,
        peak_rss_kib,
        rss_anon_kib,
        rss_file_kib,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn peak_rss_is_read_from_proc_status() {
        let status = "Name:\tx\nVmPeak:\t  100 kB\nVmHWM:\t    8452 kB\nVmRSS:\t 8000 kB\nRssAnon:\t 5000 kB\nRssFile:\t 3000 kB\n";
        assert_eq!(status_kib(status, "VmHWM"), Some(8452));
        assert_eq!(status_kib(status, "RssAnon"), Some(5000));
        assert_eq!(status_kib(status, "Rss"), None);
        assert!(peak_rss_kib(std::process::id()).unwrap() > 0);
        let (anon, file) = rss_split_kib(std::process::id()).unwrap();
        assert!(anon > 0 && file > 0);
    }

    #[test]
    fn the_lambda_environment_points_the_sdk_at_the_emulator() {
        let env = lambda_env("f", 256, "http://127.0.0.1:1", Path::new("/x"));
        assert_eq!(env["AWS_ENDPOINT_URL"], "http://127.0.0.1:1");
        assert_eq!(env["AWS_LAMBDA_FUNCTION_MEMORY_SIZE"], "256");
        assert_eq!(env["AWS_LAMBDA_FUNCTION_VERSION"], "$LATEST");
    }
}
