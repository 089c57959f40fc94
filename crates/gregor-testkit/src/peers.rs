//! The interop peers: real clients no one here wrote.
//!
//! `cargo xtask peers` installs them into a virtualenv and `cargo xtask
//! integration` exports its python as `GREGOR_PYTHON`. Each helper runs one
//! small script from `peers/` that prints one JSON document.

use std::{
    env,
    path::PathBuf,
    process::{Command, Stdio},
};

use serde_json::Value;

/// The peers' python, or `None` (after printing why) outside xtask.
///
/// # Panics
/// When `GREGOR_REQUIRE_BROKER=1` but `GREGOR_PYTHON` is unset.
pub fn python(test: &str) -> Option<PathBuf> {
    match env::var_os("GREGOR_PYTHON") {
        Some(p) => Some(PathBuf::from(p)),
        None if env::var("GREGOR_REQUIRE_BROKER").as_deref() == Ok("1") => {
            panic!("{test}: GREGOR_PYTHON is not set; `cargo xtask integration` installs the peers")
        }
        None => {
            eprintln!("skipping {test}: GREGOR_PYTHON is not set (run `cargo xtask peers`)");
            None
        }
    }
}

/// Runs a peer script with `args` and parses the JSON it prints.
pub fn run_script(python: &PathBuf, script: &str, args: &[&str]) -> Result<Value, String> {
    let out = Command::new(python)
        .arg("-c")
        .arg(script)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("cannot run {}: {e}", python.display()))?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    if !out.status.success() {
        return Err(format!(
            "peer script failed ({}):\n{}{}",
            out.status,
            stdout,
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    let last = stdout.lines().last().unwrap_or_default();
    serde_json::from_str(last).map_err(|e| format!("peer printed no JSON ({e}): {stdout}"))
}

/// Cluster metadata as librdkafka (confluent-kafka) sees it:
/// `{"brokers": [{"id", "host", "port"}], "topics": {name: partitions}}`.
pub fn librdkafka_metadata(python: &PathBuf, bootstrap: &str) -> Result<Value, String> {
    run_script(
        python,
        include_str!("../peers/librdkafka_metadata.py"),
        &[bootstrap],
    )
}

/// Cluster metadata as kafka-python sees it, in the same shape.
pub fn kafka_python_metadata(python: &PathBuf, bootstrap: &str) -> Result<Value, String> {
    run_script(
        python,
        include_str!("../peers/kafka_python_metadata.py"),
        &[bootstrap],
    )
}
