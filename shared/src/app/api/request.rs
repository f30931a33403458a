//! What every API resource reads from a request: JSON bodies, page sizes, cursors and
//! list filters, each refused with the API's error shape.

use crate::app::http::ApiError;
use crate::ports::{ListFilter, PortError};
use lambda_http::{Request, RequestExt};
use serde::Deserialize;

/// Conditional writes that lose a race read again; this bounds the loop.
pub(super) const MAX_ATTEMPTS: usize = 5;
const DEFAULT_PAGE: u32 = 50;
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

/// Filters a listing by channel and contact (`?channel=&contact=`).
pub fn list_filter(req: &Request) -> ListFilter {
    let params = req.query_string_parameters();
    ListFilter {
        channel: params.first("channel").map(str::to_owned),
        contact: params.first("contact").map(str::to_owned),
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
