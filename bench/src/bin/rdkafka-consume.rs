//! rust-rdkafka's consumer: a `BaseConsumer` assigned every partition from
//! the beginning, polled one message at a time (its API), touching each
//! value.
//!
//! Measures from `assign` to the last record, once connected.

use std::time::{Duration, Instant};

use clap::Parser;
use gregor_bench::{ConsumeArgs, Meter, Result, Run, STALL_LIMIT};
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::Message;
use rdkafka::{Offset, TopicPartitionList};

fn main() -> Result {
    let args = ConsumeArgs::parse();
    let mut config = ClientConfig::new();
    // RDKAFKA_DEBUG=broker,protocol,... turns on librdkafka's debug log.
    if let Ok(debug) = std::env::var("RDKAFKA_DEBUG") {
        config.set("debug", debug);
    }
    let consumer: BaseConsumer = config
        .set("bootstrap.servers", &args.bootstrap)
        // librdkafka wants a group id for a consumer; with `assign` and no
        // commits it never joins the group.
        .set("group.id", "gregor-bench-rdkafka")
        .set("enable.auto.commit", "false")
        .set("enable.auto.offset.store", "false")
        .set("enable.partition.eof", "false")
        .set("auto.offset.reset", "earliest")
        .set("fetch.max.bytes", args.fetch_max_bytes.to_string())
        .set(
            "max.partition.fetch.bytes",
            args.partition_max_bytes.to_string(),
        )
        .set("fetch.min.bytes", args.fetch_min_bytes.to_string())
        .set("fetch.wait.max.ms", args.fetch_wait_max_ms.to_string())
        .set(
            "queued.max.messages.kbytes",
            (args.prefetch_bytes / 1024).to_string(),
        )
        .set("check.crcs", "false")
        .create()?;
    let mut assignment = TopicPartitionList::new();
    for p in 0..args.partitions {
        assignment.add_partition_offset(&args.topic, p, Offset::Beginning)?;
    }

    // Connected with the metadata loaded before the clock starts, as
    // Gregor's consumer is once `Consumer::connect` returns.
    consumer.fetch_metadata(Some(&args.topic), Duration::from_secs(30))?;

    let meter = Meter::start();
    consumer.assign(&assignment)?;
    let mut records = 0u64;
    let mut bytes = 0u64;
    let mut last = Instant::now();
    while records < args.records {
        match consumer.poll(Duration::from_millis(100)) {
            Some(Ok(message)) => {
                records += 1;
                bytes += message.payload().map_or(0, |v| v.len()) as u64;
                last = Instant::now();
            }
            Some(Err(e)) => eprintln!("rdkafka-consume: {e}"),
            None => {
                if last.elapsed() > STALL_LIMIT {
                    return Err(format!("stalled at {records} of {} records", args.records).into());
                }
            }
        }
    }
    meter
        .finish(
            Run {
                client: "rdkafka",
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
    Ok(())
}
