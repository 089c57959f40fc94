//! Routing: which broker a request goes to, and the pooled connection to it.

use std::collections::HashSet;
use std::sync::Arc;

use gregor_protocol::{ApiKey, Request};
use tokio::time::Instant;
use tracing::Instrument;

use super::metadata::BrokerId;
use super::pool::{Endpoint, lock};
use super::{Cluster, Inner};
use crate::{BrokerAddr, Connection, Error, Result};

impl Cluster {
    /// The pooled connection to broker `id`, opened if needed.
    ///
    /// A broker missing from the cache triggers one refresh first (it may
    /// have just joined). Waits out the broker's reconnect backoff after a
    /// failed connect. Cancel-safe.
    ///
    /// # Errors
    ///
    /// [`Error::UnknownBroker`], [`Error::ClusterClosed`], or the connect
    /// error ([`Error::Connect`], [`Error::ConnectTimeout`], ...).
    pub async fn connection(&self, id: BrokerId) -> Result<Connection> {
        if self.inner.is_closed() {
            return Err(Error::ClusterClosed);
        }
        let span = tracing::debug_span!("broker", broker_id = id.0);
        async {
            let addr = self.broker_addr(id).await?;
            let result = self.inner.pool.get(Endpoint::Broker(id), &addr).await;
            if let Err(e) = &result {
                self.on_error(e);
            }
            result
        }
        .instrument(span)
        .await
    }

    /// A connection to some broker, for requests any broker answers
    /// (Metadata, FindCoordinator, ApiVersions, DescribeCluster).
    ///
    /// The least loaded live pooled connection if there is one; else the
    /// known brokers in random order (those backing off last), then the
    /// bootstrap servers in config order. Cancel-safe.
    ///
    /// # Errors
    ///
    /// [`Error::NoBrokerReachable`] listing every address tried and why it
    /// failed.
    pub async fn any_connection(&self) -> Result<Connection> {
        self.inner.any_connection().await
    }

    /// The leader of a partition, refreshing the topic first if it is not
    /// cached or was [invalidated](Self::invalidate). Cancel-safe.
    ///
    /// # Errors
    ///
    /// [`Error::UnknownTopic`], [`Error::UnknownPartition`],
    /// [`Error::NoLeader`] (all retriable; report them to
    /// [`on_error`](Self::on_error) so the retry refreshes), an
    /// [`Error::Broker`] for a topic-level error such as
    /// `TOPIC_AUTHORIZATION_FAILED`, or the refresh's error.
    pub async fn leader(&self, topic: &str, partition: i32) -> Result<BrokerId> {
        let mut md = self.metadata();
        if md.topic(topic).is_none() || self.inner.is_stale(topic) {
            md = self.refresh_topics(&[topic]).await?;
        }
        let source = || self.inner.metadata_source(&md);
        let Some(t) = md.topic(topic) else {
            return Err(Error::UnknownTopic {
                broker: source(),
                topic: topic.to_owned(),
            });
        };
        if let (Some(code), true) = (t.error, t.partitions.is_empty()) {
            return Err(Error::Broker {
                broker: source(),
                code,
                api: ApiKey::Metadata,
                topic: Some(topic.to_owned()),
                partition: None,
                message: None,
            });
        }
        let Some(p) = t.partition(partition) else {
            return Err(Error::UnknownPartition {
                broker: source(),
                topic: topic.to_owned(),
                partition,
                partitions: t.partitions.len(),
            });
        };
        p.leader.ok_or_else(|| Error::NoLeader {
            broker: source(),
            topic: topic.to_owned(),
            partition,
        })
    }

    /// The pooled connection to a partition's leader. Cancel-safe.
    ///
    /// # Errors
    ///
    /// As [`leader`](Self::leader) and [`connection`](Self::connection).
    pub async fn leader_connection(&self, topic: &str, partition: i32) -> Result<Connection> {
        let span = tracing::debug_span!("leader", topic, partition);
        async {
            let id = self.leader(topic, partition).await?;
            self.connection(id).await
        }
        .instrument(span)
        .await
    }

    /// The controller, refreshing first if none is cached or a
    /// `NOT_CONTROLLER` was reported. Cancel-safe.
    ///
    /// # Errors
    ///
    /// [`Error::NoController`] (retriable) or the refresh's error.
    pub async fn controller(&self) -> Result<BrokerId> {
        let mut md = self.metadata();
        let stale = self
            .inner
            .controller_stale
            .load(std::sync::atomic::Ordering::Relaxed);
        if md.controller().is_none() || stale {
            md = self.refresh().await?;
        }
        md.controller().ok_or_else(|| Error::NoController {
            broker: self.inner.metadata_source(&md),
        })
    }

    /// The pooled connection to the controller (in KRaft clusters, a broker
    /// that forwards to it). Cancel-safe.
    ///
    /// # Errors
    ///
    /// As [`controller`](Self::controller) and [`connection`](Self::connection).
    pub async fn controller_connection(&self) -> Result<Connection> {
        let id = self.controller().await?;
        self.connection(id).await
    }

    /// Sends `req` to broker `id` and returns its response.
    ///
    /// This and the other `send_to_*` methods make one attempt and do not
    /// look inside the response: error codes in it are the caller's to
    /// check (and to report with [`on_error`](Self::on_error)). Connection
    /// failures are reported to `on_error` here. Cancel-safe.
    ///
    /// # Errors
    ///
    /// As [`connection`](Self::connection) and [`Connection::send`].
    pub async fn send_to_broker<R: Request>(&self, id: BrokerId, req: &R) -> Result<R::Response> {
        let conn = self.connection(id).await?;
        self.send_on(&conn, req).await
    }

    /// Sends `req` to the leader of `topic`/`partition`; see
    /// [`send_to_broker`](Self::send_to_broker). To check the response's
    /// codes with the broker's address, use
    /// [`leader_connection`](Self::leader_connection) and [`Error::check_code`]
    /// with [`Connection::broker`].
    ///
    /// # Errors
    ///
    /// As [`leader`](Self::leader), [`connection`](Self::connection) and
    /// [`Connection::send`].
    pub async fn send_to_leader<R: Request>(
        &self,
        topic: &str,
        partition: i32,
        req: &R,
    ) -> Result<R::Response> {
        let conn = self.leader_connection(topic, partition).await?;
        self.send_on(&conn, req)
            .instrument(tracing::debug_span!("leader", topic, partition))
            .await
    }

    /// Sends `req` to the controller (CreateTopics, DeleteTopics,
    /// CreatePartitions, ...); see [`send_to_broker`](Self::send_to_broker).
    ///
    /// # Errors
    ///
    /// As [`controller`](Self::controller), [`connection`](Self::connection)
    /// and [`Connection::send`].
    pub async fn send_to_controller<R: Request>(&self, req: &R) -> Result<R::Response> {
        let conn = self.controller_connection().await?;
        self.send_on(&conn, req).await
    }

    /// Sends `req` to any broker; see [`any_connection`](Self::any_connection)
    /// and [`send_to_broker`](Self::send_to_broker).
    ///
    /// # Errors
    ///
    /// As [`any_connection`](Self::any_connection) and [`Connection::send`].
    pub async fn send_to_any<R: Request>(&self, req: &R) -> Result<R::Response> {
        let conn = self.any_connection().await?;
        self.send_on(&conn, req).await
    }

    async fn send_on<R: Request>(&self, conn: &Connection, req: &R) -> Result<R::Response> {
        let result = conn.send(req).await;
        if let Err(e) = &result {
            self.on_error(e);
        }
        result
    }

    /// Where broker `id` is: the metadata, else a coordinator response that
    /// named it, else a refreshed metadata.
    async fn broker_addr(&self, id: BrokerId) -> Result<BrokerAddr> {
        if let Some(b) = self.metadata().broker(id) {
            return Ok(b.addr());
        }
        if let Some(addr) = self.inner.coordinators.addr_of(id) {
            return Ok(addr);
        }
        let md = self.refresh().await?;
        match md.broker(id) {
            Some(b) => Ok(b.addr()),
            None => Err(Error::UnknownBroker {
                broker: self.inner.metadata_source(&md),
                id: id.0,
            }),
        }
    }
}

impl Inner {
    /// See [`Cluster::any_connection`].
    pub(crate) async fn any_connection(self: &Arc<Self>) -> Result<Connection> {
        if self.is_closed() {
            return Err(Error::ClusterClosed);
        }
        let live = self.pool.live_connections();
        if let Some(least) = live.iter().map(|(_, c)| c.in_flight()).min() {
            let idle: Vec<&Connection> = live
                .iter()
                .map(|(_, c)| c)
                .filter(|c| c.in_flight() == least)
                .collect();
            // Spread ties at random so every client does not pile onto the
            // same broker.
            let pick = lock(&self.rng).below(idle.len());
            if let Some(conn) = idle.get(pick) {
                return Ok((*conn).clone());
            }
        }

        let md = self.metadata.borrow().clone();
        let mut candidates: Vec<(Endpoint, BrokerAddr)> = md
            .brokers()
            .map(|b| (Endpoint::Broker(b.id), b.addr()))
            .collect();
        lock(&self.rng).shuffle(&mut candidates);
        // Bootstrap servers last, in config order, skipping any that is a
        // known broker already tried above.
        let known: HashSet<String> = candidates
            .iter()
            .map(|(_, a)| a.addr().to_owned())
            .collect();
        candidates.extend(
            self.config
                .bootstrap_servers()
                .iter()
                .enumerate()
                .filter(|(_, a)| !known.contains(a.addr()))
                .map(|(i, a)| (Endpoint::Bootstrap(i), a.clone())),
        );

        let mut tried = Vec::new();
        let mut waiting: Vec<(Instant, Endpoint, BrokerAddr, Option<Error>)> = Vec::new();
        for (ep, addr) in candidates {
            if let Some((at, last)) = self.pool.backing_off(ep) {
                waiting.push((at, ep, addr, last));
                continue;
            }
            match self.pool.get(ep, &addr).await {
                Ok(conn) => return Ok(conn),
                Err(e) => tried.push((addr, e)),
            }
        }
        // Everything else failed: wait for the one whose backoff ends
        // first, so the call ends in about one backoff, not the sum of all.
        waiting.sort_by_key(|w| w.0);
        let mut waiting = waiting.into_iter();
        if let Some((_, ep, addr, _)) = waiting.next() {
            match self.pool.get(ep, &addr).await {
                Ok(conn) => return Ok(conn),
                Err(e) => tried.push((addr, e)),
            }
        }
        tried.extend(waiting.filter_map(|(_, _, addr, last)| last.map(|e| (addr, e))));
        Err(Error::NoBrokerReachable { tried })
    }
}
