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
        let (ddb, _) = abev::aws::local_clients("http://127.0.0.1:1", "http://127.0.0.1:1");
        let state = abev::http::AppState {
            store: abev::store::Store::new(ddb, "unused".to_string()),
            cursors: std::sync::Arc::new(abev::http::cursor::CursorKey::new("k")),
            care: None,
            admin_sla_days: 14,
            settings: abev::http::Settings::default(),
        };
        // The view function's router, as API Gateway reaches it with `Auth: NONE` (no claims).
        let request = http::Request::get("/v1/openapi.json").body(axum::body::Body::empty()).unwrap();
        let response = abev::http::view::router(state).oneshot(request).await.unwrap();
        assert_eq!(response.status(), 200);
        assert_eq!(response.headers()["content-type"], "application/json");
        let body = axum::body::to_bytes(response.into_body(), usize::MAX).await.unwrap();
        assert_eq!(std::str::from_utf8(&body).unwrap(), CHECKED_IN);
    });
}
