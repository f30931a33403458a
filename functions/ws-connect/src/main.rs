//! `ws-connect`: the WebSocket API's `$connect` (token check) and `$disconnect`; see
//! `conversa::app::sockets`.

use aws_lambda_events::apigw::{ApiGatewayProxyResponse, ApiGatewayWebsocketProxyRequest};
use conversa::app::config::{process_env, Clients};
use conversa::app::functions::{self, WebSocketFunction};
use conversa::ports::SystemClock;
use lambda_runtime::{service_fn, Error, LambdaEvent};
use std::sync::Arc;

// One thread: a function serves one event at a time, its waits are on the network, and
// at 256 MB Lambda gives it a fraction of a vCPU; worker threads would only add memory.
#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    conversa::app::logging::init();
    let clients = Clients::from_env().await;
    let handler = Arc::new(functions::ws_connect(
        &clients,
        &process_env,
        Arc::new(SystemClock),
    )?);
    lambda_runtime::run(service_fn(
        move |event: LambdaEvent<ApiGatewayWebsocketProxyRequest>| {
            let handler = handler.clone();
            async move { Ok::<ApiGatewayProxyResponse, Error>(handler.call(event.payload).await) }
        },
    ))
    .await
}
