//! OAUTHBEARER (RFC 7628 as Kafka uses it, KIP-255 and KIP-342): tokens
//! come from an [`OAuthTokenProvider`]; the client's only message is the
//! GS2 header plus `auth=Bearer <token>` and the SASL extensions.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;

use async_trait::async_trait;

/// The key/value separator of the OAUTHBEARER message (`%x01`).
const SEP: char = '\u{1}';

/// A bearer token and the SASL extensions (KIP-342) sent with it.
///
/// `Debug` shows the extensions' keys only, never the token.
///
/// ```
/// use gregor_net::OAuthToken;
///
/// let token = OAuthToken::new("eyJhbGciOi...").with_extension("traceId", "abc123");
/// assert_eq!(token.extensions().get("traceId").map(String::as_str), Some("abc123"));
/// assert!(!format!("{token:?}").contains("eyJ"));
/// ```
#[derive(Clone, PartialEq, Eq)]
pub struct OAuthToken {
    value: String,
    extensions: BTreeMap<String, String>,
}

impl OAuthToken {
    /// A token with no extensions.
    pub fn new(value: impl Into<String>) -> Self {
        Self {
            value: value.into(),
            extensions: BTreeMap::new(),
        }
    }

    /// Adds a SASL extension. Keys are letters only and not `auth`; values
    /// printable ASCII (plus space, tab, CR, LF). Checked when the token is
    /// sent, which fails the authentication if either is not.
    #[must_use]
    pub fn with_extension(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.extensions.insert(key.into(), value.into());
        self
    }

    /// The token itself.
    pub fn value(&self) -> &str {
        &self.value
    }

    /// The extensions, sorted by key (the order they are sent in).
    pub fn extensions(&self) -> &BTreeMap<String, String> {
        &self.extensions
    }

    /// The client's initial response:
    /// `n,,\x01auth=Bearer <token>\x01[key=value\x01]...\x01`.
    pub(crate) fn initial_response(&self) -> Result<Vec<u8>, String> {
        if self.value.is_empty() || !self.value.bytes().all(|b| (0x21..=0x7e).contains(&b)) {
            return Err(
                "the OAuth token is empty or has characters other than printable ASCII".to_owned(),
            );
        }
        let mut msg = format!("n,,{SEP}auth=Bearer {}", self.value);
        for (key, value) in &self.extensions {
            if key.is_empty() || !key.bytes().all(|b| b.is_ascii_alphabetic()) || key == "auth" {
                return Err(format!(
                    "the SASL extension key {key:?} is not allowed: keys are letters only, and \
                     not \"auth\""
                ));
            }
            if value.is_empty()
                || !value.bytes().all(|b| {
                    (0x21..=0x7e).contains(&b) || matches!(b, b' ' | b'\t' | b'\r' | b'\n')
                })
            {
                return Err(format!(
                    "the value of SASL extension {key:?} is empty or not printable ASCII"
                ));
            }
            msg.push(SEP);
            msg.push_str(key);
            msg.push('=');
            msg.push_str(value);
        }
        msg.push(SEP);
        msg.push(SEP);
        Ok(msg.into_bytes())
    }
}

impl fmt::Debug for OAuthToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OAuthToken")
            .field("value", &"<redacted>")
            .field("extensions", &self.extensions.keys().collect::<Vec<_>>())
            .finish()
    }
}

/// Where OAUTHBEARER gets its tokens: asked once per authentication and
/// re-authentication, so an implementation that caches and refreshes a
/// token (from an identity provider, a file a sidecar rewrites) hands out
/// fresh ones as the broker's sessions expire.
///
/// ```
/// use async_trait::async_trait;
/// use gregor_net::{OAuthToken, OAuthTokenProvider, SaslConfig, TokenError};
///
/// #[derive(Debug)]
/// struct FromFile(std::path::PathBuf);
///
/// #[async_trait]
/// impl OAuthTokenProvider for FromFile {
///     async fn token(&self) -> Result<OAuthToken, TokenError> {
///         let text = std::fs::read_to_string(&self.0)
///             .map_err(|e| TokenError::with_source("cannot read the token file", e))?;
///         Ok(OAuthToken::new(text.trim()))
///     }
/// }
///
/// let sasl = SaslConfig::oauth_bearer(FromFile("/run/secrets/kafka-token".into()));
/// ```
#[async_trait]
pub trait OAuthTokenProvider: Send + Sync {
    /// A token to authenticate with now.
    ///
    /// # Errors
    ///
    /// A [`TokenError`] when no token can be had; the authentication fails
    /// with [`Error::Authentication`](crate::Error::Authentication) naming
    /// it.
    async fn token(&self) -> Result<OAuthToken, TokenError>;
}

/// Hands out the same token every time.
#[derive(Debug, Clone)]
pub struct StaticTokenProvider {
    token: OAuthToken,
}

impl StaticTokenProvider {
    /// A provider of `token`.
    pub fn new(token: OAuthToken) -> Self {
        Self { token }
    }
}

#[async_trait]
impl OAuthTokenProvider for StaticTokenProvider {
    async fn token(&self) -> Result<OAuthToken, TokenError> {
        Ok(self.token.clone())
    }
}

/// Why an [`OAuthTokenProvider`] has no token.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{message}")]
pub struct TokenError {
    message: String,
    #[source]
    source: Option<Arc<dyn std::error::Error + Send + Sync>>,
}

impl TokenError {
    /// An error with a message only.
    pub fn new(message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
            source: None,
        }
    }

    /// An error with a message and the error that caused it.
    pub fn with_source(
        message: impl Into<String>,
        source: impl std::error::Error + Send + Sync + 'static,
    ) -> Self {
        Self {
            message: message.into(),
            source: Some(Arc::new(source)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn initial_response_bytes() {
        let token = OAuthToken::new("tok.en-1");
        assert_eq!(
            token.initial_response().unwrap(),
            b"n,,\x01auth=Bearer tok.en-1\x01\x01"
        );
        let token = token
            .with_extension("traceId", "t 1")
            .with_extension("a", "b");
        assert_eq!(
            token.initial_response().unwrap(),
            b"n,,\x01auth=Bearer tok.en-1\x01a=b\x01traceId=t 1\x01\x01"
        );
    }

    #[test]
    fn bad_tokens_and_extensions_are_refused() {
        assert!(OAuthToken::new("").initial_response().is_err());
        assert!(OAuthToken::new("a b").initial_response().is_err());
        assert!(OAuthToken::new("a\u{1}b").initial_response().is_err());
        let bad_key = OAuthToken::new("t").with_extension("auth", "x");
        assert!(bad_key.initial_response().is_err());
        let bad_key = OAuthToken::new("t").with_extension("k1", "x");
        assert!(bad_key.initial_response().is_err());
        let bad_value = OAuthToken::new("t").with_extension("k", "\u{1}");
        assert!(bad_value.initial_response().is_err());
    }
}
