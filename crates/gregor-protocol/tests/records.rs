//! v2 record batches: known bytes, round trips, control batches, and the
//! failure modes of fetched data (CRC, truncation, bombs, lying counts).
// Every codec is exercised; builds without one skip these tests.
#![cfg(all(
    feature = "gzip",
    feature = "snappy",
    feature = "lz4",
    feature = "zstd"
))]

use std::time::{Duration, Instant};

use bytes::{BufMut, Bytes, BytesMut};
use gregor_protocol::Error;
use gregor_protocol::records::{
    Compression, ControlRecord, ControlRecordKind, DecodeOptions, Header, Record, RecordBatch,
    RecordBatchBuilder, RecordBatchReader, TimestampType, decode_records,
};

const CODECS: [Compression; 7] = [
    Compression::None,
    Compression::GZIP,
    Compression::Gzip { level: Some(1) },
    Compression::Snappy,
    Compression::Lz4,
    Compression::ZSTD,
    Compression::Zstd { level: Some(19) },
];

/// CRC-32C (Castagnoli), bit by bit: an implementation independent of the
/// `crc32c` crate the codec uses.
fn crc32c_bitwise(data: &[u8]) -> u32 {
    let mut crc = !0u32;
    for &b in data {
        crc ^= u32::from(b);
        for _ in 0..8 {
            crc = if crc & 1 != 0 {
                (crc >> 1) ^ 0x82F6_3B78
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

fn decode_one(bytes: Bytes) -> RecordBatch {
    let decoded = decode_records(bytes, &DecodeOptions::default()).unwrap();
    assert_eq!(decoded.partial, None);
    assert_eq!(decoded.batches.len(), 1);
    decoded.batches.into_iter().next().unwrap()
}

/// A v2 batch assembled by hand with a valid CRC, for inputs the encoder
/// would never produce.
fn raw_batch(base_offset: i64, attributes: i16, count: i32, section: &[u8]) -> Bytes {
    let mut b = BytesMut::new();
    b.put_i64(base_offset);
    b.put_i32((49 + section.len()) as i32);
    b.put_i32(-1);
    b.put_i8(2);
    b.put_u32(0);
    b.put_i16(attributes);
    b.put_i32(0);
    b.put_i64(0);
    b.put_i64(0);
    b.put_i64(-1);
    b.put_i16(-1);
    b.put_i32(-1);
    b.put_i32(count);
    b.put_slice(section);
    let crc = crc32c_bitwise(&b[21..]);
    b[17..21].copy_from_slice(&crc.to_be_bytes());
    b.freeze()
}

fn sample_records() -> Vec<Record> {
    vec![
        Record {
            offset: 0,
            timestamp: 1_700_000_000_000,
            key: Some(Bytes::from_static(b"key-0")),
            value: Some(Bytes::from_static(b"value-0")),
            headers: vec![
                Header::new("trace", "abc"),
                Header::null("nullable"),
                Header::new("trace", ""),
            ],
        },
        Record {
            offset: 1,
            timestamp: 1_700_000_000_005,
            key: None,
            value: Some(Bytes::from_static(b"no key")),
            headers: vec![],
        },
        Record {
            // A tombstone: key, null value.
            offset: 2,
            timestamp: 1_699_999_999_000,
            key: Some(Bytes::from_static(b"deleted")),
            value: None,
            headers: vec![],
        },
        Record {
            offset: 3,
            timestamp: 1_700_000_000_001,
            key: Some(Bytes::new()),
            value: Some(Bytes::from(vec![7u8; 10_000])),
            headers: vec![Header::new(
                Bytes::from_static(&[0xff, 0xfe]),
                "not utf-8 key",
            )],
        },
    ]
}

// Fixture bytes published in Sarama's `record_test.go` ("uncompressed
// record" and friends): batches written by another client, CRC included.
const SARAMA_BATCH: [u8; 82] = [
    0, 0, 0, 0, 0, 0, 0, 0, // base offset
    0, 0, 0, 70, // batch length
    0, 0, 0, 0, // partition leader epoch
    2, // magic
    84, 121, 97, 253, // crc
    0, 0, // attributes
    0, 0, 0, 0, // last offset delta
    0, 0, 1, 88, 141, 205, 89, 56, // base timestamp
    0, 0, 0, 0, 0, 0, 0, 0, // max timestamp
    0, 0, 0, 0, 0, 0, 0, 0, // producer id
    0, 0, // producer epoch
    0, 0, 0, 0, // base sequence
    0, 0, 0, 1, // record count
    40, 0, 10, 0, 8, 1, 2, 3, 4, 6, 5, 6, 7, 2, 6, 8, 9, 10, 4, 11, 12,
];

fn sarama_batch() -> RecordBatch {
    RecordBatch {
        batch_length: 70,
        partition_leader_epoch: 0,
        crc: 0x5479_61FD,
        base_timestamp: 1_479_847_795_000,
        max_timestamp: 0,
        producer_id: 0,
        producer_epoch: 0,
        base_sequence: 0,
        records: vec![Record {
            offset: 0,
            timestamp: 1_479_847_795_005,
            key: Some(Bytes::from_static(&[1, 2, 3, 4])),
            value: Some(Bytes::from_static(&[5, 6, 7])),
            headers: vec![Header::new(
                Bytes::from_static(&[8, 9, 10]),
                Bytes::from_static(&[11, 12]),
            )],
        }],
        ..RecordBatch::default()
    }
}

#[test]
fn known_bytes_from_another_client_decode_and_reencode_exactly() {
    let batch = decode_one(Bytes::from_static(&SARAMA_BATCH));
    assert_eq!(batch, sarama_batch());
    assert_eq!(batch.to_bytes().unwrap(), &SARAMA_BATCH[..]);
    assert_eq!(crc32c_bitwise(&SARAMA_BATCH[21..]), batch.crc);
}

#[test]
fn known_bytes_empty_and_control_batches() {
    // Sarama's "empty record" and "control batch" fixtures: no records.
    let header = |crc: [u8; 4], attributes: u8| {
        let mut b = vec![0u8; 61];
        b[11] = 49;
        b[16] = 2;
        b[17..21].copy_from_slice(&crc);
        b[22] = attributes;
        b
    };
    for (crc, control) in [([89, 95, 183, 221], false), ([81, 46, 67, 217], true)] {
        let bytes = header(crc, if control { 32 } else { 0 });
        let batch = RecordBatch {
            partition_leader_epoch: 0,
            is_control: control,
            base_timestamp: 0,
            max_timestamp: 0,
            producer_id: 0,
            producer_epoch: 0,
            base_sequence: 0,
            ..RecordBatch::default()
        };
        assert_eq!(batch.to_bytes().unwrap(), &bytes[..]);
        let back = decode_one(Bytes::from(bytes));
        assert!(back.records.is_empty());
        assert_eq!(back.is_control, control);
        if control {
            assert!(back.control_record().unwrap().is_err(), "no marker record");
        }
    }
}

#[test]
fn known_bytes_compressed_by_another_client_decode() {
    // Sarama's gzip, raw-snappy and lz4 (frame with content checksum)
    // fixtures of the same record.
    let head = |len: u8, crc: [u8; 4], codec: u8| {
        let mut b = SARAMA_BATCH[..61].to_vec();
        b[11] = len;
        b[17..21].copy_from_slice(&crc);
        b[22] = codec;
        b
    };
    let gzip: &[u8] = &[
        31, 139, 8, 0, 0, 9, 110, 136, 0, 255, 0, 21, 0, 234, 255, 40, 0, 10, 0, 8, 1, 2, 3, 4, 6,
        5, 6, 7, 2, 6, 8, 9, 10, 4, 11, 12, 3, 0, 173, 201, 88, 103, 21, 0, 0, 0,
    ];
    let snappy: &[u8] = &[
        21, 80, 40, 0, 10, 0, 8, 1, 2, 3, 4, 6, 5, 6, 7, 2, 6, 8, 9, 10, 4, 11, 12,
    ];
    let lz4: &[u8] = &[
        4, 34, 77, 24, 100, 112, 185, 21, 0, 0, 128, 40, 0, 10, 0, 8, 1, 2, 3, 4, 6, 5, 6, 7, 2, 6,
        8, 9, 10, 4, 11, 12, 0, 0, 0, 0, 12, 59, 239, 146,
    ];
    for (len, crc, codec, section) in [
        (95, [231, 74, 206, 165], 1, gzip),
        (72, [21, 0, 159, 97], 2, snappy),
        (89, [169, 74, 119, 197], 3, lz4),
    ] {
        let mut bytes = head(len, crc, codec);
        bytes.extend_from_slice(section);
        let batch = decode_one(Bytes::from(bytes));
        assert_eq!(batch.compression.id(), codec as i8);
        assert_eq!(batch.records, sarama_batch().records, "codec {codec}");
    }
}

#[test]
fn known_bytes_from_the_protocol_layout() {
    // Field by field as the protocol guide lays out a v2 batch.
    #[rustfmt::skip]
    let mut expected: Vec<u8> = vec![
        0, 0, 0, 0, 0, 0, 0, 0,             // baseOffset 0
        0, 0, 0, 62,                        // batchLength: 74 - 12
        0xff, 0xff, 0xff, 0xff,             // partitionLeaderEpoch -1
        2,                                  // magic
        0, 0, 0, 0,                         // crc, filled in below
        0, 0x10,                            // attributes: transactional
        0, 0, 0, 0,                         // lastOffsetDelta
        0, 0, 0x01, 0x8b, 0xcf, 0xe5, 0x68, 0x00, // baseTimestamp 1_700_000_000_000
        0, 0, 0x01, 0x8b, 0xcf, 0xe5, 0x68, 0x00, // maxTimestamp
        0, 0, 0, 0, 0, 0, 0, 7,             // producerId 7
        0, 1,                               // producerEpoch 1
        0, 0, 0, 42,                        // baseSequence 42
        0, 0, 0, 1,                         // recordsCount
        24,                                 // length 12 (zig-zag)
        0,                                  // attributes
        0,                                  // timestampDelta 0
        0,                                  // offsetDelta 0
        2, b'k',                            // key "k"
        2, b'v',                            // value "v"
        2,                                  // 1 header
        2, b'h', 2, b'x',                   // "h": "x"
    ];
    let crc = crc32c_bitwise(&expected[21..]);
    assert_eq!(crc, 0xD961_C99B, "independent CRC-32C of the layout");
    expected[17..21].copy_from_slice(&crc.to_be_bytes());

    let mut b = RecordBatchBuilder::new()
        .producer_state(7, 1, 42)
        .transactional(true);
    b.append(
        1_700_000_000_000,
        Some(b"k"),
        Some(b"v"),
        &[Header::new("h", "x")],
    )
    .unwrap();
    assert_eq!(b.build().unwrap(), &expected[..]);

    let batch = decode_one(Bytes::from(expected.clone()));
    assert!(batch.is_transactional);
    assert_eq!(batch.to_bytes().unwrap(), &expected[..]);
}

#[test]
fn crc32c_bitwise_matches_the_check_value() {
    assert_eq!(crc32c_bitwise(b"123456789"), 0xE306_9283);
}

#[test]
fn every_codec_round_trips_through_batch_encode_and_builder() {
    for codec in CODECS {
        let mut batch = RecordBatch::from_records(sample_records());
        batch.base_offset = 0;
        batch.compression = codec;
        batch.producer_id = 99;
        batch.producer_epoch = 3;
        batch.base_sequence = 17;
        let bytes = batch.to_bytes().unwrap();
        let back = decode_one(bytes.clone());
        assert_eq!(back.records, batch.records, "{codec:?}");
        assert_eq!(back.compression.id(), codec.id());
        assert_eq!(back.last_offset_delta, 3);
        assert_eq!(back.max_timestamp, 1_700_000_000_005);
        assert_eq!(back.base_timestamp, 1_700_000_000_000);
        assert_eq!(
            (back.producer_id, back.producer_epoch, back.base_sequence),
            (99, 3, 17)
        );
        assert_eq!(back.next_offset(), 4);

        let mut builder = RecordBatchBuilder::new()
            .compression(codec)
            .producer_state(99, 3, 17);
        for r in &batch.records {
            builder.append_record(r).unwrap();
        }
        let built = builder.build().unwrap();
        assert_eq!(built, bytes, "builder and encode agree for {codec:?}");
    }
}

#[test]
fn uncompressed_values_are_slices_of_the_input() {
    let bytes = RecordBatch::from_records(sample_records())
        .to_bytes()
        .unwrap();
    let range = bytes.as_ptr() as usize..bytes.as_ptr() as usize + bytes.len();
    let batch = decode_one(bytes.clone());
    for r in &batch.records {
        for b in [&r.key, &r.value].into_iter().flatten() {
            if !b.is_empty() {
                assert!(range.contains(&(b.as_ptr() as usize)));
            }
        }
    }
}

#[test]
fn control_batches_carry_commit_and_abort_markers() {
    for (marker, kind) in [
        (ControlRecord::commit(5), ControlRecordKind::Commit),
        (ControlRecord::abort(6), ControlRecordKind::Abort),
    ] {
        let mut b = RecordBatchBuilder::new()
            .producer_state(1234, 2, -1)
            .transactional(true)
            .base_offset(500);
        b.append_control(42, marker).unwrap();
        assert!(
            b.append(43, None, Some(b"x"), &[]).is_err(),
            "data in a control batch"
        );
        let batch = decode_one(b.build().unwrap());
        assert!(batch.is_control && batch.is_transactional);
        assert_eq!(batch.base_offset, 500);
        let parsed = batch.control_record().unwrap().unwrap();
        assert_eq!(parsed, marker);
        assert_eq!(parsed.kind, kind);
        // Key and value as the Java client writes them.
        let r = &batch.records[0];
        assert_eq!(r.key.as_deref(), Some(&[0, 0, 0, kind.id() as u8][..]));
        assert_eq!(r.value.as_deref().unwrap().len(), 6);
    }
    let mut data = RecordBatchBuilder::new();
    data.append(1, None, None, &[]).unwrap();
    assert!(data.append_control(1, ControlRecord::commit(0)).is_err());
    assert!(decode_one(data.build().unwrap()).control_record().is_none());
}

#[test]
fn unknown_control_types_are_reported_not_refused() {
    let record = Record {
        key: Some(Bytes::from_static(&[0, 0, 0, 2])), // leader change
        value: Some(Bytes::from_static(b"anything")),
        ..Record::default()
    };
    let parsed = ControlRecord::from_record(&record).unwrap();
    assert_eq!(parsed.kind, ControlRecordKind::Unknown(2));
    let bad = Record {
        key: Some(Bytes::from_static(&[0xff, 0xff, 0, 1])),
        ..Record::default()
    };
    assert!(ControlRecord::from_record(&bad).is_err());
}

#[test]
fn log_append_time_gives_every_record_the_batch_time() {
    let mut batch = RecordBatch::from_records(sample_records());
    batch.timestamp_type = TimestampType::LogAppendTime;
    batch.max_timestamp = 1_800_000_000_000;
    for codec in [Compression::None, Compression::ZSTD] {
        batch.compression = codec;
        let back = decode_one(batch.to_bytes().unwrap());
        assert_eq!(back.timestamp_type, TimestampType::LogAppendTime);
        assert!(
            back.records
                .iter()
                .all(|r| r.timestamp == 1_800_000_000_000)
        );
    }
}

#[test]
fn crc_mismatch_names_the_base_offset() {
    let mut b = RecordBatchBuilder::new().base_offset(1234);
    b.append(1, Some(b"k"), Some(b"value"), &[]).unwrap();
    let mut bytes = BytesMut::from(&b.build().unwrap()[..]);
    let last_value_byte = bytes.len() - 2; // before the header count
    bytes[last_value_byte] ^= 0x01;
    let bytes = bytes.freeze();
    let err = decode_records(bytes.clone(), &DecodeOptions::default()).unwrap_err();
    assert!(
        matches!(err, Error::CrcMismatch { base_offset: 1234, stored, computed } if stored != computed),
        "{err:?}"
    );
    assert!(err.to_string().contains("base offset 1234"), "{err}");
    // With checks off the corrupted bytes come through.
    let off = DecodeOptions::default().with_verify_crc(false);
    let batch = decode_records(bytes, &off).unwrap().batches.remove(0);
    assert_eq!(batch.records[0].value.as_deref(), Some(&b"valud"[..]));
}

#[test]
fn a_bad_batch_is_skippable_and_the_rest_still_decode() {
    let mut all = BytesMut::new();
    for base in [0i64, 10, 20] {
        let mut b = RecordBatchBuilder::new().base_offset(base);
        b.append(1, None, Some(b"v"), &[]).unwrap();
        all.extend_from_slice(&b.build().unwrap());
    }
    let one = all.len() / 3;
    all[one + 62] ^= 0xff; // inside the second batch's records
    let results: Vec<_> = RecordBatchReader::new(all.freeze(), DecodeOptions::default()).collect();
    assert_eq!(results.len(), 3);
    assert!(results[0].is_ok() && results[2].is_ok());
    assert!(matches!(
        results[1],
        Err(Error::CrcMismatch {
            base_offset: 10,
            ..
        })
    ));
}

#[test]
fn a_truncated_trailing_batch_is_partial_not_an_error() {
    let mut all = BytesMut::new();
    for (base, codec) in [(0i64, Compression::None), (2, Compression::GZIP)] {
        let mut b = RecordBatchBuilder::new()
            .base_offset(base)
            .compression(codec);
        b.append(1, None, Some(b"first"), &[]).unwrap();
        b.append(2, None, Some(b"second"), &[]).unwrap();
        all.extend_from_slice(&b.build().unwrap());
    }
    let all = all.freeze();
    let first_len = 12 + i32::from_be_bytes(all[8..12].try_into().unwrap()) as usize;
    let total = all.len();
    for cut in [
        first_len + 1,
        first_len + 8,
        first_len + 11,
        first_len + 12,
        first_len + 30,
        total - 1,
    ] {
        let decoded = decode_records(all.slice(..cut), &DecodeOptions::default()).unwrap();
        assert_eq!(decoded.batches.len(), 1, "cut at {cut}");
        assert_eq!(decoded.records().count(), 2);
        let partial = decoded.partial.expect("partial batch reported");
        assert_eq!(partial.available, cut - first_len);
        assert_eq!(partial.base_offset, (cut >= first_len + 8).then_some(2));
        assert_eq!(
            partial.size,
            (cut >= first_len + 12).then_some(total - first_len)
        );
    }
    let whole = decode_records(all, &DecodeOptions::default()).unwrap();
    assert_eq!(whole.batches.len(), 2);
    assert_eq!(whole.partial, None);
    assert!(
        decode_records(Bytes::new(), &DecodeOptions::default())
            .unwrap()
            .batches
            .is_empty()
    );
}

#[test]
fn a_negative_batch_length_is_a_framing_error() {
    let mut bytes = BytesMut::from(&SARAMA_BATCH[..]);
    bytes[8..12].copy_from_slice(&(-5i32).to_be_bytes());
    let mut reader = RecordBatchReader::new(bytes.freeze(), DecodeOptions::default());
    assert!(matches!(reader.next(), Some(Err(Error::BadLength { .. }))));
    assert!(reader.next().is_none());
}

#[test]
fn a_huge_record_count_is_refused_before_allocating() {
    let bytes = raw_batch(7, 0, i32::MAX, &[0u8; 20]);
    let err = decode_records(bytes, &DecodeOptions::default()).unwrap_err();
    assert!(
        matches!(err, Error::BadLength { length, .. } if length == i64::from(i32::MAX)),
        "{err:?}"
    );
    let negative = raw_batch(7, 0, -3, &[]);
    assert!(decode_records(negative, &DecodeOptions::default()).is_err());
    // A huge header count inside a record is refused the same way.
    let record = [20u8, 0, 0, 0, 1, 1, 0xfe, 0xff, 0xff, 0xff, 0x07];
    let bytes = raw_batch(7, 0, 1, &record);
    assert!(matches!(
        decode_records(bytes, &DecodeOptions::default()),
        Err(Error::BadLength { .. } | Error::Truncated { .. })
    ));
}

#[test]
fn unknown_codec_ids_are_errors() {
    let bytes = raw_batch(0, 6, 1, &[1, 2, 3, 4, 5, 6, 7, 8]);
    let err = decode_records(bytes, &DecodeOptions::default()).unwrap_err();
    assert!(
        matches!(&err, Error::Compression { codec, .. } if codec == "6"),
        "{err:?}"
    );
}

/// `copies` concatenated compressions of 1 MiB of zeros: a small input
/// that decompresses to `copies` MiB.
fn bomb(compress: impl Fn(&[u8]) -> Vec<u8>, copies: usize) -> Vec<u8> {
    let one = compress(&vec![0u8; 1 << 20]);
    one.repeat(copies)
}

fn assert_bomb_refused(codec: Compression, section: &[u8]) {
    let bytes = raw_batch(77, i16::from(codec.id()), 1, section);
    let limit = DecodeOptions::default().with_max_decompressed_bytes(1 << 20);
    let start = Instant::now();
    let err = decode_records(bytes, &limit).unwrap_err();
    assert!(
        matches!(
            err,
            Error::DecompressedTooLarge {
                limit: 1_048_576,
                ..
            }
        ),
        "{codec:?}: {err:?}"
    );
    assert!(
        start.elapsed() < Duration::from_secs(10),
        "{codec:?} took {:?}",
        start.elapsed()
    );
}

#[cfg(feature = "gzip")]
#[test]
fn gzip_bomb_is_refused_at_the_limit() {
    use std::io::Write;
    let section = bomb(
        |data| {
            let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
            e.write_all(data).unwrap();
            e.finish().unwrap()
        },
        100,
    );
    assert!(
        section.len() < 200_000,
        "{} bytes for 100 MiB",
        section.len()
    );
    assert_bomb_refused(Compression::GZIP, &section);
}

#[cfg(feature = "zstd")]
#[test]
fn zstd_bomb_is_refused_at_the_limit() {
    let section = bomb(|data| zstd::bulk::compress(data, 3).unwrap(), 100);
    assert_bomb_refused(Compression::ZSTD, &section);
}

#[cfg(feature = "lz4")]
#[test]
fn lz4_bomb_is_refused_at_the_limit() {
    use lz4_flex::frame::{BlockSize, FrameEncoder, FrameInfo};
    use std::io::Write;
    // Kafka puts one LZ4 frame in a batch; its independent 64 KiB blocks of
    // zeros all compress alike, so one frame of 100 MiB is cheap to forge.
    let info = FrameInfo::new().block_size(BlockSize::Max64KB);
    let mut e = FrameEncoder::with_frame_info(info, Vec::new());
    e.write_all(&[0u8; 65536]).unwrap();
    let frame = e.finish().unwrap();
    let (header, rest) = frame.split_at(7);
    let (block, end_mark) = rest.split_at(rest.len() - 4);
    let mut section = header.to_vec();
    for _ in 0..1600 {
        section.extend_from_slice(block);
    }
    section.extend_from_slice(end_mark);
    assert_bomb_refused(Compression::Lz4, &section);
}

#[test]
fn zstd_frames_demanding_a_huge_window_are_refused() {
    // A frame header declaring a 256 MiB window (more than the default 64 MiB limit allows), then one raw byte: the
    // decoder would allocate the window before producing anything.
    let frame = [
        0x28,
        0xb5,
        0x2f,
        0xfd,
        0x00,
        18 << 3,
        0x09,
        0x00,
        0x00,
        b'x',
    ];
    // The frame itself is valid: a decoder allowed that window reads it.
    let mut dec = zstd::stream::read::Decoder::with_buffer(&frame[..]).unwrap();
    dec.window_log_max(28).unwrap();
    let mut out = Vec::new();
    std::io::Read::read_to_end(&mut dec, &mut out).unwrap();
    assert_eq!(out, b"x");
    let bytes = raw_batch(0, 4, 1, &frame);
    let err = decode_records(bytes, &DecodeOptions::default()).unwrap_err();
    assert!(
        matches!(&err, Error::Compression { codec, .. } if codec == "zstd"),
        "{err:?}"
    );
}

#[test]
fn snappy_length_claims_are_checked_before_allocating() {
    // Raw snappy whose header claims 2 GiB.
    assert_bomb_refused(Compression::Snappy, &[0xff, 0xff, 0xff, 0xff, 0x07, 0x00]);
}

#[test]
fn codec_errors_are_reported() {
    for codec in [
        Compression::GZIP,
        Compression::Snappy,
        Compression::Lz4,
        Compression::ZSTD,
    ] {
        let bytes = raw_batch(0, i16::from(codec.id()), 1, b"definitely not compressed");
        let err = decode_records(bytes, &DecodeOptions::default()).unwrap_err();
        assert!(
            matches!(&err, Error::Compression { codec: c, .. } if c == codec.name()),
            "{err:?}"
        );
    }
}

#[test]
fn builder_tracks_sizes_and_refuses_empty_batches() {
    assert!(RecordBatchBuilder::new().build().is_err());
    let mut b = RecordBatchBuilder::with_capacity(1024);
    let expected = b
        .next_record_size(5, Some(b"k"), Some(b"value"), &[])
        .unwrap();
    assert_eq!(b.append(5, Some(b"k"), Some(b"value"), &[]).unwrap(), 0);
    assert_eq!(b.size_in_bytes(), 61 + expected);
    assert_eq!(b.append(3, None, None, &[]).unwrap(), 1);
    assert_eq!(b.len(), 2);
    let batch = decode_one(b.build().unwrap());
    assert_eq!(batch.base_timestamp, 5);
    assert_eq!(batch.max_timestamp, 5);
    assert_eq!(batch.records[1].timestamp, 3);
    assert_eq!(batch.last_offset_delta, 1);
}

#[test]
fn encode_refuses_offsets_beyond_an_int32_delta() {
    let mut batch = RecordBatch::from_records(vec![Record::default()]);
    batch.records.push(Record {
        offset: i64::from(i32::MAX) + 1,
        ..Record::default()
    });
    let mut out = BytesMut::from(&b"keep"[..]);
    assert!(batch.encode(&mut out).is_err());
    assert_eq!(
        &out[..],
        b"keep",
        "a failed encode leaves the buffer as it was"
    );
}

#[test]
fn gzip_levels_are_checked() {
    let mut batch = RecordBatch::from_records(sample_records());
    batch.compression = Compression::Gzip { level: Some(10) };
    assert!(batch.to_bytes().is_err());
}
