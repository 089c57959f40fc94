//! # gregor
//!
//! A pure-Rust Apache Kafka client. This umbrella crate re-exports the
//! layers an application needs; a custom tool can depend on
//! [`protocol`] (`gregor-protocol`) alone.
//!
//! Produce a record and read it back through a consumer group, sharing one
//! connection per broker between both:
//!
//! ```no_run
//! use std::time::Duration;
//! use gregor::client::consumer::{Consumer, ConsumerConfig, OffsetReset};
//! use gregor::client::producer::{Producer, ProducerConfig, ProducerRecord};
//! use gregor::net::{Cluster, ClusterConfig};
//!
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! let cluster = Cluster::connect(
//!     ClusterConfig::builder().bootstrap_servers(["127.0.0.1:9092"]).build()?,
//! )
//! .await?;
//!
//! let producer = Producer::new(cluster.clone(), ProducerConfig::default());
//! let written = producer
//!     .send(ProducerRecord::to("orders").key("customer-42").value("12 EUR"))
//!     .await?;
//! println!("written to partition {} at {:?}", written.partition, written.offset);
//!
//! let consumer = Consumer::new(
//!     cluster,
//!     ConsumerConfig::builder()
//!         .group_id("billing")
//!         .offset_reset(OffsetReset::Earliest)
//!         .build()?,
//! );
//! consumer.subscribe(["orders"])?;
//! for record in consumer.poll_batch(100, Duration::from_secs(5)).await? {
//!     println!("{}-{}@{}: {:?}", record.topic, record.partition, record.offset, record.value);
//! }
//! consumer.commit().await?; // at least once: commit after processing
//! consumer.close().await?;
//! producer.close(Duration::from_secs(10)).await;
//! # Ok(())
//! # }
//! ```

pub use gregor_client as client;
#[cfg(feature = "cluster")]
pub use gregor_cluster as cluster;
pub use gregor_group as group;
pub use gregor_net as net;
pub use gregor_protocol as protocol;
