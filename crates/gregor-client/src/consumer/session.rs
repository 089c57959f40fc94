//! Fetch sessions (KIP-227), the bookkeeping only.
//!
//! The first fetch to a broker is a full one (session id 0, epoch 0),
//! which asks the broker to open a session; its answer carries the new
//! session id. Later fetches are incremental: they carry the session id and
//! the next epoch, list only the partitions whose fetch state changed
//! (offset, size limit, leader epoch) or that are new, and name the ones to
//! drop in `forgotten_topics_data`. The broker answers only for partitions
//! with news. `FETCH_SESSION_ID_NOT_FOUND` and `INVALID_FETCH_SESSION_EPOCH`
//! (the broker evicted the session, or a response was lost), a top-level
//! error, or a failed request fall back to a full fetch that opens a new
//! session. Brokers before Fetch v7 get sessionless full fetches.

use std::collections::BTreeMap;

use gregor_protocol::{ErrorCode, Uuid};

use super::TopicPartition;

/// The epoch of a full fetch that opens a session.
const INITIAL_EPOCH: i32 = 0;
/// The epoch of a sessionless full fetch.
const NO_SESSION_EPOCH: i32 = -1;

/// What a fetch asks about one partition.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct PartitionFetch {
    pub(crate) fetch_offset: i64,
    pub(crate) max_bytes: i32,
    pub(crate) topic_id: Uuid,
}

/// One fetch request's session fields and partitions.
#[derive(Debug, Clone, Default)]
pub(crate) struct FetchPlan {
    pub(crate) session_id: i32,
    pub(crate) epoch: i32,
    /// Whether every wanted partition is listed.
    pub(crate) full: bool,
    /// The partitions listed in the request.
    pub(crate) to_send: Vec<(TopicPartition, PartitionFetch)>,
    /// The session's partitions to drop.
    pub(crate) forgotten: Vec<(TopicPartition, Uuid)>,
    /// Every partition this fetch may return data for.
    pub(crate) wanted: BTreeMap<TopicPartition, PartitionFetch>,
}

/// What a response did to the session.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SessionOutcome {
    /// The response stands; its partitions can be used.
    Ok,
    /// The session was lost: nothing in the response is usable, fetch
    /// again (full) at once.
    Reset,
}

/// The client side of one broker's fetch session.
#[derive(Debug, Clone, Default)]
pub(crate) struct FetchSession {
    id: i32,
    epoch: i32,
    /// The partitions as the broker's session holds them.
    partitions: BTreeMap<TopicPartition, PartitionFetch>,
    /// Full fetches answered, incremental fetches answered, resets.
    pub(crate) stats: SessionStats,
}

/// Counters of one session.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct SessionStats {
    pub(crate) full: u64,
    pub(crate) incremental: u64,
    pub(crate) resets: u64,
}

impl FetchSession {
    /// The session id (0: none).
    #[cfg(test)]
    pub(crate) fn id(&self) -> i32 {
        self.id
    }

    /// The next fetch for the `wanted` partitions; `use_session` is false
    /// when the broker or the configuration does not do sessions.
    pub(crate) fn plan(
        &self,
        wanted: BTreeMap<TopicPartition, PartitionFetch>,
        use_session: bool,
    ) -> FetchPlan {
        if !use_session || self.id == 0 {
            return FetchPlan {
                session_id: 0,
                epoch: if use_session {
                    INITIAL_EPOCH
                } else {
                    NO_SESSION_EPOCH
                },
                full: true,
                to_send: wanted.iter().map(|(tp, p)| (tp.clone(), *p)).collect(),
                forgotten: Vec::new(),
                wanted,
            };
        }
        let to_send = wanted
            .iter()
            .filter(|(tp, p)| self.partitions.get(*tp) != Some(*p))
            .map(|(tp, p)| (tp.clone(), *p))
            .collect();
        let forgotten = self
            .partitions
            .iter()
            .filter(|(tp, _)| !wanted.contains_key(*tp))
            .map(|(tp, p)| (tp.clone(), p.topic_id))
            .collect();
        FetchPlan {
            session_id: self.id,
            epoch: self.epoch,
            full: false,
            to_send,
            forgotten,
            wanted,
        }
    }

    /// Takes in the response to `plan`: its top-level error code and the
    /// session id it carries.
    pub(crate) fn on_response(
        &mut self,
        plan: &FetchPlan,
        error: ErrorCode,
        session_id: i32,
    ) -> SessionOutcome {
        match error {
            ErrorCode::None => {}
            ErrorCode::FetchSessionIdNotFound | ErrorCode::InvalidFetchSessionEpoch => {
                self.reset();
                return SessionOutcome::Reset;
            }
            _ => {
                self.reset();
                return SessionOutcome::Ok;
            }
        }
        if plan.full {
            self.stats.full += 1;
            if plan.epoch == INITIAL_EPOCH && session_id > 0 {
                self.id = session_id;
                self.epoch = 1;
                self.partitions = plan.wanted.clone();
            } else {
                self.id = 0;
                self.epoch = INITIAL_EPOCH;
                self.partitions.clear();
            }
        } else {
            self.stats.incremental += 1;
            self.epoch = if self.epoch == i32::MAX {
                1
            } else {
                self.epoch + 1
            };
            self.partitions = plan.wanted.clone();
        }
        SessionOutcome::Ok
    }

    /// The request failed (no response): start over with a full fetch.
    pub(crate) fn on_failure(&mut self) {
        self.reset();
    }

    fn reset(&mut self) {
        if self.id != 0 {
            self.stats.resets += 1;
        }
        self.id = 0;
        self.epoch = INITIAL_EPOCH;
        self.partitions.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tp(p: i32) -> TopicPartition {
        TopicPartition::new("t", p)
    }

    fn want(list: &[(i32, i64)]) -> BTreeMap<TopicPartition, PartitionFetch> {
        list.iter()
            .map(|&(p, offset)| {
                (
                    tp(p),
                    PartitionFetch {
                        fetch_offset: offset,
                        max_bytes: 1024,
                        topic_id: Uuid([1; 16]),
                    },
                )
            })
            .collect()
    }

    fn sent(plan: &FetchPlan) -> Vec<(i32, i64)> {
        plan.to_send
            .iter()
            .map(|(tp, p)| (tp.partition, p.fetch_offset))
            .collect()
    }

    #[test]
    fn a_session_opens_with_a_full_fetch_then_goes_incremental() {
        let mut s = FetchSession::default();
        let p = s.plan(want(&[(0, 0), (1, 0), (2, 0)]), true);
        assert_eq!((p.session_id, p.epoch, p.full), (0, 0, true));
        assert_eq!(sent(&p), [(0, 0), (1, 0), (2, 0)]);
        assert_eq!(s.on_response(&p, ErrorCode::None, 77), SessionOutcome::Ok);
        assert_eq!(s.id(), 77);

        // Partition 1 moved on; nothing else changed: only it is listed.
        let p = s.plan(want(&[(0, 0), (1, 5), (2, 0)]), true);
        assert_eq!((p.session_id, p.epoch, p.full), (77, 1, false));
        assert_eq!(sent(&p), [(1, 5)]);
        assert!(p.forgotten.is_empty());
        assert_eq!(p.wanted.len(), 3);
        s.on_response(&p, ErrorCode::None, 77);

        // Partition 2 is paused (forgotten), partition 3 is new.
        let p = s.plan(want(&[(0, 0), (1, 5), (3, 9)]), true);
        assert_eq!(p.epoch, 2);
        assert_eq!(sent(&p), [(3, 9)]);
        assert_eq!(
            p.forgotten
                .iter()
                .map(|f| f.0.partition)
                .collect::<Vec<_>>(),
            [2]
        );
        s.on_response(&p, ErrorCode::None, 77);

        // Nothing changed: an empty incremental fetch.
        let p = s.plan(want(&[(0, 0), (1, 5), (3, 9)]), true);
        assert!(p.to_send.is_empty() && p.forgotten.is_empty());
        assert_eq!(p.epoch, 3);
        assert_eq!(s.stats.full, 1);
        assert_eq!(s.stats.incremental, 2);
    }

    #[test]
    fn session_errors_fall_back_to_a_full_fetch() {
        for code in [
            ErrorCode::FetchSessionIdNotFound,
            ErrorCode::InvalidFetchSessionEpoch,
        ] {
            let mut s = FetchSession::default();
            let p = s.plan(want(&[(0, 0)]), true);
            s.on_response(&p, ErrorCode::None, 5);
            let p = s.plan(want(&[(0, 3)]), true);
            assert!(!p.full);
            assert_eq!(s.on_response(&p, code, 0), SessionOutcome::Reset);
            let p = s.plan(want(&[(0, 3)]), true);
            assert_eq!((p.session_id, p.epoch, p.full), (0, 0, true));
            assert_eq!(sent(&p), [(0, 3)]);
            assert_eq!(s.stats.resets, 1);
        }
    }

    #[test]
    fn a_failed_request_or_a_broker_without_a_session_means_full_fetches() {
        let mut s = FetchSession::default();
        let p = s.plan(want(&[(0, 0)]), true);
        s.on_response(&p, ErrorCode::None, 5);
        s.on_failure();
        assert!(s.plan(want(&[(0, 0)]), true).full);

        // The broker did not open a session (id 0): keep asking in full.
        let p = s.plan(want(&[(0, 0)]), true);
        s.on_response(&p, ErrorCode::None, 0);
        assert_eq!(s.id(), 0);
        assert!(s.plan(want(&[(0, 0)]), true).full);

        // Sessionless (Fetch before v7, or disabled): epoch -1, always full.
        let p = s.plan(want(&[(0, 0), (1, 1)]), false);
        assert_eq!((p.session_id, p.epoch, p.full), (0, -1, true));
        s.on_response(&p, ErrorCode::None, 0);
        assert_eq!(s.plan(want(&[(0, 0)]), false).to_send.len(), 1);
    }

    #[test]
    fn the_epoch_wraps_to_one() {
        let mut s = FetchSession {
            id: 3,
            epoch: i32::MAX,
            ..FetchSession::default()
        };
        let p = s.plan(want(&[(0, 0)]), true);
        s.on_response(&p, ErrorCode::None, 3);
        assert_eq!(s.plan(want(&[(0, 0)]), true).epoch, 1);
    }
}
