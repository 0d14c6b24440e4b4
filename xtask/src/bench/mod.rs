//! `cargo xtask bench`: each benchmark prints a table and writes `target/bench/<name>.json`
//! (metric name → number). Ratios are against a baseline measured in the same run.

mod xdp;

use std::{fs, process::Command};

use anyhow::{bail, Result};

use crate::{root, run as run_cmd};

/// Runs the named benchmark (`xdp`, `api`, or `all`).
pub fn run(which: &str) -> Result<()> {
    match which {
        "xdp" => xdp::run(),
        "api" => api(),
        "all" => {
            xdp::run()?;
            api()
        }
        other => bail!("unknown benchmark {other:?}: xdp, api or all"),
    }
}

/// Writes metrics as a JSON object and prints them as a table.
pub fn report(name: &str, metrics: &[(&str, f64)]) -> Result<()> {
    let dir = root().join("target/bench");
    fs::create_dir_all(&dir)?;
    let obj: serde_json::Map<String, serde_json::Value> =
        metrics.iter().map(|(k, v)| ((*k).to_string(), serde_json::json!(v))).collect();
    let path = dir.join(format!("{name}.json"));
    fs::write(&path, serde_json::to_string_pretty(&obj)? + "\n")?;
    println!("\n{name} benchmark");
    let w = metrics.iter().map(|(k, _)| k.len()).max().unwrap_or(0);
    for (k, v) in metrics {
        println!("  {k:<w$}  {v:>12.3}");
    }
    println!("  -> {}", path.display());
    Ok(())
}

/// The API benchmark lives with the control plane (`control/examples/bench_api.rs`).
fn api() -> Result<()> {
    let example = root().join("control/examples/bench_api.rs");
    if !example.exists() {
        bail!("the API benchmark (control/examples/bench_api.rs) is not written yet");
    }
    let out = root().join("target/bench/api.json");
    fs::create_dir_all(root().join("target/bench"))?;
    run_cmd(Command::new("cargo").args(["run", "--release", "-p", "eplink-control", "--example", "bench_api", "--", "--out"]).arg(out))
}
