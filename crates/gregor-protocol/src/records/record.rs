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
    #[inline]
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
    ///
    /// The varints and short fields go through a [`Stage`] on the stack, so
    /// a record costs a few appends to the output rather than one per byte.
    pub(crate) fn write(&self, w: &mut Writer, body_size: usize) {
        let mut s = Stage::new();
        // Lengths were checked against i32 when the size was computed.
        s.varint(w, body_size as i32);
        s.varint(w, 0); // attributes: one zero byte, as an int8
        s.varlong(w, self.timestamp_delta);
        s.varint(w, self.offset_delta);
        s.nullable(w, self.key);
        s.nullable(w, self.value);
        s.varint(w, self.headers.len() as i32);
        for h in self.headers {
            s.varint(w, h.key.len() as i32);
            s.bytes(w, &h.key);
            s.nullable(w, h.value.as_deref());
        }
        s.flush(w);
    }
}

/// Bytes a [`Stage`] gathers before it appends them to the output.
const STAGE_CAP: usize = 256;
/// Fields up to this long are copied into the stage; longer ones are
/// appended to the output directly (after what the stage holds). A second
/// copy of a short field costs less than another append.
const STAGE_INLINE: usize = 128;
/// The most bytes a varint or varlong takes.
const MAX_VARINT: usize = 10;

/// Copies `src` into `dst`, which has its length. Up to 32 bytes (keys,
/// header keys and values) are moved with a few overlapping fixed-size
/// loads and stores the compiler inlines, rather than a call to `memcpy`.
#[inline]
fn copy_short(dst: &mut [u8], src: &[u8]) {
    fn two<const N: usize>(dst: &mut [u8], src: &[u8]) {
        if let (Some(d), Some(s)) = (dst.first_chunk_mut::<N>(), src.first_chunk::<N>()) {
            *d = *s;
        }
        if let (Some(d), Some(s)) = (dst.last_chunk_mut::<N>(), src.last_chunk::<N>()) {
            *d = *s;
        }
    }
    let n = src.len();
    if dst.len() != n {
        return;
    }
    match n {
        0 => {}
        1..=3 => {
            for i in [0, n / 2, n - 1] {
                if let (Some(d), Some(s)) = (dst.get_mut(i), src.get(i)) {
                    *d = *s;
                }
            }
        }
        4..=7 => two::<4>(dst, src),
        8..=16 => two::<8>(dst, src),
        17..=32 => two::<16>(dst, src),
        _ => dst.copy_from_slice(src),
    }
}

/// A small stack buffer that gathers a record's varints and short fields
/// and appends them to the [`Writer`] in one call.
struct Stage {
    buf: [u8; STAGE_CAP],
    len: usize,
}

impl Stage {
    #[inline]
    fn new() -> Self {
        Self {
            buf: [0; STAGE_CAP],
            len: 0,
        }
    }

    /// Appends what the stage holds to `w` and empties it.
    #[inline]
    fn flush(&mut self, w: &mut Writer) {
        if let Some(held) = self.buf.get(..self.len) {
            w.raw(held);
        }
        self.len = 0;
    }

    #[inline]
    fn uvarlong(&mut self, w: &mut Writer, mut v: u64) {
        if self.len + MAX_VARINT > STAGE_CAP {
            self.flush(w);
        }
        // At most MAX_VARINT bytes, which fit after the check above.
        for slot in self.buf.iter_mut().skip(self.len) {
            self.len += 1;
            if v < 0x80 {
                *slot = v as u8;
                return;
            }
            *slot = (v as u8) | 0x80;
            v >>= 7;
        }
    }

    #[inline]
    fn varint(&mut self, w: &mut Writer, v: i32) {
        self.uvarlong(w, u64::from(((v << 1) ^ (v >> 31)) as u32));
    }

    #[inline]
    fn varlong(&mut self, w: &mut Writer, v: i64) {
        self.uvarlong(w, ((v << 1) ^ (v >> 63)) as u64);
    }

    #[inline]
    fn bytes(&mut self, w: &mut Writer, b: &[u8]) {
        if b.len() > STAGE_INLINE {
            self.flush(w);
            w.raw(b);
            return;
        }
        if self.len + b.len() > STAGE_CAP {
            self.flush(w);
        }
        if let Some(dst) = self.buf.get_mut(self.len..self.len + b.len()) {
            copy_short(dst, b);
            self.len += b.len();
        }
    }

    #[inline]
    fn nullable(&mut self, w: &mut Writer, b: Option<&[u8]>) {
        match b {
            None => self.varint(w, -1),
            Some(b) => {
                self.varint(w, b.len() as i32);
                self.bytes(w, b);
            }
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

/// A cursor over one record inside a batch's records section. Fields are
/// parsed from the plain slice; keys and values come out as zero-copy
/// slices of the section, so a record costs one reference count per field
/// it yields and none for itself. Errors are those of [`Reader`], with
/// `remaining` counted to the end of the record.
struct RecordCursor<'a> {
    section: &'a Bytes,
    /// The section up to the end of the current record.
    data: &'a [u8],
    /// Position in `section` (and `data`).
    pos: usize,
}

impl RecordCursor<'_> {
    #[inline]
    fn remaining(&self) -> usize {
        self.data.len().saturating_sub(self.pos)
    }

    #[inline]
    fn i8(&mut self, field: &'static str) -> Result<i8> {
        match self.data.get(self.pos) {
            Some(&b) => {
                self.pos += 1;
                Ok(b as i8)
            }
            None => Err(Error::Truncated {
                at: Location::field(field),
                needed: 1,
                remaining: 0,
            }),
        }
    }

    #[inline(always)]
    fn uvarlong_max(&mut self, field: &'static str, max_bytes: usize) -> Result<u64> {
        let rest = self.data.get(self.pos..).unwrap_or_default();
        // Most varints of a record (attributes aside: deltas, lengths,
        // counts) are one byte.
        if let Some(&b) = rest.first()
            && b < 0x80
        {
            self.pos += 1;
            return Ok(u64::from(b));
        }
        let mut value: u64 = 0;
        for i in 0..max_bytes {
            let Some(&b) = rest.get(i) else {
                return Err(Error::Truncated {
                    at: Location::field(field),
                    needed: i + 1,
                    remaining: i,
                });
            };
            value |= u64::from(b & 0x7f) << (7 * i);
            if b & 0x80 == 0 {
                self.pos += i + 1;
                return Ok(value);
            }
        }
        Err(Error::VarintTooLong {
            at: Location::field(field),
            max_bytes,
        })
    }

    #[inline(always)]
    fn varint(&mut self, field: &'static str) -> Result<i32> {
        let v = u32::try_from(self.uvarlong_max(field, 5)?).map_err(|_| Error::InvalidValue {
            at: Location::field(field),
            reason: "unsigned varint exceeds 32 bits",
        })?;
        Ok(((v >> 1) as i32) ^ -((v & 1) as i32))
    }

    #[inline]
    fn varlong(&mut self, field: &'static str) -> Result<i64> {
        let v = self.uvarlong_max(field, 10)?;
        Ok(((v >> 1) as i64) ^ -((v & 1) as i64))
    }

    /// A nullable field: `None` for null, else where its bytes start (they
    /// are skipped) and how many there are.
    #[inline(always)]
    fn nullable(&mut self, field: &'static str) -> Result<Option<(usize, usize)>> {
        let len = self.varint(field)?;
        if len == -1 {
            return Ok(None);
        }
        match usize::try_from(len) {
            Ok(n) if n <= self.remaining() => {
                let start = self.pos;
                self.pos += n;
                Ok(Some((start, n)))
            }
            _ => Err(Error::BadLength {
                at: Location::field(field),
                length: i64::from(len),
                remaining: self.remaining(),
            }),
        }
    }

    /// The bytes of a field [`RecordCursor::nullable`] found, as a slice of
    /// the section. In bounds: they lie before the record's end, which is
    /// within the section.
    #[inline(always)]
    fn slice(&self, (start, n): (usize, usize)) -> Bytes {
        self.section.slice(start..start + n)
    }
}

/// Reads one record from a batch's records section.
#[inline]
pub(crate) fn read_record(rs: &mut Reader, ctx: &RecordContext) -> Result<Record> {
    let (record, used) = parse_record(rs.peek_rest(), ctx)?;
    rs.skip(used);
    Ok(record)
}

/// Parses the record at the start of `section`; returns it and its size.
#[inline]
fn parse_record(section: &Bytes, ctx: &RecordContext) -> Result<(Record, usize)> {
    let mut r = RecordCursor {
        section,
        data: section,
        pos: 0,
    };
    let len = r.varint("records.length")?;
    let len = checked_count(i64::from(len), 1, r.remaining(), "records.length")?;
    let end = r.pos + len;
    r.data = section.get(..end).unwrap_or_default();
    let _attributes = r.i8("records.attributes")?;
    let timestamp_delta = r.varlong("records.timestampDelta")?;
    let offset_delta = r.varint("records.offsetDelta")?;
    let key = r.nullable("records.key")?;
    let value = r.nullable("records.value")?;
    let (key, value) = (key.map(|k| r.slice(k)), value.map(|v| r.slice(v)));
    let count = r.varint("records.headers")?;
    let count = checked_count(
        i64::from(count),
        MIN_HEADER_SIZE,
        r.remaining(),
        "records.headers",
    )?;
    // No allocation for the common record without headers.
    let mut headers = Vec::with_capacity(count);
    for _ in 0..count {
        let Some(key) = r.nullable("records.headers.key")? else {
            return Err(Error::NullNotAllowed {
                at: Location::field("records.headers.key"),
            });
        };
        let value = r.nullable("records.headers.value")?;
        headers.push(Header {
            key: r.slice(key),
            value: value.map(|v| r.slice(v)),
        });
    }
    if r.pos != end {
        return Err(Error::InvalidValue {
            at: Location::field("records.length"),
            reason: "record length is larger than its fields",
        });
    }
    let record = Record {
        offset: ctx.base_offset.wrapping_add(i64::from(offset_delta)),
        timestamp: ctx
            .log_append_time
            .unwrap_or(ctx.base_timestamp.wrapping_add(timestamp_delta)),
        key,
        value,
        headers,
    };
    Ok((record, end))
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
    fn copy_short_copies_every_length() {
        for n in 0..=70usize {
            let src: Vec<u8> = (1..=n as u8).collect();
            let mut dst = vec![0u8; n];
            copy_short(&mut dst, &src);
            assert_eq!(dst, src, "length {n}");
        }
    }

    /// The staged writer emits exactly what one write per field would,
    /// across stage flushes and fields on both sides of the inline limit.
    #[test]
    fn staged_write_matches_plain_writes() {
        let long = vec![7u8; STAGE_INLINE + 1];
        let mut headers = vec![Header::new("k", "v"), Header::null("n")];
        for i in 0..40usize {
            let value = vec![b'x'; (i * 7) % (STAGE_CAP + 20)];
            headers.push(Header::new(vec![b'h'; i % 70], value));
        }
        headers.push(Header::new("long", long.clone()));
        for (key, value, offset_delta, timestamp_delta) in [
            (None, None, 0, 0),
            (Some(&b"key"[..]), Some(&long[..]), 300, -1),
            (Some(&long[..]), Some(&b""[..]), i32::MAX, i64::MIN),
            (Some(&[1u8; STAGE_INLINE][..]), None, -5, i64::MAX),
        ] {
            for hs in [&headers[..0], &headers[..2], &headers[..]] {
                let parts = RecordParts {
                    offset_delta,
                    timestamp_delta,
                    key,
                    value,
                    headers: hs,
                };
                let body = parts.body_size().unwrap();
                let mut staged = Writer::new();
                parts.write(&mut staged, body);
                let mut plain = Writer::new();
                plain.varint(body as i32);
                plain.i8(0);
                plain.varlong(timestamp_delta);
                plain.varint(offset_delta);
                for b in [key, value] {
                    match b {
                        None => plain.varint(-1),
                        Some(b) => {
                            plain.varint(b.len() as i32);
                            plain.raw(b);
                        }
                    }
                }
                plain.varint(hs.len() as i32);
                for h in hs {
                    plain.varint(h.key.len() as i32);
                    plain.raw(&h.key);
                    match &h.value {
                        None => plain.varint(-1),
                        Some(v) => {
                            plain.varint(v.len() as i32);
                            plain.raw(v);
                        }
                    }
                }
                assert_eq!(staged.as_slice(), plain.as_slice());
                assert_eq!(staged.len(), RecordParts::framed_size(body));
            }
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
