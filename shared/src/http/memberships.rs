//! Memberships that expire (issue 21): `PUT /v1/sites/{s}/members/{e}/end-date`. The rules
//! live in `crate::access::expiry`; its route sits in the access function's route table.

use super::dto::{Member, Problem};
use super::identity::Caller;
use super::problem::{from_rejection, ApiError};
use super::AppState;
use crate::access::{self, expiry, Actor};
use crate::domain::access::Stamp;
use crate::domain::{Email, SupportId};
use axum::extract::rejection::JsonRejection;
use axum::extract::{Path, State};
use axum::Json;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// `PUT /v1/sites/{s}/members/{e}/end-date`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MembershipEnd {
    /// When the membership ends (RFC 3339); `null` clears it. An instant already past ends it at once.
    #[schema(example = "2027-03-31T00:00:00Z")]
    pub ends_at: Option<String>,
}

/// Sets or clears when a membership ends (site administrators and Customer Care).
///
/// From that instant the member sees nothing of the site (checked on every read); the
/// hourly sweep then removes the membership and records `membership_expired` in the site's
/// history. A last administrator expiring escalates the site's `pending_admin` requests to
/// Care, as a removal does.
#[utoipa::path(put, path = "/v1/sites/{support_id}/members/{email}/end-date", tag = "sites", operation_id = "set_membership_end",
    params(
        ("support_id" = String, Path, description = "The site's Support ID (case-insensitive)", example = "ACME-1"),
        ("email" = String, Path, description = "The member's e-mail (case-insensitive)", example = "alice@acme.example"),
    ),
    request_body(content = MembershipEnd, content_type = "application/json"),
    responses(
        (status = 200, description = "The membership with its end", body = Member),
        (status = 400, description = "A malformed body or instant", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such site that the caller administers, or not a member", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The membership changed meanwhile; read and retry", body = Problem, content_type = "application/problem+json"),
    ))]
pub(crate) async fn set_membership_end(
    State(state): State<AppState>,
    caller: Caller,
    Path((raw_site, raw_email)): Path<(String, String)>,
    body: Result<Json<MembershipEnd>, JsonRejection>,
) -> Result<Json<Member>, ApiError> {
    let Json(body) = body.map_err(from_rejection)?;
    let site = SupportId::parse(&raw_site).map_err(|_| ApiError::NotFound(format!("no account site {raw_site}")))?;
    let member = Email::parse(&raw_email).map_err(|_| ApiError::NotFound(format!("{raw_email} is not a member of {site}")))?;
    let ends_at = match body.ends_at.as_deref() {
        None => None,
        Some(raw) => {
            let at = time::OffsetDateTime::parse(raw.trim(), &time::format_description::well_known::Rfc3339)
                .map_err(|_| ApiError::BadRequest(format!("ends_at {raw:?} is not an RFC 3339 instant")))?;
            Some(Stamp::of(at))
        }
    };
    let m = expiry::set_end(&state.workflow(), &Actor::from(&caller), &site, &member, ends_at, access::now()).await?;
    Ok(Json(Member { email: m.email, role: m.role, since: m.since, ends_at: m.ends_at }))
}
