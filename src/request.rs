//! One request's life in its own thread: attempt, record, decide, back off,
//! go again, until it succeeds or a rule says stop.

use crate::backoff::RetryPolicy;
use crate::budget::{BudgetConfig, RetryBudget};
use crate::cancel::Cancel;
use crate::duration::format_duration;
use crate::events::{AttemptEvent, Clock, Record};
use crate::outcome::Outcome;
use crate::rate::RateTicker;
use crate::retry_after::RetryAfter;
use crate::retry_on::RetryOn;
use crossbeam_channel::Sender;
use log::{debug, info};
use std::fmt;
use std::time::{Duration, SystemTime};

/// When and how a run retries.
#[derive(Debug, Clone)]
pub struct RetryConfig {
    /// How many retries, and the backoff between them. Defaults to
    /// [`RetryPolicy::default`].
    pub policy: RetryPolicy,
    /// Which outcomes are retried. Defaults to [`RetryOn::default`].
    pub retry_on: RetryOn,
    /// The longest a request may take, all its attempts and backoff
    /// together; no retry starts that would end past it, and the last
    /// attempt's timeout is cut to what is left. Defaults to `None`.
    pub max_elapsed: Option<Duration>,
    /// The longest `Retry-After` wait the client accepts; a longer one fails
    /// the request at once. Defaults to 30 s.
    pub max_retry_after: Duration,
    /// A run-wide retry budget. Defaults to `None`: no budget.
    pub budget: Option<BudgetConfig>,
}

impl Default for RetryConfig {
    fn default() -> Self {
        RetryConfig {
            policy: RetryPolicy::default(),
            retry_on: RetryOn::default(),
            max_elapsed: None,
            max_retry_after: Duration::from_secs(30),
            budget: None,
        }
    }
}

/// Why a request stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[non_exhaustive]
pub enum RequestEnd {
    /// It got a 2xx.
    Succeeded,
    /// It failed in a way not worth retrying, or retry was off.
    Failed,
    /// It used every retry `--max-retries` allows.
    RetriesExhausted,
    /// The retry budget refused its next retry.
    BudgetExhausted,
    /// The server asked it to wait longer than `--max-retry-after`.
    RetryAfterTooLong(Duration),
    /// Its next retry would have ended past `--max-elapsed`.
    DeadlineExceeded,
    /// The run was stopped during its backoff.
    Interrupted,
    /// The run was stopped before it began.
    NotStarted,
}

impl RequestEnd {
    /// A short name for reports and JSON.
    pub fn name(self) -> &'static str {
        match self {
            RequestEnd::Succeeded => "succeeded",
            RequestEnd::Failed => "failed",
            RequestEnd::RetriesExhausted => "retries_exhausted",
            RequestEnd::BudgetExhausted => "budget_exhausted",
            RequestEnd::RetryAfterTooLong(_) => "retry_after_too_long",
            RequestEnd::DeadlineExceeded => "deadline_exceeded",
            RequestEnd::Interrupted => "interrupted",
            RequestEnd::NotStarted => "not_started",
        }
    }
}

impl fmt::Display for RequestEnd {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RequestEnd::RetryAfterTooLong(wait) => {
                write!(f, "server asked to wait {}", format_duration(*wait))
            }
            other => f.write_str(&other.name().replace('_', " ")),
        }
    }
}

/// What one attempt is told.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AttemptContext {
    /// The request's number, from 0.
    pub request: usize,
    /// The attempt's number: 0 for the first.
    pub attempt: u32,
    /// What is left of the request's `max_elapsed`, if it has one: the
    /// attempt must not take longer.
    pub time_left: Option<Duration>,
}

/// Performs one attempt. The real one is [`HttpTarget`](crate::HttpTarget);
/// tests script outcomes with a closure.
pub trait Attempter: Sync {
    /// Makes one attempt.
    fn attempt(&self, context: &AttemptContext) -> Outcome;
}

impl<F> Attempter for F
where
    F: Fn(&AttemptContext) -> Outcome + Sync,
{
    fn attempt(&self, context: &AttemptContext) -> Outcome {
        self(context)
    }
}

/// Everything a request thread reads, shared by all of them.
pub(crate) struct RequestShared<'a> {
    pub(crate) target: &'a dyn Attempter,
    pub(crate) retry: Option<&'a RetryConfig>,
    pub(crate) budget: Option<&'a RetryBudget>,
    pub(crate) ticker: Option<&'a RateTicker>,
    pub(crate) cancel: &'a Cancel,
    pub(crate) seed: u64,
    pub(crate) clock: Clock,
}

/// Runs request `request` to its end, sending an event per attempt and then its end.
pub(crate) fn run_request(
    shared: &RequestShared<'_>,
    request: usize,
    first_intended_start: Duration,
    records: &Sender<Record>,
) {
    let end = RequestLoop {
        shared,
        request,
        records,
        rng: fastrand::Rng::with_seed(request_seed(shared.seed, request)),
    }
    .run(first_intended_start);
    if let Some(reason) = give_up_line(end) {
        info!("{request}: gave up: {reason}");
    }
    // The receiver lives until every request thread has ended.
    let _ = records.send(Record::End { request, end });
}

/// The log line for an end that needs explaining.
fn give_up_line(end: RequestEnd) -> Option<String> {
    match end {
        RequestEnd::Succeeded | RequestEnd::Failed | RequestEnd::NotStarted => None,
        other => Some(other.to_string()),
    }
}

struct RequestLoop<'a, 'b> {
    shared: &'a RequestShared<'b>,
    request: usize,
    records: &'a Sender<Record>,
    rng: fastrand::Rng,
}

/// What to do after an attempt.
enum Next {
    Stop(RequestEnd),
    RetryAfter(Duration),
}

impl RequestLoop<'_, '_> {
    fn run(&mut self, first_intended_start: Duration) -> RequestEnd {
        let clock = self.shared.clock;
        let first_start = clock.now();
        let max_elapsed = self.shared.retry.and_then(|retry| retry.max_elapsed);
        let mut intended_start = first_intended_start;
        let mut backoff_before = Duration::ZERO;
        if let Some(budget) = self.shared.budget {
            budget.record_first_attempt(first_start);
        }
        info!("{}: starting", self.request);
        for attempt in 0u32.. {
            let start = if attempt == 0 {
                first_start
            } else {
                clock.now()
            };
            if attempt > 0 {
                debug!("{}: attempt {attempt} starting", self.request);
            }
            let time_left =
                max_elapsed.map(|limit| limit.saturating_sub(start.saturating_sub(first_start)));
            let context = AttemptContext {
                request: self.request,
                attempt,
                time_left,
            };
            let outcome = self.shared.target.attempt(&context);
            let end = clock.now();
            log_outcome(self.request, &outcome);
            let next = self.decide(&outcome, attempt, backoff_before, end - first_start);
            let _ = self.records.send(Record::Attempt(AttemptEvent {
                request: self.request,
                attempt,
                intended_start,
                start,
                end,
                outcome: outcome.clone(),
                backoff_before,
            }));
            let delay = match next {
                Next::Stop(end) => return end,
                Next::RetryAfter(delay) => delay,
            };
            info!(
                "{}: retry {} in {} ({})",
                self.request,
                attempt + 1,
                format_duration(delay),
                outcome.class()
            );
            if !self.shared.cancel.sleep(delay) {
                return RequestEnd::Interrupted;
            }
            intended_start = clock.now();
            if let Some(ticker) = self.shared.ticker {
                if ticker.wait_unless(self.shared.cancel).is_none() {
                    return RequestEnd::Interrupted;
                }
            }
            backoff_before = delay;
        }
        unreachable!("the attempt counter outlasts every retry limit")
    }

    /// After attempt `attempt` ended in `outcome`, `elapsed` into the request.
    fn decide(
        &mut self,
        outcome: &Outcome,
        attempt: u32,
        previous_delay: Duration,
        elapsed: Duration,
    ) -> Next {
        if outcome.is_success() {
            return Next::Stop(RequestEnd::Succeeded);
        }
        let Some(retry) = self.shared.retry else {
            return Next::Stop(RequestEnd::Failed);
        };
        if !retry.retry_on.matches(outcome) {
            return Next::Stop(RequestEnd::Failed);
        }
        if self.shared.cancel.is_cancelled() {
            return Next::Stop(RequestEnd::Interrupted);
        }
        let Some(backoff) = retry
            .policy
            .delay(attempt + 1, previous_delay, self.rng.f64())
        else {
            return Next::Stop(RequestEnd::RetriesExhausted);
        };
        let delay = match self.retry_after(outcome, retry) {
            Ok(Some(wait)) => wait,
            Ok(None) => backoff,
            Err(end) => return Next::Stop(end),
        };
        if let Some(limit) = retry.max_elapsed {
            if elapsed + delay >= limit {
                return Next::Stop(RequestEnd::DeadlineExceeded);
            }
        }
        if let Some(budget) = self.shared.budget {
            if !budget.try_retry(self.shared.clock.now()) {
                return Next::Stop(RequestEnd::BudgetExhausted);
            }
        }
        Next::RetryAfter(delay)
    }

    /// The wait a `Retry-After` header asks for, with a little jitter so
    /// clients told the same value do not all come back together; `None`
    /// when there is no usable header.
    fn retry_after(
        &mut self,
        outcome: &Outcome,
        retry: &RetryConfig,
    ) -> Result<Option<Duration>, RequestEnd> {
        let Outcome::Response {
            retry_after: Some(value),
            ..
        } = outcome
        else {
            return Ok(None);
        };
        let wait = match RetryAfter::parse(value) {
            Ok(retry_after) => retry_after.delay_from(SystemTime::now()),
            Err(err) => {
                debug!("{}: {err}; backing off as usual", self.request);
                return Ok(None);
            }
        };
        if wait > retry.max_retry_after {
            return Err(RequestEnd::RetryAfterTooLong(wait));
        }
        let jitter = (wait / 10)
            .min(Duration::from_secs(1))
            .mul_f64(self.rng.f64());
        Ok(Some(wait + jitter))
    }
}

fn log_outcome(request: usize, outcome: &Outcome) {
    match outcome {
        Outcome::Response { status, .. } => info!("{request}: code: {status}"),
        Outcome::Failed { class, detail } => info!("{request}: err: {class}: {detail}"),
    }
}

/// A seed of its own for each request, so jitter replays whatever order the
/// threads happen to run in.
fn request_seed(seed: u64, request: usize) -> u64 {
    seed ^ (request as u64)
        .wrapping_add(1)
        .wrapping_mul(0x9E37_79B9_7F4A_7C15)
}
