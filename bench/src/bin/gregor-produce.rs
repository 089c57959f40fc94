//! Gregor's producer: `try_send` (falling back to `enqueue`, which waits for
//! buffer room) with the delivery futures dropped and an `on_delivery`
//! callback counting acknowledged records; the same shape as librdkafka's
//! produce-and-poll loop with a delivery callback.
//!
//! Measures from the first record to the last acknowledgement, after one
//! warm-up record has loaded the metadata and the producer id.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use clap::Parser;
use gregor_bench::{Codec, Meter, ProduceArgs, Result, Run, STALL_LIMIT, value_pool};
use gregor_client::producer::{Acks, ProduceErrorKind, Producer, ProducerConfig, ProducerRecord};
use gregor_net::{Cluster, ClusterConfig};
use gregor_protocol::Compression;

#[derive(Default)]
struct Counter {
    delivered: AtomicU64,
    failed: AtomicU64,
}

fn main() -> Result {
    let args = ProduceArgs::parse();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(run(args))
}

async fn run(args: ProduceArgs) -> Result {
    let config = ProducerConfig::builder()
        .idempotence(true)
        .acks(Acks::All)
        .max_in_flight(5)
        .linger(Duration::from_millis(args.linger_ms))
        .batch_size(args.batch_size)
        .max_request_size(args.max_request_size)
        .buffer_memory(args.buffer_memory)
        .compression(match args.compression {
            Codec::None => Compression::None,
            Codec::Lz4 => Compression::Lz4,
        })
        .build()?;
    let cluster = Cluster::connect(
        ClusterConfig::builder()
            .bootstrap_servers([args.bootstrap.as_str()])
            .build()?,
    )
    .await?;
    let counter = Arc::new(Counter::default());
    let producer = {
        let counter = counter.clone();
        Producer::builder(cluster)
            .config(config)
            .on_delivery(move |report| match report.result {
                Ok(_) => {
                    counter.delivered.fetch_add(1, Ordering::Relaxed);
                }
                Err(e) => {
                    if counter.failed.fetch_add(1, Ordering::Relaxed) == 0 {
                        eprintln!("gregor-produce: a record failed: {e}");
                    }
                }
            })
            .build()
    };
    let pool: Vec<Bytes> = value_pool(args.value_size)
        .into_iter()
        .map(Bytes::from)
        .collect();
    // A 'static topic name: records borrow it instead of copying it.
    let topic: &'static str = Box::leak(args.topic.clone().into_boxed_str());

    // Warm-up: metadata, connection, producer id.
    producer
        .send(
            ProducerRecord::to(topic)
                .value(pool[0].clone())
                .partition(0),
        )
        .await?;
    let deadline = Instant::now() + Duration::from_secs(10);
    while counter.delivered.load(Ordering::Relaxed) == 0 {
        if Instant::now() > deadline {
            return Err("the warm-up record's delivery was not reported".into());
        }
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    counter.delivered.store(0, Ordering::Relaxed);

    let meter = Meter::start();
    let partitions = args.partitions.max(1) as u64;
    for i in 0..args.records {
        let record = || {
            ProducerRecord::to(topic)
                .value(pool[i as usize % pool.len()].clone())
                .partition((i % partitions) as i32)
        };
        match producer.try_send(record()) {
            Ok(_delivery) => {}
            Err(e) if matches!(e.kind, ProduceErrorKind::BufferFull { .. }) => {
                drop(producer.enqueue(record()).await?);
            }
            Err(e) => return Err(e.into()),
        }
    }
    producer.flush().await;
    let mut last = (0, Instant::now());
    loop {
        let done =
            counter.delivered.load(Ordering::Relaxed) + counter.failed.load(Ordering::Relaxed);
        if done >= args.records {
            break;
        }
        if done != last.0 {
            last = (done, Instant::now());
        } else if last.1.elapsed() > STALL_LIMIT {
            return Err(format!("stalled at {done} of {} records", args.records).into());
        }
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    let delivered = counter.delivered.load(Ordering::Relaxed);
    let report = meter.finish(
        Run {
            client: "gregor",
            mode: "produce",
            target: &args.target,
            topic,
            value_size: args.value_size,
            compression: args.compression,
        },
        delivered,
        delivered * args.value_size as u64,
    );
    report.print();
    producer.close(Duration::from_secs(10)).await;
    let failed = counter.failed.load(Ordering::Relaxed);
    if failed > 0 {
        return Err(format!("{failed} records failed").into());
    }
    Ok(())
}
