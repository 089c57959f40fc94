//! # gregor-cluster
//!
//! A sarama-cluster style group consumer over Gregor: many topics, consumed
//! multiplexed or per partition, with rebalance notifications and an offset
//! stash that commits processed offsets periodically and on rebalance.
