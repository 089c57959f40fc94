//! The state shared by the consumer's handle, its fetcher and its group
//! driver: one mutex over every partition's position and buffer.
//!
//! Lock discipline: the mutex is a `std` one, held only for bookkeeping,
//! never across an `.await`. Each partition has three offsets:
//!
//! - `fetch_offset`, where the next fetch starts (the end of the buffer);
//! - `position`, the next record to hand to the application;
//! - `consumed`, the position as of the application's latest poll: every
//!   record before it was handed out by an earlier poll, so the
//!   application has processed it. Auto-commit and commit-on-revoke commit
//!   this one, never `position`.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Instant;

use gregor_net::Cluster;
use tokio::sync::{Notify, mpsc};

use super::TopicPartition;
use super::buffer::Chunk;
use super::config::{ConsumerConfig, OffsetReset};
use super::group::GroupCommand;
use super::record::OffsetSpec;
use super::stats::Counters;
use crate::error::Error;

/// How a partition's position is being established.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Pos {
    /// A group assignment: the group's OffsetFetch is under way.
    AwaitGroup,
    /// A manual assignment with a group id: the committed offset is to be
    /// looked up (`in_flight` while it is).
    LookupCommitted { in_flight: bool },
    /// To be resolved with ListOffsets.
    Reset { spec: OffsetSpec, in_flight: bool },
    /// Fetching from `fetch_offset`.
    Ready,
    /// Stopped by an error until the application seeks.
    Failed,
}

/// The log's marks from the latest fetch response (-1 when unknown).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Marks {
    pub(crate) high_watermark: i64,
    pub(crate) last_stable: i64,
    pub(crate) log_start: i64,
}

impl Default for Marks {
    fn default() -> Self {
        Self {
            high_watermark: -1,
            last_stable: -1,
            log_start: -1,
        }
    }
}

/// One assigned partition.
#[derive(Debug)]
pub(crate) struct PartitionState {
    pub(crate) topic: Arc<str>,
    pub(crate) pos: Pos,
    pub(crate) position: Option<i64>,
    pub(crate) consumed: Option<i64>,
    /// The last offset known committed (fetched or committed by us).
    pub(crate) committed: Option<i64>,
    pub(crate) fetch_offset: i64,
    /// Bumped by every seek, reset and reassignment: a fetch or offset
    /// lookup answered for an older epoch is thrown away.
    pub(crate) epoch: u64,
    pub(crate) paused: bool,
    /// Revoked by the group: nothing more is handed out.
    pub(crate) revoking: bool,
    /// Assigned by the group; the `on_assigned` listener has not returned.
    pub(crate) awaiting_listener: bool,
    /// The fetch in flight that may return data for it.
    pub(crate) in_flight: Option<u64>,
    /// Not fetched again before this (after a retriable error).
    pub(crate) not_before: Option<Instant>,
    /// A larger limit after a batch that did not fit (old brokers).
    pub(crate) max_bytes_override: Option<usize>,
    pub(crate) marks: Marks,
    pub(crate) chunks: VecDeque<Chunk>,
    pub(crate) buffered_bytes: usize,
    pub(crate) buffered_records: usize,
}

impl PartitionState {
    fn new(topic: &str, pos: Pos, epoch: u64) -> Self {
        Self {
            topic: Arc::from(topic),
            pos,
            position: None,
            consumed: None,
            committed: None,
            fetch_offset: -1,
            epoch,
            paused: false,
            revoking: false,
            awaiting_listener: false,
            in_flight: None,
            not_before: None,
            max_bytes_override: None,
            marks: Marks::default(),
            chunks: VecDeque::new(),
            buffered_bytes: 0,
            buffered_records: 0,
        }
    }

    /// Whether records may be handed out now.
    pub(crate) fn deliverable(&self) -> bool {
        self.pos == Pos::Ready && !self.paused && !self.revoking && !self.awaiting_listener
    }

    /// The lag: the high watermark (the last stable offset under
    /// `read_committed`) minus the position.
    pub(crate) fn lag(&self, read_committed: bool) -> Option<i64> {
        let end = if read_committed && self.marks.last_stable >= 0 {
            self.marks.last_stable
        } else {
            self.marks.high_watermark
        };
        match (self.position, end) {
            (Some(p), end) if end >= 0 && p >= 0 => Some((end - p).max(0)),
            _ => None,
        }
    }
}

/// How partitions come to the consumer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Mode {
    Idle,
    Manual,
    Group,
}

/// Everything behind the mutex.
#[derive(Debug)]
pub(crate) struct State {
    pub(crate) mode: Mode,
    pub(crate) subscription: BTreeSet<String>,
    pub(crate) partitions: BTreeMap<TopicPartition, PartitionState>,
    /// Footprint of every partition's buffer.
    pub(crate) buffered_bytes: usize,
    /// `max_bytes` of fetches in flight.
    pub(crate) reserved_bytes: usize,
    /// Errors for the application's next poll.
    pub(crate) errors: VecDeque<Error>,
    pub(crate) closed: bool,
    /// Where the next poll starts taking records, for fairness.
    pub(crate) cursor: Option<TopicPartition>,
    pub(crate) last_poll: Instant,
    next_epoch: u64,
}

/// The consumer's shared core.
#[derive(Debug)]
pub(crate) struct Shared {
    pub(crate) cluster: Cluster,
    pub(crate) config: ConsumerConfig,
    state: Mutex<State>,
    /// Records, an error or the close arrived for pollers.
    pub(crate) data_ready: Notify,
    /// Something changed that the fetcher should look at.
    pub(crate) fetcher_wake: Notify,
    /// The application polled (revocations wait for it).
    pub(crate) polled: Notify,
    pub(crate) counters: Counters,
    /// The group driver's inbox, while it runs.
    pub(crate) group: Mutex<Option<mpsc::UnboundedSender<GroupCommand>>>,
}

impl Shared {
    pub(crate) fn new(cluster: Cluster, config: ConsumerConfig) -> Arc<Self> {
        Arc::new(Self {
            cluster,
            config,
            state: Mutex::new(State::new()),
            data_ready: Notify::new(),
            fetcher_wake: Notify::new(),
            polled: Notify::new(),
            counters: Counters::default(),
            group: Mutex::new(None),
        })
    }

    /// The state, recovering it from a poisoned lock (the bookkeeping is
    /// kept consistent at every step, so a panic elsewhere leaves it usable).
    pub(crate) fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The group id, if any.
    pub(crate) fn group_id(&self) -> Option<&str> {
        self.config.group_id()
    }

    /// Queues an error for the next poll and wakes pollers.
    pub(crate) fn report(&self, error: Error) {
        tracing::warn!(error = %error, "consumer error");
        Counters::add(&self.counters.errors, 1);
        self.lock().errors.push_back(error);
        self.data_ready.notify_waiters();
    }

    /// Sends a command to the group driver; `false` if none runs.
    pub(crate) fn to_group(&self, cmd: GroupCommand) -> bool {
        let guard = self.group.lock().unwrap_or_else(|e| e.into_inner());
        guard.as_ref().is_some_and(|tx| tx.send(cmd).is_ok())
    }

    /// Wakes the fetcher.
    pub(crate) fn wake_fetcher(&self) {
        self.fetcher_wake.notify_one();
    }
}

impl State {
    pub(crate) fn new() -> Self {
        Self {
            mode: Mode::Idle,
            subscription: BTreeSet::new(),
            partitions: BTreeMap::new(),
            buffered_bytes: 0,
            reserved_bytes: 0,
            errors: VecDeque::new(),
            closed: false,
            cursor: None,
            last_poll: Instant::now(),
            next_epoch: 1,
        }
    }

    pub(crate) fn next_epoch(&mut self) -> u64 {
        self.next_epoch += 1;
        self.next_epoch
    }

    /// The start position of a partition with no committed offset, by the
    /// reset policy; `None` (after queueing [`Error::NoOffset`]) for
    /// policy `None`.
    fn initial_pos(&mut self, tp: &TopicPartition, reset: OffsetReset, group: Option<&str>) -> Pos {
        match reset {
            OffsetReset::Earliest => Pos::Reset {
                spec: OffsetSpec::Earliest,
                in_flight: false,
            },
            OffsetReset::Latest => Pos::Reset {
                spec: OffsetSpec::Latest,
                in_flight: false,
            },
            OffsetReset::None => {
                self.errors.push_back(Error::NoOffset {
                    group: group.map(str::to_owned),
                    topic: tp.topic.clone(),
                    partition: tp.partition,
                });
                Pos::Failed
            }
        }
    }

    /// Adds partitions assigned by the group; their committed offsets and
    /// the `on_assigned` listener are awaited before fetching.
    pub(crate) fn add_group_partitions(&mut self, partitions: &BTreeSet<TopicPartition>) {
        for tp in partitions {
            let epoch = self.next_epoch();
            let mut ps = PartitionState::new(&tp.topic, Pos::AwaitGroup, epoch);
            ps.awaiting_listener = true;
            if let Some(old) = self.partitions.insert(tp.clone(), ps) {
                self.buffered_bytes -= old.buffered_bytes;
            }
        }
    }

    /// Replaces the manual assignment. Partitions kept keep their state;
    /// new ones start from the committed offset (with a group id) or the
    /// reset policy.
    pub(crate) fn assign_manual(
        &mut self,
        partitions: BTreeSet<TopicPartition>,
        reset: OffsetReset,
        group: Option<&str>,
    ) {
        let gone: Vec<TopicPartition> = self
            .partitions
            .keys()
            .filter(|tp| !partitions.contains(*tp))
            .cloned()
            .collect();
        self.remove(&gone);
        for tp in partitions {
            if self.partitions.contains_key(&tp) {
                continue;
            }
            let pos = if group.is_some() {
                Pos::LookupCommitted { in_flight: false }
            } else {
                self.initial_pos(&tp, reset, group)
            };
            let epoch = self.next_epoch();
            self.partitions
                .insert(tp.clone(), PartitionState::new(&tp.topic, pos, epoch));
        }
    }

    /// Sets the positions of partitions whose committed offsets arrived
    /// (`None`: nothing committed, so the reset policy decides). Partitions
    /// the application already sought are left alone.
    pub(crate) fn apply_committed(
        &mut self,
        offsets: BTreeMap<TopicPartition, Option<i64>>,
        reset: OffsetReset,
        group: Option<&str>,
    ) {
        for (tp, committed) in offsets {
            let waiting = self
                .partitions
                .get(&tp)
                .is_some_and(|ps| matches!(ps.pos, Pos::AwaitGroup | Pos::LookupCommitted { .. }));
            if !waiting {
                continue;
            }
            let pos = match committed {
                Some(offset) => {
                    if let Some(ps) = self.partitions.get_mut(&tp) {
                        ps.committed = Some(offset);
                        set_ready(ps, offset);
                    }
                    continue;
                }
                None => self.initial_pos(&tp, reset, group),
            };
            if let Some(ps) = self.partitions.get_mut(&tp) {
                ps.pos = pos;
            }
        }
    }

    /// Moves a partition's position; `Err` if it is not assigned.
    pub(crate) fn seek(&mut self, tp: &TopicPartition, target: SeekTarget) -> Result<(), ()> {
        let epoch = self.next_epoch();
        let Some(ps) = self.partitions.get_mut(tp) else {
            return Err(());
        };
        self.buffered_bytes -= ps.buffered_bytes;
        clear_buffer(ps);
        ps.epoch = epoch;
        ps.not_before = None;
        match target {
            SeekTarget::At(offset) => set_ready(ps, offset),
            SeekTarget::Spec(spec) => {
                ps.position = None;
                ps.consumed = None;
                ps.pos = Pos::Reset {
                    spec,
                    in_flight: false,
                };
            }
        }
        Ok(())
    }

    /// Resets a partition after OFFSET_OUT_OF_RANGE at `offset`, by the
    /// policy (or stops it with [`Error::OffsetOutOfRange`]).
    pub(crate) fn out_of_range(&mut self, tp: &TopicPartition, offset: i64, reset: OffsetReset) {
        let spec = match reset {
            OffsetReset::Earliest => OffsetSpec::Earliest,
            OffsetReset::Latest => OffsetSpec::Latest,
            OffsetReset::None => {
                if let Some(ps) = self.partitions.get_mut(tp) {
                    ps.pos = Pos::Failed;
                }
                self.errors.push_back(Error::OffsetOutOfRange {
                    topic: tp.topic.clone(),
                    partition: tp.partition,
                    offset,
                });
                return;
            }
        };
        tracing::info!(topic = %tp.topic, partition = tp.partition, offset, ?spec, "offset out of range; resetting");
        let _ = self.seek(tp, SeekTarget::Spec(spec));
    }

    /// Pauses or resumes a partition; `Err` if it is not assigned. Pausing
    /// drops what was fetched for it (as librdkafka does), so a paused
    /// partition holds none of the prefetch budget; it is fetched again
    /// from its position on resume.
    ///
    /// The epoch stays: an offset lookup in flight must still land, and a
    /// fetch in flight past the position no longer matches the fetch offset
    /// (one that does adds at most one response while paused).
    pub(crate) fn set_paused(&mut self, tp: &TopicPartition, paused: bool) -> Result<(), ()> {
        let ps = self.partitions.get_mut(tp).ok_or(())?;
        if paused && !ps.paused {
            self.buffered_bytes -= ps.buffered_bytes;
            clear_buffer(ps);
        }
        ps.paused = paused;
        Ok(())
    }

    /// Stops a partition after an error the application must see.
    pub(crate) fn fail(&mut self, tp: &TopicPartition) {
        if let Some(ps) = self.partitions.get_mut(tp) {
            ps.pos = Pos::Failed;
        }
    }

    /// Stops handing out records of revoked partitions and drops their
    /// buffers.
    pub(crate) fn begin_revoke(&mut self, partitions: &BTreeSet<TopicPartition>) {
        for tp in partitions {
            if let Some(ps) = self.partitions.get_mut(tp) {
                ps.revoking = true;
                self.buffered_bytes -= ps.buffered_bytes;
                clear_buffer(ps);
            }
        }
    }

    /// Forgets partitions.
    pub(crate) fn remove<'a>(&mut self, partitions: impl IntoIterator<Item = &'a TopicPartition>) {
        for tp in partitions {
            if let Some(ps) = self.partitions.remove(tp) {
                self.buffered_bytes -= ps.buffered_bytes;
            }
        }
    }

    /// The application polls: everything handed out so far is processed.
    pub(crate) fn mark_polled(&mut self, now: Instant) {
        self.last_poll = now;
        for ps in self.partitions.values_mut() {
            if ps.position.is_some() {
                ps.consumed = ps.position;
            }
        }
    }

    /// Whether every record of `partitions` handed out has been processed
    /// (partitions no longer assigned count as done).
    pub(crate) fn processed(&self, partitions: &BTreeSet<TopicPartition>) -> bool {
        partitions.iter().all(|tp| {
            self.partitions
                .get(tp)
                .is_none_or(|ps| ps.consumed == ps.position)
        })
    }

    /// The processed positions of `partitions` that differ from what is
    /// known committed (all of them with `all`).
    pub(crate) fn consumed_offsets<'a>(
        &self,
        partitions: impl IntoIterator<Item = &'a TopicPartition>,
        all: bool,
    ) -> BTreeMap<TopicPartition, i64> {
        partitions
            .into_iter()
            .filter_map(|tp| {
                let ps = self.partitions.get(tp)?;
                let c = ps.consumed?;
                (all || ps.committed != Some(c)).then(|| (tp.clone(), c))
            })
            .collect()
    }

    /// Records that `offsets` are committed.
    pub(crate) fn mark_committed(&mut self, offsets: &BTreeMap<TopicPartition, i64>) {
        for (tp, offset) in offsets {
            if let Some(ps) = self.partitions.get_mut(tp) {
                ps.committed = Some(*offset);
            }
        }
    }
}

/// Where [`State::seek`] goes.
#[derive(Debug, Clone, Copy)]
pub(crate) enum SeekTarget {
    At(i64),
    Spec(OffsetSpec),
}

/// The partition reads from `offset` on, with nothing pending before it.
pub(crate) fn set_ready(ps: &mut PartitionState, offset: i64) {
    ps.pos = Pos::Ready;
    ps.position = Some(offset);
    ps.consumed = Some(offset);
    ps.fetch_offset = offset;
}

fn clear_buffer(ps: &mut PartitionState) {
    ps.chunks.clear();
    ps.buffered_bytes = 0;
    ps.buffered_records = 0;
    ps.fetch_offset = ps.position.unwrap_or(-1);
}
