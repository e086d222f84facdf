//! The faults the test server can inject, and the seeded plan that decides,
//! request by request, which one it gets.
//!
//! Every decision is a pure function of the seed, the request's number (the
//! order it arrived in) and its arrival time, so the same seed and the same
//! request order give the same faults.

use crate::duration::{format_duration, parse_duration, DurationError};
use std::fmt;
use std::str::FromStr;
use std::time::Duration;

/// How long the server works on a request before answering.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Latency {
    /// Always this long (`2s`).
    Fixed(Duration),
    /// Uniformly between the two (`uniform:100ms..2s`).
    Uniform(Duration, Duration),
    /// Normally distributed around a mean, never below zero (`normal:500ms,100ms`).
    Normal {
        /// The mean.
        mean: Duration,
        /// The standard deviation.
        spread: Duration,
    },
}

/// What happens to every request during an outage.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutageKind {
    /// Answered at once with this status.
    Status(u16),
    /// The connection is reset without an answer.
    Reset,
    /// The listener is closed: new connections are refused.
    Refuse,
}

/// A stretch of the server's life, counted from its start, when every
/// request fails (`5s..8s`, `5s..8s:reset`, `5s..8s:refuse`, `5s..8s:500`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Outage {
    /// When it begins.
    pub start: Duration,
    /// When it ends.
    pub end: Duration,
    /// How requests fail meanwhile. Defaults to a 503 answer.
    pub kind: OutageKind,
}

impl Outage {
    /// True when `at` is inside the outage.
    pub fn covers(&self, at: Duration) -> bool {
        self.start <= at && at < self.end
    }
}

/// Which faults to inject, and how often.
#[derive(Debug, Clone, PartialEq)]
pub struct FaultConfig {
    /// Seed for the per-request draws. Defaults to 0.
    pub seed: u64,
    /// Share of requests answered with `fail_status` instead of 200. Defaults to 0.
    pub fail_rate: f64,
    /// The status failed requests get. Defaults to 503.
    pub fail_status: u16,
    /// A `Retry-After` value (seconds or an HTTP-date) added to failed
    /// answers, 429s and 503 outages. Defaults to none.
    pub retry_after: Option<String>,
    /// Share of requests whose connection is reset without an answer. Defaults to 0.
    pub reset_rate: f64,
    /// Share of requests that are never answered until the client gives up.
    /// Defaults to 0.
    pub hang_rate: f64,
    /// How long the server holds a hanging request before letting it go, so
    /// a hang never holds anything forever. Defaults to 60 s.
    pub hang_limit: Duration,
    /// Share of requests whose body is sent slowly after prompt headers. Defaults to 0.
    pub slow_body_rate: f64,
    /// How long a slow body takes to send, spread evenly over its bytes.
    /// Defaults to 5 s.
    pub slow_body_time: Duration,
    /// How long each request takes before it is answered. Defaults to 2 s.
    pub latency: Latency,
    /// When every request fails. Defaults to none.
    pub outages: Vec<Outage>,
}

impl Default for FaultConfig {
    fn default() -> Self {
        FaultConfig {
            seed: 0,
            fail_rate: 0.0,
            fail_status: 503,
            retry_after: None,
            reset_rate: 0.0,
            hang_rate: 0.0,
            hang_limit: Duration::from_secs(60),
            slow_body_rate: 0.0,
            slow_body_time: Duration::from_secs(5),
            latency: Latency::Fixed(Duration::from_secs(2)),
            outages: Vec::new(),
        }
    }
}

/// Why a fault setting was refused.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum FaultError {
    /// A rate outside 0..=1.
    #[error("--{flag} must be a probability from 0 to 1, got {value}")]
    BadRate {
        /// The flag.
        flag: &'static str,
        /// The value given.
        value: String,
    },
    /// The rates add up to more than 1.
    #[error(
        "--reset-rate, --hang-rate, --fail-rate and --slow-body-rate add up to {0}, more than 1"
    )]
    RatesOverOne(f64),
    /// A status that is not a failure (400 to 599).
    #[error("--{flag}: {value} is not a failure status from 400 to 599")]
    BadStatus {
        /// The flag.
        flag: &'static str,
        /// The value given.
        value: String,
    },
    /// A latency that did not read.
    #[error("--latency '{0}' is not a duration, uniform:MIN..MAX or normal:MEAN,SPREAD")]
    BadLatency(String),
    /// A uniform latency whose minimum is above its maximum.
    #[error("--latency '{0}': the minimum is above the maximum")]
    LatencyOrder(String),
    /// An outage that did not read.
    #[error("--outage '{0}' is not START..END[:CODE|reset|refuse], CODE from 400 to 599 (e.g. 5s..8s:reset)")]
    BadOutage(String),
    /// An outage that ends before it starts.
    #[error("--outage '{0}' ends before it starts")]
    OutageOrder(String),
    /// A Retry-After value that is neither seconds nor an HTTP-date.
    #[error("--retry-after '{0}' is neither whole seconds nor an HTTP-date")]
    BadRetryAfter(String),
    /// A duration that did not read.
    #[error("{0}")]
    Duration(#[from] DurationError),
}

/// Checks a probability for `flag`.
pub fn parse_rate(flag: &'static str, text: &str) -> Result<f64, FaultError> {
    match text.trim().parse::<f64>() {
        Ok(rate) if (0.0..=1.0).contains(&rate) => Ok(rate),
        _ => Err(FaultError::BadRate {
            flag,
            value: text.to_owned(),
        }),
    }
}

/// Checks a failure status (4xx or 5xx) for `flag`: a 2xx would not fail,
/// and a 3xx would send the client elsewhere.
pub fn parse_status(flag: &'static str, text: &str) -> Result<u16, FaultError> {
    match text.trim().parse::<u16>() {
        Ok(status @ 400..=599) => Ok(status),
        _ => Err(FaultError::BadStatus {
            flag,
            value: text.to_owned(),
        }),
    }
}

impl FaultConfig {
    /// Checks the settings together: each rate a probability, their sum at most 1.
    pub fn validate(&self) -> Result<(), FaultError> {
        let rates = [
            ("reset-rate", self.reset_rate),
            ("hang-rate", self.hang_rate),
            ("fail-rate", self.fail_rate),
            ("slow-body-rate", self.slow_body_rate),
        ];
        for (flag, rate) in rates {
            if !(0.0..=1.0).contains(&rate) {
                return Err(FaultError::BadRate {
                    flag,
                    value: rate.to_string(),
                });
            }
        }
        let sum: f64 = rates.iter().map(|(_, rate)| rate).sum();
        if sum > 1.0 + 1e-9 {
            return Err(FaultError::RatesOverOne(sum));
        }
        if let Some(value) = &self.retry_after {
            crate::retry_after::RetryAfter::parse(value)
                .map_err(|_| FaultError::BadRetryAfter(value.clone()))?;
        }
        Ok(())
    }

    /// True when some fault has to cut connections, which needs the relay.
    pub fn cuts_connections(&self) -> bool {
        self.reset_rate > 0.0
            || self
                .outages
                .iter()
                .any(|outage| matches!(outage.kind, OutageKind::Reset | OutageKind::Refuse))
    }

    /// The plan for request number `request`, arriving `since_start` after
    /// the server started.
    pub fn plan(&self, request: u64, since_start: Duration) -> Plan {
        let mut rng = fastrand::Rng::with_seed(
            self.seed ^ request.wrapping_add(1).wrapping_mul(0x9E37_79B9_7F4A_7C15),
        );
        // Always draw in the same order, so one setting does not shift the
        // draws of another.
        let latency = self.latency.sample(rng.f64(), rng.f64());
        let draw = rng.f64();
        if let Some(outage) = self.outages.iter().find(|o| o.covers(since_start)) {
            let fault = match outage.kind {
                OutageKind::Status(status) => Fault::Status {
                    status,
                    retry_after: self.retry_after.clone(),
                },
                OutageKind::Reset | OutageKind::Refuse => Fault::Reset,
            };
            return Plan {
                fault,
                latency: Duration::ZERO,
                outage: true,
            };
        }
        let mut threshold = 0.0;
        let mut hit = |rate: f64| {
            threshold += rate;
            draw < threshold
        };
        let fault = if hit(self.reset_rate) {
            Fault::Reset
        } else if hit(self.hang_rate) {
            Fault::Hang
        } else if hit(self.fail_rate) {
            Fault::Status {
                status: self.fail_status,
                retry_after: self.retry_after.clone(),
            }
        } else if hit(self.slow_body_rate) {
            Fault::SlowBody
        } else {
            Fault::None
        };
        Plan {
            fault,
            latency,
            outage: false,
        }
    }
}

/// What the server does with one request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fault {
    /// Works for the latency, answers 200.
    None,
    /// Works for the latency, answers this status.
    Status {
        /// The status.
        status: u16,
        /// A `Retry-After` value to send with it.
        retry_after: Option<String>,
    },
    /// Works for the latency, then resets the connection without answering.
    Reset,
    /// Never answers, until the hang limit.
    Hang,
    /// Works for the latency, sends the headers, then the body slowly.
    SlowBody,
}

impl Fault {
    /// The fault's name in logs and counters.
    pub fn name(&self) -> &'static str {
        match self {
            Fault::None => "none",
            Fault::Status { .. } => "fail",
            Fault::Reset => "reset",
            Fault::Hang => "hang",
            Fault::SlowBody => "slow_body",
        }
    }
}

/// The decision for one request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    /// Which fault, if any.
    pub fault: Fault,
    /// How long to work before answering (zero in an outage).
    pub latency: Duration,
    /// True when the fault comes from an outage.
    pub outage: bool,
}

impl Latency {
    /// A latency from two uniform samples in `[0, 1)`.
    pub fn sample(&self, first: f64, second: f64) -> Duration {
        match *self {
            Latency::Fixed(latency) => latency,
            Latency::Uniform(low, high) => low + (high - low).mul_f64(first),
            Latency::Normal { mean, spread } => {
                // Box-Muller; 1 - first is in (0, 1], so the log is finite.
                let gaussian = (-2.0 * (1.0 - first).ln()).sqrt()
                    * (2.0 * std::f64::consts::PI * second).cos();
                let seconds = mean.as_secs_f64() + gaussian * spread.as_secs_f64();
                Duration::try_from_secs_f64(seconds.max(0.0)).unwrap_or(Duration::MAX)
            }
        }
    }
}

impl FromStr for Latency {
    type Err = FaultError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let bad = || FaultError::BadLatency(text.to_owned());
        if let Some(range) = text.strip_prefix("uniform:") {
            let (low, high) = range.split_once("..").ok_or_else(bad)?;
            let low = parse_duration(low).map_err(|_| bad())?;
            let high = parse_duration(high).map_err(|_| bad())?;
            if low > high {
                return Err(FaultError::LatencyOrder(text.to_owned()));
            }
            return Ok(Latency::Uniform(low, high));
        }
        if let Some(pair) = text.strip_prefix("normal:") {
            let (mean, spread) = pair.split_once(',').ok_or_else(bad)?;
            return Ok(Latency::Normal {
                mean: parse_duration(mean).map_err(|_| bad())?,
                spread: parse_duration(spread).map_err(|_| bad())?,
            });
        }
        match parse_duration(text) {
            Ok(latency) => Ok(Latency::Fixed(latency)),
            Err(DurationError::Negative(_)) => Err(FaultError::Duration(DurationError::Negative(
                text.to_owned(),
            ))),
            Err(_) => Err(bad()),
        }
    }
}

impl fmt::Display for Latency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Latency::Fixed(latency) => f.write_str(&format_duration(*latency)),
            Latency::Uniform(low, high) => write!(
                f,
                "uniform:{}..{}",
                format_duration(*low),
                format_duration(*high)
            ),
            Latency::Normal { mean, spread } => write!(
                f,
                "normal:{},{}",
                format_duration(*mean),
                format_duration(*spread)
            ),
        }
    }
}

impl FromStr for Outage {
    type Err = FaultError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let bad = || FaultError::BadOutage(text.to_owned());
        let (range, kind) = match text.split_once(':') {
            Some((range, kind)) => (range, Some(kind)),
            None => (text, None),
        };
        let (start, end) = range.split_once("..").ok_or_else(bad)?;
        let start = parse_duration(start).map_err(|_| bad())?;
        let end = parse_duration(end).map_err(|_| bad())?;
        if end <= start {
            return Err(FaultError::OutageOrder(text.to_owned()));
        }
        let kind = match kind.map(str::trim) {
            None => OutageKind::Status(503),
            Some("reset") => OutageKind::Reset,
            Some("refuse") => OutageKind::Refuse,
            Some(status) => OutageKind::Status(parse_status("outage", status).map_err(|_| bad())?),
        };
        Ok(Outage { start, end, kind })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(millis: u64) -> Duration {
        Duration::from_millis(millis)
    }

    const REQUESTS: u64 = 10_000;

    fn share(config: &FaultConfig, name: &str) -> f64 {
        let hits = (0..REQUESTS)
            .filter(|&request| config.plan(request, ms(0)).fault.name() == name)
            .count();
        hits as f64 / REQUESTS as f64
    }

    #[test]
    fn each_fault_comes_at_its_rate() {
        let config = FaultConfig {
            seed: 7,
            reset_rate: 0.1,
            hang_rate: 0.05,
            fail_rate: 0.2,
            slow_body_rate: 0.15,
            ..FaultConfig::default()
        };
        for (name, rate) in [
            ("reset", 0.1),
            ("hang", 0.05),
            ("fail", 0.2),
            ("slow_body", 0.15),
            ("none", 0.5),
        ] {
            let seen = share(&config, name);
            assert!((seen - rate).abs() < 0.02, "{name}: {seen} for {rate}");
        }
    }

    #[test]
    fn the_same_seed_and_order_give_the_same_faults() {
        let config = FaultConfig {
            seed: 42,
            fail_rate: 0.5,
            latency: "uniform:0ms..1s".parse().expect("a valid latency"),
            ..FaultConfig::default()
        };
        let plans = |config: &FaultConfig| -> Vec<Plan> {
            (0..100)
                .map(|request| config.plan(request, ms(0)))
                .collect()
        };
        assert_eq!(plans(&config), plans(&config));
        let other = FaultConfig {
            seed: 43,
            ..config.clone()
        };
        assert_ne!(plans(&config), plans(&other));
    }

    #[test]
    fn outages_override_every_other_fault() {
        let config = FaultConfig {
            hang_rate: 1.0,
            outages: vec![
                "1s..2s".parse().expect("an outage"),
                "3s..4s:reset".parse().expect("an outage"),
            ],
            retry_after: Some("1".into()),
            ..FaultConfig::default()
        };
        assert_eq!(config.plan(0, ms(500)).fault, Fault::Hang);
        let in_first = config.plan(0, ms(1500));
        assert!(in_first.outage);
        assert_eq!(
            in_first.fault,
            Fault::Status {
                status: 503,
                retry_after: Some("1".into())
            }
        );
        assert_eq!(
            config.plan(0, ms(2000)).fault,
            Fault::Hang,
            "the end is exclusive"
        );
        assert_eq!(config.plan(0, ms(3999)).fault, Fault::Reset);
        assert!(config.cuts_connections());
    }

    #[test]
    fn latencies_stay_in_their_distribution() {
        let uniform: Latency = "uniform:100ms..300ms".parse().expect("a valid latency");
        assert_eq!(uniform.sample(0.0, 0.5), ms(100));
        assert_eq!(uniform.sample(0.5, 0.5), ms(200));
        let normal: Latency = "normal:500ms,100ms".parse().expect("a valid latency");
        let samples: Vec<f64> = (0..2000)
            .map(|i| {
                let mut rng = fastrand::Rng::with_seed(i);
                normal.sample(rng.f64(), rng.f64()).as_secs_f64()
            })
            .collect();
        let mean = samples.iter().sum::<f64>() / samples.len() as f64;
        assert!((mean - 0.5).abs() < 0.01, "mean {mean}");
        let wide: Latency = "normal:10ms,1s".parse().expect("a valid latency");
        assert!((0..100).all(|i| {
            let mut rng = fastrand::Rng::with_seed(i);
            wide.sample(rng.f64(), rng.f64()) >= Duration::ZERO
        }));
        assert_eq!("2".parse::<Latency>(), Ok(Latency::Fixed(ms(2000))));
    }

    #[test]
    fn bad_settings_are_named() {
        for text in [
            "uniform:1s",
            "uniform:a..b",
            "normal:1s",
            "gaussian:1s,2s",
            "soon",
        ] {
            assert_eq!(
                text.parse::<Latency>(),
                Err(FaultError::BadLatency(text.into())),
                "{text}"
            );
        }
        assert!(matches!(
            "uniform:2s..1s".parse::<Latency>(),
            Err(FaultError::LatencyOrder(_))
        ));
        assert!(matches!(
            "-1s".parse::<Latency>(),
            Err(FaultError::Duration(_))
        ));
        for text in ["5s", "5s..x", "a..8s", "5s..8s:teapot", "5s..8s:999"] {
            assert_eq!(
                text.parse::<Outage>(),
                Err(FaultError::BadOutage(text.into())),
                "{text}"
            );
        }
        assert!(matches!(
            "8s..5s".parse::<Outage>(),
            Err(FaultError::OutageOrder(_))
        ));
        assert!(parse_rate("fail-rate", "1.5").is_err());
        assert!(parse_rate("fail-rate", "-0.1").is_err());
        assert!(parse_rate("fail-rate", "NaN").is_err());
        assert_eq!(parse_rate("fail-rate", "0.25"), Ok(0.25));
        for status in ["600", "99", "200", "204", "301", "abc"] {
            assert!(parse_status("fail-status", status).is_err(), "{status}");
        }
        assert_eq!(parse_status("fail-status", "429"), Ok(429));
        assert!("1s..2s:200".parse::<Outage>().is_err());
        let too_much = FaultConfig {
            reset_rate: 0.6,
            fail_rate: 0.6,
            ..FaultConfig::default()
        };
        assert!(matches!(
            too_much.validate(),
            Err(FaultError::RatesOverOne(_))
        ));
        let junk_retry_after = FaultConfig {
            retry_after: Some("later".into()),
            ..FaultConfig::default()
        };
        assert!(matches!(
            junk_retry_after.validate(),
            Err(FaultError::BadRetryAfter(_))
        ));
    }
}
