//! The local stand-in for API Gateway's JWT authorizer: verifies HS256 bearer tokens as
//! spec §6 says and puts the claims where API Gateway would (an HTTP API payload 2.0
//! request context, claims flattened to strings), so handlers run their AWS code path.

use crate::jwt;
use abev::http::problem::ApiError;
use axum::extract::Request;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use lambda_http::request::RequestContext;
use serde_json::Value;

#[derive(Clone, Debug)]
pub struct LocalAuthorizer {
    pub secret: String,
    pub issuer: String,
    pub audience: String,
}

impl LocalAuthorizer {
    pub fn from_env() -> LocalAuthorizer {
        LocalAuthorizer {
            secret: abev::config::optional("ABEV_LOCAL_JWT_SECRET", jwt::DEFAULT_LOCAL_SECRET),
            issuer: jwt::LOCAL_ISSUER.into(),
            audience: jwt::LOCAL_AUDIENCE.into(),
        }
    }

    /// The request context API Gateway would build for these claims.
    pub fn request_context(claims: &serde_json::Map<String, Value>, request_id: &str) -> Option<RequestContext> {
        // API Gateway hands every claim over as a string; arrays become "[a b]".
        let flat: serde_json::Map<String, Value> = claims
            .iter()
            .map(|(k, v)| {
                let s = match v {
                    Value::String(s) => s.clone(),
                    Value::Array(items) => format!(
                        "[{}]",
                        items.iter().map(|i| i.as_str().map(str::to_string).unwrap_or_else(|| i.to_string())).collect::<Vec<_>>().join(" ")
                    ),
                    other => other.to_string(),
                };
                (k.clone(), Value::String(s))
            })
            .collect();
        let ctx = serde_json::json!({
            "accountId": "000000000000", "apiId": "local", "domainName": "127.0.0.1", "domainPrefix": "local",
            "requestId": request_id, "routeKey": "$default", "stage": "$default", "time": "", "timeEpoch": 0,
            "http": {"method": "GET", "path": "/", "protocol": "HTTP/1.1", "sourceIp": "127.0.0.1", "userAgent": "local"},
            "authorizer": {"jwt": {"claims": flat, "scopes": null}}
        });
        serde_json::from_value(ctx).ok().map(RequestContext::ApiGatewayV2)
    }

    pub async fn authorize(&self, mut request: Request, next: Next) -> Response {
        // The API's own document is public, as its route is in API Gateway (`Auth: NONE`).
        let public = abev::http::view::PUBLIC_ROUTES;
        if public.iter().any(|(method, path)| request.method().as_str() == *method && request.uri().path() == *path) {
            return next.run(request).await;
        }
        let token = request
            .headers()
            .get(axum::http::header::AUTHORIZATION)
            .and_then(|h| h.to_str().ok())
            .and_then(|h| h.strip_prefix("Bearer ").or_else(|| h.strip_prefix("bearer ")))
            .map(str::trim);
        let Some(token) = token else {
            return ApiError::Unauthorized("a bearer token is required".into()).into_response();
        };
        let claims = match jwt::verify(&self.secret, token, &self.issuer, &self.audience) {
            Ok(claims) => claims,
            Err(e) => return ApiError::Unauthorized(e.to_string()).into_response(),
        };
        let request_id = uuid::Uuid::new_v4().to_string();
        match Self::request_context(&claims, &request_id) {
            Some(ctx) => {
                request.extensions_mut().insert(ctx);
                next.run(request).await
            }
            None => ApiError::Unauthorized("the token's claims could not be read".into()).into_response(),
        }
    }
}

/// Wraps a router in the stand-in authorizer (for the local host and tests).
pub fn protect(router: axum::Router, authorizer: LocalAuthorizer) -> axum::Router {
    router.layer(axum::middleware::from_fn(move |req: Request, next: Next| {
        let authorizer = authorizer.clone();
        async move { authorizer.authorize(req, next).await }
    }))
}
