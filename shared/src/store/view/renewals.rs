//! The renewal radar (issue 20): every entitlement the caller can see that ends within a
//! window, soonest first (ties by serial), from the end-date indexes (`gsi3`, `gsi4`; see
//! `keys.rs`), at a cost that grows with neither entitlements, customer sites nor orders.
//!
//! A page, in sequential rounds:
//! 1. the caller's memberships, reseller markers and whether they hold any ship-to reach
//!    (consistent, the caller's own partition — as every view page);
//! 2. one query per (source, end month of the window still ahead): each member site's lines
//!    (`ENDS#SITE#{s}#{m}`), each reseller organisation's sales (`ENDS#SOLD#{r}#{m}`), the
//!    caller's ship-to copies (`ENDS#SHIPPED#{e}#{m}`);
//! 3. the order heads of the page's entries and their sites' records, by key, in one
//!    consistent BatchGet: the indexes are eventually consistent, so an entry is shown only
//!    if the head says its version is the order's current one and the order is active;
//! 4. only when an entry is of an older version whose current entry no listing returned
//!    (between a switch and the index catching up): the current line (or the caller's copy),
//!    by key.
//!
//! Then the rules of §2 per line through `domain::rules::access`, as the entitlements page.

use super::super::keys::{self, Item, Key};
use super::super::orders::LineItem;
use super::super::table::{Query, Range};
use super::super::{from_item, get_s, Store, StoreError};
use super::{shown, Listing, SiteRecord};
use crate::domain::access::Rollout;
use crate::domain::entitlement::{EntitlementStatus, OrderHead, Page, SiteRef, VisibleEntitlement};
use crate::domain::rules::{access, Placement, Reach};
use crate::domain::{Day, Email, OrderId, SupportId};
use std::collections::{BTreeMap, BTreeSet, HashMap};

/// The longest window a radar takes, in days.
pub const MAX_WINDOW_DAYS: u32 = 365;
/// The window when none is asked for.
pub const DEFAULT_WINDOW_DAYS: u32 = 90;

/// The days a radar walk covers: entitlements whose `ends_on` is in `from..=until`. Fixed by
/// the walk's first page (its cursor carries it), so a walk that crosses midnight keeps one window.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct RenewalWindow {
    pub from: Day,
    pub until: Day,
}

impl RenewalWindow {
    /// `days` days from `today` (today included).
    pub fn days_from(today: Day, days: u32) -> RenewalWindow {
        RenewalWindow { from: today, until: Day(today.0.saturating_add(time::Duration::days(i64::from(days)))) }
    }

    /// The end months (`YYYY-MM`) from `start`'s to `until`'s.
    fn months_from(&self, start: Day) -> Vec<String> {
        let mut months = Vec::new();
        let mut day = start.0.replace_day(1).unwrap_or(start.0);
        while day <= self.until.0 {
            months.push(keys::end_month(Day(day)));
            let Some(next) = day.checked_add(time::Duration::days(32)).and_then(|d| d.replace_day(1).ok()) else { break };
            day = next;
        }
        months
    }
}

/// One entry of a radar page: what the entitlements page shows of a line, and its site's name.
#[derive(Debug, Clone, PartialEq)]
pub struct Renewal {
    pub entitlement: VisibleEntitlement,
    pub site: SiteRef,
}

/// Where an index entry came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Via {
    /// A member site's or a reseller's lines.
    Index,
    /// The caller's ship-to copies.
    ShipTo,
}

/// One end-date listing: its entries, and whether it stopped early.
#[derive(Debug, Clone)]
pub(crate) struct Listed {
    pub via: Via,
    pub lines: Vec<LineItem>,
    pub more: bool,
}

/// A line's radar position (its index sort key).
fn position_of(line: &LineItem) -> String {
    keys::renewal_sk(line.line.ends_on, &line.line.serial, line.version)
}

/// The lowest sort key strictly after a radar position: the next version's key after one
/// entry (serials hold no `#`, so nothing sorts between), the position itself after `…#~`.
fn start_after(position: &str) -> Option<String> {
    let (day, at) = keys::parse_renewal_position(position)?;
    Some(match keys::parse_position(at) {
        (serial, Some(v)) => keys::renewal_position(day, &keys::position(serial, v.saturating_add(1))),
        (serial, None) => keys::renewal_position(day, &keys::after_serial(serial)),
    })
}

/// The entries a page considers, from what round 2 listed: sorted by position, up to the
/// smallest frontier of the listings that stopped early, and no more than `limit` serials.
#[derive(Debug, Default)]
pub(crate) struct Candidates {
    /// (position, serial, version) → (line, listed by the caller's ship-to copies)
    pub entries: BTreeMap<String, (LineItem, bool)>,
    /// Every (serial, version) any listing returned, wherever it sorts.
    pub listed: BTreeSet<(String, u64)>,
    /// Where this page stops: the position of its last entry when `limit` serials cut it,
    /// else the smallest frontier of the listings that have more (`None`: the window's end).
    pub stop: Option<String>,
}

pub(crate) fn candidates(listings: Vec<Listed>, limit: usize) -> Candidates {
    let mut out = Candidates::default();
    let mut frontier: Option<String> = None;
    let mut all: BTreeMap<String, (LineItem, bool)> = BTreeMap::new();
    for listed in listings {
        let mut last = None;
        for line in listed.lines {
            let position = position_of(&line);
            out.listed.insert((line.line.serial.to_string(), line.version));
            last = Some(position.clone());
            let entry = all.entry(position).or_insert_with(|| (line, false));
            entry.1 |= listed.via == Via::ShipTo;
        }
        if listed.more {
            frontier = super::merge::min_opt(frontier, last);
        }
    }
    let mut serials: BTreeSet<String> = BTreeSet::new();
    for (position, entry) in all {
        if frontier.as_ref().is_some_and(|f| &position > f) {
            break;
        }
        let serial = entry.0.line.serial.to_string();
        if !serials.contains(&serial) && serials.len() == limit {
            // A further serial: this page ends after the last entry taken.
            out.stop = out.entries.keys().next_back().cloned();
            return out;
        }
        serials.insert(serial);
        out.entries.insert(position, entry);
    }
    out.stop = frontier;
    out
}

/// An entry as the heads judge it.
#[derive(Debug, PartialEq)]
pub(crate) enum Judged {
    /// Its version is the current one of an active order: the line as listed.
    Current,
    /// The order is active at a newer (or other) version whose entry no listing returned:
    /// fetch this key (the current line, or the caller's copy of it).
    Fetch(Key),
    /// Not shown: no head, cancelled, or an older version whose current entry was listed.
    Hidden,
}

/// Whether an entry of an index is its order's current version, by the order's head read
/// after the listing (consistent): a staged version, an older one, a cancelled order never
/// pass. The same decision as the entitlements page's unsettled-orders check, taken from the
/// head the unsettled items are written with.
pub(crate) fn judge(email: &Email, line: &LineItem, shipped: bool, head: Option<&OrderHead>, listed: &BTreeSet<(String, u64)>) -> Judged {
    let Some(head) = head.filter(|h| h.is_active()) else { return Judged::Hidden };
    if head.current_version == line.version {
        return Judged::Current;
    }
    if listed.contains(&(line.line.serial.to_string(), head.current_version)) {
        return Judged::Hidden;
    }
    Judged::Fetch(if shipped {
        keys::shipped_line(email, &head.end_customer, &line.line.serial, head.current_version)
    } else {
        keys::order_line(&line.order_id, head.current_version, &line.line.serial)
    })
}

/// What a page needs besides its lines.
pub(crate) struct RadarRules<'a> {
    pub memberships: &'a BTreeSet<SupportId>,
    /// The reseller organisations the caller's markers name.
    pub resellers: &'a BTreeSet<SupportId>,
    pub window: RenewalWindow,
    pub today: Day,
    /// Strictly after this position (the cursor), if any.
    pub after: Option<&'a str>,
}

/// The page: current lines within the window and the page's bounds, each with the rules of
/// §2 that show it (`domain::rules::access`, with the reach the entitlements page would
/// build at its site), soonest first, then the cursor.
pub(crate) fn page(
    lines: BTreeMap<String, (LineItem, bool)>,
    stop: Option<String>,
    sites: &HashMap<SupportId, SiteRef>,
    rules: &RadarRules<'_>,
) -> Page<Renewal, String> {
    let (from, until) = (rules.window.from.to_string(), keys::renewals_until(rules.window.until));
    let mut seen = BTreeSet::new();
    let mut items = Vec::new();
    for (position, (line, shipped)) in lines {
        let inside = position.as_str() >= from.as_str()
            && position <= until
            && rules.after.is_none_or(|a| position.as_str() > a)
            && stop.as_ref().is_none_or(|s| &position <= s);
        if !inside || !seen.insert(line.line.serial.to_string()) {
            continue;
        }
        let Some(site) = sites.get(&line.site) else { continue };
        // The entitlements page's reach at this line's site: its reseller markers, the site if
        // the caller is a member, the order if the caller's copy of this version listed it.
        let mut reach = Reach { member_of: rules.resellers.clone(), ship_to_orders: BTreeSet::new() };
        if rules.memberships.contains(&line.site) {
            reach.member_of.insert(line.site.clone());
        }
        if shipped {
            reach.ship_to_orders.insert(line.order_id.clone());
        }
        let at = Placement { owner: &line.site, order_id: &line.order_id, reseller: line.reseller.as_ref() };
        let rules_shown = access(&reach, at);
        if rules_shown.is_empty() {
            continue;
        }
        let status = EntitlementStatus::on(rules.today, line.line.starts_on, line.line.ends_on);
        items.push(Renewal { site: site.clone(), entitlement: VisibleEntitlement { line, status, access: rules_shown } });
    }
    Page { items, next: stop }
}

impl Store {
    /// One page of the caller's renewal radar: what the caller can see that ends within
    /// `window`, soonest first (ties by serial), after the position `after` (a `next` of an
    /// earlier page of the same walk).
    pub async fn renewals(
        &self,
        email: &Email,
        rollout: Rollout,
        window: RenewalWindow,
        after: Option<&str>,
        limit: usize,
        today: Day,
    ) -> Result<Page<Renewal, String>, StoreError> {
        let lower = match after {
            Some(a) => start_after(a).ok_or_else(|| StoreError::Corrupt(format!("not a radar position: {a}")))?,
            None => window.from.to_string(),
        };
        let until = keys::renewals_until(window.until);
        if lower > until {
            return Ok(Page { items: Vec::new(), next: None });
        }
        let start_day = keys::parse_renewal_position(&lower).map(|(d, _)| d).unwrap_or(window.from);
        let months = window.months_from(start_day);

        // Round 1: the caller's own partition (consistent: a revocation is seen at once; an
        // ended membership shows nothing, swept or not).
        let pk = keys::contact_pk(email);
        let (memberships, resellers, reach) = futures::try_join!(
            self.memberships(email),
            self.reseller_memberships(email),
            self.list(Query::table("Query ship-to reach", pk, Range::Prefix(keys::SHIP_TO_REACH_PREFIX.into())).limit(1)),
        )?;
        let memberships: BTreeSet<SupportId> = memberships.into_keys().collect();
        let ships = !reach.items.is_empty();

        // Round 2: one query per end month of each reseller organisation's sales and of the
        // caller's ship-to copies. A few member sites are listed at once; many are first
        // looked up in their records, and only those holding lines no organisation of the
        // caller sold are listed, in one more round.
        let range = || Range::Between(lower.clone(), until.clone());
        let site_queries = |sites: &[&SupportId]| {
            let mut queries = Vec::new();
            for month in &months {
                for site in sites {
                    let q = Query::index("Query site renewals", keys::GSI3, keys::renewals_site_gsi3pk(site, month), range());
                    queries.push((Via::Index, q.limit(limit)));
                }
            }
            queries
        };
        let look_up_first = memberships.len() > LISTED_AT_ONCE;
        let mut queries = if look_up_first { Vec::new() } else { site_queries(&memberships.iter().collect::<Vec<_>>()) };
        for month in &months {
            for reseller in &resellers {
                let q = Query::index("Query reseller renewals", keys::GSI4, keys::renewals_sold_gsi4pk(reseller, month), range());
                queries.push((Via::Index, q.limit(limit)));
            }
            if ships {
                let q = Query::index("Query ship-to renewals", keys::GSI3, keys::renewals_shipped_gsi3pk(email, month), range());
                queries.push((Via::ShipTo, q.limit(limit)));
            }
        }
        let member_records = async {
            if look_up_first {
                // Consistent: a site skipped must hold nothing the organisations' listings miss now.
                self.read_site_records("BatchGetItem radar member sites", memberships.iter(), true).await
            } else {
                Ok(HashMap::new())
            }
        };
        let (mut listings, member_records) = futures::try_join!(self.renewal_listings(queries), member_records)?;
        let unlisted: Vec<&SupportId> = memberships
            .iter()
            .filter(|s| look_up_first && member_records.get(*s).is_some_and(|r| !listed_by_organisations(r, &resellers)))
            .collect();
        if !unlisted.is_empty() {
            listings.extend(self.renewal_listings(site_queries(&unlisted)).await?);
        }
        let Candidates { mut entries, listed, stop } = candidates(listings, limit);

        // Round 3: the heads of the entries' orders and their sites' records (those not read
        // in round 2), by key, in one consistent BatchGet (the indexes may still list a
        // version that is no longer current).
        let orders: BTreeSet<&OrderId> = entries.values().map(|(l, _)| &l.order_id).collect();
        let site_ids: BTreeSet<&SupportId> = entries.values().map(|(l, _)| &l.site).filter(|s| !member_records.contains_key(*s)).collect();
        let by_key: Vec<Key> = orders.iter().map(|o| keys::order_head(o)).chain(site_ids.iter().map(|s| keys::site_meta(s))).collect();
        let read = if by_key.is_empty() { Vec::new() } else { self.batch_get("BatchGetItem radar heads and sites", by_key, true).await? };
        let (heads, mut sites) = heads_and_sites(read, rollout)?;
        sites.extend(
            member_records
                .iter()
                .filter(|(_, record)| rollout.shows(record.view_enabled))
                .map(|(site, record)| (site.clone(), SiteRef { support_id: site.clone(), name: record.name.clone() })),
        );

        let mut fetch = Vec::new();
        entries.retain(|_, (line, shipped)| match judge(email, line, *shipped, heads.get(&line.order_id), &listed) {
            Judged::Current => true,
            Judged::Fetch(key) => {
                fetch.push(key);
                false
            }
            Judged::Hidden => false,
        });

        // Round 4 (rare): current lines that only an older version's entry led to.
        if !fetch.is_empty() {
            let fetched = self.batch_get("BatchGetItem current radar lines", fetch, true).await?;
            let mut missing_sites = Vec::new();
            for item in fetched {
                let shipped = get_s(&item, keys::PK).is_some_and(keys::is_shipped_pk);
                let line: LineItem = from_item(item)?;
                if !sites.contains_key(&line.site) {
                    missing_sites.push(line.site.clone());
                }
                let entry = entries.entry(position_of(&line)).or_insert_with(|| (line, false));
                entry.1 |= shipped;
            }
            if !missing_sites.is_empty() {
                let read = self.batch_get("BatchGetItem sites", missing_sites.iter().map(keys::site_meta).collect(), false).await?;
                sites.extend(heads_and_sites(read, rollout)?.1);
            }
        }
        let rules = RadarRules { memberships: &memberships, resellers: &resellers, window, today, after };
        Ok(page(entries, stop, &sites, &rules))
    }
}

impl Store {
    /// Round 2's listings (and round 2b's), all at once.
    async fn renewal_listings(&self, queries: Vec<(Via, Query)>) -> Result<Vec<Listed>, StoreError> {
        futures::future::try_join_all(queries.into_iter().map(|(via, q)| async move {
            let Listing { items, more } = self.list(q).await?;
            let lines = items.into_iter().map(from_item::<LineItem>).collect::<Result<Vec<_>, _>>()?;
            Ok::<_, StoreError>(Listed { via, lines, more })
        }))
        .await
    }
}

/// Member sites a page lists without reading their records first: a customer's one or two
/// sites cost a query per end month and no extra round; beyond that, one BatchGet of the
/// records (100 a call) decides which sites need listing at all.
const LISTED_AT_ONCE: usize = 2;

/// Whether the caller's reseller organisations' listings (`ENDS#SOLD#{r}`) already show every
/// current line of a member site: the site's exact count is all theirs, or zero. Per-seller
/// counts never exceed the truth (orders switched before they were kept are not in them),
/// so a site is skipped only when it holds nothing else.
pub(crate) fn listed_by_organisations(record: &SiteRecord, organisations: &BTreeSet<SupportId>) -> bool {
    let theirs: i64 = organisations.iter().filter_map(|r| record.sellers.get(&Some(r.clone()))).sum();
    record.entitlements == 0 || theirs == record.entitlements as i64
}

/// What round 3 read: the order heads, and the sites as the view names them.
type HeadsAndSites = (HashMap<OrderId, OrderHead>, HashMap<SupportId, SiteRef>);

/// The order heads and the sites (shown under `rollout`) of one BatchGet.
fn heads_and_sites(items: Vec<Item>, rollout: Rollout) -> Result<HeadsAndSites, StoreError> {
    let mut heads = HashMap::new();
    let mut sites = HashMap::new();
    for item in items {
        if get_s(&item, keys::PK).is_some_and(|pk| keys::site_of_pk(pk).is_some()) {
            let Some(site) = get_s(&item, "support_id").and_then(|s| SupportId::parse(s).ok()) else { continue };
            if let Some(shown) = shown(&site, &item, rollout) {
                sites.insert(site, shown);
            }
        } else {
            let head: OrderHead = from_item(item)?;
            heads.insert(head.order_id.clone(), head);
        }
    }
    Ok((heads, sites))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{Access, Line};

    fn sid(s: &str) -> SupportId {
        SupportId::parse(s).unwrap()
    }

    fn day(d: &str) -> Day {
        Day::parse(d).unwrap()
    }

    fn line(order: &str, v: u64, site: &str, serial: &str, ends_on: &str, reseller: Option<&str>) -> LineItem {
        let raw = serde_json::json!({"serial": serial, "sku": "K", "product": "P", "quantity": 1,
            "starts_on": "2026-01-01", "ends_on": ends_on, "license_keys": []});
        LineItem {
            order_id: OrderId::parse(order).unwrap(),
            version: v,
            site: sid(site),
            reseller: reseller.map(sid),
            line: serde_json::from_value::<Line>(raw).unwrap(),
        }
    }

    fn head(order: &str, v: u64, site: &str, active: bool) -> OrderHead {
        serde_json::from_value(serde_json::json!({"order_id": order, "current_version": v, "digest": "d",
            "status": if active { "active" } else { "cancelled" }, "ordered_at": "", "end_customer": site,
            "entitlement_count": 1, "updated_at": ""}))
        .unwrap()
    }

    #[test]
    fn a_member_site_is_skipped_only_when_the_organisations_sold_all_its_current_lines() {
        let record = |entitlements: u64, sellers: &[(Option<&str>, i64)]| SiteRecord {
            name: "S".into(),
            entitlements,
            view_enabled: true,
            sellers: sellers.iter().map(|(r, n)| (r.map(sid), *n)).collect(),
        };
        let sky = BTreeSet::from([sid("SKY-1")]);
        assert!(listed_by_organisations(&record(5, &[(Some("SKY-1"), 5)]), &sky));
        assert!(listed_by_organisations(&record(0, &[]), &sky), "nothing current: nothing to list");
        assert!(!listed_by_organisations(&record(5, &[(Some("SKY-1"), 3), (None, 2)]), &sky), "a direct sale");
        assert!(!listed_by_organisations(&record(5, &[(Some("SKY-1"), 3), (Some("OTHER-1"), 2)]), &sky), "another reseller's");
        assert!(!listed_by_organisations(&record(5, &[]), &sky), "counts from before sellers were kept");
        assert!(!listed_by_organisations(&record(5, &[(Some("SKY-1"), 5)]), &BTreeSet::new()), "no organisation");
        let both = BTreeSet::from([sid("SKY-1"), sid("OTHER-1")]);
        assert!(listed_by_organisations(&record(5, &[(Some("SKY-1"), 3), (Some("OTHER-1"), 2)]), &both));
    }

    #[test]
    fn a_window_spans_every_end_month_it_touches() {
        let w = RenewalWindow::days_from(day("2027-01-31"), 90);
        assert_eq!(w.until, day("2027-05-01"));
        assert_eq!(w.months_from(w.from), ["2027-01", "2027-02", "2027-03", "2027-04", "2027-05"]);
        assert_eq!(w.months_from(day("2027-04-15")), ["2027-04", "2027-05"]);
        let year = RenewalWindow::days_from(day("2026-12-04"), MAX_WINDOW_DAYS);
        assert_eq!(year.months_from(year.from).len(), 13);
    }

    #[test]
    fn a_page_resumes_strictly_after_its_position() {
        let at = keys::renewal_sk(day("2027-01-05"), &crate::domain::Serial::parse("S1").unwrap(), 2);
        let next = start_after(&at).unwrap();
        assert!(next > at);
        let other = keys::renewal_sk(day("2027-01-05"), &crate::domain::Serial::parse("S1-A").unwrap(), 1);
        assert!(next < other, "the next serial of the same day is not skipped");
        assert_eq!(start_after("2027-01-05#S1#~").unwrap(), "2027-01-05#S1#~");
        assert_eq!(start_after("garbage"), None);
    }

    #[test]
    fn candidates_stop_at_the_smallest_frontier_and_at_limit_serials() {
        let a = Listed {
            via: Via::Index,
            lines: vec![line("O-1", 1, "A-1", "S1", "2027-01-01", None), line("O-1", 1, "A-1", "S3", "2027-01-03", None)],
            more: true,
        };
        let b = Listed { via: Via::ShipTo, lines: vec![line("O-2", 1, "B-1", "S2", "2027-01-02", None)], more: false };
        let c = candidates(vec![a.clone(), b.clone()], 10);
        assert_eq!(c.entries.len(), 3);
        assert_eq!(c.stop.as_deref(), Some("2027-01-03#S3#0000000001"));
        let c = candidates(vec![a, b], 2);
        let serials: Vec<&str> = c.entries.values().map(|(l, _)| l.line.serial.as_str()).collect();
        assert_eq!(serials, ["S1", "S2"]);
        assert_eq!(c.stop.as_deref(), Some("2027-01-02#S2#0000000001"));
        assert!(c.entries.values().any(|(_, shipped)| *shipped), "the copy marks its line as shipped");
    }

    #[test]
    fn only_the_current_version_of_an_active_order_passes_and_a_lagging_one_is_fetched() {
        let email = Email::parse("t@d.example").unwrap();
        let old = line("O-1", 1, "A-1", "S1", "2027-01-01", None);
        let none = BTreeSet::new();
        assert_eq!(judge(&email, &old, false, Some(&head("O-1", 1, "A-1", true)), &none), Judged::Current);
        assert_eq!(judge(&email, &old, false, Some(&head("O-1", 1, "A-1", false)), &none), Judged::Hidden, "cancelled");
        assert_eq!(judge(&email, &old, false, None, &none), Judged::Hidden, "never switched");
        let listed = BTreeSet::from([("S1".to_string(), 2)]);
        assert_eq!(judge(&email, &old, false, Some(&head("O-1", 2, "B-1", true)), &listed), Judged::Hidden);
        let serial = crate::domain::Serial::parse("S1").unwrap();
        let order = OrderId::parse("O-1").unwrap();
        assert_eq!(
            judge(&email, &old, false, Some(&head("O-1", 2, "B-1", true)), &none),
            Judged::Fetch(keys::order_line(&order, 2, &serial))
        );
        assert_eq!(
            judge(&email, &old, true, Some(&head("O-1", 2, "B-1", true)), &none),
            Judged::Fetch(keys::shipped_line(&email, &sid("B-1"), &serial, 2)),
            "a copy leads to the caller's copy of the current version, at its site"
        );
    }

    #[test]
    fn the_rules_are_the_entitlements_pages_and_the_window_bounds_hold() {
        let window = RenewalWindow { from: day("2027-01-01"), until: day("2027-03-31") };
        let lines: BTreeMap<String, (LineItem, bool)> = [
            (line("O-1", 1, "ACME-1", "S1", "2027-01-10", Some("SKY-1")), false),
            (line("O-2", 1, "ACME-1", "S2", "2027-01-11", Some("OTHER-1")), false),
            (line("O-3", 1, "ACME-1", "S3", "2027-04-01", Some("SKY-1")), false),
            (line("O-4", 1, "FARM-1", "S4", "2027-01-12", None), true),
        ]
        .into_iter()
        .map(|(l, shipped)| (position_of(&l), (l, shipped)))
        .collect();
        let sites: HashMap<SupportId, SiteRef> =
            ["ACME-1", "FARM-1"].iter().map(|s| (sid(s), SiteRef { support_id: sid(s), name: s.to_string() })).collect();
        let (none, sky) = (BTreeSet::new(), BTreeSet::from([sid("SKY-1")]));
        let rules = RadarRules { memberships: &none, resellers: &sky, window, today: day("2027-01-01"), after: None };
        let page = page(lines, None, &sites, &rules);
        let shown: Vec<(&str, Vec<Access>)> =
            page.items.iter().map(|r| (r.entitlement.line.line.serial.as_str(), r.entitlement.access.clone())).collect();
        assert_eq!(shown, [("S1", vec![Access::Reseller]), ("S4", vec![Access::ShipTo])]);
        assert_eq!(page.next, None);
    }
}
