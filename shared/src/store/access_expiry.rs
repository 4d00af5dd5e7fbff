//! The store side of memberships that expire (issue 21): a membership's end (`ends_at` on
//! `CONTACT#{e}`/`MEMBER#{s}`, copied onto its reseller marker so R3 ends with it), the sweep's
//! day index of end dates (`MEMBER_ENDS#{day}`/`{ends_at}#{s}#{e}`) and its watermark.

use super::keys::{self, Item, Key};
use super::tx::{tx_delete, tx_put, tx_update, Cond};
use super::{get_s, s, Store, StoreError};
use crate::domain::access::Stamp;
use crate::domain::{Email, Role, SupportId};
use aws_sdk_dynamodb::types::TransactWriteItem;

/// The attribute of a membership (and of its reseller marker) holding its end.
pub const ENDS_AT: &str = "ends_at";

/// A membership as the expiry rules need it.
#[derive(Debug, Clone, PartialEq)]
pub struct MembershipStanding {
    pub role: Role,
    pub since: Option<String>,
    pub ends_at: Option<Stamp>,
}

/// One entry of the end-date index: a membership that ends at `ends_at`.
#[derive(Debug, Clone, PartialEq)]
pub struct EndingMembership {
    pub email: Email,
    pub support_id: SupportId,
    pub ends_at: Stamp,
}

impl EndingMembership {
    pub fn key(&self) -> Key {
        keys::membership_end(self.ends_at.day(), self.ends_at.as_str(), &self.support_id, &self.email)
    }
    fn to_item(&self) -> Item {
        let mut item = self.key().to_item();
        item.insert("email".into(), s(self.email.as_str()));
        item.insert("support_id".into(), s(self.support_id.as_str()));
        item.insert(ENDS_AT.into(), s(self.ends_at.as_str()));
        item
    }
    fn from_item(item: &Item) -> Option<EndingMembership> {
        Some(EndingMembership {
            email: Email::parse(get_s(item, "email")?).ok()?,
            support_id: SupportId::parse(get_s(item, "support_id")?).ok()?,
            ends_at: Stamp::stored(get_s(item, ENDS_AT)?),
        })
    }
}

/// The end a membership or reseller marker item carries.
pub fn ends_at_of(item: &Item) -> Option<&str> {
    get_s(item, ENDS_AT)
}

/// The transaction items that set (or clear) a membership's end: the membership, conditioned
/// on its role and its end as read; its reseller marker (a site that resells); the index entry.
pub(crate) fn tx_set_end(
    table: &str,
    email: &Email,
    site: &SupportId,
    role: Role,
    ends_at: Option<&Stamp>,
    was: Option<&Stamp>,
    resells: bool,
) -> Result<Vec<TransactWriteItem>, StoreError> {
    let mut cond = Cond::new("#role = :expected_role").value(":expected_role", s(role.as_str()));
    cond = match was {
        None => Cond { expr: format!("{} AND attribute_not_exists(ends_at)", cond.expr), values: cond.values },
        Some(w) => {
            Cond { expr: format!("{} AND ends_at = :was_ends_at", cond.expr), values: cond.values }.value(":was_ends_at", s(w.as_str()))
        }
    };
    let set = |key: &Key, cond: Option<Cond>, extra: Vec<(&'static str, aws_sdk_dynamodb::types::AttributeValue)>| match ends_at {
        Some(end) => {
            let mut values = vec![(":ends_at", s(end.as_str()))];
            let mut expr = "SET ends_at = :ends_at".to_string();
            for (name, value) in extra {
                expr.push_str(&format!(", {} = {name}", &name[1..]));
                values.push((name, value));
            }
            tx_update(table, key, &expr, values, cond)
        }
        None => tx_update(table, key, "REMOVE ends_at", Vec::new(), cond),
    };
    let mut items = vec![set(&keys::membership(email, site), Some(cond), Vec::new())?];
    if resells {
        let marker = keys::reseller_marker(email, site);
        let extra = vec![(":email", s(email.as_str())), (":support_id", s(site.as_str()))];
        items.push(set(&marker, None, extra)?);
    }
    if let Some(w) = was {
        let old = EndingMembership { email: email.clone(), support_id: site.clone(), ends_at: w.clone() };
        items.push(tx_delete(table, &old.key(), None)?);
    }
    if let Some(end) = ends_at {
        let new = EndingMembership { email: email.clone(), support_id: site.clone(), ends_at: end.clone() };
        items.push(tx_put(table, new.to_item(), None)?);
    }
    Ok(items)
}

/// A membership approved with an end gets its entry in the sweep's index in the same transaction.
pub(crate) fn end_index_write(table: &str, write: &super::access::Write) -> Result<Option<TransactWriteItem>, StoreError> {
    Ok(match write {
        super::access::Write::SetMembership { email, site, ends_at: Some(end), .. } => {
            let entry = EndingMembership { email: email.clone(), support_id: site.clone(), ends_at: end.clone() };
            Some(tx_put(table, entry.to_item(), None)?)
        }
        _ => None,
    })
}

/// The membership's deletion by the sweep: only while it still has `role` and ends at `ends_at`.
pub(crate) fn tx_expire(
    table: &str,
    email: &Email,
    site: &SupportId,
    role: Role,
    ends_at: &Stamp,
) -> Result<TransactWriteItem, StoreError> {
    let cond = Cond::new("#role = :expected_role AND ends_at = :expired_at")
        .value(":expected_role", s(role.as_str()))
        .value(":expired_at", s(ends_at.as_str()));
    tx_delete(table, &keys::membership(email, site), Some(cond))
}

impl Store {
    /// A contact's membership of a site with its end, read consistently.
    pub async fn membership_standing(&self, email: &Email, site: &SupportId) -> Result<Option<MembershipStanding>, StoreError> {
        let item = self.get("GetItem membership", &keys::membership(email, site), true).await?;
        Ok(item.and_then(|i| {
            Some(MembershipStanding {
                role: Role::parse(get_s(&i, "role")?).ok()?,
                since: get_s(&i, "since").map(str::to_string),
                ends_at: ends_at_of(&i).map(Stamp::stored),
            })
        }))
    }

    /// The memberships whose end falls on `day` (the sweep's index; consistent).
    pub async fn memberships_ending_on(&self, day: &str) -> Result<Vec<EndingMembership>, StoreError> {
        let items = self.all_items("Query membership ends", &keys::membership_ends_pk(day), None).await?;
        Ok(items.iter().filter_map(EndingMembership::from_item).collect())
    }

    pub async fn membership_sweep_watermark(&self) -> Result<Option<String>, StoreError> {
        let item = self.get("GetItem membership sweep watermark", &keys::membership_sweep_watermark(), true).await?;
        Ok(item.as_ref().and_then(|i| get_s(i, "day")).map(str::to_string))
    }

    /// Moves the membership sweep's watermark forward to `day` (never back).
    pub async fn advance_membership_sweep_watermark(&self, day: &str) -> Result<(), StoreError> {
        let mut item = keys::membership_sweep_watermark().to_item();
        item.insert("day".into(), s(day));
        let forward = Cond::new("attribute_not_exists(#pk) OR #day < :day").value(":day", s(day));
        self.put("PutItem membership sweep watermark", item, Some(forward)).await.map(|_| ())
    }
}
