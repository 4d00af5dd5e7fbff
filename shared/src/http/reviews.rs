//! Access reviews (issue 21 part 4): `GET /v1/sites/{s}/review`,
//! `POST /v1/sites/{s}/review/{email}` (confirm or remove), `PUT /v1/sites/{s}/review-schedule`.
//! The rules live in `crate::access::reviews`; this module parses and renders.

use super::dto::Problem;
use super::identity::Caller;
use super::problem::{from_rejection, ApiError};
use super::AppState;
use crate::access::{self, reviews, Actor};
use crate::domain::{Email, Role, SupportId};
use axum::extract::rejection::JsonRejection;
use axum::extract::{Path, State};
use axum::Json;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// `PUT /v1/sites/{s}/review-schedule`; also what `GET .../review` says of the schedule.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReviewScheduleView {
    /// A review every this many days (1-730); `null`: no reviews (the default).
    #[schema(example = 90)]
    pub every_days: Option<i64>,
    /// The deadline of the review under way (answers only; ignored when sent).
    #[serde(default)]
    pub due_at: Option<String>,
}

/// One member in the review.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ReviewMember {
    pub email: Email,
    #[schema(value_type = String, example = "user")]
    pub role: Role,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub since: Option<String>,
    /// When the membership ends (a lapsed review sets it a week after the deadline).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ends_at: Option<String>,
    /// Confirmed in the review under way: when and by whom.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub confirmed_at: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub confirmed_by: Option<String>,
}

/// `GET /v1/sites/{s}/review`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ReviewView {
    pub support_id: SupportId,
    pub every_days: Option<i64>,
    pub due_at: Option<String>,
    pub members: Vec<ReviewMember>,
}

/// `POST /v1/sites/{s}/review/{email}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReviewDecision {
    /// `confirm` (the member stays) or `remove` (the membership goes now, as `DELETE .../members/{email}`).
    #[schema(example = "confirm")]
    pub action: String,
}

/// What a review decision did.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ReviewOutcome {
    pub email: Email,
    /// `confirmed` or `removed`.
    pub outcome: String,
    /// The deadline of the round the member was confirmed in.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub due_at: Option<String>,
}

fn site_param(raw: &str) -> Result<SupportId, ApiError> {
    SupportId::parse(raw).map_err(|_| ApiError::NotFound(format!("no account site {raw}")))
}

/// The site's access review: its schedule and every member with their confirmation (site administrators and Customer Care).
#[utoipa::path(get, path = "/v1/sites/{support_id}/review", tag = "reviews", operation_id = "get_access_review",
    params(("support_id" = String, Path, description = "The site's Support ID (case-insensitive)", example = "ACME-1")),
    responses(
        (status = 200, description = "The schedule and the members", body = ReviewView),
        (status = 404, description = "No such site that the caller administers", body = Problem, content_type = "application/problem+json"),
    ))]
pub(crate) async fn get_review(
    State(state): State<AppState>,
    caller: Caller,
    Path(raw_site): Path<String>,
) -> Result<Json<ReviewView>, ApiError> {
    let site = site_param(&raw_site)?;
    let page = reviews::review_page(&state.workflow(), &Actor::from(&caller), &site).await?;
    Ok(Json(ReviewView {
        support_id: site,
        every_days: page.schedule.every_days,
        due_at: page.schedule.due_at.map(|d| d.to_string()),
        members: page
            .members
            .into_iter()
            .map(|(m, c)| ReviewMember {
                email: m.email,
                role: m.role,
                since: m.since,
                ends_at: m.ends_at,
                confirmed_at: c.as_ref().map(|c| c.at.to_string()),
                confirmed_by: c.map(|c| c.by),
            })
            .collect(),
    }))
}

/// Sets how often the site's members are reviewed, or turns reviews off (site administrators and Customer Care).
///
/// Setting a period starts a round due that many days later. Members not confirmed by the
/// deadline are given an end date a week later (history `review_lapsed`), then lose access
/// like any membership that ends; the next round starts at once.
#[utoipa::path(put, path = "/v1/sites/{support_id}/review-schedule", tag = "reviews", operation_id = "set_review_schedule",
    params(("support_id" = String, Path, description = "The site's Support ID (case-insensitive)", example = "ACME-1")),
    request_body(content = ReviewScheduleView, content_type = "application/json"),
    responses(
        (status = 200, description = "The schedule now in force", body = ReviewScheduleView),
        (status = 400, description = "A malformed body, or days outside 1-730", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such site that the caller administers", body = Problem, content_type = "application/problem+json"),
    ))]
pub(crate) async fn set_review_schedule(
    State(state): State<AppState>,
    caller: Caller,
    Path(raw_site): Path<String>,
    body: Result<Json<ReviewScheduleView>, JsonRejection>,
) -> Result<Json<ReviewScheduleView>, ApiError> {
    let Json(body) = body.map_err(from_rejection)?;
    let site = site_param(&raw_site)?;
    let schedule = reviews::set_schedule(&state.workflow(), &Actor::from(&caller), &site, body.every_days, access::now()).await?;
    Ok(Json(ReviewScheduleView { every_days: schedule.every_days, due_at: schedule.due_at.map(|d| d.to_string()) }))
}

/// Confirms a member in the review under way, or removes them (site administrators and Customer Care).
#[utoipa::path(post, path = "/v1/sites/{support_id}/review/{email}", tag = "reviews", operation_id = "decide_access_review",
    params(
        ("support_id" = String, Path, description = "The site's Support ID (case-insensitive)", example = "ACME-1"),
        ("email" = String, Path, description = "The member's e-mail (case-insensitive)", example = "alice@acme.example"),
    ),
    request_body(content = ReviewDecision, content_type = "application/json"),
    responses(
        (status = 200, description = "Confirmed or removed", body = ReviewOutcome),
        (status = 400, description = "A malformed body or an unknown action", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such site that the caller administers, or not a member", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "No review under way at the site (confirm), or the membership changed meanwhile", body = Problem, content_type = "application/problem+json"),
    ))]
pub(crate) async fn decide_review(
    State(state): State<AppState>,
    caller: Caller,
    Path((raw_site, raw_email)): Path<(String, String)>,
    body: Result<Json<ReviewDecision>, JsonRejection>,
) -> Result<Json<ReviewOutcome>, ApiError> {
    let Json(body) = body.map_err(from_rejection)?;
    let site = site_param(&raw_site)?;
    let member = Email::parse(&raw_email).map_err(|_| ApiError::NotFound(format!("{raw_email} is not a member of {site}")))?;
    let (wf, actor) = (state.workflow(), Actor::from(&caller));
    match body.action.as_str() {
        "confirm" => {
            let due = reviews::confirm(&wf, &actor, &site, &member, access::now()).await?;
            Ok(Json(ReviewOutcome { email: member, outcome: "confirmed".into(), due_at: Some(due.to_string()) }))
        }
        "remove" => {
            access::remove_member(&wf, &actor, &site, &member, access::now()).await?;
            Ok(Json(ReviewOutcome { email: member, outcome: "removed".into(), due_at: None }))
        }
        other => Err(ApiError::BadRequest(format!("action must be confirm or remove, not {other:?}"))),
    }
}
