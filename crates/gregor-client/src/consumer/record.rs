//! The records a consumer hands out, and the offsets it is told to go to.

use std::sync::Arc;
use std::time::SystemTime;

use bytes::Bytes;
use gregor_protocol::records::{Header, TimestampType};

use super::TopicPartition;

/// One record read from a partition.
///
/// Keys, values and header values are [`Bytes`] slices of the fetch
/// response they came in: nothing is copied per record. Holding a record
/// keeps its response's buffer alive.
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq)]
pub struct ConsumerRecord {
    /// The topic (shared by every record of the partition).
    pub topic: Arc<str>,
    /// The partition.
    pub partition: i32,
    /// The record's offset.
    pub offset: i64,
    /// Its timestamp in milliseconds since the Unix epoch.
    pub timestamp: i64,
    /// Whether the producer or the broker set the timestamp.
    pub timestamp_type: TimestampType,
    /// The key, if any.
    pub key: Option<Bytes>,
    /// The value (`None` for a tombstone).
    pub value: Option<Bytes>,
    /// The headers.
    pub headers: Vec<Header>,
    /// The leader epoch of the batch it came in (`None` when unknown).
    pub leader_epoch: Option<i32>,
}

impl ConsumerRecord {
    /// The record's partition as a [`TopicPartition`].
    pub fn topic_partition(&self) -> TopicPartition {
        TopicPartition::new(&*self.topic, self.partition)
    }

    /// The key's bytes (empty for no key).
    pub fn key_bytes(&self) -> &[u8] {
        self.key.as_deref().unwrap_or_default()
    }

    /// The value's bytes (empty for a tombstone).
    pub fn value_bytes(&self) -> &[u8] {
        self.value.as_deref().unwrap_or_default()
    }

    /// The value of the first header named `key`.
    pub fn header(&self, key: &str) -> Option<&[u8]> {
        self.headers
            .iter()
            .find(|h| h.key.as_ref() == key.as_bytes())
            .and_then(|h| h.value.as_deref())
    }

    /// The bytes this record holds, for the prefetch budget: key, value,
    /// headers and a fixed overhead.
    pub(crate) fn footprint(&self) -> usize {
        const OVERHEAD: usize = 64;
        let headers: usize = self
            .headers
            .iter()
            .map(|h| h.key.len() + h.value.as_ref().map_or(0, Bytes::len))
            .sum();
        OVERHEAD
            + self.key.as_ref().map_or(0, Bytes::len)
            + self.value.as_ref().map_or(0, Bytes::len)
            + headers
    }
}

/// Where to move a partition's position with
/// [`Consumer::seek`](crate::consumer::Consumer::seek).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Offset {
    /// The oldest record still in the log.
    Earliest,
    /// The end of the log (the last stable offset under `read_committed`).
    Latest,
    /// This offset.
    At(i64),
    /// The first record whose timestamp is at or after this time, or the
    /// end of the log if there is none.
    ForTimestamp(SystemTime),
}

/// An offset the broker resolves with ListOffsets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum OffsetSpec {
    Earliest,
    Latest,
    /// Milliseconds since the Unix epoch.
    Timestamp(i64),
}

impl OffsetSpec {
    /// ListOffsets' `timestamp` field.
    pub(crate) fn wire(self) -> i64 {
        match self {
            OffsetSpec::Earliest => -2,
            OffsetSpec::Latest => -1,
            OffsetSpec::Timestamp(ms) => ms,
        }
    }
}

/// Milliseconds since the Unix epoch (negative before it).
pub(crate) fn unix_millis(t: SystemTime) -> i64 {
    match t.duration_since(SystemTime::UNIX_EPOCH) {
        Ok(d) => i64::try_from(d.as_millis()).unwrap_or(i64::MAX),
        Err(e) => -i64::try_from(e.duration().as_millis()).unwrap_or(i64::MAX),
    }
}
