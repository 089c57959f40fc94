//! State shared by a connection's handles, its reader task and its writer
//! task.
//!
//! One mutex guards the queue of requests awaiting a response, the sender
//! into the writer's channel, and the dead flag. Queuing a request pushes it
//! onto both the in-flight queue and the writer's channel under that lock, so
//! the queue's order is exactly the order frames reach the socket, which is
//! the order Kafka answers in. Correlation ids themselves may then be out of
//! numeric order on the wire; only the queue order matters.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicI32, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use bytes::Bytes;
use gregor_protocol::ApiKey;
use tokio::sync::{Notify, OwnedSemaphorePermit, Semaphore, mpsc, oneshot, watch};
use tokio::time::Instant;

use crate::error::{CloseReason, Error, Result};
use crate::{BrokerAddr, ConnectionConfig};

/// A frame for the writer task.
#[derive(Debug)]
pub(crate) struct Outgoing {
    /// The whole frame, size prefix included.
    pub(crate) frame: Bytes,
    /// Told once the frame has been written and flushed, for requests that
    /// get no response and so have nothing else to wait for.
    pub(crate) written: Option<oneshot::Sender<()>>,
    /// The in-flight slot of a request that gets no response, freed once it
    /// is written; requests with a response keep theirs in [`Pending`].
    pub(crate) _permit: Option<OwnedSemaphorePermit>,
}

/// A request written (or queued to be) that awaits its response.
#[derive(Debug)]
pub(crate) struct Pending {
    pub(crate) correlation_id: i32,
    pub(crate) api: ApiKey,
    pub(crate) version: i16,
    pub(crate) deadline: Instant,
    tx: oneshot::Sender<Result<Bytes>>,
    /// Held until the response is read, not until the caller stops waiting,
    /// so a cancelled request still counts against `max_in_flight` for as
    /// long as the broker is working on it.
    _permit: OwnedSemaphorePermit,
}

impl Pending {
    /// Hands the caller its response frame or error. Returns `false` if the
    /// caller is gone (its future was dropped), in which case the response is
    /// simply discarded.
    pub(crate) fn deliver(self, result: Result<Bytes>) -> bool {
        self.tx.send(result).is_ok()
    }
}

/// What the reader's timer found.
pub(crate) enum TimerOutcome {
    /// Nothing due; the timer should be re-armed.
    NotYet,
    /// The connection was failed (a request timed out or it sat idle).
    Failed,
}

#[derive(Debug)]
struct State {
    in_flight: VecDeque<Pending>,
    dead: Option<Arc<Error>>,
    outgoing: mpsc::UnboundedSender<Outgoing>,
    /// The last request queued or response read; the idle clock runs from it.
    last_activity: Instant,
}

/// See the module docs.
#[derive(Debug)]
pub(crate) struct Shared {
    pub(crate) broker: BrokerAddr,
    pub(crate) config: ConnectionConfig,
    state: Mutex<State>,
    /// One permit per in-flight slot. Closed when the connection dies, which
    /// wakes everyone waiting for a slot.
    pub(crate) permits: Arc<Semaphore>,
    next_correlation_id: AtomicI32,
    /// Wakes the reader when the in-flight queue stops being empty, so it
    /// swaps the idle timer for the oldest request's deadline.
    pub(crate) reader_wake: Notify,
    /// Becomes `true` once the connection is dead; stops both tasks.
    closed: watch::Sender<bool>,
}

impl Shared {
    pub(crate) fn new(
        broker: BrokerAddr,
        config: ConnectionConfig,
        outgoing: mpsc::UnboundedSender<Outgoing>,
    ) -> Self {
        let permits = Arc::new(Semaphore::new(config.max_in_flight()));
        Self {
            broker,
            config,
            state: Mutex::new(State {
                in_flight: VecDeque::new(),
                dead: None,
                outgoing,
                last_activity: Instant::now(),
            }),
            permits,
            next_correlation_id: AtomicI32::new(0),
            reader_wake: Notify::new(),
            closed: watch::Sender::new(false),
        }
    }

    /// Nothing panics while the lock is held, but if something ever did, the
    /// state is still consistent enough to fail every request cleanly, which
    /// beats propagating the panic into every caller.
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The next correlation id. Wraps around after `i32::MAX`; ids only have
    /// to be unique among the requests in flight.
    pub(crate) fn next_correlation_id(&self) -> i32 {
        self.next_correlation_id.fetch_add(1, Ordering::Relaxed)
    }

    /// A receiver that sees `true` once the connection is dead.
    pub(crate) fn closed_signal(&self) -> watch::Receiver<bool> {
        self.closed.subscribe()
    }

    /// What killed the connection, if it is dead.
    pub(crate) fn dead_cause(&self) -> Option<Arc<Error>> {
        self.lock().dead.clone()
    }

    /// The error for a request made on a dead connection, if it is dead.
    pub(crate) fn dead_error(&self) -> Option<Error> {
        self.dead_cause().map(|cause| Error::Dead { cause })
    }

    /// The error to report when the connection turned out to be gone though
    /// no one recorded why; cannot happen as the tasks always fail the
    /// connection before exiting, but it must not panic if it does.
    pub(crate) fn gone_error(&self) -> Error {
        self.dead_error().unwrap_or_else(|| Error::Closed {
            broker: self.broker.clone(),
            reason: CloseReason::ByClient,
        })
    }

    pub(crate) fn in_flight(&self) -> usize {
        self.lock().in_flight.len()
    }

    /// The API of the oldest request in flight, which is what the next
    /// response belongs to.
    pub(crate) fn front_api(&self) -> Option<ApiKey> {
        self.lock().in_flight.front().map(|p| p.api)
    }

    /// Queues a request that expects a response. Synchronous, so it cannot be
    /// cancelled halfway: the frame is either queued for the writer with its
    /// waiter registered, or neither.
    pub(crate) fn enqueue_request(
        &self,
        frame: Bytes,
        correlation_id: i32,
        api: ApiKey,
        version: i16,
        deadline: Instant,
        permit: OwnedSemaphorePermit,
    ) -> Result<oneshot::Receiver<Result<Bytes>>> {
        let (tx, rx) = oneshot::channel();
        let mut st = self.lock();
        if let Some(cause) = &st.dead {
            return Err(Error::Dead {
                cause: cause.clone(),
            });
        }
        let out = Outgoing {
            frame,
            written: None,
            _permit: None,
        };
        if st.outgoing.send(out).is_err() {
            drop(st);
            return Err(self.gone_error());
        }
        let was_idle = st.in_flight.is_empty();
        st.in_flight.push_back(Pending {
            correlation_id,
            api,
            version,
            deadline,
            tx,
            _permit: permit,
        });
        st.last_activity = Instant::now();
        drop(st);
        if was_idle {
            self.reader_wake.notify_one();
        }
        Ok(rx)
    }

    /// Queues a request that gets no response; the receiver is told once it
    /// has been written.
    pub(crate) fn enqueue_oneway(
        &self,
        frame: Bytes,
        permit: OwnedSemaphorePermit,
    ) -> Result<oneshot::Receiver<()>> {
        let (tx, rx) = oneshot::channel();
        let mut st = self.lock();
        if let Some(cause) = &st.dead {
            return Err(Error::Dead {
                cause: cause.clone(),
            });
        }
        let out = Outgoing {
            frame,
            written: Some(tx),
            _permit: Some(permit),
        };
        if st.outgoing.send(out).is_err() {
            drop(st);
            return Err(self.gone_error());
        }
        st.last_activity = Instant::now();
        Ok(rx)
    }

    /// Takes the request a response with `received` as correlation id
    /// answers: it must be the oldest in flight.
    pub(crate) fn take_response(&self, received: i32) -> Result<Pending> {
        let mut st = self.lock();
        let expected = st.in_flight.front().map(|p| p.correlation_id);
        if expected == Some(received)
            && let Some(p) = st.in_flight.pop_front()
        {
            st.last_activity = Instant::now();
            return Ok(p);
        }
        Err(Error::CorrelationMismatch {
            broker: self.broker.clone(),
            expected,
            received,
        })
    }

    /// When the reader's timer should next fire: the oldest request's
    /// deadline, or the end of the idle period when nothing is in flight.
    ///
    /// Only the oldest request is watched. Later ones were queued later with
    /// the same timeout, so their deadlines are no earlier (up to how long
    /// each waited for an in-flight slot), and a response cannot overtake
    /// the oldest anyway.
    pub(crate) fn next_deadline(&self) -> Option<Instant> {
        let st = self.lock();
        match st.in_flight.front() {
            Some(p) => Some(p.deadline),
            None => self.config.idle_timeout().map(|i| st.last_activity + i),
        }
    }

    /// Acts on the reader's timer: a request past its deadline times out
    /// and, like in the Java client, takes the connection with it; an idle
    /// connection closes itself.
    pub(crate) fn on_timer(&self, now: Instant) -> TimerOutcome {
        let mut st = self.lock();
        match st.in_flight.front() {
            Some(p) if p.deadline <= now => {
                let Some(expired) = st.in_flight.pop_front() else {
                    return TimerOutcome::NotYet;
                };
                let timeout = Error::Timeout {
                    broker: self.broker.clone(),
                    api: expired.api,
                    after: self.config.request_timeout(),
                    sent: true,
                };
                tracing::debug!(
                    broker = %self.broker,
                    api = %expired.api,
                    version = expired.version,
                    correlation_id = expired.correlation_id,
                    "request timed out; closing the connection"
                );
                self.fail_locked(st, timeout.clone());
                expired.deliver(Err(timeout));
                TimerOutcome::Failed
            }
            Some(_) => TimerOutcome::NotYet,
            None => match self.config.idle_timeout() {
                Some(idle) if st.last_activity + idle <= now => {
                    let reason = CloseReason::Idle(idle);
                    let broker = self.broker.clone();
                    self.fail_locked(st, Error::Closed { broker, reason });
                    TimerOutcome::Failed
                }
                _ => TimerOutcome::NotYet,
            },
        }
    }

    /// Marks the connection dead with `cause` (unless it already is; the
    /// first cause wins), fails every request in flight with it and stops
    /// both tasks. Returns the cause that stands.
    pub(crate) fn fail(&self, cause: Error) -> Arc<Error> {
        self.fail_locked(self.lock(), cause)
    }

    fn fail_locked(&self, mut st: MutexGuard<'_, State>, cause: Error) -> Arc<Error> {
        if let Some(existing) = &st.dead {
            return existing.clone();
        }
        let cause = Arc::new(cause);
        st.dead = Some(cause.clone());
        let pending = std::mem::take(&mut st.in_flight);
        drop(st);

        self.permits.close();
        self.closed.send_replace(true);
        match cause.as_ref() {
            Error::Closed {
                reason: CloseReason::ByClient | CloseReason::Idle(_),
                ..
            } => tracing::debug!(broker = %self.broker, "connection closed: {cause}"),
            _ => tracing::debug!(
                broker = %self.broker,
                in_flight = pending.len(),
                "connection failed: {cause}"
            ),
        }
        for p in pending {
            p.deliver(Err(Error::Dead {
                cause: cause.clone(),
            }));
        }
        cause
    }
}
