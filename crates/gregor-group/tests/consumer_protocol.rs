//! The consumer protocol bytes (subscription and assignment) at every
//! version, golden bytes in the layout Java and librdkafka write, forward
//! compatibility, and the requests the member emits at every version.

mod support;

use std::collections::BTreeMap;
use std::time::Duration;

use bytes::Bytes;
use gregor_group::{
    Assignment, Error, OffsetAndMetadata, Request, Subscription, TopicPartition, TopicPartitions,
};
use gregor_protocol::{ApiKey, Message};
use proptest::prelude::*;
use support::{Harness, config, tp};

fn topic_partitions() -> impl Strategy<Value = Vec<TopicPartition>> {
    prop::collection::btree_set(("[a-z]{1,8}", 0..100i32), 0..8).prop_map(|set| {
        set.into_iter()
            .map(|(t, p)| TopicPartition::new(t, p))
            .collect()
    })
}

fn subscription() -> impl Strategy<Value = Subscription> {
    (
        prop::collection::vec("[a-z.]{1,12}", 0..5),
        prop::option::of(prop::collection::vec(any::<u8>(), 0..16)),
        topic_partitions(),
        prop::option::of(0..1000i32),
        prop::option::of("[a-z0-9-]{1,8}"),
    )
        .prop_map(
            |(topics, user_data, owned, generation, rack)| Subscription {
                topics,
                user_data: user_data.map(Bytes::from),
                owned_partitions: owned,
                generation,
                rack,
            },
        )
}

/// What survives encoding at `version`.
fn at_version(s: &Subscription, version: i16) -> Subscription {
    Subscription {
        topics: s.topics.clone(),
        user_data: s.user_data.clone(),
        owned_partitions: if version >= 1 {
            s.owned_partitions.clone()
        } else {
            Vec::new()
        },
        generation: if version >= 2 { s.generation } else { None },
        rack: if version >= 3 { s.rack.clone() } else { None },
    }
}

proptest! {
    #[test]
    fn subscription_round_trips_at_every_version(s in subscription()) {
        for version in 0..=3 {
            let bytes = s.encode(version).unwrap();
            let (back, v) = Subscription::decode(bytes).unwrap();
            prop_assert_eq!(v, version);
            prop_assert_eq!(back, at_version(&s, version));
        }
    }

    #[test]
    fn assignment_round_trips_at_every_version(
        partitions in topic_partitions(),
        user_data in prop::option::of(prop::collection::vec(any::<u8>(), 0..16)),
    ) {
        let a = Assignment { partitions, user_data: user_data.map(Bytes::from) };
        for version in 0..=3 {
            let (back, v) = Assignment::decode(a.encode(version).unwrap()).unwrap();
            prop_assert_eq!(v, version);
            prop_assert_eq!(&back, &a);
        }
    }

    #[test]
    fn decoding_garbage_never_panics(bytes in prop::collection::vec(any::<u8>(), 0..64)) {
        let _ = Subscription::decode(Bytes::from(bytes.clone()));
        let _ = Assignment::decode(Bytes::from(bytes));
    }
}

#[test]
fn subscription_golden_bytes() {
    let s = Subscription {
        topics: vec!["t".into()],
        user_data: None,
        owned_partitions: vec![tp("t", 0)],
        generation: Some(5),
        rack: Some("r".into()),
    };
    // Version 0: version, topics ["t"], null user data.
    let v0: &[u8] = &[0, 0, 0, 0, 0, 1, 0, 1, b't', 0xff, 0xff, 0xff, 0xff];
    assert_eq!(s.encode(0).unwrap().as_ref(), v0);
    // Version 3 adds owned partitions [t: [0]], the generation and the rack.
    let v3: Vec<u8> = [
        &[0, 3, 0, 0, 0, 1, 0, 1, b't', 0xff, 0xff, 0xff, 0xff][..],
        &[0, 0, 0, 1, 0, 1, b't', 0, 0, 0, 1, 0, 0, 0, 0],
        &[0, 0, 0, 5],
        &[0, 1, b'r'],
    ]
    .concat();
    assert_eq!(s.encode(3).unwrap().as_ref(), v3.as_slice());
}

#[test]
fn assignment_golden_bytes() {
    let a = Assignment::new(vec![tp("t", 1), tp("t", 0)]);
    let v1: &[u8] = &[
        0, 1, // version
        0, 0, 0, 1, 0, 1, b't', 0, 0, 0, 2, 0, 0, 0, 0, 0, 0, 0, 1, // [t: [0, 1]]
        0xff, 0xff, 0xff, 0xff, // null user data
    ];
    assert_eq!(a.encode(1).unwrap().as_ref(), v1);
}

#[test]
fn newer_versions_are_read_with_the_newest_schema() {
    let s = Subscription {
        topics: vec!["t".into()],
        owned_partitions: vec![tp("t", 0)],
        generation: Some(2),
        rack: Some("r".into()),
        ..Subscription::default()
    };
    let v3 = s.encode(3).unwrap();
    // Version 4 with a field this crate does not know yet appended.
    let mut v4 = v3.to_vec();
    v4[1] = 4;
    v4.extend_from_slice(&[0, 0, 0, 42]);
    let (back, version) = Subscription::decode(Bytes::from(v4)).unwrap();
    assert_eq!(version, 4);
    assert_eq!(back, s);
}

#[test]
fn truncated_bytes_are_an_error() {
    let s = Subscription {
        topics: vec!["topic".into()],
        ..Subscription::default()
    };
    let bytes = s.encode(3).unwrap();
    let short = bytes.slice(..bytes.len() - 3);
    assert!(matches!(
        Subscription::decode(short),
        Err(Error::Protocol(_))
    ));
}

/// Drives a member through join, commit and leave, and checks that every
/// request it emitted encodes at every version of its API once reshaped
/// with `for_version`.
#[test]
fn every_request_encodes_at_every_version() {
    for instance in [None, Some("instance-a")] {
        let mut h = Harness::new(TopicPartitions::new().with_topic("t", 2));
        let mut c = config();
        if let Some(i) = instance {
            c = c.group_instance_id(i);
        }
        let a = h.add(c.build().unwrap(), &["t"]);
        h.run_until_stable(Duration::from_secs(30));
        let now = h.now;
        let offsets = BTreeMap::from([(tp("t", 0), OffsetAndMetadata::new(1))]);
        h.member_mut(a).commit(now, offsets).unwrap();
        h.run_for(Duration::from_secs(5));
        let now = h.now;
        h.member_mut(a).leave(now);
        h.settle();
        let sent = h.take_sent(a);
        let mut apis: Vec<ApiKey> = sent.iter().map(Request::api_key).collect();
        apis.sort_by_key(|k| *k as i16);
        apis.dedup();
        let expected_leave = instance.is_none();
        assert_eq!(apis.contains(&ApiKey::LeaveGroup), expected_leave);
        assert!(apis.len() >= 6, "{apis:?}");

        for request in sent {
            let range = request.api_key().versions();
            for version in range.min..=range.max {
                match request.clone().for_version(version) {
                    Ok(r) => {
                        r.encode(version)
                            .unwrap_or_else(|e| panic!("{:?} v{version}: {e}", r.api_key()));
                    }
                    Err(Error::UnsupportedVersion { .. }) => {
                        assert!(instance.is_some(), "{:?} v{version}", request.api_key());
                    }
                    Err(e) => panic!("{e}"),
                }
            }
        }
    }
}

#[test]
fn for_version_moves_the_group_between_fields() {
    let mut h = Harness::new(TopicPartitions::new().with_topic("t", 2));
    let a = h.add(config().build().unwrap(), &["t"]);
    h.run_until_stable(Duration::from_secs(30));
    for request in h.take_sent(a) {
        match request {
            Request::FindCoordinator(r) => {
                assert_eq!(r.coordinator_keys.len(), 1);
                let Request::FindCoordinator(old) =
                    Request::FindCoordinator(r.clone()).for_version(3).unwrap()
                else {
                    unreachable!()
                };
                assert_eq!(old.key.as_str(), support::GROUP);
                assert!(old.coordinator_keys.is_empty());
                let Request::FindCoordinator(new) =
                    Request::FindCoordinator(old).for_version(4).unwrap()
                else {
                    unreachable!()
                };
                assert_eq!(new.coordinator_keys, r.coordinator_keys);
            }
            Request::OffsetFetch(r) => {
                let Request::OffsetFetch(old) = Request::OffsetFetch(r).for_version(6).unwrap()
                else {
                    unreachable!()
                };
                assert_eq!(old.group_id.as_str(), support::GROUP);
                assert_eq!(old.topics.as_ref().map(Vec::len), Some(1));
                assert!(old.groups.is_empty());
                let decoded = gregor_protocol::messages::OffsetFetchRequest::decode_from_bytes(
                    old.encode_to_bytes(6).unwrap(),
                    6,
                )
                .unwrap();
                assert_eq!(decoded, old);
            }
            _ => {}
        }
    }
}
