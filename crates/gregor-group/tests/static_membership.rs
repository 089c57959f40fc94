//! Static membership (KIP-345): the instance id travels in every group
//! request, a static member never sends LeaveGroup, and a restart within
//! the session timeout gets the same partitions back without a rebalance.

mod support;

use std::time::Duration;

use gregor_group::{Event, MemberState, Request, TopicPartitions};
use gregor_protocol::ApiKey;
use support::{Harness, assigned, config, count, revoked};

fn static_config(instance: &str) -> gregor_group::GroupConfig {
    config().group_instance_id(instance).build().unwrap()
}

#[test]
fn static_member_restart_within_the_session_keeps_its_partitions() {
    let mut h = Harness::new(TopicPartitions::new().with_topic("t", 6));
    let a = h.add(static_config("instance-a"), &["t"]);
    let b = h.add(config().build().unwrap(), &["t"]);
    h.run_until_stable(Duration::from_secs(60));
    let a_partitions = h.member(a).assignment().clone();
    let generation = h.member(a).generation().generation_id;
    let rebalances = h.coordinator.rebalances;
    assert_eq!(a_partitions.len(), 3);
    h.take_events(b);

    // a crashes (no LeaveGroup) and comes back 5 s later, within the 10 s
    // session.
    h.crash(a);
    h.run_for(Duration::from_secs(5));
    let a2 = h.add(static_config("instance-a"), &["t"]);
    h.run_until_stable(Duration::from_secs(30));

    assert_eq!(h.member(a2).assignment(), &a_partitions);
    assert_eq!(h.member(a2).generation().generation_id, generation);
    assert_eq!(h.coordinator.rebalances, rebalances, "no rebalance");
    // b noticed nothing.
    let b_events = h.take_events(b);
    assert!(revoked(&b_events).is_empty(), "{b_events:?}");
    assert!(assigned(&b_events).is_empty(), "{b_events:?}");
    h.assert_covers(&h.partitions_of(&["t"]));
    // The restarted member joined with an empty member id and no
    // MEMBER_ID_REQUIRED round trip.
    let joins = count(&h.take_sent(a2), ApiKey::JoinGroup);
    assert_eq!(joins, 1);
}

#[test]
fn static_member_restart_after_the_session_rebalances() {
    let mut h = Harness::new(TopicPartitions::new().with_topic("t", 6));
    let a = h.add(static_config("instance-a"), &["t"]);
    let b = h.add(config().build().unwrap(), &["t"]);
    h.run_until_stable(Duration::from_secs(60));
    let rebalances = h.coordinator.rebalances;
    h.crash(a);
    h.run_for(Duration::from_secs(15));
    assert_eq!(h.member(b).assignment().len(), 6, "b took over");
    let a2 = h.add(static_config("instance-a"), &["t"]);
    h.run_until_stable(Duration::from_secs(60));
    assert!(h.coordinator.rebalances >= rebalances + 2);
    assert_eq!(h.member(a2).assignment().len(), 3);
    h.assert_covers(&h.partitions_of(&["t"]));
}

#[test]
fn static_member_leaving_sends_no_leave_group() {
    let mut h = Harness::new(TopicPartitions::new().with_topic("t", 2));
    let a = h.add(static_config("instance-a"), &["t"]);
    h.run_until_stable(Duration::from_secs(30));
    h.take_events(a);
    h.take_sent(a);
    let now = h.now;
    h.member_mut(a).leave(now);
    h.settle();
    let events = h.take_events(a);
    assert_eq!(revoked(&events), h.partitions_of(&["t"]));
    assert!(events.contains(&Event::Left));
    assert_eq!(count(&h.take_sent(a), ApiKey::LeaveGroup), 0);
    assert_eq!(h.member(a).state(), MemberState::Idle);
    // The coordinator still holds the member until its session expires.
    assert_eq!(h.coordinator.member_ids().len(), 1);
}

#[test]
fn the_instance_id_is_in_every_group_request() {
    let mut h = Harness::new(TopicPartitions::new().with_topic("t", 2));
    let a = h.add(static_config("instance-a"), &["t"]);
    h.run_until_stable(Duration::from_secs(30));
    let now = h.now;
    let offsets = [(support::tp("t", 0), gregor_group::OffsetAndMetadata::new(3))].into();
    h.member_mut(a).commit(now, offsets).unwrap();
    h.run_for(Duration::from_secs(5));
    let sent = h.take_sent(a);
    let mut seen = Vec::new();
    for r in &sent {
        let instance = match r {
            Request::JoinGroup(r) => r.group_instance_id.clone(),
            Request::SyncGroup(r) => r.group_instance_id.clone(),
            Request::Heartbeat(r) => r.group_instance_id.clone(),
            Request::OffsetCommit(r) => r.group_instance_id.clone(),
            _ => continue,
        };
        assert_eq!(instance.as_deref(), Some("instance-a"), "{r:?}");
        seen.push(r.api_key());
    }
    for api in [
        ApiKey::JoinGroup,
        ApiKey::SyncGroup,
        ApiKey::Heartbeat,
        ApiKey::OffsetCommit,
    ] {
        assert!(seen.contains(&api), "{api:?} not sent");
    }
}
