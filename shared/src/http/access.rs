//! Access routes (issue 4).

use super::AppState;
use axum::Router;

pub const ROUTES: &[(&str, &str)] = &[];

pub fn routes() -> Router<AppState> {
    Router::new()
}

pub fn router(state: AppState) -> Router {
    super::service(routes(), state)
}
