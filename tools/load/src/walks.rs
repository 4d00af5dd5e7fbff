//! After the load: every caller's pages walked to the end (limit 500, following
//! `next_cursor`) through the view router in-process, against the world's reference counts
//! (the bench's `Plan` plus every order sent under load).

use crate::report::compare;
use abev_local::bench::api::{Answer, Api};
use abev_local::bench::encode;
use abev_local::bench::world::{self, Kind, Plan, Spec};
use std::collections::{BTreeMap, HashSet};
use std::time::Duration;

/// One line per check: passed, and what it says.
#[derive(Debug, Default)]
pub struct Walks {
    pub lines: Vec<(bool, String)>,
}

/// A GET, retried while the caller's rate limit answers 429.
async fn get(api: &Api, email: &str, path: &str) -> Answer {
    let mut answer = api.view(email, path).await;
    for _ in 0..60 {
        if answer.status != 429 {
            break;
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
        answer = api.view(email, path).await;
    }
    answer
}

fn with_cursor(base: &str, cursor: Option<&str>) -> String {
    match cursor {
        Some(c) => format!("{base}?limit=500&cursor={}", encode(c)),
        None => format!("{base}?limit=500"),
    }
}

/// `GET /v1/view` to the end: each listed site's `entitlement_count`.
async fn view_walk(api: &Api, email: &str) -> Result<BTreeMap<String, u64>, String> {
    let (mut seen, mut cursor) = (BTreeMap::new(), None::<String>);
    loop {
        let a = get(api, email, &with_cursor("/v1/view", cursor.as_deref())).await;
        if a.status != 200 {
            return Err(format!("GET /v1/view as {email}: {} {}", a.status, a.json));
        }
        for site in a.json["sites"].as_array().cloned().unwrap_or_default() {
            let id = site["support_id"].as_str().unwrap_or_default().to_string();
            *seen.entry(id).or_default() += site["entitlement_count"].as_u64().unwrap_or(0);
        }
        match a.next_cursor() {
            Some(c) => cursor = Some(c),
            None => return Ok(seen),
        }
    }
}

/// A site's entitlements to the end: how many, and whether every serial came once.
async fn site_walk(api: &Api, email: &str, site: &str) -> Result<(u64, bool), String> {
    let base = format!("/v1/view/sites/{}/entitlements", encode(site));
    let (mut serials, mut count, mut cursor) = (HashSet::new(), 0u64, None::<String>);
    loop {
        let a = get(api, email, &with_cursor(&base, cursor.as_deref())).await;
        if a.status != 200 {
            return Err(format!("GET {base} as {email}: {} {}", a.status, a.json));
        }
        for e in a.json["entitlements"].as_array().cloned().unwrap_or_default() {
            count += 1;
            serials.insert(e["serial"].as_str().unwrap_or_default().to_string());
        }
        match a.next_cursor() {
            Some(c) => cursor = Some(c),
            None => return Ok((count, serials.len() as u64 == count)),
        }
    }
}

/// The reference: each customer site's entitlements (the world's and those sent under load).
pub fn expected_per_site(plan: &Plan, sent: &[Spec]) -> BTreeMap<String, u64> {
    let mut expected: BTreeMap<String, u64> = (0..world::SITES).map(|k| (world::site_id(k), plan.per_site[k] as u64)).collect();
    for spec in sent {
        *expected.entry(world::site_id(spec.site)).or_default() += spec.lines as u64;
    }
    // A site without orders does not exist (a small world leaves some of the 500 empty).
    expected.retain(|_, n| *n > 0);
    expected
}

/// A ship-to contact's reference: its one-line orders per site.
fn ship_to_per_site(plan: &Plan, kind: Kind) -> BTreeMap<String, u64> {
    let mut expected = BTreeMap::new();
    for o in plan.orders.iter().filter(|o| o.kind == kind) {
        *expected.entry(world::site_id(o.site)).or_default() += 1;
    }
    expected
}

fn describe(label: &str, expected: &BTreeMap<String, u64>, seen: &Result<BTreeMap<String, u64>, String>) -> (bool, String) {
    match seen {
        Ok(seen) => {
            let m = compare(expected, seen);
            let total: u64 = seen.values().sum();
            if m.is_empty() {
                (true, format!("{label}: {} sites, {total} entitlements, every site's count as the reference", seen.len()))
            } else {
                let first: Vec<String> = m.wrong.iter().take(5).map(|(k, e, s)| format!("{k} expected {e} saw {s}")).collect();
                (false, format!("{label}: {} sites differ from the reference ({})", m.wrong.len(), first.join(", ")))
            }
        }
        Err(e) => (false, format!("{label}: {e}")),
    }
}

pub async fn check(api: &Api, plan: &Plan, sent: &[Spec]) -> Walks {
    let mut lines = Vec::new();
    let expected = expected_per_site(plan, sent);
    let sent_lines: usize = sent.iter().map(|s| s.lines).sum();
    lines.push(describe(
        &format!("`{}`'s view walked (the world's {} + {} lines sent under load)", world::REP, plan.n, sent_lines),
        &expected,
        &view_walk(api, world::REP).await,
    ));
    lines.push(describe(
        &format!("`{}`'s view walked", world::INSTALLER),
        &ship_to_per_site(plan, Kind::ShipBig),
        &view_walk(api, world::INSTALLER).await,
    ));
    lines.push(describe(
        &format!("`{}`'s view walked", world::SMALL_INSTALLER),
        &ship_to_per_site(plan, Kind::ShipSmall),
        &view_walk(api, world::SMALL_INSTALLER).await,
    ));
    lines.push(describe(
        &format!("`{}`'s view walked", world::SMALL_CUSTOMER),
        &[(world::SMALL_SITE.to_string(), 3u64)].into(),
        &view_walk(api, world::SMALL_CUSTOMER).await,
    ));
    // Every customer site's entitlements, walked by its contact.
    let mut seen = BTreeMap::new();
    let (mut duplicates, mut failures) = (Vec::new(), Vec::new());
    for k in (0..world::SITES).filter(|k| expected.contains_key(&world::site_id(*k))) {
        match site_walk(api, &world::site_contact(k), &world::site_id(k)).await {
            Ok((count, unique)) => {
                seen.insert(world::site_id(k), count);
                if !unique {
                    duplicates.push(world::site_id(k));
                }
            }
            Err(e) => failures.push(e),
        }
    }
    let label = format!("every customer site's entitlements walked by its contact ({} sites)", expected.len());
    lines.push(match failures.first() {
        Some(e) => (false, format!("{label}: {} walks failed, first: {e}", failures.len())),
        None => describe(&label, &expected, &Ok(seen)),
    });
    lines.push((duplicates.is_empty(), format!("no serial twice in a site's walk ({} sites with one)", duplicates.len())));
    Walks { lines }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_reference_adds_what_was_sent_to_the_world() {
        let plan = Plan::new(2000);
        let sent = vec![
            Spec { id: "BIG-L00000".into(), site: 7, lines: 10, kind: Kind::Regular, rep_member: false },
            Spec { id: "BIG-X00000".into(), site: 7, lines: 1000, kind: Kind::Regular, rep_member: false },
        ];
        let expected = expected_per_site(&plan, &sent);
        assert_eq!(expected.len(), (0..world::SITES).filter(|k| plan.per_site[*k] > 0 || *k == 7).count());
        assert!(expected.values().all(|n| *n > 0), "no empty site is expected");
        assert_eq!(expected[&world::site_id(7)], plan.per_site[7] as u64 + 1010);
        assert_eq!(expected.values().sum::<u64>(), 2000 + 1010);
        // The load's serials never meet the world's (`B{id[4..]}-nnnn`).
        let world_serial = |id: &str| format!("B{}-0000", &id[4..]);
        assert_ne!(world_serial("BIG-L00000"), world_serial("BIG-000000"));
        assert_ne!(world_serial("BIG-X00000"), world_serial("BIG-L00000"));
    }
}
