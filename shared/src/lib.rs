//! ABEV — Account Based Entitlement View. The library every Lambda and tool uses.
//! Start at `docs/ARCHITECTURE.md` for the map.

pub mod access;
pub mod app;
pub mod aws;
pub mod config;
pub mod domain;
pub mod http;
pub mod ingest;
pub mod settings;
pub mod store;
pub mod telemetry;
// Issue 20: change events from the table's stream.
pub mod events;
