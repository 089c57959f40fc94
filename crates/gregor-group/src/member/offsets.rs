//! Committing offsets and fetching the committed offsets of newly assigned
//! partitions.
//!
//! Commits carry the generation and member id, so the coordinator refuses
//! them from a member it has removed. The machine refuses on its own to
//! commit partitions this member does not own: never assigned, revoked and
//! acknowledged, or lost.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Instant;

use gregor_protocol::{ApiKey, ErrorCode};

use super::{GroupMember, Kind, PendingCommit, Phase};
use crate::error::{Error, Result};
use crate::events::Event;
use crate::offsets::{
    Committer, OffsetAndMetadata, commit_request, commit_results, fetch_request, fetch_results,
};
use crate::request::{Failure, Request};
use crate::types::TopicPartition;

impl GroupMember {
    /// Queues a commit of `offsets` (each the next offset to consume). The
    /// result arrives as [`Event::Committed`] or [`Event::CommitFailed`].
    ///
    /// Allowed in a stable generation, including while revoked partitions
    /// wait for [`ack_revoked`](Self::ack_revoked) (the commit-before-revoke
    /// point). The member waits for commits in flight before it rejoins or
    /// leaves.
    ///
    /// # Errors
    ///
    /// - [`Error::Stopped`] after a fatal error;
    /// - [`Error::NotMember`] without a generation;
    /// - [`Error::RebalanceInProgress`] while joining or syncing;
    /// - [`Error::NotAssigned`] for a partition this member does not own.
    pub fn commit(
        &mut self,
        now: Instant,
        offsets: BTreeMap<TopicPartition, OffsetAndMetadata>,
    ) -> Result<()> {
        if matches!(self.phase, Phase::Failed) {
            return Err(Error::Stopped {
                reason: "the member failed".to_owned(),
            });
        }
        if !self.generation.is_valid() {
            return Err(Error::NotMember);
        }
        let revoking_on_leave = matches!(self.phase, Phase::Leaving { sent: false });
        if !matches!(self.phase, Phase::Stable) && !revoking_on_leave {
            return Err(Error::RebalanceInProgress);
        }
        if let Some(tp) = offsets.keys().find(|tp| !self.owned.contains(*tp)) {
            return Err(Error::NotAssigned {
                topic: tp.topic.clone(),
                partition: tp.partition,
            });
        }
        if offsets.is_empty() {
            self.events.push_back(Event::Committed { offsets });
        } else {
            self.commits.push_back(PendingCommit {
                offsets,
                generation_id: self.generation.generation_id,
            });
        }
        self.drive(now);
        Ok(())
    }

    /// Whether commits are queued or in flight.
    pub(crate) fn commits_pending(&self) -> bool {
        !self.commits.is_empty() || self.in_flight_is(|k| matches!(k, Kind::OffsetCommit(_)))
    }

    /// Fails every queued commit with `error`.
    pub(crate) fn fail_queued_commits(&mut self, error: &Error) {
        for c in std::mem::take(&mut self.commits) {
            self.events.push_back(Event::CommitFailed {
                offsets: c.offsets,
                error: error.clone(),
            });
        }
    }

    /// The next queued commit, if the generation still allows it: the same
    /// generation, or a later one in which every partition is still owned
    /// (a cooperative rebalance in between).
    pub(crate) fn commit_request_if_due(&mut self) -> Option<(Kind, Request)> {
        while let Some(c) = self.commits.pop_front() {
            let valid = self.generation.is_valid()
                && (c.generation_id == self.generation.generation_id
                    || c.offsets.keys().all(|tp| self.owned.contains(tp)));
            if !valid {
                let error = if self.generation.is_valid() {
                    Error::RebalanceInProgress
                } else {
                    Error::NotMember
                };
                self.events.push_back(Event::CommitFailed {
                    offsets: c.offsets,
                    error,
                });
                continue;
            }
            let who = Committer {
                group_id: &self.config.group_id,
                generation_id: self.generation.generation_id,
                member_id: &self.generation.member_id,
                group_instance_id: self.config.group_instance_id.as_deref(),
            };
            let request = commit_request(&who, &c.offsets);
            return Some((
                Kind::OffsetCommit(c.offsets),
                Request::OffsetCommit(request),
            ));
        }
        None
    }

    pub(crate) fn on_commit(
        &mut self,
        now: Instant,
        sent_generation: i32,
        sent_member: &str,
        offsets: BTreeMap<TopicPartition, OffsetAndMetadata>,
        resp: &gregor_protocol::messages::OffsetCommitResponse,
    ) {
        let results = commit_results(resp);
        let mut ok = BTreeMap::new();
        let mut failed: BTreeMap<i16, (ErrorCode, BTreeMap<_, _>)> = BTreeMap::new();
        for (tp, om) in offsets {
            match results.get(&tp).copied() {
                Some(ErrorCode::None) => {
                    ok.insert(tp, om);
                }
                code => {
                    let code = code.unwrap_or(ErrorCode::UnknownServerError);
                    failed
                        .entry(code.code())
                        .or_insert_with(|| (code, BTreeMap::new()))
                        .1
                        .insert(tp, om);
                }
            }
        }
        if !ok.is_empty() {
            self.events.push_back(Event::Committed { offsets: ok });
        }
        let codes: Vec<ErrorCode> = failed.values().map(|(c, _)| *c).collect();
        for (code, offsets) in failed.into_values() {
            let error = Error::kafka(ApiKey::OffsetCommit, code);
            self.events
                .push_back(Event::CommitFailed { offsets, error });
        }
        let unchanged = self.generation_unchanged(sent_generation, sent_member);
        for code in codes {
            match code {
                ErrorCode::NotCoordinator
                | ErrorCode::CoordinatorNotAvailable
                | ErrorCode::RequestTimedOut => self.mark_coordinator_unknown(now),
                ErrorCode::RebalanceInProgress => {
                    if matches!(self.phase, Phase::Stable) {
                        self.request_rejoin("a commit found the group rebalancing");
                    }
                }
                ErrorCode::UnknownMemberId | ErrorCode::IllegalGeneration if unchanged => {
                    self.reset_generation(code == ErrorCode::UnknownMemberId);
                }
                ErrorCode::FencedInstanceId if unchanged => self.fail(self.fenced()),
                _ => {}
            }
        }
    }

    pub(crate) fn on_commit_failed(
        &mut self,
        now: Instant,
        offsets: BTreeMap<TopicPartition, OffsetAndMetadata>,
        failure: Failure,
    ) {
        let disconnect = matches!(failure, Failure::Disconnected | Failure::TimedOut);
        let error = Error::Transport {
            api: ApiKey::OffsetCommit,
            failure,
        };
        self.events
            .push_back(Event::CommitFailed { offsets, error });
        if disconnect {
            self.mark_coordinator_unknown(now);
        }
    }

    /// An OffsetFetch for newly assigned partitions, if due.
    pub(crate) fn fetch_request_if_due(&mut self, now: Instant) -> Option<(Kind, Request)> {
        if self.to_fetch.is_empty()
            || !self.fetch_backoff.ready(now)
            || self.in_flight_is(|k| matches!(k, Kind::OffsetFetch(_)))
        {
            return None;
        }
        let partitions: BTreeSet<TopicPartition> = std::mem::take(&mut self.to_fetch)
            .into_iter()
            .filter(|tp| self.owned.contains(tp))
            .collect();
        if partitions.is_empty() {
            return None;
        }
        let request = fetch_request(
            &self.config.group_id,
            &partitions,
            self.config.require_stable,
        );
        Some((Kind::OffsetFetch(partitions), Request::OffsetFetch(request)))
    }

    pub(crate) fn on_fetch(
        &mut self,
        now: Instant,
        partitions: BTreeSet<TopicPartition>,
        resp: &gregor_protocol::messages::OffsetFetchResponse,
    ) {
        let r = fetch_results(resp, &self.config.group_id);
        match r.group_error {
            ErrorCode::None => {}
            ErrorCode::NotCoordinator | ErrorCode::CoordinatorNotAvailable => {
                self.to_fetch.extend(partitions);
                self.mark_coordinator_unknown(now);
                return;
            }
            code => {
                if !code.is_retriable() {
                    let error = Error::kafka(ApiKey::OffsetFetch, code);
                    self.events.push_back(Event::Error(error));
                }
                self.to_fetch.extend(partitions);
                self.fetch_backoff.fail(now);
                return;
            }
        }
        let mut fetched = BTreeMap::new();
        let mut retry = BTreeSet::new();
        let mut coordinator_moved = false;
        for tp in partitions {
            match r.partitions.get(&tp) {
                None => {
                    fetched.insert(tp, None);
                }
                Some((ErrorCode::None, committed)) => {
                    fetched.insert(tp, committed.clone());
                }
                Some((
                    ErrorCode::UnstableOffsetCommit | ErrorCode::CoordinatorLoadInProgress,
                    _,
                )) => {
                    retry.insert(tp);
                }
                Some((ErrorCode::NotCoordinator | ErrorCode::CoordinatorNotAvailable, _)) => {
                    coordinator_moved = true;
                    retry.insert(tp);
                }
                Some((code, _)) => {
                    self.events.push_back(Event::Error(Error::Partition {
                        api: ApiKey::OffsetFetch,
                        topic: tp.topic.clone(),
                        partition: tp.partition,
                        code: *code,
                    }));
                }
            }
        }
        fetched.retain(|tp, _| self.owned.contains(tp));
        if !fetched.is_empty() {
            self.events
                .push_back(Event::OffsetsFetched { offsets: fetched });
        }
        if retry.is_empty() {
            self.fetch_backoff.succeed();
        } else {
            self.to_fetch.extend(retry);
            self.fetch_backoff.fail(now);
        }
        if coordinator_moved {
            self.mark_coordinator_unknown(now);
        }
    }

    pub(crate) fn on_fetch_failed(
        &mut self,
        now: Instant,
        partitions: BTreeSet<TopicPartition>,
        failure: Failure,
    ) {
        self.to_fetch.extend(partitions);
        self.fetch_backoff.fail(now);
        match failure {
            Failure::Disconnected | Failure::TimedOut => self.mark_coordinator_unknown(now),
            Failure::NotSent { .. } => self.events.push_back(Event::Error(Error::Transport {
                api: ApiKey::OffsetFetch,
                failure,
            })),
        }
    }
}
