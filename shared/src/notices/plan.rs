//! The decisions of the expiry notices, pure: which threshold a line is due for, and what a
//! contact's visit does with what it read (the lines the radar shows the contact, the
//! contact's own memberships that end, the claims and sent digests of the contact's notice
//! partition).

use crate::domain::access::Stamp;
use crate::domain::Day;
use crate::store::access::Membership;
use crate::store::notices::{AccessNoticeKey, ClaimState, NoticeClaimKey, NoticeState};
use crate::store::view::Renewal;
use std::collections::{BTreeMap, BTreeSet};
use time::{Duration, OffsetDateTime};

/// The thresholds, tightest first: a line is announced when it ends within 90, 30 and 7 days.
pub const THRESHOLDS: [u32; 3] = [7, 30, 90];
/// The widest threshold: the window a visit reads from the radar.
pub const WINDOW_DAYS: u32 = 90;

/// The threshold a line ending in `days_left` days is due for, given the thresholds already
/// sent for it (this end day): the tightest one its days left fall within, unless that one or
/// a tighter one was sent. A line first seen at 20 days gets the 30-day notice only (a missed
/// 90 is not sent late), and after the 7-day notice nothing more; an ended line gets none.
pub fn due_threshold(days_left: i64, sent: &BTreeSet<u32>) -> Option<u32> {
    if days_left < 0 {
        return None;
    }
    let bucket = THRESHOLDS.into_iter().find(|t| days_left <= i64::from(*t))?;
    if sent.iter().any(|s| *s <= bucket) {
        return None;
    }
    Some(bucket)
}

/// Days from `today` to `ends_on` (0: it ends today).
pub fn days_left(today: Day, ends_on: Day) -> i64 {
    (ends_on.0 - today.0).whole_days()
}

/// One notice a visit sends: the radar's entry (index into the visit's lines) and its threshold.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Due {
    pub line: usize,
    pub claim: NoticeClaimKey,
    pub days_left: i64,
}

/// What one visit of a contact does about one kind of notice (`K`: a claim's identity, `D`:
/// a notice to send).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VisitPlan<K, D> {
    /// Claims still pending for a digest SES accepted (the run died before marking them):
    /// mark them sent, never send them again.
    pub finish: Vec<(K, String)>,
    /// Claims pending for a digest that was never recorded as sent and that are not due any
    /// more: drop. (Lines: revoked, renewed, hidden, or a tighter threshold came first.
    /// Access: the end was cleared — confirmed in the review — or moved, or the membership
    /// is gone.)
    pub drop: Vec<(K, String)>,
    /// The notices of this visit's digest, soonest first.
    pub send: Vec<D>,
}

impl<K, D> Default for VisitPlan<K, D> {
    fn default() -> Self {
        VisitPlan { finish: Vec::new(), drop: Vec::new(), send: Vec::new() }
    }
}

/// What a visit does about the lines the contact can see that end.
pub type ContactPlan = VisitPlan<NoticeClaimKey, Due>;
/// What a visit does about the contact's own memberships that end.
pub type AccessPlan = VisitPlan<AccessNoticeKey, AccessDue>;

/// Claims as read: (identity, state).
type ClaimsRead<'a, K> = Vec<(K, &'a ClaimState)>;

/// Claims sorted out: those that count as sent (marked sent, or pending for a digest SES
/// accepted), the latter to `finish` (mark them), and the pending ones of unsent digests.
struct Settled<K> {
    done: BTreeSet<K>,
    finish: Vec<(K, String)>,
    unsent: Vec<(K, String)>,
}

fn settle<K: Clone + Ord>(claims: ClaimsRead<'_, K>, sent_digests: &BTreeSet<String>) -> Settled<K> {
    let mut out = Settled { done: BTreeSet::new(), finish: Vec::new(), unsent: Vec::new() };
    for (key, state) in claims {
        match state {
            ClaimState::Sent { .. } => {
                out.done.insert(key);
            }
            ClaimState::Pending { digest } if sent_digests.contains(digest) => {
                out.finish.push((key.clone(), digest.clone()));
                out.done.insert(key);
            }
            ClaimState::Pending { digest } => out.unsent.push((key, digest.clone())),
        }
    }
    out
}

/// The plan of a visit: `lines` are what the radar shows the contact now (current versions of
/// active orders, by the §2 rules), within the 90-day window.
pub fn plan_contact(today: Day, lines: &[Renewal], state: &NoticeState) -> ContactPlan {
    let Settled { done, finish, unsent } = settle(state.claims.iter().map(|c| (c.key(), &c.state)).collect(), &state.sent_digests);
    let mut plan = ContactPlan { finish, ..ContactPlan::default() };
    // Sent, per (serial, end day): the thresholds.
    let mut sent: BTreeMap<(String, String), BTreeSet<u32>> = BTreeMap::new();
    for key in done {
        sent.entry((key.serial, key.ends_on)).or_default().insert(key.threshold);
    }
    let none = BTreeSet::new();
    let mut seen = BTreeSet::new();
    for (i, renewal) in lines.iter().enumerate() {
        let line = &renewal.entitlement.line.line;
        let (serial, ends_on) = (line.serial.to_string(), line.ends_on.to_string());
        if !seen.insert(serial.clone()) {
            continue;
        }
        let left = days_left(today, line.ends_on);
        let already = sent.get(&(serial.clone(), ends_on.clone())).unwrap_or(&none);
        if let Some(threshold) = due_threshold(left, already) {
            plan.send.push(Due { line: i, claim: NoticeClaimKey { serial, ends_on, threshold }, days_left: left });
        }
    }
    let sending: BTreeSet<&NoticeClaimKey> = plan.send.iter().map(|d| &d.claim).collect();
    plan.drop = unsent.into_iter().filter(|(key, _)| !sending.contains(key)).collect();
    plan
}

/// How long before a membership ends its member is told (once per end): an access review's
/// lapse gives a 7-day grace, so a lapsed member hears of it on the next daily run.
pub const ACCESS_NOTICE: Duration = Duration::days(7);

/// One access notice a visit sends: the contact's membership of `site` ends at `ends_at`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccessDue {
    pub claim: AccessNoticeKey,
    /// Whole days left (0: it ends within a day).
    pub days_left: i64,
}

/// The access notices of a visit at `now`: each membership in force whose end is at most
/// [`ACCESS_NOTICE`] away is announced once per (site, end). Whatever set the end — a lapsed
/// review, an admin's date, an invitation's — the member hears of it before losing access.
pub fn plan_access(now: OffsetDateTime, memberships: &[Membership], state: &NoticeState) -> AccessPlan {
    let Settled { done, finish, unsent } =
        settle(state.access_claims.iter().map(|c| (c.key.clone(), &c.state)).collect(), &state.sent_digests);
    let mut send: Vec<AccessDue> = memberships
        .iter()
        .filter_map(|m| {
            let ends_at = m.ends_at.as_deref()?;
            let left = Stamp::stored(ends_at).instant()? - now;
            let claim = AccessNoticeKey { site: m.support_id.to_string(), ends_at: ends_at.to_string() };
            (left > Duration::ZERO && left <= ACCESS_NOTICE && !done.contains(&claim))
                .then_some(AccessDue { claim, days_left: left.whole_days() })
        })
        .collect();
    send.sort_by(|a, b| (&a.claim.ends_at, &a.claim.site).cmp(&(&b.claim.ends_at, &b.claim.site)));
    let sending: BTreeSet<&AccessNoticeKey> = send.iter().map(|d| &d.claim).collect();
    let drop = unsent.into_iter().filter(|(key, _)| !sending.contains(key)).collect();
    AccessPlan { finish, drop, send }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::entitlement::{EntitlementStatus, LineItem, SiteRef, VisibleEntitlement};
    use crate::domain::{Access, Line, OrderId, SupportId};
    use crate::store::notices::{AccessNoticeClaim, NoticeClaim};

    fn day(d: &str) -> Day {
        Day::parse(d).unwrap()
    }

    fn sent(ts: &[u32]) -> BTreeSet<u32> {
        ts.iter().copied().collect()
    }

    #[test]
    fn a_line_is_due_for_the_tightest_threshold_it_is_within_once() {
        assert_eq!(due_threshold(120, &sent(&[])), None, "beyond the window");
        assert_eq!(due_threshold(91, &sent(&[])), None);
        assert_eq!(due_threshold(90, &sent(&[])), Some(90));
        assert_eq!(due_threshold(45, &sent(&[])), Some(90));
        assert_eq!(due_threshold(45, &sent(&[90])), None, "the 90-day notice went out already");
        assert_eq!(due_threshold(30, &sent(&[90])), Some(30));
        assert_eq!(due_threshold(8, &sent(&[90, 30])), None);
        assert_eq!(due_threshold(7, &sent(&[90, 30])), Some(7));
        assert_eq!(due_threshold(0, &sent(&[90, 30])), Some(7), "ends today");
        assert_eq!(due_threshold(0, &sent(&[7])), None, "nothing after the last notice");
        assert_eq!(due_threshold(-1, &sent(&[])), None, "ended: no notice");
    }

    #[test]
    fn a_late_first_sight_sends_only_the_current_threshold_and_never_a_wider_one_later() {
        // First seen at 20 days: the 30-day notice; the 90 one is never sent late.
        assert_eq!(due_threshold(20, &sent(&[])), Some(30));
        assert_eq!(due_threshold(19, &sent(&[30])), None);
        // First seen at 3 days: only the 7-day notice.
        assert_eq!(due_threshold(3, &sent(&[])), Some(7));
        assert_eq!(due_threshold(2, &sent(&[7])), None);
    }

    fn renewal(serial: &str, ends_on: &str) -> Renewal {
        let raw = serde_json::json!({"serial": serial, "sku": "K", "product": "P", "quantity": 1,
            "starts_on": "2026-01-01", "ends_on": ends_on, "license_keys": []});
        let line = LineItem {
            order_id: OrderId::parse("O-1").unwrap(),
            version: 1,
            site: SupportId::parse("A-1").unwrap(),
            reseller: None,
            line: serde_json::from_value::<Line>(raw).unwrap(),
        };
        Renewal {
            entitlement: VisibleEntitlement { line, status: EntitlementStatus::Active, access: vec![Access::Member] },
            site: SiteRef { support_id: SupportId::parse("A-1").unwrap(), name: "A".into() },
        }
    }

    fn claim(serial: &str, ends_on: &str, threshold: u32, state: ClaimState) -> NoticeClaim {
        NoticeClaim { serial: serial.into(), ends_on: ends_on.into(), threshold, state }
    }

    fn pending(d: &str) -> ClaimState {
        ClaimState::Pending { digest: d.into() }
    }

    #[test]
    fn a_visit_sends_what_is_due_finishes_what_was_sent_and_drops_what_is_not_due() {
        let today = day("2027-01-01");
        let lines = vec![renewal("S1", "2027-01-05"), renewal("S2", "2027-02-20"), renewal("S3", "2027-03-01")];
        let state = NoticeState {
            claims: vec![
                // S1: 90 and 30 sent; now at 4 days the 7-day notice is due.
                claim("S1", "2027-01-05", 90, ClaimState::Sent { digest: "a".into() }),
                claim("S1", "2027-01-05", 30, pending("b")),
                // S2: pending for a digest that was never sent: due again, re-claimed.
                claim("S2", "2027-02-20", 90, pending("dead")),
                // S4: pending, but no longer visible (revoked): dropped.
                claim("S4", "2027-01-20", 30, pending("dead")),
                // S3's old end day (renewed): its claims do not count for the new end day.
                claim("S3", "2027-01-10", 30, ClaimState::Sent { digest: "a".into() }),
            ],
            sent_digests: BTreeSet::from(["a".to_string(), "b".to_string()]),
            ..NoticeState::default()
        };
        let plan = plan_contact(today, &lines, &state);
        let key = |s: &str, d: &str, t: u32| NoticeClaimKey { serial: s.into(), ends_on: d.into(), threshold: t };
        assert_eq!(plan.finish, vec![(key("S1", "2027-01-05", 30), "b".to_string())]);
        let send: Vec<(NoticeClaimKey, i64)> = plan.send.iter().map(|d| (d.claim.clone(), d.days_left)).collect();
        assert_eq!(send, vec![(key("S1", "2027-01-05", 7), 4), (key("S2", "2027-02-20", 90), 50), (key("S3", "2027-03-01", 90), 59)]);
        assert_eq!(plan.drop, vec![(key("S4", "2027-01-20", 30), "dead".to_string())]);
    }

    #[test]
    fn nothing_new_nothing_sent() {
        let today = day("2027-01-01");
        let lines = vec![renewal("S1", "2027-03-01")];
        let state = NoticeState {
            claims: vec![claim("S1", "2027-03-01", 90, ClaimState::Sent { digest: "a".into() })],
            sent_digests: BTreeSet::from(["a".to_string()]),
            ..NoticeState::default()
        };
        assert_eq!(plan_contact(today, &lines, &state), ContactPlan::default());
    }

    fn member_of(site: &str, ends_at: Option<&str>) -> Membership {
        Membership {
            email: crate::domain::Email::parse("dana@acme.example").unwrap(),
            support_id: SupportId::parse(site).unwrap(),
            role: crate::domain::Role::User,
            since: None,
            ends_at: ends_at.map(str::to_string),
        }
    }

    fn access_claim(site: &str, ends_at: &str, state: ClaimState) -> AccessNoticeClaim {
        AccessNoticeClaim { key: AccessNoticeKey { site: site.into(), ends_at: ends_at.into() }, state }
    }

    #[test]
    fn a_member_is_told_once_within_seven_days_of_their_membership_ending_whatever_set_the_end() {
        let now = time::macros::datetime!(2027-01-01 12:00 UTC);
        let memberships = vec![
            member_of("A-1", Some("2027-01-04T12:00:00.000000Z")), // 3 days: due
            member_of("B-1", Some("2027-01-08T12:00:00.000000Z")), // exactly 7 days: due
            member_of("C-1", Some("2027-01-08T12:00:01.000000Z")), // a second beyond: not yet
            member_of("D-1", None),                                // no end
            member_of("E-1", Some("2027-01-02T11:00:00.000000Z")), // 23 hours: due, "today"
        ];
        let plan = plan_access(now, &memberships, &NoticeState::default());
        let due: Vec<(&str, i64)> = plan.send.iter().map(|d| (d.claim.site.as_str(), d.days_left)).collect();
        assert_eq!(due, vec![("E-1", 0), ("A-1", 3), ("B-1", 7)], "soonest first");

        // Sent once (or pending for a digest SES accepted): not again for the same end.
        let state = NoticeState {
            access_claims: vec![
                access_claim("A-1", "2027-01-04T12:00:00.000000Z", ClaimState::Sent { digest: "a".into() }),
                access_claim("B-1", "2027-01-08T12:00:00.000000Z", pending("b")),
                // E-1's end moved: the notice of the old end says nothing of the new one.
                access_claim("E-1", "2027-01-01T00:00:00.000000Z", ClaimState::Sent { digest: "a".into() }),
                // D-1's end was cleared (confirmed in the review) before its digest went: dropped.
                access_claim("D-1", "2027-01-05T00:00:00.000000Z", pending("dead")),
            ],
            sent_digests: BTreeSet::from(["a".to_string(), "b".to_string()]),
            ..NoticeState::default()
        };
        let plan = plan_access(now, &memberships, &state);
        let due: Vec<&str> = plan.send.iter().map(|d| d.claim.site.as_str()).collect();
        assert_eq!(due, vec!["E-1"]);
        assert_eq!(
            plan.finish,
            vec![(AccessNoticeKey { site: "B-1".into(), ends_at: "2027-01-08T12:00:00.000000Z".into() }, "b".to_string())]
        );
        assert_eq!(
            plan.drop,
            vec![(AccessNoticeKey { site: "D-1".into(), ends_at: "2027-01-05T00:00:00.000000Z".into() }, "dead".to_string())]
        );
    }

    #[test]
    fn an_ended_membership_is_not_announced() {
        let now = time::macros::datetime!(2027-01-01 12:00 UTC);
        let plan = plan_access(now, &[member_of("A-1", Some("2027-01-01T12:00:00.000000Z"))], &NoticeState::default());
        assert!(plan.send.is_empty(), "{plan:?}");
    }
}
