//! `event-relay`: the outbox, from the table's DynamoDB stream to the bus, the outbound
//! queue and the timers; answers where the stream must resume after a failure.

use aws_lambda_events::dynamodb::Event;
use aws_lambda_events::streams::DynamoDbEventResponse;
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
    let relay = Arc::new(functions::event_relay(
        &clients,
        &process_env,
        Arc::new(SystemClock),
    )?);
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Event>| {
        let relay = relay.clone();
        async move { Ok::<DynamoDbEventResponse, Error>(relay.handle(event.payload).await) }
    }))
    .await
}
