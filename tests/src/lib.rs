//! The one test harness: every integration test starts its own isolated stack (its own
//! table and queues, created from `template.yaml`) on the shared DynamoDB Local and moto,
//! which `make test` starts.

use abev::domain::access::Rollout;
use abev::domain::{Day, Email, SupportId};
use abev::ingest::Ingestor;
use abev::store::faults::{FaultInjector, FaultPlan};
use abev::store::orders::{ApplyError, ApplyOptions, Checkpoints, Step};
use abev::store::view::EntitlementFilter;
use abev::store::{RetryPolicy, Store};
use abev_local::event_source::EventSource;
use abev_local::infra::{LocalStack, TableStream};
use aws_sdk_sqs::types::MessageAttributeValue;
use std::collections::BTreeMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

pub mod access_fixtures;
pub mod sim;
pub mod world;

pub const TEMPLATE: &str = include_str!("../../template.yaml");

/// A contact's view as plain data: site → serial → access rules.
pub type PlainView = BTreeMap<String, BTreeMap<String, Vec<String>>>;

pub struct TestStack {
    /// Every stack's DynamoDB client goes through a fault injector (no faults unless a test
    /// asks: [`TestStack::with_faults`], or `faults.script(..)`).
    pub faults: Arc<FaultInjector>,
    pub stack: LocalStack,
    pub store: Store,
    pub ddb: aws_sdk_dynamodb::Client,
    pub sqs: aws_sdk_sqs::Client,
    pub ingestor: Ingestor,
    pub source: EventSource,
    pub cleanup: StackCleanup,
}

pub fn endpoints() -> (String, String) {
    (
        std::env::var("ABEV_TEST_DYNAMODB_URL").unwrap_or_else(|_| "http://127.0.0.1:8000".into()),
        std::env::var("ABEV_TEST_SQS_URL").unwrap_or_else(|_| "http://127.0.0.1:9324".into()),
    )
}

/// Deletes a test stack's table and queues when the stack goes (on a thread of its own: a
/// test ends inside its runtime). DynamoDB Local keeps every table and its items in one
/// SQLite database: left behind by ~300 tests, they made every later request of a `make test`
/// run many times slower. (Stream records outlive even a deleted table: test stacks have no
/// stream unless they read it, `TestStack::with_stream`.)
pub struct StackCleanup {
    table: String,
    queues: Vec<String>,
}

impl Drop for StackCleanup {
    fn drop(&mut self) {
        let (table, queues) = (std::mem::take(&mut self.table), std::mem::take(&mut self.queues));
        let done = std::thread::spawn(move || {
            let Ok(runtime) = tokio::runtime::Builder::new_current_thread().enable_all().build() else { return };
            runtime.block_on(async {
                // Clients of this runtime (a client's connections belong to the runtime that
                // opened them) and without the test's faults.
                let (ddb_url, sqs_url) = endpoints();
                let (ddb, sqs) = abev::aws::local_clients_with(&ddb_url, &sqs_url, None, None);
                let _ = ddb.delete_table().table_name(&table).send().await;
                for url in queues {
                    let _ = sqs.delete_queue().queue_url(url).send().await;
                }
            });
        });
        let _ = done.join();
    }
}

impl TestStack {
    /// A stack without the table's stream (`TableStream::Off`: in DynamoDB Local stream records
    /// outlive their table and slow every later write; only the events tests read one).
    pub async fn new() -> TestStack {
        Self::with_options(ApplyOptions::default()).await
    }

    /// A stack whose table has the template's stream (the change-events tests).
    pub async fn with_stream() -> TestStack {
        Self::build(ApplyOptions::default(), FaultPlan::default(), None, TableStream::AsTemplate).await
    }

    pub async fn with_options(options: ApplyOptions) -> TestStack {
        Self::build(options, FaultPlan::default(), None, TableStream::Off).await
    }

    /// A stack whose DynamoDB fails like AWS at its worst, at `plan`'s rates, with the SDK's
    /// own retries off (as when their quota is spent): every fault reaches the store.
    pub async fn with_faults(plan: FaultPlan) -> TestStack {
        Self::build(ApplyOptions::default(), plan, Some(1), TableStream::Off).await
    }

    async fn build(options: ApplyOptions, plan: FaultPlan, sdk_attempts: Option<u32>, stream: TableStream) -> TestStack {
        let (ddb_url, sqs_url) = endpoints();
        // Faults start once the stack exists: creating it is not under test.
        let faults = Arc::new(FaultInjector::new(FaultPlan { seed: plan.seed, ..FaultPlan::default() }));
        let (dynamodb, sqs) = abev::aws::local_clients_with(&ddb_url, &sqs_url, Some(faults.clone()), sdk_attempts);
        let clients = abev::app::Clients { dynamodb, sqs };
        let (ddb, sqs) = (clients.dynamodb.clone(), clients.sqs.clone());
        let name = format!("t{}", &uuid::Uuid::new_v4().simple().to_string()[..12]);
        let stack = abev_local::infra::create_with(&ddb, &sqs, TEMPLATE, &name, stream).await.unwrap_or_else(|e| {
            panic!("creating the test stack failed ({e}); is the local stack up? run `make test` or `scripts/services.sh start`")
        });
        faults.set_plan(plan);
        // Built as the Lambda builds it (the composition root), with the test's options and
        // fast retries (fault-heavy tests stay short; the policy's shape is the production one).
        let retry = RetryPolicy { base: Duration::from_millis(2), cap: Duration::from_millis(50), ..RetryPolicy::default() };
        let built = abev::app::ingestor(&clients, &stack.ingest_settings());
        let ingestor = Ingestor { options, store: built.store.clone().with_retry(retry), ..built };
        let store = ingestor.store.clone();
        let source = EventSource {
            sqs: sqs.clone(),
            queue_url: stack.orders_queue().to_string(),
            wait: Duration::ZERO,
            retry_after: Duration::ZERO,
        };
        let cleanup = StackCleanup { table: stack.table.clone(), queues: stack.queues.values().cloned().collect() };
        TestStack { faults, stack, store, ddb, sqs, ingestor, source, cleanup }
    }

    pub async fn send(&self, body: &str) {
        self.sqs.send_message().queue_url(self.stack.orders_queue()).message_body(body).send().await.expect("send order");
    }

    /// Runs the event source until the orders queue has nothing visible left.
    pub async fn drain(&self) {
        for _ in 0..1000 {
            if self.source.poll_once(&self.ingestor).await.expect("poll") == 0 {
                return;
            }
        }
        panic!("the orders queue never drained");
    }

    /// Applies bodies directly through the message handler (no queue), in order. A message
    /// left for retry is delivered again, as SQS would (DynamoDB Local answers
    /// `InternalServerError` when a loaded machine keeps a request waiting on its lock); tests
    /// that check one delivery's outcome call `handle_message` themselves.
    pub async fn ingest(&self, bodies: &[&str]) {
        for (i, body) in bodies.iter().enumerate() {
            let mut outcome = self.ingestor.handle_message(&format!("m{i}"), body).await;
            for delivery in 2..=INGEST_DELIVERIES {
                if !matches!(outcome, abev::ingest::MessageOutcome::Retry(_)) {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(200 * delivery as u64)).await;
                outcome = self.ingestor.handle_message(&format!("m{i}"), body).await;
            }
            assert!(outcome.acknowledged(), "message {i} was not acknowledged: {outcome:?}");
        }
    }

    /// Every message visible on `queue_url`, each received once and then left hidden.
    pub async fn receive_all(&self, queue_url: &str) -> Vec<aws_sdk_sqs::types::Message> {
        let mut out = Vec::new();
        loop {
            let got = self
                .sqs
                .receive_message()
                .queue_url(queue_url)
                .max_number_of_messages(10)
                .message_attribute_names("All")
                .visibility_timeout(600)
                .send()
                .await
                .expect("receive");
            let messages = got.messages.unwrap_or_default();
            if messages.is_empty() {
                return out;
            }
            out.extend(messages);
        }
    }

    /// Every message on the orders dead-letter queue: (body, abev-error reason).
    pub async fn dead_letters(&self) -> Vec<(String, String)> {
        self.receive_all(self.stack.orders_dlq())
            .await
            .into_iter()
            .map(|m| {
                let reason = m
                    .message_attributes()
                    .and_then(|a| a.get(abev::ingest::ERROR_ATTRIBUTE))
                    .and_then(MessageAttributeValue::string_value)
                    .unwrap_or_default()
                    .to_string();
                (m.body.unwrap_or_default(), reason)
            })
            .collect()
    }

    /// A contact's whole view through the read side, paging `page_size` at a time.
    pub async fn view(&self, email: &str, page_size: usize) -> PlainView {
        let email = Email::parse(email).unwrap();
        let mut view = PlainView::new();
        let mut after: Option<SupportId> = None;
        loop {
            let page = self.store.view_sites(&email, Rollout::Everyone, after.as_ref(), page_size).await.expect("view sites");
            for site in page.items {
                let serials = self.site_serials(&email, &site.support_id, page_size).await;
                assert_eq!(serials.len() as u64, site.entitlement_count, "entitlement_count of {} for {email}", site.support_id);
                view.insert(site.support_id.to_string(), serials);
            }
            match page.next {
                Some(next) => after = Some(next),
                None => return view,
            }
        }
    }

    async fn site_serials(&self, email: &Email, site: &SupportId, page_size: usize) -> BTreeMap<String, Vec<String>> {
        let mut out = BTreeMap::new();
        let mut after: Option<String> = None;
        loop {
            let (_, page) = self
                .store
                .site_entitlements(email, Rollout::Everyone, site, after.as_deref(), page_size, &EntitlementFilter::default(), Day::today())
                .await
                .expect("site entitlements")
                .expect("a site in the view is visible");
            for e in page.items {
                let rules = e.access.iter().map(|a| serde_json::to_value(a).unwrap().as_str().unwrap().to_string()).collect();
                assert!(out.insert(e.line.line.serial.to_string(), rules).is_none(), "serial listed twice");
            }
            match page.next {
                Some(next) => after = Some(next.to_string()),
                None => return out,
            }
        }
    }
}

/// The worked example's five messages and expected views.
pub fn worked_example() -> (Vec<&'static str>, BTreeMap<String, PlainView>) {
    let orders = abev_local::seed::WORKED_EXAMPLE.iter().map(|(_, body)| *body).collect();
    let expected = serde_json::from_str(include_str!("../fixtures/worked-example/expected-views.json")).unwrap();
    (orders, expected)
}

/// A small order message for tests.
pub fn order_json(
    order_id: &str,
    version: u64,
    status: &str,
    end: (&str, &[&str]),
    reseller: Option<(&str, &[&str])>,
    ship_to: Option<(&str, &[&str])>,
    serials: &[&str],
) -> String {
    let party = |(site, contacts): (&str, &[&str])| {
        serde_json::json!({"site": {"support_id": site, "name": format!("{site} Ltd")},
                           "contacts": contacts.iter().map(|e| serde_json::json!({"email": e})).collect::<Vec<_>>()})
    };
    serde_json::json!({
        "schema": "abev.order.v1", "order_id": order_id, "version": version, "status": status,
        "ordered_at": "2026-04-01T10:00:00Z",
        "end_customer": party(end), "reseller": reseller.map(party), "ship_to": ship_to.map(party),
        "lines": serials.iter().map(|s| serde_json::json!({
            "serial": s, "sku": "SKU-1", "product": "Product One", "quantity": 1,
            "starts_on": "2026-01-01", "ends_on": "2099-12-31", "license_keys": [format!("LK-{s}")],
            "download_url": "https://downloads.example/p"})).collect::<Vec<_>>()
    })
    .to_string()
}

/// The local API (both functions' routes behind the stand-in authorizer) served on a
/// random loopback port for one test stack.
pub struct TestApp {
    pub base: String,
    pub secret: String,
    pub http: reqwest::Client,
    pub state: abev::http::AppState,
}

pub const TEST_JWT_SECRET: &str = "test-jwt-secret";

impl TestApp {
    pub async fn spawn(t: &TestStack) -> TestApp {
        TestApp::spawn_with(t, abev::http::Settings::default()).await
    }

    /// The local API with these settings (limits, identity configuration, rollout).
    pub async fn spawn_with(t: &TestStack, settings: abev::http::Settings) -> TestApp {
        // Built as the access Lambda builds it (the composition root).
        let clients = abev::app::Clients { dynamodb: t.ddb.clone(), sqs: t.sqs.clone() };
        let mut state = abev::app::access_state(&clients, &t.stack.access_settings("test-cursor-secret", 14), &settings);
        // The stack's store, with its fast retries.
        state.store = t.store.clone();
        let authorizer = abev_local::local_auth::LocalAuthorizer {
            secret: TEST_JWT_SECRET.into(),
            issuer: abev_local::jwt::LOCAL_ISSUER.into(),
            audience: abev_local::jwt::LOCAL_AUDIENCE.into(),
        };
        let app = abev_local::server::app(state.clone(), authorizer);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let base = format!("http://{}", listener.local_addr().expect("addr"));
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        TestApp { base, secret: TEST_JWT_SECRET.into(), http: reqwest::Client::new(), state }
    }

    pub fn token(&self, email: &str) -> String {
        abev_local::jwt::mint_for(&self.secret, email, false)
    }

    pub fn care_token(&self, email: &str) -> String {
        abev_local::jwt::mint_for(&self.secret, email, true)
    }

    /// The typed API client, calling as `email`.
    pub fn client(&self, email: &str) -> abev_client::ApiClient {
        abev_client::ApiClient::new(&self.base, &self.token(email))
    }

    /// The typed API client, calling as Customer Care agent `email`.
    pub fn care_client(&self, email: &str) -> abev_client::ApiClient {
        abev_client::ApiClient::new(&self.base, &self.care_token(email))
    }

    /// GET with a bearer token; returns (status, content type, JSON body).
    pub async fn get(&self, token: &str, path: &str) -> (u16, String, serde_json::Value) {
        let response = self.http.get(format!("{}{path}", self.base)).bearer_auth(token).send().await.expect("request");
        Self::read(response).await
    }

    pub async fn send_json(
        &self,
        method: reqwest::Method,
        token: &str,
        path: &str,
        body: serde_json::Value,
    ) -> (u16, String, serde_json::Value) {
        let response =
            self.http.request(method, format!("{}{path}", self.base)).bearer_auth(token).json(&body).send().await.expect("request");
        Self::read(response).await
    }

    pub async fn read(response: reqwest::Response) -> (u16, String, serde_json::Value) {
        let status = response.status().as_u16();
        let content_type = response.headers().get("content-type").and_then(|v| v.to_str().ok()).unwrap_or_default().to_string();
        let text = response.text().await.expect("body");
        let body = serde_json::from_str(&text).unwrap_or(serde_json::Value::String(text));
        (status, content_type, body)
    }
}

impl TestStack {
    /// The table's item at `key` as stored, read consistently (bypassing the store: what a
    /// test checks the store wrote).
    pub async fn stored_item(&self, key: &abev::store::keys::Key) -> Option<abev::store::keys::Item> {
        self.ddb.get_item().table_name(&self.stack.table).set_key(Some(key.to_item())).consistent_read(true).send().await.unwrap().item
    }

    /// One site's entitlements as `email` sees them, walked `page_size` at a time; `None`
    /// when the site is not visible to them at all.
    pub async fn site_view(&self, email: &str, site: &str, page_size: usize) -> Option<BTreeMap<String, Vec<String>>> {
        let (email, site) = (Email::parse(email).unwrap(), SupportId::parse(site).unwrap());
        let first = self
            .store
            .site_entitlements(&email, Rollout::Everyone, &site, None, page_size, &EntitlementFilter::default(), Day::today())
            .await
            .expect("site entitlements");
        first.as_ref()?;
        Some(self.site_serials(&email, &site, page_size).await)
    }
}

/// A Lambda killed right after `step`: applying the order stops there with an error.
#[derive(Debug)]
struct CrashAfter(Step);

impl Checkpoints for CrashAfter {
    fn reached(&self, step: Step) -> Pin<Box<dyn Future<Output = Result<(), ApplyError>> + Send + '_>> {
        Box::pin(async move {
            if step == self.0 {
                Err(ApplyError::Interrupted(step))
            } else {
                Ok(())
            }
        })
    }
}

/// A delivery held right after `step` (the first time it gets there): it waits at the
/// barrier twice, once to say it got there and once to be let go. A wait that runs out fails
/// the test (panics): another interleaving than the one the test asked for must never pass
/// silently.
/// How many times [`TestStack::ingest`] delivers a message left for retry.
const INGEST_DELIVERIES: usize = 5;

/// How long a paused delivery waits for the test's other side before failing the test.
const PAUSE_LIMIT: Duration = Duration::from_secs(120);

#[derive(Debug)]
struct PauseAfter(Step, Arc<tokio::sync::Barrier>, std::sync::atomic::AtomicBool);

impl Checkpoints for PauseAfter {
    fn reached(&self, step: Step) -> Pin<Box<dyn Future<Output = Result<(), ApplyError>> + Send + '_>> {
        Box::pin(async move {
            if step == self.0 && !self.2.swap(true, std::sync::atomic::Ordering::SeqCst) {
                // Generous: on a loaded 2-core machine the other side's ingestion can take tens
                // of seconds; only an interleaving that never happens should fail here.
                for which in ["to arrive", "to be let go"] {
                    if tokio::time::timeout(PAUSE_LIMIT, self.1.wait()).await.is_err() {
                        panic!(
                            "the delivery paused after {step:?} waited {PAUSE_LIMIT:?} {which}: the interleaving under test did not happen"
                        );
                    }
                }
            }
            Ok(())
        })
    }
}

/// The test's side of a [`pause_after`] barrier: fails, as the paused delivery does, when the
/// other side does not come within the same limit (the interleaving did not happen), instead of
/// waiting for ever.
pub async fn meet(barrier: &tokio::sync::Barrier, what: &str) {
    if tokio::time::timeout(PAUSE_LIMIT, barrier.wait()).await.is_err() {
        panic!("waited {PAUSE_LIMIT:?} for the paused delivery ({what}): the interleaving under test did not happen");
    }
}

/// Options that stop applying an order right after `step`, as a Lambda killed there.
pub fn crash_after(step: Step) -> ApplyOptions {
    ApplyOptions::with_checkpoints(Arc::new(CrashAfter(step)))
}

/// Options that hold a delivery right after `step` until the test lets it go (see the barrier
/// protocol of `PauseAfter`).
pub fn pause_after(step: Step, barrier: Arc<tokio::sync::Barrier>) -> ApplyOptions {
    ApplyOptions::with_checkpoints(Arc::new(PauseAfter(step, barrier, Default::default())))
}
