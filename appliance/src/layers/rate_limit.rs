//! Throttles failed authentication: after too many wrong secrets in a window, every
//! credential check answers 429 until the window has passed.

use std::collections::VecDeque;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Sliding-window counter of recent authentication failures.
pub struct FailureLimiter {
    max_failures: usize,
    window: Duration,
    failures: Mutex<VecDeque<Instant>>,
}

impl FailureLimiter {
    /// Allows `max_failures` wrong secrets per `window` before refusing further attempts.
    pub fn new(max_failures: usize, window: Duration) -> Self {
        Self {
            max_failures,
            window,
            failures: Mutex::new(VecDeque::new()),
        }
    }

    /// If attempts are currently locked out, how long until the oldest failure expires.
    pub fn locked_for(&self, now: Instant) -> Option<Duration> {
        let mut failures = self.failures.lock().unwrap_or_else(|e| e.into_inner());
        while failures
            .front()
            .is_some_and(|t| now.duration_since(*t) >= self.window)
        {
            failures.pop_front();
        }
        (failures.len() >= self.max_failures)
            .then(|| self.window.saturating_sub(now.duration_since(failures[0])))
    }

    /// Records one failed attempt.
    pub fn record_failure(&self, now: Instant) {
        let mut failures = self.failures.lock().unwrap_or_else(|e| e.into_inner());
        failures.push_back(now);
        if failures.len() > self.max_failures * 2 {
            failures.pop_front();
        }
    }
}

/// A cap on how many records of one noisy kind (refused requests, failed logins) reach the
/// audit log per window; what is over the cap is counted and reported with the next one.
pub struct AuditBudget {
    max_per_window: u32,
    window: Duration,
    state: Mutex<(Instant, u32, u64)>,
}

impl AuditBudget {
    /// Allows `max_per_window` records per `window`.
    pub fn new(max_per_window: u32, window: Duration) -> Self {
        Self {
            max_per_window,
            window,
            state: Mutex::new((Instant::now(), 0, 0)),
        }
    }

    /// `Some(n)` when this event may be recorded, `n` being how many were left out before
    /// it; `None` when it is over the cap (and counted).
    pub fn admit(&self, now: Instant) -> Option<u64> {
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        let (start, used, skipped) = &mut *state;
        if now.duration_since(*start) >= self.window {
            *start = now;
            *used = 0;
        }
        if *used >= self.max_per_window {
            *skipped += 1;
            return None;
        }
        *used += 1;
        Some(std::mem::take(skipped))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_audit_budget_caps_and_counts() {
        let budget = AuditBudget::new(2, Duration::from_secs(10));
        let t0 = Instant::now();
        assert_eq!(budget.admit(t0), Some(0));
        assert_eq!(budget.admit(t0), Some(0));
        assert_eq!(budget.admit(t0), None);
        assert_eq!(budget.admit(t0), None);
        assert_eq!(budget.admit(t0 + Duration::from_secs(11)), Some(2));
    }

    #[test]
    fn locks_after_max_failures_and_unlocks_after_window() {
        let limiter = FailureLimiter::new(3, Duration::from_secs(10));
        let t0 = Instant::now();
        for i in 0..3 {
            assert_eq!(limiter.locked_for(t0), None, "attempt {i}");
            limiter.record_failure(t0);
        }
        assert!(limiter.locked_for(t0 + Duration::from_secs(1)).is_some());
        assert_eq!(limiter.locked_for(t0 + Duration::from_secs(10)), None);
    }
}
