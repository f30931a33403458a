//! `GET|PUT /v1/contacts/{phone}?channel=`: a contact of one channel ("adicionar aos
//! contatos", Voitel Lynk): the WhatsApp profile name from the webhooks, the name and
//! free attributes agents give it, its window, and its open conversation when the
//! caller may see it. Contacts are per channel, like the window. Ports: channels,
//! contacts, conversations.

use super::access::authorize;
use super::request::{parse_body, MAX_ATTRIBUTES_BYTES};
use super::AgentApi;
use crate::app::auth::{Caller, Role};
use crate::app::http::{json, ApiError, ApiResult};
use crate::domain::Phone;
use crate::ports::ContactRecord;
use lambda_http::{http::StatusCode, Request, RequestExt};
use serde::Deserialize;
use serde_json::{json, Map, Value};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ContactRequest {
    #[serde(default)]
    display_name: Option<String>,
    #[serde(default)]
    attributes: Map<String, Value>,
    /// Set or clear the campaign opt-out; absent leaves it as it is.
    #[serde(default)]
    opted_out: Option<bool>,
}

const MAX_NAME: usize = 100;
const MAX_ATTRIBUTE_KEYS: usize = 50;
const MAX_ATTRIBUTE_KEY: usize = 64;

impl AgentApi {
    pub(super) async fn contact(&self, req: &Request, who: &Caller, phone: &str) -> ApiResult {
        let (channel, phone) = self.contact_of(req, who, phone).await?;
        let record = self.contacts.contact(&channel, phone.as_str()).await?;
        self.contact_view(who, &channel, phone.as_str(), record)
            .await
    }

    pub(super) async fn put_contact(&self, req: &Request, who: &Caller, phone: &str) -> ApiResult {
        let (channel, phone) = self.contact_of(req, who, phone).await?;
        let body: ContactRequest = parse_body(req)?;
        let name = body.display_name.as_deref().map(str::trim);
        if name.is_some_and(|n| n.is_empty() || n.chars().count() > MAX_NAME) {
            return Err(field_error(
                "display_name",
                format!("display_name must be 1 to {MAX_NAME} characters"),
            ));
        }
        check_attributes(&body.attributes)?;
        let record = self
            .contacts
            .save_profile(
                &channel,
                phone.as_str(),
                name,
                &body.attributes,
                body.opted_out,
            )
            .await?;
        tracing::info!(channel = %channel, contact = %phone, by = %who.sub, "contact saved");
        self.contact_view(who, &channel, phone.as_str(), Some(record))
            .await
    }

    /// The channel (`?channel=`, required) and phone a contact route names.
    async fn contact_of(
        &self,
        req: &Request,
        who: &Caller,
        phone: &str,
    ) -> Result<(String, Phone), ApiError> {
        if who.role == Role::Assistant {
            return Err(ApiError::forbidden("contacts are kept by agents"));
        }
        let phone = Phone::parse(phone)
            .map_err(|e| ApiError::unprocessable("invalid_phone", e.to_string()))?;
        let params = req.query_string_parameters();
        let channel = params.first("channel").ok_or_else(|| {
            ApiError::unprocessable(
                "missing_parameter",
                "query parameter channel is required (contacts are per channel)",
            )
        })?;
        let channel = self.channel(channel).await?;
        Ok((channel.id, phone))
    }

    async fn contact_view(
        &self,
        who: &Caller,
        channel: &str,
        phone: &str,
        record: Option<ContactRecord>,
    ) -> ApiResult {
        let now = self.clock.now();
        let window = crate::ports::window_of(channel, record.as_ref(), now);
        // The open conversation, only to a caller who may see it.
        let mut open = Value::Null;
        if let Some(id) = record
            .as_ref()
            .and_then(|r| r.open_conversation_id.as_deref())
        {
            if let Some(c) = self.conversations.conversation(id).await? {
                if c.state.is_open() && !c.is_expired(now) && authorize(who, &c).is_ok() {
                    open =
                        json!({"id": c.id, "state": c.state, "queue": c.queue, "agent": c.agent});
                }
            }
        }
        let record = record.unwrap_or_else(|| ContactRecord {
            channel: channel.to_owned(),
            contact: phone.to_owned(),
            name: None,
            display_name: None,
            attributes: Map::new(),
            last_inbound_at: None,
            open_conversation_id: None,
            opted_out: false,
            window_closed_at: None,
        });
        Ok(json(
            StatusCode::OK,
            &json!({
                "channel": channel,
                "phone": phone,
                "profile_name": record.name,
                "display_name": record.display_name,
                "attributes": record.attributes,
                "opted_out": record.opted_out,
                "window": window,
                "open_conversation": open,
            }),
        ))
    }
}

fn field_error(field: &str, message: String) -> ApiError {
    super::request::field_error("invalid_field", field, message)
}

/// Flat attributes: at most 50 keys of up to 64 characters, values a string, number or
/// boolean, 8 KB in all.
fn check_attributes(attributes: &Map<String, Value>) -> Result<(), ApiError> {
    if attributes.len() > MAX_ATTRIBUTE_KEYS {
        return Err(field_error(
            "attributes",
            format!("attributes may have at most {MAX_ATTRIBUTE_KEYS} keys"),
        ));
    }
    for (k, v) in attributes {
        if k.is_empty() || k.chars().count() > MAX_ATTRIBUTE_KEY {
            return Err(field_error(
                "attributes",
                format!("attribute names are 1 to {MAX_ATTRIBUTE_KEY} characters"),
            ));
        }
        if !(v.is_string() || v.is_number() || v.is_boolean()) {
            return Err(field_error(
                &format!("attributes.{}", super::request::truncate(k, 64)),
                "attribute values are strings, numbers or booleans".into(),
            ));
        }
    }
    let size = serde_json::to_string(attributes).map_or(usize::MAX, |s| s.len());
    if size > MAX_ATTRIBUTES_BYTES {
        return Err(field_error(
            "attributes",
            format!("attributes must stay under {MAX_ATTRIBUTES_BYTES} bytes"),
        ));
    }
    Ok(())
}
