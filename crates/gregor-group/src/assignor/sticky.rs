//! The `sticky` assignor and the balancing algorithm it shares with
//! `cooperative-sticky`.

use std::collections::{BTreeMap, BTreeSet, VecDeque};

use bytes::Bytes;
use gregor_protocol::{Reader, Writer};

use super::{
    Assignor, GroupAssignment, MemberSubscription, UserDataContext, all_subscribed_partitions,
    rack_aware_applies, rack_matches,
};
use crate::error::{Error, Result};
use crate::subscription::group_by_topic;
use crate::types::{TopicPartition, TopicPartitions};

/// Java's `StickyAssignor`, protocol name `sticky` (eager).
///
/// Balanced first, then sticky: partition counts differ by at most one
/// when every member subscribes to the same topics (and are balanced as
/// far as the subscriptions allow otherwise), and as many partitions as
/// possible stay with the member that had them. Because eager members give
/// up their partitions before rejoining, each member reports its previous
/// assignment and generation in its subscription user data, in the same
/// format as Java and librdkafka ([`StickyUserData`]).
///
/// Rack awareness (KIP-881), kept simple: stickiness and balance come
/// first; among the members that may take a partition, one on a rack
/// holding a replica is preferred, and a member with more partitions than
/// its share keeps the ones on its rack.
#[derive(Debug, Clone, Copy, Default)]
pub struct StickyAssignor;

impl StickyAssignor {
    /// The assignor.
    pub fn new() -> Self {
        Self
    }
}

impl Assignor for StickyAssignor {
    fn name(&self) -> &str {
        "sticky"
    }

    fn user_data(&self, ctx: &UserDataContext<'_>) -> Option<Bytes> {
        StickyUserData {
            previous_assignment: ctx.last_assignment.to_vec(),
            generation: (ctx.generation >= 0).then_some(ctx.generation),
        }
        .encode()
        .ok()
    }

    fn assign(
        &self,
        members: &[MemberSubscription],
        metadata: &TopicPartitions,
    ) -> Result<GroupAssignment> {
        let claims: Vec<Claim> = members
            .iter()
            .map(|m| {
                match m
                    .user_data
                    .clone()
                    .and_then(|b| StickyUserData::decode(b).ok())
                {
                    Some(ud) => Claim {
                        owned: ud.previous_assignment,
                        generation: ud.generation,
                    },
                    None => Claim {
                        owned: m.owned_partitions.clone(),
                        generation: m.generation,
                    },
                }
            })
            .collect();
        sticky_assign(self.name(), members, &claims, metadata)
    }
}

/// The `sticky` assignor's user data: the member's previous assignment and
/// its generation (Java's `StickyAssignor` schema, version 1; version 0
/// lacks the generation and is still read).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct StickyUserData {
    /// The member's assignment in its last generation.
    pub previous_assignment: Vec<TopicPartition>,
    /// That generation, if known.
    pub generation: Option<i32>,
}

impl StickyUserData {
    /// Encodes as version 1 (version 0 if the generation is unknown).
    ///
    /// # Errors
    ///
    /// [`Error::Protocol`] for a topic name too long for a Kafka string.
    pub fn encode(&self) -> Result<Bytes> {
        let by_topic = group_by_topic(&self.previous_assignment);
        let mut w = Writer::new();
        w.array_len(Some(by_topic.len()), "previous_assignment")?;
        for (topic, partitions) in &by_topic {
            w.string(topic, "previous_assignment.topic")?;
            w.array_len(Some(partitions.len()), "previous_assignment.partitions")?;
            for p in partitions {
                w.i32(*p);
            }
        }
        if let Some(g) = self.generation {
            w.i32(g);
        }
        Ok(w.freeze())
    }

    /// Decodes version 1 or, failing that, version 0.
    ///
    /// # Errors
    ///
    /// [`Error::Protocol`] if the bytes fit neither version.
    pub fn decode(bytes: Bytes) -> Result<Self> {
        let mut r = Reader::new(bytes);
        let n = r.array_len(6, "previous_assignment")?.unwrap_or(0);
        let mut previous_assignment = Vec::new();
        for _ in 0..n {
            let topic = r.string("previous_assignment.topic")?;
            let m = r
                .array_len(4, "previous_assignment.partitions")?
                .unwrap_or(0);
            for _ in 0..m {
                let p = r.i32("previous_assignment.partitions")?;
                previous_assignment.push(TopicPartition::new(topic.as_str(), p));
            }
        }
        let generation = if r.remaining() >= 4 {
            Some(r.i32("generation")?)
        } else {
            None
        };
        Ok(Self {
            previous_assignment,
            generation,
        })
    }
}

/// What one member claims to own.
#[derive(Debug, Clone, Default)]
pub(crate) struct Claim {
    pub(crate) owned: Vec<TopicPartition>,
    pub(crate) generation: Option<i32>,
}

/// The sticky algorithm.
///
/// 1. Valid ownership: only claims from the highest generation among the
///    members count (older claims are stale); a partition claimed twice in
///    that generation goes to neither; claims on partitions that no longer
///    exist or topics the member dropped are void.
/// 2. Identical subscriptions: each member keeps up to its quota (the
///    partition count divided by the member count, plus one for as many
///    members as the remainder); the rest go round robin to members below
///    their quota.
/// 3. Different subscriptions: members keep what they own; the rest go,
///    most constrained first, to the eligible member with the fewest; then
///    partitions move along chains of eligible members while that brings a
///    member with at least two more partitions than another closer to it.
pub(crate) fn sticky_assign(
    name: &str,
    members: &[MemberSubscription],
    claims: &[Claim],
    metadata: &TopicPartitions,
) -> Result<GroupAssignment> {
    let all = all_subscribed_partitions(members, metadata);
    let mut state = State::new(members, metadata, &all);
    state.keep_valid_claims(members, claims, metadata);

    let homogeneous = members
        .split_first()
        .is_some_and(|(first, rest)| rest.iter().all(|m| m.topics == first.topics));
    if homogeneous {
        state.assign_by_quota(&all, metadata)?;
    } else {
        state.assign_greedy(&all, metadata);
        state.balance();
    }
    state.into_assignment(name)
}

/// Working state: members in member-id order, indexed.
struct State<'a> {
    members: Vec<&'a MemberSubscription>,
    assigned: Vec<BTreeSet<TopicPartition>>,
    /// What each member validly owned on the way in: balancing moves other
    /// partitions first, so a cooperative rebalance has less to revoke.
    owned: Vec<BTreeSet<TopicPartition>>,
    rack_aware: bool,
}

impl<'a> State<'a> {
    fn new(
        members: &'a [MemberSubscription],
        metadata: &TopicPartitions,
        all: &[TopicPartition],
    ) -> Self {
        let mut sorted: Vec<&MemberSubscription> = members.iter().collect();
        sorted.sort_by(|a, b| a.member_id.cmp(&b.member_id));
        let rack_aware = rack_aware_applies(sorted.iter().copied(), all, metadata);
        Self {
            assigned: vec![BTreeSet::new(); sorted.len()],
            owned: vec![BTreeSet::new(); sorted.len()],
            members: sorted,
            rack_aware,
        }
    }

    fn rack(&self, i: usize) -> Option<&str> {
        self.members.get(i).and_then(|m| m.rack.as_deref())
    }

    fn count(&self, i: usize) -> usize {
        self.assigned.get(i).map_or(0, BTreeSet::len)
    }

    fn eligible(&self, i: usize, tp: &TopicPartition) -> bool {
        self.members
            .get(i)
            .is_some_and(|m| m.topics.contains(&tp.topic))
    }

    fn give(&mut self, i: usize, tp: TopicPartition) {
        if let Some(set) = self.assigned.get_mut(i) {
            set.insert(tp);
        }
    }

    fn keep_valid_claims(
        &mut self,
        members: &[MemberSubscription],
        claims: &[Claim],
        metadata: &TopicPartitions,
    ) {
        let index: BTreeMap<&str, usize> = self
            .members
            .iter()
            .enumerate()
            .map(|(i, m)| (m.member_id.as_str(), i))
            .collect();
        let max_gen = claims
            .iter()
            .filter(|c| !c.owned.is_empty())
            .map(|c| c.generation.unwrap_or(-1))
            .max()
            .unwrap_or(-1);
        let mut claimants: BTreeMap<TopicPartition, Vec<usize>> = BTreeMap::new();
        for (m, c) in members.iter().zip(claims) {
            if c.generation.unwrap_or(-1) != max_gen {
                continue;
            }
            let Some(&i) = index.get(m.member_id.as_str()) else {
                continue;
            };
            for tp in &c.owned {
                if metadata.contains(tp) && m.topics.contains(&tp.topic) {
                    let v = claimants.entry(tp.clone()).or_default();
                    if !v.contains(&i) {
                        v.push(i);
                    }
                }
            }
        }
        for (tp, who) in claimants {
            if let [i] = who.as_slice() {
                self.give(*i, tp);
            }
        }
        self.owned.clone_from(&self.assigned);
    }

    /// Identical subscriptions: quotas, then round robin.
    fn assign_by_quota(
        &mut self,
        all: &[TopicPartition],
        metadata: &TopicPartitions,
    ) -> Result<()> {
        let n = self.members.len();
        if n == 0 {
            return Ok(());
        }
        let min = all.len() / n;
        let expected_over = all.len() % n;
        let mut over = 0usize;
        for i in 0..n {
            let owned = self.count(i);
            let keep = if owned <= min {
                continue;
            } else if owned > min && over < expected_over {
                over += 1;
                min + 1
            } else {
                min
            };
            self.trim(i, keep, metadata);
        }

        let taken: BTreeSet<TopicPartition> = self.assigned.iter().flatten().cloned().collect();
        let mut rr = 0usize;
        for tp in all.iter().filter(|tp| !taken.contains(*tp)) {
            let below_min = (0..n).any(|i| self.count(i) < min);
            let is_candidate = |s: &Self, i: usize| {
                if below_min {
                    s.count(i) < min
                } else {
                    s.count(i) == min && over < expected_over
                }
            };
            let order: Vec<usize> = (0..n).map(|k| (rr + k) % n).collect();
            let pick = order
                .iter()
                .copied()
                .find(|&i| {
                    is_candidate(self, i)
                        && self.rack_aware
                        && rack_matches(self.rack(i), tp, metadata)
                })
                .or_else(|| order.iter().copied().find(|&i| is_candidate(self, i)));
            let Some(i) = pick else {
                return Err(Error::assignor(
                    "sticky",
                    format!("no member can take {tp}"),
                ));
            };
            if !below_min {
                over += 1;
            }
            self.give(i, tp.clone());
            rr = (i + 1) % n;
        }
        Ok(())
    }

    /// Keeps `keep` of member `i`'s partitions: on-rack ones first, then in
    /// partition order.
    fn trim(&mut self, i: usize, keep: usize, metadata: &TopicPartitions) {
        let rack = self.rack(i).map(str::to_owned);
        let rack_aware = self.rack_aware;
        if let Some(set) = self.assigned.get_mut(i) {
            let mut v: Vec<TopicPartition> = std::mem::take(set).into_iter().collect();
            if rack_aware {
                v.sort_by_key(|tp| !rack_matches(rack.as_deref(), tp, metadata));
            }
            v.truncate(keep);
            *set = v.into_iter().collect();
        }
    }

    /// Different subscriptions: most constrained partitions first, each to
    /// the eligible member with the fewest.
    fn assign_greedy(&mut self, all: &[TopicPartition], metadata: &TopicPartitions) {
        let n = self.members.len();
        let taken: BTreeSet<TopicPartition> = self.assigned.iter().flatten().cloned().collect();
        let mut todo: Vec<(usize, &TopicPartition)> = all
            .iter()
            .filter(|tp| !taken.contains(*tp))
            .map(|tp| ((0..n).filter(|&i| self.eligible(i, tp)).count(), tp))
            .filter(|(k, _)| *k > 0)
            .collect();
        todo.sort();
        for (_, tp) in todo {
            let pick = (0..n).filter(|&i| self.eligible(i, tp)).min_by_key(|&i| {
                let on_rack = self.rack_aware && rack_matches(self.rack(i), tp, metadata);
                (self.count(i), !on_rack, i)
            });
            if let Some(i) = pick {
                self.give(i, tp.clone());
            }
        }
    }

    /// Moves partitions along chains of eligible members while a member has
    /// at least two more than one it can reach. Each move lowers the sum of
    /// squared counts, so this ends.
    fn balance(&mut self) {
        let n = self.members.len();
        loop {
            let mut sources: Vec<usize> = (0..n).collect();
            sources.sort_by_key(|&i| (std::cmp::Reverse(self.count(i)), i));
            let path = sources.into_iter().find_map(|s| self.improving_path(s));
            match path {
                Some(moves) => {
                    for (from, to, tp) in moves {
                        if let Some(set) = self.assigned.get_mut(from) {
                            set.remove(&tp);
                        }
                        self.give(to, tp);
                    }
                }
                None => break,
            }
        }
    }

    /// A shortest chain of moves from `s` to a member with at least two
    /// fewer partitions, as (from, to, partition) steps.
    fn improving_path(&self, s: usize) -> Option<Vec<(usize, usize, TopicPartition)>> {
        let n = self.members.len();
        let mut parent: Vec<Option<(usize, TopicPartition)>> = vec![None; n];
        let mut seen = vec![false; n];
        if let Some(x) = seen.get_mut(s) {
            *x = true;
        }
        let mut queue = VecDeque::from([s]);
        let mut best: Option<usize> = None;
        while let Some(u) = queue.pop_front() {
            if u != s && self.count(u) + 1 < self.count(s) {
                if best.is_none_or(|b| self.count(u) < self.count(b)) {
                    best = Some(u);
                }
                continue;
            }
            let owned = self.owned.get(u);
            let mut movable: Vec<&TopicPartition> =
                self.assigned.get(u).into_iter().flatten().collect();
            movable.sort_by_key(|tp| owned.is_some_and(|o| o.contains(*tp)));
            for tp in movable {
                for v in 0..n {
                    if seen.get(v).copied().unwrap_or(true) || !self.eligible(v, tp) {
                        continue;
                    }
                    if let Some(x) = seen.get_mut(v) {
                        *x = true;
                    }
                    if let Some(p) = parent.get_mut(v) {
                        *p = Some((u, tp.clone()));
                    }
                    queue.push_back(v);
                }
            }
        }
        let mut at = best?;
        let mut moves = Vec::new();
        while at != s {
            let (from, tp) = parent.get(at).cloned().flatten()?;
            moves.push((from, at, tp));
            at = from;
        }
        moves.reverse();
        Some(moves)
    }

    fn into_assignment(self, name: &str) -> Result<GroupAssignment> {
        let mut out = GroupAssignment::default();
        for (m, set) in self.members.iter().zip(self.assigned) {
            let a = out.members.entry(m.member_id.clone()).or_default();
            a.partitions = set.into_iter().collect();
        }
        if out.members.len() != self.members.len() {
            return Err(Error::assignor(name, "duplicate member ids"));
        }
        Ok(out)
    }
}
