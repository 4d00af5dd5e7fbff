//! The read side: what a contact may see (spec §2, §4), page by page.
//!
//! Cost per page is bounded and independent of the size of the caller's view:
//! - sites page: 3 sequential rounds — (1) the contact's memberships and grants,
//!   (2) the granted orders' heads + one `SOLD#{r}` query per reseller membership,
//!   (3) one BatchGet of the page's site records;
//! - entitlements page: 3 sequential rounds — (1) memberships, grants and the site,
//!   (2) grant heads + reseller counters + one index query per source (the site itself
//!   if a member, each reseller membership), (3) the lines of granted orders + the heads
//!   of the orders on the page;
//! - detail: 4 rounds (5 with grants) — memberships + grants + the serial's claim (+ grant
//!   heads), the order head, the line + its site, the audit write.
//!
//! Rounds run their calls concurrently; the number of calls per round grows only with the
//! caller's memberships and grants, never with the entitlements behind them.

use super::items::{SerialClaim, ShipToGrant, SoldCounter};
use super::keys::{self, Item, Key};
use super::orders::{LineItem, OrderHead};
use super::table::{Query, Range};
use super::{from_item, get_n, get_s, s, Store, StoreError};
pub use crate::domain::entitlement::{EntitlementFilter, EntitlementStatus, Page, SiteRef, ViewSite, VisibleEntitlement};
use crate::domain::{access, Access, Day, Email, OrderId, Placement, Reach, Role, Serial, SupportId};
use aws_sdk_dynamodb::types::AttributeValue;
use std::collections::{BTreeMap, BTreeSet, HashMap};

/// Where a contact stands, read from the table.
#[derive(Debug, Clone, Default)]
pub struct ContactReach {
    pub email: Option<Email>,
    pub memberships: BTreeMap<SupportId, Role>,
    /// Ship-to grants valid now: the order is active and the grant names its current version.
    pub grants: Vec<OrderHead>,
    /// Rollout waves: in `Waves` a site shows only once its record says `view_enabled`.
    pub rollout: crate::domain::access::Rollout,
}

impl ContactReach {
    pub fn reach(&self) -> Reach {
        Reach {
            member_of: self.memberships.keys().cloned().collect(),
            ship_to_orders: self.grants.iter().map(|h| h.order_id.clone()).collect(),
        }
    }
    fn is_member(&self, site: &SupportId) -> bool {
        self.memberships.contains_key(site)
    }
    fn resellers(&self) -> impl Iterator<Item = &SupportId> {
        self.memberships.keys()
    }
}

/// One index/partition listing: what it returned and whether it stopped early.
struct Listing {
    items: Vec<Item>,
    more: bool,
}

impl Store {
    async fn list(&self, q: Query) -> Result<Listing, StoreError> {
        let page = self.query_page(&q).await?;
        Ok(Listing { items: page.items, more: page.last_key.is_some() })
    }

    /// Round 1 (+2 when the contact holds grants): memberships and valid ship-to grants, in
    /// one query of the contact's partition (grants sort before memberships; the few other
    /// items between them are skipped).
    pub async fn contact_reach(&self, email: &Email) -> Result<ContactReach, StoreError> {
        let (from, to) = keys::grants_and_memberships();
        let items = self.query_all(Query::table("Query memberships and grants", keys::contact_pk(email), Range::Between(from, to))).await?;
        let (members, grants): (Vec<Item>, Vec<Item>) = items
            .into_iter()
            .filter(|i| get_s(i, keys::SK).is_some_and(|sk| sk.starts_with(keys::MEMBER_PREFIX) || sk.starts_with(keys::GRANT_PREFIX)))
            .partition(|i| get_s(i, keys::SK).is_some_and(|sk| sk.starts_with(keys::MEMBER_PREFIX)));
        let mut reach = ContactReach { email: Some(email.clone()), ..Default::default() };
        for item in members {
            let (Some(site), Some(role)) = (get_s(&item, "support_id"), get_s(&item, "role")) else { continue };
            if let (Ok(site), Ok(role)) = (SupportId::parse(site), Role::parse(role)) {
                reach.memberships.insert(site, role);
            }
        }
        let granted: Vec<(OrderId, Vec<u64>)> = grants
            .into_iter()
            .map(from_item::<ShipToGrant>)
            .collect::<Result<Vec<_>, _>>()?
            .into_iter()
            .filter(|g| !g.versions.is_empty())
            .map(|g| (g.order_id, g.versions))
            .collect();
        if !granted.is_empty() {
            let heads = self.order_heads(granted.iter().map(|(o, _)| o)).await?;
            for (order_id, versions) in granted {
                if let Some(head) = heads.get(&order_id) {
                    if head.is_active() && versions.contains(&head.current_version) {
                        reach.grants.push(head.clone());
                    }
                }
            }
        }
        Ok(reach)
    }

    pub(crate) async fn order_heads<'a>(&self, ids: impl Iterator<Item = &'a OrderId>) -> Result<HashMap<OrderId, OrderHead>, StoreError> {
        let keys: Vec<Key> = ids.map(keys::order_head).collect();
        if keys.is_empty() {
            return Ok(HashMap::new());
        }
        // Consistent: a head older than the index entries a page read would hide their lines.
        let items = self.batch_get("BatchGetItem order heads", keys, true).await?;
        items.into_iter().map(|i| from_item::<OrderHead>(i).map(|h| (h.order_id.clone(), h))).collect()
    }

    /// Name, exact entitlement count and rollout flag (`view_enabled`) of each site record.
    pub(crate) async fn site_records(
        &self,
        sites: impl Iterator<Item = &SupportId>,
    ) -> Result<HashMap<SupportId, (String, u64, bool)>, StoreError> {
        let keys: Vec<Key> = sites.map(keys::site_meta).collect();
        if keys.is_empty() {
            return Ok(HashMap::new());
        }
        let items = self.batch_get("BatchGetItem sites", keys, false).await?;
        Ok(items
            .iter()
            .filter_map(|i| {
                let sid = SupportId::parse(get_s(i, "support_id")?).ok()?;
                let name = get_s(i, "name").unwrap_or(sid.as_str()).to_string();
                Some((sid, (name, get_n(i, "entitlement_count").unwrap_or(0).max(0) as u64, view_enabled(i))))
            })
            .collect())
    }

    pub async fn site(&self, site: &SupportId) -> Result<Option<SiteRef>, StoreError> {
        self.shown_site(site, crate::domain::access::Rollout::Everyone).await
    }

    /// The site record, if the site is in views under `rollout` (`None` as if it did not exist).
    async fn shown_site(&self, site: &SupportId, rollout: crate::domain::access::Rollout) -> Result<Option<SiteRef>, StoreError> {
        Ok(self
            .get("GetItem site", &keys::site_meta(site), false)
            .await?
            .filter(|i| rollout.shows(view_enabled(i)))
            .map(|i| SiteRef { support_id: site.clone(), name: get_s(&i, "name").unwrap_or(site.as_str()).to_string() }))
    }

    /// The account sites in a contact's view, in Support ID order, after `after`.
    pub async fn view_sites(
        &self,
        reach: &ContactReach,
        after: Option<&SupportId>,
        limit: usize,
    ) -> Result<Page<ViewSite, SupportId>, StoreError> {
        let after_key = |prefix: &str| match after {
            Some(a) => Range::After(format!("{prefix}{a}")),
            None => Range::Between(prefix.to_string(), format!("{prefix}~")),
        };
        // Round 2: what each reseller membership sold, per customer site.
        let listings = futures::future::try_join_all(reach.resellers().map(|r| {
            self.list(
                Query::table("Query reseller customer sites", keys::sold_pk(r), after_key(keys::SOLD_PREFIX))
                    .eventually_consistent()
                    .limit(limit),
            )
        }))
        .await?;
        let mut sold: BTreeMap<SupportId, BTreeMap<SupportId, u64>> = BTreeMap::new();
        let mut frontier: Option<SupportId> = None;
        for (reseller, listing) in reach.resellers().zip(&listings) {
            let mut last = None;
            for item in &listing.items {
                let counter: SoldCounter = from_item(item.clone())?;
                let (site, count) = (counter.support_id, counter.entitlements.max(0) as u64);
                if count > 0 {
                    sold.entry(site.clone()).or_default().insert(reseller.clone(), count);
                }
                last = Some(site);
            }
            if listing.more {
                frontier = min_opt(frontier, last);
            }
        }
        let beyond = |site: &SupportId| after.is_some_and(|a| site <= a) || frontier.as_ref().is_some_and(|f| site > f);
        let mut candidates: BTreeSet<SupportId> = BTreeSet::new();
        candidates.extend(reach.memberships.keys().filter(|s| !beyond(s)).cloned());
        candidates.extend(sold.keys().filter(|s| !beyond(s)).cloned());
        candidates.extend(reach.grants.iter().filter(|h| h.entitlement_count > 0).map(|h| h.end_customer.clone()).filter(|s| !beyond(s)));
        let more_candidates = candidates.len() > limit;
        let page: Vec<SupportId> = candidates.into_iter().take(limit).collect();
        let next = if more_candidates { page.last().cloned() } else { frontier.clone() };

        // Round 3: names and exact counts of the page's sites.
        let records = self.site_records(page.iter()).await?;
        let members = reach.reach().member_of;
        let mut items = Vec::new();
        for site in page {
            let (name, site_count, enabled) = records.get(&site).cloned().unwrap_or_else(|| (site.to_string(), 0, false));
            if !reach.rollout.shows(enabled) {
                continue;
            }
            let by_reseller: u64 = sold.get(&site).map(|m| m.values().sum()).unwrap_or(0);
            let grants_here: Vec<&OrderHead> = reach.grants.iter().filter(|h| h.end_customer == site && h.entitlement_count > 0).collect();
            let mut rules = Vec::new();
            let count = if reach.is_member(&site) {
                if site_count > 0 {
                    rules.push(Access::Member);
                }
                site_count
            } else {
                // Each order has one reseller, so reseller shares are disjoint; ship-to orders
                // sold by one of the caller's resellers are already counted there.
                by_reseller
                    + grants_here
                        .iter()
                        .filter(|h| !h.reseller.as_ref().is_some_and(|r| members.contains(r)))
                        .map(|h| h.entitlement_count)
                        .sum::<u64>()
            };
            if !grants_here.is_empty() {
                rules.push(Access::ShipTo);
            }
            if by_reseller > 0 {
                rules.push(Access::Reseller);
            }
            if count > 0 {
                items.push(ViewSite { support_id: site, name, entitlement_count: count, access: rules });
            }
        }
        Ok(Page { items, next })
    }

    /// The caller-visible entitlements of one site, in serial order, after the position
    /// `after` (see [`keys::after_serial`]; `next` is such a position). Each line visible
    /// during a whole walk is returned exactly once, whatever older versions' entries the
    /// indexes still hold: a page resumes from the full index key it stopped on, and a serial
    /// is returned only once its current entry was read or fetched.
    /// `None` when the caller cannot see the site at all (the same as a missing site).
    pub async fn site_entitlements(
        &self,
        reach: &ContactReach,
        site: &SupportId,
        after: Option<&str>,
        limit: usize,
        filter: &EntitlementFilter,
        today: Day,
    ) -> Result<Option<(SiteRef, Page<VisibleEntitlement, String>)>, StoreError> {
        let member = reach.is_member(site);
        let position = after.map(keys::normalize_position);
        let range = || match &position {
            Some(p) => Range::After(p.clone()),
            None => Range::All,
        };
        // Round 2 (with the site record): the index listings and the reseller counters.
        let member_listing = async {
            if member {
                let q = Query::index("Query site entitlements", keys::GSI1, keys::site_entitlements_gsi1pk(site), range()).limit(limit);
                self.list(q).await.map(Some)
            } else {
                Ok(None)
            }
        };
        let reseller_listings = futures::future::try_join_all(reach.resellers().filter(|_| !member).map(|r| {
            self.list(Query::index("Query reseller entitlements", keys::GSI2, keys::sold_to_gsi2pk(r, site), range()).limit(limit))
        }));
        let (site_ref, member_listing, reseller_listings) =
            futures::try_join!(self.shown_site(site, reach.rollout), member_listing, reseller_listings)?;
        let Some(site_ref) = site_ref else { return Ok(None) };

        // Granted orders of this site not already covered by a membership.
        let members = reach.reach().member_of;
        let uncovered: Vec<&OrderHead> = reach
            .grants
            .iter()
            .filter(|h| &h.end_customer == site && !member && !h.reseller.as_ref().is_some_and(|r| members.contains(r)))
            .collect();
        let sees_site =
            member || reseller_listings.iter().any(|l| !l.items.is_empty()) || reach.grants.iter().any(|h| &h.end_customer == site);
        if !sees_site && after.is_none() {
            return Ok(None);
        }

        // Round 3: granted orders' current lines, and the heads of orders found in round 2.
        let mut listings: Vec<Listing> = member_listing.into_iter().chain(reseller_listings).collect();
        let order_ids: BTreeSet<OrderId> = listings
            .iter()
            .flat_map(|l| l.items.iter())
            .filter_map(|i| get_s(i, "order_id").and_then(|o| OrderId::parse(o).ok()))
            .collect();
        let grant_listings = futures::future::try_join_all(uncovered.iter().map(|h| {
            let prefix = keys::line_prefix(h.current_version);
            let lo = match &position {
                Some(p) => keys::line_listing_start(h.current_version, p),
                None => prefix.clone(),
            };
            let q = Query::table("Query granted order lines", keys::order_pk(&h.order_id), Range::Between(lo, format!("{prefix}~")));
            self.list(q.eventually_consistent().limit(limit))
        }));
        let (grant_listings, mut heads) = futures::try_join!(grant_listings, self.order_heads(order_ids.iter()))?;
        for h in &uncovered {
            heads.insert(h.order_id.clone(), (*h).clone());
        }
        listings.extend(grant_listings);

        // Merge: current lines by serial; a serial seen only through an older version's
        // entry has its current line fetched by key (the index may lag behind the table).
        let mut frontier: Option<String> = None;
        let mut current: BTreeMap<String, LineItem> = BTreeMap::new();
        let mut behind: BTreeMap<String, Key> = BTreeMap::new();
        for listing in &listings {
            let mut last = None;
            for item in &listing.items {
                let line: LineItem = from_item(item.clone())?;
                last = Some(keys::position(line.line.serial.as_str(), line.version));
                let Some(head) = heads.get(&line.order_id) else { continue };
                if !head.is_active() || &line.site != site || line.version > head.current_version {
                    continue;
                }
                let serial = line.line.serial.to_string();
                if line.version == head.current_version {
                    behind.remove(&serial);
                    current.insert(serial, line);
                } else if !current.contains_key(&serial) {
                    behind.insert(serial, keys::order_line(&line.order_id, head.current_version, &line.line.serial));
                }
            }
            if listing.more {
                frontier = min_opt(frontier, last);
            }
        }
        if !behind.is_empty() {
            let fetched = self.batch_get("BatchGetItem current lines", behind.into_values().collect(), true).await?;
            for item in fetched {
                let line: LineItem = from_item(item)?;
                current.insert(line.line.serial.to_string(), line);
            }
        }

        let reach_rules = reach.reach();
        let within: Vec<VisibleEntitlement> = current
            .into_values()
            .filter(|line| frontier.as_deref().is_none_or(|f| keys::position(line.line.serial.as_str(), line.version).as_str() <= f))
            .filter_map(|line| {
                let rules =
                    access(&reach_rules, Placement { owner: &line.site, order_id: &line.order_id, reseller: line.reseller.as_ref() });
                if rules.is_empty() {
                    return None;
                }
                let status = EntitlementStatus::on(today, line.line.starts_on, line.line.ends_on);
                Some(VisibleEntitlement { line, status, access: rules })
            })
            .filter(|e| filter.keeps(e))
            .collect();
        let more_candidates = within.len() > limit;
        let items: Vec<VisibleEntitlement> = within.into_iter().take(limit).collect();
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
        Ok(Some((site_ref, Page { items, next })))
    }

    /// One entitlement if `email` may see it (`None` exactly as if it did not exist).
    /// Rounds: (1) the contact's reach with the serial's claim, (2) the order head,
    /// (3) the line with its site.
    pub async fn entitlement(
        &self,
        email: &Email,
        serial: &Serial,
        today: Day,
        rollout: crate::domain::access::Rollout,
    ) -> Result<Option<(VisibleEntitlement, SiteRef)>, StoreError> {
        let claim_key = keys::serial_claim(serial);
        let (reach, claim) = futures::try_join!(self.contact_reach(email), self.get("GetItem serial claim", &claim_key, false))?;
        let Some(claim) = claim.map(from_item::<SerialClaim>).transpose()? else { return Ok(None) };
        let order_id = claim.order_id;
        let Some(head) = self.order_head(&order_id, true).await? else { return Ok(None) };
        if !head.is_active() {
            return Ok(None);
        }
        let line_key = keys::order_line(&order_id, head.current_version, serial);
        let (item, site) =
            futures::try_join!(self.get("GetItem entitlement line", &line_key, false), self.shown_site(&head.end_customer, rollout))?;
        let Some(item) = item else { return Ok(None) };
        // A site not (yet) in views hides its keys too.
        if site.is_none() && !rollout.shows(false) {
            return Ok(None);
        }
        let line: LineItem = from_item(item)?;
        let rules = access(&reach.reach(), Placement { owner: &line.site, order_id: &line.order_id, reseller: line.reseller.as_ref() });
        if rules.is_empty() {
            return Ok(None);
        }
        let site = site.unwrap_or(SiteRef { support_id: line.site.clone(), name: line.site.to_string() });
        let status = EntitlementStatus::on(today, line.line.starts_on, line.line.ends_on);
        Ok(Some((VisibleEntitlement { line, status, access: rules }, site)))
    }

    /// Appends to the audit trail of an entitlement's detail reads: who asked, and whether
    /// the keys were shown (`rules` non-empty) or refused (`outcome` `not_found`), so probing
    /// for serials leaves a trace too.
    pub async fn record_entitlement_read(
        &self,
        who: &Email,
        serial: &Serial,
        rules: &[Access],
        request_id: &str,
    ) -> Result<(), StoreError> {
        let at = super::orders::now_rfc3339();
        let mut item = keys::entitlement_audit(serial, &at, request_id).to_item();
        item.insert("who".into(), s(who.as_str()));
        item.insert("at".into(), s(at.clone()));
        item.insert("serial".into(), s(serial.as_str()));
        item.insert("request_id".into(), s(request_id));
        item.insert("outcome".into(), s(if rules.is_empty() { "not_found" } else { "shown" }));
        if !rules.is_empty() {
            item.insert("access".into(), AttributeValue::Ss(rules.iter().map(|r| format!("{r:?}").to_lowercase()).collect()));
        }
        self.put("PutItem entitlement audit", item, None).await?;
        Ok(())
    }

    /// The audit trail of one entitlement's detail reads, oldest first.
    pub async fn entitlement_reads(&self, serial: &Serial) -> Result<Vec<Item>, StoreError> {
        self.query_all(Query::table("Query entitlement audit", keys::entitlement_audit(serial, "", "").pk, Range::All)).await
    }
}

/// The rollout flag of a site record.
fn view_enabled(site_record: &Item) -> bool {
    site_record.get(super::access::VIEW_ENABLED).and_then(|v| v.as_bool().ok()).copied().unwrap_or(false)
}

fn min_opt<T: Ord>(a: Option<T>, b: Option<T>) -> Option<T> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}
