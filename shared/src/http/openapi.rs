//! The OpenAPI 3.1 document of the whole HTTP API, generated from the code: the route
//! tables of both functions (each handler's documented operation), the wire types of
//! `dto`, the problem details every route may answer, and the JWT bearer scheme. Served
//! unauthenticated at `GET /v1/openapi.json`; `docs/openapi.json` is this document, checked
//! by a test.

use super::dto::*;
use super::routes::RouteDoc;
use crate::access::{EscalationReason, RequestKind, RequestStatus};
use crate::domain::{Access, Day, Email, Role, Serial, SupportId};
use crate::store::view::EntitlementStatus;
use axum::http::header;
use axum::response::IntoResponse;
use std::sync::OnceLock;
use utoipa::openapi::path::{HttpMethod, OperationBuilder};
use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityRequirement, SecurityScheme};
use utoipa::openapi::{ContentBuilder, ObjectBuilder, OpenApi, Paths, Ref, ResponseBuilder};
use utoipa::OpenApi as _;

/// Where the document is served (no token needed).
pub const OPENAPI_PATH: &str = "/v1/openapi.json";
/// The name of the bearer security scheme.
pub const BEARER: &str = "bearer";
pub const PROBLEM_JSON: &str = "application/problem+json";

#[derive(utoipa::OpenApi)]
#[openapi(
    info(
        title = "ABEV — Account Based Entitlement View",
        description = "The view (which entitlements a contact may see, and why) and site management (access requests, \
approvals, Customer Care escalation). Read docs/API.md for the rules behind the answers.\n\n\
Every route but this document needs a bearer JWT (verified by API Gateway's JWT authorizer; locally an HS256 token from \
`abev-local token EMAIL`). Its claims `email` (required) and the groups claim (`groups`, or `cognito:groups` with the \
stack's Cognito pool; the Care group, `customer-care` by default, marks Customer Care staff) are the caller's only identity; \
a token whose `email_verified` is false is refused (401).\n\n\
Errors are RFC 9457 problem details (`application/problem+json`). Lists take `limit` (1-500, default 100) and an opaque \
`cursor`, and answer `next_cursor` (null at the end); a page may be short, even empty, while `next_cursor` is not null."
    ),
    components(schemas(
        Problem, SiteRef, Me, MeSite, ViewSummary, ViewPage, ViewSite, EntitlementSummary, SiteEntitlementsPage, EntitlementDetail,
        SitesPage, MySite, MembersPage, MembersSite, Member, HistoryPage, HistoryItem, CreateAccessRequest, ApproveAccessRequest,
        RejectAccessRequest, AccessRequestView, RequestsPage, Email, SupportId, Serial, Day, Role, Access, EntitlementStatus,
        RequestKind, RequestStatus, EscalationReason, MeRollout, RolloutPage, EnabledSiteView, SetRollout, RolloutChangeView, DownloadLink,
        super::claims::CreateClaim, super::claims::ClaimView, super::claims::ClaimsPage, super::claims::ClaimWindow,
        super::memberships::MembershipEnd,
        super::domain_rules::CreateDomainRule, super::domain_rules::DomainRuleView, super::domain_rules::DomainRulesList,
        super::invitations::CreateInvitation, super::invitations::InvitationView, super::invitations::InvitationsPage,
        super::reviews::ReviewScheduleView, super::reviews::ReviewMember, super::reviews::ReviewView, super::reviews::ReviewDecision,
        super::reviews::ReviewOutcome
    )),
    tags(
        (name = "view", description = "What the caller may see (spec §4)"),
        (name = "sites", description = "Memberships, members and site history (spec §5)"),
        (name = "access-requests", description = "Join and role-change requests, approvals, Care escalation (spec §5)"),
        (name = "rollout", description = "Rollout waves: which account sites the view is enabled for (Customer Care)"),
        (name = "claims", description = "Claims by proof of purchase: serial + order number make the caller a member at once (issue 21)"),
        (name = "domain-rules", description = "Domain rules: verified e-mail at a site's own domain is approved at once (issue 21)"),
        (name = "invitations", description = "Invitations: an address invited with a role becomes a member on its next signed-in call (issue 21)"),
        (name = "reviews", description = "Access reviews: a site's admins confirm or remove each member every N days (issue 21)"),
        (name = "notices", description = "Expiry notices by e-mail: the caller's setting and the unsubscribe link (issue 20)"),
        (name = "meta", description = "This document"),
    )
)]
struct ApiDoc;

fn problem_response(description: &str) -> utoipa::openapi::Response {
    ResponseBuilder::new()
        .description(description)
        .content(PROBLEM_JSON, ContentBuilder::new().schema(Some(Ref::from_schema_name("Problem"))).build())
        .build()
}

/// The answers every authenticated route may give besides its own.
fn with_common_answers(mut operation: utoipa::openapi::path::Operation) -> utoipa::openapi::path::Operation {
    let common = [
        ("401", "No bearer token, or its claims are unusable (no `email`, or `email_verified` false)"),
        ("500", "An unexpected failure (details are logged, not answered)"),
        ("503", "Storage is throttled or timed out; retry later"),
    ];
    for (status, description) in common {
        operation.responses.responses.entry(status.to_string()).or_insert_with(|| problem_response(description).into());
    }
    // Every authenticated route takes a token from the caller's bucket (http::ratelimit).
    let mut limited = problem_response(
        "Too many requests from this caller (a token bucket per token subject), or a route's own limit; `Retry-After` says when to try again",
    );
    let header = |description: &str, schema: utoipa::openapi::schema::Type| {
        utoipa::openapi::header::HeaderBuilder::new()
            .schema(ObjectBuilder::new().schema_type(schema))
            .description(Some(description))
            .build()
    };
    limited.headers.insert("Retry-After".into(), header("Seconds until a request may succeed", utoipa::openapi::schema::Type::Integer));
    limited.headers.insert(
        "RateLimit".into(),
        header("What is left: `\"caller\";r=<remaining>;t=<seconds until full>`", utoipa::openapi::schema::Type::String),
    );
    limited.headers.insert(
        "RateLimit-Policy".into(),
        header("The caller's quota: `\"caller\";q=<burst>;w=<seconds>`", utoipa::openapi::schema::Type::String),
    );
    operation.responses.responses.entry("429".to_string()).or_insert_with(|| limited.into());
    operation.security = Some(vec![SecurityRequirement::new(BEARER, Vec::<String>::new())]);
    operation
}

/// Every route of both functions, from their route tables.
pub fn route_docs() -> Vec<RouteDoc> {
    super::view::route_docs().into_iter().chain(super::access::route_docs()).collect()
}

/// The whole document.
pub fn document() -> OpenApi {
    let mut doc = ApiDoc::openapi();
    doc.info.version = env!("CARGO_PKG_VERSION").to_string();
    let mut paths = Paths::new();
    for route in route_docs() {
        let method = route.http_method();
        let mut operation = with_common_answers(route.operation);
        // Issue 20 part 2: a public route (the unsubscribe link) needs no token.
        if super::view::PUBLIC_ROUTES.contains(&(route.method, route.path)) {
            operation.security = Some(vec![SecurityRequirement::default()]);
            for status in ["401", "429"] {
                operation.responses.responses.remove(status);
            }
        }
        paths.add_path_operation(route.path, vec![method], operation);
    }
    let own = OperationBuilder::new()
        .operation_id(Some("get_openapi"))
        .tag("meta")
        .summary(Some("This OpenAPI document"))
        .description(Some("Needs no token."))
        .security(SecurityRequirement::default())
        .response(
            "200",
            ResponseBuilder::new()
                .description("The OpenAPI 3.1 document of this API")
                .content("application/json", ContentBuilder::new().schema(Some(ObjectBuilder::new())).build())
                .build(),
        )
        .build();
    paths.add_path_operation(OPENAPI_PATH, vec![HttpMethod::Get], own);
    doc.paths = paths;
    doc.servers = Some(vec![
        utoipa::openapi::ServerBuilder::new()
            .url("https://{api_id}.execute-api.{region}.amazonaws.com")
            .description(Some("A deployed stack (template.yaml output ApiUrl)"))
            .parameter(
                "api_id",
                utoipa::openapi::server::ServerVariableBuilder::new().default_value("abcdef1234").description(Some("The HTTP API's id")),
            )
            .parameter(
                "region",
                utoipa::openapi::server::ServerVariableBuilder::new().default_value("us-east-1").description(Some("The stack's region")),
            )
            .build(),
        utoipa::openapi::ServerBuilder::new().url("http://127.0.0.1:3000").description(Some("make dev")).build(),
    ]);
    if let Some(components) = doc.components.as_mut() {
        // The renewal radar's wire types (issue 20).
        super::renewals::add_schemas(components);
        // Expiry notices' wire types (issue 20 part 2).
        super::notices::add_schemas(components);
        components.add_security_scheme(
            BEARER,
            SecurityScheme::Http(
                Http::builder()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("JWT")
                    .description(Some(
                        "A JWT with the claims `email` (required), `email_verified` (refused when false) and `groups` \
                         (`customer-care` for Customer Care staff). In AWS, API Gateway's JWT authorizer checks issuer and \
                         audience; locally, HS256 tokens from `abev-local token EMAIL [--care]` (issuer `abev-local`, audience `abev`).",
                    ))
                    .build(),
            ),
        );
    }
    doc
}

/// The document as served and as written to `docs/openapi.json` (pretty, with a final newline).
pub fn document_json() -> &'static str {
    static JSON: OnceLock<String> = OnceLock::new();
    JSON.get_or_init(|| {
        let mut json = document().to_pretty_json().unwrap_or_else(|e| format!("{{\"error\": \"{e}\"}}"));
        json.push('\n');
        json
    })
}

async fn serve_document() -> axum::response::Response {
    ([(header::CONTENT_TYPE, "application/json")], document_json()).into_response()
}

/// `GET /v1/openapi.json`, served by the view function, unauthenticated.
pub fn routes<S: Clone + Send + Sync + 'static>() -> axum::Router<S> {
    axum::Router::new().route(OPENAPI_PATH, axum::routing::get(serve_document))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Value;

    fn refs(v: &Value, out: &mut Vec<String>) {
        match v {
            Value::Object(m) => {
                if let Some(Value::String(r)) = m.get("$ref") {
                    out.push(r.clone());
                }
                m.values().for_each(|v| refs(v, out));
            }
            Value::Array(a) => a.iter().for_each(|v| refs(v, out)),
            _ => {}
        }
    }

    #[test]
    fn every_reference_resolves() {
        let doc: Value = serde_json::from_str(document_json()).unwrap();
        let mut found = Vec::new();
        refs(&doc, &mut found);
        assert!(!found.is_empty());
        for r in found {
            let name = r.strip_prefix("#/components/schemas/").unwrap_or_else(|| panic!("unexpected reference {r}"));
            assert!(doc["components"]["schemas"].get(name).is_some(), "{r} is not in components.schemas");
        }
    }

    #[test]
    fn the_route_tables_and_the_handlers_documentation_agree() {
        for route in route_docs() {
            assert_eq!(route.documented.1, route.path, "the handler of {} {} documents another path", route.method, route.path);
            assert_eq!(
                route.documented.0,
                vec![route.method.to_string()],
                "the handler of {} {} documents another method",
                route.method,
                route.path
            );
        }
    }

    #[test]
    fn every_route_is_documented_with_its_answers() {
        let doc: Value = serde_json::from_str(document_json()).unwrap();
        assert_eq!(doc["openapi"], "3.1.0");
        for route in route_docs() {
            let op = &doc["paths"][route.path][route.method.to_lowercase()];
            assert!(op.is_object(), "{} {} is missing", route.method, route.path);
            if super::super::view::PUBLIC_ROUTES.contains(&(route.method, route.path)) {
                continue;
            }
            assert_eq!(op["security"], serde_json::json!([{BEARER: []}]), "{} {} needs the bearer token", route.method, route.path);
            let answers = op["responses"].as_object().unwrap();
            for status in ["401", "500", "503"] {
                assert_eq!(answers[status]["content"][PROBLEM_JSON]["schema"]["$ref"], "#/components/schemas/Problem");
            }
            assert!(answers.keys().any(|s| s.starts_with('2') || s == "302"), "{} {} has no success answer", route.method, route.path);
            for (status, answer) in answers.iter().filter(|(s, _)| s.starts_with('4') || s.starts_with('5')) {
                assert!(answer["content"].get(PROBLEM_JSON).is_some(), "{} {} {status} is not a problem", route.method, route.path);
            }
        }
        for (method, path) in super::super::view::PUBLIC_ROUTES {
            assert_eq!(doc["paths"][path][method.to_lowercase()]["security"], serde_json::json!([{}]), "{method} {path} needs no token");
        }
        let limit =
            doc["paths"]["/v1/view"]["get"]["parameters"].as_array().unwrap().iter().find(|p| p["name"] == "limit").unwrap().clone();
        assert_eq!((limit["schema"]["minimum"].as_u64(), limit["schema"]["maximum"].as_u64()), (Some(1), Some(500)));
        assert_eq!(doc["components"]["securitySchemes"][BEARER]["bearerFormat"], "JWT");
        assert_eq!(doc["components"]["schemas"]["CreateAccessRequest"]["additionalProperties"], false);
    }
}
