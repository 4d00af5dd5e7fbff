//! Applying one order version to the table (spec §3), idempotently and crash-safely.
//!
//! 1. Read the order's head (consistent). Older than the current version: stale, ignored.
//!    Equal: a duplicate if the digest matches (finish provisioning and cleanup), else a conflict.
//! 2. Record the version's digest (conditional put): the same version with other content
//!    is refused even while an earlier delivery is still half-way.
//! 3. Check every serial's claim; mark the order unsettled at its site (with the grants, checked
//!    on the head); then take the claims in transactions of 100, in serial order, while the
//!    line items and the ship-to contacts' copies of them are batch-written beside them.
//!    Staged lines, copies and grants carry the version and stay invisible: listings honour
//!    the site's `UNSETTLED#{o}` item, which names the current version.
//! 4. Switch: one transaction moves the head to the new version (conditional on the head
//!    read in 1), adjusts the exact counters — the sites', the reseller's, and each ship-to
//!    contact's reach — and marks the version record `switched`. Readers never see a mix of
//!    two versions.
//! 5. Provision (P1/P2) once per switched version: memberships and reseller markers in
//!    transactions that each also mark their chunk done on the version record.
//! 6. Clean up older versions' lines, copies and grants. A crash anywhere is completed by the
//!    redelivery: every step before the switch is idempotent, and a redelivery that finds
//!    the switch done only provisions what is left and cleans up.

use super::items::SerialClaim;
use super::keys::{self, Key};
use super::table::{Query, Range, TxError};
use super::tx::{tx_check, tx_put, tx_ship_to_reach, tx_site_record, tx_update, Cond, ShipToReachChange, SiteRecordChange};
use super::{from_item, get_s, n, s, Store, StoreError};
pub use crate::domain::entitlement::{LineItem, OrderHead};
use crate::domain::{provisioning, same_content, Email, Line, Order, OrderId, Serial, SupportId, DIGEST_VERSION};
use aws_sdk_dynamodb::types::{AttributeValue, TransactWriteItem};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

/// Lines per staging chunk: their claims fill one transaction (at most 100 items).
pub const LINES_PER_CHUNK: usize = 100;
/// Memberships per provisioning transaction: two items each at most (membership + reseller
/// marker), with the version record and a site check under the 100-item limit.
const MEMBERSHIPS_PER_CHUNK: usize = 45;
const SWITCH_ATTEMPTS: usize = 3;
/// How long a settled order's unsettled item is still honoured: the indexes forget deleted
/// entries asynchronously (typically within a second; ten minutes is a wide margin).
pub const SETTLE_GRACE_SECONDS: i64 = 600;

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
    /// The version's memberships were provisioned.
    Provisioned,
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
    /// The end-customer site: where this version's ship-to copies live.
    #[serde(default)]
    site: Option<SupportId>,
    received_at: String,
    /// Set by the switch transaction: this version was current (and is provisioned).
    /// (Written by update expressions only, never by the record's put.)
    #[serde(default, skip_serializing)]
    switched: bool,
    /// Provisioning chunks already committed (a number set).
    #[serde(default, skip_serializing)]
    provisioned: BTreeSet<u64>,
    /// A reseller this version's switch found selling for the first time: its existing
    /// members get their reseller markers before provisioning completes.
    #[serde(default, skip_serializing)]
    fan_out: Option<SupportId>,
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
                    // A version that was switched in before this one was replaced still provisions.
                    self.provision(order, None, options).await?;
                    // Whatever this delivery or an earlier one staged is removed, whenever it was written.
                    self.clean_below(&order.order_id, current, Some(order.version), options).await?;
                    return Ok(ApplyOutcome::Stale { current });
                }
                Decision::Duplicate => {
                    self.provision(order, None, options).await?;
                    self.clean_below(&order.order_id, order.version, None, options).await?;
                    return Ok(ApplyOutcome::Duplicate);
                }
                Decision::Conflicting => {
                    return Err(ApplyError::ConflictingDuplicate { order_id: order.order_id.clone(), version: order.version })
                }
                Decision::Proceed => {}
            }
            // Independent: the version record and the serials' claims.
            let (recorded, checked) = futures::join!(self.record_version(order, &digest), self.check_serials(order));
            recorded?;
            options.reached(Step::VersionRecorded).await?;
            checked?;
            // The site records the switch decides on are read while staging goes on.
            let (staged, stored) = futures::join!(self.stage(order, head.as_ref(), options), self.site_records_for_switch(order));
            if !staged? {
                continue;
            }
            match self.switch(order, &digest, head.as_ref(), &stored?).await {
                Ok(known) => {
                    options.reached(Step::Switched).await?;
                    self.provision(order, Some(known), options).await?;
                    self.clean_below(&order.order_id, order.version, None, options).await?;
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
            site: Some(order.end_customer.site.support_id.clone()),
            received_at: now_rfc3339(),
            switched: false,
            provisioned: BTreeSet::new(),
            fan_out: None,
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
    /// `Ok(false)`: the head moved since it was read; decide again.
    async fn stage(&self, order: &Order, head: Option<&OrderHead>, options: &ApplyOptions) -> Result<bool, ApplyError> {
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
        // Before any line is written, the site's listings learn that this order has a staged
        // version: readers then trust only the order's current entries there.
        let site = &order.end_customer.site.support_id;
        let current_here = head.filter(|h| &h.end_customer == site);
        let mut expression = "SET order_id = :o".to_string();
        let mut values = vec![(":o", s(o.as_str())), (":v", AttributeValue::Ns(vec![v.to_string()]))];
        if let Some(h) = current_here {
            expression.push_str(", #current = if_not_exists(#current, :hv), active = if_not_exists(active, :ha)");
            values.extend([(":hv", n(h.current_version)), (":ha", AttributeValue::Bool(h.is_active()))]);
        }
        expression.push_str(" ADD staged :v REMOVE settled_until");
        let mut items = grants;
        items.push(tx_update(&self.table, &keys::unsettled(site, o), &expression, values, None)?);
        // The current version written there is the head's as it is at the commit.
        let head_is = match head {
            None => Cond::absent(),
            Some(h) => Cond::new("current_version = :hv").value(":hv", n(h.current_version)),
        };
        items.push(tx_check(&self.table, &keys::order_head(o), head_is)?);
        match self.transact("TransactWriteItems stage grants and unsettled", items).await {
            Ok(()) => {}
            Err(TxError::Cancelled(codes)) if codes.last().map(String::as_str) == Some("ConditionalCheckFailed") => return Ok(false),
            Err(e) => return Err(e.into_apply()),
        }
        let mut lines: Vec<&Line> = order.lines.iter().collect();
        lines.sort_by(|a, b| a.serial.cmp(&b.serial));
        let ship_to: Vec<&Email> = order.ship_to.iter().flat_map(|p| p.emails()).collect();
        // Lines and copies are invisible until the switch names their version, so they need no
        // transaction: they are batch-written while the claims are taken, chunk after chunk (a
        // cancelled version shows nothing, so it needs none).
        let mut staged = Vec::new();
        if order.is_active() {
            for line in &lines {
                staged.push(line_item(o, v, order, line)?);
                for email in &ship_to {
                    staged.push(shipped_item(email, o, v, order, line)?);
                }
            }
        }
        let claims = async {
            for (index, chunk) in lines.chunks(LINES_PER_CHUNK).enumerate() {
                self.claim_chunk(order, &lines, index, chunk).await?;
                options.reached(Step::Staged(index + 1)).await?;
            }
            Ok::<(), ApplyError>(())
        };
        let (claimed, written) = futures::join!(claims, self.batch_put("BatchWriteItem stage lines", staged));
        claimed?;
        written?;
        Ok(true)
    }

    /// Takes one chunk's claims in one transaction; a serial another order holds makes this
    /// version give back the claims its earlier chunks took.
    async fn claim_chunk(&self, order: &Order, lines: &[&Line], index: usize, chunk: &[&Line]) -> Result<(), ApplyError> {
        let (o, v) = (&order.order_id, order.version);
        let claims = chunk
            .iter()
            .map(|line| {
                let mine = Cond::new("attribute_not_exists(#pk) OR order_id = :o").value(":o", s(o.as_str()));
                tx_update(
                    &self.table,
                    &keys::serial_claim(&line.serial),
                    "SET order_id = :o, serial = :serial ADD versions :v",
                    vec![(":serial", s(line.serial.as_str())), (":v", AttributeValue::Ns(vec![v.to_string()]))],
                    Some(mine),
                )
            })
            .collect::<Result<Vec<_>, _>>()?;
        match self.transact("TransactWriteItems stage claims", claims).await {
            Ok(()) => Ok(()),
            Err(TxError::Cancelled(codes)) => {
                // Only the claims carry conditions: find the serial another order holds.
                let taken = codes.iter().position(|c| c == "ConditionalCheckFailed").map(|i| chunk[i].serial.clone());
                let claimed: Vec<&Serial> = lines[..index * LINES_PER_CHUNK].iter().map(|l| &l.serial).collect();
                self.release_claims(o, v, &claimed).await?;
                Err(match taken {
                    Some(serial) => {
                        let owner = self.serial_owner(&serial).await?.unwrap_or_else(|| "another order".into());
                        ApplyError::SerialTaken { serial, owner }
                    }
                    None => {
                        StoreError::Unavailable { op: "stage lines", code: "TransactionCanceled".into(), message: format!("{codes:?}") }
                            .into()
                    }
                })
            }
            Err(other) => Err(other.into_apply()),
        }
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

    async fn switch(
        &self,
        order: &Order,
        digest: &str,
        old: Option<&OrderHead>,
        stored: &BTreeMap<SupportId, (String, bool)>,
    ) -> Result<ProvisioningState, SwitchError> {
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
        let names = party_names(order);
        let stored_names: BTreeMap<SupportId, String> = stored.iter().map(|(s, (name, _))| (s.clone(), name.clone())).collect();
        // A reseller selling for the first time: its record says so from now on, and its
        // existing members get reseller markers before this version's provisioning completes.
        let first_sale = reseller.clone().filter(|r| new_count > 0 && !stored.get(r).is_some_and(|(_, resells)| *resells));
        let mut updates = plan_site_updates(&site_delta, &names, &stored_names);
        if let Some(r) = &first_sale {
            if !updates.iter().any(|u| &u.site == r) {
                updates.push(SiteUpdate { site: r.clone(), delta: 0, name: None });
            }
        }
        for update in updates {
            let resells = first_sale.as_ref() == Some(&update.site);
            let change = SiteRecordChange { entitlements: update.delta, name: update.name, admin_count: None, resells, unsold: false };
            items.push(tx_site_record(&self.table, &update.site, &change)?);
        }
        for ((r, sid), delta) in sold_delta.iter().filter(|(_, d)| **d != 0) {
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
        // The site's listings: this version is the current one (at the old site too, if the
        // order moved: nothing there is current any more).
        let mut unsettled_sites = vec![site.clone()];
        unsettled_sites.extend(old.map(|h| h.end_customer.clone()).filter(|s| s != site));
        for at in &unsettled_sites {
            items.push(tx_update(
                &self.table,
                &keys::unsettled(at, o),
                "SET order_id = :o, #current = :cv, active = :ca DELETE staged :sv REMOVE settled_until",
                vec![
                    (":o", s(o.as_str())),
                    (":cv", n(order.version)),
                    (":ca", AttributeValue::Bool(order.is_active())),
                    (":sv", AttributeValue::Ns(vec![order.version.to_string()])),
                ],
                None,
            )?);
        }
        // The version is current from now on: provisioning may run (once) for it.
        let mut record_set = "SET switched = :t".to_string();
        let mut record_values = vec![(":t", AttributeValue::Bool(true))];
        if let Some(r) = &first_sale {
            record_set.push_str(", fan_out = :r");
            record_values.push((":r", s(r.as_str())));
        }
        items.push(tx_update(&self.table, &keys::order_version(o, order.version), &record_set, record_values, None)?);
        let end_resells = stored.get(site).is_some_and(|(_, resells)| *resells);
        match self.transact("TransactWriteItems switch order version", items).await {
            // What provisioning would read: this switch created the version's state.
            Ok(()) => Ok(ProvisioningState { provisioned: BTreeSet::new(), fan_out: first_sale, end_resells }),
            Err(TxError::Cancelled(codes)) if codes.first().map(String::as_str) == Some("ConditionalCheckFailed") => {
                Err(SwitchError::HeadMoved)
            }
            Err(e) => Err(SwitchError::Apply(e.into_apply())),
        }
    }

    /// The stored names of some sites and whether each has resold, read consistently: a
    /// reseller's first sale is decided from it.
    async fn site_records_for_switch(&self, order: &Order) -> Result<BTreeMap<SupportId, (String, bool)>, StoreError> {
        let items = self.batch_get("BatchGetItem site names", party_names(order).keys().map(keys::site_meta).collect(), true).await?;
        Ok(items
            .iter()
            .filter_map(|i| {
                let site = SupportId::parse(keys::site_of_pk(get_s(i, keys::PK)?)?).ok()?;
                Some((site, (get_s(i, "name")?.to_string(), super::items::site_resells(i))))
            })
            .collect())
    }

    /// P1/P2 for a switched version, exactly once: each chunk of memberships (with the reseller
    /// markers of sites that resell) commits together with its mark on the version record, so a
    /// redelivery neither repeats it (a member an admin removed stays removed) nor misses it.
    /// A version that was never switched provisions nothing.
    async fn provision(&self, order: &Order, known: Option<ProvisioningState>, options: &ApplyOptions) -> Result<(), ApplyError> {
        let o = &order.order_id;
        let end = &order.end_customer.site.support_id;
        let reseller = order.reseller.as_ref().map(|r| &r.site.support_id);
        let memberships: Vec<(Email, SupportId)> = provisioning(order).memberships.into_iter().collect();
        let record_key = keys::order_version(o, order.version);
        let mut known = known;
        for _ in 0..SWITCH_ATTEMPTS {
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
                    let end_resells =
                        read.iter().any(|i| get_s(i, keys::PK) == Some(keys::site_pk(end).as_str()) && super::items::site_resells(i));
                    ProvisioningState { provisioned: record.provisioned, fan_out: record.fan_out, end_resells }
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
                    items.push(super::access::tx_membership(&self.table, email, site, super::access::RoleWrite::KeepOrUser, &now, None)?);
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

    /// Removes everything versions below `current` left: every line item (found by key
    /// range, so lines a slow delivery staged after an earlier cleanup are found too), and
    /// those versions' numbers from the ship-to grants of every contact any version named.
    /// Idempotent; never touches `current` or newer staged versions.
    /// `stale`: this delivery's own version, older than `current`, whose staged lines it just
    /// removed (only the delivery that staged a version knows its staging is over).
    async fn clean_below(&self, order_id: &OrderId, current: u64, stale: Option<u64>, options: &ApplyOptions) -> Result<(), ApplyError> {
        let pk = keys::order_pk(order_id);
        let lines =
            Query::table("Query old version lines", pk.clone(), Range::Between(keys::LINE_PREFIX.into(), keys::lines_before(current)))
                .keys_only();
        let records = Query::table("Query order versions", pk, Range::Prefix(keys::VERSION_PREFIX.into()));
        let (lines, records) = futures::try_join!(self.query_all(lines), self.query_all(records))?;
        let records: Vec<VersionRecord> = records.into_iter().map(from_item).collect::<Result<_, _>>()?;
        let by_version: BTreeMap<u64, &VersionRecord> = records.iter().map(|r| (r.version, r)).collect();
        let mut doomed: Vec<Key> = Vec::new();
        for item in &lines {
            let (Some(pk), Some(sk)) = (get_s(item, keys::PK), get_s(item, keys::SK)) else { continue };
            doomed.push(Key { pk: pk.into(), sk: sk.into() });
            // The ship-to contacts' copies of the line go with it.
            let Some((version, serial)) = keys::parse_line_sk(sk) else { continue };
            let Some(record) = by_version.get(&version) else { continue };
            let (Some(site), Ok(serial)) = (&record.site, Serial::parse(serial)) else { continue };
            for email in record.ship_to_emails.iter().filter_map(|e| Email::parse(e).ok()) {
                doomed.push(keys::shipped_line(&email, site, &serial, version));
            }
        }
        self.batch_delete("BatchWriteItem delete old lines", doomed).await?;
        self.settle(order_id, current, stale, &records).await?;
        options.reached(Step::LinesCleaned).await?;

        let mut held: BTreeMap<String, (BTreeSet<u64>, bool)> = BTreeMap::new();
        for record in records {
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

impl Store {
    /// The order's entries at each of its sites are now only its current version's and those of
    /// versions still `staged` (older ones were just deleted): listings trust the order's
    /// entries as they are once nothing is staged and the indexes had [`SETTLE_GRACE_SECONDS`]
    /// to forget the deleted ones. Settled items whose grace has passed are removed from the
    /// current site.
    async fn settle(&self, order_id: &OrderId, current: u64, stale: Option<u64>, records: &[VersionRecord]) -> Result<(), StoreError> {
        let now = time::OffsetDateTime::now_utc().unix_timestamp();
        let sites: BTreeSet<&SupportId> = records.iter().filter_map(|r| r.site.as_ref()).collect();
        let expression = if stale.is_some() { "SET settled_until = :t DELETE staged :stale" } else { "SET settled_until = :t" };
        let keys: Vec<Key> = sites.iter().map(|site| keys::unsettled(site, order_id)).collect();
        let settled = futures::future::try_join_all(keys.iter().map(|key| {
            let mut values = vec![(":t", n(now + SETTLE_GRACE_SECONDS))];
            if let Some(v) = stale {
                values.push((":stale", AttributeValue::Ns(vec![v.to_string()])));
            }
            // Only while `current` is the version cleaned below: a newer switch's older entries
            // may still be in the listings until its own cleanup.
            let same = Cond::new("#current = :cleaned").value(":cleaned", n(current));
            self.update("UpdateItem settle order", key, expression, values, Some(same))
        }));
        // Meanwhile, the current site's items whose grace has passed are removed.
        let purged = async {
            let Some(site) = records.iter().find(|r| r.version == current).and_then(|r| r.site.as_ref()) else { return Ok(()) };
            let q = Query::table("Query unsettled orders", keys::site_pk(site), Range::Prefix(keys::UNSETTLED_PREFIX.into()));
            let forgotten: Vec<Key> = self
                .query_all(q)
                .await?
                .iter()
                .filter(|i| super::items::unsettled_is_forgotten(i, now))
                .filter_map(|i| Some(Key { pk: get_s(i, keys::PK)?.into(), sk: get_s(i, keys::SK)?.into() }))
                .collect();
            futures::future::try_join_all(forgotten.iter().map(|key| {
                let still = Cond::new("attribute_not_exists(staged) AND settled_until < :now").value(":now", n(now));
                self.delete("DeleteItem settled order", key, Some(still))
            }))
            .await
            .map(|_| ())
        };
        futures::try_join!(settled, purged)?;
        Ok(())
    }
}

/// Where a switched version's provisioning stands: chunks done, a reseller whose first sale
/// needs its members' markers, and whether the end customer resells.
struct ProvisioningState {
    provisioned: BTreeSet<u64>,
    fan_out: Option<SupportId>,
    end_resells: bool,
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

/// The switch's changes to ship-to reaches: the replaced version's contribution out, the new
/// one's in, one change per (contact, site); changes that cancel out are left out.
fn plan_ship_to_reach(old: Option<&OrderHead>, new: &OrderHead, new_site_name: &str) -> BTreeMap<(Email, SupportId), ShipToReachChange> {
    let mut changes: BTreeMap<(Email, SupportId), ShipToReachChange> = BTreeMap::new();
    for (head, sign) in old.map(|h| (h, -1i64)).into_iter().chain(std::iter::once((new, 1i64))) {
        let count = sign * head.entitlement_count as i64;
        for email in &head.ship_to_contacts {
            let change = changes.entry((email.clone(), head.end_customer.clone())).or_default();
            change.total += count;
            if let Some(r) = &head.reseller {
                *change.via.entry(r.clone()).or_default() += count;
            }
            if sign > 0 {
                change.name = Some(new_site_name.to_string());
            }
        }
    }
    changes.retain(|_, c| !c.is_empty());
    changes
}

/// The order's parties' sites with the names it gives them.
fn party_names(order: &Order) -> BTreeMap<SupportId, String> {
    std::iter::once(&order.end_customer)
        .chain(order.reseller.iter())
        .chain(order.ship_to.iter())
        .map(|party| (party.site.support_id.clone(), party.site.name.clone()))
        .collect()
}

/// The reseller marker of a member of a site that resells.
pub(crate) fn reseller_marker_item(email: &Email, reseller: &SupportId) -> super::keys::Item {
    let mut item = keys::reseller_marker(email, reseller).to_item();
    item.insert("email".into(), s(email.as_str()));
    item.insert("support_id".into(), s(reseller.as_str()));
    item
}

/// A ship-to contact's copy of a staged line (read by the contact's list of the site).
fn shipped_item(email: &Email, o: &OrderId, v: u64, order: &Order, line: &Line) -> Result<super::keys::Item, StoreError> {
    let mut item = line_record(o, v, order, line)?;
    item.extend(keys::shipped_line(email, &order.end_customer.site.support_id, &line.serial, v).to_item());
    Ok(item)
}

/// A staged line as stored, without its keys: the line item and every ship-to copy hold it.
fn line_record(o: &OrderId, v: u64, order: &Order, line: &Line) -> Result<super::keys::Item, StoreError> {
    let site = order.end_customer.site.support_id.clone();
    let reseller = order.reseller.as_ref().map(|r| r.site.support_id.clone());
    super::to_item(&LineItem { order_id: o.clone(), version: v, site, reseller, line: line.clone() })
}

fn line_item(o: &OrderId, v: u64, order: &Order, line: &Line) -> Result<super::keys::Item, StoreError> {
    let site = &order.end_customer.site.support_id;
    let mut item = line_record(o, v, order, line)?;
    item.extend(keys::order_line(o, v, &line.serial).to_item());
    item.insert(keys::GSI1_PK.into(), s(keys::site_entitlements_gsi1pk(site)));
    item.insert(keys::GSI1_SK.into(), s(keys::line_index_sk(&line.serial, v)));
    if let Some(r) = order.reseller.as_ref().map(|r| &r.site.support_id) {
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

    fn head(site: &str, reseller: Option<&str>, contacts: &[&str], count: u64) -> OrderHead {
        OrderHead {
            order_id: OrderId::parse("O-1").unwrap(),
            current_version: 1,
            digest: String::new(),
            status: crate::domain::OrderStatus::Active,
            ordered_at: String::new(),
            end_customer: sid(site),
            reseller: reseller.map(sid),
            ship_to: None,
            ship_to_contacts: contacts.iter().map(|e| Email::parse(e).unwrap()).collect(),
            entitlement_count: count,
            updated_at: String::new(),
        }
    }

    #[test]
    fn a_switch_moves_each_ship_to_contacts_reach_from_the_old_version_to_the_new() {
        let (ted, tina) = (Email::parse("ted@d.example").unwrap(), Email::parse("tina@d.example").unwrap());
        // New order: each contact gains the count, under the reseller too.
        let first = plan_ship_to_reach(None, &head("ACME-1", Some("SKY-1"), &["ted@d.example"], 3), "Acme");
        let change = &first[&(ted.clone(), sid("ACME-1"))];
        assert_eq!((change.total, change.via[&sid("SKY-1")], change.name.as_deref()), (3, 3, Some("Acme")));
        // Same contact, same site, 3 → 5 lines, direct sale now; tina added; a cancelled
        // replacement takes everything out.
        let old = head("ACME-1", Some("SKY-1"), &["ted@d.example"], 3);
        let second = plan_ship_to_reach(Some(&old), &head("ACME-1", None, &["ted@d.example", "tina@d.example"], 5), "Acme");
        let change = &second[&(ted.clone(), sid("ACME-1"))];
        assert_eq!((change.total, change.via[&sid("SKY-1")]), (2, -3));
        assert_eq!(second[&(tina, sid("ACME-1"))].total, 5);
        let moved = plan_ship_to_reach(Some(&old), &head("FARM-1", Some("SKY-1"), &["ted@d.example"], 3), "Farm");
        assert_eq!(moved[&(ted.clone(), sid("ACME-1"))].total, -3);
        assert_eq!(moved[&(ted.clone(), sid("FARM-1"))].total, 3);
        // An unchanged version writes nothing.
        assert!(plan_ship_to_reach(Some(&old), &old, "Acme").is_empty());
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
