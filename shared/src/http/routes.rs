//! One route table per function. From it come the function's `ROUTES` (which the template
//! wiring test compares with template.yaml), its axum routes, and its OpenAPI operations:
//! each handler's documented operation (its `#[utoipa::path]`), placed under the table's
//! method and path. A test checks the handler's own documentation names the same ones.

use utoipa::openapi::path::{HttpMethod, Operation};

/// One row of a route table, as the OpenAPI document needs it.
#[derive(Clone)]
pub struct RouteDoc {
    pub method: &'static str,
    pub path: &'static str,
    pub operation: Operation,
    /// The methods (upper-case) and path the handler's `#[utoipa::path]` names (must equal the table's).
    pub documented: (Vec<String>, String),
}

fn method_name(m: &HttpMethod) -> String {
    serde_json::to_value(m).ok().and_then(|v| v.as_str().map(str::to_uppercase)).unwrap_or_default()
}

impl RouteDoc {
    pub fn of<P: utoipa::Path>(method: &'static str, path: &'static str) -> RouteDoc {
        RouteDoc { method, path, operation: P::operation(), documented: (P::methods().iter().map(method_name).collect(), P::path()) }
    }

    pub fn http_method(&self) -> HttpMethod {
        match self.method {
            "GET" => HttpMethod::Get,
            "POST" => HttpMethod::Post,
            "PUT" => HttpMethod::Put,
            "DELETE" => HttpMethod::Delete,
            "PATCH" => HttpMethod::Patch,
            "HEAD" => HttpMethod::Head,
            _ => HttpMethod::Options,
        }
    }
}

/// `route_table! { state: ViewState; GET "/v1/me" => me (__path_me), ... }` defines
/// `ROUTES`, `routes()` and `route_docs()` from the one list. The routes run in any router
/// whose state yields the function's state (`FromRef`).
macro_rules! route_table {
    (state: $state:ty; $( $method:ident $path:literal => $handler:ident ($doc:ident) ),+ $(,)?) => {
        /// The routes this function serves, as (method, path): checked against template.yaml by a test.
        pub const ROUTES: &[(&str, &str)] = &[$( (stringify!($method), $path) ),+];

        /// This function's routes, from its route table.
        pub fn routes<S>() -> axum::Router<S>
        where
            S: Clone + Send + Sync + 'static,
            $state: axum::extract::FromRef<S>,
            $crate::http::identity::IdentityConfig: axum::extract::FromRef<S>,
        {
            axum::Router::new()$( .route($path, axum::routing::on(axum::routing::MethodFilter::$method, $handler)) )+
        }

        /// This function's OpenAPI operations, from its route table.
        pub fn route_docs() -> Vec<$crate::http::routes::RouteDoc> {
            vec![$( $crate::http::routes::RouteDoc::of::<$doc>(stringify!($method), $path) ),+]
        }
    };
}

pub(crate) use route_table;
