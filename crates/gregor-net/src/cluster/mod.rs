//! The cluster layer: bootstrap, the metadata cache, routing to leaders,
//! the controller and coordinators, one shared connection per broker, and
//! backoff.
//!
//! Everything goes through one cheaply cloneable [`Cluster`] handle that
//! every producer, consumer and admin of an application shares, so they
//! share one connection per broker and one metadata cache.
//!
//! Operations make one attempt each and report what went wrong through
//! [`Error`]; [`Cluster::retry`] (or the caller's own loop) retries
//! retriable errors with backoff, and [`Cluster::on_error`] turns errors
//! that mean "stale metadata" into refreshes.

mod backoff;
mod config;
mod coordinator;
mod metadata;
mod pool;
mod refresh;
mod routing;

use std::collections::BTreeSet;
use std::fmt;
use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use gregor_protocol::ErrorCode;
use tokio::sync::watch;
use tokio::time::Instant;

pub use self::backoff::{Backoff, BackoffPolicy};
pub use self::config::{ClusterConfig, ClusterConfigBuilder, ClusterConfigError};
pub use self::coordinator::CoordinatorKey;
pub use self::metadata::{
    BrokerId, BrokerMetadata, ClusterMetadata, PartitionMetadata, TopicMetadata,
};
pub use self::pool::{EndpointStats, PoolStats};

use self::backoff::Rng;
use self::coordinator::Coordinators;
use self::metadata::Scope;
use self::pool::{Pool, lock};
use self::refresh::Flights;
use crate::{BrokerAddr, Error, Result};

/// A Kafka cluster: its metadata, a pool with one connection per broker,
/// and routing of requests to partition leaders, the controller and group
/// or transaction coordinators.
///
/// Cloning is cheap and every clone shares the same pool and cache (the
/// cn-infra multiplexer idea): build one `Cluster` per application and hand
/// clones to every producer, consumer and admin. Connections close when the
/// last clone is dropped or on [`close`](Self::close).
///
/// ```no_run
/// use gregor_net::{Cluster, ClusterConfig};
/// use gregor_protocol::messages::MetadataRequest;
///
/// # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
/// let config = ClusterConfig::builder()
///     .bootstrap_servers(["kafka-1:9092", "kafka-2:9092"])
///     .build()?;
/// let cluster = Cluster::connect(config).await?;
/// let md = cluster.refresh_topics(&["orders"]).await?;
/// println!("orders-0 is led by {:?}", md.leader_for("orders", 0));
/// let conn = cluster.leader_connection("orders", 0).await?;
/// # let _ = conn;
/// # Ok(())
/// # }
/// ```
///
/// Every async method is cancel-safe: metadata refreshes run in their own
/// task (a caller that gives up does not cancel them for the others), and
/// an abandoned connect is dropped whole.
#[derive(Clone)]
pub struct Cluster {
    inner: Arc<Inner>,
}

pub(crate) struct Inner {
    config: ClusterConfig,
    pool: Pool,
    /// The newest snapshot; a watch so [`Cluster::watch_metadata`] can hand
    /// out receivers that see every update.
    metadata: watch::Sender<Arc<ClusterMetadata>>,
    flights: Mutex<Flights>,
    /// Topics an error said are out of date: routed only after a refresh.
    stale: Mutex<BTreeSet<String>>,
    controller_stale: AtomicBool,
    coordinators: Coordinators,
    closed: AtomicBool,
    /// Set to `true` by [`Cluster::close`]; dropped with the last handle.
    /// Either stops the periodic refresh task.
    shutdown: watch::Sender<bool>,
    rng: Mutex<Rng>,
}

impl Cluster {
    /// A cluster that connects lazily: nothing is dialled until the first
    /// request or refresh.
    ///
    /// Starts the task that refreshes metadata every
    /// [`metadata_max_age`](ClusterConfig::metadata_max_age).
    ///
    /// # Panics
    ///
    /// Outside a Tokio runtime, like `tokio::spawn`.
    pub fn new(config: ClusterConfig) -> Cluster {
        let (shutdown, shutdown_rx) = watch::channel(false);
        let inner = Arc::new(Inner {
            pool: Pool::new(config.connector().clone(), config.reconnect_backoff()),
            config,
            metadata: watch::Sender::new(Arc::new(ClusterMetadata::default())),
            flights: Mutex::new(Flights::default()),
            stale: Mutex::new(BTreeSet::new()),
            controller_stale: AtomicBool::new(false),
            coordinators: Coordinators::default(),
            closed: AtomicBool::new(false),
            shutdown,
            rng: Mutex::new(Rng::new(backoff::random_seed())),
        });
        tokio::spawn(refresh::periodic(Arc::downgrade(&inner), shutdown_rx));
        Cluster { inner }
    }

    /// Bootstraps: a cluster that has fetched the brokers and controller
    /// from one of the bootstrap servers, tried in the order given.
    ///
    /// # Errors
    ///
    /// [`Error::NoBrokerReachable`] (retriable) listing each bootstrap
    /// server and why it failed, or the error of the Metadata request.
    pub async fn connect(config: ClusterConfig) -> Result<Cluster> {
        let cluster = Cluster::new(config);
        cluster.refresh().await?;
        Ok(cluster)
    }

    /// The configuration.
    pub fn config(&self) -> &ClusterConfig {
        &self.inner.config
    }

    /// The newest metadata snapshot (empty before the first refresh).
    pub fn metadata(&self) -> Arc<ClusterMetadata> {
        self.inner.metadata.borrow().clone()
    }

    /// A receiver that sees every new metadata snapshot, for tasks that
    /// react to leader or partition changes.
    pub fn watch_metadata(&self) -> watch::Receiver<Arc<ClusterMetadata>> {
        self.inner.metadata.subscribe()
    }

    /// Refreshes the brokers, the controller and every topic in the cache.
    /// Joins a refresh already running or queued when it covers the same.
    ///
    /// # Errors
    ///
    /// [`Error::NoBrokerReachable`], or the Metadata request's error.
    pub async fn refresh(&self) -> Result<Arc<ClusterMetadata>> {
        let scope = self.inner.known_scope();
        self.inner.refresh(scope).await
    }

    /// Refreshes `topics` (plus brokers and controller), leaving other
    /// cached topics alone. A topic the broker does not know is dropped from
    /// the cache. Concurrent calls coalesce: callers whose topics a running
    /// request covers share its answer; the rest share one queued request.
    ///
    /// # Errors
    ///
    /// As [`refresh`](Self::refresh).
    pub async fn refresh_topics<S: AsRef<str>>(
        &self,
        topics: &[S],
    ) -> Result<Arc<ClusterMetadata>> {
        let scope = Scope::Topics(topics.iter().map(|t| t.as_ref().to_owned()).collect());
        self.inner.refresh(scope).await
    }

    /// Refreshes every topic of the cluster; topics no longer listed leave
    /// the cache.
    ///
    /// # Errors
    ///
    /// As [`refresh`](Self::refresh).
    pub async fn refresh_all(&self) -> Result<Arc<ClusterMetadata>> {
        self.inner.refresh(Scope::All).await
    }

    /// Marks `topic`'s metadata out of date and starts refreshing it: the
    /// next request routed to one of its partitions waits for the refresh.
    /// For a producer or consumer that saw `NOT_LEADER_OR_FOLLOWER` and the
    /// like (or use [`on_error`](Self::on_error)).
    pub fn invalidate(&self, topic: &str) {
        lock(&self.inner.stale).insert(topic.to_owned());
        self.inner
            .refresh_soon(Scope::Topics(BTreeSet::from([topic.to_owned()])));
    }

    /// Reacts to an error from a request made through this cluster, so the
    /// caller's retry goes to the right broker:
    ///
    /// - Stale-metadata codes (`NOT_LEADER_OR_FOLLOWER`,
    ///   `UNKNOWN_TOPIC_OR_PARTITION`, `LEADER_NOT_AVAILABLE`,
    ///   `FENCED_LEADER_EPOCH`, `UNKNOWN_LEADER_EPOCH`,
    ///   `KAFKA_STORAGE_ERROR`, `REPLICA_NOT_AVAILABLE`) and
    ///   [`Error::UnknownTopic`], [`Error::UnknownPartition`],
    ///   [`Error::NoLeader`]: the topic (every cached topic if the error
    ///   names none) is [invalidated](Self::invalidate).
    /// - `NOT_CONTROLLER`, [`Error::NoController`],
    ///   [`Error::UnknownBroker`]: brokers and controller are refreshed.
    /// - `NOT_COORDINATOR`, `COORDINATOR_NOT_AVAILABLE`: every coordinator
    ///   on that broker is forgotten.
    /// - Connection failures (connect, I/O, close, timeout, a dead
    ///   connection): the pool replaces the connection on next use by
    ///   itself; coordinators on that broker are forgotten and a metadata
    ///   refresh starts, since the broker may have left.
    ///
    /// Anything else is ignored. Build the [`Error::Broker`] for a response
    /// code with [`Error::check_code`] and [`Error::with_topic`].
    pub fn on_error(&self, err: &Error) {
        self.inner.on_error(err);
    }

    /// Runs `op` until it succeeds, fails with an error that is not
    /// [retriable](Error::is_retriable), or `timeout` has passed, reporting
    /// each error to [`on_error`](Self::on_error) and sleeping the retry
    /// backoff (see [`ClusterConfig::retry_backoff`]) in between. Returns
    /// the last error on giving up.
    ///
    /// ```no_run
    /// # use gregor_net::Cluster;
    /// # use gregor_protocol::messages::MetadataRequest;
    /// # use std::time::Duration;
    /// # async fn demo(cluster: Cluster) -> Result<(), gregor_net::Error> {
    /// let req = MetadataRequest::default();
    /// let md = cluster
    ///     .retry(Duration::from_secs(30), || cluster.send_to_any(&req))
    ///     .await?;
    /// # let _ = md;
    /// # Ok(())
    /// # }
    /// ```
    ///
    /// # Errors
    ///
    /// The last error `op` returned.
    pub async fn retry<T, F, Fut>(&self, timeout: Duration, mut op: F) -> Result<T>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T>>,
    {
        let deadline = Instant::now() + timeout;
        let mut backoff = Backoff::new(self.inner.config.retry_backoff());
        loop {
            let err = match op().await {
                Ok(v) => return Ok(v),
                Err(e) => e,
            };
            self.on_error(&err);
            let now = Instant::now();
            if !err.is_retriable() || now >= deadline {
                return Err(err);
            }
            let delay = backoff.next_delay().min(deadline - now);
            tracing::debug!(error = %err, retry_in = ?delay, attempt = backoff.failures(), "retrying");
            tokio::time::sleep(delay).await;
        }
    }

    /// Counters of the connection pool: connections opened and failed, and
    /// per broker whether one is live, its load and how often it was opened
    /// (which shows that clones share connections).
    pub fn pool_stats(&self) -> PoolStats {
        self.inner.pool.stats()
    }

    /// Closes every pooled connection and stops the periodic refresh, for
    /// every clone. Requests in flight fail; later calls fail with
    /// [`Error::ClusterClosed`].
    pub fn close(&self) {
        self.inner.closed.store(true, Ordering::Relaxed);
        self.inner.shutdown.send_replace(true);
        self.inner.pool.close_all();
    }

    /// Whether [`close`](Self::close) was called.
    pub fn is_closed(&self) -> bool {
        self.inner.is_closed()
    }
}

impl fmt::Debug for Cluster {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let md = self.metadata();
        f.debug_struct("Cluster")
            .field("bootstrap", &self.inner.config.bootstrap_servers())
            .field("cluster_id", &md.cluster_id())
            .field("brokers", &md.brokers().count())
            .field("topics", &md.topics().count())
            .field("closed", &self.is_closed())
            .finish_non_exhaustive()
    }
}

/// Whether `e` is about the connection rather than the request: the
/// connection is (or will be) replaced and the request can go elsewhere.
pub(crate) fn is_connection_error(e: &Error) -> bool {
    matches!(
        e,
        Error::Connect { .. }
            | Error::ConnectTimeout { .. }
            | Error::Io { .. }
            | Error::Closed { .. }
            | Error::Timeout { .. }
            | Error::Dead { .. }
    )
}

impl Inner {
    pub(crate) fn is_closed(&self) -> bool {
        self.closed.load(Ordering::Relaxed)
    }

    /// Starts a refresh for `scope` (or joins one) without waiting.
    fn refresh_soon(self: &Arc<Self>, scope: Scope) {
        // Outside a runtime (a drop handler, a test without one) there is
        // nobody to run it; the next routed request refreshes instead.
        if tokio::runtime::Handle::try_current().is_ok() {
            let _ = self.start_refresh(scope);
        }
    }

    fn is_stale(&self, topic: &str) -> bool {
        lock(&self.stale).contains(topic)
    }

    /// A label for errors about metadata: the broker the snapshot came
    /// from, else the first bootstrap server.
    fn metadata_source(&self, md: &ClusterMetadata) -> BrokerAddr {
        md.source()
            .cloned()
            .or_else(|| self.config.bootstrap_servers().first().cloned())
            .unwrap_or_else(|| BrokerAddr::new("(no broker)"))
    }

    /// Forgets what a connection failure makes doubtful about its broker.
    fn forget_broker_of(&self, e: &Error) {
        if is_connection_error(e)
            && let Some(id) = e.broker().node_id()
        {
            self.coordinators.forget_broker(BrokerId(id));
        }
    }

    fn on_error(self: &Arc<Self>, err: &Error) {
        match err {
            Error::Broker {
                code,
                topic,
                broker,
                ..
            } => match code {
                ErrorCode::NotLeaderOrFollower
                | ErrorCode::UnknownTopicOrPartition
                | ErrorCode::LeaderNotAvailable
                | ErrorCode::FencedLeaderEpoch
                | ErrorCode::UnknownLeaderEpoch
                | ErrorCode::KafkaStorageError
                | ErrorCode::ReplicaNotAvailable => self.invalidate_topic(topic.as_deref()),
                ErrorCode::NotController => self.invalidate_controller(),
                ErrorCode::NotCoordinator | ErrorCode::CoordinatorNotAvailable => {
                    if let Some(id) = broker.node_id() {
                        self.coordinators.forget_broker(BrokerId(id));
                    }
                }
                _ => {}
            },
            Error::UnknownTopic { topic, .. }
            | Error::UnknownPartition { topic, .. }
            | Error::NoLeader { topic, .. } => self.invalidate_topic(Some(topic)),
            Error::NoController { .. } | Error::UnknownBroker { .. } => {
                self.invalidate_controller();
            }
            e if is_connection_error(e) => {
                self.forget_broker_of(e);
                tracing::debug!(broker = %e.broker(), error = %e, "connection failed; refreshing metadata");
                self.refresh_soon(self.known_scope());
            }
            _ => {}
        }
    }

    /// Marks `topic` (or every cached topic) stale and refreshes it.
    fn invalidate_topic(self: &Arc<Self>, topic: Option<&str>) {
        let scope = match topic {
            Some(t) => {
                lock(&self.stale).insert(t.to_owned());
                Scope::Topics(BTreeSet::from([t.to_owned()]))
            }
            None => {
                let scope = self.known_scope();
                if let Scope::Topics(all) = &scope {
                    lock(&self.stale).extend(all.iter().cloned());
                }
                scope
            }
        };
        tracing::debug!(topic = ?topic, "metadata invalidated");
        self.refresh_soon(scope);
    }

    fn invalidate_controller(self: &Arc<Self>) {
        self.controller_stale.store(true, Ordering::Relaxed);
        self.refresh_soon(self.known_scope());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_handle_is_send_sync_and_cheap_to_clone() {
        fn check<T: Send + Sync + Clone + 'static>() {}
        check::<Cluster>();
        check::<Arc<ClusterMetadata>>();
    }

    #[test]
    fn cluster_errors_name_what_they_are_about_and_say_if_retrying_helps() {
        let b = || BrokerAddr::new("k1:9092").with_node_id(1);
        let cases = [
            (
                Error::NoLeader {
                    broker: b(),
                    topic: "orders".into(),
                    partition: 3,
                },
                true,
                "topic orders partition 3 has no leader in the metadata from broker k1:9092 (node 1)",
            ),
            (
                Error::UnknownPartition {
                    broker: b(),
                    topic: "orders".into(),
                    partition: 9,
                    partitions: 4,
                },
                true,
                "topic orders has no partition 9 (it has 4)",
            ),
            (
                Error::UnknownTopic {
                    broker: b(),
                    topic: "nope".into(),
                },
                true,
                "topic nope is not in the metadata",
            ),
            (
                Error::CoordinatorNotAvailable {
                    broker: b(),
                    key: CoordinatorKey::Group("g".into()).to_string(),
                    code: ErrorCode::CoordinatorLoadInProgress,
                    message: None,
                },
                true,
                "no coordinator for group \"g\": broker k1:9092 (node 1) answered \
                 FindCoordinator with COORDINATOR_LOAD_IN_PROGRESS",
            ),
            (
                Error::NoBrokerReachable {
                    tried: vec![(
                        b(),
                        Error::Closed {
                            broker: b(),
                            reason: crate::CloseReason::ByPeer,
                        },
                    )],
                },
                true,
                "no broker reachable: connection to broker k1:9092 (node 1) closed",
            ),
            (Error::ClusterClosed, false, "the cluster handle was closed"),
        ];
        for (err, retriable, text) in cases {
            assert_eq!(err.is_retriable(), retriable, "{err}");
            assert!(err.to_string().starts_with(text), "{err}");
        }
        let none = Error::NoBrokerReachable { tried: vec![] };
        assert_eq!(none.broker().addr(), "(no broker)");
        assert!(none.to_string().contains("no broker to try"));
    }
}
