//! Step 4: the switch — one transaction makes the staged version the current one.

use super::entities::{tx_unsettled, UnsettledChange, VersionRecord};
use super::plan::{
    party_names, plan_seller_deltas, plan_ship_to_reach, plan_site_updates, plan_sole_marks, provisioned_by_switch, SiteCounts, SiteUpdate,
};
use super::provision::MEMBERSHIPS_PER_CHUNK;
use super::{now_rfc3339, ApplyError, OrderHead};
use crate::domain::{Order, SupportId};
use crate::store::keys;
use crate::store::table::TxError;
use crate::store::tx::{tx_delete, tx_put, tx_ship_to_reach, tx_site_record, tx_update, Cond, SiteRecordChange};
use crate::store::{get_n, get_s, n, s, Store, StoreError};
use aws_sdk_dynamodb::types::AttributeValue;
use std::collections::{BTreeMap, BTreeSet};

/// Where a switched version's provisioning stands: chunks done, a reseller whose first sale
/// needs its members' markers, and whether the end customer resells.
pub(super) struct ProvisioningState {
    pub provisioned: BTreeSet<u64>,
    pub fan_out: Option<SupportId>,
    /// The last member a fan-out that stopped had marked.
    pub fan_out_after: Option<String>,
    pub end_resells: bool,
}

impl ProvisioningState {
    pub fn of(record: VersionRecord, end_resells: bool) -> ProvisioningState {
        ProvisioningState { provisioned: record.provisioned, fan_out: record.fan_out, fan_out_after: record.fan_out_after, end_resells }
    }
}

/// A site record as the switch reads it (consistently, while staging goes on).
#[derive(Debug, Clone, Default)]
pub(super) struct StoredSite {
    pub name: Option<String>,
    pub resells: bool,
    pub counts: SiteCounts,
}

/// How a switch ended.
pub(super) enum SwitchOutcome {
    /// The version is current: what provisioning would read.
    Switched(ProvisioningState),
    /// Another version moved the head meanwhile (or this switch committed and its answer was
    /// lost): decide again from the head as it is now.
    HeadMoved,
    /// Another order's switch moved a site's counts since they were read: read them again
    /// and switch again (the staged lines stand).
    CountsMoved,
    /// The site's unsettled item names another version staged there: switch again, keeping it.
    OthersStaged,
}

impl Store {
    /// Moves the head to `order` (conditional on `old`, the head staging checked) with the exact
    /// counters and the sites' unsettled items, and marks the version record switched.
    pub(super) async fn switch(
        &self,
        order: &Order,
        digest: &str,
        old: Option<&OrderHead>,
        stored: &BTreeMap<SupportId, StoredSite>,
        held: &BTreeMap<keys::Key, keys::Item>,
        forget_unsettled: bool,
    ) -> Result<SwitchOutcome, ApplyError> {
        let now = now_rfc3339();
        let o = &order.order_id;
        let site = &order.end_customer.site.support_id;
        let reseller = order.reseller.as_ref().map(|r| r.site.support_id.clone());
        let new_count = if order.is_active() { order.lines.len() as u64 } else { 0 };
        let head = OrderHead {
            order_id: o.clone(),
            current_version: order.version,
            digest: digest.to_string(),
            status: order.status,
            ordered_at: order.ordered_at.clone(),
            end_customer: site.clone(),
            reseller: reseller.clone(),
            ship_to: order.ship_to.as_ref().map(|p| p.site.support_id.clone()),
            ship_to_contacts: order.ship_to.iter().flat_map(|p| p.emails()).cloned().collect(),
            entitlement_count: new_count,
            updated_at: now.clone(),
        };
        let mut head_item = crate::store::to_item(&head)?;
        head_item.extend(keys::order_head(o).to_item());
        let condition = match old {
            None => Cond::absent(),
            Some(h) => Cond::new("current_version = :old").value(":old", n(h.current_version)),
        };
        let mut items = vec![tx_put(&self.table, head_item, Some(condition))?];

        let names = party_names(order);
        let stored_names: BTreeMap<SupportId, String> =
            stored.iter().filter_map(|(s, record)| Some((s.clone(), record.name.clone()?))).collect();
        // A reseller selling for the first time: its record says so from now on, and its
        // existing members get reseller markers before this version's provisioning completes.
        let first_sale = reseller.clone().filter(|r| new_count > 0 && !stored.get(r).is_some_and(|record| record.resells));
        // Exact counters: what the old version contributed out, the new one's in, per site and
        // seller (a site's count moves by the sum; a reseller's sold counter by its share).
        let sellers = plan_seller_deltas(old, &head);
        let mut updates = plan_site_updates(&sellers, &names, &stored_names);
        if let Some(r) = &first_sale {
            if !updates.iter().any(|u| &u.site == r) {
                updates.push(SiteUpdate { site: r.clone(), delta: 0, name: None, sellers: BTreeMap::new() });
            }
        }
        // Where counts move, the switch is conditional on the revision it read them at, so the
        // reseller counters' `sole` marks planned from that read are exact when it commits.
        let mut counted_at = Vec::new();
        for update in updates {
            let resells = first_sale.as_ref() == Some(&update.site);
            let counted_from = (!update.sellers.is_empty()).then(|| stored.get(&update.site).map_or(0, |r| r.counts.revision));
            let change = SiteRecordChange {
                entitlements: update.delta,
                name: update.name,
                sellers: update.sellers,
                resells,
                counted_from,
                ..SiteRecordChange::default()
            };
            if counted_from.is_some() {
                counted_at.push(items.len());
            }
            items.push(tx_site_record(&self.table, &update.site, &change)?);
        }
        let mut counters: BTreeMap<(SupportId, SupportId), (i64, Option<bool>)> = BTreeMap::new();
        for (sid, per_seller) in &sellers {
            for (r, delta) in per_seller.iter().filter_map(|(r, d)| Some((r.as_ref()?, *d))) {
                counters.entry((r.clone(), sid.clone())).or_default().0 += delta;
            }
            let before = stored.get(sid).map(|r| r.counts.clone()).unwrap_or_default();
            for (r, sole) in plan_sole_marks(&before, per_seller) {
                counters.entry((r, sid.clone())).or_default().1 = Some(sole);
            }
        }
        for ((r, sid), (delta, sole)) in counters {
            // The customer's name rides on the counter, so a reseller's sites page needs no
            // site records.
            let mut values = vec![(":r", s(r.as_str())), (":s", s(sid.as_str()))];
            let mut set = vec!["reseller = :r".to_string(), "support_id = :s".to_string()];
            if let Some(name) = names.get(&sid) {
                values.push((":name", s(name.clone())));
                set.push("#name = :name".to_string());
            }
            if let Some(sole) = sole {
                values.push((":sole", AttributeValue::Bool(sole)));
                set.push(format!("{} = :sole", keys::SOLE));
            }
            let mut expression = format!("SET {}", set.join(", "));
            if delta != 0 {
                values.push((":d", n(delta)));
                expression.push_str(" ADD entitlements :d");
            }
            items.push(tx_update(&self.table, &keys::sold_counter(&r, &sid), &expression, values, None)?);
        }
        // Each ship-to contact's reach: the old version's contribution out, the new one's in.
        for ((email, sid), change) in plan_ship_to_reach(old, &head, &order.end_customer.site.name) {
            items.push(tx_ship_to_reach(&self.table, &email, &sid, &change)?);
        }
        // The site's listings: this version is the current one; at the site the order moved
        // away from (if it did), nothing of it is current any more.
        // A first version that is the only one ever staged at its site leaves nothing there a
        // listing could take for current: its unsettled item goes in the switch (conditional on
        // that), not in a later settle (a read, a head read and a delete).
        let unsettled_at = items.len();
        items.push(if forget_unsettled {
            let only_this = Cond::new("staged = :only AND attribute_not_exists(#current)")
                .value(":only", AttributeValue::Ns(vec![order.version.to_string()]));
            tx_delete(&self.table, &keys::unsettled(site, o), Some(only_this))?
        } else {
            tx_unsettled(&self.table, site, o, UnsettledChange::Switched { version: order.version, active: order.is_active() })?
        });
        if let Some(moved_from) = old.map(|h| &h.end_customer).filter(|s| *s != site) {
            items.push(tx_unsettled(&self.table, moved_from, o, UnsettledChange::MovedAway { version: order.version })?);
        }
        // The version is current from now on: provisioning may run (once) for it.
        let mut record_set = "SET switched = :t".to_string();
        let mut record_values = vec![(":t", AttributeValue::Bool(true))];
        if let Some(r) = &first_sale {
            record_set.push_str(", fan_out = :r");
            record_values.push((":r", s(r.as_str())));
        }
        // A repeat customer's order: every membership and marker it gives holds already.
        let end_resells = stored.get(site).is_some_and(|record| record.resells);
        let provisioned = provisioned_by_switch(order, held, end_resells, first_sale.is_some(), MEMBERSHIPS_PER_CHUNK);
        if !provisioned.is_empty() {
            record_set.push_str(" ADD provisioned :chunks");
            record_values.push((":chunks", AttributeValue::Ns(provisioned.iter().map(u64::to_string).collect())));
        }
        // A version a final exit gave up is not switched in.
        let kept = Cond::new("attribute_not_exists(abandoned)");
        items.push(tx_update(&self.table, &keys::order_version(o, order.version), &record_set, record_values, Some(kept))?);
        let record_index = items.len() - 1;
        let failed = |codes: &[String], index: usize| codes.get(index).map(String::as_str) == Some("ConditionalCheckFailed");
        match self.transact("TransactWriteItems switch order version", items).await {
            // What provisioning would read: this switch created the version's state.
            Ok(()) => Ok(SwitchOutcome::Switched(ProvisioningState {
                provisioned: provisioned.into_iter().collect(),
                fan_out: first_sale,
                fan_out_after: None,
                end_resells,
            })),
            Err(TxError::Cancelled(codes)) if failed(&codes, 0) => Ok(SwitchOutcome::HeadMoved),
            Err(TxError::Cancelled(codes)) if failed(&codes, record_index) => {
                Err(ApplyError::Abandoned { order_id: o.clone(), version: order.version })
            }
            Err(TxError::Cancelled(codes)) if counted_at.iter().any(|i| failed(&codes, *i)) => Ok(SwitchOutcome::CountsMoved),
            Err(TxError::Cancelled(codes)) if forget_unsettled && failed(&codes, unsettled_at) => Ok(SwitchOutcome::OthersStaged),
            Err(e) => Err(e.into_apply()),
        }
    }

    /// The records of the sites a switch of `order` and of `old` writes (names, whether each
    /// has resold, counts), read consistently: a reseller's first sale and the `sole` marks
    /// are decided from them.
    pub(super) async fn site_records_for_switch(
        &self,
        order: &Order,
        old: Option<&OrderHead>,
    ) -> Result<BTreeMap<SupportId, StoredSite>, StoreError> {
        let mut sites: BTreeSet<SupportId> = party_names(order).into_keys().collect();
        sites.extend(old.map(|h| h.end_customer.clone()));
        let items = self.batch_get("BatchGetItem site names", sites.iter().map(keys::site_meta).collect(), true).await?;
        Ok(items
            .iter()
            .filter_map(|i| {
                let site = SupportId::parse(keys::site_of_pk(get_s(i, keys::PK)?)?).ok()?;
                let record = StoredSite {
                    name: get_s(i, "name").map(str::to_string),
                    resells: crate::store::items::site_resells(i),
                    counts: site_counts(i),
                };
                Some((site, record))
            })
            .collect())
    }
}

/// A site record's counts: the total, the split per seller, the revision.
fn site_counts(item: &crate::store::keys::Item) -> SiteCounts {
    SiteCounts {
        total: get_n(item, "entitlement_count").unwrap_or(0),
        sellers: crate::store::items::site_sellers(item),
        revision: get_n(item, keys::COUNTS_REVISION).unwrap_or(0).max(0) as u64,
    }
}
