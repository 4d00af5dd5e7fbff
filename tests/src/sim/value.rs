//! DynamoDB attribute values as the simulated table stores them, read from and written to
//! the awsJson1_0 wire form (`{"S": "x"}`, `{"N": "1"}`, `{"NS": ["1"]}`, ...).

use serde_json::{json, Map, Value};
use std::cmp::Ordering;
use std::collections::{BTreeMap, BTreeSet};

#[derive(Debug, Clone, PartialEq)]
pub enum AV {
    S(String),
    /// A number in canonical form (integers as written by `i128`, else the text).
    N(String),
    B(String),
    Bool(bool),
    Null,
    Ss(BTreeSet<String>),
    Ns(BTreeSet<String>),
    Bs(BTreeSet<String>),
    L(Vec<AV>),
    M(BTreeMap<String, AV>),
}

pub type Item = BTreeMap<String, AV>;

/// A number's canonical text (so `{"NS": ["01", "1"]}` is one element).
pub fn canon_n(n: &str) -> String {
    match n.trim().parse::<i128>() {
        Ok(i) => i.to_string(),
        Err(_) => match n.trim().parse::<f64>() {
            Ok(f) if f.fract() == 0.0 && f.abs() < 1e30 => (f as i128).to_string(),
            Ok(f) => f.to_string(),
            Err(_) => panic!("simulated DynamoDB: not a number: {n:?}"),
        },
    }
}

fn num(n: &str) -> f64 {
    n.parse::<f64>().unwrap_or_else(|_| panic!("simulated DynamoDB: not a number: {n:?}"))
}

/// Numbers compared as numbers.
pub fn cmp_n(a: &str, b: &str) -> Ordering {
    match (a.parse::<i128>(), b.parse::<i128>()) {
        (Ok(x), Ok(y)) => x.cmp(&y),
        _ => num(a).partial_cmp(&num(b)).unwrap_or(Ordering::Equal),
    }
}

pub fn add_n(a: &str, b: &str) -> String {
    match (a.parse::<i128>(), b.parse::<i128>()) {
        (Ok(x), Ok(y)) => (x + y).to_string(),
        _ => canon_n(&(num(a) + num(b)).to_string()),
    }
}

pub fn neg_n(a: &str) -> String {
    match a.parse::<i128>() {
        Ok(x) => (-x).to_string(),
        Err(_) => canon_n(&(-num(a)).to_string()),
    }
}

impl AV {
    pub fn from_json(v: &Value) -> AV {
        let obj = v.as_object().unwrap_or_else(|| panic!("simulated DynamoDB: attribute value is not an object: {v}"));
        assert_eq!(obj.len(), 1, "simulated DynamoDB: attribute value with {} types: {v}", obj.len());
        let (t, x) = obj.iter().next().unwrap();
        let strs = |x: &Value| -> Vec<String> {
            x.as_array()
                .unwrap_or_else(|| panic!("set is not a list: {v}"))
                .iter()
                .map(|e| e.as_str().expect("set element").to_string())
                .collect()
        };
        match t.as_str() {
            "S" => AV::S(x.as_str().expect("S").to_string()),
            "N" => AV::N(canon_n(x.as_str().expect("N"))),
            "B" => AV::B(x.as_str().expect("B").to_string()),
            "BOOL" => AV::Bool(x.as_bool().expect("BOOL")),
            "NULL" => AV::Null,
            "SS" => AV::Ss(strs(x).into_iter().collect()),
            "NS" => AV::Ns(strs(x).iter().map(|n| canon_n(n)).collect()),
            "BS" => AV::Bs(strs(x).into_iter().collect()),
            "L" => AV::L(x.as_array().expect("L").iter().map(AV::from_json).collect()),
            "M" => AV::M(item_from_json(x)),
            other => panic!("simulated DynamoDB: unknown attribute type {other}: {v}"),
        }
    }

    pub fn to_json(&self) -> Value {
        match self {
            AV::S(s) => json!({"S": s}),
            AV::N(n) => json!({"N": n}),
            AV::B(b) => json!({"B": b}),
            AV::Bool(b) => json!({"BOOL": b}),
            AV::Null => json!({"NULL": true}),
            AV::Ss(s) => json!({"SS": s}),
            AV::Ns(s) => json!({"NS": s}),
            AV::Bs(s) => json!({"BS": s}),
            AV::L(l) => json!({"L": l.iter().map(AV::to_json).collect::<Vec<_>>()}),
            AV::M(m) => json!({"M": item_to_json(m)}),
        }
    }

    pub fn as_s(&self) -> Option<&str> {
        match self {
            AV::S(s) => Some(s),
            _ => None,
        }
    }

    /// Approximate stored size in bytes (for capacity units).
    pub fn size(&self) -> usize {
        match self {
            AV::S(s) | AV::N(s) | AV::B(s) => s.len(),
            AV::Bool(_) | AV::Null => 1,
            AV::Ss(s) | AV::Ns(s) | AV::Bs(s) => s.iter().map(String::len).sum(),
            AV::L(l) => 3 + l.iter().map(AV::size).sum::<usize>(),
            AV::M(m) => 3 + m.iter().map(|(k, v)| k.len() + v.size()).sum::<usize>(),
        }
    }
}

pub fn item_from_json(v: &Value) -> Item {
    v.as_object()
        .unwrap_or_else(|| panic!("simulated DynamoDB: item is not an object: {v}"))
        .iter()
        .map(|(k, x)| (k.clone(), AV::from_json(x)))
        .collect()
}

pub fn item_to_json(item: &Item) -> Value {
    Value::Object(item.iter().map(|(k, v)| (k.clone(), v.to_json())).collect::<Map<String, Value>>())
}

pub fn item_size(item: &Item) -> usize {
    item.iter().map(|(k, v)| k.len() + v.size()).sum()
}
