//! A low-level connection bound to one topic partition, for tools: the
//! Rust counterpart of kafka-go's `Conn`.
//!
//! A [`Conn`] is one [`Connection`] plus a topic partition and a current
//! offset. It reads ([`read_batch`](Conn::read_batch),
//! [`read_message`](Conn::read_message)), moves the offset
//! ([`seek`](Conn::seek)), asks for offsets ([`read_offsets`](Conn::read_offsets),
//! [`read_offset_for_time`](Conn::read_offset_for_time)), writes
//! ([`write_messages`](Conn::write_messages)) and runs the few admin
//! requests a tool needs (topics, partitions, brokers). Each method sends
//! one or two requests and nothing happens in the background: there is no
//! retry, no leader tracking and no batching. A program that wants those
//! uses the producer and consumer instead.
//!
//! ```no_run
//! use gregor_net::Connector;
//! use gregor_net::conn::{Conn, Message, Whence};
//!
//! # async fn demo() -> gregor_net::Result<()> {
//! let connector = Connector::default();
//! let mut conn = Conn::dial_leader(&connector, "127.0.0.1:9092", "orders", 0).await?;
//! conn.write_messages(&[Message::new("k", "hello")]).await?;
//! conn.seek(-1, Whence::Last).await?;
//! let mut batch = conn.read_batch(1, 1 << 20).await?;
//! for msg in &mut batch {
//!     println!("{} {:?}", msg.offset, msg.value);
//! }
//! # Ok(())
//! # }
//! ```

mod admin;
mod batch;
mod fetch;
mod offsets;
mod produce;
mod types;

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use gregor_protocol::records::Compression;
use gregor_protocol::{ApiKey, Uuid};
use tokio::time::Instant;

use crate::{BrokerAddr, Connection, Connector, Error, Result};

pub use batch::Batch;
pub use gregor_protocol::records::Header;
pub use types::{Acks, Broker, Message, Partition, ReadBatchConfig, TopicConfig, Whence, Written};

/// A connection to one broker, bound to one topic partition with a current
/// offset, like kafka-go's `Conn`.
///
/// Reads start at the current offset and move it past what they return;
/// writes go to the bound partition (which must be led by this broker, as
/// [`dial_leader`](Self::dial_leader) ensures). The admin methods work on any
/// `Conn`, bound or not.
///
/// Methods that read or move the offset take `&mut self`, so one reader
/// owns the position; the others take `&self`. Every async method is
/// cancel-safe: dropping its future leaves the offset where it was (a read
/// moves it only as messages are handed out) and the connection usable.
///
/// Time limits: each operation may take at most the read timeout
/// ([`set_read_timeout`](Self::set_read_timeout); everything but writes) or
/// the write timeout ([`set_write_timeout`](Self::set_write_timeout)), and
/// always at most the connection's request timeout per request. A limit
/// that expires gives [`Error::Timeout`] with `sent: true`: the broker may
/// have acted on the request.
#[derive(Debug)]
pub struct Conn {
    connection: Connection,
    target: Option<Target>,
    acks: Acks,
    compression: Compression,
    read_timeout: Option<Duration>,
    write_timeout: Option<Duration>,
}

/// The partition a `Conn` is bound to and where it reads next.
#[derive(Debug, Clone)]
struct Target {
    /// Shared with every message read, so naming the topic costs no copy.
    topic: Arc<str>,
    /// Needed by Fetch v13+, which names topics by id only.
    topic_id: Uuid,
    partition: i32,
    offset: i64,
}

impl Conn {
    /// Connects to `broker` through `connector` (so its TLS and SASL apply),
    /// bound to no partition: ready for the admin methods, or for
    /// [`bind`](Self::bind).
    ///
    /// Cancel-safe: dropping the future closes whatever was opened.
    ///
    /// # Errors
    ///
    /// As [`Connector::connect`].
    pub async fn dial(connector: &Connector, broker: impl Into<BrokerAddr>) -> Result<Conn> {
        Ok(Self::from_connection(connector.connect(broker).await?))
    }

    /// Finds the leader of `topic` partition `partition` with a Metadata
    /// request to `bootstrap`, connects to it and binds the connection to the
    /// partition at its first offset (one ListOffsets request).
    ///
    /// The bootstrap connection is reused when the leader is advertised at
    /// the same address, and closed otherwise. Metadata is sent with
    /// automatic topic creation off, so a missing topic is an error rather
    /// than a new topic. Bounded by the connector's connect and request
    /// timeouts (the new `Conn` has no timeouts of its own yet). Cancel-safe.
    ///
    /// # Errors
    ///
    /// [`Error::Broker`] naming the topic when the broker does not know it
    /// (`UNKNOWN_TOPIC_OR_PARTITION`) or refuses it; [`Error::UnknownPartition`]
    /// when the topic has no such partition; [`Error::NoLeader`] (retriable)
    /// when the partition has no leader; connection errors as
    /// [`Connector::connect`].
    pub async fn dial_leader(
        connector: &Connector,
        bootstrap: impl Into<BrokerAddr>,
        topic: &str,
        partition: i32,
    ) -> Result<Conn> {
        let bootstrap = connector.connect(bootstrap).await?;
        let found = admin::lookup_partition(&bootstrap, topic, partition).await?;
        let Some(leader) = found.leader.clone() else {
            return Err(admin::no_leader(bootstrap.broker(), topic, partition));
        };
        let leader_addr = leader.addr();
        let connection = if leader_addr.addr() == bootstrap.broker().addr() {
            bootstrap
        } else {
            drop(bootstrap);
            connector.connect(leader_addr).await?
        };
        let mut conn = Self::from_connection(connection);
        conn.bind_to(&found, &Budget::new(None)).await?;
        Ok(conn)
    }

    /// Connects to the leader of `partition` (as [`read_partitions`]
    /// returned it, without asking Metadata again) and binds the connection
    /// to it at its first offset. Cancel-safe.
    ///
    /// [`read_partitions`]: Self::read_partitions
    ///
    /// # Errors
    ///
    /// [`Error::NoLeader`] when the partition was listed without a leader;
    /// otherwise as [`Connector::connect`] and
    /// [`read_first_offset`](Self::read_first_offset).
    pub async fn dial_partition(connector: &Connector, partition: &Partition) -> Result<Conn> {
        let Some(leader) = &partition.leader else {
            // Nothing is asked, so no broker said so just now.
            let unknown = BrokerAddr::new("(unknown)");
            return Err(admin::no_leader(
                &unknown,
                &partition.topic,
                partition.partition,
            ));
        };
        let mut conn = Self::dial(connector, leader.addr()).await?;
        conn.bind_to(partition, &Budget::new(None)).await?;
        Ok(conn)
    }

    /// A `Conn` over an open connection, bound to no partition.
    pub fn from_connection(connection: Connection) -> Conn {
        Conn {
            connection,
            target: None,
            acks: Acks::default(),
            compression: Compression::None,
            read_timeout: None,
            write_timeout: None,
        }
    }

    /// Binds this connection to `topic` partition `partition` at its first
    /// offset: a Metadata request (which checks that the partition exists
    /// and learns the topic id) and a ListOffsets request. It does not check
    /// that this broker leads the partition; reads and writes say so if not
    /// (`NOT_LEADER_OR_FOLLOWER`). Cancel-safe: the binding changes only once
    /// both answers are in.
    ///
    /// # Errors
    ///
    /// As [`dial_leader`](Self::dial_leader) for a missing topic or
    /// partition; request errors as for any request.
    pub async fn bind(&mut self, topic: &str, partition: i32) -> Result<()> {
        let budget = Budget::new(self.read_timeout);
        let found = budget
            .run(
                self.broker(),
                ApiKey::Metadata,
                admin::lookup_partition(&self.connection, topic, partition),
            )
            .await?;
        self.bind_to(&found, &budget).await
    }

    /// Binds to `partition` at its first offset (one ListOffsets request).
    async fn bind_to(&mut self, partition: &Partition, budget: &Budget) -> Result<()> {
        let mut target = Target {
            topic: Arc::from(partition.topic.as_str()),
            topic_id: partition.topic_id,
            partition: partition.partition,
            offset: 0,
        };
        target.offset = self
            .list_offset(&target, offsets::EARLIEST, budget)
            .await?
            .0;
        self.target = Some(target);
        Ok(())
    }

    /// The underlying connection, for requests this type does not wrap.
    pub fn connection(&self) -> &Connection {
        &self.connection
    }

    /// The broker this connection talks to.
    pub fn broker(&self) -> &BrokerAddr {
        self.connection.broker()
    }

    /// The bound topic, if any.
    pub fn topic(&self) -> Option<&str> {
        self.target.as_ref().map(|t| &*t.topic)
    }

    /// The bound partition, if any.
    pub fn partition(&self) -> Option<i32> {
        self.target.as_ref().map(|t| t.partition)
    }

    /// The offset the next read starts at, if bound.
    pub fn offset(&self) -> Option<i64> {
        self.target.as_ref().map(|t| t.offset)
    }

    /// How many replicas must have a write before the broker answers.
    /// Default [`Acks::All`].
    pub fn set_required_acks(&mut self, acks: Acks) {
        self.acks = acks;
    }

    /// The acks [`write_messages`](Self::write_messages) asks for.
    pub fn required_acks(&self) -> Acks {
        self.acks
    }

    /// The codec [`write_messages`](Self::write_messages) compresses with.
    /// Default none.
    pub fn set_compression(&mut self, compression: Compression) {
        self.compression = compression;
    }

    /// The codec [`write_messages`](Self::write_messages) compresses with.
    pub fn compression(&self) -> Compression {
        self.compression
    }

    /// Sets both the read and the write timeout.
    pub fn set_timeout(&mut self, timeout: Option<Duration>) {
        self.read_timeout = timeout;
        self.write_timeout = timeout;
    }

    /// The most any operation but a write may take, waiting included;
    /// `None` (the default) leaves only the connection's request timeout,
    /// per request. [`read_message`](Self::read_message) waits for a
    /// message until this expires, and forever without one.
    pub fn set_read_timeout(&mut self, timeout: Option<Duration>) {
        self.read_timeout = timeout;
    }

    /// The most a write may take; `None` (the default) leaves only the
    /// connection's request timeout. Also sent to the broker as the Produce
    /// timeout.
    pub fn set_write_timeout(&mut self, timeout: Option<Duration>) {
        self.write_timeout = timeout;
    }

    /// The read timeout.
    pub fn read_timeout(&self) -> Option<Duration> {
        self.read_timeout
    }

    /// The write timeout.
    pub fn write_timeout(&self) -> Option<Duration> {
        self.write_timeout
    }

    /// Closes the connection (for every clone of the underlying
    /// [`Connection`]); later calls fail with [`Error::Dead`].
    pub fn close(&self) {
        self.connection.close();
    }

    /// The bound partition, or [`Error::Unbound`] naming `operation`.
    fn target(&self, operation: &'static str) -> Result<&Target> {
        self.target.as_ref().ok_or_else(|| Error::Unbound {
            broker: self.broker().clone(),
            operation,
        })
    }

    /// A broker error for `code` naming the topic and partition, or `Ok`.
    fn check(
        &self,
        api: ApiKey,
        code: i16,
        topic: &str,
        partition: Option<i32>,
        message: Option<&str>,
    ) -> Result<()> {
        check_code(self.broker(), api, code, topic, partition, message)
    }

    /// The error for a response that leaves out the partition asked for:
    /// Kafka answers every partition of a request, so a broker that does
    /// not is taken not to know it.
    fn missing_partition(&self, api: ApiKey, target: &Target) -> Error {
        Error::Broker {
            broker: self.broker().clone(),
            code: gregor_protocol::ErrorCode::UnknownTopicOrPartition,
            api,
            topic: Some(target.topic.to_string()),
            partition: Some(target.partition),
            message: Some("the response does not include the partition".to_owned()),
        }
    }
}

/// A broker error for `code` naming the topic and partition, or `Ok`.
fn check_code(
    broker: &BrokerAddr,
    api: ApiKey,
    code: i16,
    topic: &str,
    partition: Option<i32>,
    message: Option<&str>,
) -> Result<()> {
    Error::check_code(broker, api, code).map_err(|e| {
        let e = e.with_topic(topic).with_message(message);
        match partition {
            Some(p) => e.with_partition(p),
            None => e,
        }
    })
}

/// One operation's time limit: a deadline fixed when the operation starts,
/// so an operation of several requests (a seek, a growing fetch, a
/// [`Conn::read_message`] that waits) is bounded as a whole.
#[derive(Debug, Clone, Copy)]
struct Budget {
    limit: Option<(Duration, Instant)>,
}

impl Budget {
    fn new(limit: Option<Duration>) -> Self {
        Self {
            limit: limit.map(|d| (d, Instant::now() + d)),
        }
    }

    /// Time left, capped by `cap` (the connection's request timeout, past
    /// which the connection itself gives up on a request).
    fn remaining(&self, cap: Duration) -> Duration {
        match self.limit {
            Some((_, deadline)) => deadline.saturating_duration_since(Instant::now()).min(cap),
            None => cap,
        }
    }

    /// Runs `fut` until the deadline. Dropping a request future is safe
    /// (the connection reads and discards its response), so on expiry the
    /// connection stays up.
    async fn run<T>(
        &self,
        broker: &BrokerAddr,
        api: ApiKey,
        fut: impl Future<Output = Result<T>>,
    ) -> Result<T> {
        let Some((after, deadline)) = self.limit else {
            return fut.await;
        };
        match tokio::time::timeout_at(deadline, fut).await {
            Ok(result) => result,
            Err(_) => Err(Error::Timeout {
                broker: broker.clone(),
                api,
                after,
                sent: true,
            }),
        }
    }
}

/// A duration in whole milliseconds for a request's `timeout_ms` field.
fn millis_i32(d: Duration) -> i32 {
    i32::try_from(d.as_millis()).unwrap_or(i32::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn budget_bounds_the_whole_operation() {
        let broker = BrokerAddr::new("b:1");
        let budget = Budget::new(Some(Duration::from_millis(50)));
        assert!(budget.remaining(Duration::from_millis(10)) <= Duration::from_millis(10));
        let err = budget
            .run(&broker, ApiKey::Fetch, std::future::pending::<Result<()>>())
            .await
            .unwrap_err();
        assert!(matches!(err, Error::Timeout { sent: true, .. }), "{err}");
        assert_eq!(budget.remaining(Duration::from_secs(30)), Duration::ZERO);
        let unlimited = Budget::new(None);
        assert_eq!(
            unlimited.remaining(Duration::from_secs(30)),
            Duration::from_secs(30)
        );
        assert_eq!(millis_i32(Duration::from_secs(u64::MAX)), i32::MAX);
    }

    /// Tools spawn these futures on multi-threaded runtimes; compiled, not
    /// run.
    #[allow(dead_code)]
    fn futures_are_send(conn: &mut Conn) {
        fn is_send<T: Send>(_: &T) {}
        is_send(&conn.read_offsets());
        is_send(&conn.write_messages(&[]));
        is_send(&conn.read_partitions(&[]));
        is_send(&conn.seek(0, Whence::First));
        is_send(&conn.read_message(1));
        is_send(&conn.read_batch(1, 1));
    }

    #[test]
    fn broker_errors_name_topic_and_partition() {
        let b = BrokerAddr::new("b:1");
        let e = check_code(&b, ApiKey::Fetch, 1, "t", Some(4), None).unwrap_err();
        let text = e.to_string();
        assert!(text.contains("topic t partition 4"), "{text}");
        assert!(text.contains("OFFSET_OUT_OF_RANGE"), "{text}");
        assert!(check_code(&b, ApiKey::Fetch, 0, "t", None, None).is_ok());
    }
}
