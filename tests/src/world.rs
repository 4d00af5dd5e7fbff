//! Small random worlds of orders, their messages, and spec §2 by brute force: one copy for
//! the property test against DynamoDB Local (`tests/visibility_property.rs`) and for the
//! deterministic simulation (`sim`), which draws its worlds from the same strategy with a
//! seeded proptest RNG.

use crate::PlainView;
use proptest::prelude::*;
use std::collections::{BTreeMap, BTreeSet};

pub const SITES: [&str; 4] = ["SITE-A", "SITE-B", "SITE-C", "SITE-D"];
pub const CONTACTS: [&str; 5] = ["a@x.example", "b@x.example", "c@y.example", "d@y.example", "e@z.example"];

#[derive(Debug, Clone)]
pub struct Party {
    pub site: usize,
    pub contacts: Vec<usize>,
}

#[derive(Debug, Clone)]
pub struct Version {
    pub end: Party,
    pub reseller: Option<Party>,
    pub ship_to: Option<Party>,
    pub cancelled: bool,
    /// Line numbers; a serial is [`serial`]`(order, line)` unless the order's `serials` says otherwise.
    pub lines: Vec<usize>,
}

pub fn party() -> impl Strategy<Value = Party> {
    (0..SITES.len(), prop::collection::btree_set(0..CONTACTS.len(), 0..3))
        .prop_map(|(site, c)| Party { site, contacts: c.into_iter().collect() })
}

pub fn version() -> impl Strategy<Value = Version> {
    (party(), prop::option::of(party()), prop::option::of(party()), prop::bool::weighted(0.2), prop::collection::btree_set(0..5usize, 1..4))
        .prop_map(|(end, reseller, ship_to, cancelled, lines)| Version {
            end,
            reseller,
            ship_to,
            cancelled,
            lines: lines.into_iter().collect(),
        })
}

/// Orders (each a list of versions 1..=n) and a delivery sequence of (order, version index).
pub fn world() -> impl Strategy<Value = (Vec<Vec<Version>>, Vec<(usize, usize)>)> {
    prop::collection::vec(prop::collection::vec(version(), 1..4), 1..4).prop_flat_map(|orders| {
        let mut deliveries = Vec::new();
        for (o, versions) in orders.iter().enumerate() {
            for v in 0..versions.len() {
                deliveries.push((o, v));
            }
        }
        let extra = prop::collection::vec(prop::sample::select(deliveries.clone()), 0..4);
        (
            Just(orders),
            (Just(deliveries), extra)
                .prop_map(|(mut d, e)| {
                    d.extend(e);
                    d
                })
                .prop_shuffle(),
        )
    })
}

/// A world drawn from [`world`] by a seed (the simulation's worlds).
pub fn world_from_seed(seed: u64) -> (Vec<Vec<Version>>, Vec<(usize, usize)>) {
    use proptest::strategy::ValueTree;
    use proptest::test_runner::{Config, RngAlgorithm, TestRng, TestRunner};
    let mut bytes = [0u8; 32];
    bytes[..8].copy_from_slice(&seed.to_le_bytes());
    let mut runner = TestRunner::new_with_rng(Config::default(), TestRng::from_seed(RngAlgorithm::ChaCha, &bytes));
    world().new_tree(&mut runner).expect("a world").current()
}

pub fn serial(order: usize, line: usize) -> String {
    format!("O{order}-L{line}")
}

pub fn order_id(order: usize) -> String {
    format!("O{order}")
}

/// The message of version index `v` (version number `v + 1`) of an order, with its serials.
pub fn message_with(order: &str, v: usize, version: &Version, serials: &[String]) -> String {
    let party = |p: &Party| {
        serde_json::json!({"site": {"support_id": SITES[p.site], "name": SITES[p.site]},
                           "contacts": p.contacts.iter().map(|c| serde_json::json!({"email": CONTACTS[*c]})).collect::<Vec<_>>()})
    };
    serde_json::json!({
        "schema": "abev.order.v1", "order_id": order, "version": v + 1,
        "status": if version.cancelled { "cancelled" } else { "active" }, "ordered_at": "2026-04-01T10:00:00Z",
        "end_customer": party(&version.end), "reseller": version.reseller.as_ref().map(party), "ship_to": version.ship_to.as_ref().map(party),
        "lines": serials.iter().map(|s| serde_json::json!({"serial": s, "sku": "K", "product": "P", "quantity": 1,
            "starts_on": "2026-01-01", "ends_on": "2099-01-01", "license_keys": [format!("KEY-{s}")]})).collect::<Vec<_>>()
    })
    .to_string()
}

pub fn message(order: usize, v: usize, version: &Version) -> String {
    let serials: Vec<String> = version.lines.iter().map(|l| serial(order, *l)).collect();
    message_with(&order_id(order), v, version, &serials)
}

/// What §2 says once the orders stand as `current` says (order → version index, per
/// order's serials), after provisioning of the versions in `provisioned`.
pub fn reference(versions: &BTreeMap<usize, (&Version, Vec<String>)>, provisioned: &[&Version]) -> BTreeMap<String, PlainView> {
    let mut members: BTreeSet<(usize, usize)> = BTreeSet::new(); // (contact, site)
    for version in provisioned {
        for c in &version.end.contacts {
            members.insert((*c, version.end.site));
        }
        if let Some(r) = &version.reseller {
            for c in &r.contacts {
                members.insert((*c, r.site));
            }
        }
    }
    let mut views = BTreeMap::new();
    for (c, email) in CONTACTS.iter().enumerate() {
        let mut view = PlainView::new();
        for (version, serials) in versions.values() {
            if version.cancelled {
                continue;
            }
            let rules = access(version, c, |contact, site| members.contains(&(contact, site)));
            if rules.is_empty() {
                continue;
            }
            let site = view.entry(SITES[version.end.site].to_string()).or_default();
            for s in serials {
                site.insert(s.clone(), rules.clone());
            }
        }
        views.insert(email.to_string(), view);
    }
    views
}

/// The rules through which contact `c` reaches an active version, given who is a member where.
pub fn access(version: &Version, c: usize, member: impl Fn(usize, usize) -> bool) -> Vec<String> {
    let mut rules = Vec::new();
    if member(c, version.end.site) {
        rules.push("member".to_string());
    }
    if version.ship_to.as_ref().is_some_and(|s| s.contacts.contains(&c)) {
        rules.push("ship_to".to_string());
    }
    if version.reseller.as_ref().is_some_and(|r| member(c, r.site)) {
        rules.push("reseller".to_string());
    }
    rules
}

/// Spec §2 by brute force for deliveries applied one after another.
pub fn oracle(orders: &[Vec<Version>], deliveries: &[(usize, usize)]) -> BTreeMap<String, PlainView> {
    let mut current: BTreeMap<usize, usize> = BTreeMap::new();
    let mut provisioned = Vec::new();
    for &(o, v) in deliveries {
        if current.get(&o).is_some_and(|&cur| cur >= v) {
            continue; // a duplicate or a stale version: no effect, no provisioning
        }
        current.insert(o, v);
        provisioned.push(&orders[o][v]);
    }
    let versions =
        current.iter().map(|(&o, &v)| (o, (&orders[o][v], orders[o][v].lines.iter().map(|l| serial(o, *l)).collect()))).collect();
    reference(&versions, &provisioned)
}
