//! Golden partitioner data from the clients users migrate from:
//! librdkafka (through confluent-kafka, against the broker: the partition
//! of each delivery report) and kafka-python (its default partitioner).
//!
//! With `GREGOR_REGEN_PARTITIONERS=1` (or when a file is missing) the
//! results are written to `testdata/partitioners/`; otherwise they are
//! compared with the stored files, so a change in either client shows.
//! `producer_partitioners.rs` checks Gregor against the stored files
//! without a broker.

mod it_producer_support;

use std::path::PathBuf;

use it_producer_support::{create_topic, unique};
use serde_json::Value;

const COUNTS: [i32; 10] = [1, 2, 3, 5, 6, 7, 10, 16, 31, 64];

fn dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../testdata/partitioners")
}

fn regen() -> bool {
    std::env::var("GREGOR_REGEN_PARTITIONERS").as_deref() == Ok("1")
}

/// Writes `value` as `name` when regenerating or missing; else checks it
/// matches what is stored.
fn store_or_compare(name: &str, value: &Value) {
    let path = dir().join(name);
    if regen() || !path.exists() {
        std::fs::write(&path, serde_json::to_string(value).unwrap()).unwrap();
        eprintln!("wrote {}", path.display());
        return;
    }
    let stored: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    assert_eq!(
        stored["partitions"], value["partitions"],
        "{name} no longer matches what the client chooses"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn librdkafka_partitioners_match_the_golden_data() {
    let Some(bootstrap) = gregor_testkit::bootstrap("librdkafka_partitioners") else {
        return;
    };
    let Some(python) = gregor_testkit::peers::python("librdkafka_partitioners") else {
        return;
    };
    let base = unique("golden");
    let mut topics = Vec::new();
    for n in COUNTS {
        let t = format!("{base}-{n}");
        create_topic(&bootstrap, &t, n).await;
        topics.push((t, n));
    }
    let keys = dir().join("keys.json");
    let result = tokio::task::spawn_blocking(move || {
        let specs: Vec<(&str, i32)> = topics.iter().map(|(t, n)| (t.as_str(), *n)).collect();
        gregor_testkit::peers::librdkafka_partitioners(
            &python,
            &bootstrap,
            &keys,
            &["consistent", "murmur2_random", "fnv1a"],
            &specs,
        )
    })
    .await
    .unwrap()
    .unwrap();
    let value = serde_json::json!({
        "note": "partition librdkafka chose per key (keys.json), per partitioner and partition count, from its delivery reports",
        "librdkafka": result["version"],
        "partitions": result["partitions"],
    });
    store_or_compare("librdkafka.json", &value);
}

#[test]
fn kafka_python_partitioner_matches_the_golden_data() {
    let Some(python) = gregor_testkit::peers::python("kafka_python_partitioner") else {
        return;
    };
    let result =
        gregor_testkit::peers::kafka_python_partitions(&python, &dir().join("keys.json"), &COUNTS)
            .unwrap();
    let value = serde_json::json!({
        "note": "partition kafka-python's DefaultPartitioner chose per key (keys.json) and partition count",
        "partitions": result["partitions"],
    });
    store_or_compare("kafka-python.json", &value);
}
