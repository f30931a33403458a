//! `agent-api`: the `/v1/` API for agents and assistants, behind the JWT authorizer.

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
    let api = Arc::new(functions::agent_api(
        &clients,
        &process_env,
        Arc::new(SystemClock),
    )?);
    functions::prime_table(&clients, &process_env).await;
    lambda_http::run(service_fn(move |req: Request| {
        let api = api.clone();
        async move { Ok::<_, Error>(api.handle(req).await) }
    }))
    .await
}
