//! A blocking producer for code without an async runtime, like
//! `reqwest::blocking`: it owns a small Tokio runtime on a thread of its own
//! and waits on it.
//!
//! ```no_run
//! use std::time::Duration;
//! use gregor_client::producer::{ProducerConfig, ProducerRecord};
//! use gregor_client::producer::blocking::Producer;
//!
//! # fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! let producer = Producer::connect("127.0.0.1:9092", ProducerConfig::default())?;
//! // Waits until the broker acknowledged it.
//! let meta = producer.send(ProducerRecord::to("orders").key("k").value("v"))?;
//! println!("offset {:?}", meta.offset);
//! // Queue without waiting for the broker; wait later.
//! let pending = producer.enqueue(ProducerRecord::to("orders").value("w"))?;
//! pending.wait()?;
//! producer.close(Duration::from_secs(5));
//! # Ok(())
//! # }
//! ```
//!
//! Its methods block the calling thread: calling them from inside an async
//! runtime panics (use the async [`Producer`](super::Producer) there).

use std::fmt;
use std::sync::Arc;
use std::thread;
use std::time::Duration;

use gregor_net::{Cluster, ClusterConfig};
use tokio::runtime::Handle;
use tokio::sync::oneshot;

use super::{
    CloseReport, DeliveryFuture, ProduceError, ProducerConfig, ProducerRecord, ProducerStats,
    RecordMetadata,
};

/// The runtime thread: stops when the last handle is dropped.
struct Runtime {
    handle: Handle,
    stop: Option<oneshot::Sender<()>>,
    thread: Option<thread::JoinHandle<()>>,
}

impl Drop for Runtime {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(t) = self.thread.take()
            && t.thread().id() != thread::current().id()
        {
            let _ = t.join();
        }
    }
}

impl Runtime {
    fn start() -> std::io::Result<Runtime> {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        let handle = rt.handle().clone();
        let (stop, stopped) = oneshot::channel::<()>();
        let thread = thread::Builder::new()
            .name("gregor-producer".into())
            .spawn(move || {
                rt.block_on(async {
                    let _ = stopped.await;
                });
                // Give the producer's tasks a moment to hand over what they
                // hold; the producer was flushed or closed by then if the
                // caller cared.
                rt.shutdown_timeout(Duration::from_secs(1));
            })?;
        Ok(Runtime {
            handle,
            stop: Some(stop),
            thread: Some(thread),
        })
    }

    fn block_on<F: std::future::Future>(&self, f: F) -> F::Output {
        self.handle.block_on(f)
    }
}

/// A blocking producer: the async [`Producer`](super::Producer) driven by a
/// runtime thread of its own. Cheap to clone; `Send + Sync`.
#[derive(Clone)]
pub struct Producer {
    inner: super::Producer,
    runtime: Arc<Runtime>,
}

impl fmt::Debug for Producer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("blocking::Producer")
            .field("inner", &self.inner)
            .finish_non_exhaustive()
    }
}

impl Producer {
    /// Connects to `bootstrap` (`host:port`) and starts a producer.
    ///
    /// # Errors
    ///
    /// As [`Producer::connect`](super::Producer::connect), and
    /// [`Error::Closed`](crate::Error::Closed) if the runtime thread cannot
    /// start.
    pub fn connect(bootstrap: &str, config: ProducerConfig) -> crate::Result<Producer> {
        let cluster_config = ClusterConfig::builder()
            .bootstrap_servers([bootstrap])
            .build()
            .map_err(|e| crate::Error::config(e.field(), e.reason()))?;
        Producer::with_cluster_config(cluster_config, config)
    }

    /// Connects with `cluster` settings and starts a producer.
    ///
    /// # Errors
    ///
    /// As [`connect`](Self::connect).
    pub fn with_cluster_config(
        cluster: ClusterConfig,
        config: ProducerConfig,
    ) -> crate::Result<Producer> {
        let runtime = Arc::new(Runtime::start().map_err(|_| crate::Error::Closed("runtime"))?);
        let inner = runtime.block_on(async {
            let cluster = Cluster::connect(cluster).await?;
            Ok::<_, crate::Error>(super::Producer::new(cluster, config))
        })?;
        Ok(Producer { inner, runtime })
    }

    /// Sends a record and waits until the broker acknowledged it.
    ///
    /// # Errors
    ///
    /// As [`Producer::send`](super::Producer::send).
    pub fn send(&self, record: ProducerRecord) -> Result<RecordMetadata, ProduceError> {
        self.runtime.block_on(self.inner.send(record))
    }

    /// Queues a record, waiting for room if needed, and returns a handle
    /// to wait for its delivery later.
    ///
    /// # Errors
    ///
    /// As [`Producer::enqueue`](super::Producer::enqueue).
    pub fn enqueue(&self, record: ProducerRecord) -> Result<Delivery, ProduceError> {
        let d = self.runtime.block_on(self.inner.enqueue(record))?;
        Ok(Delivery {
            inner: d,
            runtime: self.runtime.clone(),
        })
    }

    /// Queues a record without waiting.
    ///
    /// # Errors
    ///
    /// As [`Producer::try_send`](super::Producer::try_send).
    pub fn try_send(&self, record: ProducerRecord) -> Result<Delivery, ProduceError> {
        let _enter = self.runtime.handle.enter();
        let d = self.inner.try_send(record)?;
        Ok(Delivery {
            inner: d,
            runtime: self.runtime.clone(),
        })
    }

    /// Sends everything queued and waits for it.
    pub fn flush(&self) {
        self.runtime.block_on(self.inner.flush());
    }

    /// Closes the producer; see [`Producer::close`](super::Producer::close).
    pub fn close(&self, timeout: Duration) -> CloseReport {
        self.runtime.block_on(self.inner.close(timeout))
    }

    /// What the producer did so far.
    pub fn stats(&self) -> ProducerStats {
        self.inner.stats()
    }

    /// The async producer inside, for use from the runtime's own tasks.
    pub fn as_async(&self) -> &super::Producer {
        &self.inner
    }
}

/// The delivery of one queued record, to wait for.
pub struct Delivery {
    inner: DeliveryFuture,
    runtime: Arc<Runtime>,
}

impl fmt::Debug for Delivery {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.inner.fmt(f)
    }
}

impl Delivery {
    /// Blocks until the record is delivered or failed.
    ///
    /// # Errors
    ///
    /// Why it was not delivered.
    pub fn wait(self) -> Result<RecordMetadata, ProduceError> {
        self.runtime.block_on(self.inner)
    }

    /// The outcome, if known already.
    pub fn try_result(&self) -> Option<Result<RecordMetadata, ProduceError>> {
        self.inner.try_result()
    }
}
