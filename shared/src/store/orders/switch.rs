//! Step 4: the switch — one transaction makes the staged version the current one.

use super::entities::{tx_unsettled, UnsettledChange, VersionRecord};
use super::plan::{party_names, plan_seller_deltas, plan_ship_to_reach, plan_site_updates, SiteUpdate};
use super::{now_rfc3339, ApplyError, OrderHead};
use crate::domain::{Order, SupportId};
use crate::store::keys;
use crate::store::table::TxError;
use crate::store::tx::{tx_put, tx_ship_to_reach, tx_site_record, tx_update, Cond, SiteRecordChange};
use crate::store::{get_s, n, s, Store, StoreError};
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

impl Store {
    /// Moves the head to `order` (conditional on `old`, the head staging checked) with the exact
    /// counters and the sites' unsettled items, and marks the version record switched.
    /// `Ok(None)`: the head moved meanwhile (or this switch committed and its answer was lost).
    pub(super) async fn switch(
        &self,
        order: &Order,
        digest: &str,
        old: Option<&OrderHead>,
        stored: &BTreeMap<SupportId, (String, bool)>,
    ) -> Result<Option<ProvisioningState>, ApplyError> {
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
        let stored_names: BTreeMap<SupportId, String> = stored.iter().map(|(s, (name, _))| (s.clone(), name.clone())).collect();
        // A reseller selling for the first time: its record says so from now on, and its
        // existing members get reseller markers before this version's provisioning completes.
        let first_sale = reseller.clone().filter(|r| new_count > 0 && !stored.get(r).is_some_and(|(_, resells)| *resells));
        // Exact counters: what the old version contributed out, the new one's in, per site and
        // seller (a site's count moves by the sum; a reseller's sold counter by its share).
        let sellers = plan_seller_deltas(old, &head);
        let mut updates = plan_site_updates(&sellers, &names, &stored_names);
        if let Some(r) = &first_sale {
            if !updates.iter().any(|u| &u.site == r) {
                updates.push(SiteUpdate { site: r.clone(), delta: 0, name: None, sellers: BTreeMap::new() });
            }
        }
        for update in updates {
            let resells = first_sale.as_ref() == Some(&update.site);
            let change = SiteRecordChange {
                entitlements: update.delta,
                name: update.name,
                sellers: update.sellers,
                resells,
                ..SiteRecordChange::default()
            };
            items.push(tx_site_record(&self.table, &update.site, &change)?);
        }
        let sold = sellers.iter().flat_map(|(sid, per_seller)| per_seller.iter().filter_map(move |(r, d)| Some((r.as_ref()?, sid, d))));
        for (r, sid, delta) in sold {
            // The customer's name rides on the counter, so a reseller's sites page needs no
            // site records.
            let mut values = vec![(":r", s(r.as_str())), (":s", s(sid.as_str())), (":d", n(*delta))];
            let expression = match names.get(sid) {
                Some(name) => {
                    values.push((":name", s(name.clone())));
                    "SET reseller = :r, support_id = :s, #name = :name ADD entitlements :d"
                }
                None => "SET reseller = :r, support_id = :s ADD entitlements :d",
            };
            items.push(tx_update(&self.table, &keys::sold_counter(r, sid), expression, values, None)?);
        }
        // Each ship-to contact's reach: the old version's contribution out, the new one's in.
        for ((email, sid), change) in plan_ship_to_reach(old, &head, &order.end_customer.site.name) {
            items.push(tx_ship_to_reach(&self.table, &email, &sid, &change)?);
        }
        // The site's listings: this version is the current one; at the site the order moved
        // away from (if it did), nothing of it is current any more.
        items.push(tx_unsettled(&self.table, site, o, UnsettledChange::Switched { version: order.version, active: order.is_active() })?);
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
        // A version a final exit gave up is not switched in.
        let kept = Cond::new("attribute_not_exists(abandoned)");
        items.push(tx_update(&self.table, &keys::order_version(o, order.version), &record_set, record_values, Some(kept))?);
        let record_index = items.len() - 1;
        let end_resells = stored.get(site).is_some_and(|(_, resells)| *resells);
        match self.transact("TransactWriteItems switch order version", items).await {
            // What provisioning would read: this switch created the version's state.
            Ok(()) => Ok(Some(ProvisioningState { provisioned: BTreeSet::new(), fan_out: first_sale, fan_out_after: None, end_resells })),
            Err(TxError::Cancelled(codes)) if codes.first().map(String::as_str) == Some("ConditionalCheckFailed") => Ok(None),
            Err(TxError::Cancelled(codes)) if codes.get(record_index).map(String::as_str) == Some("ConditionalCheckFailed") => {
                Err(ApplyError::Abandoned { order_id: o.clone(), version: order.version })
            }
            Err(e) => Err(e.into_apply()),
        }
    }

    /// The stored names of some sites and whether each has resold, read consistently: a
    /// reseller's first sale is decided from it.
    pub(super) async fn site_records_for_switch(&self, order: &Order) -> Result<BTreeMap<SupportId, (String, bool)>, StoreError> {
        let items = self.batch_get("BatchGetItem site names", party_names(order).keys().map(keys::site_meta).collect(), true).await?;
        Ok(items
            .iter()
            .filter_map(|i| {
                let site = SupportId::parse(keys::site_of_pk(get_s(i, keys::PK)?)?).ok()?;
                Some((site, (get_s(i, "name")?.to_string(), crate::store::items::site_resells(i))))
            })
            .collect())
    }
}
