//! `make bench`: DynamoDB cost (exact, machine-independent) and local latency of the HTTP
//! API and of ingestion, in a realistic world built through the orders queue, against
//! DynamoDB Local and moto. Prints a Markdown report on stdout, progress on stderr.
//!
//! `ABEV_BENCH_N` (default 100000): RES-BIG's entitlements; `ABEV_BENCH_RUNS` (default 30,
//! at least 20): timed runs per page; `ABEV_BENCH_POLLERS` (default 4): concurrent pollers of
//! the orders queue while the world is built.

use abev::store::metrics::{measured, Cost};
use abev_local::bench::api::{Answer, Api};
use abev_local::bench::meter::{AwsWrites, Index, WriteMeter};
use abev_local::bench::stats::{f, n as thousands, rcu_floor, Runs, Spread};
use abev_local::bench::world::{self, Plan};
use abev_local::bench::{clients, encode};
use abev_local::event_source::EventSource;
use abev_local::infra::TableStream;
use aws_sdk_dynamodb::types::{AttributeValue, PutRequest, ReturnConsumedCapacity, WriteRequest};
use axum::http::Method;
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

type BoxError = Box<dyn std::error::Error + Send + Sync>;

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name).ok().and_then(|v| v.replace('_', "").parse().ok()).unwrap_or(default)
}

fn progress(started: Instant, what: &str) {
    eprintln!("[{:>6.1} s] {what}", started.elapsed().as_secs_f64());
}

/// The emulator's raw write ceiling: items/s of 40 sequential 25-item BatchWriteItems, into
/// one partition that the raw Queries then read.
async fn raw_batch_write_rate(ddb: &aws_sdk_dynamodb::Client, table: &str) -> Result<f64, BoxError> {
    let started = Instant::now();
    let batches = 40;
    for b in 0..batches {
        let requests = (0..25)
            .map(|i| {
                let item = [
                    ("pk", AttributeValue::S("RAW#Q".into())),
                    ("sk", AttributeValue::S(format!("{:04}", b * 25 + i))),
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

/// One raw Query of `limit` items (~330 bytes each) from one partition, eventually
/// consistent: its timings over `runs` and its RCU.
async fn raw_query(ddb: &aws_sdk_dynamodb::Client, table: &str, limit: i32, runs: usize) -> Result<(Runs, f64), BoxError> {
    let mut timings = Runs::default();
    let mut rcu = 0.0;
    // One more than `runs`: the first warms the connection up and is not counted.
    for run in 0..=runs {
        let started = Instant::now();
        let out = ddb
            .query()
            .table_name(table)
            .key_condition_expression("pk = :p")
            .expression_attribute_values(":p", AttributeValue::S("RAW#Q".into()))
            .limit(limit)
            .return_consumed_capacity(ReturnConsumedCapacity::Total)
            .send()
            .await?;
        let elapsed = started.elapsed();
        assert_eq!(out.count, limit, "the raw query reads a full page");
        rcu = out.consumed_capacity().and_then(|c| c.capacity_units()).unwrap_or(0.0);
        if run > 0 {
            timings.push(elapsed);
        }
    }
    Ok((timings, rcu))
}

/// The costs of repeated runs of one unit of work: rounds and calls over all runs, the
/// capacity of the last.
#[derive(Debug, Default, Clone, Copy)]
struct Seen {
    rounds: Spread,
    calls: Spread,
    last: Cost,
    writes: AwsWrites,
}

impl Seen {
    fn add(&mut self, cost: Cost, writes: AwsWrites) {
        self.rounds.add(cost.sequential_rounds);
        self.calls.add(cost.ddb_calls);
        (self.last, self.writes) = (cost, writes);
    }

    /// Rounds, calls, the emulator's RCU and WCU, and AWS's WCU.
    fn cells(&self) -> String {
        format!(
            "{} | {} | {} | {} | {} ({} + {})",
            self.rounds,
            self.calls,
            f(self.last.read_capacity, 1),
            f(self.last.write_capacity, 1),
            f(self.writes.total(), 0),
            f(self.writes.table, 0),
            f(self.writes.index, 0)
        )
    }
}

struct Who {
    label: String,
    reaches: String,
    email: String,
    site: String,
}

struct PageRow {
    items: usize,
    bytes: usize,
    seen: Seen,
    runs: Runs,
    page: usize,
}

/// Times `runs` calls of `path` as `email` (after one warm-up call).
async fn time_page(api: &Api, email: &str, path: &str, runs: usize, page: usize) -> PageRow {
    let first = api.view(email, path).await;
    assert_eq!(first.status, 200, "GET {path} as {email}: {}", first.json);
    let mut timings = Runs::default();
    let mut seen = Seen::default();
    let mut last: Answer = first;
    for _ in 0..runs {
        last = api.view(email, path).await;
        timings.push(last.elapsed);
        seen.add(last.cost, last.writes);
    }
    let items = last.count("sites").max(last.count("entitlements"));
    PageRow { items, bytes: last.bytes, seen, runs: timings, page }
}

fn with_query(base: &str, limit: usize, cursor: Option<&str>) -> String {
    match cursor {
        Some(c) => format!("{base}?limit={limit}&cursor={}", encode(c)),
        None => format!("{base}?limit={limit}"),
    }
}

#[tokio::main]
async fn main() -> Result<(), BoxError> {
    let started = Instant::now();
    let ddb_url = std::env::var("ABEV_DYNAMODB_URL").unwrap_or_else(|_| "http://127.0.0.1:8000".into());
    let sqs_url = std::env::var("ABEV_SQS_URL").unwrap_or_else(|_| "http://127.0.0.1:9324".into());
    let meter = WriteMeter::default();
    let clients = clients(&ddb_url, &sqs_url, &meter);
    let (ddb, sqs) = (clients.dynamodb.clone(), clients.sqs.clone());
    let template = std::fs::read_to_string("template.yaml")?;
    // No stream on the measured table: DynamoDB Local slows every write as stream records pile
    // up (AWS does not), so the ingestion figures would measure the emulator's stream store.
    // The events lag below has a stack of its own, with the stream.
    let stack = abev_local::infra::create_with(&ddb, &sqs, &template, &format!("bench{}", std::process::id()), TableStream::Off).await?;
    progress(started, &format!("stack {} created", stack.table));
    // The whole run in one task (measured units are per task); a panic still cleans up.
    let outcome = tokio::spawn(bench(clients, stack.clone(), meter, started)).await;
    // The emulators are shared and in memory: give back what the run took (unless asked to keep it).
    if std::env::var("ABEV_BENCH_KEEP").is_ok_and(|v| v == "1") {
        progress(started, &format!("kept table {} and its queues (ABEV_BENCH_KEEP=1)", stack.table));
    } else {
        let _ = ddb.delete_table().table_name(&stack.table).send().await;
        for url in stack.queues.values() {
            let _ = sqs.delete_queue().queue_url(url).send().await;
        }
        progress(started, &format!("deleted table {} and its queues", stack.table));
    }
    match outcome {
        Ok(result) => result,
        Err(e) => Err(format!("the bench failed: {e}").into()),
    }
}

async fn bench(
    clients: abev::app::Clients,
    stack: abev_local::infra::LocalStack,
    meter: WriteMeter,
    started: Instant,
) -> Result<(), BoxError> {
    let n = env_usize("ABEV_BENCH_N", 100_000).max(1_000);
    let runs = env_usize("ABEV_BENCH_RUNS", 30).max(20);
    let pollers = env_usize("ABEV_BENCH_POLLERS", 4).max(1);
    let (ddb, sqs) = (clients.dynamodb.clone(), clients.sqs.clone());
    let described = ddb.describe_table().table_name(&stack.table).send().await?;
    let indexes = described
        .table()
        .map(|t| t.global_secondary_indexes())
        .unwrap_or_default()
        .iter()
        .map(|ix| {
            let key = |kind: aws_sdk_dynamodb::types::KeyType| {
                ix.key_schema().iter().find(|k| *k.key_type() == kind).map(|k| k.attribute_name().to_string())
            };
            Index {
                name: ix.index_name().unwrap_or_default().to_string(),
                hash: key(aws_sdk_dynamodb::types::KeyType::Hash).unwrap_or_default(),
                range: key(aws_sdk_dynamodb::types::KeyType::Range),
            }
        })
        .collect::<Vec<_>>();
    let index_names = indexes.iter().map(|i| i.name.clone()).collect::<Vec<_>>().join(", ");
    meter.set_indexes(indexes);
    let ingestor = abev::app::ingestor(&clients, &stack.ingest_settings());
    let state = abev::app::access_state(&clients, &stack.access_settings("abev-bench-cursor-secret", 14), &abev::http::Settings::default());
    let api = Api::new(state, meter.clone());

    println!(
        "Command: `ABEV_BENCH_N={n} ABEV_BENCH_RUNS={runs} ABEV_BENCH_POLLERS={pollers} {}`\n",
        std::env::args().collect::<Vec<_>>().join(" ")
    );

    // ---- the emulator's raw speed -------------------------------------------------------
    progress(started, "raw emulator speed");
    let raw_write = raw_batch_write_rate(&ddb, &stack.table).await?;
    let mut raw = BTreeMap::new();
    println!("## The emulator's raw speed in this run\n");
    println!("| raw operation | items | RCU | p50 ms | p99 ms |\n|---|---|---|---|---|");
    for limit in [50usize, 100, 500] {
        let (timings, rcu) = raw_query(&ddb, &stack.table, limit as i32, runs).await?;
        println!(
            "| one `Query` (one partition, items of ~330 bytes, eventually consistent) | {limit} | {} | {} | {} |",
            f(rcu, 1),
            f(timings.p50(), 2),
            f(timings.p99(), 2)
        );
        raw.insert(limit, timings.p50());
    }
    println!("\nRaw write ceiling: **{raw_write:.0} items/s** (40 sequential 25-item `BatchWriteItem`s of ~330-byte items).\n");

    // ---- one message of each size, outside the world --------------------------------------
    progress(started, "ingestion, one message of each size");
    meter.enable(true);
    println!("## Ingestion: one order message (`Ingestor::handle_message`, outside the world)\n");
    println!(
        "| message | lines | rounds | calls | RCU | WCU (emulator) | WCU in AWS (table + {index_names}) | AWS WCU per line | p50 ms | lines/s | ÷ raw ceiling |\n|---|---|---|---|---|---|---|---|---|---|---|"
    );
    for lines in [1usize, 10, 100, 1000] {
        let repeats = if lines == 1000 { 3 } else { 5 };
        let customer = format!("MSG-C{lines}");
        let reseller = format!("MSG-R{lines}");
        let mut timings = Runs::default();
        let mut seen = Seen::default();
        let mut bodies = Vec::new();
        for r in 0..repeats {
            let body = world::order_body(&format!("MSG-{lines}-{r}"), 1, &customer, &reseller, &format!("M{lines}R{r}-"), lines, 10);
            let _ = meter.take();
            let t = Instant::now();
            let (outcome, c) = measured(ingestor.handle_message("bench", &body)).await;
            timings.push(t.elapsed());
            assert_eq!(outcome, abev::ingest::MessageOutcome::Applied, "{lines} lines");
            seen.add(c, meter.take());
            bodies.push(body);
        }
        let row = |label: &str, lines: usize, seen: &Seen, timings: &Runs| {
            let p50 = timings.p50();
            let rate = lines as f64 / (p50 / 1000.0);
            format!(
                "| {label} | {lines} | {} | {} | {} | {} | {} |",
                seen.cells(),
                f(seen.writes.total() / lines as f64, 2),
                f(p50, 1),
                f(rate, 0),
                f(rate / raw_write, 2)
            )
        };
        println!("{}", row(&format!("new order, {lines} line{}", if lines == 1 { "" } else { "s" }), lines, &seen, &timings));
        if lines == 100 {
            let (mut timings, mut seen) = (Runs::default(), Seen::default());
            for body in &bodies {
                let _ = meter.take();
                let t = Instant::now();
                let (outcome, c) = measured(ingestor.handle_message("bench", body)).await;
                timings.push(t.elapsed());
                assert_eq!(outcome, abev::ingest::MessageOutcome::Duplicate);
                seen.add(c, meter.take());
            }
            println!("{}", row("duplicate redelivery, 100 lines", lines, &seen, &timings));
            let (mut timings, mut seen) = (Runs::default(), Seen::default());
            for r in 0..repeats {
                let v2 = world::order_body(&format!("MSG-{lines}-{r}"), 2, &customer, &reseller, &format!("M{lines}R{r}-"), lines, 20);
                let _ = meter.take();
                let t = Instant::now();
                let (outcome, c) = measured(ingestor.handle_message("bench", &v2)).await;
                timings.push(t.elapsed());
                assert_eq!(outcome, abev::ingest::MessageOutcome::Applied);
                seen.add(c, meter.take());
            }
            println!("{}", row("version 2 replacing its 100 lines", lines, &seen, &timings));
        }
    }
    meter.enable(false);
    println!(
        "\nEach row: 5 runs (3 of 1,000 lines), each a new order (or its redelivery, or its version 2) of one customer and reseller per size. \
         Rounds and calls: over the runs (`a–b` when they differed); capacity: the last run; time: p50 of the runs.\n"
    );

    // Before the world: DynamoDB Local's DescribeStream reads every stream record it holds,
    // so behind the world's stream one poll takes minutes (an emulator cost, not AWS's).
    events_lag(&clients, &meter, started).await?;

    // ---- the world, through the queue -----------------------------------------------------
    let plan = Plan::new(n);
    let (messages, lines) = plan.totals();
    progress(started, &format!("world: {messages} order messages ({lines} lines) through the queue, {pollers} pollers"));
    let source =
        EventSource { sqs: sqs.clone(), queue_url: stack.orders_queue().into(), wait: Duration::ZERO, retry_after: Duration::from_secs(1) };
    let built = world::build(&source, &ingestor, &plan, pollers).await?;
    let ingest_time = built.wall;
    let (dead, _) = world::queue_depth(&sqs, stack.orders_dlq()).await?;
    progress(started, &format!("world: ingested in {:.1} s", ingest_time.as_secs_f64()));
    let rate = lines as f64 / ingest_time.as_secs_f64();
    println!("## The world\n");
    println!(
        "RES-BIG: {} entitlements over {} customer sites, in {} orders ({}); plus `{}` (3 entitlements, a direct sale).\n",
        thousands(n as u64),
        world::SITES,
        thousands(messages as u64 - 1),
        plan.sizes(),
        world::SMALL_SITE
    );
    println!(
        "Built through the orders queue: {} messages sent with `SendMessageBatch` ({} batches) while {pollers} `EventSource` pollers \
         drained it (batches of 10, handled concurrently by the ingestor): **{:.1} s from the first send to an empty queue = {:.0} lines/s \
         = {:.1} messages/s** ({} × the raw write ceiling). Orders dead-lettered: {dead}.\n",
        thousands(built.messages as u64),
        thousands(built.batches as u64),
        ingest_time.as_secs_f64(),
        rate,
        built.messages as f64 / ingest_time.as_secs_f64(),
        f(rate / raw_write, 2)
    );

    // ---- a site admin, through the access API ---------------------------------------------
    let admin_k = plan.site_closest_to(n / world::SITES);
    let admin_site = world::site_id(admin_k);
    let admin = format!("admin@cust-{:04}.example", admin_k + 1);
    let mut access_rows: Vec<(String, Vec<Answer>)> = Vec::new();
    let care = "agent@care.example";
    let mut escalated = Vec::new();
    let mut care_approvals = Vec::new();
    let created = api
        .access(Method::POST, &admin, false, "/v1/access-requests", Some(serde_json::json!({"support_id": admin_site, "role": "admin"})))
        .await;
    assert_eq!(created.status, 201, "{}", created.json);
    let id = created.json["request_id"].as_str().unwrap_or_default().to_string();
    let approved = api.access(Method::POST, care, true, &format!("/v1/access-requests/{id}/approve"), Some(serde_json::json!({}))).await;
    assert_eq!(approved.status, 200, "{}", approved.json);
    escalated.push(created);
    care_approvals.push(approved);

    // ---- the world is what it should be ---------------------------------------------------
    let walk = |email: String| {
        let api = api.clone();
        async move {
            let (mut sites, mut ents, mut cursor) = (0u64, 0u64, None::<String>);
            loop {
                let a = api.view(&email, &with_query("/v1/view", 500, cursor.as_deref())).await;
                assert_eq!(a.status, 200, "{}", a.json);
                let page = a.json["sites"].as_array().cloned().unwrap_or_default();
                sites += page.len() as u64;
                ents += page.iter().map(|s| s["entitlement_count"].as_u64().unwrap_or(0)).sum::<u64>();
                match a.next_cursor() {
                    Some(c) => cursor = Some(c),
                    None => return (sites, ents),
                }
            }
        }
    };
    let (rep_sites, rep_ents) = walk(world::REP.into()).await;
    let (inst_sites, inst_ents) = walk(world::INSTALLER.into()).await;
    let ok = rep_ents == n as u64 && inst_ents == plan.ship_big as u64;
    println!(
        "Check through `GET /v1/view`: `{}` sees {} entitlements over {} sites; `{}` sees {} over {} sites{}.\n",
        world::REP,
        thousands(rep_ents),
        rep_sites,
        world::INSTALLER,
        thousands(inst_ents),
        inst_sites,
        if ok { "" } else { " — **NOT what was sent: the world is incomplete**" }
    );
    if !ok {
        return Err(format!(
            "the world check failed: {} sees {rep_ents} entitlements (sent {n}), {} sees {inst_ents} (sent {}); no figures from a wrong world",
            world::REP,
            world::INSTALLER,
            plan.ship_big
        )
        .into());
    }

    // ---- pages -----------------------------------------------------------------------------
    let inst_k = plan.small_installer_site().unwrap_or(0);
    let rep_k = plan.biggest_rep_site();
    let who = vec![
        Who {
            label: "small customer".into(),
            reaches: format!("member of `{}` (P1): 3 entitlements", world::SMALL_SITE),
            email: world::SMALL_CUSTOMER.into(),
            site: world::SMALL_SITE.into(),
        },
        Who {
            label: "site admin".into(),
            reaches: format!(
                "admin of `{admin_site}` (made admin by Care through the access API): {} entitlements",
                plan.per_site[admin_k]
            ),
            email: admin.clone(),
            site: admin_site.clone(),
        },
        Who {
            label: "reseller contact".into(),
            reaches: format!(
                "member of `{}` (P2, R3: all {} sites) and of {} customer sites (P1); its list: `{}`, {} entitlements",
                world::RESELLER,
                world::SITES,
                world::REP_SITES,
                world::site_id(rep_k),
                plan.per_site[rep_k]
            ),
            email: world::REP.into(),
            site: world::site_id(rep_k),
        },
        Who {
            label: format!("ship-to on {}", thousands(plan.ship_big as u64)),
            reaches: format!(
                "ship-to grants on {} one-line orders over {} sites (R2); its list: `{}`",
                thousands(plan.ship_big as u64),
                plan.ship_big.min(world::SITES),
                world::site_id(inst_k)
            ),
            email: world::INSTALLER.into(),
            site: world::site_id(inst_k),
        },
        Who {
            label: format!("ship-to on {}", world::SMALL_INSTALLER_ORDERS),
            reaches: format!(
                "ship-to grants on {} one-line orders over {} sites (R2); its list: `{}`",
                world::SMALL_INSTALLER_ORDERS,
                world::SMALL_INSTALLER_ORDERS,
                world::site_id(inst_k)
            ),
            email: world::SMALL_INSTALLER.into(),
            site: world::site_id(inst_k),
        },
    ];
    println!("## Pages through the HTTP API (the view router, in-process)\n");
    println!("| contact | e-mail | reaches |\n|---|---|---|");
    for w in &who {
        println!("| {} | `{}` | {} |", w.label, w.email, w.reaches);
    }
    // The raw speed again, now, beside the pages (the emulator's speed drifts in a long run).
    let mut raw_now = Vec::new();
    for limit in [50usize, 100, 500] {
        let (timings, _) = raw_query(&ddb, &stack.table, limit as i32, runs).await?;
        raw.insert(limit, timings.p50());
        raw_now.push(format!("{limit} items {} ms", f(timings.p50(), 2)));
    }
    println!(
        "\nPage 1 is the first page; a deeper page (the 4th, or the last if there are fewer) is measured where the list has more than one. \
         Each page: {runs} timed runs after one warm-up; rounds and calls over the runs (`a–b` when they differed), RCU and items of the \
         last run. `p50 ÷ raw Query` divides by the p50 of a raw `Query` of `limit` items measured just before the pages ({}).\n",
        raw_now.join(", ")
    );
    println!(
        "| contact | route | limit | page | items | rounds | calls | RCU | RCU floor | RCU ÷ floor | p50 ms | p99 ms | p50 ÷ raw Query |\n|---|---|---|---|---|---|---|---|---|---|---|---|---|"
    );
    let deep_hops = 3;
    let mut p50s: BTreeMap<(String, &str, usize), f64> = BTreeMap::new();
    for w in &who {
        progress(started, &format!("pages: {}", w.email));
        for (route, base) in
            [("GET /v1/view", "/v1/view".to_string()), ("GET …/entitlements", format!("/v1/view/sites/{}/entitlements", w.site))]
        {
            let route_label =
                if route == "GET /v1/view" { route.to_string() } else { format!("GET /v1/view/sites/{}/entitlements", w.site) };
            for limit in [50usize, 100, 500] {
                let first_path = with_query(&base, limit, None);
                let first = time_page(&api, &w.email, &first_path, runs, 1).await;
                // Deep: follow next_cursor up to `deep_hops` pages in.
                let mut cursor = api.view(&w.email, &first_path).await.next_cursor();
                let mut deep = None;
                let mut page = 1;
                while let Some(c) = cursor.take() {
                    page += 1;
                    let path = with_query(&base, limit, Some(&c));
                    if page == deep_hops + 1 {
                        deep = Some(path);
                        break;
                    }
                    let a = api.view(&w.email, &path).await;
                    cursor = a.next_cursor();
                    deep = Some(path);
                }
                let deep = match deep {
                    Some(path) => Some(time_page(&api, &w.email, &path, runs, page).await),
                    None => None,
                };
                p50s.insert((w.email.clone(), route, limit), first.runs.p50());
                for row in [Some(first), deep].into_iter().flatten() {
                    let floor = rcu_floor(row.bytes);
                    let p50 = row.runs.p50();
                    println!(
                        "| {} | {route_label} | {limit} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |",
                        w.label,
                        row.page,
                        row.items,
                        row.seen.rounds,
                        row.seen.calls,
                        f(row.seen.last.read_capacity, 1),
                        f(floor, 1),
                        f(row.seen.last.read_capacity / floor, 1),
                        f(p50, 2),
                        f(row.runs.p99(), 2),
                        f(p50 / raw[&limit], 2)
                    );
                }
            }
        }
    }
    println!(
        "\nShip-to contact on {} orders ÷ on {} orders, p50 of the first page (the same list `{}`):\n",
        thousands(plan.ship_big as u64),
        world::SMALL_INSTALLER_ORDERS,
        world::site_id(inst_k)
    );
    println!("| route | limit 50 | limit 100 | limit 500 |\n|---|---|---|---|");
    for route in ["GET /v1/view", "GET …/entitlements"] {
        let ratio = |limit: usize| {
            let big = p50s.get(&(world::INSTALLER.to_string(), route, limit));
            let small = p50s.get(&(world::SMALL_INSTALLER.to_string(), route, limit));
            match (big, small) {
                (Some(b), Some(s)) => f(b / s, 2),
                _ => "—".into(),
            }
        };
        let route_label =
            if route == "GET /v1/view" { route.to_string() } else { format!("GET /v1/view/sites/{}/entitlements", world::site_id(inst_k)) };
        println!("| {route_label} | {} | {} | {} |", ratio(50), ratio(100), ratio(500));
    }
    println!();

    // ---- the renewal radar ----------------------------------------------------------------
    progress(started, "renewal radar");
    println!("## The renewal radar (`GET /v1/renewals?within_days=90`, the view router in-process)\n");
    println!(
        "One line in five of the world ends within the next 120 days (spread over them). Each page: {runs} timed runs after one warm-up, \
         as the pages above; `items` are the page's entitlements; the walk follows `next_cursor` to the end once.\n"
    );
    println!(
        "| contact | limit | page | items | rounds | calls | RCU | RCU floor | RCU ÷ floor | p50 ms | p99 ms | p50 ÷ raw Query | walk: pages, within 30 / 60 / 90 |\n|---|---|---|---|---|---|---|---|---|---|---|---|---|"
    );
    for w in who.iter().filter(|w| [world::REP, world::INSTALLER, world::SMALL_CUSTOMER].contains(&w.email.as_str())) {
        progress(started, &format!("radar: {}", w.email));
        for limit in [50usize, 100, 500] {
            let base = "/v1/renewals?within_days=90";
            let page_path = |cursor: Option<&str>| match cursor {
                Some(c) => format!("{base}&limit={limit}&cursor={}", encode(c)),
                None => format!("{base}&limit={limit}"),
            };
            // The walk: every page once, its counts summed; the 2nd page is timed as the deep one.
            let (mut pages, mut counts, mut cursor, mut second) = (0usize, [0u64; 3], None::<String>, None::<String>);
            loop {
                let path = page_path(cursor.as_deref());
                let a = api.view(&w.email, &path).await;
                assert_eq!(a.status, 200, "GET {path} as {}: {}", w.email, a.json);
                pages += 1;
                for (i, k) in ["within_30", "within_60", "within_90"].iter().enumerate() {
                    counts[i] += a.json["counts"][k].as_u64().unwrap_or(0);
                }
                if pages == 2 {
                    second = Some(path);
                }
                match a.next_cursor() {
                    Some(c) if pages < 10_000 => cursor = Some(c),
                    _ => break,
                }
            }
            let walk = format!("{pages}, {} / {} / {}", thousands(counts[0]), thousands(counts[1]), thousands(counts[2]));
            for (page, path) in [(1usize, Some(page_path(None))), (2, second)] {
                let Some(path) = path else { continue };
                let warm = api.view(&w.email, &path).await;
                assert_eq!(warm.status, 200, "{}", warm.json);
                let (mut timings, mut seen, mut last) = (Runs::default(), Seen::default(), warm);
                for _ in 0..runs {
                    last = api.view(&w.email, &path).await;
                    timings.push(last.elapsed);
                    seen.add(last.cost, last.writes);
                }
                let items = last.json["counts"]["total"].as_u64().unwrap_or(0);
                let floor = rcu_floor(last.bytes);
                println!(
                    "| {} | {limit} | {page} | {items} | {} | {} | {} | {} | {} | {} | {} | {} | {} |",
                    w.label,
                    seen.rounds,
                    seen.calls,
                    f(seen.last.read_capacity, 1),
                    f(floor, 1),
                    f(seen.last.read_capacity / floor, 1),
                    f(timings.p50(), 2),
                    f(timings.p99(), 2),
                    f(timings.p50() / raw[&limit], 2),
                    if page == 1 { walk.clone() } else { String::new() }
                );
            }
        }
    }
    println!();

    // ---- where a page's time goes: the store's part of the request ------------------------
    progress(started, "store part of a page");
    println!("Where a page of 100 spends its time: the store's reads alone (`Store::site_entitlements` / `Store::view_sites`, called directly: the DynamoDB rounds and decoding) beside the whole request (routing, token check, JSON encoding), p50 of {runs} runs each:\n");
    println!("| contact | route | store p50 ms | store ÷ raw Query | request p50 ms | request ÷ raw Query |\n|---|---|---|---|---|---|");
    let store = &ingestor.store;
    for w in &who {
        let email = abev::domain::Email::parse(&w.email)?;
        let site = abev::domain::SupportId::parse(&w.site)?;
        let mut sites = Runs::default();
        let mut ents = Runs::default();
        for _ in 0..runs {
            let t0 = Instant::now();
            store.view_sites(&email, Default::default(), None, 100).await?;
            sites.push(t0.elapsed());
            let t0 = Instant::now();
            store.site_entitlements(&email, Default::default(), &site, None, 100, &Default::default(), abev::domain::Day::today()).await?;
            ents.push(t0.elapsed());
        }
        for (route, key, runs_) in [("GET /v1/view", "GET /v1/view", &sites), ("GET …/entitlements", "GET …/entitlements", &ents)] {
            let request = p50s.get(&(w.email.clone(), key, 100)).copied().unwrap_or(f64::NAN);
            println!(
                "| {} | {route} | {} | {} | {} | {} |",
                w.label,
                f(runs_.p50(), 2),
                f(runs_.p50() / raw[&100], 2),
                f(request, 2),
                f(request / raw[&100], 2)
            );
        }
    }
    println!();

    // ---- the detail, with its audit write -------------------------------------------------
    progress(started, "detail reads");
    meter.enable(true);
    println!("## One entitlement (`GET /v1/entitlements/{{serial}}`, with its audit write)\n");
    println!("| contact | rounds | calls | RCU | WCU (emulator) | WCU in AWS (table + indexes) | p50 ms | p99 ms |\n|---|---|---|---|---|---|---|---|");
    for w in &who {
        let list = api.view(&w.email, &format!("/v1/view/sites/{}/entitlements?limit=1", w.site)).await;
        let Some(serial) = list.json["entitlements"][0]["serial"].as_str().map(str::to_string) else {
            println!("| {} | no entitlement to read | | | | | | |", w.label);
            continue;
        };
        let path = format!("/v1/entitlements/{}", encode(&serial));
        let (mut timings, mut seen) = (Runs::default(), Seen::default());
        let warm = api.view(&w.email, &path).await;
        assert_eq!(warm.status, 200, "{}", warm.json);
        for _ in 0..runs {
            let a = api.view(&w.email, &path).await;
            timings.push(a.elapsed);
            seen.add(a.cost, a.writes);
        }
        println!("| {} | {} | {} | {} |", w.label, seen.cells(), f(timings.p50(), 2), f(timings.p99(), 2));
    }
    println!();

    // ---- access requests and approvals ----------------------------------------------------
    progress(started, "access requests and approvals");
    let mut pending = Vec::new();
    let mut admin_approvals = Vec::new();
    let mut free_sites = (0..world::SITES).rev().filter(|k| *k != admin_k);
    for i in 0..runs {
        let site = world::site_id(free_sites.next().unwrap_or(0));
        let joiner = format!("joiner-{i}@bench.example");
        let created = api.access(Method::POST, &joiner, false, "/v1/access-requests", Some(serde_json::json!({"support_id": site}))).await;
        assert_eq!((created.status, created.json["status"].as_str()), (201, Some("escalated")), "{}", created.json);
        let id = created.json["request_id"].as_str().unwrap_or_default().to_string();
        let approved =
            api.access(Method::POST, care, true, &format!("/v1/access-requests/{id}/approve"), Some(serde_json::json!({}))).await;
        assert_eq!(approved.status, 200, "{}", approved.json);
        escalated.push(created);
        care_approvals.push(approved);
        let colleague = format!("colleague-{i}@bench.example");
        let created =
            api.access(Method::POST, &colleague, false, "/v1/access-requests", Some(serde_json::json!({"support_id": admin_site}))).await;
        assert_eq!((created.status, created.json["status"].as_str()), (201, Some("pending_admin")), "{}", created.json);
        let id = created.json["request_id"].as_str().unwrap_or_default().to_string();
        let approved =
            api.access(Method::POST, &admin, false, &format!("/v1/access-requests/{id}/approve"), Some(serde_json::json!({}))).await;
        assert_eq!(approved.status, 200, "{}", approved.json);
        pending.push(created);
        admin_approvals.push(approved);
    }
    meter.enable(false);
    access_rows.push(("`POST /v1/access-requests` to a site without an admin (escalated: Care queue message)".into(), escalated));
    access_rows.push(("`POST /v1/access-requests` to a site with an admin (`pending_admin`)".into(), pending));
    access_rows.push(("`POST /v1/access-requests/{id}/approve` by Customer Care".into(), care_approvals));
    access_rows.push(("`POST /v1/access-requests/{id}/approve` by the site's admin".into(), admin_approvals));
    println!("## Access requests and approvals (access router in-process)\n");
    println!("| request | rounds | calls | RCU | WCU (emulator) | WCU in AWS (table + indexes) | p50 ms | p99 ms |\n|---|---|---|---|---|---|---|---|");
    for (label, answers) in &access_rows {
        let (mut timings, mut seen) = (Runs::default(), Seen::default());
        // The first escalated request and its approval made the site admin: not metered.
        for a in answers.iter().skip(answers.len() - runs) {
            timings.push(a.elapsed);
            seen.add(a.cost, a.writes);
        }
        println!("| {label} | {} | {} | {} |", seen.cells(), f(timings.p50(), 2), f(timings.p99(), 2));
    }
    println!(
        "\nEach row: {runs} requests, each by a new contact (escalated: to {runs} different sites without an admin), and the approvals of \
         those requests. Rounds and calls: over the runs; capacity: the last run.\n"
    );
    progress(started, "done");
    println!("Run time: {:.0} s.", started.elapsed().as_secs_f64());
    Ok(())
}

/// Counts what the events function publishes (to moto's EventBridge).
struct CountingPublisher {
    bus: abev::events::publish::EventBridgePublisher,
    published: std::sync::Arc<std::sync::atomic::AtomicUsize>,
}

impl abev::events::publish::Publisher for CountingPublisher {
    async fn put(&self, events: &[&abev::events::ChangeEvent]) -> Result<Vec<Option<String>>, abev::events::publish::PublishError> {
        let outcomes = self.bus.put(events).await?;
        let taken = outcomes.iter().filter(|o| o.is_none()).count();
        self.published.fetch_add(taken, std::sync::atomic::Ordering::Relaxed);
        Ok(outcomes)
    }
}

/// The change-events function's lag behind one 1,000-line order (then its version 2, which
/// changes every line), on a table of its own: its stream holds only these writes. The
/// stream is read as the event source mapping reads it (`abev_local::events::StreamSource`,
/// batches of 100) and published to moto's EventBridge.
async fn events_lag(clients: &abev::app::Clients, meter: &WriteMeter, started: Instant) -> Result<(), BoxError> {
    progress(started, "change events behind a 1,000-line order");
    let ddb_url = std::env::var("ABEV_DYNAMODB_URL").unwrap_or_else(|_| "http://127.0.0.1:8000".into());
    let moto_url = std::env::var("ABEV_SQS_URL").unwrap_or_else(|_| "http://127.0.0.1:9324".into());
    let (ddb, sqs) = (&clients.dynamodb, &clients.sqs);
    let template = std::fs::read_to_string("template.yaml")?;
    let stack = abev_local::infra::create(ddb, sqs, &template, &format!("benchev{}", std::process::id())).await?;
    let (streams, eventbridge) = abev_local::events::clients(&ddb_url, &moto_url);
    let tap = abev_local::events::prepare(ddb, sqs, &eventbridge, &stack.table, &stack.table).await?;
    let published = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let handler = abev::events::EventsHandler {
        store: abev::store::Store::new(ddb.clone(), &stack.table),
        publisher: CountingPublisher {
            bus: abev::events::publish::EventBridgePublisher::new(eventbridge, &stack.table),
            published: published.clone(),
        },
        policy: abev::events::publish::PublishPolicy::default(),
    };
    let mut source = abev_local::events::StreamSource::new(streams, &stack.table);
    let ingestor = abev::app::ingestor(clients, &stack.ingest_settings());
    meter.enable(false);
    println!("## Change events: the events function behind a 1,000-line order\n");
    println!("On a table of its own (its stream holds only these writes), read as the event source mapping reads it (batches of 100) and published to moto's EventBridge. `lag` is from the order's message being handled to the last of its events published.\n");
    println!("| order message | ingestion ms | stream records | events published | lag ms | events/s |\n|---|---|---|---|---|---|");
    for (label, version, quantity) in [("new order, 1,000 lines", 1u64, 10u64), ("its version 2 (every line changed)", 2, 20)] {
        let body = world::order_body("EV-1000", version, "EV-CUST", "EV-RES", "EV-", 1000, quantity);
        let before = published.load(std::sync::atomic::Ordering::Relaxed);
        let t0 = Instant::now();
        let outcome = ingestor.handle_message("bench-events", &body).await;
        assert_eq!(outcome, abev::ingest::MessageOutcome::Applied, "{label}");
        let ingested = t0.elapsed();
        let records = source.drain(&handler).await?;
        let lag = t0.elapsed() - ingested;
        let events = published.load(std::sync::atomic::Ordering::Relaxed) - before;
        println!(
            "| {label} | {} | {} | {} | {} | {} |",
            f(ingested.as_secs_f64() * 1000.0, 0),
            thousands(records as u64),
            thousands(events as u64),
            f(lag.as_secs_f64() * 1000.0, 0),
            f(events as f64 / lag.as_secs_f64().max(1e-9), 0)
        );
    }
    println!();
    let _ = ddb.delete_table().table_name(&stack.table).send().await;
    for url in stack.queues.values().chain(std::iter::once(&tap)) {
        let _ = sqs.delete_queue().queue_url(url).send().await;
    }
    Ok(())
}
