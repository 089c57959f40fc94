//! Delivery: the future each sent record gets, the reports, and the errors
//! that say whether a record may have been written.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex, OnceLock};
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use super::record::RecordMetadata;

/// Whether a record that failed may be in the log anyway.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Persistence {
    /// Certainly not written: it was never sent, or the broker refused it.
    /// Sending it again cannot duplicate it.
    NotPersisted,
    /// Possibly written: a request carrying it got no answer (a timeout,
    /// a lost connection). Sending it again may duplicate it.
    PossiblyPersisted,
}

/// Why a record was not delivered.
#[non_exhaustive]
#[derive(Debug, Clone)]
pub enum ProduceErrorKind {
    /// [`try_send`](super::Producer::try_send) found no room in the buffer,
    /// or [`send`](super::Producer::send) waited the metadata wait bound
    /// for room in vain.
    BufferFull {
        /// The buffer's size, `buffer_memory`.
        buffer_memory: usize,
    },
    /// The record is larger than the largest request (or the buffer).
    RecordTooLarge {
        /// Its size in a batch, in bytes.
        size: usize,
        /// The limit it broke.
        max: usize,
        /// Which setting that limit is, e.g. `max_request_size`.
        setting: &'static str,
    },
    /// The topic is not in the cluster's metadata, after waiting for it
    /// the metadata wait bound.
    UnknownTopic {
        /// How long the producer waited.
        waited: Duration,
    },
    /// The topic's metadata is not loaded yet and
    /// [`try_send`](super::Producer::try_send) does not wait; it started
    /// loading. Try again, or use [`send`](super::Producer::send).
    MetadataPending,
    /// The record names (or the partitioner chose) a partition the topic
    /// does not have.
    UnknownPartition {
        /// The partitions the topic has.
        partitions: i32,
    },
    /// Not delivered within the delivery timeout, retries included.
    Timeout {
        /// The delivery timeout.
        after: Duration,
        /// The last error of a failed attempt, if there was one.
        last_error: Option<Box<gregor_net::Error>>,
    },
    /// The producer was closed before the record was delivered.
    Closed,
    /// The broker refused the batch with an error retrying cannot fix
    /// (`MESSAGE_TOO_LARGE`, `INVALID_RECORD`, `TOPIC_AUTHORIZATION_FAILED`,
    /// ...), or the network layer failed for good (the cluster closed).
    Broker(Box<gregor_net::Error>),
    /// The record could not be encoded into a batch.
    Encode(Box<gregor_protocol::Error>),
    /// The idempotent producer could not get a producer id (for example
    /// `CLUSTER_AUTHORIZATION_FAILED`): nothing can be sent.
    ProducerId(Box<gregor_net::Error>),
}

/// A record that was not delivered: why, whether it may have been written
/// anyway, and where it was going.
///
/// ```
/// use gregor_client::producer::{Persistence, ProduceError};
///
/// fn may_resend(e: &ProduceError) -> bool {
///     // Only resend what certainly is not in the log, to avoid duplicates.
///     e.persisted == Persistence::NotPersisted && e.is_retriable()
/// }
/// # let _ = may_resend;
/// ```
#[non_exhaustive]
#[derive(Debug, Clone)]
pub struct ProduceError {
    /// What went wrong.
    pub kind: ProduceErrorKind,
    /// Whether the record may have been written anyway.
    pub persisted: Persistence,
    /// The topic.
    pub topic: Arc<str>,
    /// The partition, once one was chosen.
    pub partition: Option<i32>,
}

impl ProduceError {
    pub(crate) fn new(
        kind: ProduceErrorKind,
        persisted: Persistence,
        topic: impl Into<Arc<str>>,
        partition: Option<i32>,
    ) -> Self {
        Self {
            kind,
            persisted,
            topic: topic.into(),
            partition,
        }
    }

    /// A record certainly not written.
    pub(crate) fn not_sent(kind: ProduceErrorKind, topic: &str, partition: Option<i32>) -> Self {
        Self::new(kind, Persistence::NotPersisted, topic, partition)
    }

    /// Whether sending the record again may succeed: true for a full
    /// buffer, pending metadata, timeouts and retriable broker errors.
    pub fn is_retriable(&self) -> bool {
        match &self.kind {
            ProduceErrorKind::BufferFull { .. }
            | ProduceErrorKind::MetadataPending
            | ProduceErrorKind::Timeout { .. }
            | ProduceErrorKind::UnknownTopic { .. } => true,
            ProduceErrorKind::Broker(e) | ProduceErrorKind::ProducerId(e) => e.is_retriable(),
            ProduceErrorKind::RecordTooLarge { .. }
            | ProduceErrorKind::UnknownPartition { .. }
            | ProduceErrorKind::Closed
            | ProduceErrorKind::Encode(_) => false,
        }
    }
}

impl fmt::Display for ProduceError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "record for topic {}", self.topic)?;
        if let Some(p) = self.partition {
            write!(f, " partition {p}")?;
        }
        f.write_str(" not delivered: ")?;
        match &self.kind {
            ProduceErrorKind::BufferFull { buffer_memory } => write!(
                f,
                "the producer's buffer ({buffer_memory} bytes, buffer_memory) is full"
            )?,
            ProduceErrorKind::RecordTooLarge { size, max, setting } => write!(
                f,
                "the record is {size} bytes in a batch, more than {setting} ({max} bytes)"
            )?,
            ProduceErrorKind::UnknownTopic { waited } => write!(
                f,
                "the topic does not exist (not in the metadata after waiting {waited:?})"
            )?,
            ProduceErrorKind::MetadataPending => {
                f.write_str("the topic's metadata is still loading; try again")?;
            }
            ProduceErrorKind::UnknownPartition { partitions } => {
                write!(f, "the topic has no such partition (it has {partitions})")?;
            }
            ProduceErrorKind::Timeout { after, last_error } => {
                write!(
                    f,
                    "not acknowledged within the delivery timeout ({after:?})"
                )?;
                if let Some(e) = last_error {
                    write!(f, "; last error: {e}")?;
                }
            }
            ProduceErrorKind::Closed => f.write_str("the producer was closed")?,
            ProduceErrorKind::Broker(e) => write!(f, "{e}")?,
            ProduceErrorKind::Encode(e) => write!(f, "cannot encode the record: {e}")?,
            ProduceErrorKind::ProducerId(e) => {
                write!(f, "the idempotent producer got no producer id: {e}")?;
            }
        }
        match self.persisted {
            Persistence::NotPersisted => f.write_str(" (certainly not written)"),
            Persistence::PossiblyPersisted => f.write_str(" (possibly written)"),
        }
    }
}

impl std::error::Error for ProduceError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match &self.kind {
            ProduceErrorKind::Broker(e) | ProduceErrorKind::ProducerId(e) => Some(&**e),
            ProduceErrorKind::Timeout {
                last_error: Some(e),
                ..
            } => Some(&**e),
            ProduceErrorKind::Encode(e) => Some(&**e),
            _ => None,
        }
    }
}

/// What the broker said about a whole batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Acked {
    /// The first record's offset, if known.
    pub(crate) base_offset: Option<i64>,
    /// The broker's append time, when the topic uses `LogAppendTime`.
    pub(crate) log_append_time: Option<i64>,
}

pub(crate) type Outcome = Result<Acked, ProduceError>;

/// The completion of one batch, shared by the futures of its records: one
/// allocation per batch, none per record.
#[derive(Debug, Default)]
pub(crate) struct BatchShared {
    outcome: OnceLock<Outcome>,
    wakers: Mutex<Vec<Waker>>,
}

impl BatchShared {
    /// Publishes the outcome and wakes every waiting record. Later calls
    /// are ignored: a batch completes once.
    pub(crate) fn complete(&self, outcome: Outcome) {
        if self.outcome.set(outcome).is_err() {
            return;
        }
        let wakers = std::mem::take(&mut *self.wakers.lock().unwrap_or_else(|p| p.into_inner()));
        for w in wakers {
            w.wake();
        }
    }

    pub(crate) fn outcome(&self) -> Option<&Outcome> {
        self.outcome.get()
    }

    fn poll(&self, cx: &mut Context<'_>) -> Option<&Outcome> {
        if let Some(o) = self.outcome.get() {
            return Some(o);
        }
        let mut wakers = self.wakers.lock().unwrap_or_else(|p| p.into_inner());
        // Checked again under the lock: `complete` sets the outcome before
        // taking the wakers, so either it is visible now or our waker will
        // be taken.
        if let Some(o) = self.outcome.get() {
            return Some(o);
        }
        if !wakers.iter().any(|w| w.will_wake(cx.waker())) {
            wakers.push(cx.waker().clone());
        }
        None
    }
}

/// The delivery of one queued record: resolves to where it was written,
/// or why it was not.
///
/// Dropping it does not cancel anything: the record is sent all the same
/// (fire and forget). Cancel-safe.
#[must_use = "a record is sent whether or not its delivery is awaited; await it to learn the outcome"]
pub struct DeliveryFuture {
    pub(crate) batch: Arc<BatchShared>,
    pub(crate) topic: Arc<str>,
    pub(crate) partition: i32,
    pub(crate) index: u32,
    pub(crate) timestamp: i64,
}

impl fmt::Debug for DeliveryFuture {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DeliveryFuture")
            .field("topic", &self.topic)
            .field("partition", &self.partition)
            .field("done", &self.batch.outcome().is_some())
            .finish_non_exhaustive()
    }
}

impl DeliveryFuture {
    /// The partition the record was queued to.
    pub fn partition(&self) -> i32 {
        self.partition
    }

    /// The topic.
    pub fn topic(&self) -> &str {
        &self.topic
    }

    /// The outcome if the record's batch has completed, without waiting.
    pub fn try_result(&self) -> Option<Result<RecordMetadata, ProduceError>> {
        self.batch.outcome().map(|o| self.resolve(o))
    }

    fn resolve(&self, outcome: &Outcome) -> Result<RecordMetadata, ProduceError> {
        match outcome {
            Ok(acked) => Ok(RecordMetadata {
                topic: self.topic.clone(),
                partition: self.partition,
                offset: acked
                    .base_offset
                    .map(|b| b.saturating_add(i64::from(self.index))),
                timestamp: acked.log_append_time.unwrap_or(self.timestamp),
            }),
            Err(e) => Err(e.clone()),
        }
    }
}

impl Future for DeliveryFuture {
    type Output = Result<RecordMetadata, ProduceError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        match this.batch.poll(cx) {
            Some(o) => Poll::Ready(this.resolve(o)),
            None => Poll::Pending,
        }
    }
}

/// The outcome of one record, for a delivery-report callback or channel
/// (cn-infra's and dp-kafka's asynchronous producers; rust-rdkafka's
/// delivery callback).
#[non_exhaustive]
#[derive(Debug, Clone)]
pub struct DeliveryReport {
    /// The caller's number from [`ProducerRecord::opaque`](super::ProducerRecord::opaque)
    /// (0 if none was set).
    pub opaque: u64,
    /// Where it was written, or why not.
    pub result: Result<RecordMetadata, ProduceError>,
}

/// Where delivery reports go.
#[derive(Clone)]
pub(crate) enum ReportSink {
    Callback(Arc<dyn Fn(DeliveryReport) + Send + Sync>),
    Channel(tokio::sync::mpsc::UnboundedSender<DeliveryReport>),
}

impl fmt::Debug for ReportSink {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ReportSink::Callback(_) => f.write_str("Callback"),
            ReportSink::Channel(_) => f.write_str("Channel"),
        }
    }
}

/// Which records get a delivery report.
#[derive(Debug, Clone)]
pub(crate) struct Reports {
    pub(crate) sink: ReportSink,
    pub(crate) errors_only: bool,
}

impl Reports {
    /// Reports every record of a completed batch: `stamps` holds each
    /// record's (timestamp, opaque) in batch order.
    pub(crate) fn report(
        &self,
        topic: &Arc<str>,
        partition: i32,
        stamps: &[(i64, u64)],
        outcome: &Outcome,
    ) {
        if self.errors_only && outcome.is_ok() {
            return;
        }
        for (index, (timestamp, opaque)) in stamps.iter().enumerate() {
            let result = match outcome {
                Ok(acked) => Ok(RecordMetadata {
                    topic: topic.clone(),
                    partition,
                    offset: acked.base_offset.map(|b| b.saturating_add(index as i64)),
                    timestamp: acked.log_append_time.unwrap_or(*timestamp),
                }),
                Err(e) => Err(e.clone()),
            };
            let report = DeliveryReport {
                opaque: *opaque,
                result,
            };
            match &self.sink {
                ReportSink::Callback(f) => f(report),
                ReportSink::Channel(tx) => {
                    // A receiver that is gone wants no more reports.
                    let _ = tx.send(report);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn future(batch: &Arc<BatchShared>, index: u32) -> DeliveryFuture {
        DeliveryFuture {
            batch: batch.clone(),
            topic: "t".into(),
            partition: 2,
            index,
            timestamp: 77,
        }
    }

    #[tokio::test]
    async fn every_record_of_a_batch_resolves_from_one_completion() {
        let batch = Arc::new(BatchShared::default());
        let f0 = future(&batch, 0);
        let f3 = future(&batch, 3);
        assert!(f0.try_result().is_none());
        let waiter = tokio::spawn(f3);
        tokio::task::yield_now().await;
        batch.complete(Ok(Acked {
            base_offset: Some(100),
            log_append_time: None,
        }));
        // A second completion is ignored.
        batch.complete(Ok(Acked {
            base_offset: Some(5),
            log_append_time: None,
        }));
        let m3 = waiter.await.unwrap().unwrap();
        assert_eq!((m3.partition, m3.offset, m3.timestamp), (2, Some(103), 77));
        let m0 = f0.await.unwrap();
        assert_eq!(m0.offset, Some(100));
    }

    #[tokio::test]
    async fn failures_carry_persistence_topic_and_partition() {
        let batch = Arc::new(BatchShared::default());
        let f = future(&batch, 0);
        batch.complete(Err(ProduceError::new(
            ProduceErrorKind::Timeout {
                after: Duration::from_secs(120),
                last_error: None,
            },
            Persistence::PossiblyPersisted,
            "t",
            Some(2),
        )));
        let e = f.await.unwrap_err();
        assert_eq!(e.persisted, Persistence::PossiblyPersisted);
        assert!(e.is_retriable());
        let text = e.to_string();
        assert!(text.contains("topic t partition 2"), "{text}");
        assert!(text.contains("possibly written"), "{text}");
        let full = ProduceError::not_sent(
            ProduceErrorKind::BufferFull { buffer_memory: 10 },
            "t",
            None,
        );
        assert!(full.to_string().contains("buffer_memory"), "{full}");
        assert!(full.to_string().contains("certainly not written"), "{full}");
    }

    #[test]
    fn reports_go_per_record_with_offsets_and_opaques() {
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
        let reports = Reports {
            sink: ReportSink::Channel(tx),
            errors_only: false,
        };
        let topic: Arc<str> = "t".into();
        let ok = Ok(Acked {
            base_offset: Some(10),
            log_append_time: Some(999),
        });
        reports.report(&topic, 1, &[(1, 7), (2, 8)], &ok);
        let a = rx.try_recv().unwrap();
        let b = rx.try_recv().unwrap();
        assert_eq!(a.opaque, 7);
        assert_eq!(b.result.as_ref().unwrap().offset, Some(11));
        assert_eq!(b.result.unwrap().timestamp, 999);
        let errors = Reports {
            errors_only: true,
            ..reports
        };
        errors.report(&topic, 1, &[(1, 7)], &ok);
        assert!(rx.try_recv().is_err());
    }
}
