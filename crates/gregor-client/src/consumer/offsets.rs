//! Offsets outside the group protocol: looking up and committing offsets
//! of manually assigned partitions (generation -1, as the Java client's
//! "simple" consumer does), and resolving earliest / latest / timestamp
//! positions with ListOffsets.

use std::collections::BTreeMap;

use gregor_group::{OffsetAndMetadata, Request as GroupRequest};
use gregor_net::{BrokerAddr, Cluster, Connection, CoordinatorKey};
use gregor_protocol::messages::list_offsets_request::{ListOffsetsPartition, ListOffsetsTopic};
use gregor_protocol::messages::offset_commit_request::{
    OffsetCommitRequestPartition, OffsetCommitRequestTopic,
};
use gregor_protocol::messages::offset_fetch_request::{
    OffsetFetchRequestGroup, OffsetFetchRequestTopics,
};
use gregor_protocol::messages::{ListOffsetsRequest, OffsetCommitRequest, OffsetFetchRequest};
use gregor_protocol::{ApiKey, ErrorCode, StrBytes};

use super::TopicPartition;
use super::config::IsolationLevel;
use super::record::OffsetSpec;
use crate::error::{Error, Result};

/// A broker error code as an [`Error`] naming the broker, API, topic and
/// partition.
pub(crate) fn broker_error(
    broker: &BrokerAddr,
    api: ApiKey,
    code: ErrorCode,
    topic: &str,
    partition: Option<i32>,
) -> gregor_net::Error {
    gregor_net::Error::Broker {
        broker: broker.clone(),
        code,
        api,
        topic: Some(topic.to_owned()),
        partition,
        message: None,
    }
}

/// The API's version on `conn`, or [`Error::NotSupported`].
fn version(conn: &Connection, api: ApiKey) -> Result<i16> {
    conn.version_for(api).ok_or_else(|| Error::NotSupported {
        api,
        broker: conn.broker().clone(),
        detail: None,
    })
}

/// Reacts to a coordinator answering with a code that means "not here".
fn check_coordinator(cluster: &Cluster, key: &CoordinatorKey, code: ErrorCode) {
    if matches!(
        code,
        ErrorCode::NotCoordinator | ErrorCode::CoordinatorNotAvailable
    ) {
        cluster.invalidate_coordinator(key);
    }
}

/// One partition of an OffsetFetch response, whatever its version.
struct Row {
    topic: String,
    partition: i32,
    code: ErrorCode,
    offset: i64,
    epoch: i32,
    metadata: Option<String>,
}

/// The committed offsets of `partitions` in `group` (`None`: nothing
/// committed). One attempt; retriable errors are the caller's to retry.
pub(crate) async fn fetch_committed(
    cluster: &Cluster,
    group: &str,
    partitions: &[TopicPartition],
    require_stable: bool,
) -> Result<BTreeMap<TopicPartition, Option<OffsetAndMetadata>>> {
    let key = CoordinatorKey::Group(group.to_owned());
    let conn = cluster.coordinator_connection(&key).await?;
    let v = version(&conn, ApiKey::OffsetFetch)?;
    let mut topics: BTreeMap<&str, Vec<i32>> = BTreeMap::new();
    for tp in partitions {
        topics.entry(&tp.topic).or_default().push(tp.partition);
    }
    let request = OffsetFetchRequest::default()
        .with_groups(vec![
            OffsetFetchRequestGroup::default()
                .with_group_id(group)
                .with_topics(Some(
                    topics
                        .into_iter()
                        .map(|(name, parts)| {
                            OffsetFetchRequestTopics::default()
                                .with_name(name)
                                .with_partition_indexes(parts)
                        })
                        .collect(),
                )),
        ])
        .with_require_stable(require_stable);
    let request = match GroupRequest::OffsetFetch(request).for_version(v) {
        Ok(GroupRequest::OffsetFetch(r)) => r,
        Ok(_) => {
            return Err(Error::NotSupported {
                api: ApiKey::OffsetFetch,
                broker: conn.broker().clone(),
                detail: Some("the request changed kind".to_owned()),
            });
        }
        Err(e) => {
            return Err(Error::Group {
                group: group.to_owned(),
                source: e,
            });
        }
    };
    let response = match conn.send_at(&request, v).await {
        Ok(r) => r,
        Err(e) => {
            cluster.invalidate_coordinator(&key);
            cluster.on_error(&e);
            return Err(e.into());
        }
    };
    let broker = conn.broker();
    let row = |topic: &StrBytes,
               partition: i32,
               code: i16,
               offset: i64,
               epoch: i32,
               metadata: &Option<StrBytes>| Row {
        topic: topic.to_string(),
        partition,
        code: ErrorCode::from_code(code),
        offset,
        epoch,
        metadata: metadata.as_ref().map(|m| m.to_string()),
    };
    let mut rows: Vec<Row> = Vec::new();
    let mut group_code = response.error_code;
    if let Some(g) = response.groups.first() {
        group_code = g.error_code;
        for t in &g.topics {
            for p in &t.partitions {
                rows.push(row(
                    &t.name,
                    p.partition_index,
                    p.error_code,
                    p.committed_offset,
                    p.committed_leader_epoch,
                    &p.metadata,
                ));
            }
        }
    } else {
        for t in &response.topics {
            for p in &t.partitions {
                rows.push(row(
                    &t.name,
                    p.partition_index,
                    p.error_code,
                    p.committed_offset,
                    p.committed_leader_epoch,
                    &p.metadata,
                ));
            }
        }
    }
    let code = ErrorCode::from_code(group_code);
    if code.is_err() {
        check_coordinator(cluster, &key, code);
        let topic = partitions.first().map_or("", |tp| tp.topic.as_str());
        return Err(broker_error(broker, ApiKey::OffsetFetch, code, topic, None).into());
    }
    let mut out: BTreeMap<TopicPartition, Option<OffsetAndMetadata>> =
        partitions.iter().map(|tp| (tp.clone(), None)).collect();
    for r in rows {
        if r.code.is_err() {
            check_coordinator(cluster, &key, r.code);
            return Err(broker_error(
                broker,
                ApiKey::OffsetFetch,
                r.code,
                &r.topic,
                Some(r.partition),
            )
            .into());
        }
        let tp = TopicPartition::new(r.topic, r.partition);
        if let Some(slot) = out.get_mut(&tp)
            && r.offset >= 0
        {
            *slot = Some(OffsetAndMetadata {
                offset: r.offset,
                leader_epoch: (r.epoch >= 0).then_some(r.epoch),
                metadata: r.metadata.filter(|m| !m.is_empty()),
            });
        }
    }
    Ok(out)
}

/// Commits `offsets` for `group` outside any generation (generation -1,
/// no member id): for manually assigned partitions. One attempt.
pub(crate) async fn commit_simple(
    cluster: &Cluster,
    group: &str,
    offsets: &BTreeMap<TopicPartition, OffsetAndMetadata>,
) -> Result<()> {
    let key = CoordinatorKey::Group(group.to_owned());
    let mut topics: BTreeMap<&str, Vec<OffsetCommitRequestPartition>> = BTreeMap::new();
    for (tp, om) in offsets {
        topics.entry(&tp.topic).or_default().push(
            OffsetCommitRequestPartition::default()
                .with_partition_index(tp.partition)
                .with_committed_offset(om.offset)
                .with_committed_leader_epoch(om.leader_epoch.unwrap_or(-1))
                .with_committed_metadata(Some(StrBytes::from(
                    om.metadata.as_deref().unwrap_or(""),
                ))),
        );
    }
    let request = OffsetCommitRequest::default()
        .with_group_id(group)
        .with_generation_id_or_member_epoch(-1)
        .with_member_id("")
        .with_topics(
            topics
                .into_iter()
                .map(|(name, partitions)| {
                    OffsetCommitRequestTopic::default()
                        .with_name(name)
                        .with_partitions(partitions)
                })
                .collect(),
        );
    let conn = cluster.coordinator_connection(&key).await?;
    let response = match conn.send(&request).await {
        Ok(r) => r,
        Err(e) => {
            cluster.invalidate_coordinator(&key);
            cluster.on_error(&e);
            return Err(e.into());
        }
    };
    for t in &response.topics {
        for p in &t.partitions {
            let code = ErrorCode::from_code(p.error_code);
            if code.is_err() {
                check_coordinator(cluster, &key, code);
                return Err(broker_error(
                    conn.broker(),
                    ApiKey::OffsetCommit,
                    code,
                    t.name.as_str(),
                    Some(p.partition_index),
                )
                .into());
            }
        }
    }
    Ok(())
}

/// One partition's ListOffsets answer.
#[derive(Debug, Clone)]
pub(crate) struct Listed {
    pub(crate) tp: TopicPartition,
    pub(crate) code: ErrorCode,
    /// The offset found (-1: none, e.g. no record at or after a timestamp).
    pub(crate) offset: i64,
}

/// ListOffsets on `conn` (the leader of every partition asked about).
pub(crate) async fn list_offsets(
    conn: &Connection,
    items: &[(TopicPartition, OffsetSpec)],
    isolation: IsolationLevel,
) -> Result<Vec<Listed>> {
    let mut topics: BTreeMap<&str, Vec<ListOffsetsPartition>> = BTreeMap::new();
    for (tp, spec) in items {
        topics.entry(&tp.topic).or_default().push(
            ListOffsetsPartition::default()
                .with_partition_index(tp.partition)
                .with_timestamp(spec.wire()),
        );
    }
    let v = version(conn, ApiKey::ListOffsets)?;
    let request = ListOffsetsRequest::default()
        .with_replica_id(-1)
        .with_isolation_level(if v >= 2 { isolation.wire() } else { 0 })
        .with_topics(
            topics
                .into_iter()
                .map(|(name, partitions)| {
                    ListOffsetsTopic::default()
                        .with_name(name)
                        .with_partitions(partitions)
                })
                .collect(),
        );
    let response = conn.send_at(&request, v).await?;
    let mut out = Vec::new();
    for t in &response.topics {
        for p in &t.partitions {
            // Version 0 answers with a list of offsets instead.
            let offset = match p.old_style_offsets.first() {
                Some(&o) if p.offset < 0 => o,
                _ => p.offset,
            };
            out.push(Listed {
                tp: TopicPartition::new(t.name.as_str(), p.partition_index),
                code: ErrorCode::from_code(p.error_code),
                offset,
            });
        }
    }
    Ok(out)
}

/// The latest offset of one partition (the last stable offset under
/// `read_committed`), from its leader.
pub(crate) async fn latest_offset(
    cluster: &Cluster,
    tp: &TopicPartition,
    isolation: IsolationLevel,
) -> Result<i64> {
    let conn = cluster.leader_connection(&tp.topic, tp.partition).await?;
    let listed = list_offsets(&conn, &[(tp.clone(), OffsetSpec::Latest)], isolation).await?;
    let found = listed
        .into_iter()
        .find(|l| l.tp == *tp)
        .ok_or_else(|| Error::Incomplete {
            api: ApiKey::ListOffsets,
            broker: conn.broker().clone(),
            item: tp.to_string(),
        })?;
    if found.code.is_err() {
        let e = broker_error(
            conn.broker(),
            ApiKey::ListOffsets,
            found.code,
            &tp.topic,
            Some(tp.partition),
        );
        cluster.on_error(&e);
        return Err(e.into());
    }
    Ok(found.offset)
}
