//! Feeds a queue to the ingestion handler the way the Lambda SQS event source mapping does:
//! long-poll batches of up to 10, delete what succeeded, leave failures for a retry, and let
//! the queue's redrive policy move a message after `maxReceiveCount` receives.

use abev::ingest::{Ingestor, SqsEvent, SqsMessage};
use aws_sdk_sqs::types::{DeleteMessageBatchRequestEntry, MessageSystemAttributeName};
use std::collections::HashMap;
use std::time::Duration;

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
            return Ok(0);
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
        Ok(messages.len())
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
