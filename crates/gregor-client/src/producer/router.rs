//! Routing and housekeeping: loading a topic's metadata, keeping each
//! partition's leader (and so its sender) current as metadata changes,
//! picking up added partitions, expiring batches past the delivery
//! timeout, and running InitProducerId.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use gregor_net::{Backoff, BrokerId, ClusterMetadata};
use gregor_protocol::messages::MetadataRequest;
use gregor_protocol::messages::metadata_request::MetadataRequestTopic;
use tokio::time::Instant;

use super::Shared;
use super::accumulator::{Batch, PartitionQueue, TopicQueues, lock};
use super::delivery::{ProduceError, ProduceErrorKind};
use super::idempotence::{INIT_ROUND, Work, init_producer_id};
use super::sender::{self, BrokerSender, persistence};
use super::stats::add;

/// How often the housekeeping task looks for expired batches.
const TICK: Duration = Duration::from_millis(100);

/// How often a topic with leaderless partitions holding batches asks for
/// fresh metadata.
const LEADERLESS_REFRESH: Duration = Duration::from_millis(500);

impl Shared {
    /// The sender of broker `id`, started if there is none.
    pub(crate) fn sender_for(self: &Arc<Self>, id: BrokerId) -> Arc<BrokerSender> {
        let mut senders = lock(&self.senders);
        if let Some(s) = senders.get(&id) {
            return s.clone();
        }
        let s = Arc::new(BrokerSender::new(id));
        senders.insert(id, s.clone());
        tokio::spawn(sender::run(self.clone(), s.clone()));
        s
    }

    /// A sender task ends.
    pub(crate) fn sender_exited(&self, me: &Arc<BrokerSender>) {
        let mut senders = lock(&self.senders);
        if senders.get(&me.id).is_some_and(|s| Arc::ptr_eq(s, me)) {
            senders.remove(&me.id);
        }
    }

    /// Wakes every sender.
    pub(crate) fn wake_senders(&self) {
        for s in lock(&self.senders).values() {
            s.notify();
        }
    }

    /// Applies a topic's partitions and leaders: `partitions` lists each
    /// partition's index and leader. Partitions only ever grow.
    pub(crate) fn apply_partitions(
        self: &Arc<Self>,
        topic: &TopicQueues,
        partitions: &[(i32, Option<BrokerId>)],
    ) {
        let count = partitions
            .iter()
            .map(|(p, _)| *p + 1)
            .max()
            .unwrap_or(0)
            .max(0) as usize;
        let mut layout = topic.layout.write().unwrap_or_else(|p| p.into_inner());
        if count > layout.partitions.len() {
            tracing::info!(topic = %topic.name, from = layout.partitions.len(), to = count, "partitions added");
            for p in layout.partitions.len()..count {
                layout
                    .partitions
                    .push(Arc::new(PartitionQueue::new(topic.name.clone(), p as i32)));
            }
        }
        let mut available: Vec<i32> = partitions
            .iter()
            .filter(|(_, l)| l.is_some())
            .map(|(p, _)| *p)
            .collect();
        available.sort_unstable();
        available.dedup();
        layout.available = available;
        for (p, leader) in partitions {
            let Some(queue) = usize::try_from(*p)
                .ok()
                .and_then(|i| layout.partitions.get(i))
            else {
                continue;
            };
            let mut st = queue.lock();
            if st.leader == *leader && (leader.is_none() || st.sender.is_some()) {
                continue;
            }
            let old = st.sender.take();
            st.leader = *leader;
            let new = leader.map(|id| self.sender_for(id));
            st.sender = new.clone();
            let busy = !st.batches.is_empty();
            drop(st);
            if let Some(old) = old {
                old.remove(queue);
            }
            if let Some(new) = new {
                new.add(queue);
                if busy {
                    new.notify();
                }
            }
            tracing::debug!(topic = %topic.name, partition = p, leader = ?leader, "partition leader");
        }
    }

    /// Applies a metadata snapshot to every topic the producer knows.
    pub(crate) fn apply_metadata(self: &Arc<Self>, md: &ClusterMetadata) {
        for topic in self.acc.topics() {
            if let Some(parts) = partitions_of(md, &topic.name) {
                self.apply_partitions(&topic, &parts);
            }
        }
    }

    /// Loads `topic`'s metadata, waiting for the topic to exist until
    /// `deadline`.
    pub(crate) async fn load_topic(
        self: &Arc<Self>,
        topic: &str,
        deadline: Instant,
    ) -> Result<(), ProduceError> {
        let started = Instant::now();
        let mut backoff = Backoff::new(self.config.retry_backoff);
        let mut asked_to_create = false;
        loop {
            if self.closed.load(Ordering::Relaxed) {
                return Err(ProduceError::not_sent(
                    ProduceErrorKind::Closed,
                    topic,
                    None,
                ));
            }
            if let Some(t) = self.acc.topic(topic)
                && !t.layout().partitions.is_empty()
            {
                return Ok(());
            }
            match self.cluster.refresh_topics(&[topic]).await {
                Ok(md) => {
                    if let Some(parts) = partitions_of(&md, topic) {
                        let (queues, _) = self.acc.topic_or_insert(topic);
                        self.apply_partitions(&queues, &parts);
                        return Ok(());
                    }
                    if let Some(code) = md.topic(topic).and_then(|t| t.error)
                        && !code.is_retriable()
                    {
                        let e = gregor_net::Error::Broker {
                            broker: md
                                .source()
                                .cloned()
                                .unwrap_or_else(|| gregor_net::BrokerAddr::new("(metadata)")),
                            code,
                            api: gregor_protocol::ApiKey::Metadata,
                            topic: Some(topic.to_owned()),
                            partition: None,
                            message: None,
                        };
                        return Err(ProduceError::not_sent(
                            ProduceErrorKind::Broker(Box::new(e)),
                            topic,
                            None,
                        ));
                    }
                    if self.config.allow_auto_topic_creation && !asked_to_create {
                        asked_to_create = true;
                        let req = MetadataRequest::default()
                            .with_topics(Some(vec![
                                MetadataRequestTopic::default().with_name(Some(topic.into())),
                            ]))
                            .with_allow_auto_topic_creation(true);
                        if let Err(e) = self.cluster.send_to_any(&req).await {
                            tracing::debug!(topic, error = %e, "asking the broker to create the topic failed");
                        }
                        continue;
                    }
                }
                Err(e) if !e.is_retriable() => {
                    return Err(ProduceError::not_sent(
                        ProduceErrorKind::Broker(Box::new(e)),
                        topic,
                        None,
                    ));
                }
                Err(e) => tracing::debug!(topic, error = %e, "metadata refresh failed"),
            }
            let now = Instant::now();
            if now >= deadline {
                return Err(ProduceError::not_sent(
                    ProduceErrorKind::UnknownTopic {
                        waited: now - started,
                    },
                    topic,
                    None,
                ));
            }
            tokio::time::sleep(backoff.next_delay().min(deadline - now)).await;
        }
    }

    /// Fails every queued batch older than the delivery timeout, and
    /// returns the topics with leaderless partitions that hold batches.
    fn expire(&self, now: Instant) -> Vec<Arc<str>> {
        let timeout = self.config.delivery_timeout;
        let mut leaderless = Vec::new();
        for topic in self.acc.topics() {
            let queues: Vec<Arc<PartitionQueue>> = topic.layout().partitions.clone();
            let mut stuck = false;
            for queue in queues {
                let expired: Vec<Batch> = {
                    let mut st = queue.lock();
                    if st.batches.is_empty() {
                        continue;
                    }
                    stuck |= st.leader.is_none();
                    if st.batches.iter().all(|b| now < b.created + timeout) {
                        continue;
                    }
                    let (old, young): (Vec<Batch>, Vec<Batch>) = st
                        .batches
                        .drain(..)
                        .partition(|b| now >= b.created + timeout);
                    st.batches = young.into();
                    queue.sync_queued(&st);
                    old
                };
                for batch in expired {
                    let persisted = persistence(&batch);
                    let kind = ProduceErrorKind::Timeout {
                        after: timeout,
                        last_error: batch.last_error.clone(),
                    };
                    self.fail(&queue, batch, kind, persisted);
                }
            }
            if stuck {
                leaderless.push(topic.name.clone());
            }
        }
        leaderless
    }

    /// Fails every queued batch (the close deadline passed).
    pub(crate) fn abort_queued(&self) {
        for topic in self.acc.topics() {
            let queues: Vec<Arc<PartitionQueue>> = topic.layout().partitions.clone();
            self.fail_queued(&queues, ProduceErrorKind::Closed);
        }
    }

    /// Whether the producer has nothing left to do and no handle to get
    /// more: every task may stop.
    pub(crate) fn finished(&self) -> bool {
        (self.draining.load(Ordering::Relaxed) && self.acc.incomplete() == 0)
            || (self.aborted.load(Ordering::Relaxed) && self.in_flight.load(Ordering::Relaxed) == 0)
    }
}

/// A topic's partitions and leaders in `md`, if it has any.
fn partitions_of(md: &ClusterMetadata, topic: &str) -> Option<Vec<(i32, Option<BrokerId>)>> {
    let t = md.topic(topic)?;
    if t.partitions.is_empty() {
        return None;
    }
    Some(
        t.partitions
            .iter()
            .map(|p| (p.partition, p.leader))
            .collect(),
    )
}

/// Follows metadata changes, expires batches, asks for metadata where a
/// partition has no leader, and starts InitProducerId when needed, until
/// the producer is finished.
pub(crate) async fn housekeeping(shared: Arc<Shared>) {
    let mut md = shared.cluster.watch_metadata();
    let mut tick = tokio::time::interval(TICK);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut refreshed: HashMap<Arc<str>, Instant> = HashMap::new();
    loop {
        if let Some(idem) = &shared.idempotence {
            let idle = shared.in_flight.load(Ordering::Relaxed) == 0;
            if let Some(work) = idem.claim(idle) {
                tokio::spawn(run_init(shared.clone(), work));
            }
        }
        if shared.finished() {
            break;
        }
        tokio::select! {
            changed = md.changed() => {
                if changed.is_err() {
                    // The cluster is gone; batches fail by their timeout.
                    tokio::time::sleep(TICK).await;
                    continue;
                }
                let snapshot = md.borrow_and_update().clone();
                shared.apply_metadata(&snapshot);
            }
            _ = tick.tick() => {
                let now = Instant::now();
                for topic in shared.expire(now) {
                    let due = refreshed.get(&topic).is_none_or(|at| now >= *at + LEADERLESS_REFRESH);
                    if due {
                        refreshed.insert(topic.clone(), now);
                        shared.cluster.invalidate(&topic);
                    }
                }
            }
            _ = shared.housekeeping.notified() => {}
        }
    }
    tracing::debug!("producer housekeeping stopped");
}

/// Fetches a producer id or bumps the epoch, then lets the senders go on.
async fn run_init(shared: Arc<Shared>, work: Work) {
    let Some(idem) = &shared.idempotence else {
        return;
    };
    let current = match work {
        Work::Fetch => None,
        Work::Bump(p) => Some(p),
    };
    let result = init_producer_id(
        &shared.cluster,
        current,
        shared.config.retry_backoff,
        Instant::now() + INIT_ROUND,
    )
    .await;
    if result.is_ok() && matches!(work, Work::Bump(_)) {
        add(&shared.stats.epoch_bumps, 1);
    }
    idem.finish(work, result);
    shared.wake_senders();
    shared.housekeeping.notify_one();
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::producer::{ProducerConfig, test_shared};

    #[tokio::test]
    async fn partitions_grow_and_follow_their_leaders() {
        let shared = test_shared(
            ProducerConfig::builder()
                .idempotence(false)
                .build()
                .unwrap(),
        );
        let (topic, _) = shared.acc.topic_or_insert("t");
        let (b1, b2) = (Some(BrokerId(1)), Some(BrokerId(2)));
        shared.apply_partitions(&topic, &[(0, b1), (1, None)]);
        {
            let layout = topic.layout();
            assert_eq!(layout.partitions.len(), 2);
            assert_eq!(layout.available, [0]);
        }
        // A partition is added and one moves to broker 2.
        shared.apply_partitions(&topic, &[(0, b2), (1, b1), (2, b2)]);
        let layout = topic.layout();
        assert_eq!(
            layout.partitions.len(),
            3,
            "partition-count growth is picked up"
        );
        assert_eq!(layout.available, [0, 1, 2]);
        let leaders: Vec<_> = layout.partitions.iter().map(|q| q.lock().leader).collect();
        assert_eq!(leaders, [b2, b1, b2]);
        let senders = lock(&shared.senders);
        let s1 = senders.get(&BrokerId(1)).unwrap().clone();
        let s2 = senders.get(&BrokerId(2)).unwrap().clone();
        drop(senders);
        for (p, q) in layout.partitions.iter().enumerate() {
            let st = q.lock();
            let expected = if p == 1 { &s1 } else { &s2 };
            assert!(
                Arc::ptr_eq(st.sender.as_ref().unwrap(), expected),
                "partition {p}"
            );
        }
        // Partitions never shrink.
        drop(layout);
        shared.apply_partitions(&topic, &[(0, b1)]);
        assert_eq!(topic.layout().partitions.len(), 3);
        shared.draining.store(true, Ordering::Relaxed);
        shared.wake_senders();
    }
}
