//! `cargo xtask peers`: the real clients interop tests talk to.
//!
//! A Python virtualenv in the cache directory with librdkafka (through
//! `confluent-kafka`) and `kafka-python` with its compression extras. kcat is
//! left out on purpose: Debian's kcat links librdkafka 2.0.2, whose
//! ApiVersions exchange fails against nisshi 0.8.1.

use std::{fs, path::PathBuf, process::Command};

use crate::util::{Result, cache_dir, mkdir, run_quiet};

/// What the virtualenv holds; changing it makes a new virtualenv.
const REQUIREMENTS: &[&str] = &[
    "confluent-kafka==2.16.1",
    "kafka-python==3.0.12",
    "lz4==4.4.5",
    "cramjam==2.14.0",
    "python-snappy==0.7.3",
    "zstandard==0.25.0",
];

fn venv_dir() -> PathBuf {
    // The requirement list is part of the name so an upgrade never mixes versions.
    let mut h: u32 = 2166136261;
    for b in REQUIREMENTS.join(" ").bytes() {
        h = (h ^ u32::from(b)).wrapping_mul(16777619);
    }
    cache_dir().join("peers").join(format!("venv-{h:08x}"))
}

/// The virtualenv's python, with the peers installed; installs them if needed.
pub(crate) fn ensure() -> Result<PathBuf> {
    let dir = venv_dir();
    let python = dir.join("bin").join("python");
    let stamp = dir.join(".gregor-installed");
    if stamp.is_file() && python.is_file() {
        return Ok(python);
    }
    eprintln!(
        "installing interop peers (librdkafka via confluent-kafka, kafka-python) into {}",
        dir.display()
    );
    if let Some(parent) = dir.parent() {
        mkdir(parent)?;
    }
    let base = std::env::var("GREGOR_PYTHON_BASE").unwrap_or_else(|_| "python3".into());
    run_quiet(
        "creating the peers' virtualenv",
        Command::new(&base)
            .args(["-m", "venv", "--clear"])
            .arg(&dir),
    )?;
    run_quiet(
        "installing the peers with pip",
        Command::new(&python)
            .args([
                "-m",
                "pip",
                "install",
                "--quiet",
                "--disable-pip-version-check",
                "--only-binary=:all:",
            ])
            .args(REQUIREMENTS),
    )?;
    let check =
        "import confluent_kafka, kafka; print(confluent_kafka.libversion()[0], kafka.__version__)";
    let versions = run_quiet(
        "checking the peers",
        Command::new(&python).args(["-c", check]),
    )?;
    fs::write(&stamp, &versions).map_err(|e| format!("cannot write {}: {e}", stamp.display()))?;
    eprintln!(
        "peers ready: librdkafka and kafka-python {}",
        versions.trim()
    );
    Ok(python)
}
