//! Choosing a record's partition: the [`Partitioner`] trait and the
//! partitioners of the clients people migrate from.
//!
//! | Partitioner | Keyed records | Same partitions as |
//! | --- | --- | --- |
//! | [`Murmur2`] (default) | `(murmur2(key) & 0x7fffffff) % n` | Java's default partitioner, librdkafka `murmur2` / `murmur2_random`, kafka-python, kafka-go `Murmur2Balancer`, sarama `NewHashPartitioner` with a murmur2 hasher |
//! | [`Fnv1a`] | `abs(int32(fnv1a(key)) % n)` | sarama's default `NewHashPartitioner`, kafka-go `Hash`, librdkafka `fnv1a` / `fnv1a_random` |
//! | [`ReferenceHash`] | `(int32(fnv1a(key)) & 0x7fffffff) % n` | sarama `NewReferenceHashPartitioner`, kafka-go `ReferenceHash` |
//! | [`Crc32`] | `crc32(key) % n` | librdkafka `consistent` / `consistent_random`, kafka-go `CRC32Balancer` |
//! | [`RoundRobin`] | the next partition in turn | Java `RoundRobinPartitioner`, kafka-go `RoundRobin` |
//! | [`LeastBytes`] | the partition that got the fewest bytes | kafka-go `LeastBytes` |
//! | [`UniformSticky`] | keys ignored: sticky | Java with `partitioner.ignore.keys=true` |
//!
//! A record without a key (and every record under [`UniformSticky`]) goes
//! to the built-in uniform sticky partitioner of KIP-480 and KIP-794, as in
//! the Java client and librdkafka: it sticks to one partition until a
//! batch's worth of bytes (`batch_size`) went there, then moves on, picking
//! the next partition at random weighted towards those with the fewest
//! batches waiting. A partitioner says "no preference" by returning `None`.
//! A record with an explicit partition skips the partitioner.
//!
//! Every hash is checked against the vectors of the Java client, librdkafka
//! and Go's `hash/fnv` in the tests, and against partitions librdkafka
//! actually chose (`testdata/partitioners/`).

use std::collections::HashMap;
use std::fmt;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::{Mutex, RwLock};

/// What a [`Partitioner`] knows about the topic of the record it places.
#[derive(Debug, Clone, Copy)]
pub struct PartitionerContext<'a> {
    topic: &'a str,
    count: i32,
    available: &'a [i32],
}

impl<'a> PartitionerContext<'a> {
    /// A context for `topic` with `count` partitions, of which `available`
    /// (sorted) currently have a leader.
    pub fn new(topic: &'a str, count: i32, available: &'a [i32]) -> Self {
        Self {
            topic,
            count,
            available,
        }
    }

    /// The topic.
    pub fn topic(&self) -> &'a str {
        self.topic
    }

    /// How many partitions the topic has (always at least 1).
    pub fn partition_count(&self) -> i32 {
        self.count
    }

    /// The partitions that currently have a leader, sorted. Empty when the
    /// metadata names no leader at all.
    pub fn available_partitions(&self) -> &'a [i32] {
        self.available
    }
}

/// Chooses the partition of each record sent without an explicit one.
///
/// Called on the sending task for every such record, so it should be
/// cheap and must not block. Returning `None` hands the record to the
/// built-in uniform sticky partitioner (what Java and librdkafka do with
/// records without a key); returning a partition outside
/// `0..partition_count` fails that record with
/// [`ProduceErrorKind::UnknownPartition`](super::ProduceErrorKind::UnknownPartition).
///
/// ```
/// use gregor_client::producer::{Partitioner, PartitionerContext};
///
/// /// Everything for a tenant on one partition: the tenant id is the key's prefix.
/// #[derive(Debug)]
/// struct ByTenant;
///
/// impl Partitioner for ByTenant {
///     fn partition(&self, key: Option<&[u8]>, _value: Option<&[u8]>, cx: &PartitionerContext<'_>) -> Option<i32> {
///         let tenant = key?.split(|b| *b == b':').next()?;
///         let hash = gregor_client::producer::partitioner::murmur2(tenant);
///         Some(((hash & 0x7fff_ffff) % cx.partition_count() as u32) as i32)
///     }
/// }
/// ```
pub trait Partitioner: Send + Sync + fmt::Debug + 'static {
    /// The partition for a record with this key and value, or `None` for
    /// the built-in sticky choice.
    fn partition(
        &self,
        key: Option<&[u8]>,
        value: Option<&[u8]>,
        cx: &PartitionerContext<'_>,
    ) -> Option<i32>;
}

/// `h % n` for a non-negative partition count, as an index.
fn modulo(h: u32, n: i32) -> Option<i32> {
    let n = u32::try_from(n).ok().filter(|n| *n > 0)?;
    i32::try_from(h % n).ok()
}

/// Kafka's murmur2 (the Java client's `Utils.murmur2`, seed `0x9747b28c`),
/// as an unsigned 32-bit value; Java's `int` result is this cast to `i32`.
pub fn murmur2(data: &[u8]) -> u32 {
    const SEED: u32 = 0x9747_b28c;
    const M: u32 = 0x5bd1_e995;
    const R: u32 = 24;
    // Java's length is an int; longer keys hash as Java would see them cut.
    let len = u32::try_from(data.len()).unwrap_or(u32::MAX);
    let mut h = SEED ^ len;
    let mut chunks = data.chunks_exact(4);
    for c in chunks.by_ref() {
        let mut k = u32::from_le_bytes([c[0], c[1], c[2], c[3]]);
        k = k.wrapping_mul(M);
        k ^= k >> R;
        k = k.wrapping_mul(M);
        h = h.wrapping_mul(M);
        h ^= k;
    }
    let tail = chunks.remainder();
    if !tail.is_empty() {
        if let Some(b) = tail.get(2) {
            h ^= u32::from(*b) << 16;
        }
        if let Some(b) = tail.get(1) {
            h ^= u32::from(*b) << 8;
        }
        h ^= u32::from(tail[0]);
        h = h.wrapping_mul(M);
    }
    h ^= h >> 13;
    h = h.wrapping_mul(M);
    h ^= h >> 15;
    h
}

/// 32-bit FNV-1a (Go's `hash/fnv.New32a`, which sarama and kafka-go use).
pub fn fnv1a(data: &[u8]) -> u32 {
    data.iter().fold(0x811c_9dc5_u32, |h, b| {
        (h ^ u32::from(*b)).wrapping_mul(0x0100_0193)
    })
}

/// CRC-32 (IEEE, as zlib and Go's `crc32.ChecksumIEEE`), which librdkafka's
/// `consistent` partitioner hashes keys with.
pub fn crc32(data: &[u8]) -> u32 {
    static TABLE: std::sync::OnceLock<[u32; 256]> = std::sync::OnceLock::new();
    let table = TABLE.get_or_init(|| {
        let mut t = [0u32; 256];
        for (i, slot) in t.iter_mut().enumerate() {
            let mut c = i as u32;
            for _ in 0..8 {
                c = if c & 1 != 0 {
                    0xedb8_8320 ^ (c >> 1)
                } else {
                    c >> 1
                };
            }
            *slot = c;
        }
        t
    });
    !data
        .iter()
        .fold(!0u32, |c, b| table[usize::from((c as u8) ^ *b)] ^ (c >> 8))
}

/// The Java client's default: murmur2 of the key, sign bit cleared, modulo
/// the partition count; records without a key go to the sticky partition.
///
/// Also librdkafka's `murmur2` and `murmur2_random`, kafka-python's default
/// and kafka-go's `Murmur2Balancer`.
#[derive(Debug, Clone, Copy, Default)]
pub struct Murmur2;

impl Partitioner for Murmur2 {
    fn partition(
        &self,
        key: Option<&[u8]>,
        _value: Option<&[u8]>,
        cx: &PartitionerContext<'_>,
    ) -> Option<i32> {
        modulo(murmur2(key?) & 0x7fff_ffff, cx.count)
    }
}

/// sarama's default hash partitioner (and kafka-go's `Hash`, librdkafka's
/// `fnv1a`): FNV-1a of the key as a signed 32-bit value, modulo the
/// partition count, made positive. Records without a key go to the sticky
/// partition.
#[derive(Debug, Clone, Copy, Default)]
pub struct Fnv1a;

/// [`Fnv1a`]'s arithmetic: `abs(int32(h) % n)` with Go's truncating `%`.
pub fn fnv1a_partition(key: &[u8], count: i32) -> Option<i32> {
    if count <= 0 {
        return None;
    }
    let h = fnv1a(key) as i32;
    Some((h % count).abs())
}

impl Partitioner for Fnv1a {
    fn partition(
        &self,
        key: Option<&[u8]>,
        _value: Option<&[u8]>,
        cx: &PartitionerContext<'_>,
    ) -> Option<i32> {
        fnv1a_partition(key?, cx.count)
    }
}

/// sarama's `NewReferenceHashPartitioner` and kafka-go's `ReferenceHash`:
/// FNV-1a of the key with the sign bit cleared, modulo the partition count.
#[derive(Debug, Clone, Copy, Default)]
pub struct ReferenceHash;

impl Partitioner for ReferenceHash {
    fn partition(
        &self,
        key: Option<&[u8]>,
        _value: Option<&[u8]>,
        cx: &PartitionerContext<'_>,
    ) -> Option<i32> {
        modulo(fnv1a(key?) & 0x7fff_ffff, cx.count)
    }
}

/// librdkafka's `consistent` partitioner (and the keyed half of its
/// default, `consistent_random`; kafka-go's `CRC32Balancer`): CRC-32 of
/// the key modulo the partition count. An empty key hashes like any other
/// (to partition 0), as in librdkafka's `consistent`; a missing key goes
/// to the sticky partition.
#[derive(Debug, Clone, Copy, Default)]
pub struct Crc32;

impl Partitioner for Crc32 {
    fn partition(
        &self,
        key: Option<&[u8]>,
        _value: Option<&[u8]>,
        cx: &PartitionerContext<'_>,
    ) -> Option<i32> {
        modulo(crc32(key?), cx.count)
    }
}

/// Ignores keys: every record goes to the built-in uniform sticky
/// partitioner (Java's `partitioner.ignore.keys=true`).
#[derive(Debug, Clone, Copy, Default)]
pub struct UniformSticky;

impl Partitioner for UniformSticky {
    fn partition(
        &self,
        _key: Option<&[u8]>,
        _value: Option<&[u8]>,
        _cx: &PartitionerContext<'_>,
    ) -> Option<i32> {
        None
    }
}

/// Each record to the next partition in turn, per topic, over the
/// partitions that have a leader (all of them when none has), like Java's
/// `RoundRobinPartitioner` and kafka-go's `RoundRobin`. Keys are ignored.
#[derive(Debug, Default)]
pub struct RoundRobin {
    counters: RwLock<HashMap<Box<str>, AtomicU32>>,
}

impl RoundRobin {
    /// A round-robin partitioner starting at the first partition.
    pub fn new() -> Self {
        Self::default()
    }

    fn next(&self, topic: &str) -> u32 {
        {
            let map = self.counters.read().unwrap_or_else(|p| p.into_inner());
            if let Some(c) = map.get(topic) {
                return c.fetch_add(1, Ordering::Relaxed);
            }
        }
        let mut map = self.counters.write().unwrap_or_else(|p| p.into_inner());
        map.entry(topic.into())
            .or_insert_with(|| AtomicU32::new(0))
            .fetch_add(1, Ordering::Relaxed)
    }
}

impl Partitioner for RoundRobin {
    fn partition(
        &self,
        _key: Option<&[u8]>,
        _value: Option<&[u8]>,
        cx: &PartitionerContext<'_>,
    ) -> Option<i32> {
        let turn = self.next(cx.topic);
        if cx.available.is_empty() {
            modulo(turn, cx.count)
        } else {
            let i = usize::try_from(turn).ok()? % cx.available.len();
            cx.available.get(i).copied()
        }
    }
}

/// Each record to the partition that has been given the fewest key and
/// value bytes so far by this partitioner, like kafka-go's `LeastBytes`.
/// Keys are ignored. No coordination across producers: balance relies on
/// each one's own traffic.
#[derive(Debug, Default)]
pub struct LeastBytes {
    counts: Mutex<HashMap<Box<str>, Vec<u64>>>,
}

impl LeastBytes {
    /// A least-bytes partitioner with every count at zero.
    pub fn new() -> Self {
        Self::default()
    }
}

impl Partitioner for LeastBytes {
    fn partition(
        &self,
        key: Option<&[u8]>,
        value: Option<&[u8]>,
        cx: &PartitionerContext<'_>,
    ) -> Option<i32> {
        let n = usize::try_from(cx.count).ok().filter(|n| *n > 0)?;
        let size = key.map_or(0, <[u8]>::len) + value.map_or(0, <[u8]>::len);
        let mut map = self.counts.lock().unwrap_or_else(|p| p.into_inner());
        let counts = match map.get_mut(cx.topic) {
            Some(c) => c,
            None => map.entry(cx.topic.into()).or_default(),
        };
        if counts.len() < n {
            counts.resize(n, 0);
        }
        let candidates: &mut dyn Iterator<Item = usize> = if cx.available.is_empty() {
            &mut (0..n)
        } else {
            &mut cx.available.iter().filter_map(|p| usize::try_from(*p).ok())
        };
        let best = candidates.filter(|i| *i < n).min_by_key(|i| counts[*i])?;
        counts[best] = counts[best].saturating_add(size as u64);
        i32::try_from(best).ok()
    }
}

/// A partitioner from a function, for one-off rules.
///
/// ```
/// use gregor_client::producer::partitioner::from_fn;
///
/// // Everything to the last partition.
/// let last = from_fn(|_key, _value, cx| Some(cx.partition_count() - 1));
/// # let _ = last;
/// ```
pub fn from_fn<F>(f: F) -> FnPartitioner<F>
where
    F: Fn(Option<&[u8]>, Option<&[u8]>, &PartitionerContext<'_>) -> Option<i32>
        + Send
        + Sync
        + 'static,
{
    FnPartitioner(f)
}

/// See [`from_fn`].
pub struct FnPartitioner<F>(F);

impl<F> fmt::Debug for FnPartitioner<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("FnPartitioner")
    }
}

impl<F> Partitioner for FnPartitioner<F>
where
    F: Fn(Option<&[u8]>, Option<&[u8]>, &PartitionerContext<'_>) -> Option<i32>
        + Send
        + Sync
        + 'static,
{
    fn partition(
        &self,
        key: Option<&[u8]>,
        value: Option<&[u8]>,
        cx: &PartitionerContext<'_>,
    ) -> Option<i32> {
        (self.0)(key, value, cx)
    }
}

/// A small lock-free random source for the sticky partitioner's choices
/// (splitmix64 over an atomic counter): not for anything but spreading load.
#[derive(Debug)]
pub(crate) struct Rand(AtomicU64);

impl Rand {
    pub(crate) fn new(seed: u64) -> Self {
        Self(AtomicU64::new(seed))
    }

    pub(crate) fn next(&self) -> u64 {
        let mut z = self
            .0
            .fetch_add(0x9e37_79b9_7f4a_7c15, Ordering::Relaxed)
            .wrapping_add(0x9e37_79b9_7f4a_7c15);
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// A value in `0..n` (`n > 0`).
    pub(crate) fn below(&self, n: u64) -> u64 {
        // Multiply-shift: unbiased enough for load spreading.
        ((u128::from(self.next()) * u128::from(n)) >> 64) as u64
    }
}

/// The next sticky partition (KIP-794's choice): among `candidates`, at
/// random with weights `max_queue + 1 - queue`, so partitions with fewer
/// batches waiting are picked more often, and all equally when the queues
/// are even.
pub(crate) fn weighted_choice(
    candidates: &[i32],
    queue_len: impl Fn(i32) -> u32,
    rand: &Rand,
) -> Option<i32> {
    match candidates {
        [] => None,
        [only] => Some(*only),
        _ => {
            let max = candidates.iter().map(|p| queue_len(*p)).max().unwrap_or(0);
            let total: u64 = candidates
                .iter()
                .map(|p| u64::from(max - queue_len(*p)) + 1)
                .sum();
            let mut pick = rand.below(total);
            for p in candidates {
                let w = u64::from(max - queue_len(*p)) + 1;
                if pick < w {
                    return Some(*p);
                }
                pick -= w;
            }
            candidates.last().copied()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cx(n: i32) -> (Vec<i32>, i32) {
        ((0..n).collect(), n)
    }

    #[test]
    fn murmur2_matches_the_java_client() {
        // Apache Kafka's UtilsTest.testMurmur2 (Java ints).
        let cases: [(&[u8], i32); 6] = [
            (b"21", -973_932_308),
            (b"foobar", -790_332_482),
            (b"a-little-bit-long-string", -985_981_536),
            (b"a-little-bit-longer-string", -1_486_304_829),
            (
                b"lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8",
                -58_897_971,
            ),
            (b"abc", 479_470_107),
        ];
        for (key, want) in cases {
            assert_eq!(
                murmur2(key) as i32,
                want,
                "{}",
                String::from_utf8_lossy(key)
            );
        }
    }

    #[test]
    fn murmur2_matches_librdkafka() {
        // librdkafka's rdmurmur2.c unit test (`java_murmur2_results`).
        let unaligned = "PreAmbleWillBeRemoved,ThePrePartThatIs";
        let cases: [(&str, u32); 11] = [
            ("kafka", 0xd067_cf64),
            ("giberish123456789", 0x8f55_2b0c),
            ("1234", 0x9fc9_7b14),
            ("234", 0xe7c0_09ca),
            ("34", 0x8739_30da),
            ("4", 0x5a4b_5ca1),
            (unaligned, 0x7842_4f1c),
            (&unaligned[1..], 0x4a62_b377),
            (&unaligned[2..], 0xe0e4_e09e),
            (&unaligned[3..], 0x62b8_b43f),
            ("", 0x106e_08d9),
        ];
        for (key, want) in cases {
            assert_eq!(murmur2(key.as_bytes()), want, "{key:?}");
        }
    }

    #[test]
    fn fnv1a_matches_go_and_librdkafka() {
        // Go's hash/fnv New32a: the FNV spec's own test values.
        assert_eq!(fnv1a(b""), 0x811c_9dc5);
        assert_eq!(fnv1a(b"a"), 0xe40c_292c);
        assert_eq!(fnv1a(b"foobar"), 0xbf9c_f968);
        // librdkafka's rdfnv1a.c unit test holds |int32(h)| of Go's hash
        // ("acquired via play.golang.org"), which is what its fnv1a
        // partitioner takes modulo the partition count.
        let unaligned = "PreAmbleWillBeRemoved,ThePrePartThatIs";
        let cases: [(&str, u32); 11] = [
            ("kafka", 0x0d33_c4e1),
            ("giberish123456789", 0x77a5_8295),
            ("1234", 0x023b_dd03),
            ("234", 0x2dea_3cd2),
            ("34", 0x740f_a83e),
            ("4", 0x310c_a263),
            (unaligned, 0x65cb_d69c),
            (&unaligned[1..], 0x6e49_c79a),
            (&unaligned[2..], 0x69ee_d356),
            (&unaligned[3..], 0x6abc_c023),
            ("", 0x7ee3_623b),
        ];
        for (key, want) in cases {
            let abs = (fnv1a(key.as_bytes()) as i32).unsigned_abs();
            assert_eq!(abs, want, "{key:?}");
            // sarama's abs(h % n) equals librdkafka's |h| % n.
            for n in [1, 2, 3, 7, 10, 31] {
                assert_eq!(
                    fnv1a_partition(key.as_bytes(), n),
                    Some((want % n as u32) as i32),
                    "{key:?} over {n}"
                );
            }
        }
    }

    #[test]
    fn crc32_matches_zlib() {
        assert_eq!(crc32(b""), 0);
        assert_eq!(crc32(b"123456789"), 0xcbf4_3926);
        assert_eq!(
            crc32(b"The quick brown fox jumps over the lazy dog"),
            0x414f_a339
        );
    }

    #[test]
    fn keyed_partitioners_use_their_formula_and_leave_null_keys_to_sticky() {
        let (available, n) = cx(7);
        let c = PartitionerContext::new("t", n, &available);
        let key = b"giberish123456789";
        assert_eq!(
            Murmur2.partition(Some(key), None, &c),
            Some(((0x8f55_2b0c_u32 & 0x7fff_ffff) % 7) as i32)
        );
        assert_eq!(
            Fnv1a.partition(Some(key), None, &c),
            Some((0x77a5_8295_u32 % 7) as i32)
        );
        assert_eq!(
            ReferenceHash.partition(Some(key), None, &c),
            Some(((fnv1a(key) & 0x7fff_ffff) % 7) as i32)
        );
        assert_eq!(
            Crc32.partition(Some(key), None, &c),
            Some((crc32(key) % 7) as i32)
        );
        assert_eq!(Crc32.partition(Some(b""), None, &c), Some(0));
        for p in [
            &Murmur2 as &dyn Partitioner,
            &Fnv1a,
            &ReferenceHash,
            &Crc32,
            &UniformSticky,
        ] {
            assert_eq!(p.partition(None, Some(b"v"), &c), None, "{p:?}");
        }
        assert_eq!(UniformSticky.partition(Some(key), None, &c), None);
    }

    #[test]
    fn round_robin_cycles_over_available_partitions() {
        let rr = RoundRobin::new();
        let available = [1, 3, 4];
        let c = PartitionerContext::new("t", 5, &available);
        let got: Vec<_> = (0..6)
            .map(|_| rr.partition(Some(b"k"), None, &c).unwrap())
            .collect();
        assert_eq!(got, [1, 3, 4, 1, 3, 4]);
        let none: [i32; 0] = [];
        let c = PartitionerContext::new("u", 3, &none);
        let got: Vec<_> = (0..4)
            .map(|_| rr.partition(None, None, &c).unwrap())
            .collect();
        assert_eq!(got, [0, 1, 2, 0]);
    }

    #[test]
    fn least_bytes_balances_by_size() {
        let lb = LeastBytes::new();
        let (available, n) = cx(3);
        let c = PartitionerContext::new("t", n, &available);
        assert_eq!(lb.partition(None, Some(&[0; 100]), &c), Some(0));
        assert_eq!(lb.partition(None, Some(&[0; 10]), &c), Some(1));
        assert_eq!(lb.partition(None, Some(&[0; 10]), &c), Some(2));
        assert_eq!(lb.partition(None, Some(&[0; 10]), &c), Some(1));
        assert_eq!(lb.partition(None, Some(&[0; 500]), &c), Some(2));
        assert_eq!(lb.partition(None, Some(&[0; 1]), &c), Some(1));
    }

    #[test]
    fn weighted_choice_prefers_short_queues() {
        let rand = Rand::new(42);
        let queues = [10u32, 0, 10, 10];
        let mut hits = [0u32; 4];
        for _ in 0..10_000 {
            let p = weighted_choice(&[0, 1, 2, 3], |p| queues[p as usize], &rand).unwrap();
            hits[p as usize] += 1;
        }
        // Weights 1, 11, 1, 1.
        assert!(hits[1] > 7_000, "{hits:?}");
        assert!(hits.iter().all(|h| *h > 0), "{hits:?}");
        let even = [3u32; 4];
        let mut hits = [0u32; 4];
        for _ in 0..8_000 {
            let p = weighted_choice(&[0, 1, 2, 3], |p| even[p as usize], &rand).unwrap();
            hits[p as usize] += 1;
        }
        assert!(hits.iter().all(|h| (1_700..2_300).contains(h)), "{hits:?}");
        assert_eq!(weighted_choice(&[], |_| 0, &rand), None);
    }
}
