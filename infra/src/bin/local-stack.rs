//! `make run`: the whole stack on http://127.0.0.1:3000 against the embedded emulator.

use conversa_infra::{dev, emulator_from_env, repo_root, server, template::Template, LocalStack};
use std::sync::Arc;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    if std::env::var("AWS_LAMBDA_LOG_FORMAT").is_err() {
        std::env::set_var("AWS_LAMBDA_LOG_FORMAT", "JSON");
    }
    conversa::app::logging::init();
    let port: u16 = std::env::var("PORT")
        .ok()
        .and_then(|p| p.parse().ok())
        .unwrap_or(dev::PORT);
    let emulator_port: u16 = std::env::var("CONVERSA_EMULATOR_PORT")
        .ok()
        .and_then(|p| p.parse().ok())
        .unwrap_or(0);
    // Bound first: the scripts that pick a free port for this stack (contract, deploy guide)
    // hold no reservation on it, and the emulator's start takes a second or two.
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await?;
    // PORT=0: the port the kernel chose, which the sandbox's webhooks must post to.
    let port = listener.local_addr()?.port();
    let emulator = emulator_from_env(emulator_port)?;
    let config = emulator.sdk_config().await;
    let template = Template::load(&repo_root().join("template.yaml"))?;
    let base_url = format!("http://127.0.0.1:{port}");
    let mut local = LocalStack::create(
        &template,
        dev::STACK_NAME,
        config,
        &base_url,
        Default::default(),
    )
    .await?;
    local.emulator_time = true;
    local.seed_sms_channel().await?;
    // The sandbox answers like the Cloud API, status webhooks included.
    local
        .status_webhooks
        .store(true, std::sync::atomic::Ordering::Relaxed);
    let stack = Arc::new(local);
    stack.spawn_background();
    let routes: Vec<String> = stack
        .runtime
        .routes
        .iter()
        .map(|r| {
            format!(
                "  {:<6} {:<28} -> {}{}",
                r.method,
                r.path,
                r.function,
                if r.authorized { " (JWT)" } else { "" }
            )
        })
        .collect();
    println!(
        r#"
conversa local stack on http://127.0.0.1:{port}   (emulator: {emulator})

Routes from template.yaml:
{routes}
  POST   /_dev/token   {{"sub": "agent-1", "role": "agent", "queues": ["support"]}} -> {{"token": ...}}
  POST   /_dev/clock   {{"advance_seconds": 3600}}
  GET    /_dev/events  the events published on the bus (the last 10,000)
  GET    /_dev/outbox  what the sandbox provider was asked to send
  POST   /_dev/run/TemplateSyncFunction   run a scheduled function now
  POST   /_dev/faults  {{"service": "sqs", "operation": "SendMessageBatch", "error": "ServiceUnavailable"}}
  POST   /_dev/provider/faults  {{"status": 500, "times": 1}}   (GET lists, DELETE clears, both)

Development settings: verify token {vt}, app secret {secret},
sample channel phone_number_id {ch} (display number {num}).

Send a signed sample webhook, then look at the conversation:
  cargo run -q -p conversa-infra --bin send-webhook -- events/webhook-text.json
  TOKEN=$(curl -s -XPOST localhost:{port}/_dev/token -d '{{"sub":"agent-1","role":"agent","queues":["support"]}}' | sed 's/.*"token":"\([^"]*\)".*/\1/')
  curl -s -H "Authorization: Bearer $TOKEN" 'localhost:{port}/v1/conversations?channel={ch}&contact=5548999990000'
"#,
        emulator = emulator.endpoint,
        routes = routes.join("\n"),
        vt = dev::VERIFY_TOKEN,
        secret = dev::APP_SECRET,
        ch = dev::SAMPLE_CHANNEL_ID,
        num = dev::SAMPLE_DISPLAY_NUMBER,
    );
    axum::serve(listener, server::router(stack)).await?;
    Ok(())
}
