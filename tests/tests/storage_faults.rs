//! The storage layer under DynamoDB's real behaviour: faults injected into DynamoDB Local
//! (throttling, 500s, lost answers, conflicts), crash points at every step of ingestion, and
//! interleaved deliveries. Every case ends equal to the reference, and the dead-letter
//! queue holds only messages that are really bad.

use abev::ingest::MessageOutcome;
use abev::store::faults::{Fault, FaultPlan};
use abev::store::orders::{ApplyOptions, Step, LINES_PER_CHUNK};
use abev_integration_tests::{crash_after, order_json, pause_after, PlainView, TestStack};
use aws_sdk_dynamodb::types::AttributeValue;
use std::collections::BTreeMap;
use std::sync::Arc;

const MEMBER: &str = "m@acme.example";
const RESELLER: &str = "r@sky.example";
const SHIP_TO: &str = "s@data.example";

fn serials(prefix: &str, n: usize) -> Vec<String> {
    (0..n).map(|i| format!("{prefix}{i:03}")).collect()
}

/// One order of `serials` sold by SKY-1 to ACME-1 and shipped to DATA-1.
fn order(order_id: &str, version: u64, serials: &[String]) -> String {
    let refs: Vec<&str> = serials.iter().map(String::as_str).collect();
    order_json(order_id, version, "active", ("ACME-1", &[MEMBER]), Some(("SKY-1", &[RESELLER])), Some(("DATA-1", &[SHIP_TO])), &refs)
}

/// What each of the three contacts sees of ACME-1 when `serials` are current.
fn expected(serials: &[String]) -> BTreeMap<&'static str, PlainView> {
    let site = |rules: &[&str]| -> PlainView {
        let lines = serials.iter().map(|s| (s.clone(), rules.iter().map(|r| r.to_string()).collect())).collect();
        BTreeMap::from([("ACME-1".to_string(), lines)])
    };
    BTreeMap::from([(MEMBER, site(&["member"])), (RESELLER, site(&["reseller"])), (SHIP_TO, site(&["ship_to"]))])
}

async fn assert_views(t: &TestStack, want: &BTreeMap<&'static str, PlainView>, page_sizes: &[usize], when: &str) {
    for &size in page_sizes {
        for (email, view) in want {
            let got = t.view(email, size).await;
            // The reseller's and ship-to contact's views also hold their own sites when they
            // are members there; compare ACME-1 only.
            assert_eq!(got.get("ACME-1"), view.get("ACME-1"), "{email} at limit {size} {when}");
        }
    }
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

fn with_options(t: &TestStack, options: ApplyOptions) -> abev::ingest::Ingestor {
    abev::ingest::Ingestor { options, ..t.ingestor.clone() }
}

/// Issue defect 1: an older version's index entry sorts just before the current one; a
/// page that stopped on it used to resume after every version of that serial.
#[tokio::test]
async fn every_page_size_returns_every_current_line_while_older_entries_remain() {
    let t = TestStack::new().await;
    let lines = serials("S", 12);
    t.ingest(&[&order("O-P", 1, &lines)]).await;
    // v2 (same serials) switches, then the Lambda dies before its cleanup: v1's index
    // entries stay beside v2's.
    let v2 = order("O-P", 2, &lines).replace("\"quantity\":1", "\"quantity\":2");
    assert!(!with_options(&t, crash_after(Step::Switched)).handle_message("m", &v2).await.acknowledged());
    assert_eq!(count_items(&t, "ORDER#O-P", &abev::store::keys::line_prefix(1)).await, 12, "the old version's lines are still there");
    assert_views(&t, &expected(&lines), &[1, 2, 3, 5, 100], "with old entries left").await;
    // The redelivery cleans up; nothing changes for readers.
    t.ingest(&[&v2]).await;
    assert_eq!(count_items(&t, "ORDER#O-P", &abev::store::keys::line_prefix(1)).await, 0);
    assert_views(&t, &expected(&lines), &[1, 2, 3], "after cleanup").await;
}

/// Every crash point of ingestion, with reads at limit 1, 2 and 3 before and after the
/// redelivery: readers see v1 whole until the switch, v2 whole after it, never a mix.
#[tokio::test]
async fn a_crash_at_any_step_leaves_a_whole_version_and_the_redelivery_completes_it() {
    // Two staging chunks each.
    let v1_lines = serials("C", LINES_PER_CHUNK + 11);
    let v2_lines: Vec<String> = serials("C", LINES_PER_CHUNK + 21).into_iter().skip(5).collect();
    let steps =
        [Step::HeadRead, Step::VersionRecorded, Step::Staged(1), Step::Staged(2), Step::Switched, Step::Provisioned, Step::LinesCleaned];
    for step in steps {
        let t = TestStack::new().await;
        t.ingest(&[&order("O-C", 1, &v1_lines)]).await;
        let v2 = order("O-C", 2, &v2_lines);
        let outcome = with_options(&t, crash_after(step)).handle_message("m", &v2).await;
        assert!(!outcome.acknowledged(), "{step:?}: the crash leaves the message for redelivery");
        let visible = if matches!(step, Step::Switched | Step::Provisioned | Step::LinesCleaned) { &v2_lines } else { &v1_lines };
        assert_views(&t, &expected(visible), &[1, 2, 3], &format!("after a crash at {step:?}")).await;
        t.ingest(&[&v2]).await;
        assert_views(&t, &expected(&v2_lines), &[1, 2, 3], &format!("after the redelivery of {step:?}")).await;
        assert_eq!(count_items(&t, "ORDER#O-C", &abev::store::keys::line_prefix(1)).await, 0, "{step:?}: v1 cleaned");
        assert!(t.dead_letters().await.is_empty());
    }
}

/// Two versions delivered concurrently: v2 stalls after each step while v3 is applied
/// whole, then goes on. The end state is v3's, whatever the interleaving.
#[tokio::test]
async fn two_versions_delivered_concurrently_end_at_the_higher_at_every_interleaving() {
    let v2_lines = serials("V", LINES_PER_CHUNK + 6);
    let v3_lines = serials("V", LINES_PER_CHUNK + 3);
    let steps =
        [Step::HeadRead, Step::VersionRecorded, Step::Staged(1), Step::Staged(2), Step::Switched, Step::Provisioned, Step::LinesCleaned];
    for step in steps {
        let t = TestStack::new().await;
        t.ingest(&[&order("O-V", 1, &serials("V", 3))]).await;
        let barrier = Arc::new(tokio::sync::Barrier::new(2));
        let slow = with_options(&t, pause_after(step, barrier.clone()));
        let v2 = order("O-V", 2, &v2_lines);
        let v3 = order("O-V", 3, &v3_lines);
        let slow_delivery = tokio::spawn(async move { slow.handle_message("v2", &v2).await });
        abev_integration_tests::meet(&barrier, "v2 got to `step`").await;
        t.ingest(&[&v3]).await; // ... v3 is applied whole ...
        abev_integration_tests::meet(&barrier, "v2 goes on").await;
        let outcome = slow_delivery.await.unwrap();
        assert!(outcome.acknowledged(), "{step:?}: {outcome:?}");
        assert_views(&t, &expected(&v3_lines), &[1, 2, 3], &format!("v2 paused after {step:?}")).await;
        for v in [1, 2] {
            assert_eq!(count_items(&t, "ORDER#O-V", &abev::store::keys::line_prefix(v)).await, 0, "{step:?}: v{v} cleaned");
        }
        assert!(t.dead_letters().await.is_empty());
    }
}

/// Issue defect 2: two orders sharing serials that fall in different chunks each won one
/// chunk's claims and lost the other's, and both failed for ever.
#[tokio::test]
async fn two_orders_sharing_serials_across_chunks_leave_one_winner_and_no_stray_claims() {
    let t = TestStack::new().await;
    // In message order X is in A's first chunk and Y in its second; B has them the other way.
    let mut a: Vec<String> = vec!["X-1".into()];
    a.extend(serials("A", LINES_PER_CHUNK - 1));
    a.push("Y-1".into());
    let mut b: Vec<String> = vec!["Y-1".into()];
    b.extend(serials("B", LINES_PER_CHUNK - 1));
    b.push("X-1".into());
    let barrier = Arc::new(tokio::sync::Barrier::new(2));
    let (ia, ib) =
        (with_options(&t, pause_after(Step::Staged(1), barrier.clone())), with_options(&t, pause_after(Step::Staged(1), barrier.clone())));
    let (body_a, body_b) = (order("O-A", 1, &a), order("O-B", 1, &b));
    let (ra, rb) = tokio::join!(ia.handle_message("a", &body_a), ib.handle_message("b", &body_b));
    let applied = [&ra, &rb].iter().filter(|o| ***o == MessageOutcome::Applied).count();
    assert_eq!(applied, 1, "exactly one order wins: {ra:?} / {rb:?}");
    let (winner, loser_serials) = if ra == MessageOutcome::Applied { ("O-A", &b) } else { ("O-B", &a) };
    let dead = t.dead_letters().await;
    assert_eq!(dead.len(), 1);
    assert!(dead[0].1.contains(&format!("already belongs to order {winner}")), "the real owner is named: {}", dead[0].1);
    // The loser took no claim that outlives it: another order may use its own serials.
    let own: Vec<String> = loser_serials.iter().filter(|s| !s.ends_with("-1")).cloned().collect();
    t.ingest(&[&order("O-C", 1, &own)]).await;
    assert!(t.dead_letters().await.is_empty(), "the loser's serials were released");
}

/// Issue defect 3: a transaction conflict, a throttle or a 500 once the SDK has given up
/// is retried inside the invocation instead of costing a redelivery.
#[tokio::test]
async fn conflicts_throttling_and_errors_are_retried_within_the_invocation() {
    let t = TestStack::with_faults(FaultPlan::default()).await;
    for _ in 0..3 {
        t.faults.script("TransactWriteItems", Fault::Conflict);
    }
    t.faults.script("GetItem", Fault::Throttle);
    t.faults.script("BatchGetItem", Fault::Error);
    t.faults.script("Query", Fault::Throttle);
    t.faults.script("UpdateItem", Fault::Lost);
    let body = order("O-F", 1, &serials("F", 5));
    assert_eq!(t.ingestor.handle_message("m", &body).await, MessageOutcome::Applied);
    assert_eq!(t.faults.injected(), 7);
    assert_views(&t, &expected(&serials("F", 5)), &[2], "after retried faults").await;
}

/// A store that refuses the request itself (here: no such table) is not a passing fault:
/// the message goes to the dead-letter queue with the reason instead of being retried.
#[tokio::test]
async fn a_store_that_refuses_the_request_dead_letters_the_message_with_the_reason() {
    let t = TestStack::new().await;
    let store = abev::store::Store::new(t.ddb.clone(), "no-such-table");
    let broken = abev::ingest::Ingestor { store, ..t.ingestor.clone() };
    let outcome = broken.handle_message("m", &order("O-X", 1, &serials("X", 1))).await;
    assert!(matches!(&outcome, MessageOutcome::DeadLettered(reason) if reason.contains("ResourceNotFoundException")), "{outcome:?}");
    assert_eq!(t.dead_letters().await.len(), 1);
}

async fn remove_attribute(t: &TestStack, key: &abev::store::keys::Key, attribute: &str) {
    t.ddb
        .update_item()
        .table_name(&t.stack.table)
        .set_key(Some(key.to_item()))
        .update_expression(format!("REMOVE {attribute}"))
        .send()
        .await
        .unwrap();
}

/// Issue defect 4: every switch wrote the reseller's site record (to set its name), so
/// every order of a reseller passed through one item.
#[tokio::test]
async fn orders_of_a_reseller_whose_name_is_unchanged_do_not_write_its_site_record() {
    let t = TestStack::new().await;
    t.ingest(&[&order("O-H1", 1, &serials("H", 2))]).await;
    let reseller = abev::store::keys::site_meta(&abev::domain::SupportId::parse("SKY-1").unwrap());
    // A marker: any write of the record by a switch sets `support_id` again.
    remove_attribute(&t, &reseller, "support_id").await;
    let other_customer = order_json("O-H2", 1, "active", ("BETA-1", &["b@beta.example"]), Some(("SKY-1", &[RESELLER])), None, &["H9"]);
    t.ingest(&[&other_customer]).await;
    assert!(!t.stored_item(&reseller).await.unwrap().contains_key("support_id"), "the reseller's record was written");
    // A renamed reseller is written, once.
    let renamed = order_json("O-H3", 1, "active", ("BETA-1", &["b@beta.example"]), Some(("SKY-1", &[RESELLER])), None, &["H8"])
        .replace("\"SKY-1 Ltd\"", "\"Skynet Group\"");
    t.ingest(&[&renamed]).await;
    let record = t.stored_item(&reseller).await.unwrap();
    assert_eq!(record["name"].as_s().unwrap(), "Skynet Group");
}

/// Issue defect 6: the digest was the serialization of the parsed struct, so after a deploy
/// that added a field a redelivery of a stored version became a "conflicting duplicate".
#[tokio::test]
async fn a_redelivery_after_the_digest_format_changed_is_a_duplicate_not_a_conflict() {
    let t = TestStack::new().await;
    let body = order("O-D", 1, &serials("D", 2));
    t.ingest(&[&body]).await;
    // What an earlier release stored: an unversioned digest of its own struct layout.
    let o = abev::domain::OrderId::parse("O-D").unwrap();
    for key in [abev::store::keys::order_head(&o), abev::store::keys::order_version(&o, 1)] {
        t.ddb
            .update_item()
            .table_name(&t.stack.table)
            .set_key(Some(key.to_item()))
            .update_expression("SET digest = :d")
            .expression_attribute_values(":d", AttributeValue::S("9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08".into()))
            .send()
            .await
            .unwrap();
    }
    assert_eq!(t.ingestor.handle_message("again", &body).await, MessageOutcome::Duplicate);
    assert!(t.dead_letters().await.is_empty());
    // Other content under the same version is still a conflict once the digest is current.
    let v1b = order("O-D2", 1, &serials("E", 1));
    t.ingest(&[&v1b]).await;
    let changed = v1b.replace("\"quantity\":1", "\"quantity\":3");
    assert!(matches!(t.ingestor.handle_message("m", &changed).await, MessageOutcome::DeadLettered(_)));
}

/// Issue defect 7, revocation: a member removed with a 204 sees none of the site's lines
/// or licence keys on the very next request (memberships are read consistently).
#[tokio::test]
async fn a_member_removed_with_a_204_sees_none_of_the_sites_licence_keys_afterwards() {
    let t = TestStack::new().await;
    t.ingest(&[&order("O-K", 1, &serials("K", 3))]).await;
    let app = abev_integration_tests::TestApp::spawn(&t).await;
    let member = app.client(MEMBER);
    assert_eq!(member.entitlement("K000").await.unwrap().license_keys, vec!["LK-K000".to_string()]);
    app.care_client("carla@care.example").remove_member("ACME-1", MEMBER).await.unwrap();
    let after = member.entitlement("K000").await;
    assert_eq!(after.as_ref().err().and_then(|e| e.status()), Some(404), "{after:?}");
    assert!(member.all_view_sites(100).await.unwrap().is_empty());
}

/// Listings trust an order's entries without reading its head unless the site's
/// `UNSETTLED#{o}` item says otherwise: a staged version stays hidden for as long as it is
/// staged, and the item goes exactly when the cleanup has removed every other version and the
/// index lists none of its entries — no clock takes part (hole 5 of issue 17).
#[tokio::test]
async fn unsettled_orders_hide_what_is_not_current_and_are_forgotten_once_the_index_forgot() {
    let t = TestStack::new().await;
    let v1 = serials("U", 5);
    let v2: Vec<String> = serials("U", 7).into_iter().skip(1).collect();
    t.ingest(&[&order("O-U", 1, &v1)]).await;
    assert_eq!(count_items(&t, "SITE#ACME-1", abev::store::keys::UNSETTLED_PREFIX).await, 0, "a first version leaves nothing to forget");
    // v2 staged, not switched: v1 only, however long it stays so.
    assert!(!with_options(&t, crash_after(Step::Staged(1))).handle_message("m", &order("O-U", 2, &v2)).await.acknowledged());
    assert_eq!(count_items(&t, "SITE#ACME-1", abev::store::keys::UNSETTLED_PREFIX).await, 1);
    assert_views(&t, &expected(&v1), &[1, 2, 50], "v2 staged").await;
    // v2 switched and cleaned: version 1 is gone from the table and from the indexes, so the
    // item goes and the listings' entries (all current now) are trusted as they are.
    t.ingest(&[&order("O-U", 2, &v2)]).await;
    assert_eq!(count_items(&t, "SITE#ACME-1", abev::store::keys::UNSETTLED_PREFIX).await, 0, "forgotten once checked");
    assert_views(&t, &expected(&v2), &[1, 2, 50], "v2 current").await;
    let record = t.stored_item(&abev::store::keys::order_version(&abev::domain::OrderId::parse("O-U").unwrap(), 1)).await.unwrap();
    assert_eq!(record.get("gone").and_then(|g| g.as_bool().ok()), Some(&true), "version 1 is recorded gone");
}
