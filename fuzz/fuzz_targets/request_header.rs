//! `decode_request_header` over arbitrary request frames (without the size
//! prefix), then the body it splits off, as a server would.
#![no_main]

use bytes::Bytes;
use gregor_protocol::messages::{RequestBody, RequestHeader};
use gregor_protocol::request::decode_request_header;
use gregor_protocol::{ApiKey, Message};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let frame = Bytes::copy_from_slice(data);
    let Ok((header, body)) = decode_request_header(&frame) else {
        return;
    };
    assert!(body.len() <= frame.len());
    assert!(frame.ends_with(&body), "the body is the end of the frame");
    let api = ApiKey::from_code(header.request_api_key)
        .expect("a header that decoded has a known API key");
    let header_version = api.request_header_version(header.request_api_version);

    // The header re-encodes, and the frame rebuilt from it splits the same.
    let encoded = header
        .encode_to_bytes(header_version)
        .unwrap_or_else(|e| panic!("decoded header cannot be re-encoded: {e}\n{header:?}"));
    let rebuilt = Bytes::from([&encoded[..], &body[..]].concat());
    let (again, again_body) = decode_request_header(&rebuilt)
        .unwrap_or_else(|e| panic!("re-encoded header does not decode: {e}\n{header:?}"));
    assert_eq!(again, header);
    assert_eq!(again_body, body);
    assert_eq!(
        RequestHeader::decode_from_bytes(encoded, header_version).as_ref(),
        Ok(&header)
    );

    // The body at the version the header names: any result but a panic.
    let _ = RequestBody::decode(api, header.request_api_version, body);
});
