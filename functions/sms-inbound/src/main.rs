//! `sms-inbound`: on the SMS topic (SNS); see `conversa::app::sms_inbound`.

use aws_lambda_events::sns::SnsEvent;
use conversa::app::config::{process_env, Clients};
use conversa::app::functions::{self, SnsFunction};
use conversa::ports::SystemClock;
use lambda_runtime::{service_fn, Error, LambdaEvent};
use std::sync::Arc;

// One thread: a function serves one event at a time, its waits are on the network, and
// at 256 MB Lambda gives it a fraction of a vCPU; worker threads would only add memory.
#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    conversa::app::logging::init();
    let clients = Clients::from_env().await;
    let handler = Arc::new(functions::sms_inbound(
        &clients,
        &process_env,
        Arc::new(SystemClock),
    )?);
    functions::prime_table(&clients, &process_env).await;
    lambda_runtime::run(service_fn(move |event: LambdaEvent<SnsEvent>| {
        let handler = handler.clone();
        // A failure goes back to Lambda, which retries the SNS event twice and then sends
        // it to the function's on-failure destination.
        async move { handler.call(event.payload).await.map_err(Error::from) }
    }))
    .await
}
