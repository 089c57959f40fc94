//! The cheap handle given to rebalance listeners, and the operations the
//! [`Consumer`](super::Consumer) shares with it.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;

use gregor_group::OffsetAndMetadata;
use tokio::sync::oneshot;

use super::TopicPartition;
use super::group::GroupCommand;
use super::offsets;
use super::record::{Offset, OffsetSpec, unix_millis};
use super::state::{Mode, SeekTarget, Shared};
use super::stats::Counters;
use crate::error::{Error, Result};

/// A handle on a consumer for [`RebalanceListener`](super::RebalanceListener)
/// hooks (and for other tasks): commit, seek, pause and look at positions,
/// but not poll or close.
///
/// Cloning is cheap. A handle does not keep the consumer running: once the
/// [`Consumer`](super::Consumer) is closed or dropped, its operations fail
/// with [`Error::Closed`] or do nothing.
#[derive(Clone)]
pub struct ConsumerHandle {
    pub(crate) shared: Arc<Shared>,
}

impl std::fmt::Debug for ConsumerHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ConsumerHandle")
            .field("group_id", &self.shared.group_id())
            .finish_non_exhaustive()
    }
}

impl ConsumerHandle {
    pub(crate) fn new(shared: Arc<Shared>) -> Self {
        Self { shared }
    }

    /// The group id, if any.
    pub fn group_id(&self) -> Option<&str> {
        self.shared.group_id()
    }

    /// The partitions assigned now.
    pub fn assignment(&self) -> BTreeSet<TopicPartition> {
        self.shared.lock().partitions.keys().cloned().collect()
    }

    /// The offset of the next record the application will get from `tp`,
    /// or `None` while it is not known (not assigned, or being looked up).
    pub fn position(&self, tp: &TopicPartition) -> Option<i64> {
        self.shared
            .lock()
            .partitions
            .get(tp)
            .and_then(|p| p.position)
    }

    /// The processed positions (see [`commit_processed`](Self::commit_processed)).
    pub fn processed(
        &self,
        partitions: &BTreeSet<TopicPartition>,
    ) -> BTreeMap<TopicPartition, i64> {
        self.shared.lock().consumed_offsets(partitions, true)
    }

    /// Moves `tp`'s position: the next poll returns records from there.
    /// Records already fetched for it are dropped.
    ///
    /// # Errors
    ///
    /// [`Error::IllegalState`] if `tp` is not assigned.
    pub fn seek(&self, tp: &TopicPartition, offset: Offset) -> Result<()> {
        let target = match offset {
            Offset::At(o) if o < 0 => {
                return Err(Error::IllegalState {
                    operation: "seek",
                    reason: format!("offset {o} of {tp} is negative"),
                });
            }
            Offset::At(o) => SeekTarget::At(o),
            Offset::Earliest => SeekTarget::Spec(OffsetSpec::Earliest),
            Offset::Latest => SeekTarget::Spec(OffsetSpec::Latest),
            Offset::ForTimestamp(t) => SeekTarget::Spec(OffsetSpec::Timestamp(unix_millis(t))),
        };
        self.shared
            .lock()
            .seek(tp, target)
            .map_err(|()| not_assigned("seek", tp))?;
        tracing::debug!(topic = %tp.topic, partition = tp.partition, ?offset, "seek");
        self.shared.wake_fetcher();
        Ok(())
    }

    /// Stops fetching and handing out records of `partitions` until
    /// [`resume`](Self::resume). Records fetched for them but not handed
    /// out are dropped (freeing the prefetch budget) and fetched again
    /// after the resume; the positions do not move.
    ///
    /// # Errors
    ///
    /// [`Error::IllegalState`] for a partition not assigned (nothing is
    /// paused then).
    pub fn pause(&self, partitions: &[TopicPartition]) -> Result<()> {
        self.set_paused("pause", partitions, true)
    }

    /// Resumes paused partitions.
    ///
    /// # Errors
    ///
    /// [`Error::IllegalState`] for a partition not assigned.
    pub fn resume(&self, partitions: &[TopicPartition]) -> Result<()> {
        self.set_paused("resume", partitions, false)
    }

    /// The paused partitions.
    pub fn paused(&self) -> BTreeSet<TopicPartition> {
        self.shared
            .lock()
            .partitions
            .iter()
            .filter(|(_, p)| p.paused)
            .map(|(tp, _)| tp.clone())
            .collect()
    }

    fn set_paused(
        &self,
        operation: &'static str,
        partitions: &[TopicPartition],
        paused: bool,
    ) -> Result<()> {
        {
            let mut st = self.shared.lock();
            if let Some(tp) = partitions
                .iter()
                .find(|tp| !st.partitions.contains_key(*tp))
            {
                return Err(not_assigned(operation, tp));
            }
            for tp in partitions {
                st.set_paused(tp, paused)
                    .map_err(|()| not_assigned(operation, tp))?;
            }
        }
        self.shared.wake_fetcher();
        self.shared.data_ready.notify_waiters();
        Ok(())
    }

    /// Commits the positions of every assigned partition: everything
    /// handed out so far counts as processed (Java's `commitSync()`).
    /// Waits for the coordinator's answer.
    ///
    /// Cancel-safe: dropping the future does not withdraw the commit.
    ///
    /// # Errors
    ///
    /// [`Error::IllegalState`] without a group id; [`Error::Group`] when
    /// the group refuses the commit (e.g. a rebalance is in progress, or a
    /// partition is no longer assigned); network errors for manually
    /// assigned partitions.
    pub async fn commit(&self) -> Result<()> {
        let offsets = self.positions_to_commit();
        self.commit_offsets(offsets).await
    }

    /// Commits the processed positions of `partitions`: records handed out
    /// before the application's latest poll. Use it in
    /// [`on_revoked`](super::RebalanceListener::on_revoked).
    ///
    /// # Errors
    ///
    /// As [`commit`](Self::commit).
    pub async fn commit_processed(&self, partitions: &BTreeSet<TopicPartition>) -> Result<()> {
        let offsets = self
            .shared
            .lock()
            .consumed_offsets(partitions, false)
            .into_iter()
            .map(|(tp, o)| (tp, OffsetAndMetadata::new(o)))
            .collect();
        self.commit_offsets(offsets).await
    }

    /// Commits `offsets`, each the offset of the **next** record to
    /// consume (the last processed offset plus one). Waits for the answer.
    ///
    /// # Errors
    ///
    /// As [`commit`](Self::commit).
    pub async fn commit_offsets(
        &self,
        offsets: BTreeMap<TopicPartition, OffsetAndMetadata>,
    ) -> Result<()> {
        commit(&self.shared, offsets).await
    }

    /// Starts committing every assigned partition's position without
    /// waiting; failures are logged and counted in
    /// [`ConsumerStats::commit_failures`](super::ConsumerStats::commit_failures).
    /// Commits are sent in the order they are made.
    pub fn commit_async(&self) {
        let offsets = self.positions_to_commit();
        if offsets.is_empty() {
            return;
        }
        if self.shared.lock().mode == Mode::Group {
            self.shared.to_group(GroupCommand::Commit {
                offsets,
                reply: None,
            });
            return;
        }
        let shared = self.shared.clone();
        tokio::spawn(async move {
            if let Err(e) = commit(&shared, offsets).await {
                tracing::warn!(error = %e, "asynchronous commit failed");
            }
        });
    }

    /// The offsets committed for `partitions` in the consumer's group
    /// (`None`: nothing committed), asked of the coordinator.
    ///
    /// # Errors
    ///
    /// [`Error::IllegalState`] without a group id, or the request's error.
    pub async fn committed(
        &self,
        partitions: &[TopicPartition],
    ) -> Result<BTreeMap<TopicPartition, Option<OffsetAndMetadata>>> {
        let group = require_group(&self.shared, "committed")?.to_owned();
        let require_stable = self
            .shared
            .config
            .group()
            .is_some_and(|_| self.shared.config.isolation_level().wire() == 1);
        retry(&self.shared, || {
            offsets::fetch_committed(&self.shared.cluster, &group, partitions, require_stable)
        })
        .await
    }

    fn positions_to_commit(&self) -> BTreeMap<TopicPartition, OffsetAndMetadata> {
        self.shared
            .lock()
            .partitions
            .iter()
            .filter(|(_, ps)| !ps.revoking)
            .filter_map(|(tp, ps)| ps.position.map(|p| (tp.clone(), OffsetAndMetadata::new(p))))
            .collect()
    }
}

fn not_assigned(operation: &'static str, tp: &TopicPartition) -> Error {
    Error::IllegalState {
        operation,
        reason: format!("{tp} is not assigned to this consumer"),
    }
}

fn require_group<'a>(shared: &'a Shared, operation: &'static str) -> Result<&'a str> {
    shared.group_id().ok_or_else(|| Error::IllegalState {
        operation,
        reason: "the consumer has no group_id".to_owned(),
    })
}

/// Commits through the group driver (subscribed) or directly (assigned).
pub(crate) async fn commit(
    shared: &Arc<Shared>,
    offsets: BTreeMap<TopicPartition, OffsetAndMetadata>,
) -> Result<()> {
    let group = require_group(shared, "commit")?.to_owned();
    if shared.lock().closed {
        return Err(Error::Closed("consumer"));
    }
    if offsets.is_empty() {
        return Ok(());
    }
    if shared.lock().mode == Mode::Group {
        let (tx, rx) = oneshot::channel();
        if !shared.to_group(GroupCommand::Commit {
            offsets,
            reply: Some(tx),
        }) {
            return Err(Error::Closed("consumer group task"));
        }
        return rx
            .await
            .unwrap_or(Err(Error::Closed("consumer group task")));
    }
    let result = retry(shared, || {
        offsets::commit_simple(&shared.cluster, &group, &offsets)
    })
    .await;
    match &result {
        Ok(()) => {
            Counters::add(&shared.counters.commits, 1);
            let plain = offsets
                .iter()
                .map(|(tp, om)| (tp.clone(), om.offset))
                .collect();
            shared.lock().mark_committed(&plain);
        }
        Err(_) => Counters::add(&shared.counters.commit_failures, 1),
    }
    result
}

/// Runs `op` until it succeeds, fails for good, or the group's request
/// timeout passes, backing off between attempts.
pub(crate) async fn retry<T, F, Fut>(shared: &Shared, mut op: F) -> Result<T>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T>>,
{
    let limit = shared
        .config
        .group()
        .map_or(Duration::from_secs(30), |g| g.request_timeout());
    let deadline = tokio::time::Instant::now() + limit;
    let mut delay = shared.config.retry_backoff;
    loop {
        match op().await {
            Ok(v) => return Ok(v),
            Err(e) if e.is_retriable() && tokio::time::Instant::now() + delay < deadline => {
                tracing::debug!(error = %e, retry_in = ?delay, "retrying");
                tokio::time::sleep(delay).await;
                delay = (delay * 2).min(Duration::from_secs(1));
            }
            Err(e) => return Err(e),
        }
    }
}
