//! `template-sync`: on its schedule, copies each channel's templates from the Graph API.

use conversa::app::config::{process_env, Clients};
use conversa::app::functions;
use lambda_runtime::{service_fn, Error, LambdaEvent};
use std::sync::Arc;

// One thread: a function serves one event at a time, its waits are on the network, and
// at 256 MB Lambda gives it a fraction of a vCPU; worker threads would only add memory.
#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    conversa::app::logging::init();
    let clients = Clients::from_env().await;
    let sync = Arc::new(functions::template_sync(&clients, &process_env)?);
    lambda_runtime::run(service_fn(move |_event: LambdaEvent<serde_json::Value>| {
        let sync = sync.clone();
        async move {
            let report = sync.run().await?;
            Ok::<_, Error>(serde_json::to_value(report)?)
        }
    }))
    .await
}
