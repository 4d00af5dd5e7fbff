//! Checks template.yaml's wiring against the code — what cfn-lint cannot see: each
//! function's code is a workspace binary, each router's routes are mapped to the function
//! that serves them (and nothing else is), the SQS event reports batch item failures, each
//! function's environment names what its code reads, each role writes only the partitions
//! its code writes (`store::keys::*_WRITES`), only the ERP may send orders, every failure
//! has an alarm, log metrics match fields the code logs, the cursor key is generated in the
//! stack, and the web page is served privately with its headers, CORS and sign-in wired.

use serde_norway::Value;
use std::collections::BTreeSet;

const TEMPLATE: &str = include_str!("../../template.yaml");

fn template() -> Value {
    serde_norway::from_str(TEMPLATE).expect("template.yaml parses")
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
fn only_the_public_routes_are_served_without_the_jwt_authorizer() {
    let t = template();
    let public = declared(abev::http::view::PUBLIC_ROUTES);
    for name in ["ViewFunction", "AccessFunction"] {
        let events = function(&t, name)["Properties"]["Events"].as_mapping().unwrap();
        for event in events.values().filter(|e| e["Type"].as_str() == Some("HttpApi")) {
            let p = &event["Properties"];
            let route = (p["Method"].as_str().unwrap().to_uppercase(), p["Path"].as_str().unwrap().to_string());
            let unauthenticated = p["Auth"]["Authorizer"].as_str() == Some("NONE");
            assert_eq!(unauthenticated, public.contains(&route), "{name} {route:?}");
        }
    }
}

#[test]
fn every_route_is_mapped_to_the_function_that_serves_it_and_no_other() {
    let t = template();
    let mut view = declared(abev::http::view::ROUTES);
    view.extend(declared(abev::http::view::PUBLIC_ROUTES));
    assert_eq!(routes_of(function(&t, "ViewFunction")), view);
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
    // The function dead-letters a message itself, with the reason, on its last receive.
    let max_receive = t["Resources"]["OrdersQueue"]["Properties"]["RedrivePolicy"]["maxReceiveCount"].as_u64().unwrap();
    assert_eq!(max_receive, abev::ingest::DEFAULT_MAX_RECEIVE_COUNT as u64);
}

#[test]
fn each_function_is_told_the_table_and_queues_its_code_reads() {
    let t = template();
    // What the code reads: Ingestor::from_env, AppState::from_env, config::table.
    let needs = [
        ("IngestOrdersFunction", &["ABEV_TABLE", "ABEV_ORDERS_DLQ_URL"][..]),
        ("ViewFunction", &["ABEV_TABLE", abev::config::CURSOR_SECRET_ARN, "ABEV_CARE_GROUP", "ABEV_GROUPS_CLAIM", "ABEV_ROLLOUT"][..]),
        (
            "AccessFunction",
            &[
                "ABEV_TABLE",
                abev::config::CURSOR_SECRET_ARN,
                "ABEV_CARE_QUEUE_URL",
                "ABEV_ADMIN_SLA_DAYS",
                "ABEV_CARE_GROUP",
                "ABEV_GROUPS_CLAIM",
                "ABEV_ROLLOUT",
            ][..],
        ),
    ];
    for (name, vars) in needs {
        let env = env_of(&t, function(&t, name));
        for var in vars {
            assert!(env.contains(*var), "{name} lacks {var}");
        }
    }
    // Cognito lists groups in `cognito:groups`: with the stack's pool the functions read that
    // claim, and the pool's Care group is the one the functions look for.
    for name in ["ViewFunction", "AccessFunction"] {
        let vars = &function(&t, name)["Properties"]["Environment"]["Variables"];
        let claim = serde_norway::to_string(&vars["ABEV_GROUPS_CLAIM"]).unwrap();
        assert!(claim.contains("cognito:groups") && claim.contains("UseCognito"), "{name}: {claim}");
        assert_eq!(tagged(&vars["ABEV_CARE_GROUP"], "Ref"), Some("CareGroup"), "{name}");
        // Only the stack's own pool (no spaces in its group names) splits the flattened claim.
        let exact = serde_norway::to_string(&vars["ABEV_GROUPS_EXACT"]).unwrap();
        assert!(exact.contains("UseCognito") && exact.contains("'false'") && exact.contains("'true'"), "{name}: {exact}");
    }
    assert_eq!(tagged(&t["Resources"]["CustomerCareGroup"]["Properties"]["GroupName"], "Ref"), Some("CareGroup"));
    // A fresh deployment shows the view to everyone; waves are a parameter away.
    assert_eq!(t["Parameters"]["RolloutMode"]["Default"].as_str(), Some(abev::domain::access::Rollout::default().as_str()));
    for name in ["ViewFunction", "AccessFunction"] {
        assert_eq!(
            tagged(&function(&t, name)["Properties"]["Environment"]["Variables"]["ABEV_ROLLOUT"], "Ref"),
            Some("RolloutMode"),
            "{name}"
        );
    }
    // The request limits are parameters with the code's defaults.
    let vars = &function(&t, "AccessFunction")["Properties"]["Environment"]["Variables"];
    let defaults = abev::access::Limits::default();
    for (var, param, default) in [
        ("ABEV_MAX_OPEN_REQUESTS", "MaxOpenRequests", u64::from(defaults.max_open_requests)),
        ("ABEV_REJECTION_COOLDOWN_HOURS", "RejectionCooldownHours", defaults.rejection_cooldown.whole_hours() as u64),
    ] {
        assert_eq!(tagged(&vars[var], "Ref"), Some(param), "{var}");
        assert_eq!(t["Parameters"][param]["Default"].as_u64(), Some(default), "{param}");
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
    let policy = serde_norway::to_string(&t["Resources"]).unwrap();
    let prefix = "AUDIT#";
    assert!(audit_pk.starts_with(prefix), "audit items are keyed {audit_pk}");
    assert!(policy.contains(&format!("{prefix}*")), "the view's PutItem is limited to {prefix}* items");
}

// ---- least privilege by key ------------------------------------------------------------

const WRITE_ACTIONS: &[&str] = &["dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem", "dynamodb:BatchWriteItem"];

fn statements<'a>(t: &'a Value, role: &str) -> Vec<&'a Value> {
    let r = &t["Resources"][role];
    assert_eq!(r["Type"].as_str(), Some("AWS::IAM::Role"), "{role} is a role");
    r["Properties"]["Policies"]
        .as_sequence()
        .unwrap()
        .iter()
        .flat_map(|p| p["PolicyDocument"]["Statement"].as_sequence().unwrap().iter())
        .collect()
}

fn strings(v: &Value) -> Vec<String> {
    match v {
        Value::String(s) => vec![s.clone()],
        Value::Sequence(seq) => seq.iter().flat_map(strings).collect(),
        _ => vec![],
    }
}

/// IAM `StringLike` with `*` only at the end, the only wildcard the patterns use.
fn like(pattern: &str, value: &str) -> bool {
    match pattern.strip_suffix('*') {
        Some(prefix) => value.starts_with(prefix),
        None => value == pattern,
    }
}

/// The partition-key patterns each role may write, as the template grants them; panics if
/// any statement grants a DynamoDB write without a LeadingKeys condition.
fn written_partitions(t: &Value, role: &str) -> BTreeSet<String> {
    let mut granted = BTreeSet::new();
    for st in statements(t, role) {
        assert_eq!(st["Effect"].as_str(), Some("Allow"));
        let actions = strings(&st["Action"]);
        assert!(!actions.iter().any(|a| a.contains('*') && a.starts_with("dynamodb")), "{role}: no wildcard DynamoDB actions: {actions:?}");
        assert!(!actions.iter().any(|a| a.starts_with("dynamodb:PartiQL") || a == "dynamodb:ExecuteStatement"), "{role}: no PartiQL");
        if !actions.iter().any(|a| WRITE_ACTIONS.contains(&a.as_str())) {
            continue;
        }
        assert!(
            actions.iter().all(|a| WRITE_ACTIONS.contains(&a.as_str())),
            "{role}: a write statement grants only writes (reads stay unconditioned): {actions:?}"
        );
        let keys = &st["Condition"]["ForAllValues:StringLike"]["dynamodb:LeadingKeys"];
        let patterns = strings(keys);
        assert!(!patterns.is_empty(), "{role}: {actions:?} without a dynamodb:LeadingKeys condition");
        assert_eq!(st["Condition"].as_mapping().unwrap().len(), 1, "{role}: one condition operator");
        granted.extend(patterns);
    }
    granted
}

#[test]
fn each_role_writes_exactly_the_partitions_its_code_writes() {
    // store::keys::written_partitions works the patterns out of the key builders each
    // function's writers call, so an item added there is a pattern here.
    let t = template();
    let derived = abev::store::keys::written_partitions();
    for (function, role) in [("ingest", "IngestOrdersRole"), ("access", "AccessRole"), ("view", "ViewRole")] {
        let (_, patterns) = derived.iter().find(|(f, _)| *f == function).unwrap_or_else(|| panic!("{function} in keys.rs"));
        let patterns: BTreeSet<String> = patterns.iter().cloned().collect();
        assert_eq!(written_partitions(&t, role), patterns, "{role}");
    }
}

#[test]
fn the_derived_patterns_hold_every_item_the_issue_named_and_keep_the_trails_apart() {
    use abev::domain::{Email, OrderId, Serial, SupportId};
    use abev::store::keys;
    let derived = keys::written_partitions();
    let of = |f: &str| derived.iter().find(|(n, _)| *n == f).map(|(_, p)| p.clone()).unwrap();
    let inside = |patterns: &[String], pk: &str| patterns.iter().any(|p| like(p, pk));
    let (o, serial) = (OrderId::parse("O-1").unwrap(), Serial::parse("S1").unwrap());
    let (site, e) = (SupportId::parse("ACME-1").unwrap(), Email::parse("bill@acme.example").unwrap());
    // The items the hand-kept list left out: unsettled orders, ship-to reach, reseller markers, copies.
    for key in [
        keys::unsettled(&site, &o),
        keys::ship_to_reach(&e, &site),
        keys::reseller_marker(&e, &site),
        keys::shipped_line(&e, &site, &serial, 1),
    ] {
        assert!(inside(&of("ingest"), &key.pk), "ingestion writes {}", key.pk);
    }
    let audit = keys::entitlement_audit(&serial, "t", "id").pk;
    for f in ["ingest", "access"] {
        assert!(!inside(&of(f), &audit), "{f} may not write the audit trail");
    }
    for pk in [keys::order_head(&o).pk, keys::serial_claim(&serial).pk] {
        assert!(!inside(&of("access"), &pk) && !inside(&of("view"), &pk), "only ingestion writes {pk}");
    }
    assert!(!inside(&of("view"), &keys::membership(&e, &site).pk), "the view writes no contact's partition");
}

// ---- who may send orders ------------------------------------------------------------------

#[test]
fn only_the_erp_may_send_orders_and_no_order_is_bigger_than_the_parser_takes() {
    let t = template();
    let q = &t["Resources"]["OrdersQueue"]["Properties"];
    assert_eq!(q["MaximumMessageSize"].as_u64(), Some(256 * 1024));
    let policy = &t["Resources"]["OrdersQueuePolicy"];
    assert!(policy.get("Condition").is_none(), "the queue policy is unconditional");
    assert_eq!(tagged(&policy["Properties"]["Queues"][0], "!Ref"), Some("OrdersQueue"));
    let statements: Vec<&Value> = policy["Properties"]["PolicyDocument"]["Statement"].as_sequence().unwrap().iter().collect();
    let allow = statements.iter().find(|s| s["Sid"].as_str() == Some("ErpSendsOrders")).expect("ERP allow");
    assert_eq!(tagged(&allow["Principal"]["AWS"], "!Ref"), Some("ErpPrincipalArn"));
    let deny = statements.iter().find(|s| s["Sid"].as_str() == Some("NobodyElseSendsOrders")).expect("deny for everyone else");
    assert_eq!(deny["Effect"].as_str(), Some("Deny"));
    assert_eq!(deny["Principal"].as_str(), Some("*"));
    assert_eq!(deny["Action"].as_str(), Some("sqs:SendMessage"));
    let exempt = serde_norway::to_string(&deny["Condition"]["ArnNotEquals"]["aws:PrincipalArn"]).unwrap();
    assert!(exempt.contains("ErpPrincipalArn"), "the ERP is exempt from the deny: {exempt}");
    assert!(!exempt.contains(":root"), "the account root is not exempt: {exempt}");
    // Nobody else is allowed anything on the queue by its policy.
    for s in &statements {
        if s["Effect"].as_str() == Some("Allow") {
            assert_ne!(s["Principal"].as_str(), Some("*"), "no Allow to every principal");
        }
    }
    assert!(t["Parameters"]["ErpPrincipalArn"].get("Default").is_none(), "the ERP principal must be given");
}

// ---- alarms and log metrics ---------------------------------------------------------------

fn alarms(t: &Value) -> Vec<(String, &Value)> {
    t["Resources"]
        .as_mapping()
        .unwrap()
        .iter()
        .filter(|(_, r)| r["Type"].as_str() == Some("AWS::CloudWatch::Alarm"))
        .map(|(k, r)| (k.as_str().unwrap().to_string(), &r["Properties"]))
        .collect()
}

fn alarm_on<'a>(t: &'a Value, namespace: &str, metric: &str, dimension: (&str, &str, &str)) -> Option<&'a Value> {
    let (name, tag, target) = dimension;
    alarms(t).into_iter().map(|(_, a)| a).find(|a| {
        let direct = a["Namespace"].as_str() == Some(namespace) && a["MetricName"].as_str() == Some(metric);
        let dims = a["Dimensions"].as_sequence().cloned().unwrap_or_default();
        direct && dims.iter().any(|d| d["Name"].as_str() == Some(name) && tagged(&d["Value"], tag) == Some(target))
    })
}

#[test]
fn every_failure_has_an_alarm_and_every_alarm_tells_the_one_topic() {
    let t = template();
    for f in ["IngestOrdersFunction", "ViewFunction", "AccessFunction"] {
        assert!(alarm_on(&t, "AWS/Lambda", "Errors", ("FunctionName", "!Ref", f)).is_some(), "{f} errors");
        assert!(alarm_on(&t, "AWS/Lambda", "Throttles", ("FunctionName", "!Ref", f)).is_some(), "{f} throttles");
    }
    // The sweep: its schedule's own failures (its errors are the access function's).
    let rule = &function(&t, "AccessFunction")["Properties"]["Events"]["SlaSweep"]["Properties"]["Name"];
    let rule = tagged(rule, "!Sub").expect("the sweep's rule is named");
    assert!(alarm_on(&t, "AWS/Events", "FailedInvocations", ("RuleName", "!Sub", rule)).is_some(), "sweep schedule failures");
    for (queue, metric) in [
        ("OrdersDeadLetterQueue.QueueName", "ApproximateNumberOfMessagesVisible"),
        ("CareDeadLetterQueue.QueueName", "ApproximateNumberOfMessagesVisible"),
        ("OrdersQueue.QueueName", "ApproximateAgeOfOldestMessage"),
    ] {
        assert!(alarm_on(&t, "AWS/SQS", metric, ("QueueName", "!GetAtt", queue)).is_some(), "{queue} {metric}");
    }
    let all = alarms(&t);
    let text_of = |a: &Value| serde_norway::to_string(a).unwrap();
    let api = all.iter().find(|(_, a)| text_of(a).contains("MetricName: 5xx")).expect("API 5xx alarm");
    assert!(text_of(api.1).contains("!Ref HttpApi") && text_of(api.1).contains("MetricName: Count"), "5xx as a rate of the API's requests");
    for metric in ["ThrottledRequests", "SystemErrors"] {
        let a = all.iter().find(|(_, a)| text_of(a).contains(&format!("SUM({metric})"))).unwrap_or_else(|| panic!("{metric} alarm"));
        assert!(text_of(a.1).contains("AWS/DynamoDB") && text_of(a.1).contains("${Table}"), "{metric} of the table");
    }
    for (name, a) in &all {
        assert_eq!(a["AlarmActions"].as_sequence().map(|s| s.len()), Some(1), "{name}");
        assert_eq!(tagged(&a["AlarmActions"][0], "!Ref"), Some("AlarmTopic"), "{name} notifies the topic");
    }
    let sub = &t["Resources"]["AlarmEmailSubscription"];
    assert_eq!(sub["Properties"]["Protocol"].as_str(), Some("email"));
    assert_eq!(tagged(&sub["Properties"]["Endpoint"], "!Ref"), Some("AlarmEmail"));
}

/// Every string a metric filter matches on is one the code logs, in the file it names.
#[test]
fn log_metric_filters_match_what_the_code_logs() {
    let t = template();
    let sources = [
        ("IngestOrdersLogGroup", include_str!("../../shared/src/ingest/mod.rs")),
        ("AccessLogGroup", include_str!("../../shared/src/access/mod.rs")),
        ("ViewLogGroup", concat!(include_str!("../../shared/src/http/mod.rs"), include_str!("../../shared/src/http/view.rs"))),
    ];
    let filters: Vec<&Value> = t["Resources"]
        .as_mapping()
        .unwrap()
        .values()
        .filter(|r| r["Type"].as_str() == Some("AWS::Logs::MetricFilter"))
        .map(|r| &r["Properties"])
        .collect();
    let mut metrics = BTreeSet::new();
    for f in &filters {
        let group = tagged(&f["LogGroupName"], "!Ref").unwrap();
        let (_, code) = sources.iter().find(|(g, _)| *g == group).unwrap_or_else(|| panic!("a filter on {group}"));
        let pattern = f["FilterPattern"].as_str().unwrap();
        // Field names: `$.field`; every one but `message` is a tracing field (`field =` or `field,`).
        for field in pattern.split("$.").skip(1).map(|r| r.split(|c: char| !c.is_alphanumeric() && c != '_').next().unwrap()) {
            if field != "message" && field != "level" {
                assert!(code.contains(&format!("{field} =")) || code.contains(&format!("{field},")), "{group}: field {field} is logged");
            }
        }
        // Quoted values are logged literally (a trailing `*` is a wildcard).
        for value in pattern.split('"').skip(1).step_by(2) {
            let literal = value.trim_end_matches('*');
            assert!(code.contains(literal), "{group}: the code logs {literal:?}");
        }
        assert!(pattern.starts_with('{') && pattern.ends_with('}'), "JSON filter pattern: {pattern}");
        for m in f["MetricTransformations"].as_sequence().unwrap() {
            assert_eq!(m["MetricNamespace"].as_str(), Some("ABEV"));
            metrics.insert(m["MetricName"].as_str().unwrap().to_string());
        }
    }
    for m in ["OrdersDeadLettered", "AccessRequestsEscalated", "EntitlementAuditWritten"] {
        assert!(metrics.contains(m), "metric {m}");
    }
}

// ---- secrets ------------------------------------------------------------------------------

#[test]
fn the_cursor_key_is_generated_in_the_stack_and_read_through_the_extension() {
    let t = template();
    let secret = &t["Resources"]["CursorKeySecret"];
    assert_eq!(secret["Type"].as_str(), Some("AWS::SecretsManager::Secret"));
    let generate = &secret["Properties"]["GenerateSecretString"];
    assert!(generate["PasswordLength"].as_u64().unwrap() >= 32);
    assert_eq!(generate["IncludeSpace"].as_bool(), Some(false), "one line of key material");
    assert!(generate.get("SecretStringTemplate").is_none(), "a plain string, not JSON");
    assert!(!TEMPLATE.contains("ABEV_CURSOR_SECRET:"), "the key is never a plain environment variable");
    assert!(t["Parameters"].get("CursorSecret").is_none(), "nobody types the key at deploy time");
    for (f, role) in [("ViewFunction", "ViewRole"), ("AccessFunction", "AccessRole")] {
        let p = &function(&t, f)["Properties"];
        assert_eq!(tagged(&p["Environment"]["Variables"][abev::config::CURSOR_SECRET_ARN], "!Ref"), Some("CursorKeySecret"), "{f}");
        let layers: Vec<Option<&str>> = p["Layers"].as_sequence().unwrap().iter().map(|l| tagged(l, "!Ref")).collect();
        assert!(layers.contains(&Some("SecretsExtensionLayerArn")), "{f} has the Secrets extension");
        let reads = statements(&t, role).into_iter().any(|s| {
            s["Action"].as_str() == Some("secretsmanager:GetSecretValue") && tagged(&s["Resource"], "!Ref") == Some("CursorKeySecret")
        });
        assert!(reads, "{role} may read the cursor key, and only it");
    }
    let ingest = statements(&t, "IngestOrdersRole");
    assert!(!serde_norway::to_string(&ingest).unwrap().contains("secretsmanager"), "ingestion needs no secret");
}

// ---- web page -----------------------------------------------------------------------------

#[test]
fn the_web_page_is_private_behind_cloudfront_with_strict_headers() {
    let t = template();
    let r = &t["Resources"];
    let block = &r["WebBucket"]["Properties"]["PublicAccessBlockConfiguration"];
    for k in ["BlockPublicAcls", "BlockPublicPolicy", "IgnorePublicAcls", "RestrictPublicBuckets"] {
        assert_eq!(block[k].as_bool(), Some(true), "{k}");
    }
    let policy = serde_norway::to_string(&r["WebBucketPolicy"]["Properties"]).unwrap();
    assert!(
        policy.contains("cloudfront.amazonaws.com")
            && policy.contains("AWS:SourceArn")
            && policy.contains("distribution/${WebDistribution}")
    );
    let dist = &r["WebDistribution"]["Properties"]["DistributionConfig"];
    let origin = &dist["Origins"][0];
    assert_eq!(tagged(&origin["DomainName"], "!GetAtt"), Some("WebBucket.RegionalDomainName"));
    assert_eq!(tagged(&origin["OriginAccessControlId"], "!GetAtt"), Some("WebOriginAccessControl.Id"));
    assert_eq!(r["WebOriginAccessControl"]["Properties"]["OriginAccessControlConfig"]["SigningBehavior"].as_str(), Some("always"));
    let behaviour = &dist["DefaultCacheBehavior"];
    assert_eq!(behaviour["ViewerProtocolPolicy"].as_str(), Some("redirect-to-https"));
    assert_eq!(tagged(&behaviour["ResponseHeadersPolicyId"], "!Ref"), Some("WebSecurityHeaders"));
    let headers = &r["WebSecurityHeaders"]["Properties"]["ResponseHeadersPolicyConfig"]["SecurityHeadersConfig"];
    let csp = serde_norway::to_string(&headers["ContentSecurityPolicy"]["ContentSecurityPolicy"]).unwrap();
    for directive in [
        "default-src 'self'",
        "connect-src 'self' https://*.execute-api.${AWS::Region}",
        "script-src 'self';",
        "style-src 'self';",
        "img-src 'self' data:;",
        "frame-ancestors 'none'",
    ] {
        assert!(csp.contains(directive), "CSP has {directive}: {csp}");
    }
    assert!(!csp.contains("unsafe-"), "no unsafe-inline / unsafe-eval");
    assert!(csp.contains("amazoncognito.com") && csp.contains("OidcTokenEndpoint"), "CSP allows the identity provider");
    assert!(headers["StrictTransportSecurity"]["AccessControlMaxAgeSec"].as_u64().unwrap() >= 31_536_000, "HSTS a year or more");
    assert_eq!(headers["ContentTypeOptions"]["Override"].as_bool(), Some(true), "nosniff");
    assert!(headers["ReferrerPolicy"]["ReferrerPolicy"].as_str().is_some());
    assert_eq!(headers["FrameOptions"]["FrameOption"].as_str(), Some("DENY"));
}

#[test]
fn browsers_may_call_the_api_only_from_the_web_page_which_signs_in_there() {
    let t = template();
    let page_origin = "https://${WebDistribution.DomainName}";
    let cors = &t["Resources"]["HttpApi"]["Properties"]["CorsConfiguration"];
    let origins: Vec<Option<&str>> = cors["AllowOrigins"].as_sequence().unwrap().iter().map(|o| tagged(o, "!Sub")).collect();
    assert_eq!(origins, vec![Some(page_origin)], "CORS allows the CloudFront origin only");
    assert_ne!(cors["AllowCredentials"].as_bool(), Some(true), "bearer tokens, no cookies");
    let client = &t["Resources"]["UserPoolClient"]["Properties"];
    let callbacks: Vec<Option<&str>> = client["CallbackURLs"].as_sequence().unwrap().iter().map(|o| tagged(o, "!Sub")).collect();
    assert_eq!(callbacks, vec![Some("https://${WebDistribution.DomainName}/")]);
    assert_eq!(client["AllowedOAuthFlows"].as_sequence().unwrap(), &vec![Value::String("code".into())], "authorization code (+ PKCE)");
    assert_eq!(client["GenerateSecret"].as_bool(), Some(false), "a browser keeps no client secret");
    assert_eq!(tagged(&t["Resources"]["CustomerCareGroup"]["Properties"]["GroupName"], "Ref"), Some("CareGroup"));
    assert_eq!(t["Parameters"]["CareGroup"]["Default"].as_str(), Some(abev::http::identity::CARE_GROUP));
    for cognito in ["UserPool", "UserPoolClient", "UserPoolDomain", "CustomerCareGroup"] {
        assert_eq!(t["Resources"][cognito]["Condition"].as_str(), Some("UseCognito"), "{cognito} only without an external issuer");
    }
    // The authorizer trusts the stack's pool, or the external issuer.
    let jwt = serde_norway::to_string(&t["Resources"]["HttpApi"]["Properties"]["Auth"]["Authorizers"]["JwtAuthorizer"]).unwrap();
    assert!(jwt.contains("UseCognito") && jwt.contains("UserPoolClient") && jwt.contains("JwtIssuer"), "{jwt}");
    // `make publish-web` writes config.json from these outputs.
    let outputs = &t["Outputs"];
    for o in [
        "WebBucketName",
        "WebDistributionId",
        "WebUrl",
        "WebConfigApiBase",
        "WebConfigIssuer",
        "WebConfigClientId",
        "WebConfigAuthorizeEndpoint",
        "WebConfigTokenEndpoint",
        "WebConfigRedirectUri",
        "WebConfigScope",
    ] {
        assert!(outputs.get(o).is_some(), "output {o}");
        assert!(include_str!("../../scripts/publish-web.sh").contains(o), "make publish-web reads {o}");
    }
    assert_eq!(tagged(&outputs["WebConfigRedirectUri"]["Value"], "!Sub"), Some("https://${WebDistribution.DomainName}/"));
}

// ---- dead-letter queues: nobody forges what a redrive replays (issue 18, 1) -------------

fn queue_policy_statements<'a>(t: &'a Value, queue: &str) -> Vec<&'a Value> {
    let policies: Vec<&Value> = t["Resources"]
        .as_mapping()
        .unwrap()
        .values()
        .filter(|r| r["Type"].as_str() == Some("AWS::SQS::QueuePolicy"))
        .filter(|r| r["Properties"]["Queues"].as_sequence().unwrap().iter().any(|q| tagged(q, "!Ref") == Some(queue)))
        .collect();
    assert_eq!(policies.len(), 1, "{queue} has exactly one queue policy");
    policies[0]["Properties"]["PolicyDocument"]["Statement"].as_sequence().unwrap().iter().collect()
}

/// The queue's policy denies `sqs:SendMessage` to every principal but `writers` (role
/// logical ids) and AWS services (SQS's own redrive), and allows nobody else.
fn only_these_send(t: &Value, queue: &str, writers: &[&str]) {
    let statements = queue_policy_statements(t, queue);
    let arn = format!("{queue}.Arn");
    let deny = statements
        .iter()
        .find(|s| s["Effect"].as_str() == Some("Deny") && strings(&s["Action"]).contains(&"sqs:SendMessage".to_string()))
        .unwrap_or_else(|| panic!("{queue}: a Deny of SendMessage"));
    assert_eq!(deny["Principal"].as_str(), Some("*"), "{queue}");
    assert_eq!(tagged(&deny["Resource"], "!GetAtt"), Some(arn.as_str()), "{queue}");
    let exempt: Vec<String> = match &deny["Condition"]["ArnNotEquals"]["aws:PrincipalArn"] {
        Value::Null => vec![],
        Value::Sequence(s) => s.iter().map(|v| tagged(v, "!GetAtt").unwrap_or("?").to_string()).collect(),
        v => vec![tagged(v, "!GetAtt").unwrap_or("?").to_string()],
    };
    let want: Vec<String> = writers.iter().map(|w| format!("{w}.Arn")).collect();
    assert_eq!(exempt, want, "{queue}: only {writers:?} are exempt");
    assert_eq!(deny["Condition"]["Bool"]["aws:PrincipalIsAWSService"].as_str(), Some("false"), "{queue}: SQS's redrive is exempt");
    for s in &statements {
        if s["Effect"].as_str() == Some("Allow") {
            assert_ne!(s["Principal"].as_str(), Some("*"), "{queue}: no Allow to every principal");
        }
    }
    assert!(statements.iter().any(|s| s["Sid"].as_str() == Some("TlsOnly")), "{queue}: TLS only");
}

#[test]
fn dead_letter_queues_take_only_sqs_redrive_and_their_own_writer() {
    let t = template();
    // Ingestion dead-letters permanent errors itself; SQS moves the rest after maxReceiveCount.
    only_these_send(&t, "OrdersDeadLetterQueue", &["IngestOrdersRole"]);
    // Nothing writes the Care DLQ but SQS's redrive from the Care queue.
    only_these_send(&t, "CareDeadLetterQueue", &[]);
    // Escalations come only from the access function (a forged one would mislead Care).
    only_these_send(&t, "CareQueue", &["AccessRole"]);
    // Each DLQ takes redrives only from its own source queue.
    for (dlq, source) in [("OrdersDeadLetterQueue", "orders"), ("CareDeadLetterQueue", "care")] {
        let allow = &t["Resources"][dlq]["Properties"]["RedriveAllowPolicy"];
        assert_eq!(allow["redrivePermission"].as_str(), Some("byQueue"), "{dlq}");
        let sources = allow["sourceQueueArns"].as_sequence().unwrap_or_else(|| panic!("{dlq}: sourceQueueArns"));
        assert_eq!(sources.len(), 1, "{dlq}");
        let arn = tagged(&sources[0], "!Sub").unwrap_or_default();
        assert!(arn.ends_with(&format!(":${{AWS::StackName}}-{source}")) && arn.starts_with("arn:${AWS::Partition}:sqs:"), "{dlq}: {arn}");
    }
}

#[test]
fn redriving_the_orders_dlq_is_a_command_that_shows_what_it_will_replay_first() {
    let makefile = include_str!("../../mk/deploy.mk");
    assert!(makefile.contains("\nredrive:") && makefile.contains("scripts/redrive.sh"), "make redrive");
    let script = include_str!("../../scripts/redrive.sh");
    let shows = script.find("abev-error: %s").expect("the script prints each message's abev-error");
    let confirms = script.find("read -r").expect("the script asks before it moves anything");
    let moves = script.find("aws sqs start-message-move-task").expect("the move is SQS's own redrive");
    assert!(shows < confirms && confirms < moves, "show, ask, then move");
    assert!(script.contains("--visibility-timeout 0"), "showing does not hide the messages from the move");
}

// ---- fair limits and retention (issue 18, 2) ------------------------------------------------

#[test]
fn every_function_has_reserved_concurrency_set_by_a_parameter() {
    let t = template();
    for (f, param) in [
        ("IngestOrdersFunction", "IngestReservedConcurrency"),
        ("ViewFunction", "ViewReservedConcurrency"),
        ("AccessFunction", "AccessReservedConcurrency"),
    ] {
        assert_eq!(tagged(&function(&t, f)["Properties"]["ReservedConcurrentExecutions"], "!Ref"), Some(param), "{f}");
        assert!(t["Parameters"][param]["Default"].as_u64().unwrap() >= 2, "{param}");
    }
    // The SQS poller never asks for more than the function may run.
    assert!(
        t["Parameters"]["IngestReservedConcurrency"]["Default"].as_u64() >= t["Parameters"]["IngestMaxConcurrency"]["Default"].as_u64()
    );
}

#[test]
fn audit_and_history_items_expire_after_a_retention_the_operator_sets() {
    let t = template();
    let ttl = &t["Resources"]["Table"]["Properties"]["TimeToLiveSpecification"];
    assert_eq!(ttl["AttributeName"].as_str(), Some(abev::http::ratelimit::TTL_ATTRIBUTE));
    assert_eq!(ttl["Enabled"].as_bool(), Some(true));
    let days = &t["Parameters"]["AuditRetentionDays"];
    assert!(days["Default"].as_u64().unwrap() >= 365, "a year or more by default");
    for f in ["ViewFunction", "AccessFunction"] {
        let vars = &function(&t, f)["Properties"]["Environment"]["Variables"];
        assert_eq!(tagged(&vars["ABEV_AUDIT_RETENTION_DAYS"], "!Ref"), Some("AuditRetentionDays"), "{f}");
        for (var, param) in [("ABEV_RATE_PER_SECOND", "CallerRatePerSecond"), ("ABEV_RATE_BURST", "CallerBurst")] {
            assert_eq!(tagged(&vars[var], "!Ref"), Some(param), "{f} {var}");
        }
    }
    let defaults = abev::http::ratelimit::RatePolicy::default();
    assert_eq!(t["Parameters"]["CallerBurst"]["Default"].as_u64(), Some(u64::from(defaults.burst)));
}

// ---- operations (issue 18, 4-7) -------------------------------------------------------------

#[test]
fn alarms_reach_the_topic_through_a_key_cloudwatch_may_use() {
    let t = template();
    let topic = &t["Resources"]["AlarmTopic"]["Properties"];
    assert_ne!(topic["KmsMasterKeyId"].as_str(), Some("alias/aws/sns"), "CloudWatch cannot use the AWS-managed SNS key");
    assert!(!TEMPLATE.contains("alias/aws/sns"), "no AWS-managed SNS key anywhere");
    let key_ref = tagged(&topic["KmsMasterKeyId"], "!Ref").expect("a customer-managed key");
    let key = &t["Resources"][key_ref];
    assert_eq!(key["Type"].as_str(), Some("AWS::KMS::Key"));
    assert_eq!(key["Properties"]["EnableKeyRotation"].as_bool(), Some(true));
    let statements = key["Properties"]["KeyPolicy"]["Statement"].as_sequence().unwrap();
    let cloudwatch = statements
        .iter()
        .find(|s| s["Principal"]["Service"].as_str() == Some("cloudwatch.amazonaws.com"))
        .expect("the key policy lets CloudWatch use the key");
    let actions = strings(&cloudwatch["Action"]);
    assert!(actions.contains(&"kms:Decrypt".to_string()) && actions.iter().any(|a| a.starts_with("kms:GenerateDataKey")), "{actions:?}");
}

#[test]
fn every_function_deploys_gradually_and_rolls_back_on_its_error_alarm() {
    let t = template();
    for (f, alarm) in
        [("IngestOrdersFunction", "IngestOrdersErrorsAlarm"), ("ViewFunction", "ViewErrorsAlarm"), ("AccessFunction", "AccessErrorsAlarm")]
    {
        let p = &function(&t, f)["Properties"];
        assert_eq!(p["AutoPublishAlias"].as_str(), Some("live"), "{f}");
        let pref = &p["DeploymentPreference"];
        assert_eq!(tagged(&pref["Type"], "!Ref"), Some("DeploymentType"), "{f}");
        let alarms: Vec<Option<&str>> = pref["Alarms"].as_sequence().unwrap().iter().map(|a| tagged(a, "!Ref")).collect();
        assert!(alarms.contains(&Some(alarm)), "{f} rolls back on {alarm}");
        // REPORT lines (duration, memory, init duration) are system logs at INFO.
        assert_eq!(p["LoggingConfig"]["SystemLogLevel"].as_str(), Some("INFO"), "{f}");
    }
    let types: Vec<&str> =
        t["Parameters"]["DeploymentType"]["AllowedValues"].as_sequence().unwrap().iter().filter_map(Value::as_str).collect();
    let default = t["Parameters"]["DeploymentType"]["Default"].as_str().unwrap();
    assert!(default.starts_with("Canary") || default.starts_with("Linear"), "{default}");
    assert!(types.contains(&default));
}

#[test]
fn a_dashboard_shows_what_make_bench_measures() {
    let t = template();
    let d = &t["Resources"]["Dashboard"];
    assert_eq!(d["Type"].as_str(), Some("AWS::CloudWatch::Dashboard"));
    let body = serde_norway::to_string(&d["Properties"]["DashboardBody"]).unwrap();
    for needle in
        ["latency_ms", "ddb_calls", "path", "ApproximateAgeOfOldestMessage", "OrdersDeadLetterQueue", "CareDeadLetterQueue", "ViewLogGroup"]
    {
        assert!(body.contains(needle), "the dashboard shows {needle}");
    }
    // The fields it queries are the request log line's.
    let code = include_str!("../../shared/src/http/mod.rs");
    for field in ["latency_ms", "ddb_calls", "path", "status"] {
        assert!(code.contains(&format!("{field},")) || code.contains(&format!("{field} =")), "the log line has {field}");
    }
}

#[test]
fn data_survives_mistakes_and_care_signs_in_with_mfa() {
    let t = template();
    let pool = &t["Resources"]["UserPool"]["Properties"];
    assert_eq!(pool["DeletionProtection"].as_str(), Some("ACTIVE"));
    assert_eq!(t["Resources"]["UserPool"]["DeletionPolicy"].as_str(), Some("Retain"), "a stack deletion keeps the accounts");
    assert_eq!(pool["MfaConfiguration"].as_str(), Some("ON"), "MFA is required (Care included)");
    let table = &t["Resources"]["Table"];
    assert_eq!(table["Properties"]["PointInTimeRecoverySpecification"]["PointInTimeRecoveryEnabled"].as_bool(), Some(true));
    assert_eq!(table["DeletionPolicy"].as_str(), Some("Retain"));
    let downloads = &t["Resources"]["DownloadsBucket"];
    assert_eq!(downloads["DeletionPolicy"].as_str(), Some("Retain"), "product files outlive the stack");
    let teardown = include_str!("../../scripts/teardown.sh");
    assert!(teardown.contains("list-object-versions") && teardown.contains("delete-stack"), "teardown empties the versioned web bucket");
}

// ---- the API as browsers and tools see it (issue 19) ---------------------------------------

#[test]
fn cors_lets_the_page_read_the_headers_the_api_answers_with() {
    let t = template();
    let cors = &t["Resources"]["HttpApi"]["Properties"]["CorsConfiguration"];
    let exposed: BTreeSet<String> = strings(&cors["ExposeHeaders"]).into_iter().map(|h| h.to_lowercase()).collect();
    for h in abev::http::EXPOSED_HEADERS {
        assert!(exposed.contains(*h), "CORS exposes {h}");
    }
    let allowed: BTreeSet<String> = strings(&cors["AllowHeaders"]).into_iter().map(|h| h.to_lowercase()).collect();
    assert!(allowed.contains("if-none-match"), "conditional requests");
}

#[test]
fn the_view_presigns_downloads_only_from_the_stacks_private_bucket() {
    let t = template();
    let b = &t["Resources"]["DownloadsBucket"]["Properties"];
    for k in ["BlockPublicAcls", "BlockPublicPolicy", "IgnorePublicAcls", "RestrictPublicBuckets"] {
        assert_eq!(b["PublicAccessBlockConfiguration"][k].as_bool(), Some(true), "{k}");
    }
    let vars = &function(&t, "ViewFunction")["Properties"]["Environment"]["Variables"];
    assert_eq!(tagged(&vars["ABEV_DOWNLOADS_BUCKET"], "!Ref"), Some("DownloadsBucket"));
    let reads: Vec<&Value> =
        statements(&t, "ViewRole").into_iter().filter(|s| strings(&s["Action"]).iter().any(|a| a.starts_with("s3:"))).collect();
    assert_eq!(reads.len(), 1);
    assert_eq!(strings(&reads[0]["Action"]), vec!["s3:GetObject".to_string()]);
    assert_eq!(tagged(&reads[0]["Resource"], "!Sub"), Some("${DownloadsBucket.Arn}/*"));
    for role in ["IngestOrdersRole", "AccessRole"] {
        assert!(!serde_norway::to_string(&statements(&t, role)).unwrap().contains("s3:"), "{role} reads no downloads");
    }
}

#[test]
fn the_python_tools_are_pinned_like_the_rest() {
    let script = include_str!("../../scripts/install-tools.sh");
    for (tool, var) in [("moto", "MOTO_VERSION"), ("flask", "FLASK_VERSION"), ("flask-cors", "FLASK_CORS_VERSION")] {
        assert!(script.contains(&format!("\"{tool}==${var}\"")), "{tool} is installed at a pinned version");
        let pinned = script.lines().find_map(|l| l.strip_prefix(&format!("{var}="))).unwrap_or_else(|| panic!("{var}"));
        assert!(pinned.split('.').count() == 3 && pinned.split('.').all(|p| p.parse::<u32>().is_ok()), "{var}={pinned}");
    }
}

#[test]
fn deploys_ship_the_one_workspace_build_of_make_package() {
    let t = template();
    let script = include_str!("../../scripts/deploy.sh");
    assert!(script.contains("scripts/package.sh") && script.contains("deploy --template-file"), "make package, then sam deploy");
    assert!(!script.contains("sam build") || script.contains("Nothing is built by SAM"), "no per-function sam build");
    for (f, binary) in [("IngestOrdersFunction", "abev-ingest-orders"), ("ViewFunction", "abev-view"), ("AccessFunction", "abev-access")] {
        let code_uri = function(&t, f)["Properties"]["CodeUri"].as_str().unwrap();
        assert!(script.contains(&format!("\"{code_uri}\": \"{binary}\"")), "deploy.sh points {code_uri} at {binary}'s zip");
    }
    assert!(include_str!("../../mk/deploy.mk").contains("\ndeploy:"), "make deploy");
}

// ---- change events (issue 20 part 3) ------------------------------------------------------

#[test]
fn the_events_function_reads_the_table_stream_with_partial_failures_and_a_dead_letter_queue() {
    let t = template();
    let table = &t["Resources"]["Table"]["Properties"];
    assert_eq!(table["StreamSpecification"]["StreamViewType"].as_str(), Some("NEW_AND_OLD_IMAGES"), "images before and after");
    let f = function(&t, "EventsFunction");
    assert_eq!(f["Metadata"]["BuildProperties"]["Binary"].as_str(), Some("abev-events"));
    let manifest = std::fs::read_to_string(format!("{}/../functions/events/Cargo.toml", env!("CARGO_MANIFEST_DIR"))).unwrap();
    assert!(manifest.contains("name = \"abev-events\"") && manifest.contains("[[bin]]"));
    let workspace = std::fs::read_to_string(format!("{}/../Cargo.toml", env!("CARGO_MANIFEST_DIR"))).unwrap();
    assert!(workspace.contains("\"functions/events\""), "a workspace member");
    let streams: Vec<&Value> =
        f["Properties"]["Events"].as_mapping().unwrap().values().filter(|e| e["Type"].as_str() == Some("DynamoDB")).collect();
    assert_eq!(streams.len(), 1);
    let p = &streams[0]["Properties"];
    assert_eq!(tagged(&p["Stream"], "!GetAtt"), Some("Table.StreamArn"));
    assert_eq!(p["FunctionResponseTypes"].as_sequence().unwrap(), &vec![Value::String("ReportBatchItemFailures".into())]);
    assert_eq!(p["BisectBatchOnFunctionError"].as_bool(), Some(true));
    assert!(p["MaximumRetryAttempts"].as_u64().is_some_and(|n| (1..=100).contains(&n)), "retries are bounded");
    assert_eq!(p["DestinationConfig"]["OnFailure"]["Type"].as_str(), Some("SQS"));
    assert_eq!(tagged(&p["DestinationConfig"]["OnFailure"]["Destination"], "!GetAtt"), Some("EventsDeadLetterQueue.Arn"));
    // Its environment names the bus its code reads (`EventsSettings`), and the bus is `abev`
    // for the stack named abev.
    assert!(env_of(&t, f).contains("ABEV_EVENT_BUS") && env_of(&t, f).contains("ABEV_TABLE"));
    assert_eq!(t["Resources"]["EventBus"]["Type"].as_str(), Some("AWS::Events::EventBus"));
    assert_eq!(tagged(&t["Resources"]["EventBus"]["Properties"]["Name"], "!Ref"), Some("AWS::StackName"));
    assert_eq!(abev::events::DEFAULT_BUS, "abev");
    // Alarms: given-up batches, errors, lag.
    assert!(alarm_on(&t, "AWS/SQS", "ApproximateNumberOfMessagesVisible", ("QueueName", "!GetAtt", "EventsDeadLetterQueue.QueueName"))
        .is_some());
    assert!(alarm_on(&t, "AWS/Lambda", "Errors", ("FunctionName", "!Ref", "EventsFunction")).is_some());
    assert!(alarm_on(&t, "AWS/Lambda", "IteratorAge", ("FunctionName", "!Ref", "EventsFunction")).is_some());
    only_these_send(&t, "EventsDeadLetterQueue", &["EventsRole"]);
    assert_eq!(tagged(&f["Properties"]["ReservedConcurrentExecutions"], "!Ref"), Some("EventsReservedConcurrency"));
}

#[test]
fn the_events_role_reads_order_partitions_publishes_to_its_bus_and_writes_nothing() {
    let t = template();
    let statements = statements(&t, "EventsRole");
    let actions: BTreeSet<String> = statements.iter().flat_map(|s| strings(&s["Action"])).collect();
    for write in
        ["dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem", "dynamodb:BatchWriteItem", "dynamodb:TransactWriteItems"]
    {
        assert!(!actions.contains(write), "the events function writes nothing: {write}");
    }
    let read = statements.iter().find(|s| strings(&s["Action"]).contains(&"dynamodb:Query".to_string())).expect("a read statement");
    assert_eq!(strings(&read["Condition"]["ForAllValues:StringLike"]["dynamodb:LeadingKeys"]), vec!["ORDER#*".to_string()]);
    let publish = statements.iter().find(|s| strings(&s["Action"]).contains(&"events:PutEvents".to_string())).expect("PutEvents");
    assert_eq!(tagged(&publish["Resource"], "!GetAtt"), Some("EventBus.Arn"), "its own bus only");
    for s in &statements {
        assert_ne!(s["Resource"].as_str(), Some("*"), "no wildcard resource");
    }
    // The webhook is off unless its URL is given, and its key is a NoEcho parameter.
    assert_eq!(t["Parameters"]["EventsWebhookUrl"]["Default"].as_str(), Some(""));
    assert_eq!(t["Parameters"]["EventsWebhookApiKey"]["NoEcho"].as_bool(), Some(true));
    for r in ["EventsWebhookConnection", "EventsWebhookDestination", "EventsWebhookRole", "EventsWebhookRule"] {
        assert_eq!(t["Resources"][r]["Condition"].as_str(), Some("HasEventsWebhook"), "{r}");
    }
}

// ---- expiry notices (issue 20 part 2) -----------------------------------------------------

#[test]
fn the_notices_function_runs_daily_on_a_scheduler_schedule_with_a_dead_letter_queue_and_alarms() {
    let t = template();
    let f = function(&t, "NoticesFunction");
    assert_eq!(f["Metadata"]["BuildProperties"]["Binary"].as_str(), Some("abev-notices"));
    let manifest = std::fs::read_to_string(format!("{}/../functions/notices/Cargo.toml", env!("CARGO_MANIFEST_DIR"))).unwrap();
    assert!(manifest.contains("name = \"abev-notices\"") && manifest.contains("[[bin]]"));
    let workspace = std::fs::read_to_string(format!("{}/../Cargo.toml", env!("CARGO_MANIFEST_DIR"))).unwrap();
    assert!(workspace.contains("\"functions/notices\""), "a workspace member");
    assert!(include_str!("../../scripts/deploy.sh").contains("\"functions/notices\": \"abev-notices\""), "deploy ships its zip");
    // Its environment names what `NoticesSettings::from_env` reads; the sender is a parameter.
    let env = env_of(&t, f);
    for var in ["ABEV_TABLE", abev::config::CURSOR_SECRET_ARN, "ABEV_NOTICES_FROM", "ABEV_WEB_URL", "ABEV_API_URL", "ABEV_ROLLOUT"] {
        assert!(env.contains(var), "NoticesFunction lacks {var}");
    }
    let vars = &f["Properties"]["Environment"]["Variables"];
    assert_eq!(tagged(&vars["ABEV_NOTICES_FROM"], "!Ref"), Some("NoticesFromAddress"));
    assert_eq!(tagged(&vars[abev::config::CURSOR_SECRET_ARN], "!Ref"), Some("CursorKeySecret"));
    assert!(t["Parameters"]["NoticesFromAddress"].is_mapping() && t["Parameters"]["NoticesSesIdentity"].is_mapping());
    // The schedule: daily, the function, its own role, retries and a DLQ; off without a sender.
    let schedule = &t["Resources"]["NoticesSchedule"];
    assert_eq!(schedule["Type"].as_str(), Some("AWS::Scheduler::Schedule"));
    let p = &schedule["Properties"];
    let expression = p["ScheduleExpression"].as_str().unwrap();
    assert!(expression == "rate(1 day)" || (expression.starts_with("cron(") && expression.contains("* * ? *")), "daily: {expression}");
    assert_eq!(tagged(&p["Target"]["Arn"], "!GetAtt"), Some("NoticesFunction.Arn"));
    assert_eq!(tagged(&p["Target"]["RoleArn"], "!GetAtt"), Some("NoticesSchedulerRole.Arn"));
    assert_eq!(tagged(&p["Target"]["DeadLetterConfig"]["Arn"], "!GetAtt"), Some("NoticesDeadLetterQueue.Arn"));
    assert!(p["Target"]["RetryPolicy"]["MaximumRetryAttempts"].as_u64().is_some());
    assert!(serde_norway::to_string(&p["State"]).unwrap().contains("HasNotices"), "enabled only with a sender");
    let trust = serde_norway::to_string(&t["Resources"]["NoticesSchedulerRole"]["Properties"]["AssumeRolePolicyDocument"]).unwrap();
    assert!(trust.contains("scheduler.amazonaws.com") && trust.contains("aws:SourceAccount"), "{trust}");
    let invoke = statements(&t, "NoticesSchedulerRole");
    let actions: BTreeSet<String> = invoke.iter().flat_map(|s| strings(&s["Action"])).collect();
    assert_eq!(actions, BTreeSet::from(["lambda:InvokeFunction".to_string(), "sqs:SendMessage".to_string()]));
    // A failed run: retried, then described on the same DLQ; alarms on both.
    let on_failure = &f["Properties"]["EventInvokeConfig"]["DestinationConfig"]["OnFailure"];
    assert_eq!(tagged(&on_failure["Destination"], "!GetAtt"), Some("NoticesDeadLetterQueue.Arn"));
    assert!(alarm_on(&t, "AWS/Lambda", "Errors", ("FunctionName", "!Ref", "NoticesFunction")).is_some(), "notices errors");
    assert!(alarm_on(&t, "AWS/SQS", "ApproximateNumberOfMessagesVisible", ("QueueName", "!GetAtt", "NoticesDeadLetterQueue.QueueName"))
        .is_some());
    assert_eq!(tagged(&f["Properties"]["LoggingConfig"]["LogGroup"], "!Ref"), Some("NoticesLogGroup"));
    // The DLQ takes only the notices roles' messages (the Scheduler's and Lambda's, with them).
    only_these_send(&t, "NoticesDeadLetterQueue", &["NoticesRole", "NoticesSchedulerRole"]);
}

#[test]
fn the_notices_role_writes_only_notice_partitions_and_sends_only_from_its_address() {
    let t = template();
    let derived = abev::store::keys::written_partitions();
    let (_, patterns) = derived.iter().find(|(f, _)| *f == "notices").expect("notices in keys.rs");
    assert_eq!(written_partitions(&t, "NoticesRole"), patterns.iter().cloned().collect::<BTreeSet<_>>());
    assert_eq!(patterns, &vec!["NOTICE#*".to_string()]);
    let statements = statements(&t, "NoticesRole");
    let ses: Vec<&&Value> = statements.iter().filter(|s| strings(&s["Action"]).iter().any(|a| a.starts_with("ses:"))).collect();
    assert_eq!(ses.len(), 1);
    assert_eq!(strings(&ses[0]["Action"]), vec!["ses:SendEmail".to_string()]);
    assert_eq!(tagged(&ses[0]["Condition"]["StringEquals"]["ses:FromAddress"], "!Ref"), Some("NoticesFromAddress"));
    assert!(serde_norway::to_string(&ses[0]["Resource"]).unwrap().contains(":identity/"), "one identity, not *");
    for s in &statements {
        assert_ne!(s["Resource"].as_str(), Some("*"), "no wildcard resource");
    }
    // The view writes the setting (PUT /v1/me/notices, the unsubscribe link), nothing of the sender's.
    let view = written_partitions(&t, "ViewRole");
    let e = abev::domain::Email::parse("bill@acme.example").unwrap();
    assert!(view.iter().any(|p| like(p, &abev::store::keys::notice_settings(&e).pk)));
    assert!(!view.iter().any(|p| like(p, &abev::store::keys::notice_lease(&e).pk)), "the view writes no claim or lease");
    assert!(!patterns.iter().any(|p| like(p, &abev::store::keys::notice_settings(&e).pk)), "the sender never turns notices on");
}
