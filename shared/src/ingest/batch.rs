//! The one "per-message function → SQS partial batch response" helper.

use aws_lambda_events::event::sqs::{BatchItemFailure, SqsBatchResponse, SqsEvent, SqsMessage};
use std::future::Future;

/// Runs `handle` on the records of the batch concurrently (delivery is unordered anyway;
/// the store's conditional writes order versions), with at most `budget` of their `weight`
/// in flight at once (a record heavier than the budget runs alone), and reports those it did
/// not acknowledge as failures.
pub async fn for_each_message<W, F, Fut>(event: SqsEvent, budget: u32, weight: W, handle: F) -> SqsBatchResponse
where
    W: Fn(&SqsMessage) -> u32,
    F: Fn(SqsMessage) -> Fut,
    Fut: Future<Output = bool>,
{
    let ids: Vec<String> = event.records.iter().map(|m| m.message_id.clone().unwrap_or_default()).collect();
    let budget = budget.max(1);
    let in_flight = tokio::sync::Semaphore::new(budget as usize);
    let acknowledged = futures::future::join_all(event.records.into_iter().map(|message| {
        let permits = weight(&message).clamp(1, budget);
        let (in_flight, handle) = (&in_flight, &handle);
        async move {
            // The semaphore is never closed: acquiring fails only if it were.
            let _held = in_flight.acquire_many(permits).await.ok();
            handle(message).await
        }
    }))
    .await;
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
        let response = for_each_message(event, 10, |_| 1, |m| async move { m.body.as_deref() == Some("ok") }).await;
        let ids: Vec<_> = response.batch_item_failures.iter().map(|f| f.item_identifier.as_str()).collect();
        assert_eq!(ids, ["b"]);
    }

    #[tokio::test]
    async fn never_holds_more_than_the_budget_in_flight_and_runs_a_heavier_record_alone() {
        use std::sync::atomic::{AtomicU32, Ordering};
        let mut event = SqsEvent::default();
        // Weights in the body: two heavy records (one over the budget) among light ones.
        event.records =
            ["1", "600", "1", "2000", "1", "1", "600", "1"].iter().enumerate().map(|(i, w)| message(&i.to_string(), w)).collect();
        let weight = |m: &SqsMessage| m.body.as_deref().and_then(|b| b.parse().ok()).unwrap_or(1);
        let (now, most, alone) = (AtomicU32::new(0), AtomicU32::new(0), AtomicU32::new(0));
        let response = for_each_message(event, 1000, weight, |m| {
            let w = weight(&m).min(1000);
            let (now, most, alone) = (&now, &most, &alone);
            async move {
                let before = now.fetch_add(w, Ordering::SeqCst);
                most.fetch_max(before + w, Ordering::SeqCst);
                if w == 1000 && before == 0 {
                    alone.fetch_add(1, Ordering::SeqCst);
                }
                tokio::time::sleep(std::time::Duration::from_millis(5)).await;
                now.fetch_sub(w, Ordering::SeqCst);
                true
            }
        })
        .await;
        assert!(response.batch_item_failures.is_empty());
        assert!(most.load(Ordering::SeqCst) <= 1000, "in flight at most: {}", most.load(Ordering::SeqCst));
        assert_eq!(alone.load(Ordering::SeqCst), 1, "the record over the budget ran alone");
    }
}
