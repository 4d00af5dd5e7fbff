//! Counts DynamoDB round trips and consumed capacity per unit of work (one HTTP request,
//! one order message), so budgets are checked in tests and reported in logs.
//!
//! Calls are counted by an SDK interceptor on the client, so no call can slip past;
//! capacity is read from each response, which is asked for `ReturnConsumedCapacity`.

use aws_sdk_dynamodb::config::interceptors::BeforeSerializationInterceptorContextRef;
use aws_sdk_dynamodb::config::{ConfigBag, Intercept};
use aws_sdk_dynamodb::types::ConsumedCapacity;
use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

#[derive(Debug, Default)]
struct Counters {
    calls: AtomicU64,
    read_milli: AtomicU64,
    write_milli: AtomicU64,
}

tokio::task_local! {
    static CURRENT: Arc<Counters>;
}

/// What one unit of work cost.
#[derive(Debug, Clone, Copy, Default, PartialEq, serde::Serialize)]
pub struct Cost {
    pub ddb_calls: u64,
    pub read_capacity: f64,
    pub write_capacity: f64,
}

/// Runs `work`, counting the DynamoDB calls and capacity it uses (within the same task).
pub async fn measured<F: Future>(work: F) -> (F::Output, Cost) {
    let counters = Arc::new(Counters::default());
    let out = CURRENT.scope(counters.clone(), work).await;
    // A measured unit inside another one counts toward both.
    let _ = CURRENT.try_with(|outer| {
        outer.calls.fetch_add(counters.calls.load(Ordering::Relaxed), Ordering::Relaxed);
        outer.read_milli.fetch_add(counters.read_milli.load(Ordering::Relaxed), Ordering::Relaxed);
        outer.write_milli.fetch_add(counters.write_milli.load(Ordering::Relaxed), Ordering::Relaxed);
    });
    let cost = Cost {
        ddb_calls: counters.calls.load(Ordering::Relaxed),
        read_capacity: counters.read_milli.load(Ordering::Relaxed) as f64 / 1000.0,
        write_capacity: counters.write_milli.load(Ordering::Relaxed) as f64 / 1000.0,
    };
    (out, cost)
}

pub(crate) fn record_capacity<'a>(capacity: impl IntoIterator<Item = &'a ConsumedCapacity>) {
    let _ = CURRENT.try_with(|c| {
        for cap in capacity {
            let read = cap.read_capacity_units().unwrap_or(0.0);
            let write = cap.write_capacity_units().unwrap_or(0.0);
            // DynamoDB Local reports only the total; attribute it by the kind of call.
            let total = cap.capacity_units().unwrap_or(0.0);
            let (read, write) = if read == 0.0 && write == 0.0 { (total, 0.0) } else { (read, write) };
            c.read_milli.fetch_add((read * 1000.0) as u64, Ordering::Relaxed);
            c.write_milli.fetch_add((write * 1000.0) as u64, Ordering::Relaxed);
        }
    });
}

pub(crate) fn record_write_capacity<'a>(capacity: impl IntoIterator<Item = &'a ConsumedCapacity>) {
    let _ = CURRENT.try_with(|c| {
        for cap in capacity {
            let write = cap.write_capacity_units().unwrap_or(0.0).max(cap.capacity_units().unwrap_or(0.0));
            c.write_milli.fetch_add((write * 1000.0) as u64, Ordering::Relaxed);
        }
    });
}

/// The interceptor that counts every DynamoDB operation the client executes.
#[derive(Debug, Default)]
pub struct CallCounter;

impl Intercept for CallCounter {
    fn name(&self) -> &'static str {
        "abev-call-counter"
    }
    fn read_before_execution(
        &self,
        _context: &BeforeSerializationInterceptorContextRef<'_>,
        _cfg: &mut ConfigBag,
    ) -> Result<(), aws_sdk_dynamodb::error::BoxError> {
        let _ = CURRENT.try_with(|c| c.calls.fetch_add(1, Ordering::Relaxed));
        Ok(())
    }
}
