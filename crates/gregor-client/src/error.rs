//! The one error type of the client layer.

use std::time::Duration;

/// Everything a producer, consumer or admin operation can fail with.
///
/// Errors from a broker name the topic and partition they concern;
/// [`Error::is_retriable`] says whether trying again can help.
#[non_exhaustive]
#[derive(Debug, Clone, thiserror::Error)]
pub enum Error {
    /// A configuration was refused when it was built; names the field.
    #[error("invalid configuration: {field}: {reason}")]
    Config {
        /// The offending field, e.g. `acks` or `linger`.
        field: &'static str,
        /// Why it was refused.
        reason: String,
    },
    /// The network layer failed (connection, broker error code, metadata).
    #[error(transparent)]
    Net(#[from] gregor_net::Error),
    /// Bytes could not be encoded or decoded.
    #[error(transparent)]
    Protocol(#[from] gregor_protocol::Error),
    /// An operation did not finish in time.
    #[error("{operation} timed out after {after:?}")]
    Timeout {
        /// What timed out.
        operation: &'static str,
        /// The limit that ran out.
        after: Duration,
    },
    /// The client was closed before or while the operation ran.
    #[error("the {0} is closed")]
    Closed(&'static str),
}

impl Error {
    /// Whether retrying the same operation can succeed.
    pub fn is_retriable(&self) -> bool {
        match self {
            Error::Net(e) => e.is_retriable(),
            Error::Timeout { .. } => true,
            Error::Config { .. } | Error::Protocol(_) | Error::Closed(_) => false,
        }
    }

    /// A configuration error for `field`.
    pub fn config(field: &'static str, reason: impl Into<String>) -> Self {
        Error::Config {
            field,
            reason: reason.into(),
        }
    }
}

/// The client layer's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;
