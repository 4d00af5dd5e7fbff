//! The one module that calls DynamoDB. Every read and write of the store goes through
//! these few functions, which own what AWS makes hard:
//! - **retries**: throttling, 5xx, timeouts and transaction conflicts are retried here with
//!   full-jitter exponential backoff inside a time budget (the SDK's own retries give up
//!   once their quota is spent); everything else is returned at once;
//! - **classification**: every SDK error becomes a [`StoreError`] once ([`StoreError::from_sdk`]);
//! - **metering**: every call asks for `ReturnConsumedCapacity` and records it;
//! - **one query engine** ([`Query`]): table or index, a sort-key range, page or all,
//!   consistency;
//! - **idempotent transactions**: a `ClientRequestToken` per logical transaction, so a retry
//!   after a lost answer is not applied twice.

use super::keys::{self, Item, Key};
use super::metrics::{record_capacity, record_write_capacity};
use super::tx::Cond;
use super::{s, Store, StoreError};
use aws_sdk_dynamodb::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_dynamodb::operation::delete_item::{DeleteItemError, DeleteItemOutput};
use aws_sdk_dynamodb::operation::put_item::{PutItemError, PutItemOutput};
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::operation::update_item::{UpdateItemError, UpdateItemOutput};
use aws_sdk_dynamodb::types::{
    ConsumedCapacity, DeleteRequest, KeysAndAttributes, ReturnConsumedCapacity, TransactWriteItem, WriteRequest,
};
use std::future::Future;
use std::time::{Duration, Instant};

/// How long and how often the store retries a transient failure.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RetryPolicy {
    /// Attempts per call, the first included.
    pub max_attempts: u32,
    /// The backoff's first ceiling; it doubles per attempt up to `cap`.
    pub base: Duration,
    pub cap: Duration,
    /// No new attempt starts after this much time since the first.
    pub budget: Duration,
    /// `None` (the default): the backoff's jitter is random. `Some(seed)`: it is a function of
    /// the seed and the attempt, so a deterministic simulation replays the same waits.
    pub jitter_seed: Option<u64>,
}

impl Default for RetryPolicy {
    /// About 10 s at most per call: well inside the functions' timeouts (30 s API, ingestion's
    /// visibility timeout 6× its timeout), long enough to ride out a throttling burst.
    fn default() -> Self {
        RetryPolicy {
            max_attempts: 10,
            base: Duration::from_millis(25),
            cap: Duration::from_secs(2),
            budget: Duration::from_secs(10),
            jitter_seed: None,
        }
    }
}

impl RetryPolicy {
    /// Full jitter: a uniform wait in [0, min(cap, base · 2^attempt)).
    fn backoff(&self, attempt: u32) -> Duration {
        let ceiling = self.base.saturating_mul(1u32 << attempt.min(16)).min(self.cap);
        ceiling.mul_f64(self.jitter_seed.map_or_else(jitter, |seed| seeded_jitter(seed, attempt)))
    }
}

/// A uniform float in [0, 1) from a seed and an attempt (splitmix64's finaliser).
fn seeded_jitter(seed: u64, attempt: u32) -> f64 {
    let mut z = seed.wrapping_add(u64::from(attempt).wrapping_add(1).wrapping_mul(0x9E37_79B9_7F4A_7C15));
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    ((z ^ (z >> 31)) >> 11) as f64 / (1u64 << 53) as f64
}

fn jitter() -> f64 {
    // A fresh v4 UUID is 122 random bits from the OS; 53 of them make a uniform float.
    (uuid::Uuid::new_v4().as_u128() >> 75) as f64 / (1u64 << 53) as f64
}

/// A sort-key condition of a [`Query`].
#[derive(Debug, Clone)]
pub(crate) enum Range {
    All,
    Prefix(String),
    /// Strictly after.
    After(String),
    /// Both ends included.
    Between(String, String),
}

/// One query of the table or of an index: the only query engine of the store.
#[derive(Debug, Clone)]
pub(crate) struct Query {
    pub op: &'static str,
    pub index: Option<&'static str>,
    pub pk: String,
    pub range: Range,
    /// Items per request (DynamoDB's `Limit`); `None` lets DynamoDB fill 1 MB pages.
    pub limit: Option<usize>,
    pub forward: bool,
    /// Strongly consistent (table only: indexes are always eventually consistent).
    pub consistent: bool,
    pub keys_only: bool,
    pub start: Option<Item>,
}

impl Query {
    pub fn table(op: &'static str, pk: impl Into<String>, range: Range) -> Query {
        Query { op, index: None, pk: pk.into(), range, limit: None, forward: true, consistent: true, keys_only: false, start: None }
    }
    pub fn index(op: &'static str, index: &'static str, pk: impl Into<String>, range: Range) -> Query {
        Query { index: Some(index), consistent: false, ..Query::table(op, pk, range) }
    }
    pub fn limit(mut self, limit: usize) -> Query {
        self.limit = Some(limit.clamp(1, 1000));
        self
    }
    pub fn eventually_consistent(mut self) -> Query {
        self.consistent = false;
        self
    }
    pub fn keys_only(mut self) -> Query {
        self.keys_only = true;
        self
    }
    pub fn start(mut self, start: Option<Item>) -> Query {
        self.start = start;
        self
    }
}

/// What one query request returned.
#[derive(Debug, Default)]
pub(crate) struct QueryPage {
    pub items: Vec<Item>,
    /// DynamoDB's `LastEvaluatedKey`: more may follow from there.
    pub last_key: Option<Item>,
}

/// Why a transaction failed: cancelled by a condition (one code per item, "None" for the
/// innocent ones), or the store was unavailable.
#[derive(Debug)]
pub(crate) enum TxError {
    Cancelled(Vec<String>),
    Store(StoreError),
}

impl From<StoreError> for TxError {
    fn from(e: StoreError) -> Self {
        TxError::Store(e)
    }
}

/// BatchWriteItem requests of one unit of work in flight at once.
const BATCH_WRITES_IN_FLIGHT: usize = 8;

/// Cancellation codes that mean "try again", not "a condition failed".
const CONTENTION_CODES: &[&str] = &["TransactionConflict", "ThrottlingError", "ProvisionedThroughputExceeded", "RequestLimitExceeded"];

/// A single-item write's result: `Ok(true)` written (its capacity recorded), `Ok(false)` its
/// condition failed, else the classified error.
fn written<O, E, R>(
    op: &'static str,
    result: Result<O, SdkError<E, R>>,
    capacity: fn(&O) -> Option<&ConsumedCapacity>,
    condition_failed: fn(&E) -> bool,
) -> Result<bool, StoreError>
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug,
{
    match result {
        Ok(out) => {
            record_write_capacity(capacity(&out));
            Ok(true)
        }
        Err(SdkError::ServiceError(e)) if condition_failed(e.err()) => Ok(false),
        Err(e) => Err(StoreError::from_sdk(op, e)),
    }
}

impl Store {
    /// Runs `call` until it succeeds, fails for good, or the retry policy is spent.
    async fn retrying<T, F, Fut>(&self, op: &'static str, mut call: F) -> Result<T, StoreError>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, StoreError>>,
    {
        let started = Instant::now();
        let mut attempt = 0;
        loop {
            match call().await {
                Err(e) if e.is_transient() && attempt + 1 < self.retry.max_attempts && started.elapsed() < self.retry.budget => {
                    let wait = self.retry.backoff(attempt);
                    tracing::debug!(op, attempt, wait_ms = wait.as_millis() as u64, error = %e, "transient DynamoDB failure, retrying");
                    tokio::time::sleep(wait).await;
                    attempt += 1;
                }
                other => return other,
            }
        }
    }

    pub(crate) async fn get(&self, op: &'static str, key: &Key, consistent: bool) -> Result<Option<Item>, StoreError> {
        self.retrying(op, || async {
            let out = self
                .ddb
                .get_item()
                .table_name(&self.table)
                .set_key(Some(key.to_item()))
                .consistent_read(consistent)
                .return_consumed_capacity(ReturnConsumedCapacity::Total)
                .send()
                .await
                .map_err(|e| StoreError::from_sdk(op, e))?;
            record_capacity(out.consumed_capacity());
            Ok(out.item)
        })
        .await
    }

    /// Reads many items by key (any number, duplicates folded; 100 per request, concurrently;
    /// unprocessed keys are asked again).
    pub(crate) async fn batch_get(&self, op: &'static str, keys: Vec<Key>, consistent: bool) -> Result<Vec<Item>, StoreError> {
        let mut unique: Vec<Key> = Vec::with_capacity(keys.len());
        for k in keys {
            if !unique.contains(&k) {
                unique.push(k);
            }
        }
        let requests = unique.chunks(100).map(|chunk| self.batch_get_chunk(op, chunk, consistent));
        let pages = futures::future::try_join_all(requests).await?;
        Ok(pages.into_iter().flatten().collect())
    }

    async fn batch_get_chunk(&self, op: &'static str, keys: &[Key], consistent: bool) -> Result<Vec<Item>, StoreError> {
        let mut found = Vec::new();
        let mut pending: Vec<Item> = keys.iter().map(Key::to_item).collect();
        // Unprocessed keys are progress, not failure: the budget applies per request.
        for _ in 0..self.retry.max_attempts {
            if pending.is_empty() {
                return Ok(found);
            }
            let request = KeysAndAttributes::builder()
                .set_keys(Some(std::mem::take(&mut pending)))
                .consistent_read(consistent)
                .build()
                .map_err(|e| StoreError::Corrupt(e.to_string()))?;
            let out = self
                .retrying(op, || async {
                    self.ddb
                        .batch_get_item()
                        .request_items(&self.table, request.clone())
                        .return_consumed_capacity(ReturnConsumedCapacity::Total)
                        .send()
                        .await
                        .map_err(|e| StoreError::from_sdk(op, e))
                })
                .await?;
            record_capacity(out.consumed_capacity());
            if let Some(mut responses) = out.responses {
                found.extend(responses.remove(&self.table).unwrap_or_default());
            }
            pending = out.unprocessed_keys.and_then(|mut u| u.remove(&self.table)).map(|k| k.keys).unwrap_or_default();
            if !pending.is_empty() {
                tokio::time::sleep(self.retry.backoff(1)).await;
            }
        }
        if pending.is_empty() {
            Ok(found)
        } else {
            Err(StoreError::Unavailable { op, code: "UnprocessedKeys".into(), message: format!("{} keys left unprocessed", pending.len()) })
        }
    }

    /// One request of a query.
    pub(crate) async fn query_page(&self, q: &Query) -> Result<QueryPage, StoreError> {
        let (pk_attr, sk_attr) = keys::key_attributes(q.index);
        self.retrying(q.op, || async {
            let mut req = self
                .ddb
                .query()
                .table_name(&self.table)
                .set_index_name(q.index.map(str::to_string))
                .expression_attribute_names("#pk", pk_attr)
                .expression_attribute_values(":pk", s(q.pk.clone()))
                .scan_index_forward(q.forward)
                .consistent_read(q.consistent && q.index.is_none())
                .set_limit(q.limit.map(|l| l as i32))
                .set_exclusive_start_key(q.start.clone())
                .return_consumed_capacity(ReturnConsumedCapacity::Total);
            req = match &q.range {
                Range::All => req.key_condition_expression("#pk = :pk"),
                Range::Prefix(prefix) => req
                    .key_condition_expression("#pk = :pk AND begins_with(#sk, :prefix)")
                    .expression_attribute_names("#sk", sk_attr)
                    .expression_attribute_values(":prefix", s(prefix.clone())),
                Range::After(after) => req
                    .key_condition_expression("#pk = :pk AND #sk > :after")
                    .expression_attribute_names("#sk", sk_attr)
                    .expression_attribute_values(":after", s(after.clone())),
                Range::Between(lo, hi) => req
                    .key_condition_expression("#pk = :pk AND #sk BETWEEN :lo AND :hi")
                    .expression_attribute_names("#sk", sk_attr)
                    .expression_attribute_values(":lo", s(lo.clone()))
                    .expression_attribute_values(":hi", s(hi.clone())),
            };
            if q.keys_only {
                req = req.projection_expression("#pk, #sk").expression_attribute_names("#sk", sk_attr);
                if q.index.is_some() {
                    // An index query must also project the table's key to be resumable.
                    req = req.projection_expression(format!("#pk, #sk, {}, {}", keys::PK, keys::SK));
                }
            }
            let out = req.send().await.map_err(|e| StoreError::from_sdk(q.op, e))?;
            record_capacity(out.consumed_capacity());
            Ok(QueryPage { items: out.items.unwrap_or_default(), last_key: out.last_evaluated_key.filter(|k| !k.is_empty()) })
        })
        .await
    }

    /// Every item a query selects, page after page.
    pub(crate) async fn query_all(&self, mut q: Query) -> Result<Vec<Item>, StoreError> {
        let mut items = Vec::new();
        loop {
            let page = self.query_page(&q).await?;
            items.extend(page.items);
            match page.last_key {
                Some(key) => q.start = Some(key),
                None => return Ok(items),
            }
        }
    }

    /// A single put. `Ok(false)`: the condition failed (nothing written).
    pub(crate) async fn put(&self, op: &'static str, item: Item, cond: Option<Cond>) -> Result<bool, StoreError> {
        let cond = cond.unwrap_or_default();
        self.retrying(op, || async {
            let result = self
                .ddb
                .put_item()
                .table_name(&self.table)
                .set_item(Some(item.clone()))
                .set_condition_expression(cond.expression())
                .set_expression_attribute_names(cond.names(""))
                .set_expression_attribute_values(cond.values_with(vec![]))
                .return_consumed_capacity(ReturnConsumedCapacity::Total)
                .send()
                .await;
            written(op, result, PutItemOutput::consumed_capacity, PutItemError::is_conditional_check_failed_exception)
        })
        .await
    }

    /// A single update. `Ok(false)`: the condition failed (nothing written).
    pub(crate) async fn update(
        &self,
        op: &'static str,
        key: &Key,
        expression: &str,
        values: Vec<(&'static str, aws_sdk_dynamodb::types::AttributeValue)>,
        cond: Option<Cond>,
    ) -> Result<bool, StoreError> {
        let cond = cond.unwrap_or_default();
        self.retrying(op, || async {
            let result = self
                .ddb
                .update_item()
                .table_name(&self.table)
                .set_key(Some(key.to_item()))
                .update_expression(expression)
                .set_condition_expression(cond.expression())
                .set_expression_attribute_names(cond.names(expression))
                .set_expression_attribute_values(cond.values_with(values.clone()))
                .return_consumed_capacity(ReturnConsumedCapacity::Total)
                .send()
                .await;
            written(op, result, UpdateItemOutput::consumed_capacity, UpdateItemError::is_conditional_check_failed_exception)
        })
        .await
    }

    /// A single delete. `Ok(false)`: the condition failed (nothing deleted).
    pub(crate) async fn delete(&self, op: &'static str, key: &Key, cond: Option<Cond>) -> Result<bool, StoreError> {
        let cond = cond.unwrap_or_default();
        self.retrying(op, || async {
            let result = self
                .ddb
                .delete_item()
                .table_name(&self.table)
                .set_key(Some(key.to_item()))
                .set_condition_expression(cond.expression())
                .set_expression_attribute_names(cond.names(""))
                .set_expression_attribute_values(cond.values_with(vec![]))
                .return_consumed_capacity(ReturnConsumedCapacity::Total)
                .send()
                .await;
            written(op, result, DeleteItemOutput::consumed_capacity, DeleteItemError::is_conditional_check_failed_exception)
        })
        .await
    }

    /// One transaction, retried on contention with the same `ClientRequestToken`, so a retry
    /// after a lost answer is recognised by DynamoDB instead of applied twice.
    pub(crate) async fn transact(&self, op: &'static str, items: Vec<TransactWriteItem>) -> Result<(), TxError> {
        let token = uuid::Uuid::new_v4().to_string();
        // A cancellation by a condition is an answer, not a failure: `Ok(Err(codes))` is not retried.
        let answer = self
            .retrying(op, || async {
                let result = self
                    .ddb
                    .transact_write_items()
                    .set_transact_items(Some(items.clone()))
                    .client_request_token(&token)
                    .return_consumed_capacity(ReturnConsumedCapacity::Total)
                    .send()
                    .await;
                match result {
                    Ok(out) => {
                        record_write_capacity(out.consumed_capacity());
                        Ok(Ok(()))
                    }
                    Err(SdkError::ServiceError(e)) if matches!(e.err(), TransactWriteItemsError::TransactionCanceledException(_)) => {
                        let TransactWriteItemsError::TransactionCanceledException(tce) = e.err() else { unreachable!() };
                        let codes: Vec<String> =
                            tce.cancellation_reasons().iter().map(|r| r.code().unwrap_or("None").to_string()).collect();
                        if codes.iter().any(|c| CONTENTION_CODES.contains(&c.as_str())) {
                            return Err(StoreError::Unavailable {
                                op,
                                code: "TransactionCanceledException".into(),
                                message: format!("cancelled by contention: {codes:?}"),
                            });
                        }
                        Ok(Err(codes))
                    }
                    Err(e) => Err(StoreError::from_sdk(op, e)),
                }
            })
            .await?;
        answer.map_err(TxError::Cancelled)
    }

    /// Deletes many items (see [`Store::batch_write`]).
    pub(crate) async fn batch_delete(&self, op: &'static str, keys: Vec<Key>) -> Result<(), StoreError> {
        let requests = keys
            .iter()
            .map(|k| {
                let delete = DeleteRequest::builder().set_key(Some(k.to_item())).build().map_err(|e| StoreError::Corrupt(e.to_string()))?;
                Ok(WriteRequest::builder().delete_request(delete).build())
            })
            .collect::<Result<_, StoreError>>()?;
        self.batch_write(op, requests).await
    }

    /// Writes many items, 25 per request and up to [`BATCH_WRITES_IN_FLIGHT`] requests at once;
    /// unprocessed items (a partial result, e.g. under throttling) are sent again with backoff.
    async fn batch_write(&self, op: &'static str, requests: Vec<WriteRequest>) -> Result<(), StoreError> {
        use futures::StreamExt;
        let chunks: Vec<Vec<WriteRequest>> = requests.chunks(25).map(<[WriteRequest]>::to_vec).collect();
        let mut sent = futures::stream::iter(chunks.into_iter().map(|chunk| self.batch_write_chunk(op, chunk)))
            .buffer_unordered(BATCH_WRITES_IN_FLIGHT);
        while let Some(result) = sent.next().await {
            result?;
        }
        Ok(())
    }

    async fn batch_write_chunk(&self, op: &'static str, mut requests: Vec<WriteRequest>) -> Result<(), StoreError> {
        for _ in 0..self.retry.max_attempts {
            if requests.is_empty() {
                return Ok(());
            }
            let out = self
                .retrying(op, || async {
                    self.ddb
                        .batch_write_item()
                        .request_items(&self.table, requests.clone())
                        .return_consumed_capacity(ReturnConsumedCapacity::Total)
                        .send()
                        .await
                        .map_err(|e| StoreError::from_sdk(op, e))
                })
                .await?;
            record_write_capacity(out.consumed_capacity());
            requests = out.unprocessed_items.and_then(|mut u| u.remove(&self.table)).unwrap_or_default();
            if !requests.is_empty() {
                tokio::time::sleep(self.retry.backoff(1)).await;
            }
        }
        if requests.is_empty() {
            Ok(())
        } else {
            Err(StoreError::Unavailable {
                op,
                code: "UnprocessedItems".into(),
                message: format!("{} items left unprocessed", requests.len()),
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_backoff_stays_under_its_doubling_ceiling_and_a_seed_replays_it() {
        let policy = RetryPolicy::default();
        for attempt in 0..20 {
            let ceiling = policy.base.saturating_mul(1u32 << attempt.min(16)).min(policy.cap);
            for _ in 0..50 {
                assert!(policy.backoff(attempt) < ceiling.max(Duration::from_nanos(1)), "attempt {attempt}");
            }
        }
        assert_eq!(policy.backoff(30).max(policy.cap), policy.cap, "capped");
        let seeded = RetryPolicy { jitter_seed: Some(7), ..RetryPolicy::default() };
        assert_eq!(seeded.backoff(3), seeded.backoff(3), "a seed replays the same wait");
        let waits: std::collections::BTreeSet<Duration> = (0..50).map(|_| policy.backoff(5)).collect();
        assert!(waits.len() > 40, "unseeded waits are jittered");
    }
}
