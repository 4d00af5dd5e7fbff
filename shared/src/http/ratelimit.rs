//! Per-caller request limits on every authenticated route: a token bucket per token
//! subject, kept in the table so that every Lambda instance (and the local host) shares it.
//!
//! The bucket is GCRA (the generic cell rate algorithm), a token bucket stored as one
//! number: the *theoretical arrival time* (`tat`) at which the bucket would be full again.
//! A bucket holds `burst` tokens and refills one every `1 / per_second` seconds; a request
//! takes one. With `T` the refill interval: a request at `now` moves `tat` to
//! `max(tat, now) + T`, and is allowed while that is at most `burst · T` ahead of `now`.
//! So an idle caller may send `burst` requests at once, then `per_second` a second.
//!
//! Cost: one consistent `GetItem` and one conditional `PutItem` per request (the put is
//! conditional on `tat` as read, so concurrent requests of one caller cannot both take the
//! last token). The item expires through the table's TTL an hour after it is full again.
//! Why here and not WAF: WAF cannot be attached to an API Gateway HTTP API, and its
//! rate-based rules count per IP or header value over fixed windows, not per verified
//! token subject; the JWT authorizer's claims are first seen by the functions.

use super::problem::ApiError;
use crate::store::keys;
use crate::store::tx::Cond;
use crate::store::{get_n, n, Store, StoreError};
use axum::http::{HeaderMap, HeaderValue};
use sha2::{Digest, Sha256};

/// The item attribute the table's TTL reads (template.yaml `TimeToLiveSpecification`).
pub const TTL_ATTRIBUTE: &str = "ttl";
/// How many times a request re-reads its bucket after losing a race to another request of
/// the same caller before it is refused.
const ATTEMPTS: usize = 3;
/// The policy's name in the `RateLimit` and `RateLimit-Policy` headers.
const POLICY_NAME: &str = "caller";

/// How fast one caller may go: `burst` requests at once, then `per_second` a second.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RatePolicy {
    pub per_second: u32,
    pub burst: u32,
}

impl Default for RatePolicy {
    /// People click: a page is 2–3 requests. 100 at once and 10 a second after that is far
    /// above a person and well below what one script could cost everyone else.
    fn default() -> Self {
        RatePolicy { per_second: 10, burst: 100 }
    }
}

impl RatePolicy {
    /// `ABEV_RATE_PER_SECOND` and `ABEV_RATE_BURST` (whole numbers, 1 or more); `0` for
    /// either turns the limit off (the local host's tests).
    pub fn from_env() -> Result<Option<RatePolicy>, crate::config::ConfigError> {
        let d = RatePolicy::default();
        let per_second = crate::config::number("ABEV_RATE_PER_SECOND", u64::from(d.per_second))?;
        let burst = crate::config::number("ABEV_RATE_BURST", u64::from(d.burst))?;
        if per_second == 0 || burst == 0 {
            return Ok(None);
        }
        Ok(Some(RatePolicy { per_second: u32::try_from(per_second).unwrap_or(u32::MAX), burst: u32::try_from(burst).unwrap_or(u32::MAX) }))
    }

    /// The refill interval in microseconds.
    fn interval_us(&self) -> i64 {
        1_000_000 / i64::from(self.per_second.max(1))
    }

    /// The window the quota refills over (seconds): `burst / per_second`, at least 1.
    pub fn window_secs(&self) -> u64 {
        (u64::from(self.burst) / u64::from(self.per_second.max(1))).max(1)
    }
}

/// What one request's bucket says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Allowed: the bucket's new `tat`, the tokens left, and seconds until it is full again.
    Allow { tat_us: i64, remaining: u32, reset_secs: u64 },
    /// Refused: seconds until one token is back.
    Deny { retry_after_secs: u64, reset_secs: u64 },
}

fn ceil_secs(us: i64) -> u64 {
    (us.max(0) as u64).div_ceil(1_000_000)
}

/// The GCRA step: from the bucket as stored (`None`: a full bucket) and the time, in
/// microseconds since the epoch. Pure.
pub fn decide(policy: &RatePolicy, tat_us: Option<i64>, now_us: i64) -> Verdict {
    let interval = policy.interval_us();
    let capacity = interval.saturating_mul(i64::from(policy.burst));
    let new_tat = tat_us.unwrap_or(now_us).max(now_us).saturating_add(interval);
    let ahead = new_tat - now_us;
    if ahead > capacity {
        let ahead_now = tat_us.unwrap_or(now_us).max(now_us) - now_us;
        return Verdict::Deny { retry_after_secs: ceil_secs(ahead - capacity).max(1), reset_secs: ceil_secs(ahead_now) };
    }
    let remaining = ((capacity - ahead) / interval.max(1)) as u32;
    Verdict::Allow { tat_us: new_tat, remaining, reset_secs: ceil_secs(ahead) }
}

/// The bucket's key: a digest of the token's subject.
pub fn bucket_key(subject: &str) -> keys::Key {
    let digest = Sha256::digest(subject.as_bytes());
    keys::rate_bucket(&digest.iter().map(|b| format!("{b:02x}")).collect::<String>())
}

/// Takes one token from `subject`'s bucket.
pub async fn take(store: &Store, policy: &RatePolicy, subject: &str, now_us: i64) -> Result<Verdict, StoreError> {
    let key = bucket_key(subject);
    for _ in 0..ATTEMPTS {
        let seen = store.get("GetItem rate bucket", &key, true).await?.and_then(|item| get_n(&item, "tat"));
        let verdict = decide(policy, seen, now_us);
        let Verdict::Allow { tat_us, .. } = verdict else { return Ok(verdict) };
        let mut item = key.to_item();
        item.insert("tat".into(), n(tat_us));
        item.insert(TTL_ATTRIBUTE.into(), n(tat_us / 1_000_000 + 3600));
        let cond = match seen {
            Some(t) => Cond::new("tat = :seen_tat").value(":seen_tat", n(t)),
            None => Cond::absent(),
        };
        if store.put("PutItem rate bucket", item, Some(cond)).await? {
            return Ok(verdict);
        }
    }
    // Lost every race: the caller is sending in parallel faster than it may.
    Ok(Verdict::Deny { retry_after_secs: 1, reset_secs: policy.window_secs() })
}

/// The `RateLimit-Policy` and `RateLimit` headers (IETF draft-ietf-httpapi-ratelimit-headers):
/// `"caller";q=<burst>;w=<window>` and `"caller";r=<remaining>;t=<seconds until full>`.
pub fn headers(policy: &RatePolicy, verdict: &Verdict, headers: &mut HeaderMap) {
    let (remaining, reset) = match verdict {
        Verdict::Allow { remaining, reset_secs, .. } => (*remaining, *reset_secs),
        Verdict::Deny { reset_secs, .. } => (0, *reset_secs),
    };
    let policy_value = format!("\"{POLICY_NAME}\";q={};w={}", policy.burst, policy.window_secs());
    let limit_value = format!("\"{POLICY_NAME}\";r={remaining};t={reset}");
    for (name, value) in [("ratelimit-policy", policy_value), ("ratelimit", limit_value)] {
        if let Ok(v) = HeaderValue::from_str(&value) {
            headers.insert(name, v);
        }
    }
}

/// The refusal a denied request gets (429 with `Retry-After`).
pub fn refusal(retry_after_secs: u64) -> ApiError {
    ApiError::TooManyRequests { detail: format!("too many requests from you; try again in {retry_after_secs} s"), retry_after_secs }
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: i64 = 1_000_000;

    #[test]
    fn an_idle_caller_gets_the_whole_burst_then_the_rate() {
        let p = RatePolicy { per_second: 2, burst: 3 };
        let now = 1_000 * S;
        let mut tat = None;
        for left in [2, 1, 0] {
            match decide(&p, tat, now) {
                Verdict::Allow { tat_us, remaining, .. } => {
                    assert_eq!(remaining, left);
                    tat = Some(tat_us);
                }
                v => panic!("{v:?}"),
            }
        }
        // The fourth at once is refused for one interval (0.5 s, rounded up to 1 s).
        assert_eq!(decide(&p, tat, now), Verdict::Deny { retry_after_secs: 1, reset_secs: 2 });
        // Half a second later one token is back.
        assert!(matches!(decide(&p, tat, now + S / 2), Verdict::Allow { remaining: 0, .. }));
        // After the window the bucket is full again.
        assert!(matches!(decide(&p, tat, now + 10 * S), Verdict::Allow { remaining: 2, .. }));
    }

    #[test]
    fn a_refusal_says_when_a_token_is_back() {
        let p = RatePolicy { per_second: 1, burst: 2 };
        let now = 50 * S;
        // Bucket empty until now + 2 s: the next token is back in 1 s.
        assert_eq!(decide(&p, Some(now + 2 * S), now), Verdict::Deny { retry_after_secs: 1, reset_secs: 2 });
        // A bucket far in the future (a burst of parallel requests) waits accordingly.
        assert_eq!(decide(&p, Some(now + 5 * S), now), Verdict::Deny { retry_after_secs: 4, reset_secs: 5 });
    }

    #[test]
    fn the_headers_follow_the_ietf_draft() {
        let p = RatePolicy { per_second: 10, burst: 100 };
        let mut h = HeaderMap::new();
        headers(&p, &Verdict::Allow { tat_us: 0, remaining: 42, reset_secs: 6 }, &mut h);
        assert_eq!(h["ratelimit-policy"], "\"caller\";q=100;w=10");
        assert_eq!(h["ratelimit"], "\"caller\";r=42;t=6");
    }

    #[test]
    fn buckets_are_keyed_by_a_digest_of_the_subject() {
        let k = bucket_key("mary@skynet.example");
        assert!(k.pk.starts_with("RATE#") && !k.pk.contains("skynet"));
        assert_eq!(k.pk.len(), "RATE#".len() + 64);
        assert_ne!(bucket_key("a").pk, bucket_key("b").pk);
    }
}
