//! Entity tags on the view's answers: a strong `ETag` (a digest of the JSON body), and
//! `304 Not Modified` when the request's `If-None-Match` names it — a client that keeps
//! its last answer re-reads a page without downloading it again.

use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use sha2::{Digest, Sha256};

/// The entity tag of a body: the first 128 bits of its SHA-256, quoted.
pub fn of(body: &[u8]) -> String {
    let digest = Sha256::digest(body);
    format!("\"{}\"", digest.iter().take(16).map(|b| format!("{b:02x}")).collect::<String>())
}

/// Does `If-None-Match` name `etag`? (`*`, a list, weak tags compared weakly: RFC 9110 §13.1.2.)
pub fn matches(request: &HeaderMap, etag: &str) -> bool {
    request.get_all(header::IF_NONE_MATCH).iter().filter_map(|v| v.to_str().ok()).flat_map(|v| v.split(',')).any(|candidate| {
        let candidate = candidate.trim();
        candidate == "*" || candidate.strip_prefix("W/").unwrap_or(candidate) == etag
    })
}

/// `value` as JSON with its `ETag`, or `304` with the tag alone when the client has it.
pub fn json<T: serde::Serialize>(request: &HeaderMap, value: &T) -> Response {
    let body = match serde_json::to_vec(value) {
        Ok(b) => b,
        Err(e) => return super::problem::ApiError::Store(crate::store::StoreError::Corrupt(e.to_string())).into_response(),
    };
    let etag = of(&body);
    let tag = HeaderValue::from_str(&etag).unwrap_or(HeaderValue::from_static("\"\""));
    if matches(request, &etag) {
        return (StatusCode::NOT_MODIFIED, [(header::ETAG, tag)]).into_response();
    }
    (StatusCode::OK, [(header::ETAG, tag), (header::CONTENT_TYPE, HeaderValue::from_static("application/json"))], body).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with(value: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(header::IF_NONE_MATCH, HeaderValue::from_str(value).unwrap());
        h
    }

    #[test]
    fn an_unchanged_answer_is_304_and_a_changed_one_is_sent_again() {
        let tag = of(b"{\"a\":1}");
        let first = json(&HeaderMap::new(), &serde_json::json!({"a": 1}));
        assert_eq!(first.status(), StatusCode::OK);
        assert_eq!(first.headers()[header::ETAG], tag.as_str());
        assert_eq!(json(&with(&tag), &serde_json::json!({"a": 1})).status(), StatusCode::NOT_MODIFIED);
        assert_eq!(json(&with(&format!("\"x\", W/{tag}")), &serde_json::json!({"a": 1})).status(), StatusCode::NOT_MODIFIED);
        assert_eq!(json(&with(&tag), &serde_json::json!({"a": 2})).status(), StatusCode::OK);
        assert_eq!(json(&with("*"), &serde_json::json!({"a": 2})).status(), StatusCode::NOT_MODIFIED);
    }
}
