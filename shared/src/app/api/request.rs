//! What every API resource reads from a request: JSON bodies, page sizes, cursors and
//! list filters, each refused with the API's error shape.

use crate::app::http::ApiError;
use crate::domain::Origin;
use crate::ports::{ListFilter, PortError};
use lambda_http::{Request, RequestExt};
use serde::Deserialize;

/// Conditional writes that lose a race read again; this bounds the loop.
pub(super) const MAX_ATTEMPTS: usize = 5;
const DEFAULT_PAGE: u32 = 50;
/// A WhatsApp text body, caption or automatic message: at most 4,096 characters.
pub const MAX_TEXT: usize = 4096;
/// Free JSON an agent or assistant attaches (contact attributes).
pub const MAX_ATTRIBUTES_BYTES: usize = 8 * 1024;
const MAX_PAGE: u32 = 100;

pub fn parse_body<T: serde::de::DeserializeOwned>(req: &Request) -> Result<T, ApiError> {
    let body = req.body().as_ref();
    serde_json::from_slice(body).map_err(|e| {
        if e.is_data() {
            ApiError::unprocessable("invalid_body", e.to_string())
        } else {
            ApiError::bad_request("malformed_json", format!("body is not valid JSON: {e}"))
        }
    })
}

/// A text an agent sends on a channel, checked by the channel kind's rules: WhatsApp's
/// 4,096 characters, SMS's segments (returned, for the answer).
pub fn checked_text(
    channel: &str,
    text: &str,
) -> Result<Option<crate::domain::sms::SmsSegments>, ApiError> {
    use crate::domain::channel::TextError;
    use crate::domain::sms::SmsError;
    if text.trim().is_empty() {
        return Err(ApiError::unprocessable(
            "invalid_text",
            format!("text must have 1 to {MAX_TEXT} characters"),
        ));
    }
    crate::domain::ChannelKind::of(channel)
        .check_text(text)
        .map_err(|e| match e {
            TextError::Sms(SmsError::TooLong { segments, max }) => ApiError::unprocessable(
                "text_too_long",
                format!("text is too long for an SMS: {e}"),
            )
            .with_details(serde_json::json!({ "segments": segments, "max_segments": max })),
            TextError::Sms(SmsError::Empty) => ApiError::unprocessable(
                "invalid_text",
                "an SMS cannot be empty or only white space",
            ),
            TextError::TooLong { max } => ApiError::unprocessable(
                "invalid_text",
                format!("text must have 1 to {max} characters"),
            ),
        })
}

/// SMS channels send text only: templates, media and the like are refused by name.
pub fn text_only(channel: &str, what: &str) -> Result<(), ApiError> {
    let kind = crate::domain::ChannelKind::of(channel);
    if what == "template" && !kind.has_templates() || what != "template" && !kind.has_rich_content()
    {
        let code = if what == "template" {
            "templates_not_supported"
        } else {
            "content_not_supported"
        };
        return Err(ApiError::unprocessable(
            code,
            format!("channel {channel} is an SMS channel: it sends text only, no {what}"),
        ));
    }
    Ok(())
}

pub fn page_limit(raw: Option<&str>) -> Result<u32, ApiError> {
    match raw {
        None => Ok(DEFAULT_PAGE),
        Some(v) => v
            .parse::<u32>()
            .ok()
            .filter(|n| (1..=MAX_PAGE).contains(n))
            .ok_or_else(|| {
                ApiError::unprocessable("invalid_limit", format!("limit must be 1..={MAX_PAGE}"))
            }),
    }
}

pub fn cursor_or_backend(e: PortError) -> ApiError {
    if e.service == "cursor" {
        ApiError::unprocessable("invalid_cursor", "cursor is not one this API returned")
    } else {
        e.into()
    }
}

/// Filters a listing by channel, contact, origin and state
/// (`?channel=&contact=&origin=&state=`); the state is left to the caller, which may
/// use it to pick a list.
pub fn list_filter(req: &Request) -> Result<ListFilter, ApiError> {
    let params = req.query_string_parameters();
    let origin = match params.first("origin") {
        None => None,
        Some(raw) => Some(enum_parameter::<Origin>(
            "origin",
            raw,
            "customer, agent or campaign",
        )?),
    };
    let channel = params.first("channel");
    if channel.is_some_and(|c| !crate::app::http::valid_id(c)) {
        return Err(ApiError::unprocessable(
            "invalid_parameter",
            "channel must be a channel id (1 to 64 letters, digits, '-', '_' or '.')",
        ));
    }
    let contact = match params.first("contact") {
        Some(raw) => Some(
            crate::domain::Phone::parse(raw)
                .map_err(|e| ApiError::unprocessable("invalid_phone", e.to_string()))?
                .as_str()
                .to_owned(),
        ),
        None => None,
    };
    Ok(ListFilter {
        channel: channel.map(str::to_owned),
        contact,
        origin,
        state: None,
    })
}

/// A query parameter that names a value of a snake_case enum.
pub fn enum_parameter<T: serde::de::DeserializeOwned>(
    name: &str,
    raw: &str,
    expected: &str,
) -> Result<T, ApiError> {
    serde_json::from_value(serde_json::Value::String(raw.to_owned())).map_err(|_| {
        ApiError::unprocessable(
            "invalid_parameter",
            format!("{name} must be {expected}, got {:?}", truncate(raw, 64)),
        )
    })
}

/// At most `max` characters of what a caller sent, for echoing it in an error.
pub fn truncate(raw: &str, max: usize) -> &str {
    match raw.char_indices().nth(max) {
        Some((i, _)) => &raw[..i],
        None => raw,
    }
}

/// A refused field: 422 naming it in `details.field`.
pub fn field_error(code: &'static str, field: &str, message: impl Into<String>) -> ApiError {
    ApiError::unprocessable(code, message).with_details(serde_json::json!({ "field": field }))
}

/// A template parameter is at most 1,024 characters; a template takes at most 20.
pub const MAX_PARAMETER: usize = 1024;
pub const MAX_PARAMETERS: usize = 20;

pub fn check_parameters(parameters: &[String]) -> Result<(), ApiError> {
    if parameters.len() > MAX_PARAMETERS {
        return Err(field_error(
            "invalid_field",
            "template.parameters",
            format!("a template takes at most {MAX_PARAMETERS} parameters"),
        ));
    }
    for (i, p) in parameters.iter().enumerate() {
        if p.chars().count() > MAX_PARAMETER {
            return Err(field_error(
                "invalid_field",
                &format!("template.parameters[{i}]"),
                format!(
                    "template parameter {} is over {MAX_PARAMETER} characters",
                    i + 1
                ),
            ));
        }
    }
    Ok(())
}

impl TemplateChoice {
    /// Name and language short enough to name a template, parameters within limits.
    pub fn check(&self) -> Result<(), ApiError> {
        if self.name.is_empty() || self.name.chars().count() > 512 {
            return Err(field_error(
                "invalid_field",
                "template.name",
                "template.name must be 1 to 512 characters",
            ));
        }
        if self.language.is_empty() || self.language.chars().count() > 16 {
            return Err(field_error(
                "invalid_field",
                "template.language",
                "template.language must be 1 to 16 characters (e.g. pt_BR)",
            ));
        }
        check_parameters(&self.parameters)
    }
}

/// A template chosen by name and language, with its body parameters in order.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TemplateChoice {
    pub name: String,
    pub language: String,
    #[serde(default)]
    pub parameters: Vec<String>,
}
