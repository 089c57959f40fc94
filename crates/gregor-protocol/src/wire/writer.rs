//! Appends Kafka primitives to a growable buffer.

use bytes::{BufMut, Bytes, BytesMut};

use super::types::{RawTaggedField, Uuid};
use crate::error::{Error, Location, Result};

/// Writes Kafka primitives into a [`BytesMut`].
///
/// Fixed-width writes cannot fail; writes with a length prefix fail when the
/// value does not fit the prefix (a string over 32767 bytes, say).
#[derive(Debug, Default)]
pub struct Writer {
    buf: BytesMut,
}

impl Writer {
    /// An empty writer.
    pub fn new() -> Self {
        Self::default()
    }

    /// An empty writer with room for `capacity` bytes.
    pub fn with_capacity(capacity: usize) -> Self {
        Self {
            buf: BytesMut::with_capacity(capacity),
        }
    }

    /// A writer that appends to `buf`.
    pub fn from_buf(buf: BytesMut) -> Self {
        Self { buf }
    }

    /// Bytes written so far.
    #[inline]
    pub fn len(&self) -> usize {
        self.buf.len()
    }

    /// Whether nothing has been written.
    #[inline]
    pub fn is_empty(&self) -> bool {
        self.buf.is_empty()
    }

    /// The buffer written so far.
    pub fn as_slice(&self) -> &[u8] {
        &self.buf
    }

    /// Mutable access to the buffer, to patch a length or CRC written earlier.
    pub fn buf_mut(&mut self) -> &mut BytesMut {
        &mut self.buf
    }

    /// The written bytes.
    pub fn into_inner(self) -> BytesMut {
        self.buf
    }

    /// The written bytes, frozen.
    pub fn freeze(self) -> Bytes {
        self.buf.freeze()
    }

    /// Writes an `int8`.
    #[inline]
    pub fn i8(&mut self, v: i8) {
        self.buf.put_i8(v);
    }

    /// Writes a `uint8`.
    #[inline]
    pub fn u8(&mut self, v: u8) {
        self.buf.put_u8(v);
    }

    /// Writes a `bool` as 0 or 1.
    #[inline]
    pub fn bool(&mut self, v: bool) {
        self.buf.put_u8(u8::from(v));
    }

    /// Writes a big-endian `int16`.
    #[inline]
    pub fn i16(&mut self, v: i16) {
        self.buf.put_i16(v);
    }

    /// Writes a big-endian `uint16`.
    #[inline]
    pub fn u16(&mut self, v: u16) {
        self.buf.put_u16(v);
    }

    /// Writes a big-endian `int32`.
    #[inline]
    pub fn i32(&mut self, v: i32) {
        self.buf.put_i32(v);
    }

    /// Writes a big-endian `uint32`.
    #[inline]
    pub fn u32(&mut self, v: u32) {
        self.buf.put_u32(v);
    }

    /// Writes a big-endian `int64`.
    #[inline]
    pub fn i64(&mut self, v: i64) {
        self.buf.put_i64(v);
    }

    /// Writes a big-endian IEEE 754 `float64`.
    #[inline]
    pub fn f64(&mut self, v: f64) {
        self.buf.put_f64(v);
    }

    /// Writes a 16-byte `uuid`.
    #[inline]
    pub fn uuid(&mut self, v: &Uuid) {
        self.buf.put_slice(&v.0);
    }

    /// Writes raw bytes with no prefix.
    #[inline]
    pub fn raw(&mut self, v: &[u8]) {
        self.buf.put_slice(v);
    }

    /// Writes an unsigned LEB128 varint.
    #[inline]
    pub fn uvarint(&mut self, v: u32) {
        self.uvarlong(u64::from(v));
    }

    /// Writes an unsigned LEB128 varint of up to 64 bits.
    #[inline]
    pub fn uvarlong(&mut self, mut v: u64) {
        while v >= 0x80 {
            self.buf.put_u8((v as u8) | 0x80);
            v >>= 7;
        }
        self.buf.put_u8(v as u8);
    }

    /// Writes a zig-zag signed varint.
    #[inline]
    pub fn varint(&mut self, v: i32) {
        self.uvarint(((v << 1) ^ (v >> 31)) as u32);
    }

    /// Writes a zig-zag signed varint of up to 64 bits.
    #[inline]
    pub fn varlong(&mut self, v: i64) {
        self.uvarlong(((v << 1) ^ (v >> 63)) as u64);
    }

    fn i16_len(len: usize, field: &'static str) -> Result<i16> {
        i16::try_from(len).map_err(|_| Error::TooLong {
            at: Location::field(field),
            length: len,
        })
    }

    fn i32_len(len: usize, field: &'static str) -> Result<i32> {
        i32::try_from(len).map_err(|_| Error::TooLong {
            at: Location::field(field),
            length: len,
        })
    }

    fn compact_len(len: usize, field: &'static str) -> Result<u32> {
        u32::try_from(len)
            .ok()
            .and_then(|l| l.checked_add(1))
            .ok_or(Error::TooLong {
                at: Location::field(field),
                length: len,
            })
    }

    /// Writes an `int16`-prefixed string.
    pub fn string(&mut self, v: &str, field: &'static str) -> Result<()> {
        self.i16(Self::i16_len(v.len(), field)?);
        self.raw(v.as_bytes());
        Ok(())
    }

    /// Writes an `int16`-prefixed nullable string (-1 for null).
    pub fn nullable_string(&mut self, v: Option<&str>, field: &'static str) -> Result<()> {
        match v {
            None => {
                self.i16(-1);
                Ok(())
            }
            Some(s) => self.string(s, field),
        }
    }

    /// Writes a compact string.
    pub fn compact_string(&mut self, v: &str, field: &'static str) -> Result<()> {
        self.uvarint(Self::compact_len(v.len(), field)?);
        self.raw(v.as_bytes());
        Ok(())
    }

    /// Writes a compact nullable string (0 for null).
    pub fn compact_nullable_string(&mut self, v: Option<&str>, field: &'static str) -> Result<()> {
        match v {
            None => {
                self.uvarint(0);
                Ok(())
            }
            Some(s) => self.compact_string(s, field),
        }
    }

    /// Writes `int32`-prefixed bytes.
    pub fn bytes_field(&mut self, v: &[u8], field: &'static str) -> Result<()> {
        self.i32(Self::i32_len(v.len(), field)?);
        self.raw(v);
        Ok(())
    }

    /// Writes `int32`-prefixed nullable bytes (-1 for null).
    pub fn nullable_bytes(&mut self, v: Option<&[u8]>, field: &'static str) -> Result<()> {
        match v {
            None => {
                self.i32(-1);
                Ok(())
            }
            Some(b) => self.bytes_field(b, field),
        }
    }

    /// Writes compact bytes.
    pub fn compact_bytes(&mut self, v: &[u8], field: &'static str) -> Result<()> {
        self.uvarint(Self::compact_len(v.len(), field)?);
        self.raw(v);
        Ok(())
    }

    /// Writes compact nullable bytes (0 for null).
    pub fn compact_nullable_bytes(&mut self, v: Option<&[u8]>, field: &'static str) -> Result<()> {
        match v {
            None => {
                self.uvarint(0);
                Ok(())
            }
            Some(b) => self.compact_bytes(b, field),
        }
    }

    /// Writes an `int32` array count, or -1 for a null array.
    pub fn array_len(&mut self, len: Option<usize>, field: &'static str) -> Result<()> {
        match len {
            None => self.i32(-1),
            Some(n) => self.i32(Self::i32_len(n, field)?),
        }
        Ok(())
    }

    /// Writes a compact array count (count + 1, 0 for a null array).
    pub fn compact_array_len(&mut self, len: Option<usize>, field: &'static str) -> Result<()> {
        match len {
            None => self.uvarint(0),
            Some(n) => self.uvarint(Self::compact_len(n, field)?),
        }
        Ok(())
    }

    /// Encodes one known tagged field's body into its own buffer, ready to
    /// be handed to [`Writer::tagged_section`].
    pub fn tagged_body<F>(tag: u32, body: F) -> Result<(u32, Bytes)>
    where
        F: FnOnce(&mut Writer) -> Result<()>,
    {
        let mut sub = Writer::new();
        body(&mut sub)?;
        Ok((tag, sub.freeze()))
    }

    /// Writes a tagged-field section: the known fields (each from
    /// [`Writer::tagged_body`]) merged with the unknown ones kept from a
    /// decode, in increasing tag order as the protocol requires.
    pub fn tagged_section(
        &mut self,
        mut known: Vec<(u32, Bytes)>,
        unknown: &[RawTaggedField],
    ) -> Result<()> {
        let total = known.len() + unknown.len();
        self.uvarint(Self::compact_len(total, "_tagged_fields")? - 1);
        if unknown.is_empty() {
            for (tag, data) in &known {
                self.tagged_raw(*tag, data)?;
            }
            return Ok(());
        }
        known.extend(unknown.iter().map(|f| (f.tag, f.data.clone())));
        known.sort_by_key(|(tag, _)| *tag);
        for (tag, data) in &known {
            self.tagged_raw(*tag, data)?;
        }
        Ok(())
    }

    fn tagged_raw(&mut self, tag: u32, data: &[u8]) -> Result<()> {
        self.uvarint(tag);
        self.uvarint(Self::compact_len(data.len(), "_tagged_fields")? - 1);
        self.raw(data);
        Ok(())
    }
}
