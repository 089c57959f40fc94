//! Settings of a [`Cluster`](crate::Cluster).

use std::fmt;
use std::time::Duration;

use super::backoff::BackoffPolicy;
use crate::{BrokerAddr, Connector};

/// The longest duration accepted, as for connection timeouts: `i32::MAX`
/// milliseconds, the Java client's bound, far from `Instant` overflow.
const MAX_DURATION: Duration = Duration::from_millis(i32::MAX as u64);

/// Settings for a [`Cluster`](crate::Cluster): where to bootstrap from, how
/// to open connections, how often to refresh metadata and how to back off.
///
/// Built and checked by [`ClusterConfig::builder`]; every duration is a
/// [`Duration`].
///
/// ```
/// use std::time::Duration;
/// use gregor_net::{ClusterConfig, Connector};
///
/// let config = ClusterConfig::builder()
///     .bootstrap_servers(["kafka-1:9092", "kafka-2:9092"])
///     .connector(Connector::default())
///     .metadata_max_age(Duration::from_secs(60))
///     .build()?;
/// assert_eq!(config.bootstrap_servers().len(), 2);
///
/// let err = ClusterConfig::builder().bootstrap_servers(["kafka-1"]).build().unwrap_err();
/// assert_eq!(err.field(), "bootstrap_servers");
/// # Ok::<(), gregor_net::ClusterConfigError>(())
/// ```
#[derive(Debug, Clone)]
pub struct ClusterConfig {
    bootstrap: Vec<BrokerAddr>,
    connector: Connector,
    metadata_max_age: Duration,
    retry_backoff: BackoffPolicy,
    reconnect_backoff: BackoffPolicy,
    allow_auto_topic_creation: bool,
}

impl ClusterConfig {
    /// A builder with the defaults and no bootstrap servers (which
    /// [`build`](ClusterConfigBuilder::build) requires).
    pub fn builder() -> ClusterConfigBuilder {
        ClusterConfigBuilder {
            servers: Vec::new(),
            connector: Connector::default(),
            metadata_max_age: Duration::from_secs(5 * 60),
            retry: (Duration::from_millis(100), Duration::from_secs(1)),
            reconnect: (Duration::from_millis(50), Duration::from_secs(1)),
            jitter: BackoffPolicy::DEFAULT_JITTER,
            allow_auto_topic_creation: false,
        }
    }

    /// The bootstrap addresses, in the order given. They are tried in that
    /// order (not shuffled), so list the nearest first; after the first
    /// metadata response the cluster dials brokers as the metadata names
    /// them and comes back to these only when no known broker answers.
    pub fn bootstrap_servers(&self) -> &[BrokerAddr] {
        &self.bootstrap
    }

    /// How connections are opened (TLS, SASL, timeouts).
    pub fn connector(&self) -> &Connector {
        &self.connector
    }

    /// How old metadata may get before it is refreshed even if nothing went
    /// wrong, so new partitions and brokers are found. Default 5 minutes,
    /// Java's `metadata.max.age.ms`.
    pub fn metadata_max_age(&self) -> Duration {
        self.metadata_max_age
    }

    /// The backoff between retries of a failed operation
    /// ([`Cluster::retry`](crate::Cluster::retry)) and of a failed background
    /// metadata refresh. Default 100 ms doubling to 1 s, ±25%: Java's
    /// `retry.backoff.ms` / `retry.backoff.max.ms`.
    pub fn retry_backoff(&self) -> BackoffPolicy {
        self.retry_backoff
    }

    /// The backoff between connection attempts to one broker, reset by a
    /// successful connect. Default 50 ms doubling to 1 s, ±25%: Java's
    /// `reconnect.backoff.ms` / `reconnect.backoff.max.ms`.
    pub fn reconnect_backoff(&self) -> BackoffPolicy {
        self.reconnect_backoff
    }

    /// Whether metadata requests for a topic that does not exist ask the
    /// broker to create it (if the broker allows auto-creation). Default
    /// `false`: a typo should be an error, not a new topic. Brokers older
    /// than Metadata v4 decide by their own configuration whatever this says.
    pub fn allow_auto_topic_creation(&self) -> bool {
        self.allow_auto_topic_creation
    }
}

/// Builds a [`ClusterConfig`]; see [`ClusterConfig::builder`].
///
/// Setters only record values; [`build`](Self::build) checks them all and
/// names the first bad one.
#[derive(Debug, Clone)]
#[must_use]
pub struct ClusterConfigBuilder {
    servers: Vec<String>,
    connector: Connector,
    metadata_max_age: Duration,
    retry: (Duration, Duration),
    reconnect: (Duration, Duration),
    jitter: f64,
    allow_auto_topic_creation: bool,
}

impl ClusterConfigBuilder {
    /// Adds bootstrap servers, each `host:port` (`[v6addr]:port` for an IPv6
    /// literal). An entry may itself be a comma-separated list, as in
    /// librdkafka's `bootstrap.servers`.
    pub fn bootstrap_servers<I, S>(mut self, servers: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        for entry in servers {
            self.servers
                .extend(entry.as_ref().split(',').map(|s| s.trim().to_owned()));
        }
        self
    }

    /// Sets the connector every connection is opened through; see
    /// [`ClusterConfig::connector`].
    pub fn connector(mut self, connector: Connector) -> Self {
        self.connector = connector;
        self
    }

    /// Sets [`ClusterConfig::metadata_max_age`].
    pub fn metadata_max_age(mut self, age: Duration) -> Self {
        self.metadata_max_age = age;
        self
    }

    /// Sets [`ClusterConfig::retry_backoff`]'s first and largest delay.
    pub fn retry_backoff(mut self, initial: Duration, max: Duration) -> Self {
        self.retry = (initial, max);
        self
    }

    /// Sets [`ClusterConfig::reconnect_backoff`]'s first and largest delay.
    pub fn reconnect_backoff(mut self, initial: Duration, max: Duration) -> Self {
        self.reconnect = (initial, max);
        self
    }

    /// Sets the jitter of both backoffs, a fraction in `0.0..1.0`
    /// (default `0.25`, i.e. ±25%).
    pub fn jitter(mut self, jitter: f64) -> Self {
        self.jitter = jitter;
        self
    }

    /// Sets [`ClusterConfig::allow_auto_topic_creation`].
    pub fn allow_auto_topic_creation(mut self, allow: bool) -> Self {
        self.allow_auto_topic_creation = allow;
        self
    }

    /// Checks every setting and builds the config.
    ///
    /// # Errors
    ///
    /// A [`ClusterConfigError`] naming the first bad field: no bootstrap
    /// server or one that is not `host:port`; a zero or absurdly long
    /// duration; a backoff whose first delay exceeds its largest; jitter
    /// outside `0.0..1.0`.
    pub fn build(self) -> Result<ClusterConfig, ClusterConfigError> {
        let servers: Vec<&String> = self.servers.iter().filter(|s| !s.is_empty()).collect();
        if servers.is_empty() {
            return Err(ClusterConfigError::new(
                "bootstrap_servers",
                "is empty; give at least one host:port".to_owned(),
            ));
        }
        let bootstrap = servers
            .into_iter()
            .map(|s| parse_host_port(s).map(|()| BrokerAddr::new(s.as_str())))
            .collect::<Result<Vec<_>, _>>()?;
        check_duration("metadata_max_age", self.metadata_max_age)?;
        if !(0.0..1.0).contains(&self.jitter) {
            return Err(ClusterConfigError::new(
                "jitter",
                format!("is {}; it must be a fraction in 0.0..1.0", self.jitter),
            ));
        }
        let retry_backoff = backoff("retry_backoff", self.retry, self.jitter)?;
        let reconnect_backoff = backoff("reconnect_backoff", self.reconnect, self.jitter)?;
        Ok(ClusterConfig {
            bootstrap,
            connector: self.connector,
            metadata_max_age: self.metadata_max_age,
            retry_backoff,
            reconnect_backoff,
            allow_auto_topic_creation: self.allow_auto_topic_creation,
        })
    }
}

fn check_duration(field: &'static str, d: Duration) -> Result<(), ClusterConfigError> {
    if d.is_zero() || d > MAX_DURATION {
        return Err(ClusterConfigError::new(
            field,
            format!("is {d:?}; it must be above zero and at most {MAX_DURATION:?}"),
        ));
    }
    Ok(())
}

fn backoff(
    field: &'static str,
    (initial, max): (Duration, Duration),
    jitter: f64,
) -> Result<BackoffPolicy, ClusterConfigError> {
    check_duration(field, initial)?;
    check_duration(field, max)?;
    if initial > max {
        return Err(ClusterConfigError::new(
            field,
            format!("starts at {initial:?}, above its maximum {max:?}"),
        ));
    }
    Ok(BackoffPolicy::new(initial, max).with_jitter(jitter))
}

/// Checks `host:port`: a non-empty host without spaces (bracketed if it is
/// an IPv6 literal, since its colons would be ambiguous) and a port in
/// 1..=65535. Names are resolved when dialled, not here.
fn parse_host_port(s: &str) -> Result<(), ClusterConfigError> {
    let bad = |why: &str| {
        Err(ClusterConfigError::new(
            "bootstrap_servers",
            format!("has {s:?}, {why}; expected host:port"),
        ))
    };
    let Some((host, port)) = s.rsplit_once(':') else {
        return bad("which has no port");
    };
    let bare = host
        .strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(host);
    if bare.is_empty() {
        return bad("which has no host");
    }
    if bare.chars().any(char::is_whitespace) {
        return bad("whose host contains a space");
    }
    if bare.contains(':') && bare.len() == host.len() {
        return bad("an IPv6 address that needs brackets ([::1]:9092)");
    }
    match port.parse::<u16>() {
        Ok(p) if p > 0 => Ok(()),
        _ => bad("whose port is not a number in 1..=65535"),
    }
}

/// An invalid [`ClusterConfig`] setting.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClusterConfigError {
    field: &'static str,
    reason: String,
}

impl ClusterConfigError {
    fn new(field: &'static str, reason: String) -> Self {
        Self { field, reason }
    }

    /// The builder method (and field) that was set wrong, e.g.
    /// `bootstrap_servers`.
    pub fn field(&self) -> &'static str {
        self.field
    }

    /// What is wrong with it.
    pub fn reason(&self) -> &str {
        &self.reason
    }
}

impl fmt::Display for ClusterConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "invalid cluster config: {} {}", self.field, self.reason)
    }
}

impl std::error::Error for ClusterConfigError {}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok() -> ClusterConfigBuilder {
        ClusterConfig::builder().bootstrap_servers(["localhost:9092"])
    }

    #[test]
    fn defaults_follow_the_java_client() {
        let c = ok().build().unwrap();
        assert_eq!(c.metadata_max_age(), Duration::from_secs(300));
        assert_eq!(c.retry_backoff().initial(), Duration::from_millis(100));
        assert_eq!(c.retry_backoff().max(), Duration::from_secs(1));
        assert_eq!(c.reconnect_backoff().initial(), Duration::from_millis(50));
        assert_eq!(c.reconnect_backoff().max(), Duration::from_secs(1));
        assert_eq!(c.retry_backoff().jitter(), 0.25);
        assert!(!c.allow_auto_topic_creation());
    }

    #[test]
    fn servers_are_split_and_kept_in_order() {
        let c = ClusterConfig::builder()
            .bootstrap_servers(["a:1, b:2", "[::1]:9092"])
            .bootstrap_servers(vec![String::from("c.example:65535")])
            .build()
            .unwrap();
        let addrs: Vec<&str> = c.bootstrap_servers().iter().map(|b| b.addr()).collect();
        assert_eq!(addrs, ["a:1", "b:2", "[::1]:9092", "c.example:65535"]);
    }

    #[test]
    fn each_bad_field_is_named() {
        let b = ok;
        let ms = Duration::from_millis;
        let cases = [
            (ClusterConfig::builder(), "bootstrap_servers"),
            (
                ClusterConfig::builder().bootstrap_servers([" , "]),
                "bootstrap_servers",
            ),
            (b().bootstrap_servers(["host"]), "bootstrap_servers"),
            (b().bootstrap_servers([":9092"]), "bootstrap_servers"),
            (b().bootstrap_servers(["h:0"]), "bootstrap_servers"),
            (b().bootstrap_servers(["h:99999"]), "bootstrap_servers"),
            (b().bootstrap_servers(["a b:1"]), "bootstrap_servers"),
            (b().bootstrap_servers(["::1:9092"]), "bootstrap_servers"),
            (b().metadata_max_age(Duration::ZERO), "metadata_max_age"),
            (b().metadata_max_age(Duration::MAX), "metadata_max_age"),
            (b().retry_backoff(ms(10), ms(5)), "retry_backoff"),
            (b().retry_backoff(Duration::ZERO, ms(5)), "retry_backoff"),
            (
                b().reconnect_backoff(ms(2000), ms(1000)),
                "reconnect_backoff",
            ),
            (b().jitter(1.0), "jitter"),
            (b().jitter(-0.1), "jitter"),
            (b().jitter(f64::NAN), "jitter"),
        ];
        for (builder, field) in cases {
            let err = builder.build().unwrap_err();
            assert_eq!(err.field(), field, "{err}");
            assert!(err.to_string().contains(field), "{err}");
        }
    }
}
