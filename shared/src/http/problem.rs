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
        problem(status, kind, title, &detail)
    }
}

/// Turns axum's own rejections (bad JSON bodies, unknown routes' methods) into problems.
pub fn from_rejection(rejection: impl std::fmt::Display) -> ApiError {
    ApiError::BadRequest(rejection.to_string())
}
