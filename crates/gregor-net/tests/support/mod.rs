//! A scripted fake broker for the integration tests: it reads request frames
//! and writes response frames with the real codec, so tests drive the
//! connection byte for byte like a broker would.

// Each test binary uses a different subset of these helpers.
#![allow(dead_code)]

use std::time::Duration;

use bytes::{Bytes, BytesMut};
use gregor_net::{Connection, ConnectionConfig};
use gregor_protocol::frame::FrameDecoder;
use gregor_protocol::messages::api_versions_response::ApiVersion;
use gregor_protocol::messages::metadata_request::MetadataRequestTopic;
use gregor_protocol::messages::metadata_response::MetadataResponseTopic;
use gregor_protocol::messages::{
    ApiVersionsRequest, ApiVersionsResponse, MetadataRequest, MetadataResponse, RequestHeader,
};
use gregor_protocol::request::{decode_request_header, encode_response};
use gregor_protocol::{ApiKey, Message, Request, StrBytes};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, DuplexStream};

/// Long enough for any test step on a loaded 2-core CI machine; tests that
/// expect something to happen wrap it in this so a bug fails instead of
/// hanging.
pub(crate) const PATIENCE: Duration = Duration::from_secs(10);

/// One API's versions in a fake broker's table.
pub(crate) type Entry = (ApiKey, i16, i16);

/// Every API at every version the codec has: the broker of a client as new
/// as this one.
pub(crate) fn full_table() -> Vec<Entry> {
    ApiKey::ALL
        .iter()
        .map(|&api| (api, api.versions().min, api.versions().max))
        .collect()
}

/// `full_table` with `api` changed to `min..=max`, or removed if `None`.
pub(crate) fn table_with(api: ApiKey, range: Option<(i16, i16)>) -> Vec<Entry> {
    let mut table: Vec<Entry> = full_table().into_iter().filter(|e| e.0 != api).collect();
    if let Some((min, max)) = range {
        table.push((api, min, max));
    }
    table
}

fn api_version(&(api, min, max): &Entry) -> ApiVersion {
    ApiVersion::default()
        .with_api_key(api.code())
        .with_min_version(min)
        .with_max_version(max)
}

/// A config with timeouts short enough for tests.
pub(crate) fn test_config() -> ConnectionConfig {
    ConnectionConfig::builder()
        .client_id("gregor-test")
        .connect_timeout(Duration::from_secs(5))
        .request_timeout(Duration::from_secs(5))
        .build()
        .expect("valid test config")
}

/// A Metadata request carrying `tag` as its one topic name, so a fake broker
/// can echo it back and the test can check each caller got its own answer.
pub(crate) fn tagged_request(tag: &str) -> MetadataRequest {
    MetadataRequest::default().with_topics(Some(vec![
        MetadataRequestTopic::default().with_name(Some(StrBytes::from(tag))),
    ]))
}

/// The tag of a [`tagged_request`].
pub(crate) fn request_tag(req: &MetadataRequest) -> String {
    req.topics
        .as_ref()
        .and_then(|t| t.first())
        .and_then(|t| t.name.as_deref())
        .expect("a tagged request")
        .to_owned()
}

/// The response a fake broker echoes a [`tagged_request`] with.
pub(crate) fn tagged_response(tag: &str) -> MetadataResponse {
    MetadataResponse::default().with_topics(vec![
        MetadataResponseTopic::default().with_name(Some(StrBytes::from(tag))),
    ])
}

/// The tag a [`tagged_response`] carries.
pub(crate) fn response_tag(resp: &MetadataResponse) -> String {
    resp.topics
        .first()
        .and_then(|t| t.name.as_deref())
        .expect("a tagged response")
        .to_owned()
}

/// The broker end of a connection.
pub(crate) struct FakeBroker<S> {
    stream: S,
    decoder: FrameDecoder,
    buf: BytesMut,
}

impl<S: AsyncRead + AsyncWrite + Unpin> FakeBroker<S> {
    pub(crate) fn new(stream: S) -> Self {
        Self {
            stream,
            decoder: FrameDecoder::new(),
            buf: BytesMut::new(),
        }
    }

    /// The next request's header and undecoded body, or `None` once the
    /// client has closed the connection.
    pub(crate) async fn read_request(&mut self) -> Option<(RequestHeader, Bytes)> {
        loop {
            let frame = self.decoder.decode(&mut self.buf).expect("client framing");
            if let Some(frame) = frame {
                return Some(decode_request_header(&frame).expect("client request header"));
            }
            match self.stream.read_buf(&mut self.buf).await {
                Ok(0) | Err(_) => return None,
                Ok(_) => {}
            }
        }
    }

    /// The next request, which must be an `R`.
    pub(crate) async fn read<R: Request>(&mut self) -> (RequestHeader, R) {
        let (header, body) = self.read_request().await.expect("a request, not EOF");
        assert_eq!(header.request_api_key, R::API_KEY.code(), "unexpected API");
        let req = R::decode_from_bytes(body, header.request_api_version).expect("request body");
        (header, req)
    }

    /// Answers the request with `header` at its own version.
    pub(crate) async fn respond<R: Request>(&mut self, header: &RequestHeader, resp: &R::Response) {
        let mut buf = BytesMut::new();
        encode_response::<R>(
            &mut buf,
            header.correlation_id,
            header.request_api_version,
            resp,
        )
        .expect("encodable response");
        self.write_raw(&buf).await;
    }

    /// Writes bytes as they are.
    pub(crate) async fn write_raw(&mut self, bytes: &[u8]) {
        // The client may already have given up on the connection.
        let _ = self.stream.write_all(bytes).await;
        let _ = self.stream.flush().await;
    }

    /// Plays the broker's side of the ApiVersions handshake with `table`,
    /// answering a version newer than its own ApiVersions entry the way
    /// Kafka does (a version 0 `UNSUPPORTED_VERSION` response listing the
    /// ApiVersions range). Returns each ApiVersions request received.
    pub(crate) async fn handshake(
        &mut self,
        table: &[Entry],
    ) -> Vec<(RequestHeader, ApiVersionsRequest)> {
        let own = table
            .iter()
            .find(|e| e.0 == ApiKey::ApiVersions)
            .copied()
            .unwrap_or((ApiKey::ApiVersions, 0, 0));
        let mut seen = Vec::new();
        loop {
            let (header, req) = self.read::<ApiVersionsRequest>().await;
            let version = header.request_api_version;
            seen.push((header.clone(), req));
            if version > own.2 {
                let resp = ApiVersionsResponse::default()
                    .with_error_code(35)
                    .with_api_keys(vec![api_version(&own)]);
                let mut buf = BytesMut::new();
                encode_response::<ApiVersionsRequest>(&mut buf, header.correlation_id, 0, &resp)
                    .expect("v0 response");
                self.write_raw(&buf).await;
                continue;
            }
            let resp = ApiVersionsResponse::default()
                .with_api_keys(table.iter().map(api_version).collect());
            self.respond::<ApiVersionsRequest>(&header, &resp).await;
            return seen;
        }
    }

    /// Reads and answers tagged Metadata requests one at a time, `n` of
    /// them (or until EOF). Returns how many it answered.
    pub(crate) async fn echo(&mut self, n: usize) -> usize {
        for i in 0..n {
            let Some((header, body)) = self.read_request().await else {
                return i;
            };
            let req = MetadataRequest::decode_from_bytes(body, header.request_api_version)
                .expect("metadata request");
            self.respond::<MetadataRequest>(&header, &tagged_response(&request_tag(&req)))
                .await;
        }
        n
    }

    /// Waits until the client closes the connection, failing the test if it
    /// sends another request first or takes longer than [`PATIENCE`].
    pub(crate) async fn expect_eof(&mut self) {
        let next = tokio::time::timeout(PATIENCE, self.read_request())
            .await
            .expect("the client should close the connection");
        assert!(next.is_none(), "expected EOF, got a request: {next:?}");
    }

    /// The stream, for tests that misbehave at the byte level.
    pub(crate) fn stream(&mut self) -> &mut S {
        &mut self.stream
    }
}

/// A connection over an in-memory pipe to a fake broker that has done the
/// handshake with `table`.
pub(crate) async fn connect_duplex(
    table: &[Entry],
    config: &ConnectionConfig,
) -> (Connection, FakeBroker<DuplexStream>) {
    connect_duplex_sized(table, config, 1 << 20).await
}

/// [`connect_duplex`] with a pipe that buffers only `size` bytes each way,
/// so a broker that stops reading blocks the client's writes.
pub(crate) async fn connect_duplex_sized(
    table: &[Entry],
    config: &ConnectionConfig,
    size: usize,
) -> (Connection, FakeBroker<DuplexStream>) {
    let (client, server) = tokio::io::duplex(size);
    let mut broker = FakeBroker::new(server);
    let (conn, _) = tokio::join!(
        Connection::from_stream(client, "fake:9092", config),
        broker.handshake(table)
    );
    (conn.expect("handshake"), broker)
}
