//! `cargo xtask bench produce|consume`: Gregor against rust-rdkafka
//! (librdkafka) on this machine, same broker, same settings.
//!
//! Builds the `bench/` crate (outside the workspace, so CI never builds
//! librdkafka), starts a local nisshi broker and, for `produce`, the
//! `sink` (a broker that acknowledges without storing, so the client is
//! the bottleneck), runs every case for both clients — alternating them,
//! `--runs` times each — and prints the medians: throughput, client CPU per
//! record and the Gregor/rdkafka ratios. Each run is a fresh client process
//! that prints one JSON line; all of them are kept in
//! `target/gregor-bench/<what>.jsonl`. `--write` puts the table into
//! `BENCHMARKS.md` between its `<!-- bench:<what> -->` markers.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::fs;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::broker::{self, StartOpts, Storage};
use crate::util::{self, Result, cargo, mkdir, run_quiet, workspace_root};

/// Gregor's targets from the issues: throughput at least rdkafka's, CPU per
/// record at most this share of rdkafka's.
const CPU_TARGET: f64 = 0.7;

/// Partitions of every benchmark topic.
const PARTITIONS: i32 = 6;

/// The broker instance the benchmark starts (and stops).
const BROKER: &str = "bench";

/// Which side of the client to measure.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum What {
    /// The producer, against the sink and the broker.
    Produce,
    /// The consumer, reading topics filled beforehand on the broker.
    Consume,
}

impl What {
    fn name(self) -> &'static str {
        match self {
            What::Produce => "produce",
            What::Consume => "consume",
        }
    }
}

/// Where the producer sends.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, clap::ValueEnum)]
pub(crate) enum Target {
    /// The acknowledge-only sink: the client is the bottleneck.
    Sink,
    /// A local nisshi broker (memory storage).
    Broker,
}

impl Target {
    fn name(self) -> &'static str {
        match self {
            Target::Sink => "sink",
            Target::Broker => "broker",
        }
    }
}

/// Options of `cargo xtask bench`.
#[derive(Debug, Clone, clap::Args)]
pub(crate) struct Opts {
    /// What to measure.
    #[arg(value_enum)]
    pub(crate) what: What,
    /// Records per case (default: 1,000,000 at 100 B; at 1 KB 300,000 for
    /// produce and 1,000,000 for consume).
    #[arg(long)]
    pub(crate) records: Option<u64>,
    /// A tenth of the records and one run per case: a smoke test, not a
    /// measurement.
    #[arg(long)]
    pub(crate) quick: bool,
    /// Runs of each case per client; the table shows the median.
    #[arg(long, default_value_t = 3)]
    pub(crate) runs: usize,
    /// Only this target (produce; default: both).
    #[arg(long, value_enum)]
    pub(crate) target: Option<Target>,
    /// Only these value sizes, bytes (default: 100 and 1024).
    #[arg(long, value_delimiter = ',')]
    pub(crate) sizes: Vec<usize>,
    /// Only this client (default: both).
    #[arg(long, value_parser = ["gregor", "rdkafka"])]
    pub(crate) client: Option<String>,
    /// Before each run, wait (up to 10 minutes) until the 1-minute load
    /// average is below this, so other work on the machine skews less.
    #[arg(long, value_name = "LOAD")]
    pub(crate) max_load: Option<f64>,
    /// Write the table into BENCHMARKS.md between its markers.
    #[arg(long)]
    pub(crate) write: bool,
    /// Use the bench binaries already built.
    #[arg(long)]
    pub(crate) no_build: bool,
}

/// One configuration: value size and compression.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
struct Case {
    target: Target,
    value_size: usize,
    compression: &'static str,
    records: u64,
}

impl Case {
    fn label(&self) -> String {
        format!(
            "{} {} {}",
            self.target.name(),
            size_label(self.value_size),
            self.compression
        )
    }

    fn topic(&self, what: What) -> String {
        format!(
            "bench-{}-{}-{}",
            what.name(),
            self.value_size,
            self.compression
        )
    }
}

fn size_label(size: usize) -> String {
    if size >= 1024 && size.is_multiple_of(1024) {
        format!("{} KiB", size / 1024)
    } else {
        format!("{size} B")
    }
}

/// Builds, starts, measures, prints; see the module documentation.
pub(crate) fn run(opts: &Opts) -> Result {
    let root = workspace_root();
    // The bench crate's own target folder, named so CARGO_TARGET_DIR cannot
    // move it: the binaries are run from there.
    let bins = root.join("bench").join("target").join("release");
    if !opts.no_build {
        eprintln!("==> building the bench crate (release; librdkafka the first time)");
        util::run(
            "cargo build (bench)",
            cargo().current_dir(&root).args([
                "build",
                "--release",
                "--manifest-path",
                "bench/Cargo.toml",
                "--target-dir",
                "bench/target",
            ]),
        )?;
    }
    let out_dir = root.join("target").join("gregor-bench");
    mkdir(&out_dir)?;
    let jsonl = out_dir.join(format!("{}.jsonl", opts.what.name()));
    let _ = fs::remove_file(&jsonl);

    let cases = cases(opts);
    let clients: Vec<&str> = match &opts.client {
        Some(c) => vec![c.as_str()],
        None => vec!["gregor", "rdkafka"],
    };
    let runs = if opts.quick { 1 } else { opts.runs.max(1) };
    let machine = Machine::read();
    eprintln!("==> {}", machine.line());

    let mut session = Session {
        opts,
        bins,
        clients,
        runs,
        jsonl: jsonl.clone(),
        results: Vec::new(),
        failures: Vec::new(),
    };
    match opts.what {
        What::Produce => session.produce(&cases)?,
        What::Consume => session.consume(&cases)?,
    }
    let Session {
        results, failures, ..
    } = session;

    let table = table(opts.what, &cases, &results);
    let command = command_line(opts);
    let mut section = String::new();
    let _ = writeln!(
        section,
        "Measured {} with `{command}` ({} run(s) per case and client, median shown).\n\n{}\n",
        machine.date,
        runs,
        machine.line()
    );
    section.push_str(&table);
    if !failures.is_empty() {
        section.push_str("\nFailed runs:\n\n");
        for f in &failures {
            let _ = writeln!(section, "- {f}");
        }
    }
    println!("\n{section}");
    eprintln!("every run's JSON line: {}", jsonl.display());
    if opts.write {
        write_section(&root.join("BENCHMARKS.md"), opts.what.name(), &section)?;
        eprintln!("wrote the table into BENCHMARKS.md");
    }
    if failures.is_empty() {
        Ok(())
    } else {
        Err(format!("{} run(s) failed (listed above)", failures.len()))
    }
}

fn cases(opts: &Opts) -> Vec<Case> {
    let sizes = if opts.sizes.is_empty() {
        vec![100, 1024]
    } else {
        opts.sizes.clone()
    };
    let targets = match (opts.what, opts.target) {
        (What::Consume, _) => vec![Target::Broker],
        (What::Produce, Some(t)) => vec![t],
        (What::Produce, None) => vec![Target::Sink, Target::Broker],
    };
    let mut cases = Vec::new();
    for &target in &targets {
        for &value_size in &sizes {
            for compression in ["none", "lz4"] {
                let default = match (opts.what, value_size >= 1000) {
                    (What::Produce, true) => 300_000,
                    _ => 1_000_000,
                };
                let mut records = opts.records.unwrap_or(default);
                if opts.quick {
                    records = (records / 10).max(1);
                }
                cases.push(Case {
                    target,
                    value_size,
                    compression,
                    records,
                });
            }
        }
    }
    cases
}

/// One `cargo xtask bench` run: what it runs and what it gathered.
struct Session<'a> {
    opts: &'a Opts,
    bins: PathBuf,
    clients: Vec<&'a str>,
    runs: usize,
    jsonl: PathBuf,
    results: Vec<Value>,
    failures: Vec<String>,
}

impl Session<'_> {
    fn produce(&mut self, cases: &[Case]) -> Result {
        let sink = if cases.iter().any(|c| c.target == Target::Sink) {
            Some(Sink::start(&self.bins)?)
        } else {
            None
        };
        for case in cases {
            for run in 1..=self.runs {
                for client in self.clients.clone() {
                    // A fresh broker per broker run: the same empty state for
                    // every run, and memory storage does not grow without end.
                    let (bootstrap, _broker) = match case.target {
                        Target::Sink => (
                            sink.as_ref().map(|s| s.bootstrap()).unwrap_or_default(),
                            None,
                        ),
                        Target::Broker => {
                            let b = BrokerGuard::start()?;
                            create_topic(&b.bootstrap, &case.topic(What::Produce))?;
                            (b.bootstrap.clone(), Some(b))
                        }
                    };
                    wait_quiet(self.opts.max_load);
                    let mut cmd = Command::new(self.bins.join(format!("{client}-produce")));
                    cmd.args(produce_args(
                        case,
                        &bootstrap,
                        &case.topic(What::Produce),
                        case.records,
                    ));
                    let label = format!(
                        "{client} produce {} (run {run}/{})",
                        case.label(),
                        self.runs
                    );
                    self.record_run(&label, &mut cmd)?;
                }
            }
        }
        Ok(())
    }

    fn consume(&mut self, cases: &[Case]) -> Result {
        for case in cases {
            // One broker per case, filled once: both clients read the same log.
            let broker = BrokerGuard::start()?;
            let topic = case.topic(What::Consume);
            create_topic(&broker.bootstrap, &topic)?;
            eprintln!(
                "==> filling {topic} with {} records (rdkafka)",
                case.records
            );
            let t = Instant::now();
            run_quiet(
                &format!("filling {topic}"),
                Command::new(self.bins.join("rdkafka-produce")).args(produce_args(
                    case,
                    &broker.bootstrap,
                    &topic,
                    case.records,
                )),
            )?;
            eprintln!("    filled in {:.1} s", t.elapsed().as_secs_f64());
            for run in 1..=self.runs {
                for client in self.clients.clone() {
                    wait_quiet(self.opts.max_load);
                    let mut cmd = Command::new(self.bins.join(format!("{client}-consume")));
                    cmd.args([
                        "--bootstrap",
                        &broker.bootstrap,
                        "--topic",
                        &topic,
                        "--records",
                        &case.records.to_string(),
                        "--partitions",
                        &PARTITIONS.to_string(),
                        "--value-size",
                        &case.value_size.to_string(),
                        "--compression",
                        case.compression,
                        "--target",
                        case.target.name(),
                    ]);
                    let label = format!(
                        "{client} consume {} (run {run}/{})",
                        case.label(),
                        self.runs
                    );
                    self.record_run(&label, &mut cmd)?;
                }
            }
        }
        Ok(())
    }

    /// Runs one client process and keeps its JSON line.
    fn record_run(&mut self, label: &str, cmd: &mut Command) -> Result {
        eprint!("{label}: ");
        let out = cmd
            .stdin(Stdio::null())
            .output()
            .map_err(|e| format!("{label}: could not start {:?}: {e}", cmd.get_program()))?;
        let stdout = String::from_utf8_lossy(&out.stdout);
        let line = stdout.lines().find(|l| l.starts_with('{'));
        let parsed = line.and_then(|l| serde_json::from_str::<Value>(l).ok());
        match (out.status.success(), parsed) {
            (true, Some(mut v)) => {
                let load = load_average();
                v["load_after"] = load.into();
                eprintln!(
                    "{:.0} records/s, {:.1} MB/s, {:.2} µs CPU/record (load {load:.2})",
                    num(&v, "records_per_s"),
                    num(&v, "mb_per_s"),
                    num(&v, "cpu_us_per_record"),
                );
                let mut text = fs::read_to_string(&self.jsonl).unwrap_or_default();
                text.push_str(&v.to_string());
                text.push('\n');
                fs::write(&self.jsonl, text)
                    .map_err(|e| format!("cannot write {}: {e}", self.jsonl.display()))?;
                self.results.push(v);
            }
            _ => {
                let stderr = String::from_utf8_lossy(&out.stderr);
                let tail = util::tail(&format!("{stdout}{stderr}"), 8);
                eprintln!("FAILED ({})\n{tail}", out.status);
                let last = tail.lines().last().unwrap_or("").to_string();
                self.failures
                    .push(format!("{label}: {} {last}", out.status));
            }
        }
        Ok(())
    }
}

fn produce_args(case: &Case, bootstrap: &str, topic: &str, records: u64) -> Vec<String> {
    vec![
        "--bootstrap".into(),
        bootstrap.into(),
        "--topic".into(),
        topic.into(),
        "--records".into(),
        records.to_string(),
        "--value-size".into(),
        case.value_size.to_string(),
        "--partitions".into(),
        PARTITIONS.to_string(),
        "--compression".into(),
        case.compression.into(),
        "--target".into(),
        case.target.name().into(),
    ]
}

fn num(v: &Value, key: &str) -> f64 {
    v.get(key).and_then(Value::as_f64).unwrap_or(f64::NAN)
}

fn median(mut xs: Vec<f64>) -> Option<f64> {
    xs.retain(|x| x.is_finite());
    if xs.is_empty() {
        return None;
    }
    xs.sort_by(f64::total_cmp);
    let n = xs.len();
    Some(if n % 2 == 1 {
        xs[n / 2]
    } else {
        (xs[n / 2 - 1] + xs[n / 2]) / 2.0
    })
}

/// The markdown table of medians.
fn table(what: What, cases: &[Case], results: &[Value]) -> String {
    // (case label, client) -> (records/s, MB/s, µs CPU per record) samples
    type Samples = Vec<(f64, f64, f64)>;
    let mut samples: BTreeMap<(String, String), Samples> = BTreeMap::new();
    for v in results {
        let size = v.get("value_size").and_then(Value::as_u64).unwrap_or(0) as usize;
        let key = format!(
            "{} {} {}",
            v.get("target").and_then(Value::as_str).unwrap_or("?"),
            size_label(size),
            v.get("compression").and_then(Value::as_str).unwrap_or("?"),
        );
        let client = v
            .get("client")
            .and_then(Value::as_str)
            .unwrap_or("?")
            .to_string();
        samples.entry((key, client)).or_default().push((
            num(v, "records_per_s"),
            num(v, "mb_per_s"),
            num(v, "cpu_us_per_record"),
        ));
    }
    let med = |label: &str, client: &str| -> Option<(f64, f64, f64)> {
        let s = samples.get(&(label.to_string(), client.to_string()))?;
        Some((
            median(s.iter().map(|x| x.0).collect())?,
            median(s.iter().map(|x| x.1).collect())?,
            median(s.iter().map(|x| x.2).collect())?,
        ))
    };
    let mut t = String::new();
    let _ = writeln!(
        t,
        "| {} | records | Gregor rec/s | rdkafka rec/s | Gregor MB/s | rdkafka MB/s | throughput G/r (≥ 1) | Gregor CPU µs/rec | rdkafka CPU µs/rec | CPU G/r (≤ {CPU_TARGET}) |",
        if what == What::Produce {
            "target, value, compression"
        } else {
            "value, compression"
        }
    );
    t.push_str("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n");
    for case in cases {
        let label = case.label();
        let g = med(&label, "gregor");
        let r = med(&label, "rdkafka");
        let cell = |x: Option<f64>, digits: usize| match x {
            Some(x) => format!("{x:.digits$}"),
            None => "—".to_string(),
        };
        let thousands = |x: Option<f64>| match x {
            Some(x) => group_thousands(x.round() as u64),
            None => "failed".to_string(),
        };
        let ratio = |a: Option<f64>, b: Option<f64>, ok: &dyn Fn(f64) -> bool| match (a, b) {
            (Some(a), Some(b)) if b > 0.0 => {
                let q = a / b;
                format!("{q:.2} {}", if ok(q) { "✓" } else { "✗" })
            }
            _ => "—".to_string(),
        };
        let shown = if what == What::Produce {
            label.clone()
        } else {
            format!("{} {}", size_label(case.value_size), case.compression)
        };
        let _ = writeln!(
            t,
            "| {shown} | {} | {} | {} | {} | {} | {} | {} | {} | {} |",
            group_thousands(case.records),
            thousands(g.map(|x| x.0)),
            thousands(r.map(|x| x.0)),
            cell(g.map(|x| x.1), 1),
            cell(r.map(|x| x.1), 1),
            ratio(g.map(|x| x.0), r.map(|x| x.0), &|q| q >= 1.0),
            cell(g.map(|x| x.2), 2),
            cell(r.map(|x| x.2), 2),
            ratio(g.map(|x| x.2), r.map(|x| x.2), &|q| q <= CPU_TARGET),
        );
    }
    t
}

fn group_thousands(n: u64) -> String {
    let s = n.to_string();
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

fn command_line(opts: &Opts) -> String {
    let mut c = format!("cargo xtask bench {}", opts.what.name());
    if let Some(n) = opts.records {
        let _ = write!(c, " --records {n}");
    }
    if opts.quick {
        c.push_str(" --quick");
    }
    if opts.runs != 3 {
        let _ = write!(c, " --runs {}", opts.runs);
    }
    if let Some(t) = opts.target {
        let _ = write!(c, " --target {}", t.name());
    }
    if !opts.sizes.is_empty() {
        let sizes: Vec<String> = opts.sizes.iter().map(|s| s.to_string()).collect();
        let _ = write!(c, " --sizes {}", sizes.join(","));
    }
    if let Some(client) = &opts.client {
        let _ = write!(c, " --client {client}");
    }
    if let Some(l) = opts.max_load {
        let _ = write!(c, " --max-load {l}");
    }
    c
}

/// Replaces the text between `<!-- bench:NAME -->` and `<!-- /bench:NAME -->`.
fn write_section(path: &Path, name: &str, section: &str) -> Result {
    let text =
        fs::read_to_string(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    let open = format!("<!-- bench:{name} -->");
    let close = format!("<!-- /bench:{name} -->");
    let (Some(a), Some(b)) = (text.find(&open), text.find(&close)) else {
        return Err(format!(
            "{} has no `{open}` … `{close}` markers to write between",
            path.display()
        ));
    };
    if b < a {
        return Err(format!(
            "{}: `{close}` comes before `{open}`",
            path.display()
        ));
    }
    let new = format!(
        "{}{open}\n{}\n{}",
        &text[..a],
        section.trim_end(),
        &text[b..]
    );
    fs::write(path, new).map_err(|e| format!("cannot write {}: {e}", path.display()))
}

/// The 1-minute load average.
fn load_average() -> f64 {
    fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|s| s.split_whitespace().next()?.parse().ok())
        .unwrap_or(f64::NAN)
}

fn wait_quiet(max_load: Option<f64>) {
    let Some(max) = max_load else { return };
    let deadline = Instant::now() + Duration::from_secs(600);
    let mut said = false;
    while load_average() >= max && Instant::now() < deadline {
        if !said {
            eprintln!(
                "(waiting for the load average, {:.2}, to drop below {max})",
                load_average()
            );
            said = true;
        }
        std::thread::sleep(Duration::from_secs(5));
    }
}

/// What the table was measured on.
struct Machine {
    cpus: usize,
    load: f64,
    model: String,
    date: String,
    rustc: String,
    commit: String,
}

impl Machine {
    fn read() -> Machine {
        let model = fs::read_to_string("/proc/cpuinfo")
            .ok()
            .and_then(|s| {
                s.lines()
                    .find(|l| l.starts_with("model name"))
                    .and_then(|l| l.split(':').nth(1))
                    .map(|m| m.trim().to_string())
            })
            .unwrap_or_else(|| "unknown CPU".into());
        let output = |cmd: &mut Command| {
            cmd.output()
                .ok()
                .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
                .unwrap_or_default()
        };
        let root = workspace_root();
        let mut commit =
            output(
                Command::new("git")
                    .current_dir(&root)
                    .args(["rev-parse", "--short", "HEAD"]),
            );
        if !output(
            Command::new("git")
                .current_dir(&root)
                .args(["status", "--porcelain"]),
        )
        .is_empty()
        {
            commit.push_str(" + uncommitted changes");
        }
        Machine {
            cpus: std::thread::available_parallelism().map_or(0, |n| n.get()),
            load: load_average(),
            model,
            date: output(Command::new("date").args(["-u", "+%Y-%m-%d %H:%M UTC"])),
            rustc: output(Command::new("rustc").arg("--version")),
            commit,
        }
    }

    fn line(&self) -> String {
        format!(
            "Machine: {} CPUs ({}), load average {:.2} at the start; {}; Gregor at {}; rdkafka 0.38 (librdkafka 2.12.1, bundled).",
            self.cpus, self.model, self.load, self.rustc, self.commit
        )
    }
}

/// The sink, stopped when dropped.
struct Sink {
    child: Child,
    port: u16,
}

impl Sink {
    fn start(bins: &Path) -> Result<Sink> {
        let program = bins.join("sink");
        let mut child = Command::new(&program)
            .args(["--port", "0", "--partitions", &PARTITIONS.to_string()])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .spawn()
            .map_err(|e| format!("cannot start {}: {e}", program.display()))?;
        let mut line = String::new();
        if let Some(out) = child.stdout.take() {
            let _ = BufReader::new(out).read_line(&mut line);
        }
        let port = line.trim().rsplit(':').next().and_then(|p| p.parse().ok());
        match port {
            Some(port) => {
                eprintln!("==> sink listening on 127.0.0.1:{port}");
                Ok(Sink { child, port })
            }
            None => {
                let _ = child.kill();
                let _ = child.wait();
                Err(format!(
                    "the sink did not say its port (it printed {line:?})"
                ))
            }
        }
    }

    fn bootstrap(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }
}

impl Drop for Sink {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A fresh memory-storage broker, stopped when dropped.
struct BrokerGuard {
    bootstrap: String,
}

impl BrokerGuard {
    fn start() -> Result<BrokerGuard> {
        let _ = broker::stop(BROKER);
        let state = broker::start(&StartOpts {
            name: BROKER.into(),
            port: None,
            storage: Storage::Memory,
            tls: false,
            sasl: false,
        })?;
        Ok(BrokerGuard {
            bootstrap: state.bootstrap(),
        })
    }
}

impl Drop for BrokerGuard {
    fn drop(&mut self) {
        let _ = broker::stop(BROKER);
    }
}

fn create_topic(bootstrap: &str, topic: &str) -> Result {
    let nisshi: PathBuf = crate::tools::nisshi()?;
    run_quiet(
        &format!("creating topic {topic}"),
        Command::new(nisshi).args([
            "topic",
            "create",
            "--broker",
            &format!("tcp://{bootstrap}"),
            "--partitions",
            &PARTITIONS.to_string(),
            "--silent",
            topic,
        ]),
    )
    .map(drop)
}
