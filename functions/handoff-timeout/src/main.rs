//! `handoff-timeout`: consumes the timers queue (handoff wait, user inactivity, grouping).

use aws_lambda_events::sqs::{SqsBatchResponse, SqsEvent};
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
    let handler = Arc::new(functions::handoff_timeout(
        &clients,
        &process_env,
        Arc::new(SystemClock),
    )?);
    lambda_runtime::run(service_fn(move |event: LambdaEvent<SqsEvent>| {
        let handler = handler.clone();
        async move { Ok::<SqsBatchResponse, Error>(handler.handle(event.payload).await) }
    }))
    .await
}
