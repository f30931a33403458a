//! AWS calls the notifier makes per event (one test per binary, so nothing else runs
//! against this emulator while it counts): docs/performance.md.

use conversa_tests::*;
use std::collections::BTreeMap;
use std::time::Duration;

#[tokio::test]
async fn aws_calls_per_pushed_event() {
    let t = stack().await;
    let mut sockets = Vec::new();
    for (sub, role) in [("ana", "agent"), ("bia", "agent"), ("boss", "supervisor")] {
        let token = t.token(sub, role, &["support"]).await;
        sockets.push(t.connect(&token).await);
    }
    t.settle().await;
    for s in &mut sockets {
        s.frames(Duration::from_millis(500)).await;
    }
    let notifier = t
        .local
        .runtime
        .poller("NotifierFunction")
        .expect("notifier");

    // A contact writes: conversation.opened and message.received reach the notifier.
    t.contact_writes("5548999990090", "wamid.CALLS1", t.now_secs())
        .await;
    t.relay().await;
    reset_emulator_calls().await;
    let mut handed = 0;
    for _ in 0..5 {
        handed += t.local.runtime.poll_once(notifier, 0).await.expect("poll");
    }
    assert_eq!(handed, 2, "two events");
    let calls = function_calls(emulator_calls().await);
    let expected: BTreeMap<String, u64> = [
        // message.received names only its conversation: one read to know its queue.
        ("DynamoDB_20120810.GetItem", 1),
        // Per event: supervisors and the queue's members (no owner yet).
        ("DynamoDB_20120810.Query", 4),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect();
    assert_eq!(
        calls, expected,
        "AWS calls for two events to three connections"
    );
    // PostToConnection is one call per connection per event (API Gateway's, served by
    // the local stack here): every socket got both events.
    for s in &mut sockets {
        let frames = s.frames(Duration::from_millis(700)).await;
        assert_eq!(frames.len(), 2, "{frames:?}");
    }
}
