//! The admin client: topics, configs, groups, offsets, ACLs and SCRAM credentials.
//!
//! [`Admin`] runs on a [`Cluster`], sharing its connections and metadata
//! with every producer and consumer built on the same cluster. Each
//! operation routes its requests where Kafka wants them: topic creation
//! and deletion to the controller, group operations batched per group
//! coordinator, [`list_offsets`](Admin::list_offsets) and
//! [`delete_records`](Admin::delete_records) batched per partition leader,
//! broker configs to their broker, the rest to any broker. Retriable
//! failures (a moved leader or coordinator, a lost connection) are retried
//! with backoff until the admin's [timeout](Admin::with_timeout).
//!
//! | Operation | Method | Kafka API, routed to |
//! |---|---|---|
//! | Create topics (or only validate) | [`create_topics`](Admin::create_topics), [`validate_topics`](Admin::validate_topics) | CreateTopics, controller |
//! | Delete topics | [`delete_topics`](Admin::delete_topics) | DeleteTopics, controller |
//! | Add partitions | [`create_partitions`](Admin::create_partitions) | CreatePartitions, controller |
//! | List / describe topics | [`list_topics`](Admin::list_topics), [`describe_topics`](Admin::describe_topics) | Metadata, any broker |
//! | Describe the cluster | [`describe_cluster`](Admin::describe_cluster) | DescribeCluster (else Metadata), any broker |
//! | Describe / alter configs | [`describe_configs`](Admin::describe_configs), [`alter_configs`](Admin::alter_configs) | DescribeConfigs, IncrementalAlterConfigs; a broker's at that broker |
//! | List groups | [`list_groups`](Admin::list_groups) | ListGroups, every broker |
//! | Describe / delete groups | [`describe_groups`](Admin::describe_groups), [`delete_groups`](Admin::delete_groups) | DescribeGroups, DeleteGroups, per coordinator |
//! | A group's committed offsets | [`list_group_offsets`](Admin::list_group_offsets), [`alter_group_offsets`](Admin::alter_group_offsets), [`delete_group_offsets`](Admin::delete_group_offsets) | OffsetFetch, OffsetCommit, OffsetDelete, coordinator |
//! | Consumer lag | [`lag`](Admin::lag) | the above plus ListOffsets |
//! | Partition offsets | [`list_offsets`](Admin::list_offsets) | ListOffsets, per leader |
//! | Delete records | [`delete_records`](Admin::delete_records) | DeleteRecords, per leader |
//! | ACLs | [`create_acls`](Admin::create_acls), [`describe_acls`](Admin::describe_acls), [`delete_acls`](Admin::delete_acls) | CreateAcls, DescribeAcls, DeleteAcls, any broker |
//! | SCRAM credentials | [`describe_user_scram_credentials`](Admin::describe_user_scram_credentials), [`alter_user_scram_credentials`](Admin::alter_user_scram_credentials) | DescribeUserScramCredentials (any broker), AlterUserScramCredentials (controller) |
//!
//! Batch operations return [`Outcomes`]: one result per item, so one topic
//! that already exists does not hide that the others were created. An API
//! the broker does not offer gives [`Error::NotSupported`] naming the API
//! and the broker.
//!
//! ```no_run
//! use gregor_client::admin::{Admin, ConfigResource, NewTopic};
//!
//! # async fn demo() -> gregor_client::Result<()> {
//! let admin = Admin::connect("127.0.0.1:9092").await?;
//!
//! // Topics: create (per-topic results), list, delete.
//! let created = admin
//!     .create_topics(&[NewTopic::new("orders", 3, 1).with_config("retention.ms", "3600000")])
//!     .await;
//! created.into_result()?;
//! for topic in admin.list_topics(false).await? {
//!     println!("{} has {} partitions", topic.name, topic.partitions.len());
//! }
//!
//! // Configs: describe a topic's.
//! let configs = admin.describe_configs(&[ConfigResource::Topic("orders".into())]).await;
//! for (resource, config) in configs.into_result()? {
//!     println!("{resource}: retention.ms = {:?}", config.value("retention.ms"));
//! }
//! admin.delete_topics(&["orders"]).await.into_result()?;
//! # Ok(())
//! # }
//! ```
//!
//! The cluster and its brokers:
//!
//! ```no_run
//! # async fn demo(admin: gregor_client::admin::Admin) -> gregor_client::Result<()> {
//! let cluster = admin.describe_cluster().await?;
//! println!("cluster {:?}, controller {:?}", cluster.cluster_id, cluster.controller);
//! for b in &cluster.brokers {
//!     println!("broker {} at {}:{} rack {:?}", b.id, b.host, b.port, b.rack);
//! }
//! # Ok(())
//! # }
//! ```
//!
//! Consumer groups, their offsets and lag:
//!
//! ```no_run
//! use gregor_client::admin::{GroupFilter, OffsetAndMetadata, OffsetSpec, TopicPartition};
//!
//! # async fn demo(admin: gregor_client::admin::Admin) -> gregor_client::Result<()> {
//! let tp = TopicPartition::new("orders", 0);
//! // Rewind an (empty) group to the start of the partition.
//! let earliest = admin.list_offsets(&[(tp.clone(), OffsetSpec::Earliest)]).await;
//! let start = earliest.into_result()?[0].1.offset.unwrap_or(0);
//! admin
//!     .alter_group_offsets("billing", &[(tp.clone(), OffsetAndMetadata::new(start))])
//!     .await
//!     .into_result()?;
//! for g in admin.list_groups(&GroupFilter::default()).await?.groups {
//!     println!("{} ({}) {:?}", g.group_id, g.protocol_type, g.state);
//! }
//! for (tp, lag) in admin.lag("billing").await?.into_result()? {
//!     println!("{tp}: {:?} behind", lag.lag);
//! }
//! # Ok(())
//! # }
//! ```
//!
//! ACLs, SCRAM credentials, and an API the broker does not have:
//!
//! ```no_run
//! use gregor_client::Error;
//! use gregor_client::admin::*;
//!
//! # async fn demo(admin: Admin) -> gregor_client::Result<()> {
//! let read = AclBinding::new(ResourceType::Topic, "orders", "User:alice", AclOperation::Read, AclPermission::Allow);
//! admin.create_acls(&[read]).await.into_result()?;
//! let alices = admin.describe_acls(&AclFilter::any().with_principal("User:alice")).await?;
//! println!("{alices:?}");
//!
//! let alice = ScramAlteration::upsert("alice", ScramMechanism::Sha256, 8192, "s3cret");
//! admin.alter_user_scram_credentials(&[alice]).await.into_result()?;
//!
//! let grown = admin.create_partitions(&[NewPartitions::increase_to("orders", 6)]).await;
//! if let Some(Err(Error::NotSupported { api, broker, .. })) = grown.get("orders") {
//!     println!("broker {broker} has no {api}");
//! }
//! # Ok(())
//! # }
//! ```

mod acls;
mod configs;
mod groups;
mod offsets;
mod records;
mod scram;
mod topics;
mod types;

use std::collections::BTreeMap;
use std::fmt;
use std::future::Future;
use std::time::Duration;

use futures::future::join_all;
use gregor_net::{Backoff, BrokerAddr, Cluster, ClusterConfig, Connection};
use gregor_protocol::{ApiKey, ErrorCode, StrBytes};
use tokio::time::Instant;

use crate::{Error, Result};

pub use acls::{
    AclBinding, AclFilter, AclOperation, AclPermission, CreateAclsResult, DeleteAclsResult,
    PatternType, ResourceType,
};
pub use configs::{
    AlterConfigOp, AlterConfigsResult, Config, ConfigEntry, ConfigResource, ConfigSource,
    DescribeConfigsResult,
};
pub use gregor_group::{Assignment, OffsetAndMetadata, Subscription, TopicPartition};
pub use gregor_net::{BrokerId, BrokerMetadata};
pub use groups::{
    DeleteGroupsResult, DescribeGroupsResult, GroupDescription, GroupFilter, GroupListing,
    GroupState, ListGroupsResult, MemberDescription,
};
pub use offsets::{AlterGroupOffsetsResult, DeleteGroupOffsetsResult, LagResult, PartitionLag};
pub use records::{DeleteRecordsResult, ListOffsetsResult, ListedOffset, OffsetSpec};
pub use scram::{
    DescribeScramResult, ScramAlteration, ScramCredentialInfo, ScramMechanism, ScramResult,
};
pub use topics::{
    ClusterDescription, CreatePartitionsResult, CreateTopicsResult, CreatedTopic,
    DeleteTopicsResult, DescribeTopicsResult, NewPartitions, NewTopic, PartitionDescription,
    TopicDescription,
};
pub use types::Outcomes;

/// How long an operation may take, retries included, unless
/// [`Admin::with_timeout`] says otherwise.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);

/// The admin client: creates and inspects topics, configs, consumer groups,
/// offsets, ACLs and SCRAM credentials.
///
/// Cheap to clone (a [`Cluster`] handle and a timeout). Every operation is
/// cancel-safe in that dropping it leaves the connections usable, but a
/// request already sent may still take effect.
///
/// ```no_run
/// use std::time::Duration;
/// use gregor_client::admin::Admin;
/// use gregor_net::{Cluster, ClusterConfig};
///
/// # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
/// let config = ClusterConfig::builder().bootstrap_servers(["kafka-1:9092"]).build()?;
/// let cluster = Cluster::connect(config).await?;
/// // Shares the cluster's connections with any producer built on it.
/// let admin = Admin::new(cluster.clone()).with_timeout(Duration::from_secs(10));
/// println!("{:?}", admin.describe_cluster().await?.brokers);
/// # Ok(())
/// # }
/// ```
#[derive(Debug, Clone)]
pub struct Admin {
    cluster: Cluster,
    timeout: Duration,
}

impl Admin {
    /// An admin client on `cluster`, with [`DEFAULT_TIMEOUT`].
    pub fn new(cluster: Cluster) -> Admin {
        Admin {
            cluster,
            timeout: DEFAULT_TIMEOUT,
        }
    }

    /// Connects to the cluster at `bootstrap` (`host:port`, or several
    /// comma-separated) with default settings and automatic topic creation
    /// off.
    ///
    /// # Errors
    ///
    /// [`Error::Config`] for a malformed bootstrap list, or the error of
    /// bootstrapping (no broker reachable).
    pub async fn connect(bootstrap: &str) -> Result<Admin> {
        let config = ClusterConfig::builder()
            .bootstrap_servers([bootstrap])
            .allow_auto_topic_creation(false)
            .build()
            .map_err(|e| Error::config(e.field(), e.reason()))?;
        Ok(Admin::new(Cluster::connect(config).await?))
    }

    /// Sets how long each operation may take, retries included.
    #[must_use]
    pub fn with_timeout(mut self, timeout: Duration) -> Admin {
        self.timeout = timeout;
        self
    }

    /// How long each operation may take, retries included.
    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    /// The cluster this admin runs on.
    pub fn cluster(&self) -> &Cluster {
        &self.cluster
    }

    fn deadline(&self) -> Deadline {
        Deadline(Instant::now() + self.timeout)
    }

    /// Lets the cluster react to `e` (refresh metadata, forget a
    /// coordinator) before a retry.
    fn report(&self, e: &Error) {
        if let Error::Net(n) = e {
            self.cluster.on_error(n);
        }
    }

    /// Runs `op` until it succeeds, fails for good, or `deadline` passes,
    /// backing off between attempts.
    async fn retry<T, F, Fut>(&self, deadline: Deadline, mut op: F) -> Result<T>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T>>,
    {
        let mut backoff = Backoff::new(self.cluster.config().retry_backoff());
        loop {
            let err = match op().await {
                Ok(v) => return Ok(v),
                Err(e) => e,
            };
            self.report(&err);
            if !err.is_retriable() || deadline.passed() {
                return Err(err);
            }
            tracing::debug!(error = %err, "admin request failed; retrying");
            tokio::time::sleep(backoff.next_delay().min(deadline.remaining())).await;
        }
    }

    /// Sends `items` in one batch per broker, `route` saying which broker
    /// each goes to and `send` sending one broker's batch, all brokers at
    /// once. Items whose routing or batch failed retriably, and items the
    /// broker failed with an error `retry_item` accepts, are routed and sent
    /// again after a backoff until the deadline; the rest keep their result.
    async fn batched<K, T, R, RF, S, SF>(
        &self,
        api: ApiKey,
        items: Vec<K>,
        route: R,
        send: S,
        retry_item: fn(&Error) -> bool,
    ) -> Outcomes<K, T>
    where
        K: Ord + Clone + fmt::Display,
        R: Fn(Vec<K>) -> RF,
        RF: Future<Output = Vec<Result<BrokerId>>>,
        S: Fn(BrokerId, Vec<K>) -> SF,
        SF: Future<Output = Result<Vec<(K, Result<T>)>>>,
    {
        let items = types::dedup(items);
        let deadline = self.deadline();
        let mut backoff = Backoff::new(self.cluster.config().retry_backoff());
        let mut done: BTreeMap<K, Result<T>> = BTreeMap::new();
        let mut pending = items.clone();
        while !pending.is_empty() {
            let routes = route(pending.clone()).await;
            let mut routes = routes.into_iter();
            // (item, result, whether the error is the item's own)
            let mut answered: Vec<(K, Result<T>, bool)> = Vec::new();
            let mut batches: BTreeMap<BrokerId, Vec<K>> = BTreeMap::new();
            for k in pending.drain(..) {
                match routes.next() {
                    Some(Ok(id)) => batches.entry(id).or_default().push(k),
                    Some(Err(e)) => answered.push((k, Err(e), false)),
                    None => answered.push((k, Err(gregor_net::Error::ClusterClosed.into()), false)),
                }
            }
            let sends = batches.into_iter().map(|(id, ks)| {
                let send = &send;
                async move {
                    let result = send(id, ks.clone()).await;
                    (id, ks, result)
                }
            });
            for (id, ks, result) in join_all(sends).await {
                match result {
                    Ok(results) => {
                        let mut results: BTreeMap<K, Result<T>> = results.into_iter().collect();
                        for k in ks {
                            let r = results.remove(&k).unwrap_or_else(|| {
                                Err(Error::Incomplete {
                                    api,
                                    broker: self.broker_addr(id),
                                    item: k.to_string(),
                                })
                            });
                            answered.push((k, r, true));
                        }
                    }
                    Err(e) => answered.extend(ks.into_iter().map(|k| (k, Err(e.clone()), false))),
                }
            }
            let may_retry = !deadline.passed();
            for (k, r, own) in answered {
                if let Err(e) = &r {
                    self.report(e);
                    if may_retry && e.is_retriable() && (!own || retry_item(e)) {
                        tracing::debug!(item = %k, error = %e, "admin item failed; retrying");
                        pending.push(k);
                        continue;
                    }
                }
                done.insert(k, r);
            }
            if !pending.is_empty() {
                tokio::time::sleep(backoff.next_delay().min(deadline.remaining())).await;
            }
        }
        Outcomes::from_items(
            items
                .into_iter()
                .map(|k| {
                    let r = done
                        .remove(&k)
                        .unwrap_or_else(|| Err(gregor_net::Error::ClusterClosed.into()));
                    (k, r)
                })
                .collect(),
        )
    }

    /// The leader of each partition.
    async fn leaders(&self, partitions: Vec<TopicPartition>) -> Vec<Result<BrokerId>> {
        let mut out = Vec::with_capacity(partitions.len());
        for tp in &partitions {
            out.push(
                self.cluster
                    .leader(&tp.topic, tp.partition)
                    .await
                    .map_err(Error::from),
            );
        }
        out
    }

    /// Some broker for requests any broker answers: the controller if
    /// known, else the first broker of the metadata.
    async fn any_broker(&self) -> Result<BrokerId> {
        let mut md = self.cluster.metadata();
        if md.brokers().next().is_none() {
            md = self.cluster.refresh().await?;
        }
        md.controller()
            .or_else(|| md.brokers().next().map(|b| b.id))
            .ok_or_else(|| gregor_net::Error::NoBrokerReachable { tried: Vec::new() }.into())
    }

    /// The pooled connection to broker `id`.
    async fn connection(&self, id: BrokerId) -> Result<Connection> {
        Ok(self.cluster.connection(id).await?)
    }

    /// A label for broker `id` in errors.
    fn broker_addr(&self, id: BrokerId) -> BrokerAddr {
        match self.cluster.metadata().broker(id) {
            Some(b) => b.addr(),
            None => BrokerAddr::new(format!("node {id}")).with_node_id(id.0),
        }
    }
}

/// When an operation must be done by.
#[derive(Debug, Clone, Copy)]
struct Deadline(Instant);

impl Deadline {
    fn passed(&self) -> bool {
        Instant::now() >= self.0
    }

    fn remaining(&self) -> Duration {
        self.0.saturating_duration_since(Instant::now())
    }

    /// The time left as a request's `timeout_ms` (at least 1 ms).
    fn timeout_ms(&self) -> i32 {
        i32::try_from(self.remaining().as_millis())
            .unwrap_or(i32::MAX)
            .max(1)
    }
}

/// Maps a network error, turning "the broker does not have this API"
/// into [`Error::NotSupported`].
pub(crate) fn net(e: gregor_net::Error) -> Error {
    match e {
        gregor_net::Error::UnsupportedVersion {
            broker,
            api,
            requested: None,
            client_versions,
            broker_versions,
        } => Error::NotSupported {
            api,
            broker,
            detail: broker_versions.map(|b| {
                format!(
                    "it speaks versions {}-{}, this client {}-{}",
                    b.min, b.max, client_versions.min, client_versions.max
                )
            }),
        },
        other => Error::Net(other),
    }
}

/// The version of `api` a request on `conn` will use, or
/// [`Error::NotSupported`] if the broker does not offer it.
pub(crate) fn version(conn: &Connection, api: ApiKey) -> Result<i16> {
    conn.version_for(api).ok_or_else(|| Error::NotSupported {
        api,
        broker: conn.broker().clone(),
        detail: conn.api_versions().get(api).map(|b| {
            let ours = gregor_net::client_versions(api);
            format!(
                "it speaks versions {}-{}, this client {}-{}",
                b.min, b.max, ours.min, ours.max
            )
        }),
    })
}

/// [`Error::NotSupported`] for a feature that needs `api` at version `min`
/// when `conn` negotiated `have`.
pub(crate) fn need_version(
    conn: &Connection,
    api: ApiKey,
    have: i16,
    min: i16,
    feature: &str,
) -> Result<()> {
    if have >= min {
        return Ok(());
    }
    Err(Error::NotSupported {
        api,
        broker: conn.broker().clone(),
        detail: Some(format!(
            "{feature} needs version {min} or later, and the broker speaks at most {have}"
        )),
    })
}

/// The error for a response's error `code` (with the broker's message),
/// or `Ok` for none.
pub(crate) fn code_result(
    broker: &BrokerAddr,
    api: ApiKey,
    code: i16,
    message: Option<&StrBytes>,
) -> std::result::Result<(), gregor_net::Error> {
    gregor_net::Error::check_code(broker, api, code)
        .map_err(|e| e.with_message(message.map(|m| m.as_str().to_owned())))
}

/// Whether `code` means the request went to the wrong coordinator or
/// controller and must be routed again.
pub(crate) fn is_routing_code(code: i16) -> bool {
    matches!(
        ErrorCode::from_code(code),
        ErrorCode::NotController
            | ErrorCode::NotCoordinator
            | ErrorCode::CoordinatorNotAvailable
            | ErrorCode::CoordinatorLoadInProgress
    )
}

/// Every one of `keys` failed with `err`.
pub(crate) fn all_failed<K: Clone, T>(keys: &[K], err: &Error) -> Outcomes<K, T> {
    Outcomes::from_items(keys.iter().map(|k| (k.clone(), Err(err.clone()))).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_api_maps_to_not_supported_naming_api_and_broker() {
        let e = net(gregor_net::Error::UnsupportedVersion {
            broker: BrokerAddr::new("k1:9092").with_node_id(1),
            api: ApiKey::CreatePartitions,
            requested: None,
            client_versions: gregor_net::client_versions(ApiKey::CreatePartitions),
            broker_versions: None,
        });
        assert!(matches!(
            e,
            Error::NotSupported {
                api: ApiKey::CreatePartitions,
                ..
            }
        ));
        let text = e.to_string();
        assert!(text.contains("CreatePartitions"), "{text}");
        assert!(text.contains("k1:9092"), "{text}");
        assert!(text.contains("not supported"), "{text}");
        assert!(!e.is_retriable());
    }

    #[test]
    fn admin_futures_are_send() {
        fn send<T: Send>(_: T) {}
        fn check(admin: &Admin) {
            let tp = TopicPartition::new("t", 0);
            send(admin.create_topics(&[]));
            send(admin.validate_topics(&[]));
            send(admin.delete_topics(&["t"]));
            send(admin.create_partitions(&[]));
            send(admin.list_topics(false));
            send(admin.describe_topics(&["t"]));
            send(admin.describe_cluster());
            send(admin.describe_configs(&[]));
            send(admin.alter_configs(&[]));
            send(admin.list_groups(&GroupFilter::default()));
            send(admin.describe_groups(&["g"]));
            send(admin.delete_groups(&["g"]));
            send(admin.list_group_offsets("g"));
            send(admin.list_group_offsets_for("g", std::slice::from_ref(&tp)));
            send(admin.alter_group_offsets("g", &[]));
            send(admin.delete_group_offsets("g", &[]));
            send(admin.lag("g"));
            send(admin.list_offsets(&[]));
            send(admin.delete_records(&[]));
            send(admin.create_acls(&[]));
            send(admin.describe_acls(&AclFilter::any()));
            send(admin.delete_acls(&[]));
            send(admin.describe_user_scram_credentials(&["u"]));
            send(admin.alter_user_scram_credentials(&[]));
        }
        let _ = check;
    }

    #[tokio::test]
    async fn batches_per_broker_and_retries_only_the_items_that_can_succeed() {
        use std::sync::Mutex;

        let config = ClusterConfig::builder()
            .bootstrap_servers(["127.0.0.1:1"])
            .retry_backoff(Duration::from_millis(1), Duration::from_millis(5))
            .build()
            .unwrap();
        let admin = Admin::new(Cluster::new(config)).with_timeout(Duration::from_secs(5));
        let broker = BrokerAddr::new("k1:9092").with_node_id(1);
        let code = |c: ErrorCode| -> Error {
            gregor_net::Error::Broker {
                broker: broker.clone(),
                code: c,
                api: ApiKey::DescribeGroups,
                topic: None,
                partition: None,
                message: None,
            }
            .into()
        };
        let calls: Mutex<Vec<(BrokerId, Vec<String>)>> = Mutex::new(Vec::new());
        let items: Vec<String> = ["a", "b", "c", "d", "a"].map(String::from).to_vec();
        let out = admin
            .batched(
                ApiKey::DescribeGroups,
                items,
                |ks| async move {
                    ks.iter()
                        .map(|k| Ok(BrokerId(if k.as_str() < "c" { 1 } else { 2 })))
                        .collect()
                },
                |id, ks: Vec<String>| {
                    let (calls, code) = (&calls, &code);
                    async move {
                        let first = !calls
                            .lock()
                            .unwrap()
                            .iter()
                            .any(|(_, c)| c.contains(&"a".to_owned()));
                        calls.lock().unwrap().push((id, ks.clone()));
                        Ok(ks
                            .into_iter()
                            .filter(|k| k != "c")
                            .map(|k| {
                                let r = match k.as_str() {
                                    "a" if first => Err(code(ErrorCode::NotCoordinator)),
                                    "b" => Err(code(ErrorCode::GroupAuthorizationFailed)),
                                    _ => Ok(k.len()),
                                };
                                (k, r)
                            })
                            .collect())
                    }
                },
                Error::is_retriable,
            )
            .await;
        let keys: Vec<&String> = out.iter().map(|(k, _)| k).collect();
        assert_eq!(keys, ["a", "b", "c", "d"]);
        assert_eq!(*out.get("a").unwrap().as_ref().unwrap(), 1);
        assert!(out.get("b").unwrap().is_err());
        assert!(matches!(
            out.get("c").unwrap(),
            Err(Error::Incomplete { .. })
        ));
        assert_eq!(*out.get("d").unwrap().as_ref().unwrap(), 1);
        let calls = calls.into_inner().unwrap();
        // One batch per broker, then "a" alone again after NOT_COORDINATOR.
        assert_eq!(calls.len(), 3, "{calls:?}");
        assert!(calls.contains(&(BrokerId(1), vec!["a".into(), "b".into()])));
        assert!(calls.contains(&(BrokerId(2), vec!["c".into(), "d".into()])));
        assert_eq!(calls[2], (BrokerId(1), vec!["a".into()]));
    }
}
