//! The access-request workflow (spec §5): routing, decisions, escalation, the SLA sweep.

use crate::http::AppState;
use crate::store::StoreError;

/// The current time (a parameter everywhere else, so tests control the clock).
pub fn now() -> time::OffsetDateTime {
    time::OffsetDateTime::now_utc()
}

/// Escalates `pending_admin` requests older than the admin SLA; returns how many.
pub async fn sweep(_state: &AppState, _now: time::OffsetDateTime) -> Result<usize, StoreError> {
    Ok(0)
}
