//! Codec throughput: Gregor's record batches, Fetch responses and Produce
//! requests against the same work done by the `kafka-protocol` crate.
//!
//! Every case is built from one set of records (a ~16-byte key, a value of
//! 100 B or 1 KB of compressible text, one small header) shared by both
//! libraries. Decode cases decode the very same bytes with both, and check
//! once, before timing, that both decode them to the records they came
//! from. Throughput is always counted in bytes of the *uncompressed* v2
//! encoding, so MB/s figures of different codecs compare the work done per
//! record, not the compressed size.
//!
//! Run: `cargo bench -p gregor-protocol --bench codec`; a quick pass:
//! `cargo bench -p gregor-protocol --bench codec -- --warm-up-time 1
//! --measurement-time 3` (a regex after `--` selects cases, e.g. `/none`).
//! `GREGOR_BENCH_CLOCK=cpu` times with the thread's CPU time instead of the
//! wall clock, for a machine busy with other work. `benches/report.py`
//! turns the results into the table of `BENCHMARKS.md`.

use std::cell::{OnceCell, RefCell};
use std::collections::BTreeMap;
use std::hint::black_box;
use std::io::Write as _;
use std::path::PathBuf;
use std::time::Duration;

use bytes::{BufMut as _, Bytes, BytesMut};
use criterion::measurement::{Measurement, ValueFormatter, WallTime};
use criterion::{BenchmarkGroup, Criterion, Throughput};

use gregor_protocol::messages::fetch_response::{FetchableTopicResponse, PartitionData};
use gregor_protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
use gregor_protocol::messages::{FetchResponse, ProduceRequest};
use gregor_protocol::records::{
    Compression, DecodeOptions, DecodedRecords, Header, Record, RecordBatch, RecordBatchBuilder,
    decode_records,
};
use gregor_protocol::request::{decode_request_header, encode_request};
use gregor_protocol::{Message as _, Uuid};

use kafka_protocol::indexmap::IndexMap;
use kafka_protocol::messages as kpm;
use kafka_protocol::protocol::{Decodable as _, Encodable as _, StrBytes as KStrBytes};
use kafka_protocol::records as kpr;

/// Bytes of records one batch is filled to.
const BATCH_TARGET: usize = 1 << 20;
/// Partitions in the Fetch response and Produce request cases, one batch each.
const PARTITIONS: usize = 4;
/// The first record's timestamp.
const BASE_TS: i64 = 1_700_000_000_000;
const TOPIC: &str = "bench-topic";
const CLIENT_ID: &str = "bench-client";

/// Highest version both libraries speak (each crate's latest may differ).
fn produce_version() -> i16 {
    use kafka_protocol::protocol::Message as _;
    ProduceRequest::VERSIONS
        .max
        .min(kpm::ProduceRequest::VERSIONS.max)
}

fn fetch_version() -> i16 {
    use kafka_protocol::protocol::Message as _;
    FetchResponse::VERSIONS
        .max
        .min(kpm::FetchResponse::VERSIONS.max)
}

#[derive(Clone, Copy)]
struct Codec {
    name: &'static str,
    gregor: Compression,
    kp: kpr::Compression,
}

const CODECS: [Codec; 5] = [
    Codec {
        name: "none",
        gregor: Compression::None,
        kp: kpr::Compression::None,
    },
    Codec {
        name: "gzip",
        gregor: Compression::GZIP,
        kp: kpr::Compression::Gzip,
    },
    Codec {
        name: "snappy",
        gregor: Compression::Snappy,
        kp: kpr::Compression::Snappy,
    },
    Codec {
        name: "lz4",
        gregor: Compression::Lz4,
        kp: kpr::Compression::Lz4,
    },
    Codec {
        name: "zstd",
        gregor: Compression::ZSTD,
        kp: kpr::Compression::Zstd,
    },
];

/// Value sizes: (label, bytes).
const SIZES: [(&str, usize); 2] = [("100B", 100), ("1KB", 1000)];

/// A deterministic xorshift generator, so every run sees the same bytes.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

/// Text of `len` bytes that compresses about as well as log lines or JSON
/// (words from a small vocabulary mixed with numbers).
fn text(rng: &mut Rng, len: usize) -> Bytes {
    const WORDS: [&str; 32] = [
        "user",
        "order",
        "click",
        "view",
        "session",
        "id",
        "amount",
        "currency",
        "EUR",
        "USD",
        "status",
        "ok",
        "error",
        "retry",
        "region",
        "eu-west",
        "us-east",
        "device",
        "mobile",
        "desktop",
        "price",
        "item",
        "cart",
        "checkout",
        "latency",
        "ms",
        "true",
        "false",
        "null",
        "timestamp",
        "event",
        "payload",
    ];
    let mut s = Vec::with_capacity(len + 24);
    while s.len() < len {
        let r = rng.next();
        if r.is_multiple_of(4) {
            let _ = write!(s, "{} ", (r >> 8) % 1_000_000);
        } else {
            s.extend_from_slice(WORDS[(r >> 8) as usize % WORDS.len()].as_bytes());
            s.push(if r & 0x100 == 0 { b' ' } else { b',' });
        }
    }
    s.truncate(len);
    Bytes::from(s)
}

/// The same records for both libraries (sharing the key and value bytes).
struct Records {
    gregor: Vec<Record>,
    kp: Vec<kpr::Record>,
}

fn make_records(value_len: usize, base_offset: i64, seed: u64) -> Records {
    // ~16 B key, one header of 8 + 8 bytes, ~10 B of record framing.
    let count = BATCH_TARGET / (value_len + 16 + 16 + 12);
    let mut rng = Rng(seed | 1);
    let mut gregor = Vec::with_capacity(count);
    let mut kp = Vec::with_capacity(count);
    for i in 0..count {
        let offset = base_offset + i as i64;
        let ts = BASE_TS + (i as i64) * 3;
        let key = Bytes::from(format!("key-{:012}", rng.next() % 1_000_000_000_000));
        let value = text(&mut rng, value_len);
        let hkey = Bytes::from_static(b"trace-id");
        let hval = Bytes::from(format!("{:08x}", rng.next() as u32));
        gregor.push(Record {
            offset,
            timestamp: ts,
            key: Some(key.clone()),
            value: Some(value.clone()),
            headers: vec![Header {
                key: hkey.clone(),
                value: Some(hval.clone()),
            }],
        });
        let mut headers = IndexMap::with_capacity(1);
        headers.insert(
            KStrBytes::from_utf8(hkey).expect("utf-8 header key"),
            Some(hval),
        );
        kp.push(kpr::Record {
            transactional: false,
            control: false,
            delete_horizon: false,
            partition_leader_epoch: kpr::NO_PARTITION_LEADER_EPOCH,
            producer_id: kpr::NO_PRODUCER_ID,
            producer_epoch: kpr::NO_PRODUCER_EPOCH,
            // kafka-protocol keeps records in one batch only while
            // offset - sequence is constant; this makes the batch's base
            // sequence -1 (no idempotence), as Gregor writes it.
            sequence: (i as i32) - 1,
            timestamp_type: kpr::TimestampType::Creation,
            offset,
            timestamp: ts,
            key: Some(key),
            value: Some(value),
            headers,
        });
    }
    Records { gregor, kp }
}

fn gregor_batch(records: &Records, compression: Compression) -> RecordBatch {
    let mut batch = RecordBatch::from_records(records.gregor.clone());
    batch.compression = compression;
    batch
}

fn kp_options(codec: Codec) -> kpr::RecordEncodeOptions {
    kpr::RecordEncodeOptions {
        version: 2,
        compression: codec.kp,
    }
}

fn kp_encode(records: &[kpr::Record], codec: Codec, capacity: usize) -> BytesMut {
    let mut buf = BytesMut::with_capacity(capacity);
    kpr::RecordBatchEncoder::encode(&mut buf, records, &kp_options(codec)).expect("kp encode");
    buf
}

fn gregor_encode(batch: &RecordBatch, capacity: usize) -> BytesMut {
    let mut buf = BytesMut::with_capacity(capacity);
    batch.encode(&mut buf).expect("gregor encode");
    buf
}

fn gregor_build(records: &[Record], compression: Compression, capacity: usize) -> Bytes {
    let mut b = RecordBatchBuilder::with_capacity(capacity).compression(compression);
    for r in records {
        b.append(
            r.timestamp,
            r.key.as_deref(),
            r.value.as_deref(),
            &r.headers,
        )
        .expect("append");
    }
    b.build().expect("build")
}

/// Sums key, value and header lengths so every record is really decoded.
fn touch_gregor(d: &DecodedRecords) -> usize {
    d.records()
        .map(|r| {
            r.key.as_ref().map_or(0, Bytes::len)
                + r.value.as_ref().map_or(0, Bytes::len)
                + r.headers
                    .iter()
                    .map(|h| h.key.len() + h.value.as_ref().map_or(0, Bytes::len))
                    .sum::<usize>()
        })
        .sum()
}

fn touch_kp(sets: &[kpr::RecordSet]) -> usize {
    sets.iter()
        .flat_map(|s| s.records.iter())
        .map(|r| {
            r.key.as_ref().map_or(0, Bytes::len)
                + r.value.as_ref().map_or(0, Bytes::len)
                + r.headers
                    .iter()
                    .map(|(k, v)| k.len() + v.as_ref().map_or(0, Bytes::len))
                    .sum::<usize>()
        })
        .sum()
}

fn gregor_decode(bytes: &Bytes) -> usize {
    let d = decode_records(bytes.clone(), &DecodeOptions::default()).expect("gregor decode");
    touch_gregor(&d)
}

fn kp_decode(bytes: &Bytes) -> usize {
    let mut b = bytes.clone();
    let sets = kpr::RecordBatchDecoder::decode_all(&mut b).expect("kp decode");
    touch_kp(&sets)
}

/// A record as both libraries can present it, to compare their decodes.
type Plain = (
    i64,
    i64,
    Option<Bytes>,
    Option<Bytes>,
    Vec<(Bytes, Option<Bytes>)>,
);

fn plain_gregor<'a>(records: impl Iterator<Item = &'a Record>) -> Vec<Plain> {
    records
        .map(|r| {
            (
                r.offset,
                r.timestamp,
                r.key.clone(),
                r.value.clone(),
                r.headers
                    .iter()
                    .map(|h| (h.key.clone(), h.value.clone()))
                    .collect(),
            )
        })
        .collect()
}

fn plain_kp<'a>(records: impl Iterator<Item = &'a kpr::Record>) -> Vec<Plain> {
    records
        .map(|r| {
            (
                r.offset,
                r.timestamp,
                r.key.clone(),
                r.value.clone(),
                r.headers
                    .iter()
                    .map(|(k, v)| (Bytes::from(k.clone()), v.clone()))
                    .collect(),
            )
        })
        .collect()
}

/// Checks that both libraries decode `bytes` to `expected`.
fn check_batch(bytes: &Bytes, expected: &[Record], what: &str) {
    let g = decode_records(bytes.clone(), &DecodeOptions::default()).expect("gregor decode");
    assert!(g.partial.is_none(), "{what}: partial batch");
    let mut b = bytes.clone();
    let k = kpr::RecordBatchDecoder::decode_all(&mut b).expect("kp decode");
    let want = plain_gregor(expected.iter());
    assert_eq!(plain_gregor(g.records()), want, "{what}: gregor decode");
    assert_eq!(
        plain_kp(k.iter().flat_map(|s| s.records.iter())),
        want,
        "{what}: kafka-protocol decode"
    );
}

/// One value size with its partitions' records and uncompressed sizes.
struct Case {
    label: &'static str,
    /// One record set per partition; the batch cases use the first.
    parts: Vec<Records>,
    /// Uncompressed v2 batch size of each partition.
    raw: Vec<usize>,
}

impl Case {
    fn new(label: &'static str, value_len: usize) -> Self {
        let parts: Vec<Records> = (0..PARTITIONS)
            .map(|p| make_records(value_len, (p as i64) * 1_000_000, 0x9E37_79B9 + p as u64))
            .collect();
        let raw: Vec<usize> = parts
            .iter()
            .map(|r| {
                let g = gregor_encode(&gregor_batch(r, Compression::None), 0);
                let k = kp_encode(&r.kp, CODECS[0], 0);
                // Same records, same header fields: the bytes must agree.
                assert_eq!(g, k, "{label}: uncompressed encodings differ");
                g.len()
            })
            .collect();
        Self { label, parts, raw }
    }

    fn records(&self) -> usize {
        self.parts.iter().map(|p| p.gregor.len()).sum()
    }
}

/// What `benches/report.py` needs besides criterion's own output: per
/// group, the records and uncompressed bytes of one iteration, and a note
/// (version, encoded sizes) filled in when the group's setup runs.
#[derive(Default)]
struct Sidecar {
    rows: RefCell<BTreeMap<String, (usize, usize, String)>>,
}

impl Sidecar {
    fn path() -> Option<PathBuf> {
        let dir = std::env::var_os("CRITERION_HOME")
            .map(PathBuf::from)
            .or_else(|| {
                // target/<profile>/deps/codec-<hash>
                let exe = std::env::current_exe().ok()?;
                Some(exe.parent()?.parent()?.parent()?.join("criterion"))
            })?;
        Some(dir.join("codec_cases.tsv"))
    }

    /// Starts from the last run's file, so a filtered run keeps the notes
    /// of the groups it skipped.
    fn load() -> Self {
        let sidecar = Self::default();
        if let Some(text) = Self::path().and_then(|p| std::fs::read_to_string(p).ok()) {
            for line in text.lines().skip(1) {
                let f: Vec<&str> = line.split('\t').collect();
                if let [group, records, bytes, note] = f[..]
                    && let (Ok(r), Ok(b)) = (records.parse(), bytes.parse())
                {
                    sidecar
                        .rows
                        .borrow_mut()
                        .insert(group.to_string(), (r, b, note.to_string()));
                }
            }
        }
        sidecar
    }

    fn add(&self, group: &str, records: usize, bytes: usize) {
        let mut rows = self.rows.borrow_mut();
        let row = rows
            .entry(group.to_string())
            .or_insert((records, bytes, String::new()));
        (row.0, row.1) = (records, bytes);
    }

    fn note(&self, group: &str, note: String) {
        if let Some(row) = self.rows.borrow_mut().get_mut(group) {
            row.2 = note;
        }
    }

    fn write(&self) {
        let Some(path) = Self::path() else { return };
        let mut out = String::from("group\trecords\tbytes\tnote\n");
        for (group, (records, bytes, note)) in self.rows.borrow().iter() {
            out.push_str(&format!("{group}\t{records}\t{bytes}\t{note}\n"));
        }
        if let Some(dir) = path.parent() {
            let _ = std::fs::create_dir_all(dir);
        }
        let _ = std::fs::write(path, out);
    }
}

fn group<'a, M: Measurement>(
    c: &'a mut Criterion<M>,
    name: &str,
    codec: Codec,
    bytes: usize,
) -> BenchmarkGroup<'a, M> {
    let mut g = c.benchmark_group(name);
    if codec.gregor.is_none() {
        g.sample_size(50);
    } else {
        // A compressed 1-4 MiB iteration takes milliseconds.
        g.sample_size(10);
    }
    g.throughput(Throughput::Bytes(bytes as u64));
    g
}

// Each group's setup (encoding, compressing, cross-checking) runs lazily on
// its first selected benchmark, so a filtered run only pays for its own.

fn bench_batches<M: Measurement>(c: &mut Criterion<M>, cases: &[Case], sidecar: &Sidecar) {
    for case in cases {
        let recs = &case.parts[0];
        let raw = case.raw[0];
        let n = recs.gregor.len();
        for codec in CODECS {
            let batch = gregor_batch(recs, codec.gregor);
            let encoded: OnceCell<Bytes> = OnceCell::new();
            let encoded = || {
                encoded.get_or_init(|| {
                    let encoded = gregor_encode(&batch, raw).freeze();
                    check_batch(&encoded, &recs.gregor, codec.name);
                    // The builder (producer path) and kafka-protocol write
                    // batches both libraries decode to the same records.
                    let built = gregor_build(&recs.gregor, codec.gregor, raw);
                    check_batch(&built, &recs.gregor, "gregor builder");
                    let kp_encoded = kp_encode(&recs.kp, codec, raw).freeze();
                    check_batch(&kp_encoded, &recs.gregor, "kafka-protocol encoder");
                    for op in ["encode", "decode"] {
                        sidecar.note(
                            &format!("batch_{op}/{}/{}", case.label, codec.name),
                            format!(
                                "gregor {} B, kafka-protocol {} B",
                                encoded.len(),
                                kp_encoded.len()
                            ),
                        );
                    }
                    encoded
                })
            };

            let name = format!("batch_encode/{}/{}", case.label, codec.name);
            sidecar.add(&name, n, raw);
            let mut g = group(c, &name, codec, raw);
            g.bench_function("gregor", |b| {
                encoded();
                b.iter(|| gregor_encode(black_box(&batch), raw))
            });
            g.bench_function("gregor-builder", |b| {
                encoded();
                b.iter(|| gregor_build(black_box(&recs.gregor), codec.gregor, raw))
            });
            g.bench_function("kafka-protocol", |b| {
                encoded();
                b.iter(|| kp_encode(black_box(&recs.kp), codec, raw))
            });
            g.finish();

            let name = format!("batch_decode/{}/{}", case.label, codec.name);
            sidecar.add(&name, n, raw);
            let mut g = group(c, &name, codec, raw);
            g.bench_function("gregor", |b| {
                let bytes = encoded();
                b.iter(|| gregor_decode(black_box(bytes)))
            });
            g.bench_function("kafka-protocol", |b| {
                let bytes = encoded();
                b.iter(|| kp_decode(black_box(bytes)))
            });
            g.finish();
        }
    }
}

fn fetch_response(batches: &[Bytes]) -> FetchResponse {
    let partitions = batches
        .iter()
        .enumerate()
        .map(|(i, b)| {
            PartitionData::default()
                .with_partition_index(i as i32)
                .with_high_watermark(10_000_000)
                .with_last_stable_offset(10_000_000)
                .with_log_start_offset(0)
                .with_preferred_read_replica(-1)
                .with_records(Some(b.clone()))
        })
        .collect();
    FetchResponse::default().with_responses(vec![
        FetchableTopicResponse::default()
            .with_topic(TOPIC)
            .with_topic_id(Uuid([7; 16]))
            .with_partitions(partitions),
    ])
}

fn gregor_fetch(bytes: &Bytes, version: i16) -> usize {
    let resp = FetchResponse::decode_from_bytes(bytes.clone(), version).expect("gregor fetch");
    let opts = DecodeOptions::default();
    resp.responses
        .iter()
        .flat_map(|t| t.partitions.iter())
        .filter_map(|p| p.records.clone())
        .map(|r| touch_gregor(&decode_records(r, &opts).expect("gregor records")))
        .sum()
}

fn kp_fetch(bytes: &Bytes, version: i16) -> usize {
    let mut b = bytes.clone();
    let resp = kpm::FetchResponse::decode(&mut b, version).expect("kp fetch");
    resp.responses
        .iter()
        .flat_map(|t| t.partitions.iter())
        .filter_map(|p| p.records.clone())
        .map(|mut r| touch_kp(&kpr::RecordBatchDecoder::decode_all(&mut r).expect("kp records")))
        .sum()
}

/// A Fetch response of one ~1 MiB batch per partition, encoded by Gregor,
/// checked to decode to the same partitions and records with both.
fn fetch_bytes(case: &Case, codec: Codec, version: i16) -> Bytes {
    let batches: Vec<Bytes> = case
        .parts
        .iter()
        .map(|p| gregor_encode(&gregor_batch(p, codec.gregor), 0).freeze())
        .collect();
    let bytes = fetch_response(&batches)
        .encode_to_bytes(version)
        .expect("encode fetch");
    let mut b = bytes.clone();
    let k = kpm::FetchResponse::decode(&mut b, version).expect("kp fetch");
    assert!(b.is_empty(), "kafka-protocol left bytes of the response");
    let kp_records: Vec<Bytes> = k.responses[0]
        .partitions
        .iter()
        .filter_map(|p| p.records.clone())
        .collect();
    assert_eq!(kp_records, batches, "fetch: kafka-protocol records fields");
    let g = FetchResponse::decode_from_bytes(bytes.clone(), version).expect("fetch");
    for (p, part) in g.responses[0].partitions.iter().enumerate() {
        let records = part.records.clone().expect("records");
        assert_eq!(records, batches[p], "fetch: gregor records field");
        check_batch(&records, &case.parts[p].gregor, "fetch");
    }
    assert_eq!(gregor_fetch(&bytes, version), kp_fetch(&bytes, version));
    bytes
}

fn bench_fetch<M: Measurement>(c: &mut Criterion<M>, cases: &[Case], sidecar: &Sidecar) {
    let version = fetch_version();
    for case in cases {
        let raw: usize = case.raw.iter().sum();
        for codec in CODECS {
            let name = format!("fetch_decode/{}/{}", case.label, codec.name);
            let bytes: OnceCell<Bytes> = OnceCell::new();
            let bytes = || {
                bytes.get_or_init(|| {
                    let bytes = fetch_bytes(case, codec, version);
                    sidecar.note(&name, format!("v{version}, {} B", bytes.len()));
                    bytes
                })
            };
            sidecar.add(&name, case.records(), raw);
            let mut g = group(c, &name, codec, raw);
            g.bench_function("gregor", |b| {
                let bytes = bytes();
                b.iter(|| gregor_fetch(black_box(bytes), version))
            });
            g.bench_function("kafka-protocol", |b| {
                let bytes = bytes();
                b.iter(|| kp_fetch(black_box(bytes), version))
            });
            g.finish();
        }
    }
}

fn gregor_produce(batches: &[RecordBatch], version: i16, capacity: usize) -> BytesMut {
    let partitions = batches
        .iter()
        .enumerate()
        .map(|(i, batch)| {
            let records = batch.to_bytes().expect("gregor batch");
            PartitionProduceData::default()
                .with_index(i as i32)
                .with_records(Some(records))
        })
        .collect();
    let req = ProduceRequest::default()
        .with_acks(-1)
        .with_timeout_ms(30_000)
        .with_topic_data(vec![
            TopicProduceData::default()
                .with_name(TOPIC)
                .with_partition_data(partitions),
        ]);
    let mut buf = BytesMut::with_capacity(capacity);
    encode_request(&mut buf, 42, Some(CLIENT_ID), version, &req).expect("encode produce");
    buf
}

/// kafka-protocol's encoder writes into the caller's buffer, so it gets
/// each batch's uncompressed size as capacity (Gregor's `to_bytes` sizes
/// its own buffer).
fn kp_produce(case: &Case, codec: Codec, version: i16, capacity: usize) -> BytesMut {
    use kafka_protocol::protocol::HeaderVersion as _;
    let partitions = case
        .parts
        .iter()
        .zip(&case.raw)
        .enumerate()
        .map(|(i, (p, &raw))| {
            let records = kp_encode(&p.kp, codec, raw).freeze();
            kpm::produce_request::PartitionProduceData::default()
                .with_index(i as i32)
                .with_records(Some(records))
        })
        .collect();
    let req = kpm::ProduceRequest::default()
        .with_acks(-1)
        .with_timeout_ms(30_000)
        .with_topic_data(vec![
            kpm::produce_request::TopicProduceData::default()
                .with_name(kpm::TopicName(KStrBytes::from_static_str(TOPIC)))
                .with_partition_data(partitions),
        ]);
    let header = kpm::RequestHeader::default()
        .with_request_api_key(0)
        .with_request_api_version(version)
        .with_correlation_id(42)
        .with_client_id(Some(KStrBytes::from_static_str(CLIENT_ID)));
    let mut buf = BytesMut::with_capacity(capacity);
    buf.put_i32(0);
    header
        .encode(&mut buf, kpm::ProduceRequest::header_version(version))
        .expect("kp header");
    req.encode(&mut buf, version).expect("kp produce");
    let len = (buf.len() - 4) as i32;
    buf[..4].copy_from_slice(&len.to_be_bytes());
    buf
}

/// Checks that both libraries' Produce requests carry the same records,
/// and byte for byte the same request when uncompressed; returns a note.
fn check_produce(case: &Case, batches: &[RecordBatch], codec: Codec, version: i16) -> String {
    let g = gregor_produce(batches, version, 0).freeze();
    let k = kp_produce(case, codec, version, 0).freeze();
    if codec.gregor.is_none() {
        assert_eq!(g, k, "produce: uncompressed requests differ");
    }
    for (bytes, who) in [(&g, "gregor"), (&k, "kafka-protocol")] {
        let frame = bytes.slice(4..);
        let (header, body) = decode_request_header(&frame).unwrap_or_else(|e| panic!("{who}: {e}"));
        assert_eq!(header.correlation_id, 42, "{who}: correlation id");
        let req = ProduceRequest::decode_from_bytes(body, header.request_api_version)
            .unwrap_or_else(|e| panic!("{who}: {e}"));
        for (p, part) in req.topic_data[0].partition_data.iter().enumerate() {
            let records = part.records.as_ref().expect("records");
            check_batch(records, &case.parts[p].gregor, who);
        }
    }
    format!(
        "v{version}, gregor {} B, kafka-protocol {} B",
        g.len(),
        k.len()
    )
}

fn bench_produce<M: Measurement>(c: &mut Criterion<M>, cases: &[Case], sidecar: &Sidecar) {
    let version = produce_version();
    for case in cases {
        let raw: usize = case.raw.iter().sum();
        // What a caller that knows its batch sizes would reserve.
        let capacity = raw + 1024;
        for codec in CODECS {
            let name = format!("produce_encode/{}/{}", case.label, codec.name);
            let batches: Vec<RecordBatch> = case
                .parts
                .iter()
                .map(|p| gregor_batch(p, codec.gregor))
                .collect();
            let checked = OnceCell::new();
            let check = || {
                checked.get_or_init(|| {
                    sidecar.note(&name, check_produce(case, &batches, codec, version));
                });
            };
            sidecar.add(&name, case.records(), raw);
            let mut g = group(c, &name, codec, raw);
            g.bench_function("gregor", |b| {
                check();
                b.iter(|| gregor_produce(black_box(&batches), version, capacity))
            });
            g.bench_function("kafka-protocol", |b| {
                check();
                b.iter(|| kp_produce(black_box(case), codec, version, capacity))
            });
            g.finish();
        }
    }
}

fn benches<M: Measurement>(c: &mut Criterion<M>) {
    let cases: Vec<Case> = SIZES.iter().map(|&(l, v)| Case::new(l, v)).collect();
    let sidecar = Sidecar::load();
    bench_batches(c, &cases, &sidecar);
    bench_fetch(c, &cases, &sidecar);
    bench_produce(c, &cases, &sidecar);
    sidecar.write();
}

/// The thread's CPU time instead of the wall clock (`GREGOR_BENCH_CLOCK=cpu`).
///
/// On a machine shared with other work, time spent preempted inflates wall
/// clock samples at random; CPU time leaves it out (cache and memory
/// bandwidth taken by others still show). The codec work is single-threaded
/// and does no I/O, so on an idle machine both clocks agree.
struct CpuTime;

impl Measurement for CpuTime {
    type Intermediate = cpu_time::ThreadTime;
    type Value = Duration;

    fn start(&self) -> Self::Intermediate {
        cpu_time::ThreadTime::now()
    }

    fn end(&self, start: Self::Intermediate) -> Self::Value {
        start.elapsed()
    }

    fn add(&self, v1: &Self::Value, v2: &Self::Value) -> Self::Value {
        *v1 + *v2
    }

    fn zero(&self) -> Self::Value {
        Duration::ZERO
    }

    fn to_f64(&self, value: &Self::Value) -> f64 {
        value.as_nanos() as f64
    }

    fn formatter(&self) -> &dyn ValueFormatter {
        // Values are nanoseconds, as the wall clock's are.
        WallTime.formatter()
    }
}

fn main() {
    // What `criterion_group!`/`criterion_main!` expand to, without their
    // undocumented public items. Command-line options override these.
    let config = || {
        Criterion::default()
            .warm_up_time(Duration::from_secs(2))
            .measurement_time(Duration::from_secs(4))
    };
    if std::env::var("GREGOR_BENCH_CLOCK").is_ok_and(|v| v == "cpu") {
        let mut c = config().with_measurement(CpuTime).configure_from_args();
        benches(&mut c);
        c.final_summary();
    } else {
        let mut c = config().configure_from_args();
        benches(&mut c);
        c.final_summary();
    }
}
