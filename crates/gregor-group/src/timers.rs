//! Deadlines and backoff. Nothing here reads a clock: every instant comes
//! from the caller's `now`.

use std::time::{Duration, Instant};

/// Exponential backoff without jitter, so runs are reproducible: the first
/// retry waits `base`, each further one twice as long, up to `max`.
#[derive(Debug, Clone)]
pub(crate) struct Backoff {
    base: Duration,
    max: Duration,
    attempts: u32,
    until: Option<Instant>,
}

impl Backoff {
    pub(crate) fn new(base: Duration, max: Duration) -> Self {
        Self {
            base,
            max,
            attempts: 0,
            until: None,
        }
    }

    /// Records a failure at `now` and starts waiting.
    pub(crate) fn fail(&mut self, now: Instant) {
        let factor = 1u32.checked_shl(self.attempts.min(16)).unwrap_or(u32::MAX);
        let wait = self.base.saturating_mul(factor).min(self.max);
        self.attempts = self.attempts.saturating_add(1);
        self.until = Some(now + wait);
    }

    /// Records a success: the next failure waits `base` again.
    pub(crate) fn succeed(&mut self) {
        self.attempts = 0;
        self.until = None;
    }

    /// Forgets a wait that has ended, so it is no longer a deadline.
    pub(crate) fn expire(&mut self, now: Instant) {
        if self.until.is_some_and(|u| now >= u) {
            self.until = None;
        }
    }

    /// Whether an attempt may be made at `now`.
    pub(crate) fn ready(&self, now: Instant) -> bool {
        self.until.is_none_or(|u| now >= u)
    }

    /// When the current wait ends, if waiting.
    pub(crate) fn deadline(&self) -> Option<Instant> {
        self.until
    }
}

/// The earliest of some optional instants.
pub(crate) fn earliest(instants: impl IntoIterator<Item = Option<Instant>>) -> Option<Instant> {
    instants.into_iter().flatten().min()
}

/// `d` in whole milliseconds for the wire, saturating.
pub(crate) fn millis_i32(d: Duration) -> i32 {
    i32::try_from(d.as_millis()).unwrap_or(i32::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_max() {
        let now = Instant::now();
        let mut b = Backoff::new(Duration::from_millis(100), Duration::from_millis(350));
        assert!(b.ready(now));
        b.fail(now);
        assert_eq!(b.deadline(), Some(now + Duration::from_millis(100)));
        b.fail(now);
        assert_eq!(b.deadline(), Some(now + Duration::from_millis(200)));
        b.fail(now);
        assert_eq!(b.deadline(), Some(now + Duration::from_millis(350)));
        assert!(!b.ready(now));
        b.succeed();
        assert!(b.ready(now));
    }
}
