//! `cargo xtask fuzz`: runs gregor-protocol's fuzz targets (`fuzz/`) with
//! libFuzzer through `cargo +nightly fuzz`.
//!
//! Each target runs for a fixed time from a seed corpus in
//! `fuzz/corpus/<target>/`: valid inputs of every kind that
//! `fuzz/seeds` writes, plus whatever `testdata/golden/` holds. New inputs
//! the fuzzer finds stay in the corpus for the next run. A crash, a hang, a
//! leak or an allocation over the limit fails the task with the input's path
//! under `fuzz/artifacts/<target>/` and the command that replays it.

use std::collections::BTreeSet;
use std::ffi::OsString;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;

use crate::tools;
use crate::util::{Result, cargo, mkdir, run_quiet, tail_file, workspace_root};

/// Every target, with the largest input libFuzzer may generate for it.
const TARGETS: &[(&str, usize)] = &[
    ("frame", 8 * 1024),
    ("request", 32 * 1024),
    ("response", 32 * 1024),
    ("request_header", 1024),
    ("record_batch", 32 * 1024),
    ("message_set", 32 * 1024),
    ("consumer_protocol", 4 * 1024),
];

/// libFuzzer's limits: the memory the process may hold, the largest single
/// allocation and the seconds one input may take. The codec promises that
/// no input allocates without bound or loops, so tripping any is a bug.
const RSS_LIMIT_MB: u32 = 2048;
const MALLOC_LIMIT_MB: u32 = 512;
const TIMEOUT_SECS: u32 = 20;

/// Runs each target (or only `target`) for `seconds`; fails naming the
/// artifact of every target that crashed.
pub(crate) fn run(seconds: u64, target: Option<&str>) -> Result {
    let targets: Vec<(&str, usize)> = match target {
        None => TARGETS.to_vec(),
        Some(t) => vec![
            *TARGETS
                .iter()
                .find(|(name, _)| *name == t)
                .ok_or_else(|| format!("no fuzz target {t}; the targets are {}", names()))?,
        ],
    };
    let root = workspace_root();
    let fuzz_dir = root.join("fuzz");
    check_nightly()?;
    let cargo_fuzz = tools::cargo_fuzz()?;
    let path = path_with(cargo_fuzz.parent().unwrap_or(&root))?;

    write_seeds(&root)?;

    eprintln!("fuzz: building the targets (nightly, address sanitizer, debug assertions)");
    let mut build = nightly_fuzz(&root, &path);
    build.args(["build", "--debug-assertions"]);
    run_quiet("cargo +nightly fuzz build", &mut build)?;

    let log_dir = fuzz_dir.join("target").join("fuzz-logs");
    mkdir(&log_dir)?;
    let mut failures = Vec::new();
    let mut summary = Vec::new();
    for (name, max_len) in targets {
        let artifacts = fuzz_dir.join("artifacts").join(name);
        mkdir(&artifacts)?;
        let before = list(&artifacts);
        let log = log_dir.join(format!("{name}.log"));
        eprintln!("fuzz: {name} for {seconds} s (log: {})", log.display());
        let started = Instant::now();
        let status = fuzz_one(&root, &path, name, max_len, seconds, &log)?;
        let took = started.elapsed().as_secs();
        let stats = Stats::read(&log);
        let new: Vec<PathBuf> = list(&artifacts)
            .into_iter()
            .filter(|p| !before.contains(p))
            .collect();
        let line = format!(
            "{name:<18} {took:>5} s wall  {:>10} execs  {:>6} corpus  {}",
            stats.execs.as_deref().unwrap_or("?"),
            corpus_len(&fuzz_dir, name),
            if status.success() && new.is_empty() {
                "clean"
            } else {
                "FAILED"
            }
        );
        eprintln!("fuzz: {line}");
        summary.push(line);
        if !status.success() || !new.is_empty() {
            failures.push(failure(name, status.to_string(), &new, &log));
        }
    }
    eprintln!("\nfuzz summary:\n  {}", summary.join("\n  "));
    if failures.is_empty() {
        Ok(())
    } else {
        Err(failures.join("\n\n"))
    }
}

fn names() -> String {
    TARGETS
        .iter()
        .map(|(n, _)| *n)
        .collect::<Vec<_>>()
        .join(", ")
}

/// Fails early, with what to do, when there is no nightly toolchain.
fn check_nightly() -> Result {
    let mut cmd = rustup_cargo();
    cmd.args(["+nightly", "--version"]);
    run_quiet("cargo +nightly --version", &mut cmd)
        .map(|_| ())
        .map_err(|e| {
            format!(
                "cargo xtask fuzz needs a nightly toolchain (libFuzzer's sanitizer flags are \
             nightly-only); install one with `rustup toolchain install nightly`.\n{e}"
            )
        })
}

/// `cargo` through rustup's proxy, so `+nightly` picks the toolchain, and
/// without the variables the stable cargo running xtask set for us.
fn rustup_cargo() -> Command {
    let mut cmd = Command::new("cargo");
    for var in [
        "CARGO",
        "RUSTUP_TOOLCHAIN",
        "RUSTC",
        "RUSTDOC",
        "CARGO_TARGET_DIR",
        "CARGO_BUILD_TARGET_DIR",
    ] {
        cmd.env_remove(var);
    }
    cmd
}

/// `PATH` with `dir` (where cargo-fuzz is installed) first.
fn path_with(dir: &Path) -> Result<OsString> {
    let old = std::env::var_os("PATH").unwrap_or_default();
    let dirs = std::iter::once(dir.to_path_buf()).chain(std::env::split_paths(&old));
    std::env::join_paths(dirs).map_err(|e| format!("cannot build PATH: {e}"))
}

/// `cargo +nightly fuzz` run from the workspace root (cargo-fuzz finds
/// `fuzz/` there).
fn nightly_fuzz(root: &Path, path: &OsString) -> Command {
    let mut cmd = rustup_cargo();
    cmd.current_dir(root)
        .env("PATH", path)
        .args(["+nightly", "fuzz"]);
    cmd
}

/// Builds and runs `fuzz/seeds`, which writes the seed corpora into
/// `fuzz/corpus/` (from `testdata/golden/` too, when it exists).
fn write_seeds(root: &Path) -> Result {
    let fuzz_dir = root.join("fuzz");
    let golden = root.join("testdata").join("golden");
    let mut cmd = cargo();
    cmd.current_dir(&fuzz_dir)
        .env_remove("CARGO_TARGET_DIR")
        .env_remove("CARGO_BUILD_TARGET_DIR")
        .args(["run", "--quiet", "-p", "gregor-protocol-fuzz-seeds", "--"])
        .arg(fuzz_dir.join("corpus"));
    if golden.is_dir() {
        cmd.arg(&golden);
    } else {
        eprintln!(
            "fuzz: no {} yet; seeding from generated samples only",
            golden.display()
        );
    }
    let out = run_quiet("writing the fuzz seed corpora", &mut cmd)?;
    for line in out.lines().filter(|l| l.starts_with("seeds:")) {
        eprintln!("fuzz: {line}");
    }
    Ok(())
}

/// Runs one target for `seconds`, its output going to `log`.
fn fuzz_one(
    root: &Path,
    path: &OsString,
    name: &str,
    max_len: usize,
    seconds: u64,
    log: &Path,
) -> Result<std::process::ExitStatus> {
    let out = fs::File::create(log).map_err(|e| format!("{}: {e}", log.display()))?;
    let err = out
        .try_clone()
        .map_err(|e| format!("{}: {e}", log.display()))?;
    let mut cmd = nightly_fuzz(root, path);
    cmd.args(["run", "--debug-assertions", name, "--"])
        .arg(format!("-max_total_time={seconds}"))
        .arg(format!("-rss_limit_mb={RSS_LIMIT_MB}"))
        .arg(format!("-malloc_limit_mb={MALLOC_LIMIT_MB}"))
        .arg(format!("-timeout={TIMEOUT_SECS}"))
        .arg(format!("-max_len={max_len}"))
        .arg("-print_final_stats=1")
        .stdin(Stdio::null())
        .stdout(out)
        .stderr(err);
    cmd.status()
        .map_err(|e| format!("cargo +nightly fuzz run {name}: could not start: {e}"))
}

/// The files in `dir`.
fn list(dir: &Path) -> BTreeSet<PathBuf> {
    fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.is_file())
        .collect()
}

fn corpus_len(fuzz_dir: &Path, name: &str) -> usize {
    list(&fuzz_dir.join("corpus").join(name)).len()
}

/// The report of a target that failed: its artifacts and how to replay them.
fn failure(name: &str, status: String, artifacts: &[PathBuf], log: &Path) -> String {
    let mut msg = format!("fuzz target {name} failed ({status})");
    if artifacts.is_empty() {
        msg.push_str(" without leaving an artifact");
    }
    for a in artifacts {
        msg.push_str(&format!(
            "\n  artifact: {}\n  replay:   cargo +nightly fuzz run {name} {}\n  minimize: cargo +nightly fuzz tmin {name} {}",
            a.display(),
            a.display(),
            a.display()
        ));
    }
    msg.push_str(&format!(
        "\n  log: {}; its last lines:\n{}",
        log.display(),
        tail_file(log, 30)
    ));
    msg
}

/// What libFuzzer's `-print_final_stats=1` said.
#[derive(Debug, Default)]
struct Stats {
    execs: Option<String>,
}

impl Stats {
    fn read(log: &Path) -> Self {
        let text = fs::read(log)
            .map(|b| String::from_utf8_lossy(&b).into_owned())
            .unwrap_or_default();
        let execs = text.lines().rev().find_map(|l| {
            l.strip_prefix("stat::number_of_executed_units:")
                .map(|v| v.trim().to_string())
        });
        Self { execs }
    }
}
