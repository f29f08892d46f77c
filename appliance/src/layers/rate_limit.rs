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

#[cfg(test)]
mod tests {
    use super::*;

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
