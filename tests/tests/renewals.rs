//! The renewal radar (issue 20, part 1): `Store::renewals` and `GET /v1/renewals` against
//! DynamoDB Local. Its reference is the view itself: every radar walk must equal the
//! caller's entitlement lists (every site of `GET /v1/view`, every page) filtered by end
//! date, soonest first — for members, resellers and ship-to contacts, at every page size.

use abev::domain::access::Rollout;
use abev::domain::{Day, Email, SupportId};
use abev::store::metrics::{measured, Cost};
use abev::store::orders::Step;
use abev::store::view::{EntitlementFilter, RenewalWindow};
use abev_integration_tests::{crash_after, TestApp, TestStack};
use serde_json::{json, Value};
use std::collections::BTreeSet;

/// One radar or view entry as plain data: (ends_on, serial, site, access rules).
type Entry = (String, String, String, Vec<String>);

fn today() -> Day {
    Day::today()
}

/// `today` + `days`, as `YYYY-MM-DD`.
fn in_days(days: i64) -> String {
    Day(today().0 + time::Duration::days(days)).to_string()
}

/// An order message whose lines end `offset` days from today.
fn order(
    id: &str,
    version: u64,
    status: &str,
    end: (&str, &[&str]),
    reseller: Option<(&str, &[&str])>,
    ship_to: Option<(&str, &[&str])>,
    lines: &[(&str, i64)],
) -> String {
    let party = |(site, contacts): (&str, &[&str])| {
        json!({"site": {"support_id": site, "name": format!("{site} Ltd")},
               "contacts": contacts.iter().map(|e| json!({"email": e})).collect::<Vec<_>>()})
    };
    json!({
        "schema": "abev.order.v1", "order_id": id, "version": version, "status": status, "ordered_at": "2026-04-01T10:00:00Z",
        "end_customer": party(end), "reseller": reseller.map(party), "ship_to": ship_to.map(party),
        "lines": lines.iter().map(|(serial, offset)| json!({"serial": serial, "sku": "SKU-1", "product": "Product One",
            "quantity": 1, "starts_on": "2026-01-01", "ends_on": in_days(*offset), "license_keys": [format!("LK-{serial}")]}))
            .collect::<Vec<_>>()
    })
    .to_string()
}

/// The worked example's parties (§2), with end dates spread around 30/60/90 days, ties on
/// one day, expired and far-off lines, a cancelled order, a ship-to contact on two orders
/// and a reseller selling to many sites.
fn world() -> Vec<String> {
    let mut orders = vec![
        order(
            "O-1",
            1,
            "active",
            ("ACME-1", &["bill@acme.example"]),
            Some(("SKY-1", &["mary@skynet.example"])),
            Some(("DATA-1", &["ted@data.example"])),
            &[("S1", 10), ("S2", 10), ("S3", 95)],
        ),
        order("O-2", 1, "active", ("FARM-1", &["fiona@farm.example"]), Some(("SKY-1", &["mary@skynet.example"])), None, &[("S4", 30)]),
        order(
            "O-3",
            1,
            "active",
            ("GLOBEX-1", &["gary@globex.example"]),
            Some(("SKY-1", &["mary@skynet.example"])),
            None,
            &[("S5", 31), ("S5B", -3)],
        ),
        order("O-4", 1, "active", ("SKY-1", &["mary@skynet.example"]), None, None, &[("S6", 0), ("S7", 60), ("S8", 61)]),
        order("O-5", 1, "active", ("ACME-1", &["alice@acme.example"]), Some(("OTHER-1", &["oscar@other.example"])), None, &[("S9", 89)]),
        order("O-6", 1, "active", ("ACME-1", &[]), None, Some(("DATA-1", &["ted@data.example"])), &[("S10", 45), ("S13", 400)]),
        order("O-7", 1, "cancelled", ("FARM-1", &["fiona@farm.example"]), Some(("SKY-1", &["mary@skynet.example"])), None, &[("S11", 5)]),
    ];
    // SKY-1 sells to five more sites, with ties on days and serials that sort apart.
    for c in 1..=5 {
        let site = format!("CUST-{c}");
        let lines: Vec<(String, i64)> = (0..3).map(|j| (format!("C{c}-{j}"), [12, 12 + c as i64 * 7, 88][j])).collect();
        let lines: Vec<(&str, i64)> = lines.iter().map(|(s, d)| (s.as_str(), *d)).collect();
        orders.push(order(&format!("O-C{c}"), 1, "active", (&site, &[]), Some(("SKY-1", &[])), None, &lines));
    }
    orders
}

const CONTACTS: [&str; 8] = [
    "bill@acme.example",
    "alice@acme.example",
    "ted@data.example",
    "mary@skynet.example",
    "oscar@other.example",
    "fiona@farm.example",
    "gary@globex.example",
    "nobody@none.example",
];

fn rules(access: &[abev::domain::Access]) -> Vec<String> {
    access.iter().map(|a| serde_json::to_value(a).unwrap().as_str().unwrap().to_string()).collect()
}

/// The reference: the caller's whole view through the entitlement lists, filtered to the
/// window, soonest first (ties by serial).
async fn view_in_window(t: &TestStack, email: &str, window: RenewalWindow) -> Vec<Entry> {
    view_in_window_under(t, email, window, Rollout::Everyone).await
}

async fn view_in_window_under(t: &TestStack, email: &str, window: RenewalWindow, rollout: Rollout) -> Vec<Entry> {
    let email = Email::parse(email).unwrap();
    let mut out = Vec::new();
    let mut after: Option<SupportId> = None;
    loop {
        let sites = t.store.view_sites(&email, rollout, after.as_ref(), 100).await.unwrap();
        for site in &sites.items {
            let mut position: Option<String> = None;
            loop {
                let (_, page) = t
                    .store
                    .site_entitlements(
                        &email,
                        Rollout::Everyone,
                        &site.support_id,
                        position.as_deref(),
                        100,
                        &EntitlementFilter::default(),
                        today(),
                    )
                    .await
                    .unwrap()
                    .expect("a site in the view is visible");
                for e in page.items {
                    let ends_on = e.line.line.ends_on;
                    if ends_on >= window.from && ends_on <= window.until {
                        out.push((ends_on.to_string(), e.line.line.serial.to_string(), site.support_id.to_string(), rules(&e.access)));
                    }
                }
                match page.next {
                    Some(next) => position = Some(next),
                    None => break,
                }
            }
        }
        match sites.next {
            Some(next) => after = Some(next),
            None => break,
        }
    }
    out.sort();
    out
}

/// A whole radar walk through the store, `limit` at a time.
async fn radar(t: &TestStack, email: &str, window: RenewalWindow, limit: usize) -> Vec<Entry> {
    radar_under(t, email, window, limit, Rollout::Everyone).await
}

async fn radar_under(t: &TestStack, email: &str, window: RenewalWindow, limit: usize, rollout: Rollout) -> Vec<Entry> {
    let email = Email::parse(email).unwrap();
    let mut out: Vec<Entry> = Vec::new();
    let mut after: Option<String> = None;
    for _ in 0..1000 {
        let page = t.store.renewals(&email, rollout, window, after.as_deref(), limit, today()).await.unwrap();
        assert!(page.items.len() <= limit, "a page holds at most {limit}");
        for r in page.items {
            let l = &r.entitlement.line;
            assert_eq!(r.site.support_id, l.site, "listed under its owning site");
            out.push((l.line.ends_on.to_string(), l.line.serial.to_string(), l.site.to_string(), rules(&r.entitlement.access)));
        }
        match page.next {
            Some(next) => after = Some(next),
            None => {
                let mut sorted = out.clone();
                sorted.sort();
                assert_eq!(out, sorted, "{email}: soonest first, ties by serial");
                let serials: BTreeSet<&String> = out.iter().map(|e| &e.1).collect();
                assert_eq!(serials.len(), out.len(), "{email}: each entitlement once");
                return out;
            }
        }
    }
    panic!("the radar walk of {email} never ended")
}

#[tokio::test]
async fn a_radar_walk_is_the_view_ending_in_the_window_for_every_contact_and_page_size() {
    let t = TestStack::new().await;
    let orders = world();
    t.ingest(&orders.iter().map(String::as_str).collect::<Vec<_>>()).await;
    for days in [90, 365, 30] {
        let window = RenewalWindow::days_from(today(), days);
        for email in CONTACTS {
            let want = view_in_window(&t, email, window).await;
            for limit in [1, 2, 7, 100] {
                assert_eq!(radar(&t, email, window, limit).await, want, "{email}, {days} days, pages of {limit}");
            }
        }
    }
    // The reference is not empty where it matters: each kind of contact has renewals.
    let window = RenewalWindow::days_from(today(), 90);
    let serials = |entries: Vec<Entry>| entries.into_iter().map(|e| e.1).collect::<Vec<_>>();
    assert_eq!(serials(radar(&t, "ted@data.example", window, 100).await), ["S1", "S2", "S10"], "ship-to: its two orders, not S13");
    let mary = radar(&t, "mary@skynet.example", window, 100).await;
    assert_eq!(mary.len(), 2 + 1 + 1 + 3 + 5 * 3, "mary: S1 S2, S4, S5, her own S6-S8 and the 15 CUST lines; no S3, S5B, S9 or S11");
    assert!(!mary.iter().any(|e| ["S9", "S11", "S5B", "S3"].contains(&e.1.as_str())));
    assert_eq!(serials(radar(&t, "oscar@other.example", window, 100).await), ["S9"]);
}

#[tokio::test]
async fn a_version_staged_or_replaced_never_shows_its_entries_and_a_moved_order_shows_at_its_new_site() {
    let t = TestStack::new().await;
    let v1 = order(
        "O-M",
        1,
        "active",
        ("GLOBEX-1", &["gary@globex.example"]),
        None,
        Some(("DATA-1", &["ted@data.example"])),
        &[("M1", 20), ("M2", 25)],
    );
    // fiona is a member of FARM-1 already (its own order ends outside the window).
    let farm = order("O-F", 1, "active", ("FARM-1", &["fiona@farm.example"]), None, None, &[("F1", 200)]);
    t.ingest(&[&v1, &farm]).await;
    let window = RenewalWindow::days_from(today(), 90);
    let entries = |e: Vec<Entry>| e.into_iter().map(|(d, s, site, _)| (d, s, site)).collect::<Vec<_>>();
    assert_eq!(
        entries(radar(&t, "ted@data.example", window, 1).await),
        [(in_days(20), "M1".into(), "GLOBEX-1".into()), (in_days(25), "M2".into(), "GLOBEX-1".into())]
    );

    // Version 2 moves the order to FARM-1, moves M1's end date and drops ted. Staged only
    // (the function dies before the switch): its entries are in the indexes, and not current.
    let v2 = order("O-M", 2, "active", ("FARM-1", &["fiona@farm.example"]), None, None, &[("M1", 70), ("M2", 25)]);
    let staging = abev::ingest::Ingestor { options: crash_after(Step::Staged(1)), ..t.ingestor.clone() };
    assert!(!staging.handle_message("m2", &v2).await.acknowledged());
    for limit in [1, 100] {
        assert_eq!(radar(&t, "ted@data.example", window, limit).await.len(), 2, "v1 still stands");
        assert!(radar(&t, "fiona@farm.example", window, limit).await.is_empty(), "a staged version is not current");
    }

    // Switched, but the function dies before cleaning v1: v1's lines, copies and index
    // entries all remain, and none of them may show.
    let switching = abev::ingest::Ingestor { options: crash_after(Step::Switched), ..t.ingestor.clone() };
    assert!(!switching.handle_message("m2", &v2).await.acknowledged());
    let v1_line =
        abev::store::keys::order_line(&abev::domain::OrderId::parse("O-M").unwrap(), 1, &abev::domain::Serial::parse("M1").unwrap());
    assert!(t.stored_item(&v1_line).await.is_some(), "version 1's lines are still stored");
    for limit in [1, 2, 100] {
        assert!(radar(&t, "ted@data.example", window, limit).await.is_empty(), "ted was dropped by v2");
        assert!(radar(&t, "gary@globex.example", window, limit).await.is_empty(), "nothing of the order is at GLOBEX-1 now");
        assert_eq!(
            entries(radar(&t, "fiona@farm.example", window, limit).await),
            [(in_days(25), "M2".into(), "FARM-1".into()), (in_days(70), "M1".into(), "FARM-1".into())],
            "v2's end dates at v2's site, pages of {limit}"
        );
        assert_eq!(radar(&t, "fiona@farm.example", window, limit).await, view_in_window(&t, "fiona@farm.example", window).await);
    }
    // The redelivery finishes; the answer stays.
    t.ingest(&[&v2]).await;
    assert_eq!(entries(radar(&t, "fiona@farm.example", window, 1).await).len(), 2);
    assert!(radar(&t, "ted@data.example", window, 1).await.is_empty());
}

#[tokio::test]
async fn a_cancelled_order_and_a_dropped_line_disappear_from_the_radar() {
    let t = TestStack::new().await;
    let v1 = order(
        "O-R",
        1,
        "active",
        ("ACME-1", &["bill@acme.example"]),
        Some(("SKY-1", &["mary@skynet.example"])),
        None,
        &[("R1", 3), ("R2", 4)],
    );
    t.ingest(&[&v1]).await;
    let window = RenewalWindow::days_from(today(), 90);
    let serials = |e: Vec<Entry>| e.into_iter().map(|e| e.1).collect::<Vec<_>>();
    assert_eq!(serials(radar(&t, "mary@skynet.example", window, 1).await), ["R1", "R2"]);
    let v2 = order("O-R", 2, "active", ("ACME-1", &["bill@acme.example"]), Some(("SKY-1", &["mary@skynet.example"])), None, &[("R2", 4)]);
    t.ingest(&[&v2]).await;
    for email in ["mary@skynet.example", "bill@acme.example"] {
        assert_eq!(serials(radar(&t, email, window, 1).await), ["R2"], "{email}: the revoked line is gone");
    }
    let v3 =
        order("O-R", 3, "cancelled", ("ACME-1", &["bill@acme.example"]), Some(("SKY-1", &["mary@skynet.example"])), None, &[("R2", 4)]);
    t.ingest(&[&v3]).await;
    for email in ["mary@skynet.example", "bill@acme.example"] {
        assert!(radar(&t, email, window, 1).await.is_empty(), "{email}: a cancelled order shows nothing");
    }
}

/// The cost of the radar's first page (limit 10, 90 days).
async fn first_page_cost(t: &TestStack, email: &str) -> Cost {
    let email = Email::parse(email).unwrap();
    let window = RenewalWindow::days_from(today(), 90);
    let (page, cost) = measured(t.store.renewals(&email, Rollout::Everyone, window, None, 10, today())).await;
    assert!(!page.unwrap().items.is_empty(), "{email} has renewals");
    cost
}

/// How many end months a 90-day window from today touches.
fn months_in_window() -> u64 {
    let window = RenewalWindow::days_from(today(), 90);
    let mut months = BTreeSet::new();
    let mut day = window.from.0;
    while day <= window.until.0 {
        months.insert((day.year(), day.month()));
        day += time::Duration::days(1);
    }
    months.len() as u64
}

#[tokio::test]
async fn a_radar_page_costs_the_same_whatever_the_caller_holds_in_three_rounds() {
    let t = TestStack::new().await;
    let mut orders = Vec::new();
    // A reseller that sold 40 orders of 5 lines to 20 customer sites, and one that sold one order.
    for i in 0..40 {
        let serials: Vec<(String, i64)> = (0..5).map(|j| (format!("B{i:02}-{j}"), (i * 5 + j) % 80)).collect();
        let lines: Vec<(&str, i64)> = serials.iter().map(|(s, d)| (s.as_str(), *d)).collect();
        orders.push(order(
            &format!("OB-{i}"),
            1,
            "active",
            (&format!("CUST-{:02}", i % 20), &[]),
            Some(("BIG-R", &["big@r.example"])),
            None,
            &lines,
        ));
    }
    orders.push(order("OS-1", 1, "active", ("CUST-00", &[]), Some(("SMALL-R", &["small@r.example"])), None, &[("X1", 5)]));
    // A ship-to contact on 30 one-line orders over 3 sites, and one on a single order.
    for i in 0..30 {
        let serial = format!("T{i:02}");
        orders.push(order(
            &format!("OT-{i}"),
            1,
            "active",
            (&format!("SHIPCUST-{}", i % 3), &[]),
            None,
            Some(("DEPOT-1", &["many@ship.example"])),
            &[(&serial, i % 85)],
        ));
    }
    orders.push(order("OT-X", 1, "active", ("SHIPCUST-0", &[]), None, Some(("DEPOT-1", &["one@ship.example"])), &[("TX", 7)]));
    // A member of a site with 30 orders of 3 lines, and one of a site with one line.
    for i in 0..30 {
        let serials: Vec<(String, i64)> = (0..3).map(|j| (format!("M{i:02}-{j}"), (i * 3 + j) % 88)).collect();
        let lines: Vec<(&str, i64)> = serials.iter().map(|(s, d)| (s.as_str(), *d)).collect();
        orders.push(order(&format!("OM-{i}"), 1, "active", ("MEMBER-1", &["many@member.example"]), None, None, &lines));
    }
    orders.push(order("OM-X", 1, "active", ("MEMBER-2", &["one@member.example"]), None, None, &[("MX", 9)]));
    t.ingest(&orders.iter().map(String::as_str).collect::<Vec<_>>()).await;

    let months = months_in_window();
    for (kind, big, small, sources) in [
        // a reseller's member: its own site's lines and its organisation's sales
        ("reseller", "big@r.example", "small@r.example", 2),
        ("ship-to", "many@ship.example", "one@ship.example", 1),
        ("member", "many@member.example", "one@member.example", 1),
    ] {
        let (big, small) = (first_page_cost(&t, big).await, first_page_cost(&t, small).await);
        assert_eq!(big.ddb_calls, small.ddb_calls, "{kind}: calls must not grow with what the caller holds");
        // (1) memberships, reseller markers, ship-to reach; (2) one query per source and end
        // month; (3) one BatchGet of the page's order heads and site records.
        for cost in [big, small] {
            assert_eq!(cost.sequential_rounds, 3, "{kind}: sequential rounds");
            assert_eq!(cost.ddb_calls, 3 + sources * months + 1, "{kind}: calls");
        }
    }
}

#[tokio::test]
async fn the_http_radar_groups_per_site_with_counts_and_refuses_bad_parameters() {
    let t = TestStack::new().await;
    let orders = world();
    t.ingest(&orders.iter().map(String::as_str).collect::<Vec<_>>()).await;
    let app = TestApp::spawn(&t).await;
    let mary = app.client("mary@skynet.example");
    let get = |path: String| {
        let mary = mary.clone();
        async move { mary.raw(reqwest::Method::GET, &path, &[], None).await.unwrap().into_result::<Value>() }
    };

    // A walk over HTTP, 4 at a time, equals the store's walk; counts add up per page.
    let window = RenewalWindow::days_from(today(), 90);
    let mut walked: Vec<Entry> = Vec::new();
    let mut cursor: Option<String> = None;
    let mut totals = [0u64; 4];
    loop {
        let path = match &cursor {
            Some(c) => format!("/v1/renewals?limit=4&cursor={c}"),
            None => "/v1/renewals?limit=4".to_string(),
        };
        let page = get(path).await.unwrap();
        assert_eq!(page["window"], json!({"from": window.from.to_string(), "until": window.until.to_string(), "within_days": 90}));
        let mut on_page = 0;
        for site in page["sites"].as_array().unwrap() {
            let entitlements = site["entitlements"].as_array().unwrap();
            assert_eq!(site["counts"]["total"], entitlements.len());
            for e in entitlements {
                assert!(e.get("license_keys").is_none(), "no licence keys on the radar");
                let days_left = e["days_left"].as_i64().unwrap();
                assert_eq!(in_days(days_left), e["ends_on"].as_str().unwrap());
                let access = e["access"].as_array().unwrap().iter().map(|a| a.as_str().unwrap().to_string()).collect();
                let entry = (
                    e["ends_on"].as_str().unwrap().into(),
                    e["serial"].as_str().unwrap().into(),
                    site["support_id"].as_str().unwrap().into(),
                    access,
                );
                walked.push(entry);
                on_page += 1;
            }
        }
        assert_eq!(page["counts"]["total"], on_page);
        for (i, k) in ["within_30", "within_60", "within_90", "total"].iter().enumerate() {
            totals[i] += page["counts"][k].as_u64().unwrap();
        }
        match page["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_string()),
            None => break,
        }
    }
    walked.sort();
    let want = view_in_window(&t, "mary@skynet.example", window).await;
    assert_eq!(walked, want);
    let within = |d: i64| want.iter().filter(|e| e.0 <= in_days(d)).count() as u64;
    assert_eq!(totals, [within(30), within(60), within(90), want.len() as u64]);
    assert!(totals[0] > 0 && totals[0] < totals[1] && totals[1] < totals[2], "the world spreads over the thresholds: {totals:?}");

    // Bad parameters are 400 problems; a cursor opens only for its caller and window.
    let first = get("/v1/renewals?limit=1".into()).await.unwrap();
    let cursor = first["next_cursor"].as_str().unwrap().to_string();
    for path in [
        "/v1/renewals?within_days=0".to_string(),
        "/v1/renewals?within_days=366".into(),
        "/v1/renewals?within_days=-1".into(),
        "/v1/renewals?within_days=1.5".into(),
        "/v1/renewals?within_days=soon".into(),
        "/v1/renewals?limit=0".into(),
        "/v1/renewals?limit=501".into(),
        "/v1/renewals?cursor=".into(),
        "/v1/renewals?cursor=garbage".into(),
        format!("/v1/renewals?within_days=30&cursor={cursor}"),
    ] {
        let problem = get(path.clone()).await.unwrap_err();
        assert_eq!(problem.status(), Some(400), "{path}: {problem}");
    }
    let bill = app.client("bill@acme.example");
    let replayed = bill.raw(reqwest::Method::GET, &format!("/v1/renewals?limit=1&cursor={cursor}"), &[], None).await.unwrap();
    assert_eq!(replayed.into_result::<Value>().unwrap_err().status(), Some(400), "another caller's cursor");
    assert!(get(format!("/v1/renewals?limit=1&cursor={cursor}")).await.is_ok());
}

#[tokio::test]
async fn in_rollout_waves_the_radar_shows_only_the_sites_care_enabled_as_the_view_does() {
    let t = TestStack::new().await;
    let orders = world();
    t.ingest(&orders.iter().map(String::as_str).collect::<Vec<_>>()).await;
    let app = TestApp::spawn_with(&t, abev::http::Settings { rollout: Rollout::Waves, ..Default::default() }).await;
    let window = RenewalWindow::days_from(today(), 90);
    assert!(radar_under(&t, "mary@skynet.example", window, 3, Rollout::Waves).await.is_empty(), "nothing enabled yet");
    let care = app.care_client("carla@care.example");
    for site in ["SKY-1", "CUST-2", "ACME-1"] {
        assert!(care.set_rollout(site, true).await.unwrap().changed);
    }
    for email in ["mary@skynet.example", "ted@data.example", "bill@acme.example"] {
        let shown = radar_under(&t, email, window, 3, Rollout::Waves).await;
        assert!(!shown.is_empty(), "{email} has renewals at the enabled sites");
        assert!(shown.iter().all(|e| ["SKY-1", "CUST-2", "ACME-1"].contains(&e.2.as_str())), "{email}: {shown:?}");
        assert_eq!(shown, view_in_window_under(&t, email, window, Rollout::Waves).await, "{email}");
    }
    // Over HTTP too (the app's rollout setting).
    let page = app.client("mary@skynet.example").raw(reqwest::Method::GET, "/v1/renewals", &[], None).await.unwrap();
    let page = page.into_result::<Value>().unwrap();
    let sites: BTreeSet<&str> = page["sites"].as_array().unwrap().iter().map(|s| s["support_id"].as_str().unwrap()).collect();
    assert_eq!(sites, BTreeSet::from(["SKY-1", "CUST-2", "ACME-1"]));
}

#[tokio::test]
async fn a_removed_member_sees_none_of_the_sites_renewals_at_once() {
    let t = TestStack::new().await;
    let orders = world();
    t.ingest(&orders.iter().map(String::as_str).collect::<Vec<_>>()).await;
    let app = TestApp::spawn(&t).await;
    let window = RenewalWindow::days_from(today(), 90);
    let serials = |e: Vec<Entry>| e.into_iter().map(|e| e.1).collect::<Vec<_>>();
    assert_eq!(serials(radar(&t, "bill@acme.example", window, 2).await), ["S1", "S2", "S10", "S9"]);
    app.care_client("carla@care.example").remove_member("ACME-1", "bill@acme.example").await.unwrap();
    assert!(radar(&t, "bill@acme.example", window, 2).await.is_empty(), "the membership is read consistently");
    // mary's reseller marker goes with her SKY-1 membership: its customers' renewals too.
    app.care_client("carla@care.example").remove_member("SKY-1", "mary@skynet.example").await.unwrap();
    assert!(radar(&t, "mary@skynet.example", window, 5).await.is_empty());
    assert_eq!(serials(radar(&t, "ted@data.example", window, 1).await), ["S1", "S2", "S10"], "others are untouched");
}

/// Days from today to a line's end in a random world: spread over -10..120 by serial and
/// version, so a new version moves some end dates (and ties on a day happen).
fn world_offset(serial: &str, version: u64) -> i64 {
    let h = serial.bytes().fold(version * 7919, |h, b| h.wrapping_mul(31).wrapping_add(u64::from(b)));
    (h % 130) as i64 - 10
}

#[tokio::test]
async fn random_worlds_radar_walks_equal_the_brute_force_reference_filtered_by_end_date() {
    use abev_integration_tests::world::{message, oracle, world_from_seed, CONTACTS as WORLD_CONTACTS};
    let window = RenewalWindow::days_from(today(), 90);
    let mut nonempty = 0;
    for seed in 1..=8u64 {
        let (orders, deliveries) = world_from_seed(seed);
        let t = TestStack::new().await;
        let mut current: std::collections::BTreeMap<usize, u64> = Default::default();
        for &(o, v) in &deliveries {
            let mut body: Value = serde_json::from_str(&message(o, v, &orders[o][v])).unwrap();
            let version = body["version"].as_u64().unwrap();
            for line in body["lines"].as_array_mut().unwrap() {
                let offset = world_offset(line["serial"].as_str().unwrap(), version);
                line["ends_on"] = json!(in_days(offset));
            }
            t.ingest(&[&body.to_string()]).await;
            let entry = current.entry(o).or_insert(version);
            *entry = (*entry).max(version);
        }
        // Spec §2 by brute force, with each serial's end date in its current version.
        let ends: std::collections::BTreeMap<String, String> = current
            .iter()
            .flat_map(|(&o, &v)| {
                orders[o][v as usize - 1].lines.iter().map(move |l| abev_integration_tests::world::serial(o, *l)).map(move |s| (s, v))
            })
            .map(|(s, v)| (s.clone(), in_days(world_offset(&s, v))))
            .collect();
        let expected = oracle(&orders, &deliveries);
        for email in WORLD_CONTACTS {
            let mut want: Vec<Entry> = Vec::new();
            for (site, serials) in expected.get(email).cloned().unwrap_or_default() {
                for (serial, rules) in serials {
                    let ends_on = ends[&serial].clone();
                    if ends_on >= window.from.to_string() && ends_on <= window.until.to_string() {
                        want.push((ends_on, serial, site.clone(), rules));
                    }
                }
            }
            want.sort();
            nonempty += usize::from(!want.is_empty());
            assert_eq!(view_in_window(&t, email, window).await, want, "seed {seed}: the view of {email}");
            for limit in [1, 3, 100] {
                assert_eq!(radar(&t, email, window, limit).await, want, "seed {seed}: {email}, pages of {limit}");
            }
        }
    }
    assert!(nonempty > 10, "the worlds give contacts renewals to compare ({nonempty})");
}

#[tokio::test]
async fn an_ended_membership_shows_nothing_on_the_radar_before_the_sweep_removes_it() {
    let t = TestStack::new().await;
    let orders = world();
    t.ingest(&orders.iter().map(String::as_str).collect::<Vec<_>>()).await;
    let window = RenewalWindow::days_from(today(), 90);
    assert!(!radar(&t, "bill@acme.example", window, 10).await.is_empty(), "bill sees ACME-1's renewals");

    // bill's membership ended a minute ago; the sweep has not run yet (issue 21: checked on every read).
    let bill = Email::parse("bill@acme.example").unwrap();
    let key = abev::store::keys::membership(&bill, &SupportId::parse("ACME-1").unwrap());
    let ended = time::OffsetDateTime::now_utc() - time::Duration::minutes(1);
    let stamp = abev::domain::access::Stamp::of(ended).as_str().to_string();
    t.ddb
        .update_item()
        .table_name(&t.stack.table)
        .set_key(Some(key.to_item()))
        .update_expression("SET ends_at = :e")
        .expression_attribute_values(":e", aws_sdk_dynamodb::types::AttributeValue::S(stamp))
        .send()
        .await
        .unwrap();
    assert!(view_in_window(&t, "bill@acme.example", window).await.is_empty(), "the view shows bill nothing");
    for limit in [1, 100] {
        assert!(radar(&t, "bill@acme.example", window, limit).await.is_empty(), "neither does the radar (pages of {limit})");
    }
}

#[tokio::test]
async fn a_resellers_contact_in_many_of_its_customers_sites_pays_no_listing_per_site() {
    let t = TestStack::new().await;
    // rep is the end-customer contact of 12 sites its organisation sold to (P1: a member of
    // each) and a contact of the reseller (P2: a member of BIG-R, so R3 reaches every sale).
    let mut orders = Vec::new();
    for i in 0..12 {
        let serials: Vec<(String, i64)> = (0..3).map(|j| (format!("R{i:02}-{j}"), (i * 7 + j * 11) % 85)).collect();
        let lines: Vec<(&str, i64)> = serials.iter().map(|(s, d)| (s.as_str(), *d)).collect();
        let site = format!("CUST-{i:02}");
        orders.push(order(
            &format!("OR-{i}"),
            1,
            "active",
            (&site, &["rep@big.example"]),
            Some(("BIG-R", &["rep@big.example"])),
            None,
            &lines,
        ));
    }
    t.ingest(&orders.iter().map(String::as_str).collect::<Vec<_>>()).await;
    let rep = "rep@big.example";
    let window = RenewalWindow::days_from(today(), 90);
    let months = months_in_window();
    for limit in [1, 7, 100] {
        assert_eq!(radar(&t, rep, window, limit).await, view_in_window(&t, rep, window).await, "pages of {limit}");
    }
    // Every line of its 13 member sites is one its organisation sold: the organisation's
    // listing shows them all. (1) memberships, markers, ship-to reach; (2) the member sites'
    // records in one BatchGet, one listing per end month of BIG-R's sales; (3) heads and sites.
    let cost = first_page_cost(&t, rep).await;
    assert_eq!((cost.sequential_rounds, cost.ddb_calls), (3, 3 + 1 + months + 1), "no listing per member site");

    // A direct sale at one of them: that site (only) is listed, in one more round.
    let direct = order("OD-1", 1, "active", ("CUST-03", &[]), None, None, &[("D1", 4), ("D2", 50)]);
    t.ingest(&[&direct]).await;
    for limit in [1, 7, 100] {
        let walk = radar(&t, rep, window, limit).await;
        assert_eq!(walk, view_in_window(&t, rep, window).await, "pages of {limit}");
        assert!(walk.iter().any(|e| e.1 == "D1") && walk.iter().any(|e| e.1 == "D2"), "the direct sale shows to a member");
    }
    let cost = first_page_cost(&t, rep).await;
    assert_eq!((cost.sequential_rounds, cost.ddb_calls), (4, 3 + 1 + months + months + 1), "one site listed");
}
