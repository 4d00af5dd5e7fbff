//! The Care CLI (`abev-care`) against the real local stack: the HTTP API on a random port
//! and moto's Care queue.

use abev::access::RequestStatus;
use abev::domain::Role;
use abev::http::dto::AccessRequestView;
use abev_care::{Care, CareError, Cli, Parser, Token};
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
        let mut argv = vec!["abev-care", "--api", &app.base, "--queue-url", t.stack.care_queue()];
        argv.extend(args);
        let mut cli = Cli::try_parse_from(argv).unwrap();
        cli.token = Some(Token::new(token.clone()));
        cli
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

    // Without a token (and no login in an empty config directory) there is nothing to act with.
    let dir = temp_dir();
    let config = dir.join("config.toml");
    let cli = Cli::try_parse_from([
        "abev-care",
        "--config",
        config.to_str().unwrap(),
        "--api",
        &app.base,
        "--queue-url",
        t.stack.care_queue(),
        "list",
    ])
    .unwrap();
    if std::env::var("ABEV_TOKEN").is_err() {
        let err = abev_care::run_with(cli, &mut Vec::new(), &mut &b""[..]).await.unwrap_err();
        assert!(matches!(err, CareError::Auth(_)) && err.exit_code() == 3, "{err:?}");
    }
    // A token without the Care group cannot decide.
    let mut cli =
        Cli::try_parse_from(["abev-care", "--api", &app.base, "--queue-url", t.stack.care_queue(), "reject", id, "--reason", "x"]).unwrap();
    cli.token = Some(Token::new(app.token("mary@skynet.example")));
    match abev_care::run(cli, &mut Vec::new()).await {
        Err(e @ CareError::Api { status: 403 | 409, .. }) => assert!(e.exit_code() == 3 || e.exit_code() == 5),
        other => panic!("{other:?}"),
    }
    // The token from standard input.
    let cli =
        Cli::try_parse_from(["abev-care", "--api", &app.base, "--queue-url", t.stack.care_queue(), "--token-stdin", "-o", "csv", "list"])
            .unwrap();
    let mut out = Vec::new();
    let line = format!("{}\n", app.care_token(AGENT));
    abev_care::run_with(cli, &mut out, &mut line.as_bytes()).await.unwrap();
    assert!(String::from_utf8(out).unwrap().starts_with("request,status,site,"), "CSV with a header row");
    // Plain http to anything but this machine is refused before a token is sent.
    let mut cli = Cli::try_parse_from(["abev-care", "--api", "http://api.example", "list"]).unwrap();
    cli.token = Some(Token::new(token.clone()));
    let err = abev_care::run(cli, &mut Vec::new()).await.unwrap_err();
    assert!(matches!(err, CareError::Usage(ref m) if m.contains("https")), "{err:?}");
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
    let mut argv = vec!["abev-care", "--api", &app.base, "--queue-url", queue];
    argv.extend(args);
    let _ = t;
    let mut cli = Cli::try_parse_from(argv).unwrap();
    cli.token = Some(Token::new(app.care_token(AGENT)));
    cli
}

fn temp_dir() -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("abev-care-test-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
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

/// The API with the local host's sign-in in front (the OIDC stand-in of `make dev`), on a
/// port of its own.
async fn api_with_sign_in(app: &TestApp) -> String {
    let authorizer = abev_local::local_auth::LocalAuthorizer {
        secret: app.secret.clone(),
        issuer: abev_local::jwt::LOCAL_ISSUER.into(),
        audience: abev_local::jwt::LOCAL_AUDIENCE.into(),
    };
    let router = abev_local::server::app_with_page(app.state.clone(), authorizer, std::path::PathBuf::from("no-web-dir"));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move {
        let _ = axum::serve(listener, router).await;
    });
    base
}

/// Plays the browser: opens the authorize URL, submits the sign-in form as `email` (a Care
/// agent) and follows the redirect to the CLI's loopback listener.
fn browser(email: &'static str) -> impl FnOnce(&str) -> bool {
    move |url: &str| {
        let url = url.to_string();
        tokio::spawn(async move {
            let http = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
            let form_page = http.get(&url).send().await.unwrap();
            assert_eq!(form_page.status(), 200);
            let html = form_page.text().await.unwrap();
            assert!(html.contains(r#"id="signin-email""#), "{html}");
            let mut fields: Vec<(String, String)> = url::Url::parse(&url).unwrap().query_pairs().into_owned().collect();
            fields.push(("email".into(), email.into()));
            fields.push(("care".into(), "1".into()));
            let action = url.split('?').next().unwrap().to_string();
            let answer = http.post(&action).form(&fields).send().await.unwrap();
            assert_eq!(answer.status(), 303);
            let back = answer.headers()["location"].to_str().unwrap().to_string();
            assert!(back.starts_with("http://127.0.0.1:") && back.contains("/callback?code="), "{back}");
            // A forged answer first: refused, and the real one still accepted after it.
            let forged = back.replace("state=", "state=x");
            assert_eq!(http.get(&forged).send().await.unwrap().status(), 400);
            assert_eq!(http.get(&back).send().await.unwrap().status(), 200);
        });
        true
    }
}

#[tokio::test]
async fn login_through_the_browser_keeps_renews_and_logs_out() {
    let (t, app, _) = seeded().await;
    let base = api_with_sign_in(&app).await;
    let dir = temp_dir();
    let config = dir.join("config.toml");
    std::fs::write(
        &config,
        format!("[profiles.local]\napi = \"{base}\"\nissuer = \"{base}/local/oidc\"\nclient_id = \"abev-care\"\nqueue_url = \"{}\"\ncredential_store = \"file\"\n", t.stack.care_queue()),
    )
    .unwrap();
    let cli = |args: &[&str]| {
        let mut argv = vec!["abev-care", "--config", config.to_str().unwrap(), "--profile", "local"];
        argv.extend(args);
        Cli::try_parse_from(argv).unwrap()
    };
    if std::env::var("ABEV_TOKEN").is_ok() {
        return; // the environment's token would be used instead of the login
    }
    // Not signed in yet: status says so, exit code 3.
    let err = abev_care::run(cli(&["status"]), &mut Vec::new()).await.unwrap_err();
    assert_eq!(err.exit_code(), 3);

    let mut out = Vec::new();
    abev_care::run_opening(cli(&["login"]), &mut out, &mut &b""[..], browser(AGENT)).await.unwrap();
    let said = String::from_utf8(out).unwrap();
    assert!(said.contains(&format!("Signed in as {AGENT}")) && said.contains("0600"), "{said}");
    let file = dir.join("credentials").join("local.json");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(std::fs::metadata(&file).unwrap().permissions().mode() & 0o777, 0o600);
    }

    // The login acts: a Care listing through the API.
    let ted = ask(&app, "ted@data.example", "FARM-1").await;
    let mut out = Vec::new();
    abev_care::run(cli(&["-o", "json", "list"]), &mut out).await.unwrap();
    let listed: Vec<AccessRequestView> = serde_json::from_slice(&out).unwrap();
    assert_eq!(listed.iter().map(|r| r.request_id.as_str()).collect::<Vec<_>>(), [ted.request_id.as_str()]);

    // An expired ID token is renewed with the refresh token, and saved again.
    let mut saved: Value = serde_json::from_str(&std::fs::read_to_string(&file).unwrap()).unwrap();
    let old = saved["id_token"].as_str().unwrap().to_string();
    saved["expires_at"] = json!(0);
    std::fs::write(&file, saved.to_string()).unwrap();
    abev_care::run(cli(&["list"]), &mut Vec::new()).await.unwrap();
    let renewed: Value = serde_json::from_str(&std::fs::read_to_string(&file).unwrap()).unwrap();
    assert_ne!(renewed["id_token"].as_str().unwrap(), old, "a new ID token");
    assert!(renewed["expires_at"].as_i64().unwrap() > 0);

    let mut out = Vec::new();
    abev_care::run(cli(&["status"]), &mut out).await.unwrap();
    let status = String::from_utf8(out).unwrap();
    assert!(status.contains(AGENT) && status.contains("(Customer Care)") && status.contains("renewed automatically"), "{status}");

    // Logout revokes the refresh token at the provider: a stolen copy no longer renews.
    let refresh = renewed["refresh_token"].as_str().unwrap().to_string();
    let mut out = Vec::new();
    abev_care::run(cli(&["logout"]), &mut out).await.unwrap();
    assert!(String::from_utf8(out).unwrap().contains("revoked"));
    assert!(!file.exists());
    let after = reqwest::Client::new()
        .post(format!("{base}/local/oidc/token"))
        .form(&[("grant_type", "refresh_token"), ("refresh_token", refresh.as_str()), ("client_id", "abev-care")])
        .send()
        .await
        .unwrap();
    assert_eq!(after.status(), 400);
    assert_eq!(abev_care::run(cli(&["list"]), &mut Vec::new()).await.unwrap_err().exit_code(), 3);
    std::fs::remove_dir_all(dir).unwrap();
}

#[tokio::test]
async fn exit_codes_and_output_tell_outcomes_apart_through_the_api() {
    let (t, app, _) = seeded().await;
    let queue = t.stack.care_queue();
    // Not found: 4.
    let err = abev_care::run(cli(&t, &app, queue, &["show", &uuid::Uuid::new_v4().to_string()]), &mut Vec::new()).await.unwrap_err();
    assert_eq!(err.exit_code(), 4, "{err:?}");
    // Conflict: 5.
    let ted = ask(&app, "ted@data.example", "FARM-1").await;
    abev_care::run(cli(&t, &app, queue, &["approve", &ted.request_id]), &mut Vec::new()).await.unwrap();
    let err = abev_care::run(cli(&t, &app, queue, &["approve", &ted.request_id]), &mut Vec::new()).await.unwrap_err();
    assert_eq!(err.exit_code(), 5, "{err:?}");
    // A refused token: 3.
    let mut bad = cli(&t, &app, queue, &["list"]);
    bad.token = Some(Token::new("not-a-token"));
    assert_eq!(abev_care::run(bad, &mut Vec::new()).await.unwrap_err().exit_code(), 3);
    // A requester's name with terminal escapes is printed without them.
    let evil = "gary@globex.example";
    let r = ask(&app, evil, "ACME-1").await;
    let mut out = Vec::new();
    abev_care::run(cli(&t, &app, queue, &["reject", &r.request_id, "--reason", "no\u{1b}[2J thanks"]), &mut out).await.unwrap();
    let text = String::from_utf8(out).unwrap();
    assert!(!text.chars().any(|c| c.is_control() && c != '\n'), "{text:?}");
}
