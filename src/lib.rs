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
mod duration;
mod events;
mod outcome;
mod rate;
mod report;
mod run;
mod semaphore;
mod server;
mod target;

pub use backoff::{is_retryable, Backoff, BackoffError, Jitter, RetryPolicy};
pub use duration::{format_duration, parse_duration, DurationError};
pub use events::{AttemptEvent, RunRecord};
pub use outcome::{AttemptClass, ErrorClass, Outcome};
pub use rate::{RateError, RateTicker};
pub use report::Summary;
pub use run::{run, Attempter, RunConfig, RunError};
pub use semaphore::{Permit, Semaphore};
pub use server::{ServerConfig, ServerError, ServerStats, TestServer};
pub use target::{HttpConfig, HttpTarget, TargetError};
