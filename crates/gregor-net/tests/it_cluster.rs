//! The cluster layer against the real broker: bootstrap past a dead
//! address, create a topic through the controller, route to its leaders,
//! find a group coordinator, and share one connection per broker.

use std::time::Duration;

use gregor_net::{BrokerId, Cluster, ClusterConfig, CoordinatorKey};
use gregor_protocol::ErrorCode;
use gregor_protocol::messages::create_topics_request::CreatableTopic;
use gregor_protocol::messages::list_offsets_request::{ListOffsetsPartition, ListOffsetsTopic};
use gregor_protocol::messages::{
    CreateTopicsRequest, HeartbeatRequest, ListOffsetsRequest, MetadataRequest,
};

/// Long enough for a broker on a loaded 2-core machine to create a topic or
/// load a group coordinator.
const PATIENCE: Duration = Duration::from_secs(30);

fn unique(name: &str) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos();
    format!("{name}-{}-{nanos}", std::process::id())
}

/// An address nothing listens on.
async fn dead_addr() -> String {
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    l.local_addr().unwrap().to_string()
}

async fn cluster(bootstrap: &str) -> Cluster {
    let config = ClusterConfig::builder()
        .bootstrap_servers([bootstrap])
        .build()
        .unwrap();
    Cluster::connect(config).await.unwrap()
}

/// Creates `topic` with `partitions` partitions through the controller and
/// waits until the metadata shows a leader for each.
async fn create_topic(cluster: &Cluster, topic: &str, partitions: i32) {
    let req = CreateTopicsRequest::default()
        .with_topics(vec![
            CreatableTopic::default()
                .with_name(topic)
                .with_num_partitions(partitions)
                .with_replication_factor(1),
        ])
        .with_timeout_ms(10_000);
    let resp = cluster
        .retry(PATIENCE, || cluster.send_to_controller(&req))
        .await
        .unwrap_or_else(|e| panic!("creating {topic}: {e}"));
    let t = &resp.topics[0];
    assert!(
        matches!(
            ErrorCode::from_code(t.error_code),
            ErrorCode::None | ErrorCode::TopicAlreadyExists
        ),
        "creating {topic}: {t:?}"
    );
    cluster
        .retry(PATIENCE, || async {
            let md = cluster.refresh_topics(&[topic]).await?;
            for p in 0..partitions {
                cluster.leader(topic, p).await?;
            }
            Ok(md)
        })
        .await
        .unwrap_or_else(|e| panic!("waiting for leaders of {topic}: {e}"));
}

#[tokio::test]
async fn bootstrap_past_a_dead_address_then_create_and_route() {
    let Some(bootstrap) =
        gregor_testkit::bootstrap("bootstrap_past_a_dead_address_then_create_and_route")
    else {
        return;
    };
    let dead = dead_addr().await;
    let config = ClusterConfig::builder()
        .bootstrap_servers([dead.as_str(), bootstrap.as_str()])
        .build()
        .unwrap();
    let cluster = Cluster::connect(config).await.unwrap();
    let stats = cluster.pool_stats();
    assert_eq!(stats.failed, 1, "the dead address first: {stats:?}");
    let md = cluster.metadata();
    assert!(md.brokers().count() >= 1, "{md:?}");
    assert!(md.controller().is_some(), "{md:?}");

    let topic = unique("it-cluster");
    create_topic(&cluster, &topic, 3).await;
    let md = cluster.metadata();
    let parts = md.partitions(&topic).expect("the new topic is cached");
    assert_eq!(parts.len(), 3);
    for p in parts {
        let leader = p.leader.expect("a leader");
        assert!(
            md.broker(leader).is_some(),
            "leader {leader} is not a known broker"
        );
        assert!(p.replicas.contains(&leader), "{p:?}");
    }
    if md.topic(&topic).unwrap().id.is_some() {
        assert_eq!(
            md.topic_name(md.topic_id(&topic).unwrap()),
            Some(topic.as_str())
        );
    }

    // A leader-routed request lands on the leader.
    for partition in 0..3 {
        let req = ListOffsetsRequest::default()
            .with_replica_id(-1)
            .with_topics(vec![
                ListOffsetsTopic::default()
                    .with_name(topic.as_str())
                    .with_partitions(vec![
                        ListOffsetsPartition::default()
                            .with_partition_index(partition)
                            .with_timestamp(-1),
                    ]),
            ]);
        let resp = cluster
            .send_to_leader(&topic, partition, &req)
            .await
            .unwrap();
        let code = resp.topics[0].partitions[0].error_code;
        assert_eq!(
            ErrorCode::from_code(code),
            ErrorCode::None,
            "partition {partition}"
        );
    }

    // An unknown topic is a retriable error that names it.
    let missing = unique("it-cluster-missing");
    let err = cluster.leader(&missing, 0).await.unwrap_err();
    assert!(err.is_retriable(), "{err}");
    assert!(err.to_string().contains(&missing), "{err}");
}

#[tokio::test]
async fn finds_the_group_coordinator() {
    let Some(bootstrap) = gregor_testkit::bootstrap("finds_the_group_coordinator") else {
        return;
    };
    let cluster = cluster(&bootstrap).await;
    let group = unique("it-cluster-group");
    let key = CoordinatorKey::Group(group.clone());
    // The offsets topic may still be loading: that is retriable.
    let id = cluster
        .retry(PATIENCE, || cluster.coordinator(&key))
        .await
        .unwrap();
    assert!(
        cluster.metadata().broker(id).is_some(),
        "coordinator {id} unknown"
    );

    // A heartbeat from a member the group does not know reaches the
    // coordinator, which answers with a group error, not NOT_COORDINATOR.
    let hb = HeartbeatRequest::default()
        .with_group_id(group.as_str())
        .with_generation_id(1)
        .with_member_id("nobody");
    let resp = cluster.send_to_coordinator(&key, &hb).await.unwrap();
    let code = ErrorCode::from_code(resp.error_code);
    assert_ne!(code, ErrorCode::NotCoordinator);
    assert_ne!(
        code,
        ErrorCode::None,
        "a heartbeat from nobody cannot succeed"
    );

    // Batched lookups agree with the single one.
    let found = cluster.coordinators(&[key.clone(), key]).await;
    assert!(
        found.iter().all(|r| r.as_ref().ok() == Some(&id)),
        "{found:?}"
    );
}

#[tokio::test]
async fn one_connection_per_broker_is_shared() {
    let Some(bootstrap) = gregor_testkit::bootstrap("one_connection_per_broker_is_shared") else {
        return;
    };
    let cluster = cluster(&bootstrap).await;
    let id: BrokerId = cluster.metadata().brokers().next().unwrap().id;
    let producer = cluster.clone();
    let consumer = cluster.clone();
    let mut tasks = Vec::new();
    for c in [producer, consumer, cluster.clone()] {
        for _ in 0..10 {
            let c = c.clone();
            tasks.push(tokio::spawn(async move {
                c.send_to_broker(id, &MetadataRequest::default()).await
            }));
        }
    }
    for t in tasks {
        t.await.unwrap().unwrap();
    }
    let stats = cluster.pool_stats();
    let entry = stats.broker(id).expect("the broker was dialled");
    assert_eq!(entry.opened, 1, "{stats:?}");
    assert!(entry.connected);
    let again = cluster.connection(id).await.unwrap();
    assert!(!again.is_dead());
    assert_eq!(cluster.pool_stats().broker(id).unwrap().opened, 1);
}
