//! The consumer group protocol's embedded schemas, `ConsumerProtocolSubscription`
//! (JoinGroup metadata) and `ConsumerProtocolAssignment` (SyncGroup
//! assignments), at every version.
//!
//! Input: bit 0 of byte 0 picks the schema, byte 1 the version (wrapping
//! over its versions), the rest is the body. The body is decoded whole
//! (trailing bytes refused) and as a prefix (trailing bytes left, as a
//! member reading a newer member's metadata does); what decodes whole must
//! round-trip.
#![no_main]

use bytes::Bytes;
use gregor_protocol::messages::{ConsumerProtocolAssignment, ConsumerProtocolSubscription};
use gregor_protocol::{Message, Reader};
use libfuzzer_sys::fuzz_target;

#[path = "../src/common.rs"]
mod common;

fn check<T: Message>(version_byte: u8, body: Bytes) {
    let range = T::VERSIONS;
    let span = range.max - range.min + 1;
    let version = range.min + i16::from(version_byte) % span;

    let mut r = Reader::new(body.clone());
    if T::decode(&mut r, version).is_ok() {
        assert!(r.remaining() <= body.len());
    }
    let Ok(first) = T::decode_from_bytes(body, version) else {
        return;
    };
    common::check_roundtrip(
        &format_args!("{} v{version}", T::NAME),
        &first,
        |m| m.encode_to_bytes(version),
        |bytes| T::decode_from_bytes(bytes, version),
    );
}

fuzz_target!(|data: &[u8]| {
    let Some(([which, version], body)) =
        data.split_first_chunk::<{ common::CONSUMER_PREFIX_LEN }>()
    else {
        return;
    };
    let body = Bytes::copy_from_slice(body);
    if which & 1 == 0 {
        check::<ConsumerProtocolSubscription>(*version, body);
    } else {
        check::<ConsumerProtocolAssignment>(*version, body);
    }
});
