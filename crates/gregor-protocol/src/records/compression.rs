//! The codecs behind compressed batches, in the exact framings Kafka peers
//! write and read.
//!
//! Every decoder reads through a [`Read::take`] capped one byte past the
//! caller's limit, so a decompression bomb costs at most the limit in memory
//! and never trusts a size the stream announces.
//!
//! Framing choices, each matching what the Java client writes:
//! - gzip: RFC 1952 members (several concatenated members are accepted).
//! - snappy: the xerial framing of snappy-java's `SnappyOutputStream`
//!   (magic `\x82SNAPPY\0`, version 1, compatible version 1, then
//!   `[int32 length, raw snappy block]*` of at most 32 KiB input each), which
//!   Kafka's `SnappyCompression` uses for every message format. librdkafka
//!   writes one raw snappy block instead; both are read, as snappy-java and
//!   librdkafka themselves do.
//! - lz4: the LZ4 frame format with independent 64 KiB blocks and no
//!   checksums, like `Lz4BlockOutputStream`. Message format v0 used a header
//!   checksum computed over the magic number too (KAFKA-3160); it is written
//!   that way for v0 and ignored on read.
//! - zstd: standard zstd frames.

// Unused-argument noise when codecs are compiled out.
#![cfg_attr(
    not(all(
        feature = "gzip",
        feature = "snappy",
        feature = "lz4",
        feature = "zstd"
    )),
    allow(unused_variables, unused_imports, dead_code)
)]

use std::io::{Read, Write};

use bytes::{BufMut, BytesMut};

use super::types::Compression;
use crate::error::{Error, Location, Result};

/// Compresses `input` with `compression` and appends the result to `out`.
/// `magic` selects the legacy LZ4 header checksum for message format v0.
pub(crate) fn compress_into(
    compression: Compression,
    input: &[u8],
    out: &mut BytesMut,
    magic: i8,
) -> Result<()> {
    match compression {
        Compression::None => {
            out.extend_from_slice(input);
            Ok(())
        }
        Compression::Gzip { level } => gzip_compress(input, out, level),
        Compression::Snappy => snappy_compress(input, out),
        Compression::Lz4 => lz4_compress(input, out, magic == 0),
        Compression::Zstd { level } => zstd_compress(input, out, level),
    }
}

/// Decompresses `input`, refusing to produce more than `limit` bytes.
pub(crate) fn decompress(
    compression: Compression,
    input: &[u8],
    limit: usize,
    magic: i8,
) -> Result<Vec<u8>> {
    match compression {
        Compression::None => {
            if input.len() > limit {
                return Err(too_large("none", limit));
            }
            Ok(input.to_vec())
        }
        Compression::Gzip { .. } => gzip_decompress(input, limit),
        Compression::Snappy => snappy_decompress(input, limit),
        Compression::Lz4 => lz4_decompress(input, limit, magic == 0),
        Compression::Zstd { .. } => zstd_decompress(input, limit),
    }
}

#[cfg(not(all(
    feature = "gzip",
    feature = "snappy",
    feature = "lz4",
    feature = "zstd"
)))]
fn not_enabled(codec: &'static str) -> Error {
    Error::Compression {
        codec: codec.to_string(),
        reason: "not enabled in this build".to_string(),
    }
}

fn codec_error(codec: &'static str, err: impl std::fmt::Display) -> Error {
    Error::Compression {
        codec: codec.to_string(),
        reason: format!("failing: {err}"),
    }
}

fn too_large(codec: &'static str, limit: usize) -> Error {
    Error::DecompressedTooLarge { codec, limit }
}

/// Reads `reader` to its end, but never more than `limit` bytes.
fn read_bounded<R: Read>(
    reader: R,
    codec: &'static str,
    limit: usize,
    compressed_len: usize,
) -> Result<Vec<u8>> {
    // Start near a typical ratio; the Vec grows as needed up to the cap.
    let mut out = Vec::with_capacity(compressed_len.saturating_mul(4).min(limit));
    let cap = u64::try_from(limit).unwrap_or(u64::MAX).saturating_add(1);
    reader
        .take(cap)
        .read_to_end(&mut out)
        .map_err(|e| codec_error(codec, e))?;
    if out.len() > limit {
        return Err(too_large(codec, limit));
    }
    Ok(out)
}

// ---------------------------------------------------------------- gzip

fn gzip_compress(input: &[u8], out: &mut BytesMut, level: Option<u32>) -> Result<()> {
    #[cfg(feature = "gzip")]
    {
        let level = level.unwrap_or(6);
        if level > 9 {
            return Err(Error::InvalidValue {
                at: Location::field("compression.level"),
                reason: "gzip levels are 0-9",
            });
        }
        let mut enc =
            flate2::write::GzEncoder::new((&mut *out).writer(), flate2::Compression::new(level));
        enc.write_all(input).map_err(|e| codec_error("gzip", e))?;
        enc.finish().map_err(|e| codec_error("gzip", e))?;
        Ok(())
    }
    #[cfg(not(feature = "gzip"))]
    Err(not_enabled("gzip"))
}

fn gzip_decompress(input: &[u8], limit: usize) -> Result<Vec<u8>> {
    #[cfg(feature = "gzip")]
    {
        // Java's GZIPInputStream reads concatenated members; so do we.
        let dec = flate2::bufread::MultiGzDecoder::new(input);
        read_bounded(dec, "gzip", limit, input.len())
    }
    #[cfg(not(feature = "gzip"))]
    Err(not_enabled("gzip"))
}

// -------------------------------------------------------------- snappy

/// snappy-java's stream header: magic, then version 1 and compatible version 1.
const XERIAL_MAGIC: [u8; 8] = [0x82, b'S', b'N', b'A', b'P', b'P', b'Y', 0];
const XERIAL_HEADER_LEN: usize = 16;
/// snappy-java's default block size, which Kafka keeps.
const XERIAL_BLOCK: usize = 32 * 1024;

fn snappy_compress(input: &[u8], out: &mut BytesMut) -> Result<()> {
    #[cfg(feature = "snappy")]
    {
        let blocks = input.len().div_ceil(XERIAL_BLOCK);
        let bound = snap::raw::max_compress_len(XERIAL_BLOCK.min(input.len()));
        out.reserve(XERIAL_HEADER_LEN + blocks.saturating_mul(bound + 4));
        out.put_slice(&XERIAL_MAGIC);
        out.put_i32(1);
        out.put_i32(1);
        let mut enc = snap::raw::Encoder::new();
        for chunk in input.chunks(XERIAL_BLOCK) {
            let start = out.len();
            let max = snap::raw::max_compress_len(chunk.len());
            out.resize(start + 4 + max, 0);
            let dst = out
                .get_mut(start + 4..)
                .ok_or_else(|| codec_error("snappy", "output buffer"))?;
            let n = enc
                .compress(chunk, dst)
                .map_err(|e| codec_error("snappy", e))?;
            out.truncate(start + 4 + n);
            let len = i32::try_from(n).map_err(|_| codec_error("snappy", "block too large"))?;
            if let Some(slot) = out.get_mut(start..start + 4) {
                slot.copy_from_slice(&len.to_be_bytes());
            }
        }
        Ok(())
    }
    #[cfg(not(feature = "snappy"))]
    Err(not_enabled("snappy"))
}

fn snappy_decompress(input: &[u8], limit: usize) -> Result<Vec<u8>> {
    #[cfg(feature = "snappy")]
    {
        // No raw snappy stream starts with the xerial magic: its bytes after
        // the length varint would be a copy before any literal.
        match input.strip_prefix(&XERIAL_MAGIC) {
            Some(rest) if input.len() >= XERIAL_HEADER_LEN => {
                let blocks = rest.get(8..).unwrap_or_default();
                xerial_decompress(blocks, limit)
            }
            _ => {
                let mut out = Vec::new();
                snappy_block(input, &mut out, limit)?;
                Ok(out)
            }
        }
    }
    #[cfg(not(feature = "snappy"))]
    Err(not_enabled("snappy"))
}

#[cfg(feature = "snappy")]
fn xerial_decompress(mut rest: &[u8], limit: usize) -> Result<Vec<u8>> {
    let mut out = Vec::new();
    while !rest.is_empty() {
        let (len, tail) = rest
            .split_first_chunk::<4>()
            .ok_or_else(|| codec_error("snappy", "truncated xerial block length"))?;
        let len = usize::try_from(u32::from_be_bytes(*len))
            .map_err(|_| codec_error("snappy", "xerial block too long"))?;
        let (block, tail) = tail
            .split_at_checked(len)
            .ok_or_else(|| codec_error("snappy", "truncated xerial block"))?;
        if !block.is_empty() {
            snappy_block(block, &mut out, limit)?;
        }
        rest = tail;
    }
    Ok(out)
}

/// Appends one raw snappy block to `out`. The block's length header is
/// checked against the remaining budget before anything is allocated, and
/// the decoder fails rather than write past it.
#[cfg(feature = "snappy")]
fn snappy_block(block: &[u8], out: &mut Vec<u8>, limit: usize) -> Result<()> {
    let n = snap::raw::decompress_len(block).map_err(|e| codec_error("snappy", e))?;
    let start = out.len();
    if n > limit.saturating_sub(start) {
        return Err(too_large("snappy", limit));
    }
    out.resize(start + n, 0);
    let dst = out
        .get_mut(start..)
        .ok_or_else(|| codec_error("snappy", "output buffer"))?;
    let written = snap::raw::Decoder::new()
        .decompress(block, dst)
        .map_err(|e| codec_error("snappy", e))?;
    out.truncate(start + written);
    Ok(())
}

// ----------------------------------------------------------------- lz4

const LZ4_MAGIC: [u8; 4] = [0x04, 0x22, 0x4d, 0x18];

fn lz4_compress(input: &[u8], out: &mut BytesMut, broken_header_checksum: bool) -> Result<()> {
    #[cfg(feature = "lz4")]
    {
        use lz4_flex::frame::{BlockMode, BlockSize, FrameEncoder, FrameInfo};
        let info = FrameInfo::new()
            .block_size(BlockSize::Max64KB)
            .block_mode(BlockMode::Independent)
            .block_checksums(false)
            .content_checksum(false);
        let start = out.len();
        let mut enc = FrameEncoder::with_frame_info(info, (&mut *out).writer());
        enc.write_all(input).map_err(|e| codec_error("lz4", e))?;
        enc.finish().map_err(|e| codec_error("lz4", e))?;
        if broken_header_checksum && let Some(frame) = out.get_mut(start..) {
            set_lz4_header_checksum(frame, true);
        }
        Ok(())
    }
    #[cfg(not(feature = "lz4"))]
    Err(not_enabled("lz4"))
}

fn lz4_decompress(input: &[u8], limit: usize, legacy_header_checksum: bool) -> Result<Vec<u8>> {
    #[cfg(feature = "lz4")]
    {
        if legacy_header_checksum {
            // Rewrite the checksum rather than skip it: the decoder knows no
            // "ignore" switch, and a correct checksum from a fixed writer
            // stays correct.
            let mut fixed = input.to_vec();
            set_lz4_header_checksum(&mut fixed, false);
            let dec = lz4_flex::frame::FrameDecoder::new(fixed.as_slice());
            return read_bounded(dec, "lz4", limit, input.len());
        }
        let dec = lz4_flex::frame::FrameDecoder::new(input);
        read_bounded(dec, "lz4", limit, input.len())
    }
    #[cfg(not(feature = "lz4"))]
    Err(not_enabled("lz4"))
}

/// Rewrites the header checksum byte of an LZ4 frame: the spec's
/// (`xxh32(descriptor) >> 8`), or with `broken` Kafka's v0 variant, which
/// hashed the magic number too. Frames too short to hold a header are left
/// for the decoder to reject.
pub(crate) fn set_lz4_header_checksum(frame: &mut [u8], broken: bool) {
    if !frame.starts_with(&LZ4_MAGIC) {
        return;
    }
    let Some(&flg) = frame.get(4) else { return };
    let mut hc_at = 6;
    if flg & 0x08 != 0 {
        hc_at += 8; // content size
    }
    if flg & 0x01 != 0 {
        hc_at += 4; // dictionary id
    }
    let from = if broken { 0 } else { 4 };
    let Some(descriptor) = frame.get(from..hc_at) else {
        return;
    };
    let hc = (xxh32(descriptor, 0) >> 8) as u8;
    if let Some(slot) = frame.get_mut(hc_at) {
        *slot = hc;
    }
}

/// XXH32, for the LZ4 header checksum only (a dozen bytes), so a plain
/// implementation is enough.
pub(crate) fn xxh32(data: &[u8], seed: u32) -> u32 {
    const P1: u32 = 0x9E37_79B1;
    const P2: u32 = 0x85EB_CA77;
    const P3: u32 = 0xC2B2_AE3D;
    const P4: u32 = 0x27D4_EB2F;
    const P5: u32 = 0x1656_67B1;
    let le = |b: &[u8]| b.iter().rev().fold(0u32, |a, &x| (a << 8) | u32::from(x));

    let mut rest = data;
    let mut acc = if data.len() >= 16 {
        let mut v = [
            seed.wrapping_add(P1).wrapping_add(P2),
            seed.wrapping_add(P2),
            seed,
            seed.wrapping_sub(P1),
        ];
        while let Some((stripe, tail)) = rest.split_first_chunk::<16>() {
            for (lane, word) in v.iter_mut().zip(stripe.chunks_exact(4)) {
                *lane = lane
                    .wrapping_add(le(word).wrapping_mul(P2))
                    .rotate_left(13)
                    .wrapping_mul(P1);
            }
            rest = tail;
        }
        let [a, b, c, d] = v;
        a.rotate_left(1)
            .wrapping_add(b.rotate_left(7))
            .wrapping_add(c.rotate_left(12))
            .wrapping_add(d.rotate_left(18))
    } else {
        seed.wrapping_add(P5)
    };
    // The spec adds the length modulo 2^32.
    acc = acc.wrapping_add(data.len() as u32);
    while let Some((word, tail)) = rest.split_first_chunk::<4>() {
        acc = acc
            .wrapping_add(le(word).wrapping_mul(P3))
            .rotate_left(17)
            .wrapping_mul(P4);
        rest = tail;
    }
    for &b in rest {
        acc = acc
            .wrapping_add(u32::from(b).wrapping_mul(P5))
            .rotate_left(11)
            .wrapping_mul(P1);
    }
    acc ^= acc >> 15;
    acc = acc.wrapping_mul(P2);
    acc ^= acc >> 13;
    acc = acc.wrapping_mul(P3);
    acc ^ (acc >> 16)
}

// ---------------------------------------------------------------- zstd

fn zstd_compress(input: &[u8], out: &mut BytesMut, level: Option<i32>) -> Result<()> {
    #[cfg(feature = "zstd")]
    {
        // One-shot compression records the content size in the frame, so
        // decoders size their buffers exactly.
        let start = out.len();
        let bound = zstd::zstd_safe::compress_bound(input.len());
        out.resize(start + bound, 0);
        let dst = out
            .get_mut(start..)
            .ok_or_else(|| codec_error("zstd", "output buffer"))?;
        let n = zstd::bulk::compress_to_buffer(input, dst, level.unwrap_or(3))
            .map_err(|e| codec_error("zstd", e))?;
        out.truncate(start + n);
        Ok(())
    }
    #[cfg(not(feature = "zstd"))]
    Err(not_enabled("zstd"))
}

fn zstd_decompress(input: &[u8], limit: usize) -> Result<Vec<u8>> {
    #[cfg(feature = "zstd")]
    {
        let mut dec =
            zstd::stream::read::Decoder::with_buffer(input).map_err(|e| codec_error("zstd", e))?;
        // The decoder allocates the window a frame declares, so cap it too:
        // at twice the output limit (2^27, zstd's own default, for the
        // default 64 MiB limit, which every producer level fits), but never
        // below 2^23, which levels up to 19 may use on any batch size.
        let limit_log = usize::BITS - limit.saturating_sub(1).leading_zeros();
        dec.window_log_max((limit_log + 1).clamp(23, 31))
            .map_err(|e| codec_error("zstd", e))?;
        read_bounded(dec, "zstd", limit, input.len())
    }
    #[cfg(not(feature = "zstd"))]
    Err(not_enabled("zstd"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn xxh32_known_vectors() {
        assert_eq!(xxh32(b"", 0), 0x02CC_5D05);
        assert_eq!(xxh32(b"a", 0), 0x550D_7456);
        assert_eq!(xxh32(b"abc", 0), 0x32D1_53FF);
        assert_eq!(
            xxh32(b"Nobody inspects the spammish repetition", 0),
            0xE229_3B2F
        );
    }

    #[cfg(not(feature = "gzip"))]
    #[test]
    fn a_disabled_codec_says_so() {
        for result in [
            decompress(Compression::GZIP, b"x", 10, 2).map(drop),
            compress_into(Compression::GZIP, b"x", &mut BytesMut::new(), 2),
        ] {
            assert!(matches!(
                result,
                Err(Error::Compression { ref reason, .. }) if reason == "not enabled in this build"
            ));
        }
    }

    #[cfg(feature = "lz4")]
    #[test]
    fn lz4_header_checksum_matches_the_encoder() {
        let mut out = BytesMut::new();
        lz4_compress(b"hello hello hello", &mut out, false).unwrap();
        let before = out.to_vec();
        let mut again = before.clone();
        set_lz4_header_checksum(&mut again, false);
        assert_eq!(before, again, "our proper checksum equals lz4_flex's");
        set_lz4_header_checksum(&mut again, true);
        assert_ne!(before, again, "the broken checksum differs");
        // Reading as v0 accepts both the broken and the proper checksum.
        for frame in [&before, &again] {
            let back = lz4_decompress(frame, 1 << 20, true).unwrap();
            assert_eq!(back, b"hello hello hello");
        }
        assert!(lz4_decompress(&again, 1 << 20, false).is_err());
    }

    #[cfg(feature = "snappy")]
    #[test]
    fn snappy_writes_xerial_and_reads_raw() {
        let data: Vec<u8> = (0..100_000u32).map(|i| (i % 251) as u8).collect();
        let mut out = BytesMut::new();
        snappy_compress(&data, &mut out).unwrap();
        assert!(out.starts_with(&XERIAL_MAGIC));
        assert_eq!(out.get(8..16).unwrap(), &[0, 0, 0, 1, 0, 0, 0, 1]);
        assert_eq!(snappy_decompress(&out, 1 << 20).unwrap(), data);
        let raw = snap::raw::Encoder::new().compress_vec(&data).unwrap();
        assert_eq!(snappy_decompress(&raw, 1 << 20).unwrap(), data);
        assert!(matches!(
            snappy_decompress(&raw, 1000),
            Err(Error::DecompressedTooLarge { .. })
        ));
        assert!(matches!(
            snappy_decompress(&out, 1000),
            Err(Error::DecompressedTooLarge { .. })
        ));
    }
}
