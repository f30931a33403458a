//! `GET /v1/channels/{channel}/templates` (searchable by name, `?q=`, Voitel Lynk) and
//! `POST /v1/channels/{channel}/templates/{name}/preview`: the approved catalogue, and
//! the preview shown as soon as a template is chosen (Dígitro) — placeholders of the
//! parameters not given yet stay `{{n}}` and are listed. Ports: channels, templates.

use super::errors::template_error;
use super::request::{check_parameters, parse_body, truncate, TemplateChoice};
use super::AgentApi;
use crate::app::auth::Caller;
use crate::app::http::{json, ApiError, ApiResult};
use crate::domain::template::Template;
use lambda_http::{http::StatusCode, Request, RequestExt};
use serde::Deserialize;
use serde_json::json;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct PreviewRequest {
    language: String,
    #[serde(default)]
    parameters: Vec<String>,
}

impl AgentApi {
    pub(super) async fn list_templates(
        &self,
        req: &Request,
        _who: &Caller,
        channel: &str,
    ) -> ApiResult {
        self.channel(channel).await?;
        let params = req.query_string_parameters();
        let query = params.first("q").map(str::trim).unwrap_or("");
        if query.chars().count() > 100 {
            return Err(ApiError::unprocessable(
                "invalid_parameter",
                "q must be at most 100 characters",
            ));
        }
        let query = query.to_lowercase();
        let mut templates: Vec<Template> = self
            .templates
            .templates(channel)
            .await?
            .into_iter()
            .filter(Template::is_approved)
            .filter(|t| query.is_empty() || t.name.to_lowercase().contains(&query))
            .collect();
        templates.sort_by(|a, b| (&a.name, &a.language).cmp(&(&b.name, &b.language)));
        Ok(json(StatusCode::OK, &json!({ "items": templates })))
    }

    pub(super) async fn preview(
        &self,
        req: &Request,
        _who: &Caller,
        channel: &str,
        name: &str,
    ) -> ApiResult {
        let body: PreviewRequest = parse_body(req)?;
        check_parameters(&body.parameters)?;
        self.channel(channel).await?;
        if !crate::app::http::valid_id(name) || body.language.chars().count() > 16 {
            return Err(ApiError::unprocessable(
                "template_not_found",
                format!(
                    "channel {channel} has no template {} in {}",
                    truncate(name, 64),
                    truncate(&body.language, 16)
                ),
            ));
        }
        let choice = TemplateChoice {
            name: (*name).to_owned(),
            language: body.language,
            parameters: body.parameters,
        };
        let template = self.approved_template(channel, &choice).await?;
        let draft = template.draft(&choice.parameters).map_err(template_error)?;
        Ok(json(StatusCode::OK, &draft))
    }
}
