//! The benchmark's world: one reseller `RES-BIG` with `n` entitlements over 500 customer
//! sites, sent as order messages to the stack's orders queue and drained by the project's
//! event source and ingestor, as in AWS.
//!
//! - every RES-BIG order: end customer `CUST-nnnn` with contact `it@cust-nnnn.example` (P1),
//!   reseller `RES-BIG` with contact `rep@res-big.example` (P2: R3 reaches every order);
//! - regular orders of mixed sizes (of every 20: 16 of 100 lines, 2 of 10, 2 of 1; one
//!   cycle in 10 starts with a 1000-line order), spread pseudo-randomly over the 500 sites
//!   (so sites differ: at 100,000 from a few entitlements to over 1,000, median ~200);
//! - `installer@ship.example`: ship-to contact on `ship_big` (2,000) one-line orders, and
//!   `small-installer@ship.example` on 20, spread over the customer sites;
//! - `rep@res-big.example` is also an end-customer contact on one order of each of the first
//!   300 customer sites (P1: a member of 300 sites, besides RES-BIG);
//! - `small@small-cust.example`: the one contact of `SMALL-0001`, a direct sale of 3 lines.

use super::stats::n as thousands;
use crate::event_source::EventSource;
use abev::ingest::Ingestor;
use aws_sdk_sqs::types::{QueueAttributeName, SendMessageBatchRequestEntry};
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

pub const SITES: usize = 500;
pub const REP_SITES: usize = 300;
pub const RESELLER: &str = "RES-BIG";
pub const REP: &str = "rep@res-big.example";
pub const INSTALLER: &str = "installer@ship.example";
pub const SMALL_INSTALLER: &str = "small-installer@ship.example";
pub const SMALL_CUSTOMER: &str = "small@small-cust.example";
pub const SMALL_SITE: &str = "SMALL-0001";
pub const SMALL_INSTALLER_ORDERS: usize = 20;

pub fn site_id(k: usize) -> String {
    format!("CUST-{:04}", k + 1)
}

pub fn site_contact(k: usize) -> String {
    format!("it@cust-{:04}.example", k + 1)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Regular,
    ShipBig,
    ShipSmall,
    SmallCustomer,
}

/// One order of the world (its JSON is made when it is sent).
#[derive(Debug, Clone)]
pub struct Spec {
    pub id: String,
    pub site: usize,
    pub lines: usize,
    pub kind: Kind,
    /// `rep@res-big.example` is an end-customer contact too.
    pub rep_member: bool,
}

/// Everything the world holds, and what the report needs to know of it.
#[derive(Debug, Clone)]
pub struct Plan {
    pub n: usize,
    pub ship_big: usize,
    pub orders: Vec<Spec>,
    /// Entitlements per customer site.
    pub per_site: Vec<usize>,
}

impl Plan {
    pub fn new(n: usize) -> Plan {
        let ship_big = 2000.min(n / 5);
        let ship_small = SMALL_INSTALLER_ORDERS.min(n / 50);
        let regular = n - ship_big - ship_small;
        let mut orders = Vec::new();
        let mut left = regular;
        let mut j = 0usize;
        while left > 0 {
            let (cycle, pos) = (j / 20, j % 20);
            let size = match pos {
                0 if cycle % 10 == 0 => 1000,
                16 | 17 => 10,
                18 | 19 => 1,
                _ => 100,
            }
            .min(left);
            let site = (mix(j as u64) % SITES as u64) as usize;
            orders.push(Spec { id: format!("BIG-{j:06}"), site, lines: size, kind: Kind::Regular, rep_member: false });
            left -= size;
            j += 1;
        }
        for i in 0..ship_big {
            orders.push(Spec { id: format!("SHIPB-{i:05}"), site: i % SITES, lines: 1, kind: Kind::ShipBig, rep_member: false });
        }
        for i in 0..ship_small {
            let site = (i * SITES / SMALL_INSTALLER_ORDERS.max(1) + 1) % SITES;
            orders.push(Spec { id: format!("SHIPS-{i:03}"), site, lines: 1, kind: Kind::ShipSmall, rep_member: false });
        }
        // P1 for the rep: on the first order of each of the first 300 sites.
        let mut seen = vec![false; SITES];
        for o in &mut orders {
            if o.site < REP_SITES && !seen[o.site] {
                seen[o.site] = true;
                o.rep_member = true;
            }
        }
        let mut per_site = vec![0; SITES];
        for o in &orders {
            per_site[o.site] += o.lines;
        }
        orders.push(Spec { id: "SMALL-1".into(), site: usize::MAX, lines: 3, kind: Kind::SmallCustomer, rep_member: false });
        Plan { n, ship_big, orders, per_site }
    }

    /// The number of messages and lines.
    pub fn totals(&self) -> (usize, usize) {
        (self.orders.len(), self.orders.iter().map(|o| o.lines).sum())
    }

    /// "3×1000, 1,100×100, …": the orders by size.
    pub fn sizes(&self) -> String {
        let mut by: BTreeMap<usize, usize> = BTreeMap::new();
        for o in &self.orders {
            *by.entry(o.lines).or_default() += 1;
        }
        by.iter().rev().map(|(size, count)| format!("{}×{size}", thousands(*count as u64))).collect::<Vec<_>>().join(", ")
    }

    /// The customer site whose entitlement count is closest to `target` (the first of ties).
    pub fn site_closest_to(&self, target: usize) -> usize {
        (0..SITES).min_by_key(|k| (self.per_site[*k].abs_diff(target), *k)).unwrap_or(0)
    }

    /// The biggest of the rep's 300 member sites.
    pub fn biggest_rep_site(&self) -> usize {
        (0..REP_SITES.min(SITES)).max_by_key(|k| (self.per_site[*k], usize::MAX - k)).unwrap_or(0)
    }

    /// A site the small installer reaches (one line there), also reached by the big one.
    pub fn small_installer_site(&self) -> Option<usize> {
        self.orders.iter().find(|o| o.kind == Kind::ShipSmall).map(|o| o.site)
    }

    pub fn body(&self, spec: &Spec) -> String {
        let serial = |l: usize| match spec.kind {
            Kind::Regular => format!("B{}-{l:04}", &spec.id[4..]),
            Kind::ShipBig => format!("SB{}", &spec.id[6..]),
            Kind::ShipSmall => format!("SS{}", &spec.id[6..]),
            Kind::SmallCustomer => format!("SC-{l}"),
        };
        // One-line orders would all be line 0 (expired): each order starts its lines at its
        // own place in the ten-line pattern of `line`.
        let offset = (mix(spec.id.bytes().fold(0u64, |h, b| h.wrapping_mul(31).wrapping_add(u64::from(b)))) % 10) as usize;
        let lines: Vec<serde_json::Value> = (0..spec.lines).map(|l| line(&serial(l), l + offset)).collect();
        let party = |sid: &str, name: &str, contacts: &[&str]| {
            let contacts: Vec<serde_json::Value> = contacts.iter().map(|e| serde_json::json!({"email": e})).collect();
            serde_json::json!({"site": {"support_id": sid, "name": name}, "contacts": contacts})
        };
        let (end_customer, ship_to, reseller) = match spec.kind {
            Kind::SmallCustomer => {
                (party(SMALL_SITE, "Small Customer", &[SMALL_CUSTOMER]), serde_json::Value::Null, serde_json::Value::Null)
            }
            kind => {
                let contact = site_contact(spec.site);
                let mut contacts = vec![contact.as_str()];
                if spec.rep_member {
                    contacts.push(REP);
                }
                let ship_to = match kind {
                    Kind::ShipBig => party("SHIP-1", "Installer One", &[INSTALLER]),
                    Kind::ShipSmall => party("SHIP-2", "Installer Two", &[SMALL_INSTALLER]),
                    _ => serde_json::Value::Null,
                };
                let sid = site_id(spec.site);
                (party(&sid, &format!("Customer {}", spec.site + 1), &contacts), ship_to, party(RESELLER, "Big Reseller", &[REP]))
            }
        };
        serde_json::json!({"schema": "abev.order.v1", "order_id": spec.id, "version": 1, "status": "active",
            "ordered_at": "2026-04-01T10:00:00Z", "end_customer": end_customer, "ship_to": ship_to, "reseller": reseller,
            "lines": lines})
        .to_string()
    }
}

/// A fixed pseudo-random spread (splitmix64): orders land on sites unevenly, like real ones.
fn mix(x: u64) -> u64 {
    let mut z = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// One entitlement line (about the size of a real one; a few expired, a few upcoming, and
/// one in five ending within the next 120 days, spread over them, so the renewal radar has
/// something to list).
pub fn line(serial: &str, l: usize) -> serde_json::Value {
    let soon = |l: usize| {
        let day = abev::domain::Day(abev::domain::Day::today().0 + time::Duration::days(1 + (l * 37 % 120) as i64));
        day.to_string()
    };
    let (starts, ends) = match l % 10 {
        0 => ("2023-01-01".to_string(), "2024-12-31".to_string()),
        1 => ("2099-01-01".to_string(), "2099-12-31".to_string()),
        2 | 7 => ("2026-01-01".to_string(), soon(l)),
        _ => ("2026-01-01".to_string(), "2028-12-31".to_string()),
    };
    serde_json::json!({"serial": serial, "sku": "SEP-14-STD", "product": "Endpoint Protection 14",
        "quantity": 10 + l % 90, "starts_on": starts, "ends_on": ends, "license_keys": [format!("LK-{serial}-A7F3-99QX")],
        "download_url": "https://downloads.example/sep14"})
}

/// An order message with `lines` lines (for the per-message measures, outside the world).
pub fn order_body(
    order_id: &str,
    version: u64,
    customer: &str,
    reseller: &str,
    serial_prefix: &str,
    lines: usize,
    quantity: u64,
) -> String {
    let lines: Vec<serde_json::Value> = (0..lines)
        .map(|l| {
            let mut v = line(&format!("{serial_prefix}{l:04}"), l);
            v["quantity"] = quantity.into();
            v
        })
        .collect();
    serde_json::json!({"schema": "abev.order.v1", "order_id": order_id, "version": version, "status": "active",
        "ordered_at": "2026-04-01T10:00:00Z",
        "end_customer": {"site": {"support_id": customer, "name": customer}, "contacts": [{"email": format!("it@{}.example", customer.to_lowercase())}]},
        "ship_to": {"site": {"support_id": "SHIP-X", "name": "Ship"}, "contacts": [{"email": "ship@ship-x.example"}]},
        "reseller": {"site": {"support_id": reseller, "name": reseller}, "contacts": [{"email": format!("sales@{}.example", reseller.to_lowercase())}]},
        "lines": lines})
    .to_string()
}

/// SQS's limit on a batch's total payload, with room to spare.
const BATCH_BYTES: usize = 240 * 1024;

impl Plan {
    /// The orders in `send_message_batch` batches: up to 10 messages and 240 KiB a batch.
    pub fn batches(&self) -> Vec<Vec<usize>> {
        let mut batches: Vec<Vec<usize>> = Vec::new();
        let (mut current, mut bytes) = (Vec::new(), 0usize);
        for (i, o) in self.orders.iter().enumerate() {
            // An estimate (a line is ~230 bytes of JSON) to cut batches before making bodies.
            let size = 1200 + o.lines * 240;
            if !current.is_empty() && (current.len() == 10 || bytes + size > BATCH_BYTES) {
                batches.push(std::mem::take(&mut current));
                bytes = 0;
            }
            current.push(i);
            bytes += size;
        }
        if !current.is_empty() {
            batches.push(current);
        }
        batches
    }
}

async fn send_batch(sqs: &aws_sdk_sqs::Client, queue_url: &str, plan: &Plan, batch: &[usize]) -> Result<(), String> {
    let mut entries: Vec<SendMessageBatchRequestEntry> = batch
        .iter()
        .map(|i| {
            SendMessageBatchRequestEntry::builder().id(format!("m{i}")).message_body(plan.body(&plan.orders[*i])).build().expect("entry")
        })
        .collect();
    for attempt in 0..10 {
        let out = sqs
            .send_message_batch()
            .queue_url(queue_url)
            .set_entries(Some(entries.clone()))
            .send()
            .await
            .map_err(|e| aws_sdk_sqs::error::DisplayErrorContext(e).to_string())?;
        let failed: Vec<String> = out.failed().iter().map(|f| f.id().to_string()).collect();
        if failed.is_empty() {
            return Ok(());
        }
        entries.retain(|e| failed.iter().any(|f| f == e.id()));
        tokio::time::sleep(Duration::from_millis(100 * (attempt + 1))).await;
    }
    Err("send_message_batch kept failing".to_string())
}

/// Visible and in-flight messages of a queue.
pub async fn queue_depth(sqs: &aws_sdk_sqs::Client, queue_url: &str) -> Result<(u64, u64), String> {
    let out = sqs
        .get_queue_attributes()
        .queue_url(queue_url)
        .attribute_names(QueueAttributeName::ApproximateNumberOfMessages)
        .attribute_names(QueueAttributeName::ApproximateNumberOfMessagesNotVisible)
        .send()
        .await
        .map_err(|e| aws_sdk_sqs::error::DisplayErrorContext(e).to_string())?;
    let get = |name: QueueAttributeName| out.attributes().and_then(|a| a.get(&name)).and_then(|v| v.parse().ok()).unwrap_or(0);
    Ok((get(QueueAttributeName::ApproximateNumberOfMessages), get(QueueAttributeName::ApproximateNumberOfMessagesNotVisible)))
}

/// How the world was built.
#[derive(Debug, Clone, Copy)]
pub struct Built {
    pub messages: usize,
    pub batches: usize,
    /// From the first message sent to the queue found empty.
    pub wall: Duration,
}

/// Sends every order of `plan` to the event source's queue (`send_message_batch`) while
/// `pollers` event sources drain it (each hands batches of up to 10 messages to the
/// ingestor, which handles them concurrently), like an ERP feeding the queue while the
/// event source mapping consumes it. The sender keeps at most `pollers × 20` messages
/// waiting: moto's queue operations cost time in proportion to the messages it holds, so a
/// long backlog would measure moto, not ingestion. Returns when the queue is empty.
pub async fn build(source: &EventSource, ingestor: &Ingestor, plan: &Plan, pollers: usize) -> Result<Built, String> {
    let started = Instant::now();
    let done = Arc::new(AtomicBool::new(false));
    let received = Arc::new(AtomicUsize::new(0));
    let mut tasks = Vec::new();
    for _ in 0..pollers {
        let (source, ingestor, done, received) = (source.clone(), ingestor.clone(), done.clone(), received.clone());
        tasks.push(tokio::spawn(async move {
            while !done.load(Ordering::Relaxed) {
                match source.poll_once(&ingestor).await {
                    Ok(0) => tokio::time::sleep(Duration::from_millis(20)).await,
                    Ok(k) => {
                        received.fetch_add(k, Ordering::Relaxed);
                    }
                    Err(e) => {
                        eprintln!("  polling failed: {e}");
                        tokio::time::sleep(Duration::from_millis(500)).await;
                    }
                }
            }
        }));
    }
    let batches = plan.batches();
    let cap = pollers * 20;
    let (mut sent, mut last_report) = (0usize, Instant::now());
    let report = |sent: usize, received: usize| {
        eprintln!("  {:>5.0} s: {sent} of {} messages sent, {received} received", started.elapsed().as_secs_f64(), plan.orders.len());
    };
    for batch in &batches {
        while sent.saturating_sub(received.load(Ordering::Relaxed)) > cap {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        send_batch(&source.sqs, &source.queue_url, plan, batch).await?;
        sent += batch.len();
        if last_report.elapsed() > Duration::from_secs(15) {
            last_report = Instant::now();
            report(sent, received.load(Ordering::Relaxed));
        }
    }
    loop {
        if received.load(Ordering::Relaxed) >= sent {
            let (visible, in_flight) = queue_depth(&source.sqs, &source.queue_url).await?;
            if visible == 0 && in_flight == 0 {
                break;
            }
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let wall = started.elapsed();
    done.store(true, Ordering::Relaxed);
    for t in tasks {
        let _ = t.await;
    }
    report(sent, received.load(Ordering::Relaxed));
    Ok(Built { messages: sent, batches: batches.len(), wall })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_plan_holds_what_the_report_says() {
        for n in [10_000usize, 100_000] {
            let plan = Plan::new(n);
            let (_, lines) = plan.totals();
            assert_eq!(lines, n + 3, "RES-BIG's entitlements and the small customer's");
            assert_eq!(plan.per_site.iter().sum::<usize>(), n);
            assert!(plan.per_site.iter().all(|c| *c > 0), "every customer site has entitlements");
            assert_eq!(plan.orders.iter().filter(|o| o.kind == Kind::ShipBig).count(), 2000);
            assert_eq!(plan.orders.iter().filter(|o| o.kind == Kind::ShipSmall).count(), SMALL_INSTALLER_ORDERS);
            let rep_sites: std::collections::BTreeSet<usize> = plan.orders.iter().filter(|o| o.rep_member).map(|o| o.site).collect();
            assert_eq!(rep_sites.len(), REP_SITES);
            assert!(plan.orders.iter().any(|o| o.lines == 1000) && plan.orders.iter().any(|o| o.lines == 10));
            // Serials are unique across the world.
            let mut serials = std::collections::HashSet::new();
            for o in &plan.orders {
                let body: serde_json::Value = serde_json::from_str(&plan.body(o)).unwrap();
                for l in body["lines"].as_array().unwrap() {
                    assert!(serials.insert(l["serial"].as_str().unwrap().to_string()));
                }
            }
        }
        let plan = Plan::new(100_000);
        assert!(plan.per_site[plan.site_closest_to(200)].abs_diff(200) <= 5);
        assert!(plan.per_site[plan.biggest_rep_site()] >= 1000, "the rep's list has deep pages at limit 500");
    }

    #[test]
    fn a_thousand_line_order_fits_in_one_sqs_message() {
        let plan = Plan::new(10_000);
        let big = plan.orders.iter().find(|o| o.lines == 1000).unwrap();
        assert!(plan.body(big).len() < 256 * 1024);
        assert!(order_body("MSG-1000-0", 1, "MSG-C1000", "MSG-R1000", "M1000R0-", 1000, 10).len() < 256 * 1024);
    }
}
