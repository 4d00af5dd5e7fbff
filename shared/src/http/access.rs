//! The access function's routes (spec §5): site management, access requests, approvals.
//! The rules live in `crate::access`; this module parses, authorises by identity only
//! (the workflow checks roles), pages and renders.

use super::claims::{
    __path_create_claim, __path_revoke_claim, __path_set_claim_window, __path_site_claims, create_claim, revoke_claim, set_claim_window,
    site_claims,
};
use super::domain_rules::{
    __path_add_domain_rule, __path_list_domain_rules, __path_remove_domain_rule, add_domain_rule, list_domain_rules, remove_domain_rule,
};
use super::dto::{
    AccessRequestView, ApproveAccessRequest, CreateAccessRequest, EnabledSiteView, HistoryPage, Member, MembersPage, MembersSite, MySite,
    Problem, RejectAccessRequest, RequestsPage, RolloutChangeView, RolloutPage, SetRollout, SitesPage,
};
use super::identity::Caller;
use super::invitations::{
    __path_create_invitation, __path_list_invitations, __path_withdraw_invitation, create_invitation, list_invitations, withdraw_invitation,
};
use super::list::{ApiQuery, Cursor, ListId, ListQuery};
use super::memberships::{__path_set_membership_end, set_membership_end};
use super::problem::{from_rejection, ApiError};
use super::reviews::{__path_decide_review, __path_get_review, __path_set_review_schedule, decide_review, get_review, set_review_schedule};
use super::routes::route_table;
use super::AppState;
use crate::access::{self, Actor, ApprovalsPos, Created, Decision, PageKey};
use crate::domain::{Email, Role, SupportId};
use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, JsonRejection};
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::{Json, Router};
use serde_json::{json, Value};

route_table! {
    state: AppState;
    GET "/v1/sites" => my_sites (__path_my_sites),
    GET "/v1/sites/{support_id}/members" => members (__path_members),
    DELETE "/v1/sites/{support_id}/members/{email}" => remove_member (__path_remove_member),
    GET "/v1/sites/{support_id}/history" => history (__path_history),
    POST "/v1/access-requests" => create_request (__path_create_request),
    GET "/v1/access-requests" => my_requests (__path_my_requests),
    GET "/v1/approvals" => approvals (__path_approvals),
    GET "/v1/access-requests/{id}" => get_request (__path_get_request),
    GET "/v1/rollout" => rollout_status (__path_rollout_status),
    PUT "/v1/rollout/sites/{support_id}" => set_rollout (__path_set_rollout),
    POST "/v1/access-requests/{id}/approve" => approve (__path_approve),
    POST "/v1/access-requests/{id}/reject" => reject (__path_reject),
    // Claims by proof of purchase (issue 21): handlers in `http::claims`.
    POST "/v1/claims" => create_claim (__path_create_claim),
    GET "/v1/sites/{support_id}/claims" => site_claims (__path_site_claims),
    DELETE "/v1/sites/{support_id}/claims/{email}" => revoke_claim (__path_revoke_claim),
    PUT "/v1/sites/{support_id}/claim-window" => set_claim_window (__path_set_claim_window),
    // Memberships that expire (issue 21): handler in `http::memberships`.
    PUT "/v1/sites/{support_id}/members/{email}/end-date" => set_membership_end (__path_set_membership_end),
    // Domain rules (issue 21 part 2): handlers in `http::domain_rules`.
    GET "/v1/sites/{support_id}/domain-rules" => list_domain_rules (__path_list_domain_rules),
    POST "/v1/sites/{support_id}/domain-rules" => add_domain_rule (__path_add_domain_rule),
    DELETE "/v1/sites/{support_id}/domain-rules/{domain}" => remove_domain_rule (__path_remove_domain_rule),
    // Invitations (issue 21 part 3): handlers in `http::invitations`; accepted in `my_sites`.
    GET "/v1/sites/{support_id}/invitations" => list_invitations (__path_list_invitations),
    POST "/v1/sites/{support_id}/invitations" => create_invitation (__path_create_invitation),
    DELETE "/v1/sites/{support_id}/invitations/{email}" => withdraw_invitation (__path_withdraw_invitation),
    // Access reviews (issue 21 part 4): handlers in `http::reviews`.
    GET "/v1/sites/{support_id}/review" => get_review (__path_get_review),
    POST "/v1/sites/{support_id}/review/{email}" => decide_review (__path_decide_review),
    PUT "/v1/sites/{support_id}/review-schedule" => set_review_schedule (__path_set_review_schedule),
}

/// The access function's whole service.
pub fn router(state: AppState) -> Router {
    super::service(routes::<AppState>(), state)
}

/// A Support ID from a path: one that cannot exist is simply not found.
fn site_param(raw: &str) -> Result<SupportId, ApiError> {
    SupportId::parse(raw).map_err(|_| ApiError::NotFound(format!("no account site {raw}")))
}

/// A request as `caller` may see it: someone asking to join a site they are not a member of
/// learns nothing of it from the request but what they sent (its Support ID), until approved.
fn as_seen_by(r: access::AccessRequest, caller: &Caller) -> AccessRequestView {
    let outsider = !caller.care
        && r.requester_email == caller.email
        && r.kind == access::RequestKind::Join
        && r.status != access::RequestStatus::Approved;
    let mut view = AccessRequestView::from(r);
    if outsider {
        view.site_name = view.support_id.to_string();
    }
    view
}

fn request_id_param(raw: &str) -> Result<access::RequestId, ApiError> {
    access::RequestId::parse(raw).ok_or_else(|| ApiError::NotFound(format!("no access request {raw}")))
}

// ---- sites and members ----------------------------------------------------------------

/// The caller's memberships.
#[utoipa::path(get, path = "/v1/sites", tag = "sites", operation_id = "list_my_sites", params(ListQuery),
    responses(
        (status = 200, description = "One page of the caller's memberships", body = SitesPage),
        (status = 400, description = "A bad `limit` or `cursor`", body = Problem, content_type = "application/problem+json"),
    ))]
async fn my_sites(State(state): State<AppState>, caller: Caller, ApiQuery(q): ApiQuery<ListQuery>) -> Result<Json<SitesPage>, ApiError> {
    let list = ListId::Sites;
    let start: Option<PageKey> = Cursor::open(&state.cursors, q.cursor.as_ref(), &list, &caller.email)?;
    let store = &state.store;
    // Issue 21: the first page of a caller signed in with a verified address also reads the
    // invitations waiting for it (same round) and accepts them, then lists again.
    let (page, pending) = futures::try_join!(store.memberships_page(&caller.email, start.as_ref(), q.limit.get()), async {
        match start.is_none() && caller.email_verified {
            true => store.invitations_for(&caller.email).await,
            false => Ok(Vec::new()),
        }
    })?;
    let (memberships, next) = if pending.is_empty() {
        page
    } else {
        access::invitations::accept_all(&state.workflow(), &caller.email, &pending, access::now()).await?;
        store.memberships_page(&caller.email, None, q.limit.get()).await?
    };
    let records = state.store.site_records(memberships.iter().map(|m| &m.support_id)).await?;
    let sites = memberships
        .into_iter()
        .map(|m| MySite {
            name: records.get(&m.support_id).map(|r| r.name.clone()).unwrap_or_else(|| m.support_id.to_string()),
            support_id: m.support_id,
            role: m.role,
            since: m.since,
        })
        .collect();
    Ok(Json(SitesPage { sites, next_cursor: Cursor::seal(&state.cursors, next.as_ref(), &list, &caller.email) }))
}

/// A site's members and their roles (site administrators and Customer Care).
#[utoipa::path(get, path = "/v1/sites/{support_id}/members", tag = "sites", operation_id = "list_site_members",
    params(("support_id" = String, Path, description = "The site's Support ID (case-insensitive)", example = "ACME-1"), ListQuery),
    responses(
        (status = 200, description = "One page of members", body = MembersPage),
        (status = 400, description = "A bad `limit` or `cursor`", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such site that the caller administers: an unknown site and one the caller is neither an administrator of nor Customer Care for answer alike", body = Problem, content_type = "application/problem+json"),
    ))]
async fn members(
    State(state): State<AppState>,
    caller: Caller,
    Path(raw_site): Path<String>,
    ApiQuery(q): ApiQuery<ListQuery>,
) -> Result<Json<MembersPage>, ApiError> {
    let site = site_param(&raw_site)?;
    let meta = access::require_site_manager(&state.workflow(), &Actor::from(&caller), &site).await?;
    let list = ListId::Members(site.clone());
    let start: Option<PageKey> = Cursor::open(&state.cursors, q.cursor.as_ref(), &list, &caller.email)?;
    let (members, next) = state.store.site_members_page(&site, start.as_ref(), q.limit.get()).await?;
    Ok(Json(MembersPage {
        site: MembersSite { support_id: site, name: meta.name, admin_count: meta.admin_count },
        members: members.into_iter().map(|m| Member { email: m.email, role: m.role, since: m.since, ends_at: m.ends_at }).collect(),
        next_cursor: Cursor::seal(&state.cursors, next.as_ref(), &list, &caller.email),
    }))
}

/// Removes a membership (site administrators and Customer Care).
///
/// Removing a site's last administrator escalates its `pending_admin` requests to Care.
#[utoipa::path(delete, path = "/v1/sites/{support_id}/members/{email}", tag = "sites", operation_id = "remove_site_member",
    params(
        ("support_id" = String, Path, description = "The site's Support ID (case-insensitive)", example = "ACME-1"),
        ("email" = String, Path, description = "The member's e-mail (case-insensitive)", example = "alice@acme.example"),
    ),
    responses(
        (status = 204, description = "Removed"),
        (status = 400, description = "A path that is not UTF-8", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such site that the caller administers (unknown and not administered answer alike), or not a member", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The membership changed meanwhile; read and retry", body = Problem, content_type = "application/problem+json"),
    ))]
async fn remove_member(
    State(state): State<AppState>,
    caller: Caller,
    Path((raw_site, raw_email)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    let site = site_param(&raw_site)?;
    let member = Email::parse(&raw_email).map_err(|_| ApiError::NotFound(format!("{raw_email} is not a member of {site}")))?;
    access::remove_member(&state.workflow(), &Actor::from(&caller), &site, &member, access::now()).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// Who did what at a site, when and why, newest first (site administrators and Customer Care).
#[utoipa::path(get, path = "/v1/sites/{support_id}/history", tag = "sites", operation_id = "list_site_history",
    params(("support_id" = String, Path, description = "The site's Support ID (case-insensitive)", example = "ACME-1"), ListQuery),
    responses(
        (status = 200, description = "One page of history", body = HistoryPage),
        (status = 400, description = "A bad `limit` or `cursor`", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such site that the caller administers: an unknown site and one the caller is neither an administrator of nor Customer Care for answer alike", body = Problem, content_type = "application/problem+json"),
    ))]
async fn history(
    State(state): State<AppState>,
    caller: Caller,
    Path(raw_site): Path<String>,
    ApiQuery(q): ApiQuery<ListQuery>,
) -> Result<Json<HistoryPage>, ApiError> {
    let site = site_param(&raw_site)?;
    access::require_site_manager(&state.workflow(), &Actor::from(&caller), &site).await?;
    let list = ListId::History(site.clone());
    let start: Option<PageKey> = Cursor::open(&state.cursors, q.cursor.as_ref(), &list, &caller.email)?;
    let (entries, next) = state.store.site_history_page(&site, start.as_ref(), q.limit.get()).await?;
    Ok(Json(HistoryPage {
        entries: entries.into_iter().map(Into::into).collect(),
        next_cursor: Cursor::seal(&state.cursors, next.as_ref(), &list, &caller.email),
    }))
}

// ---- access requests ------------------------------------------------------------------

/// Asks to join a site, or (a member) for another role.
///
/// If the site has an administrator other than the caller the request is `pending_admin`;
/// otherwise it is `escalated` to Customer Care. A second open request for the same site
/// answers the open one (200).
#[utoipa::path(post, path = "/v1/access-requests", tag = "access-requests", operation_id = "create_access_request",
    request_body(content = CreateAccessRequest, content_type = "application/json"),
    responses(
        (status = 201, description = "Created", body = AccessRequestView),
        (status = 200, description = "The caller's open request for that site", body = AccessRequestView),
        (status = 400, description = "A malformed body (not `application/json`, an unknown field) or Support ID", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such site", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The caller already has that role", body = Problem, content_type = "application/problem+json"),
        (status = 429, description = "Too many open requests, or asked again too soon after a rejection for that site; `Retry-After` says when to try again", body = Problem, content_type = "application/problem+json",
            headers(("Retry-After" = u64, description = "Seconds until the limit lifts"))),
    ))]
async fn create_request(
    State(state): State<AppState>,
    caller: Caller,
    body: Result<Json<CreateAccessRequest>, JsonRejection>,
) -> Result<Response, ApiError> {
    let Json(body) = body.map_err(json_rejection)?;
    let site = SupportId::parse(&body.support_id).map_err(|e| ApiError::BadRequest(e.to_string()))?;
    let role = body.role.unwrap_or(Role::User);
    Ok(
        match access::create_request_as(&state.workflow(), &Actor::from(&caller), caller.email_verified, &site, role, access::now()).await?
        {
            Created::New(r) => (StatusCode::CREATED, Json(as_seen_by(r, &caller))).into_response(),
            Created::Existing(r) => (StatusCode::OK, Json(as_seen_by(r, &caller))).into_response(),
        },
    )
}

/// The caller's own requests and their state, newest first.
#[utoipa::path(get, path = "/v1/access-requests", tag = "access-requests", operation_id = "list_my_access_requests", params(ListQuery),
    responses(
        (status = 200, description = "One page of the caller's requests", body = RequestsPage),
        (status = 400, description = "A bad `limit` or `cursor`", body = Problem, content_type = "application/problem+json"),
    ))]
async fn my_requests(
    State(state): State<AppState>,
    caller: Caller,
    ApiQuery(q): ApiQuery<ListQuery>,
) -> Result<Json<RequestsPage>, ApiError> {
    let list = ListId::Requests;
    let start: Option<PageKey> = Cursor::open(&state.cursors, q.cursor.as_ref(), &list, &caller.email)?;
    let (requests, next) = state.store.contact_requests_page(&caller.email, start.as_ref(), q.limit.get()).await?;
    Ok(Json(RequestsPage {
        requests: requests.into_iter().map(|r| as_seen_by(r, &caller)).collect(),
        next_cursor: Cursor::seal(&state.cursors, next.as_ref(), &list, &caller.email),
    }))
}

/// Open requests the caller may decide.
///
/// For Customer Care the escalated ones, then for anyone the `pending_admin` requests of
/// the sites they administer; never the caller's own.
#[utoipa::path(get, path = "/v1/approvals", tag = "access-requests", operation_id = "list_approvals", params(ListQuery),
    responses(
        (status = 200, description = "One page of requests to decide", body = RequestsPage),
        (status = 400, description = "A bad `limit` or `cursor`", body = Problem, content_type = "application/problem+json"),
    ))]
async fn approvals(
    State(state): State<AppState>,
    caller: Caller,
    ApiQuery(q): ApiQuery<ListQuery>,
) -> Result<Json<RequestsPage>, ApiError> {
    let list = ListId::Approvals;
    let start: Option<ApprovalsPos> = Cursor::open(&state.cursors, q.cursor.as_ref(), &list, &caller.email)?;
    let (requests, next) = access::approvals_page(&state.workflow(), &Actor::from(&caller), start, q.limit.get()).await?;
    Ok(Json(RequestsPage {
        requests: requests.into_iter().map(Into::into).collect(),
        next_cursor: Cursor::seal(&state.cursors, next.as_ref(), &list, &caller.email),
    }))
}

/// One access request: for its requester, Customer Care, or an administrator of its site.
#[utoipa::path(get, path = "/v1/access-requests/{id}", tag = "access-requests", operation_id = "get_access_request",
    params(("id" = String, Path, description = "The request's id (a UUID)")),
    responses(
        (status = 200, description = "The request", body = AccessRequestView),
        (status = 404, description = "No such request that the caller may see (unknown and not theirs answer alike)", body = Problem, content_type = "application/problem+json"),
    ))]
async fn get_request(
    State(state): State<AppState>,
    caller: Caller,
    Path(raw_id): Path<String>,
) -> Result<Json<AccessRequestView>, ApiError> {
    let id = request_id_param(&raw_id)?;
    Ok(Json(as_seen_by(access::request_for(&state.workflow(), &Actor::from(&caller), &id).await?, &caller)))
}

/// Rollout waves: the mode and the sites the view is enabled for (Customer Care only).
#[utoipa::path(get, path = "/v1/rollout", tag = "rollout", operation_id = "get_rollout", params(ListQuery),
    responses(
        (status = 200, description = "The mode and one page of enabled sites, by Support ID", body = RolloutPage),
        (status = 400, description = "A bad `limit` or `cursor`", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not Customer Care", body = Problem, content_type = "application/problem+json"),
    ))]
async fn rollout_status(
    State(state): State<AppState>,
    caller: Caller,
    ApiQuery(q): ApiQuery<ListQuery>,
) -> Result<Json<RolloutPage>, ApiError> {
    if !caller.care {
        return Err(ApiError::Forbidden("only Customer Care runs the rollout".into()));
    }
    let list = ListId::Rollout;
    let start: Option<PageKey> = Cursor::open(&state.cursors, q.cursor.as_ref(), &list, &caller.email)?;
    let (sites, next) = state.store.enabled_sites_page(start.as_ref(), q.limit.get()).await?;
    Ok(Json(RolloutPage {
        mode: state.settings.rollout,
        sites: sites
            .into_iter()
            .map(|s| EnabledSiteView {
                support_id: s.support_id,
                name: s.name,
                enabled_at: s.enabled_at.to_string(),
                enabled_by: s.enabled_by,
            })
            .collect(),
        next_cursor: Cursor::seal(&state.cursors, next.as_ref(), &list, &caller.email),
    }))
}

/// Enables or disables the view for one account site (Customer Care only).
///
/// With the `waves` mode, a contact sees a site (its entitlements and licence keys) only
/// once it is enabled; the change is recorded in the site's history and takes effect with
/// the next request.
#[utoipa::path(put, path = "/v1/rollout/sites/{support_id}", tag = "rollout", operation_id = "set_site_rollout",
    params(("support_id" = String, Path, description = "The site's Support ID (case-insensitive)", example = "FARM-1")),
    request_body(content = SetRollout, content_type = "application/json"),
    responses(
        (status = 200, description = "What changed", body = RolloutChangeView),
        (status = 400, description = "A malformed body", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not Customer Care", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such site", body = Problem, content_type = "application/problem+json"),
    ))]
async fn set_rollout(
    State(state): State<AppState>,
    caller: Caller,
    Path(raw_site): Path<String>,
    body: Result<Json<SetRollout>, JsonRejection>,
) -> Result<Json<RolloutChangeView>, ApiError> {
    let Json(body) = body.map_err(json_rejection)?;
    let site = site_param(&raw_site)?;
    let change = access::set_view_enabled(&state.workflow(), &Actor::from(&caller), &site, body.enabled, access::now()).await?;
    Ok(Json(RolloutChangeView { support_id: change.support_id, name: change.name, enabled: change.enabled, changed: change.changed }))
}

/// A JSON body that could not be read (not JSON, not `application/json`, a wrong field): 400.
fn json_rejection(rejection: JsonRejection) -> ApiError {
    from_rejection(rejection)
}

/// An approve body is optional: none, empty, `null`, or `{"role": ...}`.
fn approve_body(bytes: &Bytes) -> Result<ApproveAccessRequest, ApiError> {
    if bytes.iter().all(u8::is_ascii_whitespace) || bytes.trim_ascii() == b"null" {
        return Ok(ApproveAccessRequest::default());
    }
    serde_json::from_slice(bytes)
        .map_err(|e| ApiError::BadRequest(format!("Failed to deserialize the JSON body into the target type: {e}")))
}

/// Approves a request (its site's administrators, or Customer Care).
///
/// The decider's right is checked again at decision time; a request is decided once.
/// Only Care may grant another role than requested.
#[utoipa::path(post, path = "/v1/access-requests/{id}/approve", tag = "access-requests", operation_id = "approve_access_request",
    params(("id" = String, Path, description = "The request's id (a UUID)")),
    request_body(content = Option<ApproveAccessRequest>, content_type = "application/json", description = "Optional"),
    responses(
        (status = 200, description = "The decided request", body = AccessRequestView),
        (status = 400, description = "A malformed body", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "The caller may not decide it (their own, escalated to Care, not their site, or another role)", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such request", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Already decided, or changed meanwhile", body = Problem, content_type = "application/problem+json"),
    ))]
async fn approve(
    State(state): State<AppState>,
    caller: Caller,
    Path(raw_id): Path<String>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<AccessRequestView>, ApiError> {
    let body = approve_body(&body.map_err(from_rejection)?)?;
    let id = request_id_param(&raw_id)?;
    let ends_at = match body.ends_at.as_deref() {
        None => None,
        Some(raw) => Some(crate::domain::access::Stamp::of(
            time::OffsetDateTime::parse(raw.trim(), &time::format_description::well_known::Rfc3339)
                .map_err(|_| ApiError::BadRequest(format!("ends_at {raw:?} is not an RFC 3339 instant")))?,
        )),
    };
    let decided =
        access::decide(&state.workflow(), &Actor::from(&caller), &id, Decision::Approve { role: body.role, ends_at }, access::now())
            .await?;
    Ok(Json(decided.into()))
}

/// Rejects a request (its site's administrators, or Customer Care), with a reason.
#[utoipa::path(post, path = "/v1/access-requests/{id}/reject", tag = "access-requests", operation_id = "reject_access_request",
    params(("id" = String, Path, description = "The request's id (a UUID)")),
    request_body(content = RejectAccessRequest, content_type = "application/json"),
    responses(
        (status = 200, description = "The decided request", body = AccessRequestView),
        (status = 400, description = "A malformed body or reason", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "The caller may not decide it", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such request", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Already decided, or changed meanwhile", body = Problem, content_type = "application/problem+json"),
    ))]
async fn reject(
    State(state): State<AppState>,
    caller: Caller,
    Path(raw_id): Path<String>,
    body: Result<Json<RejectAccessRequest>, JsonRejection>,
) -> Result<Json<AccessRequestView>, ApiError> {
    let Json(body) = body.map_err(json_rejection)?;
    let id = request_id_param(&raw_id)?;
    let decided =
        access::decide(&state.workflow(), &Actor::from(&caller), &id, Decision::Reject { reason: body.reason }, access::now()).await?;
    Ok(Json(decided.into()))
}

// ---- the Lambda entry point -------------------------------------------------------------

/// One invocation of the access Lambda, from its raw JSON payload: EventBridge's scheduled
/// event (`source` `aws.events`, `detail-type` `Scheduled Event`) runs the admin-SLA sweep
/// and answers `{"escalated": n}`; anything else is an API Gateway HTTP API event, served
/// by `router` through lambda_http's adapter (the same path `lambda_http::run` takes).
pub async fn handle_event(state: &AppState, router: Router, event: lambda_http::LambdaEvent<Value>) -> Result<Value, lambda_http::Error> {
    use lambda_http::Service;
    let lambda_http::LambdaEvent { payload, context } = event;
    if access::is_scheduled_event(&payload) {
        let escalated = access::sweep(&state.workflow(), access::now()).await.map_err(|e| lambda_http::Error::from(e.to_string()))?;
        return Ok(json!({"escalated": escalated}));
    }
    let request: lambda_http::request::LambdaRequest = serde_json::from_value(payload)?;
    let mut adapter = lambda_http::Adapter::from(router);
    let response = adapter.call(lambda_http::LambdaEvent::new(request, context)).await?;
    Ok(serde_json::to_value(response)?)
}
