//! The storage protocol's holes of issue 17, each shown on DynamoDB Local with crash points,
//! interleaved deliveries and scripted faults (the deterministic simulation in
//! `simulation.rs` explores what DynamoDB Local cannot do: lagging indexes, stale reads,
//! partial batch results).

use abev::ingest::MessageOutcome;
use abev::store::faults::{Fault, FaultPlan};
use abev::store::orders::{ApplyOptions, Step};
use abev::store::RetryPolicy;
use abev_integration_tests::{crash_after, order_json, pause_after, TestStack};
use aws_sdk_dynamodb::types::AttributeValue;
use std::sync::Arc;

const MEMBER: &str = "m@acme.example";
const FARMER: &str = "f@farm.example";
const RESELLER: &str = "r@sky.example";
const SHIP_TO: &str = "s@data.example";

fn serials(prefix: &str, n: usize) -> Vec<String> {
    (0..n).map(|i| format!("{prefix}{i:03}")).collect()
}

fn refs(serials: &[String]) -> Vec<&str> {
    serials.iter().map(String::as_str).collect()
}

/// Sold by SKY-1 to ACME-1 and shipped to DATA-1.
fn order(order_id: &str, version: u64, serials: &[String]) -> String {
    order_json(
        order_id,
        version,
        "active",
        ("ACME-1", &[MEMBER]),
        Some(("SKY-1", &[RESELLER])),
        Some(("DATA-1", &[SHIP_TO])),
        &refs(serials),
    )
}

fn with_options(t: &TestStack, options: ApplyOptions) -> abev::ingest::Ingestor {
    abev::ingest::Ingestor { options, ..t.ingestor.clone() }
}

async fn count_items(t: &TestStack, pk: &str, prefix: &str) -> i32 {
    t.ddb
        .query()
        .table_name(&t.stack.table)
        .key_condition_expression("pk = :pk AND begins_with(sk, :p)")
        .expression_attribute_values(":pk", AttributeValue::S(pk.into()))
        .expression_attribute_values(":p", AttributeValue::S(prefix.into()))
        .consistent_read(true)
        .send()
        .await
        .unwrap()
        .count
}

/// Hole 1: version 2 moves the order to FARM-1; while version 1's cleanup cannot run, the
/// old site's listings still hold version 1's entries. ACME-1's member must not see
/// version 2's lines (FARM-1's) under ACME-1.
#[tokio::test]
async fn a_moved_order_shows_nothing_under_its_old_site_while_the_old_cleanup_cannot_finish() {
    let t = TestStack::new().await;
    let lines = serials("M", 3);
    t.ingest(&[&order_json("O-M", 1, "active", ("ACME-1", &[MEMBER]), None, None, &refs(&lines))]).await;
    let v2 = order_json("O-M", 2, "active", ("FARM-1", &[FARMER]), None, None, &refs(&lines));
    assert!(!with_options(&t, crash_after(Step::Switched)).handle_message("m", &v2).await.acknowledged());
    for size in [1, 2, 10] {
        let seen = t.site_view(MEMBER, "ACME-1", size).await.unwrap_or_default();
        assert!(seen.is_empty(), "ACME-1's member sees FARM-1's lines under ACME-1 at limit {size}: {seen:?}");
    }
    t.ingest(&[&v2]).await;
    assert!(t.site_view(MEMBER, "ACME-1", 2).await.unwrap_or_default().is_empty());
    assert_eq!(t.site_view(FARMER, "FARM-1", 2).await.unwrap_or_default().len(), 3, "FARM-1's contact sees the moved order");
}

/// Hole 2: a second copy of the message records the version after the first copy's switch;
/// the record must keep the switch's progress, or the order's contacts are never provisioned.
#[tokio::test]
async fn a_duplicate_delivery_recording_the_version_late_keeps_the_switchs_progress() {
    let t = TestStack::new().await;
    let body = order("O-D", 1, &serials("D", 3));
    let barrier = Arc::new(tokio::sync::Barrier::new(2));
    let late = with_options(&t, pause_after(Step::HeadRead, barrier.clone()));
    let late_body = body.clone();
    let late_copy = tokio::spawn(async move { late.handle_message("copy-b", &late_body).await });
    abev_integration_tests::meet(&barrier, "copy B has read the (absent) head").await;
    // Copy A switches and dies before provisioning.
    assert!(!with_options(&t, crash_after(Step::Switched)).handle_message("copy-a", &body).await.acknowledged());
    abev_integration_tests::meet(&barrier, "copy B goes on: records the version, finds the head moved").await;
    assert!(late_copy.await.unwrap().acknowledged());
    t.ingest(&[&body]).await; // copy A's redelivery
    let member = t.view(MEMBER, 10).await;
    assert_eq!(member.get("ACME-1").map(|s| s.len()), Some(3), "the end customer's contact was provisioned: {member:?}");
}

/// Hole 3: a cleanup that stops half-way (here: one BatchWriteItem of its deletes fails for
/// good and the function gives up) must leave nothing the next cleanup cannot find.
#[tokio::test]
async fn a_cleanup_interrupted_at_any_batch_leaves_no_ship_to_copy_behind() {
    // 13 lines with one ship-to contact: 26 deletes, so a line and its copy straddle the
    // first 25-item batch.
    for failing_batch in [1, 2, 1, 2, 1, 2] {
        let t = TestStack::with_faults(FaultPlan::default()).await;
        let v1 = serials("C", 13);
        let v2 = serials("N", 2);
        t.ingest(&[&order("O-C", 1, &v1)]).await;
        assert!(!with_options(&t, crash_after(Step::Switched)).handle_message("m", &order("O-C", 2, &v2)).await.acknowledged());
        let no_retries = RetryPolicy { max_attempts: 1, ..RetryPolicy::default() };
        let fragile = abev::ingest::Ingestor { store: t.store.clone().with_retry(no_retries), ..t.ingestor.clone() };
        t.faults.script_nth("BatchWriteItem", failing_batch, Fault::Error);
        assert!(!fragile.handle_message("m", &order("O-C", 2, &v2)).await.acknowledged(), "batch {failing_batch} failed");
        t.ingest(&[&order("O-C", 2, &v2)]).await;
        let copies = count_items(&t, "SHIPPED#s@data.example#ACME-1", "C").await;
        assert_eq!(copies, 0, "batch {failing_batch}: version 1's ship-to copies are all gone");
        let seen = t.site_view(SHIP_TO, "ACME-1", 5).await.unwrap_or_default();
        assert_eq!(seen.keys().cloned().collect::<Vec<_>>(), v2, "batch {failing_batch}");
    }
}

/// Hole 6: the last receive of a message that keeps failing dead-letters it and gives back
/// the claims its version took, so the serials can be sold again.
#[tokio::test]
async fn the_last_receive_gives_back_the_claims_of_a_version_that_was_never_stored() {
    let t = TestStack::new().await;
    let lines = serials("G", 3);
    let crashing = with_options(&t, crash_after(Step::Staged(1)));
    let last = abev::ingest::DEFAULT_MAX_RECEIVE_COUNT;
    let outcome = crashing.handle_delivery("m", &order("O-G", 1, &lines), last).await;
    assert!(matches!(outcome, MessageOutcome::DeadLettered(_)), "{outcome:?}");
    let other = order_json("O-H", 1, "active", ("FARM-1", &[FARMER]), None, None, &refs(&lines));
    assert_eq!(t.ingestor.handle_message("n", &other).await, MessageOutcome::Applied, "the serials are free again");
    assert_eq!(count_items(&t, "ORDER#O-G", "LINE#").await, 0, "nothing of the refused version is left");
}

/// Hole 6: a claim held by an order that is not stored (it may still give it back, or be
/// refused itself) is not final: the other order is retried, not dead-lettered for ever.
#[tokio::test]
async fn a_claim_held_by_an_order_that_was_never_stored_is_not_a_final_refusal() {
    let t = TestStack::new().await;
    let lines = serials("H", 2);
    let holder = order_json("O-A", 1, "active", ("FARM-1", &[FARMER]), None, None, &refs(&lines));
    assert!(!with_options(&t, crash_after(Step::Staged(1))).handle_message("a", &holder).await.acknowledged());
    let other = order("O-B", 1, &lines);
    let outcome = t.ingestor.handle_message("b", &other).await;
    assert!(matches!(outcome, MessageOutcome::Retry(_)), "not refused while the holder is not stored: {outcome:?}");
    assert!(t.dead_letters().await.is_empty());
    // The holder is stored: now the other order is really refused, naming the owner.
    t.ingest(&[&holder]).await;
    let outcome = t.ingestor.handle_message("b", &other).await;
    assert!(matches!(&outcome, MessageOutcome::DeadLettered(r) if r.contains("O-A")), "{outcome:?}");
}

/// The fault interceptor itself: a throttled (or failed, or conflicting) request is not
/// applied; a lost one is applied and only its answer is lost.
#[tokio::test]
async fn the_fault_interceptor_applies_a_lost_write_and_not_a_throttled_one() {
    let t = TestStack::with_faults(FaultPlan::default()).await;
    let put = |sk: &'static str| {
        t.ddb
            .put_item()
            .table_name(&t.stack.table)
            .item("pk", AttributeValue::S("PROBE".into()))
            .item("sk", AttributeValue::S(sk.into()))
            .send()
    };
    for (fault, sk, applied) in [(Fault::Throttle, "throttled", false), (Fault::Error, "failed", false), (Fault::Lost, "lost", true)] {
        t.faults.script("PutItem", fault);
        assert!(put(sk).await.is_err(), "{fault:?} answers an error");
        assert_eq!(count_items(&t, "PROBE", sk).await == 1, applied, "{fault:?}: applied = {applied}");
    }
    let transact = |sk: &'static str| {
        let put = aws_sdk_dynamodb::types::Put::builder()
            .table_name(&t.stack.table)
            .item("pk", AttributeValue::S("PROBE".into()))
            .item("sk", AttributeValue::S(sk.into()))
            .build()
            .unwrap();
        t.ddb.transact_write_items().transact_items(aws_sdk_dynamodb::types::TransactWriteItem::builder().put(put).build()).send()
    };
    for (fault, sk, applied) in [(Fault::Conflict, "tx-conflict", false), (Fault::Lost, "tx-lost", true)] {
        t.faults.script("TransactWriteItems", fault);
        assert!(transact(sk).await.is_err(), "{fault:?} answers an error");
        assert_eq!(count_items(&t, "PROBE", sk).await == 1, applied, "{fault:?}: applied = {applied}");
    }
}

/// A function that hangs at a step (a slow dependency): the Lambda's deadline comes first.
#[derive(Debug)]
struct Stall(Step);

impl abev::store::orders::Checkpoints for Stall {
    fn reached(
        &self,
        step: Step,
    ) -> std::pin::Pin<Box<dyn std::future::Future<Output = Result<(), abev::store::orders::ApplyError>> + Send + '_>> {
        Box::pin(async move {
            if step == self.0 {
                tokio::time::sleep(std::time::Duration::from_secs(60)).await;
            }
            Ok(())
        })
    }
}

/// Hole 7: a delivery that runs out of the Lambda's time is stopped before the deadline; on
/// its last receive it is dead-lettered with a reason and its version given up (its claims
/// back), instead of the whole batch being killed and redriven by SQS without a reason.
#[tokio::test]
async fn a_delivery_out_of_time_on_its_last_receive_is_dead_lettered_with_a_reason() {
    let t = TestStack::new().await;
    let lines = serials("T", 3);
    let slow = with_options(&t, ApplyOptions::with_checkpoints(Arc::new(Stall(Step::Staged(1)))));
    let deadline = tokio::time::Instant::now() + abev::ingest::FINAL_EXIT_MARGIN + std::time::Duration::from_millis(800);
    let before_last = slow.handle_delivery_by("m", &order("O-T", 1, &lines), 1, Some(deadline)).await;
    assert!(matches!(&before_last, MessageOutcome::Retry(r) if r.contains("ran out of time")), "{before_last:?}");
    let deadline = tokio::time::Instant::now() + abev::ingest::FINAL_EXIT_MARGIN + std::time::Duration::from_millis(800);
    let last = abev::ingest::DEFAULT_MAX_RECEIVE_COUNT;
    let outcome = slow.handle_delivery_by("m", &order("O-T", 1, &lines), last, Some(deadline)).await;
    assert!(matches!(&outcome, MessageOutcome::DeadLettered(r) if r.contains("ran out of time")), "{outcome:?}");
    let dead = t.dead_letters().await;
    assert_eq!(dead.len(), 1);
    assert!(dead[0].1.contains("ran out of time"), "the DLQ says why: {}", dead[0].1);
    let other = order_json("O-V", 1, "active", ("FARM-1", &[FARMER]), None, None, &refs(&lines));
    assert_eq!(t.ingestor.handle_message("n", &other).await, MessageOutcome::Applied, "the given-up version's serials are free");
}

/// Hole 7: a first resale gives every member of the reseller site a marker, from the site's
/// roster a page at a time; a fan-out that fails part-way notes how far it got and the
/// redelivery goes on from there.
#[tokio::test]
async fn a_first_resales_fan_out_resumes_where_it_stopped() {
    let t = TestStack::with_faults(FaultPlan::default()).await;
    let members: Vec<String> = (0..120).map(|i| format!("m{i:03}@sky.example")).collect();
    for (n, chunk) in members.chunks(40).enumerate() {
        let contacts: Vec<&str> = chunk.iter().map(String::as_str).collect();
        t.ingest(&[&order_json(&format!("O-OWN-{n}"), 1, "active", ("SKY-1", &contacts), None, None, &[&format!("OWN-{n}")])]).await;
    }
    // SKY-1 resells for the first time; the second page's markers fail for good.
    let sale = order_json("O-SALE", 1, "active", ("ACME-1", &[MEMBER]), Some(("SKY-1", &[RESELLER])), None, &["SALE-1"]);
    let no_retries = RetryPolicy { max_attempts: 1, ..RetryPolicy::default() };
    let fragile = abev::ingest::Ingestor { store: t.store.clone().with_retry(no_retries), ..t.ingestor.clone() };
    // Transactions: staging (1: one line), the switch (1), then the fan-out's markers, one per
    // page of 50 members: the second page's fails.
    t.faults.script_nth("TransactWriteItems", 4, Fault::Error);
    assert!(!fragile.handle_message("s", &sale).await.acknowledged());
    let record = t.stored_item(&abev::store::keys::order_version(&abev::domain::OrderId::parse("O-SALE").unwrap(), 1)).await.unwrap();
    let after = record.get("fan_out_after").and_then(|a| a.as_s().ok()).cloned();
    assert_eq!(after.as_deref(), Some(members[49].as_str()), "the first page is noted as done");
    t.ingest(&[&sale]).await;
    for member in [&members[0], &members[77], &members[119]] {
        let view = t.view(member, 10).await;
        assert!(view.contains_key("ACME-1"), "{member} sees SKY-1's customer (R3): {view:?}");
    }
}
