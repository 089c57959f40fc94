//! One Fetch request, built from a session plan, sent, and its records
//! decoded, in a task of its own (so decoding runs beside the
//! application on a multi-threaded runtime).

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Duration;

use gregor_net::{BrokerAddr, BrokerId, Cluster};
use gregor_protocol::messages::FetchRequest;
use gregor_protocol::messages::fetch_request::{FetchPartition, FetchTopic, ForgottenTopic};
use gregor_protocol::records::DecodeOptions;
use gregor_protocol::{ApiKey, ErrorCode, Uuid};

use super::TopicPartition;
use super::config::IsolationLevel;
use super::decode::{Decoded, decode_partition};
use super::session::{FetchPlan, FetchSession};
use super::state::Marks;

/// The last Fetch version that names topics; later ones use topic ids.
pub(crate) const LAST_FETCH_BY_NAME: i16 = 12;
/// The first Fetch version with sessions.
pub(crate) const FIRST_FETCH_WITH_SESSIONS: i16 = 7;
/// What a fetch task needs.
pub(crate) struct FetchCtx {
    pub(crate) cluster: Cluster,
    pub(crate) broker: BrokerId,
    pub(crate) plan: FetchPlan,
    pub(crate) topics: HashMap<String, Arc<str>>,
    pub(crate) isolation: IsolationLevel,
    pub(crate) min_bytes: i32,
    pub(crate) max_bytes: i32,
    pub(crate) max_wait: Duration,
    pub(crate) rack: Option<String>,
    pub(crate) decode: DecodeOptions,
}

/// A decoded Fetch response.
pub(crate) struct Fetched {
    /// The plan as sent (sessionless for brokers before v7).
    pub(crate) plan: FetchPlan,
    pub(crate) version: i16,
    pub(crate) broker: BrokerAddr,
    pub(crate) error_code: ErrorCode,
    pub(crate) session_id: i32,
    pub(crate) partitions: Vec<FetchedPartition>,
}

pub(crate) struct FetchedPartition {
    pub(crate) tp: TopicPartition,
    pub(crate) code: ErrorCode,
    pub(crate) marks: Marks,
    pub(crate) decoded: Decoded,
}

/// One Fetch request and its decoding, in a task of its own.
pub(crate) async fn fetch(mut ctx: FetchCtx) -> gregor_net::Result<Fetched> {
    let conn = ctx.cluster.connection(ctx.broker).await?;
    let Some(mut version) = conn.version_for(ApiKey::Fetch) else {
        return Err(gregor_net::Error::UnsupportedVersion {
            broker: conn.broker().clone(),
            api: ApiKey::Fetch,
            requested: None,
            client_versions: ApiKey::Fetch.versions(),
            broker_versions: None,
        });
    };
    if version > LAST_FETCH_BY_NAME && ctx.plan.wanted.values().any(|p| p.topic_id.is_zero()) {
        // A topic without an id (metadata before v10) can only be named.
        version = LAST_FETCH_BY_NAME;
    }
    let mut plan = std::mem::take(&mut ctx.plan);
    if version < FIRST_FETCH_WITH_SESSIONS && plan.epoch != -1 {
        plan = FetchSession::default().plan(plan.wanted, false);
    }
    let request = build_request(&plan, version, &ctx);
    let response = match conn.send_at(&request, version).await {
        Ok(r) => r,
        Err(e) => {
            ctx.cluster.on_error(&e);
            return Err(e);
        }
    };
    let by_id: HashMap<Uuid, &str> = plan
        .wanted
        .iter()
        .map(|(tp, p)| (p.topic_id, tp.topic.as_str()))
        .collect();
    let mut partitions = Vec::new();
    for t in response.responses {
        let name: String = if version > LAST_FETCH_BY_NAME {
            match by_id.get(&t.topic_id) {
                Some(n) => (*n).to_owned(),
                None => continue,
            }
        } else {
            t.topic.to_string()
        };
        let Some(topic) = ctx.topics.get(&name).cloned() else {
            continue;
        };
        for p in t.partitions {
            let tp = TopicPartition::new(name.as_str(), p.partition_index);
            let Some(pf) = plan.wanted.get(&tp) else {
                continue;
            };
            let code = ErrorCode::from_code(p.error_code);
            let decoded = if code == ErrorCode::None {
                decode_partition(
                    &topic,
                    p.partition_index,
                    p.records.unwrap_or_default(),
                    pf.fetch_offset,
                    ctx.isolation,
                    p.aborted_transactions.as_deref().unwrap_or_default(),
                    ctx.decode,
                )
            } else {
                Decoded::default()
            };
            partitions.push(FetchedPartition {
                tp,
                code,
                marks: Marks {
                    high_watermark: p.high_watermark,
                    last_stable: p.last_stable_offset,
                    log_start: p.log_start_offset,
                },
                decoded,
            });
        }
    }
    Ok(Fetched {
        plan,
        version,
        broker: conn.broker().clone(),
        error_code: ErrorCode::from_code(response.error_code),
        session_id: response.session_id,
        partitions,
    })
}

/// The Fetch request for `plan` at `version`.
fn build_request(plan: &FetchPlan, version: i16, ctx: &FetchCtx) -> FetchRequest {
    let mut topics: BTreeMap<&str, (Uuid, Vec<FetchPartition>)> = BTreeMap::new();
    for (tp, p) in &plan.to_send {
        topics
            .entry(tp.topic.as_str())
            .or_insert_with(|| (p.topic_id, Vec::new()))
            .1
            .push(
                FetchPartition::default()
                    .with_partition(tp.partition)
                    .with_fetch_offset(p.fetch_offset)
                    .with_partition_max_bytes(p.max_bytes),
            );
    }
    let mut forgotten: BTreeMap<&str, (Uuid, Vec<i32>)> = BTreeMap::new();
    for (tp, id) in &plan.forgotten {
        forgotten
            .entry(tp.topic.as_str())
            .or_insert_with(|| (*id, Vec::new()))
            .1
            .push(tp.partition);
    }
    let mut request = FetchRequest::default()
        .with_max_wait_ms(i32::try_from(ctx.max_wait.as_millis()).unwrap_or(i32::MAX))
        .with_min_bytes(ctx.min_bytes)
        .with_max_bytes(ctx.max_bytes)
        .with_isolation_level(ctx.isolation.wire())
        .with_session_id(plan.session_id)
        .with_session_epoch(plan.epoch)
        .with_topics(
            topics
                .into_iter()
                .map(|(name, (id, partitions))| {
                    FetchTopic::default()
                        .with_topic(name)
                        .with_topic_id(id)
                        .with_partitions(partitions)
                })
                .collect(),
        );
    if version >= FIRST_FETCH_WITH_SESSIONS {
        request = request.with_forgotten_topics_data(
            forgotten
                .into_iter()
                .map(|(name, (id, partitions))| {
                    ForgottenTopic::default()
                        .with_topic(name)
                        .with_topic_id(id)
                        .with_partitions(partitions)
                })
                .collect(),
        );
    }
    if let Some(rack) = &ctx.rack {
        request = request.with_rack_id(rack.as_str());
    }
    request
}
