//! Request bodies of every API at every version, through `RequestBody`.
//!
//! Input: byte 0 picks the API, byte 1 the version (see `common::pick_api`),
//! the rest is the body. Whatever decodes must round-trip.
#![no_main]

use bytes::Bytes;
use gregor_protocol::messages::RequestBody;
use libfuzzer_sys::fuzz_target;

#[path = "../src/common.rs"]
mod common;

fuzz_target!(|data: &[u8]| {
    let Some((api, version, body)) = common::pick_api(data) else {
        return;
    };
    let Ok(first) = RequestBody::decode(api, version, Bytes::copy_from_slice(body)) else {
        return;
    };
    assert_eq!(first.api_key(), api);
    common::check_roundtrip(
        &format_args!("{} v{version}", first.name()),
        &first,
        |b| b.encode(version),
        |bytes| RequestBody::decode(api, version, bytes),
    );
});
