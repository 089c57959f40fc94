//! Group and transaction coordinators: found with FindCoordinator, cached
//! per key, forgotten when a broker says it no longer is the coordinator or
//! its connection dies.

use std::collections::HashMap;
use std::fmt;
use std::sync::Mutex;

use gregor_protocol::messages::{FindCoordinatorRequest, FindCoordinatorResponse};
use gregor_protocol::{ApiKey, ErrorCode, Request, StrBytes};
use tracing::Instrument;

use super::Cluster;
use super::metadata::{BrokerId, BrokerMetadata};
use super::pool::{Endpoint, lock};
use crate::{BrokerAddr, Connection, Error, Result};

/// Which coordinator: of a consumer group or of a transactional id.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum CoordinatorKey {
    /// The coordinator of the consumer group with this id.
    Group(String),
    /// The transaction coordinator of this transactional id.
    Transaction(String),
}

impl CoordinatorKey {
    /// The group or transactional id.
    pub fn id(&self) -> &str {
        match self {
            CoordinatorKey::Group(id) | CoordinatorKey::Transaction(id) => id,
        }
    }

    /// FindCoordinator's `key_type`: 0 for groups, 1 for transactions.
    pub fn key_type(&self) -> i8 {
        match self {
            CoordinatorKey::Group(_) => 0,
            CoordinatorKey::Transaction(_) => 1,
        }
    }
}

impl fmt::Display for CoordinatorKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CoordinatorKey::Group(id) => write!(f, "group {id:?}"),
            CoordinatorKey::Transaction(id) => write!(f, "transactional id {id:?}"),
        }
    }
}

/// The coordinators found so far, with the address FindCoordinator gave
/// (normally also in the metadata, but the response is authoritative).
#[derive(Debug, Default)]
pub(crate) struct Coordinators {
    cache: Mutex<HashMap<CoordinatorKey, BrokerMetadata>>,
}

impl Coordinators {
    pub(crate) fn get(&self, key: &CoordinatorKey) -> Option<BrokerMetadata> {
        lock(&self.cache).get(key).cloned()
    }

    /// The address of broker `id` if it coordinates anything.
    pub(crate) fn addr_of(&self, id: BrokerId) -> Option<BrokerAddr> {
        lock(&self.cache)
            .values()
            .find(|b| b.id == id)
            .map(BrokerMetadata::addr)
    }

    fn insert(&self, key: CoordinatorKey, broker: BrokerMetadata) {
        lock(&self.cache).insert(key, broker);
    }

    pub(crate) fn forget(&self, key: &CoordinatorKey) {
        if lock(&self.cache).remove(key).is_some() {
            tracing::debug!(%key, "forgot coordinator");
        }
    }

    /// Forgets every key coordinated by broker `id`.
    pub(crate) fn forget_broker(&self, id: BrokerId) {
        lock(&self.cache).retain(|key, b| {
            let keep = b.id != id;
            if !keep {
                tracing::debug!(%key, broker_id = id.0, "forgot coordinator");
            }
            keep
        });
    }
}

/// Whether a FindCoordinator error code means "not (yet) here, look again
/// later", as opposed to a real refusal such as an authorization failure.
fn is_coordinator_code(code: ErrorCode) -> bool {
    matches!(
        code,
        ErrorCode::CoordinatorNotAvailable
            | ErrorCode::NotCoordinator
            | ErrorCode::CoordinatorLoadInProgress
    )
}

/// The result for one key of a FindCoordinator response.
fn outcome(
    key: &CoordinatorKey,
    broker: &BrokerAddr,
    code: i16,
    message: Option<&StrBytes>,
    (node_id, host, port): (i32, &str, i32),
) -> Result<BrokerMetadata> {
    let code = ErrorCode::from_code(code);
    let message = message.map(|m| m.to_string()).filter(|m| !m.is_empty());
    if code.is_err() {
        return Err(if is_coordinator_code(code) {
            Error::CoordinatorNotAvailable {
                broker: broker.clone(),
                key: key.to_string(),
                code,
                message,
            }
        } else {
            Error::Broker {
                broker: broker.clone(),
                code,
                api: ApiKey::FindCoordinator,
                topic: None,
                partition: None,
                message,
            }
        });
    }
    if node_id < 0 {
        return Err(Error::CoordinatorNotAvailable {
            broker: broker.clone(),
            key: key.to_string(),
            code: ErrorCode::CoordinatorNotAvailable,
            message: Some("the response names no coordinator".to_owned()),
        });
    }
    Ok(BrokerMetadata::new(BrokerId(node_id), host, port))
}

/// The results for `keys` (all of one key type) from a v4+ response, which
/// answers each key in `coordinators`.
fn batched_outcomes(
    keys: &[CoordinatorKey],
    resp: &FindCoordinatorResponse,
    broker: &BrokerAddr,
) -> Vec<Result<BrokerMetadata>> {
    keys.iter()
        .map(|key| {
            match resp
                .coordinators
                .iter()
                .find(|c| c.key.as_str() == key.id())
            {
                Some(c) => outcome(
                    key,
                    broker,
                    c.error_code,
                    c.error_message.as_ref(),
                    (c.node_id, &c.host, c.port),
                ),
                None => Err(Error::CoordinatorNotAvailable {
                    broker: broker.clone(),
                    key: key.to_string(),
                    code: ErrorCode::CoordinatorNotAvailable,
                    message: Some("the response left this key out".to_owned()),
                }),
            }
        })
        .collect()
}

impl Cluster {
    /// The coordinator of `key`, from the cache or found with
    /// FindCoordinator on any broker.
    ///
    /// One attempt: a coordinator that is loading or moving gives a
    /// retriable [`Error::CoordinatorNotAvailable`]; retry with
    /// [`retry`](Self::retry), which backs off. Cancel-safe.
    ///
    /// # Errors
    ///
    /// [`Error::CoordinatorNotAvailable`], [`Error::Broker`] for other
    /// codes (an authorization failure), or whatever reaching a broker hit.
    pub async fn coordinator(&self, key: &CoordinatorKey) -> Result<BrokerId> {
        self.coordinator_broker(key).await.map(|b| b.id)
    }

    /// The coordinators of several keys, in the order given, with one
    /// FindCoordinator request per key type where the broker supports
    /// batching (v4+) and one per key before that. Cached keys are not
    /// looked up again. Cancel-safe.
    pub async fn coordinators(&self, keys: &[CoordinatorKey]) -> Vec<Result<BrokerId>> {
        let mut results: Vec<Option<Result<BrokerId>>> = keys
            .iter()
            .map(|k| self.inner.coordinators.get(k).map(|b| Ok(b.id)))
            .collect();
        for key_type in [0, 1] {
            let mut missing: Vec<CoordinatorKey> = keys
                .iter()
                .zip(&results)
                .filter(|(k, r)| r.is_none() && k.key_type() == key_type)
                .map(|(k, _)| k.clone())
                .collect();
            // A key asked for twice is looked up once.
            missing.sort();
            missing.dedup();
            if missing.is_empty() {
                continue;
            }
            let found = self.find_coordinators(&missing).await;
            for (key, result) in missing.iter().zip(found) {
                for (k, slot) in keys.iter().zip(results.iter_mut()) {
                    if k == key && slot.is_none() {
                        *slot = Some(result.as_ref().map(|b| b.id).map_err(Clone::clone));
                    }
                }
            }
        }
        results
            .into_iter()
            .map(|r| r.unwrap_or(Err(Error::ClusterClosed)))
            .collect()
    }

    /// The pooled connection to the coordinator of `key` (the same one the
    /// cluster uses for everything else on that broker). Cancel-safe.
    ///
    /// # Errors
    ///
    /// As [`coordinator`](Self::coordinator), or the connect error.
    pub async fn coordinator_connection(&self, key: &CoordinatorKey) -> Result<Connection> {
        let broker = self.coordinator_broker(key).await?;
        let span = tracing::debug_span!("coordinator", %key, broker_id = broker.id.0);
        let result = self
            .inner
            .pool
            .get(Endpoint::Broker(broker.id), &broker.addr())
            .instrument(span)
            .await;
        if let Err(e) = &result {
            self.inner.coordinators.forget(key);
            self.on_error(e);
        }
        result
    }

    /// Sends `req` to the coordinator of `key`.
    ///
    /// A connection failure forgets the coordinator, so the next call finds
    /// it again. The response's error codes are not checked: when one says
    /// `NOT_COORDINATOR` or `COORDINATOR_NOT_AVAILABLE`, call
    /// [`invalidate_coordinator`](Self::invalidate_coordinator) (or
    /// [`on_error`](Self::on_error) with the [`Error::Broker`] for it) and
    /// retry. Cancel-safe.
    ///
    /// # Errors
    ///
    /// As [`coordinator_connection`](Self::coordinator_connection) and
    /// [`Connection::send`].
    pub async fn send_to_coordinator<R: Request>(
        &self,
        key: &CoordinatorKey,
        req: &R,
    ) -> Result<R::Response> {
        let conn = self.coordinator_connection(key).await?;
        let result = conn.send(req).await;
        if let Err(e) = &result {
            self.inner.coordinators.forget(key);
            self.on_error(e);
        }
        result
    }

    /// Forgets the cached coordinator of `key`: the next use finds it again.
    pub fn invalidate_coordinator(&self, key: &CoordinatorKey) {
        self.inner.coordinators.forget(key);
    }

    async fn coordinator_broker(&self, key: &CoordinatorKey) -> Result<BrokerMetadata> {
        if let Some(b) = self.inner.coordinators.get(key) {
            return Ok(b);
        }
        let mut found = self.find_coordinators(std::slice::from_ref(key)).await;
        found.pop().unwrap_or(Err(Error::ClusterClosed))
    }

    /// FindCoordinator for `keys`, all of one key type; caches what it finds.
    async fn find_coordinators(&self, keys: &[CoordinatorKey]) -> Vec<Result<BrokerMetadata>> {
        let span = tracing::debug_span!("find_coordinator", keys = keys.len());
        let results = async {
            let conn = match self.inner.any_connection().await {
                Ok(c) => c,
                Err(e) => return keys.iter().map(|_| Err(e.clone())).collect(),
            };
            let key_type = keys.first().map_or(0, CoordinatorKey::key_type);
            let version = conn.version_for(ApiKey::FindCoordinator).unwrap_or(0);
            if version >= 4 {
                let req = FindCoordinatorRequest::default()
                    .with_key_type(key_type)
                    .with_coordinator_keys(keys.iter().map(|k| k.id().into()).collect());
                match conn.send(&req).await {
                    Ok(resp) => batched_outcomes(keys, &resp, conn.broker()),
                    Err(e) => {
                        self.on_error(&e);
                        keys.iter().map(|_| Err(e.clone())).collect()
                    }
                }
            } else {
                let mut out = Vec::with_capacity(keys.len());
                for key in keys {
                    let req = FindCoordinatorRequest::default()
                        .with_key(key.id())
                        .with_key_type(key_type);
                    out.push(match conn.send(&req).await {
                        Ok(r) => outcome(
                            key,
                            conn.broker(),
                            r.error_code,
                            r.error_message.as_ref(),
                            (r.node_id, &r.host, r.port),
                        ),
                        Err(e) => {
                            self.on_error(&e);
                            Err(e)
                        }
                    });
                }
                out
            }
        }
        .instrument(span)
        .await;
        for (key, result) in keys.iter().zip(&results) {
            match result {
                Ok(b) => {
                    tracing::debug!(%key, broker_id = b.id.0, "found coordinator");
                    self.inner.coordinators.insert(key.clone(), b.clone());
                }
                Err(e) => tracing::debug!(%key, error = %e, "coordinator lookup failed"),
            }
        }
        results
    }
}
