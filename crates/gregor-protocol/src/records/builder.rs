//! Building a v2 batch record by record, as a producer does.

use bytes::{Bytes, BytesMut};

use super::batch::{BatchHeader, RECORD_BATCH_OVERHEAD, RecordBatch, finish_batch};
use super::compression;
use super::record::{RecordParts, len_i32};
use super::types::{Compression, ControlRecord, Header, Record, TimestampType};
use crate::error::{Error, Location, Result};
use crate::wire::Writer;

/// Builds one v2 record batch, writing each record as it is appended.
///
/// Records go straight into one buffer behind room for the batch header;
/// [`RecordBatchBuilder::build`] fills in the header, length and CRC-32C in
/// place, so an uncompressed batch is never copied. A compressed one is
/// compressed from that buffer into the output once. Offsets are assigned
/// 0, 1, 2, ... from the base offset (0 by default, which is what producers
/// send: the broker assigns the real ones); the first record's timestamp
/// becomes the base timestamp.
///
/// ```
/// use gregor_protocol::records::{Compression, RecordBatchBuilder};
///
/// let mut b = RecordBatchBuilder::new().compression(Compression::Lz4);
/// b.append(1_700_000_000_000, Some(b"key"), Some(b"value"), &[])?;
/// let bytes = b.build()?;
/// # Ok::<(), gregor_protocol::Error>(())
/// ```
#[derive(Debug)]
pub struct RecordBatchBuilder {
    w: Writer,
    compression: Compression,
    timestamp_type: TimestampType,
    base_offset: i64,
    partition_leader_epoch: i32,
    producer_id: i64,
    producer_epoch: i16,
    base_sequence: i32,
    transactional: bool,
    control: bool,
    count: i32,
    base_timestamp: i64,
    max_timestamp: i64,
}

impl Default for RecordBatchBuilder {
    fn default() -> Self {
        Self::new()
    }
}

impl RecordBatchBuilder {
    /// An empty uncompressed batch with no producer state.
    pub fn new() -> Self {
        Self::with_capacity(0)
    }

    /// An empty batch with room for `bytes` of records before it reallocates.
    pub fn with_capacity(bytes: usize) -> Self {
        let mut w = Writer::with_capacity(RECORD_BATCH_OVERHEAD.saturating_add(bytes));
        w.raw(&[0; RECORD_BATCH_OVERHEAD]);
        Self {
            w,
            compression: Compression::None,
            timestamp_type: TimestampType::CreateTime,
            base_offset: 0,
            partition_leader_epoch: -1,
            producer_id: -1,
            producer_epoch: -1,
            base_sequence: -1,
            transactional: false,
            control: false,
            count: 0,
            base_timestamp: -1,
            max_timestamp: -1,
        }
    }

    /// Sets the codec (and level) the records are compressed with.
    #[must_use]
    pub fn compression(mut self, compression: Compression) -> Self {
        self.compression = compression;
        self
    }

    /// Sets the timestamp type (brokers set log-append time, producers don't).
    #[must_use]
    pub fn timestamp_type(mut self, timestamp_type: TimestampType) -> Self {
        self.timestamp_type = timestamp_type;
        self
    }

    /// Sets the base offset (0 for produce requests).
    #[must_use]
    pub fn base_offset(mut self, base_offset: i64) -> Self {
        self.base_offset = base_offset;
        self
    }

    /// Sets the partition leader epoch (-1 for produce requests).
    #[must_use]
    pub fn partition_leader_epoch(mut self, epoch: i32) -> Self {
        self.partition_leader_epoch = epoch;
        self
    }

    /// Sets the idempotent producer's id, epoch and first sequence number.
    #[must_use]
    pub fn producer_state(
        mut self,
        producer_id: i64,
        producer_epoch: i16,
        base_sequence: i32,
    ) -> Self {
        self.set_producer_state(producer_id, producer_epoch, base_sequence);
        self
    }

    /// Sets the producer state on a builder already filling, as a producer
    /// does when it assigns sequence numbers at send time.
    pub fn set_producer_state(
        &mut self,
        producer_id: i64,
        producer_epoch: i16,
        base_sequence: i32,
    ) {
        self.producer_id = producer_id;
        self.producer_epoch = producer_epoch;
        self.base_sequence = base_sequence;
    }

    /// Marks the batch as part of a transaction.
    #[must_use]
    pub fn transactional(mut self, transactional: bool) -> Self {
        self.transactional = transactional;
        self
    }

    /// Records appended so far.
    pub fn len(&self) -> usize {
        usize::try_from(self.count).unwrap_or_default()
    }

    /// Whether no record was appended.
    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// The batch's size so far before compression, header included.
    pub fn size_in_bytes(&self) -> usize {
        self.w.len()
    }

    /// The bytes the next record would add (before compression), to keep a
    /// batch under a size limit without appending first.
    pub fn next_record_size(
        &self,
        timestamp: i64,
        key: Option<&[u8]>,
        value: Option<&[u8]>,
        headers: &[Header],
    ) -> Result<usize> {
        let parts = self.parts(timestamp, key, value, headers);
        Ok(RecordParts::framed_size(parts.body_size()?))
    }

    fn parts<'a>(
        &self,
        timestamp: i64,
        key: Option<&'a [u8]>,
        value: Option<&'a [u8]>,
        headers: &'a [Header],
    ) -> RecordParts<'a> {
        let base_timestamp = if self.count == 0 {
            timestamp
        } else {
            self.base_timestamp
        };
        RecordParts {
            offset_delta: self.count,
            timestamp_delta: timestamp.wrapping_sub(base_timestamp),
            key,
            value,
            headers,
        }
    }

    /// Appends a record and returns the offset it was given.
    pub fn append(
        &mut self,
        timestamp: i64,
        key: Option<&[u8]>,
        value: Option<&[u8]>,
        headers: &[Header],
    ) -> Result<i64> {
        if self.control {
            return Err(Error::InvalidValue {
                at: Location::field("records"),
                reason: "a control batch holds only control records",
            });
        }
        self.append_unchecked(timestamp, key, value, headers)
    }

    /// Appends a record's timestamp, key, value and headers; its `offset`
    /// is ignored in favour of the next one in the batch, which is returned.
    pub fn append_record(&mut self, record: &Record) -> Result<i64> {
        self.append(
            record.timestamp,
            record.key.as_deref(),
            record.value.as_deref(),
            &record.headers,
        )
    }

    /// Appends a transaction marker, making this a control batch (which
    /// may hold nothing else).
    pub fn append_control(&mut self, timestamp: i64, marker: ControlRecord) -> Result<i64> {
        if !self.control && self.count > 0 {
            return Err(Error::InvalidValue {
                at: Location::field("records"),
                reason: "a control record cannot join a batch of data records",
            });
        }
        self.control = true;
        let (key, value) = (marker.key_bytes(), marker.value_bytes());
        self.append_unchecked(timestamp, Some(&key), Some(&value), &[])
    }

    fn append_unchecked(
        &mut self,
        timestamp: i64,
        key: Option<&[u8]>,
        value: Option<&[u8]>,
        headers: &[Header],
    ) -> Result<i64> {
        let count = self.count.checked_add(1).ok_or(Error::TooLong {
            at: Location::field("recordsCount"),
            length: self.len(),
        })?;
        let parts = self.parts(timestamp, key, value, headers);
        let body = parts.body_size()?;
        // The batch length is an int32; refuse the record that would
        // overflow it rather than a whole batch at build time.
        len_i32(self.w.len() + RecordParts::framed_size(body), "batchLength")?;
        parts.write(&mut self.w, body);
        if self.count == 0 {
            self.base_timestamp = timestamp;
            self.max_timestamp = timestamp;
        } else {
            self.max_timestamp = self.max_timestamp.max(timestamp);
        }
        let offset = self.base_offset.wrapping_add(i64::from(self.count));
        self.count = count;
        Ok(offset)
    }

    fn header(&self) -> BatchHeader {
        let batch = RecordBatch {
            compression: self.compression,
            timestamp_type: self.timestamp_type,
            is_transactional: self.transactional,
            is_control: self.control,
            ..RecordBatch::default()
        };
        BatchHeader {
            base_offset: self.base_offset,
            partition_leader_epoch: self.partition_leader_epoch,
            attributes: batch.attributes(),
            last_offset_delta: self.count.saturating_sub(1),
            base_timestamp: self.base_timestamp,
            max_timestamp: self.max_timestamp,
            producer_id: self.producer_id,
            producer_epoch: self.producer_epoch,
            base_sequence: self.base_sequence,
            record_count: self.count,
        }
    }

    /// The finished batch: header, length and CRC-32C filled in, records
    /// compressed if a codec was set. A batch needs at least one record.
    pub fn build(self) -> Result<Bytes> {
        if self.count == 0 {
            return Err(Error::InvalidValue {
                at: Location::field("records"),
                reason: "a record batch needs at least one record",
            });
        }
        let mut head = Writer::with_capacity(RECORD_BATCH_OVERHEAD);
        self.header().write(&mut head);
        let mut buf = self.w.into_inner();
        if self.compression.is_none() {
            buf.get_mut(..RECORD_BATCH_OVERHEAD)
                .ok_or(Error::Truncated {
                    at: Location::field("batch"),
                    needed: RECORD_BATCH_OVERHEAD,
                    remaining: 0,
                })?
                .copy_from_slice(head.as_slice());
            finish_batch(&mut buf)?;
            return Ok(buf.freeze());
        }
        let records = buf.get(RECORD_BATCH_OVERHEAD..).unwrap_or_default();
        let mut out = BytesMut::with_capacity(RECORD_BATCH_OVERHEAD + records.len() / 2 + 64);
        out.extend_from_slice(head.as_slice());
        compression::compress_into(self.compression, records, &mut out, 2)?;
        finish_batch(&mut out)?;
        Ok(out.freeze())
    }
}
