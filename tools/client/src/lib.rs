//! A typed client of the ABEV HTTP API: one method per route, answering the wire types of
//! `abev::http::dto` (the same types the handlers answer and the OpenAPI document is made
//! from). Every error answer must be `application/problem+json`; anything else is reported
//! as a broken contract, not papered over.

use abev::domain::entitlement::EntitlementStatus;
use abev::domain::Role;
use abev::http::dto::*;
use serde::de::DeserializeOwned;
use serde::Serialize;

pub const PROBLEM_JSON: &str = "application/problem+json";

#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The API answered with a problem (4xx/5xx, `application/problem+json`).
    #[error("the API answered {}: {}", .0.status, .0.detail)]
    Problem(Problem),
    /// The API could not be reached.
    #[error("the API could not be reached: {0}")]
    Http(String),
    /// The answer is not what the contract says (a wrong body, content type or status).
    #[error("the API broke its contract: {0}")]
    Contract(String),
}

impl ClientError {
    /// The HTTP status of a problem answer.
    pub fn status(&self) -> Option<u16> {
        match self {
            ClientError::Problem(p) => Some(p.status),
            _ => None,
        }
    }

    pub fn problem(&self) -> Option<&Problem> {
        match self {
            ClientError::Problem(p) => Some(p),
            _ => None,
        }
    }
}

pub type ApiResult<T> = Result<T, ClientError>;

/// An answer as it came: status, content type and body text.
#[derive(Debug, Clone)]
pub struct RawAnswer {
    pub status: u16,
    pub content_type: String,
    /// Every response header, names lower-case (the last value of a repeated one).
    pub headers: std::collections::BTreeMap<String, String>,
    pub body: String,
}

impl RawAnswer {
    /// The body as `T` for a success, the `Problem` for an error.
    pub fn into_result<T: DeserializeOwned>(self) -> ApiResult<T> {
        if self.status >= 400 {
            if self.content_type != PROBLEM_JSON {
                return Err(ClientError::Contract(format!("a {} answered as {:?}: {}", self.status, self.content_type, self.body)));
            }
            let problem: Problem = serde_json::from_str(&self.body)
                .map_err(|e| ClientError::Contract(format!("a {} whose problem does not read ({e}): {}", self.status, self.body)))?;
            if problem.status != self.status {
                return Err(ClientError::Contract(format!("a {} whose problem says {}", self.status, problem.status)));
            }
            return Err(ClientError::Problem(problem));
        }
        if !self.content_type.starts_with("application/json") {
            return Err(ClientError::Contract(format!("a {} answered as {:?}", self.status, self.content_type)));
        }
        serde_json::from_str(&self.body)
            .map_err(|e| ClientError::Contract(format!("a {} body does not read ({e}): {}", self.status, self.body)))
    }
}

/// `limit` and `cursor` of one list page.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PageRequest {
    pub limit: Option<usize>,
    pub cursor: Option<String>,
}

impl PageRequest {
    pub fn limit(limit: usize) -> PageRequest {
        PageRequest { limit: Some(limit), cursor: None }
    }

    fn query(&self) -> Vec<(&'static str, String)> {
        let mut q = Vec::new();
        if let Some(l) = self.limit {
            q.push(("limit", l.to_string()));
        }
        if let Some(c) = &self.cursor {
            q.push(("cursor", c.clone()));
        }
        q
    }
}

/// The entitlement list's filters.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EntitlementFilters {
    pub status: Option<EntitlementStatus>,
    pub ends_before: Option<String>,
    pub q: Option<String>,
}

/// What `POST /v1/access-requests` did.
#[derive(Debug, Clone, PartialEq)]
pub enum CreatedRequest {
    /// 201: a new request.
    New(AccessRequestView),
    /// 200: the caller's open request for that site.
    Existing(AccessRequestView),
}

impl CreatedRequest {
    pub fn request(&self) -> &AccessRequestView {
        match self {
            CreatedRequest::New(r) | CreatedRequest::Existing(r) => r,
        }
    }
}

/// A caller of the API: its base URL and their bearer token.
#[derive(Clone)]
pub struct ApiClient {
    pub base: String,
    pub token: String,
    pub http: reqwest::Client,
}

/// The token never reaches a log or a panic message through `Debug`.
impl std::fmt::Debug for ApiClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ApiClient").field("base", &self.base).field("token", &"[redacted]").finish_non_exhaustive()
    }
}

fn segment(raw: &str) -> String {
    // Percent-encodes a path segment (e-mails carry '+', ids may carry '/').
    raw.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' | b'@' => (b as char).to_string(),
            other => format!("%{other:02X}"),
        })
        .collect()
}

impl ApiClient {
    pub fn new(base: &str, token: &str) -> ApiClient {
        ApiClient { base: base.trim_end_matches('/').to_string(), token: token.to_string(), http: reqwest::Client::new() }
    }

    /// The same API as another caller.
    pub fn with_token(&self, token: &str) -> ApiClient {
        ApiClient { base: self.base.clone(), token: token.to_string(), http: self.http.clone() }
    }

    /// Any request, answered as it came (for what the typed methods do not cover).
    pub async fn raw(&self, method: reqwest::Method, path: &str, query: &[(&str, String)], body: Option<&str>) -> ApiResult<RawAnswer> {
        let mut request = self.http.request(method, format!("{}{path}", self.base)).bearer_auth(&self.token).query(query);
        if let Some(body) = body {
            request = request.header("content-type", "application/json").body(body.to_string());
        }
        let response = request.send().await.map_err(|e| ClientError::Http(e.to_string()))?;
        let status = response.status().as_u16();
        let content_type = response.headers().get("content-type").and_then(|v| v.to_str().ok()).unwrap_or_default().to_string();
        let headers = response
            .headers()
            .iter()
            .filter_map(|(name, value)| Some((name.as_str().to_string(), value.to_str().ok()?.to_string())))
            .collect();
        let body = response.text().await.map_err(|e| ClientError::Http(e.to_string()))?;
        Ok(RawAnswer { status, content_type, headers, body })
    }

    async fn get<T: DeserializeOwned>(&self, path: &str, query: &[(&str, String)]) -> ApiResult<T> {
        self.raw(reqwest::Method::GET, path, query, None).await?.into_result()
    }

    async fn post<B: Serialize, T: DeserializeOwned>(&self, path: &str, body: &B) -> ApiResult<T> {
        let body = serde_json::to_string(body).map_err(|e| ClientError::Contract(e.to_string()))?;
        self.raw(reqwest::Method::POST, path, &[], Some(&body)).await?.into_result()
    }

    // ---- the view ---------------------------------------------------------------------

    pub async fn me(&self) -> ApiResult<Me> {
        self.get("/v1/me", &[]).await
    }

    pub async fn view_page(&self, page: &PageRequest) -> ApiResult<ViewPage> {
        self.get("/v1/view", &page.query()).await
    }

    pub async fn site_entitlements_page(
        &self,
        site: &str,
        filters: &EntitlementFilters,
        page: &PageRequest,
    ) -> ApiResult<SiteEntitlementsPage> {
        let mut query = page.query();
        if let Some(s) = filters.status {
            query.push(("status", serde_json::to_value(s).ok().and_then(|v| v.as_str().map(str::to_string)).unwrap_or_default()));
        }
        if let Some(d) = &filters.ends_before {
            query.push(("ends_before", d.clone()));
        }
        if let Some(q) = &filters.q {
            query.push(("q", q.clone()));
        }
        self.get(&format!("/v1/view/sites/{}/entitlements", segment(site)), &query).await
    }

    pub async fn entitlement(&self, serial: &str) -> ApiResult<EntitlementDetail> {
        self.get(&format!("/v1/entitlements/{}", segment(serial)), &[]).await
    }

    /// Every site of the caller's view, following `next_cursor` with pages of `limit`.
    pub async fn all_view_sites(&self, limit: usize) -> ApiResult<Vec<ViewSite>> {
        let mut page = PageRequest::limit(limit);
        let mut out = Vec::new();
        loop {
            let p = self.view_page(&page).await?;
            out.extend(p.sites);
            match p.next_cursor {
                Some(c) => page.cursor = Some(c),
                None => return Ok(out),
            }
        }
    }

    /// Every entitlement the caller sees of `site`, following `next_cursor`.
    pub async fn all_site_entitlements(
        &self,
        site: &str,
        filters: &EntitlementFilters,
        limit: usize,
    ) -> ApiResult<Vec<EntitlementSummary>> {
        let mut page = PageRequest::limit(limit);
        let mut out = Vec::new();
        loop {
            let p = self.site_entitlements_page(site, filters, &page).await?;
            out.extend(p.entitlements);
            match p.next_cursor {
                Some(c) => page.cursor = Some(c),
                None => return Ok(out),
            }
        }
    }

    // ---- sites and access requests -------------------------------------------------------

    pub async fn sites_page(&self, page: &PageRequest) -> ApiResult<SitesPage> {
        self.get("/v1/sites", &page.query()).await
    }

    pub async fn members_page(&self, site: &str, page: &PageRequest) -> ApiResult<MembersPage> {
        self.get(&format!("/v1/sites/{}/members", segment(site)), &page.query()).await
    }

    /// Every member of `site`.
    pub async fn all_members(&self, site: &str) -> ApiResult<Vec<Member>> {
        let mut page = PageRequest::limit(500);
        let mut out = Vec::new();
        loop {
            let p = self.members_page(site, &page).await?;
            out.extend(p.members);
            match p.next_cursor {
                Some(c) => page.cursor = Some(c),
                None => return Ok(out),
            }
        }
    }

    pub async fn history_page(&self, site: &str, page: &PageRequest) -> ApiResult<HistoryPage> {
        self.get(&format!("/v1/sites/{}/history", segment(site)), &page.query()).await
    }

    /// Removes a membership (204).
    pub async fn remove_member(&self, site: &str, email: &str) -> ApiResult<()> {
        let answer =
            self.raw(reqwest::Method::DELETE, &format!("/v1/sites/{}/members/{}", segment(site), segment(email)), &[], None).await?;
        match answer.status {
            204 => Ok(()),
            s if s >= 400 => answer.into_result::<serde_json::Value>().map(|_| ()),
            s => Err(ClientError::Contract(format!("DELETE answered {s}, not 204"))),
        }
    }

    pub async fn create_request(&self, support_id: &str, role: Option<Role>) -> ApiResult<CreatedRequest> {
        let body = CreateAccessRequest { support_id: support_id.to_string(), role };
        let body = serde_json::to_string(&body).map_err(|e| ClientError::Contract(e.to_string()))?;
        let answer = self.raw(reqwest::Method::POST, "/v1/access-requests", &[], Some(&body)).await?;
        let status = answer.status;
        let request: AccessRequestView = answer.into_result()?;
        match status {
            201 => Ok(CreatedRequest::New(request)),
            200 => Ok(CreatedRequest::Existing(request)),
            s => Err(ClientError::Contract(format!("creating a request answered {s}"))),
        }
    }

    pub async fn my_requests_page(&self, page: &PageRequest) -> ApiResult<RequestsPage> {
        self.get("/v1/access-requests", &page.query()).await
    }

    pub async fn approvals_page(&self, page: &PageRequest) -> ApiResult<RequestsPage> {
        self.get("/v1/approvals", &page.query()).await
    }

    /// Every request the caller may decide.
    pub async fn all_approvals(&self) -> ApiResult<Vec<AccessRequestView>> {
        let mut page = PageRequest::limit(500);
        let mut out = Vec::new();
        loop {
            let p = self.approvals_page(&page).await?;
            out.extend(p.requests);
            match p.next_cursor {
                Some(c) => page.cursor = Some(c),
                None => return Ok(out),
            }
        }
    }

    pub async fn approve(&self, request_id: &str, role: Option<Role>) -> ApiResult<AccessRequestView> {
        self.post(&format!("/v1/access-requests/{}/approve", segment(request_id)), &ApproveAccessRequest { role, ends_at: None }).await
    }

    pub async fn reject(&self, request_id: &str, reason: &str) -> ApiResult<AccessRequestView> {
        self.post(&format!("/v1/access-requests/{}/reject", segment(request_id)), &RejectAccessRequest { reason: reason.to_string() }).await
    }

    /// One request by id (its requester, Care, or an admin of its site).
    pub async fn access_request(&self, request_id: &str) -> ApiResult<AccessRequestView> {
        self.get(&format!("/v1/access-requests/{}", segment(request_id)), &[]).await
    }

    // ---- rollout waves (Customer Care) ---------------------------------------------------

    pub async fn rollout_page(&self, page: &PageRequest) -> ApiResult<RolloutPage> {
        self.get("/v1/rollout", &page.query()).await
    }

    /// The mode and every enabled site.
    pub async fn rollout(&self) -> ApiResult<(abev::domain::access::Rollout, Vec<EnabledSiteView>)> {
        let mut page = PageRequest::limit(500);
        let mut sites = Vec::new();
        loop {
            let p = self.rollout_page(&page).await?;
            sites.extend(p.sites);
            match p.next_cursor {
                Some(c) => page.cursor = Some(c),
                None => return Ok((p.mode, sites)),
            }
        }
    }

    pub async fn set_rollout(&self, support_id: &str, enabled: bool) -> ApiResult<RolloutChangeView> {
        let body = serde_json::to_string(&SetRollout { enabled }).map_err(|e| ClientError::Contract(e.to_string()))?;
        self.raw(reqwest::Method::PUT, &format!("/v1/rollout/sites/{}", segment(support_id)), &[], Some(&body)).await?.into_result()
    }
}

/// Convenience for tests and tools: the wire names of typed values.
pub fn wire<T: Serialize>(value: &T) -> String {
    serde_json::to_value(value).ok().and_then(|v| v.as_str().map(str::to_string)).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answer(status: u16, content_type: &str, body: &str) -> RawAnswer {
        RawAnswer { status, content_type: content_type.into(), headers: Default::default(), body: body.into() }
    }

    #[test]
    fn problems_and_broken_contracts_are_told_apart() {
        let problem = r#"{"type":"https://abev.example/problems/not-found","title":"Not found","status":404,"detail":"no"}"#;
        let err = answer(404, PROBLEM_JSON, problem).into_result::<Me>().unwrap_err();
        assert_eq!(err.status(), Some(404));
        assert!(matches!(answer(404, "text/plain", "nope").into_result::<Me>(), Err(ClientError::Contract(_))));
        assert!(matches!(answer(500, PROBLEM_JSON, problem).into_result::<Me>(), Err(ClientError::Contract(_))), "status mismatch");
        assert!(matches!(answer(200, "application/json", "{}").into_result::<Me>(), Err(ClientError::Contract(_))));
        let me =
            r#"{"email":"a@b.example","sites":[],"view":{"sites":0,"entitlements":0},"rollout":{"mode":"everyone","waiting_sites":0}}"#;
        assert_eq!(answer(200, "application/json", me).into_result::<Me>().unwrap().view.sites, 0);
    }

    #[test]
    fn debug_never_shows_the_token() {
        let client = ApiClient::new("https://api.example", "eyJ.secret.sig");
        let shown = format!("{client:?}");
        assert!(!shown.contains("secret") && shown.contains("[redacted]"), "{shown}");
    }

    #[test]
    fn path_segments_are_encoded() {
        assert_eq!(segment("a+b@x.example"), "a%2Bb@x.example");
        assert_eq!(segment("S:1/2"), "S%3A1%2F2");
    }
}
