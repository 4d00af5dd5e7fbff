//! Items of the table as typed entities: reads go through serde (`from_item`) instead of
//! attribute names spelled at each use. Keys come from `keys`.

use crate::domain::{Email, OrderId, Serial, SupportId};
use serde::{Deserialize, Serialize};

/// Which order owns a serial, and which of its versions staged it (`SERIAL#{serial}` / `CLAIM`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct SerialClaim {
    pub order_id: OrderId,
    pub serial: Serial,
    /// A number set; absent once no version holds the claim.
    #[serde(default)]
    pub versions: Vec<u64>,
}

/// A contact's ship-to grant on one order, with the versions it holds in (`CONTACT#{e}` / `GRANT#{o}`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct ShipToGrant {
    pub order_id: OrderId,
    pub email: Email,
    #[serde(default)]
    pub versions: Vec<u64>,
}

/// How many entitlements a reseller sold to one customer site (`SOLD#{r}` / `TO#{s}`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct SoldCounter {
    pub reseller: SupportId,
    pub support_id: SupportId,
    #[serde(default)]
    pub entitlements: i64,
    /// The customer's name as the reseller's latest order gave it.
    #[serde(default)]
    pub name: Option<String>,
    /// The reseller sold every current line of the site (`keys::SOLE`): the count is the site's.
    #[serde(default)]
    pub sole: bool,
}

/// A contact's ship-to reach at one site (`CONTACT#{e}` / `SHIPTO#{s}`): the current
/// entitlements of the site its grants show, in total and per reseller of their orders.
#[derive(Debug, Clone, PartialEq, Default)]
pub(crate) struct ShipToReach {
    pub support_id: Option<SupportId>,
    pub name: Option<String>,
    pub entitlements: u64,
    pub via: std::collections::BTreeMap<SupportId, u64>,
}

impl ShipToReach {
    /// Reads the item; the per-reseller counts are the attributes named `via:{r}`.
    pub fn from_item(item: &super::keys::Item) -> ShipToReach {
        let number =
            |v: &aws_sdk_dynamodb::types::AttributeValue| v.as_n().ok().and_then(|n| n.parse::<i64>().ok()).unwrap_or(0).max(0) as u64;
        ShipToReach {
            support_id: item.get("support_id").and_then(|v| v.as_s().ok()).and_then(|s| SupportId::parse(s).ok()),
            name: item.get("name").and_then(|v| v.as_s().ok()).cloned(),
            entitlements: item.get("entitlements").map(number).unwrap_or(0),
            via: item
                .iter()
                .filter_map(|(k, v)| Some((SupportId::parse(k.strip_prefix("via:")?).ok()?, number(v))))
                .filter(|(_, n)| *n > 0)
                .collect(),
        }
    }
    /// Entitlements shown here that no reseller in `resellers` already shows.
    pub fn not_via(&self, resellers: &std::collections::BTreeSet<SupportId>) -> u64 {
        self.entitlements.saturating_sub(self.via.iter().filter(|(r, _)| resellers.contains(*r)).map(|(_, n)| n).sum())
    }
}

/// A site record's current lines per seller (`lines_by:{r}`, `lines_direct` → `None`).
pub(crate) fn site_sellers(site_record: &super::keys::Item) -> std::collections::BTreeMap<Option<SupportId>, i64> {
    site_record
        .iter()
        .filter_map(|(attribute, value)| Some((super::keys::seller_of_lines_by(attribute)?, value.as_n().ok()?.parse::<i64>().ok()?)))
        .collect()
}

/// Whether a site record says the site has resold (its members carry reseller markers).
pub(crate) fn site_resells(site_record: &super::keys::Item) -> bool {
    site_record.get("resells").and_then(|v| v.as_bool().ok()).copied().unwrap_or(false)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::keys;
    use aws_sdk_dynamodb::types::AttributeValue;

    #[test]
    fn a_claim_reads_its_number_set_or_none() {
        let mut item = keys::serial_claim(&Serial::parse("S1").unwrap()).to_item();
        item.insert("order_id".into(), AttributeValue::S("O-1".into()));
        item.insert("serial".into(), AttributeValue::S("S1".into()));
        item.insert("versions".into(), AttributeValue::Ns(vec!["2".into(), "1".into()]));
        let claim: SerialClaim = super::super::from_item(item.clone()).unwrap();
        assert_eq!(claim.order_id.as_str(), "O-1");
        let mut versions = claim.versions.clone();
        versions.sort();
        assert_eq!(versions, [1, 2]);
        item.remove("versions");
        assert!(super::super::from_item::<SerialClaim>(item).unwrap().versions.is_empty());
    }
}
