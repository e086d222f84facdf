//! Durations as users type them on the command line, and as the logs print them.
//!
//! A bare number means seconds (`2`, `0.25`), as the original exploration's
//! `-request-duration 2` did; anything else is a humane duration read by
//! [`humantime`] (`500ms`, `1m 30s`), plus decimal seconds such as `1.5s`,
//! which humantime itself does not take.

use std::time::Duration;

/// Why a duration could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DurationError {
    /// The text was empty or only whitespace.
    #[error("empty duration")]
    Empty,
    /// The text started with a minus sign.
    #[error("negative duration '{0}'")]
    Negative(String),
    /// The text was neither a number of seconds nor a humane duration.
    #[error("malformed duration '{0}' (try 2, 1.5s or 500ms)")]
    Malformed(String),
    /// The value is longer than [`MAX_DURATION`].
    #[error("duration '{0}' is too large (at most a year)")]
    TooLarge(String),
}

/// The longest duration any flag takes: a year. Longer ones are typing
/// mistakes, and would overflow the clock arithmetic of timeouts.
pub const MAX_DURATION: Duration = Duration::from_secs(365 * 24 * 3600);

/// Reads a duration: bare numbers are seconds, other forms follow humantime.
/// Anything longer than [`MAX_DURATION`] is refused.
///
/// ```
/// use concurrent_http_client::parse_duration;
/// use std::time::Duration;
///
/// assert_eq!(parse_duration("2"), Ok(Duration::from_secs(2)));
/// assert_eq!(parse_duration("1.5s"), Ok(Duration::from_millis(1500)));
/// assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
/// assert!(parse_duration("-1s").is_err());
/// ```
pub fn parse_duration(text: &str) -> Result<Duration, DurationError> {
    let duration = read_duration(text.trim())?;
    if duration > MAX_DURATION {
        return Err(DurationError::TooLarge(text.trim().to_owned()));
    }
    Ok(duration)
}

fn read_duration(text: &str) -> Result<Duration, DurationError> {
    if text.is_empty() {
        return Err(DurationError::Empty);
    }
    if text.starts_with('-') {
        return Err(DurationError::Negative(text.to_owned()));
    }
    if let Some(seconds) = decimal_seconds(text) {
        return Duration::try_from_secs_f64(seconds)
            .map_err(|_| DurationError::TooLarge(text.to_owned()));
    }
    humantime::parse_duration(text).map_err(|err| match err {
        humantime::DurationError::NumberOverflow => DurationError::TooLarge(text.to_owned()),
        _ => DurationError::Malformed(text.to_owned()),
    })
}

/// `2`, `2.5` and `2.5s` as seconds; `None` for everything humantime should read.
fn decimal_seconds(text: &str) -> Option<f64> {
    let number = text.strip_suffix('s').unwrap_or(text);
    let is_plain_decimal = !number.is_empty()
        && number.chars().all(|c| c.is_ascii_digit() || c == '.')
        && number.chars().filter(|&c| c == '.').count() <= 1
        && number.chars().any(|c| c.is_ascii_digit());
    if !is_plain_decimal {
        return None;
    }
    number.parse::<f64>().ok().filter(|s| s.is_finite())
}

/// Formats a duration for log lines: `250ms` below a second, `1.25s` above.
///
/// ```
/// use concurrent_http_client::format_duration;
/// use std::time::Duration;
///
/// assert_eq!(format_duration(Duration::from_millis(250)), "250ms");
/// assert_eq!(format_duration(Duration::from_millis(1250)), "1.25s");
/// assert_eq!(format_duration(Duration::from_secs(3)), "3s");
/// ```
pub fn format_duration(duration: Duration) -> String {
    if duration < Duration::from_secs(1) {
        return format!("{}ms", duration.as_millis());
    }
    let text = format!("{:.2}", duration.as_secs_f64());
    let text = text.trim_end_matches('0').trim_end_matches('.');
    format!("{text}s")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(millis: u64) -> Duration {
        Duration::from_millis(millis)
    }

    #[test]
    fn bare_numbers_are_seconds() {
        assert_eq!(parse_duration("2"), Ok(ms(2000)));
        assert_eq!(parse_duration("0"), Ok(ms(0)));
        assert_eq!(parse_duration("0.25"), Ok(ms(250)));
        assert_eq!(parse_duration(" 3 "), Ok(ms(3000)));
    }

    #[test]
    fn humane_forms_are_read() {
        assert_eq!(parse_duration("500ms"), Ok(ms(500)));
        assert_eq!(parse_duration("1.5s"), Ok(ms(1500)));
        assert_eq!(parse_duration("2s"), Ok(ms(2000)));
        assert_eq!(parse_duration("1m 30s"), Ok(ms(90_000)));
        assert_eq!(parse_duration("1m30s"), Ok(ms(90_000)));
        assert_eq!(parse_duration("0ms"), Ok(ms(0)));
    }

    #[test]
    fn bad_forms_are_named() {
        assert_eq!(parse_duration(""), Err(DurationError::Empty));
        assert_eq!(
            parse_duration("-1s"),
            Err(DurationError::Negative("-1s".into()))
        );
        assert_eq!(
            parse_duration("-2"),
            Err(DurationError::Negative("-2".into()))
        );
        for junk in ["abc", "1.2.3", "s", ".", "5 parsecs", "1e3"] {
            assert_eq!(
                parse_duration(junk),
                Err(DurationError::Malformed(junk.into())),
                "{junk}"
            );
        }
        for huge in [
            "99999999999999999999999",
            "10000000000000000000s",
            "366days",
            "31536001",
        ] {
            assert!(
                matches!(parse_duration(huge), Err(DurationError::TooLarge(_))),
                "{huge}"
            );
        }
        assert_eq!(parse_duration("365days"), Ok(MAX_DURATION));
    }

    #[test]
    fn formats_read_back_as_the_same_duration() {
        for millis in [0, 1, 250, 999, 1000, 1250, 3000, 61_500] {
            let text = format_duration(ms(millis));
            assert_eq!(parse_duration(&text), Ok(ms(millis)), "{text}");
        }
    }
}
