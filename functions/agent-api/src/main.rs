//! `agent-api`: the `/v1/` API for agents and assistants, behind the JWT authorizer.

use conversa::app::config::{process_env, Clients};
use conversa::app::functions;
use conversa::ports::SystemClock;
use lambda_http::{service_fn, Error, Request};
use std::sync::Arc;

#[tokio::main]
async fn main() -> Result<(), Error> {
    lambda_http::tracing::init_default_subscriber();
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
