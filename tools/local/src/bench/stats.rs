//! Percentiles and number formatting for the report.

use std::time::Duration;

/// Timings of repeated runs of one thing.
#[derive(Debug, Clone, Default)]
pub struct Runs(Vec<Duration>);

impl Runs {
    pub fn push(&mut self, d: Duration) {
        self.0.push(d);
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Nearest-rank percentile (`q` in 0..=1), in milliseconds.
    pub fn pct_ms(&self, q: f64) -> f64 {
        if self.0.is_empty() {
            return f64::NAN;
        }
        let mut v = self.0.clone();
        v.sort();
        let rank = ((q * v.len() as f64).ceil() as usize).clamp(1, v.len());
        v[rank - 1].as_secs_f64() * 1000.0
    }

    pub fn p50(&self) -> f64 {
        self.pct_ms(0.5)
    }

    pub fn p99(&self) -> f64 {
        self.pct_ms(0.99)
    }
}

/// The smallest and largest of a count over runs: `4`, or `4–5` when runs differed.
#[derive(Debug, Clone, Copy, Default)]
pub struct Spread {
    min: Option<u64>,
    max: u64,
}

impl Spread {
    pub fn add(&mut self, x: u64) {
        self.min = Some(self.min.map_or(x, |m| m.min(x)));
        self.max = self.max.max(x);
    }

    pub fn varied(&self) -> bool {
        self.min.is_some_and(|m| m != self.max)
    }
}

impl std::fmt::Display for Spread {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.min {
            None => write!(f, "—"),
            Some(m) if m == self.max => write!(f, "{m}"),
            Some(m) => write!(f, "{m}–{}", self.max),
        }
    }
}

/// A float for a table: `—` when it is not a number.
pub fn f(x: f64, decimals: usize) -> String {
    if x.is_finite() {
        format!("{x:.decimals$}")
    } else {
        "—".into()
    }
}

/// A whole number with thousands separators.
pub fn n(x: u64) -> String {
    let s = x.to_string();
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// Reading units an eventually consistent read of `bytes` costs at least: 0.5 RCU per
/// started 4 KB (1 RCU per 8 KB).
pub fn rcu_floor(bytes: usize) -> f64 {
    bytes.div_ceil(4096).max(1) as f64 * 0.5
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_are_nearest_rank() {
        let mut r = Runs::default();
        for ms in 1..=20u64 {
            r.push(Duration::from_millis(ms));
        }
        assert_eq!((r.p50(), r.p99()), (10.0, 20.0));
    }

    #[test]
    fn formats() {
        assert_eq!(n(1_234_567), "1,234,567");
        assert_eq!(n(12), "12");
        let mut s = Spread::default();
        assert_eq!(s.to_string(), "—");
        s.add(4);
        assert_eq!(s.to_string(), "4");
        s.add(5);
        s.add(4);
        assert_eq!((s.to_string(), s.varied()), ("4–5".to_string(), true));
        assert_eq!(rcu_floor(1), 0.5);
        assert_eq!(rcu_floor(8192), 1.0);
        assert_eq!(rcu_floor(8193), 1.5);
    }
}
