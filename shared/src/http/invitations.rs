//! Invitations (issue 21 part 3): `GET/POST /v1/sites/{s}/invitations`,
//! `DELETE /v1/sites/{s}/invitations/{email}`. Accepting happens in `GET /v1/sites` (the
//! invitee's next call, signed in with the verified address). The rules live in
//! `crate::access::invitations`; this module parses, pages and renders.

use super::dto::Problem;
use super::identity::Caller;
use super::list::{ApiQuery, Cursor, ListId, ListQuery};
use super::problem::{from_rejection, ApiError};
use super::AppState;
use crate::access::invitation_rules::{self, Invited};
use crate::access::{self, invitations, Actor, PageKey};
use crate::domain::access::Stamp;
use crate::domain::{Email, Role, SupportId};
use crate::store::access_invites::Invitation;
use axum::extract::rejection::JsonRejection;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// `POST /v1/sites/{s}/invitations`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateInvitation {
    /// The invitee's e-mail address (case-insensitive).
    #[schema(example = "ivy@farm.example")]
    pub email: String,
    /// `user` (the default) or `admin`.
    #[serde(default)]
    #[schema(value_type = Option<String>, example = "user")]
    pub role: Option<Role>,
    /// When the membership it grants ends (RFC 3339; contractors). Absent: no end.
    #[serde(default)]
    #[schema(example = "2027-03-31T00:00:00Z")]
    pub ends_at: Option<String>,
}

/// An invitation waiting for its invitee.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct InvitationView {
    pub support_id: SupportId,
    pub site_name: String,
    pub email: Email,
    #[schema(value_type = String, example = "user")]
    pub role: Role,
    pub invited_by: String,
    pub invited_at: String,
    /// After this instant the invitation grants nothing (14 days after it was made).
    pub expires_at: String,
    /// Past `expires_at` (listed until withdrawn or until the invitee's next call drops it).
    pub expired: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ends_at: Option<String>,
}

impl InvitationView {
    fn of(i: Invitation, now: &Stamp) -> InvitationView {
        InvitationView {
            expired: invitation_rules::expired(&i, now),
            support_id: i.support_id,
            site_name: i.site_name,
            email: i.email,
            role: i.role,
            invited_by: i.invited_by,
            invited_at: i.invited_at.to_string(),
            expires_at: i.expires_at.to_string(),
            ends_at: i.ends_at.map(|e| e.to_string()),
        }
    }
}

/// `GET /v1/sites/{s}/invitations`: one page, by invitee.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct InvitationsPage {
    pub invitations: Vec<InvitationView>,
    pub next_cursor: Option<String>,
}

fn site_param(raw: &str) -> Result<SupportId, ApiError> {
    SupportId::parse(raw).map_err(|_| ApiError::NotFound(format!("no account site {raw}")))
}

/// A site's invitations (site administrators and Customer Care).
#[utoipa::path(get, path = "/v1/sites/{support_id}/invitations", tag = "invitations", operation_id = "list_invitations",
    params(("support_id" = String, Path, description = "The site's Support ID (case-insensitive)", example = "FARM-1"), ListQuery),
    responses(
        (status = 200, description = "One page of invitations, by invitee", body = InvitationsPage),
        (status = 400, description = "A bad `limit` or `cursor`", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such site that the caller administers", body = Problem, content_type = "application/problem+json"),
    ))]
pub(crate) async fn list_invitations(
    State(state): State<AppState>,
    caller: Caller,
    Path(raw_site): Path<String>,
    ApiQuery(q): ApiQuery<ListQuery>,
) -> Result<Json<InvitationsPage>, ApiError> {
    let site = site_param(&raw_site)?;
    let list = ListId::Invitations(site.clone());
    let start: Option<PageKey> = Cursor::open(&state.cursors, q.cursor.as_ref(), &list, &caller.email)?;
    // The caller's right and the page are read in one round; the page is answered only to a manager.
    let (allowed, (invitations, next)) = futures::try_join!(
        async { Ok::<_, ApiError>(access::require_site_manager(&state.workflow(), &Actor::from(&caller), &site).await) },
        async { Ok::<_, ApiError>(state.store.site_invitations_page(&site, start.as_ref(), q.limit.get()).await?) },
    )?;
    allowed?;
    let now = Stamp::of(access::now());
    Ok(Json(InvitationsPage {
        invitations: invitations.into_iter().map(|i| InvitationView::of(i, &now)).collect(),
        next_cursor: Cursor::seal(&state.cursors, next.as_ref(), &list, &caller.email),
    }))
}

/// Invites an e-mail address with a role (site administrators and Customer Care).
///
/// The invitee becomes a member on their next `GET /v1/sites` signed in with that address
/// (the token's `email_verified` true), within 14 days. An invitation to `admin` makes no
/// administrator until accepted. Inviting the same address again renews it (200).
#[utoipa::path(post, path = "/v1/sites/{support_id}/invitations", tag = "invitations", operation_id = "create_invitation",
    params(("support_id" = String, Path, description = "The site's Support ID (case-insensitive)", example = "FARM-1")),
    request_body(content = CreateInvitation, content_type = "application/json"),
    responses(
        (status = 201, description = "Invited", body = InvitationView),
        (status = 200, description = "The address was invited already: renewed for another 14 days", body = InvitationView),
        (status = 400, description = "A malformed body, e-mail or instant, or `ends_at` in the past", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such site that the caller administers", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The address is already a member of the site", body = Problem, content_type = "application/problem+json"),
    ))]
pub(crate) async fn create_invitation(
    State(state): State<AppState>,
    caller: Caller,
    Path(raw_site): Path<String>,
    body: Result<Json<CreateInvitation>, JsonRejection>,
) -> Result<Response, ApiError> {
    let Json(body) = body.map_err(from_rejection)?;
    let site = site_param(&raw_site)?;
    let invitee = Email::parse(&body.email).map_err(|e| ApiError::BadRequest(e.to_string()))?;
    let ends_at = match body.ends_at.as_deref() {
        None => None,
        Some(raw) => {
            let at = time::OffsetDateTime::parse(raw.trim(), &time::format_description::well_known::Rfc3339)
                .map_err(|_| ApiError::BadRequest(format!("ends_at {raw:?} is not an RFC 3339 instant")))?;
            Some(Stamp::of(at))
        }
    };
    let role = body.role.unwrap_or(Role::User);
    let now = access::now();
    Ok(match invitations::invite(&state.workflow(), &Actor::from(&caller), &site, &invitee, role, ends_at, now).await? {
        Invited::New(i) => (StatusCode::CREATED, Json(InvitationView::of(i, &Stamp::of(now)))).into_response(),
        Invited::Renewed(i) => (StatusCode::OK, Json(InvitationView::of(i, &Stamp::of(now)))).into_response(),
    })
}

/// Withdraws an invitation (site administrators and Customer Care).
#[utoipa::path(delete, path = "/v1/sites/{support_id}/invitations/{email}", tag = "invitations", operation_id = "withdraw_invitation",
    params(
        ("support_id" = String, Path, description = "The site's Support ID (case-insensitive)", example = "FARM-1"),
        ("email" = String, Path, description = "The invitee's e-mail (case-insensitive)", example = "ivy@farm.example"),
    ),
    responses(
        (status = 200, description = "The withdrawn invitation", body = InvitationView),
        (status = 404, description = "No such site that the caller administers, or no invitation for that address", body = Problem, content_type = "application/problem+json"),
    ))]
pub(crate) async fn withdraw_invitation(
    State(state): State<AppState>,
    caller: Caller,
    Path((raw_site, raw_email)): Path<(String, String)>,
) -> Result<Json<InvitationView>, ApiError> {
    let site = site_param(&raw_site)?;
    let invitee = Email::parse(&raw_email).map_err(|_| ApiError::NotFound(format!("{site} has no invitation for {raw_email}")))?;
    let now = access::now();
    let withdrawn = invitations::withdraw(&state.workflow(), &Actor::from(&caller), &site, &invitee, now).await?;
    Ok(Json(InvitationView::of(withdrawn, &Stamp::of(now))))
}
