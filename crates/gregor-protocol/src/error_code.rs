//! Kafka error codes.
//!
//! Every response carries `int16` error codes; this module turns them into
//! [`ErrorCode`], which knows each code's Java constant name, a short
//! description and whether the Java client treats it as retriable.
//!
//! The table follows Apache Kafka's
//! `clients/src/main/java/org/apache/kafka/common/protocol/Errors.java`
//! (codes -1 through 133). "Retriable" means the Java exception class for the
//! code extends `RetriableException` (directly or through
//! `InvalidMetadataException`), which is what the broker documentation's
//! error table reports. The descriptions are written for this crate rather
//! than copied from the Java messages.

use std::fmt;

/// Declares the error table once and derives the enum and every lookup from
/// it, so a code, its name, its description and its retriable flag can never
/// drift apart.
macro_rules! error_codes {
    ($(
        $(#[$meta:meta])*
        $variant:ident = $code:literal, $name:literal, $retriable:literal, $desc:literal;
    )*) => {
        /// A Kafka protocol error code.
        ///
        /// The enum is `#[non_exhaustive]` because brokers keep adding codes:
        /// a code this build does not know decodes to [`ErrorCode::Unknown`]
        /// instead of failing, and keeps its numeric value so it can be
        /// logged or re-encoded unchanged.
        ///
        /// Build values with [`ErrorCode::from_code`]: it never returns
        /// `Unknown` for a code that has a named variant, so comparing two
        /// decoded codes with `==` is the same as comparing their numbers.
        #[non_exhaustive]
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum ErrorCode {
            $(
                $(#[$meta])*
                #[doc = $desc]
                $variant,
            )*
            /// A code this build does not know, newer than its table.
            ///
            /// Treated like the Java client treats unknown codes: an error,
            /// and not retriable.
            Unknown(i16),
        }

        impl ErrorCode {
            /// Every named code, in ascending numeric order (without
            /// [`ErrorCode::Unknown`]). Handy for docs, metrics labels and
            /// exhaustive tests.
            pub const ALL: &'static [ErrorCode] = &[$(ErrorCode::$variant,)*];

            /// The error for a wire code; codes not in the table become
            /// [`ErrorCode::Unknown`], so decoding a response never fails
            /// because a broker is newer than this client.
            pub const fn from_code(code: i16) -> Self {
                match code {
                    $($code => ErrorCode::$variant,)*
                    other => ErrorCode::Unknown(other),
                }
            }

            /// The wire code; `from_code(c).code() == c` for every `i16`.
            pub const fn code(self) -> i16 {
                match self {
                    $(ErrorCode::$variant => $code,)*
                    ErrorCode::Unknown(code) => code,
                }
            }

            /// The Java constant name (`UNKNOWN_TOPIC_OR_PARTITION`), which
            /// is what broker logs and Kafka's documentation use, so it is
            /// the string to grep for. Unknown codes are `UNKNOWN_ERROR_CODE`.
            pub const fn name(self) -> &'static str {
                match self {
                    $(ErrorCode::$variant => $name,)*
                    ErrorCode::Unknown(_) => "UNKNOWN_ERROR_CODE",
                }
            }

            /// A one-line human explanation, for error messages.
            pub const fn description(self) -> &'static str {
                match self {
                    $(ErrorCode::$variant => $desc,)*
                    ErrorCode::Unknown(_) => {
                        "The broker returned an error code this client does not know; it is newer than this client."
                    }
                }
            }

            /// Whether the Java client would retry the failed operation on
            /// its own (after refreshing metadata where that applies).
            ///
            /// Retry loops in the higher crates key off this flag, so it
            /// mirrors Java's `RetriableException` hierarchy exactly rather
            /// than anyone's opinion of what is transient.
            pub const fn is_retriable(self) -> bool {
                match self {
                    $(ErrorCode::$variant => $retriable,)*
                    ErrorCode::Unknown(_) => false,
                }
            }
        }
    };
}

error_codes! {
    UnknownServerError = -1, "UNKNOWN_SERVER_ERROR", false,
        "The broker hit an unexpected error while handling the request.";
    None = 0, "NONE", false,
        "No error.";
    OffsetOutOfRange = 1, "OFFSET_OUT_OF_RANGE", false,
        "The requested offset is outside the range of offsets the broker holds for the partition.";
    CorruptMessage = 2, "CORRUPT_MESSAGE", true,
        "A message failed its CRC check, exceeds the valid size, has a null key on a compacted topic, or is otherwise corrupt.";
    UnknownTopicOrPartition = 3, "UNKNOWN_TOPIC_OR_PARTITION", true,
        "This broker does not host the topic-partition.";
    InvalidFetchSize = 4, "INVALID_FETCH_SIZE", false,
        "The requested fetch size is invalid.";
    LeaderNotAvailable = 5, "LEADER_NOT_AVAILABLE", true,
        "The partition has no leader right now, usually because a leader election is under way.";
    NotLeaderOrFollower = 6, "NOT_LEADER_OR_FOLLOWER", true,
        "This broker is not the partition's leader (or, for replica requests, not one of its replicas).";
    RequestTimedOut = 7, "REQUEST_TIMED_OUT", true,
        "The request timed out on the broker.";
    BrokerNotAvailable = 8, "BROKER_NOT_AVAILABLE", false,
        "The broker is not available.";
    ReplicaNotAvailable = 9, "REPLICA_NOT_AVAILABLE", true,
        "The replica is not available for the requested topic-partition.";
    MessageTooLarge = 10, "MESSAGE_TOO_LARGE", false,
        "A message is larger than the broker's maximum message size.";
    StaleControllerEpoch = 11, "STALE_CONTROLLER_EPOCH", false,
        "The controller has moved to another broker.";
    OffsetMetadataTooLarge = 12, "OFFSET_METADATA_TOO_LARGE", false,
        "The metadata string of an offset commit is too large.";
    NetworkException = 13, "NETWORK_EXCEPTION", true,
        "The broker disconnected before a response was received.";
    CoordinatorLoadInProgress = 14, "COORDINATOR_LOAD_IN_PROGRESS", true,
        "The coordinator is still loading its state and cannot serve requests yet.";
    CoordinatorNotAvailable = 15, "COORDINATOR_NOT_AVAILABLE", true,
        "The coordinator is not available.";
    NotCoordinator = 16, "NOT_COORDINATOR", true,
        "This broker is not the coordinator for the group or transactional id.";
    InvalidTopicException = 17, "INVALID_TOPIC_EXCEPTION", false,
        "The operation targets an invalid topic (a bad name, or an internal topic that may not be written).";
    RecordListTooLarge = 18, "RECORD_LIST_TOO_LARGE", false,
        "A record batch is larger than the broker's configured segment size.";
    NotEnoughReplicas = 19, "NOT_ENOUGH_REPLICAS", true,
        "Rejected: fewer in-sync replicas than min.insync.replicas.";
    NotEnoughReplicasAfterAppend = 20, "NOT_ENOUGH_REPLICAS_AFTER_APPEND", true,
        "Written to the leader's log, but fewer in-sync replicas than required acknowledged it.";
    InvalidRequiredAcks = 21, "INVALID_REQUIRED_ACKS", false,
        "The produce request has an invalid acks value.";
    IllegalGeneration = 22, "ILLEGAL_GENERATION", false,
        "The group generation id is not valid.";
    InconsistentGroupProtocol = 23, "INCONSISTENT_GROUP_PROTOCOL", false,
        "The member's protocols do not match the group's, or its protocol type or list is empty.";
    InvalidGroupId = 24, "INVALID_GROUP_ID", false,
        "The group id is invalid.";
    UnknownMemberId = 25, "UNKNOWN_MEMBER_ID", false,
        "The coordinator does not know this member id.";
    InvalidSessionTimeout = 26, "INVALID_SESSION_TIMEOUT", false,
        "The session timeout is outside the broker's group.min/max.session.timeout.ms range.";
    RebalanceInProgress = 27, "REBALANCE_IN_PROGRESS", false,
        "The group is rebalancing, so the member must rejoin.";
    InvalidCommitOffsetSize = 28, "INVALID_COMMIT_OFFSET_SIZE", false,
        "The size of the committed offset data is invalid.";
    TopicAuthorizationFailed = 29, "TOPIC_AUTHORIZATION_FAILED", false,
        "Not authorized to access the topic.";
    GroupAuthorizationFailed = 30, "GROUP_AUTHORIZATION_FAILED", false,
        "Not authorized to access the group.";
    ClusterAuthorizationFailed = 31, "CLUSTER_AUTHORIZATION_FAILED", false,
        "Not authorized for this cluster-level operation.";
    InvalidTimestamp = 32, "INVALID_TIMESTAMP", false,
        "A message timestamp is outside the acceptable range.";
    UnsupportedSaslMechanism = 33, "UNSUPPORTED_SASL_MECHANISM", false,
        "The broker does not support the requested SASL mechanism.";
    IllegalSaslState = 34, "ILLEGAL_SASL_STATE", false,
        "The request is not valid in the current SASL state.";
    UnsupportedVersion = 35, "UNSUPPORTED_VERSION", false,
        "The broker does not support this version of the API.";
    TopicAlreadyExists = 36, "TOPIC_ALREADY_EXISTS", false,
        "A topic with this name already exists.";
    InvalidPartitions = 37, "INVALID_PARTITIONS", false,
        "The number of partitions is invalid.";
    InvalidReplicationFactor = 38, "INVALID_REPLICATION_FACTOR", false,
        "The replication factor is below 1 or above the number of available brokers.";
    InvalidReplicaAssignment = 39, "INVALID_REPLICA_ASSIGNMENT", false,
        "The replica assignment is invalid.";
    InvalidConfig = 40, "INVALID_CONFIG", false,
        "The configuration is invalid.";
    NotController = 41, "NOT_CONTROLLER", true,
        "This broker is not the cluster's active controller.";
    InvalidRequest = 42, "INVALID_REQUEST", false,
        "The broker could not make sense of the request: a malformed request or an incompatible broker (see the broker logs).";
    UnsupportedForMessageFormat = 43, "UNSUPPORTED_FOR_MESSAGE_FORMAT", false,
        "The topic's message format version does not support the request.";
    PolicyViolation = 44, "POLICY_VIOLATION", false,
        "The request violates a policy configured on the broker.";
    OutOfOrderSequenceNumber = 45, "OUT_OF_ORDER_SEQUENCE_NUMBER", false,
        "The broker received a producer sequence number out of order.";
    DuplicateSequenceNumber = 46, "DUPLICATE_SEQUENCE_NUMBER", false,
        "The broker received a duplicate producer sequence number.";
    InvalidProducerEpoch = 47, "INVALID_PRODUCER_EPOCH", false,
        "The producer used an epoch older than the current one.";
    InvalidTxnState = 48, "INVALID_TXN_STATE", false,
        "The transactional operation is not valid in the transaction's current state.";
    InvalidProducerIdMapping = 49, "INVALID_PRODUCER_ID_MAPPING", false,
        "The producer id is not the one currently assigned to this transactional id.";
    InvalidTransactionTimeout = 50, "INVALID_TRANSACTION_TIMEOUT", false,
        "The transaction timeout exceeds the broker's transaction.max.timeout.ms.";
    ConcurrentTransactions = 51, "CONCURRENT_TRANSACTIONS", true,
        "Another operation on the same transaction is still in progress.";
    TransactionCoordinatorFenced = 52, "TRANSACTION_COORDINATOR_FENCED", false,
        "The transaction coordinator that sent this marker is no longer the producer's coordinator.";
    TransactionalIdAuthorizationFailed = 53, "TRANSACTIONAL_ID_AUTHORIZATION_FAILED", false,
        "Not authorized to use the transactional id.";
    SecurityDisabled = 54, "SECURITY_DISABLED", false,
        "Security features are disabled on the broker.";
    OperationNotAttempted = 55, "OPERATION_NOT_ATTEMPTED", false,
        "The broker skipped this operation because another one in the same batch failed.";
    KafkaStorageError = 56, "KAFKA_STORAGE_ERROR", true,
        "The broker hit a disk error accessing the log.";
    LogDirNotFound = 57, "LOG_DIR_NOT_FOUND", false,
        "The requested log directory is not in the broker's configuration.";
    SaslAuthenticationFailed = 58, "SASL_AUTHENTICATION_FAILED", false,
        "SASL authentication failed.";
    UnknownProducerId = 59, "UNKNOWN_PRODUCER_ID", false,
        "The broker has no state for this producer id, e.g. because its records were removed by retention.";
    ReassignmentInProgress = 60, "REASSIGNMENT_IN_PROGRESS", false,
        "A partition reassignment is in progress.";
    DelegationTokenAuthDisabled = 61, "DELEGATION_TOKEN_AUTH_DISABLED", false,
        "Delegation tokens are not enabled on the broker.";
    DelegationTokenNotFound = 62, "DELEGATION_TOKEN_NOT_FOUND", false,
        "The delegation token was not found.";
    DelegationTokenOwnerMismatch = 63, "DELEGATION_TOKEN_OWNER_MISMATCH", false,
        "The principal is not a valid owner or renewer of the delegation token.";
    DelegationTokenRequestNotAllowed = 64, "DELEGATION_TOKEN_REQUEST_NOT_ALLOWED", false,
        "Delegation token requests are not allowed on plaintext, one-way TLS or token-authenticated connections.";
    DelegationTokenAuthorizationFailed = 65, "DELEGATION_TOKEN_AUTHORIZATION_FAILED", false,
        "Not authorized for the delegation token operation.";
    DelegationTokenExpired = 66, "DELEGATION_TOKEN_EXPIRED", false,
        "The delegation token has expired.";
    InvalidPrincipalType = 67, "INVALID_PRINCIPAL_TYPE", false,
        "The principal type is not supported.";
    NonEmptyGroup = 68, "NON_EMPTY_GROUP", false,
        "The group is not empty.";
    GroupIdNotFound = 69, "GROUP_ID_NOT_FOUND", false,
        "The group id does not exist.";
    FetchSessionIdNotFound = 70, "FETCH_SESSION_ID_NOT_FOUND", true,
        "The fetch session id was not found.";
    InvalidFetchSessionEpoch = 71, "INVALID_FETCH_SESSION_EPOCH", true,
        "The fetch session epoch is invalid.";
    ListenerNotFound = 72, "LISTENER_NOT_FOUND", true,
        "The leader has no listener matching the one the metadata request arrived on.";
    TopicDeletionDisabled = 73, "TOPIC_DELETION_DISABLED", false,
        "Topic deletion is disabled on the broker.";
    FencedLeaderEpoch = 74, "FENCED_LEADER_EPOCH", true,
        "The request's leader epoch is older than the broker's.";
    UnknownLeaderEpoch = 75, "UNKNOWN_LEADER_EPOCH", true,
        "The request's leader epoch is newer than the broker's.";
    UnsupportedCompressionType = 76, "UNSUPPORTED_COMPRESSION_TYPE", false,
        "The client does not support the partition's compression type.";
    StaleBrokerEpoch = 77, "STALE_BROKER_EPOCH", false,
        "The broker epoch has changed.";
    OffsetNotAvailable = 78, "OFFSET_NOT_AVAILABLE", true,
        "The new leader's high watermark has not caught up yet, so offsets cannot be served monotonically.";
    MemberIdRequired = 79, "MEMBER_ID_REQUIRED", false,
        "The member must rejoin with the member id the coordinator assigned.";
    PreferredLeaderNotAvailable = 80, "PREFERRED_LEADER_NOT_AVAILABLE", true,
        "The preferred leader is not available.";
    GroupMaxSizeReached = 81, "GROUP_MAX_SIZE_REACHED", false,
        "The group has reached its maximum size.";
    FencedInstanceId = 82, "FENCED_INSTANCE_ID", false,
        "Another member with the same group.instance.id has joined with a different member id.";
    EligibleLeadersNotAvailable = 83, "ELIGIBLE_LEADERS_NOT_AVAILABLE", true,
        "No eligible leader is available for the partition.";
    ElectionNotNeeded = 84, "ELECTION_NOT_NEEDED", true,
        "The partition does not need a leader election.";
    NoReassignmentInProgress = 85, "NO_REASSIGNMENT_IN_PROGRESS", false,
        "No partition reassignment is in progress.";
    GroupSubscribedToTopic = 86, "GROUP_SUBSCRIBED_TO_TOPIC", false,
        "Cannot delete a topic's offsets while the group is subscribed to it.";
    InvalidRecord = 87, "INVALID_RECORD", false,
        "The broker rejected a record that failed validation.";
    UnstableOffsetCommit = 88, "UNSTABLE_OFFSET_COMMIT", true,
        "Pending transactional offsets must be resolved first.";
    ThrottlingQuotaExceeded = 89, "THROTTLING_QUOTA_EXCEEDED", true,
        "The throttling quota has been exceeded.";
    ProducerFenced = 90, "PRODUCER_FENCED", false,
        "A newer producer with the same transactional id has fenced this one.";
    ResourceNotFound = 91, "RESOURCE_NOT_FOUND", false,
        "The request refers to a resource that does not exist.";
    DuplicateResource = 92, "DUPLICATE_RESOURCE", false,
        "The request refers to the same resource twice.";
    UnacceptableCredential = 93, "UNACCEPTABLE_CREDENTIAL", false,
        "The credential does not meet the acceptability criteria.";
    InconsistentVoterSet = 94, "INCONSISTENT_VOTER_SET", false,
        "The sender or receiver of a voter-only request is not an expected voter.";
    InvalidUpdateVersion = 95, "INVALID_UPDATE_VERSION", false,
        "The update version is invalid.";
    FeatureUpdateFailed = 96, "FEATURE_UPDATE_FAILED", false,
        "Finalized features could not be updated because of an unexpected server error.";
    PrincipalDeserializationFailure = 97, "PRINCIPAL_DESERIALIZATION_FAILURE", false,
        "The forwarded request's principal could not be deserialized (a broker security setup problem).";
    SnapshotNotFound = 98, "SNAPSHOT_NOT_FOUND", false,
        "The requested snapshot was not found.";
    PositionOutOfRange = 99, "POSITION_OUT_OF_RANGE", false,
        "The requested position is negative or beyond the end of the snapshot.";
    UnknownTopicId = 100, "UNKNOWN_TOPIC_ID", true,
        "This broker does not host a topic with this topic id.";
    DuplicateBrokerRegistration = 101, "DUPLICATE_BROKER_REGISTRATION", false,
        "This broker id is already registered.";
    BrokerIdNotRegistered = 102, "BROKER_ID_NOT_REGISTERED", false,
        "This broker id is not registered.";
    InconsistentTopicId = 103, "INCONSISTENT_TOPIC_ID", true,
        "The log's topic id does not match the request's topic id.";
    InconsistentClusterId = 104, "INCONSISTENT_CLUSTER_ID", false,
        "The request's cluster id does not match the server's.";
    TransactionalIdNotFound = 105, "TRANSACTIONAL_ID_NOT_FOUND", false,
        "The transactional id was not found.";
    FetchSessionTopicIdError = 106, "FETCH_SESSION_TOPIC_ID_ERROR", true,
        "The fetch session used topic ids inconsistently.";
    IneligibleReplica = 107, "INELIGIBLE_REPLICA", false,
        "The new ISR contains at least one ineligible replica.";
    NewLeaderElected = 108, "NEW_LEADER_ELECTED", false,
        "The partition state was updated, but a new leader has been elected since.";
    OffsetMovedToTieredStorage = 109, "OFFSET_MOVED_TO_TIERED_STORAGE", false,
        "The requested offset has moved to tiered storage.";
    FencedMemberEpoch = 110, "FENCED_MEMBER_EPOCH", false,
        "The coordinator fenced the member epoch; the member must give up its partitions and rejoin.";
    UnreleasedInstanceId = 111, "UNRELEASED_INSTANCE_ID", false,
        "Another member still holds this group.instance.id and must leave first.";
    UnsupportedAssignor = 112, "UNSUPPORTED_ASSIGNOR", false,
        "The group does not support this assignor or its version range.";
    StaleMemberEpoch = 113, "STALE_MEMBER_EPOCH", false,
        "The member epoch is stale; retry once the heartbeat has delivered the current epoch.";
    MismatchedEndpointType = 114, "MISMATCHED_ENDPOINT_TYPE", false,
        "The request was sent to the wrong type of endpoint (broker versus controller).";
    UnsupportedEndpointType = 115, "UNSUPPORTED_ENDPOINT_TYPE", false,
        "This endpoint type is not supported yet.";
    UnknownControllerId = 116, "UNKNOWN_CONTROLLER_ID", false,
        "This controller id is not known.";
    UnknownSubscriptionId = 117, "UNKNOWN_SUBSCRIPTION_ID", false,
        "The telemetry push used an unknown or outdated subscription id.";
    TelemetryTooLarge = 118, "TELEMETRY_TOO_LARGE", false,
        "The telemetry push is larger than the broker accepts.";
    InvalidRegistration = 119, "INVALID_REGISTRATION", false,
        "The controller considers the broker registration invalid.";
    TransactionAbortable = 120, "TRANSACTION_ABORTABLE", false,
        "The transaction hit an error; abort it to keep using this transactional id.";
    InvalidRecordState = 121, "INVALID_RECORD_STATE", false,
        "The record's state does not allow the acknowledgement.";
    ShareSessionNotFound = 122, "SHARE_SESSION_NOT_FOUND", true,
        "The share session was not found.";
    InvalidShareSessionEpoch = 123, "INVALID_SHARE_SESSION_EPOCH", true,
        "The share session epoch is invalid.";
    FencedStateEpoch = 124, "FENCED_STATE_EPOCH", false,
        "The share coordinator rejected the request because the share-group state epoch did not match.";
    InvalidVoterKey = 125, "INVALID_VOTER_KEY", false,
        "The voter key does not match the receiving replica's key.";
    DuplicateVoter = 126, "DUPLICATE_VOTER", false,
        "The voter is already in the voter set.";
    VoterNotFound = 127, "VOTER_NOT_FOUND", false,
        "The voter is not in the voter set.";
    InvalidRegularExpression = 128, "INVALID_REGULAR_EXPRESSION", false,
        "The regular expression is invalid.";
    RebootstrapRequired = 129, "REBOOTSTRAP_REQUIRED", false,
        "The client's metadata is stale; it must rebootstrap to obtain fresh metadata.";
    StreamsInvalidTopology = 130, "STREAMS_INVALID_TOPOLOGY", false,
        "The supplied Streams topology is invalid.";
    StreamsInvalidTopologyEpoch = 131, "STREAMS_INVALID_TOPOLOGY_EPOCH", false,
        "The supplied Streams topology epoch is invalid.";
    StreamsTopologyFenced = 132, "STREAMS_TOPOLOGY_FENCED", false,
        "The supplied Streams topology epoch is outdated.";
    ShareSessionLimitReached = 133, "SHARE_SESSION_LIMIT_REACHED", true,
        "The broker's limit of share sessions has been reached.";
}

impl ErrorCode {
    /// Whether this is [`ErrorCode::None`], i.e. success. Spelled out because
    /// `None` reads like `Option::None` at call sites.
    pub const fn is_ok(self) -> bool {
        matches!(self, ErrorCode::None)
    }

    /// Whether this is any code other than [`ErrorCode::None`], including
    /// unknown ones.
    pub const fn is_err(self) -> bool {
        !self.is_ok()
    }

    /// `Ok(())` for [`ErrorCode::None`], otherwise `Err(self)`, so a response
    /// field can be checked with `?`.
    pub const fn into_result(self) -> Result<(), ErrorCode> {
        if self.is_ok() { Ok(()) } else { Err(self) }
    }
}

impl Default for ErrorCode {
    /// Success, because that is what a zeroed field on the wire means.
    fn default() -> Self {
        ErrorCode::None
    }
}

impl From<i16> for ErrorCode {
    fn from(code: i16) -> Self {
        ErrorCode::from_code(code)
    }
}

impl From<ErrorCode> for i16 {
    fn from(code: ErrorCode) -> Self {
        code.code()
    }
}

impl fmt::Display for ErrorCode {
    /// `UNKNOWN_TOPIC_OR_PARTITION (3): This broker does not host ...`:
    /// name first for grepping logs, the number for matching Kafka's
    /// documentation table, then the explanation.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} ({}): {}",
            self.name(),
            self.code(),
            self.description()
        )
    }
}

impl std::error::Error for ErrorCode {}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn every_table_code_round_trips() {
        for &e in ErrorCode::ALL {
            assert_eq!(ErrorCode::from_code(e.code()), e, "{}", e.name());
            assert!(!matches!(e, ErrorCode::Unknown(_)));
        }
    }

    #[test]
    fn every_i16_round_trips() {
        for c in i16::MIN..=i16::MAX {
            assert_eq!(ErrorCode::from_code(c).code(), c);
        }
    }

    #[test]
    fn table_is_complete_and_ordered() {
        // -1 through 133 with no gaps, matching Errors.java.
        let codes: Vec<i16> = ErrorCode::ALL.iter().map(|e| e.code()).collect();
        let expected: Vec<i16> = (-1..=133).collect();
        assert_eq!(codes, expected);
    }

    #[test]
    fn names_and_codes_are_unique() {
        let names: HashSet<_> = ErrorCode::ALL.iter().map(|e| e.name()).collect();
        let codes: HashSet<_> = ErrorCode::ALL.iter().map(|e| e.code()).collect();
        assert_eq!(names.len(), ErrorCode::ALL.len());
        assert_eq!(codes.len(), ErrorCode::ALL.len());
        assert!(!names.contains("UNKNOWN_ERROR_CODE"));
    }

    #[test]
    fn names_are_java_constant_style_and_descriptions_non_empty() {
        for &e in ErrorCode::ALL {
            let n = e.name();
            assert!(
                n.bytes()
                    .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'_'),
                "{n}"
            );
            assert!(!e.description().is_empty(), "{n}");
        }
    }

    #[test]
    fn spot_checks_against_java() {
        use ErrorCode as E;
        let cases: &[(i16, ErrorCode, &str, bool)] = &[
            (-1, E::UnknownServerError, "UNKNOWN_SERVER_ERROR", false),
            (0, E::None, "NONE", false),
            (2, E::CorruptMessage, "CORRUPT_MESSAGE", true),
            (
                3,
                E::UnknownTopicOrPartition,
                "UNKNOWN_TOPIC_OR_PARTITION",
                true,
            ),
            (6, E::NotLeaderOrFollower, "NOT_LEADER_OR_FOLLOWER", true),
            (7, E::RequestTimedOut, "REQUEST_TIMED_OUT", true),
            (
                14,
                E::CoordinatorLoadInProgress,
                "COORDINATOR_LOAD_IN_PROGRESS",
                true,
            ),
            (16, E::NotCoordinator, "NOT_COORDINATOR", true),
            (19, E::NotEnoughReplicas, "NOT_ENOUGH_REPLICAS", true),
            (25, E::UnknownMemberId, "UNKNOWN_MEMBER_ID", false),
            (27, E::RebalanceInProgress, "REBALANCE_IN_PROGRESS", false),
            (35, E::UnsupportedVersion, "UNSUPPORTED_VERSION", false),
            (41, E::NotController, "NOT_CONTROLLER", true),
            (
                45,
                E::OutOfOrderSequenceNumber,
                "OUT_OF_ORDER_SEQUENCE_NUMBER",
                false,
            ),
            (
                51,
                E::ConcurrentTransactions,
                "CONCURRENT_TRANSACTIONS",
                true,
            ),
            (
                58,
                E::SaslAuthenticationFailed,
                "SASL_AUTHENTICATION_FAILED",
                false,
            ),
            (79, E::MemberIdRequired, "MEMBER_ID_REQUIRED", false),
            (90, E::ProducerFenced, "PRODUCER_FENCED", false),
            (100, E::UnknownTopicId, "UNKNOWN_TOPIC_ID", true),
            (119, E::InvalidRegistration, "INVALID_REGISTRATION", false),
            (120, E::TransactionAbortable, "TRANSACTION_ABORTABLE", false),
            (121, E::InvalidRecordState, "INVALID_RECORD_STATE", false),
            (
                122,
                E::ShareSessionNotFound,
                "SHARE_SESSION_NOT_FOUND",
                true,
            ),
            (129, E::RebootstrapRequired, "REBOOTSTRAP_REQUIRED", false),
            (
                133,
                E::ShareSessionLimitReached,
                "SHARE_SESSION_LIMIT_REACHED",
                true,
            ),
        ];
        for &(code, variant, name, retriable) in cases {
            let e = ErrorCode::from_code(code);
            assert_eq!(e, variant, "{code}");
            assert_eq!(e.name(), name, "{code}");
            assert_eq!(e.is_retriable(), retriable, "{name}");
        }
    }

    #[test]
    fn unknown_codes() {
        for c in [-2, 134, 1000, i16::MAX, i16::MIN] {
            let e = ErrorCode::from_code(c);
            assert_eq!(e, ErrorCode::Unknown(c));
            assert!(e.is_err());
            assert!(!e.is_retriable());
            assert_eq!(e.name(), "UNKNOWN_ERROR_CODE");
        }
    }

    #[test]
    fn ok_err_and_result() {
        assert!(ErrorCode::None.is_ok());
        assert!(!ErrorCode::None.is_err());
        assert_eq!(ErrorCode::None.into_result(), Ok(()));
        assert_eq!(ErrorCode::default(), ErrorCode::None);
        let e = ErrorCode::from(3);
        assert!(e.is_err());
        assert_eq!(e.into_result(), Err(ErrorCode::UnknownTopicOrPartition));
        assert_eq!(i16::from(e), 3);
    }

    #[test]
    fn display_format() {
        assert_eq!(
            ErrorCode::UnknownTopicOrPartition.to_string(),
            "UNKNOWN_TOPIC_OR_PARTITION (3): This broker does not host the topic-partition."
        );
        assert!(
            ErrorCode::from_code(500)
                .to_string()
                .starts_with("UNKNOWN_ERROR_CODE (500): ")
        );
        assert!(
            ErrorCode::UnknownServerError
                .to_string()
                .starts_with("UNKNOWN_SERVER_ERROR (-1): ")
        );
    }
}
