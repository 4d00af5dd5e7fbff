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

//!
//! Shape: each operation reads a snapshot, hands it to its pure rule in [`rules`] (which
//! answers a [`rules::Plan`] of typed writes and messages, or an error) and [`run`] commits
//! the plan in one transaction, re-reading only when a condition failed (contention is
//! retried inside `store::table`).

pub mod claim_rules;
pub mod claims;
pub mod domain_rules;
pub mod domains;
pub mod expiry;
pub mod invitation_rules;
pub mod invitations;
pub mod request_expiry;
pub mod review_rules;
pub mod reviews;
pub mod rules;
#[cfg(test)]
mod test_fixtures;

use crate::domain::access::{day_of, parse_day};
use crate::domain::{Email, Role, SupportId};
use crate::store::access::{tx_items, SiteMeta, Write};
use crate::store::keys;
use crate::store::table::TxError;
use crate::store::{get_s, Store, StoreError};
use serde::{Deserialize, Serialize};
use std::future::Future;
use time::OffsetDateTime;

pub use crate::domain::access::{EscalationReason, HistoryAction, RequestId, Stamp};
pub use crate::store::access::{AccessRequest, HistoryEntry, Membership, PageKey, RequestKind, RequestStatus};
pub use rules::{Created, Decision, Plan, RolloutChange, MAX_REASON_CHARS};

/// The schema name of a Care-queue message.
pub const CARE_SCHEMA: &str = "abev.care-escalation.v1";
/// How often an operation re-reads after one of its conditions failed before giving up.
const ATTEMPTS: u32 = 8;
/// Outbox items younger than this are left to the request that wrote them.
const OUTBOX_GRACE: time::Duration = time::Duration::minutes(1);
/// How far back the very first sweep looks (later sweeps start at their watermark).
const FIRST_SWEEP_LOOKBACK_DAYS: i64 = 90;

/// The current time (a parameter everywhere else, so tests control the clock).
pub fn now() -> time::OffsetDateTime {
    time::OffsetDateTime::now_utc()
}

/// A fixed-width UTC timestamp (see [`Stamp`]).
pub fn stamp(t: OffsetDateTime) -> String {
    Stamp::of(t).as_str().to_string()
}

/// Where escalations go.
#[derive(Clone, Debug)]
pub struct CareQueue {
    pub sqs: aws_sdk_sqs::Client,
    pub url: String,
}

/// Limits on access requests (abuse of the request route): open requests per requester,
/// and the cool-down after a rejection before the same contact may ask for the same site.
#[derive(Clone, Debug, PartialEq)]
pub struct Limits {
    pub max_open_requests: u32,
    pub rejection_cooldown: time::Duration,
    /// What `Retry-After` says when the open-request limit is reached.
    pub open_retry_after: time::Duration,
    /// How long site history entries are kept (`ABEV_AUDIT_RETENTION_DAYS`; the table's TTL
    /// deletes them after that). `None`: kept for ever.
    pub history_retention: Option<time::Duration>,
    /// Claims by proof of purchase: the bounds on guessing and the default revocation window.
    pub claims: claim_rules::ClaimLimits,
    /// Domain rules: the public mail providers no rule may name (`ABEV_PUBLIC_MAIL_DOMAINS`).
    pub domain_rules: domain_rules::DomainRuleLimits,
    /// How long an invitation may be accepted (14 days).
    pub invitation_lifetime: time::Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_open_requests: 10,
            rejection_cooldown: time::Duration::hours(24),
            open_retry_after: time::Duration::hours(1),
            history_retention: None,
            claims: claim_rules::ClaimLimits::default(),
            domain_rules: domain_rules::DomainRuleLimits::default(),
            invitation_lifetime: time::Duration::days(14),
        }
    }
}

impl Limits {
    /// `ABEV_MAX_OPEN_REQUESTS` (default 10) and `ABEV_REJECTION_COOLDOWN_HOURS` (default 24).
    pub fn from_env() -> Result<Limits, crate::config::ConfigError> {
        let max = crate::config::number("ABEV_MAX_OPEN_REQUESTS", 10)?;
        let hours = crate::config::number("ABEV_REJECTION_COOLDOWN_HOURS", 24)?;
        let retention_days = crate::config::number("ABEV_AUDIT_RETENTION_DAYS", 0)?;
        Ok(Limits {
            history_retention: (retention_days > 0).then(|| time::Duration::days(i64::try_from(retention_days).unwrap_or(36_500))),
            max_open_requests: u32::try_from(max).unwrap_or(u32::MAX).max(1),
            rejection_cooldown: time::Duration::hours(i64::try_from(hours).unwrap_or(i64::MAX / 3600)),
            domain_rules: domain_rules::DomainRuleLimits::with_public_domains(Some(&crate::config::optional(
                "ABEV_PUBLIC_MAIL_DOMAINS",
                "",
            ))),
            ..Limits::default()
        })
    }
}

/// What the workflow needs: the store, the Care queue, the admin SLA and the limits.
#[derive(Clone, Debug)]
pub struct Workflow {
    pub store: Store,
    pub care: Option<CareQueue>,
    pub admin_sla_days: u64,
    pub limits: Limits,
}

/// Who acts: from the verified token (`care`: the Customer Care group).
#[derive(Debug, Clone)]
pub struct Actor {
    pub email: Email,
    pub care: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum AccessError {
    #[error("no account site {0}")]
    UnknownSite(SupportId),
    /// A site the actor does not administer, worded like one that does not exist.
    #[error("no account site {0} that you administer")]
    NotYourSite(SupportId),
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    Forbidden(String),
    #[error("{0}")]
    Conflict(String),
    #[error("{0}")]
    BadInput(String),
    /// Past a limit on requests: try again after `retry_after`.
    #[error("{detail}")]
    TooMany { detail: String, retry_after: time::Duration },
    /// A plan that cannot be written (a bug, not the caller's doing).
    #[error("{0}")]
    Invalid(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The §5 Care-queue message.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CareMessage {
    pub schema: String,
    pub request_id: RequestId,
    pub support_id: SupportId,
    pub site_name: String,
    pub requester_email: Email,
    pub kind: RequestKind,
    pub requested_role: Role,
    pub created_at: Stamp,
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

pub fn reason_str(reason: EscalationReason) -> &'static str {
    reason.as_str()
}

/// Is this Lambda payload EventBridge's scheduled event (the SLA sweep's trigger)?
pub fn is_scheduled_event(payload: &serde_json::Value) -> bool {
    payload.get("source").and_then(|v| v.as_str()) == Some("aws.events")
        && payload.get("detail-type").and_then(|v| v.as_str()) == Some("Scheduled Event")
}

/// The time of what an action sets off right after it (escalating an orphaned site's
/// requests): a microsecond later, so the history lists cause before effect.
fn follow_up(now: OffsetDateTime) -> OffsetDateTime {
    now + time::Duration::microseconds(1)
}

// ---- the one read–plan–commit loop ------------------------------------------------------

/// Runs one operation: `read` a snapshot, `plan` from it, commit the plan's writes in one
/// transaction; if a condition failed (the table moved since the read), read and plan
/// again. After the commit: send the plan's Care messages, re-route an orphaned site.
/// Gives each history entry its expiry (`ttl`, epoch seconds) when a retention is set.
fn expire_history(writes: &mut [Write], retention: Option<time::Duration>, now: OffsetDateTime) {
    let Some(retention) = retention else { return };
    for w in writes {
        if let Write::History(entry) = w {
            entry.ttl = Some((now + retention).unix_timestamp());
        }
    }
}

pub async fn run<S, T, R, Fut>(
    wf: &Workflow,
    op: &'static str,
    now: OffsetDateTime,
    mut read: R,
    plan: impl Fn(S) -> Result<Plan<T>, AccessError>,
) -> Result<T, AccessError>
where
    R: FnMut() -> Fut,
    Fut: Future<Output = Result<S, AccessError>>,
{
    for attempt in 0..ATTEMPTS {
        let mut planned = plan(read().await?)?;
        if planned.writes.is_empty() {
            return Ok(planned.outcome);
        }
        expire_history(&mut planned.writes, wf.limits.history_retention, now);
        let items = tx_items(wf.store.table(), &planned.writes)?;
        match wf.store.transact(op, items).await {
            Ok(()) => {
                for message in &planned.messages {
                    deliver_message(wf, message).await;
                }
                if let Some(site) = &planned.orphaned {
                    if let Err(e) = process_orphaned(wf, site, follow_up(now)).await {
                        tracing::warn!(error = %e, site = %site, "escalating an orphaned site's requests failed; the sweep retries");
                    }
                }
                return Ok(planned.outcome);
            }
            Err(TxError::Cancelled(codes)) => tracing::debug!(op, attempt, ?codes, "a condition failed; re-reading"),
            Err(TxError::Store(e)) => return Err(e.into()),
        }
    }
    Err(AccessError::Conflict(format!("{op}: the items kept changing while this was being done; try again")))
}

// ---- operations ---------------------------------------------------------------------------

/// `POST /v1/access-requests`: a join or role-change request, routed at creation.
pub async fn create_request(
    wf: &Workflow,
    actor: &Actor,
    site: &SupportId,
    role: Role,
    now: OffsetDateTime,
) -> Result<Created, AccessError> {
    create_request_as(wf, actor, false, site, role, now).await
}

/// `POST /v1/access-requests` by a caller whose token says whether their e-mail is verified:
/// a verified join at a domain the site has a rule for is approved at once by the rule
/// (issue 21 part 2, [`domain_rules`]); everything else is routed as [`create_request`] says.
pub async fn create_request_as(
    wf: &Workflow,
    actor: &Actor,
    email_verified: bool,
    site: &SupportId,
    role: Role,
    now: OffsetDateTime,
) -> Result<Created, AccessError> {
    let store = &wf.store;
    // The one rule this caller could match, read by key in the same round (only when it could apply).
    let rule_domain = email_verified.then(|| domain_rules::domain_of(&actor.email));
    let read_rule = || async {
        match rule_domain {
            Some(domain) => store.domain_rule(site, domain).await,
            None => Ok(None),
        }
    };
    let read = || async {
        loop {
            let (meta, current, open_id, (open_count, cooldown_until), rule) = futures::try_join!(
                store.site_meta(site),
                store.membership_role(&actor.email, site),
                store.open_request_id(&actor.email, site),
                store.request_limits(&actor.email, site),
                read_rule(),
            )?;
            let open = match open_id {
                None => None,
                Some(id) => match store.access_request(&id).await? {
                    Some(r) if r.status.is_open() => Some(r),
                    // Markers leave in the transaction that closes their request; heal one anyway.
                    _ => {
                        store.delete_item("DeleteItem stale open-request marker", &keys::open_request(&actor.email, site)).await?;
                        continue;
                    }
                },
            };
            return Ok::<_, AccessError>((rules::CreateSnapshot { site: meta, current, open, open_count, cooldown_until }, rule));
        }
    };
    let notice_id = uuid::Uuid::new_v4().to_string();
    // The Care notice of the plan that committed (the last one planned), sent after the commit.
    let notice_body: std::sync::Mutex<Option<String>> = std::sync::Mutex::new(None);
    let created = run(wf, "TransactWriteItems create access request", now, read, |(snap, rule)| {
        if let Ok(mut body) = notice_body.lock() {
            *body = None;
        }
        let (meta, current) = (snap.site.clone(), snap.current);
        let planned = rules::plan_create(snap, actor, site, role, &wf.limits, now, RequestId::new())?;
        match (&planned.outcome, meta, rule) {
            // Every answer before routing stands (open request, limits, unknown site, role held, cool-down).
            (Created::New(r), Some(meta), Some(rule)) if domain_rules::decides(Some(&rule), actor, email_verified, current, role) => {
                let approved = domain_rules::plan_approve_by_rule(&meta, &rule, actor, role, now, r.request_id.clone(), &notice_id)?;
                if let (Ok(mut slot), Some(body)) = (notice_body.lock(), domain_rules::notice_body(&approved.writes)) {
                    *slot = Some(body);
                }
                Ok(Plan { writes: approved.writes, messages: approved.messages, orphaned: None, outcome: Created::New(approved.outcome) })
            }
            _ => Ok(planned),
        }
    })
    .await?;
    if let Created::New(r) = &created {
        tracing::info!(request_id = %r.request_id, site = %site, status = r.status.as_str(), "access request created");
        if r.status == RequestStatus::Approved {
            tracing::info!(request_id = %r.request_id, site = %site, "access request approved by a domain rule");
            let body = notice_body.lock().ok().and_then(|mut b| b.take());
            if let Some(body) = body {
                claims::resend_notice(wf, &notice_id, &body).await;
            }
        }
    }
    Ok(created)
}

/// `POST /v1/access-requests/{id}/approve|reject`.
pub async fn decide(
    wf: &Workflow,
    actor: &Actor,
    id: &RequestId,
    decision: Decision,
    now: OffsetDateTime,
) -> Result<AccessRequest, AccessError> {
    if let Decision::Reject { reason } = &decision {
        rules::check_reason(reason)?;
    }
    let store = &wf.store;
    let read = || async {
        let Some(request) = store.access_request(id).await? else { return Ok(rules::DecideSnapshot::default()) };
        let site = request.support_id.clone();
        let (actor_role, requester_role, meta, (requester_open_count, _)) = futures::try_join!(
            store.acting_role(&actor.email, &site),
            store.membership_role(&request.requester_email, &site),
            store.site_meta(&site),
            store.request_limits(&request.requester_email, &site),
        )?;
        Ok(rules::DecideSnapshot { request: Some(request), actor_role, requester_role, site: meta, requester_open_count })
    };
    let decided = run(wf, "TransactWriteItems decide access request", now, read, |snap| {
        rules::plan_decide(snap, actor, id, &decision, &wf.limits, now)
    })
    .await?;
    tracing::info!(request_id = %id, site = %decided.support_id, status = decided.status.as_str(), decided_by = %actor.email, "access request decided");
    Ok(decided)
}

/// The site, if `actor` may manage it (an admin of it, or Care); one 404 for a site that
/// does not exist and one the actor does not administer.
pub async fn require_site_manager(wf: &Workflow, actor: &Actor, site: &SupportId) -> Result<SiteMeta, AccessError> {
    let (meta, role) = futures::try_join!(wf.store.site_meta(site), acting_role_of(&wf.store, actor, site))?;
    rules::may_manage(site, meta, actor, role)
}

/// The actor's role at the site as it acts: Care acts by its group, not by a membership.
pub(crate) async fn acting_role_of(store: &Store, actor: &Actor, site: &SupportId) -> Result<Option<Role>, StoreError> {
    if actor.care {
        Ok(None)
    } else {
        store.acting_role(&actor.email, site).await
    }
}

/// `DELETE /v1/sites/{s}/members/{e}`: removes a membership; returns the removed one.
pub async fn remove_member(
    wf: &Workflow,
    actor: &Actor,
    site: &SupportId,
    member: &Email,
    now: OffsetDateTime,
) -> Result<Membership, AccessError> {
    let store = &wf.store;
    let read = || async {
        let (meta, actor_role, member_role) =
            futures::try_join!(store.site_meta(site), acting_role_of(store, actor, site), store.membership_role(member, site),)?;
        Ok(rules::RemoveSnapshot { site: meta, actor_role, member_role })
    };
    let removed = run(wf, "TransactWriteItems remove member", now, read, |snap| rules::plan_remove(snap, actor, site, member, now)).await?;
    tracing::info!(site = %site, member = %member, removed_by = %actor.email, "membership removed");
    Ok(removed)
}

/// Escalates one `pending_admin` request; `false` if it was no longer `pending_admin` (or,
/// for `no_site_administrator`, if the site has an admin again).
pub async fn escalate(wf: &Workflow, id: &RequestId, reason: EscalationReason, now: OffsetDateTime) -> Result<bool, AccessError> {
    let store = &wf.store;
    let read = || async {
        let request = store.access_request(id).await?;
        let Some(r) = request.as_ref().filter(|r| r.status == RequestStatus::PendingAdmin) else {
            if let Some(r) = &request {
                // Markers leave with their request's status; heal leftovers anyway.
                store.delete_item("DeleteItem stale pending marker", &r.pending_day_marker()).await?;
                store.delete_item("DeleteItem stale site pending marker", &r.site_pending_marker()).await?;
            }
            return Ok(rules::EscalateSnapshot { request, ..Default::default() });
        };
        let (admin_count, requester_role) = if reason == EscalationReason::NoSiteAdministrator {
            let (meta, role) =
                futures::try_join!(store.site_meta(&r.support_id), store.membership_role(&r.requester_email, &r.support_id))?;
            (meta.map(|m| m.admin_count).unwrap_or(0), role)
        } else {
            (0, None)
        };
        Ok(rules::EscalateSnapshot { request, admin_count, requester_role })
    };
    let escalated =
        run(wf, "TransactWriteItems escalate access request", now, read, |snap| rules::plan_escalate(snap, reason, now)).await?;
    if escalated {
        tracing::info!(request_id = %id, reason = reason.as_str(), "access request escalated to Care");
    }
    Ok(escalated)
}

/// Enables or disables the view for one site (rollout waves; Care only). Takes effect with
/// the next request: the read side reads the flag on the site record it already reads.
pub async fn set_view_enabled(
    wf: &Workflow,
    actor: &Actor,
    site: &SupportId,
    enabled: bool,
    now: OffsetDateTime,
) -> Result<RolloutChange, AccessError> {
    let read = || async { Ok(wf.store.site_meta(site).await?) };
    let change = run(wf, "TransactWriteItems rollout", now, read, |meta| rules::plan_rollout(meta, actor, site, enabled, now)).await?;
    if change.changed {
        tracing::info!(site = %site, enabled, by = %actor.email, "view rollout changed");
    }
    Ok(change)
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
    wf: &Workflow,
    actor: &Actor,
    start: Option<ApprovalsPos>,
    limit: usize,
) -> Result<(Vec<AccessRequest>, Option<ApprovalsPos>), AccessError> {
    use crate::store::access::Listing;
    let store = &wf.store;
    let mut sources: Vec<(String, Listing<'static>)> = Vec::new();
    if actor.care {
        sources.push((
            "care".into(),
            Listing { op: "Query care work list", index: None, pk: keys::CARE_ESCALATED_PK.into(), prefix: None, forward: true },
        ));
    }
    let memberships = store.all_items("Query memberships", &keys::contact_pk(&actor.email), Some(keys::MEMBER_PREFIX)).await?;
    let mut admin_sites: Vec<SupportId> = memberships
        .iter()
        .filter(|m| get_s(m, "role") == Some(Role::Admin.as_str()))
        .filter(|m| rules_in_force(m))
        .filter_map(|m| SupportId::parse(get_s(m, "support_id")?).ok())
        .collect();
    admin_sites.sort();
    for site in admin_sites {
        sources.push((
            format!("site:{site}"),
            Listing {
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
    let mut ids: Vec<RequestId> = Vec::new();
    let mut next = None;
    for (label, listing) in sources.iter().skip(first) {
        let remaining = limit.saturating_sub(ids.len());
        if remaining == 0 {
            next = Some(ApprovalsPos { source: label.clone(), key: None });
            break;
        }
        let page = store.page(listing, key.take().as_ref(), remaining, false).await?;
        ids.extend(page.items.iter().filter_map(|i| get_s(i, "request_id").map(RequestId::stored)));
        if let Some(k) = page.next {
            next = Some(ApprovalsPos { source: label.clone(), key: Some(k) });
            break;
        }
    }
    let requests = store.access_requests(&ids).await?.into_iter().filter(|r| rules::awaits(r, actor)).collect();
    Ok((requests, next))
}

/// `GET /v1/access-requests/{id}`: a request, for its requester, Care, or an admin of its
/// site; anyone else gets the same 404 as for an id that does not exist.
pub async fn request_for(wf: &Workflow, actor: &Actor, id: &RequestId) -> Result<AccessRequest, AccessError> {
    let not_found = || AccessError::NotFound(format!("no access request {id}"));
    let request = wf.store.access_request(id).await?.ok_or_else(not_found)?;
    // The actor's role matters only when neither Care nor the requester.
    let role = if actor.care || request.requester_email == actor.email {
        None
    } else {
        wf.store.acting_role(&actor.email, &request.support_id).await?
    };
    if rules::may_see(&request, actor, role) {
        Ok(request)
    } else {
        Err(not_found())
    }
}

/// A membership item still in force now (an ended admin lists no work).
fn rules_in_force(item: &crate::store::keys::Item) -> bool {
    crate::domain::rules::membership_in_force(crate::store::access_expiry::ends_at_of(item), &stamp(now()))
}

// ---- escalation, outbox, sweep --------------------------------------------------------

/// Sends a request's escalation message now (its outbox item is already stored).
async fn deliver_message(wf: &Workflow, message: &CareMessage) {
    match serde_json::to_string(message) {
        Ok(body) => {
            deliver(wf, &message.request_id, &body).await;
        }
        Err(e) => tracing::error!(error = %e, "care message did not serialize"),
    }
}

/// Sends one Care message, then deletes its outbox item. `false`: it stays for the sweep.
async fn deliver(wf: &Workflow, request_id: &RequestId, body: &str) -> bool {
    let Some(care) = &wf.care else {
        tracing::warn!(request_id = %request_id, "no Care queue configured (ABEV_CARE_QUEUE_URL); the escalation waits in the outbox");
        return false;
    };
    if let Err(e) = care.sqs.send_message().queue_url(&care.url).message_body(body).send().await {
        tracing::warn!(request_id = %request_id, error = %aws_sdk_sqs::error::DisplayErrorContext(&e), "sending to the Care queue failed; the sweep re-sends");
        return false;
    }
    if let Err(e) = wf.store.delete_item("DeleteItem care outbox", &keys::outbox_escalation(request_id.as_str())).await {
        // Sent but still in the outbox: the sweep sends it once more, which is harmless.
        tracing::warn!(request_id = %request_id, error = %e, "deleting the outbox item failed");
    }
    true
}

/// A site lost an admin and has at most one left: escalate each `pending_admin` request
/// that no admin other than its requester can decide any more, then clear the outbox
/// item. Returns how many were escalated.
pub async fn process_orphaned(wf: &Workflow, site: &SupportId, now: OffsetDateTime) -> Result<usize, AccessError> {
    let admins = wf.store.site_meta(site).await?.map(|m| m.admin_count).unwrap_or(0);
    let mut escalated = 0;
    if admins <= 1 {
        for id in wf.store.site_pending_ids(site).await? {
            if Box::pin(escalate(wf, &id, EscalationReason::NoSiteAdministrator, now)).await? {
                escalated += 1;
            }
        }
    }
    wf.store.delete_item("DeleteItem care outbox", &keys::outbox_orphaned_site(site)).await?;
    Ok(escalated)
}

/// Re-sends what the outbox still holds (items older than a minute: younger ones belong
/// to requests still being handled). Returns how many requests it escalated.
pub async fn flush_outbox(wf: &Workflow, now: OffsetDateTime) -> Result<usize, AccessError> {
    let cutoff = stamp(now - OUTBOX_GRACE);
    let mut escalated = 0;
    for item in wf.store.outbox().await? {
        if get_s(&item, "at").is_none_or(|at| at > cutoff.as_str()) {
            continue;
        }
        let sk = get_s(&item, keys::SK).unwrap_or_default();
        if sk.starts_with(keys::OUTBOX_NOTICE_PREFIX) {
            if let (Some(id), Some(body)) = (get_s(&item, "notice_id"), get_s(&item, "body")) {
                claims::resend_notice(wf, id, body).await;
            }
        } else if sk.starts_with(keys::OUTBOX_ESCALATION_PREFIX) {
            if let (Some(id), Some(body)) = (get_s(&item, "request_id"), get_s(&item, "body")) {
                deliver(wf, &RequestId::stored(id), body).await;
            }
        } else if let Some(site) = sk.strip_prefix(keys::OUTBOX_ORPHANED_PREFIX).and_then(|s| SupportId::parse(s).ok()) {
            escalated += process_orphaned(wf, &site, follow_up(now)).await?;
        }
    }
    Ok(escalated)
}

/// Escalates `pending_admin` requests older than the admin SLA; returns how many.
/// Also finishes what the outbox holds (unsent messages, orphaned sites).
pub async fn sweep(wf: &Workflow, now: OffsetDateTime) -> Result<usize, AccessError> {
    let mut escalated = flush_outbox(wf, now).await?;
    // Memberships past their end go first: a last admin expiring escalates the site's requests.
    let expired = expiry::sweep_memberships(wf, now).await?;
    if expired > 0 {
        tracing::info!(expired, "membership sweep removed ended memberships");
    }
    // Access reviews past their deadline give unconfirmed members an end (removed by a later expiry sweep).
    let lapsed = reviews::sweep_reviews(wf, now).await?;
    if lapsed > 0 {
        tracing::info!(lapsed, "access review sweep set end dates of unconfirmed members");
    }
    let closed = request_expiry::sweep_requests(wf, now).await?;
    if closed > 0 {
        tracing::info!(closed, "requests nobody decided within their lifetime expired");
    }
    let deadline = now - time::Duration::days(wf.admin_sla_days as i64);
    let deadline_stamp = Stamp::of(deadline);
    let deadline_day = deadline.to_offset(time::UtcOffset::UTC).date();
    let first_day = match wf.store.sweep_watermark().await?.as_deref().and_then(parse_day) {
        Some(day) => day,
        None => deadline_day - time::Duration::days(FIRST_SWEEP_LOOKBACK_DAYS),
    };
    let mut day = first_day;
    while day <= deadline_day {
        for id in rules::overdue(wf.store.pending_on_day(&day_of(day)).await?, &deadline_stamp) {
            if escalate(wf, &id, EscalationReason::AdminSlaExpired, now).await? {
                escalated += 1;
            }
        }
        match day.next_day() {
            Some(d) => day = d,
            None => break,
        }
    }
    // Every day before the deadline's is done; the deadline's day is swept again next time.
    wf.store.advance_sweep_watermark(&day_of(deadline_day)).await?;
    if escalated > 0 {
        tracing::info!(escalated, "admin-SLA sweep escalated requests");
    }
    Ok(escalated)
}

#[cfg(test)]
mod tests {
    use super::*;

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
            request_id: RequestId::stored("r1"),
            support_id: SupportId::parse("FARM-1").unwrap(),
            site_name: "Farm Foods".into(),
            requester_email: Email::parse("ted@data.example").unwrap(),
            kind: RequestKind::Join,
            requested_role: Role::User,
            status: RequestStatus::Escalated,
            created_at: Stamp::stored("2026-04-01T10:00:00.000000Z"),
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
