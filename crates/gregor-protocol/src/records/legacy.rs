//! Legacy message sets: message formats v0 (magic 0) and v1 (magic 1),
//! spoken by brokers before 0.11 and still found in old topics.
//!
//! ```text
//! offset: int64
//! messageSize: int32       (bytes after this field)
//! crc: uint32              (CRC-32/IEEE of magic .. end)
//! magic: int8
//! attributes: int8         (bits 0-2 codec, bit 3 timestamp type in v1)
//! timestamp: int64         (v1 only)
//! key: int32 length, bytes (-1 for null)
//! value: int32 length, bytes
//! ```
//!
//! A compressed message is a wrapper whose value is a compressed message set.
//! In v1 the inner offsets are relative: the wrapper carries the absolute
//! offset of the last inner message, so inner message `i` is at
//! `wrapper.offset - inner.last.offset + inner[i].offset`. In v0 the inner
//! offsets are absolute.

use bytes::{Bytes, BytesMut};

use super::batch::{LOG_OVERHEAD, MAGIC_OFFSET, RecordBatch};
use super::compression;
use super::types::{Compression, DecodeOptions, Record, TimestampType};
use crate::error::{Error, Location, Result};
use crate::wire::{Reader, Writer};

/// Bytes of a v0 message after its size field, with empty key and value.
const V0_OVERHEAD: usize = 14;
/// Bytes of a v1 message after its size field (v0 plus the timestamp).
const V1_OVERHEAD: usize = 22;
const SIZE_OFFSET: usize = 8;
const CRC_OFFSET: usize = 12;
const COMPRESSION_MASK: i8 = 0x07;
const TIMESTAMP_TYPE_BIT: i8 = 0x08;

/// The smallest `messageSize` a message of this magic can have.
pub(crate) fn min_message_size(magic: i8) -> usize {
    if magic == 0 { V0_OVERHEAD } else { V1_OVERHEAD }
}

/// One parsed message, before it becomes a record.
#[derive(Debug)]
struct Message {
    offset: i64,
    crc: u32,
    size: i32,
    magic: i8,
    attributes: i8,
    timestamp: i64,
    key: Option<Bytes>,
    value: Option<Bytes>,
}

impl Message {
    fn compression(&self) -> Result<Compression> {
        let id = self.attributes & COMPRESSION_MASK;
        match Compression::from_id(id) {
            Some(c @ Compression::Zstd { .. }) => Err(Error::Compression {
                codec: c.name().to_string(),
                reason: "not allowed in message format v0/v1".to_string(),
            }),
            Some(c) => Ok(c),
            None => Err(Error::Compression {
                codec: id.to_string(),
                reason: "unknown to this build".to_string(),
            }),
        }
    }
}

/// Parses one message; `msg` holds exactly its bytes, offset field first.
fn parse_message(msg: Bytes, verify_crc: bool) -> Result<Message> {
    let mut r = Reader::new(msg.clone());
    let offset = r.i64("offset")?;
    let size = r.i32("messageSize")?;
    let crc = r.u32("crc")?;
    if verify_crc {
        let computed = crc32fast::hash(msg.get(MAGIC_OFFSET..).unwrap_or_default());
        if computed != crc {
            return Err(Error::CrcMismatch {
                base_offset: offset,
                stored: crc,
                computed,
            });
        }
    }
    let magic = r.i8("magic")?;
    if !(0..=1).contains(&magic) {
        return Err(Error::InvalidValue {
            at: Location::field("magic"),
            reason: "a message set message must have magic 0 or 1",
        });
    }
    let attributes = r.i8("attributes")?;
    let timestamp = if magic == 1 { r.i64("timestamp")? } else { -1 };
    let key = r.nullable_bytes("key")?;
    let value = r.nullable_bytes("value")?;
    if !r.is_empty() {
        return Err(Error::InvalidValue {
            at: Location::field("messageSize"),
            reason: "message size is larger than its fields",
        });
    }
    Ok(Message {
        offset,
        crc,
        size,
        magic,
        attributes,
        timestamp,
        key,
        value,
    })
}

/// The `messageSize`/`batchLength` field of the framing at the start of `buf`.
pub(crate) fn frame_length(buf: &[u8]) -> Option<i32> {
    let field = buf.get(SIZE_OFFSET..LOG_OVERHEAD)?;
    Some(i32::from_be_bytes(field.try_into().ok()?))
}

/// Decodes one complete legacy message (plain, or a compressed wrapper) into
/// a batch of magic 0 or 1.
pub(crate) fn decode_legacy(msg: Bytes, options: &DecodeOptions) -> Result<RecordBatch> {
    let magic = msg.get(MAGIC_OFFSET).map_or(0, |&m| m as i8);
    decode_legacy_inner(msg, options).map_err(|e| e.in_message("MessageSet", i16::from(magic)))
}

fn decode_legacy_inner(msg: Bytes, options: &DecodeOptions) -> Result<RecordBatch> {
    let m = parse_message(msg, options.verify_crc)?;
    let compression = m.compression()?;
    let timestamp_type = match (m.magic, m.attributes & TIMESTAMP_TYPE_BIT != 0) {
        (0, _) => TimestampType::NoTimestampType,
        (_, true) => TimestampType::LogAppendTime,
        (_, false) => TimestampType::CreateTime,
    };
    let records = if compression.is_none() {
        vec![Record {
            offset: m.offset,
            timestamp: m.timestamp,
            key: m.key.clone(),
            value: m.value.clone(),
            headers: Vec::new(),
        }]
    } else {
        inner_records(&m, compression, timestamp_type, options)?
    };
    let (base_offset, last_offset) = match (records.first(), records.last()) {
        (Some(first), Some(last)) => (first.offset, last.offset),
        _ => (m.offset, m.offset),
    };
    let last_offset_delta = last_offset
        .checked_sub(base_offset)
        .and_then(|d| i32::try_from(d).ok())
        .ok_or(Error::InvalidValue {
            at: Location::field("offset"),
            reason: "inner message offsets span more than an int32",
        })?;
    let max_timestamp = records.iter().map(|r| r.timestamp).max().unwrap_or(-1);
    Ok(RecordBatch {
        base_offset,
        batch_length: m.size,
        partition_leader_epoch: -1,
        magic: m.magic,
        crc: m.crc,
        compression,
        timestamp_type,
        is_transactional: false,
        is_control: false,
        has_delete_horizon: false,
        last_offset_delta,
        base_timestamp: records.first().map_or(-1, |r| r.timestamp),
        max_timestamp,
        producer_id: -1,
        producer_epoch: -1,
        base_sequence: -1,
        records,
    })
}

/// Decompresses a wrapper's value and turns its inner messages into records.
fn inner_records(
    wrapper: &Message,
    compression: Compression,
    timestamp_type: TimestampType,
    options: &DecodeOptions,
) -> Result<Vec<Record>> {
    let value = wrapper.value.as_ref().ok_or(Error::NullNotAllowed {
        at: Location::field("value"),
    })?;
    let inner = compression::decompress(
        compression,
        value,
        options.max_decompressed_bytes,
        wrapper.magic,
    )?;
    let mut r = Reader::new(Bytes::from(inner));
    let mut messages = Vec::new();
    while !r.is_empty() {
        // Inside a wrapper a short message is corruption, not a fetch cut.
        let size = frame_length(r.peek_rest()).ok_or(Error::Truncated {
            at: Location::field("messageSize"),
            needed: LOG_OVERHEAD,
            remaining: r.remaining(),
        })?;
        // Inner messages may be of an older format than their wrapper
        // (some clients wrote v0 inside v1); like the Java consumer, accept
        // that, and leave the framing check to the smaller format.
        let total = usize::try_from(size)
            .ok()
            .filter(|&n| n >= min_message_size(0))
            .and_then(|n| n.checked_add(LOG_OVERHEAD))
            .filter(|&n| n <= r.remaining())
            .ok_or(Error::BadLength {
                at: Location::field("messageSize"),
                length: i64::from(size),
                remaining: r.remaining(),
            })?;
        let m = parse_message(r.bytes(total, "message")?, options.verify_crc)?;
        if m.attributes & COMPRESSION_MASK != 0 {
            return Err(Error::InvalidValue {
                at: Location::field("attributes"),
                reason: "an inner message is itself compressed",
            });
        }
        messages.push(m);
    }
    let Some(last) = messages.last() else {
        return Err(Error::InvalidValue {
            at: Location::field("value"),
            reason: "a compressed wrapper message holds no messages",
        });
    };
    let base = if wrapper.magic >= 1 {
        wrapper.offset.wrapping_sub(last.offset)
    } else {
        0
    };
    Ok(messages
        .into_iter()
        .map(|m| Record {
            offset: base.wrapping_add(m.offset),
            timestamp: if timestamp_type == TimestampType::LogAppendTime {
                wrapper.timestamp
            } else {
                m.timestamp
            },
            key: m.key,
            value: m.value,
            headers: Vec::new(),
        })
        .collect())
}

/// Appends `records` to `out` as a legacy message set of format `magic`
/// (0 or 1), as a Produce request v0-v2 carries it.
///
/// Each record's `offset` is written as given (producers use 0, 1, 2, ...;
/// the broker assigns the real ones). With a codec, the records go into
/// one wrapper message whose offset is the last record's, with v1 inner
/// offsets relative to the first record. Format v0 has no timestamps, so
/// theirs are dropped; headers cannot be carried by either format and are
/// an error, as is zstd (v2 only). Snappy is written in the xerial framing
/// and v0 LZ4 with Kafka's legacy header checksum, as Java clients of that
/// era read them.
pub fn encode_message_set(
    out: &mut BytesMut,
    magic: i8,
    compression: Compression,
    timestamp_type: TimestampType,
    records: &[Record],
) -> Result<()> {
    if !(0..=1).contains(&magic) {
        return Err(Error::InvalidValue {
            at: Location::field("magic"),
            reason: "a message set message must have magic 0 or 1",
        });
    }
    if records.iter().any(|r| !r.headers.is_empty()) {
        return Err(Error::FieldNotInVersion {
            message: "MessageSet",
            version: i16::from(magic),
            field: "headers",
        });
    }
    if let Compression::Zstd { .. } = compression {
        return Err(Error::Compression {
            codec: compression.name().to_string(),
            reason: "not allowed in message format v0/v1".to_string(),
        });
    }
    let ts_bit = if magic == 1 && timestamp_type == TimestampType::LogAppendTime {
        TIMESTAMP_TYPE_BIT
    } else {
        0
    };
    let start = out.len();
    let mut w = Writer::from_buf(std::mem::take(out));
    let result = if compression.is_none() {
        records
            .iter()
            .try_for_each(|r| write_message(&mut w, magic, ts_bit, r.offset, r))
    } else {
        write_wrapper(&mut w, magic, ts_bit, compression, records)
    };
    *out = w.into_inner();
    if result.is_err() {
        out.truncate(start);
    }
    result.map_err(|e| e.in_message("MessageSet", i16::from(magic)))
}

fn write_message(w: &mut Writer, magic: i8, attributes: i8, offset: i64, r: &Record) -> Result<()> {
    let start = w.len();
    write_prefix(w, offset, magic, attributes, r.timestamp);
    w.nullable_bytes(r.key.as_deref(), "key")?;
    w.nullable_bytes(r.value.as_deref(), "value")?;
    finish_message(w.buf_mut().get_mut(start..).unwrap_or_default())
}

fn write_prefix(w: &mut Writer, offset: i64, magic: i8, attributes: i8, timestamp: i64) {
    w.i64(offset);
    w.i32(0);
    w.u32(0);
    w.i8(magic);
    w.i8(attributes);
    if magic == 1 {
        w.i64(timestamp);
    }
}

fn write_wrapper(
    w: &mut Writer,
    magic: i8,
    ts_bit: i8,
    compression: Compression,
    records: &[Record],
) -> Result<()> {
    let (Some(first), Some(last)) = (records.first(), records.last()) else {
        return Ok(());
    };
    let mut inner = Writer::new();
    for r in records {
        let offset = if magic == 1 {
            r.offset.wrapping_sub(first.offset)
        } else {
            r.offset
        };
        write_message(&mut inner, magic, 0, offset, r)?;
    }
    let max_timestamp = records.iter().map(|r| r.timestamp).max().unwrap_or(-1);
    let start = w.len();
    write_prefix(
        w,
        last.offset,
        magic,
        ts_bit | compression.id(),
        max_timestamp,
    );
    w.i32(-1); // null key
    let value_at = w.len();
    w.i32(0);
    compression::compress_into(compression, inner.as_slice(), w.buf_mut(), magic)?;
    let value_len = super::record::len_i32(w.len() - value_at - 4, "value")?;
    let buf = w.buf_mut();
    if let Some(slot) = buf.get_mut(value_at..value_at + 4) {
        slot.copy_from_slice(&value_len.to_be_bytes());
    }
    finish_message(buf.get_mut(start..).unwrap_or_default())
}

/// Fills in the size and CRC-32 of the complete message in `msg`.
fn finish_message(msg: &mut [u8]) -> Result<()> {
    let size = super::record::len_i32(msg.len().saturating_sub(LOG_OVERHEAD), "messageSize")?;
    let crc = crc32fast::hash(msg.get(MAGIC_OFFSET..).unwrap_or_default());
    let len = msg.len();
    for (at, bytes) in [
        (SIZE_OFFSET, size.to_be_bytes()),
        (CRC_OFFSET, crc.to_be_bytes()),
    ] {
        msg.get_mut(at..at + 4)
            .ok_or(Error::Truncated {
                at: Location::field("messageSize"),
                needed: at + 4,
                remaining: len,
            })?
            .copy_from_slice(&bytes);
    }
    Ok(())
}
