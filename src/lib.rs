//! A lab for concurrency under rate limits: a test server, and a client that
//! sends N requests one OS thread each, gated by a counting semaphore, a rate
//! ticker and blocking retry loops, and reports every attempt.
//!
//! The pieces stand on their own for any sync program using ureq:
//! [`Semaphore`] (RAII permits), [`RateTicker`] (evenly spaced start slots),
//! [`RetryPolicy`] (a pure backoff schedule), [`ErrorClass`] (typed failure
//! classes) and [`Summary`] (a report computed from events).

#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod backoff;
mod budget;
mod cancel;
mod compare;
mod duration;
mod events;
mod export;
mod faults;
mod outcome;
mod rate;
mod relay;
mod report;
mod request;
mod retry_after;
mod retry_on;
mod run;
mod semaphore;
mod server;
mod target;
mod timeline;

pub use backoff::{Backoff, BackoffError, Jitter, RetryPolicy};
pub use budget::{BudgetConfig, RetryBudget};
pub use cancel::{Cancel, Stopper};
pub use compare::{
    builtin_strategies, compare, load_strategies, select_strategies, CompareConfig, CompareTable,
    Compared, Strategy, StrategyError,
};
pub use duration::{format_duration, parse_duration, DurationError, MAX_DURATION};
pub use events::{AttemptEvent, RunRecord};
pub use export::{read_events, write_events, EventRow, ExportError};
pub use faults::{
    parse_rate, parse_status, Fault, FaultConfig, FaultError, Latency, Outage, OutageKind, Plan,
};
pub use outcome::{AttemptClass, ErrorClass, Outcome};
pub use rate::{RateError, RateTicker};
pub use report::{Latencies, Limits, Score, Summary, REPORT_SCHEMA};
pub use request::{AttemptContext, Attempter, RequestEnd, RetryConfig};
pub use retry_after::{RetryAfter, RetryAfterError};
pub use retry_on::{RetryOn, RetryOnError};
pub use run::{run, Observer, RunConfig, RunError, RunObserver};
pub use semaphore::{Permit, Semaphore};
pub use server::{FaultCounts, ServerConfig, ServerError, ServerStats, TestServer};
pub use target::{is_idempotent, parse_method, HttpConfig, HttpTarget, TargetError};
pub use timeline::{render_timeline, write_timeline, TimelineError, TimelineOptions, MAX_ROWS};
/// The HTTP method type `HttpConfig` takes, from ureq's `http` crate.
pub use ureq::http::Method;
