//! The `range` assignor.

use std::collections::BTreeMap;

use super::{
    Assignor, GroupAssignment, MemberSubscription, member_order, rack_aware_applies, rack_matches,
};
use crate::error::Result;
use crate::types::{TopicPartition, TopicPartitions};

/// Java's `RangeAssignor`, protocol name `range`.
///
/// Works topic by topic: the topic's partitions in index order are cut into
/// one contiguous range per subscribed member, members sorted static first
/// by instance id, then by member id; when the count does not divide evenly
/// the first members get one partition more.
///
/// With two members `c0`, `c1` and topics `t0`, `t1` of three partitions:
/// `c0` gets `t0-0, t0-1, t1-0, t1-1` and `c1` gets `t0-2, t1-2`.
///
/// Rack awareness (KIP-881), kept simple: when members have racks and some
/// partition of a topic has no replica on some member's rack, each member
/// keeps the partition count range would give it, but partitions are first
/// handed to members on a rack holding a replica (in partition order,
/// members in the order above), and only the rest by position. Java's
/// version also keeps co-partitioned topics aligned; this one does not, so
/// its rack-aware output can differ from Java's. When racks cannot matter
/// the output is exactly Java's.
#[derive(Debug, Clone, Copy, Default)]
pub struct RangeAssignor;

impl RangeAssignor {
    /// The assignor.
    pub fn new() -> Self {
        Self
    }
}

impl Assignor for RangeAssignor {
    fn name(&self) -> &str {
        "range"
    }

    fn assign(
        &self,
        members: &[MemberSubscription],
        metadata: &TopicPartitions,
    ) -> Result<GroupAssignment> {
        let mut out = GroupAssignment::empty_for(members);
        let mut per_topic: BTreeMap<&str, Vec<&MemberSubscription>> = BTreeMap::new();
        for m in members {
            for t in &m.topics {
                per_topic.entry(t.as_str()).or_default().push(m);
            }
        }
        for (topic, mut consumers) in per_topic {
            let partitions = metadata.topic_partitions(topic);
            if partitions.is_empty() || consumers.is_empty() {
                continue;
            }
            consumers.sort_by(|a, b| member_order(a, b));
            let n = consumers.len();
            let per = partitions.len() / n;
            let extra = partitions.len() % n;
            let quotas: Vec<usize> = (0..n).map(|i| per + usize::from(i < extra)).collect();

            if rack_aware_applies(consumers.iter().copied(), &partitions, metadata) {
                assign_rack_aware(&mut out, &consumers, quotas, partitions, metadata);
            } else {
                let mut rest = partitions.into_iter();
                for (c, quota) in consumers.iter().zip(quotas) {
                    for tp in rest.by_ref().take(quota) {
                        out.push(&c.member_id, tp);
                    }
                }
            }
        }
        Ok(out.normalize())
    }
}

/// Same-rack first within each member's range quota, then the remainder by
/// position.
fn assign_rack_aware(
    out: &mut GroupAssignment,
    consumers: &[&MemberSubscription],
    mut quotas: Vec<usize>,
    partitions: Vec<TopicPartition>,
    metadata: &TopicPartitions,
) {
    let mut left = Vec::new();
    for tp in partitions {
        let pick = consumers
            .iter()
            .zip(quotas.iter_mut())
            .find(|(c, q)| **q > 0 && rack_matches(c.rack.as_deref(), &tp, metadata));
        match pick {
            Some((c, q)) => {
                *q -= 1;
                out.push(&c.member_id, tp);
            }
            None => left.push(tp),
        }
    }
    let mut left = left.into_iter();
    for (c, q) in consumers.iter().zip(quotas) {
        for tp in left.by_ref().take(q) {
            out.push(&c.member_id, tp);
        }
    }
}
