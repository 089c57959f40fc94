//! Installs the tools the tasks need into the cache directory, once.

use std::path::PathBuf;

use crate::util::{Result, cache_dir, cargo, mkdir, run_quiet};

/// The broker the tests run against (formerly tansu).
pub(crate) const NISSHI_VERSION: &str = "0.8.1";
/// The licence and advisory checker.
pub(crate) const CARGO_DENY_VERSION: &str = "0.20.2";
/// The libFuzzer driver behind `cargo xtask fuzz`.
pub(crate) const CARGO_FUZZ_VERSION: &str = "0.13.2";

/// A crate installed with `cargo install --root` into its own versioned folder.
struct Tool {
    krate: &'static str,
    version: &'static str,
    bin: &'static str,
    extra: &'static [&'static str],
    note: &'static str,
}

impl Tool {
    fn root(&self) -> PathBuf {
        cache_dir()
            .join("tools")
            .join(format!("{}-{}", self.krate, self.version))
    }

    fn bin_path(&self) -> PathBuf {
        self.root().join("bin").join(self.bin)
    }

    fn ensure(&self) -> Result<PathBuf> {
        let bin = self.bin_path();
        if bin.is_file() {
            return Ok(bin);
        }
        let root = self.root();
        mkdir(&root)?;
        let _lock = InstallLock::acquire(&root)?;
        if bin.is_file() {
            // Another run finished the install while we waited.
            return Ok(bin);
        }
        eprintln!(
            "installing {} {} into {} ({})",
            self.krate,
            self.version,
            root.display(),
            self.note
        );
        let mut cmd = cargo();
        cmd.args(["install", self.krate, "--version", self.version, "--locked"])
            .args(self.extra)
            .arg("--root")
            .arg(&root)
            // The tool's own build must not inherit this workspace's target dir.
            .env_remove("CARGO_TARGET_DIR")
            .current_dir(cache_dir());
        run_quiet(
            &format!("cargo install {} {}", self.krate, self.version),
            &mut cmd,
        )?;
        if bin.is_file() {
            Ok(bin)
        } else {
            Err(format!(
                "cargo install {} finished but {} is missing",
                self.krate,
                bin.display()
            ))
        }
    }
}

const NISSHI: Tool = Tool {
    krate: "nisshi",
    version: NISSHI_VERSION,
    bin: "nisshi",
    // It declares rustc 1.96 but builds and runs on 1.95.
    extra: &["--ignore-rust-version"],
    note: "the first install takes 12-15 minutes on a 2-core machine; it is reused afterwards",
};

const CARGO_DENY: Tool = Tool {
    krate: "cargo-deny",
    version: CARGO_DENY_VERSION,
    bin: "cargo-deny",
    extra: &[],
    note: "a few minutes the first time; reused afterwards",
};

const CARGO_FUZZ: Tool = Tool {
    krate: "cargo-fuzz",
    version: CARGO_FUZZ_VERSION,
    bin: "cargo-fuzz",
    extra: &[],
    note: "a minute or two the first time; reused afterwards",
};

/// The nisshi binary, installed if missing.
pub(crate) fn nisshi() -> Result<PathBuf> {
    NISSHI.ensure()
}

/// The cargo-deny binary, installed if missing.
pub(crate) fn cargo_deny() -> Result<PathBuf> {
    CARGO_DENY.ensure()
}

/// The cargo-fuzz binary, installed if missing. It runs as `cargo +nightly
/// fuzz` with its folder first on `PATH`.
pub(crate) fn cargo_fuzz() -> Result<PathBuf> {
    CARGO_FUZZ.ensure()
}

/// Keeps two xtask runs from building the same tool into the same folder.
struct InstallLock(PathBuf);

impl InstallLock {
    fn acquire(root: &std::path::Path) -> Result<Self> {
        let lock = root.with_extension("lock");
        let mut announced = false;
        loop {
            match std::fs::create_dir(&lock) {
                Ok(()) => {
                    let _ = std::fs::write(lock.join("pid"), std::process::id().to_string());
                    return Ok(Self(lock));
                }
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                    let holder = std::fs::read_to_string(lock.join("pid")).unwrap_or_default();
                    let alive = !holder.trim().is_empty()
                        && std::path::Path::new(&format!("/proc/{}", holder.trim())).exists();
                    if !alive {
                        // Left behind by a run that was killed.
                        let _ = std::fs::remove_dir_all(&lock);
                        continue;
                    }
                    if !announced {
                        eprintln!(
                            "waiting for another xtask (pid {}) to finish installing into {}",
                            holder.trim(),
                            root.display()
                        );
                        announced = true;
                    }
                    std::thread::sleep(std::time::Duration::from_secs(2));
                }
                Err(e) => return Err(format!("cannot create {}: {e}", lock.display())),
            }
        }
    }
}

impl Drop for InstallLock {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}
