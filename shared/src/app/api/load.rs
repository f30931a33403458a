//! Loading what a request names, shared by every resource: a conversation (closed first
//! if it is past its expiry), a channel, an approved template. Unknown or malformed ids
//! answer 404 or 422, never a backend error.

use super::request::TemplateChoice;
use super::AgentApi;
use crate::app::http::ApiError;
use crate::domain::{template::Template, Channel, Conversation};

impl AgentApi {
    /// Loads a conversation; one past its expiry is closed first (lazy expiry).
    pub(super) async fn conversation(&self, id: &str) -> Result<Conversation, ApiError> {
        if !crate::app::http::valid_id(id) {
            return Err(ApiError::not_found(format!(
                "conversation {id:.64} not found"
            )));
        }
        let c = self
            .conversations
            .conversation(id)
            .await?
            .ok_or_else(|| ApiError::not_found(format!("conversation {id} not found")))?;
        let (c, _) = self.closer.close_if_expired(c, self.clock.now()).await?;
        Ok(c)
    }

    pub(super) async fn channel(&self, id: &str) -> Result<Channel, ApiError> {
        if !crate::app::http::valid_id(id) {
            return Err(ApiError::not_found(format!(
                "channel {id:.64} is not configured"
            )));
        }
        self.channels
            .channel(id)
            .await?
            .ok_or_else(|| ApiError::not_found(format!("channel {id} is not configured")))
    }

    /// The channel as a send needs it: from the per-instance cache.
    pub(super) async fn sending_channel(&self, id: &str) -> Result<Channel, ApiError> {
        self.sending_channels
            .channel(id)
            .await?
            .ok_or_else(|| ApiError::not_found(format!("channel {id} is not configured")))
    }

    pub(super) async fn approved_template(
        &self,
        channel: &str,
        choice: &TemplateChoice,
    ) -> Result<Template, ApiError> {
        super::request::text_only(channel, "template")?;
        self.templates
            .template(channel, &choice.name, &choice.language)
            .await?
            .ok_or_else(|| {
                ApiError::unprocessable(
                    "template_not_found",
                    format!(
                        "channel {channel} has no template {} in {}",
                        choice.name, choice.language
                    ),
                )
            })
    }
}
