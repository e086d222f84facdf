//! A run: N requests, one OS thread each, behind the gates the config asks for.
//!
//! The main thread takes a concurrency permit and then a rate slot *before*
//! it spawns each request's thread, so the number of live threads stays at
//! the concurrency limit plus a few helpers however large N is. Each request
//! thread runs a blocking retry loop (see [`crate::RetryConfig`]) and
//! reports every attempt as an event.

use crate::budget::RetryBudget;
use crate::cancel::Cancel;
use crate::events::{AttemptEvent, Clock, Collector, Record, RunRecord};
use crate::outcome::{ErrorClass, Outcome};
use crate::rate::{RateError, RateTicker};
use crate::request::{run_request, Attempter, RequestEnd, RequestShared, RetryConfig};
use crate::semaphore::{Permit, Semaphore};
use crossbeam_channel::{select, Receiver, Sender};
use log::info;
use std::collections::HashMap;
use std::num::NonZeroUsize;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread::{self, Scope, ScopedJoinHandle};
use std::time::{Duration, SystemTime};

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
    /// When and how to retry. Defaults to `None`: one attempt each.
    pub retry: Option<RetryConfig>,
    /// Log a `.` this often while requests are in flight. Defaults to 1 s.
    pub heartbeat: Option<Duration>,
    /// Seed for the backoff jitter, so runs replay. Defaults to 0.
    pub seed: u64,
    /// Stops the run early: no new attempts start, backoff sleeps end, the
    /// attempts in flight finish within their timeouts. Defaults to never.
    pub cancel: Cancel,
    /// Told of every start, attempt and end as they happen (a progress bar).
    /// Defaults to none.
    pub observer: Option<Observer>,
}

/// Watches a run as it goes. Calls come from the run's own threads; keep
/// them short.
pub trait RunObserver: Send + Sync {
    /// Request `request` is about to start.
    fn started(&self, _request: usize) {}
    /// An attempt ended.
    fn attempt(&self, _event: &AttemptEvent) {}
    /// Request `request` stopped.
    fn ended(&self, _request: usize, _end: RequestEnd) {}
}

/// A shared [`RunObserver`].
#[derive(Clone)]
pub struct Observer(pub Arc<dyn RunObserver>);

impl std::fmt::Debug for Observer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Observer")
    }
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
            cancel: Cancel::never(),
            observer: None,
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
    /// A strategy of a comparison was not valid.
    #[error("{0}")]
    Strategy(String),
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
    let budget = config
        .retry
        .as_ref()
        .and_then(|retry| retry.budget)
        .map(RetryBudget::new);
    let started_at = SystemTime::now();
    let clock = Clock::start();
    let live = AtomicUsize::new(0);
    let shared = Shared {
        config,
        ticker: ticker.as_ref(),
        clock,
        live: &live,
        request: RequestShared {
            target,
            retry: config.retry.as_ref(),
            budget: budget.as_ref(),
            ticker: ticker.as_ref(),
            cancel: &config.cancel,
            seed: config.seed,
            clock,
        },
    };

    let (events, ends) = thread::scope(|scope| -> Result<_, RunError> {
        let observer = config
            .observer
            .as_ref()
            .map(|observer| Arc::clone(&observer.0));
        let (collector, records) =
            Collector::start(scope, observer).map_err(|source| RunError::Spawn {
                what: "event collector",
                source,
            })?;
        let heartbeat = config
            .heartbeat
            .map(|every| Heartbeat::start(scope, every, &live))
            .transpose()
            .map_err(|source| RunError::Spawn {
                what: "heartbeat",
                source,
            })?;
        spawn_requests(scope, &shared, &records);
        drop(records);
        drop(heartbeat);
        Ok(collector.finish(config.num_requests.get()))
    })?;

    Ok(RunRecord {
        num_requests: config.num_requests.get(),
        events,
        ends,
        started_at,
        elapsed: clock.now(),
    })
}

/// What the main thread reads.
struct Shared<'a> {
    config: &'a RunConfig,
    ticker: Option<&'a RateTicker>,
    clock: Clock,
    /// Requests started and not yet finished.
    live: &'a AtomicUsize,
    request: RequestShared<'a>,
}

fn spawn_requests<'scope>(
    scope: &'scope Scope<'scope, '_>,
    shared: &'scope Shared<'_>,
    records: &Sender<Record>,
) {
    let cancel = &shared.config.cancel;
    let gate = shared.config.max_concurrency.map(Semaphore::new);
    let mut threads = RequestThreads::new(records.clone(), shared.clock);
    for request in 0..shared.config.num_requests.get() {
        if cancel.is_cancelled() {
            break;
        }
        let permit = match &gate {
            Some(gate) => match threads.acquire(gate, cancel) {
                Some(permit) => Some(permit),
                None => break,
            },
            None => None,
        };
        threads.join_finished();
        let intended_start = match shared.ticker {
            Some(ticker) => match ticker.wait_unless(cancel) {
                Some(slot) => shared.clock.at(slot),
                None => break,
            },
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
    records: Sender<Record>,
    clock: Clock,
}

impl<'scope> RequestThreads<'scope> {
    fn new(records: Sender<Record>, clock: Clock) -> RequestThreads<'scope> {
        let (finished_tx, finished) = crossbeam_channel::unbounded();
        RequestThreads {
            running: HashMap::new(),
            finished,
            finished_tx,
            records,
            clock,
        }
    }

    /// A permit from `gate`, joining finished threads until one is free;
    /// `None` when the run is stopped first.
    fn acquire(&mut self, gate: &Semaphore, cancel: &Cancel) -> Option<Permit> {
        loop {
            if let Some(permit) = gate.try_acquire() {
                return Some(permit);
            }
            // Every permit is held here by a running thread, which will send
            // its number when done; `finished_tx` keeps the channel open.
            let finished = match cancel.channel() {
                Some(stop) => select! {
                    recv(self.finished) -> request => request.ok(),
                    recv(stop) -> _ => return None,
                },
                None => self.finished.recv().ok(),
            };
            if let Some(request) = finished {
                self.join(request);
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
        if let Some(observer) = &shared.config.observer {
            observer.0.started(request);
        }
        let records = self.records.clone();
        let finished = FinishedGuard {
            request,
            finished: self.finished_tx.clone(),
            live: shared.live,
        };
        let spawned = thread::Builder::new()
            .name(format!("request-{request}"))
            .spawn_scoped(scope, move || {
                let _finished = finished;
                run_request(&shared.request, request, intended_start, &records);
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
                info!("{request}: err: other: could not start a thread: {error}");
                self.fail_alone(request, outcome);
            }
        }
    }

    /// Records a request that failed outside its own thread.
    fn fail_alone(&self, request: usize, outcome: Outcome) {
        let now = self.clock.now();
        let _ = self.records.send(Record::Attempt(AttemptEvent {
            request,
            attempt: 0,
            intended_start: now,
            start: now,
            end: now,
            outcome,
            backoff_before: Duration::ZERO,
        }));
        let _ = self.records.send(Record::End {
            request,
            end: RequestEnd::Failed,
        });
    }

    fn join(&mut self, request: usize) {
        let Some((handle, permit)) = self.running.remove(&request) else {
            return; // a thread that could not start
        };
        if handle.join().is_err() {
            // The attempts it made were sent already; this marks the request
            // failed, after them.
            let now = self.clock.now();
            let _ = self.records.send(Record::Attempt(AttemptEvent {
                request,
                attempt: u32::MAX,
                intended_start: now,
                start: now,
                end: now,
                outcome: Outcome::failed(ErrorClass::Other, "the request thread panicked"),
                backoff_before: Duration::ZERO,
            }));
            let _ = self.records.send(Record::End {
                request,
                end: RequestEnd::Failed,
            });
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
    use crate::backoff::{Backoff, Jitter, RetryPolicy};
    use crate::budget::BudgetConfig;
    use crate::request::AttemptContext;
    use std::sync::Mutex;
    use std::time::Instant;

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
        Outcome::status_only(200)
    }

    fn reset() -> Outcome {
        Outcome::failed(ErrorClass::Reset, "reset by test")
    }

    fn quick_retries(max_retries: u32) -> RetryConfig {
        RetryConfig {
            policy: RetryPolicy::new(max_retries, ms(1), ms(5), Backoff::Linear, Jitter::Full)
                .expect("a valid policy"),
            ..RetryConfig::default()
        }
    }

    fn pairs(record: &RunRecord) -> Vec<(usize, u32)> {
        record
            .events
            .iter()
            .map(|e| (e.request, e.attempt))
            .collect()
    }

    #[test]
    fn every_request_gets_one_event_without_retry() {
        let record = run(&config(20), &|_: &AttemptContext| ok()).expect("the run starts");
        assert_eq!(record.num_requests, 20);
        assert_eq!(record.events.len(), 20);
        let ids: Vec<usize> = record.events.iter().map(|e| e.request).collect();
        assert_eq!(ids, (0..20).collect::<Vec<_>>());
        assert!(record.ends.iter().all(|end| *end == RequestEnd::Succeeded));
    }

    #[test]
    fn failures_are_retried_until_success() {
        let mut config = config(3);
        config.retry = Some(quick_retries(5));
        // Request 1 fails twice with a reset, then succeeds.
        let target = |context: &AttemptContext| {
            if context.request == 1 && context.attempt < 2 {
                reset()
            } else {
                ok()
            }
        };
        let record = run(&config, &target).expect("the run starts");
        assert_eq!(pairs(&record), vec![(0, 0), (1, 0), (1, 1), (1, 2), (2, 0)]);
        let retried = &record.events[2];
        assert!(retried.backoff_before <= ms(5));
        assert!(retried.start >= record.events[1].end + retried.backoff_before);
        assert_eq!(record.ends[1], RequestEnd::Succeeded);
    }

    #[test]
    fn max_retries_bounds_the_attempts() {
        let mut config = config(2);
        config.retry = Some(quick_retries(3));
        let record = run(&config, &|_: &AttemptContext| reset()).expect("the run starts");
        assert_eq!(record.events.len(), 2 * 4);
        assert_eq!(record.ends, vec![RequestEnd::RetriesExhausted; 2]);
    }

    #[test]
    fn requests_that_cannot_succeed_are_not_retried() {
        let mut config = config(2);
        config.retry = Some(quick_retries(3));
        let record =
            run(&config, &|_: &AttemptContext| Outcome::status_only(404)).expect("the run starts");
        assert_eq!(record.events.len(), 2);
        assert_eq!(record.ends, vec![RequestEnd::Failed; 2]);
    }

    #[test]
    fn the_concurrency_limit_holds_across_retries() {
        const LIMIT: usize = 3;
        let mut config = config(12);
        config.max_concurrency = NonZeroUsize::new(LIMIT);
        config.retry = Some(quick_retries(1));
        let in_flight = AtomicUsize::new(0);
        let most = AtomicUsize::new(0);
        let target = |context: &AttemptContext| {
            let now = in_flight.fetch_add(1, Ordering::SeqCst) + 1;
            most.fetch_max(now, Ordering::SeqCst);
            thread::sleep(ms(5));
            in_flight.fetch_sub(1, Ordering::SeqCst);
            if context.attempt == 0 {
                reset()
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
        let target = |_: &AttemptContext| {
            starts
                .lock()
                .expect("no test thread panics")
                .push(Instant::now());
            reset()
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
            let record = run(&config, &|_: &AttemptContext| reset()).expect("the run starts");
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
        let target = |context: &AttemptContext| {
            if context.request == 1 {
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
        assert_eq!(record.ends[1], RequestEnd::Failed);
    }

    fn busy(retry_after: &str) -> Outcome {
        Outcome::Response {
            status: 503,
            bytes: 0,
            retry_after: Some(retry_after.into()),
        }
    }

    #[test]
    fn retry_after_replaces_the_backoff() {
        let mut config = config(1);
        config.retry = Some(quick_retries(1));
        let target = |context: &AttemptContext| {
            if context.attempt == 0 {
                busy("1")
            } else {
                ok()
            }
        };
        let record = run(&config, &target).expect("the run starts");
        let waited = record.events[1].backoff_before;
        // One second, plus at most a tenth of it in jitter.
        assert!(waited >= ms(1000) && waited <= ms(1100), "{waited:?}");
        assert_eq!(record.ends[0], RequestEnd::Succeeded);
    }

    #[test]
    fn junk_retry_after_falls_back_to_the_backoff() {
        let mut config = config(1);
        config.retry = Some(quick_retries(1));
        let target = |context: &AttemptContext| {
            if context.attempt == 0 {
                busy("soon, maybe")
            } else {
                ok()
            }
        };
        let record = run(&config, &target).expect("the run starts");
        assert!(record.events[1].backoff_before <= ms(5));
    }

    #[test]
    fn a_retry_after_beyond_the_limit_fails_at_once() {
        let mut config = config(1);
        config.retry = Some(quick_retries(3));
        let record = run(&config, &|_: &AttemptContext| busy("3600")).expect("the run starts");
        assert_eq!(record.events.len(), 1);
        assert_eq!(
            record.ends[0],
            RequestEnd::RetryAfterTooLong(Duration::from_secs(3600))
        );
        assert_eq!(record.ends[0].to_string(), "server asked to wait 3600s");
    }

    #[test]
    fn the_budget_stops_a_retry_storm() {
        let mut config = config(20);
        let mut retry = quick_retries(5);
        retry.budget = Some(BudgetConfig {
            ratio: 0.25,
            min_per_second: 0.0,
            window: Duration::from_secs(10),
        });
        config.retry = Some(retry);
        // One at a time, so every first attempt is counted before the retries.
        config.max_concurrency = NonZeroUsize::new(1);
        let record = run(&config, &|_: &AttemptContext| reset()).expect("the run starts");
        let retries = record.events.iter().filter(|e| e.attempt > 0).count();
        // At most a quarter of the 20 first attempts; without the budget, 100.
        assert!(retries <= 5, "{retries} retries");
        assert!(record.ends.contains(&RequestEnd::BudgetExhausted));
    }

    #[test]
    fn max_elapsed_bounds_a_request_and_its_last_attempt() {
        let mut config = config(1);
        let mut retry = quick_retries(100);
        retry.policy =
            RetryPolicy::new(100, ms(40), ms(40), Backoff::Constant, Jitter::None).expect("valid");
        retry.max_elapsed = Some(ms(200));
        config.retry = Some(retry);
        let time_left = Mutex::new(Vec::new());
        let target = |context: &AttemptContext| {
            time_left
                .lock()
                .expect("no test thread panics")
                .push(context.time_left);
            reset()
        };
        let record = run(&config, &target).expect("the run starts");
        assert_eq!(record.ends[0], RequestEnd::DeadlineExceeded);
        let last = record.events.last().expect("some attempts");
        assert!(last.end < ms(200) + ms(100), "{:?}", last.end);
        let time_left = time_left.into_inner().expect("no test thread panics");
        assert_eq!(time_left[0], Some(ms(200)));
        assert!(time_left.windows(2).all(|w| w[1] < w[0]), "{time_left:?}");
    }

    #[test]
    fn a_cancelled_run_stops_starting_and_cuts_backoff_short() {
        let (mut stopper, cancel) = Cancel::new();
        let mut config = config(50);
        config.max_concurrency = NonZeroUsize::new(2);
        let mut retry = quick_retries(5);
        retry.policy = RetryPolicy::new(5, ms(60_000), ms(60_000), Backoff::Constant, Jitter::None)
            .expect("valid");
        config.retry = Some(retry);
        config.cancel = cancel;
        let stopper_thread = thread::spawn(move || {
            thread::sleep(ms(100));
            stopper.stop();
        });
        let before = Instant::now();
        let record = run(&config, &|_: &AttemptContext| reset()).expect("the run starts");
        stopper_thread.join().expect("the stopper ends");
        assert!(
            before.elapsed() < Duration::from_secs(10),
            "backoff was not cut short"
        );
        assert_eq!(record.ends.len(), 50);
        assert_eq!(record.ends[0], RequestEnd::Interrupted);
        assert_eq!(record.ends[1], RequestEnd::Interrupted);
        assert!(record.ends[2..]
            .iter()
            .all(|end| *end == RequestEnd::NotStarted));
    }
}
