//! The consumer: assigned partitions or a consumer group, fetch sessions, offsets and rebalance listeners.
//!
//! A [`Consumer`] reads partitions either as a member of a consumer group
//! ([`subscribe`](Consumer::subscribe): the group's assignor decides which
//! partitions it gets, and they move between members as members come and
//! go) or as assigned by the application ([`assign`](Consumer::assign) and
//! [`seek`](Consumer::seek)). Records come out of
//! [`poll_batch`](Consumer::poll_batch) or as a `futures::Stream`
//! ([`stream`](Consumer::stream)); keys and values are slices of the fetch
//! responses, never copied.
//!
//! ## At least once
//!
//! Process, then commit: a crash between the two replays the batch, never
//! loses it.
//!
//! ```no_run
//! use std::time::Duration;
//!
//! use gregor_client::consumer::{Consumer, ConsumerConfig, OffsetReset};
//! use gregor_net::{Cluster, ClusterConfig};
//!
//! # fn process(_: &gregor_client::consumer::ConsumerRecord) {}
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! let cluster = Cluster::connect(
//!     ClusterConfig::builder().bootstrap_servers(["kafka-1:9092"]).build()?,
//! )
//! .await?;
//! let config = ConsumerConfig::builder()
//!     .group_id("billing")
//!     .enable_auto_commit(false)
//!     .offset_reset(OffsetReset::Earliest)
//!     .build()?;
//! let consumer = Consumer::new(cluster, config);
//! consumer.subscribe(["orders"])?;
//! loop {
//!     let batch = match consumer.poll_batch(500, Duration::from_secs(1)).await {
//!         Ok(batch) => batch,
//!         // Errors name the group, topic and partition; most are passing
//!         // (the consumer retries), some stop one partition.
//!         Err(e) if e.is_retriable() => continue,
//!         Err(e) => return Err(e.into()),
//!     };
//!     if batch.is_empty() {
//!         continue;
//!     }
//!     for record in &batch {
//!         process(record);
//!     }
//!     // Everything handed out so far is processed: commit it.
//!     consumer.commit().await?;
//! }
//! # }
//! ```
//!
//! ## How it works
//!
//! - A **fetcher** task keeps one Fetch in flight per broker for the
//!   partitions it leads, inside an incremental fetch session (KIP-227),
//!   and buffers the records within a prefetch memory budget.
//! - With a group, a **group driver** task runs the sans-io
//!   [`gregor_group::GroupMember`] with the cluster: joins, heartbeats,
//!   commits, and on a revocation waits for the application to finish the
//!   records it has, calls the [`RebalanceListener`], commits, and only
//!   then lets the partitions go.
//! - Offsets: a partition starts at its committed offset, else by the
//!   [`OffsetReset`] policy, which also decides what happens on
//!   `OFFSET_OUT_OF_RANGE`. A record handed out counts as processed once
//!   the application polls again; auto-commit and commit-on-revoke commit
//!   processed positions, never partitions that were lost.
//! - `read_committed` drops aborted transactions (the Java consumer's
//!   algorithm over the fetch response's aborted transaction list);
//!   control records are never returned.

mod buffer;
mod config;
mod coordinator;
mod decode;
mod fetch;
mod fetcher;
mod group;
mod handle;
mod listener;
mod offsets;
mod record;
mod session;
mod state;
mod stats;
mod stream;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use gregor_net::{Cluster, ClusterConfig};
use tokio::sync::oneshot;
use tokio::task::AbortHandle;

pub use config::{
    AssignmentStrategy, ConsumerConfig, ConsumerConfigBuilder, IsolationLevel, OffsetReset,
};
pub use gregor_group::{Assignor, OffsetAndMetadata, TopicPartition};
pub use handle::ConsumerHandle;
pub use listener::RebalanceListener;
pub use record::{ConsumerRecord, Offset};
pub use stats::{ConsumerStats, DurationSummary};
pub use stream::RecordStream;

use crate::error::{Error, Result};
use group::GroupCommand;
use state::{Mode, Shared};
use stats::Counters;

/// A Kafka consumer. See the [module documentation](self).
///
/// Methods take `&self`, so a consumer can be shared (in an `Arc`) between
/// a polling task and others that seek, pause or commit. Polls from
/// several tasks at once are allowed, but "processed" (what auto-commit
/// commits) then means "handed out before any task's latest poll".
///
/// [`close`](Self::close) it to leave the group cleanly (committing, with
/// auto-commit, and handing partitions over at once). Dropping a consumer
/// stops its tasks on the spot, like a crashed process: no commit, no
/// LeaveGroup, and the group moves its partitions only after the session
/// timeout.
pub struct Consumer {
    handle: ConsumerHandle,
    tasks: Mutex<Vec<AbortHandle>>,
}

impl std::fmt::Debug for Consumer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Consumer")
            .field("group_id", &self.shared().group_id())
            .field("assignment", &self.assignment())
            .finish_non_exhaustive()
    }
}

impl Consumer {
    /// A consumer on `cluster` (shared with any producer or admin built on
    /// it). It reads nothing until [`subscribe`](Self::subscribe) or
    /// [`assign`](Self::assign).
    ///
    /// # Panics
    ///
    /// Outside a Tokio runtime.
    pub fn new(cluster: Cluster, config: ConsumerConfig) -> Consumer {
        let shared = Shared::new(cluster, config);
        let mut tasks = vec![fetcher::spawn(shared.clone()).abort_handle()];
        if shared.config.auto_commit {
            tasks.push(tokio::spawn(auto_commit_assigned(shared.clone())).abort_handle());
        }
        Consumer {
            handle: ConsumerHandle::new(shared),
            tasks: Mutex::new(tasks),
        }
    }

    /// Connects to the cluster at `bootstrap` (`host:port`, comma
    /// separated) and builds a consumer on it.
    ///
    /// # Errors
    ///
    /// [`Error::Config`] for a bad address, or the bootstrap's error.
    pub async fn connect(bootstrap: &str, config: ConsumerConfig) -> Result<Consumer> {
        let cluster_config = ClusterConfig::builder()
            .bootstrap_servers(bootstrap.split(',').map(str::trim))
            .build()
            .map_err(|e| Error::config(e.field(), e.reason()))?;
        let cluster = Cluster::connect(cluster_config).await?;
        Ok(Consumer::new(cluster, config))
    }

    fn shared(&self) -> &Arc<Shared> {
        &self.handle.shared
    }

    /// A cheap handle for other tasks and for rebalance listeners.
    pub fn handle(&self) -> ConsumerHandle {
        self.handle.clone()
    }

    /// The configuration.
    pub fn config(&self) -> &ConsumerConfig {
        &self.shared().config
    }

    /// The cluster.
    pub fn cluster(&self) -> &Cluster {
        &self.shared().cluster
    }

    /// Joins the group and consumes `topics` (replacing an earlier
    /// subscription); an empty list is [`unsubscribe`](Self::unsubscribe).
    ///
    /// # Errors
    ///
    /// [`Error::IllegalState`] without a group id or while partitions are
    /// assigned manually; [`Error::Closed`] after close.
    pub fn subscribe<I, S>(&self, topics: I) -> Result<()>
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.subscribe_inner(topics.into_iter().map(Into::into).collect(), None)
    }

    /// [`subscribe`](Self::subscribe), with a listener for assignments and
    /// revocations (replacing any earlier one).
    ///
    /// # Errors
    ///
    /// As [`subscribe`](Self::subscribe).
    pub fn subscribe_with<I, S>(&self, topics: I, listener: impl RebalanceListener) -> Result<()>
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.subscribe_inner(
            topics.into_iter().map(Into::into).collect(),
            Some(Arc::new(listener)),
        )
    }

    fn subscribe_inner(
        &self,
        topics: BTreeSet<String>,
        listener: Option<Arc<dyn RebalanceListener>>,
    ) -> Result<()> {
        let shared = self.shared();
        let Some(group) = shared.config.group().cloned() else {
            return Err(Error::IllegalState {
                operation: "subscribe",
                reason: "subscribing needs a group_id".to_owned(),
            });
        };
        {
            let mut st = shared.lock();
            if st.closed {
                return Err(Error::Closed("consumer"));
            }
            if st.mode == Mode::Manual && !st.partitions.is_empty() {
                return Err(Error::IllegalState {
                    operation: "subscribe",
                    reason: "partitions are assigned manually; assign an empty set first"
                        .to_owned(),
                });
            }
            st.mode = Mode::Group;
            st.subscription = topics.clone();
        }
        let mut inbox = shared.group.lock().unwrap_or_else(|e| e.into_inner());
        if inbox.is_none() {
            let listener = listener
                .clone()
                .unwrap_or_else(|| Arc::new(listener::NoopListener));
            let (tx, task) = group::spawn(shared.clone(), group, listener);
            self.tasks
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .push(task.abort_handle());
            *inbox = Some(tx);
        } else if let (Some(l), Some(tx)) = (listener, inbox.as_ref()) {
            let _ = tx.send(GroupCommand::Listener(l));
        }
        if let Some(tx) = inbox.as_ref() {
            let _ = tx.send(GroupCommand::Subscribe(topics));
        }
        Ok(())
    }

    /// Leaves the group's subscription: the partitions are revoked
    /// (committed first, with auto-commit) and the member leaves.
    ///
    /// # Errors
    ///
    /// [`Error::Closed`] after close.
    pub fn unsubscribe(&self) -> Result<()> {
        let shared = self.shared();
        {
            let mut st = shared.lock();
            if st.closed {
                return Err(Error::Closed("consumer"));
            }
            st.subscription.clear();
        }
        shared.to_group(GroupCommand::Subscribe(BTreeSet::new()));
        Ok(())
    }

    /// Reads exactly `partitions` (replacing an earlier assignment), from
    /// their committed offsets (with a group id) or by the
    /// [`OffsetReset`] policy; [`seek`](Self::seek) moves them. Partitions
    /// kept from the earlier assignment keep their positions.
    ///
    /// # Errors
    ///
    /// [`Error::IllegalState`] while subscribed; [`Error::Closed`] after
    /// close.
    pub fn assign(&self, partitions: impl IntoIterator<Item = TopicPartition>) -> Result<()> {
        let shared = self.shared();
        let partitions: BTreeSet<TopicPartition> = partitions.into_iter().collect();
        let queued_error = {
            let mut st = shared.lock();
            if st.closed {
                return Err(Error::Closed("consumer"));
            }
            if st.mode == Mode::Group && !(st.subscription.is_empty() && st.partitions.is_empty()) {
                return Err(Error::IllegalState {
                    operation: "assign",
                    reason: "the consumer is subscribed to topics; unsubscribe first".to_owned(),
                });
            }
            st.mode = if partitions.is_empty() {
                Mode::Idle
            } else {
                Mode::Manual
            };
            let before = st.errors.len();
            st.assign_manual(partitions, shared.config.offset_reset, shared.group_id());
            st.errors.len() > before
        };
        shared.wake_fetcher();
        if queued_error {
            shared.data_ready.notify_waiters();
        }
        Ok(())
    }

    /// The partitions assigned now.
    pub fn assignment(&self) -> BTreeSet<TopicPartition> {
        self.handle.assignment()
    }

    /// Waits up to `timeout` for records and returns up to `max` of them
    /// (an empty batch when none came in time).
    ///
    /// Calling it marks every record returned by earlier polls as
    /// processed. Records come one partition's fetch at a time, so every
    /// partition gets its turn. Cancel-safe: records are taken only when
    /// the call returns them.
    ///
    /// # Errors
    ///
    /// An error from fetching, an offset lookup or the group, each
    /// returned once (the records stay for the next poll); most are
    /// passing, see [`Error::is_retriable`]. [`Error::Closed`] after close.
    pub async fn poll_batch(&self, max: usize, timeout: Duration) -> Result<Vec<ConsumerRecord>> {
        let deadline = tokio::time::Instant::now() + timeout;
        self.begin_poll();
        loop {
            let notified = self.shared().data_ready.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if let Some(records) = self.try_take(max)? {
                return Ok(records);
            }
            if max == 0 || tokio::time::timeout_at(deadline, notified).await.is_err() {
                return Ok(Vec::new());
            }
        }
    }

    /// One record, waiting up to `timeout`; see
    /// [`poll_batch`](Self::poll_batch).
    ///
    /// # Errors
    ///
    /// As [`poll_batch`](Self::poll_batch).
    pub async fn poll(&self, timeout: Duration) -> Result<Option<ConsumerRecord>> {
        Ok(self.poll_batch(1, timeout).await?.pop())
    }

    /// The records as a `futures::Stream`; see [`RecordStream`].
    pub fn stream(&self) -> RecordStream<'_> {
        RecordStream::new(self)
    }

    /// The next record, waiting as long as it takes (for the stream).
    pub(crate) async fn next_record(&self) -> Result<ConsumerRecord> {
        self.begin_poll();
        loop {
            let notified = self.shared().data_ready.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if let Some(mut records) = self.try_take(1)?
                && let Some(record) = records.pop()
            {
                return Ok(record);
            }
            notified.await;
        }
    }

    /// Everything handed out so far is processed.
    fn begin_poll(&self) {
        self.shared().lock().mark_polled(Instant::now());
        self.shared().polled.notify_waiters();
    }

    fn try_take(&self, max: usize) -> Result<Option<Vec<ConsumerRecord>>> {
        let shared = self.shared();
        let taken = {
            let mut st = shared.lock();
            if let Some(e) = st.errors.pop_front() {
                return Err(e);
            }
            if st.closed {
                return Err(Error::Closed("consumer"));
            }
            st.take(max)
        };
        if taken.drained {
            shared.wake_fetcher();
        }
        if taken.records.is_empty() {
            return Ok(None);
        }
        Counters::add(&shared.counters.messages, taken.records.len() as u64);
        Counters::add(&shared.counters.bytes, taken.payload);
        Ok(Some(taken.records))
    }

    /// The offset of the next record [`poll_batch`](Self::poll_batch)
    /// returns for `tp`, or `None` while it is not known.
    pub fn position(&self, tp: &TopicPartition) -> Option<i64> {
        self.handle.position(tp)
    }

    /// Moves `tp`'s position; see [`ConsumerHandle::seek`].
    ///
    /// # Errors
    ///
    /// [`Error::IllegalState`] if `tp` is not assigned.
    pub fn seek(&self, tp: &TopicPartition, offset: Offset) -> Result<()> {
        self.handle.seek(tp, offset)
    }

    /// Pauses partitions; see [`ConsumerHandle::pause`].
    ///
    /// # Errors
    ///
    /// [`Error::IllegalState`] for a partition not assigned.
    pub fn pause(&self, partitions: &[TopicPartition]) -> Result<()> {
        self.handle.pause(partitions)
    }

    /// Resumes partitions; see [`ConsumerHandle::resume`].
    ///
    /// # Errors
    ///
    /// [`Error::IllegalState`] for a partition not assigned.
    pub fn resume(&self, partitions: &[TopicPartition]) -> Result<()> {
        self.handle.resume(partitions)
    }

    /// The paused partitions.
    pub fn paused(&self) -> BTreeSet<TopicPartition> {
        self.handle.paused()
    }

    /// Commits every assigned partition's position; see
    /// [`ConsumerHandle::commit`].
    ///
    /// # Errors
    ///
    /// As [`ConsumerHandle::commit`].
    pub async fn commit(&self) -> Result<()> {
        self.handle.commit().await
    }

    /// Commits explicit offsets; see [`ConsumerHandle::commit_offsets`].
    ///
    /// # Errors
    ///
    /// As [`ConsumerHandle::commit`].
    pub async fn commit_offsets(
        &self,
        offsets: BTreeMap<TopicPartition, OffsetAndMetadata>,
    ) -> Result<()> {
        self.handle.commit_offsets(offsets).await
    }

    /// Starts a commit of every position without waiting; see
    /// [`ConsumerHandle::commit_async`].
    pub fn commit_async(&self) {
        self.handle.commit_async();
    }

    /// The committed offsets of `partitions`; see
    /// [`ConsumerHandle::committed`].
    ///
    /// # Errors
    ///
    /// As [`ConsumerHandle::committed`].
    pub async fn committed(
        &self,
        partitions: &[TopicPartition],
    ) -> Result<BTreeMap<TopicPartition, Option<OffsetAndMetadata>>> {
        self.handle.committed(partitions).await
    }

    /// How far `tp`'s position is behind the end of the log, as of the
    /// latest fetch (kafka-go's `Lag`): the high watermark (the last stable
    /// offset under `read_committed`) minus the position. `None` before
    /// the first fetch.
    pub fn lag(&self, tp: &TopicPartition) -> Option<i64> {
        let read_committed = self.config().isolation_level() == IsolationLevel::ReadCommitted;
        self.shared()
            .lock()
            .partitions
            .get(tp)
            .and_then(|p| p.lag(read_committed))
    }

    /// [`lag`](Self::lag) of every assigned partition that has one.
    pub fn lags(&self) -> BTreeMap<TopicPartition, i64> {
        let read_committed = self.config().isolation_level() == IsolationLevel::ReadCommitted;
        self.shared()
            .lock()
            .partitions
            .iter()
            .filter_map(|(tp, p)| p.lag(read_committed).map(|l| (tp.clone(), l)))
            .collect()
    }

    /// Asks `tp`'s leader for the end of the log and returns how far the
    /// position is behind it (kafka-go's `ReadLag`), for when the
    /// application cannot poll but wants an up-to-date lag.
    ///
    /// # Errors
    ///
    /// [`Error::IllegalState`] while the position is unknown, or the
    /// ListOffsets request's error.
    pub async fn read_lag(&self, tp: &TopicPartition) -> Result<i64> {
        let Some(position) = self.position(tp) else {
            return Err(Error::IllegalState {
                operation: "read_lag",
                reason: format!("{tp} has no position"),
            });
        };
        let isolation = self.config().isolation_level();
        let latest = handle::retry(self.shared(), || {
            offsets::latest_offset(self.cluster(), tp, isolation)
        })
        .await?;
        Ok((latest - position).max(0))
    }

    /// Counters and gauges, like kafka-go's `ReaderStats`.
    pub fn stats(&self) -> ConsumerStats {
        let shared = self.shared();
        let config = &shared.config;
        let mut stats = ConsumerStats {
            group_id: config.group_id().map(str::to_owned),
            queue_capacity: config.prefetch_budget,
            min_bytes: config.fetch_min_bytes,
            max_bytes: config.fetch_max_bytes,
            max_wait: config.fetch_max_wait,
            ..ConsumerStats::default()
        };
        shared.counters.fill(&mut stats);
        let read_committed = config.isolation_level() == IsolationLevel::ReadCommitted;
        let st = shared.lock();
        stats.assigned_partitions = st.partitions.len();
        stats.queue_bytes = st.buffered_bytes;
        stats.queue_length = st.partitions.values().map(|p| p.buffered_records).sum();
        stats.lag = st
            .partitions
            .values()
            .filter_map(|p| p.lag(read_committed))
            .sum();
        stats
    }

    /// Closes the consumer: every record handed out counts as processed,
    /// the group member (if any) revokes its partitions (calling the
    /// listener and, with auto-commit, committing) and leaves the group,
    /// and the tasks stop. Waits at most the rebalance timeout.
    ///
    /// # Errors
    ///
    /// [`Error::Timeout`] if leaving took too long, or the final commit's
    /// error (manual assignment with auto-commit).
    pub async fn close(self) -> Result<()> {
        let shared = self.shared().clone();
        self.begin_poll();
        let mut result = Ok(());
        let (tx, rx) = oneshot::channel();
        if shared.to_group(GroupCommand::Close(tx)) {
            let limit = shared
                .config
                .group()
                .map_or(Duration::from_secs(30), |g| g.rebalance_timeout());
            match tokio::time::timeout(limit, rx).await {
                Ok(Ok(r)) => result = r,
                Ok(Err(_)) => {}
                Err(_) => {
                    result = Err(Error::Timeout {
                        operation: "leaving the consumer group",
                        after: limit,
                    });
                }
            }
        } else if shared.config.auto_commit && shared.lock().mode == Mode::Manual {
            result = commit_assigned(&shared).await;
        }
        shared.lock().closed = true;
        shared.data_ready.notify_waiters();
        shared.wake_fetcher();
        result
    }
}

impl Drop for Consumer {
    fn drop(&mut self) {
        for task in self
            .tasks
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .drain(..)
        {
            task.abort();
        }
        let shared = self.shared();
        shared.lock().closed = true;
        *shared.group.lock().unwrap_or_else(|e| e.into_inner()) = None;
        shared.data_ready.notify_waiters();
    }
}

/// Commits the processed positions of manually assigned partitions that
/// moved.
async fn commit_assigned(shared: &Arc<Shared>) -> Result<()> {
    let offsets: BTreeMap<TopicPartition, OffsetAndMetadata> = {
        let st = shared.lock();
        if st.mode != Mode::Manual {
            return Ok(());
        }
        st.consumed_offsets(st.partitions.keys(), false)
            .into_iter()
            .map(|(tp, o)| (tp, OffsetAndMetadata::new(o)))
            .collect()
    };
    handle::commit(shared, offsets).await
}

/// Auto-commit for manually assigned partitions (the group driver commits
/// for subscribed ones).
async fn auto_commit_assigned(shared: Arc<Shared>) {
    let interval = shared.config.auto_commit_interval;
    loop {
        tokio::time::sleep(interval).await;
        if shared.lock().closed {
            return;
        }
        if let Err(e) = commit_assigned(&shared).await {
            tracing::warn!(error = %e, "auto-commit failed");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_consumer_and_its_handle_can_move_between_tasks() {
        fn send_sync<T: Send + Sync>() {}
        fn send<T: Send>() {}
        send_sync::<Consumer>();
        send_sync::<ConsumerHandle>();
        send_sync::<ConsumerRecord>();
        send::<RecordStream<'static>>();
        send::<Error>();
    }
}
