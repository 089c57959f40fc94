//! Partition assignors: the leader's algorithm for dividing the group's
//! partitions among its members.
//!
//! Four are built in, with the protocol names every Kafka client uses, so a
//! Gregor member can lead a group of Java or librdkafka members and follow
//! theirs:
//!
//! | name                 | type                          | protocol          |
//! |----------------------|-------------------------------|-------------------|
//! | `range`              | [`RangeAssignor`]             | eager             |
//! | `roundrobin`         | [`RoundRobinAssignor`]        | eager             |
//! | `sticky`             | [`StickyAssignor`]            | eager             |
//! | `cooperative-sticky` | [`CooperativeStickyAssignor`] | cooperative, eager|
//!
//! Implement [`Assignor`] for a custom strategy.

mod cooperative;
mod range;
mod roundrobin;
mod sticky;

use std::cmp::Ordering;
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use bytes::Bytes;

pub use cooperative::{CooperativeStickyAssignor, remove_partitions_still_owned};
pub use range::RangeAssignor;
pub use roundrobin::RoundRobinAssignor;
pub use sticky::{StickyAssignor, StickyUserData};

use crate::error::Result;
use crate::subscription::Assignment;
use crate::types::{TopicPartition, TopicPartitions};

/// How a group moves partitions between members (KIP-429).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum RebalanceProtocol {
    /// Every member gives up all its partitions before rejoining; the new
    /// assignment is handed out whole. Simple, but the group stops
    /// consuming during every rebalance.
    Eager,
    /// Members keep their partitions through a rebalance and give up only
    /// those that move; a moved partition is assigned in a second rebalance,
    /// once its old owner has let it go.
    Cooperative,
}

/// One member's subscription as the leader's assignor sees it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct MemberSubscription {
    /// The member id the coordinator gave it.
    pub member_id: String,
    /// Its static instance id (KIP-345), if any.
    pub group_instance_id: Option<String>,
    /// The topics it subscribes to.
    pub topics: BTreeSet<String>,
    /// The partitions it owns now (cooperative members report them).
    pub owned_partitions: Vec<TopicPartition>,
    /// The generation `owned_partitions` come from, if known.
    pub generation: Option<i32>,
    /// Its rack, if configured.
    pub rack: Option<String>,
    /// Assignor-specific bytes from its subscription.
    pub user_data: Option<Bytes>,
}

impl MemberSubscription {
    /// A member subscribing to `topics`, with nothing else set.
    pub fn new<I, S>(member_id: impl Into<String>, topics: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        Self {
            member_id: member_id.into(),
            topics: topics.into_iter().map(Into::into).collect(),
            ..Self::default()
        }
    }

    /// Sets the static instance id.
    pub fn with_group_instance_id(mut self, id: impl Into<String>) -> Self {
        self.group_instance_id = Some(id.into());
        self
    }

    /// Sets the owned partitions and their generation.
    pub fn with_owned(mut self, owned: Vec<TopicPartition>, generation: Option<i32>) -> Self {
        self.owned_partitions = owned;
        self.generation = generation;
        self
    }

    /// Sets the rack.
    pub fn with_rack(mut self, rack: impl Into<String>) -> Self {
        self.rack = Some(rack.into());
        self
    }

    /// Sets the user data.
    pub fn with_user_data(mut self, user_data: Option<Bytes>) -> Self {
        self.user_data = user_data;
        self
    }
}

/// The leader's result: one [`Assignment`] per member id.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct GroupAssignment {
    /// Member id to its assignment; every member of the group has an entry.
    pub members: BTreeMap<String, Assignment>,
}

impl GroupAssignment {
    /// An assignment with an empty entry for every member.
    pub fn empty_for(members: &[MemberSubscription]) -> Self {
        Self {
            members: members
                .iter()
                .map(|m| (m.member_id.clone(), Assignment::default()))
                .collect(),
        }
    }

    /// The partitions of one member (empty if it has none or is unknown).
    pub fn partitions(&self, member_id: &str) -> &[TopicPartition] {
        self.members
            .get(member_id)
            .map(|a| a.partitions.as_slice())
            .unwrap_or_default()
    }

    /// Adds a partition to a member's assignment.
    pub(crate) fn push(&mut self, member_id: &str, tp: TopicPartition) {
        self.members
            .entry(member_id.to_owned())
            .or_default()
            .partitions
            .push(tp);
    }

    /// Sorts every member's partitions.
    pub(crate) fn normalize(mut self) -> Self {
        for a in self.members.values_mut() {
            a.partitions.sort();
            a.partitions.dedup();
        }
        self
    }

    /// The member each partition is assigned to.
    pub fn owners(&self) -> BTreeMap<&TopicPartition, &str> {
        self.members
            .iter()
            .flat_map(|(m, a)| a.partitions.iter().map(move |tp| (tp, m.as_str())))
            .collect()
    }
}

/// What an assignor may put in this member's subscription user data.
#[derive(Debug, Clone, Copy)]
pub struct UserDataContext<'a> {
    /// The topics being subscribed.
    pub topics: &'a BTreeSet<String>,
    /// The member's last assignment (kept even after an eager revocation).
    pub last_assignment: &'a [TopicPartition],
    /// The generation of that assignment (`-1`: none).
    pub generation: i32,
}

/// A partition assignment strategy.
///
/// Assignors are stateless: what they need to remember between rebalances
/// travels in the members' subscriptions (owned partitions, generation,
/// [`user_data`](Assignor::user_data)), so any member can lead.
pub trait Assignor: fmt::Debug + Send + Sync {
    /// The protocol name members advertise in JoinGroup, e.g. `"range"`.
    fn name(&self) -> &str;

    /// The rebalance protocols this assignor supports, preferred first.
    fn supported_protocols(&self) -> &[RebalanceProtocol] {
        &[RebalanceProtocol::Eager]
    }

    /// Bytes this member adds to its subscription for this assignor.
    fn user_data(&self, _ctx: &UserDataContext<'_>) -> Option<Bytes> {
        None
    }

    /// Divides `metadata`'s partitions of the subscribed topics among
    /// `members`. Every member must get an entry (possibly empty), every
    /// partition at most one member, and only members subscribed to its
    /// topic.
    ///
    /// # Errors
    ///
    /// [`Error::Assignor`](crate::Error::Assignor) if it cannot.
    fn assign(
        &self,
        members: &[MemberSubscription],
        metadata: &TopicPartitions,
    ) -> Result<GroupAssignment>;
}

/// The order Java's `MemberInfo` sorts members in: static members first, by
/// instance id; then dynamic members by member id. Range and round robin
/// use it, which keeps static members' partitions stable across restarts.
pub(crate) fn member_order(a: &MemberSubscription, b: &MemberSubscription) -> Ordering {
    match (&a.group_instance_id, &b.group_instance_id) {
        (Some(x), Some(y)) => x.cmp(y).then_with(|| a.member_id.cmp(&b.member_id)),
        (Some(_), None) => Ordering::Less,
        (None, Some(_)) => Ordering::Greater,
        (None, None) => a.member_id.cmp(&b.member_id),
    }
}

/// Members sorted by [`member_order`].
pub(crate) fn sorted_members(members: &[MemberSubscription]) -> Vec<&MemberSubscription> {
    let mut sorted: Vec<&MemberSubscription> = members.iter().collect();
    sorted.sort_by(|a, b| member_order(a, b));
    sorted
}

/// Every existing partition of every topic some member subscribes to,
/// sorted.
pub(crate) fn all_subscribed_partitions(
    members: &[MemberSubscription],
    metadata: &TopicPartitions,
) -> Vec<TopicPartition> {
    let topics: BTreeSet<&String> = members.iter().flat_map(|m| m.topics.iter()).collect();
    topics
        .into_iter()
        .flat_map(|t| metadata.topic_partitions(t))
        .collect()
}

/// Whether the rack of `member` holds a replica of `tp`.
pub(crate) fn rack_matches(
    member: Option<&str>,
    tp: &TopicPartition,
    metadata: &TopicPartitions,
) -> bool {
    match member {
        Some(rack) => metadata
            .racks_of(tp)
            .is_some_and(|racks| racks.contains(rack)),
        None => false,
    }
}

/// Whether rack-aware placement can change anything for these partitions:
/// some member has a rack, and some partition lacks a replica on one of the
/// members' racks (KIP-881's rule for turning rack awareness on).
pub(crate) fn rack_aware_applies<'a>(
    members: impl IntoIterator<Item = &'a MemberSubscription>,
    partitions: &[TopicPartition],
    metadata: &TopicPartitions,
) -> bool {
    let racks: BTreeSet<&str> = members
        .into_iter()
        .filter_map(|m| m.rack.as_deref())
        .collect();
    if racks.is_empty() {
        return false;
    }
    partitions.iter().any(|tp| {
        metadata
            .racks_of(tp)
            .is_some_and(|pr| !pr.is_empty() && racks.iter().any(|r| !pr.contains(*r)))
    })
}

/// Checks an assignor's output: every member present, no partition twice,
/// only existing partitions of topics the member subscribes to.
///
/// # Errors
///
/// [`Error::Assignor`](crate::Error::Assignor) naming the first violation.
pub fn validate_assignment(
    assignor: &str,
    members: &[MemberSubscription],
    metadata: &TopicPartitions,
    assignment: &GroupAssignment,
) -> Result<()> {
    use crate::error::Error;
    let by_id: BTreeMap<&str, &MemberSubscription> =
        members.iter().map(|m| (m.member_id.as_str(), m)).collect();
    let mut seen: BTreeSet<&TopicPartition> = BTreeSet::new();
    for (member, a) in &assignment.members {
        let Some(sub) = by_id.get(member.as_str()) else {
            return Err(Error::assignor(
                assignor,
                format!("unknown member {member}"),
            ));
        };
        for tp in &a.partitions {
            if !seen.insert(tp) {
                return Err(Error::assignor(assignor, format!("{tp} assigned twice")));
            }
            if !metadata.contains(tp) {
                return Err(Error::assignor(assignor, format!("{tp} does not exist")));
            }
            if !sub.topics.contains(&tp.topic) {
                return Err(Error::assignor(
                    assignor,
                    format!("{tp} assigned to {member}, which does not subscribe to it"),
                ));
            }
        }
    }
    for m in members {
        if !assignment.members.contains_key(&m.member_id) {
            return Err(Error::assignor(
                assignor,
                format!("member {} has no assignment", m.member_id),
            ));
        }
    }
    Ok(())
}
