//! Joining a group: one member, several members, KIP-394 member ids,
//! leader metadata, heartbeats, subscription changes and leaving.

mod support;

use std::time::Duration;

use gregor_group::{
    Event, GroupMember, MemberState, RangeAssignor, Request, RoundRobinAssignor, TopicPartitions,
};
use gregor_protocol::ApiKey;
use support::{Harness, assigned, config, count, revoked, tp, tps, with_assignor};

fn metadata() -> TopicPartitions {
    TopicPartitions::new()
        .with_topic("orders", 3)
        .with_topic("payments", 6)
}

#[test]
fn single_member_join_is_assigned_every_partition() {
    let mut h = Harness::new(metadata());
    let a = h.add(config().build().unwrap(), &["orders"]);
    h.run_until_stable(Duration::from_secs(30));

    let events = h.take_events(a);
    let first_assigned = events
        .iter()
        .find_map(|e| match e {
            Event::Assigned {
                partitions,
                generation,
            } => Some((partitions.clone(), *generation)),
            _ => None,
        })
        .expect("assigned");
    assert_eq!(
        first_assigned,
        (tps(&[("orders", 0), ("orders", 1), ("orders", 2)]), 1)
    );
    assert!(h.member(a).is_leader());
    assert_eq!(h.member(a).state(), MemberState::Stable);
    assert_eq!(h.member(a).generation().generation_id, 1);

    // The committed offsets of the new partitions follow: none yet.
    let fetched = events
        .iter()
        .find_map(|e| match e {
            Event::OffsetsFetched { offsets } => Some(offsets.clone()),
            _ => None,
        })
        .expect("offsets fetched");
    assert_eq!(fetched.len(), 3);
    assert!(fetched.values().all(Option::is_none));
    assert!(revoked(&events).is_empty());
}

#[test]
fn member_id_required_rejoins_with_the_given_id() {
    let mut h = Harness::new(metadata());
    let a = h.add(config().build().unwrap(), &["orders"]);
    h.run_until_stable(Duration::from_secs(30));

    let joins: Vec<_> = h
        .take_sent(a)
        .into_iter()
        .filter_map(|r| match r {
            Request::JoinGroup(j) => Some(j),
            _ => None,
        })
        .collect();
    assert_eq!(joins.len(), 2, "a join without id, then with the given one");
    assert_eq!(joins[0].member_id.as_str(), "");
    assert!(!joins[1].member_id.as_str().is_empty());
    assert_eq!(joins[1].member_id.as_str(), h.member(a).member_id());
    assert_eq!(joins[1].protocol_type.as_str(), "consumer");
    assert_eq!(joins[1].session_timeout_ms, 10_000);
    assert_eq!(joins[1].rebalance_timeout_ms, 30_000);
    let names: Vec<&str> = joins[1].protocols.iter().map(|p| p.name.as_str()).collect();
    assert_eq!(names, ["range", "cooperative-sticky"]);
}

#[test]
fn three_members_elect_one_leader_and_split_the_partitions() {
    let mut h = Harness::new(metadata());
    let members: Vec<usize> = (0..3)
        .map(|_| {
            h.add(
                with_assignor(RangeAssignor::new()).build().unwrap(),
                &["payments"],
            )
        })
        .collect();
    h.run_until_stable(Duration::from_secs(60));

    let leaders = members.iter().filter(|&&m| h.member(m).is_leader()).count();
    assert_eq!(leaders, 1);
    h.assert_covers(&h.partitions_of(&["payments"]));

    // Range over members sorted by id: two consecutive partitions each.
    let mut by_id: Vec<(&str, Vec<i32>)> = members
        .iter()
        .map(|&m| {
            let member = h.member(m);
            (
                member.member_id(),
                member.assignment().iter().map(|p| p.partition).collect(),
            )
        })
        .collect();
    by_id.sort();
    let ranges: Vec<Vec<i32>> = by_id.into_iter().map(|(_, p)| p).collect();
    assert_eq!(ranges, [vec![0, 1], vec![2, 3], vec![4, 5]]);
    let generations: Vec<i32> = members
        .iter()
        .map(|&m| h.member(m).generation().generation_id)
        .collect();
    assert!(generations.iter().all(|&g| g == generations[0]));
}

#[test]
fn followers_send_an_empty_sync_and_the_leader_sends_everyones() {
    let mut h = Harness::new(metadata());
    let a = h.add(config().build().unwrap(), &["payments"]);
    let b = h.add(config().build().unwrap(), &["payments"]);
    h.run_until_stable(Duration::from_secs(60));
    for m in [a, b] {
        let leader = h.member(m).is_leader();
        let syncs: Vec<_> = h
            .take_sent(m)
            .into_iter()
            .filter_map(|r| match r {
                Request::SyncGroup(s) => Some(s),
                _ => None,
            })
            .collect();
        let last = syncs.last().expect("a sync");
        assert_eq!(last.assignments.len(), if leader { 2 } else { 0 });
    }
}

#[test]
fn heartbeats_every_interval_while_stable() {
    let mut h = Harness::new(metadata());
    let a = h.add(config().build().unwrap(), &["orders"]);
    h.run_until_stable(Duration::from_secs(30));
    h.take_sent(a);
    h.run_for(Duration::from_secs(30));
    let sent = h.take_sent(a);
    assert_eq!(count(&sent, ApiKey::Heartbeat), 10);
    assert_eq!(count(&sent, ApiKey::JoinGroup), 0);
    assert_eq!(h.member(a).state(), MemberState::Stable);
}

#[test]
fn leader_asks_for_missing_metadata() {
    let mut h = Harness::new(metadata());
    let mut member = GroupMember::new(config().build().unwrap());
    member.subscribe(h.now, ["payments"]);
    h.clients.push(Some(support::Client {
        member,
        events: Vec::new(),
        auto_ack: true,
        frozen: false,
        blackholed: false,
        sent: Vec::new(),
    }));
    h.run_until_stable(Duration::from_secs(30));
    let events = h.take_events(0);
    let needed = events.iter().find_map(|e| match e {
        Event::MetadataNeeded { topics } => Some(topics.clone()),
        _ => None,
    });
    assert_eq!(needed, Some(["payments".to_owned()].into()));
    assert_eq!(assigned(&events), h.partitions_of(&["payments"]));
}

#[test]
fn leader_rebalances_when_a_topic_grows() {
    let mut h = Harness::new(metadata());
    let a = h.add(
        with_assignor(RoundRobinAssignor::new()).build().unwrap(),
        &["orders"],
    );
    let b = h.add(
        with_assignor(RoundRobinAssignor::new()).build().unwrap(),
        &["orders"],
    );
    h.run_until_stable(Duration::from_secs(60));
    let generation = h.member(a).generation().generation_id;
    let leader = if h.member(a).is_leader() { a } else { b };

    h.metadata = TopicPartitions::new().with_topic("orders", 4);
    let now = h.now;
    let metadata = h.metadata.clone();
    h.member_mut(leader).update_metadata(now, metadata);
    h.run_until_stable(Duration::from_secs(60));

    assert!(h.member(a).generation().generation_id > generation);
    h.assert_covers(&h.partitions_of(&["orders"]));
    assert_eq!(h.member(a).assignment().len(), 2);
    assert_eq!(h.member(b).assignment().len(), 2);
}

#[test]
fn subscription_change_revokes_and_rejoins() {
    let mut h = Harness::new(metadata());
    let a = h.add(config().build().unwrap(), &["orders"]);
    h.run_until_stable(Duration::from_secs(30));
    h.take_events(a);

    let now = h.now;
    h.member_mut(a).subscribe(now, ["payments"]);
    h.run_until_stable(Duration::from_secs(30));
    let events = h.take_events(a);
    // Eager (range + cooperative-sticky: the common protocol is eager):
    // everything is revoked before the rejoin.
    assert_eq!(revoked(&events), h.partitions_of(&["orders"]));
    assert_eq!(assigned(&events), h.partitions_of(&["payments"]));
    assert_eq!(h.member(a).assignment(), &h.partitions_of(&["payments"]));
}

#[test]
fn dynamic_member_leaves_with_leave_group_and_others_take_over() {
    let mut h = Harness::new(metadata());
    let a = h.add(config().build().unwrap(), &["payments"]);
    let b = h.add(config().build().unwrap(), &["payments"]);
    h.run_until_stable(Duration::from_secs(60));
    let had = h.member(a).assignment().clone();
    assert_eq!(had.len(), 3);
    h.take_events(a);
    h.take_sent(a);

    let now = h.now;
    h.member_mut(a).leave(now);
    h.run_until_stable(Duration::from_secs(60));

    let events = h.take_events(a);
    assert_eq!(revoked(&events), had);
    assert!(events.contains(&Event::Left));
    assert_eq!(count(&h.take_sent(a), ApiKey::LeaveGroup), 1);
    assert_eq!(h.member(a).state(), MemberState::Idle);
    assert_eq!(h.member(b).assignment(), &h.partitions_of(&["payments"]));
    assert_eq!(h.coordinator.member_ids().len(), 1);
}

#[test]
fn revoke_waits_for_the_acknowledgement() {
    let mut h = Harness::new(metadata());
    let a = h.add(config().build().unwrap(), &["orders"]);
    h.run_until_stable(Duration::from_secs(30));
    h.client_mut(a).auto_ack = false;
    h.take_sent(a);

    let now = h.now;
    h.member_mut(a).subscribe(now, ["orders", "payments"]);
    h.run_for(Duration::from_secs(20));
    // Still waiting: no JoinGroup, partitions still owned, heartbeats go on.
    let sent = h.take_sent(a);
    assert_eq!(count(&sent, ApiKey::JoinGroup), 0);
    assert!(count(&sent, ApiKey::Heartbeat) > 0);
    assert_eq!(h.member(a).assignment().len(), 3);
    assert_eq!(h.member(a).state(), MemberState::Joining);

    let now = h.now;
    h.member_mut(a).ack_revoked(now);
    h.run_until_stable(Duration::from_secs(30));
    assert_eq!(h.member(a).assignment().len(), 9);
    assert!(h.member(a).assignment().contains(&tp("payments", 5)));
}
