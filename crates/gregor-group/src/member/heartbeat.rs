//! Heartbeats and the session.
//!
//! The member heartbeats every heartbeat interval while it holds a
//! generation (syncing, stable, revoking before a rejoin or a leave). Each
//! successful heartbeat (or one answered REBALANCE_IN_PROGRESS, which also
//! proves the coordinator knows the member) restarts the session clock. If
//! the session timeout passes without one, the coordinator has most likely
//! removed the member and given its partitions away: the member reports
//! them [`Lost`](crate::Event::Lost), looks the coordinator up again and
//! rejoins with a fresh member id, as librdkafka does.

use std::time::Instant;

use gregor_protocol::messages::{HeartbeatRequest, HeartbeatResponse};
use gregor_protocol::{ApiKey, ErrorCode};

use super::{GroupMember, Kind, Phase};
use crate::error::Error;
use crate::events::Event;
use crate::request::{Failure, Request};

impl GroupMember {
    /// Whether the member holds a generation it must keep alive.
    fn in_session(&self) -> bool {
        self.generation.is_valid()
            && matches!(
                self.phase,
                Phase::Stable
                    | Phase::AwaitingMetadata { .. }
                    | Phase::Syncing { .. }
                    | Phase::Leaving { sent: false }
            )
    }

    /// When the session runs out without a successful heartbeat.
    pub(crate) fn session_deadline(&self) -> Option<Instant> {
        if !self.in_session() {
            return None;
        }
        self.session_ok_at.map(|t| t + self.config.session_timeout)
    }

    /// When the next heartbeat is due (if it can be sent).
    pub(crate) fn heartbeat_deadline(&self) -> Option<Instant> {
        if !self.in_session()
            || self.coordinator.is_none()
            || self.in_flight_is(|k| matches!(k, Kind::Heartbeat))
        {
            return None;
        }
        self.next_heartbeat
    }

    /// Declares the partitions lost if the session ran out.
    pub(crate) fn check_session(&mut self, now: Instant) {
        if self.session_deadline().is_some_and(|d| now >= d) {
            self.events.push_back(Event::Error(Error::SessionExpired {
                session_timeout: self.config.session_timeout,
            }));
            self.reset_generation(true);
            self.mark_coordinator_unknown(now);
        }
    }

    /// A Heartbeat, if one is due.
    pub(crate) fn heartbeat_request_if_due(&mut self, now: Instant) -> Option<(Kind, Request)> {
        if !self.in_session()
            || self.in_flight_is(|k| matches!(k, Kind::Heartbeat))
            || self.next_heartbeat.is_some_and(|t| now < t)
        {
            return None;
        }
        self.next_heartbeat = Some(now + self.config.heartbeat_interval);
        let request = HeartbeatRequest::default()
            .with_group_id(self.config.group_id.as_str())
            .with_generation_id(self.generation.generation_id)
            .with_member_id(self.generation.member_id.as_str())
            .with_group_instance_id(self.instance_id());
        Some((Kind::Heartbeat, Request::Heartbeat(request)))
    }

    pub(crate) fn on_heartbeat(
        &mut self,
        now: Instant,
        sent_generation: i32,
        sent_member: &str,
        resp: &HeartbeatResponse,
    ) {
        let unchanged = self.generation_unchanged(sent_generation, sent_member);
        let code = ErrorCode::from_code(resp.error_code);
        match code {
            ErrorCode::None => {
                if unchanged {
                    self.session_ok_at = Some(now);
                }
            }
            ErrorCode::RebalanceInProgress => {
                if unchanged {
                    self.session_ok_at = Some(now);
                    if matches!(self.phase, Phase::Stable) {
                        self.request_rejoin("the group is rebalancing");
                    }
                }
            }
            ErrorCode::IllegalGeneration | ErrorCode::UnknownMemberId => {
                if unchanged {
                    // Keep the member id on ILLEGAL_GENERATION: it is still
                    // valid, and rejoining with it avoids waiting for the old
                    // id to expire.
                    self.reset_generation(code == ErrorCode::UnknownMemberId);
                }
            }
            ErrorCode::FencedInstanceId => {
                if unchanged {
                    self.fail(self.fenced());
                }
            }
            ErrorCode::CoordinatorNotAvailable | ErrorCode::NotCoordinator => {
                self.mark_coordinator_unknown(now);
            }
            ErrorCode::GroupAuthorizationFailed => {
                self.fail(Error::kafka(ApiKey::Heartbeat, code));
            }
            _ => {
                self.events
                    .push_back(Event::Error(Error::kafka(ApiKey::Heartbeat, code)));
                self.next_heartbeat = Some(now + self.config.retry_backoff);
            }
        }
    }

    pub(crate) fn on_heartbeat_failed(&mut self, now: Instant, failure: Failure) {
        match failure {
            Failure::Disconnected | Failure::TimedOut => self.mark_coordinator_unknown(now),
            Failure::NotSent { .. } => {
                self.events.push_back(Event::Error(Error::Transport {
                    api: ApiKey::Heartbeat,
                    failure,
                }));
                self.next_heartbeat = Some(now + self.config.retry_backoff);
            }
        }
    }
}
