//! The one error type of the crate.

use gregor_protocol::{ApiKey, ErrorCode};

use crate::request::Failure;

/// A `Result` with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong in group coordination.
///
/// Errors from the coordinator keep the Kafka [`ErrorCode`] and the API that
/// returned it; [`Error::is_retriable`] says whether trying again (after the
/// state machine's own recovery, such as a rejoin) can help, so callers do
/// not decide that again at every call site.
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum Error {
    /// The configuration is inconsistent (checked by
    /// [`GroupConfigBuilder::build`](crate::GroupConfigBuilder::build)).
    #[error("invalid group configuration: {reason}")]
    Config {
        /// What is wrong.
        reason: String,
    },

    /// The coordinator answered a request with an error code.
    #[error("{api} failed: {} ({})", code.name(), code.description())]
    Kafka {
        /// The request that failed.
        api: ApiKey,
        /// The code the coordinator returned.
        code: ErrorCode,
    },

    /// A commit or offset fetch failed for one partition.
    #[error("{api} failed for {topic}-{partition}: {}", code.name())]
    Partition {
        /// The request that failed.
        api: ApiKey,
        /// The topic.
        topic: String,
        /// The partition.
        partition: i32,
        /// The code the coordinator returned for this partition.
        code: ErrorCode,
    },

    /// A request could not be completed by the transport (see [`Failure`]).
    #[error("{api} request failed: {failure}")]
    Transport {
        /// The request that failed.
        api: ApiKey,
        /// How it failed.
        failure: Failure,
    },

    /// Subscription or assignment bytes could not be encoded or decoded.
    #[error("consumer protocol bytes: {0}")]
    Protocol(#[from] gregor_protocol::Error),

    /// A request cannot be expressed at the negotiated version, e.g. static
    /// membership needs JoinGroup v5 or later.
    #[error("{api} v{version} cannot carry this request: {reason}")]
    UnsupportedVersion {
        /// The API.
        api: ApiKey,
        /// The negotiated version.
        version: i16,
        /// What the version lacks.
        reason: &'static str,
    },

    /// The coordinator chose a protocol this member did not offer, or
    /// answered with an inconsistent protocol.
    #[error("inconsistent group protocol: {reason}")]
    InconsistentProtocol {
        /// What was inconsistent.
        reason: String,
    },

    /// An assignor failed.
    #[error("assignor {assignor} failed: {reason}")]
    Assignor {
        /// The assignor's protocol name.
        assignor: String,
        /// Why.
        reason: String,
    },

    /// Another process joined with this member's `group.instance.id`
    /// (KIP-345). Fatal for this member.
    #[error("group instance id {group_instance_id} was fenced by another member")]
    Fenced {
        /// The instance id that was taken over.
        group_instance_id: String,
    },

    /// No heartbeat succeeded within the session timeout: the coordinator
    /// has most likely removed this member, so its partitions were
    /// reported lost and it rejoins.
    #[error("no successful heartbeat within the session timeout of {session_timeout:?}")]
    SessionExpired {
        /// The session timeout.
        session_timeout: std::time::Duration,
    },

    /// The member is not in a stable generation, so offsets cannot be
    /// committed now; commit again once the rebalance completes.
    #[error("the group is rebalancing; commit after the rebalance completes")]
    RebalanceInProgress,

    /// The member is not part of a group generation (not subscribed, still
    /// joining, or fenced).
    #[error("not a member of a group generation")]
    NotMember,

    /// The partition is not assigned to this member (never assigned, or
    /// revoked or lost since), so this member must not commit it.
    #[error("{topic}-{partition} is not assigned to this member")]
    NotAssigned {
        /// The topic.
        topic: String,
        /// The partition.
        partition: i32,
    },

    /// The member has failed fatally or left; it sends nothing more.
    #[error("the group member has stopped: {reason}")]
    Stopped {
        /// Why it stopped.
        reason: String,
    },
}

impl Error {
    /// Whether trying the same operation again can succeed.
    ///
    /// Transport failures and retriable Kafka codes are; so is
    /// [`Error::RebalanceInProgress`] (commit again after the rebalance).
    /// Configuration, protocol, fencing and authorization errors are not.
    pub fn is_retriable(&self) -> bool {
        match self {
            Error::Kafka { code, .. } | Error::Partition { code, .. } => {
                code.is_retriable() || *code == ErrorCode::RebalanceInProgress
            }
            Error::Transport { .. } | Error::RebalanceInProgress | Error::SessionExpired { .. } => {
                true
            }
            Error::Config { .. }
            | Error::Protocol(_)
            | Error::UnsupportedVersion { .. }
            | Error::InconsistentProtocol { .. }
            | Error::Assignor { .. }
            | Error::Fenced { .. }
            | Error::NotMember
            | Error::NotAssigned { .. }
            | Error::Stopped { .. } => false,
        }
    }

    /// The Kafka error code, if the coordinator returned one.
    pub fn code(&self) -> Option<ErrorCode> {
        match self {
            Error::Kafka { code, .. } | Error::Partition { code, .. } => Some(*code),
            _ => None,
        }
    }

    pub(crate) fn kafka(api: ApiKey, code: ErrorCode) -> Self {
        Error::Kafka { api, code }
    }

    pub(crate) fn assignor(assignor: &str, reason: impl Into<String>) -> Self {
        Error::Assignor {
            assignor: assignor.to_owned(),
            reason: reason.into(),
        }
    }
}
