//! Structured JSON logs through `tracing`, one line per event.
//!
//! `RUST_LOG` chooses the level, but only ABEV's own code may log below `info`: every other
//! target (the Lambda runtime, `lambda_http`, the AWS SDK, hyper, rustls) is clamped to
//! `info` whatever `RUST_LOG` says. At `trace` those crates log what must never reach
//! CloudWatch: `lambda_runtime` the raw invocation event ("raw JSON event received from
//! Lambda": bearer tokens in API events, order bodies with licence keys in SQS events), the
//! SDK the signed requests (session token header) and DynamoDB answers (licence keys).
//!
//! Allowed `RUST_LOG` values: a level (`error`, `warn`, `info`, `debug`, `trace`, any case),
//! or a comma-separated list of `level` and `target=level` directives (e.g.
//! `info,abev::access=debug`); `debug` and `trace` reach only the `abev*` targets. Anything
//! else (span or field filters included) falls back to `info`. The filter is
//! `tracing_subscriber`'s `Targets`, not `EnvFilter`: no regex engine in the binaries.

use tracing::{Level, Metadata};
use tracing_subscriber::filter::{FilterFn, LevelFilter, Targets};
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::Layer;

/// Targets that may log below `info`: the shared crate and the binaries (`abev_view`, ...).
pub const OWN_TARGET_PREFIX: &str = "abev";

/// The most verbose level any target outside [`OWN_TARGET_PREFIX`] may log at.
pub const OTHER_TARGETS_MAX: Level = Level::INFO;

/// Whether an event or span may be logged at all, whatever `RUST_LOG` allows.
pub fn allowed(meta: &Metadata<'_>) -> bool {
    let target = meta.target();
    let own = target.strip_prefix(OWN_TARGET_PREFIX).is_some_and(|rest| rest.is_empty() || rest.starts_with("::") || rest.starts_with('_'));
    own || *meta.level() <= OTHER_TARGETS_MAX
}

/// The filter `RUST_LOG` (or `directives`) describes; `info` when unset, blank or unparsable.
pub fn level_filter(directives: Option<&str>) -> Targets {
    directives
        .map(|d| d.trim().to_lowercase())
        .filter(|d| !d.is_empty())
        .and_then(|d| d.parse::<Targets>().ok())
        .unwrap_or_else(|| Targets::new().with_default(LevelFilter::INFO))
}

/// The JSON subscriber writing to `writer`, with `filter` and the clamp above.
pub fn subscriber<W>(filter: Targets, writer: W) -> impl tracing::Subscriber + Send + Sync
where
    W: for<'w> MakeWriter<'w> + Send + Sync + 'static,
{
    let json = tracing_subscriber::fmt::layer()
        .json()
        .with_current_span(true)
        .with_target(false)
        .flatten_event(true)
        .without_time()
        .with_writer(writer)
        .with_filter(FilterFn::new(allowed))
        .with_filter(filter);
    tracing_subscriber::registry().with(json)
}

/// Installs the JSON subscriber on stdout (level from `RUST_LOG`, default `info`, clamped
/// as above). Safe to call twice.
pub fn init() {
    let directives = std::env::var("RUST_LOG").ok();
    let _ = tracing::subscriber::set_global_default(subscriber(level_filter(directives.as_deref()), std::io::stdout));
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc, Mutex};

    #[derive(Clone, Default)]
    struct Captured(Arc<Mutex<Vec<u8>>>);

    impl std::io::Write for Captured {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    impl<'w> MakeWriter<'w> for Captured {
        type Writer = Captured;
        fn make_writer(&'w self) -> Captured {
            self.clone()
        }
    }

    fn logged(rust_log: &str, emit: impl FnOnce()) -> String {
        let out = Captured::default();
        tracing::subscriber::with_default(subscriber(level_filter(Some(rust_log)), out.clone()), emit);
        let bytes = out.0.lock().unwrap().clone();
        String::from_utf8(bytes).unwrap()
    }

    fn runtime_logs_raw_event() {
        // What lambda_runtime::layers::api_response does at trace level.
        tracing::trace!(target: "lambda_runtime::layers::api_response", body = "Bearer eyJsecret", "raw JSON event received from Lambda");
        tracing::debug!(target: "lambda_http", "request with Authorization: Bearer eyJsecret");
        tracing::trace!(target: "aws_smithy_runtime::client::orchestrator", "x-amz-security-token: secret");
        tracing::info!(target: "lambda_runtime", "runtime started");
    }

    #[test]
    fn no_rust_log_lets_the_runtime_log_raw_events() {
        // (RUST_LOG, whether it enables lambda_runtime's own info lines)
        for (rust_log, runtime_info) in [
            ("trace", true),
            ("TRACE", true),
            ("debug", true),
            ("lambda_runtime=trace", true),
            ("lambda_runtime::layers::api_response=trace", false),
            ("info,lambda_runtime::layers::api_response=trace", true),
            ("lambda_http=trace,aws_smithy_runtime=trace", false),
            ("info,lambda_runtime=trace", true),
        ] {
            let out = logged(rust_log, runtime_logs_raw_event);
            assert!(!out.contains("eyJsecret") && !out.contains("security-token"), "RUST_LOG={rust_log} leaked: {out}");
            assert_eq!(out.contains("runtime started"), runtime_info, "RUST_LOG={rust_log}: the runtime's info lines: {out}");
        }
    }

    #[test]
    fn own_code_logs_at_the_level_rust_log_asks() {
        let emit = || {
            tracing::debug!(target: "abev::access", "own debug line");
            tracing::trace!(target: "abev_view", "own trace line");
            tracing::info!(target: "abev::ingest", "own info line");
            tracing::debug!(target: "abevil", "not ours");
        };
        let out = logged("trace", emit);
        assert!(out.contains("own debug line") && out.contains("own trace line") && out.contains("own info line"), "{out}");
        assert!(!out.contains("not ours"), "only abev and abev_* are own targets");
        let out = logged("info", emit);
        assert!(out.contains("own info line") && !out.contains("own debug line"), "{out}");
        let out = logged("warn", emit);
        assert!(out.is_empty(), "{out}");
        // Unparsable or blank: the default, info.
        for rust_log in ["=%=", "", "  ", "abev[span{f=1}]=trace"] {
            let out = logged(rust_log, emit);
            assert!(out.contains("own info line") && !out.contains("own debug line"), "RUST_LOG={rust_log:?}: {out}");
        }
        // Per-target levels.
        let out = logged("warn,abev::access=debug", emit);
        assert!(out.contains("own debug line") && !out.contains("own info line"), "{out}");
    }

    #[test]
    fn lines_are_flat_json() {
        let out = logged("info", || tracing::info!(target: "abev::x", request_id = "r1", status = 200u16, "request"));
        let line: serde_json::Value = serde_json::from_str(out.lines().next().unwrap()).unwrap();
        assert_eq!(line["message"], "request");
        assert_eq!(line["request_id"], "r1");
        assert_eq!(line["status"], 200);
        assert_eq!(line["level"], "INFO");
    }
}
