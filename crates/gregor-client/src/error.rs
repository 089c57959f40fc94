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
    /// The broker does not offer an API (or the version of it a feature
    /// needs), e.g. CreatePartitions on a broker without it.
    #[error(
        "{api} is not supported by broker {broker}{}",
        .detail.as_ref().map_or(String::new(), |d| format!(": {d}"))
    )]
    NotSupported {
        /// The API.
        api: gregor_protocol::ApiKey,
        /// The broker that lacks it.
        broker: gregor_net::BrokerAddr,
        /// What was needed, when it is a version or feature of the API.
        detail: Option<String>,
    },
    /// A broker's response left out an item the request asked about.
    #[error("broker {broker} answered {api} without a result for {item}")]
    Incomplete {
        /// The API.
        api: gregor_protocol::ApiKey,
        /// The broker that answered.
        broker: gregor_net::BrokerAddr,
        /// The item left out, e.g. `topic orders`.
        item: String,
    },
    /// A record was not delivered; says whether it may have been written.
    #[error(transparent)]
    Produce(Box<crate::producer::ProduceError>),
    /// A consumer group operation failed: the group could not be joined,
    /// a commit was refused, the member was fenced. Names the group.
    #[error("consumer group {group:?}: {source}")]
    Group {
        /// The group id.
        group: String,
        /// What the group protocol reported.
        #[source]
        source: gregor_group::Error,
    },
    /// A partition has no committed offset and the offset reset policy is
    /// `none`: the consumer does not know where to start.
    #[error(
        "no committed offset for {topic}-{partition}{} and the offset reset policy is none",
        .group.as_ref().map_or(String::new(), |g| format!(" in group {g:?}"))
    )]
    NoOffset {
        /// The group, if the consumer has one.
        group: Option<String>,
        /// The topic.
        topic: String,
        /// The partition.
        partition: i32,
    },
    /// A position fell outside the log and the offset reset policy is
    /// `none`; seek to go on.
    #[error(
        "offset {offset} is out of range for {topic}-{partition} and the offset reset policy is none"
    )]
    OffsetOutOfRange {
        /// The topic.
        topic: String,
        /// The partition.
        partition: i32,
        /// The offset fetched.
        offset: i64,
    },
    /// A subscribed or assigned topic does not exist (it may still be
    /// created; the consumer keeps looking).
    #[error(
        "topic {topic:?} does not exist{}",
        .group.as_ref().map_or(String::new(), |g| format!(" (consumer group {g:?})"))
    )]
    UnknownTopic {
        /// The group, if the consumer has one.
        group: Option<String>,
        /// The topic.
        topic: String,
    },
    /// An operation that the client's state does not allow, e.g. seeking a
    /// partition that is not assigned.
    #[error("{operation}: {reason}")]
    IllegalState {
        /// The operation refused.
        operation: &'static str,
        /// Why.
        reason: String,
    },
}

impl Error {
    /// Whether retrying the same operation can succeed.
    pub fn is_retriable(&self) -> bool {
        match self {
            Error::Net(e) => e.is_retriable(),
            Error::Timeout { .. } => true,
            Error::Config { .. } | Error::Protocol(_) | Error::Closed(_) => false,
            Error::NotSupported { .. } | Error::Incomplete { .. } => false,
            Error::Produce(e) => e.is_retriable(),
            Error::Group { source, .. } => source.is_retriable(),
            Error::UnknownTopic { .. } => true,
            Error::NoOffset { .. } | Error::OffsetOutOfRange { .. } => false,
            Error::IllegalState { .. } => false,
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

impl From<crate::producer::ProduceError> for Error {
    fn from(e: crate::producer::ProduceError) -> Self {
        Error::Produce(Box::new(e))
    }
}
