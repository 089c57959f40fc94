//! The group driver: a task that runs a [`GroupMember`] against the
//! cluster.
//!
//! It sends what the member asks to send (FindCoordinator to any broker,
//! everything else over a connection of its own to the coordinator: see
//! `coordinator`), feeds back the responses and timeouts, answers the leader's metadata needs,
//! commits on the auto-commit interval, and turns the member's events into
//! partition state and listener calls:
//!
//! - **Assigned**: the partitions join the consumer, unfetched until their
//!   committed offsets arrive and `on_assigned` returns.
//! - **Revoked**: nothing more of them is handed out at once; then the
//!   driver waits for the application to poll again (so every record
//!   handed out is processed), calls `on_revoked`, commits the processed
//!   offsets (with auto-commit) and waits for the answer, and only then
//!   acknowledges, letting the member rejoin.
//! - **Lost**: the partitions are dropped at once, `on_lost` is called,
//!   nothing is committed.
//!
//! Listener calls and the work around them are "jobs", run one at a time
//! in event order while the loop keeps serving the member (heartbeats go
//! on during a slow listener, and its commits are answered).

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::pin::Pin;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::FutureExt;
use futures::stream::{FuturesUnordered, StreamExt};
use gregor_group::{
    Event, Failure, GroupConfig, GroupMember, OffsetAndMetadata, Outgoing, RequestId, Response,
    TopicPartitions,
};
use gregor_net::{BrokerAddr, ClusterMetadata};
use gregor_protocol::ErrorCode;
use tokio::sync::{mpsc, oneshot, watch};
use tracing::Instrument;

use super::TopicPartition;
use super::coordinator::{CoordinatorLink, coordinator_connector, transmit};
use super::handle::ConsumerHandle;
use super::listener::RebalanceListener;
use super::state::Shared;
use super::stats::Counters;
use crate::error::{Error, Result};

type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send>>;

/// What the consumer asks of its group driver.
pub(crate) enum GroupCommand {
    /// Sets the subscription (empty: leave).
    Subscribe(BTreeSet<String>),
    /// Commits offsets; the reply (if wanted) comes with the answer.
    Commit {
        offsets: BTreeMap<TopicPartition, OffsetAndMetadata>,
        reply: Option<oneshot::Sender<Result<()>>>,
    },
    /// Replaces the rebalance listener.
    Listener(Arc<dyn RebalanceListener>),
    /// Leaves the group (committing revoked partitions first) and stops.
    Close(oneshot::Sender<Result<()>>),
}

impl std::fmt::Debug for GroupCommand {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            GroupCommand::Subscribe(t) => f.debug_tuple("Subscribe").field(t).finish(),
            GroupCommand::Commit { offsets, .. } => {
                f.debug_struct("Commit").field("offsets", offsets).finish()
            }
            GroupCommand::Listener(_) => f.write_str("Listener"),
            GroupCommand::Close(_) => f.write_str("Close"),
        }
    }
}

/// Starts the driver; returns its inbox and task.
pub(crate) fn spawn(
    shared: Arc<Shared>,
    group: GroupConfig,
    listener: Arc<dyn RebalanceListener>,
) -> (
    mpsc::UnboundedSender<GroupCommand>,
    tokio::task::JoinHandle<()>,
) {
    let (tx, rx) = mpsc::unbounded_channel();
    let span = tracing::info_span!("consumer_group", group = group.group_id());
    let driver = Driver::new(shared, group, listener, rx);
    let task = tokio::spawn(driver.run().instrument(span));
    (tx, task)
}

/// A commit the application waits for.
struct CommitWaiter {
    remaining: BTreeMap<TopicPartition, OffsetAndMetadata>,
    error: Option<gregor_group::Error>,
    reply: Option<oneshot::Sender<Result<()>>>,
}

/// A listener call and what follows it.
#[derive(Debug)]
enum Job {
    Assigned(BTreeSet<TopicPartition>),
    Revoked(BTreeSet<TopicPartition>),
    Lost {
        partitions: BTreeSet<TopicPartition>,
        /// Revoked partitions treated as lost (the application stopped
        /// polling): acknowledge the revocation afterwards.
        ack: bool,
    },
}

struct Driver {
    shared: Arc<Shared>,
    handle: ConsumerHandle,
    member: GroupMember,
    group_id: String,
    listener: Arc<dyn RebalanceListener>,
    rx: mpsc::UnboundedReceiver<GroupCommand>,
    coordinator: Arc<CoordinatorLink>,
    requests: FuturesUnordered<BoxFuture<(RequestId, Response)>>,
    jobs: VecDeque<Job>,
    running: Option<(Job, BoxFuture<()>)>,
    waiters: Vec<CommitWaiter>,
    close: Vec<oneshot::Sender<Result<()>>>,
    /// Topics whose metadata the member needs (subscription, and as leader
    /// the whole group's).
    interest: BTreeSet<String>,
    refresh: Option<BoxFuture<gregor_net::Result<Arc<ClusterMetadata>>>>,
    refresh_again: bool,
    refresh_retry: Option<Instant>,
    given: Option<TopicPartitions>,
    missing: BTreeSet<String>,
    metadata_rx: watch::Receiver<Arc<ClusterMetadata>>,
    next_auto_commit: Option<Instant>,
    /// The application stopped polling: the member left, and rejoins at
    /// the next poll.
    poll_expired: Option<Instant>,
    fatal: bool,
}

impl Driver {
    fn new(
        shared: Arc<Shared>,
        group: GroupConfig,
        listener: Arc<dyn RebalanceListener>,
        rx: mpsc::UnboundedReceiver<GroupCommand>,
    ) -> Self {
        let connector = coordinator_connector(&shared.cluster, &group);
        let next_auto_commit = shared
            .config
            .auto_commit
            .then(|| Instant::now() + shared.config.auto_commit_interval);
        Self {
            handle: ConsumerHandle::new(shared.clone()),
            metadata_rx: shared.cluster.watch_metadata(),
            group_id: group.group_id().to_owned(),
            member: GroupMember::new(group),
            shared,
            listener,
            rx,
            coordinator: Arc::new(CoordinatorLink::new(connector)),
            requests: FuturesUnordered::new(),
            jobs: VecDeque::new(),
            running: None,
            waiters: Vec::new(),
            close: Vec::new(),
            interest: BTreeSet::new(),
            refresh: None,
            refresh_again: false,
            refresh_retry: None,
            given: None,
            missing: BTreeSet::new(),
            next_auto_commit,
            poll_expired: None,
            fatal: false,
        }
    }

    async fn run(mut self) {
        loop {
            self.check_liveness(Instant::now());
            self.flush();
            if self.finished() {
                break;
            }
            self.start_job();
            let deadline = self.deadline();
            let polled = self.shared.polled.notified();
            tokio::select! {
                Some((id, response)) = self.requests.next(), if !self.requests.is_empty() => {
                    self.member.handle_response(Instant::now(), id, response);
                }
                cmd = self.rx.recv() => match cmd {
                    Some(cmd) => self.command(cmd),
                    None => break,
                },
                () = run_job(&mut self.running), if self.running.is_some() => {
                    self.finish_job();
                }
                result = run_refresh(&mut self.refresh), if self.refresh.is_some() => {
                    self.on_metadata(result);
                }
                Ok(()) = self.metadata_rx.changed() => self.on_metadata_change(),
                () = polled, if self.poll_expired.is_some() => {}
                () = tokio::time::sleep_until(tokio::time::Instant::from_std(deadline)) => {
                    self.on_timer();
                }
            }
        }
        *self.shared.group.lock().unwrap_or_else(|e| e.into_inner()) = None;
        for reply in self.close.drain(..) {
            let _ = reply.send(Ok(()));
        }
    }

    /// Sends everything the member wants sent and handles its events,
    /// until neither has more.
    fn flush(&mut self) {
        loop {
            let now = Instant::now();
            let mut progress = false;
            while let Some(out) = self.member.poll_transmit(now) {
                progress = true;
                self.send(out);
            }
            while let Some(event) = self.member.poll_event() {
                progress = true;
                self.on_event(event);
            }
            if !progress {
                return;
            }
        }
    }

    /// Whether the driver is done: closed and out of the group.
    fn finished(&self) -> bool {
        !self.close.is_empty()
            && (self.fatal
                || (self.member.state() == gregor_group::MemberState::Idle
                    && self.running.is_none()
                    && self.jobs.is_empty()))
    }

    fn deadline(&self) -> Instant {
        let now = Instant::now();
        [
            self.member.poll_timeout(),
            self.next_auto_commit,
            self.refresh_retry,
            // The liveness check.
            Some(now + Duration::from_secs(1)),
        ]
        .into_iter()
        .flatten()
        .min()
        .unwrap_or(now + Duration::from_secs(1))
    }

    fn send(&mut self, out: Outgoing) {
        let cluster = self.shared.cluster.clone();
        let link = self.coordinator.clone();
        let id = out.id;
        let span = tracing::debug_span!("group_request", api = %out.request.api_key(), %id);
        self.requests.push(Box::pin(
            async move {
                let timeout = out.timeout;
                let response =
                    match tokio::time::timeout(timeout, transmit(&cluster, &link, out)).await {
                        Ok(r) => r,
                        Err(_) => Response::Failed(Failure::TimedOut),
                    };
                (id, response)
            }
            .instrument(span),
        ));
    }

    fn group_error(&self, source: gregor_group::Error) -> Error {
        Error::Group {
            group: self.group_id.clone(),
            source,
        }
    }

    fn command(&mut self, cmd: GroupCommand) {
        let now = Instant::now();
        match cmd {
            GroupCommand::Subscribe(topics) => {
                tracing::info!(topics = ?topics, "subscribing");
                self.interest = topics.clone();
                self.poll_expired = None;
                self.member.subscribe(now, topics);
                self.want_metadata();
            }
            GroupCommand::Commit { offsets, reply } => {
                if offsets.is_empty() {
                    if let Some(reply) = reply {
                        let _ = reply.send(Ok(()));
                    }
                    return;
                }
                match self.member.commit(now, offsets.clone()) {
                    Ok(()) => self.waiters.push(CommitWaiter {
                        remaining: offsets,
                        error: None,
                        reply,
                    }),
                    Err(e) => {
                        Counters::add(&self.shared.counters.commit_failures, 1);
                        tracing::debug!(error = %e, "commit refused");
                        if let Some(reply) = reply {
                            let _ = reply.send(Err(self.group_error(e)));
                        }
                    }
                }
            }
            GroupCommand::Listener(listener) => self.listener = listener,
            GroupCommand::Close(reply) => {
                tracing::info!("leaving the group");
                self.close.push(reply);
                if !self.fatal {
                    self.poll_expired = None;
                    self.member.leave(now);
                }
            }
        }
    }

    fn on_event(&mut self, event: Event) {
        let counters = &self.shared.counters;
        match event {
            Event::Assigned {
                partitions,
                generation,
            } => {
                tracing::info!(generation, partitions = %list(&partitions), "partitions assigned");
                Counters::add(&counters.rebalances, 1);
                self.shared.lock().add_group_partitions(&partitions);
                self.jobs.push_back(Job::Assigned(partitions));
            }
            Event::OffsetsFetched { offsets } => {
                let offsets = offsets
                    .into_iter()
                    .map(|(tp, om)| (tp, om.map(|o| o.offset)))
                    .collect();
                let failed = {
                    let mut st = self.shared.lock();
                    let before = st.errors.len();
                    st.apply_committed(
                        offsets,
                        self.shared.config.offset_reset,
                        Some(&self.group_id),
                    );
                    st.errors.len() > before
                };
                self.shared.wake_fetcher();
                if failed {
                    self.shared.data_ready.notify_waiters();
                }
            }
            Event::Revoked { partitions } => {
                tracing::info!(partitions = %list(&partitions), "partitions revoked");
                self.shared.lock().begin_revoke(&partitions);
                if self.poll_expired.is_some() {
                    self.jobs.push_back(Job::Lost {
                        partitions,
                        ack: true,
                    });
                } else {
                    self.jobs.push_back(Job::Revoked(partitions));
                }
            }
            Event::Lost { partitions } => {
                tracing::warn!(partitions = %list(&partitions), "partitions lost");
                self.shared.lock().remove(&partitions);
                self.shared.wake_fetcher();
                self.jobs.push_back(Job::Lost {
                    partitions,
                    ack: false,
                });
            }
            Event::Committed { offsets } => {
                Counters::add(&counters.commits, 1);
                let plain = offsets
                    .iter()
                    .map(|(tp, om)| (tp.clone(), om.offset))
                    .collect();
                self.shared.lock().mark_committed(&plain);
                self.resolve(&offsets, None);
            }
            Event::CommitFailed { offsets, error } => {
                Counters::add(&counters.commit_failures, 1);
                tracing::warn!(error = %error, partitions = offsets.len(), "commit failed");
                self.resolve(&offsets, Some(error));
            }
            Event::MetadataNeeded { topics } => {
                self.interest.extend(topics);
                self.want_metadata();
            }
            Event::Left => tracing::info!("left the group"),
            Event::Error(gregor_group::Error::Partition {
                api: gregor_protocol::ApiKey::OffsetFetch,
                topic,
                partition,
                code,
            }) => {
                // No committed offset will come for it: stop the partition
                // and say why.
                let tp = TopicPartition::new(topic, partition);
                self.shared.lock().fail(&tp);
                self.shared
                    .report(self.group_error(gregor_group::Error::Partition {
                        api: gregor_protocol::ApiKey::OffsetFetch,
                        topic: tp.topic,
                        partition,
                        code,
                    }));
            }
            Event::Error(e) => {
                Counters::add(&counters.errors, 1);
                tracing::warn!(error = %e, "group error; the member recovers by itself");
            }
            Event::Fatal(e) => {
                tracing::error!(error = %e, "the group member stopped");
                self.fatal = true;
                self.shared.report(self.group_error(e.clone()));
                for w in self.waiters.drain(..) {
                    if let Some(reply) = w.reply {
                        let _ = reply.send(Err(Error::Group {
                            group: self.group_id.clone(),
                            source: e.clone(),
                        }));
                    }
                }
            }
            other => tracing::debug!(event = ?other, "group event"),
        }
    }

    /// Matches a commit result to the oldest waiter that asked for it.
    fn resolve(
        &mut self,
        offsets: &BTreeMap<TopicPartition, OffsetAndMetadata>,
        error: Option<gregor_group::Error>,
    ) {
        let Some(i) = self.waiters.iter().position(|w| {
            !offsets.is_empty()
                && offsets
                    .iter()
                    .all(|(tp, om)| w.remaining.get(tp) == Some(om))
        }) else {
            return;
        };
        let done = {
            let w = &mut self.waiters[i];
            for tp in offsets.keys() {
                w.remaining.remove(tp);
            }
            if let Some(e) = error {
                w.error.get_or_insert(e);
            }
            w.remaining.is_empty()
        };
        if done {
            let w = self.waiters.remove(i);
            if let Some(reply) = w.reply {
                let _ = reply.send(match w.error {
                    None => Ok(()),
                    Some(e) => Err(self.group_error(e)),
                });
            }
        }
    }

    fn start_job(&mut self) {
        if self.running.is_some() {
            return;
        }
        let Some(job) = self.jobs.pop_front() else {
            return;
        };
        let listener = self.listener.clone();
        let handle = self.handle.clone();
        let shared = self.shared.clone();
        let fut: BoxFuture<()> = match &job {
            Job::Assigned(partitions) => {
                let partitions = partitions.clone();
                Box::pin(async move {
                    guarded("on_assigned", listener.on_assigned(&handle, &partitions)).await;
                })
            }
            Job::Revoked(partitions) => {
                let partitions = partitions.clone();
                Box::pin(async move {
                    let limit = shared.config.max_poll_interval;
                    wait_processed(&shared, &partitions, limit).await;
                    guarded("on_revoked", listener.on_revoked(&handle, &partitions)).await;
                    if shared.config.auto_commit
                        && let Err(e) = handle.commit_processed(&partitions).await
                    {
                        tracing::warn!(error = %e, "committing revoked partitions failed");
                    }
                })
            }
            Job::Lost { partitions, .. } => {
                let partitions = partitions.clone();
                Box::pin(async move {
                    guarded("on_lost", listener.on_lost(&handle, &partitions)).await;
                })
            }
        };
        self.running = Some((job, fut));
    }

    fn finish_job(&mut self) {
        let Some((job, _)) = self.running.take() else {
            return;
        };
        let now = Instant::now();
        // One acknowledgement confirms every revocation so far: wait for
        // the last one queued.
        let more_revocations = self
            .jobs
            .iter()
            .any(|j| matches!(j, Job::Revoked(_) | Job::Lost { ack: true, .. }));
        match job {
            Job::Assigned(partitions) => {
                let mut st = self.shared.lock();
                for tp in &partitions {
                    if let Some(ps) = st.partitions.get_mut(tp) {
                        ps.awaiting_listener = false;
                    }
                }
            }
            Job::Revoked(partitions)
            | Job::Lost {
                partitions,
                ack: true,
            } => {
                self.shared.lock().remove(&partitions);
                if !more_revocations {
                    self.member.ack_revoked(now);
                }
            }
            Job::Lost { ack: false, .. } => {}
        }
        self.shared.wake_fetcher();
        self.shared.data_ready.notify_waiters();
    }

    fn on_timer(&mut self) {
        let now = Instant::now();
        self.member.handle_timeout(now);
        if self.refresh_retry.is_some_and(|t| t <= now) {
            self.refresh_retry = None;
            self.want_metadata();
        }
        if let Some(at) = self.next_auto_commit
            && at <= now
        {
            self.next_auto_commit = Some(now + self.shared.config.auto_commit_interval);
            self.auto_commit(now);
        }
        self.check_liveness(now);
    }

    /// Commits the processed positions of the owned partitions that moved.
    fn auto_commit(&mut self, now: Instant) {
        if self.member.state() != gregor_group::MemberState::Stable {
            return;
        }
        let offsets: BTreeMap<TopicPartition, OffsetAndMetadata> = {
            let st = self.shared.lock();
            let owned = self
                .member
                .assignment()
                .iter()
                .filter(|tp| st.partitions.get(*tp).is_some_and(|p| !p.revoking));
            st.consumed_offsets(owned, false)
                .into_iter()
                .map(|(tp, o)| (tp, OffsetAndMetadata::new(o)))
                .collect()
        };
        if offsets.is_empty() {
            return;
        }
        tracing::debug!(partitions = offsets.len(), "auto-commit");
        if let Err(e) = self.member.commit(now, offsets) {
            tracing::debug!(error = %e, "auto-commit skipped");
        }
    }

    /// Leaves the group when the application stops polling for longer than
    /// the max poll interval, and rejoins when it polls again.
    fn check_liveness(&mut self, now: Instant) {
        if !self.close.is_empty() || self.fatal {
            return;
        }
        let (last_poll, topics) = {
            let st = self.shared.lock();
            (st.last_poll, st.subscription.clone())
        };
        match self.poll_expired {
            Some(at) if last_poll > at => {
                tracing::info!("the application polls again; rejoining the group");
                self.poll_expired = None;
                if !topics.is_empty() {
                    self.member.subscribe(now, topics);
                }
            }
            None if !self.member.assignment().is_empty()
                && now.saturating_duration_since(last_poll)
                    > self.shared.config.max_poll_interval =>
            {
                tracing::warn!(
                    max_poll_interval = ?self.shared.config.max_poll_interval,
                    "the application has not polled within the max poll interval; leaving the group"
                );
                self.poll_expired = Some(now);
                self.member.leave(now);
            }
            _ => {}
        }
    }

    fn want_metadata(&mut self) {
        if self.interest.is_empty() {
            return;
        }
        if self.refresh.is_some() {
            self.refresh_again = true;
            return;
        }
        let cluster = self.shared.cluster.clone();
        let topics: Vec<String> = self.interest.iter().cloned().collect();
        self.refresh = Some(Box::pin(
            async move { cluster.refresh_topics(&topics).await },
        ));
    }

    fn on_metadata(&mut self, result: gregor_net::Result<Arc<ClusterMetadata>>) {
        self.refresh = None;
        match result {
            Ok(md) => {
                self.report_missing(&md);
                if !self.missing.is_empty() {
                    // Look again for topics that may yet be created.
                    self.refresh_retry = Some(Instant::now() + Duration::from_secs(2));
                }
                let tps = topic_partitions(&md, &self.interest);
                self.given = Some(tps.clone());
                self.member.update_metadata(Instant::now(), tps);
            }
            Err(e) => {
                tracing::warn!(error = %e, "metadata refresh for the group failed");
                self.refresh_retry = Some(Instant::now() + Duration::from_secs(1));
            }
        }
        if std::mem::take(&mut self.refresh_again) {
            self.want_metadata();
        }
    }

    fn on_metadata_change(&mut self) {
        let md = self.metadata_rx.borrow_and_update().clone();
        if self.interest.is_empty() {
            return;
        }
        let tps = topic_partitions(&md, &self.interest);
        if self.given.as_ref().is_some_and(|g| *g != tps) {
            self.want_metadata();
        }
    }

    /// Reports subscribed topics that do not exist or may not be read,
    /// once each until they appear.
    fn report_missing(&mut self, md: &ClusterMetadata) {
        let subscribed = self.shared.lock().subscription.clone();
        for topic in &subscribed {
            let error = match md.topic(topic) {
                None => Some(Error::UnknownTopic {
                    group: Some(self.group_id.clone()),
                    topic: topic.clone(),
                }),
                Some(t) if t.partitions.is_empty() => match t.error {
                    Some(ErrorCode::UnknownTopicOrPartition) | None => Some(Error::UnknownTopic {
                        group: Some(self.group_id.clone()),
                        topic: topic.clone(),
                    }),
                    Some(ErrorCode::LeaderNotAvailable) => None,
                    Some(code) => Some(Error::Net(super::offsets::broker_error(
                        &md.source()
                            .cloned()
                            .unwrap_or_else(|| BrokerAddr::new("(unknown broker)")),
                        gregor_protocol::ApiKey::Metadata,
                        code,
                        topic,
                        None,
                    ))),
                },
                Some(_) => None,
            };
            match error {
                Some(e) => {
                    if self.missing.insert(topic.clone()) {
                        self.shared.report(e);
                    }
                }
                None => {
                    self.missing.remove(topic);
                }
            }
        }
    }
}

/// Polls the running job, or never completes without one.
async fn run_job(running: &mut Option<(Job, BoxFuture<()>)>) {
    match running {
        Some((_, fut)) => fut.await,
        None => std::future::pending().await,
    }
}

/// Polls the running refresh, or never completes without one.
async fn run_refresh(
    refresh: &mut Option<BoxFuture<gregor_net::Result<Arc<ClusterMetadata>>>>,
) -> gregor_net::Result<Arc<ClusterMetadata>> {
    match refresh {
        Some(fut) => fut.await,
        None => std::future::pending().await,
    }
}

/// Runs a listener hook, surviving its panic.
async fn guarded(hook: &'static str, fut: impl Future<Output = ()>) {
    if AssertUnwindSafe(fut).catch_unwind().await.is_err() {
        tracing::error!(hook, "the rebalance listener panicked");
    }
}

/// Waits until every record of `partitions` handed out has been processed
/// (the application polled again), at most `limit`.
async fn wait_processed(shared: &Shared, partitions: &BTreeSet<TopicPartition>, limit: Duration) {
    let deadline = tokio::time::Instant::now() + limit;
    loop {
        let polled = shared.polled.notified();
        tokio::pin!(polled);
        polled.as_mut().enable();
        if shared.lock().processed(partitions) {
            return;
        }
        if tokio::time::timeout_at(deadline, polled).await.is_err() {
            tracing::warn!(
                ?limit,
                "records handed out were not processed in time; committing the processed ones"
            );
            return;
        }
    }
}

/// The partition counts of `topics` in `md` (topics it lacks are left out).
fn topic_partitions(md: &ClusterMetadata, topics: &BTreeSet<String>) -> TopicPartitions {
    let mut tps = TopicPartitions::new();
    for topic in topics {
        if let Some(t) = md.topic(topic)
            && !t.partitions.is_empty()
        {
            tps.insert_topic(
                topic.as_str(),
                i32::try_from(t.partitions.len()).unwrap_or(i32::MAX),
            );
        }
    }
    tps
}

/// `topic-partition` list for logs.
fn list(partitions: &BTreeSet<TopicPartition>) -> String {
    let v: Vec<String> = partitions.iter().map(ToString::to_string).collect();
    v.join(",")
}
