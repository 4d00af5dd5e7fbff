//! The local host: everything `make dev` runs beside the functions, and what the
//! integration tests start. Not deployed.

pub mod bench;
pub mod cli;
pub mod event_source;
pub mod events;
pub mod infra;
pub mod jwt;
pub mod local_auth;
/// Expiry notices locally: the timer and `abev-local mail` (issue 20 part 2).
pub mod mail;
pub mod messages;
pub mod oidc;
pub mod seed;
pub mod server;
pub mod sweep;
pub mod web;

pub use cli::Cli;
