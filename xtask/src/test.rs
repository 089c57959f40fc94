//! `cargo xtask test`: everything CI checks, in the order that fails fastest.

use std::time::Instant;

use crate::util::{Result, cargo, run, workspace_root};

/// Options of `cargo xtask test`.
#[derive(Debug, Clone, clap::Args)]
pub(crate) struct Opts {
    /// Run the integration tests against this cluster instead of local brokers.
    #[arg(long, value_name = "HOST:PORT")]
    pub(crate) bootstrap: Option<String>,
}

/// Runs every check; stops at the first failure.
pub(crate) fn run_all(opts: &Opts) -> Result {
    let started = Instant::now();
    let mut done: Vec<(String, f64)> = Vec::new();
    let mut step = |name: &str, f: &mut dyn FnMut() -> Result| -> Result {
        eprintln!("\n==> {name}");
        let t = Instant::now();
        f().map_err(|e| format!("{name}: {e}"))?;
        done.push((name.to_string(), t.elapsed().as_secs_f64()));
        Ok(())
    };
    let root = workspace_root();
    step("cargo fmt --check", &mut || {
        run(
            "cargo fmt",
            cargo()
                .current_dir(&root)
                .args(["fmt", "--all", "--", "--check"]),
        )
    })?;
    step("cargo clippy", &mut || {
        run(
            "cargo clippy",
            cargo().current_dir(&root).args([
                "clippy",
                "--workspace",
                "--all-targets",
                "--",
                "-D",
                "warnings",
            ]),
        )
    })?;
    step("unit and doc tests", &mut || {
        run(
            "cargo test",
            cargo().current_dir(&root).args(["test", "--workspace"]),
        )
    })?;
    step("codegen --check", &mut || crate::codegen::run(true))?;
    step("dependency rule", &mut crate::deps::check)?;
    step("cargo deny", &mut deny)?;
    step("integration tests", &mut || {
        crate::integration::run_all(&crate::integration::Opts {
            bootstrap: opts.bootstrap.clone(),
            docker: false,
            filter: None,
        })
    })?;
    eprintln!(
        "\nall checks passed in {:.0} s:",
        started.elapsed().as_secs_f64()
    );
    for (name, secs) in &done {
        eprintln!("  {secs:>7.1} s  {name}");
    }
    Ok(())
}

/// `cargo deny check` for bans, licences and sources. The advisory database
/// lives on a git host this network cannot reach, so advisories run only
/// when `GREGOR_DENY_ADVISORIES=1` says the database can be fetched.
fn deny() -> Result {
    let bin = crate::tools::cargo_deny()?;
    let mut cmd = std::process::Command::new(bin);
    cmd.current_dir(workspace_root()).arg("deny").arg("check");
    if std::env::var("GREGOR_DENY_ADVISORIES").as_deref() != Ok("1") {
        cmd.args(["bans", "licenses", "sources"]);
    }
    run("cargo deny check", &mut cmd)
}
