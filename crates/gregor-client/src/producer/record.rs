//! What a producer sends and what it gets back.

use std::borrow::Cow;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use gregor_protocol::records::Header;

/// One record to send: a topic, optionally a partition, a key and a value
/// (either may be null: a null value is a tombstone in a compacted topic),
/// headers and optionally a timestamp.
///
/// Built like rust-rdkafka's `FutureRecord`:
///
/// ```
/// use gregor_client::producer::ProducerRecord;
///
/// let record = ProducerRecord::to("orders")
///     .key("customer-42")
///     .value(r#"{"total": 12}"#)
///     .header("trace-id", "abc123");
/// assert_eq!(record.topic(), "orders");
///
/// // A tombstone for key "customer-42", to partition 3.
/// let delete = ProducerRecord::to("orders").key("customer-42").partition(3);
/// assert!(delete.value_bytes().is_none());
/// ```
///
/// Keys, values and header values are [`Bytes`]: a `Vec<u8>`, `String` or
/// `&'static` slice converts without copying, and the producer copies them
/// once, straight into the record batch. The topic is a `&'static str` or
/// an owned `String`, so a record to a fixed topic allocates nothing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProducerRecord {
    pub(crate) topic: Cow<'static, str>,
    pub(crate) partition: Option<i32>,
    pub(crate) key: Option<Bytes>,
    pub(crate) value: Option<Bytes>,
    pub(crate) headers: Vec<Header>,
    pub(crate) timestamp: Option<i64>,
    pub(crate) opaque: u64,
}

impl ProducerRecord {
    /// A record to `topic` with a null key, a null value, no headers and
    /// the send time as its timestamp.
    pub fn to(topic: impl Into<Cow<'static, str>>) -> Self {
        Self {
            topic: topic.into(),
            partition: None,
            key: None,
            value: None,
            headers: Vec::new(),
            timestamp: None,
            opaque: 0,
        }
    }

    /// Sets the key.
    #[must_use]
    pub fn key(mut self, key: impl Into<Bytes>) -> Self {
        self.key = Some(key.into());
        self
    }

    /// Sets the value (the payload).
    #[must_use]
    pub fn value(mut self, value: impl Into<Bytes>) -> Self {
        self.value = Some(value.into());
        self
    }

    /// Same as [`value`](Self::value), under rust-rdkafka's name.
    #[must_use]
    pub fn payload(self, value: impl Into<Bytes>) -> Self {
        self.value(value)
    }

    /// Sets or clears the key (`None` is a null key).
    #[must_use]
    pub fn with_key(mut self, key: Option<Bytes>) -> Self {
        self.key = key;
        self
    }

    /// Sets or clears the value (`None` is a null value: a tombstone).
    #[must_use]
    pub fn with_value(mut self, value: Option<Bytes>) -> Self {
        self.value = value;
        self
    }

    /// Sends to this partition, bypassing the partitioner.
    #[must_use]
    pub fn partition(mut self, partition: i32) -> Self {
        self.partition = Some(partition);
        self
    }

    /// Adds a header (keys may repeat; order is kept).
    #[must_use]
    pub fn header(mut self, key: impl Into<Bytes>, value: impl Into<Bytes>) -> Self {
        self.headers.push(Header::new(key, value));
        self
    }

    /// Adds a header with a null value.
    #[must_use]
    pub fn null_header(mut self, key: impl Into<Bytes>) -> Self {
        self.headers.push(Header::null(key));
        self
    }

    /// Replaces the headers.
    #[must_use]
    pub fn headers(mut self, headers: Vec<Header>) -> Self {
        self.headers = headers;
        self
    }

    /// Sets the timestamp, in milliseconds since the Unix epoch.
    #[must_use]
    pub fn timestamp(mut self, millis: i64) -> Self {
        self.timestamp = Some(millis);
        self
    }

    /// Sets the timestamp from a [`SystemTime`].
    #[must_use]
    pub fn time(self, time: SystemTime) -> Self {
        self.timestamp(to_millis(time))
    }

    /// A number of the caller's own, handed back in this record's
    /// [`DeliveryReport`](super::DeliveryReport) so the report can be
    /// matched to the caller's state (rust-rdkafka's delivery opaque).
    #[must_use]
    pub fn opaque(mut self, opaque: u64) -> Self {
        self.opaque = opaque;
        self
    }

    /// The topic.
    pub fn topic(&self) -> &str {
        &self.topic
    }

    /// The explicit partition, if one was set.
    pub fn partition_index(&self) -> Option<i32> {
        self.partition
    }

    /// The key (`None`: null).
    pub fn key_bytes(&self) -> Option<&Bytes> {
        self.key.as_ref()
    }

    /// The value (`None`: null).
    pub fn value_bytes(&self) -> Option<&Bytes> {
        self.value.as_ref()
    }

    /// The headers.
    pub fn header_list(&self) -> &[Header] {
        &self.headers
    }

    /// The explicit timestamp, if one was set.
    pub fn timestamp_millis(&self) -> Option<i64> {
        self.timestamp
    }
}

/// Where a record was written: what the broker acknowledged.
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordMetadata {
    /// The topic.
    pub topic: Arc<str>,
    /// The partition.
    pub partition: i32,
    /// The record's offset. `None` when it is not known: with `acks = 0`
    /// (the broker does not answer), or when an idempotent retry found the
    /// batch already written long enough ago that the broker no longer
    /// remembers where (`DUPLICATE_SEQUENCE_NUMBER`).
    pub offset: Option<i64>,
    /// The record's timestamp in milliseconds since the epoch: the broker's
    /// append time when the topic uses `LogAppendTime`, else the record's
    /// own (create) time.
    pub timestamp: i64,
}

/// Milliseconds since the epoch, negative before it.
pub(crate) fn to_millis(time: SystemTime) -> i64 {
    match time.duration_since(UNIX_EPOCH) {
        Ok(d) => i64::try_from(d.as_millis()).unwrap_or(i64::MAX),
        Err(e) => i64::try_from(e.duration().as_millis()).map_or(i64::MIN, |ms| -ms),
    }
}

/// Now, in milliseconds since the epoch.
pub(crate) fn now_millis() -> i64 {
    to_millis(SystemTime::now())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builder_sets_every_field_without_copying() {
        let value = Bytes::from(vec![1u8, 2, 3]);
        let ptr = value.as_ptr();
        let r = ProducerRecord::to(String::from("t"))
            .key("k")
            .value(value)
            .partition(2)
            .header("h", "v")
            .null_header("n")
            .timestamp(5)
            .opaque(9);
        assert_eq!(r.topic(), "t");
        assert_eq!(r.partition_index(), Some(2));
        assert_eq!(r.key_bytes().map(|b| &b[..]), Some(&b"k"[..]));
        assert_eq!(r.value_bytes().unwrap().as_ptr(), ptr);
        assert_eq!(r.header_list().len(), 2);
        assert_eq!(r.header_list()[1].value, None);
        assert_eq!(r.timestamp_millis(), Some(5));
        assert_eq!(r.opaque, 9);
        let t = ProducerRecord::to("t").key("k").with_value(None);
        assert!(t.value_bytes().is_none());
        assert!(matches!(t.topic, Cow::Borrowed(_)));
    }

    #[test]
    fn millis_round_trip() {
        assert_eq!(to_millis(UNIX_EPOCH), 0);
        assert_eq!(
            to_millis(UNIX_EPOCH + std::time::Duration::from_millis(1_700_000_000_123)),
            1_700_000_000_123
        );
        assert!(now_millis() > 1_600_000_000_000);
    }
}
