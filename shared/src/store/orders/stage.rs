//! Steps 2–3: record the version's receipt, check the serials, and stage the version.

use super::entities::{line_item, shipped_item, tx_unsettled, UnsettledChange, VersionRecord};
use super::plan::{holder_of, lines_in_first_chunk, lines_per_chunk, Holder};
use super::{now_rfc3339, ApplyError, ApplyOptions, Step};
use crate::domain::entitlement::OrderHead;
use crate::domain::{Email, Line, Order, OrderId, Serial, DIGEST_VERSION};
use crate::store::items::SerialClaim;
use crate::store::keys;
use crate::store::table::TxError;
use crate::store::tx::{tx_check, tx_put, tx_update, Cond};
use crate::store::{from_item, n, s, Store, StoreError};
use aws_sdk_dynamodb::types::{AttributeValue, TransactWriteItem};
use std::collections::BTreeMap;

/// The condition every staging write carries: the head has not moved past this version, so
/// a delivery that is overtaken cannot write lines after the newer version's cleanup.
fn head_not_past(v: u64) -> Cond {
    Cond::new("attribute_not_exists(#pk) OR current_version <= :v").value(":v", n(v))
}

impl Store {
    /// Writes the version's receipt once; a receipt already there with another digest (in the
    /// current format) makes this message a conflicting duplicate. Never touches progress.
    pub(super) async fn record_version(&self, order: &Order, digest: &str) -> Result<(), ApplyError> {
        let record = VersionRecord::receipt(order, digest, now_rfc3339());
        let (expression, values) = record.receipt_update()?;
        // A record written under another digest format cannot be compared: it is trusted.
        let same = Cond::new("attribute_not_exists(digest) OR digest = :digest OR NOT begins_with(digest, :format)")
            .value(":digest", s(digest))
            .value(":format", s(DIGEST_VERSION));
        let key = keys::order_version(&order.order_id, order.version);
        if self.update("UpdateItem order version", &key, &expression, values, Some(same)).await? {
            Ok(())
        } else {
            Err(ApplyError::ConflictingDuplicate { order_id: order.order_id.clone(), version: order.version })
        }
    }

    /// Refuses the message before writing any line if a serial belongs to another stored order
    /// (read consistently). A claim whose holder is not stored is not final: retried.
    pub(super) async fn check_serials(&self, order: &Order) -> Result<(), ApplyError> {
        let claims =
            self.batch_get("BatchGetItem serial claims", order.lines.iter().map(|l| keys::serial_claim(&l.serial)).collect(), true).await?;
        let foreign: Vec<SerialClaim> = claims
            .into_iter()
            .map(from_item::<SerialClaim>)
            .collect::<Result<Vec<_>, _>>()?
            .into_iter()
            .filter(|c| c.order_id != order.order_id && !c.versions.is_empty())
            .collect();
        match self.refusal(foreign).await? {
            None => Ok(()),
            Some(refused) => Err(refused),
        }
    }

    /// Why other orders' claims stop this order (`None`: there are none): a stored holder
    /// takes the serial for good, any other holder may still give it back.
    async fn refusal(&self, claims: Vec<SerialClaim>) -> Result<Option<ApplyError>, StoreError> {
        if claims.is_empty() {
            return Ok(None);
        }
        let holders: Vec<OrderId> = claims.iter().map(|c| c.order_id.clone()).collect();
        let heads: BTreeMap<OrderId, OrderHead> = self
            .batch_get("BatchGetItem claim holders", holders.iter().map(keys::order_head).collect(), true)
            .await?
            .into_iter()
            .map(from_item::<OrderHead>)
            .collect::<Result<Vec<_>, _>>()?
            .into_iter()
            .map(|h| (h.order_id.clone(), h))
            .collect();
        let stored = claims.iter().find(|c| holder_of(&c.versions, heads.get(&c.order_id)) == Holder::Stored);
        Ok(match stored {
            Some(c) => Some(ApplyError::SerialTaken { serial: c.serial.clone(), owner: c.order_id.to_string() }),
            None => claims.first().map(|c| ApplyError::SerialHeld { serial: c.serial.clone(), holder: c.order_id.to_string() }),
        })
    }

    /// Stages the version. The site's unsettled item learns of it (with the ship-to grants,
    /// checked against the head as read) in the same transaction as the first lines: readers
    /// then trust only the order's current entries there. Claims, lines and copies are written
    /// **in serial order** (two orders that share serials meet at the smallest shared one: one
    /// of them wins), each later transaction checking the head has not moved past this version.
    /// `Ok(false)`: the head moved since it was read; decide again.
    pub(super) async fn stage(&self, order: &Order, head: Option<&OrderHead>, options: &ApplyOptions) -> Result<bool, ApplyError> {
        let (o, v) = (&order.order_id, order.version);
        let ship_to: Vec<&Email> = order.ship_to.iter().flat_map(|p| p.emails()).collect();
        let mut items: Vec<TransactWriteItem> = ship_to
            .iter()
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
        let site = &order.end_customer.site.support_id;
        let head_here = head.filter(|h| &h.end_customer == site).map(|h| (h.current_version, h.is_active()));
        items.push(tx_unsettled(&self.table, site, o, UnsettledChange::Staging { version: v, head: head_here })?);
        // A new staging takes back an earlier final exit's "given up" (an operator's redrive).
        items.push(tx_update(&self.table, &keys::order_version(o, v), "REMOVE abandoned", vec![], None)?);
        let head_is = match head {
            None => Cond::absent(),
            Some(h) => Cond::new("current_version = :hv").value(":hv", n(h.current_version)),
        };
        items.push(tx_check(&self.table, &keys::order_head(o), head_is)?);
        let head_check = items.len() - 1;
        let mut lines: Vec<&Line> = order.lines.iter().collect();
        lines.sort_by(|a, b| a.serial.cmp(&b.serial));
        let (first, rest) = lines.split_at(lines_in_first_chunk(ship_to.len()).min(lines.len()));
        let claims_from = items.len();
        items.extend(self.chunk_writes(order, first, &ship_to)?);
        match self.transact("TransactWriteItems stage grants, unsettled and first lines", items).await {
            Ok(()) => {}
            Err(TxError::Cancelled(codes)) if codes.get(head_check).map(String::as_str) == Some("ConditionalCheckFailed") => {
                return Ok(false)
            }
            Err(TxError::Cancelled(codes)) => return Err(self.refused(&codes, claims_from, first).await?),
            Err(e) => return Err(e.into_apply()),
        }
        let mut staged = 0;
        if !first.is_empty() {
            staged += 1;
            options.reached(Step::Staged(staged)).await?;
        }
        for chunk in rest.chunks(lines_per_chunk(ship_to.len())) {
            if !self.stage_chunk(order, chunk, &ship_to).await? {
                return Ok(false);
            }
            staged += 1;
            options.reached(Step::Staged(staged)).await?;
        }
        Ok(true)
    }

    /// One staging transaction after the first: the head check, the chunk's claims, its lines
    /// and their copies. `Ok(false)`: the head moved past this version.
    async fn stage_chunk(&self, order: &Order, chunk: &[&Line], ship_to: &[&Email]) -> Result<bool, ApplyError> {
        let (o, v) = (&order.order_id, order.version);
        // A version given up by a final exit writes nothing more (until a new staging takes the
        // mark back).
        let kept = Cond::new("attribute_not_exists(abandoned)");
        let mut items =
            vec![tx_check(&self.table, &keys::order_head(o), head_not_past(v))?, tx_check(&self.table, &keys::order_version(o, v), kept)?];
        items.extend(self.chunk_writes(order, chunk, ship_to)?);
        match self.transact("TransactWriteItems stage lines", items).await {
            Ok(()) => Ok(true),
            Err(TxError::Cancelled(codes)) => {
                if codes.first().map(String::as_str) == Some("ConditionalCheckFailed") {
                    return Ok(false);
                }
                if codes.get(1).map(String::as_str) == Some("ConditionalCheckFailed") {
                    return Err(ApplyError::Abandoned { order_id: o.clone(), version: v });
                }
                Err(self.refused(&codes, 2, chunk).await?)
            }
            Err(other) => Err(other.into_apply()),
        }
    }

    /// A chunk's writes: its claims (in the chunk's order), then its lines and their copies (a
    /// cancelled version lists nothing, so it writes only claims).
    fn chunk_writes(&self, order: &Order, chunk: &[&Line], ship_to: &[&Email]) -> Result<Vec<TransactWriteItem>, ApplyError> {
        let (o, v) = (&order.order_id, order.version);
        let mut items = Vec::new();
        for line in chunk {
            // Free, ours, or given back by every version that held it.
            let mine = Cond::new("attribute_not_exists(#pk) OR order_id = :o OR attribute_not_exists(versions)").value(":o", s(o.as_str()));
            items.push(tx_update(
                &self.table,
                &keys::serial_claim(&line.serial),
                "SET order_id = :o, serial = :serial ADD versions :v",
                vec![(":serial", s(line.serial.as_str())), (":v", AttributeValue::Ns(vec![v.to_string()]))],
                Some(mine),
            )?);
        }
        if order.is_active() {
            for line in chunk {
                items.push(tx_put(&self.table, line_item(order, line)?, None)?);
                for email in ship_to {
                    items.push(tx_put(&self.table, shipped_item(email, order, line)?, None)?);
                }
            }
        }
        Ok(items)
    }

    /// Why a staging transaction was cancelled other than by its head check: the claim it
    /// could not take (its claims start at `claims_from`, in `chunk`'s order), or contention.
    async fn refused(&self, codes: &[String], claims_from: usize, chunk: &[&Line]) -> Result<ApplyError, StoreError> {
        let taken = codes.iter().skip(claims_from).position(|c| c == "ConditionalCheckFailed").and_then(|i| chunk.get(i));
        match taken {
            Some(line) => self.serial_refusal(&line.serial).await,
            None => {
                Ok(StoreError::Unavailable { op: "stage lines", code: "TransactionCanceled".into(), message: format!("{codes:?}") }.into())
            }
        }
    }

    /// Why a claim could not be taken: the claim as it is now, and its holder's head.
    async fn serial_refusal(&self, serial: &Serial) -> Result<ApplyError, StoreError> {
        let claim = self.get("GetItem serial claim", &keys::serial_claim(serial), true).await?;
        let claims: Vec<SerialClaim> = claim.map(from_item::<SerialClaim>).transpose()?.into_iter().collect();
        // Given back meanwhile: try again.
        Ok(self.refusal(claims).await?.unwrap_or(ApplyError::SerialHeld { serial: serial.clone(), holder: "another order".into() }))
    }
}

impl TxError {
    pub(super) fn into_apply(self) -> ApplyError {
        match self {
            TxError::Store(e) => e.into(),
            TxError::Cancelled(codes) => {
                StoreError::Rejected { op: "transaction", code: "TransactionCanceled".into(), message: format!("{codes:?}") }.into()
            }
        }
    }
}
