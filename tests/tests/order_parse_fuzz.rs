//! `Order::parse` against arbitrary input (a property-based fuzz; the ERP is not trusted):
//! it never panics, every rejection is a typed `OrderError` naming what is wrong, and what
//! it accepts is normalised for good (parsing its own rendering gives the same order).

use abev::domain::{Order, OrderError};
use proptest::prelude::*;
use serde_json::{json, Value};

fn base() -> Value {
    serde_json::from_str(abev_local::seed::WORKED_EXAMPLE[0].1).unwrap()
}

/// Arbitrary JSON, small and nested.
fn any_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        any::<f64>().prop_filter("finite", |f| f.is_finite()).prop_map(Value::from),
        ".{0,12}".prop_map(Value::from),
        "[A-Za-z0-9@. -]{0,40}".prop_map(Value::from),
        Just(json!("2026-04-01")),
        Just(json!("2026-04-01T10:00:00Z")),
    ];
    leaf.prop_recursive(3, 24, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::btree_map("[a-z_]{1,12}", inner, 0..4).prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// Every place in the base order a value can be replaced (object members and array items).
fn pointers(v: &Value, at: String, out: &mut Vec<String>) {
    match v {
        Value::Object(m) => {
            for (k, child) in m {
                let p = format!("{at}/{k}");
                out.push(p.clone());
                pointers(child, p, out);
            }
        }
        Value::Array(a) => {
            for (i, child) in a.iter().enumerate() {
                let p = format!("{at}/{i}");
                out.push(p.clone());
                pointers(child, p, out);
            }
        }
        _ => {}
    }
}

/// The parser's verdict, with the properties every verdict must have.
fn check(body: &[u8]) -> Result<Order, OrderError> {
    let verdict = Order::parse(body);
    match &verdict {
        Ok(order) => {
            // What it accepts is normalised for good: its own rendering parses to the same order.
            let mut again = serde_json::to_value(order).unwrap();
            again["schema"] = json!("abev.order.v1");
            assert_eq!(Order::parse(&serde_json::to_vec(&again).unwrap()).as_ref(), Ok(order));
            assert!(order.end_customer.site.support_id.as_str().chars().all(|c| !c.is_ascii_lowercase()));
            for party in [Some(&order.end_customer), order.ship_to.as_ref(), order.reseller.as_ref()].into_iter().flatten() {
                for email in party.emails() {
                    assert_eq!(email.as_str(), email.as_str().trim().to_lowercase());
                }
            }
            assert!((1..=1000).contains(&order.lines.len()) && order.version >= 1);
        }
        Err(e) => assert!(!e.to_string().is_empty(), "a rejection says why"),
    }
    verdict
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, max_shrink_iters: 256, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_bytes_are_refused_with_a_typed_error(body in prop::collection::vec(any::<u8>(), 0..512)) {
        if let Err(e) = check(&body) {
            // Bytes that are not one JSON document are a JSON error, nothing else.
            if serde_json::from_slice::<Value>(&body).is_err() {
                prop_assert!(matches!(e, OrderError::Json(_)), "{e:?}");
            }
        }
    }

    #[test]
    fn arbitrary_json_documents_get_a_verdict(doc in any_json()) {
        let verdict = check(&serde_json::to_vec(&doc).unwrap());
        if !doc.is_object() {
            prop_assert_eq!(verdict, Err(OrderError::NotAnObject));
        }
    }

    #[test]
    fn any_field_of_a_good_order_replaced_by_anything_gets_a_verdict(pick in any::<prop::sample::Index>(), replacement in any_json()) {
        let mut order = base();
        let mut all = Vec::new();
        pointers(&order, String::new(), &mut all);
        let at = pick.get(&all).clone();
        *order.pointer_mut(&at).unwrap() = replacement;
        check(&serde_json::to_vec(&order).unwrap()).ok();
    }

    #[test]
    fn any_field_of_a_good_order_removed_gets_a_verdict(pick in any::<prop::sample::Index>()) {
        let mut order = base();
        let mut all = Vec::new();
        pointers(&order, String::new(), &mut all);
        let at = pick.get(&all).clone();
        let (parent, key) = at.rsplit_once('/').unwrap();
        match order.pointer_mut(parent).unwrap() {
            Value::Object(m) => { m.remove(key); }
            Value::Array(a) => { a.remove(key.parse::<usize>().unwrap()); }
            _ => unreachable!(),
        }
        check(&serde_json::to_vec(&order).unwrap()).ok();
    }

    #[test]
    fn identifiers_of_any_text_get_a_verdict(text in "\\PC{0,70}", field in 0usize..5) {
        let mut order = base();
        let at = ["/order_id", "/end_customer/site/support_id", "/end_customer/contacts/0/email", "/lines/0/serial", "/ordered_at"][field];
        *order.pointer_mut(at).unwrap() = json!(text);
        check(&serde_json::to_vec(&order).unwrap()).ok();
    }

    #[test]
    fn a_truncated_order_is_a_json_error(cut in 0usize..2000) {
        let body = serde_json::to_vec(&base()).unwrap();
        let cut = cut % body.len();
        prop_assert!(matches!(check(&body[..cut]), Err(OrderError::Json(_))));
    }
}

#[test]
fn the_base_order_is_accepted() {
    assert!(check(&serde_json::to_vec(&base()).unwrap()).is_ok());
}
