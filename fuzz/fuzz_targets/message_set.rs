//! Legacy message sets (message formats v0 and v1), plain and compressed.
//!
//! Input: byte 0 holds flags (`common::VERIFY_CRC`, `FIX`, `TINY_LIMIT`,
//! `MAGIC_1`), the rest is the message set. With `FIX` the rest becomes one
//! message of magic 0 (or 1 with `MAGIC_1`) with a right size and CRC-32,
//! so the fuzzer reaches compressed wrappers (gzip, snappy in both framings,
//! LZ4 in both header-checksum flavours) whose inner messages follow. Every
//! message that decodes must round-trip through the message-set encoder.
#![no_main]

use bytes::Bytes;
use gregor_protocol::records::decode_records;
use libfuzzer_sys::fuzz_target;

#[path = "../src/common.rs"]
mod common;

fuzz_target!(|data: &[u8]| {
    let Some((&flags, rest)) = data.split_first() else {
        return;
    };
    let mut buf = rest.to_vec();
    if flags & common::FIX != 0 {
        common::fix_legacy(&mut buf, u8::from(flags & common::MAGIC_1 != 0));
    }
    let options = common::decode_options(flags);
    let Ok(decoded) = decode_records(Bytes::from(buf), &options) else {
        return;
    };
    for batch in &decoded.batches {
        if batch.magic != 2 {
            assert_eq!(batch.producer_id, -1);
        }
        common::check_batch_roundtrip(batch, &options);
    }
});
