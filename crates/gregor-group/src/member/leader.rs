//! The leader's step: decode every member's subscription, make sure the
//! metadata covers their topics, run the assignor, send the assignment.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Instant;

use gregor_protocol::messages::join_group_response::JoinGroupResponseMember;
use gregor_protocol::messages::sync_group_request::SyncGroupRequestAssignment;

use super::{GroupMember, Phase};
use crate::assignor::{
    MemberSubscription, RebalanceProtocol, remove_partitions_still_owned, validate_assignment,
};
use crate::error::Error;
use crate::events::Event;
use crate::subscription::{CONSUMER_PROTOCOL_VERSION, Subscription};

impl GroupMember {
    /// This member was elected leader: collect the subscriptions, then
    /// assign now or after [`Event::MetadataNeeded`] is answered.
    pub(crate) fn on_elected_leader(
        &mut self,
        now: Instant,
        members: Vec<JoinGroupResponseMember>,
    ) {
        let mut subs = Vec::with_capacity(members.len());
        let mut versions = BTreeMap::new();
        for m in members {
            let member_id = m.member_id.as_str().to_owned();
            let instance = m.group_instance_id.as_ref().map(|i| i.as_str().to_owned());
            match Subscription::decode(m.metadata) {
                Ok((s, version)) => {
                    versions.insert(member_id.clone(), version);
                    subs.push(MemberSubscription {
                        member_id,
                        group_instance_id: instance,
                        topics: s.topics.into_iter().collect(),
                        owned_partitions: s.owned_partitions,
                        generation: s.generation,
                        rack: s.rack,
                        user_data: s.user_data,
                    });
                }
                Err(e) => {
                    // A member whose subscription cannot be read gets
                    // nothing rather than stalling the whole group.
                    self.events.push_back(Event::Error(e));
                    subs.push(MemberSubscription {
                        member_id,
                        group_instance_id: instance,
                        ..MemberSubscription::default()
                    });
                }
            }
        }
        let topics: BTreeSet<String> = subs.iter().flat_map(|s| s.topics.iter().cloned()).collect();
        let known = topics.iter().all(|t| self.metadata.contains_topic(t));
        self.phase = Phase::AwaitingMetadata {
            members: subs,
            versions,
        };
        if known {
            self.assign_as_leader(now);
        } else {
            self.metadata_deadline = Some(now + self.config.request_timeout);
            self.events.push_back(Event::MetadataNeeded { topics });
        }
    }

    /// Runs the assignor and prepares the leader's SyncGroup. On failure
    /// the member reports the error and rejoins after a backoff.
    pub(crate) fn assign_as_leader(&mut self, now: Instant) {
        let Phase::AwaitingMetadata { members, versions } =
            std::mem::replace(&mut self.phase, Phase::Joining { sent: false })
        else {
            return;
        };
        self.metadata_deadline = None;
        let name = self.generation.protocol_name.clone().unwrap_or_default();
        let Some(assignor) = self.config.assignor(&name).cloned() else {
            let reason = format!("no assignor named {name:?}");
            self.events
                .push_back(Event::Error(Error::InconsistentProtocol { reason }));
            self.join_backoff.fail(now);
            return;
        };
        let result = assignor.assign(&members, &self.metadata).and_then(|a| {
            validate_assignment(&name, &members, &self.metadata, &a)?;
            Ok(a)
        });
        let mut assignment = match result {
            Ok(a) => a,
            Err(e) => {
                self.events.push_back(Event::Error(e));
                self.join_backoff.fail(now);
                return;
            }
        };
        if self.protocol == RebalanceProtocol::Cooperative {
            remove_partitions_still_owned(&members, &mut assignment);
        }

        let mut out = Vec::with_capacity(members.len());
        for m in &members {
            let a = assignment
                .members
                .get(&m.member_id)
                .cloned()
                .unwrap_or_default();
            let version = versions
                .get(&m.member_id)
                .copied()
                .unwrap_or(CONSUMER_PROTOCOL_VERSION)
                .clamp(0, CONSUMER_PROTOCOL_VERSION);
            match a.encode(version) {
                Ok(bytes) => out.push(
                    SyncGroupRequestAssignment::default()
                        .with_member_id(m.member_id.as_str())
                        .with_assignment(bytes),
                ),
                Err(e) => {
                    self.events.push_back(Event::Error(e));
                    self.join_backoff.fail(now);
                    return;
                }
            }
        }
        let topics: BTreeSet<String> = members
            .iter()
            .flat_map(|m| m.topics.iter().cloned())
            .collect();
        let counts = self.metadata.counts_of(&topics);
        self.leader_snapshot = Some((topics, counts));
        let request = self.sync_request(out);
        self.phase = Phase::Syncing {
            request: Some(Box::new(request)),
        };
    }
}
