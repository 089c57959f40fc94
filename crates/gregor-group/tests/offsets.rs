//! Commits and committed-offset fetches: generation and member id in every
//! commit, commit before revoke, no commits for partitions not owned, and
//! the fetch on assignment.

mod support;

use std::collections::BTreeMap;
use std::time::Duration;

use gregor_group::{Error, Event, OffsetAndMetadata, Request, TopicPartitions};
use gregor_protocol::{ApiKey, ErrorCode};
use support::{Harness, config, tp};

fn stable_member() -> (Harness, usize) {
    let mut h = Harness::new(TopicPartitions::new().with_topic("t", 2));
    let a = h.add(config().build().unwrap(), &["t"]);
    h.run_until_stable(Duration::from_secs(30));
    h.take_events(a);
    h.take_sent(a);
    (h, a)
}

#[test]
fn commit_carries_the_generation_and_is_fetched_after_a_restart() {
    let (mut h, a) = stable_member();
    let now = h.now;
    let offsets = BTreeMap::from([
        (tp("t", 0), OffsetAndMetadata::new(42).with_metadata("m")),
        (tp("t", 1), OffsetAndMetadata::new(7).with_leader_epoch(3)),
    ]);
    h.member_mut(a).commit(now, offsets.clone()).unwrap();
    h.settle();
    assert!(h.take_events(a).contains(&Event::Committed {
        offsets: offsets.clone()
    }));
    let commit = h
        .take_sent(a)
        .into_iter()
        .find_map(|r| match r {
            Request::OffsetCommit(c) => Some(c),
            _ => None,
        })
        .expect("commit sent");
    assert_eq!(
        commit.generation_id_or_member_epoch,
        h.member(a).generation().generation_id
    );
    assert_eq!(commit.member_id.as_str(), h.member(a).member_id());
    assert_eq!(commit.topics[0].partitions[1].committed_leader_epoch, 3);

    // A new member of the group fetches them on assignment.
    let now = h.now;
    h.member_mut(a).leave(now);
    h.settle();
    let b = h.add(config().build().unwrap(), &["t"]);
    h.run_until_stable(Duration::from_secs(30));
    let fetched = h
        .take_events(b)
        .into_iter()
        .find_map(|e| match e {
            Event::OffsetsFetched { offsets } => Some(offsets),
            _ => None,
        })
        .expect("fetched");
    assert_eq!(fetched[&tp("t", 0)].as_ref().map(|o| o.offset), Some(42));
    assert_eq!(fetched[&tp("t", 1)].as_ref().map(|o| o.offset), Some(7));
}

#[test]
fn partitions_not_owned_cannot_be_committed() {
    let (mut h, a) = stable_member();
    let now = h.now;
    let err = h
        .member_mut(a)
        .commit(
            now,
            BTreeMap::from([(tp("other", 0), OffsetAndMetadata::new(1))]),
        )
        .unwrap_err();
    assert!(matches!(err, Error::NotAssigned { ref topic, partition: 0 } if topic == "other"));
    assert!(!err.is_retriable());
}

#[test]
fn commit_while_joining_is_refused_as_rebalancing() {
    // Cooperative: the member keeps its partitions while it rejoins, but a
    // commit must wait for the new generation.
    let mut h = Harness::new(TopicPartitions::new().with_topic("t", 2));
    let config = support::with_assignor(gregor_group::CooperativeStickyAssignor::new());
    let a = h.add(config.build().unwrap(), &["t"]);
    h.run_until_stable(Duration::from_secs(30));
    h.client_mut(a).blackholed = true;
    let now = h.now;
    h.member_mut(a).request_rebalance(now, "test");
    h.settle();
    assert_eq!(h.member(a).state(), gregor_group::MemberState::Joining);
    assert_eq!(h.member(a).assignment().len(), 2);
    let now = h.now;
    let err = h
        .member_mut(a)
        .commit(
            now,
            BTreeMap::from([(tp("t", 0), OffsetAndMetadata::new(1))]),
        )
        .unwrap_err();
    assert_eq!(err, Error::RebalanceInProgress);
    assert!(err.is_retriable());
}

#[test]
fn commit_before_revoke_goes_out_before_the_rejoin() {
    let (mut h, a) = stable_member();
    h.client_mut(a).auto_ack = false;
    h.coordinator
        .inject(ApiKey::Heartbeat, Some(a), ErrorCode::RebalanceInProgress);
    h.run_for(Duration::from_secs(4));
    let events = h.take_events(a);
    let revoked = events
        .iter()
        .find_map(|e| match e {
            Event::Revoked { partitions } => Some(partitions.clone()),
            _ => None,
        })
        .expect("revoked");
    // The hook point: commit the revoked partitions, then acknowledge.
    let now = h.now;
    let offsets: BTreeMap<_, _> = revoked
        .iter()
        .map(|p| (p.clone(), OffsetAndMetadata::new(100)))
        .collect();
    h.member_mut(a).commit(now, offsets.clone()).unwrap();
    h.member_mut(a).ack_revoked(now);
    h.run_until_stable(Duration::from_secs(30));

    let order: Vec<ApiKey> = h
        .take_sent(a)
        .iter()
        .map(Request::api_key)
        .filter(|k| matches!(k, ApiKey::OffsetCommit | ApiKey::JoinGroup))
        .collect();
    assert_eq!(order, [ApiKey::OffsetCommit, ApiKey::JoinGroup]);
    assert!(h.take_events(a).contains(&Event::Committed { offsets }));
    assert_eq!(h.coordinator.offsets.get(&("t".to_owned(), 0)), Some(&100));
}

#[test]
fn queued_commits_fail_when_the_generation_is_lost() {
    let (mut h, a) = stable_member();
    // Requests vanish, so the commit is still in the queue or in flight
    // when the session runs out.
    h.client_mut(a).blackholed = true;
    let now = h.now;
    h.member_mut(a)
        .commit(
            now,
            BTreeMap::from([(tp("t", 0), OffsetAndMetadata::new(9))]),
        )
        .unwrap();
    h.run_for(Duration::from_secs(11));
    let events = h.take_events(a);
    assert!(
        events
            .iter()
            .any(|e| matches!(e, Event::CommitFailed { .. })),
        "{events:?}"
    );
    assert!(events.iter().any(|e| matches!(e, Event::Lost { .. })));
    assert!(!events.iter().any(|e| matches!(e, Event::Committed { .. })));
}

#[test]
fn offset_fetch_retries_while_the_coordinator_loads() {
    let mut h = Harness::new(TopicPartitions::new().with_topic("t", 2));
    h.coordinator.inject(
        ApiKey::OffsetFetch,
        None,
        ErrorCode::CoordinatorLoadInProgress,
    );
    let a = h.add(config().build().unwrap(), &["t"]);
    h.run_until_stable(Duration::from_secs(30));
    h.run_for(Duration::from_secs(2));
    let events = h.take_events(a);
    let fetched: Vec<_> = events
        .iter()
        .filter(|e| matches!(e, Event::OffsetsFetched { .. }))
        .collect();
    assert_eq!(fetched.len(), 1);
    let sent = h.take_sent(a);
    assert_eq!(support::count(&sent, ApiKey::OffsetFetch), 2);
}

#[test]
fn an_empty_commit_completes_at_once() {
    let (mut h, a) = stable_member();
    let now = h.now;
    h.member_mut(a).commit(now, BTreeMap::new()).unwrap();
    assert_eq!(
        h.member_mut(a).poll_event(),
        Some(Event::Committed {
            offsets: BTreeMap::new()
        })
    );
}
