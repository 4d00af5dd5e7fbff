//! The view function's HTTP API (spec §4) through the real router, with real tokens,
//! against DynamoDB Local.

use abev_integration_tests::{order_json, worked_example, PlainView, TestApp, TestStack};
use serde_json::{json, Value};
use std::collections::BTreeMap;

async fn seeded() -> (TestStack, TestApp, BTreeMap<String, PlainView>) {
    let t = TestStack::new().await;
    let (orders, expected) = worked_example();
    t.ingest(&orders).await;
    let app = TestApp::spawn(&t).await;
    (t, app, expected)
}

/// A contact's view over HTTP, following every cursor.
async fn http_view(app: &TestApp, email: &str, limit: usize) -> PlainView {
    let token = app.token(email);
    let mut view = PlainView::new();
    let mut cursor: Option<String> = None;
    loop {
        let path = match &cursor {
            Some(c) => format!("/v1/view?limit={limit}&cursor={c}"),
            None => format!("/v1/view?limit={limit}"),
        };
        let (status, _, body) = app.get(&token, &path).await;
        assert_eq!(status, 200, "{body}");
        for site in body["sites"].as_array().unwrap() {
            let sid = site["support_id"].as_str().unwrap().to_string();
            let serials = http_site(app, &token, &sid, limit).await;
            assert_eq!(site["entitlement_count"].as_u64().unwrap() as usize, serials.len());
            view.insert(sid, serials);
        }
        match body["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_string()),
            None => return view,
        }
    }
}

async fn http_site(app: &TestApp, token: &str, sid: &str, limit: usize) -> BTreeMap<String, Vec<String>> {
    let mut out = BTreeMap::new();
    let mut cursor: Option<String> = None;
    loop {
        let path = match &cursor {
            Some(c) => format!("/v1/view/sites/{sid}/entitlements?limit={limit}&cursor={c}"),
            None => format!("/v1/view/sites/{sid}/entitlements?limit={limit}"),
        };
        let (status, _, body) = app.get(token, &path).await;
        assert_eq!(status, 200, "{body}");
        for e in body["entitlements"].as_array().unwrap() {
            assert!(e.get("license_keys").is_none(), "lists never carry licence keys");
            let access = e["access"].as_array().unwrap().iter().map(|a| a.as_str().unwrap().to_string()).collect();
            out.insert(e["serial"].as_str().unwrap().to_string(), access);
        }
        match body["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_string()),
            None => return out,
        }
    }
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
    let (_, _, missing) = app.get(&app.token("bill@acme.example"), "/v1/entitlements/NOPE").await;
    for (email, view) in &expected {
        let token = app.token(email);
        for serial in &serials {
            let visible = view.values().find_map(|site| site.get(serial));
            let (status, content_type, body) = app.get(&token, &format!("/v1/entitlements/{serial}")).await;
            match visible {
                Some(access) => {
                    assert_eq!(status, 200, "{email} {serial}: {body}");
                    assert_eq!(body["license_keys"], json!([format!("LK-{serial}-0001")]));
                    assert_eq!(body["access"], json!(access));
                    assert!(body["download_url"].is_string() && body["site"]["support_id"].is_string() && body["order_id"].is_string());
                }
                None => {
                    assert_eq!(status, 404, "{email} must not see {serial}");
                    assert_eq!(content_type, "application/problem+json");
                    // Exactly like a serial that does not exist, but for the serial named.
                    let detail = body["detail"].as_str().unwrap().replace(serial.as_str(), "NOPE");
                    assert_eq!(detail, missing["detail"].as_str().unwrap());
                    assert_eq!(body["type"], missing["type"]);
                }
            }
        }
        // The site lists agree: a site outside the view is 404 too, unless the caller is
        // a member of it (then it is their own site, listed empty).
        let memberships = [("mary@skynet.example", "SKY-1"), ("oscar@other.example", "OTHER-1")];
        for site in ["ACME-1", "FARM-1", "GLOBEX-1", "SKY-1", "DATA-1", "OTHER-1", "NOPE-1"] {
            let (status, _, body) = app.get(&token, &format!("/v1/view/sites/{site}/entitlements")).await;
            let member = memberships.contains(&(email.as_str(), site));
            assert_eq!(status == 200, view.contains_key(site) || member, "{email} on {site}: {status}");
            if status == 200 && !view.contains_key(site) {
                assert_eq!(body["entitlements"], json!([]));
            }
        }
    }
    // Every detail read was audited.
    let reads = t.store.entitlement_reads(&abev::domain::Serial::parse("S1").unwrap()).await.unwrap();
    assert_eq!(reads.len(), 4, "bill, alice, ted and mary each read S1 once: {reads:?}");
}

#[tokio::test]
async fn me_lists_memberships_and_the_view_summary() {
    let (_t, app, _) = seeded().await;
    let (status, _, body) = app.get(&app.token("Mary@Skynet.example"), "/v1/me").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["email"], "mary@skynet.example");
    assert_eq!(body["sites"], json!([{"support_id": "SKY-1", "name": "Skynet", "role": "user"}]));
    assert_eq!(body["view"], json!({"sites": 4, "entitlements": 8}));
    let (_, _, nobody) = app.get(&app.token("nobody@nowhere.example"), "/v1/me").await;
    assert_eq!(nobody["view"], json!({"sites": 0, "entitlements": 0}));
    let (status, _, empty) = app.get(&app.token("nobody@nowhere.example"), "/v1/view").await;
    assert_eq!((status, empty), (200, json!({"sites": [], "next_cursor": null})));
}

#[tokio::test]
async fn bad_tokens_are_refused_with_401() {
    let (_t, app, _) = seeded().await;
    use abev::http::jwt;
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
    let token = app.token("bill@acme.example");
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
        let (status, content_type, body) = app.get(&token, path).await;
        assert_eq!(status, 400, "{path}: {body}");
        assert_eq!(content_type, "application/problem+json", "{path}");
        for field in ["type", "title", "status", "detail"] {
            assert!(body.get(field).is_some(), "{path} lacks {field}");
        }
    }
    let (status, _, _) = app.get(&token, "/v1/no-such-route").await;
    assert_eq!(status, 404);
}

#[tokio::test]
async fn cursors_cannot_be_tampered_with_or_replayed() {
    let (_t, app, _) = seeded().await;
    let mary = app.token("mary@skynet.example");
    let (_, _, page) = app.get(&mary, "/v1/view?limit=1").await;
    let cursor = page["next_cursor"].as_str().unwrap().to_string();
    assert_eq!(app.get(&mary, &format!("/v1/view?limit=1&cursor={cursor}")).await.0, 200);
    // Another caller replaying it.
    assert_eq!(app.get(&app.token("bill@acme.example"), &format!("/v1/view?limit=1&cursor={cursor}")).await.0, 400);
    // On another list.
    assert_eq!(app.get(&mary, &format!("/v1/view/sites/ACME-1/entitlements?limit=1&cursor={cursor}")).await.0, 400);
    // Altered by one character.
    let mut altered = cursor.clone().into_bytes();
    altered[3] = if altered[3] == b'A' { b'B' } else { b'A' };
    assert_eq!(app.get(&mary, &format!("/v1/view?limit=1&cursor={}", String::from_utf8(altered).unwrap())).await.0, 400);
    // A site-list cursor is bound to its filters too.
    let (_, _, page) = app.get(&mary, "/v1/view/sites/ACME-1/entitlements?limit=1").await;
    let site_cursor = page["next_cursor"].as_str().unwrap().to_string();
    assert_eq!(app.get(&mary, &format!("/v1/view/sites/ACME-1/entitlements?limit=1&cursor={site_cursor}")).await.0, 200);
    assert_eq!(app.get(&mary, &format!("/v1/view/sites/ACME-1/entitlements?limit=1&status=active&cursor={site_cursor}")).await.0, 400);
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
    let token = app.token("f@fil.example");
    let serials = |body: &Value| {
        body["entitlements"].as_array().unwrap().iter().map(|e| e["serial"].as_str().unwrap().to_string()).collect::<Vec<_>>()
    };
    let base = "/v1/view/sites/FIL-1/entitlements";
    assert_eq!(serials(&app.get(&token, &format!("{base}?status=expired")).await.2), ["OLD-1"]);
    assert_eq!(serials(&app.get(&token, &format!("{base}?status=active")).await.2), ["NOW-1"]);
    assert_eq!(serials(&app.get(&token, &format!("{base}?status=upcoming")).await.2), ["NEXT-1"]);
    assert_eq!(serials(&app.get(&token, &format!("{base}?ends_before=2098-06-01")).await.2), ["NOW-1", "OLD-1"]);
    assert_eq!(serials(&app.get(&token, &format!("{base}?q=loss")).await.2), ["NOW-1"]);
    assert_eq!(serials(&app.get(&token, &format!("{base}?q=wss")).await.2), ["NEXT-1"]);
    assert_eq!(serials(&app.get(&token, &format!("{base}?q=old-")).await.2), ["OLD-1"]);
    let (_, _, all) = app.get(&token, base).await;
    let statuses: Vec<&str> = all["entitlements"].as_array().unwrap().iter().map(|e| e["status"].as_str().unwrap()).collect();
    assert_eq!(statuses, ["upcoming", "active", "expired"]);
}

#[tokio::test]
async fn a_page_costs_the_same_round_trips_for_a_big_reseller_as_for_a_small_one() {
    use abev::store::metrics::measured;
    let t = TestStack::new().await;
    // BIG sold 40 orders of 5 lines to 20 customers; SMALL sold one order of 3 lines.
    for i in 0..40 {
        let serials: Vec<String> = (0..5).map(|j| format!("B{i:02}-{j}")).collect();
        let refs: Vec<&str> = serials.iter().map(String::as_str).collect();
        let customer = format!("CUST-{:02}", i % 20);
        t.ingest(&[&order_json(&format!("OB-{i}"), 1, "active", (&customer, &[]), Some(("BIG-R", &["big@r.example"])), None, &refs)]).await;
    }
    t.ingest(&[&order_json("OS-1", 1, "active", ("CUST-00", &[]), Some(("SMALL-R", &["small@r.example"])), None, &["X1", "X2", "X3"])])
        .await;
    let app = TestApp::spawn(&t).await;
    let store = &app.state.store;
    let mut costs = Vec::new();
    for email in ["big@r.example", "small@r.example"] {
        let email = abev::domain::Email::parse(email).unwrap();
        let (sites, sites_cost) = measured(async {
            let reach = store.contact_reach(&email).await.unwrap();
            store.view_sites(&reach, None, 10).await.unwrap()
        })
        .await;
        let site = sites.items[0].support_id.clone();
        let (_, ents_cost) = measured(async {
            let reach = store.contact_reach(&email).await.unwrap();
            store.site_entitlements(&reach, &site, None, 10, &Default::default(), abev::domain::Day::today()).await.unwrap()
        })
        .await;
        costs.push((sites_cost.ddb_calls, ents_cost.ddb_calls));
    }
    assert_eq!(costs[0], costs[1], "round trips must not grow with the view: {costs:?}");
    // The documented bound for one membership and no grants (docs/ARCHITECTURE.md):
    // sites page = 2 contact queries + 1 reseller query + 1 site BatchGet;
    // entitlements page = 2 contact queries + site GetItem + 1 reseller index query + 1 head BatchGet.
    assert_eq!(costs[0], (4, 5));
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
    let token = app.token("new@cust.example");
    assert_eq!(app.get(&token, "/v1/view").await.2["sites"], json!([]));
    t.send(&order_json("O-Q", 1, "active", ("CUST-Q", &["new@cust.example"]), None, None, &["Q1", "Q2"])).await;
    let mut seen = json!(null);
    for _ in 0..100 {
        seen = app.get(&token, "/v1/view").await.2;
        if seen["sites"].as_array().is_some_and(|s| !s.is_empty()) {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(seen["sites"], json!([{"support_id": "CUST-Q", "name": "CUST-Q Ltd", "entitlement_count": 2, "access": ["member"]}]));
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
