//! # gregor-net
//!
//! Broker connections for Gregor: one tokio connection per broker that
//! pipelines requests by correlation id, negotiates API versions, speaks TLS
//! and SASL, and keeps the cluster's metadata for routing. Built on
//! [`gregor_protocol`]; the producer, consumer and admin sit on top.
//!
//! The core is [`Connection`]: connect, then send any generated request and
//! get its typed response, at the highest version both sides support.
//!
//! ```no_run
//! use gregor_net::{Connection, ConnectionConfig};
//! use gregor_protocol::messages::MetadataRequest;
//!
//! # async fn demo() -> Result<(), gregor_net::Error> {
//! let conn = Connection::connect("127.0.0.1:9092", &ConnectionConfig::default()).await?;
//! // `topics: Some(vec![])` asks for no topics, just the brokers.
//! let metadata = conn.send(&MetadataRequest::default()).await?;
//! for b in &metadata.brokers {
//!     println!("node {} at {}:{}", b.node_id, b.host, b.port);
//! }
//! # Ok(())
//! # }
//! ```
//!
//! Every request is cancel-safe: dropping its future never corrupts the
//! connection. Errors are one type, [`Error`], which names the broker and
//! says whether retrying can help ([`Error::is_retriable`]).

mod addr;
mod cluster;
mod config;
pub mod conn;
mod connection;
mod connector;
mod error;
pub mod sasl;
pub mod tls;
mod versions;

pub use addr::BrokerAddr;
pub use cluster::{
    Backoff, BackoffPolicy, BrokerId, BrokerMetadata, Cluster, ClusterConfig, ClusterConfigBuilder,
    ClusterConfigError, ClusterMetadata, CoordinatorKey, EndpointStats, PartitionMetadata,
    PoolStats, TopicMetadata,
};
pub use config::{ConfigError, ConnectionConfig, ConnectionConfigBuilder};
pub use connection::Connection;
pub use connector::Connector;
pub use error::{CloseReason, Error, Result};
pub use sasl::{
    OAuthToken, OAuthTokenProvider, SaslConfig, SaslMechanism, StaticTokenProvider, TokenError,
};
pub use tls::{TlsConfig, TlsConfigBuilder, TlsConfigError};
pub use versions::{BrokerVersions, client_versions};
