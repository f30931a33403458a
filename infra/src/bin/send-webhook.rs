//! Signs a webhook body with the development app secret and posts it to the local stack:
//! `send-webhook events/webhook-text.json [URL]`.

use conversa::provider::signature::sign;
use conversa_infra::dev;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let Some(path) = args.next() else {
        eprintln!("usage: send-webhook <file.json> [url]   (default url http://127.0.0.1:{}/webhooks/whatsapp)", dev::PORT);
        std::process::exit(2);
    };
    let url = args
        .next()
        .unwrap_or_else(|| format!("http://127.0.0.1:{}/webhooks/whatsapp", dev::PORT));
    let secret = std::env::var("APP_SECRET").unwrap_or_else(|_| dev::APP_SECRET.into());
    let body = std::fs::read(&path)?;
    let response = reqwest::Client::new()
        .post(&url)
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
