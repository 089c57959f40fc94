//! KIP-368 re-authentication, done inside the byte stream under the
//! pipelined [`Connection`](crate::Connection), the way the Java client's
//! channel-level authenticator does it.
//!
//! [`ReauthStream`] wraps the (TCP or TLS) stream before the connection
//! starts. Until it is armed it passes bytes straight through. Once the
//! first authentication reports a session lifetime, [`ReauthHandle::arm`]
//! switches it to tracking frame boundaries in both directions, and then:
//!
//! - The write side holds the first request frame written after the
//!   re-authentication time (85-95% of the lifetime), and every frame after
//!   it, while it writes `SaslHandshake` and `SaslAuthenticate` requests of
//!   its own between two frames, with correlation ids far from the
//!   connection's.
//! - The read side passes responses to earlier requests on in order and
//!   takes the SASL responses, recognised by correlation id, out of the
//!   stream; when the last one succeeds the held frames go out.
//!
//! The connection above sees only a pause in its writes. Why here and not
//! as ordinary requests on the connection: a background task that sends
//! them would have to hold the connection, which would then never close
//! when its users drop it; in the stream the work happens only while the
//! connection's own tasks poll it, and ends with them.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::{Arc, OnceLock};
use std::task::{Context, Poll, Waker, ready};
use std::time::Duration;

use bytes::{Buf, Bytes, BytesMut};
use gregor_protocol::Request;
use gregor_protocol::messages::{SaslAuthenticateRequest, SaslHandshakeRequest};
use gregor_protocol::request::{decode_response, encode_request};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::time::Instant;

use super::SaslConfig;
use super::exchange::{self, Exchange, HANDSHAKE_VERSION, Outcome};
use super::mechanism::Session;
use crate::BrokerAddr;
use crate::error::Error;

/// The largest SASL response accepted during re-authentication. They are a
/// few hundred bytes; a bigger one is a corrupt stream.
const MAX_SASL_RESPONSE: usize = 1024 * 1024;

/// How far the SASL requests' correlation ids sit from the last one the
/// connection used: the connection would need this many requests during
/// one re-authentication to collide.
const CORRELATION_GAP: i32 = 1 << 30;

/// What re-authentication needs, known once the first authentication is
/// done.
#[derive(Debug, Clone)]
pub(crate) struct Armed {
    pub(crate) sasl: SaslConfig,
    pub(crate) broker: BrokerAddr,
    pub(crate) client_id: Option<String>,
    /// The `SaslAuthenticate` version the first authentication used.
    pub(crate) authenticate_version: i16,
    /// The lifetime the first authentication got.
    pub(crate) session_lifetime: Duration,
}

/// Arms a [`ReauthStream`] from outside once the connection over it has
/// authenticated.
#[derive(Debug)]
pub(crate) struct ReauthHandle {
    slot: Arc<OnceLock<(Armed, Instant)>>,
}

impl ReauthHandle {
    /// Starts re-authenticating on schedule. Call only while nothing is in
    /// flight on the connection (right after the first authentication), so
    /// both directions of the stream are between frames.
    pub(crate) fn arm(&self, armed: Armed) {
        tracing::debug!(
            broker = %armed.broker,
            session_lifetime_ms = armed.session_lifetime.as_millis() as u64,
            "SASL re-authentication armed"
        );
        // The schedule starts now, not when the stream next notices: that
        // may be long after, on an idle connection.
        let due = schedule(Instant::now(), armed.session_lifetime);
        // Armed once per connection; a second call cannot happen.
        let _ = self.slot.set((armed, due));
    }
}

/// Wraps `inner`; see the module docs.
pub(crate) fn wrap<S>(inner: S) -> (ReauthStream<S>, ReauthHandle) {
    let slot = Arc::new(OnceLock::new());
    let stream = ReauthStream {
        inner,
        slot: slot.clone(),
        state: None,
    };
    (stream, ReauthHandle { slot })
}

/// A stream that re-authenticates the connection over it; see the module
/// docs.
pub(crate) struct ReauthStream<S> {
    inner: S,
    slot: Arc<OnceLock<(Armed, Instant)>>,
    /// `None` until armed: bytes pass straight through.
    state: Option<Box<State>>,
}

impl<S> std::fmt::Debug for ReauthStream<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ReauthStream")
            .field("armed", &self.state.is_some())
            .finish_non_exhaustive()
    }
}

type SessionFuture = Pin<Box<dyn Future<Output = Result<Session, String>> + Send>>;

/// Which SASL response is awaited.
#[derive(Debug, Clone, Copy)]
enum Awaiting {
    Handshake { correlation_id: i32 },
    Authenticate { correlation_id: i32 },
}

impl Awaiting {
    fn correlation_id(self) -> i32 {
        match self {
            Awaiting::Handshake { correlation_id } | Awaiting::Authenticate { correlation_id } => {
                correlation_id
            }
        }
    }
}

enum Phase {
    /// Authenticated; re-authenticate at the first frame boundary after
    /// `due`, if any.
    Idle { due: Option<Instant> },
    /// Getting the mechanism ready (an OAuth token).
    Preparing {
        session: SessionFuture,
        started: Instant,
    },
    /// Exchanging SASL messages.
    Running {
        exchange: Box<Exchange>,
        /// What is left to write of the current SASL request.
        out: Bytes,
        /// Whether it was written and awaits a flush.
        flush: bool,
        awaiting: Awaiting,
        started: Instant,
    },
    /// Re-authentication failed; the connection must die.
    Failed(Error),
}

struct State {
    armed: Armed,
    phase: Phase,
    writes: FrameTracker,
    reads: FrameTracker,
    /// Bytes read but not yet handed on, while a SASL response is awaited.
    rbuf: BytesMut,
    /// The stream ended while a SASL response was awaited.
    eof: bool,
    /// The connection's writer, parked while re-authentication runs.
    writer: Option<Waker>,
    next_correlation_id: i32,
    /// Completed re-authentications, for the logs.
    count: u64,
}

impl State {
    fn new(armed: Armed, due: Instant) -> Self {
        State {
            armed,
            phase: Phase::Idle { due: Some(due) },
            writes: FrameTracker::default(),
            reads: FrameTracker::default(),
            rbuf: BytesMut::new(),
            eof: false,
            writer: None,
            next_correlation_id: 0,
            count: 0,
        }
    }

    fn awaiting(&self) -> Option<i32> {
        match &self.phase {
            Phase::Running { awaiting, .. } => Some(awaiting.correlation_id()),
            _ => None,
        }
    }

    fn begin(&mut self) {
        tracing::debug!(broker = %self.armed.broker, "SASL re-authentication starting");
        self.next_correlation_id = self
            .writes
            .last_correlation_id
            .unwrap_or(0)
            .wrapping_add(CORRELATION_GAP);
        let sasl = self.armed.sasl.clone();
        self.phase = Phase::Preparing {
            session: Box::pin(async move { sasl.session().await }),
            started: Instant::now(),
        };
    }

    /// Records `err` as the end of the connection and returns it as the
    /// I/O error the connection will report.
    fn fail(&mut self, err: Error) -> io::Error {
        tracing::debug!(broker = %self.armed.broker, "SASL re-authentication failed: {err}");
        self.phase = Phase::Failed(err.clone());
        self.wake_writer();
        as_io(err)
    }

    fn wake_writer(&mut self) {
        if let Some(w) = self.writer.take() {
            w.wake();
        }
    }

    fn encode<R: Request>(&mut self, req: &R, version: i16) -> Result<(Bytes, i32), Error> {
        let correlation_id = self.next_correlation_id;
        self.next_correlation_id = correlation_id.wrapping_add(1);
        let mut buf = BytesMut::new();
        encode_request(
            &mut buf,
            correlation_id,
            self.armed.client_id.as_deref(),
            version,
            req,
        )
        .map_err(|source| Error::Protocol {
            broker: self.armed.broker.clone(),
            api: Some(R::API_KEY),
            source,
        })?;
        Ok((buf.freeze(), correlation_id))
    }

    /// Moves a running re-authentication on as far as it goes without
    /// waiting: the mechanism's preparation, writing and flushing the
    /// current SASL request. Wakers are registered for what it waits on.
    fn drive<S: AsyncWrite + Unpin>(
        &mut self,
        inner: &mut S,
        cx: &mut Context<'_>,
    ) -> io::Result<()> {
        loop {
            match &mut self.phase {
                Phase::Idle { .. } => return Ok(()),
                Phase::Failed(e) => return Err(as_io(e.clone())),
                Phase::Preparing { session, started } => {
                    let started = *started;
                    let ready = match session.as_mut().poll(cx) {
                        Poll::Pending => return Ok(()),
                        Poll::Ready(r) => r,
                    };
                    let mechanism = self.armed.sasl.mechanism();
                    let session = match ready {
                        Ok(s) => s,
                        Err(m) => {
                            let e = exchange::failed(&self.armed.broker, mechanism, m);
                            return Err(self.fail(e));
                        }
                    };
                    let exchange = Exchange::new(self.armed.broker.clone(), mechanism, session);
                    let req = exchange.handshake_request();
                    let (out, correlation_id) = match self.encode(&req, HANDSHAKE_VERSION) {
                        Ok(x) => x,
                        Err(e) => return Err(self.fail(e)),
                    };
                    self.phase = Phase::Running {
                        exchange: Box::new(exchange),
                        out,
                        flush: false,
                        awaiting: Awaiting::Handshake { correlation_id },
                        started,
                    };
                }
                Phase::Running { out, flush, .. } => {
                    if !out.is_empty() {
                        match Pin::new(&mut *inner).poll_write(cx, out) {
                            Poll::Pending => return Ok(()),
                            Poll::Ready(Ok(0)) => {
                                return Err(io::Error::from(io::ErrorKind::WriteZero));
                            }
                            Poll::Ready(Ok(n)) => {
                                out.advance(n);
                                *flush = true;
                            }
                            Poll::Ready(Err(e)) => return Err(e),
                        }
                        continue;
                    }
                    if *flush {
                        match Pin::new(&mut *inner).poll_flush(cx) {
                            Poll::Pending => return Ok(()),
                            Poll::Ready(Ok(())) => *flush = false,
                            Poll::Ready(Err(e)) => return Err(e),
                        }
                    }
                    return Ok(());
                }
            }
        }
    }

    /// Handles the SASL response `frame` (without its size prefix).
    fn on_response(&mut self, frame: Bytes) -> io::Result<()> {
        let Phase::Running {
            exchange,
            awaiting,
            started,
            ..
        } = &mut self.phase
        else {
            return Ok(());
        };
        let started = *started;
        let broker = self.armed.broker.clone();
        let protocol = |api, source| Error::Protocol {
            broker: broker.clone(),
            api: Some(api),
            source,
        };
        let next = match *awaiting {
            Awaiting::Handshake { .. } => {
                decode_response::<SaslHandshakeRequest>(frame, HANDSHAKE_VERSION)
                    .map_err(|e| protocol(SaslHandshakeRequest::API_KEY, e))
                    .and_then(|(_, resp)| exchange.on_handshake(&resp))
                    .map(Outcome::Continue)
            }
            Awaiting::Authenticate { .. } => {
                decode_response::<SaslAuthenticateRequest>(frame, self.armed.authenticate_version)
                    .map_err(|e| protocol(SaslAuthenticateRequest::API_KEY, e))
                    .and_then(|(_, resp)| exchange.on_authenticate(&resp))
            }
        };
        match next {
            Err(e) => Err(self.fail(e)),
            Ok(Outcome::Continue(req)) => {
                let (out, correlation_id) = match self.encode(&req, self.armed.authenticate_version)
                {
                    Ok(x) => x,
                    Err(e) => return Err(self.fail(e)),
                };
                if let Phase::Running {
                    out: o,
                    flush,
                    awaiting,
                    ..
                } = &mut self.phase
                {
                    *o = out;
                    *flush = false;
                    *awaiting = Awaiting::Authenticate { correlation_id };
                }
                Ok(())
            }
            Ok(Outcome::Done { session_lifetime }) => {
                let now = Instant::now();
                self.count += 1;
                tracing::debug!(
                    broker = %self.armed.broker,
                    took_ms = now.duration_since(started).as_millis() as u64,
                    session_lifetime_ms = session_lifetime.map(|d| d.as_millis() as u64),
                    count = self.count,
                    "SASL re-authenticated"
                );
                self.phase = Phase::Idle {
                    due: session_lifetime.map(|l| schedule(now, l)),
                };
                self.wake_writer();
                Ok(())
            }
        }
    }

    /// Hands up to `n` buffered bytes to the reader.
    fn deliver(&mut self, buf: &mut ReadBuf<'_>, n: usize) {
        let n = n.min(self.rbuf.len()).min(buf.remaining());
        if let Some(bytes) = self.rbuf.get(..n) {
            buf.put_slice(bytes);
            self.reads.advance(bytes);
        }
        self.rbuf.advance(n);
    }
}

/// When to re-authenticate a session of `lifetime` that starts `now`: at a
/// random point between 85% and 95% of it, like the Java client, so
/// connections authenticated together do not all re-authenticate together.
fn schedule(now: Instant, lifetime: Duration) -> Instant {
    let mut bytes = [0u8; 4];
    let unit = match getrandom::fill(&mut bytes) {
        Ok(()) => f64::from(u32::from_le_bytes(bytes)) / f64::from(u32::MAX),
        Err(_) => 0.5,
    };
    now + lifetime.mul_f64(0.85 + 0.10 * unit)
}

fn as_io(err: Error) -> io::Error {
    io::Error::other(err)
}

impl<S> ReauthStream<S> {
    /// Switches to tracking once the handle armed it.
    fn check_armed(&mut self) {
        if self.state.is_none()
            && let Some((armed, due)) = self.slot.get()
        {
            self.state = Some(Box::new(State::new(armed.clone(), *due)));
        }
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> AsyncRead for ReauthStream<S> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        this.check_armed();
        let ReauthStream { inner, state, .. } = this;
        let Some(st) = state.as_deref_mut() else {
            return Pin::new(inner).poll_read(cx, buf);
        };
        st.drive(inner, cx)?;
        loop {
            let Some(awaited) = st.awaiting() else {
                // Nothing of ours can arrive: pass bytes on, noting where
                // frames end.
                if !st.rbuf.is_empty() {
                    st.deliver(buf, usize::MAX);
                    return Poll::Ready(Ok(()));
                }
                if st.eof {
                    return Poll::Ready(Ok(()));
                }
                let before = buf.filled().len();
                ready!(Pin::new(&mut *inner).poll_read(cx, buf))?;
                if let Some(new) = buf.filled().get(before..) {
                    st.reads.advance(new);
                }
                return Poll::Ready(Ok(()));
            };
            // A SASL response is awaited: look at each frame's correlation
            // id before handing it on.
            match st.reads.until_boundary() {
                Some(rest) if !st.rbuf.is_empty() => {
                    st.deliver(buf, rest);
                    return Poll::Ready(Ok(()));
                }
                Some(_) => {}
                None => {
                    if let Some(head) = st.rbuf.first_chunk::<8>() {
                        let size = i32::from_be_bytes([head[0], head[1], head[2], head[3]]);
                        let id = i32::from_be_bytes([head[4], head[5], head[6], head[7]]);
                        if id == awaited && size >= 4 {
                            let total = 4 + size as usize;
                            if total > MAX_SASL_RESPONSE {
                                let e = Error::Protocol {
                                    broker: st.armed.broker.clone(),
                                    api: None,
                                    source: gregor_protocol::Error::FrameTooLarge {
                                        size: i64::from(size),
                                        max: MAX_SASL_RESPONSE,
                                    },
                                };
                                return Poll::Ready(Err(st.fail(e)));
                            }
                            if st.rbuf.len() >= total {
                                let frame = st.rbuf.split_to(total).freeze().slice(4..);
                                st.on_response(frame)?;
                                st.drive(inner, cx)?;
                                continue;
                            }
                        } else {
                            // The response to a request sent before
                            // re-authentication began.
                            let len = usize::try_from(size).map_or(usize::MAX, |s| s + 4);
                            st.deliver(buf, len);
                            return Poll::Ready(Ok(()));
                        }
                    }
                }
            }
            if st.eof {
                // Whatever is left is handed on; the connection will see
                // the stream end.
                if !st.rbuf.is_empty() {
                    st.deliver(buf, usize::MAX);
                    return Poll::Ready(Ok(()));
                }
                return Poll::Ready(Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    format!(
                        "broker {} closed the connection during SASL re-authentication",
                        st.armed.broker
                    ),
                )));
            }
            let mut chunk = [0u8; 8192];
            let mut tmp = ReadBuf::new(&mut chunk);
            ready!(Pin::new(&mut *inner).poll_read(cx, &mut tmp))?;
            if tmp.filled().is_empty() {
                st.eof = true;
            } else {
                st.rbuf.extend_from_slice(tmp.filled());
            }
        }
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> AsyncWrite for ReauthStream<S> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        this.check_armed();
        let ReauthStream { inner, state, .. } = this;
        let Some(st) = state.as_deref_mut() else {
            return Pin::new(inner).poll_write(cx, buf);
        };
        loop {
            match &st.phase {
                Phase::Failed(e) => return Poll::Ready(Err(as_io(e.clone()))),
                Phase::Idle { due } => {
                    let due_now = due.is_some_and(|d| Instant::now() >= d) && !st.writes.broken;
                    if due_now && st.writes.until_boundary().is_none() && !buf.is_empty() {
                        st.begin();
                        continue;
                    }
                    // Once due, stop at the end of the current frame so
                    // re-authentication can start before the next.
                    let limit = match st.writes.until_boundary() {
                        Some(rest) if due_now => rest,
                        _ => buf.len(),
                    };
                    let chunk = buf.get(..limit.min(buf.len())).unwrap_or(buf);
                    let n = ready!(Pin::new(&mut *inner).poll_write(cx, chunk))?;
                    if let Some(written) = chunk.get(..n) {
                        st.writes.advance(written);
                    }
                    return Poll::Ready(Ok(n));
                }
                Phase::Preparing { .. } | Phase::Running { .. } => {
                    st.writer = Some(cx.waker().clone());
                    st.drive(inner, cx)?;
                    if matches!(st.phase, Phase::Preparing { .. } | Phase::Running { .. }) {
                        return Poll::Pending;
                    }
                }
            }
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }
}

/// Follows Kafka frames (a 4-byte big-endian size, then that many bytes)
/// through a byte stream fed in arbitrary pieces, and notes each request's
/// correlation id (bytes 8 to 12 of a request frame).
#[derive(Debug, Default)]
struct FrameTracker {
    /// The first 12 bytes of the current frame, as far as seen.
    head: [u8; 12],
    /// Bytes of the current frame seen, size prefix included.
    pos: usize,
    /// The current frame's length with its prefix, once the prefix is in.
    total: Option<usize>,
    /// The correlation id of the last frame long enough to carry one.
    last_correlation_id: Option<i32>,
    /// A negative size was seen: the stream is not Kafka frames (the
    /// connection will fail on it); stop interpreting it.
    broken: bool,
}

impl FrameTracker {
    fn advance(&mut self, mut bytes: &[u8]) {
        while !bytes.is_empty() && !self.broken {
            let total = match self.total {
                Some(t) => t,
                None => {
                    let (prefix, rest) = bytes.split_at((4 - self.pos).min(bytes.len()));
                    self.record(prefix);
                    bytes = rest;
                    if self.pos < 4 {
                        return;
                    }
                    let size = i32::from_be_bytes([
                        self.head[0],
                        self.head[1],
                        self.head[2],
                        self.head[3],
                    ]);
                    match usize::try_from(size) {
                        Ok(size) => {
                            self.total = Some(size + 4);
                            size + 4
                        }
                        Err(_) => {
                            self.broken = true;
                            return;
                        }
                    }
                }
            };
            let (part, rest) = bytes.split_at((total - self.pos).min(bytes.len()));
            self.record(part);
            bytes = rest;
            if self.pos == total {
                if total >= 12 {
                    let h = &self.head;
                    self.last_correlation_id = Some(i32::from_be_bytes([h[8], h[9], h[10], h[11]]));
                }
                self.pos = 0;
                self.total = None;
            }
        }
    }

    /// Counts `bytes` as seen, keeping those among the first 12.
    fn record(&mut self, bytes: &[u8]) {
        for (i, b) in bytes.iter().enumerate() {
            if let Some(slot) = self.head.get_mut(self.pos + i) {
                *slot = *b;
            }
        }
        self.pos += bytes.len();
    }

    /// How many bytes remain of the current frame (or of its size prefix),
    /// or `None` between frames. A broken stream never reaches a boundary.
    fn until_boundary(&self) -> Option<usize> {
        if self.broken {
            return Some(usize::MAX);
        }
        match self.total {
            Some(total) => Some(total - self.pos),
            None if self.pos > 0 => Some(4 - self.pos),
            None => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(id: i32, body_len: usize) -> Vec<u8> {
        let mut f = Vec::new();
        f.extend_from_slice(&((8 + body_len) as i32).to_be_bytes());
        f.extend_from_slice(&[0, 3, 0, 12]);
        f.extend_from_slice(&id.to_be_bytes());
        f.extend(std::iter::repeat_n(7u8, body_len));
        f
    }

    #[test]
    fn tracker_follows_frames_fed_in_pieces() {
        let mut bytes = frame(5, 3);
        bytes.extend(frame(6, 0));
        bytes.extend(frame(-9, 20));
        for piece in 1..=bytes.len() {
            let mut t = FrameTracker::default();
            let mut boundaries = 0;
            for chunk in bytes.chunks(piece) {
                for &b in chunk {
                    t.advance(&[b]);
                    if t.until_boundary().is_none() {
                        boundaries += 1;
                    }
                }
            }
            assert_eq!(boundaries, 3, "piece size {piece}");
            assert_eq!(t.last_correlation_id, Some(-9));

            let mut t = FrameTracker::default();
            for chunk in bytes.chunks(piece) {
                t.advance(chunk);
            }
            assert_eq!(t.until_boundary(), None);
            assert_eq!(t.last_correlation_id, Some(-9));
        }
    }

    #[test]
    fn tracker_counts_what_is_left() {
        let mut t = FrameTracker::default();
        t.advance(&[0, 0]);
        assert_eq!(t.until_boundary(), Some(2));
        t.advance(&[0, 10, 1]);
        assert_eq!(t.until_boundary(), Some(9));
        t.advance(&[0; 9]);
        assert_eq!(t.until_boundary(), None);
        t.advance(&[0xff, 0xff, 0xff, 0xff]);
        assert!(t.broken);
        assert_eq!(t.until_boundary(), Some(usize::MAX));
    }

    #[test]
    fn schedule_is_85_to_95_percent() {
        let now = Instant::now();
        for _ in 0..100 {
            let at = schedule(now, Duration::from_secs(100)) - now;
            assert!(
                at >= Duration::from_secs(85) && at <= Duration::from_secs(95),
                "{at:?}"
            );
        }
    }
}
