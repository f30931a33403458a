//! Signs a webhook body with the development app secret and posts it to the local stack:
//! `send-webhook [--keep-timestamps] events/webhook-text.json [BASE_URL]`.
//!
//! Sample files carry fixed timestamps; unless told to keep them, this sets every
//! `timestamp` to the local stack's clock (`GET /_dev/clock`), so the contact's 24-hour
//! window opens now, also after `POST /_dev/clock` moved the clock forward.

use conversa::provider::signature::sign;
use conversa_infra::dev;
use serde_json::Value;

fn stamp(v: &mut Value, secs: &str) {
    match v {
        Value::Object(m) => {
            for (k, child) in m.iter_mut() {
                if k == "timestamp" && child.is_string() {
                    *child = Value::String(secs.to_owned());
                } else {
                    stamp(child, secs);
                }
            }
        }
        Value::Array(a) => a.iter_mut().for_each(|c| stamp(c, secs)),
        _ => {}
    }
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    conversa::aws::install_tls_provider();
    let mut keep = false;
    let mut positional = Vec::new();
    for a in std::env::args().skip(1) {
        if a == "--keep-timestamps" {
            keep = true;
        } else {
            positional.push(a);
        }
    }
    let Some(path) = positional.first() else {
        eprintln!(
            "usage: send-webhook [--keep-timestamps] <file.json> [base_url]   (default http://127.0.0.1:{})",
            dev::PORT
        );
        std::process::exit(2);
    };
    let base = positional
        .get(1)
        .cloned()
        .unwrap_or_else(|| format!("http://127.0.0.1:{}", dev::PORT));
    let secret = std::env::var("APP_SECRET").unwrap_or_else(|_| dev::APP_SECRET.into());
    let http = reqwest::Client::new();
    let mut body = std::fs::read(path)?;
    if !keep {
        let now_millis = match http.get(format!("{base}/_dev/clock")).send().await {
            Ok(r) => r
                .json::<Value>()
                .await
                .ok()
                .and_then(|v| v["now_millis"].as_i64()),
            Err(_) => None,
        }
        .unwrap_or_else(|| chrono::Utc::now().timestamp_millis());
        let mut json: Value = serde_json::from_slice(&body)?;
        stamp(&mut json, &(now_millis / 1000).to_string());
        body = serde_json::to_vec(&json)?;
    }
    let response = http
        .post(format!("{base}/webhooks/whatsapp"))
        .header("content-type", "application/json")
        .header("x-hub-signature-256", sign(secret.as_bytes(), &body))
        .body(body)
        .send()
        .await?;
    let status = response.status();
    println!("{status} {}", response.text().await?);
    if !status.is_success() {
        std::process::exit(1);
    }
    Ok(())
}
