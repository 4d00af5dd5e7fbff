//! The rules of access reviews (issue 21 part 4), as pure functions. No I/O;
//! `super::reviews` reads and commits.
//!
//! - A site may ask for a review every N days (1-730; off by default). Setting it starts a
//!   round due N days later; the site's admins (or Care) confirm or remove each member.
//! - When a round is due, every member not confirmed in it is given an end date `grace` (7
//!   days) after the deadline — the notice: the member, the admins (members list, history
//!   `review_lapsed`) see it before anything is lost — unless their membership ends sooner
//!   already. From then on it is an ordinary end date: checked on every read, removed by the
//!   expiry sweep, and a last admin lost that way escalates to Care as a removal does.
//!   Confirming during the grace clears the end the review set (not one an admin set).
//! - Then the next round starts, due N days after the last deadline.

use super::rules::{may_manage, Plan};
use super::{AccessError, Actor};
use crate::domain::access::{HistoryAction, Stamp};
use crate::domain::{Email, Role, SupportId};
use crate::store::access::{HistoryEntry, Membership, SiteMeta, Write};
use crate::store::access_expiry::MembershipStanding;
use crate::store::access_reviews::ReviewSchedule;
use time::{Duration, OffsetDateTime};

/// The longest review period a site may set, in days.
pub const MAX_EVERY_DAYS: i64 = 730;
/// How long after a missed deadline an unconfirmed member keeps access (the notice period).
pub const DEFAULT_GRACE: Duration = Duration::days(7);

/// What changing the schedule (or confirming) read.
#[derive(Debug, Clone, Default)]
pub struct ReviewSnapshot {
    pub site: Option<SiteMeta>,
    pub actor_role: Option<Role>,
    pub schedule: ReviewSchedule,
    /// The member a confirmation is about.
    pub member: Option<MembershipStanding>,
}

fn at_plus(stamp: &Stamp, d: Duration) -> Option<Stamp> {
    stamp.instant().map(|t| Stamp::of(t + d))
}

/// The end a lapsed review gives an unconfirmed member of the round due at `due`.
pub fn lapse_end(due: &Stamp, grace: Duration) -> Option<Stamp> {
    at_plus(due, grace)
}

/// `PUT /v1/sites/{s}/review-schedule {every_days}` (`None`: off).
pub fn plan_schedule(
    snap: ReviewSnapshot,
    actor: &Actor,
    site_id: &SupportId,
    every_days: Option<i64>,
    now: OffsetDateTime,
) -> Result<Plan<ReviewSchedule>, AccessError> {
    may_manage(site_id, snap.site, actor, snap.actor_role)?;
    if every_days.is_some_and(|d| !(1..=MAX_EVERY_DAYS).contains(&d)) {
        return Err(AccessError::BadInput(format!("every_days must be 1 to {MAX_EVERY_DAYS}, or null to turn reviews off")));
    }
    if snap.schedule.every_days == every_days && (every_days.is_none() || snap.schedule.due_at.is_some()) {
        return Ok(Plan::answer(snap.schedule));
    }
    let at = Stamp::of(now);
    let due_at = every_days.map(|d| Stamp::of(now + Duration::days(d)));
    let mut entry = HistoryEntry::new(site_id, &at, 0, actor.email.as_str(), HistoryAction::ReviewScheduleChanged);
    entry.reason = Some(match (&every_days, &due_at) {
        (Some(d), Some(due)) => format!("a review every {d} days; the first is due at {due}"),
        _ => "no access reviews".into(),
    });
    let mut writes = vec![
        Write::ReviewSchedule { site: site_id.clone(), every_days, due_at: due_at.clone(), seen_due: snap.schedule.due_at.clone() },
        Write::History(entry),
    ];
    if !actor.care {
        writes.push(Write::MembershipIs { email: actor.email.clone(), site: site_id.clone(), role: Some(Role::Admin) });
    }
    Ok(Plan { writes, messages: Vec::new(), orphaned: None, outcome: ReviewSchedule { every_days, due_at } })
}

/// `POST /v1/sites/{s}/review/{email} {action: "confirm"}`: the member stays; returns the
/// deadline of the round they were confirmed in.
pub fn plan_confirm(
    snap: ReviewSnapshot,
    actor: &Actor,
    site_id: &SupportId,
    member: &Email,
    grace: Duration,
    now: OffsetDateTime,
) -> Result<Plan<Stamp>, AccessError> {
    let meta = may_manage(site_id, snap.site, actor, snap.actor_role)?;
    let Some(due) = snap.schedule.due_at else {
        return Err(AccessError::Conflict(format!("{site_id} has no access review under way")));
    };
    let Some(standing) = snap.member else { return Err(AccessError::NotFound(format!("{member} is not a member of {site_id}"))) };
    let at = Stamp::of(now);
    let mut writes = vec![Write::ReviewConfirmation {
        site: site_id.clone(),
        email: member.clone(),
        due_at: due.clone(),
        by: actor.email.to_string(),
        at: at.clone(),
    }];
    // A member whose end the last lapsed round set keeps access again; an end an admin set stays.
    let previous_due = snap.schedule.every_days.and_then(|d| at_plus(&due, -Duration::days(d)));
    let lapsed_end = previous_due.as_ref().and_then(|p| lapse_end(p, grace));
    let clears = standing.ends_at.is_some() && standing.ends_at == lapsed_end;
    if clears {
        writes.push(Write::SetMembershipEnd {
            email: member.clone(),
            site: site_id.clone(),
            role: standing.role,
            ends_at: None,
            was: standing.ends_at.clone(),
            resells: meta.resells,
        });
    } else {
        writes.push(Write::MembershipIs { email: member.clone(), site: site_id.clone(), role: Some(standing.role) });
    }
    if !actor.care && &actor.email != member {
        writes.push(Write::MembershipIs { email: actor.email.clone(), site: site_id.clone(), role: Some(Role::Admin) });
    }
    let mut entry = HistoryEntry::new(site_id, &at, 0, actor.email.as_str(), HistoryAction::ReviewConfirmed);
    entry.subject = Some(member.clone());
    entry.role = Some(standing.role);
    entry.reason =
        Some(if clears { format!("review due at {due}; the end the last review set is cleared") } else { format!("review due at {due}") });
    writes.push(Write::History(entry));
    Ok(Plan { writes, messages: Vec::new(), orphaned: None, outcome: due })
}

/// The sweep, for one member of a round that is due: `true` if they were given the lapse end.
pub fn plan_lapse_member(
    site: &SiteMeta,
    due: &Stamp,
    member: &Membership,
    standing: Option<MembershipStanding>,
    confirmed: bool,
    grace: Duration,
    now: OffsetDateTime,
) -> Result<Plan<bool>, AccessError> {
    let Some(standing) = standing else { return Ok(Plan::answer(false)) };
    let Some(end) = lapse_end(due, grace) else { return Ok(Plan::answer(false)) };
    // Confirmed, or ending sooner anyway: nothing to do.
    if confirmed || standing.ends_at.as_ref().is_some_and(|e| *e <= end) {
        return Ok(Plan::answer(false));
    }
    let at = Stamp::of(now);
    let mut entry = HistoryEntry::new(&site.support_id, &at, 0, "system", HistoryAction::ReviewLapsed);
    entry.subject = Some(member.email.clone());
    entry.role = Some(standing.role);
    entry.reason = Some(format!("not confirmed in the review due at {due}; membership ends at {end}"));
    let writes = vec![
        Write::SetMembershipEnd {
            email: member.email.clone(),
            site: site.support_id.clone(),
            role: standing.role,
            ends_at: Some(end),
            was: standing.ends_at,
            resells: site.resells,
        },
        Write::History(entry),
    ];
    Ok(Plan { writes, messages: Vec::new(), orphaned: None, outcome: true })
}

/// The next round after the one due at `due`: N days after that deadline (or after `now`,
/// when the sweep comes so late that the next deadline has passed too).
pub fn plan_next_round(
    schedule: &ReviewSchedule,
    site: &SupportId,
    due: &Stamp,
    now: OffsetDateTime,
) -> Result<Plan<Option<Stamp>>, AccessError> {
    let (Some(days), Some(current)) = (schedule.every_days, schedule.due_at.as_ref()) else { return Ok(Plan::answer(None)) };
    if current != due {
        return Ok(Plan::answer(None));
    }
    let period = Duration::days(days);
    let next = match due.instant() {
        Some(t) if t + period > now => Stamp::of(t + period),
        _ => Stamp::of(now + period),
    };
    let writes =
        vec![Write::ReviewSchedule { site: site.clone(), every_days: Some(days), due_at: Some(next.clone()), seen_due: Some(due.clone()) }];
    Ok(Plan { writes, messages: Vec::new(), orphaned: None, outcome: Some(next) })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::access::test_fixtures::{acme, actor, t0};

    fn site() -> SiteMeta {
        acme(1)
    }
    fn standing(ends_at: Option<Stamp>) -> Option<MembershipStanding> {
        Some(MembershipStanding { role: Role::User, since: None, ends_at })
    }
    fn member() -> Membership {
        Membership {
            email: Email::parse("zed@acme.example").unwrap(),
            support_id: site().support_id,
            role: Role::User,
            since: None,
            ends_at: None,
        }
    }

    #[test]
    fn a_schedule_starts_a_round_and_only_managers_set_it() {
        let snap = |admin: bool| ReviewSnapshot { site: Some(site()), actor_role: admin.then_some(Role::Admin), ..Default::default() };
        let id = site().support_id;
        assert!(matches!(
            plan_schedule(snap(false), &actor("zed@acme.example", false), &id, Some(90), t0()),
            Err(AccessError::NotYourSite(_))
        ));
        for bad in [0, -1, MAX_EVERY_DAYS + 1] {
            assert!(matches!(
                plan_schedule(snap(true), &actor("bill@acme.example", false), &id, Some(bad), t0()),
                Err(AccessError::BadInput(_))
            ));
        }
        let on = plan_schedule(snap(true), &actor("bill@acme.example", false), &id, Some(90), t0()).unwrap();
        assert_eq!(on.outcome.due_at, Some(Stamp::of(t0() + Duration::days(90))));
        assert!(on.writes.iter().any(|w| matches!(w, Write::ReviewSchedule { seen_due: None, every_days: Some(90), .. })));
        let same = ReviewSnapshot { schedule: on.outcome.clone(), ..snap(true) };
        assert!(plan_schedule(same.clone(), &actor("bill@acme.example", false), &id, Some(90), t0()).unwrap().writes.is_empty());
        let off = plan_schedule(same, &actor("carla@care.example", true), &id, None, t0()).unwrap();
        assert_eq!(off.outcome, ReviewSchedule::default());
        assert!(off.writes.iter().any(|w| matches!(w, Write::ReviewSchedule { every_days: None, seen_due: Some(_), .. })));
    }

    #[test]
    fn an_unconfirmed_member_gets_an_end_a_week_after_the_deadline_and_a_confirmed_one_nothing() {
        let due = Stamp::of(t0());
        let lapse = plan_lapse_member(&site(), &due, &member(), standing(None), false, DEFAULT_GRACE, t0()).unwrap();
        assert!(lapse.outcome);
        assert!(lapse
            .writes
            .iter()
            .any(|w| matches!(w, Write::SetMembershipEnd { ends_at: Some(e), .. } if *e == Stamp::of(t0() + DEFAULT_GRACE))));
        assert!(lapse
            .writes
            .iter()
            .any(|w| matches!(w, Write::History(h) if h.action == HistoryAction::ReviewLapsed && h.actor == "system")));
        assert!(!plan_lapse_member(&site(), &due, &member(), standing(None), true, DEFAULT_GRACE, t0()).unwrap().outcome);
        let sooner = standing(Some(Stamp::of(t0() + Duration::days(1))));
        assert!(!plan_lapse_member(&site(), &due, &member(), sooner, false, DEFAULT_GRACE, t0()).unwrap().outcome, "ends sooner anyway");
        assert!(!plan_lapse_member(&site(), &due, &member(), None, false, DEFAULT_GRACE, t0()).unwrap().outcome, "gone meanwhile");
    }

    #[test]
    fn confirming_needs_a_round_and_clears_only_the_end_a_lapsed_round_set() {
        let id = site().support_id;
        let zed = Email::parse("zed@acme.example").unwrap();
        let (every, previous_due) = (30, Stamp::of(t0()));
        let schedule = ReviewSchedule { every_days: Some(every), due_at: Some(Stamp::of(t0() + Duration::days(every))) };
        let snap = |ends_at| ReviewSnapshot {
            site: Some(site()),
            actor_role: Some(Role::Admin),
            schedule: schedule.clone(),
            member: standing(ends_at),
        };
        let none = ReviewSnapshot { schedule: ReviewSchedule::default(), ..snap(None) };
        assert!(matches!(
            plan_confirm(none, &actor("bill@acme.example", false), &id, &zed, DEFAULT_GRACE, t0()),
            Err(AccessError::Conflict(_))
        ));
        let lapsed =
            plan_confirm(snap(lapse_end(&previous_due, DEFAULT_GRACE)), &actor("bill@acme.example", false), &id, &zed, DEFAULT_GRACE, t0())
                .unwrap();
        assert!(lapsed.writes.iter().any(|w| matches!(w, Write::SetMembershipEnd { ends_at: None, .. })));
        let contractor = Some(Stamp::of(t0() + Duration::days(3)));
        let kept = plan_confirm(snap(contractor), &actor("bill@acme.example", false), &id, &zed, DEFAULT_GRACE, t0()).unwrap();
        assert!(!kept.writes.iter().any(|w| matches!(w, Write::SetMembershipEnd { .. })), "an admin's end date stays");
        assert!(kept.writes.iter().any(|w| matches!(w, Write::ReviewConfirmation { .. })));
    }

    #[test]
    fn the_next_round_is_due_a_period_after_the_last_deadline() {
        let id = site().support_id;
        let due = Stamp::of(t0());
        let schedule = ReviewSchedule { every_days: Some(30), due_at: Some(due.clone()) };
        let next = plan_next_round(&schedule, &id, &due, t0() + Duration::hours(1)).unwrap();
        assert_eq!(next.outcome, Some(Stamp::of(t0() + Duration::days(30))));
        let late = plan_next_round(&schedule, &id, &due, t0() + Duration::days(40)).unwrap();
        assert_eq!(late.outcome, Some(Stamp::of(t0() + Duration::days(70))));
        let moved = ReviewSchedule { due_at: Some(Stamp::of(t0() + Duration::days(5))), ..schedule };
        assert!(plan_next_round(&moved, &id, &due, t0()).unwrap().writes.is_empty(), "a schedule changed meanwhile is left alone");
    }
}
