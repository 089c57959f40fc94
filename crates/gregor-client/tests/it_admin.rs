//! The admin client against a real broker: every operation the broker
//! offers, with its results checked. Under `cargo xtask integration` that is
//! nisshi 0.8.1, which (measured) has no CreatePartitions or OffsetDelete,
//! no authorizer (ACL requests answer `SECURITY_DISABLED`), and stores SCRAM
//! credentials only with sqlite storage (the SASL broker); those tests check
//! for the clear error instead, and for the real thing where the broker has
//! it.

use std::collections::BTreeSet;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use gregor_client::Error;
use gregor_client::admin::*;
use gregor_net::conn::{Conn, Message};
use gregor_net::{Cluster, ClusterConfig, Connection, ConnectionConfig, Connector, SaslConfig};
use gregor_protocol::messages::MetadataRequest;
use gregor_protocol::{ApiKey, ErrorCode};
use gregor_testkit::{BrokerKind, Capability};

const TIMEOUT: Duration = Duration::from_secs(20);

fn unique(name: &str) -> String {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .subsec_nanos();
    format!("admin-{name}-{}-{nanos}", std::process::id())
}

async fn admin(test: &str) -> Option<(Admin, String)> {
    let bootstrap = gregor_testkit::bootstrap(test)?;
    let admin = Admin::connect(&bootstrap)
        .await
        .unwrap()
        .with_timeout(TIMEOUT);
    Some((admin, bootstrap))
}

/// The Kafka error code of a broker error.
fn code(e: &Error) -> Option<ErrorCode> {
    match e {
        Error::Net(n) => match n.root() {
            gregor_net::Error::Broker { code, .. } => Some(*code),
            _ => None,
        },
        _ => None,
    }
}

fn is_nisshi() -> bool {
    BrokerKind::current() == BrokerKind::Nisshi
}

/// Asserts `result` is the clear "not supported by this broker" error for
/// `api`, naming the API and the broker.
fn assert_not_supported<T: std::fmt::Debug>(
    result: &Result<T, Error>,
    api: ApiKey,
    bootstrap: &str,
) {
    match result {
        Err(e @ Error::NotSupported { api: a, broker, .. }) => {
            assert_eq!(*a, api, "{e}");
            let text = e.to_string();
            assert!(text.contains(api.name()), "{text}");
            assert!(text.contains("not supported by broker"), "{text}");
            assert!(text.contains(broker.addr()), "{text}");
            assert_eq!(broker.addr(), bootstrap, "{text}");
            assert!(!e.is_retriable());
        }
        other => panic!("expected {api} to be not supported, got {other:?}"),
    }
}

async fn create(admin: &Admin, topic: &NewTopic) {
    let created = admin.create_topics(std::slice::from_ref(topic)).await;
    created.into_result().unwrap();
}

/// Writes `messages` to `topic`/`partition` through a kafka-go style `Conn`
/// at the partition's leader (a new topic's leader may take a moment).
async fn produce(bootstrap: &str, topic: &str, partition: i32, messages: &[Message]) {
    let connector = Connector::default();
    let deadline = tokio::time::Instant::now() + TIMEOUT;
    let mut conn = loop {
        match Conn::dial_leader(&connector, bootstrap, topic, partition).await {
            Ok(c) => break c,
            Err(e) if e.is_retriable() && tokio::time::Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            Err(e) => panic!("dial_leader {topic}/{partition}: {e}"),
        }
    };
    conn.set_timeout(Some(TIMEOUT));
    conn.write_messages(messages).await.unwrap();
}

fn messages(n: usize) -> Vec<Message> {
    (0..n)
        .map(|i| Message::new(format!("k{i}"), format!("v{i}")))
        .collect()
}

/// Polls `check` until it holds (metadata and group state settle
/// asynchronously on real clusters).
async fn eventually<F, Fut>(what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + TIMEOUT;
    while !check().await {
        assert!(tokio::time::Instant::now() < deadline, "timed out: {what}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test]
async fn creates_topics_with_configs_lists_describes_and_deletes_them() {
    let Some((admin, _)) =
        admin("creates_topics_with_configs_lists_describes_and_deletes_them").await
    else {
        return;
    };
    let (t1, t2, t3) = (unique("cfg"), unique("plain"), unique("third"));
    let missing = unique("missing");
    let created = admin
        .create_topics(&[
            NewTopic::new(&t1, 3, 1)
                .with_config("retention.ms", "3600000")
                .with_config("cleanup.policy", "compact"),
            NewTopic::new(&t2, 1, 1),
        ])
        .await;
    assert_eq!(created.len(), 2);
    let c1 = created.get(&t1).unwrap().as_ref().unwrap();
    // nisshi answers CreateTopics v7: counts and the topic id come back.
    assert_eq!(c1.partitions, Some(3));
    assert_eq!(c1.replication_factor, Some(1));
    assert!(c1.id.is_some());
    assert!(created.get(&t2).unwrap().is_ok());

    // Per-topic results: one that exists fails alone.
    let again = admin
        .create_topics(&[NewTopic::new(&t1, 3, 1), NewTopic::new(&t3, 2, 1)])
        .await;
    let dup = again.get(&t1).unwrap().as_ref().unwrap_err();
    assert_eq!(code(dup), Some(ErrorCode::TopicAlreadyExists), "{dup}");
    assert!(dup.to_string().contains(&t1), "{dup}");
    assert!(again.get(&t3).unwrap().is_ok());

    // The configs given at creation are the topic's.
    let resource = ConfigResource::Topic(t1.clone());
    let described = admin
        .describe_configs(std::slice::from_ref(&resource))
        .await;
    let config = described.get(&resource).unwrap().as_ref().unwrap();
    assert_eq!(config.value("retention.ms"), Some("3600000"), "{config:?}");
    assert_eq!(
        config.value("cleanup.policy"),
        Some("compact"),
        "{config:?}"
    );
    let entry = config.get("retention.ms").unwrap();
    assert_eq!(entry.source, ConfigSource::DynamicTopic);
    assert!(!entry.is_default && !entry.read_only && !entry.sensitive);

    // Describe: partitions with leaders among the cluster's brokers.
    let brokers: BTreeSet<BrokerId> = admin
        .describe_cluster()
        .await
        .unwrap()
        .brokers
        .iter()
        .map(|b| b.id)
        .collect();
    let topics = admin
        .describe_topics(&[t1.as_str(), t2.as_str(), &missing])
        .await;
    let d1 = topics.get(&t1).unwrap().as_ref().unwrap();
    assert_eq!(d1.name, t1);
    assert!(!d1.internal);
    assert_eq!(
        d1.partitions
            .iter()
            .map(|p| p.partition)
            .collect::<Vec<_>>(),
        [0, 1, 2]
    );
    for p in &d1.partitions {
        assert!(p.leader.is_some_and(|l| brokers.contains(&l)), "{p:?}");
        assert_eq!(p.replicas.len(), 1, "{p:?}");
    }
    assert_eq!(
        topics.get(&t2).unwrap().as_ref().unwrap().partitions.len(),
        1
    );
    let gone = topics.get(&missing).unwrap().as_ref().unwrap_err();
    assert_eq!(
        code(gone),
        Some(ErrorCode::UnknownTopicOrPartition),
        "{gone}"
    );

    // List: ours are there, internal topics only when asked for.
    let listed = admin.list_topics(false).await.unwrap();
    assert!(listed.iter().all(|t| !t.internal));
    let count = |name: &str| {
        listed
            .iter()
            .find(|t| t.name == name)
            .map(|t| t.partitions.len())
    };
    assert_eq!(count(&t1), Some(3));
    assert_eq!(count(&t2), Some(1));
    assert_eq!(count(&t3), Some(2));
    let names: Vec<&str> = listed.iter().map(|t| t.name.as_str()).collect();
    assert!(names.is_sorted(), "{names:?}");
    let with_internal = admin.list_topics(true).await.unwrap();
    for t in &listed {
        assert!(with_internal.iter().any(|w| w.name == t.name), "{}", t.name);
    }

    // Delete: per-topic results again.
    let deleted = admin
        .delete_topics(&[t1.as_str(), t2.as_str(), t3.as_str(), &missing])
        .await;
    for t in [&t1, &t2, &t3] {
        assert!(deleted.get(t).unwrap().is_ok(), "{deleted:?}");
    }
    let err = deleted.get(&missing).unwrap().as_ref().unwrap_err();
    assert_eq!(code(err), Some(ErrorCode::UnknownTopicOrPartition), "{err}");
    eventually("deleted topics leave the listing", || async {
        let listed = admin.list_topics(false).await.unwrap();
        !listed.iter().any(|t| [&t1, &t2, &t3].contains(&&t.name))
    })
    .await;
}

#[tokio::test]
async fn validate_only_creates_nothing() {
    let Some((admin, _)) = admin("validate_only_creates_nothing").await else {
        return;
    };
    let (t, t_defaults) = (unique("validate"), unique("validate-defaults"));
    let validated = admin
        .validate_topics(&[
            NewTopic::new(&t, 4, 1).with_config("retention.ms", "60000"),
            NewTopic::with_defaults(&t_defaults),
        ])
        .await;
    let v = validated.get(&t).unwrap().as_ref().unwrap();
    assert_eq!(v.partitions, Some(4));
    // The broker filled in its default partition count and replication.
    let d = validated.get(&t_defaults).unwrap().as_ref().unwrap();
    assert!(d.partitions.is_some_and(|p| p > 0), "{d:?}");
    assert!(d.replication_factor.is_some_and(|r| r > 0), "{d:?}");

    let described = admin.describe_topics(&[&t, &t_defaults]).await;
    for (name, r) in described {
        let e = r.unwrap_err();
        assert_eq!(
            code(&e),
            Some(ErrorCode::UnknownTopicOrPartition),
            "{name}: {e}"
        );
    }
    let listed = admin.list_topics(true).await.unwrap();
    assert!(!listed.iter().any(|x| x.name == t || x.name == t_defaults));
    // ...and it can still be created for real afterwards.
    create(&admin, &NewTopic::new(&t, 4, 1)).await;
    admin.delete_topics(&[&t]).await.into_result().unwrap();
}

#[tokio::test]
async fn describes_the_cluster_and_a_brokers_configs() {
    let Some((admin, bootstrap)) = admin("describes_the_cluster_and_a_brokers_configs").await
    else {
        return;
    };
    let cluster = admin.describe_cluster().await.unwrap();
    let id = cluster.cluster_id.as_deref().unwrap();
    assert!(!id.is_empty());
    assert!(!cluster.brokers.is_empty());
    let controller = cluster.controller.unwrap();
    assert!(
        cluster.brokers.iter().any(|b| b.id == controller),
        "{cluster:?}"
    );
    assert!(cluster.brokers.is_sorted_by_key(|b| b.id));
    // The same brokers the cluster's metadata lists, and the bootstrap
    // server is one of them.
    let md = admin.cluster().refresh().await.unwrap();
    let from_md: Vec<(BrokerId, String, i32)> = md
        .brokers()
        .map(|b| (b.id, b.host.clone(), b.port))
        .collect();
    let described: Vec<(BrokerId, String, i32)> = cluster
        .brokers
        .iter()
        .map(|b| (b.id, b.host.clone(), b.port))
        .collect();
    assert_eq!(described, from_md);
    assert_eq!(md.cluster_id(), Some(id));
    assert!(
        cluster
            .brokers
            .iter()
            .any(|b| format!("{}:{}", b.host, b.port) == bootstrap),
        "{cluster:?}"
    );

    // A broker's configs are asked of that broker.
    let broker = ConfigResource::Broker(controller);
    let configs = admin.describe_configs(std::slice::from_ref(&broker)).await;
    assert!(configs.get(&broker).unwrap().is_ok(), "{configs:?}");
}

#[tokio::test]
async fn alters_topic_configs_incrementally() {
    let Some((admin, _)) = admin("alters_topic_configs_incrementally").await else {
        return;
    };
    let t = unique("alter");
    create(
        &admin,
        &NewTopic::new(&t, 1, 1)
            .with_config("cleanup.policy", "delete")
            .with_config("retention.ms", "1000000"),
    )
    .await;
    let resource = ConfigResource::Topic(t.clone());
    let describe = async || {
        let r = admin
            .describe_configs(std::slice::from_ref(&resource))
            .await;
        r.into_result().unwrap().remove(0).1
    };

    let altered = admin
        .alter_configs(&[(
            resource.clone(),
            vec![
                AlterConfigOp::set("segment.ms", "100000"),
                AlterConfigOp::append("cleanup.policy", "compact"),
                AlterConfigOp::delete("retention.ms"),
            ],
        )])
        .await;
    altered.into_result().unwrap();
    let config = describe().await;
    assert_eq!(config.value("segment.ms"), Some("100000"), "{config:?}");
    let policies: BTreeSet<&str> = config.value("cleanup.policy").unwrap().split(',').collect();
    assert_eq!(policies, BTreeSet::from(["compact", "delete"]));
    // Deleted: back to the default (not listed, or listed as a default).
    assert!(
        config
            .get("retention.ms")
            .is_none_or(|e| e.source != ConfigSource::DynamicTopic),
        "{config:?}"
    );

    admin
        .alter_configs(&[(
            resource.clone(),
            vec![AlterConfigOp::subtract("cleanup.policy", "delete")],
        )])
        .await
        .into_result()
        .unwrap();
    assert_eq!(describe().await.value("cleanup.policy"), Some("compact"));
    admin.delete_topics(&[&t]).await.into_result().unwrap();
}

#[tokio::test]
async fn committed_offsets_make_a_group_to_list_describe_lag_and_delete() {
    let Some((admin, bootstrap)) =
        admin("committed_offsets_make_a_group_to_list_describe_lag_and_delete").await
    else {
        return;
    };
    let t = unique("offsets");
    create(&admin, &NewTopic::new(&t, 2, 1)).await;
    produce(&bootstrap, &t, 0, &messages(5)).await;
    produce(&bootstrap, &t, 1, &messages(3)).await;
    let (p0, p1) = (TopicPartition::new(&t, 0), TopicPartition::new(&t, 1));

    // A new group id: committing offsets creates the group.
    let group = unique("group");
    let committed = admin
        .alter_group_offsets(
            &group,
            &[
                (
                    p0.clone(),
                    OffsetAndMetadata::new(2).with_metadata("checkpoint"),
                ),
                (p1.clone(), OffsetAndMetadata::new(3)),
            ],
        )
        .await;
    committed.into_result().unwrap();

    let offsets = admin.list_group_offsets(&group).await.unwrap();
    assert_eq!(offsets.len(), 2, "{offsets:?}");
    assert_eq!(offsets[&p0].offset, 2);
    if !is_nisshi() {
        // nisshi 0.8.1 drops commit metadata (librdkafka reads back none
        // either).
        assert_eq!(offsets[&p0].metadata.as_deref(), Some("checkpoint"));
    }
    assert_eq!(offsets[&p1].offset, 3);
    let some = admin
        .list_group_offsets_for(&group, std::slice::from_ref(&p1))
        .await
        .unwrap();
    assert_eq!(some.keys().collect::<Vec<_>>(), [&p1]);

    // Listed, in state Empty (ListGroups v4+ reports states).
    let listed = admin.list_groups(&GroupFilter::default()).await.unwrap();
    assert!(listed.errors.is_empty(), "{:?}", listed.errors);
    let ours = listed.groups.iter().find(|g| g.group_id == group).unwrap();
    assert_eq!(ours.state, Some(GroupState::Empty));
    let empty = admin
        .list_groups(&GroupFilter::default().with_state(GroupState::Empty))
        .await
        .unwrap();
    assert!(empty.groups.iter().any(|g| g.group_id == group));
    let stable = admin
        .list_groups(&GroupFilter::default().with_state(GroupState::Stable))
        .await
        .unwrap();
    assert!(!stable.groups.iter().any(|g| g.group_id == group));

    let described = admin.describe_groups(&[&group]).await;
    let d = described.get(&group).unwrap().as_ref().unwrap();
    assert_eq!(d.state, GroupState::Empty);
    assert!(d.members.is_empty());

    // Lag: partition end minus committed offset.
    let lag = admin.lag(&group).await.unwrap().into_result().unwrap();
    assert_eq!(lag.len(), 2);
    let l0 = lag.iter().find(|(tp, _)| *tp == p0).unwrap().1;
    assert_eq!((l0.committed, l0.end_offset, l0.lag), (Some(2), 5, Some(3)));
    let l1 = lag.iter().find(|(tp, _)| *tp == p1).unwrap().1;
    assert_eq!((l1.committed, l1.end_offset, l1.lag), (Some(3), 3, Some(0)));

    // Rewind p0 and see the lag grow.
    admin
        .alter_group_offsets(&group, &[(p0.clone(), OffsetAndMetadata::new(0))])
        .await
        .into_result()
        .unwrap();
    let lag = admin.lag(&group).await.unwrap();
    assert_eq!(lag.get(&p0).unwrap().as_ref().unwrap().lag, Some(5));

    // OffsetDelete: nisshi does not offer it.
    let deleted = admin
        .delete_group_offsets(&group, std::slice::from_ref(&p0))
        .await;
    let r0 = deleted.get(&p0).unwrap();
    if is_nisshi() {
        assert_not_supported(r0, ApiKey::OffsetDelete, &bootstrap);
    } else {
        r0.as_ref().unwrap();
        let left = admin.list_group_offsets(&group).await.unwrap();
        assert_eq!(left.keys().collect::<Vec<_>>(), [&p1]);
    }

    admin.delete_groups(&[&group]).await.into_result().unwrap();
    let listed = admin.list_groups(&GroupFilter::default()).await.unwrap();
    assert!(!listed.groups.iter().any(|g| g.group_id == group));
    assert!(admin.list_group_offsets(&group).await.unwrap().is_empty());
    assert!(admin.lag(&group).await.unwrap().is_empty());
    admin.delete_topics(&[&t]).await.into_result().unwrap();
}

/// Kills the peer consumer if a test panics while it runs.
struct Member(std::process::Child);

impl Drop for Member {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[tokio::test]
async fn describes_a_librdkafka_consumer_group() {
    let test = "describes_a_librdkafka_consumer_group";
    let Some((admin, bootstrap)) = admin(test).await else {
        return;
    };
    let Some(python) = gregor_testkit::peers::python(test) else {
        return;
    };
    let t = unique("members");
    create(&admin, &NewTopic::new(&t, 2, 1)).await;
    let group = unique("rdkafka-group");
    let child = gregor_testkit::peers::librdkafka_group_member(
        &python,
        &bootstrap,
        &group,
        &t,
        "gregor-admin-peer",
    )
    .unwrap();
    let mut member = Member(child);
    let (member_back, joined) = tokio::task::spawn_blocking(move || {
        let line = gregor_testkit::peers::read_json_line(&mut member.0);
        (member, line)
    })
    .await
    .unwrap();
    member = member_back;
    let joined = joined.unwrap();
    assert_eq!(joined["assigned"].as_array().unwrap().len(), 2, "{joined}");

    let described = admin.describe_groups(&[&group]).await;
    let d = described.get(&group).unwrap().as_ref().unwrap();
    assert_eq!(d.state, GroupState::Stable, "{d:?}");
    assert_eq!(d.protocol_type, "consumer");
    if !is_nisshi() {
        // nisshi 0.8.1 leaves the chosen protocol empty (kafka-python sees
        // the same).
        assert_eq!(d.protocol, "range", "{d:?}");
    }
    assert_eq!(d.members.len(), 1, "{d:?}");
    let m = &d.members[0];
    // Kafka makes a classic member's id from its client id.
    assert!(m.member_id.starts_with("gregor-admin-peer-"), "{m:?}");
    if is_nisshi() {
        // nisshi 0.8.1 describes members without client id, host,
        // metadata or assignment (kafka-python sees the same), so there is
        // nothing to decode; the unit tests decode real member bytes.
        assert!(m.metadata.is_empty() && m.subscription.is_none(), "{m:?}");
    } else {
        assert_eq!(m.client_id, "gregor-admin-peer");
        assert!(!m.client_host.is_empty());
        let sub = m.subscription.as_ref().unwrap();
        assert_eq!(sub.topics, std::slice::from_ref(&t));
        let assignment = m.assignment.as_ref().unwrap();
        assert_eq!(
            assignment.partitions,
            [TopicPartition::new(&t, 0), TopicPartition::new(&t, 1)]
        );
    }

    let stable = admin
        .list_groups(&GroupFilter::default().with_state(GroupState::Stable))
        .await
        .unwrap();
    let listed = stable.groups.iter().find(|g| g.group_id == group).unwrap();
    assert_eq!(listed.protocol_type, "consumer");

    // A group with members cannot be deleted.
    let refused = admin.delete_groups(&[&group]).await;
    let e = refused.get(&group).unwrap().as_ref().unwrap_err();
    assert_eq!(code(e), Some(ErrorCode::NonEmptyGroup), "{e}");

    // No commits yet: lag covers the assigned partitions (where the broker
    // describes assignments), without a committed offset.
    let lag = admin.lag(&group).await.unwrap().into_result().unwrap();
    assert_eq!(lag.len(), if is_nisshi() { 0 } else { 2 }, "{lag:?}");
    assert!(
        lag.iter()
            .all(|(_, l)| l.committed.is_none() && l.lag.is_none())
    );

    // The member leaves: the group empties and can be deleted.
    drop(member.0.stdin.take());
    let status = tokio::task::spawn_blocking(move || {
        let s = member.0.wait();
        (member, s)
    })
    .await
    .unwrap()
    .1
    .unwrap();
    assert!(status.success(), "{status}");
    eventually("the group empties once its member left", || async {
        let d = admin.describe_groups(&[&group]).await;
        match d.get(&group) {
            Some(Ok(g)) => g.members.is_empty(),
            _ => true,
        }
    })
    .await;
    let deleted = admin.delete_groups(&[&group]).await;
    let r = deleted.get(&group).unwrap();
    // An empty group without offsets may already be gone.
    assert!(
        r.is_ok()
            || r.as_ref()
                .is_err_and(|e| code(e) == Some(ErrorCode::GroupIdNotFound)),
        "{r:?}"
    );
    admin.delete_topics(&[&t]).await.into_result().unwrap();
}

#[tokio::test]
async fn lists_offsets_by_position_and_time_and_deletes_records() {
    let Some((admin, bootstrap)) =
        admin("lists_offsets_by_position_and_time_and_deletes_records").await
    else {
        return;
    };
    let t = unique("records");
    create(&admin, &NewTopic::new(&t, 2, 1)).await;
    // Ten records one second apart, an hour ago.
    let base = (SystemTime::now() - Duration::from_secs(3600))
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
        / 1000
        * 1000;
    let timed: Vec<Message> = (0..10)
        .map(|i| {
            Message::new(format!("k{i}"), format!("v{i}"))
                .with_time(UNIX_EPOCH + Duration::from_millis((base + i * 1000) as u64))
        })
        .collect();
    produce(&bootstrap, &t, 0, &timed).await;
    let (p0, p1) = (TopicPartition::new(&t, 0), TopicPartition::new(&t, 1));

    let listed = admin
        .list_offsets(&[
            (p0.clone(), OffsetSpec::Earliest),
            (p1.clone(), OffsetSpec::Latest),
        ])
        .await;
    assert_eq!(listed.get(&p0).unwrap().as_ref().unwrap().offset, Some(0));
    assert_eq!(listed.get(&p1).unwrap().as_ref().unwrap().offset, Some(0));
    let latest = admin
        .list_offsets(&[(p0.clone(), OffsetSpec::Latest)])
        .await;
    assert_eq!(latest.get(&p0).unwrap().as_ref().unwrap().offset, Some(10));

    // By time: the first record at or after the timestamp.
    let by_time = |ms: i64| {
        let admin = &admin;
        let p0 = p0.clone();
        async move {
            let r = admin
                .list_offsets(&[(p0.clone(), OffsetSpec::Timestamp(ms))])
                .await;
            *r.get(&p0).unwrap().as_ref().unwrap()
        }
    };
    let at5 = by_time(base + 5000).await;
    assert_eq!(at5.offset, Some(5));
    assert_eq!(at5.timestamp, Some(base + 5000));
    assert_eq!(by_time(base + 4500).await.offset, Some(5));
    assert_eq!(by_time(0).await.offset, Some(0));
    assert_eq!(by_time(base + 60_000).await.offset, None);
    let at = admin
        .list_offsets(&[(
            p0.clone(),
            OffsetSpec::at(UNIX_EPOCH + Duration::from_millis((base + 7000) as u64)),
        )])
        .await;
    assert_eq!(at.get(&p0).unwrap().as_ref().unwrap().offset, Some(7));

    // The max-timestamp offset needs ListOffsets v7; nisshi speaks v6.
    let max = admin
        .list_offsets(&[(p0.clone(), OffsetSpec::MaxTimestamp)])
        .await;
    let max = max.get(&p0).unwrap();
    if is_nisshi() {
        assert_not_supported(max, ApiKey::ListOffsets, &bootstrap);
    } else {
        assert_eq!(max.as_ref().unwrap().offset, Some(9));
    }

    // A partition the topic does not have fails once the timeout runs out.
    let short = admin.clone().with_timeout(Duration::from_millis(500));
    let p9 = TopicPartition::new(&t, 9);
    let none = short
        .list_offsets(&[(p9.clone(), OffsetSpec::Latest)])
        .await;
    let e = none.get(&p9).unwrap().as_ref().unwrap_err();
    assert!(
        matches!(e, Error::Net(gregor_net::Error::UnknownPartition { .. })),
        "{e}"
    );

    // Delete records before offset 4, then everything.
    let deleted = admin.delete_records(&[(p0.clone(), 4)]).await;
    assert_eq!(*deleted.get(&p0).unwrap().as_ref().unwrap(), 4);
    let earliest = admin
        .list_offsets(&[(p0.clone(), OffsetSpec::Earliest)])
        .await;
    assert_eq!(earliest.get(&p0).unwrap().as_ref().unwrap().offset, Some(4));
    let all = admin
        .delete_records(&[(p0.clone(), -1), (p1.clone(), -1)])
        .await;
    assert_eq!(*all.get(&p0).unwrap().as_ref().unwrap(), 10);
    assert_eq!(*all.get(&p1).unwrap().as_ref().unwrap(), 0);
    let beyond = admin.delete_records(&[(p0.clone(), 100)]).await;
    let e = beyond.get(&p0).unwrap().as_ref().unwrap_err();
    assert_eq!(code(e), Some(ErrorCode::OffsetOutOfRange), "{e}");
    admin.delete_topics(&[&t]).await.into_result().unwrap();
}

#[tokio::test]
async fn create_partitions_grows_a_topic_or_is_clearly_not_supported() {
    let Some((admin, bootstrap)) =
        admin("create_partitions_grows_a_topic_or_is_clearly_not_supported").await
    else {
        return;
    };
    let t = unique("grow");
    create(&admin, &NewTopic::new(&t, 1, 1)).await;
    let grown = admin
        .create_partitions(&[NewPartitions::increase_to(&t, 3)])
        .await;
    let r = grown.get(&t).unwrap();
    if gregor_testkit::supports(Capability::CreatePartitions) {
        r.as_ref().unwrap();
        eventually("the topic has 3 partitions", || async {
            let d = admin.describe_topics(&[&t]).await;
            d.get(&t)
                .unwrap()
                .as_ref()
                .is_ok_and(|d| d.partitions.len() == 3)
        })
        .await;
    } else {
        // nisshi 0.8.1 does not list CreatePartitions in ApiVersions.
        assert_not_supported(r, ApiKey::CreatePartitions, &bootstrap);
        let d = admin.describe_topics(&[&t]).await;
        assert_eq!(d.get(&t).unwrap().as_ref().unwrap().partitions.len(), 1);
    }
    admin.delete_topics(&[&t]).await.into_result().unwrap();
}

#[tokio::test]
async fn acls_are_created_described_and_deleted_where_there_is_an_authorizer() {
    let Some((admin, _)) =
        admin("acls_are_created_described_and_deleted_where_there_is_an_authorizer").await
    else {
        return;
    };
    let principal = format!("User:{}", unique("acl-user"));
    let acl = AclBinding::new(
        ResourceType::Topic,
        unique("acl-topic"),
        &principal,
        AclOperation::Read,
        AclPermission::Allow,
    );
    let prefixed = AclBinding::new(
        ResourceType::Group,
        "admin-acl-",
        &principal,
        AclOperation::Describe,
        AclPermission::Deny,
    )
    .with_pattern_type(PatternType::Prefixed);
    let created = admin.create_acls(&[acl.clone(), prefixed.clone()]).await;
    let mine = AclFilter::any().with_principal(&principal);
    match created.get(&acl).unwrap() {
        Ok(()) => {
            created.into_result().unwrap();
            let mut found = admin.describe_acls(&mine).await.unwrap();
            found.sort();
            let mut expected = vec![acl.clone(), prefixed.clone()];
            expected.sort();
            assert_eq!(found, expected);
            let deleted = admin.delete_acls(&[acl.to_filter(), mine.clone()]).await;
            let exact = deleted.get(&acl.to_filter()).unwrap().as_ref().unwrap();
            assert_eq!(exact.iter().map(|(a, _)| a).collect::<Vec<_>>(), [&acl]);
            assert!(admin.describe_acls(&mine).await.unwrap().is_empty());
        }
        // nisshi 0.8.1 runs without an authorizer: every ACL request is
        // refused with SECURITY_DISABLED, which comes back as such.
        Err(e) => {
            assert!(is_nisshi(), "{e}");
            assert_eq!(code(e), Some(ErrorCode::SecurityDisabled), "{e}");
            assert!(e.to_string().contains("CreateAcls"), "{e}");
            let described = admin.describe_acls(&mine).await.unwrap_err();
            assert_eq!(code(&described), Some(ErrorCode::SecurityDisabled));
            let deleted = admin.delete_acls(std::slice::from_ref(&mine)).await;
            let e = deleted.get(&mine).unwrap().as_ref().unwrap_err();
            assert_eq!(code(e), Some(ErrorCode::SecurityDisabled), "{e}");
        }
    }
}

/// The SCRAM broker `cargo xtask integration` starts (sqlite storage, so it
/// can store credentials), and its administrator's login.
fn sasl_broker(test: &str) -> Option<(String, String, String)> {
    let bootstrap = gregor_testkit::bootstrap_for("GREGOR_SASL_", test)?;
    let var = |name: &str| {
        std::env::var(name)
            .unwrap_or_else(|_| panic!("{test}: GREGOR_SASL_BOOTSTRAP is set but {name} is not"))
    };
    Some((
        bootstrap,
        var("GREGOR_SASL_USER"),
        var("GREGOR_SASL_PASSWORD"),
    ))
}

fn connection_config() -> ConnectionConfig {
    ConnectionConfig::builder()
        .client_id("gregor-it-admin")
        .connect_timeout(Duration::from_secs(10))
        .request_timeout(Duration::from_secs(10))
        .build()
        .unwrap()
}

/// Logs in as `sasl` and asks for metadata.
async fn login(bootstrap: &str, sasl: SaslConfig) -> Result<(), gregor_net::Error> {
    let conn: Connection = Connector::new(connection_config())
        .with_sasl(sasl)
        .connect(bootstrap)
        .await?;
    conn.send(&MetadataRequest::default().with_topics(None))
        .await
        .map(|_| ())
}

#[tokio::test]
async fn scram_credentials_set_here_log_in_and_can_be_deleted() {
    let test = "scram_credentials_set_here_log_in_and_can_be_deleted";
    let Some((bootstrap, admin_user, admin_password)) = sasl_broker(test) else {
        return;
    };
    let connector = Connector::new(connection_config())
        .with_sasl(SaslConfig::scram_sha512(&admin_user, &admin_password));
    let config = ClusterConfig::builder()
        .bootstrap_servers([bootstrap.as_str()])
        .connector(connector)
        .build()
        .unwrap();
    let admin = Admin::new(Cluster::connect(config).await.unwrap()).with_timeout(TIMEOUT);
    let user = unique("scram-user");
    let password = "correct horse battery staple";

    let before = admin
        .describe_user_scram_credentials(&[&user])
        .await
        .unwrap();
    let e = before.get(&user).unwrap().as_ref().unwrap_err();
    assert_eq!(code(e), Some(ErrorCode::ResourceNotFound), "{e}");

    let set = admin
        .alter_user_scram_credentials(&[
            ScramAlteration::upsert(&user, ScramMechanism::Sha256, 4096, password),
            ScramAlteration::upsert(&user, ScramMechanism::Sha512, 8192, password),
        ])
        .await;
    set.into_result().unwrap();
    // nisshi 0.8.1 answers DescribeUserScramCredentials with no users at
    // all, even its administrator (kafka-python sees the same); the logins
    // below show the credentials are there.
    let describes = !is_nisshi();
    let all = admin
        .describe_user_scram_credentials::<&str>(&[])
        .await
        .unwrap();
    if describes {
        let described = admin
            .describe_user_scram_credentials(&[&user])
            .await
            .unwrap();
        let mut creds = described.get(&user).unwrap().as_ref().unwrap().clone();
        creds.sort_by_key(|c| c.mechanism);
        assert_eq!(
            creds
                .iter()
                .map(|c| (c.mechanism, c.iterations))
                .collect::<Vec<_>>(),
            [
                (ScramMechanism::Sha256, 4096),
                (ScramMechanism::Sha512, 8192)
            ]
        );
        assert!(all.get(&user).is_some_and(|r| r.is_ok()));
        assert!(all.get(&admin_user).is_some_and(|r| r.is_ok()));
    } else {
        assert!(all.is_empty(), "{all:?}");
    }

    // The salted passwords computed here are what the broker checks logins
    // against.
    login(&bootstrap, SaslConfig::scram_sha256(&user, password))
        .await
        .unwrap();
    login(&bootstrap, SaslConfig::scram_sha512(&user, password))
        .await
        .unwrap();
    let wrong = login(&bootstrap, SaslConfig::scram_sha256(&user, "wrong")).await;
    assert!(
        matches!(wrong, Err(gregor_net::Error::Authentication { .. })),
        "{wrong:?}"
    );

    admin
        .alter_user_scram_credentials(&[ScramAlteration::delete(&user, ScramMechanism::Sha256)])
        .await
        .into_result()
        .unwrap();
    if describes {
        let left = admin
            .describe_user_scram_credentials(&[&user])
            .await
            .unwrap();
        let left = left.get(&user).unwrap().as_ref().unwrap();
        assert_eq!(left.len(), 1);
        assert_eq!(left[0].mechanism, ScramMechanism::Sha512);
    }
    let gone = login(&bootstrap, SaslConfig::scram_sha256(&user, password)).await;
    assert!(gone.is_err(), "SCRAM-SHA-256 login after its deletion");
    login(&bootstrap, SaslConfig::scram_sha512(&user, password))
        .await
        .unwrap();

    admin
        .alter_user_scram_credentials(&[ScramAlteration::delete(&user, ScramMechanism::Sha512)])
        .await
        .into_result()
        .unwrap();
    let after = admin
        .describe_user_scram_credentials(&[&user])
        .await
        .unwrap();
    let e = after.get(&user).unwrap().as_ref().unwrap_err();
    assert_eq!(code(e), Some(ErrorCode::ResourceNotFound), "{e}");
    let gone = login(&bootstrap, SaslConfig::scram_sha512(&user, password)).await;
    assert!(gone.is_err(), "SCRAM-SHA-512 login after its deletion");
}

#[tokio::test]
async fn scram_on_a_broker_that_cannot_store_credentials_fails_clearly() {
    let Some((admin, _)) =
        admin("scram_on_a_broker_that_cannot_store_credentials_fails_clearly").await
    else {
        return;
    };
    let all = admin
        .describe_user_scram_credentials::<&str>(&[])
        .await
        .unwrap();
    let user = unique("nobody");
    let set = admin
        .alter_user_scram_credentials(&[ScramAlteration::upsert(
            &user,
            ScramMechanism::Sha256,
            4096,
            "pw",
        )])
        .await;
    let r = set.get(&user).unwrap();
    if is_nisshi() {
        // The plain broker's memory storage keeps no SCRAM users; nisshi
        // says so with UNSUPPORTED_VERSION and an explaining message.
        assert!(all.is_empty(), "{all:?}");
        let e = r.as_ref().unwrap_err();
        assert_eq!(code(e), Some(ErrorCode::UnsupportedVersion), "{e}");
        assert!(e.to_string().contains("AlterUserScramCredentials"), "{e}");
        assert!(e.to_string().contains("storage"), "{e}");
    } else {
        r.as_ref().unwrap();
        admin
            .alter_user_scram_credentials(&[ScramAlteration::delete(&user, ScramMechanism::Sha256)])
            .await
            .into_result()
            .unwrap();
    }
}
