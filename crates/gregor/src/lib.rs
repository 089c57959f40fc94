//! # gregor
//!
//! A pure-Rust Apache Kafka client. This umbrella crate re-exports the
//! layers an application needs; a custom tool can depend on
//! [`protocol`] (`gregor-protocol`) alone.

pub use gregor_client as client;
#[cfg(feature = "cluster")]
pub use gregor_cluster as cluster;
pub use gregor_group as group;
pub use gregor_net as net;
pub use gregor_protocol as protocol;
