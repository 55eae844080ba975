//! The retry rules of [`super::OutsideClient`]: which answers are retried, how long to back
//! off ([`crate::backoff::full_jitter_backoff`]) and how to read
//! `Retry-After` (RFC 9110 §10.2.3).

use std::time::{Duration, SystemTime};

use http::{HeaderMap, StatusCode};

/// Whether an answer with `status` is a failure worth another attempt: `5xx` (the instance is
/// broken or overloaded) and `429 Too Many Requests`. Every other status — `2xx`, `3xx`, and a
/// `4xx` such as `402` (card declined) or `400` — is the service's own answer: retrying would
/// get the same one.
pub fn is_retryable_status(status: StatusCode) -> bool {
    status.is_server_error() || status == StatusCode::TOO_MANY_REQUESTS
}

/// The `Retry-After` of an answer as a wait from `now` (RFC 9110 §10.2.3): delay-seconds
/// (`Retry-After: 2`) or an HTTP-date (`Retry-After: Wed, 21 Oct 2015 07:28:00 GMT`, any of the
/// three formats of §5.6.7; a date in the past is a zero wait). `None` when absent or
/// unreadable.
pub fn retry_after(headers: &HeaderMap, now: SystemTime) -> Option<Duration> {
    let value = headers
        .get(http::header::RETRY_AFTER)?
        .to_str()
        .ok()?
        .trim();
    if let Ok(seconds) = value.parse::<u64>() {
        return Some(Duration::from_secs(seconds));
    }
    let at = httpdate::parse_http_date(value).ok()?;
    Some(at.duration_since(now).unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    fn with_retry_after(value: &'static str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(http::header::RETRY_AFTER, HeaderValue::from_static(value));
        headers
    }

    #[test]
    fn server_errors_and_429_are_retryable_other_answers_are_not() {
        for code in [500, 502, 503, 504, 429] {
            assert!(
                is_retryable_status(StatusCode::from_u16(code).unwrap()),
                "{code}"
            );
        }
        for code in [200, 201, 301, 304, 400, 401, 402, 404, 409, 422] {
            assert!(
                !is_retryable_status(StatusCode::from_u16(code).unwrap()),
                "{code}"
            );
        }
    }

    #[test]
    fn retry_after_reads_delay_seconds() {
        assert_eq!(
            retry_after(&with_retry_after("3"), SystemTime::now()),
            Some(Duration::from_secs(3))
        );
    }

    #[test]
    fn retry_after_reads_an_http_date_relative_to_now() {
        let now = httpdate::parse_http_date("Wed, 21 Oct 2015 07:28:00 GMT").unwrap();

        assert_eq!(
            retry_after(&with_retry_after("Wed, 21 Oct 2015 07:28:05 GMT"), now),
            Some(Duration::from_secs(5))
        );
        // RFC 850 and asctime forms are accepted too (RFC 9110 §5.6.7).
        assert_eq!(
            retry_after(&with_retry_after("Wednesday, 21-Oct-15 07:28:07 GMT"), now),
            Some(Duration::from_secs(7))
        );
        assert_eq!(
            retry_after(&with_retry_after("Wed Oct 21 07:28:09 2015"), now),
            Some(Duration::from_secs(9))
        );
    }

    #[test]
    fn retry_after_in_the_past_is_no_wait_and_garbage_is_none() {
        let now = httpdate::parse_http_date("Wed, 21 Oct 2015 07:28:00 GMT").unwrap();

        assert_eq!(
            retry_after(&with_retry_after("Wed, 21 Oct 2015 07:27:00 GMT"), now),
            Some(Duration::ZERO)
        );
        assert_eq!(retry_after(&with_retry_after("soon"), now), None);
        assert_eq!(retry_after(&with_retry_after("-1"), now), None);
        assert_eq!(retry_after(&HeaderMap::new(), now), None);
    }
}
