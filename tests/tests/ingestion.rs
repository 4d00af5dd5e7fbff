//! Order ingestion against DynamoDB Local and moto (spec §3).

use abev::domain::SupportId;
use abev::store::orders::{ApplyOptions, Step};
use abev_integration_tests::{crash_after, order_json, worked_example, TestStack};

#[tokio::test]
async fn worked_example_through_the_queue_gives_every_view_exactly() {
    let t = TestStack::new().await;
    let (orders, expected) = worked_example();
    for body in &orders {
        t.send(body).await;
    }
    t.drain().await;
    assert!(t.dead_letters().await.is_empty());
    for (email, want) in &expected {
        assert_eq!(&t.view(email, 100).await, want, "view of {email}");
    }
}

#[tokio::test]
async fn worked_example_holds_when_paged_one_item_at_a_time() {
    let t = TestStack::new().await;
    let (orders, expected) = worked_example();
    t.ingest(&orders).await;
    for (email, want) in &expected {
        assert_eq!(&t.view(email, 1).await, want, "view of {email} paged by one");
    }
}

#[tokio::test]
async fn redelivering_every_message_many_times_leaves_one_copy() {
    let t = TestStack::new().await;
    let (orders, expected) = worked_example();
    for _ in 0..4 {
        for body in orders.iter().rev() {
            t.send(body).await;
        }
    }
    t.drain().await;
    assert!(t.dead_letters().await.is_empty());
    for (email, want) in &expected {
        assert_eq!(&t.view(email, 2).await, want, "view of {email}");
    }
}

#[tokio::test]
async fn versions_in_any_order_end_at_the_highest() {
    let v1 = order_json(
        "O-9",
        1,
        "active",
        ("CUST-1", &["c@cust.example"]),
        Some(("RES-1", &["r@res.example"])),
        Some(("SHIP-1", &["s@ship.example"])),
        &["A1", "A2", "A3"],
    );
    let v2 = order_json("O-9", 2, "active", ("CUST-1", &["c@cust.example"]), None, None, &["A1", "A4"]);
    let v3 =
        order_json("O-9", 3, "active", ("CUST-1", &["c@cust.example"]), Some(("RES-2", &["q@res2.example"])), None, &["A1", "A4", "A5"]);
    let orders = [v1.as_str(), v2.as_str(), v3.as_str()];
    let permutations = [[0, 1, 2], [0, 2, 1], [1, 0, 2], [1, 2, 0], [2, 0, 1], [2, 1, 0]];
    for perm in permutations {
        let t = TestStack::new().await;
        t.ingest(&perm.map(|i| orders[i])).await;
        let customer = t.view("c@cust.example", 10).await;
        assert_eq!(customer["CUST-1"].keys().collect::<Vec<_>>(), ["A1", "A4", "A5"], "order {perm:?}");
        // The reseller and ship-to of older versions lost their view; the new reseller has it.
        assert!(t.view("r@res.example", 10).await.is_empty(), "order {perm:?}");
        assert!(t.view("s@ship.example", 10).await.is_empty(), "order {perm:?}");
        assert_eq!(t.view("q@res2.example", 10).await["CUST-1"].len(), 3, "order {perm:?}");
    }
}

#[tokio::test]
async fn cancelled_version_revokes_everything_but_keeps_memberships() {
    let t = TestStack::new().await;
    let v1 = order_json(
        "O-7",
        1,
        "active",
        ("CUST-7", &["c@cust.example"]),
        Some(("RES-7", &["r@res.example"])),
        Some(("SHIP-7", &["s@ship.example"])),
        &["C1"],
    );
    let v2 = order_json(
        "O-7",
        2,
        "cancelled",
        ("CUST-7", &["c@cust.example"]),
        Some(("RES-7", &["r@res.example"])),
        Some(("SHIP-7", &["s@ship.example"])),
        &["C1"],
    );
    t.ingest(&[&v1, &v2]).await;
    for email in ["c@cust.example", "r@res.example", "s@ship.example"] {
        assert!(t.view(email, 10).await.is_empty(), "{email} still sees a cancelled order");
    }
    let memberships = t.store.memberships(&abev::domain::Email::parse("c@cust.example").unwrap()).await.unwrap();
    assert_eq!(memberships.len(), 1, "membership kept after cancellation");
}

#[tokio::test]
async fn conflicting_duplicate_and_taken_serial_go_to_the_dead_letter_queue_with_a_reason() {
    let t = TestStack::new().await;
    let original = order_json("O-1", 1, "active", ("CUST-1", &["c@cust.example"]), None, None, &["S1"]);
    let different = order_json("O-1", 1, "active", ("CUST-1", &["c@cust.example"]), None, None, &["S1", "S2"]);
    let thief = order_json("O-2", 1, "active", ("CUST-2", &["d@cust.example"]), None, None, &["S1"]);
    t.send(&original).await;
    t.drain().await;
    t.send(&different).await;
    t.send(&thief).await;
    t.drain().await;
    let mut dead = t.dead_letters().await;
    dead.sort();
    assert_eq!(dead.len(), 2, "{dead:?}");
    assert!(
        dead.iter()
            .any(|(body, reason)| body == &different && reason.contains("version 1 of order O-1") && reason.contains("different content")),
        "{dead:?}"
    );
    assert!(dead.iter().any(|(body, reason)| body == &thief && reason.contains("serial S1 already belongs to order O-1")), "{dead:?}");
    // Nothing of the refused messages became visible.
    assert_eq!(t.view("c@cust.example", 10).await["CUST-1"].len(), 1);
    assert!(t.view("d@cust.example", 10).await.is_empty());
}

#[tokio::test]
async fn bad_json_beside_good_messages_fails_alone() {
    let t = TestStack::new().await;
    let good = order_json("O-1", 1, "active", ("CUST-1", &["c@cust.example"]), None, None, &["S1"]);
    let good2 = order_json("O-2", 1, "active", ("CUST-1", &["c@cust.example"]), None, None, &["S2"]);
    t.send(&good).await;
    t.send("{\"schema\": \"abev.order.v1\", broken").await;
    t.send(r#"{"schema":"abev.order.v1","order_id":"O-3","version":1,"status":"active","ordered_at":"2026-04-01T10:00:00Z","lines":[]}"#)
        .await;
    t.send(&good2).await;
    t.drain().await;
    let dead = t.dead_letters().await;
    assert_eq!(dead.len(), 2, "{dead:?}");
    assert!(dead.iter().any(|(_, r)| r.starts_with("message body is not valid JSON")), "{dead:?}");
    assert!(dead.iter().any(|(_, r)| r == "end_customer is required"), "{dead:?}");
    assert_eq!(t.view("c@cust.example", 10).await["CUST-1"].len(), 2);
}

fn big_order(order_id: &str, version: u64, lines: usize, prefix: &str) -> String {
    let serials: Vec<String> = (0..lines).map(|i| format!("{prefix}{i:04}")).collect();
    let refs: Vec<&str> = serials.iter().map(String::as_str).collect();
    order_json(
        order_id,
        version,
        "active",
        ("BIG-1", &["big@cust.example"]),
        Some(("RES-B", &["rb@res.example"])),
        Some(("SHIP-B", &["sb@ship.example"])),
        &refs,
    )
}

#[tokio::test]
async fn a_thousand_line_order_is_stored_whole() {
    let t = TestStack::new().await;
    let order = big_order("O-BIG", 1, 1000, "L");
    t.ingest(&[&order]).await;
    for email in ["big@cust.example", "rb@res.example", "sb@ship.example"] {
        let view = t.view(email, 500).await;
        assert_eq!(view["BIG-1"].len(), 1000, "{email}");
    }
}

#[tokio::test]
async fn a_crash_between_chunks_is_completed_by_redelivery() {
    let t = TestStack::with_options(crash_after(Step::Staged(3))).await;
    let v1 = big_order("O-BIG", 1, 300, "L");
    let outcome = t.ingestor.handle_message("m1", &v1).await;
    assert!(!outcome.acknowledged(), "the injected crash must leave the message for retry");
    // Nothing of the half-written version is visible.
    assert!(t.view("big@cust.example", 100).await.is_empty());
    assert!(t.view("sb@ship.example", 100).await.is_empty());

    let healthy = TestStack { ingestor: abev::ingest::Ingestor { options: ApplyOptions::default(), ..t.ingestor.clone() }, ..t };
    healthy.ingest(&[&v1]).await;
    assert_eq!(healthy.view("big@cust.example", 500).await["BIG-1"].len(), 300);

    // A crash while staging v2 leaves v1 fully visible, never a mix.
    let v2 = big_order("O-BIG", 2, 200, "M");
    let crashing = abev::ingest::Ingestor { options: crash_after(Step::Staged(2)), ..healthy.ingestor.clone() };
    assert!(!crashing.handle_message("m2", &v2).await.acknowledged());
    let during = healthy.view("big@cust.example", 500).await;
    assert_eq!(during["BIG-1"].len(), 300);
    assert!(during["BIG-1"].keys().all(|s| s.starts_with('L')));
    healthy.ingest(&[&v2, &v2]).await;
    let after = healthy.view("big@cust.example", 500).await;
    assert_eq!(after["BIG-1"].len(), 200);
    assert!(after["BIG-1"].keys().all(|s| s.starts_with('M')));
}

/// An ingestor whose DynamoDB is unreachable: every message fails transiently.
fn unreachable_store(t: &TestStack) -> abev::ingest::Ingestor {
    let (ddb, _) = abev::aws::local_clients("http://127.0.0.1:9", "http://127.0.0.1:9");
    let quick = abev::store::RetryPolicy { max_attempts: 2, base: std::time::Duration::from_millis(1), ..Default::default() };
    abev::ingest::Ingestor { store: abev::store::Store::new(ddb, t.stack.table.clone()).with_retry(quick), ..t.ingestor.clone() }
}

#[tokio::test]
async fn transient_failures_are_retried_not_dead_lettered_and_redrive_after_max_receives() {
    let t = TestStack::new().await;
    let body = order_json("O-T", 1, "active", ("CUST-T", &["c@cust.example"]), None, None, &["T1"]);
    let down = unreachable_store(&t);
    let outcome = down.handle_message("m1", &body).await;
    assert!(matches!(outcome, abev::ingest::MessageOutcome::Retry(_)), "{outcome:?}");
    assert!(t.dead_letters().await.is_empty(), "a transient failure is not the message's fault");

    // Through the queue: the batch reports it, the event source leaves it, and its last
    // receive (maxReceiveCount, 5 in template.yaml) dead-letters it with the reason.
    t.send(&body).await;
    for _ in 0..5 {
        assert_eq!(t.source.poll_once(&down).await.unwrap(), 1);
    }
    assert_eq!(t.source.poll_once(&down).await.unwrap(), 0, "gone after the fifth receive");
    let dead = t.dead_letters().await;
    assert_eq!(dead.len(), 1);
    assert_eq!(dead[0].0, body);
    assert!(dead[0].1.starts_with("still failing after 5 deliveries: DynamoDB"), "the reason travels with it: {}", dead[0].1);

    // Once DynamoDB is back, the same message (redriven back by an operator) applies.
    t.ingest(&[&body]).await;
    assert_eq!(t.view("c@cust.example", 10).await["CUST-T"].len(), 1);
}

/// A delivery overtaken while it stages (v3 applied and cleaned up in the middle of v2's
/// staging) cannot write another line: every staging transaction checks the head has not
/// moved past its version, so nothing of v2 appears after v3's cleanup (hole 4 of issue 17).
#[tokio::test]
async fn an_overtaken_delivery_writes_no_line_after_the_newer_versions_cleanup() {
    let t = TestStack::new().await;
    let many: Vec<String> = (0..60).map(|i| format!("R{i:02}")).collect();
    let many: Vec<&str> = many.iter().map(String::as_str).collect();
    let v2 = order_json("O-R", 2, "active", ("CUST-R", &["c@cust.example"]), None, None, &many);
    let v3 = order_json("O-R", 3, "active", ("CUST-R", &["c@cust.example"]), None, None, &["R00"]);
    let barrier = std::sync::Arc::new(tokio::sync::Barrier::new(2));
    let slow =
        abev::ingest::Ingestor { options: abev_integration_tests::pause_after(Step::Staged(1), barrier.clone()), ..t.ingestor.clone() };
    let v2_body = v2.clone();
    let v2_worker = tokio::spawn(async move { slow.handle_message("m", &v2_body).await });
    abev_integration_tests::meet(&barrier, "v2 wrote its first staging transaction").await;
    t.ingest(&[&v3]).await;
    abev_integration_tests::meet(&barrier, "v2 goes on: its second transaction is refused, it finds itself stale").await;
    assert_eq!(v2_worker.await.unwrap(), abev::ingest::MessageOutcome::Stale);
    let lines_of_v2 = t
        .ddb
        .query()
        .table_name(&t.stack.table)
        .key_condition_expression("pk = :pk AND begins_with(sk, :v)")
        .expression_attribute_values(":pk", aws_sdk_dynamodb::types::AttributeValue::S("ORDER#O-R".into()))
        .expression_attribute_values(":v", aws_sdk_dynamodb::types::AttributeValue::S(abev::store::keys::line_prefix(2)))
        .consistent_read(true)
        .send()
        .await
        .unwrap()
        .count;
    assert_eq!(lines_of_v2, 0);
    assert_eq!(t.view("c@cust.example", 10).await["CUST-R"].keys().collect::<Vec<_>>(), ["R00"]);
}

/// Issue 22 part 2: two orders of one site switched at once, by different sellers. The
/// reseller's order read the site's counts before the direct sale switched; its switch is
/// conditional on that read, so it reads them again instead of marking its counter `sole`
/// (which would give a member of the site the reseller's count, not the site's).
#[tokio::test]
async fn a_switch_that_read_a_sites_counts_before_another_orders_switch_reads_them_again() {
    let t = TestStack::new().await;
    let by_reseller =
        order_json("O-R", 1, "active", ("CUST-S", &["rep@res.example"]), Some(("RES-S", &["rep@res.example"])), None, &["R1"]);
    let direct = order_json("O-D", 1, "active", ("CUST-S", &[]), None, None, &["D1", "D2"]);
    let barrier = std::sync::Arc::new(tokio::sync::Barrier::new(2));
    let slow =
        abev::ingest::Ingestor { options: abev_integration_tests::pause_after(Step::Staged(1), barrier.clone()), ..t.ingestor.clone() };
    let worker = tokio::spawn(async move { slow.handle_message("m", &by_reseller).await });
    abev_integration_tests::meet(&barrier, "staged, and the site's counts read (nothing there yet)").await;
    t.ingest(&[&direct]).await;
    abev_integration_tests::meet(&barrier, "let go").await;
    assert!(worker.await.unwrap().acknowledged());
    let key = abev::store::keys::sold_counter(&SupportId::parse("RES-S").unwrap(), &SupportId::parse("CUST-S").unwrap());
    let counter = t.stored_item(&key).await.unwrap();
    assert_ne!(counter.get("sole").and_then(|v| v.as_bool().ok()), Some(&true), "{counter:?}");
    // The reseller's contact, a member of the site (P1), sees the site's three lines.
    assert_eq!(t.view("rep@res.example", 10).await["CUST-S"].len(), 3);
}

/// Issue 22 part 3: what a new order costs, as budgets (calls and sequential rounds are
/// exact). Rounds: (1) the head; (2) the version's receipt and the serials' claims; (3) the
/// first staging transaction — grants, the site's unsettled item and the first 48 lines
/// together — beside the site records the switch decides on and what provisioning would find
/// held; one more per further chunk of 49 lines; the switch, which also forgets the unsettled
/// item of a first version staged alone and, when every membership the order gives holds
/// already, marks provisioning done; else provisioning's read and its memberships; the
/// finish's read of the versions and of the (gone) unsettled item.
#[tokio::test]
async fn a_new_order_costs_its_budget_of_calls_and_rounds() {
    use abev::store::metrics::measured;
    let t = TestStack::new().await;
    // (lines, staging chunks, whether the contact is a member already)
    for (lines, chunks, member) in [(1usize, 1u64, false), (1, 1, true), (48, 1, true), (100, 3, true)] {
        let serials: Vec<String> = (0..lines).map(|i| format!("N{lines}{member}-{i:03}")).collect();
        let serials: Vec<&str> = serials.iter().map(String::as_str).collect();
        let body = order_json(&format!("O-N{lines}{member}"), 1, "active", ("CUST-N", &["n@cust.example"]), None, None, &serials);
        let order = abev::domain::Order::parse(body.as_bytes()).unwrap();
        let (applied, cost) = measured(t.store.apply_order(&order, &ApplyOptions::default())).await;
        assert!(applied.is_ok(), "{applied:?}");
        let provisioning = if member { 0 } else { 2 };
        let rounds = 2 + chunks + 1 + provisioning + 2;
        // Calls are exact; rounds are at most the budget (the reads beside the staging may
        // still be in flight when a later chunk starts, which then shares their round).
        assert_eq!(cost.ddb_calls, rounds + 3, "{lines} lines, member {member}: {cost:?}");
        assert!((rounds - chunks + 1..=rounds).contains(&cost.sequential_rounds), "{lines} lines, member {member}: {cost:?}");
    }
}
