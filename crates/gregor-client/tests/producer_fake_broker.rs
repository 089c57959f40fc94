//! The idempotent producer against a scripted fake broker that checks
//! sequence numbers the way Kafka does, with faults injected: retriable
//! errors with five requests in flight, a broker that forgets the producer
//! (`UNKNOWN_PRODUCER_ID`), a sequence gap (`OUT_OF_ORDER_SEQUENCE_NUMBER`
//! for the next batch), and a write whose answer is lost. After each, the
//! log must hold every record exactly once, in order.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use gregor_client::producer::{Producer, ProducerConfig, ProducerRecord};
use gregor_net::{Cluster, ClusterConfig, ConnectionConfig, Connector};
use gregor_protocol::frame::FrameDecoder;
use gregor_protocol::messages::api_versions_response::ApiVersion;
use gregor_protocol::messages::metadata_response::{
    MetadataResponseBroker, MetadataResponsePartition, MetadataResponseTopic,
};
use gregor_protocol::messages::produce_response::{PartitionProduceResponse, TopicProduceResponse};
use gregor_protocol::messages::{
    ApiVersionsRequest, ApiVersionsResponse, InitProducerIdRequest, InitProducerIdResponse,
    MetadataRequest, MetadataResponse, ProduceRequest, ProduceResponse,
};
use gregor_protocol::records::{DecodeOptions, decode_records};
use gregor_protocol::request::{decode_request_header, encode_response};
use gregor_protocol::{ApiKey, ErrorCode, Message};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// What the fake does to one partition batch of a Produce request.
#[derive(Debug, Clone, Copy)]
enum Fault {
    /// Answer this error code without writing.
    Error(ErrorCode),
    /// Forget every producer first (as after a state loss).
    ForgetProducer,
    /// Write the batch, then drop the connection without answering.
    WriteThenHangUp,
    /// Answer `OUT_OF_ORDER_SEQUENCE_NUMBER` although the batch is next.
    SpuriousOutOfOrder,
}

#[derive(Debug, Default)]
struct Producers {
    id: i64,
    epoch: i16,
    /// The last sequence written, and the batches recently written
    /// (first sequence, base offset) for deduplication.
    last_seq: i32,
    recent: VecDeque<(i32, i64)>,
}

#[derive(Debug, Default)]
struct State {
    /// The log of partition 0: record values.
    log: Vec<Bytes>,
    producer: Option<Producers>,
    next_pid: i64,
    init_calls: Vec<(i64, i16)>,
    /// Faults by the index of the partition batch they hit.
    faults: Vec<(usize, Fault)>,
    batches_seen: usize,
}

type Shared = Arc<Mutex<State>>;

fn lock(s: &Shared) -> std::sync::MutexGuard<'_, State> {
    s.lock().unwrap()
}

async fn start(faults: Vec<(usize, Fault)>) -> (String, Shared) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let state: Shared = Arc::new(Mutex::new(State {
        faults,
        next_pid: 1000,
        ..State::default()
    }));
    let s = state.clone();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            tokio::spawn(serve(stream, s.clone(), addr.port()));
        }
    });
    (addr.to_string(), state)
}

async fn serve(mut stream: TcpStream, state: Shared, port: u16) {
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
        let version = header.request_api_version;
        let mut out = BytesMut::new();
        let cid = header.correlation_id;
        match ApiKey::from_code(header.request_api_key).unwrap() {
            ApiKey::ApiVersions => {
                let table = [
                    (ApiKey::ApiVersions, 0, 3),
                    (ApiKey::Metadata, 0, 12),
                    (ApiKey::InitProducerId, 0, 4),
                    (ApiKey::Produce, 3, 9),
                ];
                let resp = ApiVersionsResponse::default().with_api_keys(
                    table
                        .iter()
                        .map(|(api, min, max)| {
                            ApiVersion::default()
                                .with_api_key(api.code())
                                .with_min_version(*min)
                                .with_max_version(*max)
                        })
                        .collect(),
                );
                encode_response::<ApiVersionsRequest>(&mut out, cid, version, &resp).unwrap();
            }
            ApiKey::Metadata => {
                let resp = MetadataResponse::default()
                    .with_brokers(vec![
                        MetadataResponseBroker::default()
                            .with_node_id(1)
                            .with_host("127.0.0.1")
                            .with_port(i32::from(port)),
                    ])
                    .with_controller_id(1)
                    .with_topics(vec![
                        MetadataResponseTopic::default()
                            .with_name(Some("t".into()))
                            .with_partitions(vec![
                                MetadataResponsePartition::default()
                                    .with_partition_index(0)
                                    .with_leader_id(1)
                                    .with_replica_nodes(vec![1])
                                    .with_isr_nodes(vec![1]),
                            ]),
                    ]);
                encode_response::<MetadataRequest>(&mut out, cid, version, &resp).unwrap();
            }
            ApiKey::InitProducerId => {
                let req = InitProducerIdRequest::decode_from_bytes(body, version).unwrap();
                let mut st = lock(&state);
                st.init_calls.push((req.producer_id, req.producer_epoch));
                let (id, epoch) = if req.producer_id >= 0 {
                    (req.producer_id, req.producer_epoch + 1)
                } else {
                    st.next_pid += 1;
                    (st.next_pid, 0)
                };
                let mut resp = InitProducerIdResponse::default();
                resp.producer_id = id;
                resp.producer_epoch = epoch;
                drop(st);
                encode_response::<InitProducerIdRequest>(&mut out, cid, version, &resp).unwrap();
            }
            ApiKey::Produce => {
                let req = ProduceRequest::decode_from_bytes(body, version).unwrap();
                let records = req.topic_data[0].partition_data[0].records.clone().unwrap();
                let (code, base_offset, hang_up) = produce(&state, records);
                if hang_up {
                    return;
                }
                let resp = ProduceResponse::default().with_responses(vec![
                    TopicProduceResponse::default()
                        .with_name("t")
                        .with_partition_responses(vec![
                            PartitionProduceResponse::default()
                                .with_index(0)
                                .with_error_code(code.code())
                                .with_base_offset(base_offset)
                                .with_log_append_time_ms(-1),
                        ]),
                ]);
                encode_response::<ProduceRequest>(&mut out, cid, version, &resp).unwrap();
            }
            other => panic!("the fake does not answer {other:?}"),
        }
        if stream.write_all(&out).await.is_err() {
            return;
        }
    }
}

/// Applies one batch as Kafka's producer state checks would; returns the
/// code, the base offset and whether to hang up instead of answering.
fn produce(state: &Shared, records: Bytes) -> (ErrorCode, i64, bool) {
    let batch = decode_records(records, &DecodeOptions::new())
        .unwrap()
        .batches
        .remove(0);
    let mut st = lock(state);
    let n = st.batches_seen;
    st.batches_seen += 1;
    let fault = st.faults.iter().find(|(at, _)| *at == n).map(|(_, f)| *f);
    match fault {
        Some(Fault::Error(code)) => return (code, -1, false),
        Some(Fault::ForgetProducer) => st.producer = None,
        _ => {}
    }
    let (pid, epoch, seq) = (batch.producer_id, batch.producer_epoch, batch.base_sequence);
    let count = batch.records.len() as i32;
    let refused = match &st.producer {
        None if seq != 0 => Some(ErrorCode::UnknownProducerId),
        None => None,
        Some(p) if p.id != pid || epoch > p.epoch => {
            (seq != 0).then_some(ErrorCode::OutOfOrderSequenceNumber)
        }
        Some(p) if epoch < p.epoch => Some(ErrorCode::InvalidProducerEpoch),
        Some(p) => {
            if let Some((_, offset)) = p.recent.iter().find(|(s, _)| *s == seq) {
                // A duplicate of a recent batch: Kafka answers with its offset.
                return (ErrorCode::None, *offset, false);
            }
            (seq != p.last_seq + 1).then_some(ErrorCode::OutOfOrderSequenceNumber)
        }
    };
    if let Some(code) = refused {
        return (code, -1, false);
    }
    if matches!(fault, Some(Fault::SpuriousOutOfOrder)) {
        return (ErrorCode::OutOfOrderSequenceNumber, -1, false);
    }
    let base = st.log.len() as i64;
    st.log
        .extend(batch.records.iter().map(|r| r.value.clone().unwrap()));
    let p = match &mut st.producer {
        Some(p) if p.id == pid && p.epoch == epoch => p,
        slot => slot.insert(Producers {
            id: pid,
            epoch,
            ..Producers::default()
        }),
    };
    p.last_seq = seq + count - 1;
    p.recent.push_back((seq, base));
    if p.recent.len() > 5 {
        p.recent.pop_front();
    }
    (
        ErrorCode::None,
        base,
        matches!(fault, Some(Fault::WriteThenHangUp)),
    )
}

async fn producer(bootstrap: &str) -> Producer {
    let connector = Connector::new(
        ConnectionConfig::builder()
            .request_timeout(Duration::from_secs(5))
            .build()
            .unwrap(),
    );
    let cluster = Cluster::connect(
        ClusterConfig::builder()
            .bootstrap_servers([bootstrap])
            .connector(connector)
            .retry_backoff(Duration::from_millis(10), Duration::from_millis(50))
            .reconnect_backoff(Duration::from_millis(10), Duration::from_millis(50))
            .build()
            .unwrap(),
    )
    .await
    .unwrap();
    Producer::new(
        cluster,
        ProducerConfig::builder()
            .batch_size(512)
            .linger(Duration::ZERO)
            .retry_backoff(Duration::from_millis(10), Duration::from_millis(50))
            .request_timeout(Duration::from_secs(5))
            .delivery_timeout(Duration::from_secs(30))
            .build()
            .unwrap(),
    )
}

/// Sends `n` numbered records, checks every delivery and that the log holds
/// each exactly once in order; returns the producer's stats.
async fn run(
    faults: Vec<(usize, Fault)>,
    n: usize,
) -> (gregor_client::producer::ProducerStats, Shared) {
    let (addr, state) = start(faults).await;
    let producer = producer(&addr).await;
    let mut deliveries = Vec::new();
    for i in 0..n {
        let r = ProducerRecord::to("t").value(format!("{i:06}"));
        deliveries.push(producer.enqueue(r).await.unwrap());
    }
    for (i, d) in deliveries.into_iter().enumerate() {
        let m = tokio::time::timeout(Duration::from_secs(30), d)
            .await
            .expect("delivered in time")
            .unwrap_or_else(|e| panic!("record {i}: {e}"));
        if let Some(offset) = m.offset {
            assert_eq!(offset, i as i64, "record {i}'s offset");
        }
    }
    let log: Vec<String> = lock(&state)
        .log
        .iter()
        .map(|v| String::from_utf8(v.to_vec()).unwrap())
        .collect();
    let want: Vec<String> = (0..n).map(|i| format!("{i:06}")).collect();
    assert_eq!(log.len(), n, "each record exactly once");
    assert_eq!(log, want, "in order");
    let stats = producer.stats();
    producer.close(Duration::from_secs(5)).await;
    (stats, state)
}

#[tokio::test]
async fn a_retriable_error_with_requests_in_flight_keeps_order_without_a_bump() {
    let (stats, state) = run(
        vec![
            (3, Fault::Error(ErrorCode::NotLeaderOrFollower)),
            (20, Fault::Error(ErrorCode::RequestTimedOut)),
        ],
        3000,
    )
    .await;
    assert!(stats.retries > 0, "{stats:?}");
    assert_eq!(
        stats.epoch_bumps, 0,
        "later batches' OUT_OF_ORDER is not a gap"
    );
    assert_eq!(lock(&state).init_calls.len(), 1);
}

#[tokio::test]
async fn unknown_producer_id_bumps_the_epoch_and_restarts_sequences() {
    let (stats, state) = run(vec![(10, Fault::ForgetProducer)], 3000).await;
    assert_eq!(stats.epoch_bumps, 1, "{stats:?}");
    let calls = lock(&state).init_calls.clone();
    assert_eq!(calls.len(), 2, "{calls:?}");
    assert_eq!(
        calls[1],
        (1001, 0),
        "the bump names the current id and epoch"
    );
}

#[tokio::test]
async fn out_of_order_for_the_next_batch_is_a_gap_closed_by_a_bump() {
    let (stats, _) = run(vec![(7, Fault::SpuriousOutOfOrder)], 3000).await;
    assert_eq!(stats.epoch_bumps, 1, "{stats:?}");
}

#[tokio::test]
async fn a_lost_answer_is_retried_and_deduplicated() {
    let (stats, _) = run(
        vec![(5, Fault::WriteThenHangUp), (30, Fault::WriteThenHangUp)],
        3000,
    )
    .await;
    assert!(stats.retries > 0, "{stats:?}");
    assert_eq!(stats.epoch_bumps, 0, "{stats:?}");
}
