//! The consumer against a scripted one-broker cluster: what the local
//! broker cannot show. Fetch sessions (nisshi never opens one): full, then
//! incremental fetches, forgotten partitions, and recovery from a lost
//! session; `read_committed` over a log holding committed and aborted
//! transactions (nisshi has no transactions); and the reset policy on
//! OFFSET_OUT_OF_RANGE.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use gregor_client::consumer::{
    Consumer, ConsumerConfig, ConsumerRecord, IsolationLevel, Offset, OffsetReset, TopicPartition,
};
use gregor_net::{Cluster, ClusterConfig};
use gregor_protocol::frame::FrameDecoder;
use gregor_protocol::messages::api_versions_response::ApiVersion;
use gregor_protocol::messages::fetch_response::{
    AbortedTransaction, FetchableTopicResponse, PartitionData,
};
use gregor_protocol::messages::find_coordinator_response::Coordinator;
use gregor_protocol::messages::list_offsets_response::{
    ListOffsetsPartitionResponse, ListOffsetsTopicResponse,
};
use gregor_protocol::messages::metadata_response::{
    MetadataResponseBroker, MetadataResponsePartition, MetadataResponseTopic,
};
use gregor_protocol::messages::{
    ApiVersionsRequest, ApiVersionsResponse, FetchRequest, FetchResponse, FindCoordinatorRequest,
    FindCoordinatorResponse, ListOffsetsRequest, ListOffsetsResponse, MetadataRequest,
    MetadataResponse, RequestHeader,
};
use gregor_protocol::records::{ControlRecord, RecordBatchBuilder};
use gregor_protocol::request::{decode_request_header, encode_response};
use gregor_protocol::{ApiKey, ErrorCode, Request, Uuid};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

const TOPIC: &str = "t";
const PATIENCE: Duration = Duration::from_secs(10);

/// One partition's log.
#[derive(Debug, Default)]
struct Log {
    /// (base offset, next offset, batch bytes)
    batches: Vec<(i64, i64, Bytes)>,
    log_start: i64,
    aborted: Vec<(i64, i64)>,
}

impl Log {
    fn end(&self) -> i64 {
        self.batches.last().map_or(self.log_start, |b| b.1)
    }

    fn append(&mut self, batch: Bytes, count: i64) {
        let base = self.end();
        // Re-base: the builder wrote offset 0.
        let mut b = BytesMut::from(&batch[..]);
        b[..8].copy_from_slice(&base.to_be_bytes());
        // The v2 CRC covers from the attributes on, not the base offset.
        self.batches.push((base, base + count, b.freeze()));
    }

    fn from(&self, offset: i64) -> Bytes {
        let mut out = BytesMut::new();
        for (_, next, bytes) in &self.batches {
            if *next > offset {
                out.extend_from_slice(bytes);
            }
        }
        out.freeze()
    }
}

/// A fetch as the broker saw it.
#[derive(Debug, Clone, PartialEq)]
struct SeenFetch {
    session_id: i32,
    epoch: i32,
    isolation: i8,
    partitions: Vec<(i32, i64)>,
    forgotten: Vec<i32>,
}

impl SeenFetch {
    fn full(&self) -> bool {
        self.session_id == 0
    }
}

#[derive(Debug)]
struct Session {
    id: i32,
    next_epoch: i32,
    partitions: BTreeMap<i32, i64>,
}

#[derive(Debug, Default)]
struct State {
    logs: BTreeMap<i32, Log>,
    fetches: Vec<SeenFetch>,
    /// Top-level codes for the next fetches.
    inject: VecDeque<i16>,
    session: Option<Session>,
    next_session: i32,
    /// Partition error codes every fetch answers with.
    fetch_errors: BTreeMap<i32, i16>,
    /// The code FindCoordinator answers with.
    find_coordinator_error: i16,
}

struct Fake {
    addr: String,
    state: Arc<Mutex<State>>,
}

impl Fake {
    async fn start(partitions: i32) -> Fake {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let state = Arc::new(Mutex::new(State {
            logs: (0..partitions).map(|p| (p, Log::default())).collect(),
            next_session: 1000,
            ..State::default()
        }));
        let s = state.clone();
        tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    return;
                };
                tokio::spawn(serve(stream, s.clone(), addr.port()));
            }
        });
        Fake {
            addr: addr.to_string(),
            state,
        }
    }

    fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap()
    }

    /// Appends plain records `values` to partition `p`.
    fn append(&self, p: i32, values: &[&str]) {
        let mut b = RecordBatchBuilder::new();
        for v in values {
            b.append(1_000, Some(v.as_bytes()), Some(v.as_bytes()), &[])
                .unwrap();
        }
        let n = values.len() as i64;
        self.state()
            .logs
            .get_mut(&p)
            .unwrap()
            .append(b.build().unwrap(), n);
    }

    async fn cluster(&self) -> Cluster {
        let config = ClusterConfig::builder()
            .bootstrap_servers([self.addr.as_str()])
            .build()
            .unwrap();
        Cluster::connect(config).await.unwrap()
    }

    fn fetches(&self) -> Vec<SeenFetch> {
        self.state().fetches.clone()
    }

    /// Waits until a fetch after the first `after` satisfies `f`.
    async fn wait_fetch(&self, after: usize, what: &str, f: impl Fn(&SeenFetch) -> bool) -> usize {
        let deadline = tokio::time::Instant::now() + PATIENCE;
        loop {
            if let Some(i) = self.fetches().iter().skip(after).position(&f) {
                return after + i;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "no fetch {what}: {:#?}",
                &self.fetches()[after..]
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

fn topic_id() -> Uuid {
    Uuid([7; 16])
}

async fn serve(mut stream: TcpStream, state: Arc<Mutex<State>>, port: u16) {
    let mut decoder = FrameDecoder::new();
    let mut buf = BytesMut::new();
    loop {
        let frame = loop {
            if let Some(f) = decoder.decode(&mut buf).unwrap() {
                break f;
            }
            match stream.read_buf(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            }
        };
        let (header, body) = decode_request_header(&frame).unwrap();
        let mut out = BytesMut::new();
        match ApiKey::from_code(header.request_api_key).unwrap() {
            ApiKey::ApiVersions => {
                let table = [
                    (ApiKey::ApiVersions, 0, 3),
                    (ApiKey::Metadata, 0, 12),
                    (ApiKey::ListOffsets, 0, 6),
                    (ApiKey::Fetch, 0, 16),
                    (ApiKey::FindCoordinator, 0, 4),
                ];
                let resp = ApiVersionsResponse::default().with_api_keys(
                    table
                        .iter()
                        .map(|&(api, min, max)| {
                            ApiVersion::default()
                                .with_api_key(api.code())
                                .with_min_version(min)
                                .with_max_version(max)
                        })
                        .collect(),
                );
                respond::<ApiVersionsRequest>(&mut out, &header, &resp);
            }
            ApiKey::Metadata => {
                let partitions = state.lock().unwrap().logs.len() as i32;
                let resp = MetadataResponse::default()
                    .with_cluster_id(Some("fake".into()))
                    .with_controller_id(1)
                    .with_brokers(vec![
                        MetadataResponseBroker::default()
                            .with_node_id(1)
                            .with_host("127.0.0.1")
                            .with_port(i32::from(port)),
                    ])
                    .with_topics(vec![
                        MetadataResponseTopic::default()
                            .with_name(Some(TOPIC.into()))
                            .with_topic_id(topic_id())
                            .with_partitions(
                                (0..partitions)
                                    .map(|p| {
                                        MetadataResponsePartition::default()
                                            .with_partition_index(p)
                                            .with_leader_id(1)
                                            .with_leader_epoch(0)
                                            .with_replica_nodes(vec![1])
                                            .with_isr_nodes(vec![1])
                                    })
                                    .collect(),
                            ),
                    ]);
                respond::<MetadataRequest>(&mut out, &header, &resp);
            }
            ApiKey::ListOffsets => {
                let req = decode::<ListOffsetsRequest>(body, &header);
                let st = state.lock().unwrap();
                let topics = req
                    .topics
                    .iter()
                    .map(|t| {
                        ListOffsetsTopicResponse::default()
                            .with_name(t.name.clone())
                            .with_partitions(
                                t.partitions
                                    .iter()
                                    .map(|p| {
                                        let log = &st.logs[&p.partition_index];
                                        let offset = match p.timestamp {
                                            -2 => log.log_start,
                                            _ => log.end(),
                                        };
                                        ListOffsetsPartitionResponse::default()
                                            .with_partition_index(p.partition_index)
                                            .with_timestamp(-1)
                                            .with_offset(offset)
                                    })
                                    .collect(),
                            )
                    })
                    .collect();
                drop(st);
                respond::<ListOffsetsRequest>(
                    &mut out,
                    &header,
                    &ListOffsetsResponse::default().with_topics(topics),
                );
            }
            ApiKey::Fetch => {
                let req = decode::<FetchRequest>(body, &header);
                let (resp, wait) = fetch(&state, &req, header.request_api_version);
                if wait {
                    let ms = req.max_wait_ms.clamp(0, 300) as u64;
                    tokio::time::sleep(Duration::from_millis(ms)).await;
                }
                respond::<FetchRequest>(&mut out, &header, &resp);
            }
            ApiKey::FindCoordinator => {
                let req = decode::<FindCoordinatorRequest>(body, &header);
                let code = state.lock().unwrap().find_coordinator_error;
                let resp = FindCoordinatorResponse::default().with_coordinators(
                    req.coordinator_keys
                        .iter()
                        .map(|k| {
                            Coordinator::default()
                                .with_key(k.clone())
                                .with_error_code(code)
                                .with_node_id(-1)
                        })
                        .collect(),
                );
                respond::<FindCoordinatorRequest>(&mut out, &header, &resp);
            }
            other => panic!("the fake broker does not answer {other:?}"),
        }
        if stream.write_all(&out).await.is_err() {
            return;
        }
    }
}

fn decode<R: Request>(body: Bytes, header: &RequestHeader) -> R {
    R::decode_from_bytes(body, header.request_api_version).unwrap()
}

fn respond<R: Request>(out: &mut BytesMut, header: &RequestHeader, resp: &R::Response) {
    encode_response::<R>(out, header.correlation_id, header.request_api_version, resp).unwrap();
}

/// The broker side of a fetch, sessions included (as Kafka's
/// `FetchSession` does it); returns the response and whether to hold it
/// (nothing to return).
fn fetch(state: &Mutex<State>, req: &FetchRequest, version: i16) -> (FetchResponse, bool) {
    let mut st = state.lock().unwrap();
    let seen = SeenFetch {
        session_id: req.session_id,
        epoch: req.session_epoch,
        isolation: req.isolation_level,
        partitions: req
            .topics
            .iter()
            .flat_map(|t| t.partitions.iter().map(|p| (p.partition, p.fetch_offset)))
            .collect(),
        forgotten: req
            .forgotten_topics_data
            .iter()
            .flat_map(|t| t.partitions.iter().copied())
            .collect(),
    };
    st.fetches.push(seen.clone());
    if let Some(code) = st.inject.pop_front() {
        st.session = None;
        return (FetchResponse::default().with_error_code(code), false);
    }
    let requested: BTreeMap<i32, i64> = seen.partitions.iter().copied().collect();
    let (session_id, incremental, wanted) = match (req.session_id, req.session_epoch) {
        (0, -1) => (0, false, requested),
        (0, 0) => {
            st.next_session += 1;
            let id = st.next_session;
            st.session = Some(Session {
                id,
                next_epoch: 1,
                partitions: requested.clone(),
            });
            (id, false, requested)
        }
        (id, epoch) => {
            let Some(s) = st.session.as_mut().filter(|s| s.id == id) else {
                let code = ErrorCode::FetchSessionIdNotFound.code();
                return (FetchResponse::default().with_error_code(code), false);
            };
            if s.next_epoch != epoch {
                let code = ErrorCode::InvalidFetchSessionEpoch.code();
                st.session = None;
                return (FetchResponse::default().with_error_code(code), false);
            }
            s.next_epoch += 1;
            s.partitions.extend(requested);
            for p in &seen.forgotten {
                s.partitions.remove(p);
            }
            (id, true, s.partitions.clone())
        }
    };
    let mut partitions = Vec::new();
    let mut any = false;
    for (p, offset) in wanted {
        let log = &st.logs[&p];
        let mut data = PartitionData::default()
            .with_partition_index(p)
            .with_high_watermark(log.end())
            .with_last_stable_offset(log.end())
            .with_log_start_offset(log.log_start);
        if let Some(code) = st.fetch_errors.get(&p) {
            data = data.with_error_code(*code);
            any = true;
        } else if offset < log.log_start || offset > log.end() {
            data = data.with_error_code(ErrorCode::OffsetOutOfRange.code());
            any = true;
        } else {
            let records = log.from(offset);
            if records.is_empty() && incremental {
                continue;
            }
            any |= !records.is_empty();
            if req.isolation_level == 1 {
                data = data.with_aborted_transactions(Some(
                    log.aborted
                        .iter()
                        .map(|&(pid, first)| {
                            AbortedTransaction::default()
                                .with_producer_id(pid)
                                .with_first_offset(first)
                        })
                        .collect(),
                ));
            }
            data = data.with_records(Some(records));
        }
        partitions.push(data);
    }
    let topics = if partitions.is_empty() {
        Vec::new()
    } else {
        let t = FetchableTopicResponse::default().with_partitions(partitions);
        vec![if version >= 13 {
            t.with_topic_id(topic_id())
        } else {
            t.with_topic(TOPIC)
        }]
    };
    let resp = FetchResponse::default()
        .with_session_id(session_id)
        .with_responses(topics);
    (resp, !any)
}

fn config() -> gregor_client::consumer::ConsumerConfigBuilder {
    ConsumerConfig::builder()
        .offset_reset(OffsetReset::Earliest)
        .fetch_max_wait(Duration::from_millis(50))
}

fn tp(p: i32) -> TopicPartition {
    TopicPartition::new(TOPIC, p)
}

async fn poll_n(consumer: &Consumer, n: usize) -> Vec<ConsumerRecord> {
    let deadline = tokio::time::Instant::now() + PATIENCE;
    let mut out = Vec::new();
    while out.len() < n {
        assert!(
            tokio::time::Instant::now() < deadline,
            "only {} of {n} records",
            out.len()
        );
        out.extend(
            consumer
                .poll_batch(n - out.len(), Duration::from_millis(100))
                .await
                .unwrap(),
        );
    }
    out
}

fn values(records: &[ConsumerRecord]) -> Vec<String> {
    records
        .iter()
        .map(|r| String::from_utf8(r.value_bytes().to_vec()).unwrap())
        .collect()
}

#[tokio::test]
async fn fetch_sessions_go_incremental_forget_paused_partitions_and_survive_a_lost_session() {
    let fake = Fake::start(3).await;
    for p in 0..3 {
        fake.append(p, &["a", "b", "c", "d", "e"]);
    }
    let consumer = Consumer::new(fake.cluster().await, config().build().unwrap());
    consumer.assign((0..3).map(tp)).unwrap();
    let mut seen: BTreeSet<(i32, i64)> = BTreeSet::new();
    let mut take = |records: Vec<ConsumerRecord>| {
        for r in records {
            assert!(seen.insert((r.partition, r.offset)), "{r:?} twice");
        }
    };
    take(poll_n(&consumer, 15).await);

    // The first fetch opens a session listing every partition.
    let fetches = fake.fetches();
    let first = &fetches[0];
    assert_eq!((first.session_id, first.epoch), (0, 0), "{first:?}");
    assert_eq!(first.partitions, [(0, 0), (1, 0), (2, 0)]);
    // Then incremental: the moved offsets once, then nothing at all while
    // nothing changes.
    let i = fake
        .wait_fetch(1, "incremental listing the moved offsets", |f| {
            f.session_id > 1000 && f.epoch == 1
        })
        .await;
    assert_eq!(fake.fetches()[i].partitions, [(0, 5), (1, 5), (2, 5)]);
    let j = fake
        .wait_fetch(i + 1, "an empty incremental fetch", |f| {
            !f.full() && f.partitions.is_empty() && f.forgotten.is_empty()
        })
        .await;
    let epochs: Vec<i32> = fake.fetches()[i..=j].iter().map(|f| f.epoch).collect();
    assert_eq!(
        epochs,
        (1..=epochs.len() as i32).collect::<Vec<_>>(),
        "epochs count up"
    );

    // A paused partition is forgotten by the session.
    consumer.pause(&[tp(1)]).unwrap();
    let k = fake
        .wait_fetch(j, "forgetting the paused partition", |f| f.forgotten == [1])
        .await;
    fake.append(0, &["f", "g"]);
    fake.append(1, &["f", "g"]);
    let got = poll_n(&consumer, 2).await;
    assert!(got.iter().all(|r| r.partition == 0));
    take(got);

    // The broker loses the session: the next fetch is full again, with the
    // partitions wanted now (not the paused one), and opens a new session.
    fake.state()
        .inject
        .push_back(ErrorCode::FetchSessionIdNotFound.code());
    let l = fake
        .wait_fetch(k + 1, "full after the lost session", |f| {
            f.full() && f.epoch == 0
        })
        .await;
    assert_eq!(fake.fetches()[l].partitions, [(0, 7), (2, 5)]);
    fake.wait_fetch(l + 1, "incremental in the new session", |f| {
        !f.full() && f.epoch == 1
    })
    .await;

    // An epoch the broker does not expect: the same recovery.
    fake.state()
        .inject
        .push_back(ErrorCode::InvalidFetchSessionEpoch.code());
    let m = fake
        .wait_fetch(l + 1, "full after the epoch error", |f| {
            f.full() && f.epoch == 0
        })
        .await;
    assert!(m > l);

    // Resumed, the partition rejoins the session where it was.
    consumer.resume(&[tp(1)]).unwrap();
    let got = poll_n(&consumer, 2).await;
    assert_eq!(
        got.iter()
            .map(|r| (r.partition, r.offset))
            .collect::<Vec<_>>(),
        [(1, 5), (1, 6)]
    );
    take(got);
    let stats = consumer.stats();
    assert!(stats.incremental_fetches > 0, "{stats:?}");
    assert_eq!(stats.fetch_session_resets, 2, "{stats:?}");
    consumer.close().await.unwrap();
}

#[tokio::test]
async fn sessions_can_be_turned_off() {
    let fake = Fake::start(1).await;
    fake.append(0, &["a"]);
    let consumer = Consumer::new(
        fake.cluster().await,
        config().fetch_sessions(false).build().unwrap(),
    );
    consumer.assign([tp(0)]).unwrap();
    poll_n(&consumer, 1).await;
    fake.wait_fetch(1, "a second fetch", |_| true).await;
    assert!(
        fake.fetches()
            .iter()
            .all(|f| (f.session_id, f.epoch) == (0, -1))
    );
}

/// Producer 7 commits, producer 9 aborts twice, then commits; a plain
/// record in between.
fn transactional_log(fake: &Fake) {
    let txn = |pid: i64, values: &[&str]| {
        let mut b = RecordBatchBuilder::new()
            .producer_state(pid, 0, 0)
            .transactional(true);
        for v in values {
            b.append(1_000, None, Some(v.as_bytes()), &[]).unwrap();
        }
        (b.build().unwrap(), values.len() as i64)
    };
    let marker = |pid: i64, commit: bool| {
        let mut b = RecordBatchBuilder::new()
            .producer_state(pid, 0, 0)
            .transactional(true);
        let m = if commit {
            ControlRecord::commit(1)
        } else {
            ControlRecord::abort(1)
        };
        b.append_control(1_000, m).unwrap();
        (b.build().unwrap(), 1)
    };
    let plain = {
        let mut b = RecordBatchBuilder::new();
        b.append(1_000, None, Some(b"plain"), &[]).unwrap();
        (b.build().unwrap(), 1)
    };
    let mut st = fake.state();
    let log = st.logs.get_mut(&0).unwrap();
    for (bytes, n) in [
        txn(7, &["c1", "c2"]), // 0-1
        txn(9, &["a1"]),       // 2
        plain,                 // 3
        txn(7, &["c3"]),       // 4
        marker(7, true),       // 5
        txn(9, &["a2"]),       // 6
        marker(9, false),      // 7
        txn(9, &["a3", "a4"]), // 8-9
        marker(9, false),      // 10
        txn(9, &["c4"]),       // 11
        marker(9, true),       // 12
    ] {
        log.append(bytes, n);
    }
    log.aborted = vec![(9, 2), (9, 8)];
}

#[tokio::test]
async fn read_committed_drops_aborted_transactions_and_hides_markers() {
    let fake = Fake::start(1).await;
    transactional_log(&fake);
    let consumer = Consumer::new(
        fake.cluster().await,
        config()
            .isolation_level(IsolationLevel::ReadCommitted)
            .build()
            .unwrap(),
    );
    consumer.assign([tp(0)]).unwrap();
    let got = poll_n(&consumer, 5).await;
    assert_eq!(values(&got), ["c1", "c2", "plain", "c3", "c4"]);
    assert_eq!(
        got.iter().map(|r| r.offset).collect::<Vec<_>>(),
        [0, 1, 3, 4, 11]
    );
    // Nothing else comes, and the position passed the last marker.
    assert!(
        consumer
            .poll_batch(10, Duration::from_millis(300))
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(consumer.position(&tp(0)), Some(13));
    assert_eq!(consumer.lag(&tp(0)), Some(0));
    assert!(fake.fetches().iter().all(|f| f.isolation == 1));
    consumer.close().await.unwrap();

    let consumer = Consumer::new(fake.cluster().await, config().build().unwrap());
    consumer.assign([tp(0)]).unwrap();
    let got = poll_n(&consumer, 9).await;
    assert_eq!(
        values(&got),
        ["c1", "c2", "a1", "plain", "c3", "a2", "a3", "a4", "c4"]
    );
    assert!(
        consumer
            .poll_batch(10, Duration::from_millis(300))
            .await
            .unwrap()
            .is_empty(),
        "no control record"
    );
    assert_eq!(consumer.position(&tp(0)), Some(13));
}

#[tokio::test]
async fn out_of_range_positions_reset_by_the_policy() {
    let fake = Fake::start(1).await;
    fake.append(0, &["0", "1", "2", "3", "4", "5"]);
    fake.state().logs.get_mut(&0).unwrap().log_start = 3;
    // Earliest: back to the log start.
    let consumer = Consumer::new(fake.cluster().await, config().build().unwrap());
    consumer.assign([tp(0)]).unwrap();
    consumer.seek(&tp(0), Offset::At(1)).unwrap();
    let got = poll_n(&consumer, 3).await;
    assert_eq!(got.iter().map(|r| r.offset).collect::<Vec<_>>(), [3, 4, 5]);
    // Latest: to the end.
    let consumer = Consumer::new(
        fake.cluster().await,
        config().offset_reset(OffsetReset::Latest).build().unwrap(),
    );
    consumer.assign([tp(0)]).unwrap();
    consumer.seek(&tp(0), Offset::At(100)).unwrap();
    let deadline = tokio::time::Instant::now() + PATIENCE;
    while consumer.position(&tp(0)) != Some(6) {
        assert!(tokio::time::Instant::now() < deadline);
        consumer
            .poll_batch(10, Duration::from_millis(50))
            .await
            .unwrap();
    }
    fake.append(0, &["6"]);
    assert_eq!(poll_n(&consumer, 1).await[0].offset, 6);
}

#[tokio::test]
async fn authorization_failures_name_the_topic_or_the_group() {
    let fake = Fake::start(2).await;
    fake.append(0, &["a"]);
    fake.append(1, &["b"]);
    fake.state()
        .fetch_errors
        .insert(1, ErrorCode::TopicAuthorizationFailed.code());
    let consumer = Consumer::new(fake.cluster().await, config().build().unwrap());
    consumer.assign([tp(0), tp(1)]).unwrap();
    let err = loop {
        match consumer.poll_batch(10, PATIENCE).await {
            Ok(records) => assert!(records.iter().all(|r| r.partition == 0)),
            Err(e) => break e,
        }
    };
    let text = err.to_string();
    assert!(
        text.contains("TOPIC_AUTHORIZATION_FAILED") && text.contains("topic t partition 1"),
        "{text}"
    );
    assert!(!err.is_retriable());
    // The partition stops (no error again, no refetch loop); the other
    // one goes on.
    let rest = consumer
        .poll_batch(10, Duration::from_millis(300))
        .await
        .unwrap();
    assert!(rest.iter().all(|r| r.partition == 0), "{rest:?}");
    assert!(
        consumer
            .poll_batch(10, Duration::from_millis(300))
            .await
            .unwrap()
            .is_empty()
    );
    consumer.close().await.unwrap();

    fake.state().find_coordinator_error = ErrorCode::GroupAuthorizationFailed.code();
    let consumer = Consumer::new(
        fake.cluster().await,
        config().group_id("secret-group").build().unwrap(),
    );
    consumer.subscribe([TOPIC]).unwrap();
    let err = consumer.poll_batch(10, PATIENCE).await.unwrap_err();
    let text = err.to_string();
    assert!(
        text.contains("secret-group") && text.contains("GROUP_AUTHORIZATION_FAILED"),
        "{text}"
    );
    assert!(!err.is_retriable());
    consumer.close().await.unwrap();
}
