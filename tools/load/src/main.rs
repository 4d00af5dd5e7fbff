//! `make load` (issue 22 part 4): a mixed load on the local stack. Builds the bench's world
//! (tools/local/src/bench/world.rs) through the orders queue on a fresh table and queues,
//! serves the API over HTTP on 127.0.0.1 (the routers the Lambdas run, behind the local
//! authorizer), feeds the orders queue to the ingestion handler as the event source mapping
//! does, measures every route unloaded (goose, one caller), then runs the mixed load (goose,
//! `ABEV_LOAD_USERS` callers for `ABEV_LOAD_SECONDS`) while orders arrive at a steady rate and
//! a burst of 10,000 lines lands in the middle; at the end checks that every order was applied
//! exactly (the world's reference counts, by page walks), the queue and its DLQ are empty.
//! Prints a Markdown report on stdout, progress on stderr; exits 1 if a check failed or an
//! answer was an error (anything but the expected status or 429).
//!
//! Bounded: the attack stops after its run time and never sends more than
//! `ABEV_LOAD_MAX_RPS` requests a second; the whole run has a hard deadline.

mod flows;

use abev_load::{report, walks};

use abev_local::bench::world::{self, Kind as OrderKind, Plan, Spec};
use abev_local::event_source::EventSource;
use abev_local::local_auth::LocalAuthorizer;
use goose::config::GooseConfiguration;
use goose::prelude::*;
use report::{ms, times, Phase};
use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

type BoxError = Box<dyn std::error::Error + Send + Sync>;

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name).ok().and_then(|v| v.replace('_', "").parse().ok()).unwrap_or(default)
}

fn progress(started: Instant, what: &str) {
    eprintln!("[{:>6.1} s] {what}", started.elapsed().as_secs_f64());
}

/// The run's knobs (environment variables, defaults in brackets).
#[derive(Debug, Clone)]
struct Settings {
    /// `ABEV_LOAD_SECONDS` [300]: the loaded phase.
    seconds: usize,
    /// `ABEV_LOAD_USERS` [50]: concurrent callers.
    users: usize,
    /// `ABEV_LOAD_N` [2000]: RES-BIG's entitlements in the world (`Plan::new`).
    n: usize,
    /// `ABEV_LOAD_POLLERS` [4]: concurrent pollers of the orders queue.
    pollers: usize,
    /// `ABEV_LOAD_ORDERS_PER_MINUTE` [60] orders of `ABEV_LOAD_ORDER_LINES` [10] lines.
    orders_per_minute: usize,
    order_lines: usize,
    /// `ABEV_LOAD_BURST_ORDERS` [10] orders of 1,000 lines land at once in the middle.
    burst_orders: usize,
    /// `ABEV_LOAD_BASELINE_ITERATIONS` [20]: unloaded visits of each kind.
    baseline_iterations: usize,
    /// `ABEV_LOAD_THINK_MS` [1000-3000]: a caller's think time between visits.
    think_ms: (u64, u64),
    /// `ABEV_LOAD_MAX_RPS` [200]: goose's request throttle (the bound on requests).
    max_rps: usize,
}

impl Settings {
    fn from_env() -> Settings {
        let think = std::env::var("ABEV_LOAD_THINK_MS").unwrap_or_else(|_| "1000-3000".into());
        let think_ms = think
            .split_once('-')
            .and_then(|(a, b)| Some((a.trim().parse().ok()?, b.trim().parse().ok()?)))
            .filter(|(a, b)| a <= b)
            .unwrap_or((1000, 3000));
        Settings {
            seconds: env_usize("ABEV_LOAD_SECONDS", 300).max(10),
            users: env_usize("ABEV_LOAD_USERS", 50).max(5),
            n: env_usize("ABEV_LOAD_N", 2000).max(1000),
            pollers: env_usize("ABEV_LOAD_POLLERS", 4).max(1),
            orders_per_minute: env_usize("ABEV_LOAD_ORDERS_PER_MINUTE", 60).max(1),
            order_lines: env_usize("ABEV_LOAD_ORDER_LINES", 10).clamp(1, 1000),
            burst_orders: env_usize("ABEV_LOAD_BURST_ORDERS", 10),
            baseline_iterations: env_usize("ABEV_LOAD_BASELINE_ITERATIONS", 20).max(5),
            think_ms,
            max_rps: env_usize("ABEV_LOAD_MAX_RPS", 200).max(1),
        }
    }

    fn command(&self) -> String {
        format!(
            "ABEV_LOAD_SECONDS={} ABEV_LOAD_USERS={} ABEV_LOAD_N={} ABEV_LOAD_POLLERS={} ABEV_LOAD_ORDERS_PER_MINUTE={} ABEV_LOAD_ORDER_LINES={} ABEV_LOAD_BURST_ORDERS={} ABEV_LOAD_BASELINE_ITERATIONS={} ABEV_LOAD_THINK_MS={}-{} ABEV_LOAD_MAX_RPS={} make load",
            self.seconds,
            self.users,
            self.n,
            self.pollers,
            self.orders_per_minute,
            self.order_lines,
            self.burst_orders,
            self.baseline_iterations,
            self.think_ms.0,
            self.think_ms.1,
            self.max_rps
        )
    }
}

/// The proportions of the callers (goose scenario weights, out of 50).
const MIX: [(&str, usize); 5] = [(flows::CUSTOMER, 26), (flows::JOINER, 5), (flows::RESELLER, 4), (flows::SHIP_TO, 10), (flows::CARE, 5)];

/// Only the local stack: the URLs must be on 127.0.0.1 (or localhost).
fn local_only(url: &str) -> Result<(), BoxError> {
    let host = url::Url::parse(url)?.host_str().unwrap_or_default().to_string();
    if host == "127.0.0.1" || host == "localhost" {
        Ok(())
    } else {
        Err(format!("make load targets only the local stack on 127.0.0.1, not {url}").into())
    }
}

#[tokio::main]
async fn main() -> Result<(), BoxError> {
    let started = Instant::now();
    let settings = Settings::from_env();
    let ddb_url = std::env::var("ABEV_DYNAMODB_URL").unwrap_or_else(|_| "http://127.0.0.1:8000".into());
    let sqs_url = std::env::var("ABEV_SQS_URL").unwrap_or_else(|_| "http://127.0.0.1:9324".into());
    local_only(&ddb_url)?;
    local_only(&sqs_url)?;
    let clients = abev::app::Clients::local(&ddb_url, &sqs_url);
    let template = std::fs::read_to_string("template.yaml")?;
    // No stream (nothing here reads it; DynamoDB Local slows every write as stream records pile up).
    let stack = abev_local::infra::create_with(
        &clients.dynamodb,
        &clients.sqs,
        &template,
        &format!("load{}", std::process::id()),
        abev_local::infra::TableStream::Off,
    )
    .await?;
    progress(started, &format!("stack {} created", stack.table));
    // World build + baseline + load + drain + walks; past this the run stops whatever it is doing.
    let deadline = Duration::from_secs(settings.seconds as u64 * 2 + 1800);
    let outcome = tokio::time::timeout(deadline, tokio::spawn(run(clients.clone(), stack.clone(), settings, started))).await;
    if std::env::var("ABEV_LOAD_KEEP").is_ok_and(|v| v == "1") {
        progress(started, &format!("kept table {} and its queues (ABEV_LOAD_KEEP=1)", stack.table));
    } else {
        let _ = clients.dynamodb.delete_table().table_name(&stack.table).send().await;
        for url in stack.queues.values() {
            let _ = clients.sqs.delete_queue().queue_url(url).send().await;
        }
        progress(started, &format!("deleted table {} and its queues", stack.table));
    }
    match outcome {
        Ok(Ok(Ok(true))) => Ok(()),
        Ok(Ok(Ok(false))) => Err("the load run failed a check (see the report)".into()),
        Ok(Ok(Err(e))) => Err(e),
        Ok(Err(e)) => Err(format!("the load run failed: {e}").into()),
        Err(_) => Err(format!("the load run passed its deadline of {} s", deadline.as_secs()).into()),
    }
}

/// An order sent during the load.
#[derive(Debug, Clone)]
struct Sent {
    burst: bool,
    at: Instant,
}

/// The orders sent under load, by SQS message id, and when each was acknowledged.
#[derive(Default)]
struct Ledger {
    sent: HashMap<String, Sent>,
    acknowledged: HashMap<String, Instant>,
}

async fn send_order(sqs: &aws_sdk_sqs::Client, queue: &str, plan: &Plan, spec: &Spec) -> Result<(String, Instant), String> {
    let body = plan.body(spec);
    let at = Instant::now();
    let out = sqs
        .send_message()
        .queue_url(queue)
        .message_body(body)
        .send()
        .await
        .map_err(|e| aws_sdk_sqs::error::DisplayErrorContext(e).to_string())?;
    Ok((out.message_id().unwrap_or_default().to_string(), at))
}

async fn run(clients: abev::app::Clients, stack: abev_local::infra::LocalStack, s: Settings, started: Instant) -> Result<bool, BoxError> {
    let sqs = clients.sqs.clone();
    let ingestor = abev::app::ingestor(&clients, &stack.ingest_settings());

    // ---- the world, through the queue (the bench's builder) --------------------------------
    let plan = Plan::new(s.n);
    let (messages, lines) = plan.totals();
    progress(started, &format!("world: {messages} order messages ({lines} lines) through the queue, {} pollers", s.pollers));
    let source =
        EventSource { sqs: sqs.clone(), queue_url: stack.orders_queue().into(), wait: Duration::ZERO, retry_after: Duration::from_secs(1) };
    let built = world::build(&source, &ingestor, &plan, s.pollers).await?;
    progress(started, &format!("world: ingested in {:.1} s", built.wall.as_secs_f64()));

    // ---- the API over HTTP, and ingestion as the event source mapping runs it --------------
    let secret = "abev-load-secret".to_string();
    let authorizer = LocalAuthorizer {
        secret: secret.clone(),
        issuer: abev_local::jwt::LOCAL_ISSUER.into(),
        audience: abev_local::jwt::LOCAL_AUDIENCE.into(),
    };
    let routes = abev::http::Settings::from_env()?;
    let state = abev::app::access_state(&clients, &stack.access_settings("abev-load-cursor-secret", 14), &routes);
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0)).await?;
    let base = format!("http://{}", listener.local_addr()?);
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let stopped = |mut rx: tokio::sync::watch::Receiver<bool>| async move {
        let _ = rx.wait_for(|s| *s).await;
    };
    let server =
        tokio::spawn(abev_local::server::serve(abev_local::server::app(state.clone(), authorizer), listener, stopped(stop_rx.clone())));
    let ledger = Arc::new(Mutex::new(Ledger::default()));
    let polling = Arc::new(AtomicBool::new(true));
    let live_source = EventSource { wait: Duration::from_secs(1), retry_after: Duration::from_secs(5), ..source.clone() };
    let mut pollers = Vec::new();
    for _ in 0..s.pollers {
        let (source, ingestor, ledger, polling) = (live_source.clone(), ingestor.clone(), ledger.clone(), polling.clone());
        pollers.push(tokio::spawn(async move {
            while polling.load(Ordering::Relaxed) {
                match source.poll_once_acknowledging(&ingestor).await {
                    Ok(polled) => {
                        if let Some(at) = polled.answered {
                            let mut l = ledger.lock().expect("ledger");
                            for id in polled.acknowledged {
                                l.acknowledged.entry(id).or_insert(at);
                            }
                        }
                    }
                    Err(e) => {
                        eprintln!("  polling failed: {e}");
                        tokio::time::sleep(Duration::from_millis(500)).await;
                    }
                }
            }
        }));
    }
    progress(started, &format!("API on {base}"));

    // ---- who calls -------------------------------------------------------------------------
    // The customer sites the world has orders for (a small world leaves some of the 500 empty:
    // they and their contacts do not exist).
    let filled: Vec<usize> = (0..world::SITES).filter(|k| plan.per_site[*k] > 0).collect();
    let mut customers: Vec<(String, String)> = filled.iter().map(|k| (world::site_contact(*k), world::site_id(*k))).collect();
    customers.push((world::SMALL_CUSTOMER.into(), world::SMALL_SITE.into()));
    let sites: Vec<String> = filled.iter().map(|k| world::site_id(*k)).collect();
    let ctx = flows::install(flows::Context::new(
        secret,
        customers,
        world::REP.into(),
        vec![world::INSTALLER.into(), world::SMALL_INSTALLER.into()],
        sites,
    ));
    let goose_config = |users: usize, iterations: usize| -> Result<Box<GooseAttack>, GooseError> {
        let mut config = GooseConfiguration::default();
        config.quiet = 1;
        // On the configuration itself: goose 0.18 reads `iterations` from it before its
        // defaults, and the default configuration's 0 (no limit) would win over
        // `GooseDefault::Iterations`.
        config.iterations = iterations;
        GooseAttack::initialize_with_config(config)?
            .set_default(GooseDefault::Host, base.as_str())?
            .set_default(GooseDefault::Users, users)?
            .set_default(GooseDefault::NoTelnet, true)?
            .set_default(GooseDefault::NoWebSocket, true)?
            .set_default(GooseDefault::NoAutoStart, false)?
            .set_default(GooseDefault::NoPrintMetrics, true)?
            .set_default(GooseDefault::NoErrorSummary, true)?
            .set_default(GooseDefault::ThrottleRequests, s.max_rps)
    };

    // ---- unloaded: one caller, each kind's visit in turn, nothing ingested ------------------
    progress(started, &format!("unloaded: {} visits of each kind, one caller", s.baseline_iterations));
    let baseline = scenario!("unloaded")
        .set_wait_time(Duration::from_millis(100), Duration::from_millis(100))?
        .register_transaction(transaction!(flows_customer).set_name("customer"))
        .register_transaction(transaction!(flows_joiner).set_name("customer filing"))
        .register_transaction(transaction!(flows_reseller).set_name("reseller"))
        .register_transaction(transaction!(flows_ship_to).set_name("ship-to"))
        .register_transaction(transaction!(flows_care).set_name("Care"));
    let t0 = Instant::now();
    goose_config(1, s.baseline_iterations)?.register_scenario(baseline).set_default(GooseDefault::HatchRate, "1")?.execute().await?;
    let baseline_wall = t0.elapsed();

    // ---- loaded: the mix, orders arriving, a burst in the middle -----------------------------
    progress(started, &format!("loaded: {} callers for {} s", s.users, s.seconds));
    ctx.loaded.store(true, Ordering::Relaxed);
    let (think_min, think_max) = (Duration::from_millis(s.think_ms.0), Duration::from_millis(s.think_ms.1));
    let mut attack =
        *goose_config(s.users, 0)?.set_default(GooseDefault::HatchRate, "10")?.set_default(GooseDefault::RunTime, s.seconds)?;
    for (kind, weight) in MIX {
        let t = match kind {
            flows::CUSTOMER => transaction!(flows_customer),
            flows::JOINER => transaction!(flows_joiner),
            flows::RESELLER => transaction!(flows_reseller),
            flows::SHIP_TO => transaction!(flows_ship_to),
            _ => transaction!(flows_care),
        };
        attack = attack.register_scenario(
            scenario!(kind).set_weight(weight)?.set_wait_time(think_min, think_max)?.register_transaction(t.set_name(kind)),
        );
    }
    let orders = {
        let (sqs, queue, ledger, plan, s) = (sqs.clone(), stack.orders_queue().to_string(), ledger.clone(), plan.clone(), s.clone());
        tokio::spawn(async move { send_orders(&sqs, &queue, &plan, &s, &ledger, ctx).await })
    };
    let t0 = Instant::now();
    let goose_metrics = attack.execute().await?;
    let load_wall = t0.elapsed();
    ctx.loaded.store(false, Ordering::Relaxed);
    let sent_specs = orders.await??;
    progress(started, &format!("load over after {:.0} s; waiting for every order to be applied", load_wall.as_secs_f64()));

    // ---- every order applied, the queues empty ----------------------------------------------
    let drain_started = Instant::now();
    loop {
        let done = {
            let l = ledger.lock().expect("ledger");
            l.sent.keys().all(|id| l.acknowledged.contains_key(id))
        };
        if done {
            let (visible, in_flight) = world::queue_depth(&sqs, stack.orders_queue()).await?;
            if visible == 0 && in_flight == 0 {
                break;
            }
        }
        if drain_started.elapsed() > Duration::from_secs(900) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let drain_wall = drain_started.elapsed();
    polling.store(false, Ordering::Relaxed);
    for p in pollers {
        let _ = p.await;
    }
    let (queue_left, in_flight_left) = world::queue_depth(&sqs, stack.orders_queue()).await?;
    let (dead, dead_in_flight) = world::queue_depth(&sqs, stack.orders_dlq()).await?;

    // ---- the page walks against the reference ----------------------------------------------
    progress(started, "walking every caller's pages against the reference");
    let api = abev_local::bench::api::Api::new(state, abev_local::bench::meter::WriteMeter::default());
    let walks = walks::check(&api, &plan, &sent_specs).await;
    let _ = stop_tx.send(true);
    let _ = server.await;

    // ---- the report --------------------------------------------------------------------------
    let recorded = ctx.recorded.lock().expect("recorder").clone();
    let by_burst = ctx.by_burst.lock().expect("recorder").clone();
    let ledger = ledger.lock().expect("ledger");
    let ok = print_report(&Report {
        s: &s,
        plan: &plan,
        world_wall: built.wall,
        baseline_wall,
        load_wall,
        drain_wall,
        recorded: &recorded,
        by_burst: &by_burst,
        ledger: &ledger,
        queue_left: queue_left + in_flight_left,
        dead: dead + dead_in_flight,
        walks: &walks,
        goose_requests: goose_metrics.requests.values().map(|r| r.success_count + r.fail_count).sum(),
    });
    Ok(ok)
}

// goose's `transaction!` takes a function name in scope.
use flows::{care as flows_care, customer as flows_customer, joiner as flows_joiner, reseller as flows_reseller, ship_to as flows_ship_to};

/// The orders of the load: one every `60 / orders_per_minute` s for the whole run, each for
/// a pseudo-random customer site of RES-BIG; in the middle, `burst_orders` orders of 1,000
/// lines for one site, sent at once. Returns every spec sent.
async fn send_orders(
    sqs: &aws_sdk_sqs::Client,
    queue: &str,
    plan: &Plan,
    s: &Settings,
    ledger: &Mutex<Ledger>,
    ctx: &'static flows::Context,
) -> Result<Vec<Spec>, String> {
    let started = Instant::now();
    let every = Duration::from_secs_f64(60.0 / s.orders_per_minute as f64);
    let run = Duration::from_secs(s.seconds as u64);
    let (mut next, mut i, mut burst_sent) = (Duration::ZERO, 0usize, false);
    let mut specs = Vec::new();
    let burst_site = plan.site_closest_to(plan.n / world::SITES);
    while started.elapsed() < run {
        if !burst_sent && started.elapsed() >= run / 2 {
            burst_sent = true;
            let burst: Vec<Spec> = (0..s.burst_orders)
                .map(|b| Spec { id: format!("BIG-X{b:05}"), site: burst_site, lines: 1000, kind: OrderKind::Regular, rep_member: false })
                .collect();
            ctx.in_burst.store(!burst.is_empty(), Ordering::Relaxed);
            let sends = futures::future::join_all(burst.iter().map(|spec| send_order(sqs, queue, plan, spec))).await;
            for (spec, sent) in burst.into_iter().zip(sends) {
                let (id, at) = sent?;
                ledger.lock().expect("ledger").sent.insert(id, Sent { burst: true, at });
                specs.push(spec);
            }
        }
        if started.elapsed() >= next {
            let spec = Spec {
                id: format!("BIG-L{i:05}"),
                site: ctx.pick(world::SITES),
                lines: s.order_lines,
                kind: OrderKind::Regular,
                rep_member: false,
            };
            let (id, at) = send_order(sqs, queue, plan, &spec).await?;
            ledger.lock().expect("ledger").sent.insert(id, Sent { burst: false, at });
            specs.push(spec);
            i += 1;
            next += every;
        }
        // The burst's window ends when its last order is acknowledged.
        if ctx.in_burst.load(Ordering::Relaxed) {
            let l = ledger.lock().expect("ledger");
            if l.sent.iter().filter(|(_, s)| s.burst).all(|(id, _)| l.acknowledged.contains_key(id)) {
                ctx.in_burst.store(false, Ordering::Relaxed);
            }
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    Ok(specs)
}

struct Report<'a> {
    s: &'a Settings,
    plan: &'a Plan,
    world_wall: Duration,
    baseline_wall: Duration,
    load_wall: Duration,
    drain_wall: Duration,
    recorded: &'a BTreeMap<(Phase, report::Kind, report::Route), report::Samples>,
    by_burst: &'a BTreeMap<(bool, report::Route), report::Samples>,
    ledger: &'a Ledger,
    queue_left: u64,
    dead: u64,
    walks: &'a walks::Walks,
    goose_requests: usize,
}

/// Prints the Markdown report; true when every check passed and no answer was an error.
fn print_report(r: &Report) -> bool {
    let s = r.s;
    let (messages, lines) = r.plan.totals();
    println!("## Mixed load (`make load`)\n");
    println!("Command: `{}`\n", s.command());
    println!(
        "The world: the bench's (`tools/local/src/bench/world.rs`, `Plan::new({})`): RES-BIG with {} entitlements over {} customer sites, \
         ship-to contacts on {} and {} one-line orders, a small direct customer; {} messages ({} lines) built through the orders queue in {:.0} s. \
         The API is served over HTTP on 127.0.0.1 (the view and access routers the Lambdas run, behind the local authorizer, \
         default per-caller limits); {} pollers feed the orders queue to the ingestion handler as the event source mapping does.\n",
        s.n,
        s.n,
        world::SITES,
        r.plan.ship_big,
        world::SMALL_INSTALLER_ORDERS,
        messages,
        lines,
        r.world_wall.as_secs_f64(),
        s.pollers
    );
    println!(
        "Callers (goose scenarios, weights out of 50 → share of the {} callers), each visit then a think time of {}–{} ms:\n",
        s.users, s.think_ms.0, s.think_ms.1
    );
    println!("| caller | share | one visit |\n|---|---|---|");
    let what = |k: &str| {
        match k {
        flows::CUSTOMER => "a customer site's contact (`it@cust-nnnn` of a site the world has orders for, or the small customer): view, its site's first page (limit 100), one entitlement's detail",
        flows::JOINER => "a newcomer at a customer: `POST /v1/access-requests` to join its site (escalated to Care: no site has an admin), its own requests, `/v1/me`",
        flows::RESELLER => "`rep@res-big.example`: two pages of its view (limit 100; 500 sites), one listed site's first page, one detail",
        flows::SHIP_TO => "`installer@ship.example` or `small-installer@ship.example`: as the reseller",
        _ => "an agent (`customer-care` group): the approvals list, one request, a site's members and history",
    }
    };
    for (kind, weight) in MIX {
        println!("| {kind} | {}% | {} |", weight * 2, what(kind));
    }
    let total: u64 = r.recorded.iter().filter(|((p, _, _), _)| *p == Phase::Loaded).map(|(_, v)| v.requests()).sum();
    let unloaded_total: u64 = r.recorded.iter().filter(|((p, _, _), _)| *p == Phase::Unloaded).map(|(_, v)| v.requests()).sum();
    let secs = r.load_wall.as_secs_f64();
    println!(
        "\nThroughput under load: **{} requests in {:.0} s = {:.1} requests/s** (goose counted {}); unloaded: {} requests in {:.0} s, one at a time.\n",
        total,
        secs,
        total as f64 / secs,
        r.goose_requests,
        unloaded_total,
        r.baseline_wall.as_secs_f64()
    );
    let rows = report::rows(r.recorded, flows::route_info);
    println!("Per caller and route: milliseconds from sending to the whole body read (goose's client, the expected answers only), unloaded and under load, and their ratios; the last columns count the answers under load that were 429 or errors (anything else than the route's expected status).\n");
    println!("| caller | route | requests | req/s | unloaded p50 / p95 / p99 | loaded p50 / p95 / p99 | ÷ unloaded p50 / p95 / p99 | loaded p99 ÷ unloaded p50 | 429 | errors |");
    println!("|---|---|---|---|---|---|---|---|---|---|");
    let mut errors = 0u64;
    let mut misses = Vec::new();
    for row in &rows {
        errors += row.errors;
        let ratio = row.ratios();
        let target = row.p99_over_unloaded_p50();
        if row.page && row.meets_target() == Some(false) {
            misses.push(format!("{} {} ({})", row.kind, row.route, times(target)));
        }
        println!(
            "| {} | `{}` | {} | {:.2} | {} / {} / {} | {} / {} / {} | {} / {} / {} | {}{} | {} | {} |",
            row.kind,
            row.route,
            row.loaded_requests,
            row.loaded_requests as f64 / secs,
            ms(row.unloaded[0]),
            ms(row.unloaded[1]),
            ms(row.unloaded[2]),
            ms(row.loaded[0]),
            ms(row.loaded[1]),
            ms(row.loaded[2]),
            times(ratio[0]),
            times(ratio[1]),
            times(ratio[2]),
            times(target),
            if row.page {
                if row.meets_target() == Some(true) {
                    " ✓"
                } else {
                    " ✗"
                }
            } else {
                ""
            },
            row.throttled,
            row.errors
        );
    }
    let statuses: BTreeMap<u16, u64> = r.recorded.values().flat_map(|v| v.statuses.iter()).fold(BTreeMap::new(), |mut m, (k, v)| {
        *m.entry(*k).or_default() += v;
        m
    });
    println!(
        "\nStatuses over both phases: {}.\n",
        statuses
            .iter()
            .map(|(k, v)| format!("{} × {}", v, if *k == 0 { "no answer".to_string() } else { k.to_string() }))
            .collect::<Vec<_>>()
            .join(", ")
    );
    println!(
        "**Target** (issue 22): the p99 of a page (`GET /v1/view`, a site's entitlements) under load at most {}× its unloaded p50 — {}.\n",
        report::TARGET,
        if misses.is_empty() { "**met** for every caller".to_string() } else { format!("**not met** for {}", misses.join("; ")) }
    );
    println!("The pages under load, while the burst was being ingested and outside it (every caller):\n");
    println!("| route | window | requests | p50 ms | p95 ms | p99 ms |\n|---|---|---|---|---|---|");
    for ((burst, route), v) in r.by_burst {
        println!(
            "| `{route}` | {} | {} | {} | {} | {} |",
            if *burst { "burst being ingested" } else { "outside the burst" },
            v.requests(),
            ms(v.quantile_ms(0.50)),
            ms(v.quantile_ms(0.95)),
            ms(v.quantile_ms(0.99))
        );
    }

    // Ingestion lag.
    let lag = |burst: bool| -> Vec<u64> {
        r.ledger
            .sent
            .iter()
            .filter(|(_, s)| s.burst == burst)
            .filter_map(|(id, s)| r.ledger.acknowledged.get(id).map(|a| a.duration_since(s.at).as_micros() as u64))
            .collect()
    };
    let (steady, burst) = (lag(false), lag(true));
    let count = |burst: bool| r.ledger.sent.values().filter(|s| s.burst == burst).count();
    println!("\nIngestion lag (from sending the message to the ingestion handler's batch response acknowledging it):\n");
    println!("| orders | sent | acknowledged | p50 ms | p95 ms | p99 ms | max ms |\n|---|---|---|---|---|---|---|");
    for (label, v, n) in [
        (format!("steady: {} a minute, {} lines each", s.orders_per_minute, s.order_lines), &steady, count(false)),
        (format!("the burst: {} × 1,000 lines of one site, sent at once", s.burst_orders), &burst, count(true)),
    ] {
        println!(
            "| {label} | {n} | {} | {} | {} | {} | {} |",
            v.len(),
            ms(report::quantile_ms(v, 0.50)),
            ms(report::quantile_ms(v, 0.95)),
            ms(report::quantile_ms(v, 0.99)),
            ms(report::quantile_ms(v, 1.0))
        );
    }
    println!(
        "\nThe burst is the issue's \"order of 10,000 lines\": a message holds at most 1,000 lines (spec §3), so 10,000 lines are {} orders of 1,000 lines sent at the same moment.",
        s.burst_orders
    );
    println!("After the load, the last order was acknowledged {:.1} s after the callers stopped.\n", r.drain_wall.as_secs_f64());

    // Checks.
    let all_acked = r.ledger.sent.keys().all(|id| r.ledger.acknowledged.contains_key(id));
    let checks = [
        (
            format!(
                "every order sent under load acknowledged ({} of {})",
                r.ledger.acknowledged.len().min(r.ledger.sent.len()),
                r.ledger.sent.len()
            ),
            all_acked,
        ),
        (format!("the orders queue empty afterwards ({} left)", r.queue_left), r.queue_left == 0),
        (format!("the orders DLQ empty ({} messages)", r.dead), r.dead == 0),
        (format!("no error answers ({errors})"), errors == 0),
    ];
    println!("Checks:\n");
    let mut ok = true;
    for (what, passed) in checks.iter() {
        ok &= passed;
        println!("- {} {what}", if *passed { "✓" } else { "✗" });
    }
    for w in &r.walks.lines {
        ok &= w.0;
        println!("- {} {}", if w.0 { "✓" } else { "✗" }, w.1);
    }
    println!();
    ok
}
