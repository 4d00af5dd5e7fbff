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

use super::items::SerialClaim;
use super::keys::{self, Key};
use super::table::{Query, Range, TxError};
use super::tx::{tx_put, tx_site_record, tx_update, Cond, SiteRecordChange};
use super::{from_item, get_s, n, s, Store, StoreError};
pub use crate::domain::entitlement::{LineItem, OrderHead};
use crate::domain::{provisioning, same_content, Email, Line, Order, OrderId, Serial, SupportId, DIGEST_VERSION};
use aws_sdk_dynamodb::types::{AttributeValue, TransactWriteItem};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

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
    #[error("injected crash after {0:?}")]
    InjectedCrash(Step),
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl ApplyError {
    /// Permanent errors are the message's fault, or a store that refuses the request itself:
    /// retrying cannot help, so the message goes to the dead-letter queue with the reason.
    pub fn is_permanent(&self) -> bool {
        match self {
            ApplyError::ConflictingDuplicate { .. } | ApplyError::SerialTaken { .. } => true,
            ApplyError::Store(e) => !e.is_transient(),
            ApplyError::InjectedCrash(_) => false,
        }
    }
}

/// The steps of applying a version, named so tests can crash or pause right after one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// The head was read and the version decided on.
    HeadRead,
    /// The version record was written.
    VersionRecorded,
    /// This many staging chunks were written (1-based).
    Staged(usize),
    /// The switch transaction committed.
    Switched,
    /// Older versions' lines were deleted, their grants not yet revoked.
    LinesCleaned,
}

/// Fault injection for tests: the Lambda is killed, or stalls, right after a step.
#[derive(Debug, Clone, Default)]
pub struct ApplyOptions {
    pub crash_after: Option<Step>,
    /// Stalls after the step: waits at the barrier twice, once to say it got there and once
    /// to be let go (each wait gives up after 3 s), so a test can interleave deliveries.
    pub pause_after: Option<(Step, Arc<tokio::sync::Barrier>)>,
}

impl ApplyOptions {
    pub fn crash_after(step: Step) -> ApplyOptions {
        ApplyOptions { crash_after: Some(step), pause_after: None }
    }
    pub fn pause_after(step: Step, barrier: Arc<tokio::sync::Barrier>) -> ApplyOptions {
        ApplyOptions { crash_after: None, pause_after: Some((step, barrier)) }
    }
    async fn reached(&self, step: Step) -> Result<(), ApplyError> {
        if let Some((at, barrier)) = &self.pause_after {
            if *at == step {
                for _ in 0..2 {
                    let _ = tokio::time::timeout(std::time::Duration::from_secs(3), barrier.wait()).await;
                }
            }
        }
        if self.crash_after == Some(step) {
            return Err(ApplyError::InjectedCrash(step));
        }
        Ok(())
    }
}

/// What was received for one version: enough to detect conflicting duplicates and to
/// revoke that version's grants later.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct VersionRecord {
    version: u64,
    digest: String,
    ship_to_emails: Vec<String>,
    received_at: String,
}

pub(crate) fn now_rfc3339() -> String {
    time::OffsetDateTime::now_utc().format(&time::format_description::well_known::Rfc3339).unwrap_or_default()
}

/// What the head says about a delivered version: a pure decision, no I/O.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Decision {
    Stale { current: u64 },
    Duplicate,
    Conflicting,
    Proceed,
}

fn decide(head: Option<&OrderHead>, order: &Order, digest: &str) -> Decision {
    match head {
        Some(h) if h.current_version > order.version => Decision::Stale { current: h.current_version },
        Some(h) if h.current_version == order.version => {
            if same_content(&h.digest, digest) {
                Decision::Duplicate
            } else {
                Decision::Conflicting
            }
        }
        _ => Decision::Proceed,
    }
}

/// One write of a site record in the switch: only what changes, so a reseller whose name
/// is unchanged is not written by each of its orders (no item every order passes through).
#[derive(Debug, Clone, PartialEq, Eq)]
struct SiteUpdate {
    site: SupportId,
    delta: i64,
    name: Option<String>,
}

/// Plans the site-record writes of a switch from the counters' deltas and the names read.
fn plan_site_updates(
    deltas: &BTreeMap<SupportId, i64>,
    names: &BTreeMap<SupportId, String>,
    stored: &BTreeMap<SupportId, String>,
) -> Vec<SiteUpdate> {
    let mut sites: BTreeSet<&SupportId> = deltas.keys().collect();
    sites.extend(names.keys());
    sites
        .into_iter()
        .filter_map(|site| {
            let delta = deltas.get(site).copied().unwrap_or(0);
            let name = names.get(site).filter(|n| stored.get(site) != Some(*n)).cloned();
            (delta != 0 || name.is_some()).then(|| SiteUpdate { site: site.clone(), delta, name })
        })
        .collect()
}

impl Store {
    pub async fn order_head(&self, order_id: &OrderId, consistent: bool) -> Result<Option<OrderHead>, StoreError> {
        match self.get("GetItem order head", &keys::order_head(order_id), consistent).await? {
            Some(item) => Ok(Some(from_item(item)?)),
            None => Ok(None),
        }
    }

    /// Applies one parsed order message. See the module docs for the steps.
    pub async fn apply_order(&self, order: &Order, options: &ApplyOptions) -> Result<ApplyOutcome, ApplyError> {
        let digest = order.digest();
        for _ in 0..SWITCH_ATTEMPTS {
            let head = self.order_head(&order.order_id, true).await?;
            options.reached(Step::HeadRead).await?;
            match decide(head.as_ref(), order, &digest) {
                Decision::Stale { current } => {
                    // Whatever this delivery or an earlier one staged is removed, whenever it was written.
                    self.clean_below(&order.order_id, current, options).await?;
                    return Ok(ApplyOutcome::Stale { current });
                }
                Decision::Duplicate => {
                    self.clean_below(&order.order_id, order.version, options).await?;
                    return Ok(ApplyOutcome::Duplicate);
                }
                Decision::Conflicting => {
                    return Err(ApplyError::ConflictingDuplicate { order_id: order.order_id.clone(), version: order.version })
                }
                Decision::Proceed => {}
            }
            self.record_version(order, &digest).await?;
            options.reached(Step::VersionRecorded).await?;
            self.check_serials(order).await?;
            self.stage(order, options).await?;
            match self.switch(order, &digest, head.as_ref()).await {
                Ok(()) => {
                    options.reached(Step::Switched).await?;
                    self.clean_below(&order.order_id, order.version, options).await?;
                    return Ok(ApplyOutcome::Applied { replaced: head.map(|h| h.current_version) });
                }
                // Another version moved the head meanwhile (or this switch committed and its
                // answer was lost): decide again from the head as it is now.
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
        };
        let mut item = super::to_item(&record)?;
        item.extend(keys::order_version(&order.order_id, order.version).to_item());
        // A record written under another digest format cannot be compared: it is trusted.
        let same = Cond::new("attribute_not_exists(#pk) OR digest = :digest OR NOT begins_with(digest, :format)")
            .value(":digest", s(digest))
            .value(":format", s(DIGEST_VERSION));
        if self.put("PutItem order version", item, Some(same)).await? {
            Ok(())
        } else {
            Err(ApplyError::ConflictingDuplicate { order_id: order.order_id.clone(), version: order.version })
        }
    }

    /// Refuses the message before writing any line if a serial belongs to another order.
    async fn check_serials(&self, order: &Order) -> Result<(), ApplyError> {
        let claims = self
            .batch_get("BatchGetItem serial claims", order.lines.iter().map(|l| keys::serial_claim(&l.serial)).collect(), false)
            .await?;
        for claim in claims {
            let claim: SerialClaim = from_item(claim)?;
            if claim.order_id != order.order_id {
                return Err(ApplyError::SerialTaken { serial: claim.serial, owner: claim.order_id.to_string() });
            }
        }
        Ok(())
    }

    /// Stages the version: ship-to grants, then claims + lines in chunks, **in serial order**.
    /// Two orders that share serials claim them in the same order, so the one that takes the
    /// smallest shared serial first never meets the other's claims: one of them wins. The
    /// loser gives back the claims this version took.
    async fn stage(&self, order: &Order, options: &ApplyOptions) -> Result<(), ApplyError> {
        let o = &order.order_id;
        let v = order.version;
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
        let mut lines: Vec<&Line> = order.lines.iter().collect();
        lines.sort_by(|a, b| a.serial.cmp(&b.serial));
        for (index, chunk) in lines.chunks(LINES_PER_CHUNK).enumerate() {
            let mut items = Vec::with_capacity(chunk.len() * 2);
            for line in chunk {
                let mine = Cond::new("attribute_not_exists(#pk) OR order_id = :o").value(":o", s(o.as_str()));
                items.push(tx_update(
                    &self.table,
                    &keys::serial_claim(&line.serial),
                    "SET order_id = :o, serial = :serial ADD versions :v",
                    vec![(":serial", s(line.serial.as_str())), (":v", AttributeValue::Ns(vec![v.to_string()]))],
                    Some(mine),
                )?);
                // A cancelled version shows nothing, so it needs no line items.
                if order.is_active() {
                    items.push(tx_put(&self.table, line_item(o, v, order, line)?, None)?);
                }
            }
            match self.transact("TransactWriteItems stage lines", items).await {
                Ok(()) => {}
                Err(TxError::Cancelled(codes)) => {
                    // Only the claims carry conditions: find the serial another order holds.
                    let per_line = if order.is_active() { 2 } else { 1 };
                    let taken = codes.iter().position(|c| c == "ConditionalCheckFailed").map(|i| chunk[i / per_line].serial.clone());
                    let claimed: Vec<&Serial> = lines[..index * LINES_PER_CHUNK].iter().map(|l| &l.serial).collect();
                    self.release_claims(o, v, &claimed).await?;
                    return Err(match taken {
                        Some(serial) => {
                            let owner = self.serial_owner(&serial).await?.unwrap_or_else(|| "another order".into());
                            ApplyError::SerialTaken { serial, owner }
                        }
                        None => {
                            StoreError::Unavailable { op: "stage lines", code: "TransactionCanceled".into(), message: format!("{codes:?}") }
                                .into()
                        }
                    });
                }
                Err(other) => return Err(other.into_apply()),
            }
            options.reached(Step::Staged(index + 1)).await?;
        }
        Ok(())
    }

    async fn serial_owner(&self, serial: &Serial) -> Result<Option<String>, StoreError> {
        let claim = self.get("GetItem serial claim", &keys::serial_claim(serial), true).await?;
        Ok(claim.map(from_item::<SerialClaim>).transpose()?.map(|c| c.order_id.to_string()))
    }

    /// Gives back the claims version `v` took: a claim no stored version holds any more is
    /// deleted, so a message that failed leaves no serial taken.
    async fn release_claims(&self, o: &OrderId, v: u64, serials: &[&Serial]) -> Result<(), StoreError> {
        // Each claim is independent: released concurrently (up to 48 of them, two calls each).
        futures::future::try_join_all(serials.iter().map(|serial| async move {
            let key = keys::serial_claim(serial);
            let ours = Cond::new("order_id = :o").value(":o", s(o.as_str()));
            let version = vec![(":v", AttributeValue::Ns(vec![v.to_string()]))];
            self.update("UpdateItem release claim", &key, "DELETE versions :v", version, Some(ours)).await?;
            let unheld = Cond::new("order_id = :o AND attribute_not_exists(versions)").value(":o", s(o.as_str()));
            self.delete("DeleteItem released claim", &key, Some(unheld)).await
        }))
        .await?;
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
        let names: BTreeMap<SupportId, String> = std::iter::once(&order.end_customer)
            .chain(order.reseller.iter())
            .chain(order.ship_to.iter())
            .map(|party| (party.site.support_id.clone(), party.site.name.clone()))
            .collect();
        let stored = self.site_names(names.keys()).await.map_err(ApplyError::from)?;
        for update in plan_site_updates(&site_delta, &names, &stored) {
            let change = SiteRecordChange { entitlements: update.delta, name: update.name, admin_count: None };
            items.push(tx_site_record(&self.table, &update.site, &change)?);
        }
        for ((r, sid), delta) in sold_delta.iter().filter(|(_, d)| **d != 0) {
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
            items.push(super::access::tx_membership(&self.table, &email, &sid, super::access::RoleWrite::KeepOrUser, &now, None)?);
        }
        match self.transact("TransactWriteItems switch order version", items).await {
            Ok(()) => Ok(()),
            Err(TxError::Cancelled(codes)) if codes.first().map(String::as_str) == Some("ConditionalCheckFailed") => {
                Err(SwitchError::HeadMoved)
            }
            Err(e) => Err(SwitchError::Apply(e.into_apply())),
        }
    }

    /// The stored names of some sites (eventually consistent: a stale name only costs a
    /// redundant write of the same name).
    async fn site_names<'a>(&self, sites: impl Iterator<Item = &'a SupportId>) -> Result<BTreeMap<SupportId, String>, StoreError> {
        let items = self.batch_get("BatchGetItem site names", sites.map(keys::site_meta).collect(), false).await?;
        Ok(items
            .iter()
            .filter_map(|i| Some((SupportId::parse(keys::site_of_pk(get_s(i, keys::PK)?)?).ok()?, get_s(i, "name")?.to_string())))
            .collect())
    }

    /// Removes everything versions below `current` left: every line item (found by key
    /// range, so lines a slow delivery staged after an earlier cleanup are found too), and
    /// those versions' numbers from the ship-to grants of every contact any version named.
    /// Idempotent; never touches `current` or newer staged versions.
    async fn clean_below(&self, order_id: &OrderId, current: u64, options: &ApplyOptions) -> Result<(), ApplyError> {
        let pk = keys::order_pk(order_id);
        let lines =
            Query::table("Query old version lines", pk.clone(), Range::Between(keys::LINE_PREFIX.into(), keys::lines_before(current)))
                .keys_only();
        let line_keys: Vec<Key> = self
            .query_all(lines)
            .await?
            .iter()
            .filter_map(|i| Some(Key { pk: get_s(i, keys::PK)?.into(), sk: get_s(i, keys::SK)?.into() }))
            .collect();
        self.batch_delete("BatchWriteItem delete old lines", line_keys).await?;
        options.reached(Step::LinesCleaned).await?;

        let records = self.query_all(Query::table("Query order versions", pk, Range::Prefix(keys::VERSION_PREFIX.into()))).await?;
        let mut held: BTreeMap<String, (BTreeSet<u64>, bool)> = BTreeMap::new();
        for item in records {
            let record: VersionRecord = from_item(item)?;
            for email in record.ship_to_emails {
                let entry = held.entry(email).or_default();
                if record.version < current {
                    entry.0.insert(record.version);
                } else if record.version == current {
                    entry.1 = true;
                }
            }
        }
        for (email, (old_versions, in_current)) in held.into_iter().filter(|(_, (old, _))| !old.is_empty()) {
            let Ok(email) = Email::parse(&email) else { continue };
            let key = keys::ship_to_grant(&email, order_id);
            let versions = AttributeValue::Ns(old_versions.iter().map(u64::to_string).collect());
            self.update(
                "UpdateItem revoke grant",
                &key,
                "DELETE versions :v",
                vec![(":v", versions)],
                Some(Cond::new("attribute_exists(#pk)")),
            )
            .await?;
            if !in_current {
                // Nothing left to grant: the item goes, unless a newer version added itself meanwhile.
                self.delete("DeleteItem empty grant", &key, Some(Cond::new("attribute_not_exists(versions)"))).await?;
            }
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
                StoreError::Rejected { op: "transaction", code: "TransactionCanceled".into(), message: format!("{codes:?}") }.into()
            }
        }
    }
}

fn line_item(o: &OrderId, v: u64, order: &Order, line: &Line) -> Result<super::keys::Item, StoreError> {
    let site = &order.end_customer.site.support_id;
    let reseller = order.reseller.as_ref().map(|r| &r.site.support_id);
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

#[cfg(test)]
mod tests {
    use super::*;

    fn sid(s: &str) -> SupportId {
        SupportId::parse(s).unwrap()
    }

    #[test]
    fn a_reseller_whose_name_is_unchanged_is_not_written() {
        let deltas = BTreeMap::from([(sid("ACME-1"), 3), (sid("SKY-1"), 0)]);
        let names = BTreeMap::from([(sid("ACME-1"), "Acme".to_string()), (sid("SKY-1"), "Skynet".to_string())]);
        let stored = names.clone();
        assert_eq!(plan_site_updates(&deltas, &names, &stored), vec![SiteUpdate { site: sid("ACME-1"), delta: 3, name: None }]);
        let renamed = BTreeMap::from([(sid("SKY-1"), "Skynet Ltd".to_string())]);
        let names2 = BTreeMap::from([(sid("SKY-1"), "Skynet Ltd".to_string())]);
        assert!(plan_site_updates(&BTreeMap::new(), &names2, &renamed).is_empty());
        assert_eq!(
            plan_site_updates(&BTreeMap::new(), &names2, &stored),
            vec![SiteUpdate { site: sid("SKY-1"), delta: 0, name: Some("Skynet Ltd".into()) }]
        );
    }
}
