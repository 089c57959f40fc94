//! # gregor-net
//!
//! Broker connections for Gregor: one tokio connection per broker that
//! pipelines requests by correlation id, negotiates API versions, speaks TLS
//! and SASL, and keeps the cluster's metadata for routing. Built on
//! [`gregor_protocol`]; the producer, consumer and admin sit on top.
