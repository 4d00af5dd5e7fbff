//! Access that runs itself (issue 21 parts 2-4), black-box: orders arrive through SQS, people
//! act through HTTP, Care's notices are read from its SQS queue. Domain rules (a verified
//! e-mail at a site's own domain is approved at once, audited as decided by the rule) and
//! invitations (an address invited with a role becomes a member on its next signed-in call,
//! within 14 days; an invitation to admin counts only once accepted).

use abev::access::invitation_rules::Accepted;
use abev::access::{self, Actor};
use abev::domain::{Email, Role, SupportId};
use abev::store::metrics::measured;
use abev_client::PageRequest;
use abev_integration_tests::access_fixtures::{call, make_admin, seeded, CARE};
use abev_integration_tests::{TestApp, TestStack};
use reqwest::Method;
use serde_json::{json, Value};

/// A token whose `email_verified` claim is absent (an issuer that does not say).
fn unverified_token(app: &TestApp, email: &str) -> String {
    let mut claims = serde_json::Map::new();
    claims.insert("sub".into(), email.into());
    claims.insert("email".into(), email.into());
    abev_local::jwt::mint(&app.secret, claims)
}

async fn ask(app: &TestApp, token: &str, site: &str) -> (u16, Value) {
    call(app, Method::POST, token, "/v1/access-requests", json!({"support_id": site})).await
}

async fn my_sites(app: &TestApp, token: &str) -> Vec<(String, String)> {
    let (status, body) = call(app, Method::GET, token, "/v1/sites?limit=500", json!(null)).await;
    assert_eq!(status, 200, "{body}");
    body["sites"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| (s["support_id"].as_str().unwrap().into(), s["role"].as_str().unwrap().into()))
        .collect()
}

/// (action, actor, subject) of a site's history, oldest first.
async fn history(app: &TestApp, site: &str) -> Vec<(String, String, String)> {
    let mut entries = app.care_client(CARE).history_page(site, &PageRequest::limit(500)).await.unwrap().entries;
    entries.reverse();
    entries.into_iter().map(|e| (e.action, e.actor, e.subject.map(|s| s.to_string()).unwrap_or_default())).collect()
}

async fn care_bodies(t: &TestStack) -> Vec<Value> {
    t.receive_all(t.stack.care_queue()).await.iter().map(|m| serde_json::from_str(m.body().unwrap()).unwrap()).collect()
}

async fn admin_count(app: &TestApp, site: &str) -> i64 {
    let (status, body) = call(app, Method::GET, &app.care_token(CARE), &format!("/v1/sites/{site}/members"), json!(null)).await;
    assert_eq!(status, 200, "{body}");
    body["site"]["admin_count"].as_i64().unwrap()
}

// ---- domain rules ---------------------------------------------------------------------------

#[tokio::test]
async fn a_verified_address_at_the_sites_domain_is_approved_at_once_and_audited_as_decided_by_the_rule() {
    let (t, app) = seeded().await;
    make_admin(&app, "bill@acme.example", "ACME-1").await;
    let _ = care_bodies(&t).await;
    let bill = app.token("bill@acme.example");
    let rules = "/v1/sites/ACME-1/domain-rules";

    // Never a public mail provider, never admin, never by a stranger.
    for (body, want) in [
        (json!({"domain": "gmail.com"}), 400),
        (json!({"domain": "@Outlook.com"}), 400),
        (json!({"domain": "not a domain"}), 400),
        (json!({"domain": "acme.example", "role": "admin"}), 400),
    ] {
        assert_eq!(call(&app, Method::POST, &bill, rules, body.clone()).await.0, want, "{body}");
    }
    let (status, _) = call(&app, Method::POST, &app.token("zed@acme.example"), rules, json!({"domain": "acme.example"})).await;
    assert_eq!(status, 404, "a non-admin is told the site does not exist");

    let (status, rule) = call(&app, Method::POST, &bill, rules, json!({"domain": "@ACME.example"})).await;
    assert_eq!((status, rule["domain"].as_str(), rule["role"].as_str()), (201, Some("acme.example"), Some("user")), "{rule}");
    let (status, again) = call(&app, Method::POST, &bill, rules, json!({"domain": "acme.example"})).await;
    assert_eq!((status, &again), (200, &rule), "the same rule again is the one there");
    let (status, listed) = call(&app, Method::GET, &bill, rules, json!(null)).await;
    assert_eq!((status, listed["rules"].as_array().map(Vec::len)), (200, Some(1)), "{listed}");

    // zed@acme.example (verified) joins: approved at once, a member, sees ACME-1.
    let (status, approved) = ask(&app, &app.token("Zed@Acme.Example"), "ACME-1").await;
    assert_eq!(status, 201, "{approved}");
    assert_eq!((approved["status"].as_str(), approved["decided_by"].as_str()), (Some("approved"), None), "{approved}");
    assert_eq!(approved["reason"], "decided by rule @acme.example");
    assert_eq!(my_sites(&app, &app.token("zed@acme.example")).await, [("ACME-1".to_string(), "user".to_string())]);
    assert!(t.view("zed@acme.example", 100).await.contains_key("ACME-1"));
    let trail = history(&app, "ACME-1").await;
    assert!(trail.contains(&("approved_by_rule".into(), "rule:acme.example".into(), "zed@acme.example".into())), "{trail:?}");
    assert!(trail.contains(&("domain_rule_added".into(), "bill@acme.example".into(), String::new())), "{trail:?}");
    assert!(care_bodies(&t).await.is_empty(), "ACME-1 has an admin: the admins are told by the history, not Care");
    assert!(app.client("bill@acme.example").all_approvals().await.unwrap().is_empty(), "nothing left for bill to decide");

    // Not the rule's: a subdomain, an unverified token, a role change — routed to a person.
    let (_, sub) = ask(&app, &app.token("yan@eu.acme.example"), "ACME-1").await;
    assert_eq!(sub["status"], "pending_admin", "{sub}");
    let (_, unverified) = ask(&app, &unverified_token(&app, "una@acme.example"), "ACME-1").await;
    assert_eq!(unverified["status"], "pending_admin", "{unverified}");
    let (_, promote) =
        call(&app, Method::POST, &app.token("zed@acme.example"), "/v1/access-requests", json!({"support_id": "ACME-1", "role": "admin"}))
            .await;
    assert_eq!(promote["status"], "pending_admin", "{promote}");
    // una's request is open: asking again verified returns it (one open request per contact and site).
    let (status, same) = ask(&app, &app.token("una@acme.example"), "ACME-1").await;
    assert_eq!((status, same["request_id"].as_str()), (200, unverified["request_id"].as_str()));

    // Care sees and removes the rule; the next verified newcomer waits for a person.
    let care = app.care_token(CARE);
    let (status, listed) = call(&app, Method::GET, &care, rules, json!(null)).await;
    assert_eq!((status, listed["rules"][0]["domain"].as_str()), (200, Some("acme.example")));
    let (status, removed) = call(&app, Method::DELETE, &care, &format!("{rules}/ACME.example"), json!(null)).await;
    assert_eq!((status, removed["domain"].as_str()), (200, Some("acme.example")));
    assert_eq!(call(&app, Method::DELETE, &care, &format!("{rules}/acme.example"), json!(null)).await.0, 404);
    let (_, later) = ask(&app, &app.token("vic@acme.example"), "ACME-1").await;
    assert_eq!(later["status"], "pending_admin", "{later}");
    assert_eq!(my_sites(&app, &app.token("zed@acme.example")).await.len(), 1, "what the rule approved stays approved");
    assert!(history(&app, "ACME-1").await.iter().any(|(a, actor, _)| a == "domain_rule_removed" && actor == CARE));
}

#[tokio::test]
async fn a_rule_at_a_site_without_admins_has_care_told_through_its_queue() {
    let (t, app) = seeded().await;
    // FARM-1 has no admin: Care sets the rule, and is told of each approval it makes.
    let (status, _) =
        call(&app, Method::POST, &app.care_token(CARE), "/v1/sites/FARM-1/domain-rules", json!({"domain": "farm.example"})).await;
    assert_eq!(status, 201);
    let (status, approved) = ask(&app, &app.token("gus@farm.example"), "FARM-1").await;
    assert_eq!((status, approved["status"].as_str()), (201, Some("approved")), "{approved}");
    let notices = care_bodies(&t).await;
    assert_eq!(notices.len(), 1, "{notices:?}");
    assert_eq!((notices[0]["schema"].as_str(), notices[0]["kind"].as_str()), (Some("abev.care-notice.v1"), Some("domain_rule")));
    assert_eq!((notices[0]["email"].as_str(), notices[0]["domain"].as_str()), (Some("gus@farm.example"), Some("farm.example")));
    assert_eq!(notices[0]["request_id"], approved["request_id"]);
    assert_eq!(t.view("gus@farm.example", 100).await.keys().cloned().collect::<Vec<_>>(), ["FARM-1"]);
    // A rejection's cool-down holds against the rule too: Care rejected hal before the rule could.
    let (_, hal) = ask(&app, &unverified_token(&app, "hal@farm.example"), "FARM-1").await;
    let path = format!("/v1/access-requests/{}/reject", hal["request_id"].as_str().unwrap());
    assert_eq!(call(&app, Method::POST, &app.care_token(CARE), &path, json!({"reason": "not staff"})).await.0, 200);
    assert_eq!(ask(&app, &app.token("hal@farm.example"), "FARM-1").await.0, 429);
}

#[tokio::test]
async fn a_request_a_rule_decides_reads_in_one_round_and_commits_in_one_transaction() {
    let (_t, app) = seeded().await;
    let wf = app.state.workflow();
    let site = SupportId::parse("FARM-1").unwrap();
    let care = Actor { email: Email::parse(CARE).unwrap(), care: true };
    access::domains::add_rule(&wf, &care, &site, "farm.example", Role::User, access::now()).await.unwrap();
    let gus = Actor { email: Email::parse("gus@farm.example").unwrap(), care: false };
    let (made, cost) = measured(access::create_request_as(&wf, &gus, true, &site, Role::User, access::now())).await;
    let access::Created::New(r) = made.unwrap() else { panic!("new") };
    assert_eq!(r.status, access::RequestStatus::Approved);
    // Round 1: site, membership, open marker, limits (2), the rule — in parallel; round 2: the
    // transaction; round 3 (FARM-1 has no admin): the sent notice's outbox item deleted.
    assert_eq!((cost.ddb_calls, cost.sequential_rounds), (8, 3), "{cost:?}");
    let (rules, cost) = measured(access::domains::list_rules(&wf, &care, &site)).await;
    assert_eq!(rules.unwrap().len(), 1);
    assert_eq!(cost.sequential_rounds, 1, "{cost:?}");
}

// ---- invitations --------------------------------------------------------------------------

#[tokio::test]
async fn an_invitee_signed_in_with_the_verified_address_becomes_a_member_and_an_admin_invitation_counts_only_then() {
    let (t, app) = seeded().await;
    let care = app.care_token(CARE);
    let invitations = "/v1/sites/FARM-1/invitations";
    assert_eq!(call(&app, Method::POST, &app.token("fiona@farm.example"), invitations, json!({"email": "ivy@farm.example"})).await.0, 404);
    assert_eq!(call(&app, Method::POST, &care, invitations, json!({"email": "fiona@farm.example"})).await.0, 409, "already a member");
    assert_eq!(call(&app, Method::POST, &care, invitations, json!({"email": "not-an-address"})).await.0, 400);
    let (status, invited) = call(&app, Method::POST, &care, invitations, json!({"email": "Ivy@Farm.example", "role": "admin"})).await;
    assert_eq!(status, 201, "{invited}");
    assert_eq!(
        (invited["email"].as_str(), invited["role"].as_str(), invited["expired"].as_bool()),
        (Some("ivy@farm.example"), Some("admin"), Some(false))
    );
    let (status, listed) = call(&app, Method::GET, &care, invitations, json!(null)).await;
    assert_eq!((status, listed["invitations"].as_array().map(Vec::len)), (200, Some(1)), "{listed}");

    // Not accepted yet: FARM-1 has no admin, so a newcomer's request still goes to Care.
    assert_eq!(admin_count(&app, "FARM-1").await, 0);
    let (_, ted) = ask(&app, &app.token("ted@data.example"), "FARM-1").await;
    assert_eq!(ted["status"], "escalated", "{ted}");
    // An unverified token for the address accepts nothing.
    assert!(my_sites(&app, &unverified_token(&app, "ivy@farm.example")).await.is_empty());

    // ivy signs in (verified) and calls: an admin of FARM-1 now, counted as one.
    assert_eq!(my_sites(&app, &app.token("ivy@farm.example")).await, [("FARM-1".to_string(), "admin".to_string())]);
    assert_eq!(admin_count(&app, "FARM-1").await, 1);
    assert!(t.view("ivy@farm.example", 100).await.contains_key("FARM-1"));
    let (_, listed) = call(&app, Method::GET, &care, invitations, json!(null)).await;
    assert_eq!(listed["invitations"], json!([]), "used up");
    let trail = history(&app, "FARM-1").await;
    assert!(trail.contains(&("invited".into(), CARE.into(), "ivy@farm.example".into())), "{trail:?}");
    assert!(trail.contains(&("invitation_accepted".into(), "ivy@farm.example".into(), "ivy@farm.example".into())), "{trail:?}");
    // Calling again changes nothing; ivy may now decide: a newcomer waits for her, not Care.
    assert_eq!(my_sites(&app, &app.token("ivy@farm.example")).await.len(), 1);
    assert_eq!(admin_count(&app, "FARM-1").await, 1);
    let _ = care_bodies(&t).await;
    let (_, una) = ask(&app, &app.token("una@data.example"), "FARM-1").await;
    assert_eq!(una["status"], "pending_admin", "{una}");

    // An admin invites a user, who gets it with the end date the invitation carried.
    let ends = (time::OffsetDateTime::now_utc() + time::Duration::days(30)).format(&time::format_description::well_known::Rfc3339).unwrap();
    let ivy = app.token("ivy@farm.example");
    let (status, _) = call(&app, Method::POST, &ivy, invitations, json!({"email": "jo@contractor.example", "ends_at": ends})).await;
    assert_eq!(status, 201);
    assert_eq!(my_sites(&app, &app.token("jo@contractor.example")).await, [("FARM-1".to_string(), "user".to_string())]);
    let members = app.care_client(CARE).all_members("FARM-1").await.unwrap();
    assert!(members.iter().any(|m| m.email.as_str() == "jo@contractor.example" && m.ends_at.is_some()), "{members:?}");
}

#[tokio::test]
async fn an_invitation_can_be_withdrawn_and_grants_nothing_after_fourteen_days() {
    let (_t, app) = seeded().await;
    let care = app.care_token(CARE);
    let invitations = "/v1/sites/GLOBEX-1/invitations";
    assert_eq!(call(&app, Method::POST, &care, invitations, json!({"email": "kim@globex.example"})).await.0, 201);
    let (status, withdrawn) = call(&app, Method::DELETE, &care, &format!("{invitations}/KIM@globex.example"), json!(null)).await;
    assert_eq!((status, withdrawn["email"].as_str()), (200, Some("kim@globex.example")));
    assert_eq!(call(&app, Method::DELETE, &care, &format!("{invitations}/kim@globex.example"), json!(null)).await.0, 404);
    assert!(my_sites(&app, &app.token("kim@globex.example")).await.is_empty(), "a withdrawn invitation grants nothing");

    // Invited again; the invitee's next call comes 15 days later: expired, dropped, nothing granted.
    assert_eq!(call(&app, Method::POST, &care, invitations, json!({"email": "kim@globex.example"})).await.0, 201);
    let (status, _) = call(&app, Method::POST, &care, invitations, json!({"email": "kim@globex.example"})).await;
    assert_eq!(status, 200, "inviting again renews");
    let wf = app.state.workflow();
    let kim = Email::parse("kim@globex.example").unwrap();
    let pending = wf.store.invitations_for(&kim).await.unwrap();
    assert_eq!(pending.len(), 1);
    let late = access::now() + time::Duration::days(15);
    let done = access::invitations::accept_all(&wf, &kim, &pending, late).await.unwrap();
    assert_eq!(done, [Accepted::Expired { site: SupportId::parse("GLOBEX-1").unwrap() }]);
    assert!(my_sites(&app, &app.token("kim@globex.example")).await.is_empty());
    assert!(wf.store.invitations_for(&kim).await.unwrap().is_empty(), "dropped from the invitee's partition");
    let (_, listed) = call(&app, Method::GET, &care, invitations, json!(null)).await;
    assert_eq!(listed["invitations"], json!([]), "and from the site's list");
    let trail = history(&app, "GLOBEX-1").await;
    let actions: Vec<&str> = trail.iter().map(|(a, _, _)| a.as_str()).collect();
    assert_eq!(actions, ["invited", "invitation_withdrawn", "invited", "invited", "invitation_expired"], "{trail:?}");
}

#[tokio::test]
async fn the_sites_page_reads_its_invitations_in_the_same_round() {
    let (_t, app) = seeded().await;
    let router = abev::http::access::router(app.state.clone());
    let event = |email: &str| {
        json!({
            "version": "2.0", "routeKey": "GET /v1/sites", "rawPath": "/v1/sites", "rawQueryString": "",
            "headers": {"authorization": "Bearer eyJ...", "host": "api.example"},
            "requestContext": {
                "accountId": "123456789012", "apiId": "api", "domainName": "api.example", "domainPrefix": "api",
                "requestId": "req-1", "routeKey": "GET /v1/sites", "stage": "$default",
                "time": "28/Nov/2026:12:00:00 +0000", "timeEpoch": 1795867200000_i64,
                "http": {"method": "GET", "path": "/v1/sites", "protocol": "HTTP/1.1", "sourceIp": "203.0.113.9", "userAgent": "curl"},
                "authorizer": {"jwt": {"claims": {"email": email, "email_verified": "true", "sub": email}, "scopes": null}}
            },
            "isBase64Encoded": false
        })
    };
    let invoke = |payload: Value| {
        abev::http::access::handle_event(&app.state, router.clone(), lambda_http::LambdaEvent::new(payload, Default::default()))
    };
    let (response, plain) = measured(invoke(event("fiona@farm.example"))).await;
    assert_eq!(response.unwrap()["statusCode"], 200);
    // Without the invitation read the page is the same number of rounds.
    let care = Actor { email: Email::parse(CARE).unwrap(), care: true };
    let site = SupportId::parse("GLOBEX-1").unwrap();
    access::invitations::invite(
        &app.state.workflow(),
        &care,
        &site,
        &Email::parse("fiona@farm.example").unwrap(),
        Role::User,
        None,
        access::now(),
    )
    .await
    .unwrap();
    let (response, accepting) = measured(invoke(event("fiona@farm.example"))).await;
    let response = response.unwrap();
    let body: Value = serde_json::from_str(response["body"].as_str().unwrap()).unwrap();
    assert_eq!(body["sites"].as_array().map(Vec::len), Some(2), "{body}");
    let (_, after) = measured(invoke(event("fiona@farm.example"))).await;
    assert_eq!(after.sequential_rounds, plain.sequential_rounds, "no extra round once nothing waits: {plain:?} {after:?}");
    assert!(accepting.sequential_rounds > plain.sequential_rounds, "{accepting:?}");
    eprintln!("plain {plain:?} accepting {accepting:?}");
}

// ---- access reviews -------------------------------------------------------------------------

#[tokio::test]
async fn members_nobody_confirms_by_the_review_deadline_lose_access_a_week_later_and_a_lost_last_admin_goes_to_care() {
    let (t, app) = seeded().await;
    make_admin(&app, "bill@acme.example", "ACME-1").await;
    let _ = care_bodies(&t).await;
    let bill = app.token("bill@acme.example");
    // Off by default; a review has nothing to confirm in.
    let (status, review) = call(&app, Method::GET, &bill, "/v1/sites/ACME-1/review", json!(null)).await;
    assert_eq!((status, review["every_days"].clone(), review["due_at"].clone()), (200, Value::Null, Value::Null), "{review}");
    let confirm = |who: &'static str| {
        let bill = bill.clone();
        let app = &app;
        async move { call(app, Method::POST, &bill, &format!("/v1/sites/ACME-1/review/{who}"), json!({"action": "confirm"})).await }
    };
    assert_eq!(confirm("alice@acme.example").await.0, 409, "no review under way");
    assert_eq!(call(&app, Method::GET, &app.token("alice@acme.example"), "/v1/sites/ACME-1/review", json!(null)).await.0, 404);
    assert_eq!(call(&app, Method::PUT, &bill, "/v1/sites/ACME-1/review-schedule", json!({"every_days": 0})).await.0, 400);
    let (status, schedule) = call(&app, Method::PUT, &bill, "/v1/sites/ACME-1/review-schedule", json!({"every_days": 30})).await;
    assert_eq!((status, schedule["every_days"].as_i64()), (200, Some(30)), "{schedule}");

    // bill confirms alice; nobody confirms himself; he confirms... nobody else.
    let (status, confirmed) = confirm("alice@acme.example").await;
    assert_eq!((status, confirmed["outcome"].as_str()), (200, Some("confirmed")), "{confirmed}");
    assert_eq!(confirm("nobody@acme.example").await.0, 404);
    let (_, review) = call(&app, Method::GET, &bill, "/v1/sites/ACME-1/review", json!(null)).await;
    let state: Vec<(String, bool)> = review["members"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| (m["email"].as_str().unwrap().to_string(), m["confirmed_by"].as_str() == Some("bill@acme.example")))
        .collect();
    assert_eq!(state, [("bill@acme.example".to_string(), false), ("alice@acme.example".to_string(), true)], "admins first");

    // The deadline passes (the sweep's clock 31 days on): bill and ... everyone unconfirmed gets an end a week later.
    let wf = app.state.workflow();
    access::sweep(&wf, access::now() + time::Duration::days(31)).await.unwrap();
    let members = app.care_client(CARE).all_members("ACME-1").await.unwrap();
    let ends: Vec<(String, bool)> = members.iter().map(|m| (m.email.to_string(), m.ends_at.is_some())).collect();
    assert_eq!(
        ends,
        [("bill@acme.example".to_string(), true), ("alice@acme.example".to_string(), false)],
        "the notice: an end, not yet a loss"
    );
    assert!(history(&app, "ACME-1").await.contains(&("review_lapsed".into(), "system".into(), "bill@acme.example".into())));
    assert!(t.view("bill@acme.example", 100).await.contains_key("ACME-1"), "still sees it during the week's notice");
    let (_, review) = call(&app, Method::GET, &app.care_token(CARE), "/v1/sites/ACME-1/review", json!(null)).await;
    assert!(review["due_at"].as_str() > schedule["due_at"].as_str(), "the next round started: {review}");

    // A week later still unconfirmed: the expiry sweep removes bill, the last admin — Care takes over.
    let (_, ted) = ask(&app, &app.token("ted@data.example"), "ACME-1").await;
    assert_eq!(ted["status"], "pending_admin");
    access::sweep(&wf, access::now() + time::Duration::days(39)).await.unwrap();
    let members = app.care_client(CARE).all_members("ACME-1").await.unwrap();
    assert_eq!(members.iter().map(|m| m.email.to_string()).collect::<Vec<_>>(), ["alice@acme.example"]);
    assert_eq!(admin_count(&app, "ACME-1").await, 0);
    let escalations = care_bodies(&t).await;
    assert!(escalations.iter().any(|m| m["request_id"] == ted["request_id"] && m["reason"] == "no_site_administrator"), "{escalations:?}");
}

#[tokio::test]
async fn confirming_during_the_notice_week_keeps_the_member_and_remove_removes_at_once() {
    let (_t, app) = seeded().await;
    let care = app.care_token(CARE);
    let (status, _) = call(&app, Method::PUT, &care, "/v1/sites/ACME-1/review-schedule", json!({"every_days": 10})).await;
    assert_eq!(status, 200);
    let wf = app.state.workflow();
    access::sweep(&wf, access::now() + time::Duration::days(11)).await.unwrap();
    let members = app.care_client(CARE).all_members("ACME-1").await.unwrap();
    assert!(members.iter().all(|m| m.ends_at.is_some()), "{members:?}");
    // Care confirms bill in the notice week (the new round): the review's end goes.
    let (status, _) = call(&app, Method::POST, &care, "/v1/sites/ACME-1/review/bill@acme.example", json!({"action": "confirm"})).await;
    assert_eq!(status, 200);
    let (status, removed) =
        call(&app, Method::POST, &care, "/v1/sites/ACME-1/review/alice@acme.example", json!({"action": "remove"})).await;
    assert_eq!((status, removed["outcome"].as_str()), (200, Some("removed")));
    assert_eq!(call(&app, Method::POST, &care, "/v1/sites/ACME-1/review/bill@acme.example", json!({"action": "maybe"})).await.0, 400);
    let members = app.care_client(CARE).all_members("ACME-1").await.unwrap();
    assert_eq!(
        members.iter().map(|m| (m.email.to_string(), m.ends_at.is_some())).collect::<Vec<_>>(),
        [("bill@acme.example".to_string(), false)]
    );
    // Turning reviews off: no round, nothing due.
    let (_, off) = call(&app, Method::PUT, &care, "/v1/sites/ACME-1/review-schedule", json!({"every_days": null})).await;
    assert_eq!((off["every_days"].clone(), off["due_at"].clone()), (Value::Null, Value::Null));
    let (review, cost) = measured(access::reviews::review_page(
        &wf,
        &Actor { email: Email::parse(CARE).unwrap(), care: true },
        &SupportId::parse("ACME-1").unwrap(),
    ))
    .await;
    assert_eq!(review.unwrap().members.len(), 1);
    assert_eq!(cost.sequential_rounds, 1, "the review page is one round: {cost:?}");
}

// ---- the Care CLI ---------------------------------------------------------------------------

#[tokio::test]
async fn care_manages_rules_invitations_and_reviews_with_abev_care() {
    use abev_care::{Cli, Parser, Token};
    let (t, app) = seeded().await;
    let token = app.care_token(CARE);
    let run = |args: Vec<&str>| {
        let mut argv = vec!["abev-care", "--api", &app.base, "--queue-url", t.stack.care_queue()];
        argv.extend(args);
        let mut cli = Cli::try_parse_from(argv).unwrap();
        cli.token = Some(Token::new(token.clone()));
        cli
    };
    let out = |args: Vec<&str>| {
        let cli = run(args);
        async move {
            let mut out = Vec::new();
            abev_care::run(cli, &mut out).await.map(|_| String::from_utf8(out).unwrap())
        }
    };
    let added = out(vec!["rules", "add", "FARM-1", "farm.example"]).await.unwrap();
    assert!(added.contains("FARM-1") && added.contains("farm.example") && added.contains(CARE), "{added}");
    let refused = out(vec!["rules", "add", "FARM-1", "gmail.com"]).await.unwrap_err();
    assert_eq!(refused.exit_code(), 1, "{refused}");
    let listed: Value = serde_json::from_str(&out(vec!["--json", "rules", "list", "FARM-1"]).await.unwrap()).unwrap();
    assert_eq!(listed["rules"][0]["domain"], "farm.example");
    assert!(out(vec!["rules", "remove", "FARM-1", "farm.example"]).await.unwrap().contains("removed the rule for farm.example"));
    assert_eq!(out(vec!["rules", "remove", "FARM-1", "farm.example"]).await.unwrap_err().exit_code(), 4);

    let invited = out(vec!["invite", "FARM-1", "ivy@farm.example", "--role", "admin"]).await.unwrap();
    assert!(invited.contains("ivy@farm.example") && invited.contains("admin") && invited.contains("waiting"), "{invited}");
    assert!(out(vec!["invite", "FARM-1", "--list"]).await.unwrap().contains("ivy@farm.example"));
    assert!(out(vec!["invite", "FARM-1", "ivy@farm.example", "--withdraw"])
        .await
        .unwrap()
        .contains("withdrew the invitation of ivy@farm.example"));
    assert!(!out(vec!["invite", "FARM-1", "--list"]).await.unwrap().contains("ivy@farm.example"));

    let set = out(vec!["review", "FARM-1", "--every", "90"]).await.unwrap();
    assert!(set.contains("review every 90 days"), "{set}");
    let confirmed = out(vec!["review", "FARM-1", "fiona@farm.example", "--confirm"]).await.unwrap();
    assert!(confirmed.contains("fiona@farm.example confirmed"), "{confirmed}");
    let shown = out(vec!["review", "FARM-1"]).await.unwrap();
    assert!(shown.contains("fiona@farm.example") && shown.contains(CARE), "{shown}");
    assert!(out(vec!["review", "FARM-1", "--off"]).await.unwrap().contains("review every - days"));
    assert_eq!(out(vec!["review", "FARM-1", "fiona@farm.example"]).await.unwrap_err().exit_code(), 2);
}
