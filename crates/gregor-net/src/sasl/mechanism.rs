//! One authentication's client side, per mechanism, without I/O: the first
//! message, then what to answer each server message with.

use std::sync::{Arc, Mutex};

use super::oauth::OAuthToken;
use super::scram::{self, ScramClient};

/// What to do after a server message.
pub(crate) enum Step {
    /// Send these bytes in another `SaslAuthenticate`.
    Send(Vec<u8>),
    /// The client is satisfied; the broker's error code has the last word.
    Done,
}

/// One authentication in progress.
pub(crate) enum Session {
    /// `\0user\0password` (empty authorization id), one round.
    Plain { message: Option<Vec<u8>> },
    /// client-first, client-final, then the server signature is checked.
    Scram(Box<ScramClient>),
    /// The initial response; a non-empty server message after it is an
    /// error report (RFC 7628 section 3.2.2), acknowledged with `%x01` so
    /// the broker can fail the exchange with its error code.
    OAuth {
        message: Option<Vec<u8>>,
        error_report: Option<String>,
    },
}

impl Session {
    pub(crate) fn plain(username: &str, password: &str) -> Result<Self, String> {
        if username.contains('\0') || password.contains('\0') {
            return Err("PLAIN user names and passwords cannot contain NUL characters".to_owned());
        }
        let mut message = Vec::with_capacity(2 + username.len() + password.len());
        message.push(0);
        message.extend_from_slice(username.as_bytes());
        message.push(0);
        message.extend_from_slice(password.as_bytes());
        Ok(Session::Plain {
            message: Some(message),
        })
    }

    pub(crate) fn scram(
        hash: scram::Hash,
        username: &str,
        password: &str,
        nonce: String,
        cache: Arc<Mutex<Option<scram::Cached>>>,
    ) -> Result<Self, String> {
        ScramClient::new(hash, username, password, nonce, cache)
            .map(|c| Session::Scram(Box::new(c)))
    }

    pub(crate) fn oauth(token: &OAuthToken) -> Result<Self, String> {
        Ok(Session::OAuth {
            message: Some(token.initial_response()?),
            error_report: None,
        })
    }

    /// The first `SaslAuthenticate` payload.
    pub(crate) fn first(&mut self) -> Vec<u8> {
        match self {
            Session::Plain { message } | Session::OAuth { message, .. } => {
                message.take().unwrap_or_default()
            }
            Session::Scram(c) => c.client_first(),
        }
    }

    /// Handles the payload of a successful `SaslAuthenticate` response.
    pub(crate) fn on_server(&mut self, server: &[u8]) -> Result<Step, String> {
        match self {
            Session::Plain { .. } => Ok(Step::Done),
            Session::Scram(c) => Ok(match c.on_server(server)? {
                Some(next) => Step::Send(next),
                None => Step::Done,
            }),
            Session::OAuth { error_report, .. } => {
                if server.is_empty() {
                    return Ok(Step::Done);
                }
                if error_report.is_some() {
                    return Err("the broker sent a second OAUTHBEARER error report".to_owned());
                }
                *error_report = Some(String::from_utf8_lossy(server).into_owned());
                Ok(Step::Send(vec![0x01]))
            }
        }
    }

    /// Details the server gave before failing the exchange (OAUTHBEARER's
    /// JSON error report), to add to the broker's error message.
    pub(crate) fn error_detail(&self) -> Option<&str> {
        match self {
            Session::OAuth {
                error_report: Some(report),
                ..
            } => Some(report),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_message() {
        let mut s = Session::plain("alice", "pa ss").unwrap();
        assert_eq!(s.first(), b"\0alice\0pa ss");
        assert!(matches!(s.on_server(b""), Ok(Step::Done)));
        assert!(Session::plain("a\0", "p").is_err());
    }

    #[test]
    fn oauth_error_report_is_acknowledged() {
        let mut s = Session::oauth(&OAuthToken::new("t")).unwrap();
        assert_eq!(s.first(), b"n,,\x01auth=Bearer t\x01\x01");
        match s.on_server(br#"{"status":"invalid_token"}"#).unwrap() {
            Step::Send(b) => assert_eq!(b, [1]),
            Step::Done => panic!("an error report must be acknowledged"),
        }
        assert_eq!(s.error_detail(), Some(r#"{"status":"invalid_token"}"#));
    }
}
