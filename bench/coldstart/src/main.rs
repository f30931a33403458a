//! `make bench-coldstart`: provisions the local stack's resources in the emulator, then
//! starts the floor and each function's release `bootstrap` `COLDSTART_RUNS` times (5)
//! against its own Runtime API, and prints (and writes to docs/performance.md) the
//! medians and their ratios to the floor.
//!
//! Environment: `COLDSTART_RUNS`, `COLDSTART_FUNCTIONS` (binaries to measure, comma
//! separated; default every function of the template that is built), `COLDSTART_WARMUP`
//! (runs per binary before the counted ones, not counted: 1, so that reading the binary
//! from disk into the page cache is not measured as its init),
//! `COLDSTART_BIN_DIR` (default `target/release`), `COLDSTART_WRITE_DOCS=0` (print only),
//! `CONVERSA_EMULATOR` (use a running emulator).

use coldstart::events::{self, FLOOR};
use coldstart::report::{self, Row, Sample};
use coldstart::{lambda_env, measure, Target};
use conversa_infra::template::Template;
use conversa_infra::{emulator_from_env, repo_root, server, LocalStack};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

const MEMORY_MB: u32 = 256;
const TIMEOUT: Duration = Duration::from_secs(30);

fn env_or(name: &str, default: &str) -> String {
    std::env::var(name)
        .ok()
        .filter(|v| !v.is_empty())
        .unwrap_or_else(|| default.to_owned())
}

fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .map(|p| {
            if p.is_absolute() {
                p
            } else {
                repo_root().join(p)
            }
        })
        .unwrap_or_else(|| repo_root().join("target"))
}

fn log_tail(path: &Path) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let tail: String = text
        .lines()
        .rev()
        .take(3)
        .collect::<Vec<_>>()
        .into_iter()
        .rev()
        .collect::<Vec<_>>()
        .join(" / ");
    tail.chars().take(400).collect()
}

fn cpu_model() -> String {
    std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|c| {
            c.lines()
                .find_map(|l| l.strip_prefix("model name"))
                .map(|v| v.trim_start_matches([' ', '\t', ':']).trim().to_owned())
        })
        .unwrap_or_else(|| "unknown CPU".into())
}

/// Real sends for `hsm-send`: `count` conversations started by an agent with the `welcome`
/// template through the local stack's API, carried to `outbound.fifo` by the in-process
/// relay, read back from the queue: (body, message group) of each.
async fn seed_sends(
    local: &LocalStack,
    base_url: &str,
    outbound_queue_url: &str,
    count: usize,
) -> Result<Vec<(String, String)>, String> {
    let http = reqwest::Client::new();
    let token: serde_json::Value = http
        .post(format!("{base_url}/_dev/token"))
        .json(&serde_json::json!({"sub": "agent-coldstart", "role": "supervisor", "queues": []}))
        .send()
        .await
        .and_then(|r| r.error_for_status())
        .map_err(|e| format!("token: {e}"))?
        .json()
        .await
        .map_err(|e| format!("token: {e}"))?;
    let token = token["token"].as_str().unwrap_or_default().to_owned();
    for i in 0..count {
        let phone = format!("554870{:07}", i);
        let r = http
            .post(format!("{base_url}/v1/conversations"))
            .bearer_auth(&token)
            .json(&serde_json::json!({"phone": phone,
                "template": {"name": "welcome", "language": "pt_BR", "parameters": ["Ana"]}}))
            .send()
            .await
            .map_err(|e| format!("start: {e}"))?;
        if !r.status().is_success() {
            let status = r.status();
            return Err(format!(
                "start: {status} {}",
                r.text().await.unwrap_or_default()
            ));
        }
    }
    local.runtime.drain_streams().await;
    let sqs = aws_sdk_sqs::Client::new(&local.config);
    let mut sends = Vec::new();
    for _ in 0..count * 2 {
        if sends.len() >= count {
            break;
        }
        let out = sqs
            .receive_message()
            .queue_url(outbound_queue_url)
            .max_number_of_messages(10)
            .message_system_attribute_names(aws_sdk_sqs::types::MessageSystemAttributeName::All)
            .send()
            .await
            .map_err(|e| format!("receive: {}", aws_sdk_sqs::error::DisplayErrorContext(e)))?;
        for m in out.messages.unwrap_or_default() {
            let group = m
                .attributes()
                .and_then(|a| {
                    a.get(&aws_sdk_sqs::types::MessageSystemAttributeName::MessageGroupId)
                })
                .cloned()
                .unwrap_or_default();
            sends.push((m.body().unwrap_or_default().to_owned(), group));
            // The visibility timeout keeps it from being read twice here; nothing else
            // reads this queue.
        }
    }
    if sends.len() < count {
        return Err(format!(
            "{} of {count} sends reached outbound.fifo",
            sends.len()
        ));
    }
    Ok(sends)
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    conversa::aws::install_tls_provider();
    let runs: usize = env_or("COLDSTART_RUNS", "5").parse()?;
    let warmup: usize = env_or("COLDSTART_WARMUP", "1").parse()?;
    let only: Option<Vec<String>> = std::env::var("COLDSTART_FUNCTIONS")
        .ok()
        .filter(|v| !v.trim().is_empty())
        .map(|v| v.split(',').map(|s| s.trim().to_owned()).collect());
    let bin_dir = std::env::var_os("COLDSTART_BIN_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| target_dir().join("release"));
    let logs = target_dir().join("coldstart");
    std::fs::create_dir_all(&logs)?;

    // The stack as `make run` creates it: resources from template.yaml, the development
    // secrets in SSM, the sample channel; its HTTP front serves the sandbox Graph API
    // (template-sync, hsm-send) and the WebSocket management API (notifier).
    let emulator = emulator_from_env(0)?;
    let config = emulator.sdk_config().await;
    let template = Template::load(&repo_root().join("template.yaml"))?;
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0)).await?;
    let base_url = format!("http://{}", listener.local_addr()?);
    let stack_name = format!("coldstart-{}", chrono::Utc::now().timestamp());
    let local = Arc::new(
        LocalStack::create(&template, &stack_name, config, &base_url, HashMap::new()).await?,
    );
    // The sample SMS channel too, as `make run` seeds it (sms-inbound's event is for it).
    local.seed_sms_channel().await?;
    let router = server::router(local.clone());
    tokio::spawn(async move {
        let _ = axum::serve(listener, router).await;
    });
    eprintln!(
        "coldstart: stack {stack_name} in the emulator at {}, {runs} runs per binary from {}",
        emulator.endpoint,
        bin_dir.display()
    );

    let mut targets: Vec<(Target, Option<conversa_infra::template::FunctionDef>)> = Vec::new();
    let mut missing = Vec::new();
    let floor_name = format!("{stack_name}-EchoFloor");
    targets.push((
        Target {
            name: FLOOR.into(),
            binary: bin_dir.join(FLOOR),
            function_name: floor_name.clone(),
            env: lambda_env(&floor_name, MEMORY_MB, &emulator.endpoint, &bin_dir),
        },
        None,
    ));
    for def in &local.stack.functions {
        if only
            .as_ref()
            .is_some_and(|o| !o.iter().any(|b| b == &def.binary))
        {
            continue;
        }
        let binary = bin_dir.join(&def.binary);
        if !binary.exists() {
            missing.push(def.binary.clone());
            continue;
        }
        let function_name = format!("{stack_name}-{}", def.logical_id);
        let mut env = def.environment.clone();
        // As the local stack does: PostToConnection goes to its management endpoint.
        if env.contains_key("WEBSOCKET_ENDPOINT") {
            env.insert(
                "WEBSOCKET_ENDPOINT".into(),
                format!("{base_url}{}", conversa_infra::websocket::MANAGEMENT_PATH),
            );
        }
        env.extend(lambda_env(
            &function_name,
            MEMORY_MB,
            &emulator.endpoint,
            &bin_dir,
        ));
        targets.push((
            Target {
                name: def.binary.clone(),
                binary,
                function_name,
                env,
            },
            Some(def.clone()),
        ));
    }
    if !targets[0].0.binary.exists() {
        return Err(format!(
            "{} is not built: cargo build --release -p coldstart (make bench-coldstart)",
            targets[0].0.binary.display()
        )
        .into());
    }

    // hsm-send gets real sends when they can be made, else a send of an unknown message.
    let mut sends = Vec::new();
    if let Some((_, Some(def))) = targets.iter().find(|(t, _)| t.name == "hsm-send") {
        let queue = def
            .environment
            .get("OUTBOUND_QUEUE_URL")
            .cloned()
            .unwrap_or_default();
        match seed_sends(&local, &base_url, &queue, 2 * (runs + warmup)).await {
            Ok(s) => sends = s,
            Err(e) => eprintln!("coldstart: no sends seeded for hsm-send ({e})"),
        }
    }
    let mut sends = sends.into_iter();
    let mut next_event =
        |name: &str, def: Option<&conversa_infra::template::FunctionDef>, n: u64| {
            if let (true, Some(def)) = (name == "hsm-send", def) {
                if let Some((body, group)) = sends.next() {
                    return events::seeded_send(def, &body, &group, n);
                }
            }
            events::event_for(name, def, n)
        };

    // Runs interleaved (floor, f1, f2, ..., floor, f1, ...): a slow moment of the
    // machine spreads over every binary instead of landing on one.
    let mut samples: Vec<Vec<Sample>> = vec![Vec::new(); targets.len()];
    let mut failures: Vec<Vec<String>> = vec![Vec::new(); targets.len()];
    let mut describe: Vec<String> = vec![String::new(); targets.len()];
    let mut n: u64 = 0;
    for run in 1 - warmup as isize..=runs as isize {
        let counted = run >= 1;
        for (i, (target, def)) in targets.iter().enumerate() {
            n += 2;
            let first = next_event(&target.name, def.as_ref(), n - 1);
            let warm = next_event(&target.name, def.as_ref(), n);
            describe[i] = first.describe.clone();
            let log = logs.join(format!("{}-{run}.log", target.name));
            let result = measure(target, &first, &warm, &log, TIMEOUT).await;
            let run = if counted {
                format!("run {run}/{runs}")
            } else {
                "warm-up".into()
            };
            match result {
                Ok(s) if !counted => eprintln!(
                    "  {:<16} {run}: init {:7.2} ms (not counted)",
                    target.name,
                    s.init.as_secs_f64() * 1e3
                ),
                Ok(s) => {
                    eprintln!(
                        "  {:<16} {run}: init {:7.2} ms ({:6.2} ms AWS calls), first {:7.2} ms, warm {:6.2} ms, peak RSS {:5.1} MiB",
                        target.name,
                        s.init.as_secs_f64() * 1e3,
                        s.init_aws.as_secs_f64() * 1e3,
                        s.first.as_secs_f64() * 1e3,
                        s.warm.as_secs_f64() * 1e3,
                        s.peak_rss_kib as f64 / 1024.0
                    );
                    samples[i].push(s);
                }
                Err(e) => {
                    let e = format!("{e} (log: {})", log_tail(&log));
                    eprintln!("  {:<16} {run}: FAILED {e}", target.name);
                    if counted {
                        failures[i].push(e);
                    }
                }
            }
        }
    }

    let rows: Vec<Row> = targets
        .iter()
        .enumerate()
        .map(|(i, (t, _))| Row::of(&t.name, &samples[i], failures[i].clone()))
        .collect();
    let table = report::table(&rows[0], &rows[1..]);
    let mut block = format!(
        "Measured {date} by `make bench-coldstart` on this machine ({cpu}, {cores} cores, \
         native x86_64, `{dir}` binaries): {runs} runs per binary after {warmup} not counted, \
         medians.\n\n{table}",
        dir = bin_dir.file_name().and_then(|d| d.to_str()).unwrap_or("?"),
        date = chrono::Utc::now().format("%Y-%m-%d"),
        cpu = cpu_model(),
        cores = std::thread::available_parallelism().map_or(0, |n| n.get()),
    );
    block.push_str("\nThe event each function was given (the warm one the same with new ids):\n\n");
    for (i, (t, _)) in targets.iter().enumerate() {
        block.push_str(&format!("- {}: {}\n", t.name, describe[i]));
    }
    let failed: Vec<String> = rows
        .iter()
        .filter(|r| !r.failures.is_empty())
        .map(|r| {
            format!(
                "- {}: {} of {runs} runs failed, first: {}\n",
                r.name,
                r.failures.len(),
                r.failures[0]
            )
        })
        .collect();
    if !failed.is_empty() {
        block.push_str("\nRuns not counted:\n\n");
        block.push_str(&failed.concat());
    }
    if !missing.is_empty() {
        block.push_str(&format!(
            "\nNot measured (not built in `{}`): {}.\n",
            bin_dir
                .strip_prefix(repo_root())
                .unwrap_or(&bin_dir)
                .display(),
            missing.join(", ")
        ));
    }
    println!("\n{block}");
    if env_or("COLDSTART_WRITE_DOCS", "1") != "0" {
        let path = repo_root().join("docs/performance.md");
        let doc = std::fs::read_to_string(&path)?;
        std::fs::write(&path, report::splice(&doc, &block))?;
        eprintln!("coldstart: table written to {}", path.display());
    }
    drop(emulator);
    Ok(())
}
