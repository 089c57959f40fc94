//! The one error type of this crate.
//!
//! Display strings are self-contained sentences that name the broker and,
//! where there is one, the API, because they end up in one-line log entries;
//! `source()` still exposes the underlying error for programs that walk the
//! chain (which will then see its text twice).

use std::fmt;
use std::io;
use std::sync::Arc;
use std::time::Duration;

use gregor_protocol::error_code::ErrorCode;
use gregor_protocol::{ApiKey, VersionRange};

use crate::BrokerAddr;
use crate::sasl::SaslMechanism;

/// This crate's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong talking to a broker.
///
/// Every variant says which broker; [`Error::is_retriable`] says whether the
/// same operation can succeed if tried again (on a new connection where the
/// old one is gone). The type is `Clone` so one failure can be handed to every
/// request that was waiting on the connection.
///
/// There is no "too many requests in flight" error: a request waits for an
/// in-flight slot, and that wait counts against its request timeout, so an
/// overloaded connection shows up as [`Error::Timeout`] with `sent: false`.
#[non_exhaustive]
#[derive(Debug, Clone, thiserror::Error)]
pub enum Error {
    /// The TCP connection could not be established.
    #[error("could not connect to broker {broker}: {source}")]
    Connect {
        /// The broker.
        broker: BrokerAddr,
        /// The OS error.
        #[source]
        source: Arc<io::Error>,
    },

    /// Connecting (TCP plus the ApiVersions handshake) took longer than the
    /// configured connect timeout.
    #[error("connecting to broker {broker} timed out after {}", Secs(*.after))]
    ConnectTimeout {
        /// The broker.
        broker: BrokerAddr,
        /// The configured connect timeout.
        after: Duration,
    },

    /// Reading from or writing to the connection failed.
    #[error("I/O error on the connection to broker {broker}: {source}")]
    Io {
        /// The broker.
        broker: BrokerAddr,
        /// The OS error.
        #[source]
        source: Arc<io::Error>,
    },

    /// The connection was closed, by the broker or on purpose by this side.
    #[error("connection to broker {broker} closed: {reason}")]
    Closed {
        /// The broker.
        broker: BrokerAddr,
        /// Who closed it and why.
        reason: CloseReason,
    },

    /// A request got no response within the request timeout.
    #[error(
        "{api} request to broker {broker} timed out after {} {}",
        Secs(*.after),
        if *.sent { "waiting for its response" } else { "waiting for an in-flight slot; it was never sent" }
    )]
    Timeout {
        /// The broker.
        broker: BrokerAddr,
        /// The API of the request.
        api: ApiKey,
        /// The configured request timeout.
        after: Duration,
        /// Whether the request had been handed to the connection to be
        /// written. If so the broker may have acted on it; if not, it
        /// certainly did not.
        sent: bool,
    },

    /// The connection failed, before or while this request was in flight.
    ///
    /// Every request in flight at the moment of failure, and every one sent
    /// afterwards, gets this error with the same shared `cause`. A request
    /// that was in flight may or may not have been processed by the broker.
    #[error("connection is dead: {cause}")]
    Dead {
        /// What killed the connection.
        #[source]
        cause: Arc<Error>,
    },

    /// Bytes from the broker (or a request to it) did not fit the protocol.
    #[error(
        "protocol error on the connection to broker {broker}{}: {source}",
        ForApi(*.api)
    )]
    Protocol {
        /// The broker.
        broker: BrokerAddr,
        /// The API of the request being encoded or decoded, when there was one.
        api: Option<ApiKey>,
        /// The codec's error.
        #[source]
        source: gregor_protocol::Error,
    },

    /// The broker answered out of order: Kafka answers the requests on one
    /// connection in the order they were sent, so this means the stream is
    /// corrupt or the peer is not a conforming broker.
    #[error(
        "broker {broker} sent a response with correlation id {received} but {}",
        Expected(*.expected)
    )]
    CorrelationMismatch {
        /// The broker.
        broker: BrokerAddr,
        /// The correlation id of the oldest request in flight, if any was.
        expected: Option<i32>,
        /// The correlation id the response carried.
        received: i32,
    },

    /// This client and the broker share no version of an API (or the broker
    /// does not offer the API at all, or not the version asked for).
    #[error(
        "broker {broker} cannot handle {api}{}: this client speaks versions {}, {}",
        AtVersion(*.requested),
        Range(*.client_versions),
        BrokerRange(*.broker_versions)
    )]
    UnsupportedVersion {
        /// The broker.
        broker: BrokerAddr,
        /// The API.
        api: ApiKey,
        /// The explicit version asked for, if one was.
        requested: Option<i16>,
        /// The versions this client can encode.
        client_versions: VersionRange,
        /// The versions the broker supports; `None` when it does not list
        /// the API.
        broker_versions: Option<VersionRange>,
    },

    /// The broker answered with an error code.
    #[error(
        "broker {broker} answered {api}{}{} with {code}{}",
        Topic(.topic.as_deref()),
        Partition(*.partition),
        Message(.message.as_deref())
    )]
    Broker {
        /// The broker.
        broker: BrokerAddr,
        /// The error code.
        code: ErrorCode,
        /// The API of the request.
        api: ApiKey,
        /// The topic the code was about, if the response was per topic.
        topic: Option<String>,
        /// The partition the code was about, if the response was per partition.
        partition: Option<i32>,
        /// The broker's error message, if it sent one.
        message: Option<String>,
    },

    /// The TLS handshake failed on a TLS matter: the broker's certificate
    /// did not verify (unknown CA, expired, issued for another name), the
    /// broker refused this client's certificate, or the port does not speak
    /// TLS. Not retriable: the same broker will present the same
    /// certificate again.
    #[error("TLS handshake with broker {broker} failed: {reason}")]
    Tls {
        /// The broker.
        broker: BrokerAddr,
        /// What went wrong, and what to check.
        reason: String,
    },

    /// The broker refused this client's SASL credentials (or the exchange
    /// failed on the client's side: a bad server signature, a token
    /// provider that failed). Not retriable, so a wrong password fails
    /// once instead of storming the broker.
    #[error("SASL {mechanism} authentication with broker {broker} failed: {message}")]
    Authentication {
        /// The broker.
        broker: BrokerAddr,
        /// The mechanism.
        mechanism: SaslMechanism,
        /// The broker's error message, or what the client found wrong.
        message: String,
    },

    /// The broker does not enable the configured SASL mechanism. Not
    /// retriable.
    #[error(
        "broker {broker} does not enable SASL mechanism {mechanism}; it enables {}",
        Mechanisms(.enabled)
    )]
    UnsupportedSaslMechanism {
        /// The broker.
        broker: BrokerAddr,
        /// The mechanism asked for.
        mechanism: SaslMechanism,
        /// The mechanisms the broker enables.
        enabled: Vec<String>,
    },

    /// A record batch of a fetched partition is larger than the most this
    /// client will fetch at once, so reading can never get past it. Raise
    /// the fetch limit (and the connection's frame limit) or skip it with a
    /// seek.
    #[error(
        "the record batch at offset {offset} of topic {topic} partition {partition} on broker \
         {broker} is {}, more than the largest fetch allowed ({max_bytes} bytes)",
        BatchSize(*.size)
    )]
    RecordTooLarge {
        /// The broker.
        broker: BrokerAddr,
        /// The topic.
        topic: String,
        /// The partition.
        partition: i32,
        /// The offset the fetch started at.
        offset: i64,
        /// The batch's size in bytes, if enough of it arrived to say.
        size: Option<usize>,
        /// The largest fetch size tried.
        max_bytes: usize,
    },

    /// Fetched records could not be decoded: a CRC mismatch, an unknown
    /// codec, a malformed record. Not retriable: the same bytes come back
    /// from the log.
    #[error(
        "corrupt records in topic {topic} partition {partition} at offset {offset} from broker \
         {broker}: {source}"
    )]
    CorruptRecords {
        /// The broker.
        broker: BrokerAddr,
        /// The topic.
        topic: String,
        /// The partition.
        partition: i32,
        /// The offset of the batch that failed (or of the fetch, if unknown).
        offset: i64,
        /// The codec's error.
        #[source]
        source: gregor_protocol::Error,
    },

    /// A seek to an offset outside the ones the partition holds.
    #[error(
        "offset {offset} is out of range for topic {topic} partition {partition} on broker \
         {broker}, which holds offsets {first} to {last}"
    )]
    OffsetOutOfRange {
        /// The broker.
        broker: BrokerAddr,
        /// The topic.
        topic: String,
        /// The partition.
        partition: i32,
        /// The offset asked for.
        offset: i64,
        /// The partition's first offset.
        first: i64,
        /// The partition's last offset (the next one to be written).
        last: i64,
    },

    /// A topic-partition operation on a connection bound to no partition.
    #[error(
        "{operation} needs a topic partition, but the connection to broker {broker} is not \
         bound to one"
    )]
    Unbound {
        /// The broker.
        broker: BrokerAddr,
        /// The operation attempted.
        operation: &'static str,
    },
    /// No broker could be reached: every known broker and bootstrap server
    /// was tried, or is backing off after failing. Retriable: brokers come
    /// back.
    #[error("no broker reachable: {}", Tried(.tried))]
    NoBrokerReachable {
        /// Each address tried, with why it failed.
        tried: Vec<(BrokerAddr, Error)>,
    },

    /// The cluster metadata does not list the topic. Retriable, like
    /// Kafka's `UNKNOWN_TOPIC_OR_PARTITION`: it may be being created.
    #[error("topic {topic} is not in the metadata from broker {broker}")]
    UnknownTopic {
        /// The broker whose metadata this is.
        broker: BrokerAddr,
        /// The topic.
        topic: String,
    },

    /// The topic exists but has no such partition (yet). Retriable:
    /// partitions can be added.
    #[error(
        "topic {topic} has no partition {partition} (it has {partitions}) in the metadata \
         from broker {broker}"
    )]
    UnknownPartition {
        /// The broker whose metadata this is.
        broker: BrokerAddr,
        /// The topic.
        topic: String,
        /// The partition asked for.
        partition: i32,
        /// How many partitions the topic has.
        partitions: usize,
    },

    /// The partition has no leader right now (an election, offline
    /// replicas). Retriable.
    #[error(
        "topic {topic} partition {partition} has no leader in the metadata from broker {broker}"
    )]
    NoLeader {
        /// The broker whose metadata this is.
        broker: BrokerAddr,
        /// The topic.
        topic: String,
        /// The partition.
        partition: i32,
    },

    /// A broker id the cluster metadata does not list. Retriable: brokers
    /// join.
    #[error("broker id {id} is not in the metadata from broker {broker}")]
    UnknownBroker {
        /// The broker whose metadata this is.
        broker: BrokerAddr,
        /// The id asked for.
        id: i32,
    },

    /// The cluster metadata names no controller. Retriable: one is being
    /// elected.
    #[error("the metadata from broker {broker} names no controller")]
    NoController {
        /// The broker whose metadata this is.
        broker: BrokerAddr,
    },

    /// FindCoordinator found no coordinator for a group or transactional
    /// id: it is loading, moving or not elected yet. Retriable when `code`
    /// is (it always is for the codes this variant is used for).
    #[error(
        "no coordinator for {key}: broker {broker} answered FindCoordinator with {code}{}",
        Message(.message.as_deref())
    )]
    CoordinatorNotAvailable {
        /// The broker that answered.
        broker: BrokerAddr,
        /// The group or transactional id, e.g. `group "billing"`.
        key: String,
        /// The error code.
        code: ErrorCode,
        /// The broker's error message, if it sent one.
        message: Option<String>,
    },

    /// The cluster handle was closed, or the runtime running its background
    /// work shut down.
    #[error("the cluster handle was closed")]
    ClusterClosed,
}

/// Why a connection was closed.
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CloseReason {
    /// The broker closed it between responses.
    ByPeer,
    /// The broker closed it partway through a response.
    ByPeerMidFrame {
        /// Bytes of the incomplete frame received, size prefix included.
        received: usize,
        /// The whole frame's size with its prefix, once the prefix was read.
        expected: Option<usize>,
    },
    /// Nothing was in flight for the configured idle timeout.
    Idle(Duration),
    /// [`Connection::close`](crate::Connection::close) was called or every
    /// handle to the connection was dropped.
    ByClient,
}

impl fmt::Display for CloseReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CloseReason::ByPeer => f.write_str("the broker closed the connection"),
            CloseReason::ByPeerMidFrame {
                received,
                expected: Some(expected),
            } => write!(
                f,
                "the broker closed the connection partway through a response \
                 ({received} of {expected} bytes received)"
            ),
            CloseReason::ByPeerMidFrame {
                received,
                expected: None,
            } => write!(
                f,
                "the broker closed the connection partway through a response's \
                 size prefix ({received} of 4 bytes received)"
            ),
            CloseReason::Idle(after) => {
                write!(f, "idle for {} with nothing in flight", Secs(*after))
            }
            CloseReason::ByClient => f.write_str("closed by this client"),
        }
    }
}

impl Error {
    /// Whether the same operation can succeed if tried again, on a new
    /// connection where this one is gone.
    ///
    /// Connection-level trouble (connect failures, I/O errors, closes,
    /// timeouts) is retriable, like Java's `NetworkException` and
    /// `TimeoutException`; protocol violations and version mismatches are
    /// not, because the same broker will do the same again. Broker error
    /// codes follow [`ErrorCode::is_retriable`], and [`Error::Dead`] follows
    /// its cause.
    ///
    /// Retrying something that was sent (see [`Error::Timeout`]'s `sent`)
    /// may apply it twice; idempotence is the caller's business.
    pub fn is_retriable(&self) -> bool {
        match self {
            Error::Connect { .. }
            | Error::ConnectTimeout { .. }
            | Error::Io { .. }
            | Error::Closed { .. }
            | Error::Timeout { .. } => true,
            Error::Dead { cause } => cause.is_retriable(),
            Error::Protocol { .. }
            | Error::CorrelationMismatch { .. }
            | Error::UnsupportedVersion { .. } => false,
            Error::Broker { code, .. } => code.is_retriable(),
            Error::Tls { .. }
            | Error::Authentication { .. }
            | Error::UnsupportedSaslMechanism { .. } => false,
            Error::NoBrokerReachable { .. }
            | Error::UnknownTopic { .. }
            | Error::UnknownPartition { .. }
            | Error::NoLeader { .. }
            | Error::UnknownBroker { .. }
            | Error::NoController { .. } => true,
            Error::CoordinatorNotAvailable { code, .. } => code.is_retriable(),
            Error::ClusterClosed => false,
            Error::RecordTooLarge { .. }
            | Error::CorruptRecords { .. }
            | Error::OffsetOutOfRange { .. }
            | Error::Unbound { .. } => false,
        }
    }

    /// The broker the error is about.
    pub fn broker(&self) -> &BrokerAddr {
        match self {
            Error::Connect { broker, .. }
            | Error::ConnectTimeout { broker, .. }
            | Error::Io { broker, .. }
            | Error::Closed { broker, .. }
            | Error::Timeout { broker, .. }
            | Error::Protocol { broker, .. }
            | Error::CorrelationMismatch { broker, .. }
            | Error::UnsupportedVersion { broker, .. }
            | Error::Broker { broker, .. }
            | Error::RecordTooLarge { broker, .. }
            | Error::CorruptRecords { broker, .. }
            | Error::OffsetOutOfRange { broker, .. }
            | Error::Unbound { broker, .. } => broker,
            Error::Tls { broker, .. }
            | Error::Authentication { broker, .. }
            | Error::UnsupportedSaslMechanism { broker, .. } => broker,
            Error::Dead { cause } => cause.broker(),
            Error::UnknownTopic { broker, .. }
            | Error::UnknownPartition { broker, .. }
            | Error::NoLeader { broker, .. }
            | Error::UnknownBroker { broker, .. }
            | Error::NoController { broker }
            | Error::CoordinatorNotAvailable { broker, .. } => broker,
            // No single broker: the last one tried, else a placeholder.
            Error::NoBrokerReachable { tried } => match tried.last() {
                Some((b, _)) => b,
                None => nowhere(),
            },
            Error::ClusterClosed => nowhere(),
        }
    }

    /// The error that actually happened: the cause of an [`Error::Dead`],
    /// else `self`.
    pub fn root(&self) -> &Error {
        match self {
            Error::Dead { cause } => cause.root(),
            other => other,
        }
    }

    /// A broker error for a response's error code, or `Ok(())` for `NONE`.
    ///
    /// Add the topic, partition and message the response gave with
    /// [`with_topic`](Self::with_topic), [`with_partition`](Self::with_partition)
    /// and [`with_message`](Self::with_message).
    ///
    /// ```
    /// use gregor_net::{BrokerAddr, Error};
    /// use gregor_protocol::ApiKey;
    ///
    /// let broker = BrokerAddr::new("kafka-1:9092");
    /// assert!(Error::check_code(&broker, ApiKey::Metadata, 0).is_ok());
    /// let err = Error::check_code(&broker, ApiKey::Metadata, 3)
    ///     .map_err(|e| e.with_topic("orders").with_partition(7))
    ///     .unwrap_err();
    /// assert!(err.is_retriable());
    /// assert!(err.to_string().contains("UNKNOWN_TOPIC_OR_PARTITION"));
    /// assert!(err.to_string().contains("orders"));
    /// ```
    pub fn check_code(broker: &BrokerAddr, api: ApiKey, code: i16) -> Result<()> {
        match ErrorCode::from_code(code) {
            ErrorCode::None => Ok(()),
            code => Err(Error::Broker {
                broker: broker.clone(),
                code,
                api,
                topic: None,
                partition: None,
                message: None,
            }),
        }
    }

    /// Names the topic of an [`Error::Broker`]; other variants are returned
    /// unchanged.
    #[must_use]
    pub fn with_topic(mut self, name: impl Into<String>) -> Self {
        if let Error::Broker { topic, .. } = &mut self {
            *topic = Some(name.into());
        }
        self
    }

    /// Names the partition of an [`Error::Broker`]; other variants are
    /// returned unchanged.
    #[must_use]
    pub fn with_partition(mut self, index: i32) -> Self {
        if let Error::Broker { partition, .. } = &mut self {
            *partition = Some(index);
        }
        self
    }

    /// Adds the broker's error message to an [`Error::Broker`] (an empty one
    /// counts as none); other variants are returned unchanged.
    #[must_use]
    pub fn with_message(mut self, text: Option<impl Into<String>>) -> Self {
        if let Error::Broker { message, .. } = &mut self {
            *message = text.map(Into::into).filter(|m| !m.is_empty());
        }
        self
    }
}

/// Formats a duration the way config values are written (`30s`, `1.5s`,
/// `250ms`), which `Debug` does almost but not quite.
struct Secs(Duration);

impl fmt::Display for Secs {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let d = self.0;
        if d.subsec_nanos() == 0 {
            write!(f, "{}s", d.as_secs())
        } else if d < Duration::from_secs(1) {
            write!(f, "{}ms", d.as_millis())
        } else {
            write!(f, "{:.3}s", d.as_secs_f64())
        }
    }
}

struct ForApi(Option<ApiKey>);

impl fmt::Display for ForApi {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            Some(api) => write!(f, " ({api})"),
            None => Ok(()),
        }
    }
}

struct Expected(Option<i32>);

impl fmt::Display for Expected {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            Some(id) => write!(
                f,
                "the oldest request in flight has correlation id {id} \
                 (responses must come back in request order)"
            ),
            None => f.write_str("no request was in flight"),
        }
    }
}

struct Range(VersionRange);

impl fmt::Display for Range {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-{}", self.0.min, self.0.max)
    }
}

struct AtVersion(Option<i16>);

impl fmt::Display for AtVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            Some(v) => write!(f, " v{v}"),
            None => Ok(()),
        }
    }
}

struct BrokerRange(Option<VersionRange>);

impl fmt::Display for BrokerRange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            Some(r) => write!(f, "the broker versions {}", Range(r)),
            None => f.write_str("the broker does not list the API at all"),
        }
    }
}

struct BatchSize(Option<usize>);

impl fmt::Display for BatchSize {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            Some(n) => write!(f, "{n} bytes"),
            None => f.write_str("of unknown size"),
        }
    }
}

/// The label [`Error::broker`] gives errors about no broker in particular.
fn nowhere() -> &'static BrokerAddr {
    static NOWHERE: std::sync::OnceLock<BrokerAddr> = std::sync::OnceLock::new();
    NOWHERE.get_or_init(|| BrokerAddr::new("(no broker)"))
}

struct Tried<'a>(&'a [(BrokerAddr, Error)]);

impl fmt::Display for Tried<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0.is_empty() {
            return f.write_str("there was no broker to try");
        }
        for (i, (_, e)) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str("; ")?;
            }
            write!(f, "{e}")?;
        }
        Ok(())
    }
}

struct Mechanisms<'a>(&'a [String]);

impl fmt::Display for Mechanisms<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0.is_empty() {
            return f.write_str("none");
        }
        f.write_str(&self.0.join(", "))
    }
}

struct Topic<'a>(Option<&'a str>);

impl fmt::Display for Topic<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            Some(t) => write!(f, " for topic {t}"),
            None => Ok(()),
        }
    }
}

struct Partition(Option<i32>);

impl fmt::Display for Partition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            Some(p) => write!(f, " partition {p}"),
            None => Ok(()),
        }
    }
}

struct Message<'a>(Option<&'a str>);

impl fmt::Display for Message<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            Some(m) => write!(f, " ({m})"),
            None => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn broker() -> BrokerAddr {
        BrokerAddr::new("b:9092").with_node_id(2)
    }

    #[test]
    fn retriable_follows_the_cause() {
        let closed = Error::Closed {
            broker: broker(),
            reason: CloseReason::ByPeer,
        };
        assert!(closed.is_retriable());
        let dead = Error::Dead {
            cause: Arc::new(closed),
        };
        assert!(dead.is_retriable());
        let protocol = Error::Protocol {
            broker: broker(),
            api: None,
            source: gregor_protocol::Error::NotKafka { looks_like: "HTTP" },
        };
        assert!(!protocol.is_retriable());
        let dead = Error::Dead {
            cause: Arc::new(protocol),
        };
        assert!(!dead.is_retriable());
        assert!(matches!(dead.root(), Error::Protocol { .. }));
        assert_eq!(dead.broker(), &broker());
    }

    #[test]
    fn messages_name_what_happened() {
        let e = Error::UnsupportedVersion {
            broker: broker(),
            api: ApiKey::Metadata,
            requested: None,
            client_versions: VersionRange { min: 0, max: 12 },
            broker_versions: None,
        };
        assert_eq!(
            e.to_string(),
            "broker b:9092 (node 2) cannot handle Metadata: this client speaks versions 0-12, \
             the broker does not list the API at all"
        );
        let e = Error::Timeout {
            broker: broker(),
            api: ApiKey::Fetch,
            after: Duration::from_millis(1500),
            sent: true,
        };
        assert_eq!(
            e.to_string(),
            "Fetch request to broker b:9092 (node 2) timed out after 1.500s waiting for its response"
        );
        let e = Error::check_code(&broker(), ApiKey::Produce, 6)
            .unwrap_err()
            .with_topic("t")
            .with_partition(0)
            .with_message(Some("leader moved"));
        let text = e.to_string();
        assert!(text.starts_with("broker b:9092 (node 2) answered Produce for topic t partition 0 with NOT_LEADER_OR_FOLLOWER (6)"), "{text}");
        assert!(text.ends_with("(leader moved)"), "{text}");
        assert!(e.is_retriable());
    }
}
