//! The classic-protocol group member: its state and public API.
//!
//! The protocol steps live in submodules, one concern each:
//! `coordinator` (FindCoordinator), `join` (JoinGroup, SyncGroup,
//! rejoin and revocation), `leader` (running the assignor), `heartbeat`
//! (heartbeats and the session), `offsets` (commit and fetch) and `leave`.

mod coordinator;
mod heartbeat;
mod join;
mod leader;
mod leave;
mod offsets;

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::time::{Duration, Instant};

use gregor_protocol::messages::SyncGroupRequest;

use crate::assignor::{MemberSubscription, RebalanceProtocol};
use crate::config::GroupConfig;
use crate::error::{Error, Result};
use crate::events::Event;
use crate::membership::{MemberState, Membership};
use crate::offsets::OffsetAndMetadata;
use crate::request::{CoordinatorNode, Destination, Outgoing, Request, RequestId, Response};
use crate::timers::{Backoff, earliest};
use crate::types::{Generation, TopicPartition, TopicPartitions};

/// A consumer group member speaking the classic protocol (JoinGroup,
/// SyncGroup, Heartbeat), as a deterministic sans-io state machine.
///
/// See [`Membership`] for the driving loop and the crate documentation for
/// an example. Every method that changes state takes `now`; nothing reads a
/// clock.
#[derive(Debug)]
pub struct GroupMember {
    pub(crate) config: GroupConfig,
    pub(crate) protocol: RebalanceProtocol,
    pub(crate) generation: Generation,
    pub(crate) topics: BTreeSet<String>,
    pub(crate) joined_topics: BTreeSet<String>,
    pub(crate) metadata: TopicPartitions,
    pub(crate) coordinator: Option<CoordinatorNode>,
    pub(crate) phase: Phase,
    /// Why a rejoin is wanted, if it is.
    pub(crate) rejoin: Option<String>,
    /// Whether the pre-join revocation has been done for the pending rejoin.
    pub(crate) join_prepared: bool,
    pub(crate) owned: BTreeSet<TopicPartition>,
    /// Revoked, waiting for [`GroupMember::ack_revoked`].
    pub(crate) revoking: Option<BTreeSet<TopicPartition>>,
    pub(crate) last_assignment: Vec<TopicPartition>,
    pub(crate) last_assignment_generation: i32,
    /// As leader: the group's topics and their partition counts when the
    /// assignment was computed, to rejoin when they change.
    pub(crate) leader_snapshot: Option<(BTreeSet<String>, BTreeMap<String, usize>)>,
    pub(crate) next_id: u64,
    pub(crate) in_flight: BTreeMap<RequestId, InFlight>,
    pub(crate) commits: VecDeque<PendingCommit>,
    pub(crate) to_fetch: BTreeSet<TopicPartition>,
    pub(crate) find_backoff: Backoff,
    pub(crate) join_backoff: Backoff,
    pub(crate) fetch_backoff: Backoff,
    pub(crate) next_heartbeat: Option<Instant>,
    pub(crate) session_ok_at: Option<Instant>,
    pub(crate) metadata_deadline: Option<Instant>,
    pub(crate) events: VecDeque<Event>,
}

/// The protocol phase.
#[derive(Debug)]
pub(crate) enum Phase {
    Idle,
    /// JoinGroup to send (`sent == false`) or in flight.
    Joining {
        sent: bool,
    },
    /// Leader waiting for metadata before assigning.
    AwaitingMetadata {
        members: Vec<MemberSubscription>,
        versions: BTreeMap<String, i16>,
    },
    /// SyncGroup to send (`request` is `Some`) or in flight.
    Syncing {
        request: Option<Box<SyncGroupRequest>>,
    },
    Stable,
    /// LeaveGroup to send once revocation and commits are done, or in
    /// flight (`sent`).
    Leaving {
        sent: bool,
    },
    Failed,
}

/// A request in flight and what it was sent for.
#[derive(Debug)]
pub(crate) struct InFlight {
    pub(crate) kind: Kind,
    pub(crate) deadline: Instant,
    pub(crate) generation_id: i32,
    pub(crate) member_id: String,
}

#[derive(Debug)]
pub(crate) enum Kind {
    FindCoordinator,
    JoinGroup,
    SyncGroup,
    Heartbeat,
    LeaveGroup,
    OffsetFetch(BTreeSet<TopicPartition>),
    OffsetCommit(BTreeMap<TopicPartition, OffsetAndMetadata>),
}

/// A commit accepted by [`GroupMember::commit`], not yet sent.
#[derive(Debug)]
pub(crate) struct PendingCommit {
    pub(crate) offsets: BTreeMap<TopicPartition, OffsetAndMetadata>,
    pub(crate) generation_id: i32,
}

impl GroupMember {
    /// A member that is not in any group until [`subscribe`](Self::subscribe)
    /// is called.
    pub fn new(config: GroupConfig) -> Self {
        let backoff = || Backoff::new(config.retry_backoff, config.retry_backoff_max);
        Self {
            protocol: config.rebalance_protocol(),
            find_backoff: backoff(),
            join_backoff: backoff(),
            fetch_backoff: backoff(),
            config,
            generation: Generation::none(),
            topics: BTreeSet::new(),
            joined_topics: BTreeSet::new(),
            metadata: TopicPartitions::new(),
            coordinator: None,
            phase: Phase::Idle,
            rejoin: None,
            join_prepared: false,
            owned: BTreeSet::new(),
            revoking: None,
            last_assignment: Vec::new(),
            last_assignment_generation: Generation::NO_GENERATION_ID,
            leader_snapshot: None,
            next_id: 0,
            in_flight: BTreeMap::new(),
            commits: VecDeque::new(),
            to_fetch: BTreeSet::new(),
            next_heartbeat: None,
            session_ok_at: None,
            metadata_deadline: None,
            events: VecDeque::new(),
        }
    }

    /// The configuration.
    pub fn config(&self) -> &GroupConfig {
        &self.config
    }

    /// The rebalance protocol this member follows.
    pub fn rebalance_protocol(&self) -> RebalanceProtocol {
        self.protocol
    }

    /// The current generation (its id is `-1` when not joined).
    pub fn generation(&self) -> &Generation {
        &self.generation
    }

    /// The member id the coordinator gave this member (empty before the
    /// first join).
    pub fn member_id(&self) -> &str {
        &self.generation.member_id
    }

    /// The coordinator, if known.
    pub fn coordinator(&self) -> Option<&CoordinatorNode> {
        self.coordinator.as_ref()
    }

    /// The subscribed topics.
    pub fn subscription(&self) -> &BTreeSet<String> {
        &self.topics
    }

    /// The partitions this member owns now (including any revoked but not
    /// yet acknowledged).
    pub fn assignment(&self) -> &BTreeSet<TopicPartition> {
        &self.owned
    }

    /// Whether this member computed the group's current assignment.
    pub fn is_leader(&self) -> bool {
        self.leader_snapshot.is_some()
    }

    /// Where the member stands.
    pub fn state(&self) -> MemberState {
        match self.phase {
            Phase::Idle => MemberState::Idle,
            Phase::Joining { .. } => MemberState::Joining,
            Phase::AwaitingMetadata { .. } | Phase::Syncing { .. } => MemberState::Syncing,
            Phase::Stable if self.rejoin.is_some() => MemberState::Joining,
            Phase::Stable => MemberState::Stable,
            Phase::Leaving { .. } => MemberState::Leaving,
            Phase::Failed => MemberState::Failed,
        }
    }

    /// Sets the topics to consume. Joins the group if not in it, rejoins if
    /// the topics changed (eager: after revoking everything; cooperative:
    /// after revoking the partitions of dropped topics). An empty set
    /// leaves the group, like [`leave`](Self::leave).
    pub fn subscribe<I, S>(&mut self, now: Instant, topics: I)
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        let topics: BTreeSet<String> = topics.into_iter().map(Into::into).collect();
        if matches!(self.phase, Phase::Failed) {
            return;
        }
        if topics.is_empty() {
            self.leave(now);
            return;
        }
        if topics == self.topics && !matches!(self.phase, Phase::Idle) {
            return;
        }
        self.topics = topics;
        match self.phase {
            Phase::Idle => {
                self.phase = Phase::Joining { sent: false };
                self.join_prepared = false;
            }
            Phase::Leaving { .. } => {}
            _ => self.request_rejoin("subscription changed"),
        }
        self.drive(now);
    }

    /// Confirms the last [`Event::Revoked`]: the partitions are released
    /// (commit them before calling this if you want to). The member then
    /// rejoins or leaves, once commits in flight are answered.
    pub fn ack_revoked(&mut self, now: Instant) {
        if let Some(revoked) = self.revoking.take() {
            self.owned.retain(|tp| !revoked.contains(tp));
        }
        self.drive(now);
    }

    /// Supplies topic metadata. Answers [`Event::MetadataNeeded`]; and, as
    /// the leader, a change in the partition count of a group topic (or a
    /// subscribed topic appearing) triggers a rebalance.
    pub fn update_metadata(&mut self, now: Instant, metadata: TopicPartitions) {
        self.metadata = metadata;
        if matches!(self.phase, Phase::AwaitingMetadata { .. }) {
            self.assign_as_leader(now);
        } else if let Some((topics, counts)) = &self.leader_snapshot
            && matches!(self.phase, Phase::Stable)
            && self.metadata.counts_of(topics) != *counts
        {
            self.request_rejoin("partition metadata of a group topic changed");
        }
        self.drive(now);
    }

    /// Asks for a rebalance (the Java client's `enforceRebalance`).
    pub fn request_rebalance(&mut self, now: Instant, reason: &str) {
        self.request_rejoin(reason);
        self.drive(now);
    }

    /// Hands back what became of request `id`; responses to requests the
    /// machine gave up on are ignored.
    pub fn handle_response(&mut self, now: Instant, id: RequestId, response: Response) {
        let Some(flight) = self.in_flight.remove(&id) else {
            return;
        };
        match (flight.kind, response) {
            (Kind::FindCoordinator, Response::FindCoordinator(r)) => {
                self.on_find_coordinator(now, &r);
            }
            (Kind::FindCoordinator, Response::Failed(f)) => self.on_find_coordinator_failed(now, f),
            (Kind::JoinGroup, Response::JoinGroup(r)) => {
                self.on_join(now, flight.generation_id, &flight.member_id, r);
            }
            (Kind::SyncGroup, Response::SyncGroup(r)) => {
                self.on_sync(now, flight.generation_id, &flight.member_id, r);
            }
            (Kind::JoinGroup | Kind::SyncGroup, Response::Failed(f)) => {
                self.on_join_or_sync_failed(now, f);
            }
            (Kind::Heartbeat, Response::Heartbeat(r)) => {
                self.on_heartbeat(now, flight.generation_id, &flight.member_id, &r);
            }
            (Kind::Heartbeat, Response::Failed(f)) => self.on_heartbeat_failed(now, f),
            (Kind::LeaveGroup, _) => self.finish_leave(),
            (Kind::OffsetCommit(offsets), Response::OffsetCommit(r)) => {
                self.on_commit(now, flight.generation_id, &flight.member_id, offsets, &r);
            }
            (Kind::OffsetCommit(offsets), Response::Failed(f)) => {
                self.on_commit_failed(now, offsets, f);
            }
            (Kind::OffsetFetch(partitions), Response::OffsetFetch(r)) => {
                self.on_fetch(now, partitions, &r);
            }
            (Kind::OffsetFetch(partitions), Response::Failed(f)) => {
                self.on_fetch_failed(now, partitions, f);
            }
            (kind, other) => {
                // The driver answered with the wrong response type: treat
                // it as a failed request so nothing waits for it forever.
                let reason = format!("unexpected {:?} for {kind:?}", other.api_key());
                let failure = crate::request::Failure::NotSent { reason };
                self.in_flight.insert(id, InFlight { kind, ..flight });
                self.handle_response(now, id, Response::Failed(failure));
                return;
            }
        }
        self.drive(now);
    }

    /// Processes every deadline that has passed at `now`: requests that
    /// timed out, the session, the leader's wait for metadata.
    pub fn handle_timeout(&mut self, now: Instant) {
        let expired: Vec<RequestId> = self
            .in_flight
            .iter()
            .filter(|(_, f)| f.deadline <= now)
            .map(|(id, _)| *id)
            .collect();
        for id in expired {
            let failure = crate::request::Failure::TimedOut;
            self.handle_response(now, id, Response::Failed(failure));
        }
        self.check_session(now);
        self.find_backoff.expire(now);
        self.join_backoff.expire(now);
        self.fetch_backoff.expire(now);
        if matches!(self.phase, Phase::AwaitingMetadata { .. })
            && self.metadata_deadline.is_some_and(|d| now >= d)
        {
            self.assign_as_leader(now);
        }
        self.drive(now);
    }

    /// The next request to send, if any.
    pub fn poll_transmit(&mut self, now: Instant) -> Option<Outgoing> {
        self.handle_timeout(now);
        if matches!(self.phase, Phase::Failed) {
            return None;
        }
        let Some(node) = self.coordinator.clone() else {
            return self.maybe_find_coordinator(now);
        };
        let request = self
            .leave_request(now)
            .or_else(|| self.join_request_if_due(now))
            .or_else(|| self.sync_request_if_due())
            .or_else(|| self.commit_request_if_due())
            .or_else(|| self.heartbeat_request_if_due(now))
            .or_else(|| self.fetch_request_if_due(now))?;
        let (kind, request) = request;
        Some(self.send(now, Destination::Coordinator(node), kind, request))
    }

    /// When [`handle_timeout`](Self::handle_timeout) must next be called.
    pub fn poll_timeout(&self) -> Option<Instant> {
        if matches!(self.phase, Phase::Failed) {
            return None;
        }
        let find = (self.coordinator.is_none() && self.needs_coordinator())
            .then(|| self.find_backoff.deadline())
            .flatten();
        let join = matches!(self.phase, Phase::Joining { sent: false })
            .then(|| self.join_backoff.deadline())
            .flatten();
        let fetch = (!self.to_fetch.is_empty())
            .then(|| self.fetch_backoff.deadline())
            .flatten();
        earliest(
            [
                self.session_deadline(),
                self.heartbeat_deadline(),
                find,
                join,
                fetch,
                matches!(self.phase, Phase::AwaitingMetadata { .. })
                    .then_some(self.metadata_deadline)
                    .flatten(),
            ]
            .into_iter()
            .chain(self.in_flight.values().map(|f| Some(f.deadline))),
        )
    }

    /// The next event, if any.
    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    /// Registers a request as in flight and wraps it for the driver.
    pub(crate) fn send(
        &mut self,
        now: Instant,
        destination: Destination,
        kind: Kind,
        request: Request,
    ) -> Outgoing {
        let id = RequestId(self.next_id);
        self.next_id += 1;
        let timeout = match kind {
            Kind::JoinGroup => self.config.rebalance_timeout + Duration::from_secs(5),
            _ => self.config.request_timeout,
        };
        self.in_flight.insert(
            id,
            InFlight {
                kind,
                deadline: now + timeout,
                generation_id: self.generation.generation_id,
                member_id: self.generation.member_id.clone(),
            },
        );
        Outgoing {
            id,
            destination,
            request,
            timeout,
        }
    }

    /// Whether a request of this kind is in flight.
    pub(crate) fn in_flight_is(&self, f: impl Fn(&Kind) -> bool) -> bool {
        self.in_flight.values().any(|x| f(&x.kind))
    }

    /// Whether the generation a response was sent with is still current.
    pub(crate) fn generation_unchanged(&self, generation_id: i32, member_id: &str) -> bool {
        self.generation.generation_id == generation_id && self.generation.member_id == member_id
    }

    /// Stops for good after a fatal error.
    pub(crate) fn fail(&mut self, error: Error) {
        self.lose_all();
        self.fail_queued_commits(&error);
        self.in_flight.clear();
        self.phase = Phase::Failed;
        self.events.push_back(Event::Fatal(error));
    }

    /// Reports every owned partition lost.
    pub(crate) fn lose_all(&mut self) {
        self.revoking = None;
        self.to_fetch.clear();
        let lost = std::mem::take(&mut self.owned);
        if !lost.is_empty() {
            self.events.push_back(Event::Lost { partitions: lost });
        }
    }
}

impl Membership for GroupMember {
    fn handle_response(&mut self, now: Instant, id: RequestId, response: Response) {
        GroupMember::handle_response(self, now, id, response);
    }

    fn handle_timeout(&mut self, now: Instant) {
        GroupMember::handle_timeout(self, now);
    }

    fn poll_transmit(&mut self, now: Instant) -> Option<Outgoing> {
        GroupMember::poll_transmit(self, now)
    }

    fn poll_timeout(&self) -> Option<Instant> {
        GroupMember::poll_timeout(self)
    }

    fn poll_event(&mut self) -> Option<Event> {
        GroupMember::poll_event(self)
    }

    fn subscribe(&mut self, now: Instant, topics: BTreeSet<String>) {
        GroupMember::subscribe(self, now, topics);
    }

    fn leave(&mut self, now: Instant) {
        GroupMember::leave(self, now);
    }

    fn commit(
        &mut self,
        now: Instant,
        offsets: BTreeMap<TopicPartition, OffsetAndMetadata>,
    ) -> Result<()> {
        GroupMember::commit(self, now, offsets)
    }

    fn ack_revoked(&mut self, now: Instant) {
        GroupMember::ack_revoked(self, now);
    }

    fn update_metadata(&mut self, now: Instant, metadata: TopicPartitions) {
        GroupMember::update_metadata(self, now, metadata);
    }

    fn assignment(&self) -> &BTreeSet<TopicPartition> {
        GroupMember::assignment(self)
    }

    fn state(&self) -> MemberState {
        GroupMember::state(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::request::Failure;
    use gregor_protocol::messages::HeartbeatResponse;

    fn member() -> GroupMember {
        GroupMember::new(GroupConfig::builder("g").build().unwrap())
    }

    #[test]
    fn an_idle_member_does_nothing() {
        let mut m = member();
        let now = Instant::now();
        assert_eq!(m.state(), MemberState::Idle);
        assert_eq!(m.poll_transmit(now), None);
        assert_eq!(m.poll_timeout(), None);
        assert_eq!(m.poll_event(), None);
        m.leave(now);
        assert_eq!(m.poll_event(), Some(Event::Left));
    }

    #[test]
    fn subscribing_starts_with_find_coordinator_to_any_broker() {
        let mut m = member();
        let now = Instant::now();
        m.subscribe(now, ["t"]);
        let out = m.poll_transmit(now).unwrap();
        assert_eq!(out.destination, Destination::AnyBroker);
        assert!(matches!(out.request, Request::FindCoordinator(_)));
        // One lookup at a time.
        assert_eq!(m.poll_transmit(now), None);
        assert_eq!(m.poll_timeout(), Some(now + out.timeout));
    }

    #[test]
    fn unknown_and_mismatched_responses_are_harmless() {
        let mut m = member();
        let now = Instant::now();
        m.subscribe(now, ["t"]);
        let out = m.poll_transmit(now).unwrap();
        // An id the member never sent.
        m.handle_response(now, RequestId(999), Response::Failed(Failure::Disconnected));
        // The wrong response type counts as a failed lookup: it backs off
        // and asks again.
        m.handle_response(
            now,
            out.id,
            Response::Heartbeat(HeartbeatResponse::default()),
        );
        assert_eq!(m.poll_transmit(now), None);
        let retry_at = m.poll_timeout().unwrap();
        assert!(retry_at > now);
        assert!(matches!(
            m.poll_transmit(retry_at).map(|o| o.request),
            Some(Request::FindCoordinator(_))
        ));
    }

    #[test]
    fn membership_is_object_safe() {
        let mut boxed: Box<dyn Membership> = Box::new(member());
        let now = Instant::now();
        boxed.subscribe(now, ["t".to_owned()].into());
        assert_eq!(boxed.state(), MemberState::Joining);
        assert!(boxed.poll_transmit(now).is_some());
    }

    #[test]
    fn commit_without_a_generation_is_refused() {
        let mut m = member();
        let now = Instant::now();
        let offsets = BTreeMap::from([(TopicPartition::new("t", 0), OffsetAndMetadata::new(1))]);
        assert_eq!(m.commit(now, offsets), Err(Error::NotMember));
    }
}
