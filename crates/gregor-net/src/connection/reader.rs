//! The reader task: splits the incoming byte stream into frames and hands
//! each to the oldest request in flight, and runs the connection's timers.

use std::sync::Arc;

use bytes::BytesMut;
use gregor_protocol::frame::{FrameDecoder, SIZE_PREFIX_LEN};
use gregor_protocol::request::response_correlation_id;
use tokio::io::{AsyncRead, AsyncReadExt};
use tokio::time::{Duration, Instant};

use super::shared::{Shared, TimerOutcome};
use crate::error::{CloseReason, Error, Result};

/// Bytes asked of the OS per read when no frame size says more. Big enough
/// that a burst of small responses takes one read, small enough not to
/// matter per connection.
const READ_CHUNK: usize = 64 * 1024;

/// Standing in for "no timer": far enough never to fire, near enough that
/// adding it to `Instant::now()` cannot overflow.
const FAR_FUTURE: Duration = Duration::from_secs(100 * 365 * 24 * 3600);

/// Runs until the connection dies, failing it (and so every request in
/// flight) on EOF, read errors, bad frames, out-of-order responses and
/// timeouts.
pub(crate) async fn run<R: AsyncRead + Unpin>(shared: Arc<Shared>, mut rd: R) {
    let mut closed = shared.closed_signal();
    let mut decoder = FrameDecoder::new().with_max_frame_size(shared.config.max_frame_size());
    let mut buf = BytesMut::with_capacity(READ_CHUNK);
    let timer = tokio::time::sleep(FAR_FUTURE);
    tokio::pin!(timer);
    let mut armed_for = None;

    loop {
        let deadline = shared.next_deadline();
        if deadline != armed_for {
            armed_for = deadline;
            let at = deadline.unwrap_or_else(|| Instant::now() + FAR_FUTURE);
            timer.as_mut().reset(at);
        }
        if buf.capacity() - buf.len() < READ_CHUNK / 4 {
            buf.reserve(READ_CHUNK);
        }

        // Timers before the read: a deadline that has passed fires even if
        // bytes keep arriving.
        tokio::select! {
            biased;
            _ = closed.wait_for(|dead| *dead) => return,
            () = &mut timer => {
                armed_for = None;
                if let TimerOutcome::Failed = shared.on_timer(Instant::now()) {
                    return;
                }
            }
            () = shared.reader_wake.notified() => {}
            read = rd.read_buf(&mut buf) => {
                let outcome = match read {
                    Ok(0) => Err(Error::Closed {
                        broker: shared.broker.clone(),
                        reason: eof_reason(&buf),
                    }),
                    Ok(_) => route_frames(&shared, &mut decoder, &mut buf),
                    Err(e) => Err(Error::Io {
                        broker: shared.broker.clone(),
                        source: Arc::new(e),
                    }),
                };
                if let Err(e) = outcome {
                    shared.fail(e);
                    return;
                }
            }
        }
    }
}

/// Hands every complete frame in `buf` to its request.
fn route_frames(shared: &Shared, decoder: &mut FrameDecoder, buf: &mut BytesMut) -> Result<()> {
    let protocol = |source| Error::Protocol {
        broker: shared.broker.clone(),
        api: shared.front_api(),
        source,
    };
    while let Some(frame) = decoder.decode(buf).map_err(protocol)? {
        let correlation_id = response_correlation_id(&frame).map_err(protocol)?;
        let pending = shared.take_response(correlation_id)?;
        tracing::debug!(
            broker = %shared.broker,
            api = %pending.api,
            version = pending.version,
            correlation_id,
            bytes = frame.len(),
            "received response"
        );
        let (api, version) = (pending.api, pending.version);
        if !pending.deliver(Ok(frame)) {
            tracing::debug!(
                broker = %shared.broker,
                %api,
                version,
                correlation_id,
                "discarded the response to a cancelled request"
            );
        }
    }
    Ok(())
}

/// Why the stream ended, judged by what is left unconsumed in the buffer.
fn eof_reason(buf: &[u8]) -> CloseReason {
    if buf.is_empty() {
        return CloseReason::ByPeer;
    }
    let expected = buf
        .first_chunk::<SIZE_PREFIX_LEN>()
        .and_then(|p| usize::try_from(i32::from_be_bytes(*p)).ok())
        .map(|size| size.saturating_add(SIZE_PREFIX_LEN));
    CloseReason::ByPeerMidFrame {
        received: buf.len(),
        expected,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn eof_reasons() {
        assert_eq!(eof_reason(&[]), CloseReason::ByPeer);
        assert_eq!(
            eof_reason(&[0, 0]),
            CloseReason::ByPeerMidFrame {
                received: 2,
                expected: None
            }
        );
        assert_eq!(
            eof_reason(&[0, 0, 0, 10, 1, 2]),
            CloseReason::ByPeerMidFrame {
                received: 6,
                expected: Some(14)
            }
        );
    }
}
