//! `cargo xtask demo`: the client at work against a local broker.

use crate::broker::{self, StartOpts, Storage};
use crate::util::{Result, cargo, run, workspace_root};

/// Options of `cargo xtask demo`.
#[derive(Debug, Clone, clap::Args)]
pub(crate) struct Opts {
    /// Use this cluster instead of starting a local broker.
    #[arg(long, value_name = "HOST:PORT")]
    pub(crate) bootstrap: Option<String>,
    /// Topic the demo creates and uses.
    #[arg(long, default_value = "gregor-demo")]
    pub(crate) topic: String,
}

/// Starts a broker unless one is given, runs the demo example, stops the broker.
pub(crate) fn run_demo(opts: &Opts) -> Result {
    let (bootstrap, started) = match &opts.bootstrap {
        Some(b) => (b.clone(), None),
        None => {
            eprintln!("starting a local broker (pass --bootstrap HOST:PORT to use your own)");
            let state = broker::start(&StartOpts {
                name: "demo".into(),
                port: None,
                storage: Storage::Memory,
                tls: false,
                sasl: false,
            })?;
            eprintln!("{}", broker::status_line(&state.name));
            (state.bootstrap(), Some(state.name))
        }
    };
    let result = run(
        "the demo",
        cargo()
            .current_dir(workspace_root())
            .args([
                "run",
                "--quiet",
                "--release",
                "--package",
                "gregor",
                "--example",
                "demo",
                "--",
            ])
            .args(["--bootstrap", &bootstrap, "--topic", &opts.topic]),
    );
    if let Some(name) = started {
        broker::stop(&name)?;
    }
    result
}
