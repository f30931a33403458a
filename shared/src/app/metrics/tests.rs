//! The EMF documents as CloudWatch reads them: each line parsed as JSON, its `_aws`
//! directive, namespace, dimension set, unit and values checked, for every metric; and
//! what each committed event counts for.

use super::*;
use crate::domain::conversation::CloseReason;
use crate::domain::Conversation;

const NOW: Millis = 1_764_057_600_000;

fn captured() -> (Arc<CapturedLines>, Metrics) {
    let lines = Arc::new(CapturedLines::new(1000));
    let metrics = Metrics::new("conversa/test", lines.clone());
    (lines, metrics)
}

fn parsed(lines: &CapturedLines) -> Vec<Value> {
    lines
        .lines()
        .iter()
        .map(|l| {
            assert!(!l.contains('\n'), "one document a line: {l}");
            serde_json::from_str(l).expect("each line is one JSON object")
        })
        .collect()
}

/// The document's one directive: (namespace, dimension sets, metric name, unit).
fn directive(doc: &Value) -> (String, Value, String, String) {
    let aws = &doc["_aws"];
    assert_eq!(aws["Timestamp"], json!(NOW), "{doc}");
    let directives = aws["CloudWatchMetrics"].as_array().expect("directives");
    assert_eq!(directives.len(), 1, "{doc}");
    let d = &directives[0];
    let metrics = d["Metrics"].as_array().expect("metric definitions");
    assert_eq!(metrics.len(), 1, "{doc}");
    (
        d["Namespace"].as_str().expect("namespace").to_owned(),
        d["Dimensions"].clone(),
        metrics[0]["Name"].as_str().expect("name").to_owned(),
        metrics[0]["Unit"].as_str().expect("unit").to_owned(),
    )
}

#[test]
fn every_metric_is_one_emf_document_with_its_unit_and_its_one_dimension_set() {
    let expected = [
        (
            "MessagesReceived",
            "Count",
            Some("ChannelId"),
            "100000000000001",
            3,
        ),
        (
            "MessagesSent",
            "Count",
            Some("ChannelId"),
            "100000000000001",
            4,
        ),
        ("SendsFailed", "Count", Some("ErrorCode"), "131047", 5),
        (
            "DeliveryLatency",
            "Milliseconds",
            Some("ChannelId"),
            "100000000000001",
            1500,
        ),
        (
            "QueueWaitAtCapture",
            "Milliseconds",
            Some("Queue"),
            "support",
            42_000,
        ),
        ("Handoffs", "Count", Some("Outcome"), "agent_closed", 6),
        ("ConversationsClosed", "Count", Some("Reason"), "expired", 7),
        ("CampaignRecipientsDispatched", "Count", None, "", 8),
    ];
    let (lines, metrics) = captured();
    for metric in Metric::ALL {
        let (_, _, _, dimension, value) = expected
            .iter()
            .find(|e| e.0 == metric.name())
            .expect("every metric is in the contract");
        metrics.record(metric, dimension, *value);
    }
    metrics.flush(NOW);
    let docs = parsed(&lines);
    assert_eq!(docs.len(), expected.len());
    for (name, unit, dimension, dimension_value, value) in expected {
        let doc = docs
            .iter()
            .find(|d| directive(d).2 == name)
            .unwrap_or_else(|| panic!("no document for {name}"));
        let (namespace, sets, _, doc_unit) = directive(doc);
        assert_eq!(namespace, "conversa/test");
        assert_eq!(doc_unit, unit, "{name}");
        match dimension {
            Some(key) => {
                assert_eq!(sets, json!([[key]]), "{name}");
                assert_eq!(doc[key], json!(dimension_value), "{name}");
            }
            None => assert_eq!(sets, json!([[]]), "{name} has no dimension"),
        }
        assert_eq!(doc[name], json!(value), "{name}");
        // Nothing else at the root: the document is the metric and its dimension.
        let members = doc.as_object().expect("object").len();
        assert_eq!(members, 2 + usize::from(dimension.is_some()), "{doc}");
    }
}

#[test]
fn counts_add_up_per_dimension_value_within_a_flush() {
    let (lines, metrics) = captured();
    for channel in ["A", "B", "A", "A"] {
        metrics.count(Metric::MessagesReceived, channel);
    }
    metrics.flush(NOW);
    let docs = parsed(&lines);
    assert_eq!(docs.len(), 2, "one document per channel, not per message");
    let of = |c: &str| {
        docs.iter()
            .find(|d| d["ChannelId"] == c)
            .map(|d| d["MessagesReceived"].clone())
    };
    assert_eq!(of("A"), Some(json!(3)));
    assert_eq!(of("B"), Some(json!(1)));
}

#[test]
fn durations_keep_every_value_at_most_100_to_a_document() {
    let (lines, metrics) = captured();
    for v in 0..250 {
        metrics.record(Metric::DeliveryLatency, "100000000000001", v);
    }
    metrics.flush(NOW);
    let docs = parsed(&lines);
    let sizes: Vec<usize> = docs
        .iter()
        .map(|d| {
            d["DeliveryLatency"]
                .as_array()
                .expect("a list of values")
                .len()
        })
        .collect();
    assert_eq!(sizes, vec![100, 100, 50]);
    let all: Vec<i64> = docs
        .iter()
        .flat_map(|d| d["DeliveryLatency"].as_array().cloned().unwrap_or_default())
        .filter_map(|v| v.as_i64())
        .collect();
    assert_eq!(all, (0..250).collect::<Vec<_>>(), "every value, in order");
}

#[test]
fn a_flush_writes_what_was_recorded_once_and_nothing_when_nothing_was() {
    let (lines, metrics) = captured();
    metrics.flush(NOW);
    assert!(lines.lines().is_empty());
    metrics.count(Metric::MessagesSent, "X");
    metrics.flush(NOW);
    metrics.flush(NOW);
    assert_eq!(lines.lines().len(), 1);
}

#[test]
fn dimension_values_are_never_empty_nor_longer_than_the_format_allows() {
    let (lines, metrics) = captured();
    metrics.count(Metric::QueueWaitAtCapture, "");
    metrics.count(Metric::Handoffs, &"x".repeat(2000));
    metrics.count(Metric::CampaignRecipientsDispatched, "ignored");
    metrics.flush(NOW);
    let docs = parsed(&lines);
    let queue = docs
        .iter()
        .find(|d| d.get("Queue").is_some())
        .expect("queue");
    assert_eq!(queue["Queue"], "none");
    let outcome = docs
        .iter()
        .find(|d| d.get("Outcome").is_some())
        .expect("outcome");
    assert_eq!(outcome["Outcome"].as_str().map(str::len), Some(1024));
    let campaign = docs
        .iter()
        .find(|d| d.get("CampaignRecipientsDispatched").is_some())
        .expect("campaign");
    assert_eq!(campaign.as_object().map(|o| o.len()), Some(2), "{campaign}");
}

#[test]
fn captured_lines_keep_the_most_recent() {
    let lines = CapturedLines::new(2);
    lines.write_lines(&["1".into(), "2".into(), "3".into()]);
    assert_eq!(lines.lines(), vec!["2".to_owned(), "3".to_owned()]);
}

fn conversation(extra: Value) -> Conversation {
    let mut c = json!({
        "id": "01JCONV", "channel": "100000000000001", "contact": "5548999990000",
        "origin": "customer", "state": "assigned", "queue": "support", "agent": "agent-1",
        "opened_at": 1_000, "updated_at": 50_000, "expires_at": 99_000_000,
        "queued_at": 8_000, "assigned_at": 50_000, "version": 3
    });
    if let (Some(base), Some(more)) = (c.as_object_mut(), extra.as_object()) {
        base.extend(more.clone());
    }
    serde_json::from_value(c).expect("conversation")
}

fn observations(e: DomainEvent) -> Vec<(Metric, String, i64)> {
    of_event(&e)
        .into_iter()
        .map(|o| (o.metric, o.dimension, o.value))
        .collect()
}

#[test]
fn a_capture_counts_the_wait_from_entering_the_queue_a_transfer_does_not() {
    let c = conversation(json!({}));
    for how in ["capture", "automatic_capture", "round_robin", "least_busy"] {
        assert_eq!(
            observations(events::conversation_assigned(&c, "agent-1", how)),
            vec![(Metric::QueueWaitAtCapture, "support".into(), 42_000)],
            "{how}"
        );
    }
    assert!(observations(events::conversation_assigned(&c, "boss", "transfer")).is_empty());
    // Never queued (straight to an agent): from when it opened.
    let direct = conversation(json!({"queued_at": null}));
    assert_eq!(
        observations(events::conversation_assigned(&direct, "agent-1", "capture")),
        vec![(Metric::QueueWaitAtCapture, "support".into(), 49_000)]
    );
}

#[test]
fn a_close_counts_its_reason_and_ends_the_handoff_it_closes() {
    let mut closed = conversation(json!({"state": "closed", "close_reason": "timeout"}));
    assert_eq!(
        observations(events::conversation_closed(&closed, "conversa")),
        vec![(Metric::ConversationsClosed, "timeout".into(), 1)]
    );
    closed.handoff = Some(crate::domain::conversation::Handoff {
        queue: "support".into(),
        extra_info: Value::Null,
        contact_info: Value::Null,
        integration_id: None,
        requested_at: 1_000,
        wait_deadline: None,
        inactivity_seconds: 0,
    });
    assert_eq!(
        observations(events::conversation_closed(&closed, "conversa")),
        vec![
            (Metric::ConversationsClosed, "timeout".into(), 1),
            (Metric::Handoffs, "timeout".into(), 1),
        ]
    );
    let back = conversation(json!({"state": "bot", "queue": null, "agent": null}));
    assert_eq!(
        observations(events::handoff_ended(
            &back,
            CloseReason::UserInactivityTimeout,
            "conversa"
        )),
        vec![(Metric::Handoffs, "user_inactivity_timeout".into(), 1)]
    );
}

#[test]
fn received_messages_count_per_channel_and_campaign_recipients_by_their_conversation() {
    let c = conversation(json!({"state": "queued"}));
    let m: crate::domain::Message = serde_json::from_value(json!({
        "conversation_id": "01JCONV", "id": "wamid.1", "direction": "inbound",
        "type": "text", "body": "oi", "at": 1, "stored_at": 2
    }))
    .expect("message");
    assert_eq!(
        observations(events::message_received(&c, &m, None)),
        vec![(Metric::MessagesReceived, "100000000000001".into(), 1)]
    );
    let campaign = conversation(json!({"origin": "campaign", "campaign": "c1"}));
    assert_eq!(
        observations(events::conversation_opened(&campaign, "c1/5548")),
        vec![(Metric::CampaignRecipientsDispatched, String::new(), 1)]
    );
    assert!(observations(events::conversation_opened(&c, "wamid.1")).is_empty());
    assert!(observations(events::conversation_updated(&c, "hold", "agent-1")).is_empty());
}

#[test]
fn a_failed_call_is_named_by_its_code_else_by_what_happened() {
    let e = |kind: &str, code: Option<i64>, message: &str| {
        let message = message.to_owned();
        match kind {
            "retryable" => ProviderError::Retryable { code, message },
            "ambiguous" => ProviderError::Ambiguous { code, message },
            _ => ProviderError::Permanent { code, message },
        }
    };
    for (error, word) in [
        (
            e("permanent", Some(131047), "Re-engagement message"),
            "131047",
        ),
        (e("retryable", Some(130429), "Rate limit hit"), "130429"),
        (e("retryable", None, "HTTP 429"), "http_429"),
        (e("ambiguous", None, "HTTP 503"), "http_503"),
        (
            e("ambiguous", None, "transport: operation timed out"),
            "timeout",
        ),
        (
            e("retryable", None, "transport: connection refused"),
            "network",
        ),
        (
            e("ambiguous", None, "the provider's answer has no message id"),
            "unknown",
        ),
        (
            e("retryable", None, "ThrottlingException: Rate exceeded"),
            "ThrottlingException",
        ),
        (
            e(
                "permanent",
                None,
                "ValidationException (INVALID_PARAMETER): bad",
            ),
            "ValidationException",
        ),
    ] {
        assert_eq!(provider_error_code(&error), word, "{error}");
    }
}
