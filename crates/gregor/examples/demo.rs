//! The demo `cargo xtask demo` runs: Gregor at work against a broker.
//!
//! Connects, negotiates API versions, creates the demo topic, lists the
//! brokers and topics, then produces records through the idempotent
//! producer with a progress bar, reads them back through a consumer group
//! with manual commits, and prints both throughputs. Run it yourself
//! with
//! `cargo run -p gregor --example demo -- --bootstrap HOST:PORT`.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use clap::Parser;
use gregor::client::consumer::{Consumer, ConsumerConfig, OffsetReset};
use gregor::client::producer::{Producer, ProducerConfig, ProducerRecord};
use gregor::net::{Cluster, ClusterConfig, Connection, ConnectionConfig};
use gregor::protocol::{
    ApiKey, ErrorCode,
    messages::{CreateTopicsRequest, MetadataRequest, create_topics_request::CreatableTopic},
};
use indicatif::{ProgressBar, ProgressStyle};

#[derive(Debug, Parser)]
#[command(about = "Gregor at work against a Kafka broker")]
struct Args {
    /// Broker to start from.
    #[arg(long, default_value = "127.0.0.1:9092")]
    bootstrap: String,
    /// Topic to create.
    #[arg(long, default_value = "gregor-demo")]
    topic: String,
    /// Partitions of the topic.
    #[arg(long, default_value_t = 6)]
    partitions: i32,
    /// Records to produce.
    #[arg(long, default_value_t = 500_000)]
    records: u64,
    /// Bytes per record value.
    #[arg(long, default_value_t = 100)]
    value_size: usize,
}

/// Ends a step's spinner and says what happened and how long it took.
fn step(label: &str, started: Instant, pb: &ProgressBar) {
    pb.finish_and_clear();
    println!("{label} ({} ms)", started.elapsed().as_millis());
}

fn spinner(msg: &str) -> ProgressBar {
    let pb = ProgressBar::new_spinner();
    pb.set_style(
        ProgressStyle::with_template("{spinner} {msg} {elapsed}")
            .unwrap_or_else(|_| ProgressStyle::default_spinner()),
    );
    pb.set_message(msg.to_string());
    // Drawn only if the step lasts past a second, so quick steps stay quiet.
    pb.enable_steady_tick(Duration::from_millis(1000));
    pb
}

#[tokio::main]
async fn main() {
    let args = Args::parse();
    if let Err(e) = run(&args).await {
        eprintln!("error: {e}");
        std::process::exit(1);
    }
}

type DemoResult<T = ()> = Result<T, Box<dyn std::error::Error>>;

async fn run(args: &Args) -> DemoResult {
    println!("Gregor demo against {}", args.bootstrap);

    let t = Instant::now();
    let pb = spinner("connecting");
    let config = ConnectionConfig::builder()
        .client_id("gregor-demo")
        .build()
        .expect("a fixed, valid configuration");
    let conn = Connection::connect(args.bootstrap.as_str(), &config).await?;
    step(&format!("connected to {}", conn.broker()), t, &pb);

    let versions = conn.api_versions();
    println!("the broker offers {} APIs; negotiated:", versions.len());
    for api in [
        ApiKey::Produce,
        ApiKey::Fetch,
        ApiKey::ListOffsets,
        ApiKey::Metadata,
        ApiKey::OffsetCommit,
        ApiKey::FindCoordinator,
        ApiKey::JoinGroup,
        ApiKey::CreateTopics,
        ApiKey::InitProducerId,
    ] {
        match conn.version_for(api) {
            Some(v) => println!("  {:<16} v{v}", api.name()),
            None => println!("  {:<16} not offered", api.name()),
        }
    }

    let t = Instant::now();
    let pb = spinner(&format!("creating topic {}", args.topic));
    let created = conn
        .send(
            &CreateTopicsRequest::default()
                .with_topics(vec![
                    CreatableTopic::default()
                        .with_name(args.topic.as_str())
                        .with_num_partitions(args.partitions)
                        .with_replication_factor(-1),
                ])
                .with_timeout_ms(30_000),
        )
        .await?;
    let code = created
        .topics
        .first()
        .map(|t| ErrorCode::from_code(t.error_code))
        .unwrap_or(ErrorCode::None);
    let label = match code {
        ErrorCode::None => format!(
            "created topic {} with {} partitions",
            args.topic, args.partitions
        ),
        ErrorCode::TopicAlreadyExists => format!("topic {} already exists", args.topic),
        other => format!("could not create topic {}: {other}", args.topic),
    };
    step(&label, t, &pb);

    let md = conn
        .send(&MetadataRequest::default().with_topics(None))
        .await?;
    println!(
        "cluster {} (controller {}), {} broker(s):",
        md.cluster_id.as_deref().unwrap_or("-"),
        md.controller_id,
        md.brokers.len()
    );
    for b in &md.brokers {
        println!(
            "  node {:<6} {}:{}  rack {}",
            b.node_id,
            b.host,
            b.port,
            b.rack.as_deref().unwrap_or("-")
        );
    }
    let mut topics: Vec<_> = md.topics.iter().collect();
    topics.sort_by(|a, b| a.name.cmp(&b.name));
    println!("{} topic(s):", topics.len());
    for t in topics {
        println!(
            "  {:<40} {} partition(s){}",
            t.name.as_deref().unwrap_or("?"),
            t.partitions.len(),
            if t.is_internal { " (internal)" } else { "" }
        );
    }
    produce(args).await?;
    consume(args).await
}

/// Produces `args.records` records through the idempotent producer, keyed
/// over 1000 keys, and reports what the broker acknowledged.
async fn produce(args: &Args) -> DemoResult {
    let cluster = Cluster::connect(
        ClusterConfig::builder()
            .bootstrap_servers([args.bootstrap.as_str()])
            .build()?,
    )
    .await?;
    // librdkafka's default batch size; Java's 16 KiB caps throughput at one
    // small batch per partition per round trip.
    let config = ProducerConfig::builder().batch_size(1 << 20).build()?;
    let pb = ProgressBar::new(args.records);
    pb.set_style(
        ProgressStyle::with_template(
            "producing {bar:40} {pos}/{len} records acknowledged, {per_sec} ({eta} left)",
        )
        .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    let failed = Arc::new(AtomicU64::new(0));
    let producer = Producer::builder(cluster)
        .config(config)
        .on_delivery({
            let pb = pb.clone();
            let failed = failed.clone();
            move |report| {
                if report.result.is_err() {
                    failed.fetch_add(1, Ordering::Relaxed);
                }
                pb.inc(1);
            }
        })
        .build();
    let value = bytes::Bytes::from(vec![b'x'; args.value_size]);
    let keys: Vec<bytes::Bytes> = (0..1000).map(|k| format!("key-{k}").into()).collect();
    let topic: std::borrow::Cow<'static, str> = args.topic.clone().into();
    let started = Instant::now();
    for i in 0..args.records {
        let key = keys[(i % 1000) as usize].clone();
        let record = ProducerRecord::to(topic.clone())
            .key(key)
            .value(value.clone());
        // The delivery is reported to the callback; the future is not needed.
        drop(producer.enqueue(record).await?);
    }
    producer.flush().await;
    let secs = started.elapsed().as_secs_f64();
    pb.finish_and_clear();
    let stats = producer.stats();
    let failed = failed.load(Ordering::Relaxed);
    println!(
        "produced {} records of {} B in {:.2} s: {:.0} records/s, {:.1} MB/s ({} batches, {} requests, {} retries, {} failed)",
        stats.records,
        args.value_size,
        secs,
        stats.records as f64 / secs,
        stats.bytes as f64 / secs / 1e6,
        stats.batches,
        stats.requests,
        stats.retries,
        failed
    );
    producer.close(Duration::from_secs(30)).await;
    Ok(())
}

/// Reads everything produced back as a member of a new consumer group,
/// committing after each batch (at least once), and checks the count.
async fn consume(args: &Args) -> DemoResult {
    let group = format!("gregor-demo-{}", std::process::id());
    let config = ConsumerConfig::builder()
        .group_id(group.as_str())
        .offset_reset(OffsetReset::Earliest)
        .build()?;
    let consumer = Consumer::connect(&args.bootstrap, config).await?;
    consumer.subscribe([args.topic.as_str()])?;
    let pb = ProgressBar::new(args.records);
    pb.set_style(
        ProgressStyle::with_template(
            "consuming {bar:40} {pos}/{len} records (group {msg}), {per_sec}",
        )
        .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    pb.set_message(group.clone());
    let started = Instant::now();
    let mut first_record: Option<Instant> = None;
    let mut seen = 0u64;
    let mut bytes = 0u64;
    let deadline = Instant::now() + Duration::from_secs(120);
    while seen < args.records && Instant::now() < deadline {
        let batch = consumer
            .poll_batch(10_000, Duration::from_millis(500))
            .await?;
        if batch.is_empty() {
            continue;
        }
        first_record.get_or_insert_with(Instant::now);
        seen += batch.len() as u64;
        bytes += batch
            .iter()
            .map(|r| r.value.as_ref().map_or(0, |v| v.len()) as u64)
            .sum::<u64>();
        pb.inc(batch.len() as u64);
        // Processed: commit the positions handed out so far.
        consumer.commit().await?;
    }
    pb.finish_and_clear();
    let joined = first_record.map_or(started.elapsed(), |t| t - started);
    let reading = first_record.map_or(Duration::ZERO, |t| t.elapsed());
    let secs = reading.as_secs_f64().max(1e-9);
    println!(
        "consumed {seen} records through group {group} in {:.2} s after joining in {:.2} s: {:.0} records/s, {:.1} MB/s, {} partition(s) assigned",
        secs,
        joined.as_secs_f64(),
        seen as f64 / secs,
        bytes as f64 / secs / 1e6,
        consumer.assignment().len()
    );
    consumer.close().await?;
    if seen < args.records {
        return Err(format!("read only {seen} of {} records", args.records).into());
    }
    Ok(())
}
