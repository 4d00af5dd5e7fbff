//! The pure decision: which events one item change means (issue 20, docs/API.md "Events").
//!
//! | item (keys.rs) | change | events |
//! |---|---|---|
//! | order head `ORDER#{o}`/`HEAD` | the head moves to another version (the switch) | per line: `entitlement.granted` (visible now, not before), `entitlement.revoked` (visible before, not now), `entitlement.changed` (visible before and now, from the new version) |
//! | membership `CONTACT#{e}`/`MEMBER#{s}` | insert / remove / role differs | `membership.added` / `membership.removed` / `membership.role_changed` |
//! | access request `REQUEST#{id}`/`REQUEST` | insert | `access_request.created` (and `escalated` when created so) |
//! | access request | status becomes `escalated` / `approved` or `rejected` | `access_request.escalated` / `access_request.decided` |
//! | anything else | — | none |
//!
//! Only the head says what is visible: staged lines (`LINE#{v}#…`, ship-to copies) are not
//! announced when written, so a version that is staged and never switched in (abandoned,
//! stale) announces nothing, and cleanup's deletions announce nothing either.

use super::decode::{Change, ChangeKind};
use super::{event_id, ChangeEvent, EntitlementData, EventData, EventKind, MembershipData, Previous, RequestData, Visibility};
use crate::domain::entitlement::{LineItem, OrderHead};
use crate::domain::{Email, OrderId, OrderStatus, Role, Serial, SupportId};
use crate::store::keys::{self, Item};
use crate::store::stream::VersionTransition;
use serde::Deserialize;
use std::collections::{BTreeMap, BTreeSet};
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

/// What a change needs read before it can be decided.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TransitionNeeded {
    pub order_id: OrderId,
    /// The version the head left, if it showed lines (an active one).
    pub old: Option<u64>,
    pub new: u64,
    /// Whether the new version shows lines (it is active).
    pub new_lines: bool,
}

fn head(image: Option<&Item>) -> Result<Option<OrderHead>, String> {
    image.map(|i| crate::store::from_item::<OrderHead>(i.clone()).map_err(|e| format!("order head: {e}"))).transpose()
}

fn is_head(change: &Change) -> bool {
    change.pk.starts_with("ORDER#") && change.sk == "HEAD"
}

/// The reads an order head's move needs (`None`: the change needs none).
pub fn transition_needed(change: &Change) -> Result<Option<TransitionNeeded>, String> {
    if !is_head(change) {
        return Ok(None);
    }
    let (old, new) = (head(change.old.as_ref())?, head(change.new.as_ref())?);
    let Some(new) = new else { return Ok(None) };
    if old.as_ref().is_some_and(|o| o.current_version == new.current_version && o.status == new.status) {
        return Ok(None);
    }
    Ok(Some(TransitionNeeded {
        order_id: new.order_id.clone(),
        old: old.filter(|o| o.status == OrderStatus::Active).map(|o| o.current_version),
        new: new.current_version,
        new_lines: new.status == OrderStatus::Active,
    }))
}

/// The events of one change. `transition`: what [`transition_needed`] asked for, read.
pub fn plan(change: &Change, transition: Option<&VersionTransition>) -> Result<Vec<ChangeEvent>, String> {
    if is_head(change) {
        let (old, new) = (head(change.old.as_ref())?, head(change.new.as_ref())?);
        return Ok(match (new, transition) {
            (Some(new), Some(t)) => plan_order(old.as_ref(), &new, t),
            _ => Vec::new(),
        });
    }
    if change.pk.starts_with("CONTACT#") && change.sk.starts_with(keys::MEMBER_PREFIX) {
        return plan_membership(change);
    }
    if change.pk.starts_with("REQUEST#") && change.sk == "REQUEST" {
        return plan_request(change);
    }
    Ok(Vec::new())
}

fn rfc3339(at: OffsetDateTime) -> String {
    at.format(&Rfc3339).unwrap_or_default()
}

/// Who sees a line of an order version, and by which rule (spec §2 R1–R3).
fn visibility(site: &SupportId, reseller: Option<&SupportId>, ship_to: &[Email]) -> Vec<Visibility> {
    let mut out = vec![Visibility::Member { support_id: site.clone() }];
    out.extend(reseller.map(|r| Visibility::Reseller { support_id: r.clone() }));
    if !ship_to.is_empty() {
        out.push(Visibility::ShipTo { contacts: ship_to.to_vec() });
    }
    out
}

fn plan_order(old: Option<&OrderHead>, new: &OrderHead, t: &VersionTransition) -> Vec<ChangeEvent> {
    let active = |h: &OrderHead| h.status == OrderStatus::Active;
    let before: BTreeSet<&Serial> = match old {
        Some(o) if active(o) => t.old_serials.iter().collect(),
        _ => BTreeSet::new(),
    };
    let after: BTreeSet<&Serial> = if active(new) { t.new_serials.iter().collect() } else { BTreeSet::new() };
    let lines: BTreeMap<&Serial, &LineItem> =
        t.new_lines.iter().filter(|l| l.version == new.current_version).map(|l| (&l.line.serial, l)).collect();
    let old_version = old.map(|o| o.current_version).unwrap_or(0);
    let time = new.updated_at.clone();
    let id = |kind: EventKind, serial: &Serial| {
        event_id(kind, &[new.order_id.as_str(), serial.as_str(), &old_version.to_string(), &new.current_version.to_string()])
    };
    let previous = old.map(|o| Previous { version: o.current_version, site: o.end_customer.clone(), reseller: o.reseller.clone() });
    let now_visible = visibility(&new.end_customer, new.reseller.as_ref(), &new.ship_to_contacts);
    let line_data = |serial: &Serial| {
        let line = lines.get(serial);
        EntitlementData {
            serial: serial.clone(),
            order_id: new.order_id.clone(),
            version: new.current_version,
            site: new.end_customer.clone(),
            reseller: new.reseller.clone(),
            sku: line.map(|l| l.line.sku.clone()),
            product: line.map(|l| l.line.product.clone()),
            quantity: line.map(|l| l.line.quantity),
            starts_on: line.map(|l| l.line.starts_on),
            ends_on: line.map(|l| l.line.ends_on),
            access: now_visible.clone(),
            previous: None,
            changes: Vec::new(),
            reason: None,
        }
    };
    let mut events = Vec::new();
    for serial in after.difference(&before) {
        let kind = EventKind::EntitlementGranted;
        events.push(ChangeEvent::new(id(kind, serial), kind, time.clone(), EventData::Entitlement(line_data(serial))));
    }
    if let Some(o) = old {
        let mut changes = Vec::new();
        if o.end_customer != new.end_customer {
            changes.push("site");
        }
        if o.reseller != new.reseller {
            changes.push("reseller");
        }
        if o.ship_to_contacts != new.ship_to_contacts {
            changes.push("ship_to");
        }
        for serial in after.intersection(&before) {
            let kind = EventKind::EntitlementChanged;
            let data = EntitlementData { previous: previous.clone(), changes: changes.clone(), ..line_data(serial) };
            events.push(ChangeEvent::new(id(kind, serial), kind, time.clone(), EventData::Entitlement(data)));
        }
        let was_visible = visibility(&o.end_customer, o.reseller.as_ref(), &o.ship_to_contacts);
        let reason = if active(new) { "removed_from_order" } else { "order_cancelled" };
        for serial in before.difference(&after) {
            let kind = EventKind::EntitlementRevoked;
            let data = EntitlementData {
                serial: (*serial).clone(),
                order_id: new.order_id.clone(),
                version: new.current_version,
                site: o.end_customer.clone(),
                reseller: o.reseller.clone(),
                sku: None,
                product: None,
                quantity: None,
                starts_on: None,
                ends_on: None,
                access: was_visible.clone(),
                previous: previous.clone(),
                changes: Vec::new(),
                reason: Some(reason),
            };
            events.push(ChangeEvent::new(id(kind, serial), kind, time.clone(), EventData::Entitlement(data)));
        }
    }
    events
}

/// What the events read of a membership item.
#[derive(Debug, Deserialize)]
struct MembershipImage {
    email: Email,
    support_id: SupportId,
    role: Role,
}

fn membership(image: Option<&Item>) -> Result<Option<MembershipImage>, String> {
    image.map(|i| crate::store::from_item::<MembershipImage>(i.clone()).map_err(|e| format!("membership: {e}"))).transpose()
}

fn plan_membership(change: &Change) -> Result<Vec<ChangeEvent>, String> {
    let (old, new) = (membership(change.old.as_ref())?, membership(change.new.as_ref())?);
    let (kind, m, previous_role) = match (change.kind, &old, &new) {
        (ChangeKind::Insert, _, Some(n)) => (EventKind::MembershipAdded, n, None),
        (ChangeKind::Remove, Some(o), _) => (EventKind::MembershipRemoved, o, None),
        (ChangeKind::Modify, Some(o), Some(n)) if o.role != n.role => (EventKind::MembershipRoleChanged, n, Some(o.role)),
        _ => return Ok(Vec::new()),
    };
    // A membership has no version of its own: the stream record's sequence number tells
    // this change from a later one of the same item, and a redelivered record keeps it.
    let id = event_id(kind, &[&change.pk, &change.sk, &change.sequence_number]);
    let data = MembershipData { email: m.email.clone(), support_id: m.support_id.clone(), role: m.role, previous_role };
    Ok(vec![ChangeEvent::new(id, kind, rfc3339(change.at), EventData::Membership(data))])
}

/// What the events read of an access request: statuses and kinds as strings, so that a
/// status this function does not know yet announces nothing instead of failing the shard.
#[derive(Debug, Deserialize)]
struct RequestImage {
    request_id: String,
    support_id: SupportId,
    #[serde(default)]
    site_name: String,
    requester_email: Email,
    kind: String,
    requested_role: Role,
    status: String,
    created_at: String,
    #[serde(default)]
    decided_by: Option<Email>,
    #[serde(default)]
    decided_at: Option<String>,
    #[serde(default)]
    reason: Option<String>,
    #[serde(default)]
    granted_role: Option<Role>,
    #[serde(default)]
    escalated_at: Option<String>,
    #[serde(default)]
    escalation_reason: Option<String>,
}

fn request(image: Option<&Item>) -> Result<Option<RequestImage>, String> {
    image.map(|i| crate::store::from_item::<RequestImage>(i.clone()).map_err(|e| format!("access request: {e}"))).transpose()
}

fn plan_request(change: &Change) -> Result<Vec<ChangeEvent>, String> {
    let (old, new) = (request(change.old.as_ref())?, request(change.new.as_ref())?);
    let Some(r) = new else { return Ok(Vec::new()) };
    let old_status = old.as_ref().map(|o| o.status.as_str());
    let mut kinds = Vec::new();
    if change.kind == ChangeKind::Insert || old.is_none() {
        kinds.push(EventKind::AccessRequestCreated);
    }
    if r.status == "escalated" && old_status != Some("escalated") {
        kinds.push(EventKind::AccessRequestEscalated);
    }
    if matches!(r.status.as_str(), "approved" | "rejected") && old_status != Some(r.status.as_str()) {
        kinds.push(EventKind::AccessRequestDecided);
    }
    let data = RequestData {
        request_id: r.request_id.clone(),
        support_id: r.support_id.clone(),
        site_name: r.site_name.clone(),
        requester_email: r.requester_email.clone(),
        kind: r.kind.clone(),
        requested_role: r.requested_role,
        status: r.status.clone(),
        created_at: r.created_at.clone(),
        granted_role: r.granted_role,
        decided_by: r.decided_by.clone(),
        decided_at: r.decided_at.clone(),
        reason: r.reason.clone(),
        escalation_reason: r.escalation_reason.clone(),
    };
    Ok(kinds
        .into_iter()
        .map(|kind| {
            // Each step happens once per request: its id names the request and the step.
            let time = match kind {
                EventKind::AccessRequestEscalated => r.escalated_at.clone(),
                EventKind::AccessRequestDecided => r.decided_at.clone(),
                _ => Some(r.created_at.clone()),
            }
            .unwrap_or_else(|| rfc3339(change.at));
            let id = event_id(kind, &[&r.request_id]);
            ChangeEvent::new(id, kind, time, EventData::Request(data.clone()))
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{Day, Line};
    use crate::store::to_item;

    fn at() -> OffsetDateTime {
        OffsetDateTime::from_unix_timestamp(1_796_000_000).unwrap()
    }

    fn head(version: u64, status: OrderStatus, site: &str, reseller: Option<&str>, ship_to: &[&str]) -> OrderHead {
        OrderHead {
            order_id: OrderId::parse("O-1").unwrap(),
            current_version: version,
            digest: format!("d{version}"),
            status,
            ordered_at: "2026-04-01T10:00:00Z".into(),
            end_customer: SupportId::parse(site).unwrap(),
            reseller: reseller.map(|r| SupportId::parse(r).unwrap()),
            ship_to: None,
            ship_to_contacts: ship_to.iter().map(|e| Email::parse(e).unwrap()).collect(),
            entitlement_count: 0,
            updated_at: format!("2026-04-0{version}T10:00:00Z"),
        }
    }

    fn change(kind: ChangeKind, pk: &str, sk: &str, old: Option<Item>, new: Option<Item>, seq: &str) -> Change {
        Change { kind, pk: pk.into(), sk: sk.into(), old, new, sequence_number: seq.into(), at: at() }
    }

    fn head_change(old: Option<&OrderHead>, new: &OrderHead) -> Change {
        let kind = if old.is_some() { ChangeKind::Modify } else { ChangeKind::Insert };
        change(kind, "ORDER#O-1", "HEAD", old.map(|h| to_item(h).unwrap()), Some(to_item(new).unwrap()), "1")
    }

    fn line(version: u64, serial: &str) -> LineItem {
        LineItem {
            order_id: OrderId::parse("O-1").unwrap(),
            version,
            site: SupportId::parse("ACME-1").unwrap(),
            reseller: None,
            line: Line {
                serial: Serial::parse(serial).unwrap(),
                sku: "SKU".into(),
                product: "Product".into(),
                quantity: 5,
                starts_on: Day::parse("2026-04-01").unwrap(),
                ends_on: Day::parse("2027-03-31").unwrap(),
                license_keys: vec!["SECRET-KEY-1234".into()],
                download_url: Some("https://downloads.example/secret".into()),
            },
        }
    }

    fn serials(list: &[&str]) -> Vec<Serial> {
        list.iter().map(|s| Serial::parse(s).unwrap()).collect()
    }

    fn decide_head(old: Option<&OrderHead>, new: &OrderHead, old_serials: &[&str], new_serials: &[&str]) -> Vec<ChangeEvent> {
        let c = head_change(old, new);
        let needed = transition_needed(&c).unwrap().expect("a head move needs its versions");
        let t = VersionTransition {
            old_serials: if needed.old.is_some() { serials(old_serials) } else { vec![] },
            new_serials: serials(new_serials),
            new_lines: if needed.new_lines { new_serials.iter().map(|s| line(new.current_version, s)).collect() } else { vec![] },
        };
        plan(&c, Some(&t)).unwrap()
    }

    fn kinds(events: &[ChangeEvent]) -> Vec<(EventKind, String)> {
        let mut out: Vec<(EventKind, String)> = events
            .iter()
            .map(|e| match &e.data {
                EventData::Entitlement(d) => (e.kind, d.serial.to_string()),
                _ => (e.kind, String::new()),
            })
            .collect();
        out.sort();
        out
    }

    #[test]
    fn a_first_version_grants_each_line_with_who_sees_it_and_why() {
        let v1 = head(1, OrderStatus::Active, "ACME-1", Some("SKY-1"), &["ted@data.example"]);
        let events = decide_head(None, &v1, &[], &["S1", "S2"]);
        assert_eq!(kinds(&events), vec![(EventKind::EntitlementGranted, "S1".into()), (EventKind::EntitlementGranted, "S2".into())]);
        let detail: serde_json::Value = serde_json::from_str(&events[0].detail()).unwrap();
        assert_eq!(detail["type"], "entitlement.granted");
        assert_eq!(detail["data"]["site"], "ACME-1");
        assert_eq!(detail["data"]["version"], 1);
        assert_eq!(detail["data"]["sku"], "SKU");
        assert_eq!(
            detail["data"]["access"],
            serde_json::json!([{"rule": "member", "support_id": "ACME-1"}, {"rule": "reseller", "support_id": "SKY-1"},
                               {"rule": "ship_to", "contacts": ["ted@data.example"]}])
        );
        for e in &events {
            let text = e.detail();
            assert!(!text.contains("SECRET-KEY") && !text.contains("license_keys") && !text.contains("downloads.example"), "{text}");
        }
    }

    #[test]
    fn a_new_version_grants_added_lines_revokes_dropped_ones_and_changes_the_kept() {
        let v1 = head(1, OrderStatus::Active, "ACME-1", Some("SKY-1"), &[]);
        let v2 = head(2, OrderStatus::Active, "ACME-1", None, &["ted@data.example"]);
        let events = decide_head(Some(&v1), &v2, &["S1", "S2"], &["S1", "S3"]);
        assert_eq!(
            kinds(&events),
            vec![
                (EventKind::EntitlementGranted, "S3".into()),
                (EventKind::EntitlementRevoked, "S2".into()),
                (EventKind::EntitlementChanged, "S1".into())
            ]
        );
        let changed = events.iter().find(|e| e.kind == EventKind::EntitlementChanged).unwrap();
        let EventData::Entitlement(d) = &changed.data else { panic!() };
        assert_eq!(d.changes, vec!["reseller", "ship_to"]);
        assert_eq!(d.previous.as_ref().map(|p| p.version), Some(1));
        let revoked = events.iter().find(|e| e.kind == EventKind::EntitlementRevoked).unwrap();
        let EventData::Entitlement(d) = &revoked.data else { panic!() };
        assert_eq!(d.reason, Some("removed_from_order"));
        // Who saw it until now: the old version's reseller too.
        assert!(d.access.contains(&Visibility::Reseller { support_id: SupportId::parse("SKY-1").unwrap() }));
    }

    #[test]
    fn cancelling_revokes_every_line_and_a_cancelled_version_grants_nothing() {
        let v1 = head(1, OrderStatus::Active, "ACME-1", None, &[]);
        let v2 = head(2, OrderStatus::Cancelled, "ACME-1", None, &[]);
        let events = decide_head(Some(&v1), &v2, &["S1", "S2"], &["S1", "S2"]);
        assert_eq!(kinds(&events), vec![(EventKind::EntitlementRevoked, "S1".into()), (EventKind::EntitlementRevoked, "S2".into())]);
        assert!(events.iter().all(|e| matches!(&e.data, EventData::Entitlement(d) if d.reason == Some("order_cancelled"))));
        assert!(decide_head(None, &v2, &[], &["S1"]).is_empty(), "a cancelled first version shows nothing");
        let v3 = head(3, OrderStatus::Active, "ACME-1", None, &[]);
        assert_eq!(kinds(&decide_head(Some(&v2), &v3, &["S1", "S2"], &["S1"])), vec![(EventKind::EntitlementGranted, "S1".into())]);
    }

    #[test]
    fn staged_lines_version_records_and_an_unmoved_head_announce_nothing() {
        let l = to_item(&line(2, "S9")).unwrap();
        assert!(plan(&change(ChangeKind::Insert, "ORDER#O-1", "LINE#0000000002#S9", None, Some(l.clone()), "5"), None).unwrap().is_empty());
        assert!(plan(&change(ChangeKind::Remove, "ORDER#O-1", "LINE#0000000002#S9", Some(l), None, "6"), None).unwrap().is_empty());
        let copy = change(ChangeKind::Insert, "SHIPPED#ted@data.example#ACME-1", "S9#0000000002", None, None, "7");
        assert!(plan(&copy, None).unwrap().is_empty());
        let v1 = head(1, OrderStatus::Active, "ACME-1", None, &[]);
        assert_eq!(transition_needed(&head_change(Some(&v1), &v1)).unwrap(), None);
    }

    #[test]
    fn ids_are_the_same_for_the_same_move_and_differ_between_moves() {
        let v1 = head(1, OrderStatus::Active, "ACME-1", None, &[]);
        let v2 = head(2, OrderStatus::Active, "ACME-1", None, &[]);
        let first = decide_head(None, &v1, &[], &["S1"]);
        assert_eq!(first, decide_head(None, &v1, &[], &["S1"]));
        let second = decide_head(Some(&v1), &v2, &["S1"], &["S1"]);
        assert_ne!(first[0].id, second[0].id);
        assert!(first[0].id.starts_with("ev_") && first[0].id.len() == 35);
    }

    fn member(role: &str) -> Item {
        let mut item = keys::membership(&Email::parse("a@acme.example").unwrap(), &SupportId::parse("ACME-1").unwrap()).to_item();
        for (k, v) in [("email", "a@acme.example"), ("support_id", "ACME-1"), ("role", role), ("since", "2026-01-01T00:00:00Z")] {
            item.insert(k.into(), crate::store::s(v));
        }
        item
    }

    #[test]
    fn memberships_announce_added_removed_and_role_changes_only() {
        let (pk, sk) = ("CONTACT#a@acme.example", "MEMBER#ACME-1");
        let added = plan(&change(ChangeKind::Insert, pk, sk, None, Some(member("user")), "10"), None).unwrap();
        assert_eq!(added.iter().map(|e| e.kind).collect::<Vec<_>>(), vec![EventKind::MembershipAdded]);
        let promoted = plan(&change(ChangeKind::Modify, pk, sk, Some(member("user")), Some(member("admin")), "11"), None).unwrap();
        let EventData::Membership(d) = &promoted[0].data else { panic!() };
        assert_eq!((promoted[0].kind, d.role, d.previous_role), (EventKind::MembershipRoleChanged, Role::Admin, Some(Role::User)));
        assert!(plan(&change(ChangeKind::Modify, pk, sk, Some(member("user")), Some(member("user")), "12"), None).unwrap().is_empty());
        let removed = plan(&change(ChangeKind::Remove, pk, sk, Some(member("admin")), None, "13"), None).unwrap();
        assert_eq!(removed[0].kind, EventKind::MembershipRemoved);
        // The same record again: the same id; the same item changed again later: another.
        let again = plan(&change(ChangeKind::Insert, pk, sk, None, Some(member("user")), "10"), None).unwrap();
        assert_eq!(again[0].id, added[0].id);
        let later = plan(&change(ChangeKind::Insert, pk, sk, None, Some(member("user")), "14"), None).unwrap();
        assert_ne!(later[0].id, added[0].id);
        // The site's roster copy of the membership is not announced twice.
        assert!(plan(&change(ChangeKind::Insert, "SITE#ACME-1", "MEMBER#a@acme.example", None, Some(member("user")), "15"), None)
            .unwrap()
            .is_empty());
    }

    fn request_item(status: &str) -> Item {
        let mut item = keys::request("R1").to_item();
        for (k, v) in [
            ("request_id", "R1"),
            ("support_id", "FARM-1"),
            ("site_name", "Farm Foods"),
            ("requester_email", "ted@data.example"),
            ("kind", "join"),
            ("requested_role", "user"),
            ("status", status),
            ("created_at", "2026-04-01T10:00:00.000000Z"),
        ] {
            item.insert(k.into(), crate::store::s(v));
        }
        if status == "escalated" {
            item.insert("escalation_reason".into(), crate::store::s("no_site_administrator"));
        }
        if status == "approved" {
            item.insert("decided_by".into(), crate::store::s("care@vendor.example"));
            item.insert("decided_at".into(), crate::store::s("2026-04-02T10:00:00Z"));
        }
        item
    }

    #[test]
    fn requests_announce_creation_escalation_and_decision_once_each() {
        let (pk, sk) = ("REQUEST#R1", "REQUEST");
        let kinds_of = |c: Change| plan(&c, None).unwrap().into_iter().map(|e| e.kind).collect::<Vec<_>>();
        assert_eq!(
            kinds_of(change(ChangeKind::Insert, pk, sk, None, Some(request_item("pending_admin")), "1")),
            vec![EventKind::AccessRequestCreated]
        );
        assert_eq!(
            kinds_of(change(ChangeKind::Insert, pk, sk, None, Some(request_item("escalated")), "1")),
            vec![EventKind::AccessRequestCreated, EventKind::AccessRequestEscalated]
        );
        let escalate = change(ChangeKind::Modify, pk, sk, Some(request_item("pending_admin")), Some(request_item("escalated")), "2");
        assert_eq!(kinds_of(escalate), vec![EventKind::AccessRequestEscalated]);
        let decide = change(ChangeKind::Modify, pk, sk, Some(request_item("escalated")), Some(request_item("approved")), "3");
        let decided = plan(&decide, None).unwrap();
        assert_eq!(decided.iter().map(|e| e.kind).collect::<Vec<_>>(), vec![EventKind::AccessRequestDecided]);
        assert_eq!(decided[0].time, "2026-04-02T10:00:00Z");
        let unchanged = change(ChangeKind::Modify, pk, sk, Some(request_item("approved")), Some(request_item("approved")), "4");
        assert!(kinds_of(unchanged).is_empty());
        // A status this function does not know announces nothing (and does not fail the shard).
        let unknown = change(ChangeKind::Modify, pk, sk, Some(request_item("pending_admin")), Some(request_item("withdrawn")), "5");
        assert!(kinds_of(unknown).is_empty());
    }
}
