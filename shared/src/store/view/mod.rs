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
//!   caller belongs to and the site records of the member sites on the page (names, counts),
//!   but for member sites whose count a reseller counter marked `sole` likely gives (a third
//!   round reads those it does not);
//! - entitlements page: 3 rounds — (1) the membership, ship-to reach and site record (one
//!   BatchGet), the reseller markers and the site's unsettled orders (`UNSETTLED#{o}`: orders
//!   whose entries there are not all current, with their current version); (2) one listing per
//!   source (the site's index for a member, each reseller's index, the caller's ship-to
//!   copies); (3) the unsettled orders again and the heads of the page's other orders (an
//!   index may list an entry of a version that is no longer current), and the current line of
//!   a serial seen only through an older version's entry, by key (rare);
//! - detail: 4 rounds — the claim, the order head, the line with the caller's membership,
//!   grant and reseller marker, the audit write.
//!
//! Calls per page are constant: they grow with neither entitlements, memberships nor grants
//! (only with the number of reseller organisations a contact belongs to, in practice one).

mod detail;
mod merge;
mod renewals;
pub use renewals::{Renewal, RenewalWindow, DEFAULT_WINDOW_DAYS, MAX_WINDOW_DAYS};

use super::items::{ShipToReach, SoldCounter};
use super::keys::{self, Item, Key};
use super::orders::LineItem;
use super::table::{Query, Range};
use super::{from_item, get_n, get_s, Store, StoreError};
use crate::domain::access::Rollout;
use crate::domain::entitlement::OrderHead;
pub use crate::domain::entitlement::{EntitlementFilter, EntitlementStatus, Page, SiteRef, ViewSite, VisibleEntitlement};
use crate::domain::{Access, Day, Email, OrderId, Role, SupportId};
use merge::{min_opt, CurrentVersions, Listed, Source, Unsettled, UnsettledOrders};
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
    /// The current lines per seller (`None`: direct sales), for orders switched since the
    /// record kept them: each is at most the true count, `entitlements` is their exact sum.
    pub sellers: BTreeMap<Option<SupportId>, i64>,
}

impl SiteRecord {
    /// What a reseller counter marked `sole` tells of its site: the exact count (and the name
    /// the reseller's latest order gave it), in views (counters are read only when every site is).
    fn counted(site: &SupportId, entitlements: u64, name: Option<String>) -> SiteRecord {
        SiteRecord { name: name.unwrap_or_else(|| site.to_string()), entitlements, view_enabled: true, sellers: BTreeMap::new() }
    }

    fn from_item(site: &SupportId, item: &Item) -> SiteRecord {
        let sellers = super::items::site_sellers(item);
        SiteRecord {
            name: get_s(item, "name").unwrap_or(site.as_str()).to_string(),
            entitlements: get_n(item, "entitlement_count").unwrap_or(0).max(0) as u64,
            view_enabled: view_enabled(item),
            sellers,
        }
    }
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
    async fn unsettled_orders(&self, site: &SupportId) -> Result<UnsettledOrders, StoreError> {
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

    /// The current version of each order (`None`: not active), from its head read
    /// consistently — one BatchGet of up to 100 heads a call, all in one round.
    async fn current_versions(&self, orders: BTreeSet<OrderId>) -> Result<CurrentVersions, StoreError> {
        if orders.is_empty() {
            return Ok(CurrentVersions::new());
        }
        let heads = self.batch_get("BatchGetItem order heads of a page", orders.iter().map(keys::order_head).collect(), true).await?;
        let mut current: CurrentVersions = orders.into_iter().map(|o| (o, None)).collect();
        for item in heads {
            let head: OrderHead = from_item(item)?;
            current.insert(head.order_id.clone(), head.is_active().then_some(head.current_version));
        }
        Ok(current)
    }

    /// A contact's memberships, read consistently (for `/v1/me` and tests).
    pub async fn memberships(&self, email: &Email) -> Result<BTreeMap<SupportId, Role>, StoreError> {
        let q = Query::table("Query memberships", keys::contact_pk(email), Range::Prefix(keys::MEMBER_PREFIX.into()));
        let now = now_stamp();
        Ok(self.query_all(q).await?.iter().filter(|i| in_force(i, &now)).filter_map(membership_of).collect())
    }

    /// The sites whose markers say the contact reaches their customers (R3), consistently:
    /// a member removed with a 204 loses its marker in the same transaction.
    async fn reseller_memberships(&self, email: &Email) -> Result<BTreeSet<SupportId>, StoreError> {
        let q = Query::table("Query reseller markers", keys::contact_pk(email), Range::Prefix(keys::RESELLER_PREFIX.into()));
        let now = now_stamp();
        Ok(self
            .query_all(q)
            .await?
            .iter()
            .filter(|i| in_force(i, &now))
            .filter_map(|i| SupportId::parse(get_s(i, "support_id")?).ok())
            .collect())
    }

    /// Name, exact entitlement count and rollout flag of each site record.
    pub(crate) async fn site_records(&self, sites: impl Iterator<Item = &SupportId>) -> Result<HashMap<SupportId, SiteRecord>, StoreError> {
        self.read_site_records("BatchGetItem sites", sites, false).await
    }

    async fn read_site_records(
        &self,
        op: &'static str,
        sites: impl Iterator<Item = &SupportId>,
        consistent: bool,
    ) -> Result<HashMap<SupportId, SiteRecord>, StoreError> {
        let sites: Vec<SupportId> = sites.cloned().collect();
        if sites.is_empty() {
            return Ok(HashMap::new());
        }
        let items = self.batch_get(op, sites.iter().map(keys::site_meta).collect(), consistent).await?;
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
        let now = now_stamp();
        let memberships: BTreeMap<SupportId, Role> = members.items.iter().filter(|i| in_force(i, &now)).filter_map(membership_of).collect();
        let reaches: BTreeMap<SupportId, ShipToReach> =
            ship_to.items.iter().map(ShipToReach::from_item).filter_map(|r| Some((r.support_id.clone()?, r))).collect();

        // Round 2: what each reseller sold, per customer site, and the member sites' records —
        // except those of sites the caller became a member of through an order one of its
        // reseller organisations sold (P1): that counter, marked `sole`, likely gives the
        // site's exact count. Those no counter covers after all are read in a third round.
        let sold_range = match after {
            Some(a) => Range::After(format!("{}{a}", keys::SOLD_PREFIX)),
            None => Range::Prefix(keys::SOLD_PREFIX.into()),
        };
        let sold_listings = futures::future::try_join_all(resellers.iter().map(|r| {
            self.list(
                Query::table("Query reseller customer sites", keys::sold_pk(r), sold_range.clone()).eventually_consistent().limit(limit),
            )
        }));
        let hinted: BTreeSet<SupportId> =
            members.items.iter().filter(|i| sold_by_one_of(i, &resellers)).filter_map(membership_of).map(|(s, _)| s).collect();
        let read_now = memberships.keys().filter(|s| rollout != Rollout::Everyone || !hinted.contains(*s));
        let (sold_listings, mut records) = futures::try_join!(sold_listings, self.site_records(read_now))?;

        let mut frontier: Option<SupportId> = None;
        let mut stop_at = |more: bool, last: Option<SupportId>| {
            if more {
                frontier = min_opt(frontier.take(), last);
            }
        };
        stop_at(members.more, memberships.keys().next_back().cloned());
        stop_at(ship_to.more, reaches.keys().next_back().cloned());
        let mut sold: BTreeMap<SupportId, (u64, Option<String>)> = BTreeMap::new();
        // Sites whose every current line one of the caller's resellers sold: (count, name).
        let mut sole: HashMap<SupportId, (u64, Option<String>)> = HashMap::new();
        for listing in &sold_listings {
            let mut last = None;
            for item in &listing.items {
                let counter: SoldCounter = from_item(item.clone())?;
                let count = counter.entitlements.max(0) as u64;
                if counter.sole {
                    sole.insert(counter.support_id.clone(), (count, counter.name.clone()));
                }
                let entry = sold.entry(counter.support_id.clone()).or_default();
                entry.0 += count;
                entry.1 = entry.1.take().or(counter.name);
                last = Some(counter.support_id);
            }
            stop_at(listing.more, last);
        }
        let within = |site: &SupportId| frontier.as_ref().is_none_or(|f| site <= f);
        let candidates: BTreeSet<&SupportId> = memberships.keys().chain(reaches.keys()).chain(sold.keys()).filter(|s| within(s)).collect();

        // Round 3, for member sites on the page that no `sole` counter covers.
        let uncovered: Vec<&SupportId> =
            memberships.keys().filter(|s| within(s) && !records.contains_key(*s) && !sole.contains_key(*s)).collect();
        records.extend(self.site_records(uncovered.into_iter()).await?);
        for (site, (count, name)) in sole.into_iter().filter(|(s, _)| memberships.contains_key(s)) {
            records.entry(site.clone()).or_insert_with(|| SiteRecord::counted(&site, count, name));
        }

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
    /// returned only once its current entry was read or fetched. Every line returned was its
    /// order's current version at the site at some moment of the read ([`merge`]).
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
        let (standing, resellers, before) = futures::try_join!(
            self.batch_get("BatchGetItem caller's standing at a site", standing, true),
            self.reseller_memberships(email),
            self.unsettled_orders(site),
        )?;
        let find = |key: &Key| {
            standing.iter().find(|i| get_s(i, keys::SK) == Some(key.sk.as_str()) && get_s(i, keys::PK) == Some(key.pk.as_str()))
        };
        let Some(site_ref) = find(&site_key).and_then(|i| shown(site, i, rollout)) else { return Ok(None) };
        let member = find(&membership_key).is_some_and(|i| in_force(i, &now_stamp()));
        let reach = find(&reach_key).map(ShipToReach::from_item).unwrap_or_default();

        // Round 2: one listing per source.
        let listings = self.entitlement_listings(email, site, member, &resellers, reach.entitlements > 0, after, limit).await?;
        let sees_site = member || reach.entitlements > 0 || listings.iter().any(|l| l.source == Source::Index && !l.lines.is_empty());
        if !sees_site && after.is_none() {
            return Ok(None);
        }
        let mut sorted = merge::sort_listings(email, site, listings, &before);

        // Round 3: the site's unsettled orders again (a version staged since round 1 may be
        // listed), and the current lines that older entries led to (the listings lag).
        let fetch = std::mem::take(&mut sorted.fetch);
        let fetched = async {
            if fetch.is_empty() {
                return Ok(Vec::new());
            }
            let items = self.batch_get("BatchGetItem current lines", fetch, true).await?;
            items
                .into_iter()
                .map(|item| {
                    let shipped = get_s(&item, keys::PK).is_some_and(keys::is_shipped_pk);
                    Ok((from_item::<LineItem>(item)?, shipped))
                })
                .collect::<Result<Vec<_>, StoreError>>()
        };
        let heads = self.current_versions(merge::orders_to_verify(&sorted, &before));
        let (after_listing, fetched, heads) = futures::try_join!(self.unsettled_orders(site), fetched, heads)?;
        merge::add_fetched(&mut sorted, site, fetched);
        let rules = merge::PageRules { site, member, resellers: &resellers, filter, today, limit };
        Ok(Some((site_ref, merge::page(sorted, &before, &after_listing, &heads, &rules))))
    }

    /// Round 2 of an entitlements page: the site's index for a member (else each reseller's
    /// index of its sales to the site), and the caller's ship-to copies when they have any.
    #[allow(clippy::too_many_arguments)]
    async fn entitlement_listings(
        &self,
        email: &Email,
        site: &SupportId,
        member: bool,
        resellers: &BTreeSet<SupportId>,
        ships: bool,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<Listed>, StoreError> {
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
            if ships {
                // Consistent: a deleted copy must not come back from a replica once its order settled.
                let q = Query::table("Query ship-to copies", keys::shipped_pk(email, site), range()).limit(limit);
                self.list(q).await.map(Some)
            } else {
                Ok(None)
            }
        };
        let (index_listings, shipped_listing) = futures::try_join!(index_listings, shipped_listing)?;
        let listings = index_listings.into_iter().map(|l| (Source::Index, l)).chain(shipped_listing.map(|l| (Source::ShipTo, l)));
        listings
            .map(|(source, listing)| {
                let lines = listing.items.into_iter().map(from_item::<LineItem>).collect::<Result<Vec<_>, _>>()?;
                Ok(Listed { source, lines, more: listing.more })
            })
            .collect()
    }
}

/// The site as the view names it, if its record puts it in views under `rollout`.
pub(crate) fn shown(site: &SupportId, record: &Item, rollout: Rollout) -> Option<SiteRef> {
    rollout
        .shows(view_enabled(record))
        .then(|| SiteRef { support_id: site.clone(), name: get_s(record, "name").unwrap_or(site.as_str()).to_string() })
}

/// The rollout flag of a site record.
fn view_enabled(site_record: &Item) -> bool {
    site_record.get(super::access::VIEW_ENABLED).and_then(|v| v.as_bool().ok()).copied().unwrap_or(false)
}

/// Is a membership (or reseller marker) item still in force now? An ended membership shows
/// nothing from its end on, whether or not the sweep has removed it yet (issue 21); the
/// decision is `domain::rules::membership_in_force`.
pub(crate) fn in_force(item: &Item, now: &str) -> bool {
    crate::domain::rules::membership_in_force(super::access_expiry::ends_at_of(item), now)
}

/// Now, as a stamp (what `ends_at` is compared with).
pub(crate) fn now_stamp() -> String {
    crate::domain::access::Stamp::of(time::OffsetDateTime::now_utc()).as_str().to_string()
}

/// A membership provisioned from an order sold by one of `resellers` ([`keys::SOLD_BY`]).
fn sold_by_one_of(item: &Item, resellers: &BTreeSet<SupportId>) -> bool {
    get_s(item, keys::SOLD_BY).and_then(|r| SupportId::parse(r).ok()).is_some_and(|r| resellers.contains(&r))
}

/// A membership item as (site, role).
fn membership_of(item: &Item) -> Option<(SupportId, Role)> {
    Some((SupportId::parse(get_s(item, "support_id")?).ok()?, Role::parse(get_s(item, "role")?).ok()?))
}
