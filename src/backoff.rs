//! The retry policy: how long to wait before the next attempt, or whether to stop.
//!
//! [`RetryPolicy::delay`] is a pure function of the retry number, the delay
//! before it and one random sample, so every schedule can be tested as a
//! table. The thread that runs a request does the sleeping.
//!
//! The backoff kinds and jitter kinds follow the AWS Architecture Blog post
//! "Exponential Backoff And Jitter": a growing `base` capped at `wait_max`,
//! then a random share of it.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

/// How the un-jittered wait grows with the retry number `k` (1 for the first retry).
#[derive(Debug, Clone, Copy, PartialEq)]
#[non_exhaustive]
pub enum Backoff {
    /// `wait_min` every time.
    Constant,
    /// `k × wait_min`, capped at `wait_max`.
    Linear,
    /// `wait_min × factor^(k-1)`, capped at `wait_max`.
    Exponential {
        /// Growth per retry; at least 1.
        factor: f64,
    },
}

/// How much of the base wait is left to chance.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Jitter {
    /// Exactly the base wait.
    None,
    /// Anywhere between zero and the base wait.
    Full,
    /// Half the base wait, plus up to the other half.
    Equal,
    /// Between `wait_min` and three times the previous wait, capped at
    /// `wait_max`; ignores the backoff kind.
    Decorrelated,
}

/// Why a retry policy could not be built.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum BackoffError {
    /// `wait_min` was above `wait_max`.
    #[error("--retry-wait-min ({min:?}) is above --retry-wait-max ({max:?})")]
    MinAboveMax {
        /// The minimum wait given.
        min: Duration,
        /// The maximum wait given.
        max: Duration,
    },
    /// The exponential factor was below 1 or not a number.
    #[error("backoff factor must be a number of at least 1, got {0:?}")]
    BadFactor(f64),
    /// A backoff or jitter name was not known.
    #[error("unknown {what} '{name}' (expected one of: {expected})")]
    UnknownName {
        /// `backoff` or `jitter`.
        what: &'static str,
        /// The name given.
        name: String,
        /// The names that are accepted.
        expected: &'static str,
    },
}

/// When and how often to retry a request.
#[derive(Debug, Clone, PartialEq)]
pub struct RetryPolicy {
    max_retries: u32,
    wait_min: Duration,
    wait_max: Duration,
    backoff: Backoff,
    jitter: Jitter,
}

impl Default for RetryPolicy {
    /// Three retries, waits growing linearly from 1 s to at most 3 s, equal
    /// jitter: the first retry comes after 0.5–1 s, the second after 1–2 s,
    /// the third after 1.5–3 s.
    fn default() -> Self {
        RetryPolicy {
            max_retries: 3,
            wait_min: Duration::from_secs(1),
            wait_max: Duration::from_secs(3),
            backoff: Backoff::Linear,
            jitter: Jitter::Equal,
        }
    }
}

impl RetryPolicy {
    /// A policy of at most `max_retries` retries (so `max_retries + 1`
    /// attempts), with waits between `wait_min` and `wait_max`.
    pub fn new(
        max_retries: u32,
        wait_min: Duration,
        wait_max: Duration,
        backoff: Backoff,
        jitter: Jitter,
    ) -> Result<RetryPolicy, BackoffError> {
        if wait_min > wait_max {
            return Err(BackoffError::MinAboveMax {
                min: wait_min,
                max: wait_max,
            });
        }
        if let Backoff::Exponential { factor } = backoff {
            if !(factor.is_finite() && factor >= 1.0) {
                return Err(BackoffError::BadFactor(factor));
            }
        }
        Ok(RetryPolicy {
            max_retries,
            wait_min,
            wait_max,
            backoff,
            jitter,
        })
    }

    /// The most retries one request may make. Defaults to 3.
    pub fn max_retries(&self) -> u32 {
        self.max_retries
    }

    /// The delay before retry `retry` (1 for the first), or `None` when the
    /// policy allows no more.
    ///
    /// `previous` is the delay before the last retry (zero before the first);
    /// only decorrelated jitter uses it. `random` is a sample in `[0, 1)`;
    /// values outside are clamped.
    ///
    /// ```
    /// use concurrent_http_client::{Backoff, Jitter, RetryPolicy};
    /// use std::time::Duration;
    ///
    /// let s = Duration::from_secs;
    /// let policy = RetryPolicy::new(2, s(1), s(3), Backoff::Linear, Jitter::None).expect("valid");
    /// assert_eq!(policy.delay(1, Duration::ZERO, 0.5), Some(s(1)));
    /// assert_eq!(policy.delay(2, s(1), 0.5), Some(s(2)));
    /// assert_eq!(policy.delay(3, s(2), 0.5), None);
    /// ```
    pub fn delay(&self, retry: u32, previous: Duration, random: f64) -> Option<Duration> {
        if retry == 0 || retry > self.max_retries {
            return None;
        }
        let random = if random.is_nan() {
            0.0
        } else {
            random.clamp(0.0, 1.0)
        };
        let base = self.base(retry);
        let delay = match self.jitter {
            Jitter::None => base,
            Jitter::Full => base.mul_f64(random),
            Jitter::Equal => base / 2 + (base / 2).mul_f64(random),
            Jitter::Decorrelated => {
                let low = self.wait_min;
                let high = previous.max(self.wait_min).saturating_mul(3);
                (low + (high - low).mul_f64(random)).min(self.wait_max)
            }
        };
        Some(delay)
    }

    /// The un-jittered wait before retry `retry`, already capped.
    fn base(&self, retry: u32) -> Duration {
        let base = match self.backoff {
            Backoff::Constant => self.wait_min,
            Backoff::Linear => self.wait_min.saturating_mul(retry),
            Backoff::Exponential { factor } => {
                let growth = factor.powi(retry.saturating_sub(1).min(1024) as i32);
                let seconds = self.wait_min.as_secs_f64() * growth;
                Duration::try_from_secs_f64(seconds).unwrap_or(Duration::MAX)
            }
        };
        base.min(self.wait_max)
    }
}

impl Backoff {
    const NAMES: &'static str = "constant, linear, exponential";
}

impl fmt::Display for Backoff {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Backoff::Constant => f.write_str("constant"),
            Backoff::Linear => f.write_str("linear"),
            Backoff::Exponential { .. } => f.write_str("exponential"),
        }
    }
}

impl FromStr for Backoff {
    type Err = BackoffError;

    /// `constant`, `linear` or `exponential` (with a factor of 2; see
    /// [`RetryPolicy::new`] to set another).
    fn from_str(name: &str) -> Result<Self, Self::Err> {
        match name {
            "constant" => Ok(Backoff::Constant),
            "linear" => Ok(Backoff::Linear),
            "exponential" => Ok(Backoff::Exponential { factor: 2.0 }),
            _ => Err(BackoffError::UnknownName {
                what: "backoff",
                name: name.to_owned(),
                expected: Backoff::NAMES,
            }),
        }
    }
}

impl Jitter {
    const NAMES: &'static str = "none, full, equal, decorrelated";
}

impl fmt::Display for Jitter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Jitter::None => "none",
            Jitter::Full => "full",
            Jitter::Equal => "equal",
            Jitter::Decorrelated => "decorrelated",
        })
    }
}

impl FromStr for Jitter {
    type Err = BackoffError;

    fn from_str(name: &str) -> Result<Self, Self::Err> {
        match name {
            "none" => Ok(Jitter::None),
            "full" => Ok(Jitter::Full),
            "equal" => Ok(Jitter::Equal),
            "decorrelated" => Ok(Jitter::Decorrelated),
            _ => Err(BackoffError::UnknownName {
                what: "jitter",
                name: name.to_owned(),
                expected: Jitter::NAMES,
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(millis: u64) -> Duration {
        Duration::from_millis(millis)
    }

    fn policy(backoff: Backoff, jitter: Jitter) -> RetryPolicy {
        RetryPolicy::new(5, ms(100), ms(1000), backoff, jitter).expect("a valid policy")
    }

    /// Un-jittered delays for retries 1 to 5.
    fn schedule(policy: &RetryPolicy) -> Vec<Duration> {
        let mut previous = Duration::ZERO;
        (1..=5)
            .map(|retry| {
                let delay = policy
                    .delay(retry, previous, 0.0)
                    .expect("within max_retries");
                previous = delay;
                delay
            })
            .collect()
    }

    #[test]
    fn the_default_grows_linearly_to_three_seconds_with_equal_jitter() {
        let policy = RetryPolicy::default();
        let table = [
            (1, ms(500), ms(1000)),
            (2, ms(1000), ms(2000)),
            (3, ms(1500), ms(3000)),
        ];
        for (retry, low, high) in table {
            assert_eq!(policy.delay(retry, Duration::ZERO, 0.0), Some(low));
            assert_eq!(policy.delay(retry, Duration::ZERO, 1.0), Some(high));
        }
        assert_eq!(policy.delay(4, ms(3000), 0.5), None);
    }

    #[test]
    fn max_retries_k_allows_exactly_k_delays() {
        for k in 0..5 {
            let policy = RetryPolicy::new(k, ms(1), ms(2), Backoff::Constant, Jitter::None)
                .expect("a valid policy");
            let allowed = (1..10)
                .filter(|&retry| policy.delay(retry, ms(1), 0.5).is_some())
                .count();
            assert_eq!(allowed, k as usize);
            assert_eq!(policy.delay(0, ms(1), 0.5), None, "retry 0 is not a retry");
        }
    }

    #[test]
    fn backoff_kinds_grow_as_documented_and_stop_at_the_cap() {
        let constant = schedule(&policy(Backoff::Constant, Jitter::None));
        assert_eq!(constant, vec![ms(100); 5]);
        let linear = schedule(&policy(Backoff::Linear, Jitter::None));
        assert_eq!(linear, vec![ms(100), ms(200), ms(300), ms(400), ms(500)]);
        let exponential = schedule(&policy(Backoff::Exponential { factor: 3.0 }, Jitter::None));
        assert_eq!(
            exponential,
            vec![ms(100), ms(300), ms(900), ms(1000), ms(1000)]
        );
    }

    #[test]
    fn jitter_kinds_stay_within_their_bounds() {
        let base = ms(400); // linear, retry 4
        let samples = [0.0, 0.25, 0.5, 0.999, 1.0];
        let full = policy(Backoff::Linear, Jitter::Full);
        let equal = policy(Backoff::Linear, Jitter::Equal);
        for random in samples {
            let full_delay = full.delay(4, ms(300), random).expect("within max_retries");
            assert!(full_delay <= base);
            let equal_delay = equal.delay(4, ms(300), random).expect("within max_retries");
            assert!(equal_delay >= base / 2 && equal_delay <= base);
        }
        assert_eq!(full.delay(4, ms(300), 0.0), Some(Duration::ZERO));
        assert_eq!(full.delay(4, ms(300), 0.5), Some(ms(200)));
        assert_eq!(equal.delay(4, ms(300), 0.5), Some(ms(300)));
    }

    #[test]
    fn decorrelated_jitter_follows_the_previous_delay() {
        let policy = policy(Backoff::Exponential { factor: 2.0 }, Jitter::Decorrelated);
        // Between wait_min and three times the previous delay.
        assert_eq!(policy.delay(2, ms(200), 0.0), Some(ms(100)));
        assert_eq!(policy.delay(2, ms(200), 1.0), Some(ms(600)));
        assert_eq!(policy.delay(2, ms(200), 0.5), Some(ms(350)));
        // The first retry starts from wait_min; the cap always holds.
        assert_eq!(policy.delay(1, Duration::ZERO, 1.0), Some(ms(300)));
        assert_eq!(policy.delay(3, ms(900), 1.0), Some(ms(1000)));
    }

    #[test]
    fn out_of_range_samples_are_clamped() {
        let full = policy(Backoff::Constant, Jitter::Full);
        assert_eq!(full.delay(1, Duration::ZERO, -3.0), Some(Duration::ZERO));
        assert_eq!(full.delay(1, Duration::ZERO, 7.0), Some(ms(100)));
        assert_eq!(
            full.delay(1, Duration::ZERO, f64::NAN),
            Some(Duration::ZERO)
        );
    }

    #[test]
    fn huge_retry_numbers_saturate_at_the_cap() {
        let policy = RetryPolicy::new(
            u32::MAX,
            ms(100),
            ms(1000),
            Backoff::Exponential { factor: 10.0 },
            Jitter::None,
        )
        .expect("a valid policy");
        assert_eq!(policy.delay(u32::MAX, ms(1000), 0.5), Some(ms(1000)));
        let linear = RetryPolicy::new(u32::MAX, ms(100), ms(1000), Backoff::Linear, Jitter::None)
            .expect("a valid policy");
        assert_eq!(linear.delay(u32::MAX, ms(1000), 0.5), Some(ms(1000)));
    }

    #[test]
    fn inconsistent_settings_are_refused() {
        assert!(matches!(
            RetryPolicy::new(3, ms(2), ms(1), Backoff::Linear, Jitter::None),
            Err(BackoffError::MinAboveMax { .. })
        ));
        for factor in [0.5, f64::NAN, f64::INFINITY] {
            assert!(matches!(
                RetryPolicy::new(
                    3,
                    ms(1),
                    ms(2),
                    Backoff::Exponential { factor },
                    Jitter::None
                ),
                Err(BackoffError::BadFactor(_))
            ));
        }
        assert!("fibonacci".parse::<Backoff>().is_err());
        assert_eq!("full".parse::<Jitter>(), Ok(Jitter::Full));
    }
}
