//! Issue 22: the cost of a page as budgets — DynamoDB calls and sequential rounds are exact
//! (machine-independent), so they are asserted here, at page sizes 10, 100 and 500, on the
//! first page and past it, with filters, in rollout waves, and for a contact of several
//! reseller organisations. The formulas are the ones docs/ARCHITECTURE.md states ("The flow
//! of a read"); a change that adds a call or a round to a page fails here first.

use abev::domain::access::Rollout;
use abev::domain::entitlement::{EntitlementFilter, EntitlementStatus};
use abev::domain::{Day, Email, SupportId};
use abev::store::metrics::{measured, Cost};
use abev::store::Store;
use abev_integration_tests::{order_json, TestApp, TestStack};

const MEMBER: &str = "m@cust1.example";
/// A contact of three reseller organisations (R-A, R-B, R-C).
const MULTI: &str = "multi@r.example";
/// A ship-to contact on 120 one-line orders at one site.
const SHIP: &str = "ship@x.example";
const SHIP_ORDERS: usize = 120;
/// A contact of reseller organisation R-D who is also a member (P1) of two of its customers'
/// sites: CUST-6, every line of which R-D sold, and CUST-7, which also holds a direct sale.
const REP: &str = "rep@r-d.example";

/// CUST-1: one order of 600 lines sold by R-A and one of 5 sold by R-B; CUST-2 (R-B) and
/// CUST-3 (R-C) one line each; CUST-4: 120 one-line orders shipped to SHIP, sold by nobody;
/// CUST-6 two lines sold by R-D, CUST-7 one sold by R-D and one direct.
async fn world() -> TestStack {
    let t = TestStack::new().await;
    let big: Vec<String> = (0..600).map(|i| format!("BIG-{i:04}")).collect();
    let big: Vec<&str> = big.iter().map(String::as_str).collect();
    let mut orders = vec![
        order_json("O-BIG", 1, "active", ("CUST-1", &[MEMBER]), Some(("R-A", &[MULTI])), None, &big),
        order_json("O-B1", 1, "active", ("CUST-1", &[]), Some(("R-B", &[MULTI])), None, &["B1-1", "B1-2", "B1-3", "B1-4", "B1-5"]),
        order_json("O-B2", 1, "active", ("CUST-2", &[]), Some(("R-B", &[MULTI])), None, &["B2-1"]),
        order_json("O-C3", 1, "active", ("CUST-3", &[]), Some(("R-C", &[MULTI])), None, &["C3-1"]),
        order_json("O-D6", 1, "active", ("CUST-6", &[REP]), Some(("R-D", &[REP])), None, &["D6-1", "D6-2"]),
        order_json("O-D7", 1, "active", ("CUST-7", &[REP]), Some(("R-D", &[])), None, &["D7-1"]),
        order_json("O-X7", 1, "active", ("CUST-7", &[]), None, None, &["X7-1"]),
    ];
    for i in 0..SHIP_ORDERS {
        let serial = format!("SH-{i:04}");
        orders.push(order_json(&format!("O-SH{i:03}"), 1, "active", ("CUST-4", &[]), None, Some(("DEPOT", &[SHIP])), &[&serial]));
    }
    t.ingest(&orders.iter().map(String::as_str).collect::<Vec<_>>()).await;
    t
}

fn email(e: &str) -> Email {
    Email::parse(e).unwrap()
}

fn site(s: &str) -> SupportId {
    SupportId::parse(s).unwrap()
}

/// The first page and the second (from the first's `next`) of `site`'s entitlements:
/// (items, cost) of each.
async fn entitlement_pages(
    store: &Store,
    who: &str,
    at: &str,
    limit: usize,
    filter: &EntitlementFilter,
    rollout: Rollout,
) -> [(usize, Cost); 2] {
    let (who, at, today) = (email(who), site(at), Day::today());
    let (first, first_cost) = measured(store.site_entitlements(&who, rollout, &at, None, limit, filter, today)).await;
    let (_, first) = first.unwrap().expect("the caller sees the site");
    let next = first.next.clone().expect("a second page");
    let (second, second_cost) = measured(store.site_entitlements(&who, rollout, &at, Some(&next), limit, filter, today)).await;
    let (_, second) = second.unwrap().expect("the caller sees the site");
    [(first.items.len(), first_cost), (second.items.len(), second_cost)]
}

fn calls_rounds(c: Cost) -> (u64, u64) {
    (c.ddb_calls, c.sequential_rounds)
}

/// Entitlements page: round 1 = one BatchGet (membership, ship-to reach, site record) + the
/// caller's reseller organisations + the site's unsettled orders (3 calls); round 2 = one
/// listing per source (the site's index for a member, else one per reseller organisation of
/// the caller, plus the caller's ship-to copies); round 3 = the unsettled orders again + one
/// BatchGet of the page's settled orders' heads per 100 orders.
fn entitlements_budget(listings: u64, orders_on_page: u64) -> (u64, u64) {
    (3 + listings + 1 + orders_on_page.div_ceil(100), 3)
}

#[tokio::test]
async fn an_entitlements_page_costs_its_budget_at_every_size_past_page_one_and_with_filters() {
    let t = world().await;
    let filters = [
        ("no filter", EntitlementFilter::default()),
        ("status", EntitlementFilter { status: Some(EntitlementStatus::Active), ..Default::default() }),
        ("text", EntitlementFilter { text: Some("product".into()), ..Default::default() }),
        ("ends before", EntitlementFilter { ends_before: Day::parse("2100-01-01"), ..Default::default() }),
    ];
    for limit in [10usize, 100, 500] {
        for (label, filter) in &filters {
            // A member of CUST-1: one listing (the site's index); a page of CUST-1 holds lines
            // of O-BIG (and of O-B1 on the first page: its serials sort first).
            for (page, (items, cost)) in
                entitlement_pages(&t.store, MEMBER, "CUST-1", limit, filter, Rollout::Everyone).await.iter().enumerate()
            {
                assert_eq!(*items, limit.min(605 - page * limit), "member, limit {limit}, page {}, {label}", page + 1);
                let orders = if page == 0 { 2 } else { 1 };
                assert_eq!(calls_rounds(*cost), entitlements_budget(1, orders), "member, limit {limit}, page {}, {label}", page + 1);
            }
            // A contact of three reseller organisations, not a member: one listing per organisation.
            for (page, (items, cost)) in
                entitlement_pages(&t.store, MULTI, "CUST-1", limit, filter, Rollout::Everyone).await.iter().enumerate()
            {
                assert!(*items > 0, "reseller contact, limit {limit}, page {}, {label}", page + 1);
                let orders = if page == 0 { 2 } else { 1 };
                assert_eq!(
                    calls_rounds(*cost),
                    entitlements_budget(3, orders),
                    "reseller contact, limit {limit}, page {}, {label}",
                    page + 1
                );
            }
        }
    }
    // The ship-to contact: one listing (its copies); every line its own order, so the heads
    // take one BatchGet per 100 orders on the page.
    for limit in [10usize, 100] {
        for (page, (items, cost)) in
            entitlement_pages(&t.store, SHIP, "CUST-4", limit, &EntitlementFilter::default(), Rollout::Everyone).await.iter().enumerate()
        {
            assert_eq!(*items, limit.min(SHIP_ORDERS - page * limit), "ship-to, limit {limit}, page {}", page + 1);
            assert_eq!(calls_rounds(*cost), entitlements_budget(1, *items as u64), "ship-to, limit {limit}, page {}", page + 1);
        }
    }
    let (page, cost) =
        measured(t.store.site_entitlements(&email(SHIP), Rollout::Everyone, &site("CUST-4"), None, 500, &Default::default(), Day::today()))
            .await;
    let (_, page) = page.unwrap().unwrap();
    assert_eq!((page.items.len(), page.next), (SHIP_ORDERS, None), "all of it on one page");
    assert_eq!(calls_rounds(cost), entitlements_budget(1, SHIP_ORDERS as u64), "ship-to, limit 500");
}

/// Sites page: round 1 = the caller's memberships, ship-to reaches and reseller organisations
/// (3 calls); round 2, when there is any, = one query per reseller organisation + one
/// BatchGet per 100 of the site records it reads (every member site's for a contact of no
/// reseller organisation, else only those of the organisations' own sites); a third round
/// reads the records round 2 did not and the page needs, one BatchGet per 100 (the member
/// sites no `sole` counter covers; in rollout waves, every candidate's).
fn sites_budget(resellers: u64, records_round2: u64, records_round3: u64) -> (u64, u64) {
    let round2 = resellers + records_round2.div_ceil(100);
    let round3 = records_round3.div_ceil(100);
    (3 + round2 + round3, 1 + u64::from(round2 > 0) + u64::from(round3 > 0))
}

#[tokio::test]
async fn a_sites_page_costs_its_budget_for_several_reseller_organisations_and_in_rollout_waves() {
    let t = world().await;
    let view = |who: &'static str, limit: usize, rollout: Rollout| {
        let store = t.store.clone();
        async move { measured(store.view_sites(&email(who), rollout, None, limit)).await }
    };
    for limit in [10usize, 100, 500] {
        // MULTI: member of R-A, R-B, R-C (P2, the resellers' own sites); sold CUST-1..3.
        let (page, cost) = view(MULTI, limit, Rollout::Everyone).await;
        let sites: Vec<String> = page.unwrap().items.iter().map(|s| s.support_id.to_string()).collect();
        assert_eq!(sites, ["CUST-1", "CUST-2", "CUST-3"], "limit {limit}");
        assert_eq!(calls_rounds(cost), sites_budget(3, 3, 0), "three reseller organisations, limit {limit}");
        // The member of one site: no reseller organisation.
        let (_, cost) = view(MEMBER, limit, Rollout::Everyone).await;
        assert_eq!(calls_rounds(cost), sites_budget(0, 1, 0), "member, limit {limit}");
        // The ship-to contact: one round.
        let (page, cost) = view(SHIP, limit, Rollout::Everyone).await;
        assert_eq!(page.unwrap().items.len(), 1);
        assert_eq!(calls_rounds(cost), sites_budget(0, 0, 0), "ship-to, limit {limit}");
    }
    // Rollout waves: only CUST-1 is enabled.
    let app = TestApp::spawn_with(&t, abev::http::Settings { rollout: Rollout::Waves, ..Default::default() }).await;
    assert!(app.care_client("carla@care.example").set_rollout("CUST-1", true).await.unwrap().changed);
    for limit in [10usize, 100, 500] {
        let (page, cost) = view(MULTI, limit, Rollout::Waves).await;
        let sites: Vec<String> = page.unwrap().items.iter().map(|s| s.support_id.to_string()).collect();
        assert_eq!(sites, ["CUST-1"], "limit {limit}");
        // Round 2 read R-A, R-B, R-C's records; the three customer sites' are read in round 3.
        assert_eq!(calls_rounds(cost), sites_budget(3, 3, 3), "waves, limit {limit}");
        let (_, cost) = view(SHIP, limit, Rollout::Waves).await;
        assert_eq!(calls_rounds(cost), sites_budget(0, 0, 1), "ship-to in waves, limit {limit}");
        let pages = entitlement_pages(&t.store, MEMBER, "CUST-1", limit, &EntitlementFilter::default(), Rollout::Waves).await;
        for (page, (_, cost)) in pages.iter().enumerate() {
            let orders = if page == 0 { 2 } else { 1 };
            assert_eq!(calls_rounds(*cost), entitlements_budget(1, orders), "member in waves, limit {limit}, page {}", page + 1);
        }
    }
}

/// Issue 22 part 2: a reseller's contact who is a member of its customers' sites reads no site
/// record for a site whose every current line the organisation sold — the `SOLD#{r}` counter
/// the page queries anyway is marked `sole` and carries the site's exact count — and reads the
/// records of the others in a third round. The marks follow the sales, in both directions.
#[tokio::test]
async fn a_resellers_contact_reads_no_record_of_a_member_site_its_organisation_sold_whole() {
    let t = world().await;
    let page = |limit: usize| {
        let store = t.store.clone();
        async move {
            let (page, cost) = measured(store.view_sites(&email(REP), Rollout::Everyone, None, limit)).await;
            let counts: Vec<(String, u64)> = page.unwrap().items.iter().map(|s| (s.support_id.to_string(), s.entitlement_count)).collect();
            (counts, calls_rounds(cost))
        }
    };
    let counted = |pairs: &[(&str, u64)]| pairs.iter().map(|(s, n)| (s.to_string(), *n)).collect::<Vec<_>>();
    for limit in [10usize, 100, 500] {
        // Round 2: R-D's counters and R-D's own record; round 3: CUST-7's record.
        assert_eq!(page(limit).await, (counted(&[("CUST-6", 2), ("CUST-7", 2)]), sites_budget(1, 1, 1)), "limit {limit}");
    }
    // The direct sale is cancelled: R-D sold every current line of CUST-7, its counter says so.
    t.ingest(&[&order_json("O-X7", 2, "cancelled", ("CUST-7", &[]), None, None, &["X7-1"])]).await;
    assert_eq!(page(100).await, (counted(&[("CUST-6", 2), ("CUST-7", 1)]), sites_budget(1, 1, 0)));
    // A direct sale again: the mark goes, and the record is read again.
    t.ingest(&[&order_json("O-X8", 1, "active", ("CUST-7", &[]), None, None, &["X8-1", "X8-2"])]).await;
    assert_eq!(page(100).await, (counted(&[("CUST-6", 2), ("CUST-7", 3)]), sites_budget(1, 1, 1)));
    // R-D's order moves to another site: nothing of R-D is left at CUST-6.
    t.ingest(&[&order_json("O-D6", 2, "active", ("CUST-8", &[REP]), Some(("R-D", &[REP])), None, &["D6-1", "D6-2"])]).await;
    let (counts, _) = page(100).await;
    assert_eq!(counts, counted(&[("CUST-7", 3), ("CUST-8", 2)]));
}
