//! Order ingestion (spec §3): one SQS message → parse → apply, classified once as
//! done, permanent (dead-letter queue with a reason, then acknowledged) or transient
//! (reported as a batch item failure so SQS retries and finally redrives it).

pub mod batch;

use crate::domain::{Order, OrderError};
use crate::store::metrics::measured;
use crate::store::orders::{ApplyError, ApplyOptions, ApplyOutcome};
use crate::store::{Store, StoreError};
pub use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent, SqsMessage};
use aws_sdk_sqs::types::MessageAttributeValue;

/// The message attribute that carries the reason a message was dead-lettered.
pub const ERROR_ATTRIBUTE: &str = "abev-error";

/// What ingestion needs: the table, and the dead-letter queue for permanent failures.
#[derive(Clone, Debug)]
pub struct Ingestor {
    pub store: Store,
    pub sqs: aws_sdk_sqs::Client,
    pub dead_letter_queue_url: String,
    pub options: ApplyOptions,
    /// The orders queue's `maxReceiveCount`: a message that fails transiently on its last
    /// receive is dead-lettered here, with the reason, instead of by SQS without one.
    pub max_receive_count: u32,
}

/// Orders of the settle work list each batch finishes after its messages.
pub const SETTLES_PER_BATCH: usize = 10;

/// Order lines a batch stages at once: its messages run concurrently up to this many lines,
/// so the largest order (1,000 lines, spec §3) runs alone and many small ones together. Ten
/// 1,000-line orders of one site at once would put 10,000 entries into that site's index
/// partitions in a few seconds — past the ~1,000 writes/s a GSI partition takes, which throttles
/// the table's writes on AWS — and, locally, queue every page behind the emulator's one
/// writer; one after another they take about as long (the writes were the bottleneck anyway).
pub const LINES_IN_FLIGHT: u32 = 1_000;

/// A message's weight for [`LINES_IN_FLIGHT`]: its order's lines (1 when it does not parse:
/// it fails at once).
fn lines_of(message: &aws_lambda_events::event::sqs::SqsMessage) -> u32 {
    message.body.as_deref().and_then(|body| Order::parse(body.as_bytes()).ok()).map_or(1, |order| order.lines.len() as u32)
}

/// Time kept back from the Lambda's deadline for a final exit: dead-lettering the message
/// with its reason and giving its version up.
pub const FINAL_EXIT_MARGIN: std::time::Duration = std::time::Duration::from_secs(5);

/// The Lambda's deadline (milliseconds since the epoch, from the runtime's context) as an
/// instant of tokio's clock.
pub fn deadline_from_epoch_ms(deadline_ms: u64) -> tokio::time::Instant {
    let now_ms = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_millis() as u64).unwrap_or(0);
    tokio::time::Instant::now() + std::time::Duration::from_millis(deadline_ms.saturating_sub(now_ms))
}

/// The orders queue's redrive `maxReceiveCount` in `template.yaml` (the wiring test holds
/// the two equal).
pub const DEFAULT_MAX_RECEIVE_COUNT: u32 = 5;

#[derive(Debug, thiserror::Error)]
pub enum IngestError {
    #[error(transparent)]
    Invalid(#[from] OrderError),
    #[error(transparent)]
    Apply(#[from] ApplyError),
    #[error("could not dead-letter the message: {0}")]
    DeadLetter(String),
}

impl IngestError {
    /// Whether a final exit should give this version up (see [`ApplyError::gives_up_the_version`]).
    pub fn gives_up_the_version(&self) -> bool {
        matches!(self, IngestError::Apply(e) if e.gives_up_the_version())
    }

    pub fn is_permanent(&self) -> bool {
        match self {
            IngestError::Invalid(_) => true,
            IngestError::Apply(e) => e.is_permanent(),
            IngestError::DeadLetter(_) => false,
        }
    }
}

impl From<StoreError> for IngestError {
    fn from(e: StoreError) -> Self {
        IngestError::Apply(e.into())
    }
}

/// How one message ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MessageOutcome {
    Applied,
    Duplicate,
    Stale,
    /// Sent to the dead-letter queue with this reason, and acknowledged.
    DeadLettered(String),
    /// Left on the queue to be retried.
    Retry(String),
}

impl MessageOutcome {
    pub fn acknowledged(&self) -> bool {
        !matches!(self, MessageOutcome::Retry(_))
    }
}

impl Ingestor {
    /// Parses and applies one message body; never panics, never loses it.
    pub async fn handle_message(&self, message_id: &str, body: &str) -> MessageOutcome {
        self.handle_delivery(message_id, body, 1).await
    }

    /// [`Ingestor::handle_message`] for the `receive_count`-th delivery of the message.
    pub async fn handle_delivery(&self, message_id: &str, body: &str, receive_count: u32) -> MessageOutcome {
        self.handle_delivery_by(message_id, body, receive_count, None).await
    }

    /// [`Ingestor::handle_delivery`] that stops applying the order [`FINAL_EXIT_MARGIN`] before
    /// `deadline` (the Lambda's own): the message is then retried, or on its last receive
    /// dead-lettered with the reason and its version given up, instead of the whole batch
    /// being killed by the timeout and redriven by SQS without a reason.
    pub async fn handle_delivery_by(
        &self,
        message_id: &str,
        body: &str,
        receive_count: u32,
        deadline: Option<tokio::time::Instant>,
    ) -> MessageOutcome {
        let ((outcome, order), cost) = measured(async {
            let order = match Order::parse(body.as_bytes()) {
                Ok(order) => order,
                Err(e) => return (Err(IngestError::from(e)), None),
            };
            let applying = self.store.apply_order(&order, &self.options);
            let outcome = match deadline.map(|d| d.checked_sub(FINAL_EXIT_MARGIN).unwrap_or(d)) {
                Some(stop) => match tokio::time::timeout_at(stop, applying).await {
                    Ok(outcome) => outcome,
                    Err(_) => Err(ApplyError::from(StoreError::Unavailable {
                        op: "apply order",
                        code: "OutOfTime".into(),
                        message: "the function ran out of time before the order was applied".into(),
                    })),
                },
                None => applying.await,
            };
            (outcome.map_err(IngestError::from), Some(order))
        })
        .await;
        let (order_id, version) = order.as_ref().map(|o| (o.order_id.to_string(), o.version)).unwrap_or_default();
        let result = match outcome {
            Ok(ApplyOutcome::Applied { replaced }) => {
                tracing::info!(
                    message_id,
                    order_id,
                    version,
                    ?replaced,
                    outcome = "applied",
                    ddb_calls = cost.ddb_calls,
                    ddb_rounds = cost.sequential_rounds,
                    write_capacity = cost.write_capacity,
                    read_capacity = cost.read_capacity,
                    "order applied"
                );
                MessageOutcome::Applied
            }
            Ok(ApplyOutcome::Duplicate) => {
                tracing::info!(
                    message_id,
                    order_id,
                    version,
                    outcome = "duplicate",
                    ddb_calls = cost.ddb_calls,
                    "duplicate delivery ignored"
                );
                MessageOutcome::Duplicate
            }
            Ok(ApplyOutcome::Stale { current }) => {
                tracing::warn!(message_id, order_id, version, current, outcome = "stale", "stale version ignored");
                MessageOutcome::Stale
            }
            Err(e) if e.is_permanent() || receive_count >= self.max_receive_count => {
                let mut reason =
                    if e.is_permanent() { e.to_string() } else { format!("still failing after {receive_count} deliveries: {e}") };
                // A final exit gives back what the version claimed (unless it is the order's
                // current state, or the message conflicts with another one's content).
                if let (Some(order), true) = (&order, e.gives_up_the_version()) {
                    if let Err(give_up) = self.store.abandon_order(order).await {
                        tracing::error!(message_id, order_id, version, error = %give_up, "could not give the version up");
                        if !give_up.is_permanent() && receive_count < self.max_receive_count {
                            return MessageOutcome::Retry(give_up.to_string());
                        }
                        reason.push_str(&format!(" (its claims could not be given back: {give_up})"));
                    }
                }
                match self.dead_letter(body, &reason).await {
                    Ok(()) => {
                        tracing::warn!(message_id, order_id, version, outcome = "dead_lettered", reason, "order rejected");
                        MessageOutcome::DeadLettered(reason)
                    }
                    Err(e) => {
                        tracing::error!(message_id, order_id, version, outcome = "retry", error = %e, "order rejected but dead-lettering failed");
                        MessageOutcome::Retry(e.to_string())
                    }
                }
            }
            Err(e) => {
                tracing::warn!(message_id, order_id, version, outcome = "retry", error = %e, "transient failure, will be retried");
                MessageOutcome::Retry(e.to_string())
            }
        };
        result
    }

    async fn dead_letter(&self, body: &str, reason: &str) -> Result<(), IngestError> {
        let attribute = MessageAttributeValue::builder()
            .data_type("String")
            .string_value(reason)
            .build()
            .map_err(|e| IngestError::DeadLetter(e.to_string()))?;
        self.sqs
            .send_message()
            .queue_url(&self.dead_letter_queue_url)
            .message_body(body)
            .message_attributes(ERROR_ATTRIBUTE, attribute)
            .send()
            .await
            .map_err(|e| IngestError::DeadLetter(aws_sdk_sqs::error::DisplayErrorContext(e).to_string()))?;
        Ok(())
    }

    /// The Lambda handler: every record is handled; only retryable ones are reported.
    pub async fn handle_batch(&self, event: SqsEvent) -> SqsBatchResponse {
        self.handle_batch_by(event, None).await
    }

    /// [`Ingestor::handle_batch`] within the Lambda's deadline (see [`Ingestor::handle_delivery_by`]).
    pub async fn handle_batch_by(&self, event: SqsEvent, deadline: Option<tokio::time::Instant>) -> SqsBatchResponse {
        let response = batch::for_each_message(event, LINES_IN_FLIGHT, lines_of, |message: SqsMessage| async move {
            let id = message.message_id.clone().unwrap_or_default();
            let receive_count = message.attributes.get("ApproximateReceiveCount").and_then(|c| c.parse().ok()).unwrap_or(1);
            let body = message.body.unwrap_or_default();
            self.handle_delivery_by(&id, &body, receive_count, deadline).await.acknowledged()
        })
        .await;
        // Orders whose cleanup found an index lagging are finished here, a few per batch.
        if let Err(e) = self.store.settle_pending(SETTLES_PER_BATCH).await {
            tracing::warn!(error = %e, "settling pending orders failed; a later batch tries again");
        }
        response
    }
}
