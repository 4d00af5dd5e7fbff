//! An entitlements page from what its rounds fetched: pure functions, no I/O. The access
//! rules come from `domain::rules::access` — the same function the §2 unit tests check.

use super::super::keys::{self, Key};
use crate::domain::entitlement::{EntitlementFilter, EntitlementStatus, LineItem, Page, VisibleEntitlement};
use crate::domain::rules::{access, Placement, Reach};
use crate::domain::{Day, Email, OrderId, SupportId};
use std::collections::{BTreeMap, BTreeSet, HashMap};

/// An order whose entries at a site are not all current, as a site's `UNSETTLED#{o}` item
/// said at one read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Unsettled {
    /// The current version (`None`: nothing of the order is current at this site).
    pub current: Option<u64>,
    pub active: bool,
}

impl Unsettled {
    fn lists(&self, v: u64) -> bool {
        self.active && self.current == Some(v)
    }
}

pub(crate) type UnsettledOrders = HashMap<OrderId, Unsettled>;

/// Where a line came from on a page: which of the caller's sources listed it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Source {
    /// The site's own index (the caller is a member), or a reseller's index.
    Index,
    /// The caller's ship-to copies.
    ShipTo,
}

/// One listing of a page: its lines in listing order, and whether it stopped early.
#[derive(Debug, Clone)]
pub(crate) struct Listed {
    pub source: Source,
    pub lines: Vec<LineItem>,
    pub more: bool,
}

/// The listings sorted by the unsettled orders of the first read: lines taken as current,
/// the keys of current lines to fetch (a serial seen only through an older version's entry),
/// and the position where the shortest listing stopped.
#[derive(Debug, Default)]
pub(crate) struct Sorted {
    /// serial → (line, listed by the caller's ship-to copies)
    pub current: BTreeMap<String, (LineItem, bool)>,
    pub fetch: Vec<Key>,
    pub frontier: Option<String>,
}

pub(crate) fn sort_listings(email: &Email, site: &SupportId, listings: Vec<Listed>, unsettled: &UnsettledOrders) -> Sorted {
    let mut sorted = Sorted::default();
    let mut behind: BTreeMap<Key, (String, Source)> = BTreeMap::new();
    for listed in listings {
        let mut last = None;
        for line in listed.lines {
            last = Some(keys::position(line.line.serial.as_str(), line.version));
            if &line.site != site {
                continue;
            }
            // An order not unsettled here has only current entries; else its item says
            // which version is current.
            let current_version = match unsettled.get(&line.order_id) {
                None => line.version,
                Some(Unsettled { current: Some(c), active: true }) if line.version <= *c => *c,
                Some(_) => continue,
            };
            let serial = line.line.serial.to_string();
            if line.version == current_version {
                let entry = sorted.current.entry(serial).or_insert_with(|| (line.clone(), false));
                entry.1 |= listed.source == Source::ShipTo;
            } else {
                let key = match listed.source {
                    Source::Index => keys::order_line(&line.order_id, current_version, &line.line.serial),
                    Source::ShipTo => keys::shipped_line(email, site, &line.line.serial, current_version),
                };
                behind.insert(key, (serial, listed.source));
            }
        }
        if listed.more {
            sorted.frontier = min_opt(sorted.frontier.take(), last);
        }
    }
    // Fetch only what a current entry did not already answer (the line, or the copy that
    // makes it a ship-to line).
    behind.retain(|_, (serial, source)| match sorted.current.get(serial) {
        Some((_, shipped)) => *source == Source::ShipTo && !shipped,
        None => true,
    });
    sorted.fetch = behind.into_keys().collect();
    sorted
}

/// Adds the fetched current lines (`shipped`: fetched as the caller's copy). A current
/// version may list its lines at another site (the order moved): those are not this site's.
pub(crate) fn add_fetched(sorted: &mut Sorted, site: &SupportId, fetched: Vec<(LineItem, bool)>) {
    for (line, shipped) in fetched.into_iter().filter(|(line, _)| &line.site == site) {
        let entry = sorted.current.entry(line.line.serial.to_string()).or_insert_with(|| (line.clone(), false));
        entry.1 |= shipped;
    }
}

/// Whether a version of an order was current at the site at some moment of a page's read,
/// from the site's unsettled orders read before the listings (`before`) and after them
/// (`after`). Without the second read a version staged between the first read and the
/// listings would pass for current.
pub(crate) fn current_during_read(v: u64, before: Option<&Unsettled>, after: Option<&Unsettled>) -> bool {
    match (before, after) {
        (_, Some(after)) => after.lists(v) || before.is_some_and(|b| b.lists(v)),
        // Settled meanwhile: what was current then, or a newer version now current.
        (Some(before), None) => before.lists(v) || before.current.is_none_or(|c| v > c),
        (None, None) => true,
    }
}

/// The current version of each order a page's read asked about, from its head read
/// (consistently) in the page's last round: `None` when the order is not active (or has no
/// head).
pub(crate) type CurrentVersions = HashMap<OrderId, Option<u64>>;

/// The orders of a page's lines that no unsettled item of the first read covers: their
/// listed entries are current unless an index lists an entry late — one whose write reached
/// the index after its order was settled and forgotten here (an index applies each write
/// after its own delay) — so their heads are read to check, not assumed.
pub(crate) fn orders_to_verify(sorted: &Sorted, before: &UnsettledOrders) -> BTreeSet<OrderId> {
    sorted.current.values().map(|(line, _)| &line.order_id).filter(|o| !before.contains_key(*o)).cloned().collect()
}

/// Whether a line was its order's current version at the site at some moment of the read:
/// by the site's unsettled items where either read found one (written in the same
/// transactions as the heads), else by the order's head as read in the last round.
pub(crate) fn current_at_read(line: &LineItem, before: &UnsettledOrders, after: &UnsettledOrders, heads: &CurrentVersions) -> bool {
    match (before.get(&line.order_id), after.get(&line.order_id)) {
        (None, None) => heads.get(&line.order_id).is_some_and(|current| *current == Some(line.version)),
        (before, after) => current_during_read(line.version, before, after),
    }
}

/// What a page needs besides its lines.
pub(crate) struct PageRules<'a> {
    pub site: &'a SupportId,
    pub member: bool,
    /// The reseller organisations the caller is a member of.
    pub resellers: &'a BTreeSet<SupportId>,
    pub filter: &'a EntitlementFilter,
    pub today: Day,
    pub limit: usize,
}

/// The page: lines current during the read, each with the rules of §2 that show it to the
/// caller, in serial order, up to the frontier, then the cursor.
pub(crate) fn page(
    sorted: Sorted,
    before: &UnsettledOrders,
    after: &UnsettledOrders,
    heads: &CurrentVersions,
    rules: &PageRules<'_>,
) -> Page<VisibleEntitlement, String> {
    let frontier = sorted.frontier;
    let mut reach = Reach::default();
    reach.member_of.extend(rules.resellers.iter().cloned());
    if rules.member {
        reach.member_of.insert(rules.site.clone());
    }
    let within: Vec<VisibleEntitlement> = sorted
        .current
        .into_values()
        // A line fetched by key sorts at its serial, whichever version's entry led to it.
        .filter(|(line, _)| frontier.as_deref().is_none_or(|f| line.line.serial.as_str() <= keys::parse_position(f).0))
        .filter(|(line, _)| current_at_read(line, before, after, heads))
        .filter_map(|(line, shipped)| {
            let mut reach = reach.clone();
            if shipped {
                reach.ship_to_orders.insert(line.order_id.clone());
            }
            let at = Placement { owner: &line.site, order_id: &line.order_id, reseller: line.reseller.as_ref() };
            let access = access(&reach, at);
            if access.is_empty() {
                return None;
            }
            let status = EntitlementStatus::on(rules.today, line.line.starts_on, line.line.ends_on);
            Some(VisibleEntitlement { line, status, access })
        })
        .filter(|e| rules.filter.keeps(e))
        .collect();
    let more_candidates = within.len() > rules.limit;
    let items: Vec<VisibleEntitlement> = within.into_iter().take(rules.limit).collect();
    let last_serial = items.last().map(|e| e.line.line.serial.as_str());
    let next = if more_candidates {
        last_serial.map(keys::after_serial)
    } else {
        // Resume from the full key the listings stopped on; a serial already returned is
        // skipped whole, so a version switch between pages cannot return it twice.
        frontier.map(|f| match (keys::parse_position(&f).0, last_serial) {
            (stopped, Some(last)) if stopped == last => keys::after_serial(last),
            _ => f,
        })
    };
    Page { items, next }
}

pub(crate) fn min_opt<T: Ord>(a: Option<T>, b: Option<T>) -> Option<T> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{Access, Line, Serial};

    fn sid(s: &str) -> SupportId {
        SupportId::parse(s).unwrap()
    }

    fn line(order: &str, v: u64, site: &str, serial: &str, reseller: Option<&str>) -> LineItem {
        let raw = serde_json::json!({"serial": serial, "sku": "K", "product": "P", "quantity": 1,
            "starts_on": "2026-01-01", "ends_on": "2099-01-01", "license_keys": []});
        LineItem {
            order_id: OrderId::parse(order).unwrap(),
            version: v,
            site: sid(site),
            reseller: reseller.map(sid),
            line: serde_json::from_value::<Line>(raw).unwrap(),
        }
    }

    fn rules<'a>(site: &'a SupportId, member: bool, resellers: &'a BTreeSet<SupportId>, filter: &'a EntitlementFilter) -> PageRules<'a> {
        PageRules { site, member, resellers, filter, today: Day::parse("2026-06-01").unwrap(), limit: 10 }
    }

    fn unsettled(pairs: &[(&str, Option<u64>, bool)]) -> UnsettledOrders {
        pairs.iter().map(|(o, current, active)| (OrderId::parse(o).unwrap(), Unsettled { current: *current, active: *active })).collect()
    }

    #[test]
    fn an_older_entry_leads_to_the_current_line_and_a_moved_orders_line_stays_off_this_site() {
        let (email, site) = (Email::parse("m@a.example").unwrap(), sid("ACME-1"));
        let listed = Listed { source: Source::Index, lines: vec![line("O-1", 1, "ACME-1", "S1", None)], more: false };
        let before = unsettled(&[("O-1", Some(2), true)]);
        let mut sorted = sort_listings(&email, &site, vec![listed], &before);
        assert_eq!(sorted.fetch, vec![keys::order_line(&OrderId::parse("O-1").unwrap(), 2, &Serial::parse("S1").unwrap())]);
        // Version 2 lists its line at FARM-1: not this site's.
        add_fetched(&mut sorted, &site, vec![(line("O-1", 2, "FARM-1", "S1", None), false)]);
        assert!(sorted.current.is_empty());
        add_fetched(&mut sorted, &site, vec![(line("O-1", 2, "ACME-1", "S1", None), false)]);
        let none = BTreeSet::new();
        let filter = EntitlementFilter::default();
        let page = page(sorted, &before, &before, &CurrentVersions::new(), &rules(&site, true, &none, &filter));
        assert_eq!(page.items.len(), 1);
        assert_eq!(page.items[0].access, vec![Access::Member]);
    }

    #[test]
    fn a_version_staged_between_the_first_read_and_the_listings_is_not_shown() {
        let (email, site) = (Email::parse("m@a.example").unwrap(), sid("ACME-1"));
        // The first read found the order settled; the listing shows version 2's new line.
        let listed = Listed { source: Source::Index, lines: vec![line("O-1", 2, "ACME-1", "S9", None)], more: false };
        let before = UnsettledOrders::new();
        let sorted = sort_listings(&email, &site, vec![listed], &before);
        let after = unsettled(&[("O-1", Some(1), true)]);
        let none = BTreeSet::new();
        let filter = EntitlementFilter::default();
        assert!(page(sorted, &before, &after, &CurrentVersions::new(), &rules(&site, true, &none, &filter)).items.is_empty());
    }

    fn current(pairs: &[(&str, Option<u64>)]) -> CurrentVersions {
        pairs.iter().map(|(o, v)| (OrderId::parse(o).unwrap(), *v)).collect()
    }

    #[test]
    fn an_entry_of_a_settled_order_is_shown_only_if_its_head_says_it_is_current() {
        // Simulation seed 3503: a version's index entry arrived after the order had been
        // settled and forgotten at the site; no unsettled item covers it, the head does.
        let (email, site) = (Email::parse("m@a.example").unwrap(), sid("ACME-1"));
        let lines = vec![line("O-1", 1, "ACME-1", "S1", None), line("O-2", 3, "ACME-1", "S2", None), line("O-3", 1, "ACME-1", "S3", None)];
        let none = UnsettledOrders::new();
        let sorted = sort_listings(&email, &site, vec![Listed { source: Source::Index, lines, more: false }], &none);
        let to_verify: Vec<String> = orders_to_verify(&sorted, &none).iter().map(|o| o.to_string()).collect();
        assert_eq!(to_verify, ["O-1", "O-2", "O-3"]);
        let resellers = BTreeSet::new();
        let filter = EntitlementFilter::default();
        // O-1 moved on to version 2, O-3 was cancelled; only O-2's entry is current.
        let heads = current(&[("O-1", Some(2)), ("O-2", Some(3)), ("O-3", None)]);
        let shown = page(sorted, &none, &none, &heads, &rules(&site, true, &resellers, &filter));
        let serials: Vec<&str> = shown.items.iter().map(|e| e.line.line.serial.as_str()).collect();
        assert_eq!(serials, vec!["S2"]);
        // An order the first read found unsettled is judged by its unsettled items, not its head.
        let before = unsettled(&[("O-9", Some(1), true)]);
        let sorted = sort_listings(
            &email,
            &site,
            vec![Listed { source: Source::Index, lines: vec![line("O-9", 1, "ACME-1", "S9", None)], more: false }],
            &before,
        );
        assert!(orders_to_verify(&sorted, &before).is_empty());
        assert_eq!(page(sorted, &before, &before, &CurrentVersions::new(), &rules(&site, true, &resellers, &filter)).items.len(), 1);
    }

    #[test]
    fn current_during_read_covers_every_way_the_two_reads_can_differ() {
        let u = |current: Option<u64>, active: bool| Unsettled { current, active };
        assert!(current_during_read(3, None, None));
        assert!(!current_during_read(3, None, Some(&u(Some(2), true))), "staged after the first read");
        assert!(current_during_read(2, None, Some(&u(Some(2), true))));
        assert!(current_during_read(2, Some(&u(Some(2), true)), Some(&u(Some(3), true))), "current at the first read");
        assert!(current_during_read(3, Some(&u(Some(2), true)), None), "switched and settled meanwhile");
        assert!(!current_during_read(1, Some(&u(Some(2), true)), None), "older than what was current");
        assert!(!current_during_read(2, Some(&u(Some(2), false)), None), "cancelled");
        assert!(!current_during_read(2, Some(&u(None, false)), Some(&u(None, false))), "moved away");
    }

    #[test]
    fn the_rules_of_a_line_are_the_domains_r1_to_r3() {
        let (email, site) = (Email::parse("r@sky.example").unwrap(), sid("ACME-1"));
        let lines = vec![line("O-1", 1, "ACME-1", "S1", Some("SKY-1")), line("O-2", 1, "ACME-1", "S2", Some("OTHER-1"))];
        let sorted = sort_listings(&email, &site, vec![Listed { source: Source::Index, lines, more: false }], &UnsettledOrders::new());
        let resellers = BTreeSet::from([sid("SKY-1")]);
        let filter = EntitlementFilter::default();
        let none = UnsettledOrders::new();
        let heads = current(&[("O-1", Some(1)), ("O-2", Some(1))]);
        let page = page(sorted, &none, &none, &heads, &rules(&site, false, &resellers, &filter));
        let serials: Vec<(&str, Vec<Access>)> = page.items.iter().map(|e| (e.line.line.serial.as_str(), e.access.clone())).collect();
        assert_eq!(serials, vec![("S1", vec![Access::Reseller])], "another reseller's sale is not R3 for this caller");
    }
}
