//! A checked cursor over received bytes.

use bytes::{Buf, Bytes};

use super::types::{RawTaggedField, StrBytes, Uuid};
use crate::error::{Error, Location, Result};

/// Reads Kafka primitives from a [`Bytes`] buffer.
///
/// Every read checks the bytes that remain first, so no input can make it
/// panic or allocate more than the input's own size. Byte strings come out
/// as [`Bytes`] slices of the input: reading them copies nothing.
#[derive(Debug, Clone, Default)]
pub struct Reader {
    buf: Bytes,
}

impl Reader {
    /// A reader over `buf`.
    pub fn new(buf: Bytes) -> Self {
        Self { buf }
    }

    /// Bytes not yet read.
    #[inline]
    pub fn remaining(&self) -> usize {
        self.buf.len()
    }

    /// Whether everything has been read.
    #[inline]
    pub fn is_empty(&self) -> bool {
        self.buf.is_empty()
    }

    /// The unread bytes, without consuming them.
    pub fn peek_rest(&self) -> &Bytes {
        &self.buf
    }

    /// Skips `n` bytes, or all that remain if fewer, without the reference
    /// count a [`Reader::bytes`] slice costs.
    #[inline]
    pub(crate) fn skip(&mut self, n: usize) {
        self.buf.advance(n.min(self.buf.len()));
    }

    /// Consumes and returns all unread bytes.
    pub fn take_rest(&mut self) -> Bytes {
        std::mem::take(&mut self.buf)
    }

    #[inline]
    fn need(&self, n: usize, field: &'static str) -> Result<()> {
        if self.buf.len() < n {
            return Err(Error::Truncated {
                at: Location::field(field),
                needed: n,
                remaining: self.buf.len(),
            });
        }
        Ok(())
    }

    /// Reads an `int8`.
    #[inline]
    pub fn i8(&mut self, field: &'static str) -> Result<i8> {
        self.need(1, field)?;
        Ok(self.buf.get_i8())
    }

    /// Reads a `uint8`.
    #[inline]
    pub fn u8(&mut self, field: &'static str) -> Result<u8> {
        self.need(1, field)?;
        Ok(self.buf.get_u8())
    }

    /// Reads a `bool` (any non-zero byte is true, as in the Java client).
    #[inline]
    pub fn bool(&mut self, field: &'static str) -> Result<bool> {
        Ok(self.u8(field)? != 0)
    }

    /// Reads a big-endian `int16`.
    #[inline]
    pub fn i16(&mut self, field: &'static str) -> Result<i16> {
        self.need(2, field)?;
        Ok(self.buf.get_i16())
    }

    /// Reads a big-endian `uint16`.
    #[inline]
    pub fn u16(&mut self, field: &'static str) -> Result<u16> {
        self.need(2, field)?;
        Ok(self.buf.get_u16())
    }

    /// Reads a big-endian `int32`.
    #[inline]
    pub fn i32(&mut self, field: &'static str) -> Result<i32> {
        self.need(4, field)?;
        Ok(self.buf.get_i32())
    }

    /// Reads a big-endian `uint32`.
    #[inline]
    pub fn u32(&mut self, field: &'static str) -> Result<u32> {
        self.need(4, field)?;
        Ok(self.buf.get_u32())
    }

    /// Reads a big-endian `int64`.
    #[inline]
    pub fn i64(&mut self, field: &'static str) -> Result<i64> {
        self.need(8, field)?;
        Ok(self.buf.get_i64())
    }

    /// Reads a big-endian IEEE 754 `float64`.
    #[inline]
    pub fn f64(&mut self, field: &'static str) -> Result<f64> {
        self.need(8, field)?;
        Ok(self.buf.get_f64())
    }

    /// Reads a 16-byte `uuid`.
    #[inline]
    pub fn uuid(&mut self, field: &'static str) -> Result<Uuid> {
        self.need(16, field)?;
        let mut b = [0u8; 16];
        self.buf.copy_to_slice(&mut b);
        Ok(Uuid(b))
    }

    /// Reads an unsigned LEB128 varint of at most 32 bits.
    #[inline]
    pub fn uvarint(&mut self, field: &'static str) -> Result<u32> {
        let v = self.uvarlong_max(field, 5)?;
        u32::try_from(v).map_err(|_| Error::InvalidValue {
            at: Location::field(field),
            reason: "unsigned varint exceeds 32 bits",
        })
    }

    /// Reads an unsigned LEB128 varint of at most 64 bits.
    #[inline]
    pub fn uvarlong(&mut self, field: &'static str) -> Result<u64> {
        self.uvarlong_max(field, 10)
    }

    /// Reads a zig-zag encoded signed varint of at most 32 bits.
    #[inline]
    pub fn varint(&mut self, field: &'static str) -> Result<i32> {
        let v = self.uvarint(field)?;
        Ok(((v >> 1) as i32) ^ -((v & 1) as i32))
    }

    /// Reads a zig-zag encoded signed varint of at most 64 bits.
    #[inline]
    pub fn varlong(&mut self, field: &'static str) -> Result<i64> {
        let v = self.uvarlong(field)?;
        Ok(((v >> 1) as i64) ^ -((v & 1) as i64))
    }

    #[inline]
    fn uvarlong_max(&mut self, field: &'static str, max_bytes: usize) -> Result<u64> {
        let mut value: u64 = 0;
        for i in 0..max_bytes {
            let Some(&b) = self.buf.first() else {
                return Err(Error::Truncated {
                    at: Location::field(field),
                    needed: i + 1,
                    remaining: i,
                });
            };
            self.buf.advance(1);
            value |= u64::from(b & 0x7f) << (7 * i);
            if b & 0x80 == 0 {
                return Ok(value);
            }
        }
        Err(Error::VarintTooLong {
            at: Location::field(field),
            max_bytes,
        })
    }

    /// Takes `n` bytes as a zero-copy slice.
    #[inline]
    pub fn bytes(&mut self, n: usize, field: &'static str) -> Result<Bytes> {
        self.need(n, field)?;
        Ok(self.buf.split_to(n))
    }

    /// Checks a wire length against what remains. `Ok(None)` for -1 when
    /// `nullable`, an error for any other negative length.
    #[inline]
    fn checked_len(&self, len: i64, nullable: bool, field: &'static str) -> Result<Option<usize>> {
        if len < 0 {
            if len == -1 && nullable {
                return Ok(None);
            }
            if len == -1 {
                return Err(Error::NullNotAllowed {
                    at: Location::field(field),
                });
            }
            return Err(self.bad_len(len, field));
        }
        match usize::try_from(len) {
            Ok(n) if n <= self.buf.len() => Ok(Some(n)),
            _ => Err(self.bad_len(len, field)),
        }
    }

    fn bad_len(&self, length: i64, field: &'static str) -> Error {
        Error::BadLength {
            at: Location::field(field),
            length,
            remaining: self.buf.len(),
        }
    }

    fn utf8(raw: Bytes, field: &'static str) -> Result<StrBytes> {
        StrBytes::from_utf8(raw).map_err(|_| Error::InvalidUtf8 {
            at: Location::field(field),
        })
    }

    /// Reads an `int16`-prefixed nullable string.
    pub fn nullable_string(&mut self, field: &'static str) -> Result<Option<StrBytes>> {
        let len = i64::from(self.i16(field)?);
        match self.checked_len(len, true, field)? {
            None => Ok(None),
            Some(n) => Ok(Some(Self::utf8(self.buf.split_to(n), field)?)),
        }
    }

    /// Reads an `int16`-prefixed string.
    pub fn string(&mut self, field: &'static str) -> Result<StrBytes> {
        let len = i64::from(self.i16(field)?);
        let n = self.checked_len(len, false, field)?.unwrap_or_default();
        Self::utf8(self.buf.split_to(n), field)
    }

    /// Reads a compact (unsigned varint length + 1) nullable string.
    pub fn compact_nullable_string(&mut self, field: &'static str) -> Result<Option<StrBytes>> {
        let len = i64::from(self.uvarint(field)?) - 1;
        match self.checked_len(len, true, field)? {
            None => Ok(None),
            Some(n) => Ok(Some(Self::utf8(self.buf.split_to(n), field)?)),
        }
    }

    /// Reads a compact string.
    pub fn compact_string(&mut self, field: &'static str) -> Result<StrBytes> {
        let len = i64::from(self.uvarint(field)?) - 1;
        let n = self.checked_len(len, false, field)?.unwrap_or_default();
        Self::utf8(self.buf.split_to(n), field)
    }

    /// Reads `int32`-prefixed nullable bytes.
    pub fn nullable_bytes(&mut self, field: &'static str) -> Result<Option<Bytes>> {
        let len = i64::from(self.i32(field)?);
        Ok(self
            .checked_len(len, true, field)?
            .map(|n| self.buf.split_to(n)))
    }

    /// Reads `int32`-prefixed bytes.
    pub fn bytes_field(&mut self, field: &'static str) -> Result<Bytes> {
        let len = i64::from(self.i32(field)?);
        let n = self.checked_len(len, false, field)?.unwrap_or_default();
        Ok(self.buf.split_to(n))
    }

    /// Reads compact nullable bytes.
    pub fn compact_nullable_bytes(&mut self, field: &'static str) -> Result<Option<Bytes>> {
        let len = i64::from(self.uvarint(field)?) - 1;
        Ok(self
            .checked_len(len, true, field)?
            .map(|n| self.buf.split_to(n)))
    }

    /// Reads compact bytes.
    pub fn compact_bytes(&mut self, field: &'static str) -> Result<Bytes> {
        let len = i64::from(self.uvarint(field)?) - 1;
        let n = self.checked_len(len, false, field)?.unwrap_or_default();
        Ok(self.buf.split_to(n))
    }

    /// Reads an `int32` array count. Each element takes at least
    /// `min_elem_size` bytes (at least 1 is assumed), so a count larger than
    /// the remaining bytes allow is refused before anything is allocated.
    pub fn array_len(
        &mut self,
        min_elem_size: usize,
        field: &'static str,
    ) -> Result<Option<usize>> {
        let len = i64::from(self.i32(field)?);
        self.count(len, min_elem_size, field)
    }

    /// Reads a compact array count (unsigned varint, count + 1).
    pub fn compact_array_len(
        &mut self,
        min_elem_size: usize,
        field: &'static str,
    ) -> Result<Option<usize>> {
        let len = i64::from(self.uvarint(field)?) - 1;
        self.count(len, min_elem_size, field)
    }

    fn count(&self, len: i64, min_elem_size: usize, field: &'static str) -> Result<Option<usize>> {
        if len == -1 {
            return Ok(None);
        }
        let Ok(n) = usize::try_from(len) else {
            return Err(self.bad_len(len, field));
        };
        match n.checked_mul(min_elem_size.max(1)) {
            Some(total) if total <= self.buf.len() => Ok(Some(n)),
            _ => Err(self.bad_len(len, field)),
        }
    }

    /// Reads a tagged-field section, calling `known` for each tag. `known`
    /// returns `Ok(true)` when it consumed the field; unknown fields are
    /// returned raw so they can be re-encoded unchanged.
    pub fn tagged_fields<F>(&mut self, mut known: F) -> Result<Vec<RawTaggedField>>
    where
        F: FnMut(u32, &mut Reader) -> Result<bool>,
    {
        let count = self.uvarint("_tagged_fields")? as usize;
        // Each tagged field takes at least two bytes (tag and size).
        if count.saturating_mul(2) > self.buf.len() {
            return Err(self.bad_len(count as i64, "_tagged_fields"));
        }
        let mut unknown = Vec::new();
        let mut last: Option<u32> = None;
        for _ in 0..count {
            let tag = self.uvarint("_tagged_fields.tag")?;
            if last.is_some_and(|l| tag <= l) {
                return Err(Error::InvalidValue {
                    at: Location::field("_tagged_fields"),
                    reason: "tagged fields are not in strictly increasing tag order",
                });
            }
            last = Some(tag);
            let size = self.uvarint("_tagged_fields.size")? as usize;
            let data = self.bytes(size, "_tagged_fields.data")?;
            let mut sub = Reader::new(data.clone());
            if known(tag, &mut sub)? {
                if !sub.is_empty() {
                    return Err(Error::InvalidValue {
                        at: Location::field("_tagged_fields"),
                        reason: "a known tagged field has trailing bytes",
                    });
                }
            } else {
                unknown.push(RawTaggedField { tag, data });
            }
        }
        Ok(unknown)
    }
}
