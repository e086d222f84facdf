//! The summary of a run, computed from its events alone.

use crate::duration::format_duration;
use crate::events::RunRecord;
use crate::outcome::AttemptClass;
use crate::request::RequestEnd;
use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;

/// Counts and rates of one run.
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
    /// From the start of the run until its last request ended.
    pub elapsed: Duration,
    /// Attempt starts per second between the first and the last start;
    /// `None` with fewer than two starts or when all came at one instant.
    pub start_rate: Option<f64>,
    /// From the first attempt's start to the last one's.
    pub start_span: Duration,
}

impl Summary {
    /// Summarises a finished run.
    pub fn of(record: &RunRecord) -> Summary {
        let mut succeeded = 0;
        let mut failed_by_class = BTreeMap::new();
        let mut started = 0;
        for attempts in record.requests() {
            started += 1;
            let last = &attempts[attempts.len() - 1];
            if last.outcome.is_success() {
                succeeded += 1;
            } else {
                *failed_by_class.entry(last.outcome.class()).or_insert(0) += 1;
            }
        }
        let attempts = record.events.len();
        let mut gave_up = BTreeMap::new();
        for end in &record.ends {
            if !matches!(
                end,
                RequestEnd::Succeeded | RequestEnd::Failed | RequestEnd::NotStarted
            ) {
                *gave_up.entry(end.name()).or_insert(0) += 1;
            }
        }
        Summary {
            requests: record.num_requests,
            succeeded,
            failed_by_class,
            not_started: record.num_requests.saturating_sub(started),
            gave_up,
            attempts,
            retries: attempts.saturating_sub(started),
            elapsed: record.elapsed,
            start_rate: start_rate(record),
            start_span: start_span(record),
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
}

fn start_span(record: &RunRecord) -> Duration {
    let first = record.events.iter().map(|e| e.start).min();
    let last = record.events.iter().map(|e| e.start).max();
    match (first, last) {
        (Some(first), Some(last)) => last - first,
        _ => Duration::ZERO,
    }
}

fn start_rate(record: &RunRecord) -> Option<f64> {
    let span = start_span(record).as_secs_f64();
    (record.events.len() >= 2 && span > 0.0).then(|| (record.events.len() - 1) as f64 / span)
}

impl fmt::Display for Summary {
    /// Three lines for people, for example:
    ///
    /// ```text
    /// requests: 4, succeeded: 3, failed: 1 (reset: 1)
    /// attempts: 4, retries: 0
    /// elapsed: 2.01s, start rate: 3.00/s
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
                .map(|(reason, count)| format!("{count} {}", reason.replace('_', " ")))
                .collect();
            writeln!(f, "gave up: {}", reasons.join(", "))?;
        }
        writeln!(f, "attempts: {}, retries: {}", self.attempts, self.retries)?;
        write!(
            f,
            "elapsed: {}, start rate: ",
            format_duration(self.elapsed)
        )?;
        // Starts closer together than this have no rate worth printing.
        const RATE_SPAN: Duration = Duration::from_millis(100);
        match self.start_rate {
            Some(rate) if self.start_span >= RATE_SPAN => write!(f, "{rate:.2}/s"),
            _ if self.attempts > 1 => write!(
                f,
                "{} starts within {}",
                self.attempts,
                format_duration(self.start_span)
            ),
            _ => f.write_str("n/a"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::events::AttemptEvent;
    use crate::outcome::{ErrorClass, Outcome};
    use std::time::SystemTime;

    fn ms(millis: u64) -> Duration {
        Duration::from_millis(millis)
    }

    fn event(request: usize, attempt: u32, start_ms: u64, outcome: Outcome) -> AttemptEvent {
        AttemptEvent {
            request,
            attempt,
            intended_start: ms(start_ms),
            start: ms(start_ms),
            end: ms(start_ms + 100),
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

    fn record(num_requests: usize, events: Vec<AttemptEvent>, elapsed_ms: u64) -> RunRecord {
        RunRecord {
            num_requests,
            ends: vec![RequestEnd::Failed; num_requests],
            events,
            started_at: SystemTime::UNIX_EPOCH,
            elapsed: ms(elapsed_ms),
        }
    }

    #[test]
    fn counts_requests_by_their_last_attempt() {
        let mut record = record(
            4,
            vec![
                event(0, 0, 0, ok()),
                event(1, 0, 0, reset()),
                event(1, 1, 1000, ok()),
                event(2, 0, 1500, reset()),
                event(2, 1, 2000, Outcome::status_only(503)),
            ],
            2100,
        );
        record.ends = vec![
            RequestEnd::Succeeded,
            RequestEnd::Succeeded,
            RequestEnd::RetriesExhausted,
            RequestEnd::NotStarted,
        ];
        let summary = Summary::of(&record);
        assert_eq!(summary.requests, 4);
        assert_eq!(summary.succeeded, 2);
        assert_eq!(summary.failed(), 1);
        assert_eq!(summary.not_started, 1);
        assert_eq!(summary.attempts, 5);
        assert_eq!(summary.retries, 2);
        assert_eq!(summary.start_rate, Some(2.0)); // 4 gaps over 2 s
        assert!(!summary.all_succeeded());
        assert_eq!(
            summary.to_string(),
            "requests: 4, succeeded: 2, failed: 1 (http_503: 1), not started: 1\n\
             gave up: 1 retries exhausted\n\
             attempts: 5, retries: 2\n\
             elapsed: 2.1s, start rate: 2.00/s"
        );
    }

    #[test]
    fn starts_at_one_instant_have_no_rate() {
        let summary = Summary::of(&record(
            4,
            vec![
                event(0, 0, 0, ok()),
                event(1, 0, 0, ok()),
                event(2, 0, 0, ok()),
                event(3, 0, 0, reset()),
            ],
            2000,
        ));
        assert_eq!(summary.start_rate, None);
        assert_eq!(
            summary.to_string(),
            "requests: 4, succeeded: 3, failed: 1 (reset: 1)\n\
             attempts: 4, retries: 0\n\
             elapsed: 2s, start rate: 4 starts within 0ms"
        );
    }
}
