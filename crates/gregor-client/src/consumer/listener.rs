//! Rebalance notifications.

use std::collections::BTreeSet;

use async_trait::async_trait;

use super::TopicPartition;
use super::handle::ConsumerHandle;

/// Hooks the group driver calls when partitions come and go, each with a
/// [`ConsumerHandle`] that can commit, seek and pause. Every method has a
/// no-op default.
///
/// The hooks run on the consumer's group task, one at a time and in the
/// order of the events, while the task goes on heartbeating; a hook that
/// awaits a commit gets it answered. The member does not give up revoked
/// partitions (and so does not let the group rebalance on) until
/// [`on_revoked`](Self::on_revoked) has returned and, with auto-commit,
/// the processed offsets are committed. A hook that panics is logged and
/// treated as returned.
///
/// ```no_run
/// use std::collections::BTreeSet;
///
/// use gregor_client::consumer::{ConsumerHandle, RebalanceListener, TopicPartition};
///
/// /// Commits what was processed before partitions move to another member.
/// struct CommitOnRevoke;
///
/// #[async_trait::async_trait]
/// impl RebalanceListener for CommitOnRevoke {
///     async fn on_revoked(&self, consumer: &ConsumerHandle, partitions: &BTreeSet<TopicPartition>) {
///         if let Err(e) = consumer.commit_processed(partitions).await {
///             eprintln!("commit before revocation failed: {e}");
///         }
///     }
/// }
/// ```
#[async_trait]
pub trait RebalanceListener: Send + Sync + 'static {
    /// Partitions were assigned to this member (in cooperative mode, only
    /// the ones added). They are not fetched until this returns, so a
    /// [`seek`](ConsumerHandle::seek) here decides where they start.
    async fn on_assigned(&self, consumer: &ConsumerHandle, partitions: &BTreeSet<TopicPartition>) {
        let _ = (consumer, partitions);
    }

    /// Partitions are being taken away while this member still owns them:
    /// nothing more of them is handed out, every record handed out before
    /// has been processed (the application polled again, or the max poll
    /// interval passed), and a commit here is still accepted.
    async fn on_revoked(&self, consumer: &ConsumerHandle, partitions: &BTreeSet<TopicPartition>) {
        let _ = (consumer, partitions);
    }

    /// Partitions were lost: the member was fenced, its session expired,
    /// or it stopped polling for too long. Another member may already own
    /// them, so they must not be committed (the consumer refuses to).
    async fn on_lost(&self, consumer: &ConsumerHandle, partitions: &BTreeSet<TopicPartition>) {
        let _ = (consumer, partitions);
    }
}

/// The listener used when none is given.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct NoopListener;

impl RebalanceListener for NoopListener {}
