//! `GET /v1/channels/{channel}/templates` and
//! `POST /v1/channels/{channel}/templates/{name}/preview`: the approved catalogue, and the
//! rendering every template send is checked with. Ports: channels, template catalogue.

use super::errors::template_error;
use super::request::{parse_body, TemplateChoice};
use super::AgentApi;
use crate::app::http::{json, ApiResult};
use crate::domain::template::Template;
use lambda_http::{http::StatusCode, Request};
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
    pub(super) async fn list_templates(&self, channel: &str) -> ApiResult {
        self.channel(channel).await?;
        let mut templates: Vec<Template> = self
            .templates
            .templates(channel)
            .await?
            .into_iter()
            .filter(Template::is_approved)
            .collect();
        templates.sort_by(|a, b| (&a.name, &a.language).cmp(&(&b.name, &b.language)));
        Ok(json(StatusCode::OK, &json!({ "items": templates })))
    }

    pub(super) async fn preview(&self, req: &Request, channel: &str, name: &str) -> ApiResult {
        let body: PreviewRequest = parse_body(req)?;
        self.channel(channel).await?;
        let choice = TemplateChoice {
            name: (*name).to_owned(),
            language: body.language,
            parameters: body.parameters,
        };
        let template = self.approved_template(channel, &choice).await?;
        let preview = template
            .render(&choice.parameters)
            .map_err(template_error)?;
        Ok(json(StatusCode::OK, &preview))
    }
}
