//! Copies every channel's templates from the Graph API into the table, once: the same use
//! case the `template-sync` schedule runs. Reads the functions' environment variables
//! (`TABLE_NAME`, `EVENT_BUS_NAME`, `GRAPH_TOKEN_PARAMETER`, `GRAPH_API_*`) and the
//! standard AWS credentials, so it works against a deployed stack:
//!
//! `TABLE_NAME=... EVENT_BUS_NAME=... GRAPH_TOKEN_PARAMETER=/conversa/whatsapp/graph-token cargo run -p conversa-infra --bin sync-templates`

use conversa::app::config::{process_env, Clients};
use conversa::app::functions;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    conversa::app::logging::init();
    let clients = Clients::from_env().await;
    let sync = functions::template_sync(&clients, &process_env)?;
    let report = sync.run().await?;
    println!("{}", serde_json::to_string_pretty(&report)?);
    if !report.failed_channels.is_empty() {
        std::process::exit(1);
    }
    Ok(())
}
