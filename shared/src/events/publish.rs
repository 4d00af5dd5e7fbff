//! Publishing to EventBridge: PutEvents takes at most 10 entries (and 256 KiB) per call and
//! answers per entry; only the entries that failed are sent again, with backoff, as are whole
//! calls that failed (throttling, timeouts). The [`Publisher`] trait is the one call, so tests
//! can fail entries on purpose.

use super::{ChangeEvent, EVENT_SOURCE};
use std::future::Future;
use std::time::Duration;

/// Entries per PutEvents call (the API's limit).
pub const MAX_ENTRIES: usize = 10;
/// Bytes per PutEvents call (the API's limit is 256 KiB; what an entry counts is its source,
/// detail type and detail).
pub const MAX_CALL_BYTES: usize = 256 * 1024;

/// A failed call (no entry was taken).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("PutEvents failed ({code}): {message}")]
pub struct PublishError {
    pub code: String,
    pub message: String,
}

pub trait Publisher: Send + Sync {
    /// One PutEvents call with `events` (at most [`MAX_ENTRIES`]): per entry, `None` when it
    /// was taken or `Some(error code)`.
    fn put(&self, events: &[&ChangeEvent]) -> impl Future<Output = Result<Vec<Option<String>>, PublishError>> + Send;
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PublishPolicy {
    /// Calls per entry at most (the first included).
    pub attempts: u32,
    pub base: Duration,
    pub cap: Duration,
}

impl Default for PublishPolicy {
    fn default() -> Self {
        PublishPolicy { attempts: 6, base: Duration::from_millis(50), cap: Duration::from_secs(2) }
    }
}

impl PublishPolicy {
    fn backoff(&self, attempt: u32) -> Duration {
        self.base.saturating_mul(1 << attempt.min(16)).min(self.cap)
    }
}

fn entry_bytes(e: &ChangeEvent) -> usize {
    EVENT_SOURCE.len() + e.kind.as_str().len() + e.detail().len()
}

/// The calls `events` go out in: at most [`MAX_ENTRIES`] and [`MAX_CALL_BYTES`] each.
pub fn calls<'a>(events: &[&'a ChangeEvent]) -> Vec<Vec<&'a ChangeEvent>> {
    let mut out: Vec<Vec<&ChangeEvent>> = Vec::new();
    let mut bytes = 0;
    for e in events {
        let size = entry_bytes(e);
        match out.last_mut() {
            Some(call) if call.len() < MAX_ENTRIES && bytes + size <= MAX_CALL_BYTES => {
                call.push(e);
                bytes += size;
            }
            _ => {
                out.push(vec![e]);
                bytes = size;
            }
        }
    }
    out
}

/// Publishes every event, retrying failed entries (and failed calls) up to the policy's
/// attempts. Returns the ids of the events that could not be published.
pub async fn publish_all<P: Publisher>(publisher: &P, events: &[ChangeEvent], policy: &PublishPolicy) -> Vec<String> {
    let mut pending: Vec<&ChangeEvent> = events.iter().collect();
    for attempt in 0..policy.attempts.max(1) {
        if pending.is_empty() {
            break;
        }
        if attempt > 0 {
            tokio::time::sleep(policy.backoff(attempt)).await;
        }
        let mut failed = Vec::new();
        for call in calls(&pending) {
            match publisher.put(&call).await {
                Ok(outcomes) => {
                    for (i, event) in call.iter().enumerate() {
                        // An answer without this entry's outcome is taken as a failure.
                        match outcomes.get(i) {
                            Some(None) => {}
                            Some(Some(code)) => {
                                tracing::warn!(event_id = %event.id, code = %code, attempt, "PutEvents entry failed; retrying it");
                                failed.push(*event);
                            }
                            None => failed.push(*event),
                        }
                    }
                }
                Err(e) => {
                    tracing::warn!(error = %e, entries = call.len(), attempt, "PutEvents call failed; retrying");
                    failed.extend(call);
                }
            }
        }
        pending = failed;
    }
    pending.into_iter().map(|e| e.id.clone()).collect()
}

/// The AWS publisher: one bus.
#[derive(Debug, Clone)]
pub struct EventBridgePublisher {
    pub client: aws_sdk_eventbridge::Client,
    pub bus: String,
}

impl EventBridgePublisher {
    pub fn new(client: aws_sdk_eventbridge::Client, bus: &str) -> EventBridgePublisher {
        EventBridgePublisher { client, bus: bus.to_string() }
    }
}

impl Publisher for EventBridgePublisher {
    async fn put(&self, events: &[&ChangeEvent]) -> Result<Vec<Option<String>>, PublishError> {
        use aws_sdk_eventbridge::error::ProvideErrorMetadata;
        use aws_sdk_eventbridge::types::PutEventsRequestEntry;
        let entries = events
            .iter()
            .map(|e| {
                let time = aws_smithy_types::DateTime::from_str(&e.time, aws_smithy_types::date_time::Format::DateTime).ok();
                PutEventsRequestEntry::builder()
                    .event_bus_name(&self.bus)
                    .source(EVENT_SOURCE)
                    .detail_type(e.kind.as_str())
                    .detail(e.detail())
                    .set_time(time)
                    .build()
            })
            .collect();
        let answer = self.client.put_events().set_entries(Some(entries)).send().await.map_err(|e| PublishError {
            code: e.code().unwrap_or("unknown").to_string(),
            message: aws_sdk_eventbridge::error::DisplayErrorContext(&e).to_string(),
        })?;
        Ok(answer.entries().iter().map(|entry| entry.error_code().map(str::to_string)).collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{Email, Role, SupportId};
    use crate::events::{event_id, EventData, EventKind, MembershipData};
    use std::collections::BTreeMap;
    use std::sync::Mutex;

    fn event(i: usize) -> ChangeEvent {
        let data = MembershipData {
            email: Email::parse(&format!("c{i}@acme.example")).unwrap(),
            support_id: SupportId::parse("ACME-1").unwrap(),
            role: Role::User,
            previous_role: None,
        };
        ChangeEvent::new(
            event_id(EventKind::MembershipAdded, &[&i.to_string()]),
            EventKind::MembershipAdded,
            "2026-04-01T10:00:00Z".into(),
            EventData::Membership(data),
        )
    }

    /// Fails the listed ids' entries on their first `failures` calls; fails whole calls first
    /// when `throttle_calls` is set.
    #[derive(Default)]
    struct FakeBus {
        failing: BTreeMap<String, u32>,
        throttle_calls: Mutex<u32>,
        calls: Mutex<Vec<Vec<String>>>,
    }

    impl Publisher for FakeBus {
        async fn put(&self, events: &[&ChangeEvent]) -> Result<Vec<Option<String>>, PublishError> {
            assert!(events.len() <= MAX_ENTRIES, "PutEvents takes at most 10 entries");
            let mut calls = self.calls.lock().unwrap();
            calls.push(events.iter().map(|e| e.id.clone()).collect());
            {
                let mut throttle = self.throttle_calls.lock().unwrap();
                if *throttle > 0 {
                    *throttle -= 1;
                    return Err(PublishError { code: "ThrottlingException".into(), message: "slow down".into() });
                }
            }
            Ok(events
                .iter()
                .map(|e| {
                    let seen = calls.iter().filter(|c| c.contains(&e.id)).count() as u32;
                    self.failing.get(&e.id).filter(|n| seen <= **n).map(|_| "ThrottlingException".to_string())
                })
                .collect())
        }
    }

    fn fast() -> PublishPolicy {
        PublishPolicy { attempts: 4, base: Duration::from_millis(1), cap: Duration::from_millis(2) }
    }

    #[tokio::test]
    async fn only_the_failed_entries_are_sent_again() {
        let events: Vec<ChangeEvent> = (0..23).map(event).collect();
        let bus = FakeBus { failing: BTreeMap::from([(events[3].id.clone(), 1), (events[17].id.clone(), 2)]), ..FakeBus::default() };
        let unpublished = publish_all(&bus, &events, &fast()).await;
        assert!(unpublished.is_empty());
        let calls = bus.calls.lock().unwrap().clone();
        // 23 entries: 3 calls, then [3, 17], then [17].
        assert_eq!(calls.iter().map(Vec::len).collect::<Vec<_>>(), vec![10, 10, 3, 2, 1]);
        assert_eq!(calls[3], vec![events[3].id.clone(), events[17].id.clone()]);
        assert_eq!(calls[4], vec![events[17].id.clone()]);
    }

    #[tokio::test]
    async fn a_throttled_call_is_retried_whole_and_what_never_succeeds_is_reported() {
        let events: Vec<ChangeEvent> = (0..3).map(event).collect();
        let bus = FakeBus { throttle_calls: Mutex::new(1), ..FakeBus::default() };
        assert!(publish_all(&bus, &events, &fast()).await.is_empty());
        assert_eq!(bus.calls.lock().unwrap().len(), 2);
        let stuck = FakeBus { failing: BTreeMap::from([(events[1].id.clone(), 99)]), ..FakeBus::default() };
        assert_eq!(publish_all(&stuck, &events, &fast()).await, vec![events[1].id.clone()]);
        assert_eq!(stuck.calls.lock().unwrap().len(), 4, "the policy's attempts, then it gives up");
    }

    #[test]
    fn calls_keep_under_the_entry_and_size_limits() {
        let events: Vec<ChangeEvent> = (0..25).map(event).collect();
        let refs: Vec<&ChangeEvent> = events.iter().collect();
        assert_eq!(calls(&refs).iter().map(Vec::len).collect::<Vec<_>>(), vec![10, 10, 5]);
    }
}
