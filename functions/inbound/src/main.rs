//! `inbound`: consumes `inbound.fifo` and answers `SqsBatchResponse` with partial failures.

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
    let inbound = Arc::new(functions::inbound(
        &clients,
        &process_env,
        Arc::new(SystemClock),
    )?);
    functions::prime_table(&clients, &process_env).await;
    lambda_runtime::run(service_fn(move |event: LambdaEvent<SqsEvent>| {
        let inbound = inbound.clone();
        async move { Ok::<SqsBatchResponse, Error>(inbound.handle(event.payload).await) }
    }))
    .await
}
