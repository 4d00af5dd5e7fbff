//! Who is calling: only the verified JWT claims that API Gateway's authorizer puts in the
//! request context (locally, the stand-in puts them in the same place). Nothing else — no
//! header, no query parameter — can set the caller.

use super::problem::ApiError;
use crate::domain::Email;
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use lambda_http::request::RequestContext;
use std::collections::HashMap;

pub use crate::domain::access::CARE_GROUP;
/// The default claim that lists the caller's groups (`ABEV_GROUPS_CLAIM`).
pub const GROUPS_CLAIM: &str = "groups";

/// Which group makes a caller Customer Care, and which claim lists the groups (Cognito
/// puts them in `cognito:groups`; no pre-token trigger is needed to rename it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdentityConfig {
    pub care_group: String,
    pub groups_claim: String,
    /// Match the Care group against the whole claim, never a part of it split on spaces
    /// (`ABEV_GROUPS_EXACT`, default true). API Gateway hands an array claim over as
    /// `[a b]`: an external issuer's group named `partners customer-care` would read as two
    /// groups. Only the stack's Cognito pool (whose group names cannot hold a space) turns
    /// it off, so a Care agent there may be in other groups too.
    pub exact_groups: bool,
}

impl Default for IdentityConfig {
    fn default() -> Self {
        IdentityConfig { care_group: CARE_GROUP.into(), groups_claim: GROUPS_CLAIM.into(), exact_groups: true }
    }
}

impl IdentityConfig {
    /// `ABEV_CARE_GROUP` (default `customer-care`) and `ABEV_GROUPS_CLAIM` (default `groups`).
    pub fn from_env() -> IdentityConfig {
        IdentityConfig {
            care_group: crate::config::optional("ABEV_CARE_GROUP", CARE_GROUP).trim().to_string(),
            groups_claim: crate::config::optional("ABEV_GROUPS_CLAIM", GROUPS_CLAIM).trim().to_string(),
            exact_groups: !crate::config::optional("ABEV_GROUPS_EXACT", "true").trim().eq_ignore_ascii_case("false"),
        }
    }
}

#[derive(Debug, Clone)]
pub struct Caller {
    pub email: Email,
    /// Customer Care staff (the groups claim names the Care group exactly).
    pub care: bool,
    pub request_id: String,
    /// The token says the e-mail address is verified (`email_verified` true). Only then do
    /// domain rules and invitations act on the address (issue 21).
    pub email_verified: bool,
}

/// Reads the groups claim exactly as API Gateway hands it over: a JSON array string
/// (`["a","b"]`), its own flattened `[a b]` form (one space between groups), or a single
/// bare group. A group name is never split on anything but the flattened form's spaces,
/// so `partners,customer-care` stays one group.
pub fn parse_groups(raw: &str) -> Vec<String> {
    let raw = raw.trim();
    if raw.starts_with('[') {
        if let Ok(list) = serde_json::from_str::<Vec<String>>(raw) {
            return list;
        }
        if let Some(inner) = raw.strip_prefix('[').and_then(|r| r.strip_suffix(']')) {
            return inner.split(' ').filter(|g| !g.is_empty()).map(str::to_string).collect();
        }
        return Vec::new();
    }
    if raw.is_empty() {
        Vec::new()
    } else {
        vec![raw.to_string()]
    }
}

/// Does the groups claim name `group`? Exactly: the claim is the group, `[group]`, or a JSON
/// array holding it. Otherwise also as one of the flattened form's space-separated groups.
pub fn has_group(raw: &str, group: &str, exact: bool) -> bool {
    if !exact {
        return parse_groups(raw).iter().any(|g| g == group);
    }
    let raw = raw.trim();
    if let Ok(list) = serde_json::from_str::<Vec<String>>(raw) {
        return list.iter().any(|g| g == group);
    }
    raw == group || raw.strip_prefix('[').and_then(|r| r.strip_suffix(']')) == Some(group)
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
    pub fn from_claims(claims: Option<&HashMap<String, String>>, request_id: String, config: &IdentityConfig) -> Result<Caller, ApiError> {
        let claims = claims.ok_or_else(|| ApiError::Unauthorized("a bearer token is required".into()))?;
        if claims.get("email_verified").is_some_and(|v| v.trim().eq_ignore_ascii_case("false")) {
            return Err(ApiError::Unauthorized("the token's e-mail address is not verified".into()));
        }
        let email = claims.get("email").ok_or_else(|| ApiError::Unauthorized("the token carries no email claim".into()))?;
        let email = Email::parse(email).map_err(|_| ApiError::Unauthorized("the token's email claim is not an e-mail address".into()))?;
        let care = claims.get(&config.groups_claim).is_some_and(|g| has_group(g, &config.care_group, config.exact_groups));
        let email_verified = claims.get("email_verified").is_some_and(|v| v.trim().eq_ignore_ascii_case("true"));
        Ok(Caller { email, care, request_id, email_verified })
    }
}

impl From<&Caller> for crate::access::Actor {
    fn from(c: &Caller) -> crate::access::Actor {
        crate::access::Actor { email: c.email.clone(), care: c.care }
    }
}

impl<S> FromRequestParts<S> for Caller
where
    S: Send + Sync,
    IdentityConfig: axum::extract::FromRef<S>,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let context = parts.extensions.get::<RequestContext>();
        let request_id = parts
            .extensions
            .get::<super::RequestId>()
            .map(|r| r.0.clone())
            .or_else(|| request_id_of(context))
            .unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
        let config = <IdentityConfig as axum::extract::FromRef<S>>::from_ref(state);
        let caller = Caller::from_claims(claims_of(context), request_id, &config)?;
        // The request's log line names who called (see `log_request`).
        if let Some(slot) = parts.extensions.get::<CallerSlot>() {
            slot.set(&caller);
        }
        Ok(caller)
    }
}

/// Where the extractor leaves the caller's identity for the request's log line.
#[derive(Debug, Clone, Default)]
pub struct CallerSlot(std::sync::Arc<std::sync::Mutex<Option<(String, bool)>>>);

impl CallerSlot {
    fn set(&self, caller: &Caller) {
        if let Ok(mut slot) = self.0.lock() {
            *slot = Some((caller.email.to_string(), caller.care));
        }
    }
    /// The caller's e-mail and Care flag, once a handler has identified them.
    pub fn get(&self) -> Option<(String, bool)> {
        self.0.lock().ok().and_then(|s| s.clone())
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
    fn a_group_name_is_never_split_on_commas() {
        assert_eq!(parse_groups("[partners,customer-care]"), ["partners,customer-care"]);
        assert_eq!(parse_groups(r#"["partners,customer-care"]"#), ["partners,customer-care"]);
        assert_eq!(parse_groups("partners,customer-care"), ["partners,customer-care"]);
        let config = IdentityConfig::default();
        for raw in [
            "[partners,customer-care]",
            "partners,customer-care",
            r#"["partners,customer-care"]"#,
            "[customer-care-x]",
            "\"customer-care\"",
        ] {
            let claims = HashMap::from([("email".to_string(), "a@b.example".to_string()), ("groups".to_string(), raw.to_string())]);
            assert!(!Caller::from_claims(Some(&claims), "r".into(), &config).unwrap().care, "{raw:?} must not grant Care");
        }
    }

    #[test]
    fn an_external_issuers_group_is_matched_whole_never_split_on_spaces() {
        let config = IdentityConfig::default();
        let claims = |raw: &str| HashMap::from([("email".to_string(), "a@b.example".to_string()), ("groups".to_string(), raw.to_string())]);
        // One group named "partners customer-care", flattened by API Gateway.
        for raw in ["[partners customer-care]", "partners customer-care", "[customer-care partners]"] {
            assert!(!Caller::from_claims(Some(&claims(raw)), "r".into(), &config).unwrap().care, "{raw:?} must not grant Care");
        }
        for raw in ["[customer-care]", "customer-care", r#"["partners","customer-care"]"#] {
            assert!(Caller::from_claims(Some(&claims(raw)), "r".into(), &config).unwrap().care, "{raw:?} is Care");
        }
    }

    #[test]
    fn the_care_group_and_its_claim_are_configuration() {
        let cognito = IdentityConfig { care_group: "support-agents".into(), groups_claim: "cognito:groups".into(), exact_groups: false };
        let claims = |claim: &str, raw: &str| {
            HashMap::from([("email".to_string(), "a@b.example".to_string()), (claim.to_string(), raw.to_string())])
        };
        assert!(Caller::from_claims(Some(&claims("cognito:groups", "[staff support-agents]")), "r".into(), &cognito).unwrap().care);
        assert!(!Caller::from_claims(Some(&claims("groups", "[support-agents]")), "r".into(), &cognito).unwrap().care);
        assert!(!Caller::from_claims(Some(&claims("cognito:groups", "[customer-care]")), "r".into(), &cognito).unwrap().care);
        let default = IdentityConfig::default();
        assert!(Caller::from_claims(Some(&claims("groups", "[customer-care]")), "r".into(), &default).unwrap().care);
        assert!(!Caller::from_claims(Some(&claims("groups", "[staff customer-care]")), "r".into(), &default).unwrap().care);
    }

    #[test]
    fn unverified_or_missing_email_is_refused() {
        let mut claims = HashMap::from([("email".to_string(), "A@B.example".to_string())]);
        assert_eq!(Caller::from_claims(Some(&claims), "r".into(), &IdentityConfig::default()).unwrap().email.as_str(), "a@b.example");
        assert!(
            !Caller::from_claims(Some(&claims), "r".into(), &IdentityConfig::default()).unwrap().email_verified,
            "absent is not verified"
        );
        claims.insert("email_verified".into(), " TRUE".into());
        assert!(Caller::from_claims(Some(&claims), "r".into(), &IdentityConfig::default()).unwrap().email_verified);
        claims.insert("email_verified".into(), "false".into());
        assert!(Caller::from_claims(Some(&claims), "r".into(), &IdentityConfig::default()).is_err());
        assert!(Caller::from_claims(Some(&HashMap::new()), "r".into(), &IdentityConfig::default()).is_err());
        assert!(Caller::from_claims(None, "r".into(), &IdentityConfig::default()).is_err());
    }
}
