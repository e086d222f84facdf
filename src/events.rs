//! What a run records: one event per attempt, and the run they belong to.
//!
//! Request threads send events down a channel to one collector thread, so no
//! lock is ever held while a request does I/O.

use crate::outcome::Outcome;
use crate::request::RequestEnd;
use crate::run::RunObserver;
use crossbeam_channel::{Receiver, Sender};
use std::sync::Arc;
use std::thread::{self, ScopedJoinHandle};
use std::time::{Duration, SystemTime};

/// Offsets from the start of the run: how every event says when.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Clock(std::time::Instant);

impl Clock {
    /// A clock whose zero is now.
    pub(crate) fn start() -> Clock {
        Clock(std::time::Instant::now())
    }

    /// Time since the start.
    pub(crate) fn now(self) -> Duration {
        self.0.elapsed()
    }

    /// An instant as an offset from the start (zero for one before it).
    pub(crate) fn at(self, instant: std::time::Instant) -> Duration {
        instant.saturating_duration_since(self.0)
    }
}

/// One attempt of one request. Times are offsets from the start of the run.
#[derive(Debug, Clone, PartialEq)]
pub struct AttemptEvent {
    /// The request's number, from 0.
    pub request: usize,
    /// The attempt's number within its request: 0 for the first, then 1 for
    /// the first retry, and so on.
    pub attempt: u32,
    /// When the scheduler meant the attempt to go: the run's start for first
    /// attempts without a rate, the rate's grid with one, the end of the
    /// backoff for retries. Time between this and `start` was spent waiting
    /// inside the client.
    pub intended_start: Duration,
    /// When the attempt went out.
    pub start: Duration,
    /// When it ended, in success or failure.
    pub end: Duration,
    /// How it ended.
    pub outcome: Outcome,
    /// How long the request slept in backoff right before this attempt.
    pub backoff_before: Duration,
}

impl AttemptEvent {
    /// How long the attempt took.
    pub fn duration(&self) -> Duration {
        self.end.saturating_sub(self.start)
    }
}

/// Everything a finished run knows: the events and the run's own bounds.
#[derive(Debug, Clone, PartialEq)]
pub struct RunRecord {
    /// How many requests the run was asked to make.
    pub num_requests: usize,
    /// Every attempt, ordered by request and then attempt.
    pub events: Vec<AttemptEvent>,
    /// Why each request stopped, indexed by request number.
    pub ends: Vec<RequestEnd>,
    /// Wall-clock time at the start of the run (for event files).
    pub started_at: SystemTime,
    /// From the start of the run until its last request ended.
    pub elapsed: Duration,
}

impl RunRecord {
    /// The events of each request in turn (requests with no event are skipped).
    pub fn requests(&self) -> impl Iterator<Item = &[AttemptEvent]> {
        self.events.chunk_by(|a, b| a.request == b.request)
    }
}

/// What request threads send the collector.
#[derive(Debug)]
pub(crate) enum Record {
    /// An attempt ended.
    Attempt(AttemptEvent),
    /// A request stopped, after its last attempt.
    End {
        /// Which request.
        request: usize,
        /// Why.
        end: RequestEnd,
    },
}

/// Receives records on a channel in its own thread until every sender is gone.
pub(crate) struct Collector<'scope> {
    thread: ScopedJoinHandle<'scope, Vec<Record>>,
}

impl<'scope> Collector<'scope> {
    /// Starts the collector; records sent on the returned sender are kept.
    pub(crate) fn start<'env>(
        scope: &'scope thread::Scope<'scope, 'env>,
        observer: Option<Arc<dyn RunObserver>>,
    ) -> std::io::Result<(Collector<'scope>, Sender<Record>)> {
        let (sender, receiver) = crossbeam_channel::unbounded();
        let thread = thread::Builder::new()
            .name("event-collector".into())
            .spawn_scoped(scope, move || collect(&receiver, observer.as_deref()))?;
        Ok((Collector { thread }, sender))
    }

    /// Waits for the senders to be gone; returns the events, sorted, and
    /// each of `num_requests` requests' end (`NotStarted` for those that sent none).
    pub(crate) fn finish(self, num_requests: usize) -> (Vec<AttemptEvent>, Vec<RequestEnd>) {
        let records = match self.thread.join() {
            Ok(records) => records,
            Err(panic) => std::panic::resume_unwind(panic),
        };
        let mut events = Vec::with_capacity(records.len());
        let mut ends = vec![RequestEnd::NotStarted; num_requests];
        for record in records {
            match record {
                Record::Attempt(event) => events.push(event),
                Record::End { request, end } => {
                    if let Some(slot) = ends.get_mut(request) {
                        *slot = end;
                    }
                }
            }
        }
        events.sort_by_key(|event| (event.request, event.attempt));
        (events, ends)
    }
}

fn collect(receiver: &Receiver<Record>, observer: Option<&dyn RunObserver>) -> Vec<Record> {
    let Some(observer) = observer else {
        return receiver.iter().collect();
    };
    receiver
        .iter()
        .inspect(|record| match record {
            Record::Attempt(event) => observer.attempt(event),
            Record::End { request, end } => observer.ended(*request, *end),
        })
        .collect()
}
