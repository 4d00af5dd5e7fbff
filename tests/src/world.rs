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
    views_for(versions, |contact, site| members.contains(&(contact, site)))
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

// ---- access that runs itself (issue 21): claims, domain rules, invitations, expiries ------

/// One step of a property-test scenario: an order delivery, or one of the access paths of
/// issue 21 taken by a contact (or Care on their behalf).
#[derive(Debug, Clone)]
pub enum Action {
    /// Deliver version index `.1` of order `.0`.
    Deliver(usize, usize),
    /// `contact` claims by proof of purchase: order `order`, serial [`serial`]`(serial_order, line)`
    /// (a serial of another order when `serial_order != order`: a wrong pair).
    Claim { contact: usize, order: usize, serial_order: usize, line: usize },
    /// Care adds the domain rule for the contact's own domain at `site`; the contact, verified,
    /// then asks to join (only when not a member: the rule decides joins, not role changes).
    RuleJoin { contact: usize, site: usize },
    /// Care invites `contact` to `site` as `admin` or `user` (accepted at the next sign-in).
    Invite { contact: usize, site: usize, admin: bool },
    /// `contact` signs in (`GET /v1/sites`), which accepts their waiting invitations.
    SignIn { contact: usize },
    /// Care gives the membership an end date that has already passed.
    Expire { contact: usize, site: usize },
    /// The expiry sweep removes ended memberships.
    Sweep,
}

pub fn access_action() -> impl Strategy<Value = Action> {
    let (c, s) = (0..CONTACTS.len(), 0..SITES.len());
    prop_oneof![
        3 => (c.clone(), 0..4usize, prop::bool::weighted(0.8), 0..5usize, 0..4usize).prop_map(|(contact, order, same, line, other)| {
            Action::Claim { contact, order, serial_order: if same { order } else { other }, line }
        }),
        2 => (c.clone(), s.clone()).prop_map(|(contact, site)| Action::RuleJoin { contact, site }),
        2 => (c.clone(), s.clone(), prop::bool::weighted(0.3)).prop_map(|(contact, site, admin)| Action::Invite { contact, site, admin }),
        2 => c.clone().prop_map(|contact| Action::SignIn { contact }),
        2 => (c, s).prop_map(|(contact, site)| Action::Expire { contact, site }),
        1 => Just(Action::Sweep),
    ]
}

/// A [`world`] whose deliveries are interleaved with up to `max_access` access actions.
pub fn scenario(max_access: usize) -> impl Strategy<Value = (Vec<Vec<Version>>, Vec<Action>)> {
    world()
        .prop_flat_map(move |(orders, deliveries)| {
            let positions = deliveries.len() + 1;
            (Just(orders), Just(deliveries), prop::collection::vec((0..positions, access_action()), 1..=max_access))
        })
        .prop_map(|(orders, deliveries, mut extra)| {
            extra.sort_by_key(|(at, _)| *at); // stable: equal positions keep their drawn order
            let mut actions = Vec::new();
            let mut extra = extra.into_iter().peekable();
            for (i, &(o, v)) in deliveries.iter().enumerate() {
                while let Some((_, a)) = extra.next_if(|(at, _)| *at <= i) {
                    actions.push(a);
                }
                actions.push(Action::Deliver(o, v));
            }
            actions.extend(extra.map(|(_, a)| a));
            (orders, actions)
        })
}

/// A membership as the reference holds it: its role and whether its (past) end was set.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Held {
    pub admin: bool,
    pub ended: bool,
}

/// Spec §2 plus issue 21's paths, by brute force, one action at a time. Written from the
/// rules, not from the production code:
/// - provisioning (P1/P2) adds a `user` membership where none is held; a held one, ended or
///   not, keeps its role and its end;
/// - a claim matches when the order's current version is active and has the line; a match
///   makes the claimant a `user` of the end-customer site unless they hold a membership
///   there; every distinct wrong pair counts, and 5 lock the claimant out (all in one day);
/// - a domain rule approves a verified join as `user`;
/// - an invitation is refused to a holder of a membership; accepting it makes a `user`
///   or `admin` where none is held, promotes a `user` invited as `admin` (a fresh grant, no
///   end), and otherwise changes nothing;
/// - a membership whose end has passed grants nothing from that instant, and is still held
///   (nothing re-grants over it) until the sweep removes it.
#[derive(Debug, Default, Clone)]
pub struct Reference {
    /// order → current version index.
    pub current: BTreeMap<usize, usize>,
    /// Sites some stored version named (they exist for the access routes).
    pub sites: BTreeSet<usize>,
    /// (contact, site) → membership.
    pub members: BTreeMap<(usize, usize), Held>,
    /// (contact, site) → invited as admin.
    pub invited: BTreeMap<(usize, usize), bool>,
    /// contact → distinct wrong (order, serial) pairs claimed.
    pub wrong_claims: BTreeMap<usize, BTreeSet<(usize, String)>>,
}

/// Distinct wrong pairs that lock a claimant out (`ClaimLimits::default().max_wrong`).
pub const CLAIM_LOCKOUT: usize = 5;

impl Reference {
    /// Applies a delivery; `true` if it was a new current version.
    pub fn deliver(&mut self, orders: &[Vec<Version>], o: usize, v: usize) -> bool {
        if self.current.get(&o).is_some_and(|&cur| cur >= v) {
            return false;
        }
        self.current.insert(o, v);
        let version = &orders[o][v];
        for p in std::iter::once(&version.end).chain(version.reseller.iter()).chain(version.ship_to.iter()) {
            self.sites.insert(p.site);
        }
        for p in std::iter::once(&version.end).chain(version.reseller.iter()) {
            for c in &p.contacts {
                self.members.entry((*c, p.site)).or_insert(Held { admin: false, ended: false });
            }
        }
        true
    }

    /// The end-customer site a claim of `serial` (order `serial_order`, `line`) on order
    /// `order` makes its claimant a member of, if the pair matches.
    pub fn claim_site(&self, orders: &[Vec<Version>], order: usize, serial_order: usize, line: usize) -> Option<usize> {
        let version = &orders.get(order)?[*self.current.get(&order)?];
        (serial_order == order && !version.cancelled && version.lines.contains(&line)).then_some(version.end.site)
    }

    /// A claim: `Some(site)` when it grants a new membership; else nothing changes (wrong
    /// pairs are counted).
    pub fn claim(&mut self, orders: &[Vec<Version>], contact: usize, order: usize, serial_order: usize, line: usize) -> Option<usize> {
        let matched = self.claim_site(orders, order, serial_order, line);
        let wrong = self.wrong_claims.entry(contact).or_default();
        let locked = wrong.len() >= CLAIM_LOCKOUT;
        match matched {
            None => {
                if !locked {
                    wrong.insert((order, serial(serial_order, line)));
                }
                None
            }
            Some(site) if !locked && !self.members.contains_key(&(contact, site)) => {
                self.members.insert((contact, site), Held { admin: false, ended: false });
                Some(site)
            }
            Some(_) => None,
        }
    }

    /// Accepts every invitation of `contact`.
    pub fn sign_in(&mut self, contact: usize) {
        let sites: Vec<(usize, bool)> = self.invited.iter().filter(|((c, _), _)| *c == contact).map(|((_, s), a)| (*s, *a)).collect();
        for (site, admin) in sites {
            self.invited.remove(&(contact, site));
            match self.members.get(&(contact, site)) {
                None => {
                    self.members.insert((contact, site), Held { admin, ended: false });
                }
                Some(held) if !held.admin && admin => {
                    self.members.insert((contact, site), Held { admin: true, ended: false });
                }
                Some(_) => {}
            }
        }
    }

    /// Every contact's view now.
    pub fn views(&self, orders: &[Vec<Version>]) -> BTreeMap<String, PlainView> {
        let versions =
            self.current.iter().map(|(&o, &v)| (o, (&orders[o][v], orders[o][v].lines.iter().map(|l| serial(o, *l)).collect()))).collect();
        let in_force: BTreeSet<(usize, usize)> = self.members.iter().filter(|(_, h)| !h.ended).map(|(k, _)| *k).collect();
        views_for(&versions, |c, s| in_force.contains(&(c, s)))
    }
}

/// Every contact's view of `versions`, given who is a member (in force) where.
pub fn views_for(
    versions: &BTreeMap<usize, (&Version, Vec<String>)>,
    member: impl Fn(usize, usize) -> bool,
) -> BTreeMap<String, PlainView> {
    let mut views = BTreeMap::new();
    for (c, email) in CONTACTS.iter().enumerate() {
        let mut view = PlainView::new();
        for (version, serials) in versions.values() {
            if version.cancelled {
                continue;
            }
            let rules = access(version, c, &member);
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
