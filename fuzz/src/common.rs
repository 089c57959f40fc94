//! What the fuzz targets and the seed generator share: how the first bytes
//! of an input choose what the rest is decoded as, and the fix-ups that let
//! the fuzzer past length fields and CRCs it cannot guess.
//!
//! Included with `#[path]` by every target and by `seeds`, so each uses only
//! part of it.
#![allow(dead_code)]

use gregor_protocol::ApiKey;
use gregor_protocol::records::DecodeOptions;

/// Bytes before the body in `request`/`response` inputs.
pub const API_PREFIX_LEN: usize = 2;

/// Splits a `request`/`response` input: byte 0 picks an API (an index into
/// [`ApiKey::ALL`], wrapping), byte 1 one of its versions (wrapping within
/// the API's range), and the rest is the body.
pub fn pick_api(data: &[u8]) -> Option<(ApiKey, i16, &[u8])> {
    let ([k, v], rest) = data.split_first_chunk::<API_PREFIX_LEN>()?;
    let api = *ApiKey::ALL.get(usize::from(*k) % ApiKey::ALL.len())?;
    let range = api.versions();
    let span = i32::from(range.max) - i32::from(range.min) + 1;
    let version = i32::from(range.min) + i32::from(*v) % span.max(1);
    Some((api, i16::try_from(version).ok()?, rest))
}

/// The prefix [`pick_api`] reads back as `api` at `version`.
pub fn api_prefix(api: ApiKey, version: i16) -> [u8; API_PREFIX_LEN] {
    let index = ApiKey::ALL.iter().position(|&a| a == api).unwrap_or(0);
    let offset = version - api.versions().min;
    [index as u8, offset as u8]
}

/// Bytes before the records in `record_batch`/`message_set` inputs.
pub const RECORDS_PREFIX_LEN: usize = 1;

/// Flag bit: verify CRCs (after fixing them up when `FIX` is set too).
pub const VERIFY_CRC: u8 = 0x01;
/// Flag bit: rewrite the first batch's length, magic and CRC so the rest of
/// the input is exactly one well-framed batch.
pub const FIX: u8 = 0x02;
/// Flag bit: a tiny decompression limit (1 KiB) instead of 256 KiB.
pub const TINY_LIMIT: u8 = 0x04;
/// Flag bit (`message_set`): fix up as magic 1 rather than magic 0.
pub const MAGIC_1: u8 = 0x08;

/// Decode options for a flags byte: always a small decompression limit, so
/// a decompression bomb is refused long before it costs memory.
pub fn decode_options(flags: u8) -> DecodeOptions {
    let limit = if flags & TINY_LIMIT != 0 {
        1024
    } else {
        256 * 1024
    };
    DecodeOptions::new()
        .with_max_decompressed_bytes(limit)
        .with_verify_crc(flags & VERIFY_CRC != 0)
}

const LENGTH_RANGE: std::ops::Range<usize> = 8..12;
const MAGIC_AT: usize = 16;

/// Makes `batch` one v2 batch: its length field covers the whole buffer,
/// its magic is 2 and its CRC-32C is right. Too-short buffers are left.
pub fn fix_v2(batch: &mut [u8]) {
    if batch.len() < 21 {
        return;
    }
    let len = (batch.len() - 12) as i32;
    batch[LENGTH_RANGE].copy_from_slice(&len.to_be_bytes());
    batch[MAGIC_AT] = 2;
    let crc = crc32c::crc32c(&batch[21..]);
    batch[17..21].copy_from_slice(&crc.to_be_bytes());
}

/// Makes `msg` one legacy message of `magic` (0 or 1): its size field
/// covers the whole buffer and its CRC-32 is right.
pub fn fix_legacy(msg: &mut [u8], magic: u8) {
    if msg.len() < 17 {
        return;
    }
    let len = (msg.len() - 12) as i32;
    msg[LENGTH_RANGE].copy_from_slice(&len.to_be_bytes());
    msg[MAGIC_AT] = magic;
    let crc = crc32fast::hash(&msg[16..]);
    msg[12..16].copy_from_slice(&crc.to_be_bytes());
}

/// Bytes before the body in `consumer_protocol` inputs: which schema (bit 0
/// of byte 0: subscription or assignment), and the version (byte 1, wrapping
/// over the schema's versions).
pub const CONSUMER_PREFIX_LEN: usize = 2;

/// Checks that a decoded value survives a round trip: it re-encodes, the
/// encoding decodes to an equal value, and that value re-encodes to the same
/// bytes. A failure is a codec whose encoder and decoder disagree.
///
/// Values are compared with `==`, then by their `Debug` text, so a float
/// field holding NaN (never equal to itself) is not reported.
pub fn check_roundtrip<T: PartialEq + std::fmt::Debug>(
    what: &dyn std::fmt::Display,
    first: &T,
    encode: impl Fn(&T) -> gregor_protocol::Result<bytes::Bytes>,
    decode: impl Fn(bytes::Bytes) -> gregor_protocol::Result<T>,
) {
    let bytes = encode(first)
        .unwrap_or_else(|e| panic!("{what}: decoded but cannot be re-encoded: {e}\n{first:?}"));
    let second = decode(bytes.clone()).unwrap_or_else(|e| {
        panic!("{what}: its own encoding does not decode: {e}\n{first:?}\nbytes: {bytes:02x?}")
    });
    if *first != second && format!("{first:?}") != format!("{second:?}") {
        panic!("{what}: decode(encode(x)) != x\n   x: {first:?}\nback: {second:?}");
    }
    let again = encode(&second)
        .unwrap_or_else(|e| panic!("{what}: re-decoded value cannot be encoded: {e}"));
    assert_eq!(again, bytes, "{what}: re-encoding is not stable");
}

/// Checks the round trip of a batch that decoded: v2 batches through
/// `RecordBatch::to_bytes`, legacy ones through the message-set encoder
/// (which `to_bytes` also uses). The length and CRC are recomputed on
/// encode, so they are compared as re-read.
pub fn check_batch_roundtrip(
    batch: &gregor_protocol::records::RecordBatch,
    options: &DecodeOptions,
) {
    use gregor_protocol::records::decode_records;
    // An empty legacy wrapper has no message to become on re-encode.
    if batch.magic != 2 && batch.records.is_empty() {
        return;
    }
    let bytes = batch.to_bytes().unwrap_or_else(|e| {
        panic!(
            "magic {} batch decoded but cannot be re-encoded: {e}\n{batch:?}",
            batch.magic
        )
    });
    let options = options.with_verify_crc(true);
    let back = decode_records(bytes.clone(), &options).unwrap_or_else(|e| {
        panic!("a re-encoded batch does not decode: {e}\n{batch:?}\nbytes: {bytes:02x?}")
    });
    assert_eq!(back.partial, None, "a re-encoded batch is partial");
    if batch.magic == 2 {
        assert_eq!(
            back.batches.len(),
            1,
            "one v2 batch re-encodes to one batch"
        );
        let mut expected = batch.clone();
        expected.batch_length = back.batches[0].batch_length;
        expected.crc = back.batches[0].crc;
        assert_eq!(back.batches[0], expected, "v2 batch round trip");
    } else {
        // Uncompressed legacy records re-encode as one message each.
        let records: Vec<_> = back.records().cloned().collect();
        assert_eq!(records, batch.records, "legacy message set round trip");
    }
}
