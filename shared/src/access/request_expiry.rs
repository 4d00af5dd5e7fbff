//! Pending access requests expire (issue 21): an open request nobody decided within
//! [`REQUEST_LIFETIME_DAYS`] days is closed as `expired` by the sweep, as a decision would
//! close it (its markers and the requester's open-request slot go in the same transaction),
//! and the site's history records `request_expired`. Open requests older than the admin SLA
//! are `escalated`, so the sweep reads Care's work list (`CARE#ESCALATED`, sorted by creation
//! time: one range query up to the cut-off, no Scan) and, for an SLA set longer than the
//! lifetime, the `pending_admin` day index of the days before the cut-off.

use super::rules::Plan;
use super::{run, AccessError, Workflow};
use crate::domain::access::{HistoryAction, RequestId, RequestStatus, Stamp};
use crate::store::access::{AccessRequest, HistoryEntry, Write};
use time::OffsetDateTime;

/// How long an open request waits for a decision before it expires.
pub const REQUEST_LIFETIME_DAYS: i64 = 90;

/// Closes `request` as expired if it is still open and older than the lifetime; `false` (no
/// writes) otherwise. `requester_open_count`: the requester's counter as read.
pub fn plan_expire_request(
    request: Option<AccessRequest>,
    requester_open_count: i64,
    now: OffsetDateTime,
) -> Result<Plan<bool>, AccessError> {
    let cutoff = Stamp::of(now - time::Duration::days(REQUEST_LIFETIME_DAYS));
    let Some(request) = request.filter(|r| r.status.is_open() && r.created_at <= cutoff) else { return Ok(Plan::answer(false)) };
    let at = Stamp::of(now);
    let mut expired = request.clone();
    expired.status = RequestStatus::Expired;
    expired.decided_at = Some(at.clone());
    expired.reason = Some(format!("not decided within {REQUEST_LIFETIME_DAYS} days"));
    let mut entry = HistoryEntry::new(&request.support_id, &at, 0, "system", HistoryAction::RequestExpired);
    entry.request_id = Some(request.request_id.clone());
    entry.subject = Some(request.requester_email.clone());
    entry.role = Some(request.requested_role);
    entry.reason = expired.reason.clone();
    let mut writes = vec![
        Write::Request { request: expired, expected: Some(request.status) },
        Write::History(entry),
        Write::Delete(request.open_marker()),
    ];
    if requester_open_count > 0 {
        writes.push(Write::UncountOpenRequest { email: request.requester_email.clone() });
    }
    if request.status == RequestStatus::PendingAdmin {
        writes.push(Write::Delete(request.pending_day_marker()));
        writes.push(Write::Delete(request.site_pending_marker()));
    } else {
        writes.push(Write::Delete(request.care_marker()));
        writes.push(Write::Delete(request.outbox_key()));
    }
    Ok(Plan { writes, messages: Vec::new(), orphaned: None, outcome: true })
}

/// Expires one request (see [`plan_expire_request`]).
pub async fn expire_request(wf: &Workflow, id: &RequestId, now: OffsetDateTime) -> Result<bool, AccessError> {
    let store = &wf.store;
    let read = || async {
        let request = store.access_request(id).await?;
        let open = match &request {
            Some(r) => store.request_limits(&r.requester_email, &r.support_id).await?.0,
            None => 0,
        };
        Ok::<_, AccessError>((request, open))
    };
    let expired = run(wf, "TransactWriteItems expire access request", now, read, |(r, open)| plan_expire_request(r, open, now)).await?;
    if expired {
        tracing::info!(request_id = %id, "access request expired undecided");
    }
    Ok(expired)
}

/// The sweep's part: every open request older than the lifetime. Returns how many expired.
pub async fn sweep_requests(wf: &Workflow, now: OffsetDateTime) -> Result<usize, AccessError> {
    let cutoff = Stamp::of(now - time::Duration::days(REQUEST_LIFETIME_DAYS));
    let mut ids = wf.store.escalated_created_before(&cutoff).await?;
    // Only when the admin SLA is longer than the lifetime can a pending_admin request be this old.
    if wf.admin_sla_days as i64 > REQUEST_LIFETIME_DAYS {
        let last = (now - time::Duration::days(REQUEST_LIFETIME_DAYS)).to_offset(time::UtcOffset::UTC).date();
        let mut day = last - time::Duration::days(wf.admin_sla_days as i64 - REQUEST_LIFETIME_DAYS);
        while day <= last {
            ids.extend(super::rules::overdue(wf.store.pending_on_day(&crate::domain::access::day_of(day)).await?, &cutoff));
            match day.next_day() {
                Some(d) => day = d,
                None => break,
            }
        }
    }
    let mut expired = 0;
    for id in ids {
        if expire_request(wf, &id, now).await? {
            expired += 1;
        }
    }
    Ok(expired)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::access::{EscalationReason, RequestKind};
    use crate::domain::{Email, Role, SupportId};

    const NOW: OffsetDateTime = time::macros::datetime!(2026-12-04 10:00 UTC);

    fn request(age_days: i64, status: RequestStatus) -> AccessRequest {
        AccessRequest {
            request_id: RequestId::stored("r1"),
            support_id: SupportId::parse("FARM-1").unwrap(),
            site_name: "Farm".into(),
            requester_email: Email::parse("ted@data.example").unwrap(),
            kind: RequestKind::Join,
            requested_role: Role::User,
            status,
            created_at: Stamp::of(NOW - time::Duration::days(age_days)),
            decided_by: None,
            decided_at: None,
            reason: None,
            granted_role: None,
            escalated_at: None,
            escalation_reason: Some(EscalationReason::AdminSlaExpired),
        }
    }

    #[test]
    fn an_open_request_expires_after_ninety_days_and_gives_its_slot_back() {
        let plan = plan_expire_request(Some(request(91, RequestStatus::Escalated)), 1, NOW).unwrap();
        assert!(plan.outcome);
        assert!(plan.writes.iter().any(|w| matches!(w, Write::Request { request, expected: Some(RequestStatus::Escalated) } if request.status == RequestStatus::Expired)));
        assert!(plan.writes.iter().any(|w| matches!(w, Write::UncountOpenRequest { .. })));
        assert!(plan.writes.iter().any(|w| matches!(w, Write::History(h) if h.action == HistoryAction::RequestExpired)));
    }

    #[test]
    fn a_younger_or_decided_request_is_left_alone() {
        assert!(!plan_expire_request(Some(request(89, RequestStatus::Escalated)), 1, NOW).unwrap().outcome);
        assert!(!plan_expire_request(Some(request(120, RequestStatus::Approved)), 1, NOW).unwrap().outcome);
        assert!(!plan_expire_request(None, 0, NOW).unwrap().outcome);
    }
}
