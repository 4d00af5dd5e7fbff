//! Feeds a queue to the ingestion handler the way the Lambda SQS event source mapping does:
//! long-poll batches of up to 10, delete what succeeded, leave failures for a retry, and let
//! the queue's redrive policy move a message after `maxReceiveCount` receives.

use abev::ingest::{Ingestor, SqsEvent, SqsMessage};
use aws_sdk_sqs::types::{DeleteMessageBatchRequestEntry, MessageSystemAttributeName};
use std::collections::HashMap;
use std::time::Duration;

/// What one poll received and acknowledged.
#[derive(Debug, Clone, Default)]
pub struct Polled {
    pub received: usize,
    /// The SQS message ids of the messages the batch acknowledged (deleted from the queue).
    pub acknowledged: Vec<String>,
    /// When the ingestor answered the batch (none when nothing was received).
    pub answered: Option<std::time::Instant>,
}

#[derive(Debug, Clone)]
pub struct EventSource {
    pub sqs: aws_sdk_sqs::Client,
    pub queue_url: String,
    pub wait: Duration,
    /// How long a failed message stays invisible before it is retried. In AWS that is the
    /// queue's visibility timeout; locally a short one keeps the edit-run loop quick.
    pub retry_after: Duration,
}

impl EventSource {
    /// Receives one batch and hands it to `ingestor`. Returns how many messages it received.
    pub async fn poll_once(&self, ingestor: &Ingestor) -> Result<usize, String> {
        self.poll_once_acknowledging(ingestor).await.map(|polled| polled.received)
    }

    /// [`EventSource::poll_once`], also telling which messages the batch acknowledged (all
    /// but its failures: applied, duplicates and dead-lettered ones), when its response came
    /// back — as in AWS, where the event source mapping deletes a batch's messages only after
    /// the whole batch's response. `make load` measures the ingestion lag with it.
    pub async fn poll_once_acknowledging(&self, ingestor: &Ingestor) -> Result<Polled, String> {
        let received = self
            .sqs
            .receive_message()
            .queue_url(&self.queue_url)
            .max_number_of_messages(10)
            .wait_time_seconds(self.wait.as_secs() as i32)
            .message_system_attribute_names(MessageSystemAttributeName::All)
            .message_attribute_names("All")
            .send()
            .await
            .map_err(|e| aws_sdk_sqs::error::DisplayErrorContext(e).to_string())?;
        let messages = received.messages.unwrap_or_default();
        if messages.is_empty() {
            return Ok(Polled::default());
        }
        let mut receipts = HashMap::new();
        let mut event = SqsEvent::default();
        for m in &messages {
            let mut record = SqsMessage::default();
            record.message_id = m.message_id.clone();
            record.receipt_handle = m.receipt_handle.clone();
            record.body = m.body.clone();
            record.event_source = Some("aws:sqs".into());
            record.attributes =
                m.attributes().map(|a| a.iter().map(|(k, v)| (k.as_str().to_string(), v.clone())).collect()).unwrap_or_default();
            receipts.insert(m.message_id.clone().unwrap_or_default(), m.receipt_handle.clone().unwrap_or_default());
            event.records.push(record);
        }
        let response = ingestor.handle_batch(event).await;
        let answered = std::time::Instant::now();
        for failure in &response.batch_item_failures {
            if let Some(handle) = receipts.remove(&failure.item_identifier) {
                let _ = self
                    .sqs
                    .change_message_visibility()
                    .queue_url(&self.queue_url)
                    .receipt_handle(handle)
                    .visibility_timeout(self.retry_after.as_secs() as i32)
                    .send()
                    .await;
            }
        }
        let acknowledged: Vec<String> = receipts.keys().cloned().collect();
        let entries: Vec<DeleteMessageBatchRequestEntry> = receipts
            .into_iter()
            .enumerate()
            .filter_map(|(i, (_, handle))| {
                DeleteMessageBatchRequestEntry::builder().id(format!("m{i}")).receipt_handle(handle).build().ok()
            })
            .collect();
        if !entries.is_empty() {
            self.sqs
                .delete_message_batch()
                .queue_url(&self.queue_url)
                .set_entries(Some(entries))
                .send()
                .await
                .map_err(|e| aws_sdk_sqs::error::DisplayErrorContext(e).to_string())?;
        }
        Ok(Polled { received: messages.len(), acknowledged, answered: Some(answered) })
    }

    /// Polls until `stop` resolves.
    pub async fn run(&self, ingestor: &Ingestor, stop: impl std::future::Future<Output = ()>) {
        tokio::pin!(stop);
        loop {
            tokio::select! {
                _ = &mut stop => return,
                result = self.poll_once(ingestor) => {
                    if let Err(e) = result {
                        tracing::warn!(error = %e, queue = %self.queue_url, "polling the orders queue failed; retrying");
                        tokio::time::sleep(Duration::from_secs(2)).await;
                    }
                }
            }
        }
    }
}
