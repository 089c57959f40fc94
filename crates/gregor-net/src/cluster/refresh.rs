//! Metadata refreshes: coalesced, so any number of concurrent callers cost
//! one request, and periodic, so the cache never gets older than the
//! configured maximum age.
//!
//! At most one Metadata request is in flight per cluster. A caller whose
//! topics the running request covers waits for its answer; any other caller
//! joins the one queued request (whose topic list grows to cover it), which
//! starts when the running one ends. The request runs in its own task, so
//! a caller that gives up does not cancel it for the others.

use std::sync::{Arc, Weak};
use std::time::Duration;

use gregor_protocol::ApiKey;
use gregor_protocol::messages::MetadataRequest;
use gregor_protocol::messages::metadata_request::MetadataRequestTopic;
use tokio::sync::watch;
use tokio::time::Instant;
use tracing::Instrument;

use super::backoff::Backoff;
use super::metadata::{ClusterMetadata, Scope};
use super::pool::lock;
use super::{Inner, is_connection_error};
use crate::{Error, Result};

/// A refresh's result, once there is one.
type Outcome = Option<Result<Arc<ClusterMetadata>>>;

struct Flight {
    scope: Scope,
    done: watch::Sender<Outcome>,
}

impl Flight {
    fn new(scope: Scope) -> Self {
        Self {
            scope,
            done: watch::Sender::new(None),
        }
    }
}

/// The running refresh and the one queued behind it.
#[derive(Default)]
pub(crate) struct Flights {
    running: Option<Flight>,
    queued: Option<Flight>,
}

impl Flights {
    /// Joins a refresh that answers `scope`. Returns where its result will
    /// appear and, if no refresh was running, the scope of the one the
    /// caller must now start.
    fn join(&mut self, scope: Scope) -> (watch::Receiver<Outcome>, Option<Scope>) {
        let Some(running) = &self.running else {
            let flight = Flight::new(scope.clone());
            let rx = flight.done.subscribe();
            self.running = Some(flight);
            return (rx, Some(scope));
        };
        if running.scope.covers(&scope) {
            return (running.done.subscribe(), None);
        }
        let queued = match &mut self.queued {
            Some(q) => {
                q.scope.merge(scope);
                q
            }
            None => self.queued.insert(Flight::new(scope)),
        };
        (queued.done.subscribe(), None)
    }

    /// Publishes the running refresh's outcome and promotes the queued one;
    /// returns its scope if there is one to run next.
    fn finish(&mut self, outcome: Result<Arc<ClusterMetadata>>) -> Option<Scope> {
        if let Some(done) = self.running.take() {
            done.done.send_replace(Some(outcome));
        }
        self.running = self.queued.take();
        self.running.as_ref().map(|f| f.scope.clone())
    }

    /// Fails every waiter: the task running the refreshes is gone.
    fn abandon(&mut self) {
        for flight in [self.running.take(), self.queued.take()]
            .into_iter()
            .flatten()
        {
            flight.done.send_replace(Some(Err(Error::ClusterClosed)));
        }
    }
}

/// Fails the waiters if the driver task is dropped before it finished
/// (the runtime shutting down), so nobody waits forever.
struct AbandonOnDrop<'a>(&'a Inner, bool);

impl Drop for AbandonOnDrop<'_> {
    fn drop(&mut self) {
        if self.1 {
            lock(&self.0.flights).abandon();
        }
    }
}

impl Inner {
    /// Refreshes metadata for `scope`, joining a running or queued refresh
    /// that covers it. Cancel-safe: the request runs in its own task.
    pub(crate) async fn refresh(self: &Arc<Self>, scope: Scope) -> Result<Arc<ClusterMetadata>> {
        let mut rx = self.start_refresh(scope)?;
        match rx.wait_for(Option::is_some).await {
            Ok(outcome) => outcome.clone().unwrap_or(Err(Error::ClusterClosed)),
            Err(_) => Err(Error::ClusterClosed),
        }
    }

    /// Starts (or joins) a refresh without waiting for it.
    pub(crate) fn start_refresh(
        self: &Arc<Self>,
        scope: Scope,
    ) -> Result<watch::Receiver<Outcome>> {
        if self.is_closed() {
            return Err(Error::ClusterClosed);
        }
        let (rx, start) = lock(&self.flights).join(scope);
        if let Some(scope) = start {
            tokio::spawn(drive(self.clone(), scope));
        }
        Ok(rx)
    }

    /// The topics in the cache plus those marked stale: what a periodic or
    /// "everything we use" refresh asks for.
    pub(crate) fn known_scope(&self) -> Scope {
        let mut topics: std::collections::BTreeSet<String> = self
            .metadata
            .borrow()
            .topics()
            .map(|t| t.name.clone())
            .collect();
        topics.extend(lock(&self.stale).iter().cloned());
        Scope::Topics(topics)
    }

    /// One Metadata round trip for `scope`, merged into the cache.
    ///
    /// A pooled connection can die between being picked and being used (a
    /// broker restarted while idle), so a connection-level failure is tried
    /// once more on whatever connection is picked next.
    async fn fetch(self: &Arc<Self>, scope: &Scope) -> Result<Arc<ClusterMetadata>> {
        let mut attempts = 0;
        loop {
            attempts += 1;
            let conn = self.any_connection().await?;
            let req = metadata_request(
                scope,
                conn.version_for(ApiKey::Metadata),
                self.config.allow_auto_topic_creation(),
            );
            match conn.send(&req).await {
                Ok(resp) => return Ok(self.apply(&resp, scope, conn.broker().clone())),
                Err(e) => {
                    tracing::warn!(broker = %conn.broker(), error = %e, "metadata request failed");
                    self.forget_broker_of(&e);
                    if attempts >= 2 || !is_connection_error(&e) {
                        return Err(e);
                    }
                }
            }
        }
    }

    /// Merges a response into the cache and publishes the new snapshot.
    fn apply(
        &self,
        resp: &gregor_protocol::messages::MetadataResponse,
        scope: &Scope,
        source: crate::BrokerAddr,
    ) -> Arc<ClusterMetadata> {
        let mut merged = None;
        self.metadata.send_modify(|md| {
            let next = Arc::new(md.merge(resp, scope, source, Instant::now()));
            *md = next.clone();
            merged = Some(next);
        });
        // Like the Java client, a refresh clears the marks its scope covers
        // even if they were set while it was in flight: the broker that
        // answered had the newest state it knew of, and a still-wrong leader
        // will report itself again.
        match scope {
            Scope::All => lock(&self.stale).clear(),
            Scope::Topics(topics) => lock(&self.stale).retain(|t| !topics.contains(t)),
        }
        self.controller_stale
            .store(false, std::sync::atomic::Ordering::Relaxed);
        let merged = merged.unwrap_or_else(|| self.metadata.borrow().clone());
        tracing::debug!(
            brokers = merged.brokers().count(),
            topics = merged.topics().count(),
            controller = ?merged.controller(),
            "metadata updated"
        );
        merged
    }
}

/// Runs the refresh for `scope`, then each queued one, publishing results.
async fn drive(inner: Arc<Inner>, mut scope: Scope) {
    let mut guard = AbandonOnDrop(&inner, true);
    loop {
        let span = tracing::debug_span!("metadata_refresh", scope = ?scope);
        let outcome = inner.fetch(&scope).instrument(span).await;
        // Not matched on directly, so the lock is released before the next
        // round's awaits.
        let next = lock(&inner.flights).finish(outcome);
        match next {
            Some(next) => scope = next,
            None => break,
        }
    }
    guard.1 = false;
}

/// The Metadata request for `scope` at the version the connection will use.
fn metadata_request(scope: &Scope, version: Option<i16>, allow_auto: bool) -> MetadataRequest {
    // An unsupported Metadata API fails in `send` with a clear error; build
    // something encodable meanwhile.
    let version = version.unwrap_or(0);
    let topics = match scope {
        // v0 has no null list; an empty one means every topic there.
        Scope::All if version == 0 => Some(Vec::new()),
        Scope::All => None,
        Scope::Topics(names) => Some(
            names
                .iter()
                .map(|n| MetadataRequestTopic::default().with_name(Some(n.as_str().into())))
                .collect(),
        ),
    };
    MetadataRequest::default()
        .with_topics(topics)
        // Before v4 the field does not exist and the broker's own setting
        // decides; the codec refuses a non-default value there.
        .with_allow_auto_topic_creation(allow_auto || version < 4)
}

/// Keeps the cache from getting older than the maximum age, retrying failed
/// refreshes with the retry backoff. Holds only a weak reference between
/// refreshes, and stops when the cluster is closed or dropped.
pub(crate) async fn periodic(weak: Weak<Inner>, mut shutdown: watch::Receiver<bool>) {
    let mut backoff: Option<Backoff> = None;
    let mut after_failure: Option<Duration> = None;
    loop {
        let wait = match after_failure.take() {
            Some(d) => d,
            None => {
                let Some(inner) = weak.upgrade() else { return };
                let max_age = inner.config.metadata_max_age();
                let updated = inner.metadata.borrow().updated_at();
                updated.map_or(max_age, |at| {
                    (at + max_age).saturating_duration_since(Instant::now())
                })
            }
        };
        tokio::select! {
            () = tokio::time::sleep(wait) => {}
            // A close (true) or the cluster being dropped (sender gone).
            _ = shutdown.changed() => return,
        }
        let Some(inner) = weak.upgrade() else { return };
        let max_age = inner.config.metadata_max_age();
        let due = inner
            .metadata
            .borrow()
            .updated_at()
            .is_none_or(|at| at.elapsed() >= max_age);
        if !due {
            // Someone refreshed while we slept; wait from that refresh.
            continue;
        }
        let scope = inner.known_scope();
        match inner.refresh(scope).await {
            Ok(_) => {
                if let Some(b) = &mut backoff {
                    b.reset();
                }
            }
            Err(Error::ClusterClosed) => return,
            Err(e) => {
                let b = backoff.get_or_insert_with(|| Backoff::new(inner.config.retry_backoff()));
                let delay = b.next_delay();
                tracing::warn!(error = %e, retry_in = ?delay, "periodic metadata refresh failed");
                after_failure = Some(delay);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;

    fn topics(names: &[&str]) -> Scope {
        Scope::Topics(names.iter().map(|s| s.to_string()).collect::<BTreeSet<_>>())
    }

    #[test]
    fn covered_callers_join_the_running_refresh() {
        let mut f = Flights::default();
        let (rx1, start) = f.join(Scope::All);
        assert_eq!(start, Some(Scope::All));
        let (rx2, start) = f.join(topics(&["a"]));
        assert_eq!(start, None);
        assert!(rx1.same_channel(&rx2));
        assert!(f.queued.is_none());
        assert_eq!(f.finish(Err(Error::ClusterClosed)), None);
        assert!(matches!(*rx2.borrow(), Some(Err(Error::ClusterClosed))));
    }

    #[test]
    fn others_share_one_queued_refresh_that_runs_next() {
        let mut f = Flights::default();
        let (running, _) = f.join(topics(&["a"]));
        let (q1, s1) = f.join(topics(&["b"]));
        let (q2, s2) = f.join(topics(&["c"]));
        assert_eq!((s1, s2), (None, None));
        assert!(q1.same_channel(&q2));
        assert!(!q1.same_channel(&running));
        let next = f.finish(Ok(Arc::new(ClusterMetadata::default())));
        assert_eq!(next, Some(topics(&["b", "c"])));
        assert!(running.borrow().is_some());
        assert!(q1.borrow().is_none());
        f.abandon();
        assert!(matches!(*q1.borrow(), Some(Err(Error::ClusterClosed))));
    }

    #[test]
    fn requests_fit_the_version() {
        let all_v0 = metadata_request(&Scope::All, Some(0), false);
        assert_eq!(all_v0.topics, Some(vec![]));
        assert!(all_v0.allow_auto_topic_creation);
        let all = metadata_request(&Scope::All, Some(12), false);
        assert_eq!(all.topics, None);
        assert!(!all.allow_auto_topic_creation);
        let some = metadata_request(&topics(&["x"]), Some(12), true);
        assert_eq!(some.topics.unwrap().len(), 1);
        assert!(some.allow_auto_topic_creation);
    }
}
