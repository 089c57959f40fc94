//! The v2 record batch (magic 2): its header, decoding and encoding.
//!
//! ```text
//! baseOffset: int64
//! batchLength: int32           (bytes after this field)
//! partitionLeaderEpoch: int32
//! magic: int8                  (2)
//! crc: uint32                  (CRC-32C of attributes .. end of batch)
//! attributes: int16            (bits 0-2 codec, 3 timestamp type,
//!                               4 transactional, 5 control, 6 delete horizon)
//! lastOffsetDelta: int32
//! baseTimestamp: int64
//! maxTimestamp: int64
//! producerId: int64
//! producerEpoch: int16
//! baseSequence: int32
//! recordsCount: int32
//! records: [Record]            (compressed as one block if the codec is set)
//! ```

use bytes::{Bytes, BytesMut};

use super::compression;
use super::legacy;
use super::record::{MIN_RECORD_SIZE, RecordContext, RecordParts, checked_count, read_record};
use super::types::{Compression, ControlRecord, DecodeOptions, Record, TimestampType};
use crate::error::{Error, Location, Result};
use crate::wire::{Reader, Writer};

/// Bytes of a v2 batch header, up to and including the record count.
pub const RECORD_BATCH_OVERHEAD: usize = 61;
/// Bytes before a batch's or message's magic byte; also where the CRC
/// sits in a legacy message.
pub(crate) const MAGIC_OFFSET: usize = 16;
/// Bytes of base offset and length, the framing every format shares.
pub const LOG_OVERHEAD: usize = 12;
const LENGTH_OFFSET: usize = 8;
const CRC_OFFSET: usize = 17;
const ATTRIBUTES_OFFSET: usize = 21;

const COMPRESSION_MASK: i16 = 0x07;
const TIMESTAMP_TYPE_BIT: i16 = 0x08;
const TRANSACTIONAL_BIT: i16 = 0x10;
const CONTROL_BIT: i16 = 0x20;
const DELETE_HORIZON_BIT: i16 = 0x40;

/// A decoded record batch, or a legacy (v0/v1) message presented as one.
///
/// Every field of the v2 header is here, with the attributes split into
/// their meanings. A legacy message (plain, or a compressed wrapper holding
/// a message set) decodes into a batch of `magic` 0 or 1, as the Java client
/// presents it: its `crc` is the message's CRC-32, `batch_length` the
/// message size, the producer fields -1.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordBatch {
    /// The offset of the first record (v2: possibly of a record compacted away).
    pub base_offset: i64,
    /// Bytes after the length field, as read; recomputed on encode.
    pub batch_length: i32,
    /// The leader epoch of the broker that appended the batch, -1 if unknown.
    pub partition_leader_epoch: i32,
    /// The message format: 2, or 0/1 for legacy messages.
    pub magic: i8,
    /// The CRC as read; recomputed on encode.
    pub crc: u32,
    /// The compression codec (level `None` on decode); used on encode.
    pub compression: Compression,
    /// Whether timestamps are create time or log-append time.
    pub timestamp_type: TimestampType,
    /// Whether the batch belongs to a transaction.
    pub is_transactional: bool,
    /// Whether the batch holds control records (transaction markers).
    pub is_control: bool,
    /// Whether `base_timestamp` is the delete horizon set by the log cleaner
    /// (KIP-534) rather than the first record's timestamp.
    pub has_delete_horizon: bool,
    /// The last offset of the batch minus `base_offset`.
    pub last_offset_delta: i32,
    /// The timestamp record deltas are relative to.
    pub base_timestamp: i64,
    /// The largest timestamp of the batch (the append time under
    /// log-append time).
    pub max_timestamp: i64,
    /// The idempotent/transactional producer id, -1 if none.
    pub producer_id: i64,
    /// The producer epoch, -1 if none.
    pub producer_epoch: i16,
    /// The sequence number of the first record, -1 if none.
    pub base_sequence: i32,
    /// The records.
    pub records: Vec<Record>,
}

impl Default for RecordBatch {
    /// An empty v2 batch with no producer and no leader epoch.
    fn default() -> Self {
        Self {
            base_offset: 0,
            batch_length: 0,
            partition_leader_epoch: -1,
            magic: 2,
            crc: 0,
            compression: Compression::None,
            timestamp_type: TimestampType::CreateTime,
            is_transactional: false,
            is_control: false,
            has_delete_horizon: false,
            last_offset_delta: 0,
            base_timestamp: -1,
            max_timestamp: -1,
            producer_id: -1,
            producer_epoch: -1,
            base_sequence: -1,
            records: Vec::new(),
        }
    }
}

impl RecordBatch {
    /// A v2 batch of `records` whose header is derived from them: the base
    /// offset and timestamp are the first record's, the last offset delta
    /// and max timestamp cover all of them.
    pub fn from_records(records: Vec<Record>) -> Self {
        let mut batch = Self::default();
        if let Some(first) = records.first() {
            batch.base_offset = first.offset;
            batch.base_timestamp = first.timestamp;
            batch.max_timestamp = records.iter().map(|r| r.timestamp).max().unwrap_or(-1);
            let last = records
                .iter()
                .map(|r| r.offset)
                .max()
                .unwrap_or(first.offset);
            batch.last_offset_delta = i32::try_from(last.wrapping_sub(first.offset)).unwrap_or(0);
        }
        batch.records = records;
        batch
    }

    /// The offset of the batch's last record (including compacted-away ones).
    pub fn last_offset(&self) -> i64 {
        self.base_offset
            .wrapping_add(i64::from(self.last_offset_delta))
    }

    /// The offset to fetch from after this batch.
    pub fn next_offset(&self) -> i64 {
        self.last_offset().wrapping_add(1)
    }

    /// The v2 attributes word these fields encode to.
    pub fn attributes(&self) -> i16 {
        let mut a = i16::from(self.compression.id()) & COMPRESSION_MASK;
        if self.timestamp_type == TimestampType::LogAppendTime {
            a |= TIMESTAMP_TYPE_BIT;
        }
        if self.is_transactional {
            a |= TRANSACTIONAL_BIT;
        }
        if self.is_control {
            a |= CONTROL_BIT;
        }
        if self.has_delete_horizon {
            a |= DELETE_HORIZON_BIT;
        }
        a
    }

    /// The transaction marker of a control batch: `None` for data batches,
    /// an error if the control record is malformed or missing.
    pub fn control_record(&self) -> Option<Result<ControlRecord>> {
        if !self.is_control {
            return None;
        }
        Some(match self.records.first() {
            Some(r) => ControlRecord::from_record(r),
            None => Err(Error::InvalidValue {
                at: Location::field("records"),
                reason: "control batch has no control record",
            }),
        })
    }

    /// Appends the encoded batch to `out`, using `compression` (with its
    /// level) and the header fields as they are; `batch_length`, `crc` and
    /// the record count are computed. Records' offsets and timestamps become
    /// deltas from `base_offset` and `base_timestamp`.
    ///
    /// A batch of magic 0 or 1 is written as a legacy message set instead
    /// (see [`encode_message_set`](super::encode_message_set)): one wrapper
    /// message when compressed, else one message per record.
    pub fn encode(&self, out: &mut BytesMut) -> Result<()> {
        match self.magic {
            2 => encode_v2(self, out).map_err(|e| e.in_message("RecordBatch", 2)),
            0 | 1 => legacy::encode_message_set(
                out,
                self.magic,
                self.compression,
                self.timestamp_type,
                &self.records,
            ),
            _ => Err(Error::InvalidValue {
                at: Location::field("magic"),
                reason: "unknown record format magic (expected 0, 1 or 2)",
            }),
        }
    }

    /// The encoded batch as new bytes (see [`RecordBatch::encode`]).
    pub fn to_bytes(&self) -> Result<Bytes> {
        let mut out = BytesMut::new();
        self.encode(&mut out)?;
        Ok(out.freeze())
    }
}

/// The header fields written in front of the records.
#[derive(Debug, Clone, Copy)]
pub(crate) struct BatchHeader {
    pub(crate) base_offset: i64,
    pub(crate) partition_leader_epoch: i32,
    pub(crate) attributes: i16,
    pub(crate) last_offset_delta: i32,
    pub(crate) base_timestamp: i64,
    pub(crate) max_timestamp: i64,
    pub(crate) producer_id: i64,
    pub(crate) producer_epoch: i16,
    pub(crate) base_sequence: i32,
    pub(crate) record_count: i32,
}

impl BatchHeader {
    /// Writes the header with zero length and CRC, to be patched by
    /// [`finish_batch`] once the records follow.
    pub(crate) fn write(&self, w: &mut Writer) {
        w.i64(self.base_offset);
        w.i32(0);
        w.i32(self.partition_leader_epoch);
        w.i8(2);
        w.u32(0);
        w.i16(self.attributes);
        w.i32(self.last_offset_delta);
        w.i64(self.base_timestamp);
        w.i64(self.max_timestamp);
        w.i64(self.producer_id);
        w.i16(self.producer_epoch);
        w.i32(self.base_sequence);
        w.i32(self.record_count);
    }
}

fn patch(buf: &mut [u8], at: usize, bytes: &[u8]) -> Result<()> {
    let len = buf.len();
    buf.get_mut(at..at + bytes.len())
        .ok_or(Error::Truncated {
            at: Location::field("batchLength"),
            needed: at + bytes.len(),
            remaining: len,
        })?
        .copy_from_slice(bytes);
    Ok(())
}

/// Fills in the length and CRC-32C of the complete batch in `batch`.
pub(crate) fn finish_batch(batch: &mut [u8]) -> Result<()> {
    let length = super::record::len_i32(batch.len().saturating_sub(LOG_OVERHEAD), "batchLength")?;
    patch(batch, LENGTH_OFFSET, &length.to_be_bytes())?;
    let crc = crc32c::crc32c(batch.get(ATTRIBUTES_OFFSET..).unwrap_or_default());
    patch(batch, CRC_OFFSET, &crc.to_be_bytes())
}

fn encode_v2(batch: &RecordBatch, out: &mut BytesMut) -> Result<()> {
    let parts = |r| RecordParts::of(r, batch.base_offset, batch.base_timestamp);
    // An estimate from the records alone (headers taken at ~36 bytes of
    // content each): the exact size needs every header, and a pass of its
    // own over them costs ~10% of an uncompressed encode.
    let estimate = batch
        .records
        .iter()
        .map(|r| {
            let field = |b: &Option<Bytes>| b.as_ref().map_or(0, Bytes::len);
            (field(&r.key).saturating_add(field(&r.value)))
                .saturating_add(16 + r.headers.len().saturating_mul(40))
        })
        .fold(RECORD_BATCH_OVERHEAD, usize::saturating_add);
    // Uncompressed, the records go straight into `out`. When it has room
    // for the estimate they are sized as they are written, in one pass.
    // Otherwise they are sized exactly first and `out` grows once, by that
    // much: reserving an over-estimate could reallocate (and copy) a buffer
    // the caller sized exactly.
    let spare = out.capacity() - out.len();
    let sizes = if batch.compression.is_none() && spare < estimate {
        let mut sizes = Vec::with_capacity(batch.records.len());
        let mut total = RECORD_BATCH_OVERHEAD;
        for r in &batch.records {
            let body = parts(r)?.body_size()?;
            // body_size checked that it fits an i32.
            sizes.push(body as u32);
            total = total.saturating_add(RecordParts::framed_size(body));
        }
        out.reserve(total);
        Some(sizes)
    } else {
        None
    };
    let header = BatchHeader {
        base_offset: batch.base_offset,
        partition_leader_epoch: batch.partition_leader_epoch,
        attributes: batch.attributes(),
        last_offset_delta: batch.last_offset_delta,
        base_timestamp: batch.base_timestamp,
        max_timestamp: batch.max_timestamp,
        producer_id: batch.producer_id,
        producer_epoch: batch.producer_epoch,
        base_sequence: batch.base_sequence,
        record_count: super::record::len_i32(batch.records.len(), "recordsCount")?,
    };
    let write_records = |w: &mut Writer| -> Result<()> {
        match &sizes {
            Some(sizes) => {
                for (r, &body) in batch.records.iter().zip(sizes) {
                    parts(r)?.write(w, body as usize);
                }
            }
            None => {
                for r in &batch.records {
                    let p = parts(r)?;
                    p.write(w, p.body_size()?);
                }
            }
        }
        Ok(())
    };

    let start = out.len();
    let mut w = Writer::from_buf(std::mem::take(out));
    let written = if batch.compression.is_none() {
        header.write(&mut w);
        write_records(&mut w)
    } else {
        // A fresh scratch buffer: an over-estimate costs nothing here.
        let mut scratch = Writer::with_capacity(estimate);
        w.buf_mut().reserve(estimate / 2 + 64);
        header.write(&mut w);
        write_records(&mut scratch).and_then(|()| {
            compression::compress_into(batch.compression, scratch.as_slice(), w.buf_mut(), 2)
        })
    };
    *out = w.into_inner();
    let result = written.and_then(|()| finish_batch(out.get_mut(start..).unwrap_or_default()));
    if result.is_err() {
        out.truncate(start);
    }
    result
}

/// Decodes one complete v2 batch: `batch` holds exactly its bytes, from the
/// base offset to the end.
pub(crate) fn decode_v2(batch: Bytes, options: &DecodeOptions) -> Result<RecordBatch> {
    decode_v2_inner(batch, options).map_err(|e| e.in_message("RecordBatch", 2))
}

fn decode_v2_inner(batch: Bytes, options: &DecodeOptions) -> Result<RecordBatch> {
    let mut r = Reader::new(batch.clone());
    let base_offset = r.i64("baseOffset")?;
    let batch_length = r.i32("batchLength")?;
    if batch.len() < RECORD_BATCH_OVERHEAD {
        return Err(Error::BadLength {
            at: Location::field("batchLength"),
            length: i64::from(batch_length),
            remaining: batch.len().saturating_sub(LOG_OVERHEAD),
        });
    }
    let partition_leader_epoch = r.i32("partitionLeaderEpoch")?;
    let magic = r.i8("magic")?;
    let crc = r.u32("crc")?;
    if options.verify_crc {
        let computed = crc32c::crc32c(batch.get(ATTRIBUTES_OFFSET..).unwrap_or_default());
        if computed != crc {
            return Err(Error::CrcMismatch {
                base_offset,
                stored: crc,
                computed,
            });
        }
    }
    let attributes = r.i16("attributes")?;
    let codec_id = (attributes & COMPRESSION_MASK) as i8;
    let compression = Compression::from_id(codec_id).ok_or_else(|| Error::Compression {
        codec: codec_id.to_string(),
        reason: "unknown to this build".to_string(),
    })?;
    let timestamp_type = if attributes & TIMESTAMP_TYPE_BIT != 0 {
        TimestampType::LogAppendTime
    } else {
        TimestampType::CreateTime
    };
    let last_offset_delta = r.i32("lastOffsetDelta")?;
    let base_timestamp = r.i64("baseTimestamp")?;
    let max_timestamp = r.i64("maxTimestamp")?;
    let producer_id = r.i64("producerId")?;
    let producer_epoch = r.i16("producerEpoch")?;
    let base_sequence = r.i32("baseSequence")?;
    let count = r.i32("recordsCount")?;
    let section = r.take_rest();

    // An empty batch (left by compaction) may keep its codec bit with no
    // records section to decompress; Java skips it the same way.
    let records_bytes = if count == 0 || compression.is_none() {
        section
    } else {
        Bytes::from(compression::decompress(
            compression,
            &section,
            options.max_decompressed_bytes,
            magic,
        )?)
    };
    let mut rs = Reader::new(records_bytes);
    let count = checked_count(
        i64::from(count),
        MIN_RECORD_SIZE,
        rs.remaining(),
        "recordsCount",
    )?;
    let ctx = RecordContext {
        base_offset,
        base_timestamp,
        log_append_time: (timestamp_type == TimestampType::LogAppendTime).then_some(max_timestamp),
    };
    let mut records = Vec::with_capacity(count);
    for _ in 0..count {
        records.push(read_record(&mut rs, &ctx)?);
    }
    if count > 0 && !rs.is_empty() {
        return Err(Error::InvalidValue {
            at: Location::field("records"),
            reason: "bytes remain after the last record the count announces",
        });
    }
    Ok(RecordBatch {
        base_offset,
        batch_length,
        partition_leader_epoch,
        magic,
        crc,
        compression,
        timestamp_type,
        is_transactional: attributes & TRANSACTIONAL_BIT != 0,
        is_control: attributes & CONTROL_BIT != 0,
        has_delete_horizon: attributes & DELETE_HORIZON_BIT != 0,
        last_offset_delta,
        base_timestamp,
        max_timestamp,
        producer_id,
        producer_epoch,
        base_sequence,
        records,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::records::{Header, decode_records};

    fn records() -> Vec<Record> {
        (0..300i64)
            .map(|i| Record {
                offset: 10 + i,
                timestamp: 1_000 + i * 7,
                key: (i % 3 != 0).then(|| Bytes::from(vec![b'k'; (i % 20) as usize])),
                value: (i % 5 != 0).then(|| Bytes::from(vec![b'v'; (i * 13 % 400) as usize])),
                // Some headers far over the estimate's ~36 bytes.
                headers: (0..i % 4)
                    .map(|h| Header::new(vec![b'h'; h as usize], vec![b'x'; (i * h) as usize]))
                    .collect(),
            })
            .collect()
    }

    /// Sized in one pass (room for the estimate) or exactly first (no
    /// room), after bytes already in the buffer, the batch is the same.
    #[test]
    fn every_sizing_path_writes_the_same_batch() {
        for compression in [Compression::None, Compression::Lz4] {
            let mut batch = RecordBatch::from_records(records());
            batch.compression = compression;
            let reference = batch.to_bytes().unwrap();
            let decoded = decode_records(reference.clone(), &DecodeOptions::default()).unwrap();
            assert_eq!(decoded.batches.len(), 1);
            assert_eq!(decoded.batches[0].records, batch.records);
            for capacity in [0, reference.len(), reference.len() + 3, 1 << 20] {
                let mut out = BytesMut::with_capacity(capacity);
                out.extend_from_slice(b"prefix");
                batch.encode(&mut out).unwrap();
                assert_eq!(&out[..6], b"prefix");
                assert_eq!(&out[6..], &reference[..], "capacity {capacity}");
            }
        }
    }

    /// A record that cannot be encoded leaves the buffer as it was, on
    /// either sizing path.
    #[test]
    fn a_failed_encode_leaves_the_buffer_alone() {
        let mut recs = records();
        recs[200].offset = i64::MAX;
        let batch = RecordBatch::from_records(recs);
        for capacity in [0, 1 << 20] {
            let mut out = BytesMut::with_capacity(capacity);
            out.extend_from_slice(b"prefix");
            assert!(batch.encode(&mut out).is_err());
            assert_eq!(&out[..], b"prefix");
        }
    }
}
