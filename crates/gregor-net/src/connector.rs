//! The one place connections are opened, so every layer above (cluster
//! metadata, producer, consumer, admin) dials brokers the same way, with the
//! same TLS and SASL settings.

use std::sync::Arc;

use gregor_protocol::ApiKey;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;
use tokio::time::Instant;

use crate::error::Error;
use crate::sasl::reauth::{self, Armed};
use crate::{BrokerAddr, Connection, ConnectionConfig, Result, SaslConfig, TlsConfig};

/// Opens connections to brokers with one fixed configuration: plain TCP,
/// TLS, SASL, or SASL over TLS.
///
/// | TLS | SASL | Kafka's `security.protocol` |
/// | --- | --- | --- |
/// | no | no | `PLAINTEXT` |
/// | yes | no | `SSL` |
/// | no | yes | `SASL_PLAINTEXT` |
/// | yes | yes | `SASL_SSL` |
///
/// ```no_run
/// use gregor_net::{Connector, ConnectionConfig, SaslConfig, TlsConfig};
///
/// # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
/// let connector = Connector::new(ConnectionConfig::default())
///     .with_tls(TlsConfig::builder().ca_file("/etc/kafka/ca.pem").build()?)
///     .with_sasl(SaslConfig::scram_sha512("alice", "alice-secret"));
/// let conn = connector.connect("kafka-1:9093").await?;
/// # Ok(())
/// # }
/// ```
#[derive(Debug, Clone, Default)]
pub struct Connector {
    config: ConnectionConfig,
    tls: Option<TlsConfig>,
    sasl: Option<SaslConfig>,
}

impl Connector {
    /// A connector that opens plain TCP connections with `config`.
    pub fn new(config: ConnectionConfig) -> Self {
        Self {
            config,
            tls: None,
            sasl: None,
        }
    }

    /// The same connector speaking TLS.
    #[must_use]
    pub fn with_tls(mut self, tls: TlsConfig) -> Self {
        self.tls = Some(tls);
        self
    }

    /// The same connector authenticating every connection with SASL (over
    /// TLS too if [`with_tls`](Self::with_tls) was given).
    #[must_use]
    pub fn with_sasl(mut self, sasl: SaslConfig) -> Self {
        self.sasl = Some(sasl);
        self
    }

    /// The connection settings.
    pub fn config(&self) -> &ConnectionConfig {
        &self.config
    }

    /// The TLS settings, if connections use TLS.
    pub fn tls(&self) -> Option<&TlsConfig> {
        self.tls.as_ref()
    }

    /// The SASL settings, if connections authenticate.
    pub fn sasl(&self) -> Option<&SaslConfig> {
        self.sasl.as_ref()
    }

    /// Opens a connection to `broker`: TCP, then the TLS handshake if
    /// configured, then API version negotiation, then SASL authentication
    /// if configured. The connect timeout covers all of it. Cancel-safe:
    /// dropping the future closes whatever was opened.
    ///
    /// # Errors
    ///
    /// As [`Connection::connect`], and:
    ///
    /// - [`Error::Tls`]: the broker's certificate did not verify (unknown
    ///   CA, expired, issued for another name), the broker refused this
    ///   client's, or the port does not speak TLS. Not retriable.
    /// - [`Error::Authentication`]: the broker refused the SASL
    ///   credentials (its message says why). Not retriable.
    /// - [`Error::UnsupportedSaslMechanism`]: the broker does not enable
    ///   the mechanism; the error lists those it does. Not retriable.
    pub async fn connect(&self, broker: impl Into<BrokerAddr>) -> Result<Connection> {
        let broker = broker.into();
        if self.tls.is_none() && self.sasl.is_none() {
            return Connection::connect(broker, &self.config).await;
        }
        let deadline = Instant::now() + self.config.connect_timeout();
        tokio::time::timeout_at(deadline, self.connect_secured(broker.clone()))
            .await
            .map_err(|_| Error::ConnectTimeout {
                broker,
                after: self.config.connect_timeout(),
            })?
    }

    async fn connect_secured(&self, broker: BrokerAddr) -> Result<Connection> {
        let connect_error = |e| Error::Connect {
            broker: broker.clone(),
            source: Arc::new(e),
        };
        tracing::debug!(broker = %broker, tls = self.tls.is_some(), sasl = self.sasl.is_some(), "connecting");
        let tcp = TcpStream::connect(broker.addr())
            .await
            .map_err(connect_error)?;
        configure_socket(&tcp, &self.config).map_err(connect_error)?;
        match &self.tls {
            Some(tls) => {
                let stream = tls.handshake(tcp, &broker).await?;
                self.start(stream, broker)
                    .await
                    .map_err(crate::tls::reclassify)
            }
            None => self.start(tcp, broker).await,
        }
    }

    /// Negotiates versions and authenticates over an open stream.
    async fn start<S>(&self, stream: S, broker: BrokerAddr) -> Result<Connection>
    where
        S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        let Some(sasl) = &self.sasl else {
            return Connection::from_stream(stream, broker, &self.config).await;
        };
        let (stream, reauth) = reauth::wrap(stream);
        let conn = Connection::from_stream(stream, broker.clone(), &self.config).await?;
        let session_lifetime = match crate::sasl::authenticate(&conn, sasl).await {
            Ok(lifetime) => lifetime,
            Err(e) => {
                conn.close();
                return Err(e);
            }
        };
        if let (Some(session_lifetime), Some(authenticate_version)) =
            (session_lifetime, conn.version_for(ApiKey::SaslAuthenticate))
        {
            reauth.arm(Armed {
                sasl: sasl.clone(),
                broker,
                client_id: self.config.client_id().map(str::to_owned),
                authenticate_version,
                session_lifetime,
            });
        }
        Ok(conn)
    }
}

/// The TCP options [`Connection::connect`] sets, for connections this
/// module dials itself.
fn configure_socket(stream: &TcpStream, config: &ConnectionConfig) -> std::io::Result<()> {
    stream.set_nodelay(config.tcp_nodelay())?;
    if let Some(idle) = config.tcp_keepalive() {
        let keepalive = socket2::TcpKeepalive::new().with_time(idle);
        socket2::SockRef::from(stream).set_tcp_keepalive(&keepalive)?;
    }
    Ok(())
}
