//! The connection pool: one [`Connection`] per broker, shared by everything
//! built on one [`Cluster`](crate::Cluster) (cn-infra's multiplexer idea:
//! many producers, consumers and admins, one socket per broker).
//!
//! Connections are opened lazily through the configured [`Connector`]. A
//! dead one is dropped and replaced on the next use. Failed connects back
//! off per broker, and callers that were waiting for the same connect share
//! its outcome instead of dialling again one after the other.
//!
//! Lock order: a slot's `dial` lock (async, held across a connect) before
//! its `state` lock (sync, never held across an await); the pool's `slots`
//! map lock is only held to look a slot up.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use tokio::time::Instant;
use tracing::Instrument;

use super::backoff::{Backoff, BackoffPolicy};
use super::metadata::BrokerId;
use crate::{BrokerAddr, Connection, Connector, Error, Result};

/// Where a pooled connection goes: a broker known by id, or a bootstrap
/// address (by its index in the config) used before any broker is known
/// or when none of them answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) enum Endpoint {
    Broker(BrokerId),
    Bootstrap(usize),
}

pub(crate) struct Pool {
    connector: Connector,
    policy: BackoffPolicy,
    slots: Mutex<HashMap<Endpoint, Arc<Slot>>>,
    opened: AtomicU64,
    failed: AtomicU64,
}

struct Slot {
    /// Held across a connect so concurrent callers wait for one dial.
    dial: tokio::sync::Mutex<()>,
    state: Mutex<SlotState>,
}

struct SlotState {
    conn: Option<Connection>,
    addr: Option<BrokerAddr>,
    backoff: Backoff,
    /// No connect before this (reconnect backoff after a failure).
    retry_at: Option<Instant>,
    last_error: Option<Error>,
    /// Finished connect attempts, so a waiter can tell that the dial it
    /// waited for failed and report that failure instead of dialling again.
    attempts: u64,
    opened: u64,
}

/// Counters of a [`Cluster`](crate::Cluster)'s connection pool, from
/// [`Cluster::pool_stats`](crate::Cluster::pool_stats).
#[non_exhaustive]
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PoolStats {
    /// Connections opened since the cluster was created.
    pub opened: u64,
    /// Connect attempts that failed.
    pub failed: u64,
    /// One entry per broker or bootstrap address dialled so far, brokers
    /// first by id, then bootstrap addresses in config order.
    pub endpoints: Vec<EndpointStats>,
}

impl PoolStats {
    /// The entry of broker `id`, if it was ever dialled.
    pub fn broker(&self, id: BrokerId) -> Option<&EndpointStats> {
        self.endpoints.iter().find(|e| e.broker == Some(id))
    }

    /// How many pooled connections are alive.
    pub fn live(&self) -> usize {
        self.endpoints.iter().filter(|e| e.connected).count()
    }
}

/// The pool's view of one broker (or bootstrap address).
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EndpointStats {
    /// The broker id; `None` for a bootstrap address.
    pub broker: Option<BrokerId>,
    /// The address last dialled.
    pub addr: Option<BrokerAddr>,
    /// Whether a live connection is pooled.
    pub connected: bool,
    /// Requests in flight on it.
    pub in_flight: usize,
    /// Connections opened to it so far: stays at 1 while the first one is
    /// reused.
    pub opened: u64,
    /// Failed connects in a row (reset by a successful one).
    pub failures: u32,
}

impl Pool {
    pub(crate) fn new(connector: Connector, policy: BackoffPolicy) -> Self {
        Self {
            connector,
            policy,
            slots: Mutex::new(HashMap::new()),
            opened: AtomicU64::new(0),
            failed: AtomicU64::new(0),
        }
    }

    fn slot(&self, ep: Endpoint) -> Arc<Slot> {
        lock(&self.slots)
            .entry(ep)
            .or_insert_with(|| {
                Arc::new(Slot {
                    dial: tokio::sync::Mutex::new(()),
                    state: Mutex::new(SlotState {
                        conn: None,
                        addr: None,
                        backoff: Backoff::new(self.policy),
                        retry_at: None,
                        last_error: None,
                        attempts: 0,
                        opened: 0,
                    }),
                })
            })
            .clone()
    }

    /// The pooled connection to `ep` at `addr`, opened if there is none, the
    /// pooled one is dead, or the broker moved to another address.
    ///
    /// Waits out the reconnect backoff after a failed connect, then dials
    /// once. Cancel-safe: a cancelled dial is dropped whole and the next
    /// caller dials afresh.
    pub(crate) async fn get(&self, ep: Endpoint, addr: &BrokerAddr) -> Result<Connection> {
        let slot = self.slot(ep);
        let seen = {
            let mut st = lock(&slot.state);
            if let Some(conn) = st.live(addr) {
                return Ok(conn);
            }
            st.attempts
        };
        let _dialling = slot.dial.lock().await;
        let retry_at = {
            let mut st = lock(&slot.state);
            if let Some(conn) = st.live(addr) {
                return Ok(conn);
            }
            if st.attempts != seen
                && let Some(e) = &st.last_error
            {
                return Err(e.clone());
            }
            st.retry_at
        };
        if let Some(at) = retry_at {
            tracing::debug!(broker = %addr, wait = ?at.saturating_duration_since(Instant::now()), "reconnect backoff");
            tokio::time::sleep_until(at).await;
        }
        let span = tracing::debug_span!("pool_connect", broker = %addr);
        let result = self.connector.connect(addr.clone()).instrument(span).await;
        let mut st = lock(&slot.state);
        st.attempts += 1;
        st.addr = Some(addr.clone());
        match result {
            Ok(conn) => {
                self.opened.fetch_add(1, Ordering::Relaxed);
                st.opened += 1;
                st.backoff.reset();
                st.retry_at = None;
                st.last_error = None;
                st.conn = Some(conn.clone());
                Ok(conn)
            }
            Err(e) => {
                self.failed.fetch_add(1, Ordering::Relaxed);
                let delay = st.backoff.next_delay();
                tracing::warn!(broker = %addr, error = %e, retry_in = ?delay, "connect failed");
                st.retry_at = Some(Instant::now() + delay);
                st.last_error = Some(e.clone());
                Err(e)
            }
        }
    }

    /// Every live pooled connection.
    pub(crate) fn live_connections(&self) -> Vec<(Endpoint, Connection)> {
        let slots: Vec<(Endpoint, Arc<Slot>)> = lock(&self.slots)
            .iter()
            .map(|(e, s)| (*e, s.clone()))
            .collect();
        slots
            .into_iter()
            .filter_map(|(ep, slot)| {
                let st = lock(&slot.state);
                st.conn
                    .as_ref()
                    .filter(|c| !c.is_dead())
                    .map(|c| (ep, c.clone()))
            })
            .collect()
    }

    /// When `ep` may be dialled again and why it may not now, if it is
    /// backing off.
    pub(crate) fn backing_off(&self, ep: Endpoint) -> Option<(Instant, Option<Error>)> {
        let slot = lock(&self.slots).get(&ep).cloned()?;
        let st = lock(&slot.state);
        st.retry_at
            .filter(|at| *at > Instant::now())
            .map(|at| (at, st.last_error.clone()))
    }

    /// Closes and forgets every pooled connection.
    pub(crate) fn close_all(&self) {
        let slots: Vec<Arc<Slot>> = lock(&self.slots).drain().map(|(_, s)| s).collect();
        for slot in slots {
            if let Some(conn) = lock(&slot.state).conn.take() {
                conn.close();
            }
        }
    }

    pub(crate) fn stats(&self) -> PoolStats {
        let mut slots: Vec<(Endpoint, Arc<Slot>)> = lock(&self.slots)
            .iter()
            .map(|(e, s)| (*e, s.clone()))
            .collect();
        slots.sort_by_key(|(e, _)| *e);
        let endpoints = slots
            .into_iter()
            .map(|(ep, slot)| {
                let st = lock(&slot.state);
                let live = st.conn.as_ref().filter(|c| !c.is_dead());
                EndpointStats {
                    broker: match ep {
                        Endpoint::Broker(id) => Some(id),
                        Endpoint::Bootstrap(_) => None,
                    },
                    addr: st.addr.clone(),
                    connected: live.is_some(),
                    in_flight: live.map_or(0, Connection::in_flight),
                    opened: st.opened,
                    failures: st.backoff.failures(),
                }
            })
            .collect();
        PoolStats {
            opened: self.opened.load(Ordering::Relaxed),
            failed: self.failed.load(Ordering::Relaxed),
            endpoints,
        }
    }
}

impl SlotState {
    /// The pooled connection if it is alive and still at `addr`; drops it
    /// otherwise (its other holders keep it until they are done).
    fn live(&mut self, addr: &BrokerAddr) -> Option<Connection> {
        let usable = self
            .conn
            .as_ref()
            .is_some_and(|c| !c.is_dead() && c.broker().addr() == addr.addr());
        if usable {
            return self.conn.clone();
        }
        if let Some(old) = self.conn.take() {
            tracing::debug!(broker = %old.broker(), cause = ?old.dead_cause(), "replacing pooled connection");
        }
        None
    }
}

/// Locks a mutex whose data stays consistent even if a holder panicked
/// (every critical section here is a few assignments).
pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}
