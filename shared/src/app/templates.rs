//! The template catalogue sync: `GET /{waba-id}/message_templates` (every page) into the
//! table, per channel. Run by the `template-sync` schedule and on demand.

use crate::domain::template::Template;
use crate::ports::{ChannelStore, PortError, Provider, ProviderError, Secrets, TemplateCatalogue};
use serde::Serialize;
use std::sync::Arc;

pub struct TemplateSync {
    pub channels: Arc<dyn ChannelStore>,
    pub templates: Arc<dyn TemplateCatalogue>,
    pub provider: Arc<dyn Provider>,
    pub secrets: Arc<dyn Secrets>,
    pub default_token_parameter: String,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct SyncReport {
    pub channels: usize,
    pub templates: usize,
    pub approved: usize,
    pub retired: usize,
    pub failed_channels: Vec<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum SyncError {
    #[error(transparent)]
    Port(#[from] PortError),
    #[error(transparent)]
    Provider(#[from] ProviderError),
}

impl TemplateSync {
    pub async fn run(&self) -> Result<SyncReport, SyncError> {
        let mut report = SyncReport::default();
        for channel in self.channels.channels().await? {
            // SMS channels have no templates; a WhatsApp one without its account has none
            // to fetch.
            if !channel.kind().has_templates() || channel.waba_id.is_empty() {
                continue;
            }
            report.channels += 1;
            let parameter = channel
                .token_parameter
                .clone()
                .unwrap_or_else(|| self.default_token_parameter.clone());
            let fetched = match self.secrets.secret(&parameter).await {
                Ok(token) => self.provider.templates(&token, &channel.waba_id).await,
                Err(e) => Err(ProviderError::Permanent {
                    code: None,
                    message: e.to_string(),
                }),
            };
            let fetched = match fetched {
                Ok(t) => t,
                Err(e) => {
                    // One channel's failure does not stop the others.
                    tracing::warn!(channel = %channel.id, error = %e, "template sync failed for channel");
                    report.failed_channels.push(channel.id.clone());
                    continue;
                }
            };
            for t in &fetched {
                self.templates.put_template(&channel.id, t).await?;
                report.templates += 1;
                report.approved += usize::from(t.is_approved());
            }
            // Templates deleted at Meta can no longer be sent.
            for old in self.templates.templates(&channel.id).await? {
                let still = fetched
                    .iter()
                    .any(|t| t.name == old.name && t.language == old.language);
                if !still && old.status != "DELETED" {
                    let retired = Template {
                        status: "DELETED".into(),
                        ..old
                    };
                    self.templates.put_template(&channel.id, &retired).await?;
                    report.retired += 1;
                }
            }
        }
        tracing::info!(?report, "template sync done");
        Ok(report)
    }
}
