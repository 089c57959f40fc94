//! One sender task per broker: drains the ready batches of the partitions
//! the broker leads into Produce requests (one request holding a batch of
//! each of many partitions), keeps up to `max_in_flight` of them in flight
//! on the broker's pipelined connection, and completes, retries or fails
//! each batch from the answer.
//!
//! A batch is ready when it is full (or a later batch exists), its linger
//! has passed, or the producer is flushing, closing or out of buffer. A
//! partition with a batch waiting to be retried sends one batch at a time,
//! and only once its earlier requests have answered. With idempotence the
//! broker refuses any batch that would jump the queue
//! (`OUT_OF_ORDER_SEQUENCE_NUMBER`, retried behind the failed one) and drops
//! duplicates, so each partition is written exactly once, in order. Without
//! it, a batch that was in flight behind a failed one may be written first,
//! as in the Java client with more than one request in flight.
//!
//! The task owns its requests' futures and the batches in them; it holds no
//! lock across an await. Responses are matched to batches by topic and
//! partition.

use std::collections::HashMap;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::StreamExt;
use futures::stream::FuturesUnordered;
use gregor_net::{Backoff, BrokerId, Connection};
use gregor_protocol::messages::ProduceRequest;
use gregor_protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
use gregor_protocol::messages::produce_response::PartitionProduceResponse;
use gregor_protocol::{ApiKey, ErrorCode, StrBytes};
use tokio::sync::Notify;
use tokio::time::Instant;
use tracing::Instrument;

use super::Shared;
use super::accumulator::{Batch, PartitionQueue, lock};
use super::config::Acks;
use super::delivery::{Acked, Persistence, ProduceError, ProduceErrorKind};
use super::idempotence::{Gate, ProducerIdent, restamp};
use super::stats::{add, micros};

/// A broker's sender: its wake-up signal and the partitions it leads.
pub(crate) struct BrokerSender {
    pub(crate) id: BrokerId,
    wake: Notify,
    partitions: Mutex<Vec<Arc<PartitionQueue>>>,
}

impl fmt::Debug for BrokerSender {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BrokerSender")
            .field("id", &self.id)
            .finish_non_exhaustive()
    }
}

impl BrokerSender {
    pub(crate) fn new(id: BrokerId) -> Self {
        Self {
            id,
            wake: Notify::new(),
            partitions: Mutex::new(Vec::new()),
        }
    }

    /// Wakes the task (a permit is kept if it is busy, so no wake is lost).
    pub(crate) fn notify(&self) {
        self.wake.notify_one();
    }

    pub(crate) fn add(&self, queue: &Arc<PartitionQueue>) {
        let mut parts = lock(&self.partitions);
        if !parts.iter().any(|p| Arc::ptr_eq(p, queue)) {
            parts.push(queue.clone());
        }
    }

    pub(crate) fn remove(&self, queue: &Arc<PartitionQueue>) {
        lock(&self.partitions).retain(|p| !Arc::ptr_eq(p, queue));
    }

    fn partitions(&self) -> Vec<Arc<PartitionQueue>> {
        lock(&self.partitions).clone()
    }
}

/// A batch taken out of its queue into a request.
struct InFlight {
    queue: Arc<PartitionQueue>,
    batch: Batch,
}

/// What a request's future returns: its id and the answer (`None` for
/// `acks = 0`).
type Answer = (
    u64,
    Result<Option<gregor_protocol::messages::ProduceResponse>, gregor_net::Error>,
);

type RequestFuture = Pin<Box<dyn Future<Output = Answer> + Send>>;

/// What to do with one batch after an attempt.
enum Verdict {
    Done(Acked),
    Retry(Option<gregor_net::Error>),
    Fail(ProduceErrorKind),
}

/// Runs the sender of broker `me` until the producer is finished.
pub(crate) async fn run(shared: Arc<Shared>, me: Arc<BrokerSender>) {
    let mut requests: FuturesUnordered<RequestFuture> = FuturesUnordered::new();
    let mut pending: HashMap<u64, (Vec<InFlight>, Instant)> = HashMap::new();
    let mut conn: Option<Connection> = None;
    let mut next_request = 0u64;
    let mut rotate = 0usize;
    let mut connect_backoff = Backoff::new(shared.config.retry_backoff);
    tracing::debug!(broker = me.id.0, "producer sender started");
    loop {
        if shared.aborted.load(Ordering::Relaxed) {
            for (_, (batches, _)) in pending.drain() {
                for f in batches {
                    shared.request_done_for(&f.queue);
                    let persisted = Persistence::PossiblyPersisted;
                    shared.fail(&f.queue, f.batch, ProduceErrorKind::Closed, persisted);
                }
            }
            shared.fail_queued(&me.partitions(), ProduceErrorKind::Closed);
            break;
        }
        let now = Instant::now();
        let mut wake_at: Option<Instant> = None;
        while requests.len() < shared.config.max_in_flight {
            let producer = match shared.gate() {
                Gate::Send(p) => Some(p),
                Gate::Wait => break,
                Gate::Fatal(e) => {
                    shared.fail_queued(&me.partitions(), ProduceErrorKind::ProducerId(Box::new(e)));
                    break;
                }
            };
            let producer = if shared.idempotence.is_some() {
                producer
            } else {
                None
            };
            let batches = drain(&shared, &me, now, producer, &mut rotate, &mut wake_at);
            if batches.is_empty() {
                break;
            }
            let connection = match conn.as_ref().filter(|c| !c.is_dead()) {
                Some(c) => c.clone(),
                None => match shared.cluster.connection(me.id).await {
                    Ok(c) => {
                        connect_backoff.reset();
                        conn = Some(c.clone());
                        c
                    }
                    Err(e) => {
                        shared.cluster.on_error(&e);
                        tracing::debug!(broker = me.id.0, error = %e, "no connection to the leader");
                        for f in batches {
                            shared.request_done_for(&f.queue);
                            shared.retry_or_fail(f.queue, f.batch, Some(e.clone()), false);
                        }
                        // Leave the loop; the retried batches carry their backoff.
                        let _ = connect_backoff.next_delay();
                        break;
                    }
                },
            };
            let id = next_request;
            next_request += 1;
            if let Some((request, batches)) = shared.build_request(batches) {
                let records: u32 = batches.iter().map(|f| f.batch.records).sum();
                let bytes: usize = batches.iter().map(|f| f.batch.size).sum();
                let span = tracing::debug_span!(
                    "produce",
                    broker = me.id.0,
                    partitions = batches.len(),
                    records,
                    bytes,
                    topics = %Topics(&batches),
                );
                shared.in_flight.fetch_add(1, Ordering::Relaxed);
                add(&shared.stats.requests, 1);
                pending.insert(id, (batches, Instant::now()));
                let acks0 = shared.config.acks == Acks::None;
                let timeout = shared.config.request_timeout;
                requests.push(Box::pin(
                    send(connection, request, acks0, timeout, id).instrument(span),
                ));
            }
        }
        if shared.finished() && requests.is_empty() {
            break;
        }
        let sleep = async {
            match wake_at {
                Some(at) => tokio::time::sleep_until(at).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            biased;
            Some((id, answer)) = requests.next(), if !requests.is_empty() => {
                if let Some((batches, sent_at)) = pending.remove(&id) {
                    shared.stats.request_latency.observe(micros(sent_at.elapsed()));
                    if let Err(e) = &answer
                        && matches!(e.root(), gregor_net::Error::Io { .. } | gregor_net::Error::Closed { .. })
                    {
                        conn = None;
                    }
                    shared.complete_request(me.id, batches, answer);
                }
                if shared.in_flight.fetch_sub(1, Ordering::Relaxed) == 1 {
                    shared.housekeeping.notify_one();
                }
            }
            _ = me.wake.notified() => {}
            _ = sleep => {}
        }
    }
    shared.sender_exited(&me);
    tracing::debug!(broker = me.id.0, "producer sender stopped");
}

/// Sends one request and waits for its answer (or only until it is
/// written, for `acks = 0`), within the request timeout.
async fn send(
    conn: Connection,
    request: ProduceRequest,
    acks0: bool,
    timeout: Duration,
    id: u64,
) -> Answer {
    if acks0 {
        return (id, conn.send_no_response(&request).await.map(|()| None));
    }
    let answer = match tokio::time::timeout(timeout, conn.send(&request)).await {
        Ok(r) => r.map(Some),
        Err(_) => Err(gregor_net::Error::Timeout {
            broker: conn.broker().clone(),
            api: ApiKey::Produce,
            after: timeout,
            sent: true,
        }),
    };
    (id, answer)
}

/// Takes the ready batches of `me`'s partitions for one request: at most
/// one per partition, at most `max_request_size` bytes (but always one),
/// starting from a partition that rotates so none starves. Notes in
/// `wake_at` when the first batch not ready yet will be.
fn drain(
    shared: &Shared,
    me: &BrokerSender,
    now: Instant,
    producer: Option<ProducerIdent>,
    rotate: &mut usize,
    wake_at: &mut Option<Instant>,
) -> Vec<InFlight> {
    let parts = me.partitions();
    let n = parts.len();
    let mut out = Vec::new();
    if n == 0 {
        return out;
    }
    let config = &shared.config;
    let force = shared.draining.load(Ordering::Relaxed)
        || shared.flushing.load(Ordering::Relaxed) > 0
        || shared.acc.memory_waiters.load(Ordering::Relaxed) > 0;
    let mut wake = |at: Instant| {
        *wake_at = Some(wake_at.map_or(at, |w| w.min(at)));
    };
    let mut size = 0usize;
    let start = *rotate % n;
    *rotate = rotate.wrapping_add(1);
    for i in 0..n {
        let queue = &parts[(start + i) % n];
        let mut st = queue.lock();
        if st.leader != Some(me.id) {
            continue;
        }
        let Some(head) = st.batches.front() else {
            continue;
        };
        if st.retrying && st.in_flight > 0 {
            continue;
        }
        if let Some(at) = head.retry_at
            && at > now
        {
            wake(at);
            continue;
        }
        let linger_end = head.created + config.linger;
        let ready = force || head.closed || st.batches.len() > 1 || now >= linger_end;
        if !ready {
            wake(linger_end);
            continue;
        }
        if size > 0 && size + head.size > config.max_request_size {
            // The rest goes in the next request.
            wake(now);
            break;
        }
        let Some(mut batch) = st.batches.pop_front() else {
            continue;
        };
        queue.sync_queued(&st);
        if let Some(p) = producer {
            let stale = st.sequences.assign(p, &mut batch.sequence, batch.records);
            if stale && let (Some(built), Some(seq)) = (&batch.built, batch.sequence) {
                batch.built = Some(restamp(built, seq));
            }
        }
        if batch.attempts > 0 {
            add(&shared.stats.retries, 1);
        }
        st.in_flight += 1;
        size += batch.size;
        drop(st);
        out.push(InFlight {
            queue: queue.clone(),
            batch,
        });
    }
    out
}

/// Lists a request's topics and partitions for its tracing span.
struct Topics<'a>(&'a [InFlight]);

impl fmt::Display for Topics<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, b) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            write!(f, "{}-{}", b.queue.topic, b.queue.partition)?;
        }
        Ok(())
    }
}

impl Shared {
    /// Encodes the drained batches into one Produce request; batches that
    /// cannot be encoded fail here. `None` if none is left.
    fn build_request(&self, batches: Vec<InFlight>) -> Option<(ProduceRequest, Vec<InFlight>)> {
        let mut topics: Vec<TopicProduceData> = Vec::new();
        let mut kept = Vec::with_capacity(batches.len());
        for mut f in batches {
            let records = match f.batch.build() {
                Ok(b) => b,
                Err(e) => {
                    self.request_done_for(&f.queue);
                    let persisted = if f.batch.maybe_persisted {
                        Persistence::PossiblyPersisted
                    } else {
                        Persistence::NotPersisted
                    };
                    self.fail(
                        &f.queue,
                        f.batch,
                        ProduceErrorKind::Encode(Box::new(e)),
                        persisted,
                    );
                    continue;
                }
            };
            let part = PartitionProduceData::default()
                .with_index(f.queue.partition)
                .with_records(Some(records));
            match topics.iter_mut().find(|t| *t.name == *f.queue.topic) {
                Some(t) => t.partition_data.push(part),
                None => topics.push(
                    TopicProduceData::default()
                        .with_name(StrBytes::from(&*f.queue.topic))
                        .with_partition_data(vec![part]),
                ),
            }
            kept.push(f);
        }
        if kept.is_empty() {
            return None;
        }
        let timeout_ms = i32::try_from(self.config.request_timeout.as_millis()).unwrap_or(i32::MAX);
        let request = ProduceRequest::default()
            .with_acks(self.config.acks.code())
            .with_timeout_ms(timeout_ms)
            .with_topic_data(topics);
        Some((request, kept))
    }

    /// A batch of `queue` left a request (answered or not).
    fn request_done_for(&self, queue: &PartitionQueue) {
        let mut st = queue.lock();
        st.in_flight = st.in_flight.saturating_sub(1);
    }

    /// Handles the answer to one request.
    fn complete_request(
        &self,
        broker: BrokerId,
        batches: Vec<InFlight>,
        answer: Result<Option<gregor_protocol::messages::ProduceResponse>, gregor_net::Error>,
    ) {
        let response = match answer {
            Ok(Some(r)) => r,
            Ok(None) => {
                // acks = 0: written is all there is to know.
                for f in batches {
                    self.request_done_for(&f.queue);
                    self.succeed(
                        &f.queue,
                        f.batch,
                        Acked {
                            base_offset: None,
                            log_append_time: None,
                        },
                    );
                }
                return;
            }
            Err(e) => {
                self.cluster.on_error(&e);
                let sent = !matches!(e, gregor_net::Error::Timeout { sent: false, .. })
                    && !matches!(e, gregor_net::Error::UnsupportedVersion { .. });
                tracing::debug!(broker = broker.0, error = %e, batches = batches.len(), "produce request failed");
                for f in batches {
                    self.request_done_for(&f.queue);
                    if e.is_retriable() {
                        self.retry_or_fail(f.queue, f.batch, Some(e.clone()), sent);
                    } else {
                        let mut batch = f.batch;
                        batch.maybe_persisted |= sent;
                        let persisted = persistence(&batch);
                        self.fail(
                            &f.queue,
                            batch,
                            ProduceErrorKind::Broker(Box::new(e.clone())),
                            persisted,
                        );
                    }
                }
                return;
            }
        };
        let mut slots: Vec<Option<InFlight>> = batches.into_iter().map(Some).collect();
        let source = self
            .cluster
            .metadata()
            .broker(broker)
            .map(|b| b.addr())
            .unwrap_or_else(|| {
                gregor_net::BrokerAddr::new(format!("node {broker}")).with_node_id(broker.0)
            });
        for topic in &response.responses {
            for p in &topic.partition_responses {
                let found = slots.iter_mut().find(|s| {
                    s.as_ref().is_some_and(|f| {
                        f.queue.partition == p.index && *f.queue.topic == *topic.name
                    })
                });
                let Some(f) = found.and_then(Option::take) else {
                    continue;
                };
                self.request_done_for(&f.queue);
                match self.judge(&source, &f, p) {
                    Verdict::Done(acked) => self.succeed(&f.queue, f.batch, acked),
                    Verdict::Retry(err) => self.retry_or_fail(f.queue, f.batch, err, false),
                    Verdict::Fail(kind) => {
                        let persisted = persistence(&f.batch);
                        self.fail(&f.queue, f.batch, kind, persisted);
                    }
                }
            }
        }
        // A partition the broker left out: retry it.
        for f in slots.into_iter().flatten() {
            self.request_done_for(&f.queue);
            self.retry_or_fail(f.queue, f.batch, None, true);
        }
    }

    /// What one partition's answer means for its batch.
    fn judge(
        &self,
        broker: &gregor_net::BrokerAddr,
        f: &InFlight,
        p: &PartitionProduceResponse,
    ) -> Verdict {
        let code = ErrorCode::from_code(p.error_code);
        let as_error = || {
            let message = p.error_message.as_deref().map(str::to_owned).or_else(|| {
                p.record_errors
                    .first()
                    .and_then(|r| r.batch_index_error_message.as_deref())
                    .map(str::to_owned)
            });
            gregor_net::Error::Broker {
                broker: broker.clone(),
                code,
                api: ApiKey::Produce,
                topic: Some(f.queue.topic.to_string()),
                partition: Some(f.queue.partition),
                message,
            }
        };
        match code {
            ErrorCode::None => Verdict::Done(Acked {
                base_offset: (p.base_offset >= 0).then_some(p.base_offset),
                log_append_time: (p.log_append_time_ms >= 0).then_some(p.log_append_time_ms),
            }),
            // Already written by an earlier attempt.
            ErrorCode::DuplicateSequenceNumber if f.batch.sequence.is_some() => {
                Verdict::Done(Acked {
                    base_offset: None,
                    log_append_time: None,
                })
            }
            ErrorCode::OutOfOrderSequenceNumber
            | ErrorCode::UnknownProducerId
            | ErrorCode::InvalidProducerEpoch
                if f.batch.sequence.is_some() =>
            {
                if let (Some(seq), Some(idem)) = (f.batch.sequence, &self.idempotence) {
                    // A gap only if this batch is the one the broker should
                    // take next; otherwise an earlier batch failed and this
                    // one waits for it.
                    let gap = code != ErrorCode::OutOfOrderSequenceNumber
                        || f.queue.lock().sequences.is_next(seq);
                    if gap {
                        idem.request_bump(seq.producer);
                        self.housekeeping.notify_one();
                    }
                }
                Verdict::Retry(Some(as_error()))
            }
            c if c.is_retriable() => {
                let e = as_error();
                self.cluster.on_error(&e);
                Verdict::Retry(Some(e))
            }
            ErrorCode::MessageTooLarge | ErrorCode::RecordListTooLarge => {
                Verdict::Fail(ProduceErrorKind::Broker(Box::new(as_error())))
            }
            _ => {
                let e = as_error();
                self.cluster.on_error(&e);
                Verdict::Fail(ProduceErrorKind::Broker(Box::new(e)))
            }
        }
    }

    /// Completes an acknowledged batch.
    fn succeed(&self, queue: &PartitionQueue, batch: Batch, acked: Acked) {
        {
            let mut st = queue.lock();
            if let Some(seq) = batch.sequence {
                st.sequences.acked(seq, batch.records);
            }
            if st.retrying && st.in_flight == 0 && !st.has_retries() {
                st.retrying = false;
            }
        }
        let s = &self.stats;
        add(&s.records, u64::from(batch.records));
        add(&s.bytes, batch.size as u64);
        add(&s.batches, 1);
        s.batch_records.observe(u64::from(batch.records));
        s.batch_bytes.observe(batch.size as u64);
        s.batch_latency.observe(micros(batch.created.elapsed()));
        let outcome = Ok(acked);
        if let Some(r) = &self.reports {
            r.report(&queue.topic, queue.partition, &batch.stamps, &outcome);
        }
        self.acc.finish(&batch, outcome);
        // The partition may be unblocked now.
        if let Some(s) = queue.lock().sender.clone() {
            s.notify();
        }
    }

    /// Puts a batch back for another attempt after the retry backoff, or
    /// fails it if the delivery timeout has passed or the producer gave up.
    pub(crate) fn retry_or_fail(
        &self,
        queue: Arc<PartitionQueue>,
        mut batch: Batch,
        error: Option<gregor_net::Error>,
        sent: bool,
    ) {
        batch.maybe_persisted |= sent;
        if let Some(e) = error {
            batch.last_error = Some(Box::new(e));
        }
        let now = Instant::now();
        if now >= batch.created + self.config.delivery_timeout
            || self.aborted.load(Ordering::Relaxed)
        {
            let kind = if self.aborted.load(Ordering::Relaxed) {
                ProduceErrorKind::Closed
            } else {
                ProduceErrorKind::Timeout {
                    after: self.config.delivery_timeout,
                    last_error: batch.last_error.clone(),
                }
            };
            let persisted = persistence(&batch);
            self.fail(&queue, batch, kind, persisted);
            return;
        }
        batch.attempts += 1;
        let mut backoff = Backoff::new(self.config.retry_backoff);
        let mut delay = Duration::ZERO;
        for _ in 0..batch.attempts.min(16) {
            delay = backoff.next_delay();
        }
        batch.retry_at = Some(now + delay);
        tracing::debug!(
            topic = %queue.topic,
            partition = queue.partition,
            attempt = batch.attempts,
            retry_in = ?delay,
            error = ?batch.last_error.as_ref().map(ToString::to_string),
            "retrying batch"
        );
        let mut st = queue.lock();
        st.requeue(batch);
        queue.sync_queued(&st);
        let sender = st.sender.clone();
        drop(st);
        if let Some(s) = sender {
            s.notify();
        }
    }

    /// Fails a batch for good, reporting it to its records. A batch that
    /// had a sequence leaves a gap, which an epoch bump closes.
    pub(crate) fn fail(
        &self,
        queue: &PartitionQueue,
        batch: Batch,
        kind: ProduceErrorKind,
        persisted: Persistence,
    ) {
        if let (Some(seq), Some(idem)) = (batch.sequence, &self.idempotence)
            && !self.aborted.load(Ordering::Relaxed)
        {
            idem.request_bump(seq.producer);
            self.housekeeping.notify_one();
        }
        {
            let mut st = queue.lock();
            if st.retrying && !st.has_retries() {
                st.retrying = false;
            }
        }
        tracing::warn!(
            topic = %queue.topic,
            partition = queue.partition,
            records = batch.records,
            ?persisted,
            error = ?kind,
            "batch not delivered"
        );
        add(&self.stats.errors, u64::from(batch.records));
        self.note_undelivered(queue, batch.records, persisted);
        let outcome = Err(ProduceError::new(
            kind,
            persisted,
            queue.topic.clone(),
            Some(queue.partition),
        ));
        if let Some(r) = &self.reports {
            r.report(&queue.topic, queue.partition, &batch.stamps, &outcome);
        }
        self.acc.finish(&batch, outcome);
    }

    /// Fails every queued batch of `partitions`.
    pub(crate) fn fail_queued(&self, partitions: &[Arc<PartitionQueue>], kind: ProduceErrorKind) {
        for queue in partitions {
            let batches: Vec<Batch> = {
                let mut st = queue.lock();
                let b = st.batches.drain(..).collect();
                queue.sync_queued(&st);
                b
            };
            for batch in batches {
                let persisted = persistence(&batch);
                self.fail(queue, batch, kind.clone(), persisted);
            }
        }
    }
}

/// Whether a failing batch may be in the log.
pub(crate) fn persistence(batch: &Batch) -> Persistence {
    if batch.maybe_persisted {
        Persistence::PossiblyPersisted
    } else {
        Persistence::NotPersisted
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::producer::accumulator::TopicQueues;
    use crate::producer::{ProducerConfig, ProducerRecord, test_shared};

    const ME: BrokerId = BrokerId(1);

    /// A producer with topic "t" of `partitions` partitions led by broker
    /// 1, whose sender is not running: `drain` is called by hand.
    fn setup(config: ProducerConfig, partitions: i32) -> (Arc<Shared>, Arc<BrokerSender>) {
        let shared = test_shared(config);
        let me = Arc::new(BrokerSender::new(ME));
        let (topic, _) = shared.acc.topic_or_insert("t");
        let topic: Arc<TopicQueues> = topic;
        let mut layout = topic.layout.write().unwrap();
        for p in 0..partitions {
            let q = Arc::new(PartitionQueue::new(topic.name.clone(), p));
            q.lock().leader = Some(ME);
            me.add(&q);
            layout.partitions.push(q);
            layout.available.push(p);
        }
        drop(layout);
        (shared, me)
    }

    fn put(shared: &Shared, p: i32, value: &[u8]) {
        let r = ProducerRecord::to("t").partition(p).value(value.to_vec());
        let mut reserved = 1 << 20;
        assert!(shared.acc.try_reserve(reserved));
        let appended = shared
            .acc
            .append(&r, &mut reserved, &*shared.config.partitioner);
        shared.acc.release(reserved);
        assert!(appended.is_ok());
    }

    fn drain_at(
        shared: &Shared,
        me: &BrokerSender,
        now: Instant,
    ) -> (Vec<(i32, u32)>, Option<Instant>) {
        let mut wake = None;
        let mut rotate = 0;
        let out = drain(shared, me, now, None, &mut rotate, &mut wake);
        let summary = out
            .iter()
            .map(|f| (f.queue.partition, f.batch.records))
            .collect();
        (summary, wake)
    }

    fn config() -> crate::producer::ProducerConfigBuilder {
        ProducerConfig::builder()
            .idempotence(false)
            .linger(Duration::from_millis(200))
            .batch_size(1000)
            .max_request_size(1500)
    }

    #[tokio::test]
    async fn a_batch_waits_for_its_linger_unless_full() {
        let (shared, me) = setup(config().build().unwrap(), 2);
        put(&shared, 0, &[1; 100]);
        let now = Instant::now();
        let (none, wake) = drain_at(&shared, &me, now);
        assert!(none.is_empty());
        let wake = wake.expect("a wake-up at the end of the linger");
        assert!(wake > now && wake <= now + Duration::from_millis(200));
        // Past the linger it goes.
        let (got, _) = drain_at(&shared, &me, now + Duration::from_millis(201));
        assert_eq!(got, [(0, 1)]);
        // A full batch goes at once: records of 300 bytes fill 1000 at the
        // fourth, which opens a second batch.
        for _ in 0..4 {
            put(&shared, 1, &[2; 300]);
        }
        let (got, _) = drain_at(&shared, &me, Instant::now());
        assert_eq!(got, [(1, 3)], "the full batch only");
    }

    #[tokio::test]
    async fn flushing_makes_every_batch_ready() {
        let (shared, me) = setup(config().build().unwrap(), 2);
        put(&shared, 0, b"a");
        put(&shared, 1, b"b");
        shared.flushing.fetch_add(1, Ordering::Relaxed);
        let (mut got, _) = drain_at(&shared, &me, Instant::now());
        got.sort_unstable();
        assert_eq!(got, [(0, 1), (1, 1)], "one request, both partitions");
    }

    #[tokio::test]
    async fn a_request_stops_at_max_request_size() {
        let (shared, me) = setup(config().build().unwrap(), 2);
        put(&shared, 0, &[0; 900]);
        put(&shared, 1, &[0; 900]);
        shared.flushing.fetch_add(1, Ordering::Relaxed);
        let now = Instant::now();
        let (first, wake) = drain_at(&shared, &me, now);
        assert_eq!(first.len(), 1, "two ~970-byte batches exceed 1500");
        assert_eq!(wake, Some(now), "the rest goes right after");
        let (second, _) = drain_at(&shared, &me, now);
        assert_eq!(second.len(), 1);
        assert_ne!(first[0].0, second[0].0);
    }

    #[tokio::test]
    async fn a_retrying_partition_waits_for_its_requests_and_its_backoff() {
        let (shared, me) = setup(config().build().unwrap(), 1);
        put(&shared, 0, &[0; 600]);
        put(&shared, 0, &[0; 600]);
        let now = Instant::now();
        let first = {
            let mut wake = None;
            let mut rotate = 0;
            drain(&shared, &me, now, None, &mut rotate, &mut wake)
                .pop()
                .unwrap()
        };
        // The first batch fails: it goes back in front with a backoff, and
        // nothing of the partition goes while a request is in flight.
        let queue = first.queue.clone();
        shared.request_done_for(&queue);
        shared.retry_or_fail(queue.clone(), first.batch, None, true);
        // Pretend another request of the partition is still out.
        queue.lock().in_flight += 1;
        let (got, _) = drain_at(&shared, &me, now + Duration::from_secs(5));
        assert!(got.is_empty(), "blocked by the request in flight");
        queue.lock().in_flight -= 1;
        let (got, wake) = drain_at(&shared, &me, Instant::now());
        assert!(got.is_empty(), "backing off");
        assert!(wake.is_some());
        let (got, _) = drain_at(&shared, &me, Instant::now() + Duration::from_secs(5));
        assert_eq!(got, [(0, 1)], "the retry goes first, alone");
        let (got, _) = drain_at(&shared, &me, Instant::now() + Duration::from_secs(5));
        assert!(got.is_empty(), "one at a time while retrying");
        assert!(queue.lock().retrying);
    }

    #[tokio::test]
    async fn partitions_led_by_another_broker_are_left_alone() {
        let (shared, me) = setup(config().build().unwrap(), 2);
        put(&shared, 0, b"a");
        put(&shared, 1, b"b");
        let layout = shared.acc.topic("t").unwrap();
        layout.layout().partitions[1].lock().leader = Some(BrokerId(2));
        shared.flushing.fetch_add(1, Ordering::Relaxed);
        let (got, _) = drain_at(&shared, &me, Instant::now());
        assert_eq!(got, [(0, 1)]);
    }
}
