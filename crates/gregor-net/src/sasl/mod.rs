//! SASL authentication for broker connections: PLAIN, SCRAM-SHA-256,
//! SCRAM-SHA-512 and OAUTHBEARER, with KIP-368 re-authentication.
//!
//! Give a [`SaslConfig`] to a [`Connector`](crate::Connector). After the
//! ApiVersions handshake every connection sends `SaslHandshake` (v1) naming
//! the mechanism, then as many `SaslAuthenticate` rounds as the mechanism
//! needs (KIP-152 framing), before the connection is handed out. With TLS
//! configured too this is `SASL_SSL`; without, `SASL_PLAINTEXT`.
//!
//! ```no_run
//! use gregor_net::{Connector, ConnectionConfig, SaslConfig};
//!
//! # async fn demo() -> Result<(), gregor_net::Error> {
//! let connector = Connector::new(ConnectionConfig::default())
//!     .with_sasl(SaslConfig::scram_sha512("alice", "alice-secret"));
//! let conn = connector.connect("kafka-1:9092").await?;
//! # Ok(())
//! # }
//! ```
//!
//! # Failures
//!
//! A broker that refuses the credentials gives one
//! [`Error::Authentication`](crate::Error::Authentication) carrying the
//! broker's own message; it is not retriable, so callers that retry on
//! [`Error::is_retriable`](crate::Error::is_retriable) do not hammer the
//! broker with a wrong password. A broker that does not enable the
//! mechanism gives
//! [`Error::UnsupportedSaslMechanism`](crate::Error::UnsupportedSaslMechanism)
//! listing the ones it does.
//!
//! # Re-authentication (KIP-368)
//!
//! When the broker's final `SaslAuthenticate` response carries a session
//! lifetime (`connections.max.reauth.ms` on the broker), the connection
//! schedules re-authentication at a random point between 85% and 95% of it,
//! as the Java client does, and re-authenticates on the same connection
//! when the first request after that point is written; an idle connection
//! does not re-authenticate, and need not: a broker only closes an expired
//! session when it receives a request other than re-authentication on it.
//!
//! Re-authentication runs below the pipelined connection, inside the
//! stream, like the Java client's channel-level authenticator:
//!
//! - It starts only between two request frames, and no other request is
//!   written until it is done: the request that triggered it, and any sent
//!   meanwhile, wait (their request timeouts keep running).
//! - Requests already in flight are unaffected: their responses arrive
//!   during re-authentication and are passed on in order. The SASL
//!   requests carry correlation ids far from the connection's own, and
//!   their responses are recognised by id and taken out of the stream, so
//!   the connection never sees them.
//! - If re-authentication fails (the broker refuses a rotated password, the
//!   token provider fails), the connection fails with an
//!   [`Error::Io`](crate::Error::Io) whose message names the
//!   authentication error, like any other broken connection: the next
//!   connection then fails its initial authentication with the
//!   non-retriable error.

mod exchange;
mod mechanism;
mod oauth;
pub(crate) mod reauth;
mod scram;

use std::fmt;
use std::sync::{Arc, Mutex};

pub(crate) use self::exchange::authenticate;
use self::mechanism::Session;
pub use self::oauth::{OAuthToken, OAuthTokenProvider, StaticTokenProvider, TokenError};

/// A SASL mechanism this client speaks.
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SaslMechanism {
    /// `PLAIN` (RFC 4616): the password in the clear, so only over TLS.
    Plain,
    /// `SCRAM-SHA-256` (RFC 5802, RFC 7677).
    ScramSha256,
    /// `SCRAM-SHA-512`.
    ScramSha512,
    /// `OAUTHBEARER` (RFC 7628, KIP-255) with a token from an
    /// [`OAuthTokenProvider`].
    OAuthBearer,
}

impl SaslMechanism {
    /// The mechanism's name as brokers know it, e.g. `SCRAM-SHA-512`.
    pub fn name(self) -> &'static str {
        match self {
            SaslMechanism::Plain => "PLAIN",
            SaslMechanism::ScramSha256 => "SCRAM-SHA-256",
            SaslMechanism::ScramSha512 => "SCRAM-SHA-512",
            SaslMechanism::OAuthBearer => "OAUTHBEARER",
        }
    }
}

impl fmt::Display for SaslMechanism {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Makes SCRAM client nonces; see [`SaslConfig::with_nonce_generator`].
type NonceFn = Arc<dyn Fn() -> String + Send + Sync>;

/// What a mechanism authenticates with.
#[derive(Clone)]
enum Credentials {
    Password { username: String, password: String },
    OAuth(Arc<dyn OAuthTokenProvider>),
}

/// SASL settings: a mechanism and its credentials.
///
/// Cheap to clone. `Debug` shows the mechanism and user name, never the
/// password or token, and nothing in this crate logs them.
///
/// ```
/// use gregor_net::{SaslConfig, SaslMechanism};
///
/// let sasl = SaslConfig::scram_sha256("alice", "s3cret");
/// assert_eq!(sasl.mechanism(), SaslMechanism::ScramSha256);
/// assert_eq!(sasl.username(), Some("alice"));
/// assert!(!format!("{sasl:?}").contains("s3cret"));
/// ```
#[derive(Clone)]
pub struct SaslConfig {
    mechanism: SaslMechanism,
    credentials: Credentials,
    nonce: Option<NonceFn>,
    /// SCRAM's salted password for the last (salt, iterations) seen, so
    /// re-authentication skips the deliberately slow PBKDF2 (RFC 5802
    /// allows clients to cache it).
    scram_cache: Arc<Mutex<Option<scram::Cached>>>,
}

impl SaslConfig {
    fn password(mechanism: SaslMechanism, username: String, password: String) -> Self {
        Self {
            mechanism,
            credentials: Credentials::Password { username, password },
            nonce: None,
            scram_cache: Arc::default(),
        }
    }

    /// `PLAIN` with a user name and password. The password crosses the
    /// wire as it is: use it over TLS only.
    pub fn plain(username: impl Into<String>, password: impl Into<String>) -> Self {
        Self::password(SaslMechanism::Plain, username.into(), password.into())
    }

    /// `SCRAM-SHA-256` with a user name and password.
    pub fn scram_sha256(username: impl Into<String>, password: impl Into<String>) -> Self {
        Self::password(SaslMechanism::ScramSha256, username.into(), password.into())
    }

    /// `SCRAM-SHA-512` with a user name and password.
    pub fn scram_sha512(username: impl Into<String>, password: impl Into<String>) -> Self {
        Self::password(SaslMechanism::ScramSha512, username.into(), password.into())
    }

    /// `OAUTHBEARER` with tokens from `provider`, asked for one at every
    /// authentication and re-authentication.
    pub fn oauth_bearer(provider: impl OAuthTokenProvider + 'static) -> Self {
        Self {
            mechanism: SaslMechanism::OAuthBearer,
            credentials: Credentials::OAuth(Arc::new(provider)),
            nonce: None,
            scram_cache: Arc::default(),
        }
    }

    /// `OAUTHBEARER` with one fixed token (a [`StaticTokenProvider`]).
    pub fn oauth_bearer_token(token: impl Into<String>) -> Self {
        Self::oauth_bearer(StaticTokenProvider::new(OAuthToken::new(token)))
    }

    /// Makes SCRAM's client nonce with `generate` instead of 24 random
    /// bytes, for tests that script a broker and check the exchange byte
    /// for byte against known values (RFC 7677's example, say).
    ///
    /// A nonce must be unique per authentication, printable ASCII and free
    /// of `,`; one that is not fails the authentication. Never use a fixed
    /// nonce against a real broker: SCRAM's replay protection rests on it.
    #[must_use]
    pub fn with_nonce_generator(
        mut self,
        generate: impl Fn() -> String + Send + Sync + 'static,
    ) -> Self {
        self.nonce = Some(Arc::new(generate));
        self
    }

    /// The mechanism.
    pub fn mechanism(&self) -> SaslMechanism {
        self.mechanism
    }

    /// The user name, for the password mechanisms.
    pub fn username(&self) -> Option<&str> {
        match &self.credentials {
            Credentials::Password { username, .. } => Some(username),
            Credentials::OAuth(_) => None,
        }
    }

    /// Starts one authentication: fetches a token for OAUTHBEARER, makes a
    /// nonce for SCRAM. The error is the message of an authentication
    /// failure.
    pub(crate) async fn session(&self) -> Result<Session, String> {
        match (&self.credentials, self.mechanism) {
            (Credentials::Password { username, password }, SaslMechanism::Plain) => {
                Session::plain(username, password)
            }
            (Credentials::Password { username, password }, mechanism) => {
                let hash = match mechanism {
                    SaslMechanism::ScramSha512 => scram::Hash::Sha512,
                    _ => scram::Hash::Sha256,
                };
                let nonce = match &self.nonce {
                    Some(generate) => generate(),
                    None => scram::random_nonce()?,
                };
                Session::scram(hash, username, password, nonce, self.scram_cache.clone())
            }
            (Credentials::OAuth(provider), _) => {
                let token = provider
                    .token()
                    .await
                    .map_err(|e| format!("the token provider failed: {e}"))?;
                Session::oauth(&token)
            }
        }
    }
}

impl fmt::Debug for SaslConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("SaslConfig");
        d.field("mechanism", &self.mechanism);
        match &self.credentials {
            Credentials::Password { username, .. } => d
                .field("username", username)
                .field("password", &"<redacted>"),
            Credentials::OAuth(_) => d.field("token_provider", &"<provider>"),
        };
        if self.nonce.is_some() {
            d.field("nonce", &"<fixed generator>");
        }
        d.finish()
    }
}
