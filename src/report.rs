//! The summary of a run, computed from its events alone: counts, latency
//! percentiles, and the run's score against the best it could have done.
//!
//! Percentiles use the nearest-rank method: the p-th percentile of n sorted
//! values is the value at rank ⌈p/100 × n⌉, so it is always a measured value.

use crate::duration::format_duration;
use crate::events::{AttemptEvent, RunRecord};
use crate::outcome::AttemptClass;
use crate::request::RequestEnd;
use serde::Serialize;
use std::collections::BTreeMap;
use std::fmt;
use std::num::NonZeroUsize;
use std::time::{Duration, SystemTime};

/// The limits a run ran against, when it knows them: what the ideal is
/// computed from.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Limits {
    /// Requests a second the target allows (haproxy's `RATE_LIMIT`).
    pub rate: Option<f64>,
    /// Requests the target works on at once (haproxy's `MAX_CONN`).
    pub concurrency: Option<NonZeroUsize>,
    /// How long one request takes at the server.
    pub duration: Duration,
}

impl Limits {
    /// The least time `requests` requests can take under these limits: with
    /// a rate, evenly spaced starts 1/rate apart and the last one taking
    /// `duration`; with a concurrency, ⌈requests / concurrency⌉ rounds of
    /// `duration`; the larger of the two when both are known.
    pub fn ideal(&self, requests: usize) -> Duration {
        let mut ideal = self.duration;
        if let Some(rate) = self.rate.filter(|rate| rate.is_finite() && *rate > 0.0) {
            let spacing = Duration::try_from_secs_f64(requests.saturating_sub(1) as f64 / rate)
                .unwrap_or(Duration::MAX);
            ideal = ideal.max(spacing.saturating_add(self.duration));
        }
        if let Some(concurrency) = self.concurrency {
            let rounds = requests.div_ceil(concurrency.get());
            ideal = ideal.max(self.duration.saturating_mul(rounds as u32));
        }
        ideal
    }
}

/// Latency percentiles of a set of requests.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Latencies {
    /// Half the requests took at most this long.
    pub p50: Duration,
    /// Nine in ten took at most this long.
    pub p90: Duration,
    /// 99 in 100 took at most this long.
    pub p99: Duration,
    /// The slowest.
    pub max: Duration,
}

impl Latencies {
    /// Percentiles of `samples` by nearest rank; `None` when there are none.
    pub fn of(mut samples: Vec<Duration>) -> Option<Latencies> {
        if samples.is_empty() {
            return None;
        }
        samples.sort_unstable();
        let rank = |percent: usize| {
            let rank = (percent * samples.len()).div_ceil(100).max(1);
            samples[rank - 1]
        };
        Some(Latencies {
            p50: rank(50),
            p90: rank(90),
            p99: rank(99),
            max: samples[samples.len() - 1],
        })
    }
}

/// A run measured against its ideal.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Score {
    /// The limits the ideal assumes.
    pub limits: Limits,
    /// The least time the run could have taken.
    pub ideal: Duration,
    /// Elapsed time over the ideal: 1 is the best possible.
    pub ratio: f64,
}

/// Counts, rates and latencies of one run.
#[derive(Debug, Clone, PartialEq)]
pub struct Summary {
    /// Requests the run was asked to make.
    pub requests: usize,
    /// Requests whose last attempt got a 2xx.
    pub succeeded: usize,
    /// Requests that ended without a 2xx, by the class of their last attempt.
    pub failed_by_class: BTreeMap<AttemptClass, usize>,
    /// Requests that never made an attempt (a run stopped early).
    pub not_started: usize,
    /// Failed requests that stopped retrying for a reason worth naming
    /// (retries exhausted, budget exhausted, ...), by [`RequestEnd::name`].
    pub gave_up: BTreeMap<&'static str, usize>,
    /// Attempts made, first attempts and retries together.
    pub attempts: usize,
    /// Attempts after the first of their request.
    pub retries: usize,
    /// Every attempt, by class.
    pub attempts_by_class: BTreeMap<AttemptClass, usize>,
    /// Retries, by the class of the attempt that caused them.
    pub retries_by_cause: BTreeMap<AttemptClass, usize>,
    /// The most attempts one request made.
    pub max_attempts: usize,
    /// Time spent sleeping in backoff, all requests together.
    pub backoff: Duration,
    /// From the start of the run until its last request ended.
    pub elapsed: Duration,
    /// Attempt starts per second between the first and the last start;
    /// `None` with fewer than two starts or when all came at one instant.
    pub start_rate: Option<f64>,
    /// From the first attempt's start to the last one's.
    pub start_span: Duration,
    /// Latency of the requests that succeeded, from their first attempt's
    /// start to their last attempt's end.
    pub latency: Option<Latencies>,
    /// The same, from when the scheduler meant the first attempt to go:
    /// waiting inside the client for a permit or a slot counts too (the
    /// correction for coordinated omission).
    pub latency_from_intended: Option<Latencies>,
    /// The score against the ideal, when the limits are known.
    pub score: Option<Score>,
    /// Wall-clock time at the start of the run.
    pub started_at: SystemTime,
}

impl Summary {
    /// Summarises a finished run; `limits`, when known, give it a score.
    pub fn of(record: &RunRecord, limits: Option<Limits>) -> Summary {
        let mut succeeded = 0;
        let mut failed_by_class = BTreeMap::new();
        let mut started = 0;
        let mut max_attempts = 0;
        let mut latency = Vec::new();
        let mut latency_from_intended = Vec::new();
        let mut retries_by_cause = BTreeMap::new();
        for attempts in record.requests() {
            started += 1;
            max_attempts = max_attempts.max(attempts.len());
            let (first, last) = (&attempts[0], &attempts[attempts.len() - 1]);
            if last.outcome.is_success() {
                succeeded += 1;
                latency.push(last.end.saturating_sub(first.start));
                latency_from_intended.push(last.end.saturating_sub(first.intended_start));
            } else {
                *failed_by_class.entry(last.outcome.class()).or_insert(0) += 1;
            }
            for cause in attempts.windows(2).map(|pair| pair[0].outcome.class()) {
                *retries_by_cause.entry(cause).or_insert(0) += 1;
            }
        }
        let mut attempts_by_class = BTreeMap::new();
        for event in &record.events {
            *attempts_by_class.entry(event.outcome.class()).or_insert(0) += 1;
        }
        let mut gave_up = BTreeMap::new();
        for end in &record.ends {
            if !matches!(
                end,
                RequestEnd::Succeeded | RequestEnd::Failed | RequestEnd::NotStarted
            ) {
                *gave_up.entry(end.name()).or_insert(0) += 1;
            }
        }
        let attempts = record.events.len();
        let score = limits.map(|limits| {
            let ideal = limits.ideal(record.num_requests);
            Score {
                limits,
                ideal,
                ratio: ratio(record.elapsed, ideal),
            }
        });
        Summary {
            requests: record.num_requests,
            succeeded,
            failed_by_class,
            not_started: record.num_requests.saturating_sub(started),
            gave_up,
            attempts,
            retries: attempts.saturating_sub(started),
            attempts_by_class,
            retries_by_cause,
            max_attempts,
            backoff: record.events.iter().map(|e| e.backoff_before).sum(),
            elapsed: record.elapsed,
            start_rate: start_rate(&record.events),
            start_span: start_span(&record.events),
            latency: Latencies::of(latency),
            latency_from_intended: Latencies::of(latency_from_intended),
            score,
            started_at: record.started_at,
        }
    }

    /// Requests that ended without a 2xx.
    pub fn failed(&self) -> usize {
        self.failed_by_class.values().sum()
    }

    /// True when every request succeeded.
    pub fn all_succeeded(&self) -> bool {
        self.succeeded == self.requests
    }

    /// Attempts that got no 2xx: the ones a limit or a fault turned away.
    pub fn rejected(&self) -> usize {
        self.attempts_by_class
            .iter()
            .filter(|(class, _)| **class != AttemptClass::Ok)
            .map(|(_, count)| count)
            .sum()
    }

    /// Attempts per request asked for: what the run cost the server, 1 at best.
    pub fn amplification(&self) -> f64 {
        self.attempts as f64 / self.requests.max(1) as f64
    }

    /// Mean attempts per request that started.
    pub fn attempts_per_request(&self) -> f64 {
        let started = self.requests - self.not_started;
        self.attempts as f64 / started.max(1) as f64
    }

    /// The report as JSON, in the schema of `docs/report.schema.json`.
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::to_value(JsonReport::from(self)).unwrap_or(serde_json::Value::Null)
    }
}

fn ratio(elapsed: Duration, ideal: Duration) -> f64 {
    if ideal.is_zero() {
        return f64::INFINITY;
    }
    elapsed.as_secs_f64() / ideal.as_secs_f64()
}

fn start_span(events: &[AttemptEvent]) -> Duration {
    let first = events.iter().map(|e| e.start).min();
    let last = events.iter().map(|e| e.start).max();
    match (first, last) {
        (Some(first), Some(last)) => last - first,
        _ => Duration::ZERO,
    }
}

fn start_rate(events: &[AttemptEvent]) -> Option<f64> {
    let span = start_span(events).as_secs_f64();
    (events.len() >= 2 && span > 0.0).then(|| (events.len() - 1) as f64 / span)
}

/// How the summary names a reason to give up.
fn gave_up_label(reason: &str) -> String {
    match reason {
        "retry_after_too_long" => "Retry-After too long".to_owned(),
        other => other.replace('_', " "),
    }
}

fn counts<K: fmt::Display>(map: &BTreeMap<K, usize>) -> String {
    map.iter()
        .map(|(key, count)| format!("{key} {count}"))
        .collect::<Vec<_>>()
        .join(", ")
}

impl fmt::Display for Latencies {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "p50 {}, p90 {}, p99 {}, max {}",
            format_duration(self.p50),
            format_duration(self.p90),
            format_duration(self.p99),
            format_duration(self.max)
        )
    }
}

impl fmt::Display for Limits {
    /// `at 3/s, 2s each` and the like.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut parts = Vec::new();
        if let Some(rate) = self.rate {
            parts.push(format!("at {rate}/s"));
        }
        if let Some(concurrency) = self.concurrency {
            parts.push(format!("{concurrency} at a time"));
        }
        parts.push(format!("{} each", format_duration(self.duration)));
        f.write_str(&parts.join(", "))
    }
}

impl fmt::Display for Summary {
    /// Lines for people, for example:
    ///
    /// ```text
    /// requests: 4, succeeded: 4, failed: 0
    /// attempts: 6, retries: 2, per request: 1.50 mean, 3 max
    /// attempts by class: ok 4, reset 2
    /// retries by cause: reset 2
    /// elapsed: 4.52s, start rate: 1.98/s, backing off: 2.52s in all
    /// latency from start: p50 2s, p90 4.52s, p99 4.52s, max 4.52s
    /// latency from intended start: p50 2s, p90 4.52s, p99 4.52s, max 4.52s
    /// ideal: 3s (4 requests at 3/s, 2s each); elapsed/ideal 1.51, attempts/N 1.50
    /// ```
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "requests: {}, succeeded: {}, failed: {}",
            self.requests,
            self.succeeded,
            self.failed()
        )?;
        if !self.failed_by_class.is_empty() {
            let classes: Vec<String> = self
                .failed_by_class
                .iter()
                .map(|(class, count)| format!("{class}: {count}"))
                .collect();
            write!(f, " ({})", classes.join(", "))?;
        }
        if self.not_started > 0 {
            write!(f, ", not started: {}", self.not_started)?;
        }
        writeln!(f)?;
        if !self.gave_up.is_empty() {
            let reasons: Vec<String> = self
                .gave_up
                .iter()
                .map(|(reason, count)| format!("{count} {}", gave_up_label(reason)))
                .collect();
            writeln!(f, "gave up: {}", reasons.join(", "))?;
        }
        write!(f, "attempts: {}, retries: {}", self.attempts, self.retries)?;
        if self.attempts > 0 {
            write!(
                f,
                ", per request: {:.2} mean, {} max",
                self.attempts_per_request(),
                self.max_attempts
            )?;
        }
        writeln!(f)?;
        if !self.attempts_by_class.is_empty() {
            writeln!(f, "attempts by class: {}", counts(&self.attempts_by_class))?;
        }
        if !self.retries_by_cause.is_empty() {
            writeln!(f, "retries by cause: {}", counts(&self.retries_by_cause))?;
        }
        write!(
            f,
            "elapsed: {}, start rate: ",
            format_duration(self.elapsed)
        )?;
        // Starts closer together than this have no rate worth printing.
        const RATE_SPAN: Duration = Duration::from_millis(100);
        match self.start_rate {
            Some(rate) if self.start_span >= RATE_SPAN => write!(f, "{rate:.2}/s")?,
            _ if self.attempts > 1 => write!(
                f,
                "{} starts within {}",
                self.attempts,
                format_duration(self.start_span)
            )?,
            _ => f.write_str("n/a")?,
        }
        if !self.backoff.is_zero() {
            write!(f, ", backing off: {} in all", format_duration(self.backoff))?;
        }
        if let Some(latency) = &self.latency {
            write!(f, "\nlatency from start: {latency}")?;
        }
        if let Some(latency) = &self.latency_from_intended {
            write!(f, "\nlatency from intended start: {latency}")?;
        }
        if let Some(score) = &self.score {
            write!(
                f,
                "\nideal: {} ({} requests {}); elapsed/ideal {:.2}, attempts/N {:.2}",
                format_duration(score.ideal),
                self.requests,
                score.limits,
                score.ratio,
                self.amplification()
            )?;
        }
        Ok(())
    }
}

/// The JSON form of a [`Summary`]: field names carry their units, and the
/// `schema` field names the version of `docs/report.schema.json`.
#[derive(Debug, Serialize)]
struct JsonReport {
    schema: &'static str,
    started_at: String,
    requests: usize,
    succeeded: usize,
    failed: usize,
    not_started: usize,
    failed_by_class: BTreeMap<String, usize>,
    gave_up: BTreeMap<&'static str, usize>,
    attempts: usize,
    retries: usize,
    rejected_attempts: usize,
    attempts_by_class: BTreeMap<String, usize>,
    retries_by_cause: BTreeMap<String, usize>,
    attempts_per_request_mean: f64,
    attempts_per_request_max: usize,
    backoff_total_s: f64,
    elapsed_s: f64,
    start_rate_per_s: Option<f64>,
    latency_ms: Option<JsonLatencies>,
    latency_from_intended_ms: Option<JsonLatencies>,
    ideal: Option<JsonScore>,
    work_amplification: f64,
}

#[derive(Debug, Serialize)]
struct JsonLatencies {
    p50: f64,
    p90: f64,
    p99: f64,
    max: f64,
}

#[derive(Debug, Serialize)]
struct JsonScore {
    elapsed_s: f64,
    ratio: Option<f64>,
    rate_per_s: Option<f64>,
    concurrency: Option<usize>,
    duration_s: f64,
}

/// The schema version in every JSON report.
pub const REPORT_SCHEMA: &str = "concurrent-http-client/report/v1";

fn millis(duration: Duration) -> f64 {
    duration.as_micros() as f64 / 1000.0
}

fn by_name(map: &BTreeMap<AttemptClass, usize>) -> BTreeMap<String, usize> {
    map.iter()
        .map(|(class, count)| (class.to_string(), *count))
        .collect()
}

impl From<&Latencies> for JsonLatencies {
    fn from(latencies: &Latencies) -> Self {
        JsonLatencies {
            p50: millis(latencies.p50),
            p90: millis(latencies.p90),
            p99: millis(latencies.p99),
            max: millis(latencies.max),
        }
    }
}

impl From<&Summary> for JsonReport {
    fn from(summary: &Summary) -> Self {
        JsonReport {
            schema: REPORT_SCHEMA,
            started_at: humantime::format_rfc3339_millis(summary.started_at).to_string(),
            requests: summary.requests,
            succeeded: summary.succeeded,
            failed: summary.failed(),
            not_started: summary.not_started,
            failed_by_class: by_name(&summary.failed_by_class),
            gave_up: summary.gave_up.clone(),
            attempts: summary.attempts,
            retries: summary.retries,
            rejected_attempts: summary.rejected(),
            attempts_by_class: by_name(&summary.attempts_by_class),
            retries_by_cause: by_name(&summary.retries_by_cause),
            attempts_per_request_mean: summary.attempts_per_request(),
            attempts_per_request_max: summary.max_attempts,
            backoff_total_s: summary.backoff.as_secs_f64(),
            elapsed_s: summary.elapsed.as_secs_f64(),
            start_rate_per_s: summary.start_rate,
            latency_ms: summary.latency.as_ref().map(JsonLatencies::from),
            latency_from_intended_ms: summary
                .latency_from_intended
                .as_ref()
                .map(JsonLatencies::from),
            ideal: summary.score.as_ref().map(|score| JsonScore {
                elapsed_s: score.ideal.as_secs_f64(),
                ratio: score.ratio.is_finite().then_some(score.ratio),
                rate_per_s: score.limits.rate,
                concurrency: score.limits.concurrency.map(NonZeroUsize::get),
                duration_s: score.limits.duration.as_secs_f64(),
            }),
            work_amplification: summary.amplification(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::outcome::{ErrorClass, Outcome};

    fn ms(millis: u64) -> Duration {
        Duration::from_millis(millis)
    }

    fn event(
        request: usize,
        attempt: u32,
        start_ms: u64,
        end_ms: u64,
        outcome: Outcome,
    ) -> AttemptEvent {
        AttemptEvent {
            request,
            attempt,
            intended_start: ms(0),
            start: ms(start_ms),
            end: ms(end_ms),
            outcome,
            backoff_before: Duration::ZERO,
        }
    }

    fn ok() -> Outcome {
        Outcome::status_only(200)
    }

    fn reset() -> Outcome {
        Outcome::failed(ErrorClass::Reset, "connection reset by peer")
    }

    fn record(
        num_requests: usize,
        events: Vec<AttemptEvent>,
        ends: Vec<RequestEnd>,
        elapsed_ms: u64,
    ) -> RunRecord {
        RunRecord {
            num_requests,
            events,
            ends,
            started_at: SystemTime::UNIX_EPOCH,
            elapsed: ms(elapsed_ms),
        }
    }

    /// The exploration's retry scenario, scripted: four requests at once,
    /// one reset twice before it gets through.
    fn retry_scenario() -> RunRecord {
        let mut retry_1 = event(3, 1, 900, 901, reset());
        retry_1.backoff_before = ms(899);
        retry_1.intended_start = ms(900);
        let mut retry_2 = event(3, 2, 2500, 4500, ok());
        retry_2.backoff_before = ms(1599);
        retry_2.intended_start = ms(2500);
        record(
            4,
            vec![
                event(0, 0, 0, 2000, ok()),
                event(1, 0, 0, 2000, ok()),
                event(2, 0, 0, 2000, ok()),
                event(3, 0, 0, 1, reset()),
                retry_1,
                retry_2,
            ],
            vec![RequestEnd::Succeeded; 4],
            4500,
        )
    }

    #[test]
    fn counts_attempts_retries_causes_and_backoff() {
        let summary = Summary::of(&retry_scenario(), None);
        assert_eq!(summary.requests, 4);
        assert_eq!(summary.succeeded, 4);
        assert_eq!(summary.attempts, 6);
        assert_eq!(summary.retries, 2);
        assert_eq!(summary.rejected(), 2);
        assert_eq!(summary.max_attempts, 3);
        assert_eq!(summary.attempts_per_request(), 1.5);
        assert_eq!(summary.backoff, ms(2498));
        let reset = AttemptClass::Error(ErrorClass::Reset);
        assert_eq!(summary.retries_by_cause, BTreeMap::from([(reset, 2)]));
        assert_eq!(
            summary.attempts_by_class,
            BTreeMap::from([(AttemptClass::Ok, 4), (reset, 2)])
        );
    }

    #[test]
    fn latency_is_measured_from_the_start_and_from_the_intended_start() {
        let mut record = retry_scenario();
        // Request 0 waited 500 ms inside the client before it went.
        record.events[0].start = ms(500);
        record.events[0].end = ms(2500);
        let summary = Summary::of(&record, None);
        let from_start = summary.latency.expect("some succeeded");
        let from_intended = summary.latency_from_intended.expect("some succeeded");
        // Latencies from the start: 2000, 2000, 2000, 4500.
        assert_eq!(from_start.p50, ms(2000));
        assert_eq!(from_start.max, ms(4500));
        // From the intended start: 2500, 2000, 2000, 4500.
        assert_eq!(from_intended.p50, ms(2000));
        assert_eq!(from_intended.p90, ms(4500));
        assert!(from_intended.p50 >= from_start.p50);
    }

    #[test]
    fn percentiles_of_a_known_distribution() {
        // 1 ms to 1000 ms, shuffled.
        let mut samples: Vec<Duration> = (1..=1000).map(ms).collect();
        fastrand::Rng::with_seed(3).shuffle(&mut samples);
        let latencies = Latencies::of(samples).expect("samples");
        assert_eq!(latencies.p50, ms(500));
        assert_eq!(latencies.p90, ms(900));
        assert_eq!(latencies.p99, ms(990));
        assert_eq!(latencies.max, ms(1000));
        let one = Latencies::of(vec![ms(7)]).expect("one sample");
        assert_eq!((one.p50, one.p99, one.max), (ms(7), ms(7), ms(7)));
        assert_eq!(Latencies::of(Vec::new()), None);
    }

    #[test]
    fn the_ideal_is_the_tighter_of_the_rate_and_the_capacity_bound() {
        let s = Duration::from_secs;
        let rate = Limits {
            rate: Some(3.0),
            concurrency: None,
            duration: s(2),
        };
        // 30 starts a third of a second apart: the last at 9 2/3 s, done at 11 2/3 s.
        assert_eq!(rate.ideal(30), Duration::from_secs_f64(29.0 / 3.0) + s(2));
        assert_eq!(rate.ideal(1), s(2));
        let capacity = Limits {
            rate: None,
            concurrency: NonZeroUsize::new(3),
            duration: s(2),
        };
        assert_eq!(capacity.ideal(4), s(4), "two rounds of three");
        assert_eq!(capacity.ideal(3), s(2));
        let both = Limits {
            rate: Some(10.0),
            concurrency: NonZeroUsize::new(2),
            duration: s(1),
        };
        assert_eq!(both.ideal(10), s(5), "five rounds beat 0.9 s + 1 s");
        let neither = Limits {
            rate: None,
            concurrency: None,
            duration: ms(300),
        };
        assert_eq!(neither.ideal(100), ms(300));
    }

    #[test]
    fn a_scored_run_reports_its_ratio_and_amplification() {
        let limits = Limits {
            rate: Some(3.0),
            concurrency: None,
            duration: Duration::from_secs(2),
        };
        let summary = Summary::of(&retry_scenario(), Some(limits));
        let score = summary.score.expect("limits were given");
        assert_eq!(score.ideal, Duration::from_secs(3));
        assert_eq!(score.ratio, 1.5);
        assert_eq!(summary.amplification(), 1.5);
        assert_eq!(
            summary.to_string(),
            "requests: 4, succeeded: 4, failed: 0\n\
             attempts: 6, retries: 2, per request: 1.50 mean, 3 max\n\
             attempts by class: ok 4, reset 2\n\
             retries by cause: reset 2\n\
             elapsed: 4.5s, start rate: 2.00/s, backing off: 2.5s in all\n\
             latency from start: p50 2s, p90 4.5s, p99 4.5s, max 4.5s\n\
             latency from intended start: p50 2s, p90 4.5s, p99 4.5s, max 4.5s\n\
             ideal: 3s (4 requests at 3/s, 2s each); elapsed/ideal 1.50, attempts/N 1.50"
        );
    }

    #[test]
    fn failures_and_early_stops_are_counted_by_last_attempt_and_end() {
        let record = record(
            4,
            vec![
                event(0, 0, 0, 100, ok()),
                event(1, 0, 0, 1, reset()),
                event(1, 1, 1000, 1100, Outcome::status_only(503)),
                event(2, 0, 0, 1, reset()),
            ],
            vec![
                RequestEnd::Succeeded,
                RequestEnd::RetriesExhausted,
                RequestEnd::Failed,
                RequestEnd::NotStarted,
            ],
            1100,
        );
        let summary = Summary::of(&record, None);
        assert_eq!(summary.failed(), 2);
        assert_eq!(summary.not_started, 1);
        assert_eq!(
            summary.to_string(),
            "requests: 4, succeeded: 1, failed: 2 (http_503: 1, reset: 1), not started: 1\n\
             gave up: 1 retries exhausted\n\
             attempts: 4, retries: 1, per request: 1.33 mean, 2 max\n\
             attempts by class: ok 1, http_503 1, reset 2\n\
             retries by cause: reset 1\n\
             elapsed: 1.1s, start rate: 3.00/s\n\
             latency from start: p50 100ms, p90 100ms, p99 100ms, max 100ms\n\
             latency from intended start: p50 100ms, p90 100ms, p99 100ms, max 100ms"
        );
    }

    #[test]
    fn starts_close_together_have_no_rate() {
        let record = record(
            3,
            vec![
                event(0, 0, 0, 5, ok()),
                event(1, 0, 1, 5, ok()),
                event(2, 0, 2, 5, ok()),
            ],
            vec![RequestEnd::Succeeded; 3],
            5,
        );
        let text = Summary::of(&record, None).to_string();
        assert!(
            text.contains("elapsed: 5ms, start rate: 3 starts within 2ms"),
            "{text}"
        );
    }

    #[test]
    fn the_json_report_carries_units_in_its_names() {
        let limits = Limits {
            rate: Some(3.0),
            concurrency: None,
            duration: Duration::from_secs(2),
        };
        let json = Summary::of(&retry_scenario(), Some(limits)).to_json();
        assert_eq!(json["schema"], REPORT_SCHEMA);
        assert_eq!(json["started_at"], "1970-01-01T00:00:00.000Z");
        assert_eq!(json["elapsed_s"], 4.5);
        assert_eq!(json["latency_ms"]["p50"], 2000.0);
        assert_eq!(json["ideal"]["elapsed_s"], 3.0);
        assert_eq!(json["ideal"]["ratio"], 1.5);
        assert_eq!(json["retries_by_cause"]["reset"], 2);
        assert_eq!(json["rejected_attempts"], 2);
        assert_eq!(json["work_amplification"], 1.5);
    }
}
