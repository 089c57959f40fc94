//! Configs: DescribeConfigs and IncrementalAlterConfigs, for topics,
//! brokers, broker loggers and groups.

use std::collections::BTreeMap;
use std::fmt;

use gregor_protocol::ApiKey;
use gregor_protocol::messages::describe_configs_request::DescribeConfigsResource;
use gregor_protocol::messages::describe_configs_response::DescribeConfigsResult as WireResult;
use gregor_protocol::messages::incremental_alter_configs_request::{
    AlterConfigsResource, AlterableConfig,
};
use gregor_protocol::messages::{DescribeConfigsRequest, IncrementalAlterConfigsRequest};

use super::{Admin, BrokerId, Outcomes, code_result, net, version};
use crate::{Error, Result};

/// What a config belongs to.
///
/// ```
/// use gregor_client::admin::{BrokerId, ConfigResource};
///
/// assert_eq!(ConfigResource::Topic("orders".into()).to_string(), "topic orders");
/// assert_eq!(ConfigResource::Broker(BrokerId(1)).to_string(), "broker 1");
/// ```
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ConfigResource {
    /// A topic's configs (`retention.ms`, `cleanup.policy`, ...).
    Topic(String),
    /// One broker's configs; sent to that broker.
    Broker(BrokerId),
    /// The cluster-wide dynamic broker defaults.
    BrokerDefaults,
    /// One broker's log levels; sent to that broker.
    BrokerLogger(BrokerId),
    /// A consumer group's configs (KIP-848 brokers).
    Group(String),
}

impl ConfigResource {
    /// Kafka's resource type code.
    fn type_code(&self) -> i8 {
        match self {
            ConfigResource::Topic(_) => 2,
            ConfigResource::Broker(_) | ConfigResource::BrokerDefaults => 4,
            ConfigResource::BrokerLogger(_) => 8,
            ConfigResource::Group(_) => 32,
        }
    }

    /// The resource name on the wire.
    fn wire_name(&self) -> String {
        match self {
            ConfigResource::Topic(name) | ConfigResource::Group(name) => name.clone(),
            ConfigResource::Broker(id) | ConfigResource::BrokerLogger(id) => id.0.to_string(),
            ConfigResource::BrokerDefaults => String::new(),
        }
    }

    /// The broker the request must go to, if it must go to one.
    fn target(&self) -> Option<BrokerId> {
        match self {
            ConfigResource::Broker(id) | ConfigResource::BrokerLogger(id) => Some(*id),
            _ => None,
        }
    }

    fn is(&self, type_code: i8, name: &str) -> bool {
        self.type_code() == type_code && self.wire_name() == name
    }
}

impl fmt::Display for ConfigResource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ConfigResource::Topic(name) => write!(f, "topic {name}"),
            ConfigResource::Broker(id) => write!(f, "broker {id}"),
            ConfigResource::BrokerDefaults => f.write_str("broker defaults"),
            ConfigResource::BrokerLogger(id) => write!(f, "broker {id} loggers"),
            ConfigResource::Group(name) => write!(f, "group {name}"),
        }
    }
}

/// Where a config's value comes from.
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ConfigSource {
    /// Not known (DescribeConfigs v0, or a source newer than this client).
    Unknown,
    /// Set on the topic.
    DynamicTopic,
    /// Set dynamically on this broker.
    DynamicBroker,
    /// Set dynamically as the default of every broker.
    DynamicDefaultBroker,
    /// Set in the broker's configuration file.
    StaticBroker,
    /// Kafka's default.
    Default,
    /// A broker logger level set dynamically.
    DynamicBrokerLogger,
    /// A client metrics subscription.
    ClientMetrics,
    /// Set on the group.
    Group,
}

impl ConfigSource {
    pub(crate) fn from_code(code: i8) -> ConfigSource {
        match code {
            1 => ConfigSource::DynamicTopic,
            2 => ConfigSource::DynamicBroker,
            3 => ConfigSource::DynamicDefaultBroker,
            4 => ConfigSource::StaticBroker,
            5 => ConfigSource::Default,
            6 => ConfigSource::DynamicBrokerLogger,
            7 => ConfigSource::ClientMetrics,
            8 => ConfigSource::Group,
            _ => ConfigSource::Unknown,
        }
    }
}

/// One config and its value.
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigEntry {
    /// Its name, e.g. `retention.ms`.
    pub name: String,
    /// Its value; `None` when it has none or it is sensitive.
    pub value: Option<String>,
    /// Where the value comes from.
    pub source: ConfigSource,
    /// Whether it cannot be changed.
    pub read_only: bool,
    /// Whether it is sensitive (a password), its value then hidden.
    pub sensitive: bool,
    /// Whether the value is Kafka's default.
    pub is_default: bool,
}

/// The configs of one resource.
///
/// ```no_run
/// # use gregor_client::admin::{Admin, ConfigResource};
/// # async fn demo(admin: Admin) -> gregor_client::Result<()> {
/// let topic = ConfigResource::Topic("orders".into());
/// let described = admin.describe_configs(&[topic.clone()]).await;
/// if let Some(Ok(config)) = described.get(&topic) {
///     println!("cleanup.policy = {:?}", config.value("cleanup.policy"));
/// }
/// # Ok(())
/// # }
/// ```
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Config {
    /// Every config, in the broker's order.
    pub entries: Vec<ConfigEntry>,
}

impl Config {
    /// The config named `name`.
    pub fn get(&self, name: &str) -> Option<&ConfigEntry> {
        self.entries.iter().find(|e| e.name == name)
    }

    /// The value of the config named `name`.
    pub fn value(&self, name: &str) -> Option<&str> {
        self.get(name).and_then(|e| e.value.as_deref())
    }
}

/// One change of an incremental config alteration.
///
/// ```
/// use gregor_client::admin::AlterConfigOp;
///
/// let ops = [
///     AlterConfigOp::set("retention.ms", "86400000"),
///     AlterConfigOp::delete("segment.ms"),
///     AlterConfigOp::append("cleanup.policy", "compact"),
/// ];
/// assert_eq!(ops[1].name(), "segment.ms");
/// ```
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AlterConfigOp {
    /// Sets a config to a value.
    Set {
        /// The config.
        name: String,
        /// The new value.
        value: String,
    },
    /// Removes a config's override, back to its default.
    Delete {
        /// The config.
        name: String,
    },
    /// Adds a value to a list config.
    Append {
        /// The config.
        name: String,
        /// The value to add.
        value: String,
    },
    /// Removes a value from a list config.
    Subtract {
        /// The config.
        name: String,
        /// The value to remove.
        value: String,
    },
}

impl AlterConfigOp {
    /// Sets `name` to `value`.
    pub fn set(name: impl Into<String>, value: impl Into<String>) -> Self {
        AlterConfigOp::Set {
            name: name.into(),
            value: value.into(),
        }
    }

    /// Removes the override of `name`.
    pub fn delete(name: impl Into<String>) -> Self {
        AlterConfigOp::Delete { name: name.into() }
    }

    /// Adds `value` to the list config `name`.
    pub fn append(name: impl Into<String>, value: impl Into<String>) -> Self {
        AlterConfigOp::Append {
            name: name.into(),
            value: value.into(),
        }
    }

    /// Removes `value` from the list config `name`.
    pub fn subtract(name: impl Into<String>, value: impl Into<String>) -> Self {
        AlterConfigOp::Subtract {
            name: name.into(),
            value: value.into(),
        }
    }

    /// The config it changes.
    pub fn name(&self) -> &str {
        match self {
            AlterConfigOp::Set { name, .. }
            | AlterConfigOp::Delete { name }
            | AlterConfigOp::Append { name, .. }
            | AlterConfigOp::Subtract { name, .. } => name,
        }
    }

    fn wire(&self) -> AlterableConfig {
        let (op, value) = match self {
            AlterConfigOp::Set { value, .. } => (0, Some(value.as_str())),
            AlterConfigOp::Delete { .. } => (1, None),
            AlterConfigOp::Append { value, .. } => (2, Some(value.as_str())),
            AlterConfigOp::Subtract { value, .. } => (3, Some(value.as_str())),
        };
        AlterableConfig::default()
            .with_name(self.name())
            .with_config_operation(op)
            .with_value(value.map(Into::into))
    }
}

/// The configs of each resource asked about.
pub type DescribeConfigsResult = Outcomes<ConfigResource, Config>;

/// Whether each resource's configs were altered.
pub type AlterConfigsResult = Outcomes<ConfigResource, ()>;

impl Admin {
    /// The configs of `resources`: broker resources asked of their broker,
    /// the others of any broker, one request per broker.
    pub async fn describe_configs(&self, resources: &[ConfigResource]) -> DescribeConfigsResult {
        self.batched(
            ApiKey::DescribeConfigs,
            resources.to_vec(),
            |rs| self.route_configs(rs),
            |id, rs: Vec<ConfigResource>| async move {
                let conn = self.connection(id).await?;
                version(&conn, ApiKey::DescribeConfigs)?;
                let req = DescribeConfigsRequest::default().with_resources(
                    rs.iter()
                        .map(|r| {
                            DescribeConfigsResource::default()
                                .with_resource_type(r.type_code())
                                .with_resource_name(r.wire_name())
                                .with_configuration_keys(None)
                        })
                        .collect(),
                );
                let resp = conn.send(&req).await.map_err(net)?;
                let broker = conn.broker();
                Ok(rs
                    .into_iter()
                    .filter_map(|r| {
                        let found = resp
                            .results
                            .iter()
                            .find(|w| r.is(w.resource_type, &w.resource_name))?;
                        Some((r, config_of(broker, found)))
                    })
                    .collect())
            },
            |_| false,
        )
        .await
    }

    /// Alters configs incrementally (IncrementalAlterConfigs): each
    /// resource with its changes, broker resources at their broker. Changes
    /// for a resource named twice are merged.
    ///
    /// ```no_run
    /// # use gregor_client::admin::{Admin, AlterConfigOp, ConfigResource};
    /// # async fn demo(admin: Admin) -> gregor_client::Result<()> {
    /// let topic = ConfigResource::Topic("orders".into());
    /// admin
    ///     .alter_configs(&[(topic, vec![AlterConfigOp::set("retention.ms", "60000")])])
    ///     .await
    ///     .into_result()?;
    /// # Ok(())
    /// # }
    /// ```
    pub async fn alter_configs(
        &self,
        changes: &[(ConfigResource, Vec<AlterConfigOp>)],
    ) -> AlterConfigsResult {
        let mut ops: BTreeMap<ConfigResource, Vec<AlterConfigOp>> = BTreeMap::new();
        for (r, changes) in changes {
            ops.entry(r.clone())
                .or_default()
                .extend(changes.iter().cloned());
        }
        let ops = &ops;
        self.batched(
            ApiKey::IncrementalAlterConfigs,
            changes.iter().map(|(r, _)| r.clone()).collect(),
            |rs| self.route_configs(rs),
            |id, rs: Vec<ConfigResource>| async move {
                let conn = self.connection(id).await?;
                version(&conn, ApiKey::IncrementalAlterConfigs)?;
                let req = IncrementalAlterConfigsRequest::default().with_resources(
                    rs.iter()
                        .map(|r| {
                            AlterConfigsResource::default()
                                .with_resource_type(r.type_code())
                                .with_resource_name(r.wire_name())
                                .with_configs(
                                    ops.get(r)
                                        .map(|o| o.iter().map(AlterConfigOp::wire).collect())
                                        .unwrap_or_default(),
                                )
                        })
                        .collect(),
                );
                let resp = conn.send(&req).await.map_err(net)?;
                let broker = conn.broker();
                Ok(rs
                    .into_iter()
                    .filter_map(|r| {
                        let found = resp
                            .responses
                            .iter()
                            .find(|w| r.is(w.resource_type, &w.resource_name))?;
                        let result = code_result(
                            broker,
                            ApiKey::IncrementalAlterConfigs,
                            found.error_code,
                            found.error_message.as_ref(),
                        )
                        .map_err(|e| Error::from(with_resource(e, &r)));
                        Some((r, result))
                    })
                    .collect())
            },
            |_| false,
        )
        .await
    }

    /// Broker resources to their broker, the rest to one broker.
    async fn route_configs(&self, resources: Vec<ConfigResource>) -> Vec<Result<BrokerId>> {
        let any = if resources.iter().any(|r| r.target().is_none()) {
            Some(self.any_broker().await)
        } else {
            None
        };
        resources
            .iter()
            .map(|r| match (r.target(), &any) {
                (Some(id), _) => Ok(id),
                (None, Some(any)) => any.clone(),
                (None, None) => Err(gregor_net::Error::ClusterClosed.into()),
            })
            .collect()
    }
}

/// Names a topic resource in a broker error.
fn with_resource(e: gregor_net::Error, r: &ConfigResource) -> gregor_net::Error {
    match r {
        ConfigResource::Topic(t) => e.with_topic(t.as_str()),
        _ => e,
    }
}

fn config_of(broker: &gregor_net::BrokerAddr, w: &WireResult) -> Result<Config> {
    code_result(
        broker,
        ApiKey::DescribeConfigs,
        w.error_code,
        w.error_message.as_ref(),
    )
    .map_err(|e| {
        if w.resource_type == 2 {
            e.with_topic(w.resource_name.as_str())
        } else {
            e
        }
    })?;
    Ok(Config {
        entries: w
            .configs
            .iter()
            .map(|c| {
                let source = ConfigSource::from_code(c.config_source);
                ConfigEntry {
                    name: c.name.to_string(),
                    value: c.value.as_ref().map(|v| v.to_string()),
                    source,
                    read_only: c.read_only,
                    sensitive: c.is_sensitive,
                    is_default: c.is_default || source == ConfigSource::Default,
                }
            })
            .collect(),
    })
}

/// A config entry as CreateTopics v5+ reports it.
pub(crate) fn created_entry(
    name: &str,
    value: Option<&str>,
    read_only: bool,
    source: i8,
    sensitive: bool,
) -> ConfigEntry {
    let source = ConfigSource::from_code(source);
    ConfigEntry {
        name: name.to_owned(),
        value: value.map(str::to_owned),
        source,
        read_only,
        sensitive,
        is_default: source == ConfigSource::Default,
    }
}
