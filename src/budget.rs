//! A retry budget for a whole run, so a failing upstream is not hammered by
//! a retry storm.
//!
//! The rule, in the manner of Finagle's and Envoy's budgets: over any sliding
//! window (10 s by default), retries may number at most `ratio` × the first
//! attempts made in it, plus a floor of `min_per_second` × the window's
//! seconds so that a quiet client can still retry at all. A retry the budget
//! refuses is not made; its request fails with that cause.

use std::collections::VecDeque;
use std::sync::Mutex;
use std::time::Duration;

/// The budget's settings.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BudgetConfig {
    /// Retries allowed per first attempt, e.g. 0.2 for 20%.
    pub ratio: f64,
    /// Retries allowed per second whatever the traffic. Defaults to 1.
    pub min_per_second: f64,
    /// How far back the budget looks. Defaults to 10 s.
    pub window: Duration,
}

impl BudgetConfig {
    /// A budget of `ratio` retries per first attempt, with the default floor and window.
    pub fn with_ratio(ratio: f64) -> BudgetConfig {
        BudgetConfig {
            ratio,
            min_per_second: 1.0,
            window: Duration::from_secs(10),
        }
    }
}

/// The budget's accounting. Times are offsets from the start of the run, as
/// everywhere in a run, so the accounting can be tested without a clock.
#[derive(Debug)]
pub struct RetryBudget {
    config: BudgetConfig,
    state: Mutex<Ledger>,
}

#[derive(Debug, Default)]
struct Ledger {
    first_attempts: VecDeque<Duration>,
    retries: VecDeque<Duration>,
}

impl Ledger {
    fn forget_before(&mut self, cutoff: Duration) {
        while self.first_attempts.front().is_some_and(|&t| t < cutoff) {
            self.first_attempts.pop_front();
        }
        while self.retries.front().is_some_and(|&t| t < cutoff) {
            self.retries.pop_front();
        }
    }
}

impl RetryBudget {
    /// An empty budget.
    pub fn new(config: BudgetConfig) -> RetryBudget {
        RetryBudget {
            config,
            state: Mutex::new(Ledger::default()),
        }
    }

    /// Counts a first attempt made at `now`.
    pub fn record_first_attempt(&self, now: Duration) {
        self.ledger().first_attempts.push_back(now);
    }

    /// Takes one retry from the budget at `now`: true if it may be made.
    pub fn try_retry(&self, now: Duration) -> bool {
        let mut ledger = self.ledger();
        ledger.forget_before(now.saturating_sub(self.config.window));
        let allowed = self.config.ratio * ledger.first_attempts.len() as f64
            + self.config.min_per_second * self.config.window.as_secs_f64();
        if (ledger.retries.len() as f64) < allowed.floor() {
            ledger.retries.push_back(now);
            true
        } else {
            false
        }
    }

    fn ledger(&self) -> std::sync::MutexGuard<'_, Ledger> {
        // The lock guards two queues and no I/O; a panic while holding it
        // leaves them consistent, so a poisoned lock is still usable.
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secs(seconds: u64) -> Duration {
        Duration::from_secs(seconds)
    }

    fn budget(ratio: f64, min_per_second: f64) -> RetryBudget {
        RetryBudget::new(BudgetConfig {
            ratio,
            min_per_second,
            window: secs(10),
        })
    }

    #[test]
    fn retries_are_a_share_of_first_attempts() {
        let budget = budget(0.2, 0.0);
        for _ in 0..50 {
            budget.record_first_attempt(secs(1));
        }
        let granted = (0..50).filter(|_| budget.try_retry(secs(2))).count();
        assert_eq!(granted, 10, "20% of 50");
    }

    #[test]
    fn the_floor_allows_retries_without_traffic() {
        let budget = budget(0.2, 0.5);
        let granted = (0..20).filter(|_| budget.try_retry(secs(1))).count();
        assert_eq!(granted, 5, "0.5 a second over 10 s");
    }

    #[test]
    fn old_attempts_and_retries_leave_the_window() {
        let budget = budget(0.5, 0.0);
        for _ in 0..4 {
            budget.record_first_attempt(secs(0));
        }
        assert!(budget.try_retry(secs(1)));
        assert!(budget.try_retry(secs(1)));
        assert!(!budget.try_retry(secs(1)), "half of 4 is 2");
        // Eleven seconds on, the window holds nothing: no first attempts,
        // so no share, and no floor.
        assert!(!budget.try_retry(secs(11)));
        for _ in 0..2 {
            budget.record_first_attempt(secs(11));
        }
        assert!(
            budget.try_retry(secs(12)),
            "the old retries no longer count"
        );
        assert!(!budget.try_retry(secs(12)));
    }
}
