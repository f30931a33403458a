//! `template.yaml` and the code agree (issue 17, point 5): every function of the template
//! is a crate with a Lambda bootstrap; the variables each function's wiring reads are the
//! ones the template sets for it; every AWS call a function makes is allowed by the
//! `Policies` the template gives it.

use conversa::app::config::Clients;
use conversa::app::functions;
use conversa::ports::Clock;
use conversa_infra::calls::record_aws_calls;
use conversa_infra::emulator::{ACCOUNT_ID, REGION};
use conversa_infra::repo_root;
use conversa_tests::campaign;
use conversa_tests::iam::{self, Context};
use conversa_tests::template_yaml::{fail_with, template_yaml};
use conversa_tests::*;
use serde_json::json;
use serde_norway::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

const CONTACT: &str = "5548999990000";

/// The template's `AWS::Serverless::Function` resources: logical id and definition.
fn functions_of(template: &Value) -> Vec<(String, Value)> {
    template["Resources"]
        .as_mapping()
        .into_iter()
        .flatten()
        .filter(|(_, r)| r["Type"].as_str() == Some("AWS::Serverless::Function"))
        .filter_map(|(id, r)| Some((id.as_str()?.to_owned(), r.clone())))
        .collect()
}

fn variable_names(variables: &Value) -> BTreeSet<String> {
    variables
        .as_mapping()
        .into_iter()
        .flatten()
        .filter_map(|(k, _)| k.as_str().map(str::to_owned))
        .collect()
}

#[test]
fn every_function_in_the_template_has_its_crate_and_bootstrap() {
    let template = template_yaml();
    let globals = &template["Globals"]["Function"];
    let root = repo_root();
    let mut problems = Vec::new();
    let mut binaries = BTreeSet::new();
    for (id, f) in functions_of(&template) {
        // A function's own property, else the Globals one.
        let property = |key: &str| {
            f["Properties"]
                .get(key)
                .or_else(|| globals.get(key))
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned()
        };
        let Some(binary) = f["Metadata"]["BuildProperties"]["Binary"].as_str() else {
            problems.push(format!("{id} has no Metadata.BuildProperties.Binary"));
            continue;
        };
        if !binaries.insert(binary.to_owned()) {
            problems.push(format!(
                "{id}: binary {binary} is built for another function too"
            ));
        }
        if f["Metadata"]["BuildMethod"].as_str() != Some("rust-cargolambda") {
            problems.push(format!("{id} is not built with rust-cargolambda"));
        }
        // A custom runtime runs an executable named `bootstrap`, which cargo-lambda makes
        // from the binary, found in the workspace at CodeUri.
        if property("Handler") != "bootstrap" {
            problems.push(format!("{id}: Handler is not bootstrap"));
        }
        if !property("Runtime").starts_with("provided.") {
            problems.push(format!(
                "{id}: Runtime is not an OS-only (provided.*) runtime"
            ));
        }
        if property("CodeUri") != "." {
            problems.push(format!("{id}: CodeUri is not the workspace root"));
        }
        let dir = root.join("functions").join(binary);
        let Ok(manifest) = std::fs::read_to_string(dir.join("Cargo.toml")) else {
            problems.push(format!("{id}: no crate functions/{binary}"));
            continue;
        };
        // The crate's [[bin]] of that name, from src/main.rs.
        let bin = manifest
            .split("[[bin]]")
            .skip(1)
            .map(|s| s.split("\n[").next().unwrap_or_default())
            .find(|s| s.contains(&format!("name = \"{binary}\"")));
        match bin {
            Some(b) if b.contains("path = \"src/main.rs\"") => {}
            _ => problems.push(format!(
                "{id}: functions/{binary}/Cargo.toml has no [[bin]] {binary} at src/main.rs"
            )),
        }
        let Ok(main) = std::fs::read_to_string(dir.join("src/main.rs")) else {
            problems.push(format!("{id}: no functions/{binary}/src/main.rs"));
            continue;
        };
        // The bootstrap: the runtime's loop around the handler the shared wiring builds
        // from the process environment.
        let constructor = format!("functions::{}(", binary.replace('-', "_"));
        if !main.contains(&constructor) || !main.contains("process_env") {
            problems.push(format!(
                "{id}: functions/{binary}/src/main.rs does not build its handler with {constructor}.., &process_env, ..)"
            ));
        }
        if !main.contains("lambda_runtime::run(") && !main.contains("lambda_http::run(") {
            problems.push(format!(
                "{id}: functions/{binary}/src/main.rs does not run the Lambda runtime loop"
            ));
        }
    }
    for entry in std::fs::read_dir(root.join("functions")).expect("functions/") {
        let name = entry
            .expect("entry")
            .file_name()
            .to_string_lossy()
            .into_owned();
        if !binaries.contains(&name) {
            problems.push(format!(
                "functions/{name} is no function of template.yaml (no Binary: {name})"
            ));
        }
    }
    assert_eq!(binaries.len(), 13, "{binaries:?}");
    fail_with(&problems);
}

/// Variables Lambda sets itself (and the language runtime reads): not the template's.
fn lambdas_own(name: &str) -> bool {
    name.starts_with("AWS_")
        || name.starts_with('_')
        || name.starts_with("LAMBDA_")
        || matches!(name, "TZ" | "LANG" | "PATH" | "LD_LIBRARY_PATH")
}

#[tokio::test]
async fn every_variable_a_function_reads_is_set_for_it_and_every_variable_set_is_read() {
    // A stack for what building a function touches (the webhook reads its secrets).
    let t = stack().await;
    let template = template_yaml();
    let globals = variable_names(&template["Globals"]["Function"]["Environment"]["Variables"]);
    let own: BTreeMap<String, BTreeSet<String>> = functions_of(&template)
        .into_iter()
        .map(|(id, f)| {
            let vars = variable_names(&f["Properties"]["Environment"]["Variables"]);
            (id, vars)
        })
        .collect();
    let clients = Clients::new(&t.config);
    let clock: Arc<dyn Clock> = t.local.clock.clone();
    let mut problems = Vec::new();
    let mut read_by_any = BTreeSet::new();
    for f in &t.local.stack.functions {
        // The function's environment as the template resolves it (Globals and its own),
        // each name the wiring asks for noted.
        let read = Arc::new(Mutex::new(BTreeSet::new()));
        let env = f.environment.clone();
        let noted = read.clone();
        let lookup = move |name: &str| {
            noted.lock().unwrap().insert(name.to_owned());
            env.get(name).cloned()
        };
        // What the binary does before its first event: build its clients
        // (`Clients::from_env`), build the handler, and prime the table where its main.rs
        // does.
        let _ = Clients::from_lookup(&lookup);
        if let Err(e) = functions::build(&f.binary, &clients, &lookup, clock.clone()).await {
            problems.push(format!(
                "{} does not build from its environment: {e}",
                f.logical_id
            ));
        }
        let main = repo_root().join(format!("functions/{}/src/main.rs", f.binary));
        if std::fs::read_to_string(main)
            .unwrap_or_default()
            .contains("prime_table")
        {
            functions::prime_table(&clients, &lookup).await;
        }
        let read: BTreeSet<String> = read
            .lock()
            .unwrap()
            .iter()
            .filter(|n| !lambdas_own(n))
            .cloned()
            .collect();
        for name in &read {
            if !f.environment.contains_key(name) {
                problems.push(format!(
                    "{} reads {name}, which template.yaml does not set for it",
                    f.logical_id
                ));
            }
        }
        for name in own.get(&f.logical_id).into_iter().flatten() {
            if !read.contains(name) {
                problems.push(format!(
                    "{}: template.yaml sets {name}, which the function never reads",
                    f.logical_id
                ));
            }
        }
        read_by_any.extend(read);
    }
    // The Globals environment is every function's: each variable of it must be read by
    // some function (not necessarily by each).
    for name in globals.difference(&read_by_any) {
        problems.push(format!("Globals sets {name}, which no function reads"));
    }
    assert_eq!(t.local.stack.functions.len(), own.len());
    fail_with(&problems);
}

#[test]
fn iam_wildcards_match_as_iam_does() {
    assert!(iam::matches("sqs:sendmessage*", "sqs:sendmessage"));
    assert!(iam::matches(
        "arn:aws:dynamodb:r:a:table/t/index/*",
        "arn:aws:dynamodb:r:a:table/t/index/by_kind"
    ));
    assert!(!iam::matches(
        "arn:aws:dynamodb:r:a:table/t",
        "arn:aws:dynamodb:r:a:table/t/index/by_kind"
    ));
    assert!(iam::matches("a?c", "abc") && !iam::matches("a?c", "ac"));
}

#[tokio::test]
async fn every_aws_call_a_function_makes_is_granted_by_its_policies() {
    record_aws_calls();
    let t = stack().await;
    drive_every_function(&t).await;
    let calls = t
        .local
        .runtime
        .calls
        .as_ref()
        .expect("the stack records its calls")
        .calls();

    let sam = iam::sam_policy_templates();
    let template = template_yaml();
    let mut problems = BTreeSet::new();
    let mut seen: BTreeMap<String, BTreeMap<String, usize>> = BTreeMap::new();
    for (id, f) in functions_of(&template) {
        let granted = match iam::granted(&f["Properties"], &t.local.stack.resolver, &sam) {
            Ok(g) => g,
            Err(e) => {
                problems.insert(format!("{id}: its Policies cannot be read: {e}"));
                continue;
            }
        };
        let def = t.local.stack.functions.iter().find(|d| d.logical_id == id);
        let cx = Context {
            region: REGION,
            account: ACCOUNT_ID,
            websocket_endpoint: def
                .and_then(|d| d.environment.get("WEBSOCKET_ENDPOINT"))
                .map(String::as_str),
        };
        let of_function = seen.entry(id.clone()).or_default();
        for call in calls.iter().filter(|c| c.function == id) {
            for need in iam::needs(call, &cx) {
                *of_function.entry(need.action.clone()).or_default() += 1;
                if !iam::allows(&granted, &need.action, &need.resource) {
                    problems.insert(format!(
                        "{id} calls {}: {} on {} is not granted by its Policies",
                        need.operation, need.action, need.resource
                    ));
                }
            }
        }
        if of_function.is_empty() {
            problems.insert(format!(
                "{id}: the scenario made no AWS call of it, nothing of it was checked"
            ));
        }
    }
    // What was checked, for the record (`--nocapture`).
    for (function, actions) in &seen {
        eprintln!("{function}: {actions:?}");
    }
    fail_with(&problems.into_iter().collect::<Vec<_>>());
}

/// One pass through what the existing tests drive, touching every function: a contact
/// writes (one part unreadable, one on an unknown channel), an agent online takes the
/// conversation and replies, the reply is delivered, the delivery
/// status comes back; an assistant hands a conversation off and nobody takes it; a
/// campaign starts now and one starts in two hours; a conversation is removed; templates
/// are synced; conversations expire; a contact's SMS arrives (one for a number that is no
/// channel); the agent goes offline.
async fn drive_every_function(t: &TestStack) {
    let boss = campaign::supervisor(t).await;
    // ws-connect, agent-api: an agent registered, connected, available.
    let (agent, socket) = t.online_agent("ana", &["support"], None).await;

    // webhook (its dead letters too), inbound (its dead letters too).
    let mut first = text_message(CONTACT, "wamid.TC1", "oi");
    first["timestamp"] = json!(t.now_secs().to_string());
    let body = webhook_body(
        SAMPLE_CHANNEL_ID,
        json!([
            first,
            {"id": "wamid.NOFROM", "type": "text", "text": {"body": "sem remetente"}}
        ]),
        json!([]),
    );
    assert_eq!(t.post_webhook(&body).await.status(), 200);
    let unknown = webhook_body(
        "999999999999999",
        json!([text_message(CONTACT, "wamid.TC2", "oi")]),
        json!([]),
    );
    assert_eq!(t.post_webhook(&unknown).await.status(), 200);
    // inbound publishes what the provider reports as errors.
    let mut errors: serde_json::Value =
        serde_json::from_slice(&webhook_body(SAMPLE_CHANNEL_ID, json!([]), json!([])))
            .expect("json");
    errors["entry"][0]["changes"][0]["value"]["errors"] =
        json!([{"code": 131000, "title": "Something went wrong"}]);
    let errors = serde_json::to_vec(&errors).expect("json");
    assert_eq!(t.post_webhook(&errors).await.status(), 200);
    t.drain_inbound().await;
    // event-relay, then the bus's functions: assigner, notifier.
    t.settle().await;

    // window-check.
    let (status, window) = t
        .get_json(
            &format!("/v1/channels/{SAMPLE_CHANNEL_ID}/contacts/{CONTACT}/window"),
            &agent,
        )
        .await;
    assert_eq!(status, 200, "{window}");

    // agent-api: capture, lists, a reply; hsm-send delivers it.
    let id = t.open_conversation_of(CONTACT).await.expect("opened").id;
    assert_eq!(t.op(&agent, &id, "capture", json!({})).await.0, 200);
    for (list, token) in [
        ("/v1/queues/support/conversations", &agent),
        ("/v1/queues/support/conversations?state=closed", &boss),
        ("/v1/conversations?assigned=me", &agent),
        (
            &format!("/v1/conversations?channel={SAMPLE_CHANNEL_ID}&contact={CONTACT}"),
            &boss,
        ),
    ] {
        let (status, body) = t.get_json(list, token).await;
        assert_eq!(status, 200, "{list}: {body}");
    }
    let (status, sent) = t
        .op(
            &agent,
            &id,
            "messages",
            json!({"text": "Olá, em que posso ajudar?"}),
        )
        .await;
    assert_eq!(status, 202, "{sent}");
    t.drain_outbound().await;
    // inbound: its delivery status.
    let delivered: Vec<_> = campaign::outbox(t)
        .await
        .iter()
        .filter_map(|m| m["id"].as_str().map(str::to_owned))
        .collect();
    assert!(!delivered.is_empty(), "the reply reached the provider");
    let statuses: Vec<_> = delivered
        .iter()
        .map(|wamid| json!({"id": wamid, "status": "delivered", "timestamp": t.now_secs().to_string(), "recipient_id": CONTACT}))
        .collect();
    let body = webhook_body(SAMPLE_CHANNEL_ID, json!([]), json!(statuses));
    assert_eq!(t.post_webhook(&body).await.status(), 200);
    t.drain_inbound().await;
    // hsm-send on an SMS channel: an agent starts an SMS session, its text goes out by
    // SendTextMessage (from the sample number, naming the configuration set).
    t.local.seed_sms_channel().await.expect("the SMS channel");
    let (status, started) = t
        .post_json(
            "/v1/conversations",
            &agent,
            json!({"channel": conversa_infra::dev::SAMPLE_SMS_CHANNEL_ID, "phone": "5548999990055", "text": "Olá por SMS"}),
        )
        .await;
    assert_eq!(status, 201, "{started}");
    t.drain_outbound().await;
    let sms = campaign::outbox(t).await;
    assert!(
        sms.iter().any(|m| m["kind"] == "sms"),
        "the SMS reached the sandbox: {sms:?}"
    );
    // hsm-send's dead letters: an item it cannot read.
    let unreadable: aws_lambda_events::sqs::SqsEvent = serde_json::from_value(json!({"Records": [{
        "messageId": "unreadable-1", "receiptHandle": "test", "body": "not an outbound item",
        "attributes": {"ApproximateReceiveCount": "1", "MessageGroupId": "g", "MessageDeduplicationId": "d"},
        "messageAttributes": {}, "eventSource": "aws:sqs",
        "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:outbound.fifo", "awsRegion": "us-east-1"
    }]}))
    .expect("event");
    t.invoke_sender(unreadable).await;

    // An assistant hands a conversation off; nobody takes it in time (handoff-timeout).
    let (status, body) = t
        .set_settings(json!({
            "routing": {"mode": "assistant", "to": "assistant", "assistant": "bot", "backup_queue": "support"},
            "handoff": {"wait_timeout_seconds": 1200, "inactivity_timeout_seconds": 600}
        }))
        .await;
    assert_eq!(status, 200, "{body}");
    let other = "5548999990077";
    t.contact_sends(other, json!({"type": "text", "text": {"body": "oi"}}))
        .await;
    let bot = t.token("bot", "assistant", &[]).await;
    let handed = t.open_conversation_of(other).await.expect("opened");
    let (status, body) = t
        .op(&bot, &handed.id, "handoff", json!({"queue": "sales"}))
        .await;
    assert_eq!(status, 200, "{body}");
    t.settle().await;
    let due_at = body["handoff"]["wait_deadline"]
        .as_i64()
        .expect("a wait deadline");
    t.advance_clock(1201).await;
    let timer = conversa::domain::inbound::Timer {
        subject: handed.id.clone(),
        kind: conversa::domain::inbound::TimerKind::HandoffWait,
        due_at,
    };
    assert!(t.fire_timer(&timer).await.batch_item_failures.is_empty());
    t.settle().await;

    // Campaigns: one now (handoff-timeout dispatches, hsm-send sends, once after a rate
    // limit), one in two hours (a one-time schedule).
    let r = t
        .http
        .post(t.url("/_dev/provider/faults"))
        .json(&json!({"phone": "554832817001", "status": 429, "times": 1}))
        .send()
        .await
        .expect("provider fault");
    assert!(r.status().is_success(), "{}", r.status());
    let now = campaign::create(t, &boss, json!({})).await;
    campaign::add_recipients(
        t,
        &boss,
        &now,
        json!({"recipients": [{"phone": "554832817001", "parameters": ["Ana"]}]}),
    )
    .await;
    campaign::start(t, &boss, &now).await;
    campaign::run(t, &boss, &now).await;
    let at = chrono::DateTime::from_timestamp_millis(t.now_secs() * 1000 + 7_200_000)
        .expect("time")
        .to_rfc3339();
    let later = campaign::create(t, &boss, json!({ "schedule_at": at })).await;
    campaign::add_recipients(
        t,
        &boss,
        &later,
        json!({"recipients": [{"phone": "554832817002", "parameters": ["Bia"]}]}),
    )
    .await;
    campaign::start(t, &boss, &later).await;
    t.relay().await;

    // agent-api: a supervisor removes a conversation and its messages.
    let r = t
        .http
        .delete(t.url(&format!("/v1/conversations/{id}")))
        .bearer_auth(&boss)
        .send()
        .await
        .expect("remove");
    assert_eq!(r.status(), 200);
    t.settle().await;

    // template-sync; auto-expiry after every open conversation's expiry.
    let synced = t.local.runtime.run_scheduled("TemplateSyncFunction").await;
    assert!(matches!(synced, Some(Ok(_))), "{synced:?}");
    t.advance_clock(73 * 3600).await;
    let swept = t.local.runtime.run_scheduled("AutoExpiryFunction").await;
    assert!(matches!(swept, Some(Ok(_))), "{swept:?}");
    t.settle().await;

    // sms-inbound (its dead letters too): a contact's SMS to the SMS channel, applied by
    // inbound, and one to a number that is no channel of the stack.
    t.local
        .seed_sms_channel()
        .await
        .expect("seed the SMS channel");
    for (channel, id) in [
        (conversa_infra::dev::SAMPLE_SMS_CHANNEL_ID, "sms-tc-1"),
        ("554830000777", "sms-tc-2"),
    ] {
        let sms = conversa_infra::sms_dev::InboundSms {
            from: CONTACT.into(),
            channel: channel.into(),
            body: "oi".into(),
            message_id: Some(id.into()),
            keyword: None,
        };
        t.local
            .receive_sms(&sms)
            .await
            .expect("sms-inbound answered");
    }
    t.drain_inbound().await;
    t.settle().await;

    // ws-connect: the agent's connection closes.
    socket.close().await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    t.settle().await;
}
