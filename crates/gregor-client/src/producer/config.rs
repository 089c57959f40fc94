//! The producer's settings, checked when built.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use gregor_net::BackoffPolicy;
use gregor_protocol::records::{Compression, RECORD_BATCH_OVERHEAD};

use super::partitioner::{Murmur2, Partitioner};
use crate::{Error, Result};

/// The longest duration accepted: `i32::MAX` milliseconds, the Java
/// client's bound and what a Produce request's `timeout_ms` can carry.
const MAX_DURATION: Duration = Duration::from_millis(i32::MAX as u64);

/// The most requests in flight the idempotent producer allows per
/// connection: brokers remember the last five batches of each producer
/// and partition, so more could not be deduplicated.
pub const MAX_IDEMPOTENT_IN_FLIGHT: usize = 5;

/// How many replicas must have a record before the broker acknowledges it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Acks {
    /// No acknowledgement (`acks=0`): the broker does not answer, so
    /// failures go unseen and offsets are unknown.
    None,
    /// The leader has written it (`acks=1`).
    Leader,
    /// Every in-sync replica has it (`acks=all`, `-1`). The default, and
    /// required by idempotence.
    #[default]
    All,
}

impl Acks {
    /// The wire value: 0, 1 or -1.
    pub fn code(self) -> i16 {
        match self {
            Acks::None => 0,
            Acks::Leader => 1,
            Acks::All => -1,
        }
    }
}

/// Settings of a [`Producer`](super::Producer), validated by
/// [`ProducerConfigBuilder::build`].
///
/// The defaults are the Java client's (Kafka 4.0): `acks=all`,
/// idempotence on, 5 requests in flight, `linger` 5 ms, 16 KiB batches,
/// 1 MiB requests, 32 MiB of buffer, 30 s request and 120 s delivery
/// timeouts.
///
/// ```
/// use std::time::Duration;
/// use gregor_client::producer::{Acks, ProducerConfig};
/// use gregor_protocol::records::Compression;
///
/// let config = ProducerConfig::builder()
///     .linger(Duration::from_millis(20))
///     .batch_size(256 * 1024)
///     .compression(Compression::Zstd { level: Some(3) })
///     .build()?;
/// assert!(config.idempotence());
///
/// let err = ProducerConfig::builder().acks(Acks::Leader).idempotence(true).build().unwrap_err();
/// assert!(err.to_string().contains("acks"));
/// # Ok::<(), gregor_client::Error>(())
/// ```
#[derive(Clone)]
pub struct ProducerConfig {
    pub(crate) acks: Acks,
    pub(crate) idempotence: bool,
    pub(crate) max_in_flight: usize,
    pub(crate) linger: Duration,
    pub(crate) batch_size: usize,
    pub(crate) max_request_size: usize,
    pub(crate) compression: Compression,
    pub(crate) buffer_memory: usize,
    pub(crate) request_timeout: Duration,
    pub(crate) delivery_timeout: Duration,
    pub(crate) retry_backoff: BackoffPolicy,
    pub(crate) partitioner: Arc<dyn Partitioner>,
    pub(crate) metadata_wait: Duration,
    pub(crate) allow_auto_topic_creation: bool,
}

impl fmt::Debug for ProducerConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ProducerConfig")
            .field("acks", &self.acks)
            .field("idempotence", &self.idempotence)
            .field("max_in_flight", &self.max_in_flight)
            .field("linger", &self.linger)
            .field("batch_size", &self.batch_size)
            .field("max_request_size", &self.max_request_size)
            .field("compression", &self.compression)
            .field("buffer_memory", &self.buffer_memory)
            .field("request_timeout", &self.request_timeout)
            .field("delivery_timeout", &self.delivery_timeout)
            .field("retry_backoff", &self.retry_backoff)
            .field("partitioner", &self.partitioner)
            .field("metadata_wait", &self.metadata_wait)
            .field("allow_auto_topic_creation", &self.allow_auto_topic_creation)
            .finish()
    }
}

impl Default for ProducerConfig {
    fn default() -> Self {
        // The defaults pass validation by construction.
        Self {
            acks: Acks::All,
            idempotence: true,
            max_in_flight: MAX_IDEMPOTENT_IN_FLIGHT,
            linger: Duration::from_millis(5),
            batch_size: 16 * 1024,
            max_request_size: 1024 * 1024,
            compression: Compression::None,
            buffer_memory: 32 * 1024 * 1024,
            request_timeout: Duration::from_secs(30),
            delivery_timeout: Duration::from_secs(120),
            retry_backoff: BackoffPolicy::new(Duration::from_millis(100), Duration::from_secs(1)),
            partitioner: Arc::new(Murmur2),
            metadata_wait: Duration::from_secs(60),
            allow_auto_topic_creation: false,
        }
    }
}

impl ProducerConfig {
    /// A builder starting from the defaults.
    pub fn builder() -> ProducerConfigBuilder {
        ProducerConfigBuilder {
            config: ProducerConfig::default(),
            idempotence: None,
            retry_backoff: (Duration::from_millis(100), Duration::from_secs(1)),
        }
    }

    /// The acknowledgements asked for. Default [`Acks::All`].
    pub fn acks(&self) -> Acks {
        self.acks
    }

    /// Whether the producer is idempotent: a producer id and per-partition
    /// sequence numbers let the broker drop the duplicates retries would
    /// write, and keep each partition in order with up to 5 requests in
    /// flight. Default on (Java since 3.0); left off when not asked for
    /// explicitly and `acks` or `max_in_flight` rule it out, as Java does.
    pub fn idempotence(&self) -> bool {
        self.idempotence
    }

    /// Produce requests one broker connection may have awaiting their
    /// response. Default 5 (Java's `max.in.flight.requests.per.connection`).
    pub fn max_in_flight(&self) -> usize {
        self.max_in_flight
    }

    /// How long a batch waits for more records before it is sent even if
    /// not full. Default 5 ms (Java's `linger.ms` since Kafka 4.0,
    /// librdkafka's too). Larger values make bigger batches: more
    /// throughput, more latency.
    pub fn linger(&self) -> Duration {
        self.linger
    }

    /// The size a batch of one partition is sent at without waiting for
    /// `linger`, in bytes before compression. Default 16 KiB, Java's
    /// `batch.size`. Each batch reserves this much of
    /// [`buffer_memory`](Self::buffer_memory) while it fills. Raise it (to
    /// 256 KiB-1 MiB, librdkafka's default is ~1 MB) for throughput with
    /// small records; 0 sends every record in a batch of its own.
    pub fn batch_size(&self) -> usize {
        self.batch_size
    }

    /// The largest Produce request, in bytes; also the largest record.
    /// Default 1 MiB (Java's `max.request.size`). Brokers have their own
    /// limit (`message.max.bytes`).
    pub fn max_request_size(&self) -> usize {
        self.max_request_size
    }

    /// The codec batches are compressed with. Default none.
    pub fn compression(&self) -> Compression {
        self.compression
    }

    /// How many bytes of batches may wait to be sent or acknowledged;
    /// [`Producer::send`](super::Producer::send) waits for room and
    /// [`Producer::try_send`](super::Producer::try_send) fails with
    /// [`BufferFull`](super::ProduceErrorKind::BufferFull) past it.
    /// Default 32 MiB (Java's `buffer.memory`).
    pub fn buffer_memory(&self) -> usize {
        self.buffer_memory
    }

    /// How long the broker may take to acknowledge a Produce request (its
    /// `timeout_ms`) and how long the producer waits for the answer.
    /// Default 30 s.
    pub fn request_timeout(&self) -> Duration {
        self.request_timeout
    }

    /// How long a record may take from `send` until it is acknowledged,
    /// retries included, before it fails with a timeout. Default 120 s
    /// (Java's `delivery.timeout.ms`); must be at least `linger` plus
    /// `request_timeout`.
    pub fn delivery_timeout(&self) -> Duration {
        self.delivery_timeout
    }

    /// The backoff between retries of a batch. Default 100 ms doubling to
    /// 1 s with ±25% jitter (Java's `retry.backoff.ms` / `.max.ms`).
    pub fn retry_backoff(&self) -> BackoffPolicy {
        self.retry_backoff
    }

    /// The partitioner. Default [`Murmur2`] (Java's).
    pub fn partitioner(&self) -> &Arc<dyn Partitioner> {
        &self.partitioner
    }

    /// How long `send` waits for a topic's metadata (and for buffer room)
    /// before failing. Default 60 s (Java's `max.block.ms`).
    pub fn metadata_wait(&self) -> Duration {
        self.metadata_wait
    }

    /// Whether sending to a topic that does not exist asks the broker to
    /// create it (if the broker allows that). Default `false`: a typo is an
    /// error naming the topic, not a new topic.
    pub fn allow_auto_topic_creation(&self) -> bool {
        self.allow_auto_topic_creation
    }
}

/// Builds a [`ProducerConfig`]; see [`ProducerConfig::builder`].
///
/// Setters only record values; [`build`](Self::build) checks them all and
/// names the first bad field.
#[must_use]
#[derive(Clone)]
pub struct ProducerConfigBuilder {
    config: ProducerConfig,
    idempotence: Option<bool>,
    retry_backoff: (Duration, Duration),
}

impl fmt::Debug for ProducerConfigBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ProducerConfigBuilder")
            .field("config", &self.config)
            .field("idempotence", &self.idempotence)
            .finish()
    }
}

impl ProducerConfigBuilder {
    /// See [`ProducerConfig::acks`].
    pub fn acks(mut self, acks: Acks) -> Self {
        self.config.acks = acks;
        self
    }

    /// Turns idempotence on or off explicitly. Explicitly on with
    /// `acks` other than [`Acks::All`] or more than 5 requests in flight is
    /// refused by [`build`](Self::build).
    pub fn idempotence(mut self, on: bool) -> Self {
        self.idempotence = Some(on);
        self
    }

    /// See [`ProducerConfig::max_in_flight`].
    pub fn max_in_flight(mut self, n: usize) -> Self {
        self.config.max_in_flight = n;
        self
    }

    /// See [`ProducerConfig::linger`].
    pub fn linger(mut self, linger: Duration) -> Self {
        self.config.linger = linger;
        self
    }

    /// See [`ProducerConfig::batch_size`].
    pub fn batch_size(mut self, bytes: usize) -> Self {
        self.config.batch_size = bytes;
        self
    }

    /// See [`ProducerConfig::max_request_size`].
    pub fn max_request_size(mut self, bytes: usize) -> Self {
        self.config.max_request_size = bytes;
        self
    }

    /// See [`ProducerConfig::compression`]; levels are checked: gzip 0-9,
    /// zstd -131072..=22.
    pub fn compression(mut self, compression: Compression) -> Self {
        self.config.compression = compression;
        self
    }

    /// See [`ProducerConfig::buffer_memory`].
    pub fn buffer_memory(mut self, bytes: usize) -> Self {
        self.config.buffer_memory = bytes;
        self
    }

    /// See [`ProducerConfig::request_timeout`].
    pub fn request_timeout(mut self, timeout: Duration) -> Self {
        self.config.request_timeout = timeout;
        self
    }

    /// See [`ProducerConfig::delivery_timeout`].
    pub fn delivery_timeout(mut self, timeout: Duration) -> Self {
        self.config.delivery_timeout = timeout;
        self
    }

    /// See [`ProducerConfig::retry_backoff`]: from `initial`, doubling to
    /// `max`.
    pub fn retry_backoff(mut self, initial: Duration, max: Duration) -> Self {
        self.retry_backoff = (initial, max);
        self
    }

    /// See [`ProducerConfig::partitioner`].
    pub fn partitioner(mut self, partitioner: impl Partitioner) -> Self {
        self.config.partitioner = Arc::new(partitioner);
        self
    }

    /// A partitioner shared with other producers.
    pub fn shared_partitioner(mut self, partitioner: Arc<dyn Partitioner>) -> Self {
        self.config.partitioner = partitioner;
        self
    }

    /// See [`ProducerConfig::metadata_wait`].
    pub fn metadata_wait(mut self, wait: Duration) -> Self {
        self.config.metadata_wait = wait;
        self
    }

    /// See [`ProducerConfig::allow_auto_topic_creation`].
    pub fn allow_auto_topic_creation(mut self, allow: bool) -> Self {
        self.config.allow_auto_topic_creation = allow;
        self
    }

    /// Sets a field from a Java client or librdkafka property, for
    /// configurations migrated from them: `acks` (`request.required.acks`),
    /// `enable.idempotence`, `max.in.flight.requests.per.connection`
    /// (`max.in.flight`), `linger.ms` (`queue.buffering.max.ms`),
    /// `batch.size`, `max.request.size` (`message.max.bytes`),
    /// `compression.type` (`compression.codec`), `compression.level` (after
    /// the codec),
    /// `buffer.memory` (`queue.buffering.max.kbytes`, in KiB),
    /// `request.timeout.ms`, `delivery.timeout.ms` (`message.timeout.ms`),
    /// `retry.backoff.ms`, `retry.backoff.max.ms`, `max.block.ms`,
    /// `allow.auto.create.topics` and `partitioner` (librdkafka's names:
    /// `murmur2`, `murmur2_random`, `consistent`, `consistent_random`,
    /// `fnv1a`, `fnv1a_random`; also `sticky`, `round_robin`).
    ///
    /// ```
    /// use gregor_client::producer::ProducerConfig;
    ///
    /// let config = ProducerConfig::builder()
    ///     .set("linger.ms", "20")?
    ///     .set("compression.type", "zstd")?
    ///     .set("partitioner", "consistent_random")?
    ///     .build()?;
    /// assert_eq!(config.linger().as_millis(), 20);
    /// assert!(ProducerConfig::builder().set("linger.ms", "soon").is_err());
    /// assert!(ProducerConfig::builder().set("no.such.setting", "1").is_err());
    /// # Ok::<(), gregor_client::Error>(())
    /// ```
    ///
    /// # Errors
    ///
    /// [`Error::Config`] naming the property for an unknown name or a value
    /// that does not parse. Ranges are checked by [`build`](Self::build).
    pub fn set(mut self, name: &'static str, value: &str) -> Result<Self> {
        let bad = |why: &str| Error::config(name, format!("{value:?} {why}"));
        let number = || {
            value
                .trim()
                .parse::<u64>()
                .map_err(|_| bad("is not a whole number"))
        };
        let millis = || number().map(Duration::from_millis);
        let size = || number().and_then(|n| usize::try_from(n).map_err(|_| bad("is too large")));
        let flag = || match value.trim() {
            "true" => Ok(true),
            "false" => Ok(false),
            _ => Err(bad("is not true or false")),
        };
        match name {
            "acks" | "request.required.acks" => {
                self.config.acks = match value.trim() {
                    "0" => Acks::None,
                    "1" => Acks::Leader,
                    "all" | "-1" => Acks::All,
                    _ => return Err(bad("is not 0, 1, all or -1")),
                }
            }
            "enable.idempotence" => self.idempotence = Some(flag()?),
            "max.in.flight.requests.per.connection" | "max.in.flight" => {
                self.config.max_in_flight = size()?;
            }
            "linger.ms" | "queue.buffering.max.ms" => self.config.linger = millis()?,
            "batch.size" => self.config.batch_size = size()?,
            "max.request.size" | "message.max.bytes" => self.config.max_request_size = size()?,
            "compression.type" | "compression.codec" => {
                self.config.compression = match value.trim() {
                    "none" => Compression::None,
                    "gzip" => Compression::GZIP,
                    "snappy" => Compression::Snappy,
                    "lz4" => Compression::Lz4,
                    "zstd" => Compression::ZSTD,
                    _ => return Err(bad("is not none, gzip, snappy, lz4 or zstd")),
                }
            }
            "compression.level" => {
                let level: i32 = value.trim().parse().map_err(|_| bad("is not a number"))?;
                self.config.compression = match self.config.compression {
                    Compression::Gzip { .. } => Compression::Gzip {
                        level: Some(u32::try_from(level).map_err(|_| bad("is negative"))?),
                    },
                    Compression::Zstd { .. } => Compression::Zstd { level: Some(level) },
                    other => other,
                };
            }
            "buffer.memory" => self.config.buffer_memory = size()?,
            "queue.buffering.max.kbytes" => {
                self.config.buffer_memory = size()?.saturating_mul(1024);
            }
            "request.timeout.ms" => self.config.request_timeout = millis()?,
            "delivery.timeout.ms" | "message.timeout.ms" => {
                self.config.delivery_timeout = millis()?;
            }
            "retry.backoff.ms" => self.retry_backoff.0 = millis()?,
            "retry.backoff.max.ms" => self.retry_backoff.1 = millis()?,
            "max.block.ms" => self.config.metadata_wait = millis()?,
            "allow.auto.create.topics" => self.config.allow_auto_topic_creation = flag()?,
            "partitioner" => {
                use super::partitioner::{Crc32, Fnv1a, RoundRobin, UniformSticky};
                self.config.partitioner = match value.trim() {
                    "murmur2" | "murmur2_random" => Arc::new(Murmur2),
                    "consistent" | "consistent_random" => Arc::new(Crc32),
                    "fnv1a" | "fnv1a_random" => Arc::new(Fnv1a),
                    "sticky" | "uniform_sticky" => Arc::new(UniformSticky),
                    "round_robin" => Arc::new(RoundRobin::new()),
                    _ => return Err(bad("is not a partitioner this client has")),
                }
            }
            _ => {
                return Err(Error::config(
                    name,
                    "is not a producer setting this client knows",
                ));
            }
        }
        Ok(self)
    }

    /// Checks every setting and the ones that depend on each other.
    ///
    /// # Errors
    ///
    /// [`Error::Config`] naming the first field refused and why.
    pub fn build(self) -> Result<ProducerConfig> {
        let mut c = self.config;
        let duration = |field: &'static str, d: Duration, allow_zero: bool| {
            if !allow_zero && d.is_zero() {
                return Err(Error::config(field, "must be more than zero"));
            }
            if d > MAX_DURATION {
                return Err(Error::config(
                    field,
                    format!("{d:?} is more than the largest allowed, {MAX_DURATION:?}"),
                ));
            }
            Ok(())
        };
        if c.max_in_flight == 0 {
            return Err(Error::config("max_in_flight", "must be at least 1"));
        }
        if c.max_in_flight > 1000 {
            return Err(Error::config(
                "max_in_flight",
                format!("{} is more than the most allowed, 1000", c.max_in_flight),
            ));
        }
        duration("linger", c.linger, true)?;
        if c.max_request_size < 1024 {
            return Err(Error::config(
                "max_request_size",
                format!(
                    "{} bytes is less than the least allowed, 1024",
                    c.max_request_size
                ),
            ));
        }
        if c.max_request_size > i32::MAX as usize {
            return Err(Error::config(
                "max_request_size",
                "must fit a Kafka int32 (2 GiB - 1)",
            ));
        }
        if c.batch_size > c.max_request_size {
            return Err(Error::config(
                "batch_size",
                format!(
                    "{} bytes is more than max_request_size ({} bytes): a full batch could never be sent",
                    c.batch_size, c.max_request_size
                ),
            ));
        }
        if c.buffer_memory < c.batch_size.max(RECORD_BATCH_OVERHEAD + 1) {
            return Err(Error::config(
                "buffer_memory",
                format!(
                    "{} bytes cannot hold one batch of batch_size ({} bytes)",
                    c.buffer_memory, c.batch_size
                ),
            ));
        }
        match c.compression {
            Compression::Gzip { level: Some(l) } if l > 9 => {
                return Err(Error::config(
                    "compression",
                    format!("gzip level {l} is out of range 0-9"),
                ));
            }
            Compression::Zstd { level: Some(l) } if !(-131_072..=22).contains(&l) => {
                return Err(Error::config(
                    "compression",
                    format!("zstd level {l} is out of range -131072..=22"),
                ));
            }
            _ => {}
        }
        duration("request_timeout", c.request_timeout, false)?;
        duration("delivery_timeout", c.delivery_timeout, false)?;
        duration("metadata_wait", c.metadata_wait, true)?;
        if c.delivery_timeout < c.linger + c.request_timeout {
            return Err(Error::config(
                "delivery_timeout",
                format!(
                    "{:?} is less than linger + request_timeout ({:?}): a batch could time out before its first answer",
                    c.delivery_timeout,
                    c.linger + c.request_timeout
                ),
            ));
        }
        let (initial, max) = self.retry_backoff;
        duration("retry_backoff", initial, false)?;
        duration("retry_backoff", max, false)?;
        if max < initial {
            return Err(Error::config(
                "retry_backoff",
                format!("the maximum {max:?} is below the initial {initial:?}"),
            ));
        }
        c.retry_backoff = BackoffPolicy::new(initial, max);
        c.idempotence = match self.idempotence {
            Some(true) => {
                if c.acks != Acks::All {
                    return Err(Error::config(
                        "acks",
                        format!(
                            "idempotence needs acks = all, not {:?}; turn idempotence off to use it",
                            c.acks
                        ),
                    ));
                }
                if c.max_in_flight > MAX_IDEMPOTENT_IN_FLIGHT {
                    return Err(Error::config(
                        "max_in_flight",
                        format!(
                            "idempotence allows at most {MAX_IDEMPOTENT_IN_FLIGHT} requests in flight, not {}",
                            c.max_in_flight
                        ),
                    ));
                }
                true
            }
            Some(false) => false,
            // The default gives way to settings that rule it out, as in Java.
            None => c.acks == Acks::All && c.max_in_flight <= MAX_IDEMPOTENT_IN_FLIGHT,
        };
        Ok(c)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn field(b: ProducerConfigBuilder) -> &'static str {
        match b.build() {
            Err(Error::Config { field, .. }) => field,
            other => panic!("expected a config error, got {other:?}"),
        }
    }

    #[test]
    fn defaults_are_javas() {
        let c = ProducerConfig::builder().build().unwrap();
        assert_eq!(c.acks(), Acks::All);
        assert!(c.idempotence());
        assert_eq!(c.max_in_flight(), 5);
        assert_eq!(c.linger(), Duration::from_millis(5));
        assert_eq!(c.batch_size(), 16384);
        assert_eq!(c.max_request_size(), 1 << 20);
        assert_eq!(c.buffer_memory(), 32 << 20);
        assert_eq!(c.request_timeout(), Duration::from_secs(30));
        assert_eq!(c.delivery_timeout(), Duration::from_secs(120));
        assert_eq!(c.metadata_wait(), Duration::from_secs(60));
        assert!(!c.allow_auto_topic_creation());
        assert_eq!(c.retry_backoff().initial(), Duration::from_millis(100));
        assert_eq!(Acks::None.code(), 0);
        assert_eq!(Acks::Leader.code(), 1);
        assert_eq!(Acks::All.code(), -1);
    }

    #[test]
    fn each_bad_field_is_named() {
        let b = ProducerConfig::builder;
        assert_eq!(field(b().max_in_flight(0)), "max_in_flight");
        assert_eq!(field(b().max_in_flight(5000)), "max_in_flight");
        assert_eq!(
            field(b().linger(Duration::from_secs(u64::MAX / 4))),
            "linger"
        );
        assert_eq!(field(b().max_request_size(10)), "max_request_size");
        assert_eq!(field(b().max_request_size(usize::MAX)), "max_request_size");
        assert_eq!(field(b().batch_size(2 << 20)), "batch_size");
        assert_eq!(field(b().buffer_memory(1000)), "buffer_memory");
        assert_eq!(
            field(b().compression(Compression::Gzip { level: Some(10) })),
            "compression"
        );
        assert_eq!(
            field(b().compression(Compression::Zstd { level: Some(23) })),
            "compression"
        );
        assert_eq!(
            field(b().request_timeout(Duration::ZERO)),
            "request_timeout"
        );
        assert_eq!(
            field(b().delivery_timeout(Duration::ZERO)),
            "delivery_timeout"
        );
        assert_eq!(
            field(b().delivery_timeout(Duration::from_secs(10))),
            "delivery_timeout"
        );
        assert_eq!(
            field(b().retry_backoff(Duration::ZERO, Duration::from_secs(1))),
            "retry_backoff"
        );
        assert_eq!(
            field(b().retry_backoff(Duration::from_secs(2), Duration::from_secs(1))),
            "retry_backoff"
        );
        assert_eq!(
            field(b().metadata_wait(Duration::from_secs(u64::MAX / 4))),
            "metadata_wait"
        );
    }

    #[test]
    fn explicit_idempotence_is_refused_with_acks_other_than_all_or_too_many_in_flight() {
        let b = ProducerConfig::builder;
        assert_eq!(field(b().idempotence(true).acks(Acks::Leader)), "acks");
        assert_eq!(field(b().idempotence(true).acks(Acks::None)), "acks");
        assert_eq!(
            field(b().idempotence(true).max_in_flight(6)),
            "max_in_flight"
        );
        let err = b().idempotence(true).acks(Acks::None).build().unwrap_err();
        assert!(
            err.to_string().contains("idempotence needs acks = all"),
            "{err}"
        );
        // The default gives way, as in Java.
        assert!(!b().acks(Acks::Leader).build().unwrap().idempotence());
        assert!(!b().max_in_flight(10).build().unwrap().idempotence());
        assert!(!b().idempotence(false).build().unwrap().idempotence());
        assert!(
            b().idempotence(true)
                .max_in_flight(1)
                .build()
                .unwrap()
                .idempotence()
        );
    }

    #[test]
    fn properties_of_the_java_client_and_librdkafka_map_to_fields() {
        let c = ProducerConfig::builder()
            .set("acks", "1")
            .unwrap()
            .set("max.in.flight.requests.per.connection", "10")
            .unwrap()
            .set("queue.buffering.max.ms", "50")
            .unwrap()
            .set("compression.codec", "gzip")
            .unwrap()
            .set("compression.level", "4")
            .unwrap()
            .set("message.timeout.ms", "300000")
            .unwrap()
            .set("queue.buffering.max.kbytes", "1024")
            .unwrap()
            .build()
            .unwrap();
        assert_eq!(c.acks(), Acks::Leader);
        assert!(!c.idempotence());
        assert_eq!(c.max_in_flight(), 10);
        assert_eq!(c.linger(), Duration::from_millis(50));
        assert_eq!(c.compression(), Compression::Gzip { level: Some(4) });
        assert_eq!(c.delivery_timeout(), Duration::from_secs(300));
        assert_eq!(c.buffer_memory(), 1 << 20);
        let err = |r: Result<ProducerConfigBuilder>| match r {
            Err(Error::Config { field, .. }) => field,
            _ => panic!("expected an error"),
        };
        assert_eq!(err(ProducerConfig::builder().set("acks", "2")), "acks");
        assert_eq!(
            err(ProducerConfig::builder().set("linger.ms", "-1")),
            "linger.ms"
        );
        assert_eq!(
            err(ProducerConfig::builder().set("partitioner", "random")),
            "partitioner"
        );
        assert_eq!(
            err(ProducerConfig::builder().set("bootstrap.servers", "x")),
            "bootstrap.servers"
        );
        let idem = ProducerConfig::builder()
            .set("enable.idempotence", "true")
            .unwrap()
            .set("acks", "0")
            .unwrap()
            .build();
        assert!(matches!(idem, Err(Error::Config { field: "acks", .. })));
    }

    #[test]
    fn zero_linger_and_batch_size_are_allowed() {
        let c = ProducerConfig::builder()
            .linger(Duration::ZERO)
            .batch_size(0)
            .build()
            .unwrap();
        assert_eq!(c.batch_size(), 0);
        assert_eq!(c.linger(), Duration::ZERO);
    }
}
