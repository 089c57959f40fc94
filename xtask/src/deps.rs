//! The layering rule: the sans-io crates never pull in an async runtime.

use std::collections::{BTreeSet, HashMap};

use serde_json::Value;

use crate::util::{Result, cargo, run_quiet, workspace_root};

/// Crates that must build without these.
const RULES: &[(&str, &[&str])] = &[
    ("gregor-protocol", &["tokio", "async-std", "smol", "mio"]),
    ("gregor-group", &["tokio", "async-std", "smol", "mio"]),
];

/// Fails when a sans-io crate reaches a forbidden crate through normal
/// (non-dev) dependencies, naming the path that leads there.
pub(crate) fn check() -> Result {
    let mut cmd = cargo();
    cmd.current_dir(workspace_root())
        .args(["metadata", "--format-version", "1", "--locked"]);
    let text = run_quiet("cargo metadata", &mut cmd)?;
    let meta: Value = serde_json::from_str(&text).map_err(|e| format!("cargo metadata: {e}"))?;
    let names: HashMap<&str, &str> = meta["packages"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|p| Some((p["id"].as_str()?, p["name"].as_str()?)))
        .collect();
    // id -> ids of normal (or build) dependencies
    let mut edges: HashMap<&str, Vec<&str>> = HashMap::new();
    for node in meta["resolve"]["nodes"].as_array().into_iter().flatten() {
        let Some(id) = node["id"].as_str() else {
            continue;
        };
        let deps = node["deps"].as_array().into_iter().flatten().filter(|d| {
            d["dep_kinds"]
                .as_array()
                .into_iter()
                .flatten()
                .any(|k| k["kind"].as_str() != Some("dev"))
        });
        edges.insert(id, deps.filter_map(|d| d["pkg"].as_str()).collect());
    }
    let mut problems = Vec::new();
    for (krate, forbidden) in RULES {
        let Some(root) = names.iter().find(|(_, n)| *n == krate).map(|(id, _)| *id) else {
            return Err(format!(
                "dependency rule: crate {krate} not found in the workspace"
            ));
        };
        // Breadth-first, remembering how each crate was reached.
        let mut parent: HashMap<&str, &str> = HashMap::new();
        let mut seen = BTreeSet::from([root]);
        let mut queue = vec![root];
        while let Some(id) = queue.pop() {
            for &dep in edges.get(id).into_iter().flatten() {
                if seen.insert(dep) {
                    parent.insert(dep, id);
                    queue.push(dep);
                }
            }
        }
        for id in &seen {
            let name = names.get(id).copied().unwrap_or("?");
            if forbidden.contains(&name) {
                let mut path = vec![name];
                let mut cur = *id;
                while let Some(&p) = parent.get(cur) {
                    path.push(names.get(p).copied().unwrap_or("?"));
                    cur = p;
                }
                path.reverse();
                problems.push(format!(
                    "{krate} must not depend on {name}: {}",
                    path.join(" -> ")
                ));
            }
        }
    }
    if problems.is_empty() {
        eprintln!(
            "dependency rule holds: gregor-protocol and gregor-group build without an async runtime"
        );
        Ok(())
    } else {
        Err(problems.join("\n"))
    }
}
