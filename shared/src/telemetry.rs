//! Logging set-up for Lambda: JSON or text on stdout, no timestamps, no colours.
//!
//! A JSON line carries the event's fields flattened and `spans`, every span it is in,
//! outermost first, each with its name and fields:
//! ```json
//! {"level":"INFO","fields":...,"message":"record processed","event_type":"OrderPlaced",
//!  "outcome":"ok","target":"shared::consumer","spans":[
//!   {"requestId":"<lambda request id>","xrayTraceId":"Root=1-...","name":"Lambda runtime invoke"},
//!   {"message_id":"<id>","correlation_id":"<request id>","trace_id":"1-...","name":"record"}]}
//! ```
//! So every line says which invocation (`requestId`, `xrayTraceId`: the runtime's span), which
//! request or record (`http_request{correlation_id, route}`, `record{message_id,
//! correlation_id, trace_id}`) and which trace it belongs to.

use tracing_subscriber::EnvFilter;
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::util::SubscriberInitExt;

/// Installs the global `tracing` subscriber. Call once, first thing in `main`.
///
/// - Format: JSON (one object per line, fields flattened) when `AWS_LAMBDA_LOG_FORMAT` is
///   `JSON` (any case), otherwise plain text.
/// - Level: `AWS_LAMBDA_LOG_LEVEL` (Lambda's `TRACE`..`FATAL`, any case), else `RUST_LOG`
///   (full `EnvFilter` syntax), else `info` (see [`level_directive`]). An unparsable value
///   falls back to `info`.
/// - No timestamps (CloudWatch adds them) and no ANSI colours. In JSON, the fields of every
///   enclosing span (e.g. `order_id` from `#[instrument]`, `requestId` from the runtime) appear
///   under `spans`, outermost first (see the module docs); there is no separate `span` for the
///   innermost one, which would only repeat the last element.
///
/// A second call does nothing.
pub fn init() {
    let level = std::env::var("AWS_LAMBDA_LOG_LEVEL").ok();
    let rust_log = std::env::var("RUST_LOG").ok();
    let directive = level_directive(level.as_deref(), rust_log.as_deref());
    let filter = EnvFilter::try_new(&directive).unwrap_or_else(|_| EnvFilter::new("info"));
    let json = std::env::var("AWS_LAMBDA_LOG_FORMAT")
        .is_ok_and(|format| format.trim().eq_ignore_ascii_case("json"));

    // Ignore the errors: they only say a subscriber is already installed.
    if json {
        let _ = json_subscriber(filter, std::io::stdout).try_init();
    } else {
        let _ = tracing_subscriber::fmt()
            .with_env_filter(filter)
            .with_ansi(false)
            .without_time()
            .try_init();
    }
}

/// The JSON subscriber [`init`] installs, writing to `writer` (stdout in Lambda).
pub(crate) fn json_subscriber<W>(
    filter: EnvFilter,
    writer: W,
) -> impl tracing::Subscriber + Send + Sync + 'static
where
    W: for<'w> MakeWriter<'w> + Send + Sync + 'static,
{
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(false)
        .without_time()
        .json()
        .flatten_event(true)
        .with_current_span(false)
        .with_span_list(true)
        .with_writer(writer)
        .finish()
}

/// Test support: what the JSON subscriber writes, captured.
#[cfg(test)]
pub(crate) mod capture {
    use std::sync::{Arc, Mutex, PoisonError};

    use serde_json::Value;

    /// A buffer the JSON subscriber writes into; clones share it.
    #[derive(Debug, Clone, Default)]
    pub(crate) struct Captured(Arc<Mutex<Vec<u8>>>);

    impl std::io::Write for Captured {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .extend_from_slice(buf);
            Ok(buf.len())
        }

        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    impl Captured {
        /// A JSON subscriber at `info` writing here, for `tracing::subscriber::set_default`.
        pub(crate) fn subscriber(&self) -> impl tracing::Subscriber + Send + Sync + 'static {
            let me = self.clone();
            super::json_subscriber(tracing_subscriber::EnvFilter::new("info"), move || {
                me.clone()
            })
        }

        /// Every line written so far, parsed.
        pub(crate) fn lines(&self) -> Vec<Value> {
            let bytes = self
                .0
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .clone();
            String::from_utf8_lossy(&bytes)
                .lines()
                .map(|line| serde_json::from_str(line).unwrap_or(Value::String(line.to_owned())))
                .collect()
        }
    }
}

/// The `EnvFilter` directive from the two variables that set the level:
/// `aws_lambda_log_level` (`AWS_LAMBDA_LOG_LEVEL`, which Lambda sets from the function's
/// `LoggingConfig.ApplicationLogLevel`: `TRACE`..`FATAL`, any case) wins over `rust_log`
/// (`RUST_LOG`, full `EnvFilter` syntax), else `info`. Blank values count as unset.
///
/// In AWS the first is always set once `LogFormat` is `JSON` (`INFO` by default), so a level
/// meant for the deployed functions goes in `ApplicationLogLevel`, not in `RUST_LOG`.
pub fn level_directive(aws_lambda_log_level: Option<&str>, rust_log: Option<&str>) -> String {
    match (set(aws_lambda_log_level), set(rust_log)) {
        (Some(level), _) => lambda_level_to_directive(level),
        (None, Some(directive)) => directive.to_owned(),
        (None, None) => "info".to_owned(),
    }
}

/// `v` trimmed, or `None` when absent or blank.
fn set(v: Option<&str>) -> Option<&str> {
    v.map(str::trim).filter(|v| !v.is_empty())
}

/// Lambda's log levels are uppercase and include `FATAL`, which `tracing` calls `error`.
fn lambda_level_to_directive(level: &str) -> String {
    match level.trim().to_ascii_lowercase().as_str() {
        "fatal" => "error".to_owned(),
        other => other.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lambda_levels_become_tracing_directives() {
        assert_eq!(lambda_level_to_directive("DEBUG"), "debug");
        assert_eq!(lambda_level_to_directive("FATAL"), "error");
        assert!(EnvFilter::try_new(lambda_level_to_directive("WARN")).is_ok());
    }

    #[test]
    fn the_lambda_log_level_wins_over_rust_log() {
        assert_eq!(level_directive(Some("DEBUG"), Some("warn")), "debug");
    }

    #[test]
    fn rust_log_alone_is_used_as_written() {
        assert_eq!(
            level_directive(None, Some("shared=debug,info")),
            "shared=debug,info"
        );
        assert_eq!(
            level_directive(Some("  "), Some("trace")),
            "trace",
            "blank is unset"
        );
    }

    #[test]
    fn neither_variable_means_info() {
        assert_eq!(level_directive(None, None), "info");
        assert_eq!(level_directive(Some(""), Some("")), "info");
    }

    #[test]
    fn a_json_line_carries_the_fields_of_every_enclosing_span_outermost_first() {
        let captured = capture::Captured::default();
        let subscriber = captured.subscriber();

        tracing::subscriber::with_default(subscriber, || {
            let invoke = tracing::info_span!("Lambda runtime invoke", requestId = "r-1");
            let _invoke = invoke.enter();
            let record = tracing::info_span!("record", message_id = "m-1", trace_id = "1-abc");
            let _record = record.enter();
            tracing::info!(outcome = "ok", "record processed");
        });

        let lines = captured.lines();
        assert_eq!(lines.len(), 1, "{lines:?}");
        let line = &lines[0];
        assert_eq!(line["message"], "record processed");
        assert_eq!(line["outcome"], "ok", "event fields flattened: {line}");
        assert_eq!(
            line["spans"],
            serde_json::json!([
                {"name": "Lambda runtime invoke", "requestId": "r-1"},
                {"name": "record", "message_id": "m-1", "trace_id": "1-abc"}
            ])
        );
        assert!(
            line.get("span").is_none(),
            "no repeated innermost span: {line}"
        );
    }

    #[test]
    fn fatal_becomes_error() {
        assert_eq!(level_directive(Some("FATAL"), None), "error");
        assert_eq!(level_directive(Some("fatal"), Some("trace")), "error");
    }
}
