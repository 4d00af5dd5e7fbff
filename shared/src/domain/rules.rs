//! Provisioning (P1–P3) and visibility (R1–R3) of spec §2 as pure functions over plain data.
//! The storage layer applies them; the unit tests below check them on the worked example.

use super::ids::{Email, OrderId, Serial, SupportId};
use super::order::Order;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};

/// A rule through which a contact reaches an entitlement. Ordered as the spec lists them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Access {
    Member,
    ShipTo,
    Reseller,
}

/// What storing one version of an order provisions.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Provisioning {
    /// P1 + P2: (contact, site) memberships with role `user`, unless one exists already.
    pub memberships: BTreeSet<(Email, SupportId)>,
    /// P3: contacts with a ship-to grant on this order only.
    pub ship_to_grants: BTreeSet<Email>,
}

/// P1–P3 for one stored version, whatever its status.
pub fn provisioning(order: &Order) -> Provisioning {
    let mut p = Provisioning::default();
    let end = &order.end_customer;
    p.memberships.extend(end.emails().map(|e| (e.clone(), end.site.support_id.clone())));
    if let Some(reseller) = &order.reseller {
        p.memberships.extend(reseller.emails().map(|e| (e.clone(), reseller.site.support_id.clone())));
    }
    if let Some(ship_to) = &order.ship_to {
        p.ship_to_grants.extend(ship_to.emails().cloned());
    }
    p
}

/// Where a contact stands: the sites they are a member of and the orders they hold a
/// (currently valid) ship-to grant on.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Reach {
    pub member_of: BTreeSet<SupportId>,
    pub ship_to_orders: BTreeSet<OrderId>,
}

/// Where an entitlement sits: its owning (end-customer) site, its order and that order's reseller.
#[derive(Debug, Clone, Copy)]
pub struct Placement<'a> {
    pub owner: &'a SupportId,
    pub order_id: &'a OrderId,
    pub reseller: Option<&'a SupportId>,
}

/// R1–R3: the rules through which `reach` sees an entitlement of an active order placed
/// so; empty means invisible.
pub fn access(reach: &Reach, at: Placement<'_>) -> Vec<Access> {
    let mut rules = Vec::new();
    if reach.member_of.contains(at.owner) {
        rules.push(Access::Member);
    }
    if reach.ship_to_orders.contains(at.order_id) {
        rules.push(Access::ShipTo);
    }
    if at.reseller.is_some_and(|r| reach.member_of.contains(r)) {
        rules.push(Access::Reseller);
    }
    rules
}

/// A membership with an end date is in force strictly before it: from that instant its
/// member sees nothing of the site, whether or not the sweep has removed it yet (issue 21).
/// `ends_at` and `now` are fixed-width UTC stamps (`domain::access::Stamp`), which sort as text.
pub fn membership_in_force(ends_at: Option<&str>, now: &str) -> bool {
    ends_at.is_none_or(|end| now < end)
}

/// A contact's whole view: owning site → serial → rules.
pub type View = BTreeMap<SupportId, BTreeMap<Serial, Vec<Access>>>;

/// The view of `reach` over a set of current order versions (cancelled ones show nothing).
pub fn view_of(reach: &Reach, current_orders: &[Order]) -> View {
    let mut view = View::new();
    for order in current_orders.iter().filter(|o| o.is_active()) {
        let at = Placement {
            owner: &order.end_customer.site.support_id,
            order_id: &order.order_id,
            reseller: order.reseller.as_ref().map(|r| &r.site.support_id),
        };
        let rules = access(reach, at);
        if rules.is_empty() {
            continue;
        }
        let site = view.entry(at.owner.clone()).or_default();
        for line in &order.lines {
            site.insert(line.serial.clone(), rules.clone());
        }
    }
    view
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_membership_ends_at_its_end_date_not_after() {
        let end = "2026-12-04T10:00:00.000000Z";
        assert!(membership_in_force(None, end));
        assert!(membership_in_force(Some(end), "2026-12-04T09:59:59.999999Z"));
        assert!(!membership_in_force(Some(end), end));
        assert!(!membership_in_force(Some(end), "2027-01-01T00:00:00.000000Z"));
    }
    use crate::domain::order::Order;

    const ORDERS: [&str; 5] = [
        include_str!("../../../tests/fixtures/worked-example/O-1.json"),
        include_str!("../../../tests/fixtures/worked-example/O-2.json"),
        include_str!("../../../tests/fixtures/worked-example/O-3.json"),
        include_str!("../../../tests/fixtures/worked-example/O-4.json"),
        include_str!("../../../tests/fixtures/worked-example/O-5.json"),
    ];
    const EXPECTED: &str = include_str!("../../../tests/fixtures/worked-example/expected-views.json");

    /// Builds every contact's reach from the orders' provisioning alone.
    fn reaches(orders: &[Order]) -> BTreeMap<Email, Reach> {
        let mut out: BTreeMap<Email, Reach> = BTreeMap::new();
        for order in orders {
            let p = provisioning(order);
            for (email, site) in p.memberships {
                out.entry(email).or_default().member_of.insert(site);
            }
            for email in p.ship_to_grants {
                out.entry(email).or_default().ship_to_orders.insert(order.order_id.clone());
            }
        }
        out
    }

    #[test]
    fn worked_example_views_hold_exactly() {
        let orders: Vec<Order> = ORDERS.iter().map(|b| Order::parse(b.as_bytes()).unwrap()).collect();
        let reaches = reaches(&orders);
        let expected: BTreeMap<Email, View> = serde_json::from_str(EXPECTED).unwrap();
        for (email, want) in &expected {
            let reach = reaches.get(email).cloned().unwrap_or_default();
            assert_eq!(&view_of(&reach, &orders), want, "view of {email}");
        }
    }

    #[test]
    fn cancelled_order_is_visible_to_nobody_but_still_provisions() {
        let mut order = Order::parse(ORDERS[0].as_bytes()).unwrap();
        order.status = crate::domain::order::OrderStatus::Cancelled;
        let reaches = reaches(std::slice::from_ref(&order));
        assert_eq!(reaches.len(), 3, "bill, ted and mary are provisioned");
        for reach in reaches.values() {
            assert!(view_of(reach, std::slice::from_ref(&order)).is_empty());
        }
    }

    #[test]
    fn ship_to_contact_sees_only_that_order() {
        let orders: Vec<Order> = ORDERS.iter().map(|b| Order::parse(b.as_bytes()).unwrap()).collect();
        let ted = reaches(&orders).remove(&Email::parse("ted@data.example").unwrap()).unwrap();
        assert!(ted.member_of.is_empty());
        let view = view_of(&ted, &orders);
        assert_eq!(view.len(), 1);
        assert_eq!(view[&SupportId::parse("ACME-1").unwrap()].len(), 3);
    }
}
