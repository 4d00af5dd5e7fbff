//! Issue 17: the storage protocol explored by deterministic simulation. The real ingestion
//! and read code run over a simulated DynamoDB and SQS (tests/src/sim) that lag indexes,
//! serve stale reads, leave batch items unprocessed, throttle, fail, lose answers, kill
//! invocations at any call and deliver one message twice at once, all from one seed.
//! `docs/SIMULATION.md` says what is checked and how to replay a seed.
//!
//! - `ABEV_SIM_SEEDS=N`: run seeds 1..=N (default 2,000);
//! - `ABEV_SIM_SEED=S`: run seed S alone and print its whole trace.

use abev_integration_tests::sim::{run_seed, Failure, Report};
use std::collections::BTreeMap;
use std::time::Instant;

const DEFAULT_SEEDS: u64 = 2_000;

fn env(name: &str) -> Option<u64> {
    std::env::var(name).ok().map(|v| v.trim().parse().unwrap_or_else(|_| panic!("{name} must be a number, not {v:?}")))
}

/// A seed's result; a panic (an unsupported expression, a broken model) is a failure too.
fn run(seed: u64) -> Result<Report, Failure> {
    match std::panic::catch_unwind(|| run_seed(seed)) {
        Ok(result) => result,
        Err(panic) => {
            let text = panic.downcast_ref::<String>().cloned().or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()));
            Err(Failure { seed, problems: vec![format!("panicked: {}", text.unwrap_or_default())], steps: vec![], trace: vec![] })
        }
    }
}

#[test]
fn the_protocol_holds_under_every_simulated_fault_sequence() {
    let started = Instant::now();
    let seeds: Vec<u64> = match env("ABEV_SIM_SEED") {
        Some(seed) => vec![seed],
        None => (1..=env("ABEV_SIM_SEEDS").unwrap_or(DEFAULT_SEEDS)).collect(),
    };
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get()).clamp(1, 4);
    let chunks: Vec<Vec<u64>> = (0..threads).map(|t| seeds.iter().copied().skip(t).step_by(threads).collect()).collect();
    let results: Vec<(u64, Result<Report, Failure>)> = std::thread::scope(|scope| {
        let handles: Vec<_> =
            chunks.into_iter().map(|chunk| scope.spawn(move || chunk.into_iter().map(|s| (s, run(s))).collect::<Vec<_>>())).collect();
        handles.into_iter().flat_map(|h| h.join().expect("a simulation thread")).collect()
    });
    let mut total = Report::default();
    let mut failures: Vec<Failure> = Vec::new();
    for (_, result) in results {
        match result {
            Ok(r) => {
                total.rounds += r.rounds;
                total.requests += r.requests;
                total.deliveries += r.deliveries;
                total.kills += r.kills;
                total.lines_checked += r.lines_checked;
                total.details_shown_checked += r.details_shown_checked;
                total.final_views_checked += r.final_views_checked;
                for (k, v) in r.stats {
                    *total.stats.entry(k).or_default() += v;
                }
            }
            Err(f) => failures.push(f),
        }
    }
    failures.sort_by_key(|f| f.seed);
    println!(
        "simulation: {} seeds in {:.1?}: {} failed; {} deliveries, {} killed, {} DynamoDB/SQS requests, {} lines and {} shown details checked during ingestion and {} final views",
        seeds.len(),
        started.elapsed(),
        failures.len(),
        total.deliveries,
        total.kills,
        total.requests,
        total.lines_checked,
        total.details_shown_checked,
        total.final_views_checked
    );
    println!("injected and modelled: {:?}", total.stats);
    if !failures.is_empty() {
        // Group failing seeds by their first problem's kind, so a summary reads at a glance.
        let mut kinds: BTreeMap<String, Vec<u64>> = BTreeMap::new();
        for f in &failures {
            let first = f.problems.first().cloned().unwrap_or_default();
            let kind = first.split_once("] ").map_or(first.as_str(), |(_, k)| k).chars().take(90).collect::<String>();
            kinds.entry(kind).or_default().push(f.seed);
        }
        let mut summary = String::new();
        for (kind, seeds) in &kinds {
            summary.push_str(&format!("  {} seeds, e.g. {:?}: {kind}\n", seeds.len(), &seeds[..seeds.len().min(5)]));
        }
        let first = &failures[0];
        panic!("{} of {} seeds failed:\n{summary}\nthe first one in full:\n{first}", failures.len(), seeds.len());
    }
    // Checks that are never reached prove nothing.
    if seeds.len() >= 100 {
        assert!(total.lines_checked > 0 && total.details_shown_checked > 0 && total.final_views_checked > 0, "the checks ran: {total:?}");
        for fault in [
            "stale reads",
            "unprocessed items",
            "unprocessed keys",
            "answers lost",
            "transaction conflicts",
            "throttled",
            "long index delays",
            "short pages",
        ] {
            assert!(total.stats.get(fault).is_some_and(|n| *n > 0), "the simulation injected {fault}: {:?}", total.stats);
        }
        assert!(total.kills > 0, "invocations were killed");
    }
}
