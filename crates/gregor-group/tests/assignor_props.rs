//! Properties of the assignors over random groups: every partition assigned
//! exactly once (to a subscribed member), balance, stickiness, and the
//! cooperative rule that no partition is handed to one member while
//! another still owns it.

use std::collections::{BTreeMap, BTreeSet};

use gregor_group::assignor::validate_assignment;
use gregor_group::{
    Assignor, CooperativeStickyAssignor, GroupAssignment, MemberSubscription, RangeAssignor,
    RoundRobinAssignor, StickyAssignor, TopicPartition, TopicPartitions,
};
use proptest::prelude::*;

const RACKS: [&str; 3] = ["a", "b", "c"];

#[derive(Debug, Clone)]
struct Group {
    metadata: TopicPartitions,
    members: Vec<MemberSubscription>,
}

fn topics() -> impl Strategy<Value = Vec<i32>> {
    prop::collection::vec(0..12i32, 1..5)
}

fn metadata(counts: &[i32], with_racks: bool) -> TopicPartitions {
    let mut m = TopicPartitions::new();
    for (i, n) in counts.iter().enumerate() {
        let t = format!("t{i}");
        m.insert_topic(t.clone(), *n);
        if with_racks {
            for p in 0..*n {
                m.set_partition_racks(&t, p, [RACKS[(p as usize + i) % 3]]);
            }
        }
    }
    m
}

/// A group where every member subscribes to every topic.
fn homogeneous() -> impl Strategy<Value = Group> {
    (topics(), 1..7usize, any::<bool>()).prop_map(|(counts, n, racks)| {
        let all: Vec<String> = (0..counts.len()).map(|i| format!("t{i}")).collect();
        let members = (0..n)
            .map(|i| {
                let m = MemberSubscription::new(format!("member-{i:02}"), all.clone());
                if racks { m.with_rack(RACKS[i % 3]) } else { m }
            })
            .collect();
        Group {
            metadata: metadata(&counts, racks),
            members,
        }
    })
}

/// A group with arbitrary subscriptions (each member at least one topic).
fn heterogeneous() -> impl Strategy<Value = Group> {
    (
        topics(),
        prop::collection::vec(any::<u8>(), 1..7),
        any::<bool>(),
    )
        .prop_map(|(counts, masks, racks)| {
            let n = counts.len();
            let members = masks
                .iter()
                .enumerate()
                .map(|(i, mask)| {
                    let mut subs: Vec<String> = (0..n)
                        .filter(|t| mask & (1 << t) != 0)
                        .map(|t| format!("t{t}"))
                        .collect();
                    if subs.is_empty() {
                        subs.push(format!("t{}", i % n));
                    }
                    let m = MemberSubscription::new(format!("member-{i:02}"), subs);
                    if racks { m.with_rack(RACKS[i % 3]) } else { m }
                })
                .collect();
            Group {
                metadata: metadata(&counts, racks),
                members,
            }
        })
}

fn subscribed_partitions(g: &Group) -> BTreeSet<TopicPartition> {
    let topics: BTreeSet<&String> = g.members.iter().flat_map(|m| m.topics.iter()).collect();
    topics
        .into_iter()
        .flat_map(|t| {
            (0..g.metadata.partition_count(t).unwrap_or(0) as i32)
                .map(move |p| TopicPartition::new(t.clone(), p))
        })
        .collect()
}

fn assigned_once(a: &GroupAssignment) -> BTreeSet<TopicPartition> {
    let mut seen = BTreeSet::new();
    for p in a.members.values().flat_map(|x| x.partitions.iter()) {
        assert!(seen.insert(p.clone()), "{p} assigned twice");
    }
    seen
}

fn counts(a: &GroupAssignment) -> Vec<usize> {
    a.members.values().map(|x| x.partitions.len()).collect()
}

fn spread(c: &[usize]) -> usize {
    c.iter().max().unwrap_or(&0) - c.iter().min().unwrap_or(&0)
}

/// Feeds an assignment back as the members' owned partitions.
fn with_owned(g: &Group, a: &GroupAssignment, generation: i32) -> Group {
    let members = g
        .members
        .iter()
        .map(|m| {
            m.clone()
                .with_owned(a.partitions(&m.member_id).to_vec(), Some(generation))
        })
        .collect();
    Group {
        metadata: g.metadata.clone(),
        members,
    }
}

fn check_complete(assignor: &dyn Assignor, g: &Group) -> GroupAssignment {
    let a = assignor.assign(&g.members, &g.metadata).unwrap();
    validate_assignment(assignor.name(), &g.members, &g.metadata, &a).unwrap();
    assert_eq!(
        assigned_once(&a),
        subscribed_partitions(g),
        "{}",
        assignor.name()
    );
    a
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn every_partition_exactly_once(g in heterogeneous()) {
        check_complete(&RangeAssignor::new(), &g);
        check_complete(&RoundRobinAssignor::new(), &g);
        check_complete(&StickyAssignor::new(), &g);
        check_complete(&CooperativeStickyAssignor::new(), &g);
    }

    #[test]
    fn roundrobin_and_sticky_balance_identical_subscriptions(g in homogeneous()) {
        for assignor in [
            &RoundRobinAssignor::new() as &dyn Assignor,
            &StickyAssignor::new(),
            &CooperativeStickyAssignor::new(),
        ] {
            let a = check_complete(assignor, &g);
            prop_assert!(spread(&counts(&a)) <= 1, "{}: {:?}", assignor.name(), counts(&a));
        }
    }

    #[test]
    fn range_gives_contiguous_balanced_ranges_per_topic(g in heterogeneous()) {
        let a = check_complete(&RangeAssignor::new(), &g);
        for topic in g.metadata.topics() {
            let mut per_member = Vec::new();
            for m in g.members.iter().filter(|m| m.topics.contains(topic)) {
                let mine: Vec<i32> = a
                    .partitions(&m.member_id)
                    .iter()
                    .filter(|p| p.topic == topic)
                    .map(|p| p.partition)
                    .collect();
                // Rack-aware placement trades contiguity for locality.
                if let (Some(first), Some(last), false) =
                    (mine.first(), mine.last(), g.metadata.has_racks())
                {
                    prop_assert_eq!((last - first + 1) as usize, mine.len());
                }
                per_member.push(mine.len());
            }
            prop_assert!(spread(&per_member) <= 1);
        }
    }

    /// No partition can move from a member to an eligible one with at least
    /// two fewer partitions.
    #[test]
    fn sticky_is_locally_balanced_for_any_subscriptions(g in heterogeneous()) {
        let a = check_complete(&StickyAssignor::new(), &g);
        let count = |id: &str| a.partitions(id).len();
        for from in &g.members {
            for p in a.partitions(&from.member_id) {
                for to in g.members.iter().filter(|m| m.topics.contains(&p.topic)) {
                    prop_assert!(
                        count(&from.member_id) <= count(&to.member_id) + 1,
                        "{p} could move from {} to {}", from.member_id, to.member_id
                    );
                }
            }
        }
    }

    /// Re-running the sticky assignors on their own output changes nothing.
    #[test]
    fn sticky_is_stable(g in heterogeneous()) {
        for assignor in [&StickyAssignor::new() as &dyn Assignor, &CooperativeStickyAssignor::new()] {
            let first = check_complete(assignor, &g);
            let again = check_complete(assignor, &with_owned(&g, &first, 1));
            prop_assert_eq!(&first, &again, "{}", assignor.name());
        }
    }

    /// After a member joins or leaves, every remaining member keeps as many
    /// of its partitions as its new share allows.
    #[test]
    fn sticky_keeps_owned_partitions_where_possible(g in homogeneous(), add in any::<bool>()) {
        let sticky = StickyAssignor::new();
        let first = check_complete(&sticky, &g);
        let mut next = with_owned(&g, &first, 1);
        if add {
            let topics = next.members[0].topics.clone();
            next.members.push(MemberSubscription::new("member-99", topics));
        } else if next.members.len() > 1 {
            next.members.remove(0);
        }
        let second = check_complete(&sticky, &next);
        let share = subscribed_partitions(&next).len() / next.members.len();
        for m in &next.members {
            let before: BTreeSet<_> = first.partitions(&m.member_id).iter().collect();
            let kept = second.partitions(&m.member_id).iter().filter(|p| before.contains(p)).count();
            prop_assert!(kept >= before.len().min(share), "{} kept {kept} of {}", m.member_id, before.len());
        }
    }

    /// Identical subscriptions, two cooperative rounds: the first never
    /// hands a member a partition another still owns; once the old owners
    /// let go, the second assigns everything.
    #[test]
    fn cooperative_two_phase(g in homogeneous(), add in any::<bool>()) {
        let coop = CooperativeStickyAssignor::new();
        let first = check_complete(&coop, &g);
        let next = change_membership(with_owned(&g, &first, 1), add);
        let phase1 = cooperative_round(&next);
        let phase2 = check_complete(&coop, &with_owned(&next, &phase1, 2));
        for (member, a) in &phase1.members {
            for p in &a.partitions {
                prop_assert!(phase2.partitions(member).contains(p), "{member} lost {p}");
            }
        }
    }

    /// Any subscriptions: every cooperative round is safe, and the rounds
    /// converge to a complete assignment (usually in two; chains of moves
    /// between differently subscribed members can take a few more).
    #[test]
    fn cooperative_rounds_converge(g in heterogeneous(), add in any::<bool>()) {
        let coop = CooperativeStickyAssignor::new();
        let first = check_complete(&coop, &g);
        let mut group = change_membership(with_owned(&g, &first, 1), add);
        let all = subscribed_partitions(&group);
        for round in 2..8 {
            let a = cooperative_round(&group);
            if assigned_once(&a) == all {
                return Ok(());
            }
            group = with_owned(&group, &a, round);
        }
        prop_assert!(false, "no complete assignment after six rounds");
    }
}

fn change_membership(mut g: Group, add: bool) -> Group {
    if add {
        let topics = g.members[0].topics.clone();
        g.members.push(MemberSubscription::new("member-99", topics));
    } else if g.members.len() > 1 {
        g.members.remove(0);
    }
    g
}

/// One cooperative rebalance, checking that nothing goes to one member
/// while another owns it.
fn cooperative_round(g: &Group) -> GroupAssignment {
    let a = CooperativeStickyAssignor::new()
        .assign(&g.members, &g.metadata)
        .unwrap();
    validate_assignment("cooperative-sticky", &g.members, &g.metadata, &a).unwrap();
    let owners: BTreeMap<&TopicPartition, &str> = g
        .members
        .iter()
        .flat_map(|m| {
            m.owned_partitions
                .iter()
                .map(move |p| (p, m.member_id.as_str()))
        })
        .collect();
    for (member, x) in &a.members {
        for p in &x.partitions {
            if let Some(owner) = owners.get(p) {
                assert_eq!(*owner, member.as_str(), "{p} handed over while owned");
            }
        }
    }
    a
}
