//! Settings of one broker connection.

use std::fmt;
use std::time::Duration;

use gregor_protocol::frame::DEFAULT_MAX_FRAME_SIZE;

/// The longest timeout accepted: `i32::MAX` milliseconds (about 24.8 days),
/// the same bound as the Java client's millisecond settings, and far from
/// where adding it to an `Instant` could overflow.
const MAX_TIMEOUT: Duration = Duration::from_millis(i32::MAX as u64);

/// The smallest frame limit accepted. Anything below it is almost certainly
/// a unit mistake (kilobytes for megabytes) and would not hold a broker's
/// ApiVersions response.
const MIN_FRAME_SIZE: usize = 4 * 1024;

/// The most requests in flight accepted, librdkafka's upper bound; past it
/// the number is a typo, not a tuning choice.
const MAX_IN_FLIGHT: usize = 1_000_000;

/// Settings for [`Connection`](crate::Connection)s.
///
/// Built and checked by [`ConnectionConfig::builder`];
/// [`ConnectionConfig::default`] is valid as it is. One config is typically
/// shared by the connections to every broker of a cluster.
///
/// ```
/// use std::time::Duration;
/// use gregor_net::ConnectionConfig;
///
/// let config = ConnectionConfig::builder()
///     .client_id("billing-service")
///     .request_timeout(Duration::from_secs(10))
///     .build()?;
/// assert_eq!(config.max_in_flight(), 64);
///
/// let err = ConnectionConfig::builder().max_in_flight(0).build().unwrap_err();
/// assert_eq!(err.field(), "max_in_flight");
/// # Ok::<(), gregor_net::ConfigError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnectionConfig {
    client_id: Option<String>,
    client_software_name: String,
    client_software_version: String,
    request_timeout: Duration,
    connect_timeout: Duration,
    max_in_flight: usize,
    max_frame_size: usize,
    tcp_nodelay: bool,
    tcp_keepalive: Option<Duration>,
    idle_timeout: Option<Duration>,
}

impl Default for ConnectionConfig {
    fn default() -> Self {
        Self {
            client_id: Some("gregor".to_owned()),
            client_software_name: "gregor".to_owned(),
            client_software_version: env!("CARGO_PKG_VERSION").to_owned(),
            request_timeout: Duration::from_secs(30),
            connect_timeout: Duration::from_secs(10),
            max_in_flight: 64,
            max_frame_size: DEFAULT_MAX_FRAME_SIZE,
            tcp_nodelay: true,
            tcp_keepalive: Some(Duration::from_secs(60)),
            idle_timeout: Some(Duration::from_secs(9 * 60)),
        }
    }
}

impl ConnectionConfig {
    /// A builder starting from the defaults.
    pub fn builder() -> ConnectionConfigBuilder {
        ConnectionConfigBuilder {
            config: Self::default(),
        }
    }

    /// A builder starting from this config, to derive a variant of it.
    pub fn to_builder(&self) -> ConnectionConfigBuilder {
        ConnectionConfigBuilder {
            config: self.clone(),
        }
    }

    /// The client id sent in every request header; brokers log it and apply
    /// quotas by it. Default `gregor`.
    pub fn client_id(&self) -> Option<&str> {
        self.client_id.as_deref()
    }

    /// The software name sent in ApiVersions v3+. Default `gregor`.
    pub fn client_software_name(&self) -> &str {
        &self.client_software_name
    }

    /// The software version sent in ApiVersions v3+. Default: this crate's
    /// version.
    pub fn client_software_version(&self) -> &str {
        &self.client_software_version
    }

    /// How long a request may take from the call until its response arrives,
    /// waiting for an in-flight slot included. Default 30 s, Java's
    /// `request.timeout.ms`.
    pub fn request_timeout(&self) -> Duration {
        self.request_timeout
    }

    /// How long connecting may take: TCP connect plus the ApiVersions
    /// handshake. Default 10 s, Java's `socket.connection.setup.timeout.ms`.
    pub fn connect_timeout(&self) -> Duration {
        self.connect_timeout
    }

    /// How many requests may await their response at once; further requests
    /// wait for a slot. Default 64.
    ///
    /// A broker handles one request per connection at a time, so pipelining
    /// only hides the network round trip; it does not add broker-side
    /// parallelism. The cap bounds the memory of queued frames and how long a
    /// request can sit behind others, while 64 still lets many tasks share
    /// one connection (metadata refreshes, commits, heartbeats) without
    /// waiting on each other's round trips. Producer ordering limits (Java's
    /// `max.in.flight.requests.per.connection` = 5) are the producer's own,
    /// on top of this.
    pub fn max_in_flight(&self) -> usize {
        self.max_in_flight
    }

    /// The largest response frame accepted, in bytes; a bigger size prefix is
    /// a fatal protocol error. Default 100 MiB, the codec's
    /// [`DEFAULT_MAX_FRAME_SIZE`].
    pub fn max_frame_size(&self) -> usize {
        self.max_frame_size
    }

    /// Whether Nagle's algorithm is off. Default `true`: requests are whole
    /// frames written at once, so batching them in the kernel only adds
    /// latency.
    pub fn tcp_nodelay(&self) -> bool {
        self.tcp_nodelay
    }

    /// The idle time before TCP keepalive probes start, or `None` to leave
    /// keepalive off. Default 60 s, so a broker that vanished without a FIN
    /// is noticed even with nothing in flight.
    pub fn tcp_keepalive(&self) -> Option<Duration> {
        self.tcp_keepalive
    }

    /// How long a connection with nothing in flight stays open before it
    /// closes itself, or `None` for never. Default 9 minutes, Java's
    /// `connections.max.idle.ms`: just under the broker's 10, so the client
    /// closes first instead of racing a request against the broker's close.
    pub fn idle_timeout(&self) -> Option<Duration> {
        self.idle_timeout
    }
}

/// Builds a [`ConnectionConfig`]; see [`ConnectionConfig::builder`].
///
/// Setters only record values; [`build`](Self::build) checks them all.
#[derive(Debug, Clone)]
#[must_use]
pub struct ConnectionConfigBuilder {
    config: ConnectionConfig,
}

impl ConnectionConfigBuilder {
    /// Sets the client id; see [`ConnectionConfig::client_id`].
    pub fn client_id(mut self, id: impl Into<String>) -> Self {
        self.config.client_id = Some(id.into());
        self
    }

    /// Sends a null client id.
    pub fn no_client_id(mut self) -> Self {
        self.config.client_id = None;
        self
    }

    /// Sets the software name and version sent in ApiVersions v3+; brokers
    /// accept only letters, digits, `-` and `.`, starting and ending with a
    /// letter or digit.
    pub fn client_software(mut self, name: impl Into<String>, version: impl Into<String>) -> Self {
        self.config.client_software_name = name.into();
        self.config.client_software_version = version.into();
        self
    }

    /// Sets the request timeout; see [`ConnectionConfig::request_timeout`].
    pub fn request_timeout(mut self, timeout: Duration) -> Self {
        self.config.request_timeout = timeout;
        self
    }

    /// Sets the connect timeout; see [`ConnectionConfig::connect_timeout`].
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.config.connect_timeout = timeout;
        self
    }

    /// Sets the in-flight cap; see [`ConnectionConfig::max_in_flight`].
    pub fn max_in_flight(mut self, n: usize) -> Self {
        self.config.max_in_flight = n;
        self
    }

    /// Sets the frame limit; see [`ConnectionConfig::max_frame_size`].
    pub fn max_frame_size(mut self, bytes: usize) -> Self {
        self.config.max_frame_size = bytes;
        self
    }

    /// Sets `TCP_NODELAY`; see [`ConnectionConfig::tcp_nodelay`].
    pub fn tcp_nodelay(mut self, on: bool) -> Self {
        self.config.tcp_nodelay = on;
        self
    }

    /// Sets TCP keepalive; see [`ConnectionConfig::tcp_keepalive`].
    pub fn tcp_keepalive(mut self, idle: Option<Duration>) -> Self {
        self.config.tcp_keepalive = idle;
        self
    }

    /// Sets the idle timeout; see [`ConnectionConfig::idle_timeout`].
    pub fn idle_timeout(mut self, timeout: Option<Duration>) -> Self {
        self.config.idle_timeout = timeout;
        self
    }

    /// Checks every setting and returns the config.
    ///
    /// # Errors
    ///
    /// A [`ConfigError`] naming the first invalid field.
    pub fn build(self) -> Result<ConnectionConfig, ConfigError> {
        let c = self.config;
        if let Some(id) = &c.client_id
            && id.len() > i16::MAX as usize
        {
            return Err(ConfigError::new(
                "client_id",
                format!("is {} bytes; the protocol allows {}", id.len(), i16::MAX),
            ));
        }
        check_software_token("client_software_name", &c.client_software_name)?;
        check_software_token("client_software_version", &c.client_software_version)?;
        check_timeout("request_timeout", c.request_timeout)?;
        check_timeout("connect_timeout", c.connect_timeout)?;
        if let Some(idle) = c.idle_timeout {
            check_timeout("idle_timeout", idle)?;
        }
        if !(1..=MAX_IN_FLIGHT).contains(&c.max_in_flight) {
            return Err(ConfigError::new(
                "max_in_flight",
                format!("is {}; it must be 1 to {MAX_IN_FLIGHT}", c.max_in_flight),
            ));
        }
        let max_frame = i32::MAX as usize;
        if !(MIN_FRAME_SIZE..=max_frame).contains(&c.max_frame_size) {
            return Err(ConfigError::new(
                "max_frame_size",
                format!(
                    "is {} bytes; it must be {MIN_FRAME_SIZE} to {max_frame} (frame sizes are int32)",
                    c.max_frame_size
                ),
            ));
        }
        if let Some(idle) = c.tcp_keepalive
            && !(Duration::from_secs(1)..=MAX_TIMEOUT).contains(&idle)
        {
            return Err(ConfigError::new(
                "tcp_keepalive",
                format!("is {idle:?}; operating systems take whole seconds, at least 1"),
            ));
        }
        Ok(c)
    }
}

fn check_timeout(field: &'static str, d: Duration) -> Result<(), ConfigError> {
    if d.is_zero() || d > MAX_TIMEOUT {
        return Err(ConfigError::new(
            field,
            format!("is {d:?}; it must be more than zero and at most {MAX_TIMEOUT:?}"),
        ));
    }
    Ok(())
}

/// The broker validates these with `[a-zA-Z0-9](?:[a-zA-Z0-9\-.]*[a-zA-Z0-9])?`
/// and fails the ApiVersions request otherwise, which would make every
/// connection fail; better to say so when the config is built.
fn check_software_token(field: &'static str, value: &str) -> Result<(), ConfigError> {
    let ok_edge = |c: Option<char>| c.is_some_and(|c| c.is_ascii_alphanumeric());
    let valid = ok_edge(value.chars().next())
        && ok_edge(value.chars().last())
        && value
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '.');
    if valid {
        Ok(())
    } else {
        Err(ConfigError::new(
            field,
            format!(
                "is {value:?}; brokers accept only ASCII letters, digits, '-' and '.', \
                 starting and ending with a letter or digit"
            ),
        ))
    }
}

/// An invalid [`ConnectionConfig`] setting.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    field: &'static str,
    reason: String,
}

impl ConfigError {
    fn new(field: &'static str, reason: String) -> Self {
        Self { field, reason }
    }

    /// The builder method (and field) that was set wrong, e.g. `max_in_flight`.
    pub fn field(&self) -> &'static str {
        self.field
    }

    /// What is wrong with it.
    pub fn reason(&self) -> &str {
        &self.reason
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "invalid connection config: {} {}",
            self.field, self.reason
        )
    }
}

impl std::error::Error for ConfigError {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid() {
        let built = ConnectionConfig::builder().build().unwrap();
        assert_eq!(built, ConnectionConfig::default());
        assert_eq!(built.max_frame_size(), 100 * 1024 * 1024);
        assert_eq!(built.idle_timeout(), Some(Duration::from_secs(540)));
    }

    #[test]
    fn each_bad_field_is_named() {
        let b = ConnectionConfig::builder;
        let cases = [
            (b().request_timeout(Duration::ZERO), "request_timeout"),
            (b().connect_timeout(Duration::MAX), "connect_timeout"),
            (b().idle_timeout(Some(Duration::ZERO)), "idle_timeout"),
            (b().max_in_flight(0), "max_in_flight"),
            (b().max_frame_size(100), "max_frame_size"),
            (b().max_frame_size(usize::MAX), "max_frame_size"),
            (
                b().tcp_keepalive(Some(Duration::from_millis(10))),
                "tcp_keepalive",
            ),
            (b().client_id("x".repeat(40_000)), "client_id"),
            (
                b().client_software("my client", "1"),
                "client_software_name",
            ),
            (
                b().client_software("gregor", "1.0-"),
                "client_software_version",
            ),
            (b().client_software("gregor", ""), "client_software_version"),
        ];
        for (builder, field) in cases {
            let err = builder.build().unwrap_err();
            assert_eq!(err.field(), field);
            assert!(err.to_string().contains(field), "{err}");
        }
    }

    #[test]
    fn optional_settings_can_be_turned_off() {
        let c = ConnectionConfig::builder()
            .no_client_id()
            .idle_timeout(None)
            .tcp_keepalive(None)
            .client_software("my-app", "2.0.1-rc.1")
            .build()
            .unwrap();
        assert_eq!(c.client_id(), None);
        assert_eq!(c.idle_timeout(), None);
        let again = c.to_builder().max_in_flight(1).build().unwrap();
        assert_eq!(again.client_software_name(), "my-app");
        assert_eq!(again.max_in_flight(), 1);
    }
}
