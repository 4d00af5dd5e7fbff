//! Transaction items: the one way the store builds TransactWriteItems, so that every
//! expression binds exactly the placeholders it uses (`keys::PLACEHOLDERS`).

use super::keys::{self, Item, Key};
use super::StoreError;
use aws_sdk_dynamodb::types::{AttributeValue, ConditionCheck, Delete, Put, TransactWriteItem, Update};
use std::collections::HashMap;

/// A condition expression with its names and values. `#pk`, `#role`, `#status`, `#name`
/// and `#day` are bound whenever the expression uses them.
#[derive(Debug, Clone, Default)]
pub struct Cond {
    pub expr: String,
    pub values: Vec<(&'static str, AttributeValue)>,
}

impl Cond {
    pub fn new(expr: impl Into<String>) -> Cond {
        Cond { expr: expr.into(), values: Vec::new() }
    }
    pub fn value(mut self, name: &'static str, v: AttributeValue) -> Cond {
        self.values.push((name, v));
        self
    }
    /// The item does not exist.
    pub fn absent() -> Cond {
        Cond::new("attribute_not_exists(#pk)")
    }
    /// The site record does not say the site has resold.
    pub fn site_unsold() -> Cond {
        Cond::new("attribute_not_exists(resells)")
    }
    /// This condition, and the site record does not say the site has resold.
    pub fn and_site_unsold(self) -> Cond {
        self.and(Cond::site_unsold())
    }
    /// Both conditions.
    pub fn and(self, other: Cond) -> Cond {
        Cond { expr: format!("({}) AND ({})", self.expr, other.expr), values: self.values.into_iter().chain(other.values).collect() }
    }
    /// A site record's counts are at the revision `seen` (0: none was written yet).
    pub fn site_counts_at(seen: u64) -> Cond {
        match seen {
            0 => Cond::new(format!("attribute_not_exists({})", keys::COUNTS_REVISION)),
            _ => Cond::new(format!("{} = :seen_revision", keys::COUNTS_REVISION)).value(":seen_revision", super::n(seen)),
        }
    }
    /// The expression, or `None` for "no condition".
    pub(crate) fn expression(&self) -> Option<String> {
        (!self.expr.is_empty()).then(|| self.expr.clone())
    }
    /// The placeholders this condition and `extra` (an update expression) use.
    pub(crate) fn names(&self, extra: &str) -> Option<HashMap<String, String>> {
        let mut names = HashMap::new();
        for &(placeholder, attr) in keys::PLACEHOLDERS {
            if self.expr.contains(placeholder) || extra.contains(placeholder) {
                names.insert(placeholder.to_string(), attr.to_string());
            }
        }
        (!names.is_empty()).then_some(names)
    }
    pub(crate) fn values_with(&self, extra: Vec<(&'static str, AttributeValue)>) -> Option<HashMap<String, AttributeValue>> {
        let map: HashMap<String, AttributeValue> = self.values.iter().cloned().chain(extra).map(|(k, v)| (k.to_string(), v)).collect();
        (!map.is_empty()).then_some(map)
    }
}

fn built<T, E: std::fmt::Display>(r: Result<T, E>) -> Result<T, StoreError> {
    r.map_err(|e| StoreError::Corrupt(e.to_string()))
}

pub fn tx_put(table: &str, item: Item, cond: Option<Cond>) -> Result<TransactWriteItem, StoreError> {
    let cond = cond.unwrap_or_default();
    let mut b = Put::builder().table_name(table).set_item(Some(item));
    if !cond.expr.is_empty() {
        b = b
            .condition_expression(&cond.expr)
            .set_expression_attribute_names(cond.names(""))
            .set_expression_attribute_values(cond.values_with(vec![]));
    }
    Ok(TransactWriteItem::builder().put(built(b.build())?).build())
}

pub fn tx_delete(table: &str, key: &Key, cond: Option<Cond>) -> Result<TransactWriteItem, StoreError> {
    let cond = cond.unwrap_or_default();
    let mut b = Delete::builder().table_name(table).set_key(Some(key.to_item()));
    if !cond.expr.is_empty() {
        b = b
            .condition_expression(&cond.expr)
            .set_expression_attribute_names(cond.names(""))
            .set_expression_attribute_values(cond.values_with(vec![]));
    }
    Ok(TransactWriteItem::builder().delete(built(b.build())?).build())
}

pub fn tx_check(table: &str, key: &Key, cond: Cond) -> Result<TransactWriteItem, StoreError> {
    let b = ConditionCheck::builder()
        .table_name(table)
        .set_key(Some(key.to_item()))
        .condition_expression(&cond.expr)
        .set_expression_attribute_names(cond.names(""))
        .set_expression_attribute_values(cond.values_with(vec![]));
    Ok(TransactWriteItem::builder().condition_check(built(b.build())?).build())
}

pub fn tx_update(
    table: &str,
    key: &Key,
    expression: &str,
    values: Vec<(&'static str, AttributeValue)>,
    cond: Option<Cond>,
) -> Result<TransactWriteItem, StoreError> {
    tx_update_named(table, key, expression, values, Vec::new(), cond)
}

/// [`tx_update`] with attribute names that are data (`names`: placeholder → attribute),
/// besides the fixed placeholders of `keys::PLACEHOLDERS`.
fn tx_update_named(
    table: &str,
    key: &Key,
    expression: &str,
    values: Vec<(&'static str, AttributeValue)>,
    names: Vec<(&'static str, String)>,
    cond: Option<Cond>,
) -> Result<TransactWriteItem, StoreError> {
    let cond = cond.unwrap_or_default();
    let mut all_names = cond.names(expression).unwrap_or_default();
    all_names.extend(names.into_iter().map(|(placeholder, attr)| (placeholder.to_string(), attr)));
    let mut b = Update::builder()
        .table_name(table)
        .set_key(Some(key.to_item()))
        .update_expression(expression)
        .set_expression_attribute_names((!all_names.is_empty()).then_some(all_names))
        .set_expression_attribute_values(cond.values_with(values));
    if !cond.expr.is_empty() {
        b = b.condition_expression(&cond.expr);
    }
    Ok(TransactWriteItem::builder().update(built(b.build())?).build())
}

/// What one transaction changes of a site record (`SITE#{s}` / `META`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SiteRecordChange {
    /// Added to the exact entitlement count (ingestion's switch).
    pub entitlements: i64,
    /// The site's name, written only when it differs from the stored one.
    pub name: Option<String>,
    /// The admin count moved from `seen` to `new`, conditional on `seen` (access decisions).
    pub admin_count: Option<(i64, i64)>,
    /// The site has resold: set by the switch of its first order as a reseller.
    pub resells: bool,
    /// Conditional on the site not having resold (a membership written without a marker).
    pub unsold: bool,
    /// Added to the site's current lines per seller (`None`: direct sales); at most two
    /// sellers a change (a switch's old and new head).
    pub sellers: std::collections::BTreeMap<Option<crate::domain::SupportId>, i64>,
    /// The counts move from the revision the switch read them at: conditional on it, and
    /// bumped, so that what the switch decided from that read (the reseller counters' `sole`
    /// marks) holds when it commits. `Some(0)`: the record had no revision yet.
    pub counted_from: Option<u64>,
}

/// The one writer of a site record: ingestion's counts and names and the access workflow's
/// admin count are all written here, by one expression builder.
pub fn tx_site_record(table: &str, site: &crate::domain::SupportId, change: &SiteRecordChange) -> Result<TransactWriteItem, StoreError> {
    use super::{n, s};
    let mut set = vec!["support_id = :sid".to_string()];
    let mut values = vec![(":sid", s(site.as_str()))];
    if let Some(name) = &change.name {
        set.push("#name = :name".into());
        values.push((":name", s(name.clone())));
    }
    if change.resells {
        set.push("resells = :resells".into());
        values.push((":resells", AttributeValue::Bool(true)));
    }
    let mut conds = Vec::new();
    if let Some((seen, new)) = change.admin_count {
        set.push("admin_count = :new_admins".into());
        values.push((":new_admins", n(new)));
        conds.push(Cond::admin_count_is(seen));
    }
    if change.unsold {
        conds.push(Cond::site_unsold());
    }
    if let Some(seen) = change.counted_from {
        conds.push(Cond::site_counts_at(seen));
    }
    let cond = conds.into_iter().reduce(Cond::and);
    let mut expression = format!("SET {}", set.join(", "));
    let mut add = Vec::new();
    if change.entitlements != 0 {
        add.push("entitlement_count :d".to_string());
        values.push((":d", n(change.entitlements)));
    }
    const SELLER_PLACEHOLDERS: [(&str, &str); 2] = [("#seller0", ":seller0"), ("#seller1", ":seller1")];
    if change.sellers.len() > SELLER_PLACEHOLDERS.len() {
        return Err(StoreError::Corrupt(format!("{} sellers changed at {site} in one write", change.sellers.len())));
    }
    let mut names = Vec::new();
    for ((seller, delta), (name, value)) in change.sellers.iter().zip(SELLER_PLACEHOLDERS) {
        add.push(format!("{name} {value}"));
        names.push((name, keys::lines_by(seller.as_ref())));
        values.push((value, n(*delta)));
    }
    if change.counted_from.is_some() {
        add.push(format!("{} :one_revision", keys::COUNTS_REVISION));
        values.push((":one_revision", n(1)));
    }
    if !add.is_empty() {
        expression.push_str(&format!(" ADD {}", add.join(", ")));
    }
    tx_update_named(table, &keys::site_meta(site), &expression, values, names, cond)
}

/// One change of a contact's ship-to reach at a site (`CONTACT#{e}`/`SHIPTO#{s}`): the
/// entitlements its grants show there, in total and per reseller (`via:{r}`; direct sales
/// only count in the total). The switch transaction of an order is its only writer.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ShipToReachChange {
    /// The site's name, set when the order being switched in names it.
    pub name: Option<String>,
    pub total: i64,
    pub via: std::collections::BTreeMap<crate::domain::SupportId, i64>,
}

impl ShipToReachChange {
    pub fn is_empty(&self) -> bool {
        self.total == 0 && self.via.values().all(|d| *d == 0)
    }
}

pub fn tx_ship_to_reach(
    table: &str,
    email: &crate::domain::Email,
    site: &crate::domain::SupportId,
    change: &ShipToReachChange,
) -> Result<TransactWriteItem, StoreError> {
    use super::{n, s};
    let mut set = vec!["support_id = :sid", "email = :email"];
    let mut add = vec!["entitlements :total"];
    let mut names = HashMap::new();
    let mut values = HashMap::from([
        (":sid".to_string(), s(site.as_str())),
        (":email".to_string(), s(email.as_str())),
        (":total".to_string(), n(change.total)),
    ]);
    if let Some(name) = &change.name {
        set.push("#name = :name");
        names.insert("#name".to_string(), "name".to_string());
        values.insert(":name".into(), s(name.clone()));
    }
    let via: Vec<String> = change
        .via
        .iter()
        .filter(|(_, d)| **d != 0)
        .enumerate()
        .map(|(i, (reseller, delta))| {
            names.insert(format!("#via{i}"), keys::via_reseller(reseller));
            values.insert(format!(":via{i}"), n(*delta));
            format!("#via{i} :via{i}")
        })
        .collect();
    let expression = format!("SET {} ADD {}", set.join(", "), add.drain(..).map(str::to_string).chain(via).collect::<Vec<_>>().join(", "));
    let b = Update::builder()
        .table_name(table)
        .set_key(Some(keys::ship_to_reach(email, site).to_item()))
        .update_expression(expression)
        .set_expression_attribute_names((!names.is_empty()).then_some(names))
        .set_expression_attribute_values(Some(values));
    Ok(TransactWriteItem::builder().update(built(b.build())?).build())
}
