//! The fetch pipeline: one task that plans, per broker, one Fetch at a
//! time for the partitions it leads, inside a fetch session, and resolves
//! positions (ListOffsets for earliest / latest / timestamps, OffsetFetch
//! for manually assigned partitions of a group).
//!
//! Each round, under the state lock, the planner picks the partitions that
//! may be fetched (positioned, not paused or revoked, no fetch in flight,
//! their buffer below `partition_max_bytes`), groups them by leader, and
//! for each idle broker asks its [`FetchSession`] for the request: full or
//! incremental. A fetch reserves its `max_bytes` from the prefetch budget;
//! none starts when the budget is spent. The request runs (and its records
//! are decoded) in a task of its own; its result is applied under the lock
//! only to partitions whose epoch and fetch offset are unchanged, so a seek
//! or reassignment meanwhile throws stale data away.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::FutureExt;
use futures::stream::{FuturesUnordered, StreamExt};
use gregor_group::OffsetAndMetadata;
use gregor_net::{BrokerAddr, BrokerId, ClusterMetadata};
use gregor_protocol::records::DecodeOptions;
use gregor_protocol::{ApiKey, ErrorCode, Uuid};
use tokio::sync::watch;
use tokio::task::AbortHandle;
use tracing::Instrument;

use super::TopicPartition;
use super::config::{ConsumerConfig, IsolationLevel};
use super::decode::Decoded;
use super::fetch::{FIRST_FETCH_WITH_SESSIONS, FetchCtx, Fetched, FetchedPartition, fetch};
use super::offsets::{self, Listed, broker_error};
use super::record::OffsetSpec;
use super::session::{FetchSession, PartitionFetch, SessionOutcome};
use super::state::{Mode, Pos, Shared, State, set_ready};
use super::stats::Counters;
use crate::error::Error;

type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send>>;

/// How long a fetch may wait at the broker while another partition of that
/// broker is held back by a full buffer.
const HELD_BACK_MAX_WAIT: Duration = Duration::from_millis(10);

/// How often partitions without a known leader refresh metadata.
const METADATA_RETRY: Duration = Duration::from_secs(1);

/// Starts the fetcher task.
pub(crate) fn spawn(shared: Arc<Shared>) -> tokio::task::JoinHandle<()> {
    let span = tracing::debug_span!("consumer_fetcher", group = ?shared.group_id());
    let fetcher = Fetcher::new(shared);
    tokio::spawn(fetcher.run().instrument(span))
}

/// A fetch's outcome, with what it was planned for.
struct FetchDone {
    broker: BrokerId,
    fetch_id: u64,
    /// Each partition's epoch and fetch offset when planned.
    parts: BTreeMap<TopicPartition, (u64, i64)>,
    reserved: usize,
    elapsed: Duration,
    result: Result<Fetched, FetchError>,
}

enum FetchError {
    Net(gregor_net::Error),
    Panicked,
}

/// An offset lookup's outcome.
enum LookupDone {
    Reset {
        items: Vec<(TopicPartition, OffsetSpec, u64)>,
        result: crate::Result<(BrokerAddr, Vec<Listed>)>,
    },
    Committed {
        items: Vec<(TopicPartition, u64)>,
        result: crate::Result<BTreeMap<TopicPartition, Option<OffsetAndMetadata>>>,
    },
    Metadata {
        topics: BTreeSet<String>,
        result: gregor_net::Result<Arc<ClusterMetadata>>,
    },
}

struct Fetcher {
    shared: Arc<Shared>,
    sessions: HashMap<BrokerId, FetchSession>,
    /// The Fetch version each broker last spoke.
    versions: HashMap<BrokerId, i16>,
    busy: HashSet<BrokerId>,
    /// Brokers backing off after a failure: until when, and the delay.
    backoff: HashMap<BrokerId, (Instant, Duration)>,
    fetches: FuturesUnordered<BoxFuture<FetchDone>>,
    aborts: HashMap<u64, AbortHandle>,
    lookups: FuturesUnordered<BoxFuture<LookupDone>>,
    refreshing: bool,
    last_refresh: Option<Instant>,
    reported: HashSet<String>,
    next_fetch_id: u64,
    metadata_rx: watch::Receiver<Arc<ClusterMetadata>>,
}

impl Fetcher {
    fn new(shared: Arc<Shared>) -> Self {
        Self {
            metadata_rx: shared.cluster.watch_metadata(),
            shared,
            sessions: HashMap::new(),
            versions: HashMap::new(),
            busy: HashSet::new(),
            backoff: HashMap::new(),
            fetches: FuturesUnordered::new(),
            aborts: HashMap::new(),
            lookups: FuturesUnordered::new(),
            refreshing: false,
            last_refresh: None,
            reported: HashSet::new(),
            next_fetch_id: 0,
        }
    }

    async fn run(mut self) {
        loop {
            let wake = self.plan();
            if self.shared.lock().closed {
                break;
            }
            let notified = self.shared.fetcher_wake.notified();
            let sleep = async {
                match wake {
                    Some(at) => tokio::time::sleep_until(tokio::time::Instant::from_std(at)).await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                Some(done) = self.fetches.next(), if !self.fetches.is_empty() => self.on_fetch(done),
                Some(done) = self.lookups.next(), if !self.lookups.is_empty() => self.on_lookup(done),
                () = notified => {}
                Ok(()) = self.metadata_rx.changed() => {}
                () = sleep => {}
            }
        }
        for (_, abort) in self.aborts.drain() {
            abort.abort();
        }
    }

    fn config(&self) -> &ConsumerConfig {
        &self.shared.config
    }

    /// Starts every fetch and lookup that can start; returns when to look
    /// again if nothing else wakes the task.
    fn plan(&mut self) -> Option<Instant> {
        let now = Instant::now();
        let md = self.shared.cluster.metadata();
        let config = self.shared.config.clone();
        let mut wake: Option<Instant> = None;
        let mut soon = |t: Instant| wake = Some(wake.map_or(t, |w: Instant| w.min(t)));
        self.backoff.retain(|_, (until, _)| *until > now);
        for (until, _) in self.backoff.values() {
            soon(*until);
        }

        let mut wanted: BTreeMap<BrokerId, BTreeMap<TopicPartition, PartitionFetch>> =
            BTreeMap::new();
        let mut resets: BTreeMap<BrokerId, Vec<(TopicPartition, OffsetSpec, u64)>> =
            BTreeMap::new();
        let mut lookups: Vec<(TopicPartition, u64)> = Vec::new();
        let mut unknown: BTreeSet<String> = BTreeSet::new();
        // Brokers with a partition held back only because its buffer is full.
        let mut held_back: BTreeSet<BrokerId> = BTreeSet::new();
        let mut topics: HashMap<String, Arc<str>> = HashMap::new();
        let shared = self.shared.clone();
        let mut st = shared.lock();
        if st.closed {
            return None;
        }
        for (tp, ps) in st.partitions.iter_mut() {
            if let Some(t) = ps.not_before {
                if t > now {
                    soon(t);
                    continue;
                }
                ps.not_before = None;
            }
            let leader = md.leader_for(&tp.topic, tp.partition);
            match ps.pos {
                Pos::LookupCommitted { in_flight: false } => {
                    lookups.push((tp.clone(), ps.epoch));
                    ps.pos = Pos::LookupCommitted { in_flight: true };
                }
                Pos::Reset {
                    spec,
                    in_flight: false,
                } => match leader {
                    Some(b) => {
                        resets
                            .entry(b)
                            .or_default()
                            .push((tp.clone(), spec, ps.epoch));
                        ps.pos = Pos::Reset {
                            spec,
                            in_flight: true,
                        };
                    }
                    None => {
                        unknown.insert(tp.topic.clone());
                    }
                },
                Pos::Ready
                    if ps.in_flight.is_none()
                        && ps.deliverable()
                        && ps.buffered_bytes < config.partition_max_bytes =>
                {
                    let Some(b) = leader else {
                        unknown.insert(tp.topic.clone());
                        continue;
                    };
                    if self.busy.contains(&b) || self.backoff.contains_key(&b) {
                        continue;
                    }
                    let max_bytes = ps.max_bytes_override.unwrap_or(config.partition_max_bytes);
                    wanted.entry(b).or_default().insert(
                        tp.clone(),
                        PartitionFetch {
                            fetch_offset: ps.fetch_offset,
                            max_bytes: i32::try_from(max_bytes).unwrap_or(i32::MAX),
                            topic_id: md.topic_id(&tp.topic).unwrap_or(Uuid::ZERO),
                        },
                    );
                    topics
                        .entry(tp.topic.clone())
                        .or_insert_with(|| ps.topic.clone());
                }
                Pos::Ready if ps.in_flight.is_none() && ps.deliverable() => {
                    if let Some(b) = leader {
                        held_back.insert(b);
                    }
                }
                _ => {}
            }
        }

        for (broker, parts) in wanted {
            let left = st.budget_left(config.prefetch_budget);
            if left == 0 {
                break;
            }
            let max_bytes = config.fetch_max_bytes.min(left);
            st.reserved_bytes += max_bytes;
            self.next_fetch_id += 1;
            let fetch_id = self.next_fetch_id;
            let mut planned = BTreeMap::new();
            for (tp, pf) in &parts {
                if let Some(ps) = st.partitions.get_mut(tp) {
                    ps.in_flight = Some(fetch_id);
                    planned.insert(tp.clone(), (ps.epoch, pf.fetch_offset));
                }
            }
            let use_session = config.fetch_sessions
                && self
                    .versions
                    .get(&broker)
                    .is_none_or(|v| *v >= FIRST_FETCH_WITH_SESSIONS);
            let plan = self
                .sessions
                .entry(broker)
                .or_default()
                .plan(parts, use_session);
            self.busy.insert(broker);
            let ctx = FetchCtx {
                cluster: self.shared.cluster.clone(),
                broker,
                plan,
                topics: topics.clone(),
                isolation: config.isolation,
                min_bytes: i32::try_from(config.fetch_min_bytes).unwrap_or(i32::MAX),
                max_bytes: i32::try_from(max_bytes).unwrap_or(i32::MAX),
                // A broker may answer one partition with more than its
                // per-partition limit (KIP-74 lets the first batch through;
                // some brokers ignore the limit). While that buffer drains,
                // a fetch of the broker's other, caught-up partitions must
                // not park for the full max wait: the held-back partition
                // could only rejoin once it returns.
                max_wait: if held_back.contains(&broker) {
                    self.max_wait().min(HELD_BACK_MAX_WAIT)
                } else {
                    self.max_wait()
                },
                rack: config.rack.clone(),
                decode: DecodeOptions::new().with_verify_crc(config.check_crcs),
            };
            self.start_fetch(ctx, fetch_id, planned, max_bytes);
        }
        drop(st);

        for (broker, items) in resets {
            let cluster = self.shared.cluster.clone();
            let isolation = config.isolation;
            self.lookups.push(Box::pin(async move {
                let specs: Vec<(TopicPartition, OffsetSpec)> =
                    items.iter().map(|(tp, s, _)| (tp.clone(), *s)).collect();
                let result = async {
                    let conn = cluster.connection(broker).await?;
                    let listed = offsets::list_offsets(&conn, &specs, isolation).await?;
                    Ok((conn.broker().clone(), listed))
                }
                .await;
                LookupDone::Reset { items, result }
            }));
        }
        if !lookups.is_empty()
            && let Some(group) = config.group_id().map(str::to_owned)
        {
            let cluster = self.shared.cluster.clone();
            let stable = config.isolation == IsolationLevel::ReadCommitted;
            self.lookups.push(Box::pin(async move {
                let tps: Vec<TopicPartition> = lookups.iter().map(|(tp, _)| tp.clone()).collect();
                let result = offsets::fetch_committed(&cluster, &group, &tps, stable).await;
                LookupDone::Committed {
                    items: lookups,
                    result,
                }
            }));
        }
        if !unknown.is_empty() {
            match self.last_refresh {
                _ if self.refreshing => {}
                Some(last) if now < last + METADATA_RETRY => soon(last + METADATA_RETRY),
                _ => {
                    self.refreshing = true;
                    self.last_refresh = Some(now);
                    let cluster = self.shared.cluster.clone();
                    let list: Vec<String> = unknown.iter().cloned().collect();
                    self.lookups.push(Box::pin(async move {
                        let result = cluster.refresh_topics(&list).await;
                        LookupDone::Metadata {
                            topics: unknown,
                            result,
                        }
                    }));
                }
            }
        }
        wake
    }

    /// `fetch_max_wait`, kept within the connection's request timeout.
    fn max_wait(&self) -> Duration {
        let limit = self
            .shared
            .cluster
            .config()
            .connector()
            .config()
            .request_timeout()
            * 3
            / 4;
        self.config().fetch_max_wait.min(limit)
    }

    fn start_fetch(
        &mut self,
        ctx: FetchCtx,
        fetch_id: u64,
        parts: BTreeMap<TopicPartition, (u64, i64)>,
        reserved: usize,
    ) {
        let broker = ctx.broker;
        let span = tracing::debug_span!(
            "fetch",
            broker_id = broker.0,
            session_id = ctx.plan.session_id,
            epoch = ctx.plan.epoch,
            partitions = ctx.plan.wanted.len()
        );
        let started = Instant::now();
        let task = tokio::spawn(fetch(ctx).instrument(span));
        self.aborts.insert(fetch_id, task.abort_handle());
        self.fetches
            .push(Box::pin(task.map(move |joined| FetchDone {
                broker,
                fetch_id,
                parts,
                reserved,
                elapsed: started.elapsed(),
                result: match joined {
                    Ok(Ok(f)) => Ok(f),
                    Ok(Err(e)) => Err(FetchError::Net(e)),
                    Err(_) => Err(FetchError::Panicked),
                },
            })));
    }

    fn on_fetch(&mut self, done: FetchDone) {
        self.busy.remove(&done.broker);
        self.aborts.remove(&done.fetch_id);
        let counters = &self.shared.counters;
        let mut st = self.shared.lock();
        st.reserved_bytes -= done.reserved;
        for tp in done.parts.keys() {
            if let Some(ps) = st.partitions.get_mut(tp)
                && ps.in_flight == Some(done.fetch_id)
            {
                ps.in_flight = None;
            }
        }
        let session = self.sessions.entry(done.broker).or_default();
        let fetched = match done.result {
            Ok(f) => f,
            Err(e) => {
                session.on_failure();
                drop(st);
                self.broker_failed(done.broker, e);
                return;
            }
        };
        counters.fetch_took(done.elapsed);
        self.versions.insert(done.broker, fetched.version);
        let before = session.stats;
        let outcome = session.on_response(&fetched.plan, fetched.error_code, fetched.session_id);
        let after = session.stats;
        Counters::add(&counters.fetch_session_resets, after.resets - before.resets);
        if outcome == SessionOutcome::Reset {
            tracing::debug!(broker_id = done.broker.0, code = %fetched.error_code.name(), "fetch session lost; fetching in full");
            return;
        }
        if fetched.error_code.is_err() {
            drop(st);
            let e = gregor_net::Error::Broker {
                broker: fetched.broker.clone(),
                code: fetched.error_code,
                api: ApiKey::Fetch,
                topic: None,
                partition: None,
                message: None,
            };
            self.broker_failed(done.broker, FetchError::Net(e));
            return;
        }
        Counters::add(&counters.fetches, 1);
        Counters::add(
            &counters.incremental_fetches,
            after.incremental - before.incremental,
        );
        self.backoff.remove(&done.broker);
        let mut news = false;
        for part in fetched.partitions {
            let Some(&(epoch, offset)) = done.parts.get(&part.tp) else {
                continue;
            };
            let current = st.partitions.get(&part.tp).is_some_and(|ps| {
                ps.epoch == epoch && ps.pos == Pos::Ready && ps.fetch_offset == offset
            });
            if !current {
                continue;
            }
            news |= apply_partition(&self.shared, &mut st, &fetched.broker, part, offset);
        }
        drop(st);
        if news {
            self.shared.data_ready.notify_waiters();
        }
    }

    /// A fetch to `broker` failed as a whole: back off, and report errors
    /// retrying cannot fix.
    fn broker_failed(&mut self, broker: BrokerId, e: FetchError) {
        let first = self.config().retry_backoff;
        let delay = self
            .backoff
            .get(&broker)
            .map_or(first, |(_, d)| (*d * 2).min(Duration::from_secs(1)));
        self.backoff.insert(broker, (Instant::now() + delay, delay));
        match e {
            FetchError::Net(e) => {
                self.shared.cluster.on_error(&e);
                if e.is_retriable() {
                    Counters::add(&self.shared.counters.errors, 1);
                    tracing::debug!(broker_id = broker.0, error = %e, retry_in = ?delay, "fetch failed");
                } else {
                    self.shared.report(Error::Net(e));
                }
            }
            FetchError::Panicked => {
                tracing::error!(broker_id = broker.0, "the fetch task panicked");
            }
        }
    }

    fn on_lookup(&mut self, done: LookupDone) {
        let now = Instant::now();
        let backoff = now + self.config().retry_backoff;
        let reset = self.config().offset_reset;
        let group = self.config().group_id().map(str::to_owned);
        let mut errors: Vec<Error> = Vec::new();
        match done {
            LookupDone::Reset { items, result } => {
                let mut st = self.shared.lock();
                let (addr, listed) = match result {
                    Ok(r) => r,
                    Err(e) => {
                        for (tp, spec, epoch) in &items {
                            retry_reset(&mut st, tp, *spec, *epoch, backoff);
                        }
                        if e.is_retriable() {
                            tracing::debug!(error = %e, "offset lookup failed; retrying");
                        } else {
                            errors.push(e);
                        }
                        drop(st);
                        self.report_all(errors);
                        return;
                    }
                };
                for (tp, spec, epoch) in items {
                    let waiting = st.partitions.get(&tp).is_some_and(|ps| {
                        ps.epoch == epoch
                            && matches!(
                                ps.pos,
                                Pos::Reset {
                                    in_flight: true,
                                    ..
                                }
                            )
                    });
                    if !waiting {
                        continue;
                    }
                    let found = listed.iter().find(|l| l.tp == tp);
                    match found.map(|l| (l.code, l.offset)) {
                        Some((ErrorCode::None, offset)) => {
                            if let Some(ps) = st.partitions.get_mut(&tp) {
                                if offset >= 0 {
                                    tracing::debug!(topic = %tp.topic, partition = tp.partition, offset, ?spec, "position reset");
                                    set_ready(ps, offset);
                                } else {
                                    // No record at or after the timestamp.
                                    ps.pos = Pos::Reset {
                                        spec: OffsetSpec::Latest,
                                        in_flight: false,
                                    };
                                }
                            }
                        }
                        Some((code, _))
                            if code.is_err() && !stale_metadata(code) && !code.is_retriable() =>
                        {
                            if let Some(ps) = st.partitions.get_mut(&tp) {
                                ps.pos = Pos::Failed;
                            }
                            errors.push(Error::Net(broker_error(
                                &addr,
                                ApiKey::ListOffsets,
                                code,
                                &tp.topic,
                                Some(tp.partition),
                            )));
                        }
                        other => {
                            if let Some((code, _)) = other {
                                self.shared.cluster.on_error(&broker_error(
                                    &addr,
                                    ApiKey::ListOffsets,
                                    code,
                                    &tp.topic,
                                    Some(tp.partition),
                                ));
                            }
                            retry_reset(&mut st, &tp, spec, epoch, backoff);
                        }
                    }
                }
            }
            LookupDone::Committed { items, result } => {
                let mut st = self.shared.lock();
                let waiting = |st: &State, tp: &TopicPartition, epoch: u64| {
                    st.partitions.get(tp).is_some_and(|ps| {
                        ps.epoch == epoch && ps.pos == Pos::LookupCommitted { in_flight: true }
                    })
                };
                match result {
                    Ok(found) => {
                        let offsets: BTreeMap<TopicPartition, Option<i64>> = items
                            .iter()
                            .filter(|(tp, epoch)| waiting(&st, tp, *epoch))
                            .map(|(tp, _)| {
                                let o = found.get(tp).cloned().flatten().map(|om| om.offset);
                                (tp.clone(), o)
                            })
                            .collect();
                        let before = st.errors.len();
                        st.apply_committed(offsets, reset, group.as_deref());
                        if st.errors.len() > before {
                            self.shared.data_ready.notify_waiters();
                        }
                    }
                    Err(e) => {
                        for (tp, epoch) in &items {
                            if waiting(&st, tp, *epoch)
                                && let Some(ps) = st.partitions.get_mut(tp)
                            {
                                ps.pos = Pos::LookupCommitted { in_flight: false };
                                ps.not_before = Some(backoff);
                            }
                        }
                        if e.is_retriable() {
                            tracing::debug!(error = %e, "committed offset lookup failed; retrying");
                        } else {
                            errors.push(e);
                        }
                    }
                }
            }
            LookupDone::Metadata { topics, result } => {
                self.refreshing = false;
                match result {
                    Ok(md) => {
                        let manual = self.shared.lock().mode == Mode::Manual;
                        for topic in topics {
                            let exists = md.topic(&topic).is_some_and(|t| !t.partitions.is_empty());
                            if exists {
                                self.reported.remove(&topic);
                            } else if manual && self.reported.insert(topic.clone()) {
                                errors.push(Error::UnknownTopic {
                                    group: group.clone(),
                                    topic,
                                });
                            }
                        }
                    }
                    Err(e) => tracing::debug!(error = %e, "metadata refresh failed"),
                }
            }
        }
        self.report_all(errors);
    }

    fn report_all(&self, errors: Vec<Error>) {
        for e in errors {
            self.shared.report(e);
        }
    }
}

/// Puts a partition whose offset lookup failed back in line.
fn retry_reset(st: &mut State, tp: &TopicPartition, spec: OffsetSpec, epoch: u64, at: Instant) {
    if let Some(ps) = st.partitions.get_mut(tp)
        && ps.epoch == epoch
        && matches!(
            ps.pos,
            Pos::Reset {
                in_flight: true,
                ..
            }
        )
    {
        ps.pos = Pos::Reset {
            spec,
            in_flight: false,
        };
        ps.not_before = Some(at);
    }
}

/// Error codes that mean the metadata is out of date.
fn stale_metadata(code: ErrorCode) -> bool {
    matches!(
        code,
        ErrorCode::NotLeaderOrFollower
            | ErrorCode::UnknownTopicOrPartition
            | ErrorCode::LeaderNotAvailable
            | ErrorCode::FencedLeaderEpoch
            | ErrorCode::UnknownLeaderEpoch
            | ErrorCode::KafkaStorageError
            | ErrorCode::ReplicaNotAvailable
            | ErrorCode::UnknownTopicId
            | ErrorCode::InconsistentTopicId
            | ErrorCode::OffsetNotAvailable
    )
}

/// Applies one partition of a current fetch response; returns whether the
/// application has something new (records or an error).
fn apply_partition(
    shared: &Shared,
    st: &mut State,
    broker: &BrokerAddr,
    part: FetchedPartition,
    offset: i64,
) -> bool {
    let config = &shared.config;
    let tp = part.tp;
    let backoff = Instant::now() + config.retry_backoff;
    match part.code {
        ErrorCode::None => {}
        ErrorCode::OffsetOutOfRange => {
            let before = st.errors.len();
            st.out_of_range(&tp, offset, config.offset_reset);
            return st.errors.len() > before;
        }
        code if stale_metadata(code) => {
            tracing::debug!(topic = %tp.topic, partition = tp.partition, code = code.name(), "fetch: metadata out of date");
            shared.cluster.on_error(&broker_error(
                broker,
                ApiKey::Fetch,
                code,
                &tp.topic,
                Some(tp.partition),
            ));
            if let Some(ps) = st.partitions.get_mut(&tp) {
                ps.not_before = Some(backoff);
            }
            return false;
        }
        code => {
            let e = broker_error(broker, ApiKey::Fetch, code, &tp.topic, Some(tp.partition));
            if let Some(ps) = st.partitions.get_mut(&tp) {
                if code.is_retriable() {
                    ps.not_before = Some(backoff);
                } else {
                    ps.pos = Pos::Failed;
                }
            }
            tracing::warn!(error = %e, "fetch error");
            Counters::add(&shared.counters.errors, 1);
            st.errors.push_back(Error::Net(e));
            return true;
        }
    }
    let Decoded {
        records,
        next_offset,
        bytes,
        partial,
        error,
    } = part.decoded;
    if let Some(ps) = st.partitions.get_mut(&tp) {
        ps.marks = part.marks;
    }
    let got_records = !records.is_empty();
    if let Some(next) = next_offset {
        st.push_fetched(&tp, records, bytes, next);
        if let Some(ps) = st.partitions.get_mut(&tp) {
            ps.max_bytes_override = None;
        }
    } else if let Some(partial) = partial {
        let Some(ps) = st.partitions.get_mut(&tp) else {
            return false;
        };
        let current = ps.max_bytes_override.unwrap_or(config.partition_max_bytes);
        match partial.size {
            Some(size) if size > current && size <= config.fetch_max_bytes => {
                tracing::debug!(topic = %tp.topic, partition = tp.partition, size, "a batch larger than the fetch limit; growing it");
                ps.max_bytes_override = Some(size);
            }
            size => {
                ps.pos = Pos::Failed;
                st.errors
                    .push_back(Error::Net(gregor_net::Error::RecordTooLarge {
                        broker: broker.clone(),
                        topic: tp.topic.clone(),
                        partition: tp.partition,
                        offset: partial.base_offset.unwrap_or(offset),
                        size,
                        max_bytes: current,
                    }));
                return true;
            }
        }
    }
    if let Some((at, source)) = error
        && next_offset.is_none()
    {
        if let Some(ps) = st.partitions.get_mut(&tp) {
            ps.pos = Pos::Failed;
        }
        st.errors
            .push_back(Error::Net(gregor_net::Error::CorruptRecords {
                broker: broker.clone(),
                topic: tp.topic.clone(),
                partition: tp.partition,
                offset: at,
                source,
            }));
        return true;
    }
    got_records
}
