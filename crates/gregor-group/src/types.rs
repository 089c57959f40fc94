//! Topic partitions and the topic metadata the assignors work from.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

/// One partition of one topic.
///
/// Ordered by topic, then partition, which is the order the Java client
/// sorts them in and the order every assignor in this crate walks them.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct TopicPartition {
    /// The topic name.
    pub topic: String,
    /// The partition index.
    pub partition: i32,
}

impl TopicPartition {
    /// A topic partition.
    pub fn new(topic: impl Into<String>, partition: i32) -> Self {
        Self {
            topic: topic.into(),
            partition,
        }
    }
}

impl fmt::Display for TopicPartition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-{}", self.topic, self.partition)
    }
}

/// One partition as the assignors see it: its index and the racks of the
/// brokers that hold a replica (empty when unknown).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct PartitionInfo {
    /// The partition index.
    pub partition: i32,
    /// Racks of the replicas' brokers (KIP-881); empty when unknown.
    pub racks: BTreeSet<String>,
}

/// The partitions of the topics a group consumes, with replica racks where
/// known: what the leader's assignor needs from the cluster metadata.
///
/// A topic missing here does not exist (or its metadata is not known yet);
/// assignors give out no partitions of it.
///
/// ```
/// use gregor_group::TopicPartitions;
///
/// let metadata = TopicPartitions::new()
///     .with_topic("orders", 3)
///     .with_partition_racks("orders", 0, ["eu-west-1a", "eu-west-1b"]);
/// assert_eq!(metadata.partition_count("orders"), Some(3));
/// assert!(metadata.partitions("orders").is_some_and(|p| p[0].racks.len() == 2));
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct TopicPartitions {
    topics: BTreeMap<String, Vec<PartitionInfo>>,
}

impl TopicPartitions {
    /// No topics.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds (or replaces) `topic` with partitions `0..count`, racks unknown.
    pub fn with_topic(mut self, topic: impl Into<String>, count: i32) -> Self {
        self.insert_topic(topic, count);
        self
    }

    /// Adds (or replaces) `topic` with partitions `0..count`, racks unknown.
    pub fn insert_topic(&mut self, topic: impl Into<String>, count: i32) {
        let partitions = (0..count.max(0))
            .map(|partition| PartitionInfo {
                partition,
                racks: BTreeSet::new(),
            })
            .collect();
        self.topics.insert(topic.into(), partitions);
    }

    /// Sets the replica racks of one partition (no effect if the partition
    /// is unknown).
    pub fn set_partition_racks<I, S>(&mut self, topic: &str, partition: i32, racks: I)
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        if let Some(info) = self
            .topics
            .get_mut(topic)
            .and_then(|parts| parts.iter_mut().find(|p| p.partition == partition))
        {
            info.racks = racks.into_iter().map(Into::into).collect();
        }
    }

    /// Builder form of [`set_partition_racks`](Self::set_partition_racks).
    pub fn with_partition_racks<I, S>(mut self, topic: &str, partition: i32, racks: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.set_partition_racks(topic, partition, racks);
        self
    }

    /// Removes a topic.
    pub fn remove_topic(&mut self, topic: &str) {
        self.topics.remove(topic);
    }

    /// The partitions of `topic`, in index order.
    pub fn partitions(&self, topic: &str) -> Option<&[PartitionInfo]> {
        self.topics.get(topic).map(Vec::as_slice)
    }

    /// The number of partitions of `topic`.
    pub fn partition_count(&self, topic: &str) -> Option<usize> {
        self.topics.get(topic).map(Vec::len)
    }

    /// Whether `topic` is known.
    pub fn contains_topic(&self, topic: &str) -> bool {
        self.topics.contains_key(topic)
    }

    /// The known topics, in name order.
    pub fn topics(&self) -> impl Iterator<Item = &str> {
        self.topics.keys().map(String::as_str)
    }

    /// Whether any partition has rack information.
    pub fn has_racks(&self) -> bool {
        self.topics
            .values()
            .any(|parts| parts.iter().any(|p| !p.racks.is_empty()))
    }

    /// The racks of one partition (empty when unknown).
    pub(crate) fn racks_of(&self, tp: &TopicPartition) -> Option<&BTreeSet<String>> {
        self.topics
            .get(&tp.topic)
            .and_then(|parts| parts.iter().find(|p| p.partition == tp.partition))
            .map(|p| &p.racks)
    }

    /// Whether `tp` exists.
    pub(crate) fn contains(&self, tp: &TopicPartition) -> bool {
        self.topics
            .get(&tp.topic)
            .is_some_and(|parts| parts.iter().any(|p| p.partition == tp.partition))
    }

    /// Every partition of `topic` as [`TopicPartition`]s, in index order.
    pub(crate) fn topic_partitions(&self, topic: &str) -> Vec<TopicPartition> {
        self.partitions(topic)
            .unwrap_or_default()
            .iter()
            .map(|p| TopicPartition::new(topic, p.partition))
            .collect()
    }

    /// Partition counts of the given topics (absent topics are left out).
    pub(crate) fn counts_of<'a>(
        &self,
        topics: impl IntoIterator<Item = &'a String>,
    ) -> BTreeMap<String, usize> {
        topics
            .into_iter()
            .filter_map(|t| self.partition_count(t).map(|n| (t.clone(), n)))
            .collect()
    }
}

/// A group generation as this member knows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Generation {
    /// The generation id the coordinator gave out (`-1`: none).
    pub generation_id: i32,
    /// This member's id in the group (empty: none yet).
    pub member_id: String,
    /// The assignor protocol the coordinator chose for the generation.
    pub protocol_name: Option<String>,
}

impl Generation {
    /// No generation: not joined.
    pub const NO_GENERATION_ID: i32 = -1;

    pub(crate) fn none() -> Self {
        Self {
            generation_id: Self::NO_GENERATION_ID,
            member_id: String::new(),
            protocol_name: None,
        }
    }

    /// Whether this is a real generation (joined at least once and not
    /// reset since).
    pub fn is_valid(&self) -> bool {
        self.generation_id != Self::NO_GENERATION_ID && !self.member_id.is_empty()
    }
}
