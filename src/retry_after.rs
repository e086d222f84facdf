//! The `Retry-After` header (RFC 9110, section 10.2.3): a number of seconds
//! or an HTTP-date, in any of the three date forms HTTP allows.

use std::time::{Duration, SystemTime};

/// What a `Retry-After` value asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RetryAfter {
    /// Wait this long (`Retry-After: 120`).
    Delay(Duration),
    /// Wait until this moment (`Retry-After: Fri, 31 Dec 1999 23:59:59 GMT`).
    At(SystemTime),
}

/// Why a `Retry-After` value was not usable; the client then falls back to
/// its normal backoff.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RetryAfterError {
    /// Neither whole seconds nor an HTTP-date (this includes negative and
    /// fractional numbers, which the RFC does not allow).
    #[error("Retry-After '{0}' is neither whole seconds nor an HTTP-date")]
    Malformed(String),
    /// Whole seconds, but more than a 64-bit count holds.
    #[error("Retry-After '{0}' is too large to read")]
    Overflow(String),
}

impl RetryAfter {
    /// Parses a header value: `delay-seconds` (one or more digits) or an
    /// IMF-fixdate, RFC 850 or asctime date.
    ///
    /// ```
    /// use concurrent_http_client::RetryAfter;
    /// use std::time::Duration;
    ///
    /// assert_eq!(RetryAfter::parse("3"), Ok(RetryAfter::Delay(Duration::from_secs(3))));
    /// assert!(RetryAfter::parse("Sun, 06 Nov 1994 08:49:37 GMT").is_ok());
    /// assert!(RetryAfter::parse("-1").is_err());
    /// ```
    pub fn parse(value: &str) -> Result<RetryAfter, RetryAfterError> {
        let value = value.trim();
        if !value.is_empty() && value.bytes().all(|b| b.is_ascii_digit()) {
            // However long, a wait that fits is a wait: --max-retry-after
            // turns it down. Only digits past what a u64 holds overflow.
            return value
                .parse::<u64>()
                .map(|seconds| RetryAfter::Delay(Duration::from_secs(seconds)))
                .map_err(|_| RetryAfterError::Overflow(value.to_owned()));
        }
        httpdate::parse_http_date(value)
            .map(RetryAfter::At)
            .map_err(|_| RetryAfterError::Malformed(value.to_owned()))
    }

    /// How long to wait from `now`; a date in the past means at once.
    pub fn delay_from(self, now: SystemTime) -> Duration {
        match self {
            RetryAfter::Delay(delay) => delay,
            RetryAfter::At(moment) => moment.duration_since(now).unwrap_or(Duration::ZERO),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secs(seconds: u64) -> Duration {
        Duration::from_secs(seconds)
    }

    /// 1994-11-06 08:49:37 UTC, the RFC's own example date.
    fn rfc_example() -> SystemTime {
        SystemTime::UNIX_EPOCH + secs(784_111_777)
    }

    #[test]
    fn parses_every_form_the_rfc_allows() {
        let table = [
            ("0", RetryAfter::Delay(secs(0))),
            ("5", RetryAfter::Delay(secs(5))),
            (" 120 ", RetryAfter::Delay(secs(120))),
            ("007", RetryAfter::Delay(secs(7))),
            ("4294967296", RetryAfter::Delay(secs(4_294_967_296))),
            ("18446744073709551615", RetryAfter::Delay(secs(u64::MAX))),
            // IMF-fixdate, RFC 850 and asctime, all the same moment.
            (
                "Sun, 06 Nov 1994 08:49:37 GMT",
                RetryAfter::At(rfc_example()),
            ),
            (
                "Sunday, 06-Nov-94 08:49:37 GMT",
                RetryAfter::At(rfc_example()),
            ),
            ("Sun Nov  6 08:49:37 1994", RetryAfter::At(rfc_example())),
        ];
        for (value, expected) in table {
            assert_eq!(RetryAfter::parse(value), Ok(expected), "{value:?}");
        }
    }

    #[test]
    fn refuses_what_the_rfc_does_not_allow() {
        for value in [
            "",
            " ",
            "-1",
            "-0",
            "+5",
            "1.5",
            "1e3",
            "soon",
            "5s",
            "0x10",
            "Sun, 06 Nov 1994 08:49:37",     // no zone
            "Sun, 32 Nov 1994 08:49:37 GMT", // no such day
            "Sun, 06 Nov 1994 25:49:37 GMT", // no such hour
        ] {
            assert!(
                matches!(RetryAfter::parse(value), Err(RetryAfterError::Malformed(_))),
                "{value:?}"
            );
        }
        for value in ["99999999999999999999999", "18446744073709551616"] {
            assert!(
                matches!(RetryAfter::parse(value), Err(RetryAfterError::Overflow(_))),
                "{value:?}"
            );
        }
    }

    #[test]
    fn dates_count_from_now_and_past_dates_mean_at_once() {
        let now = rfc_example();
        let later = RetryAfter::At(now + secs(30));
        assert_eq!(later.delay_from(now), secs(30));
        let earlier = RetryAfter::At(now - secs(30));
        assert_eq!(earlier.delay_from(now), Duration::ZERO);
        assert_eq!(RetryAfter::Delay(secs(4)).delay_from(now), secs(4));
    }
}
