//! The SDK configuration a deployed function builds from Lambda's environment, and its
//! priming read: against the emulator, in a binary of its own (it sets the process's
//! credential variables, as Lambda does).

use conversa::app::{config::lambda_sdk_config, config::Clients, functions::prime_table};
use conversa_tests::*;
use std::collections::HashMap;

#[tokio::test]
async fn a_function_configured_from_lambdas_environment_reaches_the_table_and_primes_it() {
    let t = stack().await;
    let endpoint = t
        .config
        .endpoint_url()
        .expect("emulator endpoint")
        .to_owned();
    let table = t
        .local
        .stack
        .reference("ConversationsTable")
        .expect("table")
        .to_owned();
    // What Lambda sets: the region and the execution role's credentials.
    std::env::set_var("AWS_ACCESS_KEY_ID", "conversa-local");
    std::env::set_var("AWS_SECRET_ACCESS_KEY", "conversa-local");
    std::env::set_var("AWS_SESSION_TOKEN", "lambda");
    let env: HashMap<&str, String> = HashMap::from([
        ("AWS_REGION", "us-east-1".to_owned()),
        ("AWS_ENDPOINT_URL", endpoint),
        ("TABLE_NAME", table.clone()),
    ]);
    let lookup = move |k: &str| env.get(k).cloned();
    let config = lambda_sdk_config(&lookup);
    assert_eq!(config.region().map(|r| r.as_ref()), Some("us-east-1"));
    let clients = Clients::new(&config);

    reset_emulator_calls().await;
    prime_table(&clients, &lookup).await;
    let calls = emulator_calls().await;
    assert_eq!(
        calls.get("DynamoDB_20120810.GetItem"),
        Some(&1),
        "one priming read, signed with the environment's credentials: {calls:?}"
    );
    let described = clients
        .dynamodb()
        .describe_table()
        .table_name(&table)
        .send()
        .await;
    assert!(described.is_ok(), "{described:?}");
}
