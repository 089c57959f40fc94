//! A Kafka "sink broker": acknowledges everything it is sent and stores
//! nothing, so a producer benchmark against it measures the client alone.
//!
//! It answers ApiVersions, Metadata (itself as the one broker, leader of
//! `--partitions` partitions of any topic asked for), InitProducerId and
//! Produce (acks=0/1/all: every batch is acknowledged at once, with offsets
//! that grow per partition). Requests on a connection may be pipelined; the
//! answers go back in order, written together when no more requests are
//! waiting. Any other API closes the connection (and is logged).
//!
//! Prints `listening on 127.0.0.1:PORT` on its first stdout line.

use std::collections::HashMap;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex};

use bytes::{Bytes, BytesMut};
use clap::Parser;
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
use gregor_protocol::request::{decode_request_header, encode_response};
use gregor_protocol::{ApiKey, Message, StrBytes};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

#[derive(Debug, Parser)]
#[command(about = "A Kafka broker that acknowledges Produce requests without storing them")]
struct Args {
    /// Port on 127.0.0.1 (0: a free one).
    #[arg(long, default_value_t = 0)]
    port: u16,
    /// Partitions of every topic.
    #[arg(long, default_value_t = 6)]
    partitions: i32,
    /// Worker threads.
    #[arg(long, default_value_t = 1)]
    threads: usize,
    /// Print on stderr what each connection was sent when it closes.
    #[arg(long)]
    verbose: bool,
}

/// The APIs the sink offers, with their versions. It answers only the
/// first four: the others are listed because librdkafka infers features
/// from them (record batches v2 need Fetch v4 next to Produce v3, LZ4
/// needs FindCoordinator), and a producer never sends them.
const APIS: [(ApiKey, i16, i16); 7] = [
    (ApiKey::Produce, 3, 11),
    (ApiKey::Metadata, 0, 12),
    (ApiKey::ApiVersions, 0, 3),
    (ApiKey::InitProducerId, 0, 4),
    (ApiKey::Fetch, 4, 12),
    (ApiKey::FindCoordinator, 0, 4),
    (ApiKey::ListOffsets, 1, 7),
];

const NODE_ID: i32 = 1;

struct Sink {
    port: u16,
    partitions: i32,
    /// Next offset per topic and partition.
    offsets: Mutex<HashMap<String, Arc<Vec<AtomicI64>>>>,
    next_producer_id: AtomicI64,
    verbose: bool,
}

/// What one connection was sent.
#[derive(Debug, Default)]
struct Tally {
    requests: u64,
    produce_requests: u64,
    batches: u64,
    records: i64,
    bytes: u64,
}

impl Sink {
    fn partition_offsets(&self, topic: &str) -> Arc<Vec<AtomicI64>> {
        let mut map = self.offsets.lock().unwrap_or_else(|e| e.into_inner());
        map.entry(topic.to_owned())
            .or_insert_with(|| Arc::new((0..self.partitions).map(|_| AtomicI64::new(0)).collect()))
            .clone()
    }

    fn known_topics(&self) -> Vec<String> {
        let map = self.offsets.lock().unwrap_or_else(|e| e.into_inner());
        map.keys().cloned().collect()
    }
}

type Error = Box<dyn std::error::Error + Send + Sync>;

fn main() -> Result<(), Error> {
    let args = Args::parse();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(args.threads.max(1))
        .enable_all()
        .build()?;
    runtime.block_on(serve(args))
}

async fn serve(args: Args) -> Result<(), Error> {
    let listener = TcpListener::bind(("127.0.0.1", args.port)).await?;
    let port = listener.local_addr()?.port();
    println!("listening on 127.0.0.1:{port}");
    let sink = Arc::new(Sink {
        port,
        partitions: args.partitions,
        offsets: Mutex::new(HashMap::new()),
        next_producer_id: AtomicI64::new(1000),
        verbose: args.verbose,
    });
    loop {
        let (stream, _) = listener.accept().await?;
        let _ = stream.set_nodelay(true);
        let sink = sink.clone();
        tokio::spawn(async move {
            if let Err(e) = connection(&sink, stream).await {
                eprintln!("sink: connection closed: {e}");
            }
        });
    }
}

async fn connection(sink: &Sink, stream: TcpStream) -> Result<(), Error> {
    let mut tally = Tally::default();
    let result = serve_connection(sink, stream, &mut tally).await;
    if sink.verbose {
        eprintln!("sink: connection closed after {tally:?}");
    }
    result
}

async fn serve_connection(
    sink: &Sink,
    mut stream: TcpStream,
    tally: &mut Tally,
) -> Result<(), Error> {
    let mut decoder = FrameDecoder::new();
    let mut input = BytesMut::with_capacity(1 << 20);
    let mut output = BytesMut::with_capacity(1 << 16);
    loop {
        while let Some(frame) = decoder.decode(&mut input)? {
            tally.requests += 1;
            answer(sink, &frame, &mut output, tally)?;
        }
        if !output.is_empty() {
            stream.write_all(&output).await?;
            output.clear();
        }
        if input.capacity() - input.len() < 64 * 1024 {
            input.reserve(1 << 20);
        }
        if stream.read_buf(&mut input).await? == 0 {
            return Ok(());
        }
    }
}

/// Appends the answer to one request frame (without its size prefix).
fn answer(sink: &Sink, frame: &Bytes, out: &mut BytesMut, tally: &mut Tally) -> Result<(), Error> {
    let (header, body) = decode_request_header(frame)?;
    let version = header.request_api_version;
    let id = header.correlation_id;
    let api = ApiKey::from_code(header.request_api_key).ok_or("unknown API key")?;
    match api {
        ApiKey::ApiVersions => {
            let mut resp = ApiVersionsResponse::default();
            resp.api_keys = APIS
                .iter()
                .map(|&(key, min, max)| {
                    ApiVersion::default()
                        .with_api_key(key.code())
                        .with_min_version(min)
                        .with_max_version(max)
                })
                .collect();
            // A version newer than ours: answer v0 with UNSUPPORTED_VERSION,
            // as Kafka does, so the client retries with one we know.
            let version = if version > 3 {
                resp.error_code = 35;
                0
            } else {
                version
            };
            encode_response::<ApiVersionsRequest>(out, id, version, &resp)?;
        }
        ApiKey::Metadata => {
            let req = MetadataRequest::decode_from_bytes(body, version)?;
            let names: Vec<String> = match req.topics {
                Some(topics) if !topics.is_empty() => topics
                    .iter()
                    .filter_map(|t| t.name.as_ref().map(|n| n.to_string()))
                    .collect(),
                _ => sink.known_topics(),
            };
            let topics = names
                .into_iter()
                .map(|name| {
                    sink.partition_offsets(&name);
                    let partitions = (0..sink.partitions)
                        .map(|p| {
                            MetadataResponsePartition::default()
                                .with_partition_index(p)
                                .with_leader_id(NODE_ID)
                                .with_leader_epoch(if version >= 7 { 0 } else { -1 })
                                .with_replica_nodes(vec![NODE_ID])
                                .with_isr_nodes(vec![NODE_ID])
                        })
                        .collect();
                    MetadataResponseTopic::default()
                        .with_name(Some(StrBytes::from(name)))
                        .with_partitions(partitions)
                })
                .collect();
            let mut resp = MetadataResponse::default()
                .with_brokers(vec![
                    MetadataResponseBroker::default()
                        .with_node_id(NODE_ID)
                        .with_host("127.0.0.1")
                        .with_port(i32::from(sink.port)),
                ])
                .with_topics(topics);
            if version >= 1 {
                resp.controller_id = NODE_ID;
            }
            if version >= 2 {
                resp.cluster_id = Some("gregor-bench-sink".into());
            }
            encode_response::<MetadataRequest>(out, id, version, &resp)?;
        }
        ApiKey::InitProducerId => {
            let resp = InitProducerIdResponse::default()
                .with_producer_id(sink.next_producer_id.fetch_add(1, Ordering::Relaxed))
                .with_producer_epoch(0);
            encode_response::<InitProducerIdRequest>(out, id, version, &resp)?;
        }
        ApiKey::Produce => {
            let req = ProduceRequest::decode_from_bytes(body, version)?;
            tally.produce_requests += 1;
            if sink.verbose && tally.produce_requests == 1 {
                let magic = req
                    .topic_data
                    .first()
                    .and_then(|t| t.partition_data.first())
                    .and_then(|p| p.records.as_ref())
                    .and_then(|r| r.get(16).copied());
                eprintln!("sink: first Produce v{version}, record batch magic {magic:?}");
            }
            let acks = req.acks;
            let mut responses = Vec::with_capacity(req.topic_data.len());
            for topic in req.topic_data {
                let offsets = sink.partition_offsets(&topic.name);
                let partition_responses = topic
                    .partition_data
                    .iter()
                    .map(|p| {
                        let data = p.records.as_deref().unwrap_or_default();
                        let (batches, records) = count_records(data);
                        tally.batches += batches;
                        tally.records += records;
                        tally.bytes += data.len() as u64;
                        let (error_code, base_offset) = match offsets.get(p.index as usize) {
                            Some(next) => (0, next.fetch_add(records, Ordering::Relaxed)),
                            // UNKNOWN_TOPIC_OR_PARTITION
                            None => (3, -1),
                        };
                        PartitionProduceResponse::default()
                            .with_index(p.index)
                            .with_error_code(error_code)
                            .with_base_offset(base_offset)
                            .with_log_append_time_ms(-1)
                            .with_log_start_offset(0)
                    })
                    .collect();
                responses.push(
                    TopicProduceResponse::default()
                        .with_name(topic.name)
                        .with_partition_responses(partition_responses),
                );
            }
            if acks != 0 {
                let resp = ProduceResponse::default().with_responses(responses);
                encode_response::<ProduceRequest>(out, id, version, &resp)?;
            }
        }
        other => return Err(format!("the sink does not answer {other:?} v{version}").into()),
    }
    Ok(())
}

/// Batches and records in a partition's record batches (v2): records are
/// the sum of each batch's last offset delta + 1, read from the batch
/// headers alone.
fn count_records(mut data: &[u8]) -> (u64, i64) {
    let mut batches = 0u64;
    let mut records = 0i64;
    // baseOffset (8) batchLength (4) leaderEpoch (4) magic (1) crc (4)
    // attributes (2) lastOffsetDelta (4)
    while let (Some(len), Some(delta)) = (data.get(8..12), data.get(23..27)) {
        let len = i32::from_be_bytes([len[0], len[1], len[2], len[3]]).max(0) as usize;
        batches += 1;
        records += i64::from(i32::from_be_bytes([delta[0], delta[1], delta[2], delta[3]])) + 1;
        data = data.get(12 + len..).unwrap_or_default();
    }
    (batches, records)
}
