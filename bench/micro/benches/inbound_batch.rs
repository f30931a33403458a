//! `make bench-batch`: how long the real `inbound` handler takes for one SQS batch of 10
//! records, over 10 contacts (10 message groups) and over one contact, with every AWS
//! call delayed by `BATCH_CALL_DELAY_MS` (10 ms) — a stand-in for the round trip to
//! DynamoDB in the region, which the local emulator does not have.
//!
//! The delay is a TCP proxy in front of the emulator that holds each request for the
//! delay before passing it on. Groups of a batch run concurrently and records of one group
//! in order (`shared/src/app/fifo.rs`), so the batch over 10 contacts should take about
//! one record's time and the batch of one contact about ten.

use aws_lambda_events::sqs::SqsBatchResponse;
use conversa::domain::MessageContent;
use conversa::provider::{webhook::InboundMessage, WorkItem};
use conversa_infra::emulator::Emulator;
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

const CONTACTS: usize = 10;

/// Forwards connections to `upstream`, holding each request (the first bytes a client
/// sends after the previous answer) for `delay`.
async fn delaying_proxy(upstream: String, delay: Duration) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        while let Ok((client, _)) = listener.accept().await {
            let upstream = upstream.clone();
            tokio::spawn(async move {
                let Ok(server) = TcpStream::connect(&upstream).await else {
                    return;
                };
                let _ = client.set_nodelay(true);
                let _ = server.set_nodelay(true);
                let (mut client_read, mut client_write) = client.into_split();
                let (mut server_read, mut server_write) = server.into_split();
                let answered = Arc::new(AtomicBool::new(true));
                let answered_up = answered.clone();
                let up = tokio::spawn(async move {
                    let mut buf = vec![0u8; 64 * 1024];
                    loop {
                        let n = match client_read.read(&mut buf).await {
                            Ok(0) | Err(_) => break,
                            Ok(n) => n,
                        };
                        if answered_up.swap(false, Ordering::SeqCst) {
                            tokio::time::sleep(delay).await;
                        }
                        if server_write.write_all(&buf[..n]).await.is_err() {
                            break;
                        }
                    }
                });
                let mut buf = vec![0u8; 64 * 1024];
                loop {
                    let n = match server_read.read(&mut buf).await {
                        Ok(0) | Err(_) => break,
                        Ok(n) => n,
                    };
                    answered.store(true, Ordering::SeqCst);
                    if client_write.write_all(&buf[..n]).await.is_err() {
                        break;
                    }
                }
                up.abort();
            });
        }
    });
    format!("http://{addr}")
}

fn text(contact: &str, id: String, at: i64) -> WorkItem {
    WorkItem::Message {
        channel: conversa_tests::SAMPLE_CHANNEL_ID.into(),
        contact: contact.into(),
        contact_name: None,
        opt_out: false,
        message: InboundMessage {
            id,
            at,
            content: MessageContent::Text { body: "oi".into() },
            context_id: None,
        },
    }
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn checked(r: SqsBatchResponse) {
    assert!(r.batch_item_failures.is_empty(), "a record failed");
}

fn main() {
    let delay_ms: u64 = std::env::var("BATCH_CALL_DELAY_MS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10);
    let rounds: usize = std::env::var("BATCH_ROUNDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10);
    let emulator =
        Emulator::start(&conversa_infra::repo_root(), 0).expect("the emulator (make venv)");
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    runtime.block_on(async {
        let upstream = emulator.endpoint.trim_start_matches("http://").to_owned();
        let proxy = delaying_proxy(upstream, Duration::from_millis(delay_ms)).await;
        std::env::set_var("CONVERSA_EMULATOR", &proxy);
        let t = conversa_tests::stack_with(HashMap::from([(
            "ChannelCacheSeconds".to_owned(),
            "300".to_owned(),
        )]))
        .await;
        let contacts: Vec<String> = (0..CONTACTS).map(|i| format!("55489990{i:05}")).collect();
        let at = t.now_secs() * 1000;
        // Open a conversation for each contact: the batches below take the warm path.
        for c in &contacts {
            checked(t.invoke_inbound(&[text(c, ulid(), at)]).await);
        }
        let mut spread = Vec::new();
        let mut one = Vec::new();
        let mut single = Vec::new();
        for round in 0..rounds {
            let at = at + 1000 * (round as i64 + 1);
            let items: Vec<WorkItem> = contacts.iter().map(|c| text(c, ulid(), at)).collect();
            let started = Instant::now();
            checked(t.invoke_inbound(&items).await);
            spread.push(started.elapsed().as_secs_f64() * 1000.0);

            let items: Vec<WorkItem> = (0..CONTACTS)
                .map(|i| text(&contacts[0], ulid(), at + i as i64))
                .collect();
            let started = Instant::now();
            checked(t.invoke_inbound(&items).await);
            one.push(started.elapsed().as_secs_f64() * 1000.0);

            let started = Instant::now();
            checked(
                t.invoke_inbound(&[text(&contacts[1], ulid(), at + 500)])
                    .await,
            );
            single.push(started.elapsed().as_secs_f64() * 1000.0);
        }
        let (spread, one, single) = (median(spread), median(one), median(single));
        println!(
            "inbound, every AWS call delayed {delay_ms} ms, {rounds} rounds, medians:\n\
             | batch | ms | × one record |\n|---|---:|---:|\n\
             | 1 record | {single:.1} | 1.0× |\n\
             | 10 records over 10 contacts | {spread:.1} | {:.1}× |\n\
             | 10 records of one contact | {one:.1} | {:.1}× |",
            spread / single,
            one / single
        );
    });
}

fn ulid() -> String {
    format!("wamid.{}", ulid::Ulid::new())
}
