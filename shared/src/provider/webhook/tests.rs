//! Reading webhook payloads: every message type, statuses, errors, and the parts a
//! signed payload can carry that cannot be read.

use super::*;
use serde_json::json;

fn payload(messages: Value) -> Vec<u8> {
    json!({
        "object": "whatsapp_business_account",
        "entry": [{"id": "WABA", "changes": [{"field": "messages", "value": {
            "messaging_product": "whatsapp",
            "metadata": {"display_phone_number": "554830000001", "phone_number_id": "100000000000001"},
            "contacts": [{"profile": {"name": "Ana"}, "wa_id": "5548999990000"}],
            "messages": messages
        }}]}]
    })
    .to_string()
    .into_bytes()
}

fn only_content(messages: Value) -> MessageContent {
    let items = split_payload(&payload(messages), 0).unwrap().items;
    match items.into_iter().next() {
        Some(WorkItem::Message { message, .. }) => message.content,
        other => panic!("unexpected {other:?}"),
    }
}

#[test]
fn malformed_json_is_rejected() {
    assert!(matches!(
        split_payload(b"{not json", 0),
        Err(PayloadError::Malformed(_))
    ));
}

#[test]
fn json_that_is_not_a_whatsapp_payload_is_rejected() {
    assert!(matches!(
        split_payload(br#"{"object":"page","entry":[]}"#, 0),
        Err(PayloadError::NotWhatsApp(_))
    ));
    assert!(matches!(
        split_payload(br#"[1,2,3]"#, 0),
        Err(PayloadError::NotWhatsApp(_))
    ));
}

#[test]
fn text_message_keeps_contact_name_and_timestamp() {
    let items = split_payload(
        &payload(
            json!([{"from": "5548999990000", "id": "wamid.A", "timestamp": "1700000000",
            "type": "text", "text": {"body": "oi"}}]),
        ),
        0,
    )
    .unwrap()
    .items;
    assert_eq!(
        items,
        vec![WorkItem::Message {
            channel: "100000000000001".into(),
            contact: "5548999990000".into(),
            contact_name: Some("Ana".into()),
            opt_out: false,
            message: InboundMessage {
                id: "wamid.A".into(),
                at: 1_700_000_000_000,
                content: MessageContent::Text { body: "oi".into() },
                context_id: None,
            },
        }]
    );
    assert_eq!(items[0].group_id(), "100000000000001#5548999990000");
}

#[test]
fn media_is_kept_by_reference() {
    let c = only_content(
        json!([{"from": "5548999990000", "id": "wamid.I", "timestamp": "1",
        "type": "image", "image": {"id": "MEDIA1", "mime_type": "image/jpeg", "caption": "nota"}}]),
    );
    assert_eq!(
        c,
        MessageContent::Image(Media {
            media_id: "MEDIA1".into(),
            mime_type: Some("image/jpeg".into()),
            caption: Some("nota".into()),
            ..Media::default()
        })
    );
}

#[test]
fn every_supported_type_is_read() {
    let cases = [
        (
            json!({"type": "audio", "audio": {"id": "A", "mime_type": "audio/ogg"}}),
            "audio",
        ),
        (json!({"type": "video", "video": {"id": "V"}}), "video"),
        (
            json!({"type": "document", "document": {"id": "D", "filename": "a.pdf"}}),
            "document",
        ),
        (
            json!({"type": "sticker", "sticker": {"id": "S"}}),
            "sticker",
        ),
        (
            json!({"type": "location", "location": {"latitude": -27.5, "longitude": -48.5}}),
            "location",
        ),
        (
            json!({"type": "contacts", "contacts": [{"name": {"formatted_name": "Bia"}}]}),
            "contacts",
        ),
        (
            json!({"type": "interactive", "interactive": {"type": "button_reply", "button_reply": {"id": "b1", "title": "Sim"}}}),
            "interactive",
        ),
        (
            json!({"type": "interactive", "interactive": {"type": "list_reply", "list_reply": {"id": "l1", "title": "Vendas", "description": "d"}}}),
            "interactive",
        ),
        (
            json!({"type": "button", "button": {"payload": "P", "text": "Quero"}}),
            "button",
        ),
        (
            json!({"type": "reaction", "reaction": {"message_id": "wamid.X", "emoji": "👍"}}),
            "reaction",
        ),
    ];
    for (mut m, expected) in cases {
        m["from"] = json!("5548999990000");
        m["id"] = json!("wamid.T");
        let c = only_content(json!([m]));
        assert_eq!(c.type_name(), expected, "{c:?}");
    }
}

#[test]
fn unknown_message_type_is_kept_as_unsupported() {
    let c = only_content(
        json!([{"from": "5548999990000", "id": "wamid.U", "type": "order", "order": {}}]),
    );
    assert_eq!(
        c,
        MessageContent::Unsupported {
            original_type: "order".into()
        }
    );
    let c = only_content(
        json!([{"from": "5548999990000", "id": "wamid.U2", "type": "unsupported",
        "errors": [{"code": 131051}]}]),
    );
    assert_eq!(c.type_name(), "unsupported");
    let c = only_content(
        json!([{"from": "5548999990000", "id": "wamid.U3", "type": "text", "text": {}}]),
    );
    assert_eq!(c.type_name(), "unsupported");
}

#[test]
fn payload_with_several_entries_messages_statuses_and_errors_is_split() {
    let body = json!({
        "object": "whatsapp_business_account",
        "entry": [
            {"id": "W1", "changes": [{"field": "messages", "value": {
                "metadata": {"phone_number_id": "100000000000001"},
                "messages": [
                    {"from": "5548999990001", "id": "wamid.1", "type": "text", "text": {"body": "a"}},
                    {"from": "5548999990002", "id": "wamid.2", "type": "text", "text": {"body": "b"}}
                ],
                "statuses": [{"id": "wamid.out", "status": "failed", "recipient_id": "5548999990003",
                    "errors": [{"code": 131047, "title": "Re-engagement message"}]}]
            }}]},
            {"id": "W2", "changes": [
                {"field": "message_template_status_update", "value": {"event": "APPROVED"}},
                {"field": "messages", "value": {
                    "metadata": {"phone_number_id": "100000000000002"},
                    "messages": [{"from": "5548999990004", "id": "wamid.3", "type": "text", "text": {"body": "c"}}],
                    "errors": [{"code": 130429, "title": "Rate limit hit"}]
                }}
            ]}
        ]
    });
    let items = split_payload(body.to_string().as_bytes(), 7).unwrap().items;
    assert_eq!(items.len(), 5);
    assert!(
        matches!(&items[2], WorkItem::Status { error_code: Some(131047), status, at: 7, .. } if status == "failed")
    );
    assert_eq!(items[3].channel(), "100000000000002");
    assert!(matches!(&items[4], WorkItem::Error { .. }));
    let ids: std::collections::HashSet<_> = items.iter().map(WorkItem::dedup_id).collect();
    assert_eq!(ids.len(), 5, "dedup ids are distinct");
    assert!(items.iter().all(|i| i.dedup_id().len() == 64));
}

#[test]
fn work_item_round_trips_through_json() {
    let items = split_payload(
        &payload(
            json!([{"from": "5548999990000", "id": "wamid.A", "type": "location",
            "location": {"latitude": 1.5, "longitude": 2.5, "name": "x"}}]),
        ),
        0,
    )
    .unwrap()
    .items;
    let json = serde_json::to_string(&items[0]).unwrap();
    let back: WorkItem = serde_json::from_str(&json).unwrap();
    assert_eq!(back, items[0]);
}

#[test]
fn one_unreadable_message_is_rejected_alone_with_its_reason() {
    let items = json!([
        {"from": "5548999990000", "id": "wamid.OK1", "type": "text", "text": {"body": "oi"}},
        {"id": "wamid.NOFROM", "type": "text", "text": {"body": "secret"}},
        {"from": "5548999990000", "id": "wamid.OK2", "type": "text", "text": {"body": "2"}}
    ]);
    let split = split_payload(&payload(items), 0).unwrap();
    let ids: Vec<String> = split
        .items
        .iter()
        .map(|i| match i {
            WorkItem::Message { message, .. } => message.id.clone(),
            other => panic!("unexpected {other:?}"),
        })
        .collect();
    assert_eq!(ids, ["wamid.OK1", "wamid.OK2"]);
    assert_eq!(split.rejected.len(), 1);
    let rejected = &split.rejected[0];
    assert!(
        rejected.reason.contains("missing field from"),
        "{}",
        rejected.reason
    );
    assert!(
        !rejected.reason.contains("secret"),
        "no payload values in the reason"
    );
    assert!(
        rejected.body.contains("wamid.NOFROM"),
        "kept whole for the DLQ"
    );
}

#[test]
fn a_change_without_metadata_is_rejected_and_the_others_are_read() {
    let body = json!({
        "object": "whatsapp_business_account",
        "entry": [{"id": "WABA", "changes": [
            {"field": "messages", "value": {"messages": [
                {"from": "5548999990000", "id": "wamid.LOST", "type": "text", "text": {"body": "x"}}
            ]}},
            {"field": "messages", "value": {
                "metadata": {"phone_number_id": "100000000000001"},
                "statuses": [{"id": "wamid.S", "status": "read", "recipient_id": "5548999990000"},
                             {"status": "read"}]
            }}
        ]}]
    });
    let split = split_payload(body.to_string().as_bytes(), 0).unwrap();
    assert_eq!(split.items.len(), 1, "the good status");
    let reasons: Vec<&str> = split.rejected.iter().map(|r| r.reason.as_str()).collect();
    assert_eq!(reasons.len(), 2, "{reasons:?}");
    assert!(reasons[0].contains("no metadata.phone_number_id"));
    assert!(reasons[1].contains("unreadable status"));
    assert_ne!(split.rejected[0].dedup_id(), split.rejected[1].dedup_id());
}
