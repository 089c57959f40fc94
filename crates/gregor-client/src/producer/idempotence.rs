//! The idempotent producer: a producer id and epoch from InitProducerId,
//! per-partition sequence numbers, and the epoch bump that recovers from a
//! sequence gap (KIP-360, as the Java client's `TransactionManager` does
//! for producers without a transactional id).
//!
//! Sequences are assigned when a batch is first drained into a request, in
//! queue order, and kept across retries so the broker can drop a duplicate.
//! When the broker reports `OUT_OF_ORDER_SEQUENCE_NUMBER` for the batch it
//! should accept next, or `UNKNOWN_PRODUCER_ID`, or a batch that had a
//! sequence fails for good (leaving a gap), the producer asks for a bump:
//! sending stops, requests in flight finish, InitProducerId with the
//! current id and epoch returns a new epoch, and every partition starts
//! again from sequence 0 (lazily, the next time it is drained), with
//! queued batches re-stamped.

use std::sync::Mutex;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use gregor_net::{Backoff, BackoffPolicy, Cluster};
use gregor_protocol::messages::InitProducerIdRequest;
use gregor_protocol::{ApiKey, ErrorCode};
use tokio::sync::Notify;
use tokio::time::Instant;

use super::accumulator::lock;

/// A producer id and epoch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct ProducerIdent {
    pub(crate) id: i64,
    pub(crate) epoch: i16,
}

/// The producer state a batch was (or will be) sent with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct BatchSequence {
    pub(crate) producer: ProducerIdent,
    pub(crate) base_sequence: i32,
}

/// `sequence + increment`, wrapping from `i32::MAX` to 0 as Kafka's
/// sequences do.
pub(crate) fn increment(sequence: i32, increment: i32) -> i32 {
    if sequence > i32::MAX - increment {
        increment - (i32::MAX - sequence) - 1
    } else {
        sequence + increment
    }
}

/// One partition's sequence bookkeeping.
#[derive(Debug, Clone, Copy)]
pub(crate) struct SequenceState {
    /// The producer the numbers below belong to.
    producer: Option<ProducerIdent>,
    /// The sequence of the next new batch.
    next: i32,
    /// The last sequence the broker acknowledged, -1 if none.
    last_acked: i32,
}

impl Default for SequenceState {
    fn default() -> Self {
        Self {
            producer: None,
            next: 0,
            last_acked: -1,
        }
    }
}

impl SequenceState {
    /// Gives a batch of `records` its sequence under `producer`: kept if it
    /// already has one from this producer (a retry), else the next one.
    /// A new producer (an epoch bump) starts the partition over at 0.
    /// Returns whether the batch's bytes (if built) must be re-stamped.
    pub(crate) fn assign(
        &mut self,
        producer: ProducerIdent,
        batch: &mut Option<BatchSequence>,
        records: u32,
    ) -> bool {
        if self.producer != Some(producer) {
            *self = SequenceState {
                producer: Some(producer),
                ..SequenceState::default()
            };
        }
        if let Some(s) = batch
            && s.producer == producer
        {
            return false;
        }
        let had = batch.is_some();
        *batch = Some(BatchSequence {
            producer,
            base_sequence: self.next,
        });
        self.next = increment(self.next, records as i32);
        had
    }

    /// Whether `seq` is the batch the broker should accept next: the one
    /// right after the last acknowledged.
    pub(crate) fn is_next(&self, seq: BatchSequence) -> bool {
        self.producer == Some(seq.producer) && increment(self.last_acked, 1) == seq.base_sequence
    }

    /// Records that the broker acknowledged the batch `seq` of `records`.
    pub(crate) fn acked(&mut self, seq: BatchSequence, records: u32) {
        if self.producer == Some(seq.producer) {
            self.last_acked = increment(seq.base_sequence, records as i32 - 1);
        }
    }

    #[cfg(test)]
    pub(crate) fn next(&self) -> i32 {
        self.next
    }
}

/// Copies a built batch with another producer id, epoch and base sequence
/// (after an epoch bump), fixing its CRC.
pub(crate) fn restamp(batch: &Bytes, seq: BatchSequence) -> Bytes {
    // Offsets in the v2 header (see gregor_protocol::records::batch).
    const CRC: usize = 17;
    const ATTRIBUTES: usize = 21;
    const PRODUCER_ID: usize = 43;
    const EPOCH: usize = 51;
    const SEQUENCE: usize = 53;
    let mut b = BytesMut::from(&batch[..]);
    if b.len() < 61 {
        return batch.clone();
    }
    b[PRODUCER_ID..PRODUCER_ID + 8].copy_from_slice(&seq.producer.id.to_be_bytes());
    b[EPOCH..EPOCH + 2].copy_from_slice(&seq.producer.epoch.to_be_bytes());
    b[SEQUENCE..SEQUENCE + 4].copy_from_slice(&seq.base_sequence.to_be_bytes());
    let crc = crc32c::crc32c(&b[ATTRIBUTES..]);
    b[CRC..CRC + 4].copy_from_slice(&crc.to_be_bytes());
    b.freeze()
}

/// Where the producer id stands.
#[derive(Debug, Clone)]
enum Status {
    /// None yet (or a failed attempt to get one): one must be fetched.
    Needed,
    /// InitProducerId is running.
    Fetching,
    Ready(ProducerIdent),
    /// A sequence gap: stop sending, then bump this producer's epoch.
    BumpNeeded(ProducerIdent),
    /// Bumping.
    Bumping,
    /// No producer id can be had (authorization, an old broker).
    Fatal(gregor_net::Error),
}

/// The producer id state machine, shared by the senders (which read it
/// and request bumps) and the task that runs InitProducerId.
#[derive(Debug)]
pub(crate) struct Idempotence {
    status: Mutex<Status>,
    /// Woken when a bump is requested or the id changes.
    pub(crate) changed: Notify,
}

/// What a sender may do now.
#[derive(Debug, Clone)]
pub(crate) enum Gate {
    /// Send with this producer id.
    Send(ProducerIdent),
    /// Send nothing new: the id is being fetched or bumped.
    Wait,
    /// Nothing can ever be sent.
    Fatal(gregor_net::Error),
}

/// The work the InitProducerId task should start, if any.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Work {
    Fetch,
    Bump(ProducerIdent),
}

impl Default for Idempotence {
    fn default() -> Self {
        Self {
            status: Mutex::new(Status::Needed),
            changed: Notify::new(),
        }
    }
}

impl Idempotence {
    pub(crate) fn gate(&self) -> Gate {
        match &*lock(&self.status) {
            Status::Ready(p) => Gate::Send(*p),
            Status::Fatal(e) => Gate::Fatal(e.clone()),
            _ => Gate::Wait,
        }
    }

    /// Asks for an epoch bump, if `seen` is still the current producer (a
    /// bump already done for an older epoch is not repeated).
    pub(crate) fn request_bump(&self, seen: ProducerIdent) {
        let mut st = lock(&self.status);
        if matches!(&*st, Status::Ready(p) if *p == seen) {
            tracing::info!(
                producer_id = seen.id,
                epoch = seen.epoch,
                "sequence gap: bumping the producer epoch"
            );
            *st = Status::BumpNeeded(seen);
            drop(st);
            self.changed.notify_waiters();
        }
    }

    /// Claims the pending work, if there is some and `idle` (no request in
    /// flight) allows it: a bump waits until nothing is in flight.
    pub(crate) fn claim(&self, idle: bool) -> Option<Work> {
        let mut st = lock(&self.status);
        match &*st {
            Status::Needed => {
                *st = Status::Fetching;
                Some(Work::Fetch)
            }
            Status::BumpNeeded(p) if idle => {
                let p = *p;
                *st = Status::Bumping;
                Some(Work::Bump(p))
            }
            _ => None,
        }
    }

    /// Records the outcome of claimed work.
    pub(crate) fn finish(&self, work: Work, result: Result<ProducerIdent, gregor_net::Error>) {
        let mut st = lock(&self.status);
        *st = match result {
            Ok(p) => {
                tracing::info!(producer_id = p.id, epoch = p.epoch, "producer id ready");
                Status::Ready(p)
            }
            Err(e) if e.is_retriable() => match work {
                Work::Fetch => Status::Needed,
                Work::Bump(p) => Status::BumpNeeded(p),
            },
            Err(e) => {
                tracing::error!(error = %e, "cannot get a producer id");
                Status::Fatal(e)
            }
        };
        drop(st);
        self.changed.notify_waiters();
    }

    /// Whether a fetch or bump is pending or running.
    #[cfg(test)]
    pub(crate) fn busy(&self) -> bool {
        !matches!(&*lock(&self.status), Status::Ready(_) | Status::Fatal(_))
    }
}

/// Runs InitProducerId (without a transactional id) until it succeeds, fails
/// for good or `deadline` passes: with `current` to bump its epoch (v3+),
/// else for a new id.
pub(crate) async fn init_producer_id(
    cluster: &Cluster,
    current: Option<ProducerIdent>,
    policy: BackoffPolicy,
    deadline: Instant,
) -> Result<ProducerIdent, gregor_net::Error> {
    let mut backoff = Backoff::new(policy);
    // An exhausted epoch cannot be bumped: a new id it is.
    let mut bump = current.filter(|p| p.epoch < i16::MAX);
    loop {
        let err = match attempt(cluster, bump).await {
            Ok(p) => return Ok(p),
            Err(e) => e,
        };
        cluster.on_error(&err);
        if let gregor_net::Error::Broker { code, .. } = &err
            && bump.is_some()
            && matches!(
                code,
                ErrorCode::ProducerFenced
                    | ErrorCode::InvalidProducerEpoch
                    | ErrorCode::InvalidProducerIdMapping
                    | ErrorCode::UnknownProducerId
            )
        {
            tracing::info!(error = %err, "cannot bump the epoch; asking for a new producer id");
            bump = None;
            continue;
        }
        let now = Instant::now();
        if !err.is_retriable() || now >= deadline {
            return Err(err);
        }
        let delay = backoff.next_delay().min(deadline - now);
        tracing::debug!(error = %err, retry_in = ?delay, "InitProducerId failed; retrying");
        tokio::time::sleep(delay).await;
    }
}

async fn attempt(
    cluster: &Cluster,
    bump: Option<ProducerIdent>,
) -> Result<ProducerIdent, gregor_net::Error> {
    let conn = cluster.any_connection().await?;
    let version = conn.version_for(ApiKey::InitProducerId).unwrap_or(0);
    let mut req = InitProducerIdRequest::default();
    req.transactional_id = None;
    req.transaction_timeout_ms = i32::MAX;
    if let Some(p) = bump.filter(|_| version >= 3) {
        req.producer_id = p.id;
        req.producer_epoch = p.epoch;
    }
    let resp = conn.send(&req).await?;
    gregor_net::Error::check_code(conn.broker(), ApiKey::InitProducerId, resp.error_code)?;
    Ok(ProducerIdent {
        id: resp.producer_id,
        epoch: resp.producer_epoch,
    })
}

/// How long one round of InitProducerId may keep retrying before the
/// producer gives up for now (and tries again on the next need).
pub(crate) const INIT_ROUND: Duration = Duration::from_secs(30);

#[cfg(test)]
mod tests {
    use super::*;
    use gregor_protocol::records::{DecodeOptions, RecordBatchBuilder, decode_records};

    const P1: ProducerIdent = ProducerIdent { id: 7, epoch: 0 };
    const P2: ProducerIdent = ProducerIdent { id: 7, epoch: 1 };

    #[test]
    fn sequences_wrap_like_kafkas() {
        assert_eq!(increment(0, 5), 5);
        assert_eq!(increment(i32::MAX - 1, 1), i32::MAX);
        assert_eq!(increment(i32::MAX, 1), 0);
        assert_eq!(increment(i32::MAX - 2, 5), 2);
    }

    #[test]
    fn batches_get_consecutive_sequences_and_keep_them_on_retry() {
        let mut s = SequenceState::default();
        let (mut a, mut b) = (None, None);
        assert!(!s.assign(P1, &mut a, 10));
        assert!(!s.assign(P1, &mut b, 5));
        assert_eq!(a.unwrap().base_sequence, 0);
        assert_eq!(b.unwrap().base_sequence, 10);
        assert_eq!(s.next(), 15);
        assert!(s.is_next(a.unwrap()));
        assert!(!s.is_next(b.unwrap()));
        // A retry keeps its number.
        assert!(!s.assign(P1, &mut a, 10));
        assert_eq!(a.unwrap().base_sequence, 0);
        s.acked(a.unwrap(), 10);
        assert!(s.is_next(b.unwrap()));
        s.acked(b.unwrap(), 5);
        // A bump starts over; old batches must be re-stamped.
        let mut c = b;
        assert!(s.assign(P2, &mut c, 5));
        assert_eq!(
            c.unwrap(),
            BatchSequence {
                producer: P2,
                base_sequence: 0
            }
        );
        assert!(s.is_next(c.unwrap()));
        assert!(!s.is_next(b.unwrap()));
    }

    #[test]
    fn restamping_rewrites_the_producer_fields_and_crc() {
        let mut builder = RecordBatchBuilder::new().producer_state(P1.id, P1.epoch, 40);
        builder.append(1, Some(b"k"), Some(b"v"), &[]).unwrap();
        builder.append(2, None, Some(b"w"), &[]).unwrap();
        let built = builder.build().unwrap();
        let seq = BatchSequence {
            producer: ProducerIdent { id: 99, epoch: 3 },
            base_sequence: 0,
        };
        let again = restamp(&built, seq);
        let decoded = decode_records(again, &DecodeOptions::new()).unwrap();
        let batch = &decoded.batches[0];
        assert_eq!(batch.producer_id, 99);
        assert_eq!(batch.producer_epoch, 3);
        assert_eq!(batch.base_sequence, 0);
        assert_eq!(batch.records.len(), 2);
    }

    #[test]
    fn the_state_machine_fetches_then_bumps_when_idle() {
        let id = Idempotence::default();
        assert!(matches!(id.gate(), Gate::Wait));
        assert!(matches!(id.claim(false), Some(Work::Fetch)));
        assert!(id.claim(true).is_none(), "claimed once");
        id.finish(Work::Fetch, Ok(P1));
        assert!(matches!(id.gate(), Gate::Send(P1)));
        id.request_bump(P1);
        assert!(matches!(id.gate(), Gate::Wait));
        assert!(
            id.claim(false).is_none(),
            "a bump waits for the requests in flight"
        );
        let work = id.claim(true).unwrap();
        assert!(matches!(work, Work::Bump(P1)));
        id.finish(work, Ok(P2));
        // A late request for the old epoch does nothing.
        id.request_bump(P1);
        assert!(matches!(id.gate(), Gate::Send(P2)));
        id.request_bump(P2);
        let work = id.claim(true).unwrap();
        id.finish(work, Err(gregor_net::Error::ClusterClosed));
        assert!(matches!(id.gate(), Gate::Fatal(_)));
        assert!(!id.busy());
    }
}
