//! Exactly once across broker restarts: 200,000 records to 6 partitions
//! from an idempotent producer while the restartable (sqlite) broker is
//! stopped and started twice. Every acknowledged record must be in the log
//! exactly once, each partition in send order, as both librdkafka and
//! Gregor's own decoder (`Conn`) read it back.

mod it_producer_support;

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use gregor_client::producer::{Persistence, Producer, ProducerConfig, ProducerRecord};
use it_producer_support::{create_topic, read_all, unique};

const PREFIX: &str = "GREGOR_RESTART_";
const RECORDS: u64 = 200_000;
const PARTITIONS: i32 = 6;

/// Stops the broker now: `SIGTERM`, and `SIGKILL` if it is still there
/// after 300 ms. (nisshi's graceful shutdown keeps serving open
/// connections, so the testkit's patient `stop` would let the producer
/// finish first.) Restarted with the testkit's `start`.
fn stop_now(prefix: &str) -> Result<(), String> {
    let path = std::env::var(format!("{prefix}BROKER_STATE")).map_err(|e| e.to_string())?;
    let state: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&path).map_err(|e| e.to_string())?)
            .map_err(|e| e.to_string())?;
    let pid = state["pid"].as_u64().ok_or("no pid")?.to_string();
    let alive = || std::fs::read(format!("/proc/{pid}/cmdline")).is_ok_and(|c| !c.is_empty());
    let _ = std::process::Command::new("kill")
        .args(["-TERM", &pid])
        .status();
    std::thread::sleep(Duration::from_millis(300));
    if alive() {
        let _ = std::process::Command::new("kill")
            .args(["-KILL", &pid])
            .status();
    }
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while alive() && std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    Ok(())
}

async fn broker(f: fn(&str) -> Result<(), String>) {
    tokio::task::spawn_blocking(move || f(PREFIX))
        .await
        .unwrap()
        .unwrap_or_else(|e| panic!("broker control failed: {e}"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idempotent_producer_writes_each_record_once_in_order_across_restarts() {
    let Some(bootstrap) = gregor_testkit::bootstrap_for(PREFIX, "idempotent_producer_restarts")
    else {
        return;
    };
    let started = std::time::Instant::now();
    let topic = unique("restart");
    create_topic(&bootstrap, &topic, PARTITIONS).await;
    let config = ProducerConfig::builder()
        .batch_size(64 * 1024)
        .linger(Duration::from_millis(5))
        .request_timeout(Duration::from_secs(5))
        .delivery_timeout(Duration::from_secs(90))
        .buffer_memory(4 << 20)
        .build()
        .unwrap();
    assert!(config.idempotence());
    let cluster = it_producer_support::cluster(&bootstrap).await;
    let producer = Producer::new(cluster, config);

    // Restart the broker twice while records flow: once a quarter and
    // once three fifths of them are acknowledged.
    let queued = Arc::new(AtomicU64::new(0));
    let restarts = {
        let producer = producer.clone();
        tokio::spawn(async move {
            for at in [RECORDS / 4, RECORDS * 3 / 5] {
                while producer.stats().records < at {
                    tokio::time::sleep(Duration::from_millis(5)).await;
                }
                broker(stop_now).await;
                let down = producer.stats();
                tokio::time::sleep(Duration::from_secs(2)).await;
                let before = producer.stats();
                broker(gregor_testkit::broker::start).await;
                eprintln!(
                    "restarted the broker after {at} records acknowledged; while it was down: \
                     {} -> {} records, {} -> {} retries",
                    down.records, before.records, down.retries, before.retries
                );
            }
        })
    };
    // Values are the record's number, padded to 100 bytes; keys spread the
    // numbers over the partitions (murmur2), so each partition gets an
    // increasing subsequence.
    let mut deliveries = Vec::with_capacity(RECORDS as usize);
    for i in 0..RECORDS {
        let value = format!("{i:0>100}");
        let record = ProducerRecord::to(topic.clone())
            .key(format!("key-{}", i % 997))
            .value(value);
        deliveries.push(producer.enqueue(record).await.expect("queued"));
        queued.store(i + 1, Ordering::Relaxed);
    }
    restarts.await.unwrap();
    let mut acked: HashMap<i32, Vec<u64>> = HashMap::new();
    let mut failed = Vec::new();
    for (i, d) in deliveries.into_iter().enumerate() {
        match d.await {
            Ok(m) => acked.entry(m.partition).or_default().push(i as u64),
            Err(e) => failed.push((i, e)),
        }
    }
    let stats = producer.stats();
    eprintln!("{stats:#?}");
    eprintln!(
        "produced in {:?}: {} acknowledged, {} failed",
        started.elapsed(),
        RECORDS as usize - failed.len(),
        failed.len()
    );
    for (i, e) in failed.iter().take(5) {
        eprintln!("record {i} failed: {e}");
    }
    // The delivery timeout is long enough that nothing should fail; if
    // something did, it must say whether it may be in the log.
    assert!(failed.is_empty(), "{} records failed", failed.len());
    let report = producer.close(Duration::from_secs(10)).await;
    assert!(report.is_clean(), "{report:?}");

    // Gregor's decoder: every acknowledged record exactly once, in order.
    for p in 0..PARTITIONS {
        let msgs = read_all(&bootstrap, &topic, p).await;
        let values: Vec<u64> = msgs
            .iter()
            .map(|m| {
                std::str::from_utf8(m.value.as_ref().unwrap())
                    .unwrap()
                    .parse()
                    .unwrap()
            })
            .collect();
        let want = acked.get(&p).cloned().unwrap_or_default();
        assert!(
            values.windows(2).all(|w| w[0] < w[1]),
            "partition {p}: out of order or duplicated"
        );
        assert_eq!(
            values, want,
            "partition {p}: exactly the acknowledged records"
        );
    }

    // librdkafka sees the same.
    if let Some(python) = gregor_testkit::peers::python("idempotent_producer_restarts") {
        let seen = gregor_testkit::peers::librdkafka_consume_sequences(
            &python, &bootstrap, &topic, PARTITIONS,
        )
        .unwrap();
        for p in 0..PARTITIONS {
            let s = &seen["partitions"][p.to_string()];
            let want = acked.get(&p).cloned().unwrap_or_default();
            assert_eq!(
                s["count"].as_u64(),
                Some(want.len() as u64),
                "partition {p}: {s}"
            );
            assert_eq!(
                s["sum"].as_u64(),
                Some(want.iter().sum::<u64>()),
                "partition {p}"
            );
            assert_eq!(s["first"].as_u64(), want.first().copied(), "partition {p}");
            assert_eq!(s["last"].as_u64(), want.last().copied(), "partition {p}");
            assert_eq!(s["out_of_order"], serde_json::json!([]), "partition {p}");
            assert_eq!(s["duplicates"], serde_json::json!([]), "partition {p}");
        }
    }
    let _ = Persistence::NotPersisted;
    eprintln!("whole test took {:?}", started.elapsed());
}
