//! Creates the template's resources in the emulator. Names come from the template
//! (`${AWS::StackName}-...`), so a test gets its own set by choosing its own stack name.

use crate::emulator::{ACCOUNT_ID, REGION};
use crate::template::{FunctionDef, Physical, Resolver, Template, TemplateError};
use aws_config::SdkConfig;
use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, GlobalSecondaryIndex, KeySchemaElement, KeyType,
    PointInTimeRecoverySpecification, Projection, ProjectionType, ScalarAttributeType,
    StreamSpecification, StreamViewType, TimeToLiveSpecification,
};
use aws_sdk_sqs::types::QueueAttributeName;
use serde_json::Value as Json;
use std::collections::HashMap;

#[derive(Debug, thiserror::Error)]
pub enum ProvisionError {
    #[error(transparent)]
    Template(#[from] TemplateError),
    #[error("{0}: {1}")]
    Aws(String, String),
}

fn aws<E: std::fmt::Display>(what: impl Into<String>) -> impl FnOnce(E) -> ProvisionError {
    let what = what.into();
    move |e| ProvisionError::Aws(what, e.to_string())
}

/// The created stack: resolved names, and the functions with their environment.
/// The local stack's identity provider: `/_dev/token` issues its tokens.
pub const LOCAL_JWT_ISSUER: &str = "https://conversa.local/";
pub const LOCAL_JWT_AUDIENCE: &str = "conversa-api";

#[derive(Debug, Clone)]
pub struct Stack {
    pub name: String,
    pub resolver: Resolver,
    pub functions: Vec<FunctionDef>,
    pub jwt_audience: String,
}

impl Stack {
    pub fn reference(&self, logical_id: &str) -> Option<&str> {
        self.resolver
            .physical
            .get(logical_id)
            .map(|p| p.reference.as_str())
    }

    pub fn function(&self, binary: &str) -> Option<&FunctionDef> {
        self.functions.iter().find(|f| f.binary == binary)
    }

    /// The queue URL of a queue ARN (event source mappings name queues by ARN).
    pub fn queue_url_of_arn(&self, arn: &str) -> Option<&str> {
        self.resolver
            .physical
            .values()
            .find(|p| p.attributes.get("Arn").map(String::as_str) == Some(arn))
            .map(|p| p.reference.as_str())
    }
}

fn str_of<'a>(v: &'a Json, key: &str) -> Option<&'a str> {
    v.get(key).and_then(Json::as_str)
}

fn key_schema(v: &Json) -> Result<Vec<KeySchemaElement>, ProvisionError> {
    v.as_array()
        .into_iter()
        .flatten()
        .map(|k| {
            KeySchemaElement::builder()
                .attribute_name(str_of(k, "AttributeName").unwrap_or_default())
                .key_type(KeyType::from(str_of(k, "KeyType").unwrap_or_default()))
                .build()
                .map_err(aws("key schema"))
        })
        .collect()
}

fn scalar(v: &Json) -> String {
    match v {
        Json::String(s) => s.clone(),
        Json::Object(_) | Json::Array(_) => v.to_string(),
        other => other.to_string(),
    }
}

/// Creates the stack; `overrides` are parameter values, as `sam deploy --parameter-overrides`.
pub async fn provision(
    template: &Template,
    stack_name: &str,
    config: &SdkConfig,
    overrides: &HashMap<String, String>,
) -> Result<Stack, ProvisionError> {
    let dynamodb = aws_sdk_dynamodb::Client::new(config);
    let sqs = aws_sdk_sqs::Client::new(config);
    let events = aws_sdk_eventbridge::Client::new(config);
    let mut resolver = Resolver {
        stack_name: stack_name.to_owned(),
        region: REGION.into(),
        account_id: ACCOUNT_ID.into(),
        parameters: template.parameter_defaults(),
        physical: HashMap::new(),
        conditions: template.conditions(),
        list_parameters: template.list_parameters(),
    };
    // What a deploy must be given (no defaults in the template), the local stack fills
    // with its own: its dev tokens' issuer and audience.
    resolver
        .parameters
        .insert("JwtIssuer".into(), LOCAL_JWT_ISSUER.into());
    resolver
        .parameters
        .insert("JwtAudience".into(), LOCAL_JWT_AUDIENCE.into());
    resolver.parameters.extend(overrides.clone());

    for table in template.resources_of("AWS::DynamoDB::Table") {
        let p = resolver.resolve(table.properties)?;
        let name = str_of(&p, "TableName")
            .unwrap_or(&table.logical_id)
            .to_owned();
        let mut req = dynamodb
            .create_table()
            .table_name(&name)
            .billing_mode(BillingMode::from(
                str_of(&p, "BillingMode").unwrap_or("PAY_PER_REQUEST"),
            ))
            .set_key_schema(Some(key_schema(&p["KeySchema"])?));
        for a in p["AttributeDefinitions"].as_array().into_iter().flatten() {
            req = req.attribute_definitions(
                AttributeDefinition::builder()
                    .attribute_name(str_of(a, "AttributeName").unwrap_or_default())
                    .attribute_type(ScalarAttributeType::from(
                        str_of(a, "AttributeType").unwrap_or("S"),
                    ))
                    .build()
                    .map_err(aws("attribute definition"))?,
            );
        }
        for g in p["GlobalSecondaryIndexes"].as_array().into_iter().flatten() {
            req = req.global_secondary_indexes(
                GlobalSecondaryIndex::builder()
                    .index_name(str_of(g, "IndexName").unwrap_or_default())
                    .set_key_schema(Some(key_schema(&g["KeySchema"])?))
                    .projection(
                        Projection::builder()
                            .projection_type(ProjectionType::from(
                                g["Projection"]["ProjectionType"].as_str().unwrap_or("ALL"),
                            ))
                            .build(),
                    )
                    .build()
                    .map_err(aws("index"))?,
            );
        }
        if let Some(view) = p["StreamSpecification"]["StreamViewType"].as_str() {
            req = req.stream_specification(
                StreamSpecification::builder()
                    .stream_enabled(true)
                    .stream_view_type(StreamViewType::from(view))
                    .build()
                    .map_err(aws("stream"))?,
            );
        }
        let out = req
            .send()
            .await
            .map_err(aws(format!("create table {name}")))?;
        if let Some(ttl) = p.get("TimeToLiveSpecification") {
            dynamodb
                .update_time_to_live()
                .table_name(&name)
                .time_to_live_specification(
                    TimeToLiveSpecification::builder()
                        .attribute_name(str_of(ttl, "AttributeName").unwrap_or("ttl"))
                        .enabled(ttl["Enabled"].as_bool().unwrap_or(true))
                        .build()
                        .map_err(aws("ttl"))?,
                )
                .send()
                .await
                .map_err(aws(format!("ttl on {name}")))?;
        }
        if p["PointInTimeRecoverySpecification"]["PointInTimeRecoveryEnabled"].as_bool()
            == Some(true)
        {
            dynamodb
                .update_continuous_backups()
                .table_name(&name)
                .point_in_time_recovery_specification(
                    PointInTimeRecoverySpecification::builder()
                        .point_in_time_recovery_enabled(true)
                        .build()
                        .map_err(aws("pitr"))?,
                )
                .send()
                .await
                .map_err(aws(format!("point-in-time recovery on {name}")))?;
        }
        let arn = out
            .table_description()
            .and_then(|d| d.table_arn())
            .map(str::to_owned)
            .unwrap_or_else(|| format!("arn:aws:dynamodb:{REGION}:{ACCOUNT_ID}:table/{name}"));
        let mut attributes = HashMap::from([("Arn".into(), arn)]);
        if let Some(stream) = out.table_description().and_then(|d| d.latest_stream_arn()) {
            attributes.insert("StreamArn".into(), stream.to_owned());
        }
        resolver.physical.insert(
            table.logical_id.clone(),
            Physical {
                reference: name.clone(),
                attributes,
            },
        );
    }

    for bus in template.resources_of("AWS::Events::EventBus") {
        let p = resolver.resolve(bus.properties)?;
        let name = str_of(&p, "Name").unwrap_or(&bus.logical_id).to_owned();
        let out = events
            .create_event_bus()
            .name(&name)
            .send()
            .await
            .map_err(aws(format!("create event bus {name}")))?;
        let arn = out
            .event_bus_arn()
            .map(str::to_owned)
            .unwrap_or_else(|| format!("arn:aws:events:{REGION}:{ACCOUNT_ID}:event-bus/{name}"));
        resolver.physical.insert(
            bus.logical_id.clone(),
            Physical {
                reference: name.clone(),
                attributes: HashMap::from([("Arn".into(), arn), ("Name".into(), name)]),
            },
        );
    }

    // Queues in two passes: a redrive policy names its dead-letter queue's ARN.
    const QUEUE_ATTRIBUTES: [&str; 10] = [
        "FifoQueue",
        "ContentBasedDeduplication",
        "DeduplicationScope",
        "FifoThroughputLimit",
        "VisibilityTimeout",
        "MessageRetentionPeriod",
        "DelaySeconds",
        "ReceiveMessageWaitTimeSeconds",
        "MaximumMessageSize",
        "SqsManagedSseEnabled",
    ];
    let queues = template.resources_of("AWS::SQS::Queue");
    for queue in &queues {
        let p = resolver.resolve(&strip(queue.properties, "RedrivePolicy"))?;
        let name = str_of(&p, "QueueName")
            .unwrap_or(&queue.logical_id)
            .to_owned();
        let mut req = sqs.create_queue().queue_name(&name);
        for attr in QUEUE_ATTRIBUTES {
            if let Some(v) = p.get(attr) {
                req = req.attributes(QueueAttributeName::from(attr), scalar(v));
            }
        }
        let url = req
            .send()
            .await
            .map_err(aws(format!("create queue {name}")))?
            .queue_url
            .unwrap_or_default();
        let arn = format!("arn:aws:sqs:{REGION}:{ACCOUNT_ID}:{name}");
        resolver.physical.insert(
            queue.logical_id.clone(),
            Physical {
                reference: url.clone(),
                attributes: HashMap::from([
                    ("Arn".into(), arn),
                    ("QueueName".into(), name),
                    ("QueueUrl".into(), url),
                ]),
            },
        );
    }
    for queue in &queues {
        if let Some(redrive) = queue.properties.get("RedrivePolicy") {
            let policy = resolver.resolve(redrive)?;
            let url = resolver.physical[&queue.logical_id].reference.clone();
            sqs.set_queue_attributes()
                .queue_url(&url)
                .attributes(QueueAttributeName::RedrivePolicy, policy.to_string())
                .send()
                .await
                .map_err(aws(format!("redrive policy of {url}")))?;
        }
    }

    let scheduler = aws_sdk_scheduler::Client::new(config);
    for group in template.resources_of("AWS::Scheduler::ScheduleGroup") {
        let p = resolver.resolve(group.properties)?;
        let name = str_of(&p, "Name").unwrap_or(&group.logical_id).to_owned();
        let arn = scheduler
            .create_schedule_group()
            .name(&name)
            .send()
            .await
            .map_err(aws(format!("create schedule group {name}")))?
            .schedule_group_arn;
        resolver.physical.insert(
            group.logical_id.clone(),
            Physical {
                reference: name,
                attributes: HashMap::from([("Arn".into(), arn)]),
            },
        );
    }
    // Everything else the emulator does not need (roles, alarms, the API, functions) gets a
    // stand-in, so that references to it resolve.
    for r in template.resources() {
        resolver
            .physical
            .entry(r.logical_id.clone())
            .or_insert_with(|| Physical {
                reference: r.logical_id.clone(),
                attributes: HashMap::from([(
                    "Arn".into(),
                    format!("arn:aws:local:{REGION}:{ACCOUNT_ID}:{}", r.logical_id),
                )]),
            });
    }

    let functions = template.functions(&resolver)?;
    let jwt_audience = template
        .jwt_audience(&resolver)?
        .unwrap_or_else(|| "conversa-api".into());
    Ok(Stack {
        name: stack_name.to_owned(),
        resolver,
        functions,
        jwt_audience,
    })
}

fn strip(v: &serde_norway::Value, key: &str) -> serde_norway::Value {
    let mut v = v.clone();
    if let serde_norway::Value::Mapping(m) = &mut v {
        m.remove(key);
    }
    v
}

/// Routes every `conversa` event on the stack's bus to a new queue, so a person or a
/// test can read what the outside world was told. Returns the queue URL.
pub async fn capture_events(
    stack: &Stack,
    bus_logical_id: &str,
    config: &SdkConfig,
) -> Result<String, ProvisionError> {
    let sqs = aws_sdk_sqs::Client::new(config);
    let events = aws_sdk_eventbridge::Client::new(config);
    let bus = stack
        .reference(bus_logical_id)
        .ok_or_else(|| ProvisionError::Aws("capture".into(), format!("no bus {bus_logical_id}")))?
        .to_owned();
    let name = format!("{}-events-capture", stack.name);
    let url = sqs
        .create_queue()
        .queue_name(&name)
        .send()
        .await
        .map_err(aws("create capture queue"))?
        .queue_url
        .unwrap_or_default();
    let rule = format!("{}-capture-all", stack.name);
    events
        .put_rule()
        .name(&rule)
        .event_bus_name(&bus)
        .event_pattern(r#"{"source":["conversa"]}"#)
        .send()
        .await
        .map_err(aws("put capture rule"))?;
    events
        .put_targets()
        .rule(&rule)
        .event_bus_name(&bus)
        .targets(
            aws_sdk_eventbridge::types::Target::builder()
                .id("capture")
                .arn(format!("arn:aws:sqs:{REGION}:{ACCOUNT_ID}:{name}"))
                .build()
                .map_err(aws("capture target"))?,
        )
        .send()
        .await
        .map_err(aws("put capture target"))?;
    Ok(url)
}

/// Stores a SecureString parameter (the local stack's development secrets).
pub async fn put_secure_parameter(
    config: &SdkConfig,
    name: &str,
    value: &str,
) -> Result<(), ProvisionError> {
    aws_sdk_ssm::Client::new(config)
        .put_parameter()
        .name(name)
        .value(value)
        .r#type(aws_sdk_ssm::types::ParameterType::SecureString)
        .overwrite(true)
        .send()
        .await
        .map_err(aws(format!("put parameter {name}")))?;
    Ok(())
}

/// A function's EventBridge rule, locally: the rule on the bus with the template's
/// pattern, targeting an SQS queue the local stack polls (the function's event source).
pub async fn rule_queue(
    stack: &Stack,
    config: &SdkConfig,
    function: &str,
    bus: &str,
    pattern: &serde_json::Value,
) -> Result<(String, String), ProvisionError> {
    let sqs = aws_sdk_sqs::Client::new(config);
    let events = aws_sdk_eventbridge::Client::new(config);
    let name = format!("{}-{function}-rule", stack.name);
    let url = sqs
        .create_queue()
        .queue_name(&name)
        .send()
        .await
        .map_err(aws("create rule queue"))?
        .queue_url
        .unwrap_or_default();
    let arn = format!("arn:aws:sqs:{REGION}:{ACCOUNT_ID}:{name}");
    let rule = format!("{}-{function}", stack.name);
    events
        .put_rule()
        .name(&rule)
        .event_bus_name(bus)
        .event_pattern(pattern.to_string())
        .send()
        .await
        .map_err(aws("put function rule"))?;
    events
        .put_targets()
        .rule(&rule)
        .event_bus_name(bus)
        .targets(
            aws_sdk_eventbridge::types::Target::builder()
                .id(function)
                .arn(&arn)
                .build()
                .map_err(aws("rule target"))?,
        )
        .send()
        .await
        .map_err(aws("put function target"))?;
    Ok((url, arn))
}
