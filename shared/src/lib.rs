//! ABEV — Account Based Entitlement View. The library every Lambda and tool uses.
//! Start at `docs/ARCHITECTURE.md` for the map.

//! Feature `service` (on by default): everything that runs in the functions — storage,
//! ingestion, the HTTP routers, the access workflow. Without it the crate is the domain and
//! the API's wire types only (`http::dto`), which is what the Care CLI and the typed client
//! link: they install without axum, the DynamoDB SDK or the Lambda runtime.

pub mod domain;

#[cfg(feature = "service")]
pub mod access;
#[cfg(feature = "service")]
pub mod app;
#[cfg(feature = "service")]
pub mod aws;
#[cfg(feature = "service")]
pub mod config;
/// Change events from the table's stream (issue 20).
#[cfg(feature = "service")]
pub mod events;
#[cfg(feature = "service")]
pub mod http;
#[cfg(feature = "service")]
pub mod ingest;
/// Expiry notices by e-mail (issue 20 part 2).
#[cfg(feature = "service")]
pub mod notices;
#[cfg(feature = "service")]
pub mod settings;
#[cfg(feature = "service")]
pub mod store;
#[cfg(feature = "service")]
pub mod telemetry;

/// Without the service: the API's wire types and the Care group's default name.
#[cfg(not(feature = "service"))]
pub mod http {
    #[path = "dto.rs"]
    pub mod dto;
    #[path = "schema.rs"]
    mod schema;
    pub mod identity {
        pub use crate::domain::access::CARE_GROUP;
    }
}
