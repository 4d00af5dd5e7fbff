//! Change events (issue 20 part 3): every change a user could see, published to the
//! EventBridge bus `abev`, sourced from the table's DynamoDB Stream so that no write path can
//! forget to publish.
//!
//! - [`decode`]: a stream record as a typed item change (pure);
//! - [`decide`]: which events a change means (pure; the mapping table is there);
//! - [`publish`]: PutEvents in calls of at most 10, retrying only the entries that failed;
//! - [`EventsHandler`]: one stream batch — decode, read what a head move needs
//!   (`Store::version_transition`), decide, publish, and report the first record that
//!   failed (Lambda retries the shard from there: at-least-once, in order per item).
//!
//! Each event's `id` is derived from the item's keys and versions (or, for a membership, the
//! stream record's sequence number), never from the clock: a redelivered record yields the
//! same ids, and consumers dedupe on them. No event carries licence keys or download URLs.

pub mod decide;
pub mod decode;
pub mod publish;

use crate::domain::entitlement::LineItem;
use crate::domain::{Day, Email, OrderId, Role, Serial, SupportId};
use crate::store::Store;
use aws_lambda_events::event::dynamodb::Event;
use aws_lambda_events::event::streams::{DynamoDbBatchItemFailure, DynamoDbEventResponse};
use publish::{PublishPolicy, Publisher};
use serde::Serialize;
use sha2::{Digest, Sha256};

/// The `schema` of every event's detail (docs/schemas/abev.event.v1.json).
pub const EVENT_SCHEMA: &str = "abev.event.v1";
/// The EventBridge `source` of every event.
pub const EVENT_SOURCE: &str = "abev";
pub const DEFAULT_BUS: &str = "abev";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub enum EventKind {
    #[serde(rename = "entitlement.granted")]
    EntitlementGranted,
    #[serde(rename = "entitlement.revoked")]
    EntitlementRevoked,
    #[serde(rename = "entitlement.changed")]
    EntitlementChanged,
    #[serde(rename = "membership.added")]
    MembershipAdded,
    #[serde(rename = "membership.removed")]
    MembershipRemoved,
    #[serde(rename = "membership.role_changed")]
    MembershipRoleChanged,
    #[serde(rename = "access_request.created")]
    AccessRequestCreated,
    #[serde(rename = "access_request.decided")]
    AccessRequestDecided,
    #[serde(rename = "access_request.escalated")]
    AccessRequestEscalated,
}

impl EventKind {
    pub const ALL: [EventKind; 9] = [
        EventKind::EntitlementGranted,
        EventKind::EntitlementRevoked,
        EventKind::EntitlementChanged,
        EventKind::MembershipAdded,
        EventKind::MembershipRemoved,
        EventKind::MembershipRoleChanged,
        EventKind::AccessRequestCreated,
        EventKind::AccessRequestDecided,
        EventKind::AccessRequestEscalated,
    ];

    /// The wire name: the event's `type` and its EventBridge `detail-type`.
    pub fn as_str(self) -> &'static str {
        match self {
            EventKind::EntitlementGranted => "entitlement.granted",
            EventKind::EntitlementRevoked => "entitlement.revoked",
            EventKind::EntitlementChanged => "entitlement.changed",
            EventKind::MembershipAdded => "membership.added",
            EventKind::MembershipRemoved => "membership.removed",
            EventKind::MembershipRoleChanged => "membership.role_changed",
            EventKind::AccessRequestCreated => "access_request.created",
            EventKind::AccessRequestDecided => "access_request.decided",
            EventKind::AccessRequestEscalated => "access_request.escalated",
        }
    }
}

/// One event: the EventBridge `detail`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ChangeEvent {
    pub schema: &'static str,
    /// Stable: the same change always has the same id (consumers dedupe on it).
    pub id: String,
    #[serde(rename = "type")]
    pub kind: EventKind,
    /// When the change happened (RFC 3339).
    pub time: String,
    pub data: EventData,
}

impl ChangeEvent {
    pub fn new(id: String, kind: EventKind, time: String, data: EventData) -> ChangeEvent {
        ChangeEvent { schema: EVENT_SCHEMA, id, kind, time, data }
    }
    pub fn detail(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(untagged)]
pub enum EventData {
    Entitlement(EntitlementData),
    Membership(MembershipData),
    Request(RequestData),
}

/// Why a line is visible, and to whom: the rule and the site (or the ship-to contacts).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "rule", rename_all = "snake_case")]
pub enum Visibility {
    /// R1: every member of the owning site.
    Member { support_id: SupportId },
    /// R3: every member of the reseller site.
    Reseller { support_id: SupportId },
    /// R2: the order's ship-to contacts.
    ShipTo { contacts: Vec<Email> },
}

/// Where the line was before a change.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Previous {
    pub version: u64,
    pub site: SupportId,
    pub reseller: Option<SupportId>,
}

/// One contact-visible line. No licence keys, no download URL (those stay behind the audited
/// detail route).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct EntitlementData {
    pub serial: Serial,
    pub order_id: OrderId,
    /// The order version that made this change current.
    pub version: u64,
    /// The owning (end-customer) site.
    pub site: SupportId,
    pub reseller: Option<SupportId>,
    /// The line's fields; absent only when a later version replaced this one before the event
    /// was read (the later version's events then carry the state).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sku: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub product: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub quantity: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub starts_on: Option<Day>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ends_on: Option<Day>,
    /// Who sees it and why (for a revoked line: who saw it until now).
    pub access: Vec<Visibility>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub previous: Option<Previous>,
    /// `changed`: which of `site`, `reseller`, `ship_to` differ from the previous version.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub changes: Vec<&'static str>,
    /// `revoked`: `removed_from_order` or `order_cancelled`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<&'static str>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MembershipData {
    pub email: Email,
    pub support_id: SupportId,
    pub role: Role,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub previous_role: Option<Role>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RequestData {
    pub request_id: String,
    pub support_id: SupportId,
    pub site_name: String,
    pub requester_email: Email,
    pub kind: String,
    pub requested_role: Role,
    pub status: String,
    pub created_at: String,
    pub granted_role: Option<Role>,
    pub decided_by: Option<Email>,
    pub decided_at: Option<String>,
    /// A rejection's reason.
    pub reason: Option<String>,
    pub escalation_reason: Option<String>,
}

/// `ev_` and 32 hex digits of SHA-256 over the kind and the parts that name the change.
pub fn event_id(kind: EventKind, parts: &[&str]) -> String {
    let mut hash = Sha256::new();
    hash.update(kind.as_str().as_bytes());
    for part in parts {
        hash.update([0x1f]);
        hash.update(part.as_bytes());
    }
    let digest = hash.finalize();
    let hex: String = digest.iter().take(16).map(|b| format!("{b:02x}")).collect();
    format!("ev_{hex}")
}

/// The lines a batch's records staged (line items inserted), as their images say.
fn staged_lines(records: &[aws_lambda_events::event::dynamodb::EventRecord]) -> Vec<LineItem> {
    records
        .iter()
        .filter_map(|r| decode::decode(r).ok())
        .filter(|c| c.kind == decode::ChangeKind::Insert && c.pk.starts_with("ORDER#") && c.sk.starts_with(crate::store::keys::LINE_PREFIX))
        .filter_map(|c| crate::store::from_item::<LineItem>(c.new?).ok())
        .collect()
}

/// The events function: `ABEV_TABLE` (default `abev`), `ABEV_EVENT_BUS` (default `abev`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventsSettings {
    pub table: String,
    pub bus: String,
}

impl EventsSettings {
    pub fn from_env() -> EventsSettings {
        Self::from_vars(&|name| std::env::var(name).ok())
    }
    pub fn from_vars(get: &dyn Fn(&str) -> Option<String>) -> EventsSettings {
        let get = |name: &str, default: &str| get(name).filter(|v| !v.is_empty()).unwrap_or_else(|| default.to_string());
        EventsSettings { table: get("ABEV_TABLE", crate::settings::DEFAULT_TABLE), bus: get("ABEV_EVENT_BUS", DEFAULT_BUS) }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum EventsError {
    #[error(transparent)]
    Decode(#[from] decode::DecodeError),
    #[error("stream record {0}: {1}")]
    Malformed(String, String),
    #[error("stream record {0}: {1}")]
    Store(String, crate::store::StoreError),
    #[error("stream record {0}: {1} event(s) not published")]
    Unpublished(String, usize),
}

/// One stream batch in, events out.
#[derive(Debug, Clone)]
pub struct EventsHandler<P> {
    pub store: Store,
    pub publisher: P,
    pub policy: PublishPolicy,
}

/// The handler the Lambda runs: EventBridge from the environment's configuration.
pub async fn handler_from_aws(settings: &EventsSettings) -> EventsHandler<publish::EventBridgePublisher> {
    let config = crate::aws::sdk_config().await;
    EventsHandler {
        store: Store::new(crate::aws::dynamodb_client(&config), settings.table.clone()),
        publisher: publish::EventBridgePublisher::new(aws_sdk_eventbridge::Client::new(&config), &settings.bus),
        policy: PublishPolicy::default(),
    }
}

impl<P: Publisher> EventsHandler<P> {
    /// The events of one record: decode, read what a head move needs, decide.
    pub async fn events_of(&self, record: &aws_lambda_events::event::dynamodb::EventRecord) -> Result<Vec<ChangeEvent>, EventsError> {
        self.events_with(record, &[]).await
    }

    /// As [`EventsHandler::events_of`], with the lines the same batch staged: when the version a
    /// head moved to was already replaced and its lines cleaned, the batch's own images of them
    /// still give the line's fields.
    async fn events_with(
        &self,
        record: &aws_lambda_events::event::dynamodb::EventRecord,
        staged: &[LineItem],
    ) -> Result<Vec<ChangeEvent>, EventsError> {
        let change = decode::decode(record)?;
        let seq = change.sequence_number.clone();
        let needed = decide::transition_needed(&change).map_err(|e| EventsError::Malformed(seq.clone(), e))?;
        let transition = match needed {
            Some(n) => {
                let mut t = self
                    .store
                    .version_transition(&n.order_id, n.old, n.new, n.new_lines)
                    .await
                    .map_err(|e| EventsError::Store(seq.clone(), e))?;
                if n.new_lines && t.new_lines.len() < t.new_serials.len() {
                    let read: std::collections::BTreeSet<Serial> = t.new_lines.iter().map(|l| l.line.serial.clone()).collect();
                    t.new_lines.extend(
                        staged.iter().filter(|l| l.order_id == n.order_id && l.version == n.new && !read.contains(&l.line.serial)).cloned(),
                    );
                }
                Some(t)
            }
            None => None,
        };
        decide::plan(&change, transition.as_ref()).map_err(|e| EventsError::Malformed(seq, e))
    }

    /// Handles one batch in record order. Records are decided until one fails; what was
    /// decided is published; the first record that failed (to decide, or to publish one of
    /// its events) is reported, and Lambda retries the batch from it (records after it are
    /// retried too: their events may be published twice, with the same ids).
    pub async fn handle_batch(&self, event: Event) -> DynamoDbEventResponse {
        let staged = staged_lines(&event.records);
        let mut decided: Vec<(String, Vec<ChangeEvent>)> = Vec::new();
        let mut first_failed: Option<(usize, EventsError)> = None;
        for (i, record) in event.records.iter().enumerate() {
            match self.events_with(record, &staged).await {
                Ok(events) => decided.push((record.change.sequence_number.clone().unwrap_or_default(), events)),
                Err(e) => {
                    first_failed = Some((i, e));
                    break;
                }
            }
        }
        let all: Vec<ChangeEvent> = decided.iter().flat_map(|(_, e)| e.iter().cloned()).collect();
        let unpublished = publish::publish_all(&self.publisher, &all, &self.policy).await;
        if !unpublished.is_empty() {
            if let Some((i, (seq, events))) =
                decided.iter().enumerate().find(|(_, (_, events))| events.iter().any(|e| unpublished.contains(&e.id)))
            {
                let count = events.iter().filter(|e| unpublished.contains(&e.id)).count();
                if first_failed.as_ref().is_none_or(|(f, _)| i < *f) {
                    first_failed = Some((i, EventsError::Unpublished(seq.clone(), count)));
                }
            }
        }
        tracing::info!(records = event.records.len(), events = all.len(), unpublished = unpublished.len(), "stream batch handled");
        let mut response = DynamoDbEventResponse::default();
        if let Some((i, error)) = first_failed {
            let seq = event.records[i].change.sequence_number.clone().unwrap_or_default();
            tracing::error!(sequence_number = %seq, error = %error, "stream record failed; the batch is retried from it");
            let mut failure = DynamoDbBatchItemFailure::default();
            failure.item_identifier = Some(seq);
            response.batch_item_failures.push(failure);
        }
        response
    }
}
