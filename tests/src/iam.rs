//! IAM, as far as the template consistency test needs it: what a function's `Policies`
//! in `template.yaml` allow (inline statements, and SAM policy templates expanded from
//! the SAM translator's own `policy_templates.json`), and which IAM action on which
//! resource each AWS call a function made needs (`conversa_infra::calls`).
//!
//! Only `Allow` statements with `Action` and `Resource` are read; a managed policy named
//! in `Policies` (a string) grants nothing here, since its content is not in the
//! template. Conditions are not evaluated.

use conversa_infra::calls::Call;
use conversa_infra::template::Resolver;
use serde_json::Value as Json;
use serde_norway::Value;
use std::path::PathBuf;

/// One `Allow` statement, resolved.
#[derive(Debug, Clone)]
pub struct Statement {
    pub actions: Vec<String>,
    pub resources: Vec<String>,
}

/// What a call needs: an IAM action on a resource (ARN).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Need {
    pub action: String,
    pub resource: String,
    /// The API operation that needs it (`DynamoDB_20120810.TransactWriteItems`).
    pub operation: String,
}

/// The SAM policy templates, from the SAM translator the SAM CLI's venv carries
/// (`make lint-template` installs it; `make test` runs it before the tests).
pub fn sam_policy_templates() -> Json {
    let lib = conversa_infra::repo_root().join(".venv/sam/lib");
    let path: Option<PathBuf> = std::fs::read_dir(&lib).ok().and_then(|dirs| {
        dirs.filter_map(Result::ok)
            .map(|d| {
                d.path()
                    .join("site-packages/samtranslator/policy_templates_data/policy_templates.json")
            })
            .find(|p| p.exists())
    });
    let path = path.unwrap_or_else(|| {
        panic!(
            "SAM's policy templates are not under {}: run `make lint-template` (it installs \
             the SAM CLI's venv, which carries the SAM translator)",
            lib.display()
        )
    });
    let text = std::fs::read_to_string(&path).expect("policy_templates.json");
    serde_json::from_str(&text).expect("policy_templates.json is JSON")
}

/// The `Allow` statements of a function's `Policies` (its properties in the template),
/// resolved against a stack.
pub fn granted(
    properties: &Value,
    resolver: &Resolver,
    sam: &Json,
) -> Result<Vec<Statement>, String> {
    let policies = match properties.get("Policies") {
        None => return Ok(Vec::new()),
        Some(Value::Sequence(s)) => s.clone(),
        Some(one) => vec![one.clone()],
    };
    let mut out = Vec::new();
    for policy in policies {
        let document = match &policy {
            // A managed policy by name or ARN: not in the template, grants nothing here.
            Value::String(_) => continue,
            Value::Mapping(m) if m.contains_key("Statement") => policy.clone(),
            Value::Mapping(m) if m.len() == 1 => {
                let (name, parameters) = m.iter().next().expect("one entry");
                let name = name.as_str().unwrap_or_default();
                expand(name, parameters, sam)?
            }
            other => return Err(format!("a policy this test does not read: {other:?}")),
        };
        let document = resolver.resolve(&document).map_err(|e| e.to_string())?;
        let statements = match &document["Statement"] {
            Json::Array(s) => s.clone(),
            one => vec![one.clone()],
        };
        for s in statements {
            if s["Effect"] != "Allow" {
                continue;
            }
            out.push(Statement {
                actions: strings(&s["Action"]),
                resources: strings(&s["Resource"]),
            });
        }
    }
    Ok(out)
}

/// A SAM policy template's definition with its parameters put in (`{"Ref": Param}`).
fn expand(name: &str, parameters: &Value, sam: &Json) -> Result<Value, String> {
    let template = &sam["Templates"][name];
    if template.is_null() {
        return Err(format!("{name} is not a SAM policy template"));
    }
    let mut definition: Value =
        serde_norway::to_value(&template["Definition"]).map_err(|e| e.to_string())?;
    let names: Vec<String> = template["Parameters"]
        .as_object()
        .map(|p| p.keys().cloned().collect())
        .unwrap_or_default();
    for param in &names {
        if parameters.get(param.as_str()).is_none() {
            return Err(format!("{name} needs its parameter {param}"));
        }
    }
    fn put(v: &mut Value, parameters: &Value, names: &[String]) {
        match v {
            Value::Mapping(m) => {
                if m.len() == 1 {
                    if let Some(Value::String(p)) = m.get("Ref") {
                        if names.contains(p) {
                            *v = parameters[p.as_str()].clone();
                            return;
                        }
                    }
                }
                for (_, x) in m.iter_mut() {
                    put(x, parameters, names);
                }
            }
            Value::Sequence(s) => s.iter_mut().for_each(|x| put(x, parameters, names)),
            _ => {}
        }
    }
    put(&mut definition, parameters, &names);
    Ok(definition)
}

fn strings(v: &Json) -> Vec<String> {
    match v {
        Json::String(s) => vec![s.clone()],
        Json::Array(a) => a
            .iter()
            .filter_map(|x| x.as_str().map(str::to_owned))
            .collect(),
        _ => Vec::new(),
    }
}

/// Does one of `statements` allow `action` on `resource`? (IAM's `*` and `?` wildcards;
/// actions ignore case, resources do not.)
pub fn allows(statements: &[Statement], action: &str, resource: &str) -> bool {
    statements.iter().any(|s| {
        s.actions
            .iter()
            .any(|a| matches(&a.to_lowercase(), &action.to_lowercase()))
            && s.resources.iter().any(|r| matches(r, resource))
    })
}

/// IAM's wildcard match: `*` any run of characters, `?` one.
pub fn matches(pattern: &str, text: &str) -> bool {
    let (p, t): (Vec<char>, Vec<char>) = (pattern.chars().collect(), text.chars().collect());
    // matches[j]: does the pattern read so far match the first j characters?
    let mut matches = vec![false; t.len() + 1];
    matches[0] = true;
    for c in p {
        let mut next = vec![false; t.len() + 1];
        for j in 0..=t.len() {
            next[j] = match c {
                '*' => matches[j] || (j > 0 && next[j - 1]),
                '?' => j > 0 && matches[j - 1],
                c => j > 0 && matches[j - 1] && t[j - 1] == c,
            };
        }
        matches = next;
    }
    matches[t.len()]
}

/// Where the calls were made: the region and account of the ARNs, and the function's
/// WebSocket API endpoint as the template gives it (`https://{api}.execute-api.../{stage}`),
/// which the local stack replaces with its own.
pub struct Context<'a> {
    pub region: &'a str,
    pub account: &'a str,
    pub websocket_endpoint: Option<&'a str>,
}

/// The IAM actions and resources a recorded call needs.
pub fn needs(call: &Call, cx: &Context<'_>) -> Vec<Need> {
    let body: Json = serde_json::from_slice(&call.body).unwrap_or(Json::Null);
    let (region, account) = (cx.region, cx.account);
    let operation = call
        .target
        .as_deref()
        .and_then(|t| t.split_once('.'))
        .map(|(_, op)| op.to_owned())
        .unwrap_or_default();
    let label = call
        .target
        .clone()
        .unwrap_or_else(|| format!("{} {}", call.method, path_of(&call.uri)));
    let need = |action: String, resource: String| Need {
        action,
        resource,
        operation: label.clone(),
    };
    let table = |name: &str| {
        if name.starts_with("arn:") {
            name.to_owned()
        } else {
            format!("arn:aws:dynamodb:{region}:{account}:table/{name}")
        }
    };
    match call.service.as_str() {
        "dynamodb" => match operation.as_str() {
            // Transactions are authorised item by item, with the items' own actions.
            "TransactWriteItems" | "TransactGetItems" => body["TransactItems"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|item| item.as_object()?.iter().next())
                .map(|(kind, op)| {
                    let action = match kind.as_str() {
                        "ConditionCheck" => "ConditionCheckItem".to_owned(),
                        other => format!("{other}Item"),
                    };
                    need(
                        format!("dynamodb:{action}"),
                        table(op["TableName"].as_str().unwrap_or_default()),
                    )
                })
                .collect(),
            "BatchWriteItem" | "BatchGetItem" => body["RequestItems"]
                .as_object()
                .into_iter()
                .flatten()
                .map(|(name, _)| need(format!("dynamodb:{operation}"), table(name)))
                .collect(),
            _ => {
                let mut resource = table(body["TableName"].as_str().unwrap_or_default());
                if let Some(index) = body["IndexName"].as_str() {
                    resource = format!("{resource}/index/{index}");
                }
                vec![need(format!("dynamodb:{operation}"), resource)]
            }
        },
        "sqs" => {
            let queue = body["QueueUrl"]
                .as_str()
                .and_then(|u| u.rsplit('/').next())
                .unwrap_or_default();
            // A batch is authorised as its single-message action.
            let action = operation.trim_end_matches("Batch");
            vec![need(
                format!("sqs:{action}"),
                format!("arn:aws:sqs:{region}:{account}:{queue}"),
            )]
        }
        "events" => {
            let buses: Vec<String> = body["Entries"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|e| e["EventBusName"].as_str().unwrap_or("default").to_owned())
                .collect();
            buses
                .into_iter()
                .map(|bus| {
                    let arn = if bus.starts_with("arn:") {
                        bus
                    } else {
                        format!("arn:aws:events:{region}:{account}:event-bus/{bus}")
                    };
                    need(format!("events:{operation}"), arn)
                })
                .collect()
        }
        "ssm" => {
            let mut names = strings(&body["Names"]);
            names.extend(strings(&body["Name"]));
            names
                .into_iter()
                .map(|name| {
                    let slash = if name.starts_with('/') { "" } else { "/" };
                    need(
                        format!("ssm:{operation}"),
                        format!("arn:aws:ssm:{region}:{account}:parameter{slash}{name}"),
                    )
                })
                .collect()
        }
        "scheduler" => {
            let path = path_of(&call.uri);
            let name = path.trim_start_matches("/schedules/");
            let verb = match call.method.as_str() {
                "POST" => "Create",
                "PUT" => "Update",
                "DELETE" => "Delete",
                _ => "Get",
            };
            let group = body["GroupName"]
                .as_str()
                .map(str::to_owned)
                .or_else(|| query_of(&call.uri, "groupName"))
                .unwrap_or_else(|| "default".into());
            let mut out = vec![need(
                format!("scheduler:{verb}Schedule"),
                format!("arn:aws:scheduler:{region}:{account}:schedule/{group}/{name}"),
            )];
            // The schedule's role is handed to the Scheduler.
            if let Some(role) = body["Target"]["RoleArn"].as_str() {
                out.push(need("iam:PassRole".into(), role.to_owned()));
            }
            out
        }
        "execute-api" => {
            let path = path_of(&call.uri);
            let connection = path.rsplit("@connections/").next().unwrap_or_default();
            // https://{api}.execute-api.{region}.amazonaws.com/{stage}
            let (api, stage) = cx
                .websocket_endpoint
                .and_then(|e| {
                    let rest = e.split("://").nth(1)?;
                    let (host, stage) = rest.split_once('/')?;
                    Some((host.split('.').next()?.to_owned(), stage.to_owned()))
                })
                .unwrap_or_default();
            vec![need(
                "execute-api:ManageConnections".into(),
                format!(
                    "arn:aws:execute-api:{region}:{account}:{api}/{stage}/{}/@connections/{connection}",
                    call.method
                ),
            )]
        }
        "sms-voice" => {
            let arn =
                |kind: &str, id: &str| format!("arn:aws:sms-voice:{region}:{account}:{kind}/{id}");
            // The origination identity as AWS authorises it: an ARN as given, an id as its
            // resource's ARN; a number in E.164 on its phone number's ARN, whose id
            // (`phone-...`) the request does not carry: named `phone-{digits}` here, as the
            // local stack names its sample number's ARN.
            let identity = body["OriginationIdentity"].as_str().unwrap_or_default();
            let origination = match identity {
                i if i.starts_with("arn:") => i.to_owned(),
                i if i.starts_with("pool-") => arn("pool", i),
                i if i.starts_with("phone-") => arn("phone-number", i),
                i => arn(
                    "phone-number",
                    &format!("phone-{}", i.trim_start_matches('+')),
                ),
            };
            let mut out = vec![need(format!("sms-voice:{operation}"), origination)];
            if let Some(set) = body["ConfigurationSetName"].as_str() {
                let set = match set.starts_with("arn:") {
                    true => set.to_owned(),
                    false => arn("configuration-set", set),
                };
                out.push(need(format!("sms-voice:{operation}"), set));
            }
            out
        }
        other => vec![need(format!("{other}:{operation}"), "*".into())],
    }
}

fn path_of(uri: &str) -> String {
    let after_host = uri
        .split("://")
        .nth(1)
        .map_or(uri, |rest| rest.find('/').map_or("/", |i| &rest[i..]));
    after_host.split('?').next().unwrap_or("/").to_owned()
}

fn query_of(uri: &str, key: &str) -> Option<String> {
    uri.split_once('?')?
        .1
        .split('&')
        .filter_map(|kv| kv.split_once('='))
        .find(|(k, _)| *k == key)
        .map(|(_, v)| v.to_owned())
}
