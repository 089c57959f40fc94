//! Leaving the group.
//!
//! A member leaving a stable generation first revokes its partitions (so
//! the owner can commit), then a dynamic member sends LeaveGroup so the
//! group rebalances at once. A static member (KIP-345) sends nothing: the
//! coordinator keeps its assignment until the session timeout, and a
//! restart with the same `group.instance.id` within it gets the partitions
//! back without a rebalance.

use std::collections::BTreeSet;
use std::time::Instant;

use gregor_protocol::StrBytes;
use gregor_protocol::messages::LeaveGroupRequest;
use gregor_protocol::messages::leave_group_request::MemberIdentity;

use super::{GroupMember, Kind, Phase};
use crate::events::Event;
use crate::request::Request;
use crate::types::{Generation, TopicPartition};

impl GroupMember {
    /// Leaves the group (unsubscribing from everything).
    ///
    /// In a stable generation the partitions are first revoked
    /// ([`Event::Revoked`]; acknowledge with
    /// [`ack_revoked`](Self::ack_revoked) after committing), otherwise
    /// reported lost. Then a dynamic member sends LeaveGroup; a static one
    /// does not. [`Event::Left`] marks the end; subscribing again rejoins.
    pub fn leave(&mut self, now: Instant) {
        self.topics.clear();
        self.rejoin = None;
        match self.phase {
            Phase::Failed | Phase::Leaving { .. } => return,
            Phase::Idle => {
                self.events.push_back(Event::Left);
                return;
            }
            Phase::Stable if self.generation.is_valid() => {
                let pending = self.revoking.clone().unwrap_or_default();
                let rest: BTreeSet<TopicPartition> =
                    self.owned.difference(&pending).cloned().collect();
                if !rest.is_empty() {
                    self.events.push_back(Event::Revoked { partitions: rest });
                }
                if !self.owned.is_empty() {
                    self.revoking = Some(self.owned.clone());
                }
            }
            _ => self.lose_all(),
        }
        self.to_fetch.clear();
        self.in_flight
            .retain(|_, f| !matches!(f.kind, Kind::JoinGroup | Kind::SyncGroup));
        self.phase = Phase::Leaving { sent: false };
        self.drive(now);
    }

    /// LeaveGroup, once revocation and commits are done.
    pub(crate) fn leave_request(&mut self, _now: Instant) -> Option<(Kind, Request)> {
        if !matches!(self.phase, Phase::Leaving { sent: false })
            || self.revoking.is_some()
            || self.commits_pending()
            || self.config.group_instance_id.is_some()
            || self.generation.member_id.is_empty()
        {
            return None;
        }
        self.phase = Phase::Leaving { sent: true };
        let request = LeaveGroupRequest::default()
            .with_group_id(self.config.group_id.as_str())
            .with_members(vec![
                MemberIdentity::default()
                    .with_member_id(self.generation.member_id.as_str())
                    .with_reason(Some(StrBytes::from("the consumer is leaving the group"))),
            ]);
        Some((Kind::LeaveGroup, Request::LeaveGroup(request)))
    }

    /// The member is out of the group: reset, report [`Event::Left`], and
    /// join again if it was resubscribed meanwhile.
    pub(crate) fn finish_leave(&mut self) {
        if !matches!(self.phase, Phase::Leaving { .. }) {
            return;
        }
        self.lose_all();
        self.generation = Generation::none();
        self.leader_snapshot = None;
        self.session_ok_at = None;
        self.next_heartbeat = None;
        self.in_flight.retain(|_, f| {
            matches!(
                f.kind,
                Kind::FindCoordinator | Kind::OffsetCommit(_) | Kind::OffsetFetch(_)
            )
        });
        self.phase = Phase::Idle;
        self.events.push_back(Event::Left);
        if !self.topics.is_empty() {
            self.phase = Phase::Joining { sent: false };
            self.join_prepared = false;
        }
    }
}
