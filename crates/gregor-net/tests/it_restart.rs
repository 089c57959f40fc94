//! The cluster layer across a broker restart, against the restartable
//! sqlite broker: requests in flight when it stops fail with retriable
//! errors, the cluster reconnects by itself once it is back, and a topic
//! created before the restart is still there.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use gregor_net::{Cluster, ClusterConfig, ConnectionConfig, Connector, Error};
use gregor_protocol::messages::create_topics_request::CreatableTopic;
use gregor_protocol::messages::{CreateTopicsRequest, MetadataRequest};
use gregor_protocol::{ApiKey, ErrorCode};
use tokio::time::Instant;

const PREFIX: &str = "GREGOR_RESTART_";

/// How long the broker may take to come back and answer: its restart
/// waits up to 60 s for the port, and sqlite recovery comes on top.
const BACK_WITHIN: Duration = Duration::from_secs(90);

fn unique(name: &str) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos();
    format!("{name}-{}-{nanos}", std::process::id())
}

async fn blocking(f: fn(&str) -> Result<(), String>) {
    tokio::task::spawn_blocking(move || f(PREFIX))
        .await
        .unwrap()
        .unwrap_or_else(|e| panic!("broker control failed: {e}"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cluster_reconnects_after_a_broker_restart() {
    let Some(bootstrap) =
        gregor_testkit::bootstrap_for(PREFIX, "the_cluster_reconnects_after_a_broker_restart")
    else {
        return;
    };
    let connection = ConnectionConfig::builder()
        .client_id("gregor-it-restart")
        .request_timeout(Duration::from_secs(10))
        .connect_timeout(Duration::from_secs(5))
        .build()
        .unwrap();
    let config = ClusterConfig::builder()
        .bootstrap_servers([bootstrap.as_str()])
        .connector(Connector::new(connection))
        .build()
        .unwrap();
    let cluster = Cluster::connect(config).await.unwrap();

    // A topic that must survive the restart (sqlite storage).
    let topic = unique("it-restart");
    let create = CreateTopicsRequest::default()
        .with_topics(vec![
            CreatableTopic::default()
                .with_name(topic.as_str())
                .with_num_partitions(2)
                .with_replication_factor(1),
        ])
        .with_timeout_ms(10_000);
    cluster
        .retry(Duration::from_secs(30), || async {
            let conn = cluster.controller_connection().await?;
            let resp = conn.send(&create).await?;
            Error::check_code(
                conn.broker(),
                ApiKey::CreateTopics,
                resp.topics[0].error_code,
            )
        })
        .await
        .unwrap();
    let md = cluster
        .retry(Duration::from_secs(30), || async {
            let md = cluster.refresh_topics(&[&topic]).await?;
            cluster.leader(&topic, 1).await?;
            Ok(md)
        })
        .await
        .unwrap();
    assert_eq!(md.partitions(&topic).unwrap().len(), 2);

    // Keep requests in flight on the shared connections until each fails.
    let sent = Arc::new(AtomicUsize::new(0));
    let workers: Vec<_> = (0..8)
        .map(|_| {
            let c = cluster.clone();
            let sent = sent.clone();
            tokio::spawn(async move {
                loop {
                    match c.send_to_any(&MetadataRequest::default()).await {
                        Ok(_) => sent.fetch_add(1, Ordering::Relaxed),
                        Err(e) => return e,
                    };
                }
            })
        })
        .collect();
    while sent.load(Ordering::Relaxed) < 50 {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    blocking(gregor_testkit::broker::stop).await;
    let mut on_the_connection = 0;
    for w in workers {
        let err = tokio::time::timeout(Duration::from_secs(30), w)
            .await
            .expect("a request in flight fails rather than hang")
            .unwrap();
        eprintln!("in flight at the stop: {err}");
        assert!(err.is_retriable(), "not retriable: {err:?}");
        if matches!(
            err,
            Error::Dead { .. } | Error::Closed { .. } | Error::Io { .. }
        ) {
            on_the_connection += 1;
        }
    }
    assert!(on_the_connection > 0, "no request was caught in flight");

    // While it is down: a retriable error naming what was tried.
    let err = cluster
        .send_to_any(&MetadataRequest::default())
        .await
        .unwrap_err();
    assert!(err.is_retriable(), "{err:?}");

    blocking(gregor_testkit::broker::start).await;
    let back = Instant::now();
    let req = MetadataRequest::default();
    cluster
        .retry(BACK_WITHIN, || cluster.send_to_any(&req))
        .await
        .unwrap_or_else(|e| panic!("not back within {BACK_WITHIN:?}: {e}"));
    eprintln!(
        "reconnected {:?} after the broker accepted again",
        back.elapsed()
    );

    // The topic is still there, led by a broker the cluster can reach.
    let md = cluster
        .retry(Duration::from_secs(30), || async {
            let md = cluster.refresh_topics(&[&topic]).await?;
            for p in 0..2 {
                cluster.leader_connection(&topic, p).await?;
            }
            Ok(md)
        })
        .await
        .unwrap();
    let t = md.topic(&topic).expect("the topic survived the restart");
    assert_eq!(t.partitions.len(), 2);
    assert_eq!(t.error, None::<ErrorCode>);
    let stats = cluster.pool_stats();
    assert!(stats.opened >= 2, "the pool reconnected: {stats:?}");
}
