//! The consumer's configuration: a typed builder checked in `build()`.

use std::sync::Arc;
use std::time::Duration;

use gregor_group::{
    Assignor, CooperativeStickyAssignor, GroupConfig, RangeAssignor, RoundRobinAssignor,
    StickyAssignor,
};

use crate::error::{Error, Result};

/// Where to start reading a partition that has no committed offset, and
/// where to go when the position falls out of the log
/// (`auto.offset.reset`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum OffsetReset {
    /// The oldest record still in the log.
    Earliest,
    /// The end of the log: only records produced from now on.
    #[default]
    Latest,
    /// Neither: the partition stops with [`Error::NoOffset`] or
    /// [`Error::OffsetOutOfRange`] until the application seeks.
    None,
}

/// Which records a fetch may return (`isolation.level`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum IsolationLevel {
    /// Everything written, including records of transactions still open or
    /// aborted (control records are always hidden).
    #[default]
    ReadUncommitted,
    /// Only records of committed transactions (and non-transactional ones),
    /// up to the last stable offset.
    ReadCommitted,
}

impl IsolationLevel {
    /// The wire value of Fetch and ListOffsets.
    pub(crate) fn wire(self) -> i8 {
        match self {
            IsolationLevel::ReadUncommitted => 0,
            IsolationLevel::ReadCommitted => 1,
        }
    }
}

/// The standard partition assignment strategies, by their protocol names
/// (`partition.assignment.strategy`), so a group can mix Gregor, Java and
/// librdkafka members.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AssignmentStrategy {
    /// `range`: per topic, consecutive partitions to each member.
    Range,
    /// `roundrobin`: all partitions dealt in turn.
    RoundRobin,
    /// `sticky`: balanced, moving as few partitions as possible (eager).
    Sticky,
    /// `cooperative-sticky`: sticky, rebalancing incrementally (KIP-429).
    CooperativeSticky,
}

impl AssignmentStrategy {
    fn assignor(self) -> Arc<dyn Assignor> {
        match self {
            AssignmentStrategy::Range => Arc::new(RangeAssignor::new()),
            AssignmentStrategy::RoundRobin => Arc::new(RoundRobinAssignor::new()),
            AssignmentStrategy::Sticky => Arc::new(StickyAssignor::new()),
            AssignmentStrategy::CooperativeSticky => Arc::new(CooperativeStickyAssignor::new()),
        }
    }
}

/// The consumer's configuration. Build it with [`ConsumerConfig::builder`].
///
/// Defaults follow the Java consumer: no group, offset reset `latest`,
/// `read_uncommitted`, fetch min 1 byte, max 50 MiB, max wait 500 ms,
/// 1 MiB per partition, a prefetch budget of 64 MiB, auto-commit every 5 s
/// (with a group), session timeout 45 s, heartbeat 3 s, max poll interval
/// 5 min, and the assignors `range` then `cooperative-sticky`.
#[derive(Debug, Clone)]
pub struct ConsumerConfig {
    pub(crate) group: Option<GroupConfig>,
    pub(crate) auto_commit: bool,
    pub(crate) auto_commit_interval: Duration,
    pub(crate) offset_reset: OffsetReset,
    pub(crate) isolation: IsolationLevel,
    pub(crate) fetch_min_bytes: usize,
    pub(crate) fetch_max_bytes: usize,
    pub(crate) fetch_max_wait: Duration,
    pub(crate) partition_max_bytes: usize,
    pub(crate) prefetch_budget: usize,
    pub(crate) max_poll_interval: Duration,
    pub(crate) fetch_sessions: bool,
    pub(crate) check_crcs: bool,
    pub(crate) rack: Option<String>,
    pub(crate) retry_backoff: Duration,
}

impl ConsumerConfig {
    /// A builder with the defaults.
    pub fn builder() -> ConsumerConfigBuilder {
        ConsumerConfigBuilder::default()
    }

    /// The group id, if the consumer belongs to a group.
    pub fn group_id(&self) -> Option<&str> {
        self.group.as_ref().map(GroupConfig::group_id)
    }

    /// The group membership settings, if the consumer belongs to a group.
    pub fn group(&self) -> Option<&GroupConfig> {
        self.group.as_ref()
    }

    /// Whether offsets are committed automatically.
    pub fn auto_commit(&self) -> bool {
        self.auto_commit
    }

    /// The auto-commit interval.
    pub fn auto_commit_interval(&self) -> Duration {
        self.auto_commit_interval
    }

    /// The offset reset policy.
    pub fn offset_reset(&self) -> OffsetReset {
        self.offset_reset
    }

    /// The isolation level.
    pub fn isolation_level(&self) -> IsolationLevel {
        self.isolation
    }

    /// The least data a fetch waits for.
    pub fn fetch_min_bytes(&self) -> usize {
        self.fetch_min_bytes
    }

    /// The most data one fetch response may carry.
    pub fn fetch_max_bytes(&self) -> usize {
        self.fetch_max_bytes
    }

    /// How long the broker may hold a fetch waiting for `fetch_min_bytes`.
    pub fn fetch_max_wait(&self) -> Duration {
        self.fetch_max_wait
    }

    /// The most data one fetch returns for one partition.
    pub fn partition_max_bytes(&self) -> usize {
        self.partition_max_bytes
    }

    /// The most fetched data held (buffered plus asked for) before the
    /// application polls it.
    pub fn prefetch_budget(&self) -> usize {
        self.prefetch_budget
    }

    /// How long the application may go without polling before the member
    /// leaves the group.
    pub fn max_poll_interval(&self) -> Duration {
        self.max_poll_interval
    }

    /// Whether incremental fetch sessions (KIP-227) are used.
    pub fn fetch_sessions(&self) -> bool {
        self.fetch_sessions
    }
}

/// Builds a [`ConsumerConfig`]; [`build`](Self::build) checks the options
/// against each other and names the field it refuses.
#[derive(Debug, Clone)]
pub struct ConsumerConfigBuilder {
    group_id: Option<String>,
    group_instance_id: Option<String>,
    assignors: Option<Vec<Arc<dyn Assignor>>>,
    session_timeout: Duration,
    heartbeat_interval: Duration,
    rebalance_timeout: Option<Duration>,
    request_timeout: Duration,
    auto_commit: Option<bool>,
    auto_commit_interval: Duration,
    offset_reset: OffsetReset,
    isolation: IsolationLevel,
    fetch_min_bytes: usize,
    fetch_max_bytes: usize,
    fetch_max_wait: Duration,
    partition_max_bytes: usize,
    prefetch_budget: usize,
    max_poll_interval: Duration,
    fetch_sessions: bool,
    check_crcs: bool,
    rack: Option<String>,
    retry_backoff: Duration,
    retry_backoff_max: Duration,
}

impl Default for ConsumerConfigBuilder {
    fn default() -> Self {
        Self {
            group_id: None,
            group_instance_id: None,
            assignors: None,
            session_timeout: Duration::from_secs(45),
            heartbeat_interval: Duration::from_secs(3),
            rebalance_timeout: None,
            request_timeout: Duration::from_secs(30),
            auto_commit: None,
            auto_commit_interval: Duration::from_secs(5),
            offset_reset: OffsetReset::Latest,
            isolation: IsolationLevel::ReadUncommitted,
            fetch_min_bytes: 1,
            fetch_max_bytes: 50 * 1024 * 1024,
            fetch_max_wait: Duration::from_millis(500),
            partition_max_bytes: 1024 * 1024,
            prefetch_budget: 64 * 1024 * 1024,
            max_poll_interval: Duration::from_secs(300),
            fetch_sessions: true,
            check_crcs: true,
            rack: None,
            retry_backoff: Duration::from_millis(100),
            retry_backoff_max: Duration::from_secs(1),
        }
    }
}

impl ConsumerConfigBuilder {
    /// Joins consumer group `id` (`group.id`): needed for
    /// [`subscribe`](crate::consumer::Consumer::subscribe) and for
    /// committing offsets.
    pub fn group_id(mut self, id: impl Into<String>) -> Self {
        self.group_id = Some(id.into());
        self
    }

    /// Makes the member static (KIP-345, `group.instance.id`): a restart
    /// within the session timeout gets the same partitions back without a
    /// rebalance. Needs a group id.
    pub fn group_instance_id(mut self, id: impl Into<String>) -> Self {
        self.group_instance_id = Some(id.into());
        self
    }

    /// The assignment strategies offered to the group, most preferred
    /// first. Listing only cooperative ones (`cooperative-sticky`) makes
    /// the member rebalance incrementally.
    pub fn assignment_strategies(
        mut self,
        strategies: impl IntoIterator<Item = AssignmentStrategy>,
    ) -> Self {
        self.assignors = Some(
            strategies
                .into_iter()
                .map(AssignmentStrategy::assignor)
                .collect(),
        );
        self
    }

    /// Custom assignors, most preferred first (replaces
    /// [`assignment_strategies`](Self::assignment_strategies)).
    pub fn assignors(mut self, assignors: Vec<Arc<dyn Assignor>>) -> Self {
        self.assignors = Some(assignors);
        self
    }

    /// The session timeout: a member not heard from for this long is
    /// removed from the group.
    pub fn session_timeout(mut self, d: Duration) -> Self {
        self.session_timeout = d;
        self
    }

    /// The time between heartbeats; must be below the session timeout.
    pub fn heartbeat_interval(mut self, d: Duration) -> Self {
        self.heartbeat_interval = d;
        self
    }

    /// How long the coordinator waits for every member to rejoin during a
    /// rebalance (defaults to the max poll interval, as in Java).
    pub fn rebalance_timeout(mut self, d: Duration) -> Self {
        self.rebalance_timeout = Some(d);
        self
    }

    /// How long a group request may take before it is retried.
    pub fn request_timeout(mut self, d: Duration) -> Self {
        self.request_timeout = d;
        self
    }

    /// Commits the processed positions every
    /// [`auto_commit_interval`](Self::auto_commit_interval), and on
    /// revocation and close (`enable.auto.commit`). On by default when
    /// there is a group id.
    pub fn enable_auto_commit(mut self, on: bool) -> Self {
        self.auto_commit = Some(on);
        self
    }

    /// The auto-commit interval.
    pub fn auto_commit_interval(mut self, d: Duration) -> Self {
        self.auto_commit_interval = d;
        self
    }

    /// The offset reset policy (`auto.offset.reset`).
    pub fn offset_reset(mut self, policy: OffsetReset) -> Self {
        self.offset_reset = policy;
        self
    }

    /// The isolation level (`isolation.level`).
    pub fn isolation_level(mut self, level: IsolationLevel) -> Self {
        self.isolation = level;
        self
    }

    /// The least data a fetch waits for (`fetch.min.bytes`).
    pub fn fetch_min_bytes(mut self, n: usize) -> Self {
        self.fetch_min_bytes = n;
        self
    }

    /// The most data one fetch response may carry (`fetch.max.bytes`);
    /// the broker still returns a first batch larger than this (KIP-74).
    pub fn fetch_max_bytes(mut self, n: usize) -> Self {
        self.fetch_max_bytes = n;
        self
    }

    /// How long the broker may hold a fetch (`fetch.max.wait.ms`).
    pub fn fetch_max_wait(mut self, d: Duration) -> Self {
        self.fetch_max_wait = d;
        self
    }

    /// The most data per partition per fetch
    /// (`max.partition.fetch.bytes`).
    pub fn partition_max_bytes(mut self, n: usize) -> Self {
        self.partition_max_bytes = n;
        self
    }

    /// The memory budget for prefetched records (buffered records plus the
    /// `max_bytes` of fetches in flight); fetching pauses when it is used
    /// up, and goes on as the application polls.
    pub fn prefetch_budget(mut self, bytes: usize) -> Self {
        self.prefetch_budget = bytes;
        self
    }

    /// The longest the application may go without polling while it owns
    /// partitions (`max.poll.interval.ms`); past it the member leaves the
    /// group so the others can take over, and rejoins at the next poll.
    pub fn max_poll_interval(mut self, d: Duration) -> Self {
        self.max_poll_interval = d;
        self
    }

    /// Uses incremental fetch sessions (KIP-227); on by default.
    pub fn fetch_sessions(mut self, on: bool) -> Self {
        self.fetch_sessions = on;
        self
    }

    /// Checks each fetched batch's CRC (`check.crcs`); on by default.
    pub fn check_crcs(mut self, on: bool) -> Self {
        self.check_crcs = on;
        self
    }

    /// The consumer's rack (`client.rack`), for rack-aware assignment and
    /// fetch requests.
    pub fn rack(mut self, rack: impl Into<String>) -> Self {
        self.rack = Some(rack.into());
        self
    }

    /// The first retry backoff and its cap.
    pub fn retry_backoff(mut self, first: Duration, max: Duration) -> Self {
        self.retry_backoff = first;
        self.retry_backoff_max = max;
        self
    }

    /// Checks the options and builds the configuration.
    ///
    /// # Errors
    ///
    /// [`Error::Config`] naming the field: an empty group id, a group
    /// instance id or auto-commit without a group id, a zero timeout or
    /// size, a heartbeat interval not below the session timeout,
    /// `fetch_min_bytes` above `fetch_max_bytes`, a prefetch budget below
    /// `partition_max_bytes`, or a duration over `i32::MAX` milliseconds.
    pub fn build(self) -> Result<ConsumerConfig> {
        let b = self;
        for (field, d) in [
            ("session_timeout", b.session_timeout),
            ("heartbeat_interval", b.heartbeat_interval),
            ("request_timeout", b.request_timeout),
            ("auto_commit_interval", b.auto_commit_interval),
            ("max_poll_interval", b.max_poll_interval),
            ("retry_backoff", b.retry_backoff),
        ] {
            positive_millis(field, d)?;
        }
        if let Some(d) = b.rebalance_timeout {
            positive_millis("rebalance_timeout", d)?;
        }
        if b.fetch_max_wait > MAX_MILLIS {
            return Err(Error::config(
                "fetch_max_wait",
                "must fit in i32 milliseconds",
            ));
        }
        if b.retry_backoff_max < b.retry_backoff {
            return Err(Error::config(
                "retry_backoff",
                "the cap must not be below the first backoff",
            ));
        }
        for (field, n) in [
            ("fetch_max_bytes", b.fetch_max_bytes),
            ("partition_max_bytes", b.partition_max_bytes),
            ("prefetch_budget", b.prefetch_budget),
        ] {
            if n == 0 {
                return Err(Error::config(field, "must be positive"));
            }
            if n > i32::MAX as usize && field != "prefetch_budget" {
                return Err(Error::config(field, "must fit in an i32"));
            }
        }
        if b.fetch_min_bytes > b.fetch_max_bytes {
            return Err(Error::config(
                "fetch_min_bytes",
                format!(
                    "{} is above fetch_max_bytes ({})",
                    b.fetch_min_bytes, b.fetch_max_bytes
                ),
            ));
        }
        if b.prefetch_budget < b.partition_max_bytes {
            return Err(Error::config(
                "prefetch_budget",
                format!(
                    "{} is below partition_max_bytes ({}): not even one partition could be fetched",
                    b.prefetch_budget, b.partition_max_bytes
                ),
            ));
        }
        let has_group = b.group_id.is_some();
        if b.group_id.as_deref().is_some_and(str::is_empty) {
            return Err(Error::config("group_id", "must not be empty"));
        }
        if !has_group && b.group_instance_id.is_some() {
            return Err(Error::config(
                "group_instance_id",
                "static membership needs a group_id",
            ));
        }
        if !has_group && b.auto_commit == Some(true) {
            return Err(Error::config(
                "enable_auto_commit",
                "offsets are committed to a group: set a group_id",
            ));
        }
        if b.heartbeat_interval >= b.session_timeout {
            return Err(Error::config(
                "heartbeat_interval",
                format!(
                    "{:?} must be below the session timeout ({:?})",
                    b.heartbeat_interval, b.session_timeout
                ),
            ));
        }
        let group = match &b.group_id {
            None => None,
            Some(id) => {
                let mut g = GroupConfig::builder(id.as_str())
                    .session_timeout(b.session_timeout)
                    .heartbeat_interval(b.heartbeat_interval)
                    .rebalance_timeout(b.rebalance_timeout.unwrap_or(b.max_poll_interval))
                    .request_timeout(b.request_timeout)
                    .retry_backoff(b.retry_backoff, b.retry_backoff_max)
                    .require_stable(b.isolation == IsolationLevel::ReadCommitted);
                if let Some(instance) = &b.group_instance_id {
                    g = g.group_instance_id(instance.as_str());
                }
                if let Some(rack) = &b.rack {
                    g = g.rack(rack.as_str());
                }
                if let Some(assignors) = &b.assignors {
                    g = g.assignors(assignors.clone());
                }
                let field = if b.assignors.as_ref().is_some_and(Vec::is_empty) {
                    "assignment_strategies"
                } else {
                    "group"
                };
                Some(g.build().map_err(|e| Error::config(field, e.to_string()))?)
            }
        };
        Ok(ConsumerConfig {
            group,
            auto_commit: b.auto_commit.unwrap_or(has_group),
            auto_commit_interval: b.auto_commit_interval,
            offset_reset: b.offset_reset,
            isolation: b.isolation,
            fetch_min_bytes: b.fetch_min_bytes,
            fetch_max_bytes: b.fetch_max_bytes,
            fetch_max_wait: b.fetch_max_wait,
            partition_max_bytes: b.partition_max_bytes,
            prefetch_budget: b.prefetch_budget,
            max_poll_interval: b.max_poll_interval,
            fetch_sessions: b.fetch_sessions,
            check_crcs: b.check_crcs,
            rack: b.rack,
            retry_backoff: b.retry_backoff,
        })
    }
}

const MAX_MILLIS: Duration = Duration::from_millis(i32::MAX as u64);

fn positive_millis(field: &'static str, d: Duration) -> Result<()> {
    if d.is_zero() {
        return Err(Error::config(field, "must be positive"));
    }
    if d > MAX_MILLIS {
        return Err(Error::config(field, "must fit in i32 milliseconds"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn field_of(r: Result<ConsumerConfig>) -> &'static str {
        match r {
            Err(Error::Config { field, .. }) => field,
            other => panic!("expected a config error, got {other:?}"),
        }
    }

    #[test]
    fn defaults_follow_the_java_consumer() {
        let c = ConsumerConfig::builder().build().unwrap();
        assert!(c.group_id().is_none());
        assert!(!c.auto_commit(), "no group, no auto-commit");
        assert_eq!(c.offset_reset(), OffsetReset::Latest);
        assert_eq!(c.isolation_level(), IsolationLevel::ReadUncommitted);
        let g = ConsumerConfig::builder().group_id("g").build().unwrap();
        assert!(g.auto_commit());
        let group = g.group().unwrap();
        assert_eq!(group.rebalance_timeout(), Duration::from_secs(300));
        let names: Vec<&str> = group.assignors().iter().map(|a| a.name()).collect();
        assert_eq!(names, ["range", "cooperative-sticky"]);
    }

    #[test]
    fn build_names_the_refused_field() {
        let b = ConsumerConfig::builder;
        assert_eq!(field_of(b().group_id("").build()), "group_id");
        assert_eq!(
            field_of(b().group_instance_id("i").build()),
            "group_instance_id"
        );
        assert_eq!(
            field_of(b().enable_auto_commit(true).build()),
            "enable_auto_commit"
        );
        assert_eq!(
            field_of(
                b().group_id("g")
                    .heartbeat_interval(Duration::from_secs(10))
                    .session_timeout(Duration::from_secs(10))
                    .build()
            ),
            "heartbeat_interval"
        );
        assert_eq!(
            field_of(b().fetch_min_bytes(10).fetch_max_bytes(5).build()),
            "fetch_min_bytes"
        );
        assert_eq!(
            field_of(b().prefetch_budget(10).partition_max_bytes(20).build()),
            "prefetch_budget"
        );
        assert_eq!(
            field_of(b().session_timeout(Duration::ZERO).build()),
            "session_timeout"
        );
        assert_eq!(
            field_of(
                b().group_id("g")
                    .assignment_strategies(std::iter::empty())
                    .build()
            ),
            "assignment_strategies"
        );
        assert_eq!(
            field_of(b().fetch_max_wait(Duration::from_secs(1 << 40)).build()),
            "fetch_max_wait"
        );
    }

    #[test]
    fn strategies_map_to_protocol_names_and_cooperative_only_is_incremental() {
        let c = ConsumerConfig::builder()
            .group_id("g")
            .assignment_strategies([AssignmentStrategy::CooperativeSticky])
            .build()
            .unwrap();
        let g = c.group().unwrap();
        assert_eq!(
            g.rebalance_protocol(),
            gregor_group::RebalanceProtocol::Cooperative
        );
        for (s, name) in [
            (AssignmentStrategy::Range, "range"),
            (AssignmentStrategy::RoundRobin, "roundrobin"),
            (AssignmentStrategy::Sticky, "sticky"),
            (AssignmentStrategy::CooperativeSticky, "cooperative-sticky"),
        ] {
            assert_eq!(s.assignor().name(), name);
        }
    }
}
