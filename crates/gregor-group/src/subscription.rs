//! The consumer protocol bytes: what a member puts in JoinGroup (its
//! subscription) and what the leader puts in SyncGroup (each member's
//! assignment).
//!
//! Both are the standard encodings Java, librdkafka and every other client
//! use: a big-endian `i16` version followed by the `ConsumerProtocolSubscription`
//! or `ConsumerProtocolAssignment` schema at that version (0-3). A newer
//! version is read with the newest schema this crate knows and the bytes it
//! does not know are ignored, as Kafka's forward-compatibility rule requires.

use std::collections::BTreeMap;

use bytes::Bytes;
use gregor_protocol::messages::consumer_protocol_assignment as wire_assignment;
use gregor_protocol::messages::consumer_protocol_subscription as wire_subscription;
use gregor_protocol::messages::{ConsumerProtocolAssignment, ConsumerProtocolSubscription};
use gregor_protocol::{Message, Reader, StrBytes, Writer};

use crate::error::Result;
use crate::types::TopicPartition;

/// The newest consumer protocol version this crate writes and fully reads.
pub const CONSUMER_PROTOCOL_VERSION: i16 = 3;

/// A member's subscription as carried in its JoinGroup protocol metadata.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Subscription {
    /// The topics the member wants.
    pub topics: Vec<String>,
    /// Assignor-specific bytes (the sticky assignors keep state here).
    pub user_data: Option<Bytes>,
    /// Partitions the member owns now (version 1+; cooperative rebalancing).
    pub owned_partitions: Vec<TopicPartition>,
    /// The generation in which the member got `owned_partitions` (version
    /// 2+); `None` when unknown.
    pub generation: Option<i32>,
    /// The member's rack, `client.rack` (version 3+, KIP-881).
    pub rack: Option<String>,
}

impl Subscription {
    /// Encodes as `version` (0-3): the `i16` version, then the schema.
    /// Fields the version lacks are left out.
    ///
    /// # Errors
    ///
    /// [`Error::Protocol`](crate::Error::Protocol) for a version outside 0-3.
    pub fn encode(&self, version: i16) -> Result<Bytes> {
        let mut msg = ConsumerProtocolSubscription::default()
            .with_topics(
                self.topics
                    .iter()
                    .map(|t| StrBytes::from(t.as_str()))
                    .collect(),
            )
            .with_user_data(self.user_data.clone());
        if version >= 1 {
            msg = msg.with_owned_partitions(
                group_by_topic(&self.owned_partitions)
                    .into_iter()
                    .map(|(topic, partitions)| {
                        wire_subscription::TopicPartition::default()
                            .with_topic(topic)
                            .with_partitions(partitions)
                    })
                    .collect(),
            );
        }
        if version >= 2 {
            msg = msg.with_generation_id(self.generation.unwrap_or(-1));
        }
        if version >= 3 {
            msg = msg.with_rack_id(self.rack.as_deref().map(StrBytes::from));
        }
        let body = msg.encode_to_bytes(version)?;
        Ok(prefix_version(version, &body))
    }

    /// Decodes subscription bytes, returning the subscription and the
    /// version it was written at.
    ///
    /// # Errors
    ///
    /// [`Error::Protocol`](crate::Error::Protocol) for truncated or
    /// malformed bytes or a negative version.
    pub fn decode(bytes: Bytes) -> Result<(Self, i16)> {
        let (version, msg): (i16, ConsumerProtocolSubscription) = decode_versioned(bytes)?;
        let owned_partitions = msg
            .owned_partitions
            .iter()
            .flat_map(|tp| {
                tp.partitions
                    .iter()
                    .map(|&p| TopicPartition::new(tp.topic.as_str(), p))
            })
            .collect();
        let sub = Subscription {
            topics: msg.topics.iter().map(|t| t.as_str().to_owned()).collect(),
            user_data: msg.user_data,
            owned_partitions,
            generation: (msg.generation_id >= 0).then_some(msg.generation_id),
            rack: msg.rack_id.map(|r| r.as_str().to_owned()),
        };
        Ok((sub, version))
    }
}

/// One member's assignment as carried in SyncGroup.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Assignment {
    /// The partitions assigned to the member, sorted.
    pub partitions: Vec<TopicPartition>,
    /// Assignor-specific bytes.
    pub user_data: Option<Bytes>,
}

impl Assignment {
    /// An assignment of `partitions` (sorted here) without user data.
    pub fn new(mut partitions: Vec<TopicPartition>) -> Self {
        partitions.sort();
        partitions.dedup();
        Self {
            partitions,
            user_data: None,
        }
    }

    /// Encodes as `version` (0-3): the `i16` version, then the schema.
    ///
    /// # Errors
    ///
    /// [`Error::Protocol`](crate::Error::Protocol) for a version outside 0-3.
    pub fn encode(&self, version: i16) -> Result<Bytes> {
        let msg = ConsumerProtocolAssignment::default()
            .with_assigned_partitions(
                group_by_topic(&self.partitions)
                    .into_iter()
                    .map(|(topic, partitions)| {
                        wire_assignment::TopicPartition::default()
                            .with_topic(topic)
                            .with_partitions(partitions)
                    })
                    .collect(),
            )
            .with_user_data(self.user_data.clone());
        let body = msg.encode_to_bytes(version)?;
        Ok(prefix_version(version, &body))
    }

    /// Decodes assignment bytes, returning the assignment and its version.
    /// Empty bytes are an empty assignment (what the coordinator sends a
    /// member the leader left out).
    ///
    /// # Errors
    ///
    /// [`Error::Protocol`](crate::Error::Protocol) for truncated or
    /// malformed bytes or a negative version.
    pub fn decode(bytes: Bytes) -> Result<(Self, i16)> {
        if bytes.is_empty() {
            return Ok((Assignment::default(), 0));
        }
        let (version, msg): (i16, ConsumerProtocolAssignment) = decode_versioned(bytes)?;
        let partitions = msg
            .assigned_partitions
            .iter()
            .flat_map(|tp| {
                tp.partitions
                    .iter()
                    .map(|&p| TopicPartition::new(tp.topic.as_str(), p))
            })
            .collect();
        Ok((
            Assignment {
                partitions,
                user_data: msg.user_data,
            },
            version,
        ))
    }
}

/// Groups partitions by topic, both in order.
pub(crate) fn group_by_topic(partitions: &[TopicPartition]) -> BTreeMap<&str, Vec<i32>> {
    let mut by_topic: BTreeMap<&str, Vec<i32>> = BTreeMap::new();
    for tp in partitions {
        by_topic
            .entry(tp.topic.as_str())
            .or_default()
            .push(tp.partition);
    }
    for parts in by_topic.values_mut() {
        parts.sort_unstable();
        parts.dedup();
    }
    by_topic
}

fn prefix_version(version: i16, body: &[u8]) -> Bytes {
    let mut w = Writer::with_capacity(2 + body.len());
    w.i16(version);
    w.buf_mut().extend_from_slice(body);
    w.freeze()
}

/// Reads the version prefix and the schema; versions above the newest known
/// are read with the newest schema and their extra bytes ignored.
fn decode_versioned<M: Message>(bytes: Bytes) -> Result<(i16, M)> {
    let mut r = Reader::new(bytes);
    let version = r.i16("version")?;
    if version < 0 {
        return Err(gregor_protocol::Error::InvalidValue {
            at: gregor_protocol::Location {
                message: M::NAME,
                version,
                field: "version",
            },
            reason: "negative consumer protocol version",
        }
        .into());
    }
    if version <= CONSUMER_PROTOCOL_VERSION {
        let msg = M::decode_from_bytes(r.take_rest(), version)?;
        Ok((version, msg))
    } else {
        let msg = M::decode(&mut r, CONSUMER_PROTOCOL_VERSION)?;
        Ok((version, msg))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_assignment_bytes_are_an_empty_assignment() {
        let (a, _) = Assignment::decode(Bytes::new()).unwrap();
        assert!(a.partitions.is_empty());
    }

    #[test]
    fn negative_version_is_refused() {
        let bytes = Bytes::from_static(&[0xff, 0xff, 0, 0, 0, 0]);
        assert!(Subscription::decode(bytes).is_err());
    }
}
