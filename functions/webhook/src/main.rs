//! `webhook`: API Gateway → verify → `inbound.fifo`. Clients and secrets are built once.

use conversa::app::config::{process_env, Clients};
use conversa::app::functions;
use conversa::ports::SystemClock;
use lambda_http::{service_fn, Error, Request};
use std::sync::Arc;

#[tokio::main]
async fn main() -> Result<(), Error> {
    lambda_http::tracing::init_default_subscriber();
    let clients = Clients::from_env().await;
    let webhook =
        Arc::new(functions::webhook(&clients, &process_env, Arc::new(SystemClock)).await?);
    lambda_http::run(service_fn(move |req: Request| {
        let webhook = webhook.clone();
        async move { Ok::<_, Error>(webhook.handle(req).await) }
    }))
    .await
}
