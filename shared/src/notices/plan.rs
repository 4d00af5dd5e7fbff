//! The decisions of the expiry notices, pure: which threshold a line is due for, and what a
//! contact's visit does with what it read (the lines the radar shows the contact, the claims
//! and sent digests of the contact's notice partition).

use crate::domain::Day;
use crate::store::notices::{ClaimState, NoticeClaimKey, NoticeState};
use crate::store::view::Renewal;
use std::collections::{BTreeMap, BTreeSet};

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

/// What one visit of a contact does.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ContactPlan {
    /// Claims still pending for a digest SES accepted (the run died before marking them):
    /// mark them sent, never send them again.
    pub finish: Vec<(NoticeClaimKey, String)>,
    /// Claims pending for a digest that was never recorded as sent and that are not due any
    /// more (the line was revoked, renewed, hidden, or a tighter threshold came first): drop.
    pub drop: Vec<(NoticeClaimKey, String)>,
    /// The notices of this visit's digest, soonest first.
    pub send: Vec<Due>,
}

/// The plan of a visit: `lines` are what the radar shows the contact now (current versions of
/// active orders, by the §2 rules), within the 90-day window.
pub fn plan_contact(today: Day, lines: &[Renewal], state: &NoticeState) -> ContactPlan {
    let mut plan = ContactPlan::default();
    // Sent, per (serial, end day): claims marked sent, and pending ones whose digest was sent.
    let mut sent: BTreeMap<(String, String), BTreeSet<u32>> = BTreeMap::new();
    for claim in &state.claims {
        let done = match &claim.state {
            ClaimState::Sent { .. } => true,
            ClaimState::Pending { digest } if state.sent_digests.contains(digest) => {
                plan.finish.push((claim.key(), digest.clone()));
                true
            }
            ClaimState::Pending { .. } => false,
        };
        if done {
            sent.entry((claim.serial.clone(), claim.ends_on.clone())).or_default().insert(claim.threshold);
        }
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
    for claim in &state.claims {
        if let ClaimState::Pending { digest } = &claim.state {
            if !state.sent_digests.contains(digest) && !sending.contains(&claim.key()) {
                plan.drop.push((claim.key(), digest.clone()));
            }
        }
    }
    plan
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::entitlement::{EntitlementStatus, LineItem, SiteRef, VisibleEntitlement};
    use crate::domain::{Access, Line, OrderId, SupportId};
    use crate::store::notices::NoticeClaim;

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
        };
        assert_eq!(plan_contact(today, &lines, &state), ContactPlan::default());
    }
}
