//! # gregor-client
//!
//! Gregor's Producer, Consumer and Admin, built on the connections of
//! `gregor-net` and the group coordination of `gregor-group`.

pub mod admin;
pub mod consumer;
mod error;
pub mod producer;

pub use admin::Admin;
pub use consumer::{Consumer, ConsumerConfig, ConsumerRecord};
pub use error::{Error, Result};
pub use producer::{Producer, ProducerConfig, ProducerRecord};
