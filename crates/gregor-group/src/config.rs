//! The member's configuration, validated when built.

use std::collections::BTreeSet;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use crate::assignor::{Assignor, CooperativeStickyAssignor, RangeAssignor, RebalanceProtocol};
use crate::error::{Error, Result};

/// Configuration of one group member. Build it with [`GroupConfig::builder`].
///
/// Defaults follow the Java consumer: session timeout 45 s, heartbeat
/// interval 3 s, rebalance timeout 5 min (`max.poll.interval.ms`), request
/// timeout 30 s, retry backoff 100 ms growing to 1 s, and the assignors
/// `range` then `cooperative-sticky` (so the group rebalances eagerly until
/// every member is upgraded to list `cooperative-sticky` alone).
#[derive(Clone)]
pub struct GroupConfig {
    pub(crate) group_id: String,
    pub(crate) group_instance_id: Option<String>,
    pub(crate) rack: Option<String>,
    pub(crate) session_timeout: Duration,
    pub(crate) rebalance_timeout: Duration,
    pub(crate) heartbeat_interval: Duration,
    pub(crate) request_timeout: Duration,
    pub(crate) retry_backoff: Duration,
    pub(crate) retry_backoff_max: Duration,
    pub(crate) require_stable: bool,
    pub(crate) assignors: Vec<Arc<dyn Assignor>>,
}

impl fmt::Debug for GroupConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GroupConfig")
            .field("group_id", &self.group_id)
            .field("group_instance_id", &self.group_instance_id)
            .field("rack", &self.rack)
            .field("session_timeout", &self.session_timeout)
            .field("rebalance_timeout", &self.rebalance_timeout)
            .field("heartbeat_interval", &self.heartbeat_interval)
            .field("request_timeout", &self.request_timeout)
            .field("retry_backoff", &self.retry_backoff)
            .field("retry_backoff_max", &self.retry_backoff_max)
            .field("require_stable", &self.require_stable)
            .field(
                "assignors",
                &self.assignors.iter().map(|a| a.name()).collect::<Vec<_>>(),
            )
            .finish()
    }
}

impl GroupConfig {
    /// A builder for group `group_id`.
    pub fn builder(group_id: impl Into<String>) -> GroupConfigBuilder {
        GroupConfigBuilder {
            config: GroupConfig {
                group_id: group_id.into(),
                group_instance_id: None,
                rack: None,
                session_timeout: Duration::from_secs(45),
                rebalance_timeout: Duration::from_secs(300),
                heartbeat_interval: Duration::from_secs(3),
                request_timeout: Duration::from_secs(30),
                retry_backoff: Duration::from_millis(100),
                retry_backoff_max: Duration::from_secs(1),
                require_stable: false,
                assignors: vec![
                    Arc::new(RangeAssignor::new()),
                    Arc::new(CooperativeStickyAssignor::new()),
                ],
            },
        }
    }

    /// The group id.
    pub fn group_id(&self) -> &str {
        &self.group_id
    }

    /// The static member id (KIP-345), if any.
    pub fn group_instance_id(&self) -> Option<&str> {
        self.group_instance_id.as_deref()
    }

    /// The member's rack (`client.rack`).
    pub fn rack(&self) -> Option<&str> {
        self.rack.as_deref()
    }

    /// The session timeout.
    pub fn session_timeout(&self) -> Duration {
        self.session_timeout
    }

    /// The rebalance timeout.
    pub fn rebalance_timeout(&self) -> Duration {
        self.rebalance_timeout
    }

    /// The heartbeat interval.
    pub fn heartbeat_interval(&self) -> Duration {
        self.heartbeat_interval
    }

    /// The request timeout.
    pub fn request_timeout(&self) -> Duration {
        self.request_timeout
    }

    /// The assignors, most preferred first.
    pub fn assignors(&self) -> &[Arc<dyn Assignor>] {
        &self.assignors
    }

    /// The rebalance protocol the member follows: cooperative only if every
    /// configured assignor supports it, as in the Java client.
    pub fn rebalance_protocol(&self) -> RebalanceProtocol {
        let all_cooperative = self.assignors.iter().all(|a| {
            a.supported_protocols()
                .contains(&RebalanceProtocol::Cooperative)
        });
        if all_cooperative && !self.assignors.is_empty() {
            RebalanceProtocol::Cooperative
        } else {
            RebalanceProtocol::Eager
        }
    }

    pub(crate) fn assignor(&self, name: &str) -> Option<&Arc<dyn Assignor>> {
        self.assignors.iter().find(|a| a.name() == name)
    }
}

/// Builds a [`GroupConfig`]; [`build`](Self::build) checks the options
/// against each other.
#[derive(Debug, Clone)]
pub struct GroupConfigBuilder {
    config: GroupConfig,
}

impl GroupConfigBuilder {
    /// Makes this a static member (KIP-345, `group.instance.id`): it keeps
    /// its assignment across restarts within the session timeout and never
    /// sends LeaveGroup.
    pub fn group_instance_id(mut self, id: impl Into<String>) -> Self {
        self.config.group_instance_id = Some(id.into());
        self
    }

    /// The member's rack (`client.rack`), sent in its subscription so
    /// rack-aware assignors can prefer partitions with a replica there.
    pub fn rack(mut self, rack: impl Into<String>) -> Self {
        self.config.rack = Some(rack.into());
        self
    }

    /// How long the coordinator waits for a heartbeat before removing the
    /// member, and how long this member keeps its partitions without a
    /// successful heartbeat before declaring them lost.
    pub fn session_timeout(mut self, d: Duration) -> Self {
        self.config.session_timeout = d;
        self
    }

    /// How long the coordinator waits for every member to rejoin during a
    /// rebalance (`max.poll.interval.ms` in the Java client).
    pub fn rebalance_timeout(mut self, d: Duration) -> Self {
        self.config.rebalance_timeout = d;
        self
    }

    /// The time between heartbeats; must be below the session timeout
    /// (a third of it is customary).
    pub fn heartbeat_interval(mut self, d: Duration) -> Self {
        self.config.heartbeat_interval = d;
        self
    }

    /// How long to wait for a response (JoinGroup waits for the rebalance
    /// timeout plus five seconds instead).
    pub fn request_timeout(mut self, d: Duration) -> Self {
        self.config.request_timeout = d;
        self
    }

    /// The first retry backoff and its cap; the backoff doubles per failed
    /// attempt.
    pub fn retry_backoff(mut self, first: Duration, max: Duration) -> Self {
        self.config.retry_backoff = first;
        self.config.retry_backoff_max = max;
        self
    }

    /// Asks OffsetFetch for stable offsets only (KIP-447; what a
    /// `read_committed` consumer wants). Brokers before OffsetFetch v7
    /// ignore it.
    pub fn require_stable(mut self, yes: bool) -> Self {
        self.config.require_stable = yes;
        self
    }

    /// The assignors, most preferred first (replaces the defaults).
    pub fn assignors(mut self, assignors: Vec<Arc<dyn Assignor>>) -> Self {
        self.config.assignors = assignors;
        self
    }

    /// Checks the options and builds the configuration.
    ///
    /// # Errors
    ///
    /// [`Error::Config`] for an empty group id or instance id, no assignors
    /// or two with one name, a zero timeout, or a heartbeat interval not
    /// below the session timeout.
    pub fn build(self) -> Result<GroupConfig> {
        let c = self.config;
        let fail = |reason: &str| {
            Err(Error::Config {
                reason: reason.to_owned(),
            })
        };
        if c.group_id.is_empty() {
            return fail("group id must not be empty");
        }
        if c.group_instance_id.as_deref().is_some_and(str::is_empty) {
            return fail("group instance id must not be empty");
        }
        if c.assignors.is_empty() {
            return fail("at least one assignor is needed");
        }
        let names: BTreeSet<&str> = c.assignors.iter().map(|a| a.name()).collect();
        if names.len() != c.assignors.len() {
            return fail("two assignors have the same name");
        }
        if c.session_timeout.is_zero()
            || c.heartbeat_interval.is_zero()
            || c.request_timeout.is_zero()
            || c.rebalance_timeout.is_zero()
        {
            return fail("timeouts and the heartbeat interval must be positive");
        }
        if c.heartbeat_interval >= c.session_timeout {
            return fail("heartbeat interval must be below the session timeout");
        }
        if c.retry_backoff > c.retry_backoff_max {
            return fail("retry backoff must not exceed its maximum");
        }
        let ms = |d: Duration| i32::try_from(d.as_millis()).is_ok();
        if !ms(c.session_timeout) || !ms(c.rebalance_timeout) {
            return fail("session and rebalance timeouts must fit in i32 milliseconds");
        }
        Ok(c)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::assignor::{RoundRobinAssignor, StickyAssignor};

    #[test]
    fn defaults_follow_the_java_client() {
        let c = GroupConfig::builder("g").build().unwrap();
        assert_eq!(c.session_timeout(), Duration::from_secs(45));
        assert_eq!(c.heartbeat_interval(), Duration::from_secs(3));
        assert_eq!(c.rebalance_timeout(), Duration::from_secs(300));
        let names: Vec<&str> = c.assignors().iter().map(|a| a.name()).collect();
        assert_eq!(names, ["range", "cooperative-sticky"]);
        // Range is eager, so the group stays eager until it is dropped.
        assert_eq!(c.rebalance_protocol(), RebalanceProtocol::Eager);
    }

    #[test]
    fn cooperative_only_when_every_assignor_supports_it() {
        let coop = GroupConfig::builder("g")
            .assignors(vec![Arc::new(CooperativeStickyAssignor::new())])
            .build()
            .unwrap();
        assert_eq!(coop.rebalance_protocol(), RebalanceProtocol::Cooperative);
        let mixed = GroupConfig::builder("g")
            .assignors(vec![
                Arc::new(CooperativeStickyAssignor::new()),
                Arc::new(StickyAssignor::new()),
            ])
            .build()
            .unwrap();
        assert_eq!(mixed.rebalance_protocol(), RebalanceProtocol::Eager);
    }

    #[test]
    fn inconsistent_options_are_refused() {
        let bad = [
            GroupConfig::builder(""),
            GroupConfig::builder("g").group_instance_id(""),
            GroupConfig::builder("g").assignors(Vec::new()),
            GroupConfig::builder("g").assignors(vec![
                Arc::new(RoundRobinAssignor::new()),
                Arc::new(RoundRobinAssignor::new()),
            ]),
            GroupConfig::builder("g")
                .session_timeout(Duration::from_secs(3))
                .heartbeat_interval(Duration::from_secs(3)),
            GroupConfig::builder("g").request_timeout(Duration::ZERO),
            GroupConfig::builder("g").retry_backoff(Duration::from_secs(2), Duration::from_secs(1)),
        ];
        for b in bad {
            let e = b.build().unwrap_err();
            assert!(matches!(e, Error::Config { .. }), "{e}");
            assert!(!e.is_retriable());
        }
    }
}
