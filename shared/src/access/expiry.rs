//! Memberships that expire (issue 21): an end date on a membership, set by the site's admins
//! or Care; from that instant the member sees nothing of the site (every read checks it with
//! [`crate::domain::rules::membership_in_force`]), and the sweep removes it, recording
//! `membership_expired` in the site's history (what its admins read). Losing the last admin
//! through expiry escalates the site's `pending_admin` requests to Care exactly as a removal does.
//!
//! The sweep finds ended memberships through the day index `MEMBER_ENDS#{day}` (written with
//! the end date, in the same transaction), from its watermark to today: no Scan.

use super::rules::{self, Plan};
use super::{acting_role_of, run, AccessError, Actor, Workflow};
use crate::domain::access::{day_of, parse_day, HistoryAction, Stamp};
use crate::domain::{Email, Role, SupportId};
use crate::store::access::{HistoryEntry, Membership, SiteMeta, Write};
use crate::store::access_expiry::{EndingMembership, MembershipStanding};
use time::OffsetDateTime;

/// How far back the first membership sweep looks.
const FIRST_SWEEP_LOOKBACK_DAYS: i64 = 90;

/// What setting an end date read.
#[derive(Debug, Clone, Default)]
pub struct EndSnapshot {
    pub site: Option<SiteMeta>,
    pub actor_role: Option<Role>,
    pub member: Option<MembershipStanding>,
}

/// `PUT /v1/sites/{s}/members/{e}/end-date`: sets (or, `None`, clears) a membership's end.
/// An end already past takes effect at once (the member sees nothing from then on).
pub fn plan_set_end(
    snap: EndSnapshot,
    actor: &Actor,
    site_id: &SupportId,
    member: &Email,
    ends_at: Option<Stamp>,
    now: OffsetDateTime,
) -> Result<Plan<Membership>, AccessError> {
    let meta = rules::may_manage(site_id, snap.site, actor, snap.actor_role)?;
    let Some(standing) = snap.member else { return Err(AccessError::NotFound(format!("{member} is not a member of {site_id}"))) };
    let current = Membership {
        email: member.clone(),
        support_id: site_id.clone(),
        role: standing.role,
        since: standing.since.clone(),
        ends_at: ends_at.as_ref().map(|s| s.to_string()),
    };
    if standing.ends_at == ends_at {
        return Ok(Plan::answer(current));
    }
    let at = Stamp::of(now);
    let mut writes = vec![Write::SetMembershipEnd {
        email: member.clone(),
        site: site_id.clone(),
        role: standing.role,
        ends_at: ends_at.clone(),
        was: standing.ends_at.clone(),
        resells: meta.resells,
    }];
    if !actor.care && &actor.email != member {
        writes.push(Write::MembershipIs { email: actor.email.clone(), site: site_id.clone(), role: Some(Role::Admin) });
    }
    let mut entry = HistoryEntry::new(site_id, &at, 0, actor.email.as_str(), HistoryAction::MembershipEndSet);
    entry.subject = Some(member.clone());
    entry.role = Some(standing.role);
    entry.reason = Some(match &ends_at {
        Some(end) => format!("ends at {end}"),
        None => "no end date".into(),
    });
    writes.push(Write::History(entry));
    Ok(Plan { writes, messages: Vec::new(), orphaned: None, outcome: current })
}

/// What expiring one ended membership read.
#[derive(Debug, Clone, Default)]
pub struct ExpireSnapshot {
    pub site: Option<SiteMeta>,
    pub member: Option<MembershipStanding>,
}

/// The sweep, for one entry of the end-date index: removes the membership if it still ends
/// then and that is past; otherwise only the stale index entry goes. `true`: removed.
pub fn plan_expire(snap: ExpireSnapshot, ending: &EndingMembership, now: OffsetDateTime) -> Result<Plan<bool>, AccessError> {
    let at = Stamp::of(now);
    if ending.ends_at > at {
        return Ok(Plan::answer(false));
    }
    let stale = || Plan { writes: vec![Write::Delete(ending.key())], messages: Vec::new(), orphaned: None, outcome: false };
    let Some(standing) = snap.member.filter(|m| m.ends_at.as_ref() == Some(&ending.ends_at)) else { return Ok(stale()) };
    let site = &ending.support_id;
    let mut writes = vec![
        Write::ExpireMembership { email: ending.email.clone(), site: site.clone(), role: standing.role, ends_at: ending.ends_at.clone() },
        Write::Delete(ending.key()),
    ];
    let mut orphaned = None;
    let system = Actor { email: ending.email.clone(), care: true };
    if standing.role == Role::Admin {
        let meta = snap.site.ok_or_else(|| AccessError::UnknownSite(site.clone()))?;
        let new = (meta.admin_count - 1).max(0);
        writes.push(Write::SetAdminCount { site: site.clone(), seen: meta.admin_count, new });
        let (more, site_left) = rules::admin_loss(site, new, &system, &at);
        writes.extend(more.into_iter().map(|w| match w {
            // The sweep acted, not the member.
            Write::History(mut h) => {
                h.actor = "system".into();
                Write::History(h)
            }
            other => other,
        }));
        orphaned = site_left;
    }
    let mut entry = HistoryEntry::new(site, &at, 0, "system", HistoryAction::MembershipExpired);
    entry.subject = Some(ending.email.clone());
    entry.role = Some(standing.role);
    entry.reason = Some(format!("ended at {}", ending.ends_at));
    writes.push(Write::History(entry));
    Ok(Plan { writes, messages: Vec::new(), orphaned, outcome: true })
}

/// Sets or clears a membership's end date.
pub async fn set_end(
    wf: &Workflow,
    actor: &Actor,
    site: &SupportId,
    member: &Email,
    ends_at: Option<Stamp>,
    now: OffsetDateTime,
) -> Result<Membership, AccessError> {
    let store = &wf.store;
    let read = || async {
        let (meta, actor_role, standing) =
            futures::try_join!(store.site_meta(site), acting_role_of(store, actor, site), store.membership_standing(member, site),)?;
        Ok::<_, AccessError>(EndSnapshot { site: meta, actor_role, member: standing })
    };
    let set = run(wf, "TransactWriteItems membership end", now, read, |snap| plan_set_end(snap, actor, site, member, ends_at.clone(), now))
        .await?;
    tracing::info!(site = %site, member = %member, ends_at = ?set.ends_at, by = %actor.email, "membership end date set");
    Ok(set)
}

/// Removes one ended membership (see [`plan_expire`]).
pub async fn expire(wf: &Workflow, ending: &EndingMembership, now: OffsetDateTime) -> Result<bool, AccessError> {
    let store = &wf.store;
    let read = || async {
        let (meta, standing) =
            futures::try_join!(store.site_meta(&ending.support_id), store.membership_standing(&ending.email, &ending.support_id))?;
        Ok::<_, AccessError>(ExpireSnapshot { site: meta, member: standing })
    };
    let removed = run(wf, "TransactWriteItems expire membership", now, read, |snap| plan_expire(snap, ending, now)).await?;
    if removed {
        tracing::info!(site = %ending.support_id, member = %ending.email, "membership expired");
    }
    Ok(removed)
}

/// The membership part of the sweep: every membership whose end is past, from the watermark's
/// day to today. Returns how many were removed.
pub async fn sweep_memberships(wf: &Workflow, now: OffsetDateTime) -> Result<usize, AccessError> {
    let today = now.to_offset(time::UtcOffset::UTC).date();
    let mut day = match wf.store.membership_sweep_watermark().await?.as_deref().and_then(parse_day) {
        Some(day) => day,
        None => today - time::Duration::days(FIRST_SWEEP_LOOKBACK_DAYS),
    };
    let mut removed = 0;
    while day <= today {
        for ending in wf.store.memberships_ending_on(&day_of(day)).await? {
            if expire(wf, &ending, now).await? {
                removed += 1;
            }
        }
        match day.next_day() {
            Some(d) => day = d,
            None => break,
        }
    }
    // Days before today are done; today's later ends are swept next time.
    wf.store.advance_membership_sweep_watermark(&day_of(today)).await?;
    Ok(removed)
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: OffsetDateTime = time::macros::datetime!(2026-12-04 10:00 UTC);

    fn sid() -> SupportId {
        SupportId::parse("ACME-1").unwrap()
    }
    fn email(raw: &str) -> Email {
        Email::parse(raw).unwrap()
    }
    fn site(admins: i64) -> SiteMeta {
        SiteMeta {
            support_id: sid(),
            name: "Acme".into(),
            admin_count: admins,
            view_enabled: false,
            resells: false,
            claim_revocation_days: None,
        }
    }
    fn standing(role: Role, ends_at: Option<Stamp>) -> MembershipStanding {
        MembershipStanding { role, since: None, ends_at }
    }
    fn ending(ends: OffsetDateTime) -> EndingMembership {
        EndingMembership { email: email("zed@acme.example"), support_id: sid(), ends_at: Stamp::of(ends) }
    }

    #[test]
    fn an_admin_sets_an_end_date_and_the_history_says_so() {
        let snap = EndSnapshot { site: Some(site(1)), actor_role: Some(Role::Admin), member: Some(standing(Role::User, None)) };
        let end = Stamp::of(NOW + time::Duration::days(30));
        let bill = Actor { email: email("bill@acme.example"), care: false };
        let plan = plan_set_end(snap, &bill, &sid(), &email("zed@acme.example"), Some(end.clone()), NOW).unwrap();
        assert!(plan.writes.iter().any(|w| matches!(w, Write::SetMembershipEnd { ends_at: Some(e), was: None, .. } if *e == end)));
        assert!(plan.writes.iter().any(|w| matches!(w, Write::History(h) if h.action == HistoryAction::MembershipEndSet)));
        let user = EndSnapshot { site: Some(site(1)), actor_role: Some(Role::User), member: Some(standing(Role::User, None)) };
        assert!(matches!(plan_set_end(user, &bill, &sid(), &email("zed@acme.example"), None, NOW), Err(AccessError::NotYourSite(_))));
    }

    #[test]
    fn the_sweep_removes_only_a_membership_that_still_ends_then() {
        let end = NOW - time::Duration::minutes(1);
        let snap = ExpireSnapshot { site: Some(site(1)), member: Some(standing(Role::User, Some(Stamp::of(end)))) };
        let plan = plan_expire(snap, &ending(end), NOW).unwrap();
        assert!(plan.outcome);
        assert!(plan.writes.iter().any(|w| matches!(w, Write::ExpireMembership { .. })));
        assert!(plan.writes.iter().any(|w| matches!(w, Write::History(h) if h.action == HistoryAction::MembershipExpired)));
        // The end moved (or was cleared) since the index entry: only the entry goes.
        let moved = ExpireSnapshot { site: Some(site(1)), member: Some(standing(Role::User, None)) };
        let plan = plan_expire(moved, &ending(end), NOW).unwrap();
        assert!(!plan.outcome);
        assert!(matches!(plan.writes.as_slice(), [Write::Delete(_)]));
        // Not yet: nothing.
        let later = NOW + time::Duration::minutes(1);
        let snap = ExpireSnapshot { site: Some(site(1)), member: Some(standing(Role::User, Some(Stamp::of(later)))) };
        assert!(plan_expire(snap, &ending(later), NOW).unwrap().writes.is_empty());
    }

    #[test]
    fn the_last_admin_expiring_escalates_like_a_removal() {
        let end = NOW - time::Duration::minutes(1);
        let snap = ExpireSnapshot { site: Some(site(1)), member: Some(standing(Role::Admin, Some(Stamp::of(end)))) };
        let plan = plan_expire(snap, &ending(end), NOW).unwrap();
        assert_eq!(plan.orphaned, Some(sid()));
        assert!(plan.writes.iter().any(|w| matches!(w, Write::SetAdminCount { seen: 1, new: 0, .. })));
        assert!(plan.writes.iter().any(|w| matches!(w, Write::Orphaned { .. })));
        assert!(plan
            .writes
            .iter()
            .any(|w| matches!(w, Write::History(h) if h.action == HistoryAction::LastAdminLost && h.actor == "system")));
    }
}
