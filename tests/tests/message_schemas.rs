//! The published JSON Schemas of the two queue messages (`docs/schemas/`) against the code:
//! every order the parser accepts is schema-valid, every bad order the schema can recognise
//! is refused by both, and the rules only the parser enforces are the ones the schema's
//! description lists. The Care message the workflow sends is schema-valid.

use abev::access::{AccessRequest, CareMessage, EscalationReason};
use abev::domain::Order;
use serde_json::{json, Value};

const ORDER_SCHEMA: &str = include_str!("../../docs/schemas/abev.order.v1.json");
const CARE_SCHEMA: &str = include_str!("../../docs/schemas/abev.care-escalation.v1.json");

fn validator(schema: &str) -> jsonschema::Validator {
    let schema: Value = serde_json::from_str(schema).expect("the schema is JSON");
    jsonschema::draft202012::meta::validate(&schema).expect("the schema is a valid 2020-12 schema");
    jsonschema::draft202012::options().should_validate_formats(true).build(&schema).expect("the schema compiles")
}

fn errors(v: &jsonschema::Validator, instance: &Value) -> Vec<String> {
    v.iter_errors(instance).map(|e| format!("{} at {}", e, e.instance_path)).collect()
}

fn base() -> Value {
    serde_json::from_str(abev_local::seed::WORKED_EXAMPLE[0].1).unwrap()
}

fn with(mutate: impl Fn(&mut Value)) -> Value {
    let mut v = base();
    mutate(&mut v);
    v
}

/// Orders the parser accepts: the worked example, the test helper's orders, and the edges
/// the parser normalises (spaces and capitals in e-mails, lower-case Support IDs, nulls).
fn accepted_orders() -> Vec<Value> {
    let mut out: Vec<Value> = abev_local::seed::WORKED_EXAMPLE.iter().map(|(_, b)| serde_json::from_str(b).unwrap()).collect();
    out.push(
        serde_json::from_str(&abev_integration_tests::order_json(
            "O-9",
            3,
            "cancelled",
            ("ACME-1", &["a@acme.example"]),
            Some(("SKY-1", &[])),
            Some(("DATA-1", &["t@data.example"])),
            &["S-1", "S.2", "S_3", "S:4/5+6"],
        ))
        .unwrap(),
    );
    out.push(with(|v| v["end_customer"]["contacts"][0]["email"] = json!("  Bill.O'Neil+x@Acme.Example ")));
    out.push(with(|v| v["end_customer"]["site"]["support_id"] = json!("acme-1")));
    out.push(with(|v| {
        v["ship_to"] = Value::Null;
        v["reseller"] = Value::Null;
        v["end_customer"]["contacts"] = Value::Null;
        v["lines"][0]["license_keys"] = Value::Null;
        v["lines"][0]["download_url"] = Value::Null;
        v["end_customer"]["contacts"] = json!([]);
    }));
    out.push(with(|v| {
        let o = v.as_object_mut().unwrap();
        o.remove("ship_to");
        o.remove("reseller");
        o.insert("erp_note".into(), json!("unknown fields are ignored"));
    }));
    out.push(with(|v| v["ordered_at"] = json!("2026-04-01T12:00:00.123+02:00")));
    out.push(with(|v| v["version"] = json!(u64::MAX)));
    out.push(with(|v| {
        let line = v["lines"][0].clone();
        v["lines"] = Value::Array(
            (0..1000)
                .map(|i| {
                    let mut l = line.clone();
                    l["serial"] = json!(format!("N{i}"));
                    l
                })
                .collect(),
        );
    }));
    out
}

#[test]
fn every_order_the_parser_accepts_is_schema_valid() {
    let v = validator(ORDER_SCHEMA);
    for (i, order) in accepted_orders().iter().enumerate() {
        let body = serde_json::to_vec(order).unwrap();
        Order::parse(&body).unwrap_or_else(|e| panic!("fixture {i} is not accepted by the parser: {e}"));
        assert_eq!(errors(&v, order), Vec::<String>::new(), "fixture {i} is accepted by the parser but not by the schema");
    }
}

/// Bad orders a schema can recognise: both the parser and the schema refuse each.
#[test]
fn the_schema_refuses_what_the_parser_refuses_where_it_can() {
    type Mutation = fn(&mut Value);
    let table: &[(&str, Mutation)] = &[
        ("another schema", |v| v["schema"] = json!("abev.order.v2")),
        ("no schema", |v| drop(v.as_object_mut().unwrap().remove("schema"))),
        ("no order_id", |v| drop(v.as_object_mut().unwrap().remove("order_id"))),
        ("blank order_id", |v| v["order_id"] = json!("  ")),
        ("order_id with a space", |v| v["order_id"] = json!("O 1")),
        ("order_id of 65 characters", |v| v["order_id"] = json!("O".repeat(65))),
        ("order_id a number", |v| v["order_id"] = json!(1)),
        ("version 0", |v| v["version"] = json!(0)),
        ("version negative", |v| v["version"] = json!(-1)),
        ("version a string", |v| v["version"] = json!("1")),
        ("version 1.5", |v| v["version"] = json!(1.5)),
        ("version null", |v| v["version"] = Value::Null),
        ("status paused", |v| v["status"] = json!("paused")),
        ("status upper-case", |v| v["status"] = json!("ACTIVE")),
        ("ordered_at not a timestamp", |v| v["ordered_at"] = json!("yesterday")),
        ("ordered_at a date only", |v| v["ordered_at"] = json!("2026-04-01")),
        ("no end_customer", |v| drop(v.as_object_mut().unwrap().remove("end_customer"))),
        ("end_customer null", |v| v["end_customer"] = Value::Null),
        ("end_customer a string", |v| v["end_customer"] = json!("ACME-1")),
        ("no site", |v| drop(v["end_customer"].as_object_mut().unwrap().remove("site"))),
        ("support_id with a space", |v| v["end_customer"]["site"]["support_id"] = json!("ACME 1")),
        ("support_id of 33 characters", |v| v["end_customer"]["site"]["support_id"] = json!("A".repeat(33))),
        ("empty support_id", |v| v["end_customer"]["site"]["support_id"] = json!("")),
        ("blank site name", |v| v["end_customer"]["site"]["name"] = json!(" ")),
        ("no site name", |v| drop(v["end_customer"]["site"].as_object_mut().unwrap().remove("name"))),
        ("contacts an object", |v| v["end_customer"]["contacts"] = json!({})),
        ("contact without email", |v| v["end_customer"]["contacts"] = json!([{"name": "Bill"}])),
        ("email without @", |v| v["end_customer"]["contacts"][0]["email"] = json!("bill.acme.example")),
        ("email without a dot in the domain", |v| v["end_customer"]["contacts"][0]["email"] = json!("bill@localhost")),
        ("email with a space inside", |v| v["end_customer"]["contacts"][0]["email"] = json!("bill smith@acme.example")),
        ("email with two @", |v| v["end_customer"]["contacts"][0]["email"] = json!("a@b@acme.example")),
        ("email with ..", |v| v["end_customer"]["contacts"][0]["email"] = json!("a..b@acme.example")),
        ("email label starting with -", |v| v["end_customer"]["contacts"][0]["email"] = json!("a@-acme.example")),
        ("contact name a number", |v| v["end_customer"]["contacts"][0]["name"] = json!(7)),
        ("reseller a list", |v| v["reseller"] = json!([])),
        ("ship_to without site", |v| v["ship_to"] = json!({"contacts": []})),
        ("no lines", |v| drop(v.as_object_mut().unwrap().remove("lines"))),
        ("lines empty", |v| v["lines"] = json!([])),
        ("lines an object", |v| v["lines"] = json!({})),
        ("1001 lines", |v| {
            let line = v["lines"][0].clone();
            v["lines"] = Value::Array(
                (0..1001)
                    .map(|i| {
                        let mut l = line.clone();
                        l["serial"] = json!(format!("N{i}"));
                        l
                    })
                    .collect(),
            );
        }),
        ("line a string", |v| v["lines"][0] = json!("S1")),
        ("serial with #", |v| v["lines"][0]["serial"] = json!("S#1")),
        ("serial empty", |v| v["lines"][0]["serial"] = json!("")),
        ("no sku", |v| drop(v["lines"][0].as_object_mut().unwrap().remove("sku"))),
        ("blank product", |v| v["lines"][0]["product"] = json!("")),
        ("quantity 0", |v| v["lines"][0]["quantity"] = json!(0)),
        ("quantity a string", |v| v["lines"][0]["quantity"] = json!("100")),
        ("starts_on not a date", |v| v["lines"][0]["starts_on"] = json!("2026-02-30")),
        ("ends_on in another format", |v| v["lines"][0]["ends_on"] = json!("31/03/2027")),
        ("no ends_on", |v| drop(v["lines"][0].as_object_mut().unwrap().remove("ends_on"))),
        ("license_keys a string", |v| v["lines"][0]["license_keys"] = json!("XXXX")),
        ("a license key a number", |v| v["lines"][0]["license_keys"] = json!([1])),
        ("download_url a number", |v| v["lines"][0]["download_url"] = json!(1)),
        ("download_url over http", |v| v["lines"][0]["download_url"] = json!("http://downloads.example/p")),
        ("download_url a script", |v| v["lines"][0]["download_url"] = json!("javascript:alert(1)")),
        ("download_url without a host", |v| v["lines"][0]["download_url"] = json!("https:///p")),
    ];
    let v = validator(ORDER_SCHEMA);
    for (name, mutate) in table {
        let order = with(*mutate);
        assert!(Order::parse(&serde_json::to_vec(&order).unwrap()).is_err(), "the parser accepts a message with {name}");
        assert!(!v.is_valid(&order), "the schema accepts a message with {name}");
    }
    for not_an_object in [json!([]), json!("order"), json!(1), Value::Null] {
        assert!(Order::parse(&serde_json::to_vec(&not_an_object).unwrap()).is_err());
        assert!(!v.is_valid(&not_an_object));
    }
}

/// The rules only the parser enforces (the schema's description names each): the schema
/// accepts these, the parser refuses them. If the schema learns one, move it to the table above.
#[test]
fn the_rules_a_schema_cannot_state_are_the_parsers_alone() {
    type Mutation = fn(&mut Value);
    let table: &[(&str, Mutation)] = &[
        ("a serial twice", |v| {
            let line = v["lines"][0].clone();
            v["lines"] = json!([line.clone(), line]);
        }),
        ("ends_on before starts_on", |v| v["lines"][0]["ends_on"] = json!("2026-01-01")),
        ("version 1.0", |v| v["version"] = json!(1.0)),
        ("41 distinct contacts", |v| {
            v["end_customer"]["contacts"] = Value::Array((0..41).map(|i| json!({"email": format!("c{i}@acme.example")})).collect());
        }),
        ("a local part of 65 characters", |v| {
            v["end_customer"]["contacts"][0]["email"] = json!(format!("{}@acme.example", "a".repeat(65)))
        }),
    ];
    let v = validator(ORDER_SCHEMA);
    let description = serde_json::from_str::<Value>(ORDER_SCHEMA).unwrap()["description"].as_str().unwrap().to_string();
    for (name, mutate) in table {
        let order = with(*mutate);
        assert!(Order::parse(&serde_json::to_vec(&order).unwrap()).is_err(), "the parser accepts a message with {name}");
        assert!(v.is_valid(&order), "the schema now refuses {name}: move it to the table of what both refuse");
    }
    for rule in ["serials unique", "`ends_on` not before `starts_on`", "without a fraction", "40 distinct contacts", "e-mail lengths"] {
        assert!(description.contains(rule), "the order schema's description does not name: {rule}");
    }
}

fn escalated_request() -> AccessRequest {
    serde_json::from_value(json!({
        "request_id": "0b6f6c1e-6f0e-4a53-9d65-1b8f6b0f3a11", "support_id": "FARM-1", "site_name": "Farm Foods",
        "requester_email": "ted@data.example", "kind": "join", "requested_role": "user", "status": "escalated",
        "created_at": "2026-04-01T10:00:00.123Z", "decided_by": null, "decided_at": null, "reason": null,
        "granted_role": null, "escalated_at": "2026-04-01T10:00:00.123Z", "escalation_reason": "no_site_administrator"
    }))
    .unwrap()
}

#[test]
fn the_care_message_the_workflow_sends_is_schema_valid() {
    let v = validator(CARE_SCHEMA);
    for reason in [EscalationReason::NoSiteAdministrator, EscalationReason::AdminSlaExpired] {
        let message = serde_json::to_value(CareMessage::of(&escalated_request(), reason)).unwrap();
        assert_eq!(errors(&v, &message), Vec::<String>::new());
    }
    let good = serde_json::to_value(CareMessage::of(&escalated_request(), EscalationReason::NoSiteAdministrator)).unwrap();
    type Mutation = fn(&mut Value);
    let bad: &[(&str, Mutation)] = &[
        ("another schema", |m| m["schema"] = json!("abev.care-escalation.v2")),
        ("no request_id", |m| drop(m.as_object_mut().unwrap().remove("request_id"))),
        ("request_id not a UUID", |m| m["request_id"] = json!("r1")),
        ("another reason", |m| m["reason"] = json!("because")),
        ("another kind", |m| m["kind"] = json!("leave")),
        ("another role", |m| m["requested_role"] = json!("owner")),
        ("a lower-case support_id", |m| m["support_id"] = json!("farm-1")),
        ("an upper-case e-mail", |m| m["requester_email"] = json!("Ted@data.example")),
        ("created_at not a timestamp", |m| m["created_at"] = json!("today")),
        ("an unknown field", |m| m["extra"] = json!(1)),
    ];
    for (name, mutate) in bad {
        let mut m = good.clone();
        mutate(&mut m);
        assert!(!v.is_valid(&m), "the care schema accepts a message with {name}");
    }
}
