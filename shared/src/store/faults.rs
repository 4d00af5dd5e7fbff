//! Fault injection between the code and DynamoDB Local, for tests and `make dev`
//! (`ABEV_FAULTS=throttle:0.1,conflict:0.05,error:0.05,lost:0.05,seed:7`).
//!
//! DynamoDB Local never throttles, never loses an answer and rarely conflicts; AWS does all
//! three. This SDK interceptor makes the emulator behave like AWS at its worst:
//! - `throttle` / `error` / `conflict`: the request is **not applied** (it is rewritten into
//!   a harmless `DescribeLimits` call) and the answer is a `ThrottlingException`, a 500
//!   `InternalServerError`, or — for `TransactWriteItems` only — a
//!   `TransactionCanceledException` whose reasons name a `TransactionConflict`;
//! - `lost`: the request **is applied**, and its answer is replaced by a 500: the write
//!   committed, the caller cannot know.
//!
//! Faults are drawn per attempt from a seeded generator (a world replays exactly), at the
//! plan's rates, or scripted for the next calls of one operation (`FaultInjector::script`).
//! It is an interceptor rather than a proxy because it runs in-process with the exact
//! operation name and needs no port; it is installed only on local clients.

use aws_sdk_dynamodb::config::interceptors::{BeforeDeserializationInterceptorContextMut, BeforeTransmitInterceptorContextMut};
use aws_sdk_dynamodb::config::{ConfigBag, Intercept, RuntimeComponents};
use aws_smithy_runtime_api::client::orchestrator::HttpResponse;
use aws_smithy_runtime_api::http::StatusCode;
use aws_smithy_types::body::SdkBody;
use aws_smithy_types::config_bag::{Storable, StoreReplace};
use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

/// One injected failure.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Fault {
    /// Not applied; `ThrottlingException`.
    Throttle,
    /// Not applied; HTTP 500 `InternalServerError`.
    Error,
    /// Not applied; `TransactionCanceledException` with a `TransactionConflict` reason.
    Conflict,
    /// Applied; the answer is lost (HTTP 500).
    Lost,
}

/// Rates per attempt (0.0–1.0) and the generator's seed.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct FaultPlan {
    pub throttle: f64,
    pub error: f64,
    pub conflict: f64,
    pub lost: f64,
    pub seed: u64,
}

impl FaultPlan {
    /// Parses `throttle:0.1,conflict:0.05,error:0.05,lost:0.05,seed:7` (any subset).
    pub fn parse(spec: &str) -> Result<FaultPlan, String> {
        let mut plan = FaultPlan { seed: 1, ..FaultPlan::default() };
        for part in spec.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let (name, value) = part.split_once(':').ok_or_else(|| format!("fault {part:?}: expected NAME:VALUE"))?;
            if name == "seed" {
                plan.seed = value.parse().map_err(|_| format!("fault seed {value:?} is not a whole number"))?;
                continue;
            }
            let rate: f64 = value.parse().map_err(|_| format!("fault {name}: {value:?} is not a number"))?;
            if !(0.0..=1.0).contains(&rate) {
                return Err(format!("fault {name}: rate {rate} is not between 0 and 1"));
            }
            match name {
                "throttle" => plan.throttle = rate,
                "error" => plan.error = rate,
                "conflict" => plan.conflict = rate,
                "lost" => plan.lost = rate,
                other => return Err(format!("unknown fault {other:?} (throttle, error, conflict, lost, seed)")),
            }
        }
        Ok(plan)
    }
}

/// The interceptor. Share it (`Arc`) to change the plan or script faults while it runs.
#[derive(Debug)]
pub struct FaultInjector {
    plan: Mutex<FaultPlan>,
    rng: AtomicU64,
    /// (operation, fault) pairs served to the next calls of that operation, in order.
    /// Scripted faults: (operation, fault, calls of that operation to let pass first).
    script: Mutex<VecDeque<(String, Fault, u32)>>,
    injected: AtomicU64,
}

impl FaultInjector {
    pub fn new(plan: FaultPlan) -> FaultInjector {
        let seed = plan.seed.max(1);
        FaultInjector {
            plan: Mutex::new(plan),
            rng: AtomicU64::new(seed),
            script: Mutex::new(VecDeque::new()),
            injected: AtomicU64::new(0),
        }
    }

    /// Replaces the rates (the generator keeps its position).
    pub fn set_plan(&self, plan: FaultPlan) {
        *self.plan.lock().unwrap_or_else(|e| e.into_inner()) = plan;
    }

    /// The next call of `operation` (e.g. `TransactWriteItems`) fails with `fault`; calls
    /// queue up, each served once, before any random fault.
    pub fn script(&self, operation: &str, fault: Fault) {
        self.script_nth(operation, 1, fault);
    }

    /// Injects `fault` into the `nth` (1-based) next call of `operation`; the calls before it pass.
    pub fn script_nth(&self, operation: &str, nth: u32, fault: Fault) {
        self.script.lock().unwrap_or_else(|e| e.into_inner()).push_back((operation.to_string(), fault, nth.saturating_sub(1)));
    }

    /// How many faults were injected so far.
    pub fn injected(&self) -> u64 {
        self.injected.load(Ordering::Relaxed)
    }

    fn next_unit(&self) -> f64 {
        // xorshift64*: deterministic per seed, good enough to pick faults.
        let mut x = self.rng.load(Ordering::Relaxed);
        loop {
            let mut y = x;
            y ^= y >> 12;
            y ^= y << 25;
            y ^= y >> 27;
            match self.rng.compare_exchange_weak(x, y, Ordering::Relaxed, Ordering::Relaxed) {
                Ok(_) => return (y.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 11) as f64 / (1u64 << 53) as f64,
                Err(current) => x = current,
            }
        }
    }

    fn choose(&self, operation: &str) -> Option<Fault> {
        {
            let mut script = self.script.lock().unwrap_or_else(|e| e.into_inner());
            if let Some(i) = script.iter().position(|(op, _, _)| op == operation) {
                if script[i].2 > 0 {
                    script[i].2 -= 1;
                    return None;
                }
                return script.remove(i).map(|(_, f, _)| f);
            }
        }
        let plan = self.plan.lock().unwrap_or_else(|e| e.into_inner()).clone();
        let draw = self.next_unit();
        let conflict = if operation == "TransactWriteItems" { plan.conflict } else { 0.0 };
        let mut edge = 0.0;
        for (rate, fault) in
            [(plan.throttle, Fault::Throttle), (plan.error, Fault::Error), (conflict, Fault::Conflict), (plan.lost, Fault::Lost)]
        {
            edge += rate;
            if draw < edge {
                return Some(fault);
            }
        }
        None
    }
}

/// The fault chosen for the current attempt, and the number of items of a transaction.
#[derive(Debug, Clone)]
struct Chosen(Option<(Fault, usize)>);

impl Storable for Chosen {
    type Storer = StoreReplace<Chosen>;
}

const TARGET: &str = "x-amz-target";
const TARGET_PREFIX: &str = "DynamoDB_20120810.";

impl Intercept for FaultInjector {
    fn name(&self) -> &'static str {
        "abev-fault-injector"
    }

    fn modify_before_transmit(
        &self,
        context: &mut BeforeTransmitInterceptorContextMut<'_>,
        _components: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), aws_sdk_dynamodb::error::BoxError> {
        let request = context.request_mut();
        let operation = request.headers().get(TARGET).and_then(|t| t.strip_prefix(TARGET_PREFIX)).unwrap_or_default().to_string();
        let chosen = self.choose(&operation).map(|fault| {
            let items = request
                .body()
                .bytes()
                .and_then(|b| serde_json::from_slice::<serde_json::Value>(b).ok())
                .and_then(|v| v.get("TransactItems").and_then(|t| t.as_array()).map(Vec::len))
                .unwrap_or(1);
            (fault, items)
        });
        if let Some((fault, _)) = chosen {
            self.injected.fetch_add(1, Ordering::Relaxed);
            tracing::debug!(operation, ?fault, "injecting a DynamoDB fault");
            if fault != Fault::Lost {
                // Not applied: the emulator answers a call that changes nothing.
                request.headers_mut().insert(TARGET, format!("{TARGET_PREFIX}DescribeLimits"));
                request.headers_mut().insert("content-length", "2");
                *request.body_mut() = SdkBody::from("{}");
            }
        }
        cfg.interceptor_state().store_put(Chosen(chosen));
        Ok(())
    }

    fn modify_before_deserialization(
        &self,
        context: &mut BeforeDeserializationInterceptorContextMut<'_>,
        _components: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), aws_sdk_dynamodb::error::BoxError> {
        let Some(Chosen(Some((fault, items)))) = cfg.load::<Chosen>().cloned() else { return Ok(()) };
        let (status, body) = match fault {
            Fault::Throttle => (
                400,
                serde_json::json!({"__type": "com.amazonaws.dynamodb.v20120810#ThrottlingException", "message": "injected: rate exceeded"}),
            ),
            Fault::Error | Fault::Lost => (
                500,
                serde_json::json!({"__type": "com.amazonaws.dynamodb.v20120810#InternalServerError", "message": format!("injected: {fault:?}")}),
            ),
            Fault::Conflict => {
                // The first item conflicts; the others are innocent, as AWS reports them.
                let reasons: Vec<serde_json::Value> = (0..items.max(1))
                    .map(|i| {
                        if i == 0 {
                            serde_json::json!({"Code": "TransactionConflict", "Message": "injected: transaction conflict"})
                        } else {
                            serde_json::json!({"Code": "None"})
                        }
                    })
                    .collect();
                (
                    400,
                    serde_json::json!({"__type": "com.amazonaws.dynamodb.v20120810#TransactionCanceledException",
                                       "Message": "Transaction cancelled (injected)", "CancellationReasons": reasons}),
                )
            }
        };
        let mut response = HttpResponse::new(StatusCode::try_from(status).expect("a valid status"), SdkBody::from(body.to_string()));
        response.headers_mut().insert("content-type", "application/x-amz-json-1.0");
        *context.response_mut() = response;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plan_parses_every_fault_and_refuses_nonsense() {
        let plan = FaultPlan::parse("throttle:0.1, conflict:0.05,error:0.02,lost:0.01,seed:9").unwrap();
        assert_eq!(plan, FaultPlan { throttle: 0.1, conflict: 0.05, error: 0.02, lost: 0.01, seed: 9 });
        assert!(FaultPlan::parse("throttle:2").is_err());
        assert!(FaultPlan::parse("melt:0.1").is_err());
        assert!(FaultPlan::parse("throttle").is_err());
    }

    #[test]
    fn scripted_faults_come_first_and_once_and_rates_are_honoured() {
        let injector = FaultInjector::new(FaultPlan { seed: 3, ..FaultPlan::default() });
        injector.script("TransactWriteItems", Fault::Conflict);
        assert_eq!(injector.choose("GetItem"), None);
        assert_eq!(injector.choose("TransactWriteItems"), Some(Fault::Conflict));
        assert_eq!(injector.choose("TransactWriteItems"), None);
        injector.set_plan(FaultPlan { throttle: 0.5, seed: 3, ..FaultPlan::default() });
        let throttled = (0..10_000).filter(|_| injector.choose("Query") == Some(Fault::Throttle)).count();
        assert!((4_500..5_500).contains(&throttled), "about half: {throttled}");
        // Conflicts exist only for transactions.
        injector.set_plan(FaultPlan { conflict: 1.0, seed: 3, ..FaultPlan::default() });
        assert_eq!(injector.choose("PutItem"), None);
        assert_eq!(injector.choose("TransactWriteItems"), Some(Fault::Conflict));
    }
}
