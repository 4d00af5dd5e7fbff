//! What the access rules' unit tests build their snapshots from (`cfg(test)` only): one
//! clock, addresses, actors and site records, so each test module states only what is
//! particular to it.

use super::Actor;
use crate::domain::{Email, SupportId};
use crate::store::access::SiteMeta;
use time::OffsetDateTime;

/// The tests' "now".
pub fn t0() -> OffsetDateTime {
    time::macros::datetime!(2026-12-01 10:00:00 UTC)
}

pub fn email(raw: &str) -> Email {
    Email::parse(raw).unwrap()
}

/// A contact acting (`care`: a Customer Care agent).
pub fn actor(raw: &str, care: bool) -> Actor {
    Actor { email: email(raw), care }
}

/// A site's record with `admins` administrators: not in a rollout wave, not reselling, with
/// the default claim window.
pub fn site_meta(support_id: &str, name: &str, admins: i64) -> SiteMeta {
    SiteMeta {
        support_id: SupportId::parse(support_id).unwrap(),
        name: name.into(),
        admin_count: admins,
        view_enabled: false,
        resells: false,
        claim_revocation_days: None,
    }
}

/// The worked example's `ACME-1` ("Acme Inc") with `admins` administrators.
pub fn acme(admins: i64) -> SiteMeta {
    site_meta("ACME-1", "Acme Inc", admins)
}
