//! Byte-exact interop with librdkafka and kafka-python: what Gregor
//! produces with every codec (headers, null keys and values included) is
//! what they read, and what they produce is what Gregor's decoder reads.

mod it_producer_support;

use std::time::Duration;

use bytes::Bytes;
use gregor_client::producer::{Producer, ProducerConfig, ProducerRecord};
use gregor_protocol::records::{Compression, Header};
use it_producer_support::{cluster, create_topic, read_all, unique};
use serde_json::{Value, json};

/// One record as the peers print it: partition, key, value, headers
/// (values hex, null as `None`) and timestamp.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Rec {
    partition: i32,
    key: Option<String>,
    value: Option<String>,
    headers: Vec<(String, Option<String>)>,
    timestamp: i64,
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// A varied set: null and empty keys and values, binary bytes, several
/// headers (one with a null value), on two partitions.
fn records() -> Vec<Rec> {
    (0..60u32)
        .map(|i| {
            let key = match i % 4 {
                0 => None,
                1 => Some(String::new()),
                _ => Some(hex(format!("key-{i}").as_bytes())),
            };
            let value = match i % 5 {
                0 => None,
                1 => Some(String::new()),
                2 => Some(hex(&(0..=255u8)
                    .map(|b| b.wrapping_mul(i as u8))
                    .collect::<Vec<_>>())),
                _ => Some(hex(format!("value {i} ")
                    .repeat(i as usize % 7 + 1)
                    .as_bytes())),
            };
            let headers = (0..i % 4)
                .map(|h| {
                    let v = if h == 2 {
                        None
                    } else {
                        Some(hex(format!("h{h}={i}").as_bytes()))
                    };
                    (format!("hdr-{h}"), v)
                })
                .collect();
            Rec {
                partition: (i % 2) as i32,
                key,
                value,
                headers,
                timestamp: 1_700_000_000_000 + i64::from(i),
            }
        })
        .collect()
}

fn unhex(s: &str) -> Bytes {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect::<Vec<u8>>()
        .into()
}

fn to_record(topic: &str, r: &Rec) -> ProducerRecord {
    ProducerRecord::to(topic.to_owned())
        .partition(r.partition)
        .with_key(r.key.as_deref().map(unhex))
        .with_value(r.value.as_deref().map(unhex))
        .headers(
            r.headers
                .iter()
                .map(|(k, v)| match v {
                    Some(v) => Header::new(Bytes::from(k.clone()), unhex(v)),
                    None => Header::null(Bytes::from(k.clone())),
                })
                .collect(),
        )
        .timestamp(r.timestamp)
}

/// The records a peer printed, per partition in offset order.
fn from_peer(v: &Value, with_timestamps: bool) -> Vec<Rec> {
    let mut out = Vec::new();
    for (p, list) in v["records"].as_object().unwrap() {
        for r in list.as_array().unwrap() {
            out.push(Rec {
                partition: p.parse().unwrap(),
                key: r["key"].as_str().map(str::to_owned),
                value: r["value"].as_str().map(str::to_owned),
                headers: r["headers"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|h| {
                        (
                            h[0].as_str().unwrap().to_owned(),
                            h[1].as_str().map(str::to_owned),
                        )
                    })
                    .collect(),
                timestamp: if with_timestamps {
                    r["timestamp"].as_i64().unwrap()
                } else {
                    0
                },
            });
        }
    }
    out
}

/// Sorted by partition, offset order kept.
fn by_partition(mut v: Vec<Rec>) -> Vec<Rec> {
    v.sort_by_key(|r| r.partition);
    v
}

async fn read_with_conn(bootstrap: &str, topic: &str, with_timestamps: bool) -> Vec<Rec> {
    let mut out = Vec::new();
    for p in 0..2 {
        for m in read_all(bootstrap, topic, p).await {
            out.push(Rec {
                partition: p,
                key: m.key.as_deref().map(hex),
                value: m.value.as_deref().map(hex),
                headers: m
                    .headers
                    .iter()
                    .map(|h| (h.key_str().unwrap().to_owned(), h.value.as_deref().map(hex)))
                    .collect(),
                timestamp: if with_timestamps {
                    m.time
                        .map(|t| {
                            t.duration_since(std::time::UNIX_EPOCH).unwrap().as_millis() as i64
                        })
                        .unwrap()
                } else {
                    0
                },
            });
        }
    }
    out
}

const CODECS: [(&str, Compression); 7] = [
    ("none", Compression::None),
    ("gzip", Compression::Gzip { level: None }),
    ("gzip", Compression::Gzip { level: Some(9) }),
    ("snappy", Compression::Snappy),
    ("lz4", Compression::Lz4),
    ("zstd", Compression::Zstd { level: None }),
    ("zstd", Compression::Zstd { level: Some(19) }),
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn peers_read_what_gregor_writes_with_every_codec() {
    let Some(bootstrap) = gregor_testkit::bootstrap("peers_read_gregor") else {
        return;
    };
    let Some(python) = gregor_testkit::peers::python("peers_read_gregor") else {
        return;
    };
    let cluster = cluster(&bootstrap).await;
    let sent = by_partition(records());
    for (name, codec) in CODECS {
        let topic = unique(&format!("codec-{name}"));
        create_topic(&bootstrap, &topic, 2).await;
        let producer = Producer::new(
            cluster.clone(),
            ProducerConfig::builder()
                .compression(codec)
                .build()
                .unwrap(),
        );
        let mut deliveries = Vec::new();
        for r in records() {
            deliveries.push(producer.enqueue(to_record(&topic, &r)).await.unwrap());
        }
        for d in deliveries {
            d.await.unwrap();
        }
        producer.close(Duration::from_secs(5)).await;
        let (b, t, py) = (bootstrap.clone(), topic.clone(), python.clone());
        let (rd, kp) = tokio::task::spawn_blocking(move || {
            (
                gregor_testkit::peers::librdkafka_consume_records(&py, &b, &t, 2).unwrap(),
                gregor_testkit::peers::kafka_python_consume_records(&py, &b, &t, 2).unwrap(),
            )
        })
        .await
        .unwrap();
        assert_eq!(from_peer(&rd, true), sent, "librdkafka reading {codec:?}");
        assert_eq!(from_peer(&kp, true), sent, "kafka-python reading {codec:?}");
        assert_eq!(
            read_with_conn(&bootstrap, &topic, true).await,
            sent,
            "Conn reading {codec:?}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gregor_reads_what_peers_write_with_every_codec() {
    let Some(bootstrap) = gregor_testkit::bootstrap("gregor_reads_peers") else {
        return;
    };
    let Some(python) = gregor_testkit::peers::python("gregor_reads_peers") else {
        return;
    };
    // Peers set the time themselves; timestamps are not compared.
    let sent: Vec<Rec> = records()
        .into_iter()
        .map(|mut r| {
            r.timestamp = 0;
            r
        })
        .collect();
    let write = |records: &[Rec]| {
        let file = std::env::temp_dir().join(format!("{}.json", unique("peer-records")));
        let json_records: Vec<Value> = records
            .iter()
            .map(|r| {
                json!({
                    "partition": r.partition,
                    "key": r.key,
                    "value": r.value,
                    "headers": r.headers.iter().map(|(k, v)| json!([k, v])).collect::<Vec<_>>(),
                })
            })
            .collect();
        std::fs::write(&file, serde_json::to_string(&json_records).unwrap()).unwrap();
        file
    };
    // kafka-python refuses a record whose key and value are both null, and
    // null header values.
    let python_sent: Vec<Rec> = sent
        .iter()
        .filter(|r| r.key.is_some() || r.value.is_some())
        .map(|r| Rec {
            headers: r
                .headers
                .iter()
                .filter(|(_, v)| v.is_some())
                .cloned()
                .collect(),
            ..r.clone()
        })
        .collect();
    let files = [
        ("librdkafka", write(&sent), by_partition(sent.clone())),
        (
            "kafka-python",
            write(&python_sent),
            by_partition(python_sent.clone()),
        ),
    ];
    for codec in ["none", "gzip", "snappy", "lz4", "zstd"] {
        for (peer, file, expected) in &files {
            let topic = unique(&format!("peer-{codec}"));
            create_topic(&bootstrap, &topic, 2).await;
            let (b, t, py, f, peer) = (
                bootstrap.clone(),
                topic.clone(),
                python.clone(),
                file.clone(),
                *peer,
            );
            let result = tokio::task::spawn_blocking(move || {
                if peer == "librdkafka" {
                    gregor_testkit::peers::librdkafka_produce_records(&py, &b, &t, codec, &f)
                } else {
                    gregor_testkit::peers::kafka_python_produce_records(&py, &b, &t, codec, &f)
                }
            })
            .await
            .unwrap()
            .unwrap();
            assert_eq!(
                result["acked"].as_u64(),
                Some(expected.len() as u64),
                "{peer} {codec}: {result}"
            );
            assert_eq!(
                &read_with_conn(&bootstrap, &topic, false).await,
                expected,
                "Gregor reading {peer}'s {codec}"
            );
        }
    }
    for (_, file, _) in &files {
        let _ = std::fs::remove_file(file);
    }
}
