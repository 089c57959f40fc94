//! TLS for broker connections: rustls with the `ring` provider.
//!
//! A [`TlsConfig`] is built once (reading and checking every PEM input
//! then, so a bad file fails at start-up and not at the first connection)
//! and shared by every connection of a [`Connector`](crate::Connector).
//!
//! ```no_run
//! use gregor_net::{Connector, ConnectionConfig, TlsConfig};
//!
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! let tls = TlsConfig::builder()
//!     .ca_file("/etc/kafka/ca.pem")
//!     .client_cert_files("/etc/kafka/client.pem", "/etc/kafka/client.key")
//!     .build()?;
//! let connector = Connector::new(ConnectionConfig::default()).with_tls(tls);
//! let conn = connector.connect("kafka-1.internal:9093").await?;
//! # Ok(())
//! # }
//! ```

use std::fmt;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use tokio::io::{AsyncRead, AsyncWrite};
use tokio_rustls::TlsConnector;
use tokio_rustls::client::TlsStream;
use tokio_rustls::rustls;
use tokio_rustls::rustls::client::danger::{
    HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier,
};
use tokio_rustls::rustls::crypto::WebPkiSupportedAlgorithms;
use tokio_rustls::rustls::pki_types::pem::PemObject;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use tokio_rustls::rustls::{CertificateError, DigitallySignedStruct, SignatureScheme};

use crate::BrokerAddr;
use crate::error::{Error, Result};

/// The environment variables [`TlsConfig::from_env`] reads, as dp-kafka
/// names them.
pub mod env {
    /// `TLS` (or `SSL`, `SASL_SSL`) switches TLS on; unset, empty,
    /// `PLAINTEXT` or `SASL_PLAINTEXT` leave it off.
    pub const PROTOCOL: &str = "KAFKA_SEC_PROTO";
    /// The CA bundle that signs the brokers' certificates: a PEM file's path
    /// or the PEM text itself. Unset: Mozilla's root CAs.
    pub const CA_CERTS: &str = "KAFKA_SEC_CA_CERTS";
    /// The client certificate chain for mutual TLS: a path or PEM text.
    pub const CLIENT_CERT: &str = "KAFKA_SEC_CLIENT_CERT";
    /// The client certificate's private key (PKCS#8, SEC1 or RSA): a path or
    /// PEM text.
    pub const CLIENT_KEY: &str = "KAFKA_SEC_CLIENT_KEY";
    /// `true` accepts any broker certificate. Never in production.
    pub const SKIP_VERIFY: &str = "KAFKA_SEC_SKIP_VERIFY";
}

/// TLS settings for broker connections.
///
/// Cheap to clone (the rustls configuration is shared). Build with
/// [`TlsConfig::builder`] or [`TlsConfig::from_env`].
#[derive(Clone)]
pub struct TlsConfig {
    client: Arc<rustls::ClientConfig>,
    server_name: Option<ServerName<'static>>,
    skip_verification: bool,
    mutual: bool,
}

impl TlsConfig {
    /// A builder with nothing set: Mozilla's root CAs, no client
    /// certificate, the broker's host as the name to verify.
    pub fn builder() -> TlsConfigBuilder {
        TlsConfigBuilder::default()
    }

    /// TLS settings from dp-kafka's environment variables (see [`env`](mod@env)):
    /// `Ok(None)` when `KAFKA_SEC_PROTO` does not ask for TLS.
    ///
    /// | variable | meaning |
    /// | --- | --- |
    /// | `KAFKA_SEC_PROTO` | `TLS` (also `SSL`, `SASL_SSL`) to use TLS |
    /// | `KAFKA_SEC_CA_CERTS` | CA bundle, a PEM file path or PEM text; unset: Mozilla's roots |
    /// | `KAFKA_SEC_CLIENT_CERT` | client certificate chain for mutual TLS, path or PEM text |
    /// | `KAFKA_SEC_CLIENT_KEY` | its private key, path or PEM text |
    /// | `KAFKA_SEC_SKIP_VERIFY` | `true` to accept any broker certificate (default `false`) |
    ///
    /// A value that starts with `-----BEGIN` is PEM text, anything else a
    /// path.
    ///
    /// # Errors
    ///
    /// A [`TlsConfigError`] naming the variable (or the file it names) that
    /// is unreadable, not PEM, or not one of the accepted values.
    pub fn from_env() -> Result<Option<TlsConfig>, TlsConfigError> {
        Self::from_env_with(|name| std::env::var(name).ok())
    }

    /// [`from_env`](Self::from_env) reading the variables through `lookup`,
    /// for tests or for settings kept elsewhere under the same names.
    ///
    /// ```
    /// use gregor_net::TlsConfig;
    ///
    /// let off = TlsConfig::from_env_with(|_| None)?;
    /// assert!(off.is_none());
    /// let on = TlsConfig::from_env_with(|name| match name {
    ///     "KAFKA_SEC_PROTO" => Some("TLS".to_owned()),
    ///     "KAFKA_SEC_SKIP_VERIFY" => Some("true".to_owned()),
    ///     _ => None,
    /// })?;
    /// assert!(on.unwrap().skips_verification());
    /// # Ok::<(), gregor_net::TlsConfigError>(())
    /// ```
    ///
    /// # Errors
    ///
    /// As [`from_env`](Self::from_env).
    pub fn from_env_with(
        lookup: impl Fn(&str) -> Option<String>,
    ) -> Result<Option<TlsConfig>, TlsConfigError> {
        let get = |name: &str| lookup(name).filter(|v| !v.trim().is_empty());
        match get(env::PROTOCOL)
            .map(|p| p.trim().to_ascii_uppercase())
            .as_deref()
        {
            None | Some("PLAINTEXT" | "SASL_PLAINTEXT") => return Ok(None),
            Some("TLS" | "SSL" | "SASL_SSL") => {}
            Some(other) => {
                return Err(TlsConfigError::new(
                    env::PROTOCOL,
                    format!(
                        "is {other:?}; expected TLS, SSL, SASL_SSL, PLAINTEXT or SASL_PLAINTEXT"
                    ),
                ));
            }
        }
        let mut b = TlsConfig::builder();
        if let Some(ca) = get(env::CA_CERTS) {
            b.ca.push(PemSource::from_env_value(env::CA_CERTS, ca));
        }
        match (get(env::CLIENT_CERT), get(env::CLIENT_KEY)) {
            (Some(cert), Some(key)) => {
                b.client = Some((
                    PemSource::from_env_value(env::CLIENT_CERT, cert),
                    PemSource::from_env_value(env::CLIENT_KEY, key),
                ));
            }
            (None, None) => {}
            (Some(_), None) => {
                return Err(TlsConfigError::new(
                    env::CLIENT_KEY,
                    format!(
                        "is not set, but {} is: mutual TLS needs both",
                        env::CLIENT_CERT
                    ),
                ));
            }
            (None, Some(_)) => {
                return Err(TlsConfigError::new(
                    env::CLIENT_CERT,
                    format!(
                        "is not set, but {} is: mutual TLS needs both",
                        env::CLIENT_KEY
                    ),
                ));
            }
        }
        if let Some(skip) = get(env::SKIP_VERIFY) {
            match skip.trim().to_ascii_lowercase().as_str() {
                "true" | "1" | "yes" => b.skip_verification = true,
                "false" | "0" | "no" => {}
                _ => {
                    return Err(TlsConfigError::new(
                        env::SKIP_VERIFY,
                        format!("is {skip:?}; expected true or false"),
                    ));
                }
            }
        }
        b.build().map(Some)
    }

    /// Whether broker certificates are accepted without verification
    /// ([`TlsConfigBuilder::danger_skip_verification`]).
    pub fn skips_verification(&self) -> bool {
        self.skip_verification
    }

    /// Whether a client certificate is presented (mutual TLS).
    pub fn has_client_cert(&self) -> bool {
        self.mutual
    }

    /// The name every broker certificate is checked against, if one was set
    /// with [`TlsConfigBuilder::server_name`]; otherwise each broker's own
    /// host is used.
    pub fn server_name(&self) -> Option<String> {
        self.server_name.as_ref().map(|n| n.to_str().into_owned())
    }

    /// Runs the TLS handshake over `io` with `broker`.
    ///
    /// # Errors
    ///
    /// [`Error::Tls`] when the handshake fails on a TLS matter (certificate,
    /// alert, not TLS at all); [`Error::Connect`] when the stream itself
    /// fails or closes.
    pub(crate) async fn handshake<IO>(&self, io: IO, broker: &BrokerAddr) -> Result<TlsStream<IO>>
    where
        IO: AsyncRead + AsyncWrite + Unpin,
    {
        let name = match &self.server_name {
            Some(n) => n.clone(),
            None => host_name(broker)?,
        };
        let shown = name.to_str().into_owned();
        tracing::debug!(broker = %broker, server_name = %shown, "TLS handshake");
        TlsConnector::from(self.client.clone())
            .connect(name, io)
            .await
            .map_err(|e| handshake_error(broker, &shown, e))
    }
}

impl fmt::Debug for TlsConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TlsConfig")
            .field("server_name", &self.server_name())
            .field("client_cert", &self.mutual)
            .field("skip_verification", &self.skip_verification)
            .finish_non_exhaustive()
    }
}

/// Where PEM input comes from, kept so errors can name it.
#[derive(Clone)]
enum PemSource {
    File { path: PathBuf, what: &'static str },
    Text { text: String, what: String },
}

impl PemSource {
    /// A dp-kafka style value: PEM text if it looks like it, else a path.
    fn from_env_value(var: &'static str, value: String) -> Self {
        if value.trim_start().starts_with("-----BEGIN") {
            PemSource::Text {
                text: value,
                what: format!("PEM in {var}"),
            }
        } else {
            PemSource::File {
                path: PathBuf::from(value),
                what: var,
            }
        }
    }

    /// What errors call it: `CA file /etc/ca.pem`, `PEM in KAFKA_SEC_CA_CERTS`.
    fn describe(&self) -> String {
        match self {
            PemSource::File { path, what } => format!("{what} {}", path.display()),
            PemSource::Text { what, .. } => what.clone(),
        }
    }

    fn read(&self) -> Result<Vec<u8>, TlsConfigError> {
        match self {
            PemSource::File { path, .. } => std::fs::read(path)
                .map_err(|e| TlsConfigError::new(self.describe(), format!("cannot be read: {e}"))),
            PemSource::Text { text, .. } => Ok(text.as_bytes().to_vec()),
        }
    }

    fn certificates(&self) -> Result<Vec<CertificateDer<'static>>, TlsConfigError> {
        let bytes = self.read()?;
        let certs = CertificateDer::pem_slice_iter(&bytes)
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| TlsConfigError::new(self.describe(), format!("is not valid PEM: {e}")))?;
        if certs.is_empty() {
            return Err(TlsConfigError::new(
                self.describe(),
                "holds no CERTIFICATE section".to_owned(),
            ));
        }
        Ok(certs)
    }

    fn private_key(&self) -> Result<PrivateKeyDer<'static>, TlsConfigError> {
        let bytes = self.read()?;
        PrivateKeyDer::from_pem_slice(&bytes).map_err(|e| {
            let reason = match e {
                rustls::pki_types::pem::Error::NoItemsFound => {
                    "holds no private key (PKCS#8, SEC1 or RSA PEM section)".to_owned()
                }
                e => format!("is not a valid PEM private key: {e}"),
            };
            TlsConfigError::new(self.describe(), reason)
        })
    }
}

/// Builds a [`TlsConfig`]; see [`TlsConfig::builder`].
///
/// Setters only record; [`build`](Self::build) reads the files and checks
/// everything.
#[derive(Clone, Default)]
#[must_use]
pub struct TlsConfigBuilder {
    ca: Vec<PemSource>,
    webpki_roots: bool,
    client: Option<(PemSource, PemSource)>,
    server_name: Option<String>,
    skip_verification: bool,
}

impl TlsConfigBuilder {
    /// Trusts the CA certificates in the PEM file at `path` (one or more
    /// `CERTIFICATE` sections). May be called more than once.
    pub fn ca_file(mut self, path: impl AsRef<Path>) -> Self {
        self.ca.push(PemSource::File {
            path: path.as_ref().to_owned(),
            what: "CA file",
        });
        self
    }

    /// Trusts the CA certificates in `pem`, PEM text.
    pub fn ca_pem(mut self, pem: impl Into<String>) -> Self {
        let n = self.ca.len() + 1;
        self.ca.push(PemSource::Text {
            text: pem.into(),
            what: format!("CA PEM #{n}"),
        });
        self
    }

    /// Also trusts Mozilla's root CAs (built into this crate, from
    /// `webpki-roots`): for brokers with publicly issued certificates.
    /// They are the default when no CA is given at all.
    pub fn webpki_roots(mut self) -> Self {
        self.webpki_roots = true;
        self
    }

    /// Presents the client certificate chain in the PEM file `cert` with
    /// the private key in the PEM file `key` (PKCS#8, SEC1 or RSA), for
    /// brokers that require mutual TLS.
    pub fn client_cert_files(mut self, cert: impl AsRef<Path>, key: impl AsRef<Path>) -> Self {
        self.client = Some((
            PemSource::File {
                path: cert.as_ref().to_owned(),
                what: "client certificate file",
            },
            PemSource::File {
                path: key.as_ref().to_owned(),
                what: "client key file",
            },
        ));
        self
    }

    /// [`client_cert_files`](Self::client_cert_files) with PEM text.
    pub fn client_cert_pem(mut self, cert: impl Into<String>, key: impl Into<String>) -> Self {
        self.client = Some((
            PemSource::Text {
                text: cert.into(),
                what: "client certificate PEM".to_owned(),
            },
            PemSource::Text {
                text: key.into(),
                what: "client key PEM".to_owned(),
            },
        ));
        self
    }

    /// Checks every broker's certificate against `name` (a DNS name or an
    /// IP address) instead of the host each broker is dialled at, e.g. when
    /// brokers are reached through a tunnel or by IP but certified by name.
    pub fn server_name(mut self, name: impl Into<String>) -> Self {
        self.server_name = Some(name.into());
        self
    }

    /// Accepts any broker certificate: expired, self-signed, for another
    /// name. The connection is still encrypted, but anyone on the path can
    /// impersonate the broker, so this is for local experiments only
    /// (dp-kafka's `KAFKA_SEC_SKIP_VERIFY`). The handshake's signatures are
    /// still checked.
    pub fn danger_skip_verification(mut self) -> Self {
        self.skip_verification = true;
        self
    }

    /// Reads and checks everything.
    ///
    /// # Errors
    ///
    /// A [`TlsConfigError`] naming the file or input that cannot be read, is
    /// not PEM, holds no certificate or key, or is not accepted by rustls
    /// (a key that does not match its certificate, an invalid server name).
    pub fn build(self) -> Result<TlsConfig, TlsConfigError> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let builder = rustls::ClientConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()
            .map_err(|e| TlsConfigError::new("protocol versions", e.to_string()))?;

        let builder = if self.skip_verification {
            builder
                .dangerous()
                .with_custom_certificate_verifier(Arc::new(SkipVerification(
                    provider.signature_verification_algorithms,
                )))
        } else {
            let mut roots = rustls::RootCertStore::empty();
            for source in &self.ca {
                for cert in source.certificates()? {
                    roots.add(cert).map_err(|e| {
                        TlsConfigError::new(
                            source.describe(),
                            format!("holds a certificate rustls cannot use as a CA: {e}"),
                        )
                    })?;
                }
            }
            if self.webpki_roots || self.ca.is_empty() {
                roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
            }
            builder.with_root_certificates(roots)
        };

        let mutual = self.client.is_some();
        let client = match &self.client {
            Some((cert, key)) => {
                let chain = cert.certificates()?;
                let key_der = key.private_key()?;
                builder.with_client_auth_cert(chain, key_der).map_err(|e| {
                    TlsConfigError::new(
                        format!("{} with {}", cert.describe(), key.describe()),
                        format!("cannot be used: {e}"),
                    )
                })?
            }
            None => builder.with_no_client_auth(),
        };

        let server_name = match self.server_name {
            Some(name) => Some(ServerName::try_from(name.clone()).map_err(|e| {
                TlsConfigError::new("server name", format!("{name:?} is not valid: {e}"))
            })?),
            None => None,
        };

        Ok(TlsConfig {
            client: Arc::new(client),
            server_name,
            skip_verification: self.skip_verification,
            mutual,
        })
    }
}

impl fmt::Debug for TlsConfigBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let ca: Vec<String> = self.ca.iter().map(PemSource::describe).collect();
        f.debug_struct("TlsConfigBuilder")
            .field("ca", &ca)
            .field("webpki_roots", &self.webpki_roots)
            .field(
                "client_cert",
                &self.client.as_ref().map(|(c, _)| c.describe()),
            )
            .field("server_name", &self.server_name)
            .field("skip_verification", &self.skip_verification)
            .finish()
    }
}

/// A TLS setting that cannot be used, found when the config is built.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid TLS config: {input} {reason}")]
pub struct TlsConfigError {
    input: String,
    reason: String,
}

impl TlsConfigError {
    fn new(input: impl Into<String>, reason: String) -> Self {
        Self {
            input: input.into(),
            reason,
        }
    }

    /// The input at fault: a file (`CA file /etc/ca.pem`), an environment
    /// variable, or PEM text given directly.
    pub fn input(&self) -> &str {
        &self.input
    }

    /// What is wrong with it.
    pub fn reason(&self) -> &str {
        &self.reason
    }
}

/// The host part of a broker address, as the name its certificate must
/// carry: `kafka-1:9093` -> `kafka-1`, `[::1]:9093` -> `::1`.
fn host_name(broker: &BrokerAddr) -> Result<ServerName<'static>> {
    let addr = broker.addr();
    let host = if let Some(rest) = addr.strip_prefix('[') {
        rest.split_once(']').map_or(rest, |(h, _)| h)
    } else {
        match addr.rsplit_once(':') {
            // More than one colon without brackets: a bare IPv6 address.
            Some((h, _)) if !h.contains(':') => h,
            _ => addr,
        }
    };
    ServerName::try_from(host.to_owned()).map_err(|e| Error::Tls {
        broker: broker.clone(),
        reason: format!("{host:?} cannot be checked against a certificate: {e}"),
    })
}

/// Sorts a failed handshake into [`Error::Tls`] (a TLS matter that a retry
/// will not fix) or [`Error::Connect`] (the stream failed).
fn handshake_error(broker: &BrokerAddr, server_name: &str, e: io::Error) -> Error {
    let tls = e
        .get_ref()
        .and_then(|inner| inner.downcast_ref::<rustls::Error>());
    if let Some(err) = tls {
        return Error::Tls {
            broker: broker.clone(),
            reason: describe(err, server_name),
        };
    }
    // The stream failed: a plaintext listener hangs up on a ClientHello
    // (its first bytes read as an absurd frame size), which is the usual
    // cause, but a restarting broker does the same, so this stays
    // retriable.
    let what = match e.kind() {
        io::ErrorKind::UnexpectedEof => "the broker closed the connection".to_owned(),
        _ => e.to_string(),
    };
    Error::Connect {
        broker: broker.clone(),
        source: Arc::new(io::Error::new(
            e.kind(),
            format!(
                "{what} during the TLS handshake (is this the broker's TLS port, and does it \
                 want a client certificate?)"
            ),
        )),
    }
}

/// An error from the first exchanges over a TLS stream that is really a
/// TLS failure reported late: with TLS 1.3 the client finishes its side of
/// the handshake before the broker checks the client's certificate, so a
/// refusal arrives as an alert on the first read. Such errors become
/// [`Error::Tls`]; others are returned unchanged.
pub(crate) fn reclassify(err: Error) -> Error {
    let (broker, source) = match err.root() {
        Error::Io { broker, source } => (broker, source),
        _ => return err,
    };
    match source
        .get_ref()
        .and_then(|inner| inner.downcast_ref::<rustls::Error>())
    {
        Some(tls) => Error::Tls {
            broker: broker.clone(),
            reason: describe(tls, ""),
        },
        None => err,
    }
}

/// A rustls error as a sentence that says what to check.
fn describe(err: &rustls::Error, server_name: &str) -> String {
    use rustls::Error as E;
    match err {
        E::InvalidCertificate(cert) => {
            let hint = match cert {
                CertificateError::UnknownIssuer => {
                    "the broker's certificate is not signed by a trusted CA \
                     (check the CA bundle)"
                        .to_owned()
                }
                CertificateError::Expired | CertificateError::ExpiredContext { .. } => {
                    "the broker's certificate has expired".to_owned()
                }
                CertificateError::NotValidYet | CertificateError::NotValidYetContext { .. } => {
                    "the broker's certificate is not valid yet (check the clocks)".to_owned()
                }
                CertificateError::NotValidForName
                | CertificateError::NotValidForNameContext { .. } => format!(
                    "the broker's certificate is not valid for {server_name:?} \
                     (dial the name it was issued for, or set a server name)"
                ),
                CertificateError::Revoked => "the broker's certificate is revoked".to_owned(),
                _ => "the broker's certificate was refused".to_owned(),
            };
            format!("{hint}: {cert}")
        }
        E::AlertReceived(alert) => {
            let hint = match alert {
                rustls::AlertDescription::CertificateRequired
                | rustls::AlertDescription::HandshakeFailure
                | rustls::AlertDescription::BadCertificate
                | rustls::AlertDescription::UnknownCA => {
                    " (does the broker require a client certificate, or refuse this one?)"
                }
                _ => "",
            };
            format!("the broker refused the handshake with alert {alert:?}{hint}")
        }
        E::InvalidMessage(_)
        | E::InappropriateMessage { .. }
        | E::InappropriateHandshakeMessage { .. } => format!(
            "the peer does not speak TLS as expected ({err}); is this the broker's TLS port?"
        ),
        E::PeerIncompatible(_) => {
            format!("the broker shares no TLS version or cipher suite with this client: {err}")
        }
        other => other.to_string(),
    }
}

/// Accepts every certificate but still checks handshake signatures, so the
/// session is at least bound to the key the broker presented.
#[derive(Debug)]
struct SkipVerification(WebPkiSupportedAlgorithms);

impl ServerCertVerifier for SkipVerification {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.0)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.0)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.supported_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_names() {
        let name = |a: &str| host_name(&BrokerAddr::new(a)).map(|n| n.to_str().into_owned());
        assert_eq!(name("kafka-1:9093").unwrap(), "kafka-1");
        assert_eq!(name("127.0.0.1:9093").unwrap(), "127.0.0.1");
        assert_eq!(name("[::1]:9093").unwrap(), "::1");
        assert_eq!(name("localhost").unwrap(), "localhost");
        assert!(matches!(
            host_name(&BrokerAddr::new("bad name!:9093")),
            Err(Error::Tls { .. })
        ));
    }

    #[test]
    fn bad_pem_names_the_file() {
        let err = TlsConfig::builder()
            .ca_file("/nonexistent/ca.pem")
            .build()
            .unwrap_err();
        assert_eq!(err.input(), "CA file /nonexistent/ca.pem");
        assert!(err.reason().starts_with("cannot be read"), "{err}");

        let err = TlsConfig::builder()
            .ca_pem("not pem at all")
            .build()
            .unwrap_err();
        assert_eq!(err.input(), "CA PEM #1");
        assert!(err.reason().contains("no CERTIFICATE"), "{err}");

        let err = TlsConfig::builder()
            .ca_pem("-----BEGIN CERTIFICATE-----\n!!!!\n-----END CERTIFICATE-----\n")
            .build()
            .unwrap_err();
        assert!(err.reason().contains("not valid PEM"), "{err}");

        let err = TlsConfig::builder()
            .client_cert_pem("x", "y")
            .build()
            .unwrap_err();
        assert_eq!(err.input(), "client certificate PEM");
    }

    #[test]
    fn env_values() {
        let vars = |pairs: &'static [(&'static str, &'static str)]| {
            move |name: &str| {
                pairs
                    .iter()
                    .find(|(k, _)| *k == name)
                    .map(|(_, v)| (*v).to_owned())
            }
        };
        assert!(TlsConfig::from_env_with(vars(&[])).unwrap().is_none());
        assert!(
            TlsConfig::from_env_with(vars(&[("KAFKA_SEC_PROTO", "PLAINTEXT")]))
                .unwrap()
                .is_none()
        );
        let on = TlsConfig::from_env_with(vars(&[("KAFKA_SEC_PROTO", "tls")]))
            .unwrap()
            .unwrap();
        assert!(!on.skips_verification());
        assert!(!on.has_client_cert());

        let err = TlsConfig::from_env_with(vars(&[("KAFKA_SEC_PROTO", "QUIC")])).unwrap_err();
        assert_eq!(err.input(), "KAFKA_SEC_PROTO");
        let err = TlsConfig::from_env_with(vars(&[
            ("KAFKA_SEC_PROTO", "TLS"),
            ("KAFKA_SEC_SKIP_VERIFY", "maybe"),
        ]))
        .unwrap_err();
        assert_eq!(err.input(), "KAFKA_SEC_SKIP_VERIFY");
        let err = TlsConfig::from_env_with(vars(&[
            ("KAFKA_SEC_PROTO", "TLS"),
            ("KAFKA_SEC_CLIENT_CERT", "/c.pem"),
        ]))
        .unwrap_err();
        assert_eq!(err.input(), "KAFKA_SEC_CLIENT_KEY");
        let err = TlsConfig::from_env_with(vars(&[
            ("KAFKA_SEC_PROTO", "TLS"),
            ("KAFKA_SEC_CA_CERTS", "/nonexistent/ca.pem"),
        ]))
        .unwrap_err();
        assert_eq!(err.input(), "KAFKA_SEC_CA_CERTS /nonexistent/ca.pem");
        let err = TlsConfig::from_env_with(vars(&[
            ("KAFKA_SEC_PROTO", "TLS"),
            ("KAFKA_SEC_CA_CERTS", "-----BEGIN CERTIFICATE-----\nxx"),
        ]))
        .unwrap_err();
        assert_eq!(err.input(), "PEM in KAFKA_SEC_CA_CERTS");
    }

    #[test]
    fn debug_shows_no_key_material() {
        let b = TlsConfig::builder().client_cert_pem("CERT-TEXT", "SECRET-KEY-TEXT");
        let shown = format!("{b:?}");
        assert!(!shown.contains("SECRET-KEY-TEXT"), "{shown}");
    }
}
