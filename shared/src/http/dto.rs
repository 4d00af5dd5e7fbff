//! The wire: every request body and response body of the API as a typed struct. Handlers
//! answer these, clients (the Care CLI, the tests) read them, and the OpenAPI document is
//! derived from them. Field names are the contract's (spec §4, §5): never rename one.

#[cfg(feature = "service")]
use crate::access::{AccessRequest, HistoryEntry};
use crate::domain::access::{EscalationReason, RequestKind, RequestStatus, Rollout};
use crate::domain::entitlement::{EntitlementStatus, VisibleEntitlement};
use crate::domain::{Access, Day, Email, Role, Serial, SupportId};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// An RFC 9457 problem: every error answer, `application/problem+json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Problem {
    /// A URI naming the kind of problem, e.g. `https://abev.example/problems/not-found`.
    #[serde(rename = "type")]
    pub kind: String,
    /// The kind's short, fixed summary.
    pub title: String,
    /// The HTTP status code.
    #[schema(minimum = 400, maximum = 599)]
    pub status: u16,
    /// What went wrong with this request.
    pub detail: String,
    /// This request: `urn:abev:request:{id}`, the same id as the `x-request-id` header and
    /// the log line's `request_id` (quote it when reporting an error).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub instance: Option<String>,
}

/// An account site, by Support ID and name.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct SiteRef {
    pub support_id: SupportId,
    pub name: String,
}

// ---- view (§4) ------------------------------------------------------------------------

/// `GET /v1/me`: who the caller is, their memberships, and the size of their view.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Me {
    pub email: Email,
    /// Every site the caller is a member of, with their role there.
    pub sites: Vec<MeSite>,
    pub view: ViewSummary,
    pub rollout: MeRollout,
}

/// Rollout waves, as they concern the caller.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct MeRollout {
    /// `everyone`, or `waves`: a site is in views only once Customer Care enabled it.
    #[schema(value_type = String, example = "everyone")]
    pub mode: Rollout,
    /// How many of the caller's sites (`sites`) are not in the view yet (always 0 for `everyone`).
    pub waiting_sites: u64,
}

/// `GET /v1/rollout`: the mode and one page of the sites the view is enabled for.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct RolloutPage {
    #[schema(value_type = String, example = "waves")]
    pub mode: Rollout,
    pub sites: Vec<EnabledSiteView>,
    pub next_cursor: Option<String>,
}

/// A site the view is enabled for: since when, by whom.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct EnabledSiteView {
    pub support_id: SupportId,
    pub name: String,
    pub enabled_at: String,
    pub enabled_by: Email,
}

/// `PUT /v1/rollout/sites/{support_id}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SetRollout {
    /// `true` enables the view for the site, `false` disables it again.
    pub enabled: bool,
}

/// What enabling or disabling did.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct RolloutChangeView {
    pub support_id: SupportId,
    pub name: String,
    pub enabled: bool,
    /// `false`: it was already so (nothing recorded).
    pub changed: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct MeSite {
    pub support_id: SupportId,
    pub name: String,
    pub role: Role,
}

/// How many sites and entitlements the caller's view holds (exact counters).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ViewSummary {
    pub sites: u64,
    pub entitlements: u64,
}

/// `GET /v1/view`: one page of the account sites in the caller's view.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ViewPage {
    pub sites: Vec<ViewSite>,
    /// Pass as `cursor` for the next page; `null` at the end. A page may be short, even empty, while this is not null.
    pub next_cursor: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ViewSite {
    pub support_id: SupportId,
    pub name: String,
    /// How many of the site's entitlements the caller sees.
    pub entitlement_count: u64,
    /// Every rule through which the caller sees at least one of them.
    pub access: Vec<Access>,
}

impl From<crate::domain::entitlement::ViewSite> for ViewSite {
    fn from(s: crate::domain::entitlement::ViewSite) -> ViewSite {
        ViewSite { support_id: s.support_id, name: s.name, entitlement_count: s.entitlement_count, access: s.access }
    }
}

/// One entitlement in a list: no licence keys, no download URL.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct EntitlementSummary {
    pub serial: Serial,
    pub sku: String,
    pub product: String,
    pub quantity: u64,
    pub starts_on: Day,
    pub ends_on: Day,
    pub status: EntitlementStatus,
    pub order_id: String,
    /// The rules through which the caller sees it (one or more).
    pub access: Vec<Access>,
}

/// `GET /v1/view/sites/{support_id}/entitlements`: one page of what the caller sees of a site.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct SiteEntitlementsPage {
    pub site: SiteRef,
    pub entitlements: Vec<EntitlementSummary>,
    /// Pass as `cursor` for the next page; `null` at the end.
    pub next_cursor: Option<String>,
}

/// `GET /v1/entitlements/{serial}`: one entitlement with its keys (the read is audited).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct EntitlementDetail {
    pub serial: Serial,
    pub sku: String,
    pub product: String,
    pub quantity: u64,
    pub starts_on: Day,
    pub ends_on: Day,
    pub status: EntitlementStatus,
    pub order_id: String,
    pub access: Vec<Access>,
    /// The owning (end-customer) site.
    pub site: SiteRef,
    pub license_keys: Vec<String>,
    pub download_url: Option<String>,
}

/// `GET /v1/entitlements/{serial}/download` with `Accept: application/json`: the link a
/// redirect would name, for a page (fetch cannot read a redirect's `Location`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct DownloadLink {
    /// Where the file is: a presigned link, or the vendor's own link.
    pub url: String,
    /// How long a presigned link works; absent for a vendor's link (not ours to sign).
    pub expires_in_seconds: Option<u64>,
}

impl EntitlementSummary {
    pub fn of(e: &VisibleEntitlement) -> EntitlementSummary {
        let l = &e.line.line;
        EntitlementSummary {
            serial: l.serial.clone(),
            sku: l.sku.clone(),
            product: l.product.clone(),
            quantity: l.quantity,
            starts_on: l.starts_on,
            ends_on: l.ends_on,
            status: e.status,
            order_id: e.line.order_id.to_string(),
            access: e.access.clone(),
        }
    }
}

impl EntitlementDetail {
    pub fn of(e: &VisibleEntitlement, site: SiteRef) -> EntitlementDetail {
        let s = EntitlementSummary::of(e);
        EntitlementDetail {
            serial: s.serial,
            sku: s.sku,
            product: s.product,
            quantity: s.quantity,
            starts_on: s.starts_on,
            ends_on: s.ends_on,
            status: s.status,
            order_id: s.order_id,
            access: s.access,
            site,
            license_keys: e.line.line.license_keys.clone(),
            download_url: e.line.line.download_url.clone(),
        }
    }
}

// ---- site management and approvals (§5) ----------------------------------------------

/// `GET /v1/sites`: one page of the caller's memberships.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct SitesPage {
    pub sites: Vec<MySite>,
    pub next_cursor: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct MySite {
    pub support_id: SupportId,
    pub name: String,
    pub role: Role,
    /// When the membership began (RFC 3339), when known.
    pub since: Option<String>,
}

/// `GET /v1/sites/{support_id}/members`: one page of a site's members.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct MembersPage {
    pub site: MembersSite,
    pub members: Vec<Member>,
    pub next_cursor: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct MembersSite {
    pub support_id: SupportId,
    pub name: String,
    /// How many members are administrators.
    pub admin_count: i64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Member {
    pub email: Email,
    pub role: Role,
    pub since: Option<String>,
    /// When the membership ends (issue 21); from then on the member sees nothing of the site.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ends_at: Option<String>,
}

/// `GET /v1/sites/{support_id}/history`: one page of who did what at a site, newest first.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct HistoryPage {
    pub entries: Vec<HistoryItem>,
    pub next_cursor: Option<String>,
}

/// One entry of a site's history.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct HistoryItem {
    /// When (RFC 3339).
    pub at: String,
    pub entry_id: String,
    pub support_id: SupportId,
    /// The e-mail of the person who acted, or `system` (routing, sweeps).
    pub actor: String,
    /// `request_created`, `routed_to_site_admins`, `escalated_to_care`, `approved`, `rejected`, `member_removed`, `last_admin_lost` (site history); `view_enabled`, `view_disabled` (rollout).
    pub action: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
    /// The contact the action is about (requester, removed member).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subject: Option<Email>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role: Option<Role>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub previous_role: Option<Role>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

#[cfg(feature = "service")]
impl From<HistoryEntry> for HistoryItem {
    fn from(h: HistoryEntry) -> HistoryItem {
        HistoryItem {
            at: h.at.to_string(),
            entry_id: h.entry_id,
            support_id: h.support_id,
            actor: h.actor,
            action: h.action.as_str().to_string(),
            request_id: h.request_id.map(|id| id.to_string()),
            subject: h.subject,
            role: h.role,
            previous_role: h.previous_role,
            reason: h.reason,
        }
    }
}

/// `POST /v1/access-requests`: a join request, or a member asking for another role.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateAccessRequest {
    /// The site (a malformed Support ID is 400, an unknown one 404).
    #[schema(value_type = String, pattern = "^[A-Za-z0-9-]{1,32}$", example = "FARM-1")]
    pub support_id: String,
    /// Defaults to `user`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role: Option<Role>,
}

/// `POST /v1/access-requests/{id}/approve`: the body is optional (none, empty or `null` too).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ApproveAccessRequest {
    /// Care only: grant another role than requested (e.g. make the first member of an admin-less site its `admin`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role: Option<Role>,
    /// When the granted membership ends (RFC 3339, in the future; issue 21): from then on the
    /// member sees nothing of the site. Absent: no end.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(example = "2027-03-31T00:00:00Z")]
    pub ends_at: Option<String>,
}

/// `POST /v1/access-requests/{id}/reject`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RejectAccessRequest {
    /// Why; kept in the request and the site's history.
    pub reason: String,
}

/// An access request and its state; every request and decision is kept.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct AccessRequestView {
    /// A UUID.
    pub request_id: String,
    pub support_id: SupportId,
    pub site_name: String,
    pub requester_email: Email,
    pub kind: RequestKind,
    pub requested_role: Role,
    pub status: RequestStatus,
    /// RFC 3339.
    pub created_at: String,
    pub decided_by: Option<Email>,
    pub decided_at: Option<String>,
    /// A rejection's reason.
    pub reason: Option<String>,
    /// The role an approval granted (Care may grant another than requested).
    pub granted_role: Option<Role>,
    pub escalated_at: Option<String>,
    pub escalation_reason: Option<EscalationReason>,
}

#[cfg(feature = "service")]
impl From<AccessRequest> for AccessRequestView {
    fn from(r: AccessRequest) -> AccessRequestView {
        AccessRequestView {
            request_id: r.request_id.to_string(),
            support_id: r.support_id,
            site_name: r.site_name,
            requester_email: r.requester_email,
            kind: r.kind,
            requested_role: r.requested_role,
            status: r.status,
            created_at: r.created_at.to_string(),
            decided_by: r.decided_by,
            decided_at: r.decided_at.map(|t| t.to_string()),
            reason: r.reason,
            granted_role: r.granted_role,
            escalated_at: r.escalated_at.map(|t| t.to_string()),
            escalation_reason: r.escalation_reason,
        }
    }
}

/// `GET /v1/access-requests` and `GET /v1/approvals`: one page of requests.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct RequestsPage {
    pub requests: Vec<AccessRequestView>,
    pub next_cursor: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The mirror of a stored request writes exactly what the store type writes.
    #[test]
    fn access_request_view_is_the_stored_shape() {
        let stored: AccessRequest = serde_json::from_value(serde_json::json!({
            "request_id": "0b6f6c1e-6f0e-4a53-9d65-1b8f6b0f3a11", "support_id": "FARM-1", "site_name": "Farm Foods",
            "requester_email": "ted@data.example", "kind": "join", "requested_role": "user", "status": "escalated",
            "created_at": "2026-04-01T10:00:00Z", "decided_by": null, "decided_at": null, "reason": null,
            "granted_role": null, "escalated_at": "2026-04-01T10:00:00Z", "escalation_reason": "no_site_administrator"
        }))
        .unwrap();
        let view = AccessRequestView::from(stored.clone());
        assert_eq!(serde_json::to_value(&view).unwrap(), serde_json::to_value(&stored).unwrap());
    }

    #[test]
    fn history_item_is_the_stored_shape() {
        let stored: HistoryEntry = serde_json::from_value(serde_json::json!({
            "at": "2026-04-01T10:00:00Z", "entry_id": "e1", "support_id": "FARM-1", "actor": "system",
            "action": "escalated_to_care", "request_id": "r1", "subject": "ted@data.example", "reason": "no_site_administrator"
        }))
        .unwrap();
        let item = HistoryItem::from(stored.clone());
        assert_eq!(serde_json::to_value(&item).unwrap(), serde_json::to_value(&stored).unwrap());
    }

    #[test]
    fn request_bodies_refuse_unknown_fields() {
        assert!(serde_json::from_str::<CreateAccessRequest>(r#"{"support_id":"A","rol":"admin"}"#).is_err());
        assert!(serde_json::from_str::<ApproveAccessRequest>(r#"{"roles":"admin"}"#).is_err());
        assert!(serde_json::from_str::<RejectAccessRequest>(r#"{"reason":"x","extra":1}"#).is_err());
    }
}
