//! Legacy message sets (magic 0 and 1): known bytes, compressed wrappers,
//! relative offsets, and mixing with v2 batches in one fetch.
// Every codec is exercised; builds without one skip these tests.
#![cfg(all(
    feature = "gzip",
    feature = "snappy",
    feature = "lz4",
    feature = "zstd"
))]

use bytes::{BufMut, Bytes, BytesMut};
use gregor_protocol::Error;
use gregor_protocol::records::{
    Compression, DecodeOptions, Header, Record, RecordBatch, RecordBatchBuilder, TimestampType,
    decode_records, encode_message_set,
};

const LEGACY_CODECS: [Compression; 4] = [
    Compression::None,
    Compression::GZIP,
    Compression::Snappy,
    Compression::Lz4,
];

/// Prefixes a message body (CRC onwards) with its offset and size.
fn framed(offset: i64, body: &[u8]) -> Bytes {
    let mut b = BytesMut::new();
    b.put_i64(offset);
    b.put_i32(body.len() as i32);
    b.put_slice(body);
    b.freeze()
}

fn decode_all(bytes: Bytes) -> Vec<RecordBatch> {
    let decoded = decode_records(bytes, &DecodeOptions::default()).unwrap();
    assert_eq!(decoded.partial, None);
    decoded.batches
}

fn records(first_offset: i64, n: usize) -> Vec<Record> {
    (0..n)
        .map(|i| Record {
            offset: first_offset + i as i64,
            timestamp: 1_600_000_000_000 + (i as i64 % 3) * 7,
            key: (i % 2 == 0).then(|| Bytes::from(format!("key-{i}"))),
            value: (i % 5 != 4).then(|| Bytes::from(format!("value-{i}").repeat(i + 1))),
            headers: vec![],
        })
        .collect()
}

// Message bodies published in Sarama's `message_test.go`, written by
// another client: CRC-32 included.
const EMPTY_V0: [u8; 14] = [
    167, 236, 104, 3, 0, 0, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF,
];
const EMPTY_V1: [u8; 22] = [
    204, 47, 121, 217, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF,
];

#[test]
fn known_bytes_of_plain_v0_and_v1_messages() {
    let null = Record {
        offset: 0,
        timestamp: 0,
        ..Record::default()
    };
    for (magic, body) in [(0i8, &EMPTY_V0[..]), (1, &EMPTY_V1[..])] {
        let mut out = BytesMut::new();
        encode_message_set(
            &mut out,
            magic,
            Compression::None,
            TimestampType::CreateTime,
            std::slice::from_ref(&null),
        )
        .unwrap();
        assert_eq!(out, framed(0, body), "magic {magic}");

        let batch = decode_all(framed(0, body)).remove(0);
        assert_eq!(batch.magic, magic);
        assert_eq!(batch.batch_length, body.len() as i32);
        assert_eq!(batch.crc, u32::from_be_bytes(body[..4].try_into().unwrap()));
        assert_eq!(batch.records.len(), 1);
        let r = &batch.records[0];
        assert_eq!((r.key.as_ref(), r.value.as_ref()), (None, None));
        let (ts, kind) = if magic == 0 {
            (-1, TimestampType::NoTimestampType)
        } else {
            (0, TimestampType::CreateTime)
        };
        assert_eq!(r.timestamp, ts);
        assert_eq!(batch.timestamp_type, kind);
    }
}

#[test]
fn compressed_wrappers_written_by_another_client_decode() {
    // Sarama's bulk fixtures: two empty inner v0 messages (offsets 0 and 1) under a v0 xerial-snappy wrapper, a v0 gzip wrapper
    // and a v1 lz4 wrapper (v0 messages inside v1, which Java tolerates).
    let snappy: Vec<u8> = [
        &[
            180u8, 47, 53, 209, 0, 2, 0xFF, 0xFF, 0xFF, 0xFF, 0, 0, 0, 42,
        ][..],
        &[130, 83, 78, 65, 80, 80, 89, 0, 0, 0, 0, 1, 0, 0, 0, 1],
        &[
            0, 0, 0, 22, 52, 0, 0, 25, 1, 16, 14, 227, 138, 104, 118, 25, 15, 13, 1, 8, 1, 0, 0,
            62, 26, 0,
        ],
    ]
    .concat();
    let gzip: Vec<u8> = [
        &[
            139u8, 160, 63, 141, 0, 1, 0xFF, 0xFF, 0xFF, 0xFF, 0, 0, 0, 0x27,
        ][..],
        &[
            0x1f, 0x8b, 0x08, 0, 0, 0, 0, 0, 0, 0, 99, 96, 128, 3, 190, 202, 112, 143, 7, 12, 12,
            255, 129, 0, 33, 200, 192, 136, 41, 3, 0, 199, 226, 155, 70, 52, 0, 0, 0,
        ],
    ]
    .concat();
    let lz4: Vec<u8> = [
        &[
            246u8, 12, 188, 129, 1, 3, 255, 255, 249, 209, 212, 181, 73, 201,
        ][..],
        &[
            0xFF, 0xFF, 0xFF, 0xFF, 0, 0, 0, 0x47, 0x04, 0x22, 0x4D, 0x18, 100, 112, 185, 52, 0, 0,
            128,
        ],
        &[
            0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 14, 121, 87, 72, 224, 0, 0, 255, 255, 255, 255, 0, 0,
            0, 0,
        ],
        &[
            0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 14, 121, 87, 72, 224, 0, 0, 255, 255, 255, 255, 0, 0,
            0, 0,
        ],
        &[0, 0, 0, 0, 71, 129, 23, 111], // end mark, content checksum
    ]
    .concat();
    for (body, codec, wrapper_offset, offsets) in [
        (snappy, Compression::Snappy, 1, [0, 1]),
        (gzip, Compression::GZIP, 1, [0, 1]),
        // v1: inner offsets are relative to the wrapper's (the last one).
        (lz4, Compression::Lz4, 101, [100, 101]),
    ] {
        let batch = decode_all(framed(wrapper_offset, &body)).remove(0);
        assert_eq!(batch.compression, codec);
        let got: Vec<_> = batch.records.iter().map(|r| r.offset).collect();
        assert_eq!(got, offsets, "{codec:?}");
        for r in &batch.records {
            // Empty messages (null or empty key and value, by fixture).
            assert!(r.key.as_deref().unwrap_or_default().is_empty());
            assert!(r.value.as_deref().unwrap_or_default().is_empty());
            assert_eq!(r.timestamp, -1);
        }
        assert_eq!(batch.base_offset, offsets[0]);
        assert_eq!(batch.last_offset(), offsets[1]);
    }
}

#[test]
fn zstd_is_refused_in_legacy_formats() {
    // Sarama's v1 zstd wrapper: Kafka only allows zstd in v2 batches.
    let body: Vec<u8> = [
        &[
            203u8, 151, 133, 28, 1, 4, 255, 255, 249, 209, 212, 181, 73, 201, 0xFF, 0xFF, 0xFF,
            0xFF, 0, 0, 0, 0x26,
        ][..],
        &[
            0x28, 0xb5, 0x2f, 0xfd, 0x24, 0x34, 0xcd, 0x0, 0x0, 0x78, 0x0, 0x0, 0xe, 0x79, 0x57,
            0x48, 0xe0, 0x0, 0x0, 0xff, 0xff, 0xff, 0xff, 0x0, 0x1, 0x3, 0x0, 0x3d, 0xbd, 0x0,
            0x3b, 0x15, 0x0, 0xb, 0xd2, 0x34, 0xc1, 0x78,
        ],
    ]
    .concat();
    let err = decode_records(framed(1, &body), &DecodeOptions::default()).unwrap_err();
    assert!(
        matches!(&err, Error::Compression { codec, .. } if codec == "zstd"),
        "{err:?}"
    );
    let mut out = BytesMut::new();
    let err = encode_message_set(
        &mut out,
        1,
        Compression::ZSTD,
        TimestampType::CreateTime,
        &records(0, 2),
    );
    assert!(matches!(err, Err(Error::Compression { .. })));
    assert!(out.is_empty());
}

#[test]
fn every_legacy_codec_round_trips_in_v0_and_v1() {
    for magic in [0i8, 1] {
        for codec in LEGACY_CODECS {
            for first in [0i64, 1_000_000] {
                let input = records(first, 7);
                let mut out = BytesMut::new();
                encode_message_set(&mut out, magic, codec, TimestampType::CreateTime, &input)
                    .unwrap();
                let batches = decode_all(out.freeze());
                // Plain messages are one batch each, a wrapper is one batch.
                let expected_batches = if codec.is_none() { 7 } else { 1 };
                assert_eq!(batches.len(), expected_batches, "magic {magic} {codec:?}");
                let got: Vec<Record> = batches.iter().flat_map(|b| b.records.clone()).collect();
                let want: Vec<Record> = input
                    .iter()
                    .map(|r| Record {
                        timestamp: if magic == 0 { -1 } else { r.timestamp },
                        ..r.clone()
                    })
                    .collect();
                assert_eq!(got, want, "magic {magic} {codec:?} first {first}");
                for b in &batches {
                    assert_eq!(b.magic, magic);
                    assert_eq!(b.compression.id(), codec.id());
                    assert_eq!(b.producer_id, -1);
                }
                assert_eq!(batches.last().unwrap().last_offset(), first + 6);
            }
        }
    }
}

#[test]
fn v1_wrapper_holds_relative_offsets_and_the_last_absolute_one() {
    let input = records(5000, 3);
    let mut out = BytesMut::new();
    encode_message_set(
        &mut out,
        1,
        Compression::GZIP,
        TimestampType::CreateTime,
        &input,
    )
    .unwrap();
    assert_eq!(i64::from_be_bytes(out[..8].try_into().unwrap()), 5002);
    // v0 wrappers carry absolute inner offsets, and the last one outside too.
    let mut out0 = BytesMut::new();
    encode_message_set(
        &mut out0,
        0,
        Compression::GZIP,
        TimestampType::CreateTime,
        &input,
    )
    .unwrap();
    assert_eq!(i64::from_be_bytes(out0[..8].try_into().unwrap()), 5002);
    let batch = decode_all(out.freeze()).remove(0);
    assert_eq!(batch.base_offset, 5000);
    assert_eq!(batch.last_offset_delta, 2);
    assert_eq!(
        batch.max_timestamp,
        input.iter().map(|r| r.timestamp).max().unwrap()
    );
}

#[test]
fn v1_log_append_time_wrapper_stamps_every_inner_record() {
    let mut input = records(0, 4);
    input[2].timestamp = 1_900_000_000_000;
    let mut out = BytesMut::new();
    encode_message_set(
        &mut out,
        1,
        Compression::Snappy,
        TimestampType::LogAppendTime,
        &input,
    )
    .unwrap();
    let batch = decode_all(out.freeze()).remove(0);
    assert_eq!(batch.timestamp_type, TimestampType::LogAppendTime);
    assert!(
        batch
            .records
            .iter()
            .all(|r| r.timestamp == 1_900_000_000_000)
    );
}

#[cfg(feature = "lz4")]
#[test]
fn v0_lz4_uses_kafkas_legacy_header_checksum() {
    use std::io::Read;
    let input = records(0, 3);
    let value_of = |magic: i8| {
        let mut out = BytesMut::new();
        encode_message_set(
            &mut out,
            magic,
            Compression::Lz4,
            TimestampType::CreateTime,
            &input,
        )
        .unwrap();
        // offset, size, crc, magic, attributes, [timestamp], null key, value length
        let at = 8 + 4 + 4 + 1 + 1 + if magic == 1 { 8 } else { 0 } + 4 + 4;
        (out.clone().freeze(), out[at..].to_vec())
    };
    let standard = |frame: &[u8]| {
        let mut v = Vec::new();
        lz4_flex::frame::FrameDecoder::new(frame)
            .read_to_end(&mut v)
            .map(|_| v)
    };
    let (v0_message, v0_frame) = value_of(0);
    let (_, v1_frame) = value_of(1);
    assert!(
        standard(&v0_frame).is_err(),
        "v0 frames carry the broken checksum"
    );
    assert!(standard(&v1_frame).is_ok(), "v1 frames are standard");
    assert_eq!(decode_all(v0_message).remove(0).records.len(), 3);
}

#[test]
fn headers_cannot_be_carried_by_legacy_formats() {
    let mut input = records(0, 1);
    input[0].headers.push(Header::new("h", "v"));
    let mut out = BytesMut::new();
    let err = encode_message_set(
        &mut out,
        1,
        Compression::None,
        TimestampType::CreateTime,
        &input,
    );
    assert!(matches!(
        err,
        Err(Error::FieldNotInVersion {
            field: "headers",
            version: 1,
            ..
        })
    ));
    assert!(
        encode_message_set(
            &mut out,
            2,
            Compression::None,
            TimestampType::CreateTime,
            &[]
        )
        .is_err()
    );
}

#[test]
fn legacy_crc_mismatch_names_the_message_offset() {
    let mut out = BytesMut::new();
    encode_message_set(
        &mut out,
        1,
        Compression::None,
        TimestampType::CreateTime,
        &records(77, 1),
    )
    .unwrap();
    let last = out.len() - 1;
    out[last] ^= 0x20;
    let err = decode_records(out.freeze(), &DecodeOptions::default()).unwrap_err();
    assert!(
        matches!(
            err,
            Error::CrcMismatch {
                base_offset: 77,
                ..
            }
        ),
        "{err:?}"
    );
}

#[test]
fn one_fetch_may_mix_formats_and_end_in_a_partial_batch() {
    let mut all = BytesMut::new();
    encode_message_set(
        &mut all,
        0,
        Compression::None,
        TimestampType::CreateTime,
        &records(0, 1),
    )
    .unwrap();
    encode_message_set(
        &mut all,
        1,
        Compression::GZIP,
        TimestampType::CreateTime,
        &records(1, 3),
    )
    .unwrap();
    let mut b = RecordBatchBuilder::new()
        .base_offset(4)
        .compression(Compression::Lz4);
    b.append(1, None, Some(b"v2"), &[Header::new("h", "v")])
        .unwrap();
    all.extend_from_slice(&b.build().unwrap());
    let full = all.len();
    encode_message_set(
        &mut all,
        1,
        Compression::None,
        TimestampType::CreateTime,
        &records(5, 1),
    )
    .unwrap();
    let decoded =
        decode_records(all.freeze().slice(..full + 20), &DecodeOptions::default()).unwrap();
    let magics: Vec<i8> = decoded.batches.iter().map(|b| b.magic).collect();
    assert_eq!(magics, [0, 1, 2]);
    let offsets: Vec<i64> = decoded.records().map(|r| r.offset).collect();
    assert_eq!(offsets, [0, 1, 2, 3, 4]);
    let partial = decoded.partial.unwrap();
    assert_eq!(partial.base_offset, Some(5));
    assert_eq!(partial.available, 20);
}

#[test]
fn record_batch_encode_writes_legacy_sets_for_magic_0_and_1() {
    let mut batch = RecordBatch::from_records(records(10, 4));
    batch.magic = 1;
    batch.compression = Compression::Snappy;
    let back = decode_all(batch.to_bytes().unwrap()).remove(0);
    assert_eq!(back.magic, 1);
    assert_eq!(back.records, batch.records);
    batch.magic = 3;
    assert!(batch.to_bytes().is_err());
}
