//! Cluster questions and topic admin: Metadata, CreateTopics, DeleteTopics.

use gregor_protocol::messages::create_topics_request::{CreatableTopic, CreatableTopicConfig};
use gregor_protocol::messages::delete_topics_request::DeleteTopicState;
use gregor_protocol::messages::metadata_request::MetadataRequestTopic;
use gregor_protocol::messages::metadata_response::MetadataResponseTopic;
use gregor_protocol::messages::{
    CreateTopicsRequest, DeleteTopicsRequest, MetadataRequest, MetadataResponse,
};
use gregor_protocol::{ApiKey, ErrorCode, StrBytes};

use super::{Broker, Budget, Conn, Partition, TopicConfig, check_code};
use crate::{BrokerAddr, Connection, Error, Result};

/// The first DeleteTopics version that takes topics as structs (name or
/// id) rather than a list of names.
const DELETE_TOPICS_BY_STATE: i16 = 6;

impl Conn {
    /// The partitions of `topics`, from one Metadata request to this
    /// broker. With no topics it lists the bound topic's partitions, or
    /// every topic's when unbound (like kafka-go). Topics are never created
    /// by asking. Cancel-safe.
    ///
    /// # Errors
    ///
    /// [`Error::Broker`] naming the topic when one is unknown
    /// (`UNKNOWN_TOPIC_OR_PARTITION`) or not authorized; request errors;
    /// [`Error::Timeout`] past the read timeout.
    pub async fn read_partitions(&self, topics: &[&str]) -> Result<Vec<Partition>> {
        let bound;
        let topics = match (topics, &self.target) {
            ([], Some(target)) => {
                bound = [&*target.topic];
                Some(&bound[..])
            }
            ([], None) => None,
            (topics, _) => Some(topics),
        };
        let md = self.metadata(topics).await?;
        let mut partitions = Vec::new();
        for topic in &md.topics {
            let name = topic_name(topic);
            check_code(
                self.broker(),
                ApiKey::Metadata,
                topic.error_code,
                name,
                None,
                None,
            )?;
            partitions.extend(topic_partitions(&md, topic));
        }
        Ok(partitions)
    }

    /// The brokers of the cluster, from one Metadata request that asks for
    /// no topics. Cancel-safe.
    ///
    /// # Errors
    ///
    /// Request errors; [`Error::Timeout`] past the read timeout.
    pub async fn brokers(&self) -> Result<Vec<Broker>> {
        let md = self.metadata(Some(&[])).await?;
        Ok(md.brokers.iter().map(broker_of).collect())
    }

    /// The cluster's controller, from one Metadata request. KRaft clusters
    /// name a broker here (any of them forwards admin requests), as Kafka
    /// itself does. Cancel-safe.
    ///
    /// # Errors
    ///
    /// [`Error::NoController`] (retriable) when the broker names no
    /// controller or one it does not list; request errors.
    pub async fn controller(&self) -> Result<Broker> {
        let md = self.metadata(Some(&[])).await?;
        md.brokers
            .iter()
            .find(|b| b.node_id == md.controller_id)
            .map(broker_of)
            .ok_or_else(|| Error::NoController {
                broker: self.broker().clone(),
            })
    }

    /// Creates `topics` with one CreateTopics request to this broker; a
    /// topic that exists already is left as it is and not an error (as in
    /// kafka-go). Old clusters accept it only at the controller
    /// (`NOT_CONTROLLER`; see [`controller`](Self::controller)). The broker
    /// may take up to the time left of the read timeout (or the request
    /// timeout). Cancel-safe, but a cancelled creation may still happen.
    ///
    /// # Errors
    ///
    /// [`Error::Broker`] naming the first topic that failed, with the
    /// broker's message (`INVALID_REPLICATION_FACTOR`,
    /// `INVALID_TOPIC_EXCEPTION`, ...); request errors.
    pub async fn create_topics(&self, topics: &[TopicConfig]) -> Result<()> {
        if topics.is_empty() {
            return Ok(());
        }
        let budget = Budget::new(self.read_timeout);
        let creatable = topics
            .iter()
            .map(|t| {
                CreatableTopic::default()
                    .with_name(t.name.as_str())
                    .with_num_partitions(t.partitions)
                    .with_replication_factor(t.replication_factor)
                    .with_configs(
                        t.configs
                            .iter()
                            .map(|(k, v)| {
                                CreatableTopicConfig::default()
                                    .with_name(k.as_str())
                                    .with_value(Some(v.as_str().into()))
                            })
                            .collect(),
                    )
            })
            .collect();
        let request = CreateTopicsRequest::default()
            .with_topics(creatable)
            .with_timeout_ms(super::millis_i32(budget.remaining(self.request_timeout())));
        let response = budget
            .run(
                self.broker(),
                ApiKey::CreateTopics,
                self.connection.send(&request),
            )
            .await?;
        for t in &response.topics {
            if ErrorCode::from_code(t.error_code) == ErrorCode::TopicAlreadyExists {
                continue;
            }
            check_code(
                self.broker(),
                ApiKey::CreateTopics,
                t.error_code,
                &t.name,
                None,
                t.error_message.as_deref(),
            )?;
        }
        Ok(())
    }

    /// Deletes the topics named with one DeleteTopics request to this
    /// broker (by name, whatever the version). The broker may take up to
    /// the time left of the read timeout (or the request timeout).
    /// Cancel-safe, but a cancelled deletion may still happen.
    ///
    /// # Errors
    ///
    /// [`Error::Broker`] naming the first topic that failed
    /// (`UNKNOWN_TOPIC_OR_PARTITION` when it does not exist); request
    /// errors.
    pub async fn delete_topics(&self, names: &[&str]) -> Result<()> {
        if names.is_empty() {
            return Ok(());
        }
        let budget = Budget::new(self.read_timeout);
        let mut request = DeleteTopicsRequest::default()
            .with_timeout_ms(super::millis_i32(budget.remaining(self.request_timeout())));
        // v6 names topics in structs (name or id) and ignores the old name
        // list; earlier versions have only the list, and refuse structs.
        let by_state = self
            .connection
            .version_for(ApiKey::DeleteTopics)
            .is_some_and(|v| v >= DELETE_TOPICS_BY_STATE);
        if by_state {
            request = request.with_topics(
                names
                    .iter()
                    .map(|n| DeleteTopicState::default().with_name(Some(StrBytes::from(*n))))
                    .collect(),
            );
        } else {
            request = request.with_topic_names(names.iter().map(|n| StrBytes::from(*n)).collect());
        }
        let response = budget
            .run(
                self.broker(),
                ApiKey::DeleteTopics,
                self.connection.send(&request),
            )
            .await?;
        for t in &response.responses {
            check_code(
                self.broker(),
                ApiKey::DeleteTopics,
                t.error_code,
                t.name.as_deref().unwrap_or("(unnamed)"),
                None,
                t.error_message.as_deref(),
            )?;
        }
        Ok(())
    }

    /// One Metadata request for `topics` (`None`: all), bounded by the read
    /// timeout.
    async fn metadata(&self, topics: Option<&[&str]>) -> Result<MetadataResponse> {
        let budget = Budget::new(self.read_timeout);
        budget
            .run(
                self.broker(),
                ApiKey::Metadata,
                metadata(&self.connection, topics),
            )
            .await
    }
}

/// One Metadata request for `topics` (`None`: all), never creating topics.
async fn metadata(connection: &Connection, topics: Option<&[&str]>) -> Result<MetadataResponse> {
    let request = MetadataRequest::default()
        .with_allow_auto_topic_creation(false)
        .with_topics(topics.map(|names| {
            names
                .iter()
                .map(|n| MetadataRequestTopic::default().with_name(Some(StrBytes::from(*n))))
                .collect()
        }));
    connection.send(&request).await
}

/// Finds `topic` partition `partition` with a Metadata request on
/// `connection`.
///
/// A partition-level error fails the lookup only when it leaves the
/// partition without a leader: `REPLICA_NOT_AVAILABLE` with a leader still
/// serves reads and writes.
pub(super) async fn lookup_partition(
    connection: &Connection,
    topic: &str,
    partition: i32,
) -> Result<Partition> {
    let broker = connection.broker();
    let md = metadata(connection, Some(&[topic])).await?;
    let found = md
        .topics
        .iter()
        .find(|t| topic_name(t) == topic)
        .ok_or_else(|| Error::UnknownTopic {
            broker: broker.clone(),
            topic: topic.to_owned(),
        })?;
    // The broker's own code (UNKNOWN_TOPIC_OR_PARTITION, an authorization
    // failure) says most.
    check_code(
        broker,
        ApiKey::Metadata,
        found.error_code,
        topic,
        Some(partition),
        None,
    )?;
    let p = found
        .partitions
        .iter()
        .find(|p| p.partition_index == partition)
        .ok_or_else(|| Error::UnknownPartition {
            broker: broker.clone(),
            topic: topic.to_owned(),
            partition,
            partitions: found.partitions.len(),
        })?;
    if p.leader_id < 0 {
        check_code(
            broker,
            ApiKey::Metadata,
            p.error_code,
            topic,
            Some(partition),
            None,
        )?;
    }
    let listed = topic_partitions(&md, found).find(|p| p.partition == partition);
    match listed {
        Some(listed) if listed.leader.is_some() => Ok(listed),
        _ => Err(no_leader(broker, topic, partition)),
    }
}

/// The error for a partition without a leader, named by `broker` (the one
/// whose metadata said so).
pub(super) fn no_leader(broker: &BrokerAddr, topic: &str, partition: i32) -> Error {
    Error::NoLeader {
        broker: broker.clone(),
        topic: topic.to_owned(),
        partition,
    }
}

fn topic_name(topic: &MetadataResponseTopic) -> &str {
    topic.name.as_deref().unwrap_or_default()
}

fn broker_of(b: &gregor_protocol::messages::metadata_response::MetadataResponseBroker) -> Broker {
    Broker {
        id: b.node_id,
        host: b.host.to_string(),
        port: b.port,
        rack: b.rack.as_ref().map(ToString::to_string),
    }
}

/// The partitions of one topic of `md`, with leaders resolved against its
/// broker list.
fn topic_partitions<'a>(
    md: &'a MetadataResponse,
    topic: &'a MetadataResponseTopic,
) -> impl Iterator<Item = Partition> + 'a {
    topic.partitions.iter().map(move |p| Partition {
        topic: topic_name(topic).to_owned(),
        topic_id: topic.topic_id,
        partition: p.partition_index,
        leader: md
            .brokers
            .iter()
            .find(|b| b.node_id == p.leader_id)
            .map(broker_of),
        replicas: p.replica_nodes.clone(),
        isr: p.isr_nodes.clone(),
        offline_replicas: p.offline_replicas.clone(),
    })
}
