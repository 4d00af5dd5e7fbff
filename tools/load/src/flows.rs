//! What each kind of caller does, as goose transactions: one transaction is one visit (the
//! page's first requests, back to back, as the web page makes them), and the scenario's wait
//! time is the caller's think time between visits. Every request is timed here (µs, from
//! sending to the whole body read) and filed under its phase, caller kind and route.

use abev_load::report::{Kind, Phase, Route, RouteInfo, Samples};
use abev_local::bench::encode;
use goose::prelude::*;
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Mutex, OnceLock};
use std::time::Instant;

pub const VIEW: Route = "GET /v1/view";
pub const SITE_ENTITLEMENTS: Route = "GET /v1/view/sites/{support_id}/entitlements";
pub const DETAIL: Route = "GET /v1/entitlements/{serial}";
pub const ME: Route = "GET /v1/me";
pub const APPROVALS: Route = "GET /v1/approvals";
pub const MEMBERS: Route = "GET /v1/sites/{support_id}/members";
pub const HISTORY: Route = "GET /v1/sites/{support_id}/history";
pub const REQUEST: Route = "GET /v1/access-requests/{id}";
pub const FILE_REQUEST: Route = "POST /v1/access-requests";
pub const OWN_REQUESTS: Route = "GET /v1/access-requests";

pub const CUSTOMER: Kind = "customer";
pub const JOINER: Kind = "customer filing";
pub const RESELLER: Kind = "reseller";
pub const SHIP_TO: Kind = "ship-to";
pub const CARE: Kind = "Care";

/// The expected status of each route, and whether it is one of the view's pages (the
/// issue's target is about those).
pub fn route_info(route: Route) -> RouteInfo {
    match route {
        FILE_REQUEST => RouteInfo { expected: 201, page: false },
        VIEW | SITE_ENTITLEMENTS => RouteInfo { expected: 200, page: true },
        _ => RouteInfo { expected: 200, page: false },
    }
}

/// Everything the transactions share (goose transactions are plain functions).
pub struct Context {
    /// The signing secret of the local authorizer the load's server runs behind.
    pub secret: String,
    /// (e-mail, Support ID) of customer site contacts.
    pub customers: Vec<(String, String)>,
    pub reseller: String,
    pub ship_to: Vec<String>,
    /// Customer sites: where newcomers ask to join, and what Care looks at.
    pub sites: Vec<String>,
    pub loaded: AtomicBool,
    /// Set while the burst of orders is being ingested (for the breakdown of the pages).
    pub in_burst: AtomicBool,
    counter: AtomicU64,
    /// Requests answered so far (a progress line every 500).
    answered: AtomicU64,
    pub recorded: Mutex<BTreeMap<(Phase, Kind, Route), Samples>>,
    /// Loaded samples of the pages, split by whether the burst was being ingested.
    pub by_burst: Mutex<BTreeMap<(bool, Route), Samples>>,
}

impl Context {
    pub fn new(secret: String, customers: Vec<(String, String)>, reseller: String, ship_to: Vec<String>, sites: Vec<String>) -> Context {
        Context {
            secret,
            customers,
            reseller,
            ship_to,
            sites,
            loaded: AtomicBool::new(false),
            in_burst: AtomicBool::new(false),
            counter: AtomicU64::new(0),
            answered: AtomicU64::new(0),
            recorded: Mutex::new(BTreeMap::new()),
            by_burst: Mutex::new(BTreeMap::new()),
        }
    }

    /// A fixed pseudo-random choice in 0..n (splitmix64 of a shared counter: a run is repeatable
    /// up to the interleaving of the callers).
    pub fn pick(&self, n: usize) -> usize {
        let mut z = self.counter.fetch_add(1, Ordering::Relaxed).wrapping_add(0x9E37_79B9_7F4A_7C15);
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        ((z ^ (z >> 31)) % n.max(1) as u64) as usize
    }

    /// A number no other caller gets.
    pub fn next_id(&self) -> u64 {
        self.counter.fetch_add(1, Ordering::Relaxed)
    }
}

static CONTEXT: OnceLock<Context> = OnceLock::new();

pub fn install(context: Context) -> &'static Context {
    let _ = CONTEXT.set(context);
    context_ref()
}

pub fn context_ref() -> &'static Context {
    CONTEXT.get().expect("the load context is installed before goose starts")
}

/// One request as `email`: timed, filed, and its JSON body (Null when it has none).
#[allow(clippy::too_many_arguments)]
async fn call(
    user: &mut GooseUser,
    kind: Kind,
    route: Route,
    method: GooseMethod,
    path: &str,
    email: &str,
    care: bool,
    body: Option<serde_json::Value>,
) -> Result<(u16, serde_json::Value), Box<TransactionError>> {
    let c = context_ref();
    let token = abev_local::jwt::mint_for(&c.secret, email, care);
    let mut builder = user.get_request_builder(&method, path)?.header("authorization", format!("Bearer {token}"));
    if let Some(b) = &body {
        builder = builder.header("content-type", "application/json").body(b.to_string());
    }
    let info = route_info(route);
    let request = GooseRequest::builder()
        .method(method)
        .path(path)
        .name(route)
        .expect_status_code(info.expected)
        .set_request_builder(builder)
        .build();
    let started = Instant::now();
    let answer = user.request(request).await?;
    let (status, json) = match answer.response {
        Ok(response) => {
            let status = response.status().as_u16();
            match response.bytes().await {
                Ok(bytes) => (status, serde_json::from_slice(&bytes).unwrap_or(serde_json::Value::Null)),
                Err(_) => (0, serde_json::Value::Null),
            }
        }
        Err(_) => (0, serde_json::Value::Null),
    };
    let elapsed = started.elapsed();
    let phase = if c.loaded.load(Ordering::Relaxed) { Phase::Loaded } else { Phase::Unloaded };
    let answered = c.answered.fetch_add(1, Ordering::Relaxed) + 1;
    if answered.is_multiple_of(500) {
        eprintln!("  {answered} requests answered ({phase:?}; this one {route} {status} in {} ms)", elapsed.as_millis());
    }
    c.recorded.lock().expect("recorder").entry((phase, kind, route)).or_default().add(status, info.expected, elapsed);
    if phase == Phase::Loaded && info.page {
        let burst = c.in_burst.load(Ordering::Relaxed);
        c.by_burst.lock().expect("recorder").entry((burst, route)).or_default().add(status, info.expected, elapsed);
    }
    Ok((status, json))
}

fn strings(json: &serde_json::Value, list: &str, field: &str) -> Vec<String> {
    json[list].as_array().map(|a| a.iter().filter_map(|x| x[field].as_str().map(str::to_string)).collect()).unwrap_or_default()
}

/// The view, a site's first page of entitlements, and one entitlement's detail (its licence
/// keys, audited). Without `site`, the caller's view is read two pages deep and the site is
/// one of those listed.
async fn browse(user: &mut GooseUser, kind: Kind, email: &str, site: Option<String>) -> TransactionResult {
    let c = context_ref();
    let (_, view) = call(user, kind, VIEW, GooseMethod::Get, "/v1/view?limit=100", email, false, None).await?;
    let mut listed = strings(&view, "sites", "support_id");
    if site.is_none() {
        if let Some(cursor) = view["next_cursor"].as_str() {
            let path = format!("/v1/view?limit=100&cursor={}", encode(cursor));
            let (_, next) = call(user, kind, VIEW, GooseMethod::Get, &path, email, false, None).await?;
            listed.extend(strings(&next, "sites", "support_id"));
        }
    }
    let Some(site) = site.or_else(|| (!listed.is_empty()).then(|| listed[c.pick(listed.len())].clone())) else {
        return Ok(());
    };
    let path = format!("/v1/view/sites/{}/entitlements?limit=100", encode(&site));
    let (_, page) = call(user, kind, SITE_ENTITLEMENTS, GooseMethod::Get, &path, email, false, None).await?;
    let serials = strings(&page, "entitlements", "serial");
    if serials.is_empty() {
        return Ok(());
    }
    let serial = &serials[c.pick(serials.len())];
    call(user, kind, DETAIL, GooseMethod::Get, &format!("/v1/entitlements/{}", encode(serial)), email, false, None).await?;
    Ok(())
}

/// A customer site's contact: its view, its site's first page, one detail.
pub async fn customer(user: &mut GooseUser) -> TransactionResult {
    let c = context_ref();
    let (email, site) = c.customers[c.pick(c.customers.len())].clone();
    browse(user, CUSTOMER, &email, Some(site)).await
}

/// The reseller's contact: two pages of its view (500 sites), one site's page, one detail.
pub async fn reseller(user: &mut GooseUser) -> TransactionResult {
    let email = context_ref().reseller.clone();
    browse(user, RESELLER, &email, None).await
}

/// A ship-to contact (the installer on many orders or the one on 20).
pub async fn ship_to(user: &mut GooseUser) -> TransactionResult {
    let c = context_ref();
    let email = c.ship_to[c.pick(c.ship_to.len())].clone();
    browse(user, SHIP_TO, &email, None).await
}

/// A newcomer at a customer files a join request for the site, then reads its own requests
/// and `/v1/me`. Each visit is a new person (a contact may hold 10 open requests).
pub async fn joiner(user: &mut GooseUser) -> TransactionResult {
    let c = context_ref();
    let site = c.sites[c.pick(c.sites.len())].clone();
    let email = format!("joiner{}@{}.example", c.next_id(), site.to_lowercase());
    let body = serde_json::json!({"support_id": site});
    call(user, JOINER, FILE_REQUEST, GooseMethod::Post, "/v1/access-requests", &email, false, Some(body)).await?;
    call(user, JOINER, OWN_REQUESTS, GooseMethod::Get, "/v1/access-requests", &email, false, None).await?;
    call(user, JOINER, ME, GooseMethod::Get, "/v1/me", &email, false, None).await?;
    Ok(())
}

/// A Customer Care agent: the escalated requests, one of them, a site's members and history.
pub async fn care(user: &mut GooseUser) -> TransactionResult {
    let c = context_ref();
    let email = format!("agent{}@care.example", user.weighted_users_index);
    let (_, approvals) = call(user, CARE, APPROVALS, GooseMethod::Get, "/v1/approvals?limit=50", &email, true, None).await?;
    let ids = strings(&approvals, "requests", "request_id");
    if !ids.is_empty() {
        let id = &ids[c.pick(ids.len())];
        call(user, CARE, REQUEST, GooseMethod::Get, &format!("/v1/access-requests/{}", encode(id)), &email, true, None).await?;
    }
    let site = c.sites[c.pick(c.sites.len())].clone();
    call(user, CARE, MEMBERS, GooseMethod::Get, &format!("/v1/sites/{site}/members?limit=50"), &email, true, None).await?;
    call(user, CARE, HISTORY, GooseMethod::Get, &format!("/v1/sites/{site}/history?limit=20"), &email, true, None).await?;
    Ok(())
}
