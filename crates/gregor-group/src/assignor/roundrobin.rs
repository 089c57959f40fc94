//! The `roundrobin` assignor.

use super::{
    Assignor, GroupAssignment, MemberSubscription, all_subscribed_partitions, sorted_members,
};
use crate::error::Result;
use crate::types::TopicPartitions;

/// Java's `RoundRobinAssignor`, protocol name `roundrobin`.
///
/// Lays out every partition of every subscribed topic, sorted by topic then
/// partition, and deals them out over the members (static first by
/// instance id, then by member id) in a circle, skipping members that do
/// not subscribe to the partition's topic.
///
/// With identical subscriptions the counts differ by at most one. With two
/// members `c0`, `c1` and topics `t0`, `t1` of three partitions: `c0` gets
/// `t0-0, t0-2, t1-1` and `c1` gets `t0-1, t1-0, t1-2`. Not rack-aware
/// (neither is Java's).
#[derive(Debug, Clone, Copy, Default)]
pub struct RoundRobinAssignor;

impl RoundRobinAssignor {
    /// The assignor.
    pub fn new() -> Self {
        Self
    }
}

impl Assignor for RoundRobinAssignor {
    fn name(&self) -> &str {
        "roundrobin"
    }

    fn assign(
        &self,
        members: &[MemberSubscription],
        metadata: &TopicPartitions,
    ) -> Result<GroupAssignment> {
        let mut out = GroupAssignment::empty_for(members);
        let sorted = sorted_members(members);
        if sorted.is_empty() {
            return Ok(out);
        }
        let mut next = 0usize;
        for tp in all_subscribed_partitions(members, metadata) {
            // Some member subscribes to every listed topic, so this finds
            // one within a full turn.
            for step in 0..sorted.len() {
                let i = (next + step) % sorted.len();
                if let Some(m) = sorted.get(i).filter(|m| m.topics.contains(&tp.topic)) {
                    out.push(&m.member_id, tp);
                    next = i + 1;
                    break;
                }
            }
        }
        Ok(out.normalize())
    }
}
