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
    assert_eq!(shown.request.as_ref().unwrap().status, RequestStatus::Escalated);
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
    assert!(matches!(care.show(gary_id).await, Err(CareError::NotFound(_))));
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
    assert!(text.starts_with("1 escalation(s) waiting"), "{text}");
    assert!(
        text.contains(id)
            && text.contains("FARM-1 (Farm Foods)")
            && text.contains("ted@data.example")
            && text.contains("no_site_administrator"),
        "{text}"
    );

    let mut out = Vec::new();
    abev_care::run(run(vec!["show", id]), &mut out).await.unwrap();
    let text = String::from_utf8(out).unwrap();
    assert!(text.contains("status: escalated") && text.contains("user  fiona@farm.example"), "{text}");

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
