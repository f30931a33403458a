//! The template catalogue: one item per (channel, name, language).

use super::items::{channel_pk, from_item, s, template_sk, to_item, Item, TemplateItem};
use super::DynamoStore;
use crate::domain::template::Template;
use crate::ports::{PortResult, TemplateCatalogue};
use async_trait::async_trait;

#[async_trait]
impl TemplateCatalogue for DynamoStore {
    async fn template(
        &self,
        channel: &str,
        name: &str,
        language: &str,
    ) -> PortResult<Option<Template>> {
        let item: Option<TemplateItem> = self
            .get(channel_pk(channel), &template_sk(name, language))
            .await?;
        Ok(item.map(|i| i.template))
    }

    async fn templates(&self, channel: &str) -> PortResult<Vec<Template>> {
        let mut out = Vec::new();
        let mut start: Option<Item> = None;
        loop {
            let page = self
                .client
                .query()
                .table_name(&self.table)
                .key_condition_expression("pk = :pk AND begins_with(sk, :t)")
                .expression_attribute_values(":pk", s(channel_pk(channel)))
                .expression_attribute_values(":t", s("TEMPLATE#"))
                .set_exclusive_start_key(start.take())
                .send()
                .await
                .map_err(|e| crate::aws::sdk_error("dynamodb", e))?;
            for item in page.items.unwrap_or_default() {
                out.push(from_item::<TemplateItem>(item)?.template);
            }
            match page.last_evaluated_key {
                Some(k) if !k.is_empty() => start = Some(k),
                _ => break,
            }
        }
        Ok(out)
    }

    async fn put_template(&self, channel: &str, template: &Template) -> PortResult<()> {
        let item = to_item(&TemplateItem {
            pk: channel_pk(channel),
            sk: template_sk(&template.name, &template.language),
            template: template.clone(),
        })?;
        self.client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .send()
            .await
            .map_err(|e| crate::aws::sdk_error("dynamodb", e))?;
        Ok(())
    }
}
