//! Helpers shared by the producer's integration tests: topics, a cluster,
//! and reading partitions back with the kafka-go style `Conn`.

#![allow(dead_code, unreachable_pub)]

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use gregor_net::conn::{Conn, Message, TopicConfig};
use gregor_net::{Cluster, ClusterConfig, ConnectionConfig, Connector};

pub const TIMEOUT: Duration = Duration::from_secs(30);

pub fn unique(name: &str) -> String {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .subsec_nanos();
    format!("producer-{name}-{}-{nanos}", std::process::id())
}

pub fn connector() -> Connector {
    Connector::new(
        ConnectionConfig::builder()
            .client_id("gregor-it-producer")
            .connect_timeout(Duration::from_secs(5))
            .request_timeout(Duration::from_secs(15))
            .build()
            .unwrap(),
    )
}

pub async fn cluster(bootstrap: &str) -> Cluster {
    let config = ClusterConfig::builder()
        .bootstrap_servers([bootstrap])
        .connector(connector())
        .build()
        .unwrap();
    Cluster::connect(config).await.unwrap()
}

/// Creates a topic with `partitions` partitions and waits until every
/// partition has a leader.
pub async fn create_topic(bootstrap: &str, name: &str, partitions: i32) {
    let mut admin = Conn::dial(&connector(), bootstrap).await.unwrap();
    admin.set_timeout(Some(TIMEOUT));
    admin
        .create_topics(&[TopicConfig::new(name, partitions, 1)])
        .await
        .unwrap();
    for p in 0..partitions {
        dial(bootstrap, name, p).await;
    }
}

/// A `Conn` bound to `topic`/`p` at its first offset.
pub async fn dial(bootstrap: &str, topic: &str, p: i32) -> Conn {
    let deadline = tokio::time::Instant::now() + TIMEOUT;
    loop {
        match Conn::dial_leader(&connector(), bootstrap, topic, p).await {
            Ok(mut conn) => {
                conn.set_timeout(Some(TIMEOUT));
                return conn;
            }
            Err(e) if e.is_retriable() && tokio::time::Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            Err(e) => panic!("dial_leader {topic}/{p}: {e}"),
        }
    }
}

/// Every message of `topic`/`p`, read with `Conn` from the start to the
/// end as it is now.
pub async fn read_all(bootstrap: &str, topic: &str, p: i32) -> Vec<Message> {
    let mut conn = dial(bootstrap, topic, p).await;
    let end = conn.read_last_offset().await.unwrap();
    let mut out = Vec::new();
    while conn.offset().unwrap() < end {
        let mut batch = conn.read_batch(1, 4 << 20).await.unwrap();
        out.extend(&mut batch);
        batch.close().unwrap();
    }
    out
}
