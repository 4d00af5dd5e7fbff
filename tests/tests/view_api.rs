//! The view function's HTTP API (spec §4) through the real router, with real tokens,
//! against DynamoDB Local.

use abev::domain::access::Rollout;
use abev::domain::Access;
use abev::http::dto::{Me, MeRollout, MeSite, ViewSite, ViewSummary};
use abev::store::view::EntitlementStatus;
use abev_client::{ApiClient, ClientError, EntitlementFilters, PageRequest};
use abev_integration_tests::{order_json, worked_example, PlainView, TestApp, TestStack};
use serde_json::{json, Value};
use std::collections::BTreeMap;

/// A string attribute of a stored item.
fn attr<'a>(item: &'a abev::store::keys::Item, name: &str) -> Option<&'a str> {
    item.get(name).and_then(|v| v.as_s().ok()).map(String::as_str)
}

async fn seeded() -> (TestStack, TestApp, BTreeMap<String, PlainView>) {
    let t = TestStack::new().await;
    let (orders, expected) = worked_example();
    t.ingest(&orders).await;
    let app = TestApp::spawn(&t).await;
    (t, app, expected)
}

/// A contact's view over HTTP, following every cursor.
async fn http_view(app: &TestApp, email: &str, limit: usize) -> PlainView {
    let client = app.client(email);
    let mut view = PlainView::new();
    for site in client.all_view_sites(limit).await.unwrap() {
        let serials = http_site(&client, site.support_id.as_str(), limit).await;
        assert_eq!(site.entitlement_count as usize, serials.len());
        view.insert(site.support_id.to_string(), serials);
    }
    view
}

async fn http_site(client: &ApiClient, sid: &str, limit: usize) -> BTreeMap<String, Vec<String>> {
    let mut out = BTreeMap::new();
    // The lists' wire type has no licence keys at all (`EntitlementSummary`); the raw
    // page is checked too, in case a field were ever added.
    let raw = client.raw(reqwest::Method::GET, &format!("/v1/view/sites/{sid}/entitlements"), &[], None).await.unwrap();
    assert!(!raw.body.contains("license_keys"), "lists never carry licence keys");
    for e in client.all_site_entitlements(sid, &EntitlementFilters::default(), limit).await.unwrap() {
        let access = e.access.iter().map(abev_client::wire).collect();
        assert!(out.insert(e.serial.to_string(), access).is_none(), "{} listed twice", e.serial);
    }
    out
}

#[tokio::test]
async fn every_contact_sees_exactly_their_worked_example_view_paged_by_one() {
    let (_t, app, expected) = seeded().await;
    for (email, want) in &expected {
        assert_eq!(&http_view(&app, email, 1).await, want, "view of {email}");
        assert_eq!(&http_view(&app, email, 500).await, want, "view of {email}");
    }
}

#[tokio::test]
async fn detail_route_agrees_with_the_view_for_every_contact_and_serial() {
    let (t, app, expected) = seeded().await;
    let serials: Vec<String> = (1..=9).map(|i| format!("S{i}")).chain(["NOPE".to_string()]).collect();
    let missing = app.client("bill@acme.example").entitlement("NOPE").await.unwrap_err().problem().cloned().unwrap();
    for (email, view) in &expected {
        let client = app.client(email);
        for serial in &serials {
            let visible = view.values().find_map(|site| site.get(serial));
            match (visible, client.entitlement(serial).await) {
                (Some(access), Ok(detail)) => {
                    assert_eq!(detail.license_keys, [format!("LK-{serial}-0001")]);
                    assert_eq!(detail.access.iter().map(abev_client::wire).collect::<Vec<_>>(), *access);
                    assert!(detail.download_url.is_some() && view.contains_key(detail.site.support_id.as_str()));
                    assert!(!detail.order_id.is_empty());
                }
                (None, Err(ClientError::Problem(problem))) => {
                    assert_eq!(problem.status, 404, "{email} must not see {serial}");
                    // Exactly like a serial that does not exist, but for the serial named.
                    assert_eq!(problem.detail.replace(serial.as_str(), "NOPE"), missing.detail);
                    assert_eq!((problem.kind.as_str(), problem.title.as_str()), (missing.kind.as_str(), missing.title.as_str()));
                }
                (visible, answer) => panic!("{email} {serial}: visible {visible:?}, answered {answer:?}"),
            }
        }
        // The site lists agree: a site outside the view is 404 too, unless the caller is
        // a member of it (then it is their own site, listed empty).
        let memberships = [("mary@skynet.example", "SKY-1"), ("oscar@other.example", "OTHER-1")];
        for site in ["ACME-1", "FARM-1", "GLOBEX-1", "SKY-1", "DATA-1", "OTHER-1", "NOPE-1"] {
            let member = memberships.contains(&(email.as_str(), site));
            match client.site_entitlements_page(site, &EntitlementFilters::default(), &PageRequest::default()).await {
                Ok(page) => {
                    assert!(view.contains_key(site) || member, "{email} on {site}: 200");
                    if !view.contains_key(site) {
                        assert!(page.entitlements.is_empty());
                    }
                }
                Err(e) => {
                    assert_eq!(e.status(), Some(404), "{email} on {site}");
                    assert!(!view.contains_key(site) && !member, "{email} on {site}: 404");
                }
            }
        }
    }
    // Every detail read was audited, the refused ones too.
    let reads = t.store.entitlement_reads(&abev::domain::Serial::parse("S1").unwrap()).await.unwrap();
    let outcome = |o: &str| reads.iter().filter(|r| attr(r, "outcome") == Some(o)).count();
    assert_eq!(outcome("shown"), 4, "bill, alice, ted and mary each read S1 once: {reads:?}");
    assert_eq!(outcome("not_found"), 4, "fiona, gary, oscar and nobody were refused S1 once each: {reads:?}");
}

#[tokio::test]
async fn a_refused_detail_read_leaves_a_trace_and_keys_are_never_cached() {
    let (t, app, _) = seeded().await;
    let ted = app.client("ted@data.example");
    for serial in ["S4", "NOPE"] {
        assert_eq!(ted.entitlement(serial).await.unwrap_err().status(), Some(404), "{serial}");
        let reads = t.store.entitlement_reads(&abev::domain::Serial::parse(serial).unwrap()).await.unwrap();
        assert_eq!(reads.len(), 1, "{serial}: {reads:?}");
        assert_eq!(attr(&reads[0], "who"), Some("ted@data.example"));
        assert_eq!(attr(&reads[0], "serial"), Some(serial));
        assert_eq!(attr(&reads[0], "outcome"), Some("not_found"));
    }
    let shown = ted.raw(reqwest::Method::GET, "/v1/entitlements/S1", &[], None).await.unwrap();
    assert_eq!(shown.status, 200);
    assert_eq!(shown.headers.get("cache-control").map(String::as_str), Some("no-store"), "licence keys are never cached");
    let reads = t.store.entitlement_reads(&abev::domain::Serial::parse("S1").unwrap()).await.unwrap();
    assert_eq!(attr(&reads[0], "outcome"), Some("shown"));
}

#[tokio::test]
async fn me_lists_memberships_and_the_view_summary() {
    let (_t, app, _) = seeded().await;
    let me = app.client("Mary@Skynet.example").me().await.unwrap();
    let sky = abev::domain::SupportId::parse("SKY-1").unwrap();
    assert_eq!(
        me,
        Me {
            email: abev::domain::Email::parse("mary@skynet.example").unwrap(),
            sites: vec![MeSite { support_id: sky, name: "Skynet".into(), role: abev::domain::Role::User }],
            view: ViewSummary { sites: 4, entitlements: 8 },
            rollout: MeRollout { mode: Rollout::Everyone, waiting_sites: 0 },
        }
    );
    let nobody = app.client("nobody@nowhere.example");
    assert_eq!(nobody.me().await.unwrap().view, ViewSummary { sites: 0, entitlements: 0 });
    let empty = nobody.view_page(&PageRequest::default()).await.unwrap();
    assert_eq!((empty.sites, empty.next_cursor), (vec![], None));
    // The wire shape itself, once: `next_cursor` is present and null at the end.
    let (status, _, raw) = app.get(&app.token("nobody@nowhere.example"), "/v1/view").await;
    assert_eq!((status, raw), (200, json!({"sites": [], "next_cursor": null})));
}

#[tokio::test]
async fn bad_tokens_are_refused_with_401() {
    let (_t, app, _) = seeded().await;
    use abev_local::jwt;
    let claims = |pairs: Value| pairs.as_object().unwrap().clone();
    let now = jwt::now();
    let cases = vec![
        ("no token", None),
        ("garbage", Some("not.a.jwt".to_string())),
        ("other secret", Some(jwt::mint_for("wrong-secret", "bill@acme.example", false))),
        ("expired", Some(jwt::mint(&app.secret, claims(json!({"email": "bill@acme.example", "exp": now - 5}))))),
        ("not yet valid", Some(jwt::mint(&app.secret, claims(json!({"email": "bill@acme.example", "nbf": now + 600}))))),
        ("wrong issuer", Some(jwt::mint(&app.secret, claims(json!({"email": "bill@acme.example", "iss": "evil"}))))),
        ("wrong audience", Some(jwt::mint(&app.secret, claims(json!({"email": "bill@acme.example", "aud": "other"}))))),
        ("no email", Some(jwt::mint(&app.secret, claims(json!({"sub": "bill"}))))),
        ("email not verified", Some(jwt::mint(&app.secret, claims(json!({"email": "bill@acme.example", "email_verified": false}))))),
        (
            "alg none",
            Some({
                let good = app.token("bill@acme.example");
                let (_, rest) = good.split_once('.').unwrap();
                let (payload, _) = rest.split_once('.').unwrap();
                use base64::Engine;
                format!("{}.{payload}.", base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(br#"{"alg":"none","typ":"JWT"}"#))
            }),
        ),
    ];
    for (name, token) in cases {
        let mut request = app.http.get(format!("{}/v1/view", app.base));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        let (status, content_type, body) = TestApp::read(request.send().await.unwrap()).await;
        assert_eq!(status, 401, "{name}: {body}");
        assert_eq!(content_type, "application/problem+json", "{name}");
        assert_eq!(body["status"], 401);
    }
    // Nothing but the token sets the caller: a header naming someone else changes nothing.
    let response = app
        .http
        .get(format!("{}/v1/me", app.base))
        .bearer_auth(app.token("bill@acme.example"))
        .header("x-email", "mary@skynet.example")
        .send()
        .await
        .unwrap();
    assert_eq!(TestApp::read(response).await.2["email"], "bill@acme.example");
}

#[tokio::test]
async fn bad_parameters_are_400_problems() {
    let (_t, app, _) = seeded().await;
    let client = app.client("bill@acme.example");
    for path in [
        "/v1/view?limit=0",
        "/v1/view?limit=501",
        "/v1/view?limit=abc",
        "/v1/view?limit=-1",
        "/v1/view?limit=1.5",
        "/v1/view?cursor=",
        "/v1/view?cursor=garbage",
        "/v1/view/sites/ACME-1/entitlements?limit=0",
        "/v1/view/sites/ACME-1/entitlements?status=bogus",
        "/v1/view/sites/ACME-1/entitlements?ends_before=2026-13-01",
        "/v1/view/sites/ACME-1/entitlements?ends_before=tomorrow",
        "/v1/view/sites/ACME-1/entitlements?cursor=abc.def",
    ] {
        // The client insists on a problem+json body whose `status` is the answer's.
        let answer = client.raw(reqwest::Method::GET, path, &[], None).await.unwrap();
        let problem = answer.into_result::<Value>().unwrap_err();
        assert_eq!(problem.status(), Some(400), "{path}: {problem}");
    }
    let answer = client.raw(reqwest::Method::GET, "/v1/no-such-route", &[], None).await.unwrap();
    assert_eq!(answer.into_result::<Value>().unwrap_err().status(), Some(404));
}

#[tokio::test]
async fn cursors_cannot_be_tampered_with_or_replayed() {
    let (_t, app, _) = seeded().await;
    let mary = app.client("mary@skynet.example");
    let after = |cursor: &str| PageRequest { limit: Some(1), cursor: Some(cursor.to_string()) };
    let cursor = mary.view_page(&PageRequest::limit(1)).await.unwrap().next_cursor.unwrap();
    assert!(mary.view_page(&after(&cursor)).await.is_ok());
    // Another caller replaying it.
    assert_eq!(app.client("bill@acme.example").view_page(&after(&cursor)).await.unwrap_err().status(), Some(400));
    // On another list.
    let all = EntitlementFilters::default();
    assert_eq!(mary.site_entitlements_page("ACME-1", &all, &after(&cursor)).await.unwrap_err().status(), Some(400));
    // Altered by one character.
    let mut altered = cursor.clone().into_bytes();
    altered[3] = if altered[3] == b'A' { b'B' } else { b'A' };
    assert_eq!(mary.view_page(&after(&String::from_utf8(altered).unwrap())).await.unwrap_err().status(), Some(400));
    // A site-list cursor is bound to its filters too.
    let site_cursor = mary.site_entitlements_page("ACME-1", &all, &PageRequest::limit(1)).await.unwrap().next_cursor.unwrap();
    assert!(mary.site_entitlements_page("ACME-1", &all, &after(&site_cursor)).await.is_ok());
    let active = EntitlementFilters { status: Some(EntitlementStatus::Active), ..Default::default() };
    assert_eq!(mary.site_entitlements_page("ACME-1", &active, &after(&site_cursor)).await.unwrap_err().status(), Some(400));
}

#[tokio::test]
async fn entitlement_filters_select_by_status_date_and_text() {
    let t = TestStack::new().await;
    let body = json!({
        "schema": "abev.order.v1", "order_id": "O-F", "version": 1, "status": "active", "ordered_at": "2026-04-01T10:00:00Z",
        "end_customer": {"site": {"support_id": "FIL-1", "name": "Filters"}, "contacts": [{"email": "f@fil.example"}]},
        "lines": [
            {"serial": "OLD-1", "sku": "SEP-14", "product": "Endpoint Protection", "quantity": 1, "starts_on": "2020-01-01", "ends_on": "2021-01-01"},
            {"serial": "NOW-1", "sku": "DLP-16", "product": "Data Loss Prevention", "quantity": 1, "starts_on": "2020-01-01", "ends_on": "2098-01-01"},
            {"serial": "NEXT-1", "sku": "WSS", "product": "Web Security", "quantity": 1, "starts_on": "2097-01-01", "ends_on": "2099-01-01"}
        ]}).to_string();
    t.ingest(&[&body]).await;
    let app = TestApp::spawn(&t).await;
    let client = app.client("f@fil.example");
    let serials = |filters: EntitlementFilters| {
        let client = client.clone();
        async move {
            let page = client.site_entitlements_page("FIL-1", &filters, &PageRequest::default()).await.unwrap();
            page.entitlements.into_iter().map(|e| e.serial.to_string()).collect::<Vec<_>>()
        }
    };
    let status = |s| EntitlementFilters { status: Some(s), ..Default::default() };
    let text = |q: &str| EntitlementFilters { q: Some(q.into()), ..Default::default() };
    assert_eq!(serials(status(EntitlementStatus::Expired)).await, ["OLD-1"]);
    assert_eq!(serials(status(EntitlementStatus::Active)).await, ["NOW-1"]);
    assert_eq!(serials(status(EntitlementStatus::Upcoming)).await, ["NEXT-1"]);
    assert_eq!(serials(EntitlementFilters { ends_before: Some("2098-06-01".into()), ..Default::default() }).await, ["NOW-1", "OLD-1"]);
    assert_eq!(serials(text("loss")).await, ["NOW-1"]);
    assert_eq!(serials(text("wss")).await, ["NEXT-1"]);
    assert_eq!(serials(text("old-")).await, ["OLD-1"]);
    let all = client.site_entitlements_page("FIL-1", &EntitlementFilters::default(), &PageRequest::default()).await.unwrap();
    let statuses: Vec<EntitlementStatus> = all.entitlements.iter().map(|e| e.status).collect();
    assert_eq!(statuses, [EntitlementStatus::Upcoming, EntitlementStatus::Active, EntitlementStatus::Expired]);
}

/// The cost of the first sites page and of the first entitlements page of `site` (limit 10).
async fn page_costs(store: &abev::store::Store, email: &str, site: &str) -> (abev::store::metrics::Cost, abev::store::metrics::Cost) {
    use abev::store::metrics::measured;
    let email = abev::domain::Email::parse(email).unwrap();
    let site = abev::domain::SupportId::parse(site).unwrap();
    let (sites, sites_cost) = measured(store.view_sites(&email, Rollout::Everyone, None, 10)).await;
    assert!(!sites.unwrap().items.is_empty(), "{email} sees sites");
    let today = abev::domain::Day::today();
    let (page, ents_cost) = measured(store.site_entitlements(&email, Rollout::Everyone, &site, None, 10, &Default::default(), today)).await;
    assert!(!page.unwrap().expect("visible").1.items.is_empty(), "{email} sees {site}");
    (sites_cost, ents_cost)
}

#[tokio::test]
async fn a_page_costs_the_same_calls_whatever_the_caller_holds_for_all_three_kinds_of_contact() {
    let t = TestStack::new().await;
    let mut orders = Vec::new();
    // Resellers: BIG-R sold 40 orders of 5 lines to 20 customers; SMALL-R one order of 3 lines.
    for i in 0..40 {
        let serials: Vec<String> = (0..5).map(|j| format!("B{i:02}-{j}")).collect();
        let refs: Vec<&str> = serials.iter().map(String::as_str).collect();
        let customer = format!("CUST-{:02}", i % 20);
        orders.push(order_json(&format!("OB-{i}"), 1, "active", (&customer, &[]), Some(("BIG-R", &["big@r.example"])), None, &refs));
    }
    orders.push(order_json("OS-1", 1, "active", ("CUST-00", &[]), Some(("SMALL-R", &["small@r.example"])), None, &["X1", "X2", "X3"]));
    // Ship-to contacts: one on 30 one-line orders over 3 sites, one on a single order.
    for i in 0..30 {
        let serial = format!("T{i:02}");
        let customer = format!("SHIPCUST-{}", i % 3);
        orders.push(order_json(
            &format!("OT-{i}"),
            1,
            "active",
            (&customer, &[]),
            None,
            Some(("DEPOT-1", &["many@ship.example"])),
            &[&serial],
        ));
    }
    orders.push(order_json("OT-X", 1, "active", ("SHIPCUST-0", &[]), None, Some(("DEPOT-1", &["one@ship.example"])), &["TX"]));
    // Members: one contact of 30 sites who also works for a reseller; one of a single site.
    for i in 0..30 {
        let serial = format!("M{i:02}");
        let customer = format!("MEMBER-{i:02}");
        orders.push(order_json(&format!("OM-{i}"), 1, "active", (&customer, &["many@member.example"]), None, None, &[&serial]));
    }
    orders.push(order_json(
        "OM-R",
        1,
        "active",
        ("MEMBER-00", &[]),
        Some(("REP-R", &["many@member.example", "one@member.example"])),
        None,
        &["MR"],
    ));
    orders.push(order_json("OM-X", 1, "active", ("MEMBER-00", &["one@member.example"]), None, None, &["MX"]));
    let refs: Vec<&str> = orders.iter().map(String::as_str).collect();
    t.ingest(&refs).await;
    let store = &t.store;
    let kinds = [
        ("reseller", ("big@r.example", "CUST-00"), ("small@r.example", "CUST-00")),
        ("ship-to", ("many@ship.example", "SHIPCUST-0"), ("one@ship.example", "SHIPCUST-0")),
        ("member", ("many@member.example", "MEMBER-00"), ("one@member.example", "MEMBER-00")),
    ];
    for (kind, (big, big_site), (small, small_site)) in kinds {
        let (big_sites, big_ents) = page_costs(store, big, big_site).await;
        let (small_sites, small_ents) = page_costs(store, small, small_site).await;
        let calls = |c: abev::store::metrics::Cost| c.ddb_calls;
        let rounds = |c: abev::store::metrics::Cost| c.sequential_rounds;
        assert_eq!((calls(big_sites), calls(big_ents)), (calls(small_sites), calls(small_ents)), "{kind}: calls must not grow");
        // Sites page: (1) the caller's partition, (2) the resellers' counters and the member
        // sites' records, when there are any. Entitlements page: (1) the caller's standing and
        // the site's unsettled orders, (2) the listings, (3) the site's unsettled orders again
        // (a version staged between (1) and (2) must not pass for current) with the heads of
        // the page's settled orders (an index may list an entry after its order settled).
        let want_rounds = if kind == "ship-to" { (1, 3) } else { (2, 3) };
        for (sites, ents) in [(big_sites, big_ents), (small_sites, small_ents)] {
            assert_eq!((rounds(sites), rounds(ents)), want_rounds, "{kind}: sequential rounds");
        }
        // The documented bounds (docs/ARCHITECTURE.md "The flow of a read"):
        // sites page = 3 queries of the caller's partition + one SOLD query per reseller
        // organisation + one BatchGet of the member sites' records;
        // entitlements page = one BatchGet (membership, ship-to reach, site) + the markers and
        // unsettled-orders queries + one listing per source + the unsettled orders again and
        // one BatchGet of the page's order heads (up to 100 a call: a page of 10 here).
        let want = match kind {
            "reseller" => (5, 6),
            "ship-to" => (3, 6),
            _ => (5, 6),
        };
        assert_eq!((calls(big_sites), calls(big_ents)), want, "{kind}");
    }
}

#[tokio::test]
async fn an_api_gateway_event_runs_through_lambda_http_into_the_router() {
    let (_t, app, _) = seeded().await;
    let router = abev::http::view::router(app.state.clone());
    let event = json!({
        "version": "2.0", "routeKey": "GET /v1/view/sites/{support_id}/entitlements",
        "rawPath": "/v1/view/sites/SKY-1/entitlements", "rawQueryString": "limit=2",
        "headers": {"authorization": "Bearer eyJ...", "host": "api.example"},
        "queryStringParameters": {"limit": "2"},
        "pathParameters": {"support_id": "SKY-1"},
        "requestContext": {
            "accountId": "123456789012", "apiId": "api", "domainName": "api.example", "domainPrefix": "api",
            "requestId": "req-123", "routeKey": "GET /v1/view/sites/{support_id}/entitlements", "stage": "$default",
            "time": "28/Nov/2026:12:00:00 +0000", "timeEpoch": 1795867200000_i64,
            "http": {"method": "GET", "path": "/v1/view/sites/SKY-1/entitlements", "protocol": "HTTP/1.1", "sourceIp": "203.0.113.9", "userAgent": "curl"},
            "authorizer": {"jwt": {
                "claims": {"email": "Mary@Skynet.example", "email_verified": "true", "groups": "[partners other]", "iss": "https://issuer.example", "sub": "123"},
                "scopes": null
            }}
        },
        "isBase64Encoded": false
    });
    let request = lambda_http::request::from_str(&event.to_string()).expect("API Gateway event");
    use tower::ServiceExt;
    let response = router.oneshot(request).await.unwrap();
    assert_eq!(response.status(), 200);
    let bytes = axum::body::to_bytes(response.into_body(), usize::MAX).await.unwrap();
    let body: Value = serde_json::from_slice(&bytes).unwrap();
    let serials: Vec<&str> = body["entitlements"].as_array().unwrap().iter().map(|e| e["serial"].as_str().unwrap()).collect();
    assert_eq!(serials, ["S6", "S7"]);
    assert!(body["next_cursor"].is_string());

    // Without authorizer claims the function refuses the call.
    let mut unauthenticated = event.clone();
    unauthenticated["requestContext"].as_object_mut().unwrap().remove("authorizer");
    let request = lambda_http::request::from_str(&unauthenticated.to_string()).unwrap();
    let response = abev::http::view::router(app.state.clone()).oneshot(request).await.unwrap();
    assert_eq!(response.status(), 401);
}

#[tokio::test]
async fn an_order_sent_to_the_queue_appears_in_the_api() {
    let t = TestStack::new().await;
    let app = TestApp::spawn(&t).await;
    // The event source runs as under `make dev`: long-polling in the background.
    let source = abev_local::event_source::EventSource { wait: std::time::Duration::from_secs(1), ..t.source.clone() };
    let ingestor = t.ingestor.clone();
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let poller = tokio::spawn(async move {
        source
            .run(&ingestor, async {
                let _ = stop_rx.await;
            })
            .await;
    });
    let client = app.client("new@cust.example");
    assert_eq!(client.view_page(&PageRequest::default()).await.unwrap().sites, vec![]);
    t.send(&order_json("O-Q", 1, "active", ("CUST-Q", &["new@cust.example"]), None, None, &["Q1", "Q2"])).await;
    let mut seen = Vec::new();
    for _ in 0..100 {
        seen = client.view_page(&PageRequest::default()).await.unwrap().sites;
        if !seen.is_empty() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let site = abev::domain::SupportId::parse("CUST-Q").unwrap();
    assert_eq!(seen, vec![ViewSite { support_id: site, name: "CUST-Q Ltd".into(), entitlement_count: 2, access: vec![Access::Member] }]);
    let _ = stop_tx.send(());
    poller.await.unwrap();
}

#[tokio::test]
async fn errors_axum_makes_itself_are_problems_too() {
    let (_t, app, _) = seeded().await;
    let token = app.token("bill@acme.example");
    let response = app.http.post(format!("{}/v1/view", app.base)).bearer_auth(&token).send().await.unwrap();
    let (status, content_type, body) = TestApp::read(response).await;
    assert_eq!((status, content_type.as_str()), (405, "application/problem+json"), "{body}");
    assert_eq!(body["status"], 405);
    let (status, content_type, _) = app.get(&token, "/v1/entitlements/%FF%FE").await;
    assert_eq!(content_type, "application/problem+json", "{status}");
    assert!((400..500).contains(&status));
}

#[tokio::test]
async fn in_waves_a_site_shows_only_once_care_enabled_it_and_at_once() {
    let t = TestStack::new().await;
    let (orders, expected) = worked_example();
    t.ingest(&orders).await;
    let app = TestApp::spawn_with(&t, abev::http::Settings { rollout: Rollout::Waves, ..Default::default() }).await;
    let (mary, care) = (app.client("mary@skynet.example"), app.care_client("carla@care.example"));
    // Nothing is enabled: an empty view, and mary's own site waits.
    assert_eq!(http_view(&app, "mary@skynet.example", 10).await, PlainView::new());
    let me = mary.me().await.unwrap();
    assert_eq!((me.rollout, me.view), (MeRollout { mode: Rollout::Waves, waiting_sites: 1 }, ViewSummary { sites: 0, entitlements: 0 }));
    assert_eq!(mary.entitlement("S1").await.unwrap_err().status(), Some(404), "no keys of a waiting site");

    // Care enables ACME-1 and SKY-1: exactly those parts of mary's view appear, at once.
    assert_eq!(mary.set_rollout("ACME-1", true).await.unwrap_err().status(), Some(403), "Care only");
    for site in ["ACME-1", "sky-1"] {
        assert!(care.set_rollout(site, true).await.unwrap().changed);
    }
    assert!(!care.set_rollout("ACME-1", true).await.unwrap().changed, "enabling twice changes nothing");
    assert_eq!(care.set_rollout("NOPE-1", true).await.unwrap_err().status(), Some(404));
    let mut want = expected["mary@skynet.example"].clone();
    want.retain(|site, _| ["ACME-1", "SKY-1"].contains(&site.as_str()));
    assert_eq!(http_view(&app, "mary@skynet.example", 1).await, want);
    assert_eq!(mary.me().await.unwrap().rollout.waiting_sites, 0);
    assert_eq!(mary.entitlement("S1").await.unwrap().serial.as_str(), "S1");
    assert_eq!(mary.entitlement("S4").await.unwrap_err().status(), Some(404), "FARM-1 still waits");
    let (mode, enabled) = care.rollout().await.unwrap();
    assert_eq!((mode, enabled.iter().map(|s| s.support_id.as_str()).collect::<Vec<_>>()), (Rollout::Waves, vec!["ACME-1", "SKY-1"]));
    assert_eq!(enabled[0].enabled_by.as_str(), "carla@care.example");

    // Disabling takes effect with the next request too, and both are in the site's history.
    assert!(care.set_rollout("ACME-1", false).await.unwrap().changed);
    assert!(!http_view(&app, "mary@skynet.example", 10).await.contains_key("ACME-1"));
    assert_eq!(mary.entitlement("S1").await.unwrap_err().status(), Some(404));
    let history = care.history_page("ACME-1", &PageRequest::default()).await.unwrap();
    let actions: Vec<&str> = history.entries.iter().map(|e| e.action.as_str()).collect();
    assert_eq!(actions, ["view_disabled", "view_enabled"], "newest first");
}
