//! Writing: Produce requests to the bound partition.

use std::time::SystemTime;

use bytes::Bytes;
use gregor_protocol::ApiKey;
use gregor_protocol::messages::ProduceRequest;
use gregor_protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
use gregor_protocol::records::{Compression, RecordBatchBuilder};

use super::types::{from_millis, to_millis};
use super::{Acks, Budget, Conn, Message, Written};
use crate::{Error, Result};

impl Conn {
    /// Writes `messages` to the bound partition as one record batch,
    /// compressed with [`compression`](Self::compression), with the
    /// [`required_acks`](Self::required_acks): one Produce request.
    ///
    /// A message without a time gets the time of the call. Topic, partition
    /// and offset of the messages are ignored. Writing nothing sends
    /// nothing. With [`Acks::None`] the request is sent without waiting for
    /// an answer (the broker sends none), so the result has no base offset
    /// and broker-side failures go unseen.
    ///
    /// Not idempotent: this is a plain producer without a producer id, so
    /// a write that timed out may have been applied, and writing again may
    /// duplicate it. Cancel-safe in the connection's sense (it stays
    /// usable); whether a cancelled write happened is unknown.
    ///
    /// # Errors
    ///
    /// - [`Error::Unbound`] when no partition is bound.
    /// - [`Error::Protocol`] (nothing sent) when a message cannot be encoded.
    /// - [`Error::Broker`] naming the topic and partition for the
    ///   partition's error code (`NOT_LEADER_OR_FOLLOWER`,
    ///   `MESSAGE_TOO_LARGE`, ...), with the broker's message.
    /// - [`Error::Timeout`] past the write timeout; request errors.
    pub async fn write_messages(&self, messages: &[Message]) -> Result<Written> {
        self.write_compressed_messages(self.compression, messages)
            .await
    }

    /// [`write_messages`](Self::write_messages) with an explicit codec
    /// instead of the connection's.
    ///
    /// # Errors
    ///
    /// As [`write_messages`](Self::write_messages).
    pub async fn write_compressed_messages(
        &self,
        compression: Compression,
        messages: &[Message],
    ) -> Result<Written> {
        let target = self.target("write_messages")?;
        if messages.is_empty() {
            return Ok(Written {
                base_offset: None,
                count: 0,
                log_append_time: None,
            });
        }
        let records = build_batch(compression, messages, SystemTime::now()).map_err(|source| {
            Error::Protocol {
                broker: self.broker().clone(),
                api: Some(ApiKey::Produce),
                source,
            }
        })?;
        let budget = Budget::new(self.write_timeout);
        let request = ProduceRequest::default()
            .with_acks(self.acks.code())
            .with_timeout_ms(super::millis_i32(budget.remaining(self.request_timeout())))
            .with_topic_data(vec![
                TopicProduceData::default()
                    .with_name(&*target.topic)
                    .with_partition_data(vec![
                        PartitionProduceData::default()
                            .with_index(target.partition)
                            .with_records(Some(records)),
                    ]),
            ]);
        if self.acks == Acks::None {
            budget
                .run(
                    self.broker(),
                    ApiKey::Produce,
                    self.connection.send_no_response(&request),
                )
                .await?;
            return Ok(Written {
                base_offset: None,
                count: messages.len(),
                log_append_time: None,
            });
        }
        let response = budget
            .run(
                self.broker(),
                ApiKey::Produce,
                self.connection.send(&request),
            )
            .await?;
        let found = response
            .responses
            .iter()
            .flat_map(|t| &t.partition_responses)
            .find(|p| p.index == target.partition)
            .ok_or_else(|| self.missing_partition(ApiKey::Produce, target))?;
        let detail = found.error_message.as_deref().or_else(|| {
            found
                .record_errors
                .first()
                .and_then(|r| r.batch_index_error_message.as_deref())
        });
        self.check(
            ApiKey::Produce,
            found.error_code,
            &target.topic,
            Some(target.partition),
            detail,
        )?;
        Ok(Written {
            base_offset: Some(found.base_offset),
            count: messages.len(),
            log_append_time: from_millis(found.log_append_time_ms),
        })
    }
}

/// Encodes `messages` as one v2 record batch; a message without a time gets
/// `now`.
fn build_batch(
    compression: Compression,
    messages: &[Message],
    now: SystemTime,
) -> gregor_protocol::Result<Bytes> {
    let now = to_millis(now);
    let size: usize = messages
        .iter()
        .map(|m| m.key.as_ref().map_or(0, Bytes::len) + m.value.as_ref().map_or(0, Bytes::len) + 32)
        .sum();
    let mut builder = RecordBatchBuilder::with_capacity(size).compression(compression);
    for m in messages {
        builder.append(
            m.time.map_or(now, to_millis),
            m.key.as_deref(),
            m.value.as_deref(),
            &m.headers,
        )?;
    }
    builder.build()
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, UNIX_EPOCH};

    use gregor_protocol::records::{DecodeOptions, decode_records};

    use super::*;

    #[test]
    fn batch_round_trips_keys_values_headers_and_times() {
        let t0 = UNIX_EPOCH + Duration::from_millis(1_600_000_000_000);
        let now = UNIX_EPOCH + Duration::from_millis(1_700_000_000_000);
        let messages = [
            Message::new("k", "v").with_header("h", "x").with_time(t0),
            Message::default(),
        ];
        for codec in [
            Compression::None,
            Compression::GZIP,
            Compression::Snappy,
            Compression::Lz4,
            Compression::ZSTD,
        ] {
            let bytes = build_batch(codec, &messages, now).unwrap();
            let decoded = decode_records(bytes, &DecodeOptions::new()).unwrap();
            let records: Vec<_> = decoded.records().cloned().collect();
            assert_eq!(records.len(), 2);
            assert_eq!(records[0].key.as_deref(), Some(&b"k"[..]));
            assert_eq!(records[0].value.as_deref(), Some(&b"v"[..]));
            assert_eq!(records[0].headers.len(), 1);
            assert_eq!(records[0].timestamp, 1_600_000_000_000);
            assert_eq!(records[1].key, None);
            assert_eq!(records[1].value, None);
            assert_eq!(records[1].timestamp, 1_700_000_000_000);
            assert_eq!(decoded.batches[0].compression.id(), codec.id());
        }
    }
}
