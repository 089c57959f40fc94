//! Reading: Fetch requests for the bound partition.

use std::time::Duration;

use gregor_protocol::ApiKey;
use gregor_protocol::messages::FetchRequest;
use gregor_protocol::messages::fetch_request::{FetchPartition, FetchTopic};
use gregor_protocol::messages::fetch_response::PartitionData;
use gregor_protocol::records::{DecodeOptions, RecordBatch};

use super::batch::{Marks, Split, split};
use super::{Batch, Budget, Conn, Message, ReadBatchConfig, Target};
use crate::{Error, Result};

/// The last Fetch version that names topics by name; later ones name them
/// by id only.
const LAST_FETCH_BY_NAME: i16 = 12;

/// Room left in a response frame for everything around the records (header,
/// topic, partition fields), so a fetch of the largest allowed size still
/// fits the connection's frame limit.
const RESPONSE_OVERHEAD: usize = 4 * 1024;

impl Conn {
    /// Fetches from the current offset with [`ReadBatchConfig`]'s defaults
    /// and these byte limits; see [`read_batch_with`](Self::read_batch_with).
    ///
    /// # Errors
    ///
    /// As [`read_batch_with`](Self::read_batch_with).
    pub async fn read_batch(&mut self, min_bytes: usize, max_bytes: usize) -> Result<Batch<'_>> {
        self.read_batch_with(ReadBatchConfig::new(min_bytes, max_bytes))
            .await
    }

    /// Sends one Fetch request for the bound partition at the current offset
    /// and returns the messages it brought, as a [`Batch`] that moves the
    /// offset as they are read.
    ///
    /// The broker answers once it has `min_bytes` or after `max_wait`, so an
    /// empty batch means nothing new arrived in that time. When the response
    /// holds only the start of a record batch too big for `max_bytes` (brokers
    /// before KIP-74 cut it), the fetch is sent again with the limit grown to
    /// that batch's size, up to the connection's frame limit; past that it is
    /// [`Error::RecordTooLarge`], never a loop.
    ///
    /// Cancel-safe: the offset moves only as the returned batch hands out
    /// messages, so a dropped future loses nothing.
    ///
    /// # Errors
    ///
    /// - [`Error::Unbound`] when no partition is bound.
    /// - [`Error::Broker`] naming the topic and partition for the
    ///   partition's error code (e.g. `OFFSET_OUT_OF_RANGE`,
    ///   `NOT_LEADER_OR_FOLLOWER`).
    /// - [`Error::RecordTooLarge`] as above; [`Error::CorruptRecords`] when
    ///   the first record batch cannot be decoded.
    /// - [`Error::Timeout`] when the read timeout expires; request errors as
    ///   for any request.
    pub async fn read_batch_with(&mut self, config: ReadBatchConfig) -> Result<Batch<'_>> {
        let budget = Budget::new(self.read_timeout);
        let fetched = budget
            .run(
                self.broker(),
                ApiKey::Fetch,
                self.fetch(&config, &budget, "read_batch"),
            )
            .await?;
        fetched.into_batch(self, "read_batch")
    }

    /// Reads the message at the current offset and moves the offset past
    /// it, fetching with `max_bytes` (and `min_bytes` 1) until a message
    /// arrives or the read timeout expires.
    ///
    /// Like kafka-go's, this throws away the rest of each fetch, so it is
    /// far slower than iterating a [`read_batch`](Self::read_batch). Without
    /// a read timeout it waits for a message forever. Cancel-safe: the
    /// offset moves only when the message is returned.
    ///
    /// # Errors
    ///
    /// As [`read_batch_with`](Self::read_batch_with); also the batch's
    /// error when a corrupt record batch comes before any message.
    pub async fn read_message(&mut self, max_bytes: usize) -> Result<Message> {
        let config = ReadBatchConfig::new(1, max_bytes);
        let budget = Budget::new(self.read_timeout);
        loop {
            let fetched = budget
                .run(
                    self.broker(),
                    ApiKey::Fetch,
                    self.fetch(&config, &budget, "read_message"),
                )
                .await?;
            let mut batch = fetched.into_batch(self, "read_message")?;
            if let Some(message) = batch.next() {
                return Ok(message);
            }
            batch.close()?;
        }
    }

    /// Fetches and decodes, growing the limit while only a partial batch
    /// arrives. Takes `&self`: the offset is only moved by the batch.
    async fn fetch(
        &self,
        config: &ReadBatchConfig,
        budget: &Budget,
        operation: &'static str,
    ) -> Result<Fetched> {
        let target = self.target(operation)?;
        let cap = self
            .connection
            .config()
            .max_frame_size()
            .saturating_sub(RESPONSE_OVERHEAD)
            .clamp(1, i32::MAX as usize);
        let mut max_bytes = config.max_bytes.clamp(1, cap);
        loop {
            let max_wait = fetch_wait(config.max_wait, budget, self.request_timeout());
            let data = self
                .fetch_once(target, config.min_bytes, max_bytes, max_wait)
                .await?;
            let marks = Marks {
                high_watermark: data.high_watermark,
                last_stable_offset: data.last_stable_offset,
                log_start_offset: data.log_start_offset,
            };
            let records = data.records.unwrap_or_default();
            match split(records, target.offset, DecodeOptions::new()) {
                Split::Batches { batches, error } => {
                    let error = error.map(|(at, source)| self.corrupt(target, at, source));
                    return Ok(Fetched {
                        batches,
                        marks,
                        error,
                    });
                }
                Split::Corrupt(at, source) => return Err(self.corrupt(target, at, source)),
                Split::Partial(partial) => {
                    // Grow to the batch's size when it is known, else double;
                    // stop when that cannot get further, so a broker that
                    // keeps cutting the same batch ends in an error.
                    let wanted = partial
                        .size
                        .unwrap_or_else(|| max_bytes.saturating_mul(2).min(cap));
                    if wanted > cap || wanted <= max_bytes {
                        return Err(Error::RecordTooLarge {
                            broker: self.broker().clone(),
                            topic: target.topic.to_string(),
                            partition: target.partition,
                            offset: partial.base_offset.unwrap_or(target.offset),
                            size: partial.size,
                            max_bytes: wanted.min(cap).max(max_bytes),
                        });
                    }
                    tracing::debug!(
                        broker = %self.broker(),
                        topic = %target.topic,
                        partition = target.partition,
                        from = max_bytes,
                        to = wanted,
                        "fetch returned only part of a batch; growing the limit"
                    );
                    max_bytes = wanted;
                }
            }
        }
    }

    /// One Fetch request for the bound partition, with its error codes
    /// checked.
    async fn fetch_once(
        &self,
        target: &Target,
        min_bytes: usize,
        max_bytes: usize,
        max_wait: Duration,
    ) -> Result<PartitionData> {
        let max_bytes = i32::try_from(max_bytes).unwrap_or(i32::MAX);
        // Both the name (v0-12) and the id (v13+) are set: each is ignorable
        // in the other's versions, so one request serves any version.
        let request = FetchRequest::default()
            .with_max_wait_ms(super::millis_i32(max_wait))
            .with_min_bytes(i32::try_from(min_bytes).unwrap_or(i32::MAX))
            .with_max_bytes(max_bytes)
            .with_isolation_level(0)
            .with_topics(vec![
                FetchTopic::default()
                    .with_topic(&*target.topic)
                    .with_topic_id(target.topic_id)
                    .with_partitions(vec![
                        FetchPartition::default()
                            .with_partition(target.partition)
                            .with_fetch_offset(target.offset)
                            .with_partition_max_bytes(max_bytes),
                    ]),
            ]);
        let by_id = self
            .connection
            .version_for(ApiKey::Fetch)
            .is_some_and(|v| v > LAST_FETCH_BY_NAME);
        let response = if by_id && target.topic_id.is_zero() {
            // The broker gave no topic id (Metadata before v10), so the
            // topic can only be named: use the last version that does.
            self.connection
                .send_at(&request, LAST_FETCH_BY_NAME)
                .await?
        } else {
            self.connection.send(&request).await?
        };
        self.check(
            ApiKey::Fetch,
            response.error_code,
            &target.topic,
            Some(target.partition),
            None,
        )?;
        let data = response
            .responses
            .into_iter()
            .flat_map(|t| t.partitions)
            .find(|p| p.partition_index == target.partition)
            .ok_or_else(|| self.missing_partition(ApiKey::Fetch, target))?;
        self.check(
            ApiKey::Fetch,
            data.error_code,
            &target.topic,
            Some(target.partition),
            None,
        )?;
        Ok(data)
    }

    fn corrupt(&self, target: &Target, offset: i64, source: gregor_protocol::Error) -> Error {
        Error::CorruptRecords {
            broker: self.broker().clone(),
            topic: target.topic.to_string(),
            partition: target.partition,
            offset,
            source,
        }
    }

    pub(super) fn request_timeout(&self) -> Duration {
        self.connection.config().request_timeout()
    }
}

/// A fetch's decoded result, before it becomes a [`Batch`] borrowing the
/// connection's offset.
struct Fetched {
    batches: Vec<RecordBatch>,
    marks: Marks,
    error: Option<Error>,
}

impl Fetched {
    /// The batch over `conn`'s offset. `conn` is bound (the fetch checked),
    /// but the check is repeated to keep that an error rather than a panic.
    fn into_batch<'c>(self, conn: &'c mut Conn, operation: &'static str) -> Result<Batch<'c>> {
        match conn.target.as_mut() {
            Some(target) => Ok(Batch::new(
                &mut target.offset,
                target.topic.clone(),
                target.partition,
                self.batches,
                self.marks,
                self.error,
            )),
            None => Err(Error::Unbound {
                broker: conn.connection.broker().clone(),
                operation,
            }),
        }
    }
}

/// How long the broker may hold the fetch: `max_wait`, but at most three
/// quarters of the time left, so its answer arrives before this side gives
/// up on it (and the connection's request timeout would even close the
/// connection).
fn fetch_wait(max_wait: Duration, budget: &Budget, request_timeout: Duration) -> Duration {
    max_wait.min(budget.remaining(request_timeout) * 3 / 4)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fetch_wait_fits_in_the_time_left() {
        let unlimited = Budget::new(None);
        assert_eq!(
            fetch_wait(
                Duration::from_millis(500),
                &unlimited,
                Duration::from_secs(30)
            ),
            Duration::from_millis(500)
        );
        assert_eq!(
            fetch_wait(Duration::from_secs(60), &unlimited, Duration::from_secs(4)),
            Duration::from_secs(3)
        );
        let tight = Budget::new(Some(Duration::from_millis(100)));
        assert!(
            fetch_wait(Duration::from_secs(1), &tight, Duration::from_secs(30))
                <= Duration::from_millis(75)
        );
    }
}
