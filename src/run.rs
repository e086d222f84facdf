//! A run: N requests, one OS thread each, behind the gates the config asks for.
//!
//! The main thread takes a concurrency permit and then a rate slot *before*
//! it spawns each request's thread, so the number of live threads stays at
//! the concurrency limit plus a few helpers however large N is. Each request
//! thread runs a blocking retry loop and reports every attempt as an event.

use crate::backoff::{is_retryable, RetryPolicy};
use crate::duration::format_duration;
use crate::events::{AttemptEvent, Collector, RunRecord};
use crate::outcome::{ErrorClass, Outcome};
use crate::rate::{RateError, RateTicker};
use crate::semaphore::{Permit, Semaphore};
use crossbeam_channel::{select, Receiver, Sender};
use log::{debug, info};
use std::collections::HashMap;
use std::num::NonZeroUsize;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::thread::{self, Scope, ScopedJoinHandle};
use std::time::{Duration, Instant, SystemTime};

/// Performs one attempt of one request. The real one is
/// [`HttpTarget`](crate::HttpTarget); tests script outcomes with a closure.
pub trait Attempter: Sync {
    /// Makes attempt `attempt` (0 for the first) of request `request`.
    fn attempt(&self, request: usize, attempt: u32) -> Outcome;
}

impl<F> Attempter for F
where
    F: Fn(usize, u32) -> Outcome + Sync,
{
    fn attempt(&self, request: usize, attempt: u32) -> Outcome {
        self(request, attempt)
    }
}

/// How a run sends its requests.
#[derive(Debug, Clone)]
pub struct RunConfig {
    /// How many requests to send. Defaults to 10.
    pub num_requests: NonZeroUsize,
    /// At most this many requests in flight (retries and backoff included).
    /// Defaults to `None`: no limit.
    pub max_concurrency: Option<NonZeroUsize>,
    /// At most this many attempts started per second, evenly spaced (see
    /// [`RateTicker`]); retries wait for a slot too. Defaults to `None`: no limit.
    pub rate: Option<f64>,
    /// Retry failed attempts under this policy. Defaults to `None`: one attempt each.
    pub retry: Option<RetryPolicy>,
    /// Log a `.` this often while requests are in flight. Defaults to 1 s.
    pub heartbeat: Option<Duration>,
    /// Seed for the backoff jitter, so runs replay. Defaults to 0.
    pub seed: u64,
}

impl Default for RunConfig {
    fn default() -> Self {
        RunConfig {
            num_requests: NonZeroUsize::new(10).expect("10 is not zero"),
            max_concurrency: None,
            rate: None,
            retry: None,
            heartbeat: Some(Duration::from_secs(1)),
            seed: 0,
        }
    }
}

/// Why a run could not start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RunError {
    /// The rate limit was not usable.
    #[error("--rate: {0}")]
    Rate(#[from] RateError),
    /// A helper thread (event collector, heartbeat) could not be started.
    #[error("could not start the {what} thread: {source}")]
    Spawn {
        /// Which helper.
        what: &'static str,
        /// The operating system's reason.
        source: std::io::Error,
    },
}

/// Sends `config.num_requests` requests through `target` and records every attempt.
///
/// Blocks until every request has finished; no thread outlives the call.
pub fn run(config: &RunConfig, target: &dyn Attempter) -> Result<RunRecord, RunError> {
    let ticker = config.rate.map(RateTicker::new).transpose()?;
    let started_at = SystemTime::now();
    let clock = Clock::start();
    let shared = Shared {
        config,
        target,
        ticker: ticker.as_ref(),
        clock,
        live: AtomicUsize::new(0),
    };

    let events = thread::scope(|scope| -> Result<Vec<AttemptEvent>, RunError> {
        let (collector, events) = Collector::start(scope).map_err(|source| RunError::Spawn {
            what: "event collector",
            source,
        })?;
        let heartbeat = config
            .heartbeat
            .map(|every| Heartbeat::start(scope, every, &shared.live))
            .transpose()
            .map_err(|source| RunError::Spawn {
                what: "heartbeat",
                source,
            })?;
        spawn_requests(scope, &shared, &events);
        drop(events);
        drop(heartbeat);
        Ok(collector.finish())
    })?;

    Ok(RunRecord {
        num_requests: config.num_requests.get(),
        events,
        started_at,
        elapsed: clock.now(),
    })
}

/// What every request thread reads.
struct Shared<'a> {
    config: &'a RunConfig,
    target: &'a dyn Attempter,
    ticker: Option<&'a RateTicker>,
    clock: Clock,
    /// Requests started and not yet finished.
    live: AtomicUsize,
}

/// Offsets from the start of the run.
#[derive(Debug, Clone, Copy)]
struct Clock(Instant);

impl Clock {
    fn start() -> Clock {
        Clock(Instant::now())
    }

    fn now(self) -> Duration {
        self.0.elapsed()
    }

    fn at(self, instant: Instant) -> Duration {
        instant.saturating_duration_since(self.0)
    }
}

fn spawn_requests<'scope>(
    scope: &'scope Scope<'scope, '_>,
    shared: &'scope Shared<'_>,
    events: &Sender<AttemptEvent>,
) {
    let gate = shared.config.max_concurrency.map(Semaphore::new);
    let mut threads = RequestThreads::new(events.clone(), shared.clock);
    for request in 0..shared.config.num_requests.get() {
        let permit = gate.as_ref().map(|gate| threads.acquire(gate));
        threads.join_finished();
        let intended_start = match shared.ticker {
            Some(ticker) => shared.clock.at(ticker.wait()),
            None => Duration::ZERO,
        };
        threads.spawn(scope, shared, request, intended_start, permit);
    }
    threads.join_all();
}

/// The request threads a run has started and not yet joined.
///
/// A thread's concurrency permit stays here, with its handle, and is given
/// back only once the thread has been joined: a thread that has finished its
/// work but not yet exited still counts, so live threads never exceed the
/// limit, however slowly the machine lets finished threads go.
struct RequestThreads<'scope> {
    running: HashMap<usize, (ScopedJoinHandle<'scope, ()>, Option<Permit>)>,
    /// Each thread sends its request number here as its very last act.
    finished: Receiver<usize>,
    finished_tx: Sender<usize>,
    events: Sender<AttemptEvent>,
    clock: Clock,
}

impl<'scope> RequestThreads<'scope> {
    fn new(events: Sender<AttemptEvent>, clock: Clock) -> RequestThreads<'scope> {
        let (finished_tx, finished) = crossbeam_channel::unbounded();
        RequestThreads {
            running: HashMap::new(),
            finished,
            finished_tx,
            events,
            clock,
        }
    }

    /// A permit from `gate`, joining finished threads until one is free.
    fn acquire(&mut self, gate: &Semaphore) -> Permit {
        loop {
            if let Some(permit) = gate.try_acquire() {
                return permit;
            }
            // Every permit is held here by a running thread, which will
            // send its number when done; this sender keeps the channel open.
            match self.finished.recv() {
                Ok(request) => self.join(request),
                Err(_) => unreachable!("the finished channel's sender is held by self"),
            }
        }
    }

    /// Joins the threads that have said they are done, without waiting for others.
    fn join_finished(&mut self) {
        while let Ok(request) = self.finished.try_recv() {
            self.join(request);
        }
    }

    fn spawn(
        &mut self,
        scope: &'scope Scope<'scope, '_>,
        shared: &'scope Shared<'_>,
        request: usize,
        intended_start: Duration,
        permit: Option<Permit>,
    ) {
        shared.live.fetch_add(1, Ordering::SeqCst);
        let events = self.events.clone();
        let finished = FinishedGuard {
            request,
            finished: self.finished_tx.clone(),
            live: &shared.live,
        };
        let spawned = thread::Builder::new()
            .name(format!("request-{request}"))
            .spawn_scoped(scope, move || {
                let _finished = finished;
                run_request(shared, request, intended_start, &events);
            });
        match spawned {
            Ok(handle) => {
                self.running.insert(request, (handle, permit));
            }
            Err(error) => {
                // The closure, and the guard in it, were dropped unrun.
                let outcome = Outcome::failed(
                    ErrorClass::Other,
                    format!("could not start a thread: {error}"),
                );
                log_outcome(request, &outcome);
                let _ = self
                    .events
                    .send(lone_event(request, self.clock.now(), outcome));
            }
        }
    }

    fn join(&mut self, request: usize) {
        let Some((handle, permit)) = self.running.remove(&request) else {
            return; // a thread that could not start
        };
        if handle.join().is_err() {
            // The attempts it made were sent already; this marks the request failed.
            let outcome = Outcome::failed(ErrorClass::Other, "the request thread panicked");
            let mut event = lone_event(request, self.clock.now(), outcome);
            event.attempt = u32::MAX;
            let _ = self.events.send(event);
        }
        drop(permit);
    }

    fn join_all(mut self) {
        let requests: Vec<usize> = self.running.keys().copied().collect();
        for request in requests {
            self.join(request);
        }
    }
}

/// Lives as long as its request thread: on drop, unwinding included, it
/// counts the request out of `live` and reports the thread finished.
struct FinishedGuard<'a> {
    request: usize,
    finished: Sender<usize>,
    live: &'a AtomicUsize,
}

impl Drop for FinishedGuard<'_> {
    fn drop(&mut self) {
        self.live.fetch_sub(1, Ordering::SeqCst);
        let _ = self.finished.send(self.request);
    }
}

fn lone_event(request: usize, now: Duration, outcome: Outcome) -> AttemptEvent {
    AttemptEvent {
        request,
        attempt: 0,
        intended_start: now,
        start: now,
        end: now,
        outcome,
        backoff_before: Duration::ZERO,
    }
}

/// One request's blocking retry loop.
fn run_request(
    shared: &Shared<'_>,
    request: usize,
    first_intended_start: Duration,
    events: &Sender<AttemptEvent>,
) {
    let mut rng = fastrand::Rng::with_seed(request_seed(shared.config.seed, request));
    let mut intended_start = first_intended_start;
    let mut backoff_before = Duration::ZERO;
    info!("{request}: starting");
    for attempt in 0u32.. {
        let start = shared.clock.now();
        if attempt > 0 {
            debug!("{request}: attempt {attempt} starting");
        }
        let outcome = shared.target.attempt(request, attempt);
        let end = shared.clock.now();
        log_outcome(request, &outcome);
        let next_delay = match &shared.config.retry {
            Some(policy) if !outcome.is_success() && is_retryable(&outcome) => {
                policy.delay(attempt + 1, backoff_before, rng.f64())
            }
            _ => None,
        };
        let cause = outcome.class();
        // The receiver lives until every request thread has ended.
        let _ = events.send(AttemptEvent {
            request,
            attempt,
            intended_start,
            start,
            end,
            outcome,
            backoff_before,
        });
        let Some(delay) = next_delay else { break };
        info!(
            "{request}: retry {} in {} ({cause})",
            attempt + 1,
            format_duration(delay)
        );
        thread::sleep(delay);
        intended_start = shared.clock.now();
        if let Some(ticker) = shared.ticker {
            ticker.wait();
        }
        backoff_before = delay;
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

/// Logs `.` at a fixed interval while any request is live; dropping it
/// disconnects `_stop`, which ends the thread.
struct Heartbeat {
    _stop: Sender<()>,
}

impl Heartbeat {
    fn start<'scope>(
        scope: &'scope Scope<'scope, '_>,
        every: Duration,
        live: &'scope AtomicUsize,
    ) -> std::io::Result<Heartbeat> {
        let (stop, stopped) = crossbeam_channel::bounded::<()>(0);
        thread::Builder::new()
            .name("heartbeat".into())
            .spawn_scoped(scope, move || beat(every, live, &stopped))?;
        Ok(Heartbeat { _stop: stop })
    }
}

fn beat(every: Duration, live: &AtomicUsize, stopped: &Receiver<()>) {
    let ticks = crossbeam_channel::tick(every);
    loop {
        select! {
            recv(ticks) -> _ => {
                if live.load(Ordering::SeqCst) > 0 {
                    info!(".");
                }
            }
            recv(stopped) -> _ => return,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backoff::{Backoff, Jitter};
    use std::sync::Mutex;

    fn ms(millis: u64) -> Duration {
        Duration::from_millis(millis)
    }

    fn config(num_requests: usize) -> RunConfig {
        RunConfig {
            num_requests: NonZeroUsize::new(num_requests).expect("a positive count"),
            heartbeat: None,
            ..RunConfig::default()
        }
    }

    fn ok() -> Outcome {
        Outcome::Response {
            status: 200,
            bytes: 3,
        }
    }

    fn quick_retries(max_retries: u32) -> RetryPolicy {
        RetryPolicy::new(max_retries, ms(1), ms(5), Backoff::Linear, Jitter::Full)
            .expect("a valid policy")
    }

    #[test]
    fn every_request_gets_one_event_without_retry() {
        let record = run(&config(20), &|_, _| ok()).expect("the run starts");
        assert_eq!(record.num_requests, 20);
        assert_eq!(record.events.len(), 20);
        let ids: Vec<usize> = record.events.iter().map(|e| e.request).collect();
        assert_eq!(ids, (0..20).collect::<Vec<_>>());
    }

    #[test]
    fn failures_are_retried_until_success() {
        let mut config = config(3);
        config.retry = Some(quick_retries(5));
        // Request 1 fails twice with a reset, then succeeds.
        let target = |request: usize, attempt: u32| {
            if request == 1 && attempt < 2 {
                Outcome::failed(ErrorClass::Reset, "reset by test")
            } else {
                ok()
            }
        };
        let record = run(&config, &target).expect("the run starts");
        let attempts: Vec<(usize, u32)> = record
            .events
            .iter()
            .map(|e| (e.request, e.attempt))
            .collect();
        assert_eq!(attempts, vec![(0, 0), (1, 0), (1, 1), (1, 2), (2, 0)]);
        let retried = &record.events[2];
        assert!(retried.backoff_before <= ms(5));
        assert!(retried.start >= record.events[1].end + retried.backoff_before);
    }

    #[test]
    fn max_retries_bounds_the_attempts() {
        let mut config = config(2);
        config.retry = Some(quick_retries(3));
        let record = run(&config, &|_, _| {
            Outcome::failed(ErrorClass::Reset, "always")
        })
        .expect("the run starts");
        assert_eq!(record.events.len(), 2 * 4);
    }

    #[test]
    fn requests_that_cannot_succeed_are_not_retried() {
        let mut config = config(2);
        config.retry = Some(quick_retries(3));
        let not_found = |_, _| Outcome::Response {
            status: 404,
            bytes: 0,
        };
        let record = run(&config, &not_found).expect("the run starts");
        assert_eq!(record.events.len(), 2);
    }

    #[test]
    fn the_concurrency_limit_holds_across_retries() {
        const LIMIT: usize = 3;
        let mut config = config(12);
        config.max_concurrency = NonZeroUsize::new(LIMIT);
        config.retry = Some(quick_retries(1));
        let in_flight = AtomicUsize::new(0);
        let most = AtomicUsize::new(0);
        let target = |_, attempt| {
            let now = in_flight.fetch_add(1, Ordering::SeqCst) + 1;
            most.fetch_max(now, Ordering::SeqCst);
            thread::sleep(ms(5));
            in_flight.fetch_sub(1, Ordering::SeqCst);
            if attempt == 0 {
                Outcome::failed(ErrorClass::Reset, "first attempts fail")
            } else {
                ok()
            }
        };
        let record = run(&config, &target).expect("the run starts");
        assert_eq!(record.events.len(), 24);
        assert_eq!(most.load(Ordering::SeqCst), LIMIT);
    }

    #[test]
    fn retries_wait_for_a_rate_slot_like_first_attempts() {
        let mut config = config(2);
        config.rate = Some(20.0);
        config.retry = Some(quick_retries(2));
        let starts = Mutex::new(Vec::new());
        let target = |_, _| {
            starts
                .lock()
                .expect("no test thread panics")
                .push(Instant::now());
            Outcome::failed(ErrorClass::Reset, "always")
        };
        let record = run(&config, &target).expect("the run starts");
        assert_eq!(record.events.len(), 6);
        let mut starts = starts.into_inner().expect("no test thread panics");
        starts.sort();
        // Six attempts through a 50 ms grid take at least five periods.
        let span = *starts.last().expect("six starts") - starts[0];
        assert!(span >= ms(5 * 50 - 10), "{span:?}");
    }

    #[test]
    fn the_same_seed_replays_the_same_backoff() {
        let backoffs = |seed| {
            let mut config = config(4);
            config.seed = seed;
            config.retry = Some(quick_retries(3));
            let record = run(&config, &|_, _| {
                Outcome::failed(ErrorClass::Reset, "always")
            })
            .expect("the run starts");
            record
                .events
                .iter()
                .map(|e| e.backoff_before)
                .collect::<Vec<_>>()
        };
        assert_eq!(backoffs(7), backoffs(7));
        assert_ne!(backoffs(7), backoffs(8));
    }

    #[test]
    fn a_panicking_attempt_fails_its_request_and_the_run_goes_on() {
        let target = |request, _| {
            if request == 1 {
                panic!("the attempt blows up");
            }
            ok()
        };
        let record = run(&config(3), &target).expect("the run starts");
        let classes: Vec<String> = record
            .events
            .iter()
            .map(|e| format!("{}:{}", e.request, e.outcome.class()))
            .collect();
        assert_eq!(classes, vec!["0:ok", "1:other", "2:ok"]);
    }
}
