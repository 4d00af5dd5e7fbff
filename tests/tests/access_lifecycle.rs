//! Access that runs itself (issue 21), black-box through HTTP against DynamoDB Local and
//! moto's SQS: claims by proof of purchase (who becomes a member of what, the bounds on
//! guessing, the admins' and Care's notice, revocation within the site's window).

use abev::access::{self, Actor};
use abev::domain::{Email, OrderId, Serial, SupportId};
use abev::store::metrics::measured;
use abev_client::PageRequest;
use abev_integration_tests::access_fixtures::{call, make_admin, seeded, CARE};
use abev_integration_tests::{order_json, TestApp, TestStack};
use reqwest::Method;
use serde_json::{json, Value};

async fn claim(app: &TestApp, email: &str, serial: &str, order: &str) -> (u16, Value) {
    call(app, Method::POST, &app.token(email), "/v1/claims", json!({"serial": serial, "order_id": order})).await
}

async fn my_sites(app: &TestApp, email: &str) -> Vec<(String, String)> {
    let sites = app.client(email).sites_page(&PageRequest::limit(500)).await.unwrap().sites;
    sites.into_iter().map(|s| (s.support_id.to_string(), s.role.to_string())).collect()
}

async fn sites_of(app: &TestApp, email: &str) -> Vec<String> {
    my_sites(app, email).await.into_iter().map(|(s, _)| s).collect()
}

/// (action, subject) of a site's history, oldest first.
async fn history(app: &TestApp, site: &str) -> Vec<(String, String)> {
    let mut entries = app.care_client(CARE).history_page(site, &PageRequest::limit(500)).await.unwrap().entries;
    entries.reverse();
    entries.into_iter().map(|e| (e.action, e.subject.map(|s| s.to_string()).unwrap_or_default())).collect()
}

async fn care_bodies(t: &TestStack) -> Vec<Value> {
    t.receive_all(t.stack.care_queue()).await.iter().map(|m| serde_json::from_str(m.body().unwrap()).unwrap()).collect()
}

#[tokio::test]
async fn a_serial_on_its_order_makes_the_claimant_a_user_of_the_end_customer_site_at_once() {
    let (t, app) = seeded().await;
    // S1 of O-1: end customer ACME-1, ship-to DATA-1, reseller SKY-1.
    let (status, made) = claim(&app, "zed@acme.example", "S1", "O-1").await;
    assert_eq!(status, 201, "{made}");
    assert_eq!(
        (made["support_id"].as_str(), made["role"].as_str(), made["status"].as_str()),
        (Some("ACME-1"), Some("user"), Some("active"))
    );
    assert_eq!(
        my_sites(&app, "zed@acme.example").await,
        [("ACME-1".to_string(), "user".to_string())],
        "not the reseller's nor the ship-to's"
    );
    let view = t.view("zed@acme.example", 100).await;
    assert_eq!(view.keys().collect::<Vec<_>>(), ["ACME-1"]);
    assert_eq!(view["ACME-1"].keys().collect::<Vec<_>>(), ["S1", "S2", "S3", "S9"], "R1: everything ACME-1 owns");

    // ACME-1 has no administrator: Care is told, with the claim's proof and window.
    let notices = care_bodies(&t).await;
    assert_eq!(notices.len(), 1, "{notices:?}");
    assert_eq!(notices[0]["schema"], "abev.care-notice.v1");
    assert_eq!((notices[0]["kind"].as_str(), notices[0]["email"].as_str()), (Some("claim"), Some("zed@acme.example")));
    assert_eq!(notices[0]["revocable_until"], made["revocable_until"]);

    // A retry whose first answer was lost: the claim as made, nothing written twice.
    let (status, again) = claim(&app, "zed@acme.example", "S1", "O-1").await;
    assert_eq!((status, &again), (200, &made));
    assert_eq!(history(&app, "ACME-1").await, [("claimed".to_string(), "zed@acme.example".to_string())]);
    assert!(care_bodies(&t).await.is_empty(), "no second notice");

    // A member already (bill, by provisioning) has nothing to claim.
    let (status, _) = claim(&app, "bill@acme.example", "S2", "O-1").await;
    assert_eq!(status, 409);
}

#[tokio::test]
async fn wrong_pairs_answer_alike_cost_one_attempt_each_and_the_fifth_locks_the_caller_out() {
    let (t, app) = seeded().await;
    // O-5 cancelled; O-1 version 2 drops S3 (a revoked line).
    t.ingest(
        &[
            order_json(
                "O-5",
                2,
                "cancelled",
                ("ACME-1", &["alice@acme.example"]),
                Some(("OTHER-1", &["oscar@other.example"])),
                None,
                &["S9"],
            ),
            order_json(
                "O-1",
                2,
                "active",
                ("ACME-1", &["bill@acme.example"]),
                Some(("SKY-1", &["mary@skynet.example"])),
                None,
                &["S1", "S2"],
            ),
        ]
        .iter()
        .map(String::as_str)
        .collect::<Vec<_>>(),
    )
    .await;
    let mallory = "mallory@evil.example";
    let wrong_serial = claim(&app, mallory, "S4", "O-1").await;
    let wrong_order = claim(&app, mallory, "S1", "O-9").await;
    let cancelled = claim(&app, mallory, "S9", "O-5").await;
    let revoked_line = claim(&app, mallory, "S3", "O-1").await;
    let retried = claim(&app, mallory, "S4", "O-1").await;
    for (status, body) in [&wrong_serial, &wrong_order, &cancelled, &revoked_line, &retried] {
        assert_eq!(*status, 404, "{body}");
        assert_eq!(body["detail"], wrong_serial.1["detail"], "one answer whatever is wrong");
    }
    // Four distinct wrong pairs (the retry was not counted): the right one still works.
    let (status, made) = claim(&app, mallory, "S4", "O-2").await;
    assert_eq!((status, made["support_id"].as_str()), (201, Some("FARM-1")));
    // The fifth distinct wrong pair is answered like the others, and locks the caller out.
    assert_eq!(claim(&app, mallory, "S5", "O-1").await.0, 404);
    let (status, locked) = claim(&app, mallory, "S5", "O-3").await;
    assert_eq!(status, 429, "{locked}");
    let retry_after = locked["retry_after"].as_u64().unwrap();
    assert!((86_000..=86_400).contains(&retry_after), "about 24 h: {retry_after}");
    assert!(!my_sites(&app, mallory).await.iter().any(|(s, _)| s == "GLOBEX-1"));
    // Another caller is not affected.
    assert_eq!(claim(&app, "gus@globex.example", "S5", "O-3").await.0, 201);
}

#[tokio::test]
async fn the_sites_admins_see_the_claim_and_may_revoke_it_within_the_window() {
    let (t, app) = seeded().await;
    make_admin(&app, "bill@acme.example", "ACME-1").await;
    care_bodies(&t).await; // bill's own escalation
    let (status, _) = claim(&app, "zed@acme.example", "S2", "O-1").await;
    assert_eq!(status, 201);
    assert!(care_bodies(&t).await.is_empty(), "a site with an admin: its admins are told, not Care");

    let bill = app.token("bill@acme.example");
    let (status, listed) = call(&app, Method::GET, &bill, "/v1/sites/ACME-1/claims", json!(null)).await;
    assert_eq!(status, 200, "{listed}");
    assert_eq!(listed["claims"].as_array().unwrap().len(), 1);
    assert_eq!(listed["claims"][0]["email"], "zed@acme.example");
    assert_eq!(listed["claim_revocation_days"], 7, "the default window: {listed}");
    // Not for a plain member, and worded like an unknown site.
    let (status, _) = call(&app, Method::GET, &app.token("alice@acme.example"), "/v1/sites/ACME-1/claims", json!(null)).await;
    assert_eq!(status, 404);

    let (status, revoked) = call(&app, Method::DELETE, &bill, "/v1/sites/ACME-1/claims/zed@acme.example", json!(null)).await;
    assert_eq!(status, 200, "{revoked}");
    assert_eq!((revoked["status"].as_str(), revoked["revoked_by"].as_str()), (Some("revoked"), Some("bill@acme.example")));
    assert!(my_sites(&app, "zed@acme.example").await.is_empty());
    assert!(t.view("zed@acme.example", 100).await.is_empty(), "the claimant sees nothing of the site any more");
    let (status, _) = call(&app, Method::DELETE, &bill, "/v1/sites/ACME-1/claims/zed@acme.example", json!(null)).await;
    assert_eq!(status, 409, "revoked once");
    assert_eq!(claim(&app, "zed@acme.example", "S2", "O-1").await.0, 403, "a revoked claimant may not claim the site again");
    let audited: Vec<_> = history(&app, "ACME-1").await.into_iter().filter(|(a, _)| a.starts_with("claim")).collect();
    assert_eq!(
        audited,
        [("claimed".to_string(), "zed@acme.example".to_string()), ("claim_revoked".to_string(), "zed@acme.example".to_string())]
    );

    // A window of 0 days: the next claim cannot be revoked (remove the member instead).
    let (status, set) = call(&app, Method::PUT, &bill, "/v1/sites/ACME-1/claim-window", json!({"claim_revocation_days": 0})).await;
    assert_eq!((status, set["claim_revocation_days"].as_i64()), (200, Some(0)));
    let (status, _) = call(&app, Method::PUT, &bill, "/v1/sites/ACME-1/claim-window", json!({"claim_revocation_days": 91})).await;
    assert_eq!(status, 400);
    let (_, listed) = call(&app, Method::GET, &bill, "/v1/sites/ACME-1/claims", json!(null)).await;
    assert_eq!(listed["claim_revocation_days"], 0, "the site's own window: {listed}");
    assert_eq!(claim(&app, "yan@acme.example", "S1", "O-1").await.0, 201);
    let (status, closed) = call(&app, Method::DELETE, &bill, "/v1/sites/ACME-1/claims/yan@acme.example", json!(null)).await;
    assert_eq!(status, 409, "{closed}");
}

#[tokio::test]
async fn a_claim_reads_in_two_rounds_and_a_sites_claims_page_in_two() {
    let (t, app) = seeded().await;
    make_admin(&app, "bill@acme.example", "ACME-1").await;
    let wf = app.state.workflow();
    let zed = Actor { email: Email::parse("zed@acme.example").unwrap(), care: false };
    let (order, serial) = (OrderId::parse("O-1").unwrap(), Serial::parse("S1").unwrap());
    let (made, cost) = measured(access::claims::claim(&wf, &zed, &order, &serial, access::now())).await;
    made.unwrap();
    // Reads: (1) head + attempts, (2) one BatchGetItem; then the one transaction.
    assert_eq!((cost.ddb_calls, cost.sequential_rounds), (4, 3), "{cost:?}");
    let (_, wrong) = measured(access::claims::claim(&wf, &zed, &order, &Serial::parse("S4").unwrap(), access::now())).await;
    assert_eq!((wrong.ddb_calls, wrong.sequential_rounds), (4, 3), "a wrong pair costs the same reads and one write: {wrong:?}");

    let bill = Actor { email: Email::parse("bill@acme.example").unwrap(), care: false };
    let site = SupportId::parse("ACME-1").unwrap();
    let (page, cost) = measured(async {
        access::require_site_manager(&wf, &bill, &site).await.unwrap();
        t.store.site_claims_page(&site, None, 10).await
    })
    .await;
    assert_eq!(page.unwrap().0.len(), 1);
    assert!(cost.sequential_rounds <= 2, "{cost:?}");
}

// ---- memberships that expire -------------------------------------------------------------

fn rfc3339(t: time::OffsetDateTime) -> String {
    t.format(&time::format_description::well_known::Rfc3339).unwrap()
}

async fn set_end(app: &TestApp, token: &str, site: &str, member: &str, ends_at: Option<time::OffsetDateTime>) -> (u16, Value) {
    let body = json!({"ends_at": ends_at.map(rfc3339)});
    call(app, Method::PUT, token, &format!("/v1/sites/{site}/members/{member}/end-date"), body).await
}

#[tokio::test]
async fn an_ended_membership_shows_nothing_from_its_end_and_the_sweep_removes_it() {
    let (t, app) = seeded().await;
    make_admin(&app, "bill@acme.example", "ACME-1").await;
    let bill = app.token("bill@acme.example");
    let now = time::OffsetDateTime::now_utc();

    // An end in a month: nothing changes yet; the members list shows it.
    let (status, set) = set_end(&app, &bill, "ACME-1", "alice@acme.example", Some(now + time::Duration::days(30))).await;
    assert_eq!(status, 200, "{set}");
    assert!(set["ends_at"].as_str().is_some_and(|e| e.starts_with(&rfc3339(now + time::Duration::days(30))[..10])), "{set}");
    let members = app.care_client(CARE).all_members("ACME-1").await.unwrap();
    assert!(members.iter().any(|m| m.email.as_str() == "alice@acme.example" && m.ends_at.is_some()));
    assert_eq!(t.view("alice@acme.example", 100).await.keys().collect::<Vec<_>>(), ["ACME-1"]);
    // Not for a plain member to set.
    assert_eq!(set_end(&app, &app.token("alice@acme.example"), "ACME-1", "bill@acme.example", Some(now)).await.0, 404);

    // An end just past: from then on alice sees nothing of ACME-1, before any sweep.
    let (status, _) = set_end(&app, &bill, "ACME-1", "alice@acme.example", Some(now - time::Duration::seconds(1))).await;
    assert_eq!(status, 200);
    assert!(t.view("alice@acme.example", 100).await.is_empty());
    assert!(sites_of(&app, "alice@acme.example").await.is_empty());
    let (status, _, _) = app.get(&app.token("alice@acme.example"), "/v1/entitlements/S9").await;
    assert_eq!(status, 404, "no licence keys either");

    // A reseller's membership ending ends R3 with it.
    let (status, _) = set_end(&app, &app.care_token(CARE), "SKY-1", "mary@skynet.example", Some(now - time::Duration::seconds(1))).await;
    assert_eq!(status, 200);
    assert!(t.view("mary@skynet.example", 100).await.is_empty(), "nothing through SKY-1, as member or reseller");

    // The sweep removes what ended, once, and the history says so.
    let wf = app.state.workflow();
    access::sweep(&wf, access::now()).await.unwrap();
    let members = app.care_client(CARE).all_members("ACME-1").await.unwrap();
    assert!(!members.iter().any(|m| m.email.as_str() == "alice@acme.example"), "{members:?}");
    access::sweep(&wf, access::now()).await.unwrap();
    let audited: Vec<_> = history(&app, "ACME-1").await.into_iter().filter(|(a, _)| a.starts_with("membership")).collect();
    let alice = "alice@acme.example".to_string();
    assert_eq!(
        audited,
        [
            ("membership_end_set".to_string(), alice.clone()),
            ("membership_end_set".to_string(), alice.clone()),
            ("membership_expired".to_string(), alice)
        ]
    );
}

#[tokio::test]
async fn the_last_admin_expiring_escalates_the_sites_pending_requests_to_care() {
    let (t, app) = seeded().await;
    make_admin(&app, "bill@acme.example", "ACME-1").await;
    let (status, asked) =
        call(&app, Method::POST, &app.token("zed@acme.example"), "/v1/access-requests", json!({"support_id": "ACME-1"})).await;
    assert_eq!((status, asked["status"].as_str()), (201, Some("pending_admin")), "{asked}");
    care_bodies(&t).await; // bill's own escalation

    let past = time::OffsetDateTime::now_utc() - time::Duration::seconds(1);
    assert_eq!(set_end(&app, &app.care_token(CARE), "ACME-1", "bill@acme.example", Some(past)).await.0, 200);
    // An ended admin may no longer act, swept or not.
    let (status, _) = call(&app, Method::GET, &app.token("bill@acme.example"), "/v1/sites/ACME-1/members", json!(null)).await;
    assert_eq!(status, 404);

    access::sweep(&app.state.workflow(), access::now()).await.unwrap();
    let escalations = care_bodies(&t).await;
    assert_eq!(escalations.len(), 1, "{escalations:?}");
    assert_eq!(
        (escalations[0]["request_id"].as_str(), escalations[0]["reason"].as_str()),
        (asked["request_id"].as_str(), Some("no_site_administrator"))
    );
    let actions: Vec<String> = history(&app, "ACME-1").await.into_iter().map(|(a, _)| a).collect();
    let tail: Vec<&str> = actions.iter().rev().take(3).rev().map(String::as_str).collect();
    assert!(
        tail.contains(&"membership_expired") && tail.contains(&"last_admin_lost") && tail.contains(&"escalated_to_care"),
        "{actions:?}"
    );
}

#[tokio::test]
async fn a_request_nobody_decides_within_ninety_days_expires_and_frees_its_slot() {
    let (_t, app) = seeded().await;
    let ted = app.token("ted@data.example");
    let (status, asked) = call(&app, Method::POST, &ted, "/v1/access-requests", json!({"support_id": "FARM-1"})).await;
    assert_eq!((status, asked["status"].as_str()), (201, Some("escalated")), "{asked}");
    let id = asked["request_id"].as_str().unwrap().to_string();
    let wf = app.state.workflow();

    access::sweep(&wf, access::now() + time::Duration::days(89)).await.unwrap();
    let still = app.client("ted@data.example").access_request(&id).await.unwrap();
    assert_eq!(still.status.as_str(), "escalated", "not yet");

    access::sweep(&wf, access::now() + time::Duration::days(91)).await.unwrap();
    let expired = app.client("ted@data.example").access_request(&id).await.unwrap();
    assert_eq!(expired.status.as_str(), "expired");
    assert!(app.care_client(CARE).all_approvals().await.unwrap().is_empty(), "gone from Care's work list");
    assert!(history(&app, "FARM-1").await.contains(&("request_expired".to_string(), "ted@data.example".to_string())));
    // The one-open-request rule no longer holds him to it: a new request is a new one.
    let (status, again) = call(&app, Method::POST, &ted, "/v1/access-requests", json!({"support_id": "FARM-1"})).await;
    assert_eq!(status, 201, "{again}");
    assert_ne!(again["request_id"].as_str(), Some(id.as_str()));
}

#[tokio::test]
async fn an_approval_may_give_the_membership_an_end() {
    let (t, app) = seeded().await;
    let ted = app.token("ted@data.example");
    let (_, asked) = call(&app, Method::POST, &ted, "/v1/access-requests", json!({"support_id": "FARM-1"})).await;
    let id = asked["request_id"].as_str().unwrap();
    let care = app.care_token(CARE);
    let path = format!("/v1/access-requests/{id}/approve");
    let approve = |body: Value| call(&app, Method::POST, &care, &path, body);
    assert_eq!(approve(json!({"ends_at": "tomorrow"})).await.0, 400);
    assert_eq!(approve(json!({"ends_at": rfc3339(time::OffsetDateTime::now_utc() - time::Duration::days(1))})).await.0, 400, "in the past");
    let end = time::OffsetDateTime::now_utc() + time::Duration::seconds(30);
    let (status, decided) = approve(json!({"ends_at": rfc3339(end)})).await;
    assert_eq!(status, 200, "{decided}");
    let members = app.care_client(CARE).all_members("FARM-1").await.unwrap();
    assert!(members.iter().any(|m| m.email.as_str() == "ted@data.example" && m.ends_at.is_some()), "{members:?}");
    assert_eq!(t.view("ted@data.example", 100).await.keys().cloned().collect::<Vec<_>>(), ["ACME-1", "FARM-1"]);
    // Past the end (the sweep's clock moved on): removed, and the history says why.
    access::sweep(&app.state.workflow(), access::now() + time::Duration::minutes(1)).await.unwrap();
    let members = app.care_client(CARE).all_members("FARM-1").await.unwrap();
    assert!(!members.iter().any(|m| m.email.as_str() == "ted@data.example"), "{members:?}");
    assert!(history(&app, "FARM-1").await.contains(&("membership_expired".to_string(), "ted@data.example".to_string())));
}

#[tokio::test]
async fn care_sees_a_claims_notice_dismisses_it_and_sets_a_membership_end_with_abev_care() {
    let (t, app) = seeded().await;
    let care = abev_care::Care::new(&app.base, &app.care_token(CARE), t.sqs.clone(), t.stack.care_queue());
    assert_eq!(claim(&app, "zed@acme.example", "S1", "O-1").await.0, 201);
    let queued = care.list().await.unwrap();
    assert_eq!(queued.len(), 1, "{queued:?}");
    let notice_id = queued[0].notice_id.clone().expect("a notice, not an unreadable message");
    assert_eq!(queued[0].message["email"], "zed@acme.example");
    assert_eq!(care.acknowledge(&notice_id).await.unwrap(), 1);
    assert!(care.list().await.unwrap().is_empty());

    let end = rfc3339(time::OffsetDateTime::now_utc() + time::Duration::days(10));
    let member = care.set_membership_end("ACME-1", "zed@acme.example", Some(&end)).await.unwrap();
    assert!(member.ends_at.is_some());
    let revoked = care.revoke_claim("ACME-1", "zed@acme.example").await.unwrap();
    assert_eq!(revoked["status"], "revoked");
    assert!(sites_of(&app, "zed@acme.example").await.is_empty());
}

#[tokio::test]
async fn a_member_whose_membership_ended_reaches_no_customer_when_the_site_first_resells() {
    let t = TestStack::new().await;
    t.ingest(&[&order_json("O-N1", 1, "active", ("NEW-R", &["pat@newr.example"]), None, None, &["N1"])]).await;
    let app = TestApp::spawn(&t).await;
    let ended = time::OffsetDateTime::now_utc() - time::Duration::seconds(1);
    let (status, body) = set_end(&app, &app.care_token(CARE), "NEW-R", "pat@newr.example", Some(ended)).await;
    assert_eq!(status, 200, "{body}");
    assert!(t.view("pat@newr.example", 100).await.is_empty());
    // NEW-R sells for the first time: its members get reseller markers (the fan-out), and
    // pat's carries the end of the membership it copies — no R3 reach from it, sweep or not.
    t.ingest(&[&order_json("O-N2", 1, "active", ("BUYER-1", &[]), Some(("NEW-R", &[])), None, &["N2"])]).await;
    assert!(t.view("pat@newr.example", 100).await.is_empty(), "an ended member sees a customer of NEW-R");
    // A member whose membership goes on gets the reach (the check above is not vacuous).
    t.ingest(&[&order_json("O-N3", 1, "active", ("NEW-R", &["quinn@newr.example"]), None, None, &["N3"])]).await;
    assert_eq!(t.view("quinn@newr.example", 100).await.keys().cloned().collect::<Vec<_>>(), ["BUYER-1", "NEW-R"]);
}
