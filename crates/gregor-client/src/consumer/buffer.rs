//! The prefetch buffer: fetched records per partition, waiting for the
//! application, within a memory budget.
//!
//! Each fetch response for a partition becomes one [`Chunk`]. Polls drain
//! one partition's chunk at a time and then move to the next partition
//! with data, so every partition gets its turn (the Java consumer's
//! fairness). The budget counts each buffered record's footprint plus the
//! `max_bytes` of fetches in flight; the fetcher asks for no more than
//! what is left of it.

use std::collections::VecDeque;
use std::ops::Bound;

use super::TopicPartition;
use super::record::ConsumerRecord;
use super::state::State;

/// The records of one fetch response for one partition.
#[derive(Debug)]
pub(crate) struct Chunk {
    pub(crate) records: VecDeque<ConsumerRecord>,
    /// Where the position goes once the chunk is drained: past its last
    /// batch, even one whose records were all hidden (control records,
    /// aborted transactions).
    pub(crate) end_offset: i64,
}

/// What a [`State::take`] handed out.
#[derive(Debug, Default)]
pub(crate) struct Taken {
    pub(crate) records: Vec<ConsumerRecord>,
    /// Key, value and header bytes.
    pub(crate) payload: u64,
    /// A partition's buffer emptied: the fetcher may fetch it again.
    pub(crate) drained: bool,
}

/// A record's footprint beyond its payload.
const RECORD_OVERHEAD: usize = 64;

impl State {
    /// The bytes of the prefetch budget not buffered or asked for.
    pub(crate) fn budget_left(&self, budget: usize) -> usize {
        budget.saturating_sub(self.buffered_bytes + self.reserved_bytes)
    }

    /// Adds one fetch response's records for `tp` (already checked to be
    /// for its current epoch and fetch offset). The fetch offset moves to
    /// `next_offset`.
    pub(crate) fn push_fetched(
        &mut self,
        tp: &TopicPartition,
        records: Vec<ConsumerRecord>,
        bytes: usize,
        next_offset: i64,
    ) {
        let Some(ps) = self.partitions.get_mut(tp) else {
            return;
        };
        ps.fetch_offset = next_offset;
        if records.is_empty() {
            if ps.chunks.is_empty() {
                // Only hidden records: move on at once, and count them as
                // processed if everything before them is.
                if ps.consumed == ps.position {
                    ps.consumed = Some(next_offset);
                }
                ps.position = Some(next_offset);
            } else {
                ps.chunks.push_back(Chunk {
                    records: VecDeque::new(),
                    end_offset: next_offset,
                });
            }
            return;
        }
        ps.buffered_records += records.len();
        ps.buffered_bytes += bytes;
        self.buffered_bytes += bytes;
        ps.chunks.push_back(Chunk {
            records: records.into(),
            end_offset: next_offset,
        });
    }

    /// Takes up to `max` records, moving positions.
    pub(crate) fn take(&mut self, max: usize) -> Taken {
        let mut taken = Taken::default();
        while taken.records.len() < max {
            let current = match &self.cursor {
                Some(c) if self.has_deliverable(c) => c.clone(),
                _ => match self.next_with_data() {
                    Some(next) => {
                        self.cursor = Some(next.clone());
                        next
                    }
                    None => break,
                },
            };
            let want = max - taken.records.len();
            let Some(ps) = self.partitions.get_mut(&current) else {
                break;
            };
            let mut freed = 0;
            let mut chunk_done = false;
            if let Some(chunk) = ps.chunks.front_mut() {
                let n = want.min(chunk.records.len());
                for record in chunk.records.drain(..n) {
                    let size = record.footprint();
                    freed += size;
                    taken.payload += (size - RECORD_OVERHEAD) as u64;
                    ps.position = Some(record.offset + 1);
                    taken.records.push(record);
                }
                ps.buffered_records -= n;
                if chunk.records.is_empty() {
                    ps.position = Some(chunk.end_offset);
                    chunk_done = true;
                }
            }
            ps.buffered_bytes -= freed;
            self.buffered_bytes -= freed;
            if chunk_done {
                ps.chunks.pop_front();
                if ps.chunks.is_empty() {
                    taken.drained = true;
                }
                // The partition had its turn.
                let next = self.next_with_data();
                self.cursor = next;
            }
        }
        taken
    }

    /// Whether `tp` has records (or a hidden-records chunk) to hand out.
    fn has_deliverable(&self, tp: &TopicPartition) -> bool {
        self.partitions
            .get(tp)
            .is_some_and(|ps| ps.deliverable() && !ps.chunks.is_empty())
    }

    /// The next partition after the cursor (wrapping around) with
    /// something to hand out.
    fn next_with_data(&self) -> Option<TopicPartition> {
        let ready = |(tp, ps): (&TopicPartition, &super::state::PartitionState)| {
            (ps.deliverable() && !ps.chunks.is_empty()).then(|| tp.clone())
        };
        match &self.cursor {
            Some(c) => self
                .partitions
                .range::<TopicPartition, _>((Bound::Excluded(c), Bound::Unbounded))
                .chain(self.partitions.range::<TopicPartition, _>(..=c))
                .find_map(ready),
            None => self.partitions.iter().find_map(ready),
        }
    }

    /// Whether any record could be handed out now.
    #[cfg(test)]
    pub(crate) fn has_data(&self) -> bool {
        self.partitions
            .values()
            .any(|ps| ps.deliverable() && !ps.chunks.is_empty())
    }
}

#[cfg(test)]
mod tests {
    use std::collections::{BTreeMap, BTreeSet};
    use std::sync::Arc;

    use gregor_protocol::records::TimestampType;

    use super::*;
    use crate::consumer::config::OffsetReset;
    use crate::consumer::state::{Pos, SeekTarget};

    fn record(topic: &Arc<str>, partition: i32, offset: i64) -> ConsumerRecord {
        ConsumerRecord {
            topic: topic.clone(),
            partition,
            offset,
            timestamp: 0,
            timestamp_type: TimestampType::CreateTime,
            key: None,
            value: Some(bytes::Bytes::from_static(b"0123456789")),
            headers: Vec::new(),
            leader_epoch: None,
        }
    }

    fn state_with(partitions: &[i32]) -> State {
        let shared = test_state();
        let mut st = shared;
        let tps: BTreeSet<TopicPartition> = partitions
            .iter()
            .map(|p| TopicPartition::new("t", *p))
            .collect();
        st.assign_manual(tps.clone(), OffsetReset::Earliest, None);
        for tp in &tps {
            st.seek(tp, SeekTarget::At(0)).unwrap();
        }
        st
    }

    fn test_state() -> State {
        State::new()
    }

    fn push(st: &mut State, p: i32, offsets: std::ops::Range<i64>, end: i64) {
        let topic: Arc<str> = Arc::from("t");
        let records: Vec<ConsumerRecord> = offsets.map(|o| record(&topic, p, o)).collect();
        let bytes = records.iter().map(ConsumerRecord::footprint).sum();
        st.push_fetched(&TopicPartition::new("t", p), records, bytes, end);
    }

    fn offsets(t: &Taken) -> Vec<(i32, i64)> {
        t.records.iter().map(|r| (r.partition, r.offset)).collect()
    }

    #[test]
    fn polls_drain_one_chunk_then_move_to_the_next_partition() {
        let mut st = state_with(&[0, 1]);
        push(&mut st, 0, 0..3, 3);
        push(&mut st, 1, 0..2, 2);
        assert!(st.buffered_bytes > 0);
        let t = st.take(2);
        assert_eq!(offsets(&t), [(0, 0), (0, 1)]);
        let t = st.take(10);
        assert_eq!(offsets(&t), [(0, 2), (1, 0), (1, 1)]);
        assert!(t.drained);
        assert_eq!(st.buffered_bytes, 0);
        let pos: BTreeMap<i32, Option<i64>> = st
            .partitions
            .iter()
            .map(|(tp, ps)| (tp.partition, ps.position))
            .collect();
        assert_eq!(pos, BTreeMap::from([(0, Some(3)), (1, Some(2))]));
    }

    #[test]
    fn hidden_records_move_the_position_past_them() {
        let mut st = state_with(&[0]);
        let tp = TopicPartition::new("t", 0);
        // Only control records: nothing buffered, position jumps.
        push(&mut st, 0, 0..0, 5);
        assert_eq!(st.partitions[&tp].position, Some(5));
        assert_eq!(st.partitions[&tp].consumed, Some(5));
        // Records whose chunk ends after a marker: the position passes it
        // when the chunk is drained.
        push(&mut st, 0, 5..7, 8);
        let t = st.take(10);
        assert_eq!(offsets(&t), [(0, 5), (0, 6)]);
        assert_eq!(st.partitions[&tp].position, Some(8));
        // Handed out, not yet processed until the next poll.
        assert_eq!(st.partitions[&tp].consumed, Some(5));
        st.mark_polled(std::time::Instant::now());
        assert_eq!(st.partitions[&tp].consumed, Some(8));
    }

    #[test]
    fn paused_partitions_drop_their_records_and_revoking_ones_hand_out_none() {
        let mut st = state_with(&[0, 1]);
        push(&mut st, 0, 0..2, 2);
        push(&mut st, 1, 0..2, 2);
        let p0 = TopicPartition::new("t", 0);
        let epoch = st.partitions[&p0].epoch;
        st.set_paused(&p0, true).unwrap();
        // An offset lookup or fetch in flight is not disowned.
        assert_eq!(st.partitions[&p0].epoch, epoch);
        assert_eq!(st.partitions[&p0].buffered_records, 0);
        assert_eq!(
            st.partitions[&p0].fetch_offset, 0,
            "fetched again from the position"
        );
        let t = st.take(10);
        assert_eq!(offsets(&t), [(1, 0), (1, 1)]);
        assert!(!st.has_data());
        assert_eq!(st.buffered_bytes, 0);
        st.set_paused(&p0, false).unwrap();
        push(&mut st, 0, 0..2, 2);
        st.begin_revoke(&BTreeSet::from([p0.clone()]));
        assert!(st.take(10).records.is_empty());
        assert_eq!(st.buffered_bytes, 0);
        assert_eq!(st.partitions[&p0].pos, Pos::Ready);
        assert!(st.set_paused(&TopicPartition::new("t", 9), true).is_err());
    }

    #[test]
    fn a_seek_drops_the_buffer() {
        let mut st = state_with(&[0]);
        push(&mut st, 0, 0..4, 4);
        let tp = TopicPartition::new("t", 0);
        st.seek(&tp, SeekTarget::At(100)).unwrap();
        assert_eq!(st.buffered_bytes, 0);
        assert!(st.take(10).records.is_empty());
        assert_eq!(st.partitions[&tp].position, Some(100));
        assert_eq!(st.partitions[&tp].fetch_offset, 100);
    }
}
