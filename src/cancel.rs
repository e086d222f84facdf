//! Stopping a run early (Ctrl-C): a channel whose sender is dropped to say
//! "stop", which every waiting thread sees at once.

use crossbeam_channel::{Receiver, RecvTimeoutError, Sender, TryRecvError};
use std::time::Duration;

/// The side that stops the run: dropping it, or calling [`Stopper::stop`],
/// cancels every [`Cancel`] made with it.
#[derive(Debug)]
pub struct Stopper(Option<Sender<()>>);

/// The side a run watches. Cloning is cheap; `Cancel::never()` never fires.
#[derive(Debug, Clone)]
pub struct Cancel(Option<Receiver<()>>);

impl Stopper {
    /// Stops the run; later calls do nothing.
    pub fn stop(&mut self) {
        self.0 = None;
    }
}

impl Cancel {
    /// A linked pair.
    pub fn new() -> (Stopper, Cancel) {
        let (sender, receiver) = crossbeam_channel::bounded(0);
        (Stopper(Some(sender)), Cancel(Some(receiver)))
    }

    /// A cancel that never fires.
    pub fn never() -> Cancel {
        Cancel(None)
    }

    /// True once the run has been asked to stop.
    pub fn is_cancelled(&self) -> bool {
        match &self.0 {
            Some(receiver) => matches!(receiver.try_recv(), Err(TryRecvError::Disconnected)),
            None => false,
        }
    }

    /// Sleeps for `duration` unless the run is stopped first; true when the
    /// whole sleep happened.
    pub fn sleep(&self, duration: Duration) -> bool {
        match &self.0 {
            Some(receiver) => matches!(
                receiver.recv_timeout(duration),
                Err(RecvTimeoutError::Timeout)
            ),
            None => {
                std::thread::sleep(duration);
                true
            }
        }
    }

    /// The channel to `select!` on: it disconnects when the run is stopped.
    /// `None` for a cancel that never fires.
    pub fn channel(&self) -> Option<&Receiver<()>> {
        self.0.as_ref()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Instant;

    #[test]
    fn stopping_wakes_a_sleeper_at_once() {
        let (mut stopper, cancel) = Cancel::new();
        let sleeper = cancel.clone();
        let handle = std::thread::spawn(move || {
            let before = Instant::now();
            let slept_fully = sleeper.sleep(Duration::from_secs(60));
            (slept_fully, before.elapsed())
        });
        std::thread::sleep(Duration::from_millis(50));
        assert!(!cancel.is_cancelled());
        stopper.stop();
        let (slept_fully, took) = handle.join().expect("the sleeper ends");
        assert!(!slept_fully);
        assert!(took < Duration::from_secs(10));
        assert!(cancel.is_cancelled());
    }

    #[test]
    fn never_never_fires() {
        let cancel = Cancel::never();
        assert!(!cancel.is_cancelled());
        assert!(cancel.sleep(Duration::from_millis(1)));
    }
}
