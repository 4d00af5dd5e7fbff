//! The read side: what a contact may see (spec §2, §4), page by page, at a cost that does
//! not depend on what the caller holds.
//!
//! Everything a page needs about the caller sits in the caller's own partition, kept exact
//! by the transactions that change visibility: memberships (`MEMBER#{s}`), reseller markers
//! (`RESELLER#{r}`: a membership of a site that resells), and ship-to reaches (`SHIPTO#{s}`:
//! how many entitlements of a site the caller's ship-to grants show, per reseller). Ship-to
//! contacts also get their own copy of each granted line (`SHIPPED#{e}#{s}`), so a ship-to
//! list is one query however many orders it spans.
//!
//! - sites page: 2 sequential rounds — (1) one page of memberships, one page of ship-to
//!   reaches and the reseller markers; (2) one `SOLD#{r}` page per reseller organisation the
//!   caller belongs to and the site records of the member sites on the page (names, counts);
//! - entitlements page: 2 rounds — (1) the membership, ship-to reach and site record (one
//!   BatchGet), the reseller markers and the site's unsettled orders (`UNSETTLED#{o}`: orders whose entries
//!   there are not all current, with their current version); (2) one listing per source (the
//!   site's index for a member, each reseller's index, the caller's ship-to copies). A serial
//!   seen only through an older version's entry costs a third round (its current line by key:
//!   rare, between a switch and its cleanup);
//! - detail: 4 rounds — the claim, the order head, the line with the caller's membership,
//!   grant and reseller marker, the audit write.
//!
//! Calls per page are constant: they grow with neither entitlements, memberships nor grants
//! (only with the number of reseller organisations a contact belongs to, in practice one).

use super::items::{SerialClaim, ShipToGrant, ShipToReach, SoldCounter};
use super::keys::{self, Item, Key};
use super::orders::LineItem;
use super::table::{Query, Range};
use super::{from_item, get_n, get_s, s, Store, StoreError};
use crate::domain::access::Rollout;
pub use crate::domain::entitlement::{EntitlementFilter, EntitlementStatus, Page, SiteRef, ViewSite, VisibleEntitlement};
use crate::domain::{Access, Day, Email, OrderId, Role, Serial, SupportId};
use aws_sdk_dynamodb::types::AttributeValue;
use std::collections::{BTreeMap, BTreeSet, HashMap};

/// One index/partition listing: what it returned and whether it stopped early.
struct Listing {
    items: Vec<Item>,
    more: bool,
}

/// A site record as the view reads it.
#[derive(Debug, Clone)]
pub(crate) struct SiteRecord {
    pub name: String,
    pub entitlements: u64,
    pub view_enabled: bool,
}

impl SiteRecord {
    fn from_item(site: &SupportId, item: &Item) -> SiteRecord {
        SiteRecord {
            name: get_s(item, "name").unwrap_or(site.as_str()).to_string(),
            entitlements: get_n(item, "entitlement_count").unwrap_or(0).max(0) as u64,
            view_enabled: view_enabled(item),
        }
    }
}

/// An order whose entries at a site are not all current.
#[derive(Debug, Clone, Copy)]
struct Unsettled {
    /// The current version (`None`: nothing of the order is current at this site).
    current: Option<u64>,
    active: bool,
}

/// Where a line came from on a page: which of the caller's sources listed it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Source {
    /// The site's own index (the caller is a member), or a reseller's index.
    Index,
    /// The caller's ship-to copies.
    ShipTo,
}

impl Store {
    async fn list(&self, q: Query) -> Result<Listing, StoreError> {
        let page = self.query_page(&q).await?;
        Ok(Listing { items: page.items, more: page.last_key.is_some() })
    }

    /// The orders whose entries in this site's listings are not all current (consistent:
    /// written in the same transactions as the order heads).
    /// An item exists exactly while the order's entries here may not all be current: ingestion
    /// deletes it only once every other version's entries are deleted and the indexes were
    /// checked to list none of them (no clock).
    async fn unsettled_orders(&self, site: &SupportId) -> Result<HashMap<OrderId, Unsettled>, StoreError> {
        let q = Query::table("Query unsettled orders", keys::site_pk(site), Range::Prefix(keys::UNSETTLED_PREFIX.into()));
        Ok(self
            .query_all(q)
            .await?
            .iter()
            .filter_map(|i| {
                let order = OrderId::parse(get_s(i, "order_id")?).ok()?;
                let current = get_n(i, "current").map(|c| c.max(0) as u64);
                let active = i.get("active").and_then(|a| a.as_bool().ok()).copied().unwrap_or(false);
                Some((order, Unsettled { current, active }))
            })
            .collect())
    }

    /// A contact's memberships, read consistently (for `/v1/me` and tests).
    pub async fn memberships(&self, email: &Email) -> Result<BTreeMap<SupportId, Role>, StoreError> {
        let q = Query::table("Query memberships", keys::contact_pk(email), Range::Prefix(keys::MEMBER_PREFIX.into()));
        Ok(self.query_all(q).await?.iter().filter_map(membership_of).collect())
    }

    /// The sites whose markers say the contact reaches their customers (R3), consistently:
    /// a member removed with a 204 loses its marker in the same transaction.
    async fn reseller_memberships(&self, email: &Email) -> Result<BTreeSet<SupportId>, StoreError> {
        let q = Query::table("Query reseller markers", keys::contact_pk(email), Range::Prefix(keys::RESELLER_PREFIX.into()));
        Ok(self.query_all(q).await?.iter().filter_map(|i| SupportId::parse(get_s(i, "support_id")?).ok()).collect())
    }

    /// Name, exact entitlement count and rollout flag of each site record.
    pub(crate) async fn site_records(&self, sites: impl Iterator<Item = &SupportId>) -> Result<HashMap<SupportId, SiteRecord>, StoreError> {
        let sites: Vec<SupportId> = sites.cloned().collect();
        if sites.is_empty() {
            return Ok(HashMap::new());
        }
        let items = self.batch_get("BatchGetItem sites", sites.iter().map(keys::site_meta).collect(), false).await?;
        Ok(items
            .iter()
            .filter_map(|i| {
                let sid = SupportId::parse(get_s(i, "support_id")?).ok()?;
                let record = SiteRecord::from_item(&sid, i);
                Some((sid, record))
            })
            .collect())
    }

    pub async fn site(&self, site: &SupportId) -> Result<Option<SiteRef>, StoreError> {
        self.shown_site(site, Rollout::Everyone).await
    }

    /// The site record, if the site is in views under `rollout` (`None` as if it did not exist).
    async fn shown_site(&self, site: &SupportId, rollout: Rollout) -> Result<Option<SiteRef>, StoreError> {
        Ok(self.get("GetItem site", &keys::site_meta(site), false).await?.and_then(|i| shown(site, &i, rollout)))
    }

    /// The account sites in a contact's view, in Support ID order, after `after`. A page holds
    /// `limit` sites unless it is the last (or sites whose count fell to zero were skipped).
    pub async fn view_sites(
        &self,
        email: &Email,
        rollout: Rollout,
        after: Option<&SupportId>,
        limit: usize,
    ) -> Result<Page<ViewSite, SupportId>, StoreError> {
        let pk = keys::contact_pk(email);
        let range = |prefix: &str| match after {
            Some(a) => Range::Between(format!("{prefix}{a}#"), format!("{prefix}~")),
            None => Range::Between(prefix.to_string(), format!("{prefix}~")),
        };
        // Round 1: the caller's own partition (consistent: a revocation is seen at once).
        let (members, ship_to, resellers) = futures::try_join!(
            self.list(Query::table("Query memberships", pk.clone(), range(keys::MEMBER_PREFIX)).limit(limit)),
            self.list(Query::table("Query ship-to reach", pk.clone(), range(keys::SHIP_TO_REACH_PREFIX)).limit(limit)),
            self.reseller_memberships(email),
        )?;
        let memberships: BTreeMap<SupportId, Role> = members.items.iter().filter_map(membership_of).collect();
        let reaches: BTreeMap<SupportId, ShipToReach> =
            ship_to.items.iter().map(ShipToReach::from_item).filter_map(|r| Some((r.support_id.clone()?, r))).collect();

        // Round 2: what each reseller sold, per customer site, and the member sites' records.
        let sold_range = match after {
            Some(a) => Range::After(format!("{}{a}", keys::SOLD_PREFIX)),
            None => Range::Prefix(keys::SOLD_PREFIX.into()),
        };
        let sold_listings = futures::future::try_join_all(resellers.iter().map(|r| {
            self.list(
                Query::table("Query reseller customer sites", keys::sold_pk(r), sold_range.clone()).eventually_consistent().limit(limit),
            )
        }));
        let (sold_listings, mut records) = futures::try_join!(sold_listings, self.site_records(memberships.keys()))?;

        let mut frontier: Option<SupportId> = None;
        let mut stop_at = |more: bool, last: Option<SupportId>| {
            if more {
                frontier = min_opt(frontier.take(), last);
            }
        };
        stop_at(members.more, memberships.keys().next_back().cloned());
        stop_at(ship_to.more, reaches.keys().next_back().cloned());
        let mut sold: BTreeMap<SupportId, (u64, Option<String>)> = BTreeMap::new();
        for listing in &sold_listings {
            let mut last = None;
            for item in &listing.items {
                let counter: SoldCounter = from_item(item.clone())?;
                let entry = sold.entry(counter.support_id.clone()).or_default();
                entry.0 += counter.entitlements.max(0) as u64;
                entry.1 = entry.1.take().or(counter.name);
                last = Some(counter.support_id);
            }
            stop_at(listing.more, last);
        }
        let within = |site: &SupportId| frontier.as_ref().is_none_or(|f| site <= f);
        let candidates: BTreeSet<&SupportId> = memberships.keys().chain(reaches.keys()).chain(sold.keys()).filter(|s| within(s)).collect();

        // Rollout waves: sites not (yet) in views are left out, which needs every candidate's record.
        if rollout != Rollout::Everyone {
            let missing: Vec<SupportId> = candidates.iter().filter(|s| !records.contains_key(**s)).map(|s| (*s).clone()).collect();
            records.extend(self.site_records(missing.iter()).await?);
        }
        let mut items = Vec::new();
        let mut full = false;
        for site in candidates {
            if items.len() == limit {
                full = true;
                break;
            }
            if rollout != Rollout::Everyone && !records.get(site).is_some_and(|r| r.view_enabled) {
                continue;
            }
            let record = records.get(site);
            let (by_resellers, sold_name) = sold.get(site).cloned().unwrap_or_default();
            let reach = reaches.get(site);
            let mut rules = Vec::new();
            let count = if memberships.contains_key(site) {
                let count = record.map(|r| r.entitlements).unwrap_or(0);
                if count > 0 {
                    rules.push(Access::Member);
                }
                count
            } else {
                // Each order has one reseller, so reseller shares are disjoint; ship-to orders
                // sold by one of the caller's resellers are already counted there.
                by_resellers + reach.map(|r| r.not_via(&resellers)).unwrap_or(0)
            };
            if reach.is_some_and(|r| r.entitlements > 0) {
                rules.push(Access::ShipTo);
            }
            if by_resellers > 0 {
                rules.push(Access::Reseller);
            }
            if count > 0 {
                let name = record
                    .map(|r| r.name.clone())
                    .or(sold_name)
                    .or_else(|| reach.and_then(|r| r.name.clone()))
                    .unwrap_or_else(|| site.to_string());
                items.push(ViewSite { support_id: site.clone(), name, entitlement_count: count, access: rules });
            }
        }
        let next = if full { items.last().map(|s: &ViewSite| s.support_id.clone()) } else { frontier };
        Ok(Page { items, next })
    }

    /// The caller-visible entitlements of one site, in serial order, after the position
    /// `after` (see [`keys::after_serial`]; `next` is such a position). Each line visible
    /// during a whole walk is returned exactly once, whatever older versions' entries the
    /// listings still hold: a page resumes from the full key it stopped on, and a serial is
    /// returned only once its current entry was read or fetched.
    /// `None` when the caller cannot see the site at all (the same as a missing site).
    #[allow(clippy::too_many_arguments)]
    pub async fn site_entitlements(
        &self,
        email: &Email,
        rollout: Rollout,
        site: &SupportId,
        after: Option<&str>,
        limit: usize,
        filter: &EntitlementFilter,
        today: Day,
    ) -> Result<Option<(SiteRef, Page<VisibleEntitlement, String>)>, StoreError> {
        // Round 1: the caller's standing at this site (membership and ship-to reach, with the
        // site record, in one BatchGet), the caller's resellers and the site's unsettled orders.
        let (membership_key, reach_key, site_key) =
            (keys::membership(email, site), keys::ship_to_reach(email, site), keys::site_meta(site));
        let standing = vec![membership_key.clone(), reach_key.clone(), site_key.clone()];
        let (standing, resellers, unsettled) = futures::try_join!(
            self.batch_get("BatchGetItem caller's standing at a site", standing, true),
            self.reseller_memberships(email),
            self.unsettled_orders(site),
        )?;
        let find = |key: &Key| {
            standing.iter().find(|i| get_s(i, keys::SK) == Some(key.sk.as_str()) && get_s(i, keys::PK) == Some(key.pk.as_str()))
        };
        let Some(site_ref) = find(&site_key).and_then(|i| shown(site, i, rollout)) else { return Ok(None) };
        let member = find(&membership_key).is_some();
        let reach = find(&reach_key).map(ShipToReach::from_item).unwrap_or_default();

        // Round 2: one listing per source.
        let position = after.map(keys::normalize_position);
        let range = || match &position {
            Some(p) => Range::After(p.clone()),
            None => Range::All,
        };
        let index_listings = async {
            if member {
                let q = Query::index("Query site entitlements", keys::GSI1, keys::site_entitlements_gsi1pk(site), range()).limit(limit);
                Ok(vec![self.list(q).await?])
            } else {
                futures::future::try_join_all(resellers.iter().map(|r| {
                    self.list(Query::index("Query reseller entitlements", keys::GSI2, keys::sold_to_gsi2pk(r, site), range()).limit(limit))
                }))
                .await
            }
        };
        let shipped_listing = async {
            if reach.entitlements > 0 {
                // Consistent: a deleted copy must not come back from a replica once its order settled.
                let q = Query::table("Query ship-to copies", keys::shipped_pk(email, site), range()).limit(limit);
                self.list(q).await.map(Some)
            } else {
                Ok(None)
            }
        };
        let (index_listings, shipped_listing) = futures::try_join!(index_listings, shipped_listing)?;
        let sees_site = member || reach.entitlements > 0 || index_listings.iter().any(|l| !l.items.is_empty());
        if !sees_site && after.is_none() {
            return Ok(None);
        }
        let listings: Vec<(Source, Listing)> =
            index_listings.into_iter().map(|l| (Source::Index, l)).chain(shipped_listing.map(|l| (Source::ShipTo, l))).collect();

        let mut parsed: Vec<(Source, Vec<LineItem>, bool)> = Vec::new();
        for (source, listing) in listings {
            let lines = listing.items.into_iter().map(from_item::<LineItem>).collect::<Result<Vec<_>, _>>()?;
            parsed.push((source, lines, listing.more));
        }

        // Merge: current lines by serial; a serial seen only through an older version's entry
        // has its current line (or copy) fetched by key (the listings may lag behind the table).
        let mut frontier: Option<String> = None;
        let mut current: BTreeMap<String, (LineItem, bool)> = BTreeMap::new();
        let mut behind: BTreeMap<Key, (String, Source)> = BTreeMap::new();
        for (source, lines, more) in parsed {
            let mut last = None;
            for line in lines {
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
                    let entry = current.entry(serial).or_insert_with(|| (line.clone(), false));
                    entry.1 |= source == Source::ShipTo;
                } else {
                    let key = match source {
                        Source::Index => keys::order_line(&line.order_id, current_version, &line.line.serial),
                        Source::ShipTo => keys::shipped_line(email, site, &line.line.serial, current_version),
                    };
                    behind.insert(key, (serial, source));
                }
            }
            if more {
                frontier = min_opt(frontier, last);
            }
        }
        // Drop fetches of what a current entry already answered (the line, or the copy that
        // makes it a ship-to line).
        behind.retain(|_, (serial, source)| match current.get(serial) {
            Some((_, shipped)) => *source == Source::ShipTo && !shipped,
            None => true,
        });
        if !behind.is_empty() {
            let fetched = self.batch_get("BatchGetItem current lines", behind.into_keys().collect(), true).await?;
            for item in fetched {
                let shipped = get_s(&item, keys::PK).is_some_and(keys::is_shipped_pk);
                let line: LineItem = from_item(item)?;
                // The current version may list its lines at another site (the order moved).
                if &line.site != site {
                    continue;
                }
                let entry = current.entry(line.line.serial.to_string()).or_insert_with(|| (line.clone(), false));
                entry.1 |= shipped;
            }
        }

        let within: Vec<VisibleEntitlement> = current
            .into_values()
            .filter(|(line, _)| frontier.as_deref().is_none_or(|f| line.line.serial.as_str() <= keys::parse_position(f).0))
            .filter_map(|(line, shipped)| {
                let mut rules = Vec::new();
                if member {
                    rules.push(Access::Member);
                }
                if shipped {
                    rules.push(Access::ShipTo);
                }
                if line.reseller.as_ref().is_some_and(|r| resellers.contains(r)) {
                    rules.push(Access::Reseller);
                }
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
    /// Rounds: (1) the serial's claim, (2) the order head, (3) the line, its site, and the
    /// caller's membership of the site, grant on the order and reseller marker.
    pub async fn entitlement(
        &self,
        email: &Email,
        serial: &Serial,
        today: Day,
        rollout: Rollout,
    ) -> Result<Option<(VisibleEntitlement, SiteRef)>, StoreError> {
        let Some(claim) = self.get("GetItem serial claim", &keys::serial_claim(serial), false).await? else { return Ok(None) };
        let order_id = from_item::<SerialClaim>(claim)?.order_id;
        let Some(head) = self.order_head(&order_id, true).await? else { return Ok(None) };
        if !head.is_active() {
            return Ok(None);
        }
        let line_key = keys::order_line(&order_id, head.current_version, serial);
        let reseller_marker = async {
            match &head.reseller {
                Some(r) => self.get("GetItem reseller marker", &keys::reseller_marker(email, r), true).await,
                None => Ok(None),
            }
        };
        let (membership_key, grant_key) = (keys::membership(email, &head.end_customer), keys::ship_to_grant(email, &order_id));
        let (item, site, membership, grant, marker) = futures::try_join!(
            self.get("GetItem entitlement line", &line_key, false),
            self.shown_site(&head.end_customer, rollout),
            self.get("GetItem membership", &membership_key, true),
            self.get("GetItem ship-to grant", &grant_key, true),
            reseller_marker,
        )?;
        let Some(item) = item else { return Ok(None) };
        // A site not (yet) in views hides its keys too.
        if site.is_none() && !rollout.shows(false) {
            return Ok(None);
        }
        let line: LineItem = from_item(item)?;
        let granted = grant.map(from_item::<ShipToGrant>).transpose()?.is_some_and(|g| g.versions.contains(&head.current_version));
        let mut rules = Vec::new();
        if membership.is_some() {
            rules.push(Access::Member);
        }
        if granted {
            rules.push(Access::ShipTo);
        }
        if marker.is_some() {
            rules.push(Access::Reseller);
        }
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

/// The site as the view names it, if its record puts it in views under `rollout`.
fn shown(site: &SupportId, record: &Item, rollout: Rollout) -> Option<SiteRef> {
    rollout
        .shows(view_enabled(record))
        .then(|| SiteRef { support_id: site.clone(), name: get_s(record, "name").unwrap_or(site.as_str()).to_string() })
}

/// The rollout flag of a site record.
fn view_enabled(site_record: &Item) -> bool {
    site_record.get(super::access::VIEW_ENABLED).and_then(|v| v.as_bool().ok()).copied().unwrap_or(false)
}

/// A membership item as (site, role).
fn membership_of(item: &Item) -> Option<(SupportId, Role)> {
    Some((SupportId::parse(get_s(item, "support_id")?).ok()?, Role::parse(get_s(item, "role")?).ok()?))
}

fn min_opt<T: Ord>(a: Option<T>, b: Option<T>) -> Option<T> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}
