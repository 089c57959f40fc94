//! Turning one fetched partition's `records` into consumer records:
//! skipping what lies before the fetch offset, hiding control batches, and
//! under `read_committed` dropping the batches of aborted transactions.
//!
//! The transaction filter is the Java consumer's: the fetch response lists
//! the aborted transactions overlapping the returned range as (producer id,
//! first offset). Walking the batches in order, a transactional batch is
//! dropped when its producer has an aborted transaction that started at or
//! before the batch's last offset and whose ABORT marker has not been passed
//! yet; the marker ends it. Committed transactions are not listed, so their
//! batches pass.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashSet};
use std::sync::Arc;

use bytes::Bytes;
use gregor_protocol::messages::fetch_response::AbortedTransaction;
use gregor_protocol::records::{
    ControlRecordKind, DecodeOptions, PartialBatch, RecordBatch, RecordBatchReader,
};

use super::config::IsolationLevel;
use super::record::ConsumerRecord;

/// What one partition's fetched bytes held.
#[derive(Debug, Default)]
pub(crate) struct Decoded {
    /// The records to hand out, in offset order.
    pub(crate) records: Vec<ConsumerRecord>,
    /// Where the next fetch starts: after the last complete batch (even one
    /// that was dropped or hidden). `None` when no complete batch came.
    pub(crate) next_offset: Option<i64>,
    /// The records' footprint for the prefetch budget.
    pub(crate) bytes: usize,
    /// The start of a batch larger than the fetch limit, when nothing else
    /// came (brokers before KIP-74).
    pub(crate) partial: Option<PartialBatch>,
    /// A batch that could not be decoded, and its offset; the batches
    /// before it are in `records`.
    pub(crate) error: Option<(i64, gregor_protocol::Error)>,
}

/// Decodes one partition's records.
pub(crate) fn decode_partition(
    topic: &Arc<str>,
    partition: i32,
    records: Bytes,
    fetch_offset: i64,
    isolation: IsolationLevel,
    aborted: &[AbortedTransaction],
    options: DecodeOptions,
) -> Decoded {
    let mut out = Decoded::default();
    let mut filter = TxnFilter::new(isolation, aborted);
    let mut reader = RecordBatchReader::new(records, options);
    for item in reader.by_ref() {
        let batch = match item {
            Ok(b) => b,
            Err(e) => {
                out.error = Some((out.next_offset.unwrap_or(fetch_offset), e));
                break;
            }
        };
        out.next_offset = Some(batch.next_offset());
        if !filter.keep(&batch) {
            continue;
        }
        let epoch = (batch.partition_leader_epoch >= 0).then_some(batch.partition_leader_epoch);
        let timestamp_type = batch.timestamp_type;
        for r in batch.records {
            if r.offset < fetch_offset {
                continue;
            }
            let record = ConsumerRecord {
                topic: topic.clone(),
                partition,
                offset: r.offset,
                timestamp: r.timestamp,
                timestamp_type,
                key: r.key,
                value: r.value,
                headers: r.headers,
                leader_epoch: epoch,
            };
            out.bytes += record.footprint();
            out.records.push(record);
        }
    }
    if out.next_offset.is_none() && out.error.is_none() {
        out.partial = reader.partial();
    }
    out
}

/// The `read_committed` filter over one fetch's batches.
struct TxnFilter {
    read_committed: bool,
    /// Aborted transactions not reached yet, by first offset.
    pending: BinaryHeap<Reverse<(i64, i64)>>,
    /// Producers inside an aborted transaction.
    aborting: HashSet<i64>,
}

impl TxnFilter {
    fn new(isolation: IsolationLevel, aborted: &[AbortedTransaction]) -> Self {
        Self {
            read_committed: isolation == IsolationLevel::ReadCommitted,
            pending: aborted
                .iter()
                .map(|a| Reverse((a.first_offset, a.producer_id)))
                .collect(),
            aborting: HashSet::new(),
        }
    }

    /// Whether the batch's records go to the application.
    fn keep(&mut self, batch: &RecordBatch) -> bool {
        if self.read_committed && batch.producer_id >= 0 {
            let last = batch.last_offset();
            while let Some(Reverse((first, pid))) = self.pending.peek().copied() {
                if first > last {
                    break;
                }
                self.pending.pop();
                self.aborting.insert(pid);
            }
            let is_abort_marker = batch.is_control
                && matches!(
                    batch.control_record(),
                    Some(Ok(c)) if c.kind == ControlRecordKind::Abort
                );
            if is_abort_marker {
                self.aborting.remove(&batch.producer_id);
            } else if batch.is_transactional && self.aborting.contains(&batch.producer_id) {
                return false;
            }
        }
        !batch.is_control
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use gregor_protocol::records::{ControlRecord, RecordBatchBuilder};

    /// A transactional (or plain) batch of `values` from producer `pid`.
    fn data(base: i64, pid: i64, txn: bool, values: &[&str]) -> Bytes {
        let mut b = RecordBatchBuilder::new()
            .base_offset(base)
            .producer_state(pid, 0, 0)
            .transactional(txn);
        for v in values {
            b.append(1_000, None, Some(v.as_bytes()), &[]).unwrap();
        }
        b.build().unwrap()
    }

    fn marker(base: i64, pid: i64, commit: bool) -> Bytes {
        let mut b = RecordBatchBuilder::new()
            .base_offset(base)
            .producer_state(pid, 0, 0)
            .transactional(true);
        let m = if commit {
            ControlRecord::commit(0)
        } else {
            ControlRecord::abort(0)
        };
        b.append_control(1_000, m).unwrap();
        b.build().unwrap()
    }

    fn concat(parts: &[Bytes]) -> Bytes {
        parts.iter().flat_map(|b| b.iter().copied()).collect()
    }

    fn values(d: &Decoded) -> Vec<String> {
        d.records
            .iter()
            .map(|r| String::from_utf8(r.value_bytes().to_vec()).unwrap())
            .collect()
    }

    fn aborted(pid: i64, first: i64) -> AbortedTransaction {
        AbortedTransaction::default()
            .with_producer_id(pid)
            .with_first_offset(first)
    }

    /// Producer 7 commits, producer 9 aborts, interleaved, with a plain
    /// record and a second aborted transaction of producer 9 after.
    fn log() -> (Bytes, Vec<AbortedTransaction>) {
        let bytes = concat(&[
            data(0, 7, true, &["c1", "c2"]),   // 0-1
            data(2, 9, true, &["a1"]),         // 2
            data(3, -1, false, &["plain"]),    // 3
            data(4, 7, true, &["c3"]),         // 4
            marker(5, 7, true),                // 5: commit 7
            data(6, 9, true, &["a2"]),         // 6
            marker(7, 9, false),               // 7: abort 9
            data(8, 9, true, &["a3", "a4"]),   // 8-9: 9 again, aborted
            marker(10, 9, false),              // 10
            data(11, 9, true, &["committed"]), // 11: 9, committed later
            marker(12, 9, true),               // 12
        ]);
        (bytes, vec![aborted(9, 2), aborted(9, 8)])
    }

    #[test]
    fn read_committed_drops_aborted_transactions_and_hides_markers() {
        let (bytes, aborted) = log();
        let topic: Arc<str> = Arc::from("t");
        let d = decode_partition(
            &topic,
            0,
            bytes,
            0,
            IsolationLevel::ReadCommitted,
            &aborted,
            DecodeOptions::new(),
        );
        assert_eq!(values(&d), ["c1", "c2", "plain", "c3", "committed"]);
        let offsets: Vec<i64> = d.records.iter().map(|r| r.offset).collect();
        assert_eq!(offsets, [0, 1, 3, 4, 11]);
        // The next fetch starts after the last marker.
        assert_eq!(d.next_offset, Some(13));
        assert!(d.error.is_none() && d.partial.is_none());
    }

    #[test]
    fn read_uncommitted_returns_every_data_record_but_no_marker() {
        let (bytes, aborted) = log();
        let topic: Arc<str> = Arc::from("t");
        let d = decode_partition(
            &topic,
            0,
            bytes,
            0,
            IsolationLevel::ReadUncommitted,
            &aborted,
            DecodeOptions::new(),
        );
        assert_eq!(
            values(&d),
            [
                "c1",
                "c2",
                "a1",
                "plain",
                "c3",
                "a2",
                "a3",
                "a4",
                "committed"
            ]
        );
        assert_eq!(d.next_offset, Some(13));
    }

    #[test]
    fn an_aborted_transaction_starting_in_an_earlier_fetch_is_still_dropped() {
        // The fetch starts at 6: the aborted list still names producer 9's
        // transaction from offset 2, which is open across the fetch start.
        let (bytes, aborted) = log();
        let topic: Arc<str> = Arc::from("t");
        let d = decode_partition(
            &topic,
            3,
            bytes,
            6,
            IsolationLevel::ReadCommitted,
            &aborted,
            DecodeOptions::new(),
        );
        assert_eq!(values(&d), ["committed"]);
        assert!(d.records.iter().all(|r| r.partition == 3));
    }

    #[test]
    fn only_markers_still_move_the_next_offset() {
        let bytes = concat(&[marker(40, 7, true), marker(41, 9, false)]);
        let topic: Arc<str> = Arc::from("t");
        let d = decode_partition(
            &topic,
            0,
            bytes,
            40,
            IsolationLevel::ReadCommitted,
            &[],
            DecodeOptions::new(),
        );
        assert!(d.records.is_empty());
        assert_eq!(d.next_offset, Some(42));
    }

    #[test]
    fn records_before_the_fetch_offset_are_skipped_and_bytes_are_counted() {
        let bytes = data(10, -1, false, &["x", "y", "z"]);
        let topic: Arc<str> = Arc::from("t");
        let d = decode_partition(
            &topic,
            0,
            bytes,
            11,
            IsolationLevel::ReadUncommitted,
            &[],
            DecodeOptions::new(),
        );
        assert_eq!(values(&d), ["y", "z"]);
        assert!(d.bytes >= 2);
    }

    #[test]
    fn a_cut_batch_alone_is_reported_partial_and_a_corrupt_one_as_an_error() {
        let whole = data(0, -1, false, &["0123456789"]);
        let topic: Arc<str> = Arc::from("t");
        let cut = whole.slice(..whole.len() - 3);
        let d = decode_partition(
            &topic,
            0,
            cut,
            0,
            IsolationLevel::ReadUncommitted,
            &[],
            DecodeOptions::new(),
        );
        assert!(d.records.is_empty() && d.next_offset.is_none());
        assert_eq!(d.partial.map(|p| p.size), Some(Some(whole.len())));

        let mut bad = whole.to_vec();
        let last = bad.len() - 1;
        bad[last] ^= 0xff;
        let good = data(0, -1, false, &["ok"]);
        // Re-base the corrupt batch after the good one.
        bad[..8].copy_from_slice(&1i64.to_be_bytes());
        let d = decode_partition(
            &topic,
            0,
            concat(&[good, Bytes::from(bad)]),
            0,
            IsolationLevel::ReadUncommitted,
            &[],
            DecodeOptions::new(),
        );
        assert_eq!(values(&d), ["ok"]);
        assert_eq!(d.error.as_ref().map(|e| e.0), Some(1));
    }
}
