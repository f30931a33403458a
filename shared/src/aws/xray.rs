//! The AWS calls of a traced invocation as X-Ray subsegments of its function's segment.
//!
//! With `TracingMode` `Active`, Lambda records each sampled invocation's segment and runs
//! an X-Ray daemon beside the function (`AWS_XRAY_DAEMON_ADDRESS`). [`interceptor`] is one
//! SDK interceptor that the function's clients (`app::config::Clients`) all carry:
//! for each call (an operation, with its retries) of an invocation Lambda sampled, it
//! sends one subsegment — the service and operation, the region, the request id, the
//! retries, the HTTP status, and whether the call failed (`error`, a 4xx), was throttled
//! (`throttle`) or faulted (`fault`, a 5xx or no answer) — in one UDP datagram to the
//! daemon, which forwards it to X-Ray. X-Ray draws each service as a node of the trace
//! map, under the function.
//!
//! The invocation's trace is `_X_AMZN_TRACE_ID` (`Root=…;Parent=…;Sampled=1`), which
//! `lambda_runtime` sets in the environment before each event when it runs one event at
//! a time (`lambda_runtime::run`, as every function here does; its concurrent mode leaves
//! it unset, and nothing is sent). Its `Parent` is the function's segment, the
//! subsegments' parent.
//!
//! No request or response body, no message of an error, nothing a call carries goes
//! into a subsegment, and tracing never fails a call: a subsegment that cannot be sent is
//! dropped. Without tracing (the default, the local stack, the tests) the clients carry
//! no interceptor.
//!
//! Written here rather than with the `xray-lite` crates (`xray-lite`,
//! `xray-lite-aws-sdk`): their one 0.0.x release (March 2024) traces an operation through
//! an interceptor added to each request (`customize()`), not to a client, and a
//! subsegment needs little: a datagram with a header line and about ten JSON fields
//! (AWS X-Ray segment documents, "Subsegments" and "AWS resource data"), built with the
//! `serde_json` and `rand` every function already carries.

use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::interceptors::context::{
    BeforeSerializationInterceptorContextRef, FinalizerInterceptorContextRef, InterceptorContext,
};
use aws_smithy_runtime_api::client::interceptors::{Intercept, SharedInterceptor};
use aws_smithy_runtime_api::client::orchestrator::Metadata;
use aws_smithy_runtime_api::client::retries::classifiers::{
    ClassifyRetry, RetryAction, RetryReason,
};
use aws_smithy_runtime_api::client::retries::RequestAttempts;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::config_bag::{ConfigBag, Storable, StoreReplace};
use aws_smithy_types::retry::ErrorKind;
use serde_json::{json, Map, Value};
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, ToSocketAddrs, UdpSocket};
use std::time::{SystemTime, UNIX_EPOCH};

/// What precedes each document sent to the daemon, on a line of its own.
const DAEMON_HEADER: &[u8] = b"{\"format\": \"json\", \"version\": 1}\n";

/// The interceptor that sends each call of a sampled invocation to the X-Ray daemon at
/// `daemon_address` (Lambda's `AWS_XRAY_DAEMON_ADDRESS`: `host:port`, or
/// `tcp:host:port udp:host:port`). `None` when the address is unusable: nothing is traced.
pub fn interceptor(daemon_address: &str) -> Option<SharedInterceptor> {
    let xray = XRay::new(daemon_address, lambda_trace_header);
    if xray.is_none() {
        tracing::warn!(
            daemon_address,
            "X-Ray daemon address unusable: AWS calls are not traced"
        );
    }
    xray.map(SharedInterceptor::new)
}

/// The current invocation's trace header, as `lambda_runtime` sets it.
fn lambda_trace_header() -> Option<String> {
    std::env::var("_X_AMZN_TRACE_ID").ok()
}

/// The trace and segment a subsegment goes under: an X-Ray trace header of an invocation
/// Lambda sampled.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TraceHeader {
    /// `1-{8 hex}-{24 hex}`.
    pub root: String,
    /// The function's segment: 16 hex digits.
    pub parent: String,
}

impl TraceHeader {
    /// `Root=…;Parent=…;Sampled=1` (other fields ignored): `None` unless sampled, with a
    /// root and a parent.
    pub fn sampled(header: &str) -> Option<Self> {
        let (mut root, mut parent, mut sampled) = (None, None, false);
        for field in header.split(';') {
            match field.trim().split_once('=') {
                Some(("Root", v)) => root = Some(v.trim()),
                Some(("Parent", v)) => parent = Some(v.trim()),
                Some(("Sampled", v)) => sampled = v.trim() == "1",
                _ => {}
            }
        }
        let root = root.filter(|r| r.starts_with("1-") && r.len() > 2)?;
        let parent =
            parent.filter(|p| p.len() == 16 && p.bytes().all(|b| b.is_ascii_hexdigit()))?;
        sampled.then(|| Self {
            root: root.to_owned(),
            parent: parent.to_owned(),
        })
    }
}

/// A call of a sampled invocation, from its first attempt on (in the call's config bag).
#[derive(Clone, Debug)]
struct Started {
    trace: TraceHeader,
    at: SystemTime,
}

impl Storable for Started {
    type Storer = StoreReplace<Self>;
}

/// How a call ended, as a subsegment tells it.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Call<'a> {
    /// The SDK's service name (`DynamoDB`, `SQS`, ...): the subsegment's name, and the
    /// node of the trace map.
    pub service: &'a str,
    pub operation: &'a str,
    pub region: Option<&'a str>,
    pub request_id: Option<&'a str>,
    /// Attempts after the first.
    pub retries: u32,
    /// The last attempt's HTTP status; none when no answer came (a timeout, a refused
    /// connection).
    pub status: Option<u16>,
    /// The call failed (an error, or no answer).
    pub failed: bool,
    /// The SDK's retry rules call the failure throttling, or the status is 429.
    pub throttled: bool,
}

impl Call<'_> {
    /// `error` (a 4xx, throttling included), `throttle`, `fault` (a 5xx, or a failure
    /// without an answer).
    fn flags(&self) -> (bool, bool, bool) {
        let throttle = self.throttled || self.status == Some(429);
        let fault = match self.status {
            Some(s) => s >= 500,
            None => self.failed,
        };
        let error = !fault && (throttle || self.status.is_some_and(|s| (400..500).contains(&s)));
        (error, throttle, fault)
    }
}

/// An independently sent subsegment of `trace`'s segment: `id` (16 hex digits), from
/// `start` to `end` (seconds since the epoch).
pub fn subsegment(trace: &TraceHeader, id: &str, call: &Call<'_>, start: f64, end: f64) -> Value {
    let mut aws = Map::new();
    aws.insert("operation".into(), call.operation.into());
    if let Some(region) = call.region {
        aws.insert("region".into(), region.into());
    }
    if let Some(request_id) = call.request_id {
        aws.insert("request_id".into(), request_id.into());
    }
    aws.insert("retries".into(), call.retries.into());
    let mut doc = json!({
        "type": "subsegment",
        "id": id,
        "trace_id": trace.root,
        "parent_id": trace.parent,
        "name": call.service,
        "namespace": "aws",
        "start_time": start,
        "end_time": end,
        "aws": aws,
    });
    if let Some(status) = call.status {
        doc["http"] = json!({ "response": { "status": status } });
    }
    let (error, throttle, fault) = call.flags();
    for (flag, set) in [("error", error), ("throttle", throttle), ("fault", fault)] {
        if set {
            doc[flag] = true.into();
        }
    }
    doc
}

/// The interceptor: where the daemon listens, and where the invocation's trace header is.
#[derive(Debug)]
struct XRay {
    daemon: UdpSocket,
    trace_header: fn() -> Option<String>,
}

impl XRay {
    fn new(daemon_address: &str, trace_header: fn() -> Option<String>) -> Option<Self> {
        // `tcp:host:port udp:host:port`, or one `host:port` for both.
        let address = daemon_address
            .split_whitespace()
            .find_map(|a| a.strip_prefix("udp:"))
            .or_else(|| {
                daemon_address
                    .split_whitespace()
                    .find(|a| !a.starts_with("tcp:"))
            })?;
        let target = address.to_socket_addrs().ok()?.next()?;
        let local: SocketAddr = if target.is_ipv4() {
            (Ipv4Addr::UNSPECIFIED, 0).into()
        } else {
            (Ipv6Addr::UNSPECIFIED, 0).into()
        };
        let daemon = UdpSocket::bind(local).ok()?;
        daemon.connect(target).ok()?;
        // A full send buffer drops the subsegment rather than waits.
        daemon.set_nonblocking(true).ok()?;
        Some(Self {
            daemon,
            trace_header,
        })
    }

    /// The datagram of a finished call.
    fn datagram(
        started: &Started,
        context: &InterceptorContext,
        runtime_components: &RuntimeComponents,
        cfg: &ConfigBag,
    ) -> Vec<u8> {
        let metadata = cfg.load::<Metadata>();
        let response = context.response();
        let failed = matches!(context.output_or_error(), Some(Err(_)) | None);
        let throttled = failed
            && runtime_components.retry_classifiers().any(|classifier| {
                matches!(
                    classifier.classify_retry(context),
                    RetryAction::RetryIndicated(RetryReason::RetryableError {
                        kind: ErrorKind::ThrottlingError,
                        ..
                    })
                )
            });
        let call = Call {
            service: metadata.map(Metadata::service).unwrap_or("AWS"),
            operation: metadata.map(Metadata::name).unwrap_or_default(),
            region: cfg
                .load::<aws_sdk_dynamodb::config::Region>()
                .map(|r| r.as_ref()),
            request_id: response.and_then(|r| {
                let headers = r.headers();
                headers
                    .get("x-amzn-requestid")
                    .or_else(|| headers.get("x-amz-request-id"))
            }),
            retries: cfg
                .load::<RequestAttempts>()
                .map(|a| a.attempts().saturating_sub(1))
                .unwrap_or_default(),
            status: response.map(|r| r.status().as_u16()),
            failed,
            throttled,
        };
        let id = format!("{:016x}", rand::random::<u64>());
        let seconds = |t: SystemTime| {
            t.duration_since(UNIX_EPOCH)
                .map(|d| d.as_secs_f64())
                .unwrap_or_default()
        };
        let doc = subsegment(
            &started.trace,
            &id,
            &call,
            seconds(started.at),
            seconds(SystemTime::now()),
        );
        let mut datagram = DAEMON_HEADER.to_vec();
        // Writing a `Value` to a Vec cannot fail.
        let _ = serde_json::to_writer(&mut datagram, &doc);
        datagram
    }
}

impl Intercept for XRay {
    fn name(&self) -> &'static str {
        "XRay"
    }

    fn read_before_execution(
        &self,
        _context: &BeforeSerializationInterceptorContextRef<'_>,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        if let Some(trace) = (self.trace_header)()
            .as_deref()
            .and_then(TraceHeader::sampled)
        {
            cfg.interceptor_state().store_put(Started {
                trace,
                at: SystemTime::now(),
            });
        }
        Ok(())
    }

    fn read_after_execution(
        &self,
        context: &FinalizerInterceptorContextRef<'_>,
        runtime_components: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        if let Some(started) = cfg.load::<Started>() {
            let datagram = Self::datagram(started, context.inner(), runtime_components, cfg);
            // Lost when the daemon is away or the buffer full: a trace misses a call.
            let _ = self.daemon.send(&datagram);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests;
