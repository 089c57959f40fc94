//! Gregor's consumer: every partition assigned (no group) from the earliest
//! offset, read with `poll_batch` (its API), touching each value.
//!
//! Measures from `assign` to the last record, once connected.
//! `GREGOR_BENCH_STATS=1` prints the consumer's stats on stderr at the end.

use std::time::{Duration, Instant};

use clap::Parser;
use gregor_bench::{ConsumeArgs, Meter, Result, Run, STALL_LIMIT};
use gregor_client::consumer::{Consumer, ConsumerConfig, OffsetReset, TopicPartition};

/// Records one `poll_batch` returns at most.
const MAX_POLL_RECORDS: usize = 10_000;

fn main() -> Result {
    let args = ConsumeArgs::parse();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(run(args))
}

async fn run(args: ConsumeArgs) -> Result {
    let config = ConsumerConfig::builder()
        .enable_auto_commit(false)
        .offset_reset(OffsetReset::Earliest)
        .fetch_max_bytes(args.fetch_max_bytes)
        .partition_max_bytes(args.partition_max_bytes)
        .fetch_min_bytes(args.fetch_min_bytes)
        .fetch_max_wait(Duration::from_millis(args.fetch_wait_max_ms))
        .prefetch_budget(args.prefetch_bytes)
        .check_crcs(false)
        .build()?;
    let consumer = Consumer::connect(&args.bootstrap, config).await?;

    let meter = Meter::start();
    consumer.assign((0..args.partitions).map(|p| TopicPartition::new(args.topic.as_str(), p)))?;
    let mut records = 0u64;
    let mut bytes = 0u64;
    let mut last = Instant::now();
    while records < args.records {
        match consumer
            .poll_batch(MAX_POLL_RECORDS, Duration::from_millis(100))
            .await
        {
            Ok(batch) => {
                if !batch.is_empty() {
                    last = Instant::now();
                }
                // The last batch may hold more than asked for: count the
                // records asked for, as rdkafka-consume does.
                let wanted = (args.records - records) as usize;
                for record in batch.iter().take(wanted) {
                    records += 1;
                    bytes += record.value_bytes().len() as u64;
                }
            }
            Err(e) => eprintln!("gregor-consume: {e}"),
        }
        if last.elapsed() > STALL_LIMIT {
            return Err(format!("stalled at {records} of {} records", args.records).into());
        }
    }
    meter
        .finish(
            Run {
                client: "gregor",
                mode: "consume",
                target: &args.target,
                topic: &args.topic,
                value_size: args.value_size,
                compression: args.compression,
            },
            records,
            bytes,
        )
        .print();
    if std::env::var_os("GREGOR_BENCH_STATS").is_some() {
        eprintln!("{:#?}", consumer.stats());
    }
    drop(consumer);
    Ok(())
}
