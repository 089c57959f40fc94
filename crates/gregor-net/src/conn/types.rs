//! The plain values a [`Conn`](super::Conn) reads, writes and reports.

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use gregor_protocol::Uuid;
use gregor_protocol::records::Header;

use crate::BrokerAddr;

/// One message: what [`Batch`](super::Batch) yields and what
/// [`write_messages`](super::Conn::write_messages) takes.
///
/// Read messages share the fetched bytes: key, value and header values are
/// [`Bytes`] slices of the response (or of one decompressed buffer per
/// compressed batch), and `topic` is shared by every message of a batch, so
/// nothing is copied per message.
///
/// When writing, `topic`, `partition` and `offset` are ignored (the
/// connection's partition is written to and the broker assigns offsets), so
/// a message read from one partition can be written to another unchanged.
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Message {
    /// The topic the message was read from.
    pub topic: Arc<str>,
    /// The partition the message was read from.
    pub partition: i32,
    /// The message's offset.
    pub offset: i64,
    /// The key; `None` is a null key.
    pub key: Option<Bytes>,
    /// The value; `None` is a null value (a tombstone in a compacted topic).
    pub value: Option<Bytes>,
    /// The headers, in wire order (keys may repeat).
    pub headers: Vec<Header>,
    /// The timestamp. Read: `None` when the record has none (message format
    /// v0). Written: `None` means the time of the write.
    pub time: Option<SystemTime>,
}

impl Message {
    /// A message to write with a key and a value.
    pub fn new(key: impl Into<Bytes>, value: impl Into<Bytes>) -> Self {
        Self {
            key: Some(key.into()),
            value: Some(value.into()),
            ..Self::default()
        }
    }

    /// A message to write with a value and a null key.
    pub fn value(value: impl Into<Bytes>) -> Self {
        Self {
            value: Some(value.into()),
            ..Self::default()
        }
    }

    /// This message with another key (`None` for null).
    #[must_use]
    pub fn with_key(mut self, key: Option<Bytes>) -> Self {
        self.key = key;
        self
    }

    /// This message with another value (`None` for null).
    #[must_use]
    pub fn with_value(mut self, value: Option<Bytes>) -> Self {
        self.value = value;
        self
    }

    /// This message with one more header.
    #[must_use]
    pub fn with_header(mut self, key: impl Into<Bytes>, value: impl Into<Bytes>) -> Self {
        self.headers.push(Header::new(key, value));
        self
    }

    /// This message with an explicit timestamp.
    #[must_use]
    pub fn with_time(mut self, time: SystemTime) -> Self {
        self.time = Some(time);
        self
    }
}

/// Milliseconds since the epoch, as Kafka timestamps are; negative before
/// it, saturating far outside Kafka's range.
pub(crate) fn to_millis(time: SystemTime) -> i64 {
    match time.duration_since(UNIX_EPOCH) {
        Ok(d) => i64::try_from(d.as_millis()).unwrap_or(i64::MAX),
        Err(e) => i64::try_from(e.duration().as_millis()).map_or(i64::MIN, |ms| -ms),
    }
}

/// The time of a Kafka timestamp; `None` for the "no timestamp" value -1
/// (and any other negative one, which no producer writes on purpose).
pub(crate) fn from_millis(ms: i64) -> Option<SystemTime> {
    u64::try_from(ms)
        .ok()
        .map(|ms| UNIX_EPOCH + Duration::from_millis(ms))
}

/// How many replicas must have a write before the broker answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Acks {
    /// No answer at all (`acks=0`): the write is sent and forgotten, so
    /// neither errors nor offsets come back.
    None,
    /// The leader alone (`acks=1`).
    Leader,
    /// Every in-sync replica (`acks=all`, `-1`), the default.
    #[default]
    All,
}

impl Acks {
    /// The value of the Produce request's `acks` field.
    pub fn code(self) -> i16 {
        match self {
            Acks::None => 0,
            Acks::Leader => 1,
            Acks::All => -1,
        }
    }
}

/// What a [`seek`](super::Conn::seek) offset is relative to.
///
/// Unlike kafka-go's `SeekEnd`, [`Whence::Last`] adds the offset like every
/// other variant (and like [`std::io::SeekFrom::End`]): seek to `-3` from
/// the last offset to re-read the last three messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Whence {
    /// The partition's first offset (the log start).
    First,
    /// Zero: the offset is absolute.
    Absolute,
    /// The partition's last offset: the high watermark, where the next
    /// message will be written.
    Last,
    /// The connection's current offset.
    Current,
}

/// Settings of one [`read_batch_with`](super::Conn::read_batch_with).
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReadBatchConfig {
    /// The broker answers once it has this many bytes, or after `max_wait`.
    /// Default 1.
    pub min_bytes: usize,
    /// The most bytes asked for. The broker may return more when the first
    /// batch alone is bigger (KIP-74); when it returns only part of that
    /// batch the read grows the limit up to the connection's frame limit.
    /// Default 1 MiB.
    pub max_bytes: usize,
    /// How long the broker may wait for `min_bytes`. Default 500 ms, Java's
    /// `fetch.max.wait.ms`. It is cut to fit within the operation's time
    /// budget, so a slow broker never looks like a dead one.
    pub max_wait: Duration,
}

impl Default for ReadBatchConfig {
    fn default() -> Self {
        Self {
            min_bytes: 1,
            max_bytes: 1024 * 1024,
            max_wait: Duration::from_millis(500),
        }
    }
}

impl ReadBatchConfig {
    /// The defaults with these byte limits.
    pub fn new(min_bytes: usize, max_bytes: usize) -> Self {
        Self {
            min_bytes,
            max_bytes,
            ..Self::default()
        }
    }

    /// These settings with another `max_wait`.
    #[must_use]
    pub fn with_max_wait(mut self, max_wait: Duration) -> Self {
        self.max_wait = max_wait;
        self
    }
}

/// What a [`write_messages`](super::Conn::write_messages) did.
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Written {
    /// The offset of the first message written; `None` with [`Acks::None`],
    /// where the broker does not say.
    pub base_offset: Option<i64>,
    /// How many messages were written.
    pub count: usize,
    /// The broker's append time, if the topic uses `LogAppendTime`.
    pub log_append_time: Option<SystemTime>,
}

/// A broker of the cluster, from Metadata.
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Broker {
    /// The node id.
    pub id: i32,
    /// The advertised host.
    pub host: String,
    /// The advertised port.
    pub port: i32,
    /// The rack, if the broker has one.
    pub rack: Option<String>,
}

impl Broker {
    /// The address to dial, carrying the node id for error messages.
    pub fn addr(&self) -> BrokerAddr {
        BrokerAddr::new(format!("{}:{}", self.host, self.port)).with_node_id(self.id)
    }
}

/// A partition of a topic, from Metadata.
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Partition {
    /// The topic.
    pub topic: String,
    /// The topic's id (zero from brokers older than Kafka 2.8).
    pub topic_id: Uuid,
    /// The partition index.
    pub partition: i32,
    /// The leader, or `None` while there is none (or the broker that leads
    /// is not among those Metadata listed).
    pub leader: Option<Broker>,
    /// The node ids of the replicas.
    pub replicas: Vec<i32>,
    /// The node ids of the in-sync replicas.
    pub isr: Vec<i32>,
    /// The node ids of the offline replicas.
    pub offline_replicas: Vec<i32>,
}

/// A topic to create with [`create_topics`](super::Conn::create_topics).
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopicConfig {
    /// The topic name.
    pub name: String,
    /// How many partitions; -1 for the broker's default.
    pub partitions: i32,
    /// How many replicas of each partition; -1 for the broker's default.
    pub replication_factor: i16,
    /// Topic configs (`cleanup.policy`, `retention.ms`, ...).
    pub configs: Vec<(String, String)>,
}

impl TopicConfig {
    /// A topic with `partitions` partitions of `replication_factor` replicas
    /// and no config overrides.
    pub fn new(name: impl Into<String>, partitions: i32, replication_factor: i16) -> Self {
        Self {
            name: name.into(),
            partitions,
            replication_factor,
            configs: Vec::new(),
        }
    }

    /// This topic with one more config entry.
    #[must_use]
    pub fn with_config(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.configs.push((name.into(), value.into()));
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn millis_round_trip_and_no_timestamp() {
        let t = UNIX_EPOCH + Duration::from_millis(1_700_000_000_123);
        assert_eq!(to_millis(t), 1_700_000_000_123);
        assert_eq!(from_millis(1_700_000_000_123), Some(t));
        assert_eq!(from_millis(-1), None);
        assert_eq!(to_millis(UNIX_EPOCH - Duration::from_millis(5)), -5);
    }

    #[test]
    fn acks_codes() {
        assert_eq!(Acks::None.code(), 0);
        assert_eq!(Acks::Leader.code(), 1);
        assert_eq!(Acks::All.code(), -1);
        assert_eq!(Acks::default(), Acks::All);
    }

    #[test]
    fn broker_addr_names_the_node() {
        let b = Broker {
            id: 3,
            host: "kafka-3".into(),
            port: 9092,
            rack: None,
        };
        assert_eq!(b.addr().to_string(), "kafka-3:9092 (node 3)");
    }
}
