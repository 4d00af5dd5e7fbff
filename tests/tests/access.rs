//! The access function (spec §5) through the real router with real tokens, against
//! DynamoDB Local and moto's SQS: routing, decisions, escalations, the Care queue, the
//! SLA sweep and the audit trail.

use abev::access::{self, Actor, CareMessage, Created, EscalationReason, RequestKind, RequestStatus};
use abev::domain::{Email, Role, SupportId};
use abev::http::dto::{AccessRequestView, HistoryItem};
use abev_client::{ApiClient, ClientError, CreatedRequest, PageRequest};
use abev_integration_tests::access_fixtures::{seeded, CARE};
use abev_integration_tests::{worked_example, TestApp, TestStack};
use reqwest::Method;
use serde_json::{json, Value};
use std::collections::BTreeMap;
use time::Duration;

/// A raw JSON POST (for bodies the typed client would never send); problems are checked.
async fn post(app: &TestApp, token: &str, path: &str, body: Value) -> (u16, Value) {
    let (status, content_type, body) = app.send_json(Method::POST, token, path, body).await;
    if status >= 400 {
        assert_eq!(content_type, "application/problem+json", "{status} {body}");
        assert_eq!(body["status"], status, "{body}");
    }
    (status, body)
}

/// The API as the holder of `token`.
fn api(app: &TestApp, token: &str) -> ApiClient {
    ApiClient::new(&app.base, token)
}

/// The status of a typed answer: 200 for a success, the problem's status otherwise.
fn code<T>(answer: &Result<T, ClientError>) -> u16 {
    match answer {
        Ok(_) => 200,
        Err(e) => e.status().unwrap_or_else(|| panic!("not a problem answer: {e}")),
    }
}

fn email(raw: &str) -> Email {
    Email::parse(raw).unwrap()
}

/// `email` asks for `role` at `site`: (201 new | 200 the open one | the problem's status, the request).
async fn request(app: &TestApp, email: &str, site: &str, role: Option<Role>) -> (u16, Result<AccessRequestView, ClientError>) {
    match app.client(email).create_request(site, role).await {
        Ok(CreatedRequest::New(r)) => (201, Ok(r)),
        Ok(CreatedRequest::Existing(r)) => (200, Ok(r)),
        Err(e) => {
            let status = e.status().unwrap_or_else(|| panic!("not a problem answer: {e}"));
            (status, Err(e))
        }
    }
}

/// `email` asks for `role` at `site`, which must create a new request.
async fn ask(app: &TestApp, email: &str, site: &str, role: Option<Role>) -> AccessRequestView {
    match request(app, email, site, role).await {
        (201, Ok(r)) => r,
        other => panic!("{email} asking for {site}: {other:?}"),
    }
}

async fn approve(app: &TestApp, token: &str, id: &str, role: Option<Role>) -> Result<AccessRequestView, ClientError> {
    api(app, token).approve(id, role).await
}

async fn reject(app: &TestApp, token: &str, id: &str, reason: &str) -> Result<AccessRequestView, ClientError> {
    api(app, token).reject(id, reason).await
}

async fn remove(app: &TestApp, token: &str, site: &str, member: &str) -> Result<(), ClientError> {
    api(app, token).remove_member(site, member).await
}

/// Makes `email` an admin of `site` the way a newcomer would: ask, Care approves.
async fn make_admin(app: &TestApp, email: &str, site: &str) {
    let r = ask(app, email, site, Some(Role::Admin)).await;
    assert_eq!(r.status, RequestStatus::Escalated, "{r:?}");
    approve(app, &app.care_token(CARE), &r.request_id, None).await.unwrap();
}

/// Every message on the Care queue (received once, then left hidden).
async fn care_messages(t: &TestStack) -> Vec<CareMessage> {
    t.receive_all(t.stack.care_queue()).await.iter().map(|m| serde_json::from_str(m.body().unwrap()).expect("a care message")).collect()
}

async fn member_roles(app: &TestApp, site: &str) -> BTreeMap<String, Role> {
    let members = app.care_client(CARE).all_members(site).await.unwrap();
    members.into_iter().map(|m| (m.email.to_string(), m.role)).collect()
}

async fn history_actions(app: &TestApp, site: &str) -> Vec<HistoryItem> {
    let mut entries = app.care_client(CARE).history_page(site, &PageRequest::limit(500)).await.unwrap().entries;
    entries.reverse(); // oldest first
    entries
}

async fn my_requests(app: &TestApp, email: &str) -> Vec<AccessRequestView> {
    app.client(email).my_requests_page(&PageRequest::limit(500)).await.unwrap().requests
}

async fn fetch(app: &TestApp, email: &str, id: &str) -> AccessRequestView {
    my_requests(app, email).await.into_iter().find(|r| r.request_id == id).expect("the requester lists their request")
}

async fn approval_ids(app: &TestApp, token: &str) -> Vec<String> {
    api(app, token).all_approvals().await.unwrap().into_iter().map(|r| r.request_id).collect()
}

#[tokio::test]
async fn story_ted_asks_for_farm_care_approves_and_ted_sees_s4() {
    let (t, app) = seeded().await;
    assert!(!t.view("ted@data.example", 10).await.contains_key("FARM-1"));

    let r = ask(&app, "Ted@Data.example", "farm-1", None).await;
    let id = r.request_id.clone();
    assert_eq!(
        r,
        AccessRequestView {
            request_id: id.clone(),
            support_id: SupportId::parse("FARM-1").unwrap(),
            // Ted is no member of FARM-1: his request names the site as he did, not by its name.
            site_name: "FARM-1".into(),
            requester_email: email("ted@data.example"),
            kind: RequestKind::Join,
            requested_role: Role::User,
            status: RequestStatus::Escalated,
            created_at: r.created_at.clone(),
            decided_by: None,
            decided_at: None,
            reason: None,
            granted_role: None,
            escalated_at: Some(r.created_at.clone()),
            escalation_reason: Some(EscalationReason::NoSiteAdministrator),
        }
    );
    // The wire shape once, field by field: nulls are present, not omitted.
    let (_, raw) = post(&app, &app.token("ted@data.example"), "/v1/access-requests", json!({"support_id": "FARM-1"})).await;
    assert_eq!(raw, serde_json::to_value(&r).unwrap());

    // Exactly one message, exactly the §5 shape.
    let messages = care_messages(&t).await;
    assert_eq!(
        messages.iter().map(|m| serde_json::to_value(m).unwrap()).collect::<Vec<_>>(),
        vec![json!({"schema": "abev.care-escalation.v1", "request_id": id, "support_id": "FARM-1", "site_name": "Farm Foods",
                    "requester_email": "ted@data.example", "kind": "join", "requested_role": "user",
                    "created_at": r.created_at, "reason": "no_site_administrator"})]
    );

    // Care's work list has it; only Care may decide it.
    let care = app.care_token(CARE);
    assert_eq!(approval_ids(&app, &care).await, [id.as_str()]);
    assert_eq!(code(&approve(&app, &app.token("fiona@farm.example"), &id, None).await), 403);
    assert_eq!(code(&approve(&app, &app.token("ted@data.example"), &id, None).await), 403);

    let decided = approve(&app, &care, &id, None).await.unwrap();
    assert_eq!(decided.status, RequestStatus::Approved);
    assert_eq!(decided.decided_by, Some(email(CARE)));
    assert_eq!(decided.granted_role, Some(Role::User));
    assert!(decided.decided_at.is_some());
    assert_eq!(fetch(&app, "ted@data.example", &id).await.status, RequestStatus::Approved);

    let ted = t.view("ted@data.example", 10).await;
    assert_eq!(ted["FARM-1"].keys().collect::<Vec<_>>(), ["S4"]);
    assert_eq!(ted["FARM-1"]["S4"], ["member"]);
    assert_eq!(ted["ACME-1"].keys().collect::<Vec<_>>(), ["S1", "S2", "S3"], "ted keeps his ship-to view");

    let sites = app.client("ted@data.example").sites_page(&PageRequest::default()).await.unwrap().sites;
    assert_eq!(
        sites.iter().map(|s| (s.support_id.as_str(), s.name.as_str(), s.role)).collect::<Vec<_>>(),
        [("FARM-1", "Farm Foods", Role::User)]
    );
    assert!(approval_ids(&app, &care).await.is_empty());

    // The audit trail: request, escalation, approval.
    let history = history_actions(&app, "FARM-1").await;
    let actions: Vec<(&str, &str)> = history.iter().map(|e| (e.action.as_str(), e.actor.as_str())).collect();
    assert_eq!(actions, [("request_created", "ted@data.example"), ("escalated_to_care", "system"), ("approved", CARE)]);
    assert_eq!(history[1].reason.as_deref(), Some("no_site_administrator"));
    assert_eq!(history[2].subject, Some(email("ted@data.example")));
    assert_eq!(history[2].role, Some(Role::User));
    assert!(history.iter().all(|e| e.request_id.as_deref() == Some(id.as_str()) && !e.at.is_empty()));
}

#[tokio::test]
async fn a_site_with_an_admin_routes_to_its_admins_who_decide() {
    let (t, app) = seeded().await;
    make_admin(&app, "fiona@farm.example", "FARM-1").await;
    assert_eq!(member_roles(&app, "FARM-1").await, BTreeMap::from([("fiona@farm.example".into(), Role::Admin)]));
    care_messages(&t).await; // fiona's own escalation

    let r = ask(&app, "ted@data.example", "FARM-1", None).await;
    assert_eq!(r.status, RequestStatus::PendingAdmin);
    assert_eq!(r.escalation_reason, None);
    assert!(care_messages(&t).await.is_empty(), "a routed request does not bother Care");
    let id = r.request_id.as_str();

    let fiona = app.token("fiona@farm.example");
    assert_eq!(approval_ids(&app, &fiona).await, [id]);
    assert!(approval_ids(&app, &app.care_token(CARE)).await.is_empty(), "Care's list holds escalations only");

    let decided = approve(&app, &fiona, id, None).await.unwrap();
    assert_eq!(decided.decided_by, Some(email("fiona@farm.example")));
    assert_eq!(t.view("ted@data.example", 10).await["FARM-1"].keys().collect::<Vec<_>>(), ["S4"]);
    assert!(approval_ids(&app, &fiona).await.is_empty());

    // A rejection keeps its reason, in the request and in the history.
    let r2 = ask(&app, "gary@globex.example", "FARM-1", None).await;
    assert_eq!(r2.status, RequestStatus::PendingAdmin);
    let rejected = reject(&app, &fiona, &r2.request_id, "  not our company ").await.unwrap();
    assert_eq!(rejected.status, RequestStatus::Rejected);
    assert_eq!(rejected.reason.as_deref(), Some("not our company"));
    assert!(!member_roles(&app, "FARM-1").await.contains_key("gary@globex.example"));
    let history = history_actions(&app, "FARM-1").await;
    let last = history.last().unwrap();
    assert_eq!(
        (last.action.as_str(), last.actor.as_str(), last.reason.as_deref()),
        ("rejected", "fiona@farm.example", Some("not our company"))
    );
    assert!(history.iter().any(|e| e.action == "routed_to_site_admins" && e.request_id.as_ref() == Some(&r2.request_id)));
}

#[tokio::test]
async fn only_the_right_people_decide_and_only_once() {
    let (_t, app) = seeded().await;
    make_admin(&app, "fiona@farm.example", "FARM-1").await;
    make_admin(&app, "mary@skynet.example", "SKY-1").await;
    // oscar becomes a plain member of FARM-1.
    let r = ask(&app, "oscar@other.example", "FARM-1", None).await;
    let fiona = app.token("fiona@farm.example");
    assert_eq!(code(&approve(&app, &fiona, &r.request_id, None).await), 200);

    let r = ask(&app, "ted@data.example", "FARM-1", None).await;
    let id = r.request_id.as_str();
    assert_eq!(code(&approve(&app, &app.token("mary@skynet.example"), id, None).await), 403, "an admin of another site");
    assert_eq!(code(&reject(&app, &app.token("oscar@other.example"), id, "no").await), 403, "a plain member");
    assert_eq!(code(&approve(&app, &app.token("bill@acme.example"), id, None).await), 403, "a stranger");
    assert_eq!(code(&approve(&app, &fiona, id, Some(Role::Admin)).await), 403, "only Care grants another role");
    assert_eq!(code(&reject(&app, &fiona, id, "   ").await), 400, "a rejection needs a reason");
    assert_eq!(code(&approve(&app, &fiona, "not-a-request", None).await), 404);
    assert_eq!(code(&approve(&app, &fiona, &uuid::Uuid::new_v4().to_string(), None).await), 404);

    // Nobody decides their own request, Care staff included.
    let care = app.care_token(CARE);
    let own = ask(&app, CARE, "GLOBEX-1", None).await;
    assert_eq!(own.status, RequestStatus::Escalated);
    let refused = approve(&app, &care, &own.request_id, None).await.unwrap_err();
    assert_eq!(refused.status(), Some(403), "{refused}");
    assert!(refused.problem().unwrap().detail.contains("own request"));
    let care_list = api(&app, &care).all_approvals().await.unwrap();
    assert!(care_list.iter().all(|r| r.requester_email.as_str() != CARE), "nobody is offered their own request");

    // Decided once.
    assert_eq!(code(&approve(&app, &fiona, id, None).await), 200);
    assert_eq!(code(&reject(&app, &fiona, id, "changed my mind").await), 409);
    assert_eq!(code(&approve(&app, &care, id, Some(Role::Admin)).await), 409);
    assert_eq!(member_roles(&app, "FARM-1").await["ted@data.example"], Role::User);
    let approvals =
        history_actions(&app, "FARM-1").await.into_iter().filter(|e| e.request_id.as_deref() == Some(id) && e.action == "approved").count();
    assert_eq!(approvals, 1);
}

#[tokio::test]
async fn an_admin_who_lost_the_role_cannot_decide() {
    let (_t, app) = seeded().await;
    make_admin(&app, "fiona@farm.example", "FARM-1").await;
    let r = ask(&app, "oscar@other.example", "FARM-1", Some(Role::Admin)).await;
    assert_eq!(r.status, RequestStatus::PendingAdmin);
    assert_eq!(code(&approve(&app, &app.token("fiona@farm.example"), &r.request_id, None).await), 200);
    let r = ask(&app, "ted@data.example", "FARM-1", None).await;
    let id = r.request_id.as_str();
    // fiona removes oscar, then oscar tries to decide.
    remove(&app, &app.token("fiona@farm.example"), "FARM-1", "oscar@other.example").await.unwrap();
    assert_eq!(code(&approve(&app, &app.token("oscar@other.example"), id, None).await), 403);
    assert_eq!(fetch(&app, "ted@data.example", id).await.status, RequestStatus::PendingAdmin);
}

#[tokio::test]
async fn concurrent_approvals_of_one_request_have_exactly_one_winner() {
    let (t, app) = seeded().await;
    make_admin(&app, "fiona@farm.example", "FARM-1").await;
    // Two more admins, so three admins and several Care agents race.
    let care = app.care_token(CARE);
    for who in ["gary@globex.example", "alice@acme.example"] {
        let r = ask(&app, who, "FARM-1", Some(Role::Admin)).await;
        assert_eq!(r.status, RequestStatus::PendingAdmin);
        assert_eq!(code(&approve(&app, &care, &r.request_id, None).await), 200);
    }
    let id = ask(&app, "ted@data.example", "FARM-1", None).await.request_id;
    let tokens: Vec<String> = ["fiona@farm.example", "gary@globex.example", "alice@acme.example"]
        .iter()
        .map(|e| app.token(e))
        .chain((0..5).map(|i| app.care_token(&format!("agent{i}@care.example"))))
        .collect();
    let results = futures::future::join_all(tokens.iter().enumerate().map(|(i, token)| {
        let app = &app;
        let id = &id;
        async move {
            if i % 2 == 0 {
                approve(app, token, id, None).await
            } else {
                reject(app, token, id, "race").await
            }
        }
    }))
    .await;
    let statuses: Vec<u16> = results.iter().map(code).collect();
    assert_eq!(statuses.iter().filter(|s| **s == 200).count(), 1, "{results:?}");
    assert!(statuses.iter().all(|s| [200, 409, 403].contains(s)), "{results:?}");
    let winner = results.iter().find_map(|r| r.as_ref().ok()).unwrap();
    let stored = fetch(&app, "ted@data.example", &id).await;
    // Rejected, ted (no member) sees the Support ID where the decider sees the site's name.
    let seen_name = if winner.status == RequestStatus::Approved { winner.site_name.clone() } else { "FARM-1".to_string() };
    assert_eq!(stored, AccessRequestView { site_name: seen_name, ..winner.clone() });
    let decisions = history_actions(&app, "FARM-1")
        .await
        .into_iter()
        .filter(|e| e.request_id.as_ref() == Some(&id) && (e.action == "approved" || e.action == "rejected"))
        .count();
    assert_eq!(decisions, 1);
    assert_eq!(member_roles(&app, "FARM-1").await.contains_key("ted@data.example"), winner.status == RequestStatus::Approved);
    drop(t);
}

#[tokio::test]
async fn repeated_and_concurrent_requests_give_one_open_request() {
    let (t, app) = seeded().await;
    let (s1, r1) = request(&app, "ted@data.example", "FARM-1", None).await;
    let (s2, r2) = request(&app, "ted@data.example", "farm-1", Some(Role::Admin)).await;
    assert_eq!((s1, s2), (201, 200));
    let (r1, r2) = (r1.unwrap(), r2.unwrap());
    assert_eq!(r1, r2, "the open one comes back, not a copy");

    let results = futures::future::join_all((0..6).map(|_| request(&app, "gary@globex.example", "ACME-1", None))).await;
    let created = results.iter().filter(|(s, _)| *s == 201).count();
    assert_eq!(created, 1, "{results:?}");
    let first = results[0].1.as_ref().unwrap().request_id.clone();
    assert!(results.iter().all(|(s, r)| [200, 201].contains(s) && r.as_ref().unwrap().request_id == first), "{results:?}");
    assert_eq!(my_requests(&app, "gary@globex.example").await.len(), 1);
    assert_eq!(care_messages(&t).await.len(), 2, "one escalation each for ted and gary");

    // After the decision, a new request is a new one.
    let care = app.care_token(CARE);
    assert_eq!(code(&approve(&app, &care, &r1.request_id, None).await), 200);
    let r3 = ask(&app, "ted@data.example", "FARM-1", Some(Role::Admin)).await;
    assert_ne!(r3.request_id, r1.request_id);
    let states: Vec<RequestStatus> = my_requests(&app, "ted@data.example").await.iter().map(|r| r.status).collect();
    assert_eq!(states, [RequestStatus::Escalated, RequestStatus::Approved], "newest first");
}

/// POSTs a request as `email`; (status, Retry-After).
async fn ask_raw(app: &TestApp, email: &str, site: &str) -> (u16, Option<String>) {
    let body = json!({ "support_id": site }).to_string();
    let answer = app.client(email).raw(Method::POST, "/v1/access-requests", &[], Some(&body)).await.unwrap();
    if answer.status == 429 {
        assert_eq!(answer.content_type, "application/problem+json", "{}", answer.body);
    }
    (answer.status, answer.headers.get("retry-after").cloned())
}

#[tokio::test]
async fn open_requests_and_re_asking_after_a_rejection_are_limited_with_429() {
    let t = TestStack::new().await;
    let (orders, _) = worked_example();
    t.ingest(&orders).await;
    let limits = access::Limits { max_open_requests: 2, ..access::Limits::default() };
    let app = TestApp::spawn_with(&t, abev::http::Settings { limits, ..Default::default() }).await;
    assert_eq!(ask_raw(&app, "ted@data.example", "FARM-1").await.0, 201);
    assert_eq!(ask_raw(&app, "ted@data.example", "ACME-1").await.0, 201);
    assert_eq!(ask_raw(&app, "ted@data.example", "GLOBEX-1").await, (429, Some("3600".to_string())), "a third open request");
    // The open one is still answered (200); past the limit an unknown site is 429 like a
    // known one, so the limit is no oracle for which Support IDs exist.
    assert_eq!(ask_raw(&app, "ted@data.example", "farm-1").await.0, 200);
    assert_eq!(ask_raw(&app, "ted@data.example", "NOPE-1").await.0, 429);

    // A rejection frees the slot but holds ted off FARM-1 for a day.
    let farm = my_requests(&app, "ted@data.example").await.into_iter().find(|r| r.support_id.as_str() == "FARM-1").unwrap();
    assert_eq!(code(&reject(&app, &app.care_token(CARE), &farm.request_id, "no").await), 200);
    let (status, retry_after) = ask_raw(&app, "ted@data.example", "FARM-1").await;
    let secs: u64 = retry_after.expect("Retry-After").parse().unwrap();
    assert_eq!(status, 429);
    assert!((86_000..=86_400).contains(&secs), "{secs}");
    assert_eq!(ask_raw(&app, "ted@data.example", "GLOBEX-1").await.0, 201, "the rejected request's slot is free again");

    // Concurrent requests never pass the limit: the counter is conditional in each transaction.
    let sites = ["ACME-1", "DATA-1", "FARM-1", "SKY-1", "OTHER-1"];
    let results = futures::future::join_all(sites.iter().map(|s| ask_raw(&app, "gary@globex.example", s))).await;
    let created = results.iter().filter(|(s, _)| *s == 201).count();
    assert_eq!(created, 2, "{results:?}");
    assert!(results.iter().all(|(s, _)| [201, 429].contains(s)), "{results:?}");
    assert_eq!(my_requests(&app, "gary@globex.example").await.len(), 2);
}

#[tokio::test]
async fn role_change_requests_and_care_granting_another_role() {
    let (t, app) = seeded().await;
    // fiona is a user of FARM-1: asking for user again is 409; asking for admin is a role change.
    let (status, body) = request(&app, "fiona@farm.example", "FARM-1", Some(Role::User)).await;
    assert_eq!(status, 409, "{body:?}");
    let r = ask(&app, "fiona@farm.example", "FARM-1", Some(Role::Admin)).await;
    assert_eq!((r.kind, r.requested_role, r.status), (RequestKind::RoleChange, Role::Admin, RequestStatus::Escalated));
    let messages = care_messages(&t).await;
    assert_eq!((messages[0].kind, messages[0].requested_role), (RequestKind::RoleChange, Role::Admin));
    assert_eq!(code(&approve(&app, &app.care_token(CARE), &r.request_id, None).await), 200);
    assert_eq!(member_roles(&app, "FARM-1").await["fiona@farm.example"], Role::Admin);
    let sites = app.client("fiona@farm.example").sites_page(&PageRequest::default()).await.unwrap().sites;
    assert_eq!(sites[0].role, Role::Admin);
    assert_eq!(request(&app, "fiona@farm.example", "FARM-1", Some(Role::Admin)).await.0, 409);

    // Care makes the first member of an admin-less site its admin, whatever was asked.
    let r = ask(&app, "ted@data.example", "GLOBEX-1", None).await;
    assert_eq!(r.status, RequestStatus::Escalated);
    let d = approve(&app, &app.care_token(CARE), &r.request_id, Some(Role::Admin)).await.unwrap();
    assert_eq!((d.requested_role, d.granted_role), (Role::User, Some(Role::Admin)));
    assert_eq!(member_roles(&app, "GLOBEX-1").await["ted@data.example"], Role::Admin);
    // GLOBEX-1 now has an admin: gary's request goes to ted.
    let r = ask(&app, "gary@globex.example", "GLOBEX-1", Some(Role::Admin)).await;
    assert_eq!(r.status, RequestStatus::PendingAdmin);
    // An approve body may be JSON null.
    let (status, _) =
        post(&app, &app.token("ted@data.example"), &format!("/v1/access-requests/{}/approve", r.request_id), Value::Null).await;
    assert_eq!(status, 200);
    assert_eq!(member_roles(&app, "GLOBEX-1").await["gary@globex.example"], Role::Admin);
}

#[tokio::test]
async fn losing_the_last_admin_escalates_pending_requests_to_care() {
    let (t, app) = seeded().await;
    make_admin(&app, "fiona@farm.example", "FARM-1").await;
    make_admin(&app, "mary@skynet.example", "SKY-1").await;
    let _ = care_messages(&t).await;
    let farm = ask(&app, "ted@data.example", "FARM-1", None).await;
    let sky = ask(&app, "ted@data.example", "SKY-1", None).await;
    assert_eq!((farm.status, sky.status), (RequestStatus::PendingAdmin, RequestStatus::PendingAdmin));
    let care = app.care_token(CARE);

    // Removal: Care removes FARM-1's only admin.
    remove(&app, &care, "FARM-1", "fiona@farm.example").await.unwrap();
    let after = fetch(&app, "ted@data.example", &farm.request_id).await;
    assert_eq!((after.status, after.escalation_reason), (RequestStatus::Escalated, Some(EscalationReason::NoSiteAdministrator)));
    let messages = care_messages(&t).await;
    assert_eq!(messages.len(), 1, "{messages:?}");
    assert_eq!(messages[0].request_id.as_str(), farm.request_id);
    assert_eq!(messages[0].reason, EscalationReason::NoSiteAdministrator);
    assert_eq!(messages[0].created_at.as_str(), farm.created_at);
    assert!(!member_roles(&app, "FARM-1").await.contains_key("fiona@farm.example"));
    assert!(t.view("fiona@farm.example", 10).await.is_empty(), "a removed member loses the site");
    let actions: Vec<String> = history_actions(&app, "FARM-1").await.into_iter().map(|e| e.action).collect();
    assert!(actions.ends_with(&["member_removed".into(), "last_admin_lost".into(), "escalated_to_care".into()]), "{actions:?}");

    // Demotion: SKY-1's only admin asks to become a user; Care approves.
    let demote = ask(&app, "mary@skynet.example", "SKY-1", Some(Role::User)).await;
    assert_eq!(demote.status, RequestStatus::Escalated, "no other admin can decide it");
    assert_eq!(code(&approve(&app, &care, &demote.request_id, None).await), 200);
    let after = fetch(&app, "ted@data.example", &sky.request_id).await;
    assert_eq!((after.status, after.escalation_reason), (RequestStatus::Escalated, Some(EscalationReason::NoSiteAdministrator)));
    let reasons: Vec<(String, EscalationReason)> =
        care_messages(&t).await.into_iter().map(|m| (m.request_id.to_string(), m.reason)).collect();
    assert!(reasons.contains(&(sky.request_id.clone(), EscalationReason::NoSiteAdministrator)), "{reasons:?}");
    // Admins can no longer decide it; Care can.
    assert_eq!(code(&approve(&app, &care, &sky.request_id, None).await), 200);
}

#[tokio::test]
async fn the_sla_sweep_escalates_what_admins_left_waiting() {
    let (t, app) = seeded().await;
    make_admin(&app, "fiona@farm.example", "FARM-1").await;
    let _ = care_messages(&t).await;
    let waiting = ask(&app, "ted@data.example", "FARM-1", None).await;
    assert_eq!(waiting.status, RequestStatus::PendingAdmin);
    let decided = ask(&app, "gary@globex.example", "FARM-1", None).await;
    assert_eq!(code(&approve(&app, &app.token("fiona@farm.example"), &decided.request_id, None).await), 200);

    let now = access::now();
    assert_eq!(access::sweep(&app.state.workflow(), now).await.unwrap(), 0);
    assert_eq!(access::sweep(&app.state.workflow(), now + Duration::days(13)).await.unwrap(), 0, "within the SLA");
    assert!(care_messages(&t).await.is_empty());
    assert_eq!(access::sweep(&app.state.workflow(), now + Duration::days(14) + Duration::minutes(1)).await.unwrap(), 1);
    let after = fetch(&app, "ted@data.example", &waiting.request_id).await;
    assert_eq!((after.status, after.escalation_reason), (RequestStatus::Escalated, Some(EscalationReason::AdminSlaExpired)));
    let messages = care_messages(&t).await;
    assert_eq!(messages.len(), 1);
    assert_eq!(messages[0].request_id.as_str(), waiting.request_id);
    assert_eq!(messages[0].reason, EscalationReason::AdminSlaExpired);
    assert_eq!(messages[0].kind, RequestKind::Join);
    assert_eq!(access::sweep(&app.state.workflow(), now + Duration::days(15)).await.unwrap(), 0, "escalated once");
    assert!(care_messages(&t).await.is_empty());
    // Now only Care decides it.
    assert_eq!(code(&approve(&app, &app.token("fiona@farm.example"), &waiting.request_id, None).await), 403);
    let history = history_actions(&app, "FARM-1").await;
    let escalation =
        history.iter().find(|e| e.action == "escalated_to_care" && e.request_id.as_ref() == Some(&waiting.request_id)).unwrap();
    assert_eq!(escalation.reason.as_deref(), Some("admin_sla_expired"));
}

#[tokio::test]
async fn an_escalation_whose_send_failed_is_sent_by_the_sweep() {
    let t = TestStack::new().await;
    let (orders, _) = worked_example();
    t.ingest(&orders).await;
    let app = TestApp::spawn(&t).await;
    // The same table, no reachable queue: the send fails after the commit.
    let mut broken = app.state.clone();
    broken.care = Some(abev::http::CareQueue { sqs: t.sqs.clone(), url: format!("{}-missing", t.stack.care_queue()) });
    let ted = Actor { email: Email::parse("ted@data.example").unwrap(), care: false };
    let now = access::now();
    let Created::New(r) =
        access::create_request(&broken.workflow(), &ted, &SupportId::parse("FARM-1").unwrap(), Role::User, now).await.unwrap()
    else {
        panic!("new")
    };
    assert_eq!(r.status, access::RequestStatus::Escalated);
    assert!(care_messages(&t).await.is_empty());
    // Too fresh for the sweep (its request may still be sending it) ...
    assert_eq!(access::sweep(&app.state.workflow(), now).await.unwrap(), 0);
    assert!(care_messages(&t).await.is_empty());
    // ... then re-sent, once.
    access::sweep(&app.state.workflow(), now + Duration::minutes(2)).await.unwrap();
    let messages = care_messages(&t).await;
    assert_eq!(messages.len(), 1);
    assert_eq!(messages[0].request_id, r.request_id);
    access::sweep(&app.state.workflow(), now + Duration::minutes(3)).await.unwrap();
    assert!(care_messages(&t).await.is_empty(), "the outbox item is gone once sent");
}

#[tokio::test]
async fn bad_input_is_a_problem_not_a_change() {
    let (t, app) = seeded().await;
    let ted = app.token("ted@data.example");
    for body in [
        json!({"support_id": "FARM-1", "status": "approved"}),
        json!({"support_id": "FARM-1", "approver": "ted@data.example"}),
        json!({"support_id": "FARM-1", "role": "owner"}),
        json!({"role": "user"}),
        json!({"support_id": "FARM 1"}),
        json!("FARM-1"),
    ] {
        let (status, problem) = post(&app, &ted, "/v1/access-requests", body.clone()).await;
        assert_eq!(status, 400, "{body} → {problem}");
    }
    let response = app
        .http
        .post(format!("{}/v1/access-requests", app.base))
        .bearer_auth(&ted)
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .unwrap();
    let (status, content_type, _) = TestApp::read(response).await;
    assert_eq!((status, content_type.as_str()), (400, "application/problem+json"));
    let response = app
        .http
        .post(format!("{}/v1/access-requests", app.base))
        .bearer_auth(&ted)
        .body(r#"{"support_id":"FARM-1"}"#)
        .send()
        .await
        .unwrap();
    let (status, content_type, _) = TestApp::read(response).await;
    assert_eq!((status, content_type.as_str()), (400, "application/problem+json"), "a body that is not declared JSON");
    assert_eq!(request(&app, "ted@data.example", "NOPE-1", None).await.0, 404);
    assert!(care_messages(&t).await.is_empty());
    assert!(my_requests(&app, "ted@data.example").await.is_empty(), "nothing was created");

    let r = ask(&app, "ted@data.example", "FARM-1", None).await;
    let id = r.request_id.as_str();
    let care = app.care_token(CARE);
    let approve_path = format!("/v1/access-requests/{id}/approve");
    assert_eq!(post(&app, &care, &approve_path, json!({"role": "admin", "status": "rejected"})).await.0, 400);
    assert_eq!(post(&app, &care, &approve_path, json!({"approver": CARE})).await.0, 400);
    assert_eq!(post(&app, &care, &format!("/v1/access-requests/{id}/reject"), json!({})).await.0, 400);
    assert_eq!(post(&app, &care, &format!("/v1/access-requests/{id}/reject"), json!({"reason": "x", "decided_by": "y"})).await.0, 400);
    assert_eq!(fetch(&app, "ted@data.example", id).await.status, RequestStatus::Escalated);
    // An approve without any body is fine.
    let response = app.http.post(format!("{}/v1/access-requests/{id}/approve", app.base)).bearer_auth(&care).send().await.unwrap();
    assert_eq!(response.status().as_u16(), 200);

    // Unauthenticated is 401 problem+json.
    let response = app.http.get(format!("{}/v1/sites", app.base)).send().await.unwrap();
    let (status, content_type, _) = TestApp::read(response).await;
    assert_eq!((status, content_type.as_str()), (401, "application/problem+json"));
}

#[tokio::test]
async fn members_and_history_are_for_admins_and_care_and_lists_page() {
    let (_t, app) = seeded().await;
    make_admin(&app, "bill@acme.example", "ACME-1").await;
    // ACME-1: bill (admin), alice (user).
    let alice = app.client("alice@acme.example");
    let first = PageRequest::default();
    assert_eq!(code(&alice.members_page("ACME-1", &first).await), 404);
    assert_eq!(code(&alice.history_page("ACME-1", &first).await), 404);
    assert_eq!(code(&app.client("mary@skynet.example").members_page("ACME-1", &first).await), 404);
    assert_eq!(code(&app.care_client(CARE).members_page("NOPE-1", &first).await), 404);
    let bill = app.client("bill@acme.example");
    let page = bill.members_page("acme-1", &first).await.unwrap();
    assert_eq!((page.site.support_id.as_str(), page.site.admin_count), ("ACME-1", 1));
    let members: Vec<(&str, Role)> = page.members.iter().map(|m| (m.email.as_str(), m.role)).collect();
    assert_eq!(members, [("bill@acme.example", Role::Admin), ("alice@acme.example", Role::User)], "admins first");

    // Paged one at a time, with signed cursors bound to the list.
    let mut seen = Vec::new();
    let mut page_request = PageRequest::limit(1);
    loop {
        let page = bill.members_page("ACME-1", &page_request).await.unwrap();
        seen.extend(page.members.into_iter().map(|m| m.email.to_string()));
        match page.next_cursor {
            Some(c) => {
                let foreign = PageRequest { limit: None, cursor: Some(c.clone()) };
                assert_eq!(code(&bill.history_page("ACME-1", &foreign).await), 400, "a cursor of another list");
                page_request.cursor = Some(c);
            }
            None => break,
        }
    }
    assert_eq!(seen, ["bill@acme.example", "alice@acme.example"]);
    assert_eq!(code(&bill.members_page("ACME-1", &PageRequest::limit(0)).await), 400);
    let forged = PageRequest { limit: None, cursor: Some("forged".into()) };
    assert_eq!(code(&bill.members_page("ACME-1", &forged).await), 400);

    // An admin removes a plain member; the member cannot remove anyone.
    assert_eq!(code(&alice.remove_member("ACME-1", "bill@acme.example").await), 404);
    assert_eq!(code(&bill.remove_member("ACME-1", "alice@acme.example").await), 200);
    assert_eq!(code(&bill.remove_member("ACME-1", "alice@acme.example").await), 404);
    let history = bill.history_page("ACME-1", &PageRequest::limit(1)).await.unwrap();
    let newest = &history.entries[0];
    assert_eq!(
        (newest.action.as_str(), newest.actor.as_str(), newest.subject.as_ref().map(Email::as_str), newest.role),
        ("member_removed", "bill@acme.example", Some("alice@acme.example"), Some(Role::User))
    );
    assert!(history.next_cursor.is_some());
    assert!(alice.sites_page(&first).await.unwrap().sites.is_empty());
}

/// The problems `client` gets from the three routes for a site's administrators.
async fn site_admin_answers(client: &ApiClient, site: &str) -> Vec<abev::http::dto::Problem> {
    let first = PageRequest::default();
    let answers = [
        client.members_page(site, &first).await.map(|_| ()),
        client.history_page(site, &first).await.map(|_| ()),
        client.remove_member(site, "bill@acme.example").await,
    ];
    answers.into_iter().map(|p| p.unwrap_err().problem().cloned().expect("a problem")).collect()
}

#[tokio::test]
async fn a_site_you_do_not_administer_answers_exactly_like_an_unknown_one() {
    let (_t, app) = seeded().await;
    make_admin(&app, "bill@acme.example", "ACME-1").await;
    let first = PageRequest::default();
    // alice is a plain member of ACME-1, mary a stranger to it; NOPE-1 does not exist.
    for who in ["alice@acme.example", "mary@skynet.example"] {
        let client = app.client(who);
        let (existing, unknown) = (site_admin_answers(&client, "ACME-1").await, site_admin_answers(&client, "NOPE-1").await);
        for (e, u) in existing.iter().zip(&unknown) {
            assert_eq!(e.status, 404, "{who}: {e:?}");
            assert_eq!((e.status, &e.kind, &e.title), (u.status, &u.kind, &u.title), "{who}");
            assert_eq!(e.detail.replace("ACME-1", "NOPE-1"), u.detail, "{who}: the detail tells nothing either");
        }
    }
    // Care and the site's admin still see it.
    assert_eq!(code(&app.care_client(CARE).members_page("ACME-1", &first).await), 200);
    assert_eq!(code(&app.client("bill@acme.example").history_page("ACME-1", &first).await), 200);
}

#[tokio::test]
async fn a_request_only_its_own_requester_could_decide_goes_to_care() {
    let (t, app) = seeded().await;
    make_admin(&app, "fiona@farm.example", "FARM-1").await;
    let fiona = app.token("fiona@farm.example");
    let r = ask(&app, "gary@globex.example", "FARM-1", Some(Role::Admin)).await;
    assert_eq!(code(&approve(&app, &fiona, &r.request_id, None).await), 200);
    // gary, an admin, asks to step down: fiona may decide it.
    let step_down = ask(&app, "gary@globex.example", "FARM-1", Some(Role::User)).await;
    assert_eq!(step_down.status, RequestStatus::PendingAdmin);
    let _ = care_messages(&t).await;
    // fiona is removed: the only admin left is gary, who cannot decide his own request.
    remove(&app, &app.care_token(CARE), "FARM-1", "fiona@farm.example").await.unwrap();
    let after = fetch(&app, "gary@globex.example", &step_down.request_id).await;
    assert_eq!((after.status, after.escalation_reason), (RequestStatus::Escalated, Some(EscalationReason::NoSiteAdministrator)));
    let messages = care_messages(&t).await;
    assert_eq!(messages.into_iter().map(|m| m.request_id.to_string()).collect::<Vec<_>>(), [step_down.request_id.as_str()]);
    // The site still has an admin: a newcomer's request goes to gary, not to Care.
    let ted = ask(&app, "ted@data.example", "FARM-1", None).await;
    assert_eq!(ted.status, RequestStatus::PendingAdmin);
    assert!(!history_actions(&app, "FARM-1").await.iter().any(|e| e.action == "last_admin_lost"));
}

#[tokio::test]
async fn the_lambda_takes_api_gateway_events_and_the_scheduled_sweep() {
    let (t, app) = seeded().await;
    let router = abev::http::access::router(app.state.clone());
    let event = json!({
        "version": "2.0", "routeKey": "POST /v1/access-requests", "rawPath": "/v1/access-requests", "rawQueryString": "",
        "headers": {"authorization": "Bearer eyJ...", "host": "api.example", "content-type": "application/json"},
        "requestContext": {
            "accountId": "123456789012", "apiId": "api", "domainName": "api.example", "domainPrefix": "api",
            "requestId": "req-1", "routeKey": "POST /v1/access-requests", "stage": "$default",
            "time": "28/Nov/2026:12:00:00 +0000", "timeEpoch": 1795867200000_i64,
            "http": {"method": "POST", "path": "/v1/access-requests", "protocol": "HTTP/1.1", "sourceIp": "203.0.113.9", "userAgent": "curl"},
            "authorizer": {"jwt": {"claims": {"email": "ted@data.example", "email_verified": "true", "sub": "1"}, "scopes": null}}
        },
        "body": "{\"support_id\": \"FARM-1\"}",
        "isBase64Encoded": false
    });
    let invoke = |payload: Value| {
        abev::http::access::handle_event(&app.state, router.clone(), lambda_http::LambdaEvent::new(payload, Default::default()))
    };
    let response = invoke(event.clone()).await.unwrap();
    assert_eq!(response["statusCode"], 201, "{response}");
    let created: Value = serde_json::from_str(response["body"].as_str().unwrap()).unwrap();
    assert_eq!((created["requester_email"].as_str(), created["status"].as_str()), (Some("ted@data.example"), Some("escalated")));
    assert_eq!(care_messages(&t).await.len(), 1);

    // EventBridge's scheduled event runs the sweep instead.
    let scheduled = json!({"version": "0", "id": "e1", "detail-type": "Scheduled Event", "source": "aws.events", "account": "123456789012",
                           "time": "2026-11-28T12:00:00Z", "region": "eu-west-1", "resources": ["arn:aws:events:eu-west-1:123456789012:rule/sla"], "detail": {}});
    assert_eq!(invoke(scheduled).await.unwrap(), json!({"escalated": 0}));

    // A body with a field the contract does not have is refused as problem+json.
    let mut bad = event.clone();
    bad["body"] = json!("{\"support_id\": \"FARM-1\", \"status\": \"approved\"}");
    let response = invoke(bad).await.unwrap();
    assert_eq!(response["statusCode"], 400);
    assert_eq!(response["headers"]["content-type"], "application/problem+json");
}

#[tokio::test]
async fn provisioning_keeps_roles_and_a_redelivery_does_not_undo_a_removal() {
    let (t, app) = seeded().await;
    let (orders, _) = worked_example();
    let care = app.care_token(CARE);
    // An admin stays admin when a new version of an order provisions them again.
    make_admin(&app, "fiona@farm.example", "FARM-1").await;
    let o2_v2 = orders[1].replace("\"version\": 1", "\"version\": 2").replace("\"quantity\": 50", "\"quantity\": 60");
    t.ingest(&[&o2_v2]).await;
    assert_eq!(member_roles(&app, "FARM-1").await["fiona@farm.example"], Role::Admin);

    // Care removes mary from SKY-1; the redelivered O-4 (same version) does not put her back ...
    remove(&app, &care, "SKY-1", "mary@skynet.example").await.unwrap();
    t.ingest(&[orders[3]]).await;
    assert!(!member_roles(&app, "SKY-1").await.contains_key("mary@skynet.example"), "a redelivery re-provisioned a removed member");
    assert!(!t.view("mary@skynet.example", 10).await.contains_key("SKY-1"));
    // ... but a new version of the order is a new provisioning (spec §2).
    let o4_v2 = orders[3].replace("\"version\": 1", "\"version\": 2");
    t.ingest(&[&o4_v2]).await;
    assert_eq!(member_roles(&app, "SKY-1").await["mary@skynet.example"], Role::User);
}

#[tokio::test]
async fn one_request_by_id_for_its_requester_its_site_admins_and_care_only() {
    let (_t, app) = seeded().await;
    make_admin(&app, "fiona@farm.example", "FARM-1").await;
    let r = ask(&app, "ted@data.example", "FARM-1", None).await;
    assert_eq!(app.client("ted@data.example").access_request(&r.request_id).await.unwrap(), r);
    // The site's admin and Care see the site's name; its requester (no member) does not.
    let named = AccessRequestView { site_name: "Farm Foods".into(), ..r.clone() };
    assert_eq!(app.client("fiona@farm.example").access_request(&r.request_id).await.unwrap(), named);
    assert_eq!(app.care_client(CARE).access_request(&r.request_id).await.unwrap(), named);
    let unknown = app.client("mary@skynet.example").access_request(&uuid::Uuid::new_v4().to_string()).await.unwrap_err();
    let hidden = app.client("mary@skynet.example").access_request(&r.request_id).await.unwrap_err();
    let (u, h) = (unknown.problem().unwrap(), hidden.problem().unwrap());
    assert_eq!((h.status, &h.title), (404, &u.title), "a stranger learns nothing");
    assert_eq!(code(&app.client("ted@data.example").access_request("not-a-request").await), 404);
}

/// R3 reaches through any membership of a site that resells — provisioned before the site's
/// first resale, approved after it — and ends with the membership (its reseller marker goes
/// in the same transaction).
#[tokio::test]
async fn every_member_of_a_reseller_site_reaches_its_customers_and_loses_them_with_the_membership() {
    let t = TestStack::new().await;
    let app = TestApp::spawn(&t).await;
    // Early is a member of RES-9 before RES-9 ever resold; its first resale reaches Early too.
    let own = abev_integration_tests::order_json("O-OWN", 1, "active", ("RES-9", &["early@res9.example"]), None, None, &["OWN-1"]);
    t.ingest(&[&own]).await;
    let sale = abev_integration_tests::order_json("O-SALE", 1, "active", ("CUST-9", &[]), Some(("RES-9", &[])), None, &["SOLD-1"]);
    t.ingest(&[&sale]).await;
    let reached = |view: &abev_integration_tests::PlainView| view.get("CUST-9").map(|s| s.keys().cloned().collect::<Vec<_>>());
    assert_eq!(reached(&t.view("early@res9.example", 10).await), Some(vec!["SOLD-1".to_string()]), "a member from before the first resale");

    // Late joins RES-9 through Care; the approval writes the marker with the membership.
    let late = app.client("late@res9.example");
    let request = late.create_request("RES-9", None).await.unwrap().request().clone();
    app.care_client(CARE).approve(&request.request_id, Some(Role::Admin)).await.unwrap();
    assert_eq!(reached(&t.view("late@res9.example", 10).await), Some(vec!["SOLD-1".to_string()]), "a member approved later");
    assert_eq!(late.entitlement("SOLD-1").await.unwrap().access, [abev::domain::Access::Reseller]);

    // Removed: the next request sees none of RES-9's customers.
    app.client("late@res9.example").remove_member("RES-9", "early@res9.example").await.unwrap();
    assert_eq!(reached(&t.view("early@res9.example", 10).await), None, "a removed member keeps no reseller reach");
    let refused = app.client("early@res9.example").entitlement("SOLD-1").await.unwrap_err();
    assert_eq!(refused.status(), Some(404));
}
