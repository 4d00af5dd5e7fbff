//! The API as tools and browsers see it (issues 18 and 19): per-caller limits with their
//! headers, entity tags, the request id in every problem, `no-store` on every answer, and
//! downloads as short-lived redirects checked and audited at the click.

use abev::http::ratelimit::RatePolicy;
use abev_integration_tests::{order_json, worked_example, TestApp, TestStack};

async fn seeded(settings: abev::http::Settings) -> (TestStack, TestApp) {
    let t = TestStack::new().await;
    let (orders, _) = worked_example();
    t.ingest(&orders).await;
    let app = TestApp::spawn_with(&t, settings).await;
    (t, app)
}

fn header(r: &reqwest::Response, name: &str) -> Option<String> {
    r.headers().get(name).and_then(|v| v.to_str().ok()).map(str::to_string)
}

async fn get(app: &TestApp, email: &str, path: &str, etag: Option<&str>) -> reqwest::Response {
    let mut request = app.http.get(format!("{}{path}", app.base)).bearer_auth(app.token(email));
    if let Some(tag) = etag {
        request = request.header("if-none-match", tag);
    }
    request.send().await.expect("request")
}

#[tokio::test]
async fn a_caller_past_the_bucket_gets_429_with_the_ratelimit_headers() {
    let settings = abev::http::Settings { rate: Some(RatePolicy { per_second: 1, burst: 3 }), ..Default::default() };
    let (_t, app) = seeded(settings).await;
    for left in [2, 1, 0] {
        let r = get(&app, "mary@skynet.example", "/v1/view", None).await;
        assert_eq!(r.status(), 200);
        assert_eq!(header(&r, "ratelimit-policy").as_deref(), Some("\"caller\";q=3;w=3"));
        assert!(header(&r, "ratelimit").unwrap().starts_with(&format!("\"caller\";r={left};t=")), "{:?}", header(&r, "ratelimit"));
    }
    // The fourth is refused before any route runs: an unknown site answers 429 too, not 404.
    let r = get(&app, "mary@skynet.example", "/v1/view/sites/NOPE-1/entitlements", None).await;
    assert_eq!(r.status(), 429);
    assert_eq!(header(&r, "retry-after").as_deref(), Some("1"));
    assert!(header(&r, "ratelimit").unwrap().starts_with("\"caller\";r=0;"));
    assert_eq!(header(&r, "content-type").as_deref(), Some("application/problem+json"));
    // Another caller has a bucket of their own.
    assert_eq!(get(&app, "ted@data.example", "/v1/view", None).await.status(), 200);
}

#[tokio::test]
async fn the_view_site_and_detail_answers_carry_an_etag_and_304_when_unchanged() {
    let (_t, app) = seeded(Default::default()).await;
    for path in ["/v1/view", "/v1/view/sites/ACME-1/entitlements", "/v1/entitlements/S1"] {
        let first = get(&app, "mary@skynet.example", path, None).await;
        assert_eq!(first.status(), 200, "{path}");
        let tag = header(&first, "etag").unwrap_or_else(|| panic!("{path}: an ETag"));
        assert_eq!(header(&first, "cache-control").as_deref(), Some("no-store"), "{path}");
        let again = get(&app, "mary@skynet.example", path, Some(&tag)).await;
        assert_eq!(again.status(), 304, "{path}");
        assert_eq!(header(&again, "etag"), Some(tag.clone()), "{path}");
        assert_eq!(get(&app, "mary@skynet.example", path, Some("\"other\"")).await.status(), 200, "{path}");
    }
    // Another caller's answer differs, and so does its tag.
    let mary = header(&get(&app, "mary@skynet.example", "/v1/view", None).await, "etag");
    let ted = header(&get(&app, "ted@data.example", "/v1/view", None).await, "etag");
    assert_ne!(mary, ted);
}

#[tokio::test]
async fn every_problem_names_its_request_and_every_list_is_no_store() {
    let (_t, app) = seeded(Default::default()).await;
    let r = get(&app, "mary@skynet.example", "/v1/entitlements/NOPE", None).await;
    assert_eq!(r.status(), 404);
    let id = header(&r, "x-request-id").expect("x-request-id");
    let body: serde_json::Value = r.json().await.unwrap();
    assert_eq!(body["instance"], format!("urn:abev:request:{id}"));
    // axum's own refusals too (a wrong method).
    let r = app.http.delete(format!("{}/v1/view", app.base)).bearer_auth(app.token("mary@skynet.example")).send().await.unwrap();
    assert_eq!(r.status(), 405);
    let id = header(&r, "x-request-id").expect("x-request-id");
    let body: serde_json::Value = r.json().await.unwrap();
    assert_eq!(body["instance"], format!("urn:abev:request:{id}"));
    for path in ["/v1/sites", "/v1/access-requests", "/v1/view", "/v1/me"] {
        let r = get(&app, "mary@skynet.example", path, None).await;
        assert_eq!(header(&r, "cache-control").as_deref(), Some("no-store"), "{path}");
    }
}

#[tokio::test]
async fn a_download_is_a_short_lived_redirect_checked_and_audited_at_the_click() {
    let t = TestStack::new().await;
    let bucket = format!("dl-{}", uuid::Uuid::new_v4().simple());
    let mut order: serde_json::Value =
        serde_json::from_str(&order_json("O-DL", 1, "active", ("DL-1", &["dana@dl.example"]), None, None, &["DL1", "DL2"])).unwrap();
    order["lines"][0]["download_url"] = format!("https://{bucket}.s3.amazonaws.com/products/dl1.zip").into();
    order["lines"][1]["download_url"] = "https://downloads.example/dl2".into();
    t.ingest(&[&order.to_string()]).await;
    let (_, sqs_url) = abev_integration_tests::endpoints();
    let settings =
        abev::http::Settings { downloads: Some(abev::http::download::Downloads::local(&sqs_url, &bucket)), ..Default::default() };
    let app = TestApp::spawn_with(&t, settings).await;
    let no_redirects = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
    let click = |who: &str, serial: &str| {
        no_redirects.get(format!("{}/v1/entitlements/{serial}/download", app.base)).bearer_auth(app.token(who)).send()
    };
    let r = click("dana@dl.example", "DL1").await.unwrap();
    assert_eq!(r.status(), 302);
    let location = header(&r, "location").unwrap();
    assert!(location.contains(&format!("/{bucket}/products/dl1.zip?")) && location.contains("X-Amz-Expires=300"), "{location}");
    // A vendor link is the vendor's: answered as it is.
    let r = click("dana@dl.example", "DL2").await.unwrap();
    assert_eq!((r.status().as_u16(), header(&r, "location").as_deref()), (302, Some("https://downloads.example/dl2")));
    // Someone outside the view gets 404, like a serial that does not exist.
    assert_eq!(click("eve@evil.example", "DL1").await.unwrap().status(), 404);
    assert_eq!(click("dana@dl.example", "NOPE").await.unwrap().status(), 404);
    // A page cannot read a redirect's Location (fetch hides it): asked for JSON, the same
    // link comes in the body, checked and audited the same way.
    let ask_json = |who: &str, serial: &str| {
        no_redirects
            .get(format!("{}/v1/entitlements/{serial}/download", app.base))
            .header("accept", "application/json")
            .bearer_auth(app.token(who))
            .send()
    };
    let r = ask_json("dana@dl.example", "DL1").await.unwrap();
    assert_eq!((r.status().as_u16(), header(&r, "cache-control").as_deref()), (200, Some("no-store")));
    let link: serde_json::Value = r.json().await.unwrap();
    let url = link["url"].as_str().unwrap_or_default();
    assert!(url.contains(&format!("/{bucket}/products/dl1.zip?")) && url.contains("X-Amz-Expires=300"), "{link}");
    assert_eq!(link["expires_in_seconds"], 300, "{link}");
    let r = ask_json("dana@dl.example", "DL2").await.unwrap();
    let link: serde_json::Value = r.json().await.unwrap();
    assert_eq!((link["url"].as_str(), &link["expires_in_seconds"]), (Some("https://downloads.example/dl2"), &serde_json::Value::Null));
    assert_eq!(ask_json("eve@evil.example", "DL1").await.unwrap().status(), 404);
    // Each click is in the audit trail, the refused ones too.
    let trail = t.store.entitlement_reads(&abev::domain::Serial::parse("DL1").unwrap()).await.unwrap();
    assert_eq!(trail.len(), 4, "{trail:?}");
}

#[tokio::test]
async fn a_join_request_tells_the_requester_nothing_of_the_site_they_cannot_see() {
    let (_t, app) = seeded(Default::default()).await;
    let ted = app.token("ted@data.example");
    let body = serde_json::json!({"support_id": "FARM-1"});
    let (status, _, created) = app.send_json(reqwest::Method::POST, &ted, "/v1/access-requests", body).await;
    assert_eq!(status, 201, "{created}");
    // Ted is no member of FARM-1: its name ("Farm Foods") is not his to learn from a request.
    assert_eq!(created["site_name"], "FARM-1", "{created}");
    let (_, _, mine) = app.get(&ted, "/v1/access-requests").await;
    assert_eq!(mine["requests"][0]["site_name"], "FARM-1", "{mine}");
    let id = created["request_id"].as_str().unwrap();
    let (_, _, one) = app.get(&ted, &format!("/v1/access-requests/{id}")).await;
    assert_eq!(one["site_name"], "FARM-1", "{one}");
    // Care, who decides it, sees the name.
    let (_, _, approvals) = app.get(&app.care_token("carla@care.example"), "/v1/approvals").await;
    assert_eq!(approvals["requests"][0]["site_name"], "Farm Foods", "{approvals}");
}

/// Issue 18: audit items of licence-key reads expire after the retention the operator sets
/// (`ABEV_AUDIT_RETENTION_DAYS`), like the sites' history; with none set they are kept.
#[tokio::test]
async fn licence_key_reads_are_audited_with_the_retention_the_operator_sets() {
    let limits = abev::access::Limits { history_retention: Some(time::Duration::days(30)), ..Default::default() };
    let (t, app) = seeded(abev::http::Settings { limits, ..Default::default() }).await;
    assert_eq!(get(&app, "mary@skynet.example", "/v1/entitlements/S1", None).await.status(), 200);
    let trail = t.store.entitlement_reads(&abev::domain::Serial::parse("S1").unwrap()).await.unwrap();
    let ttl: i64 = trail[0]["ttl"].as_n().unwrap().parse().unwrap();
    let in_30_days = (time::OffsetDateTime::now_utc() + time::Duration::days(30)).unix_timestamp();
    assert!((in_30_days - ttl).abs() < 120, "expires in 30 days: {ttl} vs {in_30_days}");
}
