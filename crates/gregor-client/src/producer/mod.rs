//! The producer: batching, partitioning, idempotence and delivery reports.
//!
//! A [`Producer`] runs on a shared [`Cluster`]. Records are appended
//! straight into per-partition batches; one task per broker sends the
//! batches that are full or have lingered long enough, many partitions per
//! Produce request, up to 5 requests in flight. Idempotence is on by
//! default: retries never duplicate or reorder a partition's records.
//!
//! Await [`send`](Producer::send) to know each record was written (the
//! synchronous producer):
//!
//! ```no_run
//! use gregor_client::producer::{Producer, ProducerConfig, ProducerRecord};
//! use gregor_net::{Cluster, ClusterConfig};
//!
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! let cluster = Cluster::connect(
//!     ClusterConfig::builder().bootstrap_servers(["127.0.0.1:9092"]).build()?,
//! )
//! .await?;
//! let producer = Producer::new(cluster, ProducerConfig::default());
//! let meta = producer
//!     .send(ProducerRecord::to("orders").key("customer-42").value("12 EUR"))
//!     .await?;
//! println!("written to {}-{} at offset {:?}", meta.topic, meta.partition, meta.offset);
//! producer.close(std::time::Duration::from_secs(10)).await;
//! # Ok(())
//! # }
//! ```
//!
//! Queue many records and await their deliveries later (the asynchronous
//! producer): [`enqueue`](Producer::enqueue) waits only for buffer room.
//!
//! ```no_run
//! # use gregor_client::producer::{Producer, ProducerRecord};
//! # async fn demo(producer: Producer) -> Result<(), Box<dyn std::error::Error>> {
//! let mut deliveries = Vec::new();
//! for i in 0..10_000u32 {
//!     let record = ProducerRecord::to("events").value(i.to_string());
//!     deliveries.push(producer.enqueue(record).await?);
//! }
//! for d in deliveries {
//!     d.await?;
//! }
//! # Ok(())
//! # }
//! ```
//!
//! Fire and forget, with failures reported on a channel (cn-infra's and
//! dp-kafka's asynchronous producers): drop the delivery futures.
//!
//! ```no_run
//! use gregor_client::producer::{Producer, ProducerConfig, ProducerRecord};
//! # async fn demo(cluster: gregor_net::Cluster) -> Result<(), Box<dyn std::error::Error>> {
//! let (builder, mut reports) = Producer::builder(cluster)
//!     .config(ProducerConfig::default())
//!     .errors_only(true)
//!     .delivery_channel();
//! let producer = builder.build();
//! tokio::spawn(async move {
//!     while let Some(report) = reports.recv().await {
//!         if let Err(e) = report.result {
//!             eprintln!("record {} lost: {e}", report.opaque);
//!         }
//!     }
//! });
//! for i in 0..1000u64 {
//!     // Dropping the delivery does not cancel the record.
//!     drop(producer.enqueue(ProducerRecord::to("logs").value("line").opaque(i)).await?);
//! }
//! producer.flush().await;
//! # Ok(())
//! # }
//! ```
//!
//! Code without a runtime uses [`blocking::Producer`].

mod accumulator;
pub mod blocking;
mod config;
mod delivery;
mod idempotence;
pub mod partitioner;
mod record;
mod router;
mod sender;
mod stats;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use gregor_net::{BrokerId, Cluster};
use tokio::sync::Notify;
use tokio::time::Instant;

use self::accumulator::{Accumulator, AccumulatorConfig, Appended, Blocked, lock};
use self::delivery::{ReportSink, Reports};
use self::idempotence::{Gate, Idempotence};
use self::sender::BrokerSender;
use self::stats::Stats;

pub use self::config::{Acks, MAX_IDEMPOTENT_IN_FLIGHT, ProducerConfig, ProducerConfigBuilder};
pub use self::delivery::{
    DeliveryFuture, DeliveryReport, Persistence, ProduceError, ProduceErrorKind,
};
pub use self::partitioner::{Partitioner, PartitionerContext};
pub use self::record::{ProducerRecord, RecordMetadata};
pub use self::stats::{DurationStats, ProducerStats, SummaryStats};

/// Records not delivered, per topic and partition: how many, and whether
/// some may have been written.
type UndeliveredLog = BTreeMap<(Arc<str>, i32), (usize, Persistence)>;

/// Everything the producer's handles and tasks share.
pub(crate) struct Shared {
    pub(crate) cluster: Cluster,
    pub(crate) config: ProducerConfig,
    pub(crate) acc: Accumulator,
    pub(crate) senders: Mutex<HashMap<BrokerId, Arc<BrokerSender>>>,
    pub(crate) idempotence: Option<Idempotence>,
    pub(crate) stats: Stats,
    pub(crate) reports: Option<Reports>,
    /// `close` was called: no new records.
    pub(crate) closed: AtomicBool,
    /// Closed, or every handle dropped: send everything now, then stop.
    pub(crate) draining: AtomicBool,
    /// `flush` calls running: every batch is ready.
    pub(crate) flushing: AtomicUsize,
    /// The close deadline passed: fail everything left.
    pub(crate) aborted: AtomicBool,
    /// Produce requests awaiting their answer, all brokers.
    pub(crate) in_flight: AtomicUsize,
    /// Wakes the housekeeping task.
    pub(crate) housekeeping: Notify,
    /// Topics whose metadata a `try_send` started loading.
    loading: Mutex<HashSet<String>>,
    /// Records not delivered since `close` began, per partition.
    undelivered: Mutex<Option<UndeliveredLog>>,
}

impl fmt::Debug for Shared {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Shared")
            .field("config", &self.config)
            .field("closed", &self.closed)
            .finish_non_exhaustive()
    }
}

impl Shared {
    fn gate(&self) -> Gate {
        match &self.idempotence {
            Some(idem) => idem.gate(),
            None => Gate::Send(idempotence::ProducerIdent { id: -1, epoch: -1 }),
        }
    }

    /// Appends now if possible; wakes the sender the append concerns.
    fn append(
        &self,
        record: &ProducerRecord,
        reserved: &mut usize,
    ) -> Result<DeliveryFuture, Blocked> {
        if self.closed.load(Ordering::Relaxed) || self.aborted.load(Ordering::Relaxed) {
            return Err(Blocked::Failed(Box::new(ProduceError::not_sent(
                ProduceErrorKind::Closed,
                &record.topic,
                record.partition,
            ))));
        }
        if let Gate::Fatal(e) = self.gate() {
            return Err(Blocked::Failed(Box::new(ProduceError::not_sent(
                ProduceErrorKind::ProducerId(Box::new(e)),
                &record.topic,
                record.partition,
            ))));
        }
        let Appended { delivery, wake } =
            self.acc
                .append(record, reserved, &*self.config.partitioner)?;
        if let Some(s) = wake {
            s.notify();
        }
        Ok(delivery)
    }

    /// Counts records that failed while closing, for the close report.
    fn note_undelivered(
        &self,
        queue: &accumulator::PartitionQueue,
        records: u32,
        persisted: Persistence,
    ) {
        let mut log = lock(&self.undelivered);
        if let Some(log) = log.as_mut() {
            let entry = log
                .entry((queue.topic.clone(), queue.partition))
                .or_insert((0, Persistence::NotPersisted));
            entry.0 += records as usize;
            if persisted == Persistence::PossiblyPersisted {
                entry.1 = Persistence::PossiblyPersisted;
            }
        }
    }

    /// Waits (in `timeout` at most) until every batch created before
    /// `below` completed. Returns whether they did.
    async fn wait_completed(&self, below: u64, timeout: Option<Duration>) -> bool {
        self.acc.flush_waiters.fetch_add(1, Ordering::Relaxed);
        let _guard = Decrement(&self.acc.flush_waiters);
        let deadline = timeout.map(|t| Instant::now() + t);
        loop {
            let notified = self.acc.completed.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if self.acc.completed_below(below) {
                return true;
            }
            match deadline {
                Some(d) => {
                    if tokio::time::timeout_at(d, notified).await.is_err() {
                        return self.acc.completed_below(below);
                    }
                }
                None => notified.await,
            }
        }
    }
}

/// Decrements a counter when dropped (cancel-safe bookkeeping).
struct Decrement<'a>(&'a AtomicUsize);

impl Drop for Decrement<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

/// Buffer reserved by a send that has not used it yet; given back when
/// dropped (so a cancelled send leaks nothing).
struct Reservation<'a> {
    acc: &'a Accumulator,
    bytes: usize,
}

impl Drop for Reservation<'_> {
    fn drop(&mut self) {
        self.acc.release(self.bytes);
    }
}

/// When the last [`Producer`] handle goes, the producer sends what it holds
/// and then stops.
struct DrainOnDrop(Arc<Shared>);

impl Drop for DrainOnDrop {
    fn drop(&mut self) {
        self.0.draining.store(true, Ordering::Relaxed);
        self.0.wake_senders();
        self.0.housekeeping.notify_one();
    }
}

/// A Kafka producer: cheap to clone (every clone shares the same buffers,
/// tasks and connections), `Send + Sync`.
///
/// Built on a [`Cluster`] it shares with every consumer and admin of the
/// application. Needs a Tokio runtime; see [`blocking::Producer`] for code
/// without one.
///
/// Dropping the last handle does not lose records: the background tasks
/// send everything queued (each record within its delivery timeout) and
/// complete every [`DeliveryFuture`] before they stop. [`close`](Self::close)
/// does the same with a deadline and says what could not be delivered.
#[derive(Clone)]
pub struct Producer {
    shared: Arc<Shared>,
    _guard: Arc<DrainOnDrop>,
}

impl fmt::Debug for Producer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Producer")
            .field("config", &self.shared.config)
            .field("closed", &self.shared.closed.load(Ordering::Relaxed))
            .finish_non_exhaustive()
    }
}

/// Builds a [`Producer`] with delivery reports; see [`Producer::builder`].
#[must_use]
pub struct ProducerBuilder {
    cluster: Cluster,
    config: ProducerConfig,
    sink: Option<ReportSink>,
    errors_only: bool,
}

impl fmt::Debug for ProducerBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ProducerBuilder")
            .field("config", &self.config)
            .field("reports", &self.sink)
            .field("errors_only", &self.errors_only)
            .finish_non_exhaustive()
    }
}

impl ProducerBuilder {
    /// Uses `config` (default: [`ProducerConfig::default`]).
    pub fn config(mut self, config: ProducerConfig) -> Self {
        self.config = config;
        self
    }

    /// Calls `f` with a report for every record, on the sender task that
    /// completed it: keep it short and never block in it.
    pub fn on_delivery(mut self, f: impl Fn(DeliveryReport) + Send + Sync + 'static) -> Self {
        self.sink = Some(ReportSink::Callback(Arc::new(f)));
        self
    }

    /// Sends a report for every record to the returned channel (unbounded:
    /// read it, or use [`errors_only`](Self::errors_only)).
    pub fn delivery_channel(
        mut self,
    ) -> (Self, tokio::sync::mpsc::UnboundedReceiver<DeliveryReport>) {
        let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
        self.sink = Some(ReportSink::Channel(tx));
        (self, rx)
    }

    /// Reports only records that failed (dp-kafka's `Errors` channel).
    pub fn errors_only(mut self, only: bool) -> Self {
        self.errors_only = only;
        self
    }

    /// Starts the producer.
    ///
    /// # Panics
    ///
    /// Outside a Tokio runtime.
    pub fn build(self) -> Producer {
        let config = self.config;
        let acc = Accumulator::new(AccumulatorConfig {
            batch_size: config.batch_size,
            max_request_size: config.max_request_size,
            buffer_memory: config.buffer_memory,
            compression: config.compression,
            keep_stamps: self.sink.is_some(),
        });
        let shared = Arc::new(Shared {
            cluster: self.cluster,
            idempotence: config.idempotence.then(Idempotence::default),
            config,
            acc,
            senders: Mutex::new(HashMap::new()),
            stats: Stats::default(),
            reports: self.sink.map(|sink| Reports {
                sink,
                errors_only: self.errors_only,
            }),
            closed: AtomicBool::new(false),
            draining: AtomicBool::new(false),
            flushing: AtomicUsize::new(0),
            aborted: AtomicBool::new(false),
            in_flight: AtomicUsize::new(0),
            housekeeping: Notify::new(),
            loading: Mutex::new(HashSet::new()),
            undelivered: Mutex::new(None),
        });
        tokio::spawn(router::housekeeping(shared.clone()));
        Producer {
            _guard: Arc::new(DrainOnDrop(shared.clone())),
            shared,
        }
    }
}

impl Producer {
    /// A producer on `cluster` with `config`. Fetches its producer id (if
    /// idempotent) in the background; sends wait for it.
    ///
    /// # Panics
    ///
    /// Outside a Tokio runtime.
    pub fn new(cluster: Cluster, config: ProducerConfig) -> Producer {
        Producer::builder(cluster).config(config).build()
    }

    /// A builder, for delivery reports.
    pub fn builder(cluster: Cluster) -> ProducerBuilder {
        ProducerBuilder {
            cluster,
            config: ProducerConfig::default(),
            sink: None,
            errors_only: false,
        }
    }

    /// Connects to the cluster at `bootstrap` (`host:port`) with default
    /// cluster settings and starts a producer on it.
    ///
    /// # Errors
    ///
    /// [`Error::Config`](crate::Error::Config) for a malformed address, or
    /// the error of bootstrapping.
    pub async fn connect(bootstrap: &str, config: ProducerConfig) -> crate::Result<Producer> {
        let cluster_config = gregor_net::ClusterConfig::builder()
            .bootstrap_servers([bootstrap])
            .build()
            .map_err(|e| crate::Error::config(e.field(), e.reason()))?;
        let cluster = Cluster::connect(cluster_config).await?;
        Ok(Producer::new(cluster, config))
    }

    /// Sends a record and resolves once the broker acknowledged it (or it
    /// failed): awaiting it is the synchronous producer.
    ///
    /// The record is queued at once when its topic's metadata is known and
    /// there is buffer room, so a `SendFuture` dropped after this call
    /// still delivers it; otherwise the future waits for metadata and room
    /// (up to the [metadata wait](ProducerConfig::metadata_wait)) when first
    /// polled, and dropping it before then drops the record.
    pub fn send(&self, record: ProducerRecord) -> SendFuture {
        let mut reservation = Reservation {
            acc: &self.shared.acc,
            bytes: 0,
        };
        loop {
            match self.shared.append(&record, &mut reservation.bytes) {
                Ok(d) => return SendFuture::delivering(d),
                Err(Blocked::Failed(e)) => return SendFuture::failed(*e),
                Err(Blocked::NoMemory(n))
                    if reservation.bytes == 0 && self.shared.acc.try_reserve(n) =>
                {
                    reservation.bytes = n;
                }
                Err(_) => break,
            }
        }
        drop(reservation);
        let shared = self.shared.clone();
        SendFuture {
            state: SendState::Queuing(Box::pin(async move { enqueue(&shared, record).await })),
        }
    }

    /// Queues a record, waiting for its topic's metadata and for buffer
    /// room as needed (up to the [metadata wait](ProducerConfig::metadata_wait)),
    /// and returns its [`DeliveryFuture`] without waiting for the broker.
    ///
    /// Cancel-safe: dropped before it returns, the record was not queued.
    ///
    /// # Errors
    ///
    /// A [`ProduceError`] (never written) for a closed producer, an
    /// unknown topic or partition, a record too large, or no room in time.
    pub async fn enqueue(&self, record: ProducerRecord) -> Result<DeliveryFuture, ProduceError> {
        enqueue(&self.shared, record).await
    }

    /// Queues a record without waiting for anything.
    ///
    /// # Errors
    ///
    /// [`ProduceErrorKind::BufferFull`] when the buffer has no room,
    /// [`ProduceErrorKind::MetadataPending`] when the topic's metadata is
    /// not loaded yet (loading starts), and the errors of
    /// [`enqueue`](Self::enqueue).
    pub fn try_send(&self, record: ProducerRecord) -> Result<DeliveryFuture, ProduceError> {
        let mut reservation = Reservation {
            acc: &self.shared.acc,
            bytes: 0,
        };
        loop {
            match self.shared.append(&record, &mut reservation.bytes) {
                Ok(d) => return Ok(d),
                Err(Blocked::Failed(e)) => return Err(*e),
                Err(Blocked::NoMemory(n)) => {
                    if reservation.bytes == 0 && self.shared.acc.try_reserve(n) {
                        reservation.bytes = n;
                        continue;
                    }
                    return Err(ProduceError::not_sent(
                        ProduceErrorKind::BufferFull {
                            buffer_memory: self.shared.config.buffer_memory,
                        },
                        &record.topic,
                        record.partition,
                    ));
                }
                Err(Blocked::NoTopic) => {
                    self.start_loading(&record.topic);
                    return Err(ProduceError::not_sent(
                        ProduceErrorKind::MetadataPending,
                        &record.topic,
                        record.partition,
                    ));
                }
            }
        }
    }

    fn start_loading(&self, topic: &str) {
        if !lock(&self.shared.loading).insert(topic.to_owned()) {
            return;
        }
        let shared = self.shared.clone();
        let topic = topic.to_owned();
        tokio::spawn(async move {
            let deadline = Instant::now() + shared.config.metadata_wait;
            if let Err(e) = shared.load_topic(&topic, deadline).await {
                tracing::warn!(error = %e, "loading topic metadata failed");
            }
            lock(&shared.loading).remove(&topic);
        });
    }

    /// Sends every record queued so far without waiting for `linger`, and
    /// waits until each is delivered or failed. Cancel-safe.
    pub async fn flush(&self) {
        let below = self.shared.acc.next_id();
        self.shared.flushing.fetch_add(1, Ordering::Relaxed);
        let _flushing = Decrement(&self.shared.flushing);
        self.shared.wake_senders();
        self.shared.wait_completed(below, None).await;
    }

    /// Stops accepting records, sends everything queued and waits up to
    /// `timeout` for it to be delivered; then fails whatever is left with
    /// [`ProduceErrorKind::Closed`] and stops the producer's tasks. Returns
    /// what could not be delivered. Later sends fail with `Closed`.
    pub async fn close(&self, timeout: Duration) -> CloseReport {
        {
            let mut log = lock(&self.shared.undelivered);
            if log.is_none() {
                *log = Some(BTreeMap::new());
            }
        }
        self.shared.closed.store(true, Ordering::Relaxed);
        self.shared.draining.store(true, Ordering::Relaxed);
        self.shared.wake_senders();
        self.shared.housekeeping.notify_one();
        let all = self.shared.acc.next_id();
        if !self.shared.wait_completed(all, Some(timeout)).await {
            tracing::warn!(
                left = self.shared.acc.incomplete(),
                "close deadline passed; failing what is left"
            );
            self.shared.aborted.store(true, Ordering::Relaxed);
            self.shared.abort_queued();
            self.shared.wake_senders();
            self.shared.housekeeping.notify_one();
            // Senders fail their requests in flight as soon as they wake.
            self.shared
                .wait_completed(all, Some(Duration::from_secs(5)))
                .await;
        }
        let log = lock(&self.shared.undelivered).clone().unwrap_or_default();
        CloseReport {
            undelivered: log
                .into_iter()
                .map(|((topic, partition), (records, persisted))| Undelivered {
                    topic,
                    partition,
                    records,
                    persisted,
                })
                .collect(),
        }
    }

    /// What the producer did so far.
    pub fn stats(&self) -> ProducerStats {
        self.shared.stats.snapshot(
            self.shared.acc.buffered() as u64,
            self.shared.in_flight.load(Ordering::Relaxed) as u64,
        )
    }

    /// The configuration.
    pub fn config(&self) -> &ProducerConfig {
        &self.shared.config
    }

    /// The cluster the producer runs on.
    pub fn cluster(&self) -> &Cluster {
        &self.shared.cluster
    }

    /// Whether [`close`](Self::close) was called.
    pub fn is_closed(&self) -> bool {
        self.shared.closed.load(Ordering::Relaxed)
    }
}

/// Queues `record`, waiting for metadata and buffer room up to the
/// metadata wait.
async fn enqueue(
    shared: &Arc<Shared>,
    record: ProducerRecord,
) -> Result<DeliveryFuture, ProduceError> {
    let deadline = Instant::now() + shared.config.metadata_wait;
    let mut reservation = Reservation {
        acc: &shared.acc,
        bytes: 0,
    };
    loop {
        match shared.append(&record, &mut reservation.bytes) {
            Ok(d) => return Ok(d),
            Err(Blocked::Failed(e)) => return Err(*e),
            Err(Blocked::NoTopic) => shared.load_topic(&record.topic, deadline).await?,
            Err(Blocked::NoMemory(n)) => {
                shared.acc.release(std::mem::take(&mut reservation.bytes));
                if shared.acc.try_reserve(n) {
                    reservation.bytes = n;
                    continue;
                }
                // While anyone waits for room, every batch is ready, so
                // room comes back as fast as the brokers allow.
                shared.acc.memory_waiters.fetch_add(1, Ordering::Relaxed);
                let _waiting = Decrement(&shared.acc.memory_waiters);
                shared.wake_senders();
                match tokio::time::timeout_at(deadline, shared.acc.reserve(n)).await {
                    Ok(true) => reservation.bytes = n,
                    _ => {
                        return Err(ProduceError::not_sent(
                            ProduceErrorKind::BufferFull {
                                buffer_memory: shared.config.buffer_memory,
                            },
                            &record.topic,
                            record.partition,
                        ));
                    }
                }
            }
        }
    }
}

/// The future of [`Producer::send`]: resolves to where the record was
/// written.
#[must_use = "a record whose topic or buffer room is not ready yet is only queued when its SendFuture is polled"]
pub struct SendFuture {
    state: SendState,
}

type Queuing = Pin<Box<dyn Future<Output = Result<DeliveryFuture, ProduceError>> + Send>>;

enum SendState {
    Queuing(Queuing),
    Delivering(DeliveryFuture),
    Failed(Option<ProduceError>),
}

impl SendFuture {
    fn delivering(d: DeliveryFuture) -> Self {
        Self {
            state: SendState::Delivering(d),
        }
    }

    fn failed(e: ProduceError) -> Self {
        Self {
            state: SendState::Failed(Some(e)),
        }
    }

    /// Whether the record is queued already (so dropping this future no
    /// longer drops it).
    pub fn is_queued(&self) -> bool {
        matches!(self.state, SendState::Delivering(_))
    }
}

impl fmt::Debug for SendFuture {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = match &self.state {
            SendState::Queuing(_) => "queuing",
            SendState::Delivering(_) => "delivering",
            SendState::Failed(_) => "failed",
        };
        f.debug_struct("SendFuture").field("state", &state).finish()
    }
}

impl Future for SendFuture {
    type Output = Result<RecordMetadata, ProduceError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        loop {
            match &mut this.state {
                SendState::Delivering(d) => return Pin::new(d).poll(cx),
                SendState::Failed(e) => {
                    return Poll::Ready(Err(e.take().unwrap_or_else(|| {
                        ProduceError::not_sent(ProduceErrorKind::Closed, "", None)
                    })));
                }
                SendState::Queuing(f) => match f.as_mut().poll(cx) {
                    Poll::Pending => return Poll::Pending,
                    Poll::Ready(Ok(d)) => this.state = SendState::Delivering(d),
                    Poll::Ready(Err(e)) => this.state = SendState::Failed(Some(e)),
                },
            }
        }
    }
}

/// What [`Producer::close`] could not deliver.
#[non_exhaustive]
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CloseReport {
    /// Per partition, the records that failed while closing.
    pub undelivered: Vec<Undelivered>,
}

impl CloseReport {
    /// Whether everything was delivered.
    pub fn is_clean(&self) -> bool {
        self.undelivered.is_empty()
    }

    /// Records not delivered, in all.
    pub fn undelivered_records(&self) -> usize {
        self.undelivered.iter().map(|u| u.records).sum()
    }
}

/// Records of one partition that [`Producer::close`] could not deliver.
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Undelivered {
    /// The topic.
    pub topic: Arc<str>,
    /// The partition.
    pub partition: i32,
    /// How many records.
    pub records: usize,
    /// Whether some of them may have been written anyway.
    pub persisted: Persistence,
}

/// A producer's shared state with no task running, on a cluster that is
/// never dialled: for tests that drive the parts by hand.
#[cfg(test)]
pub(crate) fn test_shared(config: ProducerConfig) -> Arc<Shared> {
    let cluster = Cluster::new(
        gregor_net::ClusterConfig::builder()
            .bootstrap_servers(["127.0.0.1:1"])
            .build()
            .unwrap_or_else(|e| panic!("{e}")),
    );
    let acc = Accumulator::new(AccumulatorConfig {
        batch_size: config.batch_size,
        max_request_size: config.max_request_size,
        buffer_memory: config.buffer_memory,
        compression: config.compression,
        keep_stamps: false,
    });
    Arc::new(Shared {
        cluster,
        idempotence: config.idempotence.then(Idempotence::default),
        config,
        acc,
        senders: Mutex::new(HashMap::new()),
        stats: Stats::default(),
        reports: None,
        closed: AtomicBool::new(false),
        draining: AtomicBool::new(false),
        flushing: AtomicUsize::new(0),
        aborted: AtomicBool::new(false),
        in_flight: AtomicUsize::new(0),
        housekeeping: Notify::new(),
        loading: Mutex::new(HashSet::new()),
        undelivered: Mutex::new(None),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn handles_and_futures_are_send_and_sync() {
        fn send_sync<T: Send + Sync>() {}
        fn send<T: Send>() {}
        send_sync::<Producer>();
        send_sync::<ProducerRecord>();
        send_sync::<ProduceError>();
        send::<SendFuture>();
        send::<DeliveryFuture>();
        fn enqueue_is_send(p: &Producer) {
            fn check<T: Send>(_: &T) {}
            check(&p.enqueue(ProducerRecord::to("t")));
            check(&p.flush());
            check(&p.close(Duration::ZERO));
        }
        let _ = enqueue_is_send;
    }
}
