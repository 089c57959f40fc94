//! `FrameDecoder` over an arbitrary byte stream fed in arbitrary chunks.
//!
//! Input: bytes 0-1 the maximum frame size (big-endian, at most 64 KiB),
//! byte 2 seeds the chunk sizes, the rest is the stream. The frames (and the
//! error, if any) must not depend on the chunking, every frame must respect
//! the maximum, and nothing may be consumed while a frame is incomplete.
#![no_main]

use bytes::{Bytes, BytesMut};
use gregor_protocol::Error;
use gregor_protocol::frame::FrameDecoder;
use libfuzzer_sys::fuzz_target;

/// Frames, and the error that ended the stream (without the buffered byte
/// count of `BadLength`, which depends on the chunking by design).
type Outcome = (Vec<Bytes>, Option<String>);

fn run(stream: &[u8], max: usize, mut next_chunk: impl FnMut() -> usize) -> Outcome {
    let mut dec = FrameDecoder::new().with_max_frame_size(max);
    let mut buf = BytesMut::new();
    let mut frames = Vec::new();
    let mut pos = 0;
    loop {
        let before = buf.len();
        match dec.decode(&mut buf) {
            Ok(Some(f)) => {
                assert!(
                    f.len() <= max,
                    "frame of {} over the maximum {max}",
                    f.len()
                );
                assert_eq!(buf.len(), before - 4 - f.len());
                frames.push(f);
                continue;
            }
            Ok(None) => assert_eq!(buf.len(), before, "consumed an incomplete frame"),
            Err(e) => {
                assert_eq!(buf.len(), before, "consumed bytes on error");
                let e = match e {
                    Error::BadLength { length, .. } => format!("bad length {length}"),
                    e => e.to_string(),
                };
                return (frames, Some(e));
            }
        }
        if pos == stream.len() {
            return (frames, None);
        }
        let end = pos.saturating_add(next_chunk()).min(stream.len());
        buf.extend_from_slice(&stream[pos..end]);
        pos = end;
    }
}

fuzz_target!(|data: &[u8]| {
    let Some(([a, b, seed], stream)) = data.split_first_chunk::<3>() else {
        return;
    };
    // Up to 64 KiB: the default (100 MiB) behaves the same, it only makes
    // every stray size reserve 100 MiB, which slows the fuzzer to a crawl.
    let max = usize::from(u16::from_be_bytes([*a, *b]));
    let whole = run(stream, max, || usize::MAX);
    // Chunks of 1-32 bytes from a small xorshift generator.
    let mut state = u32::from(*seed) | 0x100;
    let chunked = run(stream, max, || {
        state ^= state << 13;
        state ^= state >> 17;
        state ^= state << 5;
        (state % 32 + 1) as usize
    });
    assert_eq!(whole, chunked, "the chunking changed the outcome");
    let one_by_one = run(stream, max, || 1);
    assert_eq!(
        whole, one_by_one,
        "byte-by-byte reading changed the outcome"
    );
});
