//! Golden bytes from real clients: librdkafka (through confluent-kafka) and
//! kafka-python, captured talking to a real broker by `cargo xtask capture`
//! (see `testdata/golden/README.md`).
//!
//! Every captured request and response must decode and re-encode to the very
//! bytes the client or broker wrote, and the record batches the clients
//! produced, and read back, must hold exactly the records their scripts
//! produced, as each client's `manifest.json` lists them.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::path::PathBuf;

use bytes::{Bytes, BytesMut};
use gregor_protocol::messages::{
    FetchResponse, MetadataResponse, ProduceRequest, RequestBody, RequestHeader, ResponseBody,
    ResponseHeader,
};
use gregor_protocol::records::{DecodeOptions, RecordBatch, TimestampType, decode_records};
use gregor_protocol::request::decode_request_header;
use gregor_protocol::{ApiKey, Decode, Message, Reader, Uuid};

/// The peers whose captures must be there: librdkafka, kafka-python at its
/// newest versions, and kafka-python told the broker is Kafka 2.1 (older,
/// non-flexible versions).
const CLIENTS: [&str; 3] = ["librdkafka", "kafka-python", "kafka-python-api-2.1"];

/// The APIs every client's capture must hold, both ways.
const REQUIRED_APIS: [ApiKey; 14] = [
    ApiKey::ApiVersions,
    ApiKey::Metadata,
    ApiKey::CreateTopics,
    ApiKey::InitProducerId,
    ApiKey::Produce,
    ApiKey::Fetch,
    ApiKey::ListOffsets,
    ApiKey::FindCoordinator,
    ApiKey::JoinGroup,
    ApiKey::SyncGroup,
    ApiKey::Heartbeat,
    ApiKey::OffsetCommit,
    ApiKey::OffsetFetch,
    ApiKey::LeaveGroup,
];

/// The codecs each client produced with, one topic each.
const CODECS: [&str; 5] = ["none", "gzip", "snappy", "lz4", "zstd"];

fn golden_dir() -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../testdata/golden");
    assert!(
        dir.is_dir(),
        "the golden captures are missing: {} is not a folder (run `cargo xtask capture`)",
        dir.display()
    );
    dir
}

// ---------------------------------------------------------------------------
// The manifest

/// One captured frame, as `manifest.json` lists it.
#[derive(Debug, Clone)]
struct FileEntry {
    file: String,
    api_key: i16,
    version: i16,
    correlation_id: i32,
    direction: String,
    has_records: bool,
}

/// One record a peer script produced.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Produced {
    topic: String,
    partition: i32,
    offset: i64,
    key: Option<Vec<u8>>,
    value: Option<Vec<u8>>,
    headers: Vec<(String, Option<Vec<u8>>)>,
    timestamp: i64,
    codec: String,
}

#[derive(Debug)]
struct Capture {
    client: &'static str,
    dir: PathBuf,
    files: Vec<FileEntry>,
    records: Vec<Produced>,
}

impl Capture {
    fn load(client: &'static str) -> Capture {
        let dir = golden_dir().join(client);
        let path = dir.join("manifest.json");
        let text = std::fs::read_to_string(&path)
            .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
        let json = Json::parse(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let files = json
            .get("files")
            .array()
            .iter()
            .map(|f| FileEntry {
                file: f.get("file").str().to_owned(),
                api_key: f.get("api_key").int().try_into().expect("api_key"),
                version: f.get("version").int().try_into().expect("version"),
                correlation_id: f.get("correlation_id").int().try_into().expect("id"),
                direction: f.get("direction").str().to_owned(),
                has_records: f.get("has_records").bool(),
            })
            .collect::<Vec<_>>();
        assert!(!files.is_empty(), "{client}: the manifest lists no files");
        let records = json
            .get("records")
            .array()
            .iter()
            .map(|r| Produced {
                topic: r.get("topic").str().to_owned(),
                partition: r.get("partition").int().try_into().expect("partition"),
                offset: r.get("offset").int(),
                key: r.get("key").hex(),
                value: r.get("value").hex(),
                headers: r
                    .get("headers")
                    .array()
                    .iter()
                    .map(|h| (h.get("key").str().to_owned(), h.get("value").hex()))
                    .collect(),
                timestamp: r.get("timestamp").int(),
                codec: r.get("codec").str().to_owned(),
            })
            .collect();
        Capture {
            client,
            dir,
            files,
            records,
        }
    }

    fn all() -> Vec<Capture> {
        CLIENTS.iter().map(|c| Capture::load(c)).collect()
    }

    fn bytes(&self, f: &FileEntry) -> Bytes {
        let path = self.dir.join(&f.file);
        Bytes::from(
            std::fs::read(&path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display())),
        )
    }

    fn entries(&self, direction: &str) -> impl Iterator<Item = &FileEntry> {
        self.files.iter().filter(move |f| f.direction == direction)
    }

    /// The records produced to `topic`, by offset.
    fn produced_to(&self, topic: &str) -> Vec<&Produced> {
        let mut v: Vec<&Produced> = self.records.iter().filter(|r| r.topic == topic).collect();
        v.sort_by_key(|r| (r.partition, r.offset));
        v
    }
}

// ---------------------------------------------------------------------------
// Byte-exact round trips of every frame

/// Where two byte strings first differ, with a hex window around it.
fn describe_difference(want: &[u8], got: &[u8]) -> String {
    let at = want
        .iter()
        .zip(got)
        .position(|(a, b)| a != b)
        .unwrap_or(want.len().min(got.len()));
    let window = |b: &[u8]| {
        let lo = at.saturating_sub(16);
        let hi = (at + 16).min(b.len());
        let mut s = String::new();
        for (i, byte) in b.get(lo..hi).unwrap_or_default().iter().enumerate() {
            let mark = if lo + i == at { "[" } else { "" };
            let _ = write!(s, "{mark}{byte:02x} ");
        }
        s
    };
    format!(
        "lengths {} (captured) vs {} (re-encoded); first difference at byte {at}\n  captured:   {}\n  re-encoded: {}",
        want.len(),
        got.len(),
        window(want),
        window(got)
    )
}

fn api_of(f: &FileEntry) -> ApiKey {
    ApiKey::from_code(f.api_key).unwrap_or_else(|| panic!("{}: unknown API key", f.file))
}

/// Decodes and re-encodes a request frame: header, then body.
fn roundtrip_request(f: &FileEntry, frame: &Bytes) -> Result<Option<String>, String> {
    let (header, body) = decode_request_header(frame).map_err(|e| format!("header: {e}"))?;
    if (
        header.request_api_key,
        header.request_api_version,
        header.correlation_id,
    ) != (f.api_key, f.version, f.correlation_id)
    {
        return Err(format!(
            "the header disagrees with the manifest: {header:?}"
        ));
    }
    let api = api_of(f);
    let decoded = RequestBody::decode(api, f.version, body).map_err(|e| format!("body: {e}"))?;
    if decoded.api_key() != api {
        return Err(format!("decoded as {}", decoded.name()));
    }
    let header_version = api.request_header_version(f.version);
    let mut out = BytesMut::new();
    out.extend_from_slice(
        &header
            .encode_to_bytes(header_version)
            .map_err(|e| format!("re-encoding the header: {e}"))?,
    );
    out.extend_from_slice(
        &decoded
            .encode(f.version)
            .map_err(|e| format!("re-encoding the body: {e}"))?,
    );
    if out[..] != frame[..] {
        return Err(describe_difference(frame, &out));
    }
    Ok(None)
}

/// Decodes and re-encodes a response frame: header, then body.
///
/// The broker (nisshi 0.8.1) writes some tagged fields even when they hold
/// their default value (Kafka's own encoders, and ours, leave those out), so
/// a response may re-encode shorter. That, and only that, is accepted:
/// [`only_default_tagged_fields_dropped`] checks that every difference is a
/// tagged field the capture has and the re-encoding lacks, holding a default
/// value, and the re-encoding must decode to the same message.
fn roundtrip_response(f: &FileEntry, frame: &Bytes) -> Result<Option<String>, String> {
    let api = api_of(f);
    let header_version = api.response_header_version(f.version);
    let mut r = Reader::new(frame.clone());
    let header =
        ResponseHeader::decode(&mut r, header_version).map_err(|e| format!("header: {e}"))?;
    if header.correlation_id != f.correlation_id {
        return Err(format!(
            "correlation id {} where the manifest says {}",
            header.correlation_id, f.correlation_id
        ));
    }
    let decoded =
        ResponseBody::decode(api, f.version, r.take_rest()).map_err(|e| format!("body: {e}"))?;
    let mut out = BytesMut::new();
    out.extend_from_slice(
        &header
            .encode_to_bytes(header_version)
            .map_err(|e| format!("re-encoding the header: {e}"))?,
    );
    let body = decoded
        .encode(f.version)
        .map_err(|e| format!("re-encoding the body: {e}"))?;
    out.extend_from_slice(&body);
    if out[..] == frame[..] {
        return Ok(None);
    }
    let dropped = only_default_tagged_fields_dropped(frame, &out)
        .map_err(|why| format!("{why}\n{}", describe_difference(frame, &out)))?;
    let again = ResponseBody::decode(api, f.version, body)
        .map_err(|e| format!("decoding the re-encoding: {e}"))?;
    if again != decoded {
        return Err("the re-encoding decodes to another message".into());
    }
    Ok(Some(format!(
        "re-encodes without the broker's default-valued tagged fields: {}",
        dropped.join("; ")
    )))
}

/// One tagged field as written: its tag and its raw value.
type TaggedField<'a> = (u64, &'a [u8]);

/// Reads an unsigned varint at `*at`.
fn uvarint(b: &[u8], at: &mut usize) -> Option<u64> {
    let mut v = 0u64;
    for shift in (0..64).step_by(7) {
        let byte = *b.get(*at)?;
        *at += 1;
        v |= u64::from(byte & 0x7f) << shift;
        if byte & 0x80 == 0 {
            return Some(v);
        }
    }
    None
}

/// Reads a tagged-field buffer (count, then tag, size and value each).
fn tag_buffer<'a>(b: &'a [u8], at: &mut usize) -> Option<Vec<TaggedField<'a>>> {
    let count = uvarint(b, at)?;
    let mut fields = Vec::new();
    for _ in 0..count {
        let tag = uvarint(b, at)?;
        let size = usize::try_from(uvarint(b, at)?).ok()?;
        let value = b.get(*at..*at + size)?;
        *at += size;
        fields.push((tag, value));
    }
    Some(fields)
}

/// Whether `value` is how a tagged field at a default value is written: an
/// empty compact array or string (`01`), zeros (0, false, a zero UUID) or
/// all ones (-1).
fn looks_default(value: &[u8]) -> bool {
    value == [1] || value.iter().all(|&b| b == 0) || value.iter().all(|&b| b == 0xff)
}

/// Checks that `reencoded` is `captured` with some default-valued tagged
/// fields left out, and nothing else changed; says which were left out.
fn only_default_tagged_fields_dropped(
    captured: &[u8],
    reencoded: &[u8],
) -> Result<Vec<String>, String> {
    let (mut i, mut j) = (0, 0);
    let mut dropped = Vec::new();
    loop {
        while i < captured.len() && j < reencoded.len() && captured[i] == reencoded[j] {
            i += 1;
            j += 1;
        }
        if i == captured.len() && j == reencoded.len() {
            return Ok(dropped);
        }
        let at = i;
        let (Some(have), Some(kept)) =
            (tag_buffer(captured, &mut i), tag_buffer(reencoded, &mut j))
        else {
            return Err(format!(
                "byte {at}: a difference that is not a tagged-field buffer"
            ));
        };
        if kept.len() >= have.len() {
            return Err(format!(
                "byte {at}: a difference that drops no tagged field"
            ));
        }
        // The kept fields must be a subsequence of the captured ones, and
        // every other captured field must hold a default.
        let mut rest = kept.iter().peekable();
        let mut tags = Vec::new();
        for field in &have {
            if rest.peek() == Some(&field) {
                rest.next();
            } else if looks_default(field.1) {
                tags.push(format!("{}={:02x?}", field.0, field.1));
            } else {
                return Err(format!(
                    "byte {at}: tagged field {} holds {:02x?}, not a default, yet was dropped",
                    field.0, field.1
                ));
            }
        }
        if rest.next().is_some() {
            return Err(format!(
                "byte {at}: the re-encoding has tagged fields the capture lacks"
            ));
        }
        dropped.push(format!("byte {at}: tags {}", tags.join(", ")));
    }
}

/// Round-trips every captured frame of `direction`, reporting all failures
/// at once; a note (an accepted broker quirk) is printed.
fn check_all(direction: &str, roundtrip: fn(&FileEntry, &Bytes) -> Result<Option<String>, String>) {
    let mut failures = Vec::new();
    let mut checked = 0;
    for capture in Capture::all() {
        for f in capture.entries(direction) {
            checked += 1;
            match roundtrip(f, &capture.bytes(f)) {
                Ok(None) => {}
                Ok(Some(note)) => eprintln!("note: {}/{}: {note}", capture.client, f.file),
                Err(e) => failures.push(format!("{}/{}: {e}", capture.client, f.file)),
            }
        }
    }
    assert!(checked > 0, "no {direction} files");
    assert!(
        failures.is_empty(),
        "{} of {checked} captured {direction}s do not round-trip byte-exact:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[test]
fn every_captured_request_reencodes_byte_exact() {
    check_all("request", roundtrip_request);
}

#[test]
fn every_captured_response_reencodes_byte_exact() {
    check_all("response", roundtrip_response);
}

#[test]
fn captures_cover_the_required_apis() {
    for capture in Capture::all() {
        let seen: BTreeSet<(i16, &str)> = capture
            .files
            .iter()
            .map(|f| (f.api_key, f.direction.as_str()))
            .collect();
        for api in REQUIRED_APIS {
            for direction in ["request", "response"] {
                assert!(
                    seen.contains(&(api.code(), direction)),
                    "{}: no {api} {direction} captured",
                    capture.client
                );
            }
        }
        // Every file the manifest lists exists, and every .bin is listed.
        let listed: BTreeSet<&str> = capture.files.iter().map(|f| f.file.as_str()).collect();
        let on_disk: BTreeSet<String> = std::fs::read_dir(&capture.dir)
            .expect("read the capture folder")
            .filter_map(|e| e.ok()?.file_name().into_string().ok())
            .filter(|n| n.ends_with(".bin"))
            .collect();
        let on_disk: BTreeSet<&str> = on_disk.iter().map(String::as_str).collect();
        assert_eq!(listed, on_disk, "{}: manifest vs folder", capture.client);
    }
}

#[test]
fn the_tagged_field_tolerance_accepts_only_dropped_defaults() {
    // A tag buffer with tag 0 = empty array, dropped: accepted.
    let ok = only_default_tagged_fields_dropped(&[0xaa, 1, 0, 1, 1, 0xbb], &[0xaa, 0, 0xbb]);
    assert_eq!(ok.map(|d| d.len()), Ok(1));
    // Tag 1 kept, tag 0 (-1) dropped: accepted.
    let ok = only_default_tagged_fields_dropped(&[2, 0, 2, 0xff, 0xff, 1, 1, 7], &[1, 1, 1, 7]);
    assert!(ok.is_ok(), "{ok:?}");
    // A dropped field that is not at a default: refused.
    assert!(
        only_default_tagged_fields_dropped(&[0xaa, 1, 0, 1, 5, 0xbb], &[0xaa, 0, 0xbb]).is_err()
    );
    // Any other difference: refused.
    assert!(only_default_tagged_fields_dropped(&[1, 2, 3], &[1, 9, 3]).is_err());
    assert!(only_default_tagged_fields_dropped(&[1, 2, 3], &[1, 2]).is_err());
    // A re-encoding that adds a field: refused.
    assert!(only_default_tagged_fields_dropped(&[0], &[1, 0, 1, 1]).is_err());
}

// ---------------------------------------------------------------------------
// Records

fn codec_name(batch: &RecordBatch) -> &'static str {
    match batch.compression.id() {
        0 => "none",
        1 => "gzip",
        2 => "snappy",
        3 => "lz4",
        4 => "zstd",
        _ => "unknown",
    }
}

/// Checks one decoded record against the one the script produced.
fn check_record(
    what: &str,
    batch: &RecordBatch,
    got: &gregor_protocol::records::Record,
    want: &Produced,
) {
    let key = got.key.as_ref().map(|k| k.to_vec());
    let value = got.value.as_ref().map(|v| v.to_vec());
    let headers: Vec<(String, Option<Vec<u8>>)> = got
        .headers
        .iter()
        .map(|h| {
            (
                h.key_str().expect("header keys are UTF-8").to_owned(),
                h.value.as_ref().map(|v| v.to_vec()),
            )
        })
        .collect();
    assert_eq!(key, want.key, "{what}: key");
    assert_eq!(value, want.value, "{what}: value");
    assert_eq!(headers, want.headers, "{what}: headers");
    assert_eq!(got.timestamp, want.timestamp, "{what}: timestamp");
    assert_eq!(codec_name(batch), want.codec, "{what}: codec of its batch");
    assert_eq!(
        batch.timestamp_type,
        TimestampType::CreateTime,
        "{what}: timestamp type"
    );
}

/// Checks that every uncompressed batch of `records` re-encodes to its
/// own bytes. Compressed ones cannot (compressors differ in their output):
/// those must re-encode, with our compressor, to a batch that decodes to
/// the same records.
fn check_batches_reencode(what: &str, records: &Bytes, batches: &[RecordBatch]) {
    let mut at = 0usize;
    for (i, batch) in batches.iter().enumerate() {
        let len = 12 + usize::try_from(batch.batch_length).expect("batch length");
        let original = records.slice(at..at + len);
        at += len;
        let encoded = batch.to_bytes().expect("re-encode the batch");
        if batch.compression.id() != 0 {
            let again = decode_records(encoded, &DecodeOptions::new())
                .unwrap_or_else(|e| panic!("{what}: batch {i} re-encoded does not decode: {e}"));
            assert_eq!(again.batches.len(), 1, "{what}: batch {i} re-encoded");
            assert_eq!(
                again.batches[0].records,
                batch.records,
                "{what}: batch {i} re-encoded with {}",
                codec_name(batch)
            );
            assert_eq!(again.batches[0].compression.id(), batch.compression.id());
            continue;
        }
        assert!(
            encoded == original,
            "{what}: batch {i} does not re-encode byte-exact: {}",
            describe_difference(&original, &encoded)
        );
    }
}

#[test]
fn produced_batches_hold_exactly_the_scripts_records() {
    for capture in Capture::all() {
        let client = capture.client;
        // Every record of every produce request, per topic, in capture order.
        let mut sent: BTreeMap<(String, i32), Vec<(RecordBatch, usize)>> = BTreeMap::new();
        for f in capture.entries("request").filter(|f| f.has_records) {
            assert_eq!(api_of(f), ApiKey::Produce, "{}", f.file);
            let (_, body) = decode_request_header(&capture.bytes(f)).expect("header");
            let req = ProduceRequest::decode_from_bytes(body, f.version).expect("produce request");
            for topic in &req.topic_data {
                for p in &topic.partition_data {
                    let what = format!("{client}/{} {}-{}", f.file, topic.name, p.index);
                    let records = p.records.clone().unwrap_or_default();
                    let decoded = decode_records(records.clone(), &DecodeOptions::new())
                        .unwrap_or_else(|e| panic!("{what}: {e}"));
                    assert!(decoded.partial.is_none(), "{what}: a partial batch");
                    check_batches_reencode(&what, &records, &decoded.batches);
                    for batch in decoded.batches {
                        assert_eq!(batch.magic, 2, "{what}: magic");
                        assert!(
                            batch.producer_id >= 0 && batch.base_sequence >= 0,
                            "{what}: not from an idempotent producer: {batch:?}"
                        );
                        let n = batch.records.len();
                        sent.entry((topic.name.to_string(), p.index))
                            .or_default()
                            .push((batch, n));
                    }
                }
            }
        }
        for codec in CODECS {
            let topic = format!("golden-{codec}");
            let want = capture.produced_to(&topic);
            assert!(!want.is_empty(), "{client}: nothing produced to {topic}");
            let batches = sent
                .get(&(topic.clone(), 0))
                .unwrap_or_else(|| panic!("{client}: no produce request for {topic}"));
            let got: Vec<_> = batches
                .iter()
                .flat_map(|(b, _)| b.records.iter().map(move |r| (b, r)))
                .collect();
            assert_eq!(
                got.len(),
                want.len(),
                "{client}: records produced to {topic}"
            );
            for (i, ((batch, record), want)) in got.iter().zip(&want).enumerate() {
                check_record(
                    &format!("{client}: produced record {i} of {topic}"),
                    batch,
                    record,
                    want,
                );
            }
        }
    }
}

#[test]
fn fetched_batches_hold_exactly_the_scripts_records() {
    for capture in Capture::all() {
        let client = capture.client;
        // Fetch v13+ names topics by id: learn the ids from Metadata.
        let mut names: BTreeMap<Uuid, String> = BTreeMap::new();
        for f in capture
            .entries("response")
            .filter(|f| api_of(f) == ApiKey::Metadata)
        {
            let frame = capture.bytes(f);
            let mut r = Reader::new(frame);
            ResponseHeader::decode(&mut r, ApiKey::Metadata.response_header_version(f.version))
                .expect("header");
            let resp = MetadataResponse::decode_from_bytes(r.take_rest(), f.version)
                .expect("metadata response");
            for t in resp.topics {
                if let Some(name) = t.name {
                    names.insert(t.topic_id, name.to_string());
                }
            }
        }
        let mut seen: BTreeSet<(String, i32, i64)> = BTreeSet::new();
        for f in capture.entries("response").filter(|f| f.has_records) {
            assert_eq!(api_of(f), ApiKey::Fetch, "{}", f.file);
            let mut r = Reader::new(capture.bytes(f));
            ResponseHeader::decode(&mut r, ApiKey::Fetch.response_header_version(f.version))
                .expect("header");
            let resp =
                FetchResponse::decode_from_bytes(r.take_rest(), f.version).expect("fetch response");
            for topic in &resp.responses {
                let name = if topic.topic.is_empty() {
                    names.get(&topic.topic_id).cloned().unwrap_or_else(|| {
                        panic!("{client}/{}: unknown topic id {}", f.file, topic.topic_id)
                    })
                } else {
                    topic.topic.to_string()
                };
                let want = capture.produced_to(&name);
                for p in &topic.partitions {
                    let what = format!("{client}/{} {name}-{}", f.file, p.partition_index);
                    let records = p.records.clone().unwrap_or_default();
                    let decoded = decode_records(records.clone(), &DecodeOptions::new())
                        .unwrap_or_else(|e| panic!("{what}: {e}"));
                    check_batches_reencode(&what, &records, &decoded.batches);
                    for batch in &decoded.batches {
                        for record in &batch.records {
                            let w = want
                                .iter()
                                .find(|w| {
                                    w.partition == p.partition_index && w.offset == record.offset
                                })
                                .unwrap_or_else(|| {
                                    panic!("{what}: offset {} was never produced", record.offset)
                                });
                            check_record(
                                &format!("{what}: fetched offset {}", record.offset),
                                batch,
                                record,
                                w,
                            );
                            seen.insert((name.clone(), p.partition_index, record.offset));
                        }
                    }
                }
            }
        }
        for r in &capture.records {
            assert!(
                seen.contains(&(r.topic.clone(), r.partition, r.offset)),
                "{client}: {}-{} offset {} is in no captured fetch response",
                r.topic,
                r.partition,
                r.offset
            );
        }
    }
}

#[test]
fn request_headers_carry_the_client_ids() {
    // A cheap check that the header decoder reads what the scripts set.
    for capture in Capture::all() {
        let want = format!("golden-{}", capture.client);
        let mut found = false;
        for f in capture.entries("request") {
            let (header, _): (RequestHeader, _) =
                decode_request_header(&capture.bytes(f)).expect("header");
            if header.client_id.as_deref() == Some(want.as_str()) {
                found = true;
            }
        }
        assert!(
            found,
            "{}: no request with client id {want}",
            capture.client
        );
    }
}

// ---------------------------------------------------------------------------
// A small JSON reader for the manifests (the crate has no JSON dependency).

#[derive(Debug, Clone, PartialEq)]
enum Json {
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(String),
    Array(Vec<Json>),
    Object(Vec<(String, Json)>),
}

impl Json {
    fn parse(text: &str) -> Result<Json, String> {
        let mut p = Parser {
            s: text.as_bytes(),
            i: 0,
        };
        let v = p.value()?;
        p.ws();
        if p.i != p.s.len() {
            return Err(format!("trailing characters at {}", p.i));
        }
        Ok(v)
    }

    fn get(&self, key: &str) -> &Json {
        match self {
            Json::Object(fields) => fields
                .iter()
                .find(|(k, _)| k == key)
                .map(|(_, v)| v)
                .unwrap_or_else(|| panic!("manifest: no field {key:?}")),
            other => panic!("manifest: {other:?} is not an object"),
        }
    }

    fn array(&self) -> &[Json] {
        match self {
            Json::Array(v) => v,
            other => panic!("manifest: {other:?} is not an array"),
        }
    }

    fn str(&self) -> &str {
        match self {
            Json::Str(s) => s,
            other => panic!("manifest: {other:?} is not a string"),
        }
    }

    fn int(&self) -> i64 {
        match self {
            Json::Int(n) => *n,
            other => panic!("manifest: {other:?} is not an integer"),
        }
    }

    fn bool(&self) -> bool {
        match self {
            Json::Bool(b) => *b,
            other => panic!("manifest: {other:?} is not a boolean"),
        }
    }

    /// A hex string as bytes, `null` as `None`.
    fn hex(&self) -> Option<Vec<u8>> {
        match self {
            Json::Null => None,
            Json::Str(s) => {
                assert!(s.len() % 2 == 0, "manifest: odd-length hex {s:?}");
                Some(
                    (0..s.len())
                        .step_by(2)
                        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).expect("hex digit"))
                        .collect(),
                )
            }
            other => panic!("manifest: {other:?} is neither hex nor null"),
        }
    }
}

struct Parser<'a> {
    s: &'a [u8],
    i: usize,
}

impl Parser<'_> {
    fn ws(&mut self) {
        while self.i < self.s.len() && self.s[self.i].is_ascii_whitespace() {
            self.i += 1;
        }
    }

    fn peek(&self) -> Option<u8> {
        self.s.get(self.i).copied()
    }

    fn expect(&mut self, lit: &str) -> Result<(), String> {
        if self.s[self.i..].starts_with(lit.as_bytes()) {
            self.i += lit.len();
            Ok(())
        } else {
            Err(format!("expected {lit:?} at {}", self.i))
        }
    }

    fn value(&mut self) -> Result<Json, String> {
        self.ws();
        match self.peek().ok_or("unexpected end")? {
            b'n' => self.expect("null").map(|()| Json::Null),
            b't' => self.expect("true").map(|()| Json::Bool(true)),
            b'f' => self.expect("false").map(|()| Json::Bool(false)),
            b'"' => self.string().map(Json::Str),
            b'[' => {
                self.i += 1;
                let mut items = Vec::new();
                self.ws();
                if self.peek() == Some(b']') {
                    self.i += 1;
                    return Ok(Json::Array(items));
                }
                loop {
                    items.push(self.value()?);
                    self.ws();
                    match self.peek() {
                        Some(b',') => self.i += 1,
                        Some(b']') => {
                            self.i += 1;
                            return Ok(Json::Array(items));
                        }
                        _ => return Err(format!("expected , or ] at {}", self.i)),
                    }
                }
            }
            b'{' => {
                self.i += 1;
                let mut fields = Vec::new();
                self.ws();
                if self.peek() == Some(b'}') {
                    self.i += 1;
                    return Ok(Json::Object(fields));
                }
                loop {
                    self.ws();
                    let key = self.string()?;
                    self.ws();
                    self.expect(":")?;
                    fields.push((key, self.value()?));
                    self.ws();
                    match self.peek() {
                        Some(b',') => self.i += 1,
                        Some(b'}') => {
                            self.i += 1;
                            return Ok(Json::Object(fields));
                        }
                        _ => return Err(format!("expected , or }} at {}", self.i)),
                    }
                }
            }
            _ => self.number(),
        }
    }

    fn number(&mut self) -> Result<Json, String> {
        let start = self.i;
        while let Some(c) = self.peek() {
            if c.is_ascii_digit() || matches!(c, b'-' | b'+' | b'.' | b'e' | b'E') {
                self.i += 1;
            } else {
                break;
            }
        }
        let text = std::str::from_utf8(&self.s[start..self.i]).map_err(|e| e.to_string())?;
        if let Ok(n) = text.parse::<i64>() {
            return Ok(Json::Int(n));
        }
        text.parse::<f64>()
            .map(Json::Float)
            .map_err(|_| format!("bad number {text:?} at {start}"))
    }

    fn string(&mut self) -> Result<String, String> {
        self.expect("\"")?;
        let mut out: Vec<u8> = Vec::new();
        loop {
            let c = self.peek().ok_or("unterminated string")?;
            self.i += 1;
            match c {
                b'"' => return String::from_utf8(out).map_err(|e| e.to_string()),
                b'\\' => {
                    let e = self.peek().ok_or("unterminated escape")?;
                    self.i += 1;
                    let ch = match e {
                        b'"' => '"',
                        b'\\' => '\\',
                        b'/' => '/',
                        b'b' => '\u{8}',
                        b'f' => '\u{c}',
                        b'n' => '\n',
                        b'r' => '\r',
                        b't' => '\t',
                        b'u' => {
                            let hi = self.hex4()?;
                            let code = if (0xD800..0xDC00).contains(&hi) {
                                self.expect("\\u")?;
                                let lo = self.hex4()?;
                                0x10000 + ((hi - 0xD800) << 10) + (lo - 0xDC00)
                            } else {
                                hi
                            };
                            char::from_u32(code).ok_or("bad \\u escape")?
                        }
                        _ => return Err(format!("bad escape at {}", self.i)),
                    };
                    let mut buf = [0u8; 4];
                    out.extend_from_slice(ch.encode_utf8(&mut buf).as_bytes());
                }
                _ => out.push(c),
            }
        }
    }

    fn hex4(&mut self) -> Result<u32, String> {
        let digits = self.s.get(self.i..self.i + 4).ok_or("short \\u escape")?;
        self.i += 4;
        u32::from_str_radix(std::str::from_utf8(digits).map_err(|e| e.to_string())?, 16)
            .map_err(|e| e.to_string())
    }
}

#[test]
fn the_json_reader_reads_what_serde_json_writes() {
    let v = Json::parse(
        r#" {"a": [1, -2, 3.5, true, false, null], "b": "x\"\u00e9\ud83d\ude00y", "c": {}} "#,
    )
    .expect("parse");
    assert_eq!(
        v.get("a").array(),
        &[
            Json::Int(1),
            Json::Int(-2),
            Json::Float(3.5),
            Json::Bool(true),
            Json::Bool(false),
            Json::Null
        ]
    );
    assert_eq!(v.get("b").str(), "x\"é😀y");
    assert_eq!(Json::Str("00ff".into()).hex(), Some(vec![0, 255]));
    assert!(Json::parse("[1,").is_err());
}
