//! The simulated table: every committed state of every item (its history, by operation
//! index), global secondary indexes that apply each write after a delay counted in
//! operations (per item in order), eventually consistent reads that may return an older
//! committed state, and the operations `store/table.rs` sends, answered in DynamoDB's
//! awsJson1_0 shapes. Faults (throttling, 500s, conflicts, lost answers, kills) are
//! decided by the connector (`ddb.rs`); partial batch results and stale reads here.

use super::expr::{apply_update, eval, parse_condition, parse_projection, parse_update, Bindings, Cond, Operand};
use super::rng::Rng;
use super::value::{item_from_json, item_size, item_to_json, Item, AV};
use serde_json::{json, Value};
use std::collections::{BTreeMap, HashMap};

pub type Key = (String, String);

/// An index: its name and key attributes (from `keys.rs`: gsi1pk/gsi1sk, gsi2pk/gsi2sk).
pub const INDEXES: &[(&str, &str, &str)] = &[("gsi1", "gsi1pk", "gsi1sk"), ("gsi2", "gsi2pk", "gsi2sk")];

/// How the table departs from a perfect one (probabilities per request unless said).
#[derive(Debug, Clone, Default)]
pub struct Behaviour {
    /// An index applies a write after 0..=`index_lag` operations, and with
    /// `long_lag_chance` after up to `long_index_lag`.
    pub index_lag: u64,
    pub long_lag_chance: f64,
    pub long_index_lag: u64,
    /// An eventually consistent read returns the state of up to `stale_ops` operations ago.
    pub stale_read: f64,
    pub stale_ops: u64,
    /// A batch leaves some of its keys / items unprocessed.
    pub unprocessed: f64,
    /// A query page stops early (as at 1 MB), with a `LastEvaluatedKey`.
    pub short_page: f64,
}

/// A DynamoDB error answer.
#[derive(Debug, Clone)]
pub struct DdbError {
    pub status: u16,
    pub kind: String,
    pub message: String,
    pub extra: Option<(String, Value)>,
}

impl DdbError {
    pub fn new(status: u16, kind: &str, message: &str) -> DdbError {
        DdbError { status, kind: kind.into(), message: message.into(), extra: None }
    }
    pub fn condition_failed() -> DdbError {
        DdbError::new(400, "ConditionalCheckFailedException", "The conditional request failed")
    }
    pub fn cancelled(codes: &[String]) -> DdbError {
        let reasons: Vec<Value> =
            codes.iter().map(|c| if c == "None" { json!({"Code": "None"}) } else { json!({"Code": c, "Message": c}) }).collect();
        DdbError {
            status: 400,
            kind: "TransactionCanceledException".into(),
            message: format!("Transaction cancelled, please refer cancellation reasons for specific reasons [{}]", codes.join(", ")),
            extra: Some(("CancellationReasons".into(), Value::Array(reasons))),
        }
    }
    pub fn body(&self) -> Value {
        let mut body = json!({"__type": format!("com.amazonaws.dynamodb.v20120810#{}", self.kind), "message": self.message});
        if let Some((k, v)) = &self.extra {
            body[k] = v.clone();
        }
        body
    }
}

#[derive(Debug)]
struct PendingIndex {
    due: u64,
    seq: u64,
    key: Key,
    image: Option<Item>,
}

/// The table's whole state.
#[derive(Debug)]
pub struct Table {
    pub name: String,
    /// The operation index: one per request applied (reads included).
    pub op: u64,
    history: BTreeMap<Key, Vec<(u64, Option<Item>)>>,
    /// What the indexes show: the table's items as of their last applied index update.
    index_image: BTreeMap<Key, Item>,
    pending: Vec<PendingIndex>,
    last_due: HashMap<Key, u64>,
    seq: u64,
    /// Client request tokens of applied transactions (DynamoDB remembers them 10 minutes).
    tokens: HashMap<String, String>,
    pub rng: Rng,
    pub behaviour: Behaviour,
    /// Counters for the report: stale reads served, index entries delayed, partial batches.
    pub stats: BTreeMap<&'static str, u64>,
}

fn key_of(item: &Item, table: &str) -> Key {
    let get = |a: &str| match item.get(a) {
        Some(AV::S(s)) => s.clone(),
        other => panic!("simulated DynamoDB: item of {table} without string key {a}: {other:?}"),
    };
    (get("pk"), get("sk"))
}

fn bindings(req: &Value) -> Bindings {
    let mut b = Bindings::default();
    if let Some(names) = req.get("ExpressionAttributeNames").and_then(Value::as_object) {
        b.names = names.iter().map(|(k, v)| (k.clone(), v.as_str().expect("name").to_string())).collect();
    }
    if let Some(values) = req.get("ExpressionAttributeValues").and_then(Value::as_object) {
        b.values = values.iter().map(|(k, v)| (k.clone(), AV::from_json(v))).collect();
    }
    b
}

fn capacity(table: &str, units: f64) -> Value {
    json!({"TableName": table, "CapacityUnits": units})
}

fn units(item: Option<&Item>) -> f64 {
    (item.map(item_size).unwrap_or(0) as f64 / 1024.0).ceil().max(1.0)
}

impl Table {
    pub fn new(name: &str, rng: Rng, behaviour: Behaviour) -> Table {
        Table {
            name: name.into(),
            op: 0,
            history: BTreeMap::new(),
            index_image: BTreeMap::new(),
            pending: Vec::new(),
            last_due: HashMap::new(),
            seq: 0,
            tokens: HashMap::new(),
            rng,
            behaviour,
            stats: BTreeMap::new(),
        }
    }

    fn stat(&mut self, name: &'static str) {
        *self.stats.entry(name).or_default() += 1;
    }

    /// The next operation: index updates that are due are applied first.
    pub fn tick(&mut self) {
        self.op += 1;
        let op = self.op;
        self.apply_index(|p| p.due <= op);
    }

    fn apply_index(&mut self, due: impl Fn(&PendingIndex) -> bool) {
        let mut ready: Vec<PendingIndex> = Vec::new();
        let mut i = 0;
        while i < self.pending.len() {
            if due(&self.pending[i]) {
                ready.push(self.pending.swap_remove(i));
            } else {
                i += 1;
            }
        }
        ready.sort_by_key(|p| (p.due, p.seq));
        for p in ready {
            match p.image {
                Some(item) => self.index_image.insert(p.key, item),
                None => self.index_image.remove(&p.key),
            };
        }
    }

    /// Every index update applied: the indexes caught up.
    pub fn catch_up(&mut self) {
        self.apply_index(|_| true);
    }

    pub fn indexes_caught_up(&self) -> bool {
        self.pending.is_empty()
    }

    /// The committed state of `key` now.
    pub fn get_now(&self, key: &Key) -> Option<&Item> {
        self.history.get(key).and_then(|h| h.last()).and_then(|(_, i)| i.as_ref())
    }

    /// The committed state of `key` after operation `t`.
    pub fn get_at(&self, key: &Key, t: u64) -> Option<&Item> {
        let h = self.history.get(key)?;
        let at = h.partition_point(|(op, _)| *op <= t);
        if at == 0 {
            None
        } else {
            h[at - 1].1.as_ref()
        }
    }

    /// The states `key` had at any moment of `from..=to`.
    pub fn states_during(&self, key: &Key, from: u64, to: u64) -> Vec<Option<&Item>> {
        let mut out = vec![self.get_at(key, from)];
        if let Some(h) = self.history.get(key) {
            out.extend(h.iter().filter(|(op, _)| *op > from && *op <= to).map(|(_, i)| i.as_ref()));
        }
        out
    }

    /// Every key ever written, with its state now (for the final checks).
    pub fn items_now(&self) -> impl Iterator<Item = (&Key, &Item)> {
        self.history.iter().filter_map(|(k, h)| h.last().and_then(|(_, i)| i.as_ref()).map(|i| (k, i)))
    }

    /// The op at which the state an eventually consistent read sees was current.
    fn read_point(&mut self, consistent: bool) -> u64 {
        if !consistent && self.behaviour.stale_ops > 0 && self.rng.chance(self.behaviour.stale_read) {
            self.stat("stale reads");
            self.op.saturating_sub(self.rng.range(1, self.behaviour.stale_ops))
        } else {
            self.op
        }
    }

    /// Commits a new state of one item (this operation) and schedules its index update.
    fn write(&mut self, key: Key, image: Option<Item>) {
        let op = self.op;
        self.history.entry(key.clone()).or_default().push((op, image.clone()));
        let b = &self.behaviour;
        let lag = if b.long_index_lag > 0 && self.rng.chance(b.long_lag_chance) {
            self.stats.entry("long index delays").and_modify(|n| *n += 1).or_insert(1);
            self.rng.range(0, b.long_index_lag)
        } else if b.index_lag > 0 {
            self.rng.range(0, b.index_lag)
        } else {
            0
        };
        // Per item in order: an update never overtakes an earlier one of the same item.
        let due = (op + lag).max(self.last_due.get(&key).copied().unwrap_or(0));
        self.last_due.insert(key.clone(), due);
        self.seq += 1;
        let p = PendingIndex { due, seq: self.seq, key, image };
        if due <= op {
            match p.image {
                Some(item) => self.index_image.insert(p.key, item),
                None => self.index_image.remove(&p.key),
            };
        } else {
            self.pending.push(p);
        }
    }

    fn check_table(&self, req: &Value) {
        let t = req.get("TableName").and_then(Value::as_str);
        assert_eq!(t, Some(self.name.as_str()), "simulated DynamoDB: request for another table: {req}");
    }

    fn key_arg(&self, req: &Value) -> Key {
        let key = item_from_json(req.get("Key").unwrap_or_else(|| panic!("request without Key: {req}")));
        assert_eq!(key.len(), 2, "simulated DynamoDB: a key has exactly pk and sk: {req}");
        key_of(&key, &self.name)
    }

    fn condition(req: &Value) -> Option<Cond> {
        req.get("ConditionExpression").and_then(Value::as_str).map(|c| parse_condition(c, &bindings(req)))
    }

    fn passes(cond: &Option<Cond>, current: Option<&Item>) -> bool {
        match cond {
            None => true,
            Some(c) => eval(c, current.unwrap_or(&Item::new())),
        }
    }

    // ---- operations -----------------------------------------------------------------

    pub fn get_item(&mut self, req: &Value) -> Result<Value, DdbError> {
        self.check_table(req);
        assert!(req.get("ProjectionExpression").is_none(), "simulated DynamoDB: GetItem projection unsupported: {req}");
        let key = self.key_arg(req);
        let consistent = req.get("ConsistentRead").and_then(Value::as_bool).unwrap_or(false);
        let at = self.read_point(consistent);
        let item = self.get_at(&key, at).cloned();
        let mut out = json!({"ConsumedCapacity": capacity(&self.name, units(item.as_ref()) / if consistent { 1.0 } else { 2.0 })});
        if let Some(item) = item {
            out["Item"] = item_to_json(&item);
        }
        Ok(out)
    }

    pub fn batch_get_item(&mut self, req: &Value) -> Result<Value, DdbError> {
        let items = req["RequestItems"].as_object().expect("RequestItems");
        assert_eq!(items.len(), 1, "simulated DynamoDB: BatchGetItem of one table only");
        let (table, ka) = items.iter().next().unwrap();
        assert_eq!(table, &self.name);
        assert!(ka.get("ProjectionExpression").is_none(), "BatchGetItem projection unsupported");
        let consistent = ka.get("ConsistentRead").and_then(Value::as_bool).unwrap_or(false);
        let keys = ka["Keys"].as_array().expect("Keys");
        assert!(!keys.is_empty() && keys.len() <= 100, "simulated DynamoDB: BatchGetItem of {} keys (a ValidationException)", keys.len());
        let partial = keys.len() > 1 && self.rng.chance(self.behaviour.unprocessed);
        let (mut found, mut left) = (Vec::new(), Vec::new());
        let mut total = 0.0;
        let mut seen = std::collections::BTreeSet::new();
        for k in keys {
            let key = key_of(&item_from_json(k), &self.name);
            assert!(seen.insert(key.clone()), "simulated DynamoDB: duplicate key in BatchGetItem (a ValidationException)");
            if partial && self.rng.chance(0.5) {
                left.push(k.clone());
                continue;
            }
            let at = self.read_point(consistent);
            if let Some(item) = self.get_at(&key, at) {
                total += units(Some(item));
                found.push(item_to_json(item));
            }
        }
        if !left.is_empty() {
            self.stat("unprocessed keys");
        }
        let mut out = json!({"Responses": {self.name.clone(): found}, "ConsumedCapacity": [capacity(&self.name, total.max(1.0))]});
        if !left.is_empty() {
            out["UnprocessedKeys"] = json!({self.name.clone(): {"Keys": left, "ConsistentRead": consistent}});
        }
        Ok(out)
    }

    pub fn query(&mut self, req: &Value) -> Result<Value, DdbError> {
        self.check_table(req);
        let b = bindings(req);
        let index = req.get("IndexName").and_then(Value::as_str);
        let (pk_attr, sk_attr) = match index {
            None => ("pk", "sk"),
            Some(name) => {
                let (_, p, s) =
                    INDEXES.iter().find(|(n, _, _)| *n == name).unwrap_or_else(|| panic!("simulated DynamoDB: no index {name}"));
                (*p, *s)
            }
        };
        let consistent = req.get("ConsistentRead").and_then(Value::as_bool).unwrap_or(false);
        assert!(!(consistent && index.is_some()), "simulated DynamoDB: consistent read on a GSI (a ValidationException): {req}");
        let kce = req["KeyConditionExpression"].as_str().expect("KeyConditionExpression");
        let cond = parse_condition(kce, &b);
        let pk =
            partition_of(&cond, pk_attr).unwrap_or_else(|| panic!("simulated DynamoDB: key condition without {pk_attr} = :v: {kce:?}"));
        check_key_condition(&cond, pk_attr, sk_attr, kce);
        // The candidates: the partition as of the read point (table), or as the index shows it.
        let mut rows: Vec<(String, String, String, Item)> = Vec::new(); // (sort key, pk, sk, item)
        match index {
            None => {
                let at = self.read_point(consistent);
                let range = self.history.range((pk.clone(), String::new())..);
                for ((p, s), _) in range {
                    if *p != pk {
                        break;
                    }
                    if let Some(item) = self.get_at(&(p.clone(), s.clone()), at) {
                        rows.push((s.clone(), p.clone(), s.clone(), item.clone()));
                    }
                }
            }
            Some(_) => {
                for ((p, s), item) in &self.index_image {
                    if item.get(pk_attr) == Some(&AV::S(pk.clone())) {
                        if let Some(AV::S(gsk)) = item.get(sk_attr) {
                            rows.push((gsk.clone(), p.clone(), s.clone(), item.clone()));
                        }
                    }
                }
                rows.sort_by(|a, b| (&a.0, &a.1, &a.2).cmp(&(&b.0, &b.1, &b.2)));
            }
        }
        rows.retain(|(_, _, _, item)| eval(&cond, item));
        let forward = req.get("ScanIndexForward").and_then(Value::as_bool).unwrap_or(true);
        if !forward {
            rows.reverse();
        }
        if let Some(start) = req.get("ExclusiveStartKey") {
            let start = item_from_json(start);
            let get =
                |a: &str| start.get(a).and_then(AV::as_s).map(str::to_string).unwrap_or_else(|| panic!("ExclusiveStartKey without {a}"));
            let pos = (get(sk_attr), get("pk"), get("sk"));
            rows.retain(|(k, p, s, _)| {
                let row = (k.clone(), p.clone(), s.clone());
                let row = if index.is_none() { (row.0, String::new(), String::new()) } else { row };
                let pos = if index.is_none() { (pos.0.clone(), String::new(), String::new()) } else { pos.clone() };
                if forward {
                    row > pos
                } else {
                    row < pos
                }
            });
        }
        let limit = req.get("Limit").and_then(Value::as_u64).map(|l| l as usize);
        let mut stop = limit.filter(|l| rows.len() >= *l);
        if rows.len() > 1 && self.rng.chance(self.behaviour.short_page) {
            let cut = self.rng.range(1, rows.len() as u64 - 1) as usize;
            if stop.is_none_or(|l| cut < l) {
                self.stat("short pages");
                stop = Some(cut);
            }
        }
        let page: Vec<&(String, String, String, Item)> = rows.iter().take(stop.unwrap_or(usize::MAX)).collect();
        let projection = req.get("ProjectionExpression").and_then(Value::as_str).map(|p| parse_projection(p, &b));
        let total: f64 = page.iter().map(|r| item_size(&r.3) as f64).sum::<f64>() / 4096.0;
        let items: Vec<Value> = page
            .iter()
            .map(|(_, _, _, item)| match &projection {
                None => item_to_json(item),
                Some(attrs) => item_to_json(&item.iter().filter(|(k, _)| attrs.contains(k)).map(|(k, v)| (k.clone(), v.clone())).collect()),
            })
            .collect();
        let mut out = json!({"Items": items, "Count": page.len(), "ScannedCount": page.len(),
            "ConsumedCapacity": capacity(&self.name, total.ceil().max(1.0) / if consistent { 1.0 } else { 2.0 })});
        if let (Some(_), Some(last)) = (stop, page.last()) {
            let mut lek = json!({"pk": {"S": last.1}, "sk": {"S": last.2}});
            if index.is_some() {
                lek[pk_attr] = json!({"S": pk});
                lek[sk_attr] = json!({"S": last.0});
            }
            out["LastEvaluatedKey"] = lek;
        }
        Ok(out)
    }

    pub fn put_item(&mut self, req: &Value) -> Result<Value, DdbError> {
        self.check_table(req);
        let item = item_from_json(&req["Item"]);
        let key = key_of(&item, &self.name);
        if !Self::passes(&Self::condition(req), self.get_now(&key)) {
            return Err(DdbError::condition_failed());
        }
        let u = units(Some(&item));
        self.write(key, Some(item));
        Ok(json!({"ConsumedCapacity": capacity(&self.name, u)}))
    }

    pub fn update_item(&mut self, req: &Value) -> Result<Value, DdbError> {
        self.check_table(req);
        let key = self.key_arg(req);
        let current = self.get_now(&key).cloned();
        if !Self::passes(&Self::condition(req), current.as_ref()) {
            return Err(DdbError::condition_failed());
        }
        let expr = req["UpdateExpression"].as_str().expect("UpdateExpression");
        let new = updated(&key, current.as_ref(), expr, &bindings(req));
        let u = units(Some(&new));
        self.write(key, Some(new));
        Ok(json!({"ConsumedCapacity": capacity(&self.name, u)}))
    }

    pub fn delete_item(&mut self, req: &Value) -> Result<Value, DdbError> {
        self.check_table(req);
        let key = self.key_arg(req);
        let current = self.get_now(&key).cloned();
        if !Self::passes(&Self::condition(req), current.as_ref()) {
            return Err(DdbError::condition_failed());
        }
        if current.is_some() {
            self.write(key, None);
        }
        Ok(json!({"ConsumedCapacity": capacity(&self.name, units(current.as_ref()))}))
    }

    /// `Ok(true)`: a retry of a transaction already applied (nothing done again).
    pub fn transact_write_items(&mut self, req: &Value) -> Result<Value, DdbError> {
        let fingerprint = {
            let mut r = req.clone();
            if let Some(o) = r.as_object_mut() {
                o.remove("ClientRequestToken");
            }
            canonical(&r)
        };
        let token = req.get("ClientRequestToken").and_then(Value::as_str).map(str::to_string);
        if let Some(t) = &token {
            if let Some(seen) = self.tokens.get(t) {
                if *seen != fingerprint {
                    return Err(DdbError::new(400, "IdempotentParameterMismatchException", "token reused with other parameters"));
                }
                self.stat("idempotent transaction retries");
                return Ok(json!({"ConsumedCapacity": [capacity(&self.name, 0.0)]}));
            }
        }
        let items = req["TransactItems"].as_array().expect("TransactItems");
        assert!(
            !items.is_empty() && items.len() <= 100,
            "simulated DynamoDB: transaction of {} items (a ValidationException)",
            items.len()
        );
        let mut plans: Vec<(Key, Option<Option<Item>>)> = Vec::new(); // None: condition check only
        let mut codes = Vec::new();
        let mut failed = false;
        for entry in items {
            let obj = entry.as_object().expect("TransactItem");
            assert_eq!(obj.len(), 1, "simulated DynamoDB: a TransactItem has one action");
            let (action, r) = obj.iter().next().unwrap();
            self.check_table(r);
            let key = match action.as_str() {
                "Put" => key_of(&item_from_json(&r["Item"]), &self.name),
                _ => self.key_arg(r),
            };
            assert!(
                !plans.iter().any(|(k, _)| *k == key),
                "simulated DynamoDB: two actions on one item in a transaction (a ValidationException): {key:?}"
            );
            let current = self.get_now(&key).cloned();
            let ok = Self::passes(&Self::condition(r), current.as_ref());
            codes.push(if ok { "None".to_string() } else { "ConditionalCheckFailed".to_string() });
            failed |= !ok;
            let image = match action.as_str() {
                "Put" => Some(Some(item_from_json(&r["Item"]))),
                "Delete" => Some(None),
                "Update" => {
                    Some(Some(updated(&key, current.as_ref(), r["UpdateExpression"].as_str().expect("UpdateExpression"), &bindings(r))))
                }
                "ConditionCheck" => {
                    assert!(r.get("ConditionExpression").is_some(), "a ConditionCheck without a condition");
                    None
                }
                other => panic!("simulated DynamoDB: transaction action {other}"),
            };
            plans.push((key, image));
        }
        if failed {
            return Err(DdbError::cancelled(&codes));
        }
        let mut total = 0.0;
        for (key, image) in plans {
            if let Some(image) = image {
                total += 2.0 * units(image.as_ref());
                self.write(key, image);
            }
        }
        if let Some(t) = token {
            self.tokens.insert(t, fingerprint);
        }
        Ok(json!({"ConsumedCapacity": [capacity(&self.name, total)]}))
    }

    pub fn batch_write_item(&mut self, req: &Value) -> Result<Value, DdbError> {
        let items = req["RequestItems"].as_object().expect("RequestItems");
        assert_eq!(items.len(), 1, "simulated DynamoDB: BatchWriteItem of one table only");
        let (table, writes) = items.iter().next().unwrap();
        assert_eq!(table, &self.name);
        let writes = writes.as_array().expect("writes");
        assert!(
            !writes.is_empty() && writes.len() <= 25,
            "simulated DynamoDB: BatchWriteItem of {} requests (a ValidationException)",
            writes.len()
        );
        let partial = writes.len() > 1 && self.rng.chance(self.behaviour.unprocessed);
        let mut left = Vec::new();
        let mut total = 0.0;
        let mut seen = std::collections::BTreeSet::new();
        for w in writes {
            let (key, image) = if let Some(p) = w.get("PutRequest") {
                let item = item_from_json(&p["Item"]);
                (key_of(&item, &self.name), Some(item))
            } else if let Some(d) = w.get("DeleteRequest") {
                (key_of(&item_from_json(&d["Key"]), &self.name), None)
            } else {
                panic!("simulated DynamoDB: BatchWriteItem request {w}")
            };
            assert!(seen.insert(key.clone()), "simulated DynamoDB: two writes of one item in a batch (a ValidationException): {key:?}");
            if partial && self.rng.chance(0.5) {
                left.push(w.clone());
                continue;
            }
            total += units(image.as_ref());
            if image.is_some() || self.get_now(&key).is_some() {
                self.write(key, image);
            }
        }
        if !left.is_empty() {
            self.stat("unprocessed items");
        }
        let mut out = json!({"ConsumedCapacity": [capacity(&self.name, total.max(1.0))]});
        out["UnprocessedItems"] = if left.is_empty() { json!({}) } else { json!({self.name.clone(): left}) };
        Ok(out)
    }
}

/// The partition key value a key condition names (`pk_attr = :v` at the top level).
fn partition_of(c: &Cond, pk_attr: &str) -> Option<String> {
    match c {
        Cond::Cmp(Operand::Path(p), "=", Operand::Value(AV::S(v))) if p == pk_attr => Some(v.clone()),
        Cond::And(a, b) => partition_of(a, pk_attr).or_else(|| partition_of(b, pk_attr)),
        _ => None,
    }
}

/// A key condition may only be `pk = v [AND <one sort-key condition>]`.
fn check_key_condition(c: &Cond, pk_attr: &str, sk_attr: &str, text: &str) {
    let sk_ok = |c: &Cond| match c {
        Cond::Cmp(Operand::Path(p), op, Operand::Value(_)) => p == sk_attr && *op != "<>",
        Cond::Between(Operand::Path(p), Operand::Value(_), Operand::Value(_)) => p == sk_attr,
        Cond::BeginsWith(Operand::Path(p), Operand::Value(_)) => p == sk_attr,
        _ => false,
    };
    let pk_ok = |c: &Cond| matches!(c, Cond::Cmp(Operand::Path(p), "=", Operand::Value(_)) if p == pk_attr);
    let ok = match c {
        Cond::And(a, b) => pk_ok(a) && sk_ok(b),
        c => pk_ok(c),
    };
    assert!(ok, "simulated DynamoDB: unsupported key condition: {text:?}");
}

/// The item an update expression makes of `current` (or of a new item with only the key).
fn updated(key: &Key, current: Option<&Item>, expr: &str, b: &Bindings) -> Item {
    let base = current
        .cloned()
        .unwrap_or_else(|| Item::from([("pk".to_string(), AV::S(key.0.clone())), ("sk".to_string(), AV::S(key.1.clone()))]));
    let u = parse_update(expr, b);
    let paths =
        u.set.iter().map(|(p, _)| p).chain(u.add.iter().map(|(p, _)| p)).chain(u.delete.iter().map(|(p, _)| p)).chain(u.remove.iter());
    for path in paths {
        assert!(path != "pk" && path != "sk", "simulated DynamoDB: an update of a key attribute (a ValidationException): {expr:?}");
    }
    apply_update(&u, &base, expr)
}

/// A JSON value with its object keys sorted (the SDK writes maps in any order).
fn canonical(v: &Value) -> String {
    fn sort(v: &Value) -> Value {
        match v {
            Value::Object(m) => {
                let sorted: BTreeMap<&String, Value> = m.iter().map(|(k, v)| (k, sort(v))).collect();
                Value::Object(sorted.into_iter().map(|(k, v)| (k.clone(), v)).collect())
            }
            Value::Array(a) => Value::Array(a.iter().map(sort).collect()),
            other => other.clone(),
        }
    }
    sort(v).to_string()
}
