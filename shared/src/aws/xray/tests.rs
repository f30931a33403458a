//! The trace header, the flags of a failure, and real DynamoDB calls through the
//! interceptor against a local HTTP stub, each subsegment read from a local "daemon".

use super::*;
use aws_sdk_dynamodb::config::{Credentials, Region};
use aws_sdk_dynamodb::types::AttributeValue;
use std::io::{Read, Write};
use std::net::TcpListener;
use std::time::Duration;

const TRACE: &str = "1-5759e988-bd862e3fe1be46a994272793";
const PARENT: &str = "53995c3f42cd8ad8";

fn sampled() -> Option<String> {
    Some(format!(
        "Root={TRACE};Parent={PARENT};Sampled=1;Lineage=a87bd80c:0"
    ))
}

fn not_sampled() -> Option<String> {
    Some(format!("Root={TRACE};Parent={PARENT};Sampled=0"))
}

#[test]
fn the_trace_header_gives_the_root_and_parent_of_a_sampled_invocation_only() {
    let header = TraceHeader::sampled(&sampled().unwrap_or_default());
    assert_eq!(
        header,
        Some(TraceHeader {
            root: TRACE.into(),
            parent: PARENT.into()
        })
    );
    // Any order, spaces around the fields.
    let header = TraceHeader::sampled(&format!(" Sampled=1; Parent={PARENT} ;Root={TRACE}"));
    assert_eq!(header.map(|h| h.parent), Some(PARENT.to_owned()));
    for unusable in [
        format!("Root={TRACE};Parent={PARENT};Sampled=0"),
        format!("Root={TRACE};Parent={PARENT}"),
        format!("Root={TRACE};Parent={PARENT};Sampled=?"),
        format!("Root={TRACE};Sampled=1"),
        format!("Parent={PARENT};Sampled=1"),
        format!("Root={TRACE};Parent=xyz;Sampled=1"),
        format!("Root=;Parent={PARENT};Sampled=1"),
        String::new(),
    ] {
        assert_eq!(TraceHeader::sampled(&unusable), None, "{unusable}");
    }
}

#[test]
fn a_failure_is_an_error_a_throttle_or_a_fault_by_its_status() {
    let flags = |status: Option<u16>, failed: bool, throttled: bool| {
        Call {
            status,
            failed,
            throttled,
            ..Call::default()
        }
        .flags()
    };
    // (error, throttle, fault)
    assert_eq!(flags(Some(200), false, false), (false, false, false));
    assert_eq!(flags(Some(400), true, false), (true, false, false));
    assert_eq!(flags(Some(400), true, true), (true, true, false));
    assert_eq!(flags(Some(429), true, false), (true, true, false));
    assert_eq!(flags(Some(500), true, false), (false, false, true));
    assert_eq!(flags(Some(503), true, true), (false, true, true));
    // No answer: a timeout, a refused connection.
    assert_eq!(flags(None, true, false), (false, false, true));
}

#[test]
fn the_daemon_address_may_name_its_udp_and_tcp_ports_apart() {
    let daemon = UdpSocket::bind("127.0.0.1:0").expect("daemon");
    let port = daemon.local_addr().expect("address").port();
    let header = || None;
    assert!(XRay::new(&format!("127.0.0.1:{port}"), header).is_some());
    assert!(XRay::new(&format!("tcp:127.0.0.1:1 udp:127.0.0.1:{port}"), header).is_some());
    assert!(XRay::new("", header).is_none());
    assert!(XRay::new("tcp:127.0.0.1:2000", header).is_none());
    assert!(XRay::new("no port", header).is_none());
}

/// An HTTP/1.1 server on a local port answering each request with the next of `answers`
/// (status and DynamoDB JSON body, request ids `REQ0`, `REQ1`, ...), one per connection.
fn dynamodb_stub(answers: Vec<(u16, &'static str)>) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").expect("listener");
    let url = format!("http://{}", listener.local_addr().expect("address"));
    std::thread::spawn(move || {
        for (n, (status, body)) in answers.into_iter().enumerate() {
            let Ok((mut stream, _)) = listener.accept() else {
                return;
            };
            let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
            read_request(&mut stream);
            let _ = write!(
                stream,
                "HTTP/1.1 {status} Stub\r\ncontent-type: application/x-amz-json-1.0\r\n\
                 x-amzn-RequestId: REQ{n}\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                body.len()
            );
        }
    });
    url
}

/// Reads a request's head and its `content-length` bytes of body.
fn read_request(stream: &mut std::net::TcpStream) {
    let mut request = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        let Ok(n) = stream.read(&mut buf) else { return };
        if n == 0 {
            return;
        }
        request.extend_from_slice(&buf[..n]);
        let text = String::from_utf8_lossy(&request).to_ascii_lowercase();
        if let Some(end) = text.find("\r\n\r\n") {
            let length = text[..end]
                .lines()
                .find_map(|l| l.strip_prefix("content-length:"))
                .and_then(|v| v.trim().parse::<usize>().ok())
                .unwrap_or(0);
            if request.len() >= end + 4 + length {
                return;
            }
        }
    }
}

/// A DynamoDB client against `endpoint`, traced to a local daemon, each call tried at most
/// twice (without waiting); the daemon's socket.
fn traced_client(
    endpoint: &str,
    header: fn() -> Option<String>,
) -> (aws_sdk_dynamodb::Client, UdpSocket) {
    let daemon = UdpSocket::bind("127.0.0.1:0").expect("daemon");
    let address = daemon.local_addr().expect("address").to_string();
    let xray = XRay::new(&address, header).expect("xray");
    let config = aws_sdk_dynamodb::Config::builder()
        .behavior_version(aws_sdk_dynamodb::config::BehaviorVersion::latest())
        .region(Region::new("sa-east-1"))
        .credentials_provider(Credentials::new("key", "secret", None, None, "test"))
        .http_client(crate::aws::http_client())
        .endpoint_url(endpoint)
        .retry_config(
            aws_sdk_dynamodb::config::retry::RetryConfig::standard()
                .with_max_attempts(2)
                .with_initial_backoff(Duration::from_millis(1)),
        )
        .interceptor(xray)
        .build();
    (aws_sdk_dynamodb::Client::from_conf(config), daemon)
}

async fn get_item(client: &aws_sdk_dynamodb::Client) -> bool {
    client
        .get_item()
        .table_name("conversations")
        .key("pk", AttributeValue::S("CONV#1".into()))
        .key("sk", AttributeValue::S("META".into()))
        .send()
        .await
        .is_ok()
}

/// The subsegment the daemon received, after its header line.
fn received(daemon: &UdpSocket, wait: Duration) -> Option<Value> {
    daemon.set_read_timeout(Some(wait)).ok()?;
    let mut buf = vec![0u8; 65_536];
    let n = daemon.recv(&mut buf).ok()?;
    let datagram = &buf[..n];
    assert!(
        datagram.starts_with(DAEMON_HEADER),
        "{}",
        String::from_utf8_lossy(datagram)
    );
    serde_json::from_slice(&datagram[DAEMON_HEADER.len()..]).ok()
}

fn assert_subsegment_of_the_invocation(doc: &Value) {
    assert_eq!(doc["type"], "subsegment");
    assert_eq!(doc["trace_id"], TRACE);
    assert_eq!(doc["parent_id"], PARENT);
    let id = doc["id"].as_str().unwrap_or_default();
    assert!(
        id.len() == 16 && id.bytes().all(|b| b.is_ascii_hexdigit()),
        "{id}"
    );
    assert_eq!(doc["name"], "DynamoDB");
    assert_eq!(doc["namespace"], "aws");
    assert_eq!(doc["aws"]["operation"], "GetItem");
    assert_eq!(doc["aws"]["region"], "sa-east-1");
    let (start, end) = (doc["start_time"].as_f64(), doc["end_time"].as_f64());
    assert!(
        matches!((start, end), (Some(s), Some(e)) if s > 1.7e9 && s <= e),
        "{doc}"
    );
}

#[tokio::test]
async fn a_successful_call_is_a_subsegment_of_the_invocation_with_its_request_id() {
    let endpoint = dynamodb_stub(vec![(200, "{}")]);
    let (client, daemon) = traced_client(&endpoint, sampled);
    assert!(get_item(&client).await);
    let doc = received(&daemon, Duration::from_secs(5)).expect("a subsegment");
    assert_subsegment_of_the_invocation(&doc);
    assert_eq!(doc["aws"]["request_id"], "REQ0");
    assert_eq!(doc["aws"]["retries"], 0);
    assert_eq!(doc["http"]["response"]["status"], 200);
    for flag in ["error", "throttle", "fault"] {
        assert!(doc.get(flag).is_none(), "{doc}");
    }
    // Nothing of the request: its table, its keys.
    let text = doc.to_string();
    assert!(
        !text.contains("conversations") && !text.contains("CONV#1"),
        "{text}"
    );
}

#[tokio::test]
async fn a_throttled_call_is_an_error_and_a_throttle_with_its_retries() {
    const THROTTLED: &str = r#"{"__type":"com.amazonaws.dynamodb.v20120810#ProvisionedThroughputExceededException","message":"The level of configured provisioned throughput for the table was exceeded."}"#;
    let endpoint = dynamodb_stub(vec![(400, THROTTLED), (400, THROTTLED)]);
    let (client, daemon) = traced_client(&endpoint, sampled);
    assert!(!get_item(&client).await);
    let doc = received(&daemon, Duration::from_secs(5)).expect("a subsegment");
    assert_subsegment_of_the_invocation(&doc);
    assert_eq!(doc["aws"]["request_id"], "REQ1", "the last attempt's");
    assert_eq!(doc["aws"]["retries"], 1);
    assert_eq!(doc["http"]["response"]["status"], 400);
    assert_eq!(doc["error"], true);
    assert_eq!(doc["throttle"], true);
    assert!(doc.get("fault").is_none(), "{doc}");
    assert!(!doc.to_string().contains("provisioned throughput"), "{doc}");
}

#[tokio::test]
async fn a_client_error_other_than_throttling_is_an_error_only() {
    const CONDITION: &str = r#"{"__type":"com.amazonaws.dynamodb.v20120810#ResourceNotFoundException","message":"Requested resource not found"}"#;
    let endpoint = dynamodb_stub(vec![(400, CONDITION)]);
    let (client, daemon) = traced_client(&endpoint, sampled);
    assert!(!get_item(&client).await);
    let doc = received(&daemon, Duration::from_secs(5)).expect("a subsegment");
    assert_eq!(doc["aws"]["retries"], 0);
    assert_eq!(doc["error"], true);
    assert!(
        doc.get("throttle").is_none() && doc.get("fault").is_none(),
        "{doc}"
    );
}

#[tokio::test]
async fn a_server_error_is_a_fault() {
    const FAILED: &str = r#"{"__type":"com.amazonaws.dynamodb.v20120810#InternalServerError","message":"Internal server error"}"#;
    let endpoint = dynamodb_stub(vec![(500, FAILED), (500, FAILED)]);
    let (client, daemon) = traced_client(&endpoint, sampled);
    assert!(!get_item(&client).await);
    let doc = received(&daemon, Duration::from_secs(5)).expect("a subsegment");
    assert_subsegment_of_the_invocation(&doc);
    assert_eq!(doc["aws"]["retries"], 1);
    assert_eq!(doc["http"]["response"]["status"], 500);
    assert_eq!(doc["fault"], true);
    assert!(
        doc.get("error").is_none() && doc.get("throttle").is_none(),
        "{doc}"
    );
}

#[tokio::test]
async fn a_call_without_an_answer_is_a_fault_without_a_status() {
    // A port nothing listens on: the connection is refused.
    let port = TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .unwrap_or(1);
    let (client, daemon) = traced_client(&format!("http://127.0.0.1:{port}"), sampled);
    assert!(!get_item(&client).await);
    let doc = received(&daemon, Duration::from_secs(5)).expect("a subsegment");
    assert_subsegment_of_the_invocation(&doc);
    assert_eq!(doc["fault"], true);
    assert!(doc.get("http").is_none(), "{doc}");
    assert!(doc["aws"].get("request_id").is_none(), "{doc}");
}

#[tokio::test]
async fn an_invocation_not_sampled_or_without_a_trace_sends_nothing() {
    for header in [not_sampled as fn() -> Option<String>, || None] {
        let endpoint = dynamodb_stub(vec![(200, "{}")]);
        let (client, daemon) = traced_client(&endpoint, header);
        assert!(get_item(&client).await);
        assert_eq!(received(&daemon, Duration::from_millis(300)), None);
    }
}

#[tokio::test]
async fn a_call_succeeds_when_the_daemon_is_away() {
    // A daemon that is gone: the datagram is refused, the call is not.
    let endpoint = dynamodb_stub(vec![(200, "{}"), (200, "{}")]);
    let (client, daemon) = traced_client(&endpoint, sampled);
    drop(daemon);
    assert!(get_item(&client).await);
    assert!(get_item(&client).await);
}
