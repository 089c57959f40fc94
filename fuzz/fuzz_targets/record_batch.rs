//! The `records` of a fetched partition: v2 record batches (and whatever
//! else the bytes frame), through `RecordBatchReader` and `decode_records`.
//!
//! Input: byte 0 holds flags (`common::VERIFY_CRC`, `FIX`, `TINY_LIMIT`),
//! the rest is the records. With `FIX` the rest becomes one v2 batch with a
//! right length and CRC-32C, so the fuzzer reaches the records, and every
//! codec through the low attribute bits, whatever the CRC. Decompression is
//! capped at 256 KiB (1 KiB with `TINY_LIMIT`). Every batch that decodes
//! must round-trip.
#![no_main]

use bytes::Bytes;
use gregor_protocol::records::{RecordBatchReader, decode_records};
use libfuzzer_sys::fuzz_target;

#[path = "../src/common.rs"]
mod common;

fuzz_target!(|data: &[u8]| {
    let Some((&flags, rest)) = data.split_first() else {
        return;
    };
    let mut buf = rest.to_vec();
    if flags & common::FIX != 0 {
        common::fix_v2(&mut buf);
    }
    decode_all(Bytes::from(buf), flags);
});

fn decode_all(records: Bytes, flags: u8) {
    let options = common::decode_options(flags);
    let mut reader = RecordBatchReader::new(records.clone(), options);
    let mut items = Vec::new();
    for item in reader.by_ref() {
        items.push(item);
        // Every batch is at least 12 bytes of framing plus a body.
        assert!(
            items.len() <= records.len() / 12 + 1,
            "the reader does not end"
        );
    }
    assert!(reader.next().is_none(), "the reader is fused");

    // The eager decoder agrees with the lazy one.
    match decode_records(records, &options) {
        Ok(decoded) => {
            assert!(items.iter().all(Result::is_ok));
            assert_eq!(decoded.batches.len(), items.len());
            assert_eq!(decoded.partial, reader.partial());
        }
        Err(e) => {
            let first_err = items.iter().find_map(|r| r.as_ref().err());
            assert_eq!(
                first_err,
                Some(&e),
                "decode_records fails on the first bad batch"
            );
        }
    }

    for batch in items.into_iter().flatten() {
        let _ = batch.control_record();
        let _ = batch.attributes();
        common::check_batch_roundtrip(&batch, &options);
    }
}
