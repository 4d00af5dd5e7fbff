//! The set-up the access tests share (`tests/access.rs`, `tests/access_paths.rs`,
//! `tests/access_lifecycle.rs`): a stack seeded with the worked example and the API over it,
//! Care's agent, raw calls whose error answers are checked to be problems, and making an admin.

use crate::{worked_example, TestApp, TestStack};
use reqwest::Method;
use serde_json::{json, Value};

/// The Customer Care agent of the access tests.
pub const CARE: &str = "carla@care.example";

/// A stack with the worked example ingested, and the local API over it.
pub async fn seeded() -> (TestStack, TestApp) {
    let t = TestStack::new().await;
    let (orders, _) = worked_example();
    t.ingest(&orders).await;
    let app = TestApp::spawn(&t).await;
    (t, app)
}

/// A request with a JSON body as `token`; every error answer is checked to be a problem, and
/// a `Retry-After` header is added to its body as `retry_after` (whole seconds).
pub async fn call(app: &TestApp, method: Method, token: &str, path: &str, body: Value) -> (u16, Value) {
    let response = app.http.request(method, format!("{}{path}", app.base)).bearer_auth(token).json(&body).send().await.expect("request");
    let retry_after = response.headers().get("retry-after").and_then(|v| v.to_str().ok()).map(str::to_string);
    let (status, content_type, mut body) = TestApp::read(response).await;
    if status >= 400 {
        assert_eq!(content_type, "application/problem+json", "{status} {body}");
        assert_eq!(body["status"], status, "{body}");
        if let (Some(v), Some(map)) = (retry_after, body.as_object_mut()) {
            map.insert("retry_after".into(), json!(v.parse::<u64>().expect("whole seconds")));
        }
    }
    (status, body)
}

/// Makes `email` an admin of `site`: ask, Care approves (the site has none yet).
pub async fn make_admin(app: &TestApp, email: &str, site: &str) {
    let (status, r) = call(app, Method::POST, &app.token(email), "/v1/access-requests", json!({"support_id": site, "role": "admin"})).await;
    assert_eq!(status, 201, "{r}");
    let id = r["request_id"].as_str().unwrap();
    let (status, r) = call(app, Method::POST, &app.care_token(CARE), &format!("/v1/access-requests/{id}/approve"), json!(null)).await;
    assert_eq!(status, 200, "{r}");
}
