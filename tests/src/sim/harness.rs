//! One seed of the simulation: a world of orders delivered through a simulated SQS (with
//! redelivery, two copies of one message handled at once, killed invocations and
//! dead-lettering after `maxReceiveCount`) to the real `Ingestor`, while contacts walk their
//! views through the real `Store`; checks after every step and at the end.

use super::net::{self, Faults, Invocation, Killable, Shared, World};
use super::rng::Rng;
use super::table::{Behaviour, Table};
use super::value::{Item, AV};
use crate::world::{self as w, Version, CONTACTS, SITES};
use crate::PlainView;
use abev::domain::access::Rollout;
use abev::domain::{Day, Email, Serial, SupportId};
use abev::ingest::{Ingestor, MessageOutcome, DEFAULT_MAX_RECEIVE_COUNT};
use abev::store::orders::ApplyOptions;
use abev::store::view::{EntitlementFilter, VisibleEntitlement};
use abev::store::{RetryPolicy, Store};
use std::collections::{BTreeMap, BTreeSet};
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Rounds of deliveries before a seed is declared stuck.
const MAX_ROUNDS: usize = 400;
/// The ingestion function's timeout (template.yaml): an invocation still running is killed.
const LAMBDA_TIMEOUT: Duration = Duration::from_secs(30);
/// Pages of one walk before it is declared endless.
const MAX_PAGES: usize = 200;

/// One order of the world: its id, versions and each version's serials.
#[derive(Debug, Clone)]
pub struct SimOrder {
    pub id: String,
    pub versions: Vec<Version>,
    pub serials: Vec<Vec<String>>,
}

#[derive(Debug)]
struct Msg {
    id: String,
    order: usize,
    v: usize,
    body: String,
    receives: u32,
    done: bool,
    /// How each handling ended (outcome text), for the trace and the final checks.
    outcomes: Vec<String>,
    dead_lettered: Option<Option<String>>,
}

/// What one seed did.
#[derive(Debug, Default, Clone)]
pub struct Report {
    pub rounds: usize,
    pub requests: u64,
    pub deliveries: u64,
    pub kills: u64,
    pub lines_checked: u64,
    pub details_shown_checked: u64,
    pub final_views_checked: u64,
    pub stats: BTreeMap<String, u64>,
}

/// A seed that broke a check: what broke, the steps, and the end of the request trace.
#[derive(Debug)]
pub struct Failure {
    pub seed: u64,
    pub problems: Vec<String>,
    pub steps: Vec<String>,
    pub trace: Vec<String>,
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(f, "simulation seed {} failed. Replay it with:", self.seed)?;
        writeln!(f, "  ABEV_SIM_SEED={} cargo test -p abev-integration-tests --test simulation -- --nocapture", self.seed)?;
        writeln!(f, "problems:")?;
        for p in self.problems.iter().take(20) {
            writeln!(f, "  - {p}")?;
        }
        if self.problems.len() > 20 {
            writeln!(f, "  ... and {} more", self.problems.len() - 20)?;
        }
        writeln!(f, "steps:")?;
        for s in &self.steps {
            writeln!(f, "  {s}")?;
        }
        let tail = self.trace.len().saturating_sub(150);
        writeln!(f, "last {} of {} DynamoDB/SQS events:", self.trace.len() - tail, self.trace.len())?;
        for t in &self.trace[tail..] {
            writeln!(f, "  {t}")?;
        }
        Ok(())
    }
}

/// Everything the checks need, shared by the futures of one seed.
struct Ctx {
    world: Shared,
    store: Store,
    orders: Vec<SimOrder>,
    problems: Mutex<Vec<String>>,
    steps: Mutex<Vec<String>>,
    counts: Mutex<Report>,
}

impl Ctx {
    fn op(&self) -> u64 {
        self.world.lock().unwrap().table.op
    }
    fn problem(&self, p: String) {
        let op = self.op();
        self.world.lock().unwrap().note(format!("PROBLEM: {p}"));
        self.problems.lock().unwrap().push(format!("[op {op}] {p}"));
    }
    fn step(&self, s: String) {
        let op = self.op();
        self.world.lock().unwrap().note(format!("STEP: {s}"));
        self.steps.lock().unwrap().push(format!("[op {op}] {s}"));
    }
    fn order(&self, id: &str) -> Option<&SimOrder> {
        self.orders.iter().find(|o| o.id == id)
    }
    /// The head's current version of an order at every moment of `from..=to`.
    fn head_versions(&self, order: &str, from: u64, to: u64) -> Vec<Option<u64>> {
        let world = self.world.lock().unwrap();
        let key = (format!("ORDER#{order}"), "HEAD".to_string());
        world.table.states_during(&key, from, to).into_iter().map(|i| i.and_then(|i| num(i, "current_version"))).collect()
    }
    /// Whether contact `c` held access to version `v` of `order` (current then) at some
    /// moment of `from..=to`, by §2's rules over the stored memberships.
    fn had_access(&self, order: &SimOrder, v: u64, c: usize, from: u64, to: u64) -> bool {
        let version = &order.versions[v as usize - 1];
        if version.cancelled {
            return false;
        }
        let world = self.world.lock().unwrap();
        let head = (format!("ORDER#{}", order.id), "HEAD".to_string());
        (from..=to).any(|t| {
            let current = world.table.get_at(&head, t).and_then(|i| num(i, "current_version"));
            current == Some(v)
                && !w::access(version, c, |contact, site| {
                    let key = (format!("CONTACT#{}", CONTACTS[contact]), format!("MEMBER#{}", SITES[site]));
                    world.table.get_at(&key, t).is_some()
                })
                .is_empty()
        })
    }
}

fn num(item: &Item, attr: &str) -> Option<u64> {
    match item.get(attr) {
        Some(AV::N(n)) => n.parse().ok(),
        _ => None,
    }
}

fn s_attr<'a>(item: &'a Item, attr: &str) -> Option<&'a str> {
    item.get(attr).and_then(AV::as_s)
}

/// The world of a seed: the generated orders, and sometimes one more order that shares a
/// serial with every version of another (only one of the two may have it).
fn orders_of(seed: u64, rng: &mut Rng) -> (Vec<SimOrder>, Vec<(usize, usize)>) {
    let (generated, mut deliveries) = w::world_from_seed(seed);
    let mut orders: Vec<SimOrder> = generated
        .iter()
        .enumerate()
        .map(|(o, versions)| SimOrder {
            id: w::order_id(o),
            versions: versions.clone(),
            serials: versions.iter().map(|v| v.lines.iter().map(|l| w::serial(o, *l)).collect()).collect(),
        })
        .collect();
    if rng.chance(0.25) {
        let victim = rng.below(orders.len() as u64) as usize;
        let shared: BTreeSet<String> =
            orders[victim].serials.iter().skip(1).fold(orders[victim].serials[0].iter().cloned().collect(), |acc, s| {
                acc.intersection(&s.iter().cloned().collect()).cloned().collect()
            });
        if let Some(serial) = shared.into_iter().next() {
            let mut version = orders[victim].versions[0].clone();
            version.end.site = rng.below(SITES.len() as u64) as usize;
            version.cancelled = false;
            let x = orders.len();
            orders.push(SimOrder { id: format!("X{x}"), versions: vec![version], serials: vec![vec![serial, format!("X{x}-L9")]] });
            deliveries.insert(rng.below(deliveries.len() as u64 + 1) as usize, (x, 0));
        }
    }
    (orders, deliveries)
}

/// Runs one seed to the end; `Err` if any check failed.
pub fn run_seed(seed: u64) -> Result<Report, Failure> {
    let mut rng = Rng::new(seed);
    let (orders, deliveries) = orders_of(seed, &mut rng);
    // How hostile AWS is for this seed: a calm seed now and then, else random rates.
    let calm = rng.chance(0.15);
    let r = |rng: &mut Rng, max: f64| if calm { 0.0 } else { rng.below(1000) as f64 / 1000.0 * max };
    let faults = Faults {
        throttle: r(&mut rng, 0.06),
        error: r(&mut rng, 0.04),
        conflict: r(&mut rng, 0.10),
        lost: r(&mut rng, 0.06),
        latency_ms: (1, rng.range(2, 12)),
    };
    let behaviour = Behaviour {
        index_lag: rng.range(0, 12),
        long_lag_chance: r(&mut rng, 0.1),
        long_index_lag: 400,
        stale_read: r(&mut rng, 0.4),
        stale_ops: rng.range(1, 40),
        unprocessed: r(&mut rng, 0.25),
        short_page: r(&mut rng, 0.2),
    };
    let kill_chance = r(&mut rng, 0.25);
    let duplicate_chance = r(&mut rng, 0.3);
    let world: Shared = Arc::new(Mutex::new(World {
        table: Table::new("abev", rng.fork(), behaviour.clone()),
        faults: faults.clone(),
        rng: rng.fork(),
        invocations: BTreeMap::new(),
        dead_letters: Vec::new(),
        trace: Vec::new(),
        requests: 0,
        injected: BTreeMap::new(),
    }));
    let (ddb, sqs) = net::clients(&world);
    let store = Store::new(ddb, "abev").with_retry(RetryPolicy { jitter_seed: Some(seed), ..RetryPolicy::default() });
    let ingestor = Ingestor {
        store: store.clone(),
        sqs,
        dead_letter_queue_url: "http://sqs.sim/000000000000/abev-orders-dlq".into(),
        options: ApplyOptions::default(),
        max_receive_count: DEFAULT_MAX_RECEIVE_COUNT,
    };
    let ctx = Arc::new(Ctx {
        world: world.clone(),
        store,
        orders,
        problems: Mutex::default(),
        steps: Mutex::default(),
        counts: Mutex::default(),
    });
    ctx.step(format!(
        "seed {seed}: {} orders, {} messages; faults {faults:?}; {behaviour:?}; kills {kill_chance:.3}, duplicates {duplicate_chance:.3}",
        ctx.orders.len(),
        deliveries.len()
    ));
    for o in &ctx.orders {
        for (v, version) in o.versions.iter().enumerate() {
            let show = |p: &Option<w::Party>| {
                p.as_ref().map(|p| format!("{}{:?}", SITES[p.site], p.contacts.iter().map(|c| CONTACTS[*c]).collect::<Vec<_>>()))
            };
            ctx.step(format!(
                "  {} v{}: end {} reseller {:?} ship_to {:?}{} serials {:?}",
                o.id,
                v + 1,
                show(&Some(version.end.clone())).unwrap(),
                show(&version.reseller),
                show(&version.ship_to),
                if version.cancelled { " CANCELLED" } else { "" },
                o.serials[v]
            ));
        }
    }
    let mut messages: Vec<Msg> = deliveries
        .iter()
        .enumerate()
        .map(|(i, &(o, v))| {
            let order = &ctx.orders[o];
            Msg {
                id: format!("m{i}"),
                order: o,
                v,
                body: w::message_with(&order.id, v, &order.versions[v], &order.serials[v]),
                receives: 0,
                done: false,
                outcomes: Vec::new(),
                dead_lettered: None,
            }
        })
        .collect();

    let runtime = tokio::runtime::Builder::new_current_thread().enable_time().start_paused(true).build().expect("runtime");
    let finished = runtime.block_on(async {
        let mut next_invocation = 1u64;
        let mut rounds = 0;
        while messages.iter().any(|m| !m.done) {
            rounds += 1;
            if rounds > MAX_ROUNDS {
                ctx.problem(format!("not every message was handled after {MAX_ROUNDS} rounds (stuck)"));
                return false;
            }
            type Boxed = Pin<Box<dyn Future<Output = Event>>>;
            let mut futures: Vec<Boxed> = Vec::new();
            let pending: Vec<usize> = (0..messages.len()).filter(|i| !messages[*i].done).collect();
            let take = rng.range(1, 3).min(pending.len() as u64) as usize;
            let mut picked: Vec<usize> = Vec::new();
            while picked.len() < take {
                let m = *rng.pick(&pending);
                if !picked.contains(&m) {
                    picked.push(m);
                }
            }
            for m in picked {
                let msg = &mut messages[m];
                let copies = if msg.receives + 2 < DEFAULT_MAX_RECEIVE_COUNT && rng.chance(duplicate_chance) { 2 } else { 1 };
                for _ in 0..copies {
                    msg.receives += 1;
                    let id = next_invocation;
                    next_invocation += 1;
                    // The last two receives are never killed: a message that still fails then is a finding.
                    let kill_at = (msg.receives + 2 <= DEFAULT_MAX_RECEIVE_COUNT && rng.chance(kill_chance))
                        .then(|| (rng.range(1, 40) as u32, rng.chance(0.5)));
                    world.lock().unwrap().invocations.insert(id, Invocation { kill_at, ..Invocation::default() });
                    ctx.step(format!(
                        "round {rounds}: inv {id} handles {} ({} v{}, receive {}){}",
                        msg.id,
                        ctx.orders[msg.order].id,
                        msg.v + 1,
                        msg.receives,
                        kill_at.map_or(String::new(), |(k, after)| format!(
                            ", to be killed at call {k} {}",
                            if after { "after it applies" } else { "before it applies" }
                        ))
                    ));
                    ctx.counts.lock().unwrap().deliveries += 1;
                    let (ingestor, body, message_id, receive, world) =
                        (ingestor.clone(), msg.body.clone(), msg.id.clone(), msg.receives, world.clone());
                    futures.push(Box::pin(async move {
                        let run = async move { ingestor.handle_delivery(&message_id, &body, receive).await };
                        let killable = Killable { id, world, inner: Some(Box::pin(run)) };
                        match tokio::time::timeout(LAMBDA_TIMEOUT, killable).await {
                            Ok(Some(outcome)) => Event::Handled { m, inv: id, outcome: Some(outcome) },
                            Ok(None) => Event::Handled { m, inv: id, outcome: None },
                            Err(_) => Event::TimedOut { m, inv: id },
                        }
                    }));
                }
            }
            for _ in 0..rng.range(0, 2) {
                let contact = rng.below(CONTACTS.len() as u64) as usize;
                let (ctx, reader_rng) = (ctx.clone(), rng.fork());
                futures.push(Box::pin(async move {
                    walk(&ctx, contact, reader_rng, false).await;
                    Event::Read
                }));
            }
            let all = futures::future::join_all(futures);
            let Ok(events) = tokio::time::timeout(Duration::from_secs(3600), all).await else {
                ctx.problem(format!("round {rounds} did not finish within an hour of virtual time (a hang)"));
                return false;
            };
            for event in events {
                let (m, inv, outcome) = match event {
                    Event::Read => continue,
                    Event::Handled { m, inv, outcome } => (m, inv, outcome),
                    Event::TimedOut { m, inv } => {
                        ctx.step(format!("inv {inv}: killed by the Lambda timeout"));
                        (m, inv, None)
                    }
                };
                let msg = &mut messages[m];
                match outcome {
                    Some(outcome) => {
                        ctx.step(format!("inv {inv}: {} -> {outcome:?}", msg.id));
                        msg.outcomes.push(format!("{outcome:?}"));
                        if let MessageOutcome::DeadLettered(reason) = &outcome {
                            msg.dead_lettered = Some(Some(reason.clone()));
                        }
                        if outcome.acknowledged() {
                            msg.done = true;
                        }
                    }
                    None => {
                        ctx.counts.lock().unwrap().kills += 1;
                        ctx.step(format!("inv {inv}: {} killed", msg.id));
                        msg.outcomes.push("killed".into());
                    }
                }
            }
            // SQS: a message received maxReceiveCount times and not acknowledged is redriven.
            for msg in messages.iter_mut().filter(|m| !m.done && m.receives >= DEFAULT_MAX_RECEIVE_COUNT) {
                ctx.step(format!("SQS redrives {} to the dead-letter queue (no abev-error)", msg.id));
                world.lock().unwrap().dead_letters.push((msg.body.clone(), None));
                msg.dead_lettered = Some(None);
                msg.done = true;
            }
        }
        ctx.counts.lock().unwrap().rounds = rounds;
        // Quiet: every message handled; the indexes catch up, reads are consistent again.
        {
            let mut w = world.lock().unwrap();
            w.table.catch_up();
            w.table.behaviour.stale_read = 0.0;
            w.table.behaviour.index_lag = 0;
            w.table.behaviour.long_index_lag = 0;
            w.faults = Faults { latency_ms: w.faults.latency_ms, ..Faults::default() };
        }
        // As later ingestion batches do: finish the orders whose cleanup found an index lagging.
        for _ in 0..3 {
            match ctx.store.settle_pending(abev::ingest::SETTLES_PER_BATCH * 10).await {
                Ok(0) => break,
                Ok(waiting) => ctx.step(format!("settle work list: {waiting} orders still waiting")),
                Err(e) => ctx.step(format!("settle work list failed: {e}")),
            }
        }
        ctx.step("all messages handled; indexes caught up; final checks".into());
        final_checks(&ctx, &messages, &mut rng).await;
        true
    });
    let mut report = ctx.counts.lock().unwrap().clone();
    let w = world.lock().unwrap();
    report.requests = w.requests;
    report.stats =
        w.injected.iter().map(|(k, v)| (k.to_string(), *v)).chain(w.table.stats.iter().map(|(k, v)| (k.to_string(), *v))).collect();
    let problems = ctx.problems.lock().unwrap().clone();
    if problems.is_empty() && finished {
        Ok(report)
    } else {
        Err(Failure { seed, problems, steps: ctx.steps.lock().unwrap().clone(), trace: w.trace.clone() })
    }
}

enum Event {
    Handled { m: usize, inv: u64, outcome: Option<MessageOutcome> },
    TimedOut { m: usize, inv: u64 },
    Read,
}

/// A contact's whole view, page by page at random page sizes, every returned line checked
/// against the history (check a); then one entitlement's detail (check b). `Some(view)`
/// when every page was read (a read may fail transiently, as a request would: a 503).
async fn walk(ctx: &Ctx, contact: usize, mut rng: Rng, last: bool) -> Option<PlainView> {
    let email = Email::parse(CONTACTS[contact]).expect("email");
    let mut view = PlainView::new();
    let mut counts: BTreeMap<String, u64> = BTreeMap::new();
    let mut after: Option<SupportId> = None;
    let mut sites = Vec::new();
    for page_no in 0.. {
        if page_no == MAX_PAGES {
            ctx.problem(format!("{}: the sites walk did not end after {MAX_PAGES} pages", CONTACTS[contact]));
            return None;
        }
        let limit = rng.range(1, 5) as usize;
        let page = match ctx.store.view_sites(&email, Rollout::Everyone, after.as_ref(), limit).await {
            Ok(page) => page,
            Err(e) => {
                if last {
                    ctx.problem(format!("{}: sites page failed with no faults: {e}", CONTACTS[contact]));
                }
                return None;
            }
        };
        for site in page.items {
            if sites.contains(&site.support_id) {
                ctx.problem(format!("{}: site {} listed twice in one walk", CONTACTS[contact], site.support_id));
            }
            counts.insert(site.support_id.to_string(), site.entitlement_count);
            sites.push(site.support_id);
        }
        match page.next {
            Some(next) => after = Some(next),
            None => break,
        }
    }
    let mut complete = true;
    for site in &sites {
        match site_walk(ctx, &email, contact, site, &mut rng, last).await {
            Some(lines) => {
                if last && counts.get(site.as_str()).copied() != Some(lines.len() as u64) {
                    ctx.problem(format!(
                        "{}: {site} says {:?} entitlements, its walk returned {}",
                        CONTACTS[contact],
                        counts.get(site.as_str()),
                        lines.len()
                    ));
                }
                view.insert(site.to_string(), lines);
            }
            None => complete = false,
        }
    }
    if !last {
        // One detail read of a random serial of the world.
        let all: Vec<&String> = ctx.orders.iter().flat_map(|o| o.serials.iter().flatten()).collect();
        let serial = (*rng.pick(&all)).clone();
        detail(ctx, contact, &serial).await;
    }
    complete.then_some(view)
}

/// One site's entitlements, page by page; every line checked (a).
async fn site_walk(
    ctx: &Ctx,
    email: &Email,
    contact: usize,
    site: &SupportId,
    rng: &mut Rng,
    last: bool,
) -> Option<BTreeMap<String, Vec<String>>> {
    let mut lines = BTreeMap::new();
    let mut after: Option<String> = None;
    for _ in 0..MAX_PAGES {
        let limit = rng.range(1, 5) as usize;
        let t0 = ctx.op();
        let page = ctx
            .store
            .site_entitlements(email, Rollout::Everyone, site, after.as_deref(), limit, &EntitlementFilter::default(), Day::today())
            .await;
        let t1 = ctx.op();
        let page = match page {
            Ok(Some((_, page))) => page,
            Ok(None) => {
                if last {
                    ctx.problem(format!("{}: site {site} is in the view but its list is 404", CONTACTS[contact]));
                }
                return None;
            }
            Err(e) => {
                if last {
                    ctx.problem(format!("{}: entitlements page of {site} failed with no faults: {e}", CONTACTS[contact]));
                }
                return None;
            }
        };
        for e in page.items {
            check_line(ctx, contact, site, &e, t0, t1);
            let rules = e.access.iter().map(|a| serde_json::to_value(a).unwrap().as_str().unwrap().to_string()).collect();
            if lines.insert(e.line.line.serial.to_string(), rules).is_some() {
                ctx.problem(format!("{}: serial {} returned twice in one walk of {site}", CONTACTS[contact], e.line.line.serial));
            }
        }
        match page.next {
            Some(next) => after = Some(next),
            None => return Some(lines),
        }
    }
    ctx.problem(format!("{}: the walk of {site} did not end after {MAX_PAGES} pages", CONTACTS[contact]));
    None
}

/// (a): a returned line belongs to a version of its order that was current at some moment
/// of the read, at the site that version names, with a serial of that version.
fn check_line(ctx: &Ctx, contact: usize, listed: &SupportId, e: &VisibleEntitlement, t0: u64, t1: u64) {
    ctx.counts.lock().unwrap().lines_checked += 1;
    let who = CONTACTS[contact];
    let (o, v, serial) = (e.line.order_id.to_string(), e.line.version, e.line.line.serial.to_string());
    let Some(order) = ctx.order(&o) else { return ctx.problem(format!("{who}: {serial} of unknown order {o}")) };
    let Some(version) = order.versions.get((v as usize).wrapping_sub(1)) else {
        return ctx.problem(format!("{who}: {serial} of unknown version {o} v{v}"));
    };
    if SITES[version.end.site] != listed.as_str() || e.line.site != *listed {
        ctx.problem(format!(
            "{who}: {serial} of {o} v{v} (whose site is {}) listed under {listed} [hole 1: a moved order's line under the old site]",
            SITES[version.end.site]
        ));
    }
    if version.cancelled || !order.serials[v as usize - 1].contains(&serial) {
        ctx.problem(format!("{who}: {serial} listed as a line of {o} v{v}, which has no such active line"));
    }
    let heads = ctx.head_versions(&o, t0, t1);
    if !heads.contains(&Some(v)) {
        ctx.problem(format!(
            "{who}: {serial} of {o} v{v} listed under {listed}, but during the read (ops {t0}..={t1}) the current version was only {heads:?}"
        ));
    }
}

/// (b): licence keys are shown only to a contact with access under the version current
/// at some moment of the read.
async fn detail(ctx: &Ctx, contact: usize, serial: &str) -> Option<Option<Vec<String>>> {
    let email = Email::parse(CONTACTS[contact]).expect("email");
    let t0 = ctx.op();
    let got = ctx.store.entitlement(&email, &Serial::parse(serial).expect("serial"), Day::today(), Rollout::Everyone).await;
    let t1 = ctx.op();
    let who = CONTACTS[contact];
    match got {
        Err(_) => None,
        Ok(None) => Some(None),
        Ok(Some((e, _site))) => {
            ctx.counts.lock().unwrap().details_shown_checked += 1;
            let (o, v) = (e.line.order_id.to_string(), e.line.version);
            let ok = ctx.order(&o).is_some_and(|order| {
                order.versions.get((v as usize).wrapping_sub(1)).is_some()
                    && order.serials[v as usize - 1].iter().any(|s| s == serial)
                    && ctx.had_access(order, v, contact, t0, t1)
            });
            if !ok {
                ctx.problem(format!(
                    "{who}: the licence keys of {serial} ({o} v{v}) were shown without access under the version current during the read (ops {t0}..={t1}; heads {:?})",
                    ctx.head_versions(&o, t0, t1)
                ));
            }
            Some(Some(e.access.iter().map(|a| serde_json::to_value(a).unwrap().as_str().unwrap().to_string()).collect()))
        }
    }
}

/// (c): once every message is handled and the indexes caught up.
async fn final_checks(ctx: &Ctx, messages: &[Msg], rng: &mut Rng) {
    // Which orders are stored, at which version; which versions were ever current.
    let (heads, ever) = {
        let world = ctx.world.lock().unwrap();
        let mut heads: BTreeMap<usize, u64> = BTreeMap::new();
        let mut ever: BTreeSet<(usize, u64)> = BTreeSet::new();
        for (i, o) in ctx.orders.iter().enumerate() {
            let key = (format!("ORDER#{}", o.id), "HEAD".to_string());
            if let Some(v) = world.table.get_now(&key).and_then(|h| num(h, "current_version")) {
                heads.insert(i, v);
            }
            for state in world.table.states_during(&key, 0, world.table.op).into_iter().flatten() {
                if let Some(v) = num(state, "current_version") {
                    ever.insert((i, v));
                }
            }
        }
        (heads, ever)
    };
    // Every message ended; the dead-lettered ones are really bad.
    for msg in messages {
        let order = &ctx.orders[msg.order];
        if let Some(reason) = &msg.dead_lettered {
            let really_bad = order.serials[msg.v].iter().any(|s| {
                ctx.orders
                    .iter()
                    .enumerate()
                    .any(|(i, other)| other.id != order.id && heads.get(&i).is_some_and(|&v| other.serials[v as usize - 1].contains(s)))
            }) && reason.as_deref().is_some_and(|r| r.contains("already belongs to order"));
            if !really_bad {
                ctx.problem(format!(
                    "{} ({} v{}) was dead-lettered but is not really bad: {} (outcomes {:?}) [hole 6 if a serial claim refused it]",
                    msg.id,
                    order.id,
                    msg.v + 1,
                    reason.as_deref().unwrap_or("redriven by SQS without abev-error"),
                    msg.outcomes
                ));
            }
        }
    }
    // Each stored order is at the highest version delivered and not refused.
    for (i, order) in ctx.orders.iter().enumerate() {
        let want = messages.iter().filter(|m| m.order == i && m.dead_lettered.is_none()).map(|m| m.v as u64 + 1).max();
        if heads.get(&i).copied() != want {
            ctx.problem(format!(
                "{}: the head is at {:?}, the highest version delivered and not refused is {want:?}",
                order.id,
                heads.get(&i)
            ));
        }
    }
    let versions: BTreeMap<usize, (&Version, Vec<String>)> = heads
        .iter()
        .map(|(&i, &v)| (i, (&ctx.orders[i].versions[v as usize - 1], ctx.orders[i].serials[v as usize - 1].clone())))
        .collect();
    let provisioned: Vec<&Version> = ever.iter().map(|&(i, v)| &ctx.orders[i].versions[v as usize - 1]).collect();
    let expected = w::reference(&versions, &provisioned);
    let t = ctx.op();
    for (c, email) in CONTACTS.iter().enumerate() {
        let Some(got) = walk(ctx, c, rng.fork(), true).await else { continue };
        ctx.counts.lock().unwrap().final_views_checked += 1;
        if got != expected[*email] {
            ctx.problem(format!(
                "final view of {email} differs from §2 [provisioned versions {:?}]:\n      got  {got:?}\n      want {:?}",
                ever.iter().map(|(i, v)| format!("{} v{v}", ctx.orders[*i].id)).collect::<Vec<_>>(),
                expected[*email]
            ));
        }
        // The detail of every serial: shown exactly when the reference shows it, with its rules.
        // The detail of every serial the contact should see, and of a few it should not.
        let all: Vec<&String> = ctx.orders.iter().flat_map(|o| o.serials.iter().flatten()).collect();
        let mut serials: BTreeSet<&String> =
            all.iter().copied().filter(|s| expected[*email].values().any(|l| l.contains_key(s.as_str()))).collect();
        for _ in 0..2 {
            serials.insert(*rng.pick(&all));
        }
        for serial in serials {
            let want = expected[*email].values().find_map(|lines| lines.get(serial.as_str()));
            match detail(ctx, c, serial).await {
                None => ctx.problem(format!("{email}: detail of {serial} failed with no faults")),
                Some(got) => {
                    if got.as_ref() != want {
                        ctx.problem(format!("{email}: detail of {serial} shows {got:?}, §2 says {want:?}"));
                    }
                }
            }
        }
    }
    let _ = t;
    leftovers(ctx, &heads);
}

/// Nothing of a settled order is left behind: claims, ship-to copies, lines of other
/// versions, grants of versions that are not current, `UNSETTLED` items, the settle work list.
fn leftovers(ctx: &Ctx, heads: &BTreeMap<usize, u64>) {
    let world = ctx.world.lock().unwrap();
    let current = |order_id: &str| -> Option<(&SimOrder, u64, &Version)> {
        let (i, o) = ctx.orders.iter().enumerate().find(|(_, o)| o.id == order_id)?;
        let v = *heads.get(&i)?;
        Some((o, v, &o.versions[v as usize - 1]))
    };
    let mut found = Vec::new();
    for ((pk, sk), item) in world.table.items_now() {
        if let Some(serial) = pk.strip_prefix("SERIAL#") {
            let owner = s_attr(item, "order_id").unwrap_or("?");
            match current(owner) {
                None => found.push(format!(
                    "claim of {serial} held by {owner}, which is not a stored order [hole 6: a refused order's claims leak]"
                )),
                Some((o, _, _)) if !item.contains_key("versions") => found.push(format!("claim of {serial} by {} holds no version", o.id)),
                _ => {}
            }
        } else if let Some(rest) = pk.strip_prefix("SHIPPED#") {
            let o = s_attr(item, "order_id").unwrap_or("?");
            let v = num(item, "version").unwrap_or(0);
            let serial = s_attr(item, "serial").unwrap_or("?");
            let (email, site) = rest.rsplit_once('#').unwrap_or((rest, ""));
            let ok = current(o).is_some_and(|(order, cv, version)| {
                cv == v
                    && !version.cancelled
                    && SITES[version.end.site] == site
                    && order.serials[v as usize - 1].iter().any(|s| s == serial)
                    && version.ship_to.as_ref().is_some_and(|p| p.contacts.iter().any(|c| CONTACTS[*c] == email))
            });
            if !ok {
                found.push(format!("ship-to copy {pk}/{sk} of {o} v{v} left behind [hole 3]"));
            }
        } else if let Some(o) = pk.strip_prefix("ORDER#") {
            if let Some((v, serial)) = sk.strip_prefix("LINE#").and_then(|r| r.split_once('#')) {
                let v: u64 = v.parse().unwrap_or(0);
                if !current(o).is_some_and(|(_, cv, version)| cv == v && !version.cancelled) {
                    let why = if current(o).is_none() { " [hole 6: a refused order's staged lines stay]" } else { "" };
                    found.push(format!("line {serial} of {o} v{v} left behind (current: {:?}){why}", current(o).map(|c| c.1)));
                }
            }
        } else if let Some(email) = pk.strip_prefix("CONTACT#") {
            if let Some(o) = sk.strip_prefix("GRANT#") {
                let versions = match item.get("versions") {
                    Some(AV::Ns(v)) => v.iter().filter_map(|n| n.parse::<u64>().ok()).collect(),
                    _ => BTreeSet::new(),
                };
                let ok = current(o).is_some_and(|(_, cv, version)| {
                    versions.iter().all(|v| *v == cv)
                        && version.ship_to.as_ref().is_some_and(|p| p.contacts.iter().any(|c| CONTACTS[*c] == email))
                });
                if !ok {
                    let why = if current(o).is_none() { " [hole 6: a refused order's grants stay]" } else { "" };
                    found.push(format!("grant {pk}/{sk} with versions {versions:?} left behind{why}"));
                }
            }
        } else if pk.starts_with("SITE#") && sk.starts_with("UNSETTLED#") {
            // Once the indexes caught up and the settle work list ran, every order is settled:
            // an item left is one that is never forgotten (no clock may do it).
            let o = sk.trim_start_matches("UNSETTLED#");
            let why = match (current(o), item.contains_key("staged")) {
                (None, true) => "a refused order's staging is left behind: its final exit gives back only the claims [hole 6]",
                (Some(_), true) => "a delivery's staged version is never taken out [issue 17 item 7 / hole 4]",
                (_, false) => "a settled order is never forgotten [hole 5]",
            };
            found.push(format!("{pk}/{sk} left behind (staged {:?}): {why}", item.get("staged")));
        } else if pk == abev::store::keys::SETTLE_PENDING_PK {
            found.push(format!("{pk}/{sk} still on the settle work list after the indexes caught up [hole 5]"));
        }
    }
    drop(world);
    for f in found {
        ctx.problem(f);
    }
}
