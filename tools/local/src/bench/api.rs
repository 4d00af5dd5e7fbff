//! The HTTP API in-process: the view and access routers the Lambdas run, behind the local
//! stand-in authorizer, called with `tower::ServiceExt::oneshot` inside `measured`, so the
//! DynamoDB calls, rounds and capacity of exactly one request are counted (handlers run in
//! the calling task).

use super::meter::{AwsWrites, WriteMeter};
use crate::jwt;
use crate::local_auth::{protect, LocalAuthorizer};
use abev::http::AppState;
use abev::store::metrics::{measured, Cost};
use axum::body::Body;
use axum::http::{header, Method, Request};
use std::time::{Duration, Instant};
use tower::ServiceExt;

/// One answered request.
#[derive(Debug, Clone)]
pub struct Answer {
    pub status: u16,
    /// The response body's length in bytes.
    pub bytes: usize,
    pub json: serde_json::Value,
    pub cost: Cost,
    pub writes: AwsWrites,
    pub elapsed: Duration,
}

impl Answer {
    pub fn next_cursor(&self) -> Option<String> {
        self.json.get("next_cursor").and_then(|c| c.as_str()).map(str::to_string)
    }

    /// The length of the list `field` of the body.
    pub fn count(&self, field: &str) -> usize {
        self.json.get(field).and_then(|v| v.as_array()).map_or(0, Vec::len)
    }
}

/// Both functions' routers, as the Lambdas build them, behind the stand-in authorizer.
#[derive(Clone)]
pub struct Api {
    view: axum::Router,
    access: axum::Router,
    secret: String,
    meter: WriteMeter,
}

impl Api {
    pub fn new(state: AppState, meter: WriteMeter) -> Api {
        let secret = "abev-bench-secret".to_string();
        let authorizer = LocalAuthorizer { secret: secret.clone(), issuer: jwt::LOCAL_ISSUER.into(), audience: jwt::LOCAL_AUDIENCE.into() };
        Api {
            view: protect(abev::http::view::router(state.clone()), authorizer.clone()),
            access: protect(abev::http::access::router(state), authorizer),
            secret,
            meter,
        }
    }

    /// `GET path` on the view function as `email`.
    pub async fn view(&self, email: &str, path: &str) -> Answer {
        self.call(&self.view, Method::GET, email, false, path, None).await
    }

    /// A request to the access function as `email` (`care`: with the Customer Care group).
    pub async fn access(&self, method: Method, email: &str, care: bool, path: &str, body: Option<serde_json::Value>) -> Answer {
        self.call(&self.access, method, email, care, path, body).await
    }

    async fn call(
        &self,
        router: &axum::Router,
        method: Method,
        email: &str,
        care: bool,
        path: &str,
        body: Option<serde_json::Value>,
    ) -> Answer {
        // Minted per request (outside the timing): a long run never meets an expired token.
        let token = jwt::mint_for(&self.secret, email, care);
        let mut request = Request::builder().method(method).uri(path).header(header::AUTHORIZATION, format!("Bearer {token}"));
        let body = match body {
            Some(b) => {
                request = request.header(header::CONTENT_TYPE, "application/json");
                Body::from(b.to_string())
            }
            None => Body::empty(),
        };
        let request = request.body(body).expect("a request");
        let router = router.clone();
        let _ = self.meter.take();
        let started = Instant::now();
        let ((status, bytes), cost) = measured(async move {
            let response = router.oneshot(request).await.expect("the router answers");
            let status = response.status().as_u16();
            let bytes = axum::body::to_bytes(response.into_body(), usize::MAX).await.expect("a body");
            (status, bytes)
        })
        .await;
        let elapsed = started.elapsed();
        let writes = self.meter.take();
        let json = serde_json::from_slice(&bytes).unwrap_or(serde_json::Value::Null);
        Answer { status, bytes: bytes.len(), json, cost, writes, elapsed }
    }
}
