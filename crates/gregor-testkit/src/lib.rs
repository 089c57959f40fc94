//! # gregor-testkit
//!
//! Support for the integration tests (`tests/it_*.rs` in every crate), kept
//! in one place: where the broker is, what it can do, how to restart it, and
//! how to ask the interop peers (librdkafka through `confluent-kafka`, and
//! `kafka-python`) what they see.
//!
//! A test that needs a broker calls [`bootstrap`]. Outside `cargo xtask` it
//! gets `None` and the reason is printed, so `cargo test` passes on a machine
//! without a broker; under `cargo xtask integration` (which sets
//! `GREGOR_REQUIRE_BROKER=1`) a missing broker is a failure, never a skip.
//!
//! ```
//! let Some(bootstrap) = gregor_testkit::bootstrap("doc example") else { return };
//! assert!(bootstrap.contains(':'));
//! ```

pub mod broker;
pub mod peers;

pub use broker::{BrokerKind, Capability, bootstrap, bootstrap_for, supports};
