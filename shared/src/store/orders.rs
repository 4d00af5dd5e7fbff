//! Applying one order version to the table (spec §3), idempotently and crash-safely.
//!
//! 1. Read the order's head (consistent). Older than the current version: stale, ignored.
//!    Equal: a duplicate if the digest matches (finish any cleanup), else a conflict.
//! 2. Record the version's digest (conditional put): the same version with other content
//!    is refused even while an earlier delivery is still half-way.
//! 3. Check every serial's claim; then stage the version in transactions of 49 lines (a
//!    serial claim + a line item each). Staged lines and ship-to grants carry the version
//!    and stay invisible: readers only trust items of the head's `current_version`.
//! 4. Switch: one transaction moves the head to the new version (conditional on the head
//!    read in 1), adjusts the exact counters, and provisions memberships — so provisioning
//!    happens once per stored version and readers never see a mix of two versions.
//! 5. Clean up older versions' lines and grants. A crash anywhere is completed by the
//!    redelivery: every step before the switch is idempotent, and a redelivery that finds
//!    the switch done only cleans up.

use super::keys::{self, Item, Key};
use super::metrics::{record_capacity, record_write_capacity};
use super::tx::{tx_put, tx_update, Cond};
use super::{from_item, get_s, n, s, Store, StoreError};
use crate::domain::{provisioning, Line, Order, OrderId, OrderStatus, Role, Serial, SupportId};
use aws_sdk_dynamodb::error::SdkError;
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::types::{AttributeValue, DeleteRequest, KeysAndAttributes, ReturnConsumedCapacity, TransactWriteItem, WriteRequest};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Lines per staging transaction: two items each, under the 100-item transaction limit.
pub const LINES_PER_CHUNK: usize = 49;
const SWITCH_ATTEMPTS: usize = 3;

/// What applying a message did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ApplyOutcome {
    /// The version is now the order's current state.
    Applied { replaced: Option<u64> },
    /// This exact version was already current; nothing changed.
    Duplicate,
    /// A higher version is already current; this one was ignored.
    Stale { current: u64 },
}

#[derive(Debug, thiserror::Error)]
pub enum ApplyError {
    #[error("version {version} of order {order_id} was already received with different content")]
    ConflictingDuplicate { order_id: OrderId, version: u64 },
    #[error("serial {serial} already belongs to order {owner}")]
    SerialTaken { serial: Serial, owner: String },
    #[error("injected crash after staging chunk {0}")]
    InjectedCrash(usize),
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl ApplyError {
    /// Permanent errors are the message's fault: retrying cannot help.
    pub fn is_permanent(&self) -> bool {
        matches!(self, ApplyError::ConflictingDuplicate { .. } | ApplyError::SerialTaken { .. })
    }
}

/// Fault injection for tests: crash after this many staging chunks.
#[derive(Debug, Clone, Copy, Default)]
pub struct ApplyOptions {
    pub crash_after_chunks: Option<usize>,
}

/// The order's current state, as readers see it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OrderHead {
    pub order_id: OrderId,
    pub current_version: u64,
    pub digest: String,
    pub status: OrderStatus,
    pub ordered_at: String,
    pub end_customer: SupportId,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reseller: Option<SupportId>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ship_to: Option<SupportId>,
    /// Lines visible through this order now: the line count, or 0 when cancelled.
    pub entitlement_count: u64,
    pub updated_at: String,
}

impl OrderHead {
    pub fn is_active(&self) -> bool {
        self.status == OrderStatus::Active
    }
}

/// One entitlement line of one order version.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LineItem {
    pub order_id: OrderId,
    pub version: u64,
    /// The owning (end-customer) site.
    pub site: SupportId,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reseller: Option<SupportId>,
    #[serde(flatten)]
    pub line: Line,
}

/// What was received for one version: enough to detect conflicting duplicates and to
/// revoke that version's grants later.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct VersionRecord {
    version: u64,
    digest: String,
    ship_to_emails: Vec<String>,
    received_at: String,
    #[serde(default)]
    cleaned: bool,
}

pub(crate) fn now_rfc3339() -> String {
    time::OffsetDateTime::now_utc().format(&time::format_description::well_known::Rfc3339).unwrap_or_default()
}

/// Why a transaction failed: cancelled by a condition (one code per item, "None" for the
/// innocent ones), or the store was unavailable.
pub(crate) enum TxError {
    Cancelled(Vec<String>),
    Store(StoreError),
}

impl Store {
    pub(crate) async fn transact(&self, op: &'static str, items: Vec<TransactWriteItem>) -> Result<(), TxError> {
        let result = self
            .ddb
            .transact_write_items()
            .set_transact_items(Some(items))
            .return_consumed_capacity(ReturnConsumedCapacity::Total)
            .send()
            .await;
        match result {
            Ok(out) => {
                record_write_capacity(out.consumed_capacity());
                Ok(())
            }
            Err(SdkError::ServiceError(e)) if matches!(e.err(), TransactWriteItemsError::TransactionCanceledException(_)) => {
                let TransactWriteItemsError::TransactionCanceledException(tce) = e.err() else { unreachable!() };
                let codes: Vec<String> = tce.cancellation_reasons().iter().map(|r| r.code().unwrap_or("None").to_string()).collect();
                if codes.iter().any(|c| c == "TransactionConflict" || c == "ThrottlingError" || c == "ProvisionedThroughputExceeded") {
                    return Err(TxError::Store(StoreError::Unavailable {
                        op,
                        code: "TransactionCanceledException".into(),
                        message: format!("cancelled by contention: {codes:?}"),
                    }));
                }
                Err(TxError::Cancelled(codes))
            }
            Err(e) => Err(TxError::Store(StoreError::from_sdk(op, e))),
        }
    }

    pub(crate) async fn get(&self, op: &'static str, key: &Key, consistent: bool) -> Result<Option<Item>, StoreError> {
        let out = self
            .ddb
            .get_item()
            .table_name(&self.table)
            .set_key(Some(key.to_item()))
            .consistent_read(consistent)
            .return_consumed_capacity(ReturnConsumedCapacity::Total)
            .send()
            .await
            .map_err(|e| StoreError::from_sdk(op, e))?;
        record_capacity(out.consumed_capacity());
        Ok(out.item)
    }

    /// Reads many items by key (any number; 100 per request, unprocessed keys retried).
    pub(crate) async fn batch_get(&self, op: &'static str, keys: Vec<Key>) -> Result<Vec<Item>, StoreError> {
        let mut unique: Vec<Key> = Vec::new();
        for k in keys {
            if !unique.contains(&k) {
                unique.push(k);
            }
        }
        let requests = unique.chunks(100).map(|chunk| self.batch_get_chunk(op, chunk.to_vec()));
        let pages = futures::future::try_join_all(requests).await?;
        Ok(pages.into_iter().flatten().collect())
    }

    async fn batch_get_chunk(&self, op: &'static str, keys: Vec<Key>) -> Result<Vec<Item>, StoreError> {
        let mut found = Vec::new();
        let mut pending: Option<KeysAndAttributes> = Some(
            KeysAndAttributes::builder()
                .set_keys(Some(keys.iter().map(Key::to_item).collect()))
                .build()
                .map_err(|e| StoreError::Corrupt(e.to_string()))?,
        );
        for attempt in 0..8 {
            let Some(request) = pending.take() else { break };
            if attempt > 0 {
                tokio::time::sleep(std::time::Duration::from_millis(25 << attempt)).await;
            }
            let out = self
                .ddb
                .batch_get_item()
                .request_items(&self.table, request)
                .return_consumed_capacity(ReturnConsumedCapacity::Total)
                .send()
                .await
                .map_err(|e| StoreError::from_sdk(op, e))?;
            record_capacity(out.consumed_capacity());
            if let Some(mut responses) = out.responses {
                found.extend(responses.remove(&self.table).unwrap_or_default());
            }
            pending = out.unprocessed_keys.and_then(|mut u| u.remove(&self.table)).filter(|k| !k.keys().is_empty());
        }
        if pending.is_some() {
            return Err(StoreError::Unavailable { op, code: "UnprocessedKeys".into(), message: "keys left unprocessed".into() });
        }
        Ok(found)
    }

    /// Deletes many items (25 per request, unprocessed ones retried).
    pub(crate) async fn batch_delete(&self, op: &'static str, keys: Vec<Key>) -> Result<(), StoreError> {
        for chunk in keys.chunks(25) {
            let mut requests: Vec<WriteRequest> = chunk
                .iter()
                .map(|k| {
                    let delete =
                        DeleteRequest::builder().set_key(Some(k.to_item())).build().map_err(|e| StoreError::Corrupt(e.to_string()))?;
                    Ok(WriteRequest::builder().delete_request(delete).build())
                })
                .collect::<Result<_, StoreError>>()?;
            for attempt in 0..8 {
                if requests.is_empty() {
                    break;
                }
                if attempt > 0 {
                    tokio::time::sleep(std::time::Duration::from_millis(25 << attempt)).await;
                }
                let out = self
                    .ddb
                    .batch_write_item()
                    .request_items(&self.table, std::mem::take(&mut requests))
                    .return_consumed_capacity(ReturnConsumedCapacity::Total)
                    .send()
                    .await
                    .map_err(|e| StoreError::from_sdk(op, e))?;
                record_write_capacity(out.consumed_capacity());
                requests = out.unprocessed_items.and_then(|mut u| u.remove(&self.table)).unwrap_or_default();
            }
            if !requests.is_empty() {
                return Err(StoreError::Unavailable { op, code: "UnprocessedItems".into(), message: "items left unprocessed".into() });
            }
        }
        Ok(())
    }

    /// Every item of a partition whose sort key starts with `prefix` (keys only if `keys_only`).
    pub(crate) async fn query_prefix(&self, op: &'static str, pk: &str, prefix: &str, keys_only: bool) -> Result<Vec<Item>, StoreError> {
        let mut items = Vec::new();
        let mut start: Option<Item> = None;
        loop {
            let mut q = self
                .ddb
                .query()
                .table_name(&self.table)
                .key_condition_expression("#pk = :pk AND begins_with(#sk, :prefix)")
                .expression_attribute_names("#pk", keys::PK)
                .expression_attribute_names("#sk", keys::SK)
                .expression_attribute_values(":pk", s(pk))
                .expression_attribute_values(":prefix", s(prefix))
                .consistent_read(true)
                .set_exclusive_start_key(start.take())
                .return_consumed_capacity(ReturnConsumedCapacity::Total);
            if keys_only {
                q = q.projection_expression("#pk, #sk");
            }
            let out = q.send().await.map_err(|e| StoreError::from_sdk(op, e))?;
            record_capacity(out.consumed_capacity());
            items.extend(out.items.unwrap_or_default());
            match out.last_evaluated_key {
                Some(k) if !k.is_empty() => start = Some(k),
                _ => break,
            }
        }
        Ok(items)
    }

    pub async fn order_head(&self, order_id: &OrderId, consistent: bool) -> Result<Option<OrderHead>, StoreError> {
        match self.get("GetItem order head", &keys::order_head(order_id), consistent).await? {
            Some(item) => Ok(Some(from_item(item)?)),
            None => Ok(None),
        }
    }

    /// Applies one parsed order message. See the module docs for the steps.
    pub async fn apply_order(&self, order: &Order, options: ApplyOptions) -> Result<ApplyOutcome, ApplyError> {
        let digest = order.digest();
        for _ in 0..SWITCH_ATTEMPTS {
            let head = self.order_head(&order.order_id, true).await?;
            if let Some(head) = &head {
                if head.current_version > order.version {
                    // Cleaned again even if marked so: a delivery of this version may have
                    // staged more lines after a newer version's cleanup had passed.
                    self.clean_versions(&order.order_id, |v| v == order.version, true).await?;
                    return Ok(ApplyOutcome::Stale { current: head.current_version });
                }
                if head.current_version == order.version {
                    if head.digest != digest {
                        return Err(ApplyError::ConflictingDuplicate { order_id: order.order_id.clone(), version: order.version });
                    }
                    self.clean_versions(&order.order_id, |v| v < order.version, false).await?;
                    return Ok(ApplyOutcome::Duplicate);
                }
            }
            self.record_version(order, &digest).await?;
            self.check_serials(order).await?;
            self.stage(order, options).await?;
            match self.switch(order, &digest, head.as_ref()).await {
                Ok(()) => {
                    self.clean_versions(&order.order_id, |v| v < order.version, false).await?;
                    return Ok(ApplyOutcome::Applied { replaced: head.map(|h| h.current_version) });
                }
                // Another version moved the head meanwhile: decide again from the new head.
                Err(SwitchError::HeadMoved) => continue,
                Err(SwitchError::Apply(e)) => return Err(e),
            }
        }
        Err(StoreError::Unavailable { op: "apply order", code: "HeadContention".into(), message: "the order head kept moving".into() }
            .into())
    }

    async fn record_version(&self, order: &Order, digest: &str) -> Result<(), ApplyError> {
        let record = VersionRecord {
            version: order.version,
            digest: digest.to_string(),
            ship_to_emails: order.ship_to.iter().flat_map(|p| p.emails()).map(|e| e.to_string()).collect(),
            received_at: now_rfc3339(),
            cleaned: false,
        };
        let key = keys::order_version(&order.order_id, order.version);
        let mut item = super::to_item(&record)?;
        item.extend(key.to_item());
        let result = self
            .ddb
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .condition_expression("attribute_not_exists(#pk) OR digest = :digest")
            .expression_attribute_names("#pk", keys::PK)
            .expression_attribute_values(":digest", s(digest))
            .return_consumed_capacity(ReturnConsumedCapacity::Total)
            .send()
            .await;
        match result {
            Ok(out) => {
                record_write_capacity(out.consumed_capacity());
                Ok(())
            }
            Err(SdkError::ServiceError(e)) if e.err().is_conditional_check_failed_exception() => {
                Err(ApplyError::ConflictingDuplicate { order_id: order.order_id.clone(), version: order.version })
            }
            Err(e) => Err(StoreError::from_sdk("PutItem order version", e).into()),
        }
    }

    /// Refuses the message before writing any line if a serial belongs to another order.
    async fn check_serials(&self, order: &Order) -> Result<(), ApplyError> {
        let claims =
            self.batch_get("BatchGetItem serial claims", order.lines.iter().map(|l| keys::serial_claim(&l.serial)).collect()).await?;
        for claim in claims {
            let owner = get_s(&claim, "order_id").unwrap_or_default();
            if owner != order.order_id.as_str() {
                let serial = get_s(&claim, "serial").and_then(|s| Serial::parse(s).ok());
                if let Some(serial) = serial {
                    return Err(ApplyError::SerialTaken { serial, owner: owner.to_string() });
                }
            }
        }
        Ok(())
    }

    async fn stage(&self, order: &Order, options: ApplyOptions) -> Result<(), ApplyError> {
        let o = &order.order_id;
        let v = order.version;
        let site = &order.end_customer.site.support_id;
        let reseller = order.reseller.as_ref().map(|r| &r.site.support_id);
        // Grants first: they carry the version, so they stay invisible until the switch.
        let grants: Vec<TransactWriteItem> = order
            .ship_to
            .iter()
            .flat_map(|p| p.emails())
            .map(|email| {
                tx_update(
                    &self.table,
                    &keys::ship_to_grant(email, o),
                    "SET order_id = :o, email = :e ADD versions :v",
                    vec![(":o", s(o.as_str())), (":e", s(email.as_str())), (":v", AttributeValue::Ns(vec![v.to_string()]))],
                    None,
                )
            })
            .collect::<Result<_, _>>()?;
        if !grants.is_empty() {
            self.transact("TransactWriteItems ship-to grants", grants).await.map_err(TxError::into_apply)?;
        }
        for (index, chunk) in order.lines.chunks(LINES_PER_CHUNK).enumerate() {
            let mut items = Vec::with_capacity(chunk.len() * 2);
            for line in chunk {
                let claim_key = keys::serial_claim(&line.serial);
                let mut claim = claim_key.to_item();
                claim.insert("order_id".into(), s(o.as_str()));
                claim.insert("serial".into(), s(line.serial.as_str()));
                let mine = Cond::new("attribute_not_exists(#pk) OR order_id = :o").value(":o", s(o.as_str()));
                items.push(tx_put(&self.table, claim, Some(mine))?);
                // A cancelled version shows nothing, so it needs no line items.
                if order.is_active() {
                    items.push(tx_put(&self.table, line_item(o, v, site, reseller, line)?, None)?);
                }
            }
            match self.transact("TransactWriteItems stage lines", items).await {
                Ok(()) => {}
                Err(TxError::Cancelled(codes)) => {
                    // Only the claims carry conditions: find the serial another order took meanwhile.
                    let per_line = if order.is_active() { 2 } else { 1 };
                    let failed = codes.iter().position(|c| c == "ConditionalCheckFailed").map(|i| &chunk[i / per_line]);
                    return Err(match failed {
                        Some(line) => ApplyError::SerialTaken { serial: line.serial.clone(), owner: "another order".into() },
                        None => {
                            StoreError::Unavailable { op: "stage lines", code: "TransactionCanceled".into(), message: format!("{codes:?}") }
                                .into()
                        }
                    });
                }
                Err(other) => return Err(other.into_apply()),
            }
            if options.crash_after_chunks == Some(index + 1) {
                return Err(ApplyError::InjectedCrash(index + 1));
            }
        }
        Ok(())
    }

    async fn switch(&self, order: &Order, digest: &str, old: Option<&OrderHead>) -> Result<(), SwitchError> {
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
            entitlement_count: new_count,
            updated_at: now.clone(),
        };
        let mut head_item = super::to_item(&head).map_err(ApplyError::from)?;
        head_item.extend(keys::order_head(o).to_item());
        let condition = match old {
            None => Cond::absent(),
            Some(h) => Cond::new("current_version = :old").value(":old", n(h.current_version)),
        };
        let mut items = vec![tx_put(&self.table, head_item, Some(condition))?];

        // Exact counters: remove what the old version contributed, add the new one's.
        let mut site_delta: BTreeMap<SupportId, i64> = BTreeMap::new();
        let mut sold_delta: BTreeMap<(SupportId, SupportId), i64> = BTreeMap::new();
        if let Some(h) = old {
            *site_delta.entry(h.end_customer.clone()).or_default() -= h.entitlement_count as i64;
            if let Some(r) = &h.reseller {
                *sold_delta.entry((r.clone(), h.end_customer.clone())).or_default() -= h.entitlement_count as i64;
            }
        }
        *site_delta.entry(site.clone()).or_default() += new_count as i64;
        if let Some(r) = &reseller {
            *sold_delta.entry((r.clone(), site.clone())).or_default() += new_count as i64;
        }
        let mut names: BTreeMap<SupportId, String> = BTreeMap::new();
        for party in std::iter::once(&order.end_customer).chain(order.reseller.iter()).chain(order.ship_to.iter()) {
            names.insert(party.site.support_id.clone(), party.site.name.clone());
            site_delta.entry(party.site.support_id.clone()).or_default();
        }
        for (sid, delta) in &site_delta {
            let mut set = vec!["support_id = :sid".to_string()];
            let mut values = vec![(":sid", s(sid.as_str())), (":d", n(*delta))];
            if let Some(name) = names.get(sid) {
                set.push("#name = :name".into());
                values.push((":name", s(name.clone())));
            }
            let expr = format!("SET {} ADD entitlement_count :d", set.join(", "));
            items.push(tx_update(&self.table, &keys::site_meta(sid), &expr, values, None)?);
        }
        for ((r, sid), delta) in &sold_delta {
            items.push(tx_update(
                &self.table,
                &keys::sold_counter(r, sid),
                "SET reseller = :r, support_id = :s ADD entitlements :d",
                vec![(":r", s(r.as_str())), (":s", s(sid.as_str())), (":d", n(*delta))],
                None,
            )?);
        }
        // P1/P2 exactly once per stored version: an existing membership keeps its role.
        for (email, sid) in provisioning(order).memberships {
            let key = keys::membership(&email, &sid);
            items.push(tx_update(
                &self.table,
                &key,
                "SET #role = if_not_exists(#role, :user), email = :e, support_id = :s, \
                 gsi1pk = :gpk, gsi1sk = if_not_exists(gsi1sk, :gsk), since = if_not_exists(since, :now)",
                vec![
                    (":user", s(Role::User.as_str())),
                    (":e", s(email.as_str())),
                    (":s", s(sid.as_str())),
                    (":gpk", s(keys::site_members_gsi1pk(&sid))),
                    (":gsk", s(keys::member_gsi1sk(Role::User, &email))),
                    (":now", s(now.clone())),
                ],
                None,
            )?);
        }
        match self.transact("TransactWriteItems switch order version", items).await {
            Ok(()) => Ok(()),
            Err(TxError::Cancelled(codes)) if codes.first().map(String::as_str) == Some("ConditionalCheckFailed") => {
                Err(SwitchError::HeadMoved)
            }
            Err(e) => Err(SwitchError::Apply(e.into_apply())),
        }
    }

    /// Deletes the lines and revokes the grants of the versions `which` selects (never the
    /// current one), and marks them cleaned; those already marked only when `again`.
    async fn clean_versions(&self, order_id: &OrderId, which: impl Fn(u64) -> bool, again: bool) -> Result<(), StoreError> {
        let records = self.query_prefix("Query order versions", &keys::order_pk(order_id), keys::VERSION_PREFIX, false).await?;
        for item in records {
            let record: VersionRecord = from_item(item)?;
            if (record.cleaned && !again) || !which(record.version) {
                continue;
            }
            let lines =
                self.query_prefix("Query version lines", &keys::order_pk(order_id), &keys::line_prefix(record.version), true).await?;
            let line_keys = lines
                .iter()
                .map(|i| Key { pk: get_s(i, keys::PK).unwrap_or_default().into(), sk: get_s(i, keys::SK).unwrap_or_default().into() })
                .collect();
            self.batch_delete("BatchWriteItem delete old lines", line_keys).await?;
            for email in &record.ship_to_emails {
                let Ok(email) = crate::domain::Email::parse(email) else { continue };
                let out = self
                    .ddb
                    .update_item()
                    .table_name(&self.table)
                    .set_key(Some(keys::ship_to_grant(&email, order_id).to_item()))
                    .update_expression("DELETE versions :v")
                    .condition_expression("attribute_exists(#pk)")
                    .expression_attribute_names("#pk", keys::PK)
                    .expression_attribute_values(":v", AttributeValue::Ns(vec![record.version.to_string()]))
                    .return_consumed_capacity(ReturnConsumedCapacity::Total)
                    .send()
                    .await;
                match out {
                    Ok(out) => record_write_capacity(out.consumed_capacity()),
                    Err(SdkError::ServiceError(e)) if e.err().is_conditional_check_failed_exception() => {}
                    Err(e) => return Err(StoreError::from_sdk("UpdateItem revoke grant", e)),
                }
            }
            let out = self
                .ddb
                .update_item()
                .table_name(&self.table)
                .set_key(Some(keys::order_version(order_id, record.version).to_item()))
                .update_expression("SET cleaned = :t")
                .expression_attribute_values(":t", AttributeValue::Bool(true))
                .return_consumed_capacity(ReturnConsumedCapacity::Total)
                .send()
                .await
                .map_err(|e| StoreError::from_sdk("UpdateItem version cleaned", e))?;
            record_write_capacity(out.consumed_capacity());
        }
        Ok(())
    }
}

enum SwitchError {
    HeadMoved,
    Apply(ApplyError),
}

impl From<ApplyError> for SwitchError {
    fn from(e: ApplyError) -> Self {
        SwitchError::Apply(e)
    }
}

impl From<StoreError> for SwitchError {
    fn from(e: StoreError) -> Self {
        SwitchError::Apply(e.into())
    }
}

impl TxError {
    fn into_apply(self) -> ApplyError {
        match self {
            TxError::Store(e) => e.into(),
            TxError::Cancelled(codes) => {
                StoreError::Unavailable { op: "transaction", code: "TransactionCanceled".into(), message: format!("{codes:?}") }.into()
            }
        }
    }
}

fn line_item(o: &OrderId, v: u64, site: &SupportId, reseller: Option<&SupportId>, line: &Line) -> Result<Item, StoreError> {
    let record = LineItem { order_id: o.clone(), version: v, site: site.clone(), reseller: reseller.cloned(), line: line.clone() };
    let mut item = super::to_item(&record)?;
    item.extend(keys::order_line(o, v, &line.serial).to_item());
    item.insert(keys::GSI1_PK.into(), s(keys::site_entitlements_gsi1pk(site)));
    item.insert(keys::GSI1_SK.into(), s(keys::line_index_sk(&line.serial, v)));
    if let Some(r) = reseller {
        item.insert(keys::GSI2_PK.into(), s(keys::sold_to_gsi2pk(r, site)));
        item.insert(keys::GSI2_SK.into(), s(keys::line_index_sk(&line.serial, v)));
    }
    Ok(item)
}
