//! Step 6: finish — remove what versions other than the current one left, check the indexes
//! forgot it, and let the sites' listings trust the order again. Also a final exit's
//! "give the version up".
//!
//! Order matters, because a cleanup may stop after any request: a version's ship-to copies
//! go before its lines (and both are found from the version record, not from each other), its
//! claims and grants after them, and the record is marked `gone` only once the indexes were
//! queried and list none of its entries. A site's unsettled item goes last, when every other
//! version there is gone: the next delivery, or this message's retry, completes whatever a
//! stopped cleanup left.

use super::entities::{UnsettledItem, VersionRecord};
use super::plan::{may_forget, versions_to_clean};
use super::{ApplyError, ApplyOptions, Step};
use crate::domain::{Email, OrderId, Serial, SupportId, DIGEST_VERSION};
use crate::store::keys;
use crate::store::table::{Query, Range};
use crate::store::tx::Cond;
use crate::store::{from_item, get_s, n, s, Store, StoreError};
use aws_sdk_dynamodb::types::AttributeValue;
use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

type SerialsByVersion = BTreeMap<u64, BTreeSet<Serial>>;

/// Requests of one cleanup step in flight at once.
const REQUESTS_IN_FLIGHT: usize = 16;
/// How often a cleanup looks at a lagging index before it leaves the rest to the work list.
const INDEX_LOOKS: u32 = 2;

impl Store {
    /// Cleans every version other than `current` that is not gone yet (older ones, and
    /// abandoned newer ones), then settles the order's unsettled items. Idempotent; never
    /// touches `current` or a newer version still being staged. `Ok(false)`: an index still
    /// lists deleted entries; the order is on the settle work list ([`Store::settle_pending`])
    /// and its unsettled items stay (readers keep honouring them).
    pub(super) async fn finish(&self, order_id: &OrderId, current: Option<u64>, options: &ApplyOptions) -> Result<bool, ApplyError> {
        let pk = keys::order_pk(order_id);
        let records = self.query_all(Query::table("Query order versions", pk, Range::Prefix(keys::VERSION_PREFIX.into()))).await?;
        let mut records: Vec<VersionRecord> = records.into_iter().map(from_item).collect::<Result<_, _>>()?;
        let doomed: Vec<VersionRecord> = versions_to_clean(&records, current).into_iter().cloned().collect();
        let current_record = current.and_then(|c| records.iter().find(|r| r.version == c)).cloned();
        if !doomed.is_empty() {
            let (stored, serials) = self.serials_of(order_id, &doomed).await?;
            self.delete_entries(order_id, &doomed, &stored).await?;
            options.reached(Step::LinesCleaned).await?;
            let kept: BTreeSet<&Serial> = current_record.iter().flat_map(|r| r.serials.iter()).collect();
            let kept_contacts: BTreeSet<String> = current_record.iter().flat_map(|r| r.ship_to_emails.iter().cloned()).collect();
            futures::try_join!(
                self.release_claims(order_id, &doomed, &serials, &kept),
                self.revoke_grants(order_id, &doomed, &kept_contacts)
            )?;
            let gone = self.forgotten_by_indexes(order_id, &doomed, &serials).await?;
            for record in records.iter_mut().filter(|r| gone.contains(&r.version)) {
                record.gone = true;
            }
            if gone.len() < doomed.len() {
                // Forgetting waits for the indexes: the work list finishes it later (cost, not
                // visibility: the listings keep honouring the unsettled items meanwhile).
                let mut marker = keys::settle_pending(order_id).to_item();
                marker.insert("order_id".into(), s(order_id.as_str()));
                self.put("PutItem settle later", marker, None).await?;
                return Ok(false);
            }
        }
        self.settle(order_id, &records).await?;
        Ok(true)
    }

    /// Finishes up to `limit` orders of the settle work list (their indexes lagged when their
    /// own cleanup asked): each is cleaned and settled again from its head as it is now, and
    /// leaves the list once settled. Returns how many it left on the list: those still waiting
    /// among the ones tried, plus one if the list goes on past them. A page may come back
    /// short of `limit` with more to follow (DynamoDB's 1 MB cut): the walk goes on from its
    /// `LastEvaluatedKey` rather than taking a short page for the end of the list.
    pub async fn settle_pending(&self, limit: usize) -> Result<usize, ApplyError> {
        let mut start = None;
        let mut tried = 0;
        let mut waiting = 0;
        loop {
            let q = Query::table("Query settle work list", keys::SETTLE_PENDING_PK, Range::All).limit(limit - tried).start(start);
            let page = self.query_page(&q).await?;
            for item in page.items {
                tried += 1;
                let Some(order_id) = get_s(&item, "order_id").and_then(|o| OrderId::parse(o).ok()) else { continue };
                let head = self.order_head(&order_id, true).await?;
                if self.finish(&order_id, head.map(|h| h.current_version), &ApplyOptions::default()).await? {
                    self.delete("DeleteItem settled from work list", &keys::settle_pending(&order_id), None).await?;
                } else {
                    waiting += 1;
                }
            }
            match page.last_key {
                Some(_) if tried >= limit => return Ok(waiting + 1),
                Some(next) => start = Some(next),
                None => return Ok(waiting),
            }
        }
    }

    /// Each doomed version's serials: those whose lines are stored (the lines and their copies
    /// to delete: a line, its claim and its copies are staged in one transaction, and copies
    /// go before lines, so a copy exists only beside its line), and those plus its record's
    /// serials (what the indexes may still list, and the claims it may hold). A copy's key
    /// does not name its order, so a serial the version never staged — one another order
    /// owns — must never lead to a copy's delete.
    async fn serials_of(&self, o: &OrderId, doomed: &[VersionRecord]) -> Result<(SerialsByVersion, SerialsByVersion), StoreError> {
        let listed = futures::future::try_join_all(doomed.iter().map(|r| {
            let q = Query::table("Query version lines", keys::order_pk(o), Range::Prefix(keys::line_prefix(r.version))).keys_only();
            self.query_all(q)
        }))
        .await?;
        let mut stored = SerialsByVersion::new();
        let mut all = SerialsByVersion::new();
        for (record, lines) in doomed.iter().zip(listed) {
            let found: BTreeSet<Serial> = lines
                .iter()
                .filter_map(|i| keys::parse_line_sk(get_s(i, keys::SK)?))
                .filter_map(|(_, serial)| Serial::parse(serial).ok())
                .collect();
            all.insert(record.version, record.serials.iter().cloned().chain(found.iter().cloned()).collect());
            stored.insert(record.version, found);
        }
        Ok((stored, all))
    }

    /// Copies first, then lines: a line left behind still leads the next cleanup to its
    /// copies.
    async fn delete_entries(
        &self,
        o: &OrderId,
        doomed: &[VersionRecord],
        serials: &BTreeMap<u64, BTreeSet<Serial>>,
    ) -> Result<(), StoreError> {
        let mut copies = Vec::new();
        let mut lines = Vec::new();
        for record in doomed {
            let Some(all) = serials.get(&record.version) else { continue };
            for serial in all {
                lines.push(keys::order_line(o, record.version, serial));
                if let Some(site) = &record.site {
                    copies.extend(record.ship_to().iter().map(|email| keys::shipped_line(email, site, serial, record.version)));
                }
            }
        }
        self.batch_delete("BatchWriteItem delete old copies", copies).await?;
        self.batch_delete("BatchWriteItem delete old lines", lines).await
    }

    /// Takes the doomed versions out of their serials' claims; a claim no version holds any
    /// more (a serial the current version does not have) is deleted: it can be sold again.
    async fn release_claims(
        &self,
        o: &OrderId,
        doomed: &[VersionRecord],
        serials: &BTreeMap<u64, BTreeSet<Serial>>,
        kept: &BTreeSet<&Serial>,
    ) -> Result<(), StoreError> {
        let mut by_serial: BTreeMap<&Serial, Vec<String>> = BTreeMap::new();
        for record in doomed {
            for serial in serials.get(&record.version).into_iter().flatten() {
                by_serial.entry(serial).or_default().push(record.version.to_string());
            }
        }
        let by_serial: Vec<(&Serial, Vec<String>)> = by_serial.into_iter().collect();
        for chunk in by_serial.chunks(REQUESTS_IN_FLIGHT) {
            futures::future::try_join_all(chunk.iter().map(|(serial, versions)| async move {
                let key = keys::serial_claim(serial);
                let ours = Cond::new("order_id = :o").value(":o", s(o.as_str()));
                let versions = vec![(":v", AttributeValue::Ns(versions.clone()))];
                self.update("UpdateItem release claim", &key, "DELETE versions :v", versions, Some(ours)).await?;
                if !kept.contains(serial) {
                    let unheld = Cond::new("order_id = :o AND attribute_not_exists(versions)").value(":o", s(o.as_str()));
                    self.delete("DeleteItem released claim", &key, Some(unheld)).await?;
                }
                Ok::<(), StoreError>(())
            }))
            .await?;
        }
        Ok(())
    }

    /// Takes the doomed versions out of the ship-to grants; a grant the current version does
    /// not hold is deleted once empty (unless a newer version added itself meanwhile).
    async fn revoke_grants(&self, o: &OrderId, doomed: &[VersionRecord], kept: &BTreeSet<String>) -> Result<(), StoreError> {
        let mut held: BTreeMap<String, BTreeSet<u64>> = BTreeMap::new();
        for record in doomed {
            for email in &record.ship_to_emails {
                held.entry(email.clone()).or_default().insert(record.version);
            }
        }
        futures::future::try_join_all(held.into_iter().map(|(email, versions)| async move {
            let Ok(parsed) = Email::parse(&email) else { return Ok(()) };
            let key = keys::ship_to_grant(&parsed, o);
            let versions = AttributeValue::Ns(versions.iter().map(u64::to_string).collect());
            self.update(
                "UpdateItem revoke grant",
                &key,
                "DELETE versions :v",
                vec![(":v", versions)],
                Some(Cond::new("attribute_exists(#pk)")),
            )
            .await?;
            if !kept.contains(&email) {
                self.delete("DeleteItem empty grant", &key, Some(Cond::new("attribute_not_exists(versions)"))).await?;
            }
            Ok::<(), StoreError>(())
        }))
        .await?;
        Ok(())
    }

    /// Asks the indexes, entry by entry, whether they still list the doomed versions' lines;
    /// the versions none of whose entries is listed are marked `gone`. A lagging index is
    /// looked at again a few times (the wait only changes how soon, never what readers see).
    async fn forgotten_by_indexes(
        &self,
        o: &OrderId,
        doomed: &[VersionRecord],
        serials: &BTreeMap<u64, BTreeSet<Serial>>,
    ) -> Result<BTreeSet<u64>, StoreError> {
        let mut pending: Vec<&VersionRecord> = doomed.iter().collect();
        let mut gone = BTreeSet::new();
        for look in 0..INDEX_LOOKS {
            if look > 0 {
                tokio::time::sleep(Duration::from_millis(200 * u64::from(look))).await;
            }
            let mut still = Vec::new();
            for record in pending {
                if self.index_lists_any(o, record, serials.get(&record.version)).await? {
                    still.push(record);
                } else {
                    let key = keys::order_version(o, record.version);
                    self.update("UpdateItem version gone", &key, "SET gone = :t", vec![(":t", AttributeValue::Bool(true))], None).await?;
                    gone.insert(record.version);
                }
            }
            if still.is_empty() {
                break;
            }
            pending = still;
        }
        Ok(gone)
    }

    async fn index_lists_any(&self, o: &OrderId, record: &VersionRecord, serials: Option<&BTreeSet<Serial>>) -> Result<bool, StoreError> {
        let Some(site) = &record.site else { return Ok(false) };
        let v = record.version;
        let mut queries = Vec::new();
        for serial in serials.into_iter().flatten() {
            let sk = keys::line_index_sk(serial, v);
            queries.push(
                Query::index(
                    "Query index forgot",
                    keys::GSI1,
                    keys::site_entitlements_gsi1pk(site),
                    Range::Between(sk.clone(), sk.clone()),
                )
                .keys_only(),
            );
            if let Some(r) = &record.reseller {
                queries.push(
                    Query::index("Query index forgot", keys::GSI2, keys::sold_to_gsi2pk(r, site), Range::Between(sk.clone(), sk))
                        .keys_only(),
                );
            }
        }
        let pk = keys::order_pk(o);
        for chunk in queries.chunks(REQUESTS_IN_FLIGHT) {
            let pages = futures::future::try_join_all(chunk.iter().map(|q| self.query_page(q))).await?;
            // Only this order's entry counts (a serial may have changed hands since).
            if pages.iter().flat_map(|p| p.items.iter()).any(|i| get_s(i, keys::PK) == Some(pk.as_str())) {
                return Ok(true);
            }
        }
        Ok(false)
    }

    /// Deletes each site's unsettled item of the order once [`may_forget`] says the listings
    /// can trust the order's entries there. The items are read first, then the head: a switch
    /// before the items were read shows in the head, and one after bumps the `revision` of the
    /// items it touches (both sites of a move), so each delete — conditional on the item as
    /// read — never acts on a current version the order has already left (the `current` a
    /// delivery decided on may be old by now).
    async fn settle(&self, o: &OrderId, records: &[VersionRecord]) -> Result<(), StoreError> {
        let sites: Vec<&SupportId> = records.iter().filter_map(|r| r.site.as_ref()).collect::<BTreeSet<_>>().into_iter().collect();
        let keys: Vec<keys::Key> = sites.iter().map(|site| keys::unsettled(site, o)).collect();
        let items = futures::future::try_join_all(keys.iter().map(|key| self.get("GetItem unsettled order", key, true))).await?;
        if items.iter().all(Option::is_none) {
            return Ok(());
        }
        let current = self.order_head(o, true).await?.map(|h| h.current_version);
        futures::future::try_join_all(
            sites.into_iter().zip(items).filter_map(|(site, item)| Some((site, UnsettledItem::from_item(&item?)))).map(
                |(site, item)| async move {
                    if !may_forget(&item, site, current, records) {
                        return Ok(false);
                    }
                    let as_read = if item.revision == 0 {
                        Cond::new("attribute_not_exists(revision)")
                    } else {
                        Cond::new("revision = :rev").value(":rev", n(item.revision))
                    };
                    self.delete("DeleteItem settled order", &keys::unsettled(site, o), Some(as_read)).await
                },
            ),
        )
        .await?;
        Ok(())
    }

    /// Marks a version given up, unless it was switched in (then it stays: it is the order's
    /// state) or the stored receipt is another message's. `Ok(false)`: nothing to give up.
    pub(super) async fn mark_abandoned(&self, o: &OrderId, v: u64, digest: &str) -> Result<bool, StoreError> {
        let ours = Cond::new(
            "attribute_exists(#pk) AND attribute_not_exists(switched) AND (digest = :digest OR NOT begins_with(digest, :format))",
        )
        .value(":digest", s(digest))
        .value(":format", s(DIGEST_VERSION));
        let key = keys::order_version(o, v);
        self.update("UpdateItem abandon version", &key, "SET abandoned = :t", vec![(":t", AttributeValue::Bool(true))], Some(ours)).await
    }
}
