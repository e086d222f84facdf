//! A progress bar on stderr for long runs: done, failed and in-flight
//! counts and the current rate. Only when stderr is a terminal and the
//! per-request timeline is off, so never in pipes, CI or tests.

use concurrent_http_client::{AttemptEvent, RequestEnd, RunObserver};
use indicatif::{ProgressBar, ProgressStyle};
use std::io::IsTerminal;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Instant;

/// The bar and the counts it shows.
pub struct Progress {
    bar: ProgressBar,
    started: AtomicUsize,
    done: AtomicUsize,
    failed: AtomicUsize,
    attempts: AtomicUsize,
    began: Instant,
}

impl Progress {
    /// A bar for `requests` requests, or `None` when it should not show.
    pub fn for_run(requests: usize) -> Option<Arc<Progress>> {
        let timeline_on =
            log::log_enabled!(target: "concurrent_http_client::request", log::Level::Info);
        if timeline_on || !std::io::stderr().is_terminal() {
            return None;
        }
        let bar = ProgressBar::new(requests as u64);
        let style = ProgressStyle::with_template("{bar:40} {pos}/{len} done  {msg}")
            .unwrap_or_else(|_| ProgressStyle::default_bar());
        bar.set_style(style);
        Some(Arc::new(Progress {
            bar,
            started: AtomicUsize::new(0),
            done: AtomicUsize::new(0),
            failed: AtomicUsize::new(0),
            attempts: AtomicUsize::new(0),
            began: Instant::now(),
        }))
    }

    fn refresh(&self) {
        let started = self.started.load(Ordering::Relaxed);
        let done = self.done.load(Ordering::Relaxed);
        let attempts = self.attempts.load(Ordering::Relaxed);
        let seconds = self.began.elapsed().as_secs_f64().max(0.001);
        self.bar.set_position(done as u64);
        self.bar.set_message(format!(
            "{} failed, {} in flight, {:.1} attempts/s",
            self.failed.load(Ordering::Relaxed),
            started.saturating_sub(done),
            attempts as f64 / seconds
        ));
    }

    /// Removes the bar, so the report follows a clean line.
    pub fn finish(&self) {
        self.bar.finish_and_clear();
    }
}

impl RunObserver for Progress {
    fn started(&self, _request: usize) {
        self.started.fetch_add(1, Ordering::Relaxed);
        self.refresh();
    }

    fn attempt(&self, _event: &AttemptEvent) {
        self.attempts.fetch_add(1, Ordering::Relaxed);
    }

    fn ended(&self, _request: usize, end: RequestEnd) {
        self.done.fetch_add(1, Ordering::Relaxed);
        if end != RequestEnd::Succeeded {
            self.failed.fetch_add(1, Ordering::Relaxed);
        }
        self.refresh();
    }
}
