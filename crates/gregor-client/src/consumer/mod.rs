//! The consumer: assigned partitions or a consumer group, fetch sessions, offsets and rebalance listeners.
