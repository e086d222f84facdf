//! A ticker thread that hands out start slots at a steady rate.
//!
//! # Timing rule
//!
//! Slots sit on a grid one period (`1 / rate`) apart, starting at once.
//! A slot is handed to exactly one caller of [`RateTicker::wait`]:
//!
//! - **Spacing.** Two slots are never handed out closer than
//!   `period - jitter`, where `jitter` is [`RateTicker::jitter_allowance`]
//!   (a twentieth of the period, at most 2 ms). The allowance absorbs the
//!   ticker's own late wake-ups, so while callers keep up the grid does not
//!   drift and the long-run rate is the rate asked for, not a little less.
//! - **No banking.** A slot that nobody is waiting for is not saved. The
//!   ticker holds it until someone takes it and then starts the grid again
//!   from that moment; time spent idle never turns into a burst later.
//! - **Burst of one.** After any idle time the first caller gets a slot at
//!   once and the next waits a full period.

use crate::cancel::Cancel;
use crossbeam_channel::{bounded, select, Receiver, RecvTimeoutError, Sender, TrySendError};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

/// Why a rate could not be used.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum RateError {
    /// The rate was zero, negative or not a number.
    #[error("rate must be a positive number of requests per second, got {0:?}")]
    NotPositive(f64),
    /// The rate was so small that one slot would take more than a year.
    #[error("rate {0:?}/s is too small: one slot would take more than a year")]
    TooSmall(f64),
    /// The ticker thread could not be started.
    #[error("could not start the rate ticker thread: {0}")]
    Spawn(String),
}

/// Hands out start slots evenly spaced at a fixed rate; see the module docs
/// for the exact rule. Share it by reference between threads.
///
/// ```
/// use concurrent_http_client::RateTicker;
/// use std::time::Duration;
///
/// let ticker = RateTicker::new(50.0).expect("a valid rate");
/// let first = ticker.wait();
/// let second = ticker.wait();
/// assert!(second - first >= ticker.period() - ticker.jitter_allowance());
/// ```
#[derive(Debug)]
pub struct RateTicker {
    slots: Receiver<Instant>,
    stop: Option<Sender<()>>,
    thread: Option<JoinHandle<()>>,
    period: Duration,
}

impl RateTicker {
    /// Starts a ticker thread for `per_second` slots a second.
    pub fn new(per_second: f64) -> Result<RateTicker, RateError> {
        let period = Self::period_of(per_second)?;
        // A rendezvous channel: a slot exists only while someone takes it,
        // which is what keeps unused slots from piling up.
        let (slot_tx, slots) = bounded(0);
        let (stop, stop_rx) = bounded(0);
        let jitter = jitter_allowance(period);
        let thread = thread::Builder::new()
            .name("rate-ticker".into())
            .spawn(move || hand_out_slots(period, jitter, &slot_tx, &stop_rx))
            .map_err(|err| RateError::Spawn(err.to_string()))?;
        Ok(RateTicker {
            slots,
            stop: Some(stop),
            thread: Some(thread),
            period,
        })
    }

    /// The time between slots for a rate, after checking the rate.
    pub fn period_of(per_second: f64) -> Result<Duration, RateError> {
        if !(per_second.is_finite() && per_second > 0.0) {
            return Err(RateError::NotPositive(per_second));
        }
        match Duration::try_from_secs_f64(1.0 / per_second) {
            Ok(period) if period <= crate::duration::MAX_DURATION => Ok(period),
            _ => Err(RateError::TooSmall(per_second)),
        }
    }

    /// Blocks until this caller gets a slot.
    ///
    /// Returns the instant the ticker released the slot. The spacing rule holds
    /// exactly between these instants; a slot that was held for a late caller
    /// carries the instant it became free, which is before the call returned.
    pub fn wait(&self) -> Instant {
        // The ticker thread only stops when `self` is dropped, so while
        // `self` is borrowed the channel is open.
        self.slots
            .recv()
            .expect("the ticker thread runs as long as the ticker")
    }

    /// Like [`RateTicker::wait`], but gives up with `None` when `cancel` fires first.
    pub fn wait_unless(&self, cancel: &Cancel) -> Option<Instant> {
        match cancel.channel() {
            None => Some(self.wait()),
            Some(stop) => select! {
                recv(self.slots) -> slot => slot.ok(),
                recv(stop) -> _ => None,
            },
        }
    }

    /// The time between two slots.
    pub fn period(&self) -> Duration {
        self.period
    }

    /// How much closer than a period two slots may be (see the module docs).
    pub fn jitter_allowance(&self) -> Duration {
        jitter_allowance(self.period)
    }
}

impl Drop for RateTicker {
    fn drop(&mut self) {
        // Closing the stop channel wakes the thread wherever it waits.
        drop(self.stop.take());
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn jitter_allowance(period: Duration) -> Duration {
    (period / 20).min(Duration::from_millis(2))
}

fn hand_out_slots(
    period: Duration,
    jitter: Duration,
    slot_tx: &Sender<Instant>,
    stop: &Receiver<()>,
) {
    let mut next = Instant::now();
    loop {
        let now = Instant::now();
        if next > now {
            match stop.recv_timeout(next - now) {
                Err(RecvTimeoutError::Timeout) => {}
                Ok(()) | Err(RecvTimeoutError::Disconnected) => return,
            }
        }
        let released = Instant::now();
        let handed_at = match slot_tx.try_send(released) {
            Ok(()) => Instant::now(),
            Err(TrySendError::Full(_)) => {
                // Nobody is waiting: hold this one slot until someone comes.
                select! {
                    send(slot_tx, released) -> sent => if sent.is_err() { return },
                    recv(stop) -> _ => return,
                }
                Instant::now()
            }
            Err(TrySendError::Disconnected(_)) => return,
        };
        next = (next + period).max(handed_at + period - jitter);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const RATE: f64 = 20.0; // a 50 ms period
    const SLOTS: usize = 21;

    fn ms(millis: u64) -> Duration {
        Duration::from_millis(millis)
    }

    #[test]
    fn slots_are_at_least_a_period_apart_less_the_allowance() {
        let ticker = RateTicker::new(RATE).expect("a valid rate");
        let times: Vec<Instant> = (0..SLOTS).map(|_| ticker.wait()).collect();
        let floor = ticker.period() - ticker.jitter_allowance();
        for pair in times.windows(2) {
            let gap = pair[1] - pair[0];
            assert!(gap >= floor, "two slots {gap:?} apart, floor {floor:?}");
        }
    }

    #[test]
    fn a_busy_ticker_keeps_the_rate_without_drift() {
        let ticker = RateTicker::new(RATE).expect("a valid rate");
        let first = ticker.wait();
        let mut last = first;
        for _ in 1..SLOTS {
            last = ticker.wait();
        }
        let expected = ticker.period() * (SLOTS as u32 - 1);
        let span = last - first;
        // Firm lower bound from the spacing rule; loose upper bound for a busy machine.
        assert!(span >= expected - ticker.jitter_allowance(), "{span:?}");
        assert!(span <= expected + ms(150), "{span:?} for {expected:?}");
    }

    #[test]
    fn the_first_slot_comes_at_once() {
        let before = Instant::now();
        let ticker = RateTicker::new(0.5).expect("a valid rate");
        ticker.wait();
        assert!(before.elapsed() < ms(500), "{:?}", before.elapsed());
    }

    #[test]
    fn idle_time_is_not_banked_into_a_burst() {
        let ticker = RateTicker::new(RATE).expect("a valid rate");
        ticker.wait();
        // Let several periods pass with nobody waiting.
        thread::sleep(ticker.period() * 6);
        let after_idle = Instant::now();
        let first = ticker.wait();
        let first_wait = after_idle.elapsed();
        let second = ticker.wait();
        let third = ticker.wait();
        assert!(
            first_wait < ticker.period(),
            "the slot held during the idle time took {first_wait:?} to come"
        );
        let floor = ticker.period() - ticker.jitter_allowance();
        assert!(
            second - first >= floor,
            "burst after idle: {:?}",
            second - first
        );
        assert!(
            third - second >= floor,
            "burst after idle: {:?}",
            third - second
        );
    }

    #[test]
    fn many_takers_share_one_rate() {
        const TAKERS: usize = 4;
        const EACH: usize = 5;
        let ticker = RateTicker::new(RATE).expect("a valid rate");
        let mut times: Vec<Instant> = thread::scope(|scope| {
            let handles: Vec<_> = (0..TAKERS)
                .map(|_| scope.spawn(|| (0..EACH).map(|_| ticker.wait()).collect::<Vec<_>>()))
                .collect();
            handles
                .into_iter()
                .flat_map(|handle| handle.join().expect("a taker panicked"))
                .collect()
        });
        times.sort();
        let floor = ticker.period() - ticker.jitter_allowance();
        for pair in times.windows(2) {
            assert!(pair[1] - pair[0] >= floor, "{:?}", pair[1] - pair[0]);
        }
    }

    #[test]
    fn dropping_the_ticker_stops_its_thread_promptly() {
        let ticker = RateTicker::new(0.01).expect("a valid rate"); // a 100 s period
        ticker.wait();
        let before = Instant::now();
        drop(ticker);
        assert!(before.elapsed() < Duration::from_secs(5));
    }

    #[test]
    fn bad_rates_are_refused() {
        for rate in [0.0, -1.0, f64::NAN, f64::INFINITY] {
            assert!(matches!(
                RateTicker::period_of(rate),
                Err(RateError::NotPositive(_))
            ));
        }
        assert_eq!(
            RateTicker::period_of(1e-300),
            Err(RateError::TooSmall(1e-300))
        );
        assert_eq!(RateTicker::period_of(1e-9), Err(RateError::TooSmall(1e-9)));
        assert_eq!(RateTicker::period_of(4.0), Ok(ms(250)));
    }
}
