//! Finding the group coordinator, and forgetting it when it moves.

use std::time::Instant;

use gregor_protocol::messages::{FindCoordinatorRequest, FindCoordinatorResponse};
use gregor_protocol::{ApiKey, ErrorCode, StrBytes};

use super::{GroupMember, Kind, Phase};
use crate::error::Error;
use crate::events::Event;
use crate::request::{CoordinatorNode, Destination, Failure, Outgoing, Request};

impl GroupMember {
    /// Whether anything needs the coordinator.
    pub(crate) fn needs_coordinator(&self) -> bool {
        let phase = !matches!(
            self.phase,
            Phase::Idle | Phase::Failed | Phase::Leaving { .. }
        );
        phase || !self.commits.is_empty() || !self.to_fetch.is_empty()
    }

    /// FindCoordinator to any broker, unless one is in flight or backing off.
    pub(crate) fn maybe_find_coordinator(&mut self, now: Instant) -> Option<Outgoing> {
        if !self.needs_coordinator()
            || self.in_flight_is(|k| matches!(k, Kind::FindCoordinator))
            || !self.find_backoff.ready(now)
        {
            return None;
        }
        let group = StrBytes::from(self.config.group_id.as_str());
        let request = FindCoordinatorRequest::default()
            .with_key_type(0)
            .with_coordinator_keys(vec![group]);
        Some(self.send(
            now,
            Destination::AnyBroker,
            Kind::FindCoordinator,
            Request::FindCoordinator(request),
        ))
    }

    pub(crate) fn on_find_coordinator(&mut self, now: Instant, resp: &FindCoordinatorResponse) {
        let group = self.config.group_id.as_str();
        let (code, node) = match resp
            .coordinators
            .iter()
            .find(|c| c.key.as_str() == group)
            .or_else(|| resp.coordinators.first())
        {
            Some(c) => (
                ErrorCode::from_code(c.error_code),
                CoordinatorNode {
                    node_id: c.node_id,
                    host: c.host.as_str().to_owned(),
                    port: c.port,
                },
            ),
            None => (
                ErrorCode::from_code(resp.error_code),
                CoordinatorNode {
                    node_id: resp.node_id,
                    host: resp.host.as_str().to_owned(),
                    port: resp.port,
                },
            ),
        };
        match code {
            ErrorCode::None => {
                self.find_backoff.succeed();
                self.coordinator = Some(node);
            }
            ErrorCode::GroupAuthorizationFailed => {
                self.fail(Error::kafka(ApiKey::FindCoordinator, code));
            }
            _ => {
                self.find_backoff.fail(now);
                if !code.is_retriable() {
                    let error = Error::kafka(ApiKey::FindCoordinator, code);
                    self.events.push_back(Event::Error(error));
                }
            }
        }
    }

    pub(crate) fn on_find_coordinator_failed(&mut self, now: Instant, failure: Failure) {
        self.find_backoff.fail(now);
        if let Failure::NotSent { .. } = failure {
            self.events.push_back(Event::Error(Error::Transport {
                api: ApiKey::FindCoordinator,
                failure,
            }));
        }
    }

    /// Forgets the coordinator after NOT_COORDINATOR, COORDINATOR_NOT_AVAILABLE,
    /// a disconnect or a timeout. Requests in flight to it are given up (their
    /// responses will be ignored) and redone after the lookup; partitions
    /// are kept as long as the session lasts.
    pub(crate) fn mark_coordinator_unknown(&mut self, now: Instant) {
        if self.coordinator.take().is_none() {
            return;
        }
        let (finds, abandoned): (Vec<_>, Vec<_>) = std::mem::take(&mut self.in_flight)
            .into_iter()
            .partition(|(_, f)| matches!(f.kind, Kind::FindCoordinator));
        self.in_flight = finds.into_iter().collect();
        for (_, flight) in abandoned {
            match flight.kind {
                Kind::FindCoordinator | Kind::Heartbeat => {}
                Kind::JoinGroup | Kind::SyncGroup => {
                    if matches!(self.phase, Phase::Joining { .. } | Phase::Syncing { .. }) {
                        self.phase = Phase::Joining { sent: false };
                    }
                }
                Kind::LeaveGroup => self.finish_leave(),
                Kind::OffsetCommit(offsets) => {
                    let error = Error::Transport {
                        api: ApiKey::OffsetCommit,
                        failure: Failure::Disconnected,
                    };
                    self.events
                        .push_back(Event::CommitFailed { offsets, error });
                }
                Kind::OffsetFetch(partitions) => self.to_fetch.extend(partitions),
            }
        }
        self.next_heartbeat = Some(now);
    }
}
