//! Where the test broker is, what it supports, and restarting it.

use std::{
    env, fs,
    net::TcpStream,
    path::PathBuf,
    process::{Command, Stdio},
    thread,
    time::{Duration, Instant},
};

/// Which broker the tests run against, from `GREGOR_BROKER_KIND`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BrokerKind {
    /// The local nisshi 0.8.1 started by `cargo xtask`.
    Nisshi,
    /// Apache Kafka (through `--docker`).
    Kafka,
    /// A cluster given with `--bootstrap`: assumed to be Apache Kafka.
    External,
}

impl BrokerKind {
    /// The kind of the current run (nisshi when unset).
    pub fn current() -> BrokerKind {
        match env::var("GREGOR_BROKER_KIND").as_deref() {
            Ok("kafka") => BrokerKind::Kafka,
            Ok("external") => BrokerKind::External,
            _ => BrokerKind::Nisshi,
        }
    }
}

/// Broker features that not every test broker has.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Capability {
    /// Transactional producers (InitProducerId with a transactional id).
    Transactions,
    /// CreatePartitions.
    CreatePartitions,
    /// OffsetForLeaderEpoch.
    OffsetForLeaderEpoch,
    /// The KIP-848 consumer group protocol (ConsumerGroupHeartbeat).
    NextGenConsumerGroups,
}

/// Whether the current broker has `cap`.
///
/// Measured on nisshi 0.8.1: it refuses InitProducerId with a transactional
/// id, has no CreatePartitions, OffsetForLeaderEpoch or ConsumerGroupHeartbeat,
/// and advertises only itself. Tests of those features check this and say
/// so, instead of pretending to pass.
pub fn supports(_cap: Capability) -> bool {
    // Every capability nisshi lacks, Apache Kafka has.
    BrokerKind::current() != BrokerKind::Nisshi
}

fn required() -> bool {
    env::var("GREGOR_REQUIRE_BROKER").as_deref() == Ok("1")
}

/// The plain broker's `HOST:PORT`, or `None` (after printing why) when no
/// broker is configured and the run does not require one.
///
/// # Panics
/// When `GREGOR_REQUIRE_BROKER=1` and `GREGOR_BOOTSTRAP` is unset: inside
/// `cargo xtask` an integration test must never skip.
pub fn bootstrap(test: &str) -> Option<String> {
    bootstrap_for("GREGOR_", test)
}

/// Like [`bootstrap`] for one of the other local brokers `cargo xtask
/// integration` starts: prefix `GREGOR_RESTART_` (sqlite storage, may be
/// restarted), `GREGOR_TLS_` or `GREGOR_SASL_`.
///
/// # Panics
/// As [`bootstrap`].
pub fn bootstrap_for(prefix: &str, test: &str) -> Option<String> {
    let var = format!("{prefix}BOOTSTRAP");
    match env::var(&var) {
        Ok(b) if !b.is_empty() => Some(b),
        _ if required() => panic!(
            "{test}: {var} is not set, but GREGOR_REQUIRE_BROKER=1 says this run must have a broker"
        ),
        _ => {
            eprintln!(
                "skipping {test}: {var} is not set (run `cargo xtask integration` to start a broker)"
            );
            None
        }
    }
}

/// An environment variable of the current broker (e.g. `GREGOR_TLS_CA`).
pub fn env_path(var: &str) -> Option<PathBuf> {
    env::var_os(var).map(PathBuf::from)
}

/// Kills and restarts the local broker whose xtask state file is named by
/// `{prefix}BROKER_STATE` (same binary, arguments, port and storage), and
/// waits until its port accepts connections again. Returns an error when
/// there is no such local broker (e.g. under `--bootstrap`).
pub fn restart(prefix: &str) -> Result<(), String> {
    stop(prefix)?;
    start(prefix)
}

/// Kills the local broker of `prefix` and waits until it is gone.
pub fn stop(prefix: &str) -> Result<(), String> {
    let state = load_state(prefix)?;
    let pid = state["pid"].as_u64().ok_or("state.json has no pid")?;
    let _ = Command::new("kill").arg(pid.to_string()).status();
    let deadline = Instant::now() + Duration::from_secs(10);
    while alive(pid) {
        if Instant::now() > deadline {
            let _ = Command::new("kill").args(["-9", &pid.to_string()]).status();
            break;
        }
        thread::sleep(Duration::from_millis(50));
    }
    Ok(())
}

/// Starts the local broker of `prefix` again as recorded in its state file.
pub fn start(prefix: &str) -> Result<(), String> {
    let path = state_path(prefix)?;
    let mut state = load_state(prefix)?;
    let program = state["program"]
        .as_str()
        .ok_or("state.json has no program")?;
    let dir = state["dir"].as_str().ok_or("state.json has no dir")?;
    let log = state["log"].as_str().ok_or("state.json has no log")?;
    let port = state["port"].as_u64().ok_or("state.json has no port")?;
    let args: Vec<&str> = state["args"]
        .as_array()
        .ok_or("state.json has no args")?
        .iter()
        .filter_map(|a| a.as_str())
        .collect();
    let log_file = fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(log)
        .map_err(|e| format!("cannot open {log}: {e}"))?;
    let log_err = log_file.try_clone().map_err(|e| e.to_string())?;
    let mut cmd = Command::new(program);
    cmd.args(&args)
        .current_dir(dir)
        .env("RUST_LOG", "warn")
        .stdin(Stdio::null())
        .stdout(log_file)
        .stderr(log_err);
    std::os::unix::process::CommandExt::process_group(&mut cmd, 0);
    let child = cmd
        .spawn()
        .map_err(|e| format!("cannot start {program}: {e}"))?;
    state["pid"] = child.id().into();
    fs::write(&path, state.to_string())
        .map_err(|e| format!("cannot update {}: {e}", path.display()))?;
    let deadline = Instant::now() + Duration::from_secs(60);
    while TcpStream::connect(("127.0.0.1", port as u16)).is_err() {
        if Instant::now() > deadline {
            return Err(format!(
                "broker did not accept connections on port {port} within 60 s"
            ));
        }
        thread::sleep(Duration::from_millis(50));
    }
    Ok(())
}

fn state_path(prefix: &str) -> Result<PathBuf, String> {
    env_path(&format!("{prefix}BROKER_STATE")).ok_or_else(|| {
        format!(
            "{prefix}BROKER_STATE is not set: only a local broker started by xtask can be restarted"
        )
    })
}

fn load_state(prefix: &str) -> Result<serde_json::Value, String> {
    let path = state_path(prefix)?;
    let text =
        fs::read_to_string(&path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    serde_json::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))
}

fn alive(pid: u64) -> bool {
    // A zombie's cmdline is empty: it counts as gone.
    fs::read(format!("/proc/{pid}/cmdline")).is_ok_and(|c| !c.is_empty())
}
