//! Logging set-up for Lambda: JSON or text on stdout, no timestamps, no colours.

use tracing_subscriber::EnvFilter;

/// Installs the global `tracing` subscriber. Call once, first thing in `main`.
///
/// - Format: JSON (one object per line, fields flattened) when `AWS_LAMBDA_LOG_FORMAT` is
///   `JSON` (any case), otherwise plain text.
/// - Level: `AWS_LAMBDA_LOG_LEVEL` (Lambda's `TRACE`..`FATAL`, any case), else `RUST_LOG`
///   (full `EnvFilter` syntax), else `info`. An unparsable value falls back to `info`.
/// - No timestamps (CloudWatch adds them) and no ANSI colours. In JSON, the innermost span's
///   fields (e.g. `order_id` from `#[instrument]`) appear under `span`.
///
/// A second call does nothing.
pub fn init() {
    let level = std::env::var("AWS_LAMBDA_LOG_LEVEL")
        .ok()
        .filter(|v| !v.trim().is_empty())
        .map(|v| lambda_level_to_directive(&v))
        .or_else(|| {
            std::env::var("RUST_LOG")
                .ok()
                .filter(|v| !v.trim().is_empty())
        })
        .unwrap_or_else(|| "info".to_owned());
    let filter = EnvFilter::try_new(&level).unwrap_or_else(|_| EnvFilter::new("info"));
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
}
