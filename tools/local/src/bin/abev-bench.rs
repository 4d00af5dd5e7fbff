//! `make bench`: DynamoDB cost (exact, machine-independent) and local latency of ingestion
//! and of the read side, against DynamoDB Local and moto. Prints a Markdown report.

use abev::domain::{Day, Email, SupportId};
use abev::store::metrics::{measured, Cost};
use abev::store::view::EntitlementFilter;
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

/// One row: exact cost, then the time and its ratio to the emulator's own raw speed.
fn row(name: &str, cost: Cost, elapsed: Duration, ratio: f64) -> String {
    format!(
        "| {name} | {} | {:.1} | {:.1} | {:.1} | {ratio:.2} |",
        cost.ddb_calls,
        cost.read_capacity,
        cost.write_capacity,
        elapsed.as_secs_f64() * 1000.0
    )
}

fn median(mut runs: Vec<Duration>) -> Duration {
    runs.sort();
    runs[runs.len() / 2]
}

/// The emulator's raw write ceiling in this run: items/s of sequential 25-item BatchWriteItems.
async fn raw_batch_write_rate(ddb: &aws_sdk_dynamodb::Client, table: &str) -> Result<f64, Box<dyn std::error::Error>> {
    use aws_sdk_dynamodb::types::{AttributeValue, PutRequest, WriteRequest};
    let started = Instant::now();
    let batches = 40;
    for b in 0..batches {
        let requests = (0..25)
            .map(|i| {
                let item = [
                    ("pk", AttributeValue::S(format!("RAW#{b}"))),
                    ("sk", AttributeValue::S(format!("{i:03}"))),
                    ("payload", AttributeValue::S("x".repeat(300))),
                ];
                let put = PutRequest::builder().set_item(Some(item.into_iter().map(|(k, v)| (k.to_string(), v)).collect())).build()?;
                Ok(WriteRequest::builder().put_request(put).build())
            })
            .collect::<Result<Vec<_>, aws_sdk_dynamodb::error::BuildError>>()?;
        ddb.batch_write_item().request_items(table, requests).send().await?;
    }
    Ok((batches * 25) as f64 / started.elapsed().as_secs_f64())
}

/// The emulator's raw read speed in this run: the median of 20 one-request Queries of `limit`
/// items of a site's entitlement index.
async fn raw_query(ddb: &aws_sdk_dynamodb::Client, table: &str, site: &str, limit: i32) -> Result<Duration, Box<dyn std::error::Error>> {
    use aws_sdk_dynamodb::types::AttributeValue;
    let mut runs = Vec::new();
    for _ in 0..20 {
        let started = Instant::now();
        let out = ddb
            .query()
            .table_name(table)
            .index_name("gsi1")
            .key_condition_expression("gsi1pk = :p")
            .expression_attribute_values(":p", AttributeValue::S(format!("SITE#{site}#ENT")))
            .limit(limit)
            .send()
            .await?;
        assert_eq!(out.count, limit, "the raw query reads a full page");
        runs.push(started.elapsed());
    }
    Ok(median(runs))
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let ddb_url = std::env::var("ABEV_DYNAMODB_URL").unwrap_or_else(|_| "http://127.0.0.1:8000".into());
    let sqs_url = std::env::var("ABEV_SQS_URL").unwrap_or_else(|_| "http://127.0.0.1:9324".into());
    let clients = abev::app::Clients::local(&ddb_url, &sqs_url);
    let (ddb, sqs) = (clients.dynamodb.clone(), clients.sqs.clone());
    let template = std::fs::read_to_string("template.yaml")?;
    let stack = abev_local::infra::create(&ddb, &sqs, &template, &format!("bench{}", std::process::id())).await?;
    let ingestor = abev::app::ingestor(&clients, &stack.ingest_settings());
    let store = ingestor.store.clone();

    let raw_write = raw_batch_write_rate(&ddb, &stack.table).await?;
    println!("## Ingestion, one message (exact DynamoDB cost; time on this machine)\n");
    println!("Raw write ceiling of the emulator in this run: {raw_write:.0} items/s (sequential 25-item BatchWriteItems).\n");
    println!("| message | DynamoDB calls | read capacity | write capacity | ms | lines/s ÷ raw ceiling |\n|---|---|---|---|---|---|");
    let vs_raw = |lines: usize, elapsed: Duration| lines as f64 / elapsed.as_secs_f64() / raw_write;
    for lines in [1usize, 10, 100, 1000] {
        let body = order(&format!("O-{lines}"), 1, "CUST-A", "RES-A", &format!("N{lines}-"), lines);
        let started = Instant::now();
        let (outcome, cost) = measured(ingestor.handle_message("bench", &body)).await;
        assert!(outcome.acknowledged(), "{outcome:?}");
        let elapsed = started.elapsed();
        println!("{}", row(&format!("new order, {lines} lines"), cost, elapsed, vs_raw(lines, elapsed)));
        if lines == 100 {
            let started = Instant::now();
            let (_, cost) = measured(ingestor.handle_message("bench", &body)).await;
            let elapsed = started.elapsed();
            println!("{}", row("duplicate redelivery, 100 lines", cost, elapsed, vs_raw(lines, elapsed)));
            let v2 = order(&format!("O-{lines}"), 2, "CUST-A", "RES-A", &format!("N{lines}-"), lines);
            let started = Instant::now();
            let (_, cost) = measured(ingestor.handle_message("bench", &v2)).await;
            let elapsed = started.elapsed();
            println!("{}", row("version 2 replacing 100 lines", cost, elapsed, vs_raw(lines, elapsed)));
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

    let raw = raw_query(&ddb, &stack.table, "CUST-A", 100).await?;
    println!("## Reads, one page (limit 100)\n");
    println!(
        "Raw speed of the emulator in this run: one 100-item index Query takes {:.1} ms (median of 20).\n",
        raw.as_secs_f64() * 1000.0
    );
    println!("| request | DynamoDB calls | read capacity | write capacity | ms (median of 20) | × raw Query |\n|---|---|---|---|---|---|");
    let vs_query = |elapsed: Duration| elapsed.as_secs_f64() / raw.as_secs_f64();
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
            let (_, c) = measured(async { store.view_sites(&email, Default::default(), None, 100).await.expect("sites") }).await;
            runs.push(started.elapsed());
            cost = c;
        }
        let m = median(runs);
        println!("{}", row(&format!("GET /v1/view — {who}"), cost, m, vs_query(m)));
        let mut runs = Vec::new();
        for _ in 0..20 {
            let started = Instant::now();
            let (_, c) = measured(async {
                store
                    .site_entitlements(&email, Default::default(), &site, None, 100, &EntitlementFilter::default(), Day::today())
                    .await
                    .expect("entitlements")
            })
            .await;
            runs.push(started.elapsed());
            cost = c;
        }
        let m = median(runs);
        println!("{}", row(&format!("GET /v1/view/sites/{site}/entitlements — {who}"), cost, m, vs_query(m)));
    }
    let email = Email::parse("admin@cust-a.example")?;
    let serial = abev::domain::Serial::parse("N100-00001")?;
    let started = Instant::now();
    let (_, cost) = measured(async {
        let (e, _) = store.entitlement(&email, &serial, Day::today(), Default::default()).await.expect("detail").expect("visible");
        store.record_entitlement_read(&email, &serial, &e.access, "bench").await.expect("audit");
    })
    .await;
    let elapsed = started.elapsed();
    println!("{}", row("GET /v1/entitlements/{serial} (with audit write)", cost, elapsed, vs_query(elapsed)));
    Ok(())
}
