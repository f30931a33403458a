//! Faults on demand (issue 12): `/_dev/faults` makes the emulator fail chosen AWS calls of
//! one stack, the way the fault-injection tests and a person at `make run` use it.

use conversa_tests::*;
use serde_json::{json, Value};

const CONTACT: &str = "5548999990000";

async fn faults(t: &TestStack, method: reqwest::Method, body: Option<Value>) -> (u16, Value) {
    let mut r = t.http.request(method, t.url("/_dev/faults"));
    if let Some(b) = body {
        r = r.json(&b);
    }
    let r = r.send().await.unwrap();
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Value::Null))
}

#[tokio::test]
async fn a_bad_fault_rule_is_refused_with_its_reason() {
    let t = stack().await;
    for bad in [
        json!({"service": "s3"}),
        json!({"service": "sqs", "probability": 2}),
        json!({"service": "sqs", "nth": 0}),
    ] {
        let (status, body) = faults(&t, reqwest::Method::POST, Some(bad.clone())).await;
        assert_eq!(status, 422, "{bad} -> {body}");
        assert_eq!(body["code"], "invalid_fault");
    }
    let (_, list) = faults(&t, reqwest::Method::GET, None).await;
    assert_eq!(list["rules"], json!([]), "nothing was added");
}

#[tokio::test]
async fn an_sqs_fault_makes_the_webhook_answer_500_until_it_is_cleared() {
    let t = stack().await;
    let (status, created) = faults(
        &t,
        reqwest::Method::POST,
        Some(json!({"service": "sqs", "operation": "SendMessageBatch", "error": "ServiceUnavailable"})),
    )
    .await;
    assert_eq!(status, 201, "{created}");
    let body = webhook_body(
        SAMPLE_CHANNEL_ID,
        json!([text_message(CONTACT, "wamid.F1", "oi")]),
        json!([]),
    );
    assert_eq!(t.post_webhook(&body).await.status(), 500);
    let (_, list) = faults(&t, reqwest::Method::GET, None).await;
    let rule = &list["rules"][0];
    assert!(rule["fired"].as_u64().unwrap() >= 1, "{list}");
    assert_eq!(
        rule["resource"],
        t.local.stack.name.as_str(),
        "kept to this stack"
    );
    let (status, _) = faults(&t, reqwest::Method::DELETE, None).await;
    assert_eq!(status, 204);
    assert_eq!(t.post_webhook(&body).await.status(), 200);
}

#[tokio::test]
async fn a_fault_rule_is_taken_without_a_content_type_as_curl_sends_it() {
    let t = stack().await;
    let r = t
        .http
        .post(t.url("/_dev/faults"))
        .body(r#"{"service": "events"}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let r = t
        .http
        .post(t.url("/_dev/faults"))
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
}
