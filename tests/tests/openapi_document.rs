//! `docs/openapi.json` is the document the code generates: regenerate it with
//! `cargo run -p abev-local -- openapi > docs/openapi.json` when this fails.

const CHECKED_IN: &str = include_str!("../../docs/openapi.json");

#[test]
fn docs_openapi_json_is_the_generated_document() {
    let generated = abev::http::openapi::document_json();
    if CHECKED_IN != generated {
        let differs_at = CHECKED_IN.lines().zip(generated.lines()).position(|(a, b)| a != b).map(|i| i + 1);
        panic!(
            "docs/openapi.json differs from the code (first differing line: {differs_at:?}); \
             regenerate it: cargo run -p abev-local -- openapi > docs/openapi.json"
        );
    }
}

#[test]
fn the_served_document_is_the_checked_in_one_and_needs_no_token() {
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    runtime.block_on(async {
        use tower::ServiceExt;
        let clients = abev::app::Clients::local("http://127.0.0.1:1", "http://127.0.0.1:1");
        let settings = abev::settings::ViewSettings { table: "unused".into(), cursor_secret: "k".into() };
        let state = abev::app::view_state(&clients, &settings, &abev::http::Settings::default());
        // The view function's router, as API Gateway reaches it with `Auth: NONE` (no claims).
        let request = http::Request::get("/v1/openapi.json").body(axum::body::Body::empty()).unwrap();
        let response = abev::http::view::router(state).oneshot(request).await.unwrap();
        assert_eq!(response.status(), 200);
        assert_eq!(response.headers()["content-type"], "application/json");
        let body = axum::body::to_bytes(response.into_body(), usize::MAX).await.unwrap();
        assert_eq!(std::str::from_utf8(&body).unwrap(), CHECKED_IN);
    });
}

#[tokio::test]
async fn the_local_host_serves_the_document_without_a_token_and_nothing_else() {
    let t = abev_integration_tests::TestStack::new().await;
    let app = abev_integration_tests::TestApp::spawn(&t).await;
    let response = app.http.get(format!("{}/v1/openapi.json", app.base)).send().await.unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.text().await.unwrap(), CHECKED_IN);
    // Only that route, only that method, is public.
    let (status, _, _) =
        abev_integration_tests::TestApp::read(app.http.post(format!("{}/v1/openapi.json", app.base)).send().await.unwrap()).await;
    assert_eq!(status, 401);
    let (status, _, _) = abev_integration_tests::TestApp::read(app.http.get(format!("{}/v1/me", app.base)).send().await.unwrap()).await;
    assert_eq!(status, 401);
}
