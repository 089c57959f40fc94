//! One pipelined connection to one broker.
//!
//! A [`Connection`] is a cheap handle onto two background tasks: a writer that
//! owns the stream's write half and writes whole pre-encoded frames in the
//! order they were queued, and a reader that owns the read half, splits it
//! into frames and hands each to the oldest request in flight (Kafka answers
//! in request order), and runs the request and idle timers. Callers encode
//! and decode in their own tasks, so a big response is decoded by whoever
//! asked for it, not by the one reader.

mod handshake;
mod reader;
mod shared;
mod writer;

use std::fmt;
use std::sync::Arc;

use bytes::{Bytes, BytesMut};
use gregor_protocol::request::{decode_response, encode_request};
use gregor_protocol::{ApiKey, Request, VersionRange};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;
use tokio::sync::mpsc;
use tokio::time::Instant;
use tracing::Instrument;

use self::shared::Shared;
use crate::error::{CloseReason, Error, Result};
use crate::versions::{BrokerVersions, client_versions};
use crate::{BrokerAddr, ConnectionConfig};

/// A pipelined connection to one Kafka broker, after API version
/// negotiation.
///
/// Clones share the connection; it closes when the last clone is dropped,
/// when [`close`](Self::close) is called, when nothing has been in flight
/// for the idle timeout, or when it fails. A failure (I/O error, a response
/// that cannot be framed or decoded, an out-of-order response, a request
/// timeout) fails every request in flight with the same
/// [`Error::Dead`] and every later request immediately: make a new
/// connection.
///
/// Every async method is cancel-safe: dropping its future at any await
/// point leaves the connection usable. A request is either queued whole or
/// not at all, and the writer task writes queued frames in full whatever
/// happens to the caller; the response to a cancelled request is read and
/// thrown away.
///
/// Works over any byte stream (see [`from_stream`](Self::from_stream)), so
/// TLS and in-memory test streams plug in the same way as TCP.
#[derive(Clone)]
pub struct Connection {
    shared: Arc<Shared>,
    versions: Arc<BrokerVersions>,
    _handle: Arc<CloseOnDrop>,
}

/// Closes the connection when the last handle goes: the tasks hold the
/// shared state themselves, so without this they would keep the socket
/// open until the broker or the idle timer closed it.
struct CloseOnDrop(Arc<Shared>);

impl Drop for CloseOnDrop {
    fn drop(&mut self) {
        self.0.fail(Error::Closed {
            broker: self.0.broker.clone(),
            reason: CloseReason::ByClient,
        });
    }
}

impl Connection {
    /// Connects to a broker over TCP and negotiates API versions.
    ///
    /// `broker` is a `host:port` string (resolved, each address tried in
    /// turn) or a [`BrokerAddr`] carrying a node id for error messages. The
    /// connect timeout covers the TCP connect and the ApiVersions exchange
    /// together. Cancel-safe: dropping the future closes whatever was opened.
    ///
    /// # Errors
    ///
    /// [`Error::Connect`], [`Error::ConnectTimeout`], or whatever the
    /// handshake hit (see [`from_stream`](Self::from_stream)).
    pub async fn connect(
        broker: impl Into<BrokerAddr>,
        config: &ConnectionConfig,
    ) -> Result<Connection> {
        let broker = broker.into();
        let deadline = Instant::now() + config.connect_timeout();
        let timed_out = || Error::ConnectTimeout {
            broker: broker.clone(),
            after: config.connect_timeout(),
        };
        let connect_error = |e| Error::Connect {
            broker: broker.clone(),
            source: Arc::new(e),
        };
        tracing::debug!(broker = %broker, "connecting");
        let stream = tokio::time::timeout_at(deadline, TcpStream::connect(broker.addr()))
            .await
            .map_err(|_| timed_out())?
            .map_err(connect_error)?;
        configure_socket(&stream, config).map_err(connect_error)?;
        tokio::time::timeout_at(deadline, Self::start(stream, broker.clone(), config))
            .await
            .map_err(|_| timed_out())?
    }

    /// Runs a connection over an already open stream (a TLS session, a test
    /// pipe) and negotiates API versions on it.
    ///
    /// `broker` labels the connection in errors and logs. Sends ApiVersions
    /// at the highest version this client has and, if the broker answers
    /// `UNSUPPORTED_VERSION`, once more at the version it says it supports,
    /// as the Java client does. Bounded by the connect timeout. Cancel-safe:
    /// dropping the future drops the stream.
    ///
    /// # Errors
    ///
    /// [`Error::ConnectTimeout`]; [`Error::Broker`] if ApiVersions fails
    /// with an error code; and, if the stream fails during the handshake,
    /// the cause itself ([`Error::Io`], [`Error::Protocol`] for a peer that
    /// does not speak Kafka, [`Error::Closed`], ...) rather than
    /// [`Error::Dead`].
    pub async fn from_stream<S>(
        stream: S,
        broker: impl Into<BrokerAddr>,
        config: &ConnectionConfig,
    ) -> Result<Connection>
    where
        S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        let broker = broker.into();
        let after = config.connect_timeout();
        tokio::time::timeout(after, Self::start(stream, broker.clone(), config))
            .await
            .map_err(|_| Error::ConnectTimeout { broker, after })?
    }

    async fn start<S>(stream: S, broker: BrokerAddr, config: &ConnectionConfig) -> Result<Self>
    where
        S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        let (rd, wr) = tokio::io::split(stream);
        let (tx, rx) = mpsc::unbounded_channel();
        let shared = Arc::new(Shared::new(broker.clone(), config.clone(), tx));
        let span = tracing::debug_span!("kafka_connection", broker = %broker);
        tokio::spawn(reader::run(shared.clone(), rd).instrument(span.clone()));
        tokio::spawn(writer::run(shared.clone(), wr, rx).instrument(span));

        let mut conn = Connection {
            _handle: Arc::new(CloseOnDrop(shared.clone())),
            shared,
            versions: Arc::new(BrokerVersions::default()),
        };
        let versions = handshake::negotiate(&conn).await?;
        tracing::debug!(broker = %broker, apis = versions.len(), "connected");
        conn.versions = Arc::new(versions);
        Ok(conn)
    }

    /// Sends `req` at the highest version both this client and the broker
    /// support and waits for the response.
    ///
    /// The request timeout runs from this call, waiting for an in-flight slot
    /// included. Cancel-safe.
    ///
    /// # Errors
    ///
    /// [`Error::UnsupportedVersion`] (nothing sent) if there is no common
    /// version; see [`send_at`](Self::send_at) for the rest. Error codes
    /// inside the response are not checked here; they are the caller's to
    /// interpret (see [`Error::check_code`]).
    pub async fn send<R: Request>(&self, req: &R) -> Result<R::Response> {
        let ours = intersect(client_versions(R::API_KEY), R::VERSIONS);
        let version = self
            .versions
            .negotiate_within(R::API_KEY, ours)
            .ok_or_else(|| self.unsupported(R::API_KEY, None, ours))?;
        self.request(req, version).await
    }

    /// Sends `req` at an explicit `version` and waits for the response.
    ///
    /// The version must be one this client can encode and the broker lists;
    /// sending a broker a version it does not support makes it close the
    /// connection, so that is refused here instead. Cancel-safe.
    ///
    /// # Errors
    ///
    /// - [`Error::UnsupportedVersion`]: the version is out of either range
    ///   (nothing sent).
    /// - [`Error::Protocol`]: `req` cannot be encoded at `version` (nothing
    ///   sent; the connection stays up), or the response cannot be decoded
    ///   (which kills the connection: this client and the broker disagree
    ///   about the protocol).
    /// - [`Error::Timeout`]: no response within the request timeout. If the
    ///   request was sent, the connection is closed too, as in the Java
    ///   client: the broker is not answering, and every request behind this
    ///   one would wait for it anyway.
    /// - [`Error::Dead`]: the connection failed before or while the request
    ///   was in flight.
    pub async fn send_at<R: Request>(&self, req: &R, version: i16) -> Result<R::Response> {
        let broker_versions = self.versions.get(R::API_KEY);
        if !R::VERSIONS.contains(version) || !broker_versions.is_some_and(|r| r.contains(version)) {
            return Err(self.unsupported(R::API_KEY, Some(version), R::VERSIONS));
        }
        self.request(req, version).await
    }

    /// Sends a request the broker does not answer (Produce with `acks = 0`)
    /// at the highest common version, and waits until it has been written.
    ///
    /// Only for such requests: the response to any other would arrive
    /// unexpected and kill the connection as out of order. It takes an
    /// in-flight slot until written, so it is subject to the request timeout
    /// and to backpressure like any request. Cancel-safe: once queued, the
    /// frame is written even if this future is dropped.
    ///
    /// # Errors
    ///
    /// As [`send`](Self::send), except that there is no response to time out
    /// or fail to decode.
    pub async fn send_no_response<R: Request>(&self, req: &R) -> Result<()> {
        let ours = intersect(client_versions(R::API_KEY), R::VERSIONS);
        let version = self
            .versions
            .negotiate_within(R::API_KEY, ours)
            .ok_or_else(|| self.unsupported(R::API_KEY, None, ours))?;
        let deadline = Instant::now() + self.shared.config.request_timeout();
        let (frame, correlation_id) = self.encode(req, version)?;
        let permit = self.acquire(R::API_KEY, deadline).await?;
        let written = self.shared.enqueue_oneway(frame, permit)?;
        tracing::debug!(
            broker = %self.shared.broker,
            api = %R::API_KEY,
            version,
            correlation_id,
            "sending request without response"
        );
        match tokio::time::timeout_at(deadline, written).await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(_)) => Err(self.shared.gone_error()),
            Err(_) => Err(Error::Timeout {
                broker: self.shared.broker.clone(),
                api: R::API_KEY,
                after: self.shared.config.request_timeout(),
                sent: true,
            }),
        }
    }

    /// Encodes, queues and awaits one request, then decodes its response.
    async fn request<R: Request>(&self, req: &R, version: i16) -> Result<R::Response> {
        let frame = self.round_trip(req, version).await?;
        match decode_response::<R>(frame, version) {
            Ok((_header, body)) => Ok(body),
            Err(source) => {
                let err = Error::Protocol {
                    broker: self.shared.broker.clone(),
                    api: Some(R::API_KEY),
                    source,
                };
                self.shared.fail(err.clone());
                Err(err)
            }
        }
    }

    /// Sends one request and returns its raw response frame (without the size
    /// prefix), undecoded. The handshake decodes ApiVersions itself because
    /// it may have to try two versions.
    async fn round_trip<R: Request>(&self, req: &R, version: i16) -> Result<Bytes> {
        let deadline = Instant::now() + self.shared.config.request_timeout();
        let (frame, correlation_id) = self.encode(req, version)?;
        let permit = self.acquire(R::API_KEY, deadline).await?;
        let response = self.shared.enqueue_request(
            frame,
            correlation_id,
            R::API_KEY,
            version,
            deadline,
            permit,
        )?;
        tracing::debug!(
            broker = %self.shared.broker,
            api = %R::API_KEY,
            version,
            correlation_id,
            "sending request"
        );
        // The reader enforces the deadline (so it holds even for callers
        // that stop waiting), and it always answers or drops the sender.
        response
            .await
            .unwrap_or_else(|_| Err(self.shared.gone_error()))
    }

    /// Encodes `req` as a whole frame with a fresh correlation id. Done
    /// before waiting for a slot so an unencodable request fails at once.
    fn encode<R: Request>(&self, req: &R, version: i16) -> Result<(Bytes, i32)> {
        if let Some(e) = self.shared.dead_error() {
            return Err(e);
        }
        let correlation_id = self.shared.next_correlation_id();
        let mut buf = BytesMut::new();
        encode_request(
            &mut buf,
            correlation_id,
            self.shared.config.client_id(),
            version,
            req,
        )
        .map_err(|source| Error::Protocol {
            broker: self.shared.broker.clone(),
            api: Some(R::API_KEY),
            source,
        })?;
        Ok((buf.freeze(), correlation_id))
    }

    /// Waits for an in-flight slot until `deadline`. Timing out here does not
    /// hurt the connection: nothing of the request was sent.
    async fn acquire(
        &self,
        api: ApiKey,
        deadline: Instant,
    ) -> Result<tokio::sync::OwnedSemaphorePermit> {
        let permits = self.shared.permits.clone();
        match tokio::time::timeout_at(deadline, permits.acquire_owned()).await {
            Ok(Ok(permit)) => Ok(permit),
            // The semaphore is closed only when the connection dies.
            Ok(Err(_)) => Err(self.shared.gone_error()),
            Err(_) => Err(Error::Timeout {
                broker: self.shared.broker.clone(),
                api,
                after: self.shared.config.request_timeout(),
                sent: false,
            }),
        }
    }

    fn unsupported(&self, api: ApiKey, requested: Option<i16>, ours: VersionRange) -> Error {
        Error::UnsupportedVersion {
            broker: self.shared.broker.clone(),
            api,
            requested,
            client_versions: ours,
            broker_versions: self.versions.get(api),
        }
    }

    /// The broker's API versions, from the ApiVersions handshake.
    pub fn api_versions(&self) -> &BrokerVersions {
        &self.versions
    }

    /// The version [`send`](Self::send) would use for `api`: the highest
    /// both sides support, or `None` if there is none.
    pub fn version_for(&self, api: ApiKey) -> Option<i16> {
        self.versions.negotiate(api)
    }

    /// The broker this connection talks to.
    pub fn broker(&self) -> &BrokerAddr {
        &self.shared.broker
    }

    /// The settings the connection was made with.
    pub fn config(&self) -> &ConnectionConfig {
        &self.shared.config
    }

    /// Whether the connection has failed or been closed; every request on it
    /// now fails at once.
    pub fn is_dead(&self) -> bool {
        self.shared.dead_cause().is_some()
    }

    /// What failed or closed the connection, if it is dead.
    pub fn dead_cause(&self) -> Option<Arc<Error>> {
        self.shared.dead_cause()
    }

    /// How many requests await their response, including cancelled ones
    /// whose responses have yet to be read and discarded.
    pub fn in_flight(&self) -> usize {
        self.shared.in_flight()
    }

    /// Closes the connection now, for every clone: requests in flight fail
    /// with [`Error::Dead`] whose cause is [`Error::Closed`] with
    /// [`CloseReason::ByClient`].
    pub fn close(&self) {
        self.shared.fail(Error::Closed {
            broker: self.shared.broker.clone(),
            reason: CloseReason::ByClient,
        });
    }

    /// Waits until the connection is dead and returns why, so an owner (a
    /// connection pool) can drop and replace it promptly. Cancel-safe.
    pub async fn closed(&self) -> Arc<Error> {
        let mut signal = self.shared.closed_signal();
        // `Err` only if the sender is gone, which `self` prevents.
        let _ = signal.wait_for(|dead| *dead).await;
        self.shared
            .dead_cause()
            .unwrap_or_else(|| Arc::new(self.shared.gone_error()))
    }
}

impl fmt::Debug for Connection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Connection")
            .field("broker", &self.shared.broker)
            .field("in_flight", &self.in_flight())
            .field("dead_cause", &self.dead_cause())
            .finish_non_exhaustive()
    }
}

/// The versions in both ranges; empty (`min > max`) if none.
fn intersect(a: VersionRange, b: VersionRange) -> VersionRange {
    VersionRange {
        min: a.min.max(b.min),
        max: a.max.min(b.max),
    }
}

/// Applies the TCP options tokio cannot set itself through `socket2`.
fn configure_socket(stream: &TcpStream, config: &ConnectionConfig) -> std::io::Result<()> {
    stream.set_nodelay(config.tcp_nodelay())?;
    if let Some(idle) = config.tcp_keepalive() {
        let keepalive = socket2::TcpKeepalive::new().with_time(idle);
        socket2::SockRef::from(stream).set_tcp_keepalive(&keepalive)?;
    }
    Ok(())
}
