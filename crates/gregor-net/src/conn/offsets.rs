//! Offsets: ListOffsets requests and seeking.

use std::time::SystemTime;

use gregor_protocol::ApiKey;
use gregor_protocol::messages::ListOffsetsRequest;
use gregor_protocol::messages::list_offsets_request::{ListOffsetsPartition, ListOffsetsTopic};

use super::types::to_millis;
use super::{Budget, Conn, Target, Whence};
use crate::{Error, Result};

/// ListOffsets' timestamp for the first offset (the log start).
pub(super) const EARLIEST: i64 = -2;
/// ListOffsets' timestamp for the last offset (the high watermark).
pub(super) const LATEST: i64 = -1;

impl Conn {
    /// The bound partition's first offset (its log start): one ListOffsets
    /// request. Cancel-safe.
    ///
    /// # Errors
    ///
    /// [`Error::Unbound`]; [`Error::Broker`] naming the topic and partition;
    /// [`Error::Timeout`] past the read timeout; request errors.
    pub async fn read_first_offset(&self) -> Result<i64> {
        let target = self.target("read_first_offset")?;
        let budget = Budget::new(self.read_timeout);
        Ok(self.list_offset(target, EARLIEST, &budget).await?.0)
    }

    /// The bound partition's last offset: the high watermark, which the
    /// next message written will get. One ListOffsets request; cancel-safe.
    ///
    /// # Errors
    ///
    /// As [`read_first_offset`](Self::read_first_offset).
    pub async fn read_last_offset(&self) -> Result<i64> {
        let target = self.target("read_last_offset")?;
        let budget = Budget::new(self.read_timeout);
        Ok(self.list_offset(target, LATEST, &budget).await?.0)
    }

    /// The bound partition's first and last offsets: two ListOffsets
    /// requests, pipelined (one request may not name a partition twice).
    /// Cancel-safe.
    ///
    /// # Errors
    ///
    /// As [`read_first_offset`](Self::read_first_offset).
    pub async fn read_offsets(&self) -> Result<(i64, i64)> {
        let target = self.target("read_offsets")?;
        let budget = Budget::new(self.read_timeout);
        self.first_and_last(target, &budget).await
    }

    /// The offset of the first message whose timestamp is at or after
    /// `time`, or `None` when every message is older: one ListOffsets
    /// request by timestamp. Cancel-safe.
    ///
    /// # Errors
    ///
    /// As [`read_first_offset`](Self::read_first_offset).
    pub async fn read_offset_for_time(&self, time: SystemTime) -> Result<Option<i64>> {
        let target = self.target("read_offset_for_time")?;
        let budget = Budget::new(self.read_timeout);
        // Negative timestamps are ListOffsets' sentinels (-1 latest, -2
        // earliest, ...); a time before the epoch means "from the start".
        let ms = to_millis(time).max(0);
        let (offset, _) = self.list_offset(target, ms, &budget).await?;
        Ok((offset >= 0).then_some(offset))
    }

    /// Moves the current offset to `offset` relative to `whence` and returns
    /// the new absolute offset, checked against the partition's first and
    /// last offsets (inclusive: seeking to the last offset waits for the
    /// next message written), like kafka-go's `Seek`.
    ///
    /// Every `whence` adds `offset`: `seek(-3, Whence::Last)` goes to the
    /// third-last message, `seek(2, Whence::Current)` skips two. Sends two
    /// pipelined ListOffsets requests, except for an absolute seek to the
    /// current offset, which sends nothing. Use
    /// [`seek_unchecked`](Self::seek_unchecked) to skip the check.
    /// Cancel-safe: the offset changes only once the answers are in.
    ///
    /// # Errors
    ///
    /// [`Error::OffsetOutOfRange`] (the offset does not move) when the
    /// target is outside the partition's offsets; otherwise as
    /// [`read_first_offset`](Self::read_first_offset).
    pub async fn seek(&mut self, offset: i64, whence: Whence) -> Result<i64> {
        let target = self.target("seek")?;
        if whence == Whence::Absolute && offset == target.offset {
            return Ok(offset);
        }
        let budget = Budget::new(self.read_timeout);
        let (first, last) = self.first_and_last(target, &budget).await?;
        let base = match whence {
            Whence::First => first,
            Whence::Absolute => 0,
            Whence::Last => last,
            Whence::Current => target.offset,
        };
        let out_of_range = |offset| Error::OffsetOutOfRange {
            broker: self.broker().clone(),
            topic: target.topic.to_string(),
            partition: target.partition,
            offset,
            first,
            last,
        };
        let wanted = base
            .checked_add(offset)
            .ok_or_else(|| out_of_range(offset))?;
        if !(first..=last).contains(&wanted) {
            return Err(out_of_range(wanted));
        }
        self.set_offset(wanted);
        Ok(wanted)
    }

    /// Moves the current offset to the absolute `offset` without asking the
    /// broker (kafka-go's `SeekAbsolute | SeekDontCheck`). An offset outside
    /// the partition then fails the next read with `OFFSET_OUT_OF_RANGE`.
    ///
    /// # Errors
    ///
    /// [`Error::Unbound`] when no partition is bound.
    pub fn seek_unchecked(&mut self, offset: i64) -> Result<i64> {
        self.target("seek_unchecked")?;
        self.set_offset(offset);
        Ok(offset)
    }

    fn set_offset(&mut self, offset: i64) {
        if let Some(target) = self.target.as_mut() {
            target.offset = offset;
        }
    }

    async fn first_and_last(&self, target: &Target, budget: &Budget) -> Result<(i64, i64)> {
        let (first, last) = tokio::join!(
            self.list_offset(target, EARLIEST, budget),
            self.list_offset(target, LATEST, budget)
        );
        Ok((first?.0, last?.0))
    }

    /// One ListOffsets request for the bound partition at `timestamp` (a
    /// time in ms, or [`EARLIEST`]/[`LATEST`]); returns the offset and the
    /// timestamp the broker found (-1 for none).
    pub(super) async fn list_offset(
        &self,
        target: &Target,
        timestamp: i64,
        budget: &Budget,
    ) -> Result<(i64, i64)> {
        let request = ListOffsetsRequest::default()
            .with_replica_id(-1)
            .with_isolation_level(0)
            .with_timeout_ms(super::millis_i32(budget.remaining(self.request_timeout())))
            .with_topics(vec![
                ListOffsetsTopic::default()
                    .with_name(&*target.topic)
                    .with_partitions(vec![
                        ListOffsetsPartition::default()
                            .with_partition_index(target.partition)
                            .with_timestamp(timestamp),
                    ]),
            ]);
        let response = budget
            .run(
                self.broker(),
                ApiKey::ListOffsets,
                self.connection.send(&request),
            )
            .await?;
        let found = response
            .topics
            .iter()
            .flat_map(|t| &t.partitions)
            .find(|p| p.partition_index == target.partition);
        let found = found.ok_or_else(|| self.missing_partition(ApiKey::ListOffsets, target))?;
        self.check(
            ApiKey::ListOffsets,
            found.error_code,
            &target.topic,
            Some(target.partition),
            None,
        )?;
        // Version 0 answers with a list of offsets instead.
        let offset = match found.old_style_offsets.first() {
            Some(&o) if found.offset < 0 => o,
            _ => found.offset,
        };
        Ok((offset, found.timestamp))
    }
}
