//! The AWS calls each function of the local stack makes, noted on the way out of its own
//! SDK clients, so a test can tell which function made which call (the emulator only
//! counts calls per process). Off unless a test asks before building its stack
//! ([`record_aws_calls`]): each function then gets an SDK configuration of its own whose
//! HTTP client notes every request before sending it. `tests/tests/template_consistency.rs`
//! checks what each function called against the IAM policies the template gives it.

use aws_config::SdkConfig;
use aws_smithy_runtime_api::client::http::{
    http_client_fn, HttpClient, HttpConnector, HttpConnectorFuture, SharedHttpConnector,
};
use aws_smithy_runtime_api::client::orchestrator::HttpRequest;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

static RECORD: AtomicBool = AtomicBool::new(false);

/// Every local stack built after this (in this process) records its functions' AWS calls
/// in [`crate::runtime::Runtime::calls`].
pub fn record_aws_calls() {
    RECORD.store(true, Ordering::SeqCst);
}

pub(crate) fn recording() -> bool {
    RECORD.load(Ordering::SeqCst)
}

/// One request a function's SDK client sent (each attempt of a retried call).
#[derive(Debug, Clone)]
pub struct Call {
    /// The function's logical id in the template.
    pub function: String,
    /// The service's signing name, from the request's signature: `dynamodb`, `sqs`,
    /// `events`, `ssm`, `scheduler`, `execute-api`.
    pub service: String,
    /// `X-Amz-Target` (`DynamoDB_20120810.GetItem`) for the JSON protocols.
    pub target: Option<String>,
    pub method: String,
    pub uri: String,
    pub body: Vec<u8>,
}

/// The calls recorded so far, oldest first.
#[derive(Debug, Default)]
pub struct CallLog {
    calls: Mutex<Vec<Call>>,
}

impl CallLog {
    pub fn calls(&self) -> Vec<Call> {
        self.calls.lock().map(|c| c.clone()).unwrap_or_default()
    }

    fn push(&self, call: Call) {
        if let Ok(mut calls) = self.calls.lock() {
            calls.push(call);
        }
    }
}

#[derive(Debug)]
struct Recorder {
    function: String,
    log: Arc<CallLog>,
    inner: SharedHttpConnector,
}

impl HttpConnector for Recorder {
    fn call(&self, request: HttpRequest) -> HttpConnectorFuture {
        let header = |name: &str| request.headers().get(name).map(str::to_owned);
        // `AWS4-HMAC-SHA256 Credential=KEY/DATE/REGION/SERVICE/aws4_request, ...`
        let service = header("authorization")
            .and_then(|a| {
                let scope = a.split("Credential=").nth(1)?.split(',').next()?.to_owned();
                scope.split('/').nth(3).map(str::to_owned)
            })
            .unwrap_or_default();
        self.log.push(Call {
            function: self.function.clone(),
            service,
            target: header("x-amz-target"),
            method: request.method().to_owned(),
            uri: request.uri().to_owned(),
            body: request
                .body()
                .bytes()
                .map(<[u8]>::to_vec)
                .unwrap_or_default(),
        });
        self.inner.call(request)
    }
}

/// `config` for one function, its requests noted in `log` under `function`.
pub(crate) fn recorded_config(config: &SdkConfig, function: &str, log: &Arc<CallLog>) -> SdkConfig {
    let Some(inner) = config.http_client() else {
        return config.clone();
    };
    let (function, log) = (function.to_owned(), log.clone());
    let client = http_client_fn(move |settings, components| {
        SharedHttpConnector::new(Recorder {
            function: function.clone(),
            log: log.clone(),
            inner: inner.http_connector(settings, components),
        })
    });
    config.to_builder().http_client(client).build()
}
