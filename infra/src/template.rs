//! Reads `template.yaml`, the single source of truth for resources, and resolves the
//! intrinsic functions the template uses (`Ref`, `Fn::Sub`, `Fn::GetAtt`, and, for
//! conditional parts such as a function's optional policy statements, `Fn::If` with the
//! template's `Conditions`, `Fn::Join` and `AWS::NoValue`).

use serde_json::{Map, Value as Json};
use serde_norway::Value;
use std::collections::{HashMap, HashSet};
use std::path::Path;

#[derive(Debug, thiserror::Error)]
pub enum TemplateError {
    #[error("cannot read {0}: {1}")]
    Read(String, std::io::Error),
    #[error("template is not valid YAML: {0}")]
    Yaml(#[from] serde_norway::Error),
    #[error("template: {0}")]
    Invalid(String),
}

/// What a resource resolves to: its `Ref` value and its `Fn::GetAtt` attributes.
#[derive(Debug, Clone, Default)]
pub struct Physical {
    pub reference: String,
    pub attributes: HashMap<String, String>,
}

pub struct Template {
    root: Value,
}

#[derive(Debug, Clone)]
pub struct Resource<'a> {
    pub logical_id: String,
    pub kind: String,
    pub properties: &'a Value,
    pub metadata: Option<&'a Value>,
}

/// An HTTP route or a queue that invokes a function.
#[derive(Debug, Clone, PartialEq)]
pub enum FunctionEvent {
    HttpApi {
        path: String,
        method: String,
        authorized: bool,
    },
    Sqs {
        queue_arn: String,
        batch_size: usize,
        report_batch_item_failures: bool,
        /// `ScalingConfig.MaximumConcurrency`: at most this many invocations at once.
        maximum_concurrency: Option<usize>,
    },
    /// An EventBridge schedule (`rate(...)` or `cron(...)`).
    Schedule { expression: String },
    /// An EventBridge rule on a bus, with its event pattern.
    EventBridgeRule { bus: String, pattern: Json },
    /// A subscription to an SNS topic (`Topic`, resolved: the topic's `Ref`).
    Sns { topic: String },
    /// A DynamoDB stream event source mapping.
    DynamoDb {
        stream_arn: String,
        batch_size: usize,
        report_batch_item_failures: bool,
        /// `FilterCriteria.Filters[].Pattern`, parsed.
        filters: Vec<Json>,
        maximum_retry_attempts: u32,
        /// The on-failure destination (an SQS queue ARN).
        on_failure: Option<String>,
    },
}

#[derive(Debug, Clone)]
pub struct FunctionDef {
    pub logical_id: String,
    /// The cargo binary (`Metadata.BuildProperties.Binary`).
    pub binary: String,
    pub environment: HashMap<String, String>,
    pub events: Vec<FunctionEvent>,
}

fn tag_name(tag: &serde_norway::value::Tag) -> String {
    tag.to_string().trim_start_matches('!').to_owned()
}

impl Template {
    pub fn load(path: &Path) -> Result<Self, TemplateError> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| TemplateError::Read(path.display().to_string(), e))?;
        Self::parse(&text)
    }

    pub fn parse(text: &str) -> Result<Self, TemplateError> {
        Ok(Self {
            root: serde_norway::from_str(text)?,
        })
    }

    pub fn parameter_defaults(&self) -> HashMap<String, String> {
        let mut out = HashMap::new();
        if let Some(Value::Mapping(params)) = self.root.get("Parameters") {
            for (k, v) in params {
                if let (Some(name), Some(default)) = (k.as_str(), v.get("Default")) {
                    let value = match default {
                        Value::String(s) => s.clone(),
                        Value::Number(n) => n.to_string(),
                        Value::Bool(b) => b.to_string(),
                        _ => continue,
                    };
                    out.insert(name.to_owned(), value);
                }
            }
        }
        out
    }

    /// The template's `Conditions`, by name, as written (evaluated by [`Resolver`]).
    pub fn conditions(&self) -> HashMap<String, Value> {
        let mut out = HashMap::new();
        if let Some(Value::Mapping(conditions)) = self.root.get("Conditions") {
            for (k, v) in conditions {
                if let Some(name) = k.as_str() {
                    out.insert(name.to_owned(), v.clone());
                }
            }
        }
        out
    }

    /// The parameters of a list type (`CommaDelimitedList`, `List<...>`): their `Ref` is
    /// a list.
    pub fn list_parameters(&self) -> HashSet<String> {
        let mut out = HashSet::new();
        if let Some(Value::Mapping(params)) = self.root.get("Parameters") {
            for (k, v) in params {
                let kind = v.get("Type").and_then(Value::as_str).unwrap_or_default();
                if let (Some(name), true) = (
                    k.as_str(),
                    kind == "CommaDelimitedList" || kind.starts_with("List<"),
                ) {
                    out.insert(name.to_owned());
                }
            }
        }
        out
    }

    pub fn resources(&self) -> Vec<Resource<'_>> {
        let mut out = Vec::new();
        if let Some(Value::Mapping(resources)) = self.root.get("Resources") {
            for (k, v) in resources {
                let (Some(id), Some(kind)) = (k.as_str(), v.get("Type").and_then(Value::as_str))
                else {
                    continue;
                };
                static EMPTY: Value = Value::Null;
                out.push(Resource {
                    logical_id: id.to_owned(),
                    kind: kind.to_owned(),
                    properties: v.get("Properties").unwrap_or(&EMPTY),
                    metadata: v.get("Metadata"),
                });
            }
        }
        out
    }

    pub fn resources_of(&self, kind: &str) -> Vec<Resource<'_>> {
        self.resources()
            .into_iter()
            .filter(|r| r.kind == kind)
            .collect()
    }

    /// The functions, their environment (globals merged) and their triggers, resolved.
    pub fn functions(&self, resolver: &Resolver) -> Result<Vec<FunctionDef>, TemplateError> {
        let globals = self
            .root
            .get("Globals")
            .and_then(|g| g.get("Function"))
            .and_then(|f| f.get("Environment"))
            .and_then(|e| e.get("Variables"));
        let default_authorizer = self
            .resources_of("AWS::Serverless::HttpApi")
            .iter()
            .any(|api| {
                api.properties
                    .get("Auth")
                    .and_then(|a| a.get("DefaultAuthorizer"))
                    .is_some()
            });
        let mut out = Vec::new();
        for f in self.resources_of("AWS::Serverless::Function") {
            let binary = f
                .metadata
                .and_then(|m| m.get("BuildProperties"))
                .and_then(|b| b.get("Binary"))
                .and_then(Value::as_str)
                .ok_or_else(|| {
                    TemplateError::Invalid(format!(
                        "{} has no Metadata.BuildProperties.Binary",
                        f.logical_id
                    ))
                })?
                .to_owned();
            let mut environment = HashMap::new();
            let own = f
                .properties
                .get("Environment")
                .and_then(|e| e.get("Variables"));
            for vars in [globals, own].into_iter().flatten() {
                if let Value::Mapping(m) = vars {
                    for (k, v) in m {
                        if let Some(k) = k.as_str() {
                            environment.insert(k.to_owned(), resolver.resolve_string(v)?);
                        }
                    }
                }
            }
            let mut events = Vec::new();
            if let Some(Value::Mapping(evs)) = f.properties.get("Events") {
                for (_, ev) in evs {
                    let props = ev.get("Properties");
                    match ev.get("Type").and_then(Value::as_str) {
                        Some("HttpApi") => {
                            let p = props.ok_or_else(|| {
                                TemplateError::Invalid("HttpApi event without Properties".into())
                            })?;
                            let none = p
                                .get("Auth")
                                .and_then(|a| a.get("Authorizer"))
                                .and_then(Value::as_str)
                                == Some("NONE");
                            events.push(FunctionEvent::HttpApi {
                                path: p
                                    .get("Path")
                                    .and_then(Value::as_str)
                                    .unwrap_or("/")
                                    .to_owned(),
                                method: p
                                    .get("Method")
                                    .and_then(Value::as_str)
                                    .unwrap_or("ANY")
                                    .to_uppercase(),
                                authorized: default_authorizer && !none,
                            });
                        }
                        Some("SQS") => {
                            let p = props.ok_or_else(|| {
                                TemplateError::Invalid("SQS event without Properties".into())
                            })?;
                            let queue = p.get("Queue").ok_or_else(|| {
                                TemplateError::Invalid("SQS event without Queue".into())
                            })?;
                            events.push(FunctionEvent::Sqs {
                                queue_arn: resolver.resolve_string(queue)?,
                                batch_size: p.get("BatchSize").and_then(Value::as_u64).unwrap_or(10)
                                    as usize,
                                report_batch_item_failures: p
                                    .get("FunctionResponseTypes")
                                    .and_then(Value::as_sequence)
                                    .is_some_and(|s| {
                                        s.iter()
                                            .any(|t| t.as_str() == Some("ReportBatchItemFailures"))
                                    }),
                                maximum_concurrency: match p
                                    .get("ScalingConfig")
                                    .and_then(|c| c.get("MaximumConcurrency"))
                                {
                                    Some(v) => resolver.resolve_string(v)?.parse().ok(),
                                    None => None,
                                },
                            });
                        }
                        Some("DynamoDB") => {
                            let p = props.ok_or_else(|| {
                                TemplateError::Invalid("DynamoDB event without Properties".into())
                            })?;
                            let stream = p.get("Stream").ok_or_else(|| {
                                TemplateError::Invalid("DynamoDB event without Stream".into())
                            })?;
                            let filters = p
                                .get("FilterCriteria")
                                .and_then(|f| f.get("Filters"))
                                .and_then(Value::as_sequence)
                                .into_iter()
                                .flatten()
                                .filter_map(|f| f.get("Pattern").and_then(Value::as_str))
                                .map(|pattern| {
                                    serde_json::from_str(pattern).map_err(|e| {
                                        TemplateError::Invalid(format!("filter pattern: {e}"))
                                    })
                                })
                                .collect::<Result<Vec<Json>, _>>()?;
                            let on_failure = p
                                .get("DestinationConfig")
                                .and_then(|d| d.get("OnFailure"))
                                .and_then(|o| o.get("Destination"))
                                .map(|d| resolver.resolve_string(d))
                                .transpose()?;
                            events.push(FunctionEvent::DynamoDb {
                                stream_arn: resolver.resolve_string(stream)?,
                                batch_size: p
                                    .get("BatchSize")
                                    .and_then(Value::as_u64)
                                    .unwrap_or(100)
                                    as usize,
                                report_batch_item_failures: p
                                    .get("FunctionResponseTypes")
                                    .and_then(Value::as_sequence)
                                    .is_some_and(|s| {
                                        s.iter()
                                            .any(|t| t.as_str() == Some("ReportBatchItemFailures"))
                                    }),
                                filters,
                                maximum_retry_attempts: p
                                    .get("MaximumRetryAttempts")
                                    .and_then(Value::as_u64)
                                    .unwrap_or(3)
                                    as u32,
                                on_failure,
                            });
                        }
                        Some("EventBridgeRule") => {
                            let p = props.ok_or_else(|| {
                                TemplateError::Invalid(
                                    "EventBridgeRule event without Properties".into(),
                                )
                            })?;
                            let bus = p
                                .get("EventBusName")
                                .map(|b| resolver.resolve_string(b))
                                .transpose()?
                                .unwrap_or_else(|| "default".into());
                            let pattern = p
                                .get("Pattern")
                                .map(|v| {
                                    serde_json::to_value(v).map_err(|e| {
                                        TemplateError::Invalid(format!("rule pattern: {e}"))
                                    })
                                })
                                .transpose()?
                                .unwrap_or(Json::Null);
                            events.push(FunctionEvent::EventBridgeRule { bus, pattern });
                        }
                        Some("SNS") => {
                            let topic = props.and_then(|p| p.get("Topic")).ok_or_else(|| {
                                TemplateError::Invalid("SNS event without Topic".into())
                            })?;
                            events.push(FunctionEvent::Sns {
                                topic: resolver.resolve_string(topic)?,
                            });
                        }
                        Some("Schedule") | Some("ScheduleV2") => {
                            let expression = props
                                .and_then(|p| {
                                    p.get("Schedule").or_else(|| p.get("ScheduleExpression"))
                                })
                                .map(|v| resolver.resolve_string(v))
                                .transpose()?
                                .unwrap_or_default();
                            events.push(FunctionEvent::Schedule { expression });
                        }
                        _ => {}
                    }
                }
            }
            out.push(FunctionDef {
                logical_id: f.logical_id.clone(),
                binary,
                environment,
                events,
            });
        }
        Ok(out)
    }

    /// The audience the HTTP API's JWT authorizer requires.
    pub fn jwt_audience(&self, resolver: &Resolver) -> Result<Option<String>, TemplateError> {
        for api in self.resources_of("AWS::Serverless::HttpApi") {
            if let Some(Value::Mapping(auths)) = api
                .properties
                .get("Auth")
                .and_then(|a| a.get("Authorizers"))
            {
                for (_, a) in auths {
                    if let Some(aud) = a
                        .get("JwtConfiguration")
                        .and_then(|j| j.get("audience"))
                        .and_then(Value::as_sequence)
                        .and_then(|s| s.first())
                    {
                        return resolver.resolve_string(aud).map(Some);
                    }
                }
            }
        }
        Ok(None)
    }
}

/// Resolves intrinsics against a stack name, parameter values and created resources.
#[derive(Debug, Clone, Default)]
pub struct Resolver {
    pub stack_name: String,
    pub region: String,
    pub account_id: String,
    /// Parameter values; a list parameter's is its items joined by commas, as
    /// `sam deploy --parameter-overrides` takes it.
    pub parameters: HashMap<String, String>,
    pub physical: HashMap<String, Physical>,
    /// The template's `Conditions` ([`Template::conditions`]), for `Fn::If`.
    pub conditions: HashMap<String, Value>,
    /// The list parameters ([`Template::list_parameters`]).
    pub list_parameters: HashSet<String>,
}

impl Resolver {
    fn pseudo(&self, name: &str) -> Option<String> {
        Some(match name {
            "AWS::StackName" => self.stack_name.clone(),
            "AWS::Region" => self.region.clone(),
            "AWS::AccountId" => self.account_id.clone(),
            "AWS::Partition" => "aws".into(),
            "AWS::URLSuffix" => "amazonaws.com".into(),
            _ => return None,
        })
    }

    fn reference(&self, name: &str) -> Result<String, TemplateError> {
        self.pseudo(name)
            .or_else(|| self.parameters.get(name).cloned())
            .or_else(|| self.physical.get(name).map(|p| p.reference.clone()))
            .ok_or_else(|| {
                TemplateError::Invalid(format!("Ref to unknown or not yet created {name}"))
            })
    }

    fn attribute(&self, name: &str, attr: &str) -> Result<String, TemplateError> {
        self.physical
            .get(name)
            .and_then(|p| p.attributes.get(attr).cloned())
            .ok_or_else(|| TemplateError::Invalid(format!("GetAtt {name}.{attr} is not known")))
    }

    /// `Fn::Sub`: `${Name}` and `${Resource.Attribute}`, and the names of `vars` (the
    /// variable map of the two-element form, as SAM's policy templates write it).
    fn sub(&self, text: &str, vars: &HashMap<String, String>) -> Result<String, TemplateError> {
        let mut out = String::with_capacity(text.len());
        let mut rest = text;
        while let Some(start) = rest.find("${") {
            out.push_str(&rest[..start]);
            let after = &rest[start + 2..];
            let end = after
                .find('}')
                .ok_or_else(|| TemplateError::Invalid(format!("unclosed ${{ in {text:?}")))?;
            let name = &after[..end];
            let value = match name.split_once('.') {
                _ if vars.contains_key(name) => vars[name].clone(),
                Some((res, attr)) if !name.starts_with("AWS::") => self.attribute(res, attr)?,
                _ => self.reference(name)?,
            };
            out.push_str(&value);
            rest = &after[end + 1..];
        }
        out.push_str(rest);
        Ok(out)
    }

    pub fn resolve_string(&self, v: &Value) -> Result<String, TemplateError> {
        match self.resolve(v)? {
            Json::String(s) => Ok(s),
            Json::Number(n) => Ok(n.to_string()),
            Json::Bool(b) => Ok(b.to_string()),
            other => Err(TemplateError::Invalid(format!(
                "expected a scalar, got {other}"
            ))),
        }
    }

    /// Resolves intrinsics anywhere in a value and returns it as JSON (`AWS::NoValue` at
    /// the top is `null`).
    pub fn resolve(&self, v: &Value) -> Result<Json, TemplateError> {
        Ok(self.resolve_opt(v)?.unwrap_or(Json::Null))
    }

    /// As [`Self::resolve`]; `None` is `AWS::NoValue`, which removes the list item or the
    /// key it stands for.
    fn resolve_opt(&self, v: &Value) -> Result<Option<Json>, TemplateError> {
        Ok(Some(match v {
            Value::Null => Json::Null,
            Value::Bool(b) => Json::Bool(*b),
            Value::Number(n) => {
                serde_json::to_value(n).map_err(|e| TemplateError::Invalid(e.to_string()))?
            }
            Value::String(s) => Json::String(s.clone()),
            Value::Sequence(seq) => {
                let mut out = Vec::with_capacity(seq.len());
                for x in seq {
                    out.extend(self.resolve_opt(x)?);
                }
                Json::Array(out)
            }
            Value::Tagged(t) => return self.intrinsic(&tag_name(&t.tag), &t.value),
            Value::Mapping(m) => {
                if m.len() == 1 {
                    if let Some((Value::String(k), inner)) = m.iter().next() {
                        if k == "Ref" || k.starts_with("Fn::") || k == "Condition" {
                            return self.intrinsic(k.trim_start_matches("Fn::"), inner);
                        }
                    }
                }
                let mut out = Map::new();
                for (k, v) in m {
                    if let (Some(k), Some(v)) = (k.as_str(), self.resolve_opt(v)?) {
                        out.insert(k.to_owned(), v);
                    }
                }
                Json::Object(out)
            }
        }))
    }

    /// Is the template's condition `name` true for these parameters?
    pub fn condition(&self, name: &str) -> Result<bool, TemplateError> {
        let definition = self
            .conditions
            .get(name)
            .ok_or_else(|| TemplateError::Invalid(format!("no condition {name}")))?;
        truth(&self.resolve(definition)?)
    }

    /// The condition functions (`Fn::Equals`, `Fn::Not`, `Fn::And`, `Fn::Or`,
    /// `Condition`), `Fn::If`, `Fn::Join` and a list parameter's `Ref`; `None` when `name`
    /// is none of them.
    fn logic(&self, name: &str, arg: &Value) -> Result<Option<Option<Json>>, TemplateError> {
        let items = |n: usize| -> Result<&Vec<Value>, TemplateError> {
            match arg {
                Value::Sequence(s) if n == 0 || s.len() == n => Ok(s),
                _ => Err(TemplateError::Invalid(format!("{name} expects a list"))),
            }
        };
        let value = match name {
            "Ref" => match arg.as_str() {
                Some("AWS::NoValue") => return Ok(Some(None)),
                Some(p) if self.list_parameters.contains(p) => {
                    let joined = self.reference(p)?;
                    Json::Array(joined.split(',').map(|x| Json::String(x.into())).collect())
                }
                _ => return Ok(None),
            },
            "Condition" => {
                let c = arg.as_str().ok_or_else(|| {
                    TemplateError::Invalid("Condition expects a condition's name".into())
                })?;
                Json::Bool(self.condition(c)?)
            }
            "Equals" => {
                let s = items(2)?;
                Json::Bool(scalar(&self.resolve(&s[0])?) == scalar(&self.resolve(&s[1])?))
            }
            "Not" => Json::Bool(!truth(&self.resolve(&items(1)?[0])?)?),
            "And" | "Or" => {
                let mut values = Vec::new();
                for x in items(0)? {
                    values.push(truth(&self.resolve(x)?)?);
                }
                Json::Bool(match name {
                    "And" => values.iter().all(|v| *v),
                    _ => values.iter().any(|v| *v),
                })
            }
            "If" => {
                let s = items(3)?;
                let c = s[0].as_str().ok_or_else(|| {
                    TemplateError::Invalid("If expects a condition's name first".into())
                })?;
                let chosen = if self.condition(c)? { &s[1] } else { &s[2] };
                return Ok(Some(self.resolve_opt(chosen)?));
            }
            "Join" => {
                let s = items(2)?;
                let separator = s[0].as_str().unwrap_or_default();
                let parts: Vec<String> = match self.resolve(&s[1])? {
                    Json::Array(parts) => parts.iter().map(scalar).collect(),
                    other => {
                        return Err(TemplateError::Invalid(format!(
                            "Join expects a list, got {other}"
                        )))
                    }
                };
                Json::String(parts.join(separator))
            }
            _ => return Ok(None),
        };
        Ok(Some(Some(value)))
    }

    fn intrinsic(&self, name: &str, arg: &Value) -> Result<Option<Json>, TemplateError> {
        if let Some(value) = self.logic(name, arg)? {
            return Ok(value);
        }
        let text = |v: &Value| -> Result<String, TemplateError> {
            v.as_str()
                .map(str::to_owned)
                .ok_or_else(|| TemplateError::Invalid(format!("{name} expects a string")))
        };
        Ok(Some(Json::String(match name {
            "Ref" => self.reference(&text(arg)?)?,
            "Sub" => match arg {
                Value::Sequence(s) if s.len() == 2 => {
                    let mut vars = HashMap::new();
                    if let Value::Mapping(m) = &s[1] {
                        for (k, v) in m {
                            vars.insert(text(k)?, self.resolve_string(v)?);
                        }
                    }
                    self.sub(&text(&s[0])?, &vars)?
                }
                _ => self.sub(&text(arg)?, &HashMap::new())?,
            },
            "GetAtt" => {
                let (res, attr) = match arg {
                    Value::Sequence(s) if s.len() == 2 => (text(&s[0])?, text(&s[1])?),
                    _ => {
                        let t = text(arg)?;
                        let (r, a) = t.split_once('.').ok_or_else(|| {
                            TemplateError::Invalid(format!("GetAtt {t} has no attribute"))
                        })?;
                        (r.to_owned(), a.to_owned())
                    }
                };
                self.attribute(&res, &attr)?
            }
            other => {
                return Err(TemplateError::Invalid(format!(
                    "intrinsic {other} is not supported locally"
                )))
            }
        })))
    }
}

/// A scalar as CloudFormation compares and joins it: its text.
fn scalar(v: &Json) -> String {
    match v {
        Json::String(s) => s.clone(),
        Json::Null => String::new(),
        other => other.to_string(),
    }
}

/// A condition's value.
fn truth(v: &Json) -> Result<bool, TemplateError> {
    match v {
        Json::Bool(b) => Ok(*b),
        Json::String(s) if s == "true" || s == "false" => Ok(s == "true"),
        other => Err(TemplateError::Invalid(format!(
            "a condition must be true or false, got {other}"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn resolver() -> Resolver {
        Resolver {
            stack_name: "s1".into(),
            region: "us-east-1".into(),
            account_id: "123456789012".into(),
            parameters: HashMap::from([("P".into(), "/x/y".into())]),
            physical: HashMap::from([(
                "Q".into(),
                Physical {
                    reference: "http://q".into(),
                    attributes: HashMap::from([("Arn".into(), "arn:q".into())]),
                },
            )]),
            ..Resolver::default()
        }
    }

    #[test]
    fn if_picks_by_the_condition_and_no_value_removes_the_item() {
        let t = Template::parse(
            "Parameters:\n  Arns: {Type: CommaDelimitedList, Default: \"\"}\n  Name: {Type: String, Default: \"\"}\n\
             Conditions:\n  HasArns: !Not [!Equals [!Join [\"\", !Ref Arns], \"\"]]\n  HasBoth: !And [!Condition HasArns, !Not [!Equals [!Ref Name, \"\"]]]\n",
        )
        .unwrap();
        let v: Value = serde_norway::from_str(
            "- a\n- !If [HasArns, {Resource: !Ref Arns}, !Ref AWS::NoValue]\n- !If [HasBoth, both, !Ref AWS::NoValue]",
        )
        .unwrap();
        let with = |params: &[(&str, &str)]| {
            let mut parameters = t.parameter_defaults();
            for (k, v) in params {
                parameters.insert((*k).into(), (*v).into());
            }
            let r = Resolver {
                parameters,
                conditions: t.conditions(),
                list_parameters: t.list_parameters(),
                ..resolver()
            };
            r.resolve(&v).unwrap()
        };
        assert_eq!(with(&[]), serde_json::json!(["a"]));
        assert_eq!(
            with(&[("Arns", "arn:1,arn:2")]),
            serde_json::json!(["a", {"Resource": ["arn:1", "arn:2"]}])
        );
        assert_eq!(
            with(&[("Arns", "arn:1"), ("Name", "n")]),
            serde_json::json!(["a", {"Resource": ["arn:1"]}, "both"])
        );
    }

    #[test]
    fn intrinsics_resolve_in_short_and_long_form() {
        let r = resolver();
        let v: Value = serde_norway::from_str(
            "a: !Ref Q\nb: !Sub \"${AWS::StackName}-inbound.fifo\"\nc: !GetAtt Q.Arn\nd: {Ref: P}\ne: !Sub \"arn:${AWS::Partition}:ssm:parameter${P}\"\nf: {\"Fn::GetAtt\": [Q, Arn]}",
        )
        .unwrap();
        let j = r.resolve(&v).unwrap();
        assert_eq!(j["a"], "http://q");
        assert_eq!(j["b"], "s1-inbound.fifo");
        assert_eq!(j["c"], "arn:q");
        assert_eq!(j["d"], "/x/y");
        assert_eq!(j["e"], "arn:aws:ssm:parameter/x/y");
        assert_eq!(j["f"], "arn:q");
    }

    #[test]
    fn sub_takes_a_variable_map_as_sam_policy_templates_write_it() {
        let v: Value = serde_norway::from_str(
            "a: {\"Fn::Sub\": [\"arn:${AWS::Partition}:sqs:${AWS::Region}:${queueName}\", {queueName: !GetAtt Q.Arn}]}\nb: !Sub [\"${x}-${P}\", {x: !Ref Q}]",
        )
        .unwrap();
        let j = resolver().resolve(&v).unwrap();
        assert_eq!(j["a"], "arn:aws:sqs:us-east-1:arn:q");
        assert_eq!(j["b"], "http://q-/x/y");
    }

    #[test]
    fn the_repository_template_declares_the_functions() {
        let t = Template::load(&crate::repo_root().join("template.yaml")).unwrap();
        let names: Vec<String> = t
            .resources_of("AWS::Serverless::Function")
            .iter()
            .map(|r| r.logical_id.clone())
            .collect();
        assert!(names.contains(&"WebhookFunction".to_owned()));
        assert!(names.contains(&"InboundFunction".to_owned()));
    }

    #[test]
    fn an_sns_event_names_its_topic() {
        let t = Template::parse(
            "Resources:\n  F:\n    Type: AWS::Serverless::Function\n    Metadata: {BuildProperties: {Binary: f}}\n    Properties:\n      Events:\n        N:\n          Type: SNS\n          Properties:\n            Topic: !Ref Q\n",
        )
        .unwrap();
        let f = t.functions(&resolver()).unwrap();
        assert_eq!(
            f[0].events,
            vec![FunctionEvent::Sns {
                topic: "http://q".into()
            }]
        );
    }

    #[test]
    fn hsm_send_concurrency_is_capped_by_a_parameter() {
        let t = Template::load(&crate::repo_root().join("template.yaml")).unwrap();
        let send = t
            .resources_of("AWS::Serverless::Function")
            .into_iter()
            .find(|r| r.logical_id == "HsmSendFunction")
            .unwrap();
        let scaling = &send.properties["Events"]["OutboundWork"]["Properties"]["ScalingConfig"];
        let r = Resolver {
            parameters: t.parameter_defaults(),
            ..resolver()
        };
        let cap = r.resolve_string(&scaling["MaximumConcurrency"]).unwrap();
        assert_eq!(cap, "5", "the SendMaxConcurrency parameter's default");
    }

    #[test]
    fn jwt_issuer_and_audience_have_no_default_and_the_issuer_must_be_https() {
        let t = Template::load(&crate::repo_root().join("template.yaml")).unwrap();
        let defaults = t.parameter_defaults();
        for p in ["JwtIssuer", "JwtAudience"] {
            assert!(!defaults.contains_key(p), "{p} must be given at deploy");
        }
        let pattern = t.root["Parameters"]["JwtIssuer"]["AllowedPattern"]
            .as_str()
            .unwrap();
        assert!(pattern.starts_with("^https://"), "{pattern}");
    }
}
