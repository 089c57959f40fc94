//! The record accumulator: per-partition queues of batches that records are
//! appended to as they are sent, and the buffer-memory budget.
//!
//! Each partition has a queue behind its own mutex; the last batch of the
//! queue is open, the ones before it are full. A record is encoded straight
//! into the open batch's [`RecordBatchBuilder`] (one copy of its bytes, no
//! allocation per record). A new batch reserves `batch_size` bytes (or the
//! record's size, if larger) of the buffer budget, a semaphore of bytes,
//! and gives them back when it completes; a sender waiting for room is
//! woken then, in order. No lock is held across an await.
//!
//! Lock order: a topic's layout (read) before a partition's state; never
//! two partitions at once.

use std::collections::{BTreeSet, HashMap, VecDeque};
use std::sync::atomic::{AtomicI32, AtomicU32, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, RwLock, RwLockReadGuard};

use bytes::Bytes;
use gregor_net::BrokerId;
use gregor_protocol::records::{Compression, RECORD_BATCH_OVERHEAD, RecordBatchBuilder};
use tokio::sync::{Notify, Semaphore};
use tokio::time::Instant;

use super::delivery::{BatchShared, DeliveryFuture, Outcome, ProduceError, ProduceErrorKind};
use super::idempotence::{BatchSequence, SequenceState};
use super::partitioner::{PartitionerContext, Rand, weighted_choice};
use super::record::{ProducerRecord, now_millis};
use super::sender::BrokerSender;

/// Locks a mutex whose data stays consistent even if a holder panicked.
pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

fn read<T>(l: &RwLock<T>) -> RwLockReadGuard<'_, T> {
    l.read().unwrap_or_else(|p| p.into_inner())
}

/// One batch of one partition, from its first record until it completes.
#[derive(Debug)]
pub(crate) struct Batch {
    /// Creation order across the producer: sequence order within a
    /// partition, and what `flush` waits for.
    pub(crate) id: u64,
    /// Filling; `None` once built.
    pub(crate) builder: Option<RecordBatchBuilder>,
    /// The encoded batch, from the first time it is sent.
    pub(crate) built: Option<Bytes>,
    pub(crate) records: u32,
    /// Bytes before compression, header included.
    pub(crate) size: usize,
    /// Bytes of the buffer budget it holds.
    pub(crate) reserved: u32,
    pub(crate) created: Instant,
    /// No more records may join (a later batch exists or it is full).
    pub(crate) closed: bool,
    /// Attempts that failed and were retried.
    pub(crate) attempts: u32,
    pub(crate) retry_at: Option<Instant>,
    /// An attempt was sent and got no answer: it may be in the log.
    pub(crate) maybe_persisted: bool,
    pub(crate) last_error: Option<Box<gregor_net::Error>>,
    /// The producer id, epoch and base sequence it was sent with.
    pub(crate) sequence: Option<BatchSequence>,
    pub(crate) shared: Arc<BatchShared>,
    /// Each record's (timestamp, opaque), kept only for delivery reports.
    pub(crate) stamps: Vec<(i64, u64)>,
}

impl Batch {
    /// Seals the batch into bytes (compressing it) if not done yet.
    pub(crate) fn build(&mut self) -> Result<Bytes, gregor_protocol::Error> {
        if let Some(b) = &self.built {
            return Ok(b.clone());
        }
        let Some(mut builder) = self.builder.take() else {
            return Err(gregor_protocol::Error::InvalidValue {
                at: gregor_protocol::Location::field("records"),
                reason: "a batch was sent without records",
            });
        };
        if let Some(s) = self.sequence {
            builder.set_producer_state(s.producer.id, s.producer.epoch, s.base_sequence);
        }
        let bytes = builder.build()?;
        self.built = Some(bytes.clone());
        Ok(bytes)
    }
}

/// The mutable state of one partition.
#[derive(Debug, Default)]
pub(crate) struct PartitionState {
    pub(crate) batches: VecDeque<Batch>,
    pub(crate) leader: Option<BrokerId>,
    /// The sender of the leader, woken when a batch is created or fills.
    pub(crate) sender: Option<Arc<BrokerSender>>,
    /// Batches of this partition in requests awaiting their answer.
    pub(crate) in_flight: u32,
    /// A batch failed and waits to be sent again: batches go one at a
    /// time, in order, until every retried batch is acknowledged.
    pub(crate) retrying: bool,
    pub(crate) sequences: SequenceState,
}

impl PartitionState {
    /// Puts a failed batch back in creation (= sequence) order, ahead of
    /// every later batch.
    pub(crate) fn requeue(&mut self, batch: Batch) {
        let at = self
            .batches
            .iter()
            .position(|b| b.id > batch.id)
            .unwrap_or(self.batches.len());
        self.batches.insert(at, batch);
        self.retrying = true;
    }

    /// Whether any queued batch is a retry.
    pub(crate) fn has_retries(&self) -> bool {
        self.batches.iter().any(|b| b.attempts > 0)
    }
}

/// One partition's queue of batches.
#[derive(Debug)]
pub(crate) struct PartitionQueue {
    pub(crate) topic: Arc<str>,
    pub(crate) partition: i32,
    pub(crate) state: Mutex<PartitionState>,
    /// Batches queued (for the sticky partitioner's weights), readable
    /// without the lock.
    queued: AtomicU32,
}

impl PartitionQueue {
    pub(crate) fn new(topic: Arc<str>, partition: i32) -> Self {
        Self {
            topic,
            partition,
            state: Mutex::new(PartitionState::default()),
            queued: AtomicU32::new(0),
        }
    }

    pub(crate) fn lock(&self) -> MutexGuard<'_, PartitionState> {
        lock(&self.state)
    }

    /// Refreshes the lock-free count of queued batches; call with the
    /// state locked after changing the queue.
    pub(crate) fn sync_queued(&self, st: &PartitionState) {
        self.queued
            .store(st.batches.len() as u32, Ordering::Relaxed);
    }

    fn queued(&self) -> u32 {
        self.queued.load(Ordering::Relaxed)
    }
}

/// A topic's partitions as the metadata last described them.
#[derive(Debug, Default)]
pub(crate) struct Layout {
    pub(crate) partitions: Vec<Arc<PartitionQueue>>,
    /// Partitions with a leader, sorted.
    pub(crate) available: Vec<i32>,
}

/// One topic's queues and its sticky partition.
#[derive(Debug)]
pub(crate) struct TopicQueues {
    pub(crate) name: Arc<str>,
    pub(crate) layout: RwLock<Layout>,
    /// The current sticky partition, -1 before the first choice.
    sticky: AtomicI32,
    /// Bytes sent to the sticky partition since it was chosen.
    sticky_bytes: AtomicUsize,
    rand: Rand,
}

impl TopicQueues {
    pub(crate) fn new(name: Arc<str>, seed: u64) -> Self {
        Self {
            name,
            layout: RwLock::new(Layout::default()),
            sticky: AtomicI32::new(-1),
            sticky_bytes: AtomicUsize::new(0),
            rand: Rand::new(seed),
        }
    }

    pub(crate) fn layout(&self) -> RwLockReadGuard<'_, Layout> {
        read(&self.layout)
    }

    /// The sticky partition, choosing one if there is none or the current
    /// one is gone.
    fn sticky_partition(&self, layout: &Layout) -> Option<i32> {
        let current = self.sticky.load(Ordering::Relaxed);
        let count = layout.partitions.len() as i32;
        if current >= 0 && current < count {
            return Some(current);
        }
        self.switch_sticky(layout, current)
    }

    /// Moves the sticky partition on (KIP-794): weighted towards the
    /// partitions with the fewest batches queued. Only the caller that
    /// wins the swap from `from` switches.
    fn switch_sticky(&self, layout: &Layout, from: i32) -> Option<i32> {
        let all: Vec<i32>;
        let candidates: &[i32] = if layout.available.is_empty() {
            all = (0..layout.partitions.len() as i32).collect();
            &all
        } else {
            &layout.available
        };
        let queued = |p: i32| {
            usize::try_from(p)
                .ok()
                .and_then(|i| layout.partitions.get(i))
                .map_or(0, |q| q.queued())
        };
        let next = weighted_choice(candidates, queued, &self.rand)?;
        match self
            .sticky
            .compare_exchange(from, next, Ordering::Relaxed, Ordering::Relaxed)
        {
            Ok(_) => {
                self.sticky_bytes.store(0, Ordering::Relaxed);
                Some(next)
            }
            Err(now) => Some(now),
        }
    }

    /// Counts `bytes` against the sticky partition; past `batch_size`
    /// moves to another.
    fn sticky_appended(&self, layout: &Layout, partition: i32, bytes: usize, batch_size: usize) {
        if self.sticky.load(Ordering::Relaxed) != partition {
            return;
        }
        let total = self.sticky_bytes.fetch_add(bytes, Ordering::Relaxed) + bytes;
        if total >= batch_size.max(1) {
            self.switch_sticky(layout, partition);
        }
    }
}

/// What the accumulator needs from the configuration.
#[derive(Debug, Clone)]
pub(crate) struct AccumulatorConfig {
    pub(crate) batch_size: usize,
    pub(crate) max_request_size: usize,
    pub(crate) buffer_memory: usize,
    pub(crate) compression: Compression,
    pub(crate) keep_stamps: bool,
}

/// Why a record could not be appended right now.
#[derive(Debug)]
pub(crate) enum Blocked {
    /// The topic's metadata is not loaded.
    NoTopic,
    /// A new batch needs this many bytes of buffer.
    NoMemory(usize),
    /// The record fails for good.
    Failed(Box<ProduceError>),
}

/// A record appended: its delivery, and the sender to wake if the append
/// made a batch ready or started one.
pub(crate) struct Appended {
    pub(crate) delivery: DeliveryFuture,
    pub(crate) wake: Option<Arc<BrokerSender>>,
}

/// Every partition queue of the producer, and the buffer budget.
#[derive(Debug)]
pub(crate) struct Accumulator {
    pub(crate) config: AccumulatorConfig,
    topics: RwLock<HashMap<Arc<str>, Arc<TopicQueues>>>,
    memory: Semaphore,
    /// Sends waiting for buffer room: while any does, every batch is
    /// ready, so memory frees up as fast as possible (as Java does).
    pub(crate) memory_waiters: AtomicUsize,
    next_batch_id: AtomicU64,
    /// Ids of batches not completed yet, for `flush`.
    incomplete: Mutex<BTreeSet<u64>>,
    /// Woken on every batch completion while someone flushes or closes.
    pub(crate) completed: Notify,
    pub(crate) flush_waiters: AtomicUsize,
    /// Measures records before any batch exists for them.
    sizer: RecordBatchBuilder,
    seed: AtomicU64,
}

impl Accumulator {
    pub(crate) fn new(config: AccumulatorConfig) -> Self {
        let permits = config.buffer_memory.min(Semaphore::MAX_PERMITS);
        let seed = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0x5eed, |d| d.as_nanos() as u64);
        Self {
            config,
            topics: RwLock::new(HashMap::new()),
            memory: Semaphore::new(permits),
            memory_waiters: AtomicUsize::new(0),
            next_batch_id: AtomicU64::new(0),
            incomplete: Mutex::new(BTreeSet::new()),
            completed: Notify::new(),
            flush_waiters: AtomicUsize::new(0),
            sizer: RecordBatchBuilder::new(),
            seed: AtomicU64::new(seed),
        }
    }

    /// The queues of `topic`, if its metadata has been loaded.
    pub(crate) fn topic(&self, topic: &str) -> Option<Arc<TopicQueues>> {
        read(&self.topics).get(topic).cloned()
    }

    /// Every topic.
    pub(crate) fn topics(&self) -> Vec<Arc<TopicQueues>> {
        read(&self.topics).values().cloned().collect()
    }

    /// The queues of `topic`, created empty (no partitions) if new; the
    /// flag says whether it was created.
    pub(crate) fn topic_or_insert(&self, topic: &str) -> (Arc<TopicQueues>, bool) {
        if let Some(t) = self.topic(topic) {
            return (t, false);
        }
        let mut map = self.topics.write().unwrap_or_else(|p| p.into_inner());
        if let Some(t) = map.get(topic) {
            return (t.clone(), false);
        }
        let name: Arc<str> = topic.into();
        let seed = self.seed.fetch_add(0x9e37_79b9, Ordering::Relaxed);
        let t = Arc::new(TopicQueues::new(name.clone(), seed));
        map.insert(name, t.clone());
        (t, true)
    }

    /// Bytes of buffer held by batches.
    pub(crate) fn buffered(&self) -> usize {
        self.config
            .buffer_memory
            .min(Semaphore::MAX_PERMITS)
            .saturating_sub(self.memory.available_permits())
    }

    /// Takes `bytes` of buffer if free now.
    pub(crate) fn try_reserve(&self, bytes: usize) -> bool {
        let Ok(n) = u32::try_from(bytes) else {
            return false;
        };
        match self.memory.try_acquire_many(n) {
            Ok(p) => {
                p.forget();
                true
            }
            Err(_) => false,
        }
    }

    /// Waits for `bytes` of buffer (in order with other waiters).
    pub(crate) async fn reserve(&self, bytes: usize) -> bool {
        let Ok(n) = u32::try_from(bytes) else {
            return false;
        };
        match self.memory.acquire_many(n).await {
            Ok(p) => {
                p.forget();
                true
            }
            Err(_) => false,
        }
    }

    /// Gives `bytes` of buffer back.
    pub(crate) fn release(&self, bytes: usize) {
        if bytes > 0 {
            self.memory.add_permits(bytes);
        }
    }

    /// The lowest id not yet given to a batch: `flush` waits for every
    /// batch below it.
    pub(crate) fn next_id(&self) -> u64 {
        self.next_batch_id.load(Ordering::Relaxed)
    }

    /// Whether every batch with an id below `id` has completed.
    pub(crate) fn completed_below(&self, id: u64) -> bool {
        lock(&self.incomplete)
            .first()
            .is_none_or(|first| *first >= id)
    }

    /// Batches not completed yet.
    pub(crate) fn incomplete(&self) -> usize {
        lock(&self.incomplete).len()
    }

    /// Completes `batch`: publishes its outcome to its records, gives its
    /// buffer back and lets `flush` know.
    pub(crate) fn finish(&self, batch: &Batch, outcome: Outcome) {
        batch.shared.complete(outcome);
        self.release(batch.reserved as usize);
        lock(&self.incomplete).remove(&batch.id);
        if self.flush_waiters.load(Ordering::Relaxed) > 0 {
            self.completed.notify_waiters();
        }
    }

    /// Appends `record` now if possible: its topic's metadata is loaded,
    /// and the open batch has room or `reserved` bytes of buffer (taken by
    /// the caller) can start a new one. Moves the reservation into a new
    /// batch (setting it to 0) when it uses it.
    pub(crate) fn append(
        &self,
        record: &ProducerRecord,
        reserved: &mut usize,
        partitioner: &dyn super::Partitioner,
    ) -> Result<Appended, Blocked> {
        let topic_name: &str = &record.topic;
        let Some(topic) = self.topic(topic_name) else {
            return Err(Blocked::NoTopic);
        };
        let layout = topic.layout();
        let count = layout.partitions.len() as i32;
        if count == 0 {
            return Err(Blocked::NoTopic);
        }
        let key = record.key.as_deref();
        let value = record.value.as_deref();
        let (partition, sticky) = match record.partition {
            Some(p) => (p, false),
            None => {
                let cx = PartitionerContext::new(topic_name, count, &layout.available);
                match partitioner.partition(key, value, &cx) {
                    Some(p) => (p, false),
                    None => match topic.sticky_partition(&layout) {
                        Some(p) => (p, true),
                        None => return Err(Blocked::NoTopic),
                    },
                }
            }
        };
        let Some(queue) = usize::try_from(partition)
            .ok()
            .and_then(|i| layout.partitions.get(i))
        else {
            return Err(Blocked::Failed(Box::new(ProduceError::not_sent(
                ProduceErrorKind::UnknownPartition { partitions: count },
                topic_name,
                Some(partition),
            ))));
        };
        let timestamp = record.timestamp.unwrap_or_else(now_millis);
        let headers = &record.headers;
        let mut st = queue.lock();
        // Room in the open batch?
        if let Some(open) = st.batches.back_mut().filter(|b| !b.closed)
            && let Some(builder) = open.builder.as_mut()
        {
            let size = builder
                .next_record_size(timestamp, key, value, headers)
                .map_err(|e| self.encode_error(e, topic_name, partition))?;
            if open.size + size <= self.config.batch_size {
                let index = open.records;
                builder
                    .append(timestamp, key, value, headers)
                    .map_err(|e| self.encode_error(e, topic_name, partition))?;
                open.records += 1;
                open.size += size;
                if self.config.keep_stamps {
                    open.stamps.push((timestamp, record.opaque));
                }
                let shared = open.shared.clone();
                let wake = if open.size >= self.config.batch_size {
                    open.closed = true;
                    st.sender.clone()
                } else {
                    None
                };
                drop(st);
                if sticky {
                    topic.sticky_appended(&layout, partition, size, self.config.batch_size);
                }
                return Ok(Appended {
                    delivery: DeliveryFuture {
                        batch: shared,
                        topic: topic.name.clone(),
                        partition,
                        index,
                        timestamp,
                    },
                    wake,
                });
            }
        }
        // A new batch.
        let size = self
            .sizer
            .next_record_size(timestamp, key, value, headers)
            .map_err(|e| self.encode_error(e, topic_name, partition))?;
        let whole = size + RECORD_BATCH_OVERHEAD;
        if whole > self.config.max_request_size {
            return Err(Blocked::Failed(Box::new(too_large(
                whole,
                self.config.max_request_size,
                "max_request_size",
                topic_name,
                partition,
            ))));
        }
        if whole > self.config.buffer_memory {
            return Err(Blocked::Failed(Box::new(too_large(
                whole,
                self.config.buffer_memory,
                "buffer_memory",
                topic_name,
                partition,
            ))));
        }
        let need = whole.max(self.config.batch_size);
        if *reserved < need {
            return Err(Blocked::NoMemory(need));
        }
        let mut builder = RecordBatchBuilder::with_capacity(whole.max(self.config.batch_size))
            .compression(self.config.compression);
        builder
            .append(timestamp, key, value, headers)
            .map_err(|e| self.encode_error(e, topic_name, partition))?;
        let id = self.next_batch_id.fetch_add(1, Ordering::Relaxed);
        lock(&self.incomplete).insert(id);
        let shared = Arc::new(BatchShared::default());
        let size = builder.size_in_bytes();
        let batch = Batch {
            id,
            builder: Some(builder),
            built: None,
            records: 1,
            size,
            reserved: need as u32,
            created: Instant::now(),
            closed: size >= self.config.batch_size,
            attempts: 0,
            retry_at: None,
            maybe_persisted: false,
            last_error: None,
            sequence: None,
            shared: shared.clone(),
            stamps: if self.config.keep_stamps {
                vec![(timestamp, record.opaque)]
            } else {
                Vec::new()
            },
        };
        *reserved -= need;
        if let Some(prev) = st.batches.back_mut() {
            prev.closed = true;
        }
        st.batches.push_back(batch);
        queue.sync_queued(&st);
        let wake = st.sender.clone();
        drop(st);
        if sticky {
            topic.sticky_appended(&layout, partition, size, self.config.batch_size);
        }
        Ok(Appended {
            delivery: DeliveryFuture {
                batch: shared,
                topic: topic.name.clone(),
                partition,
                index: 0,
                timestamp,
            },
            wake,
        })
    }

    fn encode_error(&self, e: gregor_protocol::Error, topic: &str, partition: i32) -> Blocked {
        Blocked::Failed(Box::new(ProduceError::not_sent(
            ProduceErrorKind::Encode(Box::new(e)),
            topic,
            Some(partition),
        )))
    }
}

fn too_large(
    size: usize,
    max: usize,
    setting: &'static str,
    topic: &str,
    partition: i32,
) -> ProduceError {
    ProduceError::not_sent(
        ProduceErrorKind::RecordTooLarge { size, max, setting },
        topic,
        Some(partition),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::producer::partitioner::{Murmur2, UniformSticky};

    fn acc(batch_size: usize, buffer: usize) -> Accumulator {
        Accumulator::new(AccumulatorConfig {
            batch_size,
            max_request_size: 64 * 1024,
            buffer_memory: buffer,
            compression: Compression::None,
            keep_stamps: false,
        })
    }

    fn with_topic(acc: &Accumulator, name: &str, partitions: i32) -> Arc<TopicQueues> {
        let (t, _) = acc.topic_or_insert(name);
        let mut layout = t.layout.write().unwrap();
        for p in 0..partitions {
            layout
                .partitions
                .push(Arc::new(PartitionQueue::new(t.name.clone(), p)));
            layout.available.push(p);
        }
        drop(layout);
        t
    }

    /// Appends, taking buffer as needed like `try_send`.
    fn put(acc: &Accumulator, r: &ProducerRecord) -> Result<DeliveryFuture, Blocked> {
        let mut reserved = 0;
        loop {
            match acc.append(r, &mut reserved, &Murmur2) {
                Ok(a) => {
                    acc.release(reserved);
                    return Ok(a.delivery);
                }
                Err(Blocked::NoMemory(n)) if reserved == 0 => {
                    if !acc.try_reserve(n) {
                        return Err(Blocked::NoMemory(n));
                    }
                    reserved = n;
                }
                Err(e) => {
                    acc.release(reserved);
                    return Err(e);
                }
            }
        }
    }

    #[test]
    fn records_fill_a_batch_then_start_the_next() {
        let acc = acc(1024, 1 << 20);
        let t = with_topic(&acc, "t", 1);
        let value = Bytes::from(vec![7u8; 100]);
        let mut futures = Vec::new();
        for _ in 0..20 {
            let r = ProducerRecord::to("t").value(value.clone()).partition(0);
            futures.push(put(&acc, &r).ok().unwrap());
        }
        let layout = t.layout();
        let st = layout.partitions[0].lock();
        assert!(st.batches.len() >= 2, "{}", st.batches.len());
        let first = &st.batches[0];
        assert!(first.closed);
        assert!(first.size <= 1024);
        assert!(first.size + 110 > 1024, "full: {}", first.size);
        assert_eq!(
            st.batches.iter().map(|b| b.records).sum::<u32>(),
            20,
            "every record in some batch"
        );
        // Record indexes restart per batch.
        assert_eq!(futures[0].index, 0);
        assert_eq!(futures[1].index, 1);
        let second_start = first.records as usize;
        assert_eq!(futures[second_start].index, 0);
        assert_eq!(acc.buffered(), 1024 * st.batches.len());
        assert_eq!(acc.incomplete(), st.batches.len());
    }

    #[test]
    fn the_budget_refuses_batches_once_spent_and_frees_on_completion() {
        let acc = acc(1024, 2048);
        let t = with_topic(&acc, "t", 4);
        let r = |p| ProducerRecord::to("t").value("v").partition(p);
        let _d = put(&acc, &r(0)).ok().unwrap();
        let _d = put(&acc, &r(1)).ok().unwrap();
        // A third partition needs a third batch: no room.
        assert!(matches!(put(&acc, &r(2)), Err(Blocked::NoMemory(1024))));
        // An open batch still takes records without more buffer.
        let _d = put(&acc, &r(1)).ok().unwrap();
        // Completing a batch frees its share.
        let batch = t.layout().partitions[0].lock().batches.pop_front().unwrap();
        acc.finish(
            &batch,
            Ok(super::super::delivery::Acked {
                base_offset: Some(0),
                log_append_time: None,
            }),
        );
        assert!(batch.shared.outcome().is_some());
        let _d = put(&acc, &r(2)).ok().unwrap();
        assert_eq!(acc.buffered(), 2048);
    }

    #[test]
    fn oversized_records_and_bad_partitions_fail_at_once() {
        let acc = acc(1024, 1 << 20);
        with_topic(&acc, "t", 2);
        let big = ProducerRecord::to("t").value(vec![0u8; 70 * 1024]);
        match put(&acc, &big) {
            Err(Blocked::Failed(e)) => {
                assert!(matches!(
                    e.kind,
                    ProduceErrorKind::RecordTooLarge {
                        setting: "max_request_size",
                        ..
                    }
                ));
            }
            _ => panic!("expected RecordTooLarge"),
        }
        let bad = ProducerRecord::to("t").value("v").partition(5);
        match put(&acc, &bad) {
            Err(Blocked::Failed(e)) => {
                assert!(matches!(
                    e.kind,
                    ProduceErrorKind::UnknownPartition { partitions: 2 }
                ));
                assert_eq!(e.partition, Some(5));
            }
            _ => panic!("expected UnknownPartition"),
        }
        assert!(matches!(
            put(&acc, &ProducerRecord::to("nope").value("v")),
            Err(Blocked::NoTopic)
        ));
        assert_eq!(acc.buffered(), 0);
    }

    #[test]
    fn a_record_larger_than_batch_size_gets_a_batch_of_its_own() {
        let acc = acc(100, 1 << 20);
        let t = with_topic(&acc, "t", 1);
        let r = ProducerRecord::to("t").value(vec![1u8; 500]).partition(0);
        let _d = put(&acc, &r).ok().unwrap();
        let _d = put(&acc, &r).ok().unwrap();
        let layout = t.layout();
        let st = layout.partitions[0].lock();
        assert_eq!(st.batches.len(), 2);
        assert!(st.batches.iter().all(|b| b.closed && b.records == 1));
        assert!(st.batches[0].reserved as usize >= 561);
    }

    #[test]
    fn null_keys_stick_to_a_partition_for_a_batch_then_move() {
        let acc = acc(1000, 1 << 22);
        let t = with_topic(&acc, "t", 4);
        let value = Bytes::from(vec![0u8; 90]);
        let parts: Vec<i32> = (0..400)
            .map(|_| {
                let r = ProducerRecord::to("t").value(value.clone());
                let mut reserved = 1 << 20;
                assert!(acc.try_reserve(reserved));
                let a = acc.append(&r, &mut reserved, &UniformSticky).ok().unwrap();
                acc.release(reserved);
                a.delivery.partition
            })
            .collect();
        // Runs of ~10 records (1000 bytes of 100-byte records) per partition.
        let mut runs = Vec::new();
        let mut run = 1;
        for w in parts.windows(2) {
            if w[0] == w[1] {
                run += 1;
            } else {
                runs.push(run);
                run = 1;
            }
        }
        assert!(runs.len() >= 20, "{runs:?}");
        // A switch may pick the same partition again (the choice is random).
        assert!(runs.iter().all(|r| *r % 10 == 0 && *r <= 60), "{runs:?}");
        for p in 0..4 {
            let n = parts.iter().filter(|x| **x == p).count();
            assert!(n > 40, "partition {p} got {n}: {parts:?}");
        }
        drop(t);
    }

    #[test]
    fn requeue_keeps_creation_order() {
        let acc = acc(10, 1 << 20);
        let t = with_topic(&acc, "t", 1);
        let r = ProducerRecord::to("t").value("0123456789").partition(0);
        for _ in 0..4 {
            let _d = put(&acc, &r).ok().unwrap();
        }
        let layout = t.layout();
        let mut st = layout.partitions[0].lock();
        let b0 = st.batches.pop_front().unwrap();
        let b1 = st.batches.pop_front().unwrap();
        st.requeue(b1);
        st.requeue(b0);
        let ids: Vec<u64> = st.batches.iter().map(|b| b.id).collect();
        assert_eq!(ids, [0, 1, 2, 3]);
        assert!(st.retrying);
    }
}
