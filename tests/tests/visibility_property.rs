//! Random small worlds stored through the real ingestion code into DynamoDB Local, and
//! every contact's view read back, compared with a brute-force evaluation of spec §2
//! written here independently of the production rules.

use abev_integration_tests::{PlainView, TestStack};
use proptest::prelude::*;
use std::collections::{BTreeMap, BTreeSet};

const SITES: [&str; 4] = ["SITE-A", "SITE-B", "SITE-C", "SITE-D"];
const CONTACTS: [&str; 5] = ["a@x.example", "b@x.example", "c@y.example", "d@y.example", "e@z.example"];

#[derive(Debug, Clone)]
struct Party {
    site: usize,
    contacts: Vec<usize>,
}

#[derive(Debug, Clone)]
struct Version {
    end: Party,
    reseller: Option<Party>,
    ship_to: Option<Party>,
    cancelled: bool,
    lines: Vec<usize>,
}

fn party() -> impl Strategy<Value = Party> {
    (0..SITES.len(), prop::collection::btree_set(0..CONTACTS.len(), 0..3))
        .prop_map(|(site, c)| Party { site, contacts: c.into_iter().collect() })
}

fn version() -> impl Strategy<Value = Version> {
    (party(), prop::option::of(party()), prop::option::of(party()), prop::bool::weighted(0.2), prop::collection::btree_set(0..5usize, 1..4))
        .prop_map(|(end, reseller, ship_to, cancelled, lines)| Version {
            end,
            reseller,
            ship_to,
            cancelled,
            lines: lines.into_iter().collect(),
        })
}

/// Orders (each a list of versions 1..=n) and a delivery sequence of (order, version index).
fn world() -> impl Strategy<Value = (Vec<Vec<Version>>, Vec<(usize, usize)>)> {
    prop::collection::vec(prop::collection::vec(version(), 1..4), 1..4).prop_flat_map(|orders| {
        let mut deliveries = Vec::new();
        for (o, versions) in orders.iter().enumerate() {
            for v in 0..versions.len() {
                deliveries.push((o, v));
            }
        }
        let extra = prop::collection::vec(prop::sample::select(deliveries.clone()), 0..4);
        (
            Just(orders),
            (Just(deliveries), extra)
                .prop_map(|(mut d, e)| {
                    d.extend(e);
                    d
                })
                .prop_shuffle(),
        )
    })
}

fn serial(order: usize, line: usize) -> String {
    format!("O{order}-L{line}")
}

fn message(order: usize, v: usize, version: &Version) -> String {
    let party = |p: &Party| {
        serde_json::json!({"site": {"support_id": SITES[p.site], "name": SITES[p.site]},
                           "contacts": p.contacts.iter().map(|c| serde_json::json!({"email": CONTACTS[*c]})).collect::<Vec<_>>()})
    };
    serde_json::json!({
        "schema": "abev.order.v1", "order_id": format!("O{order}"), "version": v + 1,
        "status": if version.cancelled { "cancelled" } else { "active" }, "ordered_at": "2026-04-01T10:00:00Z",
        "end_customer": party(&version.end), "reseller": version.reseller.as_ref().map(party), "ship_to": version.ship_to.as_ref().map(party),
        "lines": version.lines.iter().map(|l| serde_json::json!({"serial": serial(order, *l), "sku": "K", "product": "P", "quantity": 1,
            "starts_on": "2026-01-01", "ends_on": "2099-01-01"})).collect::<Vec<_>>()
    })
    .to_string()
}

/// Spec §2 by brute force, replaying deliveries in order.
fn oracle(orders: &[Vec<Version>], deliveries: &[(usize, usize)]) -> BTreeMap<String, PlainView> {
    let mut current: BTreeMap<usize, usize> = BTreeMap::new();
    let mut members: BTreeSet<(usize, usize)> = BTreeSet::new(); // (contact, site)
    for &(o, v) in deliveries {
        if current.get(&o).is_some_and(|&cur| cur >= v) {
            continue; // a duplicate or a stale version: no effect, no provisioning
        }
        current.insert(o, v);
        let version = &orders[o][v];
        for c in &version.end.contacts {
            members.insert((*c, version.end.site));
        }
        if let Some(r) = &version.reseller {
            for c in &r.contacts {
                members.insert((*c, r.site));
            }
        }
    }
    let mut views = BTreeMap::new();
    for (c, email) in CONTACTS.iter().enumerate() {
        let mut view = PlainView::new();
        for (&o, &v) in &current {
            let version = &orders[o][v];
            if version.cancelled {
                continue;
            }
            let mut rules = Vec::new();
            if members.contains(&(c, version.end.site)) {
                rules.push("member".to_string());
            }
            if version.ship_to.as_ref().is_some_and(|s| s.contacts.contains(&c)) {
                rules.push("ship_to".to_string());
            }
            if version.reseller.as_ref().is_some_and(|r| members.contains(&(c, r.site))) {
                rules.push("reseller".to_string());
            }
            if rules.is_empty() {
                continue;
            }
            let site = view.entry(SITES[version.end.site].to_string()).or_default();
            for l in &version.lines {
                site.insert(serial(o, *l), rules.clone());
            }
        }
        views.insert(email.to_string(), view);
    }
    views
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, max_shrink_iters: 64, ..ProptestConfig::default() })]

    #[test]
    fn every_view_matches_the_rules((orders, deliveries) in world(), page_size in 1usize..4) {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        let expected = oracle(&orders, &deliveries);
        runtime.block_on(async {
            let t = TestStack::new().await;
            for &(o, v) in &deliveries {
                let outcome = t.ingestor.handle_message("prop", &message(o, v, &orders[o][v])).await;
                prop_assert!(outcome.acknowledged(), "delivery {:?} not acknowledged: {:?}", (o, v), outcome);
            }
            for (email, want) in &expected {
                let got = t.view(email, page_size).await;
                prop_assert_eq!(&got, want, "view of {}", email);
            }
            Ok(())
        })?;
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 12, max_shrink_iters: 16, ..ProptestConfig::default() })]

    /// The same worlds with DynamoDB failing like AWS at random — throttling, 500s, lost
    /// answers, transaction conflicts, a schedule per world — and the SDK's own retries
    /// off. A delivery that is not acknowledged is delivered again (as SQS would); every
    /// world converges to the reference and nothing is dead-lettered.
    #[test]
    fn every_view_matches_the_rules_under_injected_faults(
        (orders, deliveries) in world(),
        page_size in 1usize..4,
        (throttle, error, conflict, lost, seed) in (0.0..0.12f64, 0.0..0.08f64, 0.0..0.15f64, 0.0..0.08f64, 1u64..u64::MAX),
    ) {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        let expected = oracle(&orders, &deliveries);
        runtime.block_on(async {
            let plan = abev::store::faults::FaultPlan { throttle, error, conflict, lost, seed };
            let t = TestStack::with_faults(plan).await;
            // Every kind of fault at least once per world, whatever the rates drew.
            t.faults.script("GetItem", abev::store::faults::Fault::Throttle);
            t.faults.script("TransactWriteItems", abev::store::faults::Fault::Conflict);
            t.faults.script("UpdateItem", abev::store::faults::Fault::Lost);
            t.faults.script("Query", abev::store::faults::Fault::Error);
            for &(o, v) in &deliveries {
                let body = message(o, v, &orders[o][v]);
                let mut receive = 1;
                while !t.ingestor.handle_delivery("prop", &body, receive).await.acknowledged() {
                    receive += 1;
                    prop_assert!(receive < 5, "delivery {:?} never acknowledged", (o, v));
                }
            }
            prop_assert!(t.dead_letters().await.is_empty(), "nothing here is really bad");
            for (email, want) in &expected {
                let got = t.view(email, page_size).await;
                prop_assert_eq!(&got, want, "view of {}", email);
            }
            prop_assert!(t.faults.injected() >= 4, "faults were injected");
            Ok(())
        })?;
    }
}
