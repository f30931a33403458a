//! `window-check`: `GET /v1/channels/{channel}/contacts/{phone}/window`.

use conversa::app::config::{process_env, Clients};
use conversa::app::functions;
use conversa::ports::SystemClock;
use lambda_http::{service_fn, Error, Request};
use std::sync::Arc;

#[tokio::main]
async fn main() -> Result<(), Error> {
    lambda_http::tracing::init_default_subscriber();
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
