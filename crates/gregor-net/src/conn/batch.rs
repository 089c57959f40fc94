//! The messages of one fetch, and how fetched bytes become them.

use std::fmt;
use std::sync::Arc;

use bytes::Bytes;
use gregor_protocol::records::{
    DecodeOptions, PartialBatch, Record, RecordBatch, RecordBatchReader,
};

use super::Message;
use super::types::from_millis;
use crate::Error;

/// The messages of one [`read_batch`](super::Conn::read_batch), as an
/// iterator.
///
/// The batch borrows its [`Conn`](super::Conn) mutably, as kafka-go's batch
/// locks its connection: each message handed out moves the connection's
/// offset past it, so dropping the batch partway leaves the offset at the
/// first message not seen, and the next read starts there. Messages are
/// decoded already; iterating only moves them out, without copying.
///
/// Records before the offset asked for (a compressed batch is returned
/// whole) and transaction control records are skipped. When a record batch
/// after some good ones is corrupt, the good ones' messages are yielded and
/// then iteration ends with [`error`](Self::error) set; the offset stays at
/// the corrupt batch, so the next read reports it.
pub struct Batch<'c> {
    offset: &'c mut i64,
    topic: Arc<str>,
    partition: i32,
    batches: std::vec::IntoIter<RecordBatch>,
    /// The records left of the batch being iterated, and the offset after
    /// that batch (which skips offsets compaction removed).
    current: Option<(std::vec::IntoIter<Record>, i64)>,
    marks: Marks,
    error: Option<Error>,
}

/// The partition's offsets as the fetch response gave them.
#[derive(Debug, Clone, Copy, Default)]
pub(super) struct Marks {
    pub(super) high_watermark: i64,
    pub(super) last_stable_offset: i64,
    pub(super) log_start_offset: i64,
}

impl<'c> Batch<'c> {
    pub(super) fn new(
        offset: &'c mut i64,
        topic: Arc<str>,
        partition: i32,
        batches: Vec<RecordBatch>,
        marks: Marks,
        error: Option<Error>,
    ) -> Self {
        Self {
            offset,
            topic,
            partition,
            batches: batches.into_iter(),
            current: None,
            marks,
            error,
        }
    }

    /// The topic.
    pub fn topic(&self) -> &str {
        &self.topic
    }

    /// The partition.
    pub fn partition(&self) -> i32 {
        self.partition
    }

    /// The offset the next message read from the connection will have (at
    /// least): past every message yielded so far.
    pub fn offset(&self) -> i64 {
        *self.offset
    }

    /// The partition's high watermark when the broker answered: the offset
    /// after the last message every in-sync replica has. `offset()` equal to
    /// it means the reader is caught up.
    pub fn high_watermark(&self) -> i64 {
        self.marks.high_watermark
    }

    /// The partition's last stable offset (v4+; -1 when not sent).
    pub fn last_stable_offset(&self) -> i64 {
        self.marks.last_stable_offset
    }

    /// The partition's log start offset (v5+; -1 when not sent).
    pub fn log_start_offset(&self) -> i64 {
        self.marks.log_start_offset
    }

    /// The error that ended the batch early: a corrupt record batch after
    /// the good ones already yielded.
    pub fn error(&self) -> Option<&Error> {
        self.error.as_ref()
    }

    /// Ends the batch, returning the error that ended it early, if any
    /// (like kafka-go's `Batch.Close`). Unread messages stay unread.
    ///
    /// # Errors
    ///
    /// [`Error::CorruptRecords`] when a record batch could not be decoded.
    pub fn close(self) -> crate::Result<()> {
        match self.error {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }

    fn message(&self, record: Record) -> Message {
        Message {
            topic: self.topic.clone(),
            partition: self.partition,
            offset: record.offset,
            key: record.key,
            value: record.value,
            headers: record.headers,
            time: from_millis(record.timestamp),
        }
    }
}

impl Iterator for Batch<'_> {
    type Item = Message;

    fn next(&mut self) -> Option<Message> {
        loop {
            if let Some((records, end)) = &mut self.current {
                let end = *end;
                let from = *self.offset;
                if let Some(record) = records.by_ref().find(|r| r.offset >= from) {
                    *self.offset = record.offset.saturating_add(1);
                    return Some(self.message(record));
                }
                *self.offset = (*self.offset).max(end);
                self.current = None;
            }
            let batch = self.batches.next()?;
            let end = batch.next_offset();
            if batch.is_control {
                *self.offset = (*self.offset).max(end);
                continue;
            }
            self.current = Some((batch.records.into_iter(), end));
        }
    }
}

impl fmt::Debug for Batch<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Batch")
            .field("topic", &self.topic)
            .field("partition", &self.partition)
            .field("offset", &*self.offset)
            .field("high_watermark", &self.marks.high_watermark)
            .field("error", &self.error)
            .finish_non_exhaustive()
    }
}

/// What one partition's fetched `records` bytes hold.
#[derive(Debug)]
pub(super) enum Split {
    /// Complete record batches (possibly none: nothing new yet), and the
    /// decode error that stopped after them, with the offset it happened at.
    Batches {
        batches: Vec<RecordBatch>,
        error: Option<(i64, gregor_protocol::Error)>,
    },
    /// No complete batch, only the start of one: the fetch limit was too
    /// small for it.
    Partial(PartialBatch),
    /// The first batch is corrupt, so there is nothing to read.
    Corrupt(i64, gregor_protocol::Error),
}

/// Splits a partition's `records` into decoded batches.
///
/// A partial trailing batch after complete ones is normal (the broker cuts
/// at the byte limit) and dropped: the next fetch starts after the complete
/// ones and gets it whole.
pub(super) fn split(records: Bytes, fetch_offset: i64, options: DecodeOptions) -> Split {
    let mut reader = RecordBatchReader::new(records, options);
    let mut batches: Vec<RecordBatch> = Vec::new();
    let mut error = None;
    for item in reader.by_ref() {
        match item {
            Ok(batch) => batches.push(batch),
            Err(e) => {
                // A bad batch starts where the last good one ended.
                let at = batches
                    .last()
                    .map_or(fetch_offset, RecordBatch::next_offset);
                error = Some((at, e));
                break;
            }
        }
    }
    match (batches.is_empty(), error, reader.partial()) {
        (true, Some((at, e)), _) => Split::Corrupt(at, e),
        (true, None, Some(partial)) => Split::Partial(partial),
        (_, error, _) => Split::Batches { batches, error },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use gregor_protocol::records::{Compression, RecordBatchBuilder};

    fn batch_bytes(base: i64, n: usize, compression: Compression) -> Bytes {
        let mut b = RecordBatchBuilder::new()
            .compression(compression)
            .base_offset(base);
        for i in 0..n {
            let v = format!("v{}", base + i as i64);
            b.append(1_000 + i as i64, None, Some(v.as_bytes()), &[])
                .unwrap();
        }
        b.build().unwrap()
    }

    fn concat(parts: &[Bytes]) -> Bytes {
        parts.iter().flat_map(|p| p.iter().copied()).collect()
    }

    fn batches(split: Split) -> Vec<RecordBatch> {
        match split {
            Split::Batches {
                batches,
                error: None,
            } => batches,
            other => panic!("{other:?}"),
        }
    }

    fn values(batch: Batch<'_>) -> Vec<(i64, String)> {
        batch
            .map(|m| {
                let v = String::from_utf8(m.value.unwrap().to_vec()).unwrap();
                (m.offset, v)
            })
            .collect()
    }

    #[test]
    fn skips_records_before_the_fetch_offset_and_advances() {
        // A compressed batch comes back whole even when the fetch starts
        // inside it.
        let bytes = concat(&[
            batch_bytes(10, 3, Compression::Lz4),
            batch_bytes(13, 2, Compression::None),
        ]);
        let decoded = batches(split(bytes, 11, DecodeOptions::new()));
        let mut offset = 11;
        let topic: Arc<str> = Arc::from("t");
        let batch = Batch::new(&mut offset, topic, 0, decoded, Marks::default(), None);
        assert_eq!(
            values(batch),
            [(11, "v11"), (12, "v12"), (13, "v13"), (14, "v14")].map(|(o, v)| (o, v.to_owned()))
        );
        assert_eq!(offset, 15);
    }

    #[test]
    fn dropping_partway_keeps_the_offset_at_the_first_unseen_message() {
        let decoded = batches(split(
            batch_bytes(0, 5, Compression::None),
            0,
            DecodeOptions::new(),
        ));
        let mut offset = 0;
        let mut batch = Batch::new(
            &mut offset,
            Arc::from("t"),
            0,
            decoded,
            Marks::default(),
            None,
        );
        assert_eq!(batch.next().map(|m| m.offset), Some(0));
        assert_eq!(batch.next().map(|m| m.offset), Some(1));
        drop(batch);
        assert_eq!(offset, 2);
    }

    #[test]
    fn a_partial_trailing_batch_is_not_an_error() {
        let whole = batch_bytes(0, 2, Compression::None);
        let next = batch_bytes(2, 2, Compression::None);
        let bytes = concat(&[whole, next.slice(..next.len() - 5)]);
        let decoded = batches(split(bytes, 0, DecodeOptions::new()));
        assert_eq!(decoded.len(), 1);
    }

    #[test]
    fn only_a_partial_batch_reports_its_size() {
        let whole = batch_bytes(7, 2, Compression::None);
        let size = whole.len();
        match split(whole.slice(..30), 7, DecodeOptions::new()) {
            Split::Partial(p) => {
                assert_eq!(p.size, Some(size));
                assert_eq!(p.base_offset, Some(7));
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn corruption_after_good_batches_keeps_them() {
        let good = batch_bytes(0, 2, Compression::None);
        let mut bad = batch_bytes(2, 2, Compression::None).to_vec();
        let last = bad.len() - 1;
        bad[last] ^= 0xff;
        let bytes = concat(&[good.clone(), Bytes::from(bad.clone())]);
        match split(bytes, 0, DecodeOptions::new()) {
            Split::Batches {
                batches,
                error: Some((at, _)),
            } => {
                assert_eq!(batches.len(), 1);
                assert_eq!(at, 2);
            }
            other => panic!("{other:?}"),
        }
        match split(Bytes::from(bad), 2, DecodeOptions::new()) {
            Split::Corrupt(at, _) => assert_eq!(at, 2),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn empty_records_are_an_empty_batch() {
        assert!(batches(split(Bytes::new(), 5, DecodeOptions::new())).is_empty());
    }
}
