//! `cargo xtask broker start|stop|status|restart`: a local nisshi broker.
//!
//! Each broker is a named instance with its own folder under
//! `target/gregor-broker/<name>/` holding `state.json` (pid, port, command
//! line, credentials), its log and, with sqlite storage, its database.

use std::{
    fs,
    io::{Read, Write},
    net::{SocketAddr, TcpListener, TcpStream},
    path::PathBuf,
    process::{Command, Stdio},
    thread,
    time::{Duration, Instant},
};

use serde::{Deserialize, Serialize};

use crate::tls;
use crate::util::{Result, broker_root, mkdir, run_quiet, tail_file};

/// How a broker stores its data.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub(crate) enum Storage {
    /// `memory://`: fast, gone when the broker stops.
    Memory,
    /// A sqlite file in the instance folder: survives restarts.
    Sqlite,
}

/// What to start.
#[derive(Debug, Clone, clap::Args)]
pub(crate) struct StartOpts {
    /// Instance name; each has its own folder, port and log.
    #[arg(long, default_value = "default")]
    pub(crate) name: String,
    /// Port on 127.0.0.1 (default: a free one).
    #[arg(long)]
    pub(crate) port: Option<u16>,
    /// Storage engine.
    #[arg(long, value_enum, default_value = "memory")]
    pub(crate) storage: Storage,
    /// Serve TLS with a CA and certificate generated for localhost.
    #[arg(long)]
    pub(crate) tls: bool,
    /// Require SASL/SCRAM authentication (implies sqlite storage).
    #[arg(long)]
    pub(crate) sasl: bool,
}

/// A running broker, as recorded in its `state.json`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct State {
    pub(crate) name: String,
    pub(crate) pid: u32,
    pub(crate) port: u16,
    pub(crate) storage: Storage,
    pub(crate) dir: PathBuf,
    pub(crate) log: PathBuf,
    pub(crate) program: PathBuf,
    pub(crate) args: Vec<String>,
    pub(crate) tls_ca: Option<PathBuf>,
    pub(crate) sasl_user: Option<String>,
    pub(crate) sasl_password: Option<String>,
}

impl State {
    /// `127.0.0.1:PORT`.
    pub(crate) fn bootstrap(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    fn path(name: &str) -> PathBuf {
        instance_dir(name).join("state.json")
    }

    /// The recorded state of instance `name`, if any.
    pub(crate) fn load(name: &str) -> Option<State> {
        let text = fs::read_to_string(Self::path(name)).ok()?;
        serde_json::from_str(&text).ok()
    }

    fn save(&self) -> Result {
        let text = serde_json::to_string_pretty(self).map_err(|e| e.to_string())?;
        fs::write(Self::path(&self.name), text)
            .map_err(|e| format!("cannot write broker state: {e}"))
    }

    /// Whether the recorded pid is alive and still a nisshi process.
    pub(crate) fn is_running(&self) -> bool {
        is_nisshi(self.pid)
    }
}

fn instance_dir(name: &str) -> PathBuf {
    broker_root().join(name)
}

fn is_nisshi(pid: u32) -> bool {
    // Checking the command line guards against a recycled pid.
    fs::read(format!("/proc/{pid}/cmdline"))
        .map(|c| String::from_utf8_lossy(&c).contains("nisshi"))
        .unwrap_or(false)
}

fn free_port() -> Result<u16> {
    let l = TcpListener::bind("127.0.0.1:0").map_err(|e| format!("no free port: {e}"))?;
    l.local_addr()
        .map(|a| a.port())
        .map_err(|e| format!("no free port: {e}"))
}

fn check_port_free(port: u16) -> Result {
    TcpListener::bind(("127.0.0.1", port))
        .map(drop)
        .map_err(|e| {
            format!("port {port} is in use ({e}); pick another with --port or leave it out")
        })
}

/// Starts a broker as `opts` says and waits until it answers ApiVersions.
pub(crate) fn start(opts: &StartOpts) -> Result<State> {
    start_advertising(opts, None)
}

/// [`start`], but the broker advertises `127.0.0.1:advertised_port` in
/// Metadata instead of its own listener (`None`: its own), so clients keep
/// talking through a proxy on that port.
pub(crate) fn start_advertising(opts: &StartOpts, advertised_port: Option<u16>) -> Result<State> {
    if let Some(old) = State::load(&opts.name)
        && old.is_running()
    {
        return Err(format!(
            "broker '{}' already runs at {} (pid {}); stop it first with `cargo xtask broker stop --name {}`",
            opts.name,
            old.bootstrap(),
            old.pid,
            opts.name
        ));
    }
    let program = crate::tools::nisshi()?;
    let port = match opts.port {
        Some(p) => {
            check_port_free(p)?;
            p
        }
        None => free_port()?,
    };
    let dir = instance_dir(&opts.name);
    // A fresh start means fresh data; `restart` keeps it.
    if dir.exists() {
        fs::remove_dir_all(&dir).map_err(|e| format!("cannot clear {}: {e}", dir.display()))?;
    }
    mkdir(&dir)?;
    let storage = if opts.sasl {
        Storage::Sqlite
    } else {
        opts.storage
    };
    let mut args = base_args(port, advertised_port.unwrap_or(port), storage);
    let tls_ca = if opts.tls {
        let certs = tls::generate(&dir)?;
        args.extend([
            "--cert".into(),
            certs.cert.display().to_string(),
            "--key".into(),
            certs.key.display().to_string(),
        ]);
        Some(certs.ca)
    } else {
        None
    };
    let mut state = State {
        name: opts.name.clone(),
        pid: 0,
        port,
        storage,
        log: dir.join("broker.log"),
        dir,
        program,
        args,
        tls_ca,
        sasl_user: None,
        sasl_password: None,
    };
    spawn(&mut state)?;
    if opts.sasl {
        enable_sasl(&mut state)?;
    }
    Ok(state)
}

fn base_args(port: u16, advertised_port: u16, storage: Storage) -> Vec<String> {
    let url = format!("tcp://127.0.0.1:{port}");
    let advertised = format!("tcp://127.0.0.1:{advertised_port}");
    let storage_url = match storage {
        Storage::Memory => "memory://gregor/".to_string(),
        // Relative to the broker's working directory, its instance folder.
        Storage::Sqlite => "sqlite://broker.db".to_string(),
    };
    vec![
        "broker".into(),
        "--listener-url".into(),
        url,
        "--advertised-listener-url".into(),
        advertised,
        "--storage-engine".into(),
        storage_url,
        // Tests form groups quickly; Kafka's 3 s initial delay only slows them.
        "--group-initial-rebalance-delay".into(),
        "100ms".into(),
    ]
}

/// SCRAM users live in storage, so they are created while the broker runs
/// without authentication, then the broker restarts requiring it.
fn enable_sasl(state: &mut State) -> Result {
    let user = "gregor".to_string();
    let password = "gregor-secret".to_string();
    for mechanism in ["scram256", "scram512"] {
        let mut cmd = Command::new(&state.program);
        cmd.args(["user", "create", "--broker"])
            .arg(format!("tcp://127.0.0.1:{}", state.port))
            .args(["--mechanism", mechanism])
            .arg(&user)
            .arg(&password);
        run_quiet(&format!("nisshi user create ({mechanism})"), &mut cmd)?;
    }
    stop_pid(state.pid)?;
    state.args.push("--authentication".into());
    state.sasl_user = Some(user);
    state.sasl_password = Some(password);
    spawn(state)
}

fn spawn(state: &mut State) -> Result {
    let log = fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&state.log)
        .map_err(|e| format!("cannot open {}: {e}", state.log.display()))?;
    let log2 = log
        .try_clone()
        .map_err(|e| format!("cannot open {}: {e}", state.log.display()))?;
    let mut cmd = Command::new(&state.program);
    cmd.args(&state.args)
        .current_dir(&state.dir)
        .env("RUST_LOG", "warn")
        .stdin(Stdio::null())
        .stdout(log)
        .stderr(log2);
    // Its own process group: an interrupted xtask must not take the broker down
    // half-way, and `stop` ends exactly this pid.
    std::os::unix::process::CommandExt::process_group(&mut cmd, 0);
    let mut child = cmd
        .spawn()
        .map_err(|e| format!("cannot start {}: {e}", state.program.display()))?;
    state.pid = child.id();
    state.save()?;
    let deadline = Instant::now() + Duration::from_secs(60);
    let addr = SocketAddr::from(([127, 0, 0, 1], state.port));
    loop {
        if let Ok(Some(status)) = child.try_wait() {
            return Err(format!(
                "the broker exited during start ({status}); the tail of {}:\n{}",
                state.log.display(),
                tail_file(&state.log, 25)
            ));
        }
        if api_versions_ok(addr, state.tls_ca.is_some()) {
            return Ok(());
        }
        if Instant::now() > deadline {
            let _ = stop_pid(state.pid);
            return Err(format!(
                "the broker did not answer ApiVersions within 60 s; the tail of {}:\n{}",
                state.log.display(),
                tail_file(&state.log, 25)
            ));
        }
        thread::sleep(Duration::from_millis(100));
    }
}

/// Sends an ApiVersions v0 request and checks the answer's correlation id.
/// Over TLS, an accepted TCP connection is the best this dependency-free
/// check can do.
fn api_versions_ok(addr: SocketAddr, tls: bool) -> bool {
    let Ok(mut s) = TcpStream::connect_timeout(&addr, Duration::from_millis(500)) else {
        return false;
    };
    if tls {
        return true;
    }
    let _ = s.set_read_timeout(Some(Duration::from_secs(2)));
    // size, api key 18, version 0, correlation id 7, client id "xtask"
    let mut req = vec![0, 0, 0, 15, 0, 18, 0, 0, 0, 0, 0, 7, 0, 5];
    req.extend_from_slice(b"xtask");
    if s.write_all(&req).is_err() {
        return false;
    }
    let mut head = [0u8; 8];
    if s.read_exact(&mut head).is_err() {
        return false;
    }
    head[4..8] == [0, 0, 0, 7]
}

fn stop_pid(pid: u32) -> Result {
    if !is_nisshi(pid) {
        return Ok(());
    }
    let _ = Command::new("kill").arg(pid.to_string()).status();
    let deadline = Instant::now() + Duration::from_secs(10);
    while is_nisshi(pid) {
        if Instant::now() > deadline {
            let _ = Command::new("kill").args(["-9", &pid.to_string()]).status();
            thread::sleep(Duration::from_millis(200));
            break;
        }
        thread::sleep(Duration::from_millis(50));
    }
    // A zombie child of ours has an empty cmdline, so it counts as gone.
    Ok(())
}

/// Stops instance `name` if it runs.
pub(crate) fn stop(name: &str) -> Result<bool> {
    match State::load(name) {
        Some(s) if s.is_running() => {
            stop_pid(s.pid)?;
            Ok(true)
        }
        _ => Ok(false),
    }
}

/// Stops and starts instance `name` on the same port, storage and credentials.
pub(crate) fn restart(name: &str) -> Result<State> {
    let mut state = State::load(name)
        .ok_or_else(|| format!("no broker named '{name}' was started in this checkout"))?;
    stop_pid(state.pid)?;
    wait_port_free(state.port)?;
    spawn(&mut state)?;
    Ok(state)
}

fn wait_port_free(port: u16) -> Result {
    let deadline = Instant::now() + Duration::from_secs(10);
    while check_port_free(port).is_err() {
        if Instant::now() > deadline {
            return Err(format!(
                "port {port} is still in use after the broker stopped"
            ));
        }
        thread::sleep(Duration::from_millis(50));
    }
    Ok(())
}

/// One line about instance `name`.
pub(crate) fn status_line(name: &str) -> String {
    match State::load(name) {
        Some(s) if s.is_running() => format!(
            "broker '{}' runs at {} (pid {}, {:?} storage{}{}), log {}",
            s.name,
            s.bootstrap(),
            s.pid,
            s.storage,
            if s.tls_ca.is_some() { ", TLS" } else { "" },
            if s.sasl_user.is_some() {
                ", SASL/SCRAM"
            } else {
                ""
            },
            s.log.display()
        ),
        Some(s) => format!("broker '{}' is stopped (last at {})", s.name, s.bootstrap()),
        None => format!("broker '{name}' was never started in this checkout"),
    }
}

/// The names of every instance this checkout has state for.
pub(crate) fn instances() -> Vec<String> {
    let Ok(entries) = fs::read_dir(broker_root()) else {
        return Vec::new();
    };
    let mut names: Vec<String> = entries
        .filter_map(|e| e.ok())
        .filter(|e| e.path().join("state.json").is_file())
        .filter_map(|e| e.file_name().into_string().ok())
        .collect();
    names.sort();
    names
}

/// The environment a test process needs to reach instance `state`.
pub(crate) fn export_env(state: &State, prefix: &str, cmd: &mut Command) {
    cmd.env(format!("{prefix}BOOTSTRAP"), state.bootstrap());
    cmd.env(format!("{prefix}BROKER_STATE"), State::path(&state.name));
    // A run has at most one TLS and one SASL broker, so their credentials
    // have fixed names whatever the address prefix.
    if let Some(ca) = &state.tls_ca {
        cmd.env("GREGOR_TLS_CA", ca);
    }
    if let (Some(u), Some(p)) = (&state.sasl_user, &state.sasl_password) {
        cmd.env("GREGOR_SASL_USER", u);
        cmd.env("GREGOR_SASL_PASSWORD", p);
    }
}
