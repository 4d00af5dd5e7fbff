//! A deterministic simulation of the storage protocol (issue 17): the real ingestion and
//! read code run unchanged over a simulated DynamoDB and SQS behind the SDK's HTTP layer,
//! with what AWS has and DynamoDB Local lacks (lagging indexes, stale eventually consistent
//! reads, partial batches, throttling, 500s, conflicts, lost answers, killed invocations,
//! duplicate deliveries), all drawn from one seed. See `docs/SIMULATION.md`.

pub mod expr;
pub mod harness;
pub mod net;
pub mod rng;
pub mod table;
pub mod value;

pub use harness::{run_seed, Failure, Report};
