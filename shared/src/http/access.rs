//! The access function's routes (spec §5): site management, access requests, approvals.
//! The rules live in `crate::access`; this module parses, authorises by identity only
//! (the workflow checks roles), pages and renders.

use super::identity::Caller;
use super::problem::{from_rejection, ApiError};
use super::{AppState, ListParams};
use crate::access::{self, Actor, ApprovalsPos, Created, Decision, PageKey};
use crate::domain::{Email, Role, SupportId};
use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, JsonRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{json, Value};
use std::collections::HashMap;

/// The routes this function serves (checked against template.yaml by a test).
pub const ROUTES: &[(&str, &str)] = &[
    ("GET", "/v1/sites"),
    ("GET", "/v1/sites/{support_id}/members"),
    ("DELETE", "/v1/sites/{support_id}/members/{email}"),
    ("GET", "/v1/sites/{support_id}/history"),
    ("POST", "/v1/access-requests"),
    ("GET", "/v1/access-requests"),
    ("GET", "/v1/approvals"),
    ("POST", "/v1/access-requests/{id}/approve"),
    ("POST", "/v1/access-requests/{id}/reject"),
];

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/v1/sites", get(my_sites))
        .route("/v1/sites/{support_id}/members", get(members))
        .route("/v1/sites/{support_id}/members/{email}", delete(remove_member))
        .route("/v1/sites/{support_id}/history", get(history))
        .route("/v1/access-requests", post(create_request).get(my_requests))
        .route("/v1/approvals", get(approvals))
        .route("/v1/access-requests/{id}/approve", post(approve))
        .route("/v1/access-requests/{id}/reject", post(reject))
}

/// The access function's whole service.
pub fn router(state: AppState) -> Router {
    super::service(routes(), state)
}

type QueryResult = Result<Query<HashMap<String, String>>, QueryRejection>;

fn list_params(q: QueryResult) -> Result<ListParams, ApiError> {
    let q = q.map(|Query(m)| m).map_err(from_rejection)?;
    ListParams::parse(&q)
}

/// The position a list cursor holds (sealed for this caller and list).
fn open_cursor<T: serde::de::DeserializeOwned>(
    state: &AppState,
    params: &ListParams,
    list: &str,
    caller: &Caller,
) -> Result<Option<T>, ApiError> {
    match &params.cursor {
        None => Ok(None),
        Some(c) => {
            let raw = state.cursors.open(c, list, caller.email.as_str())?;
            serde_json::from_str(&raw)
                .map(Some)
                .map_err(|_| ApiError::BadRequest("cursor is malformed or does not belong to this list".into()))
        }
    }
}

fn seal_cursor<T: serde::Serialize>(state: &AppState, list: &str, caller: &Caller, pos: Option<T>) -> Option<String> {
    pos.and_then(|p| serde_json::to_string(&p).ok()).map(|raw| state.cursors.seal(list, caller.email.as_str(), &raw))
}

/// A Support ID from a path: one that cannot exist is simply not found.
fn site_param(raw: &str) -> Result<SupportId, ApiError> {
    SupportId::parse(raw).map_err(|_| ApiError::NotFound(format!("no account site {raw}")))
}

fn request_id_param(raw: &str) -> Result<String, ApiError> {
    uuid::Uuid::parse_str(raw).map(|u| u.to_string()).map_err(|_| ApiError::NotFound(format!("no access request {raw}")))
}

// ---- sites and members ----------------------------------------------------------------

async fn my_sites(State(state): State<AppState>, caller: Caller, q: QueryResult) -> Result<Json<Value>, ApiError> {
    let params = list_params(q)?;
    let list = "sites";
    let start: Option<PageKey> = open_cursor(&state, &params, list, &caller)?;
    let (memberships, next) = state.store.memberships_page(&caller.email, start.as_ref(), params.limit).await?;
    let records = state.store.site_records(memberships.iter().map(|m| &m.support_id)).await?;
    let sites: Vec<Value> = memberships
        .iter()
        .map(|m| {
            let name = records.get(&m.support_id).map(|r| r.0.clone()).unwrap_or_else(|| m.support_id.to_string());
            json!({"support_id": m.support_id, "name": name, "role": m.role, "since": m.since})
        })
        .collect();
    Ok(Json(json!({"sites": sites, "next_cursor": seal_cursor(&state, list, &caller, next)})))
}

async fn members(
    State(state): State<AppState>,
    caller: Caller,
    Path(raw_site): Path<String>,
    q: QueryResult,
) -> Result<Json<Value>, ApiError> {
    let params = list_params(q)?;
    let site = site_param(&raw_site)?;
    let meta = access::require_site_manager(&state, &Actor::from(&caller), &site).await?;
    let list = format!("members:{site}");
    let start: Option<PageKey> = open_cursor(&state, &params, &list, &caller)?;
    let (members, next) = state.store.site_members_page(&site, start.as_ref(), params.limit).await?;
    let members: Vec<Value> = members.iter().map(|m| json!({"email": m.email, "role": m.role, "since": m.since})).collect();
    Ok(Json(json!({
        "site": {"support_id": site, "name": meta.name, "admin_count": meta.admin_count},
        "members": members,
        "next_cursor": seal_cursor(&state, &list, &caller, next),
    })))
}

async fn remove_member(
    State(state): State<AppState>,
    caller: Caller,
    Path((raw_site, raw_email)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    let site = site_param(&raw_site)?;
    let member = Email::parse(&raw_email).map_err(|_| ApiError::NotFound(format!("{raw_email} is not a member of {site}")))?;
    access::remove_member(&state, &Actor::from(&caller), &site, &member, access::now()).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

async fn history(
    State(state): State<AppState>,
    caller: Caller,
    Path(raw_site): Path<String>,
    q: QueryResult,
) -> Result<Json<Value>, ApiError> {
    let params = list_params(q)?;
    let site = site_param(&raw_site)?;
    access::require_site_manager(&state, &Actor::from(&caller), &site).await?;
    let list = format!("history:{site}");
    let start: Option<PageKey> = open_cursor(&state, &params, &list, &caller)?;
    let (entries, next) = state.store.site_history_page(&site, start.as_ref(), params.limit).await?;
    Ok(Json(json!({"entries": entries, "next_cursor": seal_cursor(&state, &list, &caller, next)})))
}

// ---- access requests ------------------------------------------------------------------

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct CreateBody {
    support_id: String,
    #[serde(default)]
    role: Option<Role>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct ApproveBody {
    #[serde(default)]
    role: Option<Role>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RejectBody {
    reason: String,
}

async fn create_request(
    State(state): State<AppState>,
    caller: Caller,
    body: Result<Json<CreateBody>, JsonRejection>,
) -> Result<Response, ApiError> {
    let Json(body) = body.map_err(from_rejection)?;
    let site = SupportId::parse(&body.support_id).map_err(|e| ApiError::BadRequest(e.to_string()))?;
    let role = body.role.unwrap_or(Role::User);
    Ok(match access::create_request(&state, &Actor::from(&caller), &site, role, access::now()).await? {
        Created::New(r) => (StatusCode::CREATED, Json(r)).into_response(),
        Created::Existing(r) => (StatusCode::OK, Json(r)).into_response(),
    })
}

async fn my_requests(State(state): State<AppState>, caller: Caller, q: QueryResult) -> Result<Json<Value>, ApiError> {
    let params = list_params(q)?;
    let list = "requests";
    let start: Option<PageKey> = open_cursor(&state, &params, list, &caller)?;
    let (requests, next) = state.store.contact_requests_page(&caller.email, start.as_ref(), params.limit).await?;
    Ok(Json(json!({"requests": requests, "next_cursor": seal_cursor(&state, list, &caller, next)})))
}

async fn approvals(State(state): State<AppState>, caller: Caller, q: QueryResult) -> Result<Json<Value>, ApiError> {
    let params = list_params(q)?;
    let list = "approvals";
    let start: Option<ApprovalsPos> = open_cursor(&state, &params, list, &caller)?;
    let (requests, next) = access::approvals_page(&state, &Actor::from(&caller), start, params.limit).await?;
    Ok(Json(json!({"requests": requests, "next_cursor": seal_cursor(&state, list, &caller, next)})))
}

/// An approve body is optional: none, empty, `null`, or `{"role": ...}`.
fn approve_body(bytes: &Bytes) -> Result<ApproveBody, ApiError> {
    if bytes.iter().all(u8::is_ascii_whitespace) || bytes.trim_ascii() == b"null" {
        return Ok(ApproveBody::default());
    }
    serde_json::from_slice(bytes)
        .map_err(|e| ApiError::BadRequest(format!("Failed to deserialize the JSON body into the target type: {e}")))
}

async fn approve(
    State(state): State<AppState>,
    caller: Caller,
    Path(raw_id): Path<String>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<access::AccessRequest>, ApiError> {
    let body = approve_body(&body.map_err(from_rejection)?)?;
    let id = request_id_param(&raw_id)?;
    let decided = access::decide(&state, &Actor::from(&caller), &id, Decision::Approve { role: body.role }, access::now()).await?;
    Ok(Json(decided))
}

async fn reject(
    State(state): State<AppState>,
    caller: Caller,
    Path(raw_id): Path<String>,
    body: Result<Json<RejectBody>, JsonRejection>,
) -> Result<Json<access::AccessRequest>, ApiError> {
    let Json(body) = body.map_err(from_rejection)?;
    let id = request_id_param(&raw_id)?;
    let decided = access::decide(&state, &Actor::from(&caller), &id, Decision::Reject { reason: body.reason }, access::now()).await?;
    Ok(Json(decided))
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
        let escalated = access::sweep(state, access::now()).await?;
        return Ok(json!({"escalated": escalated}));
    }
    let request: lambda_http::request::LambdaRequest = serde_json::from_value(payload)?;
    let mut adapter = lambda_http::Adapter::from(router);
    let response = adapter.call(lambda_http::LambdaEvent::new(request, context)).await?;
    Ok(serde_json::to_value(response)?)
}
