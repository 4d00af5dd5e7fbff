//! The workflow's rules as pure functions: from a snapshot of what was read, the actor,
//! the command and the time to a [`Plan`] of writes and Care messages, or an
//! [`AccessError`]. No I/O; `super::run` reads, plans and commits.

use super::{AccessError, Actor, CareMessage, Limits};
use crate::domain::access::{EscalationReason, HistoryAction, RequestId, RequestKind, RequestStatus, Stamp};
use crate::domain::{Email, Role, SupportId};
use crate::store::access::{AccessRequest, HistoryEntry, Membership, SiteMeta, Write};
use time::OffsetDateTime;

/// Longest rejection reason kept.
pub const MAX_REASON_CHARS: usize = 2000;

/// What a plan does when committed, and what it answers.
#[derive(Debug, Clone, PartialEq)]
pub struct Plan<T> {
    /// One transaction; empty: nothing to write (the answer stands as read).
    pub writes: Vec<Write>,
    /// Care messages to send after the commit (their outbox items are among the writes).
    pub messages: Vec<CareMessage>,
    /// A site left with at most one admin: its `pending_admin` requests are re-routed after the commit.
    pub orphaned: Option<SupportId>,
    pub outcome: T,
}

impl<T> Plan<T> {
    /// An answer that needs no write.
    pub fn answer(outcome: T) -> Plan<T> {
        Plan { writes: Vec::new(), messages: Vec::new(), orphaned: None, outcome }
    }
}

/// What a creation answers.
#[derive(Debug, Clone, PartialEq)]
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
        /// When the granted membership ends (issue 21; contractors).
        ends_at: Option<Stamp>,
    },
    Reject {
        reason: String,
    },
}

/// What a creation read.
#[derive(Debug, Clone, Default)]
pub struct CreateSnapshot {
    pub site: Option<SiteMeta>,
    /// The requester's role at the site.
    pub current: Option<Role>,
    /// The requester's open request for the site, if any.
    pub open: Option<AccessRequest>,
    /// How many open requests the requester has (all sites).
    pub open_count: i64,
    /// Until when a rejection at this site holds the requester off.
    pub cooldown_until: Option<Stamp>,
}

/// What a decision read.
#[derive(Debug, Clone, Default)]
pub struct DecideSnapshot {
    pub request: Option<AccessRequest>,
    /// The decider's role at the request's site.
    pub actor_role: Option<Role>,
    /// The requester's role at the request's site.
    pub requester_role: Option<Role>,
    pub site: Option<SiteMeta>,
    /// The requester's open-request counter as read (a decision gives a slot back only
    /// while it is above zero).
    pub requester_open_count: i64,
}

/// What a removal read.
#[derive(Debug, Clone, Default)]
pub struct RemoveSnapshot {
    pub site: Option<SiteMeta>,
    pub actor_role: Option<Role>,
    pub member_role: Option<Role>,
}

/// What an escalation read.
#[derive(Debug, Clone, Default)]
pub struct EscalateSnapshot {
    pub request: Option<AccessRequest>,
    /// The site's admin count and the requester's role there (read for `no_site_administrator`).
    pub admin_count: i64,
    pub requester_role: Option<Role>,
}

/// The site, if `actor` may manage it (one of its admins, or Care). A site the actor does
/// not administer answers exactly like one that does not exist, so the answer never tells
/// a stranger which Support IDs exist.
pub fn may_manage(site_id: &SupportId, site: Option<SiteMeta>, actor: &Actor, actor_role: Option<Role>) -> Result<SiteMeta, AccessError> {
    match site {
        Some(meta) if actor.care || actor_role == Some(Role::Admin) => Ok(meta),
        _ => Err(AccessError::NotYourSite(site_id.clone())),
    }
}

/// May `actor` read this request? Its requester, Care, or an administrator of its site
/// (`actor_role`: the actor's role there). Anyone else is told it does not exist.
pub fn may_see(request: &AccessRequest, actor: &Actor, actor_role: Option<Role>) -> bool {
    actor.care || request.requester_email == actor.email || actor_role == Some(Role::Admin)
}

/// Is this request in `actor`'s approvals list? Open, not their own, and for a site admin
/// only while `pending_admin` (an escalated one is Care's).
pub fn awaits(request: &AccessRequest, actor: &Actor) -> bool {
    request.status.is_open() && request.requester_email != actor.email && (actor.care || request.status == RequestStatus::PendingAdmin)
}

fn history(site: &SupportId, at: &Stamp, seq: u8, actor: &str, action: HistoryAction, r: Option<&AccessRequest>) -> HistoryEntry {
    let mut entry = HistoryEntry::new(site, at, seq, actor, action);
    if let Some(r) = r {
        entry.request_id = Some(r.request_id.clone());
        entry.subject = Some(r.requester_email.clone());
    }
    entry
}

/// The writes that make `r` (already `escalated`) reach Care: its work-list marker, the
/// outbox item holding the message, and the history entry; and the message itself.
fn escalation(r: &AccessRequest, reason: EscalationReason, at: &Stamp) -> Result<(Vec<Write>, CareMessage), AccessError> {
    let message = CareMessage::of(r, reason);
    let body = serde_json::to_string(&message).map_err(|e| AccessError::Invalid(e.to_string()))?;
    let mut entry = history(&r.support_id, at, 1, "system", HistoryAction::EscalatedToCare, Some(r));
    entry.role = Some(r.requested_role);
    entry.reason = Some(reason.as_str().into());
    let writes = vec![
        Write::Marker { key: r.care_marker(), request: r.clone(), exclusive: false },
        Write::Outbox { request_id: r.request_id.clone(), at: at.clone(), body },
        Write::History(entry),
    ];
    Ok((writes, message))
}

/// The writes recording that `site` has just lost an admin and is left with `left`: at
/// most one admin means some `pending_admin` request may have no admin but its requester
/// left to decide it, so an `ORPHANED#` outbox item has them re-routed; none at all is
/// also the history's `last_admin_lost`.
pub(crate) fn admin_loss(site: &SupportId, left: i64, actor: &Actor, at: &Stamp) -> (Vec<Write>, Option<SupportId>) {
    let mut writes = Vec::new();
    if left <= 1 {
        writes.push(Write::Orphaned { site: site.clone(), at: at.clone() });
    }
    if left == 0 {
        writes.push(Write::History(HistoryEntry::new(site, at, 1, actor.email.as_str(), HistoryAction::LastAdminLost)));
    }
    (writes, (left <= 1).then(|| site.clone()))
}

/// `POST /v1/access-requests`. Order of answers: the caller's open request for that site
/// 200, the open-request limit 429 (before the site is looked at: past the limit, an
/// unknown Support ID and an existing one answer alike), unknown site 404, a role already
/// held 409, the site's cool-down 429, then a new request routed by the site's exact admin
/// count.
pub fn plan_create(
    snap: CreateSnapshot,
    actor: &Actor,
    site_id: &SupportId,
    role: Role,
    limits: &Limits,
    now: OffsetDateTime,
    id: RequestId,
) -> Result<Plan<Created>, AccessError> {
    if let Some(open) = snap.open {
        return Ok(Plan::answer(Created::Existing(open)));
    }
    if snap.open_count >= i64::from(limits.max_open_requests) {
        return Err(AccessError::TooMany {
            detail: format!("you have {} open access requests, the most allowed; wait until one is decided", limits.max_open_requests),
            retry_after: limits.open_retry_after,
        });
    }
    let Some(meta) = snap.site else { return Err(AccessError::UnknownSite(site_id.clone())) };
    let current = snap.current;
    if current == Some(role) {
        return Err(AccessError::Conflict(format!("you already have the role {role} at {site_id}")));
    }
    let at = Stamp::of(now);
    if let Some(until) = snap.cooldown_until.as_ref().filter(|u| **u > at) {
        let wait = until.instant().map_or(limits.rejection_cooldown, |u| u - now);
        return Err(AccessError::TooMany {
            detail: format!("your last request for {site_id} was rejected; you may ask again after {until}"),
            retry_after: wait.max(time::Duration::seconds(1)),
        });
    }
    let other_admins = meta.admin_count - i64::from(current == Some(Role::Admin));
    let escalate = other_admins <= 0;
    let request = AccessRequest {
        request_id: id,
        support_id: site_id.clone(),
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
    let mut created = history(site_id, &at, 0, actor.email.as_str(), HistoryAction::RequestCreated, Some(&request));
    created.role = Some(role);
    created.previous_role = current;
    let mut writes = vec![
        Write::Request { request: request.clone(), expected: None },
        Write::Marker { key: request.open_marker(), request: request.clone(), exclusive: true },
        Write::MembershipIs { email: actor.email.clone(), site: site_id.clone(), role: current },
        Write::AdminCountIs { site: site_id.clone(), seen: meta.admin_count },
        Write::CountOpenRequest { email: actor.email.clone(), max: limits.max_open_requests },
        Write::NoCooldown { email: actor.email.clone(), site: site_id.clone(), now: at.clone() },
        Write::History(created),
    ];
    let mut messages = Vec::new();
    if escalate {
        let (more, message) = escalation(&request, EscalationReason::NoSiteAdministrator, &at)?;
        writes.extend(more);
        messages.push(message);
    } else {
        writes.push(Write::Marker { key: request.pending_day_marker(), request: request.clone(), exclusive: false });
        writes.push(Write::Marker { key: request.site_pending_marker(), request: request.clone(), exclusive: false });
        writes.push(Write::History(history(site_id, &at, 1, "system", HistoryAction::RoutedToSiteAdmins, Some(&request))));
    }
    Ok(Plan { writes, messages, orphaned: None, outcome: Created::New(request) })
}

/// A rejection's reason, trimmed: 1 to [`MAX_REASON_CHARS`] characters.
pub fn check_reason(reason: &str) -> Result<String, AccessError> {
    let reason = reason.trim();
    if reason.is_empty() || reason.chars().count() > MAX_REASON_CHARS {
        return Err(AccessError::BadInput(format!("reason must be 1 to {MAX_REASON_CHARS} characters")));
    }
    Ok(reason.to_string())
}

/// `POST /v1/access-requests/{id}/approve|reject`.
pub fn plan_decide(
    snap: DecideSnapshot,
    actor: &Actor,
    id: &RequestId,
    decision: &Decision,
    limits: &Limits,
    now: OffsetDateTime,
) -> Result<Plan<AccessRequest>, AccessError> {
    let at = Stamp::of(now);
    let Some(request) = snap.request else { return Err(AccessError::NotFound(format!("no access request {id}"))) };
    let site = request.support_id.clone();
    if request.requester_email == actor.email {
        return Err(AccessError::Forbidden("nobody decides their own request".into()));
    }
    if !actor.care && snap.actor_role != Some(Role::Admin) {
        return Err(AccessError::Forbidden(format!("only an administrator of {site} or Customer Care may decide this request")));
    }
    if !request.status.is_open() {
        // A retried transaction that did commit: this very call decided it.
        if request.decided_by.as_ref() == Some(&actor.email) && request.decided_at.as_ref() == Some(&at) {
            return Ok(Plan::answer(request));
        }
        return Err(AccessError::Conflict(format!(
            "request {id} was already {} by {} at {}",
            request.status.as_str(),
            request.decided_by.as_ref().map(Email::as_str).unwrap_or("?"),
            request.decided_at.as_ref().map(Stamp::as_str).unwrap_or("?")
        )));
    }
    if request.status == RequestStatus::Escalated && !actor.care {
        return Err(AccessError::Forbidden("this request was escalated to Customer Care; only Care may decide it".into()));
    }
    let mut decided = request.clone();
    decided.decided_by = Some(actor.email.clone());
    decided.decided_at = Some(at.clone());
    let mut entry = history(&site, &at, 0, actor.email.as_str(), HistoryAction::Approved, Some(&request));
    let mut writes = Vec::new();
    let mut orphaned = None;
    match decision {
        Decision::Approve { role, ends_at } => {
            if ends_at.as_ref().is_some_and(|end| *end <= at) {
                return Err(AccessError::BadInput("ends_at must be in the future".into()));
            }
            if role.is_some_and(|r| r != request.requested_role) && !actor.care {
                return Err(AccessError::Forbidden("only Customer Care may approve with another role than requested".into()));
            }
            let granted = role.unwrap_or(request.requested_role);
            decided.status = RequestStatus::Approved;
            decided.granted_role = Some(granted);
            let previous = snap.requester_role;
            writes.push(Write::SetMembership {
                email: request.requester_email.clone(),
                site: site.clone(),
                role: granted,
                previous,
                at: at.clone(),
                resells: snap.site.as_ref().is_some_and(|m| m.resells),
                ends_at: ends_at.clone(),
            });
            let (was_admin, is_admin) = (previous == Some(Role::Admin), granted == Role::Admin);
            if was_admin != is_admin {
                let meta = snap.site.ok_or_else(|| AccessError::UnknownSite(site.clone()))?;
                let new = (meta.admin_count + if is_admin { 1 } else { -1 }).max(0);
                writes.push(Write::SetAdminCount { site: site.clone(), seen: meta.admin_count, new });
                if !is_admin {
                    let (more, site_left) = admin_loss(&site, new, actor, &at);
                    writes.extend(more);
                    orphaned = site_left;
                }
            }
            entry.role = Some(granted);
            entry.previous_role = previous;
            entry.reason = ends_at.as_ref().map(|end| format!("membership ends at {end}"));
        }
        Decision::Reject { reason } => {
            let reason = check_reason(reason)?;
            decided.status = RequestStatus::Rejected;
            decided.reason = Some(reason.clone());
            entry.action = HistoryAction::Rejected;
            entry.role = Some(request.requested_role);
            entry.reason = Some(reason);
            let until = Stamp::of(now + limits.rejection_cooldown);
            writes.push(Write::Cooldown { email: request.requester_email.clone(), site: site.clone(), until });
        }
    }
    writes.insert(0, Write::Request { request: decided.clone(), expected: Some(request.status) });
    if !actor.care {
        writes.push(Write::MembershipIs { email: actor.email.clone(), site: site.clone(), role: Some(Role::Admin) });
    }
    writes.push(Write::History(entry));
    writes.push(Write::Delete(request.open_marker()));
    // A counter already at zero (items from before the counter, a repair) stays there.
    if snap.requester_open_count > 0 {
        writes.push(Write::UncountOpenRequest { email: request.requester_email.clone() });
    }
    if request.status == RequestStatus::PendingAdmin {
        writes.push(Write::Delete(request.pending_day_marker()));
        writes.push(Write::Delete(request.site_pending_marker()));
    } else {
        writes.push(Write::Delete(request.care_marker()));
        // An escalation message still unsent has nothing left to ask.
        writes.push(Write::Delete(request.outbox_key()));
    }
    Ok(Plan { writes, messages: Vec::new(), orphaned, outcome: decided })
}

/// `DELETE /v1/sites/{s}/members/{e}`: the removed membership.
pub fn plan_remove(
    snap: RemoveSnapshot,
    actor: &Actor,
    site_id: &SupportId,
    member: &Email,
    now: OffsetDateTime,
) -> Result<Plan<Membership>, AccessError> {
    let meta = may_manage(site_id, snap.site, actor, snap.actor_role)?;
    let Some(role) = snap.member_role else {
        return Err(AccessError::NotFound(format!("{member} is not a member of {site_id}")));
    };
    let at = Stamp::of(now);
    let mut writes = vec![Write::RemoveMembership { email: member.clone(), site: site_id.clone(), role }];
    if !actor.care && &actor.email != member {
        writes.push(Write::MembershipIs { email: actor.email.clone(), site: site_id.clone(), role: Some(Role::Admin) });
    }
    let mut orphaned = None;
    if role == Role::Admin {
        let new = (meta.admin_count - 1).max(0);
        writes.push(Write::SetAdminCount { site: site_id.clone(), seen: meta.admin_count, new });
        let (more, site_left) = admin_loss(site_id, new, actor, &at);
        writes.extend(more);
        orphaned = site_left;
    }
    let mut entry = HistoryEntry::new(site_id, &at, 0, actor.email.as_str(), HistoryAction::MemberRemoved);
    entry.subject = Some(member.clone());
    entry.role = Some(role);
    writes.push(Write::History(entry));
    let removed = Membership { email: member.clone(), support_id: site_id.clone(), role, since: None, ends_at: None };
    Ok(Plan { writes, messages: Vec::new(), orphaned, outcome: removed })
}

/// Escalates one `pending_admin` request; `false` (and no writes) if it is no longer
/// `pending_admin`, or, for `no_site_administrator`, if an admin other than its requester
/// is there to decide it.
pub fn plan_escalate(snap: EscalateSnapshot, reason: EscalationReason, now: OffsetDateTime) -> Result<Plan<bool>, AccessError> {
    let Some(request) = snap.request.filter(|r| r.status == RequestStatus::PendingAdmin) else { return Ok(Plan::answer(false)) };
    let mut writes = Vec::new();
    if reason == EscalationReason::NoSiteAdministrator {
        let site = &request.support_id;
        if snap.admin_count - i64::from(snap.requester_role == Some(Role::Admin)) > 0 {
            return Ok(Plan::answer(false));
        }
        writes.push(Write::AdminCountIs { site: site.clone(), seen: snap.admin_count });
        writes.push(Write::MembershipIs { email: request.requester_email.clone(), site: site.clone(), role: snap.requester_role });
    }
    let at = Stamp::of(now);
    let mut escalated = request.clone();
    escalated.status = RequestStatus::Escalated;
    escalated.escalated_at = Some(at.clone());
    escalated.escalation_reason = Some(reason);
    writes.push(Write::Request { request: escalated.clone(), expected: Some(RequestStatus::PendingAdmin) });
    writes.push(Write::Delete(request.pending_day_marker()));
    writes.push(Write::Delete(request.site_pending_marker()));
    let (more, message) = escalation(&escalated, reason, &at)?;
    writes.extend(more);
    Ok(Plan { writes, messages: vec![message], orphaned: None, outcome: true })
}

/// What enabling or disabling the view for a site did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RolloutChange {
    pub support_id: SupportId,
    pub name: String,
    pub enabled: bool,
    /// `false`: the site was already so (nothing written, nothing recorded).
    pub changed: bool,
}

/// Enables (`enabled`) or disables the view for one site: Care only; the flag on the site
/// record, the `ROLLOUT#ENABLED` listing and the history entry change together.
pub fn plan_rollout(
    site: Option<SiteMeta>,
    actor: &Actor,
    site_id: &SupportId,
    enabled: bool,
    now: OffsetDateTime,
) -> Result<Plan<RolloutChange>, AccessError> {
    if !actor.care {
        return Err(AccessError::Forbidden("only Customer Care runs the rollout".into()));
    }
    let meta = site.ok_or_else(|| AccessError::UnknownSite(site_id.clone()))?;
    let change = |changed| RolloutChange { support_id: site_id.clone(), name: meta.name.clone(), enabled, changed };
    if meta.view_enabled == enabled {
        return Ok(Plan::answer(change(false)));
    }
    let at = Stamp::of(now);
    let action = if enabled { HistoryAction::ViewEnabled } else { HistoryAction::ViewDisabled };
    let writes = vec![
        Write::ViewEnabled {
            site: site_id.clone(),
            name: meta.name.clone(),
            enabled,
            was: meta.view_enabled,
            at: at.clone(),
            by: actor.email.clone(),
        },
        Write::History(HistoryEntry::new(site_id, &at, 0, actor.email.as_str(), action)),
    ];
    Ok(Plan { writes, messages: Vec::new(), orphaned: None, outcome: change(true) })
}

/// Of the `pending_admin` requests of one day, those created at or before the deadline.
pub fn overdue(pending: Vec<(Stamp, RequestId)>, deadline: &Stamp) -> Vec<RequestId> {
    pending.into_iter().filter(|(created, _)| created <= deadline).map(|(_, id)| id).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: OffsetDateTime = time::macros::datetime!(2026-04-01 10:00:00 UTC);

    fn sid(s: &str) -> SupportId {
        SupportId::parse(s).unwrap()
    }
    fn email(e: &str) -> Email {
        Email::parse(e).unwrap()
    }
    fn actor(e: &str) -> Actor {
        Actor { email: email(e), care: false }
    }
    fn care() -> Actor {
        Actor { email: email("carla@care.example"), care: true }
    }
    fn site(admins: i64) -> Option<SiteMeta> {
        Some(SiteMeta {
            support_id: sid("FARM-1"),
            name: "Farm Foods".into(),
            admin_count: admins,
            view_enabled: false,
            resells: false,
            claim_revocation_days: None,
        })
    }
    fn limits() -> Limits {
        Limits::default()
    }
    fn create(snap: CreateSnapshot, who: &Actor, role: Role) -> Result<Plan<Created>, AccessError> {
        plan_create(snap, who, &sid("FARM-1"), role, &limits(), NOW, RequestId::new())
    }
    fn new_request(plan: &Plan<Created>) -> &AccessRequest {
        match &plan.outcome {
            Created::New(r) => r,
            other => panic!("not new: {other:?}"),
        }
    }
    fn pending(status: RequestStatus) -> AccessRequest {
        let snap = CreateSnapshot { site: site(1), ..Default::default() };
        let mut r = new_request(&create(snap, &actor("ted@data.example"), Role::User).unwrap()).clone();
        r.status = status;
        r
    }
    fn has(writes: &[Write], pred: impl Fn(&Write) -> bool) -> bool {
        writes.iter().any(pred)
    }

    #[test]
    fn a_site_without_another_admin_escalates_at_creation_with_one_care_message() {
        let plan = create(CreateSnapshot { site: site(0), ..Default::default() }, &actor("ted@data.example"), Role::User).unwrap();
        let r = new_request(&plan);
        assert_eq!(
            (r.status, r.kind, r.escalation_reason),
            (RequestStatus::Escalated, RequestKind::Join, Some(EscalationReason::NoSiteAdministrator))
        );
        assert_eq!(plan.messages.len(), 1);
        assert_eq!(plan.messages[0].request_id, r.request_id);
        assert!(has(&plan.writes, |w| matches!(w, Write::Outbox { .. })), "the message is in the outbox, in the same transaction");
        assert!(has(&plan.writes, |w| matches!(w, Write::AdminCountIs { seen: 0, .. })));
        // The only admin asking for another role has nobody else to decide it either.
        let only_admin = CreateSnapshot { site: site(1), current: Some(Role::Admin), ..Default::default() };
        let plan = create(only_admin, &actor("fiona@farm.example"), Role::User).unwrap();
        assert_eq!((new_request(&plan).status, new_request(&plan).kind), (RequestStatus::Escalated, RequestKind::RoleChange));
    }

    #[test]
    fn a_site_with_an_admin_routes_to_its_admins_without_a_message() {
        let plan = create(CreateSnapshot { site: site(1), ..Default::default() }, &actor("ted@data.example"), Role::User).unwrap();
        assert_eq!(new_request(&plan).status, RequestStatus::PendingAdmin);
        assert!(plan.messages.is_empty());
        let markers = plan.writes.iter().filter(|w| matches!(w, Write::Marker { .. })).count();
        assert_eq!(markers, 3, "open, day index and the site's work list");
        assert!(has(&plan.writes, |w| matches!(w, Write::Marker { exclusive: true, .. })), "one open request per contact and site");
    }

    #[test]
    fn the_open_request_limit_is_checked_before_the_site_is_looked_up() {
        // At the limit, an unknown and an existing Support ID answer alike (429): a 404
        // past the limit would tell which Support IDs exist.
        let ted = actor("ted@data.example");
        let max = i64::from(limits().max_open_requests);
        for site_read in [None, site(1)] {
            let snap = CreateSnapshot { site: site_read, open_count: max, ..Default::default() };
            assert!(matches!(create(snap, &ted, Role::User), Err(AccessError::TooMany { .. })));
        }
    }

    #[test]
    fn a_decision_never_takes_the_open_request_counter_below_zero() {
        let snap = |count| DecideSnapshot {
            request: Some(pending(RequestStatus::PendingAdmin)),
            actor_role: Some(Role::Admin),
            requester_open_count: count,
            ..Default::default()
        };
        let fiona = actor("fiona@farm.example");
        let approve = Decision::Approve { role: None, ends_at: None };
        let plan = plan_decide(snap(0), &fiona, &RequestId::new(), &approve, &limits(), NOW).unwrap();
        assert!(!has(&plan.writes, |w| matches!(w, Write::UncountOpenRequest { .. })), "a counter at 0 is left alone");
        let plan = plan_decide(snap(2), &fiona, &RequestId::new(), &approve, &limits(), NOW).unwrap();
        assert!(has(&plan.writes, |w| matches!(w, Write::UncountOpenRequest { .. })), "conditional on > 0 in the transaction");
    }

    #[test]
    fn creation_answers_in_the_spec_order_before_any_limit() {
        let ted = actor("ted@data.example");
        assert!(matches!(create(CreateSnapshot::default(), &ted, Role::User), Err(AccessError::UnknownSite(_))));
        let open = pending(RequestStatus::PendingAdmin);
        let over = CreateSnapshot {
            site: site(1),
            open: Some(open.clone()),
            open_count: 99,
            cooldown_until: Some(Stamp::of(NOW + time::Duration::hours(1))),
            ..Default::default()
        };
        let plan = create(over, &ted, Role::User).unwrap();
        assert_eq!(plan.outcome, Created::Existing(open));
        assert!(plan.writes.is_empty());
        let member = CreateSnapshot { site: site(1), current: Some(Role::User), ..Default::default() };
        assert!(matches!(create(member, &ted, Role::User), Err(AccessError::Conflict(_))));
    }

    #[test]
    fn open_requests_are_limited_per_requester_and_the_counter_is_conditional() {
        let ted = actor("ted@data.example");
        let max = limits().max_open_requests;
        let at_limit = CreateSnapshot { site: site(1), open_count: i64::from(max), ..Default::default() };
        match create(at_limit, &ted, Role::User) {
            Err(AccessError::TooMany { retry_after, .. }) => assert!(retry_after > time::Duration::ZERO),
            other => panic!("{other:?}"),
        }
        let below = CreateSnapshot { site: site(1), open_count: i64::from(max) - 1, ..Default::default() };
        let plan = create(below, &ted, Role::User).unwrap();
        assert!(has(&plan.writes, |w| matches!(w, Write::CountOpenRequest { max: m, .. } if *m == max)), "re-checked in the transaction");
    }

    #[test]
    fn a_rejection_holds_the_requester_off_that_site_until_the_cooldown_ends() {
        let ted = actor("ted@data.example");
        let until = Stamp::of(NOW + time::Duration::hours(3));
        let cooling = CreateSnapshot { site: site(1), cooldown_until: Some(until), ..Default::default() };
        match create(cooling, &ted, Role::User) {
            Err(AccessError::TooMany { retry_after, .. }) => assert_eq!(retry_after, time::Duration::hours(3)),
            other => panic!("{other:?}"),
        }
        let over =
            CreateSnapshot { site: site(1), cooldown_until: Some(Stamp::of(NOW - time::Duration::seconds(1))), ..Default::default() };
        let plan = create(over, &ted, Role::User).unwrap();
        assert!(has(&plan.writes, |w| matches!(w, Write::NoCooldown { .. })), "re-checked in the transaction");

        // Rejecting writes the cool-down and gives the requester's open slot back.
        let snap = DecideSnapshot {
            request: Some(pending(RequestStatus::PendingAdmin)),
            actor_role: Some(Role::Admin),
            requester_open_count: 1,
            ..Default::default()
        };
        let plan =
            plan_decide(snap, &actor("fiona@farm.example"), &RequestId::new(), &Decision::Reject { reason: " no ".into() }, &limits(), NOW)
                .unwrap();
        assert_eq!((plan.outcome.status, plan.outcome.reason.as_deref()), (RequestStatus::Rejected, Some("no")));
        let want = Stamp::of(NOW + limits().rejection_cooldown);
        assert!(has(&plan.writes, |w| matches!(w, Write::Cooldown { until, .. } if *until == want)));
        assert!(has(&plan.writes, |w| matches!(w, Write::UncountOpenRequest { .. })));
    }

    #[test]
    fn only_admins_of_the_site_or_care_decide_and_never_their_own() {
        let r = pending(RequestStatus::PendingAdmin);
        let approve = Decision::Approve { role: None, ends_at: None };
        let decide = |snap: DecideSnapshot, who: &Actor| plan_decide(snap, who, &r.request_id, &approve, &limits(), NOW);
        let snap = |actor_role| DecideSnapshot { request: Some(r.clone()), actor_role, ..Default::default() };
        assert!(matches!(decide(snap(Some(Role::User)), &actor("bill@acme.example")), Err(AccessError::Forbidden(_))));
        assert!(matches!(decide(snap(Some(Role::Admin)), &actor("ted@data.example")), Err(AccessError::Forbidden(_))), "own request");
        assert!(matches!(decide(DecideSnapshot::default(), &care()), Err(AccessError::NotFound(_))));
        let plan = decide(snap(Some(Role::Admin)), &actor("fiona@farm.example")).unwrap();
        assert_eq!(plan.outcome.status, RequestStatus::Approved);
        assert!(
            has(&plan.writes, |w| matches!(w, Write::MembershipIs { role: Some(Role::Admin), .. })),
            "the decider's right is re-checked"
        );
        assert!(has(&plan.writes, |w| matches!(w, Write::Request { expected: Some(RequestStatus::PendingAdmin), .. })), "decided once");
        // Escalated: only Care; another role: only Care.
        let escalated =
            DecideSnapshot { request: Some(pending(RequestStatus::Escalated)), actor_role: Some(Role::Admin), ..Default::default() };
        assert!(matches!(decide(escalated.clone(), &actor("fiona@farm.example")), Err(AccessError::Forbidden(_))));
        let as_admin = Decision::Approve { role: Some(Role::Admin), ends_at: None };
        assert!(matches!(
            plan_decide(snap(Some(Role::Admin)), &actor("fiona@farm.example"), &r.request_id, &as_admin, &limits(), NOW),
            Err(AccessError::Forbidden(_))
        ));
        let plan = plan_decide(DecideSnapshot { site: site(0), ..escalated }, &care(), &r.request_id, &as_admin, &limits(), NOW).unwrap();
        assert_eq!(plan.outcome.granted_role, Some(Role::Admin));
        assert!(has(&plan.writes, |w| matches!(w, Write::SetAdminCount { seen: 0, new: 1, .. })));
    }

    #[test]
    fn a_decided_request_is_409_unless_this_very_call_decided_it() {
        let mut r = pending(RequestStatus::Approved);
        r.decided_by = Some(email("fiona@farm.example"));
        r.decided_at = Some(Stamp::of(NOW));
        let snap = DecideSnapshot { request: Some(r.clone()), actor_role: Some(Role::Admin), ..Default::default() };
        let fiona = actor("fiona@farm.example");
        let approve = Decision::Approve { role: None, ends_at: None };
        let plan = plan_decide(snap.clone(), &fiona, &r.request_id, &approve, &limits(), NOW).unwrap();
        assert!(plan.writes.is_empty(), "a retry of a committed decision answers it");
        let later = NOW + time::Duration::seconds(1);
        assert!(matches!(plan_decide(snap, &fiona, &r.request_id, &approve, &limits(), later), Err(AccessError::Conflict(_))));
    }

    #[test]
    fn removing_the_last_admin_orphans_the_site() {
        let fiona = actor("fiona@farm.example");
        let snap = RemoveSnapshot { site: site(1), actor_role: Some(Role::Admin), member_role: Some(Role::Admin) };
        let plan = plan_remove(snap, &fiona, &sid("FARM-1"), &email("fiona@farm.example"), NOW).unwrap();
        assert_eq!(plan.orphaned, Some(sid("FARM-1")));
        assert!(has(&plan.writes, |w| matches!(w, Write::History(h) if h.action == HistoryAction::LastAdminLost)));
        assert!(has(&plan.writes, |w| matches!(w, Write::SetAdminCount { seen: 1, new: 0, .. })));
        let user = RemoveSnapshot { site: site(2), actor_role: Some(Role::Admin), member_role: Some(Role::User) };
        let plan = plan_remove(user, &fiona, &sid("FARM-1"), &email("ted@data.example"), NOW).unwrap();
        assert_eq!(plan.orphaned, None);
    }

    #[test]
    fn a_site_you_do_not_administer_is_the_same_error_as_an_unknown_one() {
        let alice = actor("alice@acme.example");
        let not_admin = may_manage(&sid("FARM-1"), site(1), &alice, Some(Role::User)).unwrap_err();
        let unknown = may_manage(&sid("FARM-1"), None, &alice, None).unwrap_err();
        assert_eq!(not_admin.to_string(), unknown.to_string());
        assert!(may_manage(&sid("FARM-1"), site(0), &care(), None).is_ok());
        let removal = plan_remove(
            RemoveSnapshot { site: site(1), actor_role: None, member_role: Some(Role::User) },
            &alice,
            &sid("FARM-1"),
            &email("ted@data.example"),
            NOW,
        );
        assert_eq!(removal.unwrap_err().to_string(), unknown.to_string());
    }

    #[test]
    fn who_sees_a_request_and_whose_list_it_is_on() {
        let r = pending(RequestStatus::PendingAdmin);
        assert!(may_see(&r, &actor("ted@data.example"), None), "its requester");
        assert!(may_see(&r, &care(), None));
        assert!(may_see(&r, &actor("fiona@farm.example"), Some(Role::Admin)));
        assert!(!may_see(&r, &actor("fiona@farm.example"), Some(Role::User)));
        assert!(!may_see(&r, &actor("mary@skynet.example"), None));
        assert!(awaits(&r, &actor("fiona@farm.example")) && awaits(&r, &care()));
        assert!(!awaits(&r, &actor("ted@data.example")), "never one's own");
        let escalated = pending(RequestStatus::Escalated);
        assert!(awaits(&escalated, &care()) && !awaits(&escalated, &actor("fiona@farm.example")));
        assert!(!awaits(&pending(RequestStatus::Approved), &care()), "decided");
    }

    #[test]
    fn only_care_runs_the_rollout_and_a_repeat_writes_nothing() {
        let farm = sid("FARM-1");
        assert!(matches!(plan_rollout(site(0), &actor("fiona@farm.example"), &farm, true, NOW), Err(AccessError::Forbidden(_))));
        assert!(matches!(plan_rollout(None, &care(), &farm, true, NOW), Err(AccessError::UnknownSite(_))));
        let plan = plan_rollout(site(0), &care(), &farm, true, NOW).unwrap();
        assert!(plan.outcome.changed && plan.outcome.enabled);
        assert!(has(&plan.writes, |w| matches!(w, Write::ViewEnabled { enabled: true, was: false, .. })));
        assert!(has(
            &plan.writes,
            |w| matches!(w, Write::History(h) if h.action == HistoryAction::ViewEnabled && h.actor == "carla@care.example")
        ));
        let enabled = site(0).map(|m| SiteMeta { view_enabled: true, ..m });
        let again = plan_rollout(enabled.clone(), &care(), &farm, true, NOW).unwrap();
        assert!(again.writes.is_empty() && !again.outcome.changed);
        let off = plan_rollout(enabled, &care(), &farm, false, NOW).unwrap();
        assert!(has(&off.writes, |w| matches!(w, Write::History(h) if h.action == HistoryAction::ViewDisabled)));
    }

    #[test]
    fn escalation_skips_what_moved_on_or_still_has_an_admin() {
        let r = pending(RequestStatus::PendingAdmin);
        let snap = |request, admin_count| EscalateSnapshot { request, admin_count, requester_role: None };
        assert!(!plan_escalate(snap(None, 0), EscalationReason::AdminSlaExpired, NOW).unwrap().outcome);
        assert!(!plan_escalate(snap(Some(pending(RequestStatus::Approved)), 0), EscalationReason::AdminSlaExpired, NOW).unwrap().outcome);
        assert!(!plan_escalate(snap(Some(r.clone()), 1), EscalationReason::NoSiteAdministrator, NOW).unwrap().outcome);
        let plan = plan_escalate(snap(Some(r.clone()), 1), EscalationReason::AdminSlaExpired, NOW).unwrap();
        assert!(plan.outcome);
        assert_eq!(plan.messages[0].reason, EscalationReason::AdminSlaExpired);
        assert!(has(&plan.writes, |w| matches!(w, Write::Request { expected: Some(RequestStatus::PendingAdmin), .. })));
        let deadline = Stamp::of(NOW);
        let ids = overdue(
            vec![
                (Stamp::of(NOW - time::Duration::seconds(1)), r.request_id.clone()),
                (Stamp::of(NOW + time::Duration::seconds(1)), RequestId::new()),
            ],
            &deadline,
        );
        assert_eq!(ids, vec![r.request_id]);
    }
}
