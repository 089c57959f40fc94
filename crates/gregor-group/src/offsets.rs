//! Committed offsets: the type, and the OffsetCommit / OffsetFetch
//! requests and responses in the shape the state machine uses.

use std::collections::BTreeMap;

use gregor_protocol::ErrorCode;
use gregor_protocol::StrBytes;
use gregor_protocol::messages::offset_commit_request::{
    OffsetCommitRequestPartition, OffsetCommitRequestTopic,
};
use gregor_protocol::messages::offset_fetch_request::{
    OffsetFetchRequestGroup, OffsetFetchRequestTopics,
};
use gregor_protocol::messages::{
    OffsetCommitRequest, OffsetCommitResponse, OffsetFetchRequest, OffsetFetchResponse,
};

use crate::types::TopicPartition;

/// A committed offset: the offset of the **next** record to consume (the
/// last processed offset plus one, as Kafka stores it), the leader epoch of
/// the last consumed record if known, and free-form metadata.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OffsetAndMetadata {
    /// The next offset to consume.
    pub offset: i64,
    /// The leader epoch of the last consumed record (KIP-320).
    pub leader_epoch: Option<i32>,
    /// Metadata stored with the offset.
    pub metadata: Option<String>,
}

impl OffsetAndMetadata {
    /// An offset without epoch or metadata.
    pub fn new(offset: i64) -> Self {
        Self {
            offset,
            leader_epoch: None,
            metadata: None,
        }
    }

    /// Sets the leader epoch.
    pub fn with_leader_epoch(mut self, epoch: i32) -> Self {
        self.leader_epoch = Some(epoch);
        self
    }

    /// Sets the metadata.
    pub fn with_metadata(mut self, metadata: impl Into<String>) -> Self {
        self.metadata = Some(metadata.into());
        self
    }
}

/// Who is committing: the group generation fields of OffsetCommit.
pub(crate) struct Committer<'a> {
    pub(crate) group_id: &'a str,
    pub(crate) generation_id: i32,
    pub(crate) member_id: &'a str,
    pub(crate) group_instance_id: Option<&'a str>,
}

/// An OffsetCommit request for `offsets`.
pub(crate) fn commit_request(
    who: &Committer<'_>,
    offsets: &BTreeMap<TopicPartition, OffsetAndMetadata>,
) -> OffsetCommitRequest {
    let mut topics: BTreeMap<&str, Vec<OffsetCommitRequestPartition>> = BTreeMap::new();
    for (tp, om) in offsets {
        topics.entry(tp.topic.as_str()).or_default().push(
            OffsetCommitRequestPartition::default()
                .with_partition_index(tp.partition)
                .with_committed_offset(om.offset)
                .with_committed_leader_epoch(om.leader_epoch.unwrap_or(-1))
                .with_committed_metadata(Some(StrBytes::from(
                    om.metadata.as_deref().unwrap_or(""),
                ))),
        );
    }
    OffsetCommitRequest::default()
        .with_group_id(who.group_id)
        .with_generation_id_or_member_epoch(who.generation_id)
        .with_member_id(who.member_id)
        .with_group_instance_id(who.group_instance_id.map(StrBytes::from))
        .with_topics(
            topics
                .into_iter()
                .map(|(name, partitions)| {
                    OffsetCommitRequestTopic::default()
                        .with_name(name)
                        .with_partitions(partitions)
                })
                .collect(),
        )
}

/// Per-partition results of an OffsetCommit response.
pub(crate) fn commit_results(resp: &OffsetCommitResponse) -> BTreeMap<TopicPartition, ErrorCode> {
    resp.topics
        .iter()
        .flat_map(|t| {
            t.partitions.iter().map(move |p| {
                (
                    TopicPartition::new(t.name.as_str(), p.partition_index),
                    ErrorCode::from_code(p.error_code),
                )
            })
        })
        .collect()
}

/// An OffsetFetch request for `partitions`, in the v8+ shape (see
/// [`Request::for_version`](crate::Request::for_version)).
pub(crate) fn fetch_request<'a>(
    group_id: &str,
    partitions: impl IntoIterator<Item = &'a TopicPartition>,
    require_stable: bool,
) -> OffsetFetchRequest {
    let mut topics: BTreeMap<&str, Vec<i32>> = BTreeMap::new();
    for tp in partitions {
        topics
            .entry(tp.topic.as_str())
            .or_default()
            .push(tp.partition);
    }
    let topics = topics
        .into_iter()
        .map(|(name, partitions)| {
            OffsetFetchRequestTopics::default()
                .with_name(name)
                .with_partition_indexes(partitions)
        })
        .collect();
    OffsetFetchRequest::default()
        .with_groups(vec![
            OffsetFetchRequestGroup::default()
                .with_group_id(group_id)
                .with_topics(Some(topics)),
        ])
        .with_require_stable(require_stable)
}

/// An OffsetFetch response, whatever its version: the group-level error and
/// each partition's result.
pub(crate) struct FetchResult {
    pub(crate) group_error: ErrorCode,
    pub(crate) partitions: BTreeMap<TopicPartition, (ErrorCode, Option<OffsetAndMetadata>)>,
}

pub(crate) fn fetch_results(resp: &OffsetFetchResponse, group_id: &str) -> FetchResult {
    let mut partitions = BTreeMap::new();
    let committed = |offset: i64, epoch: i32, metadata: &Option<StrBytes>| {
        (offset >= 0).then(|| OffsetAndMetadata {
            offset,
            leader_epoch: (epoch >= 0).then_some(epoch),
            metadata: metadata
                .as_ref()
                .map(|m| m.as_str().to_owned())
                .filter(|m| !m.is_empty()),
        })
    };
    let group = resp
        .groups
        .iter()
        .find(|g| g.group_id.as_str() == group_id)
        .or_else(|| resp.groups.first());
    let group_error = if let Some(g) = group {
        for t in &g.topics {
            for p in &t.partitions {
                partitions.insert(
                    TopicPartition::new(t.name.as_str(), p.partition_index),
                    (
                        ErrorCode::from_code(p.error_code),
                        committed(p.committed_offset, p.committed_leader_epoch, &p.metadata),
                    ),
                );
            }
        }
        ErrorCode::from_code(g.error_code)
    } else {
        for t in &resp.topics {
            for p in &t.partitions {
                partitions.insert(
                    TopicPartition::new(t.name.as_str(), p.partition_index),
                    (
                        ErrorCode::from_code(p.error_code),
                        committed(p.committed_offset, p.committed_leader_epoch, &p.metadata),
                    ),
                );
            }
        }
        ErrorCode::from_code(resp.error_code)
    };
    FetchResult {
        group_error,
        partitions,
    }
}
