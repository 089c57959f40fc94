//! Every coordinator error the member handles, and the session timeout:
//! which ones rejoin, which ones lose the partitions, which ones only look
//! the coordinator up again, which ones are fatal.

mod support;

use std::collections::BTreeMap;
use std::time::Duration;

use gregor_group::{Error, Event, MemberState, OffsetAndMetadata, Request};
use gregor_protocol::{ApiKey, ErrorCode};
use support::{Harness, assigned, config, count, lost, revoked, tp};

fn one_member() -> (Harness, usize) {
    let mut h = Harness::new(gregor_group::TopicPartitions::new().with_topic("t", 4));
    let a = h.add(config().build().unwrap(), &["t"]);
    h.run_until_stable(Duration::from_secs(30));
    h.take_events(a);
    h.take_sent(a);
    (h, a)
}

fn static_member() -> (Harness, usize) {
    let mut h = Harness::new(gregor_group::TopicPartitions::new().with_topic("t", 4));
    let a = h.add(
        config().group_instance_id("instance-a").build().unwrap(),
        &["t"],
    );
    h.run_until_stable(Duration::from_secs(30));
    h.take_events(a);
    h.take_sent(a);
    (h, a)
}

fn joins(requests: &[Request]) -> Vec<String> {
    requests
        .iter()
        .filter_map(|r| match r {
            Request::JoinGroup(j) => Some(j.member_id.as_str().to_owned()),
            _ => None,
        })
        .collect()
}

fn heartbeat_error(code: ErrorCode) -> (Harness, usize, Vec<Event>, Vec<Request>, String) {
    let (mut h, a) = one_member();
    let member_id = h.member(a).member_id().to_owned();
    h.coordinator.inject(ApiKey::Heartbeat, Some(a), code);
    h.run_for(Duration::from_secs(4));
    h.run_until_stable(Duration::from_secs(60));
    let events = h.take_events(a);
    let sent = h.take_sent(a);
    (h, a, events, sent, member_id)
}

#[test]
fn heartbeat_rebalance_in_progress_revokes_and_rejoins() {
    let (h, a, events, sent, member_id) = heartbeat_error(ErrorCode::RebalanceInProgress);
    let all = h.partitions_of(&["t"]);
    assert_eq!(revoked(&events), all);
    assert!(lost(&events).is_empty());
    assert_eq!(assigned(&events), all);
    // Same member id: a rejoin, not a new member.
    assert_eq!(joins(&sent), std::slice::from_ref(&member_id));
    assert_eq!(h.member(a).member_id(), member_id);
}

#[test]
fn heartbeat_unknown_member_id_loses_partitions_and_rejoins_as_new_member() {
    let (h, a, events, sent, member_id) = heartbeat_error(ErrorCode::UnknownMemberId);
    let all = h.partitions_of(&["t"]);
    assert_eq!(lost(&events), all);
    assert!(revoked(&events).is_empty());
    assert_eq!(assigned(&events), all);
    let j = joins(&sent);
    assert_eq!(j.first().map(String::as_str), Some(""), "member id reset");
    assert_ne!(h.member(a).member_id(), member_id);
    // Lost comes before the new assignment.
    let lost_at = events.iter().position(|e| matches!(e, Event::Lost { .. }));
    let assigned_at = events
        .iter()
        .position(|e| matches!(e, Event::Assigned { .. }));
    assert!(lost_at < assigned_at);
}

#[test]
fn heartbeat_illegal_generation_loses_partitions_but_keeps_member_id() {
    let (h, a, events, sent, member_id) = heartbeat_error(ErrorCode::IllegalGeneration);
    let all = h.partitions_of(&["t"]);
    assert_eq!(lost(&events), all);
    assert_eq!(assigned(&events), all);
    assert_eq!(joins(&sent), std::slice::from_ref(&member_id));
    assert_eq!(h.member(a).member_id(), member_id);
}

#[test]
fn heartbeat_fenced_instance_id_is_fatal() {
    let (mut h, a) = static_member();
    h.coordinator
        .inject(ApiKey::Heartbeat, Some(a), ErrorCode::FencedInstanceId);
    h.run_for(Duration::from_secs(10));
    let events = h.take_events(a);
    assert_eq!(lost(&events), h.partitions_of(&["t"]));
    assert!(events.iter().any(|e| matches!(
        e,
        Event::Fatal(Error::Fenced { group_instance_id }) if group_instance_id == "instance-a"
    )));
    assert_eq!(h.member(a).state(), MemberState::Failed);
    assert!(h.member(a).assignment().is_empty());
    // Stopped: nothing more is sent, no rejoin.
    let sent = h.take_sent(a);
    assert_eq!(count(&sent, ApiKey::JoinGroup), 0);
    assert!(sent.len() <= 1);
    assert_eq!(h.member(a).poll_timeout(), None);
}

fn coordinator_moved(inject: impl FnOnce(&mut Harness, usize)) {
    let (mut h, a) = one_member();
    let before = h.member(a).assignment().clone();
    let generation = h.member(a).generation().generation_id;
    inject(&mut h, a);
    h.run_for(Duration::from_secs(20));
    let events = h.take_events(a);
    let sent = h.take_sent(a);
    assert!(lost(&events).is_empty(), "{events:?}");
    assert!(revoked(&events).is_empty(), "{events:?}");
    assert_eq!(count(&sent, ApiKey::FindCoordinator), 1);
    assert_eq!(count(&sent, ApiKey::JoinGroup), 0);
    assert!(count(&sent, ApiKey::Heartbeat) >= 5);
    assert_eq!(h.member(a).assignment(), &before);
    assert_eq!(h.member(a).generation().generation_id, generation);
    assert_eq!(h.member(a).state(), MemberState::Stable);
}

#[test]
fn heartbeat_not_coordinator_refinds_and_keeps_partitions() {
    coordinator_moved(|h, a| {
        h.coordinator
            .inject(ApiKey::Heartbeat, Some(a), ErrorCode::NotCoordinator)
    });
}

#[test]
fn heartbeat_coordinator_not_available_refinds_and_keeps_partitions() {
    coordinator_moved(|h, a| {
        h.coordinator.inject(
            ApiKey::Heartbeat,
            Some(a),
            ErrorCode::CoordinatorNotAvailable,
        )
    });
}

#[test]
fn coordinator_disconnect_refinds_and_keeps_partitions() {
    coordinator_moved(|h, a| h.coordinator.inject_disconnect(ApiKey::Heartbeat, Some(a)));
}

#[test]
fn commit_rebalance_in_progress_fails_the_commit_and_rejoins() {
    let (mut h, a) = one_member();
    h.coordinator.inject(
        ApiKey::OffsetCommit,
        Some(a),
        ErrorCode::RebalanceInProgress,
    );
    let now = h.now;
    let offsets = BTreeMap::from([(tp("t", 0), OffsetAndMetadata::new(10))]);
    h.member_mut(a).commit(now, offsets.clone()).unwrap();
    h.run_until_stable(Duration::from_secs(30));
    let events = h.take_events(a);
    assert!(events.contains(&Event::CommitFailed {
        offsets,
        error: Error::Kafka {
            api: ApiKey::OffsetCommit,
            code: ErrorCode::RebalanceInProgress
        }
    }));
    assert_eq!(revoked(&events), h.partitions_of(&["t"]));
    assert_eq!(assigned(&events), h.partitions_of(&["t"]));
    assert_eq!(count(&h.take_sent(a), ApiKey::JoinGroup), 1);
}

#[test]
fn commit_unknown_member_id_fails_and_loses_partitions() {
    let (mut h, a) = one_member();
    let member_id = h.member(a).member_id().to_owned();
    h.coordinator
        .inject(ApiKey::OffsetCommit, Some(a), ErrorCode::UnknownMemberId);
    let now = h.now;
    let offsets = BTreeMap::from([(tp("t", 1), OffsetAndMetadata::new(5))]);
    h.member_mut(a).commit(now, offsets).unwrap();
    h.settle();
    let events = h.take_events(a);
    let failed = events
        .iter()
        .position(|e| matches!(e, Event::CommitFailed { .. }));
    let lost_at = events.iter().position(|e| matches!(e, Event::Lost { .. }));
    assert!(failed.is_some() && failed < lost_at, "{events:?}");
    assert_eq!(lost(&events), h.partitions_of(&["t"]));
    // Rejoined under a new member id.
    assert_ne!(h.member(a).member_id(), member_id);
    // Lost partitions cannot be committed.
    let now = h.now;
    let again = BTreeMap::from([(tp("t", 1), OffsetAndMetadata::new(6))]);
    assert!(h.member_mut(a).commit(now, again).is_err());
}

#[test]
fn commit_illegal_generation_loses_partitions_keeps_member_id() {
    let (mut h, a) = one_member();
    let member_id = h.member(a).member_id().to_owned();
    h.coordinator
        .inject(ApiKey::OffsetCommit, Some(a), ErrorCode::IllegalGeneration);
    let now = h.now;
    let offsets = BTreeMap::from([(tp("t", 1), OffsetAndMetadata::new(5))]);
    h.member_mut(a).commit(now, offsets).unwrap();
    h.run_until_stable(Duration::from_secs(30));
    let events = h.take_events(a);
    assert_eq!(lost(&events), h.partitions_of(&["t"]));
    assert_eq!(joins(&h.take_sent(a)), [member_id]);
}

#[test]
fn sync_errors_rejoin() {
    for (code, loses, new_id) in [
        (ErrorCode::RebalanceInProgress, false, false),
        (ErrorCode::UnknownMemberId, false, true),
        (ErrorCode::IllegalGeneration, false, false),
        (ErrorCode::NotCoordinator, false, false),
    ] {
        let (mut h, a) = one_member();
        let now = h.now;
        h.member_mut(a).request_rebalance(now, "test");
        h.coordinator.inject(ApiKey::SyncGroup, Some(a), code);
        h.run_until_stable(Duration::from_secs(60));
        let events = h.take_events(a);
        // Eager: everything was revoked before the rejoin, so nothing is left
        // to lose when the sync fails.
        assert_eq!(!lost(&events).is_empty(), loses, "{code:?}: {events:?}");
        assert_eq!(assigned(&events), h.partitions_of(&["t"]), "{code:?}");
        let j = joins(&h.take_sent(a));
        // Join, failed sync, join again (a new member first asks for an id).
        assert_eq!(j.len(), if new_id { 3 } else { 2 }, "{code:?}");
        assert_eq!(j[1].is_empty(), new_id, "{code:?}");
    }
}

#[test]
fn join_retriable_errors_back_off_and_retry() {
    for code in [
        ErrorCode::CoordinatorLoadInProgress,
        ErrorCode::RebalanceInProgress,
        ErrorCode::CoordinatorNotAvailable,
    ] {
        let (mut h, a) = one_member();
        let now = h.now;
        h.member_mut(a).request_rebalance(now, "test");
        h.coordinator.inject(ApiKey::JoinGroup, Some(a), code);
        h.run_until_stable(Duration::from_secs(60));
        assert_eq!(
            h.member(a).assignment(),
            &h.partitions_of(&["t"]),
            "{code:?}"
        );
        assert_eq!(count(&h.take_sent(a), ApiKey::JoinGroup), 2, "{code:?}");
    }
}

#[test]
fn join_fatal_errors_stop_the_member() {
    for code in [
        ErrorCode::GroupAuthorizationFailed,
        ErrorCode::InvalidSessionTimeout,
        ErrorCode::GroupMaxSizeReached,
    ] {
        let mut h = Harness::new(gregor_group::TopicPartitions::new().with_topic("t", 4));
        h.coordinator.inject(ApiKey::JoinGroup, None, code);
        let a = h.add(config().build().unwrap(), &["t"]);
        h.run_for(Duration::from_secs(10));
        assert_eq!(h.member(a).state(), MemberState::Failed, "{code:?}");
        let events = h.take_events(a);
        assert!(
            events
                .iter()
                .any(|e| matches!(e, Event::Fatal(err) if err.code() == Some(code))),
            "{code:?}: {events:?}"
        );
    }
}

#[test]
fn missed_heartbeats_past_the_session_timeout_lose_the_partitions() {
    let (mut h, a) = one_member();
    let all = h.partitions_of(&["t"]);
    // A network partition: requests vanish.
    h.client_mut(a).blackholed = true;
    h.run_for(Duration::from_secs(9));
    assert_eq!(h.member(a).assignment(), &all, "still within the session");
    assert!(lost(&h.client(a).events).is_empty());
    h.run_for(Duration::from_secs(2));
    let events = h.take_events(a);
    assert_eq!(lost(&events), all);
    assert!(
        events
            .iter()
            .any(|e| matches!(e, Event::Error(Error::SessionExpired { .. })))
    );
    assert!(h.member(a).assignment().is_empty());

    // The partition heals: the member rejoins as a new member.
    h.client_mut(a).blackholed = false;
    h.run_until_stable(Duration::from_secs(60));
    assert_eq!(h.member(a).assignment(), &all);
    assert_eq!(assigned(&h.take_events(a)), all);
}

#[test]
fn a_paused_member_finds_its_partitions_lost_and_never_commits_them() {
    let mut h = Harness::new(gregor_group::TopicPartitions::new().with_topic("t", 4));
    // While a is paused the coordinator gives its partitions to b, so the
    // strict checker would see two owners: that is exactly what Lost is for.
    h.strict = false;
    let a = h.add(config().build().unwrap(), &["t"]);
    let b = h.add(config().build().unwrap(), &["t"]);
    h.run_until_stable(Duration::from_secs(60));
    let had = h.member(a).assignment().clone();
    assert_eq!(had.len(), 2);
    h.take_events(a);

    h.client_mut(a).frozen = true;
    h.run_for(Duration::from_secs(20));
    assert_eq!(h.member(b).assignment(), &h.partitions_of(&["t"]));

    h.client_mut(a).frozen = false;
    let now = h.now;
    // The application tries to commit before the member noticed: refused
    // once the member sees its session is gone.
    h.member_mut(a).handle_timeout(now);
    let offsets = BTreeMap::from([(
        had.iter().next().unwrap().clone(),
        OffsetAndMetadata::new(1),
    )]);
    assert!(h.member_mut(a).commit(now, offsets).is_err());
    h.settle();
    let events = h.take_events(a);
    assert_eq!(lost(&events), had);
    assert!(revoked(&events).is_empty());
    assert!(
        !h.take_sent(a)
            .iter()
            .any(|r| r.api_key() == ApiKey::OffsetCommit)
    );

    h.run_until_stable(Duration::from_secs(60));
    h.assert_covers(&h.partitions_of(&["t"]));
}

#[test]
fn request_timeouts_are_enforced_by_the_machine() {
    let (mut h, a) = one_member();
    // Requests vanish; the member gives up on the heartbeat after the
    // request timeout (5 s) and looks the coordinator up again.
    h.client_mut(a).blackholed = true;
    h.run_for(Duration::from_secs(9));
    let sent = h.take_sent(a);
    assert!(count(&sent, ApiKey::FindCoordinator) >= 1, "{sent:?}");
}

#[test]
fn losing_the_coordinator_mid_rebalance_refinds_and_rejoins() {
    for api in [ApiKey::JoinGroup, ApiKey::SyncGroup] {
        let (mut h, a) = one_member();
        let now = h.now;
        h.member_mut(a).request_rebalance(now, "test");
        h.coordinator.inject_disconnect(api, Some(a));
        h.run_until_stable(Duration::from_secs(60));
        let sent = h.take_sent(a);
        assert_eq!(count(&sent, ApiKey::FindCoordinator), 1, "{api:?}");
        assert_eq!(
            h.member(a).assignment(),
            &h.partitions_of(&["t"]),
            "{api:?}"
        );
        assert!(lost(&h.take_events(a)).is_empty(), "{api:?}");
    }
}

#[test]
fn find_coordinator_errors_back_off_and_retry() {
    let mut h = Harness::new(gregor_group::TopicPartitions::new().with_topic("t", 4));
    h.coordinator.inject(
        ApiKey::FindCoordinator,
        None,
        ErrorCode::CoordinatorNotAvailable,
    );
    h.coordinator
        .inject_disconnect(ApiKey::FindCoordinator, None);
    let a = h.add(config().build().unwrap(), &["t"]);
    h.run_until_stable(Duration::from_secs(30));
    assert_eq!(count(&h.take_sent(a), ApiKey::FindCoordinator), 3);
    assert_eq!(h.member(a).assignment().len(), 4);
}
