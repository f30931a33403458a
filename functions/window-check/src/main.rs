//! `window-check`: `GET /v1/channels/{channel}/contacts/{phone}/window`.

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
    let check = Arc::new(functions::window_check(
        &clients,
        &process_env,
        Arc::new(SystemClock),
    )?);
    lambda_http::run(service_fn(move |req: Request| {
        let check = check.clone();
        async move { Ok::<_, Error>(check.handle(req).await) }
    }))
    .await
}
