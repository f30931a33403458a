//! `make load`: the local stack under load. Starts the stack as `make run` does (the
//! `local-stack` binary beside this one, on free ports; or attaches to a running one with
//! `LOAD_URL`), then 50 concurrent senders post signed webhooks, one message each and
//! every webhook twice (the provider retries), for `LOAD_MESSAGES` messages (10,000) over
//! `LOAD_CONTACTS` contacts (50). It prints webhooks accepted per second (200s over the
//! sending's wall time), messages applied per second end to end (stored by `inbound`, from
//! the first post to the last message stored), and the whole stack's memory (the stack's
//! process and the emulator's, VmRSS sampled every 250 ms, and VmHWM).
//!
//! Progress is read from the emulator's count of successful `TransactWriteItems` (one per
//! message applied; nothing else writes transactions under this load), a counter that
//! costs the stack nothing; at the end the stored messages are counted exactly through
//! the API (each contact's conversation, its message pages).
//!
//! Settings (environment): `LOAD_MESSAGES`, `LOAD_CONTACTS`, `LOAD_SENDERS` (50),
//! `LOAD_COPIES` (2: each webhook posted this often), `LOAD_TIMEOUT_SECS` (1800),
//! `LOAD_URL` and `LOAD_EMULATOR` (attach to a running stack and its emulator; the
//! emulator's endpoint is printed by `make run`; memory is then that of the processes
//! named `local-stack` and their children).

use conversa::provider::signature::sign;
use conversa_infra::dev;
use serde_json::{json, Value};
use std::collections::{BTreeMap, HashSet};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

fn setting(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn free_port() -> std::io::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

/// The stack's processes: the one given and all its descendants (the emulator).
fn process_tree(root: u32) -> Vec<u32> {
    let mut parents: BTreeMap<u32, Vec<u32>> = BTreeMap::new();
    if let Ok(dir) = std::fs::read_dir("/proc") {
        for entry in dir.flatten() {
            let Some(pid) = entry.file_name().to_str().and_then(|s| s.parse().ok()) else {
                continue;
            };
            if let Some(ppid) = stat_ppid(pid) {
                parents.entry(ppid).or_default().push(pid);
            }
        }
    }
    let mut out = vec![root];
    let mut i = 0;
    while i < out.len() {
        if let Some(children) = parents.get(&out[i]) {
            out.extend(children);
        }
        i += 1;
    }
    out
}

fn stat_ppid(pid: u32) -> Option<u32> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // `pid (comm) state ppid ...`: comm may hold spaces, so read after the last ')'.
    let rest = &stat[stat.rfind(')')? + 1..];
    rest.split_whitespace().nth(1)?.parse().ok()
}

/// CPU seconds a process has used (user + system; clock ticks of 1/100 s).
fn cpu_seconds(pid: u32) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let mut fields = stat[stat.rfind(')')? + 1..].split_whitespace().skip(11);
    let user: u64 = fields.next()?.parse().ok()?;
    let system: u64 = fields.next()?.parse().ok()?;
    Some((user + system) as f64 / 100.0)
}

fn comm(pid: u32) -> String {
    std::fs::read_to_string(format!("/proc/{pid}/comm"))
        .map(|s| s.trim().to_owned())
        .unwrap_or_default()
}

/// A `/proc/<pid>/status` field in KiB (VmRSS, VmHWM).
fn status_kib(pid: u32, field: &str) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find(|l| l.starts_with(field))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}

fn mib(kib: u64) -> f64 {
    kib as f64 / 1024.0
}

/// The processes whose memory is the stack's.
#[derive(Clone)]
enum Roots {
    Spawned(u32),
    /// Attached: every process named `local-stack` (and its children).
    Named,
}

impl Roots {
    fn pids(&self) -> Vec<u32> {
        match self {
            Roots::Spawned(pid) => process_tree(*pid),
            Roots::Named => std::fs::read_dir("/proc")
                .into_iter()
                .flatten()
                .flatten()
                .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
                .filter(|&pid| comm(pid) == "local-stack")
                .flat_map(process_tree)
                .collect::<HashSet<u32>>()
                .into_iter()
                .collect(),
        }
    }
}

#[derive(Default)]
struct Memory {
    /// The largest sum of VmRSS seen, KiB.
    peak_sum: AtomicU64,
    /// The last sum, KiB.
    last_sum: AtomicU64,
    /// Per process (pid, name): last VmRSS and VmHWM, KiB.
    processes: Mutex<BTreeMap<u32, (String, u64, u64)>>,
}

impl Memory {
    fn sample(&self, roots: &Roots) {
        let mut sum = 0;
        let mut processes = self.processes.lock().unwrap_or_else(|p| p.into_inner());
        for pid in roots.pids() {
            let (Some(rss), Some(hwm)) = (status_kib(pid, "VmRSS:"), status_kib(pid, "VmHWM:"))
            else {
                continue;
            };
            sum += rss;
            processes.insert(pid, (comm(pid), rss, hwm));
        }
        self.last_sum.store(sum, Ordering::Relaxed);
        self.peak_sum.fetch_max(sum, Ordering::Relaxed);
    }
}

struct Spawned(Child);

impl Drop for Spawned {
    fn drop(&mut self) {
        // The emulator watches its parent and exits with it.
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts `local-stack` (built beside this binary) on free ports; its output goes to
/// `target/load/local-stack.log`.
fn spawn_stack() -> Result<(Spawned, String, String), Box<dyn std::error::Error>> {
    let exe = std::env::current_exe()?;
    let binary = exe.with_file_name("local-stack");
    if !binary.exists() {
        return Err(format!(
            "{} is missing: cargo build -p conversa-infra --bins",
            binary.display()
        )
        .into());
    }
    let (port, emulator_port) = (free_port()?, free_port()?);
    let logs = conversa_infra::repo_root().join("target/load");
    std::fs::create_dir_all(&logs)?;
    let log = std::fs::File::create(logs.join("local-stack.log"))?;
    let child = Command::new(binary)
        .env("PORT", port.to_string())
        .env("CONVERSA_EMULATOR_PORT", emulator_port.to_string())
        .env_remove("CONVERSA_EMULATOR")
        .stdin(Stdio::null())
        .stdout(log.try_clone()?)
        .stderr(log)
        .spawn()?;
    Ok((
        Spawned(child),
        format!("http://127.0.0.1:{port}"),
        format!("http://127.0.0.1:{emulator_port}"),
    ))
}

fn webhook(contact: &str, id: &str, timestamp: i64, text: &str) -> Vec<u8> {
    json!({
        "object": "whatsapp_business_account",
        "entry": [{"id": dev::SAMPLE_WABA_ID, "changes": [{"field": "messages", "value": {
            "messaging_product": "whatsapp",
            "metadata": {"display_phone_number": dev::SAMPLE_DISPLAY_NUMBER,
                         "phone_number_id": dev::SAMPLE_CHANNEL_ID},
            "contacts": [{"profile": {"name": "Load"}, "wa_id": contact}],
            "messages": [{"from": contact, "id": id, "timestamp": timestamp.to_string(),
                          "type": "text", "text": {"body": text}}]
        }}]}]
    })
    .to_string()
    .into_bytes()
}

/// AWS calls the emulator served, by operation.
async fn emulator_calls(http: &reqwest::Client, emulator: &str) -> BTreeMap<String, u64> {
    let calls = async {
        http.get(format!("{emulator}/_test/calls"))
            .send()
            .await
            .ok()?
            .json::<BTreeMap<String, u64>>()
            .await
            .ok()
    };
    calls.await.unwrap_or_default()
}

/// Successful transactions the emulator served (one per message applied).
async fn applied_count(http: &reqwest::Client, emulator: &str) -> Option<u64> {
    let v: Value = http
        .get(format!("{emulator}/_test/ok"))
        .send()
        .await
        .ok()?
        .json()
        .await
        .ok()?;
    Some(
        v["DynamoDB_20120810.TransactWriteItems"]
            .as_u64()
            .unwrap_or(0),
    )
}

/// Messages of this run stored, counted through the API: (stored, distinct).
async fn stored_count(
    http: &reqwest::Client,
    base: &str,
    token: &str,
    contacts: &[String],
    prefix: &str,
) -> Result<(u64, u64), String> {
    let (mut stored, mut distinct) = (0, HashSet::new());
    for contact in contacts {
        let url = format!(
            "{base}/v1/conversations?channel={}&contact={contact}&limit=100",
            dev::SAMPLE_CHANNEL_ID
        );
        let page: Value = get_json(http, &url, token).await?;
        for conversation in page["items"].as_array().into_iter().flatten() {
            let id = conversation["id"].as_str().unwrap_or_default();
            let mut cursor: Option<String> = None;
            loop {
                let mut url = format!("{base}/v1/conversations/{id}/messages?limit=100");
                if let Some(c) = &cursor {
                    url.push_str(&format!("&cursor={c}"));
                }
                let page = get_json(http, &url, token).await?;
                for m in page["items"].as_array().into_iter().flatten() {
                    if let Some(id) = m["id"].as_str().filter(|id| id.starts_with(prefix)) {
                        stored += 1;
                        distinct.insert(id.to_owned());
                    }
                }
                cursor = page["next_cursor"].as_str().map(str::to_owned);
                if cursor.is_none() {
                    break;
                }
            }
        }
    }
    Ok((stored, distinct.len() as u64))
}

async fn get_json(http: &reqwest::Client, url: &str, token: &str) -> Result<Value, String> {
    let r = http
        .get(url)
        .bearer_auth(token)
        .send()
        .await
        .map_err(|e| format!("GET {url}: {e}"))?;
    if !r.status().is_success() {
        return Err(format!("GET {url}: {}", r.status()));
    }
    r.json().await.map_err(|e| format!("GET {url}: {e}"))
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    conversa::aws::install_tls_provider();
    let messages = setting("LOAD_MESSAGES", 10_000);
    let contacts_n = setting("LOAD_CONTACTS", 50).max(1);
    let senders = setting("LOAD_SENDERS", 50).max(1);
    let copies = setting("LOAD_COPIES", 2).max(1);
    let timeout = Duration::from_secs(setting("LOAD_TIMEOUT_SECS", 1800));
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(senders as usize * 2)
        .timeout(Duration::from_secs(60))
        .build()?;

    let (_stack, base, emulator, roots) = match std::env::var("LOAD_URL") {
        Ok(url) if !url.is_empty() => {
            let emulator = std::env::var("LOAD_EMULATOR")
                .map_err(|_| "LOAD_URL needs LOAD_EMULATOR (the emulator's endpoint)")?;
            (None, url, emulator, Roots::Named)
        }
        _ => {
            let (child, base, emulator) = spawn_stack()?;
            let pid = child.0.id();
            (Some(child), base, emulator, Roots::Spawned(pid))
        }
    };
    let started = Instant::now();
    let now_millis = loop {
        if let Ok(r) = http.get(format!("{base}/_dev/clock")).send().await {
            if let Ok(v) = r.json::<Value>().await {
                break v["now_millis"].as_i64().unwrap_or_default();
            }
        }
        if started.elapsed() > Duration::from_secs(180) {
            return Err(format!("the stack did not answer on {base}").into());
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    eprintln!(
        "load: stack on {base} (emulator {emulator}) ready after {:.1} s; {messages} messages over {contacts_n} contacts, {senders} senders, each webhook {copies}x",
        started.elapsed().as_secs_f64()
    );

    let memory = Arc::new(Memory::default());
    let sampling = Arc::new(AtomicBool::new(true));
    let sampler = {
        let (memory, sampling, roots) = (memory.clone(), sampling.clone(), roots.clone());
        std::thread::spawn(move || {
            while sampling.load(Ordering::Relaxed) {
                memory.sample(&roots);
                std::thread::sleep(Duration::from_millis(250));
            }
        })
    };
    memory.sample(&roots);
    let idle_kib = memory.last_sum.load(Ordering::Relaxed);
    let applied_before = applied_count(&http, &emulator).await.unwrap_or(0);
    let calls_before = emulator_calls(&http, &emulator).await;
    let cpu_before: BTreeMap<u32, f64> = roots
        .pids()
        .into_iter()
        .filter_map(|pid| Some((pid, cpu_seconds(pid)?)))
        .collect();

    // Unique per run, so a stack that already saw a run does not drop these as duplicates.
    let run = ulid::Ulid::new().to_string();
    let prefix = format!("wamid.LOAD{run}.");
    let contact = |c: u64| format!("5548966{c:06}");
    let base_secs = now_millis / 1000 - 3600;
    let accepted = Arc::new(AtomicU64::new(0));
    let refused = Arc::new(AtomicU64::new(0));
    let t0 = Instant::now();
    let mut tasks = Vec::new();
    for s in 0..senders {
        let (http, base, prefix) = (http.clone(), base.clone(), prefix.clone());
        let (accepted, refused) = (accepted.clone(), refused.clone());
        tasks.push(tokio::spawn(async move {
            let mut i = s;
            while i < messages {
                let c = i % contacts_n;
                // Each contact's messages a second apart: their order shows in the timestamps.
                let body = webhook(
                    &contact(c),
                    &format!("{prefix}{i:07}"),
                    base_secs + (i / contacts_n) as i64,
                    &format!("load message {i}"),
                );
                let signature = sign(dev::APP_SECRET.as_bytes(), &body);
                for _ in 0..copies {
                    let mut tries = 0;
                    loop {
                        let ok = http
                            .post(format!("{base}/webhooks/whatsapp"))
                            .header("content-type", "application/json")
                            .header("x-hub-signature-256", &signature)
                            .body(body.clone())
                            .send()
                            .await
                            .map(|r| r.status().as_u16() == 200)
                            .unwrap_or(false);
                        if ok {
                            accepted.fetch_add(1, Ordering::Relaxed);
                            break;
                        }
                        refused.fetch_add(1, Ordering::Relaxed);
                        tries += 1;
                        if tries >= 20 {
                            return Err(format!("webhook {i} never accepted"));
                        }
                        tokio::time::sleep(Duration::from_millis(100)).await;
                    }
                }
                i += senders;
            }
            Ok(())
        }));
    }

    // Progress, until every message is stored.
    let mut sent_at: Option<Duration> = None;
    let mut applied_at: Option<Duration> = None;
    let mut last_print = Instant::now();
    let mut applied = 0;
    while applied_at.is_none() && t0.elapsed() < timeout {
        tokio::time::sleep(Duration::from_millis(250)).await;
        if sent_at.is_none() && tasks.iter().all(|t| t.is_finished()) {
            sent_at = Some(t0.elapsed());
        }
        if let Some(n) = applied_count(&http, &emulator).await {
            applied = n.saturating_sub(applied_before);
        }
        if applied >= messages {
            applied_at = Some(t0.elapsed());
        }
        if last_print.elapsed() >= Duration::from_secs(5) || applied_at.is_some() {
            last_print = Instant::now();
            eprintln!(
                "load: {:>6.1} s  webhooks accepted {:>6}  messages applied {:>6}  stack RSS {:>7.1} MiB",
                t0.elapsed().as_secs_f64(),
                accepted.load(Ordering::Relaxed),
                applied,
                mib(memory.last_sum.load(Ordering::Relaxed)),
            );
        }
    }
    for t in tasks {
        if let Ok(Err(e)) = t.await {
            eprintln!("load: {e}");
        }
    }
    let sent_at = sent_at.unwrap_or_else(|| t0.elapsed());
    let Some(applied_at) = applied_at else {
        return Err(format!(
            "only {applied} of {messages} messages applied in {} s",
            timeout.as_secs()
        )
        .into());
    };
    let cpu: Vec<String> = roots
        .pids()
        .into_iter()
        .filter_map(|pid| {
            let used = cpu_seconds(pid)? - cpu_before.get(&pid).copied().unwrap_or(0.0);
            Some(format!(
                "{} {used:.1} s ({:.1} ms a message)",
                comm(pid),
                1000.0 * used / messages as f64
            ))
        })
        .collect();
    let mut calls = emulator_calls(&http, &emulator).await;
    for (op, n) in &calls_before {
        if let Some(c) = calls.get_mut(op) {
            *c = c.saturating_sub(*n);
        }
    }
    let total_calls: u64 = calls.values().sum();
    let mut busiest: Vec<(&String, &u64)> = calls.iter().filter(|(_, n)| **n > 0).collect();
    busiest.sort_by(|a, b| b.1.cmp(a.1));
    let busiest: Vec<String> = busiest
        .iter()
        .take(8)
        .map(|(op, n)| format!("{op} {:.2}", **n as f64 / messages as f64))
        .collect();
    // The relay and the rest settle; then the memory the stack keeps.
    tokio::time::sleep(Duration::from_secs(5)).await;
    memory.sample(&roots);
    sampling.store(false, Ordering::Relaxed);
    let _ = sampler.join();

    let token: Value = http
        .post(format!("{base}/_dev/token"))
        .json(&json!({"sub": "load", "role": "supervisor", "queues": []}))
        .send()
        .await?
        .json()
        .await?;
    let token = token["token"].as_str().unwrap_or_default().to_owned();
    let contacts: Vec<String> = (0..contacts_n.min(messages)).map(contact).collect();
    let (stored, distinct) = stored_count(&http, &base, &token, &contacts, &prefix).await?;

    let webhooks = accepted.load(Ordering::Relaxed);
    let per_process: Vec<String> = memory
        .processes
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .iter()
        .map(|(pid, (name, rss, hwm))| {
            format!(
                "{name} ({pid}): final {:.0} MiB, peak (VmHWM) {:.0} MiB",
                mib(*rss),
                mib(*hwm)
            )
        })
        .collect();
    println!(
        "\nload figures ({messages} messages over {contacts_n} contacts, {senders} senders, each webhook {copies}x)\n\
         webhooks accepted     {webhooks} in {:.1} s = {:.1} /s ({} refused and retried)\n\
         messages applied      {messages} in {:.1} s = {:.1} /s end to end (first post to last stored)\n\
         stored (via the API)  {stored} ({distinct} distinct; lost {}, duplicated {})\n\
         stack memory          idle {:.0} MiB, peak {:.0} MiB (sum of VmRSS), final {:.0} MiB\n  {}\n\
         CPU until applied     {}\n\
         AWS calls a message   {:.1}: {}",
        sent_at.as_secs_f64(),
        webhooks as f64 / sent_at.as_secs_f64(),
        refused.load(Ordering::Relaxed),
        applied_at.as_secs_f64(),
        messages as f64 / applied_at.as_secs_f64(),
        messages.saturating_sub(distinct),
        stored.saturating_sub(distinct),
        mib(idle_kib),
        mib(memory.peak_sum.load(Ordering::Relaxed)),
        mib(memory.last_sum.load(Ordering::Relaxed)),
        per_process.join("\n  "),
        cpu.join(", "),
        total_calls as f64 / messages as f64,
        busiest.join(", "),
    );
    if distinct < messages {
        return Err(format!("{} messages were not stored", messages - distinct).into());
    }
    Ok(())
}
