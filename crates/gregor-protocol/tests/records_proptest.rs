//! Property tests: arbitrary records survive every codec, and no input,
//! random or a mangled valid batch, makes decoding panic.
// Every codec is exercised; builds without one skip these tests.
#![cfg(all(
    feature = "gzip",
    feature = "snappy",
    feature = "lz4",
    feature = "zstd"
))]

use bytes::{Bytes, BytesMut};
use gregor_protocol::records::{
    Compression, DecodeOptions, Header, Record, RecordBatch, RecordBatchBuilder, RecordBatchReader,
    TimestampType, decode_records, encode_message_set,
};
use proptest::collection::vec;
use proptest::prelude::*;

const CODECS: [Compression; 5] = [
    Compression::None,
    Compression::GZIP,
    Compression::Snappy,
    Compression::Lz4,
    Compression::ZSTD,
];

fn bytes(max: usize) -> impl Strategy<Value = Bytes> {
    vec(any::<u8>(), 0..max).prop_map(Bytes::from)
}

fn header() -> impl Strategy<Value = Header> {
    (bytes(16), proptest::option::of(bytes(32))).prop_map(|(key, value)| Header { key, value })
}

/// Records at consecutive offsets from `base`, with any timestamps, keys,
/// values and headers (optionally none, for the legacy formats).
fn records(with_headers: bool) -> impl Strategy<Value = Vec<Record>> {
    let max_headers = if with_headers { 4 } else { 0 };
    (
        0..i64::MAX / 2,
        vec(
            (
                any::<i64>(),
                proptest::option::of(bytes(64)),
                proptest::option::of(bytes(300)),
                vec(header(), 0..=max_headers),
            ),
            1..12,
        ),
    )
        .prop_map(|(base, parts)| {
            parts
                .into_iter()
                .enumerate()
                .map(|(i, (timestamp, key, value, headers))| Record {
                    offset: base + i as i64,
                    timestamp,
                    key,
                    value,
                    headers,
                })
                .collect()
        })
}

fn decode_all(bytes: Bytes) -> Vec<RecordBatch> {
    let decoded = decode_records(bytes, &DecodeOptions::default()).unwrap();
    assert_eq!(decoded.partial, None);
    decoded.batches
}

/// Decodes in every mode and ignores the outcome: only panics matter.
fn decode_without_panicking(bytes: Bytes) {
    for options in [
        DecodeOptions::default(),
        DecodeOptions::default()
            .with_verify_crc(false)
            .with_max_decompressed_bytes(1 << 16),
    ] {
        let mut reader = RecordBatchReader::new(bytes.clone(), options);
        for batch in reader.by_ref().flatten() {
            let _ = batch.control_record();
            let _ = batch.to_bytes();
        }
        let _ = reader.partial();
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn v2_records_survive_every_codec(input in records(true), codec_index in 0..CODECS.len()) {
        let codec = CODECS[codec_index];
        let mut batch = RecordBatch::from_records(input.clone());
        batch.compression = codec;
        let encoded = batch.to_bytes().unwrap();
        let back = decode_all(encoded.clone());
        prop_assert_eq!(back.len(), 1);
        prop_assert_eq!(&back[0].records, &input);
        prop_assert_eq!(back[0].compression.id(), codec.id());

        // The builder writes the same records (offsets from its own base).
        let mut builder = RecordBatchBuilder::new()
            .compression(codec)
            .base_offset(input[0].offset);
        for r in &input {
            builder.append_record(r).unwrap();
        }
        let built = decode_all(builder.build().unwrap());
        prop_assert_eq!(&built[0].records, &input);
    }

    #[test]
    fn legacy_records_survive_every_codec(
        input in records(false),
        magic in 0i8..=1,
        codec_index in 0..CODECS.len() - 1,
    ) {
        let codec = CODECS[codec_index];
        let mut out = BytesMut::new();
        encode_message_set(&mut out, magic, codec, TimestampType::CreateTime, &input).unwrap();
        let got: Vec<Record> = decode_all(out.freeze())
            .into_iter()
            .flat_map(|b| b.records)
            .collect();
        let want: Vec<Record> = input
            .into_iter()
            .map(|r| Record { timestamp: if magic == 0 { -1 } else { r.timestamp }, ..r })
            .collect();
        prop_assert_eq!(got, want);
    }

    #[test]
    fn mangled_batches_never_panic(
        input in records(true),
        codec_index in 0..CODECS.len(),
        legacy in any::<bool>(),
        flips in vec((any::<prop::sample::Index>(), any::<u8>()), 0..6),
        cut in any::<prop::sample::Index>(),
    ) {
        let codec = CODECS[codec_index];
        let mut out = BytesMut::new();
        if legacy && codec != Compression::ZSTD {
            let input: Vec<Record> =
                input.into_iter().map(|r| Record { headers: vec![], ..r }).collect();
            encode_message_set(&mut out, 1, codec, TimestampType::CreateTime, &input).unwrap();
        } else {
            let mut batch = RecordBatch::from_records(input);
            batch.compression = codec;
            batch.encode(&mut out).unwrap();
        }
        for (at, byte) in flips {
            let i = at.index(out.len());
            out[i] ^= byte;
        }
        let keep = cut.index(out.len() + 1);
        out.truncate(keep.max(out.len().saturating_sub(40)));
        decode_without_panicking(out.freeze());
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn random_bytes_never_panic(data in vec(any::<u8>(), 0..512)) {
        decode_without_panicking(Bytes::from(data));
    }

    #[test]
    fn random_bytes_behind_a_valid_v2_header_never_panic(
        section in vec(any::<u8>(), 0..256),
        attributes in 0i16..128,
        count in prop_oneof![Just(i32::MAX), Just(-1), 0i32..64],
    ) {
        // A well-formed header (so the CRC check passes) over a random
        // records section, compressed or not.
        let mut b = RecordBatch {
            compression: Compression::from_id((attributes & 7) as i8).unwrap_or_default(),
            ..RecordBatch::default()
        }
        .to_bytes()
        .unwrap()
        .to_vec();
        b[21..23].copy_from_slice(&attributes.to_be_bytes());
        b[57..61].copy_from_slice(&count.to_be_bytes());
        b.extend_from_slice(&section);
        let len = (b.len() - 12) as i32;
        b[8..12].copy_from_slice(&len.to_be_bytes());
        let crc = crc32c::crc32c(&b[21..]);
        b[17..21].copy_from_slice(&crc.to_be_bytes());
        decode_without_panicking(Bytes::from(b));
    }
}
