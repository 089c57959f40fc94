//! Records as a `futures::Stream`.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use futures::Stream;

use super::Consumer;
use super::record::ConsumerRecord;
use crate::error::{Error, Result};

type RecordFuture<'a> = Pin<Box<dyn Future<Output = Result<ConsumerRecord>> + Send + 'a>>;

/// The records of a [`Consumer`], one at a time, from
/// [`Consumer::stream`].
///
/// Asking for the next item marks every record yielded before as
/// processed (what auto-commit and commit-on-revoke commit), so process a
/// record before polling for the next one. Errors are yielded as items and
/// the stream goes on; it ends once the consumer is closed.
pub struct RecordStream<'a> {
    consumer: &'a Consumer,
    next: Option<RecordFuture<'a>>,
}

impl<'a> RecordStream<'a> {
    pub(crate) fn new(consumer: &'a Consumer) -> Self {
        Self {
            consumer,
            next: None,
        }
    }
}

impl std::fmt::Debug for RecordStream<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RecordStream")
            .field("waiting", &self.next.is_some())
            .finish_non_exhaustive()
    }
}

impl Stream for RecordStream<'_> {
    type Item = Result<ConsumerRecord>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = self.get_mut();
        let consumer = this.consumer;
        let fut = this
            .next
            .get_or_insert_with(|| Box::pin(consumer.next_record()));
        match fut.as_mut().poll(cx) {
            Poll::Pending => Poll::Pending,
            Poll::Ready(result) => {
                this.next = None;
                match result {
                    Err(Error::Closed(_)) => Poll::Ready(None),
                    other => Poll::Ready(Some(other)),
                }
            }
        }
    }
}
