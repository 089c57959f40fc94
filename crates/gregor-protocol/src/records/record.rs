//! One record of a v2 batch: its encoded size, encoding and decoding.
//!
//! ```text
//! length: varint            (bytes after this field)
//! attributes: int8          (unused, written 0)
//! timestampDelta: varlong
//! offsetDelta: varint
//! keyLength: varint, key    (-1 for null)
//! valueLength: varint, value
//! headers: varint count, then [keyLength: varint, key, valueLength: varint, value]
//! ```

use bytes::Bytes;

use super::types::{Header, Record};
use crate::error::{Error, Location, Result};
use crate::wire::{Reader, Writer};

/// The smallest possible record: a one-byte length, then attributes,
/// timestamp delta, offset delta, key length, value length and header
/// count, one byte each.
pub(crate) const MIN_RECORD_SIZE: usize = 7;

/// The smallest possible header: two one-byte lengths.
const MIN_HEADER_SIZE: usize = 2;

/// Bytes an unsigned LEB128 varint of `v` takes.
#[inline]
pub(crate) fn uvarint_len(v: u64) -> usize {
    (64 - (v | 1).leading_zeros() as usize).div_ceil(7)
}

/// Bytes a zig-zag varint of `v` takes.
#[inline]
pub(crate) fn varint_len(v: i32) -> usize {
    uvarint_len(u64::from(((v << 1) ^ (v >> 31)) as u32))
}

/// Bytes a zig-zag varlong of `v` takes.
#[inline]
pub(crate) fn varlong_len(v: i64) -> usize {
    uvarint_len(((v << 1) ^ (v >> 63)) as u64)
}

pub(crate) fn len_i32(len: usize, field: &'static str) -> Result<i32> {
    i32::try_from(len).map_err(|_| Error::TooLong {
        at: Location::field(field),
        length: len,
    })
}

fn nullable_size(b: Option<&[u8]>, field: &'static str) -> Result<usize> {
    Ok(match b {
        None => 1,
        Some(b) => varint_len(len_i32(b.len(), field)?) + b.len(),
    })
}

fn write_nullable(w: &mut Writer, b: Option<&[u8]>) {
    match b {
        None => w.varint(-1),
        Some(b) => {
            // Lengths were checked against i32 when the size was computed.
            w.varint(b.len() as i32);
            w.raw(b);
        }
    }
}

/// The parts of a record to encode, borrowed from the caller.
#[derive(Debug, Clone, Copy)]
pub(crate) struct RecordParts<'a> {
    pub(crate) offset_delta: i32,
    pub(crate) timestamp_delta: i64,
    pub(crate) key: Option<&'a [u8]>,
    pub(crate) value: Option<&'a [u8]>,
    pub(crate) headers: &'a [Header],
}

impl<'a> RecordParts<'a> {
    /// Borrows a record's parts, with its deltas from a batch's bases.
    pub(crate) fn of(record: &'a Record, base_offset: i64, base_timestamp: i64) -> Result<Self> {
        let offset_delta = record
            .offset
            .checked_sub(base_offset)
            .and_then(|d| i32::try_from(d).ok())
            .ok_or(Error::InvalidValue {
                at: Location::field("records.offsetDelta"),
                reason: "record offset is not within an int32 of the batch's base offset",
            })?;
        Ok(Self {
            offset_delta,
            // Java computes the delta in wrapping long arithmetic, and the
            // decoder adds it back the same way, so every i64 round-trips.
            timestamp_delta: record.timestamp.wrapping_sub(base_timestamp),
            key: record.key.as_deref(),
            value: record.value.as_deref(),
            headers: &record.headers,
        })
    }

    /// The encoded size after the length prefix.
    pub(crate) fn body_size(&self) -> Result<usize> {
        let headers_len = len_i32(self.headers.len(), "records.headers")?;
        let mut size = 1
            + varlong_len(self.timestamp_delta)
            + varint_len(self.offset_delta)
            + nullable_size(self.key, "records.key")?
            + nullable_size(self.value, "records.value")?
            + varint_len(headers_len);
        for h in self.headers {
            size += varint_len(len_i32(h.key.len(), "records.headers.key")?) + h.key.len();
            size += nullable_size(h.value.as_deref(), "records.headers.value")?;
        }
        len_i32(size, "records.length")?;
        Ok(size)
    }

    /// The encoded size including the length prefix.
    pub(crate) fn framed_size(body_size: usize) -> usize {
        varint_len(body_size as i32) + body_size
    }

    /// Writes the record; `body_size` comes from [`RecordParts::body_size`].
    pub(crate) fn write(&self, w: &mut Writer, body_size: usize) {
        w.varint(body_size as i32);
        w.i8(0);
        w.varlong(self.timestamp_delta);
        w.varint(self.offset_delta);
        write_nullable(w, self.key);
        write_nullable(w, self.value);
        w.varint(self.headers.len() as i32);
        for h in self.headers {
            w.varint(h.key.len() as i32);
            w.raw(&h.key);
            write_nullable(w, h.value.as_deref());
        }
    }
}

/// What record decoding needs from the batch header.
#[derive(Debug, Clone, Copy)]
pub(crate) struct RecordContext {
    pub(crate) base_offset: i64,
    pub(crate) base_timestamp: i64,
    /// The batch's max timestamp when it uses log-append time: every record
    /// then takes it, whatever its own delta says (as in the Java client).
    pub(crate) log_append_time: Option<i64>,
}

fn read_nullable(r: &mut Reader, field: &'static str) -> Result<Option<Bytes>> {
    let len = r.varint(field)?;
    if len == -1 {
        return Ok(None);
    }
    match usize::try_from(len) {
        Ok(n) if n <= r.remaining() => Ok(Some(r.bytes(n, field)?)),
        _ => Err(Error::BadLength {
            at: Location::field(field),
            length: i64::from(len),
            remaining: r.remaining(),
        }),
    }
}

/// A count read from the wire, checked against the bytes left so that a
/// huge count cannot drive an allocation.
pub(crate) fn checked_count(
    count: i64,
    min_size: usize,
    remaining: usize,
    field: &'static str,
) -> Result<usize> {
    match usize::try_from(count) {
        Ok(n) if n.saturating_mul(min_size) <= remaining => Ok(n),
        _ => Err(Error::BadLength {
            at: Location::field(field),
            length: count,
            remaining,
        }),
    }
}

/// Reads one record from a batch's records section.
pub(crate) fn read_record(rs: &mut Reader, ctx: &RecordContext) -> Result<Record> {
    let len = rs.varint("records.length")?;
    let len = checked_count(i64::from(len), 1, rs.remaining(), "records.length")?;
    let mut r = Reader::new(rs.bytes(len, "records.length")?);
    let _attributes = r.i8("records.attributes")?;
    let timestamp_delta = r.varlong("records.timestampDelta")?;
    let offset_delta = r.varint("records.offsetDelta")?;
    let key = read_nullable(&mut r, "records.key")?;
    let value = read_nullable(&mut r, "records.value")?;
    let count = r.varint("records.headers")?;
    let count = checked_count(
        i64::from(count),
        MIN_HEADER_SIZE,
        r.remaining(),
        "records.headers",
    )?;
    let mut headers = Vec::with_capacity(count);
    for _ in 0..count {
        let key = read_nullable(&mut r, "records.headers.key")?.ok_or(Error::NullNotAllowed {
            at: Location::field("records.headers.key"),
        })?;
        let value = read_nullable(&mut r, "records.headers.value")?;
        headers.push(Header { key, value });
    }
    if !r.is_empty() {
        return Err(Error::InvalidValue {
            at: Location::field("records.length"),
            reason: "record length is larger than its fields",
        });
    }
    Ok(Record {
        offset: ctx.base_offset.wrapping_add(i64::from(offset_delta)),
        timestamp: ctx
            .log_append_time
            .unwrap_or(ctx.base_timestamp.wrapping_add(timestamp_delta)),
        key,
        value,
        headers,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn varint_lengths_match_the_writer() {
        for v in [
            0i64,
            1,
            -1,
            63,
            64,
            -64,
            -65,
            8191,
            8192,
            i64::from(i32::MAX),
            i64::MIN,
            i64::MAX,
        ] {
            let mut w = Writer::new();
            w.varlong(v);
            assert_eq!(varlong_len(v), w.len(), "varlong {v}");
            if let Ok(v) = i32::try_from(v) {
                let mut w = Writer::new();
                w.varint(v);
                assert_eq!(varint_len(v), w.len(), "varint {v}");
            }
        }
        for v in [0u64, 127, 128, 16383, 16384, u64::MAX] {
            let mut w = Writer::new();
            w.uvarlong(v);
            assert_eq!(uvarint_len(v), w.len(), "uvarint {v}");
        }
    }

    #[test]
    fn record_round_trips_and_size_is_exact() {
        let headers = [Header::new("a", "1"), Header::null("b")];
        let parts = RecordParts {
            offset_delta: 3,
            timestamp_delta: -5,
            key: None,
            value: Some(b"value"),
            headers: &headers,
        };
        let body = parts.body_size().unwrap();
        let mut w = Writer::new();
        parts.write(&mut w, body);
        assert_eq!(w.len(), RecordParts::framed_size(body));
        let ctx = RecordContext {
            base_offset: 100,
            base_timestamp: 1000,
            log_append_time: None,
        };
        let mut r = Reader::new(w.freeze());
        let rec = read_record(&mut r, &ctx).unwrap();
        assert!(r.is_empty());
        assert_eq!(rec.offset, 103);
        assert_eq!(rec.timestamp, 995);
        assert_eq!(rec.key, None);
        assert_eq!(rec.value.as_deref(), Some(&b"value"[..]));
        assert_eq!(rec.headers, headers);
    }
}
