//! Request and response framing: the 4-byte size prefix, the request or
//! response header at the version each API uses, and the body.
//!
//! A client calls [`encode_request`] and, once the connection has read a
//! whole frame, [`response_correlation_id`] to match it up and
//! [`decode_response`] to decode it. A test server uses
//! [`decode_request_header`] and [`encode_response`].

use bytes::{Bytes, BytesMut};

use crate::error::{Error, Location, Result};
use crate::generated::{ApiKey, RequestHeader, ResponseHeader};
use crate::message::{Decode, Encode, Message, Request};
use crate::wire::{Reader, Writer};

/// Appends one complete request frame to `buf`: the 4-byte size, the request
/// header (at the header version `R`'s API uses for `version`), and `req`
/// encoded at `version`.
///
/// Fails with [`Error::UnsupportedVersion`] when `R` has no such version and
/// with the body's own error (say [`Error::FieldNotInVersion`]) when `req`
/// cannot be encoded at it; `buf` is then left as it was.
///
/// ```
/// use bytes::BytesMut;
/// use gregor_protocol::messages::ApiVersionsRequest;
/// use gregor_protocol::request::encode_request;
///
/// let req = ApiVersionsRequest::default()
///     .with_client_software_name("gregor")
///     .with_client_software_version("0.1.0");
/// let mut buf = BytesMut::new();
/// encode_request(&mut buf, 7, Some("my-client"), 3, &req)?;
/// let size = i32::from_be_bytes([buf[0], buf[1], buf[2], buf[3]]);
/// assert_eq!(size as usize, buf.len() - 4);
/// # Ok::<(), gregor_protocol::Error>(())
/// ```
pub fn encode_request<R: Request>(
    buf: &mut BytesMut,
    correlation_id: i32,
    client_id: Option<&str>,
    version: i16,
    req: &R,
) -> Result<()> {
    R::check_version(version)?;
    let start = buf.len();
    let mut w = Writer::from_buf(std::mem::take(buf));
    let written = write_request(&mut w, correlation_id, client_id, version, req);
    *buf = w.into_inner();
    finish_frame(buf, start, written)
}

fn write_request<R: Request>(
    w: &mut Writer,
    correlation_id: i32,
    client_id: Option<&str>,
    version: i16,
    req: &R,
) -> Result<()> {
    let header_version = R::API_KEY.request_header_version(version);
    // The header is written by hand so the client id is not copied into a
    // `RequestHeader` first; it matches `RequestHeader::encode` byte for byte.
    w.i32(0);
    w.i16(R::API_KEY.code());
    w.i16(version);
    w.i32(correlation_id);
    if header_version >= 1 {
        // The client id is never compact, even in flexible headers.
        w.nullable_string(client_id, "client_id")
            .map_err(|e| e.in_message(RequestHeader::NAME, header_version))?;
    }
    if header_version >= 2 {
        w.uvarint(0);
    }
    req.encode(w, version)
        .map_err(|e| e.in_message(R::NAME, version))
}

/// Patches the size prefix of the frame starting at `start`, or undoes the
/// frame when writing it failed.
fn finish_frame(buf: &mut BytesMut, start: usize, written: Result<()>) -> Result<()> {
    let patched = written.and_then(|()| {
        let len = buf.len().saturating_sub(start).saturating_sub(4);
        let size = i32::try_from(len).map_err(|_| Error::TooLong {
            at: Location::field("(frame size)"),
            length: len,
        })?;
        if let Some(prefix) = buf.get_mut(start..start.saturating_add(4)) {
            prefix.copy_from_slice(&size.to_be_bytes());
        }
        Ok(())
    });
    if patched.is_err() {
        buf.truncate(start);
    }
    patched
}

/// The correlation id of a response frame (without its size prefix), read
/// before the rest so the frame can be matched with its request.
///
/// ```
/// use gregor_protocol::request::response_correlation_id;
///
/// assert_eq!(response_correlation_id(&[0, 0, 1, 2, 0xff])?, 258);
/// assert!(response_correlation_id(&[0, 0]).is_err());
/// # Ok::<(), gregor_protocol::Error>(())
/// ```
pub fn response_correlation_id(frame: &[u8]) -> Result<i32> {
    match frame.first_chunk::<4>() {
        Some(b) => Ok(i32::from_be_bytes(*b)),
        None => Err(Error::Truncated {
            at: Location {
                message: ResponseHeader::NAME,
                version: -1,
                field: "correlation_id",
            },
            needed: 4,
            remaining: frame.len(),
        }),
    }
}

/// Decodes a response frame (without its 4-byte size prefix) to a request of
/// type `R` sent at `version`: the response header at the version the API
/// uses, then the body. Trailing bytes are an error. Byte strings in the
/// result share `frame`'s memory.
///
/// ```
/// use bytes::{Bytes, BytesMut};
/// use gregor_protocol::messages::{ApiVersionsRequest, ApiVersionsResponse};
/// use gregor_protocol::request::{decode_response, encode_response};
///
/// // A test server's reply, then the client decoding it.
/// let reply = ApiVersionsResponse::default().with_throttle_time_ms(5);
/// let mut buf = BytesMut::new();
/// encode_response::<ApiVersionsRequest>(&mut buf, 7, 3, &reply)?;
/// let frame = buf.freeze().slice(4..);
/// let (header, resp) = decode_response::<ApiVersionsRequest>(frame, 3)?;
/// assert_eq!(header.correlation_id, 7);
/// assert_eq!(resp, reply);
/// # Ok::<(), gregor_protocol::Error>(())
/// ```
pub fn decode_response<R: Request>(
    frame: Bytes,
    version: i16,
) -> Result<(ResponseHeader, R::Response)> {
    R::Response::check_version(version)?;
    let header_version = R::API_KEY.response_header_version(version);
    let mut r = Reader::new(frame);
    let header = ResponseHeader::decode(&mut r, header_version)
        .map_err(|e| e.in_message(ResponseHeader::NAME, header_version))?;
    let body = R::Response::decode_from_bytes(r.take_rest(), version)?;
    Ok((header, body))
}

/// Decodes the request header of a request frame (without its 4-byte size
/// prefix) and returns it with the body's bytes, for a server to decode with
/// the matching request type.
///
/// The header version depends on the API and version, which the first four
/// bytes give; an unknown API key is an error, an unknown version is not
/// (a server answers it with `UNSUPPORTED_VERSION`).
///
/// ```
/// use bytes::BytesMut;
/// use gregor_protocol::messages::MetadataRequest;
/// use gregor_protocol::request::{decode_request_header, encode_request};
/// use gregor_protocol::{ApiKey, Message};
///
/// let mut buf = BytesMut::new();
/// encode_request(&mut buf, 42, Some("cli"), 12, &MetadataRequest::default())?;
/// let frame = buf.freeze().slice(4..);
/// let (header, body) = decode_request_header(&frame)?;
/// assert_eq!(ApiKey::from_code(header.request_api_key), Some(ApiKey::Metadata));
/// assert_eq!(header.correlation_id, 42);
/// assert_eq!(header.client_id.as_deref(), Some("cli"));
/// let req = MetadataRequest::decode_from_bytes(body, header.request_api_version)?;
/// assert_eq!(req, MetadataRequest::default());
/// # Ok::<(), gregor_protocol::Error>(())
/// ```
pub fn decode_request_header(frame: &Bytes) -> Result<(RequestHeader, Bytes)> {
    let at = |field| Location {
        message: RequestHeader::NAME,
        version: -1,
        field,
    };
    let (code, version) = match frame.first_chunk::<4>() {
        Some(&[a, b, c, d]) => (i16::from_be_bytes([a, b]), i16::from_be_bytes([c, d])),
        None => {
            return Err(Error::Truncated {
                at: at("request_api_version"),
                needed: 4,
                remaining: frame.len(),
            });
        }
    };
    let api = ApiKey::from_code(code).ok_or(Error::InvalidValue {
        at: at("request_api_key"),
        reason: "unknown API key",
    })?;
    let header_version = api.request_header_version(version);
    let mut r = Reader::new(frame.clone());
    let header = RequestHeader::decode(&mut r, header_version)
        .map_err(|e| e.in_message(RequestHeader::NAME, header_version))?;
    Ok((header, r.take_rest()))
}

/// Appends one complete response frame to `buf` for a request of type `R`
/// received at `version`: the 4-byte size, the response header and `resp`.
/// For test servers; `buf` is left as it was on error.
///
/// See [`decode_response`] for an example.
pub fn encode_response<R: Request>(
    buf: &mut BytesMut,
    correlation_id: i32,
    version: i16,
    resp: &R::Response,
) -> Result<()> {
    R::Response::check_version(version)?;
    let start = buf.len();
    let mut w = Writer::from_buf(std::mem::take(buf));
    w.i32(0);
    w.i32(correlation_id);
    if R::API_KEY.response_header_version(version) >= 1 {
        w.uvarint(0);
    }
    let written = resp
        .encode(&mut w, version)
        .map_err(|e| e.in_message(R::Response::NAME, version));
    *buf = w.into_inner();
    finish_frame(buf, start, written)
}
