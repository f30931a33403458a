//! Approved message templates (HSM): placeholders, parameter checks and the preview.

use serde::{Deserialize, Serialize};

/// A template as the Graph API describes it (`GET /{waba-id}/message_templates`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Template {
    pub name: String,
    pub language: String,
    #[serde(default)]
    pub category: String,
    pub status: String,
    #[serde(default)]
    pub components: Vec<TemplateComponent>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TemplateComponent {
    /// HEADER, BODY, FOOTER or BUTTONS.
    #[serde(rename = "type")]
    pub kind: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub format: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub buttons: Vec<TemplateButton>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TemplateButton {
    #[serde(rename = "type")]
    pub kind: String,
    #[serde(default)]
    pub text: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phone_number: Option<String>,
}

/// What the contact will see.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Preview {
    pub header: Option<String>,
    pub body: String,
    pub footer: Option<String>,
    pub buttons: Vec<String>,
}

/// A preview while parameters are being filled in.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Draft {
    #[serde(flatten)]
    pub preview: Preview,
    /// Every parameter is given: the template can be sent.
    pub complete: bool,
    pub missing: Vec<MissingParameter>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct MissingParameter {
    pub position: usize,
    pub component: &'static str,
    pub placeholder: u32,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TemplateError {
    #[error("template {name} ({language}) is {status}; only APPROVED templates can be sent")]
    NotApproved {
        name: String,
        language: String,
        status: String,
    },
    #[error("parameter {position} is missing: {{{{{placeholder}}}}} in the {component} has no value (the template takes {expected})")]
    Missing {
        position: usize,
        component: &'static str,
        placeholder: u32,
        expected: usize,
    },
    #[error("parameter {position} is extra: the template takes {expected}")]
    Extra { position: usize, expected: usize },
    #[error("parameter {position} ({{{{{placeholder}}}}} in the {component}) is empty")]
    Empty {
        position: usize,
        component: &'static str,
        placeholder: u32,
    },
}

pub const APPROVED: &str = "APPROVED";

/// The distinct `{{n}}` placeholders of a text, in ascending order.
pub fn placeholders(text: &str) -> Vec<u32> {
    let mut out = Vec::new();
    let mut rest = text;
    while let Some(start) = rest.find("{{") {
        let after = &rest[start + 2..];
        match after.find("}}") {
            Some(end) => {
                if let Ok(n) = after[..end].trim().parse::<u32>() {
                    if !out.contains(&n) {
                        out.push(n);
                    }
                }
                rest = &after[end + 2..];
            }
            None => break,
        }
    }
    out.sort_unstable();
    out
}

fn fill(text: &str, values: &[(u32, &str)]) -> String {
    let mut out = text.to_owned();
    for (n, v) in values {
        out = out.replace(&format!("{{{{{n}}}}}", n = n), v);
    }
    out
}

impl Template {
    pub fn is_approved(&self) -> bool {
        self.status.eq_ignore_ascii_case(APPROVED)
    }

    fn component(&self, kind: &str) -> Option<&TemplateComponent> {
        self.components
            .iter()
            .find(|c| c.kind.eq_ignore_ascii_case(kind))
    }

    fn text_of(&self, kind: &str) -> Option<&str> {
        self.component(kind).and_then(|c| c.text.as_deref())
    }

    /// Placeholders per component, in the order parameters are given: header, then body.
    pub fn slots(&self) -> Vec<(&'static str, u32)> {
        let header = self.text_of("HEADER").map(placeholders).unwrap_or_default();
        let body = self.text_of("BODY").map(placeholders).unwrap_or_default();
        header
            .into_iter()
            .map(|n| ("header", n))
            .chain(body.into_iter().map(|n| ("body", n)))
            .collect()
    }

    /// Checks the parameters (count, none empty) and renders the preview.
    pub fn render(&self, parameters: &[String]) -> Result<Preview, TemplateError> {
        if !self.is_approved() {
            return Err(TemplateError::NotApproved {
                name: self.name.clone(),
                language: self.language.clone(),
                status: self.status.clone(),
            });
        }
        let slots = self.slots();
        for (i, (component, placeholder)) in slots.iter().enumerate() {
            match parameters.get(i) {
                None => {
                    return Err(TemplateError::Missing {
                        position: i + 1,
                        component,
                        placeholder: *placeholder,
                        expected: slots.len(),
                    })
                }
                Some(p) if p.trim().is_empty() => {
                    return Err(TemplateError::Empty {
                        position: i + 1,
                        component,
                        placeholder: *placeholder,
                    })
                }
                Some(_) => {}
            }
        }
        if parameters.len() > slots.len() {
            return Err(TemplateError::Extra {
                position: slots.len() + 1,
                expected: slots.len(),
            });
        }
        let values = |which: &str| -> Vec<(u32, &str)> {
            slots
                .iter()
                .zip(parameters)
                .filter(|((c, _), _)| *c == which)
                .map(|((_, n), v)| (*n, v.as_str()))
                .collect()
        };
        Ok(Preview {
            header: self.text_of("HEADER").map(|t| fill(t, &values("header"))),
            body: self
                .text_of("BODY")
                .map(|t| fill(t, &values("body")))
                .unwrap_or_default(),
            footer: self.text_of("FOOTER").map(str::to_owned),
            buttons: self
                .component("BUTTONS")
                .map(|c| c.buttons.iter().map(|b| b.text.clone()).collect())
                .unwrap_or_default(),
        })
    }

    /// The preview as soon as a template is chosen (Dígitro): the parameters given so far
    /// fill their placeholders, the others stay `{{n}}` and are listed as missing.
    /// Sending still requires every one ([`Template::render`]).
    pub fn draft(&self, parameters: &[String]) -> Result<Draft, TemplateError> {
        let slots = self.slots();
        if parameters.len() > slots.len() {
            return Err(TemplateError::Extra {
                position: slots.len() + 1,
                expected: slots.len(),
            });
        }
        let missing: Vec<MissingParameter> = slots
            .iter()
            .enumerate()
            .filter(|(i, _)| parameters.get(*i).is_none_or(|p| p.trim().is_empty()))
            .map(|(i, (component, placeholder))| MissingParameter {
                position: i + 1,
                component,
                placeholder: *placeholder,
            })
            .collect();
        let filled: Vec<String> = slots
            .iter()
            .enumerate()
            .map(|(i, (_, n))| match parameters.get(i) {
                Some(p) if !p.trim().is_empty() => p.clone(),
                _ => format!("{{{{{n}}}}}"),
            })
            .collect();
        Ok(Draft {
            complete: missing.is_empty(),
            preview: self.render(&filled)?,
            missing,
        })
    }

    /// The Graph API `components` of a send with these (already checked) parameters.
    pub fn send_components(&self, parameters: &[String]) -> serde_json::Value {
        let slots = self.slots();
        let mut out = Vec::new();
        for which in ["header", "body"] {
            let params: Vec<serde_json::Value> = slots
                .iter()
                .zip(parameters)
                .filter(|((c, _), _)| *c == which)
                .map(|(_, v)| serde_json::json!({"type": "text", "text": v}))
                .collect();
            if !params.is_empty() {
                out.push(serde_json::json!({"type": which, "parameters": params}));
            }
        }
        serde_json::Value::Array(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    pub fn welcome() -> Template {
        serde_json::from_value(serde_json::json!({
            "name": "welcome", "language": "pt_BR", "category": "UTILITY", "status": "APPROVED",
            "components": [
                {"type": "BODY", "text": "Olá {{1}}, aqui é da Conversa. Podemos continuar seu atendimento?"},
                {"type": "FOOTER", "text": "Responda para continuar"},
                {"type": "BUTTONS", "buttons": [{"type": "QUICK_REPLY", "text": "Sim"}]}
            ]
        }))
        .unwrap()
    }

    #[test]
    fn preview_as_soon_as_a_template_is_chosen_shows_the_placeholders() {
        let d = welcome().draft(&[]).unwrap();
        assert!(!d.complete);
        assert!(d.preview.body.contains("{{1}}"), "{}", d.preview.body);
        assert_eq!(
            d.missing,
            vec![MissingParameter {
                position: 1,
                component: "body",
                placeholder: 1
            }]
        );
        let full = welcome().draft(&["Ana".into()]).unwrap();
        assert!(full.complete && full.missing.is_empty());
        assert_eq!(full.preview, welcome().render(&["Ana".into()]).unwrap());
        assert!(matches!(
            welcome().draft(&["a".into(), "b".into()]),
            Err(TemplateError::Extra { .. })
        ));
    }

    #[test]
    fn preview_renders_the_parameters() {
        let p = welcome().render(&["Ana".into()]).unwrap();
        assert_eq!(
            p.body,
            "Olá Ana, aqui é da Conversa. Podemos continuar seu atendimento?"
        );
        assert_eq!(p.footer.as_deref(), Some("Responda para continuar"));
        assert_eq!(p.buttons, vec!["Sim"]);
    }

    #[test]
    fn template_parameter_count_mismatch_names_the_parameter() {
        let e = welcome().render(&[]).unwrap_err();
        assert!(matches!(
            e,
            TemplateError::Missing {
                position: 1,
                placeholder: 1,
                ..
            }
        ));
        assert!(e.to_string().contains("{{1}}"), "{e}");
        let e = welcome()
            .render(&["Ana".into(), "extra".into()])
            .unwrap_err();
        assert_eq!(
            e,
            TemplateError::Extra {
                position: 2,
                expected: 1
            }
        );
    }

    #[test]
    fn empty_template_parameter_is_rejected() {
        let e = welcome().render(&["  ".into()]).unwrap_err();
        assert!(matches!(e, TemplateError::Empty { position: 1, .. }));
    }

    #[test]
    fn template_not_approved_cannot_be_sent() {
        let mut t = welcome();
        t.status = "PENDING".into();
        assert!(matches!(
            t.render(&["Ana".into()]),
            Err(TemplateError::NotApproved { .. })
        ));
    }

    #[test]
    fn header_parameters_come_before_body_parameters() {
        let mut t = welcome();
        t.components.insert(
            0,
            TemplateComponent {
                kind: "HEADER".into(),
                format: Some("TEXT".into()),
                text: Some("Pedido {{1}}".into()),
                buttons: vec![],
            },
        );
        let p = t.render(&["123".into(), "Ana".into()]).unwrap();
        assert_eq!(p.header.as_deref(), Some("Pedido 123"));
        assert!(p.body.starts_with("Olá Ana"));
        let c = t.send_components(&["123".into(), "Ana".into()]);
        assert_eq!(c[0]["type"], "header");
        assert_eq!(c[1]["parameters"][0]["text"], "Ana");
    }

    #[test]
    fn placeholders_are_distinct_and_ordered() {
        assert_eq!(placeholders("{{2}} e {{1}} e {{2}}"), vec![1, 2]);
        assert!(placeholders("sem nada").is_empty());
    }
}
