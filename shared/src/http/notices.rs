//! Expiry notices' routes (issue 20 part 2), served by the view function:
//! `GET`/`PUT /v1/me/notices` (the caller's setting) and `GET /v1/notices/unsubscribe?token=`
//! (the signed link in every digest: no sign-in; `Auth: NONE` in template.yaml). The sender
//! (`crate::notices`) reads the same setting before every digest.

use super::dto::Problem;
use super::identity::Caller;
use super::problem::{from_rejection, ApiError};
use super::ViewState;
use crate::domain::Email;
use axum::extract::rejection::JsonRejection;
use axum::extract::State;
use axum::http::{header, HeaderMap};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, PartialSchema, ToSchema};

/// A contact's expiry notices setting.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NoticeSettings {
    /// Whether the daily digest of entitlements ending within 90, 30 and 7 days is e-mailed (default `true`).
    pub enabled: bool,
}

/// What the unsubscribe link answers (as JSON when asked with `Accept: application/json`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Unsubscribed {
    pub email: Email,
    /// Always `false`: notices are off for this address.
    pub enabled: bool,
}

/// The unsubscribe link's query.
#[derive(Debug, Clone, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct UnsubscribeQuery {
    /// The token of the link in the e-mail (signed for one address).
    #[param(min_length = 1)]
    pub token: Option<String>,
}

/// The unsubscribe link's route (public: the link works without a token).
pub const UNSUBSCRIBE_ROUTE: &str = crate::notices::digest::UNSUBSCRIBE_PATH;

fn now() -> String {
    time::OffsetDateTime::now_utc().format(&time::format_description::well_known::Rfc3339).unwrap_or_default()
}

/// The caller's expiry notices setting.
#[utoipa::path(get, path = "/v1/me/notices", tag = "notices", operation_id = "get_my_notices",
    responses((status = 200, description = "The caller's setting", body = NoticeSettings)))]
pub(crate) async fn get_notices(State(state): State<ViewState>, caller: Caller) -> Result<Json<NoticeSettings>, ApiError> {
    Ok(Json(NoticeSettings { enabled: state.store.notices_enabled(&caller.email).await? }))
}

/// Turns the caller's expiry notices on or off.
///
/// Read by the daily run before each digest: turned off, nothing more is sent; turned on
/// again, what is due from then on is sent (what ended meanwhile is not sent late).
#[utoipa::path(put, path = "/v1/me/notices", tag = "notices", operation_id = "set_my_notices",
    request_body(content = NoticeSettings, content_type = "application/json"),
    responses(
        (status = 200, description = "The setting as stored", body = NoticeSettings),
        (status = 400, description = "A malformed body", body = Problem, content_type = "application/problem+json"),
    ))]
pub(crate) async fn set_notices(
    State(state): State<ViewState>,
    caller: Caller,
    body: Result<Json<NoticeSettings>, JsonRejection>,
) -> Result<Json<NoticeSettings>, ApiError> {
    let Json(body) = body.map_err(from_rejection)?;
    state.store.set_notices_enabled(&caller.email, body.enabled, &now(), "settings").await?;
    tracing::info!(caller = %caller.email, enabled = body.enabled, "notice setting changed");
    Ok(Json(body))
}

/// Turns expiry notices off for the address a digest's link was signed for (no sign-in).
///
/// Idempotent: the same link again answers the same. A token that is missing, altered or not
/// signed by this deployment is 400. Answers a small HTML page, or JSON when asked with
/// `Accept: application/json`.
#[utoipa::path(get, path = "/v1/notices/unsubscribe", tag = "notices", operation_id = "unsubscribe_notices",
    params(UnsubscribeQuery),
    responses(
        (status = 200, description = "Notices are off for the link's address: a small HTML page, or this as JSON when asked with `Accept: application/json`", body = Unsubscribed),
        (status = 400, description = "No token, or one that is malformed or not signed here", body = Problem, content_type = "application/problem+json"),
    ))]
pub(crate) async fn unsubscribe(
    State(state): State<ViewState>,
    headers: HeaderMap,
    query: Result<axum::extract::Query<UnsubscribeQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Response, ApiError> {
    let token = query.ok().and_then(|q| q.0.token);
    let email = state.cursors.unsubscribe_key().verify(token.as_deref()).map_err(|e| {
        tracing::warn!(reason = %e, "unsubscribe link refused");
        ApiError::BadRequest(format!("{e}; sign in and turn notices off under Settings instead"))
    })?;
    state.store.set_notices_enabled(&email, false, &now(), "unsubscribe-link").await?;
    tracing::info!(contact = %email, "notices turned off by the unsubscribe link");
    let answer = Unsubscribed { email, enabled: false };
    if super::download::wants_json(&headers) {
        return Ok(Json(answer).into_response());
    }
    let page = format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>Unsubscribed</title></head>\
         <body><h1>Unsubscribed</h1><p>{} will get no more expiry notices from the Entitlement View.</p>\
         <p>To get them again, sign in and turn them on under Settings.</p></body></html>",
        html_escape(answer.email.as_str())
    );
    Ok(([(header::CONTENT_TYPE, "text/html; charset=utf-8")], page).into_response())
}

fn html_escape(raw: &str) -> String {
    raw.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;").replace('\'', "&#39;")
}

/// The wire types of these routes, for the OpenAPI document.
pub(crate) fn add_schemas(components: &mut utoipa::openapi::Components) {
    components.schemas.insert(NoticeSettings::name().into_owned(), NoticeSettings::schema());
    components.schemas.insert(Unsubscribed::name().into_owned(), Unsubscribed::schema());
}
