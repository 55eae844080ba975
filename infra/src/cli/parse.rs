//! The value parsers of the command line's flags (`--rate`, `--error`, `--throttle-scale`,
//! `--parameter-overrides`): each takes the flag's text and returns its value, or the message
//! clap prints after `invalid value '<text>' for '<flag>': `.

/// A fraction of `--rate`.
pub(super) fn rate(s: &str) -> Result<f64, String> {
    let r: f64 = s
        .parse()
        .map_err(|_| format!("{s}: expected a fraction, e.g. 0.5"))?;
    if r > 0.0 && r <= 1.0 {
        Ok(r)
    } else {
        Err(format!("{s}: a rate is above 0 and at most 1"))
    }
}

/// `<status>[:<code>]` of `--error`.
pub(super) fn status_and_code(s: &str) -> Result<(u16, Option<String>), String> {
    let (status, code) = match s.split_once(':') {
        Some((st, code)) => (st, Some(code.to_owned()).filter(|c| !c.is_empty())),
        None => (s, None),
    };
    let status: u16 = status.parse().map_err(|_| {
        format!("{s}: expected <status>[:<code>], e.g. 500 or 503:ServiceUnavailable")
    })?;
    if !(400..=599).contains(&status) {
        return Err(format!("{status}: an injected error is 400-599"));
    }
    Ok((status, code))
}

/// A factor of `--throttle-scale`: a finite number above 0.
pub(super) fn throttle_scale(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(f) if f.is_finite() && f > 0.0 => Ok(f),
        _ => Err(format!("{s}: expected a factor above 0, e.g. 10 or 0.5")),
    }
}

/// `Name=Value` of `--parameter-overrides`.
pub(super) fn parameter_override(s: &str) -> Result<(String, String), String> {
    s.split_once('=')
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .ok_or_else(|| format!("{s}: expected Name=Value"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_error_is_a_status_with_an_optional_code() {
        assert_eq!(status_and_code("500"), Ok((500, None)));
        assert_eq!(
            status_and_code("503:ServiceUnavailable"),
            Ok((503, Some("ServiceUnavailable".into())))
        );
        assert!(status_and_code("200").is_err());
        assert!(status_and_code("abc").is_err());
    }
}
