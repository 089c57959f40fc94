//! Topics and the cluster: CreateTopics, DeleteTopics, CreatePartitions,
//! Metadata and DescribeCluster.

use std::collections::BTreeMap;

use gregor_net::{BrokerAddr, Connection};
use gregor_protocol::messages::create_partitions_request::{
    CreatePartitionsAssignment, CreatePartitionsTopic,
};
use gregor_protocol::messages::create_topics_request::{
    CreatableReplicaAssignment, CreatableTopic, CreatableTopicConfig,
};
use gregor_protocol::messages::create_topics_response::CreatableTopicResult;
use gregor_protocol::messages::delete_topics_request::DeleteTopicState;
use gregor_protocol::messages::metadata_request::MetadataRequestTopic;
use gregor_protocol::messages::metadata_response::MetadataResponseTopic;
use gregor_protocol::messages::{
    CreatePartitionsRequest, CreateTopicsRequest, DeleteTopicsRequest, DescribeClusterRequest,
    MetadataRequest, MetadataResponse,
};
use gregor_protocol::{ApiKey, ErrorCode, Uuid};

use super::configs::created_entry;
use super::{
    Admin, BrokerId, BrokerMetadata, ConfigEntry, Outcomes, all_failed, code_result, need_version,
    net, types, version,
};
use crate::{Error, Result};

/// A topic to create.
///
/// ```
/// use gregor_client::admin::{BrokerId, NewTopic};
///
/// let orders = NewTopic::new("orders", 6, 3).with_config("cleanup.policy", "compact");
/// let defaults = NewTopic::with_defaults("events"); // the broker's partitions and replicas
/// let placed = NewTopic::with_defaults("audit")
///     .with_assignment(0, [BrokerId(1), BrokerId(2)])
///     .with_assignment(1, [BrokerId(2), BrokerId(3)]);
/// # let _ = (orders, defaults, placed);
/// ```
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewTopic {
    /// Its name.
    pub name: String,
    /// How many partitions; `None` for the broker's default.
    pub partitions: Option<i32>,
    /// How many replicas of each partition; `None` for the broker's
    /// default.
    pub replication_factor: Option<i16>,
    /// Explicit replica placement, by partition; when given, `partitions`
    /// and `replication_factor` are not sent.
    pub assignments: BTreeMap<i32, Vec<BrokerId>>,
    /// Configs to set on it.
    pub configs: BTreeMap<String, String>,
}

impl NewTopic {
    /// A topic with `partitions` partitions of `replication_factor` replicas.
    pub fn new(name: impl Into<String>, partitions: i32, replication_factor: i16) -> Self {
        NewTopic {
            name: name.into(),
            partitions: Some(partitions),
            replication_factor: Some(replication_factor),
            assignments: BTreeMap::new(),
            configs: BTreeMap::new(),
        }
    }

    /// A topic with the broker's default partitions and replication factor
    /// (CreateTopics v4+).
    pub fn with_defaults(name: impl Into<String>) -> Self {
        NewTopic {
            partitions: None,
            replication_factor: None,
            ..NewTopic::new(name, 0, 0)
        }
    }

    /// Sets config `name` to `value`.
    #[must_use]
    pub fn with_config(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.configs.insert(name.into(), value.into());
        self
    }

    /// Places partition `partition` on `replicas`, the first preferred as
    /// leader.
    #[must_use]
    pub fn with_assignment(
        mut self,
        partition: i32,
        replicas: impl IntoIterator<Item = BrokerId>,
    ) -> Self {
        self.assignments
            .insert(partition, replicas.into_iter().collect());
        self
    }

    fn wire(&self) -> CreatableTopic {
        let manual = !self.assignments.is_empty();
        CreatableTopic::default()
            .with_name(self.name.as_str())
            .with_num_partitions(if manual {
                -1
            } else {
                self.partitions.unwrap_or(-1)
            })
            .with_replication_factor(if manual {
                -1
            } else {
                self.replication_factor.unwrap_or(-1)
            })
            .with_assignments(
                self.assignments
                    .iter()
                    .map(|(p, replicas)| {
                        CreatableReplicaAssignment::default()
                            .with_partition_index(*p)
                            .with_broker_ids(replicas.iter().map(|b| b.0).collect())
                    })
                    .collect(),
            )
            .with_configs(
                self.configs
                    .iter()
                    .map(|(k, v)| {
                        CreatableTopicConfig::default()
                            .with_name(k.as_str())
                            .with_value(Some(v.as_str().into()))
                    })
                    .collect(),
            )
    }

    fn uses_broker_defaults(&self) -> bool {
        self.assignments.is_empty()
            && (self.partitions.is_none() || self.replication_factor.is_none())
    }
}

/// A topic as CreateTopics reported it. Brokers before CreateTopics v5
/// report nothing but success, so the fields are then empty.
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CreatedTopic {
    /// Its id (CreateTopics v7+).
    pub id: Option<Uuid>,
    /// Its partitions (v5+).
    pub partitions: Option<i32>,
    /// Its replication factor (v5+).
    pub replication_factor: Option<i16>,
    /// Its configs, defaults included (v5+).
    pub configs: Vec<ConfigEntry>,
}

/// Partitions to add to a topic.
///
/// ```
/// use gregor_client::admin::{BrokerId, NewPartitions};
///
/// let grow = NewPartitions::increase_to("orders", 12);
/// let placed = NewPartitions::increase_to("audit", 3)
///     .with_assignments(vec![vec![BrokerId(1)], vec![BrokerId(2)]]);
/// # let _ = (grow, placed);
/// ```
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewPartitions {
    /// The topic.
    pub topic: String,
    /// How many partitions it is to have in all.
    pub total: i32,
    /// The replicas of each new partition, if not left to the broker.
    pub assignments: Option<Vec<Vec<BrokerId>>>,
}

impl NewPartitions {
    /// Grows `topic` to `total` partitions.
    pub fn increase_to(topic: impl Into<String>, total: i32) -> Self {
        NewPartitions {
            topic: topic.into(),
            total,
            assignments: None,
        }
    }

    /// Places the new partitions: one replica list per new partition.
    #[must_use]
    pub fn with_assignments(mut self, assignments: Vec<Vec<BrokerId>>) -> Self {
        self.assignments = Some(assignments);
        self
    }
}

/// A topic and its partitions, from the cluster metadata.
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopicDescription {
    /// Its name.
    pub name: String,
    /// Its id (Metadata v10+).
    pub id: Option<Uuid>,
    /// Whether it is internal (`__consumer_offsets`, ...).
    pub internal: bool,
    /// Its partitions, by index.
    pub partitions: Vec<PartitionDescription>,
}

/// One partition of a [`TopicDescription`].
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartitionDescription {
    /// Its index.
    pub partition: i32,
    /// Its leader, if it has one.
    pub leader: Option<BrokerId>,
    /// The leader epoch (Metadata v7+).
    pub leader_epoch: Option<i32>,
    /// Its replicas.
    pub replicas: Vec<BrokerId>,
    /// Its in-sync replicas.
    pub isr: Vec<BrokerId>,
    /// Its offline replicas.
    pub offline: Vec<BrokerId>,
}

/// The cluster: its id, controller and brokers.
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClusterDescription {
    /// The cluster id.
    pub cluster_id: Option<String>,
    /// The controller (in KRaft clusters, the broker that forwards to it).
    pub controller: Option<BrokerId>,
    /// Every broker with its address and rack, by id.
    pub brokers: Vec<BrokerMetadata>,
}

/// What CreateTopics did with each topic.
pub type CreateTopicsResult = Outcomes<String, CreatedTopic>;
/// Whether each topic was deleted.
pub type DeleteTopicsResult = Outcomes<String, ()>;
/// Whether each topic got its partitions.
pub type CreatePartitionsResult = Outcomes<String, ()>;
/// Each topic's description.
pub type DescribeTopicsResult = Outcomes<String, TopicDescription>;

impl Admin {
    /// Creates `topics` at the controller, each succeeding or failing on
    /// its own (`TOPIC_ALREADY_EXISTS`, `INVALID_REPLICATION_FACTOR`, ...).
    ///
    /// ```no_run
    /// # use gregor_client::admin::{Admin, NewTopic};
    /// # async fn demo(admin: Admin) -> gregor_client::Result<()> {
    /// let result = admin.create_topics(&[NewTopic::new("orders", 3, 1)]).await;
    /// let created = result.into_result()?;
    /// println!("{:?}", created[0].1.partitions);
    /// # Ok(())
    /// # }
    /// ```
    pub async fn create_topics(&self, topics: &[NewTopic]) -> CreateTopicsResult {
        self.create(topics, false).await
    }

    /// Asks the controller whether `topics` could be created as given,
    /// creating nothing (CreateTopics `validate_only`, v1+).
    pub async fn validate_topics(&self, topics: &[NewTopic]) -> CreateTopicsResult {
        self.create(topics, true).await
    }

    async fn create(&self, topics: &[NewTopic], validate_only: bool) -> CreateTopicsResult {
        let names = types::dedup(topics.iter().map(|t| t.name.clone()));
        let topics: Vec<&NewTopic> = names
            .iter()
            .filter_map(|n| topics.iter().find(|t| &t.name == n))
            .collect();
        if topics.is_empty() {
            return Outcomes::default();
        }
        let deadline = self.deadline();
        let topics = &topics;
        let sent = self
            .retry(deadline, || async move {
                let conn = self.cluster.controller_connection().await?;
                let v = version(&conn, ApiKey::CreateTopics)?;
                if validate_only {
                    need_version(&conn, ApiKey::CreateTopics, v, 1, "validate-only creation")?;
                }
                if topics.iter().any(|t| t.uses_broker_defaults()) {
                    need_version(
                        &conn,
                        ApiKey::CreateTopics,
                        v,
                        4,
                        "the broker's default partitions or replication factor",
                    )?;
                }
                let mut req = CreateTopicsRequest::default()
                    .with_topics(topics.iter().map(|t| t.wire()).collect())
                    .with_timeout_ms(deadline.timeout_ms());
                if validate_only {
                    req = req.with_validate_only(true);
                }
                let resp = conn.send(&req).await.map_err(net)?;
                reroute_on_not_controller(
                    &conn,
                    ApiKey::CreateTopics,
                    resp.topics.iter().map(|t| t.error_code),
                )?;
                Ok((conn.broker().clone(), resp.topics))
            })
            .await;
        let (broker, results) = match sent {
            Ok(r) => r,
            Err(e) => return all_failed(&names, &e),
        };
        Outcomes::from_items(
            names
                .into_iter()
                .map(|name| {
                    let r = match results.iter().find(|t| t.name.as_str() == name) {
                        Some(t) => created_topic(&broker, t),
                        None => Err(Error::Incomplete {
                            api: ApiKey::CreateTopics,
                            broker: broker.clone(),
                            item: format!("topic {name}"),
                        }),
                    };
                    (name, r)
                })
                .collect(),
        )
    }

    /// Deletes `topics` at the controller.
    ///
    /// ```no_run
    /// # async fn demo(admin: gregor_client::admin::Admin) -> gregor_client::Result<()> {
    /// admin.delete_topics(&["orders", "events"]).await.into_result()?;
    /// # Ok(())
    /// # }
    /// ```
    pub async fn delete_topics<S: AsRef<str>>(&self, topics: &[S]) -> DeleteTopicsResult {
        let names = types::dedup(topics.iter().map(|t| t.as_ref().to_owned()));
        if names.is_empty() {
            return Outcomes::default();
        }
        let deadline = self.deadline();
        let wanted = &names;
        let sent = self
            .retry(deadline, || async move {
                let conn = self.cluster.controller_connection().await?;
                let v = version(&conn, ApiKey::DeleteTopics)?;
                let mut req = DeleteTopicsRequest::default().with_timeout_ms(deadline.timeout_ms());
                req = if v >= 6 {
                    req.with_topics(
                        wanted
                            .iter()
                            .map(|n| DeleteTopicState::default().with_name(Some(n.as_str().into())))
                            .collect(),
                    )
                } else {
                    req.with_topic_names(wanted.iter().map(|n| n.as_str().into()).collect())
                };
                let resp = conn.send(&req).await.map_err(net)?;
                reroute_on_not_controller(
                    &conn,
                    ApiKey::DeleteTopics,
                    resp.responses.iter().map(|t| t.error_code),
                )?;
                Ok((conn.broker().clone(), resp.responses))
            })
            .await;
        let (broker, results) = match sent {
            Ok(r) => r,
            Err(e) => return all_failed(&names, &e),
        };
        Outcomes::from_items(
            names
                .into_iter()
                .map(|name| {
                    let found = results
                        .iter()
                        .find(|t| t.name.as_deref() == Some(name.as_str()));
                    let r = match found {
                        Some(t) => code_result(
                            &broker,
                            ApiKey::DeleteTopics,
                            t.error_code,
                            t.error_message.as_ref(),
                        )
                        .map_err(|e| e.with_topic(name.as_str()).into()),
                        None => Err(Error::Incomplete {
                            api: ApiKey::DeleteTopics,
                            broker: broker.clone(),
                            item: format!("topic {name}"),
                        }),
                    };
                    (name, r)
                })
                .collect(),
        )
    }

    /// Grows topics to more partitions, at the controller. A broker without
    /// CreatePartitions gives every topic [`Error::NotSupported`].
    ///
    /// ```no_run
    /// # use gregor_client::admin::{Admin, NewPartitions};
    /// # async fn demo(admin: Admin) -> gregor_client::Result<()> {
    /// admin.create_partitions(&[NewPartitions::increase_to("orders", 6)]).await.into_result()?;
    /// # Ok(())
    /// # }
    /// ```
    pub async fn create_partitions(&self, topics: &[NewPartitions]) -> CreatePartitionsResult {
        let names = types::dedup(topics.iter().map(|t| t.topic.clone()));
        let topics: Vec<&NewPartitions> = names
            .iter()
            .filter_map(|n| topics.iter().find(|t| &t.topic == n))
            .collect();
        if topics.is_empty() {
            return Outcomes::default();
        }
        let deadline = self.deadline();
        let topics = &topics;
        let sent = self
            .retry(deadline, || async move {
                let conn = self.cluster.controller_connection().await?;
                version(&conn, ApiKey::CreatePartitions)?;
                let req = CreatePartitionsRequest::default()
                    .with_topics(
                        topics
                            .iter()
                            .map(|t| {
                                CreatePartitionsTopic::default()
                                    .with_name(t.topic.as_str())
                                    .with_count(t.total)
                                    .with_assignments(t.assignments.as_ref().map(|a| {
                                        a.iter()
                                            .map(|r| {
                                                CreatePartitionsAssignment::default()
                                                    .with_broker_ids(
                                                        r.iter().map(|b| b.0).collect(),
                                                    )
                                            })
                                            .collect()
                                    }))
                            })
                            .collect(),
                    )
                    .with_timeout_ms(deadline.timeout_ms());
                let resp = conn.send(&req).await.map_err(net)?;
                reroute_on_not_controller(
                    &conn,
                    ApiKey::CreatePartitions,
                    resp.results.iter().map(|t| t.error_code),
                )?;
                Ok((conn.broker().clone(), resp.results))
            })
            .await;
        let (broker, results) = match sent {
            Ok(r) => r,
            Err(e) => return all_failed(&names, &e),
        };
        Outcomes::from_items(
            names
                .into_iter()
                .map(|name| {
                    let r = match results.iter().find(|t| t.name.as_str() == name) {
                        Some(t) => code_result(
                            &broker,
                            ApiKey::CreatePartitions,
                            t.error_code,
                            t.error_message.as_ref(),
                        )
                        .map_err(|e| e.with_topic(name.as_str()).into()),
                        None => Err(Error::Incomplete {
                            api: ApiKey::CreatePartitions,
                            broker: broker.clone(),
                            item: format!("topic {name}"),
                        }),
                    };
                    (name, r)
                })
                .collect(),
        )
    }

    /// Every topic of the cluster with its partitions, sorted by name;
    /// internal topics only if `include_internal`.
    ///
    /// ```no_run
    /// # async fn demo(admin: gregor_client::admin::Admin) -> gregor_client::Result<()> {
    /// for t in admin.list_topics(false).await? {
    ///     println!("{} {:?}", t.name, t.partitions.iter().map(|p| p.leader).collect::<Vec<_>>());
    /// }
    /// # Ok(())
    /// # }
    /// ```
    ///
    /// # Errors
    ///
    /// The Metadata request's, after retrying until the timeout.
    pub async fn list_topics(&self, include_internal: bool) -> Result<Vec<TopicDescription>> {
        let deadline = self.deadline();
        let resp = self
            .retry(deadline, || async {
                let conn = self.cluster.any_connection().await?;
                metadata(&conn, None).await
            })
            .await?;
        let mut topics: Vec<TopicDescription> = resp
            .topics
            .iter()
            .filter(|t| include_internal || !t.is_internal)
            .filter(|t| {
                !matches!(
                    ErrorCode::from_code(t.error_code),
                    ErrorCode::UnknownTopicOrPartition | ErrorCode::TopicAuthorizationFailed
                )
            })
            .filter_map(topic_description)
            .collect();
        topics.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(topics)
    }

    /// The partitions of `topics`, without creating any that do not exist
    /// (those fail with `UNKNOWN_TOPIC_OR_PARTITION`).
    pub async fn describe_topics<S: AsRef<str>>(&self, topics: &[S]) -> DescribeTopicsResult {
        let names = types::dedup(topics.iter().map(|t| t.as_ref().to_owned()));
        if names.is_empty() {
            return Outcomes::default();
        }
        let deadline = self.deadline();
        let wanted = &names;
        let sent = self
            .retry(deadline, || async move {
                let conn = self.cluster.any_connection().await?;
                let resp = metadata(&conn, Some(wanted)).await?;
                Ok((conn.broker().clone(), resp))
            })
            .await;
        let (broker, resp) = match sent {
            Ok(r) => r,
            Err(e) => return all_failed(&names, &e),
        };
        Outcomes::from_items(
            names
                .into_iter()
                .map(|name| {
                    let found = resp
                        .topics
                        .iter()
                        .find(|t| t.name.as_deref() == Some(name.as_str()));
                    let r = match found {
                        Some(t) => code_result(&broker, ApiKey::Metadata, t.error_code, None)
                            .map_err(|e| Error::from(e.with_topic(name.as_str())))
                            .and_then(|()| {
                                topic_description(t).ok_or_else(|| Error::Incomplete {
                                    api: ApiKey::Metadata,
                                    broker: broker.clone(),
                                    item: format!("topic {name}"),
                                })
                            }),
                        None => Err(Error::Incomplete {
                            api: ApiKey::Metadata,
                            broker: broker.clone(),
                            item: format!("topic {name}"),
                        }),
                    };
                    (name, r)
                })
                .collect(),
        )
    }

    /// The cluster id, the controller and every broker with its rack, from
    /// DescribeCluster (or Metadata where the broker lacks it).
    ///
    /// # Errors
    ///
    /// The request's, after retrying until the timeout.
    pub async fn describe_cluster(&self) -> Result<ClusterDescription> {
        self.retry(self.deadline(), || async {
            let conn = self.cluster.any_connection().await?;
            if conn.version_for(ApiKey::DescribeCluster).is_none() {
                let md = metadata(&conn, Some(&[])).await?;
                let mut brokers: Vec<BrokerMetadata> = md
                    .brokers
                    .iter()
                    .map(|b| broker_of(b.node_id, b.host.as_str(), b.port, b.rack.as_deref()))
                    .collect();
                brokers.sort_by_key(|b| b.id);
                return Ok(ClusterDescription {
                    cluster_id: md.cluster_id.map(|c| c.to_string()),
                    controller: (md.controller_id >= 0).then_some(BrokerId(md.controller_id)),
                    brokers,
                });
            }
            let resp = conn
                .send(&DescribeClusterRequest::default())
                .await
                .map_err(net)?;
            code_result(
                conn.broker(),
                ApiKey::DescribeCluster,
                resp.error_code,
                resp.error_message.as_ref(),
            )?;
            let mut brokers: Vec<BrokerMetadata> = resp
                .brokers
                .iter()
                .map(|b| broker_of(b.broker_id, b.host.as_str(), b.port, b.rack.as_deref()))
                .collect();
            brokers.sort_by_key(|b| b.id);
            Ok(ClusterDescription {
                cluster_id: Some(resp.cluster_id.to_string()).filter(|c| !c.is_empty()),
                controller: (resp.controller_id >= 0).then_some(BrokerId(resp.controller_id)),
                brokers,
            })
        })
        .await
    }
}

/// A Metadata request on `conn` for `topics` (`None`: every topic), never
/// creating topics where the version lets the client say so.
async fn metadata(conn: &Connection, topics: Option<&[String]>) -> Result<MetadataResponse> {
    let v = version(conn, ApiKey::Metadata)?;
    let topics = match topics {
        Some(names) => Some(
            names
                .iter()
                .map(|n| MetadataRequestTopic::default().with_name(Some(n.as_str().into())))
                .collect(),
        ),
        // v0 has no null: an empty list means every topic.
        None if v == 0 => Some(Vec::new()),
        None => None,
    };
    let mut req = MetadataRequest::default().with_topics(topics);
    if v >= 4 {
        req = req.with_allow_auto_topic_creation(false);
    }
    conn.send(&req).await.map_err(net)
}

/// An error for the first `NOT_CONTROLLER` among `codes`: the controller
/// moved, so the whole request is retried at the new one.
fn reroute_on_not_controller(
    conn: &Connection,
    api: ApiKey,
    mut codes: impl Iterator<Item = i16>,
) -> Result<()> {
    match codes.find(|c| ErrorCode::from_code(*c) == ErrorCode::NotController) {
        Some(code) => Ok(code_result(conn.broker(), api, code, None)?),
        None => Ok(()),
    }
}

fn created_topic(broker: &BrokerAddr, t: &CreatableTopicResult) -> Result<CreatedTopic> {
    code_result(
        broker,
        ApiKey::CreateTopics,
        t.error_code,
        t.error_message.as_ref(),
    )
    .map_err(|e| e.with_topic(t.name.as_str()))?;
    Ok(CreatedTopic {
        id: Some(t.topic_id).filter(|id| !id.is_zero()),
        partitions: (t.num_partitions >= 0).then_some(t.num_partitions),
        replication_factor: (t.replication_factor >= 0).then_some(t.replication_factor),
        configs: t
            .configs
            .iter()
            .flatten()
            .map(|c| {
                created_entry(
                    c.name.as_str(),
                    c.value.as_deref(),
                    c.read_only,
                    c.config_source,
                    c.is_sensitive,
                )
            })
            .collect(),
    })
}

fn topic_description(t: &MetadataResponseTopic) -> Option<TopicDescription> {
    let ids = |v: &[i32]| v.iter().map(|&b| BrokerId(b)).collect::<Vec<_>>();
    let mut partitions: Vec<PartitionDescription> = t
        .partitions
        .iter()
        .map(|p| PartitionDescription {
            partition: p.partition_index,
            leader: (p.leader_id >= 0).then_some(BrokerId(p.leader_id)),
            leader_epoch: (p.leader_epoch >= 0).then_some(p.leader_epoch),
            replicas: ids(&p.replica_nodes),
            isr: ids(&p.isr_nodes),
            offline: ids(&p.offline_replicas),
        })
        .collect();
    partitions.sort_by_key(|p| p.partition);
    Some(TopicDescription {
        name: t.name.as_deref()?.to_owned(),
        id: Some(t.topic_id).filter(|id| !id.is_zero()),
        internal: t.is_internal,
        partitions,
    })
}

fn broker_of(id: i32, host: &str, port: i32, rack: Option<&str>) -> BrokerMetadata {
    let mut b = BrokerMetadata::new(BrokerId(id), host, port);
    b.rack = rack.map(str::to_owned);
    b
}
