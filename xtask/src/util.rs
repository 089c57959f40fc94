//! Paths, process helpers and the error type shared by every task.

use std::{
    env,
    path::{Path, PathBuf},
    process::{Command, ExitStatus, Stdio},
};

/// The one error of xtask: a sentence for the user.
pub(crate) type Result<T = ()> = std::result::Result<T, String>;

/// The workspace root (the parent of `xtask/`).
pub(crate) fn workspace_root() -> PathBuf {
    let manifest = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    manifest.parent().map(Path::to_path_buf).unwrap_or(manifest)
}

/// Where installed tools and the peers' virtualenv live: outside the repo, so
/// a fresh clone on the same machine reuses them. `GREGOR_CACHE` overrides.
pub(crate) fn cache_dir() -> PathBuf {
    if let Some(dir) = env::var_os("GREGOR_CACHE") {
        return PathBuf::from(dir);
    }
    let home = env::var_os("HOME")
        .map(PathBuf::from)
        .unwrap_or_else(env::temp_dir);
    home.join(".cache").join("gregor")
}

/// `target/gregor-broker/`: broker state, logs and storage for this checkout.
pub(crate) fn broker_root() -> PathBuf {
    workspace_root().join("target").join("gregor-broker")
}

/// `cargo`, as the one that runs us, so toolchain overrides carry through.
pub(crate) fn cargo() -> Command {
    Command::new(env::var_os("CARGO").unwrap_or_else(|| "cargo".into()))
}

/// Runs a command with inherited output; a failure names the step.
pub(crate) fn run(step: &str, cmd: &mut Command) -> Result {
    let status = status(step, cmd)?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("{step} failed ({status})"))
    }
}

/// Runs a command with inherited output and returns its status.
pub(crate) fn status(step: &str, cmd: &mut Command) -> Result<ExitStatus> {
    cmd.status()
        .map_err(|e| format!("{step}: could not start {:?}: {e}", cmd.get_program()))
}

/// Runs a command quietly; on failure shows the last lines it printed.
pub(crate) fn run_quiet(step: &str, cmd: &mut Command) -> Result<String> {
    let out = cmd
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("{step}: could not start {:?}: {e}", cmd.get_program()))?;
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    if out.status.success() {
        return Ok(stdout);
    }
    let stderr = String::from_utf8_lossy(&out.stderr);
    Err(format!(
        "{step} failed ({}); its last lines:\n{}",
        out.status,
        tail(&format!("{stdout}{stderr}"), 20)
    ))
}

/// The last `n` lines of `text`.
pub(crate) fn tail(text: &str, n: usize) -> String {
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

/// The last `n` lines of a file, or a note that it could not be read.
pub(crate) fn tail_file(path: &Path, n: usize) -> String {
    match std::fs::read(path) {
        Ok(bytes) => tail(&String::from_utf8_lossy(&bytes), n),
        Err(e) => format!("(could not read {}: {e})", path.display()),
    }
}

/// Creates a directory and its parents, naming it on failure.
pub(crate) fn mkdir(dir: &Path) -> Result {
    std::fs::create_dir_all(dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))
}
