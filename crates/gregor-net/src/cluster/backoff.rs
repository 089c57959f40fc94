//! Exponential backoff with jitter, and the small random source behind it.
//!
//! Pure: no clock and no global random state, so a seeded [`Backoff`] gives
//! the same delays on every run and can be tested exactly.

use std::hash::{BuildHasher, RandomState};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// How a [`Backoff`] grows: from `initial`, doubling after every failure, up
/// to `max`, each delay multiplied by a random factor in
/// `1 - jitter .. 1 + jitter`.
///
/// The defaults of [`ClusterConfig`](crate::ClusterConfig) follow the Java
/// client: `retry.backoff.ms` / `retry.backoff.max.ms` (100 ms to 1 s) for
/// retried requests and `reconnect.backoff.ms` / `reconnect.backoff.max.ms`
/// (50 ms to 1 s) for reconnects, with the ±25% jitter that dp-kafka's
/// `GetRetryTime` and Java's `ExponentialBackoff` (20%) use so that many
/// clients restarted together do not hammer a broker in lockstep.
///
/// ```
/// use std::time::Duration;
/// use gregor_net::BackoffPolicy;
///
/// let policy = BackoffPolicy::new(Duration::from_millis(100), Duration::from_secs(1));
/// assert_eq!(policy.jitter(), 0.25);
/// ```
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BackoffPolicy {
    initial: Duration,
    max: Duration,
    jitter: f64,
}

impl BackoffPolicy {
    /// The jitter used unless told otherwise: ±25%.
    pub const DEFAULT_JITTER: f64 = 0.25;

    /// A policy from `initial` to `max` with ±25% jitter. A `max` below
    /// `initial` is raised to it (the config builder reports that as an
    /// error instead; this constructor never fails).
    pub fn new(initial: Duration, max: Duration) -> Self {
        Self {
            initial,
            max: max.max(initial),
            jitter: Self::DEFAULT_JITTER,
        }
    }

    /// The same policy with jitter `jitter` (a fraction: `0.25` is ±25%),
    /// clamped to `0.0..=0.99`; NaN means none.
    #[must_use]
    pub fn with_jitter(mut self, jitter: f64) -> Self {
        self.jitter = if jitter.is_nan() {
            0.0
        } else {
            jitter.clamp(0.0, 0.99)
        };
        self
    }

    /// The delay after the first failure, before jitter.
    pub fn initial(&self) -> Duration {
        self.initial
    }

    /// The longest delay, after jitter.
    pub fn max(&self) -> Duration {
        self.max
    }

    /// The jitter fraction.
    pub fn jitter(&self) -> f64 {
        self.jitter
    }

    /// The delay before jitter after `failures` failures (the first failure
    /// is 1): `initial * 2^(failures - 1)`, capped at `max`.
    pub fn base_delay(&self, failures: u32) -> Duration {
        // Past 2^63 the product only saturates at the cap anyway.
        let exp = failures.saturating_sub(1).min(63) as i32;
        let secs = self.initial.as_secs_f64() * 2f64.powi(exp);
        Duration::try_from_secs_f64(secs)
            .unwrap_or(self.max)
            .min(self.max)
    }
}

/// The state of one backoff sequence: how many failures in a row, and the
/// random source for the jitter.
///
/// [`next_delay`](Self::next_delay) after each failure, [`reset`](Self::reset)
/// after a success. Delay `n` is [`BackoffPolicy::base_delay`]`(n)` times a
/// factor drawn from `1 - jitter .. 1 + jitter`, then capped at the maximum:
/// the Java client's formula, so once the cap is reached delays spread over
/// `0.75 * max ..= max` rather than beyond it.
///
/// ```
/// use std::time::Duration;
/// use gregor_net::{Backoff, BackoffPolicy};
///
/// let policy = BackoffPolicy::new(Duration::from_millis(100), Duration::from_secs(1));
/// let mut b = Backoff::with_seed(policy, 7);
/// let first = b.next_delay();
/// assert!(first >= Duration::from_millis(75) && first <= Duration::from_millis(125));
/// for _ in 0..10 {
///     assert!(b.next_delay() <= Duration::from_secs(1));
/// }
/// b.reset();
/// assert!(b.next_delay() <= Duration::from_millis(125));
/// ```
#[derive(Debug, Clone)]
pub struct Backoff {
    policy: BackoffPolicy,
    failures: u32,
    rng: Rng,
}

impl Backoff {
    /// A backoff with a random seed.
    pub fn new(policy: BackoffPolicy) -> Self {
        Self::with_seed(policy, random_seed())
    }

    /// A backoff whose jitter comes from `seed`: the same seed gives the same
    /// delays, for tests.
    pub fn with_seed(policy: BackoffPolicy, seed: u64) -> Self {
        Self {
            policy,
            failures: 0,
            rng: Rng::new(seed),
        }
    }

    /// Records a failure and returns how long to wait before the next try.
    pub fn next_delay(&mut self) -> Duration {
        self.failures = self.failures.saturating_add(1);
        let base = self.policy.base_delay(self.failures);
        let jitter = self.policy.jitter;
        let factor = 1.0 - jitter + 2.0 * jitter * self.rng.unit();
        Duration::try_from_secs_f64(base.as_secs_f64() * factor)
            .unwrap_or(self.policy.max)
            .min(self.policy.max)
    }

    /// Forgets the failures: the next delay is the initial one again.
    pub fn reset(&mut self) {
        self.failures = 0;
    }

    /// Failures since the last reset.
    pub fn failures(&self) -> u32 {
        self.failures
    }

    /// The policy.
    pub fn policy(&self) -> &BackoffPolicy {
        &self.policy
    }
}

/// SplitMix64: tiny, fast and good enough for jitter and for picking a
/// broker at random; not for anything secret. Kept here rather than adding
/// a `rand` dependency to the whole client for two uses.
#[derive(Debug, Clone)]
pub(crate) struct Rng(u64);

impl Rng {
    pub(crate) fn new(seed: u64) -> Self {
        Self(seed)
    }

    pub(crate) fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `0.0..1.0`, from the top 53 bits.
    pub(crate) fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// Uniform in `0..n`; `n` must be positive. The modulo bias is at most
    /// `n / 2^64`, irrelevant for picking among brokers.
    pub(crate) fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n.max(1) as u64) as usize
    }

    /// Fisher-Yates.
    pub(crate) fn shuffle<T>(&mut self, items: &mut [T]) {
        for i in (1..items.len()).rev() {
            let j = self.below(i + 1);
            items.swap(i, j);
        }
    }
}

/// A seed that differs between processes (std's per-process random hash
/// keys) and between calls (a counter).
pub(crate) fn random_seed() -> u64 {
    static CALLS: AtomicU64 = AtomicU64::new(0);
    RandomState::new().hash_one(CALLS.fetch_add(1, Ordering::Relaxed))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn jitter_stays_within_a_quarter_of_the_base() {
        let policy = BackoffPolicy::new(ms(100), ms(1000));
        for seed in 0..200 {
            let mut b = Backoff::with_seed(policy, seed);
            for failures in 1..=8u32 {
                let base = policy.base_delay(failures);
                let d = b.next_delay();
                assert!(
                    d >= base.mul_f64(0.75),
                    "{failures}: {d:?} < 0.75 * {base:?}"
                );
                assert!(d <= base.mul_f64(1.25).min(ms(1000)), "{failures}: {d:?}");
            }
        }
    }

    #[test]
    fn grows_doubling_then_caps() {
        let policy = BackoffPolicy::new(ms(100), ms(1000)).with_jitter(0.0);
        let mut b = Backoff::with_seed(policy, 1);
        let delays: Vec<u64> = (0..7).map(|_| b.next_delay().as_millis() as u64).collect();
        assert_eq!(delays, [100, 200, 400, 800, 1000, 1000, 1000]);
        // Far past any sane retry count nothing overflows.
        for _ in 0..100_000 {
            b.next_delay();
        }
        assert_eq!(b.next_delay(), ms(1000));
    }

    #[test]
    fn reset_starts_over() {
        let policy = BackoffPolicy::new(ms(50), ms(1000)).with_jitter(0.0);
        let mut b = Backoff::with_seed(policy, 1);
        b.next_delay();
        b.next_delay();
        assert_eq!(b.failures(), 2);
        b.reset();
        assert_eq!(b.failures(), 0);
        assert_eq!(b.next_delay(), ms(50));
    }

    #[test]
    fn same_seed_same_delays_and_jitter_spreads() {
        let policy = BackoffPolicy::new(ms(100), ms(10_000));
        let run = |seed| {
            let mut b = Backoff::with_seed(policy, seed);
            (0..5).map(|_| b.next_delay()).collect::<Vec<_>>()
        };
        assert_eq!(run(42), run(42));
        let firsts: std::collections::BTreeSet<Duration> = (0..50).map(|s| run(s)[0]).collect();
        assert!(firsts.len() > 10, "jitter barely varies: {firsts:?}");
    }

    #[test]
    fn jitter_is_clamped() {
        assert_eq!(
            BackoffPolicy::new(ms(1), ms(2))
                .with_jitter(f64::NAN)
                .jitter(),
            0.0
        );
        assert_eq!(
            BackoffPolicy::new(ms(1), ms(2)).with_jitter(5.0).jitter(),
            0.99
        );
        assert_eq!(BackoffPolicy::new(ms(10), ms(2)).max(), ms(10));
    }

    #[test]
    fn shuffle_is_a_permutation() {
        let mut rng = Rng::new(3);
        let mut v: Vec<u32> = (0..20).collect();
        rng.shuffle(&mut v);
        let mut sorted = v.clone();
        sorted.sort_unstable();
        assert_eq!(sorted, (0..20).collect::<Vec<_>>());
    }
}
