//! Step 5: P1/P2 for a switched version, exactly once (spec §3), and the reseller markers
//! of a site's members at its first resale.

use super::entities::{reseller_marker_item, VersionRecord};
use super::switch::ProvisioningState;
use super::{now_rfc3339, ApplyError, ApplyOptions, Step};
use crate::domain::{provisioning, Email, Order, SupportId};
use crate::store::keys;
use crate::store::table::{Query, Range, TxError};
use crate::store::tx::{tx_check, tx_put, tx_update, Cond};
use crate::store::{from_item, get_s, n, Store, StoreError};
use aws_sdk_dynamodb::types::AttributeValue;
use std::collections::BTreeSet;

/// Memberships per provisioning transaction: two items each at most (membership + reseller
/// marker), with the version record and a site check under the 100-item limit.
const MEMBERSHIPS_PER_CHUNK: usize = 45;
const SITE_ATTEMPTS: usize = 3;

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
                self.fan_out_reseller(r).await?;
                if memberships.is_empty() {
                    // No chunk will clear it: done here (else the first chunk's transaction does).
                    self.update("UpdateItem fan-out done", &record_key, "REMOVE fan_out", vec![], None).await?;
                }
            }
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
                    "ADD provisioned :chunks REMOVE fan_out",
                    vec![(":chunks", AttributeValue::Ns(vec![index.to_string()]))],
                    Some(mark),
                )?];
                for (email, site) in chunk {
                    items.push(crate::store::access::tx_membership(
                        &self.table,
                        email,
                        site,
                        crate::store::access::RoleWrite::KeepOrUser,
                        &now,
                        None,
                    )?);
                    if Some(site) == reseller || (site == end && end_resells) {
                        items.push(tx_put(&self.table, reseller_marker_item(email, site), None)?);
                    }
                }
                // The end customer must still not resell, as read (else its members need markers).
                let checks_end = !end_resells && chunk.iter().any(|(_, site)| site == end && Some(site) != reseller);
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

    /// A site that resells for the first time: every existing member gets a reseller marker
    /// (conditional on the membership still existing). Idempotent.
    async fn fan_out_reseller(&self, reseller: &SupportId) -> Result<(), StoreError> {
        let members = self
            .query_all(
                Query::index("Query site members", keys::GSI1, keys::site_members_gsi1pk(reseller), Range::All).eventually_consistent(),
            )
            .await?;
        let emails: Vec<Email> = members.iter().filter_map(|i| Email::parse(get_s(i, "email")?).ok()).collect();
        for chunk in emails.chunks(50) {
            let mut pending: Vec<&Email> = chunk.iter().collect();
            while !pending.is_empty() {
                let mut items = Vec::new();
                for email in &pending {
                    items.push(tx_check(&self.table, &keys::membership(email, reseller), Cond::new("attribute_exists(#pk)"))?);
                    items.push(tx_put(&self.table, reseller_marker_item(email, reseller), None)?);
                }
                match self.transact("TransactWriteItems reseller markers", items).await {
                    Ok(()) => break,
                    // Members removed meanwhile get no marker.
                    Err(TxError::Cancelled(codes)) => {
                        let gone: BTreeSet<usize> =
                            codes.iter().enumerate().filter(|(_, c)| c.as_str() == "ConditionalCheckFailed").map(|(i, _)| i / 2).collect();
                        if gone.is_empty() {
                            return Err(StoreError::Unavailable {
                                op: "reseller markers",
                                code: "TransactionCanceled".into(),
                                message: format!("{codes:?}"),
                            });
                        }
                        pending = pending.into_iter().enumerate().filter(|(i, _)| !gone.contains(i)).map(|(_, e)| e).collect();
                    }
                    Err(TxError::Store(e)) => return Err(e),
                }
            }
        }
        Ok(())
    }
}
