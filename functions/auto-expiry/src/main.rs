//! `auto-expiry`: on its schedule, closes open conversations past their expiry.

use conversa::app::config::{process_env, Clients};
use conversa::app::functions;
use conversa::ports::SystemClock;
use lambda_runtime::{service_fn, Error, LambdaEvent};
use std::sync::Arc;

// One thread: a function serves one event at a time, its waits are on the network, and
// at 256 MB Lambda gives it a fraction of a vCPU; worker threads would only add memory.
#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    conversa::app::logging::init();
    let clients = Clients::from_env().await;
    let sweeper = Arc::new(functions::auto_expiry(
        &clients,
        &process_env,
        Arc::new(SystemClock),
    )?);
    lambda_runtime::run(service_fn(move |_event: LambdaEvent<serde_json::Value>| {
        let sweeper = sweeper.clone();
        async move {
            let report = sweeper.run().await?;
            Ok::<_, Error>(serde_json::to_value(report)?)
        }
    }))
    .await
}
