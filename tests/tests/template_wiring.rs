//! Checks template.yaml's wiring against the code — what cfn-lint cannot see: each
//! function's code is a workspace binary, each router's routes are mapped to the function
//! that serves them (and nothing else is), the SQS event reports batch item failures, and
//! each function's environment names what its code reads.

use serde_yaml::Value;
use std::collections::BTreeSet;

const TEMPLATE: &str = include_str!("../../template.yaml");

fn template() -> Value {
    serde_yaml::from_str(TEMPLATE).expect("template.yaml parses")
}

fn function<'a>(t: &'a Value, name: &str) -> &'a Value {
    let f = &t["Resources"][name];
    assert_eq!(f["Type"].as_str(), Some("AWS::Serverless::Function"), "{name} is a function");
    f
}

fn tagged<'a>(v: &'a Value, tag: &str) -> Option<&'a str> {
    match v {
        Value::Tagged(t) if t.tag == tag => t.value.as_str(),
        _ => None,
    }
}

fn routes_of(f: &Value) -> BTreeSet<(String, String)> {
    f["Properties"]["Events"]
        .as_mapping()
        .into_iter()
        .flatten()
        .filter(|(_, e)| e["Type"].as_str() == Some("HttpApi"))
        .map(|(_, e)| (e["Properties"]["Method"].as_str().unwrap().to_uppercase(), e["Properties"]["Path"].as_str().unwrap().to_string()))
        .collect()
}

fn env_of(t: &Value, f: &Value) -> BTreeSet<String> {
    let global = t["Globals"]["Function"]["Environment"]["Variables"].as_mapping().cloned().unwrap_or_default();
    let own = f["Properties"]["Environment"]["Variables"].as_mapping().cloned().unwrap_or_default();
    global.keys().chain(own.keys()).filter_map(|k| k.as_str().map(str::to_string)).collect()
}

fn declared(routes: &[(&str, &str)]) -> BTreeSet<(String, String)> {
    routes.iter().map(|(m, p)| (m.to_string(), p.to_string())).collect()
}

#[test]
fn every_function_is_a_workspace_binary() {
    let t = template();
    for (name, binary) in [("IngestOrdersFunction", "abev-ingest-orders"), ("ViewFunction", "abev-view"), ("AccessFunction", "abev-access")]
    {
        let f = function(&t, name);
        assert_eq!(f["Metadata"]["BuildMethod"].as_str(), Some("rust-cargolambda"), "{name}");
        assert_eq!(f["Metadata"]["BuildProperties"]["Binary"].as_str(), Some(binary), "{name}");
        let code_uri = f["Properties"]["CodeUri"].as_str().expect("CodeUri");
        let manifest =
            std::fs::read_to_string(format!("{}/../{code_uri}/Cargo.toml", env!("CARGO_MANIFEST_DIR"))).expect("CodeUri is a crate");
        assert!(manifest.contains(&format!("name = \"{binary}\"")) && manifest.contains("[[bin]]"), "{code_uri} builds {binary}");
        let workspace = std::fs::read_to_string(format!("{}/../Cargo.toml", env!("CARGO_MANIFEST_DIR"))).unwrap();
        assert!(workspace.contains(&format!("\"{code_uri}\"")), "{code_uri} is a workspace member");
    }
    let arch = &t["Parameters"]["Architecture"];
    assert_eq!(arch["Default"].as_str(), Some("arm64"));
    let allowed: BTreeSet<&str> = arch["AllowedValues"].as_sequence().unwrap().iter().filter_map(Value::as_str).collect();
    assert_eq!(allowed, BTreeSet::from(["arm64", "x86_64"]), "Lambda's two architectures only");
    assert_eq!(tagged(&t["Globals"]["Function"]["Architectures"][0], "!Ref"), Some("Architecture"));
    assert_eq!(t["Globals"]["Function"]["Runtime"].as_str(), Some("provided.al2023"));
}

#[test]
fn every_route_is_mapped_to_the_function_that_serves_it_and_no_other() {
    let t = template();
    assert_eq!(routes_of(function(&t, "ViewFunction")), declared(abev::http::view::ROUTES));
    assert_eq!(routes_of(function(&t, "AccessFunction")), declared(abev::http::access::ROUTES));
    assert_eq!(routes_of(function(&t, "IngestOrdersFunction")), BTreeSet::new());
}

#[test]
fn ingestion_reads_the_orders_queue_with_partial_batch_responses() {
    let t = template();
    let f = function(&t, "IngestOrdersFunction");
    let events: Vec<&Value> =
        f["Properties"]["Events"].as_mapping().unwrap().values().filter(|e| e["Type"].as_str() == Some("SQS")).collect();
    assert_eq!(events.len(), 1);
    let p = &events[0]["Properties"];
    assert_eq!(tagged(&p["Queue"], "!GetAtt"), Some("OrdersQueue.Arn"));
    assert_eq!(p["FunctionResponseTypes"].as_sequence().unwrap(), &vec![Value::String("ReportBatchItemFailures".into())]);
    let batch = p["BatchSize"].as_u64().unwrap();
    assert!((1..=10).contains(&batch));
    // The queue hides a message for at least six times the function's timeout.
    let timeout = f["Properties"]["Timeout"].as_u64().or(t["Globals"]["Function"]["Timeout"].as_u64()).unwrap();
    let visibility = t["Resources"]["OrdersQueue"]["Properties"]["VisibilityTimeout"].as_u64().unwrap();
    assert!(visibility >= 6 * timeout, "visibility {visibility} < 6 x {timeout}");
    assert_eq!(
        tagged(&t["Resources"]["OrdersQueue"]["Properties"]["RedrivePolicy"]["deadLetterTargetArn"], "!GetAtt"),
        Some("OrdersDeadLetterQueue.Arn")
    );
}

#[test]
fn each_function_is_told_the_table_and_queues_its_code_reads() {
    let t = template();
    // What the code reads: Ingestor::from_env, AppState::from_env, config::table.
    let needs = [
        ("IngestOrdersFunction", &["ABEV_TABLE", "ABEV_ORDERS_DLQ_URL"][..]),
        ("ViewFunction", &["ABEV_TABLE", "ABEV_CURSOR_SECRET"][..]),
        ("AccessFunction", &["ABEV_TABLE", "ABEV_CURSOR_SECRET", "ABEV_CARE_QUEUE_URL", "ABEV_ADMIN_SLA_DAYS"][..]),
    ];
    for (name, vars) in needs {
        let env = env_of(&t, function(&t, name));
        for var in vars {
            assert!(env.contains(*var), "{name} lacks {var}");
        }
    }
    let access = function(&t, "AccessFunction");
    let schedules =
        access["Properties"]["Events"].as_mapping().unwrap().values().filter(|e| e["Type"].as_str() == Some("Schedule")).count();
    assert_eq!(schedules, 1, "the SLA sweep runs on a schedule");
}

#[test]
fn the_view_may_write_only_audit_items_and_they_are_keyed_so() {
    let t = template();
    let serial = abev::domain::Serial::parse("S1").unwrap();
    let audit_pk = abev::store::keys::entitlement_audit(&serial, "t", "id").pk;
    let policy = serde_yaml::to_string(&t["Resources"]).unwrap();
    let prefix = "AUDIT#";
    assert!(audit_pk.starts_with(prefix), "audit items are keyed {audit_pk}");
    assert!(policy.contains(&format!("{prefix}*")), "the view's PutItem is limited to {prefix}* items");
}
