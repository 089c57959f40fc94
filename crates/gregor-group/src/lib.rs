//! # gregor-group
//!
//! Consumer-group coordination as a deterministic sans-io state machine,
//! in the style of `quinn-proto`: [`GroupMember`] takes broker responses
//! and the current time as inputs and emits the requests to send, the next
//! deadline, and assignment events. It does no I/O, reads no clock and
//! pulls in no async runtime, so it is tested by stepping a simulated
//! clock. The crate also holds the partition [`assignor`]s and the standard
//! consumer protocol encodings ([`Subscription`], [`Assignment`]), so a
//! Gregor member can share a group with Java and librdkafka members.
//!
//! ## Driving a member
//!
//! The owner of a [`GroupMember`] (the async consumer in `gregor-client`,
//! or a test) loops over four calls, described on [`Membership`]:
//! inputs (`handle_response`, `handle_timeout`, `subscribe`, `commit`,
//! `ack_revoked`, `leave`), [`GroupMember::poll_transmit`],
//! [`GroupMember::poll_event`] and [`GroupMember::poll_timeout`].
//!
//! Here one member joins a group whose coordinator is scripted inline:
//!
//! ```
//! use std::time::Instant;
//!
//! use gregor_group::{Event, GroupConfig, GroupMember, Request, Response, TopicPartition,
//!     TopicPartitions};
//! use gregor_protocol::messages::find_coordinator_response::Coordinator;
//! use gregor_protocol::messages::join_group_response::JoinGroupResponseMember;
//! use gregor_protocol::messages::{FindCoordinatorResponse, JoinGroupResponse,
//!     OffsetFetchResponse, SyncGroupResponse};
//!
//! let config = GroupConfig::builder("orders-app").build()?;
//! let mut member = GroupMember::new(config);
//! let now = Instant::now();
//! member.update_metadata(now, TopicPartitions::new().with_topic("orders", 2));
//! member.subscribe(now, ["orders"]);
//!
//! // The scripted coordinator answers every request at once.
//! while let Some(out) = member.poll_transmit(now) {
//!     let response = match &out.request {
//!         Request::FindCoordinator(_) => Response::FindCoordinator(
//!             FindCoordinatorResponse::default().with_coordinators(vec![Coordinator::default()
//!                 .with_key("orders-app")
//!                 .with_node_id(1)
//!                 .with_host("localhost")
//!                 .with_port(9092)]),
//!         ),
//!         // The only member leads: it gets its own subscription back and
//!         // runs the assignor.
//!         Request::JoinGroup(join) => {
//!             let chosen = &join.protocols[0];
//!             Response::JoinGroup(
//!                 JoinGroupResponse::default()
//!                     .with_generation_id(1)
//!                     .with_protocol_type(Some("consumer".into()))
//!                     .with_protocol_name(Some(chosen.name.clone()))
//!                     .with_leader("member-1")
//!                     .with_member_id("member-1")
//!                     .with_members(vec![JoinGroupResponseMember::default()
//!                         .with_member_id("member-1")
//!                         .with_metadata(chosen.metadata.clone())]),
//!             )
//!         }
//!         // The coordinator hands each member what the leader sent for it.
//!         Request::SyncGroup(sync) => Response::SyncGroup(
//!             SyncGroupResponse::default().with_assignment(sync.assignments[0].assignment.clone()),
//!         ),
//!         // Nothing committed yet.
//!         Request::OffsetFetch(_) => Response::OffsetFetch(OffsetFetchResponse::default()),
//!         other => unreachable!("not sent in this example: {other:?}"),
//!     };
//!     member.handle_response(now, out.id, response);
//! }
//!
//! let mut assigned = Vec::new();
//! while let Some(event) = member.poll_event() {
//!     if let Event::Assigned { partitions, generation } = event {
//!         assert_eq!(generation, 1);
//!         assigned.extend(partitions);
//!     }
//! }
//! assert_eq!(assigned, [TopicPartition::new("orders", 0), TopicPartition::new("orders", 1)]);
//! // Next: a heartbeat, when the heartbeat interval has passed.
//! assert_eq!(member.poll_timeout(), Some(now + member.config().heartbeat_interval()));
//! # Ok::<(), gregor_group::Error>(())
//! ```
//!
//! ## What the machine does
//!
//! - **Coordinator**: FindCoordinator to any broker; on NOT_COORDINATOR,
//!   COORDINATOR_NOT_AVAILABLE, a disconnect or a timeout it looks again
//!   and keeps its partitions while the session lasts.
//! - **Join**: JoinGroup (rejoining with the member id a MEMBER_ID_REQUIRED
//!   response hands out, KIP-394); the leader runs the assignor over every
//!   member's subscription and sends the assignment in SyncGroup;
//!   followers send an empty one.
//! - **Rebalance**: on REBALANCE_IN_PROGRESS (heartbeat or commit), a
//!   subscription change, or (leader) a partition count change, eager
//!   members revoke everything and rejoin; cooperative members (KIP-429)
//!   keep their partitions, revoke only those that move, and rejoin so the
//!   moved partitions are assigned in a second rebalance. A revocation
//!   waits for [`GroupMember::ack_revoked`], so the owner can commit first.
//! - **Fencing**: UNKNOWN_MEMBER_ID and ILLEGAL_GENERATION reset the
//!   generation (and the member id, except for ILLEGAL_GENERATION), report
//!   the partitions [`Event::Lost`] and rejoin; a session timeout without
//!   a successful heartbeat does the same; FENCED_INSTANCE_ID is fatal,
//!   since rejoining would fence the other instance in turn.
//! - **Static membership** (KIP-345): the `group.instance.id` is sent in
//!   JoinGroup, SyncGroup, Heartbeat and OffsetCommit, and a static member
//!   never sends LeaveGroup.
//! - **Offsets**: OffsetFetch for newly assigned partitions; OffsetCommit
//!   with generation and member id; never for partitions not owned.
//!
//! `max.poll.interval.ms` is the driver's job (see [`Membership`]).

#![cfg_attr(
    not(test),
    deny(
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::panic,
        clippy::indexing_slicing
    )
)]

pub mod assignor;
mod config;
mod error;
mod events;
mod member;
mod membership;
mod offsets;
mod request;
mod subscription;
mod timers;
mod types;

pub use assignor::{
    Assignor, CooperativeStickyAssignor, GroupAssignment, MemberSubscription, RangeAssignor,
    RebalanceProtocol, RoundRobinAssignor, StickyAssignor,
};
pub use config::{GroupConfig, GroupConfigBuilder};
pub use error::{Error, Result};
pub use events::Event;
pub use member::GroupMember;
pub use membership::{MemberState, Membership};
pub use offsets::OffsetAndMetadata;
pub use request::{CoordinatorNode, Destination, Failure, Outgoing, Request, RequestId, Response};
pub use subscription::{Assignment, CONSUMER_PROTOCOL_VERSION, Subscription};
pub use types::{Generation, PartitionInfo, TopicPartition, TopicPartitions};
