//! Write capacity in AWS arithmetic, computed from what the client sends.
//!
//! DynamoDB Local under-reports transactional writes and reports no index writes, so the
//! bench's client carries this interceptor too. From every write request it computes what
//! AWS would charge (on-demand/provisioned arithmetic, not the emulator's):
//!
//! - table: `ceil(item size / 1 KB)` WCU per item written (Put: the item's size; Update:
//!   the larger of the item's size when this process put it and the key + values sent;
//!   Delete/ConditionCheck: 1 KB), ×2 inside `TransactWriteItems` (a `ConditionCheck` is
//!   billed as a transactional write too);
//! - indexes (projection ALL): one index write per index an item is in, of the item's size,
//!   when it is put; when an item in an index is updated (two when the update sets the
//!   index's key: delete + put); when it is deleted. Whether an item is in an index is known
//!   for items this process wrote while the meter was on (their keys are remembered);
//!   items written before count as in no index unless the update sets an index key: a
//!   lower bound. Index writes are not doubled by transactions.
//!
//! The meter is global (one unit of work at a time: [`WriteMeter::take`] before and after).

use aws_sdk_dynamodb::config::interceptors::BeforeSerializationInterceptorContextRef;
use aws_sdk_dynamodb::config::{ConfigBag, Intercept};
use aws_sdk_dynamodb::operation::batch_write_item::BatchWriteItemInput;
use aws_sdk_dynamodb::operation::delete_item::DeleteItemInput;
use aws_sdk_dynamodb::operation::put_item::PutItemInput;
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsInput;
use aws_sdk_dynamodb::operation::update_item::UpdateItemInput;
use aws_sdk_dynamodb::types::AttributeValue;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

type Item = HashMap<String, AttributeValue>;

/// Write capacity of one unit of work in AWS arithmetic.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct AwsWrites {
    /// Base-table WCU (transactional writes doubled).
    pub table: f64,
    /// Index writes (WCU of the global secondary indexes).
    pub index: f64,
}

impl AwsWrites {
    pub fn total(&self) -> f64 {
        self.table + self.index
    }
}

/// One global secondary index: its key attributes.
#[derive(Debug, Clone)]
pub struct Index {
    pub name: String,
    pub hash: String,
    pub range: Option<String>,
}

#[derive(Debug, Default)]
struct State {
    on: bool,
    indexes: Vec<Index>,
    /// (pk, sk) → (size in bytes when put, bit i: in index i).
    known: HashMap<(String, String), (usize, u32)>,
    totals: AwsWrites,
}

/// The interceptor; clone the `Arc` to read it.
#[derive(Debug, Default, Clone)]
pub struct WriteMeter(Arc<Mutex<State>>);

impl WriteMeter {
    pub fn set_indexes(&self, indexes: Vec<Index>) {
        self.lock().indexes = indexes;
    }

    /// Meter (and remember keys) from now on, or stop and forget.
    pub fn enable(&self, on: bool) {
        let mut s = self.lock();
        s.on = on;
        if !on {
            s.known.clear();
        }
        s.totals = AwsWrites::default();
    }

    /// What was metered since the last `take`, and start again from zero.
    pub fn take(&self) -> AwsWrites {
        std::mem::take(&mut self.lock().totals)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// DynamoDB's item size: attribute names and values in bytes.
pub fn item_size(item: &Item) -> usize {
    item.iter().map(|(k, v)| k.len() + value_size(v)).sum()
}

fn value_size(v: &AttributeValue) -> usize {
    match v {
        AttributeValue::S(s) => s.len(),
        AttributeValue::N(n) => n.trim_start_matches('-').len().div_ceil(2) + 1,
        AttributeValue::B(b) => b.as_ref().len(),
        AttributeValue::Bool(_) | AttributeValue::Null(_) => 1,
        AttributeValue::Ss(v) => v.iter().map(String::len).sum(),
        AttributeValue::Ns(v) => v.iter().map(|n| n.len().div_ceil(2) + 1).sum(),
        AttributeValue::Bs(v) => v.iter().map(|b| b.as_ref().len()).sum(),
        AttributeValue::L(l) => 3 + l.iter().map(|x| 1 + value_size(x)).sum::<usize>(),
        AttributeValue::M(m) => 3 + m.iter().map(|(k, x)| 1 + k.len() + value_size(x)).sum::<usize>(),
        _ => 0,
    }
}

/// Write units of an item of `bytes`: 1 per started KB, at least 1.
fn units(bytes: usize) -> f64 {
    bytes.div_ceil(1024).max(1) as f64
}

fn key_of(key: &Item) -> (String, String) {
    let s = |name: &str| match key.get(name) {
        Some(AttributeValue::S(s)) => s.clone(),
        Some(other) => format!("{other:?}"),
        None => String::new(),
    };
    (s("pk"), s("sk"))
}

/// The attribute names an update expression touches (placeholders resolved).
fn touched(expression: &str, names: Option<&HashMap<String, String>>) -> Vec<String> {
    expression
        .split(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == '#' || c == '-'))
        .filter(|t| !t.is_empty())
        .map(|t| names.and_then(|n| n.get(t)).cloned().unwrap_or_else(|| t.to_string()))
        .collect()
}

impl State {
    fn mask_of(&self, item: &Item) -> u32 {
        self.indexes
            .iter()
            .enumerate()
            .filter(|(_, ix)| item.contains_key(&ix.hash) && ix.range.as_ref().is_none_or(|r| item.contains_key(r)))
            .fold(0, |m, (i, _)| m | (1 << i))
    }

    fn put(&mut self, item: &Item, factor: f64) {
        let size = item_size(item);
        let key = key_of(item);
        let old = self.known.get(&key).map(|k| k.1).unwrap_or(0);
        let new = self.mask_of(item);
        self.totals.table += factor * units(size);
        // Every index the item is in (or leaves) is written once, at the item's size.
        self.totals.index += ((old | new).count_ones() as f64) * units(size);
        self.known.insert(key, (size, new));
    }

    fn update(&mut self, key: &Item, expression: &str, names: Option<&HashMap<String, String>>, values: Option<&Item>, factor: f64) {
        let key_id = key_of(key);
        let sent = item_size(key) + values.map(item_size).unwrap_or(0);
        let (known_size, mut mask) = self.known.get(&key_id).copied().unwrap_or((0, 0));
        let size = sent.max(known_size);
        self.totals.table += factor * units(size);
        let touched = touched(expression, names);
        for (i, ix) in self.indexes.iter().enumerate() {
            let sets_key = touched.iter().any(|t| *t == ix.hash || Some(t) == ix.range.as_ref());
            let in_index = mask & (1 << i) != 0;
            let writes = match (in_index, sets_key) {
                (true, true) => 2.0,
                (true, false) | (false, true) => 1.0,
                (false, false) => 0.0,
            };
            self.totals.index += writes * units(size);
            if sets_key {
                mask |= 1 << i;
            }
        }
        self.known.insert(key_id, (size, mask));
    }

    fn delete(&mut self, key: &Item, factor: f64) {
        let (size, mask) = self.known.remove(&key_of(key)).unwrap_or((0, 0));
        self.totals.table += factor * units(size);
        self.totals.index += (mask.count_ones() as f64) * units(size);
    }
}

impl Intercept for WriteMeter {
    fn name(&self) -> &'static str {
        "abev-bench-write-meter"
    }

    fn read_before_execution(
        &self,
        context: &BeforeSerializationInterceptorContextRef<'_>,
        _cfg: &mut ConfigBag,
    ) -> Result<(), aws_sdk_dynamodb::error::BoxError> {
        let mut s = self.lock();
        if !s.on {
            return Ok(());
        }
        let input = context.input();
        if let Some(tx) = input.downcast_ref::<TransactWriteItemsInput>() {
            for item in tx.transact_items() {
                if let Some(p) = item.put() {
                    s.put(p.item(), 2.0);
                } else if let Some(u) = item.update() {
                    s.update(u.key(), u.update_expression(), u.expression_attribute_names(), u.expression_attribute_values(), 2.0);
                } else if let Some(d) = item.delete() {
                    s.delete(d.key(), 2.0);
                } else if item.condition_check().is_some() {
                    s.totals.table += 2.0;
                }
            }
        } else if let Some(batch) = input.downcast_ref::<BatchWriteItemInput>() {
            for request in batch.request_items().into_iter().flat_map(|m| m.values()).flatten() {
                if let Some(p) = request.put_request() {
                    s.put(p.item(), 1.0);
                } else if let Some(d) = request.delete_request() {
                    s.delete(d.key(), 1.0);
                }
            }
        } else if let Some(p) = input.downcast_ref::<PutItemInput>() {
            if let Some(item) = p.item() {
                s.put(item, 1.0);
            }
        } else if let Some(u) = input.downcast_ref::<UpdateItemInput>() {
            if let Some(key) = u.key() {
                s.update(
                    key,
                    u.update_expression().unwrap_or_default(),
                    u.expression_attribute_names(),
                    u.expression_attribute_values(),
                    1.0,
                );
            }
        } else if let Some(d) = input.downcast_ref::<DeleteItemInput>() {
            if let Some(key) = d.key() {
                s.delete(key, 1.0);
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(v: &str) -> AttributeValue {
        AttributeValue::S(v.into())
    }

    fn state() -> State {
        State {
            on: true,
            indexes: vec![Index { name: "gsi1".into(), hash: "gsi1pk".into(), range: Some("gsi1sk".into()) }],
            ..State::default()
        }
    }

    #[test]
    fn transactional_puts_cost_double_and_index_writes_once() {
        let mut st = state();
        let line: Item = [("pk", s("O#1")), ("sk", s("L#1")), ("gsi1pk", s("S#1")), ("gsi1sk", s("1"))]
            .into_iter()
            .map(|(k, v)| (k.to_string(), v))
            .collect();
        st.put(&line, 2.0);
        assert_eq!(st.totals, AwsWrites { table: 2.0, index: 1.0 });
        let key: Item = [("pk", s("O#1")), ("sk", s("L#1"))].into_iter().map(|(k, v)| (k.to_string(), v)).collect();
        st.delete(&key, 1.0);
        assert_eq!(st.totals, AwsWrites { table: 3.0, index: 2.0 });
        // An unknown item changing its index key: one index write (a lower bound).
        st.update(&key, "SET #a = :v", Some(&[("#a".to_string(), "gsi1sk".to_string())].into()), None, 2.0);
        assert_eq!(st.totals, AwsWrites { table: 5.0, index: 3.0 });
        // Now known in the index: a key change is a delete and a put.
        st.update(&key, "SET gsi1sk = :v", None, None, 1.0);
        assert_eq!(st.totals, AwsWrites { table: 6.0, index: 5.0 });
    }

    #[test]
    fn sizes_round_up_per_started_kilobyte() {
        let big: Item = [("pk".to_string(), s(&"x".repeat(1500)))].into();
        assert_eq!(units(item_size(&big)), 2.0);
        assert_eq!(units(0), 1.0);
    }
}
