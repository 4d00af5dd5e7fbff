//! Random small worlds stored through the real ingestion code into DynamoDB Local, and
//! every contact's view read back, compared with a brute-force evaluation of spec §2
//! written here independently of the production rules.

use abev_integration_tests::world::{message, oracle, world};
use abev_integration_tests::TestStack;
use proptest::prelude::*;

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
