//! The one place connections are opened, so every layer above (cluster
//! metadata, producer, consumer, admin) dials brokers the same way, with the
//! same TLS and SASL settings.

use crate::{BrokerAddr, Connection, ConnectionConfig, Result};

/// Opens connections to brokers with one fixed configuration.
#[derive(Debug, Clone, Default)]
pub struct Connector {
    config: ConnectionConfig,
}

impl Connector {
    /// A connector that opens plain TCP connections with `config`.
    pub fn new(config: ConnectionConfig) -> Self {
        Self { config }
    }

    /// The connection settings.
    pub fn config(&self) -> &ConnectionConfig {
        &self.config
    }

    /// Opens a connection to `broker` and negotiates API versions.
    /// Cancel-safe: dropping the future closes whatever was opened.
    ///
    /// # Errors
    ///
    /// As [`Connection::connect`].
    pub async fn connect(&self, broker: impl Into<BrokerAddr>) -> Result<Connection> {
        Connection::connect(broker, &self.config).await
    }
}
