//! Access reviews (issue 21 part 4): a site's schedule, the review page, confirm/remove, and
//! the sweep that lapses unconfirmed members. Each operation reads a snapshot, plans with
//! [`super::review_rules`] and commits through [`super::run`]; a lapse is an end date, so
//! the expiry sweep (`super::expiry`) does the removal and the last-admin escalation.
//!
//! Guarantees: the schedule moves conditioned on its due instant as read, with its index
//! entry (`REVIEW_DUE#{day}`) in the same transaction; a confirmation commits only while its
//! round is the site's (a check on the site record); a lapse is conditioned on the
//! membership's role and end as read (as every end-date change).

use super::review_rules::{self, ReviewSnapshot, DEFAULT_GRACE};
use super::{acting_role_of, run, AccessError, Actor, Workflow};
use crate::domain::access::{day_of, parse_day, Stamp};
use crate::domain::{Email, SupportId};
use crate::store::access::Membership;
use crate::store::access_reviews::{Confirmation, ReviewSchedule};
use crate::store::keys;
use time::OffsetDateTime;

/// How far back the very first review sweep looks.
const FIRST_SWEEP_LOOKBACK_DAYS: i64 = 30;

/// The review page: the schedule and every member with their confirmation in the round due.
#[derive(Debug, Clone, PartialEq)]
pub struct ReviewPage {
    pub schedule: ReviewSchedule,
    pub members: Vec<(Membership, Option<Confirmation>)>,
}

async fn snapshot(wf: &Workflow, actor: &Actor, site: &SupportId, member: Option<&Email>) -> Result<ReviewSnapshot, AccessError> {
    let store = &wf.store;
    let read_member = || async {
        match member {
            Some(m) => store.membership_standing(m, site).await,
            None => Ok(None),
        }
    };
    let (meta, actor_role, schedule, member) =
        futures::try_join!(store.site_meta(site), acting_role_of(store, actor, site), store.review_schedule(site), read_member())?;
    Ok(ReviewSnapshot { site: meta, actor_role, schedule, member })
}

/// `PUT /v1/sites/{s}/review-schedule`.
pub async fn set_schedule(
    wf: &Workflow,
    actor: &Actor,
    site: &SupportId,
    every_days: Option<i64>,
    now: OffsetDateTime,
) -> Result<ReviewSchedule, AccessError> {
    let schedule = run(
        wf,
        "TransactWriteItems review schedule",
        now,
        || snapshot(wf, actor, site, None),
        |snap| review_rules::plan_schedule(snap, actor, site, every_days, now),
    )
    .await?;
    tracing::info!(site = %site, every_days = ?schedule.every_days, by = %actor.email, "access review schedule set");
    Ok(schedule)
}

/// `GET /v1/sites/{s}/review`: one round (the right, the site, its schedule, its members
/// (every page of the members index) and the confirmations, all at once).
pub async fn review_page(wf: &Workflow, actor: &Actor, site: &SupportId) -> Result<ReviewPage, AccessError> {
    let store = &wf.store;
    let (meta, actor_role, schedule, members, confirmations) = futures::try_join!(
        store.site_meta(site),
        acting_role_of(store, actor, site),
        store.review_schedule(site),
        store.all_site_members(site),
        store.review_confirmations(site),
    )?;
    super::rules::may_manage(site, meta, actor, actor_role)?;
    let round: Vec<Confirmation> =
        confirmations.into_iter().filter(|(due, _)| Some(due) == schedule.due_at.as_ref()).map(|(_, c)| c).collect();
    let members = members
        .into_iter()
        .map(|m| {
            let confirmed = round.iter().find(|c| c.email == m.email).cloned();
            (m, confirmed)
        })
        .collect();
    Ok(ReviewPage { schedule, members })
}

/// `POST /v1/sites/{s}/review/{email} {action: "confirm"}`: the round's deadline.
pub async fn confirm(wf: &Workflow, actor: &Actor, site: &SupportId, member: &Email, now: OffsetDateTime) -> Result<Stamp, AccessError> {
    let due = run(
        wf,
        "TransactWriteItems review confirm",
        now,
        || snapshot(wf, actor, site, Some(member)),
        |snap| review_rules::plan_confirm(snap, actor, site, member, DEFAULT_GRACE, now),
    )
    .await?;
    tracing::info!(site = %site, member = %member, by = %actor.email, "member confirmed in access review");
    Ok(due)
}

/// Lapses the members of every review due by `now` that nobody confirmed, and starts each
/// site's next round; returns how many members lapsed. Walks the day index from its watermark.
pub async fn sweep_reviews(wf: &Workflow, now: OffsetDateTime) -> Result<usize, AccessError> {
    let store = &wf.store;
    let today = now.to_offset(time::UtcOffset::UTC).date();
    let mut day = match store.review_sweep_watermark().await?.as_deref().and_then(parse_day) {
        Some(d) => d,
        None => today - time::Duration::days(FIRST_SWEEP_LOOKBACK_DAYS),
    };
    let now_stamp = Stamp::of(now);
    let mut lapsed = 0;
    while day <= today {
        for due in store.reviews_due_on(&day_of(day)).await? {
            if due.due_at > now_stamp {
                continue;
            }
            lapsed += lapse_round(wf, &due.support_id, &due.due_at, now).await?;
        }
        match day.next_day() {
            Some(d) => day = d,
            None => break,
        }
    }
    // Today is swept again next time (rounds due later today).
    store.advance_review_sweep_watermark(&day_of(today)).await?;
    Ok(lapsed)
}

async fn lapse_round(wf: &Workflow, site: &SupportId, due: &Stamp, now: OffsetDateTime) -> Result<usize, AccessError> {
    let store = &wf.store;
    let (meta, schedule, members, confirmations) = futures::try_join!(
        store.site_meta(site),
        store.review_schedule(site),
        store.all_site_members(site),
        store.review_confirmations(site)
    )?;
    let entry = keys::review_due(due.day(), due.as_str(), site);
    let (Some(meta), true) = (meta, schedule.due_at.as_ref() == Some(due)) else {
        // The schedule moved (or the site is gone): the entry no longer means anything.
        store.delete_item("DeleteItem stale review index entry", &entry).await?;
        return Ok(0);
    };
    let mut lapsed = 0;
    for member in &members {
        let confirmed = confirmations.iter().any(|(d, c)| d == due && c.email == member.email);
        let read = || async { Ok::<_, AccessError>(store.membership_standing(&member.email, site).await?) };
        let did = run(wf, "TransactWriteItems review lapse", now, read, |standing| {
            review_rules::plan_lapse_member(&meta, due, member, standing, confirmed, DEFAULT_GRACE, now)
        })
        .await?;
        if did {
            lapsed += 1;
        }
    }
    let read = || async { Ok::<_, AccessError>(store.review_schedule(site).await?) };
    run(wf, "TransactWriteItems review next round", now, read, |schedule| review_rules::plan_next_round(&schedule, site, due, now)).await?;
    // The round's confirmations are history now (the history entries keep who confirmed whom).
    for (d, c) in confirmations.iter().filter(|(d, _)| d <= due) {
        store.delete_item("DeleteItem old review confirmation", &keys::review_confirmation(site, d.as_str(), &c.email)).await?;
    }
    if lapsed > 0 {
        tracing::info!(site = %site, lapsed, due = %due, "access review lapsed unconfirmed members");
    }
    Ok(lapsed)
}
