//! The interface every group membership protocol implements.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Instant;

use crate::error::Result;
use crate::events::Event;
use crate::offsets::OffsetAndMetadata;
use crate::request::{Outgoing, RequestId, Response};
use crate::types::{TopicPartition, TopicPartitions};

/// Where a member stands in the group.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum MemberState {
    /// Not subscribed to anything: not in the group.
    Idle,
    /// Joining: looking up the coordinator, giving up partitions before a
    /// rejoin, or waiting for the JoinGroup response.
    Joining,
    /// Joined; waiting for the assignment (SyncGroup), or, as leader, for
    /// metadata to compute it.
    Syncing,
    /// Has its assignment and heartbeats.
    Stable,
    /// Leaving the group.
    Leaving,
    /// Stopped after a fatal error.
    Failed,
}

/// The sans-io API of a consumer group member, independent of the
/// protocol it speaks.
///
/// [`GroupMember`](crate::GroupMember) implements the classic protocol
/// (JoinGroup / SyncGroup / Heartbeat). The next-generation protocol of
/// KIP-848 (one ConsumerGroupHeartbeat request, assignment computed by the
/// broker) fits the same shape: the same inputs, the same
/// [`Outgoing`] requests, the same [`Event`]s, so a driver written against
/// this trait runs either.
///
/// A driver loops:
///
/// 1. feed inputs: [`handle_response`](Self::handle_response) for every
///    response (or failure), [`handle_timeout`](Self::handle_timeout) when
///    [`poll_timeout`](Self::poll_timeout) passes, and the user's calls
///    ([`subscribe`](Self::subscribe), [`commit`](Self::commit),
///    [`ack_revoked`](Self::ack_revoked), [`leave`](Self::leave));
/// 2. drain [`poll_transmit`](Self::poll_transmit) and send each request;
/// 3. drain [`poll_event`](Self::poll_event);
/// 4. sleep until [`poll_timeout`](Self::poll_timeout) or the next input.
///
/// Nothing here reads a clock or does I/O: `now` is always an argument, so
/// the machine is deterministic and tests step a simulated clock.
///
/// `max.poll.interval.ms` is the driver's business: the machine cannot see
/// whether the application still processes records. A driver that wants it
/// measures the time between the application's polls and calls
/// [`leave`](Self::leave) when it is exceeded, as the Java client does.
pub trait Membership {
    /// Hands back what became of request `id`.
    fn handle_response(&mut self, now: Instant, id: RequestId, response: Response);

    /// Processes every deadline that has passed at `now`.
    fn handle_timeout(&mut self, now: Instant);

    /// The next request to send, if any.
    fn poll_transmit(&mut self, now: Instant) -> Option<Outgoing>;

    /// When [`handle_timeout`](Self::handle_timeout) must next be called.
    fn poll_timeout(&self) -> Option<Instant>;

    /// The next event, if any.
    fn poll_event(&mut self) -> Option<Event>;

    /// Sets the topics to consume; joins, or rejoins if they changed. An
    /// empty set leaves the group.
    fn subscribe(&mut self, now: Instant, topics: BTreeSet<String>);

    /// Leaves the group: revokes the partitions (wait for
    /// [`Event::Left`]).
    fn leave(&mut self, now: Instant);

    /// Queues an offset commit for partitions this member owns.
    ///
    /// # Errors
    ///
    /// [`Error::NotAssigned`](crate::Error::NotAssigned) for a partition
    /// not owned (never assigned, revoked, or lost),
    /// [`Error::RebalanceInProgress`](crate::Error::RebalanceInProgress)
    /// outside a stable generation.
    fn commit(
        &mut self,
        now: Instant,
        offsets: BTreeMap<TopicPartition, OffsetAndMetadata>,
    ) -> Result<()>;

    /// Confirms an [`Event::Revoked`]: the partitions are released.
    fn ack_revoked(&mut self, now: Instant);

    /// Supplies topic metadata (after [`Event::MetadataNeeded`], or whenever
    /// it changes).
    fn update_metadata(&mut self, now: Instant, metadata: TopicPartitions);

    /// The partitions this member owns now.
    fn assignment(&self) -> &BTreeSet<TopicPartition>;

    /// Where the member stands.
    fn state(&self) -> MemberState;
}
