//! What the state machine asks its driver to send, and what the driver
//! hands back.
//!
//! Requests are the generated Kafka messages, built in the shape of their
//! newest version. Three APIs changed shape between versions
//! (FindCoordinator v4, LeaveGroup v3, OffsetFetch v8), so a driver that
//! negotiates an older version calls [`Request::for_version`] before
//! sending; it also refuses requests an old version cannot carry (static
//! membership before JoinGroup v5, for instance).

use std::fmt;
use std::time::Duration;

use bytes::Bytes;
use gregor_protocol::messages::offset_fetch_request::OffsetFetchRequestTopic;
use gregor_protocol::messages::{
    FindCoordinatorRequest, FindCoordinatorResponse, HeartbeatRequest, HeartbeatResponse,
    JoinGroupRequest, JoinGroupResponse, LeaveGroupRequest, LeaveGroupResponse,
    OffsetCommitRequest, OffsetCommitResponse, OffsetFetchRequest, OffsetFetchResponse,
    SyncGroupRequest, SyncGroupResponse,
};
use gregor_protocol::{ApiKey, Message, StrBytes};

use crate::error::{Error, Result};

/// Identifies one request the machine emitted, so its response (or
/// failure) can be handed back with
/// [`handle_response`](crate::GroupMember::handle_response).
///
/// Responses to requests the machine has given up on (superseded by a
/// rejoin, timed out, or sent to a coordinator that has since moved) are
/// recognised by their id and ignored.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct RequestId(pub(crate) u64);

impl RequestId {
    /// The raw number, unique per member.
    pub fn as_u64(self) -> u64 {
        self.0
    }
}

impl fmt::Display for RequestId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "#{}", self.0)
    }
}

/// The group coordinator as FindCoordinator reported it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CoordinatorNode {
    /// The broker's node id.
    pub node_id: i32,
    /// Its host.
    pub host: String,
    /// Its port.
    pub port: i32,
}

/// Where a request must go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Destination {
    /// Any reachable broker (FindCoordinator): pick the least loaded one.
    AnyBroker,
    /// The group coordinator. Use a connection of its own, as the Java
    /// client does: a JoinGroup can wait for the whole rebalance timeout
    /// and must not block fetches behind it.
    Coordinator(CoordinatorNode),
}

/// A request to send.
#[derive(Debug, Clone, PartialEq)]
pub struct Outgoing {
    /// Hand this back with the response.
    pub id: RequestId,
    /// Where to send it.
    pub destination: Destination,
    /// The request.
    pub request: Request,
    /// How long the driver should wait for the response before reporting
    /// [`Failure::TimedOut`]. JoinGroup gets the rebalance timeout plus
    /// five seconds, everything else the configured request timeout. The
    /// machine gives up on the request at the same deadline by itself.
    pub timeout: Duration,
}

/// A request the group member wants sent.
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq)]
pub enum Request {
    /// Locate the group coordinator.
    FindCoordinator(FindCoordinatorRequest),
    /// Join (or rejoin) the group.
    JoinGroup(JoinGroupRequest),
    /// Send (leader) or collect (everyone) the assignment.
    SyncGroup(SyncGroupRequest),
    /// Stay in the group.
    Heartbeat(HeartbeatRequest),
    /// Leave the group.
    LeaveGroup(LeaveGroupRequest),
    /// Fetch committed offsets.
    OffsetFetch(OffsetFetchRequest),
    /// Commit offsets.
    OffsetCommit(OffsetCommitRequest),
}

impl Request {
    /// The API of this request.
    pub fn api_key(&self) -> ApiKey {
        match self {
            Request::FindCoordinator(_) => ApiKey::FindCoordinator,
            Request::JoinGroup(_) => ApiKey::JoinGroup,
            Request::SyncGroup(_) => ApiKey::SyncGroup,
            Request::Heartbeat(_) => ApiKey::Heartbeat,
            Request::LeaveGroup(_) => ApiKey::LeaveGroup,
            Request::OffsetFetch(_) => ApiKey::OffsetFetch,
            Request::OffsetCommit(_) => ApiKey::OffsetCommit,
        }
    }

    /// Reshapes the request for `version`, the version the driver
    /// negotiated with the broker.
    ///
    /// Moves the group id between the pre- and post-batching fields of
    /// FindCoordinator (v4), LeaveGroup (v3) and OffsetFetch (v8), and drops
    /// OffsetFetch's `require_stable` below v7, where brokers cannot honour
    /// it.
    ///
    /// # Errors
    ///
    /// [`Error::UnsupportedVersion`] when the version cannot carry the
    /// request: a `group.instance.id` needs JoinGroup v5, SyncGroup and
    /// Heartbeat v3, OffsetCommit v7 and LeaveGroup v3.
    pub fn for_version(self, version: i16) -> Result<Self> {
        let unsupported = |api, reason| Error::UnsupportedVersion {
            api,
            version,
            reason,
        };
        const STATIC: &str = "static membership (group.instance.id) needs a newer version";
        Ok(match self {
            Request::FindCoordinator(mut r) => {
                if version < 4 {
                    if let Some(key) = r.coordinator_keys.first().cloned() {
                        r.key = key;
                    }
                    r.coordinator_keys.clear();
                } else if r.coordinator_keys.is_empty() {
                    r.coordinator_keys.push(std::mem::take(&mut r.key));
                } else {
                    r.key = StrBytes::default();
                }
                Request::FindCoordinator(r)
            }
            Request::JoinGroup(r) => {
                if version < 5 && r.group_instance_id.is_some() {
                    return Err(unsupported(ApiKey::JoinGroup, STATIC));
                }
                Request::JoinGroup(r)
            }
            Request::SyncGroup(r) => {
                if version < 3 && r.group_instance_id.is_some() {
                    return Err(unsupported(ApiKey::SyncGroup, STATIC));
                }
                Request::SyncGroup(r)
            }
            Request::Heartbeat(r) => {
                if version < 3 && r.group_instance_id.is_some() {
                    return Err(unsupported(ApiKey::Heartbeat, STATIC));
                }
                Request::Heartbeat(r)
            }
            Request::LeaveGroup(mut r) => {
                if version < 3 {
                    if r.members.len() > 1 {
                        return Err(unsupported(
                            ApiKey::LeaveGroup,
                            "batched LeaveGroup needs v3",
                        ));
                    }
                    if let Some(m) = r.members.pop() {
                        if m.group_instance_id.is_some() {
                            return Err(unsupported(ApiKey::LeaveGroup, STATIC));
                        }
                        r.member_id = m.member_id;
                    }
                }
                Request::LeaveGroup(r)
            }
            Request::OffsetFetch(mut r) => {
                if version < 8 {
                    if let Some(g) = r.groups.pop() {
                        r.group_id = g.group_id;
                        r.topics = g.topics.map(|topics| {
                            topics
                                .into_iter()
                                .map(|t| {
                                    OffsetFetchRequestTopic::default()
                                        .with_name(t.name)
                                        .with_partition_indexes(t.partition_indexes)
                                })
                                .collect()
                        });
                    }
                    r.groups.clear();
                    if version < 7 {
                        r.require_stable = false;
                    }
                }
                Request::OffsetFetch(r)
            }
            Request::OffsetCommit(r) => {
                if version < 7 && r.group_instance_id.is_some() {
                    return Err(unsupported(ApiKey::OffsetCommit, STATIC));
                }
                Request::OffsetCommit(r)
            }
        })
    }

    /// Encodes the request body at `version` (after
    /// [`for_version`](Self::for_version)); framing and the request header
    /// are the driver's.
    ///
    /// # Errors
    ///
    /// [`Error::Protocol`] if a field cannot be encoded at `version`.
    pub fn encode(&self, version: i16) -> Result<Bytes> {
        Ok(match self {
            Request::FindCoordinator(r) => r.encode_to_bytes(version)?,
            Request::JoinGroup(r) => r.encode_to_bytes(version)?,
            Request::SyncGroup(r) => r.encode_to_bytes(version)?,
            Request::Heartbeat(r) => r.encode_to_bytes(version)?,
            Request::LeaveGroup(r) => r.encode_to_bytes(version)?,
            Request::OffsetFetch(r) => r.encode_to_bytes(version)?,
            Request::OffsetCommit(r) => r.encode_to_bytes(version)?,
        })
    }
}

/// What became of a request: the broker's typed response, or a transport
/// failure.
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq)]
pub enum Response {
    /// FindCoordinator's response.
    FindCoordinator(FindCoordinatorResponse),
    /// JoinGroup's response.
    JoinGroup(JoinGroupResponse),
    /// SyncGroup's response.
    SyncGroup(SyncGroupResponse),
    /// Heartbeat's response.
    Heartbeat(HeartbeatResponse),
    /// LeaveGroup's response.
    LeaveGroup(LeaveGroupResponse),
    /// OffsetFetch's response.
    OffsetFetch(OffsetFetchResponse),
    /// OffsetCommit's response.
    OffsetCommit(OffsetCommitResponse),
    /// No response: the connection failed, the request timed out, or it
    /// could not be sent. A disconnect from the coordinator makes the
    /// machine look the coordinator up again; partitions are kept while the
    /// session lasts.
    Failed(Failure),
}

impl Response {
    /// The API this response answers, if it is one.
    pub fn api_key(&self) -> Option<ApiKey> {
        Some(match self {
            Response::FindCoordinator(_) => ApiKey::FindCoordinator,
            Response::JoinGroup(_) => ApiKey::JoinGroup,
            Response::SyncGroup(_) => ApiKey::SyncGroup,
            Response::Heartbeat(_) => ApiKey::Heartbeat,
            Response::LeaveGroup(_) => ApiKey::LeaveGroup,
            Response::OffsetFetch(_) => ApiKey::OffsetFetch,
            Response::OffsetCommit(_) => ApiKey::OffsetCommit,
            Response::Failed(_) => return None,
        })
    }
}

/// Why a request got no response.
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Failure {
    /// The connection closed or could not be opened.
    Disconnected,
    /// No response within [`Outgoing::timeout`].
    TimedOut,
    /// The driver could not send it (no common version, encoding error).
    NotSent {
        /// Why.
        reason: String,
    },
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Failure::Disconnected => f.write_str("disconnected"),
            Failure::TimedOut => f.write_str("timed out"),
            Failure::NotSent { reason } => write!(f, "not sent: {reason}"),
        }
    }
}
