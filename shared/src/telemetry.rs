//! Logging set-up for Lambda: JSON or text on stdout, no timestamps, no colours.

use tracing_subscriber::EnvFilter;

/// Installs the global `tracing` subscriber. Call once, first thing in `main`.
///
/// - Format: JSON (one object per line, fields flattened) when `AWS_LAMBDA_LOG_FORMAT` is
///   `JSON` (any case), otherwise plain text.
/// - Level: `AWS_LAMBDA_LOG_LEVEL` (Lambda's `TRACE`..`FATAL`, any case), else `RUST_LOG`
///   (full `EnvFilter` syntax), else `info` (see [`level_directive`]). An unparsable value
///   falls back to `info`.
/// - No timestamps (CloudWatch adds them) and no ANSI colours. In JSON, the innermost span's
///   fields (e.g. `order_id` from `#[instrument]`) appear under `span`.
///
/// A second call does nothing.
pub fn init() {
    let level = std::env::var("AWS_LAMBDA_LOG_LEVEL").ok();
    let rust_log = std::env::var("RUST_LOG").ok();
    let directive = level_directive(level.as_deref(), rust_log.as_deref());
    let filter = EnvFilter::try_new(&directive).unwrap_or_else(|_| EnvFilter::new("info"));
    let json = std::env::var("AWS_LAMBDA_LOG_FORMAT")
        .is_ok_and(|format| format.trim().eq_ignore_ascii_case("json"));

    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(false)
        .without_time();
    // Ignore the error: it only says a subscriber is already installed.
    let _ = if json {
        builder
            .json()
            .flatten_event(true)
            .with_current_span(true)
            .with_span_list(false)
            .try_init()
    } else {
        builder.try_init()
    };
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
    fn fatal_becomes_error() {
        assert_eq!(level_directive(Some("FATAL"), None), "error");
        assert_eq!(level_directive(Some("fatal"), Some("trace")), "error");
    }
}
