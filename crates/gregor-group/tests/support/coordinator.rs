//! A fake group coordinator that answers the members' requests the way a
//! Kafka broker's classic group coordinator does, in memory and on the
//! test's clock: rebalances wait for every member to rejoin (or the
//! rebalance timeout), sessions expire, static members are replaced without
//! a rebalance, and errors can be injected per request.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::time::{Duration, Instant};

use bytes::Bytes;
use gregor_group::{Request, RequestId, Response};
use gregor_protocol::messages::find_coordinator_response::Coordinator;
use gregor_protocol::messages::join_group_response::JoinGroupResponseMember;
use gregor_protocol::messages::leave_group_response::MemberResponse;
use gregor_protocol::messages::offset_commit_response::{
    OffsetCommitResponsePartition, OffsetCommitResponseTopic,
};
use gregor_protocol::messages::offset_fetch_response::{
    OffsetFetchResponseGroup, OffsetFetchResponsePartitions, OffsetFetchResponseTopics,
};
use gregor_protocol::messages::{
    FindCoordinatorResponse, HeartbeatResponse, JoinGroupRequest, JoinGroupResponse,
    LeaveGroupResponse, OffsetCommitRequest, OffsetCommitResponse, OffsetFetchRequest,
    OffsetFetchResponse, SyncGroupRequest, SyncGroupResponse,
};
use gregor_protocol::{ApiKey, ErrorCode, StrBytes};

/// A response on its way to client `client`.
#[derive(Debug)]
pub(crate) struct Delivery {
    pub(crate) client: usize,
    pub(crate) id: RequestId,
    pub(crate) response: Response,
}

/// An error the coordinator returns instead of handling a request.
#[derive(Debug, Clone)]
pub(crate) struct Injection {
    pub(crate) api: ApiKey,
    /// Only for this client (any if `None`).
    pub(crate) client: Option<usize>,
    pub(crate) outcome: Outcome,
}

#[derive(Debug, Clone)]
pub(crate) enum Outcome {
    Code(ErrorCode),
    Disconnect,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum GroupState {
    Empty,
    PreparingRebalance,
    CompletingRebalance,
    Stable,
}

#[derive(Debug)]
struct Member {
    client: usize,
    instance_id: Option<String>,
    protocols: Vec<(String, Bytes)>,
    session_timeout: Duration,
    rebalance_timeout: Duration,
    last_heartbeat: Instant,
    assignment: Bytes,
    pending_join: Option<RequestId>,
    pending_sync: Option<RequestId>,
}

/// The fake coordinator of one group.
#[derive(Debug)]
pub(crate) struct FakeCoordinator {
    pub(crate) group_id: String,
    /// KIP-394: answer a first JoinGroup without member id with
    /// MEMBER_ID_REQUIRED.
    pub(crate) require_member_id: bool,
    pub(crate) state: GroupState,
    pub(crate) generation: i32,
    pub(crate) protocol: Option<String>,
    pub(crate) leader: Option<String>,
    members: BTreeMap<String, Member>,
    pending_ids: BTreeSet<String>,
    static_ids: BTreeMap<String, String>,
    fenced: BTreeSet<String>,
    rebalance_deadline: Option<Instant>,
    /// Like `group.initial.rebalance.delay.ms`: the first rebalance of an
    /// empty group waits this long for more members.
    pub(crate) initial_delay: Duration,
    initial_delay_until: Option<Instant>,
    next_member: u32,
    pub(crate) offsets: BTreeMap<(String, i32), i64>,
    pub(crate) injections: VecDeque<Injection>,
    /// Requests seen, by API, for assertions.
    pub(crate) seen: Vec<(usize, Request)>,
    pub(crate) rebalances: u32,
    outbox: Vec<Delivery>,
}

impl FakeCoordinator {
    pub(crate) fn new(group_id: &str) -> Self {
        Self {
            group_id: group_id.to_owned(),
            require_member_id: true,
            state: GroupState::Empty,
            generation: 0,
            protocol: None,
            leader: None,
            members: BTreeMap::new(),
            pending_ids: BTreeSet::new(),
            static_ids: BTreeMap::new(),
            fenced: BTreeSet::new(),
            rebalance_deadline: None,
            initial_delay: Duration::from_secs(3),
            initial_delay_until: None,
            next_member: 0,
            offsets: BTreeMap::new(),
            injections: VecDeque::new(),
            seen: Vec::new(),
            rebalances: 0,
            outbox: Vec::new(),
        }
    }

    /// Injects one error for the next request of `api` (from `client`).
    pub(crate) fn inject(&mut self, api: ApiKey, client: Option<usize>, code: ErrorCode) {
        self.injections.push_back(Injection {
            api,
            client,
            outcome: Outcome::Code(code),
        });
    }

    /// Makes the next request of `api` fail as a disconnect.
    pub(crate) fn inject_disconnect(&mut self, api: ApiKey, client: Option<usize>) {
        self.injections.push_back(Injection {
            api,
            client,
            outcome: Outcome::Disconnect,
        });
    }

    pub(crate) fn member_ids(&self) -> Vec<String> {
        self.members.keys().cloned().collect()
    }

    pub(crate) fn take_outbox(&mut self) -> Vec<Delivery> {
        std::mem::take(&mut self.outbox)
    }

    /// The next instant `tick` has work.
    pub(crate) fn next_deadline(&self) -> Option<Instant> {
        let sessions = self
            .members
            .values()
            .filter(|m| m.pending_join.is_none())
            .map(|m| m.last_heartbeat + m.session_timeout);
        sessions
            .chain(self.rebalance_deadline)
            .chain(self.initial_delay_until)
            .min()
    }

    /// Expires sessions and rebalance timeouts.
    pub(crate) fn tick(&mut self, now: Instant) {
        let expired: Vec<String> = self
            .members
            .iter()
            .filter(|(_, m)| {
                m.pending_join.is_none() && now >= m.last_heartbeat + m.session_timeout
            })
            .map(|(id, _)| id.clone())
            .collect();
        for id in expired {
            self.remove_member(now, &id);
        }
        if self.state == GroupState::PreparingRebalance
            && self.rebalance_deadline.is_some_and(|d| now >= d)
        {
            let late: Vec<String> = self
                .members
                .iter()
                .filter(|(_, m)| m.pending_join.is_none())
                .map(|(id, _)| id.clone())
                .collect();
            for id in late {
                self.drop_member(&id);
            }
            self.complete_join(now);
        }
        if self.initial_delay_until.is_some_and(|d| now >= d) {
            self.initial_delay_until = None;
            self.maybe_complete_join(now);
        }
    }

    pub(crate) fn handle(&mut self, now: Instant, client: usize, id: RequestId, request: Request) {
        self.seen.push((client, request.clone()));
        let api = request.api_key();
        if let Some(pos) = self
            .injections
            .iter()
            .position(|i| i.api == api && i.client.is_none_or(|c| c == client))
            && let Some(inj) = self.injections.remove(pos)
        {
            let response = match inj.outcome {
                Outcome::Disconnect => Response::Failed(gregor_group::Failure::Disconnected),
                Outcome::Code(code) => error_response(&request, code),
            };
            self.reply(client, id, response);
            return;
        }
        match request {
            Request::FindCoordinator(_) => {
                let resp = FindCoordinatorResponse::default().with_coordinators(vec![
                    Coordinator::default()
                        .with_key(self.group_id.as_str())
                        .with_node_id(1)
                        .with_host("broker-1")
                        .with_port(9092),
                ]);
                self.reply(client, id, Response::FindCoordinator(resp));
            }
            Request::JoinGroup(r) => self.join(now, client, id, r),
            Request::SyncGroup(r) => self.sync(now, client, id, r),
            Request::Heartbeat(r) => {
                let member = r.member_id.as_str().to_owned();
                let code =
                    self.check_member(&member, r.generation_id, r.group_instance_id.as_ref());
                let code = match code {
                    ErrorCode::None => {
                        if let Some(m) = self.members.get_mut(&member) {
                            m.last_heartbeat = now;
                        }
                        if self.state == GroupState::PreparingRebalance {
                            ErrorCode::RebalanceInProgress
                        } else {
                            ErrorCode::None
                        }
                    }
                    other => other,
                };
                let resp = HeartbeatResponse::default().with_error_code(code.code());
                self.reply(client, id, Response::Heartbeat(resp));
            }
            Request::LeaveGroup(r) => {
                let mut responses = Vec::new();
                for m in &r.members {
                    let member = m.member_id.as_str().to_owned();
                    let code = if self.members.contains_key(&member) {
                        self.remove_member(now, &member);
                        ErrorCode::None
                    } else {
                        ErrorCode::UnknownMemberId
                    };
                    responses.push(
                        MemberResponse::default()
                            .with_member_id(m.member_id.clone())
                            .with_error_code(code.code()),
                    );
                }
                let resp = LeaveGroupResponse::default().with_members(responses);
                self.reply(client, id, Response::LeaveGroup(resp));
            }
            Request::OffsetCommit(r) => self.commit(client, id, &r),
            Request::OffsetFetch(r) => self.fetch(client, id, &r),
            other => panic!("unexpected request {other:?}"),
        }
    }

    fn reply(&mut self, client: usize, id: RequestId, response: Response) {
        self.outbox.push(Delivery {
            client,
            id,
            response,
        });
    }

    fn check_member(
        &self,
        member: &str,
        generation: i32,
        instance: Option<&StrBytes>,
    ) -> ErrorCode {
        if self.fenced.contains(member) && instance.is_some() {
            return ErrorCode::FencedInstanceId;
        }
        if !self.members.contains_key(member) {
            return ErrorCode::UnknownMemberId;
        }
        if generation != self.generation {
            return ErrorCode::IllegalGeneration;
        }
        ErrorCode::None
    }

    fn new_member_id(&mut self, client: usize) -> String {
        self.next_member += 1;
        format!("member-{client}-{}", self.next_member)
    }

    fn join(&mut self, now: Instant, client: usize, id: RequestId, r: JoinGroupRequest) {
        let mut member_id = r.member_id.as_str().to_owned();
        let instance = r.group_instance_id.as_ref().map(|i| i.as_str().to_owned());
        let protocols: Vec<(String, Bytes)> = r
            .protocols
            .iter()
            .map(|p| (p.name.as_str().to_owned(), p.metadata.clone()))
            .collect();

        if let Some(instance) = &instance {
            if let Some(old) = self.static_ids.get(instance).cloned() {
                if member_id.is_empty() {
                    // A static member restarting: replace the old member id
                    // and keep the assignment, without a rebalance.
                    let new_id = self.new_member_id(client);
                    if let Some(mut m) = self.members.remove(&old) {
                        self.fenced.insert(old.clone());
                        m.client = client;
                        m.protocols = protocols.clone();
                        m.last_heartbeat = now;
                        self.members.insert(new_id.clone(), m);
                        self.static_ids.insert(instance.clone(), new_id.clone());
                        let was_leader = self.leader.as_deref() == Some(old.as_str());
                        if was_leader {
                            self.leader = Some(new_id.clone());
                        }
                        if self.state == GroupState::Stable {
                            let resp = JoinGroupResponse::default()
                                .with_generation_id(self.generation)
                                .with_protocol_type(Some("consumer".into()))
                                .with_protocol_name(self.protocol.clone().map(StrBytes::from))
                                .with_leader(self.leader.clone().unwrap_or_default())
                                .with_skip_assignment(was_leader)
                                .with_member_id(new_id.as_str());
                            self.reply(client, id, Response::JoinGroup(resp));
                            return;
                        }
                        member_id = new_id;
                    } else {
                        member_id = new_id;
                    }
                } else if member_id != old {
                    let resp = JoinGroupResponse::default()
                        .with_error_code(ErrorCode::FencedInstanceId.code())
                        .with_member_id(member_id.as_str());
                    self.reply(client, id, Response::JoinGroup(resp));
                    return;
                }
            } else {
                if member_id.is_empty() {
                    member_id = self.new_member_id(client);
                }
                self.static_ids.insert(instance.clone(), member_id.clone());
            }
        } else if member_id.is_empty() {
            let new_id = self.new_member_id(client);
            if self.require_member_id {
                self.pending_ids.insert(new_id.clone());
                let resp = JoinGroupResponse::default()
                    .with_error_code(ErrorCode::MemberIdRequired.code())
                    .with_member_id(new_id.as_str());
                self.reply(client, id, Response::JoinGroup(resp));
                return;
            }
            member_id = new_id;
        } else if !self.members.contains_key(&member_id) && !self.pending_ids.remove(&member_id) {
            let resp = JoinGroupResponse::default()
                .with_error_code(ErrorCode::UnknownMemberId.code())
                .with_member_id(member_id.as_str());
            self.reply(client, id, Response::JoinGroup(resp));
            return;
        }

        let session_timeout = Duration::from_millis(r.session_timeout_ms.max(0) as u64);
        let rebalance_timeout = Duration::from_millis(r.rebalance_timeout_ms.max(0) as u64);
        let m = self
            .members
            .entry(member_id.clone())
            .or_insert_with(|| Member {
                client,
                instance_id: instance.clone(),
                protocols: Vec::new(),
                session_timeout,
                rebalance_timeout,
                last_heartbeat: now,
                assignment: Bytes::new(),
                pending_join: None,
                pending_sync: None,
            });
        m.client = client;
        m.protocols = protocols;
        m.pending_join = Some(id);
        m.last_heartbeat = now;
        if self.state != GroupState::PreparingRebalance {
            self.prepare_rebalance(now);
        }
        self.maybe_complete_join(now);
    }

    fn prepare_rebalance(&mut self, now: Instant) {
        // A SyncGroup parked for the generation being abandoned fails.
        let parked: Vec<(usize, RequestId)> = self
            .members
            .values_mut()
            .filter_map(|m| m.pending_sync.take().map(|id| (m.client, id)))
            .collect();
        for (client, id) in parked {
            let resp =
                SyncGroupResponse::default().with_error_code(ErrorCode::RebalanceInProgress.code());
            self.reply(client, id, Response::SyncGroup(resp));
        }
        if self.state == GroupState::Empty && !self.initial_delay.is_zero() {
            self.initial_delay_until = Some(now + self.initial_delay);
        }
        self.state = GroupState::PreparingRebalance;
        let timeout = self
            .members
            .values()
            .map(|m| m.rebalance_timeout)
            .max()
            .unwrap_or(Duration::from_secs(30));
        self.rebalance_deadline = Some(now + timeout);
    }

    fn maybe_complete_join(&mut self, now: Instant) {
        if self.state == GroupState::PreparingRebalance
            && self.initial_delay_until.is_none()
            && !self.members.is_empty()
            && self.members.values().all(|m| m.pending_join.is_some())
        {
            self.complete_join(now);
        }
    }

    fn complete_join(&mut self, now: Instant) {
        self.rebalance_deadline = None;
        self.initial_delay_until = None;
        if self.members.is_empty() {
            self.state = GroupState::Empty;
            return;
        }
        self.generation += 1;
        self.rebalances += 1;
        // The protocol: the first of the first member's protocols that
        // every member supports.
        let first = self
            .members
            .values()
            .next()
            .map(|m| m.protocols.clone())
            .unwrap_or_default();
        let protocol = first.iter().map(|(n, _)| n.clone()).find(|n| {
            self.members
                .values()
                .all(|m| m.protocols.iter().any(|(p, _)| p == n))
        });
        self.protocol = protocol.clone();
        if !self
            .leader
            .as_ref()
            .is_some_and(|l| self.members.contains_key(l))
        {
            self.leader = self.members.keys().next().cloned();
        }
        let leader = self.leader.clone().unwrap_or_default();
        let all: Vec<JoinGroupResponseMember> = self
            .members
            .iter()
            .map(|(id, m)| {
                let metadata = m
                    .protocols
                    .iter()
                    .find(|(n, _)| Some(n) == protocol.as_ref())
                    .map(|(_, b)| b.clone())
                    .unwrap_or_default();
                JoinGroupResponseMember::default()
                    .with_member_id(id.as_str())
                    .with_group_instance_id(m.instance_id.clone().map(StrBytes::from))
                    .with_metadata(metadata)
            })
            .collect();
        let mut replies = Vec::new();
        for (id, m) in self.members.iter_mut() {
            m.assignment = Bytes::new();
            m.last_heartbeat = now;
            if let Some(req) = m.pending_join.take() {
                let resp = JoinGroupResponse::default()
                    .with_generation_id(self.generation)
                    .with_protocol_type(Some("consumer".into()))
                    .with_protocol_name(protocol.clone().map(StrBytes::from))
                    .with_leader(leader.as_str())
                    .with_member_id(id.as_str())
                    .with_members(if *id == leader {
                        all.clone()
                    } else {
                        Vec::new()
                    });
                replies.push((m.client, req, resp));
            }
        }
        for (client, req, resp) in replies {
            self.reply(client, req, Response::JoinGroup(resp));
        }
        self.state = GroupState::CompletingRebalance;
    }

    fn sync(&mut self, _now: Instant, client: usize, id: RequestId, r: SyncGroupRequest) {
        let member = r.member_id.as_str().to_owned();
        let code = self.check_member(&member, r.generation_id, r.group_instance_id.as_ref());
        if code != ErrorCode::None {
            let resp = SyncGroupResponse::default().with_error_code(code.code());
            self.reply(client, id, Response::SyncGroup(resp));
            return;
        }
        match self.state {
            GroupState::PreparingRebalance | GroupState::Empty => {
                let resp = SyncGroupResponse::default()
                    .with_error_code(ErrorCode::RebalanceInProgress.code());
                self.reply(client, id, Response::SyncGroup(resp));
            }
            GroupState::Stable => {
                let assignment = self.members.get(&member).map(|m| m.assignment.clone());
                self.reply_sync(client, id, assignment.unwrap_or_default());
            }
            GroupState::CompletingRebalance => {
                if let Some(m) = self.members.get_mut(&member) {
                    m.pending_sync = Some(id);
                }
                if self.leader.as_deref() == Some(member.as_str()) {
                    for a in &r.assignments {
                        if let Some(m) = self.members.get_mut(a.member_id.as_str()) {
                            m.assignment = a.assignment.clone();
                        }
                    }
                    self.state = GroupState::Stable;
                    let parked: Vec<(usize, RequestId, Bytes)> = self
                        .members
                        .values_mut()
                        .filter_map(|m| {
                            m.pending_sync
                                .take()
                                .map(|id| (m.client, id, m.assignment.clone()))
                        })
                        .collect();
                    for (client, id, assignment) in parked {
                        self.reply_sync(client, id, assignment);
                    }
                }
            }
        }
    }

    fn reply_sync(&mut self, client: usize, id: RequestId, assignment: Bytes) {
        let resp = SyncGroupResponse::default()
            .with_protocol_type(Some("consumer".into()))
            .with_protocol_name(self.protocol.clone().map(StrBytes::from))
            .with_assignment(assignment);
        self.reply(client, id, Response::SyncGroup(resp));
    }

    fn commit(&mut self, client: usize, id: RequestId, r: &OffsetCommitRequest) {
        let member = r.member_id.as_str();
        let mut code = self.check_member(
            member,
            r.generation_id_or_member_epoch,
            r.group_instance_id.as_ref(),
        );
        if code == ErrorCode::None && self.state == GroupState::CompletingRebalance {
            code = ErrorCode::RebalanceInProgress;
        }
        let topics = r
            .topics
            .iter()
            .map(|t| {
                let partitions = t
                    .partitions
                    .iter()
                    .map(|p| {
                        if code == ErrorCode::None {
                            self.offsets.insert(
                                (t.name.as_str().to_owned(), p.partition_index),
                                p.committed_offset,
                            );
                        }
                        OffsetCommitResponsePartition::default()
                            .with_partition_index(p.partition_index)
                            .with_error_code(code.code())
                    })
                    .collect();
                OffsetCommitResponseTopic::default()
                    .with_name(t.name.clone())
                    .with_partitions(partitions)
            })
            .collect();
        let resp = OffsetCommitResponse::default().with_topics(topics);
        self.reply(client, id, Response::OffsetCommit(resp));
    }

    fn fetch(&mut self, client: usize, id: RequestId, r: &OffsetFetchRequest) {
        let groups = r
            .groups
            .iter()
            .map(|g| {
                let topics = g
                    .topics
                    .iter()
                    .flatten()
                    .map(|t| {
                        let partitions = t
                            .partition_indexes
                            .iter()
                            .map(|&p| {
                                let offset = self
                                    .offsets
                                    .get(&(t.name.as_str().to_owned(), p))
                                    .copied()
                                    .unwrap_or(-1);
                                OffsetFetchResponsePartitions::default()
                                    .with_partition_index(p)
                                    .with_committed_offset(offset)
                                    .with_committed_leader_epoch(-1)
                            })
                            .collect();
                        OffsetFetchResponseTopics::default()
                            .with_name(t.name.clone())
                            .with_partitions(partitions)
                    })
                    .collect();
                OffsetFetchResponseGroup::default()
                    .with_group_id(g.group_id.clone())
                    .with_topics(topics)
            })
            .collect();
        let resp = OffsetFetchResponse::default().with_groups(groups);
        self.reply(client, id, Response::OffsetFetch(resp));
    }

    /// Removes a member (left or expired) and rebalances the rest.
    fn remove_member(&mut self, now: Instant, id: &str) {
        self.drop_member(id);
        if self.members.is_empty() {
            self.state = GroupState::Empty;
            self.rebalance_deadline = None;
        } else if self.state != GroupState::PreparingRebalance {
            self.prepare_rebalance(now);
        } else {
            self.maybe_complete_join(now);
        }
    }

    fn drop_member(&mut self, id: &str) {
        if let Some(m) = self.members.remove(id)
            && let Some(instance) = m.instance_id
            && self.static_ids.get(&instance).is_some_and(|x| x == id)
        {
            self.static_ids.remove(&instance);
        }
    }
}

/// The response to `request` carrying only `code`.
pub(crate) fn error_response(request: &Request, code: ErrorCode) -> Response {
    let c = code.code();
    match request {
        Request::FindCoordinator(_) => Response::FindCoordinator(
            FindCoordinatorResponse::default()
                .with_coordinators(vec![Coordinator::default().with_error_code(c)]),
        ),
        Request::JoinGroup(r) => Response::JoinGroup(
            JoinGroupResponse::default()
                .with_error_code(c)
                .with_member_id(r.member_id.clone()),
        ),
        Request::SyncGroup(_) => {
            Response::SyncGroup(SyncGroupResponse::default().with_error_code(c))
        }
        Request::Heartbeat(_) => {
            Response::Heartbeat(HeartbeatResponse::default().with_error_code(c))
        }
        Request::LeaveGroup(_) => {
            Response::LeaveGroup(LeaveGroupResponse::default().with_error_code(c))
        }
        Request::OffsetCommit(r) => Response::OffsetCommit(
            OffsetCommitResponse::default().with_topics(
                r.topics
                    .iter()
                    .map(|t| {
                        OffsetCommitResponseTopic::default()
                            .with_name(t.name.clone())
                            .with_partitions(
                                t.partitions
                                    .iter()
                                    .map(|p| {
                                        OffsetCommitResponsePartition::default()
                                            .with_partition_index(p.partition_index)
                                            .with_error_code(c)
                                    })
                                    .collect(),
                            )
                    })
                    .collect(),
            ),
        ),
        Request::OffsetFetch(r) => Response::OffsetFetch(
            OffsetFetchResponse::default().with_groups(
                r.groups
                    .iter()
                    .map(|g| {
                        OffsetFetchResponseGroup::default()
                            .with_group_id(g.group_id.clone())
                            .with_error_code(c)
                    })
                    .collect(),
            ),
        ),
        other => panic!("no error response for {other:?}"),
    }
}
