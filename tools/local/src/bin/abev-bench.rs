//! `make bench`: DynamoDB cost (exact, machine-independent) and local latency of ingestion
//! and of the read side, against DynamoDB Local and moto. Prints a Markdown report.

use abev::domain::{Day, Email, SupportId};
use abev::ingest::Ingestor;
use abev::store::metrics::{measured, Cost};
use abev::store::orders::ApplyOptions;
use abev::store::view::EntitlementFilter;
use abev::store::Store;
use abev_local::event_source::EventSource;
use std::time::{Duration, Instant};

fn order(order_id: &str, version: u64, customer: &str, reseller: &str, serial_prefix: &str, lines: usize) -> String {
    let lines: Vec<serde_json::Value> = (0..lines)
        .map(|i| {
            serde_json::json!({"serial": format!("{serial_prefix}{i:05}"), "sku": "SEP-14", "product": "Endpoint Protection 14",
            "quantity": 10, "starts_on": "2026-01-01", "ends_on": "2099-12-31", "license_keys": [format!("LK-{i}")],
            "download_url": "https://downloads.example/sep"})
        })
        .collect();
    serde_json::json!({"schema": "abev.order.v1", "order_id": order_id, "version": version, "status": "active",
        "ordered_at": "2026-04-01T10:00:00Z",
        "end_customer": {"site": {"support_id": customer, "name": customer}, "contacts": [{"email": format!("admin@{}.example", customer.to_lowercase())}]},
        "ship_to": {"site": {"support_id": "SHIP-1", "name": "Ship"}, "contacts": [{"email": "ship@ship.example"}]},
        "reseller": {"site": {"support_id": reseller, "name": reseller}, "contacts": [{"email": format!("sales@{}.example", reseller.to_lowercase())}]},
        "lines": lines})
    .to_string()
}

fn row(name: &str, cost: Cost, elapsed: Duration) -> String {
    format!(
        "| {name} | {} | {:.1} | {:.1} | {:.0} |",
        cost.ddb_calls,
        cost.read_capacity,
        cost.write_capacity,
        elapsed.as_secs_f64() * 1000.0
    )
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let ddb_url = std::env::var("ABEV_DYNAMODB_URL").unwrap_or_else(|_| "http://127.0.0.1:8000".into());
    let sqs_url = std::env::var("ABEV_SQS_URL").unwrap_or_else(|_| "http://127.0.0.1:9324".into());
    let (ddb, sqs) = abev::aws::local_clients(&ddb_url, &sqs_url);
    let template = std::fs::read_to_string("template.yaml")?;
    let stack = abev_local::infra::create(&ddb, &sqs, &template, &format!("bench{}", std::process::id())).await?;
    let store = Store::new(ddb.clone(), stack.table.clone());
    let ingestor = Ingestor {
        store: store.clone(),
        sqs: sqs.clone(),
        dead_letter_queue_url: stack.orders_dlq().into(),
        options: ApplyOptions::default(),
        max_receive_count: abev::ingest::DEFAULT_MAX_RECEIVE_COUNT,
    };

    println!("## Ingestion, one message (exact DynamoDB cost; time on this machine)\n");
    println!("| message | DynamoDB calls | read capacity | write capacity | ms |\n|---|---|---|---|---|");
    for lines in [1usize, 10, 100, 1000] {
        let body = order(&format!("O-{lines}"), 1, "CUST-A", "RES-A", &format!("N{lines}-"), lines);
        let started = Instant::now();
        let (outcome, cost) = measured(ingestor.handle_message("bench", &body)).await;
        assert!(outcome.acknowledged(), "{outcome:?}");
        println!("{}", row(&format!("new order, {lines} lines"), cost, started.elapsed()));
        if lines == 100 {
            let started = Instant::now();
            let (_, cost) = measured(ingestor.handle_message("bench", &body)).await;
            println!("{}", row("duplicate redelivery, 100 lines", cost, started.elapsed()));
            let v2 = order(&format!("O-{lines}"), 2, "CUST-A", "RES-A", &format!("N{lines}-"), lines);
            let started = Instant::now();
            let (_, cost) = measured(ingestor.handle_message("bench", &v2)).await;
            println!("{}", row("version 2 replacing 100 lines", cost, started.elapsed()));
        }
    }

    // Throughput through the queue, the way the event source mapping feeds the function.
    let source =
        EventSource { sqs: sqs.clone(), queue_url: stack.orders_queue().into(), wait: Duration::ZERO, retry_after: Duration::from_secs(1) };
    let n = 200;
    for i in 0..n {
        sqs.send_message()
            .queue_url(stack.orders_queue())
            .message_body(order(&format!("T-{i}"), 1, &format!("CUST-{:02}", i % 50), "RES-T", &format!("T{i}-"), 3))
            .send()
            .await?;
    }
    let started = Instant::now();
    while source.poll_once(&ingestor).await? > 0 {}
    let elapsed = started.elapsed();
    println!(
        "\nQueue throughput: {n} orders of 3 lines in {:.1} s = {:.0} orders/s (one consumer, batches of 10 handled concurrently).\n",
        elapsed.as_secs_f64(),
        n as f64 / elapsed.as_secs_f64()
    );

    println!("## Reads, one page (limit 100)\n");
    println!("| request | DynamoDB calls | read capacity | write capacity | ms (median of 20) |\n|---|---|---|---|---|");
    for (who, email, site) in [
        ("customer, 1,111 entitlements", "admin@cust-a.example", "CUST-A"),
        ("reseller RES-T, 600 entitlements over 50 sites", "sales@res-t.example", "CUST-07"),
        ("ship-to contact", "ship@ship.example", "CUST-A"),
    ] {
        let email = Email::parse(email)?;
        let site = SupportId::parse(site)?;
        let mut runs = Vec::new();
        let mut cost = Cost::default();
        for _ in 0..20 {
            let started = Instant::now();
            let (_, c) = measured(async {
                let reach = store.contact_reach(&email).await.expect("reach");
                store.view_sites(&reach, None, 100).await.expect("sites")
            })
            .await;
            runs.push(started.elapsed());
            cost = c;
        }
        runs.sort();
        println!("{}", row(&format!("GET /v1/view — {who}"), cost, runs[10]));
        let mut runs = Vec::new();
        for _ in 0..20 {
            let started = Instant::now();
            let (_, c) = measured(async {
                let reach = store.contact_reach(&email).await.expect("reach");
                store.site_entitlements(&reach, &site, None, 100, &EntitlementFilter::default(), Day::today()).await.expect("entitlements")
            })
            .await;
            runs.push(started.elapsed());
            cost = c;
        }
        runs.sort();
        println!("{}", row(&format!("GET /v1/view/sites/{site}/entitlements — {who}"), cost, runs[10]));
    }
    let email = Email::parse("admin@cust-a.example")?;
    let serial = abev::domain::Serial::parse("N100-00001")?;
    let started = Instant::now();
    let (_, cost) = measured(async {
        let (e, _) = store.entitlement(&email, &serial, Day::today(), Default::default()).await.expect("detail").expect("visible");
        store.record_entitlement_read(&email, &serial, &e.access, "bench").await.expect("audit");
    })
    .await;
    println!("{}", row("GET /v1/entitlements/{serial} (with audit write)", cost, started.elapsed()));
    Ok(())
}
