//! Joining: the revocation before a rejoin, JoinGroup, SyncGroup, and
//! applying the assignment.

use std::collections::BTreeSet;
use std::time::Instant;

use gregor_protocol::messages::join_group_request::JoinGroupRequestProtocol;
use gregor_protocol::messages::sync_group_request::SyncGroupRequestAssignment;
use gregor_protocol::messages::{
    JoinGroupRequest, JoinGroupResponse, SyncGroupRequest, SyncGroupResponse,
};
use gregor_protocol::{ApiKey, ErrorCode, StrBytes};

use super::{GroupMember, Kind, Phase};
use crate::assignor::{RebalanceProtocol, UserDataContext};
use crate::error::{Error, Result};
use crate::events::Event;
use crate::request::{Failure, Request};
use crate::subscription::{Assignment, CONSUMER_PROTOCOL_VERSION, Subscription};
use crate::timers::millis_i32;
use crate::types::{Generation, TopicPartition};

/// The protocol type of consumer groups.
pub(crate) const PROTOCOL_TYPE: &str = "consumer";

impl GroupMember {
    /// Asks for a rejoin once the current step is done.
    pub(crate) fn request_rejoin(&mut self, reason: &str) {
        match self.phase {
            Phase::Idle
            | Phase::Failed
            | Phase::Leaving { .. }
            | Phase::Joining { sent: false } => {}
            _ => {
                self.rejoin = Some(reason.to_owned());
                self.join_prepared = false;
            }
        }
    }

    /// Moves from a stable generation to joining when a rejoin is wanted:
    /// first the revocation (eager: everything; cooperative: partitions of
    /// topics no longer subscribed), then, once acknowledged and commits
    /// are answered, JoinGroup.
    pub(crate) fn drive(&mut self, _now: Instant) {
        match self.phase {
            Phase::Stable if self.rejoin.is_some() && self.revoking.is_none() => {
                if !self.join_prepared {
                    self.join_prepared = true;
                    let to_revoke: BTreeSet<TopicPartition> = match self.protocol {
                        RebalanceProtocol::Eager => self.owned.clone(),
                        RebalanceProtocol::Cooperative => self
                            .owned
                            .iter()
                            .filter(|tp| !self.topics.contains(&tp.topic))
                            .cloned()
                            .collect(),
                    };
                    if !to_revoke.is_empty() {
                        self.events.push_back(Event::Revoked {
                            partitions: to_revoke.clone(),
                        });
                        self.revoking = Some(to_revoke);
                        return;
                    }
                }
                if !self.commits_pending() {
                    self.phase = Phase::Joining { sent: false };
                    self.join_prepared = false;
                }
            }
            Phase::Leaving { sent: false }
                if self.revoking.is_none() && !self.commits_pending() =>
            {
                let can_send = self.config.group_instance_id.is_none()
                    && !self.generation.member_id.is_empty()
                    && self.coordinator.is_some();
                if !can_send {
                    self.finish_leave();
                }
            }
            _ => {}
        }
    }

    /// JoinGroup, if one is due.
    pub(crate) fn join_request_if_due(&mut self, now: Instant) -> Option<(Kind, Request)> {
        if !matches!(self.phase, Phase::Joining { sent: false }) || !self.join_backoff.ready(now) {
            return None;
        }
        let reason = self
            .rejoin
            .take()
            .unwrap_or_else(|| "joining the group".to_owned());
        match self.join_request(&reason) {
            Ok(request) => {
                self.phase = Phase::Joining { sent: true };
                self.joined_topics = self.topics.clone();
                Some((Kind::JoinGroup, Request::JoinGroup(request)))
            }
            Err(e) => {
                self.fail(e);
                None
            }
        }
    }

    fn join_request(&self, reason: &str) -> Result<JoinGroupRequest> {
        let owned: Vec<TopicPartition> = match self.protocol {
            RebalanceProtocol::Cooperative => self.owned.iter().cloned().collect(),
            RebalanceProtocol::Eager => Vec::new(),
        };
        let ctx = UserDataContext {
            topics: &self.topics,
            last_assignment: &self.last_assignment,
            generation: self.last_assignment_generation,
        };
        let mut protocols = Vec::with_capacity(self.config.assignors.len());
        for assignor in &self.config.assignors {
            let subscription = Subscription {
                topics: self.topics.iter().cloned().collect(),
                user_data: assignor.user_data(&ctx),
                owned_partitions: owned.clone(),
                generation: self
                    .generation
                    .is_valid()
                    .then_some(self.generation.generation_id),
                rack: self.config.rack.clone(),
            };
            protocols.push(
                JoinGroupRequestProtocol::default()
                    .with_name(assignor.name())
                    .with_metadata(subscription.encode(CONSUMER_PROTOCOL_VERSION)?),
            );
        }
        Ok(JoinGroupRequest::default()
            .with_group_id(self.config.group_id.as_str())
            .with_session_timeout_ms(millis_i32(self.config.session_timeout))
            .with_rebalance_timeout_ms(millis_i32(self.config.rebalance_timeout))
            .with_member_id(self.generation.member_id.as_str())
            .with_group_instance_id(self.instance_id())
            .with_protocol_type(PROTOCOL_TYPE)
            .with_protocols(protocols)
            .with_reason(Some(StrBytes::from(reason))))
    }

    pub(crate) fn instance_id(&self) -> Option<StrBytes> {
        self.config.group_instance_id.as_deref().map(StrBytes::from)
    }

    /// A SyncGroup request carrying `assignments` (empty for followers).
    pub(crate) fn sync_request(
        &self,
        assignments: Vec<SyncGroupRequestAssignment>,
    ) -> SyncGroupRequest {
        SyncGroupRequest::default()
            .with_group_id(self.config.group_id.as_str())
            .with_generation_id(self.generation.generation_id)
            .with_member_id(self.generation.member_id.as_str())
            .with_group_instance_id(self.instance_id())
            .with_protocol_type(Some(StrBytes::from(PROTOCOL_TYPE)))
            .with_protocol_name(self.generation.protocol_name.as_deref().map(StrBytes::from))
            .with_assignments(assignments)
    }

    /// SyncGroup, if one is due.
    pub(crate) fn sync_request_if_due(&mut self) -> Option<(Kind, Request)> {
        match &mut self.phase {
            Phase::Syncing { request } => request
                .take()
                .map(|r| (Kind::SyncGroup, Request::SyncGroup(*r))),
            _ => None,
        }
    }

    pub(crate) fn on_join(
        &mut self,
        now: Instant,
        sent_generation: i32,
        sent_member: &str,
        resp: JoinGroupResponse,
    ) {
        if !matches!(self.phase, Phase::Joining { sent: true }) {
            return;
        }
        self.phase = Phase::Joining { sent: false };
        let code = ErrorCode::from_code(resp.error_code);
        match code {
            ErrorCode::None => self.joined(now, resp),
            ErrorCode::MemberIdRequired => {
                // KIP-394: the coordinator hands out the id; join again with it.
                self.generation.member_id = resp.member_id.as_str().to_owned();
            }
            ErrorCode::UnknownMemberId => {
                if self.generation_unchanged(sent_generation, sent_member) {
                    self.reset_generation(true);
                }
            }
            ErrorCode::CoordinatorLoadInProgress | ErrorCode::RebalanceInProgress => {
                self.join_backoff.fail(now);
            }
            ErrorCode::CoordinatorNotAvailable | ErrorCode::NotCoordinator => {
                self.mark_coordinator_unknown(now);
            }
            ErrorCode::FencedInstanceId => self.fail(self.fenced()),
            ErrorCode::GroupAuthorizationFailed
            | ErrorCode::InvalidSessionTimeout
            | ErrorCode::InvalidGroupId
            | ErrorCode::InconsistentGroupProtocol
            | ErrorCode::GroupMaxSizeReached
            | ErrorCode::UnsupportedVersion => self.fail(Error::kafka(ApiKey::JoinGroup, code)),
            _ => {
                self.events
                    .push_back(Event::Error(Error::kafka(ApiKey::JoinGroup, code)));
                self.join_backoff.fail(now);
            }
        }
    }

    /// A successful JoinGroup: the new generation; lead or follow.
    fn joined(&mut self, now: Instant, resp: JoinGroupResponse) {
        let protocol_type = resp.protocol_type.as_ref().map(|p| p.as_str());
        let name = resp
            .protocol_name
            .as_ref()
            .map(|p| p.as_str().to_owned())
            .filter(|n| self.config.assignor(n).is_some());
        let (Some(name), true) = (name, protocol_type.is_none_or(|t| t == PROTOCOL_TYPE)) else {
            let reason = format!(
                "coordinator chose protocol {:?} of type {:?}",
                resp.protocol_name, resp.protocol_type
            );
            self.events
                .push_back(Event::Error(Error::InconsistentProtocol { reason }));
            self.join_backoff.fail(now);
            return;
        };
        self.join_backoff.succeed();
        self.generation = Generation {
            generation_id: resp.generation_id,
            member_id: resp.member_id.as_str().to_owned(),
            protocol_name: Some(name),
        };
        self.session_ok_at = Some(now);
        self.next_heartbeat = Some(now + self.config.heartbeat_interval);
        self.leader_snapshot = None;
        if resp.leader == resp.member_id && !resp.skip_assignment {
            self.on_elected_leader(now, resp.members);
        } else {
            let request = self.sync_request(Vec::new());
            self.phase = Phase::Syncing {
                request: Some(Box::new(request)),
            };
        }
    }

    pub(crate) fn on_sync(
        &mut self,
        now: Instant,
        sent_generation: i32,
        sent_member: &str,
        resp: SyncGroupResponse,
    ) {
        if !matches!(self.phase, Phase::Syncing { request: None })
            || !self.generation_unchanged(sent_generation, sent_member)
        {
            return;
        }
        self.phase = Phase::Joining { sent: false };
        let code = ErrorCode::from_code(resp.error_code);
        match code {
            ErrorCode::None => {
                let inconsistent = resp
                    .protocol_name
                    .as_ref()
                    .is_some_and(|n| Some(n.as_str()) != self.generation.protocol_name.as_deref());
                if inconsistent {
                    let reason = format!("SyncGroup returned protocol {:?}", resp.protocol_name);
                    self.events
                        .push_back(Event::Error(Error::InconsistentProtocol { reason }));
                    self.join_backoff.fail(now);
                    return;
                }
                match Assignment::decode(resp.assignment) {
                    Ok((assignment, _)) => self.complete_rebalance(now, assignment),
                    Err(e) => {
                        self.events.push_back(Event::Error(e));
                        self.join_backoff.fail(now);
                    }
                }
            }
            ErrorCode::RebalanceInProgress => {}
            ErrorCode::UnknownMemberId | ErrorCode::IllegalGeneration => {
                self.reset_generation(code == ErrorCode::UnknownMemberId);
            }
            ErrorCode::CoordinatorNotAvailable | ErrorCode::NotCoordinator => {
                self.mark_coordinator_unknown(now);
            }
            ErrorCode::FencedInstanceId => self.fail(self.fenced()),
            ErrorCode::GroupAuthorizationFailed => {
                self.fail(Error::kafka(ApiKey::SyncGroup, code));
            }
            _ => {
                self.events
                    .push_back(Event::Error(Error::kafka(ApiKey::SyncGroup, code)));
                self.join_backoff.fail(now);
            }
        }
    }

    /// Applies the assignment: revoke what is no longer assigned (then
    /// rejoin), add the rest, fetch the added partitions' offsets.
    fn complete_rebalance(&mut self, now: Instant, assignment: Assignment) {
        self.phase = Phase::Stable;
        self.join_prepared = false;
        self.session_ok_at = Some(now);
        let generation = self.generation.generation_id;
        let assigned: BTreeSet<TopicPartition> = assignment.partitions.into_iter().collect();
        self.last_assignment = assigned.iter().cloned().collect();
        self.last_assignment_generation = generation;

        let already_revoking = self.revoking.clone().unwrap_or_default();
        let revoked: BTreeSet<TopicPartition> = self
            .owned
            .difference(&assigned)
            .filter(|tp| !already_revoking.contains(*tp))
            .cloned()
            .collect();
        let added: BTreeSet<TopicPartition> = assigned.difference(&self.owned).cloned().collect();
        if !revoked.is_empty() {
            self.events.push_back(Event::Revoked {
                partitions: revoked.clone(),
            });
            self.revoking = Some(&already_revoking | &revoked);
            self.request_rejoin("partitions were revoked; rejoining to complete the rebalance");
        }
        self.owned.extend(added.iter().cloned());
        self.to_fetch.extend(added.iter().cloned());
        self.events.push_back(Event::Assigned {
            partitions: added,
            generation,
        });
        if assigned.iter().any(|tp| !self.topics.contains(&tp.topic))
            || self.joined_topics != self.topics
        {
            self.request_rejoin("subscription changed during the rebalance");
        }
        if let Some((topics, counts)) = &self.leader_snapshot
            && self.metadata.counts_of(topics) != *counts
        {
            self.request_rejoin("partition metadata changed during the rebalance");
        }
    }

    pub(crate) fn on_join_or_sync_failed(&mut self, now: Instant, failure: Failure) {
        if !matches!(
            self.phase,
            Phase::Joining { sent: true } | Phase::Syncing { request: None }
        ) {
            return;
        }
        self.phase = Phase::Joining { sent: false };
        match failure {
            Failure::Disconnected | Failure::TimedOut => self.mark_coordinator_unknown(now),
            Failure::NotSent { .. } => self.fail(Error::Transport {
                api: ApiKey::JoinGroup,
                failure,
            }),
        }
    }

    /// Drops the generation after the coordinator rejected it: partitions
    /// are lost, and the member rejoins (with a new member id if
    /// `reset_member_id`).
    pub(crate) fn reset_generation(&mut self, reset_member_id: bool) {
        self.lose_all();
        self.generation.generation_id = Generation::NO_GENERATION_ID;
        self.generation.protocol_name = None;
        if reset_member_id {
            self.generation.member_id.clear();
        }
        self.leader_snapshot = None;
        self.fail_queued_commits(&Error::NotMember);
        self.in_flight
            .retain(|_, f| !matches!(f.kind, Kind::JoinGroup | Kind::SyncGroup | Kind::Heartbeat));
        self.next_heartbeat = None;
        self.session_ok_at = None;
        if !matches!(
            self.phase,
            Phase::Idle | Phase::Failed | Phase::Leaving { .. }
        ) {
            self.phase = Phase::Joining { sent: false };
            self.join_prepared = false;
        }
    }

    pub(crate) fn fenced(&self) -> Error {
        Error::Fenced {
            group_instance_id: self.config.group_instance_id.clone().unwrap_or_default(),
        }
    }
}
