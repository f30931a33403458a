//! Issue 18: the workspace's key cases, run for both channel kinds. A conversation that
//! arrived by WhatsApp (a webhook) or by SMS (an SNS notification, as `POST /_dev/sms`
//! delivers it) is worked the same way: it waits in the channel's queue, is captured,
//! answered, transferred, held, closed, archived and removed; a new message after the
//! close opens a new conversation; an outsider is refused.

use conversa::ports::store::*;
use conversa_tests::*;
use serde_json::json;

const SMS: &str = conversa_infra::dev::SAMPLE_SMS_CHANNEL_ID;

#[derive(Clone, Copy, Debug)]
enum Kind {
    Whatsapp,
    Sms,
}

impl Kind {
    fn channel(self) -> &'static str {
        match self {
            Kind::Whatsapp => SAMPLE_CHANNEL_ID,
            Kind::Sms => SMS,
        }
    }

    /// The contact writes; returns the open conversation's id.
    async fn arrives(self, t: &TestStack, contact: &str, text: &str) -> String {
        let id = format!("in-{}", ulid::Ulid::new());
        match self {
            Kind::Whatsapp => t.contact_writes(contact, &id, t.now_secs()).await,
            Kind::Sms => t.contact_texts_sms(contact, SMS, text, &id).await,
        }
        t.store()
            .contact(self.channel(), contact)
            .await
            .unwrap()
            .and_then(|r| r.open_conversation_id)
            .expect("an open conversation")
    }
}

async fn work_a_conversation(kind: Kind) {
    let contact = "5548999993333";
    let t = stack().await;
    t.local.seed_sms_channel().await.unwrap();
    let id = kind.arrives(&t, contact, "Oi, preciso de ajuda").await;
    let agent = t.agent_token().await;

    let (status, d) = t.get_json(&format!("/v1/conversations/{id}"), &agent).await;
    assert_eq!(status, 200, "{kind:?}");
    assert_eq!(d["channel"], kind.channel());
    assert_eq!(
        (d["state"].as_str(), d["queue"].as_str()),
        (Some("queued"), Some("support"))
    );
    assert_eq!(d["window"]["open"], true);

    let outsider = t.token("agent-9", "agent", &["sales"]).await;
    let (status, _) = t.op(&outsider, &id, "capture", json!({})).await;
    assert_eq!(status, 403, "{kind:?}: an agent outside the queue");

    let (status, c) = t.op(&agent, &id, "capture", json!({})).await;
    assert_eq!(
        (status, c["state"].as_str()),
        (200, Some("assigned")),
        "{kind:?}"
    );
    let (status, sent) = t
        .op(
            &agent,
            &id,
            "messages",
            json!({"text": "Olá! Como posso ajudar?"}),
        )
        .await;
    assert_eq!(status, 202, "{kind:?}: {sent}");
    assert_eq!(sent.get("segments").is_some(), matches!(kind, Kind::Sms));

    t.register_agent("agent-7", &["support"], None).await;
    let (status, c) = t
        .op(&agent, &id, "transfer", json!({"agent": "agent-7"}))
        .await;
    assert_eq!(
        (status, c["agent"].as_str()),
        (200, Some("agent-7")),
        "{kind:?}"
    );
    let seven = t.token("agent-7", "agent", &["support"]).await;
    let (status, c) = t.op(&seven, &id, "hold", json!({})).await;
    assert_eq!(
        (status, c["state"].as_str()),
        (200, Some("on_hold")),
        "{kind:?}"
    );
    let (status, c) = t.op(&seven, &id, "resume", json!({})).await;
    assert_eq!(
        (status, c["state"].as_str()),
        (200, Some("assigned")),
        "{kind:?}"
    );
    let (status, c) = t.op(&seven, &id, "archive", json!({})).await;
    assert_eq!(
        (status, c["archived"].as_bool()),
        (200, Some(true)),
        "{kind:?}"
    );
    let (status, c) = t.op(&seven, &id, "close", json!({})).await;
    assert_eq!(
        (status, c["state"].as_str(), c["close_reason"].as_str()),
        (200, Some("closed"), Some("agent_closed")),
        "{kind:?}"
    );
    let (status, err) = t
        .op(&seven, &id, "messages", json!({"text": "ainda aí?"}))
        .await;
    assert_eq!(
        (status, err["code"].as_str()),
        (409, Some("conversation_closed")),
        "{kind:?}"
    );

    let next = kind.arrives(&t, contact, "Voltei").await;
    assert_ne!(next, id, "{kind:?}: a new conversation after the close");

    let boss = t.token("boss", "supervisor", &["support"]).await;
    let r = t
        .http
        .delete(t.url(&format!("/v1/conversations/{id}")))
        .bearer_auth(&boss)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "{kind:?}: removed");
    let (status, _) = t.get_json(&format!("/v1/conversations/{id}"), &boss).await;
    assert_eq!(status, 404, "{kind:?}");

    let closed = t.events_of("conversation.closed").await;
    assert_eq!(closed.len(), 1, "{kind:?}");
    assert_eq!(
        closed[0]["detail"]["conversation"]["channel"],
        kind.channel()
    );
}

#[tokio::test]
async fn a_whatsapp_conversation_is_captured_answered_transferred_held_closed_and_removed() {
    work_a_conversation(Kind::Whatsapp).await;
}

#[tokio::test]
async fn an_sms_conversation_is_captured_answered_transferred_held_closed_and_removed() {
    work_a_conversation(Kind::Sms).await;
}
