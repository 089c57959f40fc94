//! Length-prefixed framing of requests and responses.
//!
//! Every Kafka request and response travels as a big-endian `int32` size
//! followed by that many bytes. [`FrameDecoder`] splits a byte stream into
//! frames without copying, refusing sizes over a limit before allocating
//! anything, and recognises the usual "wrong port" mistakes (an HTTP server,
//! a TLS listener) on the first frame so the user gets a useful error instead
//! of "frame of 1213486160 bytes exceeds the maximum". [`encode_frame`] and
//! [`frame_with`] write frames.

use bytes::{Buf, BufMut, Bytes, BytesMut};

use crate::error::{Error, Location, Result};

/// Bytes in the size prefix of every frame.
pub const SIZE_PREFIX_LEN: usize = 4;

/// Default cap on one frame's size: 100 MiB.
///
/// The largest thing a client receives is a Fetch response, bounded by
/// `fetch.max.bytes` (50 MiB by default in the Java client), except that the
/// broker always returns at least one whole batch, which topics may allow up
/// to their `max.message.bytes`. 100 MiB leaves room for both with defaults
/// and matches the broker's own `socket.request.max.bytes` default, franz-go's
/// `BrokerMaxReadBytes` and (roughly) librdkafka's
/// `receive.message.max.bytes`, while still stopping a garbage size from
/// making us allocate gigabytes.
pub const DEFAULT_MAX_FRAME_SIZE: usize = 100 * 1024 * 1024;

/// The `looks_like` of [`Error::NotKafka`] when the peer answered with HTTP.
pub const LOOKS_LIKE_HTTP: &str = "HTTP";

/// The `looks_like` of [`Error::NotKafka`] when the peer answered with TLS.
pub const LOOKS_LIKE_TLS: &str = "a TLS record";

/// The location used for errors about the size prefix itself.
const SIZE_FIELD: Location = Location::field("frame size");

/// Splits a byte stream into Kafka frames.
///
/// Keep one decoder per connection: it remembers whether the first frame has
/// been seen, because only the first frame is checked for other protocols.
/// After [`decode`](Self::decode) returns an error the stream's framing is
/// lost and the connection should be closed.
#[derive(Debug, Clone)]
pub struct FrameDecoder {
    max_frame_size: usize,
    first_frame: bool,
}

impl Default for FrameDecoder {
    fn default() -> Self {
        Self::new()
    }
}

impl FrameDecoder {
    /// A decoder for a new connection, capped at [`DEFAULT_MAX_FRAME_SIZE`].
    pub const fn new() -> Self {
        Self {
            max_frame_size: DEFAULT_MAX_FRAME_SIZE,
            first_frame: true,
        }
    }

    /// Changes the largest frame body accepted, in bytes (the 4-byte prefix
    /// is not counted). Raise it if topics allow batches larger than the
    /// default; the cap is also the most one connection can make us allocate
    /// up front, which is why there is a cap at all.
    #[must_use]
    pub const fn with_max_frame_size(mut self, max_frame_size: usize) -> Self {
        self.max_frame_size = max_frame_size;
        self
    }

    /// The largest frame body accepted, in bytes.
    pub const fn max_frame_size(&self) -> usize {
        self.max_frame_size
    }

    /// Takes the next complete frame off the front of `buf`.
    ///
    /// Returns `Ok(None)` while the frame is incomplete; read more bytes into
    /// `buf` and call again. Once the size is known and accepted, `buf` is
    /// grown to hold the whole frame so the reads that follow do not
    /// reallocate repeatedly. A complete frame is split off without copying
    /// and returned without its size prefix.
    ///
    /// # Errors
    ///
    /// Nothing is consumed from `buf` on error.
    ///
    /// - [`Error::NotKafka`] if the first bytes of the connection look like
    ///   HTTP or a TLS record rather than a Kafka frame.
    /// - [`Error::BadLength`] if the size is negative.
    /// - [`Error::FrameTooLarge`] if the size exceeds the maximum; this is
    ///   checked before any allocation.
    pub fn decode(&mut self, buf: &mut BytesMut) -> Result<Option<Bytes>> {
        let Some(prefix) = buf.first_chunk::<SIZE_PREFIX_LEN>() else {
            return Ok(None);
        };
        let size = i32::from_be_bytes(*prefix);

        if self.first_frame {
            match sniff(buf) {
                Sniff::Kafka => {}
                Sniff::NeedMore => return Ok(None),
                Sniff::Other(looks_like) => return Err(Error::NotKafka { looks_like }),
            }
        }

        let remaining = buf.len().saturating_sub(SIZE_PREFIX_LEN);
        let Ok(size) = usize::try_from(size) else {
            return Err(Error::BadLength {
                at: SIZE_FIELD,
                length: i64::from(size),
                remaining,
            });
        };
        if size > self.max_frame_size {
            return Err(Error::FrameTooLarge {
                size: i64::try_from(size).unwrap_or(i64::MAX),
                max: self.max_frame_size,
            });
        }
        let Some(total) = size.checked_add(SIZE_PREFIX_LEN) else {
            // Only reachable with a usize narrower than 32 bits.
            return Err(Error::FrameTooLarge {
                size: i64::try_from(size).unwrap_or(i64::MAX),
                max: self.max_frame_size,
            });
        };

        if buf.len() < total {
            // Safe to allocate now: `size` is within the configured maximum.
            buf.reserve(total - buf.len());
            return Ok(None);
        }

        let mut frame = buf.split_to(total);
        frame.advance(SIZE_PREFIX_LEN);
        self.first_frame = false;
        Ok(Some(frame.freeze()))
    }
}

/// The verdict of looking at the first bytes of a connection.
enum Sniff {
    /// Nothing suspicious; decode as a Kafka frame.
    Kafka,
    /// The bytes so far are the start of a known foreign signature; wait for
    /// more before deciding, so the answer does not depend on how the stream
    /// was chunked.
    NeedMore,
    /// The bytes are another protocol.
    Other(&'static str),
}

/// The starts of HTTP responses and requests (including the HTTP/2 preface,
/// `PRI * HTTP/2.0`). Read as a frame size every one of these is over
/// 500 MB, while the first frame on a Kafka connection is always a small
/// ApiVersions or SASL response, so a match cannot be a real Kafka frame.
const HTTP_SIGNATURES: &[&[u8]] = &[
    b"HTTP/",
    b"GET ",
    b"HEAD ",
    b"POST ",
    b"PUT ",
    b"DELETE ",
    b"OPTIONS ",
    b"PATCH ",
    b"CONNECT ",
    b"TRACE ",
    b"PRI ",
];

/// Looks at the start of `buf` (at least [`SIZE_PREFIX_LEN`] bytes) for a
/// protocol that is not Kafka.
fn sniff(buf: &[u8]) -> Sniff {
    // A TLS record header: content type 21 (alert) or 22 (handshake), then
    // the record version 3.x. A plaintext client talking to a TLS listener
    // usually gets an alert back, whose header read as a size is ~352 MB.
    if let [0x15 | 0x16, 0x03, minor, ..] = buf
        && *minor <= 0x04
    {
        return Sniff::Other(LOOKS_LIKE_TLS);
    }
    let mut verdict = Sniff::Kafka;
    for sig in HTTP_SIGNATURES {
        if buf.starts_with(sig) {
            return Sniff::Other(LOOKS_LIKE_HTTP);
        }
        if sig.starts_with(buf) {
            verdict = Sniff::NeedMore;
        }
    }
    verdict
}

/// Appends `body` to `buf` as one frame: its size, then the bytes.
///
/// # Errors
///
/// [`Error::TooLong`] if `body` is longer than `i32::MAX` bytes, the most a
/// size prefix can announce; `buf` is left unchanged.
pub fn encode_frame(buf: &mut BytesMut, body: &[u8]) -> Result<()> {
    let Ok(size) = i32::try_from(body.len()) else {
        return Err(Error::TooLong {
            at: SIZE_FIELD,
            length: body.len(),
        });
    };
    buf.reserve(SIZE_PREFIX_LEN + body.len());
    buf.put_i32(size);
    buf.put_slice(body);
    Ok(())
}

/// Appends one frame to `buf` whose body `f` writes in place, then fills in
/// the size, so a request is encoded straight into the send buffer instead
/// of into a scratch buffer that is then copied.
///
/// `f` must only append to the buffer it is given; the bytes that were in
/// `buf` before the call belong to earlier frames.
///
/// # Errors
///
/// - Whatever `f` returns.
/// - [`Error::TooLong`] if the body is longer than `i32::MAX` bytes.
/// - [`Error::InvalidValue`] if `f` shrank the buffer into the size prefix.
///
/// On error `buf` is truncated back to its length before the call, so a
/// half-written frame is never sent.
pub fn frame_with<F>(buf: &mut BytesMut, f: F) -> Result<()>
where
    F: FnOnce(&mut BytesMut) -> Result<()>,
{
    let start = buf.len();
    buf.put_i32(0);
    let result = f(buf).and_then(|()| patch_size(buf, start));
    if result.is_err() {
        buf.truncate(start);
    }
    result
}

/// Writes the size of the frame that starts at `start` into its prefix.
fn patch_size(buf: &mut BytesMut, start: usize) -> Result<()> {
    let body_start = start + SIZE_PREFIX_LEN;
    let Some(body_len) = buf.len().checked_sub(body_start) else {
        return Err(Error::InvalidValue {
            at: SIZE_FIELD,
            reason: "the frame body writer truncated the buffer into the size prefix",
        });
    };
    let Ok(size) = i32::try_from(body_len) else {
        return Err(Error::TooLong {
            at: SIZE_FIELD,
            length: body_len,
        });
    };
    match buf.get_mut(start..body_start) {
        Some(prefix) => {
            prefix.copy_from_slice(&size.to_be_bytes());
            Ok(())
        }
        // Unreachable: `checked_sub` above proved the prefix is in bounds.
        None => Err(Error::InvalidValue {
            at: SIZE_FIELD,
            reason: "frame size prefix is out of bounds",
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn framed(bodies: &[Vec<u8>]) -> BytesMut {
        let mut buf = BytesMut::new();
        for b in bodies {
            encode_frame(&mut buf, b).unwrap();
        }
        buf
    }

    /// Feeds `stream` to a fresh decoder in chunks of the given sizes
    /// (cycled), collecting frames until the stream is used up.
    fn decode_chunked(stream: &[u8], chunks: &[usize]) -> Result<Vec<Bytes>> {
        let mut dec = FrameDecoder::new();
        let mut buf = BytesMut::new();
        let mut out = Vec::new();
        let mut pos = 0;
        let mut i = 0;
        loop {
            while let Some(frame) = dec.decode(&mut buf)? {
                out.push(frame);
            }
            if pos == stream.len() {
                return Ok(out);
            }
            let n = chunks
                .get(i % chunks.len().max(1))
                .copied()
                .unwrap_or(1)
                .max(1);
            let end = (pos + n).min(stream.len());
            buf.extend_from_slice(&stream[pos..end]);
            pos = end;
            i += 1;
        }
    }

    #[test]
    fn single_frame_round_trip() {
        let mut buf = framed(&[b"hello".to_vec()]);
        assert_eq!(&buf[..4], &[0, 0, 0, 5]);
        let mut dec = FrameDecoder::new();
        assert_eq!(dec.decode(&mut buf).unwrap().unwrap(), &b"hello"[..]);
        assert!(buf.is_empty());
        assert_eq!(dec.decode(&mut buf).unwrap(), None);
    }

    #[test]
    fn zero_size_frame() {
        let mut buf = BytesMut::from(&[0u8, 0, 0, 0, 0, 0, 0, 1, 7][..]);
        let mut dec = FrameDecoder::new();
        assert_eq!(dec.decode(&mut buf).unwrap().unwrap().len(), 0);
        assert_eq!(dec.decode(&mut buf).unwrap().unwrap(), &[7u8][..]);
        assert!(buf.is_empty());
    }

    #[test]
    fn incomplete_prefix_and_body() {
        let mut dec = FrameDecoder::new();
        let mut buf = BytesMut::from(&[0u8, 0, 0][..]);
        assert_eq!(dec.decode(&mut buf).unwrap(), None);
        buf.extend_from_slice(&[3, 1, 2]);
        assert_eq!(dec.decode(&mut buf).unwrap(), None);
        assert_eq!(buf.len(), 6, "nothing consumed while incomplete");
        assert!(buf.capacity() >= 7, "reserved room for the announced frame");
        buf.extend_from_slice(&[3]);
        assert_eq!(dec.decode(&mut buf).unwrap().unwrap(), &[1u8, 2, 3][..]);
    }

    #[test]
    fn negative_size_is_bad_length() {
        let mut buf = BytesMut::from(&[0xff_u8, 0xff, 0xff, 0xfe, 1][..]);
        let err = FrameDecoder::new().decode(&mut buf).unwrap_err();
        assert!(
            matches!(
                err,
                Error::BadLength {
                    length: -2,
                    remaining: 1,
                    ..
                }
            ),
            "{err:?}"
        );
        assert_eq!(buf.len(), 5, "nothing consumed on error");
    }

    #[test]
    fn oversized_frame_fails_before_allocating() {
        let mut dec = FrameDecoder::new().with_max_frame_size(1024);
        assert_eq!(dec.max_frame_size(), 1024);
        let mut buf = BytesMut::with_capacity(8);
        buf.extend_from_slice(&1025_i32.to_be_bytes());
        let cap = buf.capacity();
        let err = dec.decode(&mut buf).unwrap_err();
        assert_eq!(
            err,
            Error::FrameTooLarge {
                size: 1025,
                max: 1024
            }
        );
        assert!(err.to_string().contains("1024"), "{err}");
        assert_eq!(buf.capacity(), cap, "no allocation for a refused frame");

        // A size at the limit is accepted.
        let mut buf = BytesMut::from(&1024_i32.to_be_bytes()[..]);
        assert_eq!(dec.decode(&mut buf).unwrap(), None);
    }

    #[test]
    fn huge_size_on_later_frame_is_too_large_not_sniffed() {
        let mut dec = FrameDecoder::new();
        let mut buf = framed(&[vec![1]]);
        assert!(dec.decode(&mut buf).unwrap().is_some());
        // A later frame may start with anything; a TLS-looking size is only
        // a size now.
        buf.extend_from_slice(&[0x15, 0x03, 0x03, 0x00, 0x02, 0x02, 0x28]);
        let err = dec.decode(&mut buf).unwrap_err();
        assert!(
            matches!(
                err,
                Error::FrameTooLarge {
                    size: 0x1503_0300,
                    ..
                }
            ),
            "{err:?}"
        );
    }

    #[test]
    fn http_response_is_not_kafka() {
        let mut buf = BytesMut::from(&b"HTTP/1.1 400 Bad Request\r\n\r\n"[..]);
        let err = FrameDecoder::new().decode(&mut buf).unwrap_err();
        assert_eq!(
            err,
            Error::NotKafka {
                looks_like: LOOKS_LIKE_HTTP
            }
        );
        assert!(err.to_string().contains("plaintext"), "{err}");
    }

    #[test]
    fn http_requests_are_not_kafka() {
        for req in [
            &b"GET / HTTP/1.1\r\n"[..],
            b"POST /x HTTP/1.1\r\n",
            b"PUT /x HTTP/1.1",
            b"HEAD / HTTP/1.0",
            b"DELETE /x HTTP/1.1",
            b"OPTIONS * HTTP/1.1",
            b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n",
        ] {
            let mut buf = BytesMut::from(req);
            let err = FrameDecoder::new().decode(&mut buf).unwrap_err();
            assert_eq!(
                err,
                Error::NotKafka {
                    looks_like: LOOKS_LIKE_HTTP
                }
            );
        }
    }

    #[test]
    fn partial_http_signature_waits_then_decides() {
        let mut dec = FrameDecoder::new();
        let mut buf = BytesMut::from(&b"HTTP"[..]);
        assert_eq!(dec.decode(&mut buf).unwrap(), None);
        buf.extend_from_slice(b"/1.1 200 OK");
        assert_eq!(
            dec.decode(&mut buf).unwrap_err(),
            Error::NotKafka {
                looks_like: LOOKS_LIKE_HTTP
            }
        );

        // Same first four bytes, but not HTTP: judged as a size after all.
        let mut dec = FrameDecoder::new();
        let mut buf = BytesMut::from(&b"HTTPX"[..]);
        assert!(matches!(
            dec.decode(&mut buf).unwrap_err(),
            Error::FrameTooLarge { .. }
        ));
    }

    #[test]
    fn tls_alert_and_handshake_are_not_kafka() {
        for rec in [
            &[0x15_u8, 0x03, 0x03, 0x00, 0x02, 0x02, 0x46][..],
            &[0x15, 0x03, 0x01, 0x00, 0x02, 0x02, 0x28],
            &[0x16, 0x03, 0x03, 0x00, 0x7a, 0x02, 0x00],
            &[0x16, 0x03, 0x01, 0x02, 0x00],
        ] {
            let mut buf = BytesMut::from(rec);
            let err = FrameDecoder::new().decode(&mut buf).unwrap_err();
            // Reported as NotKafka even though the size also exceeds the maximum.
            assert_eq!(
                err,
                Error::NotKafka {
                    looks_like: LOOKS_LIKE_TLS
                },
                "{rec:?}"
            );
        }
    }

    #[test]
    fn sniffing_stops_after_the_first_frame() {
        let mut dec = FrameDecoder::new().with_max_frame_size(usize::MAX);
        let mut buf = framed(&[vec![], b"GET ".to_vec()]);
        assert!(dec.decode(&mut buf).unwrap().is_some());
        assert_eq!(dec.decode(&mut buf).unwrap().unwrap(), &b"GET "[..]);
    }

    #[test]
    fn encode_frame_writes_prefix_and_body() {
        let mut buf = BytesMut::from(&b"xx"[..]);
        encode_frame(&mut buf, b"abc").unwrap();
        assert_eq!(&buf[..], b"xx\x00\x00\x00\x03abc");
        encode_frame(&mut buf, b"").unwrap();
        assert_eq!(&buf[9..], &[0, 0, 0, 0]);
    }

    #[test]
    fn frame_with_patches_length() {
        let mut buf = BytesMut::from(&b"pre"[..]);
        frame_with(&mut buf, |b| {
            b.put_slice(b"hello ");
            b.put_slice(b"world");
            Ok(())
        })
        .unwrap();
        assert_eq!(&buf[..], b"pre\x00\x00\x00\x0bhello world");
        buf.advance(3);
        let frame = FrameDecoder::new().decode(&mut buf).unwrap().unwrap();
        assert_eq!(frame, &b"hello world"[..]);
    }

    #[test]
    fn frame_with_rolls_back_on_error() {
        let mut buf = BytesMut::from(&b"keep"[..]);
        let err = frame_with(&mut buf, |b| {
            b.put_slice(b"partial");
            Err(Error::InvalidValue {
                at: Location::field("x"),
                reason: "boom",
            })
        })
        .unwrap_err();
        assert!(matches!(err, Error::InvalidValue { reason: "boom", .. }));
        assert_eq!(&buf[..], b"keep");

        let err = frame_with(&mut buf, |b| {
            b.clear();
            Ok(())
        })
        .unwrap_err();
        assert!(matches!(err, Error::InvalidValue { .. }), "{err:?}");
        assert!(buf.is_empty());
    }

    fn bodies() -> impl Strategy<Value = Vec<Vec<u8>>> {
        prop::collection::vec(prop::collection::vec(any::<u8>(), 0..300), 0..12)
    }

    proptest! {
        #[test]
        fn any_chunking_yields_exactly_the_frames(
            bodies in bodies(),
            chunks in prop::collection::vec(1usize..64, 1..16),
        ) {
            let stream = framed(&bodies);
            let frames = decode_chunked(&stream, &chunks).unwrap();
            prop_assert_eq!(frames.len(), bodies.len());
            for (f, b) in frames.iter().zip(&bodies) {
                prop_assert_eq!(&f[..], &b[..]);
            }
        }

        #[test]
        fn random_input_never_panics_and_is_chunking_independent(
            prefix in prop::sample::select(vec![
                &b""[..], b"\x00\x00", b"\x00\x00\x00\x03", b"HTTP", b"HTTP/", b"GET",
                b"DELETE", b"OPTIONS", b"\x15\x03\x03", b"\x16\x03", b"\xff\xff\xff\xff",
            ]),
            rest in prop::collection::vec(any::<u8>(), 0..512),
            chunks in prop::collection::vec(1usize..32, 1..8),
            max in 0usize..1024,
        ) {
            let stream = [prefix, &rest[..]].concat();
            let run = |chunks: &[usize]| {
                let mut dec = FrameDecoder::new().with_max_frame_size(max);
                let mut buf = BytesMut::new();
                let mut out = Vec::new();
                let mut pos = 0;
                let mut i = 0;
                loop {
                    match dec.decode(&mut buf) {
                        Ok(Some(f)) => {
                            assert!(f.len() <= max);
                            out.push(f);
                            continue;
                        }
                        Ok(None) => {}
                        // `remaining` in BadLength reflects what was buffered,
                        // which legitimately depends on the chunking.
                        Err(Error::BadLength { length, .. }) => {
                            return (out, Some(format!("bad length {length}")));
                        }
                        Err(e) => return (out, Some(e.to_string())),
                    }
                    if pos == stream.len() {
                        return (out, None);
                    }
                    let end = (pos + chunks[i % chunks.len()]).min(stream.len());
                    buf.extend_from_slice(&stream[pos..end]);
                    pos = end;
                    i += 1;
                }
            };
            let whole = run(&[usize::MAX / 2]);
            let chunked = run(&chunks);
            prop_assert_eq!(whole, chunked);
        }

        #[test]
        fn frame_with_matches_encode_frame(body in prop::collection::vec(any::<u8>(), 0..300)) {
            let mut a = BytesMut::new();
            encode_frame(&mut a, &body).unwrap();
            let mut b = BytesMut::new();
            frame_with(&mut b, |buf| { buf.put_slice(&body); Ok(()) }).unwrap();
            prop_assert_eq!(a, b);
        }
    }
}
