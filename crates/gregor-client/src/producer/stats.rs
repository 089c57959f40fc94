//! Counters and summaries of what a producer did, like kafka-go's
//! `WriterStats`.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// A summary of observed values: count, min, average, max, and (from a
/// log-scale histogram, within ~10%) the median and 99th percentile.
#[non_exhaustive]
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct SummaryStats {
    /// How many values were observed.
    pub count: u64,
    /// The smallest (0 when none).
    pub min: u64,
    /// The mean (0 when none).
    pub avg: f64,
    /// The largest (0 when none).
    pub max: u64,
    /// About the median.
    pub p50: u64,
    /// About the 99th percentile.
    pub p99: u64,
}

/// The same summary for durations.
#[non_exhaustive]
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct DurationStats {
    /// How many durations were observed.
    pub count: u64,
    /// The shortest.
    pub min: Duration,
    /// The mean.
    pub avg: Duration,
    /// The longest.
    pub max: Duration,
    /// About the median.
    pub p50: Duration,
    /// About the 99th percentile.
    pub p99: Duration,
}

/// What a producer did since it was created, from
/// [`Producer::stats`](super::Producer::stats). Counters only grow
/// (unlike kafka-go's, reading them does not reset them), so rates come
/// from the difference of two snapshots.
#[non_exhaustive]
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ProducerStats {
    /// Records acknowledged.
    pub records: u64,
    /// Bytes of acknowledged batches, before compression.
    pub bytes: u64,
    /// Batches acknowledged.
    pub batches: u64,
    /// Produce requests sent.
    pub requests: u64,
    /// Records that failed for good.
    pub errors: u64,
    /// Batches sent again after a failed attempt.
    pub retries: u64,
    /// Producer id bumps after a sequence error (idempotence).
    pub epoch_bumps: u64,
    /// Records per acknowledged batch.
    pub batch_records: SummaryStats,
    /// Bytes per acknowledged batch, before compression.
    pub batch_bytes: SummaryStats,
    /// From sending a Produce request to its answer.
    pub request_latency: DurationStats,
    /// From a batch's first record to its acknowledgement: linger, queueing
    /// and the request together.
    pub batch_latency: DurationStats,
    /// Bytes of buffer held by batches now.
    pub buffered_bytes: u64,
    /// Produce requests awaiting their answer now.
    pub in_flight: u64,
}

/// Buckets of the histogram: value `v` goes to bucket `~4 * log2(v)`, so
/// each bucket spans ~19% and the whole u64 range fits.
const BUCKETS: usize = 4 * 64 + 1;

fn bucket(v: u64) -> usize {
    if v < 4 {
        return v as usize;
    }
    let log = 63 - u64::from(v.leading_zeros());
    // The two bits after the leading one pick a quarter of the octave.
    let quarter = (v >> (log - 2)) & 3;
    (4 * log + quarter) as usize - 4
}

fn bucket_floor(b: usize) -> u64 {
    if b < 4 {
        return b as u64;
    }
    let b = b as u64 + 4;
    let (log, quarter) = (b / 4, b % 4);
    (4 | quarter) << (log - 2)
}

/// A lock-free summary: atomics for count, sum, min, max and a histogram.
#[derive(Debug)]
pub(crate) struct Summary {
    count: AtomicU64,
    sum: AtomicU64,
    min: AtomicU64,
    max: AtomicU64,
    hist: Box<[AtomicU64]>,
}

impl Default for Summary {
    fn default() -> Self {
        Self {
            count: AtomicU64::new(0),
            sum: AtomicU64::new(0),
            min: AtomicU64::new(u64::MAX),
            max: AtomicU64::new(0),
            hist: (0..BUCKETS).map(|_| AtomicU64::new(0)).collect(),
        }
    }
}

impl Summary {
    pub(crate) fn observe(&self, v: u64) {
        self.count.fetch_add(1, Ordering::Relaxed);
        self.sum.fetch_add(v, Ordering::Relaxed);
        self.min.fetch_min(v, Ordering::Relaxed);
        self.max.fetch_max(v, Ordering::Relaxed);
        if let Some(h) = self.hist.get(bucket(v)) {
            h.fetch_add(1, Ordering::Relaxed);
        }
    }

    fn quantile(&self, counts: &[u64], total: u64, q: f64) -> u64 {
        let rank = ((total as f64) * q).ceil().max(1.0) as u64;
        let mut seen = 0;
        for (b, c) in counts.iter().enumerate() {
            seen += c;
            if seen >= rank {
                return bucket_floor(b);
            }
        }
        0
    }

    pub(crate) fn snapshot(&self) -> SummaryStats {
        let count = self.count.load(Ordering::Relaxed);
        if count == 0 {
            return SummaryStats::default();
        }
        let counts: Vec<u64> = self
            .hist
            .iter()
            .map(|h| h.load(Ordering::Relaxed))
            .collect();
        let total = counts.iter().sum::<u64>().max(1);
        let min = self.min.load(Ordering::Relaxed);
        let max = self.max.load(Ordering::Relaxed);
        let clamp = |v: u64| v.clamp(min, max);
        SummaryStats {
            count,
            min,
            avg: self.sum.load(Ordering::Relaxed) as f64 / count as f64,
            max,
            p50: clamp(self.quantile(&counts, total, 0.5)),
            p99: clamp(self.quantile(&counts, total, 0.99)),
        }
    }

    pub(crate) fn durations(&self) -> DurationStats {
        let s = self.snapshot();
        DurationStats {
            count: s.count,
            min: Duration::from_micros(s.min),
            avg: Duration::from_micros(s.avg as u64),
            max: Duration::from_micros(s.max),
            p50: Duration::from_micros(s.p50),
            p99: Duration::from_micros(s.p99),
        }
    }
}

/// The live counters behind [`ProducerStats`].
#[derive(Debug, Default)]
pub(crate) struct Stats {
    pub(crate) records: AtomicU64,
    pub(crate) bytes: AtomicU64,
    pub(crate) batches: AtomicU64,
    pub(crate) requests: AtomicU64,
    pub(crate) errors: AtomicU64,
    pub(crate) retries: AtomicU64,
    pub(crate) epoch_bumps: AtomicU64,
    pub(crate) batch_records: Summary,
    pub(crate) batch_bytes: Summary,
    /// Microseconds.
    pub(crate) request_latency: Summary,
    /// Microseconds.
    pub(crate) batch_latency: Summary,
}

pub(crate) fn add(counter: &AtomicU64, n: u64) {
    counter.fetch_add(n, Ordering::Relaxed);
}

pub(crate) fn micros(d: Duration) -> u64 {
    u64::try_from(d.as_micros()).unwrap_or(u64::MAX)
}

impl Stats {
    pub(crate) fn snapshot(&self, buffered_bytes: u64, in_flight: u64) -> ProducerStats {
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        ProducerStats {
            records: get(&self.records),
            bytes: get(&self.bytes),
            batches: get(&self.batches),
            requests: get(&self.requests),
            errors: get(&self.errors),
            retries: get(&self.retries),
            epoch_bumps: get(&self.epoch_bumps),
            batch_records: self.batch_records.snapshot(),
            batch_bytes: self.batch_bytes.snapshot(),
            request_latency: self.request_latency.durations(),
            batch_latency: self.batch_latency.durations(),
            buffered_bytes,
            in_flight,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_are_monotonic_and_tight() {
        let mut last = 0;
        for v in (0..100_000u64).chain([u64::MAX / 3, u64::MAX]) {
            let b = bucket(v);
            assert!(b >= last, "{v}");
            assert!(b < BUCKETS, "{v}");
            assert!(bucket_floor(b) <= v, "{v}: floor {}", bucket_floor(b));
            if v >= 8 {
                assert!(bucket_floor(b) as f64 >= v as f64 / 1.26, "{v}");
            }
            last = b;
        }
    }

    #[test]
    fn summaries_report_min_avg_max_and_quantiles() {
        let s = Summary::default();
        assert_eq!(s.snapshot(), SummaryStats::default());
        for v in 1..=1000 {
            s.observe(v);
        }
        let snap = s.snapshot();
        assert_eq!((snap.count, snap.min, snap.max), (1000, 1, 1000));
        assert!((snap.avg - 500.5).abs() < 1e-9);
        assert!((400..=500).contains(&snap.p50), "{snap:?}");
        assert!((800..=990).contains(&snap.p99), "{snap:?}");
        let d = Summary::default();
        d.observe(1500);
        assert_eq!(d.durations().max, Duration::from_micros(1500));
        assert_eq!(d.durations().p50, Duration::from_micros(1500));
    }
}
