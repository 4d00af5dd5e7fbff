//! `make load`'s parts that need no load generator: the report's arithmetic and the page
//! walks against the world's reference (tested by `make test`; the goose binary is built by
//! `make load` only, with `--features goose`).

pub mod report;
pub mod walks;
