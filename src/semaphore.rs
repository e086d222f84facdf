//! A counting semaphore whose permits give themselves back.
//!
//! The tokens live in a bounded crossbeam channel: acquiring receives one,
//! dropping the [`Permit`] sends it back. Blocking, fairness and wake-ups are
//! the channel's, which is well tested; this file only adds the RAII shape.

use crossbeam_channel::{bounded, Receiver, Sender, TryRecvError};
use std::num::NonZeroUsize;

/// At most `capacity` holders at a time; [`Semaphore::acquire`] blocks for a turn.
///
/// Cloning gives another handle on the same tokens.
///
/// ```
/// use concurrent_http_client::Semaphore;
/// use std::num::NonZeroUsize;
///
/// let gate = Semaphore::new(NonZeroUsize::new(2).expect("2 is not zero"));
/// let first = gate.acquire();
/// let _second = gate.acquire();
/// assert!(gate.try_acquire().is_none());
/// drop(first);
/// assert!(gate.try_acquire().is_some());
/// ```
#[derive(Debug, Clone)]
pub struct Semaphore {
    give_back: Sender<()>,
    take: Receiver<()>,
    capacity: NonZeroUsize,
}

/// One holder's turn. Dropping it, by going out of scope or by unwinding from
/// a panic, returns the token to its semaphore.
#[derive(Debug)]
#[must_use = "dropping a permit at once gives the turn straight back"]
pub struct Permit {
    give_back: Sender<()>,
}

impl Semaphore {
    /// A semaphore with `capacity` tokens, all free.
    pub fn new(capacity: NonZeroUsize) -> Self {
        let (give_back, take) = bounded(capacity.get());
        for _ in 0..capacity.get() {
            give_back
                .try_send(())
                .expect("a fresh channel of this capacity has room for every token");
        }
        Semaphore {
            give_back,
            take,
            capacity,
        }
    }

    /// Blocks until a token is free and returns it as a permit.
    pub fn acquire(&self) -> Permit {
        // Both ends live in `self`, so the channel cannot be disconnected here.
        self.take
            .recv()
            .expect("the semaphore holds its own sender");
        self.permit()
    }

    /// Returns a permit when one is free at once, `None` otherwise.
    pub fn try_acquire(&self) -> Option<Permit> {
        match self.take.try_recv() {
            Ok(()) => Some(self.permit()),
            Err(TryRecvError::Empty) => None,
            Err(TryRecvError::Disconnected) => unreachable!("the semaphore holds its own sender"),
        }
    }

    /// How many tokens are free right now (a snapshot, for reports and tests).
    pub fn available(&self) -> usize {
        self.take.len()
    }

    /// The number of tokens the semaphore was made with.
    pub fn capacity(&self) -> NonZeroUsize {
        self.capacity
    }

    fn permit(&self) -> Permit {
        Permit {
            give_back: self.give_back.clone(),
        }
    }
}

impl Drop for Permit {
    fn drop(&mut self) {
        // There is always room: only tokens taken out come back. If every
        // semaphore handle is gone the channel is closed and nothing waits.
        let _ = self.give_back.try_send(());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;
    use std::thread;
    use std::time::Duration;

    const CAPACITY: usize = 3;
    const THREADS: usize = 24;
    const ROUNDS: usize = 50;

    fn semaphore(capacity: usize) -> Semaphore {
        Semaphore::new(NonZeroUsize::new(capacity).expect("test capacity is positive"))
    }

    #[test]
    fn never_admits_more_than_its_capacity() {
        let gate = semaphore(CAPACITY);
        let holders = Arc::new(AtomicUsize::new(0));
        let most_holders = Arc::new(AtomicUsize::new(0));
        thread::scope(|scope| {
            for _ in 0..THREADS {
                scope.spawn(|| {
                    for _ in 0..ROUNDS {
                        let _permit = gate.acquire();
                        let now = holders.fetch_add(1, Ordering::SeqCst) + 1;
                        most_holders.fetch_max(now, Ordering::SeqCst);
                        thread::yield_now();
                        holders.fetch_sub(1, Ordering::SeqCst);
                    }
                });
            }
        });
        let most = most_holders.load(Ordering::SeqCst);
        assert!(most <= CAPACITY, "{most} holders at once");
        assert_eq!(most, CAPACITY, "the threads never filled the semaphore");
        assert_eq!(gate.available(), CAPACITY);
    }

    #[test]
    fn a_panicking_holder_gives_its_permit_back() {
        let gate = semaphore(1);
        let holder = gate.clone();
        let outcome = thread::spawn(move || {
            let _permit = holder.acquire();
            panic!("the holder fails while holding the permit");
        })
        .join();
        assert!(outcome.is_err());
        assert_eq!(gate.available(), 1);
        assert!(gate.try_acquire().is_some());
    }

    #[test]
    fn acquire_waits_for_a_release() {
        let gate = semaphore(1);
        let first = gate.acquire();
        let waiter = gate.clone();
        let (got_tx, got_rx) = crossbeam_channel::bounded(1);
        let handle = thread::spawn(move || {
            let _permit = waiter.acquire();
            got_tx.send(()).expect("the test is listening");
        });
        assert!(
            got_rx.recv_timeout(Duration::from_millis(100)).is_err(),
            "a second holder got in while the only permit was held"
        );
        drop(first);
        got_rx
            .recv_timeout(Duration::from_secs(10))
            .expect("the waiter never got the released permit");
        handle.join().expect("the waiter thread did not panic");
    }

    #[test]
    fn a_permit_outliving_its_semaphore_is_harmless() {
        let gate = semaphore(1);
        let permit = gate.acquire();
        drop(gate);
        drop(permit);
    }
}
