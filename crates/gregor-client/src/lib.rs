//! # gregor-client
//!
//! Gregor's Producer, Consumer and Admin, built on the connections of
//! `gregor-net` and the group coordination of `gregor-group`. All three
//! share one [`gregor_net::Cluster`]: one connection per broker, one
//! metadata cache.
//!
//! ```no_run
//! use std::time::Duration;
//! use gregor_client::admin::NewTopic;
//! use gregor_client::{Admin, Producer, ProducerConfig, ProducerRecord};
//! use gregor_net::{Cluster, ClusterConfig};
//!
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! let cluster = Cluster::connect(
//!     ClusterConfig::builder().bootstrap_servers(["127.0.0.1:9092"]).build()?,
//! )
//! .await?;
//! Admin::new(cluster.clone())
//!     .create_topics(&[NewTopic::new("events", 6, 1)])
//!     .await
//!     .into_result()?;
//! let producer = Producer::new(cluster, ProducerConfig::default());
//! producer.send(ProducerRecord::to("events").value("hello")).await?;
//! producer.close(Duration::from_secs(10)).await;
//! # Ok(())
//! # }
//! ```

pub mod admin;
pub mod consumer;
mod error;
pub mod producer;

pub use admin::Admin;
pub use consumer::{Consumer, ConsumerConfig, ConsumerRecord};
pub use error::{Error, Result};
pub use producer::{Producer, ProducerConfig, ProducerRecord};
