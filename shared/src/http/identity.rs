//! Who is calling: only the verified JWT claims that API Gateway's authorizer puts in the
//! request context (locally, the stand-in puts them in the same place). Nothing else — no
//! header, no query parameter — can set the caller.

use super::problem::ApiError;
use crate::domain::Email;
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use lambda_http::request::RequestContext;
use std::collections::HashMap;

pub const CARE_GROUP: &str = "customer-care";

#[derive(Debug, Clone)]
pub struct Caller {
    pub email: Email,
    /// Customer Care staff (`groups` contains `customer-care`).
    pub care: bool,
    pub request_id: String,
}

/// Reads the `groups` claim however API Gateway flattened it: a JSON array string
/// (`["a","b"]`), its own `[a b]` form, or a single bare group.
pub fn parse_groups(raw: &str) -> Vec<String> {
    let raw = raw.trim();
    if let Ok(list) = serde_json::from_str::<Vec<String>>(raw) {
        return list;
    }
    raw.trim_start_matches('[')
        .trim_end_matches(']')
        .split([' ', ','])
        .map(|g| g.trim().trim_matches('"'))
        .filter(|g| !g.is_empty())
        .map(str::to_string)
        .collect()
}

pub fn claims_of(context: Option<&RequestContext>) -> Option<&HashMap<String, String>> {
    match context? {
        RequestContext::ApiGatewayV2(ctx) => ctx.authorizer.as_ref()?.jwt.as_ref().map(|jwt| &jwt.claims),
        #[allow(unreachable_patterns)]
        _ => None,
    }
}

pub fn request_id_of(context: Option<&RequestContext>) -> Option<String> {
    match context? {
        RequestContext::ApiGatewayV2(ctx) => ctx.request_id.clone(),
        #[allow(unreachable_patterns)]
        _ => None,
    }
}

impl Caller {
    pub fn from_claims(claims: Option<&HashMap<String, String>>, request_id: String) -> Result<Caller, ApiError> {
        let claims = claims.ok_or_else(|| ApiError::Unauthorized("a bearer token is required".into()))?;
        if claims.get("email_verified").is_some_and(|v| v.trim().eq_ignore_ascii_case("false")) {
            return Err(ApiError::Unauthorized("the token's e-mail address is not verified".into()));
        }
        let email = claims.get("email").ok_or_else(|| ApiError::Unauthorized("the token carries no email claim".into()))?;
        let email = Email::parse(email).map_err(|_| ApiError::Unauthorized("the token's email claim is not an e-mail address".into()))?;
        let care = claims.get("groups").is_some_and(|g| parse_groups(g).iter().any(|g| g == CARE_GROUP));
        Ok(Caller { email, care, request_id })
    }
}

impl<S: Send + Sync> FromRequestParts<S> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        let context = parts.extensions.get::<RequestContext>();
        let request_id = request_id_of(context).unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
        Caller::from_claims(claims_of(context), request_id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn groups_claim_in_every_shape() {
        assert_eq!(parse_groups(r#"["customer-care","x"]"#), ["customer-care", "x"]);
        assert_eq!(parse_groups("[customer-care x]"), ["customer-care", "x"]);
        assert_eq!(parse_groups("customer-care"), ["customer-care"]);
        assert!(parse_groups("[]").is_empty());
    }

    #[test]
    fn unverified_or_missing_email_is_refused() {
        let mut claims = HashMap::from([("email".to_string(), "A@B.example".to_string())]);
        assert_eq!(Caller::from_claims(Some(&claims), "r".into()).unwrap().email.as_str(), "a@b.example");
        claims.insert("email_verified".into(), "false".into());
        assert!(Caller::from_claims(Some(&claims), "r".into()).is_err());
        assert!(Caller::from_claims(Some(&HashMap::new()), "r".into()).is_err());
        assert!(Caller::from_claims(None, "r".into()).is_err());
    }
}
