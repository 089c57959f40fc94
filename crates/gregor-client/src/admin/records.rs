//! Partition offsets and records: ListOffsets and DeleteRecords, batched
//! per partition leader.

use std::collections::BTreeMap;

use gregor_protocol::ApiKey;
use gregor_protocol::messages::delete_records_request::{
    DeleteRecordsPartition, DeleteRecordsTopic,
};
use gregor_protocol::messages::list_offsets_request::{ListOffsetsPartition, ListOffsetsTopic};
use gregor_protocol::messages::{DeleteRecordsRequest, ListOffsetsRequest};

use super::{Admin, Outcomes, TopicPartition, code_result, net, version};
use crate::{Error, Result};

/// Which offset of a partition [`Admin::list_offsets`] asks for.
///
/// ```
/// use std::time::{Duration, SystemTime};
/// use gregor_client::admin::OffsetSpec;
///
/// let an_hour_ago = SystemTime::now() - Duration::from_secs(3600);
/// let spec = OffsetSpec::at(an_hour_ago);
/// assert!(matches!(spec, OffsetSpec::Timestamp(ms) if ms > 0));
/// ```
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OffsetSpec {
    /// The first offset still in the log (the log start offset).
    Earliest,
    /// The offset the next record will get (the high watermark).
    Latest,
    /// The first offset whose record's timestamp is at or after this many
    /// milliseconds since the Unix epoch.
    Timestamp(i64),
    /// The offset of the record with the largest timestamp (ListOffsets v7+).
    MaxTimestamp,
}

impl OffsetSpec {
    /// The first offset at or after `time`.
    pub fn at(time: std::time::SystemTime) -> OffsetSpec {
        let ms = time
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX));
        OffsetSpec::Timestamp(ms)
    }

    fn wire(self) -> i64 {
        match self {
            OffsetSpec::Earliest => -2,
            OffsetSpec::Latest => -1,
            OffsetSpec::MaxTimestamp => -3,
            OffsetSpec::Timestamp(ms) => ms,
        }
    }
}

/// An offset [`Admin::list_offsets`] found.
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ListedOffset {
    /// The offset; `None` when asked by timestamp and no record is that
    /// recent.
    pub offset: Option<i64>,
    /// The timestamp of the record found, when asked by timestamp.
    pub timestamp: Option<i64>,
    /// The leader epoch of that offset (ListOffsets v4+).
    pub leader_epoch: Option<i32>,
}

/// Each partition's offset.
pub type ListOffsetsResult = Outcomes<TopicPartition, ListedOffset>;
/// Each partition's new log start offset (low watermark).
pub type DeleteRecordsResult = Outcomes<TopicPartition, i64>;

impl Admin {
    /// Offsets of partitions, asked of each partition's leader in one
    /// request per leader (a partition asked twice keeps its first spec).
    /// A moved leader is found again and asked again; a partition the
    /// metadata does not have (it may be being created) is looked for
    /// until the timeout and then fails with `UnknownTopic` or
    /// `UnknownPartition`.
    ///
    /// ```no_run
    /// # use gregor_client::admin::{Admin, OffsetSpec, TopicPartition};
    /// # async fn demo(admin: Admin) -> gregor_client::Result<()> {
    /// let tp = TopicPartition::new("orders", 0);
    /// let found = admin
    ///     .list_offsets(&[(tp.clone(), OffsetSpec::Earliest)])
    ///     .await
    ///     .into_result()?;
    /// println!("{tp} starts at {:?}", found[0].1.offset);
    /// # Ok(())
    /// # }
    /// ```
    pub async fn list_offsets(&self, specs: &[(TopicPartition, OffsetSpec)]) -> ListOffsetsResult {
        let mut chosen: BTreeMap<TopicPartition, OffsetSpec> = BTreeMap::new();
        for (tp, spec) in specs {
            chosen.entry(tp.clone()).or_insert(*spec);
        }
        let chosen = &chosen;
        self.batched(
            ApiKey::ListOffsets,
            specs.iter().map(|(tp, _)| tp.clone()).collect(),
            |tps| self.leaders(tps),
            |id, tps: Vec<TopicPartition>| async move {
                let conn = self.connection(id).await?;
                let v = version(&conn, ApiKey::ListOffsets)?;
                let mut out: Vec<(TopicPartition, Result<ListedOffset>)> = Vec::new();
                let mut topics: BTreeMap<&str, Vec<ListOffsetsPartition>> = BTreeMap::new();
                for tp in &tps {
                    let spec = chosen.get(tp).copied().unwrap_or(OffsetSpec::Latest);
                    if spec == OffsetSpec::MaxTimestamp && v < 7 {
                        out.push((
                            tp.clone(),
                            Err(Error::NotSupported {
                                api: ApiKey::ListOffsets,
                                broker: conn.broker().clone(),
                                detail: Some(format!(
                                    "the max-timestamp offset needs version 7 or later, and \
                                     the broker speaks at most {v}"
                                )),
                            }),
                        ));
                        continue;
                    }
                    topics.entry(tp.topic.as_str()).or_default().push(
                        ListOffsetsPartition::default()
                            .with_partition_index(tp.partition)
                            .with_timestamp(spec.wire()),
                    );
                }
                if topics.is_empty() {
                    return Ok(out);
                }
                let req = ListOffsetsRequest::default()
                    .with_replica_id(-1)
                    .with_topics(
                        topics
                            .into_iter()
                            .map(|(name, ps)| {
                                ListOffsetsTopic::default()
                                    .with_name(name)
                                    .with_partitions(ps)
                            })
                            .collect(),
                    );
                let resp = conn.send(&req).await.map_err(net)?;
                for t in &resp.topics {
                    for p in &t.partitions {
                        let tp = TopicPartition::new(t.name.as_str(), p.partition_index);
                        let result =
                            code_result(conn.broker(), ApiKey::ListOffsets, p.error_code, None)
                                .map_err(|e| {
                                    Error::from(
                                        e.with_topic(t.name.as_str())
                                            .with_partition(p.partition_index),
                                    )
                                })
                                .map(|()| {
                                    let offset = if v == 0 {
                                        p.old_style_offsets.first().copied().unwrap_or(-1)
                                    } else {
                                        p.offset
                                    };
                                    ListedOffset {
                                        offset: (offset >= 0).then_some(offset),
                                        timestamp: (p.timestamp >= 0).then_some(p.timestamp),
                                        leader_epoch: (p.leader_epoch >= 0)
                                            .then_some(p.leader_epoch),
                                    }
                                });
                        out.push((tp, result));
                    }
                }
                Ok(out)
            },
            Error::is_retriable,
        )
        .await
    }

    /// Deletes the records of each partition before the offset given (`-1`:
    /// every record up to the high watermark), at each partition's leader
    /// in one request per leader. Returns each partition's new log start
    /// offset.
    ///
    /// ```no_run
    /// # use gregor_client::admin::{Admin, TopicPartition};
    /// # async fn demo(admin: Admin) -> gregor_client::Result<()> {
    /// let deleted = admin.delete_records(&[(TopicPartition::new("orders", 0), 100)]).await;
    /// println!("{:?}", deleted.into_result()?);
    /// # Ok(())
    /// # }
    /// ```
    pub async fn delete_records(&self, before: &[(TopicPartition, i64)]) -> DeleteRecordsResult {
        let mut chosen: BTreeMap<TopicPartition, i64> = BTreeMap::new();
        for (tp, offset) in before {
            chosen.entry(tp.clone()).or_insert(*offset);
        }
        let chosen = &chosen;
        let deadline = self.deadline();
        self.batched(
            ApiKey::DeleteRecords,
            before.iter().map(|(tp, _)| tp.clone()).collect(),
            |tps| self.leaders(tps),
            |id, tps: Vec<TopicPartition>| async move {
                let conn = self.connection(id).await?;
                version(&conn, ApiKey::DeleteRecords)?;
                let mut topics: BTreeMap<&str, Vec<DeleteRecordsPartition>> = BTreeMap::new();
                for tp in &tps {
                    topics.entry(tp.topic.as_str()).or_default().push(
                        DeleteRecordsPartition::default()
                            .with_partition_index(tp.partition)
                            .with_offset(chosen.get(tp).copied().unwrap_or(-1)),
                    );
                }
                let req = DeleteRecordsRequest::default()
                    .with_topics(
                        topics
                            .into_iter()
                            .map(|(name, ps)| {
                                DeleteRecordsTopic::default()
                                    .with_name(name)
                                    .with_partitions(ps)
                            })
                            .collect(),
                    )
                    .with_timeout_ms(deadline.timeout_ms());
                let resp = conn.send(&req).await.map_err(net)?;
                let mut out = Vec::new();
                for t in &resp.topics {
                    for p in &t.partitions {
                        let tp = TopicPartition::new(t.name.as_str(), p.partition_index);
                        let result =
                            code_result(conn.broker(), ApiKey::DeleteRecords, p.error_code, None)
                                .map_err(|e| {
                                    Error::from(
                                        e.with_topic(t.name.as_str())
                                            .with_partition(p.partition_index),
                                    )
                                })
                                .map(|()| p.low_watermark);
                        out.push((tp, result));
                    }
                }
                Ok(out)
            },
            Error::is_retriable,
        )
        .await
    }
}
