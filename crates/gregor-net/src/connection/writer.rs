//! The writer task: the only code that writes to the stream.
//!
//! Callers hand it whole, pre-encoded frames through a channel, so a caller
//! whose future is dropped can never leave half a frame on the wire: once a
//! frame is queued it is written in full by this task, whatever happens to
//! the caller.

use std::sync::Arc;

use tokio::io::{AsyncWrite, AsyncWriteExt, BufWriter};
use tokio::sync::mpsc;

use super::shared::{Outgoing, Shared};
use crate::error::Error;

/// Frames smaller than this are gathered into one write; larger ones go
/// straight to the stream (`BufWriter` bypasses its buffer for them), so
/// coalescing never copies a big Produce request.
const COALESCE_BYTES: usize = 64 * 1024;

/// At most this many queued frames are written before a flush, so callers
/// waiting to hear their one-way frame went out are not held up by a long
/// queue behind it.
const MAX_BATCH: usize = 64;

/// Runs until the connection dies or a write fails (which kills it).
pub(crate) async fn run<W: AsyncWrite + Unpin>(
    shared: Arc<Shared>,
    wr: W,
    mut rx: mpsc::UnboundedReceiver<Outgoing>,
) {
    let mut closed = shared.closed_signal();
    let mut wr = BufWriter::with_capacity(COALESCE_BYTES, wr);
    let mut written = Vec::with_capacity(MAX_BATCH);
    loop {
        let first = tokio::select! {
            biased;
            _ = closed.wait_for(|dead| *dead) => return,
            next = rx.recv() => match next {
                Some(out) => out,
                None => return,
            },
        };
        // Abandoning a write halfway is fine only because the connection is
        // already dead when `closed` fires: nothing else will be written.
        let result = tokio::select! {
            biased;
            _ = closed.wait_for(|dead| *dead) => return,
            r = write_batch(&mut wr, first, &mut rx, &mut written) => r,
        };
        if let Err(e) = result {
            shared.fail(Error::Io {
                broker: shared.broker.clone(),
                source: Arc::new(e),
            });
            return;
        }
        for out in written.drain(..) {
            if let Some(tx) = out.written {
                // The caller may have stopped waiting; the frame went out
                // all the same.
                let _ = tx.send(());
            }
        }
    }
}

/// Writes `first` and whatever else is already queued (up to
/// [`MAX_BATCH`]), then flushes once.
async fn write_batch<W: AsyncWrite + Unpin>(
    wr: &mut BufWriter<W>,
    first: Outgoing,
    rx: &mut mpsc::UnboundedReceiver<Outgoing>,
    written: &mut Vec<Outgoing>,
) -> std::io::Result<()> {
    let mut next = Some(first);
    while let Some(out) = next.take() {
        wr.write_all(&out.frame).await?;
        written.push(out);
        if written.len() < MAX_BATCH {
            next = rx.try_recv().ok();
        }
    }
    wr.flush().await
}
