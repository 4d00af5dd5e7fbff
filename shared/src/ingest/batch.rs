//! The one "per-message function → SQS partial batch response" helper.

use aws_lambda_events::event::sqs::{BatchItemFailure, SqsBatchResponse, SqsEvent, SqsMessage};
use std::future::Future;

/// Runs `handle` on every record of the batch concurrently (delivery is unordered anyway;
/// the store's conditional writes order versions) and reports those it did not
/// acknowledge as failures.
pub async fn for_each_message<F, Fut>(event: SqsEvent, handle: F) -> SqsBatchResponse
where
    F: Fn(SqsMessage) -> Fut,
    Fut: Future<Output = bool>,
{
    let ids: Vec<String> = event.records.iter().map(|m| m.message_id.clone().unwrap_or_default()).collect();
    let acknowledged = futures::future::join_all(event.records.into_iter().map(&handle)).await;
    let mut response = SqsBatchResponse::default();
    for (id, ok) in ids.into_iter().zip(acknowledged) {
        if !ok {
            let mut failure = BatchItemFailure::default();
            failure.item_identifier = id;
            response.batch_item_failures.push(failure);
        }
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    fn message(id: &str, body: &str) -> SqsMessage {
        let mut m = SqsMessage::default();
        m.message_id = Some(id.into());
        m.body = Some(body.into());
        m
    }

    #[tokio::test]
    async fn reports_only_the_messages_not_acknowledged() {
        let mut event = SqsEvent::default();
        event.records = vec![message("a", "ok"), message("b", "retry"), message("c", "ok")];
        let response = for_each_message(event, |m| async move { m.body.as_deref() == Some("ok") }).await;
        let ids: Vec<_> = response.batch_item_failures.iter().map(|f| f.item_identifier.as_str()).collect();
        assert_eq!(ids, ["b"]);
    }
}
