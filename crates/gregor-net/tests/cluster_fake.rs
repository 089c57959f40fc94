//! The cluster layer against a fake cluster of brokers on real TCP
//! listeners: bootstrap, the metadata cache and its coalesced refreshes,
//! leader moves, dead brokers, the shared pool, coordinators, backoff.

#[path = "support/fake_cluster.rs"]
mod fake_cluster;
mod support;

use std::sync::Arc;
use std::time::Duration;

use fake_cluster::{FakeCluster, dead_addr, list_offsets_code, list_offsets_request};
use gregor_net::{
    Backoff, BackoffPolicy, BrokerId, Cluster, ClusterConfig, Connector, CoordinatorKey, Error,
};
use gregor_protocol::messages::create_topics_request::CreatableTopic;
use gregor_protocol::messages::{CreateTopicsRequest, HeartbeatRequest, MetadataRequest};
use gregor_protocol::{ApiKey, ErrorCode};
use support::{PATIENCE, table_with, test_config};
use tokio::time::{Instant, timeout};

fn config(servers: &[String]) -> ClusterConfig {
    ClusterConfig::builder()
        .bootstrap_servers(servers)
        .connector(Connector::new(test_config()))
        .retry_backoff(Duration::from_millis(20), Duration::from_millis(200))
        .reconnect_backoff(Duration::from_millis(20), Duration::from_millis(200))
        .build()
        .expect("valid config")
}

async fn connect(fake: &FakeCluster) -> Cluster {
    timeout(PATIENCE, Cluster::connect(config(&fake.bootstrap())))
        .await
        .expect("in time")
        .expect("bootstrap")
}

/// Three brokers; topic "t" with partition 0 led by 1 (epoch 5) and
/// partition 1 by 2 (epoch 5).
async fn three_brokers() -> FakeCluster {
    let fake = FakeCluster::start(3).await;
    fake.state().add_topic("t", 7, vec![(1, 5), (2, 5)]);
    fake
}

#[tokio::test]
async fn bootstrap_skips_a_dead_first_address() {
    let fake = three_brokers().await;
    let dead = dead_addr().await;
    let servers = vec![dead.clone(), fake.addr(2)];
    let cluster = Cluster::connect(config(&servers)).await.expect("bootstrap");
    let md = cluster.metadata();
    assert_eq!(md.brokers().count(), 3);
    assert_eq!(md.controller(), Some(BrokerId(1)));
    assert_eq!(md.cluster_id(), Some("fake-cluster"));
    let stats = cluster.pool_stats();
    assert_eq!(stats.failed, 1, "{stats:?}");
    let bootstrap_dead = stats
        .endpoints
        .iter()
        .find(|e| e.addr.as_ref().is_some_and(|a| a.addr() == dead))
        .expect("the dead address was tried");
    assert_eq!(bootstrap_dead.broker, None);
    assert_eq!(bootstrap_dead.failures, 1);
    assert_eq!(fake.count_on(2, ApiKey::Metadata), 1);
}

#[tokio::test]
async fn no_broker_reachable_names_every_address() {
    let (a, b) = (dead_addr().await, dead_addr().await);
    let err = Cluster::connect(config(&[a.clone(), b.clone()]))
        .await
        .expect_err("nothing listens");
    let Error::NoBrokerReachable { tried } = &err else {
        panic!("{err:?}");
    };
    assert_eq!(tried.len(), 2);
    assert!(err.is_retriable());
    let text = err.to_string();
    assert!(text.contains(&a) && text.contains(&b), "{text}");
}

#[tokio::test]
async fn metadata_cache_and_helpers() {
    let fake = three_brokers().await;
    let cluster = connect(&fake).await;
    // Bootstrap fetches brokers only.
    assert!(cluster.metadata().topic("t").is_none());
    let md = cluster.refresh_topics(&["t"]).await.unwrap();
    assert_eq!(md.partitions("t").unwrap().len(), 2);
    assert_eq!(md.leader_for("t", 0), Some(BrokerId(1)));
    assert_eq!(md.leader_for("t", 1), Some(BrokerId(2)));
    assert_eq!(md.partition("t", 1).unwrap().leader_epoch, Some(5));
    let id = md.topic_id("t").unwrap();
    assert_eq!(md.topic_name(id), Some("t"));
    let b3 = md.broker(BrokerId(3)).unwrap();
    assert_eq!(format!("{}:{}", b3.host, b3.port), fake.addr(3));
    assert!(Arc::ptr_eq(&md, &cluster.metadata()));

    // Errors name the topic and partition and are retriable.
    let err = cluster.leader("missing", 0).await.unwrap_err();
    assert!(
        matches!(&err, Error::UnknownTopic { topic, .. } if topic == "missing"),
        "{err}"
    );
    assert!(err.is_retriable());
    let err = cluster.leader("t", 9).await.unwrap_err();
    assert!(
        matches!(
            err,
            Error::UnknownPartition {
                partition: 9,
                partitions: 2,
                ..
            }
        ),
        "{err}"
    );
    assert!(
        err.to_string().contains("topic t has no partition 9"),
        "{err}"
    );

    // refresh_all drops a topic the cluster no longer lists.
    fake.state().topics.remove("t");
    let md = cluster.refresh_all().await.unwrap();
    assert!(md.topic("t").is_none());
}

#[tokio::test]
async fn concurrent_refreshes_coalesce_into_one_request() {
    let fake = three_brokers().await;
    let cluster = connect(&fake).await;
    fake.state().metadata_delay = Duration::from_millis(300);
    let before = fake.count(ApiKey::Metadata);
    let tasks: Vec<_> = (0..10)
        .map(|_| {
            let c = cluster.clone();
            tokio::spawn(async move { c.refresh_all().await })
        })
        .collect();
    let mut results = Vec::new();
    for t in tasks {
        results.push(timeout(PATIENCE, t).await.unwrap().unwrap().unwrap());
    }
    assert_eq!(fake.count(ApiKey::Metadata) - before, 1);
    assert!(results.iter().all(|md| Arc::ptr_eq(md, &results[0])));

    // Callers the running request does not cover share one queued request.
    let before = fake.count(ApiKey::Metadata);
    let first = {
        let c = cluster.clone();
        tokio::spawn(async move { c.refresh_topics(&["t"]).await })
    };
    tokio::time::sleep(Duration::from_millis(50)).await;
    let others: Vec<_> = ["a", "b", "t"]
        .into_iter()
        .map(|topic| {
            let c = cluster.clone();
            tokio::spawn(async move { c.refresh_topics(&[topic]).await })
        })
        .collect();
    first.await.unwrap().unwrap();
    for t in others {
        t.await.unwrap().unwrap();
    }
    assert_eq!(fake.count(ApiKey::Metadata) - before, 2);
}

#[tokio::test]
async fn a_moved_leader_is_found_after_not_leader_or_follower() {
    let fake = three_brokers().await;
    let cluster = connect(&fake).await;
    let req = list_offsets_request("t", 0);
    let resp = cluster.send_to_leader("t", 0, &req).await.unwrap();
    assert_eq!(list_offsets_code(&resp), 0);
    assert_eq!(fake.count_on(1, ApiKey::ListOffsets), 1);

    fake.state().set_leader("t", 0, 3, 6);
    let metadata_before = fake.count(ApiKey::Metadata);
    // What a producer or consumer does: route, check the code, report it,
    // retry.
    let answered_by = cluster
        .retry(PATIENCE, || async {
            let conn = cluster.leader_connection("t", 0).await?;
            let resp = conn.send(&req).await?;
            Error::check_code(conn.broker(), ApiKey::ListOffsets, list_offsets_code(&resp))
                .map_err(|e| e.with_topic("t").with_partition(0))?;
            Ok(conn.broker().node_id())
        })
        .await
        .unwrap();
    assert_eq!(answered_by, Some(3));
    assert_eq!(
        fake.count_on(1, ApiKey::ListOffsets),
        2,
        "one try at the old leader"
    );
    assert_eq!(fake.count_on(3, ApiKey::ListOffsets), 1);
    assert_eq!(fake.count(ApiKey::Metadata) - metadata_before, 1);
    assert_eq!(
        cluster.metadata().partition("t", 0).unwrap().leader_epoch,
        Some(6)
    );
}

#[tokio::test]
async fn stale_leader_epochs_are_ignored() {
    let fake = three_brokers().await;
    let cluster = connect(&fake).await;
    fake.state().set_leader("t", 0, 2, 6);
    let md = cluster.refresh_topics(&["t"]).await.unwrap();
    assert_eq!(md.leader_for("t", 0), Some(BrokerId(2)));
    // A lagging broker answers with the old leader at an older epoch.
    fake.state().set_leader("t", 0, 1, 5);
    let md = cluster.refresh_topics(&["t"]).await.unwrap();
    assert_eq!(md.leader_for("t", 0), Some(BrokerId(2)));
    assert_eq!(md.partition("t", 0).unwrap().leader_epoch, Some(6));
    // A newer epoch is taken.
    fake.state().set_leader("t", 0, 3, 7);
    let md = cluster.refresh_topics(&["t"]).await.unwrap();
    assert_eq!(md.leader_for("t", 0), Some(BrokerId(3)));
}

#[tokio::test]
async fn a_dead_broker_fails_fast_backs_off_and_is_replaced_when_back() {
    let fake = three_brokers().await;
    let config = ClusterConfig::builder()
        .bootstrap_servers(fake.bootstrap())
        .connector(Connector::new(test_config()))
        .reconnect_backoff(Duration::from_millis(400), Duration::from_secs(2))
        .build()
        .unwrap();
    let cluster = Cluster::connect(config).await.unwrap();
    let conn = cluster.connection(BrokerId(3)).await.unwrap();
    fake.kill(3).await;
    timeout(PATIENCE, conn.closed())
        .await
        .expect("the client sees the broker go");
    assert!(conn.is_dead());

    let err = cluster.connection(BrokerId(3)).await.unwrap_err();
    assert!(matches!(err, Error::Connect { .. }), "{err:?}");
    assert!(err.is_retriable());
    assert_eq!(err.broker().node_id(), Some(3));
    // The next attempt waits out the reconnect backoff (400 ms -25%).
    let start = Instant::now();
    cluster.connection(BrokerId(3)).await.unwrap_err();
    assert!(
        start.elapsed() >= Duration::from_millis(290),
        "{:?}",
        start.elapsed()
    );
    assert_eq!(
        cluster.pool_stats().broker(BrokerId(3)).unwrap().failures,
        2
    );
    // Other brokers still answer.
    cluster
        .send_to_any(&MetadataRequest::default())
        .await
        .unwrap();

    fake.revive(3).await;
    let back = cluster
        .retry(PATIENCE, || cluster.connection(BrokerId(3)))
        .await
        .unwrap();
    assert!(!back.is_dead());
    let stats = cluster.pool_stats();
    let b3 = stats.broker(BrokerId(3)).unwrap();
    assert_eq!((b3.opened, b3.failures, b3.connected), (2, 0, true));
}

#[tokio::test]
async fn a_dead_connection_is_replaced_on_next_use() {
    let fake = three_brokers().await;
    let cluster = connect(&fake).await;
    let conn = cluster.connection(BrokerId(1)).await.unwrap();
    fake.drop_connections(1);
    timeout(PATIENCE, conn.closed()).await.unwrap();
    let err = conn.send(&MetadataRequest::default()).await.unwrap_err();
    assert!(err.is_retriable(), "{err:?}");
    cluster.on_error(&err);
    let fresh = cluster.connection(BrokerId(1)).await.unwrap();
    assert!(!fresh.is_dead());
    assert_eq!(cluster.pool_stats().broker(BrokerId(1)).unwrap().opened, 2);
}

#[tokio::test]
async fn clones_share_one_connection_per_broker() {
    let fake = three_brokers().await;
    let cluster = connect(&fake).await;
    let producer = cluster.clone();
    let consumer = cluster.clone();
    for c in [&producer, &consumer, &cluster] {
        c.connection(BrokerId(2)).await.unwrap();
        c.send_to_leader("t", 1, &list_offsets_request("t", 1))
            .await
            .unwrap();
    }
    let stats = cluster.pool_stats();
    assert_eq!(stats.broker(BrokerId(2)).unwrap().opened, 1, "{stats:?}");
    assert_eq!(fake.count_on(2, ApiKey::ListOffsets), 3);
    // One handshake per connection the pool opened.
    assert_eq!(fake.count(ApiKey::ApiVersions) as u64, stats.opened);
}

#[tokio::test]
async fn coordinators_are_cached_and_found_again_after_not_coordinator() {
    let fake = three_brokers().await;
    fake.state().coordinators.insert("g".into(), 1);
    let cluster = connect(&fake).await;
    let key = CoordinatorKey::Group("g".into());
    assert_eq!(cluster.coordinator(&key).await.unwrap(), BrokerId(1));
    assert_eq!(cluster.coordinator(&key).await.unwrap(), BrokerId(1));
    assert_eq!(fake.count(ApiKey::FindCoordinator), 1, "cached");

    fake.state().coordinators.insert("g".into(), 2);
    let hb = HeartbeatRequest::default().with_group_id("g");
    let at = cluster
        .retry(PATIENCE, || async {
            let conn = cluster.coordinator_connection(&key).await?;
            let resp = conn.send(&hb).await?;
            Error::check_code(conn.broker(), ApiKey::Heartbeat, resp.error_code)?;
            Ok(conn.broker().node_id())
        })
        .await
        .unwrap();
    assert_eq!(at, Some(2));
    assert_eq!(fake.count(ApiKey::FindCoordinator), 2);
    assert_eq!(fake.count_on(1, ApiKey::Heartbeat), 1);

    // send_to_coordinator routes to the cached coordinator.
    let resp = cluster.send_to_coordinator(&key, &hb).await.unwrap();
    assert_eq!(resp.error_code, 0);
    cluster.invalidate_coordinator(&key);
    cluster.coordinator(&key).await.unwrap();
    assert_eq!(fake.count(ApiKey::FindCoordinator), 3);
}

#[tokio::test]
async fn coordinator_not_available_is_retried_with_backoff() {
    let fake = three_brokers().await;
    fake.state().coordinators.insert("tx".into(), 3);
    fake.state().find_errors.extend([
        ErrorCode::CoordinatorNotAvailable.code(),
        ErrorCode::CoordinatorLoadInProgress.code(),
    ]);
    let cluster = connect(&fake).await;
    let key = CoordinatorKey::Transaction("tx".into());
    let err = cluster.coordinator(&key).await.unwrap_err();
    assert!(
        matches!(&err, Error::CoordinatorNotAvailable { code: ErrorCode::CoordinatorNotAvailable, key, .. } if key.contains("tx")),
        "{err:?}"
    );
    assert!(err.is_retriable());
    let found = cluster
        .retry(PATIENCE, || cluster.coordinator(&key))
        .await
        .unwrap();
    assert_eq!(found, BrokerId(3));
    assert_eq!(fake.count(ApiKey::FindCoordinator), 3);
}

#[tokio::test]
async fn find_coordinator_batches_at_v4_and_sends_single_keys_before() {
    for (max, requests) in [(6, 1), (3, 2)] {
        let fake =
            FakeCluster::start_with(2, table_with(ApiKey::FindCoordinator, Some((0, max)))).await;
        fake.state()
            .coordinators
            .extend([("g1".into(), 1), ("g2".into(), 2)]);
        let cluster = connect(&fake).await;
        let keys = [
            CoordinatorKey::Group("g1".into()),
            CoordinatorKey::Group("g2".into()),
        ];
        let found: Vec<BrokerId> = cluster
            .coordinators(&keys)
            .await
            .into_iter()
            .map(Result::unwrap)
            .collect();
        assert_eq!(found, [BrokerId(1), BrokerId(2)]);
        assert_eq!(fake.count(ApiKey::FindCoordinator), requests, "v{max}");
        let seen = fake.state().find_keys.concat();
        assert_eq!(seen, ["g1", "g2"], "v{max}");
    }
}

#[tokio::test]
async fn requests_follow_the_controller() {
    let fake = three_brokers().await;
    let cluster = connect(&fake).await;
    let create = |name: &str| {
        CreateTopicsRequest::default()
            .with_topics(vec![
                CreatableTopic::default()
                    .with_name(name)
                    .with_num_partitions(3)
                    .with_replication_factor(1),
            ])
            .with_timeout_ms(5000)
    };
    let resp = cluster.send_to_controller(&create("new")).await.unwrap();
    assert_eq!(resp.topics[0].error_code, 0);
    assert_eq!(fake.count_on(1, ApiKey::CreateTopics), 1);

    fake.state().controller = 2;
    let done = cluster
        .retry(PATIENCE, || async {
            let conn = cluster.controller_connection().await?;
            let resp = conn.send(&create("newer")).await?;
            Error::check_code(
                conn.broker(),
                ApiKey::CreateTopics,
                resp.topics[0].error_code,
            )?;
            Ok(conn.broker().node_id())
        })
        .await
        .unwrap();
    assert_eq!(done, Some(2));
    assert_eq!(cluster.metadata().controller(), Some(BrokerId(2)));
    let md = cluster.refresh_topics(&["new", "newer"]).await.unwrap();
    assert_eq!(md.partitions("newer").unwrap().len(), 3);
}

#[tokio::test]
async fn metadata_is_refreshed_when_it_gets_old() {
    let fake = three_brokers().await;
    let config = ClusterConfig::builder()
        .bootstrap_servers(fake.bootstrap())
        .connector(Connector::new(test_config()))
        .metadata_max_age(Duration::from_millis(200))
        .build()
        .unwrap();
    let cluster = Cluster::connect(config).await.unwrap();
    cluster.refresh_topics(&["t"]).await.unwrap();
    let mut updates = cluster.watch_metadata();
    fake.state().set_leader("t", 1, 3, 9);
    timeout(
        PATIENCE,
        updates.wait_for(|md| md.leader_for("t", 1) == Some(BrokerId(3))),
    )
    .await
    .expect("a periodic refresh sees the new leader")
    .unwrap();
}

#[tokio::test]
async fn a_closed_cluster_refuses_work() {
    let fake = three_brokers().await;
    let cluster = connect(&fake).await;
    let conn = cluster.connection(BrokerId(1)).await.unwrap();
    cluster.clone().close();
    assert!(cluster.is_closed());
    assert!(conn.is_dead());
    let err = cluster
        .send_to_any(&MetadataRequest::default())
        .await
        .unwrap_err();
    assert!(matches!(err, Error::ClusterClosed), "{err:?}");
    assert!(!err.is_retriable());
    assert!(matches!(cluster.refresh().await, Err(Error::ClusterClosed)));
}

#[test]
fn backoff_grows_caps_jitters_and_resets() {
    let ms = Duration::from_millis;
    let policy = BackoffPolicy::new(ms(100), ms(1000));
    for seed in 0..50 {
        let mut b = Backoff::with_seed(policy, seed);
        let delays: Vec<Duration> = (0..8).map(|_| b.next_delay()).collect();
        for (i, d) in delays.iter().enumerate() {
            let base = policy.base_delay(i as u32 + 1);
            assert!(
                *d >= base.mul_f64(0.75) && *d <= base.mul_f64(1.25).min(ms(1000)),
                "{i}: {d:?}"
            );
        }
        assert!(delays[7] >= ms(750), "capped near the maximum: {delays:?}");
        b.reset();
        assert!(b.next_delay() <= ms(125));
    }
}
