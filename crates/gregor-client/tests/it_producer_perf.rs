//! A rough throughput measurement against the local broker (ignored by
//! default; the rdkafka comparison is a benchmark of its own):
//!
//! ```text
//! cargo test --release -p gregor-client --test it_producer_perf -- --ignored --nocapture
//! ```
//!
//! `GREGOR_PERF_RECORDS` (default 1,000,000), `GREGOR_PERF_BATCH` (bytes,
//! default 16384) and `GREGOR_PERF_LINGER_MS` (default 5) tune it. Prints
//! records/s and the client's CPU time per record (from /proc).

mod it_producer_support;

use std::time::{Duration, Instant};

use bytes::Bytes;
use gregor_client::producer::{Producer, ProducerConfig, ProducerRecord};
use it_producer_support::{cluster, create_topic, unique};

fn env(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// This process's user + system CPU time.
fn cpu() -> Duration {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let after = stat.rsplit(')').next().unwrap_or_default();
    let fields: Vec<&str> = after.split_whitespace().collect();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|v| v.parse::<u64>().ok())
            .unwrap_or(0)
    };
    // utime and stime are fields 14 and 15 (1-based), 11 and 12 here.
    Duration::from_millis((ticks(11) + ticks(12)) * 10)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "a measurement, not a check: run with --release -- --ignored"]
async fn throughput_100_byte_records() {
    let Some(bootstrap) = gregor_testkit::bootstrap("throughput") else {
        return;
    };
    let records = env("GREGOR_PERF_RECORDS", 1_000_000);
    let batch = env("GREGOR_PERF_BATCH", 16_384) as usize;
    let linger = Duration::from_millis(env("GREGOR_PERF_LINGER_MS", 5));
    for keyed in [false, true] {
        let topic = unique("perf");
        create_topic(&bootstrap, &topic, 6).await;
        let producer = Producer::new(
            cluster(&bootstrap).await,
            ProducerConfig::builder()
                .batch_size(batch)
                .linger(linger)
                .build()
                .unwrap(),
        );
        // Warm up: metadata, producer id, connection.
        producer
            .send(ProducerRecord::to(topic.clone()).value("warm"))
            .await
            .unwrap();
        let value = Bytes::from(vec![b'x'; 100]);
        let keys: Vec<Bytes> = (0..1024).map(|i| Bytes::from(format!("key-{i}"))).collect();
        let topic: &'static str = Box::leak(topic.into_boxed_str());
        let (t0, c0) = (Instant::now(), cpu());
        let mut last = None;
        for i in 0..records {
            let mut r = ProducerRecord::to(topic).value(value.clone());
            if keyed {
                r = r.key(keys[(i % 1024) as usize].clone());
            }
            last = Some(producer.enqueue(r).await.unwrap());
        }
        producer.flush().await;
        last.unwrap().await.unwrap();
        let (elapsed, used) = (t0.elapsed(), cpu() - c0);
        let stats = producer.stats();
        assert_eq!(stats.errors, 0);
        eprintln!(
            "{} records of 100 B ({}), batch {batch} B, linger {linger:?}: {:.0} records/s, \
             {:.2} us CPU per record (whole process, 2 cores), {} requests, {:.0} records/batch, \
             request latency p50 {:?}",
            records,
            if keyed {
                "keyed, murmur2"
            } else {
                "no key, sticky"
            },
            records as f64 / elapsed.as_secs_f64(),
            used.as_secs_f64() * 1e6 / records as f64,
            stats.requests,
            stats.batch_records.avg,
            stats.request_latency.p50,
        );
        producer.close(Duration::from_secs(10)).await;
    }
}
