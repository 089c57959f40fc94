//! Gregor's partitioners put every golden key where the clients users
//! migrate from do (no broker needed): librdkafka's `consistent`,
//! `murmur2_random` and `fnv1a`, kafka-python's default, and sarama's /
//! kafka-go's FNV-1a hash partitioners. The data is in
//! `testdata/partitioners/` (see `it_producer_partitioners.rs`).

use std::path::PathBuf;

use gregor_client::producer::partitioner::{
    Crc32, Fnv1a, Murmur2, Partitioner, PartitionerContext, ReferenceHash,
};
use serde_json::Value;

fn load(name: &str) -> Value {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../testdata/partitioners")
        .join(name);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap()
}

fn keys() -> Vec<Vec<u8>> {
    load("keys.json")
        .as_array()
        .unwrap()
        .iter()
        .map(|k| {
            let hex = k.as_str().unwrap();
            (0..hex.len())
                .step_by(2)
                .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).unwrap())
                .collect()
        })
        .collect()
}

/// Checks `partitioner` against `golden` (`{count: [partition per key]}`).
fn check(name: &str, partitioner: &dyn Partitioner, golden: &Value) {
    let keys = keys();
    let counts = golden
        .as_object()
        .unwrap_or_else(|| panic!("{name}: no data"));
    assert!(!counts.is_empty(), "{name}: no data");
    for (count, expected) in counts {
        let n: i32 = count.parse().unwrap();
        let available: Vec<i32> = (0..n).collect();
        let cx = PartitionerContext::new("golden", n, &available);
        let expected = expected.as_array().unwrap();
        assert_eq!(expected.len(), keys.len(), "{name} over {n}");
        let mut mismatches = Vec::new();
        for (key, want) in keys.iter().zip(expected) {
            let got = partitioner.partition(Some(key), None, &cx);
            if got.map(i64::from) != want.as_i64() {
                mismatches.push((String::from_utf8_lossy(key).into_owned(), got, want.clone()));
            }
        }
        assert!(
            mismatches.is_empty(),
            "{name} over {n} partitions: {} of {} keys differ, e.g. {:?}",
            mismatches.len(),
            keys.len(),
            &mismatches[..mismatches.len().min(5)]
        );
    }
}

#[test]
fn murmur2_matches_librdkafka_and_kafka_python() {
    let rd = load("librdkafka.json");
    check(
        "librdkafka murmur2_random",
        &Murmur2,
        &rd["partitions"]["murmur2_random"],
    );
    let kp = load("kafka-python.json");
    check(
        "kafka-python default",
        &Murmur2,
        &kp["partitions"]["murmur2"],
    );
}

#[test]
fn crc32_matches_librdkafka_consistent() {
    let rd = load("librdkafka.json");
    check(
        "librdkafka consistent",
        &Crc32,
        &rd["partitions"]["consistent"],
    );
}

#[test]
fn fnv1a_matches_sarama_kafka_go_and_librdkafka() {
    let sarama = load("sarama-fnv1a.json");
    check("sarama hash", &Fnv1a, &sarama["partitions"]["fnv1a"]);
    check(
        "sarama reference hash",
        &ReferenceHash,
        &sarama["partitions"]["reference_hash"],
    );
    // librdkafka's fnv1a claims sarama compatibility: the same answers.
    let rd = load("librdkafka.json");
    check("librdkafka fnv1a", &Fnv1a, &rd["partitions"]["fnv1a"]);
}
