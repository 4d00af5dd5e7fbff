//! The rules of a claim by proof of purchase (issue 21), as pure functions: from what a claim
//! read to a [`Plan`] of writes, or an error. No I/O; `super::claims` reads and commits.
//!
//! - A claim matches when the order exists, is active, and the serial is a line of its
//!   current version; the claimant becomes a `user` of the order's end-customer site.
//! - A wrong pair (no such order, no such line, a cancelled order, a revoked line) answers
//!   the same [`AccessError::NotFound`] whatever was wrong, and costs one attempt. Attempts are
//!   counted per distinct pair (by digest), so a retried request costs nothing more; the
//!   [`ClaimLimits::max_wrong`]th distinct wrong pair within [`ClaimLimits::window`] locks the
//!   caller out of claiming for [`ClaimLimits::lockout`] (429 with `Retry-After`).
//! - A claim already made by this caller with this pair, whose membership still stands,
//!   answers as made (200): a retry whose first answer was lost neither fails nor writes.

use super::rules::Plan;
use super::{AccessError, Actor};
use crate::domain::access::{HistoryAction, Stamp};
use crate::domain::entitlement::OrderHead;
use crate::domain::{Email, OrderId, Role, Serial, SupportId};
use crate::store::access::{HistoryEntry, SiteMeta, Write};
use crate::store::access_claims::{ClaimAttempts, ClaimRecord, ClaimStatus};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use time::{Duration, OffsetDateTime};

/// The schema name of a Care notice (something Care should know of; nothing to decide).
pub const NOTICE_SCHEMA: &str = "abev.care-notice.v1";

/// The bounds on guessing, and the default revocation window.
#[derive(Debug, Clone, PartialEq)]
pub struct ClaimLimits {
    /// Distinct wrong pairs within `window` that lock the caller out.
    pub max_wrong: usize,
    pub window: Duration,
    pub lockout: Duration,
    /// How long admins may revoke a claim, for a site that set no window of its own.
    pub default_revocation: Duration,
    /// The longest revocation window a site may set, in days.
    pub max_revocation_days: i64,
}

impl Default for ClaimLimits {
    fn default() -> Self {
        ClaimLimits {
            max_wrong: 5,
            window: Duration::hours(24),
            lockout: Duration::hours(24),
            default_revocation: Duration::days(7),
            max_revocation_days: 90,
        }
    }
}

/// What a claim read.
#[derive(Debug, Clone, Default)]
pub struct ClaimSnapshot {
    pub attempts: Option<ClaimAttempts>,
    pub head: Option<OrderHead>,
    /// The serial is a line of the head's current version.
    pub line_found: bool,
    pub site: Option<SiteMeta>,
    /// The caller's role at the end-customer site.
    pub membership: Option<Role>,
    /// The caller's claim record at the end-customer site.
    pub claim: Option<ClaimRecord>,
}

/// The Care message of a claim at a site with no admin (`abev.care-notice.v1`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CareNotice {
    pub schema: String,
    pub notice_id: String,
    /// `claim`.
    pub kind: String,
    pub support_id: SupportId,
    pub site_name: String,
    pub email: Email,
    pub serial: Serial,
    pub order_id: OrderId,
    pub at: Stamp,
    pub revocable_until: Stamp,
}

/// What a claim answers.
#[derive(Debug, Clone, PartialEq)]
pub enum ClaimOutcome {
    /// A new membership by claim (201); `notice`: Care is told (no admin at the site).
    New { claim: ClaimRecord, notice: Option<Box<CareNotice>> },
    /// This caller's claim with this pair, already made (200).
    Existing(ClaimRecord),
    /// Not a claimable pair (the attempt is recorded, or was already).
    Wrong,
}

/// The digest an attempt is counted under: the pair, not the caller's spelling of anything else.
pub fn pair_digest(order: &OrderId, serial: &Serial) -> String {
    let digest = Sha256::digest(format!("{order}\n{serial}").as_bytes());
    digest.iter().take(16).map(|b| format!("{b:02x}")).collect()
}

/// The answer to a wrong pair: one wording for every reason it is wrong.
pub fn wrong_pair() -> AccessError {
    AccessError::NotFound("no claimable entitlement has that serial on that order".into())
}

/// How long the caller is still locked out of claiming, if they are.
pub fn locked_for(attempts: Option<&ClaimAttempts>, now: OffsetDateTime) -> Option<Duration> {
    let until = attempts?.locked_until.as_ref()?.instant()?;
    (until > now).then(|| until - now)
}

/// The attempts after one more wrong pair: failures older than the window are dropped; the
/// `max_wrong`th within it sets the lock-out.
pub fn after_wrong(attempts: Option<&ClaimAttempts>, digest: &str, limits: &ClaimLimits, now: OffsetDateTime) -> ClaimAttempts {
    let since = Stamp::of(now - limits.window);
    let mut next = attempts.cloned().unwrap_or_default();
    next.failures.retain(|_, at| *at > since);
    next.failures.insert(digest.to_string(), Stamp::of(now));
    if next.failures.len() >= limits.max_wrong {
        // The failures stay: a retry of the last one still answers as it did. With a
        // lock-out as long as the window, they have left the window when the lock lifts.
        next.locked_until = Some(Stamp::of(now + limits.lockout));
    }
    next.revision += 1;
    next
}

/// Was this very pair already counted (within the window)? Then a retry costs nothing more.
fn already_counted(attempts: Option<&ClaimAttempts>, digest: &str, limits: &ClaimLimits, now: OffsetDateTime) -> bool {
    let since = Stamp::of(now - limits.window);
    attempts.and_then(|a| a.failures.get(digest)).is_some_and(|at| *at > since)
}

/// The site's revocation window.
pub fn revocation_window(site: &SiteMeta, limits: &ClaimLimits) -> Duration {
    site.claim_revocation_days.filter(|d| *d >= 0).map_or(limits.default_revocation, Duration::days)
}

/// `POST /v1/claims`.
pub fn plan_claim(
    snap: ClaimSnapshot,
    actor: &Actor,
    order: &OrderId,
    serial: &Serial,
    limits: &ClaimLimits,
    now: OffsetDateTime,
    notice_id: &str,
) -> Result<Plan<ClaimOutcome>, AccessError> {
    let digest = pair_digest(order, serial);
    let matched = match (&snap.head, &snap.site) {
        (Some(head), Some(site)) if head.is_active() && snap.line_found && head.end_customer == site.support_id => Some((head, site)),
        _ => None,
    };
    // This caller's claim with this pair, still standing: the answer it had (a retry).
    if let (Some(_), Some(claim), Some(_)) = (&matched, &snap.claim, snap.membership) {
        if claim.status == ClaimStatus::Active && &claim.serial == serial && &claim.order_id == order {
            return Ok(Plan::answer(ClaimOutcome::Existing(claim.clone())));
        }
    }
    if matched.is_none() && already_counted(snap.attempts.as_ref(), &digest, limits, now) {
        return Ok(Plan::answer(ClaimOutcome::Wrong));
    }
    if let Some(wait) = locked_for(snap.attempts.as_ref(), now) {
        return Err(AccessError::TooMany {
            detail: format!("too many wrong serial and order numbers; you may claim again in {} hours", (wait.whole_minutes() + 59) / 60),
            retry_after: wait,
        });
    }
    let Some((head, site)) = matched else {
        let attempts = after_wrong(snap.attempts.as_ref(), &digest, limits, now);
        let seen = snap.attempts.as_ref().map(|a| a.revision);
        let mut plan = Plan::answer(ClaimOutcome::Wrong);
        plan.writes.push(Write::ClaimAttempts { email: actor.email.clone(), attempts, seen });
        return Ok(plan);
    };
    if let Some(role) = snap.membership {
        return Err(AccessError::Conflict(format!("you are already a member ({role}) of {}", site.support_id)));
    }
    if snap.claim.as_ref().is_some_and(|c| c.status == ClaimStatus::Revoked) {
        return Err(AccessError::Forbidden(format!(
            "your claim of {} was revoked by its administrators; ask for access instead",
            site.support_id
        )));
    }
    let at = Stamp::of(now);
    let revocable_until = Stamp::of(now + revocation_window(site, limits));
    let notify_care = site.admin_count <= 0;
    let claim = ClaimRecord {
        support_id: site.support_id.clone(),
        site_name: site.name.clone(),
        email: actor.email.clone(),
        serial: serial.clone(),
        order_id: order.clone(),
        claimed_at: at.clone(),
        revocable_until: revocable_until.clone(),
        status: ClaimStatus::Active,
        revoked_by: None,
        revoked_at: None,
        notice_id: notify_care.then(|| notice_id.to_string()),
    };
    let mut entry = HistoryEntry::new(&site.support_id, &at, 0, actor.email.as_str(), HistoryAction::Claimed);
    entry.subject = Some(actor.email.clone());
    entry.role = Some(Role::User);
    entry.reason = Some(format!("serial {serial} of order {order}; revocable until {revocable_until}"));
    let mut writes = vec![
        Write::OrderCurrent { order: order.clone(), version: head.current_version },
        Write::LineExists { order: order.clone(), version: head.current_version, serial: serial.clone() },
        Write::SetMembership {
            email: actor.email.clone(),
            site: site.support_id.clone(),
            role: Role::User,
            previous: None,
            at: at.clone(),
            resells: site.resells,
            ends_at: None,
        },
        // A claim record left by a removed membership is replaced only as read.
        Write::Claim { claim: claim.clone(), expected: snap.claim.as_ref().map(|c| (c.claimed_at.clone(), c.status)) },
        Write::History(entry),
    ];
    let notice = if notify_care {
        let notice = CareNotice {
            schema: NOTICE_SCHEMA.into(),
            notice_id: notice_id.to_string(),
            kind: "claim".into(),
            support_id: site.support_id.clone(),
            site_name: site.name.clone(),
            email: actor.email.clone(),
            serial: serial.clone(),
            order_id: order.clone(),
            at: at.clone(),
            revocable_until,
        };
        let body = serde_json::to_string(&notice).map_err(|e| AccessError::Invalid(e.to_string()))?;
        writes.push(Write::Notice { id: notice_id.to_string(), at: at.clone(), body });
        Some(Box::new(notice))
    } else {
        // The admins are told by the site's claims list and history, which this commit writes.
        writes.push(Write::AdminCountIs { site: site.support_id.clone(), seen: site.admin_count });
        None
    };
    Ok(Plan { writes, messages: Vec::new(), orphaned: None, outcome: ClaimOutcome::New { claim, notice } })
}

/// What a revocation read.
#[derive(Debug, Clone, Default)]
pub struct RevokeSnapshot {
    pub site: Option<SiteMeta>,
    pub actor_role: Option<Role>,
    pub claim: Option<ClaimRecord>,
    /// The claimant's role at the site now.
    pub member_role: Option<Role>,
}

/// `DELETE /v1/sites/{s}/claims/{email}`: within the window, an admin (or Care) revokes a
/// claim; the claimant's membership goes with it (still `user`: a claimant promoted since was
/// decided on by an admin, so the revocation is refused and a removal is the way).
pub fn plan_revoke(
    snap: RevokeSnapshot,
    actor: &Actor,
    site_id: &SupportId,
    claimant: &Email,
    now: OffsetDateTime,
) -> Result<Plan<ClaimRecord>, AccessError> {
    super::rules::may_manage(site_id, snap.site, actor, snap.actor_role)?;
    let not_found = || AccessError::NotFound(format!("{claimant} has no claim at {site_id}"));
    let claim = snap.claim.ok_or_else(not_found)?;
    let at = Stamp::of(now);
    if claim.status == ClaimStatus::Revoked {
        // A retry whose first answer was lost: this very call revoked it.
        if claim.revoked_by.as_ref() == Some(&actor.email) && claim.revoked_at.as_ref() == Some(&at) {
            return Ok(Plan::answer(claim));
        }
        return Err(AccessError::Conflict(format!("the claim of {claimant} at {site_id} was already revoked")));
    }
    if at >= claim.revocable_until {
        return Err(AccessError::Conflict(format!(
            "the claim's revocation window closed at {}; remove the member instead",
            claim.revocable_until
        )));
    }
    let mut writes = Vec::new();
    match snap.member_role {
        Some(Role::Admin) => {
            return Err(AccessError::Conflict(format!("{claimant} has been made an administrator since; remove the member instead")))
        }
        Some(Role::User) => writes.push(Write::RemoveMembership { email: claimant.clone(), site: site_id.clone(), role: Role::User }),
        None => writes.push(Write::MembershipIs { email: claimant.clone(), site: site_id.clone(), role: None }),
    }
    if !actor.care {
        writes.push(Write::MembershipIs { email: actor.email.clone(), site: site_id.clone(), role: Some(Role::Admin) });
    }
    let mut revoked = claim.clone();
    revoked.status = ClaimStatus::Revoked;
    revoked.revoked_by = Some(actor.email.clone());
    revoked.revoked_at = Some(at.clone());
    writes.push(Write::Claim { claim: revoked.clone(), expected: Some((claim.claimed_at.clone(), claim.status)) });
    let mut entry = HistoryEntry::new(site_id, &at, 0, actor.email.as_str(), HistoryAction::ClaimRevoked);
    entry.subject = Some(claimant.clone());
    entry.role = snap.member_role;
    entry.reason = Some(format!("claim of {} (serial {} of order {})", claim.claimed_at, claim.serial, claim.order_id));
    writes.push(Write::History(entry));
    Ok(Plan { writes, messages: Vec::new(), orphaned: None, outcome: revoked })
}

/// `PUT /v1/sites/{s}/claim-window`: a site's admins (or Care) set how long claims stay
/// revocable (0 to `max_revocation_days` days).
pub fn plan_claim_window(
    site: Option<SiteMeta>,
    actor_role: Option<Role>,
    actor: &Actor,
    site_id: &SupportId,
    days: i64,
    limits: &ClaimLimits,
    now: OffsetDateTime,
) -> Result<Plan<i64>, AccessError> {
    let meta = super::rules::may_manage(site_id, site, actor, actor_role)?;
    if !(0..=limits.max_revocation_days).contains(&days) {
        return Err(AccessError::BadInput(format!("claim_revocation_days must be 0 to {}", limits.max_revocation_days)));
    }
    if meta.claim_revocation_days == Some(days) {
        return Ok(Plan::answer(days));
    }
    let at = Stamp::of(now);
    let mut entry = HistoryEntry::new(site_id, &at, 0, actor.email.as_str(), HistoryAction::ClaimWindowChanged);
    entry.reason = Some(format!("claims revocable for {days} days"));
    let mut writes = vec![Write::ClaimWindow { site: site_id.clone(), days }, Write::History(entry)];
    if !actor.care {
        writes.push(Write::MembershipIs { email: actor.email.clone(), site: site_id.clone(), role: Some(Role::Admin) });
    }
    Ok(Plan { writes, messages: Vec::new(), orphaned: None, outcome: days })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::access::test_fixtures::{acme as site, actor, email};
    use crate::domain::OrderStatus;

    const NOW: OffsetDateTime = time::macros::datetime!(2026-12-04 10:00 UTC);

    fn who(raw: &str) -> Actor {
        actor(raw, false)
    }
    fn order() -> OrderId {
        OrderId::parse("O-1").unwrap()
    }
    fn serial(raw: &str) -> Serial {
        Serial::parse(raw).unwrap()
    }
    fn head(status: OrderStatus) -> OrderHead {
        OrderHead {
            order_id: order(),
            current_version: 2,
            digest: "d".into(),
            status,
            ordered_at: "2026-04-01T10:00:00Z".into(),
            end_customer: SupportId::parse("ACME-1").unwrap(),
            reseller: None,
            ship_to: None,
            ship_to_contacts: Vec::new(),
            entitlement_count: 3,
            updated_at: "x".into(),
        }
    }
    fn matching(admins: i64) -> ClaimSnapshot {
        ClaimSnapshot { head: Some(head(OrderStatus::Active)), line_found: true, site: Some(site(admins)), ..Default::default() }
    }
    fn claim(snap: ClaimSnapshot, now: OffsetDateTime) -> Result<Plan<ClaimOutcome>, AccessError> {
        plan_claim(snap, &who("zed@acme.example"), &order(), &serial("S1"), &ClaimLimits::default(), now, "n-1")
    }
    fn attempts_of(plan: &Plan<ClaimOutcome>) -> ClaimAttempts {
        plan.writes
            .iter()
            .find_map(|w| match w {
                Write::ClaimAttempts { attempts, .. } => Some(attempts.clone()),
                _ => None,
            })
            .expect("an attempt is recorded")
    }

    #[test]
    fn a_current_line_of_an_active_order_makes_the_caller_a_user_of_the_end_customer_site() {
        let plan = claim(matching(1), NOW).unwrap();
        let ClaimOutcome::New { claim, notice } = &plan.outcome else { panic!("{:?}", plan.outcome) };
        assert_eq!(claim.support_id.as_str(), "ACME-1");
        assert_eq!(claim.revocable_until, Stamp::of(NOW + Duration::days(7)));
        assert!(notice.is_none(), "a site with an admin: the admins are told, not Care");
        assert!(plan.writes.iter().any(|w| matches!(w, Write::SetMembership { role: Role::User, previous: None, .. })));
        assert!(plan.writes.iter().any(|w| matches!(w, Write::OrderCurrent { version: 2, .. })));
        assert!(plan.writes.iter().any(|w| matches!(w, Write::History(h) if h.action == HistoryAction::Claimed)));
        assert!(!plan.writes.iter().any(|w| matches!(w, Write::ClaimAttempts { .. })), "a right pair costs nothing");
    }

    #[test]
    fn a_site_without_admins_tells_care_through_the_outbox() {
        let plan = claim(matching(0), NOW).unwrap();
        let ClaimOutcome::New { notice: Some(notice), .. } = &plan.outcome else { panic!("{:?}", plan.outcome) };
        assert_eq!(notice.schema, NOTICE_SCHEMA);
        assert!(plan.writes.iter().any(|w| matches!(w, Write::Notice { id, .. } if id == "n-1")));
    }

    #[test]
    fn every_kind_of_wrong_pair_answers_alike_and_costs_one_attempt() {
        let cancelled = ClaimSnapshot { head: Some(head(OrderStatus::Cancelled)), ..matching(1) };
        let revoked_line = ClaimSnapshot { line_found: false, ..matching(1) };
        let no_order = ClaimSnapshot { head: None, site: None, line_found: false, ..Default::default() };
        for snap in [cancelled, revoked_line, no_order] {
            let plan = claim(snap, NOW).unwrap();
            assert_eq!(plan.outcome, ClaimOutcome::Wrong);
            assert_eq!(attempts_of(&plan).failures.len(), 1);
            assert!(!plan.writes.iter().any(|w| matches!(w, Write::SetMembership { .. })));
        }
    }

    #[test]
    fn a_retried_wrong_pair_is_not_counted_twice() {
        let first = claim(ClaimSnapshot::default(), NOW).unwrap();
        let recorded = attempts_of(&first);
        let again = claim(ClaimSnapshot { attempts: Some(recorded), ..Default::default() }, NOW + Duration::seconds(1)).unwrap();
        assert_eq!(again.outcome, ClaimOutcome::Wrong);
        assert!(again.writes.is_empty());
    }

    #[test]
    fn the_fifth_distinct_wrong_pair_in_a_day_locks_the_caller_out_for_a_day() {
        let limits = ClaimLimits::default();
        let mut attempts = None;
        for i in 0..5 {
            let digest = pair_digest(&order(), &serial(&format!("X{i}")));
            let next = after_wrong(attempts.as_ref(), &digest, &limits, NOW + Duration::minutes(i));
            attempts = Some(next);
        }
        let locked_at = NOW + Duration::minutes(4);
        assert_eq!(locked_for(attempts.as_ref(), locked_at), Some(Duration::hours(24)));
        // Even the right pair is refused while locked.
        let err = claim(ClaimSnapshot { attempts: attempts.clone(), ..matching(1) }, locked_at + Duration::hours(1)).unwrap_err();
        assert!(matches!(err, AccessError::TooMany { retry_after, .. } if retry_after == Duration::hours(23)));
        assert!(claim(ClaimSnapshot { attempts, ..matching(1) }, locked_at + Duration::hours(24)).is_ok());
    }

    #[test]
    fn wrong_pairs_older_than_the_window_do_not_count() {
        let limits = ClaimLimits::default();
        let mut attempts = None;
        for i in 0..4 {
            attempts = Some(after_wrong(attempts.as_ref(), &format!("d{i}"), &limits, NOW - Duration::hours(25)));
        }
        let next = after_wrong(attempts.as_ref(), "d5", &limits, NOW);
        assert_eq!(next.failures.len(), 1);
        assert!(next.locked_until.is_none());
    }

    #[test]
    fn a_retried_claim_answers_as_made_without_writing() {
        let made = match claim(matching(1), NOW).unwrap().outcome {
            ClaimOutcome::New { claim, .. } => claim,
            other => panic!("{other:?}"),
        };
        let snap = ClaimSnapshot { membership: Some(Role::User), claim: Some(made.clone()), ..matching(1) };
        let plan = claim(snap, NOW + Duration::seconds(2)).unwrap();
        assert_eq!(plan.outcome, ClaimOutcome::Existing(made));
        assert!(plan.writes.is_empty());
    }

    #[test]
    fn a_member_or_a_revoked_claimant_cannot_claim() {
        let member = ClaimSnapshot { membership: Some(Role::Admin), ..matching(1) };
        assert!(matches!(claim(member, NOW), Err(AccessError::Conflict(_))));
        let made = match claim(matching(1), NOW).unwrap().outcome {
            ClaimOutcome::New { claim, .. } => claim,
            other => panic!("{other:?}"),
        };
        let revoked = ClaimRecord { status: ClaimStatus::Revoked, ..made };
        assert!(matches!(claim(ClaimSnapshot { claim: Some(revoked), ..matching(1) }, NOW), Err(AccessError::Forbidden(_))));
    }

    #[test]
    fn revocation_only_within_the_window_and_only_by_a_manager() {
        let made = match claim(matching(1), NOW).unwrap().outcome {
            ClaimOutcome::New { claim, .. } => claim,
            other => panic!("{other:?}"),
        };
        let snap =
            |actor_role| RevokeSnapshot { site: Some(site(1)), actor_role, claim: Some(made.clone()), member_role: Some(Role::User) };
        let site_id = SupportId::parse("ACME-1").unwrap();
        let zed = email("zed@acme.example");
        let admin = who("bill@acme.example");
        let plan = plan_revoke(snap(Some(Role::Admin)), &admin, &site_id, &zed, NOW + Duration::days(6)).unwrap();
        assert_eq!(plan.outcome.status, ClaimStatus::Revoked);
        assert!(plan.writes.iter().any(|w| matches!(w, Write::RemoveMembership { role: Role::User, .. })));
        assert!(plan.writes.iter().any(|w| matches!(w, Write::History(h) if h.action == HistoryAction::ClaimRevoked)));
        assert!(matches!(
            plan_revoke(snap(Some(Role::Admin)), &admin, &site_id, &zed, NOW + Duration::days(7)),
            Err(AccessError::Conflict(_))
        ));
        assert!(matches!(plan_revoke(snap(Some(Role::User)), &admin, &site_id, &zed, NOW), Err(AccessError::NotYourSite(_))));
    }

    #[test]
    fn a_site_sets_its_own_window_within_bounds() {
        let limits = ClaimLimits::default();
        let mut meta = site(1);
        meta.claim_revocation_days = Some(2);
        assert_eq!(revocation_window(&meta, &limits), Duration::days(2));
        let (actor, site_id) = (who("bill@acme.example"), SupportId::parse("ACME-1").unwrap());
        assert!(plan_claim_window(Some(site(1)), Some(Role::Admin), &actor, &site_id, 14, &limits, NOW).is_ok());
        assert!(matches!(
            plan_claim_window(Some(site(1)), Some(Role::Admin), &actor, &site_id, 91, &limits, NOW),
            Err(AccessError::BadInput(_))
        ));
    }
}
