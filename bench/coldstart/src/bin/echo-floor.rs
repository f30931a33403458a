//! The floor of `make bench-coldstart`: a bare `lambda_runtime` function that answers
//! with the payload it was given. No SDK, no secrets, no logging setup: what any Rust
//! Lambda function pays, built with the workspace's release profile like the others.

use lambda_runtime::{service_fn, Error, LambdaEvent};
use serde_json::Value;

#[tokio::main]
async fn main() -> Result<(), Error> {
    lambda_runtime::run(service_fn(|event: LambdaEvent<Value>| async move {
        Ok::<Value, Error>(event.payload)
    }))
    .await
}
