//! The broker a connection talks to, as errors and logs name it.

use std::fmt;
use std::net::SocketAddr;
use std::sync::Arc;

/// The address of a broker and, once cluster metadata has said so, its node
/// id.
///
/// Every [`Error`](crate::Error) carries one, because "connection reset" is
/// useless in a cluster of thirty brokers unless it says which. Cloning is
/// cheap (the address is reference-counted), so errors can carry it freely.
///
/// ```
/// use gregor_net::BrokerAddr;
///
/// let b = BrokerAddr::new("kafka-1:9092").with_node_id(1);
/// assert_eq!(b.to_string(), "kafka-1:9092 (node 1)");
/// assert_eq!(BrokerAddr::from("kafka-2:9092").to_string(), "kafka-2:9092");
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct BrokerAddr {
    addr: Arc<str>,
    node_id: Option<i32>,
}

impl BrokerAddr {
    /// A broker known only by its address: `host:port`, or any label for a
    /// stream that is not plain TCP (a test's duplex pipe, a proxy).
    pub fn new(addr: impl Into<Arc<str>>) -> Self {
        Self {
            addr: addr.into(),
            node_id: None,
        }
    }

    /// The same broker with its node id from cluster metadata.
    #[must_use]
    pub fn with_node_id(mut self, node_id: i32) -> Self {
        self.node_id = Some(node_id);
        self
    }

    /// The address (or label) as given.
    pub fn addr(&self) -> &str {
        &self.addr
    }

    /// The node id, if known.
    pub fn node_id(&self) -> Option<i32> {
        self.node_id
    }
}

impl fmt::Display for BrokerAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.node_id {
            Some(id) => write!(f, "{} (node {id})", self.addr),
            None => f.write_str(&self.addr),
        }
    }
}

impl From<&str> for BrokerAddr {
    fn from(addr: &str) -> Self {
        Self::new(addr)
    }
}

impl From<String> for BrokerAddr {
    fn from(addr: String) -> Self {
        Self::new(addr)
    }
}

impl From<SocketAddr> for BrokerAddr {
    fn from(addr: SocketAddr) -> Self {
        Self::new(addr.to_string())
    }
}

impl From<&BrokerAddr> for BrokerAddr {
    fn from(b: &BrokerAddr) -> Self {
        b.clone()
    }
}
