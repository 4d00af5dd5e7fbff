//! The access-request workflow (spec §5): routing, decisions, escalation, the SLA sweep.
//!
//! Rules, and where each is enforced:
//! - **Routing at creation.** The site record's `admin_count` (kept exact by every
//!   transaction that makes or unmakes an admin) says whether an admin other than the
//!   requester exists: then `pending_admin`, else `escalated`. The creation transaction
//!   re-checks `admin_count` and the requester's membership as read, so a request can never
//!   be routed to admins that a concurrent removal just took away.
//! - **One open request per contact and site.** The `OPEN#` marker is put with
//!   `attribute_not_exists` in the creation transaction; of two concurrent creations one
//!   commits, the other finds the marker and answers with the open request (200).
//! - **Deciding.** Nobody decides their own request; a site admin decides the site's
//!   `pending_admin` requests, Care any open request (only Care an `escalated` one). The
//!   decision transaction holds a ConditionCheck that the decider's membership still has
//!   role `admin` (not for Care, whose right is the token's group), a condition that the
//!   request still has the status read (so it is decided once: concurrent deciders get 409),
//!   the membership write conditioned on the membership as read, the admin count, the
//!   history, and the removal of the request's markers.
//! - **Last admin lost** (removal or demotion): the same transaction writes an `ORPHANED#`
//!   outbox item; processing it escalates the site's `pending_admin` requests (read from the
//!   site's consistent work list) with reason `no_site_administrator`. The same happens to
//!   a request whose requester is the only admin left (nobody else could decide it).
//! - **SLA sweep**: `pending_admin` requests older than `admin_sla_days` are escalated with
//!   reason `admin_sla_expired`, found through the `PENDING#{day}` markers from the sweep's
//!   watermark to the deadline's day (no Scan).
//!
//! **Care messages are never lost** (transactional outbox): the transaction that makes a
//! request `escalated` also writes `OUTBOX#CARE`/`ESCALATION#{id}` holding the exact message.
//! After the commit the message is sent and the outbox item deleted. If the send fails, or
//! the process dies between commit and send, the item stays and every sweep re-sends the
//! items older than a minute. The same holds for a site's last-admin loss (`ORPHANED#{s}`).
//! A message may thus be sent twice (send succeeded, delete failed); that is harmless:
//! it carries `request_id`, the Care CLI de-duplicates by it and the decision itself is
//! idempotent (a second decision is 409).

use crate::domain::{Email, Role, SupportId};
use crate::http::problem::ApiError;
use crate::http::AppState;
use crate::store::access::{tx_check, tx_delete, tx_put, tx_set_admin_count, tx_set_membership, Cond, SiteMeta};
use crate::store::keys::{self, Item};
use crate::store::table::TxError;
use crate::store::{get_s, s, StoreError};
use aws_sdk_dynamodb::types::TransactWriteItem;
use serde::{Deserialize, Serialize};
use std::time::Duration;
use time::OffsetDateTime;

pub use crate::store::access::{AccessRequest, EscalationReason, HistoryEntry, Membership, PageKey, RequestKind, RequestStatus};

/// The schema name of a Care-queue message.
pub const CARE_SCHEMA: &str = "abev.care-escalation.v1";
/// How often a workflow step retries after contention before giving up.
const ATTEMPTS: u32 = 8;
/// Outbox items younger than this are left to the request that wrote them.
const OUTBOX_GRACE: time::Duration = time::Duration::minutes(1);
/// How far back the very first sweep looks (later sweeps start at their watermark).
const FIRST_SWEEP_LOOKBACK_DAYS: i64 = 90;
/// Longest rejection reason kept.
pub const MAX_REASON_CHARS: usize = 2000;

/// The current time (a parameter everywhere else, so tests control the clock).
pub fn now() -> time::OffsetDateTime {
    time::OffsetDateTime::now_utc()
}

/// A fixed-width UTC timestamp (`2026-04-01T10:00:00.000000Z`), so stamps sort as text.
pub fn stamp(t: OffsetDateTime) -> String {
    let t = t.to_offset(time::UtcOffset::UTC);
    let format = time::macros::format_description!("[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:6]Z");
    t.format(&format).unwrap_or_default()
}

fn day_of(date: time::Date) -> String {
    let format = time::macros::format_description!("[year]-[month]-[day]");
    date.format(&format).unwrap_or_default()
}

fn parse_day(raw: &str) -> Option<time::Date> {
    let format = time::macros::format_description!("[year]-[month]-[day]");
    time::Date::parse(raw, &format).ok()
}

/// Who acts: from the verified token (`care`: the `customer-care` group).
#[derive(Debug, Clone)]
pub struct Actor {
    pub email: Email,
    pub care: bool,
}

impl From<&crate::http::identity::Caller> for Actor {
    fn from(c: &crate::http::identity::Caller) -> Actor {
        Actor { email: c.email.clone(), care: c.care }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum AccessError {
    #[error("no account site {0}")]
    UnknownSite(SupportId),
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    Forbidden(String),
    #[error("{0}")]
    Conflict(String),
    #[error("{0}")]
    BadInput(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<AccessError> for ApiError {
    fn from(e: AccessError) -> ApiError {
        match e {
            AccessError::UnknownSite(_) | AccessError::NotFound(_) => ApiError::NotFound(e.to_string()),
            AccessError::Forbidden(m) => ApiError::Forbidden(m),
            AccessError::Conflict(m) => ApiError::Conflict(m),
            AccessError::BadInput(m) => ApiError::BadRequest(m),
            AccessError::Store(s) => ApiError::Store(s),
        }
    }
}

/// What a creation did.
#[derive(Debug, Clone)]
pub enum Created {
    /// A new request (201).
    New(AccessRequest),
    /// The caller's request for that site that is already open (200).
    Existing(AccessRequest),
}

#[derive(Debug, Clone)]
pub enum Decision {
    /// `role`: only Care may grant another role than requested.
    Approve {
        role: Option<Role>,
    },
    Reject {
        reason: String,
    },
}

/// The §5 Care-queue message.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CareMessage {
    pub schema: String,
    pub request_id: String,
    pub support_id: SupportId,
    pub site_name: String,
    pub requester_email: Email,
    pub kind: RequestKind,
    pub requested_role: Role,
    pub created_at: String,
    pub reason: EscalationReason,
}

impl CareMessage {
    pub fn of(r: &AccessRequest, reason: EscalationReason) -> CareMessage {
        CareMessage {
            schema: CARE_SCHEMA.into(),
            request_id: r.request_id.clone(),
            support_id: r.support_id.clone(),
            site_name: r.site_name.clone(),
            requester_email: r.requester_email.clone(),
            kind: r.kind,
            requested_role: r.requested_role,
            created_at: r.created_at.clone(),
            reason,
        }
    }
}

/// Is this Lambda payload EventBridge's scheduled event (the SLA sweep's trigger)?
pub fn is_scheduled_event(payload: &serde_json::Value) -> bool {
    payload.get("source").and_then(|v| v.as_str()) == Some("aws.events")
        && payload.get("detail-type").and_then(|v| v.as_str()) == Some("Scheduled Event")
}

// ---- transactions ---------------------------------------------------------------------

/// `Ok(true)`: committed. `Ok(false)`: cancelled by a condition or by contention — the
/// caller re-reads and decides again. Other failures are errors.
async fn commit(state: &AppState, op: &'static str, items: Vec<TransactWriteItem>) -> Result<bool, StoreError> {
    match state.store.transact(op, items).await {
        Ok(()) => Ok(true),
        Err(TxError::Cancelled(codes)) => {
            tracing::debug!(op, ?codes, "transaction cancelled; re-reading");
            Ok(false)
        }
        Err(TxError::Store(e)) if e.is_transient() => {
            tracing::debug!(op, error = %e, "transaction contended; re-reading");
            Ok(false)
        }
        Err(TxError::Store(e)) => Err(e),
    }
}

async fn backoff(attempt: u32) {
    if attempt == 0 {
        return;
    }
    let jitter = u64::from(uuid::Uuid::new_v4().as_bytes()[0]) % 20;
    tokio::time::sleep(Duration::from_millis((10u64 << attempt.min(6)) + jitter)).await;
}

/// The time of what an action sets off right after it (escalating an orphaned site's
/// requests): a microsecond later, so the history lists cause before effect.
fn follow_up(now: OffsetDateTime) -> OffsetDateTime {
    now + time::Duration::microseconds(1)
}

fn contended(op: &'static str) -> StoreError {
    StoreError::Unavailable { op, code: "Contention".into(), message: "the items kept changing; try again".into() }
}

fn marker_item(key: keys::Key, r: &AccessRequest) -> Item {
    let mut item = key.to_item();
    item.insert("request_id".into(), s(r.request_id.clone()));
    item.insert("support_id".into(), s(r.support_id.as_str()));
    item.insert("created_at".into(), s(r.created_at.clone()));
    item
}

/// The items that make `r` (already `escalated`) reach Care: its work-list marker, the
/// outbox item holding the message, and the history entry.
fn escalation_items(table: &str, r: &AccessRequest, reason: EscalationReason, at: &str) -> Result<Vec<TransactWriteItem>, StoreError> {
    let body = serde_json::to_string(&CareMessage::of(r, reason)).map_err(|e| StoreError::Corrupt(e.to_string()))?;
    let mut outbox = r.outbox_key().to_item();
    outbox.insert("request_id".into(), s(r.request_id.clone()));
    outbox.insert("at".into(), s(at));
    outbox.insert("body".into(), s(body));
    let mut history = HistoryEntry::new(&r.support_id, at, 1, "system", "escalated_to_care");
    history.request_id = Some(r.request_id.clone());
    history.subject = Some(r.requester_email.clone());
    history.role = Some(r.requested_role);
    history.reason = Some(reason_str(reason).into());
    Ok(vec![tx_put(table, marker_item(r.care_marker(), r), None)?, tx_put(table, outbox, None)?, tx_put(table, history.to_item()?, None)?])
}

/// The items recording that `site` has just lost an admin and is left with `left`: at
/// most one admin means some `pending_admin` request may have no admin but its requester
/// left to decide it, so an `ORPHANED#` outbox item has them re-routed; none at all is
/// also the history's `last_admin_lost`.
fn admin_loss_items(table: &str, site: &SupportId, left: i64, actor: &Actor, at: &str) -> Result<Vec<TransactWriteItem>, StoreError> {
    let mut items = Vec::new();
    if left <= 1 {
        let mut outbox = keys::outbox_orphaned_site(site).to_item();
        outbox.insert("support_id".into(), s(site.as_str()));
        outbox.insert("at".into(), s(at));
        items.push(tx_put(table, outbox, None)?);
    }
    if left == 0 {
        items.push(tx_put(table, HistoryEntry::new(site, at, 1, actor.email.as_str(), "last_admin_lost").to_item()?, None)?);
    }
    Ok(items)
}

pub fn reason_str(reason: EscalationReason) -> &'static str {
    match reason {
        EscalationReason::NoSiteAdministrator => "no_site_administrator",
        EscalationReason::AdminSlaExpired => "admin_sla_expired",
    }
}

// ---- creation -------------------------------------------------------------------------

/// `POST /v1/access-requests`: a join or role-change request, routed at creation.
pub async fn create_request(
    state: &AppState,
    actor: &Actor,
    site: &SupportId,
    role: Role,
    now: OffsetDateTime,
) -> Result<Created, AccessError> {
    let store = &state.store;
    let table = store.table().to_string();
    let at = stamp(now);
    for attempt in 0..ATTEMPTS {
        backoff(attempt).await;
        let (meta, current, open) = futures::try_join!(
            store.site_meta(site),
            store.membership_role(&actor.email, site),
            store.open_request_id(&actor.email, site),
        )?;
        let Some(meta) = meta else { return Err(AccessError::UnknownSite(site.clone())) };
        if let Some(id) = open {
            match store.access_request(&id).await? {
                Some(r) if r.status.is_open() => return Ok(Created::Existing(r)),
                // Markers leave in the transaction that closes their request; heal one anyway.
                _ => {
                    store.delete_item("DeleteItem stale open-request marker", &keys::open_request(&actor.email, site)).await?;
                    continue;
                }
            }
        }
        if current == Some(role) {
            return Err(AccessError::Conflict(format!("you already have the role {role} at {site}")));
        }
        let other_admins = meta.admin_count - i64::from(current == Some(Role::Admin));
        let escalate = other_admins <= 0;
        let request = AccessRequest {
            request_id: uuid::Uuid::new_v4().to_string(),
            support_id: site.clone(),
            site_name: meta.name.clone(),
            requester_email: actor.email.clone(),
            kind: if current.is_some() { RequestKind::RoleChange } else { RequestKind::Join },
            requested_role: role,
            status: if escalate { RequestStatus::Escalated } else { RequestStatus::PendingAdmin },
            created_at: at.clone(),
            decided_by: None,
            decided_at: None,
            reason: None,
            granted_role: None,
            escalated_at: escalate.then(|| at.clone()),
            escalation_reason: escalate.then_some(EscalationReason::NoSiteAdministrator),
        };
        let mut created = HistoryEntry::new(site, &at, 0, actor.email.as_str(), "request_created");
        created.request_id = Some(request.request_id.clone());
        created.subject = Some(actor.email.clone());
        created.role = Some(role);
        created.previous_role = current;
        let mut items = vec![
            tx_put(&table, request.to_item()?, Some(Cond::absent()))?,
            tx_put(&table, marker_item(request.open_marker(), &request), Some(Cond::absent()))?,
            tx_check(&table, &keys::membership(&actor.email, site), Cond::membership_is(current))?,
            tx_check(&table, &keys::site_meta(site), Cond::admin_count_is(meta.admin_count))?,
            tx_put(&table, created.to_item()?, None)?,
        ];
        if escalate {
            items.extend(escalation_items(&table, &request, EscalationReason::NoSiteAdministrator, &at)?);
        } else {
            let mut routed = HistoryEntry::new(site, &at, 1, "system", "routed_to_site_admins");
            routed.request_id = Some(request.request_id.clone());
            routed.subject = Some(actor.email.clone());
            items.push(tx_put(&table, marker_item(request.pending_day_marker(), &request), None)?);
            items.push(tx_put(&table, marker_item(request.site_pending_marker(), &request), None)?);
            items.push(tx_put(&table, routed.to_item()?, None)?);
        }
        if commit(state, "TransactWriteItems create access request", items).await? {
            tracing::info!(request_id = request.request_id, site = %site, status = request.status.as_str(), "access request created");
            if escalate {
                deliver_request(state, &request, EscalationReason::NoSiteAdministrator).await;
            }
            return Ok(Created::New(request));
        }
    }
    Err(contended("create access request").into())
}

// ---- decisions ------------------------------------------------------------------------

/// `POST /v1/access-requests/{id}/approve|reject`.
pub async fn decide(
    state: &AppState,
    actor: &Actor,
    id: &str,
    decision: Decision,
    now: OffsetDateTime,
) -> Result<AccessRequest, AccessError> {
    let store = &state.store;
    let table = store.table().to_string();
    let at = stamp(now);
    if let Decision::Reject { reason } = &decision {
        let reason = reason.trim();
        if reason.is_empty() || reason.chars().count() > MAX_REASON_CHARS {
            return Err(AccessError::BadInput(format!("reason must be 1 to {MAX_REASON_CHARS} characters")));
        }
    }
    for attempt in 0..ATTEMPTS {
        backoff(attempt).await;
        let Some(request) = store.access_request(id).await? else {
            return Err(AccessError::NotFound(format!("no access request {id}")));
        };
        let site = request.support_id.clone();
        if request.requester_email == actor.email {
            return Err(AccessError::Forbidden("nobody decides their own request".into()));
        }
        if !actor.care && store.membership_role(&actor.email, &site).await? != Some(Role::Admin) {
            return Err(AccessError::Forbidden(format!("only an administrator of {site} or Customer Care may decide this request")));
        }
        if !request.status.is_open() {
            // A retried transaction that did commit: this very call decided it.
            if request.decided_by.as_ref() == Some(&actor.email) && request.decided_at.as_deref() == Some(at.as_str()) {
                return Ok(request);
            }
            return Err(AccessError::Conflict(format!(
                "request {id} was already {} by {} at {}",
                request.status.as_str(),
                request.decided_by.as_ref().map(Email::as_str).unwrap_or("?"),
                request.decided_at.as_deref().unwrap_or("?")
            )));
        }
        if request.status == RequestStatus::Escalated && !actor.care {
            return Err(AccessError::Forbidden("this request was escalated to Customer Care; only Care may decide it".into()));
        }
        let mut decided = request.clone();
        decided.decided_by = Some(actor.email.clone());
        decided.decided_at = Some(at.clone());
        let mut entry = HistoryEntry::new(&site, &at, 0, actor.email.as_str(), "");
        entry.request_id = Some(request.request_id.clone());
        entry.subject = Some(request.requester_email.clone());
        let mut items = Vec::new();
        let mut orphaned = false;
        match &decision {
            Decision::Approve { role } => {
                if role.is_some_and(|r| r != request.requested_role) && !actor.care {
                    return Err(AccessError::Forbidden("only Customer Care may approve with another role than requested".into()));
                }
                let granted = role.unwrap_or(request.requested_role);
                decided.status = RequestStatus::Approved;
                decided.granted_role = Some(granted);
                let previous = store.membership_role(&request.requester_email, &site).await?;
                items.push(tx_set_membership(&table, &request.requester_email, &site, granted, &at, Cond::membership_is(previous))?);
                let (was_admin, is_admin) = (previous == Some(Role::Admin), granted == Role::Admin);
                if was_admin != is_admin {
                    let meta = store.site_meta(&site).await?.ok_or_else(|| AccessError::UnknownSite(site.clone()))?;
                    let new_count = (meta.admin_count + if is_admin { 1 } else { -1 }).max(0);
                    items.push(tx_set_admin_count(&table, &site, meta.admin_count, new_count)?);
                    if !is_admin {
                        orphaned = new_count <= 1;
                        items.extend(admin_loss_items(&table, &site, new_count, actor, &at)?);
                    }
                }
                entry.action = "approved".into();
                entry.role = Some(granted);
                entry.previous_role = previous;
            }
            Decision::Reject { reason } => {
                decided.status = RequestStatus::Rejected;
                decided.reason = Some(reason.trim().to_string());
                entry.action = "rejected".into();
                entry.role = Some(request.requested_role);
                entry.reason = decided.reason.clone();
            }
        }
        items.insert(0, tx_put(&table, decided.to_item()?, Some(Cond::status_is(request.status)))?);
        if !actor.care {
            items.push(tx_check(&table, &keys::membership(&actor.email, &site), Cond::role_is(Role::Admin))?);
        }
        items.push(tx_put(&table, entry.to_item()?, None)?);
        items.push(tx_delete(&table, &request.open_marker(), None)?);
        if request.status == RequestStatus::PendingAdmin {
            items.push(tx_delete(&table, &request.pending_day_marker(), None)?);
            items.push(tx_delete(&table, &request.site_pending_marker(), None)?);
        } else {
            items.push(tx_delete(&table, &request.care_marker(), None)?);
            // An escalation message still unsent has nothing left to ask.
            items.push(tx_delete(&table, &request.outbox_key(), None)?);
        }
        if commit(state, "TransactWriteItems decide access request", items).await? {
            tracing::info!(request_id = id, site = %site, status = decided.status.as_str(), decided_by = %actor.email, "access request decided");
            if orphaned {
                if let Err(e) = process_orphaned(state, &site, follow_up(now)).await {
                    tracing::warn!(error = %e, site = %site, "escalating an orphaned site's requests failed; the sweep retries");
                }
            }
            return Ok(decided);
        }
    }
    Err(AccessError::Conflict(format!("request {id} changed while it was being decided; read it again")))
}

// ---- memberships ----------------------------------------------------------------------

/// The site, if `actor` may manage it (an admin of it, or Care): 404 unknown, 403 otherwise.
pub async fn require_site_manager(state: &AppState, actor: &Actor, site: &SupportId) -> Result<SiteMeta, AccessError> {
    let (meta, role) = futures::try_join!(state.store.site_meta(site), async {
        if actor.care {
            Ok(None)
        } else {
            state.store.membership_role(&actor.email, site).await
        }
    })?;
    let meta = meta.ok_or_else(|| AccessError::UnknownSite(site.clone()))?;
    if actor.care || role == Some(Role::Admin) {
        Ok(meta)
    } else {
        Err(AccessError::Forbidden(format!("only an administrator of {site} or Customer Care may do this")))
    }
}

/// `DELETE /v1/sites/{s}/members/{e}`: removes a membership; returns the removed one.
pub async fn remove_member(
    state: &AppState,
    actor: &Actor,
    site: &SupportId,
    member: &Email,
    now: OffsetDateTime,
) -> Result<Membership, AccessError> {
    let store = &state.store;
    let table = store.table().to_string();
    let at = stamp(now);
    for attempt in 0..ATTEMPTS {
        backoff(attempt).await;
        let meta = require_site_manager(state, actor, site).await?;
        let Some(role) = store.membership_role(member, site).await? else {
            return Err(AccessError::NotFound(format!("{member} is not a member of {site}")));
        };
        let mut items = vec![tx_delete(&table, &keys::membership(member, site), Some(Cond::role_is(role)))?];
        if !actor.care && &actor.email != member {
            items.push(tx_check(&table, &keys::membership(&actor.email, site), Cond::role_is(Role::Admin))?);
        }
        let mut orphaned = false;
        if role == Role::Admin {
            let new_count = (meta.admin_count - 1).max(0);
            items.push(tx_set_admin_count(&table, site, meta.admin_count, new_count)?);
            orphaned = new_count <= 1;
            items.extend(admin_loss_items(&table, site, new_count, actor, &at)?);
        }
        let mut entry = HistoryEntry::new(site, &at, 0, actor.email.as_str(), "member_removed");
        entry.subject = Some(member.clone());
        entry.role = Some(role);
        items.push(tx_put(&table, entry.to_item()?, None)?);
        if commit(state, "TransactWriteItems remove member", items).await? {
            tracing::info!(site = %site, member = %member, removed_by = %actor.email, "membership removed");
            if orphaned {
                if let Err(e) = process_orphaned(state, site, follow_up(now)).await {
                    tracing::warn!(error = %e, site = %site, "escalating an orphaned site's requests failed; the sweep retries");
                }
            }
            return Ok(Membership { email: member.clone(), support_id: site.clone(), role, since: None });
        }
    }
    Err(contended("remove member").into())
}

// ---- work lists -----------------------------------------------------------------------

/// Where an approvals page resumes: a source (`care` or `site:{s}`) and a key in it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ApprovalsPos {
    pub source: String,
    pub key: Option<PageKey>,
}

/// `GET /v1/approvals`: open requests the actor may decide — for Care the escalated ones
/// (Care's work list; Care may also decide a `pending_admin` request by id), then the
/// `pending_admin` requests of every site the actor administers; never the actor's own.
pub async fn approvals_page(
    state: &AppState,
    actor: &Actor,
    start: Option<ApprovalsPos>,
    limit: usize,
) -> Result<(Vec<AccessRequest>, Option<ApprovalsPos>), AccessError> {
    let store = &state.store;
    let mut sources: Vec<(String, crate::store::access::Listing<'static>)> = Vec::new();
    if actor.care {
        sources.push((
            "care".into(),
            crate::store::access::Listing {
                op: "Query care work list",
                index: None,
                pk: keys::CARE_ESCALATED_PK.into(),
                prefix: None,
                forward: true,
            },
        ));
    }
    let memberships = store.all_items("Query memberships", &keys::contact_pk(&actor.email), Some(keys::MEMBER_PREFIX)).await?;
    let mut admin_sites: Vec<SupportId> = memberships
        .iter()
        .filter(|m| get_s(m, "role") == Some(Role::Admin.as_str()))
        .filter_map(|m| SupportId::parse(get_s(m, "support_id")?).ok())
        .collect();
    admin_sites.sort();
    for site in admin_sites {
        sources.push((
            format!("site:{site}"),
            crate::store::access::Listing {
                op: "Query site work list",
                index: None,
                pk: keys::site_pk(&site),
                prefix: Some(keys::SITE_PENDING_PREFIX),
                forward: true,
            },
        ));
    }
    let (first, mut key) = match start {
        None => (0, None),
        Some(pos) => match sources.iter().position(|(label, _)| *label == pos.source) {
            Some(i) => (i, pos.key),
            // The source is gone (the actor lost that admin role): nothing more to list.
            None => return Ok((Vec::new(), None)),
        },
    };
    let mut ids: Vec<String> = Vec::new();
    let mut next = None;
    for (label, listing) in sources.iter().skip(first) {
        let remaining = limit.saturating_sub(ids.len());
        if remaining == 0 {
            next = Some(ApprovalsPos { source: label.clone(), key: None });
            break;
        }
        let page = store.page(listing, key.take().as_ref(), remaining, false).await?;
        ids.extend(page.items.iter().filter_map(|i| get_s(i, "request_id").map(str::to_string)));
        if let Some(k) = page.next {
            next = Some(ApprovalsPos { source: label.clone(), key: Some(k) });
            break;
        }
    }
    let requests = store
        .access_requests(&ids)
        .await?
        .into_iter()
        .filter(|r| r.status.is_open() && r.requester_email != actor.email && (actor.care || r.status == RequestStatus::PendingAdmin))
        .collect();
    Ok((requests, next))
}

// ---- escalation, outbox, sweep --------------------------------------------------------

/// Sends a request's escalation message now (the outbox item is already stored).
async fn deliver_request(state: &AppState, r: &AccessRequest, reason: EscalationReason) {
    match serde_json::to_string(&CareMessage::of(r, reason)) {
        Ok(body) => {
            deliver(state, &r.request_id, &body).await;
        }
        Err(e) => tracing::error!(error = %e, "care message did not serialize"),
    }
}

/// Sends one Care message, then deletes its outbox item. `false`: it stays for the sweep.
async fn deliver(state: &AppState, request_id: &str, body: &str) -> bool {
    let Some(care) = &state.care else {
        tracing::warn!(request_id, "no Care queue configured (ABEV_CARE_QUEUE_URL); the escalation waits in the outbox");
        return false;
    };
    if let Err(e) = care.sqs.send_message().queue_url(&care.url).message_body(body).send().await {
        tracing::warn!(request_id, error = %aws_sdk_sqs::error::DisplayErrorContext(&e), "sending to the Care queue failed; the sweep re-sends");
        return false;
    }
    if let Err(e) = state.store.delete_item("DeleteItem care outbox", &keys::outbox_escalation(request_id)).await {
        // Sent but still in the outbox: the sweep sends it once more, which is harmless.
        tracing::warn!(request_id, error = %e, "deleting the outbox item failed");
    }
    true
}

/// Escalates one `pending_admin` request; `false` if it was no longer `pending_admin` (or,
/// for `no_site_administrator`, if the site has an admin again).
pub async fn escalate(state: &AppState, id: &str, reason: EscalationReason, now: OffsetDateTime) -> Result<bool, StoreError> {
    let store = &state.store;
    let table = store.table().to_string();
    let at = stamp(now);
    for attempt in 0..ATTEMPTS {
        backoff(attempt).await;
        let Some(request) = store.access_request(id).await? else { return Ok(false) };
        if request.status != RequestStatus::PendingAdmin {
            // Markers leave with their request's status; heal leftovers anyway.
            store.delete_item("DeleteItem stale pending marker", &request.pending_day_marker()).await?;
            store.delete_item("DeleteItem stale site pending marker", &request.site_pending_marker()).await?;
            return Ok(false);
        }
        let mut items = Vec::new();
        if reason == EscalationReason::NoSiteAdministrator {
            // Only if no admin but the requester is left, exactly as read.
            let site = &request.support_id;
            let (meta, requester_role) = futures::try_join!(store.site_meta(site), store.membership_role(&request.requester_email, site))?;
            let admins = meta.map(|m| m.admin_count).unwrap_or(0);
            if admins - i64::from(requester_role == Some(Role::Admin)) > 0 {
                return Ok(false);
            }
            items.push(tx_check(&table, &keys::site_meta(site), Cond::admin_count_is(admins))?);
            items.push(tx_check(&table, &keys::membership(&request.requester_email, site), Cond::membership_is(requester_role))?);
        }
        let mut escalated = request.clone();
        escalated.status = RequestStatus::Escalated;
        escalated.escalated_at = Some(at.clone());
        escalated.escalation_reason = Some(reason);
        items.push(tx_put(&table, escalated.to_item()?, Some(Cond::status_is(RequestStatus::PendingAdmin)))?);
        items.push(tx_delete(&table, &request.pending_day_marker(), None)?);
        items.push(tx_delete(&table, &request.site_pending_marker(), None)?);
        items.extend(escalation_items(&table, &escalated, reason, &at)?);
        if commit(state, "TransactWriteItems escalate access request", items).await? {
            tracing::info!(request_id = id, site = %request.support_id, reason = reason_str(reason), "access request escalated to Care");
            deliver_request(state, &escalated, reason).await;
            return Ok(true);
        }
    }
    Err(contended("escalate access request"))
}

/// A site lost an admin and has at most one left: escalate each `pending_admin` request
/// that no admin other than its requester can decide any more, then clear the outbox
/// item. Returns how many were escalated.
pub async fn process_orphaned(state: &AppState, site: &SupportId, now: OffsetDateTime) -> Result<usize, StoreError> {
    let admins = state.store.site_meta(site).await?.map(|m| m.admin_count).unwrap_or(0);
    let mut escalated = 0;
    if admins <= 1 {
        for id in state.store.site_pending_ids(site).await? {
            if escalate(state, &id, EscalationReason::NoSiteAdministrator, now).await? {
                escalated += 1;
            }
        }
    }
    state.store.delete_item("DeleteItem care outbox", &keys::outbox_orphaned_site(site)).await?;
    Ok(escalated)
}

/// Re-sends what the outbox still holds (items older than a minute: younger ones belong
/// to requests still being handled). Returns how many requests it escalated.
pub async fn flush_outbox(state: &AppState, now: OffsetDateTime) -> Result<usize, StoreError> {
    let cutoff = stamp(now - OUTBOX_GRACE);
    let mut escalated = 0;
    for item in state.store.outbox().await? {
        if get_s(&item, "at").is_none_or(|at| at > cutoff.as_str()) {
            continue;
        }
        let sk = get_s(&item, keys::SK).unwrap_or_default();
        if sk.starts_with(keys::OUTBOX_ESCALATION_PREFIX) {
            if let (Some(id), Some(body)) = (get_s(&item, "request_id"), get_s(&item, "body")) {
                deliver(state, id, body).await;
            }
        } else if let Some(site) = sk.strip_prefix(keys::OUTBOX_ORPHANED_PREFIX).and_then(|s| SupportId::parse(s).ok()) {
            escalated += process_orphaned(state, &site, follow_up(now)).await?;
        }
    }
    Ok(escalated)
}

/// Escalates `pending_admin` requests older than the admin SLA; returns how many.
/// Also finishes what the outbox holds (unsent messages, orphaned sites).
pub async fn sweep(state: &AppState, now: OffsetDateTime) -> Result<usize, StoreError> {
    let mut escalated = flush_outbox(state, now).await?;
    let deadline = now - time::Duration::days(state.admin_sla_days as i64);
    let deadline_stamp = stamp(deadline);
    let deadline_day = deadline.to_offset(time::UtcOffset::UTC).date();
    let first_day = match state.store.sweep_watermark().await?.as_deref().and_then(parse_day) {
        Some(day) => day,
        None => deadline_day - time::Duration::days(FIRST_SWEEP_LOOKBACK_DAYS),
    };
    let mut day = first_day;
    while day <= deadline_day {
        for (created_at, id) in state.store.pending_on_day(&day_of(day)).await? {
            if created_at <= deadline_stamp && escalate(state, &id, EscalationReason::AdminSlaExpired, now).await? {
                escalated += 1;
            }
        }
        match day.next_day() {
            Some(d) => day = d,
            None => break,
        }
    }
    // Every day before the deadline's is done; the deadline's day is swept again next time.
    state.store.advance_sweep_watermark(&day_of(deadline_day)).await?;
    if escalated > 0 {
        tracing::info!(escalated, "admin-SLA sweep escalated requests");
    }
    Ok(escalated)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stamps_sort_as_text_and_have_fixed_width() {
        let t = time::macros::datetime!(2026-04-01 10:00:00 UTC);
        let a = stamp(t);
        let b = stamp(t + time::Duration::milliseconds(500));
        assert_eq!(a, "2026-04-01T10:00:00.000000Z");
        assert_eq!(a.len(), b.len());
        assert!(a < b);
    }

    #[test]
    fn recognises_only_eventbridge_scheduled_events() {
        let scheduled =
            serde_json::json!({"version": "0", "id": "x", "detail-type": "Scheduled Event", "source": "aws.events", "detail": {}});
        assert!(is_scheduled_event(&scheduled));
        let http = serde_json::json!({"version": "2.0", "routeKey": "GET /v1/sites", "rawPath": "/v1/sites"});
        assert!(!is_scheduled_event(&http));
        assert!(!is_scheduled_event(&serde_json::json!({"source": "aws.events", "detail-type": "Other"})));
    }

    #[test]
    fn care_message_has_the_spec_shape() {
        let r = AccessRequest {
            request_id: "r1".into(),
            support_id: SupportId::parse("FARM-1").unwrap(),
            site_name: "Farm Foods".into(),
            requester_email: Email::parse("ted@data.example").unwrap(),
            kind: RequestKind::Join,
            requested_role: Role::User,
            status: RequestStatus::Escalated,
            created_at: "2026-04-01T10:00:00.000000Z".into(),
            decided_by: None,
            decided_at: None,
            reason: None,
            granted_role: None,
            escalated_at: None,
            escalation_reason: None,
        };
        let v = serde_json::to_value(CareMessage::of(&r, EscalationReason::NoSiteAdministrator)).unwrap();
        assert_eq!(
            v,
            serde_json::json!({"schema": "abev.care-escalation.v1", "request_id": "r1", "support_id": "FARM-1", "site_name": "Farm Foods",
                "requester_email": "ted@data.example", "kind": "join", "requested_role": "user",
                "created_at": "2026-04-01T10:00:00.000000Z", "reason": "no_site_administrator"})
        );
    }
}
