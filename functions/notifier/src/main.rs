//! `notifier`: on the event bus (an EventBridge rule); see `conversa::app::notifier`.

use conversa::app::config::{process_env, Clients};
use conversa::app::functions::{self, EventFunction};
use conversa::ports::SystemClock;
use lambda_runtime::{service_fn, Error, LambdaEvent};
use serde_json::Value;
use std::sync::Arc;

// One thread: a function serves one event at a time, its waits are on the network, and
// at 256 MB Lambda gives it a fraction of a vCPU; worker threads would only add memory.
#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    conversa::app::logging::init();
    let clients = Clients::from_env().await;
    let handler = Arc::new(functions::notifier(
        &clients,
        &process_env,
        Arc::new(SystemClock),
    )?);
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Value>| {
        let handler = handler.clone();
        // A failure goes back to EventBridge, which retries and then dead-letters it.
        async move { handler.call(event.payload).await.map_err(Error::from) }
    }))
    .await
}
