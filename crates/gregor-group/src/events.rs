//! What the state machine tells its owner.

use std::collections::{BTreeMap, BTreeSet};

use crate::error::Error;
use crate::offsets::OffsetAndMetadata;
use crate::types::TopicPartition;

/// An event from [`poll_event`](crate::GroupMember::poll_event).
///
/// Partition ownership changes only through these events, in order:
/// [`Assigned`](Event::Assigned) adds, [`Revoked`](Event::Revoked) and
/// [`Lost`](Event::Lost) remove. A driver that applies them in order never
/// consumes a partition another member of the group also owns (in
/// cooperative mode that holds across the whole group).
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    /// Partitions newly assigned to this member in `generation`: the whole
    /// assignment in eager mode, only the additions in cooperative mode
    /// (possibly none: the event still marks the end of the rebalance).
    /// Their committed offsets follow in
    /// [`OffsetsFetched`](Event::OffsetsFetched).
    Assigned {
        /// The partitions added.
        partitions: BTreeSet<TopicPartition>,
        /// The generation they belong to.
        generation: i32,
    },

    /// Partitions this member must give up, while its generation is still
    /// valid: stop consuming them, commit their offsets if you want to,
    /// then call [`ack_revoked`](crate::GroupMember::ack_revoked). The
    /// machine waits for that call (and for commits in flight) before it
    /// rejoins or leaves. In eager mode it is every partition, before each
    /// rejoin; in cooperative mode only those that move or whose topic was
    /// unsubscribed.
    Revoked {
        /// The partitions to give up.
        partitions: BTreeSet<TopicPartition>,
    },

    /// Partitions this member no longer owns and that may already belong to
    /// another member: the session expired, or the coordinator no longer
    /// knows this member or its generation. Stop consuming them and do not
    /// commit them (the machine refuses to).
    Lost {
        /// The partitions lost.
        partitions: BTreeSet<TopicPartition>,
    },

    /// Committed offsets of newly assigned partitions; `None` means nothing
    /// was committed, so the consumer's reset policy applies.
    OffsetsFetched {
        /// One entry per partition that is still assigned.
        offsets: BTreeMap<TopicPartition, Option<OffsetAndMetadata>>,
    },

    /// Offsets the coordinator accepted.
    Committed {
        /// The offsets committed.
        offsets: BTreeMap<TopicPartition, OffsetAndMetadata>,
    },

    /// Offsets that were not committed.
    CommitFailed {
        /// The offsets not committed.
        offsets: BTreeMap<TopicPartition, OffsetAndMetadata>,
        /// Why (see [`Error::is_retriable`]).
        error: Error,
    },

    /// This member leads the group and needs metadata for these topics (the
    /// union of every member's subscription) to compute the assignment.
    /// Answer with [`update_metadata`](crate::GroupMember::update_metadata);
    /// topics left out are taken not to exist.
    MetadataNeeded {
        /// The topics.
        topics: BTreeSet<String>,
    },

    /// The member left the group after [`leave`](crate::GroupMember::leave).
    Left,

    /// Something went wrong that the machine recovers from by itself (it
    /// retries or rejoins); reported for logging and metrics.
    Error(Error),

    /// Something went wrong that the machine cannot recover from (fenced
    /// static member, authorization failure, invalid configuration on the
    /// broker). It sends nothing more; its partitions have been reported
    /// lost.
    Fatal(Error),
}
