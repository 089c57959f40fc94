//! Consumer groups: ListGroups (every broker), DescribeGroups and
//! DeleteGroups (batched per coordinator).

use std::fmt;

use bytes::Bytes;
use futures::future::join_all;
use gregor_net::CoordinatorKey;
use gregor_protocol::ApiKey;
use gregor_protocol::messages::describe_groups_response::DescribedGroup;
use gregor_protocol::messages::{DeleteGroupsRequest, DescribeGroupsRequest, ListGroupsRequest};

use super::{
    Admin, Assignment, BrokerId, Outcomes, Subscription, code_result, need_version, net, version,
};
use crate::{Error, Result};

/// A group's state as its coordinator reports it.
///
/// ```
/// use gregor_client::admin::GroupState;
///
/// assert_eq!(GroupState::from("Stable"), GroupState::Stable);
/// assert_eq!(GroupState::Empty.as_str(), "Empty");
/// assert_eq!(GroupState::from("Sleeping").as_str(), "Sleeping");
/// ```
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum GroupState {
    /// No members, but committed offsets (or just created).
    Empty,
    /// Members are (re)joining.
    PreparingRebalance,
    /// Waiting for the leader's assignment.
    CompletingRebalance,
    /// Every member has its assignment.
    Stable,
    /// The group is gone (or never existed).
    Dead,
    /// KIP-848: assigning partitions.
    Assigning,
    /// KIP-848: members are converging on their assignment.
    Reconciling,
    /// A state this client does not know, as the broker spelled it.
    Other(String),
}

impl GroupState {
    /// The state as Kafka spells it.
    pub fn as_str(&self) -> &str {
        match self {
            GroupState::Empty => "Empty",
            GroupState::PreparingRebalance => "PreparingRebalance",
            GroupState::CompletingRebalance => "CompletingRebalance",
            GroupState::Stable => "Stable",
            GroupState::Dead => "Dead",
            GroupState::Assigning => "Assigning",
            GroupState::Reconciling => "Reconciling",
            GroupState::Other(s) => s,
        }
    }
}

impl From<&str> for GroupState {
    fn from(s: &str) -> Self {
        match s {
            "Empty" => GroupState::Empty,
            "PreparingRebalance" => GroupState::PreparingRebalance,
            "CompletingRebalance" => GroupState::CompletingRebalance,
            "Stable" => GroupState::Stable,
            "Dead" => GroupState::Dead,
            "Assigning" => GroupState::Assigning,
            "Reconciling" => GroupState::Reconciling,
            other => GroupState::Other(other.to_owned()),
        }
    }
}

impl fmt::Display for GroupState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Which groups [`Admin::list_groups`] lists: all by default; by state
/// needs ListGroups v4, by type v5.
///
/// ```
/// use gregor_client::admin::{GroupFilter, GroupState};
///
/// let filter = GroupFilter::default().with_state(GroupState::Empty).with_type("classic");
/// # let _ = filter;
/// ```
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct GroupFilter {
    /// Only groups in one of these states (none: any state).
    pub states: Vec<GroupState>,
    /// Only groups of one of these types, `classic` or `consumer` (none:
    /// any type).
    pub types: Vec<String>,
}

impl GroupFilter {
    /// Also lists groups in `state`.
    #[must_use]
    pub fn with_state(mut self, state: GroupState) -> Self {
        self.states.push(state);
        self
    }

    /// Also lists groups of type `group_type`.
    #[must_use]
    pub fn with_type(mut self, group_type: impl Into<String>) -> Self {
        self.types.push(group_type.into());
        self
    }
}

/// One group as ListGroups names it.
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupListing {
    /// The group id.
    pub group_id: String,
    /// Its protocol type: `consumer` for consumer groups, `connect`, or
    /// empty for a group that only stores offsets.
    pub protocol_type: String,
    /// Its state (ListGroups v4+).
    pub state: Option<GroupState>,
    /// Its type, `classic` or `consumer` (v5+).
    pub group_type: Option<String>,
    /// Its coordinator.
    pub coordinator: BrokerId,
}

/// The groups of every broker, and the brokers that could not be asked.
#[non_exhaustive]
#[derive(Debug, Clone, Default)]
pub struct ListGroupsResult {
    /// The groups, sorted by id.
    pub groups: Vec<GroupListing>,
    /// Each broker whose groups could not be listed, with why.
    pub errors: Vec<(BrokerId, Error)>,
}

/// A group, its members and their assignments.
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupDescription {
    /// Its state.
    pub state: GroupState,
    /// Its protocol type (`consumer` for consumer groups).
    pub protocol_type: String,
    /// The chosen protocol: for consumer groups, the assignor (`range`,
    /// `cooperative-sticky`, ...).
    pub protocol: String,
    /// Its members.
    pub members: Vec<MemberDescription>,
    /// Its coordinator.
    pub coordinator: BrokerId,
}

/// One member of a group.
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemberDescription {
    /// The member id the coordinator gave it.
    pub member_id: String,
    /// Its static instance id (`group.instance.id`), if it has one.
    pub group_instance_id: Option<String>,
    /// Its client id.
    pub client_id: String,
    /// The host it connects from.
    pub client_host: String,
    /// Its protocol metadata as sent in JoinGroup.
    pub metadata: Bytes,
    /// Its assignment as the leader sent it in SyncGroup.
    pub assignment_bytes: Bytes,
    /// The subscription decoded from `metadata`, for `consumer` groups.
    pub subscription: Option<Subscription>,
    /// The assignment decoded from `assignment_bytes`, for `consumer`
    /// groups.
    pub assignment: Option<Assignment>,
}

/// Each group's description.
pub type DescribeGroupsResult = Outcomes<String, GroupDescription>;
/// Whether each group was deleted.
pub type DeleteGroupsResult = Outcomes<String, ()>;

impl Admin {
    /// The groups of every broker (each lists those it coordinates),
    /// asked all at once, filtered by `filter`.
    ///
    /// ```no_run
    /// # use gregor_client::admin::{Admin, GroupFilter, GroupState};
    /// # async fn demo(admin: Admin) -> gregor_client::Result<()> {
    /// let stable = admin.list_groups(&GroupFilter::default().with_state(GroupState::Stable)).await?;
    /// for g in stable.groups {
    ///     println!("{} at broker {}", g.group_id, g.coordinator);
    /// }
    /// # Ok(())
    /// # }
    /// ```
    ///
    /// # Errors
    ///
    /// Only when the brokers cannot be learned; a broker that fails is
    /// listed in [`ListGroupsResult::errors`].
    pub async fn list_groups(&self, filter: &GroupFilter) -> Result<ListGroupsResult> {
        let deadline = self.deadline();
        let md = self
            .retry(deadline, || async { Ok(self.cluster.refresh().await?) })
            .await?;
        let ids: Vec<BrokerId> = md.brokers().map(|b| b.id).collect();
        let per_broker = ids.iter().map(|&id| {
            self.retry(deadline, move || async move {
                let conn = self.connection(id).await?;
                let v = version(&conn, ApiKey::ListGroups)?;
                let mut req = ListGroupsRequest::default();
                if !filter.states.is_empty() {
                    need_version(&conn, ApiKey::ListGroups, v, 4, "filtering by state")?;
                    req = req.with_states_filter(
                        filter.states.iter().map(|s| s.as_str().into()).collect(),
                    );
                }
                if !filter.types.is_empty() {
                    need_version(&conn, ApiKey::ListGroups, v, 5, "filtering by type")?;
                    req = req.with_types_filter(
                        filter.types.iter().map(|t| t.as_str().into()).collect(),
                    );
                }
                let resp = conn.send(&req).await.map_err(net)?;
                code_result(conn.broker(), ApiKey::ListGroups, resp.error_code, None)?;
                Ok(resp
                    .groups
                    .iter()
                    .map(|g| GroupListing {
                        group_id: g.group_id.to_string(),
                        protocol_type: g.protocol_type.to_string(),
                        state: (v >= 4).then(|| GroupState::from(g.group_state.as_str())),
                        group_type: (v >= 5).then(|| g.group_type.to_string()),
                        coordinator: id,
                    })
                    .collect::<Vec<_>>())
            })
        });
        let mut out = ListGroupsResult::default();
        for (id, result) in ids.iter().zip(join_all(per_broker).await) {
            match result {
                Ok(groups) => out.groups.extend(groups),
                Err(e) => out.errors.push((*id, e)),
            }
        }
        out.groups.sort_by(|a, b| a.group_id.cmp(&b.group_id));
        Ok(out)
    }

    /// Describes `groups`, one request per coordinator, decoding consumer
    /// groups' subscriptions and assignments. A group that does not exist
    /// is described as [`GroupState::Dead`] with no members.
    ///
    /// ```no_run
    /// # async fn demo(admin: gregor_client::admin::Admin) -> gregor_client::Result<()> {
    /// for (id, g) in admin.describe_groups(&["billing"]).await.into_result()? {
    ///     for m in &g.members {
    ///         let parts = m.assignment.as_ref().map(|a| a.partitions.len());
    ///         println!("{id}: {} from {} has {parts:?} partitions", m.client_id, m.client_host);
    ///     }
    /// }
    /// # Ok(())
    /// # }
    /// ```
    pub async fn describe_groups<S: AsRef<str>>(&self, groups: &[S]) -> DescribeGroupsResult {
        self.batched(
            ApiKey::DescribeGroups,
            groups.iter().map(|g| g.as_ref().to_owned()).collect(),
            |gs| self.coordinators_of(gs),
            |id, gs: Vec<String>| async move {
                let conn = self.connection(id).await?;
                version(&conn, ApiKey::DescribeGroups)?;
                let req = DescribeGroupsRequest::default()
                    .with_groups(gs.iter().map(|g| g.as_str().into()).collect());
                let resp = conn.send(&req).await.map_err(net)?;
                Ok(resp
                    .groups
                    .iter()
                    .map(|g| {
                        let result =
                            code_result(conn.broker(), ApiKey::DescribeGroups, g.error_code, None)
                                .map_err(Error::from)
                                .map(|()| group_description(g, id));
                        (g.group_id.to_string(), result)
                    })
                    .collect())
            },
            Error::is_retriable,
        )
        .await
    }

    /// Deletes `groups` (which must have no members), one request per
    /// coordinator.
    pub async fn delete_groups<S: AsRef<str>>(&self, groups: &[S]) -> DeleteGroupsResult {
        self.batched(
            ApiKey::DeleteGroups,
            groups.iter().map(|g| g.as_ref().to_owned()).collect(),
            |gs| self.coordinators_of(gs),
            |id, gs: Vec<String>| async move {
                let conn = self.connection(id).await?;
                version(&conn, ApiKey::DeleteGroups)?;
                let req = DeleteGroupsRequest::default()
                    .with_groups_names(gs.iter().map(|g| g.as_str().into()).collect());
                let resp = conn.send(&req).await.map_err(net)?;
                Ok(resp
                    .results
                    .iter()
                    .map(|g| {
                        let result =
                            code_result(conn.broker(), ApiKey::DeleteGroups, g.error_code, None)
                                .map_err(Error::from);
                        (g.group_id.to_string(), result)
                    })
                    .collect())
            },
            Error::is_retriable,
        )
        .await
    }

    /// The coordinator of each group.
    pub(crate) async fn coordinators_of(&self, groups: Vec<String>) -> Vec<Result<BrokerId>> {
        let keys: Vec<CoordinatorKey> = groups.into_iter().map(CoordinatorKey::Group).collect();
        self.cluster
            .coordinators(&keys)
            .await
            .into_iter()
            .map(|r| r.map_err(Error::from))
            .collect()
    }
}

fn group_description(g: &DescribedGroup, coordinator: BrokerId) -> GroupDescription {
    let consumer = g.protocol_type.as_str() == "consumer";
    GroupDescription {
        state: GroupState::from(g.group_state.as_str()),
        protocol_type: g.protocol_type.to_string(),
        protocol: g.protocol_data.to_string(),
        members: g
            .members
            .iter()
            .map(|m| MemberDescription {
                member_id: m.member_id.to_string(),
                group_instance_id: m.group_instance_id.as_ref().map(|i| i.to_string()),
                client_id: m.client_id.to_string(),
                client_host: m.client_host.to_string(),
                metadata: m.member_metadata.clone(),
                assignment_bytes: m.member_assignment.clone(),
                subscription: decodable(consumer, &m.member_metadata)
                    .and_then(|b| Subscription::decode(b).ok())
                    .map(|(s, _)| s),
                assignment: decodable(consumer, &m.member_assignment)
                    .and_then(|b| Assignment::decode(b).ok())
                    .map(|(a, _)| a),
            })
            .collect(),
        coordinator,
    }
}

/// Member bytes worth decoding as the consumer protocol: a consumer
/// group's, and not empty (brokers may leave them out).
fn decodable(consumer: bool, bytes: &Bytes) -> Option<Bytes> {
    (consumer && !bytes.is_empty()).then(|| bytes.clone())
}

#[cfg(test)]
mod tests {
    use gregor_protocol::messages::describe_groups_response::DescribedGroupMember;

    use super::*;
    use crate::admin::TopicPartition;

    fn member(metadata: Bytes, assignment: Bytes) -> DescribedGroupMember {
        DescribedGroupMember::default()
            .with_member_id("c1-1234")
            .with_client_id("c1")
            .with_client_host("/10.0.0.7")
            .with_member_metadata(metadata)
            .with_member_assignment(assignment)
    }

    #[test]
    fn consumer_members_have_their_subscription_and_assignment_decoded() {
        let sub = Subscription {
            topics: vec!["orders".into(), "payments".into()],
            ..Subscription::default()
        };
        let assignment = Assignment::new(vec![
            TopicPartition::new("orders", 1),
            TopicPartition::new("orders", 0),
        ]);
        let group = DescribedGroup::default()
            .with_group_id("billing")
            .with_group_state("Stable")
            .with_protocol_type("consumer")
            .with_protocol_data("range")
            .with_members(vec![member(
                sub.encode(3).unwrap(),
                assignment.encode(1).unwrap(),
            )]);
        let d = group_description(&group, BrokerId(3));
        assert_eq!(d.state, GroupState::Stable);
        assert_eq!(d.protocol, "range");
        assert_eq!(d.coordinator, BrokerId(3));
        let m = &d.members[0];
        assert_eq!(
            (m.client_id.as_str(), m.client_host.as_str()),
            ("c1", "/10.0.0.7")
        );
        assert_eq!(
            m.subscription.as_ref().unwrap().topics,
            ["orders", "payments"]
        );
        assert_eq!(
            m.assignment.as_ref().unwrap().partitions,
            [
                TopicPartition::new("orders", 0),
                TopicPartition::new("orders", 1)
            ]
        );
    }

    #[test]
    fn other_protocols_and_missing_bytes_are_not_decoded() {
        let connect = DescribedGroup::default()
            .with_group_state("Stable")
            .with_protocol_type("connect")
            .with_members(vec![member(Bytes::from_static(b"\0\0xyz"), Bytes::new())]);
        let d = group_description(&connect, BrokerId(1));
        assert!(d.members[0].subscription.is_none());
        assert_eq!(d.members[0].metadata.as_ref(), b"\0\0xyz");
        let empty = DescribedGroup::default()
            .with_group_state("Empty")
            .with_protocol_type("consumer")
            .with_members(vec![member(Bytes::new(), Bytes::new())]);
        let d = group_description(&empty, BrokerId(1));
        assert!(d.members[0].subscription.is_none() && d.members[0].assignment.is_none());
        assert_eq!(GroupState::from("Weird"), GroupState::Other("Weird".into()));
    }
}
