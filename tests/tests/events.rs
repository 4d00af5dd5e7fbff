//! Change events (issue 20 part 3) end to end: orders through the SQS event source and
//! requests through the HTTP access routes change the table; the events function reads
//! DynamoDB Local's real stream, publishes to moto's EventBridge (the local tap holds what
//! the bus accepted), and every event is checked against docs/schemas/abev.event.v1.json.

use abev::domain::{Order, Role};
use abev::events::publish::{PublishError, PublishPolicy, Publisher};
use abev::events::{ChangeEvent, EventKind, EventsHandler};
use abev::store::orders::Step;
use abev_client::CreatedRequest;
use abev_integration_tests::{crash_after, endpoints, order_json, TestApp, TestStack};
use abev_local::events::{StreamSource, TapPublisher};
use aws_lambda_events::event::dynamodb::{Event, EventRecord};
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

const SCHEMA: &str = include_str!("../../docs/schemas/abev.event.v1.json");
const CARE: &str = "carla@care.example";

fn validator() -> jsonschema::Validator {
    let schema: Value = serde_json::from_str(SCHEMA).expect("the schema is JSON");
    jsonschema::draft202012::meta::validate(&schema).expect("a valid 2020-12 schema");
    jsonschema::draft202012::options().should_validate_formats(true).build(&schema).expect("the schema compiles")
}

fn errors(v: &jsonschema::Validator, instance: &Value) -> Vec<String> {
    v.iter_errors(instance).map(|e| format!("{} at {}", e, e.instance_path)).collect()
}

async fn local_events(t: &TestStack) -> (EventsHandler<TapPublisher>, StreamSource) {
    let (ddb_url, moto_url) = endpoints();
    abev_local::events::local(&t.ddb, &t.sqs, &ddb_url, &moto_url, &t.stack.table).await.expect("the local events function")
}

/// Every event on the stack's tap: what moto's EventBridge accepted.
async fn published(t: &TestStack, handler: &EventsHandler<TapPublisher>) -> Vec<Value> {
    t.receive_all(&handler.publisher.tap_url)
        .await
        .into_iter()
        .map(|m| serde_json::from_str(m.body().unwrap_or_default()).expect("an event is JSON"))
        .collect()
}

/// Every record of the stack's stream, from its oldest, as Lambda would hand them over.
async fn all_records(t: &TestStack) -> Vec<EventRecord> {
    let (streams, _) = abev_local::events::clients(&endpoints().0, &endpoints().1);
    let mut source = StreamSource::new(streams, &t.stack.table);
    let mut out = Vec::new();
    loop {
        let batches = source.read().await.expect("read the stream");
        let mut got = 0;
        for (shard, records, next) in batches {
            got += records.len();
            out.extend(records);
            source.advance(&shard, next);
        }
        if got == 0 {
            return out;
        }
    }
}

async fn ask(app: &TestApp, email: &str, site: &str, role: Option<Role>) -> String {
    match app.client(email).create_request(site, role).await.expect("request") {
        CreatedRequest::New(r) | CreatedRequest::Existing(r) => r.request_id,
    }
}

/// The scenario: orders, a new version, a cancellation, an abandoned staging, and the access
/// workflow. Returns the published events.
async fn scenario(t: &TestStack, handler: &EventsHandler<TapPublisher>, source: &mut StreamSource) -> Vec<Value> {
    t.send(&order_json(
        "O-1",
        1,
        "active",
        ("ACME-1", &["bill@acme.example"]),
        Some(("SKY-1", &["mary@skynet.example"])),
        Some(("DATA-1", &["ted@data.example"])),
        &["S1", "S2", "S3"],
    ))
    .await;
    t.send(&order_json("O-2", 1, "active", ("FARM-1", &["fiona@farm.example"]), None, None, &["S5"])).await;
    t.drain().await;
    // The events function runs beside ingestion (as in AWS, a stream batch a second later).
    source.drain(handler).await.expect("the events function reads the stream");
    t.send(&order_json(
        "O-1",
        2,
        "active",
        ("ACME-1", &["bill@acme.example"]),
        Some(("SKY-1", &["mary@skynet.example"])),
        None,
        &["S1", "S3", "S4"],
    ))
    .await;
    t.send(&order_json("O-2", 2, "cancelled", ("FARM-1", &["fiona@farm.example"]), None, None, &["S5"])).await;
    t.drain().await;
    source.drain(handler).await.expect("the events function reads the stream");
    // A version staged (its lines and copies written) and then given up: never current.
    let body =
        order_json("O-3", 1, "active", ("GLOBEX-1", &["gary@globex.example"]), None, Some(("DATA-1", &["ted@data.example"])), &["S9"]);
    let order = Order::parse(body.as_bytes()).unwrap();
    assert!(t.store.apply_order(&order, &crash_after(Step::Staged(1))).await.is_err(), "stopped after staging");
    t.store.abandon_order(&order).await.expect("given up");

    let app = TestApp::spawn(t).await;
    let care = app.care_client(CARE);
    // ted asks to join FARM-1 (no admin: escalated); Care approves.
    let ted = ask(&app, "ted@data.example", "FARM-1", None).await;
    care.approve(&ted, None).await.expect("Care approves ted");
    // fiona asks to become FARM-1's admin; Care approves; she removes ted.
    let fiona = ask(&app, "fiona@farm.example", "FARM-1", Some(Role::Admin)).await;
    care.approve(&fiona, None).await.expect("Care makes fiona admin");
    app.client("fiona@farm.example").remove_member("FARM-1", "ted@data.example").await.expect("fiona removes ted");
    // mary asks to join ACME-1; Care rejects.
    let mary = ask(&app, "mary@skynet.example", "ACME-1", None).await;
    care.reject(&mary, "not a customer contact").await.expect("Care rejects mary");

    let handed = source.drain(handler).await.expect("the events function reads the rest of the stream");
    assert!(handed > 0);
    published(t, handler).await
}

fn of_kind<'a>(events: &'a [Value], kind: &str) -> Vec<&'a Value> {
    events.iter().filter(|e| e["type"] == kind).collect()
}

fn serials(events: &[Value], kind: &str) -> BTreeSet<String> {
    of_kind(events, kind).iter().map(|e| e["data"]["serial"].as_str().unwrap().to_string()).collect()
}

#[tokio::test]
async fn every_change_a_user_sees_is_published_once_per_id_schema_valid_without_licence_keys() {
    let t = TestStack::with_stream().await;
    let (handler, mut source) = local_events(&t).await;
    let events = scenario(&t, &handler, &mut source).await;
    let v = validator();
    for e in &events {
        assert_eq!(errors(&v, e), Vec::<String>::new(), "{e}");
        let text = e.to_string();
        assert!(!text.contains("LK-") && !text.contains("license_keys") && !text.contains("download"), "no licence keys: {text}");
    }
    // Every kind, from the scenario alone.
    let kinds: BTreeSet<&str> = events.iter().filter_map(|e| e["type"].as_str()).collect();
    for kind in EventKind::ALL {
        assert!(kinds.contains(kind.as_str()), "{} in {kinds:?}", kind.as_str());
    }
    // One event per change (the stream was read once, nothing failed).
    let ids: Vec<&str> = events.iter().map(|e| e["id"].as_str().unwrap()).collect();
    assert_eq!(ids.iter().collect::<BTreeSet<_>>().len(), ids.len(), "ids are unique");
    // The entitlement mapping: who sees what changed as the view does.
    let set = |s: &[&str]| s.iter().map(|x| x.to_string()).collect::<BTreeSet<_>>();
    assert_eq!(serials(&events, "entitlement.granted"), set(&["S1", "S2", "S3", "S4", "S5"]));
    assert_eq!(serials(&events, "entitlement.changed"), set(&["S1", "S3"]));
    assert_eq!(serials(&events, "entitlement.revoked"), set(&["S2", "S5"]));
    let revoked: BTreeMap<String, String> = of_kind(&events, "entitlement.revoked")
        .iter()
        .map(|e| (e["data"]["serial"].as_str().unwrap().to_string(), e["data"]["reason"].as_str().unwrap().to_string()))
        .collect();
    assert_eq!(revoked["S2"], "removed_from_order");
    assert_eq!(revoked["S5"], "order_cancelled");
    let s1_granted = of_kind(&events, "entitlement.granted").into_iter().find(|e| e["data"]["serial"] == "S1").unwrap();
    assert_eq!(s1_granted["data"]["access"][2]["contacts"][0], "ted@data.example", "ship-to reach is why ted sees it");
    assert_eq!(s1_granted["data"]["sku"], "SKU-1");
    let s1_changed = of_kind(&events, "entitlement.changed").into_iter().find(|e| e["data"]["serial"] == "S1").unwrap();
    assert_eq!(s1_changed["data"]["changes"], serde_json::json!(["ship_to"]));
    assert_eq!(s1_changed["data"]["previous"]["version"], 1);
    // The staged-and-abandoned version announced nothing.
    assert!(events.iter().all(|e| !e.to_string().contains("S9") && !e.to_string().contains("gary@")), "nothing of O-3");
    // Memberships: provisioning and the workflow.
    let memberships = |kind: &str| -> BTreeSet<(String, String)> {
        of_kind(&events, kind)
            .iter()
            .map(|e| (e["data"]["email"].as_str().unwrap().to_string(), e["data"]["support_id"].as_str().unwrap().to_string()))
            .collect()
    };
    assert!(memberships("membership.added").contains(&("ted@data.example".into(), "FARM-1".into())));
    assert!(memberships("membership.added").contains(&("bill@acme.example".into(), "ACME-1".into())));
    assert_eq!(memberships("membership.removed"), BTreeSet::from([("ted@data.example".to_string(), "FARM-1".to_string())]));
    let promoted = of_kind(&events, "membership.role_changed");
    assert_eq!(
        (promoted.len(), &promoted[0]["data"]["role"], &promoted[0]["data"]["previous_role"]),
        (1, &Value::from("admin"), &Value::from("user"))
    );
    // Requests: three created (all escalated: no site had an admin), two approved, one rejected.
    assert_eq!(of_kind(&events, "access_request.created").len(), 3);
    assert_eq!(of_kind(&events, "access_request.escalated").len(), 3);
    let decided: Vec<&str> = of_kind(&events, "access_request.decided").iter().map(|e| e["data"]["status"].as_str().unwrap()).collect();
    assert_eq!(decided.iter().filter(|s| **s == "approved").count(), 2);
    assert_eq!(decided.iter().filter(|s| **s == "rejected").count(), 1);
}

#[tokio::test]
async fn replaying_the_same_stream_records_gives_the_same_event_ids() {
    let t = TestStack::with_stream().await;
    let (handler, mut source) = local_events(&t).await;
    let events = scenario(&t, &handler, &mut source).await;
    let first: BTreeSet<String> = events.iter().map(|e| e["id"].as_str().unwrap().to_string()).collect();
    // The same records again (a redelivered batch), decided by the same function: by now
    // cleanup removed older versions' lines, and the ids do not depend on it.
    let records = all_records(&t).await;
    let mut again = BTreeSet::new();
    for record in &records {
        for e in handler.events_of(record).await.expect("a record decides again") {
            again.insert(e.id);
        }
    }
    assert_eq!(again, first);
    // And the whole batch handed over again publishes exactly those ids once more.
    let mut batch = Event::default();
    batch.records = records;
    let response = handler.handle_batch(batch).await;
    assert!(response.batch_item_failures.is_empty());
    let republished = published(&t, &handler).await;
    assert_eq!(republished.iter().map(|e| e["id"].as_str().unwrap().to_string()).collect::<BTreeSet<_>>(), first);
    // Cleanup removed version 1's lines from the table, but the batch holds their images: a
    // grant of a replaced version still says what the line was.
    for e in republished.iter().filter(|e| e["type"] == "entitlement.granted" || e["type"] == "entitlement.changed") {
        assert_eq!(e["data"]["sku"], "SKU-1", "{e}");
    }
}

/// Takes every entry except those of one event, forever.
struct RefusesOne {
    refused: String,
}

impl Publisher for RefusesOne {
    async fn put(&self, events: &[&ChangeEvent]) -> Result<Vec<Option<String>>, PublishError> {
        Ok(events.iter().map(|e| (e.id == self.refused).then(|| "InternalFailure".to_string())).collect())
    }
}

#[tokio::test]
async fn an_event_that_cannot_be_published_fails_its_record_and_the_batch_resumes_there() {
    let t = TestStack::with_stream().await;
    t.ingest(&[&order_json("O-1", 1, "active", ("ACME-1", &["bill@acme.example"]), None, None, &["S1", "S2"])]).await;
    let records = all_records(&t).await;
    let (handler, _) = local_events(&t).await;
    // The head's record: its S2 grant is refused by the bus.
    let (head_index, granted) = {
        let mut found = None;
        for (i, r) in records.iter().enumerate() {
            let events = handler.events_of(r).await.unwrap();
            if let Some(e) = events.into_iter().find(|e| e.kind == EventKind::EntitlementGranted && e.detail().contains("\"S2\"")) {
                found = Some((i, e));
                break;
            }
        }
        found.expect("the head's record grants S2")
    };
    let failing = EventsHandler {
        store: handler.store.clone(),
        publisher: RefusesOne { refused: granted.id.clone() },
        policy: PublishPolicy { attempts: 3, base: Duration::from_millis(1), cap: Duration::from_millis(2) },
    };
    let mut batch = Event::default();
    batch.records = records.clone();
    let response = failing.handle_batch(batch).await;
    let failed: Vec<Option<String>> = response.batch_item_failures.iter().map(|f| f.item_identifier.clone()).collect();
    assert_eq!(failed, vec![records[head_index].change.sequence_number.clone()], "the first record with an unpublished event");
}

#[test]
fn the_schema_names_exactly_the_kinds_the_code_publishes_and_refuses_licence_keys() {
    let schema: Value = serde_json::from_str(SCHEMA).unwrap();
    let named: BTreeSet<&str> = schema["properties"]["type"]["enum"].as_array().unwrap().iter().filter_map(Value::as_str).collect();
    let code: BTreeSet<&str> = EventKind::ALL.iter().map(|k| k.as_str()).collect();
    assert_eq!(named, code);
    let v = validator();
    let granted = serde_json::json!({
        "schema": "abev.event.v1", "id": format!("ev_{}", "0".repeat(32)), "type": "entitlement.granted",
        "time": "2026-04-01T10:00:00Z",
        "data": {"serial": "S1", "order_id": "O-1", "version": 1, "site": "ACME-1", "reseller": null,
                 "access": [{"rule": "member", "support_id": "ACME-1"}]}
    });
    assert_eq!(errors(&v, &granted), Vec::<String>::new());
    let mut leaking = granted.clone();
    leaking["data"]["license_keys"] = serde_json::json!(["XXXX-YYYY"]);
    assert!(!errors(&v, &leaking).is_empty(), "a licence key is not part of any event");
    let mut revoked_without_reason = granted.clone();
    revoked_without_reason["type"] = "entitlement.revoked".into();
    assert!(!errors(&v, &revoked_without_reason).is_empty(), "each type has its own data shape");
}
