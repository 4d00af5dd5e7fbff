//! The view function's routes (spec §4).

use super::identity::Caller;
use super::problem::ApiError;
use super::{AppState, ListParams, MAX_LIMIT};
use crate::domain::{Access, Day, Serial, SupportId};
use crate::store::view::{EntitlementFilter, EntitlementStatus, VisibleEntitlement};
use axum::extract::{Path, Query, State};
use axum::routing::get;
use axum::{Json, Router};
use serde::Serialize;
use serde_json::{json, Value};
use std::collections::HashMap;

/// The routes this function serves (checked against template.yaml by a test).
pub const ROUTES: &[(&str, &str)] =
    &[("GET", "/v1/me"), ("GET", "/v1/view"), ("GET", "/v1/view/sites/{support_id}/entitlements"), ("GET", "/v1/entitlements/{serial}")];

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/v1/me", get(me))
        .route("/v1/view", get(view_sites))
        .route("/v1/view/sites/{support_id}/entitlements", get(site_entitlements))
        .route("/v1/entitlements/{serial}", get(entitlement))
}

/// The view function's whole service.
pub fn router(state: AppState) -> Router {
    super::service(routes(), state)
}

type QueryMap = Query<HashMap<String, String>>;

fn query(q: Result<QueryMap, axum::extract::rejection::QueryRejection>) -> Result<HashMap<String, String>, ApiError> {
    q.map(|Query(m)| m).map_err(super::problem::from_rejection)
}

#[derive(Serialize)]
struct EntitlementSummary<'a> {
    serial: &'a Serial,
    sku: &'a str,
    product: &'a str,
    quantity: u64,
    starts_on: Day,
    ends_on: Day,
    status: EntitlementStatus,
    order_id: &'a str,
    access: &'a [Access],
}

fn summary(e: &VisibleEntitlement) -> EntitlementSummary<'_> {
    let l = &e.line.line;
    EntitlementSummary {
        serial: &l.serial,
        sku: &l.sku,
        product: &l.product,
        quantity: l.quantity,
        starts_on: l.starts_on,
        ends_on: l.ends_on,
        status: e.status,
        order_id: e.line.order_id.as_str(),
        access: &e.access,
    }
}

async fn me(State(state): State<AppState>, caller: Caller) -> Result<Json<Value>, ApiError> {
    let reach = state.store.contact_reach(&caller.email).await?;
    let records = state.store.site_records(reach.memberships.keys()).await?;
    let sites: Vec<Value> = reach
        .memberships
        .iter()
        .map(|(sid, role)| json!({"support_id": sid, "name": records.get(sid).map(|r| r.0.clone()).unwrap_or_else(|| sid.to_string()), "role": role}))
        .collect();
    // The summary walks the view's site pages: its cost grows with the number of sites
    // in the view (one query page per 500 sites), never with the entitlements behind them.
    let (mut site_count, mut entitlement_count, mut after) = (0u64, 0u64, None);
    loop {
        let page = state.store.view_sites(&reach, after.as_ref(), MAX_LIMIT).await?;
        site_count += page.items.len() as u64;
        entitlement_count += page.items.iter().map(|s| s.entitlement_count).sum::<u64>();
        match page.next {
            Some(next) => after = Some(next),
            None => break,
        }
    }
    Ok(Json(json!({"email": caller.email, "sites": sites, "view": {"sites": site_count, "entitlements": entitlement_count}})))
}

async fn view_sites(
    State(state): State<AppState>,
    caller: Caller,
    q: Result<QueryMap, axum::extract::rejection::QueryRejection>,
) -> Result<Json<Value>, ApiError> {
    let params = ListParams::parse(&query(q)?)?;
    let list = "view";
    let after = match &params.cursor {
        Some(c) => Some(
            SupportId::parse(&state.cursors.open(c, list, caller.email.as_str())?)
                .map_err(|_| ApiError::BadRequest("cursor is malformed".into()))?,
        ),
        None => None,
    };
    let reach = state.store.contact_reach(&caller.email).await?;
    let page = state.store.view_sites(&reach, after.as_ref(), params.limit).await?;
    let next_cursor = page.next.map(|n| state.cursors.seal(list, caller.email.as_str(), n.as_str()));
    Ok(Json(json!({"sites": page.items, "next_cursor": next_cursor})))
}

fn entitlement_filter(q: &HashMap<String, String>) -> Result<EntitlementFilter, ApiError> {
    let status = match q.get("status") {
        None => None,
        Some(s) => Some(
            EntitlementStatus::parse(s)
                .ok_or_else(|| ApiError::BadRequest(format!("status must be active, expired or upcoming, got {s:?}")))?,
        ),
    };
    let ends_before = match q.get("ends_before") {
        None => None,
        Some(d) => Some(Day::parse(d).ok_or_else(|| ApiError::BadRequest(format!("ends_before must be a YYYY-MM-DD date, got {d:?}")))?),
    };
    let text = q.get("q").map(|t| t.trim().to_lowercase()).filter(|t| !t.is_empty());
    if text.as_ref().is_some_and(|t| t.len() > 200) {
        return Err(ApiError::BadRequest("q must be at most 200 characters".into()));
    }
    Ok(EntitlementFilter { status, ends_before, text })
}

async fn site_entitlements(
    State(state): State<AppState>,
    caller: Caller,
    Path(raw_site): Path<String>,
    q: Result<QueryMap, axum::extract::rejection::QueryRejection>,
) -> Result<Json<Value>, ApiError> {
    let q = query(q)?;
    let params = ListParams::parse(&q)?;
    let filter = entitlement_filter(&q)?;
    let not_found = || ApiError::NotFound(format!("no account site {raw_site} in your view"));
    let site = SupportId::parse(&raw_site).map_err(|_| not_found())?;
    let list = format!(
        "site:{site}?status={:?}&ends_before={}&q={}",
        filter.status,
        filter.ends_before.map(|d| d.to_string()).unwrap_or_default(),
        filter.text.clone().unwrap_or_default()
    );
    let after = match &params.cursor {
        Some(c) => Some(state.cursors.open(c, &list, caller.email.as_str())?),
        None => None,
    };
    let reach = state.store.contact_reach(&caller.email).await?;
    let (site_ref, page) =
        state.store.site_entitlements(&reach, &site, after.as_deref(), params.limit, &filter, Day::today()).await?.ok_or_else(not_found)?;
    let next_cursor = page.next.map(|n| state.cursors.seal(&list, caller.email.as_str(), n.as_str()));
    let entitlements: Vec<_> = page.items.iter().map(summary).collect();
    Ok(Json(json!({
        "site": {"support_id": site_ref.support_id, "name": site_ref.name},
        "entitlements": entitlements,
        "next_cursor": next_cursor,
    })))
}

async fn entitlement(State(state): State<AppState>, caller: Caller, Path(raw_serial): Path<String>) -> Result<Json<Value>, ApiError> {
    let not_found = || ApiError::NotFound(format!("no entitlement {raw_serial} in your view"));
    let serial = Serial::parse(&raw_serial).map_err(|_| not_found())?;
    let (e, site) = state.store.entitlement(&caller.email, &serial, Day::today()).await?.ok_or_else(not_found)?;
    // The audit record is written before the keys are shown: no record, no keys.
    state.store.record_entitlement_read(&caller.email, &serial, &e.access, &caller.request_id).await?;
    let mut body = serde_json::to_value(summary(&e)).map_err(|err| ApiError::BadRequest(err.to_string()))?;
    body["site"] = json!({"support_id": site.support_id, "name": site.name});
    body["license_keys"] = json!(e.line.line.license_keys);
    body["download_url"] = json!(e.line.line.download_url);
    Ok(Json(body))
}
