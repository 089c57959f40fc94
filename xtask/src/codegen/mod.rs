//! `cargo xtask codegen`: generates gregor-protocol's messages from Kafka's JSON specs.
//!
//! Reads every `testdata/kafka-message-specs/*.json`, resolves it into a type
//! model ([`model`]), emits one Rust module per spec plus `mod.rs`,
//! `api_key.rs`, `any.rs`, `support.rs` and the generated tests ([`emit`],
//! [`exprs`], [`files`]), formats the lot with `rustfmt --edition 2024`, and writes it to
//! `crates/gregor-protocol/src/generated/`. With `--check` nothing is
//! written: the fresh output is compared with the files on disk.

mod emit;
mod exprs;
mod files;
mod model;
mod spec;

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

/// Where the specs live, relative to the workspace root.
const SPEC_DIR: &str = "testdata/kafka-message-specs";
/// Where the output goes, relative to the workspace root.
const OUT_DIR: &str = "crates/gregor-protocol/src/generated";

/// Runs the generator; with `check`, fails when the committed code differs.
pub(crate) fn run(check: bool) -> Result<(), String> {
    let root = workspace_root();
    let files = generate(&root)?;
    let out_dir = root.join(OUT_DIR);
    let on_disk = existing_files(&out_dir)?;
    let mut changed = Vec::new();
    for (name, text) in &files {
        if fs::read_to_string(out_dir.join(name)).ok().as_deref() != Some(text.as_str()) {
            changed.push(name.clone());
        }
    }
    let stale: Vec<String> = on_disk
        .into_iter()
        .filter(|f| !files.contains_key(f))
        .collect();
    if check {
        if changed.is_empty() && stale.is_empty() {
            println!("codegen: {} generated files are up to date", files.len());
            return Ok(());
        }
        let mut msg = String::from("generated code is out of date; run `cargo xtask codegen`:");
        for f in &changed {
            msg.push_str(&format!("\n  differs: {OUT_DIR}/{f}"));
        }
        for f in &stale {
            msg.push_str(&format!("\n  stale:   {OUT_DIR}/{f}"));
        }
        return Err(msg);
    }
    fs::create_dir_all(&out_dir).map_err(|e| format!("{}: {e}", out_dir.display()))?;
    for name in &changed {
        let path = out_dir.join(name);
        fs::write(&path, &files[name]).map_err(|e| format!("{}: {e}", path.display()))?;
    }
    for name in &stale {
        let path = out_dir.join(name);
        fs::remove_file(&path).map_err(|e| format!("{}: {e}", path.display()))?;
    }
    println!(
        "codegen: {} files generated ({} written, {} stale removed) in {OUT_DIR}",
        files.len(),
        changed.len(),
        stale.len()
    );
    Ok(())
}

/// The workspace root (the parent of the xtask crate).
fn workspace_root() -> PathBuf {
    let xtask = Path::new(env!("CARGO_MANIFEST_DIR"));
    xtask.parent().unwrap_or(xtask).to_path_buf()
}

/// The `.rs` files currently in the output directory.
fn existing_files(dir: &Path) -> Result<Vec<String>, String> {
    let Ok(entries) = fs::read_dir(dir) else {
        return Ok(Vec::new());
    };
    let mut out = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|e| e.to_string())?;
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.ends_with(".rs") {
            out.push(name);
        }
    }
    out.sort();
    Ok(out)
}

/// Generates every output file (name within `generated/` to formatted text).
pub(crate) fn generate(root: &Path) -> Result<BTreeMap<String, String>, String> {
    let spec_dir = root.join(SPEC_DIR);
    let mut names: Vec<String> = fs::read_dir(&spec_dir)
        .map_err(|e| format!("{}: {e}", spec_dir.display()))?
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".json"))
        .collect();
    names.sort();
    if names.is_empty() {
        return Err(format!("no specs in {}", spec_dir.display()));
    }
    let mut messages = Vec::with_capacity(names.len());
    for name in &names {
        let path = spec_dir.join(name);
        let src = fs::read_to_string(&path).map_err(|e| format!("{}: {e}", path.display()))?;
        let spec = spec::parse_spec(&src).map_err(|e| format!("{name}: {e}"))?;
        messages.push(model::build(name, &spec).map_err(|e| format!("{name}: {e}"))?);
    }
    messages.sort_by(|a, b| a.module.cmp(&b.module));

    let mut files = BTreeMap::new();
    for m in &messages {
        let text = emit::emit_message(m).map_err(|e| format!("{}: {e}", m.file))?;
        if files.insert(format!("{}.rs", m.module), text).is_some() {
            return Err(format!("two specs map to module {}", m.module));
        }
    }
    for fixed in ["mod", "any", "api_key", "support", "tests"] {
        if files.contains_key(&format!("{fixed}.rs")) {
            return Err(format!("a spec maps to the reserved module {fixed}"));
        }
    }
    files.insert("mod.rs".into(), files::mod_rs(&messages));
    files.insert("api_key.rs".into(), files::api_key_rs(&messages)?);
    files.insert("any.rs".into(), files::any_rs(&messages)?);
    files.insert(
        "support.rs".into(),
        include_str!("support.rs.in").to_string(),
    );
    files.insert("tests.rs".into(), files::tests_rs(&messages)?);
    rustfmt(root, files)
}

/// Formats the files with `rustfmt --edition 2024`, as `cargo fmt` would.
fn rustfmt(
    root: &Path,
    files: BTreeMap<String, String>,
) -> Result<BTreeMap<String, String>, String> {
    let dir = std::env::temp_dir().join(format!("gregor-codegen-{}", std::process::id()));
    let _ = fs::remove_dir_all(&dir);
    fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    for (name, text) in &files {
        fs::write(dir.join(name), text).map_err(|e| format!("{name}: {e}"))?;
    }
    let rustfmt = std::env::var("RUSTFMT").unwrap_or_else(|_| "rustfmt".into());
    let mut cmd = Command::new(rustfmt);
    cmd.args(["--edition", "2024"]);
    if ["rustfmt.toml", ".rustfmt.toml"]
        .iter()
        .any(|f| root.join(f).exists())
    {
        cmd.arg("--config-path").arg(root);
    }
    // rustfmt follows `mod` declarations, so formatting mod.rs formats all.
    cmd.arg(dir.join("mod.rs"));
    let out = cmd
        .output()
        .map_err(|e| format!("cannot run rustfmt: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "rustfmt failed on the generated code (left in {}):\n{}",
            dir.display(),
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    let mut formatted = BTreeMap::new();
    for name in files.keys() {
        let text = fs::read_to_string(dir.join(name)).map_err(|e| format!("{name}: {e}"))?;
        formatted.insert(name.clone(), text);
    }
    let _ = fs::remove_dir_all(&dir);
    Ok(formatted)
}
