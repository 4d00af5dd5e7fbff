//! Storage: the single DynamoDB table. `table` is the only code that calls DynamoDB
//! (retries, error classification, capacity metering, one query engine); `keys` owns the
//! key design; `tx` builds transaction items and conditions; `orders` writes orders
//! (ingestion), `view` reads what a contact may see, `access` keeps memberships and
//! requests; `metrics` counts what each unit of work costs; `faults` makes DynamoDB Local
//! fail like AWS, for tests and `make dev`.

pub mod access;
pub mod access_claims;
pub mod access_expiry;
// Issue 21 parts 2-4: domain rules, invitations, access reviews.
pub mod access_invites;
pub mod access_reviews;
pub mod access_rules;
pub mod faults;
mod items;
pub mod keys;
pub mod metrics;
pub mod orders;
pub mod table;
pub mod tx;
pub mod view;
// Issue 20: the change-events function's reads.
pub mod stream;

use aws_sdk_dynamodb::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_dynamodb::types::AttributeValue;
use aws_sdk_dynamodb::Client;
use keys::Item;
pub use table::RetryPolicy;

/// The table, the client that reaches it, and how transient failures are retried.
#[derive(Clone, Debug)]
pub struct Store {
    pub(crate) ddb: Client,
    pub(crate) table: String,
    pub(crate) retry: RetryPolicy,
}

impl Store {
    /// `ddb` should be built by [`crate::aws::dynamodb_client`], which counts calls.
    pub fn new(ddb: Client, table: impl Into<String>) -> Store {
        Store { ddb, table: table.into(), retry: RetryPolicy::default() }
    }
    pub fn with_retry(mut self, retry: RetryPolicy) -> Store {
        self.retry = retry;
        self
    }
    pub fn table(&self) -> &str {
        &self.table
    }
    pub fn client(&self) -> &Client {
        &self.ddb
    }
}

/// Every failure of the store, classified once: `Unavailable` is transient (retried here,
/// then by the caller's redelivery); `Rejected` and `Corrupt` are permanent.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// DynamoDB could not do it now; trying again later may work.
    #[error("DynamoDB {op} failed ({code}): {message}")]
    Unavailable { op: &'static str, code: String, message: String },
    /// DynamoDB refused the request itself: a bug or a mis-deployed table.
    #[error("DynamoDB {op} was refused ({code}): {message}")]
    Rejected { op: &'static str, code: String, message: String },
    #[error("stored item is malformed: {0}")]
    Corrupt(String),
}

impl StoreError {
    pub fn is_transient(&self) -> bool {
        matches!(self, StoreError::Unavailable { .. })
    }

    pub(crate) fn from_sdk<E, R>(op: &'static str, err: SdkError<E, R>) -> StoreError
    where
        E: ProvideErrorMetadata + std::error::Error + 'static,
        R: std::fmt::Debug,
    {
        let code = err.code().unwrap_or("").to_string();
        let message = err.message().map(str::to_string).unwrap_or_else(|| {
            let mut text = err.to_string();
            let mut source = std::error::Error::source(&err);
            while let Some(s) = source {
                text = format!("{text}: {s}");
                source = s.source();
            }
            text
        });
        let transient = match &err {
            SdkError::ServiceError(_) => TRANSIENT_CODES.contains(&code.as_str()),
            // Timeouts, connection failures, unreadable responses.
            _ => true,
        };
        if transient {
            StoreError::Unavailable { op, code, message }
        } else {
            StoreError::Rejected { op, code, message }
        }
    }
}

const TRANSIENT_CODES: &[&str] = &[
    "ThrottlingException",
    "ProvisionedThroughputExceededException",
    "RequestLimitExceeded",
    "InternalServerError",
    "ServiceUnavailable",
    "LimitExceededException",
    "TransactionConflictException",
    "TransactionInProgressException",
];

// ---- small attribute helpers (reading items the SDK hands back) ---------------------

pub(crate) fn s(v: impl Into<String>) -> AttributeValue {
    AttributeValue::S(v.into())
}
pub(crate) fn n(v: impl ToString) -> AttributeValue {
    AttributeValue::N(v.to_string())
}
pub(crate) fn get_s<'a>(item: &'a Item, name: &str) -> Option<&'a str> {
    item.get(name).and_then(|v| v.as_s().ok()).map(String::as_str)
}
pub(crate) fn get_n(item: &Item, name: &str) -> Option<i64> {
    item.get(name).and_then(|v| v.as_n().ok()).and_then(|n| n.parse().ok())
}
pub(crate) fn req_s<'a>(item: &'a Item, name: &str) -> Result<&'a str, StoreError> {
    get_s(item, name).ok_or_else(|| StoreError::Corrupt(format!("item lacks string attribute {name}")))
}
pub(crate) fn from_item<T: serde::de::DeserializeOwned>(item: Item) -> Result<T, StoreError> {
    serde_dynamo::aws_sdk_dynamodb_1::from_item(item).map_err(|e| StoreError::Corrupt(e.to_string()))
}
pub(crate) fn to_item<T: serde::Serialize>(value: &T) -> Result<Item, StoreError> {
    serde_dynamo::aws_sdk_dynamodb_1::to_item(value).map_err(|e| StoreError::Corrupt(e.to_string()))
}
// Issue 20 part 2: expiry notices' claims, digests, leases and settings.
pub mod notices;
