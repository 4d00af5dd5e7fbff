//! The request log line names the caller. Its own test binary: it installs the process's
//! log subscriber, which no other test may share.

use abev_integration_tests::{worked_example, TestApp, TestStack};

async fn seeded() -> (TestStack, TestApp) {
    let t = TestStack::new().await;
    let (orders, _) = worked_example();
    t.ingest(&orders).await;
    let app = TestApp::spawn(&t).await;
    (t, app)
}

/// A log sink for one test (the server runs on the test's own single-threaded runtime).
#[derive(Clone, Default)]
struct Logs(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

impl std::io::Write for Logs {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test]
async fn each_request_line_names_the_caller() {
    let (_t, app) = seeded().await;
    let logs = Logs::default();
    let sink = logs.clone();
    let subscriber = tracing_subscriber::fmt().json().with_writer(move || sink.clone()).finish();
    tracing::subscriber::set_global_default(subscriber).expect("this binary's only subscriber");
    app.client("Mary@Skynet.example").me().await.unwrap();
    assert_eq!(app.care_client("carla@care.example").entitlement("NOPE").await.unwrap_err().status(), Some(404));
    let text = String::from_utf8(logs.0.lock().unwrap().clone()).unwrap();
    let lines: Vec<serde_json::Value> = text
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|l| l["fields"]["message"] == "request")
        .collect();
    let callers: Vec<(&str, &str, bool)> = lines
        .iter()
        .map(|l| (l["fields"]["path"].as_str().unwrap(), l["fields"]["caller"].as_str().unwrap(), l["fields"]["care"].as_bool().unwrap()))
        .collect();
    assert_eq!(callers, [("/v1/me", "mary@skynet.example", false), ("/v1/entitlements/NOPE", "carla@care.example", true)], "{text}");
}
