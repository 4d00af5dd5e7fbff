//! The vocabulary of site management (spec §5): request ids, timestamps, a request's kind
//! and status, why it went to Care, and what a site's history records. Pure, no I/O.

use serde::{Deserialize, Serialize};
use std::fmt;
use time::OffsetDateTime;

/// The default name of the Customer Care group (`ABEV_CARE_GROUP`): the API and the Care
/// CLI both know it.
pub const CARE_GROUP: &str = "customer-care";

/// An access request's id: a UUID, lower-case hyphenated (as generated and as stored).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct RequestId(String);

impl RequestId {
    /// A fresh random id.
    pub fn new() -> RequestId {
        RequestId(uuid::Uuid::new_v4().to_string())
    }
    /// A request id as a caller wrote it (any UUID spelling); `None` if it is not one.
    pub fn parse(raw: &str) -> Option<RequestId> {
        uuid::Uuid::parse_str(raw.trim()).ok().map(|u| RequestId(u.hyphenated().to_string()))
    }
    /// An id read back from the store, trusted as written.
    pub fn stored(raw: impl Into<String>) -> RequestId {
        RequestId(raw.into())
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl Default for RequestId {
    fn default() -> Self {
        RequestId::new()
    }
}

impl fmt::Display for RequestId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A fixed-width UTC timestamp (`2026-04-01T10:00:00.000000Z`): stamps sort as text, so
/// they order work lists and histories in the table's sort keys.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Stamp(String);

const STAMP_FORMAT: &[time::format_description::FormatItem<'static>] =
    time::macros::format_description!("[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:6]Z");
const DAY_FORMAT: &[time::format_description::FormatItem<'static>] = time::macros::format_description!("[year]-[month]-[day]");

impl Stamp {
    pub fn of(t: OffsetDateTime) -> Stamp {
        Stamp(t.to_offset(time::UtcOffset::UTC).format(&STAMP_FORMAT).unwrap_or_default())
    }
    /// A stamp read back from the store, trusted as written.
    pub fn stored(raw: impl Into<String>) -> Stamp {
        Stamp(raw.into())
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
    /// The UTC day, `YYYY-MM-DD`.
    pub fn day(&self) -> &str {
        self.0.get(..10).unwrap_or(&self.0)
    }
    /// The instant, if the stamp is well formed.
    pub fn instant(&self) -> Option<OffsetDateTime> {
        time::PrimitiveDateTime::parse(&self.0, &STAMP_FORMAT).ok().map(|t| t.assume_utc())
    }
}

impl fmt::Display for Stamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// `YYYY-MM-DD` of a date.
pub fn day_of(date: time::Date) -> String {
    date.format(&DAY_FORMAT).unwrap_or_default()
}

/// A `YYYY-MM-DD` day.
pub fn parse_day(raw: &str) -> Option<time::Date> {
    time::Date::parse(raw, &DAY_FORMAT).ok()
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RequestKind {
    Join,
    RoleChange,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RequestStatus {
    PendingAdmin,
    Escalated,
    Approved,
    Rejected,
    /// Nobody decided it within 90 days (issue 21): closed by the sweep.
    Expired,
}

impl RequestStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            RequestStatus::PendingAdmin => "pending_admin",
            RequestStatus::Escalated => "escalated",
            RequestStatus::Approved => "approved",
            RequestStatus::Rejected => "rejected",
            RequestStatus::Expired => "expired",
        }
    }
    pub fn is_open(self) -> bool {
        matches!(self, RequestStatus::PendingAdmin | RequestStatus::Escalated)
    }
}

/// Why a request went to Customer Care (the `reason` of the care-escalation message).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EscalationReason {
    NoSiteAdministrator,
    AdminSlaExpired,
}

impl EscalationReason {
    pub fn as_str(self) -> &'static str {
        match self {
            EscalationReason::NoSiteAdministrator => "no_site_administrator",
            EscalationReason::AdminSlaExpired => "admin_sla_expired",
        }
    }
}

/// What a site history entry records.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum HistoryAction {
    RequestCreated,
    RoutedToSiteAdmins,
    EscalatedToCare,
    Approved,
    Rejected,
    MemberRemoved,
    LastAdminLost,
    /// The view was enabled for the site (rollout waves).
    ViewEnabled,
    /// The view was disabled for the site again.
    ViewDisabled,
    /// A contact became a member by proof of purchase (serial + order number).
    Claimed,
    /// An admin (or Care) revoked a claim within the site's window.
    ClaimRevoked,
    /// The site's claim-revocation window was changed.
    ClaimWindowChanged,
    /// A membership's end date was set or cleared.
    MembershipEndSet,
    /// A membership reached its end date and the sweep removed it.
    MembershipExpired,
    /// An open request nobody decided within 90 days was closed by the sweep.
    RequestExpired,
    /// A domain rule was added: verified e-mail at the domain is approved as `user`.
    DomainRuleAdded,
    /// A domain rule was removed.
    DomainRuleRemoved,
    /// A join request was approved at once by a domain rule (actor `rule:{domain}`).
    ApprovedByRule,
    /// An e-mail address was invited with a role.
    Invited,
    /// An invitation was withdrawn before it was accepted.
    InvitationWithdrawn,
    /// The invitee signed in with the invited, verified address: a member now.
    InvitationAccepted,
    /// An invitation was found past its 14 days and dropped unaccepted.
    InvitationExpired,
    /// The site's access-review period was set (or turned off).
    ReviewScheduleChanged,
    /// An admin (or Care) confirmed a member in an access review.
    ReviewConfirmed,
    /// A member not confirmed by the review's deadline was given an end date.
    ReviewLapsed,
}

impl HistoryAction {
    pub fn as_str(self) -> &'static str {
        match self {
            HistoryAction::RequestCreated => "request_created",
            HistoryAction::RoutedToSiteAdmins => "routed_to_site_admins",
            HistoryAction::EscalatedToCare => "escalated_to_care",
            HistoryAction::Approved => "approved",
            HistoryAction::Rejected => "rejected",
            HistoryAction::MemberRemoved => "member_removed",
            HistoryAction::LastAdminLost => "last_admin_lost",
            HistoryAction::ViewEnabled => "view_enabled",
            HistoryAction::ViewDisabled => "view_disabled",
            HistoryAction::Claimed => "claimed",
            HistoryAction::ClaimRevoked => "claim_revoked",
            HistoryAction::ClaimWindowChanged => "claim_window_changed",
            HistoryAction::MembershipEndSet => "membership_end_set",
            HistoryAction::MembershipExpired => "membership_expired",
            HistoryAction::RequestExpired => "request_expired",
            HistoryAction::DomainRuleAdded => "domain_rule_added",
            HistoryAction::DomainRuleRemoved => "domain_rule_removed",
            HistoryAction::ApprovedByRule => "approved_by_rule",
            HistoryAction::Invited => "invited",
            HistoryAction::InvitationWithdrawn => "invitation_withdrawn",
            HistoryAction::InvitationAccepted => "invitation_accepted",
            HistoryAction::InvitationExpired => "invitation_expired",
            HistoryAction::ReviewScheduleChanged => "review_schedule_changed",
            HistoryAction::ReviewConfirmed => "review_confirmed",
            HistoryAction::ReviewLapsed => "review_lapsed",
        }
    }
}

impl fmt::Display for HistoryAction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Who sees the view: everyone (the default), or only the contacts of sites an operator
/// has enabled, wave by wave (`ABEV_ROLLOUT`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Rollout {
    #[default]
    Everyone,
    Waves,
}

impl Rollout {
    pub fn parse(raw: &str) -> Option<Rollout> {
        match raw.trim().to_ascii_lowercase().as_str() {
            "everyone" | "" => Some(Rollout::Everyone),
            "waves" => Some(Rollout::Waves),
            _ => None,
        }
    }
    pub fn as_str(self) -> &'static str {
        match self {
            Rollout::Everyone => "everyone",
            Rollout::Waves => "waves",
        }
    }
    /// Is a site whose record says `enabled` in the view?
    pub fn shows(self, enabled: bool) -> bool {
        self == Rollout::Everyone || enabled
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stamps_sort_as_text_and_have_fixed_width() {
        let t = time::macros::datetime!(2026-04-01 10:00:00 UTC);
        let (a, b) = (Stamp::of(t), Stamp::of(t + time::Duration::milliseconds(500)));
        assert_eq!(a.as_str(), "2026-04-01T10:00:00.000000Z");
        assert_eq!(a.as_str().len(), b.as_str().len());
        assert!(a < b);
        assert_eq!(a.day(), "2026-04-01");
        assert_eq!(b.instant(), Some(t + time::Duration::milliseconds(500)));
    }

    #[test]
    fn request_ids_are_uuids_in_one_spelling() {
        let id = RequestId::new();
        assert_eq!(RequestId::parse(&id.as_str().to_uppercase()), Some(id));
        assert_eq!(RequestId::parse("not-a-request"), None);
    }

    #[test]
    fn in_waves_only_enabled_sites_show() {
        assert!(Rollout::Everyone.shows(false) && Rollout::Everyone.shows(true));
        assert!(!Rollout::Waves.shows(false) && Rollout::Waves.shows(true));
        assert_eq!(Rollout::parse(" Waves "), Some(Rollout::Waves));
        assert_eq!(Rollout::parse(""), Some(Rollout::Everyone));
        assert_eq!(Rollout::parse("some"), None);
    }

    #[test]
    fn wire_names_are_snake_case() {
        assert_eq!(serde_json::to_value(HistoryAction::LastAdminLost).unwrap(), "last_admin_lost");
        assert_eq!(serde_json::to_value(RequestStatus::PendingAdmin).unwrap(), RequestStatus::PendingAdmin.as_str());
        assert_eq!(serde_json::to_value(EscalationReason::AdminSlaExpired).unwrap(), EscalationReason::AdminSlaExpired.as_str());
        assert_eq!(serde_json::to_value(HistoryAction::ViewEnabled).unwrap(), HistoryAction::ViewEnabled.as_str());
    }
}
