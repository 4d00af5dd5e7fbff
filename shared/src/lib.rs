//! ABEV — Account Based Entitlement View. The library every Lambda and tool uses.
//! Start at `docs/ARCHITECTURE.md` for the map.

pub mod access;
pub mod aws;
pub mod config;
pub mod domain;
pub mod http;
pub mod ingest;
pub mod store;
pub mod telemetry;
