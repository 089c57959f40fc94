//! Test harness: group members driven against the fake coordinator on a
//! simulated clock, with an ownership checker over their event streams.

// Each test binary uses a different subset of these helpers.
#![allow(dead_code)]

pub(crate) mod coordinator;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use gregor_group::{
    Assignor, Event, GroupConfig, GroupConfigBuilder, GroupMember, MemberState, Outgoing, Request,
    TopicPartition, TopicPartitions,
};

pub(crate) use coordinator::FakeCoordinator;

pub(crate) const GROUP: &str = "test-group";

/// A member config with short timeouts: session 10 s, heartbeat 3 s,
/// rebalance 30 s.
pub(crate) fn config() -> GroupConfigBuilder {
    GroupConfig::builder(GROUP)
        .session_timeout(Duration::from_secs(10))
        .heartbeat_interval(Duration::from_secs(3))
        .rebalance_timeout(Duration::from_secs(30))
        .request_timeout(Duration::from_secs(5))
        .retry_backoff(Duration::from_millis(100), Duration::from_secs(1))
}

pub(crate) fn with_assignor(a: impl Assignor + 'static) -> GroupConfigBuilder {
    config().assignors(vec![Arc::new(a)])
}

pub(crate) fn tp(topic: &str, partition: i32) -> TopicPartition {
    TopicPartition::new(topic, partition)
}

pub(crate) fn tps(list: &[(&str, i32)]) -> BTreeSet<TopicPartition> {
    list.iter().map(|(t, p)| tp(t, *p)).collect()
}

/// One member and what the harness saw from it.
#[derive(Debug)]
pub(crate) struct Client {
    pub(crate) member: GroupMember,
    pub(crate) events: Vec<Event>,
    /// Acknowledge revocations as soon as they are seen.
    pub(crate) auto_ack: bool,
    /// Not polled at all (a paused process).
    pub(crate) frozen: bool,
    /// Requests vanish without an answer (a network partition).
    pub(crate) blackholed: bool,
    /// Requests sent, for assertions.
    pub(crate) sent: Vec<Outgoing>,
}

/// Members, the fake coordinator and the clock.
#[derive(Debug)]
pub(crate) struct Harness {
    pub(crate) now: Instant,
    pub(crate) coordinator: FakeCoordinator,
    pub(crate) clients: Vec<Option<Client>>,
    pub(crate) metadata: TopicPartitions,
    /// Partition to owning client, from the event streams.
    pub(crate) owners: BTreeMap<TopicPartition, usize>,
    /// Fail on any partition owned by two members at once.
    pub(crate) strict: bool,
}

impl Harness {
    pub(crate) fn new(metadata: TopicPartitions) -> Self {
        Self {
            now: Instant::now(),
            coordinator: FakeCoordinator::new(GROUP),
            clients: Vec::new(),
            metadata,
            owners: BTreeMap::new(),
            strict: true,
        }
    }

    /// Adds a member subscribed to `topics`; returns its index.
    pub(crate) fn add(&mut self, config: GroupConfig, topics: &[&str]) -> usize {
        let mut member = GroupMember::new(config);
        member.update_metadata(self.now, self.metadata.clone());
        member.subscribe(self.now, topics.iter().copied());
        self.clients.push(Some(Client {
            member,
            events: Vec::new(),
            auto_ack: true,
            frozen: false,
            blackholed: false,
            sent: Vec::new(),
        }));
        self.clients.len() - 1
    }

    pub(crate) fn client(&self, i: usize) -> &Client {
        self.clients[i].as_ref().expect("client exists")
    }

    pub(crate) fn client_mut(&mut self, i: usize) -> &mut Client {
        self.clients[i].as_mut().expect("client exists")
    }

    pub(crate) fn member(&self, i: usize) -> &GroupMember {
        &self.client(i).member
    }

    pub(crate) fn member_mut(&mut self, i: usize) -> &mut GroupMember {
        &mut self.client_mut(i).member
    }

    /// Drops a member without letting it leave (a crash).
    pub(crate) fn crash(&mut self, i: usize) {
        if let Some(c) = self.clients[i].take() {
            for p in c.member.assignment() {
                self.owners.remove(p);
            }
        }
    }

    /// Runs until nothing is left to send or deliver at the current time.
    pub(crate) fn settle(&mut self) {
        for _ in 0..10_000 {
            let mut progress = false;
            for i in 0..self.clients.len() {
                let now = self.now;
                let Some(c) = self.clients[i].as_mut() else {
                    continue;
                };
                if c.frozen {
                    continue;
                }
                while let Some(out) = c.member.poll_transmit(now) {
                    progress = true;
                    c.sent.push(out.clone());
                    if !c.blackholed {
                        self.coordinator.handle(now, i, out.id, out.request);
                    }
                }
            }
            for d in self.coordinator.take_outbox() {
                progress = true;
                let now = self.now;
                if let Some(c) = self.clients[d.client].as_mut()
                    && !c.frozen
                    && !c.blackholed
                {
                    c.member.handle_response(now, d.id, d.response);
                }
            }
            progress |= self.drain_events();
            if !progress {
                return;
            }
        }
        panic!("no quiescence after 10000 rounds");
    }

    /// Collects every member's events, applies them to the ownership
    /// checker, acknowledges revocations and answers metadata requests.
    fn drain_events(&mut self) -> bool {
        let mut any = false;
        for i in 0..self.clients.len() {
            let now = self.now;
            let metadata = self.metadata.clone();
            let Some(c) = self.clients[i].as_mut() else {
                continue;
            };
            if c.frozen {
                continue;
            }
            while let Some(e) = c.member.poll_event() {
                any = true;
                match &e {
                    Event::Assigned { partitions, .. } => {
                        for p in partitions {
                            if let Some(other) = self.owners.insert(p.clone(), i)
                                && self.strict
                                && other != i
                            {
                                panic!("{p} assigned to member {i} while member {other} owns it");
                            }
                        }
                    }
                    Event::Revoked { partitions } | Event::Lost { partitions } => {
                        for p in partitions {
                            if self.owners.get(p) == Some(&i) {
                                self.owners.remove(p);
                            }
                        }
                    }
                    _ => {}
                }
                let revoked = matches!(e, Event::Revoked { .. });
                let metadata_needed = matches!(e, Event::MetadataNeeded { .. });
                c.events.push(e);
                if revoked && c.auto_ack {
                    c.member.ack_revoked(now);
                }
                if metadata_needed {
                    c.member.update_metadata(now, metadata.clone());
                }
            }
        }
        any
    }

    /// The earliest deadline of any live member or the coordinator.
    fn next_deadline(&self) -> Option<Instant> {
        let members = self
            .clients
            .iter()
            .flatten()
            .filter(|c| !c.frozen)
            .filter_map(|c| c.member.poll_timeout());
        members.chain(self.coordinator.next_deadline()).min()
    }

    /// Steps the clock deadline by deadline for `d`, settling after each.
    pub(crate) fn run_for(&mut self, d: Duration) {
        let end = self.now + d;
        self.settle();
        let mut stuck = 0;
        loop {
            let before = self.now;
            let next = self.next_deadline().filter(|t| *t <= end).unwrap_or(end);
            self.now = self.now.max(next);
            let now = self.now;
            for c in self.clients.iter_mut().flatten() {
                if !c.frozen {
                    c.member.handle_timeout(now);
                }
            }
            self.coordinator.tick(now);
            self.settle();
            if self.now >= end {
                return;
            }
            stuck = if self.now == before { stuck + 1 } else { 0 };
            assert!(stuck < 1000, "a deadline at {:?} never clears", self.now);
        }
    }

    /// Runs until every live member (idle ones aside) is stable with no
    /// rejoin pending and
    /// the coordinator is stable, or panics after `limit`.
    pub(crate) fn run_until_stable(&mut self, limit: Duration) {
        let end = self.now + limit;
        while self.now < end {
            self.run_for(Duration::from_millis(500));
            let members_stable = self
                .clients
                .iter()
                .flatten()
                .filter(|c| !c.frozen && c.member.state() != MemberState::Idle)
                .all(|c| c.member.state() == MemberState::Stable);
            if members_stable && self.coordinator.state == coordinator::GroupState::Stable {
                return;
            }
        }
        panic!(
            "group not stable after {limit:?}: coordinator {:?}, members {:?}",
            self.coordinator.state,
            self.clients
                .iter()
                .flatten()
                .map(|c| c.member.state())
                .collect::<Vec<_>>()
        );
    }

    /// Every partition of the harness metadata for these topics.
    pub(crate) fn partitions_of(&self, topics: &[&str]) -> BTreeSet<TopicPartition> {
        topics
            .iter()
            .flat_map(|t| {
                (0..self.metadata.partition_count(t).unwrap_or(0) as i32).map(|p| tp(t, p))
            })
            .collect()
    }

    /// Asserts the live members' assignments partition `expected` exactly.
    pub(crate) fn assert_covers(&self, expected: &BTreeSet<TopicPartition>) {
        let mut seen = BTreeSet::new();
        for c in self.clients.iter().flatten() {
            for p in c.member.assignment() {
                assert!(seen.insert(p.clone()), "{p} owned twice");
            }
        }
        assert_eq!(&seen, expected);
    }

    /// Events of a member since the last call, cleared.
    pub(crate) fn take_events(&mut self, i: usize) -> Vec<Event> {
        std::mem::take(&mut self.client_mut(i).events)
    }

    /// Requests of a member since the last call, cleared.
    pub(crate) fn take_sent(&mut self, i: usize) -> Vec<Request> {
        std::mem::take(&mut self.client_mut(i).sent)
            .into_iter()
            .map(|o| o.request)
            .collect()
    }
}

/// The partitions in `Lost` events.
pub(crate) fn lost(events: &[Event]) -> BTreeSet<TopicPartition> {
    events
        .iter()
        .filter_map(|e| match e {
            Event::Lost { partitions } => Some(partitions.clone()),
            _ => None,
        })
        .flatten()
        .collect()
}

/// The partitions in `Revoked` events.
pub(crate) fn revoked(events: &[Event]) -> BTreeSet<TopicPartition> {
    events
        .iter()
        .filter_map(|e| match e {
            Event::Revoked { partitions } => Some(partitions.clone()),
            _ => None,
        })
        .flatten()
        .collect()
}

/// The partitions in `Assigned` events.
pub(crate) fn assigned(events: &[Event]) -> BTreeSet<TopicPartition> {
    events
        .iter()
        .filter_map(|e| match e {
            Event::Assigned { partitions, .. } => Some(partitions.clone()),
            _ => None,
        })
        .flatten()
        .collect()
}

/// How many requests of an API a list holds.
pub(crate) fn count(requests: &[Request], api: gregor_protocol::ApiKey) -> usize {
    requests.iter().filter(|r| r.api_key() == api).count()
}
