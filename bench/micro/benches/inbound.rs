//! The webhook's CPU work (signature check + split) on 1 KB and 100 KB payloads, and the
//! inbound decision per message. `make bench`; figures in docs/performance.md.

use conversa::domain::conversation::decide_inbound;
use conversa::domain::Channel;
use conversa::provider::signature::sign;
use conversa::provider::{split_payload, verify_signature};
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use serde_json::json;
use std::hint::black_box;

const SECRET: &[u8] = b"dev-app-secret";

/// A Meta payload of about `target` bytes made of text messages from distinct contacts.
fn payload(target: usize) -> Vec<u8> {
    let mut messages = Vec::new();
    let mut size = 0;
    let mut i = 0u64;
    while size < target.saturating_sub(400) {
        let m = json!({
            "from": format!("55489{:08}", i),
            "id": format!("wamid.HBgMNTU0ODk5OTk5MDAwMBUCABIYFjNFQjBDMEE2RTJBNzEw{i:012}"),
            "timestamp": "1764057600",
            "type": "text",
            "text": {"body": "Olá, preciso de ajuda com o meu pedido número 12345"}
        });
        size += m.to_string().len();
        messages.push(m);
        i += 1;
    }
    json!({
        "object": "whatsapp_business_account",
        "entry": [{"id": "200000000000001", "changes": [{"field": "messages", "value": {
            "messaging_product": "whatsapp",
            "metadata": {"display_phone_number": "554830000001", "phone_number_id": "100000000000001"},
            "contacts": [{"profile": {"name": "Ana"}, "wa_id": "5548000000000"}],
            "messages": messages
        }}]}]
    })
    .to_string()
    .into_bytes()
}

fn webhook(c: &mut Criterion) {
    let mut group = c.benchmark_group("webhook_verify_and_split");
    for (label, size) in [("1KB", 1024), ("100KB", 100 * 1024)] {
        let body = payload(size);
        let header = sign(SECRET, &body);
        group.throughput(Throughput::Bytes(body.len() as u64));
        group.bench_with_input(BenchmarkId::from_parameter(label), &body, |b, body| {
            b.iter(|| {
                verify_signature(SECRET, Some(&header), black_box(body)).unwrap();
                let items = split_payload(black_box(body), 0).unwrap().items;
                // The webhook also encodes each item for SQS.
                let encoded: usize = items
                    .iter()
                    .map(|i| serde_json::to_string(i).unwrap().len() + i.dedup_id().len())
                    .sum();
                black_box(encoded)
            })
        });
    }
    group.finish();
}

fn inbound_decision(c: &mut Criterion) {
    let channel = Channel::new("100000000000001", "554830000001");
    let open = match decide_inbound(None, &channel, "5548999990000", || "c1".into(), 0, 0) {
        conversa::domain::conversation::InboundDecision::Open(c) => c,
        _ => unreachable!(),
    };
    c.bench_function("inbound_decision_per_message", |b| {
        b.iter(|| {
            black_box(decide_inbound(
                black_box(Some(&open)),
                &channel,
                "5548999990000",
                || "c2".into(),
                1_000,
                2_000,
            ))
        })
    });
}

criterion_group!(benches, webhook, inbound_decision);
criterion_main!(benches);
