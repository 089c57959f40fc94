//! The `cooperative-sticky` assignor and the cooperative adjustment.

use std::collections::{BTreeMap, BTreeSet};

use bytes::Bytes;
use gregor_protocol::{Reader, Writer};

use super::sticky::{Claim, sticky_assign};
use super::{Assignor, GroupAssignment, MemberSubscription, RebalanceProtocol, UserDataContext};
use crate::error::Result;
use crate::types::{TopicPartition, TopicPartitions};

/// Java's `CooperativeStickyAssignor`, protocol name `cooperative-sticky`:
/// the sticky assignment, made safe for incremental rebalancing (KIP-429).
///
/// Members keep their partitions while the group rebalances and report
/// them in their subscriptions. The leader computes the sticky target,
/// then holds back every partition that would move from one member to
/// another ([`remove_partitions_still_owned`]): in this first rebalance the
/// old owner is only told to give it up; it revokes it and rejoins at once,
/// and the second rebalance, with the partition now unowned, hands it to
/// its new owner. So no partition is ever owned by two members. When every
/// member subscribes to the same topics, two rebalances always suffice;
/// with different subscriptions, balancing can move a partition along a
/// chain of members and take a round or two more.
///
/// The generation travels in the subscription (version 2+) and, for older
/// subscription versions, in the user data as one big-endian `i32`, as
/// Java writes it.
#[derive(Debug, Clone, Copy, Default)]
pub struct CooperativeStickyAssignor;

impl CooperativeStickyAssignor {
    /// The assignor.
    pub fn new() -> Self {
        Self
    }
}

impl Assignor for CooperativeStickyAssignor {
    fn name(&self) -> &str {
        "cooperative-sticky"
    }

    fn supported_protocols(&self) -> &[RebalanceProtocol] {
        &[RebalanceProtocol::Cooperative, RebalanceProtocol::Eager]
    }

    fn user_data(&self, ctx: &UserDataContext<'_>) -> Option<Bytes> {
        let mut w = Writer::with_capacity(4);
        w.i32(ctx.generation);
        Some(w.freeze())
    }

    fn assign(
        &self,
        members: &[MemberSubscription],
        metadata: &TopicPartitions,
    ) -> Result<GroupAssignment> {
        let claims: Vec<Claim> = members
            .iter()
            .map(|m| Claim {
                owned: m.owned_partitions.clone(),
                generation: m.generation.or_else(|| {
                    m.user_data.clone().and_then(|b| {
                        let mut r = Reader::new(b);
                        r.i32("generation").ok().filter(|g| *g >= 0)
                    })
                }),
            })
            .collect();
        let mut assignment = sticky_assign(self.name(), members, &claims, metadata)?;
        remove_partitions_still_owned(members, &mut assignment);
        Ok(assignment)
    }
}

/// The cooperative rule: a partition assigned to one member while another
/// member still reports owning it is taken out of the assignment for this
/// rebalance. Its owner revokes it (it is not in the owner's new
/// assignment) and rejoins; the next rebalance assigns it.
///
/// Returns the partitions held back. The group member applies this to
/// every assignment it computes as a cooperative leader, whatever the
/// assignor, so a custom assignor cannot break the rule.
pub fn remove_partitions_still_owned(
    members: &[MemberSubscription],
    assignment: &mut GroupAssignment,
) -> BTreeSet<TopicPartition> {
    let mut owners: BTreeMap<&TopicPartition, BTreeSet<&str>> = BTreeMap::new();
    for m in members {
        for tp in &m.owned_partitions {
            owners.entry(tp).or_default().insert(m.member_id.as_str());
        }
    }
    let mut held_back = BTreeSet::new();
    for (member, a) in assignment.members.iter_mut() {
        a.partitions.retain(|tp| {
            let moving = owners
                .get(tp)
                .is_some_and(|o| !o.contains(member.as_str()) && !o.is_empty());
            if moving {
                held_back.insert(tp.clone());
            }
            !moving
        });
    }
    held_back
}
