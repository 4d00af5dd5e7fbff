//! The load report's arithmetic, without I/O: percentiles of recorded timings, the rows of
//! the per-route table (loaded ÷ unloaded), what counts as an error, and the comparison of a
//! page walk with the world's reference counts.

use std::collections::BTreeMap;
use std::time::Duration;

/// Who makes a request (a goose scenario).
pub type Kind = &'static str;
/// A route as the report names it (`GET /v1/view`).
pub type Route = &'static str;

/// The two phases measured.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Phase {
    /// One caller at a time, nothing ingested.
    Unloaded,
    /// The mixed load, orders arriving.
    Loaded,
}

/// The timings (µs) of the answers a route was meant to give, and every status seen.
#[derive(Debug, Default, Clone)]
pub struct Samples {
    pub micros: Vec<u64>,
    pub statuses: BTreeMap<u16, u64>,
}

impl Samples {
    /// Records one answer: its status always, its time only when it is the expected one
    /// (a 429 answered at once would make the percentiles look better than the route).
    pub fn add(&mut self, status: u16, expected: u16, elapsed: Duration) {
        *self.statuses.entry(status).or_default() += 1;
        if status == expected {
            self.micros.push(elapsed.as_micros() as u64);
        }
    }

    pub fn requests(&self) -> u64 {
        self.statuses.values().sum()
    }

    /// Answers that are neither the expected status nor 429 (status 0: no answer at all).
    pub fn errors(&self, expected: u16) -> u64 {
        self.statuses.iter().filter(|(s, _)| **s != expected && **s != 429).map(|(_, n)| n).sum()
    }

    pub fn throttled(&self) -> u64 {
        self.statuses.get(&429).copied().unwrap_or(0)
    }

    /// The `q`-quantile (0 < q ≤ 1) in milliseconds, nearest rank; `None` without samples.
    pub fn quantile_ms(&self, q: f64) -> Option<f64> {
        quantile_ms(&self.micros, q)
    }
}

/// The `q`-quantile of `micros` in milliseconds by nearest rank (the smallest value with at
/// least `q` of the samples at or below it).
pub fn quantile_ms(micros: &[u64], q: f64) -> Option<f64> {
    if micros.is_empty() {
        return None;
    }
    let mut sorted = micros.to_vec();
    sorted.sort_unstable();
    let rank = ((q * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
    Some(sorted[rank - 1] as f64 / 1000.0)
}

/// One row of the per-route table.
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    pub kind: Kind,
    pub route: Route,
    pub page: bool,
    pub unloaded: [Option<f64>; 3],
    pub loaded: [Option<f64>; 3],
    pub loaded_requests: u64,
    pub errors: u64,
    pub throttled: u64,
}

impl Row {
    /// Loaded p50/p95/p99 each ÷ the same unloaded percentile.
    pub fn ratios(&self) -> [Option<f64>; 3] {
        let mut out = [None; 3];
        for (i, o) in out.iter_mut().enumerate() {
            *o = ratio(self.loaded[i], self.unloaded[i]);
        }
        out
    }

    /// The target for a page: p99 under load ÷ its unloaded p50 (at most 3).
    pub fn p99_over_unloaded_p50(&self) -> Option<f64> {
        ratio(self.loaded[2], self.unloaded[0])
    }

    pub fn meets_target(&self) -> Option<bool> {
        self.p99_over_unloaded_p50().map(|r| r <= TARGET)
    }
}

/// "p99 of a page under load ≤ 3× its unloaded p50" (issue 22).
pub const TARGET: f64 = 3.0;

fn ratio(a: Option<f64>, b: Option<f64>) -> Option<f64> {
    match (a, b) {
        (Some(a), Some(b)) if b > 0.0 => Some(a / b),
        _ => None,
    }
}

/// What a route is: its expected status and whether it is a page (a list of the view).
#[derive(Debug, Clone, Copy)]
pub struct RouteInfo {
    pub expected: u16,
    pub page: bool,
}

/// The table's rows: one per (caller kind, route) seen under load, in that order.
pub fn rows(recorded: &BTreeMap<(Phase, Kind, Route), Samples>, info: impl Fn(Route) -> RouteInfo) -> Vec<Row> {
    let pct = |s: Option<&Samples>| {
        let s = s.cloned().unwrap_or_default();
        [s.quantile_ms(0.50), s.quantile_ms(0.95), s.quantile_ms(0.99)]
    };
    recorded
        .iter()
        .filter(|((phase, _, _), _)| *phase == Phase::Loaded)
        .map(|((_, kind, route), loaded)| {
            let i = info(route);
            Row {
                kind,
                route,
                page: i.page,
                unloaded: pct(recorded.get(&(Phase::Unloaded, kind, route))),
                loaded: pct(Some(loaded)),
                loaded_requests: loaded.requests(),
                errors: loaded.errors(i.expected),
                throttled: loaded.throttled(),
            }
        })
        .collect()
}

/// A walk's result against its reference: every key's count must be exactly the expected one.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Mismatches {
    /// (key, expected, seen); a key missing from what was seen is seen as 0, one not expected
    /// at all is expected as 0.
    pub wrong: Vec<(String, u64, u64)>,
}

impl Mismatches {
    pub fn is_empty(&self) -> bool {
        self.wrong.is_empty()
    }
}

/// Compares what a walk saw (per key: a site's entitlements) with the reference.
pub fn compare(expected: &BTreeMap<String, u64>, seen: &BTreeMap<String, u64>) -> Mismatches {
    let mut wrong = Vec::new();
    for key in expected.keys().chain(seen.keys().filter(|k| !expected.contains_key(*k))) {
        let (e, s) = (expected.get(key).copied().unwrap_or(0), seen.get(key).copied().unwrap_or(0));
        if e != s {
            wrong.push((key.clone(), e, s));
        }
    }
    Mismatches { wrong }
}

/// Formats milliseconds (or a dash).
pub fn ms(v: Option<f64>) -> String {
    v.map_or_else(|| "–".into(), |v| format!("{v:.1}"))
}

/// Formats a ratio (or a dash).
pub fn times(v: Option<f64>) -> String {
    v.map_or_else(|| "–".into(), |v| format!("{v:.2}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank_quantiles() {
        let micros: Vec<u64> = (1..=100).map(|i| i * 1000).collect();
        assert_eq!(quantile_ms(&micros, 0.50), Some(50.0));
        assert_eq!(quantile_ms(&micros, 0.95), Some(95.0));
        assert_eq!(quantile_ms(&micros, 0.99), Some(99.0));
        assert_eq!(quantile_ms(&[7_500], 0.99), Some(7.5));
        assert_eq!(quantile_ms(&[], 0.5), None);
        // Unsorted input, and a quantile between ranks rounds up.
        assert_eq!(quantile_ms(&[3000, 1000, 2000], 0.5), Some(2.0));
    }

    #[test]
    fn only_expected_answers_are_timed_and_only_429_is_not_an_error() {
        let mut s = Samples::default();
        s.add(200, 200, Duration::from_millis(10));
        s.add(429, 200, Duration::from_micros(100));
        s.add(503, 200, Duration::from_millis(1));
        s.add(0, 200, Duration::from_millis(1));
        assert_eq!(s.micros, vec![10_000]);
        assert_eq!((s.requests(), s.throttled(), s.errors(200)), (4, 1, 2));
    }

    #[test]
    fn rows_divide_loaded_by_unloaded_and_judge_the_target() {
        let mut recorded = BTreeMap::new();
        let mut unloaded = Samples::default();
        for ms in [10u64, 10, 10, 20] {
            unloaded.add(200, 200, Duration::from_millis(ms));
        }
        let mut loaded = Samples::default();
        for ms in [20u64, 20, 25, 31] {
            loaded.add(200, 200, Duration::from_millis(ms));
        }
        loaded.add(429, 200, Duration::ZERO);
        recorded.insert((Phase::Unloaded, "customer", "GET /v1/view"), unloaded);
        recorded.insert((Phase::Loaded, "customer", "GET /v1/view"), loaded);
        // Only in the unloaded phase: no row.
        recorded.insert((Phase::Unloaded, "care", "GET /v1/approvals"), Samples::default());
        let rows = rows(&recorded, |_| RouteInfo { expected: 200, page: true });
        assert_eq!(rows.len(), 1);
        let r = &rows[0];
        assert_eq!(r.unloaded, [Some(10.0), Some(20.0), Some(20.0)]);
        assert_eq!(r.loaded, [Some(20.0), Some(31.0), Some(31.0)]);
        assert_eq!(r.ratios(), [Some(2.0), Some(1.55), Some(1.55)]);
        assert_eq!(r.p99_over_unloaded_p50(), Some(3.1));
        assert_eq!(r.meets_target(), Some(false));
        assert_eq!((r.loaded_requests, r.errors, r.throttled), (5, 0, 1));
    }

    #[test]
    fn a_walk_matches_only_when_every_count_is_exact() {
        let expected: BTreeMap<String, u64> = [("CUST-0001".to_string(), 3), ("CUST-0002".to_string(), 1)].into();
        assert!(compare(&expected, &expected.clone()).is_empty());
        let seen: BTreeMap<String, u64> = [("CUST-0001".to_string(), 4), ("CUST-0003".to_string(), 1)].into();
        assert_eq!(
            compare(&expected, &seen).wrong,
            vec![("CUST-0001".into(), 3, 4), ("CUST-0002".into(), 1, 0), ("CUST-0003".into(), 0, 1)]
        );
    }
}
