//! Writes the seed corpora of gregor-protocol's fuzz targets.
//!
//! `gregor-protocol-fuzz-seeds CORPUS_DIR [GOLDEN_DIR]` writes
//! `CORPUS_DIR/<target>/seed-*`: a valid input of every API at every
//! version (for `request` and `response`), record batches in every codec,
//! legacy message sets, frames, request headers and consumer protocol
//! schemas, all in the input layout each target reads (see `src/common.rs`).
//! With `GOLDEN_DIR`, every file under it (raw bytes, or hex runs in a text
//! file such as JSON) is also classified as whatever it decodes as: a frame,
//! a request, a response of some API, a record batch, and the record
//! batches inside Produce requests and Fetch responses are pulled out.
//!
//! Run by `cargo xtask fuzz` before fuzzing.

use std::collections::BTreeSet;
use std::fs;
use std::path::{Path, PathBuf};

use bytes::{Bytes, BytesMut};
use gregor_protocol::messages::api_versions_response::ApiVersion;
use gregor_protocol::messages::fetch_response::{FetchableTopicResponse, PartitionData};
use gregor_protocol::messages::join_group_request::JoinGroupRequestProtocol;
use gregor_protocol::messages::metadata_request::MetadataRequestTopic;
use gregor_protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
use gregor_protocol::messages::sync_group_request::SyncGroupRequestAssignment;
use gregor_protocol::messages::{
    ApiVersionsRequest, ApiVersionsResponse, ConsumerProtocolAssignment,
    ConsumerProtocolSubscription, FetchResponse, JoinGroupRequest, MetadataRequest, ProduceRequest,
    RequestBody, RequestHeader, ResponseBody, SyncGroupRequest,
};
use gregor_protocol::records::{
    Compression, ControlRecord, Header, Record, RecordBatchBuilder, TimestampType, decode_records,
    encode_message_set,
};
use gregor_protocol::{ApiKey, Decode, Message};

#[path = "../../src/common.rs"]
mod common;

/// The seeds of one target, deduplicated.
#[derive(Default)]
struct Corpus {
    seeds: BTreeSet<Vec<u8>>,
}

#[derive(Default)]
struct Corpora {
    frame: Corpus,
    request: Corpus,
    response: Corpus,
    request_header: Corpus,
    record_batch: Corpus,
    message_set: Corpus,
    consumer_protocol: Corpus,
}

impl Corpus {
    fn add(&mut self, seed: impl Into<Vec<u8>>) {
        self.seeds.insert(seed.into());
    }
}

impl Corpora {
    fn write(&self, root: &Path) -> Result<usize, String> {
        let mut total = 0;
        for (name, corpus) in [
            ("frame", &self.frame),
            ("request", &self.request),
            ("response", &self.response),
            ("request_header", &self.request_header),
            ("record_batch", &self.record_batch),
            ("message_set", &self.message_set),
            ("consumer_protocol", &self.consumer_protocol),
        ] {
            let dir = root.join(name);
            fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
            for (i, seed) in corpus.seeds.iter().enumerate() {
                let path = dir.join(format!("seed-{i:04}"));
                fs::write(&path, seed).map_err(|e| format!("{}: {e}", path.display()))?;
            }
            println!("  {name}: {} seeds", corpus.seeds.len());
            total += corpus.seeds.len();
        }
        Ok(total)
    }

    /// A request body: the `request` seed, and its frame for `frame` and
    /// `request_header`.
    fn request(&mut self, body: &RequestBody, version: i16) {
        let Ok(bytes) = body.encode(version) else {
            return;
        };
        let api = body.api_key();
        self.request
            .add([&common::api_prefix(api, version)[..], &bytes].concat());
        let header = RequestHeader::default()
            .with_request_api_key(api.code())
            .with_request_api_version(version)
            .with_correlation_id(7)
            .with_client_id(Some("fuzz-seed".into()));
        let Ok(h) = header.encode_to_bytes(api.request_header_version(version)) else {
            return;
        };
        let frame = [&h[..], &bytes].concat();
        self.request_header.add(frame.clone());
        let mut framed = vec![0x7f, 0xff, version as u8];
        framed.extend_from_slice(&(frame.len() as i32).to_be_bytes());
        framed.extend_from_slice(&frame);
        self.frame.add(framed);
    }

    fn response(&mut self, body: &ResponseBody, version: i16) {
        if let Ok(bytes) = body.encode(version) {
            self.response
                .add([&common::api_prefix(body.api_key(), version)[..], &bytes].concat());
        }
    }

    /// A v2 batch or batches, with the flag combinations that keep it valid.
    fn batches(&mut self, bytes: &[u8], single: bool) {
        for flags in [common::VERIFY_CRC, 0, common::TINY_LIMIT] {
            self.record_batch.add([&[flags][..], bytes].concat());
        }
        if single {
            let fix = common::FIX | common::VERIFY_CRC;
            self.record_batch.add([&[fix][..], bytes].concat());
        }
    }
}

fn main() {
    let mut args = std::env::args_os().skip(1);
    let Some(root) = args.next().map(PathBuf::from) else {
        eprintln!("usage: gregor-protocol-fuzz-seeds CORPUS_DIR [GOLDEN_DIR]");
        std::process::exit(2);
    };
    let golden = args.next().map(PathBuf::from);
    let mut c = Corpora::default();
    every_api(&mut c);
    messages(&mut c);
    records(&mut c);
    legacy(&mut c);
    frames(&mut c);
    consumer_protocol(&mut c);
    if let Some(dir) = golden {
        let n = golden_files(&mut c, &dir);
        println!("seeds: {n} golden files read from {}", dir.display());
    }
    match c.write(&root) {
        Ok(n) => println!("seeds: {n} written under {}", root.display()),
        Err(e) => {
            eprintln!("error: {e}");
            std::process::exit(1);
        }
    }
}

/// Some valid body of every request and response at every version: the
/// shortest run of 0x00 or of 0x01 bytes that decodes (zero-length arrays
/// and strings, or compact ones), re-encoded.
fn every_api(c: &mut Corpora) {
    for &api in ApiKey::ALL {
        let range = api.versions();
        for version in range.min..=range.max {
            'req: for fill in [0u8, 1] {
                for len in 0..64 {
                    let body = Bytes::from(vec![fill; len]);
                    if let Ok(b) = RequestBody::decode(api, version, body) {
                        c.request(&b, version);
                        break 'req;
                    }
                }
            }
            'resp: for fill in [0u8, 1] {
                for len in 0..64 {
                    let body = Bytes::from(vec![fill; len]);
                    if let Ok(b) = ResponseBody::decode(api, version, body) {
                        c.response(&b, version);
                        break 'resp;
                    }
                }
            }
        }
    }
}

/// A few messages with content, at every version they encode at.
fn messages(c: &mut Corpora) {
    let mut batch = RecordBatchBuilder::new().compression(Compression::Lz4);
    let _ = batch.append(1_700_000_000_000, Some(b"k"), Some(b"v"), &[]);
    let records = batch.build().ok();
    let requests = [
        RequestBody::from(
            ApiVersionsRequest::default()
                .with_client_software_name("gregor")
                .with_client_software_version("0.1.0"),
        ),
        RequestBody::from(
            MetadataRequest::default()
                .with_topics(Some(vec![
                    MetadataRequestTopic::default().with_name(Some("orders".into())),
                ]))
                .with_allow_auto_topic_creation(true),
        ),
        RequestBody::from(
            ProduceRequest::default()
                .with_acks(-1)
                .with_timeout_ms(30_000)
                .with_topic_data(vec![
                    TopicProduceData::default()
                        .with_name("orders")
                        .with_partition_data(vec![
                            PartitionProduceData::default()
                                .with_index(3)
                                .with_records(records.clone()),
                        ]),
                ]),
        ),
        RequestBody::from(
            JoinGroupRequest::default()
                .with_group_id("group")
                .with_session_timeout_ms(45_000)
                .with_rebalance_timeout_ms(300_000)
                .with_protocol_type("consumer")
                .with_protocols(vec![
                    JoinGroupRequestProtocol::default()
                        .with_name("range")
                        .with_metadata(&b"\x00\x01\x00\x00\x00\x01\x00\x01t"[..]),
                ]),
        ),
        RequestBody::from(
            SyncGroupRequest::default()
                .with_group_id("group")
                .with_generation_id(3)
                .with_member_id("member-1")
                .with_assignments(vec![
                    SyncGroupRequestAssignment::default()
                        .with_member_id("member-1")
                        .with_assignment(&b"\x00\x01\x00\x00\x00\x00"[..]),
                ]),
        ),
    ];
    let responses = [
        ResponseBody::from(
            ApiVersionsResponse::default().with_api_keys(
                ApiKey::ALL
                    .iter()
                    .map(|a| {
                        ApiVersion::default()
                            .with_api_key(a.code())
                            .with_min_version(a.versions().min)
                            .with_max_version(a.versions().max)
                    })
                    .collect(),
            ),
        ),
        ResponseBody::from(FetchResponse::default().with_responses(vec![
                FetchableTopicResponse::default()
                    .with_topic("orders")
                    .with_partitions(vec![
                        PartitionData::default()
                            .with_partition_index(3)
                            .with_high_watermark(10)
                            .with_records(records),
                    ]),
            ])),
    ];
    for body in &requests {
        let range = body.api_key().versions();
        for version in range.min..=range.max {
            c.request(body, version);
        }
    }
    for body in &responses {
        let range = body.api_key().versions();
        for version in range.min..=range.max {
            c.response(body, version);
        }
    }
}

fn sample_records() -> Vec<Record> {
    let mut out = Vec::new();
    for (i, (key, value)) in [
        (Some(&b"key-0"[..]), Some(&b"value-0"[..])),
        (None, Some(&b"a value with a null key"[..])),
        (Some(&b"key-2"[..]), None),
        (
            Some(&b"key-3"[..]),
            Some(&b"compressible compressible compressible"[..]),
        ),
    ]
    .into_iter()
    .enumerate()
    {
        out.push(Record {
            offset: i as i64,
            timestamp: 1_700_000_000_000 + i as i64,
            key: key.map(Bytes::copy_from_slice),
            value: value.map(Bytes::copy_from_slice),
            ..Record::default()
        });
    }
    out
}

const CODECS: [Compression; 5] = [
    Compression::None,
    Compression::GZIP,
    Compression::Snappy,
    Compression::Lz4,
    Compression::ZSTD,
];

/// v2 batches in every codec, with headers, a transaction marker, log
/// append time, two batches in a row and one cut short.
fn records(c: &mut Corpora) {
    let mut all = Vec::new();
    for codec in CODECS {
        for ts in [TimestampType::CreateTime, TimestampType::LogAppendTime] {
            let mut b = RecordBatchBuilder::new()
                .compression(codec)
                .timestamp_type(ts)
                .base_offset(100)
                .producer_state(42, 1, 7);
            for r in sample_records() {
                let _ = b.append(
                    r.timestamp,
                    r.key.as_deref(),
                    r.value.as_deref(),
                    &[Header::new("h1", "v1"), Header::null("null")],
                );
            }
            if let Ok(bytes) = b.build() {
                c.batches(&bytes, true);
                all.extend_from_slice(&bytes);
            }
        }
    }
    let mut marker = RecordBatchBuilder::new()
        .transactional(true)
        .producer_state(42, 1, 0);
    if marker
        .append_control(1_700_000_000_000, ControlRecord::commit(5))
        .is_ok()
        && let Ok(bytes) = marker.build()
    {
        c.batches(&bytes, true);
    }
    if let Ok(bytes) = RecordBatchBuilder::new().build() {
        c.batches(&bytes, true);
    }
    c.batches(&all, false);
    c.batches(&all[..all.len() - 9], false);
}

/// Legacy message sets: magic 0 and 1, plain and in each codec they allow.
fn legacy(c: &mut Corpora) {
    for magic in [0i8, 1] {
        for codec in &CODECS[..4] {
            for ts in [TimestampType::CreateTime, TimestampType::LogAppendTime] {
                let mut out = BytesMut::new();
                if encode_message_set(&mut out, magic, *codec, ts, &sample_records()).is_err() {
                    continue;
                }
                let magic_flag = if magic == 1 { common::MAGIC_1 } else { 0 };
                let plain = codec.is_none();
                for flags in [common::VERIFY_CRC, 0, common::TINY_LIMIT] {
                    c.message_set
                        .add([&[flags | magic_flag][..], &out].concat());
                }
                if !plain {
                    // One wrapper message: the fix-up keeps it valid.
                    let fix = common::FIX | common::VERIFY_CRC | magic_flag;
                    c.message_set.add([&[fix][..], &out].concat());
                }
                c.record_batch
                    .add([&[common::VERIFY_CRC][..], &out].concat());
            }
        }
    }
}

/// Frame streams: several frames, the wrong-port signatures, sizes around
/// the limit.
fn frames(c: &mut Corpora) {
    let mut stream = Vec::new();
    for body in [&b""[..], b"\x00\x00\x00\x07\x00", b"hello"] {
        stream.extend_from_slice(&(body.len() as i32).to_be_bytes());
        stream.extend_from_slice(body);
    }
    for max in [[0xff, 0xff], [0, 5], [0, 0], [0x10, 0]] {
        c.frame.add([&max[..], &[3], &stream].concat());
    }
    for foreign in [
        &b"HTTP/1.1 400 Bad Request\r\n\r\n"[..],
        b"GET / HTTP/1.1\r\n",
        b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n",
        b"\x15\x03\x03\x00\x02\x02\x46",
        b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03",
        b"\xff\xff\xff\xfe\x01",
    ] {
        c.frame.add([&[0xff, 0xff, 9][..], foreign].concat());
    }
}

fn consumer_protocol(c: &mut Corpora) {
    use gregor_protocol::messages::consumer_protocol_assignment::TopicPartition as AssignedPartition;
    use gregor_protocol::messages::consumer_protocol_subscription::TopicPartition as OwnedPartition;
    let sub = ConsumerProtocolSubscription::default()
        .with_topics(vec!["orders".into(), "payments".into()])
        .with_user_data(Some(Bytes::from_static(b"user")))
        .with_owned_partitions(vec![
            OwnedPartition::default()
                .with_topic("orders")
                .with_partitions(vec![0, 2]),
        ])
        .with_generation_id(4)
        .with_rack_id(Some("rack-a".into()));
    let assign = ConsumerProtocolAssignment::default()
        .with_assigned_partitions(vec![
            AssignedPartition::default()
                .with_topic("orders")
                .with_partitions(vec![0, 1, 2]),
        ])
        .with_user_data(Some(Bytes::from_static(b"user")));
    for version in 0..=3i16 {
        for (which, bytes) in [
            (0u8, sub.encode_to_bytes(version)),
            (
                0,
                ConsumerProtocolSubscription::default().encode_to_bytes(version),
            ),
            (1, assign.encode_to_bytes(version)),
            (
                1,
                ConsumerProtocolAssignment::default().encode_to_bytes(version),
            ),
        ] {
            // Fields a version lacks fail to encode: skip those.
            if let Ok(bytes) = bytes {
                c.consumer_protocol
                    .add([&[which, version as u8][..], &bytes].concat());
            }
        }
    }
}

/// Reads every file under `dir` (recursively) and adds what decodes.
fn golden_files(c: &mut Corpora, dir: &Path) -> usize {
    let mut files = 0;
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(entries) = fs::read_dir(&d) else {
            continue;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            if path.is_dir() {
                stack.push(path);
                continue;
            }
            if path
                .extension()
                .is_some_and(|e| e == "py" || e == "md" || e == "sh")
            {
                continue;
            }
            let Ok(data) = fs::read(&path) else {
                continue;
            };
            files += 1;
            if let Some(hint) = path
                .file_name()
                .and_then(|n| n.to_str())
                .and_then(name_hint)
            {
                golden_named(c, &data, hint);
            }
            for blob in blobs(&data) {
                golden_blob(c, &blob);
            }
        }
    }
    files
}

/// What a capture's name says: `NNN-<ApiName>-v<version>-request.bin` or
/// `...-response.bin` (see `testdata/golden/README.md`).
#[derive(Debug, Clone, Copy)]
struct Hint {
    api: ApiKey,
    version: i16,
    response: bool,
}

fn name_hint(name: &str) -> Option<Hint> {
    let stem = name.strip_suffix(".bin")?;
    let (rest, response) = match stem.strip_suffix("-response") {
        Some(r) => (r, true),
        None => (stem.strip_suffix("-request")?, false),
    };
    let (rest, version) = rest.rsplit_once("-v")?;
    let version = version.parse().ok()?;
    let (_, api_name) = rest.split_once('-')?;
    let api = *ApiKey::ALL.iter().find(|a| a.name() == api_name)?;
    Some(Hint {
        api,
        version,
        response,
    })
}

/// A capture whose name gives its API and version: one frame without its
/// size prefix. The response body follows the response header, whose
/// version depends on the API.
fn golden_named(c: &mut Corpora, frame: &[u8], hint: Hint) {
    if !hint.response {
        // Requests carry their own API key; `golden_blob` handles them.
        return;
    }
    let header_version = hint.api.response_header_version(hint.version);
    let mut r = gregor_protocol::Reader::new(Bytes::copy_from_slice(frame));
    if gregor_protocol::messages::ResponseHeader::decode(&mut r, header_version).is_err() {
        return;
    }
    let body = r.take_rest();
    c.response
        .add([&common::api_prefix(hint.api, hint.version)[..], &body].concat());
    match ResponseBody::decode(hint.api, hint.version, body) {
        Ok(ResponseBody::Fetch(f)) => {
            for records in f
                .responses
                .iter()
                .flat_map(|t| &t.partitions)
                .filter_map(|p| p.records.as_ref())
            {
                add_records(c, records);
            }
        }
        Ok(ResponseBody::SyncGroup(s)) => add_consumer_protocol(c, 1, &s.assignment),
        _ => {}
    }
}

/// A consumer protocol schema as JoinGroup and SyncGroup carry it, an
/// int16 version then the body, as a `consumer_protocol` input.
fn add_consumer_protocol(c: &mut Corpora, which: u8, bytes: &[u8]) {
    if let Some(([hi, lo], body)) = bytes.split_first_chunk::<2>() {
        let version = i16::from_be_bytes([*hi, *lo]).clamp(0, 3);
        c.consumer_protocol
            .add([&[which, version as u8][..], body].concat());
    }
}

/// The byte strings in a golden file: the whole file when it is binary, the
/// hex runs in it when it is text.
fn blobs(data: &[u8]) -> Vec<Vec<u8>> {
    let Ok(text) = std::str::from_utf8(data) else {
        return vec![data.to_vec()];
    };
    let mut out = Vec::new();
    let mut run = String::new();
    for ch in text.chars().chain(std::iter::once(' ')) {
        if ch.is_ascii_hexdigit() {
            run.push(ch);
            continue;
        }
        if run.len() >= 16 && run.len().is_multiple_of(2) {
            let bytes: Option<Vec<u8>> = (0..run.len())
                .step_by(2)
                .map(|i| u8::from_str_radix(&run[i..i + 2], 16).ok())
                .collect();
            out.extend(bytes);
        }
        run.clear();
    }
    out
}

/// Classifies one captured byte string.
fn golden_blob(c: &mut Corpora, blob: &[u8]) {
    if blob.len() > 1 << 20 {
        return;
    }
    // A size-prefixed frame, or a frame body.
    let body: &[u8] = match blob.first_chunk::<4>() {
        Some(size) if i32::from_be_bytes(*size) as i64 == blob.len() as i64 - 4 => {
            c.frame.add([&[0x7f, 0xff, 1][..], blob].concat());
            &blob[4..]
        }
        _ => {
            let mut framed = vec![0x7f, 0xff, 1];
            framed.extend_from_slice(&(blob.len() as i32).to_be_bytes());
            framed.extend_from_slice(blob);
            c.frame.add(framed);
            blob
        }
    };
    let frame = Bytes::copy_from_slice(body);

    // A request frame.
    if let Ok((header, rest)) = gregor_protocol::request::decode_request_header(&frame)
        && let Some(api) = ApiKey::from_code(header.request_api_key)
    {
        c.request_header.add(body);
        let version = header.request_api_version;
        if api.versions().contains(version) {
            c.request
                .add([&common::api_prefix(api, version)[..], &rest].concat());
            match RequestBody::decode(api, version, rest) {
                Ok(RequestBody::Produce(p)) => {
                    for records in p
                        .topic_data
                        .iter()
                        .flat_map(|t| &t.partition_data)
                        .filter_map(|p| p.records.as_ref())
                    {
                        add_records(c, records);
                    }
                }
                Ok(RequestBody::JoinGroup(j)) => {
                    for p in &j.protocols {
                        add_consumer_protocol(c, 0, &p.metadata);
                    }
                }
                Ok(RequestBody::SyncGroup(s)) => {
                    for a in &s.assignments {
                        add_consumer_protocol(c, 1, &a.assignment);
                    }
                }
                _ => {}
            }
        }
    }

    // A response frame of some API: after the correlation id, and after a
    // flexible header's empty tag buffer. The first few APIs it decodes as.
    let mut found = 0;
    for skip in [4, 5] {
        let Some(rest) = body.get(skip..) else {
            continue;
        };
        for &api in ApiKey::ALL {
            let range = api.versions();
            for version in range.min..=range.max {
                if found >= 4 {
                    return;
                }
                let Ok(resp) = ResponseBody::decode(api, version, Bytes::copy_from_slice(rest))
                else {
                    continue;
                };
                found += 1;
                c.response
                    .add([&common::api_prefix(api, version)[..], rest].concat());
                if let ResponseBody::Fetch(f) = resp {
                    for records in f
                        .responses
                        .iter()
                        .flat_map(|t| &t.partitions)
                        .filter_map(|p| p.records.as_ref())
                    {
                        add_records(c, records);
                    }
                }
            }
        }
    }

    // The bytes themselves, as records.
    if blob.len() > 16 {
        add_records(c, &Bytes::copy_from_slice(blob));
    }
}

/// Records bytes from a capture: to `record_batch`, and to `message_set`
/// when they are legacy.
fn add_records(c: &mut Corpora, records: &Bytes) {
    let options = common::decode_options(common::VERIFY_CRC);
    let Ok(decoded) = decode_records(records.clone(), &options) else {
        return;
    };
    if decoded.batches.is_empty() {
        return;
    }
    c.batches(
        records,
        decoded.batches.len() == 1 && decoded.partial.is_none(),
    );
    if decoded.batches.iter().any(|b| b.magic != 2) {
        c.message_set
            .add([&[common::VERIFY_CRC][..], &records[..]].concat());
    }
}
