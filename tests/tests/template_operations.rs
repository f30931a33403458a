//! What a cloud team operates in `template.yaml` (issue 17, points 2 and 4): every
//! dead-letter queue, every function and the webhook have alarms that reach the alarm
//! topic and name their runbook; the queues the work waits in have an age alarm; the HTTP
//! API and the webhook route are throttled by parameters; every function logs to a group
//! kept `LogRetentionDays`; tracing is a parameter; every parameter has a default (the
//! local stack deploys with them) and a row in README's table.

use conversa_infra::repo_root;
use conversa_tests::template_yaml::{fail_with, template_yaml};
use serde_norway::Value;
use std::collections::BTreeSet;

/// The logical id a `!Ref X`, `!GetAtt X.Attr` or `{Ref: X}` names.
fn names(v: &Value) -> Option<String> {
    match v {
        Value::Tagged(t) if t.tag == "!Ref" || t.tag == "Ref" => {
            t.value.as_str().map(str::to_owned)
        }
        Value::Tagged(t) if t.tag == "!GetAtt" || t.tag == "GetAtt" => t
            .value
            .as_str()
            .and_then(|s| s.split('.').next())
            .map(str::to_owned),
        Value::Mapping(m) => m.get("Ref").and_then(Value::as_str).map(str::to_owned),
        _ => None,
    }
}

fn resources_of<'a>(t: &'a Value, kind: &str) -> Vec<(String, &'a Value)> {
    t["Resources"]
        .as_mapping()
        .into_iter()
        .flatten()
        .filter(|(_, r)| r["Type"].as_str() == Some(kind))
        .filter_map(|(id, r)| Some((id.as_str()?.to_owned(), r)))
        .collect()
}

/// (metric, the resource its dimension names) for every alarm on one metric.
fn alarmed(t: &Value) -> BTreeSet<(String, String)> {
    resources_of(t, "AWS::CloudWatch::Alarm")
        .into_iter()
        .flat_map(|(_, a)| {
            let metric = a["Properties"]["MetricName"]
                .as_str()
                .unwrap_or("")
                .to_owned();
            a["Properties"]["Dimensions"]
                .as_sequence()
                .into_iter()
                .flatten()
                .filter_map(move |d| Some((metric.clone(), names(&d["Value"])?)))
                .collect::<Vec<_>>()
        })
        .collect()
}

#[test]
fn every_dead_letter_queue_has_a_depth_alarm_and_the_work_queues_an_age_alarm() {
    let t = template_yaml();
    let alarmed = alarmed(&t);
    let mut problems = Vec::new();
    let queues = resources_of(&t, "AWS::SQS::Queue");
    let dlqs: Vec<&String> = queues
        .iter()
        .map(|(id, _)| id)
        .filter(|id| id.contains("DeadLetter"))
        .collect();
    assert!(dlqs.len() >= 6, "dead-letter queues: {dlqs:?}");
    for dlq in dlqs {
        if !alarmed.contains(&("ApproximateNumberOfMessagesVisible".into(), dlq.clone())) {
            problems.push(format!("{dlq}: no alarm on its depth"));
        }
    }
    for queue in ["InboundQueue", "OutboundQueue"] {
        if !alarmed.contains(&("ApproximateAgeOfOldestMessage".into(), queue.into())) {
            problems.push(format!(
                "{queue}: no alarm on the age of its oldest message"
            ));
        }
    }
    fail_with(&problems);
}

#[test]
fn every_function_has_an_errors_and_a_throttles_alarm() {
    let t = template_yaml();
    let alarmed = alarmed(&t);
    let mut problems = Vec::new();
    let functions = resources_of(&t, "AWS::Serverless::Function");
    assert_eq!(functions.len(), 13);
    for (id, _) in functions {
        for metric in ["Errors", "Throttles"] {
            if !alarmed.contains(&(metric.into(), id.clone())) {
                problems.push(format!("{id}: no {metric} alarm"));
            }
        }
    }
    fail_with(&problems);
}

#[test]
fn every_alarm_reaches_the_alarm_topic_and_names_its_runbook() {
    let t = template_yaml();
    let mut problems = Vec::new();
    let alarms = resources_of(&t, "AWS::CloudWatch::Alarm");
    // Every DLQ and function alarm above, the queue ages and the webhook's two.
    assert!(alarms.len() >= 6 + 2 + 24 + 2, "{} alarms", alarms.len());
    for (id, a) in alarms {
        let p = &a["Properties"];
        for actions in ["AlarmActions", "OKActions"] {
            let topic = p[actions].as_sequence().and_then(|s| s.first());
            let text = topic.map(|v| serde_norway::to_string(v).unwrap_or_default());
            if !text.is_some_and(|s| s.contains("AlarmTopicArn") && s.contains("AlarmTopic")) {
                problems.push(format!("{id}: {actions} do not go to the alarm topic"));
            }
        }
        let description = p["AlarmDescription"].as_str().unwrap_or("");
        if !description.contains("docs/operations.md#") {
            problems.push(format!("{id}: its description names no runbook section"));
        }
    }
    let topic = &t["Resources"]["AlarmTopic"];
    if topic["Type"].as_str() != Some("AWS::SNS::Topic") {
        problems.push("no AlarmTopic created when AlarmTopicArn is empty".into());
    }
    if t["Parameters"]["AlarmTopicArn"]["Default"].as_str() != Some("") {
        problems.push("AlarmTopicArn must be optional (empty by default)".into());
    }
    fail_with(&problems);
}

#[test]
fn the_webhook_has_5xx_rate_and_p99_latency_alarms() {
    let t = template_yaml();
    let alarms = resources_of(&t, "AWS::CloudWatch::Alarm");
    let yaml = |v: &Value| serde_norway::to_string(v).unwrap_or_default();
    let rate = alarms.iter().any(|(_, a)| {
        let p = yaml(&a["Properties"]["Metrics"]);
        p.contains("5xx") && p.contains("Count") && p.contains("/webhooks/whatsapp")
    });
    let p99 = alarms.iter().any(|(_, a)| {
        let p = &a["Properties"];
        p["MetricName"].as_str() == Some("Latency")
            && p["ExtendedStatistic"].as_str() == Some("p99")
            && yaml(&p["Dimensions"]).contains("/webhooks/whatsapp")
    });
    assert!(rate, "no 5xx-rate alarm (5xx / Count) on the webhook route");
    assert!(p99, "no p99 Latency alarm on the webhook route");
}

#[test]
fn the_api_and_the_webhook_route_are_throttled_by_parameters() {
    let t = template_yaml();
    let (_, api) = resources_of(&t, "AWS::Serverless::HttpApi")
        .into_iter()
        .next()
        .expect("an HTTP API");
    let p = &api["Properties"];
    let default = &p["DefaultRouteSettings"];
    assert_eq!(
        names(&default["ThrottlingRateLimit"]).as_deref(),
        Some("ApiThrottleRate")
    );
    assert_eq!(
        names(&default["ThrottlingBurstLimit"]).as_deref(),
        Some("ApiThrottleBurst")
    );
    // The webhook's POST route carries its own settings (its HttpApi event's).
    let webhook = t["Resources"]["WebhookFunction"]["Properties"]["Events"]
        .as_mapping()
        .into_iter()
        .flatten()
        .map(|(_, e)| &e["Properties"])
        .find(|e| {
            e["Path"].as_str() == Some("/webhooks/whatsapp")
                && e["Method"]
                    .as_str()
                    .is_some_and(|m| m.eq_ignore_ascii_case("post"))
        })
        .map(|e| &e["RouteSettings"])
        .expect("the webhook's POST route");
    assert_eq!(
        names(&webhook["ThrottlingRateLimit"]).as_deref(),
        Some("WebhookThrottleRate")
    );
    assert_eq!(
        names(&webhook["ThrottlingBurstLimit"]).as_deref(),
        Some("WebhookThrottleBurst")
    );
}

#[test]
fn every_function_logs_to_a_group_kept_log_retention_days_and_tracing_is_a_parameter() {
    let t = template_yaml();
    let mut problems = Vec::new();
    for (id, f) in resources_of(&t, "AWS::Serverless::Function") {
        let Some(group) = names(&f["Properties"]["LoggingConfig"]["LogGroup"]) else {
            problems.push(format!("{id}: no LoggingConfig.LogGroup"));
            continue;
        };
        let g = &t["Resources"][group.as_str()];
        if g["Type"].as_str() != Some("AWS::Logs::LogGroup")
            || names(&g["Properties"]["RetentionInDays"]).as_deref() != Some("LogRetentionDays")
        {
            problems.push(format!(
                "{id}: log group {group} is not kept LogRetentionDays"
            ));
        }
    }
    if names(&t["Globals"]["Function"]["Tracing"]).as_deref() != Some("TracingMode") {
        problems.push("Globals.Function.Tracing is not the TracingMode parameter".into());
    }
    fail_with(&problems);
}

#[test]
fn every_parameter_has_a_default_or_is_required_and_a_row_in_the_readme() {
    let t = template_yaml();
    let readme = std::fs::read_to_string(repo_root().join("README.md")).expect("README.md");
    // Deployers must give these: a stack deployed without them would trust a sample issuer.
    let required = ["JwtIssuer", "JwtAudience"];
    let mut problems = Vec::new();
    for (name, p) in t["Parameters"].as_mapping().into_iter().flatten() {
        let Some(name) = name.as_str() else { continue };
        if p.get("Default").is_none() && !required.contains(&name) {
            problems.push(format!(
                "{name}: no Default (the local stack deploys with defaults)"
            ));
        }
        if !readme.contains(&format!("`{name}`")) {
            problems.push(format!("{name}: not in README's parameter table"));
        }
    }
    fail_with(&problems);
}
