//! Every HTTP error, typed once and rendered once as RFC 9457 `application/problem+json`.

use crate::store::StoreError;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("{0}")]
    Unauthorized(String),
    #[error("{0}")]
    Forbidden(String),
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    BadRequest(String),
    #[error("{0}")]
    Conflict(String),
    /// 429 with `Retry-After` (whole seconds).
    #[error("{detail}")]
    TooManyRequests { detail: String, retry_after_secs: u64 },
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl ApiError {
    pub fn status(&self) -> StatusCode {
        match self {
            ApiError::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            ApiError::Forbidden(_) => StatusCode::FORBIDDEN,
            ApiError::NotFound(_) => StatusCode::NOT_FOUND,
            ApiError::BadRequest(_) => StatusCode::BAD_REQUEST,
            ApiError::Conflict(_) => StatusCode::CONFLICT,
            ApiError::TooManyRequests { .. } => StatusCode::TOO_MANY_REQUESTS,
            ApiError::Store(e) if e.is_transient() => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::Store(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn kind(&self) -> (&'static str, &'static str) {
        match self {
            ApiError::Unauthorized(_) => ("unauthorized", "Authentication required"),
            ApiError::Forbidden(_) => ("forbidden", "Not allowed"),
            ApiError::NotFound(_) => ("not-found", "Not found"),
            ApiError::BadRequest(_) => ("bad-request", "Bad request"),
            ApiError::Conflict(_) => ("conflict", "Conflict"),
            ApiError::TooManyRequests { .. } => ("too-many-requests", "Too many requests"),
            ApiError::Store(e) if e.is_transient() => ("unavailable", "Temporarily unavailable"),
            ApiError::Store(_) => ("internal", "Internal error"),
        }
    }
}

/// The one `problem+json` body: the `Problem` wire type.
pub fn problem(status: StatusCode, kind: &str, title: &str, detail: &str) -> Response {
    let body = super::dto::Problem {
        kind: format!("https://abev.example/problems/{kind}"),
        title: title.to_string(),
        status: status.as_u16(),
        detail: detail.to_string(),
        instance: None,
    };
    let json = serde_json::to_string(&body).unwrap_or_default();
    (status, [(header::CONTENT_TYPE, "application/problem+json")], json).into_response()
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.status();
        let (kind, title) = self.kind();
        let detail = match &self {
            // Storage details stay in the logs, not in answers to callers.
            ApiError::Store(e) => {
                tracing::error!(error = %e, "storage failure");
                "the request could not be completed; try again later".to_string()
            }
            other => other.to_string(),
        };
        let mut response = problem(status, kind, title, &detail);
        if let ApiError::TooManyRequests { retry_after_secs, .. } = &self {
            if let Ok(value) = header::HeaderValue::from_str(&retry_after_secs.to_string()) {
                response.headers_mut().insert(header::RETRY_AFTER, value);
            }
        }
        response
    }
}

/// The one mapping of the access workflow's errors to HTTP.
impl From<crate::access::AccessError> for ApiError {
    fn from(e: crate::access::AccessError) -> ApiError {
        use crate::access::AccessError;
        match e {
            AccessError::UnknownSite(_) | AccessError::NotYourSite(_) | AccessError::NotFound(_) => ApiError::NotFound(e.to_string()),
            AccessError::Forbidden(m) => ApiError::Forbidden(m),
            AccessError::Conflict(m) => ApiError::Conflict(m),
            AccessError::BadInput(m) => ApiError::BadRequest(m),
            AccessError::TooMany { detail, retry_after } => {
                // Whole seconds, rounded up: never earlier than the limit lifts.
                let secs = retry_after.whole_seconds().max(0) as u64 + u64::from(retry_after.subsec_nanoseconds() > 0);
                ApiError::TooManyRequests { detail, retry_after_secs: secs.max(1) }
            }
            AccessError::Invalid(m) => ApiError::Store(crate::store::StoreError::Corrupt(m)),
            AccessError::Store(s) => ApiError::Store(s),
        }
    }
}

/// The problem's `instance`: the request id, as a URN (the same id as the `x-request-id`
/// header and the log line's `request_id`).
pub fn instance(request_id: &str) -> String {
    format!("urn:abev:request:{request_id}")
}

/// A problem+json answer with its `instance` set to this request; any other answer as it is.
pub async fn with_instance(response: Response, request_id: &str) -> Response {
    let is_problem = response.headers().get(header::CONTENT_TYPE).is_some_and(|v| v.as_bytes().starts_with(b"application/problem+json"));
    if !is_problem {
        return response;
    }
    let (mut parts, body) = response.into_parts();
    // Problems are a few hundred bytes; anything unreadable is answered as it was.
    let Ok(bytes) = axum::body::to_bytes(body, 64 * 1024).await else {
        return (parts.status, "").into_response();
    };
    let mut value: serde_json::Value = match serde_json::from_slice(&bytes) {
        Ok(v) => v,
        Err(_) => return Response::from_parts(parts, axum::body::Body::from(bytes)),
    };
    if let Some(map) = value.as_object_mut() {
        map.insert("instance".into(), serde_json::Value::String(instance(request_id)));
    }
    parts.headers.remove(header::CONTENT_LENGTH);
    Response::from_parts(parts, axum::body::Body::from(serde_json::to_vec(&value).unwrap_or_default()))
}

/// Turns axum's own rejections (bad JSON bodies, unknown routes' methods) into problems.
pub fn from_rejection(rejection: impl std::fmt::Display) -> ApiError {
    ApiError::BadRequest(rejection.to_string())
}
