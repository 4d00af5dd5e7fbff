//! Claims by proof of purchase (issue 21): `POST /v1/claims`, a site's claims, their
//! revocation and the site's revocation window. The rules live in `crate::access::claims`;
//! this module parses, pages and renders. Its routes sit in the access function's route table.

use super::dto::Problem;
use super::identity::Caller;
use super::list::{ApiQuery, Cursor, ListId, ListQuery};
use super::problem::{from_rejection, ApiError};
use super::AppState;
use crate::access::claims::{self, Claimed};
use crate::access::{self, Actor, PageKey};
use crate::domain::{Email, OrderId, Serial, SupportId};
use crate::store::access_claims::ClaimRecord;
use axum::extract::rejection::JsonRejection;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// `POST /v1/claims`: the proof of purchase.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateClaim {
    /// A serial of the order (case-sensitive, as the ERP issued it).
    #[schema(example = "S1")]
    pub serial: String,
    /// The ERP order number (case-sensitive).
    #[schema(example = "O-1")]
    pub order_id: String,
}

/// A claim: who became a member of which site by which proof, and until when its
/// administrators may revoke it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ClaimView {
    pub support_id: SupportId,
    pub site_name: String,
    pub email: Email,
    /// Always `user`: a claim never makes an administrator.
    #[schema(example = "user")]
    pub role: String,
    pub serial: Serial,
    #[schema(value_type = String, example = "O-1")]
    pub order_id: OrderId,
    pub claimed_at: String,
    pub revocable_until: String,
    /// `active` or `revoked`.
    #[schema(example = "active")]
    pub status: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revoked_by: Option<Email>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revoked_at: Option<String>,
}

impl From<ClaimRecord> for ClaimView {
    fn from(c: ClaimRecord) -> ClaimView {
        ClaimView {
            support_id: c.support_id,
            site_name: c.site_name,
            email: c.email,
            role: "user".into(),
            serial: c.serial,
            order_id: c.order_id,
            claimed_at: c.claimed_at.to_string(),
            revocable_until: c.revocable_until.to_string(),
            status: c.status.as_str().into(),
            revoked_by: c.revoked_by,
            revoked_at: c.revoked_at.map(|s| s.to_string()),
        }
    }
}

/// `GET /v1/sites/{s}/claims`: one page of a site's claims, by claimant e-mail.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ClaimsPage {
    pub claims: Vec<ClaimView>,
    pub next_cursor: Option<String>,
    /// The site's revocation window for new claims, in days (its own, or the default).
    #[schema(example = 7)]
    pub claim_revocation_days: i64,
}

/// `PUT /v1/sites/{s}/claim-window`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ClaimWindow {
    /// How many days after a claim the site's administrators (or Care) may revoke it (0-90; default 7).
    #[schema(minimum = 0, maximum = 90, example = 7)]
    pub claim_revocation_days: i64,
}

fn site_param(raw: &str) -> Result<SupportId, ApiError> {
    SupportId::parse(raw).map_err(|_| ApiError::NotFound(format!("no account site {raw}")))
}

/// Claims a site by proof of purchase: the caller becomes a `user` of the order's end-customer site.
///
/// The serial must be a current line of that order (an active order's current version).
/// A wrong serial, a wrong order number, a cancelled order and a revoked line all answer the
/// same 404 and cost the caller one attempt (a retry of the same pair costs nothing more);
/// the 5th wrong pair within 24 hours locks the caller out of claiming for 24 hours (429).
/// The site's administrators see the claim in its claims list and history (Care is sent an
/// `abev.care-notice.v1` message when the site has none) and may revoke it within the
/// site's window (default 7 days).
#[utoipa::path(post, path = "/v1/claims", tag = "claims", operation_id = "create_claim",
    request_body(content = CreateClaim, content_type = "application/json"),
    responses(
        (status = 201, description = "Claimed: the caller is now a `user` of the site", body = ClaimView),
        (status = 200, description = "This caller's claim with this pair, already made (a retry)", body = ClaimView),
        (status = 400, description = "A malformed body", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "The caller's claim of this site was revoked; ask for access instead", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "Not a claimable serial and order (whatever is wrong)", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The caller is already a member of the site", body = Problem, content_type = "application/problem+json"),
        (status = 429, description = "Locked out after too many wrong pairs; `Retry-After` says when to try again", body = Problem, content_type = "application/problem+json",
            headers(("Retry-After" = u64, description = "Seconds until the lock-out lifts"))),
    ))]
pub(crate) async fn create_claim(
    State(state): State<AppState>,
    caller: Caller,
    body: Result<Json<CreateClaim>, JsonRejection>,
) -> Result<Response, ApiError> {
    let Json(body) = body.map_err(from_rejection)?;
    let actor = Actor::from(&caller);
    // A number that cannot exist is a wrong pair: the same answer (it matches nothing, so
    // answering it tells a guesser nothing and costs no attempt).
    let (Ok(order), Ok(serial)) = (OrderId::parse(&body.order_id), Serial::parse(&body.serial)) else {
        return Err(crate::access::claim_rules::wrong_pair().into());
    };
    Ok(match claims::claim(&state.workflow(), &actor, &order, &serial, access::now()).await? {
        Claimed::New(c) => (StatusCode::CREATED, Json(ClaimView::from(c))).into_response(),
        Claimed::Existing(c) => (StatusCode::OK, Json(ClaimView::from(c))).into_response(),
    })
}

/// A site's claims, by claimant (site administrators and Customer Care).
#[utoipa::path(get, path = "/v1/sites/{support_id}/claims", tag = "claims", operation_id = "list_site_claims",
    params(("support_id" = String, Path, description = "The site's Support ID (case-insensitive)", example = "ACME-1"), ListQuery),
    responses(
        (status = 200, description = "One page of claims", body = ClaimsPage),
        (status = 400, description = "A bad `limit` or `cursor`", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such site that the caller administers (unknown and not administered answer alike)", body = Problem, content_type = "application/problem+json"),
    ))]
pub(crate) async fn site_claims(
    State(state): State<AppState>,
    caller: Caller,
    Path(raw_site): Path<String>,
    ApiQuery(q): ApiQuery<ListQuery>,
) -> Result<Json<ClaimsPage>, ApiError> {
    let site = site_param(&raw_site)?;
    let workflow = state.workflow();
    let meta = access::require_site_manager(&workflow, &Actor::from(&caller), &site).await?;
    let window = crate::access::claim_rules::revocation_window(&meta, &workflow.limits.claims);
    let list = ListId::Claims(site.clone());
    let start: Option<PageKey> = Cursor::open(&state.cursors, q.cursor.as_ref(), &list, &caller.email)?;
    let (claims, next) = state.store.site_claims_page(&site, start.as_ref(), q.limit.get()).await?;
    Ok(Json(ClaimsPage {
        claims: claims.into_iter().map(Into::into).collect(),
        next_cursor: Cursor::seal(&state.cursors, next.as_ref(), &list, &caller.email),
        claim_revocation_days: window.whole_days(),
    }))
}

/// Revokes a claim within the site's window (site administrators and Customer Care): the
/// claimant's membership goes, and they may not claim the site again.
#[utoipa::path(delete, path = "/v1/sites/{support_id}/claims/{email}", tag = "claims", operation_id = "revoke_claim",
    params(
        ("support_id" = String, Path, description = "The site's Support ID (case-insensitive)", example = "ACME-1"),
        ("email" = String, Path, description = "The claimant's e-mail (case-insensitive)", example = "zed@acme.example"),
    ),
    responses(
        (status = 200, description = "The revoked claim", body = ClaimView),
        (status = 404, description = "No such site that the caller administers, or no claim by that contact", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Already revoked, the window closed, or the claimant was made an administrator since (remove the member instead)", body = Problem, content_type = "application/problem+json"),
    ))]
pub(crate) async fn revoke_claim(
    State(state): State<AppState>,
    caller: Caller,
    Path((raw_site, raw_email)): Path<(String, String)>,
) -> Result<Json<ClaimView>, ApiError> {
    let site = site_param(&raw_site)?;
    let claimant = Email::parse(&raw_email).map_err(|_| ApiError::NotFound(format!("{raw_email} has no claim at {site}")))?;
    let revoked = claims::revoke(&state.workflow(), &Actor::from(&caller), &site, &claimant, access::now()).await?;
    Ok(Json(revoked.into()))
}

/// Sets how long the site's claims stay revocable (site administrators and Customer Care).
#[utoipa::path(put, path = "/v1/sites/{support_id}/claim-window", tag = "claims", operation_id = "set_claim_window",
    params(("support_id" = String, Path, description = "The site's Support ID (case-insensitive)", example = "ACME-1")),
    request_body(content = ClaimWindow, content_type = "application/json"),
    responses(
        (status = 200, description = "The window now in force", body = ClaimWindow),
        (status = 400, description = "A malformed body, or days outside 0-90", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such site that the caller administers", body = Problem, content_type = "application/problem+json"),
    ))]
pub(crate) async fn set_claim_window(
    State(state): State<AppState>,
    caller: Caller,
    Path(raw_site): Path<String>,
    body: Result<Json<ClaimWindow>, JsonRejection>,
) -> Result<Json<ClaimWindow>, ApiError> {
    let Json(body) = body.map_err(from_rejection)?;
    let site = site_param(&raw_site)?;
    let days = claims::set_claim_window(&state.workflow(), &Actor::from(&caller), &site, body.claim_revocation_days, access::now()).await?;
    Ok(Json(ClaimWindow { claim_revocation_days: days }))
}
