//! Reading AWS End User Messaging SMS notifications: two-way messages, delivery events,
//! opt-out keywords, and what cannot be read.

use super::*;
use serde_json::json;

const PUBLISHED: Millis = 1_764_057_600_000;

fn two_way(keyword: &str, body: &str) -> String {
    json!({
        "originationNumber": "+5548999990000",
        "destinationNumber": "+554830000099",
        "messageKeyword": keyword,
        "messageBody": body,
        "inboundMessageId": "cae173d2-66b9-564c-8309-21f858e9fb84",
        "previousPublishedMessageId": "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
    })
    .to_string()
}

fn event(event_type: &str) -> Value {
    json!({
        "eventType": event_type,
        "eventVersion": "1.0",
        "eventTimestamp": 1_686_975_103_470_i64,
        "isFinal": true,
        "originationPhoneNumber": "+554830000099",
        "destinationPhoneNumber": "+5548999990000",
        "isInternationalSend": false,
        "mcc": "724",
        "mnc": "05",
        "messageId": "862a8790-60c0-4430-9b2b-658bdexample",
        "messageRequestTimestamp": 1_686_975_103_170_i64,
        "messageEncoding": "GSM",
        "messageType": "TRANSACTIONAL",
        "messageStatus": "SUCCESSFUL",
        "messageStatusDescription": "Message has been accepted by phone carrier",
        "context": {"conversa": "conversa:01CONV:MSG#1#01MSG", "other": "x"},
        "totalMessageParts": 1,
        "totalMessagePrice": 0.09582,
        "totalCarrierFee": 0.0
    })
}

fn parse(v: &Value) -> Result<Option<WorkItem>, SmsNotificationError> {
    parse_notification(&v.to_string(), PUBLISHED)
}

fn status_of(v: &Value) -> (String, Option<String>) {
    match parse(v) {
        Ok(Some(WorkItem::Status {
            status,
            error_title,
            ..
        })) => (status, error_title),
        other => panic!("unexpected {other:?}"),
    }
}

#[test]
fn a_two_way_message_is_a_text_message_on_the_sms_channel_of_its_destination_number() {
    let item = parse_notification(&two_way("", "Olá, quero ajuda"), PUBLISHED)
        .unwrap()
        .unwrap();
    assert_eq!(
        item,
        WorkItem::Message {
            channel: "sms-554830000099".into(),
            contact: "5548999990000".into(),
            contact_name: None,
            opt_out: false,
            message: InboundMessage {
                id: "cae173d2-66b9-564c-8309-21f858e9fb84".into(),
                at: PUBLISHED,
                content: MessageContent::Text {
                    body: "Olá, quero ajuda".into()
                },
                context_id: None,
            },
        }
    );
    // One contact's messages in order, on the same group as its WhatsApp-style items.
    assert_eq!(item.group_id(), "sms-554830000099#5548999990000");
}

#[test]
fn a_redelivered_two_way_message_has_the_same_deduplication_id() {
    let a = parse_notification(&two_way("", "oi"), PUBLISHED).unwrap();
    let b = parse_notification(&two_way("", "oi"), PUBLISHED + 60_000).unwrap();
    assert_eq!(
        a.map(|i| i.dedup_id()),
        b.map(|i| i.dedup_id()),
        "inboundMessageId decides"
    );
}

#[test]
fn every_aws_opt_out_keyword_marks_the_message_an_opt_out_in_any_case() {
    for k in OPT_OUT_KEYWORDS {
        for keyword in [k.to_owned(), k.to_lowercase(), format!(" {k} ")] {
            match parse_notification(&two_way(&keyword, &keyword), PUBLISHED) {
                Ok(Some(WorkItem::Message { opt_out, .. })) => {
                    assert!(opt_out, "{keyword:?} is an opt-out")
                }
                other => panic!("unexpected {other:?}"),
            }
        }
    }
}

#[test]
fn other_keywords_and_a_missing_keyword_are_not_opt_outs() {
    for keyword in ["HELP", "JOIN", "", "STOPPED", "PARAR"] {
        match parse_notification(&two_way(keyword, "STOP"), PUBLISHED) {
            Ok(Some(WorkItem::Message { opt_out, .. })) => {
                assert!(!opt_out, "{keyword:?} is no AWS opt-out keyword")
            }
            other => panic!("unexpected {other:?}"),
        }
    }
    let mut m: Value = serde_json::from_str(&two_way("", "oi")).unwrap();
    m.as_object_mut().unwrap().remove("messageKeyword");
    assert!(matches!(
        parse(&m),
        Ok(Some(WorkItem::Message { opt_out: false, .. }))
    ));
}

#[test]
fn the_opt_out_flag_is_left_out_of_the_queued_item_when_false() {
    let item = parse_notification(&two_way("", "oi"), PUBLISHED)
        .unwrap()
        .unwrap();
    let body = serde_json::to_value(&item).unwrap();
    assert!(body.get("opt_out").is_none(), "{body}");
    let stop = parse_notification(&two_way("STOP", "STOP"), PUBLISHED)
        .unwrap()
        .unwrap();
    let body = serde_json::to_value(&stop).unwrap();
    assert_eq!(body["opt_out"], true);
    // And an item queued before the flag existed reads as no opt-out.
    let old: WorkItem = serde_json::from_value(json!({"kind": "message", "channel": "c",
        "contact": "5548999990000", "message": {"id": "m", "at": 1, "type": "text", "body": "oi"}}))
    .unwrap();
    assert!(matches!(old, WorkItem::Message { opt_out: false, .. }));
}

#[test]
fn text_successful_is_sent_and_text_delivered_is_delivered() {
    assert_eq!(status_of(&event("TEXT_SUCCESSFUL")), ("sent".into(), None));
    assert_eq!(
        status_of(&event("TEXT_DELIVERED")),
        ("delivered".into(), None)
    );
}

#[test]
fn a_delivery_event_is_a_status_of_the_sms_channel_of_its_origination_number() {
    let item = parse(&event("TEXT_DELIVERED")).unwrap().unwrap();
    assert_eq!(
        item,
        WorkItem::Status {
            channel: "sms-554830000099".into(),
            recipient: "5548999990000".into(),
            message_id: "862a8790-60c0-4430-9b2b-658bdexample".into(),
            status: "delivered".into(),
            at: 1_686_975_103_470,
            error_code: None,
            error_title: None,
            callback_data: Some("conversa:01CONV:MSG#1#01MSG".into()),
        }
    );
    assert_eq!(item.group_id(), "sms-554830000099#5548999990000");
}

#[test]
fn every_failure_event_is_failed_with_its_type_and_description() {
    for t in [
        "TEXT_BLOCKED",
        "TEXT_TTL_EXPIRED",
        "TEXT_CARRIER_UNREACHABLE",
        "TEXT_INVALID",
        "TEXT_INVALID_MESSAGE",
        "TEXT_CARRIER_BLOCKED",
        "TEXT_UNREACHABLE",
        "TEXT_SPAM",
        "TEXT_UNKNOWN",
        "TEXT_PROTECT_BLOCKED",
    ] {
        let mut e = event(t);
        e["messageStatusDescription"] = json!("Message blocked by carrier");
        let (status, title) = status_of(&e);
        assert_eq!(status, "failed", "{t}");
        assert_eq!(
            title.as_deref(),
            Some(format!("{t}: Message blocked by carrier").as_str())
        );
    }
    let mut bare = event("TEXT_SPAM");
    bare.as_object_mut()
        .unwrap()
        .remove("messageStatusDescription");
    bare.as_object_mut().unwrap().remove("messageStatus");
    assert_eq!(status_of(&bare).1.as_deref(), Some("TEXT_SPAM"));
}

#[test]
fn queued_and_pending_events_are_ignored() {
    for t in ["TEXT_QUEUED", "TEXT_PENDING"] {
        assert_eq!(parse(&event(t)), Ok(None), "{t}");
    }
}

#[test]
fn an_event_without_context_or_timestamp_has_no_callback_data_and_the_publish_time() {
    let mut e = event("TEXT_SUCCESSFUL");
    let o = e.as_object_mut().unwrap();
    o.remove("context");
    o.remove("eventTimestamp");
    match parse(&e) {
        Ok(Some(WorkItem::Status {
            at, callback_data, ..
        })) => {
            assert_eq!(at, PUBLISHED);
            assert_eq!(callback_data, None);
        }
        other => panic!("unexpected {other:?}"),
    }
}

#[test]
fn an_unknown_event_type_is_an_error_that_names_it() {
    let err = parse(&event("VOICE_COMPLETED")).unwrap_err();
    assert_eq!(
        err,
        SmsNotificationError::UnknownEventType("VOICE_COMPLETED".into())
    );
    // A value that is no event type name is not quoted.
    let err = parse(&event("+5548999990000")).unwrap_err();
    assert!(!err.to_string().contains("5548999990000"), "{err}");
}

#[test]
fn a_notification_that_is_not_json_or_not_an_sms_notification_is_an_error() {
    assert!(matches!(
        parse_notification("{not json", PUBLISHED),
        Err(SmsNotificationError::Malformed(_))
    ));
    assert_eq!(
        parse_notification(r#"{"hello": "world"}"#, PUBLISHED),
        Err(SmsNotificationError::Unknown)
    );
    assert_eq!(
        parse_notification("[1, 2]", PUBLISHED),
        Err(SmsNotificationError::Unknown)
    );
}

#[test]
fn a_garbled_two_way_message_is_an_error_that_names_the_field_not_the_value() {
    let mut m: Value = serde_json::from_str(&two_way("", "segredo")).unwrap();
    m.as_object_mut().unwrap().remove("messageBody");
    let err = parse(&m).unwrap_err();
    assert_eq!(
        err.to_string(),
        "invalid_payload: unreadable two-way SMS message (missing field messageBody)"
    );
    let mut m: Value = serde_json::from_str(&two_way("", "segredo")).unwrap();
    m["originationNumber"] = json!(5548999990000_i64);
    let err = parse(&m).unwrap_err().to_string();
    assert!(err.starts_with("invalid_payload: unreadable two-way SMS message"));
    assert!(!err.contains("5548999990000"), "{err}");
}

#[test]
fn numbers_that_are_not_phone_numbers_are_errors() {
    let mut m: Value = serde_json::from_str(&two_way("", "oi")).unwrap();
    m["originationNumber"] = json!("ACME");
    assert_eq!(
        parse(&m),
        Err(SmsNotificationError::NotANumber {
            what: "two-way SMS message",
            field: "originationNumber"
        })
    );
    let mut m: Value = serde_json::from_str(&two_way("", "oi")).unwrap();
    m["destinationNumber"] = json!("");
    assert!(matches!(
        parse(&m),
        Err(SmsNotificationError::NotANumber {
            field: "destinationNumber",
            ..
        })
    ));
    let mut e = event("TEXT_DELIVERED");
    e["originationPhoneNumber"] = json!("MYBRAND");
    assert!(matches!(
        parse(&e),
        Err(SmsNotificationError::NotANumber {
            field: "originationPhoneNumber",
            ..
        })
    ));
}

#[test]
fn a_short_code_names_its_channel_too() {
    let mut m: Value = serde_json::from_str(&two_way("", "oi")).unwrap();
    m["destinationNumber"] = json!("28282");
    assert!(matches!(
        parse(&m),
        Ok(Some(WorkItem::Message { ref channel, .. })) if channel == "sms-28282"
    ));
}
