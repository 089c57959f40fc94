//! Helpers for the consumer's broker tests: fresh topics, test data
//! written with gregor-net's kafka-go style `Conn`, and consumer configs
//! with short timeouts.

// Each test binary uses a different subset of these helpers.
#![allow(dead_code)]

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use gregor_client::consumer::{
    ConsumerConfig, ConsumerConfigBuilder, ConsumerHandle, ConsumerRecord, OffsetReset,
    RebalanceListener, TopicPartition,
};
use gregor_net::conn::{Conn, Message, TopicConfig};
use gregor_net::{Cluster, ClusterConfig, Connector};

pub(crate) const TIMEOUT: Duration = Duration::from_secs(20);

/// A name no other run uses.
pub(crate) fn unique(name: &str) -> String {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .subsec_nanos();
    format!("consumer-{name}-{}-{nanos}", std::process::id())
}

/// Creates `topic` with `partitions` partitions.
pub(crate) async fn create_topic(bootstrap: &str, topic: &str, partitions: i32) {
    let mut admin = Conn::dial(&Connector::default(), bootstrap).await.unwrap();
    admin.set_timeout(Some(TIMEOUT));
    admin
        .create_topics(&[TopicConfig::new(topic, partitions, 1)])
        .await
        .unwrap();
}

/// A connection bound to the leader of `topic`/`p` (retrying while the
/// new topic gets its leader).
pub(crate) async fn leader(bootstrap: &str, topic: &str, p: i32) -> Conn {
    let connector = Connector::default();
    let deadline = Instant::now() + TIMEOUT;
    loop {
        match Conn::dial_leader(&connector, bootstrap, topic, p).await {
            Ok(mut conn) => {
                conn.set_timeout(Some(TIMEOUT));
                return conn;
            }
            Err(e) if e.is_retriable() && Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            Err(e) => panic!("dial_leader {topic}/{p}: {e}"),
        }
    }
}

/// Writes `messages` to `topic`/`p` in chunks.
pub(crate) async fn produce(bootstrap: &str, topic: &str, p: i32, messages: &[Message]) {
    let conn = leader(bootstrap, topic, p).await;
    for chunk in messages.chunks(2000) {
        conn.write_messages(chunk).await.unwrap();
    }
}

/// Writes records keyed `k{i}` with value `v{i}` for `i` in `range`,
/// record `i` to partition `i % partitions`.
pub(crate) async fn produce_keyed(
    bootstrap: &str,
    topic: &str,
    partitions: i32,
    range: std::ops::Range<u64>,
) {
    let mut per: BTreeMap<i32, Vec<Message>> = BTreeMap::new();
    for i in range {
        let p = (i % partitions as u64) as i32;
        per.entry(p).or_default().push(Message::new(
            Bytes::from(format!("k{i}")),
            Bytes::from(format!("v{i}")),
        ));
    }
    let mut tasks = Vec::new();
    for (p, msgs) in per {
        let (b, t) = (bootstrap.to_owned(), topic.to_owned());
        tasks.push(tokio::spawn(async move { produce(&b, &t, p, &msgs).await }));
    }
    for t in tasks {
        t.await.unwrap();
    }
}

/// A cluster handle for `bootstrap`.
pub(crate) async fn cluster(bootstrap: &str) -> Cluster {
    let config = ClusterConfig::builder()
        .bootstrap_servers([bootstrap])
        .build()
        .unwrap();
    Cluster::connect(config).await.unwrap()
}

/// A group consumer config with short timeouts, reading from the start.
pub(crate) fn group_config(group: &str) -> ConsumerConfigBuilder {
    ConsumerConfig::builder()
        .group_id(group)
        .offset_reset(OffsetReset::Earliest)
        .session_timeout(Duration::from_secs(6))
        .heartbeat_interval(Duration::from_millis(500))
        .rebalance_timeout(Duration::from_secs(20))
        .request_timeout(Duration::from_secs(10))
        .fetch_max_wait(Duration::from_millis(100))
}

/// The key of a record as text.
pub(crate) fn key(r: &ConsumerRecord) -> String {
    String::from_utf8(r.key_bytes().to_vec()).unwrap()
}

/// Partitions `0..n` of `topic`.
pub(crate) fn partitions(topic: &str, n: i32) -> Vec<TopicPartition> {
    (0..n).map(|p| TopicPartition::new(topic, p)).collect()
}

/// Wall-clock seconds since the epoch, comparable across processes.
pub(crate) fn now_secs() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs_f64()
}

/// What a listener saw, with wall-clock times (seconds since the epoch,
/// comparable with the peers'), for ownership checks.
#[derive(Debug, Clone)]
pub(crate) enum Seen {
    Assigned(BTreeSet<TopicPartition>, f64),
    Revoked(BTreeSet<TopicPartition>, f64),
    Lost(BTreeSet<TopicPartition>, f64),
}

/// A listener that records its calls, and optionally commits processed
/// offsets on revocation.
#[derive(Debug, Clone, Default)]
pub(crate) struct Recorder {
    pub(crate) seen: Arc<Mutex<Vec<Seen>>>,
    pub(crate) commit_on_revoke: bool,
}

impl Recorder {
    pub(crate) fn committing() -> Self {
        Self {
            seen: Arc::default(),
            commit_on_revoke: true,
        }
    }

    pub(crate) fn events(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }

    pub(crate) fn revocations(&self) -> usize {
        self.events()
            .iter()
            .filter(|e| matches!(e, Seen::Revoked(..)))
            .count()
    }
}

#[async_trait::async_trait]
impl RebalanceListener for Recorder {
    async fn on_assigned(&self, _: &ConsumerHandle, partitions: &BTreeSet<TopicPartition>) {
        self.seen
            .lock()
            .unwrap()
            .push(Seen::Assigned(partitions.clone(), now_secs()));
    }

    async fn on_revoked(&self, consumer: &ConsumerHandle, partitions: &BTreeSet<TopicPartition>) {
        if self.commit_on_revoke {
            consumer.commit_processed(partitions).await.unwrap();
        }
        self.seen
            .lock()
            .unwrap()
            .push(Seen::Revoked(partitions.clone(), now_secs()));
    }

    async fn on_lost(&self, _: &ConsumerHandle, partitions: &BTreeSet<TopicPartition>) {
        self.seen
            .lock()
            .unwrap()
            .push(Seen::Lost(partitions.clone(), now_secs()));
    }
}
