//! A group's committed offsets: OffsetFetch, OffsetCommit and OffsetDelete
//! at its coordinator, and the group's lag.

use std::collections::{BTreeMap, BTreeSet};

use gregor_net::{Connection, CoordinatorKey};
use gregor_protocol::messages::offset_commit_request::{
    OffsetCommitRequestPartition, OffsetCommitRequestTopic,
};
use gregor_protocol::messages::offset_delete_request::{
    OffsetDeleteRequestPartition, OffsetDeleteRequestTopic,
};
use gregor_protocol::messages::offset_fetch_request::{
    OffsetFetchRequestGroup, OffsetFetchRequestTopic, OffsetFetchRequestTopics,
};
use gregor_protocol::messages::{OffsetCommitRequest, OffsetDeleteRequest, OffsetFetchRequest};
use gregor_protocol::{ApiKey, StrBytes};

use super::{
    Admin, OffsetAndMetadata, OffsetSpec, Outcomes, TopicPartition, all_failed, code_result,
    is_routing_code, need_version, net, types, version,
};
use crate::{Error, Result};

/// Whether each partition's offset was committed.
pub type AlterGroupOffsetsResult = Outcomes<TopicPartition, ()>;
/// Whether each partition's committed offset was deleted.
pub type DeleteGroupOffsetsResult = Outcomes<TopicPartition, ()>;
/// Each partition's lag.
pub type LagResult = Outcomes<TopicPartition, PartitionLag>;

/// How far a group is behind on one partition.
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PartitionLag {
    /// The group's committed offset, if it committed one.
    pub committed: Option<i64>,
    /// The partition's end: the offset the next record will get (the high
    /// watermark).
    pub end_offset: i64,
    /// `end_offset - committed` (never negative), if there is a commit.
    pub lag: Option<i64>,
}

impl Admin {
    /// Every offset `group` has committed.
    ///
    /// ```no_run
    /// # async fn demo(admin: gregor_client::admin::Admin) -> gregor_client::Result<()> {
    /// for (tp, committed) in admin.list_group_offsets("billing").await? {
    ///     println!("{tp}: next offset {}", committed.offset);
    /// }
    /// # Ok(())
    /// # }
    /// ```
    ///
    /// # Errors
    ///
    /// The coordinator's error for the group or for a partition, after
    /// retrying coordinator moves until the timeout; [`Error::NotSupported`]
    /// from brokers before OffsetFetch v2, which cannot list them all.
    pub async fn list_group_offsets(
        &self,
        group: &str,
    ) -> Result<BTreeMap<TopicPartition, OffsetAndMetadata>> {
        self.fetch_offsets(group, None).await
    }

    /// The offsets `group` committed for `partitions`; partitions without
    /// one are left out.
    ///
    /// # Errors
    ///
    /// As [`list_group_offsets`](Self::list_group_offsets).
    pub async fn list_group_offsets_for(
        &self,
        group: &str,
        partitions: &[TopicPartition],
    ) -> Result<BTreeMap<TopicPartition, OffsetAndMetadata>> {
        if partitions.is_empty() {
            return Ok(BTreeMap::new());
        }
        self.fetch_offsets(group, Some(partitions)).await
    }

    async fn fetch_offsets(
        &self,
        group: &str,
        partitions: Option<&[TopicPartition]>,
    ) -> Result<BTreeMap<TopicPartition, OffsetAndMetadata>> {
        let key = &CoordinatorKey::Group(group.to_owned());
        let by_topic = &partitions.map(by_topic);
        self.retry(self.deadline(), || async move {
            let conn = self.cluster.coordinator_connection(key).await?;
            let v = version(&conn, ApiKey::OffsetFetch)?;
            if by_topic.is_none() {
                need_version(
                    &conn,
                    ApiKey::OffsetFetch,
                    v,
                    2,
                    "listing every committed offset",
                )?;
            }
            let req = if v >= 8 {
                let topics = by_topic.as_ref().map(|t| {
                    t.iter()
                        .map(|(name, ps)| {
                            OffsetFetchRequestTopics::default()
                                .with_name(name.as_str())
                                .with_partition_indexes(ps.clone())
                        })
                        .collect()
                });
                OffsetFetchRequest::default().with_groups(vec![
                    OffsetFetchRequestGroup::default()
                        .with_group_id(group)
                        .with_topics(topics),
                ])
            } else {
                let topics = by_topic.as_ref().map(|t| {
                    t.iter()
                        .map(|(name, ps)| {
                            OffsetFetchRequestTopic::default()
                                .with_name(name.as_str())
                                .with_partition_indexes(ps.clone())
                        })
                        .collect()
                });
                OffsetFetchRequest::default()
                    .with_group_id(group)
                    .with_topics(topics)
            };
            let resp = conn.send(&req).await.map_err(net)?;
            let mut rows: Vec<Committed<'_>> = Vec::new();
            let group_code = if v >= 8 {
                let Some(g) = resp.groups.iter().find(|g| g.group_id.as_str() == group) else {
                    return Err(Error::Incomplete {
                        api: ApiKey::OffsetFetch,
                        broker: conn.broker().clone(),
                        item: format!("group {group}"),
                    });
                };
                for t in &g.topics {
                    rows.extend(t.partitions.iter().map(|p| Committed {
                        topic: t.name.as_str(),
                        partition: p.partition_index,
                        offset: p.committed_offset,
                        epoch: p.committed_leader_epoch,
                        metadata: p.metadata.as_ref(),
                        code: p.error_code,
                    }));
                }
                g.error_code
            } else {
                for t in &resp.topics {
                    rows.extend(t.partitions.iter().map(|p| Committed {
                        topic: t.name.as_str(),
                        partition: p.partition_index,
                        offset: p.committed_offset,
                        epoch: p.committed_leader_epoch,
                        metadata: p.metadata.as_ref(),
                        code: p.error_code,
                    }));
                }
                resp.error_code
            };
            code_result(conn.broker(), ApiKey::OffsetFetch, group_code, None)?;
            let mut out = BTreeMap::new();
            for r in rows {
                code_result(conn.broker(), ApiKey::OffsetFetch, r.code, None)
                    .map_err(|e| e.with_topic(r.topic).with_partition(r.partition))?;
                if r.offset < 0 {
                    continue;
                }
                out.insert(
                    TopicPartition::new(r.topic, r.partition),
                    OffsetAndMetadata {
                        offset: r.offset,
                        leader_epoch: (r.epoch >= 0).then_some(r.epoch),
                        metadata: r.metadata.map(|m| m.to_string()).filter(|m| !m.is_empty()),
                    },
                );
            }
            Ok(out)
        })
        .await
    }

    /// Sets `group`'s committed offsets (OffsetCommit outside any
    /// generation), e.g. to rewind it. The group must have no active
    /// members; a group that does not exist yet is created with these
    /// offsets.
    ///
    /// ```no_run
    /// # use gregor_client::admin::{Admin, OffsetAndMetadata, TopicPartition};
    /// # async fn demo(admin: Admin) -> gregor_client::Result<()> {
    /// let offsets = [(TopicPartition::new("orders", 0), OffsetAndMetadata::new(42))];
    /// admin.alter_group_offsets("billing", &offsets).await.into_result()?;
    /// # Ok(())
    /// # }
    /// ```
    pub async fn alter_group_offsets(
        &self,
        group: &str,
        offsets: &[(TopicPartition, OffsetAndMetadata)],
    ) -> AlterGroupOffsetsResult {
        let mut chosen: BTreeMap<&TopicPartition, &OffsetAndMetadata> = BTreeMap::new();
        for (tp, o) in offsets {
            chosen.entry(tp).or_insert(o);
        }
        let tps = types::dedup(offsets.iter().map(|(tp, _)| tp.clone()));
        if tps.is_empty() {
            return Outcomes::default();
        }
        let key = &CoordinatorKey::Group(group.to_owned());
        let chosen = &chosen;
        let sent = self
            .retry(self.deadline(), || async move {
                let conn = self.cluster.coordinator_connection(key).await?;
                version(&conn, ApiKey::OffsetCommit)?;
                let mut topics: BTreeMap<&str, Vec<OffsetCommitRequestPartition>> = BTreeMap::new();
                for (tp, o) in chosen {
                    let mut p = OffsetCommitRequestPartition::default()
                        .with_partition_index(tp.partition)
                        .with_committed_offset(o.offset)
                        .with_committed_metadata(Some(
                            o.metadata.as_deref().unwrap_or_default().into(),
                        ));
                    if let Some(epoch) = o.leader_epoch {
                        p = p.with_committed_leader_epoch(epoch);
                    }
                    topics.entry(tp.topic.as_str()).or_default().push(p);
                }
                let req = OffsetCommitRequest::default()
                    .with_group_id(group)
                    .with_generation_id_or_member_epoch(-1)
                    .with_member_id("")
                    .with_topics(
                        topics
                            .into_iter()
                            .map(|(name, ps)| {
                                OffsetCommitRequestTopic::default()
                                    .with_name(name)
                                    .with_partitions(ps)
                            })
                            .collect(),
                    );
                let resp = conn.send(&req).await.map_err(net)?;
                let mut codes = BTreeMap::new();
                for t in &resp.topics {
                    for p in &t.partitions {
                        codes.insert(
                            TopicPartition::new(t.name.as_str(), p.partition_index),
                            p.error_code,
                        );
                    }
                }
                reroute_on_coordinator_codes(&conn, ApiKey::OffsetCommit, codes.values().copied())?;
                Ok((conn.broker().clone(), codes))
            })
            .await;
        let (broker, codes) = match sent {
            Ok(r) => r,
            Err(e) => return all_failed(&tps, &e),
        };
        partition_outcomes(&broker, ApiKey::OffsetCommit, tps, &codes)
    }

    /// Deletes `group`'s committed offsets for `partitions` (OffsetDelete,
    /// Kafka 2.4+). A partition of a topic the group is still subscribed to
    /// fails with `GROUP_SUBSCRIBED_TO_TOPIC`.
    pub async fn delete_group_offsets(
        &self,
        group: &str,
        partitions: &[TopicPartition],
    ) -> DeleteGroupOffsetsResult {
        let tps = types::dedup(partitions.iter().cloned());
        if tps.is_empty() {
            return Outcomes::default();
        }
        let key = &CoordinatorKey::Group(group.to_owned());
        let wanted = &tps;
        let sent = self
            .retry(self.deadline(), || async move {
                let conn = self.cluster.coordinator_connection(key).await?;
                version(&conn, ApiKey::OffsetDelete)?;
                let req = OffsetDeleteRequest::default()
                    .with_group_id(group)
                    .with_topics(
                        by_topic(wanted)
                            .into_iter()
                            .map(|(name, ps)| {
                                OffsetDeleteRequestTopic::default()
                                    .with_name(name.as_str())
                                    .with_partitions(
                                        ps.into_iter()
                                            .map(|p| {
                                                OffsetDeleteRequestPartition::default()
                                                    .with_partition_index(p)
                                            })
                                            .collect(),
                                    )
                            })
                            .collect(),
                    );
                let resp = conn.send(&req).await.map_err(net)?;
                code_result(conn.broker(), ApiKey::OffsetDelete, resp.error_code, None)?;
                let mut codes = BTreeMap::new();
                for t in &resp.topics {
                    for p in &t.partitions {
                        codes.insert(
                            TopicPartition::new(t.name.as_str(), p.partition_index),
                            p.error_code,
                        );
                    }
                }
                reroute_on_coordinator_codes(&conn, ApiKey::OffsetDelete, codes.values().copied())?;
                Ok((conn.broker().clone(), codes))
            })
            .await;
        let (broker, codes) = match sent {
            Ok(r) => r,
            Err(e) => return all_failed(&tps, &e),
        };
        partition_outcomes(&broker, ApiKey::OffsetDelete, tps, &codes)
    }

    /// How far `group` is behind on every partition it has committed an
    /// offset for or has assigned to a member: the partition's end offset
    /// (high watermark) minus the committed offset, like kafka-go's lag.
    ///
    /// ```no_run
    /// # async fn demo(admin: gregor_client::admin::Admin) -> gregor_client::Result<()> {
    /// let total: i64 = admin
    ///     .lag("billing")
    ///     .await?
    ///     .into_result()?
    ///     .iter()
    ///     .filter_map(|(_, l)| l.lag)
    ///     .sum();
    /// println!("billing is {total} records behind");
    /// # Ok(())
    /// # }
    /// ```
    ///
    /// # Errors
    ///
    /// When the group's offsets or members cannot be read; a partition
    /// whose end offset cannot be listed fails on its own.
    pub async fn lag(&self, group: &str) -> Result<LagResult> {
        let committed = self.list_group_offsets(group).await?;
        let mut partitions: BTreeSet<TopicPartition> = committed.keys().cloned().collect();
        let described = self.describe_groups(&[group]).await;
        match described.get(group) {
            Some(Ok(description)) => {
                for m in &description.members {
                    if let Some(a) = &m.assignment {
                        partitions.extend(a.partitions.iter().cloned());
                    }
                }
            }
            // No such group: no members, so only its commits count.
            Some(Err(e)) if group_not_found(e) => {}
            Some(Err(e)) => return Err(e.clone()),
            None => {}
        }
        let specs: Vec<(TopicPartition, OffsetSpec)> = partitions
            .iter()
            .map(|tp| (tp.clone(), OffsetSpec::Latest))
            .collect();
        let ends = self.list_offsets(&specs).await;
        Ok(Outcomes::from_items(
            ends.into_iter()
                .map(|(tp, end)| {
                    let lag = end.map(|end| {
                        let end_offset = end.offset.unwrap_or(0);
                        let committed = committed.get(&tp).map(|c| c.offset);
                        PartitionLag {
                            committed,
                            end_offset,
                            lag: committed.map(|c| (end_offset - c).max(0)),
                        }
                    });
                    (tp, lag)
                })
                .collect(),
        ))
    }
}

/// Whether `e` is the coordinator saying the group does not exist.
fn group_not_found(e: &Error) -> bool {
    matches!(
        e,
        Error::Net(gregor_net::Error::Broker {
            code: gregor_protocol::ErrorCode::GroupIdNotFound,
            ..
        })
    )
}

/// One partition's row of an OffsetFetch response, whichever version.
struct Committed<'a> {
    topic: &'a str,
    partition: i32,
    offset: i64,
    epoch: i32,
    metadata: Option<&'a StrBytes>,
    code: i16,
}

/// Partitions grouped by topic, both sorted.
fn by_topic(partitions: &[TopicPartition]) -> BTreeMap<String, Vec<i32>> {
    let mut out: BTreeMap<String, Vec<i32>> = BTreeMap::new();
    for tp in partitions {
        out.entry(tp.topic.clone()).or_default().push(tp.partition);
    }
    for ps in out.values_mut() {
        ps.sort_unstable();
        ps.dedup();
    }
    out
}

/// An error when any code says the coordinator moved: the whole request
/// goes to the new one.
fn reroute_on_coordinator_codes(
    conn: &Connection,
    api: ApiKey,
    mut codes: impl Iterator<Item = i16>,
) -> Result<()> {
    match codes.find(|&c| is_routing_code(c)) {
        Some(code) => Ok(code_result(conn.broker(), api, code, None)?),
        None => Ok(()),
    }
}

/// Each partition's result from its code in the response.
fn partition_outcomes(
    broker: &gregor_net::BrokerAddr,
    api: ApiKey,
    tps: Vec<TopicPartition>,
    codes: &BTreeMap<TopicPartition, i16>,
) -> Outcomes<TopicPartition, ()> {
    Outcomes::from_items(
        tps.into_iter()
            .map(|tp| {
                let r = match codes.get(&tp) {
                    Some(&code) => code_result(broker, api, code, None).map_err(|e| {
                        e.with_topic(tp.topic.as_str())
                            .with_partition(tp.partition)
                            .into()
                    }),
                    None => Err(Error::Incomplete {
                        api,
                        broker: broker.clone(),
                        item: format!("partition {tp}"),
                    }),
                };
                (tp, r)
            })
            .collect(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn partitions_group_by_topic_sorted_without_repeats() {
        let tps = [
            TopicPartition::new("b", 1),
            TopicPartition::new("a", 2),
            TopicPartition::new("b", 0),
            TopicPartition::new("b", 1),
        ];
        let grouped = by_topic(&tps);
        assert_eq!(grouped["a"], [2]);
        assert_eq!(grouped["b"], [0, 1]);
    }
}
