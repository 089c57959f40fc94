//! Cooperative (incremental) rebalancing, KIP-429: partitions that move are
//! first only revoked, then assigned in a second rebalance, so no partition
//! is ever owned by two members. The harness's checker fails the test on
//! the first event that would make two members own a partition.

mod support;

use std::collections::BTreeSet;
use std::time::Duration;

use gregor_group::{
    CooperativeStickyAssignor, Event, RebalanceProtocol, Request, StickyAssignor, Subscription,
    TopicPartition, TopicPartitions,
};
use gregor_protocol::ApiKey;
use support::{Harness, assigned, count, lost, revoked, with_assignor};

fn cooperative() -> gregor_group::GroupConfig {
    with_assignor(CooperativeStickyAssignor::new())
        .build()
        .unwrap()
}

#[test]
fn a_new_member_gets_partitions_in_two_phases() {
    let mut h = Harness::new(TopicPartitions::new().with_topic("t", 4));
    let a = h.add(cooperative(), &["t"]);
    assert_eq!(
        h.member(a).rebalance_protocol(),
        RebalanceProtocol::Cooperative
    );
    h.run_until_stable(Duration::from_secs(30));
    let all = h.partitions_of(&["t"]);
    assert_eq!(h.member(a).assignment(), &all);
    h.take_events(a);
    let rebalances = h.coordinator.rebalances;

    let b = h.add(cooperative(), &["t"]);
    h.run_until_stable(Duration::from_secs(60));

    let a_events = h.take_events(a);
    let b_events = h.take_events(b);
    // a gives up exactly the two partitions that move, never the rest.
    let moved = revoked(&a_events);
    assert_eq!(moved.len(), 2);
    assert!(lost(&a_events).is_empty());
    assert_eq!(h.member(a).assignment().len(), 2);
    assert!(h.member(a).assignment().is_disjoint(&moved));
    // b gets nothing in the first rebalance, the moved partitions in the
    // second.
    let b_assigned: Vec<(BTreeSet<TopicPartition>, i32)> = b_events
        .iter()
        .filter_map(|e| match e {
            Event::Assigned {
                partitions,
                generation,
            } => Some((partitions.clone(), *generation)),
            _ => None,
        })
        .collect();
    assert_eq!(b_assigned.len(), 2, "{b_events:?}");
    assert!(b_assigned[0].0.is_empty());
    assert_eq!(b_assigned[1].0, moved);
    assert_eq!(b_assigned[1].1, b_assigned[0].1 + 1);
    assert_eq!(h.coordinator.rebalances, rebalances + 2);
    h.assert_covers(&all);

    // a's second JoinGroup reported only the partitions it kept.
    let last_join = h
        .take_sent(a)
        .into_iter()
        .filter_map(|r| match r {
            Request::JoinGroup(j) => Some(j),
            _ => None,
        })
        .last()
        .expect("a rejoined");
    let (sub, version) = Subscription::decode(last_join.protocols[0].metadata.clone()).unwrap();
    assert_eq!(version, 3);
    let owned: BTreeSet<TopicPartition> = sub.owned_partitions.into_iter().collect();
    assert_eq!(&owned, h.member(a).assignment());
    assert!(sub.generation.is_some());
}

#[test]
fn members_joining_and_leaving_never_share_a_partition() {
    let mut h = Harness::new(TopicPartitions::new().with_topic("a", 7).with_topic("b", 5));
    let topics = ["a", "b"];
    let all = h.partitions_of(&topics);
    let mut members = vec![h.add(cooperative(), &topics)];
    h.run_until_stable(Duration::from_secs(30));
    for _ in 0..3 {
        members.push(h.add(cooperative(), &topics));
        h.run_until_stable(Duration::from_secs(120));
        h.assert_covers(&all);
    }
    let counts: Vec<usize> = members
        .iter()
        .map(|&m| h.member(m).assignment().len())
        .collect();
    assert_eq!(counts.iter().sum::<usize>(), 12);
    assert!(
        counts.iter().max().unwrap() - counts.iter().min().unwrap() <= 1,
        "{counts:?}"
    );

    // Nobody loses anything in a cooperative rebalance.
    for &m in &members {
        assert!(lost(&h.client(m).events).is_empty());
    }

    // One leaves; the others pick its partitions up.
    let now = h.now;
    h.member_mut(members[1]).leave(now);
    h.run_until_stable(Duration::from_secs(120));
    h.assert_covers(&all);
    let stay: Vec<usize> = members
        .iter()
        .copied()
        .filter(|&m| m != members[1])
        .collect();
    let counts: Vec<usize> = stay
        .iter()
        .map(|&m| h.member(m).assignment().len())
        .collect();
    assert_eq!(counts.iter().sum::<usize>(), 12);
    assert!(
        counts.iter().max().unwrap() - counts.iter().min().unwrap() <= 1,
        "{counts:?}"
    );
}

#[test]
fn cooperative_subscription_change_revokes_only_the_dropped_topic() {
    let mut h = Harness::new(TopicPartitions::new().with_topic("x", 2).with_topic("y", 2));
    let a = h.add(cooperative(), &["x", "y"]);
    h.run_until_stable(Duration::from_secs(30));
    h.take_events(a);
    let now = h.now;
    h.member_mut(a).subscribe(now, ["x"]);
    h.run_until_stable(Duration::from_secs(30));
    let events = h.take_events(a);
    assert_eq!(revoked(&events), h.partitions_of(&["y"]));
    assert_eq!(h.member(a).assignment(), &h.partitions_of(&["x"]));
    // The kept partitions were not re-announced.
    assert!(assigned(&events).is_empty());
}

#[test]
fn eager_sticky_revokes_everything_but_keeps_partitions_in_place() {
    let mut h = Harness::new(TopicPartitions::new().with_topic("t", 6));
    let a = h.add(
        with_assignor(StickyAssignor::new()).build().unwrap(),
        &["t"],
    );
    let b = h.add(
        with_assignor(StickyAssignor::new()).build().unwrap(),
        &["t"],
    );
    h.run_until_stable(Duration::from_secs(60));
    let a_before = h.member(a).assignment().clone();
    let b_before = h.member(b).assignment().clone();
    h.take_events(a);
    let c = h.add(
        with_assignor(StickyAssignor::new()).build().unwrap(),
        &["t"],
    );
    h.run_until_stable(Duration::from_secs(60));
    // Eager: a revoked all it had before the rejoin...
    assert_eq!(revoked(&h.take_events(a)), a_before);
    // ...but the sticky user data kept two of its three in place.
    assert_eq!(h.member(a).assignment().intersection(&a_before).count(), 2);
    assert_eq!(h.member(b).assignment().intersection(&b_before).count(), 2);
    assert_eq!(h.member(c).assignment().len(), 2);
    h.assert_covers(&h.partitions_of(&["t"]));
}

#[test]
fn cooperative_members_keep_consuming_during_the_rebalance() {
    let mut h = Harness::new(TopicPartitions::new().with_topic("t", 4));
    let a = h.add(cooperative(), &["t"]);
    h.run_until_stable(Duration::from_secs(30));
    h.take_sent(a);
    let _b = h.add(cooperative(), &["t"]);
    h.run_until_stable(Duration::from_secs(60));
    // a never had to stop: it committed nothing, but it was never without
    // partitions, and it heartbeat throughout.
    let sent = h.take_sent(a);
    assert!(count(&sent, ApiKey::JoinGroup) >= 2);
    assert!(!h.member(a).assignment().is_empty());
}
