//! The items ingestion writes, as typed entities with their keys and their one writer each:
//! the version record (`ORDER#{o}`/`VERSION#{v}`), a site's unsettled-order item
//! (`SITE#{s}`/`UNSETTLED#{o}`), the line item and a ship-to contact's copy of it.

use super::super::keys::{self, Item};
use super::super::{get_n, get_s, n, s, StoreError};
use crate::domain::entitlement::LineItem;
use crate::domain::{Email, Line, Order, OrderId, Serial, SupportId};
use aws_sdk_dynamodb::types::AttributeValue;
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;

/// What was received for one version, and how far applying it got.
///
/// The receipt (`digest`, parties, `serials`) is written once, by the first delivery
/// (`if_not_exists`); progress is only ever added — by the switch (`switched`, `fan_out`),
/// provisioning (`provisioned`), cleanup (`gone`) and a final exit (`abandoned`) — so a late
/// duplicate cannot take it back.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub(crate) struct VersionRecord {
    pub version: u64,
    #[serde(default)]
    pub digest: String,
    #[serde(default)]
    pub ship_to_emails: Vec<String>,
    /// The end-customer site: where this version's lines are listed and its copies live.
    #[serde(default)]
    pub site: Option<SupportId>,
    /// The reseller: its index lists this version's lines too.
    #[serde(default)]
    pub reseller: Option<SupportId>,
    /// Every serial of the version: what its entries are, even once the lines are deleted.
    #[serde(default)]
    pub serials: Vec<Serial>,
    #[serde(default)]
    pub received_at: String,
    #[serde(default)]
    pub switched: bool,
    #[serde(default)]
    pub provisioned: BTreeSet<u64>,
    #[serde(default)]
    pub fan_out: Option<SupportId>,
    /// How far a fan-out got: the last member it marked.
    #[serde(default)]
    pub fan_out_after: Option<String>,
    /// Given up by a final exit (dead-lettered): it may no longer be switched in.
    #[serde(default)]
    pub abandoned: bool,
    /// Its lines, copies and claims are deleted and the indexes were checked to list none of
    /// its entries: the listings no longer need to be told about it.
    #[serde(default)]
    pub gone: bool,
}

impl VersionRecord {
    /// The record's receipt for `order`; progress starts empty.
    pub fn receipt(order: &Order, digest: &str, received_at: String) -> VersionRecord {
        VersionRecord {
            version: order.version,
            digest: digest.to_string(),
            ship_to_emails: order.ship_to.iter().flat_map(|p| p.emails()).map(|e| e.to_string()).collect(),
            site: Some(order.end_customer.site.support_id.clone()),
            reseller: order.reseller.as_ref().map(|r| r.site.support_id.clone()),
            serials: order.lines.iter().map(|l| l.serial.clone()).collect(),
            received_at,
            ..VersionRecord::default()
        }
    }

    pub fn ship_to(&self) -> Vec<Email> {
        self.ship_to_emails.iter().filter_map(|e| Email::parse(e).ok()).collect()
    }

    /// The update that writes the receipt: attributes already there are kept (`if_not_exists`),
    /// progress attributes are never named.
    pub fn receipt_update(&self) -> Result<UpdateExpression, StoreError> {
        let item = super::super::to_item(self)?;
        let receipt = ["digest", "ship_to_emails", "site", "reseller", "serials", "received_at"];
        let mut set = vec!["version = :version".to_string()];
        let mut values = vec![(":version", n(self.version))];
        for (name, placeholder) in receipt.iter().zip([":digest", ":ship_to", ":site", ":reseller", ":serials", ":received"]) {
            if let Some(value) = item.get(*name).filter(|v| !v.is_null()) {
                set.push(format!("{name} = if_not_exists({name}, {placeholder})"));
                values.push((placeholder, value.clone()));
            }
        }
        Ok((format!("SET {}", set.join(", ")), values))
    }
}

/// An update expression with its values.
pub(crate) type UpdateExpression = (String, Vec<(&'static str, AttributeValue)>);

/// A site's item for an order whose entries there are not all current. Readers trust an
/// order's entries as they are unless its item says otherwise.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct UnsettledItem {
    pub order_id: Option<OrderId>,
    /// The current version, when it lists its entries at this site (`None`: nothing of the
    /// order is current here).
    pub current: Option<u64>,
    pub active: bool,
    /// Versions being staged at this site.
    pub staged: Vec<u64>,
    /// Bumped by every write: settling deletes the item only as it read it.
    pub revision: i64,
}

impl UnsettledItem {
    pub fn from_item(item: &Item) -> UnsettledItem {
        UnsettledItem {
            order_id: get_s(item, "order_id").and_then(|o| OrderId::parse(o).ok()),
            current: get_n(item, "current").map(|c| c.max(0) as u64),
            active: item.get("active").and_then(|a| a.as_bool().ok()).copied().unwrap_or(false),
            staged: item
                .get("staged")
                .and_then(|v| v.as_ns().ok())
                .map(|ns| ns.iter().filter_map(|n| n.parse().ok()).collect())
                .unwrap_or_default(),
            revision: get_n(item, "revision").unwrap_or(0),
        }
    }
}

/// What one write changes of a site's unsettled item: its one writer is [`tx_unsettled`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum UnsettledChange {
    /// Staging: the version joins `staged`; `current` (with `active`) is set from the head only
    /// if the item does not say one already.
    Staging { version: u64, head: Option<(u64, bool)> },
    /// The switch at the version's own site: it is current (and no longer staged).
    Switched { version: u64, active: bool },
    /// The switch at the site the order moved away from: nothing of it is current there.
    MovedAway { version: u64 },
}

/// The one writer of `SITE#{s}`/`UNSETTLED#{o}` (settling deletes it, conditional on its
/// `revision`). Every write bumps `revision`.
pub(crate) fn tx_unsettled(
    table: &str,
    site: &SupportId,
    o: &OrderId,
    change: UnsettledChange,
) -> Result<aws_sdk_dynamodb::types::TransactWriteItem, StoreError> {
    let mut values = vec![(":o", s(o.as_str())), (":one", n(1))];
    let version = |v: u64| AttributeValue::Ns(vec![v.to_string()]);
    let expression = match change {
        UnsettledChange::Staging { version: v, head } => {
            values.push((":v", version(v)));
            match head {
                Some((current, active)) => {
                    values.extend([(":hv", n(current)), (":ha", AttributeValue::Bool(active))]);
                    "SET order_id = :o, #current = if_not_exists(#current, :hv), active = if_not_exists(active, :ha) ADD staged :v, revision :one"
                }
                None => "SET order_id = :o ADD staged :v, revision :one",
            }
        }
        UnsettledChange::Switched { version: v, active } => {
            values.extend([(":v", version(v)), (":cv", n(v)), (":ca", AttributeValue::Bool(active))]);
            "SET order_id = :o, #current = :cv, active = :ca DELETE staged :v ADD revision :one"
        }
        UnsettledChange::MovedAway { version: v } => {
            values.push((":v", version(v)));
            "SET order_id = :o REMOVE #current, active DELETE staged :v ADD revision :one"
        }
    };
    crate::store::tx::tx_update(table, &keys::unsettled(site, o), expression, values, None)
}

/// A staged line as stored, without its keys: the line item and every ship-to copy hold it.
fn line_record(o: &OrderId, v: u64, order: &Order, line: &Line) -> Result<Item, StoreError> {
    let site = order.end_customer.site.support_id.clone();
    let reseller = order.reseller.as_ref().map(|r| r.site.support_id.clone());
    super::super::to_item(&LineItem { order_id: o.clone(), version: v, site, reseller, line: line.clone() })
}

/// The line item, listed by the site's index (`gsi1`) and its reseller's (`gsi2`).
pub(crate) fn line_item(order: &Order, line: &Line) -> Result<Item, StoreError> {
    let (o, v) = (&order.order_id, order.version);
    let site = &order.end_customer.site.support_id;
    let mut item = line_record(o, v, order, line)?;
    item.extend(keys::order_line(o, v, &line.serial).to_item());
    item.insert(keys::GSI1_PK.into(), s(keys::site_entitlements_gsi1pk(site)));
    item.insert(keys::GSI1_SK.into(), s(keys::line_index_sk(&line.serial, v)));
    if let Some(r) = order.reseller.as_ref().map(|r| &r.site.support_id) {
        item.insert(keys::GSI2_PK.into(), s(keys::sold_to_gsi2pk(r, site)));
        item.insert(keys::GSI2_SK.into(), s(keys::line_index_sk(&line.serial, v)));
    }
    // The renewal radar: by end month, per site (gsi3) and per reseller (gsi4).
    let month = keys::end_month(line.ends_on);
    item.insert(keys::GSI3_PK.into(), s(keys::renewals_site_gsi3pk(site, &month)));
    item.insert(keys::GSI3_SK.into(), s(keys::renewal_sk(line.ends_on, &line.serial, v)));
    if let Some(r) = order.reseller.as_ref().map(|r| &r.site.support_id) {
        item.insert(keys::GSI4_PK.into(), s(keys::renewals_sold_gsi4pk(r, &month)));
        item.insert(keys::GSI4_SK.into(), s(keys::renewal_sk(line.ends_on, &line.serial, v)));
    }
    // Expiry notices: by end day, sharded by serial (gsi5; its sort key is gsi1pk).
    item.insert(keys::GSI5_PK.into(), s(keys::ends_on_gsi5pk(line.ends_on, &line.serial)));
    Ok(item)
}

/// A ship-to contact's copy of a staged line (read by the contact's list of the site).
pub(crate) fn shipped_item(email: &Email, order: &Order, line: &Line) -> Result<Item, StoreError> {
    let mut item = line_record(&order.order_id, order.version, order, line)?;
    item.extend(keys::shipped_line(email, &order.end_customer.site.support_id, &line.serial, order.version).to_item());
    // The renewal radar of the contact's ship-to copies, by end month (gsi3).
    item.insert(keys::GSI3_PK.into(), s(keys::renewals_shipped_gsi3pk(email, &keys::end_month(line.ends_on))));
    item.insert(keys::GSI3_SK.into(), s(keys::renewal_sk(line.ends_on, &line.serial, order.version)));
    Ok(item)
}

/// The reseller marker of a member of a site that resells.
/// A reseller marker carries its membership's end (`ends_at`), so a read that finds the
/// marker knows when it stops counting without reading the membership too.
pub(crate) fn reseller_marker_item(email: &Email, reseller: &SupportId, ends_at: Option<&str>) -> Item {
    let mut item = keys::reseller_marker(email, reseller).to_item();
    item.insert("email".into(), s(email.as_str()));
    item.insert("support_id".into(), s(reseller.as_str()));
    if let Some(end) = ends_at {
        item.insert(crate::store::access_expiry::ENDS_AT.into(), s(end));
    }
    item
}

/// The condition a marker write puts on its membership: it exists with the end as read
/// (or still none), so a marker never outlives, or outlasts, the membership it copies.
pub(crate) fn membership_as_read(ends_at: Option<&str>) -> crate::store::tx::Cond {
    match ends_at {
        None => crate::store::tx::Cond::new("attribute_exists(#pk) AND attribute_not_exists(ends_at)"),
        Some(end) => crate::store::tx::Cond::new("ends_at = :ends_at").value(":ends_at", s(end)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_receipt_update_names_no_progress_attribute() {
        let record = VersionRecord {
            version: 3,
            digest: "v1:abc".into(),
            site: Some(SupportId::parse("ACME-1").unwrap()),
            serials: vec![Serial::parse("S1").unwrap()],
            switched: true,
            gone: true,
            ..VersionRecord::default()
        };
        let (expression, values) = record.receipt_update().unwrap();
        for progress in ["switched", "provisioned", "fan_out", "fan_out_after", "abandoned", "gone"] {
            assert!(!expression.contains(progress), "{expression}");
        }
        assert!(expression.contains("digest = if_not_exists(digest, :digest)"), "{expression}");
        assert!(!expression.contains("reseller"), "an absent reseller is not written: {expression}");
        assert_eq!(values.len(), expression.matches(':').count());
    }

    #[test]
    fn an_unsettled_item_reads_its_versions() {
        let mut item = keys::unsettled(&SupportId::parse("A-1").unwrap(), &OrderId::parse("O-1").unwrap()).to_item();
        item.insert("order_id".into(), s("O-1"));
        item.insert("current".into(), n(2));
        item.insert("staged".into(), AttributeValue::Ns(vec!["3".into()]));
        let read = UnsettledItem::from_item(&item);
        assert_eq!((read.current, read.staged, read.active), (Some(2), vec![3], false));
    }
}
