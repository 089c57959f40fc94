//! rust-rdkafka's producer: `BaseProducer` with a delivery callback that
//! counts acknowledged records, polled from the sending thread (or, with
//! `--threaded`, `ThreadedProducer`, polled by its own thread).
//!
//! Event polling never waits with a timeout: rust-rdkafka's
//! `poll(timeout)` keeps polling until the deadline and hands librdkafka
//! the remaining time truncated to whole milliseconds, so its last
//! millisecond is a busy loop. A zero-timeout poll and a 100 µs sleep when
//! nothing came back keep that spinning out of rdkafka's CPU figures.
//!
//! Measures from the first record to the last acknowledgement, after one
//! warm-up record has loaded the metadata and the producer id.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use clap::Parser;
use gregor_bench::{Meter, ProduceArgs, Result, Run, STALL_LIMIT, value_pool};
use rdkafka::ClientConfig;
use rdkafka::ClientContext;
use rdkafka::config::RDKafkaLogLevel;
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::producer::{
    BaseProducer, BaseRecord, DeliveryResult, Producer, ProducerContext, ThreadedProducer,
};

/// Counts deliveries (called from `poll`).
#[derive(Default)]
struct Counter {
    delivered: AtomicU64,
    failed: AtomicU64,
}

impl ClientContext for Counter {
    fn log(&self, level: RDKafkaLogLevel, fac: &str, message: &str) {
        eprintln!("librdkafka {level:?} {fac}: {message}");
    }
}

impl ProducerContext for Counter {
    type DeliveryOpaque = ();

    fn delivery(&self, result: &DeliveryResult<'_>, _: ()) {
        match result {
            Ok(_) => self.delivered.fetch_add(1, Ordering::Relaxed),
            Err((e, _)) => {
                if self.failed.fetch_add(1, Ordering::Relaxed) == 0 {
                    eprintln!("rdkafka-produce: a record failed: {e}");
                }
                0
            }
        };
    }
}

#[derive(Debug, Parser)]
struct Args {
    #[command(flatten)]
    common: ProduceArgs,
    /// Use `ThreadedProducer` (a thread of its own polls for delivery
    /// reports) instead of polling `BaseProducer` from the sending thread.
    #[arg(long)]
    threaded: bool,
}

/// A record, as both producers take it and give it back when refused.
type Record<'a> = BaseRecord<'a, [u8], [u8]>;

/// Either producer: both hand out the same sends and delivery counts.
enum Client {
    Base(BaseProducer<Counter>),
    Threaded(ThreadedProducer<Counter>),
}

impl Client {
    fn context(&self) -> &Counter {
        match self {
            Client::Base(p) => p.context(),
            Client::Threaded(p) => p.context(),
        }
    }

    #[allow(clippy::result_large_err)]
    fn send<'a>(&self, record: Record<'a>) -> std::result::Result<(), (KafkaError, Record<'a>)> {
        match self {
            Client::Base(p) => p.send(record),
            Client::Threaded(p) => p.send(record),
        }
    }

    fn flush(&self, timeout: Duration) -> rdkafka::error::KafkaResult<()> {
        match self {
            Client::Base(p) => p.flush(timeout),
            Client::Threaded(p) => p.flush(timeout),
        }
    }

    fn done(&self) -> u64 {
        let ctx = self.context();
        ctx.delivered.load(Ordering::Relaxed) + ctx.failed.load(Ordering::Relaxed)
    }

    /// Serves waiting events (delivery reports) if this thread is the one
    /// to, and waits 100 µs if none came in.
    fn serve(&self) {
        let before = self.done();
        if let Client::Base(p) = self {
            p.poll(Duration::ZERO);
        }
        if self.done() == before {
            std::thread::sleep(Duration::from_micros(100));
        }
    }
}

fn main() -> Result {
    let Args {
        common: args,
        threaded,
    } = Args::parse();
    let mut config = ClientConfig::new();
    // RDKAFKA_DEBUG=broker,protocol,... turns on librdkafka's debug log.
    if let Ok(debug) = std::env::var("RDKAFKA_DEBUG") {
        config.set("debug", debug);
    }
    config
        .set("bootstrap.servers", &args.bootstrap)
        .set("enable.idempotence", "true")
        .set("acks", "all")
        .set("max.in.flight.requests.per.connection", "5")
        .set("linger.ms", args.linger_ms.to_string())
        .set("batch.size", args.batch_size.to_string())
        // librdkafka also caps a batch at 10,000 records by default; Gregor
        // has no such cap, so neither has this run.
        .set("batch.num.messages", "1000000")
        .set("message.max.bytes", args.max_request_size.to_string())
        .set("compression.type", args.compression.librdkafka_name())
        .set(
            "queue.buffering.max.kbytes",
            (args.buffer_memory / 1024).to_string(),
        )
        .set("queue.buffering.max.messages", "10000000");
    let client = if threaded {
        Client::Threaded(config.create_with_context(Counter::default())?)
    } else {
        Client::Base(config.create_with_context(Counter::default())?)
    };
    let pool = value_pool(args.value_size);
    let topic = args.topic.as_str();

    // Warm-up: metadata, connection, producer id.
    client
        .send(
            BaseRecord::<[u8], [u8]>::to(topic)
                .payload(&pool[0][..])
                .partition(0),
        )
        .map_err(|(e, _)| e)?;
    client.flush(Duration::from_secs(60))?;
    if client.context().delivered.load(Ordering::Relaxed) != 1 {
        return Err("the warm-up record was not delivered".into());
    }
    client.context().delivered.store(0, Ordering::Relaxed);

    let meter = Meter::start();
    let partitions = args.partitions.max(1) as u64;
    for i in 0..args.records {
        let value = &pool[i as usize % pool.len()][..];
        let mut record = BaseRecord::<[u8], [u8]>::to(topic)
            .payload(value)
            .partition((i % partitions) as i32);
        loop {
            match client.send(record) {
                Ok(()) => break,
                Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), r)) => {
                    record = r;
                    client.serve();
                }
                Err((e, _)) => return Err(e.into()),
            }
        }
        if let Client::Base(p) = &client
            && i % 64 == 0
        {
            p.poll(Duration::ZERO);
        }
    }
    let ctx = client.context();
    let mut last = (0, Instant::now());
    loop {
        let done = client.done();
        if done >= args.records {
            break;
        }
        if done != last.0 {
            last = (done, Instant::now());
        } else if last.1.elapsed() > STALL_LIMIT {
            return Err(format!("stalled at {done} of {} records", args.records).into());
        }
        client.serve();
    }
    let delivered = ctx.delivered.load(Ordering::Relaxed);
    let report = meter.finish(
        Run {
            client: "rdkafka",
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
    let failed = ctx.failed.load(Ordering::Relaxed);
    if failed > 0 {
        return Err(format!("{failed} records failed").into());
    }
    Ok(())
}
