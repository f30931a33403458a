//! The local stack: the AWS emulator, resources created from `template.yaml`, and every
//! function of the template served in one process with the same handlers as in Lambda.

pub mod calls;
pub mod clock;
pub mod console;
pub mod devauth;
pub mod emulator;
pub mod faults;
pub mod provision;
pub mod runtime;
pub mod sandbox;
pub mod sandbox_sms;
pub mod scheduler;
pub mod server;
pub mod sms_dev;
pub mod streams;
pub mod template;
pub mod websocket;

use std::path::PathBuf;

/// The repository root (where `template.yaml` lives).
pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("."))
}

use crate::clock::DevClock;
use crate::emulator::Emulator;
use crate::provision::{capture_events, provision, put_secure_parameter, ProvisionError, Stack};
use crate::runtime::{Runtime, RuntimeError};
use crate::template::Template;
use aws_config::SdkConfig;
use conversa::aws::DynamoStore;
use conversa::domain::Channel;
use conversa::ports::{ChannelStore, QueueStore, TemplateCatalogue};
use std::collections::HashMap;
use std::sync::Arc;
use tokio::sync::Mutex;

/// The documented development settings (README, "Local stack").
pub mod dev {
    pub const VERIFY_TOKEN: &str = "dev-verify-token";
    pub const APP_SECRET: &str = "dev-app-secret";
    pub const SAMPLE_CHANNEL_ID: &str = "100000000000001";
    pub const SAMPLE_DISPLAY_NUMBER: &str = "554830000001";
    pub const SAMPLE_WABA_ID: &str = "200000000000001";
    /// The sample SMS channel's origination number; its channel id is
    /// `sms-554830000099` (`ChannelKind::sms_channel_id`).
    pub const SAMPLE_SMS_NUMBER: &str = "554830000099";
    pub const SAMPLE_SMS_CHANNEL_ID: &str = "sms-554830000099";
    /// What the local stack gives `SmsOriginationIdentityArns`: the sample number's ARN
    /// as the stack names it (AWS's ids are `phone-` and a hex string; the emulator has no
    /// SMS numbers), which `tests/src/iam.rs` names a send from `+554830000099` by.
    pub const SAMPLE_SMS_NUMBER_ARN: &str =
        "arn:aws:sms-voice:us-east-1:123456789012:phone-number/phone-554830000099";
    /// The configuration set the local stack's SMS sends name (`SmsConfigurationSetName`).
    pub const SMS_CONFIGURATION_SET: &str = "conversa-local-sms";
    pub const GRAPH_TOKEN: &str = "dev-graph-token";
    pub const STACK_NAME: &str = "conversa-local";
    pub const PORT: u16 = 3000;
}

#[derive(Debug, thiserror::Error)]
pub enum LocalStackError {
    #[error(transparent)]
    Provision(#[from] ProvisionError),
    #[error(transparent)]
    Template(#[from] template::TemplateError),
    #[error(transparent)]
    Runtime(#[from] RuntimeError),
    #[error("seed: {0}")]
    Seed(#[from] conversa::ports::PortError),
}

/// A provisioned, seeded stack with its functions ready to invoke.
pub struct LocalStack {
    pub stack: Stack,
    pub config: SdkConfig,
    pub clock: Arc<DevClock>,
    pub runtime: Arc<Runtime>,
    pub events_queue_url: String,
    events: Mutex<Vec<serde_json::Value>>,
    /// What the sandbox provider was asked to send.
    pub outbox: Mutex<Vec<serde_json::Value>>,
    /// The sandbox provider's fault rules (`/_dev/provider/faults`).
    pub provider_faults: Mutex<Vec<sandbox::ProviderFault>>,
    /// Where this stack is served (the sandbox posts status webhooks there).
    pub base_url: String,
    /// Does the sandbox post `sent`/`delivered`/`read` webhooks after a send (`make run`;
    /// off in tests unless one turns it on).
    pub status_webhooks: std::sync::atomic::AtomicBool,
    /// The wait before each status webhook, in milliseconds.
    pub status_delay_ms: std::sync::atomic::AtomicU64,
    /// Status webhooks the sandbox has yet to post (a test jumps the clocks only when
    /// none is under way: in real time they arrive long before any reconcile delay).
    pub status_webhooks_in_flight: std::sync::atomic::AtomicUsize,
    /// The sandbox's fault draws (fixed seed: a run repeats).
    pub fault_seed: std::sync::atomic::AtomicU64,
    /// `make run`: moving the development clock also moves the emulator's clock, so SQS
    /// delays (timers) elapse with it. Off in tests, which share one emulator.
    pub emulator_time: bool,
    /// When each scheduled function last ran, by the development clock.
    last_runs: Mutex<HashMap<String, i64>>,
    /// Open WebSocket connections (`/ws`).
    pub ws: websocket::Connections,
    /// The functions' metric lines (CloudWatch EMF), the last [`METRIC_LINES_KEPT`]:
    /// `GET /_dev/metrics`, and what tests read.
    pub metrics: Arc<conversa::app::metrics::CapturedLines>,
}

/// How many metric lines the local stack keeps.
pub const METRIC_LINES_KEPT: usize = 10_000;

/// How many published events `make run` keeps for `GET /_dev/events`.
pub const EVENTS_KEPT: usize = 10_000;

/// The sample channel the local stack and the tests start with.
pub fn sample_channel() -> Channel {
    let mut c = Channel::new(dev::SAMPLE_CHANNEL_ID, dev::SAMPLE_DISPLAY_NUMBER);
    c.name = "Conversa Demo".into();
    c.color = "#25D366".into();
    c.waba_id = dev::SAMPLE_WABA_ID.into();
    c.outbound_enabled = true;
    c.default_queue = "support".into();
    // No setting of its own: it follows the stack's `DefaultAutoCloseHours`.
    c.auto_close_hours = 0;
    c
}

/// The sample SMS channel (Voitel Lynk, manual 004): agents may start sessions on it; its
/// sends go from its number. `make run` seeds it beside the WhatsApp one; a test stack
/// adds it when a test asks ([`LocalStack::seed_sms_channel`]), so tests that start
/// conversations on "the one channel that may start" keep one.
pub fn sample_sms_channel() -> Channel {
    let mut c = Channel::new(dev::SAMPLE_SMS_CHANNEL_ID, dev::SAMPLE_SMS_NUMBER);
    c.name = "Conversa SMS".into();
    c.color = "#1E88E5".into();
    c.outbound_enabled = true;
    c.default_queue = "support".into();
    c.auto_close_hours = 0;
    c
}

/// The sample queues: `support` (manual capture, the sample channel's default) and
/// `sales` (automatic capture: the first agent to answer takes the conversation).
pub fn sample_queues() -> Vec<conversa::domain::workspace::Queue> {
    use conversa::domain::workspace::{AssignmentMode, Queue};
    vec![
        Queue {
            id: "support".into(),
            name: "Suporte".into(),
            mode: AssignmentMode::ManualCapture,
            offline_message: None,
            max_concurrent: None,
            reassign_after_seconds: None,
            position_notice: None,
        },
        Queue {
            id: "sales".into(),
            name: "Vendas".into(),
            mode: AssignmentMode::AutomaticCapture,
            offline_message: None,
            max_concurrent: None,
            reassign_after_seconds: None,
            position_notice: None,
        },
    ]
}

/// The sample channel's template catalogue, as the sandbox provider serves it.
pub fn sandbox_templates() -> Vec<conversa::domain::template::Template> {
    let templates = serde_json::json!([
        {"name": "welcome", "language": "pt_BR", "category": "UTILITY", "status": "APPROVED", "id": "1001",
         "components": [
            {"type": "BODY", "text": "Olá {{1}}, aqui é da Conversa. Podemos continuar seu atendimento?"},
            {"type": "FOOTER", "text": "Responda para continuar"},
            {"type": "BUTTONS", "buttons": [{"type": "QUICK_REPLY", "text": "Sim"}, {"type": "QUICK_REPLY", "text": "Agora não"}]}
         ]},
        {"name": "order_update", "language": "pt_BR", "category": "UTILITY", "status": "APPROVED", "id": "1002",
         "components": [
            {"type": "HEADER", "format": "TEXT", "text": "Pedido {{1}}"},
            {"type": "BODY", "text": "Olá {{1}}, seu pedido está {{2}}."}
         ]},
        {"name": "promo_black_friday", "language": "pt_BR", "category": "MARKETING", "status": "PENDING", "id": "1003",
         "components": [{"type": "BODY", "text": "Ofertas para você, {{1}}!"}]}
    ]);
    serde_json::from_value(templates).unwrap_or_default()
}

impl LocalStack {
    /// Adds the sample SMS channel ([`sample_sms_channel`]).
    pub async fn seed_sms_channel(&self) -> Result<(), conversa::ports::PortError> {
        use conversa::ports::ChannelStore;
        self.store().put_channel(&sample_sms_channel()).await
    }

    /// Creates the template's resources under `stack_name`, stores the development
    /// secrets, seeds the sample channel and builds every function.
    /// `base_url` is where this stack is served: the sandbox provider lives there unless
    /// `overrides` names another `GraphApiBaseUrl` (a test's HTTP stub).
    pub async fn create(
        template: &Template,
        stack_name: &str,
        config: SdkConfig,
        base_url: &str,
        overrides: HashMap<String, String>,
    ) -> Result<Self, LocalStackError> {
        let mut parameters = HashMap::from([
            (
                "GraphApiBaseUrl".to_owned(),
                format!("{base_url}{}", server::SANDBOX_GRAPH),
            ),
            // SMS sends go to the sandbox too (`SendTextMessage`, `crate::sandbox_sms`).
            (
                "SmsEndpointUrl".to_owned(),
                format!("{base_url}{}", server::SANDBOX_SMS),
            ),
            (
                "SmsOriginationIdentityArns".to_owned(),
                dev::SAMPLE_SMS_NUMBER_ARN.to_owned(),
            ),
            (
                "SmsConfigurationSetName".to_owned(),
                dev::SMS_CONFIGURATION_SET.to_owned(),
            ),
        ]);
        parameters.extend(overrides);
        let stack = provision(template, stack_name, &config, &parameters).await?;
        for (param, value) in [
            ("VerifyTokenParameterName", dev::VERIFY_TOKEN),
            ("AppSecretParameterName", dev::APP_SECRET),
            ("GraphTokenParameterName", dev::GRAPH_TOKEN),
        ] {
            if let Some(name) = stack.resolver.parameters.get(param) {
                put_secure_parameter(&config, name, value).await?;
            }
        }
        let store = Self::store_of(&stack, &config);
        store.put_channel(&sample_channel()).await?;
        for t in sandbox_templates() {
            store.put_template(dev::SAMPLE_CHANNEL_ID, &t).await?;
        }
        for q in sample_queues() {
            store.put_queue(&q).await?;
        }
        let events_queue_url = capture_events(&stack, "EventBus", &config).await?;
        let clock = Arc::new(DevClock::default());
        let metrics = Arc::new(conversa::app::metrics::CapturedLines::new(
            METRIC_LINES_KEPT,
        ));
        let runtime = Arc::new(
            Runtime::build(&stack, &config, clock.clone(), base_url, metrics.clone()).await?,
        );
        Ok(Self {
            stack,
            config,
            clock,
            runtime,
            events_queue_url,
            events: Mutex::new(Vec::new()),
            outbox: Mutex::new(Vec::new()),
            provider_faults: Mutex::new(Vec::new()),
            base_url: base_url.to_owned(),
            status_webhooks: std::sync::atomic::AtomicBool::new(false),
            status_delay_ms: std::sync::atomic::AtomicU64::new(200),
            status_webhooks_in_flight: std::sync::atomic::AtomicUsize::new(0),
            fault_seed: std::sync::atomic::AtomicU64::new(0x9E37_79B9_7F4A_7C15),
            emulator_time: false,
            last_runs: Mutex::new(HashMap::new()),
            ws: websocket::Connections::default(),
            metrics,
        })
    }

    /// The metric documents the functions wrote so far, oldest first.
    pub fn metric_documents(&self) -> Vec<serde_json::Value> {
        self.metrics
            .lines()
            .iter()
            .filter_map(|l| serde_json::from_str(l).ok())
            .collect()
    }

    /// Runs every event source mapping and fires due schedules, until the process ends;
    /// reads the published events as they come, keeping the last [`EVENTS_KEPT`] (the
    /// capture queue would otherwise hold every event of the session in the emulator).
    pub fn spawn_background(self: &Arc<Self>) {
        self.runtime.spawn_pollers();
        let stack = self.clone();
        tokio::spawn(async move {
            loop {
                stack.tick().await;
                tokio::time::sleep(std::time::Duration::from_secs(1)).await;
            }
        });
        let stack = self.clone();
        tokio::spawn(async move {
            loop {
                drop(stack.read_events(Some(EVENTS_KEPT)).await);
                tokio::time::sleep(std::time::Duration::from_secs(2)).await;
            }
        });
    }

    /// One beat of the local stack's schedulers, by the development clock: due one-time
    /// schedules fire, and scheduled functions (`rate(...)`) run when their rate elapsed.
    pub async fn tick(&self) {
        use conversa::ports::Clock;
        let now = self.clock.now();
        if let Err(e) = scheduler::fire_due(&self.stack, &self.config, now).await {
            tracing::warn!(error = %e, "schedules not fired");
        }
        let mut last = self.last_runs.lock().await;
        for s in &self.runtime.scheduled {
            let Some(every) = scheduler::rate_millis(&s.expression) else {
                continue;
            };
            let previous = *last.entry(s.function.clone()).or_insert(now);
            if now - previous >= every {
                last.insert(s.function.clone(), now);
                match s.handler.call().await {
                    Ok(report) => {
                        tracing::info!(function = %s.function, %report, "scheduled function ran")
                    }
                    Err(e) => {
                        tracing::warn!(function = %s.function, error = %e, "scheduled function failed")
                    }
                }
            }
        }
    }

    /// Moves the development clock (and, for `make run`, the emulator's), then fires what
    /// became due at once.
    pub async fn advance_clock(&self, seconds: i64) -> i64 {
        use conversa::ports::Clock;
        let now = self.clock.advance_seconds(seconds);
        if self.emulator_time {
            if let Some(endpoint) = self.config.endpoint_url() {
                let url = format!("{endpoint}/_test/time/advance?seconds={seconds}");
                if let Err(e) = reqwest::Client::new().post(url).send().await {
                    tracing::warn!(error = %e, "emulator clock not moved");
                }
            }
        }
        if self.emulator_time {
            self.tick().await;
        } else if let Err(e) =
            scheduler::fire_due(&self.stack, &self.config, self.clock.now()).await
        {
            tracing::warn!(error = %e, "schedules not fired");
        }
        now
    }

    /// The table as the functions see it, with the stack's `DefaultAutoCloseHours`.
    fn store_of(stack: &Stack, config: &SdkConfig) -> DynamoStore {
        let default_hours = stack
            .resolver
            .parameters
            .get("DefaultAutoCloseHours")
            .and_then(|h| h.parse().ok())
            .unwrap_or(24);
        DynamoStore::new(
            aws_sdk_dynamodb::Client::new(config),
            stack.reference("ConversationsTable").unwrap_or_default(),
            90,
        )
        .with_default_auto_close_hours(default_hours)
    }

    /// The store the functions use, for seeding and inspection.
    pub fn store(&self) -> DynamoStore {
        Self::store_of(&self.stack, &self.config)
    }

    /// Every event published so far, oldest first (in `make run`, the last
    /// [`EVENTS_KEPT`]).
    pub async fn events_seen(&self) -> Vec<serde_json::Value> {
        // What was committed is published by the relay: let it catch up first.
        self.runtime.drain_streams().await;
        self.read_events(None).await.clone()
    }

    /// Moves what the capture queue holds into `events`, keeping the last `keep` if given.
    async fn read_events(
        &self,
        keep: Option<usize>,
    ) -> tokio::sync::MutexGuard<'_, Vec<serde_json::Value>> {
        let sqs = aws_sdk_sqs::Client::new(&self.config);
        let mut seen = self.events.lock().await;
        loop {
            let Ok(out) = sqs
                .receive_message()
                .queue_url(&self.events_queue_url)
                .max_number_of_messages(10)
                .send()
                .await
            else {
                break;
            };
            let messages = out.messages.unwrap_or_default();
            if messages.is_empty() {
                break;
            }
            let mut read = Vec::new();
            for (i, m) in messages.iter().enumerate() {
                if let Some(v) = m.body().and_then(|b| serde_json::from_str(b).ok()) {
                    seen.push(v);
                }
                if let Ok(entry) = aws_sdk_sqs::types::DeleteMessageBatchRequestEntry::builder()
                    .id(i.to_string())
                    .receipt_handle(m.receipt_handle().unwrap_or_default())
                    .build()
                {
                    read.push(entry);
                }
            }
            let _ = sqs
                .delete_message_batch()
                .queue_url(&self.events_queue_url)
                .set_entries(Some(read))
                .send()
                .await;
            if let Some(keep) = keep {
                let excess = seen.len().saturating_sub(keep);
                seen.drain(..excess);
            }
        }
        seen
    }
}

/// Starts the emulator (or uses `CONVERSA_EMULATOR`), for `make run` and the tests.
pub fn emulator_from_env(port: u16) -> Result<Emulator, emulator::EmulatorError> {
    // Every client of the local stack and the tests is built after this.
    conversa::aws::install_tls_provider();
    match std::env::var("CONVERSA_EMULATOR") {
        Ok(endpoint) if !endpoint.is_empty() => Ok(Emulator::existing(endpoint)),
        _ => Emulator::start(&repo_root(), port),
    }
}
