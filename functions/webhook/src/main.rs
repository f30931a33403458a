//! `webhook`: API Gateway → verify → `inbound.fifo`. Clients and secrets are built once.

use conversa::app::config::{process_env, Clients};
use conversa::app::functions;
use conversa::ports::SystemClock;
use lambda_http::{service_fn, Error, Request};
use std::sync::Arc;

// One thread: a function serves one event at a time, its waits are on the network, and
// at 256 MB Lambda gives it a fraction of a vCPU; worker threads would only add memory.
#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    conversa::app::logging::init();
    let clients = Clients::from_env().await;
    let webhook =
        Arc::new(functions::webhook(&clients, &process_env, Arc::new(SystemClock)).await?);
    lambda_http::run(service_fn(move |req: Request| {
        let webhook = webhook.clone();
        async move { Ok::<_, Error>(webhook.handle(req).await) }
    }))
    .await
}
