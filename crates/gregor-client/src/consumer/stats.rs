//! Counters and gauges, like kafka-go's `ReaderStats`.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// A snapshot of a consumer's activity from
/// [`Consumer::stats`](crate::consumer::Consumer::stats).
///
/// Counters are cumulative since the consumer was created (unlike
/// kafka-go, reading them does not reset them); gauges are the values at
/// the time of the call.
#[non_exhaustive]
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ConsumerStats {
    /// The group id, if any.
    pub group_id: Option<String>,
    /// Fetch responses received.
    pub fetches: u64,
    /// Of those, incremental fetch-session responses (KIP-227).
    pub incremental_fetches: u64,
    /// Fetch sessions the broker lost, each followed by a full fetch.
    pub fetch_session_resets: u64,
    /// Records handed to the application.
    pub messages: u64,
    /// Key, value and header bytes handed to the application.
    pub bytes: u64,
    /// Assignments received from the group.
    pub rebalances: u64,
    /// Offset commits that succeeded.
    pub commits: u64,
    /// Offset commits that failed.
    pub commit_failures: u64,
    /// Errors met (fetch, offset lookup, group), including retried ones.
    pub errors: u64,
    /// Fetch round trips: fastest, slowest and mean.
    pub fetch_time: DurationSummary,
    /// Partitions assigned now.
    pub assigned_partitions: usize,
    /// Records fetched and not yet handed out.
    pub queue_length: usize,
    /// Their footprint in bytes.
    pub queue_bytes: usize,
    /// The prefetch budget (`queue_bytes` plus fetches in flight stay
    /// below it).
    pub queue_capacity: usize,
    /// The sum of every assigned partition's lag (see
    /// [`Consumer::lag`](crate::consumer::Consumer::lag)).
    pub lag: i64,
    /// `fetch_min_bytes`.
    pub min_bytes: usize,
    /// `fetch_max_bytes`.
    pub max_bytes: usize,
    /// `fetch_max_wait`.
    pub max_wait: Duration,
}

/// Minimum, maximum and mean of a set of durations.
#[non_exhaustive]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DurationSummary {
    /// How many were measured.
    pub count: u64,
    /// The shortest.
    pub min: Duration,
    /// The longest.
    pub max: Duration,
    /// The mean.
    pub avg: Duration,
}

/// The live counters behind [`ConsumerStats`].
#[derive(Debug, Default)]
pub(crate) struct Counters {
    pub(crate) fetches: AtomicU64,
    pub(crate) incremental_fetches: AtomicU64,
    pub(crate) fetch_session_resets: AtomicU64,
    pub(crate) messages: AtomicU64,
    pub(crate) bytes: AtomicU64,
    pub(crate) rebalances: AtomicU64,
    pub(crate) commits: AtomicU64,
    pub(crate) commit_failures: AtomicU64,
    pub(crate) errors: AtomicU64,
    fetch_count: AtomicU64,
    fetch_sum_us: AtomicU64,
    fetch_min_us: AtomicU64,
    fetch_max_us: AtomicU64,
}

impl Counters {
    pub(crate) fn add(counter: &AtomicU64, n: u64) {
        counter.fetch_add(n, Ordering::Relaxed);
    }

    pub(crate) fn fetch_took(&self, d: Duration) {
        let us = u64::try_from(d.as_micros()).unwrap_or(u64::MAX);
        if self.fetch_count.fetch_add(1, Ordering::Relaxed) == 0 {
            self.fetch_min_us.store(us, Ordering::Relaxed);
        } else {
            self.fetch_min_us.fetch_min(us, Ordering::Relaxed);
        }
        self.fetch_sum_us.fetch_add(us, Ordering::Relaxed);
        self.fetch_max_us.fetch_max(us, Ordering::Relaxed);
    }

    /// The counters into `stats`.
    pub(crate) fn fill(&self, stats: &mut ConsumerStats) {
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        stats.fetches = get(&self.fetches);
        stats.incremental_fetches = get(&self.incremental_fetches);
        stats.fetch_session_resets = get(&self.fetch_session_resets);
        stats.messages = get(&self.messages);
        stats.bytes = get(&self.bytes);
        stats.rebalances = get(&self.rebalances);
        stats.commits = get(&self.commits);
        stats.commit_failures = get(&self.commit_failures);
        stats.errors = get(&self.errors);
        let count = get(&self.fetch_count);
        if count > 0 {
            stats.fetch_time = DurationSummary {
                count,
                min: Duration::from_micros(get(&self.fetch_min_us)),
                max: Duration::from_micros(get(&self.fetch_max_us)),
                avg: Duration::from_micros(get(&self.fetch_sum_us) / count),
            };
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fetch_times_are_summarised() {
        let c = Counters::default();
        for ms in [30, 10, 20] {
            c.fetch_took(Duration::from_millis(ms));
        }
        Counters::add(&c.messages, 5);
        let mut s = ConsumerStats::default();
        c.fill(&mut s);
        assert_eq!(s.messages, 5);
        assert_eq!(s.fetch_time.count, 3);
        assert_eq!(s.fetch_time.min, Duration::from_millis(10));
        assert_eq!(s.fetch_time.max, Duration::from_millis(30));
        assert_eq!(s.fetch_time.avg, Duration::from_millis(20));
    }
}
