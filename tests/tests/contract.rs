//! The OpenAPI document is the contract: every documented route exists in the running
//! stack, and every error has the documented shape `{"code", "message"}`.

use conversa_tests::*;
use serde_json::{json, Value};

fn documented_routes() -> Vec<(String, String)> {
    let text =
        std::fs::read_to_string(conversa_infra::repo_root().join("docs/openapi.yaml")).unwrap();
    let doc: serde_norway::Value = serde_norway::from_str(&text).unwrap();
    let mut routes = Vec::new();
    for (path, item) in doc["paths"].as_mapping().unwrap() {
        for (method, _) in item.as_mapping().unwrap() {
            let m = method.as_str().unwrap();
            if ["get", "post", "put", "patch", "delete"].contains(&m) {
                routes.push((m.to_uppercase(), path.as_str().unwrap().to_owned()));
            }
        }
    }
    routes
}

fn concrete(path: &str) -> String {
    path.replace("{id}", "01NOSUCHCONVERSATION0000000")
        .replace("{channel}", SAMPLE_CHANNEL_ID)
        .replace("{name}", "welcome")
        .replace("{phone}", "554832817000")
}

fn assert_error_shape(status: u16, body: &Value, what: &str) {
    assert!(
        body["code"].is_string(),
        "{what}: {status} without a code: {body}"
    );
    assert!(
        body["message"].is_string(),
        "{what}: {status} without a message: {body}"
    );
}

#[tokio::test]
async fn every_documented_route_exists_and_errors_have_the_documented_shape() {
    let t = stack().await;
    let token = t.agent_token().await;
    let routes = documented_routes();
    assert!(routes.len() >= 8, "{routes:?}");
    for (method, path) in routes {
        let url = t.url(&concrete(&path));
        let r = t
            .http
            .request(method.parse().unwrap(), &url)
            .bearer_auth(&token)
            .json(&json!({}))
            .send()
            .await
            .unwrap();
        let status = r.status().as_u16();
        let body: Value = r.json().await.unwrap_or(Value::Null);
        assert_ne!(
            body["code"], "route_not_found",
            "{method} {path} is documented but not served"
        );
        if status >= 400 {
            assert_error_shape(status, &body, &format!("{method} {path}"));
        }
    }
}

#[tokio::test]
async fn undocumented_routes_and_malformed_bodies_answer_in_the_error_shape() {
    let t = stack().await;
    let token = t.agent_token().await;
    let (status, body) = t.get_json("/v1/nothing/here", &token).await;
    assert_eq!(status, 404);
    assert_eq!(body["code"], "route_not_found");
    assert_error_shape(status, &body, "unknown route");
    let r = t
        .http
        .post(t.url("/v1/conversations"))
        .bearer_auth(&token)
        .body("{")
        .send()
        .await
        .unwrap();
    let status = r.status().as_u16();
    let body: Value = r.json().await.unwrap();
    assert_eq!(status, 400);
    assert_error_shape(status, &body, "malformed body");
}
