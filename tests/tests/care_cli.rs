//! The Care CLI (`abev-care`) against the real local stack: the HTTP API on a random port
//! and moto's Care queue.

use abev::access::RequestStatus;
use abev::domain::Role;
use abev::http::dto::AccessRequestView;
use abev_care::{Care, CareError, Cli, Parser};
use abev_client::CreatedRequest;
use abev_integration_tests::{worked_example, TestApp, TestStack};
use serde_json::{json, Value};

const AGENT: &str = "carla@care.example";

async fn seeded() -> (TestStack, TestApp, Care) {
    let t = TestStack::new().await;
    let (orders, _) = worked_example();
    t.ingest(&orders).await;
    let app = TestApp::spawn(&t).await;
    let care = Care::new(&app.base, &app.care_token(AGENT), t.sqs.clone(), t.stack.care_queue());
    (t, app, care)
}

async fn ask(app: &TestApp, email: &str, site: &str) -> AccessRequestView {
    match app.client(email).create_request(site, None).await.unwrap() {
        CreatedRequest::New(r) => r,
        other => panic!("not a new request: {other:?}"),
    }
}

fn ids(list: &[abev_care::Escalation]) -> Vec<String> {
    list.iter().map(|e| e.request_id.clone().unwrap_or_default()).collect()
}

#[tokio::test]
async fn care_lists_shows_approves_and_rejects_through_the_api() {
    let (t, app, care) = seeded().await;
    let ted = ask(&app, "ted@data.example", "FARM-1").await;
    let gary = ask(&app, "gary@globex.example", "ACME-1").await;
    let (ted_id, gary_id) = (ted.request_id.as_str(), gary.request_id.as_str());

    // Listing shows both, oldest first, exactly as queued, and hides nothing.
    let list = care.list().await.unwrap();
    assert_eq!(ids(&list), [ted_id, gary_id]);
    assert_eq!(
        list[0].message,
        json!({"schema": "abev.care-escalation.v1", "request_id": ted_id, "support_id": "FARM-1", "site_name": "Farm Foods",
               "requester_email": "ted@data.example", "kind": "join", "requested_role": "user",
               "created_at": ted.created_at, "reason": "no_site_administrator"})
    );
    assert_eq!(ids(&care.list().await.unwrap()), [ted_id, gary_id], "a listing leaves the messages visible");

    // Show: the request and the site's members.
    let shown = care.show(ted_id).await.unwrap();
    assert_eq!(shown.request.status, RequestStatus::Escalated);
    assert_eq!(shown.members.iter().map(|m| (m.email.as_str(), m.role)).collect::<Vec<_>>(), [("fiona@farm.example", Role::User)]);

    // Approve with another role; the message leaves the queue.
    let decided = care.approve(ted_id, Some(Role::Admin)).await.unwrap();
    assert_eq!((decided.request.status, decided.request.granted_role), (RequestStatus::Approved, Some(Role::Admin)));
    assert_eq!(decided.request.decided_by.as_ref().map(|e| e.as_str()), Some(AGENT));
    assert_eq!(decided.acknowledged, 1);
    assert_eq!(ids(&care.list().await.unwrap()), [gary_id]);
    assert_eq!(t.view("ted@data.example", 10).await["FARM-1"].keys().collect::<Vec<_>>(), ["S4"]);

    // Reject; a duplicate message of the same request is folded in the list and removed too.
    let duplicate = care.list().await.unwrap()[0].message.to_string();
    t.sqs.send_message().queue_url(t.stack.care_queue()).message_body(duplicate).send().await.unwrap();
    let list = care.list().await.unwrap();
    assert_eq!((ids(&list), list[0].copies), (vec![gary_id.to_string()], 2));
    let decided = care.reject(gary_id, "not an Acme employee").await.unwrap();
    assert_eq!((decided.request.status, decided.request.reason.as_deref()), (RequestStatus::Rejected, Some("not an Acme employee")));
    assert_eq!(decided.acknowledged, 2);
    assert!(care.list().await.unwrap().is_empty());

    // A second decision is refused by the API, and reported.
    match care.approve(gary_id, None).await {
        Err(CareError::Api { status: 409, .. }) => {}
        other => panic!("expected 409, got {other:?}"),
    }
    assert_eq!(care.show(gary_id).await.unwrap().request.status, RequestStatus::Rejected, "show reads the API, decided or not");
    assert!(matches!(care.show(&uuid::Uuid::new_v4().to_string()).await, Err(CareError::NotFound(_))));
}

#[tokio::test]
async fn the_command_line_runs_against_the_stack() {
    let (t, app, _) = seeded().await;
    let ted = ask(&app, "ted@data.example", "FARM-1").await;
    let id = ted.request_id.as_str();
    let token = app.care_token(AGENT);
    let run = |args: Vec<&str>| {
        let mut argv = vec!["abev-care", "--api", &app.base, "--token", &token, "--queue-url", t.stack.care_queue()];
        argv.extend(args);
        Cli::try_parse_from(argv).unwrap()
    };

    let mut out = Vec::new();
    abev_care::run(run(vec!["list"]), &mut out).await.unwrap();
    let text = String::from_utf8(out).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 2, "a header and one request: {text}");
    assert!(lines[0].starts_with("REQUEST") && lines[0].contains("REQUESTER"), "{text}");
    for cell in [id, "escalated", "FARM-1", "Farm Foods", "ted@data.example", "join -> user", "no_site_administrator"] {
        assert!(lines[1].contains(cell), "{cell}: {text}");
    }
    // Aligned: every column starts where its header does.
    for header in ["STATUS", "SITE", "REQUESTER"] {
        let at = lines[0].find(header).unwrap();
        assert_eq!(&lines[1][at - 2..at], "  ", "{header} column: {text}");
        assert_ne!(lines[1].as_bytes()[at], b' ', "{header}: its cell starts under it: {text}");
    }

    let mut out = Vec::new();
    abev_care::run(run(vec!["show", id]), &mut out).await.unwrap();
    let text = String::from_utf8(out).unwrap();
    assert!(text.contains("escalated") && text.contains("user  fiona@farm.example"), "{text}");

    let mut out = Vec::new();
    abev_care::run(run(vec!["--json", "approve", id]), &mut out).await.unwrap();
    let decided: Value = serde_json::from_slice(&out).unwrap();
    assert_eq!((decided["request"]["status"].as_str(), decided["acknowledged"].as_u64()), (Some("approved"), Some(1)));

    let mut out = Vec::new();
    abev_care::run(run(vec!["--json", "list"]), &mut out).await.unwrap();
    assert_eq!(serde_json::from_slice::<Value>(&out).unwrap(), json!([]));

    // Without a token there is nothing to act with.
    let cli = Cli::try_parse_from(["abev-care", "--api", &app.base, "--queue-url", t.stack.care_queue(), "list"]).unwrap();
    if std::env::var("ABEV_TOKEN").is_err() && std::env::var("ABEV_CARE_EMAIL").is_err() {
        assert!(matches!(abev_care::run(cli, &mut Vec::new()).await, Err(CareError::Usage(_))));
    }
    // A token without the Care group cannot decide.
    let mut argv = vec!["abev-care", "--api", &app.base, "--queue-url", t.stack.care_queue()];
    let plain = app.token("mary@skynet.example");
    argv.extend(["--token", &plain, "reject", id, "--reason", "x"]);
    match abev_care::run(Cli::try_parse_from(argv).unwrap(), &mut Vec::new()).await {
        Err(CareError::Api { status, .. }) => assert!(status == 403 || status == 409, "{status}"),
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn escalations_survive_listing_and_the_dead_letter_queue() {
    let (t, app, care) = seeded().await;
    let ted = ask(&app, "ted@data.example", "FARM-1").await;
    let id = ted.request_id.as_str();
    // Listing is a receive; the Care queue tolerates many (maxReceiveCount 1000).
    for _ in 0..12 {
        let list = care.list().await.unwrap();
        assert_eq!(ids(&list), [id]);
        assert!(!list[0].dead_lettered);
    }
    // Should a message reach the dead-letter queue anyway, the CLI still lists it and
    // acknowledges it there after the decision.
    let got = t.sqs.receive_message().queue_url(t.stack.care_queue()).send().await.unwrap().messages.unwrap_or_default();
    let message = &got[0];
    t.sqs.send_message().queue_url(t.stack.care_dlq()).message_body(message.body().unwrap()).send().await.unwrap();
    t.sqs.delete_message().queue_url(t.stack.care_queue()).receipt_handle(message.receipt_handle().unwrap()).send().await.unwrap();
    let list = care.list().await.unwrap();
    assert_eq!(ids(&list), [id]);
    assert!(list[0].dead_lettered, "listed from the dead-letter queue");
    let decided = care.approve(id, None).await.unwrap();
    assert_eq!(decided.acknowledged, 1);
    assert!(care.list().await.unwrap().is_empty());
    let left = t.sqs.receive_message().queue_url(t.stack.care_dlq()).send().await.unwrap().messages.unwrap_or_default();
    assert!(left.is_empty(), "acknowledged on the dead-letter queue too");
}

/// The command line as `abev-care` parses it, against this stack, with a Care token.
fn cli(t: &TestStack, app: &TestApp, queue: &str, args: &[&str]) -> Cli {
    let token = app.care_token(AGENT);
    let mut argv = vec!["abev-care", "--api", &app.base, "--token", &token, "--queue-url", queue];
    argv.extend(args);
    let _ = t;
    Cli::try_parse_from(argv).unwrap()
}

#[tokio::test]
async fn listing_reads_the_api_and_leaves_the_queue_untouched() {
    let (t, app, _) = seeded().await;
    let ted = ask(&app, "ted@data.example", "FARM-1").await;
    for _ in 0..3 {
        let mut out = Vec::new();
        abev_care::run(cli(&t, &app, t.stack.care_queue(), &["--json", "list"]), &mut out).await.unwrap();
        let listed: Vec<AccessRequestView> = serde_json::from_slice(&out).unwrap();
        assert_eq!(listed.iter().map(|r| r.request_id.as_str()).collect::<Vec<_>>(), [ted.request_id.as_str()]);
    }
    // The escalation message was never received by the listings.
    let got = t
        .sqs
        .receive_message()
        .queue_url(t.stack.care_queue())
        .message_system_attribute_names(aws_sdk_sqs::types::MessageSystemAttributeName::ApproximateReceiveCount)
        .send()
        .await
        .unwrap()
        .messages
        .unwrap_or_default();
    let count = got[0].attributes().and_then(|a| a.get(&aws_sdk_sqs::types::MessageSystemAttributeName::ApproximateReceiveCount)).cloned();
    assert_eq!(count.as_deref(), Some("1"), "this is the message's first receive");
}

#[tokio::test]
async fn a_decision_that_succeeded_exits_0_even_if_the_queue_copies_stay() {
    let (t, app, _) = seeded().await;
    let ted = ask(&app, "ted@data.example", "FARM-1").await;
    let missing = format!("{}-missing", t.stack.care_queue());
    let mut out = Vec::new();
    abev_care::run(cli(&t, &app, &missing, &["approve", &ted.request_id]), &mut out).await.expect("the decision succeeded");
    let text = String::from_utf8(out).unwrap();
    assert!(text.contains("approved") && text.contains("the decision stands") && text.contains("failed"), "{text}");
    assert_eq!(app.care_client(AGENT).access_request(&ted.request_id).await.unwrap().status, RequestStatus::Approved);
}

#[tokio::test]
async fn granting_admin_asks_first_unless_yes() {
    let (t, app, _) = seeded().await;
    let ted = ask(&app, "ted@data.example", "FARM-1").await;
    let id = ted.request_id.as_str();
    let queue = t.stack.care_queue();
    let mut out = Vec::new();
    let refused = abev_care::run_with(cli(&t, &app, queue, &["approve", id, "--role", "admin"]), &mut out, &mut &b"n\n"[..]).await;
    assert!(matches!(refused, Err(CareError::NotConfirmed)), "{refused:?}");
    assert!(String::from_utf8(out).unwrap().contains("Make ted@data.example an administrator of FARM-1"));
    assert_eq!(app.care_client(AGENT).access_request(id).await.unwrap().status, RequestStatus::Escalated, "nothing was done");
    let mut out = Vec::new();
    abev_care::run_with(cli(&t, &app, queue, &["approve", id, "--role", "admin"]), &mut out, &mut &b"y\n"[..]).await.unwrap();
    let decided = app.care_client(AGENT).access_request(id).await.unwrap();
    assert_eq!((decided.status, decided.granted_role), (RequestStatus::Approved, Some(Role::Admin)));
    // --yes asks nothing (an empty input would refuse).
    let gary = ask(&app, "gary@globex.example", "ACME-1").await;
    abev_care::run_with(cli(&t, &app, queue, &["approve", &gary.request_id, "--role", "admin", "--yes"]), &mut Vec::new(), &mut &b""[..])
        .await
        .unwrap();
}

#[tokio::test]
async fn rollout_enable_status_disable_from_the_command_line() {
    let (t, app, _) = seeded().await;
    let queue = t.stack.care_queue();
    let mut out = Vec::new();
    abev_care::run(cli(&t, &app, queue, &["rollout", "enable", "acme-1", "FARM-1"]), &mut out).await.unwrap();
    let text = String::from_utf8(out).unwrap();
    assert!(text.starts_with("SITE") && text.contains("ACME-1") && text.contains("FARM-1") && text.contains("changed"), "{text}");
    let mut out = Vec::new();
    abev_care::run(cli(&t, &app, queue, &["--json", "rollout", "status"]), &mut out).await.unwrap();
    let status: Value = serde_json::from_slice(&out).unwrap();
    assert_eq!(status["mode"], "everyone");
    let sites: Vec<&str> = status["sites"].as_array().unwrap().iter().map(|s| s["support_id"].as_str().unwrap()).collect();
    assert_eq!(sites, ["ACME-1", "FARM-1"]);
    abev_care::run(cli(&t, &app, queue, &["rollout", "disable", "FARM-1"]), &mut Vec::new()).await.unwrap();
    let (_, enabled) = app.care_client(AGENT).rollout().await.unwrap();
    assert_eq!(enabled.iter().map(|s| s.support_id.as_str()).collect::<Vec<_>>(), ["ACME-1"]);
    // --all is the stack's mode, and the command says so instead of pretending.
    assert!(matches!(
        abev_care::run(cli(&t, &app, queue, &["rollout", "enable", "--all"]), &mut Vec::new()).await,
        Err(CareError::Usage(_))
    ));
}
