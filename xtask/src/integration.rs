//! `cargo xtask integration`: every crate's broker tests against a real broker.
//!
//! Integration tests are the `tests/it_*.rs` files of each crate. They read
//! `GREGOR_BOOTSTRAP`; xtask also sets `GREGOR_REQUIRE_BROKER=1` so that a
//! test which cannot find its broker fails instead of skipping.

use std::process::Command;

use crate::broker::{self, StartOpts, State, Storage};
use crate::util::{Result, cargo, run, workspace_root};

/// Options of `cargo xtask integration`.
#[derive(Debug, Clone, clap::Args)]
pub(crate) struct Opts {
    /// Run against an existing cluster (e.g. Apache Kafka) instead of a local broker.
    #[arg(long, value_name = "HOST:PORT", conflicts_with = "docker")]
    pub(crate) bootstrap: Option<String>,
    /// Start Apache Kafka (KRaft, single node) through testcontainers.
    #[arg(long)]
    pub(crate) docker: bool,
    /// Only run tests whose name contains this.
    #[arg(long)]
    pub(crate) filter: Option<String>,
}

/// The local brokers a full run starts: the plain one most tests use, one
/// with sqlite storage that tests may restart, one serving TLS, and one
/// requiring SCRAM. Each is exported under its own prefix.
fn local_brokers() -> Vec<(StartOpts, &'static str)> {
    let opts = |name: &str, storage, tls, sasl| StartOpts {
        name: format!("it-{name}"),
        port: None,
        storage,
        tls,
        sasl,
    };
    vec![
        (opts("plain", Storage::Memory, false, false), "GREGOR_"),
        (
            opts("restart", Storage::Sqlite, false, false),
            "GREGOR_RESTART_",
        ),
        (opts("tls", Storage::Memory, true, false), "GREGOR_TLS_"),
        (opts("sasl", Storage::Sqlite, false, true), "GREGOR_SASL_"),
    ]
}

/// Runs the integration tests; local brokers are stopped even when tests fail.
pub(crate) fn run_all(opts: &Opts) -> Result {
    if opts.docker {
        return crate::docker::run(opts);
    }
    let python = crate::peers::ensure()?;
    let mut cmd = test_command(opts);
    cmd.env("GREGOR_PYTHON", &python);
    if let Some(bootstrap) = &opts.bootstrap {
        cmd.env("GREGOR_BOOTSTRAP", bootstrap);
        cmd.env("GREGOR_BROKER_KIND", "external");
        return run("integration tests", &mut cmd);
    }
    let mut started: Vec<State> = Vec::new();
    let result = (|| {
        for (o, prefix) in local_brokers() {
            let state = broker::start(&o)?;
            eprintln!("{}", broker::status_line(&state.name));
            broker::export_env(&state, prefix, &mut cmd);
            started.push(state);
        }
        cmd.env("GREGOR_BROKER_KIND", "nisshi");
        run("integration tests", &mut cmd)
    })();
    for s in &started {
        if let Err(e) = broker::stop(&s.name) {
            eprintln!("warning: could not stop broker '{}': {e}", s.name);
        }
    }
    result
}

/// `cargo test` over every crate's `it_*` test files, with the broker required.
pub(crate) fn test_command(opts: &Opts) -> Command {
    let mut cmd = cargo();
    cmd.current_dir(workspace_root())
        .args(["test", "--workspace", "--test", "it_*"])
        .env("GREGOR_REQUIRE_BROKER", "1");
    cmd.arg("--");
    if let Some(f) = &opts.filter {
        cmd.arg(f);
    }
    cmd
}
