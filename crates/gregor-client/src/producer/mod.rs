//! The producer: batching, partitioning, idempotence and delivery reports.
