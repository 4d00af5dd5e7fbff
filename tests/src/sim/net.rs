//! The SDK's HTTP layer, simulated: an `HttpClient` that answers DynamoDB's and SQS's
//! awsJson1_0 protocols (`X-Amz-Target`) from the in-memory models, after a seeded virtual
//! latency (tokio's paused clock), with the faults AWS has: throttling and 500s (not
//! applied), transaction conflicts, lost answers (applied, answered with a 500), and an
//! invocation killed at its k-th call, before or after the call is applied.

use super::rng::Rng;
use super::table::{DdbError, Table};
use aws_smithy_runtime_api::client::http::{
    HttpClient, HttpConnector, HttpConnectorFuture, HttpConnectorSettings, SharedHttpClient, SharedHttpConnector,
};
use aws_smithy_runtime_api::client::orchestrator::{HttpRequest, HttpResponse};
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_runtime_api::http::StatusCode;
use aws_smithy_types::body::SdkBody;
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

/// Fault probabilities per request.
#[derive(Debug, Clone, Default)]
pub struct Faults {
    pub throttle: f64,
    pub error: f64,
    /// Transactions only: cancelled with `TransactionConflict`.
    pub conflict: f64,
    /// Writes only (every kind, transactions included): applied, the answer lost.
    pub lost: f64,
    /// Virtual latency of a request before it is applied, and of its answer, in ms.
    pub latency_ms: (u64, u64),
}

/// One function invocation, as the connector sees it: how many calls it made, and where
/// the harness wants it killed.
#[derive(Debug, Clone, Default)]
pub struct Invocation {
    pub calls: u32,
    /// Killed at this call (1-based); `true`: after the call is applied.
    pub kill_at: Option<(u32, bool)>,
    pub killed: bool,
}

/// Everything the simulated services hold, behind one lock.
#[derive(Debug)]
pub struct World {
    pub table: Table,
    pub faults: Faults,
    pub rng: Rng,
    pub invocations: BTreeMap<u64, Invocation>,
    /// The orders dead-letter queue: (body, `abev-error`).
    pub dead_letters: Vec<(String, Option<String>)>,
    /// A readable trace of what happened.
    pub trace: Vec<String>,
    pub requests: u64,
    pub injected: BTreeMap<&'static str, u64>,
}

pub type Shared = Arc<Mutex<World>>;

tokio::task_local! {
    /// The invocation whose future is being polled (unset for readers: they are not killed).
    pub static INVOCATION: u64;
}

impl World {
    pub fn note(&mut self, line: String) {
        if self.trace.len() < 20_000 {
            self.trace.push(format!("[op {}] {line}", self.table.op));
        }
    }
    fn count(&mut self, what: &'static str) {
        *self.injected.entry(what).or_default() += 1;
    }
}

/// Never ready: the call of a killed invocation (the harness drops the invocation).
struct Never;
impl Future for Never {
    type Output = Result<HttpResponse, aws_smithy_runtime_api::client::result::ConnectorError>;
    fn poll(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<Self::Output> {
        Poll::Pending
    }
}

/// The future of an invocation that the connector may kill: `None` when killed (the inner
/// future is dropped at that await point, as a Lambda's process is).
pub struct Killable<F: Future> {
    pub id: u64,
    pub world: Shared,
    pub inner: Option<Pin<Box<F>>>,
}

impl<F: Future> Future for Killable<F> {
    type Output = Option<F::Output>;
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let killed = |s: &Self| s.world.lock().unwrap().invocations.get(&s.id).is_some_and(|i| i.killed);
        if killed(&self) {
            self.inner = None;
            return Poll::Ready(None);
        }
        let id = self.id;
        let Some(inner) = self.inner.as_mut() else { return Poll::Ready(None) };
        let polled = INVOCATION.sync_scope(id, || inner.as_mut().poll(cx));
        match polled {
            Poll::Ready(v) => Poll::Ready(Some(v)),
            Poll::Pending if killed(&self) => {
                self.inner = None;
                Poll::Ready(None)
            }
            Poll::Pending => Poll::Pending,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Service {
    DynamoDb,
    Sqs,
}

#[derive(Debug, Clone)]
struct Connector {
    world: Shared,
    service: Service,
}

impl HttpClient for Connector {
    fn http_connector(&self, _: &HttpConnectorSettings, _: &RuntimeComponents) -> SharedHttpConnector {
        SharedHttpConnector::new(self.clone())
    }
}

fn response(status: u16, body: &Value) -> HttpResponse {
    let mut r = HttpResponse::new(StatusCode::try_from(status).expect("status"), SdkBody::from(body.to_string()));
    r.headers_mut().insert("content-type", "application/x-amz-json-1.0");
    r
}

fn error_response(e: &DdbError) -> HttpResponse {
    let mut r = response(e.status, &e.body());
    r.headers_mut().insert("x-amzn-errortype", e.kind.clone());
    r
}

const WRITES: &[&str] = &["PutItem", "UpdateItem", "DeleteItem", "TransactWriteItems", "BatchWriteItem"];

impl HttpConnector for Connector {
    fn call(&self, request: HttpRequest) -> HttpConnectorFuture {
        let target = request.headers().get("x-amz-target").unwrap_or_default().to_string();
        let body: Value = serde_json::from_slice(request.body().bytes().unwrap_or_default())
            .unwrap_or_else(|e| panic!("simulated AWS: request body of {target} is not JSON: {e}"));
        let op = match self.service {
            Service::DynamoDb => target.strip_prefix("DynamoDB_20120810.").map(str::to_string),
            Service::Sqs => target.strip_prefix("AmazonSQS.").map(str::to_string),
        }
        .unwrap_or_else(|| panic!("simulated AWS: unexpected X-Amz-Target {target:?}"));
        let invocation = INVOCATION.try_with(|id| *id).ok();
        let world = self.world.clone();
        let service = self.service;
        // This call's place in its invocation: the harness may kill it here.
        let kill = {
            let mut w = world.lock().unwrap();
            w.requests += 1;
            invocation.and_then(|id| {
                let inv = w.invocations.entry(id).or_default();
                inv.calls += 1;
                match inv.kill_at {
                    Some((k, after)) if k == inv.calls => Some(after),
                    _ => None,
                }
            })
        };
        let (pre, post) = {
            let mut w = world.lock().unwrap();
            let (lo, hi) = w.faults.latency_ms;
            (w.rng.range(lo, hi), w.rng.range(0, hi / 2))
        };
        HttpConnectorFuture::new(async move {
            if kill == Some(false) {
                {
                    let mut w = world.lock().unwrap();
                    let id = invocation.unwrap();
                    w.invocations.get_mut(&id).unwrap().killed = true;
                    w.note(format!("inv {id}: killed before {op}"));
                }
                return Never.await;
            }
            tokio::time::sleep(Duration::from_millis(pre)).await;
            let answer = {
                let mut w = world.lock().unwrap();
                let answer = match service {
                    Service::DynamoDb => dynamodb(&mut w, &op, &body, invocation),
                    Service::Sqs => sqs(&mut w, &op, &body, invocation),
                };
                if kill == Some(true) {
                    let id = invocation.unwrap();
                    w.invocations.get_mut(&id).unwrap().killed = true;
                    w.note(format!("inv {id}: killed after {op} was applied"));
                    None
                } else {
                    Some(answer)
                }
            };
            let Some(answer) = answer else { return Never.await };
            tokio::time::sleep(Duration::from_millis(post)).await;
            Ok(answer)
        })
    }
}

/// One DynamoDB request: faults decided, then applied to the table (or not).
fn dynamodb(w: &mut World, op: &str, body: &Value, invocation: Option<u64>) -> HttpResponse {
    w.table.tick();
    let who = invocation.map_or("reader".to_string(), |i| format!("inv {i}"));
    let f = w.faults.clone();
    if w.rng.chance(f.throttle) {
        w.count("throttled");
        w.note(format!("{who}: {op} throttled (not applied)"));
        return error_response(&DdbError::new(400, "ProvisionedThroughputExceededException", "simulated throttling"));
    }
    if w.rng.chance(f.error) {
        w.count("500 not applied");
        w.note(format!("{who}: {op} 500 (not applied)"));
        return error_response(&DdbError::new(500, "InternalServerError", "simulated internal error"));
    }
    if op == "TransactWriteItems" && w.rng.chance(f.conflict) {
        let n = body["TransactItems"].as_array().map_or(1, Vec::len);
        let at = w.rng.below(n as u64) as usize;
        let codes: Vec<String> = (0..n).map(|i| if i == at { "TransactionConflict".into() } else { "None".into() }).collect();
        w.count("transaction conflicts");
        w.note(format!("{who}: {op} TransactionConflict (not applied)"));
        return error_response(&DdbError::cancelled(&codes));
    }
    let lost = WRITES.contains(&op) && w.rng.chance(f.lost);
    let result = match op {
        "GetItem" => w.table.get_item(body),
        "BatchGetItem" => w.table.batch_get_item(body),
        "Query" => w.table.query(body),
        "PutItem" => w.table.put_item(body),
        "UpdateItem" => w.table.update_item(body),
        "DeleteItem" => w.table.delete_item(body),
        "TransactWriteItems" => w.table.transact_write_items(body),
        "BatchWriteItem" => w.table.batch_write_item(body),
        other => panic!("simulated DynamoDB: operation {other} is not simulated (table.rs sends none)"),
    };
    if WRITES.contains(&op) || result.is_err() {
        let what = describe(op, body);
        let outcome = match &result {
            Ok(_) => "applied".to_string(),
            Err(e) => e.kind.clone(),
        };
        w.note(format!("{who}: {op} {what} -> {outcome}{}", if lost { ", answer lost (500)" } else { "" }));
    }
    if lost {
        w.count("answers lost");
        return error_response(&DdbError::new(500, "InternalServerError", "simulated lost answer"));
    }
    match result {
        Ok(v) => response(200, &v),
        Err(e) => error_response(&e),
    }
}

/// A short description of a write for the trace.
fn describe(op: &str, body: &Value) -> String {
    let key = |v: &Value| {
        let k = v.get("Key").or_else(|| v.get("Item")).cloned().unwrap_or_default();
        format!("{}/{}", k["pk"]["S"].as_str().unwrap_or("?"), k["sk"]["S"].as_str().unwrap_or("?"))
    };
    match op {
        "TransactWriteItems" => {
            let items: Vec<String> = body["TransactItems"]
                .as_array()
                .map(|a| a.iter().filter_map(|i| i.as_object()?.iter().next().map(|(k, v)| format!("{k} {}", key(v)))).collect())
                .unwrap_or_default();
            format!("[{}]", items.join("; "))
        }
        "BatchWriteItem" => {
            let n = body["RequestItems"].as_object().and_then(|m| m.values().next()).and_then(Value::as_array).map_or(0, Vec::len);
            format!("({n} requests)")
        }
        _ => key(body),
    }
}

fn sqs(w: &mut World, op: &str, body: &Value, invocation: Option<u64>) -> HttpResponse {
    assert_eq!(op, "SendMessage", "simulated SQS: only SendMessage (the dead-letter queue) is simulated");
    let message = body["MessageBody"].as_str().expect("MessageBody").to_string();
    let reason = body["MessageAttributes"]["abev-error"]["StringValue"].as_str().map(str::to_string);
    w.note(format!("inv {}: dead-lettered: {}", invocation.unwrap_or(0), reason.as_deref().unwrap_or("(no abev-error)")));
    w.dead_letters.push((message, reason));
    let id = w.dead_letters.len();
    response(200, &json!({"MessageId": format!("dlq-{id}"), "MD5OfMessageBody": "00000000000000000000000000000000"}))
}

/// A DynamoDB client and an SQS client over the simulated world: dummy credentials, a
/// region, an endpoint, the SDK's retries off (the store retries itself).
pub fn clients(world: &Shared) -> (aws_sdk_dynamodb::Client, aws_sdk_sqs::Client) {
    let ddb_http = SharedHttpClient::new(Connector { world: world.clone(), service: Service::DynamoDb });
    let sqs_http = SharedHttpClient::new(Connector { world: world.clone(), service: Service::Sqs });
    let ddb = aws_sdk_dynamodb::Config::builder()
        .behavior_version(aws_sdk_dynamodb::config::BehaviorVersion::latest())
        .region(aws_sdk_dynamodb::config::Region::new("us-east-1"))
        .credentials_provider(aws_sdk_dynamodb::config::Credentials::new("sim", "sim", None, None, "abev-sim"))
        .endpoint_url("http://dynamodb.sim")
        .http_client(ddb_http)
        .retry_config(aws_sdk_dynamodb::config::retry::RetryConfig::disabled())
        .stalled_stream_protection(aws_sdk_dynamodb::config::StalledStreamProtectionConfig::disabled())
        .interceptor(abev::store::metrics::CallCounter)
        .build();
    let sqs = aws_sdk_sqs::Config::builder()
        .behavior_version(aws_sdk_sqs::config::BehaviorVersion::latest())
        .region(aws_sdk_sqs::config::Region::new("us-east-1"))
        .credentials_provider(aws_sdk_sqs::config::Credentials::new("sim", "sim", None, None, "abev-sim"))
        .endpoint_url("http://sqs.sim")
        .http_client(sqs_http)
        .retry_config(aws_sdk_sqs::config::retry::RetryConfig::disabled())
        .stalled_stream_protection(aws_sdk_sqs::config::StalledStreamProtectionConfig::disabled())
        .build();
    (aws_sdk_dynamodb::Client::from_conf(ddb), aws_sdk_sqs::Client::from_conf(sqs))
}
