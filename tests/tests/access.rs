//! The access function (spec §5) through the real router with real tokens, against
//! DynamoDB Local and moto's SQS: routing, decisions, escalations, the Care queue, the
//! SLA sweep and the audit trail.

use abev::access::{self, Actor, Created};
use abev::domain::{Email, Role, SupportId};
use abev_integration_tests::{worked_example, TestApp, TestStack};
use reqwest::Method;
use serde_json::{json, Value};
use std::collections::BTreeMap;
use time::Duration;

const CARE: &str = "carla@care.example";

async fn seeded() -> (TestStack, TestApp) {
    let t = TestStack::new().await;
    let (orders, _) = worked_example();
    t.ingest(&orders).await;
    let app = TestApp::spawn(&t).await;
    (t, app)
}

async fn post(app: &TestApp, token: &str, path: &str, body: Value) -> (u16, Value) {
    let (status, content_type, body) = app.send_json(Method::POST, token, path, body).await;
    if status >= 400 {
        assert_eq!(content_type, "application/problem+json", "{status} {body}");
        assert_eq!(body["status"], status, "{body}");
    }
    (status, body)
}

async fn get(app: &TestApp, token: &str, path: &str) -> (u16, Value) {
    let (status, content_type, body) = app.get(token, path).await;
    if status >= 400 {
        assert_eq!(content_type, "application/problem+json", "{status} {body}");
    }
    (status, body)
}

/// `email` asks for `role` at `site`; returns (status, request).
async fn request(app: &TestApp, email: &str, site: &str, role: Option<&str>) -> (u16, Value) {
    let body = match role {
        Some(r) => json!({"support_id": site, "role": r}),
        None => json!({"support_id": site}),
    };
    post(app, &app.token(email), "/v1/access-requests", body).await
}

async fn approve(app: &TestApp, token: &str, id: &str, body: Value) -> (u16, Value) {
    post(app, token, &format!("/v1/access-requests/{id}/approve"), body).await
}

async fn reject(app: &TestApp, token: &str, id: &str, reason: &str) -> (u16, Value) {
    post(app, token, &format!("/v1/access-requests/{id}/reject"), json!({"reason": reason})).await
}

/// Makes `email` an admin of `site` the way a newcomer would: ask, Care approves.
async fn make_admin(app: &TestApp, email: &str, site: &str) {
    let (status, r) = request(app, email, site, Some("admin")).await;
    assert_eq!(status, 201, "{r}");
    assert_eq!(r["status"], "escalated", "{r}");
    let (status, d) = approve(app, &app.care_token(CARE), r["request_id"].as_str().unwrap(), json!({})).await;
    assert_eq!(status, 200, "{d}");
}

/// Every message on the Care queue (received once, then left hidden).
async fn care_messages(t: &TestStack) -> Vec<Value> {
    t.receive_all(t.stack.care_queue())
        .await
        .iter()
        .map(|m| serde_json::from_str(m.body().unwrap()).expect("care message is JSON"))
        .collect()
}

async fn member_roles(app: &TestApp, site: &str) -> BTreeMap<String, String> {
    let (status, body) = get(app, &app.care_token(CARE), &format!("/v1/sites/{site}/members?limit=500")).await;
    assert_eq!(status, 200, "{body}");
    body["members"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| (m["email"].as_str().unwrap().to_string(), m["role"].as_str().unwrap().to_string()))
        .collect()
}

async fn history_actions(app: &TestApp, site: &str) -> Vec<Value> {
    let (status, body) = get(app, &app.care_token(CARE), &format!("/v1/sites/{site}/history?limit=500")).await;
    assert_eq!(status, 200, "{body}");
    let mut entries = body["entries"].as_array().unwrap().clone();
    entries.reverse(); // oldest first
    entries
}

async fn fetch(app: &TestApp, email: &str, id: &str) -> Value {
    let (status, body) = get(app, &app.token(email), "/v1/access-requests?limit=500").await;
    assert_eq!(status, 200, "{body}");
    body["requests"].as_array().unwrap().iter().find(|r| r["request_id"] == id).cloned().expect("the requester lists their request")
}

#[tokio::test]
async fn story_ted_asks_for_farm_care_approves_and_ted_sees_s4() {
    let (t, app) = seeded().await;
    assert!(!t.view("ted@data.example", 10).await.contains_key("FARM-1"));

    let (status, r) = request(&app, "Ted@Data.example", "farm-1", None).await;
    assert_eq!(status, 201, "{r}");
    let id = r["request_id"].as_str().unwrap().to_string();
    let created_at = r["created_at"].as_str().unwrap().to_string();
    assert_eq!(
        r,
        json!({"request_id": id, "support_id": "FARM-1", "site_name": "Farm Foods", "requester_email": "ted@data.example",
               "kind": "join", "requested_role": "user", "status": "escalated", "created_at": created_at,
               "decided_by": null, "decided_at": null, "reason": null, "granted_role": null,
               "escalated_at": created_at, "escalation_reason": "no_site_administrator"})
    );

    // Exactly one message, exactly the §5 shape.
    let messages = care_messages(&t).await;
    assert_eq!(
        messages,
        vec![json!({"schema": "abev.care-escalation.v1", "request_id": id, "support_id": "FARM-1", "site_name": "Farm Foods",
                    "requester_email": "ted@data.example", "kind": "join", "requested_role": "user",
                    "created_at": created_at, "reason": "no_site_administrator"})]
    );

    // Care's work list has it; only Care may decide it.
    let care = app.care_token(CARE);
    let (_, approvals) = get(&app, &care, "/v1/approvals").await;
    assert_eq!(approvals["requests"].as_array().unwrap().iter().map(|r| r["request_id"].clone()).collect::<Vec<_>>(), vec![json!(id)]);
    assert_eq!(approve(&app, &app.token("fiona@farm.example"), &id, json!({})).await.0, 403);
    assert_eq!(approve(&app, &app.token("ted@data.example"), &id, json!({})).await.0, 403);

    let (status, decided) = approve(&app, &care, &id, json!({})).await;
    assert_eq!(status, 200, "{decided}");
    assert_eq!(decided["status"], "approved");
    assert_eq!(decided["decided_by"], CARE);
    assert_eq!(decided["granted_role"], "user");
    assert!(decided["decided_at"].is_string());
    assert_eq!(fetch(&app, "ted@data.example", &id).await["status"], "approved");

    let ted = t.view("ted@data.example", 10).await;
    assert_eq!(ted["FARM-1"].keys().collect::<Vec<_>>(), ["S4"]);
    assert_eq!(ted["FARM-1"]["S4"], ["member"]);
    assert_eq!(ted["ACME-1"].keys().collect::<Vec<_>>(), ["S1", "S2", "S3"], "ted keeps his ship-to view");

    let (_, sites) = get(&app, &app.token("ted@data.example"), "/v1/sites").await;
    assert_eq!(
        sites["sites"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| (s["support_id"].clone(), s["name"].clone(), s["role"].clone()))
            .collect::<Vec<_>>(),
        vec![(json!("FARM-1"), json!("Farm Foods"), json!("user"))]
    );
    let (_, approvals) = get(&app, &care, "/v1/approvals").await;
    assert!(approvals["requests"].as_array().unwrap().is_empty());

    // The audit trail: request, escalation, approval.
    let history = history_actions(&app, "FARM-1").await;
    let actions: Vec<(&str, &str)> = history.iter().map(|e| (e["action"].as_str().unwrap(), e["actor"].as_str().unwrap())).collect();
    assert_eq!(actions, [("request_created", "ted@data.example"), ("escalated_to_care", "system"), ("approved", CARE)]);
    assert_eq!(history[1]["reason"], "no_site_administrator");
    assert_eq!(history[2]["subject"], "ted@data.example");
    assert_eq!(history[2]["role"], "user");
    assert!(history.iter().all(|e| e["request_id"] == id && e["at"].is_string()));
}

#[tokio::test]
async fn a_site_with_an_admin_routes_to_its_admins_who_decide() {
    let (t, app) = seeded().await;
    make_admin(&app, "fiona@farm.example", "FARM-1").await;
    assert_eq!(member_roles(&app, "FARM-1").await, BTreeMap::from([("fiona@farm.example".into(), "admin".into())]));
    care_messages(&t).await; // fiona's own escalation

    let (status, r) = request(&app, "ted@data.example", "FARM-1", None).await;
    assert_eq!(status, 201, "{r}");
    assert_eq!(r["status"], "pending_admin");
    assert_eq!(r["escalation_reason"], Value::Null);
    assert!(care_messages(&t).await.is_empty(), "a routed request does not bother Care");
    let id = r["request_id"].as_str().unwrap();

    let fiona = app.token("fiona@farm.example");
    let (_, approvals) = get(&app, &fiona, "/v1/approvals").await;
    assert_eq!(approvals["requests"].as_array().unwrap().iter().map(|r| r["request_id"].clone()).collect::<Vec<_>>(), vec![json!(id)]);
    let (_, care_list) = get(&app, &app.care_token(CARE), "/v1/approvals").await;
    assert!(care_list["requests"].as_array().unwrap().is_empty(), "Care's list holds escalations only");

    let (status, decided) = approve(&app, &fiona, id, json!({})).await;
    assert_eq!(status, 200, "{decided}");
    assert_eq!(decided["decided_by"], "fiona@farm.example");
    assert_eq!(t.view("ted@data.example", 10).await["FARM-1"].keys().collect::<Vec<_>>(), ["S4"]);
    let (_, approvals) = get(&app, &fiona, "/v1/approvals").await;
    assert!(approvals["requests"].as_array().unwrap().is_empty());

    // A rejection keeps its reason, in the request and in the history.
    let (_, r2) = request(&app, "gary@globex.example", "FARM-1", None).await;
    assert_eq!(r2["status"], "pending_admin");
    let (status, rejected) = reject(&app, &fiona, r2["request_id"].as_str().unwrap(), "  not our company ").await;
    assert_eq!(status, 200, "{rejected}");
    assert_eq!(rejected["status"], "rejected");
    assert_eq!(rejected["reason"], "not our company");
    assert!(!member_roles(&app, "FARM-1").await.contains_key("gary@globex.example"));
    let history = history_actions(&app, "FARM-1").await;
    let last = history.last().unwrap();
    assert_eq!(
        (last["action"].as_str(), last["actor"].as_str(), last["reason"].as_str()),
        (Some("rejected"), Some("fiona@farm.example"), Some("not our company"))
    );
    assert!(history.iter().any(|e| e["action"] == "routed_to_site_admins" && e["request_id"] == r2["request_id"]));
}

#[tokio::test]
async fn only_the_right_people_decide_and_only_once() {
    let (_t, app) = seeded().await;
    make_admin(&app, "fiona@farm.example", "FARM-1").await;
    make_admin(&app, "mary@skynet.example", "SKY-1").await;
    // oscar becomes a plain member of FARM-1.
    let (_, r) = request(&app, "oscar@other.example", "FARM-1", None).await;
    let fiona = app.token("fiona@farm.example");
    assert_eq!(approve(&app, &fiona, r["request_id"].as_str().unwrap(), json!({})).await.0, 200);

    let (_, r) = request(&app, "ted@data.example", "FARM-1", None).await;
    let id = r["request_id"].as_str().unwrap();
    assert_eq!(approve(&app, &app.token("mary@skynet.example"), id, json!({})).await.0, 403, "an admin of another site");
    assert_eq!(reject(&app, &app.token("oscar@other.example"), id, "no").await.0, 403, "a plain member");
    assert_eq!(approve(&app, &app.token("bill@acme.example"), id, json!({})).await.0, 403, "a stranger");
    assert_eq!(approve(&app, &fiona, id, json!({"role": "admin"})).await.0, 403, "only Care grants another role");
    assert_eq!(reject(&app, &fiona, id, "   ").await.0, 400, "a rejection needs a reason");
    assert_eq!(approve(&app, &fiona, "not-a-request", json!({})).await.0, 404);
    assert_eq!(approve(&app, &fiona, &uuid::Uuid::new_v4().to_string(), json!({})).await.0, 404);

    // Nobody decides their own request, Care staff included.
    let care = app.care_token(CARE);
    let (_, own) = post(&app, &care, "/v1/access-requests", json!({"support_id": "GLOBEX-1"})).await;
    assert_eq!(own["status"], "escalated");
    let (status, body) = approve(&app, &care, own["request_id"].as_str().unwrap(), json!({})).await;
    assert_eq!(status, 403, "{body}");
    assert!(body["detail"].as_str().unwrap().contains("own request"));
    let (_, care_list) = get(&app, &care, "/v1/approvals").await;
    assert!(care_list["requests"].as_array().unwrap().iter().all(|r| r["requester_email"] != CARE), "nobody is offered their own request");

    // Decided once.
    assert_eq!(approve(&app, &fiona, id, json!({})).await.0, 200);
    let (status, body) = reject(&app, &fiona, id, "changed my mind").await;
    assert_eq!(status, 409, "{body}");
    assert_eq!(approve(&app, &care, id, json!({"role": "admin"})).await.0, 409);
    assert_eq!(member_roles(&app, "FARM-1").await["ted@data.example"], "user");
    let approvals =
        history_actions(&app, "FARM-1").await.into_iter().filter(|e| e["request_id"] == id && e["action"] == "approved").count();
    assert_eq!(approvals, 1);
}

#[tokio::test]
async fn an_admin_who_lost_the_role_cannot_decide() {
    let (_t, app) = seeded().await;
    make_admin(&app, "fiona@farm.example", "FARM-1").await;
    let (_, r) = request(&app, "oscar@other.example", "FARM-1", Some("admin")).await;
    assert_eq!(r["status"], "pending_admin");
    assert_eq!(approve(&app, &app.token("fiona@farm.example"), r["request_id"].as_str().unwrap(), json!({})).await.0, 200);
    let (_, r) = request(&app, "ted@data.example", "FARM-1", None).await;
    let id = r["request_id"].as_str().unwrap();
    // fiona removes oscar, then oscar tries to decide.
    let (status, _, _) = app
        .send_json(Method::DELETE, &app.token("fiona@farm.example"), "/v1/sites/FARM-1/members/oscar%40other.example", json!(null))
        .await;
    assert_eq!(status, 204);
    assert_eq!(approve(&app, &app.token("oscar@other.example"), id, json!({})).await.0, 403);
    assert_eq!(fetch(&app, "ted@data.example", id).await["status"], "pending_admin");
}

#[tokio::test]
async fn concurrent_approvals_of_one_request_have_exactly_one_winner() {
    let (t, app) = seeded().await;
    make_admin(&app, "fiona@farm.example", "FARM-1").await;
    // Two more admins, so three admins and several Care agents race.
    let care = app.care_token(CARE);
    for who in ["gary@globex.example", "alice@acme.example"] {
        let (_, r) = request(&app, who, "FARM-1", Some("admin")).await;
        assert_eq!(r["status"], "pending_admin");
        assert_eq!(approve(&app, &care, r["request_id"].as_str().unwrap(), json!({})).await.0, 200);
    }
    let (_, r) = request(&app, "ted@data.example", "FARM-1", None).await;
    let id = r["request_id"].as_str().unwrap().to_string();
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
                approve(app, token, id, json!({})).await
            } else {
                reject(app, token, id, "race").await
            }
        }
    }))
    .await;
    let statuses: Vec<u16> = results.iter().map(|(s, _)| *s).collect();
    assert_eq!(statuses.iter().filter(|s| **s == 200).count(), 1, "{results:?}");
    assert!(statuses.iter().all(|s| [200, 409, 403].contains(s)), "{results:?}");
    let winner = &results.iter().find(|(s, _)| *s == 200).unwrap().1;
    let stored = fetch(&app, "ted@data.example", &id).await;
    assert_eq!(&stored, winner);
    let decisions = history_actions(&app, "FARM-1")
        .await
        .into_iter()
        .filter(|e| e["request_id"] == json!(id) && (e["action"] == "approved" || e["action"] == "rejected"))
        .count();
    assert_eq!(decisions, 1);
    assert_eq!(member_roles(&app, "FARM-1").await.contains_key("ted@data.example"), winner["status"] == "approved");
    drop(t);
}

#[tokio::test]
async fn repeated_and_concurrent_requests_give_one_open_request() {
    let (t, app) = seeded().await;
    let (s1, r1) = request(&app, "ted@data.example", "FARM-1", None).await;
    let (s2, r2) = request(&app, "ted@data.example", "farm-1", Some("admin")).await;
    assert_eq!((s1, s2), (201, 200));
    assert_eq!(r1, r2, "the open one comes back, not a copy");

    let results = futures::future::join_all((0..6).map(|_| request(&app, "gary@globex.example", "ACME-1", None))).await;
    let created = results.iter().filter(|(s, _)| *s == 201).count();
    assert_eq!(created, 1, "{results:?}");
    assert!(results.iter().all(|(s, r)| [200, 201].contains(s) && r["request_id"] == results[0].1["request_id"]), "{results:?}");
    let (_, mine) = get(&app, &app.token("gary@globex.example"), "/v1/access-requests").await;
    assert_eq!(mine["requests"].as_array().unwrap().len(), 1);
    assert_eq!(care_messages(&t).await.len(), 2, "one escalation each for ted and gary");

    // After the decision, a new request is a new one.
    let care = app.care_token(CARE);
    assert_eq!(reject(&app, &care, r1["request_id"].as_str().unwrap(), "who are you?").await.0, 200);
    let (s3, r3) = request(&app, "ted@data.example", "FARM-1", None).await;
    assert_eq!(s3, 201);
    assert_ne!(r3["request_id"], r1["request_id"]);
    let (_, mine) = get(&app, &app.token("ted@data.example"), "/v1/access-requests").await;
    let states: Vec<&str> = mine["requests"].as_array().unwrap().iter().map(|r| r["status"].as_str().unwrap()).collect();
    assert_eq!(states, ["escalated", "rejected"], "newest first");
}

#[tokio::test]
async fn role_change_requests_and_care_granting_another_role() {
    let (t, app) = seeded().await;
    // fiona is a user of FARM-1: asking for user again is 409; asking for admin is a role change.
    let (status, body) = request(&app, "fiona@farm.example", "FARM-1", Some("user")).await;
    assert_eq!(status, 409, "{body}");
    let (status, r) = request(&app, "fiona@farm.example", "FARM-1", Some("admin")).await;
    assert_eq!(status, 201);
    assert_eq!(
        (r["kind"].as_str(), r["requested_role"].as_str(), r["status"].as_str()),
        (Some("role_change"), Some("admin"), Some("escalated"))
    );
    let messages = care_messages(&t).await;
    assert_eq!(messages[0]["kind"], "role_change");
    assert_eq!(messages[0]["requested_role"], "admin");
    assert_eq!(approve(&app, &app.care_token(CARE), r["request_id"].as_str().unwrap(), json!({})).await.0, 200);
    assert_eq!(member_roles(&app, "FARM-1").await["fiona@farm.example"], "admin");
    let (_, sites) = get(&app, &app.token("fiona@farm.example"), "/v1/sites").await;
    assert_eq!(sites["sites"][0]["role"], "admin");
    assert_eq!(request(&app, "fiona@farm.example", "FARM-1", Some("admin")).await.0, 409);

    // Care makes the first member of an admin-less site its admin, whatever was asked.
    let (_, r) = request(&app, "ted@data.example", "GLOBEX-1", None).await;
    assert_eq!(r["status"], "escalated");
    let (status, d) = approve(&app, &app.care_token(CARE), r["request_id"].as_str().unwrap(), json!({"role": "admin"})).await;
    assert_eq!(status, 200, "{d}");
    assert_eq!((d["requested_role"].as_str(), d["granted_role"].as_str()), (Some("user"), Some("admin")));
    assert_eq!(member_roles(&app, "GLOBEX-1").await["ted@data.example"], "admin");
    // GLOBEX-1 now has an admin: gary's request goes to ted.
    let (_, r) = request(&app, "gary@globex.example", "GLOBEX-1", Some("admin")).await;
    assert_eq!(r["status"], "pending_admin");
    assert_eq!(approve(&app, &app.token("ted@data.example"), r["request_id"].as_str().unwrap(), json!(null)).await.0, 200);
    assert_eq!(member_roles(&app, "GLOBEX-1").await["gary@globex.example"], "admin");
}

#[tokio::test]
async fn losing_the_last_admin_escalates_pending_requests_to_care() {
    let (t, app) = seeded().await;
    make_admin(&app, "fiona@farm.example", "FARM-1").await;
    make_admin(&app, "mary@skynet.example", "SKY-1").await;
    let _ = care_messages(&t).await;
    let (_, farm) = request(&app, "ted@data.example", "FARM-1", None).await;
    let (_, sky) = request(&app, "ted@data.example", "SKY-1", None).await;
    assert_eq!((farm["status"].as_str(), sky["status"].as_str()), (Some("pending_admin"), Some("pending_admin")));
    let care = app.care_token(CARE);

    // Removal: Care removes FARM-1's only admin.
    let (status, _, body) = app.send_json(Method::DELETE, &care, "/v1/sites/FARM-1/members/fiona@farm.example", json!(null)).await;
    assert_eq!(status, 204, "{body}");
    let after = fetch(&app, "ted@data.example", farm["request_id"].as_str().unwrap()).await;
    assert_eq!((after["status"].as_str(), after["escalation_reason"].as_str()), (Some("escalated"), Some("no_site_administrator")));
    let messages = care_messages(&t).await;
    assert_eq!(messages.len(), 1, "{messages:?}");
    assert_eq!(messages[0]["request_id"], farm["request_id"]);
    assert_eq!(messages[0]["reason"], "no_site_administrator");
    assert_eq!(messages[0]["created_at"], farm["created_at"]);
    assert!(!member_roles(&app, "FARM-1").await.contains_key("fiona@farm.example"));
    assert!(t.view("fiona@farm.example", 10).await.is_empty(), "a removed member loses the site");
    let actions: Vec<String> = history_actions(&app, "FARM-1").await.iter().map(|e| e["action"].as_str().unwrap().to_string()).collect();
    assert!(actions.ends_with(&["member_removed".into(), "last_admin_lost".into(), "escalated_to_care".into()]), "{actions:?}");

    // Demotion: SKY-1's only admin asks to become a user; Care approves.
    let (_, demote) = request(&app, "mary@skynet.example", "SKY-1", Some("user")).await;
    assert_eq!(demote["status"], "escalated", "no other admin can decide it");
    assert_eq!(approve(&app, &care, demote["request_id"].as_str().unwrap(), json!({})).await.0, 200);
    let after = fetch(&app, "ted@data.example", sky["request_id"].as_str().unwrap()).await;
    assert_eq!((after["status"].as_str(), after["escalation_reason"].as_str()), (Some("escalated"), Some("no_site_administrator")));
    let reasons: Vec<(Value, Value)> = care_messages(&t).await.iter().map(|m| (m["request_id"].clone(), m["reason"].clone())).collect();
    assert!(reasons.contains(&(sky["request_id"].clone(), json!("no_site_administrator"))), "{reasons:?}");
    // Admins can no longer decide it; Care can.
    assert_eq!(approve(&app, &care, sky["request_id"].as_str().unwrap(), json!({})).await.0, 200);
}

#[tokio::test]
async fn the_sla_sweep_escalates_what_admins_left_waiting() {
    let (t, app) = seeded().await;
    make_admin(&app, "fiona@farm.example", "FARM-1").await;
    let _ = care_messages(&t).await;
    let (_, waiting) = request(&app, "ted@data.example", "FARM-1", None).await;
    assert_eq!(waiting["status"], "pending_admin");
    let (_, decided) = request(&app, "gary@globex.example", "FARM-1", None).await;
    assert_eq!(approve(&app, &app.token("fiona@farm.example"), decided["request_id"].as_str().unwrap(), json!({})).await.0, 200);

    let now = access::now();
    assert_eq!(access::sweep(&app.state, now).await.unwrap(), 0);
    assert_eq!(access::sweep(&app.state, now + Duration::days(13)).await.unwrap(), 0, "within the SLA");
    assert!(care_messages(&t).await.is_empty());
    assert_eq!(access::sweep(&app.state, now + Duration::days(14) + Duration::minutes(1)).await.unwrap(), 1);
    let after = fetch(&app, "ted@data.example", waiting["request_id"].as_str().unwrap()).await;
    assert_eq!((after["status"].as_str(), after["escalation_reason"].as_str()), (Some("escalated"), Some("admin_sla_expired")));
    let messages = care_messages(&t).await;
    assert_eq!(messages.len(), 1);
    assert_eq!(messages[0]["request_id"], waiting["request_id"]);
    assert_eq!(messages[0]["reason"], "admin_sla_expired");
    assert_eq!(messages[0]["kind"], "join");
    assert_eq!(access::sweep(&app.state, now + Duration::days(15)).await.unwrap(), 0, "escalated once");
    assert!(care_messages(&t).await.is_empty());
    // Now only Care decides it.
    assert_eq!(approve(&app, &app.token("fiona@farm.example"), waiting["request_id"].as_str().unwrap(), json!({})).await.0, 403);
    let history = history_actions(&app, "FARM-1").await;
    let escalation = history.iter().find(|e| e["action"] == "escalated_to_care" && e["request_id"] == waiting["request_id"]).unwrap();
    assert_eq!(escalation["reason"], "admin_sla_expired");
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
    let Created::New(r) = access::create_request(&broken, &ted, &SupportId::parse("FARM-1").unwrap(), Role::User, now).await.unwrap()
    else {
        panic!("new")
    };
    assert_eq!(r.status, access::RequestStatus::Escalated);
    assert!(care_messages(&t).await.is_empty());
    // Too fresh for the sweep (its request may still be sending it) ...
    assert_eq!(access::sweep(&app.state, now).await.unwrap(), 0);
    assert!(care_messages(&t).await.is_empty());
    // ... then re-sent, once.
    access::sweep(&app.state, now + Duration::minutes(2)).await.unwrap();
    let messages = care_messages(&t).await;
    assert_eq!(messages.len(), 1);
    assert_eq!(messages[0]["request_id"], r.request_id.as_str());
    access::sweep(&app.state, now + Duration::minutes(3)).await.unwrap();
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
    let (_, mine) = get(&app, &ted, "/v1/access-requests").await;
    assert!(mine["requests"].as_array().unwrap().is_empty(), "nothing was created");

    let (_, r) = request(&app, "ted@data.example", "FARM-1", None).await;
    let id = r["request_id"].as_str().unwrap();
    let care = app.care_token(CARE);
    assert_eq!(approve(&app, &care, id, json!({"role": "admin", "status": "rejected"})).await.0, 400);
    assert_eq!(approve(&app, &care, id, json!({"approver": CARE})).await.0, 400);
    assert_eq!(post(&app, &care, &format!("/v1/access-requests/{id}/reject"), json!({})).await.0, 400);
    assert_eq!(post(&app, &care, &format!("/v1/access-requests/{id}/reject"), json!({"reason": "x", "decided_by": "y"})).await.0, 400);
    assert_eq!(fetch(&app, "ted@data.example", id).await["status"], "escalated");
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
    let (status, _) = get(&app, &app.token("alice@acme.example"), "/v1/sites/ACME-1/members").await;
    assert_eq!(status, 403);
    assert_eq!(get(&app, &app.token("alice@acme.example"), "/v1/sites/ACME-1/history").await.0, 403);
    assert_eq!(get(&app, &app.token("mary@skynet.example"), "/v1/sites/ACME-1/members").await.0, 403);
    assert_eq!(get(&app, &app.care_token(CARE), "/v1/sites/NOPE-1/members").await.0, 404);
    let bill = app.token("bill@acme.example");
    let (status, body) = get(&app, &bill, "/v1/sites/acme-1/members").await;
    assert_eq!(status, 200, "{body}");
    let members: Vec<(String, String)> = body["members"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| (m["email"].as_str().unwrap().into(), m["role"].as_str().unwrap().into()))
        .collect();
    assert_eq!(
        members,
        [("bill@acme.example".to_string(), "admin".to_string()), ("alice@acme.example".into(), "user".into())],
        "admins first"
    );

    // Paged one at a time, with signed cursors bound to the list.
    let mut seen = Vec::new();
    let mut path = "/v1/sites/ACME-1/members?limit=1".to_string();
    loop {
        let (status, page) = get(&app, &bill, &path).await;
        assert_eq!(status, 200, "{page}");
        seen.extend(page["members"].as_array().unwrap().iter().map(|m| m["email"].as_str().unwrap().to_string()));
        match page["next_cursor"].as_str() {
            Some(c) => {
                assert_eq!(get(&app, &bill, &format!("/v1/sites/ACME-1/history?cursor={c}")).await.0, 400, "a cursor of another list");
                path = format!("/v1/sites/ACME-1/members?limit=1&cursor={c}");
            }
            None => break,
        }
    }
    assert_eq!(seen, ["bill@acme.example", "alice@acme.example"]);
    assert_eq!(get(&app, &bill, "/v1/sites/ACME-1/members?limit=0").await.0, 400);
    assert_eq!(get(&app, &bill, "/v1/sites/ACME-1/members?cursor=forged").await.0, 400);

    // An admin removes a plain member; the member cannot remove anyone.
    let alice = app.token("alice@acme.example");
    let (status, _, _) = app.send_json(Method::DELETE, &alice, "/v1/sites/ACME-1/members/bill@acme.example", json!(null)).await;
    assert_eq!(status, 403);
    let (status, _, _) = app.send_json(Method::DELETE, &bill, "/v1/sites/ACME-1/members/alice@acme.example", json!(null)).await;
    assert_eq!(status, 204);
    let (status, _, _) = app.send_json(Method::DELETE, &bill, "/v1/sites/ACME-1/members/alice@acme.example", json!(null)).await;
    assert_eq!(status, 404);
    let (_, history) = get(&app, &bill, "/v1/sites/ACME-1/history?limit=1").await;
    let newest = &history["entries"][0];
    assert_eq!(
        (newest["action"].as_str(), newest["actor"].as_str(), newest["subject"].as_str(), newest["role"].as_str()),
        (Some("member_removed"), Some("bill@acme.example"), Some("alice@acme.example"), Some("user"))
    );
    assert!(history["next_cursor"].is_string());
    let (_, sites) = get(&app, &alice, "/v1/sites").await;
    assert!(sites["sites"].as_array().unwrap().is_empty());
}

#[tokio::test]
async fn a_request_only_its_own_requester_could_decide_goes_to_care() {
    let (t, app) = seeded().await;
    make_admin(&app, "fiona@farm.example", "FARM-1").await;
    let fiona = app.token("fiona@farm.example");
    let (_, r) = request(&app, "gary@globex.example", "FARM-1", Some("admin")).await;
    assert_eq!(approve(&app, &fiona, r["request_id"].as_str().unwrap(), json!({})).await.0, 200);
    // gary, an admin, asks to step down: fiona may decide it.
    let (_, step_down) = request(&app, "gary@globex.example", "FARM-1", Some("user")).await;
    assert_eq!(step_down["status"], "pending_admin");
    let _ = care_messages(&t).await;
    // fiona is removed: the only admin left is gary, who cannot decide his own request.
    let (status, _, _) =
        app.send_json(Method::DELETE, &app.care_token(CARE), "/v1/sites/FARM-1/members/fiona@farm.example", json!(null)).await;
    assert_eq!(status, 204);
    let after = fetch(&app, "gary@globex.example", step_down["request_id"].as_str().unwrap()).await;
    assert_eq!((after["status"].as_str(), after["escalation_reason"].as_str()), (Some("escalated"), Some("no_site_administrator")));
    let messages = care_messages(&t).await;
    assert_eq!(messages.iter().map(|m| m["request_id"].clone()).collect::<Vec<_>>(), vec![step_down["request_id"].clone()]);
    // The site still has an admin: a newcomer's request goes to gary, not to Care.
    let (_, ted) = request(&app, "ted@data.example", "FARM-1", None).await;
    assert_eq!(ted["status"], "pending_admin");
    assert!(!history_actions(&app, "FARM-1").await.iter().any(|e| e["action"] == "last_admin_lost"));
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
    assert_eq!(member_roles(&app, "FARM-1").await["fiona@farm.example"], "admin");

    // Care removes mary from SKY-1; the redelivered O-4 (same version) does not put her back ...
    let (status, content_type, body) =
        app.send_json(Method::DELETE, &care, "/v1/sites/SKY-1/members/mary@skynet.example", json!(null)).await;
    assert_eq!(status, 204, "{content_type} {body}");
    t.ingest(&[orders[3]]).await;
    assert!(!member_roles(&app, "SKY-1").await.contains_key("mary@skynet.example"), "a redelivery re-provisioned a removed member");
    assert!(!t.view("mary@skynet.example", 10).await.contains_key("SKY-1"));
    // ... but a new version of the order is a new provisioning (spec §2).
    let o4_v2 = orders[3].replace("\"version\": 1", "\"version\": 2");
    t.ingest(&[&o4_v2]).await;
    assert_eq!(member_roles(&app, "SKY-1").await["mary@skynet.example"], "user");
}
