//! Splitting the `records` bytes of a Fetch response partition into batches.
//!
//! v2 batches and legacy messages share their first twelve bytes (an int64
//! offset and an int32 length of what follows), and both keep the magic
//! byte at offset 16, so one framing loop reads any mix of formats.

use std::iter::FusedIterator;

use bytes::Bytes;

use super::batch::{LOG_OVERHEAD, MAGIC_OFFSET, RecordBatch, decode_v2};
use super::legacy::{self, frame_length, min_message_size};
use super::types::DecodeOptions;
use crate::error::{Error, Location, Result};

/// A batch cut short at the end of fetched records.
///
/// Brokers fill a fetch up to its byte limit and may end it in the middle
/// of a batch. That is not an error: the complete batches before it are
/// good, and the consumer fetches again from the offset after them. When no
/// complete batch came before it, the batch is larger than the fetch limit
/// (old brokers only; since Kafka 0.10.1 the first batch is always whole).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PartialBatch {
    /// The batch's base offset, if its first eight bytes arrived.
    pub base_offset: Option<i64>,
    /// The batch's whole size in bytes, framing included, if its length
    /// field arrived.
    pub size: Option<usize>,
    /// How many of its bytes arrived.
    pub available: usize,
}

/// An iterator over the batches in a fetched `records` field, decoding
/// each as it goes.
///
/// Each item is one v2 batch or one legacy message (see [`RecordBatch`]).
/// An error in one batch whose framing was intact (a CRC mismatch, a bad
/// codec, a malformed record) is yielded and iteration goes on with the
/// next batch, so a caller may skip it; an error in the framing itself ends
/// the iteration. A partial trailing batch ends it without an error and is
/// reported by [`RecordBatchReader::partial`].
#[derive(Debug, Clone)]
pub struct RecordBatchReader {
    rest: Bytes,
    options: DecodeOptions,
    partial: Option<PartialBatch>,
    done: bool,
}

impl RecordBatchReader {
    /// A reader over the `records` bytes of one fetched partition.
    pub fn new(records: Bytes, options: DecodeOptions) -> Self {
        Self {
            rest: records,
            options,
            partial: None,
            done: false,
        }
    }

    /// The partial trailing batch, once iteration has reached it.
    pub fn partial(&self) -> Option<PartialBatch> {
        self.partial
    }

    /// Bytes not yet split off into batches.
    pub fn remaining(&self) -> usize {
        self.rest.len()
    }

    fn stop_partial(&mut self, size: Option<usize>) -> Option<Result<RecordBatch>> {
        let base_offset = self
            .rest
            .get(..8)
            .and_then(|b| b.try_into().ok())
            .map(i64::from_be_bytes);
        self.partial = Some(PartialBatch {
            base_offset,
            size,
            available: self.rest.len(),
        });
        self.done = true;
        None
    }
}

impl Iterator for RecordBatchReader {
    type Item = Result<RecordBatch>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done || self.rest.is_empty() {
            return None;
        }
        let Some(length) = frame_length(&self.rest) else {
            return self.stop_partial(None);
        };
        // Before the magic byte arrives only the smallest format's minimum
        // can be checked; each decoder checks its own.
        let total = usize::try_from(length)
            .ok()
            .filter(|&n| n >= min_message_size(0))
            .map(|n| n.saturating_add(LOG_OVERHEAD));
        let Some(total) = total else {
            self.done = true;
            return Some(Err(Error::BadLength {
                at: Location {
                    message: "RecordBatch",
                    version: -1,
                    field: "batchLength",
                },
                length: i64::from(length),
                remaining: self.rest.len().saturating_sub(LOG_OVERHEAD),
            }));
        };
        if total > self.rest.len() {
            return self.stop_partial(Some(total));
        }
        let batch = self.rest.split_to(total);
        let magic = batch.get(MAGIC_OFFSET).map_or(-1, |&m| m as i8);
        Some(match magic {
            2 => decode_v2(batch, &self.options),
            0 | 1 => legacy::decode_legacy(batch, &self.options),
            _ => {
                // An unknown format may frame differently too: stop here.
                self.done = true;
                Err(Error::InvalidValue {
                    at: Location {
                        message: "RecordBatch",
                        version: i16::from(magic),
                        field: "magic",
                    },
                    reason: "unknown record format magic (expected 0, 1 or 2)",
                })
            }
        })
    }
}

impl FusedIterator for RecordBatchReader {}

/// Every batch of a fetched `records` field, and the partial one that may
/// end it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DecodedRecords {
    /// The complete batches, in order.
    pub batches: Vec<RecordBatch>,
    /// The batch cut short by the fetch limit, if any.
    pub partial: Option<PartialBatch>,
}

impl DecodedRecords {
    /// All records of all batches, in order.
    pub fn records(&self) -> impl Iterator<Item = &super::types::Record> {
        self.batches.iter().flat_map(|b| b.records.iter())
    }
}

/// Decodes the `records` bytes of one fetched partition, failing on the
/// first bad batch. Use [`RecordBatchReader`] to keep the batches before a
/// bad one or to decode lazily.
pub fn decode_records(records: Bytes, options: &DecodeOptions) -> Result<DecodedRecords> {
    let mut reader = RecordBatchReader::new(records, *options);
    let batches = reader.by_ref().collect::<Result<Vec<_>>>()?;
    Ok(DecodedRecords {
        batches,
        partial: reader.partial(),
    })
}
