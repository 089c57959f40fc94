//! The cluster metadata cache: an immutable snapshot, replaced whole on
//! every refresh so readers never see half an update.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fmt;
use std::sync::Arc;

use gregor_protocol::ErrorCode;
use gregor_protocol::Uuid;
use gregor_protocol::messages::MetadataResponse;
use gregor_protocol::messages::metadata_response::{
    MetadataResponsePartition, MetadataResponseTopic,
};
use tokio::time::Instant;

use crate::BrokerAddr;

/// A broker's node id, as cluster metadata names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct BrokerId(pub i32);

impl fmt::Display for BrokerId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// Kafka's "no broker" (`-1`, or any negative id) as an `Option`.
fn broker_id(raw: i32) -> Option<BrokerId> {
    (raw >= 0).then_some(BrokerId(raw))
}

/// One broker of the cluster.
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BrokerMetadata {
    /// Its node id.
    pub id: BrokerId,
    /// The host it advertises.
    pub host: String,
    /// The port it advertises.
    pub port: i32,
    /// Its rack, if it has one.
    pub rack: Option<String>,
}

impl BrokerMetadata {
    /// A broker at `host:port`.
    pub fn new(id: BrokerId, host: impl Into<String>, port: i32) -> Self {
        Self {
            id,
            host: host.into(),
            port,
            rack: None,
        }
    }

    /// The address to dial, labelled with the node id for errors and logs.
    /// An IPv6 literal host is bracketed.
    pub fn addr(&self) -> BrokerAddr {
        let addr = if self.host.contains(':') && !self.host.starts_with('[') {
            format!("[{}]:{}", self.host, self.port)
        } else {
            format!("{}:{}", self.host, self.port)
        };
        BrokerAddr::new(addr).with_node_id(self.id.0)
    }
}

/// One topic.
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopicMetadata {
    /// Its name.
    pub name: String,
    /// Its id (Metadata v10+), if the broker sent a non-zero one.
    pub id: Option<Uuid>,
    /// Whether it is internal (`__consumer_offsets`, ...).
    pub is_internal: bool,
    /// The topic-level error the broker reported, e.g.
    /// `LEADER_NOT_AVAILABLE` while it is being created or
    /// `TOPIC_AUTHORIZATION_FAILED`; its partitions are then usually empty.
    pub error: Option<ErrorCode>,
    /// Its partitions, by index.
    pub partitions: Vec<PartitionMetadata>,
}

impl TopicMetadata {
    /// Partition `index`, if the topic has it.
    pub fn partition(&self, index: i32) -> Option<&PartitionMetadata> {
        // Partitions are kept sorted and are almost always 0..n.
        self.partitions
            .binary_search_by_key(&index, |p| p.partition)
            .ok()
            .and_then(|i| self.partitions.get(i))
    }
}

/// One partition.
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartitionMetadata {
    /// Its index.
    pub partition: i32,
    /// Its leader, or `None` while it has none (an election, all replicas
    /// offline).
    pub leader: Option<BrokerId>,
    /// The leader epoch (Metadata v7+), or `None` from older brokers.
    pub leader_epoch: Option<i32>,
    /// Its replicas.
    pub replicas: Vec<BrokerId>,
    /// Its in-sync replicas.
    pub isr: Vec<BrokerId>,
    /// Its offline replicas (Metadata v5+).
    pub offline: Vec<BrokerId>,
    /// The partition-level error the broker reported, e.g.
    /// `LEADER_NOT_AVAILABLE`.
    pub error: Option<ErrorCode>,
}

/// A snapshot of the cluster metadata: brokers, controller, cluster id and
/// the topics fetched so far.
///
/// Snapshots are immutable; [`Cluster::metadata`](crate::Cluster::metadata)
/// hands out the newest as an `Arc`, so holding one never blocks a refresh
/// and everything read from one snapshot is consistent.
#[derive(Debug, Clone, Default)]
pub struct ClusterMetadata {
    cluster_id: Option<String>,
    controller: Option<BrokerId>,
    brokers: BTreeMap<BrokerId, BrokerMetadata>,
    topics: BTreeMap<String, Arc<TopicMetadata>>,
    ids: HashMap<Uuid, String>,
    source: Option<BrokerAddr>,
    updated_at: Option<Instant>,
}

/// Which topics a metadata request asked for, which decides what a response
/// that leaves a topic out means.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Scope {
    /// Every topic: a topic left out no longer exists.
    All,
    /// These topics (none: brokers and controller only): a topic left out of
    /// the response is unknown; topics not asked for are kept as they were.
    Topics(BTreeSet<String>),
}

impl Scope {
    /// Whether a request for `self` answers everything `other` asks.
    pub(crate) fn covers(&self, other: &Scope) -> bool {
        match (self, other) {
            (Scope::All, _) => true,
            (Scope::Topics(_), Scope::All) => false,
            (Scope::Topics(mine), Scope::Topics(theirs)) => theirs.is_subset(mine),
        }
    }

    /// Widens `self` to cover `other` too.
    pub(crate) fn merge(&mut self, other: Scope) {
        match (&mut *self, other) {
            (Scope::All, _) => {}
            (_, Scope::All) => *self = Scope::All,
            (Scope::Topics(mine), Scope::Topics(theirs)) => mine.extend(theirs),
        }
    }
}

impl ClusterMetadata {
    /// The cluster id (Metadata v2+).
    pub fn cluster_id(&self) -> Option<&str> {
        self.cluster_id.as_deref()
    }

    /// The controller (Metadata v1+), if there is one.
    pub fn controller(&self) -> Option<BrokerId> {
        self.controller
    }

    /// Every broker, by id.
    pub fn brokers(&self) -> impl Iterator<Item = &BrokerMetadata> {
        self.brokers.values()
    }

    /// Broker `id`, if the cluster has it.
    pub fn broker(&self, id: BrokerId) -> Option<&BrokerMetadata> {
        self.brokers.get(&id)
    }

    /// Every topic fetched so far, by name.
    pub fn topics(&self) -> impl Iterator<Item = &TopicMetadata> {
        self.topics.values().map(|t| &**t)
    }

    /// Topic `name`, if it has been fetched and exists.
    pub fn topic(&self, name: &str) -> Option<&TopicMetadata> {
        self.topics.get(name).map(|t| &**t)
    }

    /// The id of topic `name` (Metadata v10+).
    pub fn topic_id(&self, name: &str) -> Option<Uuid> {
        self.topic(name).and_then(|t| t.id)
    }

    /// The name of the topic with id `id`.
    pub fn topic_name(&self, id: Uuid) -> Option<&str> {
        self.ids.get(&id).map(String::as_str)
    }

    /// The partitions of topic `name`, sorted by index.
    pub fn partitions(&self, topic: &str) -> Option<&[PartitionMetadata]> {
        self.topic(topic).map(|t| t.partitions.as_slice())
    }

    /// One partition.
    pub fn partition(&self, topic: &str, partition: i32) -> Option<&PartitionMetadata> {
        self.topic(topic).and_then(|t| t.partition(partition))
    }

    /// The leader of a partition, if the partition is known and has one.
    pub fn leader_for(&self, topic: &str, partition: i32) -> Option<BrokerId> {
        self.partition(topic, partition).and_then(|p| p.leader)
    }

    /// The broker whose response this snapshot came from, for error messages
    /// ("according to broker 3, topic t has no partition 9").
    pub fn source(&self) -> Option<&BrokerAddr> {
        self.source.as_ref()
    }

    /// When the last response was merged in; `None` before the first.
    pub fn updated_at(&self) -> Option<Instant> {
        self.updated_at
    }

    /// A snapshot with `resp` (the answer to a request for `scope`, from
    /// `source`) merged in.
    ///
    /// Brokers, controller and cluster id are replaced: every response lists
    /// them whole. Topics follow `scope`. A partition whose leader epoch in
    /// the response is older than the one already cached keeps the cached
    /// state (KIP-320): brokers can lag behind each other, and going back to
    /// an old leader would send requests to a broker that gave leadership
    /// up. That check is skipped when the topic id changed, since a
    /// recreated topic starts its epochs over.
    pub(crate) fn merge(
        &self,
        resp: &MetadataResponse,
        scope: &Scope,
        source: BrokerAddr,
        now: Instant,
    ) -> ClusterMetadata {
        let mut topics = match scope {
            Scope::All => BTreeMap::new(),
            Scope::Topics(asked) => {
                let mut kept = self.topics.clone();
                // Asked for but left out of the response: gone.
                kept.retain(|name, _| !asked.contains(name));
                kept
            }
        };
        for t in &resp.topics {
            let Some(name) = t.name.as_deref() else {
                continue;
            };
            if ErrorCode::from_code(t.error_code) == ErrorCode::UnknownTopicOrPartition {
                continue;
            }
            let fresh = topic_from(name, t);
            let merged = match self.topics.get(name) {
                Some(old) => keep_newer_epochs(old, fresh),
                None => fresh,
            };
            topics.insert(name.to_owned(), Arc::new(merged));
        }
        let ids = topics
            .values()
            .filter_map(|t| t.id.map(|id| (id, t.name.clone())))
            .collect();
        ClusterMetadata {
            cluster_id: resp.cluster_id.as_deref().map(str::to_owned),
            controller: broker_id(resp.controller_id),
            brokers: resp
                .brokers
                .iter()
                .map(|b| {
                    let meta = BrokerMetadata {
                        id: BrokerId(b.node_id),
                        host: b.host.to_string(),
                        port: b.port,
                        rack: b.rack.as_deref().map(str::to_owned),
                    };
                    (meta.id, meta)
                })
                .collect(),
            topics,
            ids,
            source: Some(source),
            updated_at: Some(now),
        }
    }
}

fn topic_from(name: &str, t: &MetadataResponseTopic) -> TopicMetadata {
    let mut partitions: Vec<PartitionMetadata> = t.partitions.iter().map(partition_from).collect();
    partitions.sort_by_key(|p| p.partition);
    partitions.dedup_by_key(|p| p.partition);
    TopicMetadata {
        name: name.to_owned(),
        id: (!t.topic_id.is_zero()).then_some(t.topic_id),
        is_internal: t.is_internal,
        error: error(t.error_code),
        partitions,
    }
}

fn partition_from(p: &MetadataResponsePartition) -> PartitionMetadata {
    let ids = |v: &[i32]| v.iter().map(|&id| BrokerId(id)).collect();
    PartitionMetadata {
        partition: p.partition_index,
        leader: broker_id(p.leader_id),
        leader_epoch: (p.leader_epoch >= 0).then_some(p.leader_epoch),
        replicas: ids(&p.replica_nodes),
        isr: ids(&p.isr_nodes),
        offline: ids(&p.offline_replicas),
        error: error(p.error_code),
    }
}

fn error(code: i16) -> Option<ErrorCode> {
    Some(ErrorCode::from_code(code)).filter(|c| c.is_err())
}

/// `fresh` with every partition whose leader epoch went backwards replaced
/// by the cached one.
fn keep_newer_epochs(old: &TopicMetadata, mut fresh: TopicMetadata) -> TopicMetadata {
    if old.id.is_some() && fresh.id.is_some() && old.id != fresh.id {
        return fresh;
    }
    for p in &mut fresh.partitions {
        let Some(cached) = old.partition(p.partition) else {
            continue;
        };
        if let (Some(was), Some(now)) = (cached.leader_epoch, p.leader_epoch)
            && now < was
        {
            tracing::debug!(
                topic = %fresh.name,
                partition = p.partition,
                cached_epoch = was,
                response_epoch = now,
                "ignoring stale partition metadata"
            );
            *p = cached.clone();
        }
    }
    fresh
}

#[cfg(test)]
mod tests {
    use super::*;
    use gregor_protocol::messages::metadata_response::MetadataResponseBroker;

    fn partition(index: i32, leader: i32, epoch: i32) -> MetadataResponsePartition {
        MetadataResponsePartition::default()
            .with_partition_index(index)
            .with_leader_id(leader)
            .with_leader_epoch(epoch)
            .with_replica_nodes(vec![1, 2])
            .with_isr_nodes(vec![leader])
    }

    fn topic(name: &str, id: u8, parts: Vec<MetadataResponsePartition>) -> MetadataResponseTopic {
        MetadataResponseTopic::default()
            .with_name(Some(name.into()))
            .with_topic_id(Uuid([id; 16]))
            .with_partitions(parts)
    }

    fn response(topics: Vec<MetadataResponseTopic>) -> MetadataResponse {
        MetadataResponse::default()
            .with_brokers(vec![
                MetadataResponseBroker::default()
                    .with_node_id(1)
                    .with_host("a")
                    .with_port(9092),
                MetadataResponseBroker::default()
                    .with_node_id(2)
                    .with_host("::1")
                    .with_port(9093)
                    .with_rack(Some("r1".into())),
            ])
            .with_controller_id(2)
            .with_cluster_id(Some("c".into()))
            .with_topics(topics)
    }

    fn merge(md: &ClusterMetadata, resp: &MetadataResponse, scope: Scope) -> ClusterMetadata {
        md.merge(resp, &scope, BrokerAddr::new("src:1"), Instant::now())
    }

    fn names(list: &[&str]) -> Scope {
        Scope::Topics(list.iter().map(|s| s.to_string()).collect())
    }

    #[tokio::test]
    async fn reads_brokers_topics_and_helpers() {
        let md = merge(
            &ClusterMetadata::default(),
            &response(vec![topic(
                "t",
                7,
                vec![partition(1, 2, 3), partition(0, 1, 4)],
            )]),
            Scope::All,
        );
        assert_eq!(md.cluster_id(), Some("c"));
        assert_eq!(md.controller(), Some(BrokerId(2)));
        assert_eq!(md.brokers().count(), 2);
        let b2 = md.broker(BrokerId(2)).unwrap();
        assert_eq!(b2.rack.as_deref(), Some("r1"));
        assert_eq!(b2.addr().to_string(), "[::1]:9093 (node 2)");
        assert_eq!(md.leader_for("t", 0), Some(BrokerId(1)));
        assert_eq!(md.leader_for("t", 1), Some(BrokerId(2)));
        assert_eq!(md.leader_for("t", 2), None);
        let idx: Vec<i32> = md
            .partitions("t")
            .unwrap()
            .iter()
            .map(|p| p.partition)
            .collect();
        assert_eq!(idx, [0, 1]);
        assert_eq!(md.topic_id("t"), Some(Uuid([7; 16])));
        assert_eq!(md.topic_name(Uuid([7; 16])), Some("t"));
        assert_eq!(md.source().unwrap().addr(), "src:1");
    }

    #[tokio::test]
    async fn stale_epochs_are_ignored_per_partition() {
        let md = merge(
            &ClusterMetadata::default(),
            &response(vec![topic(
                "t",
                7,
                vec![partition(0, 1, 5), partition(1, 1, 5)],
            )]),
            Scope::All,
        );
        // Partition 0 goes back to epoch 4 (a lagging broker), partition 1
        // moves forward: only the forward move is taken.
        let md = merge(
            &md,
            &response(vec![topic(
                "t",
                7,
                vec![partition(0, 2, 4), partition(1, 2, 6)],
            )]),
            names(&["t"]),
        );
        assert_eq!(md.leader_for("t", 0), Some(BrokerId(1)));
        assert_eq!(md.partition("t", 0).unwrap().leader_epoch, Some(5));
        assert_eq!(md.leader_for("t", 1), Some(BrokerId(2)));
        // A recreated topic (new id) starts its epochs over.
        let md = merge(
            &md,
            &response(vec![topic("t", 8, vec![partition(0, 2, 0)])]),
            names(&["t"]),
        );
        assert_eq!(md.leader_for("t", 0), Some(BrokerId(2)));
        assert_eq!(md.topic_name(Uuid([7; 16])), None);
    }

    #[tokio::test]
    async fn scope_decides_what_a_missing_topic_means() {
        let both = response(vec![
            topic("a", 1, vec![partition(0, 1, 0)]),
            topic("b", 2, vec![partition(0, 1, 0)]),
        ]);
        let md = merge(&ClusterMetadata::default(), &both, Scope::All);
        // Asking for "a" alone keeps "b".
        let only_a = response(vec![topic("a", 1, vec![partition(0, 2, 1)])]);
        let md = merge(&md, &only_a, names(&["a"]));
        assert!(md.topic("b").is_some());
        // "b" unknown now: dropped.
        let unknown = response(vec![
            MetadataResponseTopic::default()
                .with_name(Some("b".into()))
                .with_error_code(ErrorCode::UnknownTopicOrPartition.code()),
        ]);
        let md = merge(&md, &unknown, names(&["b"]));
        assert!(md.topic("b").is_none());
        assert!(md.topic("a").is_some());
        // A full listing without "a" drops it too.
        let md = merge(&md, &response(vec![]), Scope::All);
        assert_eq!(md.topics().count(), 0);
        // A topic-level error is kept so callers can see it.
        let creating = response(vec![
            MetadataResponseTopic::default()
                .with_name(Some("c".into()))
                .with_error_code(ErrorCode::LeaderNotAvailable.code()),
        ]);
        let md = merge(&md, &creating, names(&["c"]));
        assert_eq!(
            md.topic("c").unwrap().error,
            Some(ErrorCode::LeaderNotAvailable)
        );
        assert_eq!(md.leader_for("c", 0), None);
    }

    #[test]
    fn scopes_cover_and_merge() {
        let mut s = names(&["a"]);
        assert!(Scope::All.covers(&s));
        assert!(!s.covers(&Scope::All));
        assert!(s.covers(&names(&[])));
        assert!(!s.covers(&names(&["a", "b"])));
        s.merge(names(&["b"]));
        assert!(s.covers(&names(&["a", "b"])));
        s.merge(Scope::All);
        assert_eq!(s, Scope::All);
    }
}
