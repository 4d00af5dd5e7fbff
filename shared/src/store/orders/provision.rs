//! Step 5: P1/P2 for a switched version, exactly once (spec §3), and the reseller markers
//! of a site's members at its first resale.

use super::entities::{membership_as_read, reseller_marker_item, VersionRecord};
use super::plan::needs_reseller_marker;
use super::switch::ProvisioningState;
use super::{now_rfc3339, ApplyError, ApplyOptions, Step};
use crate::domain::{provisioning, Email, Order, SupportId};
use crate::store::access_expiry::ends_at_of;
use crate::store::keys;
use crate::store::keys::Item;
use crate::store::table::{Query, Range, TxError};
use crate::store::tx::{tx_check, tx_put, tx_update, Cond};
use crate::store::{from_item, get_s, n, Store, StoreError};
use aws_sdk_dynamodb::types::AttributeValue;
use std::collections::{BTreeMap, BTreeSet};

/// Memberships per provisioning transaction: three items each at most (membership, roster
/// entry, reseller marker), with the version record and a site check under the 100-item limit.
pub(super) const MEMBERSHIPS_PER_CHUNK: usize = 32;
/// Members per page of a first resale's fan-out.
const FAN_OUT_PAGE: usize = 50;
const SITE_ATTEMPTS: usize = 3;
/// How many times a chunk of reseller markers is tried again after memberships changed under it.
const MARKER_ATTEMPTS: usize = 5;

impl Store {
    /// P1/P2 for a switched version, exactly once: each chunk of memberships (with the reseller
    /// markers of sites that resell) commits together with its mark on the version record, so a
    /// redelivery neither repeats it (a member an admin removed stays removed) nor misses it.
    /// A version that was never switched provisions nothing.
    pub(super) async fn provision(
        &self,
        order: &Order,
        known: Option<ProvisioningState>,
        options: &ApplyOptions,
    ) -> Result<(), ApplyError> {
        let o = &order.order_id;
        let end = &order.end_customer.site.support_id;
        let reseller = order.reseller.as_ref().map(|r| &r.site.support_id);
        let memberships: Vec<(Email, SupportId)> = provisioning(order).memberships.into_iter().collect();
        let record_key = keys::order_version(o, order.version);
        let mut known = known;
        for _ in 0..SITE_ATTEMPTS {
            let state = match known.take() {
                Some(state) => state,
                None => {
                    let read =
                        self.batch_get("BatchGetItem provisioning state", vec![record_key.clone(), keys::site_meta(end)], true).await?;
                    let Some(record) = read.iter().find(|i| get_s(i, keys::SK) == Some(record_key.sk.as_str())) else { return Ok(()) };
                    let record: VersionRecord = from_item(record.clone())?;
                    if !record.switched {
                        return Ok(());
                    }
                    let end_resells = read
                        .iter()
                        .any(|i| get_s(i, keys::PK) == Some(keys::site_pk(end).as_str()) && crate::store::items::site_resells(i));
                    ProvisioningState::of(record, end_resells)
                }
            };
            let end_resells = state.end_resells;
            if let Some(r) = &state.fan_out {
                self.fan_out_reseller(r, &record_key, state.fan_out_after.as_deref()).await?;
                if memberships.is_empty() {
                    // No chunk will clear it: done here (else the first chunk's transaction does).
                    self.update("UpdateItem fan-out done", &record_key, "REMOVE fan_out, fan_out_after", vec![], None).await?;
                }
            }
            // What already holds is not written again: a big reseller's contacts are provisioned
            // by every one of its orders, and rewriting their items would make them hot.
            let pending: Vec<&(Email, SupportId)> = memberships
                .chunks(MEMBERSHIPS_PER_CHUNK)
                .enumerate()
                .filter(|(index, _)| !state.provisioned.contains(&(*index as u64)))
                .flat_map(|(_, chunk)| chunk.iter())
                .collect();
            let held = self.held_items(&pending).await?;
            let mut retry = false;
            for (index, chunk) in memberships.chunks(MEMBERSHIPS_PER_CHUNK).enumerate() {
                let index = index as u64;
                if state.provisioned.contains(&index) {
                    continue;
                }
                let now = now_rfc3339();
                let mark = Cond::new("NOT contains(provisioned, :chunk)").value(":chunk", n(index));
                let mut items = vec![tx_update(
                    &self.table,
                    &record_key,
                    "ADD provisioned :chunks REMOVE fan_out, fan_out_after",
                    vec![(":chunks", AttributeValue::Ns(vec![index.to_string()]))],
                    Some(mark),
                )?];
                let mut writes_end_member = false;
                for (email, site) in chunk {
                    let membership = held.get(&keys::membership(email, site));
                    if membership.is_none() {
                        items.push(crate::store::access::tx_membership(
                            &self.table,
                            email,
                            site,
                            crate::store::access::RoleWrite::KeepOrUser,
                            &now,
                            reseller.filter(|r| site == end && *r != site),
                            None,
                        )?);
                        items.push(tx_put(&self.table, crate::store::access::roster_item(email, site), None)?);
                        writes_end_member |= site == end && Some(site) != reseller;
                    }
                    if needs_reseller_marker(site, end, reseller, end_resells) && !held.contains_key(&keys::reseller_marker(email, site)) {
                        // A membership held already may end: its marker carries the end, and
                        // is written only if the membership still reads as it did.
                        let ends_at = membership.and_then(ends_at_of);
                        if membership.is_some() {
                            items.push(tx_check(&self.table, &keys::membership(email, site), membership_as_read(ends_at))?);
                        }
                        items.push(tx_put(&self.table, reseller_marker_item(email, site, ends_at), None)?);
                    }
                }
                // The end customer must still not resell, as read (else its members need markers).
                let checks_end = !end_resells && writes_end_member;
                if checks_end {
                    items.push(tx_check(&self.table, &keys::site_meta(end), Cond::site_unsold())?);
                }
                match self.transact("TransactWriteItems provision memberships", items).await {
                    Ok(()) => {}
                    // Already committed by an earlier delivery.
                    Err(TxError::Cancelled(codes)) if codes.first().map(String::as_str) == Some("ConditionalCheckFailed") => {}
                    Err(TxError::Cancelled(_)) if checks_end => {
                        retry = true;
                        break;
                    }
                    Err(e) => return Err(e.into_apply()),
                }
            }
            if !retry {
                return options.reached(Step::Provisioned).await;
            }
        }
        Err(StoreError::Unavailable { op: "provision", code: "SiteContention".into(), message: "the site record kept moving".into() }
            .into())
    }

    /// What a version's provisioning would find held (its memberships and their reseller
    /// markers, read consistently), read while staging goes on: when it all holds already —
    /// a repeat customer's order — the switch marks provisioning done and no round is spent
    /// on it ([`super::plan::provisioned_by_switch`]).
    pub(super) async fn held_for_switch(&self, order: &Order) -> Result<BTreeMap<keys::Key, Item>, StoreError> {
        let memberships: Vec<(Email, SupportId)> = provisioning(order).memberships.into_iter().collect();
        self.held_items(&memberships.iter().collect::<Vec<_>>()).await
    }

    /// Which of these memberships and reseller markers exist, by key (read consistently).
    async fn held_items(&self, memberships: &[&(Email, SupportId)]) -> Result<BTreeMap<keys::Key, Item>, StoreError> {
        if memberships.is_empty() {
            return Ok(BTreeMap::new());
        }
        let wanted: Vec<keys::Key> =
            memberships.iter().flat_map(|(email, site)| [keys::membership(email, site), keys::reseller_marker(email, site)]).collect();
        let found = self.batch_get("BatchGetItem provisioned already", wanted, true).await?;
        Ok(found
            .into_iter()
            .filter_map(|i| Some((keys::Key { pk: get_s(&i, keys::PK)?.into(), sk: get_s(&i, keys::SK)?.into() }, i)))
            .collect())
    }

    /// A site that resells for the first time: every member gets a reseller marker
    /// (conditional on the membership still existing). The members come from the site's
    /// roster, read consistently a page at a time; after each page its last member is noted on
    /// the version record (`fan_out_after`), so a fan-out the function could not finish goes
    /// on where it stopped. Members from before the roster existed are found through the
    /// members index last. Idempotent.
    async fn fan_out_reseller(&self, reseller: &SupportId, record_key: &keys::Key, resume_after: Option<&str>) -> Result<(), StoreError> {
        let mut after: Option<String> = resume_after.map(str::to_string);
        loop {
            let lo = format!("{}{}", keys::MEMBER_PREFIX, after.as_deref().unwrap_or(""));
            let q = Query::table("Query site roster", keys::site_pk(reseller), Range::Between(lo, format!("{}~", keys::MEMBER_PREFIX)))
                .limit(FAN_OUT_PAGE);
            let page = self.query_page(&q).await?;
            let emails: Vec<Email> = page
                .items
                .iter()
                .filter_map(|i| Email::parse(get_s(i, "email")?).ok())
                .filter(|e| Some(e.as_str()) != after.as_deref())
                .collect();
            self.give_markers(reseller, &emails).await?;
            match (page.last_key, emails.last()) {
                (Some(_), Some(last)) => {
                    let noted = vec![(":after", crate::store::s(last.as_str()))];
                    self.update("UpdateItem fan-out progress", record_key, "SET fan_out_after = :after", noted, None).await?;
                    after = Some(last.to_string());
                }
                _ => break,
            }
        }
        let legacy = self
            .query_all(
                Query::index("Query site members", keys::GSI1, keys::site_members_gsi1pk(reseller), Range::All).eventually_consistent(),
            )
            .await?;
        let emails: Vec<Email> = legacy.iter().filter_map(|i| Email::parse(get_s(i, "email")?).ok()).collect();
        self.give_markers(reseller, &emails).await
    }

    /// Reseller markers for these members of `reseller`, 50 to a transaction, each conditional
    /// on its membership as read: members removed meanwhile get none, and a membership with an
    /// end gives its marker the same end (read consistently after the first refusal).
    async fn give_markers(&self, reseller: &SupportId, emails: &[Email]) -> Result<(), StoreError> {
        for chunk in emails.chunks(50) {
            let mut pending: Vec<(&Email, Option<String>)> = chunk.iter().map(|e| (e, None)).collect();
            let mut attempts = 0;
            while !pending.is_empty() {
                let mut items = Vec::new();
                for (email, ends_at) in &pending {
                    items.push(tx_check(&self.table, &keys::membership(email, reseller), membership_as_read(ends_at.as_deref()))?);
                    items.push(tx_put(&self.table, reseller_marker_item(email, reseller, ends_at.as_deref()), None)?);
                }
                match self.transact("TransactWriteItems reseller markers", items).await {
                    Ok(()) => break,
                    Err(TxError::Cancelled(codes)) if attempts < MARKER_ATTEMPTS => {
                        attempts += 1;
                        let refused: BTreeSet<usize> =
                            codes.iter().enumerate().filter(|(_, c)| c.as_str() == "ConditionalCheckFailed").map(|(i, _)| i / 2).collect();
                        if refused.is_empty() {
                            return Err(StoreError::Unavailable {
                                op: "reseller markers",
                                code: "TransactionCanceled".into(),
                                message: format!("{codes:?}"),
                            });
                        }
                        // What the refused memberships say now: gone (no marker), or with the end to copy.
                        let keys = refused.iter().map(|i| keys::membership(pending[*i].0, reseller)).collect();
                        let now: BTreeMap<String, Item> = self
                            .batch_get("BatchGetItem memberships for markers", keys, true)
                            .await?
                            .into_iter()
                            .filter_map(|i| Some((get_s(&i, "email")?.to_string(), i)))
                            .collect();
                        pending = pending
                            .into_iter()
                            .enumerate()
                            .filter_map(|(i, (email, ends_at))| match refused.contains(&i) {
                                false => Some((email, ends_at)),
                                true => now.get(email.as_str()).map(|m| (email, ends_at_of(m).map(str::to_string))),
                            })
                            .collect();
                    }
                    Err(TxError::Cancelled(codes)) => {
                        return Err(StoreError::Unavailable {
                            op: "reseller markers",
                            code: "TransactionCanceled".into(),
                            message: format!("memberships kept changing: {codes:?}"),
                        })
                    }
                    Err(TxError::Store(e)) => return Err(e),
                }
            }
        }
        Ok(())
    }
}
