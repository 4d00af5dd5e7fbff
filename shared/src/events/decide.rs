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
