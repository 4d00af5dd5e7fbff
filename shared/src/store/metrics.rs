//! Counts DynamoDB round trips and consumed capacity per unit of work (one HTTP request,
//! one order message), so budgets are checked in tests and reported in logs.
//!
//! Calls are counted by an SDK interceptor on the client, so no call can slip past;
//! capacity is read from each response, which is asked for `ReturnConsumedCapacity`.
//!
//! The same interceptor counts **sequential rounds**: the number of times a call starts
//! while no other DynamoDB call of the same unit is in flight. Calls issued concurrently
//! (`join!`, `join_all`) share a round; a call that waits for another's answer starts a new
//! one. Rounds, not calls, are what a request's latency is made of.

use aws_sdk_dynamodb::config::interceptors::{BeforeSerializationInterceptorContextRef, FinalizerInterceptorContextRef};
use aws_sdk_dynamodb::config::{ConfigBag, Intercept, RuntimeComponents};
use aws_sdk_dynamodb::types::ConsumedCapacity;
use aws_smithy_types::config_bag::{Storable, StoreReplace};
use std::future::Future;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;

#[derive(Debug, Default)]
struct Counters {
    calls: AtomicU64,
    rounds: AtomicU64,
    /// Calls of this unit started and not yet finished.
    in_flight: AtomicU64,
    read_milli: AtomicU64,
    write_milli: AtomicU64,
}

impl Counters {
    /// A call starts: a new round if none of this unit's calls is in flight.
    fn start(&self) {
        self.calls.fetch_add(1, Ordering::Relaxed);
        if self.in_flight.fetch_add(1, Ordering::AcqRel) == 0 {
            self.rounds.fetch_add(1, Ordering::Relaxed);
        }
    }

    fn finish(&self) {
        let _ = self.in_flight.fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| n.checked_sub(1));
    }
}

/// One execution in flight, kept in the operation's config bag: finished by
/// `read_after_execution`, which runs once at the end of every execution whatever the
/// outcome, or, if the caller drops the operation's future before that (a cancelled call),
/// when the bag is dropped with it.
#[derive(Debug)]
struct InFlight {
    counters: Arc<Counters>,
    finished: AtomicBool,
}

impl InFlight {
    fn finish(&self) {
        if !self.finished.swap(true, Ordering::AcqRel) {
            self.counters.finish();
        }
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.finish();
    }
}

impl Storable for InFlight {
    type Storer = StoreReplace<Self>;
}

tokio::task_local! {
    static CURRENT: Arc<Counters>;
}

/// What one unit of work cost.
#[derive(Debug, Clone, Copy, Default, PartialEq, serde::Serialize)]
pub struct Cost {
    pub ddb_calls: u64,
    /// Sequential DynamoDB round trips: how many times a call started while no other call of
    /// this unit was in flight (concurrent calls share a round).
    pub sequential_rounds: u64,
    pub read_capacity: f64,
    pub write_capacity: f64,
}

/// Runs `work`, counting the DynamoDB calls, sequential rounds and capacity it uses (within
/// the same task). A unit measured inside another adds its calls, rounds and capacity to the
/// outer one when it ends (its rounds as sequential rounds of the outer unit).
pub async fn measured<F: Future>(work: F) -> (F::Output, Cost) {
    let counters = Arc::new(Counters::default());
    let out = CURRENT.scope(counters.clone(), work).await;
    // A measured unit inside another one counts toward both.
    let _ = CURRENT.try_with(|outer| {
        outer.calls.fetch_add(counters.calls.load(Ordering::Relaxed), Ordering::Relaxed);
        outer.rounds.fetch_add(counters.rounds.load(Ordering::Relaxed), Ordering::Relaxed);
        outer.read_milli.fetch_add(counters.read_milli.load(Ordering::Relaxed), Ordering::Relaxed);
        outer.write_milli.fetch_add(counters.write_milli.load(Ordering::Relaxed), Ordering::Relaxed);
    });
    let cost = Cost {
        ddb_calls: counters.calls.load(Ordering::Relaxed),
        sequential_rounds: counters.rounds.load(Ordering::Relaxed),
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
        cfg: &mut ConfigBag,
    ) -> Result<(), aws_sdk_dynamodb::error::BoxError> {
        let _ = CURRENT.try_with(|c| {
            c.start();
            cfg.interceptor_state().store_put(InFlight { counters: c.clone(), finished: AtomicBool::new(false) });
        });
        Ok(())
    }

    fn read_after_execution(
        &self,
        _context: &FinalizerInterceptorContextRef<'_>,
        _runtime_components: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), aws_sdk_dynamodb::error::BoxError> {
        if let Some(in_flight) = cfg.load::<InFlight>() {
            in_flight.finish();
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_dynamodb::config::{BehaviorVersion, Credentials, Region};
    use aws_smithy_runtime_api::client::http::{http_client_fn, HttpConnector, HttpConnectorFuture, SharedHttpConnector};
    use aws_smithy_runtime_api::client::orchestrator::HttpRequest;
    use aws_smithy_types::body::SdkBody;
    use std::time::Duration;

    /// Answers every call with an empty item after `delay`: no network.
    #[derive(Debug)]
    struct Slow(Duration);

    impl HttpConnector for Slow {
        fn call(&self, _request: HttpRequest) -> HttpConnectorFuture {
            let delay = self.0;
            HttpConnectorFuture::new(async move {
                tokio::time::sleep(delay).await;
                let status = 200u16.try_into().expect("status");
                Ok(aws_smithy_runtime_api::http::Response::new(status, SdkBody::from("{}")))
            })
        }
    }

    fn client(delay: Duration) -> aws_sdk_dynamodb::Client {
        let connector = SharedHttpConnector::new(Slow(delay));
        let conf = aws_sdk_dynamodb::Config::builder()
            .behavior_version(BehaviorVersion::latest())
            .region(Region::new("us-east-1"))
            .credentials_provider(Credentials::new("k", "s", None, None, "test"))
            .endpoint_url("http://127.0.0.1:1")
            .http_client(http_client_fn(move |_, _| connector.clone()))
            .interceptor(CallCounter)
            .build();
        aws_sdk_dynamodb::Client::from_conf(conf)
    }

    async fn get(ddb: &aws_sdk_dynamodb::Client) {
        ddb.get_item().table_name("t").key("pk", aws_sdk_dynamodb::types::AttributeValue::S("x".into())).send().await.expect("get");
    }

    #[tokio::test]
    async fn concurrent_calls_share_a_round_and_sequential_ones_do_not() {
        let ddb = client(Duration::from_millis(20));
        let ((), cost) = measured(async {
            get(&ddb).await;
            futures::join!(get(&ddb), get(&ddb), get(&ddb));
            get(&ddb).await;
        })
        .await;
        assert_eq!((cost.ddb_calls, cost.sequential_rounds), (5, 3));
    }

    #[tokio::test]
    async fn a_nested_unit_adds_its_rounds_to_the_outer_one() {
        let ddb = client(Duration::from_millis(5));
        let (inner, outer) = measured(async {
            get(&ddb).await;
            let ((), inner) = measured(async {
                futures::join!(get(&ddb), get(&ddb));
                get(&ddb).await;
            })
            .await;
            inner
        })
        .await;
        assert_eq!((inner.ddb_calls, inner.sequential_rounds), (3, 2));
        assert_eq!((outer.ddb_calls, outer.sequential_rounds), (4, 3));
    }

    #[tokio::test]
    async fn a_call_cancelled_in_flight_ends_its_round() {
        let ddb = client(Duration::from_millis(200));
        let ((), cost) = measured(async {
            let _ = tokio::time::timeout(Duration::from_millis(10), get(&ddb)).await;
            let quick = client(Duration::from_millis(1));
            get(&quick).await;
        })
        .await;
        assert_eq!((cost.ddb_calls, cost.sequential_rounds), (2, 2));
    }

    #[tokio::test]
    async fn nothing_is_counted_outside_a_unit() {
        let ddb = client(Duration::from_millis(1));
        get(&ddb).await;
        let ((), cost) = measured(async {}).await;
        assert_eq!(cost, Cost::default());
    }
}
