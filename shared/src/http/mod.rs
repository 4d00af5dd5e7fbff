//! The HTTP side shared by the view and access functions: identity, problem+json, cursors,
//! list parameters, the per-request log line. (The local stand-in for the authorizer and
//! its tokens are in `tools/local`: they are not deployed.)

pub mod access;
pub mod claims;
pub mod cursor;
pub mod download;
pub mod dto;
pub mod etag;
pub mod identity;
pub mod list;
pub mod memberships;
/// Expiry notices' setting and unsubscribe link (issue 20 part 2).
pub mod notices;
pub mod openapi;
pub mod problem;
pub mod ratelimit;
pub mod renewals;
pub mod routes;
mod schema;
pub mod view;
// Issue 21 parts 2-4: domain rules, invitations, access reviews.
pub mod domain_rules;
pub mod invitations;
pub mod reviews;

use crate::store::metrics::measured;
use crate::store::Store;
use axum::extract::{FromRef, Request};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use cursor::CursorKey;
use problem::ApiError;
use std::sync::Arc;

pub use list::{DEFAULT_LIMIT, MAX_LIMIT};
pub const DEV_CURSOR_SECRET: &str = "abev-local-cursor-secret";

/// The response header that carries the request id (also the problem's `instance` and the
/// log line's `request_id`, so a user's error report finds the log line).
pub const REQUEST_ID_HEADER: &str = "x-request-id";
/// The response headers a browser page may read (CORS `ExposeHeaders`, here and in template.yaml).
pub const EXPOSED_HEADERS: &[&str] = &["content-type", "retry-after", "etag", "ratelimit", "ratelimit-policy", REQUEST_ID_HEADER];

pub use crate::access::CareQueue;

/// The access function's state (its handlers and `crate::access` use it).
#[derive(Clone, Debug)]
pub struct AppState {
    pub store: Store,
    pub cursors: Arc<CursorKey>,
    pub care: Option<CareQueue>,
    pub admin_sla_days: u64,
    pub settings: Settings,
}

/// Configuration the routes read on every request (loaded once, at start-up).
#[derive(Clone, Debug, Default)]
pub struct Settings {
    pub identity: identity::IdentityConfig,
    pub limits: crate::access::Limits,
    /// Who sees the view: everyone, or the sites enabled wave by wave (`ABEV_ROLLOUT`).
    pub rollout: crate::domain::access::Rollout,
    /// Per-caller request limits (`ABEV_RATE_PER_SECOND`, `ABEV_RATE_BURST`); `None`: off.
    pub rate: Option<ratelimit::RatePolicy>,
    /// The stack's downloads bucket, for presigned links (`None`: vendor links only).
    pub downloads: Option<download::Downloads>,
}

impl Settings {
    /// From the environment: see `IdentityConfig::from_env` and `Limits::from_env`.
    pub fn from_env() -> Result<Settings, crate::config::ConfigError> {
        let raw = crate::config::optional("ABEV_ROLLOUT", "everyone");
        let rollout = crate::domain::access::Rollout::parse(&raw).ok_or_else(|| crate::config::ConfigError {
            name: "ABEV_ROLLOUT",
            problem: format!("{raw:?} is neither everyone nor waves"),
        })?;
        Ok(Settings {
            identity: identity::IdentityConfig::from_env(),
            limits: crate::access::Limits::from_env()?,
            rollout,
            rate: ratelimit::RatePolicy::from_env()?,
            downloads: None,
        })
    }
}

impl AppState {
    /// The access workflow over this state's store and Care queue.
    pub fn workflow(&self) -> crate::access::Workflow {
        crate::access::Workflow {
            store: self.store.clone(),
            care: self.care.clone(),
            admin_sla_days: self.admin_sla_days,
            limits: self.settings.limits.clone(),
        }
    }
}

/// The view function's state: it reads and audits, and knows nothing of Care.
#[derive(Clone, Debug)]
pub struct ViewState {
    pub store: Store,
    pub cursors: Arc<CursorKey>,
    pub settings: Settings,
}

/// The local host serves both functions from one state.
impl axum::extract::FromRef<AppState> for ViewState {
    fn from_ref(state: &AppState) -> ViewState {
        ViewState { store: state.store.clone(), cursors: state.cursors.clone(), settings: state.settings.clone() }
    }
}

/// Both functions read the caller's identity the same way.
impl axum::extract::FromRef<AppState> for identity::IdentityConfig {
    fn from_ref(state: &AppState) -> identity::IdentityConfig {
        state.settings.identity.clone()
    }
}

impl axum::extract::FromRef<ViewState> for identity::IdentityConfig {
    fn from_ref(state: &ViewState) -> identity::IdentityConfig {
        state.settings.identity.clone()
    }
}

impl From<AppState> for ViewState {
    fn from(state: AppState) -> ViewState {
        ViewState::from_ref(&state)
    }
}

/// The request's id: API Gateway's, or a fresh one where there is none (the local host).
#[derive(Debug, Clone)]
pub struct RequestId(pub String);

/// Logs one JSON line per request with its id, who called (as the verified token says; empty
/// when the request carried no valid identity), its DynamoDB calls and consumed capacity.
/// Every answer carries the id (`x-request-id`, and a problem's `instance`) and, unless the
/// route says otherwise, `Cache-Control: no-store` (every answer is one caller's data).
pub async fn log_request(mut request: Request, next: Next) -> Response {
    let slot = identity::CallerSlot::default();
    request.extensions_mut().insert(slot.clone());
    let method = request.method().clone();
    let path = request.uri().path().to_string();
    let request_id = identity::request_id_of(request.extensions().get()).unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
    request.extensions_mut().insert(RequestId(request_id.clone()));
    let started = std::time::Instant::now();
    let (response, cost) = measured(next.run(request)).await;
    let (caller, care) = slot.get().unwrap_or_default();
    tracing::info!(
        request_id,
        caller,
        care,
        method = %method,
        path,
        status = response.status().as_u16(),
        ddb_calls = cost.ddb_calls,
        ddb_rounds = cost.sequential_rounds,
        read_capacity = cost.read_capacity,
        write_capacity = cost.write_capacity,
        latency_ms = started.elapsed().as_millis() as u64,
        "request"
    );
    let mut response = problem::with_instance(response, &request_id).await;
    let headers = response.headers_mut();
    if let Ok(id) = axum::http::HeaderValue::from_str(&request_id) {
        headers.insert(REQUEST_ID_HEADER, id);
    }
    headers.entry(axum::http::header::CACHE_CONTROL).or_insert(axum::http::HeaderValue::from_static("no-store"));
    response
}

/// What the per-caller limit needs: the table and the policy.
#[derive(Clone, Debug)]
pub struct Limiter {
    pub store: Store,
    pub policy: Option<ratelimit::RatePolicy>,
}

impl FromRef<ViewState> for Limiter {
    fn from_ref(state: &ViewState) -> Limiter {
        Limiter { store: state.store.clone(), policy: state.settings.rate }
    }
}

impl FromRef<AppState> for Limiter {
    fn from_ref(state: &AppState) -> Limiter {
        Limiter { store: state.store.clone(), policy: state.settings.rate }
    }
}

/// Takes a token from the caller's bucket before any route runs (so no route's answer —
/// an unknown site's 404, say — is given past the limit), and says how much is left on
/// every answer. Requests without verified claims pass: API Gateway refuses them before a
/// function runs (locally the stand-in authorizer does), and the public document needs none.
pub async fn rate_limit(axum::extract::State(limiter): axum::extract::State<Limiter>, request: Request, next: Next) -> Response {
    let Some(policy) = limiter.policy else { return next.run(request).await };
    let claims = identity::claims_of(request.extensions().get());
    let Some(subject) = claims.and_then(|c| c.get("sub").or_else(|| c.get("email"))).cloned() else {
        return next.run(request).await;
    };
    let now_us = (time::OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000) as i64;
    let verdict = match ratelimit::take(&limiter.store, &policy, &subject, now_us).await {
        Ok(v) => v,
        Err(e) => {
            // Fairness, not safety: a limiter that cannot reach its table lets requests
            // through (they meet the same table next, and reserved concurrency still bounds).
            tracing::warn!(error = %e, "rate limit not checked");
            return next.run(request).await;
        }
    };
    let mut response = match verdict {
        ratelimit::Verdict::Deny { retry_after_secs, .. } => ratelimit::refusal(retry_after_secs).into_response(),
        ratelimit::Verdict::Allow { .. } => next.run(request).await,
    };
    ratelimit::headers(&policy, &verdict, response.headers_mut());
    response
}

/// Every route of the API: both functions' (as the local host serves them) and the document.
pub fn api_routes() -> axum::Router<AppState> {
    view::routes().merge(access::routes()).merge(openapi::routes())
}

/// Routes made a service: problem+json for unknown routes, the per-caller limit, one log
/// line per request.
pub fn service<S: Clone + Send + Sync + 'static>(routes: axum::Router<S>, state: S) -> axum::Router
where
    Limiter: FromRef<S>,
{
    let limiter = Limiter::from_ref(&state);
    routes
        .fallback(not_found)
        .layer(axum::middleware::from_fn(problems_only))
        .layer(axum::middleware::from_fn_with_state(limiter, rate_limit))
        .layer(axum::middleware::from_fn(log_request))
        .with_state(state)
}

/// Every error answer is problem+json, including those axum makes itself (a wrong method,
/// an undecodable path): their status is kept, their plain-text body replaced.
pub async fn problems_only(request: Request, next: Next) -> Response {
    let response = next.run(request).await;
    let status = response.status();
    let is_problem =
        response.headers().get(axum::http::header::CONTENT_TYPE).is_some_and(|v| v.as_bytes().starts_with(b"application/problem+json"));
    if !status.is_client_error() && !status.is_server_error() || is_problem {
        return response;
    }
    let title = status.canonical_reason().unwrap_or("Error");
    let kind = title.to_lowercase().replace(' ', "-");
    let detail = if status == axum::http::StatusCode::METHOD_NOT_ALLOWED { "this route does not take that method" } else { title };
    problem::problem(status, &kind, title, detail)
}

/// Unknown routes answer problem+json too.
pub async fn not_found() -> ApiError {
    ApiError::NotFound("no such route".into())
}
