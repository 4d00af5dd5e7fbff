//! The decisions of applying an order, as pure functions over typed items: no I/O here.
//! The commit loop (`mod.rs`) and the step modules read what these need, call them, and
//! write what they return.

use super::entities::{UnsettledItem, VersionRecord};
use super::ShipToReachChange;
use crate::domain::entitlement::OrderHead;
use crate::domain::{same_content, Email, Order, SupportId};
use std::collections::{BTreeMap, BTreeSet};

/// What the head says about a delivered version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Decision {
    Stale { current: u64 },
    Duplicate,
    Conflicting,
    Proceed,
}

pub(crate) fn decide(head: Option<&OrderHead>, order: &Order, digest: &str) -> Decision {
    match head {
        Some(h) if h.current_version > order.version => Decision::Stale { current: h.current_version },
        Some(h) if h.current_version == order.version => {
            if same_content(&h.digest, digest) {
                Decision::Duplicate
            } else {
                Decision::Conflicting
            }
        }
        _ => Decision::Proceed,
    }
}

/// Lines per staging transaction: each line writes its claim, its line item and one copy per
/// ship-to contact, and the transaction also checks the head and the version record (100
/// items at most).
pub(crate) fn lines_per_chunk(ship_to_contacts: usize) -> usize {
    (98 / (2 + ship_to_contacts)).max(1)
}

/// Lines in the first staging transaction, which also writes the ship-to grants, the site's
/// unsettled item, the version record and the head check (100 items at most).
pub(crate) fn lines_in_first_chunk(ship_to_contacts: usize) -> usize {
    97usize.saturating_sub(ship_to_contacts) / (2 + ship_to_contacts)
}

/// Whether a membership of `site` given by an order needs a reseller marker beside it: at the
/// order's reseller, and at its end customer when that site resells itself (R3).
pub(crate) fn needs_reseller_marker(site: &SupportId, end: &SupportId, reseller: Option<&SupportId>, end_resells: bool) -> bool {
    Some(site) == reseller || (site == end && end_resells)
}

/// The provisioning chunks a switch may mark done itself: all of them when every membership
/// the version gives (P1/P2) and every reseller marker those need are held already, as read
/// consistently while staging went on; else none (provisioning runs after the switch). Not at
/// a reseller's first sale (its fan-out runs in provisioning). A membership removed between
/// the read and the switch stays removed, as if it had been removed just after provisioning.
pub(crate) fn provisioned_by_switch(
    order: &Order,
    held: &BTreeMap<crate::store::keys::Key, crate::store::keys::Item>,
    end_resells: bool,
    first_sale: bool,
    per_chunk: usize,
) -> Vec<u64> {
    use crate::store::keys;
    let memberships: Vec<(Email, SupportId)> = crate::domain::provisioning(order).memberships.into_iter().collect();
    let end = &order.end_customer.site.support_id;
    let reseller = order.reseller.as_ref().map(|r| &r.site.support_id);
    let all_held = memberships.iter().all(|(email, site)| {
        held.contains_key(&keys::membership(email, site))
            && (!needs_reseller_marker(site, end, reseller, end_resells) || held.contains_key(&keys::reseller_marker(email, site)))
    });
    if first_sale || !all_held {
        return Vec::new();
    }
    (0..memberships.len().div_ceil(per_chunk) as u64).collect()
}

/// Who holds a serial this order wants, as far as the order can tell.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Holder {
    /// A stored order whose current version holds the claim: the serial is really taken.
    Stored,
    /// An order that is not stored (or whose current version does not hold the claim): it
    /// may still give the serial back, so the refusal is not final.
    Unsettled,
}

/// A claim held by another order is final only when that order's current version holds it.
pub(crate) fn holder_of(claim_versions: &[u64], holder_head: Option<&OrderHead>) -> Holder {
    match holder_head {
        Some(h) if claim_versions.contains(&h.current_version) => Holder::Stored,
        _ => Holder::Unsettled,
    }
}

/// One write of a site record in the switch: only what changes, so a reseller whose name
/// is unchanged is not written by each of its orders (no item every order passes through).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct SiteUpdate {
    pub site: SupportId,
    pub delta: i64,
    pub name: Option<String>,
    /// Changes of the site's current lines per seller (see [`plan_seller_deltas`]).
    pub sellers: BTreeMap<Seller, i64>,
}

/// Who sold an order's lines: its reseller organisation, `None` for a direct sale.
pub(crate) type Seller = Option<SupportId>;

/// Plans the site-record writes of a switch from its per-seller deltas ([`plan_seller_deltas`]:
/// a site's exact count moves by their sum) and the names read.
pub(crate) fn plan_site_updates(
    sellers: &BTreeMap<SupportId, BTreeMap<Seller, i64>>,
    names: &BTreeMap<SupportId, String>,
    stored: &BTreeMap<SupportId, String>,
) -> Vec<SiteUpdate> {
    let mut sites: BTreeSet<&SupportId> = sellers.keys().collect();
    sites.extend(names.keys());
    sites
        .into_iter()
        .filter_map(|site| {
            let delta = sellers.get(site).map_or(0, |per_seller| per_seller.values().sum());
            let name = names.get(site).filter(|n| stored.get(site) != Some(*n)).cloned();
            let sellers = sellers.get(site).cloned().unwrap_or_default();
            (delta != 0 || name.is_some() || !sellers.is_empty()).then(|| SiteUpdate { site: site.clone(), delta, name, sellers })
        })
        .collect()
}

/// A switch's changes to each site's count of current lines per seller, kept in the site
/// record beside the exact total (`lines_by:{r}`, `lines_direct`): the replaced version's
/// lines out, the new one's in. The radar reads them to know, from one item, whether a
/// reseller's listing already shows every current line of a site its contact is a member of.
/// At most two sellers change per site (the old head's and the new one's).
pub(crate) fn plan_seller_deltas(old: Option<&OrderHead>, new: &OrderHead) -> BTreeMap<SupportId, BTreeMap<Seller, i64>> {
    let mut deltas: BTreeMap<SupportId, BTreeMap<Seller, i64>> = BTreeMap::new();
    for (head, sign) in old.map(|h| (h, -1i64)).into_iter().chain(std::iter::once((new, 1i64))) {
        *deltas.entry(head.end_customer.clone()).or_default().entry(head.reseller.clone()).or_default() +=
            sign * head.entitlement_count as i64;
    }
    for per_seller in deltas.values_mut() {
        per_seller.retain(|_, d| *d != 0);
    }
    deltas.retain(|_, per_seller| !per_seller.is_empty());
    deltas
}

/// A site's current lines as its record counts them, read consistently before a switch: the
/// exact total, the split per seller (complete only once every current order of the site was
/// switched since the record kept it) and the revision every switch that moves them bumps.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct SiteCounts {
    pub total: i64,
    pub sellers: BTreeMap<Seller, i64>,
    pub revision: u64,
}

impl SiteCounts {
    /// The reseller that sold every current line of the site, when one did and the split is
    /// known to be complete (an order switched before the record kept the split leaves its
    /// sum short of the total for good, and then no seller is sole).
    pub fn sole_reseller(&self) -> Option<&SupportId> {
        let complete = self.sellers.values().sum::<i64>() == self.total && self.sellers.values().all(|c| *c >= 0);
        if self.total <= 0 || !complete {
            return None;
        }
        self.sellers.iter().find(|(_, c)| **c == self.total).and_then(|(seller, _)| seller.as_ref())
    }

    fn after(&self, deltas: &BTreeMap<Seller, i64>) -> SiteCounts {
        let mut next = self.clone();
        for (seller, delta) in deltas {
            *next.sellers.entry(seller.clone()).or_default() += delta;
            next.total += delta;
        }
        next
    }
}

/// The `sole` marks a switch moves on the reseller counters (`SOLD#{r}`/`TO#{s}`) of one site:
/// a counter is marked while its reseller sold every current line of the site, so a sites page
/// can take a member site's exact count from the counter it already queries instead of reading
/// the site record. At most two marks move per site (the reseller that stops being sole and
/// the one that becomes it), whatever the number of sellers.
pub(crate) fn plan_sole_marks(before: &SiteCounts, deltas: &BTreeMap<Seller, i64>) -> BTreeMap<SupportId, bool> {
    let after = before.after(deltas);
    let (was, is) = (before.sole_reseller(), after.sole_reseller());
    let mut marks = BTreeMap::new();
    if was != is {
        if let Some(r) = was {
            marks.insert(r.clone(), false);
        }
        if let Some(r) = is {
            marks.insert(r.clone(), true);
        }
    }
    marks
}

/// The switch's changes to ship-to reaches: the replaced version's contribution out, the new
/// one's in, one change per (contact, site); changes that cancel out are left out.
pub(crate) fn plan_ship_to_reach(
    old: Option<&OrderHead>,
    new: &OrderHead,
    new_site_name: &str,
) -> BTreeMap<(Email, SupportId), ShipToReachChange> {
    let mut changes: BTreeMap<(Email, SupportId), ShipToReachChange> = BTreeMap::new();
    for (head, sign) in old.map(|h| (h, -1i64)).into_iter().chain(std::iter::once((new, 1i64))) {
        let count = sign * head.entitlement_count as i64;
        for email in &head.ship_to_contacts {
            let change = changes.entry((email.clone(), head.end_customer.clone())).or_default();
            change.total += count;
            if let Some(r) = &head.reseller {
                *change.via.entry(r.clone()).or_default() += count;
            }
            if sign > 0 {
                change.name = Some(new_site_name.to_string());
            }
        }
    }
    changes.retain(|_, c| !c.is_empty());
    changes
}

/// The order's parties' sites with the names it gives them.
pub(crate) fn party_names(order: &Order) -> BTreeMap<SupportId, String> {
    std::iter::once(&order.end_customer)
        .chain(order.reseller.iter())
        .chain(order.ship_to.iter())
        .map(|party| (party.site.support_id.clone(), party.site.name.clone()))
        .collect()
}

/// The versions whose entries a cleanup removes, given the current version `current`
/// (`None`: no version was ever switched in): every older version, and every newer one that
/// was abandoned. A newer version still being staged is left alone.
pub(crate) fn versions_to_clean(records: &[VersionRecord], current: Option<u64>) -> Vec<&VersionRecord> {
    records
        .iter()
        .filter(|r| match current {
            Some(c) => r.version < c || (r.version > c && r.abandoned),
            None => r.abandoned,
        })
        .filter(|r| !r.gone)
        .collect()
}

/// Whether a site's `UNSETTLED#{o}` item may go: listings can then trust the order's entries
/// there as they are. That needs every version other than the current one that ever had
/// entries at the site to be gone (deleted, and checked absent from the indexes), and no
/// version newer than the current one being staged. No clock takes part.
pub(crate) fn may_forget(item: &UnsettledItem, site: &SupportId, current: Option<u64>, records: &[VersionRecord]) -> bool {
    // A staged version older than the current one, or given up, can no longer write.
    let abandoned = |v: &u64| records.iter().any(|r| r.version == *v && r.abandoned);
    let staging_newer = item.staged.iter().any(|v| current.is_none_or(|c| *v > c) && !abandoned(v));
    let lingering = records.iter().filter(|r| r.site.as_ref() == Some(site)).any(|r| Some(r.version) != current && !r.gone);
    // Versions that ever named this site and are not recorded (an old record format) are
    // not known to be gone.
    let unrecorded = item.staged.iter().any(|v| !records.iter().any(|r| r.version == *v));
    !staging_newer && !lingering && !unrecorded
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::OrderId;

    fn sid(s: &str) -> SupportId {
        SupportId::parse(s).unwrap()
    }

    fn counts(total: i64, sellers: &[(Option<&str>, i64)], revision: u64) -> SiteCounts {
        SiteCounts { total, sellers: sellers.iter().map(|(s, c)| (s.map(sid), *c)).collect(), revision }
    }

    fn deltas(of: &[(Option<&str>, i64)]) -> BTreeMap<Seller, i64> {
        of.iter().map(|(s, d)| (s.map(sid), *d)).collect()
    }

    #[test]
    fn a_reseller_is_sole_only_while_it_sold_every_current_line_of_a_complete_split() {
        assert_eq!(counts(5, &[(Some("SKY-1"), 5)], 1).sole_reseller(), Some(&sid("SKY-1")));
        assert_eq!(counts(6, &[(Some("SKY-1"), 5), (None, 1)], 1).sole_reseller(), None, "a direct line");
        assert_eq!(counts(6, &[(Some("SKY-1"), 5), (Some("DATA-1"), 1)], 1).sole_reseller(), None);
        assert_eq!(
            counts(5, &[(Some("SKY-1"), 5), (Some("DATA-1"), 0)], 1).sole_reseller(),
            Some(&sid("SKY-1")),
            "a seller with none left"
        );
        assert_eq!(counts(4, &[(None, 4)], 1).sole_reseller(), None, "direct sales have no counter");
        assert_eq!(counts(0, &[(Some("SKY-1"), 0)], 1).sole_reseller(), None, "nothing current");
        // An order switched before the split was kept: the sum stays short of the total.
        assert_eq!(counts(8, &[(Some("SKY-1"), 5)], 1).sole_reseller(), None);
        assert_eq!(counts(5, &[(Some("SKY-1"), 7), (Some("DATA-1"), -2)], 1).sole_reseller(), None, "a negative share");
    }

    #[test]
    fn sole_marks_move_only_when_the_sole_reseller_changes() {
        let empty = SiteCounts::default();
        assert_eq!(plan_sole_marks(&empty, &deltas(&[(Some("SKY-1"), 3)])), BTreeMap::from([(sid("SKY-1"), true)]), "a first sale");
        let sky = counts(3, &[(Some("SKY-1"), 3)], 1);
        assert!(plan_sole_marks(&sky, &deltas(&[(Some("SKY-1"), 2)])).is_empty(), "more of the same seller");
        assert_eq!(plan_sole_marks(&sky, &deltas(&[(None, 1)])), BTreeMap::from([(sid("SKY-1"), false)]), "a direct sale joins");
        assert_eq!(
            plan_sole_marks(&sky, &deltas(&[(Some("SKY-1"), -3), (Some("DATA-1"), 3)])),
            BTreeMap::from([(sid("SKY-1"), false), (sid("DATA-1"), true)]),
            "an order moved to another reseller"
        );
        let shared = counts(4, &[(Some("SKY-1"), 3), (None, 1)], 2);
        assert_eq!(plan_sole_marks(&shared, &deltas(&[(None, -1)])), BTreeMap::from([(sid("SKY-1"), true)]), "the other lines leave");
        // Nothing current: the mark goes too, or a later direct sale would be hidden behind it.
        assert_eq!(plan_sole_marks(&sky, &deltas(&[(Some("SKY-1"), -3)])), BTreeMap::from([(sid("SKY-1"), false)]));
        let legacy = counts(9, &[(Some("SKY-1"), 3)], 0);
        assert!(plan_sole_marks(&legacy, &deltas(&[(Some("SKY-1"), 1)])).is_empty(), "an incomplete split marks nothing");
    }

    fn head(site: &str, reseller: Option<&str>, contacts: &[&str], count: u64) -> OrderHead {
        OrderHead {
            order_id: OrderId::parse("O-1").unwrap(),
            current_version: 1,
            digest: String::new(),
            status: crate::domain::OrderStatus::Active,
            ordered_at: String::new(),
            end_customer: sid(site),
            reseller: reseller.map(sid),
            ship_to: None,
            ship_to_contacts: contacts.iter().map(|e| Email::parse(e).unwrap()).collect(),
            entitlement_count: count,
            updated_at: String::new(),
        }
    }

    fn record(version: u64, site: &str, gone: bool, abandoned: bool) -> VersionRecord {
        VersionRecord { version, site: Some(sid(site)), gone, abandoned, ..VersionRecord::default() }
    }

    #[test]
    fn a_switch_moves_each_ship_to_contacts_reach_from_the_old_version_to_the_new() {
        let (ted, tina) = (Email::parse("ted@d.example").unwrap(), Email::parse("tina@d.example").unwrap());
        let first = plan_ship_to_reach(None, &head("ACME-1", Some("SKY-1"), &["ted@d.example"], 3), "Acme");
        let change = &first[&(ted.clone(), sid("ACME-1"))];
        assert_eq!((change.total, change.via[&sid("SKY-1")], change.name.as_deref()), (3, 3, Some("Acme")));
        let old = head("ACME-1", Some("SKY-1"), &["ted@d.example"], 3);
        let second = plan_ship_to_reach(Some(&old), &head("ACME-1", None, &["ted@d.example", "tina@d.example"], 5), "Acme");
        let change = &second[&(ted.clone(), sid("ACME-1"))];
        assert_eq!((change.total, change.via[&sid("SKY-1")]), (2, -3));
        assert_eq!(second[&(tina, sid("ACME-1"))].total, 5);
        let moved = plan_ship_to_reach(Some(&old), &head("FARM-1", Some("SKY-1"), &["ted@d.example"], 3), "Farm");
        assert_eq!(moved[&(ted.clone(), sid("ACME-1"))].total, -3);
        assert_eq!(moved[&(ted.clone(), sid("FARM-1"))].total, 3);
        assert!(plan_ship_to_reach(Some(&old), &old, "Acme").is_empty());
    }

    #[test]
    fn a_reseller_whose_name_is_unchanged_is_not_written() {
        // SKY-1 resold three lines at ACME-1: ACME-1's count moves, SKY-1's record does not.
        let sellers = plan_seller_deltas(None, &head("ACME-1", Some("SKY-1"), &[], 3));
        let names = BTreeMap::from([(sid("ACME-1"), "Acme".to_string()), (sid("SKY-1"), "Skynet".to_string())]);
        let stored = names.clone();
        let none = BTreeMap::new();
        assert_eq!(
            plan_site_updates(&sellers, &names, &stored),
            vec![SiteUpdate { site: sid("ACME-1"), delta: 3, name: None, sellers: BTreeMap::from([(Some(sid("SKY-1")), 3)]) }]
        );
        let renamed = BTreeMap::from([(sid("SKY-1"), "Skynet Ltd".to_string())]);
        let names2 = BTreeMap::from([(sid("SKY-1"), "Skynet Ltd".to_string())]);
        assert!(plan_site_updates(&none, &names2, &renamed).is_empty());
        assert_eq!(
            plan_site_updates(&none, &names2, &stored),
            vec![SiteUpdate { site: sid("SKY-1"), delta: 0, name: Some("Skynet Ltd".into()), sellers: BTreeMap::new() }]
        );
    }

    #[test]
    fn a_switch_moves_a_sites_lines_from_the_old_seller_to_the_new_one() {
        let first = plan_seller_deltas(None, &head("ACME-1", Some("SKY-1"), &[], 3));
        assert_eq!(first, BTreeMap::from([(sid("ACME-1"), BTreeMap::from([(Some(sid("SKY-1")), 3)]))]));
        // Resold → direct, one line more: SKY-1's three out, four direct in.
        let direct = plan_seller_deltas(Some(&head("ACME-1", Some("SKY-1"), &[], 3)), &head("ACME-1", None, &[], 4));
        assert_eq!(direct[&sid("ACME-1")], BTreeMap::from([(Some(sid("SKY-1")), -3), (None, 4)]));
        // Moved to another site by the same reseller: out at one site, in at the other.
        let moved = plan_seller_deltas(Some(&head("ACME-1", Some("SKY-1"), &[], 3)), &head("FARM-1", Some("SKY-1"), &[], 3));
        assert_eq!((moved[&sid("ACME-1")][&Some(sid("SKY-1"))], moved[&sid("FARM-1")][&Some(sid("SKY-1"))]), (-3, 3));
        // A redelivered content change with the same seller and count changes nothing.
        let same = head("ACME-1", Some("SKY-1"), &[], 3);
        assert!(plan_seller_deltas(Some(&same), &same).is_empty());
        // The site-record write carries the seller change even when the total is unchanged.
        let updates = plan_site_updates(&direct, &BTreeMap::new(), &BTreeMap::new());
        assert_eq!(updates.len(), 1);
        assert_eq!((updates[0].delta, updates[0].sellers.len()), (1, 2), "the total moves by the sellers' sum");
        // A reseller change at an unchanged total still writes the site record (its sellers).
        let swapped = plan_seller_deltas(Some(&head("ACME-1", Some("SKY-1"), &[], 3)), &head("ACME-1", Some("DATA-1"), &[], 3));
        let updates = plan_site_updates(&swapped, &BTreeMap::new(), &BTreeMap::new());
        assert_eq!((updates.len(), updates[0].delta, updates[0].sellers.len()), (1, 0, 2));
    }

    #[test]
    fn a_staging_transaction_never_exceeds_a_hundred_items() {
        for contacts in 0..=40 {
            let lines = lines_per_chunk(contacts);
            assert!(lines >= 1 && 2 + lines * (2 + contacts) <= 100, "{contacts} contacts: {lines} lines");
        }
        assert_eq!(lines_per_chunk(0), 49);
        for contacts in 0..=40 {
            let lines = lines_in_first_chunk(contacts);
            assert!(lines >= 1 && contacts + 3 + lines * (2 + contacts) <= 100, "{contacts} contacts: {lines} lines");
        }
        assert_eq!(lines_in_first_chunk(0), 48);
    }

    #[test]
    fn a_claim_is_final_only_when_the_holders_current_version_holds_it() {
        let mut stored = head("ACME-1", None, &[], 1);
        stored.current_version = 2;
        assert_eq!(holder_of(&[2], Some(&stored)), Holder::Stored);
        assert_eq!(holder_of(&[3], Some(&stored)), Holder::Unsettled, "a newer version still staging may give it back");
        assert_eq!(holder_of(&[1], None), Holder::Unsettled, "an order never stored");
        assert_eq!(holder_of(&[], Some(&stored)), Holder::Unsettled, "released by every version");
    }

    #[test]
    fn cleanup_takes_older_and_abandoned_versions_and_leaves_newer_staging_alone() {
        let records =
            vec![record(1, "A", true, false), record(2, "A", false, false), record(3, "A", false, false), record(4, "A", false, true)];
        let versions: Vec<u64> = versions_to_clean(&records, Some(3)).iter().map(|r| r.version).collect();
        assert_eq!(versions, vec![2, 4], "1 is gone already, 3 is current");
        let none: Vec<u64> = versions_to_clean(&records, None).iter().map(|r| r.version).collect();
        assert_eq!(none, vec![4], "with nothing current only abandoned versions go");
    }

    #[test]
    fn an_unsettled_item_is_forgotten_only_when_every_other_version_at_the_site_is_gone() {
        let site = sid("A");
        let item = |staged: &[u64]| UnsettledItem { staged: staged.to_vec(), ..UnsettledItem::default() };
        let records = vec![record(1, "A", false, false), record(2, "A", false, false)];
        assert!(!may_forget(&item(&[]), &site, Some(2), &records), "version 1's entries may still be listed");
        let records = vec![record(1, "A", true, false), record(2, "A", false, false)];
        assert!(may_forget(&item(&[]), &site, Some(2), &records));
        assert!(may_forget(&item(&[1]), &site, Some(2), &records), "an older staged version can no longer write");
        let with_3 = vec![record(1, "A", true, false), record(2, "A", false, false), record(3, "A", false, false)];
        assert!(!may_forget(&item(&[3]), &site, Some(2), &with_3), "version 3 is being staged");
        let given_up = vec![record(1, "A", true, false), record(2, "A", false, false), record(3, "A", true, true)];
        assert!(may_forget(&item(&[3]), &site, Some(2), &given_up), "version 3 was given up and is gone");
        assert!(may_forget(&item(&[1]), &site, None, &[record(1, "A", true, true)]), "a refused first version, gone");
        // A site the order moved away from: nothing current there.
        let moved = vec![record(1, "A", false, false), record(2, "B", false, false)];
        assert!(!may_forget(&item(&[]), &site, Some(2), &moved));
        let moved = vec![record(1, "A", true, false), record(2, "B", false, false)];
        assert!(may_forget(&item(&[]), &site, Some(2), &moved));
        // Another site's versions do not matter here.
        assert!(may_forget(&item(&[]), &sid("B"), Some(2), &[record(1, "A", false, false), record(2, "B", false, false)]));
    }
}
