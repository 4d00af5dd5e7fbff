//! Domain rules (issue 21 part 2): `GET/POST /v1/sites/{s}/domain-rules`,
//! `DELETE /v1/sites/{s}/domain-rules/{domain}`. The rules live in `crate::access::domains`;
//! this module parses and renders. Its routes sit in the access function's route table.

use super::dto::Problem;
use super::identity::Caller;
use super::problem::{from_rejection, ApiError};
use super::AppState;
use crate::access::domain_rules::RuleAdded;
use crate::access::{self, domains, Actor};
use crate::domain::{Role, SupportId};
use crate::store::access_rules::DomainRule;
use axum::extract::rejection::JsonRejection;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// `POST /v1/sites/{s}/domain-rules`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateDomainRule {
    /// The mail domain (a leading `@` is allowed; case-insensitive). Never a public mail provider's.
    #[schema(example = "acme.example")]
    pub domain: String,
    /// The role a matching request is approved as: only `user` (the default).
    #[serde(default)]
    #[schema(value_type = Option<String>, example = "user")]
    pub role: Option<Role>,
}

/// A domain rule: join requests from verified e-mail addresses at exactly `domain` (no
/// subdomains) are approved at once as `role`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct DomainRuleView {
    pub support_id: SupportId,
    #[schema(example = "acme.example")]
    pub domain: String,
    #[schema(value_type = String, example = "user")]
    pub role: Role,
    /// Who added it.
    pub added_by: String,
    pub added_at: String,
}

impl From<DomainRule> for DomainRuleView {
    fn from(r: DomainRule) -> DomainRuleView {
        DomainRuleView { support_id: r.support_id, domain: r.domain, role: r.role, added_by: r.added_by, added_at: r.added_at.to_string() }
    }
}

/// `GET /v1/sites/{s}/domain-rules`: every rule of the site (at most 20), by domain.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct DomainRulesList {
    pub rules: Vec<DomainRuleView>,
}

fn site_param(raw: &str) -> Result<SupportId, ApiError> {
    SupportId::parse(raw).map_err(|_| ApiError::NotFound(format!("no account site {raw}")))
}

/// A site's domain rules (site administrators and Customer Care).
#[utoipa::path(get, path = "/v1/sites/{support_id}/domain-rules", tag = "domain-rules", operation_id = "list_domain_rules",
    params(("support_id" = String, Path, description = "The site's Support ID (case-insensitive)", example = "ACME-1")),
    responses(
        (status = 200, description = "The site's rules, by domain", body = DomainRulesList),
        (status = 404, description = "No such site that the caller administers (unknown and not administered answer alike)", body = Problem, content_type = "application/problem+json"),
    ))]
pub(crate) async fn list_domain_rules(
    State(state): State<AppState>,
    caller: Caller,
    Path(raw_site): Path<String>,
) -> Result<Json<DomainRulesList>, ApiError> {
    let site = site_param(&raw_site)?;
    let rules = domains::list_rules(&state.workflow(), &Actor::from(&caller), &site).await?;
    Ok(Json(DomainRulesList { rules: rules.into_iter().map(Into::into).collect() }))
}

/// Adds a domain rule (site administrators and Customer Care): join requests from verified
/// e-mail addresses at exactly that domain are approved at once as `user`, recorded in the
/// site's history as `approved_by_rule` (actor `rule:{domain}`).
///
/// A public mail provider's domain (the operator's list, `ABEV_PUBLIC_MAIL_DOMAINS`) or one
/// of its subdomains is refused (400), as is any role but `user`.
#[utoipa::path(post, path = "/v1/sites/{support_id}/domain-rules", tag = "domain-rules", operation_id = "add_domain_rule",
    params(("support_id" = String, Path, description = "The site's Support ID (case-insensitive)", example = "ACME-1")),
    request_body(content = CreateDomainRule, content_type = "application/json"),
    responses(
        (status = 201, description = "The rule, added", body = DomainRuleView),
        (status = 200, description = "The site already has a rule for that domain", body = DomainRuleView),
        (status = 400, description = "A malformed body, not a domain, a public mail provider's domain, or a role other than `user`", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such site that the caller administers", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The site has as many rules as allowed (20)", body = Problem, content_type = "application/problem+json"),
    ))]
pub(crate) async fn add_domain_rule(
    State(state): State<AppState>,
    caller: Caller,
    Path(raw_site): Path<String>,
    body: Result<Json<CreateDomainRule>, JsonRejection>,
) -> Result<Response, ApiError> {
    let Json(body) = body.map_err(from_rejection)?;
    let site = site_param(&raw_site)?;
    let role = body.role.unwrap_or(Role::User);
    Ok(match domains::add_rule(&state.workflow(), &Actor::from(&caller), &site, &body.domain, role, access::now()).await? {
        RuleAdded::New(r) => (StatusCode::CREATED, Json(DomainRuleView::from(r))).into_response(),
        RuleAdded::Existing(r) => (StatusCode::OK, Json(DomainRuleView::from(r))).into_response(),
    })
}

/// Removes a domain rule (site administrators and Customer Care). Requests it approved stay approved.
#[utoipa::path(delete, path = "/v1/sites/{support_id}/domain-rules/{domain}", tag = "domain-rules", operation_id = "remove_domain_rule",
    params(
        ("support_id" = String, Path, description = "The site's Support ID (case-insensitive)", example = "ACME-1"),
        ("domain" = String, Path, description = "The rule's domain (case-insensitive)", example = "acme.example"),
    ),
    responses(
        (status = 200, description = "The removed rule", body = DomainRuleView),
        (status = 404, description = "No such site that the caller administers, or no rule for that domain", body = Problem, content_type = "application/problem+json"),
    ))]
pub(crate) async fn remove_domain_rule(
    State(state): State<AppState>,
    caller: Caller,
    Path((raw_site, domain)): Path<(String, String)>,
) -> Result<Json<DomainRuleView>, ApiError> {
    let site = site_param(&raw_site)?;
    let removed = domains::remove_rule(&state.workflow(), &Actor::from(&caller), &site, &domain, access::now()).await?;
    Ok(Json(removed.into()))
}
