//! The view function's routes (spec §4).

use super::dto::{
    DownloadLink, EntitlementDetail, EntitlementSummary, Me, MeRollout, MeSite, Problem, SiteEntitlementsPage, SiteRef, ViewPage,
    ViewSummary,
};
use super::identity::Caller;
use super::list::{ApiQuery, Cursor, EntitlementQuery, ListId, ListQuery, MAX_LIMIT};
use super::notices::{__path_get_notices, __path_set_notices, __path_unsubscribe, get_notices, set_notices, unsubscribe};
use super::problem::ApiError;
use super::renewals::{__path_renewals, renewals};
use super::routes::route_table;
use super::ViewState;
use crate::domain::{Day, Serial, SupportId};
use axum::extract::{Path, State};
use axum::http::{header, HeaderMap};
use axum::response::{IntoResponse, Response};
use axum::Json;

/// The conditional-request header of the tagged answers.
#[derive(utoipa::IntoParams)]
#[into_params(parameter_in = Header)]
#[allow(dead_code)]
struct IfNoneMatch {
    /// An `ETag` of an earlier answer: `304` if the answer is still the same.
    #[param(rename = "If-None-Match")]
    if_none_match: Option<String>,
}

route_table! {
    state: ViewState;
    GET "/v1/me" => me (__path_me),
    GET "/v1/view" => view_sites (__path_view_sites),
    GET "/v1/view/sites/{support_id}/entitlements" => site_entitlements (__path_site_entitlements),
    GET "/v1/entitlements/{serial}" => entitlement (__path_entitlement),
    GET "/v1/entitlements/{serial}/download" => download (__path_download),
    GET "/v1/renewals" => renewals (__path_renewals),
    GET "/v1/me/notices" => get_notices (__path_get_notices),
    PUT "/v1/me/notices" => set_notices (__path_set_notices),
    GET "/v1/notices/unsubscribe" => unsubscribe (__path_unsubscribe),
}

/// Routes the view function serves without a token: in template.yaml each needs
/// `Auth: { Authorizer: NONE }` on its HttpApi event (and the local authorizer lets it through).
pub const PUBLIC_ROUTES: &[(&str, &str)] = &[("GET", super::openapi::OPENAPI_PATH), ("GET", super::notices::UNSUBSCRIBE_ROUTE)];

/// The view function's whole service (it also serves the OpenAPI document).
pub fn router(state: impl Into<ViewState>) -> axum::Router {
    super::service(routes().merge(super::openapi::routes()), state.into())
}

/// Who the caller is, their memberships, and how big their view is.
///
/// `view` holds exact counters: how many account sites and entitlements the caller sees.
#[utoipa::path(get, path = "/v1/me", tag = "view", operation_id = "get_me",
    responses((status = 200, description = "The caller", body = Me)))]
async fn me(State(state): State<ViewState>, caller: Caller) -> Result<Json<Me>, ApiError> {
    let memberships = state.store.memberships(&caller.email).await?;
    let records = state.store.site_records(memberships.keys()).await?;
    let sites = memberships
        .iter()
        .map(|(sid, role)| MeSite {
            support_id: sid.clone(),
            name: records.get(sid).map(|r| r.name.clone()).unwrap_or_else(|| sid.to_string()),
            role: *role,
        })
        .collect();
    // Waiting: the caller's sites whose record (already read for the names) is not enabled.
    let waiting_sites =
        memberships.keys().filter(|sid| !state.settings.rollout.shows(records.get(*sid).is_some_and(|r| r.view_enabled))).count() as u64;
    // The summary walks the view's site pages: its cost grows with the number of sites
    // in the view (one page per 500 sites), never with the entitlements behind them.
    let (mut site_count, mut entitlement_count, mut after) = (0u64, 0u64, None);
    loop {
        let page = state.store.view_sites(&caller.email, state.settings.rollout, after.as_ref(), MAX_LIMIT).await?;
        site_count += page.items.len() as u64;
        entitlement_count += page.items.iter().map(|s| s.entitlement_count).sum::<u64>();
        match page.next {
            Some(next) => after = Some(next),
            None => break,
        }
    }
    Ok(Json(Me {
        email: caller.email,
        sites,
        view: ViewSummary { sites: site_count, entitlements: entitlement_count },
        rollout: MeRollout { mode: state.settings.rollout, waiting_sites },
    }))
}

/// The account sites in the caller's view.
///
/// Sites where the caller sees at least one entitlement, by Support ID, each with how many
/// it sees and through which rules.
#[utoipa::path(get, path = "/v1/view", tag = "view", operation_id = "list_view_sites", params(ListQuery, IfNoneMatch),
    responses(
        (status = 200, description = "One page of sites", body = ViewPage, headers(("ETag" = String, description = "The answer's entity tag"))),
        (status = 304, description = "Unchanged since the `If-None-Match` tag", headers(("ETag" = String, description = "The answer's entity tag"))),
        (status = 400, description = "A bad `limit` or `cursor`", body = Problem, content_type = "application/problem+json"),
    ))]
async fn view_sites(
    State(state): State<ViewState>,
    caller: Caller,
    headers: HeaderMap,
    ApiQuery(q): ApiQuery<ListQuery>,
) -> Result<Response, ApiError> {
    let list = ListId::View;
    let after: Option<SupportId> = Cursor::open(&state.cursors, q.cursor.as_ref(), &list, &caller.email)?;
    let page = state.store.view_sites(&caller.email, state.settings.rollout, after.as_ref(), q.limit.get()).await?;
    let answer = ViewPage {
        next_cursor: Cursor::seal(&state.cursors, page.next.as_ref(), &list, &caller.email),
        sites: page.items.into_iter().map(Into::into).collect(),
    };
    Ok(super::etag::json(&headers, &answer))
}

/// What the caller sees of one account site.
///
/// Only the entitlements the caller may see, by serial, without licence keys. A site with
/// nothing in the caller's view is 404 (a member of a site with no entitlements gets an
/// empty page).
#[utoipa::path(get, path = "/v1/view/sites/{support_id}/entitlements", tag = "view", operation_id = "list_site_entitlements",
    params(("support_id" = String, Path, description = "The site's Support ID (case-insensitive)", example = "ACME-1"), EntitlementQuery, IfNoneMatch),
    responses(
        (status = 200, description = "One page of entitlements", body = SiteEntitlementsPage, headers(("ETag" = String, description = "The answer's entity tag"))),
        (status = 304, description = "Unchanged since the `If-None-Match` tag", headers(("ETag" = String, description = "The answer's entity tag"))),
        (status = 400, description = "A bad `limit`, `cursor` or filter", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such site in the caller's view", body = Problem, content_type = "application/problem+json"),
    ))]
async fn site_entitlements(
    State(state): State<ViewState>,
    caller: Caller,
    Path(raw_site): Path<String>,
    headers: HeaderMap,
    ApiQuery(q): ApiQuery<EntitlementQuery>,
) -> Result<Response, ApiError> {
    let filter = q.filter()?;
    let not_found = || ApiError::NotFound(format!("no account site {raw_site} in your view"));
    let site = SupportId::parse(&raw_site).map_err(|_| not_found())?;
    let list = ListId::site_entitlements(&site, &filter);
    let after: Option<String> = Cursor::open(&state.cursors, q.cursor.as_ref(), &list, &caller.email)?;
    let (site_ref, page) = state
        .store
        .site_entitlements(&caller.email, state.settings.rollout, &site, after.as_deref(), q.limit.get(), &filter, Day::today())
        .await?
        .ok_or_else(not_found)?;
    let next = page.next.map(|n| n.to_string());
    let answer = SiteEntitlementsPage {
        site: SiteRef { support_id: site_ref.support_id, name: site_ref.name },
        entitlements: page.items.iter().map(EntitlementSummary::of).collect(),
        next_cursor: Cursor::seal(&state.cursors, next.as_ref(), &list, &caller.email),
    };
    Ok(super::etag::json(&headers, &answer))
}

/// One entitlement with its licence keys and download URL.
///
/// Every call is recorded in an audit trail before the keys are answered. An entitlement
/// the caller cannot see is 404, exactly like one that does not exist.
#[utoipa::path(get, path = "/v1/entitlements/{serial}", tag = "view", operation_id = "get_entitlement",
    params(("serial" = String, Path, description = "The entitlement's serial", example = "S1"), IfNoneMatch),
    responses(
        (status = 200, description = "The entitlement", body = EntitlementDetail, headers(("ETag" = String, description = "The answer's entity tag"))),
        (status = 304, description = "Unchanged since the `If-None-Match` tag (the read is audited all the same)", headers(("ETag" = String, description = "The answer's entity tag"))),
        (status = 400, description = "A path that is not UTF-8", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such entitlement in the caller's view", body = Problem, content_type = "application/problem+json"),
    ))]
async fn entitlement(
    State(state): State<ViewState>,
    caller: Caller,
    Path(raw_serial): Path<String>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let not_found = || ApiError::NotFound(format!("no entitlement {raw_serial} in your view"));
    let Ok(serial) = Serial::parse(&raw_serial) else {
        // Not a serial at all: nothing to key an audit item by, so the trace is the log.
        let probe: String = raw_serial.chars().take(80).collect();
        tracing::warn!(caller = %caller.email, serial = probe, outcome = "not_found", "entitlement detail refused: not a serial");
        return Err(not_found());
    };
    let found = state.store.entitlement(&caller.email, &serial, Day::today(), state.settings.rollout).await?;
    // The audit record is written before the answer: no record, no keys (and a refusal
    // is recorded as well, so probing for serials is visible).
    let rules = found.as_ref().map(|(e, _)| e.access.as_slice()).unwrap_or_default();
    state.store.record_entitlement_read(&caller.email, &serial, rules, &caller.request_id, state.settings.limits.history_retention).await?;
    let (e, site) = found.ok_or_else(not_found)?;
    let detail = EntitlementDetail::of(&e, SiteRef { support_id: site.support_id, name: site.name });
    // Licence keys must not stay in any browser or proxy cache; a client that kept the
    // answer itself may still ask with If-None-Match (the read is audited either way).
    Ok(([(header::CACHE_CONTROL, "no-store")], super::etag::json(&headers, &detail)).into_response())
}

/// The entitlement's download, as a link that expires within minutes.
///
/// Checked against the caller's view at the moment of the click and audited like a licence
/// key read. A file in the stack's downloads bucket is answered with an S3 presigned link
/// (valid 5 minutes); any other `download_url` is the vendor's own link, answered as it is.
/// A client that asks for `application/json` (a page: fetch hides a redirect's `Location`)
/// gets the same link in the body.
#[utoipa::path(get, path = "/v1/entitlements/{serial}/download", tag = "view", operation_id = "download_entitlement",
    params(("serial" = String, Path, description = "The entitlement's serial", example = "S1")),
    responses(
        (status = 200, description = "Asked with `Accept: application/json`: the link in the body", body = DownloadLink),
        (status = 302, description = "Go to the file: `Location` is a link that expires within minutes (or the vendor's own link)",
            headers(("Location" = String, description = "Where the file is"))),
        (status = 400, description = "A path that is not UTF-8", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such entitlement in the caller's view, or it has no download", body = Problem, content_type = "application/problem+json"),
    ))]
async fn download(
    State(state): State<ViewState>,
    caller: Caller,
    headers: HeaderMap,
    Path(raw_serial): Path<String>,
) -> Result<Response, ApiError> {
    let not_found = || ApiError::NotFound(format!("no download for {raw_serial} in your view"));
    let Ok(serial) = Serial::parse(&raw_serial) else { return Err(not_found()) };
    let found = state.store.entitlement(&caller.email, &serial, Day::today(), state.settings.rollout).await?;
    let rules = found.as_ref().map(|(e, _)| e.access.as_slice()).unwrap_or_default();
    // Audited before the answer, like a detail read: no record, no link.
    state.store.record_entitlement_read(&caller.email, &serial, rules, &caller.request_id, state.settings.limits.history_retention).await?;
    let (e, _) = found.ok_or_else(not_found)?;
    let url = e.line.line.download_url.clone().ok_or_else(not_found)?;
    let link = match state.settings.downloads.as_ref().and_then(|d| super::download::object_key(&url, &d.bucket).map(|k| (d, k))) {
        Some((downloads, key)) => DownloadLink {
            url: downloads.presign(&key).await.map_err(|reason| {
                tracing::error!(%reason, "presigning failed");
                ApiError::Store(crate::store::StoreError::Unavailable { op: "presign", code: String::new(), message: reason })
            })?,
            expires_in_seconds: Some(super::download::LINK_LIFETIME.as_secs()),
        },
        None => DownloadLink { url, expires_in_seconds: None },
    };
    tracing::info!(caller = %caller.email, serial = %serial, outcome = "download", "entitlement download answered");
    let no_store = (header::CACHE_CONTROL, header::HeaderValue::from_static("no-store"));
    if super::download::wants_json(&headers) {
        return Ok(([no_store], Json(link)).into_response());
    }
    let location = header::HeaderValue::from_str(&link.url).map_err(|_| not_found())?;
    Ok((axum::http::StatusCode::FOUND, [(header::LOCATION, location), no_store]).into_response())
}
