//! What every benchmark binary shares: the command line, the test values,
//! the clock, the process's CPU time and the one JSON line each run prints.
//!
//! The binaries (`src/bin/`): `gregor-produce`, `rdkafka-produce`,
//! `gregor-consume`, `rdkafka-consume` run one configuration each and print
//! one [`Report`] as a JSON line on stdout; `sink` is a Kafka "broker" that
//! acknowledges Produce requests without storing anything, so the producer
//! is the bottleneck. `cargo xtask bench` drives them all.

use std::time::{Duration, Instant};

use serde::Serialize;

/// The compression codecs the benchmarks compare.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Codec {
    /// No compression.
    None,
    /// LZ4 (Kafka's framed LZ4).
    Lz4,
}

impl Codec {
    /// The name librdkafka's `compression.type` takes.
    pub fn librdkafka_name(self) -> &'static str {
        match self {
            Codec::None => "none",
            Codec::Lz4 => "lz4",
        }
    }
}

/// Options of a producer run, identical for both clients.
#[derive(Debug, Clone, clap::Parser)]
pub struct ProduceArgs {
    /// Broker (or sink) address, `host:port`.
    #[arg(long, default_value = "127.0.0.1:9092")]
    pub bootstrap: String,
    /// Topic to produce to (it must exist on a real broker).
    #[arg(long, default_value = "bench")]
    pub topic: String,
    /// Records to produce and have acknowledged.
    #[arg(long, default_value_t = 1_000_000)]
    pub records: u64,
    /// Bytes in each record's value (records have no key and no headers).
    #[arg(long, default_value_t = 100)]
    pub value_size: usize,
    /// Partitions of the topic; record `i` goes to partition `i % partitions`.
    #[arg(long, default_value_t = 6)]
    pub partitions: i32,
    /// Compression.
    #[arg(long, value_enum, default_value = "none")]
    pub compression: Codec,
    /// Largest batch per partition, bytes (`batch.size`).
    #[arg(long, default_value_t = 1_000_000)]
    pub batch_size: usize,
    /// Largest Produce request, bytes (`message.max.bytes` / `max.request.size`).
    #[arg(long, default_value_t = 1_048_576)]
    pub max_request_size: usize,
    /// How long a batch may wait for more records, ms (`linger.ms`).
    #[arg(long, default_value_t = 5)]
    pub linger_ms: u64,
    /// Memory for records not yet acknowledged, bytes
    /// (`queue.buffering.max.kbytes` / `buffer.memory`).
    #[arg(long, default_value_t = 64 * 1024 * 1024)]
    pub buffer_memory: usize,
    /// Where the run goes, echoed in the report (`broker` or `sink`).
    #[arg(long, default_value = "broker")]
    pub target: String,
}

/// Options of a consumer run, identical for both clients.
#[derive(Debug, Clone, clap::Parser)]
pub struct ConsumeArgs {
    /// Broker address, `host:port`.
    #[arg(long, default_value = "127.0.0.1:9092")]
    pub bootstrap: String,
    /// Topic to read from its start.
    #[arg(long, default_value = "bench")]
    pub topic: String,
    /// Records to read (the topic must hold at least this many).
    #[arg(long, default_value_t = 1_000_000)]
    pub records: u64,
    /// Partitions of the topic: all of them are assigned.
    #[arg(long, default_value_t = 6)]
    pub partitions: i32,
    /// `fetch.max.bytes`.
    #[arg(long, default_value_t = 50 * 1024 * 1024)]
    pub fetch_max_bytes: usize,
    /// `max.partition.fetch.bytes`.
    #[arg(long, default_value_t = 1024 * 1024)]
    pub partition_max_bytes: usize,
    /// `fetch.min.bytes`.
    #[arg(long, default_value_t = 1)]
    pub fetch_min_bytes: usize,
    /// `fetch.wait.max.ms` / `fetch.max.wait.ms`.
    #[arg(long, default_value_t = 500)]
    pub fetch_wait_max_ms: u64,
    /// Memory for fetched records not yet handed out, bytes
    /// (`queued.max.messages.kbytes` / Gregor's prefetch budget).
    #[arg(long, default_value_t = 64 * 1024 * 1024)]
    pub prefetch_bytes: usize,
    /// Compression the topic was written with, echoed in the report.
    #[arg(long, value_enum, default_value = "none")]
    pub compression: Codec,
    /// Value size the topic was written with, echoed in the report.
    #[arg(long, default_value_t = 100)]
    pub value_size: usize,
    /// Where the run goes, echoed in the report.
    #[arg(long, default_value = "broker")]
    pub target: String,
}

/// How many distinct values a run cycles through: more than LZ4's 64 KiB
/// window holds even at 100 B, so compression sees realistic, not
/// repeated, data.
pub const VALUE_POOL: usize = 2048;

const WORDS: [&str; 64] = [
    "order",
    "customer",
    "payment",
    "shipped",
    "pending",
    "amount",
    "currency",
    "EUR",
    "USD",
    "warehouse",
    "item",
    "quantity",
    "price",
    "discount",
    "status",
    "created",
    "updated",
    "region",
    "north",
    "south",
    "east",
    "west",
    "priority",
    "high",
    "low",
    "normal",
    "account",
    "session",
    "device",
    "mobile",
    "desktop",
    "browser",
    "latency",
    "error",
    "timeout",
    "retry",
    "success",
    "failure",
    "user",
    "admin",
    "guest",
    "event",
    "click",
    "view",
    "purchase",
    "refund",
    "cart",
    "checkout",
    "coupon",
    "invoice",
    "tax",
    "total",
    "subtotal",
    "address",
    "city",
    "country",
    "zip",
    "phone",
    "email",
    "name",
    "id",
    "version",
    "true",
    "false",
];

/// `VALUE_POOL` distinct values of `size` bytes each: JSON-ish text of
/// random words and numbers, compressible about as much as real event data.
/// The same seed gives the same values in every binary.
pub fn value_pool(size: usize) -> Vec<Vec<u8>> {
    let mut rng = XorShift(0x9E37_79B9_7F4A_7C15);
    (0..VALUE_POOL)
        .map(|_| {
            let mut v = Vec::with_capacity(size + 16);
            v.push(b'{');
            while v.len() < size {
                let r = rng.next();
                let word = WORDS[(r % WORDS.len() as u64) as usize];
                v.push(b'"');
                v.extend_from_slice(word.as_bytes());
                v.extend_from_slice(b"\":");
                let digits = ((r >> 8) % 9 + 1) as u32;
                v.extend_from_slice(((r >> 20) % 10u64.pow(digits)).to_string().as_bytes());
                v.push(b',');
            }
            v.truncate(size);
            v
        })
        .collect()
}

struct XorShift(u64);

impl XorShift {
    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }
}

/// CPU time the whole process (every thread) used so far.
#[derive(Debug, Clone, Copy)]
pub struct CpuTime {
    /// User time.
    pub user: Duration,
    /// System time.
    pub system: Duration,
}

impl CpuTime {
    /// Reads `getrusage(RUSAGE_SELF)`.
    pub fn now() -> CpuTime {
        let mut usage = std::mem::MaybeUninit::<libc::rusage>::zeroed();
        // SAFETY: getrusage writes a whole `rusage` into the pointer, which
        // points at one; RUSAGE_SELF cannot fail.
        #[allow(unsafe_code)]
        let usage = unsafe {
            libc::getrusage(libc::RUSAGE_SELF, usage.as_mut_ptr());
            usage.assume_init()
        };
        let tv = |t: libc::timeval| {
            Duration::from_secs(t.tv_sec as u64) + Duration::from_micros(t.tv_usec as u64)
        };
        CpuTime {
            user: tv(usage.ru_utime),
            system: tv(usage.ru_stime),
        }
    }
}

/// Wall clock and CPU time of the measured part of a run.
#[derive(Debug)]
pub struct Meter {
    wall: Instant,
    cpu: CpuTime,
}

impl Meter {
    /// Starts measuring.
    pub fn start() -> Meter {
        Meter {
            cpu: CpuTime::now(),
            wall: Instant::now(),
        }
    }

    /// Stops measuring and builds the report.
    pub fn finish(self, run: Run<'_>, records: u64, bytes: u64) -> Report {
        let seconds = self.wall.elapsed().as_secs_f64();
        let cpu = CpuTime::now();
        let user = (cpu.user.saturating_sub(self.cpu.user)).as_secs_f64();
        let system = (cpu.system.saturating_sub(self.cpu.system)).as_secs_f64();
        let per_record = if records == 0 {
            0.0
        } else {
            (user + system) * 1e6 / records as f64
        };
        Report {
            client: run.client,
            mode: run.mode,
            target: run.target.to_owned(),
            topic: run.topic.to_owned(),
            value_size: run.value_size,
            compression: run.compression,
            records,
            bytes,
            seconds,
            records_per_s: records as f64 / seconds,
            mb_per_s: bytes as f64 / 1e6 / seconds,
            cpu_user_s: user,
            cpu_sys_s: system,
            cpu_s: user + system,
            cpu_us_per_record: per_record,
            cpu_s_per_million: per_record,
        }
    }
}

/// What a report is about.
#[derive(Debug, Clone, Copy)]
pub struct Run<'a> {
    /// `gregor` or `rdkafka`.
    pub client: &'static str,
    /// `produce` or `consume`.
    pub mode: &'static str,
    /// `broker` or `sink`.
    pub target: &'a str,
    /// The topic.
    pub topic: &'a str,
    /// Bytes per value.
    pub value_size: usize,
    /// Compression.
    pub compression: Codec,
}

/// The one JSON line a client binary prints.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// `gregor` or `rdkafka`.
    pub client: &'static str,
    /// `produce` or `consume`.
    pub mode: &'static str,
    /// `broker` or `sink`.
    pub target: String,
    /// The topic.
    pub topic: String,
    /// Bytes per value.
    pub value_size: usize,
    /// Compression.
    pub compression: Codec,
    /// Records acknowledged (produce) or received (consume).
    pub records: u64,
    /// Value bytes of those records.
    pub bytes: u64,
    /// Wall-clock seconds of the measured part.
    pub seconds: f64,
    /// Records per second.
    pub records_per_s: f64,
    /// Value megabytes (10^6 bytes) per second.
    pub mb_per_s: f64,
    /// User CPU seconds of the whole process during the measured part.
    pub cpu_user_s: f64,
    /// System CPU seconds of the whole process during the measured part.
    pub cpu_sys_s: f64,
    /// `cpu_user_s + cpu_sys_s`.
    pub cpu_s: f64,
    /// CPU microseconds per record.
    pub cpu_us_per_record: f64,
    /// CPU seconds per million records (the same number as µs per record).
    pub cpu_s_per_million: f64,
}

impl Report {
    /// Prints the report as one JSON line on stdout.
    pub fn print(&self) {
        match serde_json::to_string(self) {
            Ok(line) => println!("{line}"),
            Err(e) => eprintln!("cannot encode the report: {e}"),
        }
    }
}

/// Gives up a run that makes no progress for this long.
pub const STALL_LIMIT: Duration = Duration::from_secs(60);

/// The error of a benchmark binary: a sentence for the log.
pub type Result<T = ()> = std::result::Result<T, Box<dyn std::error::Error + Send + Sync>>;
